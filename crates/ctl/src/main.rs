//! `cardgatectl`: the access manager's and administrator's tool.
//!
//! Everything is local (art. 15, 17: no network, no remote administration): files, the PC/SC
//! readers of this terminal, and `cardgated`'s Unix sockets.
#![forbid(unsafe_code)]

mod audit;
mod card;
mod client;
mod daemon_cmds;
#[allow(dead_code)] // Until every command reports through it (issue 14, in progress).
mod exit;
mod files;
mod issuer;
mod pin;
mod revocation;
#[allow(dead_code)] // Until every command reports through it (issue 14, in progress).
mod ui;

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
    /// The language of messages: ja or en [default: from LC_ALL, LC_MESSAGES or LANG].
    #[arg(long, global = true, value_parser = cardgate_i18n::Lang::from_arg)]
    lang: Option<cardgate_i18n::Lang>,
    /// Print data as JSON on stdout (see docs/cli.md for each command's shape).
    #[arg(long, global = true)]
    json: bool,
    /// Do not ask before an irreversible step (revoke, return, restore, unblock); what it will
    /// do is still printed.
    #[arg(long, global = true)]
    yes: bool,
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
    let lang = cli.lang.unwrap_or_else(cardgate_i18n::Lang::from_env);
    // The office's offset, for every time shown; JST when the configuration cannot be read
    // (commands that need it report that themselves, naming the file).
    let offset = cardgate_office::config::Config::load_if_present(&cli.config)
        .ok()
        .flatten()
        .and_then(|c| cardgate_office::hours::utc_offset(c.daemon.utc_offset_minutes))
        .or_else(|| cardgate_office::hours::utc_offset(540))
        .unwrap_or(time::UtcOffset::UTC);
    let ui = ui::Ui {
        lang,
        json: cli.json,
        yes: cli.yes,
        offset,
    };
    let load = || cardgate_office::config::Config::load(&cli.config);
    let result = match cli.command {
        Top::Issuer { cmd } => issuer::run(&ui, cmd),
        Top::Card { cmd } => card::run(&ui, &cli.config, cmd),
        Top::Pin { cmd } => pin::run(&ui, cmd),
        Top::Revocation { cmd } => revocation::run(&ui, cmd),
        Top::Audit { cmd } => audit::run(&ui, cmd, &cli.config),
        Top::Status => load()
            .map_err(Into::into)
            .and_then(|c| daemon_cmds::status(&ui, &c)),
        Top::Sessions => load()
            .map_err(Into::into)
            .and_then(|c| daemon_cmds::sessions(&ui, &c)),
        Top::Login { terminal, user } => load()
            .map_err(Into::into)
            .and_then(|c| daemon_cmds::login(&ui, &c, &terminal, &user)),
        Top::Backup { to, issuer_dir } => load()
            .map_err(Into::into)
            .and_then(|c| daemon_cmds::backup(&ui, &c, &cli.config, &to, &issuer_dir)),
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
                .and_then(|c| daemon_cmds::restore(&ui, &c, &cli.config, &from, options))
        }),
    };
    match result {
        Ok(code) => code,
        Err(e) => report_failure(lang, &*e),
    }
}

/// Prints a command's failure on stderr, in the user's language, and picks the exit status: a
/// [`exit::Failure`] says its own; anything else is [`exit::Exit::Failed`].
fn report_failure(lang: cardgate_i18n::Lang, e: &(dyn std::error::Error + 'static)) -> ExitCode {
    use cardgate_i18n::tr;
    let message = files::chain(e);
    eprintln!("{}", tr!(lang, "ctl-error", message = message));
    match e.downcast_ref::<exit::Failure>() {
        Some(f) => {
            if let Some(hint) = &f.hint {
                eprintln!("{}", tr!(lang, "ctl-error-hint", hint = hint.as_str()));
            }
            f.exit.into()
        }
        None => exit::Exit::Failed.into(),
    }
}
