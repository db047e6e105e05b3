//! Who may ask what on the admin socket: the two roles of the regulation.
//!
//! | role | who | may |
//! | --- | --- | --- |
//! | system administrator (システム管理者) | root, members of `daemon.admin_group` | every request |
//! | access manager (アクセス管理責任者) | members of `daemon.manager_group` | status; lending, return, revocation, PIN unblocking and their PUK refusals (art. 5); a new revocation list (art. 5.4); notes of the media, resident-card and other registers (arts. 4, 19) |
//!
//! What stays the administrator's: the open sessions (the running of the terminals) and the
//! server-room entry log (art. 3: entry is the administrator's to permit). The role is looked
//! up from the connection's peer credentials (SO_PEERCRED) before the request is read, so a
//! uid in neither group is refused before it can send anything, and nothing the client
//! writes can change who it is.

use crate::config::Config;
use crate::engine::Engine;
use crate::register::{CardState, RegisterFile};
use crate::users;
use cardgate_card::revocation::RevocationReason;
use cardgate_card::{IssuerPublicKey, RevocationList};
use cardgate_protocol::{AdminRequest, Answer, NoteKind};
use std::sync::Mutex;

/// The largest request read from a member of either group: a revocation list to publish
/// (hex, so up to 128 KiB of list, some 7,500 cards) must fit. Only members get this much
/// (at most `max_connections_per_uid` connections each); everyone else is refused before
/// anything is read.
pub(super) const MEMBER_REQUEST_BYTES: usize = 256 * 1024;

/// The caller's role on the admin socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// Root or a member of `admin_group`.
    Administrator,
    /// A member of `manager_group` (and not of `admin_group`).
    Manager,
}

/// Why a caller has no role.
#[derive(Debug)]
pub(super) enum NoRole {
    /// In neither group.
    Neither,
    /// The name service could not say (fail closed).
    Unknown(users::UserError),
}

impl NoRole {
    /// The refusal, naming the uid and both groups.
    pub(super) fn answer(&self, uid: u32, config: &Config) -> Answer {
        let (admin, manager) = (&config.daemon.admin_group, &config.daemon.manager_group);
        Answer::error(match self {
            NoRole::Neither => {
                format!("uid {uid} is a member of neither {admin} nor {manager}: refused")
            }
            NoRole::Unknown(e) => format!(
                "cannot check whether uid {uid} is a member of {admin} or {manager} ({e}): refused"
            ),
        })
    }
}

/// The role of `uid` (blocking: the name service may be SSSD or LDAP). The administrator's
/// group is asked first: a uid in both groups is the administrator.
pub(super) fn role_of(uid: u32, config: &Config) -> Result<Role, NoRole> {
    if users::in_group(uid, &config.daemon.admin_group).map_err(NoRole::Unknown)? {
        return Ok(Role::Administrator);
    }
    if users::in_group(uid, &config.daemon.manager_group).map_err(NoRole::Unknown)? {
        return Ok(Role::Manager);
    }
    Err(NoRole::Neither)
}

/// May `role` make `request`? `Err` names what is the administrator's and why.
pub(super) fn allowed(role: Role, request: &AdminRequest) -> Result<(), &'static str> {
    if role == Role::Administrator {
        return Ok(());
    }
    match request {
        AdminRequest::Sessions => {
            Err("the open sessions are the system administrator's (the running of the terminals)")
        }
        AdminRequest::Note {
            kind: NoteKind::RoomEntry,
            ..
        } => Err("the server-room entry log is the system administrator's (art. 3)"),
        AdminRequest::Status
        | AdminRequest::CardIssued { .. }
        | AdminRequest::PinUnblocked { .. }
        | AdminRequest::CardReturned { .. }
        | AdminRequest::CardRevoked { .. }
        | AdminRequest::Note { .. }
        | AdminRequest::PukRejected { .. }
        | AdminRequest::ManagerRefused { .. }
        | AdminRequest::PukBlocked { .. }
        | AdminRequest::PublishRevocationList { .. } => Ok(()),
    }
}

/// One publication at a time: the check against the list in force and the write are one step.
static PUBLISHING: Mutex<()> = Mutex::new(());

