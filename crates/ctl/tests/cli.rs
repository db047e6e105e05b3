//! `cardgatectl` end to end: the binary, real files, real exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn ctl(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cardgatectl"))
        .args(args)
        // English, whatever the machine's locale (the Japanese output has its own tests).
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cardgatectl-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn pin_check_accepts_and_refuses_with_reason() {
    let ok = ctl(&["pin", "check", "--operator", "op-0042"], "h7Kd9mQ2\n");
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    for (pin, reason) in [
        ("abc123\n", "run"),
        ("password1\n", "commonly used"),
        ("xop0042kq\n", "operator ID"),
        ("abcdefg\n", "at least one digit"),
        ("ab1\n", "at least 6"),
    ] {
        let out = ctl(&["pin", "check", "--operator", "op-0042"], pin);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{pin}: {stderr}");
        assert!(stderr.contains(reason), "{pin}: {stderr}");
        assert!(
            !stderr.contains(pin.trim()),
            "the reason repeats the PIN: {stderr}"
        );
    }
}

#[test]
fn issuer_init_writes_keys_and_refuses_to_overwrite() {
    let dir = tempdir("issuer");
    let out = ctl(&["issuer", "init", "--dir", dir.to_str().unwrap()], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = std::fs::read(dir.join("issuer.key")).unwrap();
    let mode = std::fs::metadata(dir.join("issuer.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let issuer = cardgate_card::IssuerKey::from_pkcs8(&key).unwrap();
    let public = std::fs::read_to_string(dir.join("issuer.pub")).unwrap();
    assert_eq!(public.trim(), issuer.public_key().to_hex());
    assert_eq!(public.trim().len(), 64);

    // Refused (4), naming the directory.
    let again = ctl(&["issuer", "init", "--dir", dir.to_str().unwrap()], "");
    assert_eq!(again.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&again.stderr).contains(dir.to_str().unwrap()));
    assert_eq!(
        std::fs::read(dir.join("issuer.key")).unwrap(),
        key,
        "the key was replaced"
    );
}

#[test]
fn revocation_list_grows_by_version_and_verifies() {
    let dir = tempdir("revocation");
    let d = dir.to_str().unwrap();
    assert!(ctl(&["issuer", "init", "--dir", d], "").status.success());
    let list = dir.join("revoked.crl");
    let l = list.to_str().unwrap();
    for (i, serial) in ["0102030405060708", "1112131415161718"].iter().enumerate() {
        let out = ctl(
            &[
                "revocation",
                "revoke",
                "--issuer-dir",
                d,
                "--list",
                l,
                serial,
                "--reason",
                "lost",
            ],
            "",
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("version {}", i + 1)));
    }
    let public = cardgate_card::IssuerPublicKey::from_hex(
        &std::fs::read_to_string(dir.join("issuer.pub")).unwrap(),
    )
    .unwrap();
    let parsed =
        cardgate_card::RevocationList::verify(&std::fs::read(&list).unwrap(), &public).unwrap();
    assert_eq!(parsed.version(), 2);
    assert_eq!(parsed.len(), 2);

    let bad = ctl(
        &[
            "revocation",
            "revoke",
            "--issuer-dir",
            d,
            "--list",
            l,
            "xyz",
            "--reason",
            "lost",
        ],
        "",
    );
    assert_eq!(bad.status.code(), Some(2));
    let bad_reason = ctl(
        &[
            "revocation",
            "revoke",
            "--issuer-dir",
            d,
            "--list",
            l,
            "0102030405060709",
            "--reason",
            "misplaced",
        ],
        "",
    );
    assert_ne!(bad_reason.status.code(), Some(0));
    let show = ctl(
        &[
            "revocation",
            "show",
            "--issuer-pub",
            dir.join("issuer.pub").to_str().unwrap(),
            "--list",
            l,
        ],
        "",
    );
    assert!(String::from_utf8_lossy(&show.stdout).contains("1112131415161718"));
    let _ = Path::new(d);
}

// `--config FILE` names the daemon's configuration for every subcommand, `audit` included:
// its default log directory used to come from /etc/cardgate/cardgated.toml whatever
// `--config` said.
#[test]
fn audit_takes_its_log_directory_from_the_configuration_given() {
    let dir = tempdir("auditcfg");
    let log = dir.join("audit");
    let config = dir.join("cardgated.toml");
    std::fs::write(
        &config,
        format!(
            "[audit]\ndir = {:?}\n\n[[terminal]]\nid = \"juki-01\"\nreader = \"r\"\n",
            log.display().to_string()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let init = ctl(&["audit", "init", "--dir", log.to_str().unwrap()], "");
    assert_eq!(
        init.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let verify = ctl(&["--config", config, "audit", "verify"], "");
    let stdout = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(stdout.starts_with("intact: 2 records"), "{stdout}");

    // A configuration cardgated would refuse is refused here too, naming the file.
    std::fs::write(config, "[audit]\ndir = \"audit\"\n").unwrap();
    let refused = ctl(&["--config", config, "audit", "verify"], "");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(config) && stderr.contains("must be an absolute path"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `cardgatectl ARGS` with extra environment variables (a locale), stdin empty.
fn ctl_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cardgatectl"));
    command
        .args(args)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", "C")
        .stdin(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A configuration whose sockets lead nowhere (no daemon), with an issuer key and a list.
struct Terminal {
    dir: std::path::PathBuf,
    config: String,
}

impl Terminal {
    fn new(name: &str) -> Terminal {
        let dir = tempdir(name);
        let d = dir.display();
        let config = dir.join("cardgated.toml");
        std::fs::write(
            &config,
            format!(
                "[daemon]\nlogin_socket = \"{d}/login.sock\"\nadmin_socket = \"{d}/admin.sock\"\nstate_dir = \"{d}\"\n\
                 [issuer]\npublic_key = \"{d}/issuer/issuer.pub\"\n[revocation]\nlist = \"{d}/revoked.crl\"\n\
                 [audit]\ndir = \"{d}/audit\"\n[[terminal]]\nid = \"juki-01\"\nreader = \"Virtual PCD 00 00\"\n"
            ),
        )
        .unwrap();
        let issuer = dir.join("issuer");
        assert!(
            ctl(&["issuer", "init", "--dir", issuer.to_str().unwrap()], "")
                .status
                .success()
        );
        let t = Terminal {
            dir,
            config: config.to_str().unwrap().to_owned(),
        };
        let out = ctl(
            &[
                "revocation",
                "revoke",
                "--issuer-dir",
                &t.path("issuer"),
                "--list",
                &t.path("revoked.crl"),
                "0102030405060708",
                "--reason",
                "lost",
            ],
            "",
        );
        assert!(out.status.success(), "{}", stderr(&out));
        t
    }

    fn path(&self, relative: &str) -> String {
        self.dir.join(relative).to_string_lossy().into_owned()
    }
}

#[test]
fn next_update_days_is_bounded_with_a_clear_message() {
    let t = Terminal::new("bounds");
    let before = std::fs::read(t.path("revoked.crl")).unwrap();
    for (command, days) in [("revoke", "0"), ("revoke", "367"), ("refresh", "100000")] {
        let issuer = t.path("issuer");
        let list = t.path("revoked.crl");
        let mut args = vec![
            "revocation",
            command,
            "--issuer-dir",
            &issuer,
            "--list",
            &list,
        ];
        if command == "revoke" {
            args.extend(["1112131415161718", "--reason", "lost"]);
        }
        args.extend(["--next-update-days", days]);
        let out = ctl(&args, "");
        assert_eq!(out.status.code(), Some(2), "{days}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("from 1 to 366"),
            "{days}: {}",
            stderr(&out)
        );
        assert_eq!(
            std::fs::read(t.path("revoked.crl")).unwrap(),
            before,
            "{days}: the list was signed anyway"
        );
    }
    let ja = ctl_env(
        &[
            "revocation",
            "refresh",
            "--issuer-dir",
            &t.path("issuer"),
            "--list",
            &t.path("revoked.crl"),
            "--next-update-days",
            "0",
        ],
        &[("LANG", "ja_JP.UTF-8")],
    );
    assert_eq!(ja.status.code(), Some(2));
    assert!(
        stderr(&ja).contains("1 から 366 までの日数"),
        "{}",
        stderr(&ja)
    );
    let out = ctl(
        &[
            "revocation",
            "refresh",
            "--issuer-dir",
            &t.path("issuer"),
            "--list",
            &t.path("revoked.crl"),
            "--next-update-days",
            "366",
        ],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn issuer_init_refuses_a_missing_parent_and_creates_nothing() {
    let dir = tempdir("issuer-parent");
    let medium = dir.join("usb-not-mounted");
    let target = medium.join("issuer");
    let out = ctl(&["issuer", "init", "--dir", target.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(medium.to_str().unwrap()),
        "the error does not name the missing directory: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("mount the issuer medium"),
        "{}",
        stderr(&out)
    );
    assert!(!medium.exists(), "the missing parent was created");

    // /proc/1 exists but takes no new directory: named, not a bare os error.
    let proc = ctl(&["issuer", "init", "--dir", "/proc/1/issuer"], "");
    assert_ne!(proc.status.code(), Some(0));
    assert!(
        stderr(&proc).contains("/proc/1/issuer"),
        "{}",
        stderr(&proc)
    );

    // In Japanese under a Japanese locale.
    let ja = ctl_env(
        &["issuer", "init", "--dir", target.to_str().unwrap()],
        &[("LANG", "ja_JP.UTF-8")],
    );
    assert_eq!(ja.status.code(), Some(3));
    assert!(stderr(&ja).contains("発行者鍵の媒体"), "{}", stderr(&ja));
    assert!(stderr(&ja).contains("エラー"), "{}", stderr(&ja));
    assert!(!medium.exists());
}

#[test]
fn revocation_show_names_a_missing_list_and_prints_times_and_json() {
    let t = Terminal::new("show");
    let missing = ctl(
        &[
            "revocation",
            "show",
            "--issuer-pub",
            &t.path("issuer/issuer.pub"),
            "--list",
            "/nope.crl",
        ],
        "",
    );
    assert_eq!(missing.status.code(), Some(3), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("/nope.crl"),
        "{}",
        stderr(&missing)
    );
    assert!(
        !stderr(&missing).contains("os error"),
        "{}",
        stderr(&missing)
    );

    let args = [
        "revocation",
        "show",
        "--issuer-pub",
        &t.path("issuer/issuer.pub"),
        "--list",
        &t.path("revoked.crl"),
    ];
    let text = ctl(&args, "");
    assert!(text.status.success(), "{}", stderr(&text));
    let shown = stdout(&text);
    // Times as the office reads them (JST without a configuration), not Unix seconds.
    assert!(shown.contains("+09:00"), "{shown}");
    assert!(shown.contains("0102030405060708"), "{shown}");
    assert!(
        !shown
            .split_whitespace()
            .any(|w| w.trim_end_matches(',').len() == 10
                && w.trim_end_matches(',').bytes().all(|b| b.is_ascii_digit())),
        "a raw Unix time: {shown}"
    );

    let mut json_args = vec!["--json"];
    json_args.extend_from_slice(&args);
    let json = ctl(&json_args, "");
    assert!(json.status.success(), "{}", stderr(&json));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["stale"], false);
    assert_eq!(v["freshness"], "fresh");
    assert_eq!(v["entries"][0]["serial"], "0102030405060708");
    assert_eq!(v["entries"][0]["reason"], "lost");
    assert!(v["next_update"].as_str().unwrap().ends_with('Z'), "{v}");
    assert!(v["next_update_unix"].as_i64().unwrap() > v["issued_at_unix"].as_i64().unwrap());

    // A list signed by another key: verification failed (6), naming the list.
    let other = tempdir("show-other");
    assert!(ctl(
        &["issuer", "init", "--dir", other.join("k").to_str().unwrap()],
        ""
    )
    .status
    .success());
    let wrong = ctl(
        &[
            "revocation",
            "show",
            "--issuer-pub",
            other.join("k/issuer.pub").to_str().unwrap(),
            "--list",
            &t.path("revoked.crl"),
        ],
        "",
    );
    assert_eq!(wrong.status.code(), Some(6), "{}", stderr(&wrong));
    assert!(stderr(&wrong).contains(&t.path("revoked.crl")));
}

#[test]
fn the_daemon_down_is_exit_5_naming_the_socket_and_status_still_reports() {
    let t = Terminal::new("down");
    let socket = t.path("admin.sock");
    for command in [&["sessions"][..], &["status"][..]] {
        let mut args = vec!["--config", &t.config];
        args.extend_from_slice(command);
        let out = ctl(&args, "");
        assert_eq!(out.status.code(), Some(5), "{command:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(&socket), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("systemctl status cardgated"),
            "{}",
            stderr(&out)
        );
    }
    // status prints what it can read itself.
    let out = ctl(&["--config", &t.config, "status"], "");
    let text = stdout(&out);
    assert!(text.contains("cardgated: NOT REACHABLE"), "{text}");
    assert!(text.contains("pcscd:"), "{text}");
    assert!(text.contains("juki-01"), "{text}");
    assert!(text.contains("version 1"), "{text}");

    let json = ctl(&["--config", &t.config, "--json", "status"], "");
    assert_eq!(json.status.code(), Some(5));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["daemon"]["reachable"], false);
    assert_eq!(v["daemon"]["socket"], socket);
    assert_eq!(v["revocation"]["version"], 1);
    assert_eq!(v["revocation"]["freshness"], "fresh");
    assert_eq!(v["terminals"][0]["id"], "juki-01");
    assert!(v["sessions"].is_null());
    assert!(v["pcscd"]["reachable"].is_boolean());
    // No audit log at the configured place: said so, not a failure of status.
    assert_eq!(v["audit"]["readable"], false);
    assert!(v["audit"]["error"]
        .as_str()
        .unwrap()
        .contains(&t.path("audit")));

    // The same in Japanese.
    let ja = ctl_env(
        &["--config", &t.config, "status"],
        &[("LANG", "ja_JP.UTF-8")],
    );
    assert_eq!(ja.status.code(), Some(5));
    assert!(stdout(&ja).contains("接続できません"), "{}", stdout(&ja));
    assert!(stdout(&ja).contains("失効リスト"), "{}", stdout(&ja));
    assert!(stderr(&ja).contains("systemctl status cardgated"));
    assert!(stderr(&ja).contains("接続できません"), "{}", stderr(&ja));
}

#[test]
fn status_reads_the_audit_logs_last_record_and_seal_when_it_can() {
    let t = Terminal::new("status-audit");
    let init = ctl(&["audit", "init", "--dir", &t.path("audit")], "");
    assert!(init.status.success(), "{}", stderr(&init));
    let json = ctl(&["--config", &t.config, "--json", "status"], "");
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["audit"]["readable"], true, "{v}");
    let last = v["audit"]["last_record"]["seq"].as_u64().unwrap();
    assert!(last >= 1, "{v}");
    assert!(v["audit"]["last_record"]["time"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    // audit init seals what it wrote.
    assert!(v["audit"]["last_seal"]["epoch"].is_u64(), "{v}");
    assert_eq!(v["audit"]["last_seal"]["seq"].as_u64(), Some(last), "{v}");
}

#[test]
fn a_stale_or_nearly_due_list_is_warned_about() {
    let t = Terminal::new("due");
    let out = ctl(
        &[
            "revocation",
            "refresh",
            "--issuer-dir",
            &t.path("issuer"),
            "--list",
            &t.path("revoked.crl"),
            "--next-update-days",
            "1",
        ],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let status = ctl(&["--config", &t.config, "status"], "");
    assert!(
        stdout(&status).contains("less than two days away"),
        "{}",
        stdout(&status)
    );
    let show = ctl(
        &[
            "--json",
            "revocation",
            "show",
            "--issuer-pub",
            &t.path("issuer/issuer.pub"),
            "--list",
            &t.path("revoked.crl"),
        ],
        "",
    );
    let v: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(v["freshness"], "due_soon");
}
