//! cardgate's fuzz harnesses.
//!
//! One plain function per parser or state machine that takes input from outside the process,
//! so that any engine can drive it: libFuzzer through cargo-fuzz (`fuzz/fuzz_targets/`) and
//! the stable-toolchain mutation fuzzer (`fuzz/stable-runner/`). Each harness panics when, and
//! only when, it finds a bug: a panic in the code under test, or a broken invariant (a login
//! that succeeds from a scripted card, a try counter that goes up without the secret, a
//! parser that accepts something it cannot give back byte for byte, an audit log that passes
//! verification although it differs from the real one, …).
//!
//! | target | input | code under test |
//! | --- | --- | --- |
//! | `card_login` | [`chunks`]: ATR, then one response per transmit | `login::login`, `issue::issue_card` |
//! | `softcard_apdu` | card choice byte, then [`chunks`]: APDUs | `SoftCard::handle` |
//! | `certificate` | bytes | `Certificate::parse`, TLV, date/serial/key text parsers |
//! | `revocation_list` | mode byte, then a list file | `RevocationList::verify`, `RevocationTracker` |
//! | `audit_record` | one line | `Record::parse` |
//! | `audit_verify` | segments separated by `FF` | `verify_segments`, `verify_dir` |
//! | `socket_request` | one request line | `protocol::parse_request` |
//! | `config` | a file | `config::Config::parse` |
#![forbid(unsafe_code)]

pub mod audit;
pub mod card_login;
pub mod cert;
pub mod chunks;
pub mod class;
pub mod config;
pub mod fixtures;
pub mod revocation;
pub mod sessiond;
pub mod softcard;

/// How a target's input is laid out, so that a mutator can respect its structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Plain bytes.
    Bytes,
    /// Text (mutations favour ASCII and the dictionary).
    Text,
    /// [`chunks`] starting at this byte offset.
    Chunks {
        /// Bytes before the first length prefix.
        offset: usize,
    },
}

/// A fuzz target: its name (also its corpus directory), its harness and its input layout.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Name, as in `fuzz/corpus/<name>/` and `cargo fuzz run <name>`.
    pub name: &'static str,
    /// Runs one input; returns a coarse class of what happened (which error, which state),
    /// that a coverage-less engine can use as feedback. Panics on a finding.
    pub run: fn(&[u8]) -> u64,
    /// Input layout.
    pub format: Format,
    /// Longest input worth trying.
    pub max_len: usize,
    /// Tokens a mutator may insert.
    pub dictionary: &'static [&'static [u8]],
}

/// Every target, in the order the engines run them.
pub const TARGETS: [Target; 8] = [
    Target {
        name: "card_login",
        run: card_login::run,
        format: Format::Chunks { offset: 0 },
        max_len: 4096,
        dictionary: card_login::DICTIONARY,
    },
    Target {
        name: "softcard_apdu",
        run: softcard::run,
        format: Format::Chunks { offset: 1 },
        max_len: 4096,
        dictionary: softcard::DICTIONARY,
    },
    Target {
        name: "certificate",
        run: cert::run,
        format: Format::Bytes,
        max_len: 1200,
        dictionary: cert::DICTIONARY,
    },
    Target {
        name: "revocation_list",
        run: revocation::run,
        format: Format::Bytes,
        max_len: 4096,
        dictionary: revocation::DICTIONARY,
    },
    Target {
        name: "audit_record",
        run: audit::run_record,
        format: Format::Text,
        max_len: 20 * 1024,
        dictionary: audit::DICTIONARY,
    },
    Target {
        name: "audit_verify",
        run: audit::run_verify,
        format: Format::Text,
        max_len: 64 * 1024,
        dictionary: audit::DICTIONARY,
    },
    Target {
        name: "socket_request",
        run: sessiond::run,
        format: Format::Text,
        max_len: 8192,
        dictionary: sessiond::DICTIONARY,
    },
    Target {
        name: "config",
        run: config::run,
        format: Format::Text,
        max_len: 16 * 1024,
        dictionary: config::DICTIONARY,
    },
];

/// The target with this name.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// Card responses to the login (and to issuance); see [`card_login`].
pub fn fuzz_card_login(data: &[u8]) {
    card_login::run(data);
}

/// APDU sequences to the software card; see [`softcard`].
pub fn fuzz_softcard_apdu(data: &[u8]) {
    softcard::run(data);
}

/// The certificate and its TLV; see [`cert`].
pub fn fuzz_certificate(data: &[u8]) {
    cert::run(data);
}

/// The signed revocation list; see [`revocation`].
pub fn fuzz_revocation_list(data: &[u8]) {
    revocation::run(data);
}

/// One audit log line; see [`audit::run_record`].
pub fn fuzz_audit_record(data: &[u8]) {
    audit::run_record(data);
}

/// The audit verifier; see [`audit::run_verify`].
pub fn fuzz_audit_verify(data: &[u8]) {
    audit::run_verify(data);
}

/// The daemon's socket requests; see [`sessiond`].
pub fn fuzz_socket_request(data: &[u8]) {
    sessiond::run(data);
}

/// The daemon's configuration file; see [`config`].
pub fn fuzz_config(data: &[u8]) {
    config::run(data);
}
