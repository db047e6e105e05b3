//! Administrative requests from `cardgatectl` on the admin socket: what the access manager
//! and the administrator did, recorded and attributed to the caller's uid.

use super::{audit_down, label, Engine};
use crate::protocol::{AdminRequest, Answer};
use cardgate_audit::{Entry, Event, Label, NoteKind, Text};
use cardgate_card::cert::{CardSerial, Role};
use cardgate_card::revocation::RevocationReason;

impl Engine {
    /// Records an administrative action, attributed to the caller's uid (SO_PEERCRED).
    pub fn admin_record(&self, uid: u32, user: Option<&str>, request: AdminRequest) -> Answer {
        let by = label(&match user {
            Some(name) => format!("uid {uid} ({name})"),
            None => format!("uid {uid}"),
        });
        let bad = |what: &str| Answer::Error {
            message: format!("invalid {what}"),
        };
        let entry = match request {
            AdminRequest::CardIssued {
                serial,
                operator,
                role,
            } => {
                let Some(serial) = CardSerial::from_hex(&serial) else {
                    return bad("serial");
                };
                let role = match role.as_str() {
                    "operator" => Role::Operator,
                    "manager" => Role::AccessManager,
                    _ => return bad("role"),
                };
                Entry::new(Event::CardIssued { by, role })
                    .card(serial)
                    .operator(label(&operator))
            }
            AdminRequest::PinUnblocked { serial } => {
                let Some(serial) = CardSerial::from_hex(&serial) else {
                    return bad("serial");
                };
                Entry::new(Event::PinUnblocked { by: Some(by) }).card(serial)
            }
            AdminRequest::CardReturned { serial } => {
                let Some(serial) = CardSerial::from_hex(&serial) else {
                    return bad("serial");
                };
                Entry::new(Event::CardReturned { by }).card(serial)
            }
            AdminRequest::CardRevoked { serial, reason } => {
                let Some(serial) = CardSerial::from_hex(&serial) else {
                    return bad("serial");
                };
                let Ok(reason) = reason.parse::<RevocationReason>() else {
                    return bad("reason");
                };
                Entry::new(Event::CardRevoked { by, reason }).card(serial)
            }
            AdminRequest::Note {
                kind,
                text,
                who,
                escort,
            } => {
                let Ok(note) = kind.parse::<NoteKind>() else {
                    return bad("note kind");
                };
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
                })
            }
            AdminRequest::Status | AdminRequest::Sessions => return bad("request"),
        };
        match self.audit.append(entry) {
            Ok(receipt) => Answer::Info {
                data: serde_json::json!({ "recorded": receipt.seq }),
            },
            Err(_) => audit_down(),
        }
    }
}
