//! The audit log's disk fills up (ENOSPC on a real, small tmpfs under the real daemon):
//! logins are refused with `audit_unavailable`, a removal still locks the session, and once
//! space is freed the daemon resumes by itself.
//!
//! EIO on write and on fsync has no cheap real source here (no device-mapper in the test
//! machine); the in-process tests inject both through `FaultyStorage`:
//! `crates/sessiond/tests/engine.rs`
//! `an_unwritable_audit_log_refuses_the_login_and_the_daemon_resumes_by_itself`.

use cardgate_tests::fixtures::{PIN, PUK};
use cardgate_tests::{outcome, Office, TerminalSpec};
use cardgate_tests::{PcscLab, SoftCardFile};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted over a directory, unmounted when dropped.
struct SmallDisk {
    at: PathBuf,
}

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(at).unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .status()
            .unwrap();
        assert!(status.success(), "mount -t tmpfs on {}", at.display());
        SmallDisk { at: at.to_owned() }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

/// Fills the file system of `path` until ENOSPC.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 64 * 1024];
    loop {
        match f.write(&block) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    // The last partial pages too.
    while f.write(&[0u8; 512]).is_ok_and(|n| n > 0) {}
}

#[test]
fn a_full_audit_disk_refuses_logins_and_the_daemon_resumes_when_space_is_freed() {
    let mut disk = None;
    let office = Office::with_setup(
        PcscLab::start().unwrap(),
        &[TerminalSpec {
            id: "juki-01",
            slot: 0,
        }],
        &[("op-0042", "tanaka")],
        "",
        |dir| disk = Some(SmallDisk::mount(&dir.join("audit"), "1m")),
    )
    .unwrap();
    let _disk = disk;
    let card =
        SoftCardFile::personalised(&office.lab, &office.issuer, "op-0042", PIN, PUK).unwrap();
    let mut inserted = office.lab.insert_card(0, &card).unwrap();
    let _daemon = office.start_daemon().unwrap();
    assert_eq!(
        office.authenticate("juki-01", "tanaka", PIN)["result"],
        "granted"
    );
    assert_eq!(
        office.open_session("juki-01", "tanaka", "s1")["result"],
        "granted"
    );

    let filler = office.dir.join("audit/filler");
    fill(&filler);
    // A record may still fit in the last page of the open segment; a few logins use it up.
    let mut refused_at = None;
    for attempt in 0..20 {
        let a = office.authenticate("juki-01", "tanaka", PIN);
        if outcome(&a) == "audit_unavailable" {
            refused_at = Some(attempt);
            break;
        }
        assert_eq!(a["result"], "granted", "{a}");
    }
    assert!(refused_at.is_some(), "a full disk never refused a login");
    for _ in 0..3 {
        let a = office.authenticate("juki-01", "tanaka", PIN);
        assert_eq!(outcome(&a), "audit_unavailable", "{a}");
        assert!(a["message"].as_str().unwrap().contains("audit"), "{a}");
    }
    // A removal still locks the session: the lock does not wait for the disk.
    inserted.remove().unwrap();
    office.wait_for_call("lock-session s1").unwrap();
    office.wait_for_session_state("s1", "locked");

    // Space is freed: the next login goes through, with nobody restarting anything.
    std::fs::remove_file(&filler).unwrap();
    let mut inserted = office.lab.insert_card(0, &card).unwrap();
    let a = office.authenticate("juki-01", "tanaka", PIN);
    assert_eq!(a["result"], "granted", "{a}");
    office.wait_for_call("unlock-session s1").unwrap();
    inserted.remove().unwrap();
    office.wait_for_call("lock-session s1").unwrap();
    // Every record the daemon acknowledged is there and the chain verifies with k(0).
    office.verify_audit();
    assert!(office.count("login_granted") >= 2);
}
