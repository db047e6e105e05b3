//! The scale benchmark of issue 13, item 7: a month of 1,000 terminals, written by the real
//! writer, laid out as the collector's files, and verified centrally with every terminal's
//! k(0), side by side with ring's raw SHA-256 over the same bytes in the same run.
//!
//! `cargo bench -p cardgate-audit --bench month` (and `cargo xtask bench`). A smaller month for
//! a quick check: `CARDGATE_MONTH_TERMINALS=50 CARDGATE_MONTH_DAYS=7 cargo bench -p
//! cardgate-audit --bench month`. The generated month is cached under
//! `target/bench-month/` and reused while the generator's version and the size match.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cardgate_audit::collected::{list_terminals, Judge, StreamOptions, TerminalStream};
use cardgate_audit::record::{DenyReason, EndReason, LockReason, NoteKind, StopReason, Text};
use cardgate_audit::segments::list_segments;
use cardgate_audit::storage::{DiskStorage, SegmentFile, Storage};
use cardgate_audit::{AuditConfig, AuditLog, Digest, Entry, Event, Label, SealKey, Timestamp};
use cardgate_card::{CardSerial, Role};

/// Bump when what is generated changes: a cache of another version is made again.
const GENERATOR_VERSION: u32 = 1;
/// 2026-11-01T00:00:00Z, a Sunday.
const MONTH_START_MS: i64 = 1_793_491_200_000;
const HOUR: i64 = 3_600_000;
const MINUTE: i64 = 60_000;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The real disk without fdatasync: the generator writes a month in minutes, not hours. The
/// records, chain and seals are the writer's own.
#[derive(Debug)]
struct NoSync;

struct NoSyncFile(Box<dyn SegmentFile>);

impl SegmentFile for NoSyncFile {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.0.write_all(bytes)
    }
    fn sync_data(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        self.0.truncate(len)
    }
    fn len(&self) -> std::io::Result<u64> {
        self.0.len()
    }
}

impl Storage for NoSync {
    fn open_segment(&self, path: &Path) -> std::io::Result<Box<dyn SegmentFile>> {
        Ok(Box::new(NoSyncFile(DiskStorage.open_segment(path)?)))
    }
}

/// A small deterministic PRNG (xorshift64*), one per terminal.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn label(s: &str) -> Label {
    Label::new(s).unwrap()
}

/// One terminal's day-to-day, through the real writer.
struct Terminal {
    log: AuditLog,
    clock: Arc<cardgate_office::ManualClock>,
    now: i64,
    last_write: i64,
    rng: Rng,
    id: usize,
    reader: Label,
}

impl Terminal {
    fn to(&mut self, t: i64) {
        // A live daemon writes a heartbeat (sealed at once) after 15 minutes without a
        // record.
        while self.last_write >= 0 && t - self.last_write >= 15 * MINUTE {
            let beat = self.last_write + 15 * MINUTE;
            self.step(beat);
            self.log.append(Entry::new(Event::Heartbeat)).unwrap();
            self.log.seal_now().unwrap();
            self.last_write = beat;
        }
        self.step(t);
    }

    fn step(&mut self, t: i64) {
        if t > self.now {
            self.clock
                .advance(Duration::from_millis((t - self.now) as u64));
            self.now = t;
        }
    }

    fn batch(&mut self, entries: Vec<Entry>) {
        self.log.append_batch(entries).unwrap();
        self.last_write = self.now;
    }

    fn card_entry(&self, op: u64, event: Event) -> Entry {
        Entry::new(event)
            .reader(self.reader.clone())
            .card(CardSerial(((self.id as u64) << 8 | op).to_be_bytes()))
            .operator(label(&format!("op-{:04}-{op}", self.id)))
            .uid(1000 + op as u32)
    }

