//! `cardgatectl` end to end: the binary, real files, real exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn ctl(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cardgatectl"))
        .args(args)
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

    let again = ctl(&["issuer", "init", "--dir", dir.to_str().unwrap()], "");
    assert_eq!(again.status.code(), Some(2));
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
    // Exit 1 (crate::exit::Exit::Failed): the command line is right, the file is not.
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(config) && stderr.contains("must be an absolute path"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
