//! `cardgate-sim`: the software operator card.
//!
//! It implements the card contract `operator-card-v1` byte for byte, so that every test of
//! cardgate can run without hardware, in process or behind a real `pcscd`.
//!
//! * [`card`]: [`SoftCard`], the card's state machine (one method per command);
//! * [`image`]: [`CardImage`], the card's persistent state and its atomically written file;
//! * [`transport`]: [`SimTransport`], an in-process `CardTransport` with an APDU
//!   [`transport::Transcript`] and fault injection;
//! * [`transcript`]: the declarative conformance transcripts (`tests/transcripts/*.txt`) and
//!   their runner, usable against any card;
//! * [`vpcd`]: the card as a virtual card for vsmartcard's `vpcd` reader driver;
//! * [`create_card`]: personalises a blank software card through the real issuance flow.
#![forbid(unsafe_code)]

pub mod card;
pub mod image;
pub mod transcript;
pub mod transport;
pub mod vpcd;

pub use card::{SoftCard, ATR};
pub use image::{CardImage, ImageError};
pub use transport::{Faults, SimTransport};

use cardgate_card::issue::{issue_card, IssueError, IssueRequest};
use cardgate_card::{IssuerKey, OperatorCard, Pin, Puk};

/// Why a software card could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreateCardError {
    /// The issuance flow failed against the fresh card.
    #[error("issuing the software card failed")]
    Issue(#[from] IssueError),
}

/// Makes a blank card with transport PUK `puk` and personalises it exactly as a physical card
/// would be: `cardgate_card::issue::issue_card` runs against it through a [`SimTransport`], so
/// the card key is generated inside the card and the PIN set with RESET RETRY COUNTER.
pub fn create_card(
    issuer: &IssuerKey,
    puk: &Puk,
    pin: &Pin,
    request: &IssueRequest,
) -> Result<CardImage, CreateCardError> {
    let card = SoftCard::in_memory(CardImage::blank(puk));
    let mut host = OperatorCard::new(SimTransport::new(card));
    issue_card(&mut host, issuer, puk, request, pin)?;
    Ok(host.into_transport().into_card().into_image())
}
