//! The daemon's decisions: login, PIN change, sessions, card removal, revocation.
//!
//! Data flows one way: a card event or a request → a decision → its audit records (durable
//! before anything else happens) → the session action or the answer. Every method here is
//! blocking (card I/O, fdatasync); the socket server runs them on tokio's blocking pool.
//!
//! Fail closed: when an audit record cannot be written, when the revocation list is stale
//! (by default) or unreadable, when the card goes away, the answer is "denied".

use crate::audit_sink::AuditSink;
use crate::cards::CardAccess;
use crate::config::{Config, RemovalAction, StalePolicy};
use crate::protocol::Answer;
use crate::ratelimit::Backoff;
use crate::register::{CardState, RegisterFile};
use crate::sessions::{Session, SessionState, SessionTable};

mod admin;
use cardgate_audit::record::{
    AuthFailure, CertRejection, DenyReason, EndReason, LockReason, PinRule,
};
use cardgate_audit::{Entry, Event, Label};
use cardgate_card::cert::{CardSerial, Certificate};
use cardgate_card::login::{authenticate, check_certificate, LoginError, LoginPolicy};
use cardgate_card::policy::{check_new_pin, PolicyError};
use cardgate_card::revocation::RevocationReason;
use cardgate_card::secret::SecretFormatError;
use cardgate_card::{
    IssuerPublicKey, OperatorCard, Pin, RevocationList, RevocationTracker, SecretString,
    Verification,
};
use cardgate_reader::{CardTransport, TransportError};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use time::{OffsetDateTime, UtcOffset};

/// How long a successful authentication may wait for its `open_session`.
pub const PENDING_LOGIN_TTL: Duration = Duration::from_secs(300);

/// The wall clock, injectable for tests of dates, business hours and staleness.
pub trait WallClock: Send + Sync {
    /// Now, UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemWallClock;

impl WallClock for SystemWallClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// What the daemon does to a login session (logind, through `loginctl`).
pub trait SessionActions: Send + Sync {
    /// Lock the session.
    fn lock(&self, session_id: &str) -> Result<(), String>;
    /// Unlock the session.
    fn unlock(&self, session_id: &str) -> Result<(), String>;
    /// End the session.
    fn terminate(&self, session_id: &str) -> Result<(), String>;
}

/// `loginctl lock-session|unlock-session|terminate-session ID`.
#[derive(Debug, Clone)]
pub struct Loginctl {
    /// The program.
    pub program: PathBuf,
}

impl Loginctl {
    fn run(&self, verb: &str, session_id: &str) -> Result<(), String> {
        let status = std::process::Command::new(&self.program)
            .arg(verb)
            .arg(session_id)
            .stdin(std::process::Stdio::null())
            .status()
            .map_err(|e| format!("{} {verb}: {e}", self.program.display()))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} {verb} {session_id}: {status}",
                self.program.display()
            ))
        }
    }
}

impl SessionActions for Loginctl {
    fn lock(&self, session_id: &str) -> Result<(), String> {
        self.run("lock-session", session_id)
    }
    fn unlock(&self, session_id: &str) -> Result<(), String> {
        self.run("unlock-session", session_id)
    }
    fn terminate(&self, session_id: &str) -> Result<(), String> {
        self.run("terminate-session", session_id)
    }
}

/// A record cannot be made durable: the decision is refused (fail closed).
#[derive(Debug)]
struct AuditDown;

#[derive(Debug, Clone)]
struct PendingLogin {
    serial: CardSerial,
    operator_id: String,
    must_change_pin: bool,
    at: Instant,
}

struct RevocationState {
    tracker: RevocationTracker,
    list: Option<Arc<RevocationList>>,
    file_stamp: Option<(std::time::SystemTime, u64)>,
}

/// A short, always-valid audit label from outside text (operator IDs come from cards).
pub fn label(text: &str) -> Label {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(64)
        .collect();
    Label::new(if clean.is_empty() {
        "-".to_owned()
    } else {
        clean
    })
    .unwrap_or_else(|_| Label::new("-").unwrap_or_else(|_| unreachable_label()))
}