/// Installs a revocation list the issuer signed (see
/// [`AdminRequest::PublishRevocationList`]): the daemon, not the access manager, writes the
/// list file and the register, so that neither the state directory nor the register has to
/// be writable by the manager's group (which could then replace the daemon's own state:
/// the sessions, the accepted list version that stops a rollback, the audit log). The list's
/// own signature is what the manager brings; the daemon checks it, that it is newer, and
/// that it withdraws nothing the list in force lists.
pub(super) fn publish_list(engine: &Engine, uid: u32, hex_list: &str) -> Answer {
    let config = engine.config();
    let path = &config.revocation.list;
    let Ok(bytes) = hex::decode(hex_list.trim()) else {
        return Answer::error("the revocation list must be sent in hex");
    };
    let issuer = match read_issuer(config) {
        Ok(k) => k,
        Err(e) => return Answer::error(e),
    };
    let new = match RevocationList::verify(&bytes, &issuer) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(uid, error = %e, "a revocation list that does not verify was refused");
            return Answer::error(format!(
                "the revocation list does not verify with the issuer key {} ({e}); nothing was written",
                config.issuer.public_key.display()
            ));
        }
    };
    let _one = PUBLISHING.lock().unwrap_or_else(|p| p.into_inner());
    let current = match cardgate_office::files::read_capped(
        path,
        cardgate_card::revocation::MAX_FILE_LEN as u64,
    ) {
        Ok(b) => match RevocationList::verify(&b, &issuer) {
            Ok(l) => Some(l),
            Err(e) => {
                return Answer::error(format!(
                    "the revocation list in force {} does not verify ({e}): the administrator must \
                     repair it; nothing was written",
                    path.display()
                ))
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Answer::error(format!(
                "cannot read the revocation list in force {} ({e}); nothing was written",
                path.display()
            ))
        }
    };
    let floor = current
        .as_ref()
        .map(|l| l.version())
        .max(engine.revocation_version());
    if let Some(floor) = floor {
        if new.version() <= floor {
            return Answer::error(format!(
                "the revocation list's version {} is not newer than the one in force ({floor}); \
                 nothing was written",
                new.version()
            ));
        }
    }
    let before = current.as_ref().map(|l| l.entries()).unwrap_or_default();
    if let Some((serial, _)) = before.iter().find(|(s, _)| new.lookup(s).is_none()) {
        tracing::warn!(uid, %serial, "a revocation list that drops a revoked card was refused");
        return Answer::error(format!(
            "the new revocation list no longer lists card {serial}, which the list in force \
             revokes: a revocation is never undone; nothing was written"
        ));
    }
    if let Err(e) = cardgate_office::files::write_atomic(path, &bytes, 0o644) {
        return Answer::error(format!(
            "cannot write the revocation list {} ({e})",
            path.display()
        ));
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let added: Vec<_> = new
        .entries()
        .into_iter()
        .filter(|(s, _)| current.as_ref().is_none_or(|l| l.lookup(s).is_none()))
        .collect();
    let marked = RegisterFile::new(&config.daemon.state_dir).update(|r| {
        for (serial, revocation) in &added {
            if let Some(e) = r.get_mut(serial) {
                if e.state == CardState::Lent {
                    e.state = if revocation.reason == RevocationReason::Returned {
                        CardState::Returned { at: now }
                    } else {
                        CardState::Revoked {
                            at: now,
                            reason: revocation.reason,
                        }
                    };
                }
            }
        }
    });
    tracing::info!(
        uid,
        version = new.version(),
        added = added.len(),
        "revocation list published"
    );
    // In force at once, not at the next look of the watch.
    engine.reload_revocation_if_changed();
    if let Err(e) = marked {
        return Answer::error(format!(
            "the revocation list version {} is in force, but the register could not be marked ({e}); \
             tell the administrator",
            new.version()
        ));
    }
    super::status(engine)
}

fn read_issuer(config: &Config) -> Result<IssuerPublicKey, String> {
    let path = &config.issuer.public_key;
    let text = cardgate_office::files::read_capped(path, 4096)
        .map_err(|e| format!("cannot read the issuer key {} ({e})", path.display()))?;
    let text = String::from_utf8(text)
        .map_err(|_| format!("the issuer key {} is not text", path.display()))?;
    IssuerPublicKey::from_hex(&text).map_err(|e| format!("the issuer key {} ({e})", path.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use cardgate_protocol::Serial;

    #[test]
    fn the_manager_is_refused_exactly_what_is_the_administrators() {
        let note = |kind| AdminRequest::Note {
            kind,
            text: "t".into(),
            who: None,
            escort: None,
        };
        let manager_may = [
            AdminRequest::Status,
            AdminRequest::CardReturned {
                serial: Serial([1; 8]),
            },
            AdminRequest::CardRevoked {
                serial: Serial([1; 8]),
                reason: cardgate_protocol::RevocationReason::Lost,
            },
            AdminRequest::PublishRevocationList { list: "00".into() },
            note(NoteKind::Media),
            note(NoteKind::ResidentCard),
            note(NoteKind::Other),
        ];
        for r in &manager_may {
            assert!(allowed(Role::Manager, r).is_ok(), "{r:?}");
            assert!(allowed(Role::Administrator, r).is_ok(), "{r:?}");
        }
        for r in [AdminRequest::Sessions, note(NoteKind::RoomEntry)] {
            assert!(allowed(Role::Manager, &r).is_err(), "{r:?}");
            assert!(allowed(Role::Administrator, &r).is_ok(), "{r:?}");
        }
    }

    #[test]
    fn root_is_the_administrator_and_a_stranger_has_no_role() {
        let config = Config::parse("[[terminal]]\nid = \"t\"\nreader = \"r\"\n").unwrap();
        assert_eq!(role_of(0, &config).unwrap(), Role::Administrator);
        // nobody is in neither cardgate group on any test machine.
        assert!(matches!(role_of(65534, &config), Err(NoRole::Neither)));
        let msg = format!("{:?}", NoRole::Neither.answer(65534, &config));
        assert!(
            msg.contains("uid 65534") && msg.contains("cardgate-manager"),
            "{msg}"
        );
    }
}
