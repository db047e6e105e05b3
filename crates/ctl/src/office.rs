//! `cardgatectl office …`: the office's state (the signed revocation list and the card
//! register) from the access manager's machine to every terminal (issue 13, item 5; art.
//! 5.2, 5.4, 15).
//!
//! `office publish` runs where the issuer key is and writes the published directory the
//! office serves; `office pull` runs on each terminal (the `cardgate-office-sync` timer),
//! fetches that directory with rsync over ssh (`--from HOST:PATH`) or reads a shared path
//! (`--from /PATH`), and applies it ([`cardgate_office::published::apply`]): the terminal
//! opens no port (art. 15). Every pull leaves its outcome on stdout/stderr (the journal,
//! under the unit) and in `state_dir/office.status` (`office status`).

use crate::exit::{Exit, Failure};
use crate::files::{io_failure, json_time, read_capped, write_atomic, CmdError};
use crate::ui::Ui;
use cardgate_card::revocation::MAX_FILE_LEN;
use cardgate_i18n::{tr, Lang};
use cardgate_office::config::Config;
use cardgate_office::published::{
    self, ApplyOutcome, ListOutcome, PublishedError, Targets, LIST_FILE, MAX_STATE_LEN,
    OFFICE_STATUS_FILE, STATE_FILE,
};
use cardgate_office::register::RegisterFile;
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

/// The directory in the state directory where `office pull` puts what rsync fetched.
pub const INCOMING_DIR: &str = "office-incoming";

/// The longest `--from` accepted.
const MAX_SOURCE_LEN: usize = 1024;

/// The most of rsync's or ssh's own message kept for the error.
const MAX_DETAIL_LEN: usize = 2048;

