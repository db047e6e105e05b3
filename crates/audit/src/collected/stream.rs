//! [`TerminalStream`]: one terminal's arrival stream in, its records out in sequence order,
//! each once, verified as they pass; then [`TerminalStream::finish`] says where it stands.
//!
//! Memory is bounded per stream: one buffer for the file being read, a ring of the last
//! [`StreamOptions::ring`] records taken (number and hash, to tell a duplicate from a
//! conflict), and a reorder window of at most [`StreamOptions::window_records`] records or
//! [`StreamOptions::window_bytes`] bytes that arrived ahead of a missing one. When the window
//! is full, or the files end, the missing range is declared a gap and the stream moves on.

use std::collections::BTreeMap;

use super::chain::Chain;
use super::line::{fields, Fields, KindFinder, LineError, Spans};
use super::reader::{Line, Reader};
use super::report::{BadLine, Finding, FindingKind, Gap, ProblemReport, TerminalReport};
use super::root::Terminal;
use super::CollectedError;
use crate::record::{Digest, Event, LogId, Record, Timestamp};
use crate::report::{Break, LogCheckpoint};
use crate::seal::SealKey;

/// Most gap ranges listed (all are counted).
pub const MAX_GAPS: usize = 64;

/// The bounds of one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamOptions {
    /// Most records waiting in the reorder window.
    pub window_records: usize,
    /// Most bytes waiting in it.
    pub window_bytes: usize,
    /// How many of the last records taken are remembered (number and hash).
    pub ring: usize,
    /// The read buffer's size (at least a record's 16 KiB and its newline).
    pub buffer: usize,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            window_records: 4096,
            window_bytes: 4 << 20,
            ring: 1024,
            buffer: 64 << 10,
        }
    }
}

/// One record, in sequence order, borrowed until the next call.
#[derive(Debug, Clone, Copy)]
pub struct CollectedRecord<'a> {
    /// Which chain of the terminal: 0, then 1 after a fresh genesis replaced the first, …
    pub chain: u32,
    /// The record's number.
    pub seq: u64,
    /// Its line, as the terminal wrote it (without the newline).
    pub line: &'a [u8],
    /// Its event kind (`login_granted`, …).
    pub kind: &'a str,
    /// Its time, as written (`YYYY-MM-DDThh:mm:ss.mmmZ`).
    pub time: &'a str,
}

impl CollectedRecord<'_> {
    /// The whole record (the review's parse).
    pub fn parse(&self) -> Result<Record, crate::ParseError> {
        Record::parse(self.line)
    }
}

/// What an earlier run witnessed of this terminal, and what this run finds of it.
struct Witness {
    entry: LogCheckpoint,
    seen_log: bool,
    hash_at: Option<Digest>,
    epoch: Option<u64>,
}

/// Everything but the buffers lent out.
struct State {
    host: String,
    finder: KindFinder,
    opts: StreamOptions,
    k0: Option<SealKey>,
    chain: Chain,
    chain_index: u32,
    replaced: Vec<(LogId, Option<u64>)>,
    next: u64,
    window: BTreeMap<u64, Vec<u8>>,
    window_bytes: usize,
    ring: Vec<(u64, Digest)>,
    deferred: Option<Vec<u8>>,
    lines: u64,
    records: u64,
    duplicates: u64,
    out_of_order: u64,
    late: u64,
    resent_too_old: u64,
    first_resent: Option<u64>,
    conflicts: u64,
    first_conflict: Option<u64>,
    not_records: u64,
    first_not_record: Option<BadLine>,
    partial_tail: u64,
    gaps: Vec<Gap>,
    gap_ranges: u64,
    missing: u64,
    witness: Option<Witness>,
}

/// One terminal's collected log as a stream of its records in sequence order.
pub struct TerminalStream {
    reader: Reader,
    popped: Vec<u8>,
    st: State,
}

impl std::fmt::Debug for TerminalStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TerminalStream")
            .field("host", &self.st.host)
            .field("next", &self.st.next)
            .finish_non_exhaustive()
    }
}

