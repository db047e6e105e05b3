//! Forward-secure sealing keys: `k(i+1) = HMAC-SHA256(k(i), "evolve")`, the seal MAC, and the
//! on-disk key file (two slots, overwritten in place) that holds only the current epoch's key.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use hmac::Mac as _;
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
        evolve_with(self.keyed())
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
        mac_with(self.keyed(), at, epoch, first_seq, last_seq, head)
    }

    /// [`SealKey::check`], then [`SealKey::evolve`], with one HMAC key set-up for both: the
    /// collector checks every seal of every terminal's month.
    pub(crate) fn check_then_evolve(&self, at: &SealContext<'_>, seal: &Seal) -> (bool, SealKey) {
        let key = self.keyed();
        let expected = mac_with(
            key.clone(),
            at,
            seal.epoch,
            seal.first_seq,
            seal.last_seq,
            &seal.head,
        );
        let ok = cardgate_card::ct_eq(&expected.0, &seal.mac.0);
        (ok, evolve_with(key))
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

/// The seal MAC with the HMAC key already set up (see [`SealKey::seal_mac`]).
/// HMAC-SHA256 keyed with an epoch key. RustCrypto's `hmac` over `sha2`: the same values as
/// ring's, at two thirds of its cost per seal (the collector checks millions of seals).
type HmacSha256 = hmac::Hmac<sha2::Sha256>;

impl SealKey {
    /// The HMAC state keyed with this key (its inner and outer pads hashed once).
    fn keyed(&self) -> HmacSha256 {
        // HMAC takes a key of any length: this cannot fail.
        match HmacSha256::new_from_slice(self.0.as_ref()) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC-SHA256 accepts a 32-byte key"),
        }
    }
}

/// `HMAC(k, "evolve")`: the next epoch's key.
fn evolve_with(mut key: HmacSha256) -> SealKey {
    key.update(EVOLVE_LABEL);
    let tag = key.finalize().into_bytes();
    let mut next = Zeroizing::new([0u8; 32]);
    next.copy_from_slice(&tag);
    SealKey(next)
}

fn mac_with(
    mut ctx: HmacSha256,
    at: &SealContext<'_>,
    epoch: u64,
    first_seq: u64,
    last_seq: u64,
    head: &Digest,
) -> Digest {
    ctx.update(SEAL_DOMAIN);
    ctx.update(&at.log_id.0);
    ctx.update(&at.time.unix_ms().to_be_bytes());
    ctx.update(&(at.terminal.as_str().len() as u64).to_be_bytes());
    ctx.update(at.terminal.as_str().as_bytes());
    ctx.update(&epoch.to_be_bytes());
    ctx.update(&first_seq.to_be_bytes());
    ctx.update(&last_seq.to_be_bytes());
    ctx.update(&head.0);
    Digest(ctx.finalize().into_bytes().into())
}

/// The old (v1) one-line key file, kept for tests of the migration.
#[cfg(test)]
fn encode_key_file(epoch: u64, key: &SealKey) -> Zeroizing<Vec<u8>> {
    let hex = key.to_hex();
    let mut out = Zeroizing::new(Vec::with_capacity(KEY_FILE_LEN));
    out.extend_from_slice(KEY_FILE_MAGIC.as_bytes());
    out.extend_from_slice(format!(" {epoch:020} ").as_bytes());
    out.extend_from_slice(hex.as_bytes());
    out.push(b'\n');
    out
}

/// Decodes the old (v1) one-line key file.
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

/// Length of one key slot. Each slot is a whole 4 KiB block of its own, so that a write torn
/// by a crash can damage only the slot being written, never the other one.
const SLOT_LEN: usize = 4096;
/// Length of the key-slot file: two slots.
const SLOT_FILE_LEN: usize = 2 * SLOT_LEN;
const SLOT_MAGIC: &str = "cardgate-seal-slot-v2";
/// The text of a slot: magic, space, 20-digit epoch, space, 64 hex key digits, space, 64 hex
/// digits of SHA-256 over everything before that space, newline. The rest is zeros.
const SLOT_TEXT_LEN: usize = SLOT_MAGIC.len() + 1 + 20 + 1 + 64 + 1 + 64 + 1;

