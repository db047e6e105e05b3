//! The card's responses fed to the host: a scripted card answers each transmit with the next
//! chunk of the input (the first chunk is the ATR), and "the card was removed" once the
//! script is exhausted.
//!
//! Invariants checked:
//! * no panic in the login, the issuance flow, or anything below them;
//! * every command the host sends is a well-formed short APDU;
//! * the login never authenticates anyone: a scripted card cannot sign the login's fresh
//!   random challenge, so a success means the host accepted something it should not have;
//! * the PIN never leaves the host unless the certificate passed step 1 (with an issuer the
//!   input cannot know, the PIN is never sent at all), on either profile: a card that answers
//!   `6A82` to operator-card-v1's SELECT is driven as an OpenPGP card;
//! * an issuance that succeeds, on either profile, wrote a certificate that the issuer's key
//!   verifies, for the serial asked for.

use crate::chunks;
use crate::class;
use crate::fixtures;
use cardgate_card::commands::{atr_is_operator_card, ins, REF_PIN};
use cardgate_card::issue::{issue_card, issue_with, IssueError, IssueSecrets};
use cardgate_card::login::{login, LoginError, LoginPolicy};
use cardgate_card::openpgp::issue::IssueSecrets as OpenPgpSecrets;
use cardgate_card::openpgp::REF_PW1;
use cardgate_card::{AdminPin, Command, IssuerKey, OperatorCard, SecretString};
use cardgate_reader::{CardTransport, TransportError};
use zeroize::Zeroizing;

/// Tokens for mutators: status words and the tags of the FCI and certificate.
pub const DICTIONARY: &[&[u8]] = &[
    b"\x90\x00",
    b"\x61\x00",
    b"\x61\x10",
    b"\x6C\x00",
    b"\x6C\x20",
    b"\x63\xC2",
    b"\x63\xC0",
    b"\x69\x83",
    b"\x69\x82",
    b"\x6A\x82",
    b"\x6A\x88",
    b"\x6A\x80",
    b"\x6F\x00",
    b"\x65\x81",
    b"\x6F\x81",
    b"\x84\x0A\xF0CARDGATE\x01",
    b"\x7F\x21\x81",
    b"\x7F\x49\x43\x86\x41\x04",
    b"\x5F\x37\x40",
    b"\x5F\x20",
    b"\x5F\x4C\x01\x01",
    b"\x5F\x25\x0820260401",
    b"\x5F\x24\x0820270331",
    b"cardgate",
    // The OpenPGP card profile: its AID, the application related data and the KDF-DO.
    b"\xD2\x76\x00\x01\x24\x01\x03\x04",
    b"\x4F\x10\xD2\x76\x00\x01\x24\x01",
    b"\x73\x81",
    b"\xC0\x0A\x3F",
    b"\xC4\x07\x00\x7F\x7F\x7F\x03\x03\x03",
    b"\x81\x01\x03\x82\x01\x08\x83\x04",
    b"\x63\x00",
];

/// A card that answers from a script.
struct ScriptedCard<'a> {
    responses: Vec<&'a [u8]>,
    next: usize,
    sent: Vec<Zeroizing<Vec<u8>>>,
}

impl<'a> ScriptedCard<'a> {
    fn new(responses: &[&'a [u8]]) -> Self {
        ScriptedCard {
            responses: responses.to_vec(),
            next: 0,
            sent: Vec::new(),
        }
    }

    /// Whether the host sent a password: a VERIFY, CHANGE REFERENCE DATA or RESET RETRY
    /// COUNTER with data, on either profile (`81`, the v1 PIN and OpenPGP's PW1 for signing;
    /// `82`, OpenPGP's PW1; the clearing `VERIFY P1=FF` carries none).
    fn pin_sent(&self) -> bool {
        self.sent.iter().any(|c| {
            matches!(
                Command::parse(c),
                Ok(cmd) if matches!(
                    cmd.ins,
                    ins::VERIFY | ins::CHANGE_REFERENCE_DATA | ins::RESET_RETRY_COUNTER
                ) && matches!(cmd.p2, REF_PIN | REF_PW1)
                    && cmd.p1 != 0xFF
                    && !cmd.data().is_empty()
            )
        })
    }
}

impl CardTransport for ScriptedCard<'_> {
    fn transmit(&mut self, command: &[u8]) -> Result<Zeroizing<Vec<u8>>, TransportError> {
        if Command::parse(command).is_err() {
            panic!(
                "the host sent a malformed APDU: {:02X?}",
                &command[..command.len().min(5)]
            );
        }
        self.sent.push(Zeroizing::new(command.to_vec()));
        let response = self.responses.get(self.next).copied();
        self.next += 1;
        match response {
            Some(r) => Ok(Zeroizing::new(r.to_vec())),
            None => Err(TransportError::CardRemoved),
        }
    }

