//! The connection to the smart-card service.

use super::card::{CardProtocol, PcscCard};
use super::error::{map_error, Phase};
use crate::{ReaderName, TransportError};
use ::pcsc::{Context, Protocols, ReaderState, Scope, ShareMode, State};
use std::ffi::CString;
use std::time::Duration;

/// How to connect to a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectOptions {
    /// The protocols we accept; pcsc-lite picks one the card and reader support.
    pub protocols: &'static [CardProtocol],
    /// The longest a transaction (a whole multi-APDU operation) may take. Checked before each
    /// APDU: an operation past its deadline stops with [`TransportError::Timeout`] before
    /// sending anything more. `None`: no limit.
    pub operation_timeout: Option<Duration>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            protocols: &[CardProtocol::T0, CardProtocol::T1],
            operation_timeout: Some(Duration::from_secs(30)),
        }
    }
}

impl ConnectOptions {
    pub(crate) fn pcsc_protocols(&self) -> Protocols {
        self.protocols.iter().fold(Protocols::empty(), |acc, p| {
            acc | match p {
                CardProtocol::T0 => Protocols::T0,
                CardProtocol::T1 => Protocols::T1,
            }
        })
    }
}

/// A context with the smart-card service (`SCardEstablishContext`, system scope).
pub struct PcscContext {
    context: Context,
}

impl std::fmt::Debug for PcscContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PcscContext")
    }
}

/// The longest reader-name list we accept from the service; far above any real system.
const MAX_READER_LIST_BYTES: usize = 64 * 1024;

impl PcscContext {
    /// Connects to the smart-card service.
    pub fn establish() -> Result<Self, TransportError> {
        let context = Context::establish(Scope::System)
            .map_err(|e| map_error("SCardEstablishContext", Phase::Setup, "", e))?;
        Ok(PcscContext { context })
    }

    /// The readers the service knows, in its order. Readers whose names are not UTF-8 are
    /// left out: they could not be named back to the service reliably.
    pub fn list_readers(&self) -> Result<Vec<ReaderName>, TransportError> {
        let len = match self.context.list_readers_len() {
            Ok(len) => len,
            Err(::pcsc::Error::NoReadersAvailable) => return Ok(Vec::new()),
            Err(e) => return Err(map_error("SCardListReaders", Phase::Setup, "", e)),
        };
        if len > MAX_READER_LIST_BYTES {
            return Err(TransportError::Pcsc {
                operation: "SCardListReaders",
                source: ::pcsc::Error::InsufficientBuffer,
            });
        }
        let mut buffer = vec![0u8; len];
        match self.context.list_readers(&mut buffer) {
            Ok(names) => Ok(names
                .filter_map(|name| name.to_str().ok().map(str::to_owned))
                .collect()),
            Err(::pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
            Err(e) => Err(map_error("SCardListReaders", Phase::Setup, "", e)),
        }
    }

    /// Waits until a card is present in `reader` and returns its ATR, or
    /// [`TransportError::Timeout`] after `timeout`. Blocks in `SCardGetStatusChange`.
    pub fn wait_for_card(
        &self,
        reader: &str,
        timeout: Duration,
    ) -> Result<Vec<u8>, TransportError> {
        self.wait_for(reader, timeout, true)
            .map(|atr| atr.unwrap_or_default())
    }

    /// Waits until `reader` has no card, or [`TransportError::Timeout`] after `timeout`.
    pub fn wait_for_no_card(&self, reader: &str, timeout: Duration) -> Result<(), TransportError> {
        self.wait_for(reader, timeout, false).map(drop)
    }

    fn wait_for(
        &self,
        reader: &str,
        timeout: Duration,
        present: bool,
    ) -> Result<Option<Vec<u8>>, TransportError> {
        let name = reader_cstring(reader)?;
        let mut states = [ReaderState::new(name, State::UNAWARE)];
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.context.get_status_change(left, &mut states) {
                Ok(()) => {}
                Err(::pcsc::Error::Timeout) => {
                    return Err(TransportError::Timeout {
                        millis: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                    })
                }
                Err(e) => return Err(map_error("SCardGetStatusChange", Phase::Setup, reader, e)),
            }
            let state = &states[0];
            let event = state.event_state();
            if event.intersects(State::UNKNOWN | State::IGNORE) {
                return Err(TransportError::ReaderUnavailable {
                    reader: reader.to_owned(),
                });
            }
            let has_card = event.contains(State::PRESENT) && !event.contains(State::MUTE);
            if has_card == present {
                return Ok(has_card.then(|| state.atr().to_vec()));
            }
            states[0].sync_current_state();
        }
    }

    /// Connects to the card in `reader` in shared mode, so other programs keep access
    /// between our transactions.
    pub fn connect(
        &self,
        reader: &str,
        options: ConnectOptions,
    ) -> Result<PcscCard, TransportError> {
        let name = reader_cstring(reader)?;
        let card = self
            .context
            .connect(&name, ShareMode::Shared, options.pcsc_protocols())
            .map_err(|e| map_error("SCardConnect", Phase::Setup, reader, e))?;
        PcscCard::new(card, reader.to_owned(), options)
    }

    /// Wakes any `SCardGetStatusChange` blocked on this context (`SCardCancel`).
    pub fn cancel(&self) -> Result<(), TransportError> {
        self.context
            .cancel()
            .map_err(|e| map_error("SCardCancel", Phase::Setup, "", e))
    }

    /// The underlying `pcsc` context, for what this wrapper does not cover.
    pub fn raw(&self) -> &Context {
        &self.context
    }
}

fn reader_cstring(reader: &str) -> Result<CString, TransportError> {
    CString::new(reader).map_err(|_| TransportError::ReaderUnavailable {
        reader: reader.to_owned(),
    })
}
