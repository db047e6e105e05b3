//! `cardgatectl backup` and `backup --verify`: every piece of cardgate's state copied into a
//! directory named by the office's date and time, with a `MANIFEST.sha256` that `sha256sum -c`
//! checks and the issuer's signature over it in `MANIFEST.sig` (art. 8).

use crate::exit::{Exit, Failure};
use crate::files::{io_failure, read_capped, write_atomic, CmdError};
use crate::issuer::load_key;
use crate::revocation::load_public;
use crate::ui::Ui;
use cardgate_audit::segments::parse_segment_name;
use cardgate_card::IssuerPublicKey;
use cardgate_i18n::{tr, Lang};
use cardgate_office::config::Config;
use cardgate_office::{files::ACCEPTED_FILE, register::REGISTER_FILE};
use std::io::IsTerminal;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The name of the manifest in a backup: `sha256sum` format (`<hex>  <name>`: two spaces,
/// names relative to the backup directory), so `sha256sum -c MANIFEST.sha256` checks a backup
/// from inside its directory.
pub const MANIFEST: &str = "MANIFEST.sha256";
/// The issuer's Ed25519 signature over the manifest (hex, one line).
pub const SIGNATURE: &str = "MANIFEST.sig";
/// What the signature covers besides the manifest, so that no other signed object of the
/// issuer (certificate, revocation list) can pass for a backup, nor the reverse.
const SIGNATURE_DOMAIN: &[u8] = b"cardgate-backup-manifest-v1\0";
/// The largest file a backup copies.
pub(super) const MAX_FILE: u64 = 1 << 30;
/// The largest manifest read.
const MAX_MANIFEST: u64 = 16 << 20;
/// How many backups may be made in the same minute before the name runs out
/// (`…T0930`, `…T0930-2`, … `…T0930-9`).
const SAME_MINUTE: u32 = 9;

pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where one file of a backup goes back to. The names are fixed; the targets come from this
/// machine's configuration, never from the backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    Config,
    IssuerPub,
    RevocationList,
    Register,
    Accepted,
    /// An audit segment or quarantine file (by its own, checked, name).
    Audit,
}

/// The fixed names of a backup, besides the audit directory's files.
pub(super) const FIXED: &[(&str, Slot)] = &[
    ("config/cardgated.toml", Slot::Config),
    ("config/issuer.pub", Slot::IssuerPub),
    ("state/revocation.list", Slot::RevocationList),
    ("state/cards.json", Slot::Register),
    ("state/revocation.accepted", Slot::Accepted),
];

/// A file name the audit directory may hold in a backup: a segment or a quarantine file. The
/// sealing key (`seal.key`) is never one of them.
pub(super) fn audit_name_ok(name: &str) -> bool {
    if parse_segment_name(name).is_some() {
        return true;
    }
    name.strip_prefix("quarantine-")
        .and_then(|r| r.strip_suffix(".bin"))
        .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit() || b == b'-'))
}

/// What a manifest name stands for, or `None` when it is not one a backup can hold.
pub(super) fn classify(name: &str) -> Option<Slot> {
    if let Some((_, slot)) = FIXED.iter().find(|(n, _)| *n == name) {
        return Some(*slot);
    }
    name.strip_prefix("audit/")
        .filter(|rest| audit_name_ok(rest))
        .map(|_| Slot::Audit)
}

/// Where a backup name goes on this machine.
pub(super) fn target(config: &Config, config_path: &Path, name: &str, slot: Slot) -> PathBuf {
    match slot {
        Slot::Config => config_path.to_path_buf(),
        Slot::IssuerPub => config.issuer.public_key.clone(),
        Slot::RevocationList => config.revocation.list.clone(),
        Slot::Register => config.daemon.state_dir.join(REGISTER_FILE),
        Slot::Accepted => config.daemon.state_dir.join(ACCEPTED_FILE),
        Slot::Audit => config
            .audit
            .dir
            .join(name.strip_prefix("audit/").unwrap_or(name)),
    }
}

