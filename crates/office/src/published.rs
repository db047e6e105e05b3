//! The office's state, published to every terminal (issue 13, item 5; art. 5.2, 5.4, 15):
//! the signed revocation list and the card register, as one versioned thing signed with the
//! issuer key, which stays on the access manager's machine.
//!
//! The office publishes two files into a directory it serves (`cardgatectl office publish`):
//! [`LIST_FILE`], the revocation list exactly as it was signed, and [`STATE_FILE`], this
//! module's signed envelope, which carries the register and pins the list by version and
//! SHA-256. A terminal fetches both (rsync over ssh, or a shared path: no listener on the
//! terminal) and applies them ([`apply`]): the envelope's signature, its version against the
//! newest one applied here ([`OFFICE_ACCEPTED_FILE`], kept across restarts like
//! `revocation.accepted`), the list against the envelope, then the list installed (never an
//! older one than the list in force) and the register merged ([`merge_register`]).
//!
//! # File format (`office.state`, format 1)
//!
//! All integers big-endian, times in seconds since the Unix epoch (UTC).
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 4 | magic `CGOS` |
//! | 4 | 1 | format, `01` |
//! | 5 | 8 | issuer key ID (as in certificates and the revocation list) |
//! | 13 | 8 | state version, monotonic |
//! | 21 | 8 | published at |
//! | 29 | 8 | the revocation list's version |
//! | 37 | 32 | the revocation list file's SHA-256 |
//! | 69 | 4 | register length *n* |
//! | 73 | *n* | the register, JSON (`{"cards": {…}}`, as in `cards.json`) |
//! | end−64 | 64 | Ed25519 signature by the issuer over every byte before it |
//!
//! The magic differs from the revocation list's (`CGRL`), so a signature over one is never
//! taken for the other. Loading checks the size first, then the signature, and only then
//! parses the register.

use crate::files::{read_capped, write_atomic, Accepted, AcceptedError, ACCEPTED_FILE};
use crate::register::{
    CardEntry, CardState, Register, RegisterError, RegisterFile, MAX_REGISTER_BYTES,
};
use cardgate_card::revocation::{RevocationError, MAX_FILE_LEN};
use cardgate_card::{IssuerKey, IssuerPublicKey, RevocationList};
use std::path::{Path, PathBuf};

/// The envelope's name in the published directory.
pub const STATE_FILE: &str = "office.state";
/// The revocation list's name in the published directory.
pub const LIST_FILE: &str = "revoked.crl";
/// The file in a terminal's state directory that remembers the newest office state applied
/// (`format 1`, then `<version> <SHA-256 of office.state>`, as `revocation.accepted`).
pub const OFFICE_ACCEPTED_FILE: &str = "office.accepted";
/// The file in a terminal's state directory where every pull leaves its outcome, for
/// `cardgatectl office status` (JSON, one object).
pub const OFFICE_STATUS_FILE: &str = "office.status";

const MAGIC: &[u8; 4] = b"CGOS";
const FORMAT: u8 = 1;
const HEADER_LEN: usize = 73;
const SIGNATURE_LEN: usize = 64;
/// The largest `office.state` accepted: a header, the largest register and a signature.
pub const MAX_STATE_LEN: usize = HEADER_LEN + MAX_REGISTER_BYTES as usize + SIGNATURE_LEN;

