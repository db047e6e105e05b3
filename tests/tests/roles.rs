//! The two roles through the real stack (a private pcscd with vpcd readers, software cards,
//! `cardgated` and `cardgatectl` as their own processes): the access manager (a uid in
//! `cardgate-manager`, not root) revokes a card and writes a register note, both recorded
//! under their own uid; reads and verifies the audit log but cannot write it; is refused
//! what is the system administrator's; a uid in neither group is refused everything.
//!
//! The daemon runs in its own mount namespace where the lab's `/etc/passwd` and `/etc/group`
//! (the host's, plus this test's users and groups) are bind-mounted, so the groups exist for
//! the daemon's name service only; `cardgatectl` runs as those uids and gids on the host.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_tests::fixtures::{INITIAL_PIN, PUK};
use cardgate_tests::{Office, PcscLab, SoftCardFile};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The access manager: primary group `cardgate-manager`.
const KANRI: (u32, u32) = (4400, 4500);
/// The system administrator: a supplementary member of `cardgate-admin`.
const SYSADM: (u32, u32) = (4401, 4401);
/// A local user in neither group.
const STRANGER: (u32, u32) = (4402, 4402);
const MANAGER_GID: u32 = 4500;

/// The host's passwd and group databases, without any cardgate group, plus this test's.
fn databases(dir: &Path) -> (PathBuf, PathBuf) {
    let mut passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd.push_str(
        "kanri:x:4400:4500:Access manager:/nonexistent:/usr/sbin/nologin\n\
         sysadm:x:4401:4401:System administrator:/nonexistent:/usr/sbin/nologin\n\
         stranger:x:4402:4402::/nonexistent:/usr/sbin/nologin\n",
    );
    let passwd_path = dir.join("passwd");
    std::fs::write(&passwd_path, passwd).unwrap();
    let mut group: String = std::fs::read_to_string("/etc/group")
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("cardgate-"))
        .map(|l| format!("{l}\n"))
        .collect();
    group.push_str(
        "cardgate-manager:x:4500:\ncardgate-admin:x:4501:sysadm\n\
         sysadm:x:4401:\nstranger:x:4402:\n",
    );
    let group_path = dir.join("group");
    std::fs::write(&group_path, group).unwrap();
    (passwd_path, group_path)
}

fn start_daemon(office: &Office) -> cardgate_tests::Daemon {
    let (passwd, group) = databases(&office.dir);
    office
        .start_daemon_in(&[
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            "mount --bind \"$1\" /etc/passwd && mount --bind \"$2\" /etc/group && shift 2 && exec \"$@\"",
            "sh",
            passwd.to_str().unwrap(),
            group.to_str().unwrap(),
        ])
        .unwrap()
}

/// `cardgatectl --config … ARGS` run as `(uid, gid)`, with no supplementary groups.
fn ctl_as((uid, gid): (u32, u32), office: &Office, args: &[&str], stdin: &str) -> Output {
    let program = cardgate_tests::paths::workspace_artifact("cardgatectl", "cardgatectl").unwrap();
    let mut child = Command::new(program)
        .arg("--config")
        .arg(&office.config)
        .args(args)
        .env("PCSCLITE_CSOCK_NAME", office.lab.client_socket())
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .uid(uid)
        .gid(gid)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        // A command that fails before reading closes the pipe; its status tells.
        let _ = input.write_all(stdin.as_bytes());
    }
    child.wait_with_output().unwrap()
}

fn both(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}: {}", out.status, both(out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused(out: &Output, what: &str) {
    assert!(!out.status.success(), "succeeded: {}", both(out));
    assert!(both(out).contains(what), "{what:?} not in: {}", both(out));
}

fn records(office: &Office, kind: &str) -> Vec<Value> {
    office
        .audit_lines()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["event"]["kind"] == kind)
        .collect()
}

