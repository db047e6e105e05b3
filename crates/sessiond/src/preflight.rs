//! What `cardgated` needs before it serves, checked once, for `cardgated --check-config` and
//! for the daemon's own start alike (issue 15: `--check-config` said "valid" to a
//! configuration whose start then failed, on a missing issuer key, audit log or revocation
//! list, or that named a group or user nobody has).
//!
//! [`check`] returns every [`Finding`], each naming its path, group or user. An
//! [`Severity::Error`] is something the daemon cannot serve with: `--check-config` exits 2
//! and the daemon refuses to start, before it binds any socket or writes any record. A
//! [`Severity::Warning`] is something it can run with, failing closed, and that an
//! administrator must still see:
//!
//! * a configured group that the name service does not know (or cannot look up) leaves
//!   that role without access: the admin socket becomes root's alone, the access manager
//!   reads no log. Nothing is opened wider, root still administers, and refusing to start
//!   would leave every open session without its lock on card removal (the package creates
//!   both groups, so only a hand-made configuration meets this);
//! * an `[operators]` user unknown to the name service can only mean that this operator
//!   cannot log in; with SSSD or LDAP a user may be briefly unknown while the directory is
//!   unreachable, and one such name must not stop every other operator's terminal;
//! * a revocation list past its next update: a running daemon goes on with it (refusing
//!   logins under `stale = "refuse"`), and a restart must not end the removal locks of the
//!   sessions open meanwhile.
//!
//! Nothing here writes: the audit log is probed without its lock ([`AuditLog::probe`]), the
//! revocation list is verified against a copy of the accepted version.

use crate::config::{Config, StalePolicy};
use crate::users;
use cardgate_audit::AuditLog;
use cardgate_card::IssuerPublicKey;
use cardgate_i18n::{tr, Lang};
use std::path::{Path, PathBuf};

/// The largest issuer key file read (64 hex digits and a newline; room for comments).
const MAX_ISSUER_KEY_BYTES: u64 = 4096;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The daemon cannot serve with it: it refuses to start, `--check-config` exits 2.
    Error,
    /// The daemon runs, failing closed where it matters; an administrator must see it.
    Warning,
}

/// One problem found, naming what it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finding {
    /// `[issuer] public_key` cannot be read.
    IssuerKeyUnreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        error: String,
    },
    /// `[issuer] public_key` is not an issuer public key.
    IssuerKeyInvalid {
        /// The file.
        path: PathBuf,
        /// Why.
        error: String,
    },
    /// `[daemon] state_dir` cannot be created or written.
    StateDirUnusable {
        /// The directory.
        path: PathBuf,
        /// Why.
        error: String,
    },
    /// A state file the daemon loads at start is unreadable or malformed.
    StateFileBad {
        /// The file.
        path: PathBuf,
        /// Why.
        error: String,
    },
    /// `[audit] dir` is not an initialised audit log.
    AuditNotInitialised {
        /// The directory.
        path: PathBuf,
    },
    /// The audit log cannot be opened (a segment or the key file unreadable, a record that
    /// does not parse, the directory not writable).
    AuditUnusable {
        /// The directory.
        path: PathBuf,
        /// Why.
        error: String,
    },
    /// `[revocation] list` cannot be read (missing included).
    RevocationListUnreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        error: String,
    },
    /// `[revocation] list` is refused: its signature does not verify against the issuer key,
    /// it is malformed, or it is older than the list already accepted.
    RevocationListRefused {
        /// The file.
        path: PathBuf,
        /// Why.
        error: String,
    },
    /// `[revocation] list` is past its next update (a warning: see the module's text).
    RevocationListStale {
        /// The file.
        path: PathBuf,
        /// Its version.
        version: u64,
        /// Whether logins are refused meanwhile (`stale = "refuse"`).
        refused: bool,
    },
    /// A configured group the name service does not know (a warning).
    GroupMissing {
        /// The configuration key (`daemon.admin_group`, `daemon.manager_group`).
        key: &'static str,
        /// The group.
        group: String,
    },
    /// A configured group the name service could not look up (a warning).
    GroupLookupFailed {
        /// The configuration key.
        key: &'static str,
        /// The group.
        group: String,
        /// Why.
        error: String,
    },
    /// An `[operators]` user the name service does not know (a warning).
    OperatorUserMissing {
        /// The operator ID.
        operator: String,
        /// The user name.
        user: String,
    },
    /// An `[operators]` user the name service could not look up (a warning).
    OperatorUserLookupFailed {
        /// The operator ID.
        operator: String,
        /// The user name.
        user: String,
        /// Why.
        error: String,
    },
    /// `[session] loginctl` is not an executable file.
    LoginctlUnusable {
        /// The program.
        path: PathBuf,
        /// Why.
        error: String,
    },
    /// A socket's directory cannot be created or written.
    SocketDirUnusable {
        /// The socket.
        socket: PathBuf,
        /// Why.
        error: String,
    },
    /// Something other than a socket is at a socket's path (binding would delete it).
    SocketPathTaken {
        /// The path.
        socket: PathBuf,
    },
    /// `[audit] syslog = true`: the `/dev/log` export it asked for is gone (a warning: records
    /// leave the terminal through rsyslog's imfile and RELP instead).
    SyslogExportGone,
}

