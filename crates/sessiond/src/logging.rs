//! Where the daemon's log lines go: journald's native protocol when systemd runs the daemon
//! with its standard error connected to the journal, plain text on standard error otherwise.
//!
//! Through journald every line keeps its priority (`ERROR` 3, `WARN` 4, `INFO` 6, `DEBUG` and
//! `TRACE` 7), so that `journalctl -p err -u cardgated` shows the daemon's errors and
//! `journalctl -p warning` its warnings, and every field of a line is a journal field of its
//! own with the `CARDGATE_` prefix: `CARDGATE_READER`, `CARDGATE_SESSION`, `CARDGATE_USER`,
//! `CARDGATE_ERROR`, … (`journalctl CARDGATE_READER='…'` finds one reader's lines). The
//! layer is tokio-rs/tracing's own `tracing-journald`.
//!
//! systemd says how to tell that standard error is the journal: `$JOURNAL_STREAM` holds the
//! device and inode numbers (`DEV:INODE`) of the stream it connected, and only when they are
//! those of our standard error is it ours (a child of a service inherits the variable with
//! another standard error). The log filter is `$CARDGATE_LOG` (`info` by default) either way.

use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use tracing_journald::{Priority, PriorityMappings};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// The prefix of every structured field in the journal (`reader` becomes `CARDGATE_READER`).
pub const FIELD_PREFIX: &str = "CARDGATE";

/// The journal's `SYSLOG_IDENTIFIER` (`journalctl -t cardgated`).
pub const IDENTIFIER: &str = "cardgated";

/// Where the log went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// journald's native protocol.
    Journal,
    /// Plain text on standard error (not under systemd, or its journal could not be reached:
    /// then the reason).
    Stderr(Option<String>),
}

/// `$JOURNAL_STREAM`'s `DEV:INODE`, when it is well formed.
pub fn parse_journal_stream(value: &str) -> Option<(u64, u64)> {
    let (dev, ino) = value.split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

/// Is standard error the stream `$JOURNAL_STREAM` names?
pub fn stderr_is_journal() -> bool {
    let Some(named) = std::env::var("JOURNAL_STREAM")
        .ok()
        .as_deref()
        .and_then(parse_journal_stream)
    else {
        return false;
    };
    // A duplicate of the descriptor, as a File, to fstat it without unsafe code.
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    match std::fs::File::from(fd).metadata() {
        Ok(m) => (m.dev(), m.ino()) == named,
        Err(_) => false,
    }
}

/// An error from before the log is set up (the configuration cannot be loaded), on standard
/// error: with the `<3>` prefix (`SD_ERR` of `sd-daemon.h`) when that is the journal, which
/// then stores it at priority 3 (`SyslogLevelPrefix=`, on by default), so that
/// `journalctl -p err -u cardgated` shows why the daemon did not start; plain otherwise.
pub fn early_error(text: &str) {
    eprintln!("{}", early_error_line(text, stderr_is_journal()));
}

/// The line [`early_error`] writes.
pub fn early_error_line(text: &str, to_journal: bool) -> String {
    // One line: the journal would store a second line at the default priority.
    let text = text.replace(['\n', '\r'], " ");
    if to_journal {
        format!("<3>cardgated: {text}")
    } else {
        format!("cardgated: {text}")
    }
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_env("CARDGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Sets up the daemon's log for the rest of the process; says where it went.
pub fn init() -> Sink {
    let mut why_not = None;
    if stderr_is_journal() {
        match tracing_journald::layer() {
            Ok(layer) => {
                let layer = layer
                    .with_field_prefix(Some(FIELD_PREFIX.to_owned()))
                    .with_syslog_identifier(IDENTIFIER.to_owned())
                    .with_priority_mappings(PriorityMappings {
                        error: Priority::Error,
                        warn: Priority::Warning,
                        // syslog's informational level: `-p notice` stays for what matters.
                        info: Priority::Informational,
                        debug: Priority::Debug,
                        trace: Priority::Debug,
                    });
                tracing_subscriber::registry()
                    .with(filter())
                    .with(layer)
                    .init();
                return Sink::Journal;
            }
            Err(e) => why_not = Some(format!("the journal socket cannot be reached: {e}")),
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        // Log files want plain text, not terminal colours.
        .with_ansi(std::io::stderr().is_terminal())
        // journald (when standard error is the journal but its socket is not) and syslog add
        // their own timestamps.
        .without_time()
        .init();
    Sink::Stderr(why_not)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_errors_carry_the_error_priority_only_to_the_journal() {
        assert_eq!(
            early_error_line("/etc/cardgate/cardgated.toml: bad\nthing", true),
            "<3>cardgated: /etc/cardgate/cardgated.toml: bad thing"
        );
        assert_eq!(early_error_line("x", false), "cardgated: x");
    }

    #[test]
    fn journal_stream_values() {
        assert_eq!(parse_journal_stream("8:12345"), Some((8, 12345)));
        assert_eq!(parse_journal_stream("8"), None);
        assert_eq!(parse_journal_stream("x:1"), None);
        assert_eq!(parse_journal_stream("1:-2"), None);
        assert_eq!(parse_journal_stream(""), None);
    }
}
