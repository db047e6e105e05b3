//! The virtual OpenPGP card (`tools/opcard-virt`: Nitrokey's opcard on trussed's virtual
//! platform) in a lab's vpcd slot, and the outside clients that check what it holds: raw
//! APDUs through PC/SC, the security-state probe, `gpg --card-status`.
//!
//! ```no_run
//! # fn main() -> Result<(), cardgate_tests::HarnessError> {
//! use cardgate_tests::{openpgp, PcscLab, VirtualOpenPgpCard};
//! let lab = PcscLab::start()?;
//! let card = VirtualOpenPgpCard::factory_fresh(&lab, "yubikey-1")?;
//! let _inserted = lab.insert_openpgp_card(0, &card)?;
//! // Hold the card powered, or pcscd powers it off when idle and clears PW1 by itself.
//! let _power = openpgp::PowerHold::connect(&lab, 0)?;
//! assert_eq!(openpgp::security_state_probe(&lab, 0)?, openpgp::SW_SECURITY_NOT_SATISFIED);
//! println!("{}", openpgp::gpg_card_status(&lab, 0)?);
//! # Ok(()) }
//! ```
//!
//! # pcscd and the card's power
//! pcscd powers a card down when no client holds a connection to it (pcsc-lite's
//! `src/eventhandler.c`, in the reader's event thread: the last `SCardDisconnect` puts the
//! reader in `POWER_STATE_GRACE_PERIOD`, the next round of the thread makes it
//! `POWER_STATE_POWERED`, and the round after calls `IFDPowerICC(IFD_POWER_DOWN)`; a card
//! inserted and never connected to is powered down the same way). For a driver with a
//! card-event callback a round waits `PCSCLITE_POWER_OFF_GRACE_PERIOD` (5 s); vpcd's rounds
//! are the event thread's polling sleeps (`PCSCLITE_STATUS_POLL_RATE`, 400 ms), so in a lab
//! the power-down comes within a second of the last disconnect (measured: about 0.7 s,
//! `an_idle_card_is_powered_down_by_pcscd_and_forgets_pw1`). With vpcd the power-down is a
//! power-off message to the card program, which clears opcard's verified PINs. A test of
//! the security state that lets go of the card for that long sees it cleared by pcscd, not
//! by the software under test: [`PowerHold`] keeps one shared connection open across the
//! operation and the probe, and [`card_events`] shows that no power event came between.

use crate::process::{guarded, wait_exit};
use crate::{paths, CardProcess, HarnessError, PcscLab};
use cardgate_reader::pcsc::{ConnectOptions, PcscCard, PcscContext};
use cardgate_reader::CardTransport;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The OpenPGP application's AID prefix (RID `D2 76 00 01 24`, application `01`).
pub const OPENPGP_AID: [u8; 6] = [0xD2, 0x76, 0x00, 0x01, 0x24, 0x01];
/// A factory-fresh card's PW1 (the user PIN).
pub const FACTORY_PW1: &str = "123456";
/// A factory-fresh card's PW3 (the admin PIN).
pub const FACTORY_PW3: &str = "12345678";
/// `9000`.
pub const SW_OK: u16 = 0x9000;
/// `6982`: security status not satisfied (no verified PIN for the command).
pub const SW_SECURITY_NOT_SATISFIED: u16 = 0x6982;

/// How long a card program or gpg may take before the harness gives up.
const LIMIT: Duration = Duration::from_secs(30);
/// Bound on `61xx` rounds (a response longer than this many GET RESPONSEs is a card bug).
const MAX_GET_RESPONSE: usize = 64;

/// A virtual OpenPGP card's state directory in a lab's work directory: what the card keeps
/// across power cycles (PINs, retry counters, keys, data objects), for
/// [`PcscLab::serve_openpgp_card`].
#[derive(Debug, Clone)]
pub struct VirtualOpenPgpCard {
    state: PathBuf,
    serial: Option<[u8; 4]>,
}

impl VirtualOpenPgpCard {
    /// A card as it comes from the factory (PW1 [`FACTORY_PW1`], PW3 [`FACTORY_PW3`], no
    /// keys), its state under the lab's work directory as `<name>.opcard`; opcard-virt
    /// gives it a random serial when it first starts.
    pub fn factory_fresh(lab: &PcscLab, name: &str) -> Result<Self, HarnessError> {
        Self::create(lab, name, None)
    }

    /// [`VirtualOpenPgpCard::factory_fresh`] with the serial (AID bytes 10..14) `serial`.
    pub fn with_serial(lab: &PcscLab, name: &str, serial: [u8; 4]) -> Result<Self, HarnessError> {
        Self::create(lab, name, Some(serial))
    }

