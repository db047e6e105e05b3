//! The host side of the contract: one function per command of
//! `operator-card-v1.md`, and the one send path that all of them use.

use crate::apdu::{ApduBuildError, Command, Response, ResponseParseError, MAX_RESPONSE_DATA};
use crate::cert::{
    CertError, Certificate, EC_POINT_LEN, TAG_CERTIFICATE, TAG_EC_POINT, TAG_PUBLIC_KEY,
};
use crate::openpgp::OpenPgpApplication;
use crate::secret::{Pin, Puk};
use crate::status::StatusWord;
use crate::tlv::{self, TlvError};
use cardgate_reader::{CardTransport, Reselect, TransportError};
use std::sync::OnceLock;
use zeroize::Zeroizing;

/// The operator-card application identifier: `F0` + `CARDGATE` + version `01`.
pub const AID: [u8; 10] = [0xF0, 0x43, 0x41, 0x52, 0x44, 0x47, 0x41, 0x54, 0x45, 0x01];
/// P2 of the operator PIN.
pub const REF_PIN: u8 = 0x81;
/// P2 of the PUK.
pub const REF_PUK: u8 = 0x82;
/// Length of the INTERNAL AUTHENTICATE challenge.
pub const CHALLENGE_LEN: usize = 32;
/// The text the card's ATR historical bytes must contain.
pub const ATR_MARK: &[u8] = b"cardgate";

/// Instruction bytes.
pub mod ins {
    /// SELECT.
    pub const SELECT: u8 = 0xA4;
    /// GET DATA.
    pub const GET_DATA: u8 = 0xCA;
    /// VERIFY.
    pub const VERIFY: u8 = 0x20;
    /// CHANGE REFERENCE DATA.
    pub const CHANGE_REFERENCE_DATA: u8 = 0x24;
    /// RESET RETRY COUNTER.
    pub const RESET_RETRY_COUNTER: u8 = 0x2C;
    /// INTERNAL AUTHENTICATE.
    pub const INTERNAL_AUTHENTICATE: u8 = 0x88;
    /// GENERATE ASYMMETRIC KEY PAIR.
    pub const GENERATE_KEY_PAIR: u8 = 0x47;
    /// PUT DATA.
    pub const PUT_DATA: u8 = 0xDA;
    /// GET RESPONSE (ISO 7816-4; used only when a card answers `61xx`).
    pub const GET_RESPONSE: u8 = 0xC0;
    /// TERMINATE DF (OpenPGP card: the first half of a factory reset).
    pub const TERMINATE_DF: u8 = 0xE6;
    /// ACTIVATE FILE (OpenPGP card: the second half of a factory reset).
    pub const ACTIVATE_FILE: u8 = 0x44;
}

/// Most GET RESPONSE rounds we follow for one command: a card that keeps answering `61xx`
/// must not keep us busy forever.
const MAX_GET_RESPONSE_ROUNDS: usize = 8;

