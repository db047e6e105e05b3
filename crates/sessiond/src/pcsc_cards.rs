//! [`CardAccess`] over PC/SC: one connection and one transaction per operation.
//!
//! A fresh context per operation costs a few hundred microseconds and makes a pcscd restart
//! invisible to the next login. Every operation ends by resetting the card, so a PIN verified
//! during a login never stays usable by another program on the terminal.

use crate::cards::CardAccess;
use cardgate_reader::pcsc::{AfterTransaction, ConnectOptions, PcscContext};
use cardgate_reader::{CardTransport, TransportError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The PC/SC readers of this terminal.
#[derive(Debug, Default)]
pub struct PcscCards {
    options: ConnectOptions,
    // One operation at a time per reader from this daemon; other programs are kept out by
    // the PC/SC transaction itself.
    per_reader: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl PcscCards {
    /// With the given connection options (operation timeout, protocols).
    pub fn new(options: ConnectOptions) -> Self {
        PcscCards {
            options,
            per_reader: Mutex::new(HashMap::new()),
        }
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
        let context = PcscContext::establish()?;
        let mut card = context.connect(reader, self.options)?;
        let mut transaction = card.begin_transaction()?;
        operation(&mut transaction);
        transaction.end(AfterTransaction::ResetCard)
    }

    fn card_present(&self, reader: &str) -> bool {
        PcscContext::establish()
            .and_then(|c| c.wait_for_card(reader, Duration::ZERO))
            .is_ok()
    }
}
