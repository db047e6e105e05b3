//! pcsc-lite's error codes, mapped onto the transport vocabulary.

use crate::TransportError;
use ::pcsc::Error;

/// What we were doing when pcsc-lite failed: a vanished reader means "card removed" in the
/// middle of a card session, but "no such reader" when connecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Establishing the context, listing readers, waiting, connecting.
    Setup,
    /// Exchanging APDUs with a connected card, or beginning/ending a transaction.
    CardSession,
}

/// Maps a pcsc-lite error to a [`TransportError`].
///
/// `reader` names the reader concerned, for [`TransportError::ReaderUnavailable`].
pub fn map_error(
    operation: &'static str,
    phase: Phase,
    reader: &str,
    error: Error,
) -> TransportError {
    match error {
        Error::RemovedCard => TransportError::CardRemoved,
        Error::NoSmartcard => match phase {
            Phase::Setup => TransportError::NoCard,
            Phase::CardSession => TransportError::CardRemoved,
        },
        Error::ResetCard => TransportError::CardReset,
        // The reader could no longer exchange with the card. Mid-session that is a card
        // pulled before pcscd's presence poll noticed (vpcd answers a closed socket so); for
        // the login it is the same thing: stop, authenticate nobody.
        Error::NotTransacted
        | Error::UnresponsiveCard
        | Error::UnpoweredCard
        | Error::CommError
            if phase == Phase::CardSession =>
        {
            TransportError::CardRemoved
        }
        Error::UnknownReader | Error::ReaderUnavailable => match phase {
            Phase::Setup => TransportError::ReaderUnavailable {
                reader: reader.to_owned(),
            },
            Phase::CardSession => TransportError::CardRemoved,
        },
        Error::NoService | Error::ServiceStopped | Error::NoReadersAvailable
            if phase == Phase::Setup =>
        {
            TransportError::ServiceUnavailable
        }
        Error::NoService | Error::ServiceStopped => TransportError::ServiceUnavailable,
        source => TransportError::Pcsc { operation, source },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_and_reset_get_their_own_variants() {
        let session = |e| map_error("SCardTransmit", Phase::CardSession, "r", e);
        assert!(matches!(
            session(Error::RemovedCard),
            TransportError::CardRemoved
        ));
        assert!(matches!(
            session(Error::NoSmartcard),
            TransportError::CardRemoved
        ));
        assert!(matches!(
            session(Error::ReaderUnavailable),
            TransportError::CardRemoved
        ));
        assert!(matches!(
            session(Error::ResetCard),
            TransportError::CardReset
        ));
        assert!(matches!(
            session(Error::NoService),
            TransportError::ServiceUnavailable
        ));
        // The reader lost the card mid-exchange before pcscd noticed the removal.
        assert!(matches!(
            session(Error::NotTransacted),
            TransportError::CardRemoved
        ));
        assert!(matches!(
            session(Error::CommError),
            TransportError::CardRemoved
        ));
        let setup = |e| map_error("SCardConnect", Phase::Setup, "r", e);
        assert!(matches!(
            setup(Error::CommError),
            TransportError::Pcsc { .. }
        ));
        assert!(matches!(setup(Error::NoSmartcard), TransportError::NoCard));
        assert!(matches!(
            setup(Error::UnknownReader),
            TransportError::ReaderUnavailable { reader } if reader == "r"
        ));
    }

    #[test]
    fn other_errors_keep_the_pcsc_error_as_source() {
        let e = map_error(
            "SCardTransmit",
            Phase::CardSession,
            "r",
            Error::InvalidParameter,
        );
        let source = std::error::Error::source(&e).map(|s| s.to_string());
        assert!(matches!(
            e,
            TransportError::Pcsc {
                operation: "SCardTransmit",
                source: Error::InvalidParameter
            }
        ));
        assert!(source.is_some());
    }
}