impl Finding {
    /// Error or warning.
    pub fn severity(&self) -> Severity {
        match self {
            Finding::RevocationListStale { .. }
            | Finding::GroupMissing { .. }
            | Finding::GroupLookupFailed { .. }
            | Finding::OperatorUserMissing { .. }
            | Finding::OperatorUserLookupFailed { .. }
            | Finding::SyslogExportGone => Severity::Warning,
            _ => Severity::Error,
        }
    }

    /// What an administrator reads, in `lang`.
    pub fn message(&self, lang: Lang) -> String {
        let p = |p: &Path| p.display().to_string();
        match self {
            Finding::IssuerKeyUnreadable { path, error } => {
                tr!(
                    lang,
                    "daemon-issuer-key-unreadable",
                    path = p(path),
                    error = error.clone()
                )
            }
            Finding::IssuerKeyInvalid { path, error } => {
                tr!(
                    lang,
                    "daemon-issuer-key-invalid",
                    path = p(path),
                    error = error.clone()
                )
            }
            Finding::StateDirUnusable { path, error } => {
                tr!(
                    lang,
                    "daemon-state-dir-unusable",
                    path = p(path),
                    error = error.clone()
                )
            }
            Finding::StateFileBad { path, error } => {
                tr!(
                    lang,
                    "daemon-state-file-bad",
                    path = p(path),
                    error = error.clone()
                )
            }
            Finding::AuditNotInitialised { path } => {
                tr!(lang, "daemon-audit-not-initialised", path = p(path))
            }
            Finding::AuditUnusable { path, error } => {
                tr!(
                    lang,
                    "daemon-audit-unusable",
                    path = p(path),
                    error = error.clone()
                )
            }
            Finding::RevocationListUnreadable { path, error } => tr!(
                lang,
                "daemon-revocation-list-unreadable",
                path = p(path),
                error = error.clone()
            ),
            Finding::RevocationListRefused { path, error } => tr!(
                lang,
                "daemon-revocation-list-refused",
                path = p(path),
                error = error.clone()
            ),
            Finding::RevocationListStale {
                path,
                version,
                refused,
            } => {
                let id = if *refused {
                    "daemon-revocation-list-stale-refuse"
                } else {
                    "daemon-revocation-list-stale-warn"
                };
                tr!(lang, id, path = p(path), version = *version)
            }
            Finding::GroupMissing { key, group } => {
                tr!(
                    lang,
                    "daemon-group-missing",
                    key = *key,
                    group = group.clone()
                )
            }
            Finding::GroupLookupFailed { key, group, error } => tr!(
                lang,
                "daemon-group-lookup-failed",
                key = *key,
                group = group.clone(),
                error = error.clone()
            ),
            Finding::OperatorUserMissing { operator, user } => tr!(
                lang,
                "daemon-operator-user-missing",
                operator = operator.clone(),
                user = user.clone()
            ),
            Finding::OperatorUserLookupFailed {
                operator,
                user,
                error,
            } => tr!(
                lang,
                "daemon-operator-user-lookup-failed",
                operator = operator.clone(),
                user = user.clone(),
                error = error.clone()
            ),
            Finding::LoginctlUnusable { path, error } => {
                tr!(
                    lang,
                    "daemon-loginctl-unusable",
                    path = p(path),
                    error = error.clone()
                )
            }
            Finding::SocketDirUnusable { socket, error } => tr!(
                lang,
                "daemon-socket-dir-unusable",
                path = p(socket),
                error = error.clone()
            ),
            Finding::SocketPathTaken { socket } => {
                tr!(lang, "daemon-socket-path-taken", path = p(socket))
            }
            Finding::SyslogExportGone => tr!(lang, "daemon-syslog-export-gone"),
        }
    }
}

/// Does any finding stop the daemon?
pub fn has_errors(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.severity() == Severity::Error)
}

