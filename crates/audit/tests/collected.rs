//! The central verification over lines the real writer wrote, assembled as the collector's
//! rsyslog would hold them: in order, twice, reordered across a segment boundary, with a gap,
//! a conflict, a fresh chain, a truncated-and-continued log, a rewrite re-sealed with keys
//! derived from k(0), and a collector copy cut back between two runs.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cardgate_audit::collected::{
    checkpoint, list_terminals, witnessed, FindingKind, Judge, Severity, StreamOptions,
    TerminalReport, TerminalStream,
};
use cardgate_audit::record::StopReason;
use cardgate_audit::seal::write_key_file;
use cardgate_audit::segments::list_segments;
use cardgate_audit::verify::verify_segments_without_key_file;
use cardgate_audit::{AuditLog, Entry, Event, Record, SealKey, Timestamp};
use common::*;

const START: &str = "2026-11-02T08:30:00.000Z";

fn start() -> Timestamp {
    Timestamp::parse(START).unwrap()
}

/// A terminal's log written by the real writer: `n` sample records one second apart, sealed
/// every 20, segments of 4 KiB (so several), closed. Returns k(0) and the log directory.
fn terminal_log(t: &TempDir, name: &str, n: u64) -> (SealKey, PathBuf, ManualClock) {
    let dir = t.0.join(format!("{name}-log"));
    let clock = ManualClock::at(start());
    let k0 = AuditLog::init(&dir, label(name), &clock).unwrap();
    append(&dir, name, &clock, n, 0);
    (k0, dir, clock)
}

fn append(dir: &Path, name: &str, clock: &ManualClock, n: u64, from: u64) {
    let mut c = cardgate_audit::AuditConfig::new(dir, label(name));
    c.seal_every_records = 20;
    c.max_segment_bytes = 4096;
    c.clock = Arc::new(clock.clone());
    let (log, _) = AuditLog::open(c).unwrap();
    for i in from..from + n {
        clock.advance_ms(1000);
        log.append(sample_entry(i)).unwrap();
    }
    log.close().unwrap();
}

/// Every segment's lines, segment by segment.
fn segments(dir: &Path) -> Vec<Vec<Vec<u8>>> {
    list_segments(dir)
        .unwrap()
        .into_iter()
        .map(|(_, p)| {
            std::fs::read(p)
                .unwrap()
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec)
                .collect()
        })
        .collect()
}

fn flat(segs: &[Vec<Vec<u8>>]) -> Vec<Vec<u8>> {
    segs.iter().flatten().cloned().collect()
}

/// Writes the collector's files for terminal `host`: one file per list of lines.
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

fn judge_at(now: Timestamp) -> Judge {
    Judge {
        now,
        silent_after_ms: 60 * 60_000,
    }
}

/// Streams terminal `host` to its end; returns the report and the (chain, seq) handed out.
fn run(
    root: &Path,
    host: &str,
    k0: Option<&SealKey>,
    opts: StreamOptions,
    previous: Option<&cardgate_audit::report::Checkpoint>,
) -> (TerminalReport, Vec<(u32, u64)>) {
    let terminals = list_terminals(root).unwrap();
    let t = terminals.iter().find(|t| t.host == host).unwrap();
    let mut stream = TerminalStream::new(t, k0.cloned(), opts);
    if let Some(w) = previous.and_then(|p| witnessed(p, host)) {
        stream.witness(w.clone());
    }
    let mut seen = Vec::new();
    while let Some(r) = stream.next_record().unwrap() {
        // Each record handed out is the terminal's line, whole.
        let record = r.parse().unwrap();
        assert_eq!(record.seq, r.seq);
        assert_eq!(record.event.kind_name(), r.kind);
        assert_eq!(record.time.to_string(), r.time);
        seen.push((r.chain, r.seq));
    }
    let now = Timestamp(start().unix_ms() + 30 * 60_000);
    (stream.finish(&judge_at(now)).unwrap(), seen)
}

