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
    let missing: Vec<&str> = PACKAGES.iter().copied().filter(|p| !installed(p)).collect();
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
    let status = Command::new("apt-get")
        .args(&args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(|e| format!("could not run apt-get: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{line}` failed ({status})"))
    }
}
