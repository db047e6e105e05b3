//! The software operator card: the `operator-card-v1` contract as a state machine.
//!
//! [`SoftCard::handle`] takes the raw bytes of one command APDU and returns the raw response
//! (data and status word). It is total: every input, however malformed, gets a status word.
//! Each command is one method returning `Result<data, StatusWord>`.
//!
//! Checks run in this order, and the first failure answers:
//! 1. fewer than 4 bytes: `6700`;
//! 2. CLA other than `00`: `6E00`;
//! 3. unknown INS: `6D00`;
//! 4. (SELECT only: the security state is cleared and the application deselected now, before
//!    any other check, so that every SELECT, even a refused one, ends the session state);
//! 5. Lc/Le structure not a short APDU: `6700`;
//! 6. P1/P2: `6A86`;
//! 7. no application selected (every command but SELECT): `6985`;
//! 8. data length for the command: `6700`;
//! 9. referenced data missing (no PIN set, no key): `6A88`;
//! 10. security state (PIN or PUK verified): `6982`;
//! 11. blocked secret: `6983`; new PIN format: `6A80`;
//! 12. the command itself.
//!
//! Like a real card, a presented secret costs its try *before* it is compared: the decremented
//! counter is persisted first, the comparison runs in constant time, and only a match restores
//! the counter. Pulling the card (or killing the process) mid-command therefore never gives a
//! free try.

use crate::image::{CardImage, CardKey, ImageError, PIN_TRIES, PUK_TRIES};
use cardgate_card::cert::{
    Certificate, AUTH_PREFIX, TAG_CERTIFICATE, TAG_EC_POINT, TAG_PUBLIC_KEY,
};
use cardgate_card::commands::{ins, AID, CHALLENGE_LEN, REF_PIN, REF_PUK};
use cardgate_card::secret::{check_pin_format, from_wire, SECRET_WIRE_LEN};
use cardgate_card::{ct_eq, tlv, Command, Pin, StatusWord};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

const fn atr_with_tck(body: [u8; 12]) -> [u8; 13] {
    let mut out = [0u8; 13];
    let mut tck = 0u8;
    let mut i = 0;
    while i < 12 {
        out[i] = body[i];
        // TCK covers T0 up to the last historical byte, i.e. everything after TS.
        if i > 0 {
            tck ^= body[i];
        }
        i += 1;
    }
    out[12] = tck;
    out
}

/// The card's answer to reset: direct convention (`3B`), T0 `88` (TD1 present, 8 historical
/// bytes), TD1 `80` (TD2 present), TD2 `01` (T=1), the historical bytes `cardgate`, and TCK.
pub const ATR: [u8; 13] = atr_with_tck([
    0x3B, 0x88, 0x80, 0x01, b'c', b'a', b'r', b'd', b'g', b'a', b't', b'e',
]);

/// `6581` (memory failure): the card could not persist a state change, so it did nothing.
pub const SW_MEMORY_FAILURE: StatusWord = StatusWord::Other([0x65, 0x81]);
/// `6F00` (no precise diagnosis): an internal failure such as the random generator.
pub const SW_INTERNAL_ERROR: StatusWord = StatusWord::Other([0x6F, 0x00]);

const KNOWN_INS: [u8; 8] = [
    ins::SELECT,
    ins::GET_DATA,
    ins::VERIFY,
    ins::CHANGE_REFERENCE_DATA,
    ins::RESET_RETRY_COUNTER,
    ins::INTERNAL_AUTHENTICATE,
    ins::GENERATE_KEY_PAIR,
    ins::PUT_DATA,
];

/// What a command returns: response data, or the status word that refuses it.
type Outcome = Result<Vec<u8>, StatusWord>;

/// The two secrets of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Secret {
    Pin,
    Puk,
}

/// Volatile state, lost on power-off, reset and SELECT.
#[derive(Debug, Default, Clone, Copy)]
struct Session {
    selected: bool,
    pin_verified: bool,
    puk_verified: bool,
}

