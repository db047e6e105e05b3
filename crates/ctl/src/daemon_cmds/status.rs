//! `cardgatectl status` and `cardgatectl sessions`: what the daemon says, and what this
//! terminal's files and pcscd say, for the administrator diagnosing a terminal.
//!
//! `status` asks the daemon for what it holds (the list version in force, its terminals, the
//! open sessions) and reads what `cardgatectl` can read itself: pcscd and its readers (a
//! PC/SC context of its own), the revocation list file (verified with the configured issuer
//! key), and the audit log's last record and last seal (when the audit directory is readable,
//! i.e. as root). With the daemon down it still prints all of that, and exits 5.

use crate::client;
use crate::exit::Failure;
use crate::files::{json_time, CmdError};
use crate::revocation::{load_list, load_public, Freshness};
use crate::ui::Ui;
use cardgate_audit::segments::list_segments;
use cardgate_audit::{Event, Record};
use cardgate_i18n::table::Table;
use cardgate_i18n::{tr, Lang};
use cardgate_office::config::Config;
use cardgate_protocol::{AdminRequest, Answer, Info, SessionInfo, SessionState, Status};
use serde::Serialize;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// How much of the end of a segment is read for its last record and seal: far more than the
/// records between two seals (`audit.seal_every_records`), and a bounded read however large
/// the log grew.
const TAIL_BYTES: u64 = 1 << 20;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// An answer of the wrong kind for the request.
pub(super) fn unexpected(request: &str, answer: &Answer) -> CmdError {
    format!("cardgated answered {request} with something else: {answer:?}").into()
}

/// The daemon's part of `status`.
#[derive(Debug, Serialize)]
struct DaemonPart {
    socket: PathBuf,
    reachable: bool,
    /// Why not, when not.
    error: Option<String>,
    revocation_list_version: Option<u64>,
    sessions_open: Option<u64>,
}

/// pcscd, as this process sees it.
#[derive(Debug, Serialize)]
struct PcscPart {
    reachable: bool,
    error: Option<String>,
    readers: Vec<String>,
}

/// A configured terminal and whether pcscd has its reader.
#[derive(Debug, Serialize)]
struct TerminalPart {
    id: String,
    reader: String,
    /// `null` when pcscd could not be asked.
    reader_present: Option<bool>,
}

