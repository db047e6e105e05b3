//! A terminal office for the fault campaign and the load test: a lab (private pcscd), an issuer
//! key, an audit log and a revocation list made with `cardgatectl` as the access manager
//! would, a `cardgated.toml`, a stand-in `loginctl` that appends each call to a file, and
//! `cardgated` as its own process.

use cardgate_card::IssuerKey;
use cardgate_tests::{paths, PcscLab};
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long the daemon may take to start, a loginctl call to show, a state to settle.
pub const LIMIT: Duration = Duration::from_secs(20);
pub const PUK: &str = "Kitsune12345";
pub const PIN: &str = "Tanuki42x";

fn workspace_binary(name: &str, package: &str) -> PathBuf {
    let path = paths::profile_dir().unwrap().join(name);
    assert!(
        path.is_file(),
        "{} is missing: build it first with `cargo build -p {package} --bins` (`cargo xtask test` does)",
        path.display()
    );
    path
}

/// The office: a lab and everything `cardgated` needs around it.
pub struct Office {
    pub lab: PcscLab,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub issuer: IssuerKey,
    /// k(0), as `cardgatectl audit init` printed it.
    pub audit_key_hex: String,
}

/// One terminal: its ID and the lab slot of its reader.
pub struct TerminalSpec<'a> {
    pub id: &'a str,
    pub slot: usize,
}

