//! The register watch: the sessions of cards that `cardgatectl card revoke|return` marked in
//! the register end at once, even before the revocation list is re-read. And the one way a
//! watched file is seen to change (both watches use it).

use super::*;

/// What tells a watched file's versions apart: its inode (every writer replaces the file by a
/// rename), its modification time and its length. `None` when the file cannot be read.
pub(super) type FileStamp = (u64, std::time::SystemTime, u64);

/// The file's stamp now.
pub(super) fn file_stamp(path: &std::path::Path) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.ino(), m.modified().ok()?, m.len()))
}

impl Engine {
    /// Ends the sessions of cards the register says were returned or revoked. `cardgatectl
    /// card revoke|return` writes the register and the list together; the register is read
    /// here too so that a revocation ends sessions at once even before the list is re-read.
    pub fn end_sessions_of_withdrawn_cards(&self) {
        let path = self.register.path().to_owned();
        let stamp = file_stamp(&path);
        {
            let mut last = locked(&self.register_stamp);
            if stamp.is_none() || stamp == *last {
                return;
            }
            *last = stamp;
        }
        let register = match self.register.read() {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the card register");
                return;
            }
        };
        self.end_sessions(
            |s| {
                CardSerial::from_hex(&s.serial)
                    .and_then(|serial| register.get(&serial))
                    .is_some_and(|e| !matches!(e.state, CardState::Lent))
            },
            EndReason::Revoked,
        );
    }
}
