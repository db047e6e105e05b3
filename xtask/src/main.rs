//! `cargo xtask`: the project's commands.
//!
//! * `cargo xtask test`  — every check CI runs: format, lints, build, all tests.
//! * `cargo xtask demo`  — the story of one operator card, told step by step.
//! * `cargo xtask bench` — the benchmarks behind `docs/performance.md`.
//! * `cargo xtask deb`   — the Debian package, `target/debian/cardgate_<version>_amd64.deb`.
//!
//! Both `test` and `demo` install the Debian packages they need when run as root, and
//! otherwise print the exact `apt-get install` line and stop.
#![forbid(unsafe_code)]

mod deb;
mod demo;
mod deps;
mod fuzz;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn usage() -> ExitCode {
    eprintln!("usage: cargo xtask <test|demo|bench|fuzz|deb> [options]");
    eprintln!("  test           format, clippy, build and every test (what CI runs)");
    eprintln!("  demo           the operator-card story, step by step");
    eprintln!(
        "  bench [ARGS]   run the benchmarks behind docs/performance.md (ARGS go to cargo bench,"
    );
    eprintln!("                 e.g. -p cardgate-sessiond --bench daemon)");
    eprintln!("  fuzz [--long]  fuzz every parser (a short run; --long for a campaign)");
    eprintln!("  deb            the Debian package: target/debian/cardgate_<version>_amd64.deb,");
    eprintln!("                 checked (files, conffiles, maintainer scripts, lintian)");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("demo") => deps::ensure().and_then(|()| demo::run()),
        Some("bench") => bench(&args[1..]),
        Some("fuzz") => fuzz::run(args.iter().any(|a| a == "--long")),
        Some("deb") => deb::run(),
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (xtask lives one level below it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs a command in the workspace root, echoing it, and fails on a non-zero exit.
pub fn run(program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("\n$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(root())
        .status()
        .map_err(|e| format!("could not start {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}

/// `cargo doc --workspace --no-deps` with warnings as errors.
fn rustdoc_strict() -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let shown = "RUSTDOCFLAGS='-D warnings' cargo doc --workspace --no-deps";
    eprintln!("\n$ {shown}");
    let status = Command::new(&cargo)
        .args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings")
        .current_dir(root())
        .status()
        .map_err(|e| format!("could not start {cargo}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

fn cargo(args: &[&str]) -> Result<(), String> {
    run(
        &std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()),
        args,
    )
}

fn test(_args: &[String]) -> Result<(), String> {
    deps::ensure()?;
    cargo(&["fmt", "--all", "--", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    // The integration tests start the binaries (cardgate-sim, cardgatectl, cardgated) and
    // load the PAM module (a cdylib): build them first.
    cargo(&["build", "--workspace", "--bins", "--lib"])?;
    // nextest does not run doctests.
    cargo(&["test", "--workspace", "--doc"])?;
    // Every public item's rustdoc, with its links resolving (a broken link is an error).
    rustdoc_strict()?;
    // A short fuzzing run of every parser (the stable engine; any crash fails the run).
    fuzz::run(false)?;
    // Last, so that the run closes on the test summary. One process per test: PC/SC tests
    // each talk to their own private pcscd, and libpcsclite picks its socket once per process.
    cargo(&["nextest", "run", "--workspace", "--no-fail-fast"])
}

/// Every benchmark, or those `args` select (passed to `cargo bench`, e.g.
/// `-p cardgate-sessiond --bench daemon` for the login against its floor).
fn bench(args: &[String]) -> Result<(), String> {
    deps::ensure()?;
    // The PC/SC benchmarks start `target/release/cardgate-sim` and `cardgated`.
    cargo(&["build", "--release", "--workspace", "--bins"])?;
    let mut bench = vec!["bench"];
    if args.is_empty() {
        bench.push("--workspace");
    }
    bench.extend(args.iter().map(String::as_str));
    cargo(&bench)
}
