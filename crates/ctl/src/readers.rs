//! `cardgatectl readers`: every PC/SC reader pcscd knows, whether a card is in it, and the
//! card's ATR in hex; what `pcsc_scan` was used for, without another package and in the
//! user's language (issue 14, point 5). Also the one place reader failures become
//! [`Failure`]s that name the reader (or pcscd) and say what to do.

use crate::exit::{Exit, Failure};
use crate::files::CmdError;
use crate::ui::Ui;
use cardgate_i18n::table::Table;
use cardgate_i18n::{tr, Lang};
use cardgate_reader::pcsc::PcscContext;
use cardgate_reader::TransportError;
use serde::Serialize;
use std::process::ExitCode;
use std::time::Duration;

/// One reader of `readers --json` (docs/cli.md; fields are only ever added).
#[derive(Debug, Serialize)]
pub struct ReaderInfo {
    /// The reader's name, as `--reader` takes it.
    pub name: String,
    /// A card is in the reader (powered, not mute).
    pub card_present: bool,
    /// The card's answer to reset, upper-case hex; `null` without a card.
    pub atr: Option<String>,
    /// The ATR carries the operator card's mark (`cardgate` in its historical bytes). Only a
    /// hint: `card inspect` tells by SELECT.
    pub operator_card_atr: bool,
}

/// `readers --json`.
#[derive(Debug, Serialize)]
pub struct Readers {
    /// In pcscd's order.
    pub readers: Vec<ReaderInfo>,
}

/// Bytes as upper-case hex with no separator (`3B8F80…`).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// A failure talking to pcscd or a reader, naming it and saying what to do.
pub fn transport_failure(lang: Lang, reader: &str, e: &TransportError) -> CmdError {
    let reader = reader.to_owned();
    let failure = match e {
        TransportError::ServiceUnavailable => {
            Failure::new(Exit::Failed, tr!(lang, "ctl-card-pcscd-down"))
                .hint(tr!(lang, "ctl-card-pcscd-down-hint"))
        }
        TransportError::ReaderUnavailable { .. } => Failure::new(
            Exit::NotFound,
            tr!(lang, "ctl-card-reader-missing", reader = reader),
        )
        .hint(tr!(lang, "ctl-card-reader-missing-hint")),
        TransportError::NoCard => Failure::new(
            Exit::NotFound,
            tr!(lang, "ctl-card-no-card", reader = reader),
        )
        .hint(tr!(lang, "ctl-card-no-card-hint")),
        TransportError::CardRemoved | TransportError::CardReset => Failure::new(
            Exit::Failed,
            tr!(lang, "ctl-card-card-removed", reader = reader),
        )
        .hint(tr!(lang, "ctl-card-card-removed-hint")),
        other => Failure::new(
            Exit::Failed,
            tr!(
                lang,
                "ctl-card-reader-failed",
                reader = reader,
                error = crate::files::chain(other)
            ),
        ),
    };
    Box::new(failure)
}

/// Connects to pcscd.
pub fn context(lang: Lang) -> Result<PcscContext, CmdError> {
    PcscContext::establish().map_err(|e| transport_failure(lang, "", &e))
}

/// The readers pcscd knows.
pub fn list(lang: Lang, context: &PcscContext) -> Result<Vec<String>, CmdError> {
    context
        .list_readers()
        .map_err(|e| transport_failure(lang, "", &e))
}

/// The ATR of the card in `reader` now, or `None` when the reader is empty. Asks pcscd for
/// the reader's state only: nothing is sent to the card.
pub fn atr(lang: Lang, context: &PcscContext, reader: &str) -> Result<Option<Vec<u8>>, CmdError> {
    match context.wait_for_card(reader, Duration::ZERO) {
        Ok(atr) => Ok(Some(atr)),
        Err(TransportError::Timeout { .. }) => Ok(None),
        Err(e) => Err(transport_failure(lang, reader, &e)),
    }
}

/// `reader` must be one pcscd knows; the error lists the ones it does.
pub fn known(lang: Lang, context: &PcscContext, reader: &str) -> Result<(), CmdError> {
    let names = list(lang, context)?;
    if names.iter().any(|n| n == reader) {
        return Ok(());
    }
    let hint = if names.is_empty() {
        tr!(lang, "ctl-card-no-readers-hint")
    } else {
        tr!(
            lang,
            "ctl-card-readers-known",
            readers = names
                .iter()
                .map(|n| format!("\"{n}\""))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Err(Box::new(
        Failure::new(
            Exit::NotFound,
            tr!(lang, "ctl-card-reader-missing", reader = reader.to_owned()),
        )
        .hint(hint),
    ))
}

/// Runs `cardgatectl readers`.
pub fn run(ui: &Ui) -> Result<ExitCode, CmdError> {
    let lang = ui.lang;
    let context = context(lang)?;
    let mut readers = Vec::new();
    for name in list(lang, &context)? {
        let atr = match atr(lang, &context, &name) {
            Ok(atr) => atr,
            // A reader that went between the list and the look: it is no longer there.
            Err(_) if !list(lang, &context)?.contains(&name) => continue,
            Err(e) => return Err(e),
        };
        readers.push(ReaderInfo {
            card_present: atr.is_some(),
            operator_card_atr: atr
                .as_deref()
                .is_some_and(cardgate_card::commands::atr_is_operator_card),
            atr: atr.as_deref().map(hex),
            name,
        });
    }
    if ui.json {
        ui.print_json(&Readers { readers })?;
        return Ok(ExitCode::SUCCESS);
    }
    if readers.is_empty() {
        println!("{}", tr!(lang, "ctl-card-no-readers"));
        println!("{}", tr!(lang, "ctl-card-no-readers-hint"));
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new([
        tr!(lang, "ctl-card-col-reader"),
        tr!(lang, "ctl-card-col-card"),
        tr!(lang, "ctl-card-col-atr"),
    ]);
    for r in &readers {
        let card = if !r.card_present {
            tr!(lang, "ctl-card-reader-empty")
        } else if r.operator_card_atr {
            tr!(lang, "ctl-card-reader-operator-card")
        } else {
            tr!(lang, "ctl-card-reader-other-card")
        };
        table.row([
            r.name.clone(),
            card,
            r.atr.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    print!("{}", table.render());
    Ok(ExitCode::SUCCESS)
}
