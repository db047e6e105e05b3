//! The card-event monitor: a dedicated thread blocked in `SCardGetStatusChange` on every
//! reader plus the PnP notification pseudo-reader, turning what pcsc-lite reports into
//! [`CardEvent`]s on a channel.
//!
//! * It never polls: each wait has no timeout and ends only when something changes, when the
//!   service goes away, or when [`CardMonitor::stop`] cancels it (`SCardCancel`).
//! * When the service stops (`SCARD_E_NO_SERVICE`, `SCARD_E_SERVICE_STOPPED`), it reports
//!   [`CardEvent::ServiceLost`], re-establishes its context with exponential back-off, then
//!   reports [`CardEvent::ServiceRestored`] followed by what changed in the meantime: readers
//!   gone ([`CardEvent::ReaderDetached`]), cards gone ([`CardEvent::CardRemoved`]), new
//!   readers, and every card present (re-announced with [`CardEvent::CardInserted`], because
//!   nobody watched the reader while the service was down, so it may be another card). A card
//!   still present is not first reported removed: [`CardEvent::ServiceLost`] already told the
//!   consumer that no card could be trusted, and a removal it did not see is not a removal. A
//!   card that was there before and is not yet seen again is given [`RESTORE_SETTLE`] to show
//!   (a new pcscd lists its readers before it has read their cards) before it is reported
//!   removed.
//! * A pcscd that stops cleanly first removes its readers (clients see the reader list empty)
//!   and only then closes its socket. A reader list that empties is therefore looked at again
//!   for [`SERVICE_PROBE`] before its readers are reported gone: if the service goes away in
//!   that time, that is a [`CardEvent::ServiceLost`], not a card removal on every reader.
//! * At start it reports the readers and cards already present, as attach/insert events.

use crate::{CardEvent, ReaderName, TransportError};
use ::pcsc::{Context, Error, ReaderState, Scope, State};
use std::collections::BTreeMap;
use std::ffi::CString;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How the monitor retries when the service is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorOptions {
    /// The first wait before re-establishing the context.
    pub initial_backoff: Duration,
    /// The longest wait between attempts (the wait doubles up to this).
    pub max_backoff: Duration,
}

