//! `cardgated`: the session daemon that gates terminal login on the operator card.
//!
//! `cardgated [--config FILE]` runs the daemon; `cardgated --check-config FILE` checks a
//! configuration and exits. See `docs/configuration.md` and `docs/integration.md`.
#![forbid(unsafe_code)]

use cardgate_audit::record::StopReason;
use cardgate_audit::{AuditConfig, Event, Label};
use cardgate_card::IssuerPublicKey;
use cardgate_reader::monitor::{CardMonitor, MonitorOptions};
use cardgate_reader::pcsc::ConnectOptions;
use cardgate_sessiond::audit_sink::AuditSink;
use cardgate_sessiond::config::Config;
use cardgate_sessiond::engine::{Clock, Engine, EngineParts, Loginctl, SystemClock};
use cardgate_sessiond::pcsc_cards::PcscCards;
use cardgate_sessiond::sessions::SessionTable;

/// How long shutdown waits for session actions in flight (a hung `loginctl` is killed after
/// `session.action_timeout_ms`, and tried `session.action_attempts` times). With the requests'
/// grace ([`daemon::SHUTDOWN_GRACE`]) it must leave time, inside the unit's `TimeoutStopSec`,
/// to record `daemon_stopped` and seal the log: systemd kills the daemon after that, and a
/// stop that is not recorded reads in the review like a crash. (It was 60 s, six times the
/// unit's stop timeout.) It is longer than one `loginctl` attempt at the default
/// `session.action_timeout_ms` (5 s), so that a lock under way at the stop is recorded.
const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(6);
use cardgate_sessiond::{daemon, notify, preflight, users};
use std::error::Error;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UnixListener;

type BoxError = Box<dyn Error + Send + Sync + 'static>;

fn chain(e: &(dyn Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

fn main() -> ExitCode {
    let args = <cardgate_sessiond::cli::Args as clap::Parser>::parse();
    let (check_only, path) = match args.check_config {
        Some(file) => (true, file),
        None => (false, args.config),
    };
    let config = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            // The error names the file itself.
            cardgate_sessiond::logging::early_error(&chain(&e));
            return ExitCode::from(2);
        }
    };
    // Everything start needs, checked the same way for --check-config and for the start
    // itself (issue 15: --check-config used to pass what start then failed on).
    let lang = cardgate_i18n::Lang::from_env();
    let findings = preflight::check(&config, SystemClock.wall().unix_timestamp());
    if check_only {
        return ExitCode::from(preflight::print(&path, &findings, lang));
    }
    if let cardgate_sessiond::logging::Sink::Stderr(Some(why)) = cardgate_sessiond::logging::init()
    {
        tracing::warn!(%why, "logging to standard error instead of the journal");
    }
    // Before any socket is bound or any record written.
    if !preflight::log(&path, &findings, lang) {
        return ExitCode::from(2);
    }
    if let Err(e) = harden() {
        tracing::error!(error = %e, "cardgated stopped");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %chain(&*e), "cardgated stopped");
            ExitCode::FAILURE
        }
    };
    // A request given up on after the grace period may still hold a blocking thread (a card
    // operation that hangs): dropping the runtime would wait for it for ever.
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

/// Keeps PINs out of core dumps, `/proc/<pid>/mem` of other users and swap.
///
/// `PR_SET_DUMPABLE=0` is required (it cannot fail on Linux; if it does, the daemon does not
/// start). Locking memory (`mlockall(MCL_CURRENT | MCL_FUTURE)`) is done only where it cannot
/// later make an allocation fail: with `CAP_IPC_LOCK` or an unlimited `RLIMIT_MEMLOCK`
/// (`LimitMEMLOCK=infinity` in the unit). Otherwise, or if it fails, a warning is logged and
/// the daemon goes on: swap is a smaller risk than no login at all.
fn harden() -> Result<(), BoxError> {
    nix::sys::prctl::set_dumpable(false)
        .map_err(|e| format!("cannot make the process non-dumpable (PR_SET_DUMPABLE): {e}"))?;
    match memlock_allowed() {
        Ok(()) => {
            use nix::sys::mman::{mlockall, MlockAllFlags};
            match mlockall(MlockAllFlags::MCL_CURRENT | MlockAllFlags::MCL_FUTURE) {
                Ok(()) => tracing::info!("memory locked (no PIN can reach swap)"),
                Err(e) => {
                    tracing::warn!(error = %e, "memory not locked (mlockall failed): a PIN could reach swap")
                }
            }
        }
        Err(why) => tracing::warn!(%why, "memory not locked: a PIN could reach swap"),
    }
    Ok(())
}

