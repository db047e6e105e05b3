//! The one transaction seam: "run this whole operation exclusively on the card in reader R,
//! then put the card back in a state no other program can abuse".
//!
//! In the spirit of openpgp-card's `card-backend` (`CardBackend::transaction(reselect)`), the
//! caller names the application to re-select, as an opaque [`Reselect`] the card-protocol
//! crate builds; this crate never holds an APDU or an application identifier of its own.
//!
//! Unlike `card-backend`, the seam takes the operation as a closure instead of handing out a
//! guard: the end of every operation (the re-select, and the reset when it fails) then runs
//! in exactly one place, and its failure comes back as a value. A guard would leave that to
//! `Drop`, which cannot report a failed reset, and to every caller remembering to end it.

use crate::{CardTransport, TransportError};

/// What to do with the card when a transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterTransaction {
    /// Leave the card as it is (its security state stays).
    LeaveCard,
    /// Reset the card, clearing any verified PIN, so no other program inherits it.
    ResetCard,
}

/// How a [`CardReaders`] implementation clears the card's security state at the end of every
/// operation (a verified PIN or PUK must not outlive the operation that verified it).
///
/// Opaque to this crate: the card-protocol crate builds it from its own commands and its own
/// judgement of the card's answers (`cardgate_card::commands::reselect`). For one card profile
/// a SELECT is enough; for another (the OpenPGP card) a SELECT leaves the state as it was and
/// the card must be told to forget each password. The ending says `true` only when the card
/// confirmed every step; anything else has the seam reset the card.
#[derive(Clone)]
pub struct Reselect {
    name: &'static str,
    clear: fn(&mut dyn CardTransport) -> bool,
}

impl Reselect {
    /// `clear` runs on the card at the end of every operation and says whether the card
    /// confirmed that its security state is gone; `name` says what it does, for logs.
    pub fn new(name: &'static str, clear: fn(&mut dyn CardTransport) -> bool) -> Self {
        Reselect { name, clear }
    }

    /// What the ending does, for logs.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Runs the ending on `transport`: whether the card confirmed its security state is gone.
    pub fn clear(&self, transport: &mut dyn CardTransport) -> bool {
        (self.clear)(transport)
    }
}

impl std::fmt::Debug for Reselect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reselect")
            .field("name", &self.name)
            .finish()
    }
}

/// A transport failure at a named reader: what [`CardReaders::transaction`] reports.
#[derive(Debug, thiserror::Error)]
#[error("reader {reader:?}")]
pub struct ReaderError {
    reader: String,
    #[source]
    error: TransportError,
}

impl ReaderError {
    /// `error`, at `reader`.
    pub fn new(reader: &str, error: TransportError) -> Self {
        ReaderError {
            reader: reader.to_owned(),
            error,
        }
    }

    /// The reader.
    pub fn reader(&self) -> &str {
        &self.reader
    }

    /// What went wrong there.
    pub fn error(&self) -> &TransportError {
        &self.error
    }

    /// What went wrong, without the reader (for callers that name it themselves).
    pub fn into_error(self) -> TransportError {
        self.error
    }

    /// See [`TransportError::is_card_gone`].
    pub fn is_card_gone(&self) -> bool {
        self.error.is_card_gone()
    }
}

/// A backend's open transaction on one card, as [`run_operation`] drives it: a transport that
/// can be ended, leaving or resetting the card.
///
/// Dropping one without [`CardTransaction::end`] must reset the card (fail closed), as
/// [`PcscTransaction`](crate::pcsc::PcscTransaction) does: an operation that panics leaves
/// no verified PIN behind either.
pub trait CardTransaction: CardTransport + Sized {
    /// Ends the transaction; with [`AfterTransaction::ResetCard`], the card's security
    /// state is gone for every program before any other program's APDU reaches it.
    fn end(self, after: AfterTransaction) -> Result<(), TransportError>;
}

