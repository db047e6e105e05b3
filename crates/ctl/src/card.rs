//! `cardgatectl card …`: lending cards to operators and taking them back (art. 4, 5).
//!
//! The register (which card is lent to whom) and the revocation list are files the access
//! manager's tool writes; `cardgated` watches the list, so a revocation takes effect on the
//! terminal within a second. Each action is also recorded in the audit log, attributed to
//! the caller's uid: through the daemon's admin socket when it runs, directly otherwise.

use crate::client;
use crate::files::{read_secret_line, CmdError};
use crate::ui::Ui;
use cardgate_audit::{AuditConfig, AuditLog, Entry, Event, Label};
use cardgate_card::cert::{parse_iso_date, CardSerial, Certificate, Role};
use cardgate_card::issue::{issue_card, unblock, IssueError, IssueRequest};
use cardgate_card::policy::check_new_pin;
use cardgate_card::revocation::RevocationReason;
use cardgate_card::{IssuerKey, OperatorCard, Puk};
use cardgate_office::config::Config;
use cardgate_office::register::{CardEntry, CardState, RegisterFile};
use cardgate_protocol::AdminRequest;
use cardgate_reader::pcsc::{ConnectOptions, PcscReaders};
use cardgate_reader::{CardReadersExt, ReaderError, TransportError};
use clap::Subcommand;
use ring::rand::{SecureRandom, SystemRandom};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Card commands.
#[derive(Debug, Subcommand)]
pub enum CardCommand {
    /// Personalise the blank card in READER for an operator and lend it (art. 5.1). Reads,
    /// one per line from stdin: the access manager's PIN (with --manager-reader), the card's
    /// transport PUK, the operator's initial PIN. A PUK
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
        /// The PC/SC reader holding the access manager's own card, which must authenticate
        /// (certificate, revocation, dates, PIN, card key) before anything is done; its PIN
        /// is then the FIRST line of stdin. Required, except to issue the very first manager
        /// card while the register lends none.
        #[arg(long)]
        manager_reader: Option<String>,
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
    /// Unblock the PIN of the card in READER, authorised by the access manager's card in
    /// MANAGER_READER. Reads, one per line from stdin: the access manager's PIN, the card's
    /// PUK, the new PIN. A PUK the card refuses is recorded in the audit log (`puk_rejected`,
    /// `puk_blocked`) before the command fails. Leave the card in READER until the command
    /// ends: the daemon reads it before it records the unblocking.
    Unblock {
        /// The PC/SC reader holding the card.
        #[arg(long)]
        reader: String,
        /// The PC/SC reader holding the access manager's own card (required), which must
        /// authenticate before anything is done; its PIN is the FIRST line of stdin, before
        /// the PUK and the new PIN.
        #[arg(long)]
        manager_reader: String,
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

/// The PC/SC readers, behind the reader crate's transaction seam: each card operation runs
/// in one PC/SC transaction and ends with the operator-card application re-selected
/// ([`cardgate_card::reselect`]; the card is reset when that fails), so that a PIN or PUK
/// verified during the command does not outlive it.
fn readers() -> PcscReaders {
    PcscReaders::new(ConnectOptions::default())
}

/// Checks how a card operation ended. A card that left right after its last answer needed
/// no clearing: what it did is done, and the register and the audit log must still say so.
fn ended(end: Result<(), ReaderError>) -> Result<(), CmdError> {
    match end {
        Err(e)
            if matches!(
                e.error(),
                TransportError::CardRemoved | TransportError::NoCard
            ) =>
        {
            Ok(())
        }
        other => Ok(other?),
    }
}

/// Records an access-manager action: through the daemon (which attributes it to our uid), or
/// straight into the log when the daemon is not running.
fn record(
    config: &Config,
    request: cardgate_protocol::AdminRequest,
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
            AdminRequest::PukRejected {
                serial: serial.map(client::serial),
                reader: reader.to_owned(),
                tries_left: remaining,
            },
            Box::new(move |by| Event::PukRejected {
                by,
                tries_left: remaining,
            }),
        ),
        IssueError::PukBlocked => (
            AdminRequest::PukBlocked {
                serial: serial.map(client::serial),
                reader: reader.to_owned(),
            },
            Box::new(|by| Event::PukBlocked { by }),
        ),
        _ => return Ok(()),
    };
    let label = cardgate_audit::record::label;
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
    if cardgate_audit::caller::real_uid() != Some(0) {
        // The access manager is not root: the daemon installs the signed list and marks the
        // register (it checks the signature, that the version is newer and that nothing is
        // dropped), since neither file is the manager's group's to write.
        let (version, _, bytes) = crate::revocation::sign_next(
            &issuer,
            &config.revocation.list,
            7,
            Some((serial, reason)),
        )?;
        let answer = client::ask(
            &config.daemon.admin_socket,
            &AdminRequest::PublishRevocationList {
                list: hex::encode(bytes),
            },
        )?;
        client::expect_ok(answer)?;
        return Ok(version);
    }
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
pub fn run(_ui: &Ui, config_path: &Path, cmd: CardCommand) -> Result<ExitCode, CmdError> {
    let config = Config::load(config_path)?;
    match cmd {
        CardCommand::Issue {
            reader,
            operator,
            role,
            valid_until,
            issuer_dir,
            manager_reader,
        } => {
            let role = match role.as_str() {
                "operator" => Role::Operator,
                "manager" => Role::AccessManager,
                _ => return Err("--role must be operator or manager".into()),
            };
            let manager = match manager_reader {
                Some(m) => Some(manager::authenticate(&config, &m, &reader)?),
                None => {
                    manager::bootstrap_allowed(&config, role, &reader)?;
                    None
                }
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
                let ran = readers().run(&reader, cardgate_card::reselect(), |t| {
                    issue_card(&mut OperatorCard::new(t), &issuer, &puk, &request, &pin)
                })?;
                ended(ran.end)?;
                ran.value
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
                AdminRequest::CardIssued {
                    serial: client::serial(serial),
                    operator: operator.clone(),
                    role: client::role(role),
                    reader: reader.clone(),
                    manager: manager.as_ref().map(|m| client::serial(m.serial)),
                    manager_reader: manager.as_ref().map(|m| m.reader.clone()),
                },
                |by| {
                    let by = manager::by(by, manager.as_ref());
                    Entry::new(Event::CardIssued { by, role })
                        .card(serial)
                        .operator(cardgate_audit::record::label(&operator))
                        .reader(cardgate_audit::record::label(&reader))
                },
            )
            .map_err(|e| {
                format!(
                    "card {serial} WAS issued to {operator} and the register lends it, but the \
                     issuance could not be recorded ({e}); leave the cards in their readers \
                     and tell the administrator"
                )
            })?;
            println!("issued card {serial} to {operator} ({role}), valid until {valid_until}; the PIN must be changed at first use");
        }
        CardCommand::Return { serial, issuer_dir } => {
            let serial = CardSerial::from_hex(&serial).ok_or("the serial must be 16 hex digits")?;
            let version = revoke(&config, &issuer_dir, serial, RevocationReason::Returned)?;
            record(
                &config,
                AdminRequest::CardReturned {
                    serial: client::serial(serial),
                },
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
                AdminRequest::CardRevoked {
                    serial: client::serial(serial),
                    reason: client::revocation_reason(reason),
                },
                |by| Entry::new(Event::CardRevoked { by, reason }).card(serial),
            )?;
            println!("card {serial} revoked ({reason}); revocation list version {version}");
        }
        CardCommand::Unblock {
            reader,
            manager_reader,
        } => {
            let manager = manager::authenticate(&config, &manager_reader, &reader)?;
            let puk = Puk::parse(&read_secret_line()?).map_err(|e| format!("the PUK {e}"))?;
            let (cert, unblocked) = {
                let ran = readers().run(&reader, cardgate_card::reselect(), |t| {
                    let mut host = OperatorCard::new(t);
                    let cert = host.select()?.ok_or("the card is not personalised")?;
                    let pin = check_new_pin(&read_secret_line()?, Some(&cert.body.operator_id))?;
                    let unblocked = unblock(&mut host, &puk, &pin);
                    Ok::<_, CmdError>((cert, unblocked))
                })?;
                let value = ran.value?;
                ended(ran.end)?;
                value
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
                AdminRequest::PinUnblocked {
                    serial: client::serial(serial),
                    reader: reader.clone(),
                    manager: Some(client::serial(manager.serial)),
                    manager_reader: Some(manager.reader.clone()),
                },
                |by| {
                    let by = manager::by(by, Some(&manager));
                    Entry::new(Event::PinUnblocked { by: Some(by) })
                        .card(serial)
                        .operator(cardgate_audit::record::label(&cert.body.operator_id))
                        .reader(cardgate_audit::record::label(&reader))
                },
            )
            .map_err(|e| {
                format!(
                    "card {serial} WAS unblocked, but the unblocking could not be recorded \
                     ({e}); tell the administrator"
                )
            })?;
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

/// The access manager's card: `card issue` and `card unblock` act only after it logs in, in
/// full, as the contract's login runs it (certificate, issuer signature, revocation list,
/// dates, PIN VERIFY, INTERNAL AUTHENTICATE), and only when its certificate's role is
/// `manager`. A refusal is recorded (`manager_refused`) before the command fails, and nothing
/// is done to the other card.
mod manager {
    use super::{client, day, now, read_secret_line, record, CmdError, Config};
    use cardgate_audit::record::DenyReason;
    use cardgate_audit::{Entry, Event, Label};
    use cardgate_card::cert::{CardSerial, Certificate, Role};
    use cardgate_card::login::{authenticate as login, check_certificate, LoginError, LoginPolicy};
    use cardgate_card::{IssuerPublicKey, OperatorCard, RevocationList, SecretString};
    use cardgate_office::config::StalePolicy;
    use cardgate_office::register::{CardState, RegisterFile};
    use cardgate_protocol::{AdminRequest, ManagerRefusal};
    use cardgate_reader::{CardReadersExt, TransportError};

    /// The access manager who authorised the action.
    pub struct Manager {
        /// The manager's card.
        pub serial: CardSerial,
        /// Its holder.
        pub operator_id: String,
        /// The reader it is in.
        pub reader: String,
    }

    /// The record's `by`: the caller, and the manager's card that authorised the action (or
    /// that this was the bootstrap).
    pub fn by(caller: Label, manager: Option<&Manager>) -> Label {
        let text = match manager {
            Some(m) => format!("{caller}, manager card {}", m.serial),
            None => format!("{caller}, bootstrap (first manager card)"),
        };
        Label::new(text).unwrap_or(caller)
    }

    /// Without a manager's card, only the first manager card may be issued, while the
    /// register lends no manager card.
    pub fn bootstrap_allowed(config: &Config, role: Role, reader: &str) -> Result<(), CmdError> {
        if role != Role::AccessManager {
            return refused(
                config,
                reader,
                refusal(
                    DenyReason::NotAuthorisedHere,
                    None,
                    "card issue needs the access manager's card: --manager-reader READER, \
                     with its PIN on the first line of stdin"
                        .into(),
                ),
            );
        }
        let register = RegisterFile::new(&config.daemon.state_dir).read()?;
        let lent = register
            .cards
            .iter()
            .find(|(_, e)| e.role == Role::AccessManager.as_str() && e.state == CardState::Lent);
        if let Some((serial, e)) = lent {
            let message = format!(
                "the register lends manager card {serial} to {} (since {}): issue further \
                 cards with it (--manager-reader READER)",
                e.operator_id,
                day(e.lent_at)
            );
            return refused(
                config,
                reader,
                refusal(DenyReason::NotAuthorisedHere, None, message),
            );
        }
        Ok(())
    }

    struct Refusal {
        reason: DenyReason,
        tries_left: Option<u8>,
        cert: Option<Box<Certificate>>,
        message: String,
    }

    fn refusal(reason: DenyReason, cert: Option<Certificate>, message: String) -> Refusal {
        Refusal {
            reason,
            tries_left: None,
            cert: cert.map(Box::new),
            message,
        }
    }

    fn reason_name(r: DenyReason) -> ManagerRefusal {
        match r {
            DenyReason::CertificateRejected => ManagerRefusal::CertificateRejected,
            DenyReason::CardRevoked => ManagerRefusal::CardRevoked,
            DenyReason::RevocationListStale => ManagerRefusal::RevocationListStale,
            DenyReason::WrongPin => ManagerRefusal::WrongPin,
            DenyReason::PinBlocked => ManagerRefusal::PinBlocked,
            DenyReason::CardAuthenticationFailed => ManagerRefusal::CardAuthenticationFailed,
            DenyReason::NotAuthorisedHere => ManagerRefusal::NotAuthorisedHere,
            DenyReason::CardRemoved => ManagerRefusal::CardRemoved,
            _ => ManagerRefusal::Other,
        }
    }

    fn from_login(e: LoginError, cert: Option<Certificate>, reader: &str) -> Refusal {
        let message = format!("the card in {reader:?}: {e}");
        let reason = match e {
            LoginError::CardRemoved => DenyReason::CardRemoved,
            LoginError::Revoked { .. } => DenyReason::CardRevoked,
            LoginError::WrongPin { remaining } => {
                return Refusal {
                    reason: DenyReason::WrongPin,
                    tries_left: Some(remaining),
                    cert: cert.map(Box::new),
                    message,
                }
            }
            LoginError::PinBlocked => DenyReason::PinBlocked,
            LoginError::CardAuthenticationFailed => DenyReason::CardAuthenticationFailed,
            LoginError::NotOperatorCard
            | LoginError::NotPersonalised
            | LoginError::BadCertificate(_)
            | LoginError::UnknownIssuer
            | LoginError::Expired { .. }
            | LoginError::NotYetValid { .. } => DenyReason::CertificateRejected,
            _ => DenyReason::Other,
        };
        refusal(reason, cert, message)
    }

    fn trust(config: &Config) -> Result<(IssuerPublicKey, RevocationList), Refusal> {
        let other = |m: String| refusal(DenyReason::Other, None, m);
        let path = &config.issuer.public_key;
        let text = std::fs::read_to_string(path).map_err(|e| {
            other(format!(
                "cannot read the issuer key {}: {e}",
                path.display()
            ))
        })?;
        let issuer = IssuerPublicKey::from_hex(&text)
            .map_err(|e| other(format!("the issuer key {}: {e}", path.display())))?;
        let path = &config.revocation.list;
        let bytes = crate::files::read_capped(path, cardgate_card::revocation::MAX_FILE_LEN as u64)
            .map_err(|e| {
                refusal(
                    DenyReason::RevocationListStale,
                    None,
                    format!("cannot read the revocation list {}: {e}", path.display()),
                )
            })?;
        let list = RevocationList::verify(&bytes, &issuer).map_err(|e| {
            refusal(
                DenyReason::RevocationListStale,
                None,
                format!("the revocation list {}: {e}", path.display()),
            )
        })?;
        if list.is_stale(now()) && config.revocation.stale == StalePolicy::Refuse {
            return Err(refusal(
                DenyReason::RevocationListStale,
                None,
                format!("the revocation list {} is out of date", path.display()),
            ));
        }
        Ok((issuer, list))
    }

    fn log_in(config: &Config, reader: &str, pin: &SecretString) -> Result<Manager, Refusal> {
        let (issuer, list) = trust(config)?;
        let offset =
            time::UtcOffset::from_whole_seconds(i32::from(config.daemon.utc_offset_minutes) * 60)
                .unwrap_or(time::UtcOffset::UTC);
        let policy = LoginPolicy {
            issuer: &issuer,
            revocation: &list,
            today: time::OffsetDateTime::now_utc().to_offset(offset).date(),
        };
        let card_error = |e: &TransportError| {
            let gone = matches!(e, TransportError::NoCard | TransportError::CardRemoved);
            refusal(
                if gone {
                    DenyReason::CardRemoved
                } else {
                    DenyReason::Other
                },
                None,
                format!("no access manager's card can be read in {reader:?}: {e}"),
            )
        };
        let ran = super::readers()
            .run(reader, cardgate_card::reselect(), |t| {
                let mut card = OperatorCard::new(t);
                let cert = card
                    .select()
                    .map_err(|e| from_login(e.into(), None, reader))?
                    .ok_or_else(|| from_login(LoginError::NotPersonalised, None, reader))?;
                check_certificate(&cert, &policy)
                    .map_err(|e| from_login(e, Some(cert.clone()), reader))?;
                // The PIN goes only to a manager's card, and only to one the register has not
                // taken back.
                if cert.body.role != Role::AccessManager {
                    return Err(refusal(
                        DenyReason::NotAuthorisedHere,
                        Some(cert.clone()),
                        format!(
                            "card {} in {reader:?} is {}'s operator card, not an access manager's",
                            cert.body.serial, cert.body.operator_id
                        ),
                    ));
                }
                let withdrawn = RegisterFile::new(&config.daemon.state_dir)
                    .read()
                    .map(|r| {
                        r.get(&cert.body.serial)
                            .is_some_and(|e| e.state != CardState::Lent)
                    })
                    .map_err(|e| refusal(DenyReason::Other, Some(cert.clone()), e.to_string()))?;
                if withdrawn {
                    return Err(refusal(
                        DenyReason::CardRevoked,
                        Some(cert.clone()),
                        format!("manager card {} is no longer lent", cert.body.serial),
                    ));
                }
                let keep = cert.clone();
                let who =
                    login(&mut card, cert, pin).map_err(|e| from_login(e, Some(keep), reader))?;
                Ok(Manager {
                    serial: who.serial,
                    operator_id: who.operator_id,
                    reader: reader.to_owned(),
                })
            })
            .map_err(|e| card_error(e.error()))?;
        // The seam's re-select (or reset) cleared the manager's verified PIN; a card that
        // could not be cleared fails the command.
        super::ended(ran.end).map_err(|e| refusal(DenyReason::Other, None, e.to_string()))?;
        ran.value
    }

    /// Reads the manager's PIN (the first stdin line) and logs the manager's card in `reader`
    /// in. A refusal is recorded, then returned as the error.
    pub fn authenticate(config: &Config, reader: &str, target: &str) -> Result<Manager, CmdError> {
        if reader == target {
            return Err("the access manager's card needs its own reader (--manager-reader)".into());
        }
        let pin = SecretString::new(read_secret_line()?.as_str().to_owned());
        match log_in(config, reader, &pin) {
            Ok(m) => {
                eprintln!(
                    "access manager {} authenticated (card {} in {reader})",
                    m.operator_id, m.serial
                );
                Ok(m)
            }
            Err(r) => refused(config, reader, r),
        }
    }

    /// Records a refusal (through the daemon or straight into the log), then fails with it.
    fn refused<T>(config: &Config, reader: &str, r: Refusal) -> Result<T, CmdError> {
        let request = AdminRequest::ManagerRefused {
            serial: r.cert.as_ref().map(|c| client::serial(c.body.serial)),
            reader: reader.to_owned(),
            reason: reason_name(r.reason),
            tries_left: r.tries_left,
        };
        let label = cardgate_audit::record::label;
        let (reason, tries_left, cert) = (r.reason, r.tries_left, r.cert.clone());
        record(config, request, |by| {
            let entry = Entry::new(Event::ManagerRefused {
                by,
                reason,
                tries_left,
            })
            .reader(label(reader));
            match &cert {
                Some(c) => entry
                    .card(c.body.serial)
                    .operator(label(&c.body.operator_id)),
                None => entry,
            }
        })
        .map_err(|e| {
            format!(
                "refused: {}; and the refusal could not be recorded: {e}",
                r.message
            )
        })?;
        Err(format!("refused: {}", r.message).into())
    }
}
