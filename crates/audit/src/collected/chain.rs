//! One terminal's chain, rebuilt from records taken in sequence order: the link, the time, the
//! genesis and every seal, with the rules of [`crate::verify`] and its problem kinds. Unlike
//! the local verifier it does not stop at the first problem (the collector still counts what
//! follows), and it can resume after a gap the stream declared: across a gap nothing is
//! linked, so nothing after it counts as verified.

use crate::error::ParseError;
use crate::record::{Digest, Event, Label, LogId, Record, Timestamp};
use crate::seal::{SealContext, SealKey};
use crate::verify::ProblemKind;

use super::line::{hex64, seal_line, Fields, SealLine};

/// The first thing wrong with a terminal's chain.
#[derive(Debug)]
pub struct ChainProblem {
    /// The record it is about.
    pub seq: u64,
    /// What, as the local verifier names it.
    pub kind: ProblemKind,
}

impl ChainProblem {
    /// The JSON name of the kind (`broken_link`, `seal_mac`, …).
    pub fn code(&self) -> &'static str {
        problem_code(&self.kind)
    }
}

/// The JSON name of a verifier problem kind.
pub fn problem_code(kind: &ProblemKind) -> &'static str {
    match kind {
        ProblemKind::Unreadable(_) => "unreadable",
        ProblemKind::TornLine { .. } => "torn_line",
        ProblemKind::NoGenesis => "no_genesis",
        ProblemKind::ExtraGenesis => "extra_genesis",
        ProblemKind::SeqGap { .. } => "seq_gap",
        ProblemKind::BrokenLink => "broken_link",
        ProblemKind::TimeBackwards { .. } => "time_backwards",
        ProblemKind::SealEpoch { .. } => "seal_epoch",
        ProblemKind::SealRange { .. } => "seal_range",
        ProblemKind::SealFields => "seal_fields",
        ProblemKind::SealHead => "seal_head",
        ProblemKind::SealMac => "seal_mac",
        ProblemKind::SegmentMissing { .. } => "segment_missing",
        ProblemKind::Empty => "empty",
        ProblemKind::KeyFileMissing => "key_file_missing",
        ProblemKind::KeyFileEpoch { .. } => "key_file_epoch",
        ProblemKind::KeyFileKey => "key_file_key",
        ProblemKind::KeyFileUnreadable(_) => "key_file_unreadable",
    }
}

/// An event kind kept in place (kinds are short ASCII names; [`super::line`] caps them).
struct Kind {
    bytes: [u8; super::line::MAX_KIND_LEN],
    len: usize,
}

impl Default for Kind {
    fn default() -> Self {
        Kind {
            bytes: [0; super::line::MAX_KIND_LEN],
            len: 0,
        }
    }
}

impl Kind {
    fn set(&mut self, kind: &[u8]) {
        if self.bytes.get(..self.len) == Some(kind) {
            return;
        }
        let len = kind.len().min(self.bytes.len());
        self.bytes[..len].copy_from_slice(&kind[..len]);
        self.len = len;
    }

    fn get(&self) -> Option<String> {
        (self.len > 0).then(|| String::from_utf8_lossy(&self.bytes[..self.len]).into_owned())
    }
}

/// A seal record's values, read in place or parsed whole.
struct SealView {
    seal: crate::Seal,
    time: Timestamp,
    /// The terminal, when parsed whole (`None`: the chain's `seal_terminal`).
    terminal: Option<Label>,
    prev: Digest,
    /// It names a reader, card, operator or uid.
    other_fields: bool,
}

impl SealView {
    fn of(r: &Record) -> Option<SealView> {
        let Event::LogSealed(seal) = &r.event else {
            return None;
        };
        Some(SealView {
            seal: seal.clone(),
            time: r.time,
            terminal: Some(r.terminal.clone()),
            prev: r.prev,
            other_fields: r.reader.is_some()
                || r.card.is_some()
                || r.operator.is_some()
                || r.uid.is_some(),
        })
    }
}

