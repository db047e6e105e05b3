//! The revocation watch: the list file re-read when it changes, a newer list in force at once
//! (ending the sessions of newly revoked cards), and `revocation.accepted`, which remembers
//! the newest list across restarts so that an older one is never taken again (art. 5.4).

use super::watch::file_stamp;
use super::*;
use cardgate_office::files::{Accepted, AcceptedError};

impl Engine {
    /// Reloads the revocation list if its file changed; a newer list takes effect at once and
    /// ends the sessions of newly revoked cards. A torn, older or foreign file is refused and
    /// the list in force stays.
    pub fn reload_revocation_if_changed(&self) {
        let path = &self.config.revocation.list;
        let stamp = file_stamp(path);
        {
            let state = locked(&self.revocation);
            if stamp.is_some() && stamp == state.file_stamp {
                return;
            }
        }
        let bytes = match read_capped(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the revocation list; the list in force stays");
                return;
            }
        };
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
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "revocation list refused; the list in force stays");
                    None
                }
            }
        };
        let Some(list) = accepted else { return };
        // The sessions of newly revoked cards end whether or not the load could be recorded.
        if let Err(AuditDown) = self.record(Entry::new(Event::RevocationListLoaded {
            version: list.version(),
            entries: list.len() as u64,
        })) {
            tracing::error!(
                version = list.version(),
                "the new revocation list's load could not be recorded"
            );
        }
        self.end_sessions(
            |s| {
                CardSerial::from_hex(&s.serial).is_some_and(|serial| list.lookup(&serial).is_some())
            },
            EndReason::Revoked,
        );
    }
}

pub(crate) fn load_tracker(state_dir: &std::path::Path) -> Result<RevocationTracker, EngineError> {
    let path = state_dir.join(ACCEPTED_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RevocationTracker::new()),
        Err(_) => return Err(EngineError::AcceptedState { path }),
    };
    match Accepted::parse(&text) {
        Ok(a) => Ok(RevocationTracker::resume(a.version, a.digest)),
        Err(AcceptedError::UnknownFormat(version)) => {
            Err(EngineError::AcceptedFormat { path, version })
        }
        Err(_) => Err(EngineError::AcceptedState { path }),
    }
}

pub(super) fn save_accepted(
    state_dir: &std::path::Path,
    list: &RevocationList,
) -> std::io::Result<()> {
    let record = Accepted {
        version: list.version(),
        digest: list.digest(),
    };
    cardgate_office::files::write_atomic(
        &state_dir.join(ACCEPTED_FILE),
        record.render().as_bytes(),
        0o600,
    )
}

pub(crate) fn read_capped(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    let mut out = Vec::new();
    f.take(cardgate_card::revocation::MAX_FILE_LEN as u64 + 1)
        .read_to_end(&mut out)?;
    Ok(out)
}
