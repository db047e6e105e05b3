//! [`CardReaders`] over PC/SC: one context, connection and transaction per operation.
//!
//! A fresh context per operation costs a few hundred microseconds and makes a pcscd restart
//! invisible to the next operation.

use super::context::{ConnectOptions, PcscContext};
use crate::{run_operation, CardReaders, CardTransport, ReaderError, Reselect};
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
}

impl PcscReaders {
    /// With the given connection options (operation timeout, protocols).
    pub fn new(options: ConnectOptions) -> Self {
        PcscReaders {
            options,
            in_flight: Mutex::new(0),
            slot_free: Condvar::new(),
            per_reader: Mutex::new(HashMap::new()),
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
        let context = PcscContext::establish().map_err(at)?;
        let mut card = context.connect(reader, self.options).map_err(at)?;
        let transaction = card.begin_transaction().map_err(at)?;
        run_operation(reader, transaction, reselect, operation)
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