fn kinds(r: &TerminalReport) -> Vec<FindingKind> {
    r.findings.iter().map(|f| f.kind).collect()
}

fn in_order(seen: &[(u32, u64)], last: u64) {
    let expected: Vec<(u32, u64)> = (0..=last).map(|s| (0, s)).collect();
    assert_eq!(seen, expected.as_slice());
}

#[test]
fn a_log_collected_in_order_verifies_to_its_last_seal_with_the_key() {
    let t = TempDir::new("coll-order");
    let (k0, dir, _) = terminal_log(&t, "t1", 100);
    let segs = segments(&dir);
    assert!(segs.len() > 2, "several segments");
    let lines = flat(&segs);
    let root = t.0.join("root");
    collect(&root, "t1", std::slice::from_ref(&lines));
    let (r, seen) = run(&root, "t1", Some(&k0), StreamOptions::default(), None);
    let last = lines.len() as u64 - 1;
    in_order(&seen, last);
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert!(r.key_checked);
    assert_eq!(r.last_seq, Some(last));
    // `close` seals: the last record is a seal, so everything is verified.
    assert_eq!(r.verified_up_to, Some(last));
    assert_eq!(r.unsealed_from, None);
    assert_eq!((r.duplicates, r.out_of_order, r.conflicts), (0, 0, 0));
    assert_eq!(r.lines, lines.len() as u64);
    assert_eq!(r.last_kind.as_deref(), Some("log_sealed"));
    let genesis = Record::parse(&lines[0]).unwrap();
    let Event::Genesis { log_id, .. } = genesis.event else {
        panic!()
    };
    assert_eq!(r.log_id, Some(log_id.to_string()));
    // Without the key: linked, not authenticated, and said so.
    let (r, _) = run(&root, "t1", None, StreamOptions::default(), None);
    assert!(!r.key_checked);
    assert_eq!(r.verified_up_to, Some(last));
    assert!(r.findings.is_empty());
    // The wrong key: the first seal is refused.
    let (r, _) = run(
        &root,
        "t1",
        Some(&SealKey::generate().unwrap()),
        StreamOptions::default(),
        None,
    );
    assert_eq!(r.problem.as_ref().unwrap().kind, "seal_mac");
    assert_eq!(r.problem.as_ref().unwrap().seq, 1);
    assert_eq!(r.verified_up_to, None);
    assert_eq!(r.worst(), Some(Severity::Critical));
}

#[test]
fn duplicates_and_a_segment_shipped_before_the_one_before_it_still_verify_each_once() {
    let t = TempDir::new("coll-reorder");
    let (k0, dir, _) = terminal_log(&t, "t1", 100);
    let segs = segments(&dir);
    let n = segs.len();
    // The second segment arrives before the first, the third twice (a RELP resend after the
    // collector restarted), and the last before the third.
    let mut files = vec![segs[1].clone(), segs[0].clone(), segs[2].clone()];
    files.push(segs[n - 1].clone());
    files.push(segs[2].clone());
    for s in &segs[3..n - 1] {
        files.push(s.clone());
    }
    let root = t.0.join("root");
    collect(&root, "t1", &files);
    let (r, seen) = run(&root, "t1", Some(&k0), StreamOptions::default(), None);
    let last = flat(&segs).len() as u64 - 1;
    in_order(&seen, last);
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert_eq!(r.verified_up_to, Some(last));
    assert_eq!(r.duplicates, segs[2].len() as u64);
    assert_eq!(
        r.out_of_order,
        (segs[1].len() + segs[n - 1].len()) as u64,
        "the lines that waited"
    );
    assert_eq!(r.records, last + 1);
}

