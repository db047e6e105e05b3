//! `cardgatectl card inspect --reader R`: what card is in a reader, without its PIN.
//!
//! In one transaction through the reader crate's seam: SELECT of the operator card's AID,
//! else of the OpenPGP application (the profile; anything else is an unknown card; a
//! personalised card gives its certificate) and VERIFY with no data, which reports the PIN
//! tries left and never spends one (operator-card-v1.md, "VERIFY (status)";
//! docs/card-protocol.md for the OpenPGP card). The rest
//! is checked here against this terminal's configuration: the issuer signature against
//! `issuer.public_key`, the revocation list, the card register.

use super::list::{reason_text, rfc3339, role_text};
use crate::exit::{Exit, Failure};
use crate::files::CmdError;
use crate::readers::hex;
use crate::ui::Ui;
use cardgate_card::commands::{atr_is_operator_card, CardError, Profile};
use cardgate_card::revocation::MAX_FILE_LEN;
use cardgate_card::{Certificate, OperatorCard, RevocationList, StatusWord, Verification};
use cardgate_i18n::table::Table;
use cardgate_i18n::{tr, Lang};
use cardgate_office::config::Config;
use cardgate_office::register::{CardState, RegisterFile};
use cardgate_reader::CardReadersExt;
use serde::Serialize;

/// `card inspect --json` (docs/cli.md; fields are only ever added).
#[derive(Debug, Serialize)]
pub struct Inspection {
    /// The reader.
    pub reader: String,
    /// The card's answer to reset, upper-case hex.
    pub atr: String,
    /// `operator-card-v1` (the card answered SELECT of its AID), `openpgp-3.4` (an OpenPGP
    /// card) or `unknown`.
    pub profile: &'static str,
    /// What an OpenPGP card says of itself; absent on other cards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openpgp: Option<OpenPgpInfo>,
    /// An operator card with a certificate (false: blank, or not an operator card).
    pub personalised: bool,
    /// From the certificate; absent on a blank or unknown card.
    pub certificate: Option<CertificateInfo>,
    /// The PIN: tries left, blocked; absent on an unknown card.
    pub pin: Option<PinInfo>,
}

/// What the certificate says, and what this terminal makes of it.
#[derive(Debug, Serialize)]
pub struct CertificateInfo {
    /// 16 upper-case hex digits.
    pub serial: String,
    /// The holder.
    pub operator: String,
    /// `operator` or `manager`.
    pub role: &'static str,
    /// First day of validity, `YYYY-MM-DD`.
    pub valid_from: String,
    /// Last day of validity, `YYYY-MM-DD`.
    pub valid_until: String,
    /// `valid`, `expired` or `not_yet_valid`, today in the office's time zone.
    pub validity: &'static str,
    /// `valid`, `invalid` (not signed by the configured issuer), or `unchecked` (no issuer
    /// public key to check with; `issuer_error` says why).
    pub issuer_signature: &'static str,
    /// Why the signature was not checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer_error: Option<String>,
    /// `true` or `false` per the configured revocation list; `null` when the list could not
    /// be read or verified (`revocation_error` says why).
    pub revoked: Option<bool>,
    /// The revocation's reason, when revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_reason: Option<&'static str>,
    /// When it was revoked, RFC 3339 UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// The version of the list that was consulted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_list_version: Option<u64>,
    /// Why the list was not consulted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_error: Option<String>,
    /// The register: `lent`, `returned`, `revoked`, `not_in_register`, or `null` when it
    /// could not be read (`register_error`).
    pub register: Option<&'static str>,
    /// True when the register says it came back.
    pub returned: Option<bool>,
    /// Why the register was not consulted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub register_error: Option<String>,
}

/// An OpenPGP card's own identity and settings.
#[derive(Debug, Serialize)]
pub struct OpenPgpInfo {
    /// The specification version, `3.4`.
    pub version: String,
    /// The manufacturer code, 4 upper-case hex digits (`0006` Yubico, `000F` Nitrokey).
    pub manufacturer: String,
    /// The card's own serial, 8 upper-case hex digits (not cardgate's serial).
    pub card_serial: String,
    /// Whether PINs cross the reader as salted hashes (KDF-DO).
    pub kdf: bool,
    /// Tries left of the Reset Code (cardgate's PUK on this card).
    pub reset_code_tries_left: u8,
    /// Tries left of the admin PIN (PW3).
    pub admin_pin_tries_left: u8,
}

