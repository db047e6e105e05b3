//! `cardgatectl card list`: the card register, as a table or as JSON (docs/cli.md).

use crate::files::CmdError;
use crate::ui::Ui;
use cardgate_card::cert::CardSerial;
use cardgate_card::revocation::RevocationReason;
use cardgate_i18n::table::Table;
use cardgate_i18n::{tr, Lang};
use cardgate_office::config::Config;
use cardgate_office::register::{CardEntry, CardState, RegisterFile};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// One card of `card list --json`. The shape is documented in docs/cli.md: fields are only
/// ever added.
#[derive(Debug, Serialize)]
pub struct ListedCard {
    /// 16 upper-case hex digits.
    pub serial: String,
    /// The operator it is lent to.
    pub operator: String,
    /// `operator` or `manager`.
    pub role: String,
    /// `lent`, `returned` or `revoked`.
    pub state: &'static str,
    /// The revocation reason, for a revoked card.
    pub reason: Option<&'static str>,
    /// The initial (or unblocked) PIN has not been changed yet.
    pub must_change_pin: bool,
    /// When it was lent, RFC 3339 UTC.
    pub lent_at: Option<String>,
    /// Last day of validity, `YYYY-MM-DD`.
    pub valid_until: String,
    /// When it came back, RFC 3339 UTC.
    pub returned_at: Option<String>,
    /// When it was revoked, RFC 3339 UTC.
    pub revoked_at: Option<String>,
    /// When its PIN was last unblocked, RFC 3339 UTC.
    pub unblocked_at: Option<String>,
}

/// `card list --json`.
#[derive(Debug, Serialize)]
pub struct CardList {
    /// Every card of the register, by serial.
    pub cards: Vec<ListedCard>,
}

/// A Unix time as RFC 3339 in UTC (`None` when out of range).
pub fn rfc3339(unix: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
}

/// A revocation reason in the user's language.
pub fn reason_text(lang: Lang, reason: RevocationReason) -> String {
    let id = match reason {
        RevocationReason::Lost => "ctl-card-reason-lost",
        RevocationReason::Stolen => "ctl-card-reason-stolen",
        RevocationReason::Returned => "ctl-card-reason-returned",
        RevocationReason::Transferred => "ctl-card-reason-transferred",
        RevocationReason::Damaged => "ctl-card-reason-damaged",
        RevocationReason::Other => "ctl-card-reason-other",
    };
    tr!(lang, id)
}

/// A role (as the register writes it) in the user's language.
pub fn role_text(lang: Lang, role: &str) -> String {
    match role {
        "operator" => tr!(lang, "ctl-card-role-operator"),
        "manager" => tr!(lang, "ctl-card-role-manager"),
        other => other.to_owned(),
    }
}

/// The register's key as the JSON writes serials: 16 upper-case hex digits (the key as it is
/// when it is not a serial, which the register never writes).
fn serial_key(key: &str) -> String {
    CardSerial::from_hex(key).map_or_else(|| key.to_owned(), |s| s.to_string())
}

fn listed(serial: &str, e: &CardEntry) -> ListedCard {
    let (state, reason, returned_at, revoked_at) = match e.state {
        CardState::Lent => ("lent", None, None, None),
        CardState::Returned { at } => ("returned", None, rfc3339(at), None),
        CardState::Revoked { at, reason } => ("revoked", Some(reason.as_str()), None, rfc3339(at)),
    };
    ListedCard {
        serial: serial_key(serial),
        operator: e.operator_id.clone(),
        role: e.role.clone(),
        state,
        reason,
        must_change_pin: e.must_change_pin,
        lent_at: rfc3339(e.lent_at),
        valid_until: e.valid_until.clone(),
        returned_at,
        revoked_at,
        unblocked_at: e.unblocked_at.and_then(rfc3339),
    }
}

/// The state column of the table.
pub fn state_text(lang: Lang, e: &CardEntry) -> String {
    match e.state {
        CardState::Lent if e.must_change_pin => tr!(lang, "ctl-card-state-lent-initial"),
        CardState::Lent => tr!(lang, "ctl-card-state-lent"),
        CardState::Returned { .. } => tr!(lang, "ctl-card-state-returned"),
        CardState::Revoked { reason, .. } => tr!(
            lang,
            "ctl-card-state-revoked",
            reason = reason_text(lang, reason)
        ),
    }
}

/// Runs `card list`.
pub fn run(ui: &Ui, config: &Config) -> Result<(), CmdError> {
    let lang = ui.lang;
    let register = RegisterFile::new(&config.daemon.state_dir).read()?;
    if ui.json {
        let cards = register
            .cards
            .iter()
            .map(|(serial, e)| listed(serial, e))
            .collect();
        return ui.print_json(&CardList { cards });
    }
    if register.cards.is_empty() {
        println!(
            "{}",
            tr!(
                lang,
                "ctl-card-list-empty",
                path = RegisterFile::new(&config.daemon.state_dir)
                    .path()
                    .display()
                    .to_string()
            )
        );
        return Ok(());
    }
    let mut table = Table::new([
        tr!(lang, "ctl-card-col-serial"),
        tr!(lang, "ctl-card-col-operator"),
        tr!(lang, "ctl-card-col-role"),
        tr!(lang, "ctl-card-col-lent"),
        tr!(lang, "ctl-card-col-valid-until"),
        tr!(lang, "ctl-card-col-ended"),
        tr!(lang, "ctl-card-col-state"),
    ]);
    for (serial, e) in &register.cards {
        let ended = match e.state {
            CardState::Lent => "-".to_owned(),
            CardState::Returned { at } | CardState::Revoked { at, .. } => ui.unix_time(at),
        };
        table.row([
            serial_key(serial),
            e.operator_id.clone(),
            role_text(lang, &e.role),
            ui.unix_time(e.lent_at),
            e.valid_until.clone(),
            ended,
            state_text(lang, e),
        ]);
    }
    print!("{}", table.render());
    Ok(())
}
