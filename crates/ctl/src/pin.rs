//! `cardgatectl pin check`: the PIN policy of art. 5.5, for scripts and for people.

use crate::files::{read_secret_line, CmdError};
use crate::ui::Ui;
use cardgate_card::policy::check_new_pin;
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

/// Runs a PIN command.
pub fn run(_ui: &Ui, cmd: PinCommand) -> Result<ExitCode, CmdError> {
    match cmd {
        PinCommand::Check { operator } => {
            let candidate = read_secret_line()?;
            match check_new_pin(&candidate, operator.as_deref()) {
                Ok(_) => {
                    eprintln!("the PIN is acceptable");
                    Ok(ExitCode::SUCCESS)
                }
                Err(reason) => {
                    eprintln!("{reason}");
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}
