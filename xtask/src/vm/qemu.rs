//! One boot of the guest under QEMU: KVM where it runs a Debian kernel, TCG otherwise.

use super::image::Image;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long KVM gets to show the kernel's first line on the console. A KVM that cannot run
/// a stock Debian kernel (as on some nested hosts) hangs before it, without an error.
const KVM_PROBE: Duration = Duration::from_secs(20);

/// What one run of the guest gave.
pub struct Boot {
    /// `kvm` or `tcg`, and why when it is not the first choice.
    pub accel: String,
    pub elapsed: Duration,
    pub results: PathBuf,
    /// How QEMU ended: its exit status, or the timeout that killed it.
    pub ending: String,
}

fn kvm_usable() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

fn start(accel: &str, image: &Image, payload: &Path, dir: &Path) -> Result<Child, String> {
    for file in ["results.txt", "journal.txt", "console.log"] {
        let path = dir.join(file);
        if path.exists() {
            std::fs::remove_file(&path)
                .map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
        }
    }
    let p = |path: &Path| path.to_string_lossy().into_owned();
    let mut args: Vec<String> = vec![
        "-machine".into(),
        "q35".into(),
        "-accel".into(),
        // TCG: the two vCPUs on two host threads.
        (if accel == "kvm" {
            "kvm"
        } else {
            "tcg,thread=multi"
        })
        .into(),
        "-m".into(),
        "1024".into(),
        "-smp".into(),
        "2".into(),
        // No default devices (no VGA, no CD-ROM to probe), no network at all.
        "-nodefaults".into(),
        "-display".into(),
        "none".into(),
        "-nic".into(),
        "none".into(),
        "-no-reboot".into(),
        "-kernel".into(),
        p(&image.kernel),
        "-initrd".into(),
        p(&image.initrd),
        "-append".into(),
        // The root by its label: the order of the two disks' names is not fixed.
        // panic=-1 with -no-reboot: a guest kernel panic ends QEMU at once.
        "console=ttyS0 root=LABEL=cardgate-guest rw panic=-1".into(),
        // The cached image stays as built: every run writes to a throw-away overlay.
        "-drive".into(),
        format!(
            "file={},format=raw,if=none,id=root,snapshot=on",
            p(&image.root)
        ),
        "-device".into(),
        "virtio-blk-pci,drive=root,serial=cardgate-root".into(),
        "-drive".into(),
        format!(
            "file={},format=raw,if=none,id=payload,readonly=on",
            p(payload)
        ),
        "-device".into(),
        "virtio-blk-pci,drive=payload,serial=cardgate-payload".into(),
        "-device".into(),
        "virtio-serial-pci".into(),
        "-chardev".into(),
        format!("file,id=results,path={}", p(&dir.join("results.txt"))),
        "-device".into(),
        "virtserialport,chardev=results,name=cardgate.results".into(),
        "-chardev".into(),
        format!("file,id=journal,path={}", p(&dir.join("journal.txt"))),
        "-device".into(),
        "virtserialport,chardev=journal,name=cardgate.journal".into(),
        "-serial".into(),
        format!("file:{}", p(&dir.join("console.log"))),
        "-monitor".into(),
        "none".into(),
    ];
    if accel == "kvm" {
        args.extend(["-cpu".into(), "host".into()]);
    }
    let log = dir.join("qemu.log");
    let log_file =
        std::fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let err_file = log_file
        .try_clone()
        .map_err(|e| format!("cannot share {}: {e}", log.display()))?;
    eprintln!("\n$ qemu-system-x86_64 {}", args.join(" "));
    Command::new("qemu-system-x86_64")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(err_file)
        .spawn()
        .map_err(|e| format!("could not start qemu-system-x86_64: {e}"))
}

fn stop(child: &mut Child) -> Result<(), String> {
    child
        .kill()
        .map_err(|e| format!("cannot kill QEMU (pid {}): {e}", child.id()))?;
    child
        .wait()
        .map_err(|e| format!("cannot reap QEMU (pid {}): {e}", child.id()))?;
    Ok(())
}

fn console_shows_kernel(dir: &Path) -> bool {
    std::fs::read(dir.join("console.log"))
        .map(|bytes| String::from_utf8_lossy(&bytes).contains("Linux version"))
        .unwrap_or(false)
}

/// Boots the guest and waits for it to power off (or kills it after `timeout`), printing
/// each step's result as the guest reports it.
pub fn boot(image: &Image, payload: &Path, dir: &Path, timeout: Duration) -> Result<Boot, String> {
    let forced = std::env::var("CARDGATE_VM_ACCEL").ok();
    let mut accel = match forced.as_deref() {
        Some(a @ ("kvm" | "tcg")) => a.to_owned(),
        Some(other) => return Err(format!("CARDGATE_VM_ACCEL={other}: use kvm or tcg")),
        None if kvm_usable() => "kvm".to_owned(),
        None => "tcg".to_owned(),
    };
    let mut why = String::new();
    let started = Instant::now();
    let mut child = start(&accel, image, payload, dir)?;
    if accel == "kvm" && forced.is_none() {
        let probe = Instant::now();
        loop {
            if console_shows_kernel(dir) {
                break;
            }
            let exited = child
                .try_wait()
                .map_err(|e| format!("cannot wait for QEMU: {e}"))?;
            if exited.is_some() || probe.elapsed() > KVM_PROBE {
                if exited.is_none() {
                    stop(&mut child)?;
                }
                why = format!(
                    " (KVM did not start the guest's kernel within {} s)",
                    KVM_PROBE.as_secs()
                );
                eprintln!("guest: KVM{why}; software emulation instead");
                accel = "tcg".into();
                child = start(&accel, image, payload, dir)?;
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    let run_started = Instant::now();
    let results = dir.join("results.txt");
    let mut shown = 0usize;
    let ending = loop {
        let exited = child
            .try_wait()
            .map_err(|e| format!("cannot wait for QEMU: {e}"))?;
        shown = show_progress(&results, shown, run_started);
        if let Some(status) = exited {
            break format!("QEMU exited ({status})");
        }
        if run_started.elapsed() > timeout {
            stop(&mut child)?;
            show_progress(&results, shown, run_started);
            break format!("QEMU killed after {} s", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    eprintln!(
        "guest: {ending}, {:.1} s",
        run_started.elapsed().as_secs_f64()
    );
    Ok(Boot {
        accel: format!("{accel}{why}"),
        elapsed: started.elapsed(),
        results,
        ending,
    })
}

/// Prints the step lines the guest wrote since `shown` of them; returns the new count.
fn show_progress(results: &Path, shown: usize, started: Instant) -> usize {
    let Ok(text) = std::fs::read_to_string(results) else {
        return shown;
    };
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("step\t")).collect();
    for line in lines.iter().skip(shown) {
        let fields: Vec<&str> = line.splitn(5, '\t').collect();
        if fields.len() >= 4 {
            eprintln!(
                "guest: {:>6.1} s  {:<4}  {}",
                started.elapsed().as_secs_f64(),
                fields[2],
                fields[1]
            );
        }
    }
    lines.len().max(shown)
}
