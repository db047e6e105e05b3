//! `cardgatectl revocation …`: sign and inspect the revocation list (art. 5.4).
//!
//! These are the low-level commands; `card revoke` and `card return` (with the card
//! register) build on them.

use crate::exit::{Exit, Failure};
use crate::files::{io_failure, json_time, read_capped, write_atomic, CmdError};
use crate::ui::Ui;
use cardgate_card::cert::CardSerial;
use cardgate_card::revocation::{
    Revocation, RevocationListBuilder, RevocationReason, MAX_FILE_LEN,
};
use cardgate_card::{IssuerKey, IssuerPublicKey, RevocationList};
use cardgate_i18n::{tr, Lang};
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

/// The longest a list may say it is good for: a year (366 days, for a leap year). A list
/// signed to last longer would keep a terminal that stopped getting updates accepting cards
/// revoked since, long after anyone noticed; a list for 0 days is stale when it is made.
pub const MAX_NEXT_UPDATE_DAYS: u32 = 366;

/// Parses `--next-update-days`: a whole number of days, 1 to [`MAX_NEXT_UPDATE_DAYS`]. The
/// message is in the locale's language (clap reads arguments before `--lang` is known).
pub fn parse_next_update_days(text: &str) -> Result<u32, String> {
    let lang = Lang::from_env();
    match text.trim().parse::<u32>() {
        Ok(days) if (1..=MAX_NEXT_UPDATE_DAYS).contains(&days) => Ok(days),
        _ => Err(tr!(
            lang,
            "ctl-state-next-update-bounds",
            value = text.to_owned(),
            max = MAX_NEXT_UPDATE_DAYS
        )),
    }
}

