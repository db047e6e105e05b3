//! Administrative requests from `cardgatectl` on the admin socket: what the access manager
//! and the administrator did, recorded and attributed to the caller's uid.
//!
//! A member of the admin group can send any request, but the records that the review reasons
//! from (`card_issued` clears a "use after return", `card_returned` and `card_revoked` start
//! one, `pin_unblocked` explains a PIN that works again) are written only when the daemon
//! sees the operation's own evidence, which a member of the group who is not root cannot make:
//!
//! | record | evidence |
//! | --- | --- |
//! | `card_issued` | the access manager's card is in the named manager reader (issuer-signed, role `manager`, not revoked, not withdrawn), or this is the bootstrap (a manager card, while the register lends no other); the card in the named reader carries a certificate (read without a PIN) for that serial, operator and role, signed by the office's issuer key; the root-owned register lists the card as lent to that operator in that role; the revocation list in force does not list it |
//! | `card_returned` | the issuer-signed revocation list file lists the serial with reason `returned`; the register, if it lists the card, says returned |
//! | `card_revoked` | the list file lists the serial with that reason; the register, if it lists the card, says revoked for that reason |
//! | `pin_unblocked` | the access manager's card is in the named manager reader, as for `card_issued`; the card in the named reader carries an issuer-signed certificate for that serial and its PIN is not blocked; the register does not list the card as withdrawn, and if it lists it, it says the new PIN must be changed |
//! | `puk_rejected`, `puk_blocked` | the card in the named reader is that card (or blank, when no serial is given) |
//! | `manager_refused` | the card in the named reader is the card named, when one is |
//!
//! `cardgatectl` logs the manager's card in, PIN and all, before it acts; the daemon cannot
//! see the PIN, so it checks that card's presence and certificate, and names it in `by`.
//!
//! Each time the register or the list gives for the operation (lent, unblocked, returned,
//! revoked) must also be within [`FRESH_SECONDS`] of now: a claim replayed later about a real
//! but old operation is refused as well.
//!
//! A claim without its evidence is refused with an error naming the serial and a warning in
//! the daemon's log, and nothing is recorded. A PUK refusal is a record against the caller
//! (`by` names them), so it cannot hide anything; its check only keeps the card named right.

use super::{audit_down, label, read_capped, Engine};
use crate::register::CardState;
use cardgate_audit::record::DenyReason;
use cardgate_audit::{Entry, Event, Label, NoteKind, Text};
use cardgate_card::cert::{CardSerial, Certificate, Role};
use cardgate_card::revocation::RevocationReason;
use cardgate_card::{OperatorCard, RevocationList, Verification};
use cardgate_protocol as wire;
use cardgate_protocol::{AdminRequest, Answer};

/// How recent the register's (and the list's) time of an operation must be for the daemon
/// to record it: `cardgatectl` asks within milliseconds of the operation, so a claim about
/// an old one is a replay, refused.
pub const FRESH_SECONDS: i64 = 600;

/// What the card in a reader showed, read without any secret.
pub(super) struct CardSeen {
    /// The certificate, or none on a blank card.
    pub(super) cert: Option<Certificate>,
    /// The PIN's state, when it was asked for.
    pub(super) pin: Option<Verification>,
}

/// The wire's serial, as the card crate names it.
/// How a record names the local user who asked: `uid 1001 (yamada)`.
pub(super) fn caller(uid: u32, user: Option<&str>) -> String {
    match user {
        Some(name) => format!("uid {uid} ({name})"),
        None => format!("uid {uid}"),
    }
}

pub(super) fn card_serial(serial: wire::Serial) -> CardSerial {
    CardSerial(serial.0)
}

/// The wire's role, as the card crate names it.
pub(super) fn card_role(role: wire::Role) -> Role {
    match role {
        wire::Role::Operator => Role::Operator,
        wire::Role::Manager => Role::AccessManager,
    }
}

/// The wire's revocation reason, as the card crate names it.
fn revocation_reason(reason: wire::RevocationReason) -> RevocationReason {
    match reason {
        wire::RevocationReason::Lost => RevocationReason::Lost,
        wire::RevocationReason::Stolen => RevocationReason::Stolen,
        wire::RevocationReason::Returned => RevocationReason::Returned,
        wire::RevocationReason::Transferred => RevocationReason::Transferred,
        wire::RevocationReason::Damaged => RevocationReason::Damaged,
        wire::RevocationReason::Other => RevocationReason::Other,
    }
}