/// Where "now" is and how long a terminal may stay silent.
#[derive(Debug, Clone, Copy)]
pub struct Judge {
    /// The time of the run.
    pub now: Timestamp,
    /// Silent when the last record is older than this (milliseconds), unless it is a stop.
    pub silent_after_ms: i64,
}

/// Where the record just taken is: the read buffer's range (`None`: the popped line), and
/// its fields' places.
type Ready = (Option<std::ops::Range<usize>>, Spans);

enum Arrival {
    Take,
    Window,
    Fresh,
    Done,
}

impl State {
    fn in_gaps(&self, seq: u64) -> bool {
        self.gaps.iter().any(|g| (g.first..=g.last).contains(&seq))
    }

    fn bad_line(&mut self, file: String, line: u64, why: String) {
        self.not_records += 1;
        if self.first_not_record.is_none() {
            self.first_not_record = Some(BadLine { file, line, why });
        }
    }

    fn conflict(&mut self, seq: u64) {
        self.conflicts += 1;
        self.first_conflict.get_or_insert(seq);
    }

    /// Decides what an arriving record line is.
    fn arrive(&mut self, line: &[u8], f: &Fields<'_>) -> Arrival {
        let seq = f.seq;
        if seq == self.next {
            return Arrival::Take;
        }
        if seq > self.next {
            if let Some(waiting) = self.window.get(&seq) {
                if waiting.as_slice() == line {
                    self.duplicates += 1;
                } else {
                    self.conflict(seq);
                }
                return Arrival::Done;
            }
            return Arrival::Window;
        }
        if seq == 0 && f.kind == b"genesis" && self.deferred.is_none() {
            if let (
                Ok(Record {
                    event: Event::Genesis { log_id, .. },
                    ..
                }),
                Some(current),
            ) = (Record::parse(line), self.chain.log_id)
            {
                if log_id != current {
                    return Arrival::Fresh;
                }
            }
        }
        let slot = (seq % self.ring.len().max(1) as u64) as usize;
        match self.ring.get(slot) {
            Some(&(s, hash)) if s == seq => {
                if Digest::sha256(line) == hash {
                    self.duplicates += 1;
                } else {
                    self.conflict(seq);
                }
            }
            _ if self.in_gaps(seq) => self.late += 1,
            _ => {
                self.resent_too_old += 1;
                self.first_resent.get_or_insert(seq);
            }
        }
        Arrival::Done
    }

    fn window_full(&self) -> bool {
        self.window.len() > self.opts.window_records || self.window_bytes > self.opts.window_bytes
    }

    /// The records before the window's first are missing: a gap.
    fn declare_gap(&mut self) {
        let Some((&first_waiting, _)) = self.window.first_key_value() else {
            return;
        };
        let gap = Gap {
            first: self.next,
            last: first_waiting - 1,
        };
        self.gap_ranges += 1;
        self.missing += gap.last - gap.first + 1;
        if self.gaps.len() < MAX_GAPS {
            self.gaps.push(gap);
        }
        self.next = first_waiting;
        self.chain.gap();
    }

    /// Takes a record in sequence order.
    fn take(&mut self, line: &[u8], f: &Fields<'_>) {
        let hash = self.chain.take(line, f);
        if !self.ring.is_empty() {
            let slot = (f.seq % self.ring.len() as u64) as usize;
            self.ring[slot] = (f.seq, hash);
        } else if self.opts.ring > 0 {
            self.ring = vec![(u64::MAX, Digest::default()); self.opts.ring];
            let slot = (f.seq % self.ring.len() as u64) as usize;
            self.ring[slot] = (f.seq, hash);
        }
        self.next = f.seq.saturating_add(1);
        self.records += 1;
        if let Some(w) = &mut self.witness {
            if self.chain.log_id == Some(w.entry.log_id) {
                w.seen_log = true;
                w.epoch = self.chain.seal_epoch;
                if f.seq == w.entry.seq {
                    w.hash_at = Some(hash);
                }
            }
        }
    }