/// Every file of cardgate's state that a backup carries, by its backup name (art. 8). Left
/// out on purpose: the issuer's secret key (it lives on the access manager's medium), the
/// audit log's sealing key `seal.key` (it could forge the seals of every epoch from its own on,
/// including those the live log seals after the backup), the open sessions (they belong to the
/// boot that made them) and lock files.
pub(super) fn state_files(
    lang: Lang,
    config: &Config,
    config_path: &Path,
) -> Result<Vec<(String, PathBuf)>, CmdError> {
    let mut files = Vec::new();
    for (name, slot) in FIXED {
        let path = target(config, config_path, name, *slot);
        if path.exists() {
            files.push(((*name).to_owned(), path));
        }
    }
    let dir = &config.audit.dir;
    let entries = std::fs::read_dir(dir).map_err(|e| io_failure(lang, dir, &e))?;
    let mut audit = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_failure(lang, dir, &e))?;
        let name = entry.file_name();
        if let Some(name) = name.to_str().filter(|n| audit_name_ok(n)) {
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                audit.push((format!("audit/{name}"), entry.path()));
            }
        }
    }
    audit.sort();
    files.extend(audit);
    Ok(files)
}

fn signed_message(manifest: &[u8]) -> Vec<u8> {
    let mut message = SIGNATURE_DOMAIN.to_vec();
    message.extend_from_slice(manifest);
    message
}

fn failed_at(lang: Lang, path: &Path, e: &std::io::Error) -> CmdError {
    Box::new(io_failure(lang, path, e))
}

fn private_dir(lang: Lang, path: &Path) -> Result<(), CmdError> {
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(path)
        .map_err(|e| failed_at(lang, path, &e))
}

