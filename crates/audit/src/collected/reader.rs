//! Reads one terminal's arrival files line by line, one file open at a time, through one
//! buffer of its own (no copy of a line that fits in it, which every record does).

use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::path::PathBuf;

use super::CollectedError;
use crate::record::MAX_LINE_LEN;

/// What the next line is.
pub(crate) enum Line {
    /// A line (without its newline) at this range of the buffer.
    Bytes(Range<usize>),
    /// A line longer than a record may be, skipped.
    TooLong,
    /// Bytes after the last newline of a file.
    Torn {
        /// How many.
        bytes: u64,
        /// In the last file: a line still being written, not an error.
        last_file: bool,
    },
}

pub(crate) struct Reader {
    files: Vec<PathBuf>,
    next_file: usize,
    file: Option<File>,
    /// The buffer; allocated when the first file opens, dropped at the end.
    pub(crate) buf: Vec<u8>,
    capacity: usize,
    start: usize,
    end: usize,
    /// Inside a line that is too long: skip to its newline.
    skipping: bool,
    /// The current file's index in `files`, and the number of the line just read.
    pub(crate) current: usize,
    pub(crate) line_no: u64,
}

impl Reader {
    /// `capacity` is raised to hold the longest record and its newline.
    pub(crate) fn new(files: Vec<PathBuf>, capacity: usize) -> Self {
        Reader {
            files,
            next_file: 0,
            file: None,
            buf: Vec::new(),
            capacity: capacity.max(MAX_LINE_LEN + 2),
            start: 0,
            end: 0,
            skipping: false,
            current: 0,
            line_no: 0,
        }
    }

    /// The current file's name, for messages.
    pub(crate) fn file_name(&self) -> String {
        self.files
            .get(self.current)
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    }

    pub(crate) fn next_line(&mut self) -> Result<Option<Line>, CollectedError> {
        loop {
            if self.file.is_none() {
                let Some(path) = self.files.get(self.next_file) else {
                    self.buf = Vec::new();
                    return Ok(None);
                };
                let file = File::open(path).map_err(|source| CollectedError::Io {
                    op: "opening",
                    path: path.clone(),
                    source,
                })?;
                // Capacity only: the reads fill it, nothing is zeroed first.
                if self.buf.capacity() < self.capacity {
                    self.buf = Vec::with_capacity(self.capacity);
                }
                self.buf.clear();
                self.file = Some(file);
                self.current = self.next_file;
                self.next_file += 1;
                self.line_no = 0;
                self.start = 0;
                self.end = 0;
                self.skipping = false;
            }
            if let Some(at) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                let line = self.start..self.start + at;
                self.start += at + 1;
                self.line_no += 1;
                if self.skipping {
                    self.skipping = false;
                    return Ok(Some(Line::TooLong));
                }
                if line.len() > MAX_LINE_LEN {
                    return Ok(Some(Line::TooLong));
                }
                return Ok(Some(Line::Bytes(line)));
            }
            // No newline in what is buffered: make room and read more.
            if self.skipping || self.end - self.start > MAX_LINE_LEN {
                self.skipping = true;
                self.start = 0;
                self.end = 0;
                self.buf.clear();
            } else if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
                self.buf.truncate(self.end);
            }
            let Some(file) = self.file.as_mut() else {
                continue;
            };
            // `buf` holds exactly `end` bytes; read up to its capacity after them.
            let room = (self.capacity - self.end) as u64;
            let n = match file.take(room).read_to_end(&mut self.buf) {
                Ok(n) => n,
                Err(source) => {
                    return Err(CollectedError::Io {
                        op: "reading",
                        path: self.files.get(self.current).cloned().unwrap_or_default(),
                        source,
                    })
                }
            };
            if n > 0 {
                self.end += n;
                continue;
            }
            // The end of this file.
            self.file = None;
            let rest = (self.end - self.start) as u64;
            let skipped = self.skipping;
            self.start = 0;
            self.end = 0;
            self.buf.clear();
            self.skipping = false;
            if skipped {
                self.line_no += 1;
                return Ok(Some(Line::TooLong));
            }
            if rest > 0 {
                self.line_no += 1;
                return Ok(Some(Line::Torn {
                    bytes: rest,
                    last_file: self.next_file >= self.files.len(),
                }));
            }
        }
    }
}