    fn create(lab: &PcscLab, name: &str, serial: Option<[u8; 4]>) -> Result<Self, HarnessError> {
        let state = lab.work_dir().join(format!("{name}.opcard"));
        if state.exists() {
            return Err(HarnessError::CommandFailed {
                what: format!("a new virtual OpenPGP card {name}"),
                detail: format!("{} exists already", state.display()),
            });
        }
        std::fs::create_dir_all(&state).map_err(|source| HarnessError::Io {
            what: "cannot create the card state directory",
            path: state.clone(),
            source,
        })?;
        Ok(VirtualOpenPgpCard { state, serial })
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.state
    }

    /// The card's serial as 8 hex digits, as opcard-virt keeps it (after its first start).
    pub fn serial_hex(&self) -> Result<String, HarnessError> {
        let path = self.state.join("serial");
        let text = std::fs::read_to_string(&path).map_err(|source| HarnessError::Io {
            what: "cannot read the card serial (has the card been started?)",
            path,
            source,
        })?;
        Ok(text.trim().to_owned())
    }
}

/// Sends `apdu` on `card` and follows `61xx` with GET RESPONSE; returns the data and the
/// final status word.
pub fn transmit(
    card: &mut impl CardTransport,
    apdu: &[u8],
) -> Result<(Vec<u8>, u16), HarnessError> {
    let pcsc = |source| HarnessError::Pcsc {
        what: "sending an APDU to the OpenPGP card",
        source,
    };
    let mut data = Vec::new();
    let mut response = card.transmit(apdu).map_err(pcsc)?;
    for _ in 0..MAX_GET_RESPONSE {
        let (body, sw) = split_sw(&response)?;
        data.extend_from_slice(body);
        if sw >> 8 != 0x61 {
            return Ok((data, sw));
        }
        let le = (sw & 0xFF) as u8;
        response = card.transmit(&[0x00, 0xC0, 0x00, 0x00, le]).map_err(pcsc)?;
    }
    Err(HarnessError::CommandFailed {
        what: "GET RESPONSE".into(),
        detail: format!("the card still had more after {MAX_GET_RESPONSE} rounds"),
    })
}

fn split_sw(response: &[u8]) -> Result<(&[u8], u16), HarnessError> {
    match response {
        [body @ .., a, b] => Ok((body, u16::from_be_bytes([*a, *b]))),
        _ => Err(HarnessError::CommandFailed {
            what: "an APDU to the OpenPGP card".into(),
            detail: format!("a response of {} bytes has no status word", response.len()),
        }),
    }
}

/// A short APDU with data and `Le = 00`.
pub fn apdu(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8]) -> Vec<u8> {
    let mut out = vec![cla, ins, p1, p2];
    if !data.is_empty() {
        // Short APDUs only: the harness's commands are all far below 256 bytes.
        out.push(u8::try_from(data.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(data);
    }
    out.push(0x00);
    out
}

/// A PC/SC client other than cardgate: a shared connection to the card in one slot, as
/// gpg, OpenSC or any program on the terminal may open.
pub struct OutsideClient {
    card: PcscCard,
}

impl std::fmt::Debug for OutsideClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutsideClient")
            .field("reader", &self.card.reader_name())
            .finish_non_exhaustive()
    }
}

impl OutsideClient {
    /// Connects (shared) to the card in `slot`.
    pub fn connect(lab: &PcscLab, slot: usize) -> Result<Self, HarnessError> {
        let reader = lab
            .reader(slot)
            .ok_or(HarnessError::ReaderCount(slot + 1))?;
        let context = PcscContext::establish().map_err(|source| HarnessError::Pcsc {
            what: "connecting to the lab's pcscd",
            source,
        })?;
        let card = context
            .connect(reader, ConnectOptions::default())
            .map_err(|source| HarnessError::Pcsc {
                what: "connecting to the OpenPGP card",
                source,
            })?;
        Ok(OutsideClient { card })
    }

    /// Sends one APDU, following `61xx`; the data and the status word.
    pub fn transmit(&mut self, apdu: &[u8]) -> Result<(Vec<u8>, u16), HarnessError> {
        transmit(&mut self.card, apdu)
    }

    /// SELECT the OpenPGP application by its AID prefix; the status word.
    pub fn select_openpgp(&mut self) -> Result<u16, HarnessError> {
        Ok(self
            .transmit(&apdu(0x00, 0xA4, 0x04, 0x00, &OPENPGP_AID))?
            .1)
    }

    /// VERIFY `pin` for PW `p2` (`81` signing, `82` other uses, `83` admin); the status word.
    pub fn verify(&mut self, p2: u8, pin: &str) -> Result<u16, HarnessError> {
        let mut command = vec![0x00, 0x20, 0x00, p2];
        command.push(u8::try_from(pin.len()).unwrap_or(u8::MAX));
        command.extend_from_slice(pin.as_bytes());
        Ok(self.transmit(&command)?.1)
    }

