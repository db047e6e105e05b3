//! The shipped unit's sandbox against what the real daemon really does (issue 15: the unit
//! denied `@privileged`, which holds `@chown`, and systemd killed cardgated with SIGSYS at its
//! first `chown(2)` of the admin socket).
//!
//! The real `cardgated` runs under `strace -f` through a real scenario: its groups exist (so
//! that it shares the state with the access manager's group and gives the admin socket to
//! its groups, as on a packaged terminal), a login through the real PAM module in
//! `pamtester`, the card pulled (a lock through `loginctl`), an admin request, a revocation
//! that ends the session, and SIGTERM (and, before it, `--check-config` as the unit's
//! `ExecStartPre=` runs it). Every system call they and their children made is then
//! checked against the set that the unit's `SystemCallFilter=` lines allow, computed from
//! `systemd-analyze syscall-filter` (Debian's systemd: the groups as the systemd that runs
//! the unit defines them) and applied line by line as systemd does: the first line decides
//! whether the filter is an allow list (everything else killed, `@default` always allowed)
//! or a deny list; every later line adds to or takes from that list.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_card::CardSerial;
use cardgate_tests::fixtures::{OPERATOR, PIN, PUK, USER};
use cardgate_tests::pamtester::{pamtester, service_file};
use cardgate_tests::{Office, PcscLab, SoftCardFile};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

fn unit_text() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/cardgated.service"))
        .unwrap()
}

/// `Key=value` settings of the unit's `[Service]` section, in order.
fn service_settings(unit: &str, key: &str) -> Vec<String> {
    let mut in_service = false;
    let mut out = Vec::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
            continue;
        }
        if let Some(value) = line.strip_prefix(key).and_then(|r| r.strip_prefix('=')) {
            if in_service {
                out.push(value.trim().to_owned());
            }
        }
    }
    out
}

/// Every group `systemd-analyze syscall-filter` knows, with its members as it lists them
/// (system call names and nested `@groups`).
fn syscall_groups() -> BTreeMap<String, Vec<String>> {
    let out = Command::new("systemd-analyze")
        .args(["syscall-filter", "--no-pager"])
        .output()
        .expect("systemd-analyze (Debian package systemd)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if line.starts_with('@') {
            let name = line.trim().to_owned();
            groups.entry(name.clone()).or_default();
            current = Some(name);
        } else if line.trim().is_empty() || !line.starts_with(' ') {
            // A blank line, or a heading of another section (unlisted system calls).
            current = None;
        } else if let Some(group) = &current {
            let member = line.trim();
            if !member.starts_with('#') {
                groups.get_mut(group).unwrap().push(member.to_owned());
            }
        }
    }
    assert!(
        groups.contains_key("@system-service") && groups.contains_key("@default"),
        "systemd-analyze syscall-filter printed no groups"
    );
    groups
}

/// A filter item (a system call, or `@group` expanded recursively) as system call names.
fn expand(item: &str, groups: &BTreeMap<String, Vec<String>>, out: &mut BTreeSet<String>) {
    if let Some(members) = groups.get(item) {
        for m in members {
            expand(m, groups, out);
        }
    } else {
        assert!(!item.starts_with('@'), "unknown system call group {item}");
        out.insert(item.to_owned());
    }
}

/// What the unit's `SystemCallFilter=` lines do, as systemd applies them.
#[derive(Debug)]
struct Filter {
    /// The first line was an allow list: every call not in `listed` kills the process.
    allow_list: bool,
    /// The calls allowed (allow list) or killed (deny list).
    listed: BTreeSet<String>,
}

