//! The software card through the real stack: PC/SC client → private pcscd → vpcd →
//! `cardgate-sim serve`. Login, removal mid-login, the conformance transcripts, transaction
//! isolation against a second client, and opensc-tool as an independent PC/SC peer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cardgate_card::revocation::RevocationListBuilder;
use cardgate_card::{
    login, IssuerKey, LoginError, LoginPolicy, OperatorCard, RevocationList, SecretString,
};
use cardgate_reader::pcsc::{
    AfterTransaction, CardProtocol, ConnectOptions, PcscCard, PcscContext,
};
use cardgate_reader::{CardTransport, TransportError};
use cardgate_sim::transcript::{self, CardUnderTest, TargetError};
use cardgate_tests::fixtures::{PIN, PUK};
use cardgate_tests::{issuer_key, PcscLab, SoftCardFile};
use std::time::{Duration, Instant};

const AID: [u8; 10] = [0xF0, 0x43, 0x41, 0x52, 0x44, 0x47, 0x41, 0x54, 0x45, 0x01];

fn revocation(issuer: &IssuerKey) -> RevocationList {
    let builder = RevocationListBuilder::new(1, 1_790_000_000, 1_800_000_000);
    RevocationList::verify(&builder.sign(issuer).unwrap(), &issuer.public_key()).unwrap()
}

fn connect(lab: &PcscLab, slot: usize) -> PcscCard {
    let context = PcscContext::establish().unwrap();
    context
        .connect(lab.reader(slot).unwrap(), ConnectOptions::default())
        .unwrap()
}

fn today() -> time::Date {
    time::macros::date!(2030 - 06 - 01)
}

#[test]
fn full_login_through_pcsc_inside_one_transaction() {
    let lab = PcscLab::start().unwrap();
    let issuer = issuer_key().unwrap();
    let file = SoftCardFile::personalised(&lab, &issuer, "op-login", PIN, PUK).unwrap();
    let _card = lab.serve_card(1, &file, None).unwrap();
    let atr = lab.wait_for_card(1).unwrap();
    assert_eq!(atr, cardgate_sim::ATR.to_vec());

    let mut card = connect(&lab, 1);
    assert_eq!(
        card.protocol(),
        CardProtocol::T1,
        "vpcd always negotiates T=1"
    );
    let issuer_public = issuer.public_key();
    let revoked = revocation(&issuer);
    let policy = LoginPolicy {
        issuer: &issuer_public,
        revocation: &revoked,
        today: today(),
    };
    let mut transaction = card.begin_transaction().unwrap();
    let operator = login(&mut transaction, &policy, &SecretString::from(PIN)).unwrap();
    transaction.end(AfterTransaction::ResetCard).unwrap();
    assert_eq!(operator.operator_id, "op-login");

    // A wrong PIN through the same path spends a try and is reported as such.
    let mut transaction = card.begin_transaction().unwrap();
    let err = login(&mut transaction, &policy, &SecretString::from("Wrong123")).unwrap_err();
    drop(transaction);
    assert!(
        matches!(err, LoginError::WrongPin { remaining: 2 }),
        "{err:?}"
    );

    // The reset at the end of the first transaction cleared the verified state: another
    // session starting without VERIFY cannot sign.
    let mut op = OperatorCard::new(&mut card);
    op.select().unwrap();
    assert!(op.internal_authenticate(&[7u8; 32]).is_err());
}

