//! The contract's login, in process, against the software card: every scenario of the
//! issue, with the APDU transcript checked where it matters (what was *not* sent).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_card::cert::{CardSerial, Role};
use cardgate_card::commands::ins;
use cardgate_card::issue::{unblock, IssueRequest};
use cardgate_card::login::{login, LoginError, LoginPolicy};
use cardgate_card::revocation::{Revocation, RevocationListBuilder, RevocationReason};
use cardgate_card::{IssuerKey, OperatorCard, Pin, Puk, RevocationList, SecretString, StatusWord};
use cardgate_reader::{CardTransport, TransportError};
use cardgate_sim::transport::Transcript;
use cardgate_sim::{create_card, CardImage, Faults, SimTransport, SoftCard};
use time::macros::date;
use time::Date;
use zeroize::Zeroizing;

const PIN: &str = "Tanuki42";
const PUK: &str = "Kitsune12345";
const SERIAL: CardSerial = CardSerial([0x1A, 0x2B, 0x3C, 0x4D, 0x5E, 0x6F, 0x70, 0x81]);
const TODAY: Date = date!(2026 - 11 - 25);

struct World {
    issuer: IssuerKey,
    empty_list: RevocationList,
}

impl World {
    fn new() -> Self {
        let issuer = IssuerKey::generate().unwrap();
        let empty_list = list(&issuer, &[]);
        World { issuer, empty_list }
    }

    fn card(&self) -> CardImage {
        self.card_valid(date!(2026 - 04 - 01), date!(2027 - 03 - 31))
    }

    fn card_valid(&self, from: Date, until: Date) -> CardImage {
        let request = IssueRequest {
            serial: SERIAL,
            operator_id: "op-0042".into(),
            role: Role::Operator,
            valid_from: from,
            valid_until: until,
        };
        create_card(
            &self.issuer,
            &Puk::parse(PUK).unwrap(),
            &Pin::parse(PIN).unwrap(),
            &request,
        )
        .unwrap()
    }

    fn policy<'a>(&'a self, list: &'a RevocationList) -> LoginPolicy<'a> {
        LoginPolicy {
            issuer: Box::leak(Box::new(self.issuer.public_key())),
            revocation: list,
            today: TODAY,
        }
    }
}

fn list(issuer: &IssuerKey, revoked: &[(CardSerial, RevocationReason)]) -> RevocationList {
    let mut b = RevocationListBuilder::new(1, 1_790_000_000, 1_800_000_000);
    for &(serial, reason) in revoked {
        b.revoke(
            serial,
            Revocation {
                revoked_at: 1_790_000_000,
                reason,
            },
        );
    }
    RevocationList::verify(&b.sign(issuer).unwrap(), &issuer.public_key()).unwrap()
}

fn transport(image: CardImage) -> (SimTransport, Transcript) {
    let t = SimTransport::new(SoftCard::in_memory(image));
    let transcript = t.transcript();
    (t, transcript)
}

fn try_login(
    world: &World,
    t: &mut SimTransport,
    pin: &str,
) -> Result<cardgate_card::AuthenticatedOperator, LoginError> {
    login(
        t,
        &world.policy(&world.empty_list),
        &SecretString::from(pin),
    )
}

#[test]
fn the_right_pin_authenticates_in_three_apdus() {
    let world = World::new();
    let (mut t, transcript) = transport(world.card());
    let op = try_login(&world, &mut t, PIN).unwrap();
    assert_eq!(op.operator_id, "op-0042");
    assert_eq!(op.serial, SERIAL);
    assert_eq!(op.role, Role::Operator);
    assert_eq!(
        transcript.instructions(),
        vec![ins::SELECT, ins::VERIFY, ins::INTERNAL_AUTHENTICATE]
    );
    assert!(transcript
        .exchanges()
        .iter()
        .all(|e| e.status() == Some(StatusWord::Success)));
}

#[test]
fn three_wrong_pins_block_the_card_even_for_the_right_pin() {
    let world = World::new();
    let (mut t, transcript) = transport(world.card());
    for expected in [2u8, 1, 0] {
        match try_login(&world, &mut t, "Wrong999") {
            Err(LoginError::WrongPin { remaining }) => assert_eq!(remaining, expected),
            other => panic!("expected WrongPin {{ {expected} }}, got {other:?}"),
        }
    }
    assert!(matches!(
        try_login(&world, &mut t, PIN),
        Err(LoginError::PinBlocked)
    ));
    let verify_statuses: Vec<_> = transcript
        .exchanges()
        .iter()
        .filter(|e| e.ins() == Some(ins::VERIFY))
        .map(|e| e.status().unwrap().as_u16())
        .collect();
    assert_eq!(verify_statuses, vec![0x63C2, 0x63C1, 0x63C0, 0x6983]);
    assert!(!transcript.contains_ins(ins::INTERNAL_AUTHENTICATE));
    assert_eq!(t.card().image().pin_tries(), 0);
}