    /// VERIFY with `P1=FF`: the card forgets that PW `p2` was verified; the status word.
    pub fn unverify(&mut self, p2: u8) -> Result<u16, HarnessError> {
        Ok(self.transmit(&[0x00, 0x20, 0xFF, p2])?.1)
    }

    /// VERIFY without data: the retry counter as `63Cx` (or `9000` when verified).
    pub fn verify_status(&mut self, p2: u8) -> Result<u16, HarnessError> {
        Ok(self.transmit(&[0x00, 0x20, 0x00, p2])?.1)
    }

    /// INTERNAL AUTHENTICATE over `digest` with the authentication key: the signature and
    /// the status word.
    pub fn internal_authenticate(&mut self, digest: &[u8]) -> Result<(Vec<u8>, u16), HarnessError> {
        self.transmit(&apdu(0x00, 0x88, 0x00, 0x00, digest))
    }

    /// Sets the authentication key's algorithm attributes (DO `C3`) to ECDSA P-256 and
    /// generates the key on the card (needs PW3 verified): the public key DO `7F49`.
    pub fn generate_p256_auth_key(&mut self) -> Result<Vec<u8>, HarnessError> {
        // Algorithm id 13 (ECDSA) + the OID of P-256 (1.2.840.10045.3.1.7).
        let attributes = [0x13, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
        let sw = self.transmit(&apdu(0x00, 0xDA, 0x00, 0xC3, &attributes))?.1;
        expect_ok("PUT DATA C3 (ECDSA P-256)", sw)?;
        let (public, sw) = self.transmit(&apdu(0x00, 0x47, 0x80, 0x00, &[0xA4, 0x00]))?;
        expect_ok("GENERATE ASYMMETRIC KEY PAIR (authentication)", sw)?;
        Ok(public)
    }

    /// Powers the card off and on (`SCardReconnect` with `SCARD_UNPOWER_CARD`): through vpcd
    /// a power-off and power-on reach the card program.
    pub fn power_cycle(&mut self) -> Result<(), HarnessError> {
        self.card
            .power_cycle()
            .map_err(|source| HarnessError::Pcsc {
                what: "powering the OpenPGP card off and on",
                source,
            })
    }

    /// Warm-resets the card (`SCardReconnect` with `SCARD_RESET_CARD`).
    pub fn reset(&mut self) -> Result<(), HarnessError> {
        self.card.reset().map_err(|source| HarnessError::Pcsc {
            what: "resetting the OpenPGP card",
            source,
        })
    }

    /// Disconnects leaving the card as it is (no reset), so that what this client did, or
    /// did not, change stays for the next one to see.
    pub fn leave(self) -> Result<(), HarnessError> {
        self.card.leave().map_err(|source| HarnessError::Pcsc {
            what: "disconnecting from the OpenPGP card",
            source,
        })
    }
}

/// Fails unless `sw` is `9000`, naming the command.
pub fn expect_ok(what: &str, sw: u16) -> Result<(), HarnessError> {
    if sw == SW_OK {
        Ok(())
    } else {
        Err(HarnessError::CommandFailed {
            what: what.to_owned(),
            detail: format!("the card answered {sw:04X}"),
        })
    }
}

/// A shared connection held open so that pcscd does not power the idle card off (see the
/// module documentation). Dropping it disconnects leaving the card as it is.
pub struct PowerHold {
    card: Option<PcscCard>,
}

impl std::fmt::Debug for PowerHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PowerHold")
    }
}

impl PowerHold {
    /// Connects (shared) to the card in `slot` and keeps the connection.
    pub fn connect(lab: &PcscLab, slot: usize) -> Result<Self, HarnessError> {
        let client = OutsideClient::connect(lab, slot)?;
        Ok(PowerHold {
            card: Some(client.card),
        })
    }
}

impl Drop for PowerHold {
    fn drop(&mut self) {
        if let Some(card) = self.card.take() {
            // Leave, not reset: the hold must not change what the test looks at. A card
            // already gone has nothing left to leave.
            let _ = card.leave();
        }
    }
}

/// The security-state probe of an outside PC/SC client: connect (shared), SELECT the
/// OpenPGP application, INTERNAL AUTHENTICATE without VERIFY, leave the card as it is.
/// Returns the status word: [`SW_SECURITY_NOT_SATISFIED`] when no PIN is left verified.
/// Hold a [`PowerHold`] across the operation and the probe (see the module documentation).
pub fn security_state_probe(lab: &PcscLab, slot: usize) -> Result<u16, HarnessError> {
    let mut client = OutsideClient::connect(lab, slot)?;
    expect_ok("SELECT OpenPGP", client.select_openpgp()?)?;
    let (_, sw) = client.internal_authenticate(&[0x5A; 32])?;
    client.leave()?;
    Ok(sw)
}