#[derive(Debug, Serialize)]
struct ListPart {
    file: PathBuf,
    /// The file's list, verified with the configured issuer key.
    version: Option<u64>,
    issued_at: serde_json::Value,
    next_update: serde_json::Value,
    next_update_unix: Option<i64>,
    entries: Option<usize>,
    /// `fresh`, `due_soon` (within two days) or `stale`.
    freshness: Option<&'static str>,
    /// The version the daemon holds, when it answered; it differs from `version` while the
    /// daemon has not yet taken a new file.
    in_force: Option<u64>,
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct RecordRef {
    seq: u64,
    time: serde_json::Value,
}

#[derive(Debug, Serialize)]
struct SealRef {
    epoch: u64,
    /// The last record it closes.
    last_seq: u64,
    /// The seal record's own sequence number and time.
    seq: u64,
    time: serde_json::Value,
}

#[derive(Debug, Serialize)]
struct AuditPart {
    dir: PathBuf,
    readable: bool,
    error: Option<String>,
    segments: Option<usize>,
    last_record: Option<RecordRef>,
    last_seal: Option<SealRef>,
}

/// The whole of `status --json` (docs/cli.md).
#[derive(Debug, Serialize)]
struct StatusReport {
    daemon: DaemonPart,
    pcscd: PcscPart,
    terminals: Vec<TerminalPart>,
    sessions: Option<Vec<SessionOut>>,
    revocation: ListPart,
    audit: AuditPart,
    shipping: ShippingPart,
    /// The last pull of the office's state (`office status`), when one ran here.
    office: Option<serde_json::Value>,
}

/// How far rsyslog has shipped the audit log to the collector (`shipping.rs`).
#[derive(Debug, Serialize)]
struct ShippingPart {
    #[serde(flatten)]
    state: Option<super::shipping::Shipping>,
    error: Option<String>,
}

fn shipping_part(config: &Config) -> ShippingPart {
    let dir = super::shipping::rsyslog_dir();
    match super::shipping::shipping(&config.audit.dir, &dir) {
        Ok(state) => ShippingPart {
            state: Some(state),
            error: None,
        },
        Err(e) => ShippingPart {
            state: None,
            error: Some(crate::files::chain(&e)),
        },
    }
}

fn print_shipping(ui: &Ui, r: &StatusReport) {
    let l = ui.lang;
    let part = &r.shipping;
    let Some(state) = &part.state else {
        println!(
            "{}",
            tr!(
                l,
                "ctl-state-status-ship-error",
                error = part.error.clone().unwrap_or_default()
            )
        );
        return;
    };
    let dir = state.rsyslog_dir.display().to_string();
    if !state.configured {
        println!(
            "{}",
            tr!(
                l,
                "ctl-state-status-ship-none",
                path = r.audit.dir.display().to_string(),
                dir = dir
            )
        );
        return;
    }
    println!(
        "{}",
        tr!(
            l,
            "ctl-state-status-ship",
            waiting = state.waiting,
            dir = dir
        )
    );
    for s in &state.segments {
        let (Some(first), Some(last)) = (s.first_seq, s.last_seq) else {
            continue;
        };
        match s.read_up_to {
            Some(read) => println!(
                "{}",
                tr!(
                    l,
                    "ctl-state-status-ship-segment",
                    segment = s.segment.as_str(),
                    read = read,
                    last = last,
                    waiting = s.waiting
                )
            ),
            None => println!(
                "{}",
                tr!(
                    l,
                    "ctl-state-status-ship-segment-unread",
                    segment = s.segment.as_str(),
                    first = first,
                    last = last
                )
            ),
        }
    }
}

/// One session as `sessions --json` prints it (and `status --json` under `sessions`).
#[derive(Debug, Serialize)]
struct SessionOut {
    session_id: String,
    terminal: String,
    reader: String,
    user: String,
    operator_id: String,
    serial: String,
    state: &'static str,
    opened_at: serde_json::Value,
    opened_at_unix: i64,
    verified_at: serde_json::Value,
    verified_at_unix: i64,
}

fn session_out(s: &SessionInfo) -> SessionOut {
    SessionOut {
        session_id: s.session_id.clone(),
        terminal: s.terminal.clone(),
        reader: s.reader.clone(),
        user: s.user.clone(),
        operator_id: s.operator_id.clone(),
        serial: s.serial.clone(),
        state: s.state.as_str(),
        opened_at: json_time(s.opened_at),
        opened_at_unix: s.opened_at,
        verified_at: json_time(s.verified_at),
        verified_at_unix: s.verified_at,
    }
}

fn state_text(lang: Lang, state: SessionState) -> String {
    tr!(lang, &format!("ctl-state-session-{}", state.as_str()))
}

fn sessions_table(ui: &Ui, list: &[SessionInfo]) -> String {
    let mut table = Table::new([
        tr!(ui.lang, "ctl-state-col-session"),
        tr!(ui.lang, "ctl-state-col-terminal"),
        tr!(ui.lang, "ctl-state-col-user"),
        tr!(ui.lang, "ctl-state-col-operator"),
        tr!(ui.lang, "ctl-state-col-card"),
        tr!(ui.lang, "ctl-state-col-opened"),
        tr!(ui.lang, "ctl-state-col-state"),
    ]);
    for s in list {
        table.row([
            s.session_id.clone(),
            s.terminal.clone(),
            s.user.clone(),
            s.operator_id.clone(),
            s.serial.clone(),
            ui.unix_time(s.opened_at),
            state_text(ui.lang, s.state),
        ]);
    }
    table.render()
}

fn ask_sessions(ui: &Ui, config: &Config) -> Result<Vec<SessionInfo>, CmdError> {
    match client::call(
        ui.lang,
        &config.daemon.admin_socket,
        &AdminRequest::Sessions,
    )? {
        Answer::Info {
            data: Info::Sessions(list),
        } => Ok(list),
        other => Err(unexpected("sessions", &other)),
    }
}

fn ask_status(ui: &Ui, config: &Config) -> Result<Status, CmdError> {
    match client::call(ui.lang, &config.daemon.admin_socket, &AdminRequest::Status)? {
        Answer::Info {
            data: Info::Status(s),
        } => Ok(s),
        other => Err(unexpected("status", &other)),
    }
}

/// The open sessions: a table, or `--json`.
pub fn sessions(ui: &Ui, config: &Config) -> Result<ExitCode, CmdError> {
    let list = ask_sessions(ui, config)?;
    if ui.json {
        let out: Vec<SessionOut> = list.iter().map(session_out).collect();
        ui.print_json(&out)?;
    } else if list.is_empty() {
        println!("{}", tr!(ui.lang, "ctl-state-no-sessions"));
    } else {
        print!("{}", sessions_table(ui, &list));
    }
    Ok(ExitCode::SUCCESS)
}

fn pcsc_part() -> PcscPart {
    let readers =
        cardgate_reader::pcsc::PcscContext::establish().and_then(|context| context.list_readers());
    match readers {
        Ok(readers) => PcscPart {
            reachable: true,
            error: None,
            readers,
        },
        Err(e) => PcscPart {
            reachable: false,
            error: Some(crate::files::chain(&e)),
            readers: Vec::new(),
        },
    }
}

fn failure_text(e: &CmdError) -> String {
    match e.downcast_ref::<Failure>() {
        Some(f) => f.message.clone(),
        None => crate::files::chain(&**e),
    }
}

fn list_part(ui: &Ui, config: &Config, in_force: Option<u64>) -> ListPart {
    let file = config.revocation.list.clone();
    let mut part = ListPart {
        file: file.clone(),
        version: None,
        issued_at: serde_json::Value::Null,
        next_update: serde_json::Value::Null,
        next_update_unix: None,
        entries: None,
        freshness: None,
        in_force,
        error: None,
    };
    let list = load_public(ui.lang, &config.issuer.public_key)
        .and_then(|public| load_list(ui.lang, &file, &public));
    match list {
        Ok(l) => {
            part.version = Some(l.version());
            part.issued_at = json_time(l.issued_at());
            part.next_update = json_time(l.next_update());
            part.next_update_unix = Some(l.next_update());
            part.entries = Some(l.len());
            part.freshness = Some(Freshness::of(&l, now()).as_str());
        }
        Err(e) => part.error = Some(failure_text(&e)),
    }
    part
}

/// The complete lines in the last `TAIL_BYTES` of `path`, parsed, in order (lines that do not
/// parse are left out: the review and `audit verify` are where a damaged log is reported).
fn tail_records(path: &Path) -> std::io::Result<Vec<Record>> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(TAIL_BYTES).read_to_end(&mut bytes)?;
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    // The first piece may be the end of a line cut by the seek; the last is what follows
    // the final newline (empty, or a line still being written).
    if start > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    lines.pop();
    Ok(lines
        .into_iter()
        .filter_map(|l| Record::parse(l).ok())
        .collect())
}

