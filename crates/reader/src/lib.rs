//! The transport seam of cardgate.
//!
//! Everything above this crate (the operator-card protocol, the daemon, the tools) talks to a
//! card through two seams:
//!
//! * [`CardTransport`]: "send this APDU to the card in this reader, give me its response";
//! * [`CardReaders`]: "run this whole operation exclusively on the card in reader R, then
//!   clear the card's security state as I say" ([`Reselect`], built by the protocol crate),
//!   with a reset when that fails. [`run_operation`] is
//!   that ending, shared by every implementation.
//!
//! Backends implement them: the in-process software card (`cardgate-sim`) and PC/SC over
//! pcsc-lite ([`pcsc`], the default `pcsc` feature; [`pcsc::PcscReaders`]). Card and reader
//! events share one vocabulary, [`CardEvent`], whichever backend produces them; for PC/SC,
//! [`monitor::CardMonitor`] produces them.
#![forbid(unsafe_code)]

mod event;
#[cfg(feature = "pcsc")]
pub mod monitor;
#[cfg(feature = "pcsc")]
pub mod pcsc;
mod transaction;
mod transport;

pub use event::{CardEvent, ReaderName};
pub use transaction::{
    run_operation, AfterTransaction, CardReaders, CardReadersExt, CardTransaction, Ran,
    ReaderError, Reselect,
};
pub use transport::{CardTransport, TransportError, MAX_RESPONSE_LEN};