/// The private GNUPGHOME for the card in `slot` (mode 0700, in the lab's work directory),
/// whose scdaemon uses PC/SC only (`disable-ccid`), shares the card (`pcsc-shared`) and reads
/// the slot's reader (`reader-port`).
fn gnupg_home(lab: &PcscLab, slot: usize) -> Result<PathBuf, HarnessError> {
    let reader = lab
        .reader(slot)
        .ok_or(HarnessError::ReaderCount(slot + 1))?;
    let home = lab.work_dir().join(format!("gnupg-{slot}"));
    let io = |what: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| HarnessError::Io { what, path, source }
    };
    std::fs::create_dir_all(&home).map_err(io("cannot create", &home))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700))
            .map_err(io("cannot restrict", &home))?;
    }
    let conf = home.join("scdaemon.conf");
    std::fs::write(
        &conf,
        format!("disable-ccid\npcsc-shared\nreader-port {reader}\n"),
    )
    .map_err(io("cannot write", &conf))?;
    Ok(home)
}

/// Stops the agent and scdaemon of `home`: they outlive the program that started them and
/// would keep the card.
fn stop_gnupg(lab: &PcscLab, home: &Path, log: &Path) -> Result<String, HarnessError> {
    let mut kill = guarded("gpgconf");
    kill.arg("--homedir")
        .arg(home)
        .args(["--kill", "all"])
        .env("PCSCLITE_CSOCK_NAME", lab.client_socket())
        .stdin(Stdio::null());
    run_captured(kill, "gpgconf --kill all", log)
}

/// `gpg --card-status` for the card in `slot`, through the lab's pcscd: a private
/// GNUPGHOME in the lab's work directory whose scdaemon uses PC/SC only (`disable-ccid`),
/// shares the card (`pcsc-shared`) and reads the slot's reader (`reader-port`), and finds
/// pcscd through `PCSCLITE_CSOCK_NAME` (the lab's client socket). The agent and scdaemon
/// are stopped before this returns, so they hold no connection to the card afterwards.
/// Returns gpg's standard output.
pub fn gpg_card_status(lab: &PcscLab, slot: usize) -> Result<String, HarnessError> {
    paths::require_program("gpg", "gnupg")?;
    paths::require_program("gpgconf", "gnupg")?;
    if !Path::new("/usr/lib/gnupg/scdaemon").is_file() {
        return Err(HarnessError::MissingProgram {
            program: "scdaemon",
            package: "scdaemon",
        });
    }
    let home = gnupg_home(lab, slot)?;
    let log = lab.work_dir().join(format!("gpg-{slot}.log"));
    let run = |args: &[&str], what: &str| -> Result<String, HarnessError> {
        let mut command = guarded("gpg");
        command
            .arg("--homedir")
            .arg(&home)
            .args(args)
            .env("PCSCLITE_CSOCK_NAME", lab.client_socket())
            .stdin(Stdio::null());
        run_captured(command, what, &log)
    };
    let status = run(
        &["--batch", "--no-tty", "--card-status"],
        "gpg --card-status",
    );
    // Always stop the agent and scdaemon: they outlive gpg and would keep the card.
    let killed = stop_gnupg(lab, &home, &log);
    let status = status?;
    killed?;
    Ok(status)
}

/// Runs `command` to its end (at most [`LIMIT`]), appends its error output to `log`, and
/// returns its standard output; fails with the error output on a non-zero exit.
fn run_captured(
    mut command: std::process::Command,
    what: &str,
    log: &Path,
) -> Result<String, HarnessError> {
    let out_path = log.with_extension("out");
    let err_path = log.with_extension("err");
    let create = |path: &Path| {
        std::fs::File::create(path).map_err(|source| HarnessError::Io {
            what: "cannot create",
            path: path.to_owned(),
            source,
        })
    };
    command
        .stdout(create(&out_path)?)
        .stderr(create(&err_path)?);
    let mut child = crate::process::spawn_from_lasting_thread(command).map_err(|source| {
        HarnessError::Spawn {
            what: what.to_owned(),
            source,
        }
    })?;
    let status = match wait_exit(&mut child, what, LIMIT) {
        Ok(status) => status,
        Err(e) => {
            crate::process::kill_and_reap(&mut child);
            return Err(e);
        }
    };
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    let (stdout, stderr) = (read(&out_path), read(&err_path));
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        use std::io::Write;
        // The log is for a post-mortem only; a failure to append changes no result.
        let _ = writeln!(file, "$ {what}: {status}\n{stderr}");
    }
    if status.success() {
        Ok(stdout)
    } else {
        Err(HarnessError::CommandFailed {
            what: what.to_owned(),
            detail: format!("{status}: {}", stderr.trim()),
        })
    }
}

