//! A whole terminal office for end-to-end tests: a lab (private pcscd), an issuer key, an
//! audit log, a revocation list, a `cardgated.toml`, a stand-in `loginctl` that records what
//! it is asked, `cardgated` as its own process, and `cardgatectl` as the access manager runs
//! it, with the access manager's own card in a spare reader for issuing and unblocking
//! ([`Office::manager_reader`], [`Office::ctl_as_manager`]).
//!
//! This is the one office fixture: every real-stack test, the benches and the demo build
//! their office here. [`Office::standard`] is the office most tests want (terminal
//! [`TERMINAL`] on lab slot 0, [`OPERATOR`] logging in as [`USER`]); its names and secrets
//! are in [`crate::fixtures`].
//!
//! Two kinds of methods: set-up, processes and the `cardgatectl` and socket primitives return
//! [`HarnessError`] (the demo reports it; a test can look at a failure); the shortcuts for test
//! bodies (`authenticate`, `sessions`, `count`, `verify_audit`, …) panic with what went wrong,
//! which is what a test does with an error it does not expect.

use crate::fixtures::{
    MANAGER_ID, MANAGER_PIN, MANAGER_PUK, OPERATOR, OPERATOR_2, PIN, PUK, TERMINAL, TERMINAL_2,
    USER, USER_2,
};
use crate::{paths, CardProcess, HarnessError, PcscLab, SoftCardFile};
use cardgate_card::IssuerKey;
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long the daemon may take to start, a recorded call to appear, a state to settle.
pub const LIMIT: Duration = Duration::from_secs(20);

fn io<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> HarnessError + 'p {
    move |source| HarnessError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// One terminal of the office: its ID and the lab slot of its reader.
#[derive(Debug, Clone, Copy)]
pub struct TerminalSpec<'a> {
    /// The terminal ID.
    pub id: &'a str,
    /// The lab slot whose reader it uses.
    pub slot: usize,
}

/// The office: a lab and everything cardgated needs.
pub struct Office {
    /// The access manager's card, once served (declared first: it leaves the lab before the
    /// lab's pcscd goes).
    manager: std::sync::Mutex<Option<(CardProcess, String)>>,
    /// The lab slots the terminals use (the manager's card goes in another).
    terminal_slots: Vec<usize>,
    /// The private pcscd and its readers.
    pub lab: PcscLab,
    /// The office's directory (config, state, audit, issuer, sockets).
    pub dir: PathBuf,
    /// `cardgated.toml`.
    pub config: PathBuf,
    /// The issuer key (also in `dir/issuer/issuer.key`).
    pub issuer: IssuerKey,
    /// k(0), the audit log's verification key, as `audit init` printed it.
    pub audit_key_hex: String,
    /// Environment given to every `cardgatectl` and `cardgated` this office runs, its own
    /// set-up included (a shifted wall clock: libfaketime, see `crate::scripted`).
    env: Vec<(String, String)>,
}

impl std::fmt::Debug for Office {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Office")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Office {
    /// Sets up an office on `lab`: `terminals` map terminal IDs to lab slots, `operators` map
    /// operator IDs to local users, `extra` is appended to the configuration (sections such as
    /// `[rate_limit]`). The issuer key, audit log and an empty revocation list are made with
    /// `cardgatectl`, as an access manager would.
    pub fn new(
        lab: PcscLab,
        terminals: &[TerminalSpec],
        operators: &[(&str, &str)],
        extra: &str,
    ) -> Result<Office, HarnessError> {
        Self::with_setup(lab, terminals, operators, extra, |_| {})
    }

    /// [`Office::new`], with `env` (`NAME`, `value`) given to every `cardgatectl` and
    /// `cardgated` the office runs, from its own set-up on: the office lives by the clock
    /// that `env` gives them (libfaketime's `LD_PRELOAD`, say).
    pub fn with_env(
        lab: PcscLab,
        terminals: &[TerminalSpec],
        operators: &[(&str, &str)],
        extra: &str,
        env: Vec<(String, String)>,
    ) -> Result<Office, HarnessError> {
        Self::set_up(lab, terminals, operators, extra, |_| {}, env)
    }

