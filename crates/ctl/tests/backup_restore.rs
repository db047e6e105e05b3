//! `cardgatectl backup` / `restore` and k(0) handling, end to end: the real binary, real files.
//! A restore writes only the fixed set of files, only where this machine's configuration says,
//! only from a backup the issuer signed; a backup never carries a sealing key; k(0) never comes
//! from the command line.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use cardgate_audit::SealKey;
use cardgate_card::IssuerKey;

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

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// A terminal's files: configuration, issuer key, state, audit log.
struct Site {
    dir: PathBuf,
    config: PathBuf,
    k0: String,
}

impl Site {
    fn new(name: &str) -> Site {
        let dir =
            std::env::temp_dir().join(format!("cardgatectl-br-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("state")).unwrap();
        let d = dir.display();
        let config = dir.join("cardgated.toml");
        std::fs::write(
            &config,
            format!(
                "[daemon]\nlogin_socket = \"{d}/login.sock\"\nadmin_socket = \"{d}/admin.sock\"\nstate_dir = \"{d}/state\"\n\
                 [issuer]\npublic_key = \"{d}/issuer/issuer.pub\"\n[revocation]\nlist = \"{d}/state/revoked.crl\"\n\
                 [audit]\ndir = \"{d}/audit\"\n[[terminal]]\nid = \"juki-01\"\nreader = \"Virtual PCD 00 00\"\n[operators]\n\"op-0042\" = \"tanaka\"\n"
            ),
        )
        .unwrap();
        let mut site = Site {
            dir,
            config,
            k0: String::new(),
        };
        ok(site.ctl(&["issuer", "init", "--dir", &site.path("issuer")], ""));
        let init = ok(site.ctl(&["audit", "init", "--dir", &site.path("audit")], ""));
        site.k0 = init.lines().last().unwrap().trim().to_owned();
        std::fs::write(site.dir.join("state/cards.json"), b"{\"cards\":[]}\n").unwrap();
        std::fs::write(
            site.dir.join("state/revocation.accepted"),
            format!("5 {}\n", "ab".repeat(32)),
        )
        .unwrap();
        site
    }

    fn path(&self, relative: &str) -> String {
        self.dir.join(relative).to_string_lossy().into_owned()
    }

    /// `cardgatectl --config … --yes ARGS` (a restore asks first; `--yes` still prints what it
    /// does; `restore_asks_first_and_shows_its_plan` runs one without it).
    fn ctl(&self, args: &[&str], stdin: &str) -> Output {
        let mut all = vec!["--config", self.config.to_str().unwrap(), "--yes"];
        all.extend_from_slice(args);
        ctl(&all, stdin)
    }

    fn note(&self, what: &str) {
        ok(self.ctl(
            &[
                "audit",
                "note",
                "--dir",
                &self.path("audit"),
                "--kind",
                "other",
                "--text",
                what,
            ],
            "",
        ));
    }

    fn backup(&self) -> PathBuf {
        let to = self.dir.join("backups");
        std::fs::create_dir_all(&to).unwrap();
        let out = ok(self.ctl(
            &[
                "backup",
                "--to",
                to.to_str().unwrap(),
                "--issuer-dir",
                &self.path("issuer"),
            ],
            "",
        ));
        PathBuf::from(out.trim())
    }

    fn issuer(&self) -> IssuerKey {
        IssuerKey::from_pkcs8(&std::fs::read(self.dir.join("issuer/issuer.key")).unwrap()).unwrap()
    }

    /// Every line of every segment of the log.
    fn audit_text(&self) -> String {
        let mut out = String::new();
        for entry in std::fs::read_dir(self.dir.join("audit")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "jsonl") {
                out.push_str(&std::fs::read_to_string(path).unwrap());
            }
        }
        out
    }

    fn verify(&self) -> String {
        ok(self.ctl(
            &[
                "audit",
                "verify",
                "--dir",
                &self.path("audit"),
                "--key",
                "-",
            ],
            &format!("{}\n", self.k0),
        ))
    }
}

/// Signs a manifest as `backup` does (the issuer key is the access manager's; a rogue one
/// holding it is outside what a restore can stop, but even then the names stay confined).
fn sign(site: &Site, backup: &Path, manifest: &str) {
    std::fs::write(backup.join("MANIFEST.sha256"), manifest).unwrap();
    let mut message = b"cardgate-backup-manifest-v1\0".to_vec();
    message.extend_from_slice(manifest.as_bytes());
    let sig = site.issuer().sign(&message);
    std::fs::write(
        backup.join("MANIFEST.sig"),
        format!("{}\n", hex::encode(sig)),
    )
    .unwrap();
}

#[test]
fn a_crafted_manifest_writes_nothing_outside_the_configured_targets() {
    let site = Site::new("crafted");
    let outside = site.dir.join("outside");
    std::fs::create_dir_all(outside.join("sudoers.d")).unwrap();
    let evil = b"tanaka ALL=(ALL) NOPASSWD: ALL\n";
    let sudoers = outside.join("sudoers.d/evil");
    // Three ways to aim a file elsewhere: a third "target" column (what the manifest used to
    // carry), a relative path that climbs out, an absolute path.
    let crafted = [
        (
            "0099-evil".to_owned(),
            format!("{}  0099-evil  {}\n", sha256_hex(evil), sudoers.display()),
        ),
        (
            "../../outside/sudoers.d/evil".to_owned(),
            format!("{}  ../../outside/sudoers.d/evil\n", sha256_hex(evil)),
        ),
        (
            sudoers.display().to_string(),
            format!("{}  {}\n", sha256_hex(evil), sudoers.display()),
        ),
        (
            "state/../../outside/sudoers.d/evil".to_owned(),
            format!("{}  state/../../outside/sudoers.d/evil\n", sha256_hex(evil)),
        ),
    ];
    for (name, line) in crafted {
        let backup = site.dir.join("backups/crafted");
        let _ = std::fs::remove_dir_all(&backup);
        std::fs::create_dir_all(backup.join("state")).unwrap();
        std::fs::write(backup.join("0099-evil"), evil).unwrap();
        sign(&site, &backup, &line);
        let out = site.ctl(&["restore", "--from", backup.to_str().unwrap()], "");
        let all = text(&out);
        assert!(
            !sudoers.exists() && !Path::new("/outside/sudoers.d/evil").exists(),
            "{name}: the restore wrote {}: {all}",
            sudoers.display()
        );
        assert!(!out.status.success(), "{name}: {all}");
        assert!(
            all.contains(&format!("{name:?}")) || all.contains(&name),
            "{name}: the error does not name the entry: {all}"
        );
        assert!(all.contains("nothing was restored"), "{name}: {all}");
    }
}

#[test]
fn a_backup_changed_without_the_issuer_key_is_refused() {
    let site = Site::new("unsigned");
    site.note("before the backup");
    let backup = site.backup();
    // sha256sum -c still checks the backup from inside it.
    let check = Command::new("sha256sum")
        .args(["-c", "--strict", "MANIFEST.sha256"])
        .current_dir(&backup)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check));

    // The register in the backup is changed and its checksum updated; the signature is not.
    let forged = b"{\"cards\":[],\"forged\":true}\n";
    std::fs::write(backup.join("state/cards.json"), forged).unwrap();
    let manifest = std::fs::read_to_string(backup.join("MANIFEST.sha256")).unwrap();
    let manifest: String = manifest
        .lines()
        .map(|l| {
            if l.ends_with("  state/cards.json") {
                format!("{}  state/cards.json\n", sha256_hex(forged))
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(backup.join("MANIFEST.sha256"), &manifest).unwrap();
    let before = std::fs::read(site.dir.join("state/cards.json")).unwrap();
    let out = site.ctl(&["restore", "--from", backup.to_str().unwrap()], "");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("not signed by the issuer key"),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read(site.dir.join("state/cards.json")).unwrap(),
        before
    );

    // Signed by another issuer key: refused the same way.
    let other = IssuerKey::generate().unwrap();
    let mut message = b"cardgate-backup-manifest-v1\0".to_vec();
    message.extend_from_slice(manifest.as_bytes());
    std::fs::write(
        backup.join("MANIFEST.sig"),
        format!("{}\n", hex::encode(other.sign(&message))),
    )
    .unwrap();
    let out = site.ctl(&["restore", "--from", backup.to_str().unwrap()], "");
    assert!(!out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read(site.dir.join("state/cards.json")).unwrap(),
        before
    );
}

#[test]
fn rolling_back_revocation_accepted_needs_the_flag_and_is_recorded() {
    let site = Site::new("rollback");
    let backup = site.backup();
    // A newer list was accepted after the backup.
    let accepted = site.dir.join("state/revocation.accepted");
    let newer = format!("7 {}\n", "cd".repeat(32));
    std::fs::write(&accepted, &newer).unwrap();

    let out = site.ctl(&["restore", "--from", backup.to_str().unwrap()], "");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("--allow-revocation-rollback"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("from version 7 to version 5"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read_to_string(&accepted).unwrap(), newer);
    assert!(!site.audit_text().contains("rolled back"));

    let out = ok(site.ctl(
        &[
            "restore",
            "--from",
            backup.to_str().unwrap(),
            "--allow-revocation-rollback",
        ],
        "",
    ));
    assert!(out.contains("rolled back"), "{out}");
    assert!(std::fs::read_to_string(&accepted)
        .unwrap()
        .starts_with("5 "));
    let log = site.audit_text();
    let record = log
        .lines()
        .find(|l| l.contains("revocation.accepted rolled back from version 7 to version 5"))
        .unwrap_or_else(|| panic!("no record of the rollback:\n{log}"));
    assert!(record.contains("\"kind\":\"note\""), "{record}");
    assert!(log.contains("files written"), "{log}");
    assert!(site.verify().starts_with("intact"));

    // Restoring the same (not older) version needs no flag.
    ok(site.ctl(&["restore", "--from", backup.to_str().unwrap()], ""));
    // Nor does the same list in the versioned record a newer cardgated writes (the backup
    // holds it unversioned): records are compared, not bytes.
    let versioned = format!("format 1\n5 {}\n", "ab".repeat(32));
    std::fs::write(&accepted, &versioned).unwrap();
    let out = ok(site.ctl(&["restore", "--from", backup.to_str().unwrap()], ""));
    assert!(!out.contains("rolled back"), "{out}");
    // The same version with another digest is another list: the flag again.
    let other = format!("5 {}\n", "ef".repeat(32));
    std::fs::write(&accepted, &other).unwrap();
    let out = site.ctl(&["restore", "--from", backup.to_str().unwrap()], "");
    assert!(!out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&accepted).unwrap(), other);
}

#[test]
fn a_backup_carries_no_sealing_key_and_the_log_comes_back_only_with_k0() {
    let site = Site::new("nokey");
    for i in 0..4 {
        site.note(&format!("sealed before the backup {i}"));
    }
    let current = cardgate_audit::seal::read_key_file(&site.dir.join("audit"))
        .unwrap()
        .unwrap();
    let backup = site.backup();
    let k0 = SealKey::from_hex(&site.k0).unwrap();
    // No file of the backup holds a key of any epoch so far, nor the next few.
    for entry in walk(&backup) {
        let bytes = std::fs::read(&entry).unwrap();
        assert_ne!(entry.file_name().unwrap(), "seal.key");
        for epoch in 0..current.epoch + 4 {
            let hex = k0.evolve_by(epoch).to_hex();
            let mut raw = [0u8; 32];
            hex::decode_to_slice(hex.as_str(), &mut raw).unwrap();
            assert!(
                !contains(&bytes, hex.as_bytes()) && !contains(&bytes, &raw),
                "{} holds the key of epoch {epoch}",
                entry.display()
            );
        }
    }

    // The log is left alone unless asked for.
    ok(site.ctl(&["restore", "--from", backup.to_str().unwrap()], ""));
    // Into an empty directory only, with k(0) only, and checked with it.
    let out = site.ctl(
        &[
            "restore",
            "--from",
            backup.to_str().unwrap(),
            "--audit",
            "--key",
            "-",
        ],
        &format!("{}\n", site.k0),
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("already holds an audit log"),
        "{}",
        text(&out)
    );
    std::fs::rename(site.dir.join("audit"), site.dir.join("audit.lost")).unwrap();
    let wrong = SealKey::generate().unwrap();
    let out = site.ctl(
        &[
            "restore",
            "--from",
            backup.to_str().unwrap(),
            "--audit",
            "--key",
            "-",
        ],
        &format!("{}\n", wrong.to_hex().as_str()),
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("does not verify"), "{}", text(&out));
    assert!(!site.dir.join("audit/seal.key").exists());
    let out = ok(site.ctl(
        &[
            "restore",
            "--from",
            backup.to_str().unwrap(),
            "--audit",
            "--key",
            "-",
        ],
        &format!("{}\n", site.k0),
    ));
    assert!(out.contains("sealing continues at epoch"), "{out}");
    assert!(site.verify().starts_with("intact"));
    assert!(site
        .audit_text()
        .contains("audit log restored from the backup"));
}

#[test]
fn k0_on_the_command_line_is_refused_and_never_echoed() {
    let site = Site::new("argv");
    site.note("something to verify");
    let audit = site.path("audit");
    let out = site.ctl(&["audit", "verify", "--dir", &audit, "--key", &site.k0], "");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("--key -") && all.contains("--key-file"),
        "{all}"
    );
    assert!(!all.contains(&site.k0), "the error repeats the key: {all}");
    assert!(!all.to_lowercase().contains(&site.k0[..16]), "{all}");

    // From a file: only one others cannot read.
    let file = site.dir.join("k0.hex");
    std::fs::write(&file, format!("{}\n", site.k0)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = site.ctl(
        &[
            "audit",
            "verify",
            "--dir",
            &audit,
            "--key-file",
            file.to_str().unwrap(),
        ],
        "",
    );
    // Exit 4 (refused): a safety rail, not a usage error.
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("every user"), "{}", text(&out));
    assert!(!text(&out).contains(&site.k0));
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = ok(site.ctl(
        &[
            "audit",
            "verify",
            "--dir",
            &audit,
            "--key-file",
            file.to_str().unwrap(),
        ],
        "",
    ));
    assert!(out.contains("seals authenticated with k(0)"), "{out}");
    // And on stdin.
    assert!(site.verify().contains("seals authenticated with k(0)"));
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The backup's name: `cardgate-backup-YYYY-MM-DDTHHMM` in the office's zone (JST here), at
/// the minute it was made.
fn expected_names(before: time::OffsetDateTime, after: time::OffsetDateTime) -> Vec<String> {
    let jst = time::UtcOffset::from_hms(9, 0, 0).unwrap();
    let mut names = Vec::new();
    let mut t = before.to_offset(jst);
    while t <= after.to_offset(jst) + time::Duration::minutes(1) {
        names.push(format!(
            "cardgate-backup-{:04}-{:02}-{:02}T{:02}{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        ));
        t += time::Duration::minutes(1);
    }
    names
}

#[test]
fn a_backup_is_named_by_the_offices_date_and_sha256sum_checks_it() {
    let site = Site::new("named");
    site.note("before the backup");
    let before = time::OffsetDateTime::now_utc();
    let backup = site.backup();
    let after = time::OffsetDateTime::now_utc();
    let name = backup.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(
        expected_names(before, after).contains(&name),
        "{name} is not the office's date and time"
    );
    // A second backup in the same minute gets its own directory.
    let second = site.backup();
    assert_ne!(second, backup);
    assert!(second
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("cardgate-backup-"));
    // The real sha256sum, strict, from inside the backup: two columns, relative names.
    for dir in [&backup, &second] {
        let check = Command::new("sha256sum")
            .args(["-c", "--strict", "MANIFEST.sha256"])
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(check.status.success(), "{}", text(&check));
        let listed = String::from_utf8_lossy(&check.stdout).lines().count();
        assert!(listed >= 4, "{}", text(&check));
    }
    let manifest = std::fs::read_to_string(backup.join("MANIFEST.sha256")).unwrap();
    for line in manifest.lines() {
        let (hash, name) = line.split_once("  ").unwrap();
        assert_eq!(hash.len(), 64, "{line}");
        assert!(!name.starts_with('/') && !name.contains("  "), "{line}");
    }
    // --json: where and how much.
    let to = site.dir.join("backups");
    let out = ok(site.ctl(
        &[
            "--json",
            "backup",
            "--to",
            to.to_str().unwrap(),
            "--issuer-dir",
            &site.path("issuer"),
        ],
        "",
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(Path::new(v["backup"].as_str().unwrap())
        .join("MANIFEST.sig")
        .is_file());
    assert!(v["files"].as_u64().unwrap() >= 4);
}

#[test]
fn a_backup_onto_a_missing_medium_is_refused_and_creates_nothing() {
    let site = Site::new("nomedium");
    let to = site.dir.join("usb-not-mounted");
    let out = site.ctl(
        &[
            "backup",
            "--to",
            to.to_str().unwrap(),
            "--issuer-dir",
            &site.path("issuer"),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains(to.to_str().unwrap()), "{}", text(&out));
    assert!(!to.exists(), "the missing backup directory was created");
}

#[test]
fn backup_verify_checks_the_signature_and_every_file() {
    let site = Site::new("verify");
    site.note("before the backup");
    let backup = site.backup();
    let b = backup.to_str().unwrap();
    let good = ok(site.ctl(&["backup", "--verify", b], ""));
    assert!(good.contains("signature good"), "{good}");
    let json = ok(site.ctl(&["--json", "backup", "--verify", b], ""));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["intact"], true);
    assert_eq!(v["signature"], "ok");

    // One file changed: exit 6, naming it.
    let victim = backup.join("state/cards.json");
    let original = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, b"{\"cards\":[],\"changed\":true}\n").unwrap();
    let out = site.ctl(&["backup", "--verify", b], "");
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(text(&out).contains("state/cards.json"), "{}", text(&out));
    let json = site.ctl(&["--json", "backup", "--verify", b], "");
    assert_eq!(json.status.code(), Some(6));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["intact"], false);
    assert_eq!(v["problems"][0]["file"], "state/cards.json");
    std::fs::write(&victim, &original).unwrap();

    // One file gone: named too.
    let segment = std::fs::read_dir(backup.join("audit"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let kept = std::fs::read(&segment).unwrap();
    std::fs::remove_file(&segment).unwrap();
    let out = site.ctl(&["backup", "--verify", b], "");
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let gone = segment.file_name().unwrap().to_str().unwrap();
    assert!(text(&out).contains(gone), "{}", text(&out));
    std::fs::write(&segment, kept).unwrap();

    // The manifest changed to match a changed file: the signature catches it, naming it.
    std::fs::write(&victim, b"forged\n").unwrap();
    let manifest = std::fs::read_to_string(backup.join("MANIFEST.sha256")).unwrap();
    let forged: String = manifest
        .lines()
        .map(|l| {
            if l.ends_with("  state/cards.json") {
                format!("{}  state/cards.json\n", sha256_hex(b"forged\n"))
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(backup.join("MANIFEST.sha256"), forged).unwrap();
    let out = site.ctl(&["backup", "--verify", b], "");
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(text(&out).contains("MANIFEST.sig"), "{}", text(&out));
    assert!(
        text(&out).contains("not signed by the issuer key"),
        "{}",
        text(&out)
    );

    // A missing backup: not found.
    let out = site.ctl(&["backup", "--verify", &site.path("no-such-backup")], "");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
}

#[test]
fn restore_shows_its_plan_and_asks_first() {
    let site = Site::new("asks");
    site.note("before the backup");
    let backup = site.backup();
    std::fs::write(
        site.dir.join("state/cards.json"),
        b"{\"cards\":[],\"later\":1}\n",
    )
    .unwrap();
    let before = std::fs::read(site.dir.join("state/cards.json")).unwrap();
    // No --yes and no terminal to ask on (a new session has no controlling terminal).
    let out = Command::new("setsid")
        .arg("--wait")
        .arg(env!("CARGO_BIN_EXE_cardgatectl"))
        .args([
            "--config",
            site.config.to_str().unwrap(),
            "restore",
            "--from",
            backup.to_str().unwrap(),
        ])
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", "C")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let all = text(&out);
    // The plan names what goes where.
    assert!(all.contains("will write"), "{all}");
    assert!(
        all.contains(&format!(
            "state/cards.json  ->  {}",
            site.dir.join("state/cards.json").display()
        )),
        "{all}"
    );
    assert!(all.contains("--yes"), "{all}");
    assert_eq!(
        std::fs::read(site.dir.join("state/cards.json")).unwrap(),
        before,
        "the restore wrote without asking"
    );
    assert!(
        !site.audit_text().contains("restore from"),
        "a restore that did not happen was recorded"
    );
    // With --yes it goes ahead, and the plan is still printed.
    let out = site.ctl(&["restore", "--from", backup.to_str().unwrap()], "");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("will write"), "{}", text(&out));
    assert_ne!(
        std::fs::read(site.dir.join("state/cards.json")).unwrap(),
        before
    );
}

#[test]
fn restore_messages_follow_a_japanese_locale() {
    let site = Site::new("ja");
    let backup = site.backup();
    std::fs::write(backup.join("state/cards.json"), b"changed\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cardgatectl"))
        .args([
            "--config",
            site.config.to_str().unwrap(),
            "--yes",
            "restore",
            "--from",
            backup.to_str().unwrap(),
        ])
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", "ja_JP.UTF-8")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(
        text(&out).contains("何も復元していません"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("チェックサムと一致しません"),
        "{}",
        text(&out)
    );
}

/// Runs `cardgatectl ARGS` on a pseudo-terminal (`script`, util-linux), typing `answer`.
fn on_a_terminal(site: &Site, args: &[&str], answer: &str) -> Output {
    let mut line = format!(
        "{} --config {}",
        env!("CARGO_BIN_EXE_cardgatectl"),
        site.config.display()
    );
    for a in args {
        line.push(' ');
        line.push_str(a);
    }
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // The question comes after the checks: wait for it as a person would.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    input.write_all(answer.as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

#[test]
fn restore_on_a_terminal_goes_ahead_only_on_yes() {
    let site = Site::new("tty");
    let backup = site.backup();
    let b = backup.to_str().unwrap();
    let target = site.dir.join("state/cards.json");
    std::fs::write(&target, b"{\"cards\":[],\"later\":2}\n").unwrap();
    let later = std::fs::read(&target).unwrap();

    let no = on_a_terminal(&site, &["restore", "--from", b], "n\n");
    assert_eq!(no.status.code(), Some(4), "{}", text(&no));
    assert!(text(&no).contains("Go ahead?"), "{}", text(&no));
    assert!(text(&no).contains("Nothing was done"), "{}", text(&no));
    assert_eq!(std::fs::read(&target).unwrap(), later);

    let yes = on_a_terminal(&site, &["restore", "--from", b], "y\n");
    assert_eq!(yes.status.code(), Some(0), "{}", text(&yes));
    assert!(text(&yes).contains("restored"), "{}", text(&yes));
    assert_ne!(std::fs::read(&target).unwrap(), later);
}
