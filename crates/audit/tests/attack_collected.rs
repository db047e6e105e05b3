//! Attacks on the central verification of collected logs (issue 13), each on lines the real
//! writer wrote and then changed or added to as an attacker would. Each test was written by
//! the attack of 2026-12-02 and failed then; each doc comment below says what the attack did
//! before its fix, and the test asserts the collector now reports (or withstands) it.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cardgate_audit::collected::{
    checkpoint, list_terminals, FindingKind, Judge, StreamOptions, TerminalReport, TerminalStream,
};
use cardgate_audit::record::StopReason;
use cardgate_audit::report::Checkpoint;
use cardgate_audit::segments::list_segments;
use cardgate_audit::{AuditLog, Digest, Entry, Event, Record, SealKey, Timestamp};
use common::*;

const START: &str = "2026-11-02T08:30:00.000Z";

fn start() -> Timestamp {
    Timestamp::parse(START).unwrap()
}

fn hours(h: i64) -> Timestamp {
    Timestamp(start().unix_ms() + h * 3_600_000)
}

/// A terminal's log written by the real writer: `n` sample records one second apart, sealed
/// every 20, segments of 4 KiB, closed (so the last record is a seal).
fn terminal_log(t: &TempDir, name: &str, n: u64) -> (SealKey, PathBuf, ManualClock) {
    let dir = t.0.join(format!("{name}-log"));
    let clock = ManualClock::at(start());
    let k0 = AuditLog::init(&dir, label(name), &clock).unwrap();
    append(&dir, name, &clock, n);
    (k0, dir, clock)
}

fn open(dir: &Path, name: &str, clock: &ManualClock) -> AuditLog {
    let mut c = cardgate_audit::AuditConfig::new(dir, label(name));
    c.seal_every_records = 20;
    c.max_segment_bytes = 4096;
    c.clock = Arc::new(clock.clone());
    AuditLog::open(c).unwrap().0
}

fn append(dir: &Path, name: &str, clock: &ManualClock, n: u64) {
    let log = open(dir, name, clock);
    for i in 0..n {
        clock.advance_ms(1000);
        log.append(sample_entry(i)).unwrap();
    }
    log.close().unwrap();
}