/// Where the card's persistent state goes.
enum Storage {
    Memory,
    File(PathBuf),
    #[cfg(test)]
    Recorder(std::sync::Arc<std::sync::Mutex<Vec<CardImage>>>),
}

impl Storage {
    fn store(&self, image: &CardImage) -> Result<(), ImageError> {
        match self {
            Storage::Memory => Ok(()),
            Storage::File(path) => image.save(path),
            #[cfg(test)]
            Storage::Recorder(log) => {
                log.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(image.clone());
                Ok(())
            }
        }
    }
}

/// The software operator card.
pub struct SoftCard {
    image: CardImage,
    storage: Storage,
    key: Option<EcdsaKeyPair>,
    rng: SystemRandom,
    session: Session,
    storage_error: Option<ImageError>,
}

impl std::fmt::Debug for SoftCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftCard")
            .field("image", &self.image)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl SoftCard {
    /// A card whose state lives only in memory (tests, `create`).
    pub fn in_memory(image: CardImage) -> Self {
        Self::with_storage(image, Storage::Memory)
    }

    /// Opens a card image file. Every state change (try counters, PIN, key, certificate) is
    /// written back to it atomically before the card answers.
    pub fn open(path: &Path) -> Result<Self, ImageError> {
        let image = CardImage::load(path)?;
        Ok(Self::with_storage(image, Storage::File(path.to_owned())))
    }

    fn with_storage(image: CardImage, storage: Storage) -> Self {
        // The image checked its key when it was parsed or generated; should ring still refuse
        // it, the card simply has no usable key (fail closed: no signature).
        let key = image
            .key()
            .and_then(|k| CardKey::from_pkcs8(k.pkcs8()))
            .map(|(_, pair)| pair);
        SoftCard {
            image,
            storage,
            key,
            rng: SystemRandom::new(),
            session: Session::default(),
            storage_error: None,
        }
    }

    /// The persistent state.
    pub fn image(&self) -> &CardImage {
        &self.image
    }

    /// Gives the persistent state back.
    pub fn into_image(self) -> CardImage {
        self.image
    }

    /// Whether the application is selected in this session.
    pub fn is_selected(&self) -> bool {
        self.session.selected
    }

    /// Whether the PIN is verified in this session.
    pub fn is_pin_verified(&self) -> bool {
        self.session.pin_verified
    }

    /// Whether the PUK is verified in this session (personalisation open).
    pub fn is_puk_verified(&self) -> bool {
        self.session.puk_verified
    }

    /// The last failure to persist state (answered with `6581`), for the operator's log.
    pub fn take_storage_error(&mut self) -> Option<ImageError> {
        self.storage_error.take()
    }

    /// Powers the card on (cold reset) and returns its ATR. The session starts empty.
    pub fn power_on(&mut self) -> Vec<u8> {
        self.session = Session::default();
        ATR.to_vec()
    }

    /// Warm reset: the session state is lost.
    pub fn reset(&mut self) {
        self.session = Session::default();
    }

    /// Power off: the session state is lost.
    pub fn power_off(&mut self) {
        self.session = Session::default();
    }

    /// Processes one command APDU; returns response data followed by the status word.
    pub fn handle(&mut self, apdu: &[u8]) -> Vec<u8> {
        let (mut out, status) = match self.process(apdu) {
            Ok(data) => (data, StatusWord::Success),
            Err(status) => (Vec::new(), status),
        };
        out.extend_from_slice(&status.to_bytes());
        out
    }

    fn process(&mut self, apdu: &[u8]) -> Outcome {
        let (cla, ins) = match apdu {
            [cla, ins, _, _, ..] => (*cla, *ins),
            _ => return Err(StatusWord::WrongLength),
        };
        if cla != 0x00 {
            return Err(StatusWord::ClaNotSupported);
        }
        if !KNOWN_INS.contains(&ins) {
            return Err(StatusWord::InsNotSupported);
        }
        if ins == ins::SELECT {
            self.session = Session::default();
        }
        let cmd = Command::parse(apdu).map_err(|_| StatusWord::WrongLength)?;
        match ins {
            ins::SELECT => self.select(&cmd),
            ins::GET_DATA => self.get_data(&cmd),
            ins::VERIFY => self.verify(&cmd),
            ins::CHANGE_REFERENCE_DATA => self.change_reference_data(&cmd),
            ins::RESET_RETRY_COUNTER => self.reset_retry_counter(&cmd),
            ins::INTERNAL_AUTHENTICATE => self.internal_authenticate(&cmd),
            ins::GENERATE_KEY_PAIR => self.generate_key_pair(&cmd),
            ins::PUT_DATA => self.put_data(&cmd),
            _ => Err(StatusWord::InsNotSupported),
        }
    }

    fn require_p1p2(cmd: &Command, p1: u8, p2: u8) -> Result<(), StatusWord> {
        if cmd.p1 == p1 && cmd.p2 == p2 {
            Ok(())
        } else {
            Err(StatusWord::IncorrectP1P2)
        }
    }

    fn require_selected(&self) -> Result<(), StatusWord> {
        if self.session.selected {
            Ok(())
        } else {
            Err(StatusWord::ConditionsNotSatisfied)
        }
    }

    fn require_len(cmd: &Command, len: usize) -> Result<(), StatusWord> {
        if cmd.data().len() == len {
            Ok(())
        } else {
            Err(StatusWord::WrongLength)
        }
    }

    /// Applies a change to a copy of the image, persists it, and only then adopts it. If the
    /// write fails nothing changes and the card answers `6581`.
    fn update(&mut self, change: impl FnOnce(&mut CardImage)) -> Result<(), StatusWord> {
        let mut next = self.image.clone();
        change(&mut next);
        match self.storage.store(&next) {
            Ok(()) => {
                self.image = next;
                Ok(())
            }
            Err(e) => {
                self.storage_error = Some(e);
                Err(SW_MEMORY_FAILURE)
            }
        }
    }

    fn tries(&self, secret: Secret) -> u8 {
        match secret {
            Secret::Pin => self.image.pin_tries(),
            Secret::Puk => self.image.puk_tries(),
        }
    }

    fn set_verified(&mut self, secret: Secret, verified: bool) {
        match secret {
            Secret::Pin => self.session.pin_verified = verified,
            Secret::Puk => self.session.puk_verified = verified,
        }
    }

    /// The stored secret in wire form, or `6A88` when no such secret is set.
    fn stored_wire(&self, secret: Secret) -> Result<Zeroizing<[u8; SECRET_WIRE_LEN]>, StatusWord> {
        match secret {
            Secret::Pin => self
                .image
                .pin()
                .map(Pin::to_wire)
                .ok_or(StatusWord::DataNotFound),
            Secret::Puk => Ok(self.image.puk().to_wire()),
        }
    }

    /// Presents a secret: spends a try and persists that, compares in constant time, and on a
    /// match restores the try counter and applies `on_match` in the same write.
    ///
    /// A wrong value answers `63Cx` and ends the secret's verified state; a blocked secret
    /// answers `6983` without comparing.
    fn present(
        &mut self,
        secret: Secret,
        candidate: &[u8],
        on_match: impl FnOnce(&mut CardImage),
    ) -> Result<(), StatusWord> {
        let stored = self.stored_wire(secret)?;
        let tries = self.tries(secret);
        if tries == 0 {
            self.set_verified(secret, false);
            return Err(StatusWord::AuthMethodBlocked);
        }
        let left = tries - 1;
        let spend = self.update(|image| match secret {
            Secret::Pin => image.set_pin_tries(left),
            Secret::Puk => image.set_puk_tries(left),
        });
        if let Err(sw) = spend {
            self.set_verified(secret, false);
            return Err(sw);
        }
        if !ct_eq(&stored[..], candidate) {
            self.set_verified(secret, false);
            return Err(StatusWord::RemainingRetries(left));
        }
        let restored = self.update(|image| {
            match secret {
                Secret::Pin => image.set_pin_tries(PIN_TRIES),
                Secret::Puk => image.set_puk_tries(PUK_TRIES),
            }
            on_match(image);
        });
        if let Err(sw) = restored {
            self.set_verified(secret, false);
            return Err(sw);
        }
        Ok(())
    }

    /// A new PIN from its wire form, checked against the contract's format (`6A80` if not).
    fn new_pin(wire: &[u8]) -> Result<Pin, StatusWord> {
        let text = from_wire(wire).ok_or(StatusWord::IncorrectData)?;
        check_pin_format(&text).map_err(|_| StatusWord::IncorrectData)?;
        Pin::parse(&text).map_err(|_| StatusWord::IncorrectData)
    }

    /// SELECT by AID: `00 A4 04 00 0A <AID> [00]`.
    fn select(&mut self, cmd: &Command) -> Outcome {
        Self::require_p1p2(cmd, 0x04, 0x00)?;
        if cmd.data().is_empty() {
            return Err(StatusWord::WrongLength);
        }
        if cmd.data() != AID {
            return Err(StatusWord::NotFound);
        }
        self.session.selected = true;
        let mut fci = tlv::encode(&[0x84], &AID);
        if let Some(cert) = self.image.certificate() {
            fci.extend_from_slice(&cert.encode());
        }
        Ok(tlv::encode(&[0x6F], &fci))
    }

    /// GET DATA `7F21`: the certificate.
    fn get_data(&mut self, cmd: &Command) -> Outcome {
        Self::require_p1p2(cmd, TAG_CERTIFICATE[0], TAG_CERTIFICATE[1])?;
        self.require_selected()?;
        Self::require_len(cmd, 0)?;
        self.image
            .certificate()
            .map(Certificate::encode)
            .ok_or(StatusWord::DataNotFound)
    }

    /// VERIFY: with 16 bytes, present the PIN (`81`) or PUK (`82`); with none, ask whether it
    /// is verified now.
    fn verify(&mut self, cmd: &Command) -> Outcome {
        let secret = match (cmd.p1, cmd.p2) {
            (0x00, REF_PIN) => Secret::Pin,
            (0x00, REF_PUK) => Secret::Puk,
            _ => return Err(StatusWord::IncorrectP1P2),
        };
        self.require_selected()?;
        match cmd.data().len() {
            0 => {
                self.stored_wire(secret)?;
                let verified = match secret {
                    Secret::Pin => self.session.pin_verified,
                    Secret::Puk => self.session.puk_verified,
                };
                match self.tries(secret) {
                    _ if verified => Ok(Vec::new()),
                    0 => Err(StatusWord::AuthMethodBlocked),
                    left => Err(StatusWord::RemainingRetries(left)),
                }
            }
            SECRET_WIRE_LEN => {
                self.present(secret, cmd.data(), |_| {})?;
                self.set_verified(secret, true);
                Ok(Vec::new())
            }
            _ => Err(StatusWord::WrongLength),
        }
    }

    /// CHANGE REFERENCE DATA: `00 24 00 81 20 <old PIN><new PIN>`.
    fn change_reference_data(&mut self, cmd: &Command) -> Outcome {
        Self::require_p1p2(cmd, 0x00, REF_PIN)?;
        self.require_selected()?;
        Self::require_len(cmd, 2 * SECRET_WIRE_LEN)?;
        let (old, new) = cmd.data().split_at(SECRET_WIRE_LEN);
        self.stored_wire(Secret::Pin)?;
        if self.image.pin_tries() == 0 {
            self.session.pin_verified = false;
            return Err(StatusWord::AuthMethodBlocked);
        }
        let new = Self::new_pin(new)?;
        self.present(Secret::Pin, old, |image| image.set_pin(new))?;
        // The old PIN was just proven: the session counts as verified, as after VERIFY.
        self.session.pin_verified = true;
        Ok(Vec::new())
    }

    /// RESET RETRY COUNTER: `00 2C 00 81 20 <PUK><new PIN>`; also how issuance sets the
    /// first PIN.
    fn reset_retry_counter(&mut self, cmd: &Command) -> Outcome {
        Self::require_p1p2(cmd, 0x00, REF_PIN)?;
        self.require_selected()?;
        Self::require_len(cmd, 2 * SECRET_WIRE_LEN)?;
        let (puk, new) = cmd.data().split_at(SECRET_WIRE_LEN);
        if self.image.puk_tries() == 0 {
            self.session.puk_verified = false;
            return Err(StatusWord::AuthMethodBlocked);
        }
        let new = Self::new_pin(new)?;
        self.present(Secret::Puk, puk, |image| {
            image.set_pin(new);
            image.set_pin_tries(PIN_TRIES);
        })?;
        // The new PIN has not been presented in this session.
        self.session.pin_verified = false;
        Ok(Vec::new())
    }

    /// INTERNAL AUTHENTICATE: signs `"CARDGATE-AUTH-V1" || challenge` with the card key.
    fn internal_authenticate(&mut self, cmd: &Command) -> Outcome {
        Self::require_p1p2(cmd, 0x00, 0x00)?;
        self.require_selected()?;
        Self::require_len(cmd, CHALLENGE_LEN)?;
        if !self.session.pin_verified {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        let key = self.key.as_ref().ok_or(StatusWord::DataNotFound)?;
        let mut message = Vec::with_capacity(AUTH_PREFIX.len() + CHALLENGE_LEN);
        message.extend_from_slice(AUTH_PREFIX);
        message.extend_from_slice(cmd.data());
        let signature = key
            .sign(&self.rng, &message)
            .map_err(|_| SW_INTERNAL_ERROR)?;
        Ok(signature.as_ref().to_vec())
    }

    /// GENERATE ASYMMETRIC KEY PAIR: a new P-256 key replaces the old one. The certificate,
    /// which named the old key, is removed with it: the card is no longer personalised.
    fn generate_key_pair(&mut self, cmd: &Command) -> Outcome {
        Self::require_p1p2(cmd, 0x80, 0x00)?;
        self.require_selected()?;
        Self::require_len(cmd, 0)?;
        if !self.session.puk_verified {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &self.rng)
            .map_err(|_| SW_INTERNAL_ERROR)?;
        let (card_key, pair) = CardKey::from_pkcs8(doc.as_ref()).ok_or(SW_INTERNAL_ERROR)?;
        let point = tlv::encode(TAG_EC_POINT, &card_key.public_point());
        self.update(|image| {
            image.set_key(card_key);
            image.set_certificate(None);
        })?;
        self.key = Some(pair);
        Ok(tlv::encode(TAG_PUBLIC_KEY, &point))
    }

    /// PUT DATA `7F21`: stores the certificate, which must name the card's own key.
    fn put_data(&mut self, cmd: &Command) -> Outcome {
        Self::require_p1p2(cmd, TAG_CERTIFICATE[0], TAG_CERTIFICATE[1])?;
        self.require_selected()?;
        if cmd.data().is_empty() {
            return Err(StatusWord::WrongLength);
        }
        if !self.session.puk_verified {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        let cert = Certificate::parse(cmd.data()).map_err(|_| StatusWord::IncorrectData)?;
        if self.image.card_public_key() != Some(cert.body.card_public_key) {
            return Err(StatusWord::IncorrectData);
        }
        self.update(|image| image.set_certificate(Some(cert)))?;
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::image::CardImage;
    use cardgate_card::Puk;
    use std::sync::{Arc, Mutex};

    const SELECT: &[u8] = &[
        0x00, 0xA4, 0x04, 0x00, 0x0A, 0xF0, 0x43, 0x41, 0x52, 0x44, 0x47, 0x41, 0x54, 0x45, 0x01,
        0x00,
    ];

    fn verify_pin(pin: &str) -> Vec<u8> {
        let mut apdu = vec![0x00, 0x20, 0x00, 0x81, 0x10];
        apdu.extend_from_slice(&Pin::parse(pin).unwrap().to_wire()[..]);
        apdu
    }

    fn rrc(puk: &str, pin: &str) -> Vec<u8> {
        let mut apdu = vec![0x00, 0x2C, 0x00, 0x81, 0x20];
        apdu.extend_from_slice(&Puk::parse(puk).unwrap().to_wire()[..]);
        apdu.extend_from_slice(&Pin::parse(pin).unwrap().to_wire()[..]);
        apdu
    }

    #[test]
    fn atr_is_valid() {
        assert_eq!(
            &ATR[..12],
            &[0x3B, 0x88, 0x80, 0x01, b'c', b'a', b'r', b'd', b'g', b'a', b't', b'e']
        );
        // XOR of T0..TCK is zero when TCK is right.
        assert_eq!(ATR[1..].iter().fold(0, |a, b| a ^ b), 0);
        assert!(cardgate_card::commands::atr_is_operator_card(&ATR));
    }

    #[test]
    fn try_is_spent_and_persisted_before_the_comparison() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let puk = Puk::parse("Kitsune12345").unwrap();
        let mut card =
            SoftCard::with_storage(CardImage::blank(&puk), Storage::Recorder(log.clone()));
        card.handle(SELECT);
        assert_eq!(
            card.handle(&rrc("Kitsune12345", "Tanuki42")),
            vec![0x90, 0x00]
        );
        let puk_counts: Vec<u8> = log
            .lock()
            .unwrap()
            .iter()
            .map(CardImage::puk_tries)
            .collect();
        assert_eq!(
            puk_counts,
            vec![9, 10],
            "PUK try spent first, restored after the match"
        );
        log.lock().unwrap().clear();

        assert_eq!(card.handle(&verify_pin("Tanuki42")), vec![0x90, 0x00]);
        let pin_counts: Vec<u8> = log
            .lock()
            .unwrap()
            .iter()
            .map(CardImage::pin_tries)
            .collect();
        assert_eq!(pin_counts, vec![2, 3]);
        log.lock().unwrap().clear();

        assert_eq!(card.handle(&verify_pin("Wrong999")), vec![0x63, 0xC2]);
        let pin_counts: Vec<u8> = log
            .lock()
            .unwrap()
            .iter()
            .map(CardImage::pin_tries)
            .collect();
        assert_eq!(
            pin_counts,
            vec![2],
            "a wrong PIN is one write, the decrement"
        );
        assert!(!card.is_pin_verified());
    }

    #[test]
    fn handle_is_total_on_short_and_odd_input() {
        let puk = Puk::parse("Kitsune12345").unwrap();
        let mut card = SoftCard::in_memory(CardImage::blank(&puk));
        assert_eq!(card.handle(&[]), vec![0x67, 0x00]);
        assert_eq!(card.handle(&[0x00, 0xA4, 0x04]), vec![0x67, 0x00]);
        assert_eq!(card.handle(&[0x80, 0xA4, 0x04, 0x00]), vec![0x6E, 0x00]);
        assert_eq!(
            card.handle(&[0x00, 0xC0, 0x00, 0x00, 0x00]),
            vec![0x6D, 0x00]
        );
        assert_eq!(
            card.handle(&[0x00, 0xA4, 0x04, 0x00, 0x05, 0x01]),
            vec![0x67, 0x00]
        );
    }
}
