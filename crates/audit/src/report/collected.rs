//! The review over the collector's files (issue 13, item 4): one [`CollectedLog`] per
//! terminal directory under the collected root, reading the central verification's
//! [`TerminalStream`] (records in sequence order, each once, verified as they pass), and, at
//! its end, the central verification's findings about the terminal as review findings, in the
//! review's severity scheme, at the top of the same report.

use super::findings::{Detail, Finding, FindingKind, RecordRef};
use super::source::{LogSource, SourceEnd};
use super::{ReportError, Verification, VerificationStatus};
use crate::collected::{self, Judge, StreamOptions, Terminal, TerminalReport, TerminalStream};
use crate::record::{Record, Timestamp};
use crate::seal::SealKey;

/// The buffer each terminal's stream reads through (a thousand are open at once).
pub const COLLECTED_BUFFER: usize = 32 * 1024;

/// One collected terminal, read through the central verification.
pub struct CollectedLog {
    name: String,
    host: String,
    stream: Option<TerminalStream>,
    judge: Judge,
    line: Vec<u8>,
    /// Records the verification took that the review could not parse whole (each skipped).
    unparsed: u64,
    first_unparsed: Option<u64>,
}

impl CollectedLog {
    /// The terminal `terminal` (from [`collected::list_terminals`]), verified with its k(0)
    /// when given; `judge` says when it counts as silent.
    pub fn open(terminal: &Terminal, key: Option<SealKey>, judge: Judge) -> Self {
        let options = StreamOptions {
            buffer: COLLECTED_BUFFER,
            ..StreamOptions::default()
        };
        CollectedLog {
            name: terminal.dir.display().to_string(),
            host: terminal.host.clone(),
            stream: Some(TerminalStream::new(terminal, key, options)),
            judge,
            line: Vec::with_capacity(512),
            unparsed: 0,
            first_unparsed: None,
        }
    }
}

/// When a terminal is silent: its last record more than `minutes` before `now` (the system
/// clock when absent), and not the daemon's stop.
pub fn judge(now: Option<Timestamp>, minutes: u32) -> Judge {
    Judge {
        now: now.unwrap_or_else(|| Timestamp::from_datetime(time::OffsetDateTime::now_utc())),
        silent_after_ms: i64::from(minutes) * 60_000,
    }
}

impl LogSource for CollectedLog {
    fn name(&self) -> &str {
        &self.name
    }

    fn host(&self) -> Option<&str> {
        Some(&self.host)
    }

    fn next_record(&mut self) -> Result<Option<(Record, &[u8])>, ReportError> {
        let Some(stream) = &mut self.stream else {
            return Ok(None);
        };
        loop {
            let Some(taken) = stream.next_record()? else {
                return Ok(None);
            };
            match taken.parse() {
                Ok(record) => {
                    self.line.clear();
                    self.line.extend_from_slice(taken.line);
                    return Ok(Some((record, &self.line)));
                }
                // Verified by its fixed parts, but not a whole record: the review skips it
                // and says so.
                Err(_) => {
                    self.unparsed += 1;
                    self.first_unparsed.get_or_insert(taken.seq);
                }
            }
        }
    }

    fn finish(self: Box<Self>) -> Result<SourceEnd, ReportError> {
        let mut this = *self;
        let Some(stream) = this.stream.take() else {
            return Err(ReportError::NoLogs);
        };
        let report = stream.finish(&this.judge)?;
        let mut findings = terminal_findings(&this.name, &this.host, &report);
        if this.unparsed > 0 {
            let mut f = Finding::new(
                FindingKind::TerminalUnreadable,
                Detail::Terminal {
                    count: this.unparsed,
                    seq: this.first_unparsed,
                    last_time: None,
                    last_kind: None,
                },
            );
            f.log = Some(this.name.clone());
            f.terminal = Some(this.host.clone());
            findings.push(f);
        }
        Ok(SourceEnd {
            verification: verification(&report),
            findings,
        })
    }
}