fn audit_part(ui: &Ui, config: &Config) -> AuditPart {
    let dir = config.audit.dir.clone();
    let mut part = AuditPart {
        dir: dir.clone(),
        readable: false,
        error: None,
        segments: None,
        last_record: None,
        last_seal: None,
    };
    let segments = match list_segments(&dir) {
        Ok(s) => s,
        Err(e) => {
            part.error = Some(crate::files::io_failure(ui.lang, &dir, &e).message);
            return part;
        }
    };
    part.readable = true;
    part.segments = Some(segments.len());
    // The newest segment, and the one before it for a seal when the newest just began.
    for (_, path) in segments.iter().rev().take(2) {
        let records = match tail_records(path) {
            Ok(r) => r,
            Err(e) => {
                part.readable = false;
                part.error = Some(crate::files::io_failure(ui.lang, path, &e).message);
                return part;
            }
        };
        if part.last_record.is_none() {
            part.last_record = records.last().map(|r| RecordRef {
                seq: r.seq,
                time: json_time(r.time.unix_ms().div_euclid(1000)),
            });
        }
        let seal = records.iter().rev().find_map(|r| match &r.event {
            Event::LogSealed(s) => Some(SealRef {
                epoch: s.epoch,
                last_seq: s.last_seq,
                seq: r.seq,
                time: json_time(r.time.unix_ms().div_euclid(1000)),
            }),
            _ => None,
        });
        if seal.is_some() {
            part.last_seal = seal;
            break;
        }
    }
    part
}

