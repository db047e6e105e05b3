use zeroize::Zeroizing;

/// The largest response, data and status word, that a short APDU can produce.
pub const MAX_RESPONSE_LEN: usize = 258;

/// A connection to the card in one reader.
///
/// Implementations send exactly the bytes given and return exactly the bytes the card
/// answered (data followed by the two status bytes). Status-word handling such as
/// `61xx`/`6Cxx` belongs to the protocol layer, not here. Buffers are [`Zeroizing`] because
/// commands carry PINs and PUKs.
pub trait CardTransport {
    /// Sends one command APDU and returns the card's raw response.
    fn transmit(&mut self, command: &[u8]) -> Result<Zeroizing<Vec<u8>>, TransportError>;

    /// The name of the reader this transport talks to, for logs and audit records.
    fn reader_name(&self) -> &str;
}

impl<T: CardTransport + ?Sized> CardTransport for &mut T {
    fn transmit(&mut self, command: &[u8]) -> Result<Zeroizing<Vec<u8>>, TransportError> {
        (**self).transmit(command)
    }

    fn reader_name(&self) -> &str {
        (**self).reader_name()
    }
}

impl<T: CardTransport + ?Sized> CardTransport for Box<T> {
    fn transmit(&mut self, command: &[u8]) -> Result<Zeroizing<Vec<u8>>, TransportError> {
        (**self).transmit(command)
    }

    fn reader_name(&self) -> &str {
        (**self).reader_name()
    }
}

/// Why a transport could not deliver an APDU or its response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The card left the reader (or lost power) before the exchange completed.
    #[error("the card was removed from the reader")]
    CardRemoved,
    /// There is no card in the reader.
    #[error("no card in the reader")]
    NoCard,
    /// The card was reset by another party since we connected; security state is lost.
    #[error("the card was reset by another program; its security state is lost")]
    CardReset,
    /// The reader is not (or no longer) known to the system.
    #[error("reader {reader:?} is not available")]
    ReaderUnavailable {
        /// The reader that was asked for.
        reader: String,
    },
    /// The smart-card service (pcscd) is not running or went away.
    #[error("the smart-card service is not available")]
    ServiceUnavailable,
    /// The card did not answer in time.
    #[error("the card did not answer within {millis} ms")]
    Timeout {
        /// The limit that expired, in milliseconds.
        millis: u64,
    },
    /// The response does not fit in a short APDU response.
    #[error("the card's response is {len} bytes, over the {MAX_RESPONSE_LEN}-byte limit")]
    ResponseTooLong {
        /// The length received.
        len: usize,
    },
    /// The command is not a well-formed APDU and was not sent.
    #[error("refusing to send a malformed command APDU ({len} bytes)")]
    MalformedCommand {
        /// The length of the refused command.
        len: usize,
    },
    /// A PC/SC call failed in a way none of the variants above describes.
    #[cfg(feature = "pcsc")]
    #[error("PC/SC {operation} failed")]
    Pcsc {
        /// The PC/SC call, e.g. `SCardTransmit`.
        operation: &'static str,
        /// pcsc-lite's error code.
        #[source]
        source: ::pcsc::Error,
    },
    /// Any other backend failure, with the backend's own error kept as the source.
    #[error("reader backend failure")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl TransportError {
    /// True when the error means the card is gone, so that a login must stop and any
    /// session bound to the card must be treated as ended.
    pub fn is_card_gone(&self) -> bool {
        matches!(
            self,
            TransportError::CardRemoved | TransportError::NoCard | TransportError::CardReset
        )
    }
}
