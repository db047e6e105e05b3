//! `cardgatectl card …`: lending cards to operators and taking them back (art. 4, 5).
//!
//! The register (which card is lent to whom) and the revocation list are files the access
//! manager's tool writes; `cardgated` watches the list, so a revocation takes effect on the
//! terminal within a second. Each action is also recorded in the audit log, attributed to
//! the caller's uid: through the daemon's admin socket when it runs, directly otherwise.
//!
//! The safety rails (issue 14): `return` and `revoke` act only on serials the register knows
//! (`--not-in-register` for a card issued elsewhere, itself recorded in the audit log before
//! anything is done); a card already returned or revoked is said to be so; the issuer
//! directory is always named (the issuer key belongs on removable media, not on the
//! terminal); every number and date has bounds; `return`, `revoke` and `unblock` show what
//! they will do and ask (`Ui::confirm`) unless `--yes`.

mod inspect;
mod list;
mod manager;

use crate::client;
use crate::exit::{Exit, Failure};
use crate::files::{read_secret_line, CmdError};
use crate::ui::Ui;
use cardgate_audit::{AuditConfig, AuditLog, Entry, Event, Label, NoteKind, Text};
use cardgate_card::cert::{parse_iso_date, CardSerial, Certificate, Role, MAX_OPERATOR_ID_LEN};
use cardgate_card::commands::CardError;
use cardgate_card::commands::Profile;
use cardgate_card::issue::{issue_with, unblock, IssueError, IssueRequest, IssueSecrets};
use cardgate_card::openpgp::issue::IssueSecrets as OpenPgpSecrets;
use cardgate_card::policy::check_new_pin;
use cardgate_card::revocation::{RevocationReason, MAX_FILE_LEN};
use cardgate_card::{AdminPin, IssuerKey, OperatorCard, Puk, RevocationList};
use cardgate_i18n::{tr, Lang};
use cardgate_office::config::Config;
use cardgate_office::register::{CardEntry, CardState, RegisterFile};
use cardgate_protocol::AdminRequest;
use cardgate_reader::pcsc::{ConnectOptions, PcscReaders};
use cardgate_reader::{CardReadersExt, ReaderError, TransportError};
use clap::Subcommand;
use ring::rand::{SecureRandom, SystemRandom};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// How far ahead `card issue --valid-until` may reach: five years, the longest a municipal
/// office keeps an operator's appointment without review. A longer date is a typo (a year
/// 2062 for 2026) more often than an intent.
pub const MAX_VALIDITY_YEARS: i32 = 5;

/// The longest reader name accepted on the command line (pcsc-lite's own limit is 128).
pub const MAX_READER_NAME_LEN: usize = 256;

/// Days until the revocation list that `card revoke|return` signs is due again.
const NEXT_UPDATE_DAYS: u32 = 7;

