//! A site: terminals shipping their audit records to one collector over RELP, every part real
//! (issue 13).
//!
//! - The **collector** is a real `rsyslogd` with `imrelp`, running the collector configuration
//!   the package ships (`dist/rsyslog/cardgate-collector.conf`, only its root directory
//!   substituted) in a network and UTS namespace of its own (host name `collector`).
//! - Each **terminal** is an [`Office`] on a lab of its own ([`PcscLab::for_site`]: its own
//!   `pcscd`, vpcd readers, `cardgate-sim` card and `cardgated`), whose lab namespace is the
//!   terminal's network, joined to the collector by a veth pair (`10.13.<n>.2` on the
//!   terminal's `uplink`, `10.13.<n>.1` on the collector's `t<n>`), and its own `rsyslogd`
//!   with `imfile` + `omrelp` from the shipped terminal configuration
//!   (`dist/rsyslog/cardgate-terminal.conf`, only the collector's address and the audit
//!   directory substituted), in a UTS namespace whose host name is the terminal's: the name
//!   rsyslog sends and the collector files it under.
//!
//! Each rsyslogd gets a private main configuration that sets its work directory (imfile's
//! state, the action queue) and includes the shipped file, as Debian's `/etc/rsyslog.conf`
//! includes `/etc/rsyslog.d/*.conf`. The veths live only inside the site's namespaces, so
//! sites of tests running in parallel never see each other; everything is killed when the
//! [`Site`] drops (a failing test too), which takes the namespaces and links with it.

use crate::fixtures::{PIN, USER};
use crate::process::{guarded, kill_and_reap, signal_group, spawn, wait_exit};
use crate::{paths, CardProcess, Daemon, HarnessError, Office, PcscLab, TerminalSpec};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long records may take to reach the collector once it is up (omrelp retries a
/// suspended collector every `action.resumeInterval` seconds; the shipped value is 5).
pub const SHIP_LIMIT: Duration = Duration::from_secs(30);

/// The RELP port of the shipped configurations.
pub const RELP_PORT: u16 = 2514;

static NEXT_SITE: AtomicUsize = AtomicUsize::new(0);

fn io<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> HarnessError + 'p {
    move |source| HarnessError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// The shipped rsyslog configuration `name` (`cardgate-terminal.conf`, …).
fn shipped_config(name: &str) -> Result<String, HarnessError> {
    let path = paths::workspace_root().join("dist/rsyslog").join(name);
    std::fs::read_to_string(&path).map_err(io("cannot read the shipped configuration", &path))
}

/// Replaces `from` in `text`, which must contain it (a shipped file that lost the line the
/// harness substitutes is an error, not a silently different test).
fn substitute(text: &str, from: &str, to: &str, file: &str) -> Result<String, HarnessError> {
    if !text.contains(from) {
        return Err(HarnessError::CommandFailed {
            what: format!("substituting {from:?} in {file}"),
            detail: "not found in the shipped configuration".into(),
        });
    }
    Ok(text.replace(from, to))
}

/// The DNS domain of the TLS site's certificates.
const TLS_DOMAIN: &str = "site.test";

/// A test CA and the collector's certificate in `<dir>/certs`; returns that directory.
fn make_certificates(dir: &Path) -> Result<PathBuf, HarnessError> {
    paths::require_program("openssl", "openssl")?;
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).map_err(io("cannot create", &certs))?;
    let mut command = Command::new("openssl");
    command.current_dir(&certs).args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=cardgate test CA",
    ]);
    run(command, "openssl req -x509 (the test CA)")?;
    make_certificate(&certs, &format!("collector.{TLS_DOMAIN}"), "collector")?;
    Ok(certs)
}

/// A key and a certificate for `name` (CN and DNS name) signed by the test CA in `certs`,
/// as `<file>.key` and `<file>.pem`.
fn make_certificate(certs: &Path, name: &str, file: &str) -> Result<(), HarnessError> {
    let ext = certs.join(format!("{file}.ext"));
    std::fs::write(&ext, format!("subjectAltName=DNS:{name}\n"))
        .map_err(io("cannot write", &ext))?;
    let (key, csr, pem) = (
        format!("{file}.key"),
        format!("{file}.csr"),
        format!("{file}.pem"),
    );
    let mut command = Command::new("openssl");
    command.current_dir(certs).args([
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &key,
        "-out",
        &csr,
        "-subj",
        &format!("/CN={name}"),
    ]);
    run(command, "openssl req (a certificate request)")?;
    let ext = format!("{file}.ext");
    let mut command = Command::new("openssl");
    command.current_dir(certs).args([
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        &pem,
        "-days",
        "2",
        "-extfile",
        &ext,
    ]);
    run(command, "openssl x509 -req (signing)")
}

