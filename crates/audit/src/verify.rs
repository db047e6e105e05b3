//! The verifier: walks every line in order and checks the chain link, the sequence, the time,
//! every seal (epochs 0, 1, 2, … with no gaps, each closing exactly the records since the one
//! before, MAC with the epoch key derived from `k(0)`), and finally that the key file sits at
//! the epoch right after the last seal (so seals cannot be cut off the end: CVE-2023-31438).
//!
//! It stops at the first problem and names that record.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::error::{ParseError, StoreError};
use crate::record::{Digest, Event, LogId, Record, Timestamp, MAX_LINE_LEN};
use crate::seal::{read_key_file, KeyFile, SealContext, SealKey};
use crate::segments::{list_segments, segment_name};

/// Where a line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Segment file name.
    pub file: String,
    /// Line number in it, from 1.
    pub line: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}", self.file, self.line)
    }
}

/// What is wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The line is not a valid record.
    Unreadable(ParseError),
    /// The file ends in the middle of a line (a crash; opening the log quarantines it).
    TornLine {
        /// Bytes after the last newline.
        bytes: usize,
    },
    /// The first record is not a genesis record with sequence 0.
    NoGenesis,
    /// A second genesis record.
    ExtraGenesis,
    /// The sequence number is not the one expected.
    SeqGap {
        /// Expected.
        expected: u64,
        /// Found.
        found: u64,
    },
    /// `prev` is not the hash of the previous line: that record or this one was changed,
    /// removed, inserted or moved.
    BrokenLink,
    /// Time goes backwards.
    TimeBackwards {
        /// The previous record's time.
        previous: Timestamp,
        /// This record's time.
        this: Timestamp,
    },
    /// A seal's epoch is not the next one (a seal removed, or re-sealing with a later key:
    /// CVE-2023-31439).
    SealEpoch {
        /// Expected epoch.
        expected: u64,
        /// Found.
        found: u64,
    },
    /// A seal does not close exactly the records since the previous seal.
    SealRange {
        /// Expected first and last.
        expected: (u64, u64),
        /// Found.
        found: (u64, u64),
    },
    /// A seal record names a reader, card or operator (a seal never does).
    SealFields,
    /// A seal's head is not the hash of the record before it.
    SealHead,
    /// A seal's MAC is wrong for its epoch key.
    SealMac,
    /// A segment file is missing between two others.
    SegmentMissing {
        /// Its name.
        name: String,
    },
    /// No records at all.
    Empty,
    /// There is no key file, so seals cut off the end cannot be detected.
    KeyFileMissing,
    /// The key file's epoch is not the one after the last seal: seals (and the records they
    /// closed) were cut off, or an old log was put back.
    KeyFileEpoch {
        /// The key file's epoch.
        key_epoch: u64,
        /// The epoch expected from the log.
        expected: u64,
    },
    /// The key file's key is not the one derived from `k(0)` for its epoch: the key file was
    /// replaced.
    KeyFileKey,
    /// The key file could not be read.
    KeyFileUnreadable(StoreError),
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProblemKind::Unreadable(e) => {
                write!(f, "not a valid record: {e}")?;
                if let ParseError::Json(inner) = e {
                    write!(f, " ({inner})")?;
                }
                Ok(())
            }
            ProblemKind::TornLine { bytes } => write!(
                f,
                "the file ends inside a line ({bytes} bytes without a newline): a crash mid-write; opening the log quarantines it"
            ),
            ProblemKind::NoGenesis => f.write_str("the log does not start with a genesis record"),
            ProblemKind::ExtraGenesis => f.write_str("a second genesis record"),
            ProblemKind::SeqGap { expected, found } => write!(
                f,
                "sequence number {found} where {expected} was expected: records were removed, inserted or reordered"
            ),
            ProblemKind::BrokenLink => f.write_str(
                "its prev hash does not match the record before it: that record or this one was changed, or records were removed, inserted or moved",
            ),
            ProblemKind::TimeBackwards { previous, this } => {
                write!(f, "time goes backwards ({this} after {previous})")
            }
            ProblemKind::SealEpoch { expected, found } => write!(
                f,
                "seal of epoch {found} where epoch {expected} was expected: a seal is missing or records were re-sealed with a later key"
            ),
            ProblemKind::SealRange { expected, found } => write!(
                f,
                "seal closes records {}..={} but should close {}..={}",
                found.0, found.1, expected.0, expected.1
            ),
            ProblemKind::SealFields => f.write_str("a seal record names a reader, card or operator"),
            ProblemKind::SealHead => f.write_str("seal's head is not the hash of the record before it"),
            ProblemKind::SealMac => f.write_str(
                "seal's MAC is wrong: the records it closes were changed, or it was forged",
            ),
            ProblemKind::SegmentMissing { name } => write!(f, "segment {name} is missing"),
            ProblemKind::Empty => f.write_str("the log is empty"),
            ProblemKind::KeyFileMissing => f.write_str(
                "the sealing key file is missing: cannot tell whether seals were cut off the end",
            ),
            ProblemKind::KeyFileEpoch { key_epoch, expected } => write!(
                f,
                "the sealing key is at epoch {key_epoch} but the log's seals end before epoch {expected}: seals and records after the last one were cut off, or an old log was put back"
            ),
            ProblemKind::KeyFileKey => f.write_str(
                "the sealing key file does not hold the key derived from k(0): it was replaced",
            ),
            ProblemKind::KeyFileUnreadable(e) => write!(f, "the sealing key file: {e}"),
        }
    }
}

