//! Login: a card presented, then its PIN (art. 5.3, 6). The session it opens is in
//! `session_requests.rs`; the checks of the presented card before any PIN in `present.rs`.
//!
//! Every step decides and returns a [`Decision`]; the card exchange runs inside the reader's
//! transaction, and the records of what the card did (a VERIFY that spent a try included)
//! are committed in one batch after the card answered and the transaction ended.

use super::*;

/// What to tell the person when PC/SC failed: no card, or no reader (pcscd gone, reader
/// unplugged).
pub(super) fn transport_refusal(e: &TransportError) -> (DenyCode, Answer) {
    match e {
        TransportError::NoCard | TransportError::CardRemoved => (
            DenyCode::NoCard,
            denied(DenyCode::NoCard, "insert your operator card"),
        ),
        _ => (
            DenyCode::ReaderUnavailable,
            denied(
                DenyCode::ReaderUnavailable,
                "the card reader is not available",
            ),
        ),
    }
}

/// The back-off's answer while `wait` is not over (no record: the refusal that started it was
/// recorded).
fn still_waiting(wait: Duration, where_: &str) -> Result<(), Decision> {
    if wait.is_zero() {
        return Ok(());
    }
    Err(denied(
        DenyCode::RateLimited,
        format!(
            "too many wrong PINs {where_}; try again in {} s",
            wait.as_secs().max(1)
        ),
    )
    .into())
}

fn pin_blocked() -> Answer {
    denied(
        DenyCode::PinBlocked,
        "the PIN is blocked; ask the access manager to unblock the card",
    )
}

impl Engine {
    /// Checks the card in the terminal's reader without a PIN (PAM asks before prompting):
    /// a revoked, expired, foreign or wrongly lent card is refused before the PIN is typed.
    /// `uid` is the requesting local user (SO_PEERCRED): it is named in every record the
    /// request causes.
    pub fn probe(&self, uid: u32, terminal: &str, user: &str) -> Answer {
        self.card_request(uid, terminal, user, None)
    }

    /// Authenticates `user` on `terminal` with the card in its reader and the PIN.
    pub fn authenticate(&self, uid: u32, terminal: &str, user: &str, pin: &SecretString) -> Answer {
        self.card_request(uid, terminal, user, Some(pin))
    }

    fn card_request(
        &self,
        uid: u32,
        terminal: &str,
        user: &str,
        pin: Option<&SecretString>,
    ) -> Answer {
        let reader = match self.reader_of(terminal) {
            Ok(r) => r,
            Err(a) => return a,
        };
        let asker = Asker {
            uid,
            user,
            reader: &reader,
            terminal,
        };
        let decision = self.decide_card_request(&asker, terminal, pin);
        self.commit(decision)
    }

    fn decide_card_request(
        &self,
        asker: &Asker<'_>,
        terminal: &str,
        pin: Option<&SecretString>,
    ) -> Decision {
        let ran = self.on_card(
            asker,
            terminal,
            "logins are not allowed outside business hours",
            &mut |t, list| self.login_on_card(t, terminal, asker, pin, list),
        );
        match ran {
            Err(refused) => refused,
            Ok((d, None)) => d,
            // The login ran to its end; only the clean-up after it failed (the card or the
            // service left right after its last answer). Its records stand (the card did
            // what they say); a refusal is answered with what PC/SC said (the protocol layer
            // calls every loss "card removed"); a grant stands (its session still needs the
            // card at `open_session`).
            Ok((mut d, Some(e))) => {
                tracing::info!(reader = %asker.reader, error = %error_chain(&e), "the card exchange failed at the end of the login");
                if matches!(d.answer, Answer::Denied { .. }) {
                    d.answer = transport_refusal(&e).1;
                }
                d
            }
        }
    }

