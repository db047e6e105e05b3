//! `cardgatectl status | sessions | login | backup | restore`.

use crate::client;
use crate::files::{read_capped, read_secret_line, write_atomic, CmdError};
use crate::ui::Ui;
use cardgate_audit::seal::write_key_file;
use cardgate_audit::segments::{list_segments, parse_segment_name};
use cardgate_audit::{AuditConfig, AuditLog, Entry, Event, NoteKind, Text};
use cardgate_card::{IssuerKey, IssuerPublicKey};
use cardgate_office::config::Config;
use cardgate_office::{files::ACCEPTED_FILE, register::REGISTER_FILE};
use cardgate_protocol::{AdminRequest, Answer, Info, LoginRequest, PinField};
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use zeroize::Zeroizing;

/// The name of the manifest in a backup: `sha256sum` format (`<hex>  <name>`), so
/// `sha256sum -c MANIFEST.sha256` checks a backup from inside its directory.
pub const MANIFEST: &str = "MANIFEST.sha256";
/// The issuer's Ed25519 signature over the manifest (hex, one line).
pub const SIGNATURE: &str = "MANIFEST.sig";
/// What the signature covers besides the manifest, so that no other signed object of the
/// issuer (certificate, revocation list) can pass for a backup, nor the reverse.
const SIGNATURE_DOMAIN: &[u8] = b"cardgate-backup-manifest-v1\0";
/// The largest file a backup copies.
const MAX_FILE: u64 = 1 << 30;
/// The largest manifest read.
const MAX_MANIFEST: u64 = 16 << 20;

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The daemon's state.
pub fn status(_ui: &Ui, config: &Config) -> Result<ExitCode, CmdError> {
    match client::expect_ok(client::ask(
        &config.daemon.admin_socket,
        &AdminRequest::Status,
    )?)? {
        Answer::Info {
            data: data @ Info::Status(_),
        } => println!("{}", serde_json::to_string_pretty(&data)?),
        other => return Err(unexpected("status", &other)),
    }
    Ok(ExitCode::SUCCESS)
}

/// An answer of the wrong kind for the request.
fn unexpected(request: &str, answer: &Answer) -> CmdError {
    format!("cardgated answered {request} with something else: {answer:?}").into()
}

/// The open sessions.
pub fn sessions(_ui: &Ui, config: &Config) -> Result<ExitCode, CmdError> {
    let list = match client::expect_ok(client::ask(
        &config.daemon.admin_socket,
        &AdminRequest::Sessions,
    )?)? {
        Answer::Info {
            data: Info::Sessions(list),
        } => list,
        other => return Err(unexpected("sessions", &other)),
    };
    println!(
        "{:<10}  {:<10}  {:<12}  {:<16}  {:<16}  state",
        "session", "terminal", "user", "operator", "card"
    );
    for s in list {
        println!(
            "{:<10}  {:<10}  {:<12}  {:<16}  {:<16}  {}",
            s.session_id,
            s.terminal,
            s.user,
            s.operator_id,
            s.serial,
            s.state.as_str()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Authenticates a user on a terminal through the daemon (PIN on stdin). Exit 0 when granted,
/// 1 when refused.
pub fn login(_ui: &Ui, config: &Config, terminal: &str, user: &str) -> Result<ExitCode, CmdError> {
    let pin = read_secret_line()?;
    // Checked here too, so that a mistyped PIN is not sent (nor counted against the card).
    cardgate_card::secret::check_pin_format(&pin)
        .map_err(|e| format!("the PIN {e}; nothing was sent"))?;
    // Copied once into the request's zeroizing field; encode_request writes the line into a
    // buffer that never grows and is wiped when it drops.
    let request = LoginRequest::Authenticate {
        terminal: terminal.to_owned(),
        user: user.to_owned(),
        pin: PinField::copy_from(&pin),
    };
    drop(pin);
    let answer = client::ask_login(&config.daemon.login_socket, &request)?;
    drop(request);
    match answer {
        Answer::Granted {
            operator,
            serial,
            must_change_pin,
        } => {
            println!("granted: operator {operator} (card {serial})");
            if must_change_pin {
                println!("the initial PIN must be changed before a session opens");
            }
            Ok(ExitCode::SUCCESS)
        }
        Answer::Denied { message, .. } | Answer::Error { message } => {
            eprintln!(
                "{}",
                if message.is_empty() {
                    "refused"
                } else {
                    &message
                }
            );
            Ok(ExitCode::from(1))
        }
        other @ (Answer::Ready { .. } | Answer::Info { .. }) => {
            eprintln!("{}", unexpected("authenticate", &other));
            Ok(ExitCode::from(1))
        }
    }
}

/// Where one file of a backup goes back to. The names are fixed; the targets come from this
/// machine's configuration, never from the backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Config,
    IssuerPub,
    RevocationList,
    Register,
    Accepted,
    /// An audit segment or quarantine file (by its own, checked, name).
    Audit,
}

/// The fixed names of a backup, besides the audit directory's files.
const FIXED: &[(&str, Slot)] = &[
    ("config/cardgated.toml", Slot::Config),
    ("config/issuer.pub", Slot::IssuerPub),
    ("state/revocation.list", Slot::RevocationList),
    ("state/cards.json", Slot::Register),
    ("state/revocation.accepted", Slot::Accepted),
];

/// A file name the audit directory may hold in a backup: a segment or a quarantine file. The
/// sealing key (`seal.key`) is never one of them.
fn audit_name_ok(name: &str) -> bool {
    if parse_segment_name(name).is_some() {
        return true;
    }
    name.strip_prefix("quarantine-")
        .and_then(|r| r.strip_suffix(".bin"))
        .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit() || b == b'-'))
}

