//! `cardgatectl audit …`: init, verify, report, note. The work is done in
//! `cardgate_audit::cli` and the review's presentation in `cardgate_audit::report::render`;
//! this module parses arguments, takes what the daemon's configuration (`--config`) says,
//! speaks the user's language (`--lang`, `LANG`) and picks the exit status (`crate::exit`).

use crate::exit::{Exit, Failure};
use crate::files::CmdError;
use crate::ui::Ui;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cardgate_audit::cli::{self, CliError};
use cardgate_audit::report::{parse_bound, parse_period, render, BusinessHours, ReportError};
use cardgate_audit::{NoteKind, StoreError};
use cardgate_i18n::{tr, Lang};
use cardgate_office::config::Config;
use cardgate_office::hours::{parse_utc_offset, Day, Window};
use clap::{Args, Subcommand, ValueEnum};
use zeroize::Zeroizing;

/// The log directory option shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct DirArg {
    /// The log directory [default: `audit.dir` in the --config file, else
    /// /var/lib/cardgate/audit when there is no such file]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Text for the terminal, in the user's language.
    #[value(alias = "text")]
    Table,
    /// JSON (the report's data, not translated).
    Json,
    /// CSV: one file per table in --out DIR (UTF-8 with a BOM, CRLF, every field quoted).
    Csv,
    /// A self-contained HTML page (inline CSS and SVG, no scripts), printable on A4.
    Html,
}

/// Register kinds for `note`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum NoteKindArg {
    /// Server-room entry (art. 3).
    RoomEntry,
    /// Media register (art. 4).
    Media,
    /// Resident-card register (art. 19).
    ResidentCard,
    /// Anything else.
    Other,
}

/// `cardgatectl audit …`
// Parsed once per run: the size of its largest variant (`report`'s options) costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Create an empty log; print the verification key k(0) in hex as the last line of stdout.
    /// Keep it off this machine: it is stored nowhere else.
    Init {
        #[command(flatten)]
        dir: DirArg,
    },
    /// Check every chain link, every seal, sequence gaps, time order and the tail after the
    /// last seal; name the first bad record. Exit 0 only when intact (6 when not).
    Verify {
        #[command(flatten)]
        dir: DirArg,
        #[command(flatten)]
        key: KeyArgs,
        /// Also fail when records after the last seal are not sealed yet.
        #[arg(long)]
        require_sealed: bool,
    },
    /// The access manager's review (art. 7, art. 12). Business hours, the UTC offset and the
    /// review's settings come from the --config file; the options below override them.
    Report {
        /// The log directory; repeat to review several terminals' logs together [default: as
        /// for the other subcommands]
        #[arg(long = "dir", value_name = "DIR")]
        dirs: Vec<PathBuf>,
        /// Start: a local date YYYY-MM-DD or a UTC time YYYY-MM-DDThh:mm:ss.mmmZ.
        #[arg(long)]
        from: Option<String>,
        /// End: a local date (inclusive) or a UTC time (exclusive).
        #[arg(long)]
        to: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: FormatArg,
        /// Write the report to this file (for csv: into this directory, one file per table)
        /// instead of stdout.
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
        /// Business hours, local time; repeat for several ranges [default: `[business_hours]`
        /// of the configuration, else 08:30-17:15].
        #[arg(long = "business-hours", value_name = "HH:MM-HH:MM")]
        business_hours: Vec<String>,
        /// Business days [default: `[business_hours] days`, else mon-fri].
        #[arg(long = "business-days", value_name = "DAYS")]
        business_days: Option<String>,
        /// The office's offset from UTC [default: `daemon.utc_offset_minutes`, else +09:00].
        #[arg(long = "utc-offset", value_name = "+HH:MM", allow_hyphen_values = true)]
        utc_offset: Option<String>,
        #[command(flatten)]
        key: KeyArgs,
        /// The checkpoint the previous review wrote (--write-checkpoint): the review proves
        /// that every log still extends it; a log replaced, truncated or rolled back since is
        /// a critical finding.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        /// Write this review's checkpoint to FILE, for the next review. Keep it off this
        /// machine (removable media the access manager keeps).
        #[arg(long, value_name = "FILE")]
        write_checkpoint: Option<PathBuf>,
        /// On the collector: review every terminal under this root as rsyslog wrote it
        /// (`DIR/<host>/*.jsonl`), with the central verification's findings at the top; with
        /// --dir, those logs too.
        #[arg(long, value_name = "DIR")]
        collected: Option<PathBuf>,
        /// With --collected: the terminals' k(0), `DIR/<host>.k0` (64 hex digits, a file
        /// others cannot read). A terminal without one is verified without the seals' MACs.
        #[arg(long, value_name = "DIR", requires = "collected")]
        keys: Option<PathBuf>,
        /// With --collected: a terminal whose last record is older than this, and not the
        /// daemon's stop, has stopped reporting.
        #[arg(
            long,
            value_name = "MINUTES",
            default_value_t = 60,
            requires = "collected"
        )]
        silent_after: u32,
    },
    /// The central verification on the site's log collector (art. 7, issue 13): every
    /// terminal's collected log under --root rebuilt and verified, one line per terminal. Exit
    /// 0 only when no terminal has a finding (6 when one has).
    Collected(crate::collected::CollectedArgs),
    /// Record work done by hand (server-room entry, media, resident cards) in the log.
    Note {
        #[command(flatten)]
        dir: DirArg,
        /// Which register.
        #[arg(long, value_enum)]
        kind: NoteKindArg,
        /// What was done.
        #[arg(long)]
        text: String,
        /// Who did it.
        #[arg(long)]
        who: Option<String>,
        /// The escort of a visitor (art. 3).
        #[arg(long)]
        escort: Option<String>,
    },
}

