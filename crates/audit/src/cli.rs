//! What `cardgatectl audit …` does, as typed functions; `cardgatectl` only parses arguments
//! and prints.

use std::path::{Path, PathBuf};

use cardgate_office::config::{Config, LoadError};

use crate::error::{FieldError, StoreError};
use crate::record::{Entry, Event, Label, NoteKind, Text};
use crate::report::{Checkpoint, CheckpointError, Report, ReportError, ReportOptions};
use crate::seal::SealKey;
use crate::verify::{verify_dir, VerifyOutcome};
use crate::writer::{AuditConfig, AuditLog, Receipt, SystemClock};

/// The daemon's configuration file, where `[audit] dir = "…"` sets the default directory.
pub const DEFAULT_CONFIG: &str = "/etc/cardgate/cardgated.toml";
/// The directory used when there is no configuration file.
pub const DEFAULT_DIR: &str = "/var/lib/cardgate/audit";

/// Errors of the command-line functions.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The log store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The report.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// A bad argument.
    #[error("{field}: {source}")]
    Field {
        /// Which argument.
        field: &'static str,
        /// Why.
        #[source]
        source: FieldError,
    },
    /// The daemon configuration could not be used.
    #[error("reading {path}")]
    ConfigIo {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The daemon configuration was refused (the error names the file).
    #[error(transparent)]
    Config(#[from] LoadError),
    /// The card register could not be read (the error names the file).
    #[error(transparent)]
    Register(#[from] cardgate_office::register::RegisterError),
    /// The checkpoint file (the error names the file).
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

fn field(field: &'static str) -> impl FnOnce(FieldError) -> CliError {
    move |source| CliError::Field { field, source }
}

/// `audit.dir` of a daemon configuration file (its default when the file does not set it),
/// read as `cardgated` reads it; `Ok(None)` when there is no such file. A file `cardgated`
/// would refuse is refused here too, naming the file.
pub fn dir_from_config(path: &Path) -> Result<Option<PathBuf>, CliError> {
    Ok(Config::load_if_present(path)?.map(|c| c.audit.dir))
}

/// The default log directory: `audit.dir` of the configuration `config`, else
/// [`DEFAULT_DIR`] when there is no such file.
pub fn default_dir_in(config: &Path) -> Result<PathBuf, CliError> {
    Ok(dir_from_config(config)?.unwrap_or_else(|| PathBuf::from(DEFAULT_DIR)))
}

/// This machine's name, used as the terminal of records written from the command line.
pub fn terminal_name() -> Label {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .and_then(|h| Label::new(h.trim()).ok())
        .unwrap_or_else(|| Label::from_static("localhost"))
}

/// `audit init`: creates the log; returns `k(0)`, to print once.
pub fn init(dir: &Path) -> Result<SealKey, CliError> {
    Ok(AuditLog::init(dir, terminal_name(), &SystemClock)?)
}

/// Parses a `--key` value (64 hex digits).
pub fn parse_key(text: &str) -> Result<SealKey, CliError> {
    SealKey::from_hex(text).map_err(field("--key"))
}

/// `audit verify`.
pub fn verify(
    dir: &Path,
    key: Option<&SealKey>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<VerifyOutcome, CliError> {
    Ok(verify_dir(dir, key, progress)?)
}

/// `audit report` over one or more log directories (each read once, however often or by
/// whichever path it is given): verification first (with `options.key`), the previous
/// checkpoint's check (`options.previous`), the findings, and the new checkpoint.
pub fn report(dirs: &[&Path], options: ReportOptions) -> Result<Report, CliError> {
    Ok(crate::report::review(dirs, &options)?)
}

/// What `audit report` reviews against, from the daemon's configuration (`None`: no
/// configuration file, the defaults: Japan time, Monday to Friday 08:30–17:15, national
/// holidays and the year-end closure): its `[business_hours]`, `daemon.utc_offset_minutes`,
/// `[calendar]`, `[review]` and terminals; `from`/`to` (local dates `YYYY-MM-DD` in the
/// office's offset, or UTC times), refused when `from` is not before `to`; and the card
/// register of `daemon.state_dir`, when it is there.
pub fn review_options(
    config: Option<&Config>,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<ReportOptions, CliError> {
    let mut options = match config {
        Some(c) => ReportOptions::from_config(c)?,
        None => ReportOptions::default(),
    };
    let (from, to) = crate::report::parse_period(from, to, options.utc_offset)?;
    options.from = from;
    options.to = to;
    if let Some(c) = config {
        let file = cardgate_office::register::RegisterFile::new(&c.daemon.state_dir);
        if file.path().exists() {
            options = options.with_register(&file.read()?);
        }
    }
    Ok(options)
}

/// Reads the previous review's checkpoint file.
pub fn read_checkpoint(path: &Path) -> Result<Checkpoint, CliError> {
    Ok(Checkpoint::read(path)?)
}

/// Writes the report's checkpoint (for the next review) to `path`, atomically.
pub fn write_checkpoint(report: &Report, path: &Path) -> Result<(), CliError> {
    match &report.checkpoint {
        Some(c) => Ok(c.write(path)?),
        None => Ok(()),
    }
}

/// `audit note`: appends a register record (art. 3, 4, 19). Fails with
/// [`StoreError::Locked`] while the daemon holds the log.
pub fn note(
    dir: &Path,
    kind: NoteKind,
    text: &str,
    who: Option<&str>,
    escort: Option<&str>,
) -> Result<Receipt, CliError> {
    let event = Event::Note {
        note: kind,
        text: Text::new(text).map_err(field("--text"))?,
        who: who.map(Label::new).transpose().map_err(field("--who"))?,
        escort: escort
            .map(Label::new)
            .transpose()
            .map_err(field("--escort"))?,
        by: Some(crate::caller::label()),
    };
    let (log, _) = AuditLog::open(AuditConfig::new(dir, terminal_name()))?;
    let receipt = log.append(Entry::new(event))?;
    log.close()?;
    Ok(receipt)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn config(extra: &str) -> Config {
        Config::parse(&format!(
            "[daemon]\nstate_dir = \"/nonexistent/cardgate\"\n{extra}\n[[terminal]]\nid = \"T01\"\nreader = \"r\"\n"
        ))
        .unwrap()
    }

    // Point 6: `--from 2026-11-01` is midnight in the office's zone (the configuration's
    // offset), and a period that ends before it starts is refused.
    #[test]
    fn review_options_read_dates_in_the_offices_zone_and_refuse_an_empty_period() {
        let jst =
            review_options(Some(&config("")), Some("2026-11-01"), Some("2026-11-30")).unwrap();
        assert_eq!(
            jst.from.unwrap().to_string(),
            "2026-10-31T15:00:00.000Z",
            "JST, the default"
        );
        assert_eq!(jst.to.unwrap().to_string(), "2026-11-30T15:00:00.000Z");
        let utc = config("utc_offset_minutes = 0");
        let utc = review_options(Some(&utc), Some("2026-11-01"), None).unwrap();
        assert_eq!(utc.from.unwrap().to_string(), "2026-11-01T00:00:00.000Z");
        assert!(matches!(
            review_options(Some(&config("")), Some("2026-11-30"), Some("2026-11-01")),
            Err(CliError::Report(ReportError::EmptyPeriod { .. }))
        ));
        assert!(matches!(
            review_options(None, Some("2026-11-31"), None),
            Err(CliError::Report(ReportError::Time(_)))
        ));
        // The configuration's terminals and calendar are the review's.
        let c =
            config("[calendar]\nclosed_days = [\"2026-08-14\"]\n[review]\ndenial_burst_count = 7");
        let o = review_options(Some(&c), None, None).unwrap();
        assert_eq!(o.terminals["r"], "T01");
        assert_eq!(o.calendar.closed_days.len(), 1);
        assert_eq!(o.denial_burst.count, 7);
    }
}
