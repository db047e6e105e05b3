//! `cardgatectl audit collected`: the central verification on the site's log collector
//! (issue 13; art. 7: the access manager checks every terminal's use in one place). One line
//! per terminal (or JSON), each terminal's chain rebuilt from what rsyslog wrote under
//! `--root` and, with its k(0) from `--keys DIR/<H>.k0`, every seal checked. The work is
//! `cardgate_audit::collected`; this file reads the options and keys and says the result.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cardgate_audit::collected::{
    self, CollectedError, FindingKind, Judge, StreamOptions, TerminalReport, TerminalStream,
};
use cardgate_audit::report::{Checkpoint, LogCheckpoint};
use cardgate_audit::{SealKey, Timestamp};
use cardgate_i18n::table::Table;
use cardgate_i18n::{tr, Lang};
use clap::{Args, ValueEnum};

use crate::audit::{key_failure, read_key_path, KeyError};
use crate::exit::{Exit, Failure};
use crate::files::CmdError;
use crate::ui::Ui;

/// Where rsyslog writes the terminals' logs on the collector.
pub const DEFAULT_ROOT: &str = "/var/log/cardgate/terminals";

/// The output of `audit collected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CollectedFormat {
    /// One line per terminal, in the user's language.
    Table,
    /// JSON (the data, not translated).
    Json,
}

/// `cardgatectl audit collected …`
#[derive(Debug, Clone, Args)]
pub struct CollectedArgs {
    /// The collector's directory: one directory per terminal (its host name), holding the
    /// `*.jsonl` files rsyslog writes.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_ROOT)]
    root: PathBuf,
    /// The access manager's keys: DIR/HOST.k0 holds that terminal's k(0) in hex (a regular
    /// file others cannot read). A terminal without one is verified without its seals' MACs.
    #[arg(long, value_name = "DIR")]
    keys: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: CollectedFormat,
    /// The time the silence of each terminal is judged at (YYYY-MM-DDThh:mm:ss.mmmZ, UTC)
    /// [default: now].
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    /// A terminal whose last record is older than this many minutes, and is not a stop, is
    /// silent (a finding).
    #[arg(long, value_name = "MINUTES", default_value_t = 60)]
    silent_after: u32,
    /// The checkpoint an earlier run wrote (--write-checkpoint): every terminal's collected
    /// log must still extend it; a copy cut back, rewritten or replaced is a critical finding.
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// Write this run's checkpoint to FILE (per terminal: log ID, last record and its hash,
    /// seal epoch). Keep it off the collector.
    #[arg(long, value_name = "FILE")]
    write_checkpoint: Option<PathBuf>,
}

fn fail(exit: Exit, message: String) -> CmdError {
    Box::new(Failure::new(exit, message))
}

pub(crate) fn collected_failure(lang: Lang, root: &Path, e: &CollectedError) -> CmdError {
    match e {
        CollectedError::NoRoot { .. } => Box::new(
            Failure::new(
                Exit::NotFound,
                tr!(
                    lang,
                    "ctl-collected-no-root",
                    root = root.display().to_string()
                ),
            )
            .hint(tr!(lang, "ctl-collected-no-root-hint")),
        ),
        _ => fail(
            Exit::Failed,
            tr!(lang, "ctl-collected-read", error = crate::files::chain(e)),
        ),
    }
}

/// The key of terminal `host`, when `keys` has one.
pub(crate) fn key_of(lang: Lang, keys: &Path, host: &str) -> Result<Option<SealKey>, CmdError> {
    let path = keys.join(format!("{host}.k0"));
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(fail(
                Exit::Failed,
                tr!(
                    lang,
                    "ctl-audit-key-read",
                    source = path.display().to_string(),
                    error = e.to_string()
                ),
            ))
        }
        Ok(_) => {}
    }
    match read_key_path(&path) {
        Ok(key) => Ok(Some(key)),
        Err(KeyError::Parse(_)) => Err(fail(
            Exit::Failed,
            tr!(
                lang,
                "ctl-collected-key-bad",
                path = path.display().to_string()
            ),
        )),
        Err(e) => Err(key_failure(lang, e)),
    }
}

fn parse_now(lang: Lang, text: Option<&str>) -> Result<Timestamp, CmdError> {
    match text {
        None => Ok(Timestamp::from_datetime(time::OffsetDateTime::now_utc())),
        Some(t) => Timestamp::parse(t).map_err(|e| {
            fail(
                Exit::Usage,
                tr!(
                    lang,
                    "ctl-audit-option",
                    option = "--now",
                    error = e.to_string()
                ),
            )
        }),
    }
}