/// A protocol-level failure talking to the card.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CardError {
    /// The transport failed (card removed, reader gone, timeout, …).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The card's response is not a response APDU.
    #[error("malformed response to {command}")]
    MalformedResponse {
        /// Which command.
        command: &'static str,
        /// Why.
        #[source]
        source: ResponseParseError,
    },
    /// The card answered with data we cannot read.
    #[error("unreadable {command} response data")]
    BadResponseData {
        /// Which command.
        command: &'static str,
        /// Why.
        #[source]
        source: TlvError,
    },
    /// The card's certificate does not parse.
    #[error("the card's certificate is malformed")]
    Certificate(#[source] CertError),
    /// The command could not be built.
    #[error("could not build the {command} command")]
    Build {
        /// Which command.
        command: &'static str,
        /// Why.
        #[source]
        source: ApduBuildError,
    },
    /// The card kept answering `61xx`.
    #[error("the card kept asking for GET RESPONSE after {MAX_GET_RESPONSE_ROUNDS} rounds")]
    EndlessGetResponse,
    /// A status word the contract does not allow for this command here.
    #[error("{command} answered {status}")]
    Unexpected {
        /// Which command.
        command: &'static str,
        /// What the card said.
        status: StatusWord,
    },
    /// The card has no operator-card application.
    #[error("the card has no cardgate operator application")]
    ApplicationNotFound,
    /// The command needs a verified PIN or PUK first.
    #[error("{command} needs the PIN or PUK verified first")]
    SecurityStatusNotSatisfied {
        /// Which command.
        command: &'static str,
    },
    /// The card refused the data (bad new PIN format, key mismatch).
    #[error("the card refused the data of {command}")]
    IncorrectData {
        /// Which command.
        command: &'static str,
    },
    /// The card's KDF-DO cannot be used.
    #[error("the card's PIN hashing setting (KDF-DO) cannot be used")]
    Kdf(#[source] crate::openpgp::kdf::KdfError),
    /// A command was asked of a card before it was selected, or of a profile that has no
    /// such command.
    #[error("{command} is not available on this card ({profile})")]
    NotInProfile {
        /// Which command.
        command: &'static str,
        /// The card's profile, or "not selected".
        profile: &'static str,
    },
}

impl CardError {
    /// True when the card left the reader.
    pub fn is_card_gone(&self) -> bool {
        matches!(self, CardError::Transport(t) if t.is_card_gone())
    }

    pub(crate) fn unexpected(command: &'static str, status: StatusWord) -> Self {
        match status {
            StatusWord::SecurityStatusNotSatisfied => {
                CardError::SecurityStatusNotSatisfied { command }
            }
            StatusWord::IncorrectData => CardError::IncorrectData { command },
            status => CardError::Unexpected { command, status },
        }
    }
}

/// The outcome of presenting a PIN or PUK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Accepted.
    Verified,
    /// Refused; this many tries remain (0: the secret is now blocked).
    Wrong {
        /// Tries left.
        remaining: u8,
    },
    /// Blocked before this attempt; the secret was not checked.
    Blocked,
}

impl Verification {
    /// What a VERIFY-like command's status says about the secret it carried.
    pub(crate) fn from_status(
        command: &'static str,
        status: StatusWord,
    ) -> Result<Self, CardError> {
        match status {
            StatusWord::Success => Ok(Verification::Verified),
            StatusWord::RemainingRetries(remaining) => Ok(Verification::Wrong { remaining }),
            StatusWord::AuthMethodBlocked => Ok(Verification::Blocked),
            other => Err(CardError::unexpected(command, other)),
        }
    }
}

/// Sends one command and returns the final response, following `61xx` with GET RESPONSE and
/// repeating once with the right Le on `6Cxx`.
pub fn transceive<T: CardTransport + ?Sized>(
    transport: &mut T,
    command: &Command,
    name: &'static str,
) -> Result<Response, CardError> {
    let parse = |raw: &[u8]| {
        Response::parse(raw).map_err(|source| CardError::MalformedResponse {
            command: name,
            source,
        })
    };
    let mut response = parse(&transport.transmit(&command.to_bytes())?)?;
    if let StatusWord::WrongLe(exact) = response.status {
        let le = if exact == 0 { 256 } else { u16::from(exact) };
        let retry = command
            .clone()
            .with_le(le)
            .map_err(|source| CardError::Build {
                command: name,
                source,
            })?;
        response = parse(&transport.transmit(&retry.to_bytes())?)?;
    }
    let mut data = Zeroizing::new(response.data().to_vec());
    let mut rounds = 0;
    while let StatusWord::BytesAvailable(n) = response.status {
        rounds += 1;
        if rounds > MAX_GET_RESPONSE_ROUNDS
            || data.len() > MAX_GET_RESPONSE_ROUNDS * MAX_RESPONSE_DATA
        {
            return Err(CardError::EndlessGetResponse);
        }
        let le = if n == 0 { 256 } else { u16::from(n) };
        let get = Command::new(0x00, ins::GET_RESPONSE, 0, 0)
            .with_le(le)
            .map_err(|source| CardError::Build {
                command: name,
                source,
            })?;
        response = parse(&transport.transmit(&get.to_bytes())?)?;
        data.extend_from_slice(response.data());
    }
    Ok(Response::new(data.to_vec(), response.status))
}