    /// A business day: start, sessions until the evening, stop.
    fn day(&mut self, day_start: i64) {
        self.to(day_start);
        self.last_write = self.now;
        self.batch(vec![
            Entry::new(Event::DaemonStarted {
                version: label("0.1.0"),
            }),
            Entry::new(Event::RevocationListLoaded {
                version: 40 + (day_start / (24 * HOUR)) as u64 % 1000,
                entries: 12,
            }),
        ]);
        let end = day_start + 9 * HOUR + 30 * MINUTE;
        let mut t = day_start + 20 * MINUTE;
        while t < end {
            let op = self.rng.below(3);
            if self.rng.chance(8) {
                // A wrong PIN first.
                self.to(t);
                let e = vec![
                    self.card_entry(op, Event::CardInserted),
                    self.card_entry(
                        op,
                        Event::PinVerified {
                            correct: false,
                            tries_left: Some(2),
                        },
                    ),
                    self.card_entry(
                        op,
                        Event::LoginDenied {
                            reason: DenyReason::WrongPin,
                        },
                    ),
                ];
                self.batch(e);
                t += MINUTE;
            }
            if self.rng.chance(3) {
                // A refusal: a card on the wrong terminal.
                self.to(t);
                let e = vec![
                    self.card_entry(op, Event::CardInserted),
                    self.card_entry(
                        op,
                        Event::LoginDenied {
                            reason: DenyReason::NotAuthorisedHere,
                        },
                    ),
                    self.card_entry(op, Event::CardRemoved),
                ];
                self.batch(e);
                t += 2 * MINUTE;
                continue;
            }
            self.to(t);
            let e = vec![
                self.card_entry(op, Event::CardInserted),
                self.card_entry(
                    op,
                    Event::PinVerified {
                        correct: true,
                        tries_left: Some(3),
                    },
                ),
                self.card_entry(op, Event::CardAuthPassed),
                self.card_entry(
                    op,
                    Event::LoginGranted {
                        role: Role::Operator,
                    },
                ),
            ];
            self.batch(e);
            t += (5 + self.rng.below(40) as i64) * MINUTE;
            for _ in 0..self.rng.below(3) {
                self.to(t);
                let e = vec![
                    self.card_entry(
                        op,
                        Event::SessionLocked {
                            reason: LockReason::CardRemoved,
                            session_type: None,
                            locked_hint: Some(true),
                        },
                    ),
                    self.card_entry(op, Event::CardRemoved),
                ];
                self.batch(e);
                t += (1 + self.rng.below(30) as i64) * MINUTE;
                self.to(t);
                let e = vec![
                    self.card_entry(op, Event::CardInserted),
                    self.card_entry(
                        op,
                        Event::PinVerified {
                            correct: true,
                            tries_left: Some(3),
                        },
                    ),
                    self.card_entry(op, Event::SessionUnlocked),
                ];
                self.batch(e);
                t += (5 + self.rng.below(40) as i64) * MINUTE;
            }
            self.to(t);
            let e = vec![
                self.card_entry(
                    op,
                    Event::SessionEnded {
                        reason: EndReason::Logout,
                        session_type: None,
                        logind_state: None,
                    },
                ),
                self.card_entry(op, Event::CardRemoved),
            ];
            self.batch(e);
            if self.rng.chance(2) {
                let e = vec![Entry::new(Event::Note {
                    note: NoteKind::RoomEntry,
                    text: Text::new("サーバー室入室: UPS 点検").unwrap(),
                    who: Some(label("佐藤")),
                    escort: None,
                    by: Some(label("uid 1001 (kanri)")),
                })];
                self.batch(e);
            }
            t += (1 + self.rng.below(20) as i64) * MINUTE;
        }
        self.to(end.max(t));
        self.batch(vec![Entry::new(Event::DaemonStopped {
            reason: StopReason::Shutdown,
            unfinished: None,
        })]);
        // The daemon's close seals what is left; then it is off until the next day.
        self.log.seal_now().unwrap();
        self.last_write = -1;
    }
}