/// Runs `audit collected`. Exit 0: every terminal verified as far as checked and no finding;
/// 6: a finding; 3: no such root (or keys directory); 2: a bad option; 4: a key file others
/// may read; 1: anything else.
pub fn run(ui: &Ui, args: CollectedArgs) -> Result<ExitCode, CmdError> {
    let lang = ui.lang;
    let now = parse_now(lang, args.now.as_deref())?;
    if let Some(keys) = &args.keys {
        if !keys.is_dir() {
            return Err(fail(
                Exit::NotFound,
                tr!(
                    lang,
                    "ctl-collected-no-keys",
                    dir = keys.display().to_string()
                ),
            ));
        }
    }
    let previous = match &args.checkpoint {
        Some(path) => Some(Checkpoint::read(path).map_err(|e| {
            let not_found = matches!(
                &e,
                cardgate_audit::report::CheckpointError::Io { source, .. }
                    if source.kind() == std::io::ErrorKind::NotFound
            );
            fail(
                if not_found {
                    Exit::NotFound
                } else {
                    Exit::Failed
                },
                tr!(
                    lang,
                    "ctl-audit-checkpoint-read",
                    path = path.display().to_string(),
                    error = crate::files::chain(&e)
                ),
            )
        })?),
        None => None,
    };
    let terminals = collected::list_terminals(&args.root)
        .map_err(|e| collected_failure(lang, &args.root, &e))?;
    let judge = Judge {
        now,
        silent_after_ms: i64::from(args.silent_after) * 60_000,
    };
    let mut reports = Vec::with_capacity(terminals.len());
    for t in &terminals {
        let key = match &args.keys {
            Some(dir) => key_of(lang, dir, &t.host)?,
            None => None,
        };
        let mut stream = TerminalStream::new(t, key, StreamOptions::one_at_a_time());
        if let Some(entry) = previous
            .as_ref()
            .and_then(|p| collected::witnessed(p, &t.host))
        {
            stream.witness(entry.clone());
        }
        let report = stream
            .finish(&judge)
            .map_err(|e| collected_failure(lang, &args.root, &e))?;
        reports.push(report);
    }
    let missing: Vec<&LogCheckpoint> = previous
        .as_ref()
        .map(|p| collected::unclaimed(p, &terminals))
        .unwrap_or_default();
    let findings: usize = reports.iter().map(|r| r.findings.len()).sum::<usize>() + missing.len();
    match args.format {
        CollectedFormat::Json => ui.print_json(&serde_json::json!({
            "format": 1,
            "root": args.root.display().to_string(),
            "now": now,
            "silent_after_minutes": args.silent_after,
            "terminals": reports,
            "missing": missing.iter().map(|e| serde_json::json!({
                "host": e.terminals.first().unwrap_or(&e.host),
                "log_id": e.log_id.to_string(),
                "seq": e.seq,
            })).collect::<Vec<_>>(),
            "findings": findings,
        }))?,
        CollectedFormat::Table => {
            print!("{}", table(ui, &reports, &missing));
        }
    }
    if let Some(path) = &args.write_checkpoint {
        let mut cp = collected::checkpoint(&reports, now);
        // A terminal whose directory is gone keeps its entry: what was witnessed stays so.
        cp.logs.extend(missing.iter().map(|e| (*e).clone()));
        if cp.logs.len() > cardgate_audit::report::checkpoint::MAX_CHECKPOINT_LOGS {
            return Err(fail(
                Exit::Failed,
                tr!(
                    lang,
                    "ctl-audit-checkpoint-write",
                    path = path.display().to_string(),
                    error = format!(
                        "more than {} logs",
                        cardgate_audit::report::checkpoint::MAX_CHECKPOINT_LOGS
                    )
                ),
            ));
        }
        cp.write(path).map_err(|e| {
            fail(
                Exit::Failed,
                tr!(
                    lang,
                    "ctl-audit-checkpoint-write",
                    path = path.display().to_string(),
                    error = crate::files::chain(&e)
                ),
            )
        })?;
        if args.format == CollectedFormat::Table {
            println!(
                "{}",
                tr!(
                    lang,
                    "ctl-collected-checkpoint-written",
                    path = path.display().to_string()
                )
            );
        }
    }
    if findings == 0 {
        return Ok(ExitCode::SUCCESS);
    }
    Err(Box::new(
        Failure::new(
            Exit::VerificationFailed,
            tr!(
                lang,
                "ctl-collected-findings",
                count = findings,
                root = args.root.display().to_string()
            ),
        )
        .hint(tr!(lang, "ctl-collected-findings-hint")),
    ))
}

