//! The open sessions: which login session runs on which terminal, for which user and card.
//!
//! The table is kept in the state directory and rewritten atomically on every change, so a
//! daemon killed with `kill -9` and restarted still knows which session to lock when a card
//! is pulled (Windows' removal-policy service forgets exactly this).

use cardgate_audit::record::EndReason;
use cardgate_office::files::write_atomic;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The table's file name in the state directory.
pub const SESSIONS_FILE: &str = "sessions.json";

/// The format version written into the table (`{"format_version": 1, "sessions": [...]}`), so
/// that a later cardgate can migrate it on upgrade. A table without one (a bare array, as
/// cardgate wrote it before versions) is version 1; a newer version is refused, naming the
/// file, rather than misread.
pub const SESSIONS_FORMAT_VERSION: u32 = 1;

/// The table as written.
#[derive(Serialize)]
struct TableOut<'a> {
    format_version: u32,
    sessions: Vec<&'a Session>,
}

/// The table as read: versioned, or the bare array of version 1.
#[derive(Deserialize)]
#[serde(untagged)]
enum TableIn {
    Versioned {
        format_version: u32,
        sessions: serde_json::Value,
    },
    Unversioned(Vec<Session>),
}

fn parse_table(path: &Path, bytes: &[u8]) -> Result<Vec<Session>, SessionsError> {
    let malformed = |e| SessionsError::Malformed(path.to_path_buf(), e);
    match serde_json::from_slice::<TableIn>(bytes) {
        Ok(TableIn::Unversioned(list)) => Ok(list),
        Ok(TableIn::Versioned {
            format_version,
            sessions,
        }) => {
            if format_version == 0 || format_version > SESSIONS_FORMAT_VERSION {
                return Err(SessionsError::UnknownFormat(
                    path.to_path_buf(),
                    format_version,
                ));
            }
            serde_json::from_value(sessions).map_err(malformed)
        }
        // untagged says only "did not match": the bare array's own error names the problem.
        Err(_) => serde_json::from_slice::<Vec<Session>>(bytes).map_err(malformed),
    }
}

/// The state of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// In use.
    Active,
    /// Locked (card pulled, business hours over, re-verify due).
    Locked,
    /// Being ended: the daemon asked logind to end it and has not yet seen that work. It stays
    /// in the table (and so across a restart) until the end is done.
    Ending,
}

/// One open login session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// The logind session ID (`$XDG_SESSION_ID`).
    pub session_id: String,
    /// The terminal.
    pub terminal: String,
    /// The reader of that terminal.
    pub reader: String,
    /// The local user.
    pub user: String,
    /// The operator ID of the card.
    pub operator_id: String,
    /// The card serial (hex).
    pub serial: String,
    /// When it opened (Unix seconds).
    pub opened_at: i64,
    /// Last time the card holder proved the PIN (Unix seconds).
    pub verified_at: i64,
    /// Active, locked or being ended.
    pub state: SessionState,
    /// Why it is being ended, while `state` is `Ending`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<EndReason>,
    /// The boot it was opened in (`/proc/sys/kernel/random/boot_id`); empty in tables written
    /// before this field existed. logind numbers sessions afresh at every boot, so an entry
    /// of another boot names a session that no longer exists, or a stranger's.
    #[serde(default)]
    pub boot_id: String,
}

/// Where the kernel says which boot this is.
pub const BOOT_ID_FILE: &str = "/proc/sys/kernel/random/boot_id";

/// This boot's ID, or why it cannot be read.
pub fn current_boot_id() -> std::io::Result<String> {
    let text = std::fs::read_to_string(BOOT_ID_FILE)?;
    let id = text.trim();
    if id.is_empty() || id.len() > 64 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{BOOT_ID_FILE} does not hold a boot ID"),
        ));
    }
    Ok(id.to_owned())
}

/// The sessions a change touched, and whether the table reached the disk. The change holds
/// in memory either way: a session must be locked even when its table cannot be saved.
#[derive(Debug)]
#[must_use]
pub struct Changed {
    /// The sessions that changed.
    pub sessions: Vec<Session>,
    /// Whether the table was saved.
    pub saved: Result<(), SessionsError>,
}

impl Changed {
    /// The sessions, after logging a failed save (a restart would not know of the change).
    pub fn sessions(self) -> Vec<Session> {
        if let Err(e) = &self.saved {
            tracing::error!(error = %e, "the session table could not be saved; a restart will not know of this change");
        }
        self.sessions
    }
}

/// Every open session, by session ID.
#[derive(Debug, Default)]
pub struct SessionTable {
    sessions: BTreeMap<String, Session>,
    path: Option<PathBuf>,
}

