// SPDX-License-Identifier: LGPL-3.0-only
//! The state directory of one virtual card: trussed's two filesystem images, the card's
//! serial, and a lock so that two processes never run one card.

use crate::platform::STORE_FILE_LEN;
use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

/// Why the state directory cannot be used.
#[derive(Debug)]
pub enum StateError {
    /// A file or the directory could not be created, opened, read or written.
    Io {
        /// What was being done.
        what: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A filesystem image has the wrong size (not a state directory of this program).
    ImageSize {
        /// The image.
        path: PathBuf,
        /// Its size.
        len: u64,
    },
    /// The serial file does not hold 8 hex digits.
    BadSerialFile(PathBuf),
    /// `--serial` differs from the serial the card was made with.
    SerialMismatch {
        /// The state directory.
        dir: PathBuf,
        /// What the directory holds.
        stored: String,
        /// What `--serial` asked for.
        asked: String,
    },
    /// Another process runs this card.
    InUse(PathBuf),
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::Io { what, path, source } => {
                write!(f, "cannot {what} {}: {source}", path.display())
            }
            StateError::ImageSize { path, len } => write!(
                f,
                "{} is {len} bytes, not {STORE_FILE_LEN}: not an opcard-virt state file",
                path.display()
            ),
            StateError::BadSerialFile(path) => {
                write!(f, "{} does not hold 8 hex digits", path.display())
            }
            StateError::SerialMismatch { dir, stored, asked } => write!(
                f,
                "the card in {} has serial {stored}, not {asked} (a card's serial never changes)",
                dir.display()
            ),
            StateError::InUse(dir) => write!(
                f,
                "another opcard-virt runs the card in {} (its lock is held)",
                dir.display()
            ),
        }
    }
}

impl std::error::Error for StateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StateError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StateError + 'a {
    move |source| StateError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// An opened, locked state directory.
#[derive(Debug)]
pub struct StateDir {
    dir: PathBuf,
    serial: [u8; 4],
    // Held for the life of the process: the lock goes with it.
    _lock: File,
}

impl StateDir {
    /// Opens (creating it when absent) the state directory `dir`, locks it, checks its
    /// images, and settles the card's serial: `asked` for a new card, else the one kept
    /// (a random one when neither is given).
    pub fn open(dir: &Path, asked: Option<[u8; 4]>) -> Result<Self, StateError> {
        std::fs::create_dir_all(dir).map_err(io_err("create the state directory", dir))?;
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err("open", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(StateError::InUse(dir.to_owned())),
            Err(TryLockError::Error(e)) => return Err(io_err("lock", &lock_path)(e)),
        }
        for image in [Self::internal_in(dir), Self::external_in(dir)] {
            check_image(&image)?;
        }
        let serial = settle_serial(dir, asked)?;
        Ok(StateDir {
            dir: dir.to_owned(),
            serial,
            _lock: lock,
        })
    }

    fn internal_in(dir: &Path) -> PathBuf {
        dir.join("internal.bin")
    }

    fn external_in(dir: &Path) -> PathBuf {
        dir.join("external.bin")
    }

    /// trussed's internal filesystem (PINs, the DRBG state).
    pub fn internal(&self) -> PathBuf {
        Self::internal_in(&self.dir)
    }

    /// trussed's external filesystem (opcard's keys and data objects).
    pub fn external(&self) -> PathBuf {
        Self::external_in(&self.dir)
    }

    /// The card's serial (bytes 10..14 of its AID).
    pub fn serial(&self) -> [u8; 4] {
        self.serial
    }
}

/// trussed asserts an existing image's size and unwraps its file operations: check here,
/// where the error can name the file.
fn check_image(path: &Path) -> Result<(), StateError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() != STORE_FILE_LEN || !meta.is_file() => {
            return Err(StateError::ImageSize {
                path: path.to_owned(),
                len: meta.len(),
            })
        }
        Ok(_) => {
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map_err(io_err("open for reading and writing", path))?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("look at", path)(e)),
    }
    Ok(())
}

/// Parses 8 hex digits (4 bytes).
pub fn parse_serial(text: &str) -> Option<[u8; 4]> {
    let text = text.trim();
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 4];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn hex(serial: [u8; 4]) -> String {
    serial.iter().map(|b| format!("{b:02X}")).collect()
}

fn settle_serial(dir: &Path, asked: Option<[u8; 4]>) -> Result<[u8; 4], StateError> {
    let path = dir.join("serial");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let stored = parse_serial(&text).ok_or(StateError::BadSerialFile(path))?;
            match asked {
                Some(asked) if asked != stored => Err(StateError::SerialMismatch {
                    dir: dir.to_owned(),
                    stored: hex(stored),
                    asked: hex(asked),
                }),
                _ => Ok(stored),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let serial = match asked {
                Some(serial) => serial,
                None => {
                    let mut serial = [0u8; 4];
                    rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, &mut serial)
                        .map_err(|e| {
                            io_err("draw a random serial for", dir)(io::Error::other(e.to_string()))
                        })?;
                    serial
                }
            };
            std::fs::write(&path, format!("{}\n", hex(serial))).map_err(io_err("write", &path))?;
            Ok(serial)
        }
        Err(e) => Err(io_err("read", &path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("opcard-virt-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn serials_parse_as_8_hex_digits_only() {
        assert_eq!(parse_serial("0a1B2c3D\n"), Some([0x0A, 0x1B, 0x2C, 0x3D]));
        assert_eq!(parse_serial("0a1B2c3"), None);
        assert_eq!(parse_serial("0a1B2c3D4"), None);
        assert_eq!(parse_serial("0a1B2c3G"), None);
        assert_eq!(parse_serial("+a1B2c3D"), None);
    }

    #[test]
    fn a_state_dir_keeps_its_serial_and_refuses_another_and_a_second_user() {
        let dir = temp_dir("serial");
        let state = StateDir::open(&dir, Some([1, 2, 3, 4])).map_err(|e| e.to_string());
        let state = state.unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            StateDir::open(&dir, None),
            Err(StateError::InUse(_))
        ));
        drop(state);
        let again = StateDir::open(&dir, None).map_err(|e| e.to_string());
        assert_eq!(again.map(|s| s.serial()), Ok([1, 2, 3, 4]));
        let other = StateDir::open(&dir, Some([9, 9, 9, 9])).map_err(|e| e.to_string());
        assert!(other.is_err_and(|e| e.contains("01020304") && e.contains("09090909")));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn random_serials_differ_per_card() {
        let (a, b) = (temp_dir("rand-a"), temp_dir("rand-b"));
        let sa = StateDir::open(&a, None)
            .map(|s| s.serial())
            .map_err(|e| e.to_string());
        let sb = StateDir::open(&b, None)
            .map(|s| s.serial())
            .map_err(|e| e.to_string());
        assert!(sa.is_ok() && sb.is_ok());
        assert_ne!(sa, sb);
        let _ = std::fs::remove_dir_all(&a);
        let _ = std::fs::remove_dir_all(&b);
    }

    #[test]
    fn a_foreign_file_as_image_is_refused_by_name() {
        let dir = temp_dir("foreign");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join("internal.bin"), b"not an image").unwrap_or_else(|e| panic!("{e}"));
        let err = StateDir::open(&dir, None)
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(err.is_err_and(|e| e.contains("internal.bin") && e.contains("12 bytes")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
