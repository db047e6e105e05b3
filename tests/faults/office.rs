//! The fault campaign's and the load test's view of a terminal office: the harness's
//! [`cardgate_tests::Office`] (a lab, the issuer key, audit log, revocation list,
//! `cardgated.toml`, a stand-in `loginctl`, `cardgated` and `cardgatectl`), with the panicking
//! shortcuts and the admin-socket and audit-log queries these tests use.

pub use cardgate_tests::Daemon;
use cardgate_tests::{CardProcess, PcscLab, SoftCardFile};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// How long a loginctl call may take to show, a state to settle.
pub const LIMIT: Duration = Duration::from_secs(20);
pub const PUK: &str = "Kitsune12345";
pub const PIN: &str = "Tanuki42x";

/// The office.
pub struct Office {
    inner: cardgate_tests::Office,
}

impl std::ops::Deref for Office {
    type Target = cardgate_tests::Office;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl std::ops::DerefMut for Office {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
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
        let specs: Vec<cardgate_tests::TerminalSpec> = terminals
            .iter()
            .map(|t| cardgate_tests::TerminalSpec {
                id: t.id.to_owned(),
                slot: t.slot,
            })
            .collect();
        let inner =
            cardgate_tests::Office::with_setup(lab, &specs, operators, extra, before_init).unwrap();
        Office { inner }
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

    /// `cardgatectl card issue|unblock ARGS` authorised by the office's manager card.
    pub fn manager_ctl(&self, args: &[&str], stdin: &str) -> Output {
        self.inner.ctl_as_manager(args, stdin).unwrap()
    }

    /// The same, which must succeed; its standard output.
    pub fn ctl_ok(&self, args: &[&str], stdin: &str) -> String {
        self.inner
            .ctl_ok(args, stdin)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Two terminals on a lab of four readers: `juki-01` on slot 0 for `op-0042` = `tanaka`,
    /// `juki-02` on slot 2 for `op-0043` = `suzuki`.
    pub fn two_terminals(extra: &str) -> Office {
        Office::with(
            PcscLab::with_readers(4).unwrap(),
            &[
                TerminalSpec {
                    id: "juki-01",
                    slot: 0,
                },
                TerminalSpec {
                    id: "juki-02",
                    slot: 2,
                },
            ],
            &[("op-0042", "tanaka"), ("op-0043", "suzuki")],
            extra,
            |_| {},
        )
    }

    /// Tanaka's card (`op-0042`) in slot 0's reader, `cardgated` started, tanaka logged in on
    /// `juki-01` and `session` open.
    pub fn with_open_session(self, session: &str) -> (Office, CardProcess, Daemon) {
        let card =
            SoftCardFile::personalised(&self.lab, &self.issuer, "op-0042", PIN, PUK).unwrap();
        let inserted = self.lab.insert_card(0, &card).unwrap();
        let daemon = self.start_daemon();
        assert_eq!(
            self.authenticate("juki-01", "tanaka", PIN)["result"],
            "granted"
        );
        assert_eq!(
            self.open_session("juki-01", "tanaka", session)["result"],
            "granted"
        );
        (self, inserted, daemon)
    }

    /// Starts `cardgated` and waits until this run listens.
    pub fn start_daemon(&self) -> Daemon {
        self.inner.start_daemon().unwrap()
    }

    /// One request on the login socket of the office in `dir` (for other threads).
    pub fn ask_at(dir: &Path, request: &str) -> Value {
        cardgate_tests::Office::ask_on(&dir.join("login.sock"), request).unwrap()
    }

    /// One request on the login socket.
    pub fn ask(&self, request: &str) -> Value {
        self.inner.ask(request).unwrap()
    }

    /// One request on the admin socket.
    pub fn admin(&self, request: &str) -> Value {
        cardgate_tests::Office::ask_on(&self.admin_socket(), request).unwrap()
    }

    /// The stand-in loginctl's calls (`lock-session c1`, …).
    pub fn calls(&self) -> Vec<String> {
        self.loginctl_calls()
    }

    /// Waits until loginctl was called with `call`.
    pub fn wait_for_call(&self, call: &str) {
        self.inner
            .wait_for_call(call)
            .unwrap_or_else(|e| panic!("{e}"));
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
                "-",
            ],
            &format!("{}\n", self.audit_key_hex),
        )
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
