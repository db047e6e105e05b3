//! `cardgatectl audit …`: init, verify, report, note. The work is done in
//! `cardgate_audit::cli`; this module parses arguments and prints.

use crate::ui::Ui;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use cardgate_audit::cli::{self, CliError, ReportFormat};
use cardgate_audit::report::{parse_bound, BusinessHours, ReportOptions};
use cardgate_audit::NoteKind;
use cardgate_office::hours::parse_utc_offset;
use clap::{Args, Subcommand, ValueEnum};
use zeroize::Zeroizing;

/// Exit status when the log is not intact (`verify`).
const EXIT_NOT_INTACT: u8 = 1;
/// Exit status for any other failure (bad arguments, unreadable log).
const EXIT_ERROR: u8 = 2;

/// The log directory option shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct DirArg {
    /// The log directory [default: `audit.dir` in the --config file, else
    /// /var/lib/cardgate/audit when there is no such file]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

impl DirArg {
    fn resolve(&self, config_path: &std::path::Path) -> Result<PathBuf, CliError> {
        match &self.dir {
            Some(d) => Ok(d.clone()),
            None => cli::default_dir_in(config_path),
        }
    }
}

/// Report formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// A table for the terminal.
    Table,
    /// JSON.
    Json,
    /// CSV.
    Csv,
    /// Self-contained HTML with inline SVG charts.
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
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Create an empty log; print the verification key k(0) in hex as the last line of stdout.
    /// Keep it off this machine: it is stored nowhere else.
    Init {
        #[command(flatten)]
        dir: DirArg,
    },
    /// Check every chain link, every seal, sequence gaps, time order and the tail after the
    /// last seal; name the first bad record. Exit 0 only when intact.
    Verify {
        #[command(flatten)]
        dir: DirArg,
        #[command(flatten)]
        key: KeyArgs,
        /// Also fail when records after the last seal are not sealed yet.
        #[arg(long)]
        require_sealed: bool,
    },
    /// The access manager's review (art. 7, art. 12).
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
        /// Business hours, local time; repeat for several ranges.
        #[arg(long = "business-hours", value_name = "HH:MM-HH:MM", default_values = ["08:30-17:15"])]
        business_hours: Vec<String>,
        /// Business days.
        #[arg(long = "business-days", default_value = "mon-fri")]
        business_days: String,
        /// Local time's offset from UTC.
        #[arg(
            long = "utc-offset",
            default_value = "+09:00",
            allow_hyphen_values = true
        )]
        utc_offset: String,
    },
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

fn fail(error: &dyn std::error::Error) -> ExitCode {
    let mut message = format!("cardgatectl audit: {error}");
    let mut source = error.source();
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    eprintln!("{message}");
    ExitCode::from(EXIT_ERROR)
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
}

/// Reads a key file after checking that it is a regular file that neither others nor (with a
/// warning only, for removable media mounted with a group mask) the group can read.
fn read_key_file_checked(path: &std::path::Path) -> Result<Zeroizing<String>, KeyError> {
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
        return Err(unsafe_file(
            "not a regular file; k(0) must come from a file",
        ));
    }
    let mode = meta.permissions().mode();
    if mode & 0o006 != 0 {
        return Err(unsafe_file(
            "readable or writable by every user; refusing it as k(0) (chmod 600 it)",
        ));
    }
    if mode & 0o060 != 0 {
        eprintln!(
            "cardgatectl: warning: {} is readable by its group; k(0) should be readable by its owner only",
            path.display()
        );
    }
    let mut text = Zeroizing::new(String::new());
    file.take(MAX_KEY_TEXT)
        .read_to_string(&mut text)
        .map_err(io)?;
    Ok(text)
}