/// The wire's note kind, as the audit names it.
fn note_kind(kind: wire::NoteKind) -> NoteKind {
    match kind {
        wire::NoteKind::RoomEntry => NoteKind::RoomEntry,
        wire::NoteKind::Media => NoteKind::Media,
        wire::NoteKind::ResidentCard => NoteKind::ResidentCard,
        wire::NoteKind::Other => NoteKind::Other,
    }
}

/// Why `cardgatectl` refused a manager's card, as the audit names it.
fn manager_refusal(reason: wire::ManagerRefusal) -> DenyReason {
    match reason {
        wire::ManagerRefusal::CertificateRejected => DenyReason::CertificateRejected,
        wire::ManagerRefusal::CardRevoked => DenyReason::CardRevoked,
        wire::ManagerRefusal::RevocationListStale => DenyReason::RevocationListStale,
        wire::ManagerRefusal::WrongPin => DenyReason::WrongPin,
        wire::ManagerRefusal::PinBlocked => DenyReason::PinBlocked,
        wire::ManagerRefusal::CardAuthenticationFailed => DenyReason::CardAuthenticationFailed,
        wire::ManagerRefusal::NotAuthorisedHere => DenyReason::NotAuthorisedHere,
        wire::ManagerRefusal::CardRemoved => DenyReason::CardRemoved,
        wire::ManagerRefusal::Other => DenyReason::Other,
    }
}