#[test]
fn the_puk_unblocks_and_the_operator_logs_in_with_the_new_pin() {
    let world = World::new();
    let (mut t, _) = transport(world.card());
    for _ in 0..3 {
        let _ = try_login(&world, &mut t, "Wrong999");
    }
    assert!(matches!(
        try_login(&world, &mut t, PIN),
        Err(LoginError::PinBlocked)
    ));
    let mut card = OperatorCard::new(&mut t);
    unblock(
        &mut card,
        &Puk::parse(PUK).unwrap(),
        &Pin::parse("Fresh2026x").unwrap(),
    )
    .unwrap();
    assert_eq!(t.card().image().pin_tries(), 3);
    assert!(matches!(
        try_login(&world, &mut t, PIN),
        Err(LoginError::WrongPin { remaining: 2 })
    ));
    try_login(&world, &mut t, "Fresh2026x").unwrap();
}

#[test]
fn the_puk_blocks_after_ten_wrong_tries() {
    let world = World::new();
    let (mut t, _) = transport(world.card());
    let wrong = Puk::parse("NotThePuk1").unwrap();
    let new_pin = Pin::parse("Fresh2026x").unwrap();
    let mut card = OperatorCard::new(&mut t);
    card.select().unwrap();
    let mut seen = Vec::new();
    for _ in 0..10 {
        seen.push(card.unblock_pin(&wrong, &new_pin).unwrap());
    }
    let expected: Vec<_> = (0..10u8)
        .rev()
        .map(|remaining| cardgate_card::Verification::Wrong { remaining })
        .collect();
    assert_eq!(seen, expected);
    // Blocked now, even for the right PUK, and the PIN was never changed.
    assert_eq!(
        card.unblock_pin(&Puk::parse(PUK).unwrap(), &new_pin)
            .unwrap(),
        cardgate_card::Verification::Blocked
    );
    let _ = card.into_transport();
    assert_eq!(t.card().image().puk_tries(), 0);
    try_login(&world, &mut t, PIN).unwrap();
}

#[test]
fn a_revoked_card_is_refused_before_any_verify() {
    let world = World::new();
    let revoked = list(&world.issuer, &[(SERIAL, RevocationReason::Lost)]);
    let (mut t, transcript) = transport(world.card());
    let result = login(&mut t, &world.policy(&revoked), &SecretString::from(PIN));
    match result {
        Err(LoginError::Revoked { reason, .. }) => assert_eq!(reason, RevocationReason::Lost),
        other => panic!("expected Revoked, got {other:?}"),
    }
    assert_eq!(transcript.instructions(), vec![ins::SELECT]);
    assert_eq!(t.card().image().pin_tries(), 3, "a try was spent");
}

#[test]
fn expired_and_not_yet_valid_cards_are_refused_before_verify() {
    let world = World::new();
    let (mut t, transcript) =
        transport(world.card_valid(date!(2025 - 04 - 01), date!(2026 - 11 - 24)));
    match try_login(&world, &mut t, PIN) {
        Err(LoginError::Expired { valid_until }) => assert_eq!(valid_until, date!(2026 - 11 - 24)),
        other => panic!("expected Expired, got {other:?}"),
    }
    assert!(!transcript.contains_ins(ins::VERIFY));

    let (mut t, transcript) =
        transport(world.card_valid(date!(2026 - 11 - 26), date!(2027 - 11 - 26)));
    assert!(matches!(
        try_login(&world, &mut t, PIN),
        Err(LoginError::NotYetValid { .. })
    ));
    assert!(!transcript.contains_ins(ins::VERIFY));

    // The last valid day and the first valid day are both inside.
    let (mut t, _) = transport(world.card_valid(TODAY, TODAY));
    try_login(&world, &mut t, PIN).unwrap();
}

#[test]
fn a_certificate_from_another_issuer_is_refused() {
    let world = World::new();
    let stranger = World::new();
    let (mut t, transcript) = transport(stranger.card());
    assert!(matches!(
        try_login(&world, &mut t, PIN),
        Err(LoginError::UnknownIssuer)
    ));
    assert!(!transcript.contains_ins(ins::VERIFY));
}

/// A home-made card that answers SELECT with another card's recorded FCI (a copied
/// certificate) and passes everything else to its own chip.
struct CertificateCopier {
    stolen_select: Zeroizing<Vec<u8>>,
    own_chip: SimTransport,
}

