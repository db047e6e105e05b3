//! `cargo xtask vm`: the end-to-end test on a real Debian 12 system booted with systemd.
//!
//! 1. The image (`image`): a Debian 12 root file system built by `mmdebstrap` from Debian's
//!    packages on the host's own mirror, made into an ext4 disk image with `mke2fs -d` (no
//!    loop mount), with its kernel and initrd beside it; cached under `target/vm/image-HASH/`
//!    by a hash of everything that goes into it.
//! 2. The payload: a second, read-only disk carrying the freshly built `cardgate_*.deb`
//!    (`cargo xtask deb`, `crate::deb::build`), the software card `cardgate-sim` (a test tool, not in the package)
//!    and the scenario (`tests/vm/guest/scenario.py`).
//! 3. The boot (`qemu`): QEMU with KVM where it runs a Debian kernel, software emulation
//!    (TCG) otherwise, no network (`-nic none`), the root disk as a throw-away snapshot. In
//!    the guest, `cardgate-guest-test.service` runs the scenario once the system is up; its
//!    results come back over a virtio-serial port into `target/vm/run/results.txt`, one
//!    line per step, and the guest powers off. A host-side timeout kills a guest that hangs.
//!
//! The test fails naming every failed step, with the guest's evidence.

mod image;
mod qemu;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The host-side limit on one guest run (boot, scenario, power-off), unless
/// `CARDGATE_VM_TIMEOUT` (seconds) says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Where each run's files go: the payload, the consoles, the results.
fn run_dir() -> PathBuf {
    crate::root().join("target/vm/run")
}

/// Builds what the guest needs, boots it, reads its results; fails naming the failed steps.
pub fn run() -> Result<(), String> {
    let started = Instant::now();
    crate::deps::ensure_vm()?;
    let mut timings: Vec<(String, Duration)> = Vec::new();

    let t = Instant::now();
    let deb = build_deb()?;
    timings.push(("package (cargo xtask deb)".into(), t.elapsed()));

    let t = Instant::now();
    let sim = build_sim()?;
    timings.push(("software card".into(), t.elapsed()));

    let t = Instant::now();
    let (image, cached) = image::ensure()?;
    timings.push((
        format!(
            "guest image ({})",
            if cached {
                "cached"
            } else {
                "built by mmdebstrap"
            }
        ),
        t.elapsed(),
    ));

    let t = Instant::now();
    let dir = run_dir();
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let payload = make_payload(&dir, &deb, &sim)?;
    timings.push(("payload disk".into(), t.elapsed()));

    let timeout = match std::env::var("CARDGATE_VM_TIMEOUT") {
        Ok(v) => Duration::from_secs(
            v.parse()
                .map_err(|_| format!("CARDGATE_VM_TIMEOUT={v} is not a number of seconds"))?,
        ),
        Err(_) => DEFAULT_TIMEOUT,
    };
    let boot = qemu::boot(&image, &payload, &dir, timeout)?;
    timings.push((format!("guest run ({})", boot.accel), boot.elapsed));

    let text = std::fs::read_to_string(&boot.results).map_err(|e| {
        format!(
            "cannot read the guest's results {}: {e}",
            boot.results.display()
        )
    })?;
    let outcome = parse_results(&text);
    print_report(&outcome, &timings, started.elapsed(), &dir);
    verdict(&outcome, &boot, &dir)
}

/// The package as `cargo xtask deb` builds (and checks) it; `CARDGATE_VM_DEB=PATH` takes a
/// package already built instead.
fn build_deb() -> Result<PathBuf, String> {
    if let Ok(path) = std::env::var("CARDGATE_VM_DEB") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("CARDGATE_VM_DEB={} is not a file", path.display()))
        };
    }
    crate::deb::build().map_err(|e| format!("the booted-guest test installs the package: {e}"))
}

/// `cardgate-sim`, built in release like the package's binaries; `CARDGATE_VM_SIM=PATH`
/// takes one already built instead.
fn build_sim() -> Result<PathBuf, String> {
    if let Ok(path) = std::env::var("CARDGATE_VM_SIM") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("CARDGATE_VM_SIM={} is not a file", path.display()))
        };
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    crate::run(&cargo, &["build", "--release", "-p", "cardgate-sim"])?;
    Ok(crate::root().join("target/release/cardgate-sim"))
}

/// The payload disk: an ext4 image (made without a loop mount) holding the package, the
/// software card and the scenario.
fn make_payload(dir: &Path, deb: &Path, sim: &Path) -> Result<PathBuf, String> {
    let content = dir.join("payload");
    std::fs::create_dir_all(&content)
        .map_err(|e| format!("cannot create {}: {e}", content.display()))?;
    let scenario = crate::root().join("tests/vm/guest/scenario.py");
    let graphical = crate::root().join("tests/vm/guest/graphical.py");
    let deb_name = deb
        .file_name()
        .ok_or_else(|| format!("{} has no file name", deb.display()))?;
    let mut size = 0u64;
    for (from, to) in [
        (deb, content.join(deb_name)),
        (sim, content.join("cardgate-sim")),
        (scenario.as_path(), content.join("scenario.py")),
        (graphical.as_path(), content.join("graphical.py")),
    ] {
        size += std::fs::copy(from, &to)
            .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))?;
    }
    let image = dir.join("payload.img");
    let megabytes = size / (1 << 20) * 2 + 32;
    crate::run(
        "mke2fs",
        &[
            "-q",
            "-t",
            "ext4",
            "-L",
            "cardgate-payload",
            "-d",
            &content.to_string_lossy(),
            &image.to_string_lossy(),
            &format!("{megabytes}M"),
        ],
    )?;
    Ok(image)
}

