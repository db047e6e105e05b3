//! Users and groups from the name service, not from `/etc/passwd` (issue 15: users of SSSD or
//! LDAP did not exist for cardgate).
//!
//! The daemon runs in a private mount namespace whose `/etc/nsswitch.conf` adds Debian's
//! `libnss-extrausers` (`passwd: files extrausers`), with its databases on a tmpfs over
//! `/var/lib/extrausers`: the operator's user, the access manager and the daemon's groups
//! exist there only, never in `/etc/passwd` or `/etc/group`. `--check-config` finds them
//! inside (and warns outside, where they do not exist); the daemon gives the access
//! manager their role from their supplementary group and records them by name.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_tests::{Office, PcscLab};
use serde_json::Value;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The access manager, in `cardgate-manager` as a supplementary member only.
const KANRI: (u32, u32) = (4700, 4700);
/// A user of the name service in no cardgate group.
const STRANGER: (u32, u32) = (4703, 4703);

/// The extrausers databases and an nsswitch.conf that reads them after the files.
fn name_service(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let nss = dir.join("nss");
    std::fs::create_dir_all(&nss).unwrap();
    let conf: String = std::fs::read_to_string("/etc/nsswitch.conf")
        .unwrap()
        .lines()
        .map(|l| match l.split(':').next() {
            Some("passwd") => "passwd: files extrausers\n".to_owned(),
            Some("group") => "group: files extrausers\n".to_owned(),
            _ => format!("{l}\n"),
        })
        .collect();
    let nsswitch = nss.join("nsswitch.conf");
    std::fs::write(&nsswitch, conf).unwrap();
    let passwd = nss.join("passwd");
    std::fs::write(
        &passwd,
        "kanri-nss:x:4700:4700:Access manager (directory):/nonexistent:/usr/sbin/nologin\n\
         nss-tanaka:x:4704:4704:Operator (directory):/nonexistent:/usr/sbin/nologin\n\
         stranger-nss:x:4703:4703::/nonexistent:/usr/sbin/nologin\n",
    )
    .unwrap();
    let group = nss.join("group");
    std::fs::write(
        &group,
        "kanri-nss:x:4700:\ncardgate-manager:x:4701:kanri-nss\ncardgate-admin:x:4702:\n\
         stranger-nss:x:4703:\nnss-tanaka:x:4704:\n",
    )
    .unwrap();
    (nsswitch, passwd, group)
}

/// `unshare … sh -c '…' sh` that runs the rest of its arguments with the name service above.
fn in_name_service(office: &Office) -> Vec<String> {
    let (nsswitch, passwd, group) = name_service(&office.dir);
    [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        "mount --bind \"$1\" /etc/nsswitch.conf && mount -t tmpfs -o mode=0755 none /var/lib/extrausers \
         && cp \"$2\" /var/lib/extrausers/passwd && cp \"$3\" /var/lib/extrausers/group \
         && shift 3 && exec \"$@\"",
        "sh",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain([nsswitch, passwd, group].map(|p| p.to_string_lossy().into_owned()))
    .collect()
}

fn cardgated() -> PathBuf {
    cardgate_tests::paths::workspace_artifact("cardgated", "cardgate-sessiond").unwrap()
}

fn check_config(office: &Office, wrapper: &[String]) -> String {
    let mut command = match wrapper.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(cardgated());
            c
        }
        None => Command::new(cardgated()),
    };
    let out = command
        .arg("--check-config")
        .arg(&office.config)
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}");
    text
}

/// `cardgatectl --config … ARGS` as `(uid, gid)`, with no supplementary groups (std drops
/// root's when it sets the uid), on the host: the membership is the daemon's to find,
/// through its name service.
fn ctl_as((uid, gid): (u32, u32), office: &Office, args: &[&str]) -> Output {
    let program = cardgate_tests::paths::workspace_artifact("cardgatectl", "cardgatectl").unwrap();
    Command::new(program)
        .arg("--config")
        .arg(&office.config)
        .args(args)
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .uid(uid)
        .gid(gid)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn both(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn users_and_groups_known_only_to_the_name_service_are_found() {
    let office = Office::standard(PcscLab::start().unwrap(), "").unwrap();
    let text = std::fs::read_to_string(&office.config).unwrap();
    let operator_line = "\"op-0042\" = \"tanaka\"";
    assert!(text.contains(operator_line), "{text}");
    std::fs::write(
        &office.config,
        text.replace(operator_line, "\"op-0042\" = \"nss-tanaka\""),
    )
    .unwrap();
    let wrapper = in_name_service(&office);

    // On the host, none of them exists: warnings.
    let host = check_config(&office, &[]);
    for warning in [
        "user \"nss-tanaka\" is not known to the name service",
        "daemon.manager_group = \"cardgate-manager\": no such group",
        "daemon.admin_group = \"cardgate-admin\": no such group",
    ] {
        assert!(host.contains(warning), "{warning:?} not in:\n{host}");
    }
    // With the directory in the name service, all of them are found.
    let inside = check_config(&office, &wrapper);
    assert!(!inside.contains("warning:"), "{inside}");
    assert!(inside.contains("configuration is valid"), "{inside}");

    // The daemon finds the manager's role from their supplementary group in the directory,
    // and records them by the directory's name.
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let daemon = office.start_daemon_in(&wrapper).unwrap();
    assert!(
        !daemon.log_text().contains("group does not exist"),
        "{}",
        daemon.log_text()
    );
    let out = ctl_as(
        KANRI,
        &office,
        &["audit", "note", "--kind", "media", "--text", "NSS"],
    );
    assert!(out.status.success(), "{}", both(&out));
    let notes: Vec<Value> = office
        .audit_lines()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["event"]["kind"] == "note")
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["event"]["by"], "uid 4700 (kanri-nss)", "{notes:?}");
    // A directory user in neither group gets nothing.
    let out = ctl_as(STRANGER, &office, &["status"]);
    assert!(!out.status.success(), "{}", both(&out));
}
