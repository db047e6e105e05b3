//! Sessions over time: card removal, the revocation and register watches, business hours
//! and re-verification, and the resync after a restart (art. 5.4, 6.2).
//!
//! Each of these decides which sessions change, marks them in the table, and hands the
//! session action to the keeper (`session_actions`), which runs it, checks it and records
//! what logind really did. None of them waits for `loginctl`: a hung one holds up only its
//! own session, never the card events of the others.

use super::*;

impl Engine {
    /// The card left `reader`: lock or end its sessions now (art. 6.2).
    pub fn card_removed(&self, reader: &str) {
        self.card_removed_since(reader, self.clock.monotonic());
    }

    /// [`Engine::card_removed`], timed from `seen`, the moment the removal event arrived.
    /// The lock (or end) is handed to the session keeper before anything touches the audit
    /// log: the one named exception to the order of `commit.rs` (records, then actions), so
    /// that the screen locks without waiting for the disk. After a crash in between,
    /// `resync_sessions` locks again.
    pub fn card_removed_since(&self, reader: &str, seen: Instant) {
        locked(&self.pending).retain(|(terminal, _), _| {
            self.config
                .terminal(terminal)
                .is_none_or(|t| t.reader != reader)
        });
        let affected = self.withdraw_sessions(
            |s| s.reader == reader,
            LockReason::CardRemoved,
            EndReason::CardRemoved,
            Some(seen),
        );
        if affected > 0 {
            tracing::info!(
                reader,
                sessions = affected,
                "removal: session action started"
            );
        }
        if let Err(AuditDown) = self.record(self.at_reader(Event::CardRemoved, reader)) {
            tracing::error!(reader, "the card removal could not be recorded");
        }
    }

    /// Locks (or, with `on_removal = "end"`, ends) the sessions matching `pick` whose card is
    /// gone; returns how many were handed to the keeper.
    fn withdraw_sessions(
        &self,
        pick: impl Fn(&Session) -> bool,
        lock_reason: LockReason,
        end_reason: EndReason,
        seen: Option<Instant>,
    ) -> usize {
        if self.config.session.on_removal == RemovalAction::Lock {
            // Marked in memory, locked, and only then written to the disk: the lock must not
            // wait for an fsync (the one action that goes before the disk).
            let to_lock = self
                .keeper
                .table()
                .set_state_unsaved(SessionState::Locked, |s| {
                    pick(s) && s.state == SessionState::Active
                });
            let n = to_lock.len();
            for s in to_lock {
                self.keeper.lock_since(s, lock_reason, seen);
            }
            if n > 0 {
                if let Err(e) = self.keeper.table().persist() {
                    tracing::error!(error = %e, "the session table could not be saved; a restart will not know of this lock");
                }
            }
            n
        } else {
            self.end_sessions(pick, end_reason)
        }
    }

    /// Ends the sessions matching `pick`; returns how many were handed to the keeper.
    pub(super) fn end_sessions(&self, pick: impl Fn(&Session) -> bool, reason: EndReason) -> usize {
        let to_end = self.keeper.table().set_ending(reason, pick).sessions();
        let n = to_end.len();
        for s in to_end {
            self.keeper.end(s, reason);
        }
        n
    }

    /// A card was inserted into `reader`.
    pub fn card_inserted(&self, reader: &str) {
        if let Err(AuditDown) = self.record(self.at_reader(Event::CardInserted, reader)) {
            tracing::error!(reader, "the card insertion could not be recorded");
        }
    }

    /// The serial of the card in `reader`, when a personalised card is there and answers.
    fn serial_in(&self, reader: &str) -> Option<CardSerial> {
        match self.look_at_card(reader, false) {
            Ok(seen) => seen.cert.map(|c| c.body.serial),
            Err(why) => {
                tracing::info!(reader, %why, "no card to compare with the session's");
                None
            }
        }
    }

    /// After a restart: sessions of an earlier boot are dropped; sessions whose card left, or
    /// was swapped for another card, while the daemon was down are locked (or ended) now;
    /// ends that were not finished are tried again.
    pub fn resync_sessions(&self) {
        let stale = self
            .keeper
            .table()
            .close_where(|s| !s.boot_id.is_empty() && s.boot_id != self.boot_id)
            .sessions();
        for s in stale {
            tracing::info!(session = %s.session_id, user = %s.user, "session of an earlier boot dropped");
            let entry = crate::session_actions::session_entry(
                &s,
                Event::SessionEnded {
                    reason: EndReason::Shutdown,
                    session_type: None,
                    logind_state: None,
                },
            );
            if let Err(AuditDown) = self.record(entry) {
                tracing::error!(session = %s.session_id, "the end of a session of an earlier boot could not be recorded");
            }
        }
        let sessions = self.keeper.table().all();
        let mut in_reader: HashMap<String, Option<CardSerial>> = HashMap::new();
        for s in &sessions {
            if s.state == SessionState::Ending {
                self.keeper
                    .end(s.clone(), s.end_reason.unwrap_or(EndReason::Other));
                continue;
            }
            let serial = in_reader
                .entry(s.reader.clone())
                .or_insert_with(|| self.serial_in(&s.reader));
            let same_card = serial.is_some_and(|c| c.to_string() == s.serial);
            if same_card {
                continue;
            }
            tracing::warn!(session = %s.session_id, reader = %s.reader, "the session's card is not in its reader after a restart");
            let id = s.session_id.clone();
            if s.state == SessionState::Locked
                && self.config.session.on_removal == RemovalAction::Lock
            {
                // Marked locked before the restart, but the lock may not have been done:
                // lock again (locking a locked session changes nothing).
                self.keeper.lock(s.clone(), LockReason::CardRemoved);
            } else {
                self.withdraw_sessions(
                    |t| t.session_id == id,
                    LockReason::CardRemoved,
                    EndReason::CardRemoved,
                    None,
                );
            }
        }
    }

