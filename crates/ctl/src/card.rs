//! `cardgatectl card …`: lending cards to operators and taking them back (art. 4, 5).
//!
//! The register (which card is lent to whom) and the revocation list are files the access
//! manager's tool writes; `cardgated` watches the list, so a revocation takes effect on the
//! terminal within a second. Each action is also recorded in the audit log, attributed to
//! the caller's uid: through the daemon's admin socket when it runs, directly otherwise.

use crate::client;
use crate::files::{read_secret_line, CmdError};
use cardgate_audit::{AuditConfig, AuditLog, Entry, Event, Label};
use cardgate_card::cert::{parse_iso_date, CardSerial, Role};
use cardgate_card::issue::{issue_card, unblock, IssueRequest};
use cardgate_card::policy::check_new_pin;
use cardgate_card::revocation::RevocationReason;
use cardgate_card::{IssuerKey, OperatorCard, Puk};
use cardgate_reader::pcsc::{AfterTransaction, ConnectOptions, PcscContext, PcscTransaction};
use cardgate_reader::TransportError;
use cardgate_sessiond::config::Config;
use cardgate_sessiond::register::{CardEntry, CardState, RegisterFile};
use clap::Subcommand;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Card commands.
#[derive(Debug, Subcommand)]
pub enum CardCommand {
    /// Personalise the blank card in READER for an operator and lend it (art. 5.1). Reads the
    /// card's transport PUK, then the operator's initial PIN, from stdin (one per line).
    Issue {
        /// The PC/SC reader holding the blank card.
        #[arg(long)]
        reader: String,
        /// The operator the card is lent to.
        #[arg(long)]
        operator: String,
        /// operator or manager.
        #[arg(long, default_value = "operator")]
        role: String,
        /// Last day of validity, YYYY-MM-DD [default: one year from today].
        #[arg(long)]
        valid_until: Option<String>,
        /// The issuer directory (issuer.key).
        #[arg(long, default_value = "/etc/cardgate/issuer")]
        issuer_dir: PathBuf,
    },
    /// The card came back (art. 5.2): it is revoked with reason `returned`.
    Return {
        /// The card serial, 16 hex digits.
        serial: String,
        /// The issuer directory (issuer.key).
        #[arg(long, default_value = "/etc/cardgate/issuer")]
        issuer_dir: PathBuf,
    },
    /// Revoke a card at once (art. 5.4).
    Revoke {
        /// The card serial, 16 hex digits.
        serial: String,
        /// lost, stolen, returned, transferred, damaged or other.
        #[arg(long)]
        reason: RevocationReason,
        /// The issuer directory (issuer.key).
        #[arg(long, default_value = "/etc/cardgate/issuer")]
        issuer_dir: PathBuf,
    },
    /// Unblock the PIN of the card in READER: reads the PUK, then the new PIN, from stdin.
    Unblock {
        /// The PC/SC reader holding the card.
        #[arg(long)]
        reader: String,
    },
    /// The card register: serial, operator, lent on, returned or revoked on, state.
    List,
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn day(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| t.date().to_string())
        .unwrap_or_else(|_| "?".into())
}

fn load_issuer(dir: &Path) -> Result<IssuerKey, CmdError> {
    let der = zeroize::Zeroizing::new(crate::files::read_capped(&dir.join("issuer.key"), 4096)?);
    Ok(IssuerKey::from_pkcs8(&der)?)
}

/// Ends the card transaction with a reset, so that the PUK's security state does not
/// outlive the command. A card that left right after its last answer needs no reset: what it
/// did is done, and the register and the audit log must still say so.
fn end_with_reset(tx: PcscTransaction<'_>) -> Result<(), CmdError> {
    match tx.end(AfterTransaction::ResetCard) {
        Err(TransportError::CardRemoved | TransportError::NoCard) => Ok(()),
        other => Ok(other?),
    }
}