fn text_of(value: &serde_json::Value) -> String {
    value.as_str().map_or_else(|| "?".to_owned(), str::to_owned)
}

/// Shows a JSON time (RFC 3339) as `ui.time` does.
fn shown(ui: &Ui, value: &serde_json::Value) -> String {
    value
        .as_str()
        .and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
        .map_or_else(|| text_of(value), |t| ui.time(t))
}

fn yes_no(lang: Lang, ok: bool, yes: &str, no: &str) -> String {
    tr!(lang, if ok { yes } else { no })
}

fn print_text(ui: &Ui, r: &StatusReport) {
    let l = ui.lang;
    let socket = r.daemon.socket.display().to_string();
    if r.daemon.reachable {
        println!("{}", tr!(l, "ctl-state-status-daemon-up", socket = socket));
    } else {
        println!(
            "{}",
            tr!(l, "ctl-state-status-daemon-down", socket = socket)
        );
    }
    match &r.pcscd.error {
        None => println!(
            "{}",
            tr!(
                l,
                "ctl-state-status-pcscd-up",
                count = r.pcscd.readers.len()
            )
        ),
        Some(e) => println!(
            "{}",
            tr!(l, "ctl-state-status-pcscd-down", error = e.as_str())
        ),
    }
    let mut table = Table::new([
        tr!(l, "ctl-state-col-terminal"),
        tr!(l, "ctl-state-col-reader"),
        tr!(l, "ctl-state-col-reader-state"),
    ]);
    for t in &r.terminals {
        table.row([
            t.id.clone(),
            t.reader.clone(),
            match t.reader_present {
                Some(p) => yes_no(l, p, "ctl-state-reader-present", "ctl-state-reader-missing"),
                None => tr!(l, "ctl-state-unknown"),
            },
        ]);
    }
    for reader in &r.pcscd.readers {
        if !r.terminals.iter().any(|t| &t.reader == reader) {
            table.row([
                "-".to_owned(),
                reader.clone(),
                tr!(l, "ctl-state-reader-unconfigured"),
            ]);
        }
    }
    print!("{}", table.render());
    match &r.sessions {
        Some(list) => {
            println!(
                "{}",
                tr!(l, "ctl-state-status-sessions", count = list.len())
            );
        }
        None => println!("{}", tr!(l, "ctl-state-status-sessions-unknown")),
    }
    let list = &r.revocation;
    let file = list.file.display().to_string();
    match (&list.error, list.version) {
        (None, Some(version)) => {
            println!(
                "{}",
                tr!(
                    l,
                    "ctl-state-status-list",
                    path = file,
                    version = version,
                    next = shown(ui, &list.next_update)
                )
            );
            match list.in_force {
                Some(v) if v != version => {
                    println!("{}", tr!(l, "ctl-state-status-list-in-force", version = v))
                }
                _ => {}
            }
            match list.freshness {
                Some("stale") => println!("{}", tr!(l, "ctl-state-list-stale")),
                Some("due_soon") => println!("{}", tr!(l, "ctl-state-list-due-soon")),
                _ => {}
            }
        }
        (error, _) => println!(
            "{}",
            tr!(
                l,
                "ctl-state-status-list-error",
                error = error.clone().unwrap_or_default()
            )
        ),
    }
    let audit = &r.audit;
    let dir = audit.dir.display().to_string();
    if !audit.readable {
        println!(
            "{}",
            tr!(
                l,
                "ctl-state-status-audit-unreadable",
                error = audit.error.clone().unwrap_or_default()
            )
        );
        return;
    }
    match &audit.last_record {
        Some(rec) => println!(
            "{}",
            tr!(
                l,
                "ctl-state-status-audit-last",
                path = dir,
                seq = rec.seq,
                time = shown(ui, &rec.time)
            )
        ),
        None => println!("{}", tr!(l, "ctl-state-status-audit-empty", path = dir)),
    }
    match &audit.last_seal {
        Some(s) => println!(
            "{}",
            tr!(
                l,
                "ctl-state-status-audit-seal",
                epoch = s.epoch,
                seq = s.last_seq,
                time = shown(ui, &s.time)
            )
        ),
        None => println!("{}", tr!(l, "ctl-state-status-audit-no-seal")),
    }
    if let Some(office) = &r.office {
        println!("{}", crate::office::status_line(ui, office));
    }
}