impl Filter {
    fn of_unit(unit: &str, groups: &BTreeMap<String, Vec<String>>) -> Filter {
        let mut filter: Option<Filter> = None;
        for line in service_settings(unit, "SystemCallFilter") {
            if line.is_empty() {
                // An empty assignment resets the filter.
                filter = None;
                continue;
            }
            let (deny, items) = match line.strip_prefix('~') {
                Some(rest) => (true, rest),
                None => (false, line.as_str()),
            };
            let mut calls = BTreeSet::new();
            for item in items.split_whitespace() {
                expand(item, groups, &mut calls);
            }
            let f = filter.get_or_insert_with(|| {
                let mut listed = BTreeSet::new();
                if !deny {
                    // systemd: "Accept default syscalls if we are on an allow list".
                    expand("@default", groups, &mut listed);
                }
                Filter {
                    allow_list: !deny,
                    listed,
                }
            });
            // Same kind as the first line: the calls join the list; the other: they leave it.
            if deny != f.allow_list {
                f.listed.extend(calls);
            } else {
                f.listed.retain(|c| !calls.contains(c));
            }
        }
        filter.expect("the unit has a SystemCallFilter")
    }

    fn kills(&self, call: &str) -> bool {
        self.listed.contains(call) != self.allow_list
    }
}

/// The system call names in an `strace -f -qq` output file.
fn traced_calls(trace: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(trace).unwrap();
    let mut calls = BTreeSet::new();
    for line in text.lines() {
        // `PID name(args…) = result`; `PID <... name resumed>…`; `PID --- SIGTERM … ---`.
        let rest = line.split_once(' ').map_or(line, |(_, r)| r).trim_start();
        let rest = rest.strip_prefix("<... ").unwrap_or(rest);
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let next = rest[name.len()..].chars().next();
        if !name.is_empty() && matches!(next, Some('(') | Some(' ')) {
            calls.insert(name);
        }
    }
    calls
}

/// The calls of an strace output that set a set-user-ID or set-group-ID bit (chmod, mkdir,
/// open with O_CREAT, mknod, with a mode of 04000 or 02000): what `RestrictSUIDSGID=yes`
/// refuses with EPERM.
fn suid_sgid_calls(trace: &Path) -> Vec<String> {
    const WITH_MODE: &[&str] = &[
        "chmod",
        "fchmod",
        "fchmodat",
        "fchmodat2",
        "mkdir",
        "mkdirat",
        "mknod",
        "mknodat",
        "open",
        "openat",
        "creat",
    ];
    let text = std::fs::read_to_string(trace).unwrap();
    text.lines()
        .filter(|line| {
            let Some((_, rest)) = line.split_once(' ') else {
                return false;
            };
            let Some((name, args)) = rest.split_once('(') else {
                return false;
            };
            if !WITH_MODE.contains(&name) || (name.starts_with("open") && !args.contains("O_CREAT"))
            {
                return false;
            }
            let args = args.split(')').next().unwrap_or("");
            args.split([',', ' ', '<'])
                .rev()
                .find(|t| {
                    t.len() > 1
                        && t.starts_with('0')
                        && t.bytes().all(|b| (b'0'..=b'7').contains(&b))
                })
                .and_then(|t| u32::from_str_radix(t, 8).ok())
                .is_some_and(|mode| mode & 0o6000 != 0)
        })
        .map(str::to_owned)
        .collect()
}

/// The calls of an strace output that the unit's other seccomp-based settings refuse:
/// `MemoryDenyWriteExecute=yes` (a mapping both writable and executable, or made executable
/// later), `RestrictAddressFamilies=AF_UNIX` (a socket of another family), `RestrictNamespaces=yes`
/// (a new namespace).
fn refused_by_other_settings(unit: &str, trace: &Path) -> Vec<String> {
    let on = |key: &str| service_settings(unit, key).iter().any(|v| v == "yes");
    let families = service_settings(unit, "RestrictAddressFamilies");
    let text = std::fs::read_to_string(trace).unwrap();
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((_, rest)) = line.split_once(' ') else {
            continue;
        };
        let Some((name, args)) = rest.split_once('(') else {
            continue;
        };
        let refused = match name {
            "mmap" => {
                on("MemoryDenyWriteExecute")
                    && args.contains("PROT_WRITE")
                    && args.contains("PROT_EXEC")
            }
            "mprotect" | "pkey_mprotect" => {
                on("MemoryDenyWriteExecute") && args.contains("PROT_EXEC")
            }
            "socket" | "socketpair" => {
                let family = args.split(',').next().unwrap_or("").trim();
                !families.is_empty()
                    && !families
                        .iter()
                        .any(|f| f.split_whitespace().any(|a| a == family))
            }
            "unshare" | "clone" | "clone3" | "setns" => {
                on("RestrictNamespaces") && args.contains("CLONE_NEW")
            }
            _ => false,
        };
        if refused {
            out.push(line.to_owned());
        }
    }
    out
}

