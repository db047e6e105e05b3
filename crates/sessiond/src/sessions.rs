//! The open sessions: which login session runs on which terminal, for which user and card.
//!
//! The table is kept in the state directory and rewritten atomically on every change, so a
//! daemon killed with `kill -9` and restarted still knows which session to lock when a card
//! is pulled (Windows' removal-policy service forgets exactly this).

use crate::register::write_atomic;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The table's file name in the state directory.
pub const SESSIONS_FILE: &str = "sessions.json";

/// The state of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// In use.
    Active,
    /// Locked (card pulled, business hours over, re-verify due).
    Locked,
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
    /// Active or locked.
    pub state: SessionState,
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
            Ok(bytes) => serde_json::from_slice::<Vec<Session>>(&bytes)
                .map_err(|e| SessionsError::Malformed(path.clone(), e))?
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
        let list: Vec<&Session> = self.sessions.values().collect();
        let bytes = serde_json::to_vec_pretty(&list)
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

    /// Changes the state of the sessions matching `pick`; returns the ones that changed.
    pub fn set_state(
        &mut self,
        state: SessionState,
        pick: impl Fn(&Session) -> bool,
    ) -> Result<Vec<Session>, SessionsError> {
        let mut changed = Vec::new();
        for s in self
            .sessions
            .values_mut()
            .filter(|s| pick(s) && s.state != state)
        {
            s.state = state;
            changed.push(s.clone());
        }
        if !changed.is_empty() {
            self.save()?;
        }
        Ok(changed)
    }

    /// Removes the sessions matching `pick`; returns them.
    pub fn close_where(
        &mut self,
        pick: impl Fn(&Session) -> bool,
    ) -> Result<Vec<Session>, SessionsError> {
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
        if !gone.is_empty() {
            self.save()?;
        }
        Ok(gone)
    }

    /// Marks a fresh PIN proof on the sessions matching `pick`.
    pub fn touch(&mut self, at: i64, pick: impl Fn(&Session) -> bool) -> Result<(), SessionsError> {
        for s in self.sessions.values_mut().filter(|s| pick(s)) {
            s.verified_at = at;
        }
        self.save()
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
        }
    }

    #[test]
    fn survives_a_restart() {
        let dir = std::env::temp_dir().join(format!("cardgate-sessions-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut t = SessionTable::load(&dir).unwrap();
        t.open(session("7", "r0")).unwrap();
        t.open(session("8", "r1")).unwrap();
        let locked = t
            .set_state(SessionState::Locked, |s| s.reader == "r0")
            .unwrap();
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