/// Why the table could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionsError {
    /// I/O.
    #[error("session table {0}")]
    Io(PathBuf, #[source] std::io::Error),
    /// Not a table.
    #[error("session table {0} is malformed")]
    Malformed(PathBuf, #[source] serde_json::Error),
    /// A format version this cardgated does not know (written by a newer one).
    #[error(
        "session table {0} has format version {1}; this cardgated reads version {SESSIONS_FORMAT_VERSION}: it was written by another cardgate version (downgraded?)"
    )]
    UnknownFormat(PathBuf, u32),
}

impl SessionTable {
    /// A table kept only in memory.
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// Loads the table kept in `state_dir` (empty if there is none yet).
    pub fn load(state_dir: &Path) -> Result<Self, SessionsError> {
        let path = state_dir.join(SESSIONS_FILE);
        let sessions = match std::fs::read(&path) {
            Ok(bytes) => parse_table(&path, &bytes)?
                .into_iter()
                .map(|s| (s.session_id.clone(), s))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(SessionsError::Io(path, e)),
        };
        Ok(SessionTable {
            sessions,
            path: Some(path),
        })
    }

    fn save(&self) -> Result<(), SessionsError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let table = TableOut {
            format_version: SESSIONS_FORMAT_VERSION,
            sessions: self.sessions.values().collect(),
        };
        let bytes = serde_json::to_vec_pretty(&table)
            .map_err(|e| SessionsError::Malformed(path.clone(), e))?;
        write_atomic(path, &bytes, 0o600).map_err(|e| SessionsError::Io(path.clone(), e))
    }

    /// Adds (or replaces) a session.
    pub fn open(&mut self, session: Session) -> Result<(), SessionsError> {
        self.sessions.insert(session.session_id.clone(), session);
        self.save()
    }

    /// Removes a session.
    pub fn close(&mut self, session_id: &str) -> Result<Option<Session>, SessionsError> {
        let gone = self.sessions.remove(session_id);
        self.save()?;
        Ok(gone)
    }

    /// Changes the state of the sessions matching `pick` between active and locked; returns
    /// the ones that changed. A session being ended stays so (see [`SessionTable::set_ending`]).
    pub fn set_state(&mut self, state: SessionState, pick: impl Fn(&Session) -> bool) -> Changed {
        let changed = self.set_state_unsaved(state, pick);
        self.saved(changed)
    }

    /// [`SessionTable::set_state`] in memory only: the caller saves with
    /// [`SessionTable::persist`] (removal locks first and writes the disk after).
    pub fn set_state_unsaved(
        &mut self,
        state: SessionState,
        pick: impl Fn(&Session) -> bool,
    ) -> Vec<Session> {
        let mut changed = Vec::new();
        for s in self
            .sessions
            .values_mut()
            .filter(|s| pick(s) && s.state != state && s.state != SessionState::Ending)
        {
            s.state = state;
            changed.push(s.clone());
        }
        changed
    }

    /// Writes the table to its file now.
    pub fn persist(&self) -> Result<(), SessionsError> {
        self.save()
    }

    fn saved(&self, sessions: Vec<Session>) -> Changed {
        let saved = if sessions.is_empty() {
            Ok(())
        } else {
            self.save()
        };
        Changed { sessions, saved }
    }

    /// Marks the sessions matching `pick` as being ended for `reason`; returns the ones that
    /// were not already being ended.
    pub fn set_ending(&mut self, reason: EndReason, pick: impl Fn(&Session) -> bool) -> Changed {
        let mut changed = Vec::new();
        for s in self
            .sessions
            .values_mut()
            .filter(|s| pick(s) && s.state != SessionState::Ending)
        {
            s.state = SessionState::Ending;
            s.end_reason = Some(reason);
            changed.push(s.clone());
        }
        self.saved(changed)
    }

    /// Marks one session as being ended for `reason`.
    pub fn mark_ending(
        &mut self,
        session_id: &str,
        reason: EndReason,
    ) -> Result<(), SessionsError> {
        match self.sessions.get_mut(session_id) {
            Some(s) => {
                s.state = SessionState::Ending;
                s.end_reason = Some(reason);
                self.save()
            }
            None => Ok(()),
        }
    }

    /// Removes the sessions matching `pick`; returns them.
    pub fn close_where(&mut self, pick: impl Fn(&Session) -> bool) -> Changed {
        let ids: Vec<String> = self
            .sessions
            .values()
            .filter(|s| pick(s))
            .map(|s| s.session_id.clone())
            .collect();
        let gone: Vec<Session> = ids
            .iter()
            .filter_map(|id| self.sessions.remove(id))
            .collect();
        self.saved(gone)
    }

    /// Marks the sessions matching `pick` verified at `at`, in memory only (the caller saves
    /// with [`SessionTable::persist`], once for all it changed); true when any matched.
    pub fn touch_unsaved(&mut self, at: i64, pick: impl Fn(&Session) -> bool) -> bool {
        let mut touched = false;
        for s in self.sessions.values_mut().filter(|s| pick(s)) {
            s.verified_at = at;
            touched = true;
        }
        touched
    }

    /// Whether any session matches `pick` (without copying the table).
    pub fn any(&self, pick: impl Fn(&Session) -> bool) -> bool {
        self.sessions.values().any(pick)
    }

    /// The user whose session `session_id` is.
    pub fn user_of(&self, session_id: &str) -> Option<String> {
        self.sessions.get(session_id).map(|s| s.user.clone())
    }

    /// Every session.
    pub fn all(&self) -> Vec<Session> {
        self.sessions.values().cloned().collect()
    }

    /// The sessions on a reader.
    pub fn on_reader(&self, reader: &str) -> Vec<Session> {
        self.sessions
            .values()
            .filter(|s| s.reader == reader)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str, reader: &str) -> Session {
        Session {
            session_id: id.into(),
            terminal: "juki-01".into(),
            reader: reader.into(),
            user: "tanaka".into(),
            operator_id: "op-0042".into(),
            serial: "1A2B3C4D5E6F7081".into(),
            opened_at: 1,
            verified_at: 1,
            state: SessionState::Active,
            end_reason: None,
            boot_id: String::new(),
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cardgate-{name}-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_table_is_written_with_its_format_version() {
        let dir = temp_dir("sessions-version");
        let mut t = SessionTable::load(&dir).unwrap();
        t.open(session("7", "r0")).unwrap();
        let written: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(SESSIONS_FILE)).unwrap()).unwrap();
        assert_eq!(written["format_version"], SESSIONS_FORMAT_VERSION);
        assert_eq!(written["sessions"][0]["session_id"], "7");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unversioned_table_is_read_as_version_1() {
        // What cardgate wrote before format versions: a bare array.
        let dir = temp_dir("sessions-unversioned");
        let old = serde_json::to_vec_pretty(&vec![session("7", "r0")]).unwrap();
        std::fs::write(dir.join(SESSIONS_FILE), old).unwrap();
        let mut t = SessionTable::load(&dir).unwrap();
        let all = t.all();
        assert_eq!(all.len(), 1);
        assert_eq!(
            (all[0].session_id.as_str(), all[0].reader.as_str()),
            ("7", "r0")
        );
        // The next write migrates it.
        t.open(session("8", "r1")).unwrap();
        let written: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(SESSIONS_FILE)).unwrap()).unwrap();
        assert_eq!(written["format_version"], 1);
        assert_eq!(written["sessions"].as_array().map(Vec::len), Some(2));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_newer_format_version_is_refused_naming_the_file() {
        let dir = temp_dir("sessions-newer");
        let path = dir.join(SESSIONS_FILE);
        for version in [0, SESSIONS_FORMAT_VERSION + 1] {
            let newer = format!(r#"{{"format_version": {version}, "sessions": {{"x": 1}}}}"#);
            std::fs::write(&path, newer).unwrap();
            let err = SessionTable::load(&dir).unwrap_err();
            assert!(
                matches!(&err, SessionsError::UnknownFormat(p, v) if p == &path && *v == version),
                "{err:?}"
            );
            assert!(
                err.to_string().contains(&path.display().to_string()),
                "{err}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn survives_a_restart() {
        let dir = std::env::temp_dir().join(format!("cardgate-sessions-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        let mut t = SessionTable::load(&dir).unwrap();
        t.open(session("7", "r0")).unwrap();
        t.open(session("8", "r1")).unwrap();
        let locked = t.set_state(SessionState::Locked, |s| s.reader == "r0");
        locked.saved.unwrap();
        let locked = locked.sessions;
        assert_eq!(locked.len(), 1);
        drop(t);
        let t = SessionTable::load(&dir).unwrap();
        assert_eq!(t.on_reader("r0")[0].state, SessionState::Locked);
        assert_eq!(t.on_reader("r1")[0].state, SessionState::Active);
        std::fs::write(dir.join(SESSIONS_FILE), b"[{]").unwrap();
        assert!(matches!(
            SessionTable::load(&dir),
            Err(SessionsError::Malformed(..))
        ));
    }
}
