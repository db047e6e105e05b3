//! The daemon's way into the audit log, which heals itself.
//!
//! The audit writer stops for good after a failed fsync (it cannot know what reached the
//! disk) until the log is opened again. The daemon must not stay refusing logins forever
//! once the disk is fine again, so a failed append re-opens the log (which re-reads what
//! really is on disk, quarantining a torn tail) and tries once more. Until that works, every
//! append fails and every login is refused (fail closed).

use cardgate_audit::{
    AuditConfig, AuditHandle, AuditLog, Entry, PendingAppend, Receipt, StoreError,
};
use std::sync::{Mutex, RwLock};

struct Open {
    log: AuditLog,
    handle: AuditHandle,
    generation: u64,
}

/// A batch submitted with [`AuditSink::submit_batch`], not yet known durable. It keeps its
/// records, to write them again after a re-open.
#[must_use = "a submitted batch is not known durable until `finish_batch` says so"]
pub struct PendingBatch {
    entries: Vec<Entry>,
    generation: Option<u64>,
    submitted: Result<PendingAppend, StoreError>,
}

impl std::fmt::Debug for PendingBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingBatch")
            .field("records", &self.entries.len())
            .finish_non_exhaustive()
    }
}

/// The audit log as the daemon uses it.
pub struct AuditSink {
    config: AuditConfig,
    /// Set by [`AuditSink::close`]: after the daemon's stop is recorded and the log sealed,
    /// nothing may open it again (a request that outlived the shutdown grace is refused, not
    /// written after `daemon_stopped`).
    closed: std::sync::atomic::AtomicBool,
    open: RwLock<Option<Open>>,
    reopen: Mutex<u64>,
    /// The writer's own failure last logged (a seal by time, a heartbeat), so that one
    /// failure is logged once, not at every tick.
    background_logged: Mutex<Option<String>>,
}

impl std::fmt::Debug for AuditSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSink")
            .field("dir", &self.config.dir)
            .finish_non_exhaustive()
    }
}

impl AuditSink {
    /// Opens the log.
    pub fn open(config: AuditConfig) -> Result<(Self, cardgate_audit::OpenReport), StoreError> {
        let (log, report) = AuditLog::open(config.clone())?;
        let handle = log.handle();
        let sink = AuditSink {
            config,
            closed: std::sync::atomic::AtomicBool::new(false),
            open: RwLock::new(Some(Open {
                log,
                handle,
                generation: 0,
            })),
            reopen: Mutex::new(0),
            background_logged: Mutex::new(None),
        };
        Ok((sink, report))
    }

    fn current(&self) -> Option<(AuditHandle, u64)> {
        let open = self.open.read().unwrap_or_else(|p| p.into_inner());
        open.as_ref().map(|o| (o.handle.clone(), o.generation))
    }

    /// Looks at the writer's own work (the seal that fell due by time, the heartbeat), which
    /// no request waits on: a failure is logged once, with the log's directory, and the log
    /// is re-opened (a writer stopped by a failed fdatasync heals only so). Called from the
    /// engine's tick.
    pub fn check_background(&self) {
        let Some((handle, generation)) = self.current() else {
            return;
        };
        let failure = handle.background_failure().map(|e| e.to_string());
        let mut logged = self
            .background_logged
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if failure == *logged {
            return;
        }
        match &failure {
            Some(error) => {
                tracing::error!(
                    dir = %self.config.dir.display(),
                    %error,
                    "the audit log's timed seal or heartbeat could not be written"
                );
                if let Err(e) = self.reopen(Some(generation)) {
                    tracing::error!(dir = %self.config.dir.display(), error = %e, "the audit log could not be re-opened");
                }
            }
            None => tracing::info!(
                dir = %self.config.dir.display(),
                "the audit log's timed seal and heartbeat are written again"
            ),
        }
        *logged = failure;
    }

