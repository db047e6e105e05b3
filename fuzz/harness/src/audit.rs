//! The audit log: one line (`Record::parse`) and the verifier.
//!
//! `audit_verify` input: the log's segments, separated by `FF` bytes (a byte that never
//! occurs in a JSON line), at most [`MAX_SEGMENTS`]. The harness verifies them in memory
//! (`verify_segments`) and, as a differential check, from real files (`verify_dir`), both
//! with the reference log's `k(0)` and key file (see [`crate::fixtures::audit_log`]), and
//! once more without `k(0)`.
//!
//! Invariants checked:
//! * `Record::parse` accepts only the writer's canonical form: a parsed line encodes back to
//!   exactly the input and parses again to the same record;
//! * a log that verifies with `k(0)` holds, byte for byte, every record of the reference log
//!   up to and including its last seal, and exactly its seals: no change, removal, insertion
//!   or reordering of sealed records gets through. (Records after the last seal are not
//!   protected by a seal; that is the design, documented in `docs/audit.md`.)
//! * without `k(0)`, a log that verifies holds the reference's records before its last seal;
//! * the file verifier and the in-memory verifier agree on every input: same verdict, same
//!   counts, same first problem.

use crate::class;
use crate::fixtures::audit_log;
use cardgate_audit::record::Timestamp;
use cardgate_audit::seal::{read_key_file, KeyFile, SealKey};
use cardgate_audit::segments::segment_name;
use cardgate_audit::verify::verify_segments;
use cardgate_audit::{verify_dir, Event, Label, Record, Text, VerifyOutcome};
use std::path::PathBuf;
use std::sync::OnceLock;

/// Most segments one input is split into.
pub const MAX_SEGMENTS: usize = 8;

/// Tokens for mutators: the record's keys and the event kinds.
pub const DICTIONARY: &[&[u8]] = &[
    b"{\"seq\":",
    b"\"time\":\"2026-06-01T09:00:00.000Z\"",
    b"\"terminal\":\"juki-t01\"",
    b"\"reader\":",
    b"\"card\":\"C0FFEE0000000042\"",
    b"\"operator\":\"op-0042\"",
    b"\"event\":{\"kind\":",
    b"\"prev\":\"",
    b"\"genesis\"",
    b"\"log_sealed\"",
    b"\"login_granted\"",
    b"\"pin_verified\"",
    b"\"note\"",
    b"\"epoch\":",
    b"\"first_seq\":",
    b"\"last_seq\":",
    b"\"head\":\"",
    b"\"mac\":\"",
    b"0000000000000000000000000000000000000000000000000000000000000000",
    b"\\u0000",
    b"\\ud800",
    b"\n",
    b"\xFF",
];

/// What the harness knows about the reference log.
struct Reference {
    k0: SealKey,
    key_epoch: u64,
    key: SealKey,
    /// Every byte up to and including the last seal's line and its newline.
    sealed_prefix: Vec<u8>,
    /// Every byte before the last seal's line.
    before_last_seal: Vec<u8>,
    seals: u64,
    /// Where `verify_dir` reads from.
    dir: PathBuf,
}

fn reference() -> &'static Reference {
    static REF: OnceLock<Reference> = OnceLock::new();
    REF.get_or_init(|| {
        let k0 = SealKey::from_hex(audit_log::K0_HEX.trim())
            .unwrap_or_else(|_| panic!("fixture: k0.hex is not a key"));
        remove_stale_dirs();
        let dir = std::env::temp_dir().join(format!("{DIR_PREFIX}{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("fixture: cannot create {}: {e}", dir.display()));
        std::fs::write(dir.join("seal.key"), audit_log::KEY_FILE)
            .unwrap_or_else(|e| panic!("fixture: cannot write the key file: {e}"));
        let KeyFile { epoch, key } = match read_key_file(&dir) {
            Ok(Some(kf)) => kf,
            _ => panic!("fixture: seal.key does not read back"),
        };
        let mut offset = 0;
        let mut last_seal = None;
        let mut seals = 0;
        for line in audit_log::SEGMENT.split_inclusive(|&b| b == b'\n') {
            let body = line.strip_suffix(b"\n").unwrap_or(line);
            if let Ok(Record {
                event: Event::LogSealed(_),
                ..
            }) = Record::parse(body)
            {
                last_seal = Some((offset, offset + line.len()));
                seals += 1;
            }
            offset += line.len();
        }
        let Some((start, end)) = last_seal else {
            panic!("fixture: the reference log has no seal");
        };
        Reference {
            k0,
            key_epoch: epoch,
            key,
            sealed_prefix: audit_log::SEGMENT[..end].to_vec(),
            before_last_seal: audit_log::SEGMENT[..start].to_vec(),
            seals,
            dir,
        }
    })
}

fn key_file(r: &Reference) -> KeyFile {
    KeyFile {
        epoch: r.key_epoch,
        key: r.key.clone(),
    }
}

const DIR_PREFIX: &str = "cardgate-fuzz-audit-";

/// Removes the directories of earlier fuzzing processes that have ended (libFuzzer gives a
/// harness no hook at exit), so that at most the running ones have a directory.
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let pid = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX));
        if let Some(pid) = pid.filter(|p| p.bytes().all(|b| b.is_ascii_digit())) {
            if !std::path::Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Removes the per-process directory `audit_verify` writes to (engines call this at exit).
pub fn cleanup() {
    if let Some(r) = REFERENCE_DIR.get() {
        let _ = std::fs::remove_dir_all(r);
    }
}

static REFERENCE_DIR: OnceLock<PathBuf> = OnceLock::new();

fn summary(o: &VerifyOutcome) -> (bool, u64, u64, String) {
    (
        o.is_intact(),
        o.records,
        o.seals,
        o.problem
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default(),
    )
}

fn write_segments(dir: &std::path::Path, segments: &[&[u8]]) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("audit-") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    for (i, s) in segments.iter().enumerate() {
        let path = dir.join(segment_name(i as u64 + 1));
        std::fs::write(&path, s)
            .unwrap_or_else(|e| panic!("harness: cannot write {}: {e}", path.display()));
    }
}