/// Records an access-manager action: through the daemon (which attributes it to our uid), or
/// straight into the log when the daemon is not running.
fn record(
    config: &Config,
    request: serde_json::Value,
    entry: impl FnOnce(Label) -> Entry,
) -> Result<(), CmdError> {
    match client::ask(&config.daemon.admin_socket, &request) {
        Ok(answer) => client::expect_ok(answer).map(drop),
        Err(client::ClientError::Unreachable { .. }) => {
            let uid = std::fs::metadata("/proc/self")
                .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
                .unwrap_or(u32::MAX);
            let by = Label::new(format!("uid {uid}"))?;
            let (log, _) = AuditLog::open(AuditConfig::new(
                &config.audit.dir,
                cardgate_audit::cli::terminal_name(),
            ))?;
            log.append(entry(by))?;
            log.close()?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

fn revoke(
    config: &Config,
    issuer_dir: &Path,
    serial: CardSerial,
    reason: RevocationReason,
) -> Result<u64, CmdError> {
    let issuer = load_issuer(issuer_dir)?;
    let (version, _) = crate::revocation::next_version(
        &issuer,
        &config.revocation.list,
        7,
        Some((serial, reason)),
    )?;
    RegisterFile::new(&config.daemon.state_dir).update(|r| {
        if let Some(e) = r.get_mut(&serial) {
            e.state = if reason == RevocationReason::Returned {
                CardState::Returned { at: now() }
            } else {
                CardState::Revoked { at: now(), reason }
            };
        }
    })?;
    Ok(version)
}

/// Runs a card command.
pub fn run(config_path: &Path, cmd: CardCommand) -> Result<ExitCode, CmdError> {
    let config = Config::load(config_path)?;
    match cmd {
        CardCommand::Issue {
            reader,
            operator,
            role,
            valid_until,
            issuer_dir,
        } => {
            let role = match role.as_str() {
                "operator" => Role::Operator,
                "manager" => Role::AccessManager,
                _ => return Err("--role must be operator or manager".into()),
            };
            let today = time::OffsetDateTime::now_utc().date();
            let valid_until = match valid_until {
                Some(d) => parse_iso_date(&d).ok_or("--valid-until must be YYYY-MM-DD")?,
                None => today.replace_year(today.year() + 1).unwrap_or(today),
            };
            let issuer = load_issuer(&issuer_dir)?;
            let puk = Puk::parse(&read_secret_line()?).map_err(|e| format!("the PUK {e}"))?;
            let pin = check_new_pin(&read_secret_line()?, Some(&operator))?;
            let mut serial = [0u8; 8];
            SystemRandom::new()
                .fill(&mut serial)
                .map_err(|_| "no randomness")?;
            let request = IssueRequest {
                serial: CardSerial(serial),
                operator_id: operator.clone(),
                role,
                valid_from: today,
                valid_until,
            };
            let context = PcscContext::establish()?;
            let mut card = context.connect(&reader, ConnectOptions::default())?;
            let mut tx = card.begin_transaction()?;
            let cert = issue_card(
                &mut OperatorCard::new(&mut tx),
                &issuer,
                &puk,
                &request,
                &pin,
            )?;
            end_with_reset(tx)?;
            let serial = cert.body.serial;
            RegisterFile::new(&config.daemon.state_dir).update(|r| {
                r.cards.insert(
                    serial.to_string(),
                    CardEntry::lent(&operator, role, now(), valid_until),
                );
            })?;
            record(
                &config,
                json!({"op": "card_issued", "serial": serial.to_string(), "operator": operator, "role": role.as_str()}),
                |by| {
                    Entry::new(Event::CardIssued { by, role })
                        .card(serial)
                        .operator(cardgate_sessiond::engine::label(&operator))
                },
            )?;
            println!("issued card {serial} to {operator} ({role}), valid until {valid_until}; the PIN must be changed at first use");
        }
        CardCommand::Return { serial, issuer_dir } => {
            let serial = CardSerial::from_hex(&serial).ok_or("the serial must be 16 hex digits")?;
            let version = revoke(&config, &issuer_dir, serial, RevocationReason::Returned)?;
            record(
                &config,
                json!({"op": "card_returned", "serial": serial.to_string()}),
                |by| Entry::new(Event::CardReturned { by }).card(serial),
            )?;
            println!("card {serial} returned; revocation list version {version}");
        }
        CardCommand::Revoke {
            serial,
            reason,
            issuer_dir,
        } => {
            let serial = CardSerial::from_hex(&serial).ok_or("the serial must be 16 hex digits")?;
            let version = revoke(&config, &issuer_dir, serial, reason)?;
            record(
                &config,
                json!({"op": "card_revoked", "serial": serial.to_string(), "reason": reason.as_str()}),
                |by| Entry::new(Event::CardRevoked { by, reason }).card(serial),
            )?;
            println!("card {serial} revoked ({reason}); revocation list version {version}");
        }
        CardCommand::Unblock { reader } => {
            let puk = Puk::parse(&read_secret_line()?).map_err(|e| format!("the PUK {e}"))?;
            let context = PcscContext::establish()?;
            let mut card = context.connect(&reader, ConnectOptions::default())?;
            let mut tx = card.begin_transaction()?;
            let mut host = OperatorCard::new(&mut tx);
            let cert = host.select()?.ok_or("the card is not personalised")?;
            let pin = check_new_pin(&read_secret_line()?, Some(&cert.body.operator_id))?;
            unblock(&mut host, &puk, &pin)?;
            end_with_reset(tx)?;
            let serial = cert.body.serial;
            RegisterFile::new(&config.daemon.state_dir).update(|r| {
                if let Some(e) = r.get_mut(&serial) {
                    e.must_change_pin = true;
                }
            })?;
            record(
                &config,
                json!({"op": "pin_unblocked", "serial": serial.to_string()}),
                |by| Entry::new(Event::PinUnblocked { by: Some(by) }).card(serial),
            )?;
            println!("card {serial} unblocked; the new PIN must be changed at first use");
        }
        CardCommand::List => {
            let register = RegisterFile::new(&config.daemon.state_dir).read()?;
            println!(
                "{:<16}  {:<20}  {:<10}  {:<10}  {:<12}  state",
                "serial", "operator", "lent on", "valid to", "ended on"
            );
            for (serial, e) in &register.cards {
                let (ended, state) = match e.state {
                    CardState::Lent => (
                        String::from("-"),
                        String::from(if e.must_change_pin {
                            "lent (initial PIN)"
                        } else {
                            "lent"
                        }),
                    ),
                    CardState::Returned { at } => (day(at), "returned".into()),
                    CardState::Revoked { at, reason } => (day(at), format!("revoked ({reason})")),
                };
                println!(
                    "{serial:<16}  {:<20}  {:<10}  {:<10}  {ended:<12}  {state}",
                    e.operator_id,
                    day(e.lent_at),
                    e.valid_until
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