    /// Re-opens the log unless someone already did since `failed_generation`.
    fn reopen(&self, failed_generation: Option<u64>) -> Result<(), StoreError> {
        let mut counter = self.reopen.lock().unwrap_or_else(|p| p.into_inner());
        if self.is_closed() {
            return Err(StoreError::Closed);
        }
        if let (Some((_, now)), Some(failed)) = (self.current(), failed_generation) {
            if now != failed {
                return Ok(());
            }
        }
        let old = self.open.write().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(old) = old {
            // Closing a poisoned writer fails (it cannot seal); what is on disk is what counts,
            // and the open below re-reads it.
            if let Err(e) = old.log.close() {
                tracing::info!(error = %e, "the stopped audit writer could not seal on close");
            }
        }
        let (log, report) = AuditLog::open(self.config.clone())?;
        if !report.quarantined.is_empty() {
            tracing::warn!(files = ?report.quarantined, "audit log re-opened; a torn tail was quarantined");
        }
        *counter += 1;
        let handle = log.handle();
        *self.open.write().unwrap_or_else(|p| p.into_inner()) = Some(Open {
            log,
            handle,
            generation: *counter,
        });
        tracing::info!("audit log re-opened");
        Ok(())
    }

    /// Appends durably, re-opening the log once if the writer had stopped.
    pub fn append(&self, entry: Entry) -> Result<Receipt, StoreError> {
        self.append_batch(vec![entry])?
            .into_iter()
            .next()
            .ok_or(StoreError::Closed)
    }

    /// Appends `entries` in one durable commit (one fdatasync: a login's records), all or
    /// none, re-opening the log once if the writer had stopped, like [`AuditSink::append`].
    /// A retry after a re-open writes the whole batch again: the failed attempt acknowledged
    /// none of it.
    pub fn append_batch(&self, entries: Vec<Entry>) -> Result<Vec<Receipt>, StoreError> {
        let pending = self.submit_batch(entries);
        self.finish_batch(pending)
    }

    /// The first half of [`AuditSink::append_batch`]: hands the batch to the writer and
    /// returns at once, so that the caller can finish other work while the disk syncs.
    /// [`AuditSink::finish_batch`] waits for it (and heals the log if it must).
    pub fn submit_batch(&self, entries: Vec<Entry>) -> PendingBatch {
        let current = self.current();
        let generation = current.as_ref().map(|c| c.1);
        let submitted = match current {
            Some((handle, _)) => handle.submit_batch(entries.clone()),
            None => Err(StoreError::Closed),
        };
        PendingBatch {
            entries,
            generation,
            submitted,
        }
    }