/// A command with its data and Le, or the reason it cannot be built, named.
pub(crate) fn build(
    name: &'static str,
    cmd: Command,
    data: Option<&[u8]>,
    le: Option<u16>,
) -> Result<Command, CardError> {
    let map = |source| CardError::Build {
        command: name,
        source,
    };
    let cmd = match data {
        Some(d) => cmd.with_data(d).map_err(map)?,
        None => cmd,
    };
    match le {
        Some(le) => cmd.with_le(le).map_err(map),
        None => Ok(cmd),
    }
}

/// SELECT of the operator-card application by its AID: `00 A4 04 00 0A <AID> 00`. The one
/// place its bytes are built, for [`OperatorCard::select`] and for [`reselect`].
pub fn select_command() -> Result<Command, CardError> {
    build(
        "SELECT",
        Command::new(0x00, ins::SELECT, 0x04, 0x00),
        Some(&AID),
        Some(256),
    )
}

/// The ending every operation gets from the transaction seam
/// ([`cardgate_reader::CardReaders::transaction`]), for both profiles:
///
/// * operator-card-v1: its SELECT, which clears the card's security state (the contract);
/// * a card without it (`6A82`): SELECT of the OpenPGP application, then `VERIFY P1=FF` for
///   each password, because SELECT leaves an OpenPGP card's passwords verified.
///
/// A card that does not confirm every step is reset by the seam.
pub fn reselect() -> &'static Reselect {
    static RESELECT: OnceLock<Reselect> = OnceLock::new();
    RESELECT.get_or_init(|| {
        Reselect::new(
            "SELECT operator-card-v1, else SELECT OpenPGP and VERIFY P1=FF",
            end_operation,
        )
    })
}

/// See [`reselect`].
fn end_operation(transport: &mut dyn CardTransport) -> bool {
    let status = |raw: &[u8]| Response::parse(raw).map(|r| r.status).ok();
    // The commands are well-formed by construction; were they not, the card is reset.
    let Ok(v1) = select_command() else {
        return false;
    };
    match transport.transmit(&v1.to_bytes()).map(|r| status(&r)) {
        Ok(Some(StatusWord::Success)) => return true,
        Ok(Some(StatusWord::NotFound)) => {}
        _ => return false,
    }
    let Ok(openpgp) = crate::openpgp::select_command() else {
        return false;
    };
    match transport.transmit(&openpgp.to_bytes()).map(|r| status(&r)) {
        Ok(Some(StatusWord::Success)) => crate::openpgp::clear_security_state(transport).is_ok(),
        _ => false,
    }
}

/// Which application a card answered to, and what cardgate learnt of it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Profile {
    /// cardgate's own application (`operator-card-v1.md`).
    OperatorCardV1,
    /// The OpenPGP card application ([`crate::openpgp`]).
    OpenPgp(OpenPgpApplication),
}

impl Profile {
    /// The profile's name, as logs, `cardgatectl card inspect` and the docs write it.
    pub fn name(&self) -> &'static str {
        match self {
            Profile::OperatorCardV1 => "operator-card-v1",
            Profile::OpenPgp(_) => "openpgp-3.4",
        }
    }
}

fn not_in_profile(command: &'static str, profile: Option<&Profile>) -> CardError {
    CardError::NotInProfile {
        command,
        profile: profile.map_or("not selected", Profile::name),
    }
}

/// The host's view of an operator card behind a transport.
#[derive(Debug)]
pub struct OperatorCard<T> {
    transport: T,
    profile: Option<Profile>,
}

impl<T: CardTransport> OperatorCard<T> {
    /// Wraps a transport. Nothing is known of the card until [`OperatorCard::select`].
    pub fn new(transport: T) -> Self {
        OperatorCard {
            transport,
            profile: None,
        }
    }

    /// The application the card answered to at [`OperatorCard::select`].
    pub fn profile(&self) -> Option<&Profile> {
        self.profile.as_ref()
    }

    /// The transport and the OpenPGP application, for the OpenPGP card's issuance.
    pub fn openpgp_parts(&mut self) -> Option<(&mut T, &OpenPgpApplication)> {
        match &self.profile {
            Some(Profile::OpenPgp(app)) => Some((&mut self.transport, app)),
            _ => None,
        }
    }