impl CardTransport for CertificateCopier {
    fn transmit(&mut self, command: &[u8]) -> Result<Zeroizing<Vec<u8>>, TransportError> {
        if command.get(1) == Some(&ins::SELECT) {
            self.own_chip.transmit(command)?;
            return Ok(self.stolen_select.clone());
        }
        self.own_chip.transmit(command)
    }
    fn reader_name(&self) -> &str {
        "copier"
    }
}

#[test]
fn a_certificate_copied_onto_another_card_fails_internal_authenticate() {
    let world = World::new();
    let (mut original, _) = transport(world.card());
    let select = original
        .transmit(&[
            0x00, 0xA4, 0x04, 0x00, 0x0A, 0xF0, 0x43, 0x41, 0x52, 0x44, 0x47, 0x41, 0x54, 0x45,
            0x01, 0x00,
        ])
        .unwrap();
    // The copy has the same PIN (the thief watched it typed), but its own key.
    let (own_chip, transcript) = transport(world.card());
    let mut copier = CertificateCopier {
        stolen_select: select,
        own_chip,
    };
    assert!(matches!(
        try_login_on(&world, &mut copier, PIN),
        Err(LoginError::CardAuthenticationFailed)
    ));
    assert_eq!(
        transcript.instructions(),
        vec![ins::SELECT, ins::VERIFY, ins::INTERNAL_AUTHENTICATE]
    );
}

fn try_login_on<T: CardTransport>(
    world: &World,
    t: T,
    pin: &str,
) -> Result<cardgate_card::AuthenticatedOperator, LoginError> {
    login(
        t,
        &world.policy(&world.empty_list),
        &SecretString::from(pin),
    )
}

#[test]
fn pulling_the_card_at_any_apdu_of_the_login_authenticates_nobody() {
    let world = World::new();
    let image = world.card();
    for n in 0..3 {
        for faults in [Faults::new().pull_before(n), Faults::new().pull_after(n)] {
            let mut t = SimTransport::new(SoftCard::in_memory(image.clone())).with_faults(faults);
            let result = try_login(&world, &mut t, PIN);
            assert!(
                matches!(result, Err(LoginError::CardRemoved)),
                "APDU {n}: expected CardRemoved, got {result:?}"
            );
            assert_eq!(
                result.unwrap_err().to_string(),
                "the card was removed during login"
            );
        }
    }
}

#[test]
fn corrupt_or_wrong_responses_authenticate_nobody() {
    let world = World::new();
    let image = world.card();
    for n in 0..3 {
        for faults in [
            Faults::new().corrupt_response(n),
            Faults::new().truncate_response(n),
            Faults::new().wrong_status(n, StatusWord::Other([0x6F, 0x00])),
        ] {
            let mut t = SimTransport::new(SoftCard::in_memory(image.clone())).with_faults(faults);
            let result = try_login(&world, &mut t, PIN);
            assert!(
                result.is_err(),
                "APDU {n}: a faulty response let the login through"
            );
        }
    }
}

#[test]
fn a_forged_9000_for_a_wrong_pin_does_not_authenticate() {
    let world = World::new();
    let mut t = SimTransport::new(SoftCard::in_memory(world.card()))
        .with_faults(Faults::new().wrong_status(1, StatusWord::Success));
    let transcript = t.transcript();
    assert!(matches!(
        try_login(&world, &mut t, "Wrong999"),
        Err(LoginError::CardAuthenticationFailed)
    ));
    // The card itself refused to sign: the PIN was not verified on the card.
    let last = transcript.exchanges().pop().unwrap();
    assert_eq!(last.ins(), Some(ins::INTERNAL_AUTHENTICATE));
    assert_eq!(last.status(), Some(StatusWord::SecurityStatusNotSatisfied));
}

#[test]
fn a_malformed_pin_is_refused_without_verify() {
    let world = World::new();
    for bad in [
        "12345",
        "abcdefgh",
        "1234567",
        "abc 123",
        "ａｂｃ１２３",
        "a1b2c3d4e5f6g7h8i9",
    ] {
        let (mut t, transcript) = transport(world.card());
        assert!(
            matches!(
                try_login(&world, &mut t, bad),
                Err(LoginError::MalformedPin(_))
            ),
            "{bad}"
        );
        assert_eq!(transcript.instructions(), vec![ins::SELECT], "{bad}");
        assert_eq!(t.card().image().pin_tries(), 3);
    }
}

#[test]
fn a_blank_card_is_not_personalised() {
    let world = World::new();
    let (mut t, _) = transport(CardImage::blank(&Puk::parse(PUK).unwrap()));
    assert!(matches!(
        try_login(&world, &mut t, PIN),
        Err(LoginError::NotPersonalised)
    ));
}
