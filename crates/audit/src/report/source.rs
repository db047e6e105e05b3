//! Where the review's records come from: one [`LogSource`] per log, yielding that log's records
//! in its own order (their times never go back within a log) one at a time, without holding
//! them. The review merges the sources by time ([`super::review_sources`]), so that what it holds
//! is one record per log, never the logs.
//!
//! * [`LocalLog`]: a log directory as the daemon writes it (`audit-*.jsonl` segments), verified
//!   as it is read (one pass: the verifier and the review see each line once);
//! * [`super::collected::CollectedLog`]: a collected terminal (`cardgate_audit::collected`), one
//!   stream per terminal directory under the collector's root, verified by the central
//!   verification as it goes.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::findings::{Detail, Finding, FindingKind, RecordRef};
use super::{ReportError, Verification};
use crate::error::StoreError;
use crate::record::{Record, MAX_LINE_LEN};
use crate::seal::{read_key_file, SealKey};
use crate::segments::{list_segments, segment_name};
use crate::verify::{Location, Problem, ProblemKind, Verifier};

/// The buffer each open source reads through. A thousand logs open at once hold a thousand of
/// these: small, since the review reads every file once, front to back.
pub const SOURCE_BUFFER: usize = 32 * 1024;

/// One log, read record by record in its order.
pub trait LogSource {
    /// The log's name in the report: its directory (canonical path).
    fn name(&self) -> &str;
    /// For a collected terminal, its host (its directory's name under the collected root):
    /// its records are placed by the terminal they name, qualified by the host, never through
    /// the configuration's readers (another host's).
    fn host(&self) -> Option<&str> {
        None
    }
    /// The next record and its line as written (without the newline), or `None` at the end.
    /// A line that is not a record ends the log here (its verification names it).
    fn next_record(&mut self) -> Result<Option<(Record, &[u8])>, ReportError>;
    /// After the end: how the log verified, and the findings the source made about the log as
    /// a whole (records missing, a collected terminal's conflicts, …).
    fn finish(self: Box<Self>) -> Result<SourceEnd, ReportError>;
}

/// What a source says about its log once read.
#[derive(Debug)]
pub struct SourceEnd {
    /// The verification.
    pub verification: Verification,
    /// Findings about the log as a whole, in the review's severity scheme.
    pub findings: Vec<Finding>,
}

/// Most gap findings one log gives; more are counted in the last one's range.
pub const MAX_GAPS_PER_LOG: usize = 1000;

/// Record numbers missing in one log, as its records go by (between two records read, or
/// before the first): a finding per gap, at most [`MAX_GAPS_PER_LOG`].
#[derive(Debug, Default)]
pub(crate) struct GapTracker {
    expected: u64,
    found: Vec<Finding>,
}

impl GapTracker {
    pub fn see(&mut self, log: &str, r: &Record) {
        if r.seq > self.expected {
            if self.found.len() < MAX_GAPS_PER_LOG {
                let mut f = Finding::new(
                    FindingKind::RecordGap,
                    Detail::RecordGap {
                        first_missing: self.expected,
                        last_missing: r.seq - 1,
                    },
                );
                f.log = Some(log.to_owned());
                f.time = Some(r.time);
                f.records = vec![RecordRef {
                    log: log.to_owned(),
                    seq: r.seq,
                }];
                self.found.push(f);
            } else if let Some(Detail::RecordGap { last_missing, .. }) =
                self.found.last_mut().map(|f| &mut f.detail)
            {
                *last_missing = r.seq - 1;
            }
        }
        self.expected = self.expected.max(r.seq.saturating_add(1));
    }

    pub fn finish(self) -> Vec<Finding> {
        self.found
    }
}

/// A log directory (segments `audit-00000001.jsonl`, …), verified as it is read: the chain
/// always, the seals with k(0) when given, the segment numbering and, at the end, the key
/// file. The first problem stops the verification there; the records go on being read (a gap
/// is a finding of its own) up to the first line that is not a record.
pub struct LocalLog {
    name: String,
    dir: PathBuf,
    segments: std::vec::IntoIter<(u64, PathBuf)>,
    index: u64,
    reader: Option<(String, PathBuf, BufReader<File>)>,
    line_no: u64,
    line: Vec<u8>,
    verifier: Verifier,
    problem: Option<Problem>,
    gaps: GapTracker,
    done: bool,
}