/// The readers of a terminal, each running one whole operation at a time on its card.
///
/// The contract every implementation keeps (the PC/SC one,
/// [`PcscReaders`](crate::pcsc::PcscReaders), and the tests' software cards):
///
/// * operations on one reader run one at a time, and no other program's APDU reaches the
///   card during one (for PC/SC: one `SCardBeginTransaction` around the whole operation);
/// * after the operation, whatever it did or however it failed, the `reselect` ending runs,
///   which clears the card's security state; when that fails (no answer, or an answer the
///   ending does not accept: [`Reselect::clear`] says `false`) the card is reset. [`run_operation`] is that ending,
///   shared by the implementations;
/// * errors name the reader ([`ReaderError`]).
pub trait CardReaders {
    /// Runs `operation` on the card in `reader`, then re-selects (see the trait).
    ///
    /// # Errors
    /// When there is no card, no such reader or no smart-card service, `operation` does not
    /// run. When it ran, an error means its ending failed (the card reset failed, or the
    /// transaction could not be ended): what the operation did on the card stands, and
    /// what it learnt is whatever it kept.
    fn transaction(
        &self,
        reader: &str,
        reselect: &Reselect,
        operation: &mut dyn FnMut(&mut dyn CardTransport),
    ) -> Result<(), ReaderError>;

    /// Whether a card is in `reader` now.
    fn card_present(&self, reader: &str) -> bool;
}

/// What came of an operation that [`CardReadersExt::run`] ran.
#[derive(Debug)]
#[must_use]
pub struct Ran<R> {
    /// What the operation returned, kept whatever happened after it.
    pub value: R,
    /// How its ending (re-select, reset) went.
    pub end: Result<(), ReaderError>,
}

/// [`CardReaders::transaction`] for an operation that returns a value.
pub trait CardReadersExt: CardReaders {
    /// Runs `operation` as [`CardReaders::transaction`] does and returns its value with the
    /// ending's outcome.
    ///
    /// # Errors
    /// The [`ReaderError`] when the operation could not run at all.
    fn run<R>(
        &self,
        reader: &str,
        reselect: &Reselect,
        operation: impl FnOnce(&mut dyn CardTransport) -> R,
    ) -> Result<Ran<R>, ReaderError> {
        let mut operation = Some(operation);
        let mut value = None;
        let end = self.transaction(reader, reselect, &mut |transport| {
            if let Some(operation) = operation.take() {
                value = Some(operation(transport));
            }
        });
        match (value, end) {
            (Some(value), end) => Ok(Ran { value, end }),
            (None, Err(e)) => Err(e),
            (None, Ok(())) => Err(ReaderError::new(
                reader,
                TransportError::Backend("the reader backend did not run the operation".into()),
            )),
        }
    }
}

impl<T: CardReaders + ?Sized> CardReadersExt for T {}

