//! The card image: everything a card keeps across power cycles (its EEPROM), and the file that
//! holds it.
//!
//! The image holds the PUK, the PIN and the card's private key, so it is deliberately not
//! serde: it has its own small versioned binary format, parsed by hand with typed errors and
//! a size cap, and every secret stays in a zeroizing type whose `Debug` prints `REDACTED`.
//!
//! Format, version 1 (all lengths big-endian):
//!
//! | bytes | content |
//! | --- | --- |
//! | 8 | magic `CGSIMIMG` |
//! | 1 | format version, `01` |
//! | 1 | PIN tries left (0..=3) |
//! | 1 | PUK tries left (0..=10) |
//! | 1 + n | PUK: length (8..=16), ASCII |
//! | 1 + n | PIN: length (0 = no PIN set, else 6..=16), ASCII |
//! | 2 + n | card private key, PKCS#8 (0 = no key) |
//! | 2 + n | certificate, the whole `7F21` TLV (0 = not personalised) |
//! | 32 | SHA-256 of all the bytes above |
//!
//! The file is written atomically: a temporary file in the same directory, `fsync`, `rename`
//! over the old image, `fsync` of the directory. The file mode is `0600`.

use cardgate_card::cert::{CertError, Certificate, EC_POINT_LEN};
use cardgate_card::secret::SecretFormatError;
use cardgate_card::{Pin, Puk};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use zeroize::Zeroizing;

/// The first eight bytes of every card image.
pub const MAGIC: &[u8; 8] = b"CGSIMIMG";
/// The image format this code writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// The largest image file we read. A full image is well under 1 KiB.
pub const MAX_IMAGE_LEN: usize = 4096;
/// PIN tries of a fresh card, and after a successful VERIFY or RESET RETRY COUNTER.
pub const PIN_TRIES: u8 = 3;
/// PUK tries of a fresh card, and after a successful PUK presentation.
pub const PUK_TRIES: u8 = 10;

const CHECKSUM_LEN: usize = 32;
/// Caps the PKCS#8 document: a P-256 key from ring is 138 bytes.
const MAX_KEY_LEN: usize = 512;

/// Why a card image could not be read, parsed or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// The image file could not be read.
    #[error("cannot read card image {path}")]
    Read {
        /// The image file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The image file could not be written.
    #[error("cannot write card image {path}")]
    Write {
        /// The image file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The path has no file name (it ends in `/` or `..`).
    #[error("card image path {0} does not name a file")]
    NotAFile(PathBuf),
    /// Over [`MAX_IMAGE_LEN`].
    #[error("card image is larger than {MAX_IMAGE_LEN} bytes")]
    TooLarge,
    /// Not a card image.
    #[error("not a cardgate-sim card image (bad magic)")]
    BadMagic,
    /// A format version this code does not know.
    #[error("card image format version {0} is not supported (expected {FORMAT_VERSION})")]
    UnsupportedVersion(u8),
    /// The image ends too early.
    #[error("card image is truncated")]
    Truncated,
    /// Bytes after the checksum.
    #[error("card image has {0} unexpected bytes at the end")]
    TrailingBytes(usize),
    /// The checksum does not match: the file is damaged.
    #[error("card image checksum does not match (damaged file)")]
    Checksum,
    /// A try counter above its maximum.
    #[error("card image {secret} try counter {value} exceeds {max}")]
    BadCounter {
        /// `PIN` or `PUK`.
        secret: &'static str,
        /// The stored value.
        value: u8,
        /// The maximum.
        max: u8,
    },
    /// The stored PUK breaks the PUK format.
    #[error("card image PUK is malformed")]
    BadPuk(#[source] SecretFormatError),
    /// The stored PIN breaks the PIN format.
    #[error("card image PIN is malformed")]
    BadPin(#[source] SecretFormatError),
    /// The stored private key is not a P-256 PKCS#8 key.
    #[error("card image key is not a valid P-256 PKCS#8 key")]
    BadCardKey,
    /// The stored certificate does not parse.
    #[error("card image certificate is malformed")]
    BadCertificate(#[source] CertError),
    /// The stored certificate names another key than the card's.
    #[error("card image certificate does not match the card key")]
    CertificateKeyMismatch,
}

/// The card's ECDSA P-256 key: PKCS#8 (secret) and its public point.
#[derive(Clone)]
pub(crate) struct CardKey {
    pkcs8: Zeroizing<Vec<u8>>,
    public: [u8; EC_POINT_LEN],
}

impl CardKey {
    /// Checks a PKCS#8 document and keeps it with its public point.
    pub(crate) fn from_pkcs8(pkcs8: &[u8]) -> Option<(CardKey, EcdsaKeyPair)> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng).ok()?;
        let public: [u8; EC_POINT_LEN] = pair.public_key().as_ref().try_into().ok()?;
        Some((
            CardKey {
                pkcs8: Zeroizing::new(pkcs8.to_vec()),
                public,
            },
            pair,
        ))
    }

    pub(crate) fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    pub(crate) fn public_point(&self) -> [u8; EC_POINT_LEN] {
        self.public
    }
}

/// Everything a card keeps across power cycles.
///
/// Secrets are zeroized on drop and `Debug` shows only non-secret facts.
#[derive(Clone)]
pub struct CardImage {
    puk: Puk,
    pin: Option<Pin>,
    pin_tries: u8,
    puk_tries: u8,
    key: Option<CardKey>,
    certificate: Option<Certificate>,
}

impl fmt::Debug for CardImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardImage")
            .field("puk", &"REDACTED")
            .field("pin", &self.pin.as_ref().map(|_| "REDACTED"))
            .field("pin_tries", &self.pin_tries)
            .field("puk_tries", &self.puk_tries)
            .field("key", &self.key.as_ref().map(|_| "REDACTED"))
            .field("serial", &self.certificate.as_ref().map(|c| c.body.serial))
            .finish()
    }
}

