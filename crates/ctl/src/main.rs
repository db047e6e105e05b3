//! `cardgatectl`: the access manager's and administrator's tool.
//!
//! Every command works on local files only (art. 15, 17: no network, no remote
//! administration).
#![forbid(unsafe_code)]

mod files;
mod issuer;
mod pin;
mod revocation;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// cardgate administration: issuer key, PIN policy, revocation list.
#[derive(Debug, Parser)]
#[command(name = "cardgatectl", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Debug, Subcommand)]
enum Top {
    /// The issuer key that signs certificates and revocation lists.
    Issuer {
        #[command(subcommand)]
        cmd: issuer::IssuerCommand,
    },
    /// The PIN policy (art. 5.5).
    Pin {
        #[command(subcommand)]
        cmd: pin::PinCommand,
    },
    /// The signed revocation list (art. 5.4).
    Revocation {
        #[command(subcommand)]
        cmd: revocation::RevocationCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Top::Issuer { cmd } => issuer::run(cmd),
        Top::Pin { cmd } => pin::run(cmd),
        Top::Revocation { cmd } => revocation::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cardgatectl: {}", files::chain(&*e));
            ExitCode::from(2)
        }
    }
}