    /// What a login and a PIN change share: the gates before the card (business hours, the
    /// list in force, the terminal's back-off), then `operation` in one transaction on the
    /// terminal's card, its records handed to the audit writer as soon as the card is done
    /// (their fdatasync overlaps the re-select and the end of the transaction). `Err` is a
    /// refusal before or instead of the operation; `Ok` is the operation's decision, with the
    /// error of the transaction's ending when only that failed.
    pub(super) fn on_card(
        &self,
        asker: &Asker<'_>,
        terminal: &str,
        outside_hours: &str,
        operation: &mut dyn FnMut(&mut dyn CardTransport, &RevocationList) -> Decision,
    ) -> Result<(Decision, Option<TransportError>), Decision> {
        if self.outside_hours() {
            return Err(self.refuse_outside_hours(asker, outside_hours));
        }
        let list = match self.current_list() {
            Ok(l) => l,
            Err((code, answer)) => return Err(self.refuse_at_reader(asker, code, answer)),
        };
        self.check_terminal_backoff(terminal)?;
        let mut decision = None;
        let result = self.cards.exclusive(asker.reader, &mut |t| {
            decision = Some(operation(t, &list).submitted(&self.audit));
        });
        match (result, decision) {
            (Ok(()), Some(d)) => Ok((d, None)),
            (Err(e), Some(d)) => Ok((d, Some(e))),
            (Err(e), None) => {
                tracing::warn!(reader = %asker.reader, error = %error_chain(&e), "card operation failed");
                let (code, answer) = transport_refusal(&e);
                Err(self.refuse_at_reader(asker, code, answer))
            }
            (Ok(()), None) => {
                Err(denied(DenyCode::Internal, "the card operation did not run").into())
            }
        }
    }

    /// Refuses out of hours, before any PIN or request reaches the card. The record names the
    /// card in the reader (read without a PIN) when its certificate is signed by this office's
    /// issuer, so that the review can say whose card was tried out of hours; a card of any
    /// other issuer is not named (it could claim anyone's operator ID).
    fn refuse_outside_hours(&self, asker: &Asker<'_>, message: &str) -> Decision {
        let code = DenyCode::OutsideBusinessHours;
        let mut entry = asker.entry(Event::LoginDenied {
            reason: deny_reason(code),
        });
        let mut card = None;
        match self.look_at_card(asker.reader, false) {
            Ok(seen) => {
                if let Some(cert) = seen.cert.filter(|c| c.verify_issuer(&self.issuer).is_ok()) {
                    entry = entry
                        .card(cert.body.serial)
                        .operator(label(&cert.body.operator_id));
                    card = Some(cert.body.serial);
                }
            }
            Err(why) => {
                tracing::info!(reader = %asker.reader, %why, "out of hours: no card to name")
            }
        }
        self.refuse(asker, card, code, vec![entry], denied(code, message))
    }

    fn login_on_card(
        &self,
        transport: &mut dyn CardTransport,
        terminal: &str,
        asker: &Asker<'_>,
        pin: Option<&SecretString>,
        list: &RevocationList,
    ) -> Decision {
        let user = asker.user;
        let mut card = OperatorCard::new(transport);
        let cert = match self.present(&mut card, asker, list) {
            Ok(cert) => cert,
            Err(d) => return d,
        };
        let serial = cert.body.serial;
        let operator = label(&cert.body.operator_id);
        let who = |event| {
            asker
                .entry(event)
                .card(serial)
                .operator(operator.clone())
                .uid(asker.uid)
        };
        // Refusals before the PIN: gated (one user cannot flood the log or frame the card's
        // holder by probing with it).
        let refuse_with = |events: Vec<Event>, code: DenyCode, answer: Answer| {
            self.refuse_card(asker, serial, &who, events, code, answer)
        };
        let must_change_pin = match self.check_lent(&cert, asker, &refuse_with) {
            Ok(must) => must,
            Err(d) => return d,
        };
        // A locked session is unlocked only by the card that opened it.
        let serial_hex = serial.to_string();
        let locked_by_other = self.keeper.table().any(|s| {
            s.terminal == terminal
                && s.user == user
                && s.state == SessionState::Locked
                && s.serial != serial_hex
        });
        if locked_by_other {
            let code = DenyCode::OtherCard;
            return refuse_with(
                vec![],
                code,
                denied(
                    code,
                    "your session is locked; unlock it with the card that opened it",
                ),
            );
        }
        if let Err(d) = self.check_card_backoff(serial) {
            return d;
        }
        match pin {
            Some(pin) => {
                self.verify_and_grant(&mut card, cert, terminal, asker, pin, must_change_pin, &who)
            }
            None if matches!(card.pin_status(), Ok(Verification::Blocked)) => {
                refuse_with(vec![Event::PinBlocked], DenyCode::PinBlocked, pin_blocked())
            }
            None => Answer::Ready {
                operator: cert.body.operator_id.clone(),
                serial: Serial(serial.0),
            }
            .into(),
        }
    }