/// The first thing wrong with a log.
#[derive(Debug)]
pub struct Problem {
    /// The record's sequence number (as written, or as expected when unreadable); for problems
    /// at the end, the sequence number the next record would have.
    pub seq: u64,
    /// Where (absent for problems with the log as a whole).
    pub location: Option<Location>,
    /// What.
    pub kind: ProblemKind,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(loc) => write!(f, "record {} ({loc}): {}", self.seq, self.kind),
            None => write!(
                f,
                "after record {}: {}",
                self.seq.saturating_sub(1),
                self.kind
            ),
        }
    }
}

/// Records after the last seal: not protected by any seal yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsealedTail {
    /// First unsealed record.
    pub first_seq: u64,
    /// Last.
    pub last_seq: u64,
    /// Time of the first.
    pub since: Timestamp,
}

impl UnsealedTail {
    /// How many.
    pub fn count(&self) -> u64 {
        self.last_seq - self.first_seq + 1
    }
}

/// What `verify` found.
#[derive(Debug)]
pub struct VerifyOutcome {
    /// Records read.
    pub records: u64,
    /// Seals checked.
    pub seals: u64,
    /// Bytes read.
    pub bytes: u64,
    /// The last record's sequence number.
    pub last_seq: Option<u64>,
    /// The chain head (hash of the last line).
    pub head: Option<Digest>,
    /// Whether seal MACs and the key file's key were checked (a key was given).
    pub key_checked: bool,
    /// The records after the last seal.
    pub unsealed_tail: Option<UnsealedTail>,
    /// The writer stopped between writing the last seal and evolving the key; the next open
    /// finishes it. Not a problem.
    pub key_update_pending: bool,
    /// The seal key file exists but this user may not read it: the log is being verified by
    /// the access manager, who is not root. The key file stays root's alone (a copy of the
    /// live sealing key kept by anyone else would outlive its erasure and reseal a rewritten
    /// log); with k(0) every seal is still checked, only the file's agreement with the log is
    /// not. Not a problem.
    pub key_file_not_readable_here: bool,
    /// The first problem, if any.
    pub problem: Option<Problem>,
}

impl VerifyOutcome {
    /// True when no problem was found.
    pub fn is_intact(&self) -> bool {
        self.problem.is_none()
    }
}

