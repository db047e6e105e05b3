//! `pamtester` driving a real PAM stack with the built `pam_cardgate.so`, in a private mount
//! namespace whose `/etc/pam.d` is a fresh tmpfs holding only the test's service file: the
//! host's PAM configuration is never touched.
//!
//! pamtester converses through libpam_misc's `misc_conv`: prompts and errors on stderr,
//! information on stdout, each answer read with one `read(2)` on stdin. The driver therefore
//! writes each answer only once its prompt has appeared, as a person would. pamtester's stdout
//! is a pipe, which stdio would buffer until exit: it runs under `stdbuf -o0`.

use crate::{paths, HarnessError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long one pamtester run may take.
const LIMIT: Duration = Duration::from_secs(30);

/// The PIN prompts of the module, in English and Japanese.
pub const PROMPTS: &[&str] = &[
    "Operator card PIN: ",
    "Current PIN: ",
    "New PIN: ",
    "Repeat the new PIN: ",
    "操作者カードの暗証番号を入力してください: ",
];

/// The built module (`libpam_cardgate.so`), refused when missing or older than its sources.
pub fn module() -> Result<PathBuf, HarnessError> {
    paths::workspace_artifact("libpam_cardgate.so", "cardgate-pam")
}

/// Writes a PAM service file that puts the module in all four stacks with `args`.
pub fn service_file(dir: &Path, name: &str, args: &str) -> Result<PathBuf, HarnessError> {
    let module = module()?;
    let text = ["auth", "account", "password", "session"]
        .map(|stack| format!("{stack} required {} {args}\n", module.display()))
        .concat();
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|source| HarnessError::Io {
        what: "cannot write",
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// A running pamtester.
pub struct Pamtester {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    pumps: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Pamtester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pamtester").finish_non_exhaustive()
    }
}

/// What a finished pamtester said.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status (0: every operation succeeded).
    pub status: ExitStatus,
    /// Information messages (PAM_TEXT_INFO) and results.
    pub stdout: String,
    /// Prompts and errors.
    pub stderr: String,
}

impl Finished {
    /// How many PIN prompts were shown.
    pub fn prompts(&self) -> usize {
        count_prompts(&self.stderr)
    }
}

/// How many PIN prompts `text` holds.
pub fn count_prompts(text: &str) -> usize {
    PROMPTS.iter().map(|p| text.matches(p).count()).sum()
}

fn lock(m: &Mutex<String>) -> std::sync::MutexGuard<'_, String> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn pump(mut from: impl Read + Send + 'static) -> (Arc<Mutex<String>>, JoinHandle<()>) {
    let shared = Arc::new(Mutex::new(String::new()));
    let to = shared.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            lock(&to).push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    (shared, reader)
}

impl Pamtester {
    /// Starts `pamtester -v SERVICE USER OPS…` with the service file installed as
    /// `/etc/pam.d/cardgate-test` in a private mount namespace; `env` are `NAME=value` items
    /// for the PAM environment.
    pub fn spawn(
        service: &Path,
        user: &str,
        env: &[&str],
        ops: &[&str],
    ) -> Result<Pamtester, HarnessError> {
        Self::spawn_with_items(service, user, env, &[], ops)
    }

    /// [`Pamtester::spawn`] with PAM items set first: `items` are `name=value` for
    /// pamtester's `-I` (`tty=/dev/tty3`, `rhost=…`, `ruser=…`).
    pub fn spawn_with_items(
        service: &Path,
        user: &str,
        env: &[&str],
        items: &[&str],
        ops: &[&str],
    ) -> Result<Pamtester, HarnessError> {
        Self::spawn_in(service, user, env, items, ops, None)
    }

    /// [`Pamtester::spawn`] with `/dev/log` (where syslog(3), and so `pam_syslog`, sends its
    /// datagrams) being `dev_log`, a socket the test binds: in the private mount namespace
    /// `/dev` is a fresh tmpfs with the host's `null`, `zero`, `full`, `random`, `urandom`
    /// and `tty` bound into it and `log` pointing at `dev_log` (the host's `/dev` is not
    /// written to).
    pub fn spawn_with_dev_log(
        service: &Path,
        user: &str,
        env: &[&str],
        ops: &[&str],
        dev_log: &Path,
    ) -> Result<Pamtester, HarnessError> {
        Self::spawn_in(service, user, env, &[], ops, Some(dev_log))
    }