/// A power event from the reader, as opcard-virt logs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerEvent {
    /// Power on.
    On,
    /// Power off (opcard's volatile state, the verified PINs, is gone).
    Off,
    /// Warm reset (the same).
    Reset,
}

/// One line of what reached the card in a slot, from opcard-virt's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardEvent {
    /// An APDU: its header (CLA INS P1 P2), its length, the status word answered. The data
    /// is never logged (it may be a PIN).
    Apdu {
        /// CLA INS P1 P2.
        header: [u8; 4],
        /// The whole command's length in bytes.
        len: usize,
        /// The status word of the response.
        sw: u16,
    },
    /// A power event.
    Power(PowerEvent),
}

/// Everything that reached the virtual OpenPGP card in `slot` so far, in order, from the
/// card program's log: for a test that checks which commands an operation sent (a
/// `VERIFY P1=FF` clearing the security state: header `00 20 FF 82`) or that no power
/// event came between two points (see the module documentation).
pub fn card_events(lab: &PcscLab, slot: usize) -> Result<Vec<CardEvent>, HarnessError> {
    let path = lab.work_dir().join(format!("card-{slot}.log"));
    let text = std::fs::read_to_string(&path).map_err(|source| HarnessError::Io {
        what: "cannot read the card log",
        path,
        source,
    })?;
    Ok(text.lines().filter_map(parse_card_event).collect())
}

/// `opcard-virt: APDU 7: 00 20 00 82 (11 bytes) -> 9000 (2 bytes)` or
/// `opcard-virt: power off from the reader`.
fn parse_card_event(line: &str) -> Option<CardEvent> {
    let rest = line.strip_prefix("opcard-virt: ")?;
    if let Some(power) = rest.strip_suffix(" from the reader") {
        return Some(CardEvent::Power(match power {
            "power on" => PowerEvent::On,
            "power off" => PowerEvent::Off,
            "reset" => PowerEvent::Reset,
            _ => return None,
        }));
    }
    let (_, apdu) = rest.strip_prefix("APDU ")?.split_once(": ")?;
    let (header_text, rest) = apdu.split_once(" (")?;
    let (len, rest) = rest.split_once(" bytes) -> ")?;
    let sw = rest.split_whitespace().next()?;
    let bytes: Vec<u8> = header_text
        .split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).ok())
        .collect::<Option<_>>()?;
    Some(CardEvent::Apdu {
        header: bytes.try_into().ok()?,
        len: len.parse().ok()?,
        sw: u16::from_str_radix(sw, 16).ok()?,
    })
}

impl PcscLab {
    /// Inserts a virtual OpenPGP card: `opcard-virt` connected to `slot`'s vpcd port with
    /// `card`'s state. `remove_after_apdus` passes `--remove-after-apdus N` (the card leaves
    /// the reader after answering N APDUs). Returns once the process runs; use
    /// [`PcscLab::wait_for_card`] to wait for pcscd to see the card.
    pub fn serve_openpgp_card(
        &self,
        slot: usize,
        card: &VirtualOpenPgpCard,
        remove_after_apdus: Option<u64>,
    ) -> Result<CardProcess, HarnessError> {
        if self.reader(slot).is_none() {
            return Err(HarnessError::ReaderCount(slot + 1));
        }
        let binary = paths::opcard_virt_binary()?;
        let mut command = self.in_namespace(&binary)?;
        command
            .arg("--state")
            .arg(card.state_dir())
            .args(["--vpcd", &self.vpcd_address(slot)]);
        if let Some(serial) = card.serial {
            command.args(["--serial", &hex::encode_upper(serial)]);
        }
        if let Some(n) = remove_after_apdus {
            command.args(["--remove-after-apdus", &n.to_string()]);
        }
        self.spawn_card(command, "opcard-virt", slot)
    }

    /// [`PcscLab::serve_openpgp_card`], then waits until pcscd sees the card.
    pub fn insert_openpgp_card(
        &self,
        slot: usize,
        card: &VirtualOpenPgpCard,
    ) -> Result<CardProcess, HarnessError> {
        let process = self.serve_openpgp_card(slot, card, None)?;
        self.wait_for_card(slot)?;
        Ok(process)
    }
}

