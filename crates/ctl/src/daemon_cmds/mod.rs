//! `cardgatectl status | sessions | login | backup | restore`: the commands that speak to
//! `cardgated` or handle the state it keeps.

mod backup;
mod restore;
mod shipping;
mod status;

pub use backup::{backup, verify_backup};
pub use restore::{restore, RestoreOptions};
pub use status::{sessions, status};

use crate::client;
use crate::exit::{Exit, Failure};
use crate::files::{read_secret_line, CmdError};
use crate::ui::Ui;
use cardgate_i18n::tr;
use cardgate_office::config::Config;
use cardgate_protocol::{Answer, LoginRequest, PinField};
use std::process::ExitCode;

/// Authenticates a user on a terminal through the daemon (PIN on stdin). Exit 0 when granted,
/// 4 (refused) when the daemon refuses, 5 when it cannot be reached.
pub fn login(ui: &Ui, config: &Config, terminal: &str, user: &str) -> Result<ExitCode, CmdError> {
    let pin = read_secret_line()?;
    // Checked here too, so that a mistyped PIN is not sent (nor counted against the card).
    cardgate_card::secret::check_pin_format(&pin).map_err(|e| {
        Failure::new(
            Exit::Usage,
            tr!(ui.lang, "ctl-state-login-bad-pin", error = e.to_string()),
        )
    })?;
    // Copied once into the request's zeroizing field; encode_request writes the line into a
    // buffer that never grows and is wiped when it drops.
    let request = LoginRequest::Authenticate {
        terminal: terminal.to_owned(),
        user: user.to_owned(),
        pin: PinField::copy_from(&pin),
    };
    drop(pin);
    let answer = client::call_login(ui.lang, &config.daemon.login_socket, &request)?;
    drop(request);
    match answer {
        Answer::Granted {
            operator,
            serial,
            must_change_pin,
        } => {
            println!(
                "{}",
                tr!(
                    ui.lang,
                    "ctl-state-login-granted",
                    operator = operator,
                    serial = serial.to_string()
                )
            );
            if must_change_pin {
                println!("{}", tr!(ui.lang, "ctl-state-login-change-pin"));
            }
            Ok(ExitCode::SUCCESS)
        }
        Answer::Denied { message, .. } | Answer::Error { message } => Err(Box::new(Failure::new(
            Exit::Refused,
            tr!(
                ui.lang,
                "ctl-state-login-refused",
                user = user.to_owned(),
                terminal = terminal.to_owned(),
                reason = message
            ),
        ))),
        other @ (Answer::Ready { .. } | Answer::Info { .. }) => {
            Err(status::unexpected("authenticate", &other))
        }
    }
}
