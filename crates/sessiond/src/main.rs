//! `cardgated`: the session daemon. Work in progress: configuration, request protocol,
//! rate limiting and business hours are in place; the socket servers follow.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let path = std::env::args()
        .nth(2)
        .filter(|_| std::env::args().nth(1).as_deref() == Some("--check-config"))
        .unwrap_or_else(|| cardgate_sessiond::config::DEFAULT_PATH.to_owned());
    match cardgate_sessiond::config::Config::load(std::path::Path::new(&path)) {
        Ok(_) => {
            eprintln!("cardgated: {path}: configuration is valid");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cardgated: {path}: {e}");
            ExitCode::from(2)
        }
    }
}
