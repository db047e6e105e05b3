//! Which language to speak.

use std::fmt;

/// The language of what is shown to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// 日本語.
    Ja,
    /// English.
    En,
}

/// A `--lang` value that is neither `ja` nor `en`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown language {0:?}: use ja or en / 言語は ja か en を指定してください")]
pub struct LangError(pub String);

impl Lang {
    /// Both languages.
    pub const ALL: [Lang; 2] = [Lang::Ja, Lang::En];

    /// `ja` or `en` (as given to `--lang` or the PAM module's `lang=`).
    pub fn from_arg(value: &str) -> Result<Lang, LangError> {
        match value {
            "ja" => Ok(Lang::Ja),
            "en" => Ok(Lang::En),
            other => Err(LangError(other.to_owned())),
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

    /// From this process's environment.
    pub fn from_env() -> Lang {
        Lang::from_locale(|name| std::env::var(name).ok())
    }

    /// The BCP 47 tag: `ja` or `en`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
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
    }

    #[test]
    fn language_from_an_argument() {
        assert_eq!(Lang::from_arg("ja"), Ok(Lang::Ja));
        assert_eq!(Lang::from_arg("en"), Ok(Lang::En));
        let err = Lang::from_arg("JA").unwrap_err();
        assert!(err.to_string().contains("\"JA\""), "{err}");
    }
}