/// Writes terminal `id`'s month into `work`, then lays it out as the collector's file
/// `root/<host>/2026-11.jsonl`; returns k(0).
fn generate_terminal(id: usize, days: usize, work: &Path, root: &Path) -> SealKey {
    let host = format!("juki-{id:04}");
    let dir = work.join(&host);
    std::fs::remove_dir_all(&dir).ok();
    let t0 = Timestamp(MONTH_START_MS).to_datetime().unwrap();
    let clock = Arc::new(cardgate_office::ManualClock::new(t0));
    let k0 = AuditLog::init(&dir, label(&host), clock.as_ref()).unwrap();
    let mut c = AuditConfig::new(&dir, label(&host));
    c.seal_every_records = 1000;
    c.seal_interval = Duration::from_secs(300);
    c.storage = Arc::new(NoSync);
    c.clock = clock.clone();
    let (log, _) = AuditLog::open(c).unwrap();
    let mut t = Terminal {
        log,
        clock,
        now: MONTH_START_MS,
        last_write: -1,
        rng: Rng(0x9E37_79B9_7F4A_7C15 ^ (id as u64 + 1).wrapping_mul(0x1234_5678_9ABC)),
        id,
        reader: label("ACS ACR39U ICC Reader 00 00"),
    };
    for d in 0..days as i64 {
        // 2026-11-01 is a Sunday: business days are Monday to Friday.
        let weekday = (d + 6) % 7; // 0 = Monday
        if weekday < 5 {
            // 08:00 JST is 23:00 UTC the day before.
            let late = t.rng.below(20) as i64 * MINUTE;
            t.day(MONTH_START_MS + d * 24 * HOUR - HOUR + late);
        }
    }
    t.log.close().unwrap();
    let out_dir = root.join(&host);
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut out =
        std::io::BufWriter::new(std::fs::File::create(out_dir.join("2026-11.jsonl")).unwrap());
    for (_, seg) in list_segments(&dir).unwrap() {
        let mut f = std::fs::File::open(seg).unwrap();
        std::io::copy(&mut f, &mut out).unwrap();
    }
    out.flush().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    k0
}

/// `target/`, from this bench binary's place (`target/release/deps/month-…`).
fn target_dir() -> PathBuf {
    if let Ok(t) = std::env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(t);
    }
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "target"))
        .map(Path::to_path_buf)
        .unwrap_or_else(|| exe.parent().unwrap().join("bench-target"))
}

/// The month, generated or taken from the cache: the collected root and each host's k(0).
fn month(terminals: usize, days: usize) -> (PathBuf, BTreeMap<String, SealKey>) {
    let cache = target_dir()
        .join("bench-month")
        .join(format!("g{GENERATOR_VERSION}-t{terminals}-d{days}"));
    let root = cache.join("terminals");
    let keys_dir = cache.join("keys");
    let done = cache.join("complete");
    if !done.exists() {
        std::fs::remove_dir_all(&cache).ok();
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&keys_dir).unwrap();
        std::fs::set_permissions(&keys_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        // The writer's key file is fsynced at every seal (not through the storage seam): in
        // memory (tmpfs) that costs nothing, and each terminal's log is removed once laid out.
        let shm = Path::new("/dev/shm");
        let work = if shm.is_dir() {
            shm.join(format!("cardgate-month-{}", std::process::id()))
        } else {
            cache.join("work")
        };
        let started = Instant::now();
        let next = AtomicUsize::new(0);
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| loop {
                    let id = next.fetch_add(1, Ordering::SeqCst);
                    if id >= terminals {
                        return;
                    }
                    let k0 = generate_terminal(id, days, &work, &root);
                    let path = keys_dir.join(format!("juki-{id:04}.k0"));
                    let mut f = std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .mode(0o600)
                        .open(path)
                        .unwrap();
                    f.write_all(k0.to_hex().as_bytes()).unwrap();
                    f.write_all(b"\n").unwrap();
                });
            }
        });
        std::fs::remove_dir_all(&work).ok();
        std::fs::write(&done, format!("{:.1} s\n", started.elapsed().as_secs_f64())).unwrap();
        println!(
            "generated {terminals} terminals x {days} days in {:.1} s into {}",
            started.elapsed().as_secs_f64(),
            cache.display()
        );
    } else {
        println!("reusing the month in {}", cache.display());
    }
    let mut keys = BTreeMap::new();
    for entry in std::fs::read_dir(&keys_dir).unwrap() {
        let path = entry.unwrap().path();
        let host = path.file_stem().unwrap().to_string_lossy().into_owned();
        let hex = std::fs::read_to_string(&path).unwrap();
        keys.insert(host, SealKey::from_hex(&hex).unwrap());
    }
    (root, keys)
}