    fn spawn_in(
        service: &Path,
        user: &str,
        env: &[&str],
        items: &[&str],
        ops: &[&str],
        dev_log: Option<&Path>,
    ) -> Result<Pamtester, HarnessError> {
        let mut command = Command::new("unshare");
        command
            .args([
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                "mount -t tmpfs -o mode=0755 tmpfs /etc/pam.d && cp \"$0\" /etc/pam.d/cardgate-test && \
                 if [ -n \"$CARDGATE_TEST_DEV_LOG\" ]; then \
                   s=\"$CARDGATE_TEST_DEV_LOG.dev\" && mkdir -p \"$s\" && mount --rbind /dev \"$s\" && \
                   mount -t tmpfs -o mode=0755 tmpfs /dev && \
                   for n in null zero full random urandom tty; do \
                     touch /dev/$n && mount --bind \"$s/$n\" /dev/$n || exit 1; \
                   done && \
                   ln -s /proc/self/fd /dev/fd && ln -s \"$CARDGATE_TEST_DEV_LOG\" /dev/log || exit 1; \
                 fi && exec stdbuf -o0 pamtester -v \"$@\"",
            ])
            .arg(service);
        match dev_log {
            Some(path) => command.env("CARDGATE_TEST_DEV_LOG", path),
            None => command.env_remove("CARDGATE_TEST_DEV_LOG"),
        };
        for e in env {
            command.arg(format!("-E{e}"));
        }
        for i in items {
            command.arg(format!("-I{i}"));
        }
        command
            .arg("cardgate-test")
            .arg(user)
            .args(ops)
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|source| HarnessError::Spawn {
            what: "pamtester".into(),
            source,
        })?;
        let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(HarnessError::CommandFailed {
                what: "pamtester".into(),
                detail: "no pipes".into(),
            });
        };
        let (stdout, out_pump) = pump(out);
        let (stderr, err_pump) = pump(err);
        Ok(Pamtester {
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
            pumps: vec![out_pump, err_pump],
        })
    }

    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waits until `text` is on stdout.
    pub fn wait_stdout(&mut self, text: &str) -> Result<(), HarnessError> {
        let start = Instant::now();
        while !lock(&self.stdout).contains(text) {
            if start.elapsed() > LIMIT || self.exited() {
                return Err(HarnessError::Timeout(format!(
                    "{text:?} from pamtester: {}{}",
                    lock(&self.stdout),
                    lock(&self.stderr)
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Answers the `n`-th prompt (from 1) once it is shown; false if pamtester ended first.
    pub fn answer(&mut self, n: usize, line: &str) -> Result<bool, HarnessError> {
        let start = Instant::now();
        while count_prompts(&lock(&self.stderr)) < n {
            if self.exited() {
                return Ok(false);
            }
            if start.elapsed() > LIMIT {
                return Err(HarnessError::Timeout(format!(
                    "prompt {n} from pamtester: {}",
                    lock(&self.stderr)
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = stdin.write_all(format!("{line}\n").as_bytes());
        }
        Ok(true)
    }

    /// Closes its input and waits for it to end.
    pub fn finish(mut self) -> Result<Finished, HarnessError> {
        drop(self.stdin.take());
        let start = Instant::now();
        let status = loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                break status;
            }
            if start.elapsed() > LIMIT {
                let _ = self.child.kill();
                return Err(HarnessError::Timeout(format!(
                    "pamtester to end: {}",
                    lock(&self.stderr)
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        for pump in self.pumps.drain(..) {
            let _ = pump.join();
        }
        let stdout = lock(&self.stdout).clone();
        let stderr = lock(&self.stderr).clone();
        Ok(Finished {
            status,
            stdout,
            stderr,
        })
    }
}

/// Runs pamtester, answering each prompt in turn.
pub fn pamtester(
    service: &Path,
    user: &str,
    env: &[&str],
    ops: &[&str],
    answers: &[&str],
) -> Result<Finished, HarnessError> {
    let mut run = Pamtester::spawn(service, user, env, ops)?;
    for (i, a) in answers.iter().enumerate() {
        if !run.answer(i + 1, a)? {
            break;
        }
    }
    run.finish()
}