#[test]
fn a_card_pulled_at_any_point_of_a_login_never_authenticates() {
    let lab = PcscLab::start().unwrap();
    let issuer = issuer_key().unwrap();
    let issuer_public = issuer.public_key();
    let revoked = revocation(&issuer);
    let policy = LoginPolicy {
        issuer: &issuer_public,
        revocation: &revoked,
        today: today(),
    };
    // A login is SELECT, VERIFY, INTERNAL AUTHENTICATE: a card that leaves after answering
    // 0, 1 or 2 APDUs must give CardRemoved; after 3 the login had completed.
    for n in 0..=3u64 {
        let file =
            SoftCardFile::personalised(&lab, &issuer, &format!("op-pull-{n}"), PIN, PUK).unwrap();
        let mut process = lab.serve_card(0, &file, Some(n)).unwrap();
        let context = PcscContext::establish().unwrap();
        let reader = lab.reader(0).unwrap();
        let outcome = match context.wait_for_card(reader, Duration::from_secs(15)) {
            // With N = 0 the card may come and go before pcscd ever reports it.
            Err(TransportError::Timeout { .. }) if n == 0 => None,
            Err(e) => panic!(
                "N = {n}: waiting for the card: {e:?}; card log: {}",
                std::fs::read_to_string(lab.work_dir().join("card-0.log")).unwrap_or_default()
            ),
            Ok(_) => match context.connect(reader, ConnectOptions::default()) {
                Err(e) if n == 0 => {
                    assert!(e.is_card_gone(), "{e:?}");
                    None
                }
                Err(e) => panic!("connect with N = {n}: {e:?}"),
                Ok(mut card) => {
                    let result = match card.begin_transaction() {
                        Ok(mut tx) => login(&mut tx, &policy, &SecretString::from(PIN)),
                        Err(e) => {
                            assert!(e.is_card_gone(), "{e:?}");
                            Err(LoginError::CardRemoved)
                        }
                    };
                    Some(result)
                }
            },
        };
        match (n, outcome) {
            (0, None) => {}
            (3, Some(Ok(operator))) => assert_eq!(operator.operator_id, "op-pull-3"),
            (_, Some(Err(LoginError::CardRemoved))) if n < 3 => {}
            (n, other) => panic!("N = {n}: unexpected outcome {other:?}"),
        }
        process.wait_exit(Duration::from_secs(10)).unwrap();
        lab.wait_for_no_card(0).unwrap();
    }
}

/// A card under test reached through PC/SC.
struct ThroughPcsc(PcscCard);

impl CardUnderTest for ThroughPcsc {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TargetError> {
        // The raw PC/SC call: the transcripts also send malformed APDUs on purpose, which
        // our transport refuses before they reach the card.
        let mut buffer = [0u8; 300];
        Ok(self.0.raw()?.transmit(command, &mut buffer)?.to_vec())
    }
    fn reset(&mut self) -> Result<(), TargetError> {
        Ok(self.0.reset()?)
    }
    fn power_cycle(&mut self) -> Result<(), TargetError> {
        Ok(self.0.power_cycle()?)
    }
    fn atr(&mut self) -> Result<Vec<u8>, TargetError> {
        Ok(self.0.atr()?)
    }
}

#[test]
fn conformance_transcripts_replayed_through_pcsc() {
    let lab = PcscLab::start().unwrap();
    let issuer = issuer_key().unwrap();
    let (scripts, dropped) = scripts_for_vpcd();
    assert!(scripts.len() >= 10, "the transcripts are missing");
    let mut total = 0;
    for (i, script) in scripts.iter().enumerate() {
        let image = script.fixture().build(&issuer).unwrap();
        let file =
            SoftCardFile::from_image(&lab, &format!("transcript-{i}"), image.clone()).unwrap();
        let slot = i % 2;
        let mut process = lab.insert_card(slot, &file).unwrap();
        let mut card = ThroughPcsc(connect(&lab, slot));
        let apdus = script
            .run(&image, &mut card)
            .unwrap_or_else(|e| panic!("{}: {e}", script.name()));
        assert_eq!(apdus, script.apdu_count(), "{}", script.name());
        total += apdus;
        drop(card);
        process.remove().unwrap();
        lab.wait_for_no_card(slot).unwrap();
    }
    eprintln!(
        "replayed {} transcripts, {total} APDUs, through pcscd + vpcd ({dropped} one-byte APDU left out)",
        scripts.len()
    );
}

/// The transcripts, minus the exchanges vpcd cannot carry: a one-byte message is a vpcd
/// *control* (`00` = power off), so a one-byte APDU would power the card off and vpcd would
/// wait forever for an answer. Those exchanges stay covered by the in-process replay.
fn scripts_for_vpcd() -> (Vec<transcript::Script>, usize) {
    let dir = transcript::default_dir();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    paths.sort();
    let mut dropped = 0;
    let scripts = paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            let mut kept = Vec::new();
            let mut lines = text.lines();
            while let Some(line) = lines.next() {
                let one_byte = line.strip_prefix("> ").is_some_and(|hex| {
                    hex.trim().len() == 2 && u8::from_str_radix(hex.trim(), 16).is_ok()
                });
                if one_byte {
                    let answer = lines.next().unwrap_or_default();
                    assert!(
                        answer.starts_with("< "),
                        "{}: `{line}` has no answer line",
                        path.display()
                    );
                    dropped += 1;
                    // Blank lines in place of the dropped ones keep line numbers right.
                    kept.push(String::new());
                    kept.push(String::new());
                } else {
                    kept.push(line.to_owned());
                }
            }
            let name = path.file_name().unwrap().to_string_lossy();
            transcript::Script::parse(&name, &kept.join("\n")).unwrap()
        })
        .collect();
    assert!(dropped <= 1, "more one-byte APDUs than expected: {dropped}");
    (scripts, dropped)
}