/// The chain state of one log (one genesis) of a terminal.
pub(crate) struct Chain {
    k0: Option<SealKey>,
    /// The key of epoch `next_epoch`.
    epoch_key: Option<SealKey>,
    next_epoch: u64,
    pub(crate) log_id: Option<LogId>,
    pub(crate) terminal: Option<Label>,
    /// Hash of the last record taken.
    pub(crate) prev: Option<Digest>,
    last_time: Option<[u8; 24]>,
    pub(crate) last_seq: Option<u64>,
    /// The last record's kind, and the last kind that is not a seal (a stopping daemon's
    /// `daemon_stopped` is followed by the seal of its close), in place: no allocation per
    /// record.
    last_kind: Kind,
    last_event_kind: Kind,
    first_unsealed: u64,
    /// The next record follows a gap: its link cannot be checked.
    after_gap: bool,
    /// A gap since the last seal: the next seal's range and epoch can only be bounded.
    gap_since_seal: bool,
    /// Every record from 0 taken, in order, and no problem: `verified_up_to` may advance.
    intact: bool,
    pub(crate) verified_up_to: Option<u64>,
    pub(crate) seal_epoch: Option<u64>,
    pub(crate) records: u64,
    pub(crate) problem: Option<ChainProblem>,
    pub(crate) problems: u64,
    /// The terminal label of the last seal read in place.
    seal_terminal: Option<Label>,
}

/// Most epochs a seal may skip (seals lost in a gap) and still have its MAC checked.
const MAX_EPOCH_SKIP: u64 = 100_000;

fn parse_time(bytes: &[u8]) -> Option<Timestamp> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|t| Timestamp::parse(t).ok())
}

impl Chain {
    pub(crate) fn new(k0: Option<SealKey>) -> Self {
        Chain {
            epoch_key: k0.clone(),
            k0,
            next_epoch: 0,
            log_id: None,
            terminal: None,
            prev: None,
            last_time: None,
            last_seq: None,
            last_kind: Kind::default(),
            last_event_kind: Kind::default(),
            first_unsealed: 0,
            after_gap: false,
            gap_since_seal: false,
            intact: true,
            verified_up_to: None,
            seal_epoch: None,
            records: 0,
            problem: None,
            problems: 0,
            seal_terminal: None,
        }
    }

    pub(crate) fn key_checked(&self) -> bool {
        self.k0.is_some()
    }

    /// The time of the last record taken.
    pub(crate) fn last_time(&self) -> Option<Timestamp> {
        self.last_time.as_ref().and_then(|t| parse_time(t))
    }

    /// The records before the next one taken are missing (declared a gap).
    pub(crate) fn gap(&mut self) {
        self.after_gap = true;
        self.gap_since_seal = true;
        self.intact = false;
    }

    fn fail(&mut self, seq: u64, kind: ProblemKind) {
        self.intact = false;
        self.problems += 1;
        if self.problem.is_none() {
            self.problem = Some(ChainProblem { seq, kind });
        }
    }

    /// Takes the next record in sequence order; returns its line's hash.
    pub(crate) fn take(&mut self, line: &[u8], f: &Fields<'_>) -> Digest {
        let hash = Digest::sha256(line);
        let seq = f.seq;
        let genesis = f.kind == b"genesis";
        let sealed = f.kind == b"log_sealed";
        let mut seal = None;
        let mut genesis_of = None;
        if sealed {
            seal = match seal_line(line).and_then(|s| self.view(&s)) {
                Some(view) => Some(view),
                // Not the writer's spelling of a seal: the whole parse says why.
                None => match Record::parse(line) {
                    Ok(r) => SealView::of(&r),
                    Err(e) => {
                        self.fail(seq, ProblemKind::Unreadable(e));
                        None
                    }
                },
            };
        } else if genesis {
            match Record::parse(line) {
                Ok(Record {
                    event: Event::Genesis { log_id, .. },
                    prev,
                    terminal,
                    ..
                }) => genesis_of = Some((log_id, prev, terminal)),
                Ok(_) => {}
                Err(e) => self.fail(seq, ProblemKind::Unreadable(e)),
            }
        }
        let first = self.prev.is_none() && self.records == 0;
        match genesis_of {
            Some((log_id, prev, terminal)) if first && seq == 0 && prev == Digest::default() => {
                self.log_id = Some(log_id);
                self.terminal = Some(terminal);
            }
            _ if first && seq == 0 => self.fail(seq, ProblemKind::NoGenesis),
            // The chain starts after a gap (the stream declared 0..seq missing).
            _ if first => {}
            _ if genesis => self.fail(seq, ProblemKind::ExtraGenesis),
            _ => {
                if !self.after_gap {
                    if let Some(prev) = &self.prev {
                        if f.prev_hex != hex64(prev) {
                            self.fail(seq, ProblemKind::BrokenLink);
                        }
                    }
                }
            }
        }
        if let Some(previous) = &self.last_time {
            if f.time < &previous[..] {
                let (p, t) = (parse_time(previous), parse_time(f.time));
                let kind = match (p, t) {
                    (Some(previous), Some(this)) => ProblemKind::TimeBackwards { previous, this },
                    _ => ProblemKind::Unreadable(ParseError::NotCanonical),
                };
                self.fail(seq, kind);
            }
        }
        if let Some(view) = &seal {
            self.seal(seq, view);
        } else if !sealed && self.k0.is_none() && self.intact {
            // Without a key, "verified" is "linked from the genesis".
            self.verified_up_to = Some(seq);
        }
        let mut time = [0u8; 24];
        time.copy_from_slice(f.time);
        self.last_time = Some(time);
        self.prev = Some(hash);
        self.last_seq = Some(seq);
        self.last_kind.set(f.kind);
        if !sealed {
            self.last_event_kind.set(f.kind);
        }
        self.after_gap = false;
        self.records += 1;
        hash
    }

