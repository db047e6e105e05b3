//! `cardgatectl status | sessions | login | backup | restore`.

use crate::client;
use crate::files::{read_capped, read_secret_line, write_atomic, CmdError};
use cardgate_sessiond::config::Config;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The name of the manifest in a backup.
pub const MANIFEST: &str = "MANIFEST.sha256";
/// The largest file a backup copies.
const MAX_FILE: u64 = 1 << 30;

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The daemon's state.
pub fn status(config: &Config) -> Result<ExitCode, CmdError> {
    let answer = client::expect_ok(client::ask(
        &config.daemon.admin_socket,
        &json!({"op": "status"}),
    )?)?;
    println!("{}", serde_json::to_string_pretty(&answer["data"])?);
    Ok(ExitCode::SUCCESS)
}

/// The open sessions.
pub fn sessions(config: &Config) -> Result<ExitCode, CmdError> {
    let answer = client::expect_ok(client::ask(
        &config.daemon.admin_socket,
        &json!({"op": "sessions"}),
    )?)?;
    println!(
        "{:<10}  {:<10}  {:<12}  {:<16}  {:<16}  state",
        "session", "terminal", "user", "operator", "card"
    );
    for s in answer["data"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let f = |k: &str| s[k].as_str().unwrap_or("?").to_owned();
        println!(
            "{:<10}  {:<10}  {:<12}  {:<16}  {:<16}  {}",
            f("session_id"),
            f("terminal"),
            f("user"),
            f("operator_id"),
            f("serial"),
            f("state")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Authenticates a user on a terminal through the daemon (PIN on stdin). Exit 0 when granted,
/// 1 when refused.
pub fn login(config: &Config, terminal: &str, user: &str) -> Result<ExitCode, CmdError> {
    let pin = read_secret_line()?;
    // The PIN goes into the request line by hand, into a zeroizing buffer: a JSON value would
    // leave copies behind. Only letters and digits can be a PIN, so nothing needs escaping.
    cardgate_card::secret::check_pin_format(&pin)
        .map_err(|e| format!("the PIN {e}; nothing was sent"))?;
    let head = json!({"op": "authenticate", "terminal": terminal, "user": user}).to_string();
    let mut line = zeroize::Zeroizing::new(Vec::with_capacity(head.len() + 32));
    line.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
    line.extend_from_slice(b",\"pin\":\"");
    line.extend_from_slice(pin.as_bytes());
    line.extend_from_slice(b"\"}\n");
    let answer = client::ask_raw(&config.daemon.login_socket, &line)?;
    match answer["result"].as_str() {
        Some("granted") => {
            println!(
                "granted: operator {} (card {})",
                answer["operator"].as_str().unwrap_or("?"),
                answer["serial"].as_str().unwrap_or("?")
            );
            if answer["must_change_pin"].as_bool() == Some(true) {
                println!("the initial PIN must be changed before a session opens");
            }
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            eprintln!("{}", answer["message"].as_str().unwrap_or("refused"));
            Ok(ExitCode::from(1))
        }
    }
}

/// Every file of cardgate's state, with where it lives (art. 8: recover from backups).
fn state_files(config: &Config, config_path: &Path) -> Vec<PathBuf> {
    let mut files = vec![
        config_path.to_path_buf(),
        config.issuer.public_key.clone(),
        config.revocation.list.clone(),
    ];
    for dir in [&config.daemon.state_dir, &config.audit.dir] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            let mut names: Vec<PathBuf> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect();
            names.sort();
            files.extend(names);
        }
    }
    files.sort();
    files.dedup();
    files.retain(|p| {
        p.exists()
            && !p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with(".lock"))
    });
    files
}

/// Copies every state file into `to/cardgate-backup-<time>/`, with a SHA-256 manifest.
pub fn backup(config: &Config, config_path: &Path, to: &Path) -> Result<ExitCode, CmdError> {
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let dest = to.join(format!("cardgate-backup-{stamp}"));
    std::fs::create_dir_all(&dest)?;
    let mut manifest = String::new();
    for (i, path) in state_files(config, config_path).iter().enumerate() {
        let bytes = read_capped(path, MAX_FILE)?;
        let name = format!(
            "{i:04}-{}",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        write_atomic(&dest.join(&name), &bytes, 0o600)?;
        manifest.push_str(&format!(
            "{}  {name}  {}\n",
            sha256_hex(&bytes),
            path.display()
        ));
    }
    write_atomic(&dest.join(MANIFEST), manifest.as_bytes(), 0o600)?;
    println!("{}", dest.display());
    Ok(ExitCode::SUCCESS)
}

/// Checks a backup's manifest and puts every file back. Refuses while the daemon runs.
pub fn restore(config: &Config, from: &Path) -> Result<ExitCode, CmdError> {
    if std::os::unix::net::UnixStream::connect(&config.daemon.login_socket).is_ok() {
        return Err("cardgated is running; stop it before restoring".into());
    }
    let manifest = String::from_utf8(read_capped(&from.join(MANIFEST), 16 << 20)?)?;
    let mut plan = Vec::new();
    for (n, line) in manifest.lines().enumerate() {
        let mut parts = line.splitn(3, "  ");
        let (Some(hash), Some(name), Some(target)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("{MANIFEST} line {} is malformed", n + 1).into());
        };
        if name.contains('/') {
            return Err(
                format!("{MANIFEST} line {} names a file outside the backup", n + 1).into(),
            );
        }
        let bytes = read_capped(&from.join(name), MAX_FILE)?;
        if sha256_hex(&bytes) != hash {
            return Err(format!("{name} does not match its checksum; nothing was restored").into());
        }
        plan.push((PathBuf::from(target), bytes));
    }
    for (target, bytes) in &plan {
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        write_atomic(target, bytes, 0o600)?;
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "restored {} files from {}", plan.len(), from.display())?;
    Ok(ExitCode::SUCCESS)
}
