//! The committed seeds: every one runs through its harness without a finding, and the valid
//! ones really are valid (so the engines start from deep states, not from parse errors).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cardgate_audit::seal::KeyFile;
use cardgate_audit::verify::verify_segments;
use cardgate_card::login::{login, LoginError, LoginPolicy};
use cardgate_card::{Certificate, RevocationList, SecretString};
use cardgate_fuzz_harness::fixtures::{self, audit_log};
use cardgate_fuzz_harness::{chunks, TARGETS};
use cardgate_office::config::Config;
use cardgate_protocol::{parse_request, AdminRequest, LoginRequest};
use cardgate_reader::{CardTransport, TransportError};
use std::path::PathBuf;
use zeroize::Zeroizing;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no seeds for {target}");
    out
}

fn seed(target: &str, name: &str) -> Vec<u8> {
    corpus(target)
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no seed {target}/{name}"))
        .1
}

#[test]
fn every_seed_runs_clean_through_its_harness() {
    for t in TARGETS {
        for (name, bytes) in corpus(t.name) {
            let r = std::panic::catch_unwind(|| (t.run)(&bytes));
            assert!(r.is_ok(), "{}/{name} is a finding", t.name);
        }
    }
    cardgate_fuzz_harness::audit::cleanup();
}

struct Replay(std::vec::IntoIter<Vec<u8>>);

impl CardTransport for Replay {
    fn transmit(&mut self, _: &[u8]) -> Result<Zeroizing<Vec<u8>>, TransportError> {
        self.0
            .next()
            .map(Zeroizing::new)
            .ok_or(TransportError::CardRemoved)
    }
    fn reader_name(&self) -> &str {
        "replay"
    }
}

fn replay_login(name: &str) -> LoginError {
    let bytes = seed("card_login", name);
    let parts: Vec<Vec<u8>> = chunks::split(&bytes)[1..]
        .iter()
        .map(|c| c.to_vec())
        .collect();
    let public = fixtures::issuer().public_key();
    let policy = LoginPolicy {
        issuer: &public,
        revocation: fixtures::revocation_list(),
        today: fixtures::TODAY,
    };
    login(
        Replay(parts.into_iter()),
        &policy,
        &SecretString::new(fixtures::PIN.into()),
    )
    .unwrap_err()
}

#[test]
fn login_transcripts_reach_the_step_they_were_recorded_for() {
    // A replayed transcript passes the certificate, the PIN and reaches the challenge, which
    // it cannot answer: the signature was over another challenge.
    for name in ["login-ok", "login-get-response", "login-wrong-le"] {
        assert!(
            matches!(replay_login(name), LoginError::CardAuthenticationFailed),
            "{name}"
        );
    }
    assert!(matches!(
        replay_login("login-wrong-pin"),
        LoginError::WrongPin { remaining: 2 }
    ));
    assert!(matches!(
        replay_login("login-blocked"),
        LoginError::PinBlocked
    ));
    assert!(matches!(
        replay_login("login-revoked"),
        LoginError::Revoked { .. }
    ));
    assert!(matches!(
        replay_login("login-expired"),
        LoginError::Expired { .. }
    ));
    assert!(matches!(
        replay_login("login-blank-card"),
        LoginError::NotPersonalised
    ));
}

#[test]
fn certificates_lists_lines_requests_and_configs_are_valid() {
    let issuer = fixtures::issuer().public_key();
    for name in ["operator", "manager"] {
        let cert = Certificate::parse(&seed("certificate", name)).unwrap();
        cert.verify_issuer(&issuer).unwrap();
    }
    for name in ["empty-signed", "one-signed", "fifty-signed"] {
        RevocationList::verify(&seed("revocation_list", name)[1..], &issuer).unwrap();
    }
    for (name, line) in corpus("audit_record") {
        if name.starts_with("line-") {
            cardgate_audit::Record::parse(&line).unwrap();
        }
    }
    for (name, line) in corpus("socket_request") {
        if !name.starts_with("bad-") {
            let login = parse_request::<LoginRequest>(&line, 4096).is_ok();
            let admin = parse_request::<AdminRequest>(&line, 4096).is_ok();
            assert!(login || admin, "{name}");
        }
    }
    for (name, text) in corpus("config") {
        let parsed = Config::parse(std::str::from_utf8(&text).unwrap());
        assert_eq!(parsed.is_ok(), !name.starts_with("bad-"), "{name}");
    }
}

#[test]
fn the_reference_log_verifies_with_its_key_and_its_seeds_are_the_committed_fixture() {
    let k0 = cardgate_audit::SealKey::from_hex(audit_log::K0_HEX.trim()).unwrap();
    let dir = std::env::temp_dir().join(format!("cardgate-fuzz-seeds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("seal.key"), audit_log::KEY_FILE).unwrap();
    let kf = cardgate_audit::seal::read_key_file(&dir).unwrap().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let key_file = || {
        Ok(Some(KeyFile {
            epoch: kf.epoch,
            key: kf.key.clone(),
        }))
    };
    let reference = seed("audit_verify", "reference");
    assert_eq!(reference, audit_log::SEGMENT, "rerun the corpus generator");
    let outcome = verify_segments(
        &[("audit-00000001.jsonl", &reference)],
        Some(&k0),
        key_file(),
    );
    assert!(outcome.is_intact(), "{:?}", outcome.problem);
    assert!(outcome.seals >= 3);
    for name in [
        "bad-swapped",
        "bad-dropped",
        "bad-cut-last-line",
        "bad-torn",
    ] {
        let bytes = seed("audit_verify", name);
        let o = verify_segments(&[("audit-00000001.jsonl", &bytes)], Some(&k0), key_file());
        assert!(!o.is_intact(), "{name} verified");
    }
}
