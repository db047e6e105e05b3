//! Child processes the harness owns: spawned in their own process group, with a parent-death
//! signal, and killed group-wide when dropped.

use crate::HarnessError;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Builds `setpriv --pdeathsig KILL -- program`: if the test process dies, so does the child.
pub(crate) fn guarded(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new("setpriv");
    command.args(["--pdeathsig", "KILL", "--"]).arg(program);
    command
}

/// Spawns `command` in a new process group, output to `log` (appended).
pub(crate) fn spawn(mut command: Command, what: &str, log: &Path) -> Result<Child, HarnessError> {
    let log_file = File::options()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|source| HarnessError::Io {
            what: "cannot open the log",
            path: log.to_owned(),
            source,
        })?;
    let err_file = log_file.try_clone().map_err(|source| HarnessError::Io {
        what: "cannot open the log",
        path: log.to_owned(),
        source,
    })?;
    command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(err_file);
    spawn_from_lasting_thread(command).map_err(|source| HarnessError::Spawn {
        what: what.to_owned(),
        source,
    })
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawns `command` from one thread that lives as long as the test process.
///
/// `--pdeathsig` (`PR_SET_PDEATHSIG`) fires when the *thread* that forked the child ends, not
/// the process: a card put back from a short-lived thread (a test's pull-and-reinsert worker)
/// was killed the moment that thread returned, and the reader looked empty to everyone but
/// the thread's own last exchange. Forking from one lasting thread keeps the guarantee that
/// the children die with the test process, and only then.
pub(crate) fn spawn_from_lasting_thread(command: Command) -> std::io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let sender = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        let started = std::thread::Builder::new()
            .name("harness-spawner".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(command.spawn());
                }
            });
        if let Err(e) = started {
            eprintln!("harness: cannot start the spawner thread: {e}");
        }
        Mutex::new(tx)
    });
    let (reply, answer) = mpsc::channel();
    sender
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((command, reply))
        .map_err(|_| std::io::Error::other("the harness spawner thread is gone"))?;
    answer
        .recv()
        .map_err(|_| std::io::Error::other("the harness spawner thread is gone"))?
}

/// Sends `signal` to a whole process group (the child's pid is its group id).
pub(crate) fn signal_group(pid: u32, signal: &str) {
    // Best effort: the group may already be gone.
    let _ = Command::new("kill")
        .args([format!("-{signal}"), "--".into(), format!("-{pid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Sends `signal` to one process.
pub(crate) fn signal_process(pid: u32, signal: &str) -> Result<(), HarnessError> {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .map_err(|source| HarnessError::Spawn {
            what: "kill".into(),
            source,
        })?;
    if !status.success() {
        return Err(HarnessError::CommandFailed {
            what: format!("kill -{signal} {pid}"),
            detail: status.to_string(),
        });
    }
    Ok(())
}

/// Waits for a child to exit, up to `limit`.
pub(crate) fn wait_exit(
    child: &mut Child,
    what: &str,
    limit: Duration,
) -> Result<ExitStatus, HarnessError> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                return Err(HarnessError::Timeout(format!("{what} to exit")))
            }
            // Exit is only observable by polling std's Child; 2 ms keeps it cheap and prompt.
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(source) => {
                return Err(HarnessError::Spawn {
                    what: what.to_owned(),
                    source,
                })
            }
        }
    }
}

/// Kills a child's process group and reaps it.
pub(crate) fn kill_and_reap(child: &mut Child) {
    signal_group(child.id(), "KILL");
    let _ = child.kill();
    let _ = child.wait();
}

/// A virtual card process inserted in a vpcd reader (connected = inserted).
#[derive(Debug)]
pub struct CardProcess {
    child: Option<Child>,
    what: String,
    slot: usize,
}

impl CardProcess {
    pub(crate) fn new(child: Child, what: String, slot: usize) -> Self {
        CardProcess {
            child: Some(child),
            what,
            slot,
        }
    }

    /// The reader slot the card is in.
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// The card process's id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Removes the card the polite way (SIGTERM: the card disconnects and exits) and waits
    /// for the process to end.
    pub fn remove(&mut self) -> Result<ExitStatus, HarnessError> {
        let Some(child) = self.child.as_mut() else {
            return Err(HarnessError::CommandFailed {
                what: self.what.clone(),
                detail: "already gone".into(),
            });
        };
        signal_process(child.id(), "TERM")?;
        let status = wait_exit(child, &self.what, Duration::from_secs(10));
        self.child = None;
        status
    }

    /// Pulls the card abruptly (SIGKILL: the kernel closes the socket).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_and_reap(&mut child);
        }
    }

    /// Waits for the card process to end on its own (e.g. after `--remove-after-apdus`).
    pub fn wait_exit(&mut self, limit: Duration) -> Result<ExitStatus, HarnessError> {
        let Some(child) = self.child.as_mut() else {
            return Err(HarnessError::CommandFailed {
                what: self.what.clone(),
                detail: "already gone".into(),
            });
        };
        let status = wait_exit(child, &self.what, limit)?;
        self.child = None;
        Ok(status)
    }
}

impl Drop for CardProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `command` (a shell that prints `ready` and then sleeps) and waits for its line.
pub(crate) fn start_holder(mut command: Command, what: &str) -> Result<Child, HarnessError> {
    command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut holder = spawn_from_lasting_thread(command).map_err(|source| HarnessError::Spawn {
        what: what.to_owned(),
        source,
    })?;
    let mut line = String::new();
    if let Some(stdout) = holder.stdout.take() {
        // EOF or an error leaves the line empty: reported below.
        let _ = BufReader::new(stdout).read_line(&mut line);
    }
    if line.trim() != "ready" {
        kill_and_reap(&mut holder);
        return Err(HarnessError::CommandFailed {
            what: what.to_owned(),
            detail: "it exited before its namespace was ready (see stderr)".into(),
        });
    }
    Ok(holder)
}