/// How many `VERIFY` commands with data (a PIN, or the KDF hash of one: more than the four
/// header bytes) the card program in `slot` has logged so far, in every run of the slot's
/// card log. opcard-virt logs each APDU's header and length, never its data, so this counts
/// what reached the card without showing it.
pub fn verifies_with_data(lab: &PcscLab, slot: usize) -> Result<usize, HarnessError> {
    let path = lab.work_dir().join(format!("card-{slot}.log"));
    let log = std::fs::read_to_string(&path).map_err(|source| HarnessError::Io {
        what: "cannot read the card log",
        path,
        source,
    })?;
    // `opcard-virt: APDU 7: 00 20 00 82 (13 bytes) -> 9000 (2 bytes)`
    Ok(log
        .lines()
        .filter_map(|l| l.split_once(": APDU ")?.1.split_once(": ").map(|(_, r)| r))
        .filter(|r| {
            let mut words = r.split_whitespace();
            let header: Vec<&str> = words.by_ref().take(4).collect();
            let length = words
                .next()
                .and_then(|w| w.strip_prefix('('))
                .and_then(|w| w.parse::<usize>().ok())
                .unwrap_or(0);
            matches!(header.as_slice(), [_, "20", "00", _]) && length > 4
        })
        .count())
}

impl OutsideClient {
    /// GET DATA `tag` (one or two bytes): the data and the status word.
    pub fn get_data(&mut self, tag: &[u8]) -> Result<(Vec<u8>, u16), HarnessError> {
        let (p1, p2) = match tag {
            [one] => (0x00, *one),
            [a, b] => (*a, *b),
            _ => {
                return Err(HarnessError::CommandFailed {
                    what: "GET DATA".into(),
                    detail: format!("a tag of {} bytes", tag.len()),
                })
            }
        };
        self.transmit(&apdu(0x00, 0xCA, p1, p2, &[]))
    }

    /// PW1's retry counter from the PW status bytes (DO `C4`), read without any PIN.
    pub fn pw1_tries_left(&mut self) -> Result<u8, HarnessError> {
        let (status, sw) = self.get_data(&[0xC4])?;
        expect_ok("GET DATA C4 (PW status bytes)", sw)?;
        status
            .get(4)
            .copied()
            .ok_or_else(|| HarnessError::CommandFailed {
                what: "GET DATA C4 (PW status bytes)".into(),
                detail: format!("{} bytes, not 7", status.len()),
            })
    }

    /// PUT DATA `tag` (two bytes) with `data` of any length, in a chain of short APDUs
    /// (CLA bit `0x10` on all but the last); the last status word.
    pub fn put_data_chained(&mut self, tag: [u8; 2], data: &[u8]) -> Result<u16, HarnessError> {
        let mut parts = data.chunks(255).peekable();
        let mut sw = SW_OK;
        while let Some(part) = parts.next() {
            let cla = if parts.peek().is_some() { 0x10 } else { 0x00 };
            let mut command = vec![cla, 0xDA, tag[0], tag[1]];
            command.push(u8::try_from(part.len()).unwrap_or(u8::MAX));
            command.extend_from_slice(part);
            sw = self.transmit(&command)?.1;
            if sw != SW_OK {
                return Ok(sw);
            }
        }
        Ok(sw)
    }
}

/// Runs the GnuPG program `program` (`gpg`, `gpg-connect-agent`) with `args` against the
/// card in `slot`, in the same private GNUPGHOME as [`gpg_card_status`] (scdaemon on the
/// lab's pcscd, the slot's reader, shared), then stops the agent and scdaemon so that they
/// hold no connection to the card afterwards. `stdin` is given to the program. Returns its
/// standard output.
pub fn gnupg_run(
    lab: &PcscLab,
    slot: usize,
    program: &str,
    args: &[&str],
    stdin: &str,
) -> Result<String, HarnessError> {
    paths::require_program("gpg", "gnupg")?;
    paths::require_program("gpg-connect-agent", "gpgconf")?;
    paths::require_program("gpgconf", "gnupg")?;
    let home = gnupg_home(lab, slot)?;
    let io = |what: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| HarnessError::Io { what, path, source }
    };
    let input = home.join(format!("{program}.stdin"));
    std::fs::write(&input, stdin).map_err(io("cannot write", &input))?;
    let log = lab.work_dir().join(format!("gnupg-{slot}.log"));
    let mut command = guarded(program);
    command
        .arg("--homedir")
        .arg(&home)
        .args(args)
        .env("PCSCLITE_CSOCK_NAME", lab.client_socket())
        .stdin(std::fs::File::open(&input).map_err(io("cannot open", &input))?);
    let out = run_captured(command, &format!("{program} {}", args.join(" ")), &log);
    let killed = stop_gnupg(lab, &home, &log);
    let out = out?;
    killed?;
    Ok(out)
}

