//! What the daemon tells systemd (`sd_notify`, through the `sd-notify` crate): `STATUS=` lines
//! while it starts and runs (`systemctl status cardgated` shows the last), `READY=1` once it
//! serves, `STOPPING=1` when it stops, and the watchdog's `WATCHDOG=1`.
//!
//! The watchdog pings only while the daemon is really alive: the event loop has finished a
//! periodic tick of the engine (which takes the engine's locks, reads the revocation list and
//! the register, and runs on the blocking pool) within the watchdog interval, and the threads
//! that bring card events in are running. A daemon wedged there (a deadlock, a card event
//! whose handling never returns, an exhausted blocking pool, a dead card monitor) stops
//! pinging, and systemd kills and restarts it (`WatchdogSec=` in `dist/cardgated.service`).
//! Without `NOTIFY_SOCKET` (not under systemd) every call does nothing.

use sd_notify::NotifyState;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Sends `states`; a failure is logged (systemd then sees no readiness or ping, and says so).
fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!(error = %e, "could not notify systemd");
    }
}

/// `STATUS=text`.
pub fn status(text: &str) {
    send(&[NotifyState::Status(text)]);
}

/// `READY=1` with `STATUS=text`.
pub fn ready(text: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(text)]);
}

/// `STOPPING=1` with `STATUS=text`.
pub fn stopping(text: &str) {
    send(&[NotifyState::Stopping, NotifyState::Status(text)]);
}

/// The ready status line.
pub fn ready_text(terminals: usize, sessions: usize) -> String {
    format!("ready: {terminals} terminal(s), {sessions} open session(s)")
}

/// How often to ping, when systemd asked for a watchdog (`WATCHDOG_USEC`, `WATCHDOG_PID` ours):
/// half the interval, as `sd_watchdog_enabled(3)` advises.
pub fn watchdog_interval() -> Option<Duration> {
    let mut usec = 0;
    (sd_notify::watchdog_enabled(false, &mut usec) && usec > 0)
        .then(|| Duration::from_micros(usec) / 2)
}

/// The process's reference instant for [`tick_done`].
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// When the engine's last tick finished, in milliseconds since [`epoch`] (0: none yet).
static LAST_TICK_MS: AtomicU64 = AtomicU64::new(0);

/// Called by the event loop each time the engine's periodic tick has finished.
pub fn tick_done() {
    let ms = u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX);
    LAST_TICK_MS.store(ms.max(1), Ordering::Relaxed);
}

/// How long ago the engine's last tick finished; `None` before the first.
pub fn since_last_tick() -> Option<Duration> {
    let last = LAST_TICK_MS.load(Ordering::Relaxed);
    (last != 0).then(|| {
        epoch()
            .elapsed()
            .saturating_sub(Duration::from_millis(last))
    })
}

/// The watchdog's decision: ping only when the last tick is recent enough (within `limit`)
/// and the card-event threads run.
pub fn alive(since_tick: Option<Duration>, limit: Duration, card_events_running: bool) -> bool {
    card_events_running && since_tick.is_some_and(|d| d <= limit)
}

/// How old the engine's last tick may be while the daemon still counts as alive: the
/// watchdog's own timeout (`2 × interval`), but never less than two of the engine's ticks. A
/// tick finishes once a second, so under load one finishing a little late is normal; a
/// watchdog timeout near one second would otherwise stop the pings of a daemon that is
/// merely busy (seen: `since_last_tick_ms=1000` with `WATCHDOG_USEC=1000000`). Two ticks
/// missed in a row is a wedged engine.
pub fn tick_age_limit(interval: Duration) -> Duration {
    (interval * 2).max(crate::daemon::TICK * 2)
}

/// Pings the watchdog every `interval` while [`alive`] says so, with the ticks allowed to be
/// at most [`tick_age_limit`] old. Runs until the process ends; `card_events_running` looks
/// at the threads.
pub async fn watchdog(interval: Duration, card_events_running: impl Fn() -> bool) {
    let limit = tick_age_limit(interval);
    let mut timer = tokio::time::interval(interval);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut warned = false;
    // Before the loop's first tick, the time since the watchdog started counts instead.
    let started = Instant::now();
    loop {
        timer.tick().await;
        let since = Some(since_last_tick().unwrap_or_else(|| started.elapsed()));
        let running = card_events_running();
        if alive(since, limit, running) {
            send(&[NotifyState::Watchdog]);
            warned = false;
        } else if !warned {
            warned = true;
            tracing::error!(
                since_last_tick_ms = since.map(|d| d.as_millis()),
                card_events_running = running,
                "the daemon is not answering: the watchdog is no longer pinged, systemd will restart it"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A watchdog timeout of one second (a ping every 0.5 s) still lets the engine's
    /// one-second tick be late once; the shipped 30 s leaves the timeout itself.
    #[test]
    fn a_short_watchdog_still_allows_two_ticks() {
        assert_eq!(
            tick_age_limit(Duration::from_millis(500)),
            crate::daemon::TICK * 2
        );
        assert_eq!(
            tick_age_limit(Duration::from_secs(15)),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn the_watchdog_pings_only_a_live_daemon() {
        let limit = Duration::from_secs(10);
        assert!(alive(Some(Duration::from_secs(1)), limit, true));
        assert!(alive(Some(limit), limit, true));
        // The engine's tick has not finished for too long: wedged.
        assert!(!alive(Some(limit + Duration::from_millis(1)), limit, true));
        // No tick yet (the loop never ran).
        assert!(!alive(None, limit, true));
        // The card events no longer come in.
        assert!(!alive(Some(Duration::ZERO), limit, false));
    }

    /// The shipped unit asks for the watchdog, lets only the daemon itself notify, and gives
    /// the engine's one-second tick room: a ping is due every half `WatchdogSec`, and a tick
    /// may be up to two ping intervals old.
    #[test]
    fn the_unit_asks_for_a_watchdog_the_tick_fits_in() {
        let unit = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist/cardgated.service"),
        )
        .unwrap_or_default();
        let value = |key: &str| {
            unit.lines()
                .find_map(|l| l.strip_prefix(key))
                .map(str::trim)
                .map(str::to_owned)
        };
        assert_eq!(value("NotifyAccess=").as_deref(), Some("main"));
        let watchdog = value("WatchdogSec=")
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs);
        let Some(watchdog) = watchdog else {
            panic!("the unit sets WatchdogSec in seconds");
        };
        assert!(watchdog / 2 >= crate::daemon::TICK * 5, "{watchdog:?}");
    }

    #[test]
    fn ticks_are_timed() {
        tick_done();
        let since = since_last_tick().unwrap_or(Duration::MAX);
        assert!(since < Duration::from_secs(5), "{since:?}");
    }
}
