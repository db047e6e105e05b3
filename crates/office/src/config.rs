//! `cardgated.toml`: every key, its default, and its checks; the one parser and the one
//! reader of the file, for `cardgated`, `cardgatectl` and `cardgatectl audit` alike. See
//! `docs/configuration.md`.

use crate::hours::{BusinessHours, UTC_OFFSET_MINUTES};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where the daemon looks by default.
pub const DEFAULT_PATH: &str = "/etc/cardgate/cardgated.toml";
/// A configuration file larger than this is refused unread.
pub const MAX_CONFIG_BYTES: u64 = 256 * 1024;

/// Why the configuration was refused. The daemon does not start on any of these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration")]
    Read(#[source] std::io::Error),
    /// Over [`MAX_CONFIG_BYTES`].
    #[error("the configuration is {len} bytes, over the {MAX_CONFIG_BYTES}-byte limit")]
    TooLarge {
        /// Its size.
        len: u64,
    },
    /// Not valid TOML, an unknown key, or a wrong type.
    #[error("invalid configuration")]
    Parse(#[source] toml::de::Error),
    /// A socket that is not a local path: the daemon opens no TCP or UDP socket (art. 15, 17).
    #[error("{key} = {value:?} is not an absolute filesystem path; cardgated opens no network sockets (art. 15, 17)")]
    NetworkSocket {
        /// Which key.
        key: &'static str,
        /// What it said.
        value: String,
    },
    /// A relative path where an absolute one is needed.
    #[error("{key} must be an absolute path")]
    RelativePath {
        /// Which key.
        key: &'static str,
    },
    /// No terminals.
    #[error("at least one [[terminal]] is needed")]
    NoTerminals,
    /// Two terminals with one ID or one reader.
    #[error("terminal {0:?} is configured twice (by ID or by reader)")]
    DuplicateTerminal(String),
    /// Two operator IDs mapped to one user is allowed; one operator to two users is not.
    #[error("operator ID {0:?} is empty or too long")]
    BadOperatorId(String),
    /// Limits that make no sense.
    #[error("{0}")]
    BadValue(&'static str),
    /// A date that is not `YYYY-MM-DD`.
    #[error("{key}: {value:?} is not a date (YYYY-MM-DD)")]
    BadDate {
        /// Which key.
        key: &'static str,
        /// What it said.
        value: String,
    },
}

/// Why a configuration file was refused: the file, and what is wrong with it.
#[derive(Debug)]
pub struct LoadError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub error: ConfigError,
}

impl LoadError {
    /// The file is not there.
    pub fn is_not_found(&self) -> bool {
        matches!(&self.error, ConfigError::Read(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.error)
    }
}

impl std::error::Error for LoadError {
    // Display already says what `error` says; its cause comes next in a chain.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

/// What to do with a session when its card leaves the reader (art. 6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RemovalAction {
    /// `loginctl lock-session ID` (the default): the operator can come back with the card.
    #[default]
    Lock,
    /// `loginctl terminate-session ID`.
    End,
}

/// What to do when the revocation list is past its next-update time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StalePolicy {
    /// Refuse logins (the default): fail closed.
    #[default]
    Refuse,
    /// Log and audit a warning, and go on (like SSSD's `soft_crl`).
    Warn,
}

/// `[daemon]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonSection {
    /// The login socket, for the PAM module and `cardgatectl login`.
    pub login_socket: PathBuf,
    /// The admin socket: mode 0666 when `manager_group` exists (the daemon checks each
    /// caller's role), 0660 group `admin_group` when only that exists, 0600 otherwise.
    pub admin_socket: PathBuf,
    /// The system administrator's group: every admin request (see `manager_group`).
    pub admin_group: String,
    /// Where the daemon keeps its state (card register, accepted list version, …).
    pub state_dir: PathBuf,
    /// The largest request accepted on either socket, in bytes.
    pub max_request_bytes: usize,
    /// How long a client may take to send its whole request, in milliseconds.
    pub request_timeout_ms: u64,
    /// The longest silence from a client that has not sent its whole request yet (before its
    /// first byte included), in milliseconds: a connection that sends nothing is dropped
    /// this soon (or after `request_timeout_ms`, if that is shorter).
    pub idle_timeout_ms: u64,
    /// How many connections of uids other than root are served at once, per socket; more
    /// are refused at once ("busy"), never queued.
    pub max_connections: usize,
    /// How many of those one uid may hold at once.
    pub max_connections_per_uid: usize,
    /// Connections reserved for root (the login program's PAM stack), per socket: no other
    /// uid can take them.
    pub root_connections: usize,
    /// The terminal's legal time zone, as a UTC offset in minutes (JST: 540). Certificate
    /// validity dates and business hours are read in it.
    pub utc_offset_minutes: i16,
    /// The access manager's group (アクセス管理責任者): its members may, on the admin socket,
    /// record what the regulation gives that role (lending, return, revocation, PIN
    /// unblocking, notes of the registers; arts. 4, 5, 7, 19) and read the daemon's status,
    /// and read the audit log to review it, but nothing that is the system administrator's
    /// (`admin_group`). It must not be `admin_group`. See docs/configuration.md, "Roles".
    pub manager_group: String,
}

