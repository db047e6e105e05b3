//! An in-process [`CardTransport`] around a [`SoftCard`], with an APDU transcript and fault
//! injection.
//!
//! APDUs are counted **from 0**: the first `transmit` on a transport is APDU 0. Every call
//! counts, including calls made after the card was pulled.

use crate::card::SoftCard;
use cardgate_card::StatusWord;
use cardgate_reader::{CardTransport, TransportError};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use zeroize::Zeroizing;

/// A fault that happened to one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The card had already been pulled: the APDU went nowhere.
    CardAbsent,
    /// The card was pulled just before this APDU: the card never saw it.
    PulledBefore,
    /// The card processed this APDU and was pulled before the response arrived.
    PulledAfter,
    /// The response was corrupted (bytes flipped).
    Corrupted,
    /// The response was cut short.
    Truncated,
    /// The status word was replaced.
    WrongStatus,
}

/// One APDU sent through a [`SimTransport`], and what came of it.
#[derive(Clone)]
pub struct Exchange {
    /// Position on its transport, from 0.
    pub index: usize,
    /// The command bytes (zeroizing: VERIFY carries the PIN).
    pub command: Zeroizing<Vec<u8>>,
    /// What the host received, or `None` if the transmit failed (card pulled or absent).
    pub response: Option<Zeroizing<Vec<u8>>>,
    /// The injected fault, if any.
    pub fault: Option<Fault>,
}

impl Exchange {
    /// The command's INS byte, if the command has one.
    pub fn ins(&self) -> Option<u8> {
        self.command.get(1).copied()
    }

    /// The status word the host received, if it received one.
    pub fn status(&self) -> Option<StatusWord> {
        let r = self.response.as_ref()?;
        match r.len() {
            n if n >= 2 => Some(StatusWord::from_bytes([r[n - 2], r[n - 1]])),
            _ => None,
        }
    }
}

impl fmt::Debug for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The command may hold a PIN or PUK: show its header only.
        let header: String = self
            .command
            .iter()
            .take(4)
            .map(|b| format!("{b:02X}"))
            .collect();
        f.debug_struct("Exchange")
            .field("index", &self.index)
            .field("header", &header)
            .field("command_len", &self.command.len())
            .field("response_len", &self.response.as_ref().map(|r| r.len()))
            .field("status", &self.status())
            .field("fault", &self.fault)
            .finish()
    }
}

/// The APDU log of one or more transports: a cloneable handle to one shared list.
#[derive(Clone, Default, Debug)]
pub struct Transcript {
    exchanges: Arc<Mutex<Vec<Exchange>>>,
}

impl Transcript {
    /// An empty transcript.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Exchange>> {
        // A panic elsewhere while pushing cannot leave the Vec inconsistent.
        self.exchanges.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, exchange: Exchange) {
        self.lock().push(exchange);
    }

    /// A copy of every exchange so far, in order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.lock().clone()
    }

    /// How many APDUs were sent.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True if no APDU was sent.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// The INS byte of every APDU sent, in order.
    pub fn instructions(&self) -> Vec<u8> {
        self.lock().iter().filter_map(Exchange::ins).collect()
    }

    /// Whether any APDU with this INS was sent (e.g. "no VERIFY was sent").
    pub fn contains_ins(&self, ins: u8) -> bool {
        self.lock().iter().any(|e| e.ins() == Some(ins))
    }

    /// Forgets everything recorded so far.
    pub fn clear(&self) {
        self.lock().clear();
    }
}

/// Which faults to inject, by APDU index (from 0). Build with the chained methods:
///
/// ```
/// use cardgate_sim::transport::Faults;
/// use std::time::Duration;
/// let faults = Faults::new().pull_after(2).slow(Duration::from_millis(5));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Faults {
    pull_before: Option<usize>,
    pull_after: Option<usize>,
    corrupt: BTreeSet<usize>,
    truncate: BTreeMap<usize, Option<usize>>,
    wrong_status: BTreeMap<usize, StatusWord>,
    delay: Option<Duration>,
}

impl Faults {
    /// No faults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The card is pulled just before APDU `n`: `transmit` returns
    /// [`TransportError::CardRemoved`] for it and every later APDU, and the card never sees it.
    pub fn pull_before(mut self, n: usize) -> Self {
        self.pull_before = Some(self.pull_before.map_or(n, |m| m.min(n)));
        self
    }

    /// The card processes APDU `n` (its state changes, counters included), then is pulled
    /// before the response arrives: `transmit` returns [`TransportError::CardRemoved`] for it
    /// and every later APDU.
    pub fn pull_after(mut self, n: usize) -> Self {
        self.pull_after = Some(self.pull_after.map_or(n, |m| m.min(n)));
        self
    }

    /// The response to APDU `n` arrives corrupted: every data byte is inverted (`XOR FF`), or,
    /// for a response without data, both status bytes.
    pub fn corrupt_response(mut self, n: usize) -> Self {
        self.corrupt.insert(n);
        self
    }

    /// The response to APDU `n` loses its last byte (half of the status word).
    pub fn truncate_response(mut self, n: usize) -> Self {
        self.truncate.insert(n, None);
        self
    }

    /// The response to APDU `n` keeps only its first `keep` bytes.
    pub fn truncate_response_to(mut self, n: usize, keep: usize) -> Self {
        self.truncate.insert(n, Some(keep));
        self
    }

