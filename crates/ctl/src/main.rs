//! `cardgatectl`: the access manager's and administrator's tool.
//!
//! Everything is local (art. 15, 17: no network, no remote administration): files, the PC/SC
//! readers of this terminal, and `cardgated`'s Unix sockets.
#![forbid(unsafe_code)]

mod audit;
mod card;
mod client;
mod daemon_cmds;
mod files;
mod issuer;
mod pin;
mod revocation;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// cardgate administration: cards, PIN policy, revocation, sessions, audit, backups.
#[derive(Debug, Parser)]
#[command(name = "cardgatectl", version, about)]
struct Cli {
    /// The daemon's configuration (socket and state locations).
    #[arg(long, global = true, default_value = "/etc/cardgate/cardgated.toml")]
    config: PathBuf,
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
    /// Lend, take back, revoke, unblock and list operator cards (art. 4, 5).
    Card {
        #[command(subcommand)]
        cmd: card::CardCommand,
    },
    /// The PIN policy (art. 5.5).
    Pin {
        #[command(subcommand)]
        cmd: pin::PinCommand,
    },
    /// The signed revocation list (art. 5.4), low level.
    Revocation {
        #[command(subcommand)]
        cmd: revocation::RevocationCommand,
    },
    /// The audit log: init, verify, report, note (art. 3, 4, 7, 19).
    Audit {
        #[command(subcommand)]
        cmd: audit::AuditCommand,
    },
    /// The daemon's state.
    Status,
    /// The open sessions.
    Sessions,
    /// Authenticate USER on TERMINAL with the card in its reader (PIN on stdin).
    Login {
        /// The terminal ID.
        #[arg(long)]
        terminal: String,
        /// The local user.
        #[arg(long)]
        user: String,
    },
    /// Copy every piece of state into DIR (art. 8), signed with the issuer key. The audit
    /// log's sealing key is never copied.
    Backup {
        /// Where to put the backup.
        #[arg(long)]
        to: PathBuf,
        /// The issuer directory (issuer.key) that signs the backup's manifest.
        #[arg(long, value_name = "DIR")]
        issuer_dir: PathBuf,
    },
    /// Put a backup back (the daemon must be stopped): only a backup signed by the issuer key,
    /// only the fixed set of files, only where this machine's configuration says.
    Restore {
        /// The backup directory made by `backup`.
        #[arg(long)]
        from: PathBuf,
        /// Check the signature with this issuer public key [default: the configured one].
        #[arg(long, value_name = "PATH")]
        issuer_pub: Option<PathBuf>,
        /// Also put the audit log back, into an empty audit directory; needs k(0)
        /// (`--key -` or `--key-file`), from which its sealing key is derived.
        #[arg(long)]
        audit: bool,
        #[command(flatten)]
        key: audit::KeyArgs,
        /// Let `revocation.accepted` go back to an older revocation list (cards revoked since
        /// would work again until the newest list is put back). Recorded in the audit log.
        #[arg(long)]
        allow_revocation_rollback: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let load = || cardgate_office::config::Config::load(&cli.config);
    let result = match cli.command {
        Top::Issuer { cmd } => issuer::run(cmd),
        Top::Card { cmd } => card::run(&cli.config, cmd),
        Top::Pin { cmd } => pin::run(cmd),
        Top::Revocation { cmd } => revocation::run(cmd),
        Top::Audit { cmd } => return audit::run(cmd, &cli.config),
        Top::Status => load()
            .map_err(Into::into)
            .and_then(|c| daemon_cmds::status(&c)),
        Top::Sessions => load()
            .map_err(Into::into)
            .and_then(|c| daemon_cmds::sessions(&c)),
        Top::Login { terminal, user } => load()
            .map_err(Into::into)
            .and_then(|c| daemon_cmds::login(&c, &terminal, &user)),
        Top::Backup { to, issuer_dir } => load()
            .map_err(Into::into)
            .and_then(|c| daemon_cmds::backup(&c, &cli.config, &to, &issuer_dir)),
        Top::Restore {
            from,
            issuer_pub,
            audit,
            key,
            allow_revocation_rollback,
        } => key.read().map_err(Into::into).and_then(|k0| {
            let options = daemon_cmds::RestoreOptions {
                issuer_pub,
                audit,
                k0,
                allow_revocation_rollback,
            };
            load()
                .map_err(Into::into)
                .and_then(|c| daemon_cmds::restore(&c, &cli.config, &from, options))
        }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cardgatectl: {}", files::chain(&*e));
            ExitCode::from(2)
        }
    }
}