/// A collected terminal's verification, as the review shows every log's. Records missing on
/// the way break it as they break a local log's (nothing after them is linked, so nothing
/// after them is verified): the collector's copy is then not intact from there.
pub fn verification(r: &TerminalReport) -> Verification {
    let problem = r.problem.as_ref();
    let (first_bad, text) = match (problem, r.gaps.first()) {
        (Some(p), _) => (Some(p.seq), Some(format!("record {}: {}", p.seq, p.text))),
        (None, Some(g)) => (
            Some(g.last.saturating_add(1)),
            Some(format!(
                "records {}-{} never reached the collector ({} missing in {} ranges): nothing after them is verified",
                g.first, g.last, r.missing, r.gap_ranges
            )),
        ),
        (None, None) => (None, None),
    };
    Verification {
        status: match (&text, r.key_checked) {
            (Some(_), _) => VerificationStatus::NotIntact,
            (None, true) => VerificationStatus::Intact,
            (None, false) => VerificationStatus::Unverified,
        },
        key_checked: r.key_checked,
        records: r.records,
        seals: r.seal_epoch.map_or(0, |e| e.saturating_add(1)),
        intact_up_to: r.verified_up_to,
        first_bad,
        problem: text,
        key_may_be_wrong: r.key_checked
            && r.seal_epoch.is_none()
            && problem.is_some_and(|p| p.kind == "seal_mac"),
        // What the central verification has not verified under a seal is unsealed to the
        // review: the tail after the last seal, and everything after a gap or a problem.
        unsealed_from: match (r.unsealed_from, r.verified_up_to, r.last_seq) {
            (Some(u), _, _) => Some(u),
            (None, Some(v), Some(last)) if v < last => Some(v.saturating_add(1)),
            (None, None, Some(_)) => Some(0),
            _ => None,
        },
    }
}

/// The central verification's findings about one terminal as review findings (`log`: its
/// directory, `host`: its name). A chain that does not verify is the review's
/// `log_not_intact` (from [`verification`]); the checkpoint is the review's own.
pub fn terminal_findings(log: &str, host: &str, r: &TerminalReport) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut push = |kind, detail, time: Option<Timestamp>, records: Vec<RecordRef>| {
        let mut f = Finding::new(kind, detail);
        f.log = Some(log.to_owned());
        f.terminal = Some(host.to_owned());
        f.time = time;
        f.records = records;
        out.push(f);
    };
    let terminal = |count, seq| Detail::Terminal {
        count,
        seq,
        last_time: None,
        last_kind: None,
    };
    for finding in &r.findings {
        match finding.kind {
            collected::FindingKind::Conflict => push(
                FindingKind::TerminalConflict,
                terminal(r.conflicts, r.first_conflict),
                None,
                Vec::new(),
            ),
            collected::FindingKind::Replaced => push(
                FindingKind::TerminalReplaced,
                terminal(r.replaced_log_ids.len() as u64, None),
                None,
                Vec::new(),
            ),
            collected::FindingKind::Gap => {
                for g in &r.gaps {
                    push(
                        FindingKind::RecordGap,
                        Detail::RecordGap {
                            first_missing: g.first,
                            last_missing: g.last,
                        },
                        None,
                        vec![RecordRef {
                            log: log.to_owned(),
                            seq: g.last.saturating_add(1),
                        }],
                    );
                }
            }
            collected::FindingKind::ResentTooOld => push(
                FindingKind::TerminalResent,
                terminal(r.resent_too_old, finding.seq),
                None,
                Vec::new(),
            ),
            collected::FindingKind::Late => push(
                FindingKind::TerminalLate,
                terminal(r.late, finding.seq),
                None,
                Vec::new(),
            ),
            collected::FindingKind::NotRecords => push(
                FindingKind::TerminalUnreadable,
                terminal(r.not_records, None),
                None,
                Vec::new(),
            ),
            collected::FindingKind::Silent => push(
                FindingKind::TerminalSilent,
                Detail::Terminal {
                    count: 1,
                    seq: r.last_seq,
                    last_time: r.last_time,
                    last_kind: r.last_kind.clone(),
                },
                // At the top of its severity, with the others about the terminal as a whole.
                None,
                r.last_seq
                    .map(|seq| RecordRef {
                        log: log.to_owned(),
                        seq,
                    })
                    .into_iter()
                    .collect(),
            ),
            collected::FindingKind::Empty => push(
                FindingKind::TerminalEmpty,
                terminal(0, None),
                None,
                Vec::new(),
            ),
            // The chain: the verification's `log_not_intact`. The checkpoint of an earlier
            // run: the review checks its own (`--checkpoint`). Kinds this version does not
            // know are the central verification's (`audit collected`) to show.
            _ => {}
        }
    }
    out
}
