//! `cardgatectl audit …`: init, verify, report, note. The work is done in
//! `cardgate_audit::cli`; this module parses arguments and prints.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use cardgate_audit::cli::{self, CliError, ReportFormat};
use cardgate_audit::report::{parse_bound, BusinessHours, ReportOptions};
use cardgate_audit::NoteKind;
use clap::{Args, Subcommand, ValueEnum};
use zeroize::Zeroizing;

/// Exit status when the log is not intact (`verify`).
const EXIT_NOT_INTACT: u8 = 1;
/// Exit status for any other failure (bad arguments, unreadable log).
const EXIT_ERROR: u8 = 2;

/// The log directory option shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct DirArg {
    /// The log directory [default: `audit.dir` in /etc/cardgate/cardgated.toml, else
    /// /var/lib/cardgate/audit]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

impl DirArg {
    fn resolve(&self) -> Result<PathBuf, CliError> {
        match &self.dir {
            Some(d) => Ok(d.clone()),
            None => cli::default_dir(),
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
        /// The verification key k(0) in hex, or `-` to read it from stdin.
        #[arg(long, value_name = "HEX")]
        key: Option<String>,
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

fn read_key(arg: &str) -> Result<cardgate_audit::SealKey, CliError> {
    if arg == "-" {
        let mut text = Zeroizing::new(String::new());
        // 64 hex digits and a newline; anything longer is refused by the parser.
        let _ = std::io::stdin().take(256).read_to_string(&mut text);
        cli::parse_key(&text)
    } else {
        cli::parse_key(arg)
    }
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
pub fn run(cmd: AuditCommand, config_path: &std::path::Path) -> ExitCode {
    match run_inner(cmd, config_path) {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}

fn run_inner(cmd: AuditCommand, config_path: &std::path::Path) -> Result<ExitCode, CliError> {
    match cmd {
        AuditCommand::Init { dir } => {
            let dir = dir.resolve()?;
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
            let dir = dir.resolve()?;
            let key = key.as_deref().map(read_key).transpose()?;
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
                vec![cli::default_dir()?]
            } else {
                dirs
            };
            let report_err = |e| CliError::Report(cardgate_audit::report::ReportError::Hours(e));
            let offset = BusinessHours::parse_offset(&utc_offset).map_err(report_err)?;
            let hours = BusinessHours {
                days: BusinessHours::parse_days(&business_days).map_err(report_err)?,
                ranges: BusinessHours::parse_ranges(&business_hours).map_err(report_err)?,
                utc_offset: offset,
            };
            let bound = |text: Option<String>, field, end| {
                text.map(|t| parse_bound(&t, offset, end))
                    .transpose()
                    .map_err(|source| CliError::Field { field, source })
            };
            let options = ReportOptions {
                from: bound(from, "--from", false)?,
                to: bound(to, "--to", true)?,
                hours,
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
            let dir = dir.resolve()?;
            let kind = match kind {
                NoteKindArg::RoomEntry => NoteKind::RoomEntry,
                NoteKindArg::Media => NoteKind::Media,
                NoteKindArg::ResidentCard => NoteKind::ResidentCard,
                NoteKindArg::Other => NoteKind::Other,
            };
            match cli::note(&dir, kind, &text, who.as_deref(), escort.as_deref()) {
                Ok(receipt) => println!("recorded as record {}", receipt.seq),
                // cardgated holds the log: hand the note to it, attributed to our uid.
                Err(CliError::Store(cardgate_audit::StoreError::Locked(_))) => {
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
    let config = cardgate_sessiond::config::Config::load(config_path).map_err(|e| {
        unavailable(format!(
            "the log is held by cardgated, and its configuration cannot be read: {e}"
        ))
    })?;
    let request = serde_json::json!({
        "op": "note", "kind": kind.as_str(), "text": text, "who": who, "escort": escort,
    });
    let answer = crate::client::ask(&config.daemon.admin_socket, &request).map_err(|e| {
        unavailable(format!(
            "the log is held by cardgated, which cannot be reached: {e}"
        ))
    })?;
    answer["data"]["recorded"].as_u64().ok_or_else(|| {
        unavailable(format!(
            "cardgated refused the note: {}",
            answer["message"].as_str().unwrap_or("?")
        ))
    })
}
