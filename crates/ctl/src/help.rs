//! clap's help and usage errors in the user's language.
//!
//! The English help is the doc comments of the clap definitions (one source, next to the
//! code). The Japanese help is `ctl-help.ftl`, one line per command and option, keyed by the
//! command's path: `ctl-help-card-revoke` for `card revoke`, `ctl-help-card-revoke--reason`
//! for its `--reason`. A test walks the whole command tree and fails on any command or option
//! without its Japanese line, and on any line without its command.

use cardgate_i18n::{catalogue, tr, Lang};
use clap::builder::Command;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, ArgAction, CommandFactory};

/// The catalogue ID of the command at `path` (`""` for the top, `"-card-revoke"` below).
pub fn command_id(path: &str) -> String {
    format!("ctl-help{path}")
}

/// The catalogue ID of the argument `arg` of the command at `path`.
pub fn arg_id(path: &str, arg: &str) -> String {
    format!("ctl-help{path}--{arg}")
}

/// The language asked for on the command line (`--lang ja`, `--lang=ja`), read before clap
/// parses anything so that clap's own help and errors can be in it; else the locale.
pub fn lang_from_args(args: &[std::ffi::OsString]) -> Lang {
    let mut iter = args.iter().skip(1).filter_map(|a| a.to_str());
    while let Some(arg) = iter.next() {
        if arg == "--" {
            break;
        }
        let value = match arg.strip_prefix("--lang") {
            Some("") => iter.next(),
            Some(v) => v.strip_prefix('='),
            None => None,
        };
        if let Some(lang) = value.and_then(|v| Lang::from_arg(v).ok()) {
            return lang;
        }
    }
    Lang::from_env()
}

/// cardgatectl's command tree, its help in `lang`.
pub fn command(lang: Lang) -> Command {
    let cmd = crate::Cli::command();
    match lang {
        Lang::En => cmd,
        Lang::Ja => translate(cmd, "", true),
    }
}

fn translate(cmd: Command, path: &str, top: bool) -> Command {
    let ja = catalogue(Lang::Ja);
    let mut cmd = cmd;
    let about = command_id(path);
    if ja.has(&about) {
        cmd = cmd.about(ja.text(&about)).long_about(None);
    }
    let arg_path = path.to_owned();
    cmd = cmd.mut_args(move |a| {
        let id = arg_id(&arg_path, a.get_id().as_str());
        let a = if ja.has(&id) {
            // clap's "[default: …]" and "[possible values: …]" are English; say them here.
            let mut help = ja.text(&id);
            let defaults: Vec<String> = a
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            let takes_value = a.get_action().takes_values();
            if !defaults.is_empty() && takes_value && !a.is_hide_default_value_set() {
                help.push_str(&tr!(
                    Lang::Ja,
                    "ctl-help-default",
                    value = defaults.join(", ")
                ));
            }
            let possible: Vec<String> = a
                .get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| v.get_name().to_owned())
                .collect();
            if !possible.is_empty() && takes_value && !a.is_hide_possible_values_set() {
                help.push_str(&tr!(
                    Lang::Ja,
                    "ctl-help-possible",
                    values = possible.join(", ")
                ));
            }
            let a = a.help(help).long_help(None);
            if takes_value {
                a.hide_default_value(true).hide_possible_values(true)
            } else {
                a
            }
        } else {
            a
        };
        let heading = if a.is_positional() {
            "ctl-help-heading-arguments"
        } else {
            "ctl-help-heading-options"
        };
        a.help_heading(ja.text(heading))
    });
    let sub_path = path.to_owned();
    cmd = cmd.mut_subcommands(move |sub| {
        let p = format!("{sub_path}-{}", sub.get_name());
        translate(sub, &p, false)
    });
    // clap adds --help and --version itself, in English; in Japanese they are ours.
    cmd = cmd.disable_help_flag(true).arg(
        Arg::new("help")
            .short('h')
            .long("help")
            .action(ArgAction::Help)
            .help(ja.text("ctl-help-flag-help"))
            .help_heading(ja.text("ctl-help-heading-options")),
    );
    if top {
        cmd = cmd.disable_version_flag(true).arg(
            Arg::new("version")
                .short('V')
                .long("version")
                .action(ArgAction::Version)
                .help(ja.text("ctl-help-flag-version"))
                .help_heading(ja.text("ctl-help-heading-options")),
        );
    }
    cmd.disable_help_subcommand(true)
        .subcommand_help_heading(ja.text("ctl-help-heading-commands"))
        .help_template(format!(
            "{{about-with-newline}}\n{}: {{usage}}\n\n{{all-args}}{{after-help}}",
            ja.text("ctl-help-heading-usage")
        ))
}