/// The PIN as VERIFY with no data reports it.
#[derive(Debug, Serialize)]
pub struct PinInfo {
    /// The card has a PIN (false on a blank card, which answers `6A88`).
    pub set: bool,
    /// Tries left before the PIN blocks; `null` when the card did not say.
    pub tries_left: Option<u8>,
    /// The PIN is blocked (the PUK unblocks it: `card unblock`).
    pub blocked: bool,
}

/// What the card answered.
enum Seen {
    Unknown,
    Operator {
        profile: &'static str,
        openpgp: Option<OpenPgpInfo>,
        cert: Option<Box<Certificate>>,
        /// `None`: no PIN is set (a blank card).
        pin: Option<Verification>,
    },
}

fn read_card(t: &mut dyn cardgate_reader::CardTransport) -> Result<Seen, CardError> {
    let mut card = OperatorCard::new(t);
    let cert = match card.select() {
        Ok(cert) => cert,
        Err(CardError::ApplicationNotFound) => return Ok(Seen::Unknown),
        Err(e) => return Err(e),
    };
    // Never a PIN: VERIFY without data answers whether it is verified, with the tries left.
    let pin = match card.pin_status() {
        Ok(v) => Some(v),
        Err(CardError::Unexpected {
            status: StatusWord::DataNotFound,
            ..
        }) => None,
        Err(e) => return Err(e),
    };
    let openpgp = match card.profile() {
        Some(Profile::OpenPgp(app)) => Some(OpenPgpInfo {
            version: format!("{}.{}", app.version().0, app.version().1),
            manufacturer: format!("{:04X}", app.manufacturer()),
            card_serial: format!("{:08X}", app.card_serial()),
            kdf: app.kdf().is_on(),
            reset_code_tries_left: app.reset_code_retries(),
            admin_pin_tries_left: app.admin_retries(),
        }),
        _ => None,
    };
    Ok(Seen::Operator {
        profile: card.profile().map_or("unknown", Profile::name),
        openpgp,
        cert: cert.map(Box::new),
        pin,
    })
}

fn checks(
    config: Result<&Config, &String>,
    cert: &Certificate,
    today: time::Date,
) -> CertificateInfo {
    let body = &cert.body;
    let validity = if today < body.valid_from {
        "not_yet_valid"
    } else if today > body.valid_until {
        "expired"
    } else {
        "valid"
    };
    let mut info = CertificateInfo {
        serial: body.serial.to_string(),
        operator: body.operator_id.clone(),
        role: body.role.as_str(),
        valid_from: body.valid_from.to_string(),
        valid_until: body.valid_until.to_string(),
        validity,
        issuer_signature: "unchecked",
        issuer_error: None,
        revoked: None,
        revocation_reason: None,
        revoked_at: None,
        revocation_list_version: None,
        revocation_error: None,
        register: None,
        returned: None,
        register_error: None,
    };
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            info.issuer_error = Some(e.clone());
            info.revocation_error = Some(e.clone());
            info.register_error = Some(e.clone());
            return info;
        }
    };
    match super::public_key(config) {
        Ok(public) => {
            info.issuer_signature = if cert.verify_issuer(&public).is_ok() {
                "valid"
            } else {
                "invalid"
            };
            let path = &config.revocation.list;
            match crate::files::read_capped(path, MAX_FILE_LEN as u64)
                .map_err(|e| format!("{}: {e}", path.display()))
                .and_then(|bytes| {
                    RevocationList::verify(&bytes, &public)
                        .map_err(|e| format!("{}: {e}", path.display()))
                }) {
                Ok(list) => {
                    let found = list.lookup(&body.serial);
                    info.revoked = Some(found.is_some());
                    info.revocation_reason = found.map(|r| r.reason.as_str());
                    info.revoked_at = found.and_then(|r| rfc3339(r.revoked_at));
                    info.revocation_list_version = Some(list.version());
                }
                Err(e) => info.revocation_error = Some(e),
            }
        }
        Err(e) => {
            info.issuer_error = Some(e.clone());
            info.revocation_error = Some(e);
        }
    }
    match RegisterFile::new(&config.daemon.state_dir).read() {
        Ok(register) => {
            let state = register.get(&body.serial).map(|e| e.state);
            info.register = Some(match state {
                None => "not_in_register",
                Some(CardState::Lent) => "lent",
                Some(CardState::Returned { .. }) => "returned",
                Some(CardState::Revoked { .. }) => "revoked",
            });
            info.returned = Some(matches!(state, Some(CardState::Returned { .. })));
        }
        Err(e) => info.register_error = Some(crate::files::chain(&e)),
    }
    info
}