    /// A fresh genesis: the chain so far ends here, a new one starts.
    fn fresh_chain(&mut self) {
        if let Some(id) = self.chain.log_id {
            self.replaced.push((id, self.chain.last_seq));
        }
        let old = std::mem::replace(&mut self.chain, Chain::new(self.k0.clone()));
        // The first chain's problem stays the report's: it is the older and the worse news.
        if let Some(p) = old.problem {
            self.chain.problem = Some(p);
            self.chain.problems = old.problems;
        }
        self.chain_index += 1;
        self.next = 0;
        for slot in &mut self.ring {
            *slot = (u64::MAX, Digest::default());
        }
    }
}

impl TerminalStream {
    /// A stream over `terminal`'s files; with `k0`, every seal's MAC is checked.
    pub fn new(terminal: &Terminal, k0: Option<SealKey>, opts: StreamOptions) -> Self {
        TerminalStream {
            reader: Reader::new(terminal.files.clone(), opts.buffer),
            popped: Vec::new(),
            st: State {
                host: terminal.host.clone(),
                finder: KindFinder::new(),
                opts,
                chain: Chain::new(k0.clone()),
                k0,
                chain_index: 0,
                replaced: Vec::new(),
                next: 0,
                window: BTreeMap::new(),
                window_bytes: 0,
                ring: Vec::new(),
                deferred: None,
                lines: 0,
                records: 0,
                duplicates: 0,
                out_of_order: 0,
                late: 0,
                resent_too_old: 0,
                first_resent: None,
                conflicts: 0,
                first_conflict: None,
                not_records: 0,
                first_not_record: None,
                partial_tail: 0,
                gaps: Vec::new(),
                gap_ranges: 0,
                missing: 0,
                witness: None,
            },
        }
    }

    /// The host name.
    pub fn host(&self) -> &str {
        &self.st.host
    }

    /// Checks, as the records pass, that this terminal's collected log still extends `entry`
    /// (a checkpoint of an earlier run): same log, record `entry.seq` with the same hash, no
    /// lower seal epoch.
    pub fn witness(&mut self, entry: LogCheckpoint) {
        self.st.witness = Some(Witness {
            entry,
            seen_log: false,
            hash_at: None,
            epoch: None,
        });
    }

    /// The next record in sequence order, or `None` at the end of the stream.
    pub fn next_record(&mut self) -> Result<Option<CollectedRecord<'_>>, CollectedError> {
        let (from_buffer, spans) = match self.advance()? {
            Some(ready) => ready,
            None => return Ok(None),
        };
        let line = match from_buffer {
            Some(range) => self.reader.buf.get(range).unwrap_or_default(),
            None => &self.popped[..],
        };
        let text = |r: std::ops::Range<usize>| {
            line.get(r)
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or("")
        };
        Ok(Some(CollectedRecord {
            chain: self.st.chain_index,
            seq: spans.seq,
            line,
            kind: text(spans.kind),
            time: text(spans.time),
        }))
    }

    /// Moves to the next record in order and takes it: where its line is (the read buffer's
    /// range, or `None` for [`Self::popped`]) and its fields' places.
    fn advance(&mut self) -> Result<Option<Ready>, CollectedError> {
        loop {
            let st = &mut self.st;
            if st
                .window
                .first_key_value()
                .is_some_and(|(&k, _)| k == st.next)
            {
                if let Some((_, line)) = st.window.pop_first() {
                    st.window_bytes -= line.len();
                    self.popped = line;
                    // It was read once already: its fixed parts are there.
                    if let Ok(f) = fields(&self.popped, &self.st.finder) {
                        self.st.take(&self.popped, &f);
                        return Ok(Some((None, f.spans(&self.popped))));
                    }
                }
                continue;
            }
            if st.deferred.is_some() {
                if !st.window.is_empty() {
                    st.declare_gap();
                    continue;
                }
                if let Some(line) = st.deferred.take() {
                    st.fresh_chain();
                    self.popped = line;
                    if let Ok(f) = fields(&self.popped, &self.st.finder) {
                        self.st.take(&self.popped, &f);
                        return Ok(Some((None, f.spans(&self.popped))));
                    }
                }
                continue;
            }
            let Some(line) = self.reader.next_line()? else {
                if !self.st.window.is_empty() {
                    self.st.declare_gap();
                    continue;
                }
                return Ok(None);
            };
            self.st.lines += 1;
            let range = match line {
                Line::Bytes(range) => range,
                Line::TooLong => {
                    let file = self.reader.file_name();
                    self.st
                        .bad_line(file, self.reader.line_no, LineError::TooLong.to_string());
                    continue;
                }
                Line::Torn { bytes, last_file } => {
                    if last_file {
                        self.st.partial_tail = bytes;
                        self.st.lines -= 1;
                    } else {
                        let file = self.reader.file_name();
                        self.st.bad_line(
                            file,
                            self.reader.line_no,
                            format!("{bytes} bytes without a newline at the end of the file"),
                        );
                    }
                    continue;
                }
            };
            let bytes = &self.reader.buf[range.clone()];
            let f = match fields(bytes, &self.st.finder) {
                Ok(f) => f,
                Err(e) => {
                    let file = self.reader.file_name();
                    self.st.bad_line(file, self.reader.line_no, e.to_string());
                    continue;
                }
            };
            match self.st.arrive(bytes, &f) {
                Arrival::Take => {
                    self.st.take(bytes, &f);
                    let spans = f.spans(bytes);
                    return Ok(Some((Some(range), spans)));
                }
                Arrival::Window => {
                    self.st.out_of_order += 1;
                    self.st.window_bytes += bytes.len();
                    self.st.window.insert(f.seq, bytes.to_vec());
                    if self.st.window_full() {
                        self.st.declare_gap();
                    }
                }
                Arrival::Fresh => self.st.deferred = Some(bytes.to_vec()),
                Arrival::Done => {}
            }
        }
    }

    /// Reads what is left and says where the terminal stands.
    pub fn finish(mut self, judge: &Judge) -> Result<TerminalReport, CollectedError> {
        while self.next_record()?.is_some() {}
        Ok(self.st.report(judge))
    }
}

