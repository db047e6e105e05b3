//! `cardgatectl pin check`: the PIN policy of art. 5.5, for scripts and for people.

use crate::files::{read_secret_line, CmdError};
use crate::ui::Ui;
use cardgate_card::policy::{check_new_pin, PolicyError};
use cardgate_card::secret::SecretFormatError;
use cardgate_i18n::{tr, Lang};
use clap::Subcommand;
use std::process::ExitCode;

/// PIN policy commands.
#[derive(Debug, Subcommand)]
pub enum PinCommand {
    /// Read a candidate PIN on stdin; exit 0 if it is acceptable as a new PIN, else exit 1
    /// with the reason on stderr.
    Check {
        /// The operator the PIN is for (a PIN must not contain the operator ID).
        #[arg(long)]
        operator: Option<String>,
    },
}

/// Why the policy refuses a PIN, in the user's language. Never the PIN itself.
pub fn policy_message(lang: Lang, e: &PolicyError) -> String {
    match e {
        PolicyError::Format(f) => match *f {
            SecretFormatError::TooShort { min, len } => tr!(
                lang,
                "ctl-card-pin-too-short",
                min = min as u64,
                len = len as u64
            ),
            SecretFormatError::TooLong { max, len } => tr!(
                lang,
                "ctl-card-pin-too-long",
                max = max as u64,
                len = len as u64
            ),
            SecretFormatError::BadCharacter => tr!(lang, "ctl-card-pin-bad-character"),
            SecretFormatError::NoLetter => tr!(lang, "ctl-card-pin-no-letter"),
            SecretFormatError::NoDigit => tr!(lang, "ctl-card-pin-no-digit"),
            // A format rule added to the card crate later: its own (English) words.
            _ => e.to_string(),
        },
        PolicyError::ContainsOperatorId => tr!(lang, "ctl-card-pin-operator-id"),
        PolicyError::RepeatOrRun => tr!(lang, "ctl-card-pin-run"),
        PolicyError::Blocklisted => tr!(lang, "ctl-card-pin-blocklisted"),
        PolicyError::SameAsCurrent => tr!(lang, "ctl-card-pin-same"),
        _ => e.to_string(),
    }
}

/// Runs a PIN command.
pub fn run(ui: &Ui, cmd: PinCommand) -> Result<ExitCode, CmdError> {
    match cmd {
        PinCommand::Check { operator } => {
            let candidate = read_secret_line()?;
            match check_new_pin(&candidate, operator.as_deref()) {
                Ok(_) => {
                    eprintln!("{}", tr!(ui.lang, "ctl-card-pin-acceptable"));
                    Ok(ExitCode::SUCCESS)
                }
                Err(reason) => {
                    eprintln!("{}", policy_message(ui.lang, &reason));
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}
