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
/// The format version written into the register file (`"format_version": 1`), so that a
/// later cardgate can migrate it on upgrade. A file without one (as cardgate wrote it before
/// versions) is version 1; a newer version is refused, naming the file, rather than misread.
pub const REGISTER_FORMAT_VERSION: u32 = 1;

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
    /// A format version this cardgate does not know (written by a newer one).
    #[error(
        "card register {path} has format version {version}; this cardgate reads version {REGISTER_FORMAT_VERSION}: it was written by another cardgate version (downgraded?)"
    )]
    UnknownFormat {
        /// Where.
        path: PathBuf,
        /// The version found.
        version: u32,
    },
}

/// The version alone, read before the rest: a newer format may not parse as this one.
#[derive(Deserialize)]
struct VersionProbe {
    #[serde(default)]
    format_version: Option<u32>,
}

/// The file as read (`format_version` absent: version 1).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterIn {
    #[serde(default, rename = "format_version")]
    _format_version: Option<u32>,
    cards: BTreeMap<String, CardEntry>,
}

/// The file as written.
#[derive(Serialize)]
struct RegisterOut<'a> {
    format_version: u32,
    cards: &'a BTreeMap<String, CardEntry>,
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
        let malformed = |source| RegisterError::Malformed {
            path: self.path.clone(),
            source,
        };
        let probe: VersionProbe = serde_json::from_slice(&bytes).map_err(malformed)?;
        match probe.format_version {
            None => {}
            Some(v) if (1..=REGISTER_FORMAT_VERSION).contains(&v) => {}
            Some(version) => {
                return Err(RegisterError::UnknownFormat {
                    path: self.path.clone(),
                    version,
                })
            }
        }
        let file: RegisterIn = serde_json::from_slice(&bytes).map_err(malformed)?;
        Ok(Register { cards: file.cards })
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
        let file = RegisterOut {
            format_version: REGISTER_FORMAT_VERSION,
            cards: &register.cards,
        };
        let bytes =
            serde_json::to_vec_pretty(&file).map_err(|source| RegisterError::Malformed {
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

    fn fresh_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cardgate-{name}-{}", std::process::id()));
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("{}: {e}", dir.display()),
        }
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn lend(file: &RegisterFile, serial: &CardSerial) {
        file.update(|r| {
            r.cards.insert(
                serial.to_string(),
                CardEntry::lent("op-0042", Role::Operator, 1, date!(2027 - 03 - 31)),
            )
        })
        .unwrap();
    }

    #[test]
    fn the_register_is_written_with_its_format_version() {
        let dir = fresh_dir("register-version");
        let file = RegisterFile::new(&dir);
        lend(&file, &CardSerial([1; 8]));
        let written: serde_json::Value =
            serde_json::from_slice(&std::fs::read(file.path()).unwrap()).unwrap();
        assert_eq!(written["format_version"], REGISTER_FORMAT_VERSION);
        assert!(
            written["cards"]["0101010101010101"].is_object(),
            "{written}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unversioned_register_is_read_as_version_1() {
        // What cardgate wrote before format versions: {"cards": {...}} alone.
        let dir = fresh_dir("register-unversioned");
        let file = RegisterFile::new(&dir);
        let old = r#"{"cards": {"0101010101010101": {"operator_id": "op-0042",
            "role": "operator", "lent_at": 1, "valid_until": "2027-03-31",
            "must_change_pin": false, "state": "lent"}}}"#;
        std::fs::write(file.path(), old).unwrap();
        let register = file.read().unwrap();
        let entry = register.get(&CardSerial([1; 8])).unwrap();
        assert_eq!(entry.operator_id, "op-0042");
        // The next write migrates it.
        lend(&file, &CardSerial([2; 8]));
        let written: serde_json::Value =
            serde_json::from_slice(&std::fs::read(file.path()).unwrap()).unwrap();
        assert_eq!(written["format_version"], 1);
        assert_eq!(written["cards"].as_object().map(|c| c.len()), Some(2));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_newer_format_version_is_refused_naming_the_file() {
        let dir = fresh_dir("register-newer");
        let file = RegisterFile::new(&dir);
        for version in [0, REGISTER_FORMAT_VERSION + 1] {
            // A newer format may not even have "cards": the version is what is reported.
            let newer = format!(r#"{{"format_version": {version}, "entries": []}}"#);
            std::fs::write(file.path(), newer).unwrap();
            let err = file.read().unwrap_err();
            assert!(
                matches!(&err, RegisterError::UnknownFormat { path, version: v }
                    if path == file.path() && *v == version),
                "{err:?}"
            );
            assert!(err.to_string().contains(&file.path().display().to_string()));
            // And an update writes nothing over it.
            assert!(file.update(|_| ()).is_err());
            assert_eq!(
                std::fs::read_to_string(file.path()).unwrap(),
                format!(r#"{{"format_version": {version}, "entries": []}}"#)
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

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
