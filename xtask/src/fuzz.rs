//! `cargo xtask fuzz [--long]`, and the fuzz smoke run inside `cargo xtask test`.
//!
//! The fuzzing workspace (`fuzz/`) is separate from the main one, so these commands build it
//! with `--manifest-path fuzz/Cargo.toml --target-dir fuzz/target`. Two engines run the same
//! harnesses (`fuzz/harness`):
//!
//! * the stable runner (`fuzz/stable-runner`): stable toolchain, no C++ compiler, no
//!   libFuzzer; the smoke run always uses it, so CI needs nothing beyond crates.io;
//! * cargo-fuzz (libFuzzer, coverage-guided): used by `--long` when `cargo +nightly fuzz
//!   --version` works, otherwise `--long` falls back to the stable runner.
//!
//! Seconds per target: 12 for the smoke run (8 targets, 96 s: CI's budget also carries the
//! second card's fault campaign since issue 10), 300 for `--long`; the
//! environment variable `CARDGATE_FUZZ_SECONDS` overrides either. Any finding fails the run,
//! and the input that caused it is in `fuzz/artifacts/<target>/`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const SMOKE_SECONDS: u64 = 12;
const LONG_SECONDS: u64 = 300;
/// The targets and the longest input worth trying on each (libFuzzer would otherwise cap
/// inputs at 4096 bytes, shorter than a real audit log segment). Keep in step with
/// `TARGETS` in `fuzz/harness/src/lib.rs`.
const TARGETS: [(&str, usize); 8] = [
    ("card_login", 4096),
    ("softcard_apdu", 4096),
    ("certificate", 1200),
    ("revocation_list", 4096),
    ("audit_record", 20 * 1024),
    ("audit_verify", 64 * 1024),
    ("socket_request", 8192),
    ("config", 16 * 1024),
];

fn fuzz_dir() -> PathBuf {
    crate::root().join("fuzz")
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn seconds(default: u64) -> Result<u64, String> {
    match std::env::var("CARDGATE_FUZZ_SECONDS") {
        Ok(s) => s
            .parse()
            .map_err(|_| format!("CARDGATE_FUZZ_SECONDS={s:?} is not a number of seconds")),
        Err(_) => Ok(default),
    }
}

fn status(cmd: &mut Command, shown: &str) -> Result<(), String> {
    eprintln!("\n$ {shown}");
    let st = cmd
        .current_dir(crate::root())
        .status()
        .map_err(|e| format!("could not start `{shown}`: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({st})"))
    }
}

/// Runs `cargo <sub> <args> [-- <trailing>]` on the fuzzing workspace with the current
/// (stable) toolchain.
fn fuzz_cargo(sub: &str, args: &[&str], trailing: &[&str]) -> Result<(), String> {
    let manifest = fuzz_dir().join("Cargo.toml").display().to_string();
    let target_dir = fuzz_dir().join("target").display().to_string();
    let mut full = vec![sub, "--manifest-path", &manifest];
    if sub != "fmt" {
        full.extend(["--target-dir", &target_dir]);
    }
    full.extend(args);
    if !trailing.is_empty() {
        full.push("--");
        full.extend(trailing);
    }
    let shown = format!("cargo {}", full.join(" "));
    status(Command::new(cargo()).args(&full), &shown)
}

/// Format and lint checks of the fuzzing crates that build on stable, their seed tests, and
/// the stable runner's release build.
fn build_stable() -> Result<PathBuf, String> {
    let packages = ["-p", "cardgate-fuzz-harness", "-p", "cardgate-fuzz-runner"];
    // Not `--all`: that would also check the main workspace's crates (path dependencies),
    // which the main `cargo fmt --all` already covers.
    fuzz_cargo(
        "fmt",
        &[
            "-p",
            "cardgate-fuzz",
            "-p",
            "cardgate-fuzz-harness",
            "-p",
            "cardgate-fuzz-runner",
        ],
        &["--check"],
    )?;
    let mut clippy = vec!["--release", "--all-targets"];
    clippy.extend(packages);
    fuzz_cargo("clippy", &clippy, &["-D", "warnings"])?;
    let mut release = vec!["--release"];
    release.extend(packages);
    fuzz_cargo("test", &release, &[])?;
    fuzz_cargo("build", &release, &[])?;
    Ok(fuzz_dir().join("target/release/cardgate-fuzz-runner"))
}