#[test]
fn a_gap_is_named_and_stops_the_verified_count_and_late_lines_are_reported() {
    let t = TempDir::new("coll-gap");
    let (k0, dir, _) = terminal_log(&t, "t1", 200);
    let lines = flat(&segments(&dir));
    let root = t.0.join("root");
    let mut shipped = lines.clone();
    let missing: Vec<Vec<u8>> = shipped.drain(50..60).collect();
    collect(&root, "t1", &[shipped.clone()]);
    let (r, seen) = run(&root, "t1", Some(&k0), StreamOptions::default(), None);
    assert_eq!(r.gaps.len(), 1);
    assert_eq!((r.gaps[0].first, r.gaps[0].last), (50, 59));
    assert_eq!(r.missing, 10);
    assert!(r.verified_up_to.unwrap() < 50, "{:?}", r.verified_up_to);
    assert_eq!(kinds(&r), vec![FindingKind::Gap]);
    assert_eq!(r.findings[0].severity, Severity::High);
    assert_eq!(seen.len(), lines.len() - 10);
    // Seals after the gap are still checked: no problem, only the gap.
    assert!(r.problem.is_none(), "{:?}", r.problem);

    // A small window: the gap is declared when it fills, and the missing lines that come
    // later are late.
    let mut files = vec![shipped];
    files.push(missing);
    collect(&root, "t2", &files);
    let opts = StreamOptions {
        window_records: 8,
        ..StreamOptions::default()
    };
    let (r, _) = run(&root, "t2", Some(&k0), opts, None);
    assert_eq!(r.late, 10);
    assert!(kinds(&r).contains(&FindingKind::Late));
    assert!(kinds(&r).contains(&FindingKind::Gap));
    // With the default window the same arrival order fills the gap: no finding.
    let (r, seen) = run(&root, "t2", Some(&k0), StreamOptions::default(), None);
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    in_order(&seen, lines.len() as u64 - 1);
}

#[test]
fn a_different_line_for_a_record_already_taken_is_a_critical_conflict() {
    let t = TempDir::new("coll-conflict");
    let (k0, dir, _) = terminal_log(&t, "t1", 60);
    let lines = flat(&segments(&dir));
    let mut forged = Record::parse(&lines[10]).unwrap();
    forged.operator = Some(label("op-somebody-else"));
    let root = t.0.join("root");
    collect(&root, "t1", &[lines.clone(), vec![forged.to_line()]]);
    let (r, seen) = run(&root, "t1", Some(&k0), StreamOptions::default(), None);
    assert_eq!(r.conflicts, 1);
    assert_eq!(r.first_conflict, Some(10));
    assert_eq!(kinds(&r), vec![FindingKind::Conflict]);
    assert_eq!(r.worst(), Some(Severity::Critical));
    in_order(&seen, lines.len() as u64 - 1);
}

#[test]
fn a_fresh_chain_on_the_same_terminal_is_replaced() {
    let t = TempDir::new("coll-fresh");
    let (k0, dir, _) = terminal_log(&t, "t1", 40);
    let old = flat(&segments(&dir));
    // The log deleted and initialised again: a new genesis, a new log ID.
    std::fs::remove_dir_all(&dir).unwrap();
    let clock = ManualClock::at(Timestamp(start().unix_ms() + 3_600_000));
    AuditLog::init(&dir, label("t1"), &clock).unwrap();
    append(&dir, "t1", &clock, 10, 0);
    let new = flat(&segments(&dir));
    let root = t.0.join("root");
    collect(&root, "t1", &[old.clone(), new.clone()]);
    let (r, seen) = run(&root, "t1", Some(&k0), StreamOptions::default(), None);
    assert!(r.replaced);
    assert!(kinds(&r).contains(&FindingKind::Replaced));
    assert_eq!(r.replaced_log_ids.len(), 1);
    assert_ne!(r.log_id.as_deref(), Some(r.replaced_log_ids[0].as_str()));
    // Both chains are handed out, each in order.
    assert_eq!(seen.len(), old.len() + new.len());
    assert_eq!(seen[old.len()], (1, 0));
    // The new chain has a key of its own: the old k(0) refuses its first seal.
    assert_eq!(r.problem.as_ref().unwrap().kind, "seal_mac");
}