/// The streaming verifier. `Clone` so tests can resume from a checkpoint.
#[derive(Clone)]
pub struct Verifier {
    k0: Option<SealKey>,
    epoch_key: Option<SealKey>,
    next_epoch: u64,
    expected_seq: u64,
    prev: Option<Digest>,
    last_time: Option<Timestamp>,
    log_id: Option<LogId>,
    first_unsealed: u64,
    first_unsealed_time: Option<Timestamp>,
    records: u64,
    seals: u64,
    bytes: u64,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("expected_seq", &self.expected_seq)
            .field("next_epoch", &self.next_epoch)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier; with `k0`, seal MACs and the key file's key are checked too.
    pub fn new(k0: Option<SealKey>) -> Self {
        Verifier {
            epoch_key: k0.clone(),
            k0,
            next_epoch: 0,
            expected_seq: 0,
            prev: None,
            last_time: None,
            log_id: None,
            first_unsealed: 0,
            first_unsealed_time: None,
            records: 0,
            seals: 0,
            bytes: 0,
        }
    }

    fn problem(&self, seq: u64, loc: &Location, kind: ProblemKind) -> Problem {
        Problem {
            seq,
            location: Some(loc.clone()),
            kind,
        }
    }

    /// Checks one line (without its newline).
    pub fn feed_line(&mut self, line: &[u8], loc: &Location) -> Result<(), Problem> {
        let record = Record::parse(line)
            .map_err(|e| self.problem(self.expected_seq, loc, ProblemKind::Unreadable(e)))?;
        let seq = record.seq;
        let fail = |kind| Problem {
            seq,
            location: Some(loc.clone()),
            kind,
        };
        match (&self.prev, &record.event) {
            (None, Event::Genesis { log_id, .. })
                if seq == 0 && record.prev == Digest::default() =>
            {
                self.log_id = Some(*log_id);
            }
            (None, _) => return Err(fail(ProblemKind::NoGenesis)),
            (Some(_), Event::Genesis { .. }) => return Err(fail(ProblemKind::ExtraGenesis)),
            (Some(prev), _) => {
                if seq != self.expected_seq {
                    return Err(fail(ProblemKind::SeqGap {
                        expected: self.expected_seq,
                        found: seq,
                    }));
                }
                if record.prev != *prev {
                    return Err(fail(ProblemKind::BrokenLink));
                }
            }
        }
        if let Some(previous) = self.last_time {
            if record.time < previous {
                return Err(fail(ProblemKind::TimeBackwards {
                    previous,
                    this: record.time,
                }));
            }
        }
        if let Event::LogSealed(seal) = &record.event {
            if seal.epoch != self.next_epoch {
                return Err(fail(ProblemKind::SealEpoch {
                    expected: self.next_epoch,
                    found: seal.epoch,
                }));
            }
            let expected = (self.first_unsealed, seq.wrapping_sub(1));
            if seq == 0
                || (seal.first_seq, seal.last_seq) != expected
                || seal.last_seq < seal.first_seq
            {
                return Err(fail(ProblemKind::SealRange {
                    expected,
                    found: (seal.first_seq, seal.last_seq),
                }));
            }
            if record.reader.is_some()
                || record.card.is_some()
                || record.operator.is_some()
                || record.uid.is_some()
            {
                return Err(fail(ProblemKind::SealFields));
            }
            if Some(seal.head) != self.prev {
                return Err(fail(ProblemKind::SealHead));
            }
            if let (Some(key), Some(log_id)) = (&self.epoch_key, &self.log_id) {
                let at = SealContext {
                    log_id,
                    time: record.time,
                    terminal: &record.terminal,
                };
                if !key.check(&at, seal) {
                    return Err(fail(ProblemKind::SealMac));
                }
                self.epoch_key = Some(key.evolve());
            }
            self.next_epoch += 1;
            self.seals += 1;
            self.first_unsealed = seq + 1;
            self.first_unsealed_time = None;
        } else if self.first_unsealed_time.is_none() {
            self.first_unsealed_time = Some(record.time);
        }
        self.prev = Some(Digest::sha256(line));
        self.last_time = Some(record.time);
        self.expected_seq = seq + 1;
        self.records += 1;
        self.bytes += line.len() as u64 + 1;
        Ok(())
    }