#[test]
fn another_client_cannot_get_an_apdu_between_verify_and_internal_authenticate() {
    let lab = PcscLab::start().unwrap();
    let issuer = issuer_key().unwrap();
    let file = SoftCardFile::personalised(&lab, &issuer, "op-tx", PIN, PUK).unwrap();
    let _process = lab.insert_card(0, &file).unwrap();
    let mut ours = connect(&lab, 0);
    let theirs = connect(&lab, 0);

    let mut transaction = ours.begin_transaction().unwrap();
    let mut op = OperatorCard::new(&mut transaction);
    op.select().unwrap();
    let pin = cardgate_card::Pin::parse(PIN).unwrap();
    assert_eq!(
        op.verify_pin(&pin).unwrap(),
        cardgate_card::Verification::Verified
    );

    // The other client tries to SELECT (which would clear our verified PIN) right now.
    let intruder = std::thread::spawn(move || {
        let mut theirs = theirs;
        let mut select = vec![0x00, 0xA4, 0x04, 0x00, 0x0A];
        select.extend_from_slice(&AID);
        select.push(0x00);
        let result = theirs.transmit(&select);
        (Instant::now(), result.map(|r| r.to_vec()))
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !intruder.is_finished(),
        "the other client's APDU got through during our transaction"
    );
    let signature = op.internal_authenticate(&[0x5A; 32]);
    assert!(
        signature.is_ok(),
        "INTERNAL AUTHENTICATE after VERIFY failed: {signature:?}"
    );
    let ended = Instant::now();
    transaction.end(AfterTransaction::LeaveCard).unwrap();
    let (their_time, their_result) = intruder.join().unwrap();
    assert!(
        their_time >= ended,
        "the other client's SELECT completed before our transaction ended"
    );
    let response = their_result.unwrap();
    assert_eq!(&response[response.len() - 2..], &[0x90, 0x00]);
    eprintln!(
        "the other client's SELECT waited and completed {:?} after our transaction ended",
        their_time - ended
    );
}

fn opensc_tool(lab: &PcscLab, args: &[&str]) -> String {
    lab.opensc_tool(args).unwrap()
}

#[test]
fn opensc_tool_sees_a_real_card() {
    let lab = PcscLab::start().unwrap();
    let issuer = issuer_key().unwrap();
    let file = SoftCardFile::personalised(&lab, &issuer, "op-opensc", PIN, PUK).unwrap();
    let _process = lab.insert_card(1, &file).unwrap();

    let listing = opensc_tool(&lab, &["-l"]);
    assert!(listing.contains(lab.reader(1).unwrap()), "{listing}");
    let atr = opensc_tool(&lab, &["-r", "1", "-a"]);
    let expected: Vec<String> = cardgate_sim::ATR
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(atr.trim(), expected.join(":"));

    let select = opensc_tool(&lab, &["-r", "1", "-s", "00A404000AF043415244474154450100"]);
    assert!(select.contains("SW1=0x90, SW2=0x00"), "{select}");
    // The response's hex dump: the certificate template must be in it, byte for byte.
    let received: Vec<u8> = select
        .lines()
        .skip_while(|l| !l.starts_with("Received"))
        .skip(1)
        .flat_map(|l| {
            l.split_whitespace()
                .take(16)
                .map_while(|t| {
                    (t.len() == 2)
                        .then(|| u8::from_str_radix(t, 16).ok())
                        .flatten()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let cert = file.image().certificate().unwrap().encode();
    assert!(
        received.windows(cert.len()).any(|w| w == cert.as_slice()),
        "the certificate is not in opensc-tool's SELECT response: {select}"
    );
}

/// The reader crate's transaction seam over the real stack: the whole login runs in it, it
/// ends with the operator-card re-select, and another program that skips VERIFY then gets
/// no signature (no verified PIN outlived the operation). An unknown reader is named in the
/// error, and the operation does not run.
#[test]
fn the_transaction_seam_runs_a_login_and_leaves_no_verified_pin() {
    use cardgate_reader::pcsc::PcscReaders;
    use cardgate_reader::{CardReaders, CardReadersExt};

    let lab = PcscLab::start().unwrap();
    let issuer = issuer_key().unwrap();
    let file = SoftCardFile::personalised(&lab, &issuer, "op-seam", PIN, PUK).unwrap();
    let _card = lab.serve_card(0, &file, None).unwrap();
    lab.wait_for_card(0).unwrap();
    let reader = lab.reader(0).unwrap();
    let readers = PcscReaders::new(ConnectOptions::default());
    assert!(readers.card_present(reader));

    let issuer_public = issuer.public_key();
    let revoked = revocation(&issuer);
    let policy = LoginPolicy {
        issuer: &issuer_public,
        revocation: &revoked,
        today: today(),
    };
    let ran = readers
        .run(reader, cardgate_card::reselect(), |t| {
            login(t, &policy, &SecretString::from(PIN))
        })
        .unwrap();
    ran.end.unwrap();
    assert_eq!(ran.value.unwrap().operator_id, "op-seam");

    let mut other = connect(&lab, 0);
    let mut op = OperatorCard::new(&mut other);
    assert!(
        op.internal_authenticate(&[7u8; 32]).is_err(),
        "the card signed for another program after the login"
    );

    let mut ran_anyway = false;
    let e = readers
        .run("No Such Reader 00 00", cardgate_card::reselect(), |_| {
            ran_anyway = true
        })
        .unwrap_err();
    assert!(!ran_anyway);
    assert_eq!(e.reader(), "No Such Reader 00 00");
    assert!(
        matches!(e.error(), TransportError::ReaderUnavailable { .. }),
        "{e:?}"
    );
}

/// Through pcscd, the seam sends the re-select after the operation: a card that leaves after
/// its fourth APDU leaves after a three-APDU login, and the login's result is kept.
#[test]
fn the_transaction_seam_sends_the_reselect_after_the_operation_through_pcscd() {
    use cardgate_reader::pcsc::PcscReaders;
    use cardgate_reader::CardReadersExt;

    let lab = PcscLab::start().unwrap();
    let issuer = issuer_key().unwrap();
    let file = SoftCardFile::personalised(&lab, &issuer, "op-reselect", PIN, PUK).unwrap();
    // SELECT, VERIFY, INTERNAL AUTHENTICATE, then the 4th: the re-select.
    let _card = lab.serve_card(0, &file, Some(4)).unwrap();
    lab.wait_for_card(0).unwrap();
    let reader = lab.reader(0).unwrap();
    let issuer_public = issuer.public_key();
    let revoked = revocation(&issuer);
    let policy = LoginPolicy {
        issuer: &issuer_public,
        revocation: &revoked,
        today: today(),
    };
    let ran = PcscReaders::new(ConnectOptions::default())
        .run(reader, cardgate_card::reselect(), |t| {
            login(t, &policy, &SecretString::from(PIN))
        })
        .unwrap();
    assert_eq!(ran.value.unwrap().operator_id, "op-reselect");
    // The card may be gone before the transaction ends: the ending then fails, at the reader.
    if let Err(e) = &ran.end {
        assert!(e.is_card_gone(), "{e:?}");
        assert_eq!(e.reader(), reader);
    }
    lab.wait_for_no_card(0)
        .expect("the card never got its 4th APDU: no re-select after the login");
}

/// The seam keeps its PC/SC context between operations; after a pcscd restart that context is
/// unknown to the new pcscd, and the next operation must still run (on a fresh context), not
/// fail with what the old context says. And an operation that re-selected leaves the card
/// unreset: the next connection sees the same card, not a freshly reset one.
#[test]
fn the_transaction_seam_survives_a_pcscd_restart_between_operations() {
    use cardgate_reader::pcsc::PcscReaders;
    use cardgate_reader::CardReadersExt;

    let mut lab = PcscLab::start().unwrap();
    let issuer = issuer_key().unwrap();
    let file = SoftCardFile::personalised(&lab, &issuer, "op-restart", PIN, PUK).unwrap();
    let _card = lab.serve_card(0, &file, None).unwrap();
    lab.wait_for_card(0).unwrap();
    let reader = lab.reader(0).unwrap().to_owned();
    let issuer_public = issuer.public_key();
    let revoked = revocation(&issuer);
    let policy = LoginPolicy {
        issuer: &issuer_public,
        revocation: &revoked,
        today: today(),
    };
    let readers = PcscReaders::new(ConnectOptions::default());
    let log_in = |readers: &PcscReaders| {
        let ran = readers
            .run(&reader, cardgate_card::reselect(), |t| {
                login(t, &policy, &SecretString::from(PIN))
            })
            .unwrap();
        ran.end.unwrap();
        ran.value.unwrap().operator_id
    };
    assert_eq!(log_in(&readers), "op-restart");
    assert_eq!(log_in(&readers), "op-restart");
    lab.restart_pcscd().unwrap();
    lab.wait_for_card(0).unwrap();
    assert_eq!(log_in(&readers), "op-restart");
}
