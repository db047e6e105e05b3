//! Forward sealing must hold on the disk, not only in memory: after several epochs on a real
//! ext4 file system (a loop device, the file system the docs recommend), the raw block device
//! holds no key of an earlier epoch, in any form, anywhere (free blocks included). Runs the
//! real `cardgatectl`. Needs root (CI is root) for `losetup` and `mount`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use cardgate_audit::SealKey;
use cardgate_tests::paths;

/// Runs a command, failing the test with its output when it fails.
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ctl(args: &[&str], stdin: &str) -> Output {
    let bin = paths::workspace_artifact("cardgatectl", "cardgatectl").unwrap();
    let mut child = Command::new(bin)
        // No daemon configuration: the log is opened directly.
        .arg("--config")
        .arg("/nonexistent/cardgated.toml")
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

fn ctl_ok(args: &[&str], stdin: &str) -> String {
    let out = ctl(args, stdin);
    assert!(
        out.status.success(),
        "cardgatectl {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An ext4 image on a loop device, mounted; unmounted and detached on drop, pass or fail.
struct Ext4Loop {
    image: PathBuf,
    device: String,
    mount: PathBuf,
    mounted: bool,
    attached: bool,
}

impl Ext4Loop {
    fn new(dir: &Path) -> Ext4Loop {
        let image = dir.join("audit.ext4");
        let mount = dir.join("mnt");
        std::fs::create_dir_all(&mount).unwrap();
        let file = std::fs::File::create(&image).unwrap();
        file.set_len(32 << 20).unwrap();
        drop(file);
        // Default options: data=ordered, no inline_data; what an installation gets.
        run("mkfs.ext4", &["-q", "-F", image.to_str().unwrap()]);
        let device = run("losetup", &["--find", "--show", image.to_str().unwrap()])
            .trim()
            .to_owned();
        let mut this = Ext4Loop {
            image,
            device,
            mount,
            mounted: false,
            attached: true,
        };
        run(
            "mount",
            &["-t", "ext4", &this.device, this.mount.to_str().unwrap()],
        );
        this.mounted = true;
        this
    }

    /// Unmounts and detaches, then returns the raw bytes of the whole device.
    fn finish(&mut self) -> Vec<u8> {
        self.release();
        std::fs::read(&self.image).unwrap()
    }

    fn release(&mut self) {
        if self.mounted {
            run("umount", &[self.mount.to_str().unwrap()]);
            self.mounted = false;
        }
        if self.attached {
            run("losetup", &["-d", &self.device]);
            self.attached = false;
        }
    }
}

impl Drop for Ext4Loop {
    fn drop(&mut self) {
        // Clean up even when the test failed. A failure here must not hide the test's own
        // panic, so it is reported, not raised.
        let report = |what: String, ok: bool| {
            if !ok {
                eprintln!("seal_erasure cleanup: {what} failed; clean up by hand");
            }
        };
        let quiet = |cmd: &mut Command| cmd.status().is_ok_and(|s| s.success());
        if self.mounted {
            let ok = quiet(Command::new("umount").arg("-l").arg(&self.mount));
            report(format!("umount {}", self.mount.display()), ok);
        }
        if self.attached {
            let ok = quiet(Command::new("losetup").arg("-d").arg(&self.device));
            report(format!("losetup -d {}", self.device), ok);
        }
        if let Some(dir) = self.image.parent() {
            let ok = std::fs::remove_dir_all(dir).is_ok();
            report(format!("removing {}", dir.display()), ok);
        }
    }
}

/// The raw image, searchable with std's (always optimised) substring search: as lossy text
/// for the hex forms, and hex-encoded for the raw bytes.
struct Image {
    text: String,
    hex: String,
}

impl Image {
    fn new(raw: &[u8]) -> Image {
        Image {
            text: String::from_utf8_lossy(raw).into_owned(),
            hex: hex::encode(raw),
        }
    }

    /// Whether `key` is on the device raw, in lower-case hex or in upper-case hex.
    fn holds(&self, key: &SealKey) -> bool {
        let hex = key.to_hex();
        // The raw key's bytes at any byte offset of the image are its hex at an even offset of
        // the image's hex; an odd-offset match would only make the test fail, never pass.
        self.text.contains(hex.as_str())
            || self.text.contains(&hex.to_uppercase())
            || self.hex.contains(hex.as_str())
    }
}

#[test]
fn no_earlier_epoch_key_survives_on_an_ext4_block_device() {
    let dir = std::env::temp_dir().join(format!("cardgate-seal-erasure-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut fs = Ext4Loop::new(&dir);
    let audit = fs.mount.join("audit");
    let audit = audit.to_str().unwrap();

    let init = ctl_ok(&["audit", "init", "--dir", audit], "");
    let k0_hex = init.lines().last().unwrap().trim().to_owned();
    let k0 = SealKey::from_hex(&k0_hex).unwrap();
    // Each note opens the log, appends, and seals on close: one epoch each.
    const NOTES: u64 = 6;
    for i in 0..NOTES {
        ctl_ok(
            &[
                "audit",
                "note",
                "--dir",
                audit,
                "--kind",
                "other",
                "--text",
                &format!("epoch test {i}"),
            ],
            "",
        );
    }
    let verified = ctl_ok(
        &["audit", "verify", "--dir", audit, "--key", "-"],
        &format!("{k0_hex}\n"),
    );
    assert!(verified.starts_with("intact"), "{verified}");
    let current = cardgate_audit::seal::read_key_file(Path::new(audit))
        .unwrap()
        .unwrap();
    // init leaves epoch 1, each note's seal one more.
    assert_eq!(current.epoch, NOTES + 1);
    assert!(current.key.ct_eq(&k0.evolve_by(current.epoch)));

    let image = Image::new(&fs.finish());
    // The scan can see a key: the current one is on the device, as it must be.
    assert!(
        image.holds(&current.key),
        "the current key is not on the device: the scan would find nothing"
    );
    let mut found = Vec::new();
    for epoch in 0..current.epoch {
        let key = k0.evolve_by(epoch);
        if image.holds(&key) {
            found.push(epoch);
        }
    }
    assert!(
        found.is_empty(),
        "the raw ext4 device still holds the keys of epochs {found:?} (current {}): whoever reads the disk can re-seal those epochs",
        current.epoch
    );
}