/// What systemd does before it starts the unit: every `StateDirectory=` gets
/// `StateDirectoryMode=` (at every start). The office's state and audit directories stand for
/// the defaults under `/var/lib`.
fn make_state_directories_as_systemd_does(unit: &str, office: &Office) {
    let defaults = cardgate_office::config::Config::parse(
        "[[terminal]]\nid = \"juki-01\"\nreader = \"Virtual PCD 00 00\"\n",
    )
    .unwrap();
    let mode = service_settings(unit, "StateDirectoryMode")
        .first()
        .and_then(|m| u32::from_str_radix(m, 8).ok())
        .unwrap_or(0o755);
    for entry in service_settings(unit, "StateDirectory")
        .iter()
        .flat_map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
    {
        let path = Path::new("/var/lib").join(&entry);
        let office_dir = if path == defaults.daemon.state_dir {
            office.dir.join("state")
        } else if path == defaults.audit.dir {
            office.dir.join("audit")
        } else {
            continue;
        };
        std::fs::set_permissions(
            &office_dir,
            std::os::unix::fs::PermissionsExt::from_mode(mode),
        )
        .unwrap();
    }
}

/// The host's passwd and group databases plus the daemon's two groups, so that the daemon
/// finds them as it does on a packaged terminal (sysusers creates them).
fn databases(dir: &Path) -> (PathBuf, PathBuf) {
    let passwd_path = dir.join("passwd");
    std::fs::copy("/etc/passwd", &passwd_path).unwrap();
    let mut group: String = std::fs::read_to_string("/etc/group")
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("cardgate-"))
        .map(|l| format!("{l}\n"))
        .collect();
    group.push_str("cardgate-manager:x:4600:\ncardgate-admin:x:4601:\n");
    let group_path = dir.join("group");
    std::fs::write(&group_path, group).unwrap();
    (passwd_path, group_path)
}