use std::os::unix::fs::OpenOptionsExt;

/// The collector's files, each read once into the page cache; their total size.
fn warm(root: &Path) -> u64 {
    let mut total = 0;
    let mut buf = vec![0u8; 1 << 20];
    for t in list_terminals(root).unwrap() {
        for f in &t.files {
            let mut file = std::fs::File::open(f).unwrap();
            loop {
                let n = file.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                total += n as u64;
            }
        }
    }
    total
}

/// The two SHA-256 implementations at hand; the floor is whichever is faster in this run.
#[derive(Clone, Copy)]
enum Sha {
    Ring,
    RustCrypto,
}

/// Raw SHA-256 over the same files, read in 1 MiB chunks: bytes and seconds.
fn raw_sha256(root: &Path, which: Sha) -> (u64, f64) {
    use sha2::Digest as _;
    let started = Instant::now();
    let mut total = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    let mut sink = 0u8;
    for t in list_terminals(root).unwrap() {
        for f in &t.files {
            let mut file = std::fs::File::open(f).unwrap();
            let mut ring_ctx = ring::digest::Context::new(&ring::digest::SHA256);
            let mut rc_ctx = sha2::Sha256::new();
            loop {
                let n = file.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                match which {
                    Sha::Ring => ring_ctx.update(&buf[..n]),
                    Sha::RustCrypto => rc_ctx.update(&buf[..n]),
                }
                total += n as u64;
            }
            sink ^= match which {
                Sha::Ring => ring_ctx.finish().as_ref()[0],
                Sha::RustCrypto => rc_ctx.finalize()[0],
            };
        }
    }
    std::hint::black_box(sink);
    (total, started.elapsed().as_secs_f64())
}

/// The floor of any verifier of this format: SHA-256 of each line alone (the chain's own
/// `Digest::sha256`), as the chain needs it (a padding block and a finish per line), nothing
/// else. Seconds.
fn per_line_sha256(root: &Path) -> f64 {
    let started = Instant::now();
    let mut sink = 0u8;
    for t in list_terminals(root).unwrap() {
        for f in &t.files {
            let bytes = std::fs::read(f).unwrap();
            for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                sink ^= Digest::sha256(line).0[0];
            }
        }
    }
    std::hint::black_box(sink);
    started.elapsed().as_secs_f64()
}

/// The floor with the seals' keys: [`per_line_sha256`], and for each seal line the HMAC work
/// the key holder's check needs (one HMAC-SHA256 key set-up, the MAC over the seal's 120-byte
/// context, and the next epoch's key), nothing else. Seconds.
fn per_line_sha256_and_seal_macs(root: &Path) -> f64 {
    use hmac::Mac as _;
    type HmacSha256 = hmac::Hmac<sha2::Sha256>;
    let started = Instant::now();
    let mut sink = 0u8;
    let finder = memchr::memmem::Finder::new(b"{\"kind\":\"log_sealed\"");
    let mut key = [7u8; 32];
    for t in list_terminals(root).unwrap() {
        for f in &t.files {
            let bytes = std::fs::read(f).unwrap();
            for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                sink ^= Digest::sha256(line).0[0];
                if finder.find(line).is_some() {
                    let k = HmacSha256::new_from_slice(&key).unwrap();
                    let mut mac = k.clone();
                    mac.update(&line[..120.min(line.len())]);
                    sink ^= mac.finalize().into_bytes()[0];
                    let mut next = k;
                    next.update(b"evolve");
                    key.copy_from_slice(&next.finalize().into_bytes());
                }
            }
        }
    }
    std::hint::black_box(sink);
    started.elapsed().as_secs_f64()
}