/// A usage error as one sentence in `lang` (clap's own, in English, names the same thing).
pub fn usage_error(lang: Lang, e: &clap::Error) -> String {
    if lang == Lang::En {
        return e.to_string();
    }
    let context = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => s.clone(),
        Some(ContextValue::Strings(v)) => v.join(", "),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let arg = context(ContextKind::InvalidArg);
    let value = context(ContextKind::InvalidValue);
    let headline = match e.kind() {
        ErrorKind::UnknownArgument => tr!(lang, "ctl-usage-unknown-argument", arg = arg),
        ErrorKind::InvalidSubcommand => tr!(
            lang,
            "ctl-usage-unknown-command",
            command = context(ContextKind::InvalidSubcommand)
        ),
        ErrorKind::ValueValidation => match std::error::Error::source(e) {
            // The validator's own sentence says which bound or form was broken.
            Some(reason) => tr!(
                lang,
                "ctl-usage-invalid-value-because",
                arg = arg,
                value = value,
                reason = reason.to_string()
            ),
            None => tr!(lang, "ctl-usage-invalid-value", arg = arg, value = value),
        },
        ErrorKind::InvalidValue => {
            tr!(lang, "ctl-usage-invalid-value", arg = arg, value = value)
        }
        ErrorKind::MissingRequiredArgument => {
            tr!(lang, "ctl-usage-missing-argument", arg = arg)
        }
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            tr!(lang, "ctl-usage-missing-command")
        }
        ErrorKind::ArgumentConflict => tr!(lang, "ctl-usage-conflict", arg = arg),
        _ => tr!(lang, "ctl-usage-other"),
    };
    format!("{}\n{}\n", headline, tr!(lang, "ctl-usage-see-help"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn walk(cmd: &Command, path: &str, ids: &mut BTreeSet<String>) {
        ids.insert(command_id(path));
        for a in cmd.get_arguments() {
            let id = a.get_id().as_str();
            if id != "help" && id != "version" {
                ids.insert(arg_id(path, id));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{path}-{}", sub.get_name()), ids);
        }
    }

    #[test]
    fn every_command_and_option_has_its_japanese_help_and_nothing_else_does() {
        let mut wanted = BTreeSet::new();
        walk(&crate::Cli::command(), "", &mut wanted);
        let source = cardgate_i18n::RESOURCES
            .iter()
            .find(|r| r.name == "ctl-help.ftl")
            .map(|r| r.ja)
            .unwrap_or_default();
        let have: BTreeSet<String> = source
            .lines()
            .filter_map(|l| l.split_once(" = ").map(|(id, _)| id.trim().to_owned()))
            .filter(|id| id.starts_with("ctl-help") && !id.starts_with("ctl-help-heading"))
            .filter(|id| !id.starts_with("ctl-help-flag"))
            .filter(|id| id != "ctl-help-default" && id != "ctl-help-possible")
            .collect();
        let missing: Vec<_> = wanted.difference(&have).collect();
        let orphans: Vec<_> = have.difference(&wanted).collect();
        assert!(missing.is_empty(), "no Japanese help for {missing:?}");
        assert!(orphans.is_empty(), "Japanese help for nothing: {orphans:?}");
    }

    #[test]
    fn the_japanese_help_is_japanese() {
        let mut help = command(Lang::Ja);
        let text = help.render_help().to_string();
        assert!(text.contains("使い方"), "{text}");
        assert!(text.contains("オプション"), "{text}");
        assert!(!text.contains("Print help"), "{text}");
        let card = command(Lang::Ja)
            .find_subcommand_mut("card")
            .map(|c| c.render_help().to_string())
            .unwrap_or_default();
        assert!(card.contains("コマンド"), "{card}");
    }

    fn render_all(cmd: &mut Command, out: &mut Vec<String>) {
        out.push(cmd.render_help().to_string());
        let names: Vec<String> = cmd
            .get_subcommands()
            .map(|s| s.get_name().to_owned())
            .collect();
        for name in names {
            if let Some(sub) = cmd.find_subcommand_mut(&name) {
                render_all(sub, out);
            }
        }
    }

    #[test]
    fn every_help_page_renders_in_both_languages_without_clap_english() {
        for lang in Lang::ALL {
            let mut cmd = command(lang);
            cmd.build();
            let mut pages = Vec::new();
            render_all(&mut cmd, &mut pages);
            assert!(pages.len() > 20, "{}", pages.len());
            if lang == Lang::Ja {
                for page in &pages {
                    for english in ["[default:", "[possible values:", "Print help", "Usage:"] {
                        assert!(!page.contains(english), "{english} in {page}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_language_is_read_before_parsing() {
        let args = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert_eq!(
            lang_from_args(&args(&["x", "--lang", "ja", "status"])),
            Lang::Ja
        );
        assert_eq!(
            lang_from_args(&args(&["x", "status", "--lang=en"])),
            Lang::En
        );
        assert_eq!(
            lang_from_args(&args(&["x", "--", "--lang", "ja"])),
            Lang::from_env()
        );
    }
}