/// Why a published state was refused or could not be applied. Every variant about a file
/// names it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishedError {
    /// Shorter than a header and a signature.
    #[error("office state {path} is truncated ({len} bytes)")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: usize,
    },
    /// Larger than [`MAX_STATE_LEN`].
    #[error("office state {path} of {len} bytes exceeds the {MAX_STATE_LEN}-byte limit")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: usize,
    },
    /// Not a cardgate office state.
    #[error("{path} is not a cardgate office state (bad magic)")]
    BadMagic {
        /// The file.
        path: PathBuf,
    },
    /// A format this build does not know.
    #[error("office state {path} has format {format}, which this cardgate does not read")]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
        /// The format byte.
        format: u8,
    },
    /// The register length does not match the file size.
    #[error("office state {path}: its length does not match its register length")]
    LengthMismatch {
        /// The file.
        path: PathBuf,
    },
    /// Signed by some other key.
    #[error("office state {path} is signed by an unknown issuer key")]
    UnknownIssuer {
        /// The file.
        path: PathBuf,
    },
    /// The signature does not verify.
    #[error("office state {path}: the signature does not verify")]
    BadSignature {
        /// The file.
        path: PathBuf,
    },
    /// The register inside does not parse (signed, so written by a broken publisher).
    #[error("office state {path}: the register inside is malformed")]
    BadRegister {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// Older than the state applied here.
    #[error("office state {path} has version {offered}, older than version {accepted} applied on this terminal (rollback refused)")]
    Rollback {
        /// The file.
        path: PathBuf,
        /// The version offered.
        offered: u64,
        /// The version applied.
        accepted: u64,
    },
    /// Same version as the state applied here, but other content.
    #[error("office state {path} has version {version}, which was applied here with other content (refused)")]
    VersionReused {
        /// The file.
        path: PathBuf,
        /// The version.
        version: u64,
    },
    /// The revocation list does not verify.
    #[error("revocation list {path}: {source}")]
    List {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: RevocationError,
    },
    /// The revocation list is not the one the state names.
    #[error("revocation list {path} (version {found}) is not the list office state names (version {named}): published half-way? the next pull takes both")]
    ListMismatch {
        /// The list file.
        path: PathBuf,
        /// Its version.
        found: u64,
        /// The version the state names.
        named: u64,
    },
    /// The list in force here has the offered version, but other content.
    #[error("revocation list {path} has version {version}, which this terminal already holds with other content (refused)")]
    ListVersionReused {
        /// The file offered.
        path: PathBuf,
        /// The version.
        version: u64,
    },
    /// An anti-rollback record that cannot be read.
    #[error("{path}: {source}")]
    Accepted {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: AcceptedError,
    },
    /// I/O on a named file.
    #[error("{path}: cannot {op}")]
    Io {
        /// What.
        op: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The register could not be read or written.
    #[error(transparent)]
    Register(#[from] RegisterError),
}

impl PublishedError {
    /// True for a refusal of what was offered (a rollback, a reused version, a bad
    /// signature, a mismatch), as opposed to a local failure (I/O, this terminal's files).
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            PublishedError::Io { .. }
                | PublishedError::Register(_)
                | PublishedError::Accepted { .. }
        )
    }

    /// True for a rollback or a reused version.
    pub fn is_rollback(&self) -> bool {
        matches!(
            self,
            PublishedError::Rollback { .. }
                | PublishedError::VersionReused { .. }
                | PublishedError::ListVersionReused { .. }
        )
    }
}

fn io_error<'p>(
    op: &'static str,
    path: &'p Path,
) -> impl FnOnce(std::io::Error) -> PublishedError + 'p {
    move |source| PublishedError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    out
}

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

/// A verified office state.
#[derive(Debug, Clone)]
pub struct PublishedState {
    /// Its version.
    pub version: u64,
    /// When it was published (Unix seconds).
    pub published_at: i64,
    /// The version of the revocation list it names.
    pub list_version: u64,
    /// The SHA-256 of the revocation list file it names.
    pub list_digest: [u8; 32],
    /// The office's register.
    pub register: Register,
    /// The SHA-256 of the whole `office.state` file.
    pub digest: [u8; 32],
}

impl PublishedState {
    /// Encodes and signs a state.
    pub fn sign(
        issuer: &IssuerKey,
        version: u64,
        published_at: i64,
        list: &[u8],
        register: &Register,
    ) -> Result<Vec<u8>, PublishedError> {
        let list_path = PathBuf::from(LIST_FILE);
        let verified = RevocationList::verify(list, &issuer.public_key()).map_err(|source| {
            PublishedError::List {
                path: list_path.clone(),
                source,
            }
        })?;
        let json = serde_json::to_vec(register).map_err(|source| PublishedError::BadRegister {
            path: PathBuf::from(STATE_FILE),
            source,
        })?;
        if json.len() as u64 > MAX_REGISTER_BYTES {
            return Err(PublishedError::TooLarge {
                path: PathBuf::from(STATE_FILE),
                len: json.len() + HEADER_LEN + SIGNATURE_LEN,
            });
        }
        let mut out = Vec::with_capacity(HEADER_LEN + json.len() + SIGNATURE_LEN);
        out.extend_from_slice(MAGIC);
        out.push(FORMAT);
        out.extend_from_slice(&issuer.public_key().key_id());
        out.extend_from_slice(&version.to_be_bytes());
        out.extend_from_slice(&published_at.to_be_bytes());
        out.extend_from_slice(&verified.version().to_be_bytes());
        out.extend_from_slice(&sha256(list));
        out.extend_from_slice(&(json.len() as u32).to_be_bytes());
        out.extend_from_slice(&json);
        let signature = issuer.sign(&out);
        out.extend_from_slice(&signature);
        Ok(out)
    }