/// What a root attacker who recovered k(0) does: cuts the log back to just after seal
/// `epoch`, puts back the key file of the next epoch, and lets the writer carry on.
fn truncate_after_seal(dir: &Path, k0: &SealKey, keep: usize) {
    let lines = flat(&segments(dir));
    let kept = &lines[..keep];
    let last = Record::parse(kept.last().unwrap()).unwrap();
    let Event::LogSealed(seal) = last.event else {
        panic!("cut after a seal")
    };
    for (_, p) in list_segments(dir).unwrap() {
        std::fs::remove_file(p).unwrap();
    }
    write_lines(dir, kept);
    write_key_file(dir, seal.epoch + 1, &k0.evolve_by(seal.epoch + 1)).unwrap();
}

#[test]
fn a_log_truncated_and_continued_after_shipping_conflicts_and_breaks_the_chain() {
    let t = TempDir::new("coll-trunc");
    let (k0, dir, clock) = terminal_log(&t, "t1", 100);
    let shipped = flat(&segments(&dir));
    // Cut back to the seal closing records 0..=41 (record 42), then 80 records more.
    let seal_at = shipped
        .iter()
        .position(|l| {
            Record::parse(l)
                .is_ok_and(|r| matches!(r.event, Event::LogSealed(ref s) if s.last_seq >= 40))
        })
        .unwrap();
    truncate_after_seal(&dir, &k0, seal_at + 1);
    append(&dir, "t1", &clock, 80, 500);
    let after = flat(&segments(&dir));
    // The terminal's log verifies on its own, with every key.
    let (local, _) = verify_segments_without_key_file(
        &[(
            "all",
            after
                .iter()
                .flat_map(|l| [l.as_slice(), b"\n"])
                .flatten()
                .copied()
                .collect::<Vec<u8>>()
                .as_slice(),
        )],
        &k0,
    );
    assert!(local.is_intact(), "{:?}", local.problem);
    // The collector got the first log, then what the terminal wrote after the cut.
    let root = t.0.join("root");
    collect(
        &root,
        "t1",
        &[shipped.clone(), after[seal_at + 1..].to_vec()],
    );
    let (r, _) = run(&root, "t1", Some(&k0), StreamOptions::default(), None);
    assert!(r.conflicts > 0, "{r:?}");
    assert_eq!(r.first_conflict, Some(seal_at as u64 + 1));
    assert_eq!(r.problem.as_ref().unwrap().kind, "broken_link");
    assert_eq!(r.problem.as_ref().unwrap().seq, shipped.len() as u64);
    assert!(kinds(&r).contains(&FindingKind::Conflict));
    // Records re-sent from before the ring's memory cannot be compared: said so.
    let opts = StreamOptions {
        ring: 16,
        ..StreamOptions::default()
    };
    let (r, _) = run(&root, "t1", Some(&k0), opts, None);
    assert!(r.resent_too_old > 0);
    assert!(kinds(&r).contains(&FindingKind::ResentTooOld));
}