/// Card commands.
#[derive(Debug, Subcommand)]
pub enum CardCommand {
    /// Personalise the blank card in READER for an operator and lend it (art. 5.1). Reads,
    /// one per line from stdin: the access manager's PIN (with --manager-reader), the card's
    /// transport PUK, the operator's initial PIN. An OpenPGP card (YubiKey, Nitrokey, ...)
    /// first asks for its admin PIN now (factory 12345678) and the new admin PIN the access
    /// manager keeps; the PUK becomes its Reset Code. A PUK
    /// the card refuses is recorded in the audit log (`puk_rejected`) before the command fails.
    /// Leave the card in READER until the command ends: the daemon reads it before it records
    /// the issuance.
    Issue {
        /// The PC/SC reader holding the blank card.
        #[arg(long)]
        reader: String,
        /// The operator the card is lent to (1 to 32 bytes).
        #[arg(long)]
        operator: String,
        /// operator or manager.
        #[arg(long, default_value = "operator")]
        role: String,
        /// Last day of validity, YYYY-MM-DD, from today to five years ahead [default: one
        /// year from today].
        #[arg(long)]
        valid_until: Option<String>,
        /// The issuer directory holding issuer.key (the issuer medium, mounted; there is no
        /// default: the key does not belong on the terminal).
        #[arg(long, value_name = "DIR")]
        issuer_dir: PathBuf,
        /// The PC/SC reader holding the access manager's own card, which must authenticate
        /// (certificate, revocation, dates, PIN, card key) before anything is done; its PIN
        /// is then the FIRST line of stdin. Required, except to issue the very first manager
        /// card while the register lends none.
        #[arg(long)]
        manager_reader: Option<String>,
    },
    /// The card came back (art. 5.2): it is revoked with reason `returned`. Only a card the
    /// register lends; asks first unless --yes.
    Return {
        /// The card serial, 16 hex digits.
        serial: String,
        /// The issuer directory holding issuer.key (no default).
        #[arg(long, value_name = "DIR")]
        issuer_dir: PathBuf,
        /// The card is not in this register (issued elsewhere): return it anyway. The
        /// override is recorded in the audit log.
        #[arg(long)]
        not_in_register: bool,
    },
    /// Revoke a card at once (art. 5.4). Only a card the register knows; asks first unless
    /// --yes.
    Revoke {
        /// The card serial, 16 hex digits.
        serial: String,
        /// lost, stolen, returned, transferred, damaged or other.
        #[arg(long)]
        reason: RevocationReason,
        /// The issuer directory holding issuer.key (no default).
        #[arg(long, value_name = "DIR")]
        issuer_dir: PathBuf,
        /// The card is not in this register (issued elsewhere): revoke it anyway. The
        /// override is recorded in the audit log.
        #[arg(long)]
        not_in_register: bool,
    },
    /// Unblock the PIN of the card in READER, authorised by the access manager's card in
    /// MANAGER_READER. Reads, one per line from stdin: the access manager's PIN, the card's
    /// PUK, the new PIN. A PUK the card refuses is recorded in the audit log (`puk_rejected`,
    /// `puk_blocked`) before the command fails. Leave the card in READER until the command
    /// ends: the daemon reads it before it records the unblocking. Asks first unless --yes.
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
    /// The card register: serial, operator, role, lent on, valid until, returned or revoked
    /// on, state (--json: see docs/cli.md).
    List,
    /// What card is in READER, without its PIN: ATR, profile, serial, operator, role,
    /// validity, issuer signature, revoked, returned, PIN tries left (--json: see
    /// docs/cli.md). Spends no PIN try.
    Inspect {
        /// The PC/SC reader.
        #[arg(long)]
        reader: String,
    },
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn day(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| t.date().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// A boxed [`Failure`].
fn fail(exit: Exit, message: String) -> CmdError {
    Box::new(Failure::new(exit, message))
}

/// A boxed [`Failure`] with what to do.
fn fail_hint(exit: Exit, message: String, hint: String) -> CmdError {
    Box::new(Failure::new(exit, message).hint(hint))
}

/// A serial from the command line; the error names what was typed.
fn parse_serial(lang: Lang, text: &str) -> Result<CardSerial, CmdError> {
    CardSerial::from_hex(text).ok_or_else(|| {
        fail_hint(
            Exit::Usage,
            tr!(lang, "ctl-card-bad-serial", input = text.to_owned()),
            tr!(lang, "ctl-card-bad-serial-hint"),
        )
    })
}

/// A reader name from the command line: not empty, not longer than pcsc-lite would keep.
fn check_reader(lang: Lang, reader: &str) -> Result<(), CmdError> {
    if reader.is_empty() || reader.len() > MAX_READER_NAME_LEN || reader.contains('\0') {
        return Err(fail(
            Exit::Usage,
            tr!(
                lang,
                "ctl-card-bad-reader-name",
                max = MAX_READER_NAME_LEN as u64
            ),
        ));
    }
    Ok(())
}

/// The PC/SC readers, behind the reader crate's transaction seam: each card operation runs
/// in one PC/SC transaction and ends with the operator-card application re-selected
/// ([`cardgate_card::reselect`]; the card is reset when that fails), so that a PIN or PUK
/// verified during the command does not outlive it.
fn readers() -> PcscReaders {
    PcscReaders::new(ConnectOptions::default())
}

/// A reader error as a [`Failure`]: which reader, and what to do.
fn reader_failure(lang: Lang, e: &ReaderError) -> CmdError {
    crate::readers::transport_failure(lang, e.reader(), e.error())
}

/// Checks how a card operation ended. A card that left right after its last answer needed
/// no clearing: what it did is done, and the register and the audit log must still say so.
fn ended(lang: Lang, end: Result<(), ReaderError>) -> Result<(), CmdError> {
    match end {
        Err(e)
            if matches!(
                e.error(),
                TransportError::CardRemoved | TransportError::NoCard
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(reader_failure(lang, &e)),
        Ok(()) => Ok(()),
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
        Ok(answer) => client::expect_ok(answer).map(drop).map_err(|e| {
            fail(
                Exit::Refused,
                format!(
                    "cardgated ({}) refused the record: {e}",
                    config.daemon.admin_socket.display()
                ),
            )
        }),
        Err(client::ClientError::Unreachable { .. }) => {
            // The real uid (not the effective one, which `/proc/self`'s owner shows): the
            // person who ran the command, named as the daemon would name them.
            let by = cardgate_audit::caller::label();
            let direct = || -> Result<(), CmdError> {
                let (log, _) = AuditLog::open(AuditConfig::new(
                    &config.audit.dir,
                    cardgate_audit::cli::terminal_name(),
                ))?;
                log.append(entry(by))?;
                log.close()?;
                Ok(())
            };
            direct().map_err(|e| {
                fail(
                    Exit::DaemonDown,
                    format!(
                        "cardgated is not running at {} and the audit log {} cannot be written \
                         directly: {}",
                        config.daemon.admin_socket.display(),
                        config.audit.dir.display(),
                        crate::files::chain(&*e)
                    ),
                )
            })
        }
        Err(e) => Err(fail(Exit::DaemonDown, crate::files::chain(&e))),
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
    // On an OpenPGP card the admin PIN opens personalisation, the role the PUK has on an
    // operator-card-v1 card: its refusals are recorded as the PUK's (docs/audit.md).
    let (request, event): (_, Box<dyn FnOnce(Label) -> Event>) = match *error {
        IssueError::WrongPuk { remaining } | IssueError::WrongAdminPin { remaining } => (
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
        IssueError::PukBlocked | IssueError::AdminPinBlocked => (
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

/// A card's failure to issue or unblock, as the person reads it: a refused PUK is a refusal.
fn issue_failure(lang: Lang, reader: &str, e: IssueError) -> CmdError {
    let exit = match e {
        IssueError::WrongPuk { .. }
        | IssueError::PukBlocked
        | IssueError::WrongAdminPin { .. }
        | IssueError::AdminPinBlocked => Exit::Refused,
        _ => Exit::Failed,
    };
    fail(
        exit,
        tr!(
            lang,
            "ctl-card-card-failed",
            reader = reader.to_owned(),
            error = crate::files::chain(&e)
        ),
    )
}

/// A card error while reading a card for a plan.
fn card_failure(lang: Lang, reader: &str, e: &CardError) -> CmdError {
    match e {
        CardError::Transport(t) => crate::readers::transport_failure(lang, reader, t),
        CardError::ApplicationNotFound => fail(
            Exit::NotFound,
            tr!(
                lang,
                "ctl-card-not-operator-card",
                reader = reader.to_owned()
            ),
        ),
        other => fail(
            Exit::Failed,
            tr!(
                lang,
                "ctl-card-card-failed",
                reader = reader.to_owned(),
                error = crate::files::chain(other)
            ),
        ),
    }
}

/// A new PIN the policy refuses, in the user's language.
fn pin_refused(lang: Lang, e: &cardgate_card::policy::PolicyError) -> CmdError {
    fail(Exit::Refused, crate::pin::policy_message(lang, e))
}

/// What `return` and `revoke` will do.
struct Withdrawal {
    serial: CardSerial,
    reason: RevocationReason,
    /// The register's entry; `None` with `--not-in-register`.
    entry: Option<CardEntry>,
}

/// The safety rails of `return` and `revoke`: the register must know the card (or
/// `--not-in-register` says it was issued elsewhere), and a card already taken back or
/// already on the revocation list is said to be so, with nothing done.
fn check_withdrawal(
    lang: Lang,
    ui: &Ui,
    config: &Config,
    serial: CardSerial,
    reason: RevocationReason,
    not_in_register: bool,
) -> Result<Withdrawal, CmdError> {
    let register_file = RegisterFile::new(&config.daemon.state_dir);
    let register = register_file.read()?;
    let serial_text = serial.to_string();
    let entry = register.get(&serial).cloned();
    match &entry {
        None if !not_in_register => {
            return Err(fail_hint(
                Exit::NotFound,
                tr!(
                    lang,
                    "ctl-card-not-in-register",
                    serial = serial_text.clone(),
                    path = register_file.path().display().to_string()
                ),
                tr!(lang, "ctl-card-not-in-register-hint"),
            ))
        }
        Some(CardEntry {
            state: CardState::Returned { at },
            ..
        }) => {
            return Err(fail(
                Exit::Refused,
                tr!(
                    lang,
                    "ctl-card-already-returned",
                    serial = serial_text,
                    at = ui.unix_time(*at)
                ),
            ))
        }
        Some(CardEntry {
            state: CardState::Revoked { at, reason: r },
            ..
        }) => {
            return Err(fail(
                Exit::Refused,
                tr!(
                    lang,
                    "ctl-card-already-revoked",
                    serial = serial_text,
                    at = ui.unix_time(*at),
                    reason = list::reason_text(lang, *r)
                ),
            ))
        }
        _ => {}
    }
    // The list may already name it (a card issued elsewhere, revoked before; or a register
    // restored from an older backup): signing it again would change nothing but its date.
    let path = &config.revocation.list;
    match crate::files::read_capped(path, MAX_FILE_LEN as u64) {
        Ok(bytes) => {
            // Only a pre-check: a key or list that does not verify fails the signing step
            // itself (`next_version` verifies the previous list), loudly, before any write.
            if let Ok(public) = public_key(config) {
                if let Ok(list) = RevocationList::verify(&bytes, &public) {
                    if let Some(r) = list.lookup(&serial) {
                        return Err(fail(
                            Exit::Refused,
                            tr!(
                                lang,
                                "ctl-card-already-listed",
                                serial = serial.to_string(),
                                path = path.display().to_string(),
                                at = ui.unix_time(r.revoked_at),
                                reason = list::reason_text(lang, r.reason)
                            ),
                        ));
                    }
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(fail(
                Exit::Failed,
                tr!(
                    lang,
                    "ctl-card-list-unreadable",
                    path = path.display().to_string(),
                    error = e.to_string()
                ),
            ))
        }
    }
    Ok(Withdrawal {
        serial,
        reason,
        entry,
    })
}

/// The configured issuer public key (`issuer.public_key`).
fn public_key(config: &Config) -> Result<cardgate_card::IssuerPublicKey, String> {
    let path = &config.issuer.public_key;
    let bytes =
        crate::files::read_capped(path, 256).map_err(|e| format!("{}: {e}", path.display()))?;
    cardgate_card::IssuerPublicKey::from_hex(&String::from_utf8_lossy(&bytes))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// What the step will do, for [`Ui::confirm`].
fn withdrawal_plan(lang: Lang, ui: &Ui, w: &Withdrawal, by: &Label) -> String {
    let serial = w.serial.to_string();
    let mut plan = match &w.entry {
        Some(e) => tr!(
            lang,
            "ctl-card-plan-card",
            serial = serial.clone(),
            operator = e.operator_id.clone(),
            role = list::role_text(lang, &e.role),
            lent = ui.unix_time(e.lent_at)
        ),
        None => tr!(lang, "ctl-card-plan-unknown-card", serial = serial.clone()),
    };
    plan.push('\n');
    plan.push_str(&if w.entry.is_none() {
        tr!(
            lang,
            "ctl-card-plan-list-only",
            reason = list::reason_text(lang, w.reason)
        )
    } else if w.reason == RevocationReason::Returned {
        tr!(lang, "ctl-card-plan-return", serial = serial.clone())
    } else {
        tr!(
            lang,
            "ctl-card-plan-revoke",
            serial = serial.clone(),
            reason = list::reason_text(lang, w.reason)
        )
    });
    plan.push('\n');
    plan.push_str(&tr!(lang, "ctl-card-plan-meaning"));
    plan.push('\n');
    plan.push_str(&tr!(lang, "ctl-card-plan-by", by = by.to_string()));
    if w.entry.is_none() {
        plan.push('\n');
        plan.push_str(&tr!(lang, "ctl-card-plan-override"));
    }
    plan
}

/// Signs the next revocation list with the card on it and updates the register.
fn revoke(
    config: &Config,
    issuer: &IssuerKey,
    serial: CardSerial,
    reason: RevocationReason,
) -> Result<u64, CmdError> {
    if cardgate_audit::caller::real_uid() != Some(0) {
        // The access manager is not root: the daemon installs the signed list and marks the
        // register (it checks the signature, that the version is newer and that nothing is
        // dropped), since neither file is the manager's group's to write.
        let (version, _, bytes) = crate::revocation::sign_next(
            issuer,
            &config.revocation.list,
            NEXT_UPDATE_DAYS,
            Some((serial, reason)),
        )?;
        let answer = client::call(
            cardgate_i18n::Lang::from_env(),
            &config.daemon.admin_socket,
            &AdminRequest::PublishRevocationList {
                list: hex::encode(bytes),
            },
        )?;
        client::expect_ok(answer)?;
        return Ok(version);
    }
    let (version, _) = crate::revocation::next_version(
        issuer,
        &config.revocation.list,
        NEXT_UPDATE_DAYS,
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

/// Records the `--not-in-register` override, before the card is put on the list: an
/// override that cannot be recorded is not taken.
fn record_override(config: &Config, command: &str, w: &Withdrawal) -> Result<(), CmdError> {
    let text = format!(
        "cardgatectl card {command} {} --not-in-register: the card register {} does not know \
         this card (issued elsewhere); put on the revocation list anyway, reason {}",
        w.serial,
        RegisterFile::new(&config.daemon.state_dir).path().display(),
        w.reason
    );
    let note = Text::new(text.clone()).map_err(|e| format!("the override note: {e}"))?;
    record(
        config,
        AdminRequest::Note {
            kind: cardgate_protocol::NoteKind::Other,
            text,
            who: None,
            escort: None,
        },
        |by| {
            Entry::new(Event::Note {
                note: NoteKind::Other,
                text: note,
                who: None,
                escort: None,
                by: Some(by),
            })
            .card(w.serial)
        },
    )
}

/// `card return` and `card revoke`.
fn withdraw(
    ui: &Ui,
    config: &Config,
    serial: &str,
    reason: RevocationReason,
    issuer_dir: &Path,
    not_in_register: bool,
) -> Result<(), CmdError> {
    let lang = ui.lang;
    let serial = parse_serial(lang, serial)?;
    let w = check_withdrawal(lang, ui, config, serial, reason, not_in_register)?;
    // The medium before the question: a missing key is found before anyone says yes.
    let issuer = crate::issuer::load_key(lang, issuer_dir)?;
    let by = cardgate_audit::caller::label();
    ui.confirm(&withdrawal_plan(lang, ui, &w, &by))?;
    let returned = reason == RevocationReason::Returned;
    let command = if returned { "return" } else { "revoke" };
    if w.entry.is_none() {
        record_override(config, command, &w).map_err(|e| {
            fail(
                Exit::Failed,
                tr!(
                    lang,
                    "ctl-card-override-unrecorded",
                    serial = serial.to_string(),
                    error = crate::files::chain(&*e)
                ),
            )
        })?;
    }
    let version = revoke(config, &issuer, serial, reason)?;
    let recorded = if returned {
        record(
            config,
            AdminRequest::CardReturned {
                serial: client::serial(serial),
            },
            |by| Entry::new(Event::CardReturned { by }).card(serial),
        )
    } else {
        record(
            config,
            AdminRequest::CardRevoked {
                serial: client::serial(serial),
                reason: client::revocation_reason(reason),
            },
            |by| Entry::new(Event::CardRevoked { by, reason }).card(serial),
        )
    };
    recorded.map_err(|e| {
        fail_hint(
            Exit::Failed,
            tr!(
                lang,
                "ctl-card-withdrawn-unrecorded",
                serial = serial.to_string(),
                version = version,
                error = crate::files::chain(&*e)
            ),
            tr!(lang, "ctl-card-tell-administrator"),
        )
    })?;
    if ui.json {
        ui.print_json(&serde_json::json!({
            "serial": serial.to_string(),
            "state": if returned { "returned" } else { "revoked" },
            "reason": reason.as_str(),
            "revocation_list_version": version,
            "not_in_register": w.entry.is_none(),
        }))?;
    } else if returned {
        println!(
            "{}",
            tr!(
                lang,
                "ctl-card-returned",
                serial = serial.to_string(),
                version = version
            )
        );
    } else {
        println!(
            "{}",
            tr!(
                lang,
                "ctl-card-revoked",
                serial = serial.to_string(),
                reason = list::reason_text(lang, reason),
                version = version
            )
        );
    }
    Ok(())
}

/// The role named on the command line.
fn parse_role(lang: Lang, role: &str) -> Result<Role, CmdError> {
    match role {
        "operator" => Ok(Role::Operator),
        "manager" => Ok(Role::AccessManager),
        other => Err(fail(
            Exit::Usage,
            tr!(lang, "ctl-card-bad-role", input = other.to_owned()),
        )),
    }
}

/// `--valid-until`: a date from `today` to [`MAX_VALIDITY_YEARS`] ahead.
fn parse_valid_until(
    lang: Lang,
    text: Option<&str>,
    today: time::Date,
) -> Result<time::Date, CmdError> {
    let years_ahead = |years: i32| {
        today
            .replace_year(today.year() + years)
            // 29 February: the 28th of that year.
            .or_else(|_| {
                today
                    .previous_day()
                    .unwrap_or(today)
                    .replace_year(today.year() + years)
            })
            .unwrap_or(today)
    };
    let latest = years_ahead(MAX_VALIDITY_YEARS);
    let Some(text) = text else {
        return Ok(years_ahead(1));
    };
    let date = parse_iso_date(text).ok_or_else(|| {
        fail(
            Exit::Usage,
            tr!(lang, "ctl-card-bad-date", input = text.to_owned()),
        )
    })?;
    if date < today {
        return Err(fail(
            Exit::Usage,
            tr!(
                lang,
                "ctl-card-date-past",
                input = text.to_owned(),
                today = today.to_string()
            ),
        ));
    }
    if date > latest {
        return Err(fail(
            Exit::Usage,
            tr!(
                lang,
                "ctl-card-date-far",
                input = text.to_owned(),
                years = i64::from(MAX_VALIDITY_YEARS),
                latest = latest.to_string()
            ),
        ));
    }
    Ok(date)
}

/// The operator ID: 1 to 32 bytes of UTF-8 (the certificate's `5F20`), no control character.
fn check_operator(lang: Lang, operator: &str) -> Result<(), CmdError> {
    if operator.is_empty()
        || operator.len() > MAX_OPERATOR_ID_LEN
        || operator.chars().any(char::is_control)
    {
        return Err(fail(
            Exit::Usage,
            tr!(
                lang,
                "ctl-card-bad-operator",
                input = operator.to_owned(),
                max = MAX_OPERATOR_ID_LEN as u64
            ),
        ));
    }
    Ok(())
}

/// Reads an OpenPGP card's admin PIN (one stdin line).
fn read_admin_pin(lang: Lang) -> Result<AdminPin, CmdError> {
    AdminPin::parse(&read_secret_line()?).map_err(|e| {
        fail(
            Exit::Usage,
            tr!(lang, "ctl-card-bad-admin-pin", error = e.to_string()),
        )
    })
}

/// Reads the PUK (one stdin line).
fn read_puk(lang: Lang) -> Result<Puk, CmdError> {
    Puk::parse(&read_secret_line()?).map_err(|e| {
        fail(
            Exit::Usage,
            tr!(lang, "ctl-card-bad-puk", error = e.to_string()),
        )
    })
}

/// Whether the register is written by the daemon for this caller: the access manager is not
/// root, and the register is not the manager's group's to write (see
/// `engine/register_requests.rs` in the daemon). Decided before any card is touched: without
/// root, the daemon must be up (and a manager's card must authorise the step), or nothing
/// is done.
fn daemon_writes_register(
    lang: Lang,
    config: &Config,
    by_manager_card: bool,
) -> Result<bool, CmdError> {
    if cardgate_audit::caller::real_uid() == Some(0) {
        return Ok(false);
    }
    if !by_manager_card {
        return Err(fail_hint(
            Exit::Refused,
            tr!(lang, "ctl-card-bootstrap-needs-root"),
            tr!(lang, "ctl-card-bootstrap-needs-root-hint"),
        ));
    }
    client::expect_ok(client::call(
        lang,
        &config.daemon.admin_socket,
        &AdminRequest::Status,
    )?)?;
    Ok(true)
}

#[allow(clippy::too_many_arguments)]
fn issue(
    ui: &Ui,
    config: &Config,
    reader: String,
    operator: String,
    role: &str,
    valid_until: Option<&str>,
    issuer_dir: &Path,
    manager_reader: Option<String>,
) -> Result<(), CmdError> {
    let lang = ui.lang;
    check_reader(lang, &reader)?;
    if let Some(m) = &manager_reader {
        check_reader(lang, m)?;
    }
    check_operator(lang, &operator)?;
    let role = parse_role(lang, role)?;
    let today = time::OffsetDateTime::now_utc().to_offset(ui.offset).date();
    let valid_until = parse_valid_until(lang, valid_until, today)?;
    // The medium before the manager's PIN: nothing is asked of a card for a key not there.
    let issuer = crate::issuer::load_key(lang, issuer_dir)?;
    let through_daemon = daemon_writes_register(lang, config, manager_reader.is_some())?;
    let manager = match manager_reader {
        Some(m) => Some(manager::authenticate(lang, config, &m, &reader)?),
        None => {
            manager::bootstrap_allowed(lang, config, role, &reader)?;
            None
        }
    };
    // The card's profile decides which secrets are asked for; nothing secret is sent here.
    let profile = {
        let ran = readers()
            .run(&reader, cardgate_card::reselect(), |t| {
                let mut card = OperatorCard::new(t);
                card.select().map(|_| card.profile().cloned())
            })
            .map_err(|e| reader_failure(lang, &e))?;
        ended(lang, ran.end)?;
        ran.value.map_err(|e| card_failure(lang, &reader, &e))?
    };
    let openpgp = matches!(profile, Some(Profile::OpenPgp(_)));
    let admin_pins = if openpgp {
        let (admin, new_admin) = (read_admin_pin(lang)?, read_admin_pin(lang)?);
        // Whoever has the admin PIN can set a new PIN on the card without the old one: the
        // factory value, which everyone knows, must not stay. (The admin PIN the card has
        // now may be kept: an issuance taken up again after a pull has already set it.)
        if cardgate_card::ct_eq(new_admin.expose().as_bytes(), AdminPin::FACTORY.as_bytes()) {
            return Err(fail(Exit::Usage, tr!(lang, "ctl-card-admin-pin-unchanged")));
        }
        Some((admin, new_admin))
    } else {
        None
    };
    let puk = read_puk(lang)?;
    let pin =
        check_new_pin(&read_secret_line()?, Some(&operator)).map_err(|e| pin_refused(lang, &e))?;
    let secrets = match &admin_pins {
        Some((admin_pin, new_admin_pin)) => IssueSecrets::OpenPgp(OpenPgpSecrets {
            admin_pin,
            new_admin_pin,
            reset_code: &puk,
            initial_pin: &pin,
        }),
        None => IssueSecrets::OperatorCardV1 {
            puk: &puk,
            initial_pin: &pin,
        },
    };
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
        let ran = readers()
            .run(&reader, cardgate_card::reselect(), |t| {
                let now = u32::try_from(now()).unwrap_or(u32::MAX);
                issue_with(&mut OperatorCard::new(t), &issuer, &secrets, &request, now)
            })
            .map_err(|e| reader_failure(lang, &e))?;
        ended(lang, ran.end)?;
        ran.value
    };
    let cert = match issued {
        Ok(cert) => cert,
        Err(e) => {
            record_puk_refusal(config, &reader, None, &e)?;
            return Err(issue_failure(lang, &reader, e));
        }
    };
    let serial = cert.body.serial;
    match (&manager, through_daemon) {
        (Some(m), true) => {
            client::expect_ok(client::call(
                lang,
                &config.daemon.admin_socket,
                &AdminRequest::LendInRegister {
                    serial: client::serial(serial),
                    operator: operator.clone(),
                    role: client::role(role),
                    reader: reader.clone(),
                    manager: client::serial(m.serial),
                    manager_reader: m.reader.clone(),
                },
            )?)?;
        }
        _ => RegisterFile::new(&config.daemon.state_dir).update(|r| {
            r.cards.insert(
                serial.to_string(),
                CardEntry::lent(&operator, role, now(), valid_until),
            );
        })?,
    }
    record(
        config,
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
        fail_hint(
            Exit::Failed,
            tr!(
                lang,
                "ctl-card-issued-unrecorded",
                serial = serial.to_string(),
                operator = operator.clone(),
                error = crate::files::chain(&*e)
            ),
            tr!(lang, "ctl-card-tell-administrator"),
        )
    })?;
    if ui.json {
        ui.print_json(&serde_json::json!({
            "serial": serial.to_string(),
            "operator": operator,
            "role": role.as_str(),
            "valid_from": today.to_string(),
            "valid_until": valid_until.to_string(),
            "must_change_pin": true,
        }))?;
    } else {
        println!(
            "{}",
            tr!(
                lang,
                "ctl-card-issued",
                serial = serial.to_string(),
                operator = operator,
                role = list::role_text(lang, role.as_str()),
                until = valid_until.to_string()
            )
        );
    }
    Ok(())
}

fn unblock_card(
    ui: &Ui,
    config: &Config,
    reader: String,
    manager_reader: String,
) -> Result<(), CmdError> {
    let lang = ui.lang;
    check_reader(lang, &reader)?;
    check_reader(lang, &manager_reader)?;
    // The manager's card first, as before any other step: a refusal is recorded whatever
    // the other card is. Then the card, without any secret, for the plan to name it.
    let through_daemon = daemon_writes_register(lang, config, true)?;
    let manager = manager::authenticate(lang, config, &manager_reader, &reader)?;
    let seen = {
        let ran = readers()
            .run(&reader, cardgate_card::reselect(), |t| {
                OperatorCard::new(t).select()
            })
            .map_err(|e| reader_failure(lang, &e))?;
        ended(lang, ran.end)?;
        ran.value
            .map_err(|e| card_failure(lang, &reader, &e))?
            .ok_or_else(|| {
                fail(
                    Exit::NotFound,
                    tr!(lang, "ctl-card-blank", reader = reader.clone()),
                )
            })?
    };
    let target = seen.body.serial;
    let mut plan = tr!(
        lang,
        "ctl-card-plan-unblock",
        serial = target.to_string(),
        operator = seen.body.operator_id.clone(),
        reader = reader.clone()
    );
    plan.push('\n');
    plan.push_str(&tr!(
        lang,
        "ctl-card-plan-by",
        by = manager::by(cardgate_audit::caller::label(), Some(&manager)).to_string()
    ));
    ui.confirm(&plan)?;
    let puk = read_puk(lang)?;
    let (cert, unblocked) = {
        let ran = readers()
            .run(&reader, cardgate_card::reselect(), |t| {
                let mut host = OperatorCard::new(t);
                let cert = host
                    .select()
                    .map_err(|e| card_failure(lang, &reader, &e))?
                    .ok_or_else(|| {
                        fail(
                            Exit::NotFound,
                            tr!(lang, "ctl-card-blank", reader = reader.clone()),
                        )
                    })?;
                // The card confirmed is the card unblocked.
                if cert.body.serial != target {
                    return Err(fail(
                        Exit::Refused,
                        tr!(
                            lang,
                            "ctl-card-card-changed",
                            reader = reader.clone(),
                            serial = target.to_string()
                        ),
                    ));
                }
                let pin = check_new_pin(&read_secret_line()?, Some(&cert.body.operator_id))
                    .map_err(|e| pin_refused(lang, &e))?;
                let unblocked = unblock(&mut host, &puk, &pin);
                Ok::<_, CmdError>((cert, unblocked))
            })
            .map_err(|e| reader_failure(lang, &e))?;
        let value = ran.value?;
        ended(lang, ran.end)?;
        value
    };
    if let Err(e) = unblocked {
        record_puk_refusal(config, &reader, Some(&cert), &e)?;
        return Err(issue_failure(lang, &reader, e));
    }
    let serial = cert.body.serial;
    if through_daemon {
        client::expect_ok(client::call(
            lang,
            &config.daemon.admin_socket,
            &AdminRequest::MarkUnblockedInRegister {
                serial: client::serial(serial),
                reader: reader.clone(),
                manager: client::serial(manager.serial),
                manager_reader: manager.reader.clone(),
            },
        )?)?;
    } else {
        RegisterFile::new(&config.daemon.state_dir).update(|r| {
            if let Some(e) = r.get_mut(&serial) {
                e.must_change_pin = true;
                e.unblocked_at = Some(now());
            }
        })?;
    }
    record(
        config,
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
        fail_hint(
            Exit::Failed,
            tr!(
                lang,
                "ctl-card-unblocked-unrecorded",
                serial = serial.to_string(),
                error = crate::files::chain(&*e)
            ),
            tr!(lang, "ctl-card-tell-administrator"),
        )
    })?;
    if ui.json {
        ui.print_json(&serde_json::json!({
            "serial": serial.to_string(),
            "operator": cert.body.operator_id,
            "must_change_pin": true,
        }))?;
    } else {
        println!(
            "{}",
            tr!(lang, "ctl-card-unblocked", serial = serial.to_string())
        );
    }
    Ok(())
}

/// Runs a card command.
pub fn run(ui: &Ui, config_path: &Path, cmd: CardCommand) -> Result<ExitCode, CmdError> {
    let lang = ui.lang;
    let load = || {
        Config::load(config_path).map_err(|e| {
            let path = config_path.display().to_string();
            if config_path.exists() {
                fail_hint(
                    Exit::Failed,
                    crate::files::chain(&e),
                    tr!(lang, "ctl-card-config-fix", path = path),
                )
            } else {
                fail_hint(
                    Exit::NotFound,
                    crate::files::chain(&e),
                    tr!(lang, "ctl-card-config-hint", path = path),
                )
            }
        })
    };
    match cmd {
        CardCommand::Issue {
            reader,
            operator,
            role,
            valid_until,
            issuer_dir,
            manager_reader,
        } => issue(
            ui,
            &load()?,
            reader,
            operator,
            &role,
            valid_until.as_deref(),
            &issuer_dir,
            manager_reader,
        )?,
        CardCommand::Return {
            serial,
            issuer_dir,
            not_in_register,
        } => withdraw(
            ui,
            &load()?,
            &serial,
            RevocationReason::Returned,
            &issuer_dir,
            not_in_register,
        )?,
        CardCommand::Revoke {
            serial,
            reason,
            issuer_dir,
            not_in_register,
        } => withdraw(ui, &load()?, &serial, reason, &issuer_dir, not_in_register)?,
        CardCommand::Unblock {
            reader,
            manager_reader,
        } => unblock_card(ui, &load()?, reader, manager_reader)?,
        CardCommand::List => list::run(ui, &load()?)?,
        CardCommand::Inspect { reader } => {
            check_reader(lang, &reader)?;
            // A diagnostic works without a configuration: what it cannot check it says.
            let config = Config::load(config_path).map_err(|e| crate::files::chain(&e));
            inspect::run(ui, config.as_ref(), &reader)?
        }
    }
    Ok(ExitCode::SUCCESS)
}