impl Default for MonitorOptions {
    fn default() -> Self {
        MonitorOptions {
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// A running monitor. Stops (and joins its thread) on [`CardMonitor::stop`] or drop.
pub struct CardMonitor {
    control: Arc<Control>,
    thread: Option<JoinHandle<()>>,
    running: MonitorAlive,
}

/// Whether a monitor's thread still runs, for a watchdog that must not ping for a daemon
/// that no longer sees card events. Cheap to clone and to ask.
#[derive(Debug, Clone)]
pub struct MonitorAlive(Arc<std::sync::atomic::AtomicBool>);

impl MonitorAlive {
    /// True until the monitor's thread has returned (stopped, or its receiver gone).
    pub fn is_running(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Clears the flag when the thread returns, however it returns (a panic included).
struct ClearOnDrop(MonitorAlive);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        (self.0)
            .0
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

impl std::fmt::Debug for CardMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardMonitor").finish_non_exhaustive()
    }
}

/// Shared between the monitor thread and its owner.
#[derive(Default)]
struct Control {
    inner: Mutex<ControlState>,
    wake: Condvar,
}

#[derive(Default)]
struct ControlState {
    stopped: bool,
    /// The context the thread currently waits on, so `stop` can cancel that wait.
    context: Option<Context>,
}

impl Control {
    fn lock(&self) -> MutexGuard<'_, ControlState> {
        // A poisoned lock only means a panic elsewhere; the flag and context stay usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn is_stopped(&self) -> bool {
        self.lock().stopped
    }

    /// Publishes the context the thread is about to wait on; false if stopping.
    fn publish(&self, context: Option<Context>) -> bool {
        let mut state = self.lock();
        state.context = context;
        !state.stopped
    }

    /// Sleeps for `pause` unless stopped first; true if stopped.
    fn sleep(&self, pause: Duration) -> bool {
        let state = self.lock();
        let (state, _) = self
            .wake
            .wait_timeout_while(state, pause, |s| !s.stopped)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.stopped
    }
}

impl CardMonitor {
    /// Starts the monitor thread; events arrive on the returned receiver. Starting does not
    /// need the service to be up: if it is not, the first event is [`CardEvent::ServiceLost`].
    pub fn start(
        options: MonitorOptions,
    ) -> Result<(CardMonitor, Receiver<CardEvent>), TransportError> {
        let (sender, receiver) = mpsc::channel();
        let control = Arc::new(Control::default());
        let thread_control = Arc::clone(&control);
        let running = MonitorAlive(Arc::new(std::sync::atomic::AtomicBool::new(true)));
        let guard = ClearOnDrop(running.clone());
        let thread = std::thread::Builder::new()
            .name("cardgate-card-monitor".into())
            .spawn(move || {
                let _clear_when_done = guard;
                run(&thread_control, &sender, options)
            })
            .map_err(|e| TransportError::Backend(Box::new(e)))?;
        Ok((
            CardMonitor {
                control,
                thread: Some(thread),
                running,
            },
            receiver,
        ))
    }

    /// A handle that tells whether the monitor's thread still runs.
    pub fn alive_flag(&self) -> MonitorAlive {
        self.running.clone()
    }

    /// Stops the thread and waits for it to end.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        {
            let mut state = self.control.lock();
            state.stopped = true;
        }
        self.control.wake.notify_all();
        // SCardCancel only interrupts a wait in progress; if the thread was between two
        // waits the cancel is lost, so repeat it until the thread has seen the flag.
        while !thread.is_finished() {
            if let Some(context) = self.control.lock().context.as_ref() {
                let _ = context.cancel();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = thread.join();
    }
}

impl Drop for CardMonitor {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// What the monitor believes about one reader.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ReaderView {
    /// The ATR of the card present, if any.
    card: Option<Vec<u8>>,
    /// pcsc-lite's per-reader event counter (insertions and removals).
    events: u32,
}

/// Why a session on one context ended.
enum SessionEnd {
    Stopped,
    ServiceLost,
    ReceiverGone,
}

fn run(control: &Control, events: &Sender<CardEvent>, options: MonitorOptions) {
    let mut known: BTreeMap<ReaderName, ReaderView> = BTreeMap::new();
    let mut backoff = options.initial_backoff;
    // After an outage: the readers whose card was there before and is not (yet) seen again.
    let mut held = Held::default();
    // Whether the consumer was told the service is unavailable and has not been told since
    // that it is back.
    let mut lost = false;
    loop {
        if control.is_stopped() {
            return;
        }
        let context = match Context::establish(Scope::System) {
            Ok(context) => context,
            Err(_) => {
                if !lost {
                    lost = true;
                    if events.send(CardEvent::ServiceLost).is_err() {
                        return;
                    }
                }
                if control.sleep(backoff) {
                    return;
                }
                backoff = (backoff * 2).min(options.max_backoff);
                continue;
            }
        };
        if !control.publish(Some(context.clone())) {
            return;
        }
        let reannounce = std::mem::take(&mut lost);
        if reannounce && events.send(CardEvent::ServiceRestored).is_err() {
            return;
        }
        let end = watch(control, &context, events, &mut known, &mut held, reannounce);
        control.publish(None);
        match end {
            SessionEnd::Stopped | SessionEnd::ReceiverGone => return,
            SessionEnd::ServiceLost => {
                lost = true;
                backoff = options.initial_backoff;
                if events.send(CardEvent::ServiceLost).is_err() {
                    return;
                }
                if control.sleep(backoff) {
                    return;
                }
            }
        }
    }
}

/// Watches the readers on one context until the service goes or we are stopped.
fn watch(
    control: &Control,
    context: &Context,
    events: &Sender<CardEvent>,
    known: &mut BTreeMap<ReaderName, ReaderView>,
    held: &mut Held,
    mut reannounce: bool,
) -> SessionEnd {
    loop {
        // (Re)build the watch list from the reader list, then learn every reader's state.
        let readers = match list_readers(context) {
            Ok(readers) => readers,
            // Whatever the error, this context is no good: back off and start over.
            Err(_) => return SessionEnd::ServiceLost,
        };
        // pcsc-lite watches at most PCSCLITE_MAX_READERS_CONTEXTS (16) states in one call.
        // With more readers than fit beside the PnP pseudo-reader, watch the readers alone
        // and look at the reader list again every second instead of on PnP notification.
        let with_pnp = readers.len() < MAX_STATES;
        let mut states = Vec::with_capacity(readers.len() + 1);
        if with_pnp {
            states.push(ReaderState::new(::pcsc::PNP_NOTIFICATION(), State::UNAWARE));
        }
        states.extend(readers.iter().take(MAX_STATES).filter_map(|name| {
            CString::new(name.as_str())
                .ok()
                .map(|c| ReaderState::new(c, State::UNAWARE))
        }));
        match context.get_status_change(Duration::ZERO, &mut states) {
            Ok(()) | Err(Error::Timeout) => {}
            Err(Error::Cancelled) if control.is_stopped() => return SessionEnd::Stopped,
            Err(Error::UnknownReader) | Err(Error::Cancelled) => continue,
            Err(_) => return SessionEnd::ServiceLost,
        }
        let first_reader = usize::from(with_pnp);
        let now = snapshot(&states[first_reader..]);
        if emptied(known, &now) && service_going(context) {
            return SessionEnd::ServiceLost;
        }
        let back = std::mem::take(&mut reannounce);
        if back {
            held.after_outage(known, &now);
        }
        held.seen(&now);
        if !report_changes(events, &held.hide(known, &now), &now, back) {
            return SessionEnd::ReceiverGone;
        }
        *known = now;
        states.iter_mut().for_each(ReaderState::sync_current_state);

        // Wait for changes until the reader list itself changes.
        loop {
            if control.is_stopped() {
                return SessionEnd::Stopped;
            }
            let wait = match (held.left(), with_pnp) {
                (Some(left), true) => Some(left),
                (Some(left), false) => Some(left.min(LIST_RECHECK)),
                (None, true) => None,
                (None, false) => Some(LIST_RECHECK),
            };
            let result = context.get_status_change(wait, &mut states);
            if held.expired() && !held.report_gone(events, known) {
                return SessionEnd::ReceiverGone;
            }
            match result {
                Ok(()) => {}
                Err(Error::Timeout) if with_pnp => continue,
                Err(Error::Timeout) => {
                    if list_readers(context).ok().as_ref() != Some(&readers) {
                        break;
                    }
                    continue;
                }
                Err(Error::Cancelled) if control.is_stopped() => return SessionEnd::Stopped,
                Err(Error::Cancelled) => continue,
                Err(Error::UnknownReader) | Err(Error::ReaderUnavailable) => break,
                Err(_) => return SessionEnd::ServiceLost,
            }
            let readers_changed = with_pnp && states[0].event_state().contains(State::CHANGED);
            let now = snapshot(&states[first_reader..]);
            if emptied(known, &now) && service_going(context) {
                return SessionEnd::ServiceLost;
            }
            held.seen(&now);
            if !report_changes(events, known, &now, false) {
                return SessionEnd::ReceiverGone;
            }
            *known = now;
            states.iter_mut().for_each(ReaderState::sync_current_state);
            if readers_changed {
                break;
            }
        }
    }
}

/// How long after the service is back a card that was in its reader before the outage may
/// take to be seen again before it is reported removed. A new pcscd lists its readers before
/// it has read their cards (a USB reader is enumerated, a vpcd card reconnects within a few
/// hundred milliseconds): a card left in its reader is not a removal. The sessions are locked
/// since the loss anyway; only the removal record and `on_removal = "end"` wait this long.
pub const RESTORE_SETTLE: Duration = Duration::from_secs(2);

/// The readers whose card is not yet seen again after an outage.
#[derive(Debug, Default)]
struct Held {
    readers: std::collections::BTreeSet<ReaderName>,
    until: Option<std::time::Instant>,
}

impl Held {
    /// The service is back: hold the readers that had a card before the outage and show none
    /// (or are not listed) now, with those still held from an earlier outage, for
    /// [`RESTORE_SETTLE`] from now.
    fn after_outage(
        &mut self,
        before: &BTreeMap<ReaderName, ReaderView>,
        now: &BTreeMap<ReaderName, ReaderView>,
    ) {
        self.readers.extend(
            before
                .iter()
                .filter(|(name, old)| {
                    old.card.is_some() && now.get(*name).is_none_or(|v| v.card.is_none())
                })
                .map(|(name, _)| name.clone()),
        );
        self.until = (!self.readers.is_empty()).then(|| std::time::Instant::now() + RESTORE_SETTLE);
    }

    /// `before` as the comparison with `now` must see it: nothing is reported for a held
    /// reader until its card shows or the wait ends (listed now: as known without a card; not
    /// listed now: as never known).
    fn hide(
        &self,
        before: &BTreeMap<ReaderName, ReaderView>,
        now: &BTreeMap<ReaderName, ReaderView>,
    ) -> BTreeMap<ReaderName, ReaderView> {
        before
            .iter()
            .filter_map(|(name, view)| {
                if !self.readers.contains(name) {
                    return Some((name.clone(), view.clone()));
                }
                now.contains_key(name).then(|| {
                    (
                        name.clone(),
                        ReaderView {
                            card: None,
                            events: view.events,
                        },
                    )
                })
            })
            .collect()
    }

    /// Readers whose card shows again are no longer held (their card is re-announced).
    fn seen(&mut self, now: &BTreeMap<ReaderName, ReaderView>) {
        self.readers
            .retain(|name| now.get(name).is_none_or(|v| v.card.is_none()));
        if self.readers.is_empty() {
            self.until = None;
        }
    }

    /// How long the wait still has to run, while readers are held.
    fn left(&self) -> Option<Duration> {
        self.until
            .map(|u| u.saturating_duration_since(std::time::Instant::now()))
    }

    fn expired(&self) -> bool {
        self.left().is_some_and(|l| l.is_zero())
    }

    /// The wait ended: the cards still not seen are removed (and their readers gone, when
    /// pcscd does not list them). False if the receiver is gone.
    fn report_gone(
        &mut self,
        events: &Sender<CardEvent>,
        known: &BTreeMap<ReaderName, ReaderView>,
    ) -> bool {
        self.until = None;
        for reader in std::mem::take(&mut self.readers) {
            if events
                .send(CardEvent::CardRemoved {
                    reader: reader.clone(),
                })
                .is_err()
            {
                return false;
            }
            if !known.contains_key(&reader)
                && events.send(CardEvent::ReaderDetached { reader }).is_err()
            {
                return false;
            }
        }
        true
    }
}

/// How long a reader list that emptied is watched for the service going away (a pcscd
/// stopping removes its readers, then exits) before its readers are reported gone. A USB
/// reader unplugged on a one-reader terminal is reported this much later; a card pulled from
/// a reader that stays is not delayed.
pub const SERVICE_PROBE: Duration = Duration::from_millis(300);

/// How often the service is asked during [`SERVICE_PROBE`].
const PROBE_STEP: Duration = Duration::from_millis(30);

/// Did every reader that was known go away at once?
fn emptied(
    before: &BTreeMap<ReaderName, ReaderView>,
    after: &BTreeMap<ReaderName, ReaderView>,
) -> bool {
    !before.is_empty() && after.is_empty()
}

/// Is the service going away? Asks it for its reader list for up to [`SERVICE_PROBE`]: true
/// as soon as it does not answer, false if it went on answering (the readers were unplugged).
fn service_going(context: &Context) -> bool {
    let start = std::time::Instant::now();
    loop {
        if list_readers(context).is_err() {
            return true;
        }
        if start.elapsed() >= SERVICE_PROBE {
            return false;
        }
        std::thread::sleep(PROBE_STEP);
    }
}

/// pcsc-lite's `PCSCLITE_MAX_READERS_CONTEXTS`: the most reader states one
/// `SCardGetStatusChange` call takes.
const MAX_STATES: usize = 16;

/// How often the reader list is looked at when there is no room for the PnP pseudo-reader.
const LIST_RECHECK: Duration = Duration::from_secs(1);

/// The longest reader-name list we accept from the service.
const MAX_READER_LIST_BYTES: usize = 64 * 1024;

fn list_readers(context: &Context) -> Result<Vec<ReaderName>, Error> {
    let len = match context.list_readers_len() {
        Ok(len) => len,
        Err(Error::NoReadersAvailable) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    if len > MAX_READER_LIST_BYTES {
        return Err(Error::InsufficientBuffer);
    }
    let mut buffer = vec![0u8; len];
    match context.list_readers(&mut buffer) {
        Ok(names) => Ok(names
            .filter_map(|n| n.to_str().ok().map(str::to_owned))
            .collect()),
        Err(Error::NoReadersAvailable) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// What the states say now; readers pcsc-lite no longer knows are left out.
fn snapshot(states: &[ReaderState]) -> BTreeMap<ReaderName, ReaderView> {
    states
        .iter()
        .filter_map(|state| {
            let event = state.event_state();
            if event.intersects(State::UNKNOWN | State::IGNORE | State::UNAVAILABLE) {
                return None;
            }
            let name = state.name().to_str().ok()?.to_owned();
            // A mute card cannot be used; fail closed and treat it as no card.
            let card = (event.contains(State::PRESENT) && !event.contains(State::MUTE))
                .then(|| state.atr().to_vec());
            Some((
                name,
                ReaderView {
                    card,
                    events: state.event_count(),
                },
            ))
        })
        .collect()
}

/// Sends the events that turn `before` into `after`; false if the receiver is gone.
fn report_changes(
    events: &Sender<CardEvent>,
    before: &BTreeMap<ReaderName, ReaderView>,
    after: &BTreeMap<ReaderName, ReaderView>,
    reannounce: bool,
) -> bool {
    let send = |event| events.send(event).is_ok();
    for (reader, old) in before {
        if !after.contains_key(reader) {
            if old.card.is_some()
                && !send(CardEvent::CardRemoved {
                    reader: reader.clone(),
                })
            {
                return false;
            }
            if !send(CardEvent::ReaderDetached {
                reader: reader.clone(),
            }) {
                return false;
            }
        }
    }
    for (reader, new) in after {
        let old = before.get(reader);
        if old.is_none()
            && !send(CardEvent::ReaderAttached {
                reader: reader.clone(),
            })
        {
            return false;
        }
        let old_card = old.and_then(|o| o.card.as_ref());
        // A card taken out and put back between two looks shows as a changed event counter.
        let swapped = old.is_some_and(|o| o.events != new.events);
        let replaced = reannounce || swapped || old_card != new.card.as_ref();
        // After an outage the consumer already treats every card as gone: a card still
        // present is only re-announced.
        let reported_gone = !reannounce && replaced;
        if old_card.is_some()
            && (new.card.is_none() || reported_gone)
            && !send(CardEvent::CardRemoved {
                reader: reader.clone(),
            })
        {
            return false;
        }
        if let Some(atr) = &new.card {
            if (old_card.is_none() || replaced)
                && !send(CardEvent::CardInserted {
                    reader: reader.clone(),
                    atr: atr.clone(),
                })
            {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(card: Option<&[u8]>, events: u32) -> ReaderView {
        ReaderView {
            card: card.map(<[u8]>::to_vec),
            events,
        }
    }

    fn changes(
        before: &[(&str, ReaderView)],
        after: &[(&str, ReaderView)],
        reannounce: bool,
    ) -> Vec<CardEvent> {
        let map = |v: &[(&str, ReaderView)]| {
            v.iter()
                .map(|(n, r)| ((*n).to_owned(), r.clone()))
                .collect()
        };
        let (tx, rx) = mpsc::channel();
        assert!(report_changes(&tx, &map(before), &map(after), reannounce));
        drop(tx);
        rx.into_iter().collect()
    }

    #[test]
    fn insertion_and_removal() {
        let atr: &[u8] = &[0x3B, 0x00];
        assert_eq!(
            changes(&[("r", view(None, 0))], &[("r", view(Some(atr), 1))], false),
            vec![CardEvent::CardInserted {
                reader: "r".into(),
                atr: atr.to_vec()
            }]
        );
        assert_eq!(
            changes(&[("r", view(Some(atr), 1))], &[("r", view(None, 2))], false),
            vec![CardEvent::CardRemoved { reader: "r".into() }]
        );
        assert!(changes(
            &[("r", view(Some(atr), 1))],
            &[("r", view(Some(atr), 1))],
            false
        )
        .is_empty());
    }

    #[test]
    fn a_quick_swap_is_a_removal_then_an_insertion() {
        let atr: &[u8] = &[0x3B, 0x00];
        assert_eq!(
            changes(
                &[("r", view(Some(atr), 1))],
                &[("r", view(Some(atr), 3))],
                false
            ),
            vec![
                CardEvent::CardRemoved { reader: "r".into() },
                CardEvent::CardInserted {
                    reader: "r".into(),
                    atr: atr.to_vec()
                }
            ]
        );
    }

    #[test]
    fn reader_gone_with_its_card() {
        let atr: &[u8] = &[0x3B, 0x00];
        assert_eq!(
            changes(&[("r", view(Some(atr), 1))], &[("s", view(None, 0))], false),
            vec![
                CardEvent::CardRemoved { reader: "r".into() },
                CardEvent::ReaderDetached { reader: "r".into() },
                CardEvent::ReaderAttached { reader: "s".into() },
            ]
        );
    }

    #[test]
    fn after_a_service_loss_cards_still_present_are_reannounced() {
        let atr: &[u8] = &[0x3B, 0x00];
        // Counters restart with a new pcscd; the card must be re-announced regardless, and
        // is not reported removed (nobody saw it leave: the outage was reported instead).
        assert_eq!(
            changes(
                &[("r", view(Some(atr), 5))],
                &[("r", view(Some(atr), 5))],
                true
            ),
            vec![CardEvent::CardInserted {
                reader: "r".into(),
                atr: atr.to_vec()
            }]
        );
        // A card that left during the outage is reported gone.
        assert_eq!(
            changes(&[("r", view(Some(atr), 5))], &[("r", view(None, 0))], true),
            vec![CardEvent::CardRemoved { reader: "r".into() }]
        );
    }

    #[test]
    fn a_card_not_yet_seen_after_an_outage_is_held_not_removed() {
        let atr: &[u8] = &[0x3B, 0x00];
        let map = |v: &[(&str, ReaderView)]| -> BTreeMap<ReaderName, ReaderView> {
            v.iter()
                .map(|(n, r)| ((*n).to_owned(), r.clone()))
                .collect()
        };
        let before = map(&[
            ("r", view(Some(atr), 4)),
            ("s", view(Some(atr), 2)),
            ("t", view(None, 0)),
        ]);
        // The new pcscd lists r without its card yet, and not s at all.
        let now = map(&[("r", view(None, 0)), ("t", view(None, 0))]);
        let mut held = Held::default();
        held.after_outage(&before, &now);
        assert!(held.left().is_some());
        held.seen(&now);
        let (tx, rx) = mpsc::channel();
        assert!(report_changes(&tx, &held.hide(&before, &now), &now, true));
        drop(tx);
        assert!(
            rx.into_iter().next().is_none(),
            "nothing is reported for a held reader"
        );
        // r's card shows: it is no longer held (and is then re-announced as inserted).
        held.seen(&map(&[("r", view(Some(atr), 1)), ("t", view(None, 0))]));
        assert_eq!(held.readers.len(), 1);
        // The wait ends with s still not listed: its card is removed and the reader gone.
        let (tx, rx) = mpsc::channel();
        assert!(held.report_gone(&tx, &now));
        drop(tx);
        assert_eq!(
            rx.into_iter().collect::<Vec<_>>(),
            vec![
                CardEvent::CardRemoved { reader: "s".into() },
                CardEvent::ReaderDetached { reader: "s".into() }
            ]
        );
        assert!(held.left().is_none());
    }

    #[test]
    fn only_a_list_that_empties_is_probed() {
        let atr: &[u8] = &[0x3B, 0x00];
        let map = |v: &[(&str, ReaderView)]| -> BTreeMap<ReaderName, ReaderView> {
            v.iter()
                .map(|(n, r)| ((*n).to_owned(), r.clone()))
                .collect()
        };
        let two = map(&[("r", view(Some(atr), 1)), ("s", view(None, 0))]);
        assert!(emptied(&two, &map(&[])));
        assert!(!emptied(&two, &map(&[("s", view(None, 0))])));
        assert!(!emptied(&map(&[]), &map(&[])));
    }
}