    /// A problem for bytes at the end of a file without a newline.
    pub fn torn(&self, bytes: usize, loc: &Location) -> Problem {
        self.problem(self.expected_seq, loc, ProblemKind::TornLine { bytes })
    }

    /// Ends the walk: checks the key file and reports.
    pub fn finish(self, key_file: Result<Option<KeyFile>, StoreError>) -> VerifyOutcome {
        let mut outcome = self.outcome(None);
        if outcome.records == 0 {
            outcome.problem = Some(Problem {
                seq: 0,
                location: None,
                kind: ProblemKind::Empty,
            });
            return outcome;
        }
        let end_problem = |kind| Problem {
            seq: self.expected_seq,
            location: None,
            kind,
        };
        match key_file {
            Err(StoreError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                outcome.key_file_not_readable_here = true;
            }
            Err(e) => outcome.problem = Some(end_problem(ProblemKind::KeyFileUnreadable(e))),
            Ok(None) => outcome.problem = Some(end_problem(ProblemKind::KeyFileMissing)),
            Ok(Some(kf)) => {
                let expected = self.next_epoch;
                if kf.epoch == expected {
                    if let Some(k) = &self.epoch_key {
                        if !k.ct_eq(&kf.key) {
                            outcome.problem = Some(end_problem(ProblemKind::KeyFileKey));
                        }
                    }
                } else if kf.epoch + 1 == expected {
                    // Crash between the seal and the key update: the file holds the last seal's
                    // key, which must still be the right one.
                    let right = match &self.k0 {
                        Some(k0) => k0.evolve_by(kf.epoch).ct_eq(&kf.key),
                        None => true,
                    };
                    if right {
                        outcome.key_update_pending = true;
                    } else {
                        outcome.problem = Some(end_problem(ProblemKind::KeyFileKey));
                    }
                } else {
                    outcome.problem = Some(end_problem(ProblemKind::KeyFileEpoch {
                        key_epoch: kf.epoch,
                        expected,
                    }));
                }
            }
        }
        outcome
    }

    /// The counts so far, with `problem`.
    pub fn outcome(&self, problem: Option<Problem>) -> VerifyOutcome {
        let last_seq = self
            .expected_seq
            .checked_sub(1)
            .filter(|_| self.records > 0);
        let unsealed_tail = match (last_seq, self.first_unsealed_time) {
            (Some(last), Some(since)) if last >= self.first_unsealed => Some(UnsealedTail {
                first_seq: self.first_unsealed,
                last_seq: last,
                since,
            }),
            _ => None,
        };
        VerifyOutcome {
            records: self.records,
            seals: self.seals,
            bytes: self.bytes,
            last_seq,
            head: self.prev,
            key_checked: self.k0.is_some(),
            unsealed_tail,
            key_update_pending: false,
            key_file_not_readable_here: false,
            problem,
        }
    }
}

/// Verifies segments held in memory: `(file name, bytes)` in order.
pub fn verify_segments(
    segments: &[(&str, &[u8])],
    k0: Option<&SealKey>,
    key_file: Result<Option<KeyFile>, StoreError>,
) -> VerifyOutcome {
    let mut verifier = Verifier::new(k0.cloned());
    if let Err(p) = feed_segments(&mut verifier, segments) {
        return verifier.outcome(Some(p));
    }
    verifier.finish(key_file)
}

fn feed_segments(verifier: &mut Verifier, segments: &[(&str, &[u8])]) -> Result<(), Problem> {
    segments
        .iter()
        .try_for_each(|(name, bytes)| feed_segment(verifier, name, bytes, 1))
}