fn unreachable_label() -> Label {
    // "?" is a valid label; this exists only so that no panic path is needed above.
    Label::new("?").unwrap_or_else(|_| unreachable_label())
}

fn denied(reason: &str, message: impl Into<String>) -> Answer {
    Answer::Denied {
        reason: reason.into(),
        tries_left: None,
        message: message.into(),
    }
}

fn audit_down() -> Answer {
    denied(
        "audit_unavailable",
        "the audit log cannot be written; logins are refused until it can",
    )
}

fn pin_rule(e: &PolicyError) -> Option<PinRule> {
    match e {
        PolicyError::Format(SecretFormatError::TooShort { .. }) => Some(PinRule::TooShort),
        PolicyError::Format(SecretFormatError::TooLong { .. }) => Some(PinRule::TooLong),
        PolicyError::Format(SecretFormatError::NoLetter) => Some(PinRule::NoLetter),
        PolicyError::Format(SecretFormatError::NoDigit) => Some(PinRule::NoDigit),
        PolicyError::Format(SecretFormatError::BadCharacter) => Some(PinRule::BadCharacter),
        PolicyError::SameAsCurrent => Some(PinRule::SameAsOld),
        _ => None,
    }
}

/// The daemon's state and decisions.
pub struct Engine {
    config: Config,
    offset: UtcOffset,
    issuer: IssuerPublicKey,
    cards: Arc<dyn CardAccess>,
    audit: Arc<AuditSink>,
    actions: Arc<dyn SessionActions>,
    clock: Arc<dyn WallClock>,
    register: RegisterFile,
    revocation: Mutex<RevocationState>,
    card_backoff: Mutex<Backoff<CardSerial>>,
    terminal_backoff: Mutex<Backoff<String>>,
    sessions: Mutex<SessionTable>,
    pending: Mutex<HashMap<(String, String), PendingLogin>>,
    register_stamp: Mutex<Option<(std::time::SystemTime, u64)>>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind, never a half-done
    // card operation; keep serving rather than wedge every terminal.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Everything the engine is built from.
pub struct EngineParts {
    /// The checked configuration.
    pub config: Config,
    /// The issuer key.
    pub issuer: IssuerPublicKey,
    /// The readers.
    pub cards: Arc<dyn CardAccess>,
    /// The audit log.
    pub audit: Arc<AuditSink>,
    /// logind.
    pub actions: Arc<dyn SessionActions>,
    /// The clock.
    pub clock: Arc<dyn WallClock>,
    /// The session table (loaded from the state directory in the daemon).
    pub sessions: SessionTable,
}

impl Engine {
    /// Builds the engine and loads the revocation list (a missing or bad list leaves none in
    /// force: logins are refused until a good one appears).
    pub fn new(parts: EngineParts) -> Result<Self, EngineError> {
        let tracker = load_tracker(&parts.config.daemon.state_dir)?;
        let offset =
            UtcOffset::from_whole_seconds(i32::from(parts.config.daemon.utc_offset_minutes) * 60)
                .unwrap_or(UtcOffset::UTC);
        let rl = &parts.config.rate_limit;
        let (free, base, max) = (
            rl.free_failures,
            Duration::from_millis(rl.base_delay_ms),
            Duration::from_millis(rl.max_delay_ms),
        );
        let engine = Engine {
            register: RegisterFile::new(&parts.config.daemon.state_dir),
            offset,
            issuer: parts.issuer,
            cards: parts.cards,
            audit: parts.audit,
            actions: parts.actions,
            clock: parts.clock,
            revocation: Mutex::new(RevocationState {
                tracker,
                list: None,
                file_stamp: None,
            }),
            card_backoff: Mutex::new(Backoff::new(free, base, max)),
            terminal_backoff: Mutex::new(Backoff::new(free, base, max)),
            sessions: Mutex::new(parts.sessions),
            pending: Mutex::new(HashMap::new()),
            register_stamp: Mutex::new(None),
            config: parts.config,
        };
        engine.reload_revocation_if_changed();
        Ok(engine)
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn record(&self, entry: Entry) -> Result<(), AuditDown> {
        self.audit.append(entry).map(|_| ()).map_err(|_| AuditDown)
    }

    fn today(&self) -> time::Date {
        self.clock.now().to_offset(self.offset).date()
    }

    /// The list in force, or the refusal when there is none or it is stale (and stale means
    /// refuse).
    fn current_list(&self) -> Result<Arc<RevocationList>, Answer> {
        let list = locked(&self.revocation).list.clone();
        let Some(list) = list else {
            return Err(denied(
                "revocation_list_unavailable",
                "no valid revocation list is in force; logins are refused",
            ));
        };
        if list.is_stale(self.clock.now().unix_timestamp())
            && self.config.revocation.stale == StalePolicy::Refuse
        {
            return Err(denied(
                "revocation_list_stale",
                "the revocation list is out of date; ask the access manager for a new one",
            ));
        }
        Ok(list)
    }

    /// Checks a request's terminal and returns its reader.
    fn reader_of(&self, terminal: &str) -> Result<String, Answer> {
        self.config
            .terminal(terminal)
            .map(|t| t.reader.clone())
            .ok_or_else(|| Answer::Error {
                message: format!("unknown terminal {terminal:?}"),
            })
    }

    fn outside_hours(&self) -> bool {
        self.config
            .business_hours
            .as_ref()
            .is_some_and(|h| !h.contains(self.clock.now(), self.offset))
    }

    /// Checks the card in the terminal's reader without a PIN (PAM asks before prompting):
    /// a revoked, expired, foreign or wrongly lent card is refused before the PIN is typed.
    pub fn probe(&self, terminal: &str, user: &str) -> Answer {
        self.card_request(terminal, user, None)
    }

    /// Authenticates `user` on `terminal` with the card in its reader and the PIN.
    pub fn authenticate(&self, terminal: &str, user: &str, pin: &SecretString) -> Answer {
        self.card_request(terminal, user, Some(pin))
    }

    fn card_request(&self, terminal: &str, user: &str, pin: Option<&SecretString>) -> Answer {
        let reader = match self.reader_of(terminal) {
            Ok(r) => r,
            Err(a) => return a,
        };
        let at_reader = |event| Entry::new(event).reader(label(&reader));
        let deny = |reason: DenyReason, answer: Answer| match self
            .record(at_reader(Event::LoginDenied { reason }))
        {
            Ok(()) => answer,
            Err(AuditDown) => audit_down(),
        };
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
        let wait = locked(&self.terminal_backoff).wait(&terminal.to_owned(), Instant::now());
        if !wait.is_zero() {
            return denied(
                "rate_limited",
                format!(
                    "too many wrong PINs on this terminal; try again in {} s",
                    wait.as_secs().max(1)
                ),
            );
        }
        let mut answer = None;
        let result = self.cards.exclusive(&reader, &mut |t| {
            answer = Some(self.login_on_card(t, terminal, &reader, user, pin, &list));
        });
        match (result, answer) {
            (Ok(()), Some(answer)) => answer,
            (Err(e), _) => {
                tracing::warn!(reader = %reader, error = %error_chain(&e), "card operation failed");
                let answer = match e {
                    TransportError::NoCard | TransportError::CardRemoved => {
                        denied("no_card", "insert your operator card")
                    }
                    _ => denied("reader_unavailable", "the card reader is not available"),
                };
                deny(DenyReason::CardRemoved, answer)
            }
            (Ok(()), None) => denied("internal", "the card operation did not run"),
        }
    }

    /// Step 1 of the contract's login: SELECT and the certificate checks, before any secret
    /// goes near the card. A refusal is recorded (naming the card and its holder when the
    /// certificate could be read: the review counts revoked and foreign cards per holder) and
    /// comes back as the answer.
    fn present(
        &self,
        card: &mut OperatorCard<&mut dyn CardTransport>,
        reader: &str,
        list: &RevocationList,
    ) -> Result<Certificate, Answer> {
        let base = Entry::new(Event::CardInserted).reader(label(reader));
        let cert = match card.select() {
            Ok(Some(cert)) => cert,
            Ok(None) => return Err(self.refuse_presented(&LoginError::NotPersonalised, base)),
            Err(e) => return Err(self.refuse_presented(&LoginError::from(e), base)),
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
                Err(self.refuse_presented(&e, named))
            }
        }
    }

