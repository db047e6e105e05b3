//! How the daemon reaches the card in a terminal's reader.
//!
//! The daemon never talks to a reader directly: it asks a [`CardAccess`] to run one whole
//! operation (a login, a PIN change) exclusively on the card in a named reader. The PC/SC
//! implementation opens a PC/SC transaction for it; tests plug in the software card.

use cardgate_reader::{CardTransport, TransportError};

/// Runs operations on the card in a reader, one at a time per reader, each without any other
/// program's APDUs in between.
pub trait CardAccess: Send + Sync + 'static {
    /// Runs `operation` on the card in `reader`. Fails without running it when there is no
    /// card, no reader or no smart-card service.
    fn exclusive(
        &self,
        reader: &str,
        operation: &mut dyn FnMut(&mut dyn CardTransport),
    ) -> Result<(), TransportError>;

    /// Is a card present in `reader` right now?
    fn card_present(&self, reader: &str) -> bool;
}
