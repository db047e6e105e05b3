//! A connected card and the transaction guard that a login runs in.

use super::context::ConnectOptions;
use super::error::{map_error, Phase};
use crate::{AfterTransaction, CardTransaction, CardTransport, TransportError, MAX_RESPONSE_LEN};
use ::pcsc::{Card, Disposition, Protocol, ShareMode, Status, Transaction};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// The longest command a short APDU can be: header, Lc, 255 data bytes, Le.
const MAX_COMMAND_LEN: usize = 4 + 1 + 255 + 1;

/// The transmission protocol in use between reader and card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardProtocol {
    /// T=0, character-oriented (case-4 responses come as `61xx`, which the protocol layer
    /// follows with GET RESPONSE).
    T0,
    /// T=1, block-oriented.
    T1,
}

/// A shared-mode connection to the card in one reader.
pub struct PcscCard {
    /// Always `Some` until dropped (taken to disconnect with the right disposition).
    card: Option<Card>,
    /// Set once an exchange found the card gone: nothing may then reset or power it (a reset
    /// sent to a vpcd slot whose card vanished wedges the slot), and we disconnect leaving it.
    gone: bool,
    reader: String,
    options: ConnectOptions,
    protocol: CardProtocol,
}

impl std::fmt::Debug for PcscCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscCard")
            .field("reader", &self.reader)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

fn protocol_of(card: &Card, reader: &str) -> Result<CardProtocol, TransportError> {
    match card.status2_owned() {
        Ok(status) => match status.protocol2() {
            Some(Protocol::T0) => Ok(CardProtocol::T0),
            Some(Protocol::T1) => Ok(CardProtocol::T1),
            Some(Protocol::RAW) | None => Err(TransportError::Pcsc {
                operation: "SCardStatus",
                source: ::pcsc::Error::ProtoMismatch,
            }),
        },
        Err(e) => Err(map_error("SCardStatus", Phase::CardSession, reader, e)),
    }
}

impl PcscCard {
    pub(crate) fn new(
        mut card: Card,
        reader: String,
        options: ConnectOptions,
    ) -> Result<Self, TransportError> {
        let protocol = match protocol_of(&card, &reader) {
            Ok(p) => p,
            // Right after an insertion pcsc-lite may hand out a connection before it has
            // settled the protocol (SCardStatus says "undefined"): reconnect once, which
            // negotiates it, rather than failing a login that was typed in good faith.
            Err(TransportError::Pcsc {
                source: ::pcsc::Error::ProtoMismatch,
                ..
            }) => {
                card.reconnect(
                    ShareMode::Shared,
                    options.pcsc_protocols(),
                    Disposition::LeaveCard,
                )
                .map_err(|e| map_error("SCardReconnect", Phase::Setup, &reader, e))?;
                protocol_of(&card, &reader)?
            }
            Err(e) => return Err(e),
        };
        Ok(PcscCard {
            card: Some(card),
            gone: false,
            reader,
            options,
            protocol,
        })
    }

    fn card(&self) -> Result<&Card, TransportError> {
        self.card.as_ref().ok_or(TransportError::CardRemoved)
    }

    /// Disconnects leaving the card as it is (`SCardDisconnect`, `SCARD_LEAVE_CARD`), for a
    /// caller that has just cleared the card's security state itself (the transaction seam's
    /// re-select, or its reset when the re-select failed). Dropping the connection instead
    /// resets the card: the fail-closed default for every other way out.
    pub fn leave(mut self) -> Result<(), TransportError> {
        match self.card.take() {
            Some(card) => card.disconnect(Disposition::LeaveCard).map_err(|(_, e)| {
                map_error("SCardDisconnect", Phase::CardSession, &self.reader, e)
            }),
            None => Ok(()),
        }
    }

    /// The protocol pcsc-lite negotiated with the card.
    pub fn protocol(&self) -> CardProtocol {
        self.protocol
    }

    /// The card's answer to reset, as pcsc-lite reports it now.
    pub fn atr(&self) -> Result<Vec<u8>, TransportError> {
        self.card()?
            .status2_owned()
            .map(|s| s.atr().to_vec())
            .map_err(|e| map_error("SCardStatus", Phase::CardSession, &self.reader, e))
    }

    /// Reconnects after a reset by another program (`SCardReconnect`, leaving the card as is).
    /// The card's security state is gone: the caller must SELECT again.
    pub fn reconnect(&mut self) -> Result<(), TransportError> {
        self.reconnect_with(Disposition::LeaveCard)
    }

    /// Warm-resets the card (`SCardReconnect` with `SCARD_RESET_CARD`): its security state
    /// and selected application are gone, for every program that uses it.
    pub fn reset(&mut self) -> Result<(), TransportError> {
        self.reconnect_with(Disposition::ResetCard)
    }