/// Where k(0) comes from: stdin or a file, never the command line (where the process list and
/// the shell history would keep it).
#[derive(Debug, Clone, Args)]
pub struct KeyArgs {
    /// `-`: read the verification key k(0) (64 hex digits) from stdin. A key on the command line
    /// is refused.
    #[arg(long, value_name = "-", conflicts_with = "key_file")]
    key: Option<String>,
    /// Read k(0) from this file (a regular file, not readable by others).
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,
}

/// Why k(0) could not be read. The messages never contain the key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// `--key` with anything but `-`.
    #[error("--key takes only `-` (k(0) on stdin): a key on the command line is visible in the process list and kept in shell history; use `--key - < FILE` or `--key-file FILE` / --key には `-`（標準入力）だけを指定してください。鍵をコマンド行に書くと、プロセス一覧とシェル履歴に残ります")]
    OnCommandLine,
    /// The key file is not a regular file, or others may read it.
    #[error("{path}: {why}")]
    Unsafe {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: &'static str,
    },
    /// Reading failed.
    #[error("reading k(0) from {what}")]
    Io {
        /// stdin or the file.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not 64 hex digits.
    #[error(transparent)]
    Parse(#[from] CliError),
}

const NOT_REGULAR: &str = "not a regular file; k(0) must come from a file";
const READABLE_BY_ALL: &str =
    "readable or writable by every user; refusing it as k(0) (chmod 600 it)";

/// The most a key source is read: 64 hex digits, a line ending and some blanks.
const MAX_KEY_TEXT: u64 = 256;

impl KeyArgs {
    /// Reads k(0) when one was given.
    pub fn read(&self) -> Result<Option<cardgate_audit::SealKey>, KeyError> {
        let text = match (&self.key, &self.key_file) {
            (None, None) => return Ok(None),
            (Some(arg), _) if arg != "-" => return Err(KeyError::OnCommandLine),
            (Some(_), _) => {
                let mut text = Zeroizing::new(String::new());
                std::io::stdin()
                    .take(MAX_KEY_TEXT)
                    .read_to_string(&mut text)
                    .map_err(|source| KeyError::Io {
                        what: "stdin".into(),
                        source,
                    })?;
                text
            }
            (None, Some(path)) => read_key_file_checked(path)?,
        };
        Ok(Some(cli::parse_key(&text)?))
    }

    /// [`KeyArgs::read`], its failure said in the user's language with the exit status for a
    /// usage error (the key is the user's input) or a file that cannot be read.
    fn read_for(&self, lang: Lang) -> Result<Option<cardgate_audit::SealKey>, CmdError> {
        self.read().map_err(|e| key_failure(lang, e))
    }
}

/// Reads k(0) from the key file `path`, with [`read_key_file_checked`]'s checks.
pub(crate) fn read_key_path(path: &Path) -> Result<cardgate_audit::SealKey, KeyError> {
    let text = read_key_file_checked(path)?;
    Ok(cli::parse_key(&text)?)
}

/// A failure to read k(0), said in the user's language with the exit status for a usage error
/// (the key is the user's input), a key file others may read (refused) or one that cannot be
/// read.
pub(crate) fn key_failure(lang: Lang, e: KeyError) -> CmdError {
    Box::new(match e {
        KeyError::OnCommandLine => {
            Failure::new(Exit::Usage, tr!(lang, "ctl-audit-key-on-command-line"))
                .hint(tr!(lang, "ctl-audit-key-on-command-line-hint"))
        }
        KeyError::Unsafe { path, why } if why == NOT_REGULAR => Failure::new(
            Exit::Refused,
            tr!(
                lang,
                "ctl-audit-key-unsafe-kind",
                path = path.display().to_string()
            ),
        ),
        KeyError::Unsafe { path, .. } => {
            let path = path.display().to_string();
            Failure::new(
                Exit::Refused,
                tr!(lang, "ctl-audit-key-unsafe-mode", path = path.clone()),
            )
            .hint(tr!(lang, "ctl-audit-key-unsafe-mode-hint", path = path))
        }
        KeyError::Io { what, source } => Failure::new(
            if source.kind() == std::io::ErrorKind::NotFound {
                Exit::NotFound
            } else {
                Exit::Failed
            },
            tr!(
                lang,
                "ctl-audit-key-read",
                source = what,
                error = source.to_string()
            ),
        ),
        KeyError::Parse(_) => Failure::new(Exit::Usage, tr!(lang, "ctl-audit-key-bad")),
    })
}

/// The review's sources for every terminal under the collected `root`, each with its k(0)
/// from `keys` (`<keys>/<host>.k0`, read as `audit collected` reads it, under the rules of
/// `--key-file`; a terminal without one is verified without the seals' MACs, and its
/// verification line says so).
fn collected_sources(
    lang: Lang,
    root: &Path,
    keys: Option<&Path>,
    silent_after: u32,
    now: Option<cardgate_audit::Timestamp>,
) -> Result<Vec<Box<dyn cardgate_audit::report::LogSource>>, CmdError> {
    use cardgate_audit::report::collected::{judge, CollectedLog};
    let terminals = cardgate_audit::collected::list_terminals(root)
        .map_err(|e| crate::collected::collected_failure(lang, root, &e))?;
    let judge = judge(now, silent_after);
    let mut out: Vec<Box<dyn cardgate_audit::report::LogSource>> =
        Vec::with_capacity(terminals.len());
    for terminal in &terminals {
        let key = match keys {
            Some(dir) => crate::collected::key_of(lang, dir, &terminal.host)?,
            None => None,
        };
        out.push(Box::new(CollectedLog::open(terminal, key, judge)));
    }
    Ok(out)
}

/// Reads a key file after checking that it is a regular file that neither others nor (with a
/// warning only, for removable media mounted with a group mask) the group can read.
fn read_key_file_checked(path: &Path) -> Result<Zeroizing<String>, KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |source| KeyError::Io {
        what: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let unsafe_file = |why| KeyError::Unsafe {
        path: path.to_owned(),
        why,
    };
    if !meta.file_type().is_file() {
        return Err(unsafe_file(NOT_REGULAR));
    }
    let mode = meta.permissions().mode();
    if mode & 0o006 != 0 {
        return Err(unsafe_file(READABLE_BY_ALL));
    }
    if mode & 0o060 != 0 {
        eprintln!(
            "cardgatectl: {}",
            tr!(
                Lang::from_env(),
                "ctl-audit-key-group-readable",
                path = path.display().to_string()
            )
        );
    }
    let mut text = Zeroizing::new(String::new());
    file.take(MAX_KEY_TEXT)
        .read_to_string(&mut text)
        .map_err(io)?;
    Ok(text)
}

/// A progress bar on stderr, only when stderr is a terminal (a script or a pipe gets nothing).
fn progress_bar(label: &str, bytes: bool) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    let template = if bytes {
        format!("{label} {{bar:40}} {{bytes}}/{{total_bytes}} ({{bytes_per_sec}}, {{eta}})")
    } else {
        format!("{label} {{spinner}} {{elapsed}}")
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    if !bytes {
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
    }
    bar
}

/// The daemon's configuration as `--config` names it; `None` when there is no such file (the
/// review on the access manager's own machine). A file `cardgated` would refuse is refused.
fn load_config(lang: Lang, path: &Path) -> Result<Option<Config>, CmdError> {
    Config::load_if_present(path).map_err(|e| -> CmdError {
        Box::new(
            Failure::new(
                Exit::Failed,
                tr!(
                    lang,
                    "ctl-audit-config",
                    path = path.display().to_string(),
                    error = crate::files::chain(&e.error)
                ),
            )
            .hint(tr!(lang, "ctl-audit-config-hint")),
        )
    })
}

fn log_dir(given: Option<PathBuf>, config: Option<&Config>) -> PathBuf {
    given
        .or_else(|| config.map(|c| c.audit.dir.clone()))
        .unwrap_or_else(|| PathBuf::from(cli::DEFAULT_DIR))
}

/// A library failure as the user reads it, with its exit status: a missing log is "not
/// found", a bad option a usage error, anything else a failure naming the directory.
fn cli_failure(lang: Lang, dir: &Path, e: CliError) -> CmdError {
    let dir_s = dir.display().to_string();
    let detail = crate::files::chain(&e);
    let failure = match &e {
        CliError::Store(StoreError::NotInitialised(_)) => {
            Failure::new(Exit::NotFound, tr!(lang, "ctl-audit-no-log", dir = dir_s))
                .hint(tr!(lang, "ctl-audit-no-log-hint"))
        }
        CliError::Store(StoreError::Io { source, .. })
        | CliError::Report(ReportError::Store(StoreError::Io { source, .. }))
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Failure::new(Exit::NotFound, tr!(lang, "ctl-audit-no-log", dir = dir_s))
                .hint(tr!(lang, "ctl-audit-no-log-hint"))
        }
        CliError::Store(StoreError::AlreadyInitialised(_)) => {
            Failure::new(Exit::Refused, tr!(lang, "ctl-audit-already", dir = dir_s))
                .hint(tr!(lang, "ctl-audit-already-hint"))
        }
        CliError::Store(StoreError::Locked(_)) => {
            Failure::new(Exit::Refused, tr!(lang, "ctl-audit-locked", dir = dir_s))
        }
        CliError::Field { field, source } => Failure::new(
            Exit::Usage,
            tr!(
                lang,
                "ctl-audit-option",
                option = *field,
                error = source.to_string()
            ),
        ),
        CliError::Report(ReportError::Hours(h)) => Failure::new(
            Exit::Usage,
            tr!(
                lang,
                "ctl-audit-option",
                option = "--business-hours",
                error = h.to_string()
            ),
        ),
        CliError::Config(c) => Failure::new(
            Exit::Failed,
            tr!(
                lang,
                "ctl-audit-config",
                path = c.path.display().to_string(),
                error = crate::files::chain(&c.error)
            ),
        )
        .hint(tr!(lang, "ctl-audit-config-hint")),
        _ => Failure::new(
            Exit::Failed,
            tr!(lang, "ctl-audit-read", dir = dir_s, error = detail),
        )
        .hint(tr!(lang, "ctl-audit-read-hint")),
    };
    Box::new(failure)
}