/// What a manifest name stands for, or `None` when it is not one a backup can hold.
fn classify(name: &str) -> Option<Slot> {
    if let Some((_, slot)) = FIXED.iter().find(|(n, _)| *n == name) {
        return Some(*slot);
    }
    name.strip_prefix("audit/")
        .filter(|rest| audit_name_ok(rest))
        .map(|_| Slot::Audit)
}

/// Where a backup name goes on this machine.
fn target(config: &Config, config_path: &Path, name: &str, slot: Slot) -> PathBuf {
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
fn state_files(config: &Config, config_path: &Path) -> Result<Vec<(String, PathBuf)>, CmdError> {
    let mut files = Vec::new();
    for (name, slot) in FIXED {
        let path = target(config, config_path, name, *slot);
        if path.exists() {
            files.push(((*name).to_owned(), path));
        }
    }
    let dir = &config.audit.dir;
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut audit = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
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

fn load_issuer(dir: &Path) -> Result<IssuerKey, CmdError> {
    let path = dir.join("issuer.key");
    let der =
        Zeroizing::new(read_capped(&path, 4096).map_err(|e| format!("{}: {e}", path.display()))?);
    Ok(IssuerKey::from_pkcs8(&der).map_err(|e| format!("{}: {e}", path.display()))?)
}

fn load_public(path: &Path) -> Result<IssuerPublicKey, CmdError> {
    let text = read_capped(path, 4096).map_err(|e| format!("{}: {e}", path.display()))?;
    let text = String::from_utf8(text).map_err(|_| format!("{}: not text", path.display()))?;
    Ok(IssuerPublicKey::from_hex(text.trim()).map_err(|e| format!("{}: {e}", path.display()))?)
}

fn signed_message(manifest: &[u8]) -> Vec<u8> {
    let mut message = SIGNATURE_DOMAIN.to_vec();
    message.extend_from_slice(manifest);
    message
}

fn private_dir(path: &Path) -> Result<(), CmdError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| format!("creating {}: {e}", path.display()).into())
}