/// One step as the guest reported it.
#[derive(Debug, PartialEq)]
struct Step {
    name: String,
    passed: bool,
    millis: u64,
    evidence: String,
}

/// Everything the guest wrote: its steps and, if it got there, its closing line.
#[derive(Debug, Default, PartialEq)]
struct Outcome {
    steps: Vec<Step>,
    end: Option<String>,
    /// Lines that are neither: a guest that wrote something else is named, not ignored.
    garbled: Vec<String>,
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn parse_results(text: &str) -> Outcome {
    let mut outcome = Outcome::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.splitn(5, '\t').collect();
        match fields.as_slice() {
            ["step", name, verdict @ ("pass" | "fail"), millis, evidence] => {
                outcome.steps.push(Step {
                    name: (*name).to_owned(),
                    passed: *verdict == "pass",
                    millis: millis.parse().unwrap_or(0),
                    evidence: unescape(evidence),
                })
            }
            ["end", summary, ..] => outcome.end = Some((*summary).to_owned()),
            _ => outcome.garbled.push(line.to_owned()),
        }
    }
    outcome
}

fn print_report(outcome: &Outcome, timings: &[(String, Duration)], total: Duration, dir: &Path) {
    eprintln!("\nbooted-guest test: steps in the guest");
    for step in &outcome.steps {
        eprintln!(
            "  {}  {:<20} {:>7.1} s",
            if step.passed { "pass" } else { "FAIL" },
            step.name,
            step.millis as f64 / 1000.0
        );
        if !step.passed {
            for line in step.evidence.lines().take(80) {
                eprintln!("          | {line}");
            }
        }
    }
    eprintln!("\nbooted-guest test: where the time went");
    for (what, took) in timings {
        eprintln!("  {:<36} {:>7.1} s", what, took.as_secs_f64());
    }
    eprintln!("  {:<36} {:>7.1} s", "total", total.as_secs_f64());
    eprintln!(
        "\nlogs: {0}/console.log (the guest's serial console), {0}/journal.txt (its journal), \
         {0}/results.txt",
        dir.display()
    );
}

fn verdict(outcome: &Outcome, boot: &qemu::Boot, dir: &Path) -> Result<(), String> {
    let failed: Vec<&str> = outcome
        .steps
        .iter()
        .filter(|s| !s.passed)
        .map(|s| s.name.as_str())
        .collect();
    let passed = outcome.steps.len() - failed.len();
    eprintln!("guest: {passed} passed, {} failed", failed.len());
    if !outcome.garbled.is_empty() {
        return Err(format!(
            "the guest wrote lines that are not results: {:?}",
            outcome.garbled
        ));
    }
    if !failed.is_empty() {
        return Err(format!(
            "booted-guest test: failed step(s): {}",
            failed.join(", ")
        ));
    }
    match &outcome.end {
        Some(_) if !outcome.steps.is_empty() => Ok(()),
        _ => Err(format!(
            "booted-guest test: the guest stopped before its last step ({}; last step: {}); \
             see {}/console.log{}",
            boot.ending,
            outcome
                .steps
                .last()
                .map(|s| s.name.as_str())
                .unwrap_or("none"),
            dir.display(),
            std::fs::read_to_string(dir.join("qemu.log"))
                .map(|log| format!("\nqemu.log:\n{log}"))
                .unwrap_or_default()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_parsed_with_their_evidence() {
        let text = "step\tboot\tpass\t1200\tstate running\n\
                    step\tstart\tfail\t300\tstatus=31/SYS\\n\\tkilled\n\
                    end\t1 passed, 1 failed\t1500\n";
        let outcome = parse_results(text);
        assert_eq!(outcome.steps.len(), 2);
        assert!(outcome.steps[0].passed);
        assert_eq!(outcome.steps[1].name, "start");
        assert!(!outcome.steps[1].passed);
        assert_eq!(outcome.steps[1].evidence, "status=31/SYS\n\tkilled");
        assert_eq!(outcome.end.as_deref(), Some("1 passed, 1 failed"));
        assert!(outcome.garbled.is_empty());
    }

    #[test]
    fn a_line_that_is_no_result_is_kept_as_garbled() {
        let outcome = parse_results("step\tboot\tmaybe\t1\tx\nhello\n");
        assert!(outcome.steps.is_empty());
        assert_eq!(outcome.garbled.len(), 2);
    }
}
