//! The PC/SC backend, on pcsc-lite through the `pcsc` crate.
//!
//! * [`PcscReaders`]: the terminal's readers behind the one transaction seam,
//!   [`CardReaders`](crate::CardReaders): a fresh context, connection and PC/SC transaction
//!   per operation, ended with the caller's re-select (a reset when it fails);
//! * [`PcscContext`]: a connection to the smart-card service; lists readers, waits for a card,
//!   connects to it in shared mode;
//! * [`PcscCard`]: a shared-mode connection to the card in one reader;
//! * [`PcscTransaction`]: a PC/SC transaction on that card. While it lives no other program
//!   can send an APDU to the card, so a whole login (SELECT, VERIFY, INTERNAL AUTHENTICATE)
//!   runs inside one. It implements [`CardTransport`](crate::CardTransport), so
//!   `cardgate_card::login::login(&mut transaction, …)` runs inside it.
//!
//! Errors are [`TransportError`](crate::TransportError)s: card removal, absence, reset and
//! service loss get their own variants (so a login reports `CardRemoved`); anything else keeps
//! the `pcsc` error as its source in [`TransportError::Pcsc`](crate::TransportError::Pcsc).

mod card;
mod context;
mod error;
mod readers;

pub use crate::AfterTransaction;
pub use card::{CardProtocol, PcscCard, PcscTransaction};
pub use context::{ConnectOptions, PcscContext};
pub use error::{map_error, Phase};
pub use readers::{PcscReaders, MAX_CONCURRENT_OPERATIONS};