    /// Powers the card off and on again (`SCardReconnect` with `SCARD_UNPOWER_CARD`).
    pub fn power_cycle(&mut self) -> Result<(), TransportError> {
        self.reconnect_with(Disposition::UnpowerCard)
    }

    fn reconnect_with(&mut self, disposition: Disposition) -> Result<(), TransportError> {
        if self.gone {
            return Err(TransportError::CardRemoved);
        }
        let protocols = self.options.pcsc_protocols();
        let card = self.card.as_mut().ok_or(TransportError::CardRemoved)?;
        card.reconnect(ShareMode::Shared, protocols, disposition)
            .map_err(|e| map_error("SCardReconnect", Phase::CardSession, &self.reader, e))?;
        self.protocol = protocol_of(card, &self.reader)?;
        Ok(())
    }

    /// Begins a PC/SC transaction (`SCardBeginTransaction`): until the returned guard ends,
    /// no other program can exchange APDUs with the card (theirs wait).
    ///
    /// If the card was reset since we last used it, this reconnects and begins the
    /// transaction anyway; [`PcscTransaction::card_was_reset`] then says so. Everything that
    /// runs in a transaction starts with SELECT, which re-establishes the application state.
    pub fn begin_transaction(&mut self) -> Result<PcscTransaction<'_>, TransportError> {
        if self.gone {
            return Err(TransportError::CardRemoved);
        }
        let protocols = self.options.pcsc_protocols();
        let reader = self.reader.as_str();
        let gone = &mut self.gone;
        let card = self.card.as_mut().ok_or(TransportError::CardRemoved)?;
        let (transaction, card_was_reset) = match card.transaction2() {
            Ok(tx) => (tx, false),
            Err((card, ::pcsc::Error::ResetCard)) => {
                card.reconnect(ShareMode::Shared, protocols, Disposition::LeaveCard)
                    .map_err(|e| map_error("SCardReconnect", Phase::CardSession, reader, e))?;
                let tx = card.transaction().map_err(|e| {
                    map_error("SCardBeginTransaction", Phase::CardSession, reader, e)
                })?;
                (tx, true)
            }
            Err((_, e)) => {
                return Err(map_error(
                    "SCardBeginTransaction",
                    Phase::CardSession,
                    reader,
                    e,
                ))
            }
        };
        let deadline = self
            .options
            .operation_timeout
            .map(|limit| (Instant::now() + limit, limit));
        Ok(PcscTransaction {
            transaction: Some(transaction),
            gone,
            reader,
            protocols,
            deadline,
            card_was_reset,
        })
    }

    /// The underlying `pcsc` card, for what this wrapper does not cover.
    ///
    /// # Errors
    /// [`TransportError::CardRemoved`] only while the card is being dropped.
    pub fn raw(&self) -> Result<&Card, TransportError> {
        self.card()
    }
}

impl Drop for PcscCard {
    fn drop(&mut self) {
        if let Some(card) = self.card.take() {
            // Reset on the way out (fail closed: no verified PIN left behind), unless the
            // card is gone, where a reset only disturbs the reader.
            let disposition = if self.gone {
                Disposition::LeaveCard
            } else {
                Disposition::ResetCard
            };
            let _ = card.disconnect(disposition);
        }
    }
}

/// Sends one APDU on `card` and maps failures; a reset comes back as
/// [`TransportError::CardReset`] (the caller reconnects). After any other failure it asks pcsc-lite whether the card
/// is still there, so a card pulled mid-exchange reports [`TransportError::CardRemoved`]
/// whatever error code the reader driver chose.
fn exchange(
    card: &Card,
    reader: &str,
    command: &[u8],
) -> Result<Zeroizing<Vec<u8>>, TransportError> {
    if command.len() < 4 || command.len() > MAX_COMMAND_LEN {
        return Err(TransportError::MalformedCommand { len: command.len() });
    }
    let mut buffer = Zeroizing::new(vec![0u8; ::pcsc::MAX_BUFFER_SIZE]);
    match card.transmit(command, &mut buffer) {
        Ok(response) if response.len() > MAX_RESPONSE_LEN => Err(TransportError::ResponseTooLong {
            len: response.len(),
        }),
        // Nothing at all back, not even a status word: the reader lost the card (vpcd reports
        // a card that disconnected mid-exchange so).
        Ok([]) => Err(TransportError::CardRemoved),
        Ok(response) => Ok(Zeroizing::new(response.to_vec())),
        Err(::pcsc::Error::ResetCard) => Err(TransportError::CardReset),
        Err(::pcsc::Error::InsufficientBuffer) => Err(TransportError::ResponseTooLong {
            len: ::pcsc::MAX_BUFFER_SIZE + 1,
        }),
        Err(e) => {
            let mapped = map_error("SCardTransmit", Phase::CardSession, reader, e);
            if mapped.is_card_gone() || card_is_gone(card) {
                return Err(TransportError::CardRemoved);
            }
            Err(mapped)
        }
    }
}