#[test]
fn a_rewrite_resealed_with_keys_derived_from_k0_conflicts_with_what_was_shipped() {
    let t = TempDir::new("coll-reseal");
    let (k0, dir, _) = terminal_log(&t, "t1", 100);
    let shipped = flat(&segments(&dir));
    // Record 30 rewritten (another operator), the chain re-linked and every later seal
    // re-made with its own epoch's key: the log is whole again to anyone holding only it.
    let mut records: Vec<Record> = shipped.iter().map(|l| Record::parse(l).unwrap()).collect();
    records[30].operator = Some(label("op-innocent"));
    let log_id = match records[0].event {
        Event::Genesis { log_id, .. } => log_id,
        _ => panic!(),
    };
    let mut prev = cardgate_audit::Digest::default();
    let mut rewritten = Vec::new();
    for r in &mut records {
        r.prev = prev;
        if let Event::LogSealed(s) = &mut r.event {
            s.head = prev;
            let at = cardgate_audit::seal::SealContext {
                log_id: &log_id,
                time: r.time,
                terminal: &r.terminal,
            };
            *s = k0
                .evolve_by(s.epoch)
                .seal(&at, s.epoch, s.first_seq, s.last_seq, s.head);
        }
        let line = r.to_line();
        prev = cardgate_audit::Digest::sha256(&line);
        rewritten.push(line);
    }
    let bytes: Vec<u8> = rewritten
        .iter()
        .flat_map(|l| [l.as_slice(), b"\n"])
        .flatten()
        .copied()
        .collect();
    let (local, _) = verify_segments_without_key_file(&[("rewritten", &bytes)], &k0);
    assert!(local.is_intact(), "the rewrite verifies on the terminal");
    let root = t.0.join("root");
    // imfile ships the rewritten file again from its start.
    collect(&root, "t1", &[shipped.clone(), rewritten.clone()]);
    let (r, _) = run(&root, "t1", Some(&k0), StreamOptions::default(), None);
    assert_eq!(r.first_conflict, Some(30));
    assert_eq!(r.duplicates, 30, "records 0..30 are the same");
    assert_eq!(r.conflicts, (shipped.len() - 30) as u64);
    assert_eq!(r.worst(), Some(Severity::Critical));
    // The collector's own copy still verifies: what was witnessed stands.
    assert_eq!(r.verified_up_to, Some(shipped.len() as u64 - 1));
    assert!(r.problem.is_none());
}

#[test]
fn a_collector_copy_cut_back_or_rewritten_between_two_runs_is_caught_by_the_checkpoint() {
    let t = TempDir::new("coll-cp");
    let (k0, dir, _) = terminal_log(&t, "t1", 100);
    let lines = flat(&segments(&dir));
    let root = t.0.join("root");
    collect(&root, "t1", std::slice::from_ref(&lines));
    let (r1, _) = run(&root, "t1", Some(&k0), StreamOptions::default(), None);
    let cp = checkpoint(std::slice::from_ref(&r1), start());
    assert_eq!(cp.logs.len(), 1);
    assert_eq!(cp.logs[0].seq, lines.len() as u64 - 1);
    assert_eq!(cp.logs[0].host, "t1");
    assert_eq!(cp.logs[0].terminals, vec!["t1".to_owned()]);
    // Round trip through the file the access manager keeps.
    let cp = cardgate_audit::report::Checkpoint::parse(cp.to_json().as_bytes(), "cp").unwrap();
    // Unchanged: no finding.
    let (r, _) = run(&root, "t1", Some(&k0), StreamOptions::default(), Some(&cp));
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    // Cut back by 30 lines.
    collect(&root, "t1", &[lines[..lines.len() - 30].to_vec()]);
    let (r, _) = run(&root, "t1", Some(&k0), StreamOptions::default(), Some(&cp));
    assert_eq!(
        kinds(&r),
        vec![FindingKind::NotExtended],
        "{:?}",
        r.findings
    );
    assert!(r.findings[0].text.contains("cut back"));
    // Replaced by another chain.
    let (_, other_dir, _) = terminal_log(&t, "t1b", 30);
    collect(&root, "t1", &[flat(&segments(&other_dir))]);
    let (r, _) = run(&root, "t1", None, StreamOptions::default(), Some(&cp));
    assert!(kinds(&r).contains(&FindingKind::NotExtended));
    assert!(r.findings.iter().any(|f| f.text.contains("another chain")));
}

