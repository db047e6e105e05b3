//! More terminal machines beside an [`Office`], and a real `sshd` that serves the office's
//! published directory: what `tests/tests/office_sync.rs` needs to show the office's state
//! reaching every terminal (issue 13, item 5).
//!
//! A [`Terminal`] is a machine of its own as far as cardgate can tell: its own
//! `cardgated.toml`, state directory, audit log, sockets and `cardgated` process, its own
//! copy of the issuer's public key, and its own reader (a slot of the office's lab; the lab's
//! pcscd is shared, one per test process). Nothing of the office's state is shared with it:
//! it gets the revocation list and the register only by `cardgatectl office pull`.
//!
//! [`Sshd`] is OpenSSH's own server on 127.0.0.1 and a private port, with a throwaway host
//! key, one authorized key restricted as docs/integration.md tells the office to restrict it
//! (`restrict,command="rrsync -ro DIR"`), and its known_hosts line for the terminals.

use crate::process::{guarded, kill_and_reap, spawn};
use crate::{paths, Daemon, HarnessError, Office};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn io<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> HarnessError + 'p {
    move |source| HarnessError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

fn run(command: &mut Command, what: &str) -> Result<Output, HarnessError> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|source| HarnessError::Spawn {
            what: what.to_owned(),
            source,
        })?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(HarnessError::CommandFailed {
            what: what.to_owned(),
            detail: format!(
                "{}: {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        })
    }
}

/// A terminal machine beside the office.
#[derive(Debug)]
pub struct Terminal {
    /// Its terminal ID.
    pub id: String,
    /// Its directory (config, state, audit, sockets, log).
    pub dir: PathBuf,
    /// Its `cardgated.toml`.
    pub config: PathBuf,
    /// Its running daemon, once started.
    pub daemon: Option<Daemon>,
}

impl Terminal {
    /// Sets up terminal `id` on lab slot `slot` of `office`'s lab, for the office's
    /// operators (`operators`: operator ID → local user), with `revocation` appended to its
    /// `[revocation]` section (`stale = "warn"`, say). Its audit log is made with
    /// `cardgatectl audit init`; it has no revocation list and no register until it pulls.
    pub fn new(
        office: &Office,
        id: &str,
        slot: usize,
        operators: &[(&str, &str)],
        revocation: &str,
    ) -> Result<Terminal, HarnessError> {
        let dir = office.lab.work_dir().join(format!("terminal-{id}"));
        for sub in ["state", "audit"] {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).map_err(io("cannot create", &d))?;
        }
        let public = dir.join("issuer.pub");
        std::fs::copy(office.dir.join("issuer/issuer.pub"), &public)
            .map_err(io("cannot copy the issuer key to", &public))?;
        let reader = office
            .lab
            .reader(slot)
            .ok_or(crate::HarnessError::ReaderCount(slot + 1))?;
        let mut text = format!(
            "[daemon]\nlogin_socket = \"{d}/login.sock\"\nadmin_socket = \"{d}/admin.sock\"\nstate_dir = \"{d}/state\"\n\
             [issuer]\npublic_key = \"{d}/issuer.pub\"\n[revocation]\nlist = \"{d}/state/revoked.crl\"\n{revocation}\n\
             [audit]\ndir = \"{d}/audit\"\n[session]\nloginctl = \"{o}/loginctl\"\n\
             [[terminal]]\nid = \"{id}\"\nreader = \"{reader}\"\n[operators]\n",
            d = dir.display(),
            o = office.dir.display(),
        );
        for (operator, user) in operators {
            text.push_str(&format!("\"{operator}\" = \"{user}\"\n"));
        }
        let config = dir.join("cardgated.toml");
        std::fs::write(&config, text).map_err(io("cannot write", &config))?;
        let terminal = Terminal {
            id: id.to_owned(),
            dir,
            config,
            daemon: None,
        };
        let audit = terminal.dir.join("audit").to_string_lossy().into_owned();
        let out = terminal.ctl(&["audit", "init", "--dir", &audit])?;
        if !out.status.success() {
            return Err(HarnessError::CommandFailed {
                what: format!("cardgatectl audit init for {id}"),
                detail: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(terminal)
    }

    /// Runs `cardgatectl --config <this terminal's> ARGS` (English).
    pub fn ctl(&self, args: &[&str]) -> Result<Output, HarnessError> {
        paths::cardgatectl(&self.config)?
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| HarnessError::Spawn {
                what: "cardgatectl".into(),
                source,
            })
    }

    /// Starts its `cardgated` (on `office`'s lab) and waits until it serves.
    pub fn start(&mut self, office: &Office) -> Result<(), HarnessError> {
        self.daemon = Some(office.start_daemon_with(&self.config, &self.dir)?);
        Ok(())
    }

    /// Its login socket.
    pub fn login_socket(&self) -> PathBuf {
        self.dir.join("login.sock")
    }

    /// Its state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// The version of the revocation list its daemon enforces (admin socket `status`).
    pub fn list_version(&self) -> Option<u64> {
        Office::ask_on(&self.dir.join("admin.sock"), r#"{"op":"status"}"#)
            .ok()?
            .get("data")?
            .get("revocation_list_version")?
            .as_u64()
    }

    /// Waits until its daemon enforces revocation list `version` (the daemon's watch looks
    /// at the file once a tick).
    pub fn wait_for_list_version(&self, version: u64) -> Result<(), HarnessError> {
        let start = Instant::now();
        while self.list_version() != Some(version) {
            if start.elapsed() > crate::LIMIT {
                return Err(HarnessError::Timeout(format!(
                    "{} to enforce revocation list version {version} (it has {:?})",
                    self.id,
                    self.list_version()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

/// OpenSSH's server on 127.0.0.1, serving one directory read-only through `rrsync`.
#[derive(Debug)]
pub struct Sshd {
    child: Option<Child>,
    /// Its port.
    pub port: u16,
    /// The terminals' private key (authorized, restricted to `rrsync -ro`).
    pub client_key: PathBuf,
    /// The known_hosts file with the server's throwaway host key.
    pub known_hosts: PathBuf,
    dir: PathBuf,
}

/// A TCP port on 127.0.0.1 that nothing listens on now.
fn free_port() -> Result<u16, HarnessError> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|source| HarnessError::Io {
            what: "cannot bind",
            path: PathBuf::from("127.0.0.1:0"),
            source,
        })?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|source| HarnessError::Io {
            what: "cannot read the address of",
            path: PathBuf::from("127.0.0.1:0"),
            source,
        })
}

impl Sshd {
    /// Starts sshd in `dir` (its keys, configuration and log), letting the key it makes
    /// read `served` and nothing else, and waits until it accepts connections.
    pub fn start(dir: &Path, served: &Path) -> Result<Sshd, HarnessError> {
        for (program, package) in [
            ("ssh-keygen", "openssh-client"),
            ("ssh", "openssh-client"),
            ("rsync", "rsync"),
            ("rrsync", "rsync"),
        ] {
            paths::require_program(program, package)?;
        }
        let sshd = Path::new("/usr/sbin/sshd");
        if !sshd.is_file() {
            return Err(HarnessError::MissingProgram {
                program: "sshd",
                package: "openssh-server",
            });
        }
        std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
        // sshd's privilege-separation directory.
        let privsep = Path::new("/run/sshd");
        std::fs::create_dir_all(privsep).map_err(io("cannot create", privsep))?;
        let host_key = dir.join("host_key");
        let client_key = dir.join("client_key");
        for key in [&host_key, &client_key] {
            if !key.exists() {
                run(
                    Command::new("ssh-keygen")
                        .args(["-q", "-t", "ed25519", "-N", "", "-C", "cardgate-test", "-f"])
                        .arg(key),
                    "ssh-keygen",
                )?;
            }
        }
        let read = |p: &Path| std::fs::read_to_string(p).map_err(io("cannot read", p));
        let client_pub = read(&client_key.with_extension("pub"))?;
        let host_pub = read(&host_key.with_extension("pub"))?;
        let authorized = dir.join("authorized_keys");
        std::fs::write(
            &authorized,
            format!(
                "restrict,command=\"rrsync -ro {}\" {}",
                served.display(),
                client_pub.trim()
            ),
        )
        .map_err(io("cannot write", &authorized))?;
        let port = free_port()?;
        let known_hosts = dir.join("known_hosts");
        let mut host_words = host_pub.split_whitespace();
        let (kind, key) = (
            host_words.next().unwrap_or_default(),
            host_words.next().unwrap_or_default(),
        );
        std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {kind} {key}\n"))
            .map_err(io("cannot write", &known_hosts))?;
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1:{port}\nHostKey {host}\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {authorized}\nPermitRootLogin prohibit-password\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
                 StrictModes no\nAllowTcpForwarding no\nX11Forwarding no\nLogLevel VERBOSE\n",
                host = host_key.display(),
                d = dir.display(),
                authorized = authorized.display(),
            ),
        )
        .map_err(io("cannot write", &config))?;
        let mut command = guarded(sshd);
        command.arg("-D").arg("-e").arg("-f").arg(&config);
        let child = spawn(command, "sshd", &dir.join("sshd.log"))?;
        let mut server = Sshd {
            child: Some(child),
            port,
            client_key,
            known_hosts,
            dir: dir.to_owned(),
        };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(child) = server.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(HarnessError::CommandFailed {
                        what: "sshd".into(),
                        detail: format!("exited with {status}: {}", server.log()),
                    });
                }
            }
            if start.elapsed() > crate::LIMIT {
                return Err(HarnessError::Timeout("sshd to listen".into()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(server)
    }

    /// What sshd logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    /// The `office pull` options that reach this server: `--ssh-key`, `--known-hosts`,
    /// `--ssh-port`.
    pub fn pull_options(&self) -> Vec<String> {
        vec![
            "--ssh-key".into(),
            self.client_key.to_string_lossy().into_owned(),
            "--known-hosts".into(),
            self.known_hosts.to_string_lossy().into_owned(),
            "--ssh-port".into(),
            self.port.to_string(),
        ]
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_and_reap(&mut child);
        }
    }
}