fn card_is_gone(card: &Card) -> bool {
    match card.status2_owned() {
        Ok(status) => {
            let status = status.status();
            status.contains(Status::ABSENT) || !status.contains(Status::PRESENT)
        }
        Err(_) => true,
    }
}

impl CardTransport for PcscCard {
    /// One APDU outside any transaction: fine for a lone command, never for a login.
    fn transmit(&mut self, command: &[u8]) -> Result<Zeroizing<Vec<u8>>, TransportError> {
        if self.gone {
            return Err(TransportError::CardRemoved);
        }
        let result = exchange(self.card()?, &self.reader, command);
        if matches!(result, Err(TransportError::CardRemoved)) {
            self.gone = true;
        }
        if matches!(result, Err(TransportError::CardReset)) {
            // Reconnect now so the caller's next command (a SELECT) reaches the card.
            self.reconnect()?;
        }
        result
    }

    fn reader_name(&self) -> &str {
        &self.reader
    }
}

/// A PC/SC transaction on a card: the guard a multi-APDU operation runs in.
///
/// Ending it explicitly with [`PcscTransaction::end`] chooses what happens to the card.
/// Dropping it without `end` **resets the card** (fail closed): a guard dropped on an error
/// path may be in the middle of a login, with the PIN verified, and no other program may
/// inherit that state.
pub struct PcscTransaction<'card> {
    transaction: Option<Transaction<'card>>,
    gone: &'card mut bool,
    reader: &'card str,
    protocols: ::pcsc::Protocols,
    deadline: Option<(Instant, Duration)>,
    card_was_reset: bool,
}

impl std::fmt::Debug for PcscTransaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscTransaction")
            .field("reader", &self.reader)
            .field("card_was_reset", &self.card_was_reset)
            .finish_non_exhaustive()
    }
}

impl PcscTransaction<'_> {
    /// True if the card had been reset by someone else before this transaction began (we
    /// reconnected; any earlier security state is gone).
    pub fn card_was_reset(&self) -> bool {
        self.card_was_reset
    }

    /// Ends the transaction (`SCardEndTransaction`), leaving or resetting the card.
    pub fn end(mut self, after: AfterTransaction) -> Result<(), TransportError> {
        self.finish(after)
    }

    fn finish(&mut self, after: AfterTransaction) -> Result<(), TransportError> {
        let Some(transaction) = self.transaction.take() else {
            return Ok(());
        };
        let mut transaction = transaction;
        if after == AfterTransaction::ResetCard && !*self.gone {
            // Reset through our own handle while still holding the card: the reset is then
            // not reported back to us as someone else's (SCARD_W_RESET_CARD), as ending the
            // transaction with SCARD_RESET_CARD would be.
            transaction
                .reconnect(ShareMode::Shared, self.protocols, Disposition::ResetCard)
                .map_err(|e| map_error("SCardReconnect", Phase::CardSession, self.reader, e))?;
        }
        // On failure the returned transaction is dropped, which ends it with LeaveCard.
        transaction
            .end(Disposition::LeaveCard)
            .map_err(|(_, e)| map_error("SCardEndTransaction", Phase::CardSession, self.reader, e))
    }
}

impl Drop for PcscTransaction<'_> {
    fn drop(&mut self) {
        // Nothing to report to from a drop; the card is gone or reset either way.
        let _ = self.finish(AfterTransaction::ResetCard);
    }
}

impl CardTransport for PcscTransaction<'_> {
    fn transmit(&mut self, command: &[u8]) -> Result<Zeroizing<Vec<u8>>, TransportError> {
        if let Some((deadline, limit)) = self.deadline {
            if Instant::now() >= deadline {
                return Err(TransportError::Timeout {
                    millis: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
                });
            }
        }
        let protocols = self.protocols;
        let Some(transaction) = self.transaction.as_mut() else {
            return Err(TransportError::CardRemoved);
        };
        if *self.gone {
            return Err(TransportError::CardRemoved);
        }
        let result = exchange(transaction, self.reader, command);
        if matches!(result, Err(TransportError::CardRemoved)) {
            *self.gone = true;
        }
        if matches!(result, Err(TransportError::CardReset)) {
            transaction
                .reconnect(ShareMode::Shared, protocols, Disposition::LeaveCard)
                .map_err(|e| map_error("SCardReconnect", Phase::CardSession, self.reader, e))?;
        }
        result
    }

    fn reader_name(&self) -> &str {
        self.reader
    }
}

impl CardTransaction for PcscTransaction<'_> {
    fn end(self, after: AfterTransaction) -> Result<(), TransportError> {
        PcscTransaction::end(self, after)
    }
}