/// May this process lock all of its memory without risking a failed allocation later?
fn memlock_allowed() -> Result<(), String> {
    use nix::sys::resource::{getrlimit, Resource, RLIM_INFINITY};
    const CAP_IPC_LOCK: u32 = 14;
    let has_cap = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|l| {
                l.strip_prefix("CapEff:")
                    .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            })
        })
        .is_some_and(|caps| caps & (1 << CAP_IPC_LOCK) != 0);
    if has_cap {
        return Ok(());
    }
    match getrlimit(Resource::RLIMIT_MEMLOCK) {
        Ok((soft, _)) if soft == RLIM_INFINITY => Ok(()),
        Ok((soft, _)) => Err(format!(
            "no CAP_IPC_LOCK and RLIMIT_MEMLOCK is {soft} bytes (set LimitMEMLOCK=infinity)"
        )),
        Err(e) => Err(format!("cannot read RLIMIT_MEMLOCK: {e}")),
    }
}

fn bind(path: &Path, mode: u32, group: Option<u32>) -> Result<UnixListener, BoxError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(format!("cannot remove the stale socket {}: {e}", path.display()).into())
        }
    }
    let listener =
        UnixListener::bind(path).map_err(|e| format!("cannot bind {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    if let Some(gid) = group {
        std::os::unix::fs::chown(path, None, Some(gid))?;
    }
    Ok(listener)
}

/// The gid of a configured group; `None` (with a warning) when there is none or the name
/// service cannot say, which leaves its role without access (fail closed).
fn group_gid(group: &str, role: &str) -> Option<u32> {
    match users::group_id(group) {
        Ok(Some(gid)) => Some(gid),
        Ok(None) => {
            tracing::warn!(%group, "the {role} group does not exist: that role has no access");
            None
        }
        Err(e) => {
            tracing::warn!(%group, error = %e, "the {role} group cannot be looked up: that role has no access");
            None
        }
    }
}

fn manager_group_gid(config: &Config) -> Option<u32> {
    group_gid(&config.daemon.manager_group, "access manager's")
}

/// Lets the access manager's group read what that role reviews and consults, and write
/// nothing (art. 7: the manager analyses the operation history; the log must not be theirs
/// to change): the state directory and the audit directory become `root:<manager_group>`
/// mode 2750 (setgid, so that every segment the log starts later is the group's too), and
/// the audit segments and the card register `root:<manager_group>` 0640. The lock file,
/// quarantined tails and the seal key file stay root's alone: a copy of the live sealing key
/// kept by anyone would outlive its erasure on disk and could reseal a rewritten log, which is
/// what forward sealing exists to prevent. The manager verifies every seal from k(0), which
/// the manager keeps; only the key file's agreement with the log is root's to check.
///
/// Idempotent, at every start. A failure is logged with its path and the daemon goes on: the
/// manager's review is then unavailable, nothing is opened wider.
fn share_with_manager(config: &Config, gid: u32) {
    use std::os::unix::fs::chown;
    // A mode already right is left alone: under the unit's RestrictSUIDSGID=yes, a chmod that
    // sets the setgid bit is refused (EPERM), and systemd gives the state and audit
    // directories their 2750 itself (StateDirectory=, StateDirectoryMode=).
    let set = |path: &Path, mode: u32| {
        if let Err(e) = chown(path, Some(0), Some(gid)).and_then(|()| {
            if std::fs::metadata(path)?.permissions().mode() & 0o7777 == mode {
                return Ok(());
            }
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        }) {
            tracing::warn!(path = %path.display(), error = %e, "cannot share with the access manager's group");
        }
    };
    let state = &config.daemon.state_dir;
    set(state, 0o2750);
    let register = state.join(cardgate_office::register::REGISTER_FILE);
    if register.exists() {
        set(&register, 0o640);
    }
    let audit = &config.audit.dir;
    if !audit.is_dir() {
        return;
    }
    set(audit, 0o2750);
    match std::fs::read_dir(audit) {
        Ok(entries) => {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if cardgate_audit::segments::parse_segment_name(&name).is_some() {
                    set(&entry.path(), 0o640);
                } else if name == cardgate_audit::seal::KEY_FILE {
                    // Undo a share made by an earlier version.
                    set(&entry.path(), 0o600);
                }
            }
        }
        Err(e) => {
            tracing::warn!(dir = %audit.display(), error = %e, "cannot list the audit log to share it")
        }
    }
}

fn host_label() -> Label {
    let name = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    cardgate_sessiond::engine::label(name.trim())
}