impl State {
    fn report(self, judge: &Judge) -> TerminalReport {
        let chain = &self.chain;
        let last_time = chain.last_time();
        let last_kind = chain.last_kind();
        // A stopping daemon's last record is the seal of its close: the stop is the last
        // record that is not a seal.
        let stopped = chain.last_event_kind().as_deref() == Some("daemon_stopped");
        let silent = match last_time {
            Some(t) => {
                t.unix_ms().saturating_add(judge.silent_after_ms) < judge.now.unix_ms() && !stopped
            }
            None => false,
        };
        let mut findings = Vec::new();
        let mut find = |kind, seq, text: String| findings.push(Finding::new(kind, seq, text));
        let problem = chain.problem.as_ref().map(|p| ProblemReport {
            seq: p.seq,
            kind: p.code(),
            text: p.kind.to_string(),
        });
        if let Some(p) = &problem {
            find(
                FindingKind::ChainBroken,
                Some(p.seq),
                format!(
                    "record {}: {} ({} problems in all)",
                    p.seq, p.text, chain.problems
                ),
            );
        }
        if self.conflicts > 0 {
            find(
                FindingKind::Conflict,
                self.first_conflict,
                format!(
                    "{} lines differ from the records the collector already holds under the same numbers, the first for record {}: the terminal's log no longer matches what the collector witnessed (rewritten, or truncated and continued)",
                    self.conflicts,
                    self.first_conflict.unwrap_or_default()
                ),
            );
        }
        if !self.replaced.is_empty() {
            let olds: Vec<String> = self
                .replaced
                .iter()
                .map(|(id, last)| match last {
                    Some(l) => format!("{id} (up to record {l})"),
                    None => id.to_string(),
                })
                .collect();
            find(
                FindingKind::Replaced,
                Some(0),
                format!(
                    "a fresh chain (another genesis) replaced the log {}: the terminal's log was deleted and started afresh",
                    olds.join(", ")
                ),
            );
        }
        if let Some(g) = self.gaps.first() {
            find(
                FindingKind::Gap,
                Some(g.first),
                format!(
                    "{} records never arrived, in {} ranges, the first {}-{}",
                    self.missing, self.gap_ranges, g.first, g.last
                ),
            );
        }
        if self.resent_too_old > 0 {
            find(
                FindingKind::ResentTooOld,
                self.first_resent,
                format!(
                    "{} records arrived again too long after they were taken to be compared, the first record {}: the terminal's log was replaced or its shipping state lost",
                    self.resent_too_old,
                    self.first_resent.unwrap_or_default()
                ),
            );
        }
        if self.late > 0 {
            find(
                FindingKind::Late,
                None,
                format!(
                    "{} records arrived after their gap had been declared (beyond the reorder window): not verified",
                    self.late
                ),
            );
        }
        if let Some(b) = &self.first_not_record {
            find(
                FindingKind::NotRecords,
                None,
                format!(
                    "{} lines are not records, the first {} line {}: {}",
                    self.not_records, b.file, b.line, b.why
                ),
            );
        }
        if silent {
            find(
                FindingKind::Silent,
                chain.last_seq,
                format!(
                    "no record since {} (longer than {} minutes), and the last one is not a stop",
                    last_time.map(|t| t.to_string()).unwrap_or_default(),
                    judge.silent_after_ms / 60_000
                ),
            );
        }
        if self.records == 0 {
            find(
                FindingKind::Empty,
                None,
                "no record has arrived from this terminal".to_owned(),
            );
        }
        if let Some(w) = &self.witness {
            let e = &w.entry;
            let how = if !w.seen_log {
                if self.records > 0 {
                    Some(Break::Replaced)
                } else {
                    Some(Break::Missing)
                }
            } else {
                match w.hash_at {
                    None => Some(Break::Truncated),
                    Some(h) if h != e.hash => Some(Break::Rewritten),
                    Some(_) if w.epoch < e.seal_epoch => Some(Break::RolledBack),
                    Some(_) => None,
                }
            };
            if let Some(how) = how {
                let what = match how {
                    Break::Missing => "holds none of its records any more",
                    Break::Replaced => "holds another chain",
                    Break::Truncated => "ends before that record (cut back)",
                    Break::Rewritten => "holds another line for that record (rewritten)",
                    _ => "has an older seal epoch (rolled back)",
                };
                find(
                    FindingKind::NotExtended,
                    Some(e.seq),
                    format!(
                        "the checkpoint had log {} up to record {} (seal epoch {}); the collected copy {what}",
                        e.log_id,
                        e.seq,
                        e.seal_epoch.map_or_else(|| "-".to_owned(), |n| n.to_string())
                    ),
                );
            }
        }
        let checkpoint = match (
            chain.log_id,
            &chain.terminal,
            chain.last_seq,
            chain.prev,
            last_time,
        ) {
            (Some(log_id), Some(terminal), Some(seq), Some(hash), Some(time)) => {
                Some(LogCheckpoint {
                    log_id,
                    host: terminal.as_str().to_owned(),
                    terminals: vec![self.host.clone()],
                    seq,
                    hash,
                    time,
                    seal_epoch: chain.seal_epoch,
                })
            }
            _ => None,
        };
        TerminalReport {
            host: self.host,
            log_id: chain.log_id.map(|id| id.to_string()),
            terminal: chain.terminal.as_ref().map(|t| t.as_str().to_owned()),
            key_checked: chain.key_checked(),
            lines: self.lines,
            records: self.records,
            last_seq: chain.last_seq,
            verified_up_to: chain.verified_up_to,
            seal_epoch: chain.seal_epoch,
            unsealed_from: chain.unsealed_from(),
            gaps: self.gaps,
            gap_ranges: self.gap_ranges,
            missing: self.missing,
            duplicates: self.duplicates,
            out_of_order: self.out_of_order,
            late: self.late,
            resent_too_old: self.resent_too_old,
            conflicts: self.conflicts,
            first_conflict: self.first_conflict,
            replaced: !self.replaced.is_empty(),
            replaced_log_ids: self.replaced.iter().map(|(id, _)| id.to_string()).collect(),
            problem,
            problems: chain.problems,
            not_records: self.not_records,
            first_not_record: self.first_not_record,
            partial_tail: self.partial_tail,
            last_time,
            last_kind,
            silent,
            findings,
            checkpoint,
        }
    }
}