fn serial_of(operator: &str) -> String {
    let mut serial = [0u8; 8];
    for (i, b) in operator.bytes().enumerate() {
        serial[i % 8] ^= b;
    }
    CardSerial(serial).to_string()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < LIMIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The process IDs whose parent is `pid`.
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

#[test]
fn every_system_call_of_the_daemon_is_allowed_by_the_units_filter() {
    let unit = unit_text();
    let filter = Filter::of_unit(&unit, &syscall_groups());

    let office = Office::standard(PcscLab::start().unwrap(), "").unwrap();
    let (passwd, group) = databases(&office.dir);
    let trace = office.dir.join("cardgated.strace");
    // The unit's ExecStartPre= (`--check-config`) runs under the same filter: it looks the
    // groups and users up, probes the log and the list.
    let check_trace = office.dir.join("check-config.strace");
    make_state_directories_as_systemd_does(&unit, &office);
    let check = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(
            "mount --bind \"$1\" /etc/passwd && mount --bind \"$2\" /etc/group && \
             exec strace -f -qq -e trace=all -o \"$3\" \"$4\" --check-config \"$5\"",
        )
        .arg("sh")
        .args([&passwd, &group, &check_trace])
        .arg(cardgate_tests::paths::workspace_artifact("cardgated", "cardgate-sessiond").unwrap())
        .arg(&office.config)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let mut daemon = office
        .start_daemon_in(&[
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            "mount --bind \"$1\" /etc/passwd && mount --bind \"$2\" /etc/group && t=$3 && shift 3 \
             && exec strace -f -qq -e trace=all -o \"$t\" \"$@\"",
            "sh",
            passwd.to_str().unwrap(),
            group.to_str().unwrap(),
            trace.to_str().unwrap(),
        ])
        .unwrap();
    let strace_pid = daemon.pid().unwrap();
    let daemon_pid = match children(strace_pid).as_slice() {
        [pid] => *pid,
        other => panic!("strace {strace_pid} has children {other:?}"),
    };
    // The chowns the filter killed: the admin socket given to its groups.
    let admin = std::fs::metadata(office.admin_socket()).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::gid(&admin), 4601);
    // The state and the log are the manager's group's to read, setgid (new segments too).
    for dir in ["state", "audit"] {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let m = std::fs::metadata(office.dir.join(dir)).unwrap();
        assert_eq!(
            (m.gid(), m.permissions().mode() & 0o7777),
            (4600, 0o2750),
            "{dir}"
        );
    }

    // A login through the real PAM stack, then the card pulled: the session is locked.
    let card = SoftCardFile::personalised(&office.lab, &office.issuer, OPERATOR, PIN, PUK).unwrap();
    let mut inserted = office.lab.insert_card(0, &card).unwrap();
    office.lab.wait_for_card(0).unwrap();
    let svc = service_file(
        &office.dir,
        "cardgate-sandbox",
        &format!(
            "terminal=juki-01 socket={} wait=10 lang=en",
            office.login_socket().display()
        ),
    )
    .unwrap();
    let run = pamtester(
        &svc,
        USER,
        &["XDG_SESSION_ID=c7"],
        &["authenticate", "acct_mgmt", "open_session"],
        &[PIN],
    )
    .unwrap();
    assert!(run.status.success(), "{}{}", run.stdout, run.stderr);
    inserted.remove().unwrap();
    wait_until("lock-session c7", || {
        office
            .loginctl_calls()
            .iter()
            .any(|c| c == "lock-session c7")
    });

    // An admin request, then the card revoked: its session ends.
    let status = office.admin(r#"{"op":"status"}"#);
    assert!(status.get("result").is_some(), "{status}");
    let issuer_dir = office.path("issuer");
    office
        .ctl_ok(
            &[
                "card",
                "revoke",
                &serial_of(OPERATOR),
                "--reason",
                "lost",
                "--issuer-dir",
                &issuer_dir,
                // The test's card is made in place, not issued through this register.
                "--not-in-register",
                "--yes",
            ],
            "",
        )
        .unwrap();
    wait_until("terminate-session c7", || {
        office
            .loginctl_calls()
            .iter()
            .any(|c| c == "terminate-session c7")
    });

    // SIGTERM: the stop is recorded and the log sealed, under the same filter.
    cardgate_tests::signal(daemon_pid, "TERM");
    wait_until("cardgated to stop", || !daemon.is_running());
    assert!(
        office.audit_kinds().iter().any(|k| k == "daemon_stopped"),
        "{:?}",
        office.audit_kinds()
    );

    let mut calls = traced_calls(&trace);
    calls.extend(traced_calls(&check_trace));
    eprintln!("{} distinct system calls traced: {calls:?}", calls.len());
    for expected in ["chown", "bind", "mlockall", "execve"] {
        assert!(calls.contains(expected), "{expected} not traced: {calls:?}");
    }
    let killed: Vec<&String> = calls.iter().filter(|c| filter.kills(c)).collect();
    assert!(
        killed.is_empty(),
        "dist/cardgated.service's SystemCallFilter would kill cardgated (SIGSYS) at: {killed:?}"
    );
    // RestrictSUIDSGID=yes is a seccomp filter too: it refuses (EPERM) a mode with the setuid
    // or setgid bit, which the daemon's sharing of the state with the manager's group would
    // then fail on, unnoticed but for a warning.
    if service_settings(&unit, "RestrictSUIDSGID") == ["yes"] {
        let mut refused = suid_sgid_calls(&trace);
        refused.extend(suid_sgid_calls(&check_trace));
        assert!(
            refused.is_empty(),
            "RestrictSUIDSGID=yes refuses these calls of cardgated with EPERM: {refused:#?}"
        );
    }
    let mut refused = refused_by_other_settings(&unit, &trace);
    refused.extend(refused_by_other_settings(&unit, &check_trace));
    assert!(
        refused.is_empty(),
        "the unit's MemoryDenyWriteExecute, RestrictAddressFamilies or RestrictNamespaces refuses: {refused:#?}"
    );
}

/// The other settings the daemon relies on: no core dumps (PINs pass through its memory),
/// every path it writes writable under ProtectSystem=strict, and the capabilities it uses.
#[test]
fn the_unit_keeps_cores_off_and_lets_the_daemon_write_only_its_own_paths() {
    let unit = unit_text();
    assert_eq!(service_settings(&unit, "LimitCORE"), ["0"]);
    assert_eq!(service_settings(&unit, "ProtectSystem"), ["strict"]);
    // The defaults of cardgated.toml: state, audit, revocation list under the state
    // directory; both sockets under the runtime directory.
    let defaults = cardgate_office::config::Config::parse(
        "[[terminal]]\nid = \"juki-01\"\nreader = \"Virtual PCD 00 00\"\n",
    )
    .unwrap();
    let writable: Vec<PathBuf> = service_settings(&unit, "ReadWritePaths")
        .iter()
        .flat_map(|l| l.split_whitespace().map(PathBuf::from).collect::<Vec<_>>())
        .chain(
            service_settings(&unit, "StateDirectory")
                .iter()
                .map(|d| Path::new("/var/lib").join(d)),
        )
        .chain(
            service_settings(&unit, "RuntimeDirectory")
                .iter()
                .map(|d| Path::new("/run").join(d)),
        )
        .collect();
    for path in [
        defaults.daemon.state_dir.as_path(),
        defaults.audit.dir.as_path(),
        defaults.revocation.list.as_path(),
        defaults.daemon.login_socket.as_path(),
        defaults.daemon.admin_socket.as_path(),
    ] {
        assert!(
            writable.iter().any(|w| path.starts_with(w)),
            "{} is not writable under the unit (ReadWritePaths/StateDirectory/RuntimeDirectory: {writable:?})",
            path.display()
        );
    }
    let caps: Vec<String> = service_settings(&unit, "CapabilityBoundingSet")
        .iter()
        .flat_map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    // chown of the shared state and the admin socket; chmod of files root owns but the
    // manager's group holds; reading the register whatever its mode; mlockall; and for
    // loginctl, which runs as the daemon's child with its capabilities: systemd 252's logind
    // lets a caller lock a session with CAP_SYS_ADMIN and end one with CAP_KILL without
    // asking polkit (which a terminal need not have).
    for cap in [
        "CAP_CHOWN",
        "CAP_FOWNER",
        "CAP_DAC_OVERRIDE",
        "CAP_IPC_LOCK",
        "CAP_SYS_ADMIN",
        "CAP_KILL",
    ] {
        assert!(caps.iter().any(|c| c == cap), "{cap} not in {caps:?}");
    }
}

/// The unit as Debian 12's systemd reads it: `systemd-analyze verify` (offline) names any key
/// it does not know or any value it cannot parse, which systemd would ignore with a warning
/// in the journal and run the daemon without.
#[test]
fn debians_systemd_reads_every_line_of_the_unit() {
    let program =
        cardgate_tests::paths::workspace_artifact("cardgated", "cardgate-sessiond").unwrap();
    let dir = std::env::temp_dir().join(format!("cardgate-unit-verify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The unit names the installed binary; verify checks that it is executable.
    let unit = unit_text().replace("/usr/sbin/cardgated", program.to_str().unwrap());
    let path = dir.join("cardgated.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian package systemd)");
    std::fs::remove_dir_all(&dir).unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}
