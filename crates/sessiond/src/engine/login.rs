//! Login: a card presented, then its PIN, then the session it opens (art. 5.3, 6).

use super::*;

/// What to tell the person when PC/SC failed: no card, or no reader (pcscd gone, reader
/// unplugged).
fn transport_refusal(e: &TransportError) -> Answer {
    match e {
        TransportError::NoCard | TransportError::CardRemoved => {
            denied("no_card", "insert your operator card")
        }
        _ => denied("reader_unavailable", "the card reader is not available"),
    }
}

/// The back-off's answer while `wait` is not over (no record: the refusal that started it was
/// recorded).
fn still_waiting(wait: Duration, where_: &str) -> Result<(), Answer> {
    if wait.is_zero() {
        return Ok(());
    }
    Err(denied(
        "rate_limited",
        format!(
            "too many wrong PINs {where_}; try again in {} s",
            wait.as_secs().max(1)
        ),
    ))
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
        };
        let deny =
            |reason: DenyReason, answer: Answer| self.refuse_at_reader(&asker, reason, answer);
        if self.outside_hours() {
            return deny(
                DenyReason::NotAuthorisedHere,
                denied(
                    "outside_business_hours",
                    "logins are not allowed outside business hours",
                ),
            );
        }
        let list = match self.current_list() {
            Ok(l) => l,
            Err(answer) => return deny(DenyReason::RevocationListStale, answer),
        };
        if let Err(answer) = self.check_terminal_backoff(terminal) {
            return answer;
        }
        let mut answer = None;
        let result = self.cards.exclusive(&reader, &mut |t| {
            answer = Some(self.login_on_card(t, terminal, &asker, pin, &list));
        });
        match (result, answer) {
            (Ok(()), Some(answer)) => answer,
            // The login ran to its end and its records are written; only the clean-up after
            // it failed (the card or the service left right after its last answer). One
            // answer, one record: a refusal already recorded is not recorded again, but is
            // answered with what PC/SC said (the protocol layer calls every loss "card
            // removed"); a recorded grant stands (its session still needs the card at
            // `open_session`).
            (Err(e), Some(answer)) => {
                tracing::info!(reader = %reader, error = %error_chain(&e), "the card exchange failed at the end of the login");
                match answer {
                    Answer::Denied { .. } => transport_refusal(&e),
                    other => other,
                }
            }
            (Err(e), None) => {
                tracing::warn!(reader = %reader, error = %error_chain(&e), "card operation failed");
                deny(DenyReason::CardRemoved, transport_refusal(&e))
            }
            (Ok(()), None) => denied("internal", "the card operation did not run"),
        }
    }

    /// Step 1 of the contract's login: SELECT and the certificate checks, before any secret
    /// goes near the card. A refusal is recorded (naming the card and its holder when the
    /// certificate could be read: the review counts revoked and foreign cards per holder) and
    /// comes back as the answer.
    pub(super) fn present(
        &self,
        card: &mut OperatorCard<&mut dyn CardTransport>,
        asker: &Asker<'_>,
        list: &RevocationList,
    ) -> Result<Certificate, Answer> {
        let base = Entry::new(Event::CardInserted).reader(label(asker.reader));
        let cert = match card.select() {
            Ok(Some(cert)) => cert,
            Ok(None) => {
                return Err(self.refuse_presented(asker, None, &LoginError::NotPersonalised, base))
            }
            Err(e) => return Err(self.refuse_presented(asker, None, &LoginError::from(e), base)),
        };
        let policy = LoginPolicy {
            issuer: &self.issuer,
            revocation: list,
            today: self.today(),
        };
        match check_certificate(&cert, &policy) {
            Ok(()) => Ok(cert),
            Err(e) => {
                let named = base
                    .card(cert.body.serial)
                    .operator(label(&cert.body.operator_id));
                Err(self.refuse_presented(asker, Some(cert.body.serial), &e, named))
            }
        }
    }

    fn login_on_card(
        &self,
        transport: &mut dyn CardTransport,
        terminal: &str,
        asker: &Asker<'_>,
        pin: Option<&SecretString>,
        list: &RevocationList,
    ) -> Answer {
        let user = asker.user;
        let mut card = OperatorCard::new(transport);
        let cert = match self.present(&mut card, asker, list) {
            Ok(cert) => cert,
            Err(answer) => return answer,
        };
        let base = |event| Entry::new(event).reader(label(asker.reader));
        let serial = cert.body.serial;
        let operator = label(&cert.body.operator_id);
        let who = |event| {
            base(event)
                .card(serial)
                .operator(operator.clone())
                .uid(asker.uid)
        };
        // Refusals before the PIN: gated (one user cannot flood the log or frame the card's
        // holder by probing with it).
        let refuse_with = |events: Vec<Event>, reason: DenyReason, answer: Answer| {
            self.refuse_card(asker, serial, &who, events, reason, answer)
        };
        let deny = |reason: DenyReason, answer: Answer| refuse_with(vec![], reason, answer);
        if let Err(answer) = self.check_lent(&cert, asker, &refuse_with) {
            return answer;
        }
        // A locked session is unlocked only by the card that opened it.
        let locked_by_other = self.keeper.table().all().into_iter().any(|s| {
            s.terminal == terminal
                && s.user == user
                && s.state == SessionState::Locked
                && s.serial != serial.to_string()
        });
        if locked_by_other {
            return deny(
                DenyReason::NotAuthorisedHere,
                denied(
                    "other_card",
                    "your session is locked; unlock it with the card that opened it",
                ),
            );
        }
        if let Err(answer) = self.check_card_backoff(serial) {
            return answer;
        }
        match pin {
            Some(pin) => self.verify_and_grant(&mut card, cert, terminal, asker, pin, &who),
            None if matches!(card.pin_status(), Ok(Verification::Blocked)) => refuse_with(
                vec![Event::PinBlocked],
                DenyReason::PinBlocked,
                denied(
                    "pin_blocked",
                    "the PIN is blocked; ask the access manager to unblock the card",
                ),
            ),
            None => Answer::Ready {
                operator: cert.body.operator_id.clone(),
                serial: serial.to_string(),
            },
        }
    }

    /// Art. 5.3: the card is used only by the person it was lent to, and only while it is
    /// lent (a returned or revoked card is refused even before the list says so).
    pub(super) fn check_lent(
        &self,
        cert: &Certificate,
        asker: &Asker<'_>,
        refusal: &dyn Fn(Vec<Event>, DenyReason, Answer) -> Answer,
    ) -> Result<(), Answer> {
        let user = asker.user;
        let serial = cert.body.serial;
        let deny = |reason: DenyReason, answer: Answer| Err(refusal(vec![], reason, answer));
        let refuse_with = |events, reason, answer| Err(refusal(events, reason, answer));
        // Art. 5.3: the card is used only by the person it was lent to.
        if self
            .config
            .operators
            .get(&cert.body.operator_id)
            .map(String::as_str)
            != Some(user)
        {
            return deny(
                DenyReason::NotAuthorisedHere,
                denied("wrong_user", "this card is not lent to you"),
            );
        }
        match self
            .register
            .read()
            .map(|r| r.get(&serial).map(|e| e.state))
        {
            Ok(Some(CardState::Returned { .. })) => {
                return refuse_with(
                    vec![Event::RevokedCardPresented {
                        reason: RevocationReason::Returned,
                    }],
                    DenyReason::CardRevoked,
                    denied(
                        "returned",
                        "this card has been returned to the access manager",
                    ),
                );
            }
            Ok(Some(CardState::Revoked { reason, .. })) => {
                return refuse_with(
                    vec![Event::RevokedCardPresented { reason }],
                    DenyReason::CardRevoked,
                    denied("revoked", format!("this card has been revoked ({reason})")),
                );
            }
            Ok(_) => {}
            Err(_) => {
                return deny(
                    DenyReason::Other,
                    denied("register_unavailable", "the card register cannot be read"),
                )
            }
        }
        Ok(())
    }

    /// The wrong-PIN back-off of a card, on top of the card's own counter.
    pub(super) fn check_card_backoff(&self, serial: CardSerial) -> Result<(), Answer> {
        let wait = locked(&self.card_backoff).wait(&serial, self.clock.monotonic());
        still_waiting(wait, "with this card")
    }

    /// The wrong-PIN back-off of a terminal.
    pub(super) fn check_terminal_backoff(&self, terminal: &str) -> Result<(), Answer> {
        let wait =
            locked(&self.terminal_backoff).wait(&terminal.to_owned(), self.clock.monotonic());
        still_waiting(wait, "on this terminal")
    }

    /// A wrong PIN: both back-offs count it.
    pub(super) fn wrong_pin_seen(&self, terminal: &str, serial: CardSerial) {
        locked(&self.card_backoff).failure(serial, self.clock.monotonic());
        locked(&self.terminal_backoff).failure(terminal.to_owned(), self.clock.monotonic());
    }

    fn verify_and_grant(
        &self,
        card: &mut OperatorCard<&mut dyn CardTransport>,
        cert: Certificate,
        terminal: &str,
        asker: &Asker<'_>,
        pin: &SecretString,
        who: &dyn Fn(Event) -> Entry,
    ) -> Answer {
        let user = asker.user;
        let serial = cert.body.serial;
        let operator_id = cert.body.operator_id.clone();
        let role = cert.body.role;
        let deny_after = |events: Vec<Event>, reason: DenyReason, answer: Answer| {
            for e in events.into_iter().chain([Event::LoginDenied { reason }]) {
                if self.record(who(e)).is_err() {
                    return audit_down();
                }
            }
            answer
        };
        // No try was spent on the card: gated like the refusals before the PIN, or a loop of
        // requests with a blocked card (or a mistyped PIN) would write without end.
        let refuse_untried = |events: Vec<Event>, reason: DenyReason, answer: Answer| {
            self.refuse_card(asker, serial, who, events, reason, answer)
        };
        match authenticate(card, cert, pin) {
            Ok(_) => {
                locked(&self.card_backoff).success(&serial);
                locked(&self.terminal_backoff).success(&terminal.to_owned());
                for e in [
                    Event::PinVerified {
                        correct: true,
                        tries_left: None,
                    },
                    Event::CardAuthPassed,
                    Event::LoginGranted { role },
                ] {
                    if self.record(who(e)).is_err() {
                        return audit_down();
                    }
                }
                let must_change_pin = self
                    .register
                    .read()
                    .ok()
                    .and_then(|r| r.get(&serial).map(|e| e.must_change_pin))
                    .unwrap_or(false);
                self.after_grant(terminal, user, serial, &operator_id, must_change_pin);
                Answer::Granted {
                    operator: operator_id,
                    serial: serial.to_string(),
                    must_change_pin,
                }
            }
            Err(LoginError::WrongPin { remaining }) => {
                self.wrong_pin_seen(terminal, serial);
                let mut events = vec![Event::PinVerified {
                    correct: false,
                    tries_left: Some(remaining),
                }];
                if remaining == 0 {
                    events.push(Event::PinBlocked);
                }
                let message = if remaining == 0 {
                    "wrong PIN; the card is now blocked. Ask the access manager to unblock it"
                        .to_owned()
                } else {
                    format!("wrong PIN; {remaining} tries left")
                };
                let answer = Answer::Denied {
                    reason: if remaining == 0 {
                        "pin_blocked"
                    } else {
                        "wrong_pin"
                    }
                    .into(),
                    tries_left: Some(remaining),
                    message,
                };
                deny_after(
                    events,
                    if remaining == 0 {
                        DenyReason::PinBlocked
                    } else {
                        DenyReason::WrongPin
                    },
                    answer,
                )
            }
            Err(LoginError::PinBlocked) => refuse_untried(
                vec![Event::PinBlocked],
                DenyReason::PinBlocked,
                denied(
                    "pin_blocked",
                    "the PIN is blocked; ask the access manager to unblock the card",
                ),
            ),
            Err(LoginError::MalformedPin(e)) => refuse_untried(
                vec![],
                DenyReason::WrongPin,
                denied("malformed_pin", format!("the PIN {e}; no try was used")),
            ),
            Err(LoginError::CardAuthenticationFailed) => deny_after(
                vec![
                    Event::PinVerified {
                        correct: true,
                        tries_left: None,
                    },
                    Event::CardAuthFailed {
                        reason: AuthFailure::BadSignature,
                    },
                ],
                DenyReason::CardAuthenticationFailed,
                denied(
                    "card_authentication_failed",
                    "the card could not prove it is genuine",
                ),
            ),
            Err(LoginError::CardRemoved) => deny_after(
                vec![],
                DenyReason::CardRemoved,
                denied("card_removed", "the card was removed during login"),
            ),
            Err(_) => deny_after(
                vec![Event::CardAuthFailed {
                    reason: AuthFailure::CardError,
                }],
                DenyReason::Other,
                denied("card_error", "the card did not answer as expected"),
            ),
        }
    }

    /// Records why a presented card was refused before any PIN, and answers.
    fn refuse_presented(
        &self,
        asker: &Asker<'_>,
        card: Option<CardSerial>,
        e: &LoginError,
        base: Entry,
    ) -> Answer {
        let (event, answer) = match e {
            LoginError::Revoked { reason, .. } => (
                Some(Event::RevokedCardPresented { reason: *reason }),
                denied("revoked", format!("this card has been revoked ({reason})")),
            ),
            LoginError::Expired { valid_until } => (
                Some(Event::CertificateRejected {
                    reason: CertRejection::Expired,
                }),
                denied("expired", format!("this card expired on {valid_until}")),
            ),
            LoginError::NotYetValid { valid_from } => (
                Some(Event::CertificateRejected {
                    reason: CertRejection::NotYetValid,
                }),
                denied(
                    "not_yet_valid",
                    format!("this card is not valid before {valid_from}"),
                ),
            ),
            LoginError::UnknownIssuer => (
                Some(Event::CertificateRejected {
                    reason: CertRejection::UnknownIssuer,
                }),
                denied("unknown_issuer", "this card was not issued for this office"),
            ),
            LoginError::BadCertificate(_) => (
                Some(Event::CertificateRejected {
                    reason: CertRejection::BadSignature,
                }),
                denied("bad_certificate", "this card's certificate is invalid"),
            ),
            LoginError::NotOperatorCard | LoginError::NotPersonalised => (
                None,
                denied("not_operator_card", "this is not an operator card"),
            ),
            LoginError::CardRemoved => (
                None,
                denied("card_removed", "the card was removed during login"),
            ),
            _ => (
                None,
                denied("card_error", "the card did not answer as expected"),
            ),
        };
        let reason = match e {
            LoginError::Revoked { .. } => DenyReason::CardRevoked,
            LoginError::CardRemoved => DenyReason::CardRemoved,
            LoginError::Expired { .. }
            | LoginError::NotYetValid { .. }
            | LoginError::UnknownIssuer
            | LoginError::BadCertificate(_) => DenyReason::CertificateRejected,
            _ => DenyReason::Other,
        };
        let entries = event
            .into_iter()
            .chain([Event::LoginDenied { reason }])
            .map(|ev| Entry {
                event: ev,
                ..base.clone()
            })
            .collect();
        self.refuse(asker, card, reason, entries, answer)
    }

    fn after_grant(
        &self,
        terminal: &str,
        user: &str,
        serial: CardSerial,
        operator_id: &str,
        must_change_pin: bool,
    ) {
        let now = self.clock.wall().unix_timestamp();
        let serial_hex = serial.to_string();
        let to_unlock = {
            let mut sessions = self.keeper.table();
            if let Err(e) =
                sessions.touch(now, |s| s.terminal == terminal && s.serial == serial_hex)
            {
                tracing::error!(error = %e, "the session table could not be saved");
            }
            sessions
                .set_state(SessionState::Active, |s| {
                    s.terminal == terminal && s.user == user && s.serial == serial_hex
                })
                .sessions()
        };
        // The keeper unlocks, checks that logind did, and records it (or that it failed).
        for s in to_unlock {
            self.keeper.unlock(s);
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
                "bad_session_id",
                "the session ID is not a logind session ID; is pam_systemd in the session stack?",
            );
        }
        let key = (terminal.to_owned(), user.to_owned());
        let pending = locked(&self.pending).get(&key).cloned();
        let Some(p) = pending
            .filter(|p| self.clock.monotonic().saturating_duration_since(p.at) < PENDING_LOGIN_TTL)
        else {
            return denied(
                "not_authenticated",
                "authenticate with the operator card first",
            );
        };
        if p.must_change_pin {
            return denied(
                "must_change_pin",
                "change the initial PIN before the first session",
            );
        }
        if !self.cards.card_present(&reader) {
            return denied("no_card", "the card left the reader");
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
                serial: p.serial.to_string(),
                must_change_pin: false,
            },
            Err(e) => Answer::Error {
                message: format!("cannot record the session: {e}"),
            },
        }
    }

    /// Ends a session (PAM `close_session`).
    pub fn close_session(&self, user: &str, session_id: &str) -> Answer {
        let owner = self
            .keeper
            .table()
            .all()
            .into_iter()
            .find(|s| s.session_id == session_id)
            .map(|s| s.user);
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
                let mut entry = Entry::new(Event::SessionEnded {
                    reason: EndReason::Logout,
                })
                .reader(label(&s.reader))
                .operator(label(&s.operator_id));
                if let Some(serial) = CardSerial::from_hex(&s.serial) {
                    entry = entry.card(serial);
                }
                match self.record(entry) {
                    Ok(()) => Answer::Granted {
                        operator: s.operator_id,
                        serial: s.serial,
                        must_change_pin: false,
                    },
                    Err(AuditDown) => audit_down(),
                }
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