impl CardImage {
    /// A blank card as the factory ships it: a transport PUK, no PIN, no key, no certificate,
    /// full try counters.
    pub fn blank(puk: &Puk) -> Self {
        CardImage {
            puk: puk.clone(),
            pin: None,
            pin_tries: PIN_TRIES,
            puk_tries: PUK_TRIES,
            key: None,
            certificate: None,
        }
    }

    /// PIN tries left (0: blocked).
    pub fn pin_tries(&self) -> u8 {
        self.pin_tries
    }

    /// PUK tries left (0: blocked, the card must be reissued).
    pub fn puk_tries(&self) -> u8 {
        self.puk_tries
    }

    /// Whether an operator PIN has been set (by RESET RETRY COUNTER at issuance).
    pub fn has_pin(&self) -> bool {
        self.pin.is_some()
    }

    /// Whether the card holds a key pair.
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// The card's public key, if it has one.
    pub fn card_public_key(&self) -> Option<[u8; EC_POINT_LEN]> {
        self.key.as_ref().map(|k| k.public)
    }

    /// The certificate, if the card is personalised.
    pub fn certificate(&self) -> Option<&Certificate> {
        self.certificate.as_ref()
    }

    /// Personalised means: a certificate is stored. There is no separate flag, so the two
    /// can never disagree.
    pub fn is_personalised(&self) -> bool {
        self.certificate.is_some()
    }

    pub(crate) fn puk(&self) -> &Puk {
        &self.puk
    }

    pub(crate) fn pin(&self) -> Option<&Pin> {
        self.pin.as_ref()
    }

    pub(crate) fn key(&self) -> Option<&CardKey> {
        self.key.as_ref()
    }

    pub(crate) fn set_pin(&mut self, pin: Pin) {
        self.pin = Some(pin);
    }

    pub(crate) fn set_pin_tries(&mut self, tries: u8) {
        self.pin_tries = tries.min(PIN_TRIES);
    }

    pub(crate) fn set_puk_tries(&mut self, tries: u8) {
        self.puk_tries = tries.min(PUK_TRIES);
    }

    pub(crate) fn set_key(&mut self, key: CardKey) {
        self.key = Some(key);
    }

    pub(crate) fn set_certificate(&mut self, certificate: Option<Certificate>) {
        self.certificate = certificate;
    }