/// The log's lines, in order.
fn lines_of(dir: &Path) -> Vec<Vec<u8>> {
    list_segments(dir)
        .unwrap()
        .into_iter()
        .flat_map(|(_, p)| {
            std::fs::read(p)
                .unwrap()
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The collector's files for `host`: one file per list of lines.
fn collect(root: &Path, host: &str, files: &[Vec<Vec<u8>>]) {
    let dir = root.join(host);
    std::fs::create_dir_all(&dir).unwrap();
    for (i, lines) in files.iter().enumerate() {
        let mut out = Vec::new();
        for l in lines {
            out.extend_from_slice(l);
            out.push(b'\n');
        }
        std::fs::write(dir.join(format!("2026-{:02}.jsonl", i + 1)), out).unwrap();
    }
}

/// A line as the writer would serialise it, with `prev` the hash of `after` (a LAN peer
/// that sees the RELP stream, which is clear text, can compute it; so can root on the
/// terminal). No key is needed: it is not a seal.
fn forged(after: &[u8], seq: u64, time: Timestamp, event: Event) -> Vec<u8> {
    let e = Entry::new(event);
    Record {
        seq,
        time,
        terminal: label("t1"),
        reader: e.reader,
        card: None,
        operator: None,
        uid: None,
        event: e.event,
        prev: Digest::sha256(after),
    }
    .to_line()
}

/// `n` crafted heartbeats numbered from `first`, each linked to the one before it.
fn chain_of(first: u64, n: u64, time: Timestamp) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for i in 0..n {
        let prev = out.last().cloned().unwrap_or_else(|| b"x".to_vec());
        out.push(forged(&prev, first + i, time, Event::Heartbeat));
    }
    out
}

fn time_of(line: &[u8]) -> Timestamp {
    Record::parse(line).unwrap().time
}

/// Streams `host` to its end; the report and the record numbers handed out.
fn run(
    root: &Path,
    host: &str,
    k0: Option<&SealKey>,
    opts: StreamOptions,
    now: Timestamp,
) -> (TerminalReport, Vec<u64>) {
    let terminals = list_terminals(root).unwrap();
    let t = terminals.iter().find(|t| t.host == host).unwrap();
    let mut stream = TerminalStream::new(t, k0.cloned(), opts);
    let mut seen = Vec::new();
    while let Some(r) = stream.next_record().unwrap() {
        seen.push(r.seq);
    }
    let judge = Judge {
        now,
        silent_after_ms: 60 * 60_000,
    };
    (stream.finish(&judge).unwrap(), seen)
}

fn kinds(r: &TerminalReport) -> Vec<FindingKind> {
    r.findings.iter().map(|f| f.kind).collect()
}

/// (b)/(a) A terminal whose records stopped arriving 5 hours ago is kept "alive" by one
/// unauthenticated heartbeat (or daemon_stopped) line appended after its last seal. Heartbeats
/// are sealed at once by the real daemon, so an unsealed one an hour old cannot be its.
#[test]
fn a_forged_unsealed_heartbeat_or_stop_does_not_hide_a_silent_terminal() {
    let t = TempDir::new("atk-silent");
    let (k0, dir, _) = terminal_log(&t, "t1", 30);
    let lines = lines_of(&dir);
    let now = hours(5);
    let root = t.0.join("root");
    collect(&root, "t1", std::slice::from_ref(&lines));
    let (honest, _) = run(&root, "t1", Some(&k0), StreamOptions::default(), now);
    assert_eq!(kinds(&honest), vec![FindingKind::Silent], "the baseline");

    let last = lines.last().unwrap();
    for event in [
        Event::Heartbeat,
        Event::DaemonStopped {
            reason: StopReason::Shutdown,
            unfinished: None,
        },
    ] {
        let mut shipped = lines.clone();
        let when = if matches!(event, Event::Heartbeat) {
            Timestamp(now.unix_ms() - 10 * 60_000)
        } else {
            Timestamp(time_of(last).unix_ms() + 1000)
        };
        shipped.push(forged(last, lines.len() as u64, when, event));
        collect(&root, "t1", &[shipped]);
        let (r, _) = run(&root, "t1", Some(&k0), StreamOptions::default(), now);
        assert!(
            !r.findings.is_empty(),
            "an unsealed, unauthenticated last record decides silence: {r:?}"
        );
    }
}

/// (a) Root on the terminal sets its clock to 2099 and lets the real daemon write (and seal,
/// with its real key) one heartbeat; then it stops shipping. The collector never calls the
/// terminal silent, and a record from 73 years ahead of `--now` is no finding.
#[test]
fn a_record_sealed_far_in_the_future_is_a_finding_and_keeps_no_terminal_alive() {
    let t = TempDir::new("atk-future");
    let (k0, dir, clock) = terminal_log(&t, "t1", 30);
    clock.set(Timestamp::parse("2099-01-01T00:00:00.000Z").unwrap());
    let log = open(&dir, "t1", &clock);
    log.append(Entry::new(Event::Heartbeat)).unwrap();
    log.close().unwrap();
    let root = t.0.join("root");
    collect(&root, "t1", &[lines_of(&dir)]);
    let (r, _) = run(&root, "t1", Some(&k0), StreamOptions::default(), hours(24));
    assert_eq!(r.verified_up_to, r.last_seq, "sealed with the real key");
    assert!(
        !r.findings.is_empty(),
        "a record dated after --now, and a terminal with nothing for 24 hours: {r:?}"
    );
}

/// (b)/(f) A line whose fixed parts are there but whose 24 time bytes are no time
/// (`2026-11-02T99:99:99.999Z`): the fast path takes it as a record with no finding at all
/// (Record::parse would refuse it), `last_time` becomes unknown, so the terminal is never
/// silent, and it drops out of `--write-checkpoint` (no witness for it from then on).
#[test]
fn a_line_whose_time_is_no_time_is_a_finding_and_keeps_the_terminal_in_the_checkpoint() {
    let t = TempDir::new("atk-time");
    let (k0, dir, _) = terminal_log(&t, "t1", 30);
    let mut lines = lines_of(&dir);
    let last = lines.last().unwrap().clone();
    let good = forged(&last, lines.len() as u64, hours(4), Event::Heartbeat);
    let text = String::from_utf8(good).unwrap();
    let bad = text.replace(&hours(4).to_string(), "2026-11-02T99:99:99.999Z");
    assert_ne!(bad, text);
    assert!(Record::parse(bad.as_bytes()).is_err(), "serde refuses it");
    lines.push(bad.into_bytes());
    let root = t.0.join("root");
    collect(&root, "t1", &[lines]);
    let (r, _) = run(&root, "t1", Some(&k0), StreamOptions::default(), hours(5));
    assert!(
        r.checkpoint.is_some(),
        "the terminal is left out of the checkpoint"
    );
    assert!(
        !r.findings.is_empty(),
        "a line Record::parse refuses, and a silent terminal: {r:?}"
    );
}

/// (a)/(b)/(e) 4097 short crafted lines numbered far ahead fill the reorder window: the gap is
/// declared up to them and every honest, sealed record that arrives afterwards is merely
/// "late" (medium) and never handed to the review.
#[test]
fn lines_far_ahead_do_not_push_later_honest_records_out_of_the_review() {
    let t = TempDir::new("atk-ahead");
    let (k0, dir, _) = terminal_log(&t, "t1", 60);
    let lines = lines_of(&dir);
    let root = t.0.join("root");
    let split = 30;
    let far = 1_000_000_000_000u64;
    let when = time_of(&lines[split - 1]);
    let junk = chain_of(far, 4097, when);
    collect(
        &root,
        "t1",
        &[lines[..split].to_vec(), junk, lines[split..].to_vec()],
    );
    let (r, seen) = run(&root, "t1", Some(&k0), StreamOptions::default(), hours(1));
    let honest_reviewed = seen.iter().filter(|&&s| s < lines.len() as u64).count();
    assert_eq!(
        honest_reviewed,
        lines.len(),
        "honest records that arrived were not handed out (late: {}, missing: {}, findings: {:?})",
        r.late,
        r.missing,
        kinds(&r)
    );
}

/// (e) A record numbered u64::MAX: `next` saturates, so the same line arriving again (a RELP
/// resend) is taken, and handed to the review, a second time. (4097 linked lines up to
/// u64::MAX fill the default window, so the gap is declared and they are taken.)
#[test]
fn a_line_numbered_u64_max_is_not_taken_twice() {
    let t = TempDir::new("atk-max");
    let (k0, dir, _) = terminal_log(&t, "t1", 10);
    let mut lines = lines_of(&dir);
    let last = lines.last().unwrap().clone();
    let top = chain_of(u64::MAX - 4096, 4097, time_of(&last));
    lines.extend(top.iter().cloned());
    lines.push(top.last().unwrap().clone());
    let root = t.0.join("root");
    collect(&root, "t1", &[lines]);
    let (r, seen) = run(&root, "t1", Some(&k0), StreamOptions::default(), hours(0));
    assert_eq!(
        seen.iter().filter(|&&s| s == u64::MAX).count(),
        1,
        "handed out twice; duplicates {}, problem {:?}",
        r.duplicates,
        r.problem
    );
}

/// (b) Two gaps of nearly 2^64 records (one line numbered u64::MAX before and after a fresh
/// genesis) overflow `missing`: a panic in a debug build, a wrong count in release.
#[test]
fn two_huge_gaps_do_not_overflow_the_missing_count() {
    let t = TempDir::new("atk-overflow");
    let (k0, dir, _) = terminal_log(&t, "t1", 5);
    let old = lines_of(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    let clock = ManualClock::at(hours(1));
    AuditLog::init(&dir, label("t1"), &clock).unwrap();
    append(&dir, "t1", &clock, 5);
    let new = lines_of(&dir);
    let top = |after: &[u8]| forged(after, u64::MAX, time_of(after), Event::Heartbeat);
    let mut files = old.clone();
    files.push(top(old.last().unwrap()));
    files.extend(new.iter().cloned());
    files.push(top(new.last().unwrap()));
    let root = t.0.join("root");
    collect(&root, "t1", &[files]);
    let outcome = std::panic::catch_unwind(|| {
        run(&root, "t1", Some(&k0), StreamOptions::default(), hours(1)).0
    });
    let r = outcome.expect("the stream panicked on crafted lines");
    assert!(r.missing >= u64::MAX / 2, "{}", r.missing);
}

/// (d) An honest terminal on a flaky link: more than 64 gaps, their records arriving later.
/// Beyond the 64th listed gap they are called `resent_too_old` (high: "the terminal's log was
/// replaced or its shipping state lost") instead of late.
#[test]
fn late_records_beyond_the_64th_gap_are_late_not_resent_too_old() {
    let t = TempDir::new("atk-gaps");
    let (k0, dir, _) = terminal_log(&t, "t1", 300);
    let lines = lines_of(&dir);
    let (lost, shipped): (Vec<_>, Vec<_>) = lines
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| i % 4 == 3 && *i + 4 < lines.len());
    let strip = |v: Vec<(usize, Vec<u8>)>| v.into_iter().map(|(_, l)| l).collect::<Vec<_>>();
    let root = t.0.join("root");
    collect(&root, "t1", &[strip(shipped), strip(lost)]);
    let opts = StreamOptions {
        window_records: 2,
        ..StreamOptions::default()
    };
    let (r, _) = run(&root, "t1", Some(&k0), opts, hours(0));
    assert!(r.gap_ranges > 64, "{}", r.gap_ranges);
    assert_eq!(
        (r.resent_too_old, r.late),
        (0, r.missing),
        "honest late records framed as a replaced log: {:?}",
        kinds(&r)
    );
}

/// (f) More than 4096 terminal directories (a prefecture, or a LAN peer sending under 4097
/// host names, each of which the collector's rsyslog turns into a directory): the checkpoint
/// `--write-checkpoint` writes is refused by the next run's `--checkpoint`.
#[test]
fn a_checkpoint_of_more_than_4096_terminals_is_read_back() {
    let t = TempDir::new("atk-cp");
    let (k0, dir, _) = terminal_log(&t, "t1", 3);
    let root = t.0.join("root");
    collect(&root, "t1", &[lines_of(&dir)]);
    let (r, _) = run(&root, "t1", Some(&k0), StreamOptions::default(), hours(0));
    let reports: Vec<TerminalReport> = (0..4097)
        .map(|i| {
            let mut c = r.clone();
            c.host = format!("t{i}");
            if let Some(cp) = &mut c.checkpoint {
                cp.terminals = vec![c.host.clone()];
            }
            c
        })
        .collect();
    let written = checkpoint(&reports, hours(0)).to_json();
    let read = Checkpoint::parse(written.as_bytes(), "cp.json");
    assert!(read.is_ok(), "{:?}", read.err());
}

fn report_with(root: &Path, k0: &SealKey, previous: Option<&Checkpoint>) -> TerminalReport {
    let terminals = list_terminals(root).unwrap();
    let mut stream = TerminalStream::new(&terminals[0], Some(k0.clone()), StreamOptions::default());
    if let Some(w) = previous.and_then(|p| cardgate_audit::collected::witnessed(p, "t1")) {
        stream.witness(w.clone());
    }
    stream
        .finish(&Judge {
            now: hours(0),
            silent_after_ms: 60 * 60_000,
        })
        .unwrap()
}

/// (f) The nightly `audit collected --checkpoint cp.json --write-checkpoint cp.json`: the run
/// that finds the collector's copy cut back (`not_extended`) writes the cut-back state as the
/// new checkpoint (crates/ctl/src/collected.rs writes it whatever was found), so from the next
/// night on the cut is witnessed as the truth and nothing is reported any more.
#[test]
fn the_run_that_finds_the_copy_cut_back_keeps_the_old_witness() {
    let t = TempDir::new("atk-ratchet");
    let (k0, dir, _) = terminal_log(&t, "t1", 60);
    let lines = lines_of(&dir);
    let root = t.0.join("root");
    collect(&root, "t1", std::slice::from_ref(&lines));
    let cp1 = checkpoint(&[report_with(&root, &k0, None)], hours(0));
    // The collector's copy is cut back by 25 records (someone with the collector's files).
    collect(&root, "t1", &[lines[..lines.len() - 25].to_vec()]);
    let night2 = report_with(&root, &k0, Some(&cp1));
    assert!(
        kinds(&night2).contains(&FindingKind::NotExtended),
        "{:?}",
        kinds(&night2)
    );
    let cp2 = checkpoint(std::slice::from_ref(&night2), hours(0));
    let night3 = report_with(&root, &k0, Some(&cp2));
    assert!(
        kinds(&night3).contains(&FindingKind::NotExtended),
        "the second night's checkpoint holds the cut copy as witnessed: {:?} (checkpoint seq {} before, {} after)",
        kinds(&night3),
        cp1.logs[0].seq,
        cp2.logs[0].seq
    );
}

/// A seal line after `lines` (as the writer would lay it out), epoch `epoch`, a MAC of zeros:
/// made without any key.
fn forged_seal(lines: &[Vec<u8>], epoch: u64) -> Vec<u8> {
    let real = lines
        .iter()
        .rev()
        .find_map(|l| {
            Record::parse(l)
                .ok()
                .filter(|r| matches!(r.event, Event::LogSealed(_)))
        })
        .unwrap();
    let last = lines.last().unwrap();
    let seq = Record::parse(last).unwrap().seq + 1;
    let mut r = real;
    r.seq = seq;
    r.time = time_of(last);
    r.prev = Digest::sha256(last);
    if let Event::LogSealed(s) = &mut r.event {
        s.epoch = epoch;
        s.first_seq = seq - 1;
        s.last_seq = seq - 1;
        s.head = r.prev;
        s.mac = Digest::default();
    }
    r.to_line()
}

/// (b) After a gap (any lost record), a keyless seal line whose epoch is more than
/// MAX_EPOCH_SKIP (100 000) ahead has its MAC checked by nobody and is no problem at all
/// (chain.rs: `epoch_ok` is `ahead.is_some()` when relaxed, `skip` is None, no `fail`), yet it
/// sets the reported `seal_epoch` and the checkpoint's, so the next night the honest seals
/// look `rolled back`.
#[test]
fn after_a_gap_a_keyless_seal_far_ahead_is_a_problem_and_sets_no_epoch() {
    let t = TempDir::new("atk-epoch");
    let (k0, dir, _) = terminal_log(&t, "t1", 60);
    let mut lines = lines_of(&dir);
    // The close's seal never arrived, nor a record before it: the gap is since the last seal.
    lines.pop();
    let n = lines.len();
    lines.remove(n - 2);
    let bogus = 1_000_000u64;
    lines.push(forged_seal(&lines, bogus));
    let root = t.0.join("root");
    collect(&root, "t1", &[lines]);
    let (r, _) = run(&root, "t1", Some(&k0), StreamOptions::default(), hours(0));
    // (central: the epoch jump is now a seal_epoch problem, so the chain is reported broken
    // beside the gap; the attack test asserted the old "only the gap" here.)
    assert_eq!(
        kinds(&r),
        vec![FindingKind::ChainBroken, FindingKind::Gap],
        "the gap and the epoch: {:?}",
        r.problem
    );
    assert_eq!(r.problem.as_ref().map(|p| p.kind), Some("seal_epoch"));
    assert!(
        r.problem.is_some() && r.seal_epoch != Some(bogus),
        "an unchecked seal set seal_epoch {:?}, problem {:?}",
        r.seal_epoch,
        r.problem
    );
}

/// (b)/(c) A keyless seal line numbered epoch u64::MAX (a `seal_epoch` problem, fine) makes the
/// review's `verification()` compute `seals = epoch + 1`: an overflow (a panic in a debug
/// build, `seals: 0` in release).
#[test]
fn a_seal_with_epoch_u64_max_does_not_overflow_the_reviews_seal_count() {
    let t = TempDir::new("atk-epoch-max");
    let (k0, dir, _) = terminal_log(&t, "t1", 30);
    let mut lines = lines_of(&dir);
    lines.push(forged_seal(&lines, u64::MAX));
    let root = t.0.join("root");
    collect(&root, "t1", &[lines]);
    let (r, _) = run(&root, "t1", Some(&k0), StreamOptions::default(), hours(0));
    // (central: an unchecked seal no longer sets seal_epoch, so the crafted epoch is put in
    // the report by hand: the review must not overflow on any epoch a report can hold.)
    assert_ne!(
        r.seal_epoch,
        Some(u64::MAX),
        "an unchecked seal sets no epoch"
    );
    let mut r = r;
    r.seal_epoch = Some(u64::MAX);
    let v = std::panic::catch_unwind(|| cardgate_audit::report::collected::verification(&r));
    assert!(v.is_ok(), "the review panicked on a crafted seal's epoch");
}