    /// SELECTs the card's application: operator-card-v1 first (one APDU on our own card),
    /// then the OpenPGP application, which also clears that card's security state. Returns
    /// the certificate, or `None` for a card not yet personalised.
    pub fn select(&mut self) -> Result<Option<Certificate>, CardError> {
        self.profile = None;
        match self.v1_select() {
            Err(CardError::ApplicationNotFound) => {}
            Ok(cert) => {
                self.profile = Some(Profile::OperatorCardV1);
                return Ok(cert);
            }
            Err(e) => return Err(e),
        }
        match crate::openpgp::select_application(&mut self.transport)? {
            None => Err(CardError::ApplicationNotFound),
            Some(app) => {
                self.profile = Some(Profile::OpenPgp(app));
                crate::openpgp::get_certificate(&mut self.transport)
            }
        }
    }

    /// The certificate, read again (GET DATA `7F21` on both profiles).
    pub fn get_certificate(&mut self) -> Result<Option<Certificate>, CardError> {
        match &self.profile {
            Some(Profile::OpenPgp(_)) => crate::openpgp::get_certificate(&mut self.transport),
            Some(Profile::OperatorCardV1) => self.v1_get_certificate(),
            None => Err(not_in_profile("GET DATA", None)),
        }
    }

    /// VERIFY the operator PIN.
    pub fn verify_pin(&mut self, pin: &Pin) -> Result<Verification, CardError> {
        match &self.profile {
            Some(Profile::OpenPgp(app)) => {
                crate::openpgp::verify_pin(&mut self.transport, app, pin.expose())
            }
            Some(Profile::OperatorCardV1) => self.v1_verify_pin(pin),
            None => Err(not_in_profile("VERIFY", None)),
        }
    }

    /// VERIFY with no data: is the PIN verified in this session? `Wrong` here means "not
    /// verified now", with the tries left.
    pub fn pin_status(&mut self) -> Result<Verification, CardError> {
        match &self.profile {
            Some(Profile::OpenPgp(_)) => {
                crate::openpgp::password_status(&mut self.transport, crate::openpgp::Counter::Pw1)
            }
            Some(Profile::OperatorCardV1) => self.v1_pin_status(),
            None => Err(not_in_profile("VERIFY (status)", None)),
        }
    }

    /// VERIFY the PUK, which opens an operator-card-v1 card's personalisation. An OpenPGP
    /// card has no such step (its PUK is the Reset Code, used only to unblock).
    pub fn verify_puk(&mut self, puk: &Puk) -> Result<Verification, CardError> {
        match &self.profile {
            Some(Profile::OperatorCardV1) => self.v1_verify_puk(puk),
            other => Err(not_in_profile("VERIFY (PUK)", other.as_ref())),
        }
    }

    /// CHANGE REFERENCE DATA of the operator PIN.
    pub fn change_pin(&mut self, old: &Pin, new: &Pin) -> Result<Verification, CardError> {
        match &self.profile {
            Some(Profile::OpenPgp(app)) => {
                crate::openpgp::change_pin(&mut self.transport, app, old.expose(), new.expose())
            }
            Some(Profile::OperatorCardV1) => self.v1_change_pin(old, new),
            None => Err(not_in_profile("CHANGE REFERENCE DATA", None)),
        }
    }

    /// RESET RETRY COUNTER with the PUK (on an OpenPGP card, the Reset Code): unblocks the
    /// PIN and sets a new one. The outcome concerns the PUK.
    pub fn unblock_pin(&mut self, puk: &Puk, new: &Pin) -> Result<Verification, CardError> {
        match &self.profile {
            Some(Profile::OpenPgp(app)) => {
                crate::openpgp::unblock_pin(&mut self.transport, app, puk.expose(), new.expose())
            }
            Some(Profile::OperatorCardV1) => self.v1_unblock_pin(puk, new),
            None => Err(not_in_profile("RESET RETRY COUNTER", None)),
        }
    }

