//! The writer: durability, group commit, torn tails, rotation, disk full, key erasure, heartbeats.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use cardgate_audit::seal::{read_key_file, write_key_file};
use cardgate_audit::segments::{list_segments, segment_name};
use cardgate_audit::storage::{FaultPlan, FaultyStorage};
use cardgate_audit::{
    verify_dir, AuditLog, Digest, Event, ProblemKind, Record, StoreError, Timestamp,
};
use common::*;

fn intact(dir: &std::path::Path, k0: &cardgate_audit::SealKey) -> cardgate_audit::VerifyOutcome {
    let outcome = verify_dir(dir, Some(k0), &mut |_, _| {}).unwrap();
    assert!(outcome.is_intact(), "{}", outcome.problem.as_ref().unwrap());
    outcome
}

#[test]
fn concurrent_appends_are_all_durable_distinct_and_chained() {
    let t = TempDir::new("concurrent");
    let k0 = AuditLog::init(&t.log(), label("juki-t01"), &cardgate_audit::SystemClock).unwrap();
    let (log, _) = AuditLog::open(config(&t.log(), 50)).unwrap();
    let receipts: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..64)
            .map(|w| {
                let h = log.handle();
                s.spawn(move || {
                    (0..20)
                        .map(|i| h.append(sample_entry(w * 100 + i)).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    log.close().unwrap();
    let seqs: BTreeSet<u64> = receipts.iter().map(|r| r.seq).collect();
    assert_eq!(seqs.len(), 64 * 20);
    let records = all_records(&t.log());
    for r in &receipts {
        let line = records[r.seq as usize].to_line();
        assert_eq!(
            Digest::sha256(&line),
            r.hash,
            "receipt {} matches the stored line",
            r.seq
        );
    }
    let outcome = intact(&t.log(), &k0);
    assert!(outcome.unsealed_tail.is_none(), "close seals the tail");
}

#[test]
fn a_torn_last_line_is_quarantined_and_recorded() {
    let t = TempDir::new("torn");
    let k0 = build_log(&t.log(), 12, 5);
    let seg = t.log().join(segment_name(1));
    let torn = br#"{"seq":999,"time":"2026-01-01T00:00:00.000Z","termi"#;
    let mut bytes = std::fs::read(&seg).unwrap();
    let whole = bytes.len();
    bytes.extend_from_slice(torn);
    std::fs::write(&seg, &bytes).unwrap();
    let before = verify_dir(&t.log(), Some(&k0), &mut |_, _| {}).unwrap();
    assert!(
        matches!(before.problem.unwrap().kind, ProblemKind::TornLine { bytes } if bytes == torn.len())
    );

    let (log, report) = AuditLog::open(config(&t.log(), 5)).unwrap();
    log.close().unwrap();
    assert_eq!(report.quarantined.len(), 1);
    let qfile = t.log().join(&report.quarantined[0]);
    assert_eq!(
        std::fs::read(&qfile).unwrap(),
        torn,
        "the torn bytes are kept"
    );
    let after = std::fs::read(&seg).unwrap();
    assert_eq!(
        &after[..whole],
        &bytes[..whole],
        "nothing before the tear changed"
    );
    let records = all_records(&t.log());
    let recorded = records
        .iter()
        .find_map(|r| match &r.event {
            Event::TornTailQuarantined {
                file,
                bytes,
                sha256,
            } => Some((file.clone(), *bytes, *sha256)),
            _ => None,
        })
        .unwrap();
    assert_eq!(recorded.0.as_str(), report.quarantined[0]);
    assert_eq!(recorded.1, torn.len() as u64);
    assert_eq!(recorded.2, Digest::sha256(torn));
    intact(&t.log(), &k0);
}

#[test]
fn a_quarantined_tail_whose_record_was_lost_is_recorded_on_the_next_open() {
    let t = TempDir::new("pendingq");
    let k0 = build_log(&t.log(), 3, 5);
    let next = all_records(&t.log()).len() as u64;
    // As if the crash came after the quarantine file and the cut, before the record.
    let name = cardgate_audit::segments::quarantine_name(next, 1234);
    std::fs::write(t.log().join(&name), b"half a line").unwrap();
    let (log, report) = AuditLog::open(config(&t.log(), 5)).unwrap();
    drop(log);
    assert_eq!(report.quarantined, vec![name]);
    assert!(all_records(&t.log())
        .iter()
        .any(|r| matches!(&r.event, Event::TornTailQuarantined { bytes: 11, .. })));
    intact(&t.log(), &k0);
}

#[test]
fn segments_rotate_by_size_and_the_chain_runs_across_them() {
    let t = TempDir::new("rotate");
    let k0 = AuditLog::init(&t.log(), label("juki-t01"), &cardgate_audit::SystemClock).unwrap();
    let mut c = config(&t.log(), 7);
    c.max_segment_bytes = 2048;
    let (log, _) = AuditLog::open(c).unwrap();
    for i in 0..60 {
        log.append(sample_entry(i)).unwrap();
    }
    log.close().unwrap();
    let segments = list_segments(&t.log()).unwrap();
    assert!(segments.len() >= 5, "{} segments", segments.len());
    for pair in segments.windows(2) {
        let a = std::fs::read(&pair[0].1).unwrap();
        let b = std::fs::read(&pair[1].1).unwrap();
        let last_a = a[..a.len() - 1].rsplit(|&x| x == b'\n').next().unwrap();
        let first_b = Record::parse(b.split(|&x| x == b'\n').next().unwrap()).unwrap();
        assert_eq!(
            first_b.prev,
            Digest::sha256(last_a),
            "the new file chains to the old one"
        );
    }
    intact(&t.log(), &k0);
    // A missing middle segment is named.
    std::fs::remove_file(&segments[2].1).unwrap();
    let p = verify_dir(&t.log(), Some(&k0), &mut |_, _| {})
        .unwrap()
        .problem
        .unwrap();
    assert!(matches!(p.kind, ProblemKind::SegmentMissing { .. }), "{p}");
}

#[test]
fn segments_rotate_by_utc_day_and_time_never_goes_backwards() {
    let t = TempDir::new("daily");
    let clock = ManualClock::at(Timestamp::parse("2026-03-31T23:59:58.000Z").unwrap());
    let k0 = AuditLog::init(&t.log(), label("juki-t01"), &clock).unwrap();
    let mut c = config(&t.log(), 100);
    c.clock = Arc::new(clock.clone());
    let (log, _) = AuditLog::open(c).unwrap();
    log.append(sample_entry(0)).unwrap();
    clock.advance_ms(5000);
    log.append(sample_entry(1)).unwrap();
    // The clock steps back (NTP): the record keeps the later time.
    clock.advance_ms(-60_000);
    let r = log.append(sample_entry(2)).unwrap();
    log.close().unwrap();
    assert_eq!(list_segments(&t.log()).unwrap().len(), 2);
    let records = all_records(&t.log());
    assert_eq!(
        records[r.seq as usize].time,
        Timestamp::parse("2026-04-01T00:00:03.000Z").unwrap()
    );
    intact(&t.log(), &k0);
}

#[test]
fn seals_come_every_n_records_and_after_t_seconds() {
    let t = TempDir::new("sealing");
    let k0 = AuditLog::init(&t.log(), label("juki-t01"), &cardgate_audit::SystemClock).unwrap();
    let mut c = config(&t.log(), 4);
    c.seal_interval = std::time::Duration::from_millis(100);
    let (log, _) = AuditLog::open(c).unwrap();
    for i in 0..8 {
        log.append(sample_entry(i)).unwrap();
    }
    // 8 records → two seals by count, no unsealed tail.
    let outcome = intact(&t.log(), &k0);
    assert_eq!(outcome.seals, 3);
    assert!(outcome.unsealed_tail.is_none());
    log.append(sample_entry(9)).unwrap();
    assert_eq!(intact(&t.log(), &k0).unsealed_tail.unwrap().count(), 1);
    // The timer seals the single record within T (poll; generous upper bound).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while verify_dir(&t.log(), Some(&k0), &mut |_, _| {})
        .unwrap()
        .unsealed_tail
        .is_some()
    {
        assert!(std::time::Instant::now() < deadline, "no timed seal");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(log);
    assert_eq!(intact(&t.log(), &k0).seals, 4);
}

#[test]
fn the_key_file_holds_only_the_current_epoch_key() {
    let t = TempDir::new("keyfile");
    let k0 = build_log(&t.log(), 30, 10);
    let kf = read_key_file(&t.log()).unwrap().unwrap();
    let seals = intact(&t.log(), &k0).seals;
    assert_eq!(kf.epoch, seals);
    assert!(kf.key.ct_eq(&k0.evolve_by(kf.epoch)));
    assert!(!t.log().join("seal.key.new").exists());
    // No earlier key is anywhere in the directory.
    let mut everything = Vec::new();
    for entry in std::fs::read_dir(t.log()).unwrap() {
        everything.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let text = String::from_utf8_lossy(&everything).to_string();
    for epoch in 0..kf.epoch {
        let old = k0.evolve_by(epoch).to_hex();
        assert!(
            !text.contains(old.as_str()),
            "key of epoch {epoch} still on disk"
        );
    }
    assert!(format!("{:?}", kf.key).contains("REDACTED"));
}

#[test]
fn a_crash_between_seal_and_key_update_is_finished_on_open() {
    let t = TempDir::new("keyupdate");
    let k0 = build_log(&t.log(), 20, 10);
    let kf = read_key_file(&t.log()).unwrap().unwrap();
    // Put the previous epoch's key back, as if the update never happened.
    write_key_file(&t.log(), kf.epoch - 1, &k0.evolve_by(kf.epoch - 1)).unwrap();
    let outcome = intact(&t.log(), &k0);
    assert!(outcome.key_update_pending);
    let (log, report) = AuditLog::open(config(&t.log(), 10)).unwrap();
    assert!(report.finished_key_update);
    log.append(sample_entry(1)).unwrap();
    log.close().unwrap();
    let outcome = intact(&t.log(), &k0);
    assert!(!outcome.key_update_pending);
    // A wrong key at the previous epoch is not accepted as a pending update.
    let kf = read_key_file(&t.log()).unwrap().unwrap();
    write_key_file(
        &t.log(),
        kf.epoch - 1,
        &cardgate_audit::SealKey::generate().unwrap(),
    )
    .unwrap();
    let p = verify_dir(&t.log(), Some(&k0), &mut |_, _| {})
        .unwrap()
        .problem
        .unwrap();
    assert!(matches!(p.kind, ProblemKind::KeyFileKey), "{p}");
    assert!(matches!(
        AuditLog::open(config(&t.log(), 10)).unwrap_err(),
        StoreError::KeyDoesNotMatchLog { .. }
    ));
}

#[test]
fn a_second_writer_is_refused() {
    let t = TempDir::new("lock");
    build_log(&t.log(), 1, 10);
    let (log, _) = AuditLog::open(config(&t.log(), 10)).unwrap();
    let err = AuditLog::open(config(&t.log(), 10)).unwrap_err();
    assert!(matches!(err, StoreError::Locked(_)), "{err}");
    drop(log);
    assert!(AuditLog::open(config(&t.log(), 10)).is_ok());
}

#[test]
fn disk_full_fails_the_append_and_keeps_everything_before() {
    let t = TempDir::new("full");
    let k0 = AuditLog::init(&t.log(), label("juki-t01"), &cardgate_audit::SystemClock).unwrap();
    let plan = FaultPlan::new();
    let mut c = config(&t.log(), 1000);
    c.storage = Arc::new(FaultyStorage { plan: plan.clone() });
    let (log, _) = AuditLog::open(c.clone()).unwrap();
    plan.space_left.store(3000, Ordering::SeqCst);
    let mut acked = Vec::new();
    let err = loop {
        match log.append(sample_entry(acked.len() as u64)) {
            Ok(r) => acked.push(r),
            Err(e) => break e,
        }
    };
    assert!(err.is_disk_full(), "{err}");
    assert!(!acked.is_empty());
    // The failed write was undone: the file ends on a whole line and holds every acked record.
    let seg = std::fs::read(t.log().join(segment_name(1))).unwrap();
    assert_eq!(seg.last(), Some(&b'\n'));
    let records = all_records(&t.log());
    for r in &acked {
        assert_eq!(Digest::sha256(&records[r.seq as usize].to_line()), r.hash);
    }
    // Still full: still failing (fail closed), and nothing is acknowledged.
    assert!(log.append(sample_entry(0)).unwrap_err().is_disk_full());
    // Space freed: appends work again, and the log verifies.
    plan.space_left.store(u64::MAX, Ordering::SeqCst);
    log.append(sample_entry(1)).unwrap();
    log.close().unwrap();
    intact(&t.log(), &k0);
}

#[test]
fn an_io_error_on_write_or_fsync_fails_the_append_and_loses_nothing() {
    let t = TempDir::new("eio");
    let k0 = AuditLog::init(&t.log(), label("juki-t01"), &cardgate_audit::SystemClock).unwrap();
    let plan = FaultPlan::new();
    let mut c = config(&t.log(), 1000);
    c.storage = Arc::new(FaultyStorage { plan: plan.clone() });
    let (log, _) = AuditLog::open(c.clone()).unwrap();
    let before: Vec<_> = (0..5)
        .map(|i| log.append(sample_entry(i)).unwrap())
        .collect();
    plan.fail_writes.store(true, Ordering::SeqCst);
    let err = log.append(sample_entry(5)).unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
    plan.fail_writes.store(false, Ordering::SeqCst);
    before.last().map(|_| log.append(sample_entry(6)).unwrap());
    // fsync fails: the writer stops (the page cache cannot be trusted after that).
    plan.fail_syncs.store(true, Ordering::SeqCst);
    assert!(matches!(
        log.append(sample_entry(7)).unwrap_err(),
        StoreError::Io { .. }
    ));
    plan.fail_syncs.store(false, Ordering::SeqCst);
    assert!(matches!(
        log.append(sample_entry(8)).unwrap_err(),
        StoreError::Poisoned
    ));
    drop(log);
    // Reopening re-reads the disk and carries on.
    let (log, _) = AuditLog::open(config(&t.log(), 1000)).unwrap();
    log.append(sample_entry(9)).unwrap();
    log.close().unwrap();
    let records = all_records(&t.log());
    for r in &before {
        assert_eq!(Digest::sha256(&records[r.seq as usize].to_line()), r.hash);
    }
    intact(&t.log(), &k0);
}

/// A real full file system: a 64 KiB tmpfs mounted for the test (needs root, which the test
/// harness has; it fails loudly otherwise).
#[test]
fn a_full_tmpfs_fails_the_append_and_keeps_everything_before() {
    let t = TempDir::new("tmpfs");
    let mnt = t.0.join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs"])
        .arg(&mnt)
        .status()
        .expect("running mount(8)");
    assert!(
        status.success(),
        "mounting a tmpfs needs root (mount exited {status})"
    );
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mnt.clone());
    let dir = mnt.join("log");
    let k0 = AuditLog::init(&dir, label("juki-t01"), &cardgate_audit::SystemClock).unwrap();
    let (log, _) = AuditLog::open(config(&dir, 1_000_000)).unwrap();
    let mut acked = Vec::new();
    let err = loop {
        match log.append(sample_entry(acked.len() as u64)) {
            Ok(r) => acked.push(r),
            Err(e) => break e,
        }
        assert!(acked.len() < 100_000, "the tmpfs never filled up");
    };
    assert!(err.is_disk_full(), "{err}");
    drop(log);
    let records = all_records(&dir);
    assert!(acked.len() > 10);
    for r in &acked {
        assert_eq!(Digest::sha256(&records[r.seq as usize].to_line()), r.hash);
    }
    // The chain is intact (the tail is simply unsealed: sealing needs room too).
    let outcome = verify_dir(&dir, Some(&k0), &mut |_, _| {}).unwrap();
    assert!(outcome.is_intact(), "{}", outcome.problem.unwrap());
    assert_eq!(outcome.last_seq, acked.last().map(|r| r.seq));
}

/// Waits (up to 20 s) until the log's records satisfy `done`; returns them.
fn wait_for_records(dir: &Path, done: impl Fn(&[Record]) -> bool) -> Vec<Record> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let records = all_records(dir);
        if done(&records) || std::time::Instant::now() > deadline {
            return records;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn heartbeats(records: &[Record]) -> usize {
    records
        .iter()
        .filter(|r| matches!(r.event, Event::Heartbeat))
        .count()
}

#[test]
fn an_idle_log_writes_a_sealed_heartbeat_and_a_busy_one_does_not() {
    let t = TempDir::new("heartbeat");
    let k0 = AuditLog::init(&t.log(), label("juki-t01"), &cardgate_audit::SystemClock).unwrap();
    let mut c = config(&t.log(), 1000);
    let every = std::time::Duration::from_millis(1500);
    c.heartbeat = Some(every);
    let (log, _) = AuditLog::open(c).unwrap();
    // Busy: an append every 100 ms for a second.
    for i in 0..10 {
        log.append(sample_entry(i)).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Idle: heartbeats come, each sealed in the same batch (the record after it is its seal).
    let records = wait_for_records(&t.log(), |r| heartbeats(r) >= 2);
    assert!(heartbeats(&records) >= 2, "no heartbeats: {records:?}");
    for (i, r) in records.iter().enumerate() {
        if matches!(r.event, Event::Heartbeat) {
            match records.get(i + 1).map(|n| &n.event) {
                Some(Event::LogSealed(seal)) => assert_eq!(seal.last_seq, r.seq),
                other => panic!("heartbeat {} not sealed at once: {other:?}", r.seq),
            }
            // Only after the interval without a record: never between the busy appends,
            // however slow this machine is (the record times say how long the log was idle).
            let before = &records[i - 1];
            assert!(
                r.time.unix_ms() - before.time.unix_ms() >= every.as_millis() as i64 - 20,
                "heartbeat {} only {} ms after record {}",
                r.seq,
                r.time.unix_ms() - before.time.unix_ms(),
                before.seq
            );
        }
    }
    log.close().unwrap();
    intact(&t.log(), &k0);
}

#[test]
fn a_heartbeat_that_cannot_be_written_is_reported_and_retried() {
    let t = TempDir::new("heartbeat-full");
    let k0 = AuditLog::init(&t.log(), label("juki-t01"), &cardgate_audit::SystemClock).unwrap();
    let plan = FaultPlan::new();
    let mut c = config(&t.log(), 1000);
    c.storage = Arc::new(FaultyStorage { plan: plan.clone() });
    c.heartbeat = Some(std::time::Duration::from_millis(300));
    let (log, _) = AuditLog::open(c).unwrap();
    let handle = log.handle();
    plan.space_left.store(0, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let failure = loop {
        if let Some(e) = handle.background_failure() {
            break e;
        }
        assert!(std::time::Instant::now() < deadline, "no failure reported");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(failure.is_disk_full(), "{failure}");
    assert_eq!(heartbeats(&all_records(&t.log())), 0);
    // Space is back: the retry (at least 5 s later) writes it and clears the failure.
    plan.space_left.store(u64::MAX, Ordering::SeqCst);
    let records = wait_for_records(&t.log(), |r| heartbeats(r) >= 1);
    assert!(heartbeats(&records) >= 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while handle.background_failure().is_some() {
        assert!(std::time::Instant::now() < deadline, "failure not cleared");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    log.close().unwrap();
    intact(&t.log(), &k0);
}

#[test]
fn a_line_with_any_extra_field_such_as_a_pin_is_refused() {
    let t = TempDir::new("nopin");
    build_log(&t.log(), 3, 10);
    let line = String::from_utf8(lines(&t.log())[2].clone()).unwrap();
    let with_pin = line.replacen("{\"seq\"", "{\"pin\":\"abc123\",\"seq\"", 1);
    assert!(Record::parse(with_pin.as_bytes()).is_err());
    let in_event = line.replacen("\"kind\":", "\"puk\":\"12345678\",\"kind\":", 1);
    assert!(Record::parse(in_event.as_bytes()).is_err());
    assert!(Record::parse(line.as_bytes()).is_ok());
}

#[test]
fn garbage_lines_get_typed_errors_not_panics() {
    let t = TempDir::new("garbage");
    build_log(&t.log(), 20, 10);
    let good = lines(&t.log());
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..20_000 {
        let mut line = good[i % good.len()].clone();
        match next() % 4 {
            0 => line.truncate((next() as usize) % (line.len() + 1)),
            1 => {
                let n = line.len();
                line[(next() as usize) % n] = next() as u8;
            }
            2 => line = (0..(next() % 300)).map(|_| next() as u8).collect(),
            _ => line.insert((next() as usize) % line.len(), next() as u8),
        }
        let _ = Record::parse(&line);
    }
    let huge = vec![b'{'; cardgate_audit::record::MAX_LINE_LEN + 1];
    assert!(matches!(
        Record::parse(&huge),
        Err(cardgate_audit::ParseError::TooLong { .. })
    ));
    let deep = "[".repeat(10_000);
    assert!(Record::parse(deep.as_bytes()).is_err());
}

#[test]
fn init_refuses_an_existing_log_and_the_config_names_the_directory() {
    let t = TempDir::new("initcfg");
    build_log(&t.log(), 0, 10);
    assert!(matches!(
        cardgate_audit::cli::init(&t.log()).unwrap_err(),
        cardgate_audit::cli::CliError::Store(StoreError::AlreadyInitialised(_))
    ));
    let cfg = t.0.join("cardgated.toml");
    // The file is read as cardgated reads it (`cardgate_office::config`).
    let terminal = "[[terminal]]\nid = \"juki-01\"\nreader = \"r\"\n";
    std::fs::write(&cfg, format!("[audit]\ndir = \"/srv/audit\"\n{terminal}")).unwrap();
    assert_eq!(
        cardgate_audit::cli::dir_from_config(&cfg).unwrap(),
        Some(std::path::PathBuf::from("/srv/audit"))
    );
    std::fs::write(&cfg, terminal).unwrap();
    assert_eq!(
        cardgate_audit::cli::dir_from_config(&cfg).unwrap(),
        Some(std::path::PathBuf::from(cardgate_audit::cli::DEFAULT_DIR))
    );
    for refused in [
        format!("[audit]\ndir = 5\n{terminal}"),
        format!("[reader]\nname = \"x\"\n{terminal}"),
        "[audit]\ndir = \"/srv/audit\"\n".to_owned(),
    ] {
        std::fs::write(&cfg, &refused).unwrap();
        let err = cardgate_audit::cli::dir_from_config(&cfg).unwrap_err();
        assert!(
            err.to_string().contains(&cfg.display().to_string()),
            "{refused}: {err}"
        );
    }
    assert_eq!(
        cardgate_audit::cli::dir_from_config(&t.0.join("missing.toml")).unwrap(),
        None
    );
}

#[test]
fn appends_from_tokio_tasks_resolve_once_durable() {
    let t = TempDir::new("tokio");
    let k0 = build_log(&t.log(), 0, 10);
    let (log, _) = AuditLog::open(config(&t.log(), 10)).unwrap();
    let handle = log.handle();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let receipts = rt.block_on(async move {
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let h = handle.clone();
                tokio::spawn(async move { h.append_async(sample_entry(i)).await })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap().unwrap());
        }
        out
    });
    log.close().unwrap();
    let records = all_records(&t.log());
    for r in &receipts {
        assert_eq!(Digest::sha256(&records[r.seq as usize].to_line()), r.hash);
    }
    intact(&t.log(), &k0);
}

#[test]
fn the_command_line_functions_work_end_to_end() {
    use cardgate_audit::cli;
    let t = TempDir::new("cli");
    let k0 = cli::init(&t.log()).unwrap();
    let hex = k0.to_hex();
    assert_eq!(hex.len(), 64);
    let r = cli::note(
        &t.log(),
        cardgate_audit::NoteKind::RoomEntry,
        "UPS battery replaced",
        Some("Sato"),
        Some("Suzuki"),
    )
    .unwrap();
    assert_eq!(r.seq, 2);
    assert!(matches!(
        cli::note(&t.log(), cardgate_audit::NoteKind::Media, "", None, None).unwrap_err(),
        cli::CliError::Field {
            field: "--text",
            ..
        }
    ));
    let key = cli::parse_key(&format!(" {}\n", hex.as_str())).unwrap();
    let mut calls = 0;
    let outcome = cli::verify(&t.log(), Some(&key), &mut |done, total| {
        calls += 1;
        assert!(done <= total);
    })
    .unwrap();
    assert!(calls >= 2);
    assert!(outcome.is_intact());
    let summary = |outcome| {
        cardgate_audit::report::render::verify_text(
            outcome,
            None,
            cardgate_i18n::Lang::En,
            time::UtcOffset::UTC,
        )
    };
    assert!(summary(&outcome).starts_with("intact: 4 records, 2 seals"));
    let report = cli::report(&[t.log().as_path()], Default::default()).unwrap();
    assert_eq!(report.notes.len(), 1);
    let html = cardgate_audit::report::render::page(
        &report,
        &cardgate_audit::report::render::View::new(cardgate_i18n::Lang::En),
    );
    assert!(html.contains("UPS battery replaced"));
    // Tampered: the summary names the record.
    let mut l = lines(&t.log());
    l.swap(2, 3);
    write_lines(&t.log(), &l);
    let outcome = cli::verify(&t.log(), Some(&key), &mut |_, _| {}).unwrap();
    let summary = summary(&outcome);
    assert!(
        summary.starts_with("NOT INTACT at record 3: record 3 (audit-00000001.jsonl line 3)"),
        "{summary}"
    );
    assert!(cli::parse_key("xyz").is_err());
}
