//! `cargo xtask deb`: the Debian package, `target/debian/cardgate_<version>_amd64.deb`.
//!
//! One `cargo build --release` of what is shipped (cardgated, cardgatectl, the PAM module and
//! `cardgated-man`, which renders `cardgated.8`), the man pages and completions rendered from the
//! clap definitions into `target/debian/gen`, then `debian/rules binary`: debhelper lays the
//! files out and writes Debian's usual maintainer scripts (dh_installsystemd,
//! dh_installsysusers, dh_installtmpfiles). Why debhelper and not cargo-deb: those scripts are
//! the ones every Debian service package runs (enable, try-restart on upgrade, sysusers,
//! tmpfiles, purge), debhelper is one `apt-get install` where cargo-deb would be compiled in
//! CI, and lintian knows what debhelper writes. The package is then checked: every file in
//! place, the conffile listed, the maintainer scripts doing what docs/integration.md says,
//! and lintian without an error.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The architecture the package is built for (the PAM module's multiarch directory too).
const ARCH: &str = "amd64";

/// Every file the package must ship (paths as `dpkg-deb -c` prints them, without `./`).
pub const REQUIRED_FILES: &[&str] = &[
    "usr/sbin/cardgated",
    "usr/bin/cardgatectl",
    // /lib as libpam-modules ships on bookworm (= /usr/lib/…, merged /usr).
    "lib/x86_64-linux-gnu/security/pam_cardgate.so",
    "lib/systemd/system/cardgated.service",
    "lib/systemd/system/cardgate-office-sync.service",
    "lib/systemd/system/cardgate-office-sync.timer",
    "usr/lib/sysusers.d/cardgate.conf",
    "usr/lib/tmpfiles.d/cardgate.conf",
    "usr/share/pam-configs/cardgate",
    "usr/share/pam-configs/cardgate-session",
    "etc/cardgate/cardgated.toml",
    "usr/share/man/man1/cardgatectl.1.gz",
    "usr/share/man/ja/man1/cardgatectl.1.gz",
    "usr/share/man/man8/cardgated.8.gz",
    "usr/share/man/man8/pam_cardgate.8.gz",
    "usr/share/bash-completion/completions/cardgatectl",
    "usr/share/zsh/vendor-completions/_cardgatectl",
    // The unit's Documentation= (uncompressed: dh_compress -X.md).
    "usr/share/doc/cardgate/integration.md",
    "usr/share/doc/cardgate/configuration.md",
    "usr/share/doc/cardgate/copyright",
    "usr/share/doc/cardgate/changelog.gz",
    "usr/share/doc/cardgate/examples/cardgate-screensaver",
    // Shipping the audit log over RELP: not active as installed (not in /etc/rsyslog.d).
    "usr/share/cardgate/rsyslog/cardgate-terminal.conf",
    "usr/share/cardgate/rsyslog/cardgate-collector.conf",
];

/// Every conffile (`/etc` files are conffiles by debhelper's rule).
pub const CONFFILES: &[&str] = &["/etc/cardgate/cardgated.toml"];

/// What each maintainer script must do, by the text that does it.
pub const SCRIPTS: &[(&str, &[&str])] = &[
    (
        "postinst",
        &[
            // dh_installsysusers: the groups before anything owned by them.
            "systemd-sysusers",
            // dh_installtmpfiles: /var/lib/cardgate, root:cardgate-manager 2750.
            "systemd-tmpfiles",
            // dh_installsystemd: enabled, not started on install, try-restart on upgrade.
            "deb-systemd-helper",
            "try-restart",
            "pam-auth-update --package",
        ],
    ),
    (
        "prerm",
        &[
            "pam-auth-update --package --remove cardgate cardgate-session",
            "deb-systemd-invoke stop cardgated.service",
        ],
    ),
    (
        "postrm",
        &[
            "rm -rf /etc/cardgate",
            "deb-systemd-helper purge",
            "/var/lib/cardgate/audit",
        ],
    ),
];

/// The workspace's version (the package's, checked against debian/changelog).
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The version at the top of a debian/changelog text.
pub fn changelog_version(changelog: &str) -> Option<&str> {
    let first = changelog.lines().next()?;
    let open = first.find('(')?;
    let close = first[open..].find(')')? + open;
    Some(&first[open + 1..close])
}