    /// INTERNAL AUTHENTICATE over the contract's challenge; returns `r || s`, checked by
    /// [`Certificate::verify_card_signature`] for both profiles.
    pub fn internal_authenticate(
        &mut self,
        challenge: &[u8; CHALLENGE_LEN],
    ) -> Result<[u8; 64], CardError> {
        match &self.profile {
            Some(Profile::OpenPgp(_)) => {
                crate::openpgp::internal_authenticate(&mut self.transport, challenge)
            }
            Some(Profile::OperatorCardV1) => self.v1_internal_authenticate(challenge),
            None => Err(not_in_profile("INTERNAL AUTHENTICATE", None)),
        }
    }

    /// GENERATE ASYMMETRIC KEY PAIR of an operator-card-v1 card (an OpenPGP card's issuance
    /// is [`crate::openpgp::issue`]).
    pub fn generate_key_pair(&mut self) -> Result<[u8; EC_POINT_LEN], CardError> {
        match &self.profile {
            Some(Profile::OperatorCardV1) => self.v1_generate_key_pair(),
            other => Err(not_in_profile(
                "GENERATE ASYMMETRIC KEY PAIR",
                other.as_ref(),
            )),
        }
    }

    /// PUT DATA `7F21` of an operator-card-v1 card.
    pub fn put_certificate(&mut self, cert: &Certificate) -> Result<(), CardError> {
        match &self.profile {
            Some(Profile::OperatorCardV1) => self.v1_put_certificate(cert),
            other => Err(not_in_profile("PUT DATA", other.as_ref())),
        }
    }

    /// The transport, for callers that need the reader name.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Gives the transport back.
    pub fn into_transport(self) -> T {
        self.transport
    }

    fn run(
        &mut self,
        name: &'static str,
        cmd: Command,
        data: Option<&[u8]>,
        le: Option<u16>,
    ) -> Result<Response, CardError> {
        let cmd = build(name, cmd, data, le)?;
        transceive(&mut self.transport, &cmd, name)
    }

    /// SELECT the application: `00 A4 04 00 0A <AID> 00`. Returns the certificate from the
    /// FCI, or `None` for a card not yet personalised.
    fn v1_select(&mut self) -> Result<Option<Certificate>, CardError> {
        const NAME: &str = "SELECT";
        let r = transceive(&mut self.transport, &select_command()?, NAME)?;
        match r.status {
            StatusWord::Success => {}
            StatusWord::NotFound => return Err(CardError::ApplicationNotFound),
            other => return Err(CardError::unexpected(NAME, other)),
        }
        let bad = |source| CardError::BadResponseData {
            command: NAME,
            source,
        };
        let fci = tlv::parse_exact(r.data(), &[0x6F]).map_err(bad)?;
        let items = match fci.value() {
            iso7816_tlv::ber::Value::Constructed(items) => items,
            iso7816_tlv::ber::Value::Primitive(_) => {
                return Err(bad(TlvError::WrongForm("6F".into())))
            }
        };
        let aid = items.first().ok_or_else(|| {
            bad(TlvError::WrongChildCount {
                tag: "6F".into(),
                count: 0,
                expected: 2,
            })
        })?;
        if tlv::primitive(aid, &[0x84]).map_err(bad)? != AID {
            return Err(CardError::ApplicationNotFound);
        }
        match items.len() {
            1 => Ok(None),
            2 => {
                let raw = items[1].to_vec();
                tlv::expect_tag(&items[1], TAG_CERTIFICATE).map_err(bad)?;
                Certificate::parse(&raw)
                    .map(Some)
                    .map_err(CardError::Certificate)
            }
            count => Err(bad(TlvError::WrongChildCount {
                tag: "6F".into(),
                count,
                expected: 2,
            })),
        }
    }

    /// GET DATA `7F21`: the certificate, or `None` if the card is not personalised (`6A88`).
    fn v1_get_certificate(&mut self) -> Result<Option<Certificate>, CardError> {
        const NAME: &str = "GET DATA";
        let r = self.run(
            NAME,
            Command::new(0x00, ins::GET_DATA, 0x7F, 0x21),
            None,
            Some(256),
        )?;
        match r.status {
            StatusWord::Success => Certificate::parse(r.data())
                .map(Some)
                .map_err(CardError::Certificate),
            StatusWord::DataNotFound => Ok(None),
            other => Err(CardError::unexpected(NAME, other)),
        }
    }

