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
    open: RwLock<Option<Open>>,
    reopen: Mutex<u64>,
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
            open: RwLock::new(Some(Open {
                log,
                handle,
                generation: 0,
            })),
            reopen: Mutex::new(0),
        };
        Ok((sink, report))
    }

    fn current(&self) -> Option<(AuditHandle, u64)> {
        let open = self.open.read().unwrap_or_else(|p| p.into_inner());
        open.as_ref().map(|o| (o.handle.clone(), o.generation))
    }

    /// Re-opens the log unless someone already did since `failed_generation`.
    fn reopen(&self, failed_generation: Option<u64>) -> Result<(), StoreError> {
        let mut counter = self.reopen.lock().unwrap_or_else(|p| p.into_inner());
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
            // Never waited for: `finish_batch` answers an empty batch at once.
            _ if entries.is_empty() => Err(StoreError::Closed),
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

    /// Seals and closes the log (daemon shutdown).
    pub fn close(&self) -> Result<(), StoreError> {
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
    }

    struct FlakySegment {
        inner: Box<dyn SegmentFile>,
        fail: Arc<AtomicU64>,
        syncs: Arc<AtomicU64>,
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
}
