//! The guest's disk image: Debian 12 by `mmdebstrap`, ext4 by `mke2fs -d`, cached by hash.

use std::path::{Path, PathBuf};

/// What the guest has before the test installs anything. `--variant=apt` is Debian's
/// essential set and apt; on top of it:
/// - systemd as init, dbus and logind (`libpam-systemd`: logind sessions for `login`);
/// - `udev` (the virtio-serial port's `/dev/virtio-ports/` name, the payload disk's
///   `/dev/disk/by-id/` name) and `login`, `passwd` (a real login program and `useradd`);
/// - `pcscd` and `vsmartcard-vpcd`: the reader the software card is served into;
/// - `linux-image-cloud-amd64`: Debian's kernel for virtual machines (the virtio drivers,
///   a tenth of the generic kernel's modules, so a smaller image built faster);
/// - `python3`: the scenario, which drives `login` on a pseudo-terminal (`pty`);
/// - `procps`; and the package's runtime dependencies, so that `apt install ./cardgate_*.deb`
///   needs no network in the guest (`libpcsclite1`, `libpam-runtime`, `libpam0g`).
pub const PACKAGES: &[&str] = &[
    "systemd",
    "systemd-sysv",
    "dbus",
    "libpam-systemd",
    "udev",
    "login",
    "passwd",
    "pcscd",
    "vsmartcard-vpcd",
    "libpcsclite1",
    "libpam-runtime",
    "libpam0g",
    "linux-image-cloud-amd64",
    "python3",
    "procps",
];

/// The x11 session without a screen locker (tests/vm/guest/graphical.py): `xvfb`, the X
/// server in the session; `pamtester`: the card and PIN through the session's PAM service
/// before systemd opens the session, as a display manager does. (GNOME Shell, the locker
/// that sets logind's `LockedHint`, is not here: it locks only with GDM running, and it
/// alone tripled the image; graphical.py says what was measured.)
pub const GRAPHICAL_PACKAGES: &[&str] = &["xvfb", "pamtester"];

/// The guest's host name: the terminal ID pam_cardgate uses by default.
const HOSTNAME: &str = "juki-01";

/// The initrd loads only what finds the root disk (`MODULES=list`, instead of `most`,
/// makes `update-initramfs` quick); gzip because the image has no zstd.
const INITRAMFS_CONF: &str = "MODULES=list\nCOMPRESS=gzip\n";
const INITRAMFS_MODULES: &str = "virtio_pci\nvirtio_blk\next4\n";

/// The files of the image itself (the unit that runs the scenario), under tests/vm/image/.
const IMAGE_FILES: &[&str] = &["cardgate-guest-test.service"];

/// The ready image: `root.img`, `vmlinuz`, `initrd.img`.
pub struct Image {
    pub root: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
}

/// FNV-1a, 64 bits: a cache key, not a security measure (xtask has no dependencies).
fn fnv1a(hash: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *hash ^= u64::from(*b);
        *hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
}

/// The mmdebstrap command line's options (without the suite, target and sources).
fn mmdebstrap_options() -> Vec<String> {
    vec![
        "--variant=apt".to_owned(),
        "--format=directory".to_owned(),
        "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr".to_owned(),
        "--dpkgopt=force-unsafe-io".to_owned(),
        // No documentation in a test image (the copyright files stay).
        "--dpkgopt=path-exclude=/usr/share/doc/*".to_owned(),
        "--dpkgopt=path-include=/usr/share/doc/*/copyright".to_owned(),
        "--dpkgopt=path-exclude=/usr/share/man/*".to_owned(),
        "--dpkgopt=path-exclude=/usr/share/info/*".to_owned(),
        "--dpkgopt=path-exclude=/usr/share/locale/*".to_owned(),
        format!(
            "--setup-hook=mkdir -p \"$1/etc/initramfs-tools/conf.d\" \
             \"$1/usr/share/initramfs-tools/modules.d\" && printf '{}' > \
             \"$1/etc/initramfs-tools/conf.d/cardgate-guest.conf\" && printf '{}' > \
             \"$1/usr/share/initramfs-tools/modules.d/cardgate-guest.conf\"",
            INITRAMFS_CONF.replace('\n', "\\n"),
            INITRAMFS_MODULES.replace('\n', "\\n")
        ),
        format!("--include={}", PACKAGES.join(",")),
        format!("--include={}", GRAPHICAL_PACKAGES.join(",")),
    ]
}