/// Revocation list commands.
#[derive(Debug, Subcommand)]
pub enum RevocationCommand {
    /// Add a card to the list (creating the list if needed) and sign the next version.
    Revoke {
        /// The issuer directory made by `issuer init`.
        #[arg(long)]
        issuer_dir: PathBuf,
        /// The revocation list file.
        #[arg(long)]
        list: PathBuf,
        /// The card serial, 16 hex digits.
        serial: String,
        /// lost, stolen, returned, transferred, damaged or other.
        #[arg(long)]
        reason: RevocationReason,
        /// Days until the next list is due (1 to 366); terminals treat the list as stale after
        /// that.
        #[arg(long, default_value_t = 7, value_parser = parse_next_update_days)]
        next_update_days: u32,
    },
    /// Sign a new version of the list with no change (a refresh before next-update).
    Refresh {
        /// The issuer directory made by `issuer init`.
        #[arg(long)]
        issuer_dir: PathBuf,
        /// The revocation list file.
        #[arg(long)]
        list: PathBuf,
        /// Days until the next list is due (1 to 366).
        #[arg(long, default_value_t = 7, value_parser = parse_next_update_days)]
        next_update_days: u32,
    },
    /// Verify a list and print it.
    Show {
        /// The issuer's public key file (`issuer.pub`).
        #[arg(long)]
        issuer_pub: PathBuf,
        /// The revocation list file.
        #[arg(long)]
        list: PathBuf,
    },
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The issuer public key in `path` (`issuer.pub`, hex), every failure naming the file.
pub fn load_public(lang: Lang, path: &Path) -> Result<IssuerPublicKey, CmdError> {
    let bytes = read_capped(path, 4096).map_err(|e| io_failure(lang, path, &e))?;
    IssuerPublicKey::from_hex(String::from_utf8_lossy(&bytes).trim()).map_err(|e| {
        Box::new(Failure::new(
            Exit::Failed,
            tr!(
                lang,
                "ctl-state-bad-file",
                path = path.display().to_string(),
                error = e.to_string()
            ),
        )) as CmdError
    })
}

/// Reads and verifies the list in `path`: a missing file is [`Exit::NotFound`], a list that
/// does not verify [`Exit::VerificationFailed`], each naming the file.
pub fn load_list(
    lang: Lang,
    path: &Path,
    public: &IssuerPublicKey,
) -> Result<RevocationList, CmdError> {
    let bytes = read_capped(path, MAX_FILE_LEN as u64).map_err(|e| io_failure(lang, path, &e))?;
    RevocationList::verify(&bytes, public).map_err(|e| {
        Box::new(
            Failure::new(
                Exit::VerificationFailed,
                tr!(
                    lang,
                    "ctl-state-list-bad",
                    path = path.display().to_string(),
                    error = e.to_string()
                ),
            )
            .hint(tr!(lang, "ctl-state-list-bad-hint")),
        ) as CmdError
    })
}

/// Signs the next version of the list in `list` (the first when there is none), adding `add`,
/// due again in `next_update_days` (1 to [`MAX_NEXT_UPDATE_DAYS`]). Returns its version and
/// how many cards it lists.
pub fn next_version(
    issuer: &IssuerKey,
    list: &Path,
    next_update_days: u32,
    add: Option<(CardSerial, RevocationReason)>,
) -> Result<(u64, usize), CmdError> {
    let (version, count, bytes) = sign_next(issuer, list, next_update_days, add)?;
    let lang = Lang::from_env();
    write_atomic(list, &bytes, 0o644).map_err(|e| io_failure(lang, list, &e))?;
    Ok((version, count))
}

/// The next version of the list in `list` (with `add`), signed, but not written: the access
/// manager, who is not root, hands it to the daemon to install
/// (`AdminRequest::PublishRevocationList`). Returns the version, the entry count and the
/// signed bytes.
pub fn sign_next(
    issuer: &IssuerKey,
    list: &Path,
    next_update_days: u32,
    add: Option<(CardSerial, RevocationReason)>,
) -> Result<(u64, usize, Vec<u8>), CmdError> {
    // Checked here as well as on the command line, for every caller.
    if !(1..=MAX_NEXT_UPDATE_DAYS).contains(&next_update_days) {
        return Err(Box::new(Failure::new(
            Exit::Usage,
            tr!(
                Lang::from_env(),
                "ctl-state-next-update-bounds",
                value = next_update_days.to_string(),
                max = MAX_NEXT_UPDATE_DAYS
            ),
        )));
    }
    let lang = Lang::from_env();
    let now = now();
    let previous = match read_capped(list, MAX_FILE_LEN as u64) {
        Ok(_) => Some(load_list(lang, list, &issuer.public_key())?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Box::new(io_failure(lang, list, &e))),
    };
    let version = previous.as_ref().map_or(1, |l| l.version() + 1);
    let mut builder =
        RevocationListBuilder::new(version, now, now + i64::from(next_update_days) * 86_400);
    for (serial, r) in previous.iter().flat_map(|l| l.entries()) {
        builder.revoke(serial, r);
    }
    if let Some((serial, reason)) = add {
        builder.revoke(
            serial,
            Revocation {
                revoked_at: now,
                reason,
            },
        );
    }
    let bytes = builder.sign(issuer)?;
    let count = RevocationList::verify(&bytes, &issuer.public_key())?.len();
    Ok((version, count, bytes))
}

/// A revocation reason in the user's language (the wire word stays in JSON).
pub fn reason_text(lang: Lang, reason: RevocationReason) -> String {
    tr!(lang, &format!("ctl-state-reason-{}", reason.as_str()))
}

/// How a list stands against now, for `revocation show` and `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Due later than [`DUE_SOON_SECONDS`] from now.
    Fresh,
    /// Due within [`DUE_SOON_SECONDS`]: sign the next one now.
    DueSoon,
    /// Past its next update: terminals treat it by `revocation.stale`.
    Stale,
}

/// How near the next update must be for a warning: two days, so that a list signed for the
/// default 7 days gets its refresh on a working day before it runs out over a weekend.
pub const DUE_SOON_SECONDS: i64 = 2 * 86_400;

impl Freshness {
    /// How `list` stands at `now`.
    pub fn of(list: &RevocationList, now: i64) -> Freshness {
        if list.is_stale(now) {
            Freshness::Stale
        } else if list.next_update() - now <= DUE_SOON_SECONDS {
            Freshness::DueSoon
        } else {
            Freshness::Fresh
        }
    }

    /// The word in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Freshness::Fresh => "fresh",
            Freshness::DueSoon => "due_soon",
            Freshness::Stale => "stale",
        }
    }
}

