//! `cardgatectl office publish|pull|status` through the binary, with real files and a shared
//! path as the source (the ssh transport is tested through a real sshd in
//! `tests/tests/office_sync.rs`): exit statuses, rollback and tampering refused, files named.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn ctl(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cardgatectl"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", "C")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(out: Output) -> String {
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn machine(root: &Path, name: &str, issuer_pub: &Path) -> PathBuf {
    let d = root.join(name);
    std::fs::create_dir_all(&d).unwrap();
    let config = d.join("cardgated.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\nlogin_socket = \"{d}/login.sock\"\nadmin_socket = \"{d}/admin.sock\"\nstate_dir = \"{d}\"\n\
             [issuer]\npublic_key = \"{p}\"\n[revocation]\nlist = \"{d}/revoked.crl\"\n\
             [audit]\ndir = \"{d}/audit\"\n[[terminal]]\nid = \"juki-01\"\nreader = \"r\"\n",
            d = d.display(),
            p = issuer_pub.display()
        ),
    )
    .unwrap();
    config
}

fn register(must_change_pin: bool, state: &str) -> String {
    format!(
        r#"{{"format_version": 1, "cards": {{"0102030405060708": {{"operator_id": "op-0042",
        "role": "operator", "lent_at": 1790000000, "valid_until": "2027-03-31",
        "must_change_pin": {must_change_pin}, {state}}}}}}}"#
    )
}

#[test]
fn publish_pull_unchanged_rollback_tampering_and_bad_sources() {
    let root = std::env::temp_dir().join(format!("cardgatectl-office-{}", std::process::id()));
    match std::fs::remove_dir_all(&root) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("{}: {e}", root.display()),
    }
    std::fs::create_dir_all(&root).unwrap();
    let issuer = root.join("issuer");
    let issuer_pub = issuer.join("issuer.pub");
    let office = machine(&root, "office", &issuer_pub);
    let terminal = machine(&root, "terminal", &issuer_pub);
    let tdir = root.join("terminal");
    let published = root.join("published");
    std::fs::create_dir_all(&published).unwrap();
    let s = |p: &Path| p.to_string_lossy().into_owned();
    ok(ctl(&office, &["issuer", "init", "--dir", &s(&issuer)]));
    let list = s(&root.join("office/revoked.crl"));
    ok(ctl(
        &office,
        &[
            "revocation",
            "refresh",
            "--issuer-dir",
            &s(&issuer),
            "--list",
            &list,
        ],
    ));
    std::fs::write(
        root.join("office/cards.json"),
        register(true, r#""state": "lent""#),
    )
    .unwrap();
    let publish = || {
        ok(ctl(
            &office,
            &[
                "office",
                "publish",
                "--issuer-dir",
                &s(&issuer),
                "--out",
                &s(&published),
            ],
        ))
    };
    let from = s(&published);
    let pull = || ctl(&terminal, &["office", "pull", "--from", &from]);

    // No pull yet: exit 3, naming the status file.
    let none = ctl(&terminal, &["office", "status"]);
    assert_eq!(none.status.code(), Some(3), "{}", text(&none));
    assert!(text(&none).contains("office.status"), "{}", text(&none));

    assert!(publish().contains("version 1"));
    let v1 = (
        std::fs::read(published.join("office.state")).unwrap(),
        std::fs::read(published.join("revoked.crl")).unwrap(),
    );
    let said = ok(pull());
    assert!(
        said.contains("applied office state version 1")
            && said.contains("revocation list version 1 installed")
            && said.contains("1 added"),
        "{said}"
    );
    assert_eq!(
        std::fs::read(tdir.join("revoked.crl")).unwrap(),
        std::fs::read(&list).unwrap()
    );
    assert!(ok(pull()).contains("already applied"));

    // The card is returned at the office (register and list), published as version 2.
    ok(ctl(
        &office,
        &[
            "revocation",
            "revoke",
            "--issuer-dir",
            &s(&issuer),
            "--list",
            &list,
            "0102030405060708",
            "--reason",
            "returned",
        ],
    ));
    std::fs::write(
        root.join("office/cards.json"),
        register(true, r#""state": "returned", "at": 1790000500"#),
    )
    .unwrap();
    assert!(publish().contains("version 2"));
    let said = ok(pull());
    assert!(
        said.contains("version 2 installed") && said.contains("1 withdrawn"),
        "{said}"
    );
    let reg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tdir.join("cards.json")).unwrap()).unwrap();
    assert_eq!(reg["cards"]["0102030405060708"]["state"], "returned");

    // Version 1 put back at the office: refused (4), nothing changed, said in the status.
    std::fs::write(published.join("office.state"), &v1.0).unwrap();
    std::fs::write(published.join("revoked.crl"), &v1.1).unwrap();
    let back = pull();
    assert_eq!(back.status.code(), Some(4), "{}", text(&back));
    assert!(
        text(&back).contains("rollback refused") && text(&back).contains("office.state"),
        "{}",
        text(&back)
    );
    let status: serde_json::Value =
        serde_json::from_slice(&ctl(&terminal, &["--json", "office", "status"]).stdout).unwrap();
    assert_eq!(status["result"], "refused_rollback", "{status}");
    assert!(ok(ctl(&terminal, &["office", "status"])).contains("rollback refused"));
    let reg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tdir.join("cards.json")).unwrap()).unwrap();
    assert_eq!(reg["cards"]["0102030405060708"]["state"], "returned");
    // In Japanese too.
    let ja = ctl(
        &terminal,
        &["--lang", "ja", "office", "pull", "--from", &from],
    );
    assert!(text(&ja).contains("拒否"), "{}", text(&ja));

    // Tampered: refused (6), naming the file.
    publish();
    let mut state = std::fs::read(published.join("office.state")).unwrap();
    state[20] ^= 1;
    std::fs::write(published.join("office.state"), &state).unwrap();
    let bad = pull();
    assert_eq!(bad.status.code(), Some(6), "{}", text(&bad));
    assert!(text(&bad).contains("office.state"), "{}", text(&bad));

    // A missing file is 3, a source that is no source 2 (nothing an option could be).
    std::fs::remove_file(published.join("revoked.crl")).unwrap();
    let missing = pull();
    assert_eq!(missing.status.code(), Some(3), "{}", text(&missing));
    assert!(text(&missing).contains("revoked.crl"), "{}", text(&missing));
    for source in ["relative/dir", "-e", "host:/a b"] {
        let out = ctl(&terminal, &["office", "pull", "--from", source]);
        assert_eq!(out.status.code(), Some(2), "{source}: {}", text(&out));
    }
    std::fs::remove_dir_all(&root).unwrap();
}