impl Default for DaemonSection {
    fn default() -> Self {
        DaemonSection {
            login_socket: "/run/cardgate/login.sock".into(),
            admin_socket: "/run/cardgate/admin.sock".into(),
            admin_group: "cardgate-admin".into(),
            state_dir: "/var/lib/cardgate".into(),
            max_request_bytes: 4096,
            request_timeout_ms: 1_000,
            idle_timeout_ms: 250,
            max_connections: 64,
            max_connections_per_uid: 4,
            root_connections: 16,
            utc_offset_minutes: 540,
            manager_group: "cardgate-manager".into(),
        }
    }
}

/// `[issuer]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IssuerSection {
    /// The access manager's public key (`issuer.pub`, 64 hex digits).
    pub public_key: PathBuf,
}

impl Default for IssuerSection {
    fn default() -> Self {
        IssuerSection {
            public_key: "/etc/cardgate/issuer.pub".into(),
        }
    }
}

/// `[revocation]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RevocationSection {
    /// The signed list, watched for new versions.
    pub list: PathBuf,
    /// What a stale list means.
    pub stale: StalePolicy,
}

impl Default for RevocationSection {
    fn default() -> Self {
        RevocationSection {
            list: "/var/lib/cardgate/revoked.crl".into(),
            stale: StalePolicy::Refuse,
        }
    }
}

/// `[audit]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSection {
    /// The audit log directory.
    pub dir: PathBuf,
    /// Seal after this many records.
    pub seal_every_records: u32,
    /// Seal after this many seconds.
    pub seal_every_seconds: u32,
    /// Append a `heartbeat` record when nothing was written for this many minutes (0: never),
    /// so that the site's collector can tell an idle terminal from one whose records stopped
    /// arriving (issue 13).
    pub heartbeat_minutes: u32,
    /// No longer used: the `/dev/log` datagram export is gone; records leave the terminal
    /// through rsyslog's `imfile` and RELP (docs/integration.md). Still read, so that an old
    /// configuration starts; `true` draws a warning at start and in `--check-config`.
    pub syslog: bool,
}

/// `[refusals]`: how many records the refusals made before any secret (no card, another's
/// card, a revoked card, outside hours, ...) may write. A repeat within the window, or one
/// over a budget, is counted instead, and the count recorded when the window ends.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RefusalsSection {
    /// The window, in seconds.
    pub window_seconds: u64,
    /// At most this many refusals per requesting uid and user are written per window.
    pub per_user: u32,
    /// At most this many refusals in all are written per window.
    pub total: u32,
}

impl Default for RefusalsSection {
    fn default() -> Self {
        RefusalsSection {
            window_seconds: 60,
            per_user: 20,
            total: 200,
        }
    }
}

impl Default for AuditSection {
    fn default() -> Self {
        AuditSection {
            dir: "/var/lib/cardgate/audit".into(),
            seal_every_records: 256,
            seal_every_seconds: 300,
            heartbeat_minutes: 15,
            syslog: false,
        }
    }
}