#[test]
fn lines_that_are_not_records_are_counted_and_the_first_is_named() {
    let t = TempDir::new("coll-bad");
    let (k0, dir, _) = terminal_log(&t, "t1", 30);
    let mut lines = flat(&segments(&dir));
    lines.insert(5, b"<13>Dec  2 10:00:00 t1 cardgate: hello".to_vec());
    lines.insert(9, vec![b'x'; 20_000]);
    let root = t.0.join("root");
    collect(&root, "t1", std::slice::from_ref(&lines));
    // A line being written when the run reads: not an error.
    let file = root.join("t1/2026-01.jsonl");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.extend_from_slice(b"{\"seq\":999,\"ti");
    std::fs::write(&file, bytes).unwrap();
    let (r, seen) = run(&root, "t1", Some(&k0), StreamOptions::default(), None);
    assert_eq!(r.not_records, 2);
    let first = r.first_not_record.as_ref().unwrap();
    assert_eq!(first.line, 6);
    assert!(first.file.ends_with("t1/2026-01.jsonl"), "{first:?}");
    assert_eq!(r.partial_tail, 14);
    assert_eq!(kinds(&r), vec![FindingKind::NotRecords]);
    in_order(&seen, lines.len() as u64 - 3);
}

#[test]
fn a_terminal_silent_for_longer_than_the_limit_is_a_finding_unless_it_stopped() {
    let t = TempDir::new("coll-silent");
    let (k0, dir, clock) = terminal_log(&t, "t1", 10);
    let root = t.0.join("root");
    collect(&root, "t1", &[flat(&segments(&dir))]);
    let terminals = list_terminals(&root).unwrap();
    let late = Timestamp(start().unix_ms() + 3 * 3_600_000);
    let report = |root: &Path| {
        let terminals = list_terminals(root).unwrap();
        TerminalStream::new(&terminals[0], Some(k0.clone()), StreamOptions::default())
            .finish(&judge_at(late))
            .unwrap()
    };
    let r = report(&root);
    assert!(r.silent);
    assert_eq!(kinds(&r), vec![FindingKind::Silent]);
    drop(terminals);
    // A daemon that said it stopped is not silent.
    let mut c = cardgate_audit::AuditConfig::new(&dir, label("t1"));
    c.clock = Arc::new(clock.clone());
    let (log, _) = AuditLog::open(c).unwrap();
    log.append(Entry::new(Event::DaemonStopped {
        reason: StopReason::Shutdown,
        unfinished: None,
    }))
    .unwrap();
    // Not closed yet: the stop is the last record, after the last seal.
    let lines = flat(&segments(&dir));
    collect(&root, "t1", std::slice::from_ref(&lines));
    let r = report(&root);
    assert_eq!(r.last_kind.as_deref(), Some("daemon_stopped"));
    assert!(!r.silent);
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert_eq!(r.unsealed_from, Some(lines.len() as u64 - 1));
    assert_eq!(r.verified_up_to, Some(lines.len() as u64 - 2));
    // The daemon's close seals the stop: still a stop, not silence.
    log.close().unwrap();
    collect(&root, "t1", &[flat(&segments(&dir))]);
    let r = report(&root);
    assert_eq!(r.last_kind.as_deref(), Some("log_sealed"));
    assert!(!r.silent);
    assert!(r.findings.is_empty(), "{:?}", r.findings);
}

#[test]
fn a_bad_root_or_terminal_name_is_an_error_naming_it() {
    let t = TempDir::new("coll-root");
    let missing = t.0.join("nope");
    let e = list_terminals(&missing).unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
    let root = t.0.join("root");
    std::fs::create_dir_all(root.join("bad name")).unwrap();
    let e = list_terminals(&root).unwrap_err();
    assert!(e.to_string().contains("bad name"), "{e}");
    std::fs::remove_dir(root.join("bad name")).unwrap();
    std::fs::create_dir_all(root.join("t1")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("t1/2026-11.jsonl")).unwrap();
    let e = list_terminals(&root).unwrap_err();
    assert!(e.to_string().contains("2026-11.jsonl"), "{e}");
    std::fs::remove_file(root.join("t1/2026-11.jsonl")).unwrap();
    let terminals = list_terminals(&root).unwrap();
    let r = TerminalStream::new(&terminals[0], None, StreamOptions::default())
        .finish(&judge_at(start()))
        .unwrap();
    assert_eq!(kinds(&r), vec![FindingKind::Empty]);
}