/// Runs `card inspect`.
pub fn run(ui: &Ui, config: Result<&Config, &String>, reader: &str) -> Result<(), CmdError> {
    let lang = ui.lang;
    let context = crate::readers::context(lang)?;
    crate::readers::known(lang, &context, reader)?;
    let atr = crate::readers::atr(lang, &context, reader)?.ok_or_else(|| {
        Box::new(
            Failure::new(
                Exit::NotFound,
                tr!(lang, "ctl-card-no-card", reader = reader.to_owned()),
            )
            .hint(tr!(lang, "ctl-card-no-card-hint")),
        ) as CmdError
    })?;
    drop(context);
    let ran = super::readers()
        .run(reader, cardgate_card::reselect(), read_card)
        .map_err(|e| super::reader_failure(lang, &e))?;
    let seen = ran
        .value
        .map_err(|e| super::card_failure(lang, reader, &e))?;
    super::ended(lang, ran.end)?;
    let today = time::OffsetDateTime::now_utc().to_offset(ui.offset).date();
    let inspection = match seen {
        Seen::Unknown => Inspection {
            reader: reader.to_owned(),
            atr: hex(&atr),
            profile: "unknown",
            openpgp: None,
            personalised: false,
            certificate: None,
            pin: None,
        },
        Seen::Operator {
            profile,
            openpgp,
            cert,
            pin,
        } => Inspection {
            reader: reader.to_owned(),
            atr: hex(&atr),
            profile,
            openpgp,
            personalised: cert.is_some(),
            certificate: cert.as_deref().map(|c| checks(config, c, today)),
            pin: Some(match pin {
                None => PinInfo {
                    set: false,
                    tries_left: None,
                    blocked: false,
                },
                Some(Verification::Wrong { remaining }) => PinInfo {
                    set: true,
                    tries_left: Some(remaining),
                    blocked: remaining == 0,
                },
                Some(Verification::Blocked) => PinInfo {
                    set: true,
                    tries_left: Some(0),
                    blocked: true,
                },
                // Verified in this session cannot be after the SELECT; the card did not
                // say how many tries are left.
                Some(Verification::Verified) => PinInfo {
                    set: true,
                    tries_left: None,
                    blocked: false,
                },
            }),
        },
    };
    if ui.json {
        return ui.print_json(&inspection);
    }
    print!("{}", text(lang, ui, &inspection, &atr));
    Ok(())
}

fn yes_no(lang: Lang, b: bool) -> String {
    tr!(lang, if b { "common-yes" } else { "common-no" })
}