/// `[session]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSection {
    /// What card removal does (art. 6.2).
    pub on_removal: RemovalAction,
    /// Ask for the PIN again after a card has sat in the reader this long (0: never).
    pub reverify_after_seconds: u64,
    /// The `loginctl` program.
    pub loginctl: PathBuf,
    /// A `loginctl` call that takes longer than this is killed and counts as failed.
    pub action_timeout_ms: u64,
    /// Tries of one session action (lock, unlock, end) before it counts as failed.
    pub action_attempts: u32,
    /// After an end failed: the first wait before it is tried again, in milliseconds (it
    /// doubles at each failure, up to five minutes).
    pub action_retry_ms: u64,
    /// After `lock-session`, how long a graphical session's screen locker has to confirm the
    /// lock by setting logind's `LockedHint`, in milliseconds; a session whose locker does
    /// not is ended (a text console, which has no locker, is ended at once).
    pub lock_confirm_ms: u64,
}

impl Default for SessionSection {
    fn default() -> Self {
        SessionSection {
            on_removal: RemovalAction::Lock,
            reverify_after_seconds: 0,
            loginctl: "/usr/bin/loginctl".into(),
            action_timeout_ms: 5_000,
            action_attempts: 3,
            action_retry_ms: 5_000,
            lock_confirm_ms: 3_000,
        }
    }
}

/// `[rate_limit]`: on top of the card's own counter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSection {
    /// Wrong PINs allowed before back-off starts.
    pub free_failures: u32,
    /// First delay, in milliseconds; doubles with each further failure.
    pub base_delay_ms: u64,
    /// Longest delay.
    pub max_delay_ms: u64,
}

impl Default for RateLimitSection {
    fn default() -> Self {
        RateLimitSection {
            free_failures: 1,
            base_delay_ms: 2_000,
            max_delay_ms: 300_000,
        }
    }
}

