//! The login session PAM opens after a granted authentication, and its end (PAM
//! `open_session`, `close_session`).

use super::*;

impl Engine {
    /// Registers a login session after a granted authentication (PAM `open_session`).
    pub fn open_session(&self, terminal: &str, user: &str, session_id: &str) -> Answer {
        let reader = match self.reader_of(terminal) {
            Ok(r) => r,
            Err(a) => return a,
        };
        // What logind calls a session, nothing else: a TTY name or an option would make the
        // removal lock act on nothing, or on something else.
        if !crate::session_actions::valid_session_id(session_id) {
            return denied(
                DenyCode::BadSessionId,
                "the session ID is not a logind session ID; is pam_systemd in the session stack?",
            );
        }
        let key = (terminal.to_owned(), user.to_owned());
        let pending = locked(&self.pending).get(&key).cloned();
        let Some(p) = pending
            .filter(|p| self.clock.monotonic().saturating_duration_since(p.at) < PENDING_LOGIN_TTL)
        else {
            return denied(
                DenyCode::NotAuthenticated,
                "authenticate with the operator card first",
            );
        };
        if p.must_change_pin {
            return denied(
                DenyCode::MustChangePin,
                "change the initial PIN before the first session",
            );
        }
        if !self.cards.card_present(&reader) {
            return denied(DenyCode::NoCard, "the card left the reader");
        }
        locked(&self.pending).remove(&key);
        let now = self.clock.wall().unix_timestamp();
        let session = Session {
            session_id: session_id.to_owned(),
            terminal: terminal.to_owned(),
            reader,
            user: user.to_owned(),
            operator_id: p.operator_id.clone(),
            serial: p.serial.to_string(),
            opened_at: now,
            verified_at: now,
            state: SessionState::Active,
            end_reason: None,
            boot_id: self.boot_id.clone(),
        };
        match self.keeper.table().open(session) {
            Ok(()) => Answer::Granted {
                operator: p.operator_id,
                serial: Serial(p.serial.0),
                must_change_pin: false,
            },
            Err(e) => Answer::Error {
                message: format!("cannot record the session: {e}"),
            },
        }
    }

    /// Ends a session (PAM `close_session`).
    pub fn close_session(&self, user: &str, session_id: &str) -> Answer {
        let owner = self.keeper.table().user_of(session_id);
        match owner {
            None => {
                return Answer::Error {
                    message: "no such session".into(),
                }
            }
            Some(owner) if owner != user => {
                return Answer::Error {
                    message: "that session belongs to another user".into(),
                }
            }
            Some(_) => {}
        }
        let closed = self.keeper.table().close(session_id);
        match closed {
            Ok(Some(s)) => {
                let entry = crate::session_actions::session_entry(
                    &s,
                    Event::SessionEnded {
                        reason: EndReason::Logout,
                        session_type: None,
                        logind_state: None,
                    },
                );
                let serial = CardSerial::from_hex(&s.serial);
                // The session table holds what this daemon wrote; a serial it cannot read back
                // still ends the session (and is recorded), and is answered as an error.
                let answer = match serial {
                    Some(serial) => Answer::Granted {
                        operator: s.operator_id,
                        serial: Serial(serial.0),
                        must_change_pin: false,
                    },
                    None => Answer::error(format!(
                        "session ended; its card serial {:?} is unreadable",
                        s.serial
                    )),
                };
                self.commit(Decision::recording(vec![entry], answer))
            }
            Ok(None) => Answer::Error {
                message: "no such session".into(),
            },
            Err(e) => Answer::Error {
                message: format!("cannot record the session end: {e}"),
            },
        }
    }
}