/// The issuer key on the access manager's own medium (a USB stick in real life): a
/// directory of theirs, not root's.
fn managers_issuer_dir(office: &Office) -> String {
    let usb = office.dir.join("usb-issuer");
    std::fs::create_dir_all(&usb).unwrap();
    for file in ["issuer.key", "issuer.pub"] {
        let to = usb.join(file);
        std::fs::copy(office.dir.join("issuer").join(file), &to).unwrap();
        std::os::unix::fs::chown(&to, Some(KANRI.0), Some(KANRI.1)).unwrap();
    }
    std::os::unix::fs::chown(&usb, Some(KANRI.0), Some(KANRI.1)).unwrap();
    std::fs::set_permissions(&usb, std::fs::Permissions::from_mode(0o700)).unwrap();
    usb.to_string_lossy().into_owned()
}

/// Lends a card (as root, through the daemon) so that the register knows it.
fn lend_a_card(office: &Office) -> (String, cardgate_tests::CardProcess) {
    let blank = SoftCardFile::blank(&office.lab, "blank", PUK).unwrap();
    let card = office.lab.insert_card(0, &blank).unwrap();
    let reader = office.lab.reader(0).unwrap().to_owned();
    let serial = office
        .issue_card(&reader, "op-0042", PUK, INITIAL_PIN)
        .unwrap();
    (serial, card)
}

#[test]
fn the_access_manager_revokes_and_writes_notes_without_root_under_their_own_uid() {
    let office = Office::standard(PcscLab::with_readers(2).unwrap(), "").unwrap();
    let _daemon = start_daemon(&office);
    let (serial, _card) = lend_a_card(&office);
    let before = office.list_version().unwrap();
    let usb = managers_issuer_dir(&office);

    // The revocation: the daemon installs the list the manager signed, marks the register,
    // and records the revocation under the manager's uid, not root's.
    let out = ctl_as(
        KANRI,
        &office,
        &[
            "card",
            "revoke",
            &serial,
            "--reason",
            "lost",
            "--issuer-dir",
            &usb,
        ],
        "",
    );
    let text = ok(&out);
    assert!(text.contains(&format!("card {serial} revoked")), "{text}");
    let revoked = records(&office, "card_revoked");
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    assert_eq!(revoked[0]["card"], serial.as_str());
    assert_eq!(
        revoked[0]["event"]["by"], "uid 4400 (kanri)",
        "{:?}",
        revoked[0]
    );
    assert!(office.list_version().unwrap() > before);
    // The register says so, and the manager can read it.
    let list = ok(&ctl_as(KANRI, &office, &["card", "list"], ""));
    let line = list
        .lines()
        .find(|l| l.contains(&serial))
        .unwrap_or_default();
    assert!(line.contains("revoked"), "{list}");
    // The files the daemon wrote are still root's: the manager's group reads, never writes.
    let crl = office.dir.join("state/revoked.crl");
    let meta = std::fs::metadata(&crl).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 0);
    assert_eq!(meta.permissions().mode() & 0o022, 0, "{crl:?}");

    // A register note (art. 4), through the daemon, under the manager's uid.
    let out = ctl_as(
        KANRI,
        &office,
        &[
            "audit",
            "note",
            "--kind",
            "media",
            "--text",
            "USBメモリ1本を廃棄（物理破壊）",
        ],
        "",
    );
    assert!(ok(&out).contains("recorded by cardgated"), "{}", both(&out));
    let notes = records(&office, "note");
    let note = notes.last().unwrap();
    assert_eq!(note["event"]["by"], "uid 4400 (kanri)", "{note:?}");
    assert_eq!(note["event"]["note"], "media", "{note:?}");

    // The review: the manager verifies the log with k(0), without root.
    let out = ctl_as(
        KANRI,
        &office,
        &[
            "audit",
            "verify",
            "--dir",
            &office.path("audit"),
            "--key",
            "-",
        ],
        &format!("{}\n", office.audit_key_hex),
    );
    let verified = ok(&out);
    // Every seal was checked from k(0); the live sealing key itself is not the manager's to
    // read (a copy kept would outlive its erasure and could reseal a rewritten log).
    assert!(verified.contains("seal key file is root's alone"), "{verified}");
    let read_key = Command::new("cat")
        .arg(office.dir.join("audit").join(cardgate_audit::seal::KEY_FILE))
        .uid(KANRI.0)
        .gid(KANRI.1)
        .output()
        .unwrap();
    assert!(!read_key.status.success(), "the manager read seal.key");
    // ... and reviews it (art. 7): the report names the revocation the manager made.
    let report = ok(&ctl_as(
        KANRI,
        &office,
        &[
            "audit",
            "report",
            "--dir",
            &office.path("audit"),
            "--format",
            "json",
        ],
        "",
    ));
    assert!(!report.trim().is_empty());
    // The directories the daemon shared: root's, the group's to read, setgid.
    for dir in ["state", "audit"] {
        let meta = std::fs::metadata(office.dir.join(dir)).unwrap();
        assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 0, "{dir}");
        assert_eq!(
            std::os::unix::fs::MetadataExt::gid(&meta),
            MANAGER_GID,
            "{dir}"
        );
        assert_eq!(meta.permissions().mode() & 0o7777, 0o2750, "{dir}");
    }
    // ... and cannot write it: no segment opens for append, no file can be made beside them.
    let audit = office.dir.join("audit");
    let segment = cardgate_audit::segments::list_segments(&audit)
        .unwrap()
        .last()
        .unwrap()
        .1
        .clone();
    let write = Command::new("sh")
        .arg("-c")
        .arg("printf x >> \"$1\" || exit 3; touch \"$2\"/forged || exit 4")
        .arg("sh")
        .arg(&segment)
        .arg(&audit)
        .uid(KANRI.0)
        .gid(KANRI.1)
        .output()
        .unwrap();
    assert_eq!(write.status.code(), Some(3), "{}", both(&write));
    let write = Command::new("sh")
        .arg("-c")
        .arg("touch \"$1\"/forged")
        .arg("sh")
        .arg(&audit)
        .uid(KANRI.0)
        .gid(KANRI.1)
        .output()
        .unwrap();
    assert!(!write.status.success(), "{}", both(&write));
    let meta = std::fs::metadata(&segment).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::gid(&meta), MANAGER_GID);
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    // The log is still whole for root's verification too.
    office.verify_audit();
}