/// One audit log, as segments; returns its outcome class.
pub fn run_verify(data: &[u8]) -> u64 {
    let r = reference();
    let _ = REFERENCE_DIR.set(r.dir.clone());
    let segments: Vec<&[u8]> = data.splitn(MAX_SEGMENTS, |&b| b == 0xFF).collect();
    let names: Vec<String> = (1..=segments.len() as u64).map(segment_name).collect();
    let named: Vec<(&str, &[u8])> = names
        .iter()
        .map(String::as_str)
        .zip(segments.iter().copied())
        .collect();
    let joined: Vec<u8> = segments.concat();

    let keyed = verify_segments(&named, Some(&r.k0), Ok(Some(key_file(r))));
    if keyed.is_intact() {
        assert!(
            joined.starts_with(&r.sealed_prefix) && keyed.seals == r.seals,
            "a log that differs from the reference in its sealed records verified with k(0)"
        );
    }
    let keyless = verify_segments(&named, None, Ok(Some(key_file(r))));
    if keyless.is_intact() {
        assert!(
            joined.starts_with(&r.before_last_seal),
            "a log that differs from the reference before its last seal verified"
        );
    }
    if keyed.is_intact() {
        assert!(
            keyless.is_intact(),
            "a log verified with k(0) but not without it"
        );
    }

    write_segments(&r.dir, &segments);
    let from_files = verify_dir(&r.dir, Some(&r.k0), &mut |_, _| {})
        .unwrap_or_else(|e| panic!("harness: verify_dir failed on readable files: {e}"));
    assert_eq!(
        summary(&from_files),
        summary(&keyed),
        "verify_dir and verify_segments disagree"
    );

    let problem = keyed
        .problem
        .as_ref()
        .map(|p| class::of_debug(&format!("{:?}", p.kind)))
        .unwrap_or(1);
    class::mix(&[
        problem,
        keyed.records.min(64),
        u64::from(keyless.is_intact()),
    ])
}

fn field_parsers(text: &str) -> u64 {
    let mut c = 0;
    if Timestamp::parse(text).is_ok() {
        c |= 1;
    }
    if let Ok(label) = Label::new(text) {
        assert_eq!(label.as_str(), text);
        c |= 2;
    }
    if let Ok(t) = Text::new(text) {
        assert_eq!(t.as_str(), text);
        c |= 4;
    }
    if SealKey::from_hex(text).is_ok() {
        c |= 8;
    }
    c
}

/// One audit line; returns its outcome class.
pub fn run_record(data: &[u8]) -> u64 {
    let fields = std::str::from_utf8(data).map(field_parsers).unwrap_or(0);
    match Record::parse(data) {
        Ok(record) => {
            let line = record.to_line();
            assert_eq!(
                line, data,
                "a parsed record does not encode back to its line"
            );
            let again = Record::parse(&line)
                .unwrap_or_else(|e| panic!("a record's own line does not parse: {e}"));
            assert_eq!(again, record, "re-parsing a record changed it");
            class::mix(&[fields, class::fnv(record.event.kind_name().as_bytes())])
        }
        Err(e) => class::mix(&[
            fields,
            class::of_debug(&format!("{e:?}").chars().take(24).collect::<String>()),
        ]),
    }
}
