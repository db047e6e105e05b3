//! `cardgatectl card …`: lending cards to operators and taking them back (art. 4, 5).
//!
//! The register (which card is lent to whom) and the revocation list are files the access
//! manager's tool writes; `cardgated` watches the list, so a revocation takes effect on the
//! terminal within a second. Each action is also recorded in the audit log, attributed to
//! the caller's uid: through the daemon's admin socket when it runs, directly otherwise.

use crate::client;
use crate::files::{read_secret_line, CmdError};
use cardgate_audit::{AuditConfig, AuditLog, Entry, Event, Label};
use cardgate_card::cert::{parse_iso_date, CardSerial, Certificate, Role};
use cardgate_card::issue::{issue_card, unblock, IssueError, IssueRequest};
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
    /// card's transport PUK, then the operator's initial PIN, from stdin (one per line). A PUK
    /// the card refuses is recorded in the audit log (`puk_rejected`) before the command fails.
    /// Leave the card in READER until the command ends: the daemon reads it before it records
    /// the issuance.
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
    /// Unblock the PIN of the card in READER: reads the PUK, then the new PIN, from stdin (one
    /// per line). A PUK the card refuses is recorded in the audit log (`puk_rejected`,
    /// `puk_blocked`) before the command fails. Leave the card in READER until the command
    /// ends: the daemon reads it before it records the unblocking.
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
            // The real uid (not the effective one, which `/proc/self`'s owner shows): the
            // person who ran the command, named as the daemon would name them.
            let by = cardgate_audit::caller::label();
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

/// Records a PUK the card refused (wrong, or offered while blocked), before the command
/// reports the failure: a PUK guessed at is what the access manager must see. Other
/// failures (the card pulled, a card error) record nothing here: the card never judged a
/// PUK.
fn record_puk_refusal(
    config: &Config,
    reader: &str,
    cert: Option<&Certificate>,
    error: &IssueError,
) -> Result<(), CmdError> {
    let serial = cert.map(|c| c.body.serial);
    let (request, event): (_, Box<dyn FnOnce(Label) -> Event>) = match *error {
        IssueError::WrongPuk { remaining } => (
            json!({"op": "puk_rejected", "serial": serial.map(|s| s.to_string()), "reader": reader, "tries_left": remaining}),
            Box::new(move |by| Event::PukRejected {
                by,
                tries_left: remaining,
            }),
        ),
        IssueError::PukBlocked => (
            json!({"op": "puk_blocked", "serial": serial.map(|s| s.to_string()), "reader": reader}),
            Box::new(|by| Event::PukBlocked { by }),
        ),
        _ => return Ok(()),
    };
    let label = cardgate_sessiond::engine::label;
    record(config, request, |by| {
        let entry = Entry::new(event(by)).reader(label(reader));
        match cert {
            Some(c) => entry
                .card(c.body.serial)
                .operator(label(&c.body.operator_id)),
            None => entry,
        }
    })
    .map_err(|e| {
        format!("the card refused the PUK ({error}), and that could not be recorded: {e}").into()
    })
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
            let issued = {
                let context = PcscContext::establish()?;
                let mut card = context.connect(&reader, ConnectOptions::default())?;
                let mut tx = card.begin_transaction()?;
                let issued = issue_card(
                    &mut OperatorCard::new(&mut tx),
                    &issuer,
                    &puk,
                    &request,
                    &pin,
                );
                end_with_reset(tx)?;
                issued
            };
            let cert = match issued {
                Ok(cert) => cert,
                Err(e) => {
                    record_puk_refusal(&config, &reader, None, &e)?;
                    return Err(e.into());
                }
            };
            let serial = cert.body.serial;
            RegisterFile::new(&config.daemon.state_dir).update(|r| {
                r.cards.insert(
                    serial.to_string(),
                    CardEntry::lent(&operator, role, now(), valid_until),
                );
            })?;
            record(
                &config,
                json!({"op": "card_issued", "serial": serial.to_string(), "operator": operator, "role": role.as_str(), "reader": reader}),
                |by| {
                    Entry::new(Event::CardIssued { by, role })
                        .card(serial)
                        .operator(cardgate_sessiond::engine::label(&operator))
                        .reader(cardgate_sessiond::engine::label(&reader))
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
            let (cert, unblocked) = {
                let context = PcscContext::establish()?;
                let mut card = context.connect(&reader, ConnectOptions::default())?;
                let mut tx = card.begin_transaction()?;
                let mut host = OperatorCard::new(&mut tx);
                let cert = host.select()?.ok_or("the card is not personalised")?;
                let pin = check_new_pin(&read_secret_line()?, Some(&cert.body.operator_id))?;
                let unblocked = unblock(&mut host, &puk, &pin);
                end_with_reset(tx)?;
                (cert, unblocked)
            };
            if let Err(e) = unblocked {
                record_puk_refusal(&config, &reader, Some(&cert), &e)?;
                return Err(e.into());
            }
            let serial = cert.body.serial;
            RegisterFile::new(&config.daemon.state_dir).update(|r| {
                if let Some(e) = r.get_mut(&serial) {
                    e.must_change_pin = true;
                    e.unblocked_at = Some(now());
                }
            })?;
            record(
                &config,
                json!({"op": "pin_unblocked", "serial": serial.to_string(), "reader": reader}),
                |by| {
                    Entry::new(Event::PinUnblocked { by: Some(by) })
                        .card(serial)
                        .operator(cardgate_sessiond::engine::label(&cert.body.operator_id))
                        .reader(cardgate_sessiond::engine::label(&reader))
                },
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