struct Verified {
    bytes: u64,
    records: u64,
    seals: u64,
    seconds: f64,
    findings: usize,
    terminals: usize,
}

/// The central verification of every terminal with its k(0), as `audit collected` runs it.
fn central_verification(root: &Path, keys: &BTreeMap<String, SealKey>, now: Timestamp) -> Verified {
    let started = Instant::now();
    let terminals = list_terminals(root).unwrap();
    let bytes: u64 = terminals
        .iter()
        .flat_map(|t| &t.files)
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    let judge = Judge {
        now,
        silent_after_ms: 60 * MINUTE,
    };
    let mut records = 0;
    let mut seals = 0;
    let mut findings = 0;
    for t in &terminals {
        // As `audit collected` reads: one terminal at a time, 1 MiB reads.
        let opts = StreamOptions {
            buffer: env_or("CARDGATE_MONTH_BUFFER_KIB", 1024) << 10,
            ..StreamOptions::one_at_a_time()
        };
        let mut s = TerminalStream::new(t, keys.get(&t.host).cloned(), opts);
        while let Some(r) = s.next_record().unwrap() {
            std::hint::black_box(r.line.len());
            records += 1;
            seals += u64::from(r.kind == "log_sealed");
        }
        let report = s.finish(&judge).unwrap();
        assert_eq!(report.key_checked, keys.contains_key(&t.host), "{}", t.host);
        if !report.findings.is_empty() {
            eprintln!("{}: {:?}", t.host, report.findings);
        }
        findings += report.findings.len();
    }
    Verified {
        bytes,
        records,
        seals,
        seconds: started.elapsed().as_secs_f64(),
        findings,
        terminals: terminals.len(),
    }
}

/// The review of the whole month over the collected root (issue 13, item 7: under 60 s,
/// bounded memory). The REVIEW engineer measures it here: rows for the table below.
fn review_of_the_month(root: &Path, keys: &BTreeMap<String, SealKey>) -> Vec<(String, String)> {
    review::of_the_month(root, keys)
}

/// This thread's time on a CPU (user and system), in ns, from `/proc/thread-self/stat` (clock
/// ticks of 10 ms, `getconf CLK_TCK` = 100 on Debian's kernels); 0 when unreadable.
fn cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // After the command name in parentheses: state is the first field, utime the 12th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) * 10_000_000
}

/// A phase's best wall and CPU seconds.
#[derive(Debug, Clone, Copy)]
struct Phase {
    wall: f64,
    cpu: f64,
}

impl Default for Phase {
    fn default() -> Self {
        Phase {
            wall: f64::MAX,
            cpu: f64::MAX,
        }
    }
}

impl Phase {
    fn best(&mut self, other: Phase) {
        self.wall = self.wall.min(other.wall);
        self.cpu = self.cpu.min(other.cpu);
    }
}

/// Runs `f`, with its wall and CPU time (the CPU time falls back to the wall time).
fn timed<T>(f: impl FnOnce() -> T) -> (T, Phase) {
    let (c0, w0) = (cpu_ns(), Instant::now());
    let out = f();
    let wall = w0.elapsed().as_secs_f64();
    let cpu = match cpu_ns().checked_sub(c0) {
        Some(ns) if ns > 0 => ns as f64 / 1e9,
        _ => wall,
    };
    (out, Phase { wall, cpu })
}
#[path = "month/review.rs"]
mod review;

/// This process's peak resident memory (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn current_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Resets `VmHWM` to the current size (Linux's `clear_refs` 5).
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn gib(bytes: f64) -> String {
    format!("{:.2} GiB/s", bytes / f64::from(1u32 << 30))
}