fn encode_slot(epoch: u64, key: &SealKey) -> Zeroizing<Vec<u8>> {
    let hex = key.to_hex();
    let mut out = Zeroizing::new(Vec::with_capacity(SLOT_LEN));
    out.extend_from_slice(SLOT_MAGIC.as_bytes());
    out.extend_from_slice(format!(" {epoch:020} ").as_bytes());
    out.extend_from_slice(hex.as_bytes());
    let sum = ring::digest::digest(&ring::digest::SHA256, &out);
    out.push(b' ');
    out.extend_from_slice(hex::encode(sum.as_ref()).as_bytes());
    out.push(b'\n');
    out.resize(SLOT_LEN, 0);
    out
}

fn decode_slot(bytes: &[u8]) -> Option<(u64, SealKey)> {
    let (text, padding) = bytes.split_at_checked(SLOT_TEXT_LEN)?;
    if padding.iter().any(|&b| b != 0) {
        return None;
    }
    let text = std::str::from_utf8(text).ok()?;
    let text = text.strip_suffix('\n')?;
    let (body, sum) = text.rsplit_once(' ')?;
    // Exactly what `encode_slot` writes (lower-case hex): anything else is a torn or foreign
    // slot, not another spelling of a good one.
    let expected = Zeroizing::new(hex::encode(
        ring::digest::digest(&ring::digest::SHA256, body.as_bytes()).as_ref(),
    ));
    if !cardgate_card::ct_eq(expected.as_bytes(), sum.as_bytes()) {
        return None;
    }
    let rest = body.strip_prefix(SLOT_MAGIC)?.strip_prefix(' ')?;
    let (epoch, rest) = rest.split_at_checked(20)?;
    let epoch: u64 = epoch.parse().ok()?;
    let hex = rest.strip_prefix(' ')?;
    Some((epoch, SealKey::from_hex(hex).ok()?))
}

/// The first slot of a file still (or partly) in the old one-line format: the old line, then
/// nothing but zeros up to the end of the slot (what a migration interrupted after writing
/// slot 1 leaves).
fn decode_legacy_slot(bytes: &[u8]) -> Option<(u64, SealKey)> {
    let (line, rest) = bytes.split_at_checked(KEY_FILE_LEN)?;
    if rest.iter().any(|&b| b != 0) {
        return None;
    }
    decode_key_file(line)
}

/// What each slot of the key file holds (`None`: missing, torn or not a key).
struct Slots {
    slots: [Option<(u64, SealKey)>; 2],
    len: usize,
}

impl Slots {
    fn parse(bytes: &[u8]) -> Slots {
        let first = &bytes[..bytes.len().min(SLOT_LEN)];
        let slot0 = decode_slot(first).or_else(|| decode_legacy_slot(first));
        let slot1 = bytes.get(SLOT_LEN..).and_then(decode_slot);
        Slots {
            slots: [slot0, slot1],
            len: bytes.len(),
        }
    }

    /// The slot with the highest epoch.
    fn best(&self) -> Option<(usize, &(u64, SealKey))> {
        let mut best: Option<(usize, &(u64, SealKey))> = None;
        for (i, slot) in self.slots.iter().enumerate() {
            if let Some(s) = slot {
                if best.is_none_or(|(_, b)| s.0 > b.0) {
                    best = Some((i, s));
                }
            }
        }
        best
    }

    /// Both slots hold the same key, in the current format: nothing older is left in the file.
    fn clean(&self) -> bool {
        match &self.slots {
            [Some(a), Some(b)] => self.len == SLOT_FILE_LEN && a.0 == b.0 && a.1.ct_eq(&b.1),
            _ => false,
        }
    }
}

/// Reads at most `cap` bytes of a regular file; `Ok(None)` when there is none. A symbolic link
/// is refused: the key must be written where it is read, not wherever a link points.
fn read_small(path: &Path, cap: usize) -> std::io::Result<Option<Zeroizing<Vec<u8>>>> {
    match fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_file() => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not a regular file",
            ))
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    }
    let f = File::open(path)?;
    let mut buf = Zeroizing::new(Vec::with_capacity(cap + 1));
    f.take(cap as u64 + 1).read_to_end(&mut buf)?;
    Ok(Some(buf))
}

