//! The writer: one thread owns the current segment, collects concurrent appends into a batch,
//! writes it, fdatasyncs once and only then acknowledges every append in it (group commit).
//! It also seals every N records or T seconds and rotates segments by size or by UTC day.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{ParseError, StoreError};
use crate::record::{Digest, Entry, Event, Label, LogId, Record, Seal, Timestamp, FORMAT_VERSION};
use crate::seal::{key_file_is_clean, read_key_file, write_key_file, SealContext, SealKey};
use crate::segments::{list_segments, pending_quarantine, quarantine_name, segment_name};
use crate::storage::{DiskStorage, SegmentFile, Storage};

pub use cardgate_office::{Clock, SystemClock};

/// Now, as a record's time stamp, from the one clock's wall reading.
fn stamp(clock: &dyn Clock) -> Timestamp {
    Timestamp::from_datetime(clock.wall())
}

/// How the writer behaves.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// The log directory.
    pub dir: PathBuf,
    /// This terminal's name, written into every record.
    pub terminal: Label,
    /// Seal after this many records (N).
    pub seal_every_records: u64,
    /// Seal when records have waited this long unsealed (T).
    pub seal_interval: Duration,
    /// Start a new segment when the current one reaches this size.
    pub max_segment_bytes: u64,
    /// Start a new segment when the UTC day changes.
    pub rotate_daily: bool,
    /// Most appends in one group commit.
    pub max_batch: usize,
    /// The file system seam.
    pub storage: Arc<dyn Storage>,
    /// The one clock (`cardgate_office`): its wall reading dates the records, its monotonic
    /// reading times the seals. The daemon passes the clock its engine reads.
    pub clock: Arc<dyn Clock>,
    /// Append a `heartbeat` record (sealed at once) when nothing was written for this long,
    /// so that a collector can tell a live, idle terminal from one whose records stopped
    /// arriving (issue 13). `None`: never (the default; `cardgated` sets it from
    /// `[audit] heartbeat_minutes`).
    pub heartbeat: Option<Duration>,
}

impl AuditConfig {
    /// Defaults: seal every 1000 records or 60 s, 64 MiB segments, daily rotation, batches of
    /// up to 1024, real disk and clock, no heartbeat.
    pub fn new(dir: impl Into<PathBuf>, terminal: Label) -> Self {
        AuditConfig {
            dir: dir.into(),
            terminal,
            seal_every_records: 1000,
            seal_interval: Duration::from_secs(60),
            max_segment_bytes: 64 * 1024 * 1024,
            rotate_daily: true,
            max_batch: 1024,
            storage: Arc::new(DiskStorage),
            clock: Arc::new(SystemClock),
            heartbeat: None,
        }
    }
}

/// What an append got: its sequence number and the hash of its line (the new chain head).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// Sequence number.
    pub seq: u64,
    /// SHA-256 of its line.
    pub hash: Digest,
}

/// What `open` found and did.
#[derive(Debug, Clone, Default)]
pub struct OpenReport {
    /// Quarantine files written and recorded (torn tails).
    pub quarantined: Vec<String>,
    /// Records that were unsealed at open and got sealed.
    pub sealed_on_open: u64,
    /// The key evolution interrupted by a crash was finished.
    pub finished_key_update: bool,
    /// The next sequence number.
    pub next_seq: u64,
}

type AppendResult = Result<Vec<Receipt>, StoreError>;
type SealResult = Result<Option<Receipt>, StoreError>;

enum Ack {
    Blocking(mpsc::SyncSender<AppendResult>),
    #[cfg(feature = "tokio")]
    Async(tokio::sync::oneshot::Sender<AppendResult>),
}

impl Ack {
    fn send(self, result: AppendResult) {
        // The appender may have gone away; its record is durable (or not) either way.
        match self {
            Ack::Blocking(tx) => {
                let _ = tx.send(result);
            }
            #[cfg(feature = "tokio")]
            Ack::Async(tx) => {
                let _ = tx.send(result);
            }
        }
    }
}

enum Command {
    /// One or more entries, committed together (all durable or none acknowledged).
    Append(Vec<Entry>, Ack),
    Seal(mpsc::SyncSender<SealResult>),
    Shutdown(mpsc::SyncSender<SealResult>),
}

