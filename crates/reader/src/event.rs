/// The name of a reader, as the backend reports it (PC/SC reader names are free text).
pub type ReaderName = String;

/// Something that happened to a reader or to the card in it.
///
/// Every backend produces these, so the daemon's reaction to a card pulled out (lock the
/// session) is the same whether the card is a software card or a physical one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CardEvent {
    /// A card was inserted (or was found present when monitoring started).
    CardInserted {
        /// Where.
        reader: ReaderName,
        /// The card's answer to reset.
        atr: Vec<u8>,
    },
    /// The card left the reader.
    CardRemoved {
        /// Where.
        reader: ReaderName,
    },
    /// A reader appeared.
    ReaderAttached {
        /// Which.
        reader: ReaderName,
    },
    /// A reader went away; any card in it is gone too.
    ReaderDetached {
        /// Which.
        reader: ReaderName,
    },
    /// The smart-card service went away. Until [`CardEvent::ServiceRestored`], no card state
    /// can be trusted, so consumers must treat every card as removed (fail closed).
    ServiceLost,
    /// The smart-card service is back; the events that follow re-sync the state.
    ServiceRestored,
}

impl CardEvent {
    /// The reader the event concerns, if it concerns one.
    pub fn reader(&self) -> Option<&str> {
        match self {
            CardEvent::CardInserted { reader, .. }
            | CardEvent::CardRemoved { reader }
            | CardEvent::ReaderAttached { reader }
            | CardEvent::ReaderDetached { reader } => Some(reader),
            CardEvent::ServiceLost | CardEvent::ServiceRestored => None,
        }
    }
}