    fn reader_name(&self) -> &str {
        "fuzzing reader"
    }
}

/// Errors of step 1: the certificate was not acceptable, so no PIN may have been sent.
fn before_pin(e: &LoginError) -> bool {
    matches!(
        e,
        LoginError::NotOperatorCard
            | LoginError::NotPersonalised
            | LoginError::BadCertificate(_)
            | LoginError::UnknownIssuer
            | LoginError::Revoked { .. }
            | LoginError::Expired { .. }
            | LoginError::NotYetValid { .. }
    )
}

fn try_login(responses: &[&[u8]], issuer: &IssuerKey, pin: &SecretString) -> (u64, bool) {
    let public = issuer.public_key();
    let policy = LoginPolicy {
        issuer: &public,
        revocation: fixtures::revocation_list(),
        today: fixtures::TODAY,
    };
    let mut card = ScriptedCard::new(responses);
    let result = login(&mut card, &policy, pin);
    let err = match result {
        Ok(op) => panic!(
            "a scripted card was authenticated as {:?} ({}): the challenge signature check let it through",
            op.operator_id, op.serial
        ),
        Err(e) => e,
    };
    if before_pin(&err) && card.pin_sent() {
        panic!("the PIN was sent although the certificate was refused ({err})");
    }
    (class::of_debug(&format!("{err:?}")), card.pin_sent())
}

fn try_issue(responses: &[&[u8]]) -> u64 {
    let mut card = OperatorCard::new(ScriptedCard::new(responses));
    let request = fixtures::issue_request();
    let outcome = issue_card(
        &mut card,
        fixtures::issuer(),
        &fixtures::puk(),
        &request,
        &fixtures::pin(),
    );
    let v1 = issued_class(outcome, &request);
    // The same script as an OpenPGP card's issuance from factory state.
    let mut card = OperatorCard::new(ScriptedCard::new(responses));
    let (Ok(admin), Ok(new_admin)) = (
        AdminPin::parse(AdminPin::FACTORY),
        AdminPin::parse("Kanri12345"),
    ) else {
        return v1;
    };
    let (puk, pin) = (fixtures::puk(), fixtures::pin());
    let secrets = IssueSecrets::OpenPgp(OpenPgpSecrets {
        admin_pin: &admin,
        new_admin_pin: &new_admin,
        reset_code: &puk,
        initial_pin: &pin,
    });
    let outcome = issue_with(&mut card, fixtures::issuer(), &secrets, &request, 0);
    class::mix(&[v1, issued_class(outcome, &request)])
}

fn issued_class(
    outcome: Result<cardgate_card::Certificate, IssueError>,
    request: &cardgate_card::issue::IssueRequest,
) -> u64 {
    match outcome {
        Ok(cert) => {
            if cert
                .verify_issuer(&fixtures::issuer().public_key())
                .is_err()
                || cert.body.serial != request.serial
                || cert.body.operator_id != request.operator_id
            {
                panic!("issuance wrote a certificate that does not match the request");
            }
            class::fnv(b"issued")
        }
        Err(IssueError::Card(e)) => class::of_debug(&format!("{e:?}")),
        Err(e) => class::of_debug(&format!("{e:?}")),
    }
}

/// Runs one script; returns its outcome class.
pub fn run(data: &[u8]) -> u64 {
    let chunks = chunks::split(data);
    let Some((atr, responses)) = chunks.split_first() else {
        return 0;
    };
    let is_ours = atr_is_operator_card(atr);
    let pin = SecretString::new(fixtures::PIN.to_owned());
    let (known, pin_sent) = try_login(responses, fixtures::issuer(), &pin);
    let (unknown, pin_sent_unknown) = try_login(responses, fixtures::unknown_issuer(), &pin);
    if pin_sent_unknown {
        panic!("the PIN was sent to a card whose certificate no trusted issuer signed");
    }
    let issued = try_issue(responses);
    class::mix(&[
        u64::from(is_ours),
        known,
        u64::from(pin_sent),
        unknown,
        issued,
    ])
}