impl Office {
    /// An office on `lab` with `terminals`, `operators` (operator ID → local user) and `extra`
    /// configuration text. `before_init` runs on the office directory before the audit log is
    /// made (to mount a small file system over `audit/`, say).
    pub fn with(
        lab: PcscLab,
        terminals: &[TerminalSpec<'_>],
        operators: &[(&str, &str)],
        extra: &str,
        before_init: impl FnOnce(&Path),
    ) -> Office {
        let dir = lab.work_dir().join("office");
        std::fs::create_dir_all(dir.join("state")).unwrap();
        std::fs::create_dir_all(dir.join("audit")).unwrap();
        let loginctl = dir.join("loginctl");
        std::fs::write(
            &loginctl,
            format!(
                "#!/bin/sh\necho \"$@\" >> {}\n",
                dir.join("loginctl.calls").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(
            &loginctl,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let mut text = format!(
            "[daemon]\nlogin_socket = \"{d}/login.sock\"\nadmin_socket = \"{d}/admin.sock\"\n\
             state_dir = \"{d}/state\"\n[issuer]\npublic_key = \"{d}/issuer/issuer.pub\"\n\
             [revocation]\nlist = \"{d}/state/revoked.crl\"\n[audit]\ndir = \"{d}/audit\"\n\
             [session]\nloginctl = \"{d}/loginctl\"\n{extra}\n",
            d = dir.display()
        );
        for t in terminals {
            text.push_str(&format!(
                "[[terminal]]\nid = \"{}\"\nreader = \"{}\"\n",
                t.id,
                lab.reader(t.slot).unwrap()
            ));
        }
        text.push_str("[operators]\n");
        for (operator, user) in operators {
            text.push_str(&format!("\"{operator}\" = \"{user}\"\n"));
        }
        let config = dir.join("cardgated.toml");
        std::fs::write(&config, text).unwrap();
        before_init(&dir);
        let mut office = Office {
            lab,
            dir: dir.clone(),
            config,
            issuer: IssuerKey::generate().unwrap(),
            audit_key_hex: String::new(),
        };
        let p = |rel: &str| dir.join(rel).to_string_lossy().into_owned();
        office.ctl_ok(&["issuer", "init", "--dir", &p("issuer")], "");
        let init = office.ctl_ok(&["audit", "init", "--dir", &p("audit")], "");
        office.audit_key_hex = init.lines().last().unwrap().trim().to_owned();
        office.ctl_ok(
            &[
                "revocation",
                "refresh",
                "--issuer-dir",
                &p("issuer"),
                "--list",
                &p("state/revoked.crl"),
            ],
            "",
        );
        office.issuer =
            IssuerKey::from_pkcs8(&std::fs::read(dir.join("issuer/issuer.key")).unwrap()).unwrap();
        office
    }

    /// One terminal `juki-01` on slot 0 for operator `op-0042` = user `tanaka`.
    pub fn single(lab: PcscLab, extra: &str) -> Office {
        Office::with(
            lab,
            &[TerminalSpec {
                id: "juki-01",
                slot: 0,
            }],
            &[("op-0042", "tanaka")],
            extra,
            |_| {},
        )
    }

    pub fn path(&self, rel: &str) -> String {
        self.dir.join(rel).to_string_lossy().into_owned()
    }

    /// `cardgatectl --config … ARGS` with `stdin`, against the lab's pcscd.
    pub fn ctl(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(workspace_binary("cardgatectl", "cardgatectl"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env("PCSCLITE_CSOCK_NAME", self.lab.client_socket())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A command that fails before reading its input closes the pipe: not our failure.
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        child.wait_with_output().unwrap()
    }

    pub fn ctl_ok(&self, args: &[&str], stdin: &str) -> String {
        let out = self.ctl(args, stdin);
        assert!(
            out.status.success(),
            "cardgatectl {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts `cardgated` and waits until its login socket answers.
    pub fn start_daemon(&self) -> Daemon {
        let log_path = self.dir.join("cardgated.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        let from = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0) as usize;
        let child = Command::new(workspace_binary("cardgated", "cardgate-sessiond"))
            .arg("--config")
            .arg(&self.config)
            .env("PCSCLITE_CSOCK_NAME", self.lab.client_socket())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut daemon = Daemon {
            child: Some(child),
            log: log_path,
            from,
        };
        let socket = self.dir.join("login.sock");
        let start = Instant::now();
        // The socket file of a killed daemon stays behind: wait for a fresh listener.
        while UnixStream::connect(&socket).is_err()
            || !daemon.log_text().contains("cardgated ready")
        {
            assert!(
                start.elapsed() < LIMIT && daemon.is_running(),
                "cardgated did not start: {}",
                daemon.log_text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        daemon
    }

    fn ask_on(socket: &Path, request: &str) -> Value {
        let mut s = UnixStream::connect(socket).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        s.write_all(b"\n").unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        serde_json::from_slice(&out).unwrap_or_else(|e| {
            panic!("unreadable answer {:?}: {e}", String::from_utf8_lossy(&out))
        })
    }

    /// One request on the login socket of the office in `dir` (for other threads).
    pub fn ask_at(dir: &Path, request: &str) -> Value {
        Self::ask_on(&dir.join("login.sock"), request)
    }

    /// One request on the login socket.
    pub fn ask(&self, request: &str) -> Value {
        Self::ask_on(&self.dir.join("login.sock"), request)
    }

    /// One request on the admin socket.
    pub fn admin(&self, request: &str) -> Value {
        Self::ask_on(&self.dir.join("admin.sock"), request)
    }

    pub fn authenticate(&self, terminal: &str, user: &str, pin: &str) -> Value {
        self.ask(&format!(
            r#"{{"op":"authenticate","terminal":"{terminal}","user":"{user}","pin":"{pin}"}}"#
        ))
    }

    pub fn open_session(&self, terminal: &str, user: &str, session: &str) -> Value {
        self.ask(&format!(
            r#"{{"op":"open_session","terminal":"{terminal}","user":"{user}","session_id":"{session}"}}"#
        ))
    }

    /// The sessions the daemon holds, as `(session_id, state)`.
    pub fn sessions(&self) -> Vec<(String, String)> {
        let answer = self.admin(r#"{"op":"sessions"}"#);
        answer["data"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer}"))
            .iter()
            .map(|s| {
                (
                    s["session_id"].as_str().unwrap().to_owned(),
                    s["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// The version of the revocation list in force, from `status` on the admin socket.
    pub fn list_version(&self) -> Option<u64> {
        self.admin(r#"{"op":"status"}"#)["data"]["revocation_list_version"].as_u64()
    }

    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("loginctl.calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    pub fn wait_for_call(&self, call: &str) {
        let start = Instant::now();
        while !self.calls().iter().any(|c| c == call) {
            assert!(
                start.elapsed() < LIMIT,
                "no `loginctl {call}`; calls: {:?}",
                self.calls()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until `session` is in `state` in the daemon's table.
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

    /// The kinds of every audit record (`login_granted`, …), in order, each line parsed
    /// strictly.
    pub fn audit_kinds(&self) -> Vec<String> {
        let mut kinds = Vec::new();
        for (_, path) in cardgate_audit::segments::list_segments(&self.dir.join("audit")).unwrap() {
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                let record = cardgate_audit::Record::parse(line.as_bytes())
                    .unwrap_or_else(|e| panic!("{}: {e}: {line}", path.display()));
                let event = serde_json::to_value(&record.event).unwrap();
                kinds.push(event["kind"].as_str().unwrap_or("seal").to_owned());
            }
        }
        kinds
    }

    pub fn count(&self, kind: &str) -> usize {
        self.audit_kinds().iter().filter(|k| *k == kind).count()
    }

    /// `cardgatectl audit verify` with k(0) must pass.
    pub fn verify_audit(&self) -> String {
        self.ctl_ok(
            &[
                "audit",
                "verify",
                "--dir",
                &self.path("audit"),
                "--key",
                &self.audit_key_hex,
            ],
            "",
        )
    }
}

/// A running `cardgated`; dropped, it is stopped with SIGTERM.
pub struct Daemon {
    child: Option<Child>,
    log: PathBuf,
    /// Where this run's part of the (appended) log starts.
    from: usize,
}

impl Daemon {
    /// What this run of the daemon logged.
    pub fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.get(self.from..).unwrap_or_default().to_owned()
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILL: a crash, nothing flushed, nothing recorded.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, and wait.
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

/// The reason of a denial, or the result of anything else.
pub fn outcome(answer: &Value) -> String {
    answer["reason"]
        .as_str()
        .or(answer["result"].as_str())
        .unwrap_or("?")
        .to_owned()
}

/// Sends `signal` to one process.
pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}