fn progress_bar() -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "verifying {bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Runs one `audit` subcommand. Exit status: 0 success (for `verify`: intact), 1 the log is
/// not intact, 2 any other error.
pub fn run(ui: &Ui, cmd: AuditCommand, config_path: &std::path::Path) -> ExitCode {
    let _unused = ui;
    match run_inner(cmd, config_path) {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}

fn run_inner(cmd: AuditCommand, config_path: &std::path::Path) -> Result<ExitCode, CliError> {
    match cmd {
        AuditCommand::Init { dir } => {
            let dir = dir.resolve(config_path)?;
            let key = cli::init(&dir)?;
            let hex = key.to_hex();
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "created an audit log in {}", dir.display());
            let _ = writeln!(
                out,
                "verification key k(0) follows; keep it off this machine, it is shown only once:"
            );
            let _ = writeln!(out, "{}", hex.as_str());
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify {
            dir,
            key,
            require_sealed,
        } => {
            let dir = dir.resolve(config_path)?;
            let key = match key.read() {
                Ok(k) => k,
                Err(e) => return Ok(fail(&e)),
            };
            let bar = progress_bar();
            let outcome = cli::verify(&dir, key.as_ref(), &mut |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })?;
            bar.finish_and_clear();
            print!("{}", cli::verify_summary(&outcome));
            let sealed_ok = !require_sealed || outcome.unsealed_tail.is_none();
            if outcome.is_intact() && sealed_ok {
                Ok(ExitCode::SUCCESS)
            } else {
                if outcome.is_intact() {
                    println!("NOT INTACT: --require-sealed and the tail is unsealed");
                }
                Ok(ExitCode::from(EXIT_NOT_INTACT))
            }
        }
        AuditCommand::Report {
            dirs,
            from,
            to,
            format,
            business_hours,
            business_days,
            utc_offset,
        } => {
            let dirs = if dirs.is_empty() {
                vec![cli::default_dir_in(config_path)?]
            } else {
                dirs
            };
            let report_err = |e| CliError::Report(cardgate_audit::report::ReportError::Hours(e));
            let offset = parse_utc_offset(&utc_offset).map_err(report_err)?;
            let hours =
                BusinessHours::parse(&business_days, &business_hours).map_err(report_err)?;
            let bound = |text: Option<String>, field, end| {
                text.map(|t| parse_bound(&t, offset, end))
                    .transpose()
                    .map_err(|source| CliError::Field { field, source })
            };
            let options = ReportOptions {
                from: bound(from, "--from", false)?,
                to: bound(to, "--to", true)?,
                hours,
                utc_offset: offset,
                ..ReportOptions::default()
            };
            let dir_refs: Vec<&std::path::Path> = dirs.iter().map(PathBuf::as_path).collect();
            let report = cli::report(&dir_refs, options)?;
            let format = match format {
                FormatArg::Table => ReportFormat::Table,
                FormatArg::Json => ReportFormat::Json,
                FormatArg::Csv => ReportFormat::Csv,
                FormatArg::Html => ReportFormat::Html,
            };
            let _ = std::io::stdout()
                .lock()
                .write_all(cli::render_report(&report, format).as_bytes());
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Note {
            dir,
            kind,
            text,
            who,
            escort,
        } => {
            let dir = dir.resolve(config_path)?;
            let kind = match kind {
                NoteKindArg::RoomEntry => NoteKind::RoomEntry,
                NoteKindArg::Media => NoteKind::Media,
                NoteKindArg::ResidentCard => NoteKind::ResidentCard,
                NoteKindArg::Other => NoteKind::Other,
            };
            match cli::note(&dir, kind, &text, who.as_deref(), escort.as_deref()) {
                Ok(receipt) => println!("recorded as record {}", receipt.seq),
                // cardgated holds the log, or the log is not ours to write (the access
                // manager's group only reads it): hand the note to the daemon, which
                // attributes it to our uid.
                Err(CliError::Store(e)) if for_the_daemon(&e) => {
                    let seq = note_through_daemon(
                        config_path,
                        kind,
                        &text,
                        who.as_deref(),
                        escort.as_deref(),
                    )?;
                    println!("recorded by cardgated as record {seq}");
                }
                Err(e) => return Err(e),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
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

/// Sends a note to the running daemon's admin socket.
fn note_through_daemon(
    config_path: &std::path::Path,
    kind: NoteKind,
    text: &str,
    who: Option<&str>,
    escort: Option<&str>,
) -> Result<u64, CliError> {
    let unavailable = |what: String| CliError::ConfigIo {
        path: config_path.to_owned(),
        source: std::io::Error::other(what),
    };
    let config = cardgate_office::config::Config::load(config_path).map_err(|e| {
        unavailable(format!(
            "the log is held by cardgated, and its configuration cannot be read: {e}"
        ))
    })?;
    let kind = kind
        .as_str()
        .parse()
        .map_err(|e| unavailable(format!("the note cannot be sent to cardgated: {e}")))?;
    let request = cardgate_protocol::AdminRequest::Note {
        kind,
        text: text.to_owned(),
        who: who.map(str::to_owned),
        escort: escort.map(str::to_owned),
    };
    let answer = crate::client::ask(&config.daemon.admin_socket, &request).map_err(|e| {
        unavailable(format!(
            "the log is held by cardgated, which cannot be reached: {e}"
        ))
    })?;
    match answer {
        cardgate_protocol::Answer::Info {
            data: cardgate_protocol::Info::Recorded(r),
        } => Ok(r.recorded),
        cardgate_protocol::Answer::Error { message }
        | cardgate_protocol::Answer::Denied { message, .. } => Err(unavailable(format!(
            "cardgated refused the note: {message}"
        ))),
        other => Err(unavailable(format!(
            "cardgated answered the note with something else: {other:?}"
        ))),
    }
}
