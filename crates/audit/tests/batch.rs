//! A batch of records (one login's) is one group commit: one fdatasync, consecutive records,
//! all acknowledged or none, seals cut after it, never inside it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use cardgate_audit::segments::segment_name;
use cardgate_audit::storage::{DiskStorage, FaultPlan, FaultyStorage, SegmentFile, Storage};
use cardgate_audit::{verify_dir, AuditLog, Digest, Event, StoreError};
use common::*;

/// The real disk, counting every fdatasync of a segment.
#[derive(Debug, Default)]
struct CountingStorage {
    syncs: Arc<AtomicU64>,
}

struct CountingSegment {
    inner: Box<dyn SegmentFile>,
    syncs: Arc<AtomicU64>,
}

impl SegmentFile for CountingSegment {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.inner.write_all(bytes)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        self.syncs.fetch_add(1, Ordering::SeqCst);
        self.inner.sync_data()
    }
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.inner.truncate(len)
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
}

impl Storage for CountingStorage {
    fn open_segment(&self, path: &Path) -> io::Result<Box<dyn SegmentFile>> {
        Ok(Box::new(CountingSegment {
            inner: DiskStorage.open_segment(path)?,
            syncs: self.syncs.clone(),
        }))
    }
}

fn intact(dir: &Path, k0: &cardgate_audit::SealKey) -> cardgate_audit::VerifyOutcome {
    let outcome = verify_dir(dir, Some(k0), &mut |_, _| {}).unwrap();
    assert!(outcome.is_intact(), "{}", outcome.problem.as_ref().unwrap());
    outcome
}

#[test]
fn a_batch_is_one_fdatasync_and_consecutive_chained_records() {
    let t = TempDir::new("batch-one-sync");
    let k0 = AuditLog::init(&t.log(), label("juki-t01"), &cardgate_audit::SystemClock).unwrap();
    let storage = Arc::new(CountingStorage::default());
    let syncs = storage.syncs.clone();
    let mut c = config(&t.log(), 1000);
    c.storage = storage;
    let (log, _) = AuditLog::open(c).unwrap();

    let before = syncs.load(Ordering::SeqCst);
    let receipts = log
        .append_batch((0..3).map(sample_entry).collect())
        .unwrap();
    assert_eq!(syncs.load(Ordering::SeqCst) - before, 1, "one fdatasync");
    assert_eq!(receipts.len(), 3);
    assert!(receipts.windows(2).all(|w| w[1].seq == w[0].seq + 1));

    // The same three one by one: three.
    let before = syncs.load(Ordering::SeqCst);
    for i in 3..6 {
        log.append(sample_entry(i)).unwrap();
    }
    assert_eq!(syncs.load(Ordering::SeqCst) - before, 3);

    // An empty batch writes nothing.
    let before = syncs.load(Ordering::SeqCst);
    assert!(log.append_batch(Vec::new()).unwrap().is_empty());
    assert_eq!(syncs.load(Ordering::SeqCst), before);

    // The handle's batch, from another thread, is the same.
    let h = log.handle();
    let more = std::thread::spawn(move || h.append_batch(vec![sample_entry(6), sample_entry(7)]))
        .join()
        .unwrap()
        .unwrap();
    log.close().unwrap();
    let records = all_records(&t.log());
    for r in receipts.iter().chain(&more) {
        assert_eq!(Digest::sha256(&records[r.seq as usize].to_line()), r.hash);
    }
    for (r, i) in receipts.iter().zip(0..) {
        assert_eq!(records[r.seq as usize].event, sample_entry(i).event);
    }
    intact(&t.log(), &k0);
}

#[test]
fn a_seal_falling_due_inside_a_batch_is_cut_after_it() {
    let t = TempDir::new("batch-seal");
    let k0 = AuditLog::init(&t.log(), label("juki-t01"), &cardgate_audit::SystemClock).unwrap();
    let (log, _) = AuditLog::open(config(&t.log(), 4)).unwrap();
    log.append(sample_entry(0)).unwrap();
    log.append(sample_entry(1)).unwrap();
    // Four records were due a seal after two more: the batch of five stays whole.
    let receipts = log
        .append_batch((2..7).map(sample_entry).collect())
        .unwrap();
    let last = receipts.last().unwrap().seq;
    let records = all_records(&t.log());
    assert!(matches!(
        records[last as usize + 1].event,
        Event::LogSealed(_)
    ));
    for r in &receipts {
        assert!(!matches!(
            records[r.seq as usize].event,
            Event::LogSealed(_)
        ));
    }
    let outcome = intact(&t.log(), &k0);
    assert!(outcome.unsealed_tail.is_none(), "the seal covers the batch");
    log.close().unwrap();
    intact(&t.log(), &k0);
}

