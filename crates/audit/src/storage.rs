//! Where segment bytes go: the seam between the writer and the file system, so tests can make
//! writes and fsyncs fail (disk full, EIO) or tear (crash tests).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// An open segment file, written only at its end.
pub trait SegmentFile: Send {
    /// Writes all of `bytes` at the end.
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// fdatasync.
    fn sync_data(&mut self) -> io::Result<()>;
    /// Cuts the file back to `len` bytes (to undo a failed write that was never acknowledged).
    fn truncate(&mut self, len: u64) -> io::Result<()>;
    /// Current length.
    fn len(&self) -> io::Result<u64>;
    /// True when empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// Opens segment files.
pub trait Storage: Send + Sync + fmt::Debug {
    /// Opens `path` for appending, creating it (mode 0640, directory fsynced) when missing.
    /// Group-readable so that the access manager's group reads the log it reviews (art. 7)
    /// when the daemon shares the directory with it (setgid, `root:<manager_group>` 2750);
    /// in a directory that is root's alone (0700) the group bit gives nothing.
    fn open_segment(&self, path: &Path) -> io::Result<Box<dyn SegmentFile>>;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct DiskStorage;

struct DiskSegment(File);

impl SegmentFile for DiskSegment {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
}

impl Storage for DiskStorage {
    fn open_segment(&self, path: &Path) -> io::Result<Box<dyn SegmentFile>> {
        let existed = path.exists();
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .open(path)?;
        if !existed {
            file.sync_all()?;
            if let Some(dir) = path.parent() {
                File::open(dir)?.sync_all()?;
            }
        }
        Ok(Box::new(DiskSegment(file)))
    }
}

/// What the fault-injecting storage does; shared with the test, which changes it on the fly.
#[derive(Debug, Default)]
pub struct FaultPlan {
    /// Bytes that may still be written before writes fail with ENOSPC (`u64::MAX`: unlimited).
    /// The failing write writes what still fits, like a real file system.
    pub space_left: AtomicU64,
    /// When set, every write fails with EIO before writing anything.
    pub fail_writes: AtomicBool,
    /// When set, every fdatasync fails with EIO.
    pub fail_syncs: AtomicBool,
    /// When non-zero, writes go out in chunks of this many bytes, one syscall each, so that a
    /// `kill -9` can land between them and leave a torn line.
    pub chunk: AtomicUsize,
    /// Pause between chunks, in microseconds, to widen the window for a `kill -9`.
    pub chunk_pause_us: AtomicU64,
}

impl FaultPlan {
    /// A plan that injects nothing.
    pub fn new() -> Arc<Self> {
        Arc::new(FaultPlan {
            space_left: AtomicU64::new(u64::MAX),
            ..FaultPlan::default()
        })
    }
}

/// A [`Storage`] over the real file system that fails or tears on command ([`FaultPlan`]).
#[derive(Debug, Clone)]
pub struct FaultyStorage {
    /// The plan.
    pub plan: Arc<FaultPlan>,
}

struct FaultySegment {
    inner: Box<dyn SegmentFile>,
    plan: Arc<FaultPlan>,
}

fn os_error(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

const ENOSPC: i32 = 28;
const EIO: i32 = 5;

impl SegmentFile for FaultySegment {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.plan.fail_writes.load(Ordering::SeqCst) {
            return Err(os_error(EIO));
        }
        let left = self.plan.space_left.load(Ordering::SeqCst);
        let fits = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
        let chunk = match self.plan.chunk.load(Ordering::SeqCst) {
            0 => usize::MAX,
            n => n,
        };
        let pause = self.plan.chunk_pause_us.load(Ordering::SeqCst);
        for piece in bytes[..fits].chunks(chunk) {
            self.inner.write_all(piece)?;
            if pause > 0 {
                std::thread::sleep(std::time::Duration::from_micros(pause));
            }
        }
        if left != u64::MAX {
            self.plan
                .space_left
                .fetch_sub(fits as u64, Ordering::SeqCst);
        }
        if fits < bytes.len() {
            return Err(os_error(ENOSPC));
        }
        Ok(())
    }
    fn sync_data(&mut self) -> io::Result<()> {
        if self.plan.fail_syncs.load(Ordering::SeqCst) {
            return Err(os_error(EIO));
        }
        self.inner.sync_data()
    }
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.inner.truncate(len)
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
}

impl Storage for FaultyStorage {
    fn open_segment(&self, path: &Path) -> io::Result<Box<dyn SegmentFile>> {
        Ok(Box::new(FaultySegment {
            inner: DiskStorage.open_segment(path)?,
            plan: self.plan.clone(),
        }))
    }
}
