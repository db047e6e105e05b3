//! The card register (art. 4, 5): which card is lent to whom, since when, and what became of
//! it. One JSON file, shared by `cardgated` and `cardgatectl`, written atomically under an
//! exclusive file lock. It holds no secret.

use crate::files::write_atomic;
use cardgate_card::cert::{CardSerial, Role};
use cardgate_card::revocation::RevocationReason;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The register file's name in the state directory.
pub const REGISTER_FILE: &str = "cards.json";
/// A register larger than this is refused unread.
pub const MAX_REGISTER_BYTES: u64 = 64 * 1024 * 1024;

/// What became of a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum CardState {
    /// Lent and usable.
    Lent,
    /// Given back (art. 5.2); also revoked with reason `returned`.
    Returned {
        /// When (Unix seconds).
        at: i64,
    },
    /// Revoked (art. 5.4).
    Revoked {
        /// When (Unix seconds).
        at: i64,
        /// Why.
        #[serde(with = "reason")]
        reason: RevocationReason,
    },
}

mod reason {
    use cardgate_card::revocation::RevocationReason;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(r: &RevocationReason, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(r.as_str())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<RevocationReason, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One card in the register. (Unknown fields are not refused here: serde cannot combine that
/// with the flattened state; the register as a whole still refuses unknown keys.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardEntry {
    /// The operator it is lent to.
    pub operator_id: String,
    /// The holder's role.
    pub role: String,
    /// When it was lent (Unix seconds).
    pub lent_at: i64,
    /// Last day of validity, `YYYY-MM-DD`.
    pub valid_until: String,
    /// The initial PIN has not been changed yet: no session may open before it is.
    pub must_change_pin: bool,
    /// What became of it.
    #[serde(flatten)]
    pub state: CardState,
    /// When its PIN was last unblocked with the PUK (Unix seconds): the daemon records a
    /// `pin_unblocked` only just after one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unblocked_at: Option<i64>,
}

impl CardEntry {
    /// A newly lent card.
    pub fn lent(operator_id: &str, role: Role, lent_at: i64, valid_until: time::Date) -> Self {
        CardEntry {
            operator_id: operator_id.to_owned(),
            role: role.as_str().to_owned(),
            lent_at,
            valid_until: valid_until.to_string(),
            must_change_pin: true,
            state: CardState::Lent,
            unblocked_at: None,
        }
    }
}

/// Why the register could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// I/O.
    #[error("card register {path}: {op}")]
    Io {
        /// What.
        op: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Too large.
    #[error("card register {0} is over the size limit")]
    TooLarge(PathBuf),
    /// Not a register.
    #[error("card register {path} is malformed")]
    Malformed {
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// The register's content: card serial (hex) → entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Register {
    /// The cards.
    pub cards: BTreeMap<String, CardEntry>,
}

impl Register {
    /// The entry of a card.
    pub fn get(&self, serial: &CardSerial) -> Option<&CardEntry> {
        self.cards.get(&serial.to_string())
    }

    /// The entry of a card, to change it.
    pub fn get_mut(&mut self, serial: &CardSerial) -> Option<&mut CardEntry> {
        self.cards.get_mut(&serial.to_string())
    }
}

/// The register file in a state directory.
#[derive(Debug, Clone)]
pub struct RegisterFile {
    path: PathBuf,
    lock_path: PathBuf,
}

impl RegisterFile {
    /// The register in `state_dir`.
    pub fn new(state_dir: &Path) -> Self {
        RegisterFile {
            path: state_dir.join(REGISTER_FILE),
            lock_path: state_dir.join(".cards.lock"),
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, op: &'static str) -> impl Fn(std::io::Error) -> RegisterError + '_ {
        move |source| RegisterError::Io {
            op,
            path: self.path.clone(),
            source,
        }
    }

    /// Reads the register (an absent file is an empty register).
    pub fn read(&self) -> Result<Register, RegisterError> {
        let mut f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Register::default()),
            Err(e) => return Err(self.io("open")(e)),
        };
        let len = f.metadata().map_err(self.io("stat"))?.len();
        if len > MAX_REGISTER_BYTES {
            return Err(RegisterError::TooLarge(self.path.clone()));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        f.read_to_end(&mut bytes).map_err(self.io("read"))?;
        serde_json::from_slice(&bytes).map_err(|source| RegisterError::Malformed {
            path: self.path.clone(),
            source,
        })
    }

    /// Reads, changes and writes the register under an exclusive lock, atomically.
    pub fn update<T>(&self, change: impl FnOnce(&mut Register) -> T) -> Result<T, RegisterError> {
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o640)
            .open(&self.lock_path)
            .map_err(self.io("open lock"))?;
        lock.lock().map_err(self.io("lock"))?;
        let mut register = self.read()?;
        let out = change(&mut register);
        let bytes =
            serde_json::to_vec_pretty(&register).map_err(|source| RegisterError::Malformed {
                path: self.path.clone(),
                source,
            })?;
        write_atomic(&self.path, &bytes, 0o640).map_err(self.io("write"))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use time::macros::date;

    #[test]
    fn update_round_trips_and_refuses_garbage() {
        let dir = std::env::temp_dir().join(format!("cardgate-register-{}", std::process::id()));
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("{}: {e}", dir.display()),
        }
        std::fs::create_dir_all(&dir).unwrap();
        let file = RegisterFile::new(&dir);
        assert!(file.read().unwrap().cards.is_empty());
        let serial = CardSerial([1, 2, 3, 4, 5, 6, 7, 8]);
        file.update(|r| {
            r.cards.insert(
                serial.to_string(),
                CardEntry::lent(
                    "op-0042",
                    Role::Operator,
                    1_790_000_000,
                    date!(2027 - 03 - 31),
                ),
            );
        })
        .unwrap();
        file.update(|r| {
            r.get_mut(&serial).unwrap().state = CardState::Revoked {
                at: 1_790_000_100,
                reason: RevocationReason::Lost,
            };
        })
        .unwrap();
        let back = file.read().unwrap();
        assert_eq!(
            back.get(&serial).unwrap().state,
            CardState::Revoked {
                at: 1_790_000_100,
                reason: RevocationReason::Lost
            }
        );
        let text = std::fs::read_to_string(file.path()).unwrap();
        assert!(
            text.contains("\"state\": \"revoked\"") && text.contains("\"reason\": \"lost\""),
            "{text}"
        );
        std::fs::write(file.path(), b"{\"cards\": 7}").unwrap();
        assert!(matches!(file.read(), Err(RegisterError::Malformed { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
