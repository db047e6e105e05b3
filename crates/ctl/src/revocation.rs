//! `cardgatectl revocation …`: sign and inspect the revocation list (art. 5.4).
//!
//! These are the low-level commands; `card revoke` and `card return` (with the card
//! register) build on them.

use crate::files::{read_capped, write_atomic, CmdError};
use crate::ui::Ui;
use cardgate_card::cert::CardSerial;
use cardgate_card::revocation::{
    Revocation, RevocationListBuilder, RevocationReason, MAX_FILE_LEN,
};
use cardgate_card::{IssuerKey, IssuerPublicKey, RevocationList};
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

/// Revocation list commands.
#[derive(Debug, Subcommand)]
pub enum RevocationCommand {
    /// Add a card to the list (creating the list if needed) and sign the next version.
    Revoke {
        /// The issuer directory made by `issuer init`.
        #[arg(long)]
        issuer_dir: PathBuf,
        /// The revocation list file.
        #[arg(long)]
        list: PathBuf,
        /// The card serial, 16 hex digits.
        serial: String,
        /// lost, stolen, returned, transferred, damaged or other.
        #[arg(long)]
        reason: RevocationReason,
        /// Days until the next list is due; terminals treat the list as stale after that.
        #[arg(long, default_value_t = 7)]
        next_update_days: u32,
    },
    /// Sign a new version of the list with no change (a refresh before next-update).
    Refresh {
        /// The issuer directory made by `issuer init`.
        #[arg(long)]
        issuer_dir: PathBuf,
        /// The revocation list file.
        #[arg(long)]
        list: PathBuf,
        /// Days until the next list is due.
        #[arg(long, default_value_t = 7)]
        next_update_days: u32,
    },
    /// Verify a list and print it.
    Show {
        /// The issuer's public key file (`issuer.pub`).
        #[arg(long)]
        issuer_pub: PathBuf,
        /// The revocation list file.
        #[arg(long)]
        list: PathBuf,
    },
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn load_issuer(dir: &Path) -> Result<IssuerKey, CmdError> {
    let der = zeroize::Zeroizing::new(read_capped(&dir.join("issuer.key"), 4096)?);
    Ok(IssuerKey::from_pkcs8(&der)?)
}

pub fn next_version(
    issuer: &IssuerKey,
    list: &Path,
    next_update_days: u32,
    add: Option<(CardSerial, RevocationReason)>,
) -> Result<(u64, usize), CmdError> {
    let (version, count, bytes) = sign_next(issuer, list, next_update_days, add)?;
    write_atomic(list, &bytes, 0o644)?;
    Ok((version, count))
}

/// The next version of the list in `list` (with `add`), signed, but not written: the access
/// manager, who is not root, hands it to the daemon to install
/// (`AdminRequest::PublishRevocationList`). Returns the version, the entry count and the
/// signed bytes.
pub fn sign_next(
    issuer: &IssuerKey,
    list: &Path,
    next_update_days: u32,
    add: Option<(CardSerial, RevocationReason)>,
) -> Result<(u64, usize, Vec<u8>), CmdError> {
    let now = now();
    let previous = match read_capped(list, MAX_FILE_LEN as u64) {
        Ok(bytes) => Some(RevocationList::verify(&bytes, &issuer.public_key())?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let version = previous.as_ref().map_or(1, |l| l.version() + 1);
    let mut builder =
        RevocationListBuilder::new(version, now, now + i64::from(next_update_days) * 86_400);
    for (serial, r) in previous.iter().flat_map(|l| l.entries()) {
        builder.revoke(serial, r);
    }
    if let Some((serial, reason)) = add {
        builder.revoke(
            serial,
            Revocation {
                revoked_at: now,
                reason,
            },
        );
    }
    let bytes = builder.sign(issuer)?;
    let count = RevocationList::verify(&bytes, &issuer.public_key())?.len();
    Ok((version, count, bytes))
}

/// Runs a revocation command.
pub fn run(_ui: &Ui, cmd: RevocationCommand) -> Result<ExitCode, CmdError> {
    match cmd {
        RevocationCommand::Revoke {
            issuer_dir,
            list,
            serial,
            reason,
            next_update_days,
        } => {
            let serial = CardSerial::from_hex(&serial).ok_or("the serial must be 16 hex digits")?;
            let issuer = load_issuer(&issuer_dir)?;
            let (version, count) =
                next_version(&issuer, &list, next_update_days, Some((serial, reason)))?;
            println!("revoked {serial} ({reason}); list version {version}, {count} entries");
        }
        RevocationCommand::Refresh {
            issuer_dir,
            list,
            next_update_days,
        } => {
            let issuer = load_issuer(&issuer_dir)?;
            let (version, count) = next_version(&issuer, &list, next_update_days, None)?;
            println!("list version {version}, {count} entries");
        }
        RevocationCommand::Show { issuer_pub, list } => {
            let public = IssuerPublicKey::from_hex(&String::from_utf8_lossy(&read_capped(
                &issuer_pub,
                256,
            )?))?;
            let l = RevocationList::verify(&read_capped(&list, MAX_FILE_LEN as u64)?, &public)?;
            println!(
                "version {}, issued {}, next update {}{}",
                l.version(),
                l.issued_at(),
                l.next_update(),
                if l.is_stale(now()) { " (STALE)" } else { "" }
            );
            for (serial, r) in l.entries() {
                println!("{serial}  {}  revoked at {}", r.reason, r.revoked_at);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
