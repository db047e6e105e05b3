//! `cardgated --check-config` and the daemon's start, on the same checks (issue 15:
//! `--check-config` said "valid" to a missing issuer key, audit log or revocation list, or a
//! group or user that did not exist, and start then failed or ran without them).
//!
//! Each test breaks one thing in the harness's standard office (made with `cardgatectl`, as
//! an access manager does) and runs the real `cardgated`: `--check-config` names the problem
//! and exits 2; a start on the same configuration refuses with the same message, exit 2,
//! before binding any socket. Warnings leave both at work.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_tests::{Office, PcscLab};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn office() -> Office {
    Office::standard(PcscLab::start().unwrap(), "").unwrap()
}

fn cardgated() -> PathBuf {
    cardgate_tests::paths::workspace_artifact("cardgated", "cardgate-sessiond").unwrap()
}

fn run(office: &Office, args: &[&str], lang: &str) -> Output {
    Command::new(cardgated())
        .args(args)
        .arg(&office.config)
        .env("LANG", lang)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("PCSCLITE_CSOCK_NAME", office.lab.client_socket())
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `--check-config` exits 2 naming `message`; a start refuses with it, binding nothing.
fn refused(office: &Office, message: &str) {
    let check = run(office, &["--check-config"], "C.UTF-8");
    let text = stderr(&check);
    assert_eq!(check.status.code(), Some(2), "{text}");
    assert!(text.contains(message), "{message:?} not in:\n{text}");
    assert!(text.contains("cardgated would not start"), "{text}");

    let before = audit_files(office);
    let start = run(office, &["--config"], "C.UTF-8");
    let log = stderr(&start);
    assert_eq!(start.status.code(), Some(2), "{log}");
    assert!(
        log.contains(message),
        "{message:?} not in the start's log:\n{log}"
    );
    assert!(log.contains("refusing to start"), "{log}");
    assert!(!log.contains("cardgated ready"), "{log}");
    assert!(!office.login_socket().exists(), "a socket was bound");
    assert!(
        before == audit_files(office),
        "the refused start wrote in the audit log"
    );
}

/// Every file of the audit directory with its contents (none when it is not there).
fn audit_files(office: &Office) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(office.dir.join("audit")) else {
        return Vec::new();
    };
    let mut files: Vec<(String, Vec<u8>)> = entries
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

fn edit_config(office: &Office, from: &str, to: &str) {
    let text = std::fs::read_to_string(&office.config).unwrap();
    assert!(text.contains(from), "{from:?} not in {text}");
    std::fs::write(&office.config, text.replace(from, to)).unwrap();
}

fn path(office: &Office, relative: &str) -> String {
    office.path(relative)
}

#[test]
fn the_standard_office_passes_with_its_warnings_and_starts() {
    let office = office();
    let check = run(&office, &["--check-config"], "C.UTF-8");
    let text = stderr(&check);
    assert_eq!(check.status.code(), Some(0), "{text}");
    assert!(text.contains("configuration is valid"), "{text}");
    // The harness's user and the default groups are in no name service here: warnings.
    for warning in [
        "warning: operator op-0042: user \"tanaka\" is not known to the name service",
        "warning: daemon.admin_group = \"cardgate-admin\": no such group in the name service",
        "warning: daemon.manager_group = \"cardgate-manager\": no such group",
    ] {
        assert!(text.contains(warning), "{warning:?} not in:\n{text}");
    }
    assert!(!text.contains("error:"), "{text}");
    // In Japanese from the locale, as the other tools.
    let ja = stderr(&run(&office, &["--check-config"], "ja_JP.UTF-8"));
    assert!(ja.contains("設定は有効です"), "{ja}");
    assert!(ja.contains("警告: 操作者 op-0042"), "{ja}");
    // Nothing was written by the checks.
    assert!(
        !office.audit_kinds().iter().any(|k| k == "daemon_started"),
        "{:?}",
        office.audit_kinds()
    );
    // And the daemon starts on it, warning the same in its log.
    let daemon = office.start_daemon().unwrap();
    assert!(
        daemon
            .log_text()
            .contains("operator op-0042: user \"tanaka\" is not known"),
        "{}",
        daemon.log_text()
    );
}

#[test]
fn a_missing_or_bad_issuer_key_is_refused() {
    let office = office();
    let key = office.dir.join("issuer/issuer.pub");
    let saved = std::fs::read(&key).unwrap();
    std::fs::remove_file(&key).unwrap();
    refused(
        &office,
        &format!("the issuer public key {} cannot be read", key.display()),
    );
    std::fs::write(&key, "not a key\n").unwrap();
    refused(
        &office,
        &format!("the issuer public key {} is not valid", key.display()),
    );
    std::fs::write(&key, saved).unwrap();
}

#[test]
fn an_audit_log_missing_or_that_does_not_open_is_refused() {
    let office = office();
    let audit = office.dir.join("audit");
    let segment = audit.join(cardgate_audit::segments::segment_name(1));
    let saved = std::fs::read(&segment).unwrap();
    // A last record that does not parse: open would fail on it.
    let mut broken = saved.clone();
    broken.extend_from_slice(b"{\"not\":\"a record\"}\n");
    std::fs::write(&segment, &broken).unwrap();
    refused(
        &office,
        &format!("the audit log {} cannot be opened", audit.display()),
    );
    std::fs::write(&segment, &saved).unwrap();
    std::fs::rename(&audit, office.dir.join("audit.moved")).unwrap();
    refused(
        &office,
        &format!(
            "the audit log {} is not initialised; run cardgatectl audit init",
            audit.display()
        ),
    );
}

#[test]
fn a_revocation_list_missing_or_not_verifying_is_refused() {
    let office = office();
    let list = office.dir.join("state/revoked.crl");
    let saved = std::fs::read(&list).unwrap();
    std::fs::remove_file(&list).unwrap();
    refused(
        &office,
        &format!("the revocation list {} cannot be read", list.display()),
    );
    // One bit of the signature changed: it no longer verifies against issuer.pub.
    let mut forged = saved.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    std::fs::write(&list, &forged).unwrap();
    refused(
        &office,
        &format!("the revocation list {} is refused", list.display()),
    );
}

#[test]
fn a_broken_accepted_version_is_refused() {
    let office = office();
    let accepted = office.dir.join("state/revocation.accepted");
    std::fs::write(&accepted, "not a version\n").unwrap();
    refused(
        &office,
        &format!(
            "the state file {} is unreadable or malformed",
            accepted.display()
        ),
    );
}

#[test]
fn a_loginctl_that_cannot_run_is_refused() {
    let office = office();
    let loginctl = office.dir.join("loginctl");
    std::fs::set_permissions(
        &loginctl,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    refused(
        &office,
        &format!(
            "the loginctl program {} is not an executable file",
            loginctl.display()
        ),
    );
    let missing = office.dir.join("no-loginctl");
    edit_config(
        &office,
        &format!("loginctl = \"{}\"", loginctl.display()),
        &format!("loginctl = \"{}\"", missing.display()),
    );
    refused(
        &office,
        &format!(
            "the loginctl program {} is not an executable file",
            missing.display()
        ),
    );
}

#[test]
fn a_socket_over_another_file_or_in_no_directory_is_refused() {
    let office = office();
    // The daemon removes what is at its socket's path before binding: a file there would go.
    let taken = office.dir.join("precious.txt");
    std::fs::write(&taken, "keep me\n").unwrap();
    edit_config(
        &office,
        &format!("admin_socket = \"{}\"", path(&office, "admin.sock")),
        &format!("admin_socket = \"{}\"", taken.display()),
    );
    refused(
        &office,
        &format!(
            "{} exists and is not a socket; the daemon would delete it",
            taken.display()
        ),
    );
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "keep me\n");

    let nowhere = Path::new(&path(&office, "precious.txt/admin.sock")).to_owned();
    edit_config(
        &office,
        &format!("admin_socket = \"{}\"", taken.display()),
        &format!("admin_socket = \"{}\"", nowhere.display()),
    );
    refused(
        &office,
        &format!("the socket {} cannot be created", nowhere.display()),
    );
}

#[test]
fn a_state_directory_that_cannot_be_made_is_refused() {
    let office = office();
    let file = office.dir.join("cardgated.log.not-a-dir");
    std::fs::write(&file, "").unwrap();
    let state = file.join("state");
    edit_config(
        &office,
        &format!("state_dir = \"{}\"", path(&office, "state")),
        &format!("state_dir = \"{}\"", state.display()),
    );
    refused(
        &office,
        &format!("the state directory {} cannot be used", state.display()),
    );
}

#[test]
fn a_stale_revocation_list_is_a_warning_and_the_daemon_still_starts() {
    let office = office();
    let list = office.dir.join("state/revoked.crl");
    // A year on, the list the office published is long past its next update.
    let out = Command::new("faketime")
        .args(["-f", "+400d"])
        .arg(cardgated())
        .arg("--check-config")
        .arg(&office.config)
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .output()
        .unwrap();
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let warning = format!(
        "warning: the revocation list {} (version 1) is past its next update: logins are refused",
        list.display()
    );
    assert!(text.contains(&warning), "{warning:?} not in:\n{text}");
    // The start goes on (its sessions keep their removal lock), saying the same.
    let daemon = office
        .start_daemon_in(&["faketime", "-f", "+400d"])
        .unwrap();
    assert!(
        daemon.log_text().contains("is past its next update"),
        "{}",
        daemon.log_text()
    );
}

// Issue 13: `[audit] syslog = true` made the writer connect to `/dev/log` once at open, so a
// terminal without it (no syslog daemon yet, or this machine) did not start. The export is
// gone; the old setting warns, and the daemon starts and records.
#[test]
fn the_old_syslog_setting_warns_and_the_daemon_starts_without_dev_log() {
    let office = office();
    edit_config(
        &office,
        "[audit]\n",
        "[audit]\nsyslog = true\nheartbeat_minutes = 15\n",
    );
    let check = run(&office, &["--check-config"], "C.UTF-8");
    let text = stderr(&check);
    assert_eq!(check.status.code(), Some(0), "{text}");
    assert!(
        text.contains("warning: [audit] syslog = true is ignored"),
        "{text}"
    );
    let ja = stderr(&run(&office, &["--check-config"], "ja_JP.UTF-8"));
    assert!(ja.contains("[audit] syslog = true は無視されます"), "{ja}");
    let daemon = office.start_daemon().unwrap();
    assert!(
        daemon.log_text().contains("syslog = true is ignored"),
        "{}",
        daemon.log_text()
    );
    assert!(
        office.audit_kinds().iter().any(|k| k == "daemon_started"),
        "{:?}",
        office.audit_kinds()
    );
}
