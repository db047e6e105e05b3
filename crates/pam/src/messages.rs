//! Every prompt and message the module shows, in Japanese and English, from the shared
//! Fluent catalogue (`crates/i18n/locales/{ja,en}/pam.ftl`, compiled in: a login reads no
//! file a local user could replace).
//!
//! The daemon's own `message` is English; it is shown only where it carries detail this table
//! cannot (the PIN policy's rule). Everything else is chosen by the daemon's `reason`.

/// The language of prompts and messages: the shared one (`lang=ja|en`, or the locale).
pub use cardgate_i18n::Lang;

/// One thing the module says.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Msg<'a> {
    /// The PIN prompt.
    PinPrompt,
    /// No card in the reader yet.
    InsertCard,
    /// No card came within the wait.
    NoCardInTime,
    /// A wrong PIN, with the tries left on the card.
    WrongPin {
        /// Tries left.
        tries_left: u8,
    },
    /// The PIN is blocked.
    PinBlocked,
    /// The card is revoked (art. 5.4).
    Revoked,
    /// The card was returned (art. 5.2).
    Returned,
    /// The certificate has expired.
    Expired,
    /// The certificate is not valid yet.
    NotYetValid,
    /// The card is lent to someone else (art. 5.3).
    WrongUser,
    /// The session is locked by another card.
    OtherCard,
    /// Outside business hours.
    OutsideHours,
    /// Not a genuine operator card of this office.
    NotOperatorCard,
    /// The card left the reader during the operation.
    CardRemoved,
    /// Too many wrong PINs recently; wait.
    RateLimited,
    /// The PIN is not a well-formed PIN (no try used).
    MalformedPin,
    /// The daemon cannot decide now (audit, revocation list, register, reader).
    ServiceUnavailable,
    /// The daemon cannot be reached at all.
    DaemonUnreachable,
    /// The card the session started with was replaced.
    CardChanged,
    /// The initial PIN must be changed now.
    MustChangePin,
    /// The current PIN prompt for a change.
    OldPinPrompt,
    /// The new PIN prompt.
    NewPinPrompt,
    /// The repeat prompt.
    RepeatPinPrompt,
    /// The two new PINs differ.
    PinMismatch,
    /// The new PIN breaks the policy; the daemon's sentence says which rule.
    PinPolicy {
        /// The policy's message.
        rule: &'a str,
    },
    /// The PIN was changed.
    PinChanged,
    /// No logind session (pam_systemd did not set `XDG_SESSION_ID`): the session is refused,
    /// since card removal could not lock it (art. 6.2).
    NoLogindSession,
    /// Refused for a reason this table does not know; the daemon's sentence.
    Other {
        /// The daemon's message.
        message: &'a str,
    },
}