#[test]
fn what_is_the_administrators_is_refused_to_the_manager_and_a_stranger_gets_nothing() {
    let office = Office::standard(PcscLab::start().unwrap(), "").unwrap();
    let _daemon = start_daemon(&office);

    // The manager reads the daemon's status ...
    ok(&ctl_as(KANRI, &office, &["status"], ""));
    // ... but the open sessions and the server-room entry log are the administrator's.
    refused(
        &ctl_as(KANRI, &office, &["sessions"], ""),
        "system administrator's",
    );
    refused(
        &ctl_as(
            KANRI,
            &office,
            &[
                "audit",
                "note",
                "--kind",
                "room-entry",
                "--text",
                "サーバ室入室",
                "--who",
                "保守業者",
            ],
            "",
        ),
        "server-room entry log is the system administrator's (art. 3)",
    );
    assert!(records(&office, "note").is_empty());

    // The administrator (a supplementary member of cardgate-admin) may.
    ok(&ctl_as(SYSADM, &office, &["sessions"], ""));
    let out = ctl_as(
        SYSADM,
        &office,
        &[
            "audit",
            "note",
            "--kind",
            "room-entry",
            "--text",
            "サーバ室入室",
            "--who",
            "保守業者",
        ],
        "",
    );
    ok(&out);
    let notes = records(&office, "note");
    assert_eq!(notes.len(), 1);
    assert_eq!(
        notes[0]["event"]["by"], "uid 4401 (sysadm)",
        "{:?}",
        notes[0]
    );

    // A uid in neither group: refused by the daemon, whatever it asks, and recorded nowhere.
    for args in [&["status"][..], &["sessions"]] {
        refused(
            &ctl_as(STRANGER, &office, args, ""),
            "uid 4402 is a member of neither cardgate-admin nor cardgate-manager",
        );
    }
    refused(
        &ctl_as(
            STRANGER,
            &office,
            &["audit", "note", "--kind", "other", "--text", "x"],
            "",
        ),
        "member of neither",
    );
    assert_eq!(records(&office, "note").len(), 1);
    // Nor can it read the log.
    refused(
        &ctl_as(
            STRANGER,
            &office,
            &[
                "audit",
                "verify",
                "--dir",
                &office.path("audit"),
                "--key",
                "-",
            ],
            &format!("{}\n", office.audit_key_hex),
        ),
        "ermission denied",
    );
}
