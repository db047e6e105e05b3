//! The transport seam of cardgate.
//!
//! Everything above this crate (the operator-card protocol, the daemon, the tools) talks to a
//! card through [`CardTransport`]: "send this APDU to the card in this reader, give me its
//! response". Backends implement it: the in-process software card (`cardgate-sim`) and
//! PC/SC over pcsc-lite ([`pcsc`], the default `pcsc` feature). Card and reader events share
//! one vocabulary, [`CardEvent`], whichever backend produces them; for PC/SC,
//! [`monitor::CardMonitor`] produces them.
#![forbid(unsafe_code)]

mod event;
#[cfg(feature = "pcsc")]
pub mod monitor;
#[cfg(feature = "pcsc")]
pub mod pcsc;
mod transport;

pub use event::{CardEvent, ReaderName};
pub use transport::{CardTransport, TransportError, MAX_RESPONSE_LEN};