impl Engine {
    /// Records an administrative action, attributed to the caller's uid (SO_PEERCRED), once
    /// its evidence is seen (see the module documentation).
    pub fn admin_record(&self, uid: u32, user: Option<&str>, request: AdminRequest) -> Answer {
        let caller = caller(uid, user);
        let by = label(&caller);
        let bad = |what: &str| Answer::Error {
            message: format!("invalid {what}"),
        };
        let refuse = |op: &str, serial: &dyn std::fmt::Display, why: String| {
            tracing::warn!(
                uid,
                op,
                serial = %serial,
                reason = %why,
                "admin record refused: the operation's evidence is missing"
            );
            Answer::Error {
                message: format!("{op} for card {serial} refused: {why}; nothing was recorded"),
            }
        };
        let entry = match request {
            AdminRequest::CardIssued {
                serial,
                operator,
                role,
                reader,
                manager,
                manager_reader,
            } => {
                let (serial, role) = (card_serial(serial), card_role(role));
                let by = match self.authorised_by(
                    &caller,
                    manager,
                    manager_reader,
                    Some((serial, role)),
                ) {
                    Ok(by) => by,
                    Err(why) => return refuse("card_issued", &serial, why),
                };
                if let Err(why) = self.evidence_of_issue(serial, &operator, role, &reader) {
                    return refuse("card_issued", &serial, why);
                }
                Entry::new(Event::CardIssued { by, role })
                    .card(serial)
                    .operator(label(&operator))
                    .reader(label(&reader))
            }
            AdminRequest::PinUnblocked {
                serial,
                reader,
                manager,
                manager_reader,
            } => {
                let serial = card_serial(serial);
                let by = match self.authorised_by(&caller, manager, manager_reader, None) {
                    Ok(by) => by,
                    Err(why) => return refuse("pin_unblocked", &serial, why),
                };
                let cert = match self.evidence_of_unblock(serial, &reader) {
                    Ok(cert) => cert,
                    Err(why) => return refuse("pin_unblocked", &serial, why),
                };
                Entry::new(Event::PinUnblocked { by: Some(by) })
                    .card(serial)
                    .operator(label(&cert.body.operator_id))
                    .reader(label(&reader))
            }
            AdminRequest::CardReturned { serial } => {
                let serial = card_serial(serial);
                if let Err(why) = self.evidence_of_withdrawal(serial, RevocationReason::Returned) {
                    return refuse("card_returned", &serial, why);
                }
                Entry::new(Event::CardReturned { by }).card(serial)
            }
            AdminRequest::CardRevoked { serial, reason } => {
                let serial = card_serial(serial);
                let reason = revocation_reason(reason);
                if let Err(why) = self.evidence_of_withdrawal(serial, reason) {
                    return refuse("card_revoked", &serial, why);
                }
                Entry::new(Event::CardRevoked { by, reason }).card(serial)
            }
            AdminRequest::PukRejected {
                serial,
                reader,
                tries_left,
            } => {
                let serial = serial.map(card_serial);
                let shown = serial.map_or_else(|| "(blank)".to_owned(), |s| s.to_string());
                let cert = match self.evidence_of_card(serial, &reader) {
                    Ok(cert) => cert,
                    Err(why) => return refuse("puk_rejected", &shown, why),
                };
                self.puk_entry(Event::PukRejected { by, tries_left }, cert, &reader)
            }
            AdminRequest::ManagerRefused {
                serial,
                reader,
                reason,
                tries_left,
            } => {
                let serial = serial.map(card_serial);
                let reason = manager_refusal(reason);
                // A refusal is a record against its sender; it only has to name the card
                // that is in the reader (of whatever issuer), or none.
                let seen = match self.look_at_card(&reader, false) {
                    Ok(seen) => seen.cert,
                    Err(_) => None,
                };
                let shown = serial.map_or_else(|| "(none)".to_owned(), |s| s.to_string());
                if serial.is_some() && seen.as_ref().map(|c| c.body.serial) != serial {
                    return refuse(
                        "manager_refused",
                        &shown,
                        format!("the card in {reader:?} is not that card"),
                    );
                }
                let entry = Entry::new(Event::ManagerRefused {
                    by,
                    reason,
                    tries_left,
                })
                .reader(label(&reader));
                match seen.filter(|_| serial.is_some()) {
                    Some(cert) => entry
                        .card(cert.body.serial)
                        .operator(label(&cert.body.operator_id)),
                    None => entry,
                }
            }
            AdminRequest::PukBlocked { serial, reader } => {
                let serial = serial.map(card_serial);
                let shown = serial.map_or_else(|| "(blank)".to_owned(), |s| s.to_string());
                let cert = match self.evidence_of_card(serial, &reader) {
                    Ok(cert) => cert,
                    Err(why) => return refuse("puk_blocked", &shown, why),
                };
                self.puk_entry(Event::PukBlocked { by }, cert, &reader)
            }
            AdminRequest::Note {
                kind,
                text,
                who,
                escort,
            } => {
                let note = note_kind(kind);
                let Ok(text) = Text::new(text) else {
                    return bad("note text");
                };
                let who = match who.map(Label::new).transpose() {
                    Ok(w) => w,
                    Err(_) => return bad("who"),
                };
                let escort = match escort.map(Label::new).transpose() {
                    Ok(e) => e,
                    Err(_) => return bad("escort"),
                };
                Entry::new(Event::Note {
                    note,
                    text,
                    who,
                    escort,
                    by: Some(by),
                })
            }
            AdminRequest::Status
            | AdminRequest::Sessions
            | AdminRequest::PublishRevocationList { .. }
            | AdminRequest::LendInRegister { .. }
            | AdminRequest::MarkUnblockedInRegister { .. } => return bad("request"),
        };
        match self.audit.append(entry) {
            Ok(receipt) => Answer::recorded(receipt.seq),
            Err(e) => {
                tracing::error!(error = %e, "an admin record could not be written; refused");
                audit_down()
            }
        }
    }

    /// Who the record names: the caller, and the access manager's card that authorised the
    /// action. The card must be in `manager_reader` with an issuer-signed certificate for that
    /// serial in the role `manager`, not revoked or withdrawn. Without one, only the very
    /// first manager card may be issued (`bootstrap`: the issuance being recorded is of a
    /// manager card, and the register lends no other).
    pub(super) fn authorised_by(
        &self,
        caller: &str,
        manager: Option<wire::Serial>,
        manager_reader: Option<String>,
        bootstrap: Option<(CardSerial, Role)>,
    ) -> Result<Label, String> {
        let named = |text: String| Label::new(text).unwrap_or_else(|_| label(caller));
        let (Some(manager), Some(reader)) = (manager, manager_reader) else {
            let Some((serial, Role::AccessManager)) = bootstrap else {
                return Err("no access manager's card authorised it".into());
            };
            let register = self
                .register
                .read()
                .map_err(|e| format!("the card register cannot be read ({e})"))?;
            let other_manager = register.cards.iter().any(|(s, e)| {
                *s != serial.to_string()
                    && e.role == Role::AccessManager.as_str()
                    && e.state == CardState::Lent
            });
            if other_manager {
                return Err(
                    "no access manager's card authorised it, and the register lends one already"
                        .into(),
                );
            }
            return Ok(named(format!("{caller}, bootstrap (first manager card)")));
        };
        let serial = card_serial(manager);
        let seen = self.signed_card(serial, &reader, false)?;
        let Some(cert) = seen.cert else {
            return Err(format!("the card in {reader:?} is blank"));
        };
        if cert.body.role != Role::AccessManager {
            return Err(format!(
                "card {serial} in {reader:?} is not an access manager's card"
            ));
        }
        if let Some(list) = self.list_in_force() {
            if let Some(r) = list.lookup(&serial) {
                return Err(format!(
                    "the manager's card {serial} is revoked ({})",
                    r.reason
                ));
            }
        }
        let register = self
            .register
            .read()
            .map_err(|e| format!("the card register cannot be read ({e})"))?;
        if register
            .get(&serial)
            .is_some_and(|e| e.state != CardState::Lent)
        {
            return Err(format!("the manager's card {serial} is no longer lent"));
        }
        Ok(named(format!("{caller}, manager card {serial}")))
    }