/// The daemon's state, pcscd, the readers, the sessions, the revocation list and the audit
/// log. Exit 5 (after printing the rest) when the daemon cannot be reached.
pub fn status(ui: &Ui, config: &Config) -> Result<ExitCode, CmdError> {
    let socket = config.daemon.admin_socket.clone();
    let (daemon, down) = match ask_status(ui, config) {
        Ok(s) => (
            DaemonPart {
                socket,
                reachable: true,
                error: None,
                revocation_list_version: s.revocation_list_version,
                sessions_open: Some(s.sessions),
            },
            None,
        ),
        Err(e) => (
            DaemonPart {
                socket,
                reachable: false,
                error: Some(failure_text(&e)),
                revocation_list_version: None,
                sessions_open: None,
            },
            Some(e),
        ),
    };
    let sessions = if down.is_none() {
        match ask_sessions(ui, config) {
            Ok(list) => Some(list.iter().map(session_out).collect::<Vec<_>>()),
            // The access manager's role is refused the open sessions (they are the
            // administrator's); the daemon's status still counts them.
            Err(e)
                if e.downcast_ref::<crate::exit::Failure>()
                    .is_some_and(|f| f.exit == crate::exit::Exit::Refused) =>
            {
                None
            }
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    let pcscd = pcsc_part();
    let terminals = config
        .terminals
        .iter()
        .map(|t| TerminalPart {
            id: t.id.clone(),
            reader: t.reader.clone(),
            reader_present: pcscd.reachable.then(|| pcscd.readers.contains(&t.reader)),
        })
        .collect();
    let revocation = list_part(ui, config, daemon.revocation_list_version);
    let audit = audit_part(ui, config);
    let shipping = if audit.readable {
        shipping_part(config)
    } else {
        ShippingPart {
            state: None,
            error: audit.error.clone(),
        }
    };
    let report = StatusReport {
        daemon,
        pcscd,
        terminals,
        sessions,
        revocation,
        audit,
        shipping,
        office: crate::office::status_part(config),
    };
    if ui.json {
        ui.print_json(&report)?;
    } else {
        print_text(ui, &report);
        if report.audit.readable {
            print_shipping(ui, &report);
        }
    }
    match down {
        Some(e) => Err(e),
        None => Ok(ExitCode::SUCCESS),
    }
}
