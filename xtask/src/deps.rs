//! The Debian packages the tests and the demo need, installed when missing.

use std::process::Command;

/// What the real stack needs: pcscd with vsmartcard's vpcd reader driver, the PC/SC
/// development library (the `pcsc` crate links it), OpenSC's `opensc-tool` as an outside
/// PC/SC peer, vsmartcard's Python card for the side-by-side benchmark, Linux-PAM and
/// `pamtester` for the login tests, the namespace tools for the private pcscd, and
/// `mkfs.ext4` (e2fsprogs) with `losetup`, `mount` and `umount` (Debian's `mount`, built from
/// util-linux) for the tests that check erasure on a real ext4 block device, and libfaketime
/// (`faketime`) for the scripted days and month of the review's tests (`cardgated` and
/// `cardgatectl` on a shifted wall clock), and headless Chromium with a Japanese font (IPA
/// Gothic, the font of Japan's Information-technology Promotion Agency) to render the HTML
/// review to PNG in `tests/tests/review_html.rs` (the screenshot in docs/audit.md), and
/// debhelper, dpkg-dev and lintian for `cargo xtask deb` (the Debian package, built and
/// checked).
pub const PACKAGES: &[&str] = &[
    "pcscd",
    "vsmartcard-vpcd",
    "vsmartcard-vpicc",
    "python3-pycryptodome",
    "libpcsclite-dev",
    "opensc",
    "pamtester",
    "libpam0g-dev",
    "pkg-config",
    // cargo xtask deb: debian/rules binary and its checks.
    "debhelper",
    "dpkg-dev",
    "lintian",
    "iproute2",
    "util-linux",
    "procps",
    "e2fsprogs",
    "mount",
    "faketime",
    "chromium",
    "fonts-ipafont-gothic",
    // tests/tests/unit_sandbox.rs: the daemon's system calls (strace) against the unit's
    // filter as systemd defines its groups (systemd-analyze syscall-filter).
    "strace",
    "systemd",
    // tests/tests/nss_users.rs: users and groups that only a name-service module knows.
    "libnss-extrausers",
    // tools/opcard-virt: littlefs2-sys (trussed's file system) runs bindgen, which needs
    // libclang.
    "libclang-dev",
    // tests/tests/openpgp_virt.rs: gpg --card-status reads the virtual OpenPGP card.
    "gnupg",
    "scdaemon",
    // tests/src/site.rs: the collector (imrelp) and each terminal's rsyslogd (imfile,
    // omrelp) run the rsyslog configuration the package ships; `ss` (iproute2) sees imrelp
    // listen.
    "rsyslog",
    "rsyslog-relp",
    // tests/tests/site_tls.rs: the test CA and certificates for RELP over TLS.
    "openssl",
    // tests/tests/office_sync.rs: terminals pull the office's state with rsync over a real
    // sshd on a private port (cardgatectl office pull).
    "openssh-server",
    "openssh-client",
    "rsync",
];

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Installs missing packages as root; otherwise prints the command and fails.
pub fn ensure() -> Result<(), String> {
    install_missing(PACKAGES)
}

/// What the booted-guest test (`cargo xtask vm`) needs on the host, from the host's own
/// Debian 12 sources: `mmdebstrap` to build the guest's root file system from Debian's
/// packages, `mke2fs` (e2fsprogs) to turn it into a disk image without a loop mount.
pub const VM_PACKAGES: &[&str] = &["mmdebstrap", "e2fsprogs"];

/// QEMU comes from bookworm-backports: the host's `qemu-utils` may already be the
/// backports build (10.x), which bookworm's own `qemu-system-x86` (7.2) conflicts with.
pub const VM_BACKPORTS_PACKAGES: &[&str] = &["qemu-system-x86"];