/// Everything the daemon's start needs, checked without writing anything. `now_unix` dates
/// the revocation list's staleness.
pub fn check(config: &Config, now_unix: i64) -> Vec<Finding> {
    let mut out = Vec::new();
    let issuer = issuer_key(config, &mut out);
    state_dir(config, &mut out);
    audit(config, &mut out);
    if config.audit.syslog {
        out.push(Finding::SyslogExportGone);
    }
    if let Some(issuer) = issuer {
        revocation_list(config, &issuer, now_unix, &mut out);
    }
    groups(config, &mut out);
    operators(config, &mut out);
    loginctl(&config.session.loginctl, &mut out);
    for socket in [&config.daemon.login_socket, &config.daemon.admin_socket] {
        socket_path(socket, &mut out);
    }
    out
}

fn issuer_key(config: &Config, out: &mut Vec<Finding>) -> Option<IssuerPublicKey> {
    let path = &config.issuer.public_key;
    let bytes = match cardgate_office::files::read_capped(path, MAX_ISSUER_KEY_BYTES) {
        Ok(b) => b,
        Err(e) => {
            out.push(Finding::IssuerKeyUnreadable {
                path: path.clone(),
                error: e.to_string(),
            });
            return None;
        }
    };
    let parsed = std::str::from_utf8(&bytes)
        .map_err(|_| "the file is not text".to_owned())
        .and_then(|text| IssuerPublicKey::from_hex(text).map_err(|e| e.to_string()));
    match parsed {
        Ok(key) => Some(key),
        Err(error) => {
            out.push(Finding::IssuerKeyInvalid {
                path: path.clone(),
                error,
            });
            None
        }
    }
}