/// The inspection as two columns, label and value.
fn text(lang: Lang, ui: &Ui, i: &Inspection, atr: &[u8]) -> String {
    let mut t = Table::new([
        tr!(lang, "ctl-card-col-item"),
        tr!(lang, "ctl-card-col-value"),
    ]);
    t.row([tr!(lang, "ctl-card-col-reader"), i.reader.clone()]);
    t.row([tr!(lang, "ctl-card-col-atr"), i.atr.clone()]);
    let profile = match i.profile {
        "operator-card-v1" if i.personalised => tr!(lang, "ctl-card-profile-v1"),
        "operator-card-v1" => tr!(lang, "ctl-card-profile-v1-blank"),
        "openpgp-3.4" if i.personalised => tr!(lang, "ctl-card-profile-openpgp"),
        "openpgp-3.4" => tr!(lang, "ctl-card-profile-openpgp-blank"),
        _ if atr_is_operator_card(atr) => tr!(lang, "ctl-card-profile-unknown-marked"),
        _ => tr!(lang, "ctl-card-profile-unknown"),
    };
    t.row([tr!(lang, "ctl-card-inspect-profile"), profile]);
    if let Some(o) = &i.openpgp {
        t.row([
            tr!(lang, "ctl-card-inspect-openpgp-card"),
            tr!(
                lang,
                "ctl-card-inspect-openpgp-card-value",
                version = o.version.clone(),
                manufacturer = o.manufacturer.clone(),
                serial = o.card_serial.clone()
            ),
        ]);
        t.row([tr!(lang, "ctl-card-inspect-kdf"), yes_no(lang, o.kdf)]);
        t.row([
            tr!(lang, "ctl-card-inspect-admin-tries"),
            format!("{} / {}", o.admin_pin_tries_left, o.reset_code_tries_left),
        ]);
    }
    if let Some(c) = &i.certificate {
        t.row([tr!(lang, "ctl-card-col-serial"), c.serial.clone()]);
        t.row([tr!(lang, "ctl-card-col-operator"), c.operator.clone()]);
        t.row([tr!(lang, "ctl-card-col-role"), role_text(lang, c.role)]);
        let validity = match c.validity {
            "expired" => tr!(lang, "ctl-card-validity-expired"),
            "not_yet_valid" => tr!(lang, "ctl-card-validity-not-yet"),
            _ => tr!(lang, "ctl-card-validity-valid"),
        };
        t.row([
            tr!(lang, "ctl-card-inspect-validity"),
            format!("{} – {} ({validity})", c.valid_from, c.valid_until),
        ]);
        let signature = match c.issuer_signature {
            "valid" => tr!(lang, "ctl-card-signature-valid"),
            "invalid" => tr!(lang, "ctl-card-signature-invalid"),
            _ => tr!(
                lang,
                "ctl-card-unchecked",
                error = c.issuer_error.clone().unwrap_or_default()
            ),
        };
        t.row([tr!(lang, "ctl-card-inspect-signature"), signature]);
        let revoked = match (c.revoked, c.revocation_reason) {
            (Some(true), reason) => tr!(
                lang,
                "ctl-card-inspect-revoked-yes",
                reason = reason
                    .and_then(|r| r.parse().ok())
                    .map(|r| reason_text(lang, r))
                    .unwrap_or_default(),
                version = c.revocation_list_version.unwrap_or_default()
            ),
            (Some(false), _) => tr!(
                lang,
                "ctl-card-inspect-revoked-no",
                version = c.revocation_list_version.unwrap_or_default()
            ),
            (None, _) => tr!(
                lang,
                "ctl-card-unchecked",
                error = c.revocation_error.clone().unwrap_or_default()
            ),
        };
        t.row([tr!(lang, "ctl-card-inspect-revoked"), revoked]);
        let register = match c.register {
            Some("lent") => tr!(lang, "ctl-card-state-lent"),
            Some("returned") => tr!(lang, "ctl-card-state-returned"),
            Some("revoked") => tr!(lang, "ctl-card-inspect-register-revoked"),
            Some(_) => tr!(lang, "ctl-card-inspect-not-in-register"),
            None => tr!(
                lang,
                "ctl-card-unchecked",
                error = c.register_error.clone().unwrap_or_default()
            ),
        };
        t.row([tr!(lang, "ctl-card-inspect-register"), register]);
        if let Some(returned) = c.returned {
            t.row([
                tr!(lang, "ctl-card-inspect-returned"),
                yes_no(lang, returned),
            ]);
        }
        if let Some(at) = &c.revoked_at {
            let shown =
                time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
                    .map(|t| ui.time(t))
                    .unwrap_or_else(|_| at.clone());
            t.row([tr!(lang, "ctl-card-inspect-revoked-at"), shown]);
        }
    }
    if let Some(p) = &i.pin {
        let tries = match (p.blocked, p.tries_left) {
            _ if !p.set => tr!(lang, "ctl-card-pin-not-set"),
            (true, _) => tr!(lang, "ctl-card-pin-blocked"),
            (false, Some(n)) => tr!(lang, "ctl-card-pin-tries", tries = u64::from(n)),
            (false, None) => tr!(lang, "ctl-card-pin-tries-unknown"),
        };
        t.row([tr!(lang, "ctl-card-inspect-pin"), tries]);
    }
    t.render()
}
