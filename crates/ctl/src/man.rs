//! `cardgatectl man`: the manual page, generated from the same clap definitions as `--help`
//! (so the two cannot disagree), with the sections clap knows nothing of: the exit statuses
//! and the files.

use crate::exit::Exit;
use crate::files::CmdError;
use cardgate_i18n::roff::escape as roff;
use cardgate_i18n::{tr, Lang};
use std::io::Write;
use std::process::ExitCode;

/// Every exit status, with its catalogue ID.
pub const EXIT_STATUSES: [(Exit, &str); 7] = [
    (Exit::Success, "ctl-exit-success"),
    (Exit::Failed, "ctl-exit-failed"),
    (Exit::Usage, "ctl-exit-usage"),
    (Exit::NotFound, "ctl-exit-not-found"),
    (Exit::Refused, "ctl-exit-refused"),
    (Exit::DaemonDown, "ctl-exit-daemon-down"),
    (Exit::VerificationFailed, "ctl-exit-verification-failed"),
];

/// The manual page in `lang`, as roff.
pub fn render(lang: Lang) -> Result<Vec<u8>, CmdError> {
    let mut page = Vec::new();
    clap_mangen::Man::new(crate::help::command(lang)).render(&mut page)?;
    writeln!(page, ".SH \"{}\"", roff(&tr!(lang, "ctl-man-exit-heading")))?;
    for (exit, id) in EXIT_STATUSES {
        writeln!(page, ".TP\n{}\n{}", exit.code(), roff(&tr!(lang, id)))?;
    }
    writeln!(
        page,
        ".SH \"{}\"",
        roff(&tr!(lang, "ctl-man-files-heading"))
    )?;
    for (path, id) in [
        ("/etc/cardgate/cardgated.toml", "ctl-man-file-config"),
        ("/var/lib/cardgate", "ctl-man-file-state"),
        ("/var/lib/cardgate/audit", "ctl-man-file-audit"),
    ] {
        writeln!(page, ".TP\n{}\n{}", roff(path), roff(&tr!(lang, id)))?;
    }
    Ok(page)
}

/// Prints the manual page on stdout.
pub fn print(lang: Lang) -> Result<ExitCode, CmdError> {
    let page = render(lang)?;
    std::io::stdout().lock().write_all(&page)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the completion script for `shell` on stdout, generated from the same command tree
/// as `--help` (so a new command or option is completed as soon as it exists).
pub fn completions(lang: Lang, shell: clap_complete::Shell) -> Result<ExitCode, CmdError> {
    let mut cmd = crate::help::command(lang);
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "cardgatectl", &mut script);
    std::io::stdout().lock().write_all(&script)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manual_lists_every_exit_status_in_both_languages() {
        for lang in Lang::ALL {
            let page = String::from_utf8(render(lang).unwrap()).unwrap();
            for (exit, id) in EXIT_STATUSES {
                assert!(
                    page.contains(&format!(".TP\n{}\n", exit.code())),
                    "{lang}: {id}"
                );
                assert!(page.contains(&roff(&tr!(lang, id))), "{lang}: {id}");
            }
        }
        let ja = String::from_utf8(render(Lang::Ja).unwrap()).unwrap();
        assert!(ja.contains("終了ステータス"), "{ja}");
    }

    #[test]
    fn the_completions_know_every_top_level_command() {
        for shell in [clap_complete::Shell::Bash, clap_complete::Shell::Zsh] {
            let mut cmd = crate::help::command(Lang::En);
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "cardgatectl", &mut script);
            let script = String::from_utf8(script).unwrap();
            for sub in crate::help::command(Lang::En).get_subcommands() {
                assert!(
                    script.contains(sub.get_name()),
                    "{shell}: {} missing",
                    sub.get_name()
                );
            }
        }
    }

    #[test]
    fn docs_cli_md_documents_every_exit_status() {
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/cli.md"))
                .unwrap_or_default();
        for (exit, id) in EXIT_STATUSES {
            let row = format!("| {} |", exit.code());
            assert!(
                doc.contains(&row),
                "docs/cli.md has no row for exit {} ({id})",
                exit.code()
            );
        }
    }
}
