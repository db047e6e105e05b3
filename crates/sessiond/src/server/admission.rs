//! Who gets a connection slot: root (the login program's PAM stack) has a pool of its own;
//! every other uid a small cap of its own inside one shared, bounded pool. A connection over
//! a limit is refused at once with a short error, so that no local user can queue up the
//! login program behind their own connections.

use cardgate_protocol::{encode_answer, Answer};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Socket;
use tokio::net::UnixStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a connection was refused at the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Full {
    /// This uid already has its share of connections.
    Uid,
    /// Every non-root slot is taken.
    Shared,
}

impl Full {
    pub(super) fn answer(self) -> Answer {
        Answer::error(match self {
            Full::Uid => "busy: too many connections from this uid",
            Full::Shared => "busy: too many connections",
        })
    }
}

/// The connection slots of one socket. Root (the login program's PAM stack) has a pool of
/// its own that no other uid can touch; every other uid has a small cap of its own and
/// shares one bounded pool with the rest. A non-root connection over a limit is refused at
/// once: none ever waits in the kernel's backlog, where it would hold up root's.
pub(super) struct Limits {
    root: Arc<Semaphore>,
    shared: Arc<Semaphore>,
    per_uid: UidCounts,
    per_uid_cap: usize,
}

/// How many connections each non-root uid holds now.
type UidCounts = Arc<Mutex<HashMap<u32, usize>>>;

/// A connection's place, given back when the connection ends.
pub(super) struct Slot {
    _permit: OwnedSemaphorePermit,
    counted: Option<(UidCounts, u32)>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some((per_uid, uid)) = self.counted.take() {
            let mut counts = per_uid.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = counts.get_mut(&uid) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    counts.remove(&uid);
                }
            }
        }
    }
}

impl Limits {
    pub(super) fn new(d: &crate::config::DaemonSection) -> Self {
        Limits {
            root: Arc::new(Semaphore::new(d.root_connections)),
            shared: Arc::new(Semaphore::new(d.max_connections)),
            per_uid: Arc::new(Mutex::new(HashMap::new())),
            per_uid_cap: d.max_connections_per_uid,
        }
    }

    /// A slot for a connection of `uid`, or why there is none. Root is never refused: its
    /// connection waits for one of root's own slots in its own task, never in the accept
    /// loop and never behind another uid.
    pub(super) fn admit(&self, uid: u32) -> Result<Admission, Full> {
        if uid == 0 {
            return Ok(Admission::Root(self.root.clone()));
        }
        let mut counts = self.per_uid.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(uid).or_insert(0);
        if *n >= self.per_uid_cap {
            return Err(Full::Uid);
        }
        let permit = self
            .shared
            .clone()
            .try_acquire_owned()
            .map_err(|_| Full::Shared)?;
        *n += 1;
        Ok(Admission::Now(Slot {
            _permit: permit,
            counted: Some((self.per_uid.clone(), uid)),
        }))
    }
}

/// What [`Limits::admit`] gives.
pub(super) enum Admission {
    /// Served now, in this slot.
    Now(Slot),
    /// Root: served as soon as one of root's slots is free.
    Root(Arc<Semaphore>),
}

impl Admission {
    pub(super) async fn slot(self) -> Option<Slot> {
        match self {
            Admission::Now(slot) => Some(slot),
            Admission::Root(pool) => pool.acquire_owned().await.ok().map(|permit| Slot {
                _permit: permit,
                counted: None,
            }),
        }
    }
}

/// Refusals are logged at most once a second, with how many there were: a flood must not
/// become a flood of log lines.
pub(super) struct RefusalLog {
    pub(super) last: Option<Instant>,
    pub(super) pending: u64,
}

impl RefusalLog {
    pub(super) fn note(&mut self, socket: Socket, uid: Option<u32>, why: &str) {
        self.pending += 1;
        if self
            .last
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            tracing::warn!(
                ?socket,
                ?uid,
                refused = self.pending,
                why,
                "connections refused"
            );
            self.last = Some(Instant::now());
            self.pending = 0;
        }
    }
}

/// Says a short error to a connection that is not served, and closes it, without waiting:
/// a fresh socket's send buffer always has room for the line.
pub(super) fn refuse(stream: UnixStream, answer: &Answer) {
    let line = match encode_answer(answer) {
        Ok(line) => line,
        Err(e) => {
            tracing::error!(error = %e, "a refusal could not be encoded");
            return;
        }
    };
    if let Err(e) = stream.try_write(&line) {
        tracing::debug!(error = %e, "a refused client did not get its error");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    pub(super) fn daemon_section(per_uid: usize, shared: usize) -> crate::config::DaemonSection {
        crate::config::DaemonSection {
            max_connections: shared,
            max_connections_per_uid: per_uid,
            root_connections: 1,
            ..Default::default()
        }
    }

    #[tokio::test]
    pub(super) async fn each_uid_has_its_cap_the_pool_is_shared_and_root_is_never_refused() {
        let limits = Limits::new(&daemon_section(2, 3));
        let a1 = limits.admit(1000).unwrap().slot().await.unwrap();
        let _a2 = limits.admit(1000).unwrap().slot().await.unwrap();
        assert!(matches!(limits.admit(1000), Err(Full::Uid)));
        let _b1 = limits.admit(1001).unwrap().slot().await.unwrap();
        // The pool of 3 is full: another uid is refused, not queued.
        assert!(matches!(limits.admit(1002), Err(Full::Shared)));
        // Root has its own pool, full or not.
        let root = limits.admit(0).unwrap().slot().await.unwrap();
        let waiting = limits.admit(0).unwrap();
        let second_root = tokio::spawn(async move { waiting.slot().await.is_some() });
        drop(root);
        assert!(second_root.await.unwrap());
        // A slot given back is a slot for its uid again.
        drop(a1);
        let _a3 = limits.admit(1000).unwrap().slot().await.unwrap();
        assert_eq!(limits.per_uid.lock().unwrap().get(&1000), Some(&2));
    }
}
