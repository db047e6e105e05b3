//! Forward-secure sealing keys: `k(i+1) = HMAC-SHA256(k(i), "evolve")`, the seal MAC, and the
//! on-disk key file that always holds only the current epoch's key.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ring::hmac;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{FieldError, StoreError};
use crate::record::{Digest, Label, LogId, Seal, Timestamp};

/// Name of the key file in the log directory.
pub const KEY_FILE: &str = "seal.key";
const KEY_FILE_NEW: &str = "seal.key.new";
const KEY_FILE_MAGIC: &str = "cardgate-seal-key-v1";
/// Exact length of the key file: magic, space, 20-digit epoch, space, 64 hex digits, newline.
const KEY_FILE_LEN: usize = KEY_FILE_MAGIC.len() + 1 + 20 + 1 + 64 + 1;
const SEAL_DOMAIN: &[u8] = b"cardgate-audit-seal-v1\0";
const EVOLVE_LABEL: &[u8] = b"evolve";

/// What a seal's MAC binds besides the seal's own fields: the log and the seal record's time
/// and terminal.
#[derive(Debug, Clone, Copy)]
pub struct SealContext<'a> {
    /// The log.
    pub log_id: &'a LogId,
    /// The seal record's time.
    pub time: Timestamp,
    /// The seal record's terminal.
    pub terminal: &'a Label,
}

/// A 256-bit sealing key. Zeroized on drop, printed as `REDACTED`, not serializable.
#[derive(Clone)]
pub struct SealKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey(REDACTED)")
    }
}

impl SealKey {
    /// A fresh random key from the system's CSPRNG.
    pub fn generate() -> Result<Self, ring::error::Unspecified> {
        use ring::rand::SecureRandom;
        let mut key = Zeroizing::new([0u8; 32]);
        ring::rand::SystemRandom::new().fill(key.as_mut())?;
        Ok(SealKey(key))
    }

    /// From raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let mut bytes = bytes;
        let key = SealKey(Zeroizing::new(bytes));
        bytes.zeroize();
        key
    }

    /// From 64 hex digits (either case; surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self, FieldError> {
        let text = text.trim();
        if text.len() != 64 {
            return Err(FieldError::BadHex);
        }
        let mut key = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text, key.as_mut()).map_err(|_| FieldError::BadHex)?;
        Ok(SealKey(key))
    }

    /// As 64 lowercase hex digits, in a zeroizing string.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.as_ref()))
    }

    /// The next epoch's key. The caller drops (and so zeroizes) this one.
    pub fn evolve(&self) -> SealKey {
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, self.0.as_ref()),
            EVOLVE_LABEL,
        );
        let mut next = Zeroizing::new([0u8; 32]);
        next.copy_from_slice(tag.as_ref());
        SealKey(next)
    }

    /// The key of `epochs` epochs later.
    pub fn evolve_by(&self, epochs: u64) -> SealKey {
        let mut key = self.clone();
        for _ in 0..epochs {
            key = key.evolve();
        }
        key
    }

    /// The seal MAC over the log ID, the seal record's own time and terminal, the epoch, the
    /// record range and the chain head. Binding the seal record's time and terminal means the
    /// last line of a sealed log is covered too.
    pub fn seal_mac(
        &self,
        at: &SealContext<'_>,
        epoch: u64,
        first_seq: u64,
        last_seq: u64,
        head: &Digest,
    ) -> Digest {
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.0.as_ref());
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(SEAL_DOMAIN);
        ctx.update(&at.log_id.0);
        ctx.update(&at.time.unix_ms().to_be_bytes());
        ctx.update(&(at.terminal.as_str().len() as u64).to_be_bytes());
        ctx.update(at.terminal.as_str().as_bytes());
        ctx.update(&epoch.to_be_bytes());
        ctx.update(&first_seq.to_be_bytes());
        ctx.update(&last_seq.to_be_bytes());
        ctx.update(&head.0);
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        Digest(out)
    }

    /// Builds the seal for a range.
    pub fn seal(
        &self,
        at: &SealContext<'_>,
        epoch: u64,
        first_seq: u64,
        last_seq: u64,
        head: Digest,
    ) -> Seal {
        let mac = self.seal_mac(at, epoch, first_seq, last_seq, &head);
        Seal {
            epoch,
            first_seq,
            last_seq,
            head,
            mac,
        }
    }

    /// Checks a seal's MAC in constant time.
    pub fn check(&self, at: &SealContext<'_>, seal: &Seal) -> bool {
        let expected = self.seal_mac(at, seal.epoch, seal.first_seq, seal.last_seq, &seal.head);
        cardgate_card::ct_eq(&expected.0, &seal.mac.0)
    }

    /// Constant-time equality.
    pub fn ct_eq(&self, other: &SealKey) -> bool {
        cardgate_card::ct_eq(self.0.as_ref(), other.0.as_ref())
    }
}

