//! `cardgated`'s command line, through the real binary: `--help` and `--version` on stdout
//! with status 0, a usage error on stderr with status 2, and the existing options
//! (`--check-config FILE`, `--config FILE`) still doing what they did.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::{Command, Output};

fn cardgated(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cardgated"))
        .args(args)
        .env_remove("CARDGATE_LOG")
        // The findings of --check-config speak the locale's language.
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_goes_to_stdout_with_status_0_and_names_every_option() {
    let out = cardgated(&["--help"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let help = text(&out.stdout);
    for option in ["--config", "--check-config", "--help", "--version"] {
        assert!(help.contains(option), "{option} missing from:\n{help}");
    }
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn version_goes_to_stdout_with_status_0() {
    let out = cardgated(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout).trim(),
        format!("cardgated {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_usage_error_is_status_2_with_claps_message_on_stderr() {
    for args in [
        &["--no-such-option"][..],
        &["--config"],
        &["--check-config"],
        &["--config", "/a", "--check-config", "/b"],
        &["stray"],
    ] {
        let out = cardgated(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.starts_with("error: ") && err.contains("--help"),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn check_config_still_checks_a_file_and_names_it() {
    let dir = std::env::temp_dir().join(format!("cardgated-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(&good, "[[terminal]]\nid = \"juki-01\"\nreader = \"R0\"\n").unwrap();
    // It parses, but what start needs is not there (issue 15: this used to be "valid"):
    // every finding is named, status 2. tests/tests/preflight.rs has each check.
    let out = cardgated(&["--check-config", good.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for finding in [
        "error: the issuer public key /etc/cardgate/issuer.pub cannot be read",
        "error: the audit log /var/lib/cardgate/audit is not initialised",
        "would not start",
    ] {
        assert!(err.contains(finding), "{finding:?} not in {err}");
    }

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[daemon]\nno_such_key = 1\n").unwrap();
    let out = cardgated(&["--check-config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("bad.toml"),
        "{}",
        text(&out.stderr)
    );

    // --config with a file that does not exist: the error names it, status 2 (before any
    // socket or log is touched).
    let missing = dir.join("missing.toml");
    let out = cardgated(&["--config", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("missing.toml"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
