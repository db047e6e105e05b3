//! The private pcscd and its vpcd readers.

use crate::process::{guarded, kill_and_reap, signal_group, spawn, wait_exit};
use crate::{paths, CardProcess, HarnessError, SoftCardFile};
use cardgate_reader::pcsc::PcscContext;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The TCP port of the first vpcd slot; slot `n` listens on `VPCD_BASE_PORT + n`.
pub const VPCD_BASE_PORT: u16 = 35963;

const VPCD_DRIVER: &str = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";
const CRYPTODOME: &str = "/usr/lib/python3/dist-packages/Cryptodome";
const VICC_PYTHONPATH: &str = "/usr/lib/python3/site-packages/virtualsmartcard";
/// How long pcscd, a card insertion or a removal may take before the harness gives up.
const READY_LIMIT: Duration = Duration::from_secs(15);

/// One lab at a time per process: the PC/SC client library reads its socket path once.
static LAB_LOCK: Mutex<()> = Mutex::new(());
static CLIENT_SOCKET: OnceLock<PathBuf> = OnceLock::new();
static NEXT_LAB: AtomicUsize = AtomicUsize::new(0);

/// A private pcscd with vpcd readers, reachable from this process through PC/SC.
pub struct PcscLab {
    readers: Vec<String>,
    dir: PathBuf,
    holder: Option<Child>,
    pcscd: Option<Child>,
    client_socket: PathBuf,
    /// The process-wide lock, or `None` for a site terminal's lab ([`PcscLab::for_site`]),
    /// which this process never reaches through PC/SC.
    _serialised: Option<MutexGuard<'static, ()>>,
}

impl std::fmt::Debug for PcscLab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscLab")
            .field("readers", &self.readers)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|l| {
                l.strip_prefix("Uid:")
                    .map(|ids| ids.split_whitespace().nth(1) == Some("0"))
            })
        })
        .unwrap_or(false)
}

fn io<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> HarnessError + 'p {
    move |source| HarnessError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// Points libpcsclite at our symlink, once per process, before any PC/SC call.
