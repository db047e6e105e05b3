//! Every prompt and message the module shows, in Japanese and English.
//!
//! The daemon's own `message` is English; it is shown only where it carries detail this table
//! cannot (the PIN policy's rule). Everything else is chosen by the daemon's `reason`.

/// The language of prompts and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// 日本語.
    Ja,
    /// English.
    En,
}

impl Lang {
    /// `lang=ja|en`.
    pub fn from_arg(value: &str) -> Option<Lang> {
        match value {
            "ja" => Some(Lang::Ja),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// From the locale variables, in POSIX precedence (`LC_ALL`, `LC_MESSAGES`, `LANG`): the
    /// first one set and non-empty decides; `ja…` is Japanese, anything else English.
    pub fn from_locale(lookup: impl Fn(&str) -> Option<String>) -> Lang {
        let value = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .into_iter()
            .find_map(|name| lookup(name).filter(|v| !v.is_empty()));
        match value {
            Some(v) if v.starts_with("ja") => Lang::Ja,
            _ => Lang::En,
        }
    }
}

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
    /// The text in `lang`.
    pub fn text(&self, lang: Lang) -> String {
        use Lang::{En, Ja};
        match (self, lang) {
            (Msg::PinPrompt, Ja) => "操作者カードの暗証番号を入力してください: ".into(),
            (Msg::PinPrompt, En) => "Operator card PIN: ".into(),
            (Msg::InsertCard, Ja) => "操作者カードをカードリーダーに挿入してください。".into(),
            (Msg::InsertCard, En) => "Insert your operator card into the reader.".into(),
            (Msg::NoCardInTime, Ja) => "操作者カードが挿入されませんでした。".into(),
            (Msg::NoCardInTime, En) => "No operator card was inserted.".into(),
            (Msg::WrongPin { tries_left }, Ja) => {
                format!("暗証番号が違います。残り{tries_left}回で暗証番号がロックされます。")
            }
            (Msg::WrongPin { tries_left }, En) => {
                format!("Wrong PIN. {tries_left} tries left before the PIN is blocked.")
            }
            (Msg::PinBlocked, Ja) => {
                "暗証番号がロックされています。アクセス管理者にロック解除を依頼してください。"
                    .into()
            }
            (Msg::PinBlocked, En) => {
                "The PIN is blocked. Ask the access manager to unblock the card.".into()
            }
            (Msg::Revoked, Ja) => {
                "このカードは失効しています。使用できません。アクセス管理者に連絡してください。"
                    .into()
            }
            (Msg::Revoked, En) => {
                "This card has been revoked and cannot be used. Contact the access manager.".into()
            }
            (Msg::Returned, Ja) => "このカードは返却済みです。使用できません。".into(),
            (Msg::Returned, En) => {
                "This card has been returned to the access manager and cannot be used.".into()
            }
            (Msg::Expired, Ja) => {
                "このカードは有効期限が切れています。アクセス管理者に連絡してください。".into()
            }
            (Msg::Expired, En) => "This card has expired. Contact the access manager.".into(),
            (Msg::NotYetValid, Ja) => "このカードはまだ有効期間になっていません。".into(),
            (Msg::NotYetValid, En) => "This card is not valid yet.".into(),
            (Msg::WrongUser, Ja) => "このカードはあなたに貸与されたものではありません。".into(),
            (Msg::WrongUser, En) => "This card is not lent to you.".into(),
            (Msg::OtherCard, Ja) => {
                "セッションはロック中です。ロックしたときのカードで解除してください。".into()
            }
            (Msg::OtherCard, En) => {
                "Your session is locked; unlock it with the card that opened it.".into()
            }
            (Msg::OutsideHours, Ja) => "業務時間外はログインできません。".into(),
            (Msg::OutsideHours, En) => "Logins are not allowed outside business hours.".into(),
            (Msg::NotOperatorCard, Ja) => {
                "このカードはこの事務所の操作者カードではありません。".into()
            }
            (Msg::NotOperatorCard, En) => {
                "This is not a valid operator card of this office.".into()
            }
            (Msg::CardRemoved, Ja) => "処理中にカードが抜かれました。".into(),
            (Msg::CardRemoved, En) => "The card was removed during the operation.".into(),
            (Msg::RateLimited, Ja) => {
                "暗証番号の誤りが続いたため、しばらく待ってから再度お試しください。".into()
            }
            (Msg::RateLimited, En) => "Too many wrong PINs; wait a moment and try again.".into(),
            (Msg::MalformedPin, Ja) => {
                "暗証番号の形式が正しくありません(試行回数は減っていません)。".into()
            }
            (Msg::MalformedPin, En) => "That is not a well-formed PIN (no try was used).".into(),
            (Msg::ServiceUnavailable, Ja) => {
                "認証サービスが現在利用できません。システム管理者に連絡してください。".into()
            }
            (Msg::ServiceUnavailable, En) => {
                "The authentication service is unavailable. Contact the administrator.".into()
            }
            (Msg::DaemonUnreachable, Ja) => {
                "認証サービス(cardgated)に接続できません。システム管理者に連絡してください。".into()
            }
            (Msg::DaemonUnreachable, En) => {
                "Cannot reach the authentication service (cardgated). Contact the administrator."
                    .into()
            }
            (Msg::CardChanged, Ja) => "認証したカードと異なるカードが挿入されています。".into(),
            (Msg::CardChanged, En) => {
                "The card in the reader is not the card you authenticated with.".into()
            }
            (Msg::MustChangePin, Ja) => "初期暗証番号を変更してください。".into(),
            (Msg::MustChangePin, En) => "You must change the initial PIN now.".into(),
            (Msg::OldPinPrompt, Ja) => "現在の暗証番号: ".into(),
            (Msg::OldPinPrompt, En) => "Current PIN: ".into(),
            (Msg::NewPinPrompt, Ja) => "新しい暗証番号: ".into(),
            (Msg::NewPinPrompt, En) => "New PIN: ".into(),
            (Msg::RepeatPinPrompt, Ja) => "新しい暗証番号(確認): ".into(),
            (Msg::RepeatPinPrompt, En) => "Repeat the new PIN: ".into(),
            (Msg::PinMismatch, Ja) => "新しい暗証番号が一致しません。".into(),
            (Msg::PinMismatch, En) => "The new PINs do not match.".into(),
            (Msg::PinPolicy { rule }, Ja) => {
                format!("新しい暗証番号は規則を満たしていません ({rule})。")
            }
            (Msg::PinPolicy { rule }, En) => {
                format!("The new PIN does not meet the PIN policy: {rule}.")
            }
            (Msg::PinChanged, Ja) => "暗証番号を変更しました。".into(),
            (Msg::PinChanged, En) => "The PIN was changed.".into(),
            (Msg::NoLogindSession, Ja) => {
                "ログインセッションが登録されていないため(pam_systemd が XDG_SESSION_ID を設定していません)、カードを抜いたときに画面をロックできません。ログインを中止します。システム管理者に連絡してください。".into()
            }
            (Msg::NoLogindSession, En) => {
                "No logind session (pam_systemd set no XDG_SESSION_ID), so removing the card could not lock this session; the login is refused. Contact the administrator.".into()
            }
            (Msg::Other { message }, Ja) => format!("認証できません ({message})。"),
            (Msg::Other { message }, En) => format!("Refused: {message}."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn language_from_the_locale() {
        assert_eq!(Lang::from_locale(env(&[])), Lang::En);
        assert_eq!(Lang::from_locale(env(&[("LANG", "ja_JP.UTF-8")])), Lang::Ja);
        assert_eq!(Lang::from_locale(env(&[("LANG", "C.UTF-8")])), Lang::En);
        // LC_ALL over LC_MESSAGES over LANG; empty values do not count.
        assert_eq!(
            Lang::from_locale(env(&[("LANG", "ja_JP.UTF-8"), ("LC_MESSAGES", "en_US")])),
            Lang::En
        );
        assert_eq!(
            Lang::from_locale(env(&[("LC_ALL", "ja_JP"), ("LC_MESSAGES", "en_US")])),
            Lang::Ja
        );
        assert_eq!(
            Lang::from_locale(env(&[("LC_ALL", ""), ("LANG", "ja_JP.eucJP")])),
            Lang::Ja
        );
        assert_eq!(Lang::from_arg("ja"), Some(Lang::Ja));
        assert_eq!(Lang::from_arg("JA"), None);
    }

    #[test]
    fn the_prompts_in_both_languages() {
        assert_eq!(
            Msg::PinPrompt.text(Lang::Ja),
            "操作者カードの暗証番号を入力してください: "
        );
        assert_eq!(Msg::PinPrompt.text(Lang::En), "Operator card PIN: ");
        let two = Msg::WrongPin { tries_left: 2 };
        assert!(two.text(Lang::Ja).contains("残り2回"));
        assert!(two.text(Lang::En).contains("2 tries left"));
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
            assert!(!ja.is_ascii(), "{m:?} has no Japanese");
            assert!(en.is_ascii(), "{m:?}");
            // PAM caps one message at 512 bytes.
            assert!(ja.len() < 512 && en.len() < 512);
        }
    }
}
