//! The daemon's way into the audit log, which heals itself.
//!
//! The audit writer stops for good after a failed fsync (it cannot know what reached the
//! disk) until the log is opened again. The daemon must not stay refusing logins forever
//! once the disk is fine again, so a failed append re-opens the log (which re-reads what
//! really is on disk, quarantining a torn tail) and tries once more. Until that works, every
//! append fails and every login is refused (fail closed).

use cardgate_audit::{AuditConfig, AuditHandle, AuditLog, Entry, Receipt, StoreError};
use std::sync::{Mutex, RwLock};

struct Open {
    log: AuditLog,
    handle: AuditHandle,
    generation: u64,
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
            // Closing a poisoned writer fails; what is on disk is what counts.
            let _ = old.log.close();
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
        let (handle, generation) = match self.current() {
            Some(c) => (c.0, Some(c.1)),
            None => {
                self.reopen(None)?;
                let c = self.current().ok_or(StoreError::Closed)?;
                (c.0, Some(c.1))
            }
        };
        match handle.append(entry.clone()) {
            Err(StoreError::Poisoned | StoreError::Closed)
            | Err(StoreError::Io { .. })
            | Err(StoreError::DiskFull { .. }) => {
                self.reopen(generation)?;
                let (handle, _) = self.current().ok_or(StoreError::Closed)?;
                handle.append(entry)
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
