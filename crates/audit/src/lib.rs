//! cardgate's audit log: the tamper-evident, forward-secure-sealed, durable record of every
//! card use (art. 7, art. 8, art. 12), and the access manager's review of it.
//!
//! * [`record`]: one JSON object per line, hash-chained from a genesis record; the closed set
//!   of [`Event`]s (no field can hold a PIN, PUK or key);
//! * [`seal`]: forward-secure sealing keys, `k(i+1) = HMAC(k(i), "evolve")`;
//! * [`writer`]: [`AuditLog`], group commit with fdatasync before the acknowledgement, torn-tail
//!   quarantine, rotation, sealing every N records or T seconds;
//! * [`storage`]: the file-system seam, with a fault-injecting implementation for tests;
//! * [`verify`]: the verifier, naming the first bad record;
//! * [`report`]: the access manager's review (art. 7, art. 12);
//! * [`collected`]: the central verification of the logs a site's collector holds;
//! * [`cli`]: what `cardgatectl audit …` does;
//! * [`caller`]: who runs this process, for records a command-line tool writes itself.
//!
//! See `docs/audit.md` for the design.
#![forbid(unsafe_code)]

pub mod caller;
pub mod cli;
pub mod collected;
pub mod error;
pub mod record;
pub mod report;
pub mod seal;
pub mod segments;
pub mod storage;
pub mod verify;
pub mod writer;

pub use error::{FieldError, ParseError, StoreError};
pub use record::{Digest, Entry, Event, Label, NoteKind, Record, Seal, Text, Timestamp};
pub use seal::SealKey;
pub use verify::{verify_dir, Problem, ProblemKind, VerifyOutcome};
pub use writer::{
    AuditConfig, AuditHandle, AuditLog, Clock, OpenReport, PendingAppend, Receipt, SystemClock,
};