fn client_socket() -> Result<PathBuf, HarnessError> {
    if let Some(path) = CLIENT_SOCKET.get() {
        return Ok(path.clone());
    }
    let dir = std::env::temp_dir().join(format!("cardgate-lab-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
    let path = dir.join("pcscd.comm");
    // Runs under LAB_LOCK, before this process's first PC/SC call (the library caches it).
    std::env::set_var("PCSCLITE_CSOCK_NAME", &path);
    Ok(CLIENT_SOCKET.get_or_init(|| path).clone())
}

impl PcscLab {
    /// A lab with two readers (one vpcd configuration: slots 0 and 1).
    pub fn start() -> Result<Self, HarnessError> {
        Self::with_readers(2)
    }

    /// A lab with at least `readers` readers (vpcd gives two per configuration entry, so
    /// the count is rounded up to even). Blocks while another lab of this process is alive.
    pub fn with_readers(readers: usize) -> Result<Self, HarnessError> {
        Self::build(readers, true)
    }

    /// A lab for one terminal of a site (`crate::site`): it does not take the process's lab
    /// lock, so several run at once, and its [`PcscLab::client_socket`] is the path into its
    /// own namespace (`/proc/<holder>/root/run/pcscd/pcscd.comm`), for the programs the
    /// harness starts (`cardgated`, `cardgatectl`, `opensc-tool`). This process's own PC/SC
    /// calls ([`PcscLab::wait_for_card`], [`PcscLab::insert_card`]) do not reach it: wait
    /// with [`PcscLab::wait_for_card_seen`] instead.
    pub fn for_site(readers: usize) -> Result<Self, HarnessError> {
        Self::build(readers, false)
    }

    fn build(readers: usize, serialise: bool) -> Result<Self, HarnessError> {
        if !is_root() {
            return Err(HarnessError::NotRoot);
        }
        if readers == 0 || readers > 16 {
            return Err(HarnessError::ReaderCount(readers));
        }
        for (program, package) in [
            ("pcscd", "pcscd"),
            ("unshare", "util-linux"),
            ("nsenter", "util-linux"),
            ("setpriv", "util-linux"),
            ("ip", "iproute2"),
        ] {
            paths::require_program(program, package)?;
        }
        if !Path::new(VPCD_DRIVER).is_file() {
            return Err(HarnessError::MissingProgram {
                program: "libifdvpcd.so",
                package: "vsmartcard-vpcd",
            });
        }
        let serialised = serialise.then(|| {
            LAB_LOCK
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        });
        let client_socket = if serialise {
            client_socket()?
        } else {
            PathBuf::new()
        };
        let n = NEXT_LAB.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("cardgate-lab-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let conf = dir.join("readers");
        std::fs::create_dir_all(&conf).map_err(io("cannot create", &conf))?;
        let entries = readers.div_ceil(2);
        let mut config = String::new();
        let mut names = Vec::new();
        for entry in 0..entries {
            // vpcd keeps its slots in a static table indexed by slot number, so two entries
            // served by one loaded driver collide; each extra entry gets its own copy.
            let driver = if entry == 0 {
                PathBuf::from(VPCD_DRIVER)
            } else {
                let copy = dir.join(format!("libifdvpcd-{entry}.so"));
                std::fs::copy(VPCD_DRIVER, &copy)
                    .map_err(io("cannot copy the vpcd driver to", &copy))?;
                copy
            };
            let friendly = if entry == 0 {
                "Virtual PCD".to_owned()
            } else {
                format!("Virtual PCD #{entry}")
            };
            let channel = usize::from(VPCD_BASE_PORT) + 2 * entry;
            config.push_str(&format!(
                "FRIENDLYNAME \"{friendly}\"\nDEVICENAME   /dev/null:0x{channel:X}\nLIBPATH      {}\nCHANNELID    0x{channel:X}\n\n",
                driver.display()
            ));
            names.push(format!("{friendly} 00 00"));
            names.push(format!("{friendly} 00 01"));
        }
        let conf_file = conf.join("vpcd");
        std::fs::write(&conf_file, config).map_err(io("cannot write", &conf_file))?;

        let mut lab = PcscLab {
            readers: names,
            dir,
            holder: None,
            pcscd: None,
            client_socket,
            _serialised: serialised,
        };
        lab.start_holder()?;
        lab.start_pcscd()?;
        Ok(lab)
    }

    fn start_holder(&mut self) -> Result<(), HarnessError> {
        let mut command = guarded("unshare");
        command.args([
            "--mount",
            "--net",
            "sh",
            "-c",
            "mkdir -p /run/pcscd && mount -t tmpfs tmpfs /run/pcscd && ip link set lo up && echo ready && exec sleep infinity",
        ]);
        let holder =
            crate::process::start_holder(command, "unshare --mount --net (the namespace holder)")?;
        let holder_pid = holder.id();
        self.holder = Some(holder);
        let target = format!("/proc/{holder_pid}/root/run/pcscd/pcscd.comm");
        if self._serialised.is_none() {
            self.client_socket = PathBuf::from(target);
            return Ok(());
        }
        let _ = std::fs::remove_file(&self.client_socket);
        if let Some(parent) = self.client_socket.parent() {
            std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
        }
        std::os::unix::fs::symlink(&target, &self.client_socket)
            .map_err(io("cannot link", &self.client_socket))?;
        Ok(())
    }

    /// The process that holds the lab's mount and network namespaces (`/proc/<pid>/ns/net`),
    /// for `ip link … netns <pid>` and `nsenter -t <pid>`.
    pub fn namespace_pid(&self) -> Result<u32, HarnessError> {
        self.holder_pid()
    }

    fn holder_pid(&self) -> Result<u32, HarnessError> {
        self.holder
            .as_ref()
            .map(Child::id)
            .ok_or_else(|| HarnessError::CommandFailed {
                what: "the namespace holder".into(),
                detail: "not running".into(),
            })
    }

    /// The directory of this lab's files (reader configuration, logs, card images).
    pub fn work_dir(&self) -> &Path {
        &self.dir
    }

    /// All reader names, slot order.
    pub fn readers(&self) -> &[String] {
        &self.readers
    }

    /// The name of the reader of `slot`, or `None` past the last slot.
    pub fn reader(&self, slot: usize) -> Option<&str> {
        self.readers.get(slot).map(String::as_str)
    }

    fn reader_of(&self, slot: usize) -> Result<&str, HarnessError> {
        self.reader(slot).ok_or(HarnessError::ReaderCount(slot + 1))
    }

    /// The vpcd address of `slot`, inside the lab's network namespace.
    pub fn vpcd_address(&self, slot: usize) -> String {
        format!("127.0.0.1:{}", usize::from(VPCD_BASE_PORT) + slot)
    }

    /// The path this process's PC/SC clients use (`PCSCLITE_CSOCK_NAME`); give it to any
    /// other PC/SC program to make it talk to this lab's pcscd.
    pub fn client_socket(&self) -> &Path {
        &self.client_socket
    }

    /// A command that runs `program` inside the lab's network namespace (where the vpcd
    /// ports are), guarded by the parent-death signal.
    pub fn in_namespace(
        &self,
        program: impl AsRef<std::ffi::OsStr>,
    ) -> Result<Command, HarnessError> {
        let mut command = guarded("nsenter");
        command
            .args(["-t", &self.holder_pid()?.to_string(), "--net", "--"])
            .arg(program);
        Ok(command)
    }

    /// A command that runs `program` inside the lab's mount and network namespaces, where
    /// pcscd's socket is `/run/pcscd/pcscd.comm` itself: for a program run as another uid,
    /// which may not follow the `/proc/<pid>/root` link that root's clients use.
    pub fn in_lab_namespaces(
        &self,
        program: impl AsRef<std::ffi::OsStr>,
    ) -> Result<Command, HarnessError> {
        let mut command = guarded("nsenter");
        command
            .args([
                "-t",
                &self.holder_pid()?.to_string(),
                "--mount",
                "--net",
                "--",
            ])
            .arg(program)
            .env("PCSCLITE_CSOCK_NAME", "/run/pcscd/pcscd.comm");
        Ok(command)
    }

    /// Starts (again) pcscd in the lab and waits until its readers are listed.
    pub fn start_pcscd(&mut self) -> Result<(), HarnessError> {
        self.start_pcscd_with(&[])
    }

    fn start_pcscd_with(&mut self, extra: &[&str]) -> Result<(), HarnessError> {
        if self.pcscd.is_some() {
            return Ok(());
        }
        let holder = self.holder_pid()?;
        // A killed pcscd leaves its socket and pid file on the tmpfs; clear them.
        let run = PathBuf::from(format!("/proc/{holder}/root/run/pcscd"));
        if let Ok(entries) = std::fs::read_dir(&run) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let mut command = guarded("nsenter");
        command
            .args([
                "-t",
                &holder.to_string(),
                "--mount",
                "--net",
                "--",
                "pcscd",
                "-f",
                "-c",
            ])
            .arg(self.dir.join("readers"))
            .args(extra);
        let child = spawn(command, "pcscd", &self.dir.join("pcscd.log"))?;
        self.pcscd = Some(child);
        self.wait_pcscd_ready()
    }

    fn wait_pcscd_ready(&mut self) -> Result<(), HarnessError> {
        let deadline = Instant::now() + READY_LIMIT;
        loop {
            if let Some(child) = self.pcscd.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.pcscd = None;
                    return Err(HarnessError::CommandFailed {
                        what: "pcscd".into(),
                        detail: format!(
                            "exited with {status}; see {}",
                            self.dir.join("pcscd.log").display()
                        ),
                    });
                }
            }
            // pcscd signals readiness in no way but its socket answering with all readers.
            if self._serialised.is_none() {
                // A site's lab: asked from outside this process.
                if let Ok(listed) = self.opensc_tool(&["--list-readers"]) {
                    if self.readers.iter().all(|r| listed.contains(r.as_str())) {
                        return Ok(());
                    }
                }
            } else if let Ok(context) = PcscContext::establish() {
                if let Ok(listed) = context.list_readers() {
                    if self.readers.iter().all(|r| listed.contains(r)) {
                        return Ok(());
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::Timeout(
                    "pcscd to list the vpcd readers".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The running pcscd's process id.
    pub fn pcscd_pid(&self) -> Option<u32> {
        self.pcscd.as_ref().map(Child::id)
    }

    /// Kills pcscd with SIGKILL (a crash) and reaps it.
    pub fn kill_pcscd(&mut self) {
        if let Some(mut child) = self.pcscd.take() {
            kill_and_reap(&mut child);
        }
    }

    /// Stops pcscd with SIGTERM (a clean stop) and waits for it.
    pub fn stop_pcscd(&mut self) -> Result<(), HarnessError> {
        if let Some(mut child) = self.pcscd.take() {
            signal_group(child.id(), "TERM");
            if let Err(e) = wait_exit(&mut child, "pcscd", READY_LIMIT) {
                kill_and_reap(&mut child);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Kills pcscd and starts a new one, reachable on the same client path.
    pub fn restart_pcscd(&mut self) -> Result<(), HarnessError> {
        self.kill_pcscd();
        self.start_pcscd()
    }

    /// Inserts a software card: `cardgate-sim serve` connected to `slot`'s vpcd port.
    /// `remove_after_apdus` passes `--remove-after-apdus N`. Returns once the process runs;
    /// use [`PcscLab::wait_for_card`] to wait for pcscd to see the card.
    pub fn serve_card(
        &self,
        slot: usize,
        card: &SoftCardFile,
        remove_after_apdus: Option<u64>,
    ) -> Result<CardProcess, HarnessError> {
        self.reader_of(slot)?;
        let sim = paths::sim_binary()?;
        let mut command = self.in_namespace(&sim)?;
        command
            .arg("serve")
            .arg("--card")
            .arg(card.path())
            .args(["--vpcd", &self.vpcd_address(slot)]);
        if let Some(n) = remove_after_apdus {
            command.args(["--remove-after-apdus", &n.to_string()]);
        }
        self.spawn_card(command, "cardgate-sim serve", slot)
    }

    /// [`PcscLab::serve_card`], then waits until pcscd sees the card: a card put in the
    /// reader, as a person would.
    pub fn insert_card(
        &self,
        slot: usize,
        card: &SoftCardFile,
    ) -> Result<CardProcess, HarnessError> {
        let process = self.serve_card(slot, card, None)?;
        self.wait_for_card(slot)?;
        Ok(process)
    }

    /// Inserts vsmartcard's Python card `vicc` (ISO 7816 type) into `slot`.
    pub fn start_vicc(&self, slot: usize) -> Result<CardProcess, HarnessError> {
        self.reader_of(slot)?;
        paths::require_program("vicc", "vsmartcard-vpicc")?;
        if !Path::new(CRYPTODOME).is_dir() {
            return Err(HarnessError::MissingProgram {
                program: "Cryptodome (python module)",
                package: "python3-pycryptodome",
            });
        }
        // vicc imports `Crypto`; Debian ships pycryptodome as `Cryptodome`.
        let shim = self.dir.join("python-shim");
        std::fs::create_dir_all(&shim).map_err(io("cannot create", &shim))?;
        let link = shim.join("Crypto");
        if !link.exists() {
            std::os::unix::fs::symlink(CRYPTODOME, &link).map_err(io("cannot link", &link))?;
        }
        let mut command = self.in_namespace("vicc")?;
        command
            .env(
                "PYTHONPATH",
                format!("{VICC_PYTHONPATH}:{}", shim.display()),
            )
            .args(["-t", "iso7816", "-H", "127.0.0.1", "-P"])
            .arg((usize::from(VPCD_BASE_PORT) + slot).to_string());
        self.spawn_card(command, "vicc", slot)
    }

    /// Inserts any vpcd card program (run inside the namespace with `address` appended).
    pub fn start_card_program(
        &self,
        slot: usize,
        program: impl AsRef<std::ffi::OsStr>,
        what: &str,
    ) -> Result<CardProcess, HarnessError> {
        self.reader_of(slot)?;
        let mut command = self.in_namespace(program)?;
        command.arg(self.vpcd_address(slot));
        self.spawn_card(command, what, slot)
    }

    pub(crate) fn spawn_card(
        &self,
        command: Command,
        what: &str,
        slot: usize,
    ) -> Result<CardProcess, HarnessError> {
        let log = self.dir.join(format!("card-{slot}.log"));
        let child = spawn(command, what, &log)?;
        Ok(CardProcess::new(child, what.to_owned(), slot))
    }

    /// Waits (in `SCardGetStatusChange`, no polling) until pcscd sees a card in `slot`;
    /// returns its ATR.
    pub fn wait_for_card(&self, slot: usize) -> Result<Vec<u8>, HarnessError> {
        let reader = self.reader_of(slot)?;
        let context = PcscContext::establish().map_err(|source| HarnessError::Pcsc {
            what: "connecting to the lab's pcscd",
            source,
        })?;
        context
            .wait_for_card(reader, READY_LIMIT)
            .map_err(|source| HarnessError::Pcsc {
                what: "waiting for a card",
                source,
            })
    }

    /// `opensc-tool ARGS` against this lab's pcscd; its standard output.
    pub fn opensc_tool(&self, args: &[&str]) -> Result<String, HarnessError> {
        paths::require_program("opensc-tool", "opensc")?;
        let output = Command::new("opensc-tool")
            .env("PCSCLITE_CSOCK_NAME", self.client_socket())
            .args(args)
            .output()
            .map_err(|source| HarnessError::Io {
                what: "cannot run",
                path: PathBuf::from("opensc-tool"),
                source,
            })?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            Ok(text)
        } else {
            Err(HarnessError::CommandFailed {
                what: format!("opensc-tool {args:?}"),
                detail: format!("{text} {}", String::from_utf8_lossy(&output.stderr)),
            })
        }
    }

    /// Waits until pcscd sees a card in `slot`, asking through `opensc-tool --list-readers`
    /// on [`PcscLab::client_socket`] (every 50 ms, up to 15 s): for a lab of
    /// [`PcscLab::for_site`], which this process's PC/SC calls do not reach.
    pub fn wait_for_card_seen(&self, slot: usize) -> Result<(), HarnessError> {
        let reader = self.reader_of(slot)?.to_owned();
        let start = Instant::now();
        loop {
            let listing = self.opensc_tool(&["--list-readers"])?;
            // `Nr.  Card  Features  Name`: `0    Yes             Virtual PCD 00 00`.
            if listing
                .lines()
                .any(|l| l.ends_with(reader.as_str()) && l.split_whitespace().nth(1) == Some("Yes"))
            {
                return Ok(());
            }
            if start.elapsed() > READY_LIMIT {
                return Err(HarnessError::Timeout(format!(
                    "a card in {reader} (opensc-tool: {listing})"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until pcscd sees no card in `slot`.
    pub fn wait_for_no_card(&self, slot: usize) -> Result<(), HarnessError> {
        let reader = self.reader_of(slot)?;
        let context = PcscContext::establish().map_err(|source| HarnessError::Pcsc {
            what: "connecting to the lab's pcscd",
            source,
        })?;
        context
            .wait_for_no_card(reader, READY_LIMIT)
            .map_err(|source| HarnessError::Pcsc {
                what: "waiting for the card to leave",
                source,
            })
    }
}

impl Drop for PcscLab {
    fn drop(&mut self) {
        self.kill_pcscd();
        if let Some(mut holder) = self.holder.take() {
            kill_and_reap(&mut holder);
        }
        if self._serialised.is_some() {
            let _ = std::fs::remove_file(&self.client_socket);
        }
        if let Some(parent) = self
            .client_socket
            .parent()
            .filter(|_| self._serialised.is_some())
        {
            // Empty now; the next lab of this process creates it again.
            let _ = std::fs::remove_dir(parent);
        }
        // CARDGATE_LAB_KEEP=1 keeps the lab's files (logs, configuration) for a post-mortem.
        let keep = std::env::var_os("CARDGATE_LAB_KEEP").is_some_and(|v| v == "1");
        if !keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl PcscLab {
    /// [`PcscLab::start`] with pcscd logging every APDU and response in full (`--debug
    /// --apdu`) to `pcscd.log` in the lab's work directory: the reader's own view of what
    /// crosses it, for a test that a secret never does ([`PcscLab::apdus_logged`]).
    pub fn start_logging_apdus() -> Result<PcscLab, HarnessError> {
        let mut lab = PcscLab::start()?;
        lab.kill_pcscd();
        lab.start_pcscd_with(&["--debug", "--apdu"])?;
        Ok(lab)
    }

    /// Every command APDU pcscd has logged so far (`APDU: 00 20 00 82 ...` lines of a lab
    /// from [`PcscLab::start_logging_apdus`]), as bytes.
    pub fn apdus_logged(&self) -> Result<Vec<Vec<u8>>, HarnessError> {
        let path = self.dir.join("pcscd.log");
        let log = std::fs::read_to_string(&path).map_err(|source| HarnessError::Io {
            what: "cannot read pcscd's log",
            path: path.clone(),
            source,
        })?;
        Ok(log
            .lines()
            .filter_map(|l| l.split_once("APDU: ").map(|(_, hex)| hex))
            .map(|hex| {
                hex.split_whitespace()
                    .map_while(|w| u8::from_str_radix(w, 16).ok())
                    .collect()
            })
            .collect())
    }
}