/// What the key file says.
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

fn read_slots(dir: &Path) -> Result<Option<Slots>, StoreError> {
    let path = dir.join(KEY_FILE);
    let bytes = read_small(&path, SLOT_FILE_LEN)
        .map_err(|e| StoreError::io("reading the key file", &path, e))?;
    let Some(bytes) = bytes else { return Ok(None) };
    if bytes.len() > SLOT_FILE_LEN {
        return Err(StoreError::BadKeyFile(path));
    }
    if bytes.len() == KEY_FILE_LEN {
        // The old one-line format, not yet migrated.
        let key = decode_key_file(&bytes).ok_or_else(|| StoreError::BadKeyFile(path.clone()))?;
        return Ok(Some(Slots {
            slots: [Some(key), None],
            len: bytes.len(),
        }));
    }
    Ok(Some(Slots::parse(&bytes)))
}

/// Reads the key file of `dir`: `Ok(None)` when there is none. The valid slot with the highest
/// epoch wins; a torn slot is simply an update that never happened. A `seal.key.new` left by an
/// interrupted update of an older version is still honoured when it is newer.
pub fn read_key_file(dir: &Path) -> Result<Option<KeyFile>, StoreError> {
    let path = dir.join(KEY_FILE);
    let new_path = dir.join(KEY_FILE_NEW);
    let slots = read_slots(dir)?;
    let newer = read_small(&new_path, KEY_FILE_LEN)
        .map_err(|e| StoreError::io("reading the key file", &new_path, e))?
        .and_then(|bytes| decode_key_file(&bytes));
    let current = match &slots {
        Some(s) => Some(
            s.best()
                .map(|(_, (epoch, key))| (*epoch, key.clone()))
                .ok_or_else(|| StoreError::BadKeyFile(path.clone()))?,
        ),
        None => None,
    };
    let best = match (current, newer) {
        (Some(c), Some(n)) if n.0 > c.0 => Some(n),
        (Some(c), _) => Some(c),
        (None, n) => n,
    };
    Ok(best.map(|(epoch, key)| KeyFile { epoch, key }))
}

/// Whether the key file holds nothing but the current key: both slots in the current format,
/// the same epoch and key, and no `seal.key.new` of an older version. When not, the next
/// [`write_key_file`] (the writer calls it on open) overwrites what is left.
pub fn key_file_is_clean(dir: &Path) -> Result<bool, StoreError> {
    let legacy_new = dir.join(KEY_FILE_NEW);
    let new_exists = fs::symlink_metadata(&legacy_new).is_ok();
    Ok(!new_exists && read_slots(dir)?.is_some_and(|s| s.clean()))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("syncing the directory", dir, e))
}

/// Writes `slot` at slot `index` of `file`, in place, and makes it durable.
fn write_slot(file: &File, index: usize, slot: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(slot, (index * SLOT_LEN) as u64)?;
    file.sync_all()
}

/// Stores `(epoch, key)` so that the key it replaces is gone from the disk.
///
/// `seal.key` is a preallocated file of two 4 KiB slots, each `epoch ‖ key ‖ checksum`, and it
/// is only ever overwritten in place, never replaced: no temporary file, no rename, so no block
/// that once held a key is handed back to the file system. The new key goes first into the slot
/// that does not hold the newest valid key (fsync), then over the other one (fsync). A crash at
/// any point leaves at least one valid slot with the old or the new key, and the old key's
/// blocks are rewritten, not freed. On ext4 with its default `data=ordered` (and on xfs), an
/// overwrite of allocated blocks goes to the same blocks; see `docs/audit.md` for where that
/// does not hold.
///
/// An old one-line (v1) key file is migrated in place: slot 1 is written after its end, then
/// slot 0 over the old line. A `seal.key.new` of the old scheme is overwritten with zeros before
/// it is removed.
pub fn write_key_file(dir: &Path, epoch: u64, key: &SealKey) -> Result<(), StoreError> {
    let path = dir.join(KEY_FILE);
    let slot = encode_slot(epoch, key);
    let write_err = |e| StoreError::io("writing the key file", &path, e);
    match read_slots(dir)? {
        None => {
            // The first key of a new log: the file is created here, once, at its full size.
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(write_err)?;
            write_slot(&file, 0, &slot).map_err(write_err)?;
            write_slot(&file, 1, &slot).map_err(write_err)?;
            sync_dir(dir)?;
        }
        Some(slots) => {
            // Opened without `create` or `truncate`: the same inode, the same blocks.
            let file = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(write_err)?;
            let first = match slots.best() {
                Some((best, _)) if !slots.clean() => 1 - best,
                _ => 0,
            };
            write_slot(&file, first, &slot).map_err(write_err)?;
            write_slot(&file, 1 - first, &slot).map_err(write_err)?;
            if slots.len > SLOT_FILE_LEN {
                file.set_len(SLOT_FILE_LEN as u64)
                    .and_then(|()| file.sync_all())
                    .map_err(write_err)?;
            }
        }
    }
    scrub_legacy_new(dir)
}

