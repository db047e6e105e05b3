//! The cardgate test harness: a private `pcscd` with vsmartcard `vpcd` readers, and virtual
//! cards (the software card `cardgate-sim serve`, vsmartcard's `vicc`, a floor card) in them.
//!
//! ```no_run
//! # fn main() -> Result<(), cardgate_tests::HarnessError> {
//! use cardgate_tests::{fixtures, issuer_key, PcscLab, SoftCardFile};
//! let mut lab = PcscLab::start()?;                  // a private pcscd, two vpcd readers
//! let issuer = issuer_key()?;
//! let card = SoftCardFile::personalised(&lab, &issuer, "op-1", fixtures::PIN, fixtures::PUK)?;
//! let mut inserted = lab.serve_card(0, &card, None)?; // `cardgate-sim serve` into slot 0
//! let atr = lab.wait_for_card(0)?;                  // seen through PC/SC
//! inserted.remove()?;                               // SIGTERM: the card leaves the reader
//! lab.restart_pcscd()?;                             // same socket path for the clients
//! # let _ = atr; Ok(()) }
//! ```
//!
//! # The virtual OpenPGP card
//! [`VirtualOpenPgpCard`] is an OpenPGP card v3.4 (`tools/opcard-virt`: Nitrokey's opcard
//! on trussed's virtual platform, its own LGPL workspace) served into a slot by
//! [`PcscLab::serve_openpgp_card`]; [`openpgp`] has the outside clients (raw APDUs, the
//! security-state probe, `gpg --card-status`).
//!
//! # The office
//! [`Office`] is the one office fixture of every real-stack test, the daemon bench and the
//! demo: a lab, the issuer key, the audit log, the revocation list, `cardgated.toml`, a
//! stand-in `loginctl`, `cardgated` and `cardgatectl` (`Office::standard` for the usual
//! terminal, operator and user). The standard names and secrets are in [`fixtures`].
//! `docs/testing.md` says where each test lives.
//!
//! # How the private pcscd stays private
//! A long-lived *namespace holder* process is started with `unshare --mount --net`: it mounts
//! a tmpfs over `/run/pcscd` and brings up loopback. `pcscd` runs inside it (`nsenter
//! --mount --net`), so its socket lives on that tmpfs and its vpcd ports on that loopback:
//! the host's pcscd and network are never touched. Killing and restarting pcscd keeps the
//! holder, so the socket path stays the same.
//!
//! The test process itself stays outside: libpcsclite honours `PCSCLITE_CSOCK_NAME`, read
//! once per process. The harness points it, once, at a fixed per-process symlink
//! (`$TMPDIR/cardgate-lab-<pid>/pcscd.comm`), and each lab re-points the symlink at
//! `/proc/<holder>/root/run/pcscd/pcscd.comm`. Labs in one process are serialised by a global
//! lock, so tests in one binary run one after another, each with a fresh pcscd.
//!
//! # Teardown
//! Everything is spawned in its own process group under `setpriv --pdeathsig KILL`, and killed
//! (group-wide) when the lab or card handle drops, which also happens while a failing test
//! unwinds. If the test process is killed outright, the death signal takes the children down.
//!
//! # Binaries
//! `cardgate-sim` is found by [`paths::sim_binary`]: `$CARDGATE_SIM_BIN`, else next to the
//! running test executable's profile directory. `cargo xtask test` builds every binary
//! before it runs the tests; run `cargo build -p cardgate-sim` first when running
//! `cargo test -p cardgate-tests` by hand. A missing or stale binary is an error, never a skip.
//!
//! Needs root (namespaces, mounts); otherwise every lab fails with [`HarnessError::NotRoot`].
#![forbid(unsafe_code)]

mod cards;
mod error;
pub mod fixtures;
mod lab;
mod office;
pub mod openpgp;
pub mod pamtester;
pub mod paths;
mod process;
pub mod scripted;
pub mod site;
pub mod site_attack;
pub mod terminal;

pub use cards::{issuer_key, SoftCardFile};
pub use error::HarnessError;
pub use fixtures::{MANAGER_ID, MANAGER_PIN, MANAGER_PUK};
pub use lab::{PcscLab, VPCD_BASE_PORT};
pub use office::{outcome, signal, Daemon, Office, TerminalSpec, LIMIT};
pub use openpgp::VirtualOpenPgpCard;
pub use process::CardProcess;