/// Runs `operation` in `transaction`, then ends it as the [`CardReaders`] contract says:
/// `reselect` is sent, and the card is reset when that does not go through.
///
/// The operation gets the transaction only as a [`CardTransport`], so it cannot end it early
/// or skip the re-select.
///
/// # Errors
/// The ending's failure, at `reader`.
pub fn run_operation<T: CardTransaction>(
    reader: &str,
    mut transaction: T,
    reselect: &Reselect,
    operation: &mut dyn FnMut(&mut dyn CardTransport),
) -> Result<(), ReaderError> {
    operation(&mut transaction);
    // The card protocol's ending clears the security state: a PIN verified during the
    // operation does not outlive it, and the card is not reset under pcscd's feet after
    // every login (which made the next connection fail now and then with a protocol
    // mismatch under load). A card that did not confirm it is reset instead.
    let cleared = reselect.clear(&mut transaction);
    transaction
        .end(if cleared {
            AfterTransaction::LeaveCard
        } else {
            AfterTransaction::ResetCard
        })
        .map_err(|e| ReaderError::new(reader, e))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use zeroize::Zeroizing;

    const READER: &str = "Scripted Reader 00 00";
    const SELECT: &[u8] = &[0x00, 0xA4, 0x04, 0x00, 0x01, 0xAA, 0x00];
    const OK: &[u8] = &[0x90, 0x00];

    fn reselect() -> Reselect {
        Reselect::new("scripted SELECT", |t| {
            t.transmit(SELECT).is_ok_and(|r| r.as_slice() == OK)
        })
    }

    /// What a scripted card saw, shared between the transaction and the test.
    #[derive(Default)]
    struct Log {
        sent: Vec<Vec<u8>>,
        ended: Vec<AfterTransaction>,
    }

    /// A transaction whose card answers from a script, in order.
    struct Scripted<'a> {
        answers: VecDeque<Result<Vec<u8>, TransportError>>,
        end_fails_with: Option<TransportError>,
        log: &'a RefCell<Log>,
    }

    impl CardTransport for Scripted<'_> {
        fn transmit(&mut self, command: &[u8]) -> Result<Zeroizing<Vec<u8>>, TransportError> {
            self.log.borrow_mut().sent.push(command.to_vec());
            match self.answers.pop_front() {
                Some(answer) => answer.map(Zeroizing::new),
                None => panic!("the script has no answer for {command:02X?}"),
            }
        }

        fn reader_name(&self) -> &str {
            READER
        }
    }

    impl CardTransaction for Scripted<'_> {
        fn end(self, after: AfterTransaction) -> Result<(), TransportError> {
            self.log.borrow_mut().ended.push(after);
            match self.end_fails_with {
                Some(e) => Err(e),
                None => Ok(()),
            }
        }
    }

    fn script(
        log: &RefCell<Log>,
        answers: Vec<Result<Vec<u8>, TransportError>>,
        end_fails_with: Option<TransportError>,
    ) -> Scripted<'_> {
        Scripted {
            answers: answers.into(),
            end_fails_with,
            log,
        }
    }

    /// Readers with one scripted card each time, or none.
    struct ScriptedReaders<'a> {
        card: RefCell<Option<Scripted<'a>>>,
    }

    impl CardReaders for ScriptedReaders<'_> {
        fn transaction(
            &self,
            reader: &str,
            reselect: &Reselect,
            operation: &mut dyn FnMut(&mut dyn CardTransport),
        ) -> Result<(), ReaderError> {
            let card = self.card.borrow_mut().take();
            let card = card.ok_or_else(|| ReaderError::new(reader, TransportError::NoCard))?;
            run_operation(reader, card, reselect, operation)
        }

        fn card_present(&self, _: &str) -> bool {
            self.card.borrow().is_some()
        }
    }

    #[test]
    fn the_reselect_is_sent_after_the_operation_and_the_card_is_left() {
        let log = RefCell::default();
        let tx = script(
            &log,
            vec![Ok(vec![0x01, 0x90, 0x00]), Ok(OK.to_vec())],
            None,
        );
        run_operation(READER, tx, &reselect(), &mut |t| {
            assert_eq!(t.transmit(&[0x00, 0xCA, 0x00, 0x00]).unwrap()[0], 0x01);
        })
        .unwrap();
        let log = log.into_inner();
        assert_eq!(
            log.sent,
            vec![vec![0x00, 0xCA, 0x00, 0x00], SELECT.to_vec()]
        );
        assert_eq!(log.ended, vec![AfterTransaction::LeaveCard]);
    }

    #[test]
    fn an_operation_that_sends_nothing_still_ends_with_the_reselect() {
        let log = RefCell::default();
        let tx = script(&log, vec![Ok(OK.to_vec())], None);
        run_operation(READER, tx, &reselect(), &mut |_| {}).unwrap();
        let log = log.into_inner();
        assert_eq!(log.sent, vec![SELECT.to_vec()]);
        assert_eq!(log.ended, vec![AfterTransaction::LeaveCard]);
    }

    #[test]
    fn a_reselect_the_card_refuses_resets_the_card() {
        let log = RefCell::default();
        let tx = script(&log, vec![Ok(vec![0x6A, 0x82])], None);
        run_operation(READER, tx, &reselect(), &mut |_| {}).unwrap();
        assert_eq!(log.into_inner().ended, vec![AfterTransaction::ResetCard]);
    }

    #[test]
    fn a_reselect_that_gets_no_answer_resets_the_card() {
        for failure in [
            TransportError::CardReset,
            TransportError::Timeout { millis: 30_000 },
            TransportError::ServiceUnavailable,
        ] {
            let log = RefCell::default();
            let tx = script(&log, vec![Err(failure)], None);
            run_operation(READER, tx, &reselect(), &mut |_| {}).unwrap();
            let log = log.into_inner();
            assert_eq!(log.sent, vec![SELECT.to_vec()]);
            assert_eq!(log.ended, vec![AfterTransaction::ResetCard]);
        }
    }

    #[test]
    fn a_failed_operation_is_followed_by_the_reselect_too() {
        let log = RefCell::default();
        let tx = script(
            &log,
            vec![Err(TransportError::CardReset), Ok(OK.to_vec())],
            None,
        );
        run_operation(READER, tx, &reselect(), &mut |t| {
            assert!(t.transmit(&[0x00, 0x20, 0x00, 0x81]).is_err());
        })
        .unwrap();
        let log = log.into_inner();
        assert_eq!(log.sent.last().unwrap(), SELECT);
        assert_eq!(log.ended, vec![AfterTransaction::LeaveCard]);
    }

    #[test]
    fn a_failed_ending_names_the_reader() {
        let log = RefCell::default();
        let tx = script(
            &log,
            vec![Err(TransportError::CardRemoved)],
            Some(TransportError::CardRemoved),
        );
        let e = run_operation(READER, tx, &reselect(), &mut |_| {}).unwrap_err();
        assert_eq!(e.reader(), READER);
        assert!(e.is_card_gone());
        assert!(e.to_string().contains(READER), "{e}");
        let source = std::error::Error::source(&e).unwrap().to_string();
        assert_eq!(source, TransportError::CardRemoved.to_string());
        assert_eq!(log.into_inner().ended, vec![AfterTransaction::ResetCard]);
    }

    #[test]
    fn the_operations_result_is_kept_when_its_ending_fails() {
        let log = RefCell::default();
        let readers = ScriptedReaders {
            card: RefCell::new(Some(script(
                &log,
                vec![
                    Err(TransportError::CardRemoved),
                    Err(TransportError::CardRemoved),
                ],
                Some(TransportError::ServiceUnavailable),
            ))),
        };
        let ran = readers
            .run(READER, &reselect(), |t| {
                t.transmit(&[0x00, 0x88, 0x00, 0x00])
            })
            .unwrap();
        assert!(matches!(ran.value, Err(TransportError::CardRemoved)));
        let end = ran.end.unwrap_err();
        assert_eq!(end.reader(), READER);
        assert!(matches!(end.error(), TransportError::ServiceUnavailable));
        let log = log.into_inner();
        assert_eq!(log.sent.last().unwrap(), SELECT);
        assert_eq!(log.ended, vec![AfterTransaction::ResetCard]);
    }

    #[test]
    fn without_a_card_the_operation_does_not_run_and_the_error_names_the_reader() {
        let readers = ScriptedReaders {
            card: RefCell::new(None),
        };
        let mut ran = false;
        let e = readers
            .run(READER, &reselect(), |_| ran = true)
            .unwrap_err();
        assert!(!ran);
        assert_eq!(e.reader(), READER);
        assert!(matches!(e.error(), TransportError::NoCard));
        assert!(!readers.card_present(READER));
    }

    #[test]
    fn a_reselect_shows_what_it_does_in_debug() {
        assert_eq!(
            format!("{:?}", reselect()),
            r#"Reselect { name: "scripted SELECT" }"#
        );
    }
}