    fn login_on_card(
        &self,
        transport: &mut dyn CardTransport,
        terminal: &str,
        reader: &str,
        user: &str,
        pin: Option<&SecretString>,
        list: &RevocationList,
    ) -> Answer {
        let mut card = OperatorCard::new(transport);
        let cert = match self.present(&mut card, reader, list) {
            Ok(cert) => cert,
            Err(answer) => return answer,
        };
        let base = |event| Entry::new(event).reader(label(reader));
        let serial = cert.body.serial;
        let operator = label(&cert.body.operator_id);
        let who = |event| base(event).card(serial).operator(operator.clone());
        let deny = |reason: DenyReason, answer: Answer| match self
            .record(who(Event::LoginDenied { reason }))
        {
            Ok(()) => answer,
            Err(AuditDown) => audit_down(),
        };
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
                if self
                    .record(who(Event::RevokedCardPresented {
                        reason: RevocationReason::Returned,
                    }))
                    .is_err()
                {
                    return audit_down();
                }
                return deny(
                    DenyReason::CardRevoked,
                    denied(
                        "returned",
                        "this card has been returned to the access manager",
                    ),
                );
            }
            Ok(Some(CardState::Revoked { reason, .. })) => {
                if self
                    .record(who(Event::RevokedCardPresented { reason }))
                    .is_err()
                {
                    return audit_down();
                }
                return deny(
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
        // A locked session is unlocked only by the card that opened it.
        let locked_by_other = locked(&self.sessions).all().into_iter().any(|s| {
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
        let wait = locked(&self.card_backoff).wait(&serial, Instant::now());
        if !wait.is_zero() {
            return denied(
                "rate_limited",
                format!(
                    "too many wrong PINs with this card; try again in {} s",
                    wait.as_secs().max(1)
                ),
            );
        }
        match pin {
            Some(pin) => self.verify_and_grant(&mut card, cert, terminal, user, pin, &who),
            // Tell a blocked card before anyone types a PIN (VERIFY without data spends no try).
            None if matches!(card.pin_status(), Ok(Verification::Blocked)) => {
                let answer = denied(
                    "pin_blocked",
                    "the PIN is blocked; ask the access manager to unblock the card",
                );
                match (
                    self.record(who(Event::PinBlocked)),
                    self.record(who(Event::LoginDenied {
                        reason: DenyReason::PinBlocked,
                    })),
                ) {
                    (Ok(()), Ok(())) => answer,
                    _ => audit_down(),
                }
            }
            None => Answer::Ready {
                operator: cert.body.operator_id.clone(),
                serial: serial.to_string(),
            },
        }
    }

    fn verify_and_grant(
        &self,
        card: &mut OperatorCard<&mut dyn CardTransport>,
        cert: Certificate,
        terminal: &str,
        user: &str,
        pin: &SecretString,
        who: &dyn Fn(Event) -> Entry,
    ) -> Answer {
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
                locked(&self.card_backoff).failure(serial, Instant::now());
                locked(&self.terminal_backoff).failure(terminal.to_owned(), Instant::now());
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
            Err(LoginError::PinBlocked) => deny_after(
                vec![Event::PinBlocked],
                DenyReason::PinBlocked,
                denied(
                    "pin_blocked",
                    "the PIN is blocked; ask the access manager to unblock the card",
                ),
            ),
            Err(LoginError::MalformedPin(e)) => deny_after(
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
    fn refuse_presented(&self, e: &LoginError, base: Entry) -> Answer {
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
        let denial = Entry {
            event: Event::LoginDenied { reason },
            ..base.clone()
        };
        let entries = event
            .into_iter()
            .map(|ev| Entry {
                event: ev,
                ..base.clone()
            })
            .chain([denial]);
        for entry in entries {
            if self.record(entry).is_err() {
                return audit_down();
            }
        }
        answer
    }

    fn after_grant(
        &self,
        terminal: &str,
        user: &str,
        serial: CardSerial,
        operator_id: &str,
        must_change_pin: bool,
    ) {
        let now = self.clock.now().unix_timestamp();
        let serial_hex = serial.to_string();
        let to_unlock = {
            let mut sessions = locked(&self.sessions);
            let _ = sessions.touch(now, |s| s.terminal == terminal && s.serial == serial_hex);
            sessions
                .set_state(SessionState::Active, |s| {
                    s.terminal == terminal && s.user == user && s.serial == serial_hex
                })
                .unwrap_or_default()
        };
        for s in to_unlock {
            let _ = self.actions.unlock(&s.session_id);
            let _ = self.record(
                Entry::new(Event::SessionUnlocked)
                    .reader(label(&s.reader))
                    .card(serial)
                    .operator(label(operator_id)),
            );
        }
        locked(&self.pending).insert(
            (terminal.to_owned(), user.to_owned()),
            PendingLogin {
                serial,
                operator_id: operator_id.to_owned(),
                must_change_pin,
                at: Instant::now(),
            },
        );
    }

    /// Registers a login session after a granted authentication (PAM `open_session`).
    pub fn open_session(&self, terminal: &str, user: &str, session_id: &str) -> Answer {
        let reader = match self.reader_of(terminal) {
            Ok(r) => r,
            Err(a) => return a,
        };
        let key = (terminal.to_owned(), user.to_owned());
        let pending = locked(&self.pending).get(&key).cloned();
        let Some(p) = pending.filter(|p| p.at.elapsed() < PENDING_LOGIN_TTL) else {
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
        let now = self.clock.now().unix_timestamp();
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
        };
        match locked(&self.sessions).open(session) {
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
        let owner = locked(&self.sessions)
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
        match locked(&self.sessions).close(session_id) {
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

    /// Changes the PIN of the card in the terminal's reader (PAM `chauthtok`, first use).
    pub fn change_pin(
        &self,
        terminal: &str,
        user: &str,
        old: &SecretString,
        new: &SecretString,
    ) -> Answer {
        let reader = match self.reader_of(terminal) {
            Ok(r) => r,
            Err(a) => return a,
        };
        let list = match self.current_list() {
            Ok(l) => l,
            Err(a) => return a,
        };
        let mut answer = None;
        let result = self.cards.exclusive(&reader, &mut |t| {
            answer = Some(self.change_pin_on_card(t, &reader, user, old, new, &list));
        });
        match (result, answer) {
            // When the card left right after its last answer, only the clean-up after the
            // change failed: the card did change the PIN, and the answer must say so.
            (_, Some(a)) => a,
            _ => denied("no_card", "insert your operator card"),
        }
    }

    fn change_pin_on_card(
        &self,
        transport: &mut dyn CardTransport,
        reader: &str,
        user: &str,
        old: &SecretString,
        new: &SecretString,
        list: &RevocationList,
    ) -> Answer {
        let mut card = OperatorCard::new(transport);
        let cert = match self.present(&mut card, reader, list) {
            Ok(cert) => cert,
            Err(answer) => return answer,
        };
        let base = |event| Entry::new(event).reader(label(reader));
        let serial = cert.body.serial;
        let who = |event| {
            base(event)
                .card(serial)
                .operator(label(&cert.body.operator_id))
        };
        if self
            .config
            .operators
            .get(&cert.body.operator_id)
            .map(String::as_str)
            != Some(user)
        {
            return denied("wrong_user", "this card is not lent to you");
        }
        let new_pin = match check_new_pin(new.expose(), Some(&cert.body.operator_id)) {
            Ok(p) => p,
            Err(e) => {
                if let Some(rule) = pin_rule(&e) {
                    if self
                        .record(who(Event::PinRefusedByPolicy { rule }))
                        .is_err()
                    {
                        return audit_down();
                    }
                } else if self
                    .record(who(Event::PinRefusedByPolicy {
                        rule: PinRule::BadCharacter,
                    }))
                    .is_err()
                {
                    return audit_down();
                }
                return denied("pin_policy", e.to_string());
            }
        };
        let old_pin = match Pin::try_from(old) {
            Ok(p) => p,
            Err(e) => {
                return denied(
                    "malformed_pin",
                    format!("the current PIN {e}; no try was used"),
                )
            }
        };
        if cardgate_card::ct_eq(&old_pin.to_wire()[..], &new_pin.to_wire()[..]) {
            let _ = self.record(who(Event::PinRefusedByPolicy {
                rule: PinRule::SameAsOld,
            }));
            return denied("pin_policy", PolicyError::SameAsCurrent.to_string());
        }
        match card.change_pin(&old_pin, &new_pin) {
            Ok(Verification::Verified) => {
                if self.record(who(Event::PinChanged)).is_err() {
                    return audit_down();
                }
                let _ = self.register.update(|r| {
                    if let Some(e) = r.get_mut(&serial) {
                        e.must_change_pin = false;
                    }
                });
                for p in locked(&self.pending)
                    .values_mut()
                    .filter(|p| p.serial == serial)
                {
                    p.must_change_pin = false;
                }
                Answer::Granted {
                    operator: cert.body.operator_id.clone(),
                    serial: serial.to_string(),
                    must_change_pin: false,
                }
            }
            Ok(Verification::Wrong { remaining }) => {
                let _ = self.record(who(Event::PinVerified {
                    correct: false,
                    tries_left: Some(remaining),
                }));
                Answer::Denied {
                    reason: "wrong_pin".into(),
                    tries_left: Some(remaining),
                    message: format!("wrong current PIN; {remaining} tries left"),
                }
            }
            Ok(Verification::Blocked) => denied(
                "pin_blocked",
                "the PIN is blocked; ask the access manager to unblock the card",
            ),
            Err(e) if e.is_card_gone() => denied(
                "card_removed",
                "the card was removed during the PIN change; if the new PIN is refused, the old one is still in force",
            ),
            Err(_) => denied("card_error", "the card refused the PIN change"),
        }
    }

    /// The card left `reader`: lock or end its sessions now (art. 6.2). The session action
    /// runs first and the records after it, so that the screen locks without waiting for
    /// the disk.
    pub fn card_removed(&self, reader: &str) {
        self.card_removed_since(reader, Instant::now());
    }

    /// [`Engine::card_removed`], timed from `seen`, the moment the removal event arrived.
    /// The lock (or end) runs before anything touches the disk: the session table and the
    /// audit records follow it. After a crash in between, `resync_sessions` locks again.
    pub fn card_removed_since(&self, reader: &str, seen: Instant) {
        locked(&self.pending).retain(|(terminal, _), _| {
            self.config
                .terminal(terminal)
                .is_none_or(|t| t.reader != reader)
        });
        let lock = self.config.session.on_removal == RemovalAction::Lock;
        let affected: Vec<Session> = locked(&self.sessions)
            .on_reader(reader)
            .into_iter()
            .filter(|s| !lock || s.state == SessionState::Active)
            .collect();
        for s in &affected {
            let _ = if lock {
                self.actions.lock(&s.session_id)
            } else {
                self.actions.terminate(&s.session_id)
            };
        }
        if !affected.is_empty() {
            tracing::info!(
                reader,
                sessions = affected.len(),
                micros = seen.elapsed().as_micros() as u64,
                "removal: session action done"
            );
        }
        {
            let mut sessions = locked(&self.sessions);
            let _ = if lock {
                sessions
                    .set_state(SessionState::Locked, |s| s.reader == reader)
                    .map(drop)
            } else {
                sessions.close_where(|s| s.reader == reader).map(drop)
            };
        }
        let _ = self.record(Entry::new(Event::CardRemoved).reader(label(reader)));
        for s in &affected {
            let event = if lock {
                Event::SessionLocked {
                    reason: LockReason::CardRemoved,
                }
            } else {
                Event::SessionEnded {
                    reason: EndReason::CardRemoved,
                }
            };
            let _ = self.record(Self::session_entry(s, event));
        }
    }

    /// A card was inserted into `reader`.
    pub fn card_inserted(&self, reader: &str) {
        let _ = self.record(Entry::new(Event::CardInserted).reader(label(reader)));
    }

    /// After a restart: sessions whose card left while the daemon was down are locked (or
    /// ended) now.
    pub fn resync_sessions(&self) {
        let readers: std::collections::BTreeSet<String> = locked(&self.sessions)
            .all()
            .into_iter()
            .map(|s| s.reader)
            .collect();
        for reader in readers {
            if !self.cards.card_present(&reader) {
                self.card_removed(&reader);
            }
        }
    }

    /// Records that the daemon started or stops.
    pub fn record_lifecycle(&self, event: Event) -> bool {
        self.record(Entry::new(event)).is_ok()
    }

    fn session_entry(s: &Session, event: Event) -> Entry {
        let mut e = Entry::new(event)
            .reader(label(&s.reader))
            .operator(label(&s.operator_id));
        if let Some(serial) = CardSerial::from_hex(&s.serial) {
            e = e.card(serial);
        }
        e
    }

    fn lock_session(&self, s: &Session, reason: LockReason) {
        // The action first: locking the screen must not wait for the disk.
        let _ = self.actions.lock(&s.session_id);
        let _ = self.record(Self::session_entry(s, Event::SessionLocked { reason }));
    }

    fn end_session(&self, s: &Session, reason: EndReason) {
        let _ = self.actions.terminate(&s.session_id);
        let _ = self.record(Self::session_entry(s, Event::SessionEnded { reason }));
    }

    /// Reloads the revocation list if its file changed; a newer list takes effect at once and
    /// ends the sessions of newly revoked cards. A torn, older or foreign file is refused and
    /// the list in force stays.
    pub fn reload_revocation_if_changed(&self) {
        let path = &self.config.revocation.list;
        let stamp = std::fs::metadata(path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())));
        {
            let state = locked(&self.revocation);
            if stamp.is_some() && stamp == state.file_stamp {
                return;
            }
        }
        let Ok(bytes) = read_capped(path) else { return };
        let accepted = {
            let mut state = locked(&self.revocation);
            state.file_stamp = stamp;
            let previous = state.list.as_ref().map(|l| l.version());
            match state.tracker.accept(&bytes, &self.issuer) {
                Ok(list) if Some(list.version()) != previous => {
                    // Remember it across restarts, so that an older list is never taken again.
                    if let Err(e) = save_accepted(&self.config.daemon.state_dir, &list) {
                        tracing::error!(error = %e, "cannot record the accepted revocation list version");
                    }
                    let list = Arc::new(list);
                    state.list = Some(list.clone());
                    Some(list)
                }
                _ => None,
            }
        };
        let Some(list) = accepted else { return };
        let _ = self.record(Entry::new(Event::RevocationListLoaded {
            version: list.version(),
            entries: list.len() as u64,
        }));
        let gone = locked(&self.sessions)
            .close_where(|s| {
                CardSerial::from_hex(&s.serial).is_some_and(|serial| list.lookup(&serial).is_some())
            })
            .unwrap_or_default();
        for s in gone {
            self.end_session(&s, EndReason::Revoked);
        }
    }

    /// Ends the sessions of cards the register says were returned or revoked. `cardgatectl
    /// card revoke|return` writes the register and the list together; the register is read
    /// here too so that a revocation ends sessions at once even before the list is re-read.
    pub fn end_sessions_of_withdrawn_cards(&self) {
        let path = self.register.path().to_owned();
        let stamp = std::fs::metadata(&path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())));
        {
            let mut last = locked(&self.register_stamp);
            if stamp.is_none() || stamp == *last {
                return;
            }
            *last = stamp;
        }
        let Ok(register) = self.register.read() else {
            return;
        };
        let withdrawn = |s: &Session| {
            CardSerial::from_hex(&s.serial)
                .and_then(|serial| register.get(&serial))
                .is_some_and(|e| !matches!(e.state, CardState::Lent))
        };
        let gone = locked(&self.sessions)
            .close_where(withdrawn)
            .unwrap_or_default();
        for s in gone {
            self.end_session(&s, EndReason::Revoked);
        }
    }

    /// Periodic duties: the list file, the register, business hours, re-verification.
    pub fn tick(&self) {
        self.reload_revocation_if_changed();
        self.end_sessions_of_withdrawn_cards();
        if self.outside_hours() {
            let to_lock = locked(&self.sessions)
                .set_state(SessionState::Locked, |s| s.state == SessionState::Active)
                .unwrap_or_default();
            for s in to_lock {
                self.lock_session(&s, LockReason::Other);
            }
        }
        let limit = self.config.session.reverify_after_seconds;
        if limit > 0 {
            let now = self.clock.now().unix_timestamp();
            let to_lock = locked(&self.sessions)
                .set_state(SessionState::Locked, |s| {
                    s.state == SessionState::Active && now - s.verified_at >= limit as i64
                })
                .unwrap_or_default();
            for s in to_lock {
                self.lock_session(&s, LockReason::Idle);
            }
        }
    }

    /// Every open session.
    pub fn sessions(&self) -> Vec<Session> {
        locked(&self.sessions).all()
    }

    /// The version of the list in force.
    pub fn revocation_version(&self) -> Option<u64> {
        locked(&self.revocation).list.as_ref().map(|l| l.version())
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

/// The file in the state directory that remembers the newest revocation list accepted.
pub const ACCEPTED_FILE: &str = "revocation.accepted";

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The record of the accepted revocation list is unreadable: refuse to start rather than
    /// risk accepting an older list (rollback).
    #[error("{path} is unreadable or malformed; refusing to start (remove it only if you know the newest list version)")]
    AcceptedState {
        /// The file.
        path: PathBuf,
    },
}

fn load_tracker(state_dir: &std::path::Path) -> Result<RevocationTracker, EngineError> {
    let path = state_dir.join(ACCEPTED_FILE);
    let bad = || EngineError::AcceptedState { path: path.clone() };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RevocationTracker::new()),
        Err(_) => return Err(bad()),
    };
    let mut parts = text.split_whitespace();
    let version: u64 = parts.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    let hex = parts
        .next()
        .filter(|h| h.len() == 64 && h.is_ascii())
        .ok_or_else(bad)?;
    let mut digest = [0u8; 32];
    for (i, b) in digest.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(RevocationTracker::resume(version, digest))
}

fn save_accepted(state_dir: &std::path::Path, list: &RevocationList) -> std::io::Result<()> {
    let hex: String = list.digest().iter().map(|b| format!("{b:02x}")).collect();
    crate::register::write_atomic(
        &state_dir.join(ACCEPTED_FILE),
        format!("{} {hex}\n", list.version()).as_bytes(),
        0o600,
    )
}

fn read_capped(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    let mut out = Vec::new();
    f.take(cardgate_card::revocation::MAX_FILE_LEN as u64 + 1)
        .read_to_end(&mut out)?;
    Ok(out)
}