async fn run(config: Config) -> Result<(), BoxError> {
    notify::status("starting: reading the issuer key");
    std::fs::create_dir_all(&config.daemon.state_dir)?;
    let issuer_text = std::fs::read_to_string(&config.issuer.public_key).map_err(|e| {
        format!(
            "cannot read the issuer key {}: {e}",
            config.issuer.public_key.display()
        )
    })?;
    let issuer = IssuerPublicKey::from_hex(&issuer_text)?;

    // One clock for the engine and the audit log.
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut audit_config = AuditConfig::new(&config.audit.dir, host_label());
    audit_config.clock = clock.clone();
    audit_config.seal_every_records = u64::from(config.audit.seal_every_records);
    audit_config.seal_interval = Duration::from_secs(u64::from(config.audit.seal_every_seconds));
    audit_config.heartbeat = (config.audit.heartbeat_minutes > 0)
        .then(|| Duration::from_secs(60 * u64::from(config.audit.heartbeat_minutes)));
    // Before the log opens, so that a segment it starts is created in the shared directory.
    let manager_gid = manager_group_gid(&config);
    if let Some(gid) = manager_gid {
        share_with_manager(&config, gid);
    }
    notify::status("starting: opening the audit log");
    let (audit, report) = AuditSink::open(audit_config)?;
    let audit = Arc::new(audit);
    if !report.quarantined.is_empty() {
        tracing::warn!(files = ?report.quarantined, "a torn audit tail was quarantined");
    }

    let admin_gid = group_gid(&config.daemon.admin_group, "admin");
    let login = bind(&config.daemon.login_socket, 0o666, None)?;
    // With the access manager's group, members of two groups must reach the admin socket,
    // which one file group cannot say: the socket is then open to every uid, like the login
    // socket, and the daemon itself refuses a uid in neither group from its peer
    // credentials before it reads a byte (`server::roles`).
    let (admin_mode, admin_group) = match (admin_gid, manager_gid) {
        (_, Some(_)) => (0o666, admin_gid),
        (Some(gid), None) => (0o660, Some(gid)),
        (None, None) => (0o600, None),
    };
    let admin = bind(&config.daemon.admin_socket, admin_mode, admin_group)?;

    let (monitor, monitor_events) = CardMonitor::start(MonitorOptions::default())?;
    let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
    let card_events = std::thread::Builder::new()
        .name("card-events".into())
        .spawn(move || {
            while let Ok(event) = monitor_events.recv() {
                if events_tx.send(event).is_err() {
                    break;
                }
            }
        })?;

    let engine = Arc::new(Engine::new(EngineParts {
        issuer,
        cards: Arc::new(PcscCards::new(ConnectOptions::default())),
        audit: audit.clone(),
        actions: Arc::new(Loginctl::new(
            config.session.loginctl.clone(),
            std::time::Duration::from_millis(config.session.action_timeout_ms),
        )),
        clock: clock.clone(),
        sessions: SessionTable::load(&config.daemon.state_dir)?,
        config,
    })?);
    let version = cardgate_sessiond::engine::label(env!("CARGO_PKG_VERSION"));
    if !engine.record_lifecycle(Event::DaemonStarted { version }) {
        return Err("the audit log cannot be written; refusing to start (fail closed)".into());
    }
    {
        notify::status("starting: resynchronising the sessions");
        let e = engine.clone();
        tokio::task::spawn_blocking(move || e.resync_sessions()).await?;
    }
    tracing::info!("cardgated ready");
    notify::ready(&notify::ready_text(
        engine.config().terminals.len(),
        engine.session_count(),
    ));
    if let Some(interval) = notify::watchdog_interval() {
        let monitor_alive = monitor.alive_flag();
        tokio::spawn(notify::watchdog(interval, move || {
            !card_events.is_finished() && monitor_alive.is_running()
        }));
    }

    let shutdown = async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = term.recv() => {},
            _ = tokio::signal::ctrl_c() => {},
        }
        tracing::info!("stopping");
        notify::stopping("stopping: finishing the requests in flight, then sealing the audit log");
    };
    // Returns once every request accepted has been answered (its records written), or the
    // grace period ran out (issue 16: it used to return at once, and a login still running
    // wrote its records after `daemon_stopped`, or into a closed log).
    let stopped = daemon::run(engine.clone(), login, admin, events_rx, shutdown).await;
    // The locks and ends already decided are carried out, and recorded, before the log says
    // the daemon stopped.
    let e = engine.clone();
    if !tokio::task::spawn_blocking(move || e.wait_for_session_actions(STOP_WAIT)).await? {
        tracing::error!("session actions were still running at shutdown");
    }
    engine.record_refusals_held_back();
    if !engine.record_lifecycle(Event::DaemonStopped {
        reason: StopReason::Signal,
        unfinished: (stopped.unfinished > 0)
            .then(|| u32::try_from(stopped.unfinished).unwrap_or(u32::MAX)),
    }) {
        tracing::error!("the daemon's stop could not be recorded");
    }
    monitor.stop();
    drop(engine);
    audit.close()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// The shutdown's waits fit inside the shipped unit's stop timeout, with room to record
    /// the stop and seal the log before systemd's SIGKILL.
    #[test]
    fn the_shutdown_fits_inside_the_units_stop_timeout() {
        let unit = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist/cardgated.service"),
        )
        .unwrap();
        let stop_timeout = unit
            .lines()
            .find_map(|l| l.strip_prefix("TimeoutStopSec="))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(std::time::Duration::from_secs)
            .expect("the unit sets TimeoutStopSec in seconds");
        let to_record_and_seal = std::time::Duration::from_secs(2);
        assert!(
            daemon::SHUTDOWN_GRACE + STOP_WAIT + to_record_and_seal <= stop_timeout,
            "{:?} + {:?} + {:?} > TimeoutStopSec {:?}",
            daemon::SHUTDOWN_GRACE,
            STOP_WAIT,
            to_record_and_seal,
            stop_timeout
        );
    }
}