fn main() {
    // The review's own process (`month/review.rs`): its peak memory is its own.
    if review::child() {
        return;
    }
    // `cargo bench` passes `--bench`; a name filter other than this bench's skips it.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !args.is_empty() && !args.iter().any(|a| "month".contains(a.as_str())) {
        return;
    }
    let terminals = env_or("CARDGATE_MONTH_TERMINALS", 1000);
    let days = env_or("CARDGATE_MONTH_DAYS", 30).clamp(1, 30);
    let (root, keys) = month(terminals, days);
    let bytes = warm(&root);
    let now = Timestamp(MONTH_START_MS + days as i64 * 24 * HOUR);

    let base_rss = current_rss_kib();
    let peak_reset = reset_peak_rss();
    // `CARDGATE_MONTH_PROFILE=1`: the verification alone, once (for `perf record`).
    if std::env::var_os("CARDGATE_MONTH_PROFILE").is_some() {
        let v = central_verification(&root, &keys, now);
        println!(
            "verification alone: {:.2} s, {} records",
            v.seconds, v.records
        );
        return;
    }
    // Five rounds of each, interleaved, in one run; each phase's best. Rates are per second
    // of this thread's time on a CPU (user + system): the machine is shared, and time spent
    // preempted by other processes is no one's throughput. Wall times are shown beside.
    let rounds = env_or("CARDGATE_MONTH_ROUNDS", 5).max(1);
    let mut sha = Phase::default();
    let mut ver = Phase::default();
    let mut floor = Phase::default();
    let mut floor_macs = Phase::default();
    let mut unkeyed = Phase::default();
    let mut verified = None;
    for _ in 0..rounds {
        sha.best(timed(|| raw_sha256(&root, Sha::Ring)).1);
        sha.best(timed(|| raw_sha256(&root, Sha::RustCrypto)).1);
        let (v, t) = timed(|| central_verification(&root, &keys, now));
        ver.best(t);
        verified = Some(v);
        floor.best(timed(|| per_line_sha256(&root)).1);
        floor_macs.best(timed(|| per_line_sha256_and_seal_macs(&root)).1);
        let (u, t) = timed(|| central_verification(&root, &BTreeMap::new(), now));
        assert_eq!(u.findings, 0);
        unkeyed.best(t);
    }
    let peak = peak_rss_kib();
    let v = verified.unwrap();
    assert_eq!(v.bytes, bytes);
    let b = bytes as f64;
    let rate = |p: &Phase| b / p.cpu;
    let pct = |p: &Phase| 100.0 * rate(p) / rate(&sha);
    println!();
    println!(
        "month: {} terminals x {days} days, {} records ({:.0} % seals), {:.2} GiB collected",
        v.terminals,
        v.records,
        100.0 * v.seals as f64 / v.records as f64,
        b / f64::from(1u32 << 30)
    );
    println!(
        "{:<40}{:>13}{:>12}{:>9}{:>9}{:>7}",
        format!("(best of {rounds}, per CPU second)"),
        "bytes/s",
        "records/s",
        "cpu",
        "wall",
        "ratio"
    );
    let row = |what: &str, p: &Phase, records: bool| {
        println!(
            "{:<40}{:>13}{:>12}{:>8.2}s{:>8.2}s{:>6.0} %",
            what,
            gib(rate(p)),
            if records {
                format!("{:.2} M", v.records as f64 / p.cpu / 1e6)
            } else {
                "-".to_owned()
            },
            p.cpu,
            p.wall,
            pct(p)
        );
    };
    row("raw SHA-256 (best of ring, sha2)", &sha, false);
    row("central verification, every k(0)", &ver, true);
    row("  the same without k(0)", &unkeyed, true);
    row("floor: SHA-256 of each line alone", &floor, false);
    row(
        "floor: each line, and each seal's HMACs",
        &floor_macs,
        false,
    );
    println!(
        "verification / SHA-256: {:.0} %; / the floor with the HMACs: {:.0} %",
        pct(&ver),
        100.0 * floor_macs.cpu / ver.cpu
    );
    println!(
        "peak memory of the verification: {} MiB ({} MiB before it{})",
        peak / 1024,
        base_rss / 1024,
        if peak_reset {
            ""
        } else {
            "; VmHWM not reset, so an upper bound"
        }
    );
    println!("findings: {}", v.findings);
    for (what, figure) in review_of_the_month(&root, &keys) {
        println!("{what:<34}{figure}");
    }
    assert_eq!(
        v.findings, 0,
        "a generated month verifies without a finding"
    );
}