    /// The response to APDU `n` carries status word `status` instead of the card's own (the
    /// data is kept).
    pub fn wrong_status(mut self, n: usize, status: StatusWord) -> Self {
        self.wrong_status.insert(n, status);
        self
    }

    /// Every APDU takes `per_apdu` longer (the card is slow).
    pub fn slow(mut self, per_apdu: Duration) -> Self {
        self.delay = Some(per_apdu);
        self
    }

    /// Applies the response faults for APDU `n`; returns the last one applied.
    fn damage(&self, n: usize, response: &mut Vec<u8>) -> Option<Fault> {
        let mut fault = None;
        if let Some(status) = self.wrong_status.get(&n) {
            let len = response.len();
            if len >= 2 {
                response[len - 2..].copy_from_slice(&status.to_bytes());
            }
            fault = Some(Fault::WrongStatus);
        }
        if self.corrupt.contains(&n) {
            let data_len = response.len().saturating_sub(2);
            let target = if data_len > 0 {
                &mut response[..data_len]
            } else {
                &mut response[..]
            };
            target.iter_mut().for_each(|b| *b ^= 0xFF);
            fault = Some(Fault::Corrupted);
        }
        if let Some(keep) = self.truncate.get(&n) {
            let keep = keep.unwrap_or(response.len().saturating_sub(1));
            response.truncate(keep);
            fault = Some(Fault::Truncated);
        }
        fault
    }
}

/// The software card in an in-process "reader".
#[derive(Debug)]
pub struct SimTransport {
    card: SoftCard,
    reader_name: String,
    faults: Faults,
    transcript: Transcript,
    sent: usize,
    present: bool,
    atr: Vec<u8>,
}

impl SimTransport {
    /// The reader name unless [`SimTransport::with_reader_name`] sets another.
    pub const DEFAULT_READER_NAME: &'static str = "cardgate-sim";

    /// Inserts the card: powers it on (a fresh session) and keeps its ATR.
    pub fn new(mut card: SoftCard) -> Self {
        let atr = card.power_on();
        SimTransport {
            card,
            reader_name: Self::DEFAULT_READER_NAME.to_owned(),
            faults: Faults::default(),
            transcript: Transcript::default(),
            sent: 0,
            present: true,
            atr,
        }
    }

    /// Sets the reader name that [`CardTransport::reader_name`] reports.
    pub fn with_reader_name(mut self, name: impl Into<String>) -> Self {
        self.reader_name = name.into();
        self
    }

    /// Sets the faults to inject.
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Records into an existing transcript (shared with other transports).
    pub fn with_transcript(mut self, transcript: Transcript) -> Self {
        self.transcript = transcript;
        self
    }

    /// A handle to this transport's transcript.
    pub fn transcript(&self) -> Transcript {
        self.transcript.clone()
    }

    /// The ATR the card gave at insertion.
    pub fn atr(&self) -> &[u8] {
        &self.atr
    }

    /// How many APDUs were sent so far (the index the next one gets).
    pub fn apdus_sent(&self) -> usize {
        self.sent
    }

    /// Whether the card is still in the reader.
    pub fn is_card_present(&self) -> bool {
        self.present
    }

    /// Pulls the card now: its session ends and every later APDU fails with
    /// [`TransportError::CardRemoved`].
    pub fn pull_card(&mut self) {
        if self.present {
            self.present = false;
            self.card.power_off();
        }
    }

    /// The card.
    pub fn card(&self) -> &SoftCard {
        &self.card
    }

    /// The card, mutably (to change its state between APDUs in a test).
    pub fn card_mut(&mut self) -> &mut SoftCard {
        &mut self.card
    }

    /// Takes the card out (powered off), e.g. to insert it into another transport.
    pub fn into_card(mut self) -> SoftCard {
        self.card.power_off();
        self.card
    }

    fn record(&self, index: usize, command: &[u8], response: Option<&[u8]>, fault: Option<Fault>) {
        self.transcript.push(Exchange {
            index,
            command: Zeroizing::new(command.to_vec()),
            response: response.map(|r| Zeroizing::new(r.to_vec())),
            fault,
        });
    }
}

impl CardTransport for SimTransport {
    fn transmit(&mut self, command: &[u8]) -> Result<Zeroizing<Vec<u8>>, TransportError> {
        let index = self.sent;
        self.sent += 1;
        if !self.present {
            self.record(index, command, None, Some(Fault::CardAbsent));
            return Err(TransportError::CardRemoved);
        }
        if self.faults.pull_before == Some(index) {
            self.pull_card();
            self.record(index, command, None, Some(Fault::PulledBefore));
            return Err(TransportError::CardRemoved);
        }
        if let Some(delay) = self.faults.delay {
            std::thread::sleep(delay);
        }
        let mut response = self.card.handle(command);
        if self.faults.pull_after == Some(index) {
            self.pull_card();
            self.record(index, command, None, Some(Fault::PulledAfter));
            return Err(TransportError::CardRemoved);
        }
        let fault = self.faults.damage(index, &mut response);
        self.record(index, command, Some(&response), fault);
        Ok(Zeroizing::new(response))
    }

    fn reader_name(&self) -> &str {
        &self.reader_name
    }
}