    /// VERIFY the operator PIN: `00 20 00 81 10 <PIN>`.
    fn v1_verify_pin(&mut self, pin: &Pin) -> Result<Verification, CardError> {
        const NAME: &str = "VERIFY";
        let r = self.run(
            NAME,
            Command::new(0x00, ins::VERIFY, 0x00, REF_PIN),
            Some(&pin.to_wire()[..]),
            None,
        )?;
        Verification::from_status(NAME, r.status)
    }

    /// VERIFY with no data: is the PIN verified in this session? `Wrong` here means "not
    /// verified now", with the tries left.
    fn v1_pin_status(&mut self) -> Result<Verification, CardError> {
        const NAME: &str = "VERIFY (status)";
        let r = self.run(
            NAME,
            Command::new(0x00, ins::VERIFY, 0x00, REF_PIN),
            None,
            None,
        )?;
        Verification::from_status(NAME, r.status)
    }

    /// VERIFY the PUK: `00 20 00 82 10 <PUK>`, which opens personalisation.
    fn v1_verify_puk(&mut self, puk: &Puk) -> Result<Verification, CardError> {
        const NAME: &str = "VERIFY (PUK)";
        let r = self.run(
            NAME,
            Command::new(0x00, ins::VERIFY, 0x00, REF_PUK),
            Some(&puk.to_wire()[..]),
            None,
        )?;
        Verification::from_status(NAME, r.status)
    }

    /// CHANGE REFERENCE DATA: `00 24 00 81 20 <old PIN><new PIN>`.
    fn v1_change_pin(&mut self, old: &Pin, new: &Pin) -> Result<Verification, CardError> {
        const NAME: &str = "CHANGE REFERENCE DATA";
        let mut data = Zeroizing::new([0u8; 32]);
        data[..16].copy_from_slice(&old.to_wire()[..]);
        data[16..].copy_from_slice(&new.to_wire()[..]);
        let r = self.run(
            NAME,
            Command::new(0x00, ins::CHANGE_REFERENCE_DATA, 0x00, REF_PIN),
            Some(&data[..]),
            None,
        )?;
        Verification::from_status(NAME, r.status)
    }

    /// RESET RETRY COUNTER: `00 2C 00 81 20 <PUK><new PIN>`. The outcome concerns the PUK.
    fn v1_unblock_pin(&mut self, puk: &Puk, new: &Pin) -> Result<Verification, CardError> {
        const NAME: &str = "RESET RETRY COUNTER";
        let mut data = Zeroizing::new([0u8; 32]);
        data[..16].copy_from_slice(&puk.to_wire()[..]);
        data[16..].copy_from_slice(&new.to_wire()[..]);
        let r = self.run(
            NAME,
            Command::new(0x00, ins::RESET_RETRY_COUNTER, 0x00, REF_PIN),
            Some(&data[..]),
            None,
        )?;
        Verification::from_status(NAME, r.status)
    }

    /// INTERNAL AUTHENTICATE: `00 88 00 00 20 <challenge> 00`; returns `r || s`.
    fn v1_internal_authenticate(
        &mut self,
        challenge: &[u8; CHALLENGE_LEN],
    ) -> Result<[u8; 64], CardError> {
        const NAME: &str = "INTERNAL AUTHENTICATE";
        let r = self.run(
            NAME,
            Command::new(0x00, ins::INTERNAL_AUTHENTICATE, 0, 0),
            Some(challenge),
            Some(256),
        )?;
        if r.status != StatusWord::Success {
            return Err(CardError::unexpected(NAME, r.status));
        }
        r.data().try_into().map_err(|_| CardError::BadResponseData {
            command: NAME,
            source: TlvError::WrongLength {
                tag: "signature".into(),
                len: r.data().len(),
                expected: "64",
            },
        })
    }