/// Runs `command` to its end; it must succeed.
fn run(mut command: Command, what: &str) -> Result<(), HarnessError> {
    let out = command.output().map_err(|source| HarnessError::Spawn {
        what: what.to_owned(),
        source,
    })?;
    if !out.status.success() {
        return Err(HarnessError::CommandFailed {
            what: what.to_owned(),
            detail: format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr)),
        });
    }
    Ok(())
}

/// `nsenter -t PID --net -- ARGS…`, run to its end.
fn in_net(pid: u32, args: &[&str]) -> Result<(), HarnessError> {
    let mut command = Command::new("nsenter");
    command
        .args(["-t", &pid.to_string(), "--net", "--"])
        .args(args);
    run(
        command,
        &format!("nsenter -t {pid} --net {}", args.join(" ")),
    )
}

/// A running `rsyslogd -n` of the site, with its files.
struct Rsyslogd {
    what: String,
    /// `nsenter` options and target: the namespaces it runs in.
    namespace: (u32, &'static [&'static str]),
    main_conf: PathBuf,
    pid_file: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Rsyslogd {
    fn start(&mut self) -> Result<(), HarnessError> {
        if self.child.is_some() {
            return Ok(());
        }
        let (pid, spaces) = self.namespace;
        let mut command = guarded("nsenter");
        command
            .args(["-t", &pid.to_string()])
            .args(spaces)
            .args(["--", "rsyslogd", "-n", "-f"])
            .arg(&self.main_conf)
            .arg("-i")
            .arg(&self.pid_file);
        self.child = Some(spawn(command, &self.what, &self.log)?);
        Ok(())
    }

    /// SIGTERM, as `systemctl stop rsyslog` does, and waits for it to end.
    fn stop(&mut self) -> Result<(), HarnessError> {
        if let Some(mut child) = self.child.take() {
            signal_group(child.id(), "TERM");
            if let Err(e) = wait_exit(&mut child, &self.what, Duration::from_secs(15)) {
                kill_and_reap(&mut child);
                return Err(e);
            }
        }
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_and_reap(&mut child);
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Rsyslogd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The site's collector: a real `rsyslogd` with `imrelp` in its own namespace.
pub struct Collector {
    /// RELP over TLS ([`Site::start_with_tls`]).
    tls: bool,
    rsyslogd: Rsyslogd,
    holder: Option<Child>,
    dir: PathBuf,
    root: PathBuf,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl Collector {
    fn start(dir: PathBuf, tls: bool) -> Result<Collector, HarnessError> {
        for (program, package) in [
            ("rsyslogd", "rsyslog"),
            ("ip", "iproute2"),
            ("nsenter", "util-linux"),
            ("unshare", "util-linux"),
        ] {
            paths::require_program(program, package)?;
        }
        for module in ["imrelp.so", "omrelp.so"] {
            if !Path::new("/usr/lib/x86_64-linux-gnu/rsyslog")
                .join(module)
                .is_file()
            {
                return Err(HarnessError::MissingProgram {
                    program: "rsyslog's RELP modules",
                    package: "rsyslog-relp",
                });
            }
        }
        let work = dir.join("work");
        let root = dir.join("terminals");
        std::fs::create_dir_all(&work).map_err(io("cannot create", &work))?;
        std::fs::create_dir_all(&root).map_err(io("cannot create", &root))?;
        let name = "cardgate-collector.conf";
        let conf = substitute(
            &shipped_config(name)?,
            "/var/log/cardgate/terminals",
            &root.to_string_lossy(),
            name,
        )?;
        let conf = substitute(
            &conf,
            "/var/log/cardgate/forged.log",
            &dir.join("forged.log").to_string_lossy(),
            name,
        )?;
        let conf = if tls {
            let certs = make_certificates(&dir)?;
            let line =
                r#"input(type="imrelp" port="2514" ruleset="cardgate_collect" maxDataSize="64k")"#;
            let with_tls = format!(
                r#"input(type="imrelp" port="2514" ruleset="cardgate_collect" maxDataSize="64k" tls="on" tls.caCert="{c}/ca.pem" tls.myCert="{c}/collector.pem" tls.myPrivKey="{c}/collector.key" tls.authMode="name" tls.permittedPeer=["*.{TLS_DOMAIN}"])"#,
                c = certs.display()
            );
            substitute(&conf, line, &with_tls, name)?
        } else {
            conf
        };
        // The collector's resolver: its own /etc/hosts (bind-mounted in its mount namespace),
        // a line per terminal as it joins, as a site's hosts file or reverse DNS names them.
        let hosts = dir.join("hosts");
        std::fs::write(&hosts, "127.0.0.1 localhost\n").map_err(io("cannot write", &hosts))?;
        let conf_path = dir.join(name);
        std::fs::write(&conf_path, conf).map_err(io("cannot write", &conf_path))?;
        let main_conf = dir.join("rsyslog.conf");
        std::fs::write(
            &main_conf,
            format!(
                "global(workDirectory=\"{}\")\ninclude(file=\"{}\")\n",
                work.display(),
                conf_path.display()
            ),
        )
        .map_err(io("cannot write", &main_conf))?;
        let mut command = guarded("unshare");
        command.args([
            "--net",
            "--uts",
            "--mount",
            "sh",
            "-c",
            &format!(
                "hostname collector && mount --bind {} /etc/hosts && ip link set lo up && echo ready && exec sleep infinity",
                hosts.display()
            ),
        ]);
        let holder = crate::process::start_holder(command, "the collector's namespace holder")?;
        let pid = holder.id();
        let mut collector = Collector {
            tls,
            rsyslogd: Rsyslogd {
                what: "the collector's rsyslogd".into(),
                namespace: (pid, &["--net", "--uts", "--mount"]),
                main_conf,
                pid_file: dir.join("rsyslogd.pid"),
                log: dir.join("rsyslogd.log"),
                child: None,
            },
            holder: Some(holder),
            dir,
            root,
        };
        collector.rsyslogd.start()?;
        collector.wait_listening()?;
        Ok(collector)
    }

    fn pid(&self) -> Result<u32, HarnessError> {
        self.holder
            .as_ref()
            .map(Child::id)
            .ok_or_else(|| HarnessError::CommandFailed {
                what: "the collector's namespace holder".into(),
                detail: "not running".into(),
            })
    }

    /// Waits until imrelp listens on [`RELP_PORT`] in the collector's namespace (`ss`).
    fn wait_listening(&mut self) -> Result<(), HarnessError> {
        let pid = self.pid()?.to_string();
        let start = Instant::now();
        loop {
            let out = Command::new("nsenter")
                .args(["-t", &pid, "--net", "--", "ss", "-Hltn"])
                .output()
                .map_err(|source| HarnessError::Spawn {
                    what: "ss".into(),
                    source,
                })?;
            let listing = String::from_utf8_lossy(&out.stdout);
            if listing.contains(&format!(":{RELP_PORT} ")) {
                return Ok(());
            }
            if let Some(child) = self.rsyslogd.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.rsyslogd.child = None;
                    return Err(HarnessError::CommandFailed {
                        what: "the collector's rsyslogd".into(),
                        detail: format!("exited with {status}: {}", self.rsyslogd.log_text()),
                    });
                }
            }
            if start.elapsed() > Duration::from_secs(15) {
                return Err(HarnessError::Timeout(format!(
                    "the collector's imrelp to listen ({})",
                    self.rsyslogd.log_text()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Names `address` `host` in the collector's resolver (its `/etc/hosts`), rewritten in
    /// place (the bind mount follows the inode).
    pub fn name_host(&self, address: &str, host: &str) -> Result<(), HarnessError> {
        let hosts = self.dir.join("hosts");
        let mut text = std::fs::read_to_string(&hosts).map_err(io("cannot read", &hosts))?;
        text.push_str(&format!("{address} {host}\n"));
        std::fs::write(&hosts, text).map_err(io("cannot write", &hosts))
    }

    /// What the collector filed as forged: lines whose host name was not their sender's.
    pub fn forged(&self) -> String {
        std::fs::read_to_string(self.dir.join("forged.log")).unwrap_or_default()
    }

    /// The collector's root: `<root>/<host>/*.jsonl`, as the contract says.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The collector's own files (configuration, rsyslog's log and work directory).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops the collector's rsyslogd with SIGTERM and waits for it to end.
    pub fn stop(&mut self) -> Result<(), HarnessError> {
        self.rsyslogd.stop()
    }

    /// Kills the collector's rsyslogd (SIGKILL: a crash).
    pub fn kill(&mut self) {
        self.rsyslogd.kill();
    }

    /// Starts the collector's rsyslogd (again) and waits until it listens.
    pub fn start_again(&mut self) -> Result<(), HarnessError> {
        self.rsyslogd.start()?;
        self.wait_listening()
    }

    /// What the collector's rsyslogd said on its standard error (all its runs).
    pub fn log_text(&self) -> String {
        self.rsyslogd.log_text()
    }

    /// The files the collector holds for `host`, in name order (the arrival stream).
    pub fn files(&self, host: &str) -> Vec<PathBuf> {
        let dir = self.root.join(host);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }

    /// Every line the collector holds for `host`, in arrival order, each without its `\n`;
    /// panics on a line that is not ended by `\n` or not UTF-8 (the contract says neither
    /// happens).
    pub fn lines(&self, host: &str) -> Vec<String> {
        let mut lines = Vec::new();
        for file in self.files(host) {
            let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let text = String::from_utf8(bytes)
                .unwrap_or_else(|e| panic!("{}: not UTF-8: {e}", file.display()));
            if !text.is_empty() {
                assert!(text.ends_with('\n'), "{}: a torn last line", file.display());
            }
            lines.extend(text.lines().map(str::to_owned));
        }
        lines
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.rsyslogd.kill();
        if let Some(mut holder) = self.holder.take() {
            kill_and_reap(&mut holder);
        }
        let keep = std::env::var_os("CARDGATE_LAB_KEEP").is_some_and(|v| v == "1");
        if !keep {
            // Best effort: a leftover directory in $TMPDIR harms no later test.
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// One terminal of the site: an office (lab, pcscd, card, `cardgated`) and its rsyslogd.
pub struct SiteTerminal {
    /// Its host name (what rsyslog sends, the collector's directory) and terminal ID.
    pub host: String,
    /// The operator whose card is in its reader (logging in as [`USER`] with [`PIN`]).
    pub operator: String,
    /// Its address on the link to the collector.
    pub address: String,
    /// The collector's address on that link (what its rsyslog sends to).
    pub collector_address: String,
    daemon: Option<Daemon>,
    cards: Vec<CardProcess>,
    rsyslogd: Rsyslogd,
    host_holder: Option<Child>,
    /// The office: lab, configuration, audit log, `cardgatectl`.
    pub office: Office,
    /// rsyslog's work directory (imfile's state file, the action queue).
    pub rsyslog_work: PathBuf,
}

impl std::fmt::Debug for SiteTerminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteTerminal")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl SiteTerminal {
    fn start(
        n: usize,
        host: &str,
        operator: &str,
        collector: &Collector,
        extra: &str,
    ) -> Result<SiteTerminal, HarnessError> {
        let lab = PcscLab::for_site(2)?;
        let office = Office::new(
            lab,
            &[TerminalSpec { id: host, slot: 0 }],
            &[(operator, USER)],
            extra,
        )?;
        let lab_pid = office.lab.namespace_pid()?;
        // The terminal's host: its own UTS namespace inside the lab's network namespace.
        let mut command = guarded("nsenter");
        command.args([
            "-t",
            &lab_pid.to_string(),
            "--net",
            "--",
            "unshare",
            "--uts",
            "sh",
            "-c",
            &format!("hostname {host} && echo ready && exec sleep infinity"),
        ]);
        let host_holder =
            crate::process::start_holder(command, &format!("the namespace of terminal {host}"))?;
        let host_pid = host_holder.id();
        // The link: created inside the collector's namespace, its peer moved into the
        // terminal's, so no name is ever seen in the host's namespace.
        let collector_pid = collector.pid()?;
        let side = format!("t{n}");
        let collector_address = format!("10.13.{n}.1");
        let address = format!("10.13.{n}.2");
        in_net(
            collector_pid,
            &[
                "ip",
                "link",
                "add",
                &side,
                "type",
                "veth",
                "peer",
                "name",
                "uplink",
                "netns",
                &lab_pid.to_string(),
            ],
        )?;
        in_net(
            collector_pid,
            &[
                "ip",
                "addr",
                "add",
                &format!("{collector_address}/24"),
                "dev",
                &side,
            ],
        )?;
        in_net(collector_pid, &["ip", "link", "set", &side, "up"])?;
        in_net(
            lab_pid,
            &[
                "ip",
                "addr",
                "add",
                &format!("{address}/24"),
                "dev",
                "uplink",
            ],
        )?;
        in_net(lab_pid, &["ip", "link", "set", "uplink", "up"])?;
        collector.name_host(&address, host)?;

        let dir = office.dir.join("rsyslog");
        let work = dir.join("work");
        std::fs::create_dir_all(&work).map_err(io("cannot create", &work))?;
        let name = "cardgate-terminal.conf";
        let conf = shipped_config(name)?;
        let conf = substitute(
            &conf,
            "/var/lib/cardgate/audit",
            &office.dir.join("audit").to_string_lossy(),
            name,
        )?;
        let conf = substitute(&conf, "CARDGATE_COLLECTOR", &collector_address, name)?;
        let conf = if collector.tls {
            let certs = collector.dir.join("certs");
            make_certificate(&certs, &format!("{host}.{TLS_DOMAIN}"), host)?;
            let with_tls = format!(
                r#"template="cardgate_relp" tls="on" tls.caCert="{c}/ca.pem" tls.myCert="{c}/{host}.pem" tls.myPrivKey="{c}/{host}.key" tls.authMode="name" tls.permittedPeer=["collector.{TLS_DOMAIN}"]"#,
                c = certs.display()
            );
            substitute(&conf, r#"template="cardgate_relp""#, &with_tls, name)?
        } else {
            conf
        };
        let conf_path = dir.join(name);
        std::fs::write(&conf_path, conf).map_err(io("cannot write", &conf_path))?;
        let main_conf = dir.join("rsyslog.conf");
        std::fs::write(
            &main_conf,
            format!(
                "global(workDirectory=\"{}\")\ninclude(file=\"{}\")\n",
                work.display(),
                conf_path.display()
            ),
        )
        .map_err(io("cannot write", &main_conf))?;
        let mut terminal = SiteTerminal {
            host: host.to_owned(),
            operator: operator.to_owned(),
            address,
            collector_address: collector_address.clone(),
            daemon: None,
            cards: Vec::new(),
            rsyslogd: Rsyslogd {
                what: format!("rsyslogd of terminal {host}"),
                namespace: (host_pid, &["--net", "--uts"]),
                main_conf,
                pid_file: dir.join("rsyslogd.pid"),
                log: dir.join("rsyslogd.log"),
                child: None,
            },
            host_holder: Some(host_holder),
            office,
            rsyslog_work: work,
        };
        let card = terminal.office.personalised_card(operator, PIN)?;
        let served = terminal.office.lab.serve_card(0, &card, None)?;
        terminal.cards.push(served);
        terminal.office.lab.wait_for_card_seen(0)?;
        terminal.daemon = Some(terminal.office.start_daemon()?);
        terminal.rsyslogd.start()?;
        Ok(terminal)
    }

    /// Starts, in this terminal's namespaces, a second rsyslogd of the shipped terminal
    /// configuration that claims to be `claimed` (`global(localHostName=…)`) and ships `lines`
    /// (a file of their own) to the collector: a machine on the LAN forging another
    /// terminal's name. It runs until the returned handle drops.
    pub fn forge_as(&self, claimed: &str, lines: &[&str]) -> Result<Forger, HarnessError> {
        let dir = self.office.dir.join(format!("forge-{claimed}"));
        let spool = dir.join("spool");
        let work = dir.join("work");
        for d in [&spool, &work] {
            std::fs::create_dir_all(d).map_err(io("cannot create", d))?;
        }
        let segment = spool.join("audit-00000001.jsonl");
        let mut text = lines.join("\n");
        text.push('\n');
        std::fs::write(&segment, text).map_err(io("cannot write", &segment))?;
        let name = "cardgate-terminal.conf";
        let conf = substitute(
            &shipped_config(name)?,
            "/var/lib/cardgate/audit",
            &spool.to_string_lossy(),
            name,
        )?;
        let conf = substitute(&conf, "CARDGATE_COLLECTOR", &self.collector_address, name)?;
        let conf_path = dir.join(name);
        std::fs::write(&conf_path, conf).map_err(io("cannot write", &conf_path))?;
        let main_conf = dir.join("rsyslog.conf");
        std::fs::write(
            &main_conf,
            format!(
                "global(workDirectory=\"{}\" localHostName=\"{claimed}\")\ninclude(file=\"{}\")\n",
                work.display(),
                conf_path.display()
            ),
        )
        .map_err(io("cannot write", &main_conf))?;
        let mut rsyslogd = Rsyslogd {
            what: format!("a forging rsyslogd on {} claiming {claimed}", self.host),
            namespace: (self.rsyslogd.namespace.0, &["--net", "--uts"]),
            main_conf,
            pid_file: dir.join("rsyslogd.pid"),
            log: dir.join("rsyslogd.log"),
            child: None,
        };
        rsyslogd.start()?;
        Ok(Forger {
            _rsyslogd: rsyslogd,
        })
    }

    /// `cardgatectl --config … ARGS` on this terminal (against its pcscd, in English), with
    /// `CARDGATE_RSYSLOG_DIR` set to `rsyslog_dir` (this terminal's rsyslog work directory
    /// when `None`): for `status`, which reads imfile's state there.
    pub fn ctl_with_rsyslog_dir(
        &self,
        args: &[&str],
        rsyslog_dir: Option<&Path>,
    ) -> Result<std::process::Output, HarnessError> {
        paths::cardgatectl(&self.office.config)?
            .args(args)
            .env("PCSCLITE_CSOCK_NAME", self.office.lab.client_socket())
            .env(
                "CARDGATE_RSYSLOG_DIR",
                rsyslog_dir.unwrap_or(&self.rsyslog_work),
            )
            .stdin(Stdio::null())
            .output()
            .map_err(|source| HarnessError::Spawn {
                what: "cardgatectl".into(),
                source,
            })
    }

    /// Takes the card out of slot 0 and puts in another card of its operator (PIN [`PIN`],
    /// signed by this terminal's issuer) with serial `serial`: the same operator with a
    /// second card.
    pub fn replace_card(&mut self, serial: [u8; 8]) -> Result<(), HarnessError> {
        let inserted = self.office.count("card_inserted");
        let removed = self.office.count("card_removed");
        for mut card in self.cards.drain(..) {
            card.kill();
        }
        // The daemon has seen it go (its record), before the next card comes.
        self.wait_for_record("card_removed", removed + 1)?;
        let request = cardgate_card::issue::IssueRequest {
            serial: cardgate_card::CardSerial(serial),
            operator_id: self.operator.clone(),
            role: cardgate_card::Role::Operator,
            valid_from: time::macros::date!(2020 - 01 - 01),
            valid_until: time::macros::date!(2099 - 12 - 31),
        };
        let pin = cardgate_card::Pin::parse(PIN).map_err(|_| HarnessError::BadSecret("PIN"))?;
        let puk = cardgate_card::Puk::parse(crate::fixtures::PUK)
            .map_err(|_| HarnessError::BadSecret("PUK"))?;
        let image = cardgate_sim::create_card(&self.office.issuer, &puk, &pin, &request)
            .map_err(HarnessError::CreateCard)?;
        let file = crate::SoftCardFile::from_image(&self.office.lab, "second", image)?;
        self.cards.push(self.office.lab.serve_card(0, &file, None)?);
        self.office.lab.wait_for_card_seen(0)?;
        self.wait_for_record("card_inserted", inserted + 1)
    }

    /// Waits until the terminal's log holds `count` records of `kind`.
    fn wait_for_record(&self, kind: &str, count: usize) -> Result<(), HarnessError> {
        let start = Instant::now();
        while self.office.count(kind) < count {
            if start.elapsed() > crate::LIMIT {
                return Err(HarnessError::Timeout(format!(
                    "{count} `{kind}` records in {}'s log",
                    self.host
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// The running daemon (`None` once stopped).
    pub fn daemon(&mut self) -> Option<&mut Daemon> {
        self.daemon.as_mut()
    }

    /// Stops `cardgated` (SIGTERM: it writes `daemon_stopped`).
    pub fn stop_daemon(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            daemon.stop();
        }
    }

    /// Starts `cardgated` again.
    pub fn start_daemon(&mut self) -> Result<(), HarnessError> {
        if self.daemon.is_none() {
            self.daemon = Some(self.office.start_daemon()?);
        }
        Ok(())
    }

    /// Stops the terminal's rsyslogd with SIGTERM (its queue is saved to disk).
    pub fn stop_rsyslogd(&mut self) -> Result<(), HarnessError> {
        self.rsyslogd.stop()
    }

    /// Starts the terminal's rsyslogd (again).
    pub fn start_rsyslogd(&mut self) -> Result<(), HarnessError> {
        self.rsyslogd.start()
    }

    /// Sends the whole log again, as docs/integration.md says to after a loss: stops the
    /// terminal's rsyslogd, removes imfile's state files, starts it (every segment is read
    /// from its start; the collector counts what it had as duplicates).
    pub fn reship_all(&mut self) -> Result<(), HarnessError> {
        self.rsyslogd.stop()?;
        let work = &self.rsyslog_work;
        for entry in std::fs::read_dir(work).map_err(io("cannot list", work))? {
            let entry = entry.map_err(io("cannot list", work))?;
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with("imfile-state:")
            {
                let path = entry.path();
                std::fs::remove_file(&path).map_err(io("cannot remove", &path))?;
            }
        }
        self.rsyslogd.start()
    }

    /// What the terminal's rsyslogd said on its standard error (all its runs).
    pub fn rsyslogd_log(&self) -> String {
        self.rsyslogd.log_text()
    }

    /// One whole login of [`USER`] with [`PIN`] on this terminal (`authenticate`, then
    /// `open_session` for `session`), then its logout (`close_session`).
    pub fn login_and_out(&self, session: &str) -> Result<(), HarnessError> {
        self.office.login(&self.host, USER, PIN, session)?;
        self.logout(session)
    }

    /// `close_session` of [`USER`]'s `session`.
    pub fn logout(&self, session: &str) -> Result<(), HarnessError> {
        let answer = self.office.ask(&format!(
            r#"{{"op":"close_session","user":"{USER}","session_id":"{session}"}}"#
        ))?;
        if answer["result"] != "granted" {
            return Err(HarnessError::CommandFailed {
                what: format!("close_session {session} on {}", self.host),
                detail: answer.to_string(),
            });
        }
        Ok(())
    }

    /// Every record line of the terminal's own log, in order, across its segments.
    pub fn local_lines(&self) -> Vec<String> {
        self.office.audit_lines()
    }

    /// Waits until every line of the terminal's log (as it is now) is at the collector;
    /// returns how long it took. Panics after [`SHIP_LIMIT`] with what is missing.
    pub fn wait_shipped(&self, collector: &Collector) -> Duration {
        let start = Instant::now();
        let local = self.local_lines();
        loop {
            let collected = collector.lines(&self.host);
            let have: std::collections::HashSet<&String> = collected.iter().collect();
            let missing: Vec<&String> = local.iter().filter(|l| !have.contains(l)).collect();
            if missing.is_empty() {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < SHIP_LIMIT,
                "{}: {} of {} records never reached the collector, the first {:?}\n\
                 terminal's rsyslogd: {}\ncollector's rsyslogd: {}",
                self.host,
                missing.len(),
                local.len(),
                missing.first(),
                self.rsyslogd.log_text(),
                collector.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SiteTerminal {
    fn drop(&mut self) {
        self.rsyslogd.kill();
        if let Some(mut holder) = self.host_holder.take() {
            kill_and_reap(&mut holder);
        }
        // The daemon, the cards and the office (lab) go with the fields, in that order.
    }
}

/// A forging rsyslogd ([`SiteTerminal::forge_as`]), killed when dropped.
pub struct Forger {
    _rsyslogd: Rsyslogd,
}

impl std::fmt::Debug for Forger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forger").finish_non_exhaustive()
    }
}

/// A site: [`SiteTerminal`]s shipping to one [`Collector`].
pub struct Site {
    /// The terminals, in the order of their host names as given.
    pub terminals: Vec<SiteTerminal>,
    /// The collector.
    pub collector: Collector,
}

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Site")
            .field("terminals", &self.terminals)
            .field("collector", &self.collector)
            .finish()
    }
}

impl Site {
    /// A collector and one terminal per host name, each its own terminal ID and its own
    /// operator (`op-0101`, `op-0102`, … = [`USER`]) with a card in slot 0, `cardgated`
    /// running, its rsyslogd shipping; `extra` appended to every terminal's `cardgated.toml`.
    pub fn start(hosts: &[&str], extra: &str) -> Result<Site, HarnessError> {
        let operators: Vec<String> = (0..hosts.len())
            .map(|i| format!("op-{:04}", 101 + i))
            .collect();
        let pairs: Vec<(&str, &str)> = hosts
            .iter()
            .zip(&operators)
            .map(|(h, o)| (*h, o.as_str()))
            .collect();
        Self::start_with(&pairs, extra)
    }

    /// [`Site::start`] with the operator of each terminal given: `(host, operator)`. The
    /// same operator on two terminals has a card in each, with the same serial (the serial
    /// is made from the operator's name; [`SiteTerminal::replace_card`] gives another).
    pub fn start_with(terminals: &[(&str, &str)], extra: &str) -> Result<Site, HarnessError> {
        Self::start_site(terminals, extra, false)
    }

    /// [`Site::start`] with RELP over TLS as docs/integration.md recommends where the LAN is
    /// not trusted: a test CA (`openssl`), the collector's certificate
    /// `collector.site.test` and one per terminal `<host>.site.test`; the collector's input
    /// permits `*.site.test`, each terminal's action permits only `collector.site.test`.
    pub fn start_with_tls(hosts: &[&str], extra: &str) -> Result<Site, HarnessError> {
        let operators: Vec<String> = (0..hosts.len())
            .map(|i| format!("op-{:04}", 101 + i))
            .collect();
        let pairs: Vec<(&str, &str)> = hosts
            .iter()
            .zip(&operators)
            .map(|(h, o)| (*h, o.as_str()))
            .collect();
        Self::start_site(&pairs, extra, true)
    }

    fn start_site(
        terminals: &[(&str, &str)],
        extra: &str,
        tls: bool,
    ) -> Result<Site, HarnessError> {
        if terminals.is_empty() || terminals.len() > 200 {
            return Err(HarnessError::ReaderCount(terminals.len()));
        }
        let n = NEXT_SITE.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("cardgate-site-{}-{n}", std::process::id()));
        // A leftover of an earlier process with this pid: stale, never ours.
        let _ = std::fs::remove_dir_all(&dir);
        let collector = Collector::start(dir, tls)?;
        let mut started = Vec::new();
        for (i, (host, operator)) in terminals.iter().enumerate() {
            started.push(SiteTerminal::start(
                i + 1,
                host,
                operator,
                &collector,
                extra,
            )?);
        }
        Ok(Site {
            terminals: started,
            collector,
        })
    }

    /// The terminal whose host name is `host`.
    pub fn terminal(&self, host: &str) -> &SiteTerminal {
        self.terminals
            .iter()
            .find(|t| t.host == host)
            .unwrap_or_else(|| panic!("no terminal {host} in the site"))
    }

    /// Waits until every terminal's log is at the collector (see
    /// [`SiteTerminal::wait_shipped`]); returns the longest wait.
    pub fn wait_all_shipped(&self) -> Duration {
        self.terminals
            .iter()
            .map(|t| t.wait_shipped(&self.collector))
            .max()
            .unwrap_or_default()
    }

    /// The access manager's keys on the collector, as the contract has them: a directory
    /// (mode 0700) with `<host>.k0` (mode 0600) holding each terminal's k(0) in hex and a
    /// newline. Written (again) from the terminals' current k(0) on each call; returns the
    /// directory.
    pub fn write_keys(&self) -> Result<PathBuf, HarnessError> {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let dir = self.collector.dir.join("keys");
        std::fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io("cannot chmod", &dir))?;
        for t in &self.terminals {
            let path = dir.join(format!("{}.k0", t.host));
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&path)
                .map_err(io("cannot write", &path))?;
            std::io::Write::write_all(
                &mut file,
                format!("{}\n", t.office.audit_key_hex).as_bytes(),
            )
            .map_err(io("cannot write", &path))?;
        }
        Ok(dir)
    }

    /// `cardgatectl ARGS` as the access manager runs it on the collector (English): its
    /// output.
    pub fn ctl(&self, args: &[&str]) -> Result<std::process::Output, HarnessError> {
        // The collector runs no cardgated: no configuration (a path that does not exist;
        // never the machine's own /etc/cardgate/cardgated.toml).
        paths::cardgatectl(&self.collector.dir.join("cardgated.toml"))?
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| HarnessError::Spawn {
                what: "cardgatectl".into(),
                source,
            })
    }

    /// `cardgatectl audit collected --root … --keys … --format json` with every terminal's
    /// current k(0) ([`Site::write_keys`]): its exit code and JSON (the contract's shape).
    pub fn collected(&self) -> Result<(Option<i32>, serde_json::Value), HarnessError> {
        self.collected_with(&[])
    }

    /// [`Site::collected`] with more options (`--now`, `--silent-after`, …).
    pub fn collected_with(
        &self,
        extra: &[&str],
    ) -> Result<(Option<i32>, serde_json::Value), HarnessError> {
        let keys = self.write_keys()?;
        let root = self.collector.root.to_string_lossy().into_owned();
        let keys = keys.to_string_lossy().into_owned();
        let mut args = vec![
            "audit",
            "collected",
            "--root",
            &root,
            "--keys",
            &keys,
            "--format",
            "json",
        ];
        args.extend(extra);
        let out = self.ctl(&args)?;
        let json =
            serde_json::from_slice(&out.stdout).map_err(|e| HarnessError::CommandFailed {
                what: "cardgatectl audit collected".into(),
                detail: format!(
                    "{e}: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            })?;
        Ok((out.status.code(), json))
    }

    /// `cardgatectl audit report --collected … --keys … --format json`: the review of every
    /// terminal at once; its exit code and JSON (`cardgate_audit::report::Report`).
    pub fn review(&self) -> Result<(Option<i32>, serde_json::Value), HarnessError> {
        let keys = self.write_keys()?;
        let root = self.collector.root.to_string_lossy().into_owned();
        let keys = keys.to_string_lossy().into_owned();
        let out = self.ctl(&[
            "audit",
            "report",
            "--collected",
            &root,
            "--keys",
            &keys,
            "--format",
            "json",
        ])?;
        let json =
            serde_json::from_slice(&out.stdout).map_err(|e| HarnessError::CommandFailed {
                what: "cardgatectl audit report --collected".into(),
                detail: format!(
                    "{e}: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            })?;
        Ok((out.status.code(), json))
    }

    /// How many times each line arrived at the collector for `host`.
    pub fn arrivals(&self, host: &str) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for line in self.collector.lines(host) {
            *counts.entry(line).or_insert(0) += 1;
        }
        counts
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        // Terminals first (their rsyslogd, daemon, cards, lab), then the collector.
        self.terminals.clear();
    }
}