    /// The second half of [`AuditSink::append_batch`]: the batch is durable, all of it, or an
    /// error says it is not (after one re-open and one more try).
    pub fn finish_batch(&self, pending: PendingBatch) -> Result<Vec<Receipt>, StoreError> {
        let PendingBatch {
            entries,
            generation,
            submitted,
        } = pending;
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        match submitted.and_then(PendingAppend::wait) {
            Err(StoreError::Poisoned | StoreError::Closed)
            | Err(StoreError::Io { .. })
            | Err(StoreError::DiskFull { .. }) => {
                self.reopen(generation)?;
                let (handle, _) = self.current().ok_or(StoreError::Closed)?;
                handle.append_batch(entries)
            }
            other => other,
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Seals and closes the log (daemon shutdown). Every append after this fails with
    /// [`StoreError::Closed`]: the log is not opened again.
    pub fn close(&self) -> Result<(), StoreError> {
        // Under the re-open lock, so that no re-open in progress can open the log again
        // after this.
        let _no_reopen = self.reopen.lock().unwrap_or_else(|p| p.into_inner());
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        let old = self.open.write().unwrap_or_else(|p| p.into_inner()).take();
        match old {
            Some(o) => o.log.close().map(drop),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use cardgate_audit::storage::{DiskStorage, SegmentFile, Storage};
    use cardgate_audit::{Event, Label};
    use std::path::Path;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    /// The real disk, whose next `fail` fdatasyncs fail (EIO), counting every one.
    #[derive(Debug, Default)]
    struct Flaky {
        fail: Arc<AtomicU64>,
        syncs: Arc<AtomicU64>,
        /// Truncation fails too (the cut after a failed fdatasync cannot be made).
        no_cut: Arc<std::sync::atomic::AtomicBool>,
    }

    struct FlakySegment {
        inner: Box<dyn SegmentFile>,
        fail: Arc<AtomicU64>,
        syncs: Arc<AtomicU64>,
        no_cut: Arc<std::sync::atomic::AtomicBool>,
    }

    impl SegmentFile for FlakySegment {
        fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
            self.inner.write_all(bytes)
        }
        fn sync_data(&mut self) -> std::io::Result<()> {
            self.syncs.fetch_add(1, Ordering::SeqCst);
            let failing = self
                .fail
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if failing {
                return Err(std::io::Error::from_raw_os_error(5));
            }
            self.inner.sync_data()
        }
        fn truncate(&mut self, len: u64) -> std::io::Result<()> {
            if self.no_cut.load(Ordering::SeqCst) {
                return Err(std::io::Error::from_raw_os_error(5));
            }
            self.inner.truncate(len)
        }
        fn len(&self) -> std::io::Result<u64> {
            self.inner.len()
        }
    }

    impl Storage for Flaky {
        fn open_segment(&self, path: &Path) -> std::io::Result<Box<dyn SegmentFile>> {
            Ok(Box::new(FlakySegment {
                inner: DiskStorage.open_segment(path)?,
                fail: self.fail.clone(),
                syncs: self.syncs.clone(),
                no_cut: self.no_cut.clone(),
            }))
        }
    }

    fn entries(n: usize) -> Vec<Entry> {
        (0..n).map(|_| Entry::new(Event::CardInserted)).collect()
    }

    #[test]
    fn a_batch_heals_the_log_once_and_is_one_fdatasync() {
        let dir = std::env::temp_dir().join(format!("cardgate-sink-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        let terminal = Label::new("juki-01").unwrap();
        AuditLog::init(&dir, terminal.clone(), &cardgate_office::SystemClock).unwrap();
        let storage = Flaky::default();
        let (fail, syncs) = (storage.fail.clone(), storage.syncs.clone());
        let mut config = AuditConfig::new(&dir, terminal);
        config.storage = Arc::new(storage);
        let (sink, _) = AuditSink::open(config).unwrap();

        let before = syncs.load(Ordering::SeqCst);
        assert_eq!(sink.append_batch(entries(3)).unwrap().len(), 3);
        assert_eq!(syncs.load(Ordering::SeqCst) - before, 1);

        // One failed fdatasync: the writer stops, the sink re-opens it and writes the batch.
        fail.store(1, Ordering::SeqCst);
        let receipts = sink.append_batch(entries(3)).unwrap();
        assert_eq!(receipts.len(), 3);
        assert!(receipts.windows(2).all(|w| w[1].seq == w[0].seq + 1));
        // Failing on: fail closed, nothing acknowledged.
        fail.store(u64::MAX, Ordering::SeqCst);
        assert!(sink.append_batch(entries(2)).is_err());
        fail.store(0, Ordering::SeqCst);
        assert_eq!(sink.append_batch(entries(1)).unwrap().len(), 1);
        assert!(sink.append_batch(Vec::new()).unwrap().is_empty());
        sink.close().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn fresh_log(name: &str) -> (std::path::PathBuf, Label) {
        let dir = std::env::temp_dir().join(format!("cardgate-sink-{name}-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        let terminal = Label::new("juki-01").unwrap();
        AuditLog::init(&dir, terminal.clone(), &cardgate_office::SystemClock).unwrap();
        (dir, terminal)
    }

    /// Every file of the log directory, by name, with its bytes.
    fn snapshot(dir: &Path) -> Vec<(std::ffi::OsString, Vec<u8>)> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().unwrap().is_file())
            .map(|e| (e.file_name(), std::fs::read(e.path()).unwrap()))
            .collect();
        files.sort();
        files
    }

    /// How many records of `kind` the log holds, read back by a fresh open.
    fn count(dir: &Path, terminal: &Label, event: &str) -> usize {
        let (log, _) = AuditLog::open(AuditConfig::new(dir, terminal.clone())).unwrap();
        log.close().unwrap();
        snapshot(dir)
            .iter()
            .filter(|(name, _)| name.to_string_lossy().ends_with(".jsonl"))
            .flat_map(|(_, bytes)| {
                String::from_utf8_lossy(bytes)
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .filter(|line| line.contains(&format!("\"{event}\"")))
            .count()
    }

    /// The `heartbeat` lines in the log's segments as they are on disk now.
    fn heartbeats_on_disk(dir: &Path) -> usize {
        snapshot(dir)
            .iter()
            .filter(|(name, _)| name.to_string_lossy().ends_with(".jsonl"))
            .map(|(_, bytes)| {
                String::from_utf8_lossy(bytes)
                    .lines()
                    .filter(|l| l.contains("\"kind\":\"heartbeat\""))
                    .count()
            })
            .sum()
    }

    // A heartbeat whose fdatasync failed stopped the writer, and with no login to re-open
    // it the terminal stayed silent (no heartbeat, no timed seal) until someone logged in.
    #[test]
    fn the_tick_heals_a_writer_stopped_by_its_own_heartbeat() {
        let (dir, terminal) = fresh_log("heartbeat");
        let storage = Flaky::default();
        let fail = storage.fail.clone();
        let mut config = AuditConfig::new(&dir, terminal);
        config.storage = Arc::new(storage);
        config.heartbeat = Some(std::time::Duration::from_millis(200));
        fail.store(1, Ordering::SeqCst);
        let (sink, _) = AuditSink::open(config).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while heartbeats_on_disk(&dir) == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "no heartbeat after the failed one"
            );
            sink.check_background();
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(
            fail.load(Ordering::SeqCst),
            0,
            "the failing fdatasync was spent"
        );
        sink.close().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    // A request that outlived the shutdown grace reached the log after `close`: the sink
    // opened the sealed log again and wrote after `daemon_stopped`.
    #[test]
    fn nothing_is_written_once_the_log_is_closed() {
        let (dir, terminal) = fresh_log("closed");
        let (sink, _) = AuditSink::open(AuditConfig::new(&dir, terminal)).unwrap();
        sink.append_batch(entries(2)).unwrap();
        sink.close().unwrap();
        let sealed = snapshot(&dir);
        assert!(matches!(
            sink.append_batch(entries(1)),
            Err(StoreError::Closed)
        ));
        assert!(matches!(
            sink.append(Entry::new(Event::CardInserted)),
            Err(StoreError::Closed)
        ));
        assert_eq!(snapshot(&dir), sealed, "the closed log was written to");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    // After a failed fdatasync whose unacknowledged records could not be cut off, the re-open
    // read them back as written and the retry wrote the same batch a second time.
    #[test]
    fn a_batch_that_could_not_be_cut_off_is_not_written_twice() {
        let (dir, terminal) = fresh_log("uncut");
        let storage = Flaky::default();
        let (fail, no_cut) = (storage.fail.clone(), storage.no_cut.clone());
        let mut config = AuditConfig::new(&dir, terminal.clone());
        config.storage = Arc::new(storage);
        let (sink, _) = AuditSink::open(config).unwrap();
        sink.append_batch(vec![Entry::new(Event::DaemonStopped {
            reason: cardgate_audit::record::StopReason::Signal,
            unfinished: None,
        })])
        .unwrap();
        fail.store(1, Ordering::SeqCst);
        no_cut.store(true, Ordering::SeqCst);
        let batch: Vec<Entry> = (0..3).map(|_| Entry::new(Event::PinBlocked)).collect();
        let err = sink.append_batch(batch).unwrap_err();
        assert!(matches!(err, StoreError::NotCutOff { .. }), "{err}");
        no_cut.store(false, Ordering::SeqCst);
        // The writer stopped after the failed fdatasync: closing it says so.
        assert!(matches!(sink.close(), Err(StoreError::Poisoned)));
        assert!(
            count(&dir, &terminal, "pin_blocked") <= 3,
            "the batch was written twice"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