fn checkpoint_failure(lang: Lang, id: &str, path: &Path, e: &CliError) -> CmdError {
    let not_found = matches!(
        e,
        CliError::Checkpoint(cardgate_audit::report::CheckpointError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound
    );
    Box::new(Failure::new(
        if not_found {
            Exit::NotFound
        } else {
            Exit::Failed
        },
        tr!(
            lang,
            id,
            path = path.display().to_string(),
            error = crate::files::chain(e)
        ),
    ))
}

fn usage(lang: Lang, option: &str, error: impl std::fmt::Display) -> CmdError {
    Box::new(Failure::new(
        Exit::Usage,
        tr!(
            lang,
            "ctl-audit-option",
            option = option.to_owned(),
            error = error.to_string()
        ),
    ))
}

fn write_failure(lang: Lang, path: &Path, e: &dyn std::fmt::Display) -> CmdError {
    Box::new(Failure::new(
        Exit::Failed,
        tr!(
            lang,
            "ctl-audit-write",
            path = path.display().to_string(),
            error = e.to_string()
        ),
    ))
}

/// Writes `bytes` to stdout; a closed pipe or a full disk is an error the user sees.
fn write_stdout(bytes: &[u8]) -> Result<(), CmdError> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

/// Runs one `audit` subcommand. Exit status (crate::exit): 0 done (for `verify`: intact), 2 a
/// bad option, 3 no log where it was looked for, 4 refused, 6 the log did not verify, 1 any
/// other failure.
pub fn run(ui: &Ui, cmd: AuditCommand, config_path: &Path) -> Result<ExitCode, CmdError> {
    let lang = ui.lang;
    match cmd {
        AuditCommand::Collected(args) => crate::collected::run(ui, args),
        AuditCommand::Init { dir } => {
            let config = load_config(lang, config_path)?;
            let dir = log_dir(dir.dir, config.as_ref());
            let key = cli::init(&dir).map_err(|e| cli_failure(lang, &dir, e))?;
            let hex = key.to_hex();
            let mut text = Zeroizing::new(String::new());
            text.push_str(&tr!(
                lang,
                "ctl-audit-init-created",
                dir = dir.display().to_string()
            ));
            text.push('\n');
            text.push_str(&tr!(lang, "ctl-audit-init-key-follows"));
            text.push('\n');
            text.push_str(hex.as_str());
            text.push('\n');
            write_stdout(text.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify {
            dir,
            key,
            require_sealed,
        } => {
            let config = load_config(lang, config_path)?;
            let dir = log_dir(dir.dir, config.as_ref());
            let key = key.read_for(lang)?;
            let bar = progress_bar(&tr!(lang, "ctl-audit-verify-progress"), true);
            let outcome = cli::verify(&dir, key.as_ref(), &mut |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })
            .map_err(|e| cli_failure(lang, &dir, e))?;
            bar.finish_and_clear();
            let fingerprint = key.as_ref().map(cardgate_audit::report::key_fingerprint);
            if ui.json {
                ui.print_json(&serde_json::json!({
                    "dir": dir.display().to_string(),
                    "intact": outcome.is_intact(),
                    "records": outcome.records,
                    "seals": outcome.seals,
                    "bytes": outcome.bytes,
                    "last_seq": outcome.last_seq,
                    "key_checked": outcome.key_checked,
                    "key_file_compared": !outcome.key_file_not_readable_here,
                    "key_fingerprint": fingerprint,
                    "first_bad": outcome.problem.as_ref().map(|p| p.seq),
                    "problem": outcome.problem.as_ref().map(ToString::to_string),
                    "unsealed_tail": outcome.unsealed_tail.as_ref().map(|t| serde_json::json!({
                        "first_seq": t.first_seq,
                        "last_seq": t.last_seq,
                        "since": t.since.to_string(),
                    })),
                }))?;
            } else {
                write_stdout(
                    render::verify_text(&outcome, fingerprint.as_deref(), lang, ui.offset)
                        .as_bytes(),
                )?;
            }
            let sealed_ok = !require_sealed || outcome.unsealed_tail.is_none();
            if outcome.is_intact() && sealed_ok {
                return Ok(ExitCode::SUCCESS);
            }
            if outcome.is_intact() && !ui.json {
                write_stdout(
                    format!("{}\n", tr!(lang, "ctl-audit-verify-tail-unsealed")).as_bytes(),
                )?;
            }
            // A k(0) refused at the very first seal is most likely the wrong key, not a
            // forged log (issue 12, point 6).
            let first_seal_refused = outcome.key_checked
                && outcome.seals == 0
                && outcome.problem.as_ref().is_some_and(|p| {
                    matches!(
                        p.kind,
                        cardgate_audit::ProblemKind::SealMac
                            | cardgate_audit::ProblemKind::KeyFileKey
                    )
                });
            if first_seal_refused && !ui.json {
                write_stdout(format!("{}\n", tr!(lang, "ctl-audit-key-maybe-wrong")).as_bytes())?;
            }
            Err(Box::new(
                Failure::new(
                    Exit::VerificationFailed,
                    tr!(
                        lang,
                        "ctl-audit-verify-failed",
                        dir = dir.display().to_string()
                    ),
                )
                .hint(tr!(lang, "ctl-audit-verify-failed-hint")),
            ))
        }
        AuditCommand::Report {
            dirs,
            from,
            to,
            format,
            out,
            business_hours,
            business_days,
            utc_offset,
            key,
            checkpoint,
            write_checkpoint,
            collected,
            keys,
            silent_after,
        } => {
            let config = load_config(lang, config_path)?;
            let dirs = if dirs.is_empty() && collected.is_none() {
                vec![log_dir(None, config.as_ref())]
            } else {
                dirs
            };
            let first_dir = dirs
                .first()
                .or(collected.as_ref())
                .cloned()
                .unwrap_or_default();
            let format = if ui.json { FormatArg::Json } else { format };
            if format == FormatArg::Csv && out.is_none() {
                return Err(Box::new(
                    Failure::new(Exit::Usage, tr!(lang, "ctl-audit-report-csv-needs-out"))
                        .hint(tr!(lang, "ctl-audit-report-csv-needs-out-hint")),
                ));
            }
            // What the configuration says (hours, offset, calendar, thresholds, register);
            // the options only override.
            let mut options = cli::review_options(config.as_ref(), None, None)
                .map_err(|e| cli_failure(lang, &first_dir, e))?;
            if let Some(text) = &utc_offset {
                options.utc_offset =
                    parse_utc_offset(text).map_err(|e| usage(lang, "--utc-offset", e))?;
            }
            options.hours = review_hours(lang, &options.hours, &business_hours, &business_days)?;
            match parse_period(from.as_deref(), to.as_deref(), options.utc_offset) {
                Ok((f, t)) => {
                    options.from = f;
                    options.to = t;
                }
                Err(ReportError::EmptyPeriod { .. }) => {
                    return Err(Box::new(
                        Failure::new(
                            Exit::Usage,
                            tr!(
                                lang,
                                "ctl-audit-report-period-order",
                                from = from.unwrap_or_default(),
                                to = to.unwrap_or_default()
                            ),
                        )
                        .hint(tr!(lang, "ctl-audit-report-period-order-hint")),
                    ))
                }
                Err(ReportError::Time(e)) => {
                    let option = if from
                        .as_deref()
                        .is_some_and(|f| parse_bound(f, options.utc_offset, false).is_err())
                    {
                        "--from"
                    } else {
                        "--to"
                    };
                    return Err(usage(lang, option, e));
                }
                Err(e) => return Err(cli_failure(lang, &first_dir, CliError::Report(e))),
            }
            options.key = key.read_for(lang)?;
            if let Some(path) = &checkpoint {
                options.previous = Some(cli::read_checkpoint(path).map_err(|e| {
                    checkpoint_failure(lang, "ctl-audit-checkpoint-read", path, &e)
                })?);
            }
            let view = render::View::of(lang, &options);
            let sources = match &collected {
                Some(root) => {
                    collected_sources(lang, root, keys.as_deref(), silent_after, options.now)?
                }
                None => Vec::new(),
            };
            // A file of every log is open at once.
            open_files_for(lang, dirs.len() + sources.len())?;
            let bar = progress_bar(&tr!(lang, "ctl-audit-report-progress"), false);
            let dir_refs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
            let report = cardgate_audit::report::review_all(&dir_refs, sources, &options)
                .map_err(|e| cli_failure(lang, &first_dir, CliError::Report(e)));
            bar.finish_and_clear();
            let report = report?;
            let written = |path: &Path| {
                eprintln!(
                    "{}",
                    tr!(
                        lang,
                        "ctl-audit-report-written",
                        path = path.display().to_string()
                    )
                )
            };
            match (format, &out) {
                (FormatArg::Csv, Some(dir)) => {
                    std::fs::create_dir_all(dir).map_err(|e| write_failure(lang, dir, &e))?;
                    for file in render::csv_files(&report, &view) {
                        let path = dir.join(file.name);
                        cardgate_office::files::write_atomic(&path, &file.bytes, 0o600)
                            .map_err(|e| write_failure(lang, &path, &e))?;
                        written(&path);
                    }
                }
                (format, out) => {
                    let text = match format {
                        FormatArg::Json => {
                            render::json(&report).map_err(|e| {
                                Failure::new(
                                    Exit::Failed,
                                    tr!(lang, "ctl-audit-json-failed", error = e.to_string()),
                                )
                            })? + "\n"
                        }
                        FormatArg::Html => render::page(&report, &view),
                        _ => render::text(&report, &view),
                    };
                    match out {
                        Some(path) => {
                            cardgate_office::files::write_atomic(path, text.as_bytes(), 0o600)
                                .map_err(|e| write_failure(lang, path, &e))?;
                            written(path);
                        }
                        None => write_stdout(text.as_bytes())?,
                    }
                }
            }
            if let Some(path) = &write_checkpoint {
                cli::write_checkpoint(&report, path).map_err(|e| {
                    checkpoint_failure(lang, "ctl-audit-checkpoint-write", path, &e)
                })?;
                eprintln!(
                    "{}",
                    tr!(
                        lang,
                        "ctl-audit-report-checkpoint-written",
                        path = path.display().to_string()
                    )
                );
            }
            if render::is_trusted(&report) {
                Ok(ExitCode::SUCCESS)
            } else {
                Err(Box::new(
                    Failure::new(
                        Exit::VerificationFailed,
                        tr!(lang, "ctl-audit-report-not-verified"),
                    )
                    .hint(tr!(lang, "ctl-audit-verify-failed-hint")),
                ))
            }
        }
        AuditCommand::Note {
            dir,
            kind,
            text,
            who,
            escort,
        } => {
            let config = load_config(lang, config_path)?;
            let dir = log_dir(dir.dir, config.as_ref());
            let kind = match kind {
                NoteKindArg::RoomEntry => NoteKind::RoomEntry,
                NoteKindArg::Media => NoteKind::Media,
                NoteKindArg::ResidentCard => NoteKind::ResidentCard,
                NoteKindArg::Other => NoteKind::Other,
            };
            let line = match cli::note(&dir, kind, &text, who.as_deref(), escort.as_deref()) {
                Ok(receipt) => tr!(lang, "ctl-audit-note-recorded", seq = receipt.seq),
                // cardgated holds the log, or the log is not ours to write (the access
                // manager's group only reads it): hand the note to the daemon, which
                // attributes it to our uid.
                Err(CliError::Store(e)) if for_the_daemon(&e) => {
                    let seq = note_through_daemon(
                        lang,
                        config_path,
                        config.as_ref(),
                        kind,
                        &text,
                        who.as_deref(),
                        escort.as_deref(),
                    )?;
                    tr!(lang, "ctl-audit-note-recorded-by-daemon", seq = seq)
                }
                Err(e) => return Err(cli_failure(lang, &dir, e)),
            };
            write_stdout(format!("{line}\n").as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Files a review keeps open besides one per log (the binary, stdio, the catalogues, the
/// output, the checkpoint).
const OTHER_OPEN_FILES: u64 = 64;

/// Raises the soft limit of open files (RLIMIT_NOFILE) to the hard limit, as far as the review
/// of `logs` logs needs (a file of each is open at once: a thousand terminals are a thousand
/// files); fails naming the limit when even the hard limit is too low.
fn open_files_for(lang: Lang, logs: usize) -> Result<(), CmdError> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let need = logs as u64 + OTHER_OPEN_FILES;
    let fail = |soft: u64, hard: u64, error: String| -> CmdError {
        Box::new(
            Failure::new(
                Exit::Failed,
                tr!(
                    lang,
                    "review-cli-open-files",
                    logs = logs as u64,
                    need = need,
                    soft = soft,
                    hard = hard,
                    error = error
                ),
            )
            .hint(tr!(lang, "review-cli-open-files-hint", need = need)),
        )
    };
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| fail(0, 0, e.to_string()))?;
    if soft >= need {
        return Ok(());
    }
    if hard < need {
        return Err(fail(soft, hard, String::new()));
    }
    // An unlimited hard limit is still capped by the kernel (fs.nr_open): ask for what is
    // needed then.
    let target = if hard == nix::sys::resource::RLIM_INFINITY {
        need
    } else {
        hard
    };
    setrlimit(Resource::RLIMIT_NOFILE, target, hard).map_err(|e| fail(soft, hard, e.to_string()))
}

/// Whether a note the log refused goes to the daemon instead: the log is held by it, or this
/// user may read it but not write it (the access manager, who is not root).
fn for_the_daemon(e: &cardgate_audit::StoreError) -> bool {
    match e {
        cardgate_audit::StoreError::Locked(_) => true,
        cardgate_audit::StoreError::Io { source, .. } => {
            source.kind() == std::io::ErrorKind::PermissionDenied
        }
        _ => false,
    }
}

/// The business hours the review applies: `base` (`[business_hours]` of the configuration,
/// the ones `cardgated` enforces, else Monday to Friday 08:30–17:15), its windows replaced by
/// `--business-hours` and its days by `--business-days` when given.
fn review_hours(
    lang: Lang,
    base: &BusinessHours,
    windows: &[String],
    days: &Option<String>,
) -> Result<BusinessHours, CmdError> {
    let windows = if windows.is_empty() {
        base.windows().to_vec()
    } else {
        windows
            .iter()
            .map(|w| Window::parse(w))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| usage(lang, "--business-hours", e))?
    };
    let working: Vec<Day> = match days {
        None => Day::ALL
            .into_iter()
            .filter(|d| base.is_working_day(*d))
            .collect(),
        Some(text) => {
            // The one parser of day lists (it wants a window too: any will do).
            let parsed = BusinessHours::parse(text, &["00:00-24:00".to_owned()])
                .map_err(|e| usage(lang, "--business-days", e))?;
            Day::ALL
                .into_iter()
                .filter(|d| parsed.is_working_day(*d))
                .collect()
        }
    };
    Ok(BusinessHours::new(working, windows))
}

/// Sends a note to the running daemon's admin socket.
fn note_through_daemon(
    lang: Lang,
    config_path: &Path,
    config: Option<&Config>,
    kind: NoteKind,
    text: &str,
    who: Option<&str>,
    escort: Option<&str>,
) -> Result<u64, CmdError> {
    let config = match config {
        Some(c) => c.clone(),
        None => Config::load(config_path).map_err(|e| -> CmdError {
            Box::new(Failure::new(
                Exit::Failed,
                tr!(
                    lang,
                    "ctl-audit-config",
                    path = config_path.display().to_string(),
                    error = crate::files::chain(&e.error)
                ),
            ))
        })?,
    };
    let socket = config.daemon.admin_socket.display().to_string();
    let kind = kind
        .as_str()
        .parse()
        .map_err(|e: cardgate_protocol::UnknownValue| usage(lang, "--kind", e))?;
    let request = cardgate_protocol::AdminRequest::Note {
        kind,
        text: text.to_owned(),
        who: who.map(str::to_owned),
        escort: escort.map(str::to_owned),
    };
    let answer = crate::client::ask(&config.daemon.admin_socket, &request).map_err(|e| {
        Box::new(Failure::new(
            Exit::DaemonDown,
            tr!(
                lang,
                "ctl-audit-note-daemon-unreachable",
                socket = socket.clone(),
                error = crate::files::chain(&e)
            ),
        )) as CmdError
    })?;
    match answer {
        cardgate_protocol::Answer::Info {
            data: cardgate_protocol::Info::Recorded(r),
        } => Ok(r.recorded),
        cardgate_protocol::Answer::Error { message }
        | cardgate_protocol::Answer::Denied { message, .. } => Err(Box::new(Failure::new(
            Exit::Refused,
            tr!(lang, "ctl-audit-note-daemon-refused", message = message),
        ))),
        other => Err(Box::new(Failure::new(
            Exit::Failed,
            tr!(
                lang,
                "ctl-audit-note-daemon-answer",
                answer = format!("{other:?}")
            ),
        ))),
    }
}