/// `[[terminal]]`: one Juki-net terminal and its reader.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Terminal {
    /// The terminal's ID, as PAM passes it.
    pub id: String,
    /// The PC/SC reader name.
    pub reader: String,
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[daemon]`.
    #[serde(default)]
    pub daemon: DaemonSection,
    /// `[issuer]`.
    #[serde(default)]
    pub issuer: IssuerSection,
    /// `[revocation]`.
    #[serde(default)]
    pub revocation: RevocationSection,
    /// `[audit]`.
    #[serde(default)]
    pub audit: AuditSection,
    /// `[session]`.
    #[serde(default)]
    pub session: SessionSection,
    /// `[refusals]`.
    #[serde(default)]
    pub refusals: RefusalsSection,
    /// `[rate_limit]`.
    #[serde(default)]
    pub rate_limit: RateLimitSection,
    /// `[business_hours]`, optional.
    #[serde(default)]
    pub business_hours: Option<BusinessHours>,
    /// `[[terminal]]`.
    #[serde(default, rename = "terminal")]
    pub terminals: Vec<Terminal>,
    /// `[operators]`: operator ID → local user name (art. 5.3: a card is used only by the
    /// person it was lent to).
    #[serde(default)]
    pub operators: BTreeMap<String, String>,
    /// `[review]`: the thresholds of the access manager's review.
    #[serde(default)]
    pub review: ReviewSection,
    /// `[calendar]`: the office's days off, for the review.
    #[serde(default)]
    pub calendar: CalendarSection,
}

/// Most closed days `[calendar] closed_days` may list.
pub const MAX_CLOSED_DAYS: usize = 1000;

/// `[review]`: what the access manager's review calls a burst (the first sign of a found card
/// being tried): `*_count` events within `*_minutes`, per card and per terminal.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewSection {
    /// Wrong PINs that make a burst.
    pub failed_pin_burst_count: u32,
    /// Within this many minutes.
    pub failed_pin_burst_minutes: u32,
    /// Denied logins that make a burst.
    pub denial_burst_count: u32,
    /// Within this many minutes.
    pub denial_burst_minutes: u32,
}

impl Default for ReviewSection {
    /// Three wrong PINs within ten minutes; five denials within ten minutes.
    fn default() -> Self {
        ReviewSection {
            failed_pin_burst_count: 3,
            failed_pin_burst_minutes: 10,
            denial_burst_count: 5,
            denial_burst_minutes: 10,
        }
    }
}

/// `[calendar]`: the office's days off. National holidays are computed
/// ([`crate::calendar`]); the office adds its own.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CalendarSection {
    /// National holidays are days off (default true).
    pub national_holidays: bool,
    /// 29 December to 3 January is closed (default true).
    pub year_end_closure: bool,
    /// Other closed days, `YYYY-MM-DD` (at most [`MAX_CLOSED_DAYS`]).
    pub closed_days: Vec<String>,
}

impl Default for CalendarSection {
    fn default() -> Self {
        CalendarSection {
            national_holidays: true,
            year_end_closure: true,
            closed_days: Vec::new(),
        }
    }
}

fn parse_date(text: &str) -> Option<time::Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, format).ok()
}

impl CalendarSection {
    /// The calendar this section describes (checked when the configuration was parsed).
    pub fn office_calendar(&self) -> Result<crate::calendar::OfficeCalendar, ConfigError> {
        if self.closed_days.len() > MAX_CLOSED_DAYS {
            return Err(ConfigError::BadValue(
                "calendar.closed_days may list at most 1000 dates",
            ));
        }
        let closed_days = self
            .closed_days
            .iter()
            .map(|d| {
                parse_date(d).ok_or_else(|| ConfigError::BadDate {
                    key: "calendar.closed_days",
                    value: d.clone(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(crate::calendar::OfficeCalendar {
            national_holidays: self.national_holidays,
            year_end_closure: self.year_end_closure,
            closed_days,
        })
    }
}

fn local_path(key: &'static str, p: &Path) -> Result<(), ConfigError> {
    let text = p.to_string_lossy();
    let looks_networked = text.contains("://")
        || text.starts_with("tcp:")
        || text.starts_with("udp:")
        || text.parse::<std::net::SocketAddr>().is_ok()
        || text
            .rsplit_once(':')
            .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()));
    if looks_networked {
        return Err(ConfigError::NetworkSocket {
            key,
            value: text.into_owned(),
        });
    }
    if !p.is_absolute() {
        return Err(ConfigError::RelativePath { key });
    }
    Ok(())
}

/// A group name as `groupadd` accepts it (Debian's default `NAME_REGEX`, with upper case).
fn is_group_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

impl Config {
    /// Parses and checks a configuration text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(ConfigError::Parse)?;
        config.check()?;
        Ok(config)
    }

    /// Reads, parses and checks a configuration file; the error names the file.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        Self::read_and_parse(path).map_err(|error| LoadError {
            path: path.to_owned(),
            error,
        })
    }

    /// [`Config::load`], with `Ok(None)` when the file does not exist (a tool run where
    /// no daemon is configured, the access manager's review on another machine say).
    pub fn load_if_present(path: &Path) -> Result<Option<Self>, LoadError> {
        match Self::load(path) {
            Ok(c) => Ok(Some(c)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn read_and_parse(path: &Path) -> Result<Self, ConfigError> {
        use std::io::Read;
        let file = std::fs::File::open(path).map_err(ConfigError::Read)?;
        let len = file.metadata().map_err(ConfigError::Read)?.len();
        if len > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge { len });
        }
        let mut text = String::new();
        file.take(MAX_CONFIG_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(ConfigError::Read)?;
        if text.len() as u64 > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge {
                len: text.len() as u64,
            });
        }
        Self::parse(&text)
    }

    fn check(&self) -> Result<(), ConfigError> {
        local_path("daemon.login_socket", &self.daemon.login_socket)?;
        local_path("daemon.admin_socket", &self.daemon.admin_socket)?;
        local_path("daemon.state_dir", &self.daemon.state_dir)?;
        local_path("issuer.public_key", &self.issuer.public_key)?;
        local_path("revocation.list", &self.revocation.list)?;
        local_path("audit.dir", &self.audit.dir)?;
        local_path("session.loginctl", &self.session.loginctl)?;
        if self.terminals.is_empty() {
            return Err(ConfigError::NoTerminals);
        }
        let mut ids = std::collections::BTreeSet::new();
        let mut readers = std::collections::BTreeSet::new();
        for t in &self.terminals {
            if !ids.insert(&t.id) || !readers.insert(&t.reader) {
                return Err(ConfigError::DuplicateTerminal(t.id.clone()));
            }
        }
        for id in self.operators.keys() {
            if id.is_empty() || id.len() > cardgate_card::cert::MAX_OPERATOR_ID_LEN {
                return Err(ConfigError::BadOperatorId(id.clone()));
            }
        }
        if !(64..=65_536).contains(&self.daemon.max_request_bytes) {
            return Err(ConfigError::BadValue(
                "daemon.max_request_bytes must be 64..=65536",
            ));
        }
        if !(1..=30_000).contains(&self.daemon.request_timeout_ms) {
            return Err(ConfigError::BadValue(
                "daemon.request_timeout_ms must be 1..=30000",
            ));
        }
        if !(1..=30_000).contains(&self.daemon.idle_timeout_ms) {
            return Err(ConfigError::BadValue(
                "daemon.idle_timeout_ms must be 1..=30000",
            ));
        }
        if !(1..=1024).contains(&self.daemon.max_connections) {
            return Err(ConfigError::BadValue(
                "daemon.max_connections must be 1..=1024",
            ));
        }
        // A cap near the pool would let a handful of uids hold every non-root slot.
        if !(1..=64.min(self.daemon.max_connections)).contains(&self.daemon.max_connections_per_uid)
        {
            return Err(ConfigError::BadValue(
                "daemon.max_connections_per_uid must be 1..=64 and at most max_connections",
            ));
        }
        if !(1..=256).contains(&self.daemon.root_connections) {
            return Err(ConfigError::BadValue(
                "daemon.root_connections must be 1..=256",
            ));
        }
        if !(100..=60_000).contains(&self.session.action_timeout_ms)
            || !(1..=10).contains(&self.session.action_attempts)
            || !(100..=300_000).contains(&self.session.action_retry_ms)
        {
            return Err(ConfigError::BadValue(
                "session.action_timeout_ms must be within 100..=60000, session.action_attempts within 1..=10 and session.action_retry_ms within 100..=300000",
            ));
        }
        if !(100..=30_000).contains(&self.session.lock_confirm_ms) {
            return Err(ConfigError::BadValue(
                "session.lock_confirm_ms must be within 100..=30000",
            ));
        }
        if !(1..=86_400).contains(&self.refusals.window_seconds)
            || !(1..=10_000).contains(&self.refusals.per_user)
            || !(1..=100_000).contains(&self.refusals.total)
        {
            return Err(ConfigError::BadValue(
                "refusals.window_seconds must be within 1..=86400, refusals.per_user within 1..=10000 and refusals.total within 1..=100000",
            ));
        }
        if !UTC_OFFSET_MINUTES.contains(&self.daemon.utc_offset_minutes) {
            return Err(ConfigError::BadValue(
                "daemon.utc_offset_minutes must be within -720..=840",
            ));
        }
        if !is_group_name(&self.daemon.manager_group) || !is_group_name(&self.daemon.admin_group) {
            return Err(ConfigError::BadValue(
                "daemon.admin_group and daemon.manager_group must be group names (1 to 32 of a-z, A-Z, 0-9, '_', '-', '.', not starting with '-')",
            ));
        }
        // One group for both roles would give the access manager the administrator's rights
        // (and the administrator the manager's review without the separation art. 7 implies).
        if self.daemon.manager_group == self.daemon.admin_group {
            return Err(ConfigError::BadValue(
                "daemon.manager_group must differ from daemon.admin_group",
            ));
        }
        if self.rate_limit.base_delay_ms > self.rate_limit.max_delay_ms {
            return Err(ConfigError::BadValue(
                "rate_limit.base_delay_ms must not exceed max_delay_ms",
            ));
        }
        if self.audit.seal_every_records == 0 || self.audit.seal_every_seconds == 0 {
            return Err(ConfigError::BadValue(
                "audit.seal_every_records and seal_every_seconds must be positive",
            ));
        }
        let r = &self.review;
        if !(2..=1000).contains(&r.failed_pin_burst_count)
            || !(2..=1000).contains(&r.denial_burst_count)
            || !(1..=1440).contains(&r.failed_pin_burst_minutes)
            || !(1..=1440).contains(&r.denial_burst_minutes)
        {
            return Err(ConfigError::BadValue(
                "review.*_burst_count must be within 2..=1000 and review.*_burst_minutes within 1..=1440",
            ));
        }
        self.calendar.office_calendar()?;
        Ok(())
    }

    /// The terminal that uses a reader.
    pub fn terminal_for_reader(&self, reader: &str) -> Option<&Terminal> {
        self.terminals.iter().find(|t| t.reader == reader)
    }

    /// The terminal with an ID.
    pub fn terminal(&self, id: &str) -> Option<&Terminal> {
        self.terminals.iter().find(|t| t.id == id)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const MINIMAL: &str = r#"
[[terminal]]
id = "juki-01"
reader = "Virtual PCD 00 00"

[operators]
"op-0042" = "tanaka"
"#;

    #[test]
    fn minimal_config_takes_defaults() {
        let c = Config::parse(MINIMAL).unwrap();
        assert_eq!(c.session.on_removal, RemovalAction::Lock);
        assert_eq!(c.revocation.stale, StalePolicy::Refuse);
        assert_eq!(c.daemon.utc_offset_minutes, 540);
        assert_eq!(
            (
                c.daemon.request_timeout_ms,
                c.daemon.idle_timeout_ms,
                c.daemon.max_connections,
                c.daemon.max_connections_per_uid,
                c.daemon.root_connections
            ),
            (1_000, 250, 64, 4, 16)
        );
        assert_eq!(c.operators["op-0042"], "tanaka");
        assert_eq!(
            c.terminal_for_reader("Virtual PCD 00 00").unwrap().id,
            "juki-01"
        );
    }

    #[test]
    fn network_sockets_are_refused() {
        for value in [
            "127.0.0.1:9000",
            "tcp://0.0.0.0:1",
            "[::1]:22",
            "localhost:8080",
            "udp:514",
        ] {
            let text = format!("[daemon]\nlogin_socket = {value:?}\n{MINIMAL}");
            let err = Config::parse(&text).unwrap_err();
            assert!(
                matches!(err, ConfigError::NetworkSocket { .. }),
                "{value}: {err}"
            );
            assert!(err.to_string().contains("no network sockets"));
        }
        let text = format!("[daemon]\nlisten = \"0.0.0.0:80\"\n{MINIMAL}");
        assert!(matches!(
            Config::parse(&text).unwrap_err(),
            ConfigError::Parse(_)
        ));
    }

    #[test]
    fn bad_configs_are_refused_with_reasons() {
        assert!(matches!(
            Config::parse("").unwrap_err(),
            ConfigError::NoTerminals
        ));
        let dup = format!("{MINIMAL}\n[[terminal]]\nid = \"juki-01\"\nreader = \"other\"\n");
        assert!(matches!(
            Config::parse(&dup).unwrap_err(),
            ConfigError::DuplicateTerminal(_)
        ));
        let rel = format!("[audit]\ndir = \"audit\"\n{MINIMAL}");
        assert!(matches!(
            Config::parse(&rel).unwrap_err(),
            ConfigError::RelativePath { .. }
        ));
        let typo = format!("[session]\non_removal = \"explode\"\n{MINIMAL}");
        assert!(matches!(
            Config::parse(&typo).unwrap_err(),
            ConfigError::Parse(_)
        ));
        assert!(Config::parse("[[terminal]\n").is_err());
        for bad in [
            "max_connections_per_uid = 0",
            "max_connections_per_uid = 65",
            "max_connections = 2\nmax_connections_per_uid = 3",
            "root_connections = 0",
            "max_connections = 0",
            "idle_timeout_ms = 0",
            "idle_timeout_ms = 30001",
            "request_timeout_ms = 60000",
        ] {
            let text = format!("[daemon]\n{bad}\n{MINIMAL}");
            assert!(
                matches!(Config::parse(&text), Err(ConfigError::BadValue(_))),
                "{bad}"
            );
        }
        // A window that never opens is refused by the business-hours parser itself.
        let never = format!("[business_hours]\nstart = \"17:00\"\nend = \"08:30\"\n{MINIMAL}");
        let err = Config::parse(&never).unwrap_err();
        assert!(matches!(err, ConfigError::Parse(_)), "{err}");
        assert!(
            with_cause(&err).contains("17:00 must be before their end 08:30"),
            "{}",
            with_cause(&err)
        );
        for bad in ["lock_confirm_ms = 99", "lock_confirm_ms = 30001"] {
            let text = format!("[session]\n{bad}\n{MINIMAL}");
            assert!(
                matches!(Config::parse(&text), Err(ConfigError::BadValue(_))),
                "{bad}"
            );
        }
        let plus = format!("[business_hours]\nstart = \"+8:30\"\nend = \"17:15\"\n{MINIMAL}");
        assert!(matches!(Config::parse(&plus), Err(ConfigError::Parse(_))));
        let offset = format!("[daemon]\nutc_offset_minutes = 841\n{MINIMAL}");
        assert!(matches!(
            Config::parse(&offset),
            Err(ConfigError::BadValue(_))
        ));
    }

    /// The error and its cause, as a one-line printer shows them.
    fn with_cause(e: &dyn std::error::Error) -> String {
        match e.source() {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        }
    }

    #[test]
    fn load_names_the_file_in_every_error() {
        let dir = std::env::temp_dir().join(format!("cardgate-config-{}", std::process::id()));
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("{}: {e}", dir.display()),
        }
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cardgated.toml");
        let name = path.display().to_string();

        let missing = Config::load(&path).unwrap_err();
        assert!(missing.is_not_found());
        assert!(
            missing.to_string().starts_with(&format!("{name}: ")),
            "{missing}"
        );
        assert!(Config::load_if_present(&path).unwrap().is_none());

        std::fs::write(&path, "[[terminal]\n").unwrap();
        let bad = Config::load(&path).unwrap_err();
        assert!(matches!(bad.error, ConfigError::Parse(_)));
        assert!(
            bad.to_string()
                .starts_with(&format!("{name}: invalid configuration")),
            "{bad}"
        );
        // The chain goes on to TOML's own words (where in the file), once.
        let whole = with_cause(&bad);
        assert!(whole.contains("TOML parse error"), "{whole}");
        assert_eq!(whole.matches(&name).count(), 1, "{whole}");
        assert!(Config::load_if_present(&path).is_err());

        std::fs::write(&path, "").unwrap();
        let empty = Config::load(&path).unwrap_err();
        assert!(matches!(empty.error, ConfigError::NoTerminals));
        assert!(
            empty.to_string().starts_with(&format!("{name}: ")),
            "{empty}"
        );

        std::fs::write(&path, vec![b'#'; MAX_CONFIG_BYTES as usize + 1]).unwrap();
        let big = Config::load(&path).unwrap_err();
        assert!(matches!(big.error, ConfigError::TooLarge { .. }), "{big}");
        assert!(big.to_string().starts_with(&format!("{name}: ")), "{big}");

        std::fs::write(&path, MINIMAL).unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(config.audit.dir, PathBuf::from("/var/lib/cardgate/audit"));
        assert!(Config::load_if_present(&path).unwrap().is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_manager_group_has_a_default_must_be_a_name_and_must_not_be_the_admin_group() {
        let c = Config::parse(MINIMAL).unwrap();
        assert_eq!(c.daemon.manager_group, "cardgate-manager");
        assert_eq!(c.daemon.admin_group, "cardgate-admin");
        let set = |line: &str| Config::parse(&format!("[daemon]\n{line}\n{MINIMAL}"));
        assert_eq!(
            set("manager_group = \"juki-managers\"")
                .unwrap()
                .daemon
                .manager_group,
            "juki-managers"
        );
        for bad in [
            "\"\"",
            "\"-x\"",
            "\"a b\"",
            "\"a:b\"",
            &format!("{:?}", "m".repeat(33)),
        ] {
            let err = set(&format!("manager_group = {bad}")).unwrap_err();
            assert!(err.to_string().contains("manager_group"), "{bad}: {err}");
        }
        let same = set("manager_group = \"cardgate-admin\"").unwrap_err();
        assert!(same.to_string().contains("must differ"), "{same}");
        let same = set("admin_group = \"cardgate-manager\"").unwrap_err();
        assert!(same.to_string().contains("must differ"), "{same}");
    }

    #[test]
    fn review_and_calendar_take_defaults_and_are_checked() {
        let c = Config::parse(MINIMAL).unwrap();
        assert_eq!(c.review, ReviewSection::default());
        assert_eq!(c.review.failed_pin_burst_count, 3);
        let calendar = c.calendar.office_calendar().unwrap();
        assert_eq!(calendar, crate::calendar::OfficeCalendar::default());
        assert!(calendar.national_holidays && calendar.year_end_closure);
        let set = format!(
            "[review]\nfailed_pin_burst_count = 4\nfailed_pin_burst_minutes = 5\n[calendar]\nyear_end_closure = false\nclosed_days = [\"2026-08-14\", \"2026-08-13\"]\n{MINIMAL}"
        );
        let c = Config::parse(&set).unwrap();
        assert_eq!(c.review.failed_pin_burst_count, 4);
        assert_eq!(c.review.failed_pin_burst_minutes, 5);
        assert_eq!(c.review.denial_burst_count, 5);
        let calendar = c.calendar.office_calendar().unwrap();
        assert!(!calendar.year_end_closure);
        assert_eq!(
            calendar
                .closed_days
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["2026-08-13", "2026-08-14"]
        );
        for bad in [
            "[review]\nfailed_pin_burst_count = 1",
            "[review]\ndenial_burst_minutes = 0",
            "[review]\ndenial_burst_minutes = 1441",
        ] {
            let text = format!("{bad}\n{MINIMAL}");
            assert!(
                matches!(Config::parse(&text), Err(ConfigError::BadValue(_))),
                "{bad}"
            );
        }
        for bad in ["2026-02-30", "2026/08/14", "tomorrow"] {
            let text = format!("[calendar]\nclosed_days = [\"{bad}\"]\n{MINIMAL}");
            let err = Config::parse(&text).unwrap_err();
            assert!(
                matches!(&err, ConfigError::BadDate { value, .. } if value == bad),
                "{err}"
            );
            assert!(err.to_string().contains(bad), "{err}");
        }
        let many = (0..1001)
            .map(|i| format!("\"2026-01-01\"{}", if i < 1000 { "," } else { "" }))
            .collect::<String>();
        let text = format!("[calendar]\nclosed_days = [{many}]\n{MINIMAL}");
        assert!(matches!(
            Config::parse(&text),
            Err(ConfigError::BadValue(_))
        ));
        let typo = format!("[calendar]\nholidays = false\n{MINIMAL}");
        assert!(matches!(Config::parse(&typo), Err(ConfigError::Parse(_))));
    }

    // The example of docs/configuration.md is a configuration the daemon takes, new sections
    // included.
    #[test]
    fn the_documented_example_parses() {
        let doc = include_str!("../../../docs/configuration.md");
        let example = doc
            .rsplit_once("## Example")
            .and_then(|(_, rest)| rest.split_once("```toml\n"))
            .and_then(|(_, rest)| rest.split_once("```"))
            .map(|(toml, _)| toml)
            .unwrap();
        let c = Config::parse(example).unwrap();
        assert_eq!(c.review.failed_pin_burst_count, 3);
        assert_eq!(c.calendar.office_calendar().unwrap().closed_days.len(), 1);
    }
}