fn stable_campaign(seconds: u64) -> Result<(), String> {
    let runner = build_stable()?;
    let secs = seconds.to_string();
    status(
        Command::new(&runner).args(["--seconds", &secs]),
        &format!("{} --seconds {secs}", runner.display()),
    )
    .map_err(|e| format!("{e}: a fuzz target found a bug; see fuzz/artifacts/"))
}

/// A cargo on the nightly toolchain (through rustup's `+nightly`), with the variables the
/// outer (stable) cargo set removed so they do not pin the toolchain.
fn nightly_cargo() -> Command {
    let mut c = Command::new("cargo");
    c.arg("+nightly")
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTC")
        .env_remove("RUSTDOC")
        .env_remove("CARGO");
    c
}

fn cargo_fuzz_available() -> bool {
    nightly_cargo()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// libFuzzer's closing statistics in its log, e.g. `stat::number_of_executed_units: 123`.
fn final_stat(log: &Path, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .rev()
        .find_map(|l| l.strip_prefix(&format!("stat::{key}:")))
        .and_then(|v| v.trim().parse().ok())
}

fn libfuzzer_campaign(seconds: u64) -> Result<(), String> {
    let logs = fuzz_dir().join("target/logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let mut failures = Vec::new();
    let mut rows = Vec::new();
    for (target, max_len) in TARGETS {
        // The first corpus directory is where libFuzzer writes what it finds; the committed
        // seeds are read from the second and never changed.
        let work = fuzz_dir().join("target/corpus").join(target);
        std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
        let seeds = fuzz_dir().join("corpus").join(target);
        let log_path = logs.join(format!("{target}.log"));
        let log = File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let args = [
            "fuzz".to_owned(),
            "run".to_owned(),
            "--sanitizer".to_owned(),
            "none".to_owned(),
            "--debug-assertions".to_owned(),
            target.to_owned(),
            work.display().to_string(),
            seeds.display().to_string(),
            "--".to_owned(),
            format!("-max_total_time={seconds}"),
            format!("-max_len={max_len}"),
            "-print_final_stats=1".to_owned(),
            "-rss_limit_mb=2048".to_owned(),
            "-timeout=10".to_owned(),
        ];
        eprintln!(
            "\n$ cargo +nightly {}   (log: {})",
            args.join(" "),
            log_path.display()
        );
        let err_log = log
            .try_clone()
            .map_err(|e| format!("{}: {e}", log_path.display()))?;
        let st = nightly_cargo()
            .args(&args)
            .current_dir(crate::root())
            .stdout(log)
            .stderr(err_log)
            .status()
            .map_err(|e| format!("could not start cargo fuzz: {e}"))?;
        let execs = final_stat(&log_path, "number_of_executed_units");
        let rate = final_stat(&log_path, "average_exec_per_sec");
        let corpus = std::fs::read_dir(&work).map(|d| d.count()).unwrap_or(0);
        let result = if st.success() { "ok" } else { "FINDING" };
        if !st.success() {
            failures.push(target);
        }
        rows.push(format!(
            "{target:<16} {:>12} {:>9} {corpus:>7}  {result}",
            execs.map_or("?".into(), |n| n.to_string()),
            rate.map_or("?".into(), |n| n.to_string()),
        ));
    }
    println!(
        "\n{:<16} {:>12} {:>9} {:>7}  result",
        "target", "executions", "exec/s", "corpus"
    );
    for row in rows {
        println!("{row}");
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "findings in {}; inputs in fuzz/artifacts/, logs in fuzz/target/logs/",
            failures.join(", ")
        ))
    }
}

/// The fuzzing entry point.
///
/// * `long == false` (the smoke run of `cargo xtask test`): format, clippy and seed tests of
///   the fuzzing crates, then every target for 25 s through the stable runner (≈ 3.5 min).
/// * `long == true` (`cargo xtask fuzz --long`): every target for 300 s, through cargo-fuzz
///   when `cargo +nightly fuzz` is installed, otherwise through the stable runner.
///
/// `cargo xtask fuzz` without `--long` is the smoke run. Returns `Err` on any finding or
/// build failure.
pub fn run(long: bool) -> Result<(), String> {
    if !long {
        return stable_campaign(seconds(SMOKE_SECONDS)?);
    }
    let secs = seconds(LONG_SECONDS)?;
    if cargo_fuzz_available() {
        eprintln!("cargo-fuzz found: running libFuzzer, {secs} s per target");
        libfuzzer_campaign(secs)
    } else {
        eprintln!(
            "cargo +nightly fuzz is not available (install: rustup toolchain install nightly && \
             cargo install cargo-fuzz); running the stable runner, {secs} s per target"
        );
        stable_campaign(secs)
    }
}