    /// The standard office on `lab`: terminal [`TERMINAL`] on slot 0, operator [`OPERATOR`] =
    /// local user [`USER`], and `extra` configuration.
    pub fn standard(lab: PcscLab, extra: &str) -> Result<Office, HarnessError> {
        Self::new(
            lab,
            &[TerminalSpec {
                id: TERMINAL,
                slot: 0,
            }],
            &[(OPERATOR, USER)],
            extra,
        )
    }

    /// Two terminals on a lab of four readers: [`TERMINAL`] on slot 0 for [`OPERATOR`] =
    /// [`USER`], [`TERMINAL_2`] on slot 2 for [`OPERATOR_2`] = [`USER_2`].
    pub fn two_terminals(extra: &str) -> Result<Office, HarnessError> {
        Self::new(
            PcscLab::with_readers(4)?,
            &[
                TerminalSpec {
                    id: TERMINAL,
                    slot: 0,
                },
                TerminalSpec {
                    id: TERMINAL_2,
                    slot: 2,
                },
            ],
            &[(OPERATOR, USER), (OPERATOR_2, USER_2)],
            extra,
        )
    }

    /// [`Office::new`], with `before_init` run on the office directory before the audit log
    /// is made (to mount a small file system over `audit/`, say).
    pub fn with_setup(
        lab: PcscLab,
        terminals: &[TerminalSpec],
        operators: &[(&str, &str)],
        extra: &str,
        before_init: impl FnOnce(&Path),
    ) -> Result<Office, HarnessError> {
        Self::set_up(lab, terminals, operators, extra, before_init, Vec::new())
    }