    fn puk_entry(&self, event: Event, cert: Option<Certificate>, reader: &str) -> Entry {
        let entry = Entry::new(event).reader(label(reader));
        match cert {
            Some(cert) => entry
                .card(cert.body.serial)
                .operator(label(&cert.body.operator_id)),
            None => entry,
        }
    }

    /// SELECTs the card in `reader` (no secret is sent) and, when `pin` is set, asks whether
    /// its PIN is blocked (VERIFY with no data, which spends no try).
    pub(super) fn look_at_card(&self, reader: &str, pin: bool) -> Result<CardSeen, String> {
        // The reader name comes from the request: a name no reader has is refused before the
        // card layer keeps any state for it (it keeps one lock per reader it was asked for).
        if reader.len() > cardgate_audit::record::MAX_LABEL_LEN {
            return Err("the reader name is too long".into());
        }
        if !self.cards.card_present(reader) {
            return Err(format!("there is no card in {reader:?}"));
        }
        let mut seen = None;
        let result = self.cards.exclusive(reader, &mut |t| {
            let mut card = OperatorCard::new(t);
            seen = Some(match card.select() {
                Ok(cert) => {
                    let status = if pin && cert.is_some() {
                        card.pin_status().map(Some)
                    } else {
                        Ok(None)
                    };
                    status.map(|pin| CardSeen { cert, pin })
                }
                Err(e) => Err(e),
            });
        });
        match (result, seen) {
            (Ok(()), Some(Ok(seen))) => Ok(seen),
            (Ok(()), Some(Err(e))) => Err(format!(
                "the card in {reader:?} did not answer as an operator card ({e})"
            )),
            (Ok(()), None) => Err(format!("the card in {reader:?} could not be read")),
            (Err(e), _) => Err(format!("no card can be read in {reader:?} ({e})")),
        }
    }

    /// The card in `reader` with an issuer-signed certificate for `serial`.
    pub(super) fn signed_card(
        &self,
        serial: CardSerial,
        reader: &str,
        pin: bool,
    ) -> Result<CardSeen, String> {
        let seen = self.look_at_card(reader, pin)?;
        let Some(cert) = &seen.cert else {
            return Err(format!("the card in {reader:?} is blank"));
        };
        if cert.body.serial != serial {
            return Err(format!(
                "the card in {reader:?} is card {}, not this one",
                cert.body.serial
            ));
        }
        cert.verify_issuer(&self.issuer).map_err(|e| {
            format!("the certificate of the card in {reader:?} is not the office issuer's ({e})")
        })?;
        Ok(seen)
    }

    fn evidence_of_issue(
        &self,
        serial: CardSerial,
        operator: &str,
        role: Role,
        reader: &str,
    ) -> Result<(), String> {
        let seen = self.signed_card(serial, reader, false)?;
        let Some(cert) = seen.cert else {
            return Err(format!("the card in {reader:?} is blank"));
        };
        if cert.body.operator_id != operator || cert.body.role != role {
            return Err(format!(
                "the card's certificate is for {} ({}), not {operator} ({})",
                cert.body.operator_id,
                cert.body.role.as_str(),
                role.as_str()
            ));
        }
        let register = self
            .register
            .read()
            .map_err(|e| format!("the card register cannot be read ({e})"))?;
        match register.get(&serial) {
            Some(e)
                if e.state == CardState::Lent
                    && e.operator_id == operator
                    && e.role == role.as_str() =>
            {
                self.fresh(e.lent_at, "the card register lent the card")?
            }
            Some(e) if e.state != CardState::Lent => {
                return Err("the card register says the card is no longer lent".into())
            }
            Some(_) => {
                return Err(
                    "the card register lends the card to someone else or in another role".into(),
                )
            }
            None => return Err("the card register does not list the card".into()),
        }
        // A card taken back stays taken back: the list in force is not undone by a record.
        if let Some(list) = self.list_in_force() {
            if let Some(r) = list.lookup(&serial) {
                return Err(format!(
                    "the revocation list in force lists the card ({})",
                    r.reason
                ));
            }
        }
        Ok(())
    }