/// The backup's directory name for `at` in the office's zone: `cardgate-backup-2026-12-01T0930`
/// (the `n`-th of the same minute gets `-n`).
pub(super) fn backup_name(at: time::OffsetDateTime, offset: time::UtcOffset, n: u32) -> String {
    let t = at.to_offset(offset);
    let base = format!(
        "cardgate-backup-{:04}-{:02}-{:02}T{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    );
    if n <= 1 {
        base
    } else {
        format!("{base}-{n}")
    }
}

/// A progress bar on stderr, only when stderr is a terminal (a pipe or a log gets nothing).
fn progress(total: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {wide_msg}")
    {
        bar.set_style(style);
    }
    bar
}

/// Makes the backup's directory inside `to`, which must exist (a missing `--to` is the backup
/// medium not mounted: writing the backup onto the terminal's own disk instead would look
/// like a backup and be none).
fn make_dest(ui: &Ui, to: &Path) -> Result<PathBuf, CmdError> {
    if !to.is_dir() {
        return Err(Box::new(
            Failure::new(
                Exit::NotFound,
                tr!(
                    ui.lang,
                    "ctl-state-backup-no-target",
                    path = to.display().to_string()
                ),
            )
            .hint(tr!(ui.lang, "ctl-state-backup-no-target-hint")),
        ));
    }
    let now = time::OffsetDateTime::now_utc();
    for n in 1..=SAME_MINUTE {
        let dest = to.join(backup_name(now, ui.offset, n));
        match std::fs::DirBuilder::new().mode(0o700).create(&dest) {
            Ok(()) => return Ok(dest),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(failed_at(ui.lang, &dest, &e)),
        }
    }
    Err(Box::new(Failure::new(
        Exit::Refused,
        tr!(
            ui.lang,
            "ctl-state-backup-too-many",
            path = to
                .join(backup_name(now, ui.offset, 1))
                .display()
                .to_string()
        ),
    )))
}

/// Copies every state file into `to/cardgate-backup-<date>T<time>/` (`config/`, `state/`,
/// `audit/`), with a SHA-256 manifest signed by the issuer key in `issuer_dir`. Prints the
/// backup's directory on stdout (or `--json`), a summary on stderr.
pub fn backup(
    ui: &Ui,
    config: &Config,
    config_path: &Path,
    to: &Path,
    issuer_dir: &Path,
) -> Result<ExitCode, CmdError> {
    let issuer = load_key(ui.lang, issuer_dir)?;
    // A backup this machine could not check is no backup: the signing key must be the one the
    // machine trusts.
    let configured = load_public(ui.lang, &config.issuer.public_key)?;
    if issuer.public_key() != configured {
        return Err(Box::new(Failure::new(
            Exit::Refused,
            tr!(
                ui.lang,
                "ctl-state-backup-wrong-key",
                dir = issuer_dir.display().to_string(),
                public = config.issuer.public_key.display().to_string()
            ),
        )));
    }
    let files = state_files(ui.lang, config, config_path)?;
    let dest = make_dest(ui, to)?;
    for area in ["config", "state", "audit"] {
        private_dir(ui.lang, &dest.join(area))?;
    }
    let total: u64 = files
        .iter()
        .filter_map(|(_, p)| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let bar = progress(total);
    let mut manifest = String::new();
    let mut bytes_copied = 0u64;
    for (name, path) in &files {
        bar.set_message(name.clone());
        let mut bytes = read_capped(path, MAX_FILE).map_err(|e| failed_at(ui.lang, path, &e))?;
        if name.starts_with("audit/") {
            // The daemon may be appending: copy whole lines only.
            let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
            bytes.truncate(whole);
        }
        let out = dest.join(name);
        write_atomic(&out, &bytes, 0o600).map_err(|e| failed_at(ui.lang, &out, &e))?;
        manifest.push_str(&format!("{}  {name}\n", sha256_hex(&bytes)));
        bytes_copied += bytes.len() as u64;
        bar.inc(bytes.len() as u64);
    }
    bar.finish_and_clear();
    let manifest_path = dest.join(MANIFEST);
    write_atomic(&manifest_path, manifest.as_bytes(), 0o600)
        .map_err(|e| failed_at(ui.lang, &manifest_path, &e))?;
    let signature = issuer.sign(&signed_message(manifest.as_bytes()));
    let signature: String = signature.iter().map(|b| format!("{b:02x}")).collect();
    let sig_path = dest.join(SIGNATURE);
    write_atomic(&sig_path, format!("{signature}\n").as_bytes(), 0o600)
        .map_err(|e| failed_at(ui.lang, &sig_path, &e))?;
    if ui.json {
        ui.print_json(&serde_json::json!({
            "backup": dest,
            "files": files.len(),
            "bytes": bytes_copied,
            "manifest": MANIFEST,
            "signature": SIGNATURE,
        }))?;
    } else {
        println!("{}", dest.display());
        eprintln!(
            "{}",
            tr!(
                ui.lang,
                "ctl-state-backup-made",
                count = files.len(),
                bytes = bytes_copied,
                path = dest.display().to_string()
            )
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads a file of the backup directory, refusing anything but a regular file (a symbolic link
/// in a backup could make the restore read, and so write back, any file of this machine).
pub(super) fn read_backup_file(
    lang: Lang,
    from: &Path,
    name: &str,
    cap: u64,
) -> Result<Vec<u8>, CmdError> {
    let mut path = from.to_path_buf();
    let bad = |key: &str, path: &Path, error: String| -> CmdError {
        Box::new(Failure::new(
            Exit::VerificationFailed,
            tr!(
                lang,
                key,
                name = name.to_owned(),
                path = path.display().to_string(),
                error = error
            ),
        ))
    };
    for part in name.split('/') {
        path.push(part);
        let meta = std::fs::symlink_metadata(&path)
            .map_err(|e| bad("ctl-state-backup-entry-unreadable", &path, e.to_string()))?;
        if meta.file_type().is_symlink() {
            return Err(bad("ctl-state-backup-entry-symlink", &path, String::new()));
        }
    }
    let meta = std::fs::symlink_metadata(&path)
        .map_err(|e| bad("ctl-state-backup-entry-unreadable", &path, e.to_string()))?;
    if !meta.file_type().is_file() {
        return Err(bad("ctl-state-backup-entry-not-file", &path, String::new()));
    }
    read_capped(&path, cap)
        .map_err(|e| bad("ctl-state-backup-entry-unreadable", &path, e.to_string()))
}

fn hex_decode(text: &str, out: &mut [u8]) -> Option<()> {
    if text.len() != out.len() * 2 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(())
}

/// The manifest of the backup in `from`, once its signature verifies with `public` (read from
/// `pub_path`); otherwise [`Exit::VerificationFailed`] naming the backup and the key.
pub(super) fn signed_manifest(
    lang: Lang,
    from: &Path,
    public: &IssuerPublicKey,
    pub_path: &Path,
) -> Result<String, CmdError> {
    let manifest = read_backup_file(lang, from, MANIFEST, MAX_MANIFEST)?;
    let signature = read_backup_file(lang, from, SIGNATURE, 1024)?;
    let mut sig = [0u8; 64];
    let sig_ok = std::str::from_utf8(&signature)
        .ok()
        .and_then(|t| hex_decode(t.trim(), &mut sig))
        .is_some()
        && public.verify(&signed_message(&manifest), &sig);
    if !sig_ok {
        return Err(Box::new(
            Failure::new(
                Exit::VerificationFailed,
                tr!(
                    lang,
                    "ctl-state-backup-unsigned",
                    path = from.join(SIGNATURE).display().to_string(),
                    public = pub_path.display().to_string()
                ),
            )
            .hint(tr!(lang, "ctl-state-backup-unsigned-hint")),
        ));
    }
    String::from_utf8(manifest).map_err(|_| {
        Box::new(Failure::new(
            Exit::VerificationFailed,
            tr!(
                lang,
                "ctl-state-backup-manifest-line",
                line = 0,
                path = from.join(MANIFEST).display().to_string()
            ),
        )) as CmdError
    })
}

/// The manifest's lines as (hash, name), or the first malformed line, named.
pub(super) fn manifest_lines<'m>(
    lang: Lang,
    from: &Path,
    manifest: &'m str,
) -> Result<Vec<(&'m str, &'m str)>, CmdError> {
    manifest
        .lines()
        .enumerate()
        .map(|(n, line)| {
            line.split_once("  ")
                .filter(|(hash, _)| hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
                .ok_or_else(|| {
                    Box::new(Failure::new(
                        Exit::VerificationFailed,
                        tr!(
                            lang,
                            "ctl-state-backup-manifest-line",
                            line = n + 1,
                            path = from.join(MANIFEST).display().to_string()
                        ),
                    )) as CmdError
                })
        })
        .collect()
}

/// `backup --verify DIR`: the signature over the manifest (with `issuer_pub`, or the
/// configured key) and every file's SHA-256. Exit 6 naming every file that fails.
pub fn verify_backup(
    ui: &Ui,
    config: &Config,
    from: &Path,
    issuer_pub: Option<&Path>,
) -> Result<ExitCode, CmdError> {
    if !from.is_dir() {
        return Err(Box::new(io_failure(
            ui.lang,
            from,
            &std::io::Error::from(std::io::ErrorKind::NotFound),
        )));
    }
    let pub_path = issuer_pub.unwrap_or(&config.issuer.public_key);
    let public = load_public(ui.lang, pub_path)?;
    let manifest = signed_manifest(ui.lang, from, &public, pub_path)?;
    let lines = manifest_lines(ui.lang, from, &manifest)?;
    let bar = progress(lines.len() as u64);
    let mut problems: Vec<(String, String)> = Vec::new();
    for (hash, name) in &lines {
        bar.set_message((*name).to_owned());
        if classify(name).is_none() {
            problems.push((
                (*name).to_owned(),
                tr!(
                    ui.lang,
                    "ctl-state-backup-bad-name",
                    name = (*name).to_owned()
                ),
            ));
        } else {
            match read_backup_file(ui.lang, from, name, MAX_FILE) {
                Ok(bytes) if sha256_hex(&bytes).eq_ignore_ascii_case(hash) => {}
                Ok(_) => problems.push((
                    (*name).to_owned(),
                    tr!(
                        ui.lang,
                        "ctl-state-backup-changed",
                        path = from.join(name).display().to_string()
                    ),
                )),
                Err(e) => problems.push(((*name).to_owned(), crate::files::chain(&*e))),
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if ui.json {
        let list: Vec<serde_json::Value> = problems
            .iter()
            .map(|(name, problem)| serde_json::json!({ "file": name, "problem": problem }))
            .collect();
        ui.print_json(&serde_json::json!({
            "backup": from,
            "signature": "ok",
            "issuer_pub": pub_path,
            "files": lines.len(),
            "intact": problems.is_empty(),
            "problems": list,
        }))?;
    } else {
        for (_, problem) in &problems {
            eprintln!("{problem}");
        }
    }
    if problems.is_empty() {
        if !ui.json {
            println!(
                "{}",
                tr!(
                    ui.lang,
                    "ctl-state-backup-verified",
                    path = from.display().to_string(),
                    count = lines.len(),
                    public = pub_path.display().to_string()
                )
            );
        }
        Ok(ExitCode::SUCCESS)
    } else {
        Err(Box::new(
            Failure::new(
                Exit::VerificationFailed,
                tr!(
                    ui.lang,
                    "ctl-state-backup-verify-failed",
                    path = from.display().to_string(),
                    count = problems.len(),
                    first = problems[0].0.clone()
                ),
            )
            .hint(tr!(ui.lang, "ctl-state-backup-verify-failed-hint")),
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_name_is_the_offices_date_and_minute() {
        let at = time::macros::datetime!(2026-12-01 00:30:59 UTC);
        let jst = time::UtcOffset::from_hms(9, 0, 0).unwrap();
        assert_eq!(backup_name(at, jst, 1), "cardgate-backup-2026-12-01T0930");
        assert_eq!(backup_name(at, jst, 2), "cardgate-backup-2026-12-01T0930-2");
        let late = time::macros::datetime!(2026-11-30 15:05:00 UTC);
        assert_eq!(backup_name(late, jst, 1), "cardgate-backup-2026-12-01T0005");
    }
}
