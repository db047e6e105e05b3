//! What the daemon does to login sessions (lock, unlock, end, through logind's `loginctl`),
//! and the record of what really happened.
//!
//! A session action is never assumed: its exit status is read, it runs under a timeout, it
//! is tried a bounded number of times, and what logind then reports of the session is read
//! back (`loginctl show-session`): the record says what logind did. A lock holds only when
//! a screen locker obeys logind's `Lock` and says so by setting `LockedHint`: a text console
//! has none (`Type=tty`), so its session is ended instead, and a graphical session whose
//! locker does not set the hint within `session.lock_confirm_ms` is ended too (art. 6.2:
//! nothing stays usable without the card). An end counts once logind reports the session
//! closing or gone; until then the daemon keeps trying, and the session stays in the table,
//! across restarts.
//!
//! Actions run on their own threads, one queue per session, so that a hung `loginctl` holds
//! up only its own session: card events, other sessions and requests go on. Removal's lock is
//! the one decision whose action runs before its record (a locked screen must not wait for
//! the disk); the record of a lock is written once the lock is done.

use crate::audit_sink::AuditSink;
use crate::engine::label;
use crate::sessions::{Session, SessionState, SessionTable};
use cardgate_audit::record::{EndReason, LockReason, LogindState, SessionType};
use cardgate_audit::{Entry, Event, Label};
use cardgate_card::cert::CardSerial;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use crate::loginctl::{Loginctl, LogindSession};

/// What the daemon does to a login session (logind, through `loginctl`).
pub trait SessionActions: Send + Sync {
    /// Lock the session.
    fn lock(&self, session_id: &str) -> Result<(), String>;
    /// Unlock the session.
    fn unlock(&self, session_id: &str) -> Result<(), String>;
    /// End the session.
    fn terminate(&self, session_id: &str) -> Result<(), String>;
    /// What logind reports of the session now; `Ok(None)` when it knows no such session.
    fn show(&self, session_id: &str) -> Result<Option<LogindSession>, String>;
}

/// Is `id` what logind uses as a session ID? (Letters and digits, as `$XDG_SESSION_ID` is.)
pub fn valid_session_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The stack of a session-action thread.
const ACTION_THREAD_STACK: usize = 256 * 1024;

/// Runs jobs in order per session, sessions in parallel; knows when all are done.
#[derive(Default)]
struct Runner {
    queues: Mutex<HashMap<String, VecDeque<Job>>>,
    idle: Condvar,
}

impl Runner {
    fn submit(self: &Arc<Self>, session_id: &str, job: Job) {
        let start_worker = {
            let mut queues = lock(&self.queues);
            match queues.get_mut(session_id) {
                // A worker is draining this session's queue: it will take this job in turn.
                Some(queue) => {
                    queue.push_back(job);
                    false
                }
                None => {
                    queues.insert(session_id.to_owned(), VecDeque::from([job]));
                    true
                }
            }
        };
        if start_worker {
            let runner = self.clone();
            let id = session_id.to_owned();
            let spawned = std::thread::Builder::new()
                .name(format!("session-{id}"))
                // A small stack: with `mlockall(MCL_FUTURE)` every page of a new thread's
                // stack is faulted in and locked at once, and this thread only runs loginctl.
                .stack_size(ACTION_THREAD_STACK)
                .spawn({
                    let id = id.clone();
                    move || runner.drain(&id)
                });
            if let Err(e) = spawned {
                // No thread: do the work here rather than not at all.
                tracing::error!(session = %id, error = %e, "cannot start a session-action thread; acting inline");
                self.drain(&id);
            }
        }
    }

    fn drain(&self, session_id: &str) {
        loop {
            let job = {
                let mut queues = lock(&self.queues);
                match queues.get_mut(session_id).and_then(VecDeque::pop_front) {
                    Some(job) => job,
                    None => {
                        queues.remove(session_id);
                        if queues.is_empty() {
                            self.idle.notify_all();
                        }
                        return;
                    }
                }
            };
            job();
        }
    }

