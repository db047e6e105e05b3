//! [`CardReaders`] over PC/SC: one connection and one transaction per operation, on a
//! context kept for the next operation.
//!
//! Establishing a context is a round trip to pcscd on every login; the contexts are therefore
//! kept (at most one per concurrent operation) and reused. A context that pcscd no longer
//! knows (pcscd restarted) fails at `SCardConnect`, before any APDU: it is thrown away and the
//! operation connects once more on a fresh one, so a pcscd restart stays invisible to the next
//! operation.
//!
//! An operation that ended cleanly (the caller's re-select went through, or the card was reset
//! because it did not) disconnects leaving the card; any other way out resets it.

use super::card::PcscCard;
use super::context::{ConnectOptions, PcscContext};
use crate::{run_operation, CardReaders, CardTransport, ReaderError, Reselect, TransportError};
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// pcsc-lite allows a client 16 contexts (`PCSCLITE_MAX_APPLICATION_CONTEXTS`); the daemon's
/// card monitor holds one. Operations beyond this many wait their turn instead of failing.
pub const MAX_CONCURRENT_OPERATIONS: usize = 8;

/// The PC/SC readers of this machine.
#[derive(Debug, Default)]
pub struct PcscReaders {
    options: ConnectOptions,
    in_flight: Mutex<usize>,
    slot_free: Condvar,
    // One operation at a time per reader from this process; other programs are kept out by
    // the PC/SC transaction itself.
    per_reader: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    // Contexts not in use; never more than MAX_CONCURRENT_OPERATIONS (each operation holds a
    // slot while it holds a context).
    idle_contexts: Mutex<Vec<PcscContext>>,
}

impl PcscReaders {
    /// With the given connection options (operation timeout, protocols).
    pub fn new(options: ConnectOptions) -> Self {
        PcscReaders {
            options,
            in_flight: Mutex::new(0),
            slot_free: Condvar::new(),
            per_reader: Mutex::new(HashMap::new()),
            idle_contexts: Mutex::new(Vec::new()),
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<PcscContext>> {
        self.idle_contexts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connects to the card in `reader` on a kept context, or on a fresh one when none is kept
    /// or the kept one is no longer known to pcscd. Returns the context with the connection,
    /// to be given back once the operation is over.
    fn connect(&self, reader: &str) -> Result<(PcscContext, PcscCard), TransportError> {
        let kept = self.idle().pop();
        if let Some(context) = kept {
            match context.connect(reader, self.options) {
                Ok(card) => return Ok((context, card)),
                // No card, an unknown reader: the context is fine, the answer stands.
                Err(e @ (TransportError::NoCard | TransportError::ReaderUnavailable { .. })) => {
                    self.give_back(context);
                    return Err(e);
                }
                // Anything else may be a context from before a pcscd restart: drop it and
                // try once on a fresh one (nothing was sent to the card yet).
                Err(_) => drop(context),
            }
        }
        let context = PcscContext::establish()?;
        let card = context.connect(reader, self.options)?;
        Ok((context, card))
    }

    fn give_back(&self, context: PcscContext) {
        let mut idle = self.idle();
        if idle.len() < MAX_CONCURRENT_OPERATIONS {
            idle.push(context);
        }
    }

    fn take_slot(&self) -> Slot<'_> {
        let mut n = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        while *n >= MAX_CONCURRENT_OPERATIONS {
            n = self.slot_free.wait(n).unwrap_or_else(|p| p.into_inner());
        }
        *n += 1;
        Slot(self)
    }

    /// One lock per reader name asked for: callers that take names from outside cap their
    /// length first.
    fn reader_lock(&self, reader: &str) -> Arc<Mutex<()>> {
        let mut map = self.per_reader.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(reader.to_owned()).or_default().clone()
    }
}

impl CardReaders for PcscReaders {
    fn transaction(
        &self,
        reader: &str,
        reselect: &Reselect,
        operation: &mut dyn FnMut(&mut dyn CardTransport),
    ) -> Result<(), ReaderError> {
        let lock = self.reader_lock(reader);
        let _one_at_a_time = lock.lock().unwrap_or_else(|p| p.into_inner());
        let _slot = self.take_slot();
        let at = |e| ReaderError::new(reader, e);
        let (context, mut card) = self.connect(reader).map_err(at)?;
        let transaction = card.begin_transaction().map_err(at)?;
        let ended = run_operation(reader, transaction, reselect, operation);
        if ended.is_ok() {
            // The security state is clear (re-selected, or reset): no second reset on the
            // way out. A failed disconnect drops the handle, which resets the card.
            card.leave().map_err(at)?;
        }
        // A context that served a whole operation is good for the next one; after a
        // failure it may be the reason, so it goes.
        if ended.is_ok() {
            self.give_back(context);
        }
        ended
    }

    fn card_present(&self, reader: &str) -> bool {
        PcscContext::establish()
            .and_then(|c| c.wait_for_card(reader, Duration::ZERO))
            .is_ok()
    }
}

/// One of the [`MAX_CONCURRENT_OPERATIONS`] places, given back on drop.
struct Slot<'a>(&'a PcscReaders);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut n = self.0.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        *n = n.saturating_sub(1);
        self.0.slot_free.notify_one();
    }
}