/// Overwrites a `seal.key.new` of the old scheme with zeros, in place, then removes it.
fn scrub_legacy_new(dir: &Path) -> Result<(), StoreError> {
    let new_path = dir.join(KEY_FILE_NEW);
    let meta = match fs::symlink_metadata(&new_path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::io("reading the old key file", &new_path, e)),
    };
    if meta.file_type().is_file() {
        let zeros = vec![0u8; usize::try_from(meta.len()).unwrap_or(0).min(SLOT_LEN)];
        OpenOptions::new()
            .write(true)
            .open(&new_path)
            .and_then(|mut f| {
                f.write_all(&zeros)?;
                f.sync_all()
            })
            .map_err(|e| StoreError::io("overwriting the old key file", &new_path, e))?;
    }
    fs::remove_file(&new_path)
        .map_err(|e| StoreError::io("removing the old key file", &new_path, e))?;
    sync_dir(dir)
}

/// Path of the key file in `dir`.
pub fn key_file_path(dir: &Path) -> PathBuf {
    dir.join(KEY_FILE)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cardgate-seal-{name}-{}", std::process::id()));
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                panic!("cannot clear {}: {e}", dir.display())
            }
            _ => {}
        }
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn bytes_of(dir: &Path) -> Vec<u8> {
        fs::read(dir.join(KEY_FILE)).unwrap()
    }

    #[test]
    fn slots_are_overwritten_in_place_and_hold_only_the_newest_key() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempdir("slots");
        let k1 = SealKey::generate().unwrap();
        write_key_file(&dir, 1, &k1).unwrap();
        let inode = fs::metadata(dir.join(KEY_FILE)).unwrap().ino();
        let k2 = k1.evolve();
        write_key_file(&dir, 2, &k2).unwrap();
        let kf = read_key_file(&dir).unwrap().unwrap();
        assert_eq!(kf.epoch, 2);
        assert!(kf.key.ct_eq(&k2));
        assert!(key_file_is_clean(&dir).unwrap());
        let bytes = bytes_of(&dir);
        assert_eq!(bytes.len(), SLOT_FILE_LEN);
        let old = k1.to_hex();
        assert!(!bytes.windows(64).any(|w| w == old.as_bytes()));
        assert_eq!(fs::metadata(dir.join(KEY_FILE)).unwrap().ino(), inode);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "no other file");
    }

    #[test]
    fn a_torn_slot_leaves_the_other_key() {
        let dir = tempdir("torn");
        let k1 = SealKey::generate().unwrap();
        write_key_file(&dir, 1, &k1).unwrap();
        // A crash while the first slot of the next update was being written.
        let mut bytes = bytes_of(&dir);
        bytes[30] ^= 1;
        fs::write(dir.join(KEY_FILE), &bytes).unwrap();
        let kf = read_key_file(&dir).unwrap().unwrap();
        assert_eq!(kf.epoch, 1);
        assert!(kf.key.ct_eq(&k1));
        assert!(!key_file_is_clean(&dir).unwrap());
        // The next update writes the torn slot first and then the good one.
        write_key_file(&dir, 2, &k1.evolve()).unwrap();
        assert!(key_file_is_clean(&dir).unwrap());
        // Both slots torn: refused, not guessed.
        let mut bytes = bytes_of(&dir);
        bytes[30] ^= 1;
        bytes[SLOT_LEN + 30] ^= 1;
        fs::write(dir.join(KEY_FILE), &bytes).unwrap();
        assert!(matches!(
            read_key_file(&dir),
            Err(StoreError::BadKeyFile(_))
        ));
    }

    #[test]
    fn an_old_one_line_key_file_is_read_and_migrated_in_place() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempdir("legacy");
        let k3 = SealKey::generate().unwrap();
        fs::write(dir.join(KEY_FILE), encode_key_file(3, &k3).as_slice()).unwrap();
        let k4 = k3.evolve();
        fs::write(dir.join(KEY_FILE_NEW), encode_key_file(4, &k4).as_slice()).unwrap();
        let inode = fs::metadata(dir.join(KEY_FILE)).unwrap().ino();
        let kf = read_key_file(&dir).unwrap().unwrap();
        assert_eq!(kf.epoch, 4, "the newer seal.key.new of the old scheme wins");
        assert!(!key_file_is_clean(&dir).unwrap());
        write_key_file(&dir, 4, &k4).unwrap();
        assert!(key_file_is_clean(&dir).unwrap());
        assert!(!dir.join(KEY_FILE_NEW).exists());
        assert_eq!(fs::metadata(dir.join(KEY_FILE)).unwrap().ino(), inode);
        let bytes = bytes_of(&dir);
        assert!(!bytes.windows(64).any(|w| w == k3.to_hex().as_bytes()));

        // A migration interrupted after slot 1: the old line, zeros, then the new slot.
        let dir = tempdir("legacy-half");
        let mut bytes = encode_key_file(3, &k3).to_vec();
        bytes.resize(SLOT_LEN, 0);
        bytes.extend_from_slice(&encode_slot(4, &k4));
        fs::write(dir.join(KEY_FILE), &bytes).unwrap();
        let kf = read_key_file(&dir).unwrap().unwrap();
        assert_eq!(kf.epoch, 4);
        write_key_file(&dir, 4, &k4).unwrap();
        assert!(key_file_is_clean(&dir).unwrap());
    }

    #[test]
    fn any_single_byte_changed_yields_the_other_slot_or_a_refusal_never_another_key() {
        let dir = tempdir("flips");
        let k5 = SealKey::generate().unwrap();
        let k6 = k5.evolve();
        let mut good = encode_slot(6, &k6).to_vec();
        good.extend_from_slice(&encode_slot(5, &k5));
        for at in (0..SLOT_TEXT_LEN)
            .chain(SLOT_LEN..SLOT_LEN + SLOT_TEXT_LEN)
            .chain([SLOT_TEXT_LEN + 7, SLOT_LEN - 1, SLOT_FILE_LEN - 1])
        {
            for flip in [0x01u8, 0x20, 0x80, 0xff] {
                let mut bytes = good.clone();
                bytes[at] ^= flip;
                fs::write(dir.join(KEY_FILE), &bytes).unwrap();
                match read_key_file(&dir) {
                    Ok(Some(kf)) => {
                        let expected = if at < SLOT_LEN { (5, &k5) } else { (6, &k6) };
                        assert_eq!(kf.epoch, expected.0, "byte {at} ^ {flip:#x}");
                        assert!(kf.key.ct_eq(expected.1), "byte {at} ^ {flip:#x}");
                    }
                    other => panic!("byte {at} ^ {flip:#x}: {other:?}"),
                }
            }
        }
        // Cut short at every length: a refusal or one of the two keys, never a panic.
        for len in 0..SLOT_FILE_LEN {
            fs::write(dir.join(KEY_FILE), &good[..len]).unwrap();
            if let Ok(Some(kf)) = read_key_file(&dir) {
                assert!(kf.key.ct_eq(&k6) || kf.key.ct_eq(&k5), "length {len}");
            }
        }
    }

    #[test]
    fn a_symlinked_key_file_is_refused() {
        let dir = tempdir("link");
        std::os::unix::fs::symlink("/dev/null", dir.join(KEY_FILE)).unwrap();
        assert!(read_key_file(&dir).is_err());
        assert!(write_key_file(&dir, 1, &SealKey::generate().unwrap()).is_err());
    }
}