    /// Art. 5.3: the card is used only by the person it was lent to, and only while it is
    /// lent (a returned or revoked card is refused even before the list says so). Returns
    /// whether the register asks for a PIN change (read once per request).
    pub(super) fn check_lent(
        &self,
        cert: &Certificate,
        asker: &Asker<'_>,
        refusal: &dyn Fn(Vec<Event>, DenyCode, Answer) -> Decision,
    ) -> Result<bool, Decision> {
        let user = asker.user;
        let serial = cert.body.serial;
        let deny =
            |code: DenyCode, message: String| Err(refusal(vec![], code, denied(code, message)));
        // Art. 5.3: the card is used only by the person it was lent to.
        if self
            .config
            .operators
            .get(&cert.body.operator_id)
            .map(String::as_str)
            != Some(user)
        {
            return deny(DenyCode::WrongUser, "this card is not lent to you".into());
        }
        match self.register.read().map(|r| r.get(&serial).cloned()) {
            Ok(Some(entry)) => match entry.state {
                CardState::Returned { .. } => Err(refusal(
                    vec![Event::RevokedCardPresented {
                        reason: RevocationReason::Returned,
                    }],
                    DenyCode::Returned,
                    denied(
                        DenyCode::Returned,
                        "this card has been returned to the access manager",
                    ),
                )),
                CardState::Revoked { reason, .. } => Err(refusal(
                    vec![Event::RevokedCardPresented { reason }],
                    DenyCode::Revoked,
                    denied(
                        DenyCode::Revoked,
                        format!("this card has been revoked ({reason})"),
                    ),
                )),
                _ => Ok(entry.must_change_pin),
            },
            Ok(None) => Ok(false),
            Err(_) => deny(
                DenyCode::RegisterUnavailable,
                "the card register cannot be read".into(),
            ),
        }
    }

    /// The wrong-PIN back-off of a card, on top of the card's own counter.
    pub(super) fn check_card_backoff(&self, serial: CardSerial) -> Result<(), Decision> {
        let wait = locked(&self.card_backoff).wait(&serial, self.clock.monotonic());
        still_waiting(wait, "with this card")
    }

    /// The wrong-PIN back-off of a terminal.
    pub(super) fn check_terminal_backoff(&self, terminal: &str) -> Result<(), Decision> {
        let wait =
            locked(&self.terminal_backoff).wait(&terminal.to_owned(), self.clock.monotonic());
        still_waiting(wait, "on this terminal")
    }

    /// A wrong PIN: both back-offs count it.
    pub(super) fn wrong_pin_seen(&self, terminal: &str, serial: CardSerial) {
        let now = self.clock.monotonic();
        locked(&self.card_backoff).failure(serial, now);
        locked(&self.terminal_backoff).failure(terminal.to_owned(), now);
    }

    /// A right PIN: both back-offs start afresh.
    pub(super) fn right_pin_seen(&self, terminal: &str, serial: CardSerial) {
        locked(&self.card_backoff).success(&serial);
        locked(&self.terminal_backoff).success(&terminal.to_owned());
    }