/// Where the package lands.
pub fn deb_path() -> PathBuf {
    crate::root()
        .join("target/debian")
        .join(format!("cardgate_{}_{ARCH}.deb", version()))
}

fn output(program: &str, args: &[&str]) -> Result<Vec<u8>, String> {
    let shown = format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .current_dir(crate::root())
        .output()
        .map_err(|e| format!("could not start {program}: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(format!(
            "`{shown}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Builds, checks and prints the package's path.
pub fn run() -> Result<(), String> {
    let deb = build()?;
    println!("{}", deb.display());
    Ok(())
}

/// Builds the package and checks it; returns its path.
pub fn build() -> Result<PathBuf, String> {
    crate::deps::ensure()?;
    let root = crate::root();
    let changelog_path = root.join("debian/changelog");
    let changelog = std::fs::read_to_string(&changelog_path)
        .map_err(|e| format!("{}: {e}", changelog_path.display()))?;
    if changelog_version(&changelog) != Some(version()) {
        return Err(format!(
            "{}: the top entry's version is {:?}, the workspace's is {}: add an entry",
            changelog_path.display(),
            changelog_version(&changelog),
            version()
        ));
    }
    crate::run("dpkg-checkbuilddeps", &[])?;
    // One release build of everything shipped; cardgated-man renders cardgated.8.
    crate::cargo(&[
        "build",
        "--release",
        "-p",
        "cardgate-sessiond",
        "-p",
        "cardgatectl",
        "-p",
        "cardgate-pam",
        "--bins",
        "--lib",
        "--features",
        "cardgate-sessiond/man-page",
    ])?;
    let release = root.join("target/release");
    let gen = root.join("target/debian/gen");
    std::fs::create_dir_all(&gen).map_err(|e| format!("{}: {e}", gen.display()))?;
    let ctl = release.join("cardgatectl");
    let ctl = ctl.to_str().ok_or("target path is not UTF-8")?;
    write(
        &gen.join("cardgatectl.1"),
        &output(ctl, &["--lang", "en", "man"])?,
    )?;
    write(
        &gen.join("cardgatectl.ja.1"),
        &output(ctl, &["--lang", "ja", "man"])?,
    )?;
    write(
        &gen.join("cardgatectl.bash"),
        &output(ctl, &["--lang", "en", "completions", "bash"])?,
    )?;
    write(
        &gen.join("_cardgatectl"),
        &output(ctl, &["--lang", "en", "completions", "zsh"])?,
    )?;
    let man = release.join("cardgated-man");
    let man = man.to_str().ok_or("target path is not UTF-8")?;
    write(&gen.join("cardgated.8"), &output(man, &[])?)?;

    let deb = deb_path();
    if deb.exists() {
        std::fs::remove_file(&deb).map_err(|e| format!("{}: {e}", deb.display()))?;
    }
    // Rules-Requires-Root: no: debhelper needs neither root nor fakeroot (dh_builddeb gives
    // every file to root:root itself).
    let rules = root.join("debian/rules");
    let rules = rules.to_str().ok_or("workspace path is not UTF-8")?;
    rules_target(rules, "clean")?;
    rules_target(rules, "binary")?;
    check(&deb)?;
    Ok(deb)
}

/// Runs `debian/rules TARGET`. Without cargo's `LD_LIBRARY_PATH` (set for `cargo xtask`
/// itself): dpkg-shlibdeps would read it as a private library directory.
fn rules_target(rules: &str, target: &str) -> Result<(), String> {
    let mut command = Command::new(rules);
    command.arg(target).env_remove("LD_LIBRARY_PATH");
    crate::run_shown(command, &format!("debian/rules {target}"))
}

/// Checks a built package: its files, conffiles and maintainer scripts, and lintian.
pub fn check(deb: &Path) -> Result<(), String> {
    let deb_s = deb.to_str().ok_or("package path is not UTF-8")?;
    let listing = String::from_utf8_lossy(&output("dpkg-deb", &["-c", deb_s])?).into_owned();
    check_files(&listing)?;
    let control = tempdir("cardgate-deb-control")?;
    let control_s = control.to_str().ok_or("temporary path is not UTF-8")?;
    let extracted = output("dpkg-deb", &["-e", deb_s, control_s]).and_then(|_| {
        let read = |name: &str| {
            std::fs::read_to_string(control.join(name))
                .map_err(|e| format!("{deb_s}: control file {name}: {e}"))
        };
        check_conffiles(&read("conffiles")?)?;
        for (script, _) in SCRIPTS {
            check_script(script, &read(script)?)?;
        }
        Ok(())
    });
    std::fs::remove_dir_all(&control).map_err(|e| format!("{}: {e}", control.display()))?;
    extracted?;
    check_payload(deb_s)?;
    lintian(deb_s)
}

/// The six entry points Linux-PAM looks up in a module.
pub const PAM_ENTRY_POINTS: [&str; 6] = [
    "pam_sm_authenticate",
    "pam_sm_setcred",
    "pam_sm_acct_mgmt",
    "pam_sm_chauthtok",
    "pam_sm_open_session",
    "pam_sm_close_session",
];

/// The shipped files work: the binaries run and say the package's version, and the PAM
/// module exports every entry point (`nm -D`, binutils comes with dpkg-dev).
fn check_payload(deb: &str) -> Result<(), String> {
    let tree = tempdir("cardgate-deb-payload")?;
    let tree_s = tree.to_str().ok_or("temporary path is not UTF-8")?;
    let checked = output("dpkg-deb", &["-x", deb, tree_s]).and_then(|_| {
        for bin in ["usr/sbin/cardgated", "usr/bin/cardgatectl"] {
            let path = tree.join(bin);
            let path = path.to_str().ok_or("temporary path is not UTF-8")?;
            let said = String::from_utf8_lossy(&output(path, &["--version"])?).into_owned();
            let name = bin.rsplit('/').next().unwrap_or(bin);
            if said.trim() != format!("{name} {}", version()) {
                return Err(format!("{bin} --version says {said:?}"));
            }
        }
        let module = tree.join("lib/x86_64-linux-gnu/security/pam_cardgate.so");
        let module = module.to_str().ok_or("temporary path is not UTF-8")?;
        let symbols =
            String::from_utf8_lossy(&output("nm", &["-D", "--defined-only", module])?).into_owned();
        check_pam_symbols(&symbols)
    });
    std::fs::remove_dir_all(&tree).map_err(|e| format!("{}: {e}", tree.display()))?;
    checked
}

/// Every entry point of [`PAM_ENTRY_POINTS`] is a defined text symbol in `nm -D` output.
pub fn check_pam_symbols(nm: &str) -> Result<(), String> {
    let defined: BTreeSet<&str> = nm
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, kind, name) = (f.next()?, f.next()?, f.next()?);
            (kind == "T").then_some(name)
        })
        .collect();
    let missing: Vec<&str> = PAM_ENTRY_POINTS
        .iter()
        .copied()
        .filter(|s| !defined.contains(s))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "pam_cardgate.so does not export {}",
            missing.join(", ")
        ))
    }
}

