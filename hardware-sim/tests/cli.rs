//! The `cardgate-sim` binary: `blank`, `create` and `apdu`, run as a user would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cardgate_card::IssuerKey;
use cardgate_sim::CardImage;
use common::*;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_cardgate-sim");

fn apdu(card: &Path, input: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(["apdu", "--card"])
        .arg(card)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn lines(output: &Output) -> Vec<String> {
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn hex_line(bytes: &[u8]) -> String {
    hex::encode_upper(bytes)
}

fn issuer_key_file(dir: &Path) -> (IssuerKey, std::path::PathBuf) {
    let issuer = IssuerKey::generate().unwrap();
    let path = dir.join("issuer.key");
    std::fs::write(&path, issuer.pkcs8()).unwrap();
    (issuer, path)
}

#[test]
fn create_then_log_in_through_apdu_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let (issuer, key) = issuer_key_file(dir.path());
    let card = dir.path().join("op.card");
    let out = Command::new(BIN)
        .arg("create")
        .arg("--issuer-key")
        .arg(&key)
        .args([
            "--operator",
            "op-0042",
            "--pin",
            PIN,
            "--puk",
            PUK,
            "--role",
            "manager",
        ])
        .args([
            "--serial",
            "1A2B3C4D5E6F7081",
            "--valid-from",
            "2026-04-01",
            "--valid-until",
            "2027-03-31",
        ])
        .arg("--out")
        .arg(&card)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let image = CardImage::load(&card).unwrap();
    let cert = image.certificate().unwrap();
    cert.verify_issuer(&issuer.public_key()).unwrap();
    assert_eq!(cert.body.serial.to_string(), "1A2B3C4D5E6F7081");
    assert_eq!(cert.body.role, cardgate_card::Role::AccessManager);
    assert_eq!(cert.body.valid_until, time::macros::date!(2027 - 03 - 31));

    // Session 1: SELECT, a wrong PIN, the right PIN, INTERNAL AUTHENTICATE. Spaces and blank
    // lines are allowed.
    let challenge = [0x5Au8; 32];
    let input = format!(
        "{}\n\n{}\n{}\n{}\n",
        hex_line(&select()),
        hex_line(&verify(0x81, &wire("Wrong999"))),
        hex_line(&verify(0x81, &wire(PIN))).replace("20", "20 "),
        hex_line(&internal_authenticate(&challenge)),
    );
    let out = apdu(&card, &input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = lines(&out);
    assert_eq!(got.len(), 4);
    let fci = hex::decode(&got[0]).unwrap();
    assert!(got[0].ends_with("9000") && fci.windows(10).any(|w| w == cardgate_card::AID));
    assert_eq!(got[1], "63C2");
    assert_eq!(got[2], "9000");
    let signature = hex::decode(&got[3][..128]).unwrap();
    assert!(got[3].ends_with("9000"));
    assert!(cert.verify_card_signature(&challenge, &signature));

    // Session 2 is a new session: nothing selected, nothing verified; counters persisted.
    let out = apdu(
        &card,
        &format!("00200081\n{}\n00200081\n", hex_line(&select())),
    );
    assert_eq!(lines(&out)[0], "6985");
    assert_eq!(lines(&out)[2], "63C3");
    let out = apdu(
        &card,
        &format!(
            "{}\n{}\n",
            hex_line(&select()),
            hex_line(&verify(0x81, &wire("Wrong999")))
        ),
    );
    assert_eq!(lines(&out)[1], "63C2");
    assert_eq!(CardImage::load(&card).unwrap().pin_tries(), 2);
}

#[test]
fn blank_writes_a_blank_card() {
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("blank.card");
    let out = Command::new(BIN)
        .args(["blank", "--puk", PUK, "--out"])
        .arg(&card)
        .output()
        .unwrap();
    assert!(out.status.success());
    let image = CardImage::load(&card).unwrap();
    assert!(!image.is_personalised() && !image.has_pin() && !image.has_key());
    let out = apdu(&card, &format!("{}\n00CA7F2100\n", hex_line(&select())));
    let aid = hex::encode_upper(cardgate_card::AID);
    assert_eq!(
        lines(&out),
        vec![format!("6F0C840A{aid}9000"), "6A88".to_owned()]
    );
}

#[test]
fn bad_input_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("blank.card");
    Command::new(BIN)
        .args(["blank", "--puk", PUK, "--out"])
        .arg(&card)
        .output()
        .unwrap();

    // An odd line stops the session after the good lines, naming the line, not its content.
    let out = apdu(
        &card,
        &format!(
            "{}\n0020008110{}ZZ\n{}\n",
            hex_line(&select()),
            "41".repeat(15),
            hex_line(&select())
        ),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(lines(&out).len(), 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2") && err.contains("hex"), "{err}");
    assert!(!err.contains("4141") && !err.contains("panicked"), "{err}");

    let out = apdu(&card, &"00".repeat(2000));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("too long"));

    // Bad secrets, a missing image, a bad issuer key: errors, exit 1, no secret echoed.
    let out = Command::new(BIN)
        .args(["blank", "--puk", "short", "--out"])
        .arg(dir.path().join("x"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PUK"));
    let out = apdu(&dir.path().join("missing.card"), "");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read card image"));
    let bad_key = dir.path().join("bad.key");
    std::fs::write(&bad_key, b"not a key").unwrap();
    for (pin, expect) in [("abcdefg", "PIN"), (PIN, "issuer key")] {
        let out = Command::new(BIN)
            .arg("create")
            .arg("--issuer-key")
            .arg(&bad_key)
            .args(["--operator", "op-1", "--pin", pin, "--puk", PUK, "--out"])
            .arg(dir.path().join("y"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect) && !err.contains(pin), "{err}");
    }
    // clap refuses unknown forms with its usage exit code.
    let out = Command::new(BIN)
        .args(["create", "--role", "boss"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn create_defaults_a_random_serial_and_one_year_of_validity() {
    let dir = tempfile::tempdir().unwrap();
    let (_, key) = issuer_key_file(dir.path());
    let mut serials = Vec::new();
    for name in ["a.card", "b.card"] {
        let card = dir.path().join(name);
        let out = Command::new(BIN)
            .arg("create")
            .arg("--issuer-key")
            .arg(&key)
            .args(["--operator", "op-9", "--pin", PIN, "--puk", PUK, "--out"])
            .arg(&card)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let image = CardImage::load(&card).unwrap();
        let body = &image.certificate().unwrap().body;
        let today = time::OffsetDateTime::now_utc().date();
        assert!((body.valid_from - today).whole_days().abs() <= 1);
        let span = (body.valid_until - body.valid_from).whole_days();
        assert!((365..=366).contains(&span), "{span}");
        assert_eq!(body.role, cardgate_card::Role::Operator);
        serials.push(body.serial);
    }
    assert_ne!(serials[0], serials[1]);
}