#[test]
fn a_failed_fdatasync_acknowledges_none_of_the_batch() {
    let t = TempDir::new("batch-eio");
    let k0 = AuditLog::init(&t.log(), label("juki-t01"), &cardgate_audit::SystemClock).unwrap();
    let plan = FaultPlan::new();
    let mut c = config(&t.log(), 1000);
    c.storage = Arc::new(FaultyStorage { plan: plan.clone() });
    let (log, _) = AuditLog::open(c).unwrap();
    let kept = log.append(sample_entry(0)).unwrap();
    plan.fail_syncs.store(true, Ordering::SeqCst);
    let err = log
        .append_batch((1..4).map(sample_entry).collect())
        .unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
    plan.fail_syncs.store(false, Ordering::SeqCst);
    // The writer stopped: nothing after is acknowledged either, until the log is re-opened.
    assert!(matches!(
        log.append_batch(vec![sample_entry(4)]).unwrap_err(),
        StoreError::Poisoned
    ));
    drop(log);
    let (log, report) = AuditLog::open(config(&t.log(), 1000)).unwrap();
    log.close().unwrap();
    assert!(report.quarantined.is_empty(), "{report:?}");
    // The batch was cut back off: the open finds none of it (it would have read the written
    // but unsynced lines as records that happened).
    let after: Vec<_> = all_records(&t.log())
        .into_iter()
        .filter(|r| r.seq > kept.seq)
        .map(|r| r.event)
        .collect();
    assert!(
        after.iter().all(|e| matches!(e, Event::LogSealed(_))),
        "{after:?}"
    );
    intact(&t.log(), &k0);
}

#[test]
fn a_batch_that_does_not_fit_leaves_none_of_its_records_on_disk() {
    let t = TempDir::new("batch-full");
    let k0 = AuditLog::init(&t.log(), label("juki-t01"), &cardgate_audit::SystemClock).unwrap();
    let plan = FaultPlan::new();
    let mut c = config(&t.log(), 1000);
    c.storage = Arc::new(FaultyStorage { plan: plan.clone() });
    let (log, _) = AuditLog::open(c).unwrap();
    let first = log.append(sample_entry(0)).unwrap();
    let seg = t.log().join(segment_name(1));
    let len = std::fs::metadata(&seg).unwrap().len();
    // Room for about one and a half records: the first of the batch would fit whole.
    let one = all_records(&t.log())[first.seq as usize].to_line().len() as u64;
    plan.space_left.store(one + one / 2, Ordering::SeqCst);
    let err = log
        .append_batch((1..4).map(sample_entry).collect())
        .unwrap_err();
    assert!(err.is_disk_full(), "{err}");
    assert_eq!(
        std::fs::metadata(&seg).unwrap().len(),
        len,
        "the partial batch was cut back off"
    );
    plan.space_left.store(u64::MAX, Ordering::SeqCst);
    let next = log.append(sample_entry(9)).unwrap();
    assert_eq!(
        next.seq,
        first.seq + 1,
        "no record of the failed batch took a number"
    );
    log.close().unwrap();
    intact(&t.log(), &k0);
}

#[tokio::test]
async fn a_batch_from_tokio_resolves_once_durable() {
    let t = TempDir::new("batch-async");
    let k0 = AuditLog::init(&t.log(), label("juki-t01"), &cardgate_audit::SystemClock).unwrap();
    let (log, _) = AuditLog::open(config(&t.log(), 1000)).unwrap();
    let receipts = log
        .handle()
        .append_batch_async((0..4).map(sample_entry).collect())
        .await
        .unwrap();
    assert_eq!(receipts.len(), 4);
    let records = all_records(&t.log());
    for r in &receipts {
        assert_eq!(Digest::sha256(&records[r.seq as usize].to_line()), r.hash);
    }
    log.close().unwrap();
    intact(&t.log(), &k0);
}