/// The cardholder certificate (DO `7F21`) as GnuPG's scdaemon reads it: `SCD READCERT
/// OPENPGP.3` through `gpg-connect-agent --hex`, its hex dump turned back into bytes.
pub fn gpg_read_certificate(lab: &PcscLab, slot: usize) -> Result<Vec<u8>, HarnessError> {
    let out = gnupg_run(
        lab,
        slot,
        "gpg-connect-agent",
        &["--hex", "SCD READCERT OPENPGP.3", "/bye"],
        "",
    )?;
    // gpg-connect-agent's hex dump: `D[0000] `, then sixteen ` XX` columns with one more
    // space after the eighth (49 characters, blank where the data ends), two spaces and the
    // data as ASCII. The columns are cut by position: the ASCII part may look like hex.
    let mut bytes = Vec::new();
    for line in out.lines() {
        let Some(rest) = line.strip_prefix("D[") else {
            continue;
        };
        let Some((_, dump)) = rest.split_once(']') else {
            continue;
        };
        let hex = dump
            .get(1..50)
            .or_else(|| dump.get(1..))
            .unwrap_or_default();
        for word in hex.split_whitespace() {
            let byte = u8::from_str_radix(word, 16).map_err(|_| HarnessError::CommandFailed {
                what: "gpg-connect-agent --hex SCD READCERT OPENPGP.3".into(),
                detail: format!("not a hex byte {word:?} in {line:?}"),
            })?;
            bytes.push(byte);
        }
    }
    // The dump is of the Assuan data line as sent, still percent-escaped (`%`, CR and LF
    // are sent as `%25`, `%0D`, `%0A`): undo it.
    let mut data = Vec::with_capacity(bytes.len());
    let mut rest = bytes.as_slice();
    while let Some((&first, tail)) = rest.split_first() {
        match (first, tail) {
            (b'%', [a, b, more @ ..]) => {
                let hex = [*a, *b];
                let byte = std::str::from_utf8(&hex)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| HarnessError::CommandFailed {
                        what: "gpg-connect-agent SCD READCERT OPENPGP.3".into(),
                        detail: format!("a bad escape %{}{}", *a as char, *b as char),
                    })?;
                data.push(byte);
                rest = more;
            }
            _ => {
                data.push(first);
                rest = tail;
            }
        }
    }
    let bytes = data;
    if !out.lines().any(|l| l.starts_with("OK")) || bytes.is_empty() {
        return Err(HarnessError::CommandFailed {
            what: "gpg-connect-agent SCD READCERT OPENPGP.3".into(),
            detail: out,
        });
    }
    Ok(bytes)
}

impl VirtualOpenPgpCard {
    /// A copy of this card as a new card `name` in `lab`'s work directory: the same serial,
    /// keys, passwords and retry counters, a state of its own. A test that pulls a card at
    /// every APDU starts each run from such a copy of one card. The card must not be running
    /// (its state files are copied as they are on disk).
    pub fn copy_as(&self, lab: &PcscLab, name: &str) -> Result<Self, HarnessError> {
        let copy = Self::create(lab, name, self.serial)?;
        for file in ["internal.bin", "external.bin", "serial"] {
            let from = self.state.join(file);
            let to = copy.state.join(file);
            std::fs::copy(&from, &to).map_err(|source| HarnessError::Io {
                what: "cannot copy the card state file",
                path: from,
                source,
            })?;
        }
        Ok(copy)
    }
}

/// What an outside client finds on an OpenPGP card ([`inspect`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    /// Tries left of PW1, the Reset Code and PW3 (`GET DATA C4`), read before any VERIFY.
    pub tries: [u8; 3],
    /// The cardholder certificate DO `7F21` (empty when the card has none).
    pub certificate: Vec<u8>,
    /// The first of the candidate PINs the card accepts as PW1.
    pub accepted_pin: Option<String>,
}

impl OutsideClient {
    /// `GET DATA C4`: the tries left of PW1, the Reset Code and PW3.
    pub fn retry_counters(&mut self) -> Result<[u8; 3], HarnessError> {
        let (status, sw) = self.transmit(&[0x00, 0xCA, 0x00, 0xC4, 0x00])?;
        expect_ok("GET DATA C4", sw)?;
        match status.as_slice() {
            [_, _, _, _, pw1, rc, pw3, ..] => Ok([*pw1, *rc, *pw3]),
            other => Err(HarnessError::CommandFailed {
                what: "GET DATA C4".into(),
                detail: format!("{} bytes of PW status, not 7", other.len()),
            }),
        }
    }

