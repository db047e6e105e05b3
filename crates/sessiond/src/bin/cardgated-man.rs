//! Writes the manual page `cardgated(8)` (roff) to stdout: `cargo xtask deb` builds it (feature
//! `man-page`) and runs it, so that the package's page is rendered from the daemon's own clap
//! definition.
#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let written = cardgate_sessiond::cli::man_page()
        .and_then(|page| std::io::stdout().lock().write_all(&page));
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cardgated-man: {e}");
            ExitCode::FAILURE
        }
    }
}
