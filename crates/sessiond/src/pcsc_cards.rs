//! [`CardAccess`] over PC/SC: one connection and one transaction per operation.
//!
//! A fresh context per operation costs a few hundred microseconds and makes a pcscd restart
//! invisible to the next login. Every operation ends with a SELECT, which clears the card's
//! security state, so a PIN verified during a login never stays usable by another program on
//! the terminal (and with a reset when that SELECT fails).

use crate::cards::CardAccess;
use cardgate_reader::pcsc::{AfterTransaction, ConnectOptions, PcscContext};
use cardgate_reader::{CardTransport, TransportError};
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// SELECT of the operator-card application, sent at the end of every operation.
const CLEAR_SECURITY_STATE: [u8; 16] = [
    0x00, 0xA4, 0x04, 0x00, 0x0A, 0xF0, 0x43, 0x41, 0x52, 0x44, 0x47, 0x41, 0x54, 0x45, 0x01, 0x00,
];

/// pcsc-lite allows a client 16 contexts (`PCSCLITE_MAX_APPLICATION_CONTEXTS`); the card
/// monitor holds one. Operations beyond this many wait their turn instead of failing.
pub const MAX_CONCURRENT_OPERATIONS: usize = 8;

/// The PC/SC readers of this terminal.
#[derive(Debug, Default)]
pub struct PcscCards {
    options: ConnectOptions,
    in_flight: Mutex<usize>,
    slot_free: Condvar,
    // One operation at a time per reader from this daemon; other programs are kept out by
    // the PC/SC transaction itself.
    per_reader: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl PcscCards {
    /// With the given connection options (operation timeout, protocols).
    pub fn new(options: ConnectOptions) -> Self {
        PcscCards {
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

    fn reader_lock(&self, reader: &str) -> Arc<Mutex<()>> {
        let mut map = self.per_reader.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(reader.to_owned()).or_default().clone()
    }
}

impl CardAccess for PcscCards {
    fn exclusive(
        &self,
        reader: &str,
        operation: &mut dyn FnMut(&mut dyn CardTransport),
    ) -> Result<(), TransportError> {
        let lock = self.reader_lock(reader);
        let _one_at_a_time = lock.lock().unwrap_or_else(|p| p.into_inner());
        let _slot = self.take_slot();
        let context = PcscContext::establish()?;
        let mut card = context.connect(reader, self.options)?;
        let mut transaction = card.begin_transaction()?;
        let mut watched = Watched {
            inner: &mut transaction,
            first_error: None,
        };
        operation(&mut watched);
        if let Some(error) = watched.first_error {
            // The protocol layer turns every kind of card loss into "card removed"; the log
            // keeps what PC/SC actually said, for the administrator.
            tracing::warn!(reader, %error, "card exchange failed");
        }
        // The contract clears the card's security state on any SELECT: a verified PIN does
        // not outlive the operation, and the card is not reset under pcscd's feet (a reset
        // after every login made the next connection fail now and then with a protocol
        // mismatch under load). If the SELECT does not go through, reset the card.
        let cleared = transaction
            .transmit(&CLEAR_SECURITY_STATE)
            .is_ok_and(|r| r.ends_with(&[0x90, 0x00]));
        transaction.end(if cleared {
            AfterTransaction::LeaveCard
        } else {
            AfterTransaction::ResetCard
        })
    }

    fn card_present(&self, reader: &str) -> bool {
        PcscContext::establish()
            .and_then(|c| c.wait_for_card(reader, Duration::ZERO))
            .is_ok()
    }
}

/// One of the [`MAX_CONCURRENT_OPERATIONS`] places, given back on drop.
struct Slot<'a>(&'a PcscCards);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut n = self.0.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        *n = n.saturating_sub(1);
        self.0.slot_free.notify_one();
    }
}

/// A transport that remembers the first error of an operation, for the log.
struct Watched<'a, T: CardTransport> {
    inner: &'a mut T,
    first_error: Option<String>,
}

impl<T: CardTransport> CardTransport for Watched<'_, T> {
    fn transmit(&mut self, command: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, TransportError> {
        let result = self.inner.transmit(command);
        if let (Err(e), None) = (&result, &self.first_error) {
            let mut text = e.to_string();
            let mut cur = std::error::Error::source(e);
            while let Some(s) = cur {
                text.push_str(": ");
                text.push_str(&s.to_string());
                cur = s.source();
            }
            self.first_error = Some(text);
        }
        result
    }

    fn reader_name(&self) -> &str {
        self.inner.reader_name()
    }
}