    fn set_up(
        lab: PcscLab,
        terminals: &[TerminalSpec],
        operators: &[(&str, &str)],
        extra: &str,
        before_init: impl FnOnce(&Path),
        env: Vec<(String, String)>,
    ) -> Result<Office, HarnessError> {
        let dir = lab.work_dir().join("office");
        std::fs::create_dir_all(dir.join("state")).map_err(io("cannot create", &dir))?;
        std::fs::create_dir_all(dir.join("audit")).map_err(io("cannot create", &dir))?;
        let loginctl = dir.join("loginctl");
        // Records each call with a nanosecond time stamp: as given (`loginctl.raw`) and as
        // logind reads it, without the `--` (`loginctl.calls`). Control files in the office
        // directory make it fail (`loginctl.fail-VERB`, `loginctl.fail-VERB-ID`) or hang
        // (`loginctl.hang-VERB-ID`), as a real loginctl does when logind is wedged.
        //
        // `show-session -p … -- ID` answers what logind would, from the session's state
        // files, and is logged apart (`loginctl.shows`: it reads, it does not act). A session
        // is of type x11 with a screen locker that obeys `Lock` (`lock-session` sets its
        // LockedHint, `unlock-session` clears it), unless the test says otherwise: its type
        // in `loginctl.type-ID` (tty: no locker), `loginctl.nolocker-ID` (the hint is never
        // set), `loginctl.stays-ID` (`terminate-session` answers but the session stays
        // active), `loginctl.gone-ID` (logind knows no such session). `terminate-session`
        // leaves it closing, as logind does while its processes stop.
        let script = format!(
            "#!/bin/sh\nd={d}\n\
             if [ \"$1\" = show-session ]; then\n\
             for a; do id=$a; done\n\
             echo \"$(date +%s%N) show-session $id\" >> $d/loginctl.shows\n\
             [ -e \"$d/loginctl.hang-show-session-$id\" ] && exec sleep 600\n\
             if [ -e \"$d/loginctl.fail-show-session\" ] || [ -e \"$d/loginctl.fail-show-session-$id\" ]; then\n\
             echo \"Failed to get session path: Connection timed out\" >&2; exit 1; fi\n\
             if [ -e \"$d/loginctl.gone-$id\" ]; then\n\
             echo \"Failed to get session path: No session '$id' known\" >&2; exit 1; fi\n\
             type=x11; [ -e \"$d/loginctl.type-$id\" ] && type=$(cat \"$d/loginctl.type-$id\")\n\
             state=active; [ -e \"$d/loginctl.closing-$id\" ] && state=closing\n\
             hint=no; [ -e \"$d/loginctl.locked-$id\" ] && hint=yes\n\
             printf 'Type=%s\\nState=%s\\nLockedHint=%s\\n' \"$type\" \"$state\" \"$hint\"; exit 0; fi\n\
             echo \"$(date +%s%N) $*\" >> $d/loginctl.raw\n\
             verb=$1; shift; [ \"$1\" = \"--\" ] && shift\n\
             echo \"$(date +%s%N) $verb $*\" >> $d/loginctl.calls\n\
             [ -e \"$d/loginctl.hang-$verb-$1\" ] && exec sleep 600\n\
             if [ -e \"$d/loginctl.fail-$verb\" ] || [ -e \"$d/loginctl.fail-$verb-$1\" ]; then\n\
             echo \"Failed to issue method call: No session '$1' known.\" >&2; exit 1; fi\n\
             type=x11; [ -e \"$d/loginctl.type-$1\" ] && type=$(cat \"$d/loginctl.type-$1\")\n\
             case \"$verb:$type\" in\n\
             lock-session:x11|lock-session:wayland|lock-session:mir)\n\
             [ -e \"$d/loginctl.nolocker-$1\" ] || : > \"$d/loginctl.locked-$1\" ;;\n\
             unlock-session:*) rm -f \"$d/loginctl.locked-$1\" ;;\n\
             terminate-session:*) [ -e \"$d/loginctl.stays-$1\" ] || : > \"$d/loginctl.closing-$1\" ;;\n\
             esac\n",
            d = dir.display()
        );
        std::fs::write(&loginctl, script).map_err(io("cannot write", &loginctl))?;
        std::fs::set_permissions(
            &loginctl,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .map_err(io("cannot chmod", &loginctl))?;
        let mut text = format!(
            "[daemon]\nlogin_socket = \"{d}/login.sock\"\nadmin_socket = \"{d}/admin.sock\"\nstate_dir = \"{d}/state\"\n\
             [issuer]\npublic_key = \"{d}/issuer/issuer.pub\"\n[revocation]\nlist = \"{d}/state/revoked.crl\"\n\
             [audit]\ndir = \"{d}/audit\"\n[session]\nloginctl = \"{d}/loginctl\"\n{extra}\n",
            d = dir.display()
        );
        for t in terminals {
            let reader = lab
                .reader(t.slot)
                .ok_or(HarnessError::ReaderCount(t.slot + 1))?;
            text.push_str(&format!(
                "[[terminal]]\nid = \"{}\"\nreader = \"{reader}\"\n",
                t.id
            ));
        }
        text.push_str("[operators]\n");
        for (operator, user) in operators {
            text.push_str(&format!("\"{operator}\" = \"{user}\"\n"));
        }
        let config = dir.join("cardgated.toml");
        std::fs::write(&config, text).map_err(io("cannot write", &config))?;
        before_init(&dir);
        let mut office = Office {
            manager: std::sync::Mutex::new(None),
            terminal_slots: terminals.iter().map(|t| t.slot).collect(),
            lab,
            dir,
            config,
            issuer: crate::issuer_key()?,
            audit_key_hex: String::new(),
            env,
        };
        let d = office.dir.clone();
        let path = |p: &str| d.join(p).to_string_lossy().into_owned();
        office.ctl_ok(&["issuer", "init", "--dir", &path("issuer")], "")?;
        let init = office.ctl_ok(&["audit", "init", "--dir", &path("audit")], "")?;
        office.audit_key_hex = init.lines().last().unwrap_or_default().trim().to_owned();
        office.ctl_ok(
            &[
                "revocation",
                "refresh",
                "--issuer-dir",
                &path("issuer"),
                "--list",
                &path("state/revoked.crl"),
            ],
            "",
        )?;
        let key = d.join("issuer/issuer.key");
        let der = std::fs::read(&key).map_err(io("cannot read", &key))?;
        office.issuer = IssuerKey::from_pkcs8(&der).map_err(HarnessError::IssuerKey)?;
        Ok(office)
    }

    /// A path inside the office directory, as text for command lines.
    pub fn path(&self, relative: &str) -> String {
        self.dir.join(relative).to_string_lossy().into_owned()
    }

    /// Runs `cardgatectl --config … ARGS` with `stdin`, against the lab's pcscd.
    pub fn ctl(&self, args: &[&str], stdin: &str) -> Result<Output, HarnessError> {
        let mut child = paths::cardgatectl(&self.config)?
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("PCSCLITE_CSOCK_NAME", self.lab.client_socket())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| HarnessError::Spawn {
                what: "cardgatectl".into(),
                source,
            })?;
        if let Some(mut input) = child.stdin.take() {
            // A command that fails before it reads its input closes the pipe: its exit
            // status tells, not the write.
            let _ = input.write_all(stdin.as_bytes());
        }
        child
            .wait_with_output()
            .map_err(|source| HarnessError::Spawn {
                what: "cardgatectl".into(),
                source,
            })
    }