    /// Records that the daemon started or stops.
    pub fn record_lifecycle(&self, event: Event) -> bool {
        self.record(Entry::new(event)).is_ok()
    }

    /// Periodic duties: the list file, the register, business hours, re-verification, the
    /// refusals held back, and the session ends that failed.
    pub fn tick(&self) {
        self.audit.check_background();
        self.reload_revocation_if_changed();
        self.end_sessions_of_withdrawn_cards();
        if self.outside_hours() {
            let to_lock = self
                .keeper
                .table()
                .set_state(SessionState::Locked, |s| s.state == SessionState::Active)
                .sessions();
            for s in to_lock {
                self.keeper.lock(s, LockReason::Other);
            }
        }
        let limit = self.config.session.reverify_after_seconds;
        if limit > 0 {
            let now = self.clock.wall().unix_timestamp();
            let to_lock = self
                .keeper
                .table()
                .set_state(SessionState::Locked, |s| {
                    s.state == SessionState::Active && now - s.verified_at >= limit as i64
                })
                .sessions();
            for s in to_lock {
                self.keeper.lock(s, LockReason::Idle);
            }
        }
        self.record_held_denials();
        self.keeper.retry_due();
    }

    /// Waits until every session action handed to the keeper is done (shutdown, tests);
    /// false when `timeout` passed first.
    pub fn wait_for_session_actions(&self, timeout: Duration) -> bool {
        self.keeper.wait_idle(timeout)
    }

    /// How many sessions the table holds (active, locked or ending), for the daemon's status.
    pub fn session_count(&self) -> usize {
        self.keeper.table().all().len()
    }

    /// The smart-card service (pcscd) went away: no reader can say whether its card is still
    /// there until it is back. This is not a card removal (it used to be recorded as one on
    /// every reader), but it is treated as safely as one: the outage is recorded, logins
    /// waiting for their session are dropped, and every active session is locked, whatever
    /// `on_removal` says (fail closed: the card may be pulled during the outage and nobody
    /// would see it; a lock is undone by the card and PIN, an end would lose the operator's
    /// work for a pcscd restart). Returns how many sessions were handed to the keeper.
    pub fn reader_service_lost(&self, seen: Instant) -> usize {
        locked(&self.pending).clear();
        if let Err(AuditDown) = self.record(Entry::new(Event::ReaderServiceLost)) {
            tracing::error!("the loss of the smart-card service could not be recorded");
        }
        let to_lock = self
            .keeper
            .table()
            .set_state_unsaved(SessionState::Locked, |s| s.state == SessionState::Active);
        let n = to_lock.len();
        for s in to_lock {
            self.keeper
                .lock_since(s, LockReason::ReaderServiceLost, Some(seen));
        }
        if n > 0 {
            if let Err(e) = self.keeper.table().persist() {
                tracing::error!(error = %e, "the session table could not be saved; a restart will not know of these locks");
            }
        }
        crate::notify::status(&format!(
            "smart-card service (pcscd) lost: {n} session(s) locked until it is back"
        ));
        tracing::warn!(
            sessions_locked = n,
            "the smart-card service (pcscd) is gone: card presence cannot be known, open sessions are locked until their card and PIN unlock them"
        );
        n
    }

    /// The smart-card service is back. Nothing is unlocked by itself: the sessions locked at
    /// the loss stay locked until their card and PIN unlock them. The monitor's events that
    /// follow re-sync the readers: a card no longer in its reader is a removal then
    /// (`card_removed`, and the removal action, which with `on_removal = "end"` ends its
    /// session); a card still present is only re-announced.
    pub fn reader_service_back(&self) {
        if let Err(AuditDown) = self.record(Entry::new(Event::ReaderServiceBack)) {
            tracing::error!("the return of the smart-card service could not be recorded");
        }
        crate::notify::status(&crate::notify::ready_text(
            self.config.terminals.len(),
            self.session_count(),
        ));
        tracing::warn!("the smart-card service (pcscd) is back; sessions locked during the outage stay locked until their card and PIN unlock them");
    }
}