impl LocalLog {
    /// Opens the log in `dir` (its canonical path names it), to be verified with `key`.
    pub fn open(dir: &Path, key: Option<&SealKey>) -> Result<Self, ReportError> {
        let segments =
            list_segments(dir).map_err(|e| StoreError::io("listing the log directory", dir, e))?;
        Ok(LocalLog {
            name: dir.display().to_string(),
            dir: dir.to_owned(),
            segments: segments.into_iter(),
            index: 0,
            reader: None,
            line_no: 0,
            line: Vec::with_capacity(512),
            verifier: Verifier::new(key.cloned()),
            problem: None,
            gaps: GapTracker::default(),
            done: false,
        })
    }

    fn next_seq(&self) -> u64 {
        self.verifier.outcome(None).last_seq.map_or(0, |s| s + 1)
    }

    /// Opens the next segment; false when there is none.
    fn next_segment(&mut self) -> Result<bool, ReportError> {
        let Some((number, path)) = self.segments.next() else {
            return Ok(false);
        };
        self.index += 1;
        let name = segment_name(number);
        if number != self.index && self.problem.is_none() {
            self.problem = Some(Problem {
                seq: self.next_seq(),
                location: Some(Location {
                    file: name.clone(),
                    line: 1,
                }),
                kind: ProblemKind::SegmentMissing {
                    name: segment_name(self.index),
                },
            });
        }
        let file = File::open(&path).map_err(|e| StoreError::io("opening a segment", &path, e))?;
        self.reader = Some((name, path, BufReader::with_capacity(SOURCE_BUFFER, file)));
        self.line_no = 0;
        Ok(true)
    }
}

impl LogSource for LocalLog {
    fn name(&self) -> &str {
        &self.name
    }

    fn next_record(&mut self) -> Result<Option<(Record, &[u8])>, ReportError> {
        loop {
            if self.done {
                return Ok(None);
            }
            let Some((file, path, reader)) = &mut self.reader else {
                if !self.next_segment()? {
                    self.done = true;
                }
                continue;
            };
            self.line.clear();
            self.line_no += 1;
            let n = reader
                .take(MAX_LINE_LEN as u64 + 2)
                .read_until(b'\n', &mut self.line)
                .map_err(|e| StoreError::io("reading a segment", path.as_path(), e))?;
            if n == 0 {
                self.reader = None;
                continue;
            }
            let loc = Location {
                file: file.clone(),
                line: self.line_no,
            };
            let Some(body) = self.line.strip_suffix(b"\n") else {
                // A torn last line is left for the writer to quarantine; an over-long one is
                // cut at the cap. Either ends this segment for the review; the verification
                // names it.
                if self.problem.is_none() {
                    self.problem = Some(if n > MAX_LINE_LEN {
                        match self.verifier.feed_line(&self.line, &loc) {
                            Err(p) => p,
                            Ok(()) => self.verifier.torn(self.line.len(), &loc),
                        }
                    } else {
                        self.verifier.torn(self.line.len(), &loc)
                    });
                }
                self.reader = None;
                continue;
            };
            if self.problem.is_none() {
                if let Err(p) = self.verifier.feed_line(body, &loc) {
                    self.problem = Some(p);
                }
            }
            // What cannot be read stops the review of this log here: the verification names
            // the line, as a finding at the top.
            let Ok(record) = Record::parse(body) else {
                self.done = true;
                self.reader = None;
                return Ok(None);
            };
            self.gaps.see(&self.name, &record);
            let len = body.len();
            return Ok(Some((record, &self.line[..len])));
        }
    }

    fn finish(self: Box<Self>) -> Result<SourceEnd, ReportError> {
        let this = *self;
        let outcome = match this.problem {
            Some(p) => this.verifier.outcome(Some(p)),
            None => this.verifier.finish(read_key_file(&this.dir)),
        };
        Ok(SourceEnd {
            verification: Verification::of(&outcome),
            findings: this.gaps.finish(),
        })
    }
}

/// The directories to review, each once: a directory given twice, or by two paths, is read
/// once. A directory that is gone is skipped when a previous checkpoint will say so.
pub(crate) fn unique_dirs(
    dirs: &[&Path],
    tolerate_missing: bool,
) -> Result<Vec<PathBuf>, ReportError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for dir in dirs {
        let canonical = match std::fs::canonicalize(dir) {
            Ok(c) => c,
            Err(e) if tolerate_missing && e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(ReportError::Dir {
                    dir: dir.to_path_buf(),
                    source,
                })
            }
        };
        if seen.insert(canonical.clone()) {
            out.push(canonical);
        }
    }
    Ok(out)
}