    #[allow(clippy::too_many_arguments)]
    fn verify_and_grant(
        &self,
        card: &mut OperatorCard<&mut dyn CardTransport>,
        cert: Certificate,
        terminal: &str,
        asker: &Asker<'_>,
        pin: &SecretString,
        must_change_pin: bool,
        who: &dyn Fn(Event) -> Entry,
    ) -> Decision {
        let serial = cert.body.serial;
        let operator_id = cert.body.operator_id.clone();
        let role = cert.body.role;
        // The card answered: what it did is recorded, in the one batch of this login.
        let after = |events: Vec<Event>, answer: Answer| {
            Decision::recording(events.into_iter().map(who).collect(), answer)
        };
        let deny_after = |mut events: Vec<Event>, code: DenyCode, answer: Answer| {
            events.push(Event::LoginDenied {
                reason: deny_reason(code),
            });
            after(events, answer)
        };
        // No try was spent on the card: gated like the refusals before the PIN, or a loop of
        // requests with a blocked card (or a mistyped PIN) would write without end.
        let refuse_untried = |events: Vec<Event>, code: DenyCode, answer: Answer| {
            self.refuse_card(asker, serial, who, events, code, answer)
        };
        let e = match authenticate(card, cert, pin) {
            Ok(_) => {
                self.right_pin_seen(terminal, serial);
                // The card put back into a terminal whose session it locked by leaving: the
                // PIN unlocks that session, and the unlock is recorded as such (by the keeper,
                // once logind did it), not as a login: no session starts here. Recorded as a
                // login, every pull and unlock counted a login twice and left a "session"
                // that never ended in the review.
                let serial_hex = serial.to_string();
                let unlock = self.keeper.table().any(|s| {
                    s.terminal == terminal
                        && s.user == asker.user
                        && s.serial == serial_hex
                        && s.state == SessionState::Locked
                });
                let mut events = vec![
                    Event::PinVerified {
                        correct: true,
                        tries_left: None,
                    },
                    Event::CardAuthPassed,
                ];
                if !unlock {
                    events.push(Event::LoginGranted { role });
                }
                let mut d = after(
                    events,
                    Answer::Granted {
                        operator: operator_id.clone(),
                        serial: Serial(serial.0),
                        must_change_pin,
                    },
                );
                d.then = Some(Box::new(Then::Granted {
                    terminal: terminal.to_owned(),
                    user: asker.user.to_owned(),
                    serial,
                    operator_id,
                    must_change_pin,
                    unlock,
                }));
                return d;
            }
            Err(e) => e,
        };
        let code = login_error_code(&e);
        match e {
            LoginError::WrongPin { remaining } => {
                self.wrong_pin_seen(terminal, serial);
                let mut events = vec![Event::PinVerified {
                    correct: false,
                    tries_left: Some(remaining),
                }];
                let message = if remaining == 0 {
                    events.push(Event::PinBlocked);
                    "wrong PIN; the card is now blocked. Ask the access manager to unblock it"
                        .to_owned()
                } else {
                    format!("wrong PIN; {remaining} tries left")
                };
                deny_after(
                    events,
                    code,
                    denied_with_tries(code, Some(remaining), message),
                )
            }
            LoginError::PinBlocked => refuse_untried(vec![Event::PinBlocked], code, pin_blocked()),
            LoginError::MalformedPin(e) => refuse_untried(
                vec![],
                code,
                denied(code, format!("the PIN {e}; no try was used")),
            ),
            LoginError::CardAuthenticationFailed => deny_after(
                vec![
                    Event::PinVerified {
                        correct: true,
                        tries_left: None,
                    },
                    Event::CardAuthFailed {
                        reason: AuthFailure::BadSignature,
                    },
                ],
                code,
                denied(code, "the card could not prove it is genuine"),
            ),
            LoginError::CardRemoved => deny_after(
                vec![],
                code,
                denied(code, "the card was removed during login"),
            ),
            _ => deny_after(
                vec![Event::CardAuthFailed {
                    reason: AuthFailure::CardError,
                }],
                DenyCode::CardError,
                denied(DenyCode::CardError, "the card did not answer as expected"),
            ),
        }
    }

    /// After a grant's records are durable: the card holder's sessions on this terminal are
    /// verified now, a locked one is unlocked, and a login (not an `unlock`) waits for its
    /// `open_session`. An unlock opens no session: no `login_granted` was recorded for one.
    pub(super) fn after_grant(
        &self,
        terminal: &str,
        user: &str,
        serial: CardSerial,
        operator_id: &str,
        must_change_pin: bool,
        unlock: bool,
    ) {
        let now = self.clock.wall().unix_timestamp();
        let serial_hex = serial.to_string();
        let to_unlock = {
            let mut sessions = self.keeper.table();
            let touched =
                sessions.touch_unsaved(now, |s| s.terminal == terminal && s.serial == serial_hex);
            let to_unlock = sessions.set_state_unsaved(SessionState::Active, |s| {
                s.terminal == terminal && s.user == user && s.serial == serial_hex
            });
            // Written once, and only when a session changed (a first login changes none).
            if touched || !to_unlock.is_empty() {
                if let Err(e) = sessions.persist() {
                    tracing::error!(error = %e, "the session table could not be saved");
                }
            }
            to_unlock
        };
        // The keeper unlocks, checks that logind did, and records it (or that it failed).
        for s in to_unlock {
            self.keeper.unlock(s);
        }
        if unlock {
            return;
        }
        locked(&self.pending).insert(
            (terminal.to_owned(), user.to_owned()),
            PendingLogin {
                serial,
                operator_id: operator_id.to_owned(),
                must_change_pin,
                at: self.clock.monotonic(),
            },
        );
    }
}