fn show(ui: &Ui, issuer_pub: &Path, path: &Path) -> Result<ExitCode, CmdError> {
    let public = load_public(ui.lang, issuer_pub)?;
    let l = load_list(ui.lang, path, &public)?;
    let freshness = Freshness::of(&l, now());
    if ui.json {
        let entries: Vec<serde_json::Value> = l
            .entries()
            .into_iter()
            .map(|(serial, r)| {
                serde_json::json!({
                    "serial": serial.to_string(),
                    "reason": r.reason.as_str(),
                    "revoked_at": json_time(r.revoked_at),
                    "revoked_at_unix": r.revoked_at,
                })
            })
            .collect();
        ui.print_json(&serde_json::json!({
            "list": path,
            "version": l.version(),
            "issued_at": json_time(l.issued_at()),
            "issued_at_unix": l.issued_at(),
            "next_update": json_time(l.next_update()),
            "next_update_unix": l.next_update(),
            "freshness": freshness.as_str(),
            "stale": freshness == Freshness::Stale,
            "entries": entries,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{}",
        tr!(
            ui.lang,
            "ctl-state-list-summary",
            path = path.display().to_string(),
            version = l.version(),
            issued = ui.unix_time(l.issued_at()),
            next = ui.unix_time(l.next_update()),
            count = l.len()
        )
    );
    match freshness {
        Freshness::Fresh => {}
        Freshness::DueSoon => println!("{}", tr!(ui.lang, "ctl-state-list-due-soon")),
        Freshness::Stale => println!("{}", tr!(ui.lang, "ctl-state-list-stale")),
    }
    let mut table = cardgate_i18n::table::Table::new([
        tr!(ui.lang, "ctl-state-col-card"),
        tr!(ui.lang, "ctl-state-col-reason"),
        tr!(ui.lang, "ctl-state-col-revoked-at"),
    ]);
    for (serial, r) in l.entries() {
        table.row([
            serial.to_string(),
            reason_text(ui.lang, r.reason),
            ui.unix_time(r.revoked_at),
        ]);
    }
    if !table.is_empty() {
        print!("{}", table.render());
    }
    Ok(ExitCode::SUCCESS)
}

/// Signs the next version of `list` and puts it in place: written by this process, or, for
/// the access manager who is not root and signs the list the daemon enforces (the configured
/// one), handed to the daemon to install (`AdminRequest::PublishRevocationList`), since that
/// file is not the manager's group's to write.
fn sign_and_place(
    ui: &Ui,
    config_path: &Path,
    issuer: &IssuerKey,
    list: &Path,
    next_update_days: u32,
    add: Option<(CardSerial, RevocationReason)>,
) -> Result<(u64, usize), CmdError> {
    let enforced = || -> Option<cardgate_office::config::Config> {
        let config = cardgate_office::config::Config::load_if_present(config_path).ok()??;
        let same = match (
            std::fs::canonicalize(&config.revocation.list),
            std::fs::canonicalize(list),
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => config.revocation.list == list,
        };
        same.then_some(config)
    };
    if cardgate_audit::caller::real_uid() != Some(0) {
        if let Some(config) = enforced() {
            let (version, count, bytes) = sign_next(issuer, list, next_update_days, add)?;
            crate::client::expect_ok(crate::client::call(
                ui.lang,
                &config.daemon.admin_socket,
                &cardgate_protocol::AdminRequest::PublishRevocationList {
                    list: hex::encode(bytes),
                },
            )?)?;
            return Ok((version, count));
        }
    }
    next_version(issuer, list, next_update_days, add)
}

/// Runs a revocation command.
pub fn run(ui: &Ui, config_path: &Path, cmd: RevocationCommand) -> Result<ExitCode, CmdError> {
    match cmd {
        RevocationCommand::Revoke {
            issuer_dir,
            list,
            serial,
            reason,
            next_update_days,
        } => {
            let serial = CardSerial::from_hex(&serial).ok_or_else(|| {
                Failure::new(
                    Exit::Usage,
                    tr!(ui.lang, "ctl-state-bad-serial", serial = serial.clone()),
                )
            })?;
            let issuer = crate::issuer::load_key(ui.lang, &issuer_dir)?;
            let (version, count) = sign_and_place(
                ui,
                config_path,
                &issuer,
                &list,
                next_update_days,
                Some((serial, reason)),
            )?;
            println!(
                "{}",
                tr!(
                    ui.lang,
                    "ctl-state-list-revoked",
                    serial = serial.to_string(),
                    reason = reason_text(ui.lang, reason),
                    version = version,
                    count = count
                )
            );
        }
        RevocationCommand::Refresh {
            issuer_dir,
            list,
            next_update_days,
        } => {
            let issuer = crate::issuer::load_key(ui.lang, &issuer_dir)?;
            let (version, count) =
                sign_and_place(ui, config_path, &issuer, &list, next_update_days, None)?;
            println!(
                "{}",
                tr!(
                    ui.lang,
                    "ctl-state-list-refreshed",
                    version = version,
                    count = count
                )
            );
        }
        RevocationCommand::Show { issuer_pub, list } => return show(ui, &issuer_pub, &list),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn next_update_days_is_bounded() {
        assert_eq!(parse_next_update_days("1"), Ok(1));
        assert_eq!(parse_next_update_days("366"), Ok(366));
        for bad in ["0", "367", "100000", "-1", "x", ""] {
            assert!(parse_next_update_days(bad).is_err(), "{bad}");
        }
    }
}