/// A cheap, cloneable way to append from many threads (or tokio tasks).
#[derive(Clone)]
pub struct AuditHandle {
    tx: mpsc::Sender<Command>,
    background: Arc<Mutex<Option<StoreError>>>,
}

impl fmt::Debug for AuditHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditHandle")
    }
}

impl AuditHandle {
    /// Appends and returns once the record is on disk (fdatasync). Blocks; from tokio, call it
    /// in `spawn_blocking` or use `append_async` (feature `tokio`).
    pub fn append(&self, entry: Entry) -> Result<Receipt, StoreError> {
        single(self.append_batch(vec![entry]))
    }

    /// Appends `entries` as consecutive records in one commit (one fdatasync) and returns once
    /// all of them are on disk, with their receipts in order. All or nothing: when the write
    /// or the fdatasync fails, none of them is acknowledged and a failed write is cut back off
    /// the segment. A seal that falls due is written after the whole batch, never inside it.
    /// An empty batch writes nothing. Blocks, like [`AuditHandle::append`].
    pub fn append_batch(&self, entries: Vec<Entry>) -> Result<Vec<Receipt>, StoreError> {
        self.submit_batch(entries)?.wait()
    }

    /// Hands `entries` to the writer and returns at once; [`PendingAppend::wait`] returns once
    /// they are durable (or that they are not). A caller with other work to finish meanwhile
    /// (the daemon ends its card transaction) overlaps it with the fdatasync; nothing that
    /// depends on the records may happen before `wait` said they are on disk.
    pub fn submit_batch(&self, entries: Vec<Entry>) -> Result<PendingAppend, StoreError> {
        if entries.is_empty() {
            return Ok(PendingAppend(None));
        }
        let (tx, rx) = mpsc::sync_channel(1);
        self.tx
            .send(Command::Append(entries, Ack::Blocking(tx)))
            .map_err(|_| StoreError::Closed)?;
        Ok(PendingAppend(Some(rx)))
    }

    /// Appends without blocking the runtime; resolves once the record is on disk.
    #[cfg(feature = "tokio")]
    pub async fn append_async(&self, entry: Entry) -> Result<Receipt, StoreError> {
        single(self.append_batch_async(vec![entry]).await)
    }

    /// [`AuditHandle::append_batch`] without blocking the runtime.
    #[cfg(feature = "tokio")]
    pub async fn append_batch_async(
        &self,
        entries: Vec<Entry>,
    ) -> Result<Vec<Receipt>, StoreError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Command::Append(entries, Ack::Async(tx)))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Seals now, if anything is unsealed; returns the seal's receipt.
    pub fn seal_now(&self) -> Result<Option<Receipt>, StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.tx
            .send(Command::Seal(tx))
            .map_err(|_| StoreError::Closed)?;
        rx.recv().map_err(|_| StoreError::Closed)?
    }

    /// Why the writer's own work (a seal falling due by time, a heartbeat) last failed, if
    /// it did and has not succeeded since. Nobody waits on that work, so this is how the
    /// daemon learns of it (it logs it; the next append gets the same error).
    pub fn background_failure(&self) -> Option<StoreError> {
        match self.background.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// The one receipt of a batch of one.
fn single(result: AppendResult) -> Result<Receipt, StoreError> {
    result?.into_iter().next().ok_or(StoreError::Closed)
}

/// A batch handed to the writer ([`AuditHandle::submit_batch`]) whose fdatasync may not be
/// done yet.
#[must_use = "records are not known durable until `wait` says so"]
#[derive(Debug)]
pub struct PendingAppend(Option<mpsc::Receiver<AppendResult>>);

impl PendingAppend {
    /// Blocks until the batch is durable, all of it, or not at all.
    pub fn wait(self) -> Result<Vec<Receipt>, StoreError> {
        match self.0 {
            None => Ok(Vec::new()),
            Some(rx) => rx.recv().map_err(|_| StoreError::Closed)?,
        }
    }
}

/// An open audit log: owns the writer thread; closing (or dropping) it seals what is unsealed.
pub struct AuditLog {
    handle: AuditHandle,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditLog")
    }
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("syncing the directory", dir, e))
}

