//! The card image file: counters and personalisation survive reopening, writes are atomic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cardgate_card::OperatorCard;
use cardgate_reader::CardTransport;
use cardgate_sim::image::{ImageError, PIN_TRIES};
use cardgate_sim::{CardImage, Faults, SimTransport, SoftCard};
use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;

fn only_file(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn counters_survive_reopening_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.img");
    personalised().save(&path).unwrap();

    let mut card = SoftCard::open(&path).unwrap();
    card.power_on();
    assert_eq!(sw(&card.handle(&select())), [0x90, 0x00]);
    assert_eq!(
        card.handle(&verify(0x81, &wire("Wrong999"))),
        vec![0x63, 0xC2]
    );
    assert_eq!(
        card.handle(&verify(0x82, &wire("Kitsune99999"))),
        vec![0x63, 0xC9]
    );
    drop(card);

    let mut card = SoftCard::open(&path).unwrap();
    assert_eq!(card.image().pin_tries(), 2);
    assert_eq!(card.image().puk_tries(), 9);
    card.power_on();
    card.handle(&select());
    assert_eq!(card.handle(&[0x00, 0x20, 0x00, 0x81]), vec![0x63, 0xC2]);
    // Security state is not persisted: a reopened card is not verified.
    assert_eq!(card.handle(&verify(0x81, &wire(PIN))), vec![0x90, 0x00]);
    drop(card);
    assert_eq!(CardImage::load(&path).unwrap().pin_tries(), PIN_TRIES);
    assert_eq!(only_file(dir.path()), vec!["card.img"]);
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn a_card_pulled_right_after_a_wrong_pin_keeps_the_spent_try() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.img");
    personalised().save(&path).unwrap();
    // APDU 0 SELECT, APDU 1 VERIFY: the card checks the PIN, then leaves the reader.
    let mut t =
        SimTransport::new(SoftCard::open(&path).unwrap()).with_faults(Faults::new().pull_after(1));
    t.transmit(&select()).unwrap();
    assert!(t.transmit(&verify(0x81, &wire("Wrong999"))).is_err());
    drop(t);
    assert_eq!(CardImage::load(&path).unwrap().pin_tries(), 2);
}

#[test]
fn personalisation_in_a_file_card_persists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blank.img");
    CardImage::blank(&puk()).save(&path).unwrap();
    let mut host = OperatorCard::new(SimTransport::new(SoftCard::open(&path).unwrap()));
    let request = cardgate_card::issue::IssueRequest {
        serial: cardgate_card::CardSerial([9; 8]),
        operator_id: "op-7".into(),
        role: cardgate_card::Role::AccessManager,
        valid_from: time::macros::date!(2026 - 01 - 01),
        valid_until: time::macros::date!(2026 - 12 - 31),
    };
    let cert =
        cardgate_card::issue::issue_card(&mut host, issuer(), &puk(), &request, &pin()).unwrap();
    drop(host);
    let image = CardImage::load(&path).unwrap();
    assert_eq!(image.certificate(), Some(&cert));
    assert_eq!(image.card_public_key(), Some(cert.body.card_public_key));
    assert!(image.has_pin());
    assert_eq!(only_file(dir.path()), vec!["blank.img"]);
}

#[test]
fn a_failed_write_leaves_no_temporary_file_and_the_card_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    // The "image" path is a non-empty directory: the final rename must fail.
    let path = dir.path().join("card.img");
    fs::create_dir(&path).unwrap();
    fs::write(path.join("keep"), b"x").unwrap();
    let err = personalised().save(&path).unwrap_err();
    assert!(matches!(err, ImageError::Write { .. }), "{err:?}");
    assert_eq!(only_file(dir.path()), vec!["card.img"]);
    assert_eq!(only_file(&path), vec!["keep"]);

    // A card whose image cannot be written refuses to spend or restore tries (6581), and
    // its state in memory stays as it was.
    let file = dir.path().join("real.img");
    personalised().save(&file).unwrap();
    let mut card = SoftCard::open(&file).unwrap();
    fs::remove_file(&file).unwrap();
    fs::create_dir(&file).unwrap();
    fs::write(file.join("keep"), b"x").unwrap();
    card.power_on();
    card.handle(&select());
    assert_eq!(card.handle(&verify(0x81, &wire(PIN))), vec![0x65, 0x81]);
    assert!(!card.is_pin_verified());
    assert_eq!(card.image().pin_tries(), 3);
    assert!(matches!(
        card.take_storage_error(),
        Some(ImageError::Write { .. })
    ));
    let mut names = only_file(dir.path());
    names.retain(|n| n.starts_with('.'));
    assert!(names.is_empty(), "temporary files left: {names:?}");
}

#[test]
fn bad_image_files_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.img");
    assert!(matches!(
        SoftCard::open(&path),
        Err(ImageError::Read { .. })
    ));
    fs::write(&path, b"not an image at all").unwrap();
    assert!(matches!(SoftCard::open(&path), Err(ImageError::BadMagic)));
    fs::write(&path, vec![0u8; 1 << 20]).unwrap();
    assert!(matches!(SoftCard::open(&path), Err(ImageError::TooLarge)));
    let mut bytes = personalised().to_bytes().to_vec();
    let n = bytes.len();
    bytes[n / 2] ^= 1;
    fs::write(&path, &bytes).unwrap();
    assert!(matches!(SoftCard::open(&path), Err(ImageError::Checksum)));
}