    /// GENERATE ASYMMETRIC KEY PAIR: `00 47 80 00 00`; returns the new public point.
    fn v1_generate_key_pair(&mut self) -> Result<[u8; EC_POINT_LEN], CardError> {
        const NAME: &str = "GENERATE ASYMMETRIC KEY PAIR";
        let r = self.run(
            NAME,
            Command::new(0x00, ins::GENERATE_KEY_PAIR, 0x80, 0x00),
            None,
            Some(256),
        )?;
        if r.status != StatusWord::Success {
            return Err(CardError::unexpected(NAME, r.status));
        }
        let bad = |source| CardError::BadResponseData {
            command: NAME,
            source,
        };
        let t = tlv::parse_exact(r.data(), TAG_PUBLIC_KEY).map_err(bad)?;
        let point = tlv::children(&t, 1).map_err(bad)?;
        tlv::fixed::<EC_POINT_LEN>(&point[0], TAG_EC_POINT).map_err(bad)
    }

    /// PUT DATA `7F21`: writes the certificate.
    fn v1_put_certificate(&mut self, cert: &Certificate) -> Result<(), CardError> {
        const NAME: &str = "PUT DATA";
        let r = self.run(
            NAME,
            Command::new(0x00, ins::PUT_DATA, 0x7F, 0x21),
            Some(&cert.encode()),
            None,
        )?;
        if r.status == StatusWord::Success {
            Ok(())
        } else {
            Err(CardError::unexpected(NAME, r.status))
        }
    }
}

/// Does an ATR carry the operator-card mark in its historical bytes?
pub fn atr_is_operator_card(atr: &[u8]) -> bool {
    atr.windows(ATR_MARK.len()).any(|w| w == ATR_MARK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_v1_select_names_the_operator_card_application() {
        assert_eq!(
            &select_command().unwrap().to_bytes()[..],
            [
                0x00, 0xA4, 0x04, 0x00, 0x0A, 0xF0, 0x43, 0x41, 0x52, 0x44, 0x47, 0x41, 0x54, 0x45,
                0x01, 0x00
            ]
        );
    }

    /// A card that answers from a script and records what it was sent.
    struct Scripted {
        answers: std::collections::VecDeque<Vec<u8>>,
        sent: Vec<Vec<u8>>,
    }

    impl CardTransport for Scripted {
        fn transmit(&mut self, command: &[u8]) -> Result<Zeroizing<Vec<u8>>, TransportError> {
            self.sent.push(command.to_vec());
            self.answers
                .pop_front()
                .map(Zeroizing::new)
                .ok_or(TransportError::CardRemoved)
        }

        fn reader_name(&self) -> &str {
            "Scripted 00 00"
        }
    }

    fn ending(answers: &[&[u8]]) -> (bool, Vec<Vec<u8>>) {
        let mut card = Scripted {
            answers: answers.iter().map(|a| a.to_vec()).collect(),
            sent: Vec::new(),
        };
        let cleared = reselect().clear(&mut card);
        (cleared, card.sent)
    }

    #[test]
    fn the_ending_selects_v1_else_clears_every_openpgp_password() {
        let ok: &[u8] = &[0x90, 0x00];
        let (cleared, sent) = ending(&[&[0x6F, 0x00, 0x90, 0x00]]);
        assert!(cleared);
        assert_eq!(sent.len(), 1);
        let (cleared, sent) = ending(&[&[0x6A, 0x82], ok, ok, ok, ok]);
        assert!(cleared);
        assert_eq!(sent[1][..5], [0x00, 0xA4, 0x04, 0x00, 0x06]);
        let clears: Vec<&[u8]> = sent[2..].iter().map(|c| &c[..4]).collect();
        assert_eq!(
            clears,
            [
                &[0x00, 0x20, 0xFF, 0x81][..],
                &[0x00, 0x20, 0xFF, 0x82],
                &[0x00, 0x20, 0xFF, 0x83]
            ]
        );
        // Anything short of every step confirmed has the seam reset the card.
        for answers in [
            &[&[0x6A, 0x82][..], ok, ok, &[0x6A, 0x86]][..],
            &[&[0x6A, 0x82][..], &[0x6A, 0x82]],
            &[&[0x69, 0x85][..]],
            &[&[0x6A, 0x82][..], ok, ok],
            &[],
        ] {
            assert!(!ending(answers).0, "{answers:02X?}");
        }
    }
}