/// Can the daemon write in `dir`, creating it first if it is missing? `Err` says why not.
fn writable_dir(dir: &Path) -> Result<(), String> {
    use nix::unistd::{access, AccessFlags};
    // The nearest directory that exists is the one that must take the new entries.
    let mut existing = dir;
    loop {
        match std::fs::metadata(existing) {
            Ok(m) if m.is_dir() => break,
            Ok(_) => return Err(format!("{} is not a directory", existing.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match existing.parent() {
                Some(parent) => existing = parent,
                None => return Err(e.to_string()),
            },
            Err(e) => return Err(format!("{}: {e}", existing.display())),
        }
    }
    // access(2) sees a read-only mount (ProtectSystem=strict) as well as the modes.
    access(existing, AccessFlags::W_OK | AccessFlags::X_OK).map_err(|errno| {
        if existing == dir {
            errno.desc().to_owned()
        } else {
            format!(
                "cannot be created in {}: {}",
                existing.display(),
                errno.desc()
            )
        }
    })
}

fn state_dir(config: &Config, out: &mut Vec<Finding>) {
    let dir = &config.daemon.state_dir;
    if let Err(error) = writable_dir(dir) {
        out.push(Finding::StateDirUnusable {
            path: dir.clone(),
            error,
        });
        return;
    }
    if let Err(e) = crate::engine::load_tracker(dir) {
        out.push(Finding::StateFileBad {
            path: dir.join(crate::engine::ACCEPTED_FILE),
            error: e.to_string(),
        });
    }
    if let Err(e) = crate::sessions::SessionTable::load(dir) {
        out.push(Finding::StateFileBad {
            path: dir.join(crate::sessions::SESSIONS_FILE),
            error: e.to_string(),
        });
    }
}

fn audit(config: &Config, out: &mut Vec<Finding>) {
    let dir = &config.audit.dir;
    if !dir.is_dir() {
        out.push(Finding::AuditNotInitialised { path: dir.clone() });
        return;
    }
    match AuditLog::probe(dir) {
        Ok(_) => {}
        Err(cardgate_audit::StoreError::NotInitialised(_)) => {
            out.push(Finding::AuditNotInitialised { path: dir.clone() });
            return;
        }
        Err(e) => {
            out.push(Finding::AuditUnusable {
                path: dir.clone(),
                error: e.to_string(),
            });
            return;
        }
    }
    if let Err(error) = writable_dir(dir) {
        out.push(Finding::AuditUnusable {
            path: dir.clone(),
            error,
        });
    }
}

fn revocation_list(
    config: &Config,
    issuer: &IssuerPublicKey,
    now_unix: i64,
    out: &mut Vec<Finding>,
) {
    let path = &config.revocation.list;
    let bytes = match crate::engine::read_capped(path) {
        Ok(b) => b,
        Err(e) => {
            out.push(Finding::RevocationListUnreadable {
                path: path.clone(),
                error: e.to_string(),
            });
            return;
        }
    };
    // The daemon's own test at start: verified, and not older than the version accepted
    // before (a broken `revocation.accepted` is reported by the state directory's check).
    let mut tracker = crate::engine::load_tracker(&config.daemon.state_dir)
        .unwrap_or_else(|_| cardgate_card::RevocationTracker::new());
    match tracker.accept(&bytes, issuer) {
        Ok(list) if list.is_stale(now_unix) => out.push(Finding::RevocationListStale {
            path: path.clone(),
            version: list.version(),
            refused: config.revocation.stale == StalePolicy::Refuse,
        }),
        Ok(_) => {}
        Err(e) => out.push(Finding::RevocationListRefused {
            path: path.clone(),
            error: e.to_string(),
        }),
    }
}

fn groups(config: &Config, out: &mut Vec<Finding>) {
    for (key, group) in [
        ("daemon.admin_group", &config.daemon.admin_group),
        ("daemon.manager_group", &config.daemon.manager_group),
    ] {
        match users::group_id(group) {
            Ok(Some(_)) => {}
            Ok(None) => out.push(Finding::GroupMissing {
                key,
                group: group.clone(),
            }),
            Err(e) => out.push(Finding::GroupLookupFailed {
                key,
                group: group.clone(),
                error: e.to_string(),
            }),
        }
    }
}

fn operators(config: &Config, out: &mut Vec<Finding>) {
    for (operator, user) in &config.operators {
        match users::user_exists(user) {
            Ok(true) => {}
            Ok(false) => out.push(Finding::OperatorUserMissing {
                operator: operator.clone(),
                user: user.clone(),
            }),
            Err(e) => out.push(Finding::OperatorUserLookupFailed {
                operator: operator.clone(),
                user: user.clone(),
                error: e.to_string(),
            }),
        }
    }
}

fn loginctl(path: &Path, out: &mut Vec<Finding>) {
    use nix::unistd::{access, AccessFlags};
    let problem = match std::fs::metadata(path) {
        Err(e) => Some(e.to_string()),
        Ok(m) if !m.is_file() => Some("not a file".to_owned()),
        Ok(_) => access(path, AccessFlags::X_OK)
            .err()
            .map(|errno| errno.desc().to_owned()),
    };
    if let Some(error) = problem {
        out.push(Finding::LoginctlUnusable {
            path: path.to_owned(),
            error,
        });
    }
}

fn socket_path(socket: &Path, out: &mut Vec<Finding>) {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(socket) {
        // A socket left by an earlier run is replaced; anything else would be deleted.
        Ok(m) if !m.file_type().is_socket() => {
            out.push(Finding::SocketPathTaken {
                socket: socket.to_owned(),
            });
            return;
        }
        _ => {}
    }
    let dir = socket.parent().unwrap_or(Path::new("/"));
    if let Err(error) = writable_dir(dir) {
        out.push(Finding::SocketDirUnusable {
            socket: socket.to_owned(),
            error,
        });
    }
}

/// `cardgated --check-config`: every finding on stderr, then the verdict. Returns the exit
/// status: 2 on any error, 0 otherwise (warnings included).
pub fn print(config_path: &Path, findings: &[Finding], lang: Lang) -> u8 {
    // As the unit's ExecStartPre=, standard error is the journal: the `<3>`/`<4>` prefixes
    // (sd-daemon.h's SD_ERR, SD_WARNING) make these lines errors and warnings there, so that
    // `journalctl -p err -u cardgated` shows why the daemon did not start.
    let journal = crate::logging::stderr_is_journal();
    for f in findings {
        let (label, prefix) = match f.severity() {
            Severity::Error => (tr!(lang, "daemon-check-error"), "<3>"),
            Severity::Warning => (tr!(lang, "daemon-check-warning"), "<4>"),
        };
        let prefix = if journal { prefix } else { "" };
        let text = f.message(lang).replace(['\n', '\r'], " ");
        eprintln!("{prefix}cardgated: {label}: {text}");
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity() == Severity::Error)
        .count();
    let path = config_path.display().to_string();
    if errors > 0 {
        eprintln!(
            "{}cardgated: {}",
            if journal { "<3>" } else { "" },
            tr!(lang, "daemon-check-failed", path = path, errors = errors)
        );
        2
    } else {
        eprintln!(
            "cardgated: {}",
            tr!(lang, "daemon-check-valid", path = path)
        );
        0
    }
}

/// The daemon's start: every finding in the log (errors at error level, warnings at warning
/// level); `false` when the daemon must not start.
pub fn log(config_path: &Path, findings: &[Finding], lang: Lang) -> bool {
    let mut errors = 0usize;
    for f in findings {
        match f.severity() {
            Severity::Error => {
                errors += 1;
                tracing::error!("{}", f.message(lang));
            }
            Severity::Warning => tracing::warn!("{}", f.message(lang)),
        }
    }
    if errors > 0 {
        tracing::error!(
            "{}",
            tr!(
                lang,
                "daemon-start-refused",
                path = config_path.display().to_string(),
                errors = errors
            )
        );
    }
    errors == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_finding() -> Vec<Finding> {
        let path = PathBuf::from("/etc/cardgate/x");
        let error = String::from("E-R-R");
        vec![
            Finding::IssuerKeyUnreadable {
                path: path.clone(),
                error: error.clone(),
            },
            Finding::IssuerKeyInvalid {
                path: path.clone(),
                error: error.clone(),
            },
            Finding::StateDirUnusable {
                path: path.clone(),
                error: error.clone(),
            },
            Finding::StateFileBad {
                path: path.clone(),
                error: error.clone(),
            },
            Finding::AuditNotInitialised { path: path.clone() },
            Finding::AuditUnusable {
                path: path.clone(),
                error: error.clone(),
            },
            Finding::RevocationListUnreadable {
                path: path.clone(),
                error: error.clone(),
            },
            Finding::RevocationListRefused {
                path: path.clone(),
                error: error.clone(),
            },
            Finding::RevocationListStale {
                path: path.clone(),
                version: 7,
                refused: true,
            },
            Finding::RevocationListStale {
                path: path.clone(),
                version: 7,
                refused: false,
            },
            Finding::GroupMissing {
                key: "daemon.admin_group",
                group: "g-r-p".into(),
            },
            Finding::GroupLookupFailed {
                key: "daemon.manager_group",
                group: "g-r-p".into(),
                error: error.clone(),
            },
            Finding::OperatorUserMissing {
                operator: "op-0042".into(),
                user: "u-s-r".into(),
            },
            Finding::OperatorUserLookupFailed {
                operator: "op-0042".into(),
                user: "u-s-r".into(),
                error: error.clone(),
            },
            Finding::LoginctlUnusable {
                path: path.clone(),
                error: error.clone(),
            },
            Finding::SocketDirUnusable {
                socket: path.clone(),
                error,
            },
            Finding::SocketPathTaken { socket: path },
            Finding::SyslogExportGone,
        ]
    }

    /// Every finding reads in both languages with all its arguments in place: the path, group,
    /// user or operator it names, and why.
    #[test]
    fn every_finding_names_what_it_is_about_in_both_languages() {
        for lang in Lang::ALL {
            for f in every_finding() {
                let text = f.message(lang);
                assert!(
                    !text.contains('{') && !text.starts_with("daemon-"),
                    "{f:?}: {text}"
                );
                let named = match &f {
                    Finding::GroupMissing { group, .. } => group.clone(),
                    Finding::GroupLookupFailed { group, .. } => group.clone(),
                    Finding::OperatorUserMissing { user, .. }
                    | Finding::OperatorUserLookupFailed { user, .. } => user.clone(),
                    Finding::SyslogExportGone => "[audit] syslog".into(),
                    _ => "/etc/cardgate/x".into(),
                };
                assert!(text.contains(&named), "{lang} {f:?}: {text}");
                if let Finding::GroupLookupFailed { error, .. }
                | Finding::OperatorUserLookupFailed { error, .. }
                | Finding::IssuerKeyUnreadable { error, .. } = &f
                {
                    assert!(text.contains(error.as_str()), "{lang} {f:?}: {text}");
                }
                if lang == Lang::Ja {
                    assert!(
                        text.chars().any(|c| ('\u{3040}'..='\u{30ff}').contains(&c)),
                        "not Japanese: {text}"
                    );
                }
            }
        }
    }

    #[test]
    fn only_what_opens_nothing_is_a_warning() {
        let warnings: Vec<Finding> = every_finding()
            .into_iter()
            .filter(|f| f.severity() == Severity::Warning)
            .collect();
        assert_eq!(warnings.len(), 7, "{warnings:?}");
        assert!(warnings.iter().all(|f| matches!(
            f,
            Finding::RevocationListStale { .. }
                | Finding::GroupMissing { .. }
                | Finding::GroupLookupFailed { .. }
                | Finding::OperatorUserMissing { .. }
                | Finding::OperatorUserLookupFailed { .. }
                | Finding::SyslogExportGone
        )));
        assert!(has_errors(&every_finding()));
        assert!(!has_errors(&warnings));
    }
}