impl Msg<'_> {
    /// Its message ID in `pam.ftl`.
    fn id(&self) -> &'static str {
        match self {
            Msg::PinPrompt => "pam-pin-prompt",
            Msg::InsertCard => "pam-insert-card",
            Msg::NoCardInTime => "pam-no-card-in-time",
            Msg::WrongPin { .. } => "pam-wrong-pin",
            Msg::PinBlocked => "pam-pin-blocked",
            Msg::Revoked => "pam-revoked",
            Msg::Returned => "pam-returned",
            Msg::Expired => "pam-expired",
            Msg::NotYetValid => "pam-not-yet-valid",
            Msg::WrongUser => "pam-wrong-user",
            Msg::OtherCard => "pam-other-card",
            Msg::OutsideHours => "pam-outside-hours",
            Msg::NotOperatorCard => "pam-not-operator-card",
            Msg::CardRemoved => "pam-card-removed",
            Msg::RateLimited => "pam-rate-limited",
            Msg::MalformedPin => "pam-malformed-pin",
            Msg::ServiceUnavailable => "pam-service-unavailable",
            Msg::DaemonUnreachable => "pam-daemon-unreachable",
            Msg::CardChanged => "pam-card-changed",
            Msg::MustChangePin => "pam-must-change-pin",
            Msg::OldPinPrompt => "pam-old-pin-prompt",
            Msg::NewPinPrompt => "pam-new-pin-prompt",
            Msg::RepeatPinPrompt => "pam-repeat-pin-prompt",
            Msg::PinMismatch => "pam-pin-mismatch",
            Msg::PinPolicy { .. } => "pam-pin-policy",
            Msg::PinChanged => "pam-pin-changed",
            Msg::NoLogindSession => "pam-no-logind-session",
            Msg::Other { .. } => "pam-other",
        }
    }

    /// The text in `lang`.
    pub fn text(&self, lang: Lang) -> String {
        let catalogue = cardgate_i18n::catalogue(lang);
        let args = match *self {
            Msg::WrongPin { tries_left } => {
                cardgate_i18n::Args::new().with("tries_left", tries_left)
            }
            Msg::PinPolicy { rule } => cardgate_i18n::Args::new().with("rule", rule),
            Msg::Other { message } => cardgate_i18n::Args::new().with("message", message),
            _ => return catalogue.text(self.id()),
        };
        catalogue.format(self.id(), &args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_is_the_shared_one() {
        // `lang=` takes what `--lang` takes; the locale fallback is the shared one's
        // (tested in cardgate-i18n).
        assert_eq!(Lang::from_arg("ja"), Ok(Lang::Ja));
        assert_eq!(Lang::from_arg("en"), Ok(Lang::En));
        assert!(Lang::from_arg("JA").is_err());
        let ja = |name: &str| (name == "LANG").then(|| "ja_JP.UTF-8".to_owned());
        assert_eq!(Lang::from_locale(ja), Lang::Ja);
        assert_eq!(Lang::from_locale(|_| None), Lang::En);
    }

    #[test]
    fn the_prompts_in_both_languages() {
        assert_eq!(
            Msg::PinPrompt.text(Lang::Ja),
            "操作者カードの暗証番号を入力してください: "
        );
        assert_eq!(Msg::PinPrompt.text(Lang::En), "Operator card PIN: ");
        let two = Msg::WrongPin { tries_left: 2 };
        assert_eq!(
            two.text(Lang::Ja),
            "暗証番号が違います。残り2回で暗証番号がロックされます。"
        );
        assert_eq!(
            two.text(Lang::En),
            "Wrong PIN. 2 tries left before the PIN is blocked."
        );
        assert_eq!(
            Msg::WrongPin { tries_left: 1 }.text(Lang::En),
            "Wrong PIN. 1 try left before the PIN is blocked."
        );
        // The prompts keep their trailing space (Fluent trims blanks; the catalogue says {" "}).
        for prompt in [
            Msg::PinPrompt,
            Msg::OldPinPrompt,
            Msg::NewPinPrompt,
            Msg::RepeatPinPrompt,
        ] {
            for lang in Lang::ALL {
                assert!(prompt.text(lang).ends_with(": "), "{prompt:?} {lang}");
            }
        }
        let rule = Msg::PinPolicy {
            rule: "must contain a digit",
        };
        assert!(rule.text(Lang::Ja).contains("must contain a digit"));
        assert!(rule.text(Lang::En).contains("must contain a digit"));
    }

    #[test]
    fn every_message_has_both_languages_and_they_differ() {
        let all = [
            Msg::PinPrompt,
            Msg::InsertCard,
            Msg::NoCardInTime,
            Msg::WrongPin { tries_left: 1 },
            Msg::PinBlocked,
            Msg::Revoked,
            Msg::Returned,
            Msg::Expired,
            Msg::NotYetValid,
            Msg::WrongUser,
            Msg::OtherCard,
            Msg::OutsideHours,
            Msg::NotOperatorCard,
            Msg::CardRemoved,
            Msg::RateLimited,
            Msg::MalformedPin,
            Msg::ServiceUnavailable,
            Msg::DaemonUnreachable,
            Msg::CardChanged,
            Msg::MustChangePin,
            Msg::OldPinPrompt,
            Msg::NewPinPrompt,
            Msg::RepeatPinPrompt,
            Msg::PinMismatch,
            Msg::PinPolicy { rule: "x" },
            Msg::PinChanged,
            Msg::NoLogindSession,
            Msg::Other { message: "x" },
        ];
        for m in &all {
            let (ja, en) = (m.text(Lang::Ja), m.text(Lang::En));
            assert!(!ja.is_empty() && !en.is_empty() && ja != en, "{m:?}");
            // The catalogue has the message: a missing ID would come back as the ID itself.
            assert!(!en.starts_with("pam-") && !ja.contains("pam-"), "{m:?}");
            assert!(!ja.is_ascii(), "{m:?} has no Japanese");
            assert!(en.is_ascii(), "{m:?}");
            // PAM caps one message at 512 bytes.
            assert!(ja.len() < 512 && en.len() < 512);
        }
    }
}
