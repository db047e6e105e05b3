//! The one place a decision is carried out.
//!
//! A decision (login, PIN change) does not write, unlock or answer by itself: it returns a
//! [`Decision`], what it wants done, and [`Engine::commit`] does it in the one order the
//! design allows: the records become durable first, all of them in one batch (one
//! fdatasync); only then do the state changes and session actions run (the keeper checks
//! what logind did and records it); then the answer goes out. No record, no grant: when the
//! batch cannot be written, nothing else happens and the answer is `audit_unavailable`.
//!
//! The one exception is the removal lock (`removal.rs`): the screen locks first and the
//! removal is recorded after, so that the lock never waits for the disk.

use super::*;
use crate::audit_sink::PendingBatch;

/// What a decision wants done, in the order [`Engine::commit`] does it.
#[must_use = "a decision does nothing until it is committed"]
pub(super) struct Decision {
    /// Durable first, in one batch.
    pub records: Vec<Entry>,
    /// Then this, only when the records are durable.
    pub then: Option<Box<Then>>,
    /// Then the answer.
    pub answer: Answer,
    /// The records, already handed to the audit writer ([`Decision::submitted`]) while the
    /// card transaction ends; `commit` waits for them instead of writing `records`.
    pub pending: Option<Box<PendingBatch>>,
}

/// What follows a decision's records.
pub(super) enum Then {
    /// A login was granted: its sessions are marked verified, a locked one is unlocked, and
    /// the grant waits for its `open_session`.
    Granted {
        terminal: String,
        user: String,
        serial: CardSerial,
        operator_id: String,
        must_change_pin: bool,
        /// The PIN unlocked a locked session (no login was recorded, none waits for a
        /// session).
        unlock: bool,
    },
    /// The PIN was changed: the register and the pending logins stop asking for a change.
    PinChanged(CardSerial),
}

impl Decision {
    /// Only an answer: nothing to record (a refusal whose cause was recorded before, a
    /// request answered from memory).
    pub fn answer(answer: Answer) -> Self {
        Decision {
            records: Vec::new(),
            then: None,
            answer,
            pending: None,
        }
    }

    /// Records, then the answer.
    pub fn recording(records: Vec<Entry>, answer: Answer) -> Self {
        Decision {
            records,
            then: None,
            answer,
            pending: None,
        }
    }
}

impl Decision {
    /// Hands the records to the audit writer now, so that their fdatasync runs while the
    /// caller ends the card transaction (the re-select, the end, the disconnect: all after the
    /// card did what the records say). Nothing else of the decision happens before
    /// [`Engine::commit`] has seen them durable.
    pub fn submitted(mut self, audit: &AuditSink) -> Self {
        if self.pending.is_none() {
            self.pending = Some(Box::new(
                audit.submit_batch(std::mem::take(&mut self.records)),
            ));
        }
        self
    }
}

impl From<Answer> for Decision {
    fn from(answer: Answer) -> Self {
        Decision::answer(answer)
    }
}

impl Engine {
    /// Carries out `decision`: records (one durable batch), then what follows, then the
    /// answer.
    pub(super) fn commit(&self, decision: Decision) -> Answer {
        let Decision {
            records,
            then,
            answer,
            pending,
        } = decision;
        let written = match pending {
            // Records added after the batch was handed over (none today) are not lost: they
            // follow it, and the decision stands only if both are durable.
            Some(pending) => self
                .audit
                .finish_batch(*pending)
                .and_then(|_| self.audit.append_batch(records)),
            None => self.audit.append_batch(records),
        };
        if let Err(e) = written {
            tracing::error!(error = %e, "a decision's records could not be written; refused");
            return audit_down();
        }
        match then.map(|t| *t) {
            None => {}
            Some(Then::Granted {
                terminal,
                user,
                serial,
                operator_id,
                must_change_pin,
                unlock,
            }) => self.after_grant(
                &terminal,
                &user,
                serial,
                &operator_id,
                must_change_pin,
                unlock,
            ),
            Some(Then::PinChanged(serial)) => self.after_pin_change(serial),
        }
        answer
    }
}