    /// `GET DATA 7F21`: the cardholder certificate as stored (empty: none).
    pub fn certificate(&mut self) -> Result<Vec<u8>, HarnessError> {
        let (cert, sw) = self.transmit(&[0x00, 0xCA, 0x7F, 0x21, 0x00])?;
        expect_ok("GET DATA 7F21", sw)?;
        Ok(cert)
    }

    /// The connection as a transport, for cardgate's own host side
    /// (`cardgate_card::OperatorCard`, `cardgate_card::openpgp::issue::factory_reset`)
    /// run as an outside program would run it.
    pub fn transport(&mut self) -> &mut PcscCard {
        &mut self.card
    }
}

/// Connects to the OpenPGP card in `slot` as an outside client and reads its retry counters
/// and certificate, then which of `pins` PW1 accepts, tried in order through cardgate's own
/// host side (so with the card's KDF-DO, as cardgated would send them). Each candidate the
/// card refuses costs a try of PW1 *after* the counters were read: give the candidates a
/// test expects first, or inspect a copy ([`VirtualOpenPgpCard::copy_as`]). The security
/// state is cleared before it leaves.
pub fn inspect(lab: &PcscLab, slot: usize, pins: &[&str]) -> Result<Inspected, HarnessError> {
    use cardgate_card::{OperatorCard, Pin, Verification};
    let card_error = |what: &str, e: cardgate_card::CardError| HarnessError::CommandFailed {
        what: what.to_owned(),
        detail: e.to_string(),
    };
    let mut client = OutsideClient::connect(lab, slot)?;
    expect_ok("SELECT OpenPGP", client.select_openpgp()?)?;
    let tries = client.retry_counters()?;
    let certificate = client.certificate()?;
    let mut accepted_pin = None;
    if !pins.is_empty() {
        let mut card = OperatorCard::new(client.transport());
        card.select()
            .map_err(|e| card_error("SELECT (cardgate)", e))?;
        for pin in pins {
            let parsed = Pin::parse(pin).map_err(|_| HarnessError::BadSecret("PIN"))?;
            let verified = card
                .verify_pin(&parsed)
                .map_err(|e| card_error("VERIFY (cardgate)", e))?;
            if verified == Verification::Verified {
                accepted_pin = Some((*pin).to_owned());
                break;
            }
        }
    }
    if !cardgate_card::reselect().clear(client.transport()) {
        return Err(HarnessError::CommandFailed {
            what: "clearing the security state after the inspection".into(),
            detail: "the card did not confirm VERIFY P1=FF".into(),
        });
    }
    client.leave()?;
    Ok(Inspected {
        tries,
        certificate,
        accepted_pin,
    })
}

/// Blocks PW1 of the card in `slot`: three wrong VERIFYs from an outside client.
pub fn block_pw1(lab: &PcscLab, slot: usize) -> Result<(), HarnessError> {
    let mut client = OutsideClient::connect(lab, slot)?;
    expect_ok("SELECT OpenPGP", client.select_openpgp()?)?;
    while client.retry_counters()?[0] > 0 {
        let sw = client.verify(0x82, "Wrong9999")?;
        if sw >> 4 != 0x63C {
            return Err(HarnessError::CommandFailed {
                what: "a wrong VERIFY of PW1".into(),
                detail: format!("the card answered {sw:04X}"),
            });
        }
    }
    client.leave()
}

/// `cardgate_card::openpgp::issue::factory_reset` on the card in `slot`, run by an outside
/// client (as an access manager's tool would): PW3 blocked with wrong tries, TERMINATE DF,
/// ACTIVATE FILE. The card is factory-fresh afterwards (PW3 [`FACTORY_PW3`], no keys, no
/// certificate).
pub fn factory_reset(lab: &PcscLab, slot: usize) -> Result<(), HarnessError> {
    let mut client = OutsideClient::connect(lab, slot)?;
    cardgate_card::openpgp::issue::factory_reset(client.transport()).map_err(|e| {
        HarnessError::CommandFailed {
            what: "the OpenPGP card's factory reset".into(),
            detail: e.to_string(),
        }
    })?;
    client.leave()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_log_lines_parse_and_others_are_skipped() {
        assert_eq!(
            parse_card_event("opcard-virt: APDU 7: 00 20 FF 82 (4 bytes) -> 9000 (2 bytes)"),
            Some(CardEvent::Apdu {
                header: [0x00, 0x20, 0xFF, 0x82],
                len: 4,
                sw: 0x9000
            })
        );
        assert_eq!(
            parse_card_event("opcard-virt: power off from the reader"),
            Some(CardEvent::Power(PowerEvent::Off))
        );
        assert_eq!(parse_card_event("ready"), None);
        assert_eq!(
            parse_card_event(
                "opcard-virt: the reader at 127.0.0.1:35963 went away (eof); reconnecting"
            ),
            None
        );
    }
}