    /// Parses and verifies a state signed by `issuer`; `path` names the file in errors.
    pub fn verify(
        bytes: &[u8],
        issuer: &IssuerPublicKey,
        path: &Path,
    ) -> Result<PublishedState, PublishedError> {
        let path = || path.to_owned();
        let len = bytes.len();
        if len > MAX_STATE_LEN {
            return Err(PublishedError::TooLarge { path: path(), len });
        }
        if len < HEADER_LEN + SIGNATURE_LEN {
            return Err(PublishedError::Truncated { path: path(), len });
        }
        if &bytes[..4] != MAGIC {
            return Err(PublishedError::BadMagic { path: path() });
        }
        if bytes[4] != FORMAT {
            return Err(PublishedError::UnsupportedFormat {
                path: path(),
                format: bytes[4],
            });
        }
        let n = u32::from_be_bytes([bytes[69], bytes[70], bytes[71], bytes[72]]) as usize;
        if n as u64 > MAX_REGISTER_BYTES || len != HEADER_LEN + n + SIGNATURE_LEN {
            return Err(PublishedError::LengthMismatch { path: path() });
        }
        if bytes[5..13] != issuer.key_id() {
            return Err(PublishedError::UnknownIssuer { path: path() });
        }
        let (signed, signature) = bytes.split_at(len - SIGNATURE_LEN);
        if !issuer.verify(signed, signature) {
            return Err(PublishedError::BadSignature { path: path() });
        }
        let register: Register =
            serde_json::from_slice(&signed[HEADER_LEN..]).map_err(|source| {
                PublishedError::BadRegister {
                    path: path(),
                    source,
                }
            })?;
        let mut list_digest = [0u8; 32];
        list_digest.copy_from_slice(&bytes[37..69]);
        Ok(PublishedState {
            version: be_u64(&bytes[13..]),
            published_at: be_u64(&bytes[21..]) as i64,
            list_version: be_u64(&bytes[29..]),
            list_digest,
            register,
            digest: sha256(bytes),
        })
    }
}

/// What the merge of the office's register into a terminal's did, card by card.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeSummary {
    /// Cards the terminal did not know.
    pub added: u64,
    /// Cards whose entry changed.
    pub updated: u64,
    /// Cards now returned or revoked here that were lent here before.
    pub withdrawn: u64,
    /// Cards where this terminal knows more (a newer issuance, a PIN change, a withdrawal)
    /// and kept it.
    pub kept_local: u64,
}

/// The moment of a card's last PIN reset: its issuance, or its last unblocking.
fn pin_reset_at(e: &CardEntry) -> i64 {
    e.unblocked_at.map_or(e.lent_at, |u| u.max(e.lent_at))
}

/// Merges one office entry into this terminal's entry of the same card. The rule (written
/// down in docs/integration.md, "Office state to the terminals"):
///
/// 1. Issuances are told apart by `lent_at`: the newer issuance wins whole (a card issued
///    again at the office replaces what the terminal knew of the old issuance; a card issued
///    again here since is not undone by an office copy of the old one).
/// 2. For one issuance, a withdrawal is never undone: returned or revoked on either side
///    stays so (the earlier withdrawal wins when both have one, with its reason).
/// 3. For one issuance, the PIN change follows the newer PIN reset (issuance or unblocking,
///    `unblocked_at`): an unblocking at the office after the terminal's asks for a change
///    again; otherwise a change done on either side stays done (`must_change_pin` only
///    when both still ask).
///
/// Returns the merged entry and whether the terminal's entry was kept in some respect.
pub fn merge_entry(local: &CardEntry, office: &CardEntry) -> (CardEntry, bool) {
    if office.lent_at > local.lent_at {
        return (office.clone(), false);
    }
    if office.lent_at < local.lent_at {
        return (local.clone(), true);
    }
    let mut merged = local.clone();
    let mut kept = false;
    merged.state = match (local.state, office.state) {
        (CardState::Lent, o) => o,
        (l, CardState::Lent) => {
            kept = true;
            l
        }
        (l, o) => {
            let at = |s: CardState| match s {
                CardState::Returned { at } | CardState::Revoked { at, .. } => at,
                CardState::Lent => i64::MAX,
            };
            if at(o) < at(l) {
                o
            } else {
                if l != o {
                    kept = true;
                }
                l
            }
        }
    };
    let (lr, or) = (pin_reset_at(local), pin_reset_at(office));
    if or > lr {
        merged.must_change_pin = office.must_change_pin;
        merged.unblocked_at = office.unblocked_at;
    } else if or == lr {
        if local.must_change_pin && !office.must_change_pin {
            merged.must_change_pin = false;
        } else if office.must_change_pin && !local.must_change_pin {
            kept = true;
        }
    } else {
        kept = true;
    }
    (merged, kept)
}

/// Merges the office's register into this terminal's ([`merge_entry`] card by card; a card
/// only this terminal knows stays as it is).
pub fn merge_register(local: &mut Register, office: &Register) -> MergeSummary {
    let mut summary = MergeSummary::default();
    for (serial, o) in &office.cards {
        match local.cards.get(serial) {
            None => {
                local.cards.insert(serial.clone(), o.clone());
                summary.added += 1;
            }
            Some(l) => {
                let (merged, kept) = merge_entry(l, o);
                if kept {
                    summary.kept_local += 1;
                }
                if &merged != l {
                    if matches!(l.state, CardState::Lent)
                        && !matches!(merged.state, CardState::Lent)
                    {
                        summary.withdrawn += 1;
                    }
                    summary.updated += 1;
                    local.cards.insert(serial.clone(), merged);
                }
            }
        }
    }
    summary
}