/// The cached image for today's inputs, built when missing; and whether it was cached.
pub fn ensure() -> Result<(Image, bool), String> {
    let sources = crate::deps::host_sources()?;
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for option in mmdebstrap_options() {
        fnv1a(&mut hash, option.as_bytes());
    }
    for (name, text) in &sources {
        fnv1a(&mut hash, name.as_bytes());
        fnv1a(&mut hash, text.as_bytes());
    }
    let files = crate::root().join("tests/vm/image");
    for name in IMAGE_FILES {
        let path = files.join(name);
        let text =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        fnv1a(&mut hash, name.as_bytes());
        fnv1a(&mut hash, &text);
    }
    fnv1a(&mut hash, HOSTNAME.as_bytes());
    // This file is an input too: how the image is made.
    fnv1a(&mut hash, include_bytes!("image.rs"));
    let vm = crate::root().join("target/vm");
    let dir = vm.join(format!("image-{hash:016x}"));
    let image = Image {
        root: dir.join("root.img"),
        kernel: dir.join("vmlinuz"),
        initrd: dir.join("initrd.img"),
    };
    if dir.join("complete").exists() {
        eprintln!("guest image: cached in {}", dir.display());
        return Ok((image, true));
    }
    // Only one image is kept: an old one is a gigabyte of disk for nothing.
    if let Ok(entries) = std::fs::read_dir(&vm) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("image-") {
                std::fs::remove_dir_all(entry.path())
                    .map_err(|e| format!("cannot remove {}: {e}", entry.path().display()))?;
            }
        }
    }
    build(&dir, &sources)?;
    Ok((image, false))
}

fn build(dir: &Path, sources: &[(String, String)]) -> Result<(), String> {
    let tree = dir.join("root");
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let list_dir = dir.join("sources");
    std::fs::create_dir_all(&list_dir)
        .map_err(|e| format!("cannot create {}: {e}", list_dir.display()))?;
    let mut args = mmdebstrap_options();
    args.push("bookworm".into());
    args.push(tree.to_string_lossy().into_owned());
    for (name, text) in sources {
        let path = list_dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        args.push(path.to_string_lossy().into_owned());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    crate::run("mmdebstrap", &args)?;

    // The unit that runs the scenario, enabled; the host name; the initrd checked.
    let files = crate::root().join("tests/vm/image");
    let units = tree.join("etc/systemd/system");
    let wants = units.join("multi-user.target.wants");
    std::fs::create_dir_all(&wants)
        .map_err(|e| format!("cannot create {}: {e}", wants.display()))?;
    for name in IMAGE_FILES {
        let to = units.join(name);
        std::fs::copy(files.join(name), &to)
            .map_err(|e| format!("cannot copy {name} to {}: {e}", to.display()))?;
        std::os::unix::fs::symlink(format!("../{name}"), wants.join(name))
            .map_err(|e| format!("cannot enable {name}: {e}"))?;
    }
    write(&tree.join("etc/hostname"), &format!("{HOSTNAME}\n"))?;
    write(
        &tree.join("etc/hosts"),
        &format!("127.0.0.1\tlocalhost\n127.0.1.1\t{HOSTNAME}\n::1\tlocalhost ip6-localhost\n"),
    )?;
    let boot = tree.join("boot");
    let kernel = find(&boot, "vmlinuz-")?;
    let initrd = find(&boot, "initrd.img-")?;
    let listing = std::process::Command::new("chroot")
        .arg(&tree)
        .args(["lsinitramfs", &format!("/boot/{}", file_name(&initrd))])
        .output()
        .map_err(|e| format!("cannot run lsinitramfs in the image: {e}"))?;
    let listing = String::from_utf8_lossy(&listing.stdout);
    if !listing.contains("virtio_blk.ko") {
        return Err(format!(
            "the guest's initrd {} has no virtio_blk: it could not find its root disk",
            initrd.display()
        ));
    }
    std::fs::copy(&kernel, dir.join("vmlinuz"))
        .map_err(|e| format!("cannot copy {}: {e}", kernel.display()))?;
    std::fs::copy(&initrd, dir.join("initrd.img"))
        .map_err(|e| format!("cannot copy {}: {e}", initrd.display()))?;
    // 2 GiB, sparse: the system takes about 300 MB; the test writes logs and the package.
    let root = dir.join("root.img");
    crate::run(
        "mke2fs",
        &[
            "-q",
            "-t",
            "ext4",
            "-L",
            "cardgate-guest",
            "-d",
            &tree.to_string_lossy(),
            &root.to_string_lossy(),
            "2G",
        ],
    )?;
    std::fs::remove_dir_all(&tree).map_err(|e| format!("cannot remove {}: {e}", tree.display()))?;
    write(&dir.join("complete"), "")?;
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The one file in `dir` whose name starts with `prefix` (the kernel, the initrd).
fn find(dir: &Path, prefix: &str) -> Result<PathBuf, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let found: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| file_name(p).starts_with(prefix))
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(format!(
            "expected one {prefix}* in {}, found {found:?}",
            dir.display()
        )),
    }
}