fn new_log_id() -> Result<LogId, StoreError> {
    use ring::rand::SecureRandom;
    let mut id = [0u8; 16];
    ring::rand::SystemRandom::new().fill(&mut id).map_err(|_| {
        StoreError::io(
            "generating the log ID",
            "",
            std::io::Error::other("no randomness"),
        )
    })?;
    Ok(LogId(id))
}

impl AuditLog {
    /// Creates a log in `dir` (made 0700 if missing): a genesis record and seal 0, then the key
    /// file at epoch 1. Returns `k(0)`, the verification key, which is stored nowhere.
    pub fn init(dir: &Path, terminal: Label, clock: &dyn Clock) -> Result<SealKey, StoreError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| StoreError::io("creating the log directory", dir, e))?;
        let segments =
            list_segments(dir).map_err(|e| StoreError::io("listing the log directory", dir, e))?;
        if !segments.is_empty() || read_key_file(dir)?.is_some() {
            return Err(StoreError::AlreadyInitialised(dir.to_owned()));
        }
        let log_id = new_log_id()?;
        let k0 = SealKey::generate().map_err(|_| {
            StoreError::io(
                "generating the key",
                dir,
                std::io::Error::other("no randomness"),
            )
        })?;
        let now = stamp(clock);
        let genesis = Record {
            seq: 0,
            time: now,
            terminal: terminal.clone(),
            reader: None,
            card: None,
            operator: None,
            uid: None,
            event: Event::Genesis {
                log_id,
                format: FORMAT_VERSION,
            },
            prev: Digest::default(),
        };
        let line0 = genesis.to_line();
        let head = Digest::sha256(&line0);
        let seal = Record {
            seq: 1,
            time: now,
            terminal: terminal.clone(),
            reader: None,
            card: None,
            operator: None,
            uid: None,
            event: Event::LogSealed(k0.seal(
                &SealContext {
                    log_id: &log_id,
                    time: now,
                    terminal: &terminal,
                },
                0,
                0,
                0,
                head,
            )),
            prev: head,
        };
        let mut bytes = line0;
        bytes.push(b'\n');
        bytes.extend_from_slice(&seal.to_line());
        bytes.push(b'\n');
        let path = dir.join(segment_name(1));
        let mut file = DiskStorage
            .open_segment(&path)
            .map_err(|e| StoreError::io("creating the first segment", &path, e))?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_data())
            .map_err(|e| StoreError::io("writing the first segment", &path, e))?;
        write_key_file(dir, 1, &k0.evolve())?;
        Ok(k0)
    }

    /// Opens the log for appending: takes the directory lock, quarantines and records a torn
    /// last line, finishes an interrupted key update, seals what was left unsealed, and starts
    /// the writer thread.
    pub fn open(config: AuditConfig) -> Result<(AuditLog, OpenReport), StoreError> {
        let (mut writer, pending) = Writer::recover(&config)?;
        let mut report = OpenReport {
            finished_key_update: writer.finished_key_update,
            ..OpenReport::default()
        };
        let mut entries = Vec::new();
        for name in &pending {
            let path = config.dir.join(name);
            let bytes = fs::read(&path)
                .map_err(|e| StoreError::io("reading a quarantine file", &path, e))?;
            let file = Label::new(name.clone()).map_err(|source| StoreError::Field {
                field: "file",
                source,
            })?;
            entries.push(Entry::new(Event::TornTailQuarantined {
                file,
                bytes: bytes.len() as u64,
                sha256: Digest::sha256(&bytes),
            }));
        }
        report.quarantined = pending;
        let unsealed = writer.unsealed() + entries.len() as u64;
        if unsealed > 0 {
            writer.commit(entries, true)?;
            report.sealed_on_open = unsealed;
        }
        report.next_seq = writer.next_seq;
        let (tx, rx) = mpsc::channel();
        let background = writer.background.clone();
        let thread = std::thread::Builder::new()
            .name("cardgate-audit-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StoreError::io("starting the writer thread", &config.dir, e))?;
        Ok((
            AuditLog {
                handle: AuditHandle { tx, background },
                thread: Some(thread),
            },
            report,
        ))
    }

    /// A handle for other threads.
    pub fn handle(&self) -> AuditHandle {
        self.handle.clone()
    }

    /// Appends; returns once durable. See [`AuditHandle::append`].
    pub fn append(&self, entry: Entry) -> Result<Receipt, StoreError> {
        self.handle.append(entry)
    }

    /// Appends a batch in one commit; returns once all of it is durable. See
    /// [`AuditHandle::append_batch`].
    pub fn append_batch(&self, entries: Vec<Entry>) -> Result<Vec<Receipt>, StoreError> {
        self.handle.append_batch(entries)
    }

    /// Seals now. See [`AuditHandle::seal_now`].
    pub fn seal_now(&self) -> Result<Option<Receipt>, StoreError> {
        self.handle.seal_now()
    }

    /// Seals what is unsealed and stops the writer.
    pub fn close(mut self) -> Result<Option<Receipt>, StoreError> {
        self.shutdown()
    }

    /// Checks, without taking the lock or writing anything, that [`AuditLog::open`] would find
    /// a log in `dir`: initialised, its key file readable, every segment readable, the last
    /// record and the genesis parse. Returns the sequence number the next record would take.
    /// `cardgated --check-config` and the daemon's start use it (a running daemon holds the
    /// lock, and a check must not quarantine a torn tail or seal anything). A torn last line
    /// is not an error here: the daemon's open quarantines it.
    pub fn probe(dir: &Path) -> Result<u64, StoreError> {
        if !dir.is_dir() {
            return Err(StoreError::NotInitialised(dir.to_owned()));
        }
        let segments =
            list_segments(dir).map_err(|e| StoreError::io("listing the log directory", dir, e))?;
        let Some((_, last_path)) = segments.last() else {
            return Err(StoreError::NotInitialised(dir.to_owned()));
        };
        read_key_file(dir)?
            .ok_or_else(|| StoreError::BadKeyFile(crate::seal::key_file_path(dir)))?;
        for (_, path) in &segments {
            File::open(path).map_err(|e| StoreError::io("opening a segment", path, e))?;
        }
        let mut bytes =
            fs::read(last_path).map_err(|e| StoreError::io("reading a segment", last_path, e))?;
        let complete_len = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        bytes.truncate(complete_len);
        Ok(read_tail(&segments, &bytes)?.last.seq + 1)
    }

    fn shutdown(&mut self) -> Result<Option<Receipt>, StoreError> {
        let Some(thread) = self.thread.take() else {
            return Ok(None);
        };
        let (tx, rx) = mpsc::sync_channel(1);
        let result = match self.handle.tx.send(Command::Shutdown(tx)) {
            Ok(()) => rx.recv().unwrap_or(Err(StoreError::Closed)),
            Err(_) => Err(StoreError::Closed),
        };
        let _ = thread.join();
        result
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// The least wait before the writer retries its own work (a seal by time, a heartbeat) after
/// it failed.
const BACKGROUND_RETRY: Duration = Duration::from_secs(5);

struct Writer {
    dir: PathBuf,
    terminal: Label,
    storage: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    seal_every_records: u64,
    seal_interval: Duration,
    max_segment_bytes: u64,
    rotate_daily: bool,
    max_batch: usize,
    segment_no: u64,
    segment: Box<dyn SegmentFile>,
    segment_len: u64,
    segment_day: Option<i64>,
    next_seq: u64,
    prev: Digest,
    last_time: Timestamp,
    log_id: LogId,
    key: SealKey,
    epoch: u64,
    first_unsealed: u64,
    last_seal_at: Instant,
    poisoned: bool,
    finished_key_update: bool,
    heartbeat: Option<Duration>,
    /// When the last record (of any kind) was written, on the monotonic clock.
    last_write_at: Instant,
    background: Arc<Mutex<Option<StoreError>>>,
    _lock: File,
}

/// The tail of the log as found on disk.
struct Tail {
    last: Record,
    last_hash: Digest,
    last_seal: Option<(Seal, Timestamp, Label)>,
    log_id: LogId,
    segment_day: Option<i64>,
}

fn split_lines(bytes: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    bytes
        .strip_suffix(b"\n")
        .unwrap_or(bytes)
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
}

fn parse_at(line: &[u8], file: &Path, number: u64) -> Result<Record, StoreError> {
    Record::parse(line).map_err(|source: ParseError| StoreError::Corrupt {
        file: file.to_owned(),
        line: number,
        source: Arc::new(source),
    })
}

/// Reads the last record, the last seal and the log ID. `last_segment` is the complete part of
/// the last segment (its torn tail already cut off).
fn read_tail(segments: &[(u64, PathBuf)], last_segment: &[u8]) -> Result<Tail, StoreError> {
    let mut last: Option<(Record, Digest)> = None;
    let mut last_seal = None;
    let mut segment_day = None;
    for (index, (_, path)) in segments.iter().enumerate().rev() {
        let owned;
        let bytes: &[u8] = if index + 1 == segments.len() {
            last_segment
        } else {
            owned = fs::read(path).map_err(|e| StoreError::io("reading a segment", path, e))?;
            &owned
        };
        let count = split_lines(bytes).count() as u64;
        if index + 1 == segments.len() {
            if let Some(first) = split_lines(bytes).next() {
                segment_day = Some(parse_at(first, path, 1)?.time.utc_day());
            }
        }
        for (i, line) in split_lines(bytes).rev().enumerate() {
            let number = count - i as u64;
            let record = parse_at(line, path, number)?;
            if last.is_none() {
                last = Some((record.clone(), Digest::sha256(line)));
            }
            if let Event::LogSealed(seal) = &record.event {
                last_seal = Some((seal.clone(), record.time, record.terminal.clone()));
                break;
            }
        }
        if last_seal.is_some() && last.is_some() {
            break;
        }
    }
    let (_, first_path) = segments
        .first()
        .ok_or_else(|| StoreError::NotInitialised(PathBuf::new()))?;
    let first_bytes = if segments.len() == 1 {
        last_segment.to_vec()
    } else {
        fs::read(first_path).map_err(|e| StoreError::io("reading a segment", first_path, e))?
    };
    let genesis_line = split_lines(&first_bytes)
        .next()
        .ok_or_else(|| StoreError::NotInitialised(first_path.clone()))?;
    let log_id = match parse_at(genesis_line, first_path, 1)?.event {
        Event::Genesis { log_id, .. } => log_id,
        _ => return Err(StoreError::NotInitialised(first_path.clone())),
    };
    let (last, last_hash) = last.ok_or_else(|| StoreError::NotInitialised(first_path.clone()))?;
    Ok(Tail {
        last,
        last_hash,
        last_seal,
        log_id,
        segment_day,
    })
}

impl Writer {
    #[allow(clippy::incompatible_msrv)] // File::try_lock: the workspace builds with 1.89+.
    fn take_lock(dir: &Path) -> Result<File, StoreError> {
        let path = dir.join("lock");
        let lock = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| StoreError::io("opening the lock file", &path, e))?;
        match lock.try_lock() {
            Ok(()) => Ok(lock),
            Err(fs::TryLockError::WouldBlock) => Err(StoreError::Locked(dir.to_owned())),
            Err(fs::TryLockError::Error(e)) => Err(StoreError::io("locking the log", &path, e)),
        }
    }

    fn recover(config: &AuditConfig) -> Result<(Writer, Vec<String>), StoreError> {
        let dir = &config.dir;
        if !dir.is_dir() {
            return Err(StoreError::NotInitialised(dir.clone()));
        }
        let lock = Self::take_lock(dir)?;
        let segments =
            list_segments(dir).map_err(|e| StoreError::io("listing the log directory", dir, e))?;
        let Some((last_no, last_path)) = segments.last().cloned() else {
            return Err(StoreError::NotInitialised(dir.clone()));
        };
        let key_file = read_key_file(dir)?
            .ok_or_else(|| StoreError::BadKeyFile(crate::seal::key_file_path(dir)))?;
        let mut bytes =
            fs::read(&last_path).map_err(|e| StoreError::io("reading a segment", &last_path, e))?;
        let complete_len = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let torn = bytes.split_off(complete_len);
        // With an empty (fresh) last segment, the tail is in the segments before it.
        let tail = read_tail(&segments, &bytes)?;
        let next_seq = tail.last.seq + 1;

        let mut segment = config
            .storage
            .open_segment(&last_path)
            .map_err(|e| StoreError::io("opening a segment", &last_path, e))?;
        if !torn.is_empty() {
            let name = quarantine_name(next_seq, stamp(&*config.clock).unix_ms());
            let qpath = dir.join(&name);
            let mut q = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&qpath)
                .map_err(|e| StoreError::io("creating a quarantine file", &qpath, e))?;
            q.write_all(&torn)
                .and_then(|()| q.sync_all())
                .map_err(|e| StoreError::io("writing a quarantine file", &qpath, e))?;
            sync_dir(dir)?;
            segment
                .truncate(complete_len as u64)
                .and_then(|()| segment.sync_data())
                .map_err(|e| StoreError::io("cutting the torn tail", &last_path, e))?;
        }
        let pending = pending_quarantine(dir, next_seq)
            .map_err(|e| StoreError::io("listing quarantine files", dir, e))?;

        let last_seal_epoch = tail.last_seal.as_ref().map(|s| s.0.epoch);
        let mismatch = StoreError::KeyDoesNotMatchLog {
            key_epoch: key_file.epoch,
            last_seal_epoch,
        };
        let (key, epoch, finished_key_update) = match &tail.last_seal {
            Some((seal, _, _)) if key_file.epoch == seal.epoch + 1 => {
                (key_file.key, key_file.epoch, false)
            }
            // A crash between writing a seal and evolving the key: the key still seals the last
            // seal correctly, so evolve it now.
            Some((seal, time, terminal))
                if key_file.epoch == seal.epoch
                    && key_file.key.check(
                        &SealContext {
                            log_id: &tail.log_id,
                            time: *time,
                            terminal,
                        },
                        seal,
                    ) =>
            {
                let next = key_file.key.evolve();
                write_key_file(dir, seal.epoch + 1, &next)?;
                (next, seal.epoch + 1, true)
            }
            _ => return Err(mismatch),
        };
        // Whatever else the key file still holds (an older key in the other slot after a crash
        // between the two slot writes, the old one-line format, a `seal.key.new` of the old
        // scheme) is overwritten now, before anything is appended.
        if !finished_key_update && !key_file_is_clean(dir)? {
            write_key_file(dir, epoch, &key)?;
        }
        let first_unsealed = tail.last_seal.as_ref().map_or(0, |s| s.0.last_seq + 2);
        let writer = Writer {
            dir: dir.clone(),
            terminal: config.terminal.clone(),
            storage: config.storage.clone(),
            clock: config.clock.clone(),
            seal_every_records: config.seal_every_records.max(1),
            seal_interval: config.seal_interval,
            max_segment_bytes: config.max_segment_bytes,
            rotate_daily: config.rotate_daily,
            max_batch: config.max_batch.max(1),
            segment_no: last_no,
            segment,
            segment_len: complete_len as u64,
            segment_day: tail.segment_day,
            next_seq,
            prev: tail.last_hash,
            last_time: tail.last.time,
            log_id: tail.log_id,
            key,
            epoch,
            first_unsealed,
            last_seal_at: config.clock.monotonic(),
            poisoned: false,
            finished_key_update,
            heartbeat: config.heartbeat.filter(|h| !h.is_zero()),
            last_write_at: config.clock.monotonic(),
            background: Arc::new(Mutex::new(None)),
            _lock: lock,
        };
        Ok((writer, pending))
    }

    fn since_last_seal(&self) -> Duration {
        self.clock
            .monotonic()
            .saturating_duration_since(self.last_seal_at)
    }

    fn unsealed(&self) -> u64 {
        self.next_seq - self.first_unsealed
    }

    fn rotate_if_due(&mut self, now: Timestamp) -> Result<(), StoreError> {
        let too_big = self.segment_len > 0 && self.segment_len >= self.max_segment_bytes;
        let new_day = self.rotate_daily && self.segment_day.is_some_and(|d| d != now.utc_day());
        if !(too_big || new_day) {
            return Ok(());
        }
        let path = self.dir.join(segment_name(self.segment_no + 1));
        let segment = self
            .storage
            .open_segment(&path)
            .map_err(|e| StoreError::io("starting a new segment", &path, e))?;
        self.segment = segment;
        self.segment_no += 1;
        self.segment_len = 0;
        self.segment_day = None;
        Ok(())
    }

    fn record(&self, seq: u64, time: Timestamp, prev: Digest, entry: Entry) -> Record {
        Record {
            seq,
            time,
            terminal: entry.terminal.unwrap_or_else(|| self.terminal.clone()),
            reader: entry.reader,
            card: entry.card,
            operator: entry.operator,
            uid: entry.uid,
            event: entry.event,
            prev,
        }
    }

    /// Writes `entries` (and a seal when due or forced) as one batch, fdatasyncs, and returns
    /// their receipts and the seal's. Nothing is acknowledged unless the fdatasync succeeded.
    fn commit(
        &mut self,
        entries: Vec<Entry>,
        force_seal: bool,
    ) -> Result<(Vec<Receipt>, Option<Receipt>), StoreError> {
        if self.poisoned {
            return Err(StoreError::Poisoned);
        }
        let now = stamp(&*self.clock).max(self.last_time);
        self.rotate_if_due(now)?;
        let mut buf = Vec::with_capacity(entries.len() * 256);
        let mut seq = self.next_seq;
        let mut prev = self.prev;
        let mut receipts = Vec::with_capacity(entries.len());
        for entry in entries {
            let line = self.record(seq, now, prev, entry).to_line();
            prev = Digest::sha256(&line);
            receipts.push(Receipt { seq, hash: prev });
            buf.extend_from_slice(&line);
            buf.push(b'\n');
            seq += 1;
        }
        let unsealed = seq - self.first_unsealed;
        let seal_due = unsealed >= self.seal_every_records
            || (unsealed > 0 && self.since_last_seal() >= self.seal_interval);
        let mut seal_receipt = None;
        if unsealed > 0 && (force_seal || seal_due) {
            let at = SealContext {
                log_id: &self.log_id,
                time: now,
                terminal: &self.terminal,
            };
            let seal = self
                .key
                .seal(&at, self.epoch, self.first_unsealed, seq - 1, prev);
            let line = self
                .record(seq, now, prev, Entry::new(Event::LogSealed(seal)))
                .to_line();
            prev = Digest::sha256(&line);
            seal_receipt = Some(Receipt { seq, hash: prev });
            buf.extend_from_slice(&line);
            buf.push(b'\n');
            seq += 1;
        }
        if buf.is_empty() {
            return Ok((receipts, None));
        }
        let path = || self.dir.join(segment_name(self.segment_no));
        if let Err(e) = self.segment.write_all(&buf) {
            // Undo the partial write so the file ends on a whole line again; if even that
            // fails, stop: the next open will quarantine whatever is there.
            if self
                .segment
                .truncate(self.segment_len)
                .and_then(|()| self.segment.sync_data())
                .is_err()
            {
                self.poisoned = true;
                return Err(StoreError::NotCutOff {
                    op: "appending",
                    path: path(),
                    source: std::sync::Arc::new(e),
                });
            }
            return Err(StoreError::io("appending", path(), e));
        }
        if let Err(e) = self.segment.sync_data() {
            // After a failed fdatasync the page cache cannot be trusted (fsyncgate): stop.
            // First cut the unacknowledged batch back off the file: left there, the next open
            // would read it as written, and a login refused for want of its record would read
            // as granted. (Not synced: the open that heals the log reads the same page cache.)
            let cut = self.segment.truncate(self.segment_len);
            self.poisoned = true;
            return Err(match cut {
                Ok(()) => StoreError::io("syncing", path(), e),
                Err(_) => StoreError::NotCutOff {
                    op: "syncing",
                    path: path(),
                    source: std::sync::Arc::new(e),
                },
            });
        }
        self.segment_len += buf.len() as u64;
        self.segment_day.get_or_insert(now.utc_day());
        self.next_seq = seq;
        self.prev = prev;
        self.last_time = now;
        if let Some(seal) = &seal_receipt {
            self.first_unsealed = seal.seq + 1;
            self.last_seal_at = self.clock.monotonic();
            // Only now, with the seal durable, may k(i) go: erased earlier, a crash would leave
            // records that no key can seal at epoch i. Erased later, the disk would hold a key
            // that already sealed records. A crash between the fdatasync above and the slot
            // writes below is the one window; the next open evolves and overwrites it first.
            let next = self.key.evolve();
            // The old key is zeroized when it is replaced here.
            self.key = next;
            self.epoch += 1;
            if write_key_file(&self.dir, self.epoch, &self.key).is_err() {
                // The records are durable, but the disk may still hold the old key: stop taking
                // appends until an open finishes the update.
                self.poisoned = true;
            }
        }
        self.last_write_at = self.clock.monotonic();
        Ok((receipts, seal_receipt))
    }

    fn since_last_write(&self) -> Duration {
        self.clock
            .monotonic()
            .saturating_duration_since(self.last_write_at)
    }

    /// How long the writer may wait for an append before it has work of its own: a seal
    /// falling due by time, or a heartbeat. After its own work failed it waits at least
    /// [`BACKGROUND_RETRY`], so that a full disk is not retried in a busy loop.
    fn idle_wait(&self, failed: bool) -> Duration {
        let seal = (self.unsealed() > 0)
            .then(|| self.seal_interval.saturating_sub(self.since_last_seal()));
        let heartbeat = self
            .heartbeat
            .map(|h| h.saturating_sub(self.since_last_write()));
        let wait = match (seal, heartbeat) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => Duration::from_secs(3600),
        };
        if failed {
            wait.max(BACKGROUND_RETRY)
        } else {
            wait
        }
    }

    /// The writer's own work when no append came: the seal that fell due, else the
    /// heartbeat (with its seal, in one batch). Returns whether it failed.
    fn background_work(&mut self) -> bool {
        let result = if self.unsealed() > 0 && self.since_last_seal() >= self.seal_interval {
            self.commit(Vec::new(), true)
        } else if self.heartbeat.is_some_and(|h| self.since_last_write() >= h) {
            self.commit(vec![Entry::new(Event::Heartbeat)], true)
        } else {
            return false;
        };
        let failure = result.err();
        let failed = failure.is_some();
        match self.background.lock() {
            Ok(mut guard) => *guard = failure,
            Err(poisoned) => *poisoned.into_inner() = failure,
        }
        failed
    }

    fn run(mut self, rx: mpsc::Receiver<Command>) {
        let mut failed = false;
        loop {
            let first = match rx.recv_timeout(self.idle_wait(failed)) {
                Ok(cmd) => cmd,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    failed = self.background_work();
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // Every handle is gone (the log was dropped without `close`): seal what is
                    // left. Nobody is left to tell of a failure; the next open seals it.
                    if self.commit(Vec::new(), true).is_err() {
                        self.poisoned = true;
                    }
                    return;
                }
            };
            failed = false;
            let mut batch = vec![first];
            while batch.len() < self.max_batch {
                match rx.try_recv() {
                    Ok(cmd) => batch.push(cmd),
                    Err(_) => break,
                }
            }
            let mut entries = Vec::with_capacity(batch.len());
            // Each appender's ack and how many of the entries are its own, in order.
            let mut acks: Vec<(Ack, usize)> = Vec::with_capacity(batch.len());
            let mut seal_acks = Vec::new();
            let mut shutdown = None;
            for cmd in batch {
                match cmd {
                    Command::Append(mine, ack) => {
                        acks.push((ack, mine.len()));
                        entries.extend(mine);
                    }
                    Command::Seal(tx) => seal_acks.push(tx),
                    Command::Shutdown(tx) => shutdown = Some(tx),
                }
            }
            let force = !seal_acks.is_empty() || shutdown.is_some();
            match self.commit(entries, force) {
                Ok((receipts, seal)) => {
                    let mut receipts = receipts.into_iter();
                    for (ack, count) in acks {
                        ack.send(Ok(receipts.by_ref().take(count).collect()));
                    }
                    for tx in seal_acks {
                        let _ = tx.send(Ok(seal));
                    }
                    if let Some(tx) = shutdown {
                        let _ = tx.send(Ok(seal));
                        return;
                    }
                }
                Err(e) => {
                    for (ack, _) in acks {
                        ack.send(Err(e.clone()));
                    }
                    for tx in seal_acks {
                        let _ = tx.send(Err(e.clone()));
                    }
                    if let Some(tx) = shutdown {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        }
    }
}