/// What became of the revocation list on an apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListOutcome {
    /// The offered list was installed: it is newer than the list in force.
    Installed {
        /// Its version.
        version: u64,
        /// The version in force before, if any.
        previous: Option<u64>,
    },
    /// The offered list is the one in force.
    AlreadyInForce {
        /// Its version.
        version: u64,
    },
    /// This terminal holds a newer list (signed since with the issuer key, say by a local
    /// `card revoke`): kept, never replaced by an older one.
    KeptNewer {
        /// The version in force.
        local: u64,
        /// The version offered.
        offered: u64,
    },
}

/// What an apply did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// The state's version.
    pub version: u64,
    /// The version applied before, if any.
    pub previous: Option<u64>,
    /// The very state applied before: nothing to do.
    pub unchanged: bool,
    /// The list.
    pub list: ListOutcome,
    /// The register (all zero when unchanged).
    pub register: MergeSummary,
}

/// Where an apply reads and writes on this terminal (from `cardgated.toml`).
#[derive(Debug, Clone)]
pub struct Targets {
    /// `[daemon] state_dir`: the register, `revocation.accepted`, `office.accepted`.
    pub state_dir: PathBuf,
    /// `[revocation] list`: the list file the daemon watches.
    pub list: PathBuf,
}

fn read_accepted(path: &Path) -> Result<Option<Accepted>, PublishedError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Accepted::parse(&text)
            .map(Some)
            .map_err(|source| PublishedError::Accepted {
                path: path.to_owned(),
                source,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read", path)(e)),
    }
}