    fn wait_idle(&self, timeout: Duration) -> bool {
        let queues = lock(&self.queues);
        match self
            .idle
            .wait_timeout_while(queues, timeout, |q| !q.is_empty())
        {
            Ok((_, result)) => !result.timed_out(),
            Err(poisoned) => !poisoned.into_inner().1.timed_out(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data behind these locks is a queue or a table, never half a card operation.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An action's error as a record field: the end of the message (where the cause is), capped.
fn error_label(error: &str) -> Label {
    let tail: String = {
        let chars: Vec<char> = error.chars().collect();
        chars[chars.len().saturating_sub(64)..].iter().collect()
    };
    label(&tail)
}

/// The entry for an event about `s`, at its terminal (as configured) and reader.
pub(crate) fn session_entry(s: &Session, event: Event) -> Entry {
    let mut e = Entry::new(event)
        .terminal(label(&s.terminal))
        .reader(label(&s.reader))
        .operator(label(&s.operator_id));
    if let Some(serial) = CardSerial::from_hex(&s.serial) {
        e = e.card(serial);
    }
    e
}

/// How the daemon tries a session action.
#[derive(Debug, Clone, Copy)]
pub struct ActionPolicy {
    /// Tries of one action before it counts as failed.
    pub attempts: u32,
    /// Pause between two tries.
    pub pause: Duration,
    /// After an end failed: first wait before trying again (it doubles, up to `retry_max`).
    pub retry_first: Duration,
    /// The longest wait between two tries of a failed end.
    pub retry_max: Duration,
    /// How long a graphical session's locker has, after `lock-session`, to set logind's
    /// `LockedHint` before the session is ended instead.
    pub lock_confirm: Duration,
    /// How often `LockedHint` is read while waiting for it.
    pub confirm_poll: Duration,
}

impl Default for ActionPolicy {
    fn default() -> Self {
        ActionPolicy {
            attempts: 3,
            pause: Duration::from_millis(200),
            retry_first: Duration::from_secs(5),
            retry_max: Duration::from_secs(300),
            lock_confirm: Duration::from_secs(3),
            confirm_poll: Duration::from_millis(50),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Retry {
    next: Instant,
    wait: Duration,
}

/// The session table and what is done to the sessions in it.
pub struct SessionKeeper {
    table: Mutex<SessionTable>,
    actions: Arc<dyn SessionActions>,
    audit: Arc<AuditSink>,
    policy: ActionPolicy,
    runner: Arc<Runner>,
    retries: Mutex<HashMap<String, Retry>>,
    /// The one clock: when an end that failed is tried again.
    clock: Arc<dyn cardgate_office::Clock>,
}

impl SessionKeeper {
    /// Keeps `table`, acting through `actions` and recording into `audit`.
    pub fn new(
        table: SessionTable,
        actions: Arc<dyn SessionActions>,
        audit: Arc<AuditSink>,
        policy: ActionPolicy,
        clock: Arc<dyn cardgate_office::Clock>,
    ) -> Arc<Self> {
        Arc::new(SessionKeeper {
            table: Mutex::new(table),
            actions,
            audit,
            policy,
            runner: Arc::new(Runner::default()),
            retries: Mutex::new(HashMap::new()),
            clock,
        })
    }

    /// The table, locked.
    pub fn table(&self) -> MutexGuard<'_, SessionTable> {
        lock(&self.table)
    }

    fn record(&self, entry: Entry) {
        let kind = entry.event.kind_name();
        if let Err(e) = self.audit.append(entry) {
            // The action has happened; only its record is missing. Say so where the
            // administrator looks, and the sink's own failure handling takes it from there.
            tracing::error!(record = kind, error = %e, "a session action's record could not be written");
        }
    }

    fn attempt<T>(
        &self,
        what: &str,
        s: &Session,
        op: &dyn Fn(&str) -> Result<T, String>,
    ) -> Result<T, (String, u32)> {
        let mut last = String::new();
        for n in 1..=self.policy.attempts.max(1) {
            match op(&s.session_id) {
                Ok(done) => return Ok(done),
                Err(e) => {
                    tracing::warn!(session = %s.session_id, user = %s.user, attempt = n, error = %e, "{what} failed");
                    last = e;
                }
            }
            if n < self.policy.attempts {
                std::thread::sleep(self.policy.pause);
            }
        }
        Err((last, self.policy.attempts.max(1)))
    }

    /// Queues `job` on `s`'s own queue.
    fn queue(
        self: &Arc<Self>,
        s: Session,
        job: impl FnOnce(&SessionKeeper, Session) + Send + 'static,
    ) {
        let keeper = self.clone();
        let id = s.session_id.clone();
        self.runner.submit(&id, Box::new(move || job(&keeper, s)));
    }

    /// Locks `s` (already marked locked in the table); when logind will not lock it, ends it.
    pub fn lock(self: &Arc<Self>, s: Session, reason: LockReason) {
        self.lock_since(s, reason, None);
    }

    /// [`SessionKeeper::lock`], timed from `seen` (the card event that asked for it): the
    /// log line of the lock done carries the microseconds since.
    pub fn lock_since(self: &Arc<Self>, s: Session, reason: LockReason, seen: Option<Instant>) {
        self.queue(s, move |keeper, s| {
            let actions = keeper.actions.clone();
            match keeper.attempt("lock", &s, &|id| actions.lock(id)) {
                Ok(()) => {
                    match seen {
                        Some(seen) => tracing::info!(
                            session = %s.session_id,
                            user = %s.user,
                            micros = keeper.clock.monotonic().saturating_duration_since(seen).as_micros() as u64,
                            "removal: lock asked of logind"
                        ),
                        None => tracing::info!(session = %s.session_id, user = %s.user, ?reason, "lock asked of logind"),
                    }
                    keeper.confirm_lock(&s, reason);
                }
                Err((error, attempts)) => {
                    tracing::error!(session = %s.session_id, user = %s.user, %error, "the session could not be locked; ending it");
                    keeper.record(session_entry(
                        &s,
                        Event::SessionLockFailed {
                            reason,
                            error: error_label(&error),
                            attempts,
                        },
                    ));
                    keeper.mark_ending(&s.session_id, EndReason::LockFailed);
                    keeper.end_now(&s, EndReason::LockFailed, true);
                }
            }
        });
    }

    /// After `lock-session` worked: the lock counts only when logind says a locker holds the
    /// session (`LockedHint`), read back for at most `policy.lock_confirm`. A session with no
    /// locker (a text console) or whose locker does not confirm is ended instead.
    fn confirm_lock(&self, s: &Session, reason: LockReason) {
        // Real time, as for loginctl's own timeout: this waits on logind and a locker.
        let deadline = Instant::now() + self.policy.lock_confirm;
        let mut last_error: Option<String>;
        let mut graphical = None;
        loop {
            match self.actions.show(&s.session_id) {
                Ok(Some(shown)) if !shown.session_type.is_graphical() => {
                    // Nothing listens to `Lock` on a console: the login shell goes on running.
                    tracing::warn!(session = %s.session_id, user = %s.user, session_type = ?shown.session_type, "the session has no screen locker; ending it");
                    self.mark_ending(&s.session_id, EndReason::NoLocker);
                    self.end_now(s, EndReason::NoLocker, true);
                    return;
                }
                Ok(Some(shown)) if shown.locked_hint => {
                    tracing::info!(session = %s.session_id, user = %s.user, session_type = ?shown.session_type, "session locked: logind confirms (LockedHint)");
                    self.record(session_entry(
                        s,
                        Event::SessionLocked {
                            reason,
                            session_type: Some(shown.session_type),
                            locked_hint: Some(true),
                        },
                    ));
                    return;
                }
                Ok(Some(shown)) => {
                    graphical = Some(shown.session_type);
                    last_error = None;
                }
                Ok(None) => {
                    // Gone from logind (logged out, or ended by someone else): nothing is
                    // left to lock; the end takes it out of the table with what logind says.
                    tracing::info!(session = %s.session_id, user = %s.user, "the session to lock is no longer known to logind");
                    self.mark_ending(&s.session_id, EndReason::Other);
                    self.end_now(s, EndReason::Other, true);
                    return;
                }
                Err(e) => last_error = Some(e),
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(self.policy.confirm_poll);
        }
        tracing::error!(
            session = %s.session_id,
            user = %s.user,
            session_type = ?graphical,
            waited_ms = self.policy.lock_confirm.as_millis() as u64,
            error = last_error.as_deref().unwrap_or("LockedHint stayed no"),
            "the screen locker did not confirm the lock; ending the session"
        );
        self.mark_ending(&s.session_id, EndReason::LockNotConfirmed);
        self.end_now(s, EndReason::LockNotConfirmed, true);
    }

    /// Unlocks `s` (already marked active in the table); when logind will not, it stays locked.
    pub fn unlock(self: &Arc<Self>, s: Session) {
        self.queue(s, move |keeper, s| {
            let actions = keeper.actions.clone();
            match keeper.attempt("unlock", &s, &|id| actions.unlock(id)) {
                Ok(()) => keeper.record(session_entry(&s, Event::SessionUnlocked)),
                Err((error, attempts)) => {
                    let id = s.session_id.clone();
                    // Still locked on the screen: the table says so too, so that the
                    // next card and PIN try the unlock again.
                    keeper
                        .table()
                        .set_state(SessionState::Locked, |t| t.session_id == id)
                        .sessions();
                    keeper.record(session_entry(
                        &s,
                        Event::SessionUnlockFailed {
                            error: error_label(&error),
                            attempts,
                        },
                    ));
                }
            }
        });
    }

    /// Ends `s` (already marked ending in the table): it leaves the table once logind ended it.
    pub fn end(self: &Arc<Self>, s: Session, reason: EndReason) {
        self.queue(s, move |keeper, s| keeper.end_now(&s, reason, true));
    }

    fn mark_ending(&self, session_id: &str, reason: EndReason) {
        let mut table = self.table();
        if let Err(e) = table.mark_ending(session_id, reason) {
            tracing::error!(session = %session_id, error = %e, "the session table could not be saved");
        }
    }

    /// Ends `id` and reads back what logind reports: the end counts once logind says the
    /// session is closing or gone, whatever `terminate-session` answered (a session already
    /// gone cannot be terminated, and is ended all the same).
    fn terminate_and_check(&self, id: &str) -> Result<(Option<SessionType>, LogindState), String> {
        let terminated = self.actions.terminate(id);
        match (self.actions.show(id), terminated) {
            (Ok(None), _) => Ok((None, LogindState::Absent)),
            (Ok(Some(shown)), _) if shown.closing => {
                Ok((Some(shown.session_type), LogindState::Closing))
            }
            (Ok(Some(_)), Err(e)) => Err(e),
            (Ok(Some(_)), Ok(())) => Err(format!(
                "terminate-session {id} answered, but logind still reports the session open"
            )),
            (Err(_), Err(e)) => Err(e),
            (Err(e), Ok(())) => Err(format!(
                "terminate-session {id} answered, but what logind reports could not be read: {e}"
            )),
        }
    }

    /// Tries to end `s` now; `first` is the first try since the end was decided (only that
    /// one's failure is recorded: the retries are logged, and the end that works is recorded).
    fn end_now(&self, s: &Session, reason: EndReason, first: bool) {
        match self.attempt("end", s, &|id| self.terminate_and_check(id)) {
            Ok((session_type, logind_state)) => {
                lock(&self.retries).remove(&s.session_id);
                let ended = Event::SessionEnded {
                    reason,
                    session_type,
                    logind_state: Some(logind_state),
                };
                let closed = self.table().close(&s.session_id);
                match closed {
                    // Logged out meanwhile: the logout was recorded then.
                    Ok(None) => {}
                    Ok(Some(_)) => {
                        tracing::info!(session = %s.session_id, user = %s.user, ?reason, ?logind_state, "session ended");
                        self.record(session_entry(s, ended));
                    }
                    Err(e) => {
                        tracing::error!(session = %s.session_id, error = %e, "the session table could not be saved");
                        self.record(session_entry(s, ended));
                    }
                }
            }
            Err((error, attempts)) => {
                let mut retries = lock(&self.retries);
                let wait = match retries.get(&s.session_id) {
                    Some(r) => (r.wait * 2).min(self.policy.retry_max),
                    None => self.policy.retry_first,
                };
                retries.insert(
                    s.session_id.clone(),
                    Retry {
                        next: self.clock.monotonic() + wait,
                        wait,
                    },
                );
                drop(retries);
                tracing::error!(session = %s.session_id, user = %s.user, %error, retry_in_s = wait.as_secs(), "the session could not be ended; trying again");
                if first {
                    self.record(session_entry(
                        s,
                        Event::SessionEndFailed {
                            reason,
                            error: error_label(&error),
                            attempts,
                        },
                    ));
                }
            }
        }
    }

    /// Tries again the ends that failed and are due (called from the daemon's tick).
    pub fn retry_due(self: &Arc<Self>) {
        let now = self.clock.monotonic();
        let due: Vec<String> = lock(&self.retries)
            .iter()
            .filter(|(_, r)| r.next <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            // Push it far ahead so that the next tick does not queue it twice; the try itself
            // sets the real next time.
            if let Some(r) = lock(&self.retries).get_mut(&id) {
                r.next = now + self.policy.retry_max;
            }
            let session = self
                .table()
                .all()
                .into_iter()
                .find(|s| s.session_id == id && s.state == SessionState::Ending);
            let Some(s) = session else {
                // Logged out meanwhile.
                lock(&self.retries).remove(&id);
                continue;
            };
            let reason = s.end_reason.unwrap_or(EndReason::Other);
            self.queue(s, move |keeper, s| keeper.end_now(&s, reason, false));
        }
    }

    /// Waits until every queued action is done (shutdown, tests); false on timeout.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        self.runner.wait_idle(timeout)
    }
}
