//! How the daemon reaches the card in a terminal's reader.
//!
//! The daemon never talks to a reader directly: it asks a [`CardAccess`] to run one whole
//! operation (a login, a PIN change, an admin check) exclusively on the card in a named
//! reader. Every [`CardReaders`] (the reader crate's one transaction seam: PC/SC in the
//! daemon, the software card in tests) is one, re-selecting the operator-card application
//! ([`cardgate_card::reselect`]) at the end of every operation.

use cardgate_reader::{CardReaders, CardTransport, TransportError};

/// Runs operations on the card in a reader, one at a time per reader, each without any other
/// program's APDUs in between, each ending with the card's security state cleared.
pub trait CardAccess: Send + Sync + 'static {
    /// Runs `operation` on the card in `reader`. Fails without running it when there is no
    /// card, no reader or no smart-card service; fails after running it when the card could
    /// not be put back (the re-select and then the reset failed).
    fn exclusive(
        &self,
        reader: &str,
        operation: &mut dyn FnMut(&mut dyn CardTransport),
    ) -> Result<(), TransportError>;

    /// Is a card present in `reader` right now?
    fn card_present(&self, reader: &str) -> bool;
}

impl<R: CardReaders + Send + Sync + 'static> CardAccess for R {
    fn exclusive(
        &self,
        reader: &str,
        operation: &mut dyn FnMut(&mut dyn CardTransport),
    ) -> Result<(), TransportError> {
        self.transaction(reader, cardgate_card::reselect(), &mut |transport| {
            let mut watched = Watched {
                inner: transport,
                first_error: None,
            };
            operation(&mut watched);
            if let Some(error) = watched.first_error {
                // The protocol layer turns every kind of card loss into "card removed"; the
                // log keeps what the transport actually said, for the administrator.
                tracing::warn!(reader, %error, "card exchange failed");
            }
        })
        // The engine names the reader itself, in its records and logs.
        .map_err(cardgate_reader::ReaderError::into_error)
    }

    fn card_present(&self, reader: &str) -> bool {
        CardReaders::card_present(self, reader)
    }
}

/// A transport that remembers the first error of an operation, for the log.
struct Watched<'a> {
    inner: &'a mut dyn CardTransport,
    first_error: Option<String>,
}

impl CardTransport for Watched<'_> {
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