fn tempdir(prefix: &str) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    // dpkg-deb -e creates the directory itself.
    Ok(dir)
}

/// The paths of a `dpkg-deb -c` listing (without `./`, directories without their `/`).
pub fn listed_paths(listing: &str) -> BTreeSet<String> {
    listing
        .lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .map(|p| p.trim_start_matches("./").trim_end_matches('/').to_owned())
        .collect()
}

/// Names no shipped file may contain: the virtual OpenPGP card of the tests
/// (`tools/opcard-virt`, LGPL-3.0-only, Nitrokey's firmware on a PC) is never part of the
/// package.
pub const FORBIDDEN_NAMES: &[&str] = &["opcard"];

/// Every file of [`REQUIRED_FILES`] is in the listing, and none of [`FORBIDDEN_NAMES`].
pub fn check_files(listing: &str) -> Result<(), String> {
    let paths = listed_paths(listing);
    if let Some(path) = paths
        .iter()
        .find(|p| FORBIDDEN_NAMES.iter().any(|name| p.contains(name)))
    {
        return Err(format!("the package ships a test-only file: {path}"));
    }
    let missing: Vec<&str> = REQUIRED_FILES
        .iter()
        .copied()
        .filter(|f| !paths.contains(*f))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("the package lacks: {}", missing.join(", ")))
    }
}