    /// [`Office::ctl`], which must succeed; returns its standard output.
    pub fn ctl_ok(&self, args: &[&str], stdin: &str) -> Result<String, HarnessError> {
        let out = self.ctl(args, stdin)?;
        if !out.status.success() {
            return Err(HarnessError::CommandFailed {
                what: format!("cardgatectl {}", args.join(" ")),
                detail: format!(
                    "{}: {}{}",
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The reader holding the access manager's card (role `manager`, holder [`MANAGER_ID`],
    /// PIN [`MANAGER_PIN`], signed by the office's issuer), which `cardgatectl card issue` and
    /// `card unblock` need. It is made and inserted on first use, into the lab's last slot
    /// that no terminal uses, and stays in until the office goes.
    pub fn manager_reader(&self) -> Result<String, HarnessError> {
        let mut manager = self
            .manager
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, reader)) = manager.as_ref() {
            return Ok(reader.clone());
        }
        let readers = self.lab.readers().len();
        let slot = (0..readers)
            .rev()
            .find(|s| !self.terminal_slots.contains(s))
            .ok_or(HarnessError::ReaderCount(readers + 1))?;
        let request = cardgate_card::issue::IssueRequest {
            serial: cardgate_card::CardSerial(*b"MGRCARD1"),
            operator_id: MANAGER_ID.to_owned(),
            role: cardgate_card::Role::AccessManager,
            valid_from: time::macros::date!(2020 - 01 - 01),
            valid_until: time::macros::date!(2099 - 12 - 31),
        };
        let pin =
            cardgate_card::Pin::parse(MANAGER_PIN).map_err(|_| HarnessError::BadSecret("PIN"))?;
        let puk =
            cardgate_card::Puk::parse(MANAGER_PUK).map_err(|_| HarnessError::BadSecret("PUK"))?;
        let image = cardgate_sim::create_card(&self.issuer, &puk, &pin, &request)
            .map_err(HarnessError::CreateCard)?;
        let file = SoftCardFile::from_image(&self.lab, "manager", image)?;
        let process = self.lab.serve_card(slot, &file, None)?;
        self.lab.wait_for_card(slot)?;
        let reader = self
            .lab
            .reader(slot)
            .ok_or(HarnessError::ReaderCount(slot + 1))?
            .to_owned();
        *manager = Some((process, reader.clone()));
        Ok(reader)
    }

    /// `cardgatectl card issue|unblock ARGS` as the access manager: `--manager-reader` with
    /// the office's manager card, whose PIN goes before `stdin` (the order the commands read).
    pub fn ctl_as_manager(&self, args: &[&str], stdin: &str) -> Result<Output, HarnessError> {
        let reader = self.manager_reader()?;
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["--manager-reader", &reader]);
        self.ctl(&full, &format!("{MANAGER_PIN}\n{stdin}"))
    }

    /// Starts `cardgated` on this office's configuration and waits for its login socket.
    pub fn start_daemon(&self) -> Result<Daemon, HarnessError> {
        self.start_daemon_in(&[])
    }

    /// [`Office::start_daemon`] through a wrapper: `wrapper[0] wrapper[1..] cardgated
    /// --config …` (`unshare --mount … sh -c '…; exec "$@"' sh`, say). The wrapper must
    /// `exec` the daemon, so that [`Daemon::pid`] is the daemon's.
    pub fn start_daemon_in(&self, wrapper: &[&str]) -> Result<Daemon, HarnessError> {
        self.spawn_daemon(wrapper, &self.config, &self.dir)
    }

    /// Another `cardgated` on this office's lab, with its own `config` whose login socket is
    /// `dir/login.sock` and whose log goes to `dir/cardgated.log`: a second terminal machine
    /// with its own state, sockets and audit log (`tests/src/terminal.rs`).
    pub fn start_daemon_with(&self, config: &Path, dir: &Path) -> Result<Daemon, HarnessError> {
        self.spawn_daemon(&[], config, dir)
    }

    fn spawn_daemon(
        &self,
        wrapper: &[&str],
        config: &Path,
        dir: &Path,
    ) -> Result<Daemon, HarnessError> {
        let program = paths::workspace_artifact("cardgated", "cardgate-sessiond")?;
        let log_path = dir.join("cardgated.log");
        // The log is appended to across restarts; this run's part starts here.
        let from = std::fs::metadata(&log_path)
            .map(|m| m.len() as usize)
            .unwrap_or(0);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io("cannot open", &log_path))?;
        let mut command = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(program);
                c
            }
            None => Command::new(program),
        };
        let child = command
            .arg("--config")
            .arg(config)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("PCSCLITE_CSOCK_NAME", self.lab.client_socket())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|source| HarnessError::Spawn {
                what: "cardgated".into(),
                source,
            })?;
        let mut daemon = Daemon {
            child: Some(child),
            log: log_path,
            from,
        };
        let socket = dir.join("login.sock");
        let start = Instant::now();
        // The socket file of a killed daemon stays behind: wait for this run's listener.
        while UnixStream::connect(&socket).is_err()
            || !daemon.log_text().contains("cardgated ready")
        {
            if start.elapsed() > LIMIT || daemon.has_exited() {
                return Err(HarnessError::CommandFailed {
                    what: "cardgated".into(),
                    detail: daemon.log_text(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(daemon)
    }

    /// The login socket.
    pub fn login_socket(&self) -> PathBuf {
        self.dir.join("login.sock")
    }

    /// The admin socket.
    pub fn admin_socket(&self) -> PathBuf {
        self.dir.join("admin.sock")
    }

    /// Sends one request line to a socket of the daemon and returns the answer.
    pub fn ask_on(socket: &Path, request: &str) -> Result<serde_json::Value, HarnessError> {
        let mut s = UnixStream::connect(socket).map_err(io("cannot connect to", socket))?;
        s.write_all(request.as_bytes())
            .map_err(io("cannot write to", socket))?;
        s.write_all(b"\n").map_err(io("cannot write to", socket))?;
        let mut out = Vec::new();
        s.read_to_end(&mut out)
            .map_err(io("cannot read from", socket))?;
        serde_json::from_slice(&out).map_err(|e| HarnessError::CommandFailed {
            what: "cardgated".into(),
            detail: format!("unreadable answer {:?}: {e}", String::from_utf8_lossy(&out)),
        })
    }

    /// Sends one request to the login socket.
    pub fn ask(&self, request: &str) -> Result<serde_json::Value, HarnessError> {
        Self::ask_on(&self.login_socket(), request)
    }

    /// The stand-in loginctl's calls, without their time stamps (`lock-session c1`, …).
    pub fn loginctl_calls(&self) -> Vec<String> {
        self.timed_loginctl_calls()
            .into_iter()
            .map(|(_, c)| c)
            .collect()
    }

    /// The stand-in loginctl's calls with their time (Unix nanoseconds).
    pub fn timed_loginctl_calls(&self) -> Vec<(u128, String)> {
        std::fs::read_to_string(self.dir.join("loginctl.calls"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (t, call) = l.split_once(' ')?;
                Some((t.parse().ok()?, call.to_owned()))
            })
            .collect()
    }

    /// The stand-in loginctl's calls exactly as given (`lock-session -- c1`, …).
    pub fn raw_loginctl_calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("loginctl.raw"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| Some(l.split_once(' ')?.1.to_owned()))
            .collect()
    }

    /// From now on the stand-in loginctl fails `verb` (`lock-session`, …) for `session` (or
    /// for every session when `None`); with `failing = false` it works again.
    pub fn loginctl_fails(&self, verb: &str, session: Option<&str>, failing: bool) {
        let name = match session {
            Some(id) => format!("loginctl.fail-{verb}-{id}"),
            None => format!("loginctl.fail-{verb}"),
        };
        self.set_control_file(&name, failing);
    }

    /// From now on the stand-in loginctl hangs on `verb` for `session`, as a loginctl whose
    /// logind does not answer.
    pub fn loginctl_hangs(&self, verb: &str, session: &str, hanging: bool) {
        self.set_control_file(&format!("loginctl.hang-{verb}-{session}"), hanging);
    }

    /// The stand-in logind's type for `session` (`tty`, `x11`, `wayland`, `unspecified`):
    /// what `show-session` answers from now on (x11 when never set).
    pub fn logind_session_type(&self, session: &str, session_type: &str) {
        let path = self.dir.join(format!("loginctl.type-{session}"));
        if let Err(e) = std::fs::write(&path, session_type) {
            panic!("cannot set {}: {e}", path.display());
        }
    }

    /// From now on `session`'s screen locker does not set LockedHint on a lock (none
    /// listens to `Lock`, or it failed).
    pub fn logind_no_locker(&self, session: &str, none: bool) {
        self.set_control_file(&format!("loginctl.nolocker-{session}"), none);
    }

    /// From now on `terminate-session` of `session` answers but the session stays active.
    pub fn logind_session_stays(&self, session: &str, stays: bool) {
        self.set_control_file(&format!("loginctl.stays-{session}"), stays);
    }

    /// How many times the daemon read `session` back (`loginctl show-session`).
    pub fn logind_reads(&self, session: &str) -> usize {
        std::fs::read_to_string(self.dir.join("loginctl.shows"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.split_whitespace().nth(2) == Some(session))
            .count()
    }

    fn set_control_file(&self, name: &str, present: bool) {
        let path = self.dir.join(name);
        let done = if present {
            std::fs::write(&path, b"")
        } else {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other,
            }
        };
        if let Err(e) = done {
            panic!("cannot set {}: {e}", path.display());
        }
    }

    /// Starts `cardgated` as if in another boot: its mount namespace sees `boot_id` in
    /// `/proc/sys/kernel/random/boot_id` (a bind mount, as root), as after a reboot.
    pub fn start_daemon_in_boot(&self, boot_id: &str) -> Result<Daemon, HarnessError> {
        let file = self.dir.join("boot_id");
        std::fs::write(&file, format!("{boot_id}\n")).map_err(io("cannot write", &file))?;
        self.start_daemon_in(&[
            "unshare",
            "-m",
            "sh",
            "-c",
            &format!(
                "mount --bind {} /proc/sys/kernel/random/boot_id && exec \"$0\" \"$@\"",
                file.display()
            ),
        ])
    }

    /// Waits until the stand-in loginctl was called with `call`.
    pub fn wait_for_call(&self, call: &str) -> Result<Duration, HarnessError> {
        let start = Instant::now();
        while !self.loginctl_calls().iter().any(|c| c == call) {
            if start.elapsed() > LIMIT {
                return Err(HarnessError::Timeout(format!(
                    "`loginctl {call}` (calls so far: {:?})",
                    self.loginctl_calls()
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(start.elapsed())
    }

    /// Every audit record line, in order, across the log's segments.
    pub fn audit_lines(&self) -> Vec<String> {
        cardgate_audit::segments::list_segments(&self.dir.join("audit"))
            .unwrap_or_default()
            .into_iter()
            .flat_map(|(_, p)| {
                std::fs::read_to_string(p)
                    .unwrap_or_default()
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// A card personalised for `operator` with `pin` and [`PUK`], signed by this office's
    /// issuer, written into the lab (not yet inserted).
    pub fn personalised_card(
        &self,
        operator: &str,
        pin: &str,
    ) -> Result<SoftCardFile, HarnessError> {
        SoftCardFile::personalised(&self.lab, &self.issuer, operator, pin, PUK)
    }

    /// `cardgatectl card issue` as the access manager: the blank card in `reader` is lent to
    /// `operator` with its transport `puk` and an `initial_pin`. Returns the card's serial.
    pub fn issue_card(
        &self,
        reader: &str,
        operator: &str,
        puk: &str,
        initial_pin: &str,
    ) -> Result<String, HarnessError> {
        self.issue_card_with(reader, operator, &format!("{puk}\n{initial_pin}\n"))
    }

    /// `cardgatectl card issue` with `stdin` as the secrets' lines.
    fn issue_card_with(
        &self,
        reader: &str,
        operator: &str,
        stdin: &str,
    ) -> Result<String, HarnessError> {
        let issuer = self.path("issuer");
        let args = [
            "card",
            "issue",
            "--reader",
            reader,
            "--operator",
            operator,
            "--issuer-dir",
            &issuer,
        ];
        let out = self.ctl_as_manager(&args, stdin)?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        // `issued card SERIAL to OPERATOR …`
        match stdout.split_whitespace().nth(2) {
            Some(serial) if out.status.success() && serial.len() == 16 => Ok(serial.to_owned()),
            _ => Err(HarnessError::CommandFailed {
                what: format!("cardgatectl {}", args.join(" ")),
                detail: format!(
                    "{}: {stdout}{}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                ),
            }),
        }
    }

    /// `cardgatectl card issue` of the factory-fresh OpenPGP card in `reader`: its factory
    /// admin PIN, then [`ADMIN_PIN`](crate::fixtures::ADMIN_PIN) as the new one, `puk` as its
    /// Reset Code and `initial_pin`. Returns the card's (cardgate) serial.
    pub fn issue_openpgp_card(
        &self,
        reader: &str,
        operator: &str,
        puk: &str,
        initial_pin: &str,
    ) -> Result<String, HarnessError> {
        self.issue_card_with(
            reader,
            operator,
            &format!(
                "{}\n{}\n{puk}\n{initial_pin}\n",
                crate::openpgp::FACTORY_PW3,
                crate::fixtures::ADMIN_PIN
            ),
        )
    }

    /// `cardgatectl card revoke SERIAL --reason REASON` with the office's issuer; its output.
    pub fn revoke_card(&self, serial: &str, reason: &str) -> Result<String, HarnessError> {
        let issuer = self.path("issuer");
        self.ctl_ok(
            &[
                "card",
                "revoke",
                serial,
                "--reason",
                reason,
                "--issuer-dir",
                &issuer,
                "--yes",
            ],
            "",
        )
    }

    /// A whole login on the login socket, as the PAM module makes it: `authenticate` with
    /// `pin`, then `open_session` for `session`; both must be granted.
    pub fn login(
        &self,
        terminal: &str,
        user: &str,
        pin: &str,
        session: &str,
    ) -> Result<(), HarnessError> {
        let requests = [
            format!(
                r#"{{"op":"authenticate","terminal":"{terminal}","user":"{user}","pin":"{pin}"}}"#
            ),
            format!(
                r#"{{"op":"open_session","terminal":"{terminal}","user":"{user}","session_id":"{session}"}}"#
            ),
        ];
        for (request, op) in requests.iter().zip(["authenticate", "open_session"]) {
            let answer = self.ask(request)?;
            if answer["result"] != "granted" {
                return Err(HarnessError::CommandFailed {
                    what: format!("{op} for {user} on {terminal}"),
                    detail: answer.to_string(),
                });
            }
        }
        Ok(())
    }

    /// [`OPERATOR`]'s card (PIN [`PIN`]) in slot 0's reader, `cardgated` started, [`USER`]
    /// logged in on [`TERMINAL`] and `session` open.
    pub fn with_open_session(
        self,
        session: &str,
    ) -> Result<(Office, CardProcess, Daemon), HarnessError> {
        let card = self.personalised_card(OPERATOR, PIN)?;
        let inserted = self.lab.insert_card(0, &card)?;
        let daemon = self.start_daemon()?;
        self.login(TERMINAL, USER, PIN, session)?;
        Ok((self, inserted, daemon))
    }

    /// `authenticate` on the login socket (panics if the daemon cannot be asked).
    pub fn authenticate(&self, terminal: &str, user: &str, pin: &str) -> Value {
        self.ask(&format!(
            r#"{{"op":"authenticate","terminal":"{terminal}","user":"{user}","pin":"{pin}"}}"#
        ))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `open_session` on the login socket (panics if the daemon cannot be asked).
    pub fn open_session(&self, terminal: &str, user: &str, session: &str) -> Value {
        self.ask(&format!(
            r#"{{"op":"open_session","terminal":"{terminal}","user":"{user}","session_id":"{session}"}}"#
        ))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// One request on the admin socket (panics if the daemon cannot be asked).
    pub fn admin(&self, request: &str) -> Value {
        Self::ask_on(&self.admin_socket(), request).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The sessions the daemon holds, as `(session_id, state)`.
    pub fn sessions(&self) -> Vec<(String, String)> {
        let answer = self.admin(r#"{"op":"sessions"}"#);
        answer["data"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer}"))
            .iter()
            .map(|s| {
                let field = |name: &str| {
                    s[name]
                        .as_str()
                        .unwrap_or_else(|| panic!("no {name} in {s}"))
                        .to_owned()
                };
                (field("session_id"), field("state"))
            })
            .collect()
    }

    /// The version of the revocation list in force, from `status` on the admin socket.
    pub fn list_version(&self) -> Option<u64> {
        self.admin(r#"{"op":"status"}"#)["data"]["revocation_list_version"].as_u64()
    }

    /// Waits until `session` is in `state` in the daemon's table (panics after [`LIMIT`]).
    pub fn wait_for_session_state(&self, session: &str, state: &str) {
        let start = Instant::now();
        loop {
            let sessions = self.sessions();
            if sessions.iter().any(|(id, s)| id == session && s == state) {
                return;
            }
            assert!(
                start.elapsed() < LIMIT,
                "session {session} never became {state}: {sessions:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The kinds of every audit record (`login_granted`, …, `seal`), in order, each line
    /// parsed strictly (panics on a line that does not parse).
    pub fn audit_kinds(&self) -> Vec<String> {
        let audit = self.dir.join("audit");
        let segments = cardgate_audit::segments::list_segments(&audit)
            .unwrap_or_else(|e| panic!("{}: {e}", audit.display()));
        let mut kinds = Vec::new();
        for (_, path) in segments {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            for line in text.lines() {
                let record = cardgate_audit::Record::parse(line.as_bytes())
                    .unwrap_or_else(|e| panic!("{}: {e}: {line}", path.display()));
                let event = serde_json::to_value(&record.event)
                    .unwrap_or_else(|e| panic!("{}: {e}: {line}", path.display()));
                kinds.push(event["kind"].as_str().unwrap_or("seal").to_owned());
            }
        }
        kinds
    }

    /// How many audit records are of `kind`.
    pub fn count(&self, kind: &str) -> usize {
        self.audit_kinds().iter().filter(|k| *k == kind).count()
    }

    /// `cardgatectl audit verify` with k(0), which must pass; its output.
    pub fn verify_audit(&self) -> String {
        self.ctl_ok(
            &[
                "audit",
                "verify",
                "--dir",
                &self.path("audit"),
                "--key",
                "-",
            ],
            &format!("{}\n", self.audit_key_hex),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }
}

/// The reason of a denial, or the result of anything else.
pub fn outcome(answer: &Value) -> String {
    answer["reason"]
        .as_str()
        .or(answer["result"].as_str())
        .unwrap_or("?")
        .to_owned()
}

/// Sends `signal` (`STOP`, `KILL`, …) to one process; panics if `kill` fails.
pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap_or_else(|e| panic!("kill -{signal} {pid}: {e}"));
    assert!(status.success(), "kill -{signal} {pid}");
}

/// A running `cardgated`. Dropping it stops it with SIGTERM.
#[derive(Debug)]
pub struct Daemon {
    child: Option<Child>,
    log: PathBuf,
    from: usize,
}

impl Daemon {
    /// Its process ID.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn has_exited(&mut self) -> bool {
        !self.is_running()
    }

    /// Is it still running?
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// What this run of the daemon logged.
    pub fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.get(self.from..).unwrap_or_default().to_owned()
    }

    /// Kills it with SIGKILL (a crash) and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops it with SIGTERM and waits.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}
