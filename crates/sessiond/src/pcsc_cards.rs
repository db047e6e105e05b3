//! The daemon's PC/SC readers: the reader crate's [`PcscReaders`](cardgate_reader::pcsc::PcscReaders), which every operation
//! reaches through [`crate::cards::CardAccess`].
pub use cardgate_reader::pcsc::PcscReaders as PcscCards;