/// Every conffile of [`CONFFILES`] is listed.
pub fn check_conffiles(conffiles: &str) -> Result<(), String> {
    let listed: BTreeSet<&str> = conffiles.lines().map(str::trim).collect();
    match CONFFILES.iter().find(|c| !listed.contains(*c)) {
        None => Ok(()),
        Some(c) => Err(format!("{c} is not a conffile (conffiles: {conffiles:?})")),
    }
}

/// The maintainer script `name` does everything [`SCRIPTS`] says.
pub fn check_script(name: &str, text: &str) -> Result<(), String> {
    let wanted = SCRIPTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, w)| *w)
        .ok_or_else(|| format!("no expectations for maintainer script {name}"))?;
    match wanted.iter().find(|w| !text.contains(*w)) {
        None => Ok(()),
        Some(w) => Err(format!("maintainer script {name} does not run {w:?}")),
    }
}

/// The lintian lines that are errors (`E: …`).
pub fn lintian_errors(report: &str) -> Vec<&str> {
    report.lines().filter(|l| l.starts_with("E: ")).collect()
}

fn lintian(deb: &str) -> Result<(), String> {
    eprintln!("\n$ lintian {deb}");
    let out = Command::new("lintian")
        .arg(deb)
        .current_dir(crate::root())
        .output()
        .map_err(|e| format!("could not start lintian: {e}"))?;
    let report = String::from_utf8_lossy(&out.stdout);
    eprint!("{report}{}", String::from_utf8_lossy(&out.stderr));
    let errors = lintian_errors(&report);
    // lintian exits 2 when it could not check at all; 1 on tags at or above its fail level.
    if out.status.code() == Some(2) || out.status.code().is_none() {
        return Err(format!("lintian could not check {deb} ({})", out.status));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "lintian reports {} error(s) on {deb}:\n{}",
            errors.len(),
            errors.join("\n")
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn listing(paths: &[&str]) -> String {
        paths
            .iter()
            .map(|p| format!("-rw-r--r-- root/root 1 2026-12-02 03:00 ./{p}\n"))
            .collect()
    }

    #[test]
    fn the_changelog_carries_the_workspace_version() {
        let changelog = std::fs::read_to_string(crate::root().join("debian/changelog")).unwrap();
        assert_eq!(changelog_version(&changelog), Some(version()));
    }

    #[test]
    fn a_package_with_the_virtual_openpgp_card_is_refused() {
        let mut files = REQUIRED_FILES.to_vec();
        files.push("usr/bin/opcard-virt");
        let err = check_files(&listing(&files)).unwrap_err();
        assert!(err.contains("usr/bin/opcard-virt"), "{err}");
    }

    #[test]
    fn a_package_without_one_required_file_is_refused() {
        assert!(check_files(&listing(REQUIRED_FILES)).is_ok());
        for left_out in REQUIRED_FILES {
            let rest: Vec<&str> = REQUIRED_FILES
                .iter()
                .copied()
                .filter(|f| f != left_out)
                .collect();
            let err = check_files(&listing(&rest)).unwrap_err();
            assert!(err.contains(left_out), "{err}");
        }
    }

    #[test]
    fn a_module_without_an_entry_point_is_refused() {
        let all: String = PAM_ENTRY_POINTS
            .iter()
            .map(|s| format!("0000000000012340 T {s}\n"))
            .collect();
        assert!(check_pam_symbols(&all).is_ok());
        let undefined = all.replace("T pam_sm_setcred", "U pam_sm_setcred");
        assert!(check_pam_symbols(&undefined)
            .unwrap_err()
            .contains("pam_sm_setcred"));
    }

    #[test]
    fn the_conffile_must_be_listed() {
        assert!(check_conffiles("/etc/cardgate/cardgated.toml\n").is_ok());
        assert!(check_conffiles("/etc/other\n").is_err());
        assert!(check_conffiles("").is_err());
    }

    #[test]
    fn a_maintainer_script_missing_a_step_is_refused() {
        let prerm = "pam-auth-update --package --remove cardgate cardgate-session\n";
        let err = check_script("prerm", prerm).unwrap_err();
        assert!(err.contains("deb-systemd-invoke stop"), "{err}");
    }

    #[test]
    fn the_hand_written_maintainer_scripts_do_their_part() {
        // What debhelper adds (#DEBHELPER#) is checked on the built package; what is ours
        // is checked here, on the files themselves.
        let read = |n: &str| std::fs::read_to_string(crate::root().join("debian").join(n)).unwrap();
        assert!(read("postinst").contains("pam-auth-update --package\n"));
        check_script("prerm", &read("prerm")).unwrap();
        let postrm = read("postrm");
        assert!(postrm.contains("rm -rf /etc/cardgate"));
        // The audit log is evidence: the purge never removes it.
        assert!(!postrm.contains("rm -rf /var/lib/cardgate\n"));
        assert!(!postrm.contains("rm -rf /var/lib/cardgate/audit"));
    }

    /// The real `pam-auth-update`, in a private mount namespace whose `/etc/pam.d`,
    /// `/usr/share/pam-configs` and `/var/lib/pam` are copies of the host's plus our two
    /// profiles: the host's PAM configuration is never touched. Prints each common-* file
    /// after each step, between `== step file` markers.
    const PAM_AUTH_UPDATE: &str = r#"set -eu
T=$(mktemp -d /tmp/cardgate-pam-auth-update.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir "$T/pamd" "$T/configs" "$T/varlib"
cp -a /etc/pam.d/. "$T/pamd/"
cp -a /usr/share/pam-configs/. "$T/configs/"
cp -a /var/lib/pam/. "$T/varlib/"
cp "$PROFILES"/cardgate "$PROFILES"/cardgate-session "$T/configs/"
mount --bind "$T/pamd" /etc/pam.d
mount --bind "$T/configs" /usr/share/pam-configs
mount --bind "$T/varlib" /var/lib/pam
# A user with a password, the module where PAM looks, and no cardgated (an empty /run): what
# the common-auth stack does with a password alone.
cp /etc/passwd /etc/shadow "$T/"
echo 'cgtest:x:4242:4242::/nonexistent:/usr/sbin/nologin' >> "$T/passwd"
echo "cgtest:$(openssl passwd -6 -salt cardgate s3cret-pw):20000:0:99999:7:::" >> "$T/shadow"
mount --bind "$T/passwd" /etc/passwd
mount --bind "$T/shadow" /etc/shadow
mkdir "$T/security"
cp -a /lib/x86_64-linux-gnu/security/. "$T/security/"
cp "$MODULE" "$T/security/pam_cardgate.so"
mount --bind "$T/security" /lib/x86_64-linux-gnu/security
mount -t tmpfs tmpfs /run
echo '@include common-auth' > /etc/pam.d/cardgate-common-test
password_only() {
  echo "== $1 password-only"
  if echo s3cret-pw | pamtester cardgate-common-test cgtest authenticate 2>&1; then
    echo "rc=0"
  else
    echo "rc=1"
  fi
}
show() {
  for f in auth account password session session-noninteractive; do
    echo "== $1 common-$f"; grep -v '^#' /etc/pam.d/common-$f | grep -v '^$' || true
  done
}
export DEBIAN_FRONTEND=noninteractive
pam-auth-update --package; show installed; password_only installed
pam-auth-update --enable cardgate cardgate-session; show enabled; password_only enabled
pam-auth-update --package --remove cardgate cardgate-session; show removed
"#;

    /// `step` → `file` → its module lines.
    fn pam_stacks(out: &str) -> std::collections::BTreeMap<(String, String), Vec<String>> {
        let mut map = std::collections::BTreeMap::new();
        let mut key = None;
        for line in out.lines() {
            if let Some(rest) = line.strip_prefix("== ") {
                let (step, file) = rest.split_once(' ').unwrap();
                key = Some((step.to_owned(), file.to_owned()));
                map.insert(key.clone().unwrap(), Vec::new());
            } else if let Some(k) = &key {
                map.get_mut(k).unwrap().push(line.to_owned());
            }
        }
        map
    }

    fn position(lines: &[String], module: &str) -> usize {
        lines
            .iter()
            .position(|l| l.contains(module))
            .unwrap_or_else(|| panic!("{module} not in {lines:#?}"))
    }

    #[test]
    fn pam_profiles_put_the_card_first_and_the_session_after_pam_systemd() {
        let out = Command::new("unshare")
            .args([
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                PAM_AUTH_UPDATE,
            ])
            .env("PROFILES", crate::root().join("dist/pam-configs"))
            .env(
                "MODULE",
                crate::root().join("target/debug/libpam_cardgate.so"),
            )
            .output()
            .expect("unshare");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stacks = pam_stacks(&stdout);
        // A password alone: it logs in before the profile is enabled (so the user and the
        // stack are right), and not once it is, with pam_unix never even asked.
        let installed = stacks[&("installed".to_owned(), "password-only".to_owned())].join("\n");
        assert!(installed.ends_with("rc=0"), "{installed}");
        let enabled = stacks[&("enabled".to_owned(), "password-only".to_owned())].join("\n");
        assert!(enabled.ends_with("rc=1"), "{enabled}");
        assert!(!enabled.contains("Password:"), "{enabled}");
        let get = |step: &str, file: &str| &stacks[&(step.to_owned(), format!("common-{file}"))];
        // Installed and removed: Default: no, so nobody's login changes.
        for step in ["installed", "removed"] {
            for file in [
                "auth",
                "account",
                "password",
                "session",
                "session-noninteractive",
            ] {
                assert!(
                    !get(step, file).iter().any(|l| l.contains("pam_cardgate")),
                    "{step} {file}: {:#?}",
                    get(step, file)
                );
            }
        }
        // auth: the card before the password, a refusal ends the stack, and a success jumps
        // over pam_unix and pam_deny to pam_permit.
        let auth = get("enabled", "auth");
        let card = position(auth, "pam_cardgate.so");
        assert!(card < position(auth, "pam_unix.so"), "{auth:#?}");
        assert!(auth[card].contains("default=die"), "{auth:#?}");
        let jump: usize = auth[card]
            .split("success=")
            .nth(1)
            .and_then(|r| r.split([' ', ']']).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no numeric success= jump: {}", auth[card]));
        assert!(auth[card + jump + 1].contains("pam_permit.so"), "{auth:#?}");
        // password: the PIN change, never falling through to pam_unix.
        let password = get("enabled", "password");
        let card = position(password, "pam_cardgate.so");
        assert!(card < position(password, "pam_unix.so"), "{password:#?}");
        assert!(password[card].contains("default=die"), "{password:#?}");
        // account: after pam_unix's block; skipped only for cron, atd and systemd-user.
        let account = get("enabled", "account");
        let card = position(account, "pam_cardgate.so");
        assert!(card > position(account, "pam_permit.so"), "{account:#?}");
        assert!(
            account[card - 1].contains("pam_succeed_if.so")
                && account[card - 1].contains("service in cron:atd:systemd-user")
                && account[card - 1].contains("success=1"),
            "{account:#?}"
        );
        // session: after pam_systemd (XDG_SESSION_ID), interactive sessions only.
        let session = get("enabled", "session");
        assert!(
            position(session, "pam_systemd.so") < position(session, "pam_cardgate.so"),
            "{session:#?}"
        );
        assert!(
            !get("enabled", "session-noninteractive")
                .iter()
                .any(|l| l.contains("pam_cardgate")),
            "{stdout}"
        );
    }

    #[test]
    fn the_build_packages_are_installed_by_deps() {
        // debian/control's Build-Depends (debhelper, its sysusers sequence) and lintian.
        for p in ["debhelper", "dpkg-dev", "lintian"] {
            assert!(
                crate::deps::PACKAGES.contains(&p),
                "{p} not in deps::PACKAGES"
            );
        }
    }

    #[test]
    fn only_e_lines_are_lintian_errors() {
        let report = "W: cardgate: a-warning\nE: cardgate: an-error x\nI: cardgate: info\n";
        assert_eq!(lintian_errors(report), vec!["E: cardgate: an-error x"]);
        assert!(lintian_errors("W: cardgate: only-a-warning\n").is_empty());
    }
}