fn encode_key_file(epoch: u64, key: &SealKey) -> Zeroizing<Vec<u8>> {
    let hex = key.to_hex();
    let mut out = Zeroizing::new(Vec::with_capacity(KEY_FILE_LEN));
    out.extend_from_slice(KEY_FILE_MAGIC.as_bytes());
    out.extend_from_slice(format!(" {epoch:020} ").as_bytes());
    out.extend_from_slice(hex.as_bytes());
    out.push(b'\n');
    out
}

fn decode_key_file(bytes: &[u8]) -> Option<(u64, SealKey)> {
    if bytes.len() != KEY_FILE_LEN {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let rest = text.strip_prefix(KEY_FILE_MAGIC)?.strip_prefix(' ')?;
    let (epoch, rest) = rest.split_at_checked(20)?;
    let epoch: u64 = epoch.parse().ok()?;
    let hex = rest.strip_prefix(' ')?.strip_suffix('\n')?;
    Some((epoch, SealKey::from_hex(hex).ok()?))
}

fn read_small(path: &Path) -> std::io::Result<Option<Zeroizing<Vec<u8>>>> {
    match File::open(path) {
        Ok(f) => {
            let mut buf = Zeroizing::new(Vec::new());
            f.take(KEY_FILE_LEN as u64 + 1).read_to_end(&mut buf)?;
            Ok(Some(buf))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// What the key file says. Reading it finishes an interrupted key update.
pub struct KeyFile {
    /// The epoch of the key.
    pub epoch: u64,
    /// The key.
    pub key: SealKey,
}

impl fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFile")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

/// Reads the key file of `dir`: `Ok(None)` when there is none. When an update was interrupted
/// (`seal.key.new` left behind), the newer of the two wins.
pub fn read_key_file(dir: &Path) -> Result<Option<KeyFile>, StoreError> {
    let path = dir.join(KEY_FILE);
    let new_path = dir.join(KEY_FILE_NEW);
    let current =
        read_small(&path).map_err(|e| StoreError::io("reading the key file", &path, e))?;
    let newer =
        read_small(&new_path).map_err(|e| StoreError::io("reading the key file", &new_path, e))?;
    let current = match current {
        Some(bytes) => {
            Some(decode_key_file(&bytes).ok_or_else(|| StoreError::BadKeyFile(path.clone()))?)
        }
        None => None,
    };
    // A torn `.new` file is simply an update that never happened.
    let newer = newer.and_then(|bytes| decode_key_file(&bytes));
    let best = match (current, newer) {
        (Some(c), Some(n)) if n.0 > c.0 => Some(n),
        (Some(c), _) => Some(c),
        (None, n) => n,
    };
    Ok(best.map(|(epoch, key)| KeyFile { epoch, key }))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("syncing the directory", dir, e))
}

/// Replaces the key file with `(epoch, key)` so that the old key is gone from the disk:
/// 1. write `seal.key.new` and fsync it (so a crash keeps one valid key);
/// 2. overwrite `seal.key` in place, same length, and fsync (on ext4/xfs this rewrites the
///    blocks that held the old key rather than leaving them in free space);
/// 3. remove `seal.key.new` and fsync the directory.
pub fn write_key_file(dir: &Path, epoch: u64, key: &SealKey) -> Result<(), StoreError> {
    let bytes = encode_key_file(epoch, key);
    let new_path = dir.join(KEY_FILE_NEW);
    let path = dir.join(KEY_FILE);
    let write = |p: &Path, truncate: bool| -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(truncate)
            .mode(0o600)
            .open(p)?;
        f.write_all(&bytes)?;
        f.set_len(bytes.len() as u64)?;
        f.sync_all()
    };
    write(&new_path, true).map_err(|e| StoreError::io("writing the key file", &new_path, e))?;
    sync_dir(dir)?;
    write(&path, false).map_err(|e| StoreError::io("writing the key file", &path, e))?;
    fs::remove_file(&new_path)
        .map_err(|e| StoreError::io("removing the new key file", &new_path, e))?;
    sync_dir(dir)
}

/// Path of the key file in `dir`.
pub fn key_file_path(dir: &Path) -> PathBuf {
    dir.join(KEY_FILE)
}
