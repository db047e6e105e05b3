//! The access manager's card: `card issue` and `card unblock` act only after it logs in, in
//! full, as the contract's login runs it (certificate, issuer signature, revocation list,
//! dates, PIN VERIFY, INTERNAL AUTHENTICATE), and only when its certificate's role is
//! `manager`. A refusal is recorded (`manager_refused`) before the command fails, and nothing
//! is done to the other card.
use super::{client, day, fail, fail_hint, now, read_secret_line, record, CmdError, Config};
use crate::exit::Exit;
use cardgate_audit::record::DenyReason;
use cardgate_audit::{Entry, Event, Label};
use cardgate_card::cert::{CardSerial, Certificate, Role};
use cardgate_card::login::{authenticate as login, check_certificate, LoginError, LoginPolicy};
use cardgate_card::{IssuerPublicKey, OperatorCard, RevocationList, SecretString};
use cardgate_i18n::{tr, Lang};
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
pub fn bootstrap_allowed(
    lang: Lang,
    config: &Config,
    role: Role,
    reader: &str,
) -> Result<(), CmdError> {
    if role != Role::AccessManager {
        return refused(
            lang,
            config,
            reader,
            refusal(
                DenyReason::NotAuthorisedHere,
                None,
                tr!(lang, "ctl-card-manager-needed"),
            ),
        );
    }
    let register = RegisterFile::new(&config.daemon.state_dir).read()?;
    let lent = register
        .cards
        .iter()
        .find(|(_, e)| e.role == Role::AccessManager.as_str() && e.state == CardState::Lent);
    if let Some((serial, e)) = lent {
        let message = tr!(
            lang,
            "ctl-card-manager-bootstrap-taken",
            serial = serial.clone(),
            manager = e.operator_id.clone(),
            since = day(e.lent_at)
        );
        return refused(
            lang,
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

fn log_in(
    lang: Lang,
    config: &Config,
    reader: &str,
    pin: &SecretString,
) -> Result<Manager, Refusal> {
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
            let who = login(&mut card, cert, pin).map_err(|e| from_login(e, Some(keep), reader))?;
            Ok(Manager {
                serial: who.serial,
                operator_id: who.operator_id,
                reader: reader.to_owned(),
            })
        })
        .map_err(|e| card_error(e.error()))?;
    // The seam's re-select (or reset) cleared the manager's verified PIN; a card that
    // could not be cleared fails the command.
    super::ended(lang, ran.end).map_err(|e| refusal(DenyReason::Other, None, e.to_string()))?;
    ran.value
}

/// Reads the manager's PIN (the first stdin line) and logs the manager's card in `reader`
/// in. A refusal is recorded, then returned as the error.
pub fn authenticate(
    lang: Lang,
    config: &Config,
    reader: &str,
    target: &str,
) -> Result<Manager, CmdError> {
    if reader == target {
        return Err(fail(
            Exit::Usage,
            tr!(
                lang,
                "ctl-card-manager-same-reader",
                reader = reader.to_owned()
            ),
        ));
    }
    let pin = SecretString::new(read_secret_line()?.as_str().to_owned());
    match log_in(lang, config, reader, &pin) {
        Ok(m) => {
            eprintln!(
                "{}",
                tr!(
                    lang,
                    "ctl-card-manager-authenticated",
                    manager = m.operator_id.clone(),
                    serial = m.serial.to_string(),
                    reader = reader.to_owned()
                )
            );
            Ok(m)
        }
        Err(r) => refused(lang, config, reader, r),
    }
}

/// Records a refusal (through the daemon or straight into the log), then fails with it.
fn refused<T>(lang: Lang, config: &Config, reader: &str, r: Refusal) -> Result<T, CmdError> {
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
        fail(
            Exit::Refused,
            tr!(
                lang,
                "ctl-card-manager-refused-unrecorded",
                reason = r.message.clone(),
                error = crate::files::chain(&*e)
            ),
        )
    })?;
    Err(fail_hint(
        Exit::Refused,
        tr!(lang, "ctl-card-manager-refused", reason = r.message),
        tr!(lang, "ctl-card-manager-refused-hint"),
    ))
}