/// Copies every state file into `to/cardgate-backup-<time>/` (`config/`, `state/`, `audit/`),
/// with a SHA-256 manifest signed by the issuer key in `issuer_dir`.
pub fn backup(
    _ui: &Ui,
    config: &Config,
    config_path: &Path,
    to: &Path,
    issuer_dir: &Path,
) -> Result<ExitCode, CmdError> {
    let issuer = load_issuer(issuer_dir)?;
    // A backup this machine could not check is no backup: the signing key must be the one the
    // machine trusts.
    let configured = load_public(&config.issuer.public_key)?;
    if issuer.public_key() != configured {
        return Err(format!(
            "the issuer key in {} is not the one {} names; the backup could not be restored here",
            issuer_dir.display(),
            config.issuer.public_key.display()
        )
        .into());
    }
    let files = state_files(config, config_path)?;
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let dest = to.join(format!("cardgate-backup-{stamp}"));
    if dest.exists() {
        return Err(format!("{} already exists", dest.display()).into());
    }
    for area in ["config", "state", "audit"] {
        private_dir(&dest.join(area))?;
    }
    let mut manifest = String::new();
    for (name, path) in &files {
        let mut bytes =
            read_capped(path, MAX_FILE).map_err(|e| format!("{}: {e}", path.display()))?;
        if name.starts_with("audit/") {
            // The daemon may be appending: copy whole lines only.
            let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
            bytes.truncate(whole);
        }
        write_atomic(&dest.join(name), &bytes, 0o600)
            .map_err(|e| format!("writing {}: {e}", dest.join(name).display()))?;
        manifest.push_str(&format!("{}  {name}\n", sha256_hex(&bytes)));
    }
    write_atomic(&dest.join(MANIFEST), manifest.as_bytes(), 0o600)?;
    let signature = issuer.sign(&signed_message(manifest.as_bytes()));
    let signature: String = signature.iter().map(|b| format!("{b:02x}")).collect();
    write_atomic(
        &dest.join(SIGNATURE),
        format!("{signature}\n").as_bytes(),
        0o600,
    )?;
    println!("{}", dest.display());
    Ok(ExitCode::SUCCESS)
}

/// How `restore` may go beyond putting files back.
#[derive(Debug)]
pub struct RestoreOptions {
    /// The issuer public key to check the backup's signature with, instead of the configured one.
    pub issuer_pub: Option<PathBuf>,
    /// Also put the audit log back (into an empty audit directory), continuing its sealing at
    /// the epoch after its last seal; needs `k0`.
    pub audit: bool,
    /// k(0), for `audit`.
    pub k0: Option<cardgate_audit::SealKey>,
    /// Allow `revocation.accepted` to go back to an older list version.
    pub allow_revocation_rollback: bool,
}

/// A file of a checked backup, ready to be written.
struct Planned {
    name: String,
    slot: Slot,
    target: PathBuf,
    bytes: Vec<u8>,
}

/// Reads a file of the backup directory, refusing anything but a regular file (a symbolic link
/// in a backup could make the restore read, and so write back, any file of this machine).
fn read_backup_file(from: &Path, name: &str, cap: u64) -> Result<Vec<u8>, CmdError> {
    let mut path = from.to_path_buf();
    for part in name.split('/') {
        path.push(part);
        let meta = std::fs::symlink_metadata(&path)
            .map_err(|e| format!("backup entry {name}: {}: {e}", path.display()))?;
        if meta.file_type().is_symlink() {
            return Err(format!(
                "backup entry {name}: {} is a symbolic link; nothing was restored",
                path.display()
            )
            .into());
        }
    }
    if !std::fs::symlink_metadata(&path)?.file_type().is_file() {
        return Err(
            format!("backup entry {name} is not a regular file; nothing was restored").into(),
        );
    }
    Ok(read_capped(&path, cap).map_err(|e| format!("backup entry {name}: {e}"))?)
}

/// The version in a `revocation.accepted` record (`<version> <digest hex>`).
fn accepted_version(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes)
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `text` as a note can hold it: control characters (a path may have any) shown as `?`, and
/// cut to the longest note.
fn clip(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(cardgate_audit::record::MAX_TEXT_LEN));
    for c in text.chars().map(|c| if c.is_control() { '?' } else { c }) {
        if out.len() + c.len_utf8() > cardgate_audit::record::MAX_TEXT_LEN {
            break;
        }
        out.push(c);
    }
    out
}

fn note(log: &AuditLog, text: &str) -> Result<u64, CmdError> {
    let text = Text::new(clip(text)).map_err(|e| format!("the restore record: {e}"))?;
    let receipt = log
        .append(Entry::new(Event::Note {
            note: NoteKind::Other,
            text,
            who: None,
            escort: None,
            by: Some(cardgate_audit::caller::label()),
        }))
        .map_err(|e| format!("recording the restore in the audit log: {e}"))?;
    Ok(receipt.seq)
}