    fn evidence_of_unblock(&self, serial: CardSerial, reader: &str) -> Result<Certificate, String> {
        let seen = self.signed_card(serial, reader, true)?;
        match seen.pin {
            Some(Verification::Blocked) => {
                return Err(format!(
                    "the PIN of the card in {reader:?} is still blocked"
                ))
            }
            Some(_) => {}
            None => {
                return Err(format!(
                    "the card in {reader:?} did not say whether its PIN is blocked"
                ))
            }
        }
        let register = self
            .register
            .read()
            .map_err(|e| format!("the card register cannot be read ({e})"))?;
        if let Some(e) = register.get(&serial) {
            if e.state != CardState::Lent {
                return Err("the card register says the card is no longer lent".into());
            }
            if !e.must_change_pin {
                return Err(
                    "the card register does not ask for the unblocked PIN to be changed".into(),
                );
            }
            match e.unblocked_at {
                Some(at) => self.fresh(at, "the card register unblocked the card")?,
                None => return Err("the card register has no unblocking of the card".into()),
            }
        }
        seen.cert
            .ok_or_else(|| format!("the card in {reader:?} is blank"))
    }

    fn evidence_of_withdrawal(
        &self,
        serial: CardSerial,
        reason: RevocationReason,
    ) -> Result<(), String> {
        let path = &self.config.revocation.list;
        let bytes = read_capped(path).map_err(|e| {
            format!(
                "the revocation list {} cannot be read ({e})",
                path.display()
            )
        })?;
        let list = RevocationList::verify(&bytes, &self.issuer).map_err(|e| {
            format!(
                "the revocation list {} does not verify with the issuer key ({e})",
                path.display()
            )
        })?;
        match list.lookup(&serial) {
            Some(r) if r.reason == reason => {
                self.fresh(r.revoked_at, "the revocation list revoked the card")?
            }
            Some(r) => {
                return Err(format!(
                    "the revocation list {} lists it as {}, not {reason}",
                    path.display(),
                    r.reason
                ))
            }
            None => {
                return Err(format!(
                    "the revocation list {} (version {}) does not list it",
                    path.display(),
                    list.version()
                ))
            }
        }
        let register = self
            .register
            .read()
            .map_err(|e| format!("the card register cannot be read ({e})"))?;
        match register.get(&serial).map(|e| e.state) {
            None => Ok(()),
            Some(CardState::Returned { at }) if reason == RevocationReason::Returned => {
                self.fresh(at, "the card register took the card back")
            }
            Some(CardState::Revoked { at, reason: r }) if r == reason => {
                self.fresh(at, "the card register revoked the card")
            }
            Some(_) => Err("the card register does not agree".into()),
        }
    }

    /// `at` (Unix seconds) is within [`FRESH_SECONDS`] of now.
    fn fresh(&self, at: i64, what: &str) -> Result<(), String> {
        let now = self.clock.wall().unix_timestamp();
        if (now - at).abs() <= FRESH_SECONDS {
            Ok(())
        } else {
            Err(format!(
                "{what} {} s ago, not just now",
                now.saturating_sub(at)
            ))
        }
    }

    /// The card in `reader` is card `serial` (issuer-signed), or blank when `serial` is None.
    fn evidence_of_card(
        &self,
        serial: Option<CardSerial>,
        reader: &str,
    ) -> Result<Option<Certificate>, String> {
        match serial {
            Some(serial) => self.signed_card(serial, reader, false).map(|s| s.cert),
            None => match self.look_at_card(reader, false)?.cert {
                None => Ok(None),
                Some(cert) => Err(format!(
                    "the card in {reader:?} is card {}, not a blank one",
                    cert.body.serial
                )),
            },
        }
    }

    pub(super) fn list_in_force(&self) -> Option<std::sync::Arc<RevocationList>> {
        super::locked(&self.revocation).list.clone()
    }
}