    /// A seal read in place, its terminal's label kept from the last seal when the same.
    fn view(&mut self, s: &SealLine<'_>) -> Option<SealView> {
        if self.seal_terminal.as_ref().map(Label::as_str) != Some(s.terminal) {
            self.seal_terminal = Some(Label::new(s.terminal).ok()?);
        }
        Some(SealView {
            seal: crate::Seal {
                epoch: s.epoch,
                first_seq: s.first_seq,
                last_seq: s.last_seq,
                head: s.head,
                mac: s.mac,
            },
            time: s.time,
            terminal: None,
            prev: s.prev,
            other_fields: false,
        })
    }

    fn seal(&mut self, seq: u64, view: &SealView) {
        let seal = &view.seal;
        let relaxed = self.gap_since_seal;
        // How many epochs ahead of the expected one (`None`: behind it).
        let ahead = seal.epoch.checked_sub(self.next_epoch);
        let epoch_ok = if relaxed {
            ahead.is_some()
        } else {
            ahead == Some(0)
        };
        if !epoch_ok {
            self.fail(
                seq,
                ProblemKind::SealEpoch {
                    expected: self.next_epoch,
                    found: seal.epoch,
                },
            );
        }
        let expected = (self.first_unsealed, seq.wrapping_sub(1));
        let range_ok = seq > 0
            && seal.last_seq == seq - 1
            && seal.first_seq <= seal.last_seq
            && (seal.first_seq == self.first_unsealed
                || (relaxed && seal.first_seq >= self.first_unsealed));
        if !range_ok {
            self.fail(
                seq,
                ProblemKind::SealRange {
                    expected,
                    found: (seal.first_seq, seal.last_seq),
                },
            );
        }
        if view.other_fields {
            self.fail(seq, ProblemKind::SealFields);
        }
        // The head is the record before the seal: the chain's head, unless a gap lies between.
        let head_ok = seal.head == view.prev
            && (self.after_gap || self.prev.is_none() || Some(seal.head) == self.prev);
        if !head_ok {
            self.fail(seq, ProblemKind::SealHead);
        }
        // Seals missed in a gap (or removed) are skipped by evolving the key, a bounded number
        // of epochs: a forged epoch far ahead costs nothing. A seal behind the expected epoch
        // (a replay) is not checked at all: its epoch is already the problem.
        let skip = ahead.filter(|&d| d <= MAX_EPOCH_SKIP);
        let mut mac_ok = self.k0.is_none();
        // A seal read in place names the terminal of `seal_terminal`.
        let terminal = view.terminal.as_ref().or(self.seal_terminal.as_ref());
        if let (Some(d), Some(key), Some(log_id), Some(terminal)) =
            (skip, &self.epoch_key, &self.log_id, terminal)
        {
            let skipped;
            let key = if d == 0 {
                key
            } else {
                skipped = key.evolve_by(d);
                &skipped
            };
            let at = SealContext {
                log_id,
                time: view.time,
                terminal,
            };
            let (ok, next) = key.check_then_evolve(&at, seal);
            mac_ok = ok;
            if !mac_ok {
                self.fail(seq, ProblemKind::SealMac);
            }
            self.epoch_key = Some(next);
        }
        if skip.is_some() {
            self.next_epoch = seal.epoch + 1;
        }
        if mac_ok && self.intact {
            self.verified_up_to = Some(seq);
        }
        self.seal_epoch = Some(seal.epoch);
        self.first_unsealed = seq + 1;
        self.gap_since_seal = false;
    }

    /// The last record's kind.
    pub(crate) fn last_kind(&self) -> Option<String> {
        self.last_kind.get()
    }

    /// The last kind that is not a seal.
    pub(crate) fn last_event_kind(&self) -> Option<String> {
        self.last_event_kind.get()
    }

    /// The first record after the last seal, when there is any.
    pub(crate) fn unsealed_from(&self) -> Option<u64> {
        match self.last_seq {
            Some(last) if last >= self.first_unsealed => Some(self.first_unsealed),
            _ => None,
        }
    }
}
