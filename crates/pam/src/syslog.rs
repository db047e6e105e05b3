//! The lines the module writes for the administrator through `pam_syslog(3)`: libpam prefixes
//! them with `pam_cardgate(SERVICE:TYPE):` and sends them to syslog with the `LOG_AUTHPRIV`
//! facility (`/var/log/auth.log` on Debian, `journalctl SYSLOG_FACILITY=10`).
//!
//! What is logged: every refusal (phase, user, terminal, the daemon's reason code and the
//! tries left), a daemon that cannot be reached or does not answer, and a configuration error
//! (a bad module argument, which used to show only as "Error in service module"). Never a PIN,
//! a PUK or the daemon's free-text message: these functions take none. Text from outside (the
//! user name, `PAM_TTY`, an argument) has its control characters replaced and is cut short, so
//! that nobody can forge a second log line.

use crate::args::ArgError;
use crate::client::{ClientError, DenyCode};
use crate::codes::Phase;
use std::path::Path;

/// A syslog priority (`<syslog.h>`); the facility is libpam's `LOG_AUTHPRIV`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// `LOG_ERR`: the module cannot work as configured, or the daemon cannot be reached.
    Err,
    /// `LOG_NOTICE`: a refusal (as `pam_unix` logs an authentication failure).
    Notice,
}

impl Priority {
    /// The `<syslog.h>` number.
    pub fn level(self) -> i32 {
        match self {
            Priority::Err => 3,
            Priority::Notice => 5,
        }
    }
}

/// The longest piece of outside text put into a line.
pub const MAX_FIELD: usize = 64;

/// Outside text made safe for one log line: control characters become `?`, at most
/// [`MAX_FIELD`] characters.
pub fn clean(text: &str) -> String {
    text.chars()
        .take(MAX_FIELD)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Auth => "authentication",
        Phase::Account => "account check",
        Phase::Password => "PIN change",
        Phase::Session => "session",
    }
}

/// A refusal by the daemon.
pub fn refusal(
    phase: Phase,
    user: &str,
    terminal: &str,
    reason: DenyCode,
    tries_left: Option<u8>,
) -> String {
    let mut line = format!(
        "{} refused for user {} on terminal {}: {}",
        phase_name(phase),
        clean(user),
        clean(terminal),
        reason.as_str()
    );
    if let Some(n) = tries_left {
        line.push_str(&format!(" ({n} PIN tries left)"));
    }
    line
}

/// The daemon could not be asked, or its answer was not understood.
pub fn unreachable(
    phase: Phase,
    user: &str,
    terminal: &str,
    socket: &Path,
    error: &ClientError,
) -> String {
    let cause = std::error::Error::source(error)
        .map(|s| format!(": {s}"))
        .unwrap_or_default();
    format!(
        "{} refused for user {} on terminal {}: {} ({}){cause}",
        phase_name(phase),
        clean(user),
        clean(terminal),
        error,
        socket.display()
    )
}

/// The daemon answered something that does not fit the request.
pub fn misanswered(phase: Phase, user: &str, terminal: &str) -> String {
    format!(
        "{} refused for user {} on terminal {}: cardgated's answer does not fit the request",
        phase_name(phase),
        clean(user),
        clean(terminal)
    )
}

/// A module argument in the PAM configuration cannot be used.
pub fn bad_arguments(error: &ArgError) -> String {
    format!(
        "refusing (fail closed): bad module argument in the PAM configuration: {}",
        clean_long(&error.to_string())
    )
}

/// No terminal ID: no `terminal=` argument and the host name is not a usable one.
pub fn no_terminal() -> String {
    "refusing (fail closed): no terminal= argument and the host name is not a valid terminal ID"
        .to_owned()
}

/// [`clean`] for a message of ours that holds outside text already cut short.
fn clean_long(text: &str) -> String {
    text.chars()
        .take(4 * MAX_FIELD)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_phase_user_terminal_reason_and_tries() {
        assert_eq!(
            refusal(Phase::Auth, "tanaka", "juki-01", DenyCode::WrongPin, Some(2)),
            "authentication refused for user tanaka on terminal juki-01: wrong_pin (2 PIN tries left)"
        );
        assert_eq!(
            refusal(Phase::Session, "tanaka", "juki-01", DenyCode::NoCard, None),
            "session refused for user tanaka on terminal juki-01: no_card"
        );
    }

    #[test]
    fn outside_text_cannot_forge_a_line() {
        let line = refusal(
            Phase::Auth,
            "evil\nJan  1 00:00:00 host sshd: accepted",
            "t",
            DenyCode::WrongPin,
            None,
        );
        assert!(!line.contains('\n'), "{line}");
        assert!(clean(&"x".repeat(500)).len() == MAX_FIELD);
    }

    #[test]
    fn a_bad_argument_is_named() {
        let e = ArgError::Unknown("termnal=juki-01".into());
        assert!(
            bad_arguments(&e).contains("termnal=juki-01"),
            "{}",
            bad_arguments(&e)
        );
    }
}