fn kind_label(lang: Lang, kind: FindingKind) -> String {
    let id = match kind {
        FindingKind::ChainBroken => "ctl-collected-kind-chain-broken",
        FindingKind::Conflict => "ctl-collected-kind-conflict",
        FindingKind::Replaced => "ctl-collected-kind-replaced",
        FindingKind::Gap => "ctl-collected-kind-gap",
        FindingKind::ResentTooOld => "ctl-collected-kind-resent-too-old",
        FindingKind::Late => "ctl-collected-kind-late",
        FindingKind::NotRecords => "ctl-collected-kind-not-records",
        FindingKind::Silent => "ctl-collected-kind-silent",
        FindingKind::Empty => "ctl-collected-kind-empty",
        FindingKind::NotExtended => "ctl-collected-kind-not-extended",
        FindingKind::Future => "ctl-collected-kind-future",
        FindingKind::FarAhead => "ctl-collected-kind-far-ahead",
        _ => "ctl-collected-kind-other",
    };
    tr!(lang, id)
}

fn severity_label(lang: Lang, s: collected::Severity) -> String {
    tr!(
        lang,
        match s {
            collected::Severity::Critical => "ctl-collected-severity-critical",
            collected::Severity::High => "ctl-collected-severity-high",
            _ => "ctl-collected-severity-check",
        }
    )
}

fn opt(n: Option<u64>) -> String {
    n.map_or_else(|| "-".to_owned(), |n| n.to_string())
}

/// One line per terminal, then the findings, each naming its terminal.
fn table(ui: &Ui, reports: &[TerminalReport], missing: &[&LogCheckpoint]) -> String {
    let lang = ui.lang;
    let mut t = Table::new([
        tr!(lang, "ctl-collected-col-host"),
        tr!(lang, "ctl-collected-col-records"),
        tr!(lang, "ctl-collected-col-verified"),
        tr!(lang, "ctl-collected-col-unsealed"),
        tr!(lang, "ctl-collected-col-gaps"),
        tr!(lang, "ctl-collected-col-dup"),
        tr!(lang, "ctl-collected-col-last"),
        tr!(lang, "ctl-collected-col-state"),
    ]);
    for r in reports {
        let last = match (r.last_time.and_then(Timestamp::to_datetime), &r.last_kind) {
            (Some(at), Some(kind)) => format!("{} {kind}", ui.time(at)),
            _ => "-".to_owned(),
        };
        let state = match r.worst() {
            None if r.key_checked => tr!(lang, "ctl-collected-state-ok"),
            None => tr!(lang, "ctl-collected-state-ok-no-key"),
            Some(s) => severity_label(lang, s),
        };
        t.row([
            r.host.clone(),
            r.records.to_string(),
            opt(r.verified_up_to),
            opt(r.unsealed_from),
            r.missing.to_string(),
            format!("{}/{}", r.duplicates, r.out_of_order),
            last,
            state,
        ]);
    }
    let mut out = t.render();
    let mut lines = Vec::new();
    for r in reports {
        if !r.key_checked {
            lines.push(format!(
                "{}: {}",
                r.host,
                tr!(lang, "ctl-collected-no-key", host = r.host.clone())
            ));
        }
        for f in &r.findings {
            let seq = f
                .seq
                .map(|s| format!(" {}", tr!(lang, "ctl-collected-at-record", seq = s)))
                .unwrap_or_default();
            lines.push(format!(
                "{}: [{}] {}{seq}",
                r.host,
                severity_label(lang, f.severity),
                kind_label(lang, f.kind)
            ));
        }
    }
    for e in missing {
        lines.push(format!(
            "{}: [{}] {}",
            e.terminals.first().unwrap_or(&e.host),
            severity_label(lang, collected::Severity::Critical),
            tr!(
                lang,
                "ctl-collected-missing",
                log_id = e.log_id.to_string(),
                seq = e.seq
            )
        ));
    }
    if !lines.is_empty() {
        out.push('\n');
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}
