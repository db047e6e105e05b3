//! `cardgatectl`: the access manager's and administrator's tool.
//!
//! Everything is local (art. 15, 17: no network, no remote administration): files, the PC/SC
//! readers of this terminal, and `cardgated`'s Unix sockets. The one exception is `office
//! pull`, which fetches the office's signed state with rsync over ssh (outgoing only; the
//! terminal opens no port).
#![forbid(unsafe_code)]

mod audit;
mod card;
mod client;
mod collected;
mod daemon_cmds;
mod exit;
mod files;
mod help;
mod issuer;
mod man;
mod office;
mod pin;
mod readers;
mod revocation;
mod ui;

use clap::{FromArgMatches, Parser, Subcommand};
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
    /// The office's state (revocation list, card register) from the access manager's machine
    /// to every terminal: publish, pull, status (art. 5.2, 5.4, 15).
    Office {
        #[command(subcommand)]
        cmd: office::OfficeCommand,
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
    /// Every PC/SC reader, whether a card is in it, and its ATR (--json: see docs/cli.md).
    Readers,
    /// Authenticate USER on TERMINAL with the card in its reader (PIN on stdin).
    Login {
        /// The terminal ID.
        #[arg(long)]
        terminal: String,
        /// The local user.
        #[arg(long)]
        user: String,
    },
    /// Copy every piece of state into TO/cardgate-backup-YYYY-MM-DDTHHMM (the office's time; art.
    /// 8), with MANIFEST.sha256 (`sha256sum -c` checks it) signed by the issuer key. The audit
    /// log's sealing key is never copied. `--verify DIR` checks a backup instead.
    Backup {
        /// Where to put the backup (must exist: the backup medium, mounted).
        #[arg(long, required_unless_present = "verify")]
        to: Option<PathBuf>,
        /// The issuer directory (issuer.key) that signs the backup's manifest.
        #[arg(long, value_name = "DIR", required_unless_present = "verify")]
        issuer_dir: Option<PathBuf>,
        /// Check the backup in DIR: the manifest's signature and every file's SHA-256 (exit 6
        /// naming the file when one fails).
        #[arg(long, value_name = "DIR", conflicts_with_all = ["to", "issuer_dir"])]
        verify: Option<PathBuf>,
        /// With --verify: check the signature with this issuer public key [default: the
        /// configured one].
        #[arg(long, value_name = "PATH", requires = "verify")]
        issuer_pub: Option<PathBuf>,
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
    /// Print this manual page (roff, in the chosen language), with the exit statuses:
    /// `cardgatectl man | man -l -`.
    Man,
    /// Print the shell completion script for SHELL on stdout (the Debian package installs
    /// the bash and zsh ones): `cardgatectl completions bash > cardgatectl.bash`.
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // The language is needed before clap parses: its help and usage errors are in it.
    let early_lang = help::lang_from_args(&args);
    let parsed = help::command(early_lang)
        .try_get_matches_from(&args)
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => return usage_failure(early_lang, &e),
    };
    let lang = cli.lang.unwrap_or(early_lang);
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
        Top::Man => man::print(lang),
        Top::Completions { shell } => man::completions(lang, shell),
        Top::Issuer { cmd } => issuer::run(&ui, cmd),
        Top::Card { cmd } => card::run(&ui, &cli.config, cmd),
        Top::Pin { cmd } => pin::run(&ui, cmd),
        Top::Revocation { cmd } => revocation::run(&ui, &cli.config, cmd),
        Top::Audit { cmd } => audit::run(&ui, cmd, &cli.config),
        Top::Office { cmd } => office::run(&ui, &cli.config, cmd),
        Top::Status => load()
            .map_err(Into::into)
            .and_then(|c| daemon_cmds::status(&ui, &c)),
        Top::Sessions => load()
            .map_err(Into::into)
            .and_then(|c| daemon_cmds::sessions(&ui, &c)),
        Top::Readers => readers::run(&ui),
        Top::Login { terminal, user } => load()
            .map_err(Into::into)
            .and_then(|c| daemon_cmds::login(&ui, &c, &terminal, &user)),
        Top::Backup {
            to,
            issuer_dir,
            verify,
            issuer_pub,
        } => load()
            .map_err(Into::into)
            .and_then(|c| match (verify, to, issuer_dir) {
                (Some(dir), _, _) => {
                    daemon_cmds::verify_backup(&ui, &c, &dir, issuer_pub.as_deref())
                }
                (None, Some(to), Some(issuer_dir)) => {
                    daemon_cmds::backup(&ui, &c, &cli.config, &to, &issuer_dir)
                }
                // clap requires --to and --issuer-dir without --verify.
                _ => Err(Box::new(exit::Failure::new(
                    exit::Exit::Usage,
                    "--to --issuer-dir",
                ))),
            }),
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

/// `--help` and `--version` go to stdout with status 0; a usage error is one sentence in the
/// user's language on stderr, with status 2.
fn usage_failure(lang: cardgate_i18n::Lang, e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => match e.print() {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => exit::Exit::Failed.into(),
        },
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // clap renders the help of the command that is missing its subcommand.
            if e.print().is_err() {
                return exit::Exit::Failed.into();
            }
            exit::Exit::Usage.into()
        }
        _ => {
            eprint!("{}", help::usage_error(lang, e));
            exit::Exit::Usage.into()
        }
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
