//! Helpers shared by the integration tests.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use cardgate_audit::record::{AuthFailure, DenyReason, EndReason, LockReason};
use cardgate_audit::seal::{SealContext, SealKey};
use cardgate_audit::segments::{list_segments, segment_name};
use cardgate_audit::{
    AuditConfig, AuditLog, Clock, Digest, Entry, Event, Label, Record, Timestamp,
};
use cardgate_card::{CardSerial, Role};

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let path = std::env::temp_dir().join(format!(
            "cardgate-audit-{tag}-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn log(&self) -> PathBuf {
        self.0.join("log")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A clock the test moves by hand: the one clock's manual kind, set and moved in audit time
/// stamps (and, unlike it, also stepped back, as NTP may do to the wall reading).
#[derive(Debug, Clone)]
pub struct ManualClock(pub Arc<cardgate_office::ManualClock>);

impl ManualClock {
    pub fn at(t: Timestamp) -> Self {
        ManualClock(Arc::new(cardgate_office::ManualClock::new(
            t.to_datetime().unwrap(),
        )))
    }
    pub fn set(&self, t: Timestamp) {
        self.0.set_wall(t.to_datetime().unwrap());
    }
    pub fn advance_ms(&self, ms: i64) {
        if ms >= 0 {
            self.0.advance(std::time::Duration::from_millis(ms as u64));
        } else {
            self.0
                .set_wall(self.0.wall() - time::Duration::milliseconds(-ms));
        }
    }
}

impl Clock for ManualClock {
    fn wall(&self) -> time::OffsetDateTime {
        self.0.wall()
    }
    fn monotonic(&self) -> std::time::Instant {
        self.0.monotonic()
    }
}

pub fn label(s: &str) -> Label {
    Label::new(s).unwrap()
}

pub fn serial(n: u64) -> CardSerial {
    CardSerial(n.to_be_bytes())
}

/// A varied card-use entry.
pub fn sample_entry(i: u64) -> Entry {
    let event = match i % 9 {
        0 => Event::CardInserted,
        1 => Event::PinVerified {
            correct: i & 3 != 0,
            tries_left: Some(3 - (i % 3) as u8),
        },
        2 => Event::CardAuthPassed,
        3 => Event::LoginGranted {
            role: Role::Operator,
        },
        4 => Event::SessionLocked {
            reason: LockReason::CardRemoved,
            session_type: None,
            locked_hint: None,
        },
        5 => Event::SessionUnlocked,
        6 => Event::SessionEnded {
            reason: EndReason::Logout,
            session_type: None,
            logind_state: None,
        },
        7 => Event::LoginDenied {
            reason: DenyReason::WrongPin,
        },
        _ => Event::CardAuthFailed {
            reason: AuthFailure::BadSignature,
        },
    };
    Entry::new(event)
        .reader(label("ACS ACR39U 00 00"))
        .card(serial(0x1000 + i % 7))
        .operator(label(&format!("op{:03}", i % 7)))
}

pub fn config(dir: &Path, seal_every: u64) -> AuditConfig {
    let mut c = AuditConfig::new(dir, label("juki-t01"));
    c.seal_every_records = seal_every;
    c
}

/// Makes a log with `n` sample records sealed every `seal_every`, closed (so sealed at the end).
pub fn build_log(dir: &Path, n: u64, seal_every: u64) -> SealKey {
    let k0 = AuditLog::init(dir, label("juki-t01"), &cardgate_audit::SystemClock).unwrap();
    let (log, _) = AuditLog::open(config(dir, seal_every)).unwrap();
    for i in 0..n {
        log.append(sample_entry(i)).unwrap();
    }
    log.close().unwrap();
    k0
}

/// The lines of the single segment.
pub fn lines(dir: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(dir.join(segment_name(1))).unwrap();
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| l.to_vec())
        .collect()
}

pub fn write_lines(dir: &Path, lines: &[Vec<u8>]) {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    std::fs::write(dir.join(segment_name(1)), out).unwrap();
}

pub fn all_records(dir: &Path) -> Vec<Record> {
    let mut out = Vec::new();
    for (_, path) in list_segments(dir).unwrap() {
        for line in std::fs::read(path)
            .unwrap()
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
        {
            out.push(Record::parse(line).unwrap());
        }
    }
    out
}

/// What an attacker with the machine can do: renumber, re-link and (with a key) re-seal.
/// Seals get consistent ranges and heads; with `reseal = (key, from)`, the MAC of every seal
/// from record `from` on is recomputed with that key, keeping each seal's epoch label.
pub fn rechain(records: &mut [Record], reseal: Option<(&SealKey, u64)>) -> Vec<Vec<u8>> {
    let log_id = match &records[0].event {
        Event::Genesis { log_id, .. } => *log_id,
        _ => panic!("no genesis"),
    };
    let mut prev = Digest::default();
    let mut first_unsealed = 0;
    let mut out = Vec::new();
    for (i, r) in records.iter_mut().enumerate() {
        r.seq = i as u64;
        r.prev = prev;
        if let Event::LogSealed(seal) = &mut r.event {
            seal.first_seq = first_unsealed;
            seal.last_seq = r.seq - 1;
            seal.head = prev;
            if let Some((key, from_seq)) = reseal {
                if r.seq >= from_seq {
                    let at = SealContext {
                        log_id: &log_id,
                        time: r.time,
                        terminal: &r.terminal,
                    };
                    *seal = key.seal(&at, seal.epoch, seal.first_seq, seal.last_seq, seal.head);
                }
            }
            first_unsealed = r.seq + 1;
        }
        let line = r.to_line();
        prev = Digest::sha256(&line);
        out.push(line);
    }
    out
}