    /// Encodes the image (a zeroizing buffer: it holds the secrets).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(512));
        out.extend_from_slice(MAGIC);
        out.push(FORMAT_VERSION);
        out.push(self.pin_tries);
        out.push(self.puk_tries);
        // Secret lengths are capped at 16 by their types.
        let puk = self.puk.expose().as_bytes();
        out.push(puk.len() as u8);
        out.extend_from_slice(puk);
        let pin = self
            .pin
            .as_ref()
            .map(|p| p.expose().as_bytes())
            .unwrap_or(&[]);
        out.push(pin.len() as u8);
        out.extend_from_slice(pin);
        let key = self.key.as_ref().map(|k| k.pkcs8()).unwrap_or(&[]);
        push_u16_block(&mut out, key);
        let cert = self
            .certificate
            .as_ref()
            .map(Certificate::encode)
            .unwrap_or_default();
        push_u16_block(&mut out, &cert);
        let digest = ring::digest::digest(&ring::digest::SHA256, &out);
        out.extend_from_slice(digest.as_ref());
        out
    }

    /// Parses an image, checking every field.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ImageError> {
        if bytes.len() > MAX_IMAGE_LEN {
            return Err(ImageError::TooLarge);
        }
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(ImageError::BadMagic);
        }
        let mut r = Cursor {
            bytes,
            pos: MAGIC.len(),
        };
        let version = r.byte()?;
        if version != FORMAT_VERSION {
            return Err(ImageError::UnsupportedVersion(version));
        }
        let pin_tries = r.byte()?;
        let puk_tries = r.byte()?;
        let puk_len = usize::from(r.byte()?);
        let puk_raw = r.take(puk_len)?;
        let pin_len = usize::from(r.byte()?);
        let pin_raw = r.take(pin_len)?;
        let key_len = r.u16()?;
        let key_raw = r.take(key_len)?;
        let cert_len = r.u16()?;
        let cert_raw = r.take(cert_len)?;
        let body_end = r.pos;
        let checksum = r.take(CHECKSUM_LEN)?;
        if r.pos != bytes.len() {
            return Err(ImageError::TrailingBytes(bytes.len() - r.pos));
        }
        let digest = ring::digest::digest(&ring::digest::SHA256, &bytes[..body_end]);
        if !cardgate_card::ct_eq(digest.as_ref(), checksum) {
            return Err(ImageError::Checksum);
        }

        if pin_tries > PIN_TRIES {
            return Err(ImageError::BadCounter {
                secret: "PIN",
                value: pin_tries,
                max: PIN_TRIES,
            });
        }
        if puk_tries > PUK_TRIES {
            return Err(ImageError::BadCounter {
                secret: "PUK",
                value: puk_tries,
                max: PUK_TRIES,
            });
        }
        let puk_text = ascii(puk_raw).ok_or(ImageError::BadPuk(SecretFormatError::BadCharacter))?;
        let puk = Puk::parse(&puk_text).map_err(ImageError::BadPuk)?;
        let pin = if pin_raw.is_empty() {
            None
        } else {
            let text = ascii(pin_raw).ok_or(ImageError::BadPin(SecretFormatError::BadCharacter))?;
            Some(Pin::parse(&text).map_err(ImageError::BadPin)?)
        };
        let key = if key_raw.is_empty() {
            None
        } else {
            if key_raw.len() > MAX_KEY_LEN {
                return Err(ImageError::BadCardKey);
            }
            Some(
                CardKey::from_pkcs8(key_raw)
                    .ok_or(ImageError::BadCardKey)?
                    .0,
            )
        };
        let certificate = if cert_raw.is_empty() {
            None
        } else {
            let cert = Certificate::parse(cert_raw).map_err(ImageError::BadCertificate)?;
            match &key {
                Some(k) if k.public == cert.body.card_public_key => {}
                _ => return Err(ImageError::CertificateKeyMismatch),
            }
            Some(cert)
        };
        Ok(CardImage {
            puk,
            pin,
            pin_tries,
            puk_tries,
            key,
            certificate,
        })
    }

    /// Reads an image file (at most [`MAX_IMAGE_LEN`] bytes).
    pub fn load(path: &Path) -> Result<Self, ImageError> {
        let read_err = |source| ImageError::Read {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(read_err)?;
        let mut bytes = Zeroizing::new(Vec::with_capacity(1024));
        file.take(MAX_IMAGE_LEN as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
        Self::from_bytes(&bytes)
    }

    /// Writes the image file atomically, mode `0600`: either the old image or the new one is
    /// on disk afterwards, never a mix, and no temporary file is left behind.
    pub fn save(&self, path: &Path) -> Result<(), ImageError> {
        write_atomically(path, &self.to_bytes())
    }
}

fn push_u16_block(out: &mut Vec<u8>, block: &[u8]) {
    // Blocks are capped far below 64 KiB (key 512, certificate 1 KiB by the TLV parser).
    let len = u16::try_from(block.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&block[..usize::from(len)]);
}

fn ascii(bytes: &[u8]) -> Option<Zeroizing<String>> {
    if !bytes.is_ascii() {
        return None;
    }
    std::str::from_utf8(bytes)
        .ok()
        .map(|s| Zeroizing::new(s.to_owned()))
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ImageError> {
        let end = self.pos.checked_add(n).ok_or(ImageError::Truncated)?;
        let out = self.bytes.get(self.pos..end).ok_or(ImageError::Truncated)?;
        self.pos = end;
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, ImageError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<usize, ImageError> {
        let b = self.take(2)?;
        Ok(usize::from(u16::from_be_bytes([b[0], b[1]])))
    }
}

/// The steps of an atomic write, named so that tests can make each one fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteStep {
    Create,
    Write,
    Sync,
    Rename,
}

#[cfg(test)]
thread_local! {
    static FAIL_AT: std::cell::Cell<Option<WriteStep>> = const { std::cell::Cell::new(None) };
}

/// In unit tests, fails the chosen step; otherwise does nothing.
fn failpoint(step: WriteStep) -> io::Result<()> {
    #[cfg(test)]
    if FAIL_AT.with(|f| f.get()) == Some(step) {
        return Err(io::Error::other("injected failure"));
    }
    let _ = step;
    Ok(())
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ImageError> {
    let name = path
        .file_name()
        .ok_or_else(|| ImageError::NotAFile(path.to_owned()))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // Hidden, unique per process and per write, so that concurrent writers never share one.
    let mut temp_name = OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let temp = dir.join(temp_name);
    let write_err = |source| ImageError::Write {
        path: path.to_owned(),
        source,
    };

    let written = (|| -> io::Result<()> {
        failpoint(WriteStep::Create)?;
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        failpoint(WriteStep::Write)?;
        file.write_all(bytes)?;
        failpoint(WriteStep::Sync)?;
        file.sync_all()?;
        drop(file);
        failpoint(WriteStep::Rename)?;
        fs::rename(&temp, path)
    })();
    if let Err(source) = written {
        // The old image is untouched; only our temporary file may exist.
        let _ = fs::remove_file(&temp);
        return Err(write_err(source));
    }
    // Make the rename itself durable.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(write_err)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn puk() -> Puk {
        Puk::parse("Kitsune12345").unwrap()
    }

    fn keyed_image() -> CardImage {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let mut image = CardImage::blank(&puk());
        image.set_key(CardKey::from_pkcs8(doc.as_ref()).unwrap().0);
        image.set_pin(Pin::parse("Tanuki42").unwrap());
        image.set_pin_tries(1);
        image
    }

    #[test]
    fn round_trip() {
        let image = keyed_image();
        let back = CardImage::from_bytes(&image.to_bytes()).unwrap();
        assert_eq!(back.to_bytes(), image.to_bytes());
        assert_eq!(back.pin_tries(), 1);
        assert_eq!(back.puk_tries(), PUK_TRIES);
        assert!(back.has_pin() && back.has_key() && !back.is_personalised());
    }

    #[test]
    fn debug_is_redacted() {
        let shown = format!("{:?}", keyed_image());
        assert!(shown.contains("REDACTED"));
        assert!(
            !shown.contains("Kitsune") && !shown.contains("Tanuki") && !shown.contains("12345")
        );
    }

    #[test]
    fn every_damage_is_a_typed_error() {
        let bytes = keyed_image().to_bytes();
        for i in 0..bytes.len() {
            let mut bad = bytes.to_vec();
            bad[i] ^= 0x40;
            assert!(CardImage::from_bytes(&bad).is_err(), "byte {i}");
        }
        for cut in 0..bytes.len() {
            assert!(CardImage::from_bytes(&bytes[..cut]).is_err(), "cut {cut}");
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(matches!(
            CardImage::from_bytes(&longer),
            Err(ImageError::TrailingBytes(1))
        ));
        assert!(matches!(
            CardImage::from_bytes(&vec![0; MAX_IMAGE_LEN + 1]),
            Err(ImageError::TooLarge)
        ));
        let mut future = bytes.to_vec();
        future[8] = 9;
        assert!(matches!(
            CardImage::from_bytes(&future),
            Err(ImageError::UnsupportedVersion(9))
        ));
    }

    #[test]
    fn save_is_atomic_at_every_step() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("card.img");
        let old = CardImage::blank(&puk());
        old.save(&path).unwrap();
        let new = keyed_image();
        for step in [
            WriteStep::Create,
            WriteStep::Write,
            WriteStep::Sync,
            WriteStep::Rename,
        ] {
            FAIL_AT.with(|f| f.set(Some(step)));
            let result = new.save(&path);
            FAIL_AT.with(|f| f.set(None));
            assert!(matches!(result, Err(ImageError::Write { .. })), "{step:?}");
            let on_disk = CardImage::load(&path).unwrap();
            assert_eq!(
                on_disk.to_bytes(),
                old.to_bytes(),
                "{step:?} changed the image"
            );
            let names: Vec<_> = fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(
                names,
                vec![OsString::from("card.img")],
                "{step:?} left files behind"
            );
        }
        new.save(&path).unwrap();
        assert_eq!(CardImage::load(&path).unwrap().to_bytes(), new.to_bytes());
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
