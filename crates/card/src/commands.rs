//! The host side of the contract: one function per command of
//! `operator-card-v1.md`, and the one send path that all of them use.

use crate::apdu::{ApduBuildError, Command, Response, ResponseParseError, MAX_RESPONSE_DATA};
use crate::cert::{
    CertError, Certificate, EC_POINT_LEN, TAG_CERTIFICATE, TAG_EC_POINT, TAG_PUBLIC_KEY,
};
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
}

impl CardError {
    /// True when the card left the reader.
    pub fn is_card_gone(&self) -> bool {
        matches!(self, CardError::Transport(t) if t.is_card_gone())
    }

    fn unexpected(command: &'static str, status: StatusWord) -> Self {
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
    fn from_status(command: &'static str, status: StatusWord) -> Result<Self, CardError> {
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

fn build(
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
fn select_command() -> Result<Command, CardError> {
    build(
        "SELECT",
        Command::new(0x00, ins::SELECT, 0x04, 0x00),
        Some(&AID),
        Some(256),
    )
}

/// Whether a raw response to the SELECT says the application is selected (`9000`).
fn reselected(response: &[u8]) -> bool {
    Response::parse(response).is_ok_and(|r| r.status == StatusWord::Success)
}

/// The operator-card application, as the value callers of the transaction seam
/// ([`cardgate_reader::CardReaders::transaction`]) pass to have it re-selected at the end
/// of every operation: any SELECT clears the card's security state (operator-card-v1), so a
/// PIN or PUK verified during the operation is not left verified for another program. A
/// card that does not answer `9000` to it is reset by the seam.
pub fn reselect() -> &'static Reselect {
    static RESELECT: OnceLock<Reselect> = OnceLock::new();
    RESELECT.get_or_init(|| {
        // The command is well-formed by construction; were it not, the empty command would
        // be refused by every transport and the seam would reset the card (fail closed).
        let command = select_command()
            .map(|c| c.to_bytes().to_vec())
            .unwrap_or_default();
        Reselect::new(command, reselected)
    })
}

/// The host's view of an operator card behind a transport.
#[derive(Debug)]
pub struct OperatorCard<T> {
    transport: T,
}

impl<T: CardTransport> OperatorCard<T> {
    /// Wraps a transport.
    pub fn new(transport: T) -> Self {
        OperatorCard { transport }
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
    pub fn select(&mut self) -> Result<Option<Certificate>, CardError> {
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
    pub fn get_certificate(&mut self) -> Result<Option<Certificate>, CardError> {
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
    pub fn verify_pin(&mut self, pin: &Pin) -> Result<Verification, CardError> {
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
    pub fn pin_status(&mut self) -> Result<Verification, CardError> {
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
    pub fn verify_puk(&mut self, puk: &Puk) -> Result<Verification, CardError> {
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
    pub fn change_pin(&mut self, old: &Pin, new: &Pin) -> Result<Verification, CardError> {
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
    pub fn unblock_pin(&mut self, puk: &Puk, new: &Pin) -> Result<Verification, CardError> {
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
    pub fn internal_authenticate(
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
    pub fn generate_key_pair(&mut self) -> Result<[u8; EC_POINT_LEN], CardError> {
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
    pub fn put_certificate(&mut self, cert: &Certificate) -> Result<(), CardError> {
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
    fn the_reselect_is_the_select_of_the_operator_card_application() {
        assert_eq!(
            reselect().command(),
            [
                0x00, 0xA4, 0x04, 0x00, 0x0A, 0xF0, 0x43, 0x41, 0x52, 0x44, 0x47, 0x41, 0x54, 0x45,
                0x01, 0x00
            ]
        );
        assert_eq!(reselect().command()[5..15], AID);
    }

    #[test]
    fn only_9000_counts_as_reselected() {
        assert!(reselect().accepts(&[0x6F, 0x00, 0x90, 0x00]));
        assert!(reselect().accepts(&[0x90, 0x00]));
        for refused in [&[0x6A, 0x82][..], &[0x61, 0x10], &[0x90], &[]] {
            assert!(!reselect().accepts(refused), "{refused:02X?}");
        }
    }
}
