//! `cardgatectl restore`: a backup put back, only when the issuer signed it, only the fixed
//! set of files, only where this machine's configuration says, after showing what it will do
//! and asking (unless `--yes`), and recorded in the audit log.

use super::backup::{
    classify, manifest_lines, read_backup_file, sha256_hex, signed_manifest, target, Slot, FIXED,
    MAX_FILE,
};
use crate::exit::{Exit, Failure};
use crate::files::{io_failure, write_atomic, CmdError};
use crate::revocation::load_public;
use crate::ui::Ui;
use cardgate_audit::seal::write_key_file;
use cardgate_audit::segments::{list_segments, parse_segment_name};
use cardgate_audit::{AuditConfig, AuditLog, Entry, Event, NoteKind, Text};
use cardgate_i18n::{tr, Lang};
use cardgate_office::config::Config;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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

/// A `revocation.accepted` record (either format version).
fn accepted_record(bytes: &[u8]) -> Option<cardgate_office::files::Accepted> {
    cardgate_office::files::Accepted::parse(std::str::from_utf8(bytes).ok()?).ok()
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

/// Records `text` (kept in English: the audit log is one language for every reader and tool).
fn note(lang: Lang, log: &AuditLog, text: &str) -> Result<u64, CmdError> {
    let text = Text::new(clip(text)).map_err(|e| format!("the restore record: {e}"))?;
    let receipt = log
        .append(Entry::new(Event::Note {
            note: NoteKind::Other,
            text,
            who: None,
            escort: None,
            by: Some(cardgate_audit::caller::label()),
        }))
        .map_err(|e| {
            Failure::new(
                Exit::Failed,
                tr!(lang, "ctl-state-restore-record", error = e.to_string()),
            )
        })?;
    Ok(receipt.seq)
}

/// A failure of the restore, in `lang`, that says nothing was restored.
fn refused(lang: Lang, exit: Exit, message: String) -> CmdError {
    Box::new(Failure::new(
        exit,
        tr!(lang, "ctl-state-restore-nothing", message = message),
    ))
}

/// A failure from the checks of the backup, with "nothing was restored" added.
fn nothing(lang: Lang, e: CmdError) -> CmdError {
    match e.downcast::<Failure>() {
        Ok(f) => {
            let Failure {
                exit,
                message,
                hint,
            } = *f;
            let f = Failure::new(
                exit,
                tr!(lang, "ctl-state-restore-nothing", message = message),
            );
            Box::new(match hint {
                Some(h) => f.hint(h),
                None => f,
            })
        }
        Err(e) => e,
    }
}

/// Checks a backup (signature, names, checksums), shows what it will write where and asks,
/// then puts its files back where this machine's configuration says. Refuses while the daemon
/// runs. Records what it did in the audit log before writing.
pub fn restore(
    ui: &Ui,
    config: &Config,
    config_path: &Path,
    from: &Path,
    options: RestoreOptions,
) -> Result<ExitCode, CmdError> {
    let lang = ui.lang;
    if std::os::unix::net::UnixStream::connect(&config.daemon.login_socket).is_ok() {
        return Err(Box::new(
            Failure::new(
                Exit::Refused,
                tr!(
                    lang,
                    "ctl-state-restore-daemon-running",
                    socket = config.daemon.login_socket.display().to_string()
                ),
            )
            .hint(tr!(lang, "ctl-state-restore-daemon-running-hint")),
        ));
    }
    if !from.is_dir() {
        return Err(Box::new(io_failure(
            lang,
            from,
            &std::io::Error::from(std::io::ErrorKind::NotFound),
        )));
    }
    // 1. Authenticity: the manifest is signed by the issuer key, which is not in the backup.
    let pub_path = options
        .issuer_pub
        .clone()
        .unwrap_or_else(|| config.issuer.public_key.clone());
    let public = load_public(lang, &pub_path)?;
    let manifest = signed_manifest(lang, from, &public, &pub_path).map_err(|e| nothing(lang, e))?;
    let lines = manifest_lines(lang, from, &manifest).map_err(|e| nothing(lang, e))?;

    // 2. Names from a fixed list, targets from the configuration, contents by checksum.
    let mut plan: Vec<Planned> = Vec::new();
    for (n, (hash, name)) in lines.into_iter().enumerate() {
        let Some(slot) = classify(name) else {
            return Err(refused(
                lang,
                Exit::VerificationFailed,
                tr!(
                    lang,
                    "ctl-state-restore-bad-name",
                    line = n + 1,
                    name = format!("{name:?}"),
                    allowed = FIXED.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                ),
            ));
        };
        if plan.iter().any(|p| p.name == name) {
            return Err(refused(
                lang,
                Exit::VerificationFailed,
                tr!(lang, "ctl-state-restore-twice", name = name.to_owned()),
            ));
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
        let bytes = read_backup_file(lang, from, name, MAX_FILE).map_err(|e| nothing(lang, e))?;
        if !sha256_hex(&bytes).eq_ignore_ascii_case(hash) {
            return Err(refused(
                lang,
                Exit::VerificationFailed,
                tr!(
                    lang,
                    "ctl-state-backup-changed",
                    path = from.join(name).display().to_string()
                ),
            ));
        }
        let target = target(config, config_path, name, slot);
        if std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(refused(
                lang,
                Exit::Refused,
                tr!(
                    lang,
                    "ctl-state-restore-target-symlink",
                    path = target.display().to_string(),
                    name = name.to_owned()
                ),
            ));
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
        let backup = accepted_record(&p.bytes).ok_or_else(|| {
            refused(
                lang,
                Exit::VerificationFailed,
                tr!(
                    lang,
                    "ctl-state-restore-accepted-bad",
                    name = p.name.clone()
                ),
            )
        })?;
        let backup_version = backup.version;
        match std::fs::read(&p.target) {
            Ok(current) => {
                let current = accepted_record(&current);
                let current_version = current.map(|c| c.version);
                // The same version with another digest is another list: not a step forward.
                // Compared as records, not bytes: a backup written before the record carried
                // its format version holds the same list in the older form.
                let back = |c: cardgate_office::files::Accepted| {
                    backup_version < c.version
                        || (backup_version == c.version && backup.digest != c.digest)
                };
                if current.is_none_or(back) {
                    let from_version = current_version.map_or_else(
                        || "an unreadable record".to_owned(),
                        |c| format!("version {c}"),
                    );
                    if !options.allow_revocation_rollback {
                        return Err(Box::new(
                            Failure::new(
                                Exit::Refused,
                                tr!(
                                    lang,
                                    "ctl-state-restore-nothing",
                                    message = tr!(
                                        lang,
                                        "ctl-state-restore-rollback",
                                        path = p.target.display().to_string(),
                                        current = current_version
                                            .map_or_else(|| "?".to_owned(), |c| c.to_string()),
                                        version = backup_version
                                    )
                                ),
                            )
                            .hint(tr!(lang, "ctl-state-restore-rollback-hint")),
                        ));
                    }
                    rollback = Some(format!(
                        "revocation.accepted rolled back from {from_version} to version {backup_version} (--allow-revocation-rollback)"
                    ));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Box::new(io_failure(lang, &p.target, &e))),
        }
    }

    // 4. The audit log: left alone unless asked for, and then only into an empty directory,
    // checked with k(0), with its sealing key derived from k(0) (the backup has none).
    let (audit_files, files): (Vec<Planned>, Vec<Planned>) =
        plan.into_iter().partition(|p| p.slot == Slot::Audit);
    let audit_dir = &config.audit.dir;
    let mut audit_restore = None;
    if options.audit {
        let k0 = options.k0.as_ref().ok_or_else(|| {
            Failure::new(Exit::Usage, tr!(lang, "ctl-state-restore-audit-needs-key"))
        })?;
        let existing = match list_segments(audit_dir) {
            Ok(s) => !s.is_empty(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(Box::new(io_failure(lang, audit_dir, &e))),
        };
        if existing || audit_dir.join(cardgate_audit::seal::KEY_FILE).exists() {
            return Err(Box::new(
                Failure::new(
                    Exit::Refused,
                    tr!(
                        lang,
                        "ctl-state-restore-nothing",
                        message = tr!(
                            lang,
                            "ctl-state-restore-audit-exists",
                            path = audit_dir.display().to_string()
                        )
                    ),
                )
                .hint(tr!(lang, "ctl-state-restore-audit-exists-hint")),
            ));
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
            return Err(refused(
                lang,
                Exit::VerificationFailed,
                tr!(
                    lang,
                    "ctl-state-restore-audit-bad",
                    error = problem.to_string()
                ),
            ));
        }
        audit_restore = Some((outcome.records, epoch, k0.evolve_by(epoch)));
    } else if options.k0.is_some() {
        return Err(Box::new(Failure::new(
            Exit::Usage,
            tr!(lang, "ctl-state-restore-key-without-audit"),
        )));
    }

    // 5. What will be done, shown and asked for.
    let mut plan_text = tr!(
        lang,
        "ctl-state-restore-plan",
        path = from.display().to_string(),
        count = files.len()
    );
    for p in &files {
        plan_text.push_str(&format!("\n  {}  ->  {}", p.name, p.target.display()));
    }
    if let Some((records, epoch, _)) = &audit_restore {
        plan_text.push('\n');
        plan_text.push_str(&tr!(
            lang,
            "ctl-state-restore-plan-audit",
            path = audit_dir.display().to_string(),
            count = audit_files.len(),
            records = *records,
            epoch = *epoch
        ));
    } else if !audit_files.is_empty() {
        plan_text.push('\n');
        plan_text.push_str(&tr!(
            lang,
            "ctl-state-restore-plan-audit-left",
            count = audit_files.len()
        ));
    }
    if rollback.is_some() {
        plan_text.push('\n');
        plan_text.push_str(&tr!(lang, "ctl-state-restore-plan-rollback"));
    }
    ui.confirm(&plan_text)?;

    let mut audit_note = None;
    if let Some((records, epoch, key)) = &audit_restore {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(audit_dir)
            .map_err(|e| io_failure(lang, audit_dir, &e))?;
        for p in &audit_files {
            write_atomic(&p.target, &p.bytes, 0o600)
                .map_err(|e| io_failure(lang, &p.target, &e))?;
        }
        let key_path = cardgate_audit::seal::key_file_path(audit_dir);
        write_key_file(audit_dir, *epoch, key).map_err(|e| {
            Failure::new(
                Exit::Failed,
                tr!(
                    lang,
                    "ctl-state-io",
                    path = key_path.display().to_string(),
                    error = e.to_string()
                ),
            )
        })?;
        audit_note = Some(format!(
            "audit log restored from the backup ({records} records, {} files), sealing continues at epoch {epoch} (--audit)",
            audit_files.len()
        ));
    }

    // 6. Record before writing: a restore, and above all a rollback, is never unrecorded.
    let terminal = cardgate_audit::cli::terminal_name();
    let (log, _) = AuditLog::open(AuditConfig::new(audit_dir, terminal)).map_err(|e| {
        Failure::new(
            Exit::Refused,
            tr!(
                lang,
                "ctl-state-restore-no-log",
                path = audit_dir.display().to_string(),
                error = e.to_string()
            ),
        )
        .hint(tr!(lang, "ctl-state-restore-no-log-hint"))
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
    note(lang, &log, &text)?;

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
                failure = Some((p, e));
                break;
            }
        }
    }
    let outcome = match &failure {
        None => format!("restore from {}: {written} files written", from.display()),
        Some((p, e)) => format!(
            "restore from {} FAILED after {written} of {} files: writing {} (for {}): {e}",
            from.display(),
            files.len(),
            p.target.display(),
            p.name
        ),
    };
    note(lang, &log, &outcome)?;
    log.close().map_err(|e| {
        Failure::new(
            Exit::Failed,
            tr!(lang, "ctl-state-restore-seal", error = e.to_string()),
        )
    })?;
    if let Some((p, e)) = failure {
        return Err(Box::new(Failure::new(
            Exit::Failed,
            tr!(
                lang,
                "ctl-state-restore-partial",
                written = written,
                count = files.len(),
                path = p.target.display().to_string(),
                error = e.to_string()
            ),
        )));
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}",
        tr!(
            lang,
            "ctl-state-restore-done",
            count = written,
            path = from.display().to_string()
        )
    )?;
    if let Some((records, epoch, _)) = &audit_restore {
        writeln!(
            out,
            "{}",
            tr!(
                lang,
                "ctl-state-restore-done-audit",
                records = *records,
                epoch = *epoch
            )
        )?;
    } else if !audit_files.is_empty() {
        writeln!(out, "{}", tr!(lang, "ctl-state-restore-done-audit-left"))?;
    }
    if rollback.is_some() {
        writeln!(out, "{}", tr!(lang, "ctl-state-restore-done-rollback"))?;
    }
    Ok(ExitCode::SUCCESS)
}