/// The newest list this terminal holds: `revocation.accepted` (what the daemon accepted) or
/// the list file in place, whichever is newer; a list file that does not verify counts as
/// none (the daemon refuses it too).
fn list_in_force(
    targets: &Targets,
    issuer: &IssuerPublicKey,
) -> Result<Option<Accepted>, PublishedError> {
    let accepted = read_accepted(&targets.state_dir.join(ACCEPTED_FILE))?;
    let in_place = match read_capped(&targets.list, MAX_FILE_LEN as u64) {
        Ok(bytes) => RevocationList::verify(&bytes, issuer)
            .ok()
            .map(|l| Accepted {
                version: l.version(),
                digest: l.digest(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_error("read", &targets.list)(e)),
    };
    Ok(match (accepted, in_place) {
        (Some(a), Some(p)) if p.version > a.version => Some(p),
        (Some(a), _) => Some(a),
        (None, p) => p,
    })
}

/// Reads the two published files from `dir` (at most [`MAX_STATE_LEN`] and the list's
/// [`MAX_FILE_LEN`]), for [`apply`].
pub fn read_published(dir: &Path) -> Result<(Vec<u8>, Vec<u8>), PublishedError> {
    let state = dir.join(STATE_FILE);
    let list = dir.join(LIST_FILE);
    // A regular file each (a FIFO or a device in a shared directory would block or never
    // end), looked at before it is opened.
    for path in [&state, &list] {
        let meta = std::fs::metadata(path).map_err(io_error("read", path))?;
        if !meta.is_file() {
            return Err(PublishedError::Io {
                op: "read",
                path: path.clone(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
            });
        }
    }
    let s = read_capped(&state, MAX_STATE_LEN as u64).map_err(io_error("read", &state))?;
    let l = read_capped(&list, MAX_FILE_LEN as u64).map_err(io_error("read", &list))?;
    Ok((s, l))
}

/// Applies a published state on this terminal: verifies `state` (read from `state_path`)
/// and `list` (from `list_path`) with the issuer key, refuses a state older than the one
/// applied here (or the same version with other content), installs the list atomically
/// where the daemon watches it when it is newer than the list in force, merges the register
/// under its lock, and records the state's version in [`OFFICE_ACCEPTED_FILE`]. Nothing is
/// written before everything offered has verified.
pub fn apply(
    state: &[u8],
    state_path: &Path,
    list: &[u8],
    list_path: &Path,
    issuer: &IssuerPublicKey,
    targets: &Targets,
) -> Result<ApplyOutcome, PublishedError> {
    let published = PublishedState::verify(state, issuer, state_path)?;
    let accepted_path = targets.state_dir.join(OFFICE_ACCEPTED_FILE);
    let accepted = read_accepted(&accepted_path)?;
    if let Some(a) = accepted {
        if published.version < a.version {
            return Err(PublishedError::Rollback {
                path: state_path.to_owned(),
                offered: published.version,
                accepted: a.version,
            });
        }
        if published.version == a.version && published.digest != a.digest {
            return Err(PublishedError::VersionReused {
                path: state_path.to_owned(),
                version: a.version,
            });
        }
    }
    let verified = RevocationList::verify(list, issuer).map_err(|source| PublishedError::List {
        path: list_path.to_owned(),
        source,
    })?;
    if verified.version() != published.list_version || verified.digest() != published.list_digest {
        return Err(PublishedError::ListMismatch {
            path: list_path.to_owned(),
            found: verified.version(),
            named: published.list_version,
        });
    }
    let in_force = list_in_force(targets, issuer)?;
    let list_outcome = match in_force {
        Some(f) if f.version > verified.version() => ListOutcome::KeptNewer {
            local: f.version,
            offered: verified.version(),
        },
        Some(f) if f.version == verified.version() => {
            if f.digest != verified.digest() {
                return Err(PublishedError::ListVersionReused {
                    path: list_path.to_owned(),
                    version: f.version,
                });
            }
            ListOutcome::AlreadyInForce { version: f.version }
        }
        previous => ListOutcome::Installed {
            version: verified.version(),
            previous: previous.map(|p| p.version),
        },
    };
    let unchanged = accepted.is_some_and(|a| a.digest == published.digest)
        && !matches!(list_outcome, ListOutcome::Installed { .. });
    if unchanged {
        return Ok(ApplyOutcome {
            version: published.version,
            previous: accepted.map(|a| a.version),
            unchanged: true,
            list: list_outcome,
            register: MergeSummary::default(),
        });
    }
    // The revocations first: they are what must be in force at once (art. 5.4).
    if let ListOutcome::Installed { .. } = list_outcome {
        write_atomic(&targets.list, list, 0o644).map_err(io_error("write", &targets.list))?;
    }
    let register = RegisterFile::new(&targets.state_dir)
        .update(|local| merge_register(local, &published.register))?;
    let record = Accepted {
        version: published.version,
        digest: published.digest,
    };
    write_atomic(&accepted_path, record.render().as_bytes(), 0o640)
        .map_err(io_error("write", &accepted_path))?;
    Ok(ApplyOutcome {
        version: published.version,
        previous: accepted.map(|a| a.version),
        unchanged: false,
        list: list_outcome,
        register,
    })
}

/// The version the next publication in `out` takes: one more than the state published
/// there (verified with `issuer`), 1 when there is none. A state there that does not verify
/// is an error: the access manager must look at it before it is replaced.
pub fn next_version(out: &Path, issuer: &IssuerPublicKey) -> Result<u64, PublishedError> {
    let path = out.join(STATE_FILE);
    match read_capped(&path, MAX_STATE_LEN as u64) {
        Ok(bytes) => Ok(PublishedState::verify(&bytes, issuer, &path)?
            .version
            .saturating_add(1)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(1),
        Err(e) => Err(io_error("read", &path)(e)),
    }
}

/// Publishes into `out`: the list first, then the state that names it (a terminal that
/// fetches between the two writes sees a mismatch and takes both at its next pull). Both
/// world-readable (0644): they hold no secret, and the account that serves them (rsync over
/// ssh) is not root.
pub fn publish(
    out: &Path,
    issuer: &IssuerKey,
    published_at: i64,
    list: &[u8],
    register: &Register,
) -> Result<u64, PublishedError> {
    let version = next_version(out, &issuer.public_key())?;
    let state = PublishedState::sign(issuer, version, published_at, list, register)?;
    let list_path = out.join(LIST_FILE);
    write_atomic(&list_path, list, 0o644).map_err(io_error("write", &list_path))?;
    let state_path = out.join(STATE_FILE);
    write_atomic(&state_path, &state, 0o644).map_err(io_error("write", &state_path))?;
    Ok(version)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use cardgate_card::cert::{CardSerial, Role};
    use cardgate_card::revocation::{Revocation, RevocationListBuilder, RevocationReason};
    use time::macros::date;

    fn fresh_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("cardgate-published-{name}-{}", std::process::id()));
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("{}: {e}", dir.display()),
        }
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn list(issuer: &IssuerKey, version: u64, revoked: &[u8]) -> Vec<u8> {
        let mut b = RevocationListBuilder::new(version, 1_790_000_000, 1_790_600_000);
        for &s in revoked {
            b.revoke(
                CardSerial([s; 8]),
                Revocation {
                    revoked_at: 1_790_000_000,
                    reason: RevocationReason::Lost,
                },
            );
        }
        b.sign(issuer).unwrap()
    }

    fn lent(lent_at: i64) -> CardEntry {
        CardEntry::lent("op-0042", Role::Operator, lent_at, date!(2027 - 03 - 31))
    }

    fn register(cards: &[(u8, CardEntry)]) -> Register {
        Register {
            cards: cards
                .iter()
                .map(|(s, e)| (CardSerial([*s; 8]).to_string(), e.clone()))
                .collect(),
        }
    }

    struct Terminal {
        dir: PathBuf,
        targets: Targets,
    }

    fn terminal(name: &str) -> Terminal {
        let dir = fresh_dir(name);
        let targets = Targets {
            state_dir: dir.clone(),
            list: dir.join("revoked.crl"),
        };
        Terminal { dir, targets }
    }

    fn apply_to(
        t: &Terminal,
        issuer: &IssuerKey,
        state: &[u8],
        list: &[u8],
    ) -> Result<ApplyOutcome, PublishedError> {
        apply(
            state,
            Path::new("/office/office.state"),
            list,
            Path::new("/office/revoked.crl"),
            &issuer.public_key(),
            &t.targets,
        )
    }

    #[test]
    fn sign_verify_round_trip() {
        let issuer = IssuerKey::generate().unwrap();
        let l = list(&issuer, 4, &[1]);
        let r = register(&[(1, lent(10))]);
        let bytes = PublishedState::sign(&issuer, 9, 1_790_000_000, &l, &r).unwrap();
        let s = PublishedState::verify(&bytes, &issuer.public_key(), Path::new("x")).unwrap();
        assert_eq!(s.version, 9);
        assert_eq!(s.list_version, 4);
        assert_eq!(s.published_at, 1_790_000_000);
        assert_eq!(s.register, r);
        assert_eq!(s.list_digest, sha256(&l));
    }

    #[test]
    fn tampering_other_issuers_and_sizes_are_refused_naming_the_file() {
        let issuer = IssuerKey::generate().unwrap();
        let other = IssuerKey::generate().unwrap();
        let pk = issuer.public_key();
        let l = list(&issuer, 1, &[]);
        let bytes = PublishedState::sign(&issuer, 1, 0, &l, &register(&[(1, lent(10))])).unwrap();
        let path = Path::new("/srv/office/office.state");
        let named = |e: PublishedError| {
            assert!(e.to_string().contains("/srv/office/office.state"), "{e}");
            e
        };
        for i in [5, 13, 30, 40, 80, bytes.len() - 1] {
            let mut t = bytes.clone();
            t[i] ^= 1;
            let e = named(PublishedState::verify(&t, &pk, path).unwrap_err());
            assert!(
                matches!(
                    e,
                    PublishedError::BadSignature { .. } | PublishedError::UnknownIssuer { .. }
                ),
                "byte {i}: {e:?}"
            );
        }
        let foreign =
            PublishedState::sign(&other, 1, 0, &list(&other, 1, &[]), &Register::default())
                .unwrap();
        assert!(matches!(
            named(PublishedState::verify(&foreign, &pk, path).unwrap_err()),
            PublishedError::UnknownIssuer { .. }
        ));
        assert!(matches!(
            named(PublishedState::verify(&bytes[..bytes.len() - 1], &pk, path).unwrap_err()),
            PublishedError::LengthMismatch { .. }
        ));
        assert!(matches!(
            named(
                PublishedState::verify(&bytes[..HEADER_LEN + SIGNATURE_LEN + 1], &pk, path)
                    .unwrap_err()
            ),
            PublishedError::LengthMismatch { .. }
        ));
        assert!(matches!(
            named(PublishedState::verify(&bytes[..20], &pk, path).unwrap_err()),
            PublishedError::Truncated { .. }
        ));
        assert!(matches!(
            named(PublishedState::verify(&list(&issuer, 1, &[1, 2, 3]), &pk, path).unwrap_err()),
            PublishedError::BadMagic { .. }
        ));
        let mut newer = bytes.clone();
        newer[4] = 2;
        assert!(matches!(
            named(PublishedState::verify(&newer, &pk, path).unwrap_err()),
            PublishedError::UnsupportedFormat { format: 2, .. }
        ));
        // A length field claiming more than the cap is refused before anything is read.
        let mut huge = bytes.clone();
        huge[69..73].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            PublishedState::verify(&huge, &pk, path).unwrap_err(),
            PublishedError::LengthMismatch { .. }
        ));
        let too_large = vec![0u8; MAX_STATE_LEN + 1];
        assert!(matches!(
            named(PublishedState::verify(&too_large, &pk, path).unwrap_err()),
            PublishedError::TooLarge { .. }
        ));
        // A revocation list's signature is not an office state's.
        assert!(
            PublishedState::sign(&issuer, 1, 0, &list(&other, 1, &[]), &Register::default())
                .is_err()
        );
    }

    #[test]
    fn every_truncation_and_every_flipped_byte_is_an_error_not_a_panic() {
        let issuer = IssuerKey::generate().unwrap();
        let pk = issuer.public_key();
        let l = list(&issuer, 1, &[1]);
        let bytes = PublishedState::sign(&issuer, 1, 0, &l, &register(&[(1, lent(10))])).unwrap();
        let path = Path::new("office.state");
        for len in 0..bytes.len() {
            assert!(
                PublishedState::verify(&bytes[..len], &pk, path).is_err(),
                "{len}"
            );
        }
        for i in 0..bytes.len() {
            for bit in [0x01, 0x80] {
                let mut t = bytes.clone();
                t[i] ^= bit;
                assert!(PublishedState::verify(&t, &pk, path).is_err(), "byte {i}");
            }
        }
        // A signed state whose register is not a register: a typed error, not a panic.
        let mut raw = Vec::new();
        raw.extend_from_slice(MAGIC);
        raw.push(FORMAT);
        raw.extend_from_slice(&pk.key_id());
        raw.extend_from_slice(&[0u8; 24]);
        raw.extend_from_slice(&sha256(&l));
        raw.extend_from_slice(&5u32.to_be_bytes());
        raw.extend_from_slice(b"[1,2]");
        let signature = issuer.sign(&raw);
        raw.extend_from_slice(&signature);
        assert!(matches!(
            PublishedState::verify(&raw, &pk, path).unwrap_err(),
            PublishedError::BadRegister { .. }
        ));
    }

    #[test]
    fn apply_installs_refuses_rollback_and_reuse_and_is_idempotent() {
        let issuer = IssuerKey::generate().unwrap();
        let t = terminal("apply");
        let l1 = list(&issuer, 1, &[]);
        let s1 = PublishedState::sign(&issuer, 1, 0, &l1, &register(&[(1, lent(10))])).unwrap();
        let out = apply_to(&t, &issuer, &s1, &l1).unwrap();
        assert_eq!(
            out.list,
            ListOutcome::Installed {
                version: 1,
                previous: None
            }
        );
        assert_eq!(out.register.added, 1);
        assert_eq!(std::fs::read(&t.targets.list).unwrap(), l1);
        let reg = RegisterFile::new(&t.dir).read().unwrap();
        assert!(reg.get(&CardSerial([1; 8])).unwrap().must_change_pin);
        // The same again: nothing to do.
        assert!(apply_to(&t, &issuer, &s1, &l1).unwrap().unchanged);
        // Version 2 revokes card 1.
        let l2 = list(&issuer, 2, &[1]);
        let s2 = PublishedState::sign(&issuer, 2, 0, &l2, &register(&[(1, lent(10))])).unwrap();
        let out = apply_to(&t, &issuer, &s2, &l2).unwrap();
        assert_eq!(
            out.list,
            ListOutcome::Installed {
                version: 2,
                previous: Some(1)
            }
        );
        assert_eq!(std::fs::read(&t.targets.list).unwrap(), l2);
        // Version 1 again: a rollback, refused, nothing written.
        let e = apply_to(&t, &issuer, &s1, &l1).unwrap_err();
        assert!(
            matches!(
                e,
                PublishedError::Rollback {
                    offered: 1,
                    accepted: 2,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.is_rollback() && e.is_refusal());
        assert!(e.to_string().contains("/office/office.state"), "{e}");
        assert_eq!(std::fs::read(&t.targets.list).unwrap(), l2);
        // Version 2 with other content: refused.
        let s2b = PublishedState::sign(&issuer, 2, 5, &l2, &Register::default()).unwrap();
        assert!(matches!(
            apply_to(&t, &issuer, &s2b, &l2).unwrap_err(),
            PublishedError::VersionReused { version: 2, .. }
        ));
        // The record survives: a new run (a restart) reads it from the state directory.
        let record = std::fs::read_to_string(t.dir.join(OFFICE_ACCEPTED_FILE)).unwrap();
        assert!(record.starts_with("format 1\n2 "), "{record}");
        std::fs::remove_dir_all(&t.dir).unwrap();
    }

    #[test]
    fn a_list_that_is_not_the_one_named_or_older_than_in_force_is_not_installed() {
        let issuer = IssuerKey::generate().unwrap();
        let t = terminal("list");
        let l3 = list(&issuer, 3, &[1]);
        let l4 = list(&issuer, 4, &[1, 2]);
        // Published half-way: the state names list 4, the list file is still 3.
        let s = PublishedState::sign(&issuer, 1, 0, &l4, &Register::default()).unwrap();
        let e = apply_to(&t, &issuer, &s, &l3).unwrap_err();
        assert!(
            matches!(
                e,
                PublishedError::ListMismatch {
                    found: 3,
                    named: 4,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("/office/revoked.crl"), "{e}");
        assert!(!t.targets.list.exists());
        // The terminal holds list 4 (a local revocation); the office's state names list 3.
        std::fs::write(&t.targets.list, &l4).unwrap();
        let s = PublishedState::sign(&issuer, 1, 0, &l3, &register(&[(1, lent(1))])).unwrap();
        let out = apply_to(&t, &issuer, &s, &l3).unwrap();
        assert_eq!(
            out.list,
            ListOutcome::KeptNewer {
                local: 4,
                offered: 3
            }
        );
        assert_eq!(std::fs::read(&t.targets.list).unwrap(), l4);
        assert_eq!(out.register.added, 1);
        // The daemon remembers list 4 accepted, the file in place went missing: still kept.
        std::fs::remove_file(&t.targets.list).unwrap();
        let a = Accepted {
            version: 4,
            digest: sha256(&l4),
        };
        std::fs::write(t.dir.join(ACCEPTED_FILE), a.render()).unwrap();
        let s = PublishedState::sign(&issuer, 2, 0, &l3, &Register::default()).unwrap();
        assert!(matches!(
            apply_to(&t, &issuer, &s, &l3).unwrap().list,
            ListOutcome::KeptNewer { local: 4, .. }
        ));
        // The same version as in force, other content: refused.
        let other4 = list(&issuer, 4, &[9]);
        let s = PublishedState::sign(&issuer, 3, 0, &other4, &Register::default()).unwrap();
        assert!(matches!(
            apply_to(&t, &issuer, &s, &other4).unwrap_err(),
            PublishedError::ListVersionReused { version: 4, .. }
        ));
        std::fs::remove_dir_all(&t.dir).unwrap();
    }

    #[test]
    fn merge_keeps_what_the_terminal_knows_more() {
        let mut changed_here = lent(100);
        changed_here.must_change_pin = false;
        let office_copy = lent(100);
        // A first-login PIN change done here is not undone by the office's older copy.
        let (m, kept) = merge_entry(&changed_here, &office_copy);
        assert!(!m.must_change_pin && kept);
        // ... nor one done at another terminal and known to the office.
        let (m, _) = merge_entry(&office_copy, &changed_here);
        assert!(!m.must_change_pin);
        // An unblocking at the office after that asks for a change again.
        let mut unblocked = lent(100);
        unblocked.unblocked_at = Some(200);
        unblocked.must_change_pin = true;
        let (m, _) = merge_entry(&changed_here, &unblocked);
        assert!(m.must_change_pin);
        assert_eq!(m.unblocked_at, Some(200));
        // A withdrawal is never undone, on either side.
        let mut revoked = lent(100);
        revoked.state = CardState::Revoked {
            at: 300,
            reason: RevocationReason::Lost,
        };
        let (m, kept) = merge_entry(&revoked, &office_copy);
        assert!(matches!(m.state, CardState::Revoked { .. }) && kept);
        let (m, _) = merge_entry(&office_copy, &revoked);
        assert!(matches!(m.state, CardState::Revoked { at: 300, .. }));
        let returned = CardEntry {
            state: CardState::Returned { at: 250 },
            ..lent(100)
        };
        let (m, _) = merge_entry(&revoked, &returned);
        assert_eq!(m.state, CardState::Returned { at: 250 });
        // A newer issuance wins whole, whichever side has it.
        let reissued = lent(500);
        assert_eq!(merge_entry(&revoked, &reissued).0, reissued);
        assert_eq!(merge_entry(&reissued, &revoked), (reissued.clone(), true));
        // Register-wide: added, withdrawn, kept.
        let mut local = register(&[(1, changed_here.clone()), (2, lent(100)), (3, lent(7))]);
        let office = register(&[(1, office_copy), (2, revoked), (4, lent(9))]);
        let s = merge_register(&mut local, &office);
        assert_eq!(
            s,
            MergeSummary {
                added: 1,
                updated: 1,
                withdrawn: 1,
                kept_local: 1
            }
        );
        assert_eq!(local.cards.len(), 4);
        assert!(!local.get(&CardSerial([1; 8])).unwrap().must_change_pin);
        assert_eq!(local.get(&CardSerial([3; 8])).unwrap(), &lent(7));
    }

    #[test]
    fn publish_numbers_versions_and_refuses_a_foreign_state_in_the_way() {
        let issuer = IssuerKey::generate().unwrap();
        let out = fresh_dir("publish");
        let l = list(&issuer, 1, &[]);
        assert_eq!(
            publish(&out, &issuer, 1, &l, &Register::default()).unwrap(),
            1
        );
        assert_eq!(
            publish(&out, &issuer, 2, &l, &Register::default()).unwrap(),
            2
        );
        let (s, back) = read_published(&out).unwrap();
        assert_eq!(back, l);
        let state =
            PublishedState::verify(&s, &issuer.public_key(), &out.join(STATE_FILE)).unwrap();
        assert_eq!(state.version, 2);
        let other = IssuerKey::generate().unwrap();
        assert!(matches!(
            publish(&out, &other, 3, &list(&other, 1, &[]), &Register::default()).unwrap_err(),
            PublishedError::UnknownIssuer { .. }
        ));
        std::fs::remove_file(out.join(LIST_FILE)).unwrap();
        let e = read_published(&out).unwrap_err();
        assert!(e.to_string().contains(LIST_FILE), "{e}");
        std::fs::create_dir(out.join(LIST_FILE)).unwrap();
        let e = read_published(&out).unwrap_err();
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("not a regular file"), "{e}");
        std::fs::remove_dir_all(&out).unwrap();
    }
}