/// Verifies segments held in memory that come without their key file (a backup, which never
/// carries `seal.key`): every seal is checked with `k0`, and the key file is taken to be the
/// one the log needs next. Returns the outcome and that next epoch; the key for it is
/// `k0.evolve_by(epoch)`.
pub fn verify_segments_without_key_file(
    segments: &[(&str, &[u8])],
    k0: &SealKey,
) -> (VerifyOutcome, u64) {
    let mut verifier = Verifier::new(Some(k0.clone()));
    if let Err(p) = feed_segments(&mut verifier, segments) {
        let epoch = verifier.next_epoch;
        return (verifier.outcome(Some(p)), epoch);
    }
    let epoch = verifier.next_epoch;
    let key_file = KeyFile {
        epoch,
        key: k0.evolve_by(epoch),
    };
    (verifier.finish(Ok(Some(key_file))), epoch)
}

/// Feeds the lines of one segment held in memory, numbering from `first_line`.
pub fn feed_segment(
    verifier: &mut Verifier,
    name: &str,
    bytes: &[u8],
    first_line: u64,
) -> Result<(), Problem> {
    let mut rest = bytes;
    let mut line_no = first_line;
    while !rest.is_empty() {
        let loc = Location {
            file: name.to_owned(),
            line: line_no,
        };
        match rest.iter().position(|&b| b == b'\n') {
            Some(end) => {
                verifier.feed_line(&rest[..end], &loc)?;
                rest = &rest[end + 1..];
            }
            None => return Err(verifier.torn(rest.len(), &loc)),
        }
        line_no += 1;
    }
    Ok(())
}

/// Verifies the log in `dir`, streaming each segment. `progress` gets the bytes read so far;
/// `total` (first call) is the sum of the segment sizes.
pub fn verify_dir(
    dir: &Path,
    k0: Option<&SealKey>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<VerifyOutcome, StoreError> {
    let segments =
        list_segments(dir).map_err(|e| StoreError::io("listing the log directory", dir, e))?;
    let total: u64 = segments
        .iter()
        .filter_map(|(_, p)| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let mut verifier = Verifier::new(k0.cloned());
    let mut done = 0u64;
    progress(0, total);
    for (index, (number, path)) in segments.iter().enumerate() {
        let name = segment_name(*number);
        let expected_number = index as u64 + 1;
        if *number != expected_number {
            let missing = Problem {
                seq: verifier.expected_seq,
                location: Some(Location {
                    file: name,
                    line: 1,
                }),
                kind: ProblemKind::SegmentMissing {
                    name: segment_name(expected_number),
                },
            };
            return Ok(verifier.outcome(Some(missing)));
        }
        let file = File::open(path).map_err(|e| StoreError::io("opening a segment", path, e))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut line = Vec::with_capacity(512);
        let mut line_no = 0u64;
        loop {
            line.clear();
            line_no += 1;
            let n = (&mut reader)
                .take(MAX_LINE_LEN as u64 + 2)
                .read_until(b'\n', &mut line)
                .map_err(|e| StoreError::io("reading a segment", path, e))?;
            if n == 0 {
                break;
            }
            done += n as u64;
            let loc = Location {
                file: name.clone(),
                line: line_no,
            };
            let result = match line.strip_suffix(b"\n") {
                Some(body) => verifier.feed_line(body, &loc),
                // Over-long lines are cut at the cap and then fail as too long.
                None if n > MAX_LINE_LEN => verifier.feed_line(&line, &loc),
                None => Err(verifier.torn(line.len(), &loc)),
            };
            if let Err(p) = result {
                return Ok(verifier.outcome(Some(p)));
            }
            if line_no & 0xFFF == 0 {
                progress(done, total);
            }
        }
    }
    progress(done, total);
    Ok(verifier.finish(read_key_file(dir)))
}