/// Checks a backup (signature, names, checksums) and puts its files back where this machine's
/// configuration says. Refuses while the daemon runs. Records what it did in the audit log.
pub fn restore(
    _ui: &Ui,
    config: &Config,
    config_path: &Path,
    from: &Path,
    options: RestoreOptions,
) -> Result<ExitCode, CmdError> {
    if std::os::unix::net::UnixStream::connect(&config.daemon.login_socket).is_ok() {
        return Err("cardgated is running; stop it before restoring".into());
    }
    // 1. Authenticity: the manifest is signed by the issuer key, which is not in the backup.
    let pub_path = options
        .issuer_pub
        .clone()
        .unwrap_or_else(|| config.issuer.public_key.clone());
    let public = load_public(&pub_path)?;
    let manifest = read_backup_file(from, MANIFEST, MAX_MANIFEST)?;
    let signature = read_backup_file(from, SIGNATURE, 1024)?;
    let mut sig = [0u8; 64];
    let sig_ok = std::str::from_utf8(&signature)
        .ok()
        .and_then(|t| hex_decode(t.trim(), &mut sig))
        .is_some()
        && public.verify(&signed_message(&manifest), &sig);
    if !sig_ok {
        return Err(format!(
            "{}: the manifest is not signed by the issuer key in {} (missing, altered or another key's); nothing was restored",
            from.display(),
            pub_path.display()
        )
        .into());
    }
    let manifest = String::from_utf8(manifest).map_err(|_| format!("{MANIFEST} is not UTF-8"))?;

    // 2. Names from a fixed list, targets from the configuration, contents by checksum.
    let mut plan: Vec<Planned> = Vec::new();
    for (n, line) in manifest.lines().enumerate() {
        let Some((hash, name)) = line.split_once("  ") else {
            return Err(format!(
                "{MANIFEST} line {} is malformed; nothing was restored",
                n + 1
            )
            .into());
        };
        let Some(slot) = classify(name) else {
            return Err(format!(
                "{MANIFEST} line {}: {name:?} is not a file a backup can hold (only {} and audit/ segments); nothing was restored",
                n + 1,
                FIXED.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            )
            .into());
        };
        if plan.iter().any(|p| p.name == name) {
            return Err(format!("{MANIFEST} names {name} twice; nothing was restored").into());
        }
        if slot == Slot::Audit && !options.audit {
            // Not restored, so not read: a log can be large.
            plan.push(Planned {
                name: name.to_owned(),
                slot,
                target: PathBuf::new(),
                bytes: Vec::new(),
            });
            continue;
        }
        let bytes = read_backup_file(from, name, MAX_FILE)?;
        if sha256_hex(&bytes) != hash {
            return Err(format!("{name} does not match its checksum; nothing was restored").into());
        }
        let target = target(config, config_path, name, slot);
        if std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(format!(
                "{} (for {name}) is a symbolic link; nothing was restored",
                target.display()
            )
            .into());
        }
        plan.push(Planned {
            name: name.to_owned(),
            slot,
            target,
            bytes,
        });
    }

    // 3. Rolling revocation.accepted back is a step of its own.
    let mut rollback = None;
    if let Some(p) = plan.iter().find(|p| p.slot == Slot::Accepted) {
        let backup_version = accepted_version(&p.bytes).ok_or_else(|| {
            format!(
                "{} in the backup is malformed; nothing was restored",
                p.name
            )
        })?;
        match std::fs::read(&p.target) {
            Ok(current) => {
                let current_version = accepted_version(&current);
                // The same version with another digest is another list: not a step forward.
                let back =
                    |c: u64| backup_version < c || (backup_version == c && current != p.bytes);
                if current_version.is_none_or(back) {
                    let from_version = current_version.map_or_else(
                        || "an unreadable record".to_owned(),
                        |c| format!("version {c}"),
                    );
                    if !options.allow_revocation_rollback {
                        return Err(format!(
                            "restoring would roll {} back from {from_version} to version {backup_version}: cards revoked since could log in again; nothing was restored (pass --allow-revocation-rollback to do it anyway; it is recorded in the audit log)",
                            p.target.display()
                        )
                        .into());
                    }
                    rollback = Some(format!(
                        "revocation.accepted rolled back from {from_version} to version {backup_version} (--allow-revocation-rollback)"
                    ));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: {e}", p.target.display()).into()),
        }
    }

    // 4. The audit log: left alone unless asked for, and then only into an empty directory,
    // checked with k(0), with its sealing key derived from k(0) (the backup has none).
    let (audit_files, files): (Vec<Planned>, Vec<Planned>) =
        plan.into_iter().partition(|p| p.slot == Slot::Audit);
    let audit_dir = &config.audit.dir;
    let mut audit_note = None;
    if options.audit {
        let k0 = options
            .k0
            .as_ref()
            .ok_or("--audit needs k(0): --key - (on stdin) or --key-file PATH")?;
        let existing = match list_segments(audit_dir) {
            Ok(s) => !s.is_empty(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(format!("{}: {e}", audit_dir.display()).into()),
        };
        if existing || audit_dir.join(cardgate_audit::seal::KEY_FILE).exists() {
            return Err(format!(
                "{} already holds an audit log; a restore never replaces one (its records would be lost): move it aside first; nothing was restored",
                audit_dir.display()
            )
            .into());
        }
        let mut segments: Vec<(&str, &[u8])> = audit_files
            .iter()
            .filter(|p| parse_segment_name(&p.name["audit/".len()..]).is_some())
            .map(|p| (&p.name["audit/".len()..], p.bytes.as_slice()))
            .collect();
        segments.sort_by_key(|(n, _)| parse_segment_name(n));
        let (outcome, epoch) =
            cardgate_audit::verify::verify_segments_without_key_file(&segments, k0);
        if let Some(problem) = &outcome.problem {
            return Err(format!(
                "the backup's audit log does not verify with this k(0): {problem}; nothing was restored"
            )
            .into());
        }
        private_dir(audit_dir)?;
        for p in &audit_files {
            write_atomic(&p.target, &p.bytes, 0o600)
                .map_err(|e| format!("writing {}: {e}", p.target.display()))?;
        }
        write_key_file(audit_dir, epoch, &k0.evolve_by(epoch))?;
        audit_note = Some(format!(
            "audit log restored from the backup ({} records, {} files), sealing continues at epoch {epoch} (--audit)",
            outcome.records,
            audit_files.len()
        ));
    } else if options.k0.is_some() {
        return Err("--key/--key-file is only for --audit".into());
    }

    // 5. Record before writing: a restore, and above all a rollback, is never unrecorded.
    let terminal = cardgate_audit::cli::terminal_name();
    let (log, _) = AuditLog::open(AuditConfig::new(audit_dir, terminal)).map_err(|e| {
        format!(
            "a restore is recorded in the audit log, and {} cannot be opened: {e}; restore the log too (--audit with k(0)) or create one (cardgatectl audit init); nothing else was restored",
            audit_dir.display()
        )
    })?;
    let names: Vec<&str> = files.iter().map(|p| p.name.as_str()).collect();
    let mut text = format!(
        "restore from {}: writing {}",
        from.display(),
        if names.is_empty() {
            "nothing".to_owned()
        } else {
            names.join(", ")
        }
    );
    for extra in [&audit_note, &rollback].into_iter().flatten() {
        text.push_str("; ");
        text.push_str(extra);
    }
    if !options.audit && !audit_files.is_empty() {
        text.push_str(&format!(
            "; the backup's {} audit files were not restored (no --audit)",
            audit_files.len()
        ));
    }
    note(&log, &text)?;

    let mut written = 0;
    let mut failure = None;
    for p in &files {
        let result = p
            .target
            .parent()
            .map_or(Ok(()), |dir| {
                if dir.as_os_str().is_empty() {
                    Ok(())
                } else {
                    std::fs::create_dir_all(dir)
                }
            })
            .and_then(|()| write_atomic(&p.target, &p.bytes, 0o600));
        match result {
            Ok(()) => written += 1,
            Err(e) => {
                failure = Some(format!(
                    "writing {} (for {}): {e}",
                    p.target.display(),
                    p.name
                ));
                break;
            }
        }
    }
    let outcome = match &failure {
        None => format!("restore from {}: {written} files written", from.display()),
        Some(f) => format!(
            "restore from {} FAILED after {written} of {} files: {f}",
            from.display(),
            files.len()
        ),
    };
    note(&log, &outcome)?;
    log.close()
        .map_err(|e| format!("sealing the audit log after the restore: {e}"))?;
    if let Some(f) = failure {
        return Err(f.into());
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "restored {written} files from {}", from.display())?;
    if let Some(n) = &audit_note {
        writeln!(out, "{n}")?;
    } else if !audit_files.is_empty() {
        writeln!(
            out,
            "the audit log was left as it is (the backup's copy is for review; --audit puts it back into an empty directory)"
        )?;
    }
    if let Some(r) = &rollback {
        writeln!(out, "{r}; recorded in the audit log")?;
    }
    Ok(ExitCode::SUCCESS)
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