/// [`ensure`], then [`VM_PACKAGES`] and [`VM_BACKPORTS_PACKAGES`], the latter through a
/// private apt source list under `target/vm/apt/` (the host's suites plus
/// bookworm-backports on the same mirror): the host's apt configuration stays as it is.
pub fn ensure_vm() -> Result<(), String> {
    ensure()?;
    install_missing(VM_PACKAGES)?;
    let missing: Vec<&str> = VM_BACKPORTS_PACKAGES
        .iter()
        .copied()
        .filter(|p| !installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        return Err(format!(
            "missing Debian packages from bookworm-backports: {}; run `cargo xtask vm` as root",
            missing.join(" ")
        ));
    }
    let dir = crate::root().join("target/vm/apt");
    let parts = dir.join("sources.list.d");
    let lists = dir.join("lists");
    std::fs::create_dir_all(lists.join("partial"))
        .map_err(|e| format!("cannot create {}: {e}", lists.display()))?;
    if parts.exists() {
        std::fs::remove_dir_all(&parts)
            .map_err(|e| format!("cannot remove {}: {e}", parts.display()))?;
    }
    std::fs::create_dir_all(&parts)
        .map_err(|e| format!("cannot create {}: {e}", parts.display()))?;
    let host = host_sources()?;
    for (i, (name, text)) in host.iter().enumerate() {
        let copy = parts.join(format!("{i:02}-{name}"));
        std::fs::write(&copy, text).map_err(|e| format!("cannot write {}: {e}", copy.display()))?;
    }
    let (name, text) = backports_sources(&host)?;
    let file = parts.join(name);
    std::fs::write(&file, text).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    let options = [
        "-o".to_owned(),
        "Dir::Etc::SourceList=/dev/null".to_owned(),
        "-o".to_owned(),
        format!("Dir::Etc::SourceParts={}", parts.display()),
        "-o".to_owned(),
        format!("Dir::State::Lists={}", lists.display()),
    ];
    let mut update: Vec<&str> = options.iter().map(String::as_str).collect();
    update.extend(["update", "-qq"]);
    crate::run("apt-get", &update)?;
    let mut install: Vec<&str> = options.iter().map(String::as_str).collect();
    install.extend([
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
        "-t",
        "bookworm-backports",
    ]);
    install.extend(missing.iter().copied());
    eprintln!("\n$ apt-get {}", install.join(" "));
    apt_get_install(&install).map_err(|status| {
        format!(
            "installing {} from bookworm-backports failed ({status})",
            missing.join(" ")
        )
    })
}

/// The host's apt source files that name Debian 12 (`bookworm`), as (file name, text): the
/// guest is built from the same mirror the host uses, and no mirror is named here.
pub fn host_sources() -> Result<Vec<(String, String)>, String> {
    let mut files = vec![std::path::PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<_> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        files.extend(more);
    }
    let mut found = Vec::new();
    for file in files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !(name.ends_with(".list") || name.ends_with(".sources")) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        if text.split_whitespace().any(|w| w == "bookworm") {
            found.push((name, text));
        }
    }
    if found.is_empty() {
        return Err(
            "no apt source in /etc/apt/sources.list{,.d} names bookworm (Debian 12): \
             the booted-guest test builds its guest from the host's Debian mirror"
                .into(),
        );
    }
    Ok(found)
}

/// A source list for bookworm-backports on the mirror of the host's `bookworm` entry
/// (deb822 or one-line, keeping its signing key).
fn backports_sources(host: &[(String, String)]) -> Result<(String, String), String> {
    for (name, text) in host {
        if name.ends_with(".sources") {
            for stanza in text.split("\n\n") {
                let field = |key: &str| {
                    stanza.lines().find_map(|l| {
                        l.strip_prefix(key)
                            .and_then(|rest| rest.strip_prefix(':'))
                            .map(|v| v.trim().to_owned())
                    })
                };
                let suites = field("Suites").unwrap_or_default();
                if !suites.split_whitespace().any(|s| s == "bookworm") {
                    continue;
                }
                let (Some(uris), Some(components)) = (field("URIs"), field("Components")) else {
                    continue;
                };
                let mut out = format!(
                    "Types: deb\nURIs: {uris}\nSuites: bookworm-backports\nComponents: {components}\n"
                );
                if let Some(key) = field("Signed-By") {
                    out.push_str(&format!("Signed-By: {key}\n"));
                }
                return Ok(("zz-backports.sources".into(), out));
            }
        } else {
            for line in text.lines() {
                let words: Vec<&str> = line.split_whitespace().collect();
                if words.first() != Some(&"deb") {
                    continue;
                }
                if let Some(at) = words.iter().position(|w| *w == "bookworm") {
                    let mut out = words.clone();
                    out[at] = "bookworm-backports";
                    return Ok(("zz-backports.list".into(), out.join(" ") + "\n"));
                }
            }
        }
    }
    Err("no `bookworm` entry in the host's apt sources to add bookworm-backports beside".into())
}

fn install_missing(packages: &[&str]) -> Result<(), String> {
    let missing: Vec<&str> = packages.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let line = format!("apt-get install -y {}", missing.join(" "));
    if !is_root() {
        return Err(format!(
            "missing Debian packages; as root run:\n    apt-get update && {line}"
        ));
    }
    eprintln!("installing missing Debian packages: {}", missing.join(" "));
    crate::run("apt-get", &["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(missing.iter().copied());
    apt_get_install(&args).map_err(|status| format!("`{line}` failed ({status})"))
}

/// `apt-get ARGS` without questions; `Err` carries the exit status, or why it did not run.
fn apt_get_install(args: &[&str]) -> Result<(), String> {
    let status = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(|e| format!("could not run apt-get: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(status.to_string())
    }
}
