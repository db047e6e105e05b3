//! How `cardgatectl` speaks to the person running it: the language, JSON or text, the office's
//! time zone, and the question asked before an irreversible step.

use crate::exit::{Exit, Failure};
use crate::files::CmdError;
use cardgate_i18n::{tr, Lang};
use std::io::{BufRead, IsTerminal, Read, Write};
use time::{OffsetDateTime, UtcOffset};

/// The options every command shares (`--lang`, `--json`, `--yes`) and the office's offset.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    /// The language of messages and tables.
    pub lang: Lang,
    /// Print data as JSON (one document on stdout) instead of text.
    pub json: bool,
    /// Do not ask before an irreversible step.
    pub yes: bool,
    /// The office's legal time zone (`daemon.utc_offset_minutes`; JST when there is no
    /// configuration to read).
    pub offset: UtcOffset,
}

impl Ui {
    /// `at` as the office reads it.
    pub fn time(&self, at: OffsetDateTime) -> String {
        cardgate_office::hours::format_local(at, self.offset)
    }

    /// A Unix time as the office reads it (`?` if it is out of range).
    pub fn unix_time(&self, unix: i64) -> String {
        OffsetDateTime::from_unix_timestamp(unix)
            .map(|t| self.time(t))
            .unwrap_or_else(|_| "?".into())
    }

    /// Shows `plan` (what the step will do, translated) on stderr and asks for `y` on the
    /// terminal. With `--yes` the plan is still shown and nothing is asked. Without a terminal
    /// and without `--yes` the step is refused: an irreversible step is never taken on input
    /// nobody saw.
    pub fn confirm(&self, plan: &str) -> Result<(), CmdError> {
        let mut err = std::io::stderr().lock();
        writeln!(err, "{plan}")?;
        if self.yes {
            return Ok(());
        }
        let Ok(tty) = std::fs::File::options()
            .read(true)
            .write(true)
            .open("/dev/tty")
        else {
            return Err(Box::new(
                Failure::new(Exit::Refused, tr!(self.lang, "ctl-confirm-no-terminal"))
                    .hint(tr!(self.lang, "ctl-confirm-use-yes")),
            ));
        };
        if !tty.is_terminal() {
            return Err(Box::new(Failure::new(
                Exit::Refused,
                tr!(self.lang, "ctl-confirm-no-terminal"),
            )));
        }
        let mut out = &tty;
        write!(
            out,
            "{} {} ",
            tr!(self.lang, "ctl-confirm-proceed"),
            tr!(self.lang, "common-yes-no-ascii")
        )?;
        out.flush()?;
        let mut answer = String::new();
        std::io::BufReader::new((&tty).take(64)).read_line(&mut answer)?;
        match answer.trim() {
            "y" | "Y" | "yes" | "はい" => Ok(()),
            _ => Err(Box::new(Failure::new(
                Exit::Refused,
                tr!(self.lang, "ctl-confirm-declined"),
            ))),
        }
    }

    /// Prints `value` as pretty JSON on stdout, followed by a newline.
    pub fn print_json<T: serde::Serialize>(&self, value: &T) -> Result<(), CmdError> {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, value)?;
        writeln!(out)?;
        Ok(())
    }
}