/// Office state commands.
#[derive(Debug, Subcommand)]
pub enum OfficeCommand {
    /// Publish the office's state into OUT, the directory the office serves to the
    /// terminals: the revocation list as signed, and office.state (the card register and the
    /// list's version and SHA-256, signed with the issuer key, version one more than the
    /// last published there).
    Publish {
        /// The issuer directory holding issuer.key (no default).
        #[arg(long, value_name = "DIR")]
        issuer_dir: PathBuf,
        /// The published directory (must exist).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The state directory whose cards.json is the office's register [default:
        /// daemon.state_dir of the configuration].
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// The revocation list to publish [default: revocation.list of the configuration].
        #[arg(long, value_name = "FILE")]
        list: Option<PathBuf>,
    },
    /// Fetch the office's published state and apply it on this terminal: verified with the
    /// issuer key, an older version than the one applied here refused, the revocation list
    /// installed where cardgated watches it (never an older one), the register merged.
    Pull {
        /// HOST:PATH or USER@HOST:PATH (rsync over ssh), or /PATH (a shared directory).
        #[arg(long, value_name = "SOURCE")]
        from: String,
        /// The ssh private key for HOST:PATH.
        #[arg(long, value_name = "FILE")]
        ssh_key: Option<PathBuf>,
        /// The known_hosts file holding the office's host key (checked strictly).
        #[arg(long, value_name = "FILE")]
        known_hosts: Option<PathBuf>,
        /// The office's ssh port [default: ssh's].
        #[arg(long, value_name = "PORT")]
        ssh_port: Option<u16>,
        /// Verify with this issuer public key [default: issuer.public_key of the
        /// configuration].
        #[arg(long, value_name = "PATH")]
        issuer_pub: Option<PathBuf>,
    },
    /// The outcome of the last pull on this terminal (--json: see docs/cli.md).
    Status,
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn failure(exit: Exit, message: String) -> CmdError {
    Box::new(Failure::new(exit, message))
}

/// Runs an office command.
pub fn run(ui: &Ui, config_path: &Path, cmd: OfficeCommand) -> Result<ExitCode, CmdError> {
    let config = Config::load(config_path)?;
    match cmd {
        OfficeCommand::Publish {
            issuer_dir,
            out,
            state_dir,
            list,
        } => publish(ui, &config, &issuer_dir, &out, state_dir, list),
        OfficeCommand::Pull {
            from,
            ssh_key,
            known_hosts,
            ssh_port,
            issuer_pub,
        } => {
            let ssh = Ssh {
                key: ssh_key,
                known_hosts,
                port: ssh_port,
            };
            pull(ui, &config, &from, &ssh, issuer_pub.as_deref())
        }
        OfficeCommand::Status => status(ui, &config),
    }
}

fn publish(
    ui: &Ui,
    config: &Config,
    issuer_dir: &Path,
    out: &Path,
    state_dir: Option<PathBuf>,
    list: Option<PathBuf>,
) -> Result<ExitCode, CmdError> {
    let issuer = crate::issuer::load_key(ui.lang, issuer_dir)?;
    let state_dir = state_dir.unwrap_or_else(|| config.daemon.state_dir.clone());
    let list_path = list.unwrap_or_else(|| config.revocation.list.clone());
    if !out.is_dir() {
        return Err(Box::new(io_failure(
            ui.lang,
            out,
            &std::io::Error::from(std::io::ErrorKind::NotFound),
        )));
    }
    // Verified here too, so that a list the terminals would refuse is never published.
    let revocation = crate::revocation::load_list(ui.lang, &list_path, &issuer.public_key())?;
    let list_bytes = read_capped(&list_path, MAX_FILE_LEN as u64)
        .map_err(|e| io_failure(ui.lang, &list_path, &e))?;
    let register = RegisterFile::new(&state_dir).read()?;
    let version = published::publish(out, &issuer, now(), &list_bytes, &register)
        .map_err(|e| published_failure(ui.lang, e))?;
    // Published all the same (the terminals apply their own stale policy), but said: a
    // list past or near its next update must be refreshed (`revocation refresh`) first.
    match crate::revocation::Freshness::of(&revocation, now()) {
        crate::revocation::Freshness::Fresh => {}
        crate::revocation::Freshness::DueSoon => {
            eprintln!("{}", tr!(ui.lang, "ctl-office-publish-due-soon"))
        }
        crate::revocation::Freshness::Stale => {
            eprintln!("{}", tr!(ui.lang, "ctl-office-publish-stale"))
        }
    }
    if ui.json {
        ui.print_json(&serde_json::json!({
            "out": out,
            "version": version,
            "list_version": revocation.version(),
            "cards": register.cards.len(),
        }))?;
    } else {
        println!(
            "{}",
            tr!(
                ui.lang,
                "ctl-office-published",
                version = version,
                dir = out.display().to_string(),
                list = revocation.version(),
                cards = register.cards.len() as u64
            )
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// How `office pull` reaches the office over ssh.
#[derive(Debug, Default)]
struct Ssh {
    key: Option<PathBuf>,
    known_hosts: Option<PathBuf>,
    port: Option<u16>,
}

/// Where the published state comes from.
#[derive(Debug, PartialEq, Eq)]
enum Source {
    /// A directory on this machine (a shared path, or one someone placed the files in).
    Local(PathBuf),
    /// `[USER@]HOST:PATH`, fetched with rsync over ssh.
    Remote(String),
}

/// Parses `--from`: an absolute path, or `[USER@]HOST:PATH` as rsync reads it (a colon
/// before any slash). Nothing that rsync or ssh would read as an option, no whitespace or
/// control character (the `-e` command and the remote shell split on them).
fn parse_source(text: &str) -> Option<Source> {
    if text.is_empty()
        || text.len() > MAX_SOURCE_LEN
        || text.starts_with('-')
        || text.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    if text.starts_with('/') {
        return Some(Source::Local(PathBuf::from(text)));
    }
    let (host, path) = text.split_once(':')?;
    let host_ok = !host.is_empty()
        && !host.starts_with('-')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_@[]".contains(c));
    (host_ok && !host.contains('/') && !path.is_empty() && !path.starts_with('-'))
        .then(|| Source::Remote(text.trim_end_matches('/').to_owned()))
}

fn path_for_ssh(p: &Path) -> Option<String> {
    let s = p.to_str()?;
    (!s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control())).then(|| s.into())
}

/// Fetches `office.state` and the list from `remote` into `incoming` with rsync over ssh.
fn fetch(lang: Lang, remote: &str, ssh: &Ssh, incoming: &Path) -> Result<(), CmdError> {
    let bad = |p: &Path| {
        failure(
            Exit::Usage,
            tr!(lang, "ctl-office-bad-path", path = p.display().to_string()),
        )
    };
    let mut e = String::from(
        "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=20 -o ServerAliveInterval=15",
    );
    if let Some(k) = &ssh.known_hosts {
        e.push_str(&format!(
            " -o UserKnownHostsFile={}",
            path_for_ssh(k).ok_or_else(|| bad(k))?
        ));
    }
    if let Some(k) = &ssh.key {
        e.push_str(&format!(
            " -o IdentitiesOnly=yes -i {}",
            path_for_ssh(k).ok_or_else(|| bad(k))?
        ));
    }
    if let Some(port) = ssh.port {
        e.push_str(&format!(" -p {port}"));
    }
    let cap = MAX_STATE_LEN.max(MAX_FILE_LEN);
    let output = Command::new("rsync")
        // No --links, no --copy-links: a link in the published directory is skipped, never
        // followed on either end (rrsync refuses -L anyway).
        .args(["--times", "--timeout=120"])
        .arg(format!("--max-size={cap}"))
        .arg("-e")
        .arg(&e)
        .arg(format!("{remote}/{STATE_FILE}"))
        .arg(format!("{remote}/{LIST_FILE}"))
        .arg(format!("{}/", incoming.display()))
        .stdin(Stdio::null())
        .output()
        .map_err(|err| {
            failure(
                Exit::Failed,
                tr!(
                    lang,
                    "ctl-office-fetch-spawn",
                    program = "rsync",
                    error = err.to_string()
                ),
            )
        })?;
    if output.status.success() {
        return Ok(());
    }
    let mut detail = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    if detail.len() > MAX_DETAIL_LEN {
        let mut cut = MAX_DETAIL_LEN;
        while !detail.is_char_boundary(cut) {
            cut -= 1;
        }
        detail.truncate(cut);
    }
    Err(failure(
        Exit::Failed,
        tr!(
            lang,
            "ctl-office-fetch-failed",
            source = remote.to_owned(),
            status = output.status.to_string(),
            detail = detail
        ),
    ))
}

/// A [`PublishedError`] as a failure: a rollback is refused (4), anything else offered that
/// does not verify is a failed verification (6), a missing file is not found (3), a local
/// failure is 1; each names its file.
fn published_failure(lang: Lang, e: PublishedError) -> CmdError {
    let text = crate::files::chain(&e);
    if e.is_rollback() {
        return Box::new(
            Failure::new(Exit::Refused, tr!(lang, "ctl-office-refused", error = text))
                .hint(tr!(lang, "ctl-office-rollback-hint")),
        );
    }
    if let PublishedError::Io { source, .. } = &e {
        if source.kind() == std::io::ErrorKind::NotFound {
            return failure(Exit::NotFound, tr!(lang, "ctl-office-failed", error = text));
        }
    }
    if e.is_refusal() {
        return Box::new(
            Failure::new(
                Exit::VerificationFailed,
                tr!(lang, "ctl-office-refused", error = text),
            )
            .hint(tr!(lang, "ctl-office-refused-hint")),
        );
    }
    failure(Exit::Failed, tr!(lang, "ctl-office-failed", error = text))
}

fn list_text(lang: Lang, list: ListOutcome) -> String {
    match list {
        ListOutcome::Installed { version, .. } => {
            tr!(lang, "ctl-office-list-installed", version = version)
        }
        ListOutcome::AlreadyInForce { version } => {
            tr!(lang, "ctl-office-list-same", version = version)
        }
        ListOutcome::KeptNewer { local, offered } => {
            tr!(
                lang,
                "ctl-office-list-kept",
                local = local,
                offered = offered
            )
        }
    }
}

fn list_json(list: ListOutcome) -> serde_json::Value {
    match list {
        ListOutcome::Installed { version, previous } => serde_json::json!({
            "outcome": "installed", "version": version, "previous": previous,
        }),
        ListOutcome::AlreadyInForce { version } => serde_json::json!({
            "outcome": "in_force", "version": version,
        }),
        ListOutcome::KeptNewer { local, offered } => serde_json::json!({
            "outcome": "kept_newer", "version": local, "offered": offered,
        }),
    }
}

fn outcome_json(o: &ApplyOutcome) -> serde_json::Value {
    serde_json::json!({
        "version": o.version,
        "previous": o.previous,
        "unchanged": o.unchanged,
        "list": list_json(o.list),
        "register": {
            "added": o.register.added,
            "updated": o.register.updated,
            "withdrawn": o.register.withdrawn,
            "kept_local": o.register.kept_local,
        },
    })
}

/// Leaves the outcome of a pull in `state_dir/office.status`; a failure to do so is said on
/// stderr (the journal) and does not change the pull's own outcome.
fn record_status(lang: Lang, state_dir: &Path, status: serde_json::Value) {
    let path = state_dir.join(OFFICE_STATUS_FILE);
    let written = serde_json::to_vec_pretty(&status)
        .map_err(std::io::Error::other)
        .and_then(|bytes| write_atomic(&path, &bytes, 0o640));
    if let Err(e) = written {
        eprintln!(
            "{}",
            tr!(
                lang,
                "ctl-office-status-write-failed",
                path = path.display().to_string(),
                error = e.to_string()
            )
        );
    }
}

fn pull(
    ui: &Ui,
    config: &Config,
    from: &str,
    ssh: &Ssh,
    issuer_pub: Option<&Path>,
) -> Result<ExitCode, CmdError> {
    let lang = ui.lang;
    let state_dir = config.daemon.state_dir.clone();
    let started = now();
    let result = pull_and_apply(lang, config, from, ssh, issuer_pub);
    let base = |result: &str| {
        serde_json::json!({
            "format": 1,
            "time": json_time(started),
            "time_unix": started,
            "source": from,
            "result": result,
        })
    };
    match result {
        Ok(outcome) => {
            let mut status = base(if outcome.unchanged {
                "unchanged"
            } else {
                "applied"
            });
            status["outcome"] = outcome_json(&outcome);
            record_status(lang, &state_dir, status.clone());
            if ui.json {
                ui.print_json(&status)?;
            } else if outcome.unchanged {
                println!(
                    "{}",
                    tr!(lang, "ctl-office-unchanged", version = outcome.version)
                );
            } else {
                println!(
                    "{}",
                    tr!(
                        lang,
                        "ctl-office-applied",
                        version = outcome.version,
                        previous = outcome
                            .previous
                            .map_or_else(|| "-".to_owned(), |p| p.to_string()),
                        list = list_text(lang, outcome.list),
                        added = outcome.register.added,
                        updated = outcome.register.updated,
                        withdrawn = outcome.register.withdrawn,
                        kept = outcome.register.kept_local
                    )
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let result = match e.downcast_ref::<Failure>().map(|f| f.exit) {
                Some(Exit::Refused) => "refused_rollback",
                Some(Exit::VerificationFailed) => "refused",
                _ => "failed",
            };
            let mut status = base(result);
            status["error"] = serde_json::Value::String(crate::files::chain(&*e));
            record_status(lang, &state_dir, status);
            Err(e)
        }
    }
}

fn pull_and_apply(
    lang: Lang,
    config: &Config,
    from: &str,
    ssh: &Ssh,
    issuer_pub: Option<&Path>,
) -> Result<ApplyOutcome, CmdError> {
    let source = parse_source(from).ok_or_else(|| {
        failure(
            Exit::Usage,
            tr!(lang, "ctl-office-bad-source", source = from.to_owned()),
        )
    })?;
    let issuer_path = issuer_pub.unwrap_or(&config.issuer.public_key);
    let issuer = crate::revocation::load_public(lang, issuer_path)?;
    let dir = match source {
        Source::Local(dir) => dir,
        Source::Remote(remote) => {
            let incoming = config.daemon.state_dir.join(INCOMING_DIR);
            create_private_dir(&incoming).map_err(|e| io_failure(lang, &incoming, &e))?;
            // What the last pull fetched goes first: a file rsync skips this time (a link,
            // one over the size cap) is then missing and named, never the old one applied.
            for name in [STATE_FILE, LIST_FILE] {
                let old = incoming.join(name);
                match std::fs::remove_file(&old) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Box::new(io_failure(lang, &old, &e))),
                }
            }
            fetch(lang, &remote, ssh, &incoming)?;
            incoming
        }
    };
    let (state, list) = published::read_published(&dir).map_err(|e| published_failure(lang, e))?;
    let targets = Targets {
        state_dir: config.daemon.state_dir.clone(),
        list: config.revocation.list.clone(),
    };
    published::apply(
        &state,
        &dir.join(STATE_FILE),
        &list,
        &dir.join(LIST_FILE),
        &issuer,
        &targets,
    )
    .map_err(|e| published_failure(lang, e))
}

/// Creates `dir` with mode 0700 if it is not there; one that is there must be a directory
/// (not a link) that only its owner may write.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let m = std::fs::symlink_metadata(dir)?;
            if !m.is_dir() || m.permissions().mode() & 0o022 != 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    "not a private directory",
                ));
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The last pull's outcome for `cardgatectl status` (`office` in its JSON): `None` when no
/// pull has run on this terminal (it does not get the office's state this way) or the record
/// cannot be read (then `office status` says why).
pub fn status_part(config: &Config) -> Option<serde_json::Value> {
    let path = config.daemon.state_dir.join(OFFICE_STATUS_FILE);
    let bytes = read_capped(&path, 64 * 1024).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// One line for a pull's outcome, as `office status` and `status` print it.
pub fn status_line(ui: &Ui, value: &serde_json::Value) -> String {
    let text = |k: &str| value[k].as_str().unwrap_or("?").to_owned();
    let result = text("result");
    let shown = match result.as_str() {
        "applied" | "unchanged" => tr!(
            ui.lang,
            &format!("ctl-office-result-{result}"),
            version = value["outcome"]["version"].as_u64().unwrap_or(0)
        ),
        "refused" | "refused_rollback" | "failed" => tr!(
            ui.lang,
            &format!("ctl-office-result-{result}"),
            error = text("error")
        ),
        _ => result.clone(),
    };
    tr!(
        ui.lang,
        "ctl-office-status",
        time = ui.unix_time(value["time_unix"].as_i64().unwrap_or(0)),
        source = text("source"),
        result = shown
    )
}

fn status(ui: &Ui, config: &Config) -> Result<ExitCode, CmdError> {
    let path = config.daemon.state_dir.join(OFFICE_STATUS_FILE);
    let bytes = match read_capped(&path, 64 * 1024) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(failure(
                Exit::NotFound,
                tr!(
                    ui.lang,
                    "ctl-office-status-none",
                    path = path.display().to_string()
                ),
            ))
        }
        Err(e) => return Err(Box::new(io_failure(ui.lang, &path, &e))),
    };
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        failure(
            Exit::Failed,
            tr!(
                ui.lang,
                "ctl-state-bad-file",
                path = path.display().to_string(),
                error = e.to_string()
            ),
        )
    })?;
    if ui.json {
        ui.print_json(&value)?;
    } else {
        println!("{}", status_line(ui, &value));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sources_are_a_path_or_host_colon_path_and_nothing_an_option_could_be() {
        assert_eq!(
            parse_source("/srv/cardgate/office"),
            Some(Source::Local("/srv/cardgate/office".into()))
        );
        assert_eq!(
            parse_source("sync@office.example:/srv/cardgate/office/"),
            Some(Source::Remote(
                "sync@office.example:/srv/cardgate/office".into()
            ))
        );
        assert_eq!(
            parse_source("127.0.0.1:published"),
            Some(Source::Remote("127.0.0.1:published".into()))
        );
        for bad in [
            "",
            "relative/dir",
            "-e sh",
            "host:-e",
            "-host:/x",
            "host:/a b",
            "ho st:/x",
            "host:",
            "a/b:c",
            "host:/x\n",
            "h$(x):/y",
        ] {
            assert_eq!(parse_source(bad), None, "{bad:?}");
        }
        assert_eq!(
            parse_source(&format!("/{}", "a".repeat(MAX_SOURCE_LEN))),
            None
        );
    }
}
