//! `cargo xtask`: the project's commands.
//!
//! * `cargo xtask test`  — every check CI runs: format, lints, build, all tests.
//! * `cargo xtask demo`  — the story of one operator card, told step by step.
//! * `cargo xtask bench` — the benchmarks behind `docs/performance.md`.
//! * `cargo xtask vm`    — the end-to-end test in a booted Debian 12 guest (also in `test`).
//! * `cargo xtask deb`   — the Debian package, `target/debian/cardgate_<version>_amd64.deb`.
//!
//! Both `test` and `demo` install the Debian packages they need when run as root, and
//! otherwise print the exact `apt-get install` line and stop.
#![forbid(unsafe_code)]

mod deb;
mod demo;
mod deps;
mod fuzz;
mod vm;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn usage() -> ExitCode {
    eprintln!("usage: cargo xtask <test|demo|bench|fuzz|deb|vm> [options]");
    eprintln!("  test           format, clippy, build and every test (what CI runs)");
    eprintln!("  demo           the operator-card story, step by step");
    eprintln!(
        "  bench [ARGS]   run the benchmarks behind docs/performance.md (ARGS go to cargo bench,"
    );
    eprintln!("                 e.g. -p cardgate-sessiond --bench daemon)");
    eprintln!("  fuzz [--long]  fuzz every parser (a short run; --long for a campaign)");
    eprintln!("  deb            the Debian package: target/debian/cardgate_<version>_amd64.deb,");
    eprintln!("                 checked (files, conffiles, maintainer scripts, lintian)");
    eprintln!("  vm             the end-to-end test in a booted Debian 12 guest (QEMU)");
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
        Some("vm") => vm::run(),
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
    let mut command = Command::new(program);
    command.args(args);
    run_shown(command, &format!("{program} {}", args.join(" ")))
}

/// Runs `command` (its environment set by the caller) in the workspace root, echoing it as
/// `shown`, and fails on a non-zero exit: the one runner behind [`run`], the strict rustdoc
/// and `debian/rules`.
pub fn run_shown(mut command: Command, shown: &str) -> Result<(), String> {
    eprintln!("\n$ {shown}");
    let status = command
        .current_dir(root())
        .status()
        .map_err(|e| format!("could not start `{shown}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

/// `cargo doc --workspace --no-deps` with warnings as errors.
fn rustdoc_strict() -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(&cargo);
    command
        .args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings");
    run_shown(
        command,
        "RUSTDOCFLAGS='-D warnings' cargo doc --workspace --no-deps",
    )
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
    // The virtual OpenPGP card the OpenPGP tests put into a vpcd slot (its own workspace).
    opcard_virt()?;
    // nextest does not run doctests.
    cargo(&["test", "--workspace", "--doc"])?;
    // Every public item's rustdoc, with its links resolving (a broken link is an error).
    rustdoc_strict()?;
    // A short fuzzing run of every parser (the stable engine; any crash fails the run).
    fuzz::run(false)?;
    // The end-to-end test on a real booted Debian 12: the package installed with apt, the
    // shipped unit under systemd, login through PAM, logind's sessions (docs/testing.md).
    // Before nextest, so that the run still closes on nextest's summary line.
    vm::run()?;
    // Last, so that the run closes on the test summary. One process per test: PC/SC tests
    // each talk to their own private pcscd, and libpcsclite picks its socket once per process.
    cargo(&["nextest", "run", "--workspace", "--no-fail-fast"])
}

/// `tools/opcard-virt`, the virtual OpenPGP card (Nitrokey's opcard, LGPL-3.0-only): its
/// own workspace and `Cargo.lock`, outside cardgate's (`exclude` in the root manifest), so
/// neither `--workspace` above nor any release artefact or package ever includes it. One
/// release build into `target/opcard-virt` (where `paths::opcard_virt_binary` looks, and
/// what `git clean` and the CI cache see with the rest of `target/`); its unit tests run
/// on that same build, with no debug build of its 130 dependencies beside it.
fn opcard_virt() -> Result<(), String> {
    const MANIFEST: &str = "tools/opcard-virt/Cargo.toml";
    cargo(&["fmt", "--manifest-path", MANIFEST, "--", "--check"])?;
    opcard_virt_build()?;
    let mut test = vec!["test", "--release"];
    test.extend(OPCARD_VIRT_ARGS);
    cargo(&test)
}

/// The cargo arguments of every `tools/opcard-virt` command.
const OPCARD_VIRT_ARGS: [&str; 5] = [
    "--locked",
    "--manifest-path",
    "tools/opcard-virt/Cargo.toml",
    "--target-dir",
    "target/opcard-virt",
];

/// The one release build of `tools/opcard-virt` (see [`opcard_virt`]).
fn opcard_virt_build() -> Result<(), String> {
    let mut build = vec!["build", "--release"];
    build.extend(OPCARD_VIRT_ARGS);
    cargo(&build)
}

/// Every benchmark, or those `args` select (passed to `cargo bench`, e.g.
/// `-p cardgate-sessiond --bench daemon` for the login against its floor).
fn bench(args: &[String]) -> Result<(), String> {
    deps::ensure()?;
    // The PC/SC benchmarks start `target/release/cardgate-sim` and `cardgated`, and the
    // OpenPGP profile's the virtual OpenPGP card.
    cargo(&["build", "--release", "--workspace", "--bins"])?;
    opcard_virt_build()?;
    let mut bench = vec!["bench"];
    if args.is_empty() {
        bench.push("--workspace");
    }
    bench.extend(args.iter().map(String::as_str));
    cargo(&bench)
}
