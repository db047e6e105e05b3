//! Where the harness finds the workspace's binaries.
//!
//! The contract: `cargo xtask test` (and `cargo xtask bench`) build every binary of the
//! workspace, in the profile the tests run in, before running them. The harness never
//! builds anything itself (a `cargo build` from inside `cargo test` would wait on the
//! build lock cargo holds); it looks the binary up and refuses a missing or stale one.

use crate::HarnessError;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The profile directory (`target/debug` or `target/release`) the running test or bench
/// executable was built into (it runs from `<profile>/deps/`).
pub fn profile_dir() -> Result<PathBuf, HarnessError> {
    let exe = std::env::current_exe().map_err(|source| HarnessError::Io {
        what: "cannot locate the running executable",
        path: PathBuf::new(),
        source,
    })?;
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok(if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().map(Path::to_path_buf).unwrap_or(dir)
    } else {
        dir
    })
}

/// The `cardgate-sim` binary: `$CARDGATE_SIM_BIN`, else `<profile>/cardgate-sim`; it must
/// be newer than the sources it is built from.
pub fn sim_binary() -> Result<PathBuf, HarnessError> {
    match std::env::var_os("CARDGATE_SIM_BIN") {
        Some(path) => {
            let path = PathBuf::from(path);
            let sources = dep_info_sources(&path.with_extension("d"));
            check_binary(&path, &sources, "cardgate-sim")?;
            Ok(path)
        }
        None => workspace_artifact("cardgate-sim", "cardgate-sim"),
    }
}

/// `cardgatectl --config CONFIG`, speaking English whatever the locale of the machine running
/// the tests (tests read its output; a Japanese run asks with `--lang ja` or `LANG`). The
/// caller adds the arguments, the environment and the standard streams.
pub fn cardgatectl(config: &Path) -> Result<std::process::Command, HarnessError> {
    let mut command = std::process::Command::new(workspace_artifact("cardgatectl", "cardgatectl")?);
    command
        .arg("--config")
        .arg(config)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", "C.UTF-8");
    Ok(command)
}

/// A binary or library this workspace builds (`cardgated`, `cardgatectl`,
/// `libpam_cardgate.so`, …), in the running executable's profile directory; it must be newer
/// than the sources cargo's dep-info lists for it.
pub fn workspace_artifact(file: &str, package: &'static str) -> Result<PathBuf, HarnessError> {
    let path = profile_dir()?.join(file);
    // Cargo's dep-info next to the artifact lists exactly the sources it was built from.
    let sources = dep_info_sources(&path.with_extension("d"));
    check_binary(&path, &sources, package)?;
    Ok(path)
}

fn check_binary(
    path: &Path,
    sources: &[PathBuf],
    package: &'static str,
) -> Result<(), HarnessError> {
    let built = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|_| HarnessError::Binary {
            path: path.to_owned(),
            problem: "missing",
            package,
        })?;
    let newest = sources.iter().filter_map(|s| newest_mtime(s)).max();
    if newest.is_some_and(|newest| newest > built) {
        return Err(HarnessError::Binary {
            path: path.to_owned(),
            problem: "older than its sources",
            package,
        });
    }
    Ok(())
}

/// The source files a cargo dep-info file (`target: src src …`) names.
fn dep_info_sources(dep_info: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string(dep_info) else {
        return Vec::new();
    };
    let first = text.lines().next().unwrap_or_default();
    let Some((_, deps)) = first.split_once(": ") else {
        return Vec::new();
    };
    // Spaces inside paths are escaped as `\ `.
    deps.replace("\\ ", "\u{0}")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(|s| PathBuf::from(s.replace('\u{0}', " ")))
        .collect()
}

fn newest_mtime(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| newest_mtime(&entry.path()))
        .max()
}

/// Checks that a system program is on `PATH`.
pub fn require_program(program: &'static str, package: &'static str) -> Result<(), HarnessError> {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false);
    if found {
        Ok(())
    } else {
        Err(HarnessError::MissingProgram { program, package })
    }
}

/// The command that builds [`opcard_virt_binary`] (what `cargo xtask test` runs).
pub const OPCARD_VIRT_BUILD: &str = "cargo build --release --locked --manifest-path tools/opcard-virt/Cargo.toml --target-dir target/opcard-virt";

/// The virtual OpenPGP card `opcard-virt` (`tools/opcard-virt`, its own workspace):
/// `$CARDGATE_OPCARD_VIRT_BIN`, else `target/opcard-virt/release/opcard-virt`; it must be
/// newer than the sources it is built from. A missing or stale one names
/// [`OPCARD_VIRT_BUILD`].
pub fn opcard_virt_binary() -> Result<PathBuf, HarnessError> {
    let path = match std::env::var_os("CARDGATE_OPCARD_VIRT_BIN") {
        Some(path) => PathBuf::from(path),
        None => workspace_root().join("target/opcard-virt/release/opcard-virt"),
    };
    let sources = dep_info_sources(&path.with_extension("d"));
    check_binary(&path, &sources, "opcard-virt").map_err(|e| match e {
        HarnessError::Binary { path, problem, .. } => HarnessError::OpcardVirtBinary {
            path,
            problem,
            build: OPCARD_VIRT_BUILD,
        },
        other => other,
    })?;
    Ok(path)
}
