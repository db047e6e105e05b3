//! `cardgated`'s command line, in the library so that its manual page (`cardgated.8`) is
//! rendered from the same clap definition as `--help` (`cargo xtask deb` runs the
//! `cardgated-man` binary), and the two cannot disagree.

use cardgate_i18n::roff::escape as roff;
use std::io::Write;
use std::path::PathBuf;

/// The daemon's command line. clap (already the workspace's parser, for `cardgatectl`)
/// prints `--help` and `--version` to stdout with exit status 0, and a usage error to
/// stderr with exit status 2, as every Debian tool does.
#[derive(Debug, clap::Parser)]
#[command(
    name = "cardgated",
    version,
    about = "The cardgate session daemon: terminal login gated on the operator IC card.",
    long_about = None
)]
pub struct Args {
    /// The configuration file to run with.
    #[arg(long, value_name = "FILE", default_value = crate::config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// Check this configuration file and exit (0: valid, 2: not), without starting.
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    pub check_config: Option<PathBuf>,
}

/// The sections clap knows nothing of: what the daemon does, its exit statuses, its files.
const DESCRIPTION: &str = "cardgated runs as a systemd service (cardgated.service). It \
talks to the card reader through pcscd, answers pam_cardgate(8) on its login socket and \
cardgatectl(1) on its admin socket, records every decision in the sealed audit log before it \
answers, and locks or ends the logind session when the card that opened it is pulled.";

const EXIT_STATUSES: [(&str, &str); 3] = [
    (
        "0",
        "The configuration is valid (--check-config), or the daemon stopped on SIGTERM.",
    ),
    (
        "1",
        "The daemon could not start or stopped on an error (the journal says which).",
    ),
    (
        "2",
        "A usage error, or a configuration that cannot be used: the file itself, or what the \
         start needs from it (the checks of --check-config; the message names the file, group \
         or user).",
    ),
];

const FILES: [(&str, &str); 6] = [
    (
        "/etc/cardgate/cardgated.toml",
        "The configuration (a conffile of the Debian package).",
    ),
    (
        "/etc/cardgate/issuer.pub",
        "The access manager's public key ([issuer] public_key).",
    ),
    (
        "/var/lib/cardgate",
        "The state: card register, session table, revocation list.",
    ),
    (
        "/var/lib/cardgate/audit",
        "The audit log (evidence: kept when the package is purged).",
    ),
    (
        "/run/cardgate/login.sock",
        "The socket pam_cardgate(8) asks.",
    ),
    (
        "/run/cardgate/admin.sock",
        "The socket cardgatectl(1) asks.",
    ),
];

/// The manual page `cardgated(8)`, as roff.
pub fn man_page() -> std::io::Result<Vec<u8>> {
    let cmd = <Args as clap::CommandFactory>::command();
    let man = clap_mangen::Man::new(cmd).section("8");
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    writeln!(page, ".SH DESCRIPTION\n{}", roff(DESCRIPTION))?;
    man.render_options_section(&mut page)?;
    writeln!(page, ".SH \"EXIT STATUS\"")?;
    for (code, text) in EXIT_STATUSES {
        writeln!(page, ".TP\n{code}\n{}", roff(text))?;
    }
    writeln!(page, ".SH FILES")?;
    for (path, text) in FILES {
        writeln!(page, ".TP\n{}\n{}", roff(path), roff(text))?;
    }
    writeln!(
        page,
        ".SH \"SEE ALSO\"\ncardgatectl(1), pam_cardgate(8), systemctl(1), journalctl(1), \
         /usr/share/doc/cardgate/integration.md"
    )?;
    man.render_version_section(&mut page)?;
    Ok(page)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_manual_documents_every_option_and_section() {
        let page = String::from_utf8(man_page().unwrap()).unwrap();
        assert!(
            page.starts_with(".ie") || page.contains(".TH cardgated 8"),
            "{page}"
        );
        for needle in [
            ".TH cardgated 8",
            "\\-\\-config",
            "\\-\\-check\\-config",
            ".SH \"EXIT STATUS\"",
            ".SH FILES",
            "/etc/cardgate/cardgated.toml",
            "pam_cardgate(8)",
        ] {
            assert!(page.contains(needle), "{needle} missing from:\n{page}");
        }
    }

    #[test]
    fn the_packaged_example_configuration_loads_with_the_default_paths() {
        // dist/cardgated.toml is the Debian package's conffile, /etc/cardgate/cardgated.toml.
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist/cardgated.toml");
        let config = crate::config::Config::load(&path).unwrap();
        let defaults =
            crate::config::Config::parse("[[terminal]]\nid = \"juki-01\"\nreader = \"r\"\n")
                .unwrap();
        assert_eq!(config.issuer.public_key, defaults.issuer.public_key);
        assert_eq!(config.revocation.list, defaults.revocation.list);
        assert_eq!(config.audit.dir, defaults.audit.dir);
        assert_eq!(config.daemon.state_dir, defaults.daemon.state_dir);
        assert_eq!(config.daemon.admin_group, defaults.daemon.admin_group);
        assert_eq!(config.daemon.manager_group, defaults.daemon.manager_group);
        // The package creates exactly those groups, and gives the state directory to the
        // access manager's, as the daemon does at start.
        let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist");
        let sysusers = std::fs::read_to_string(dist.join("cardgate.sysusers")).unwrap();
        let groups: Vec<&str> = sysusers
            .lines()
            .filter_map(|l| l.strip_prefix("g "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(
            groups,
            [
                defaults.daemon.admin_group.as_str(),
                defaults.daemon.manager_group.as_str()
            ]
        );
        let tmpfiles = std::fs::read_to_string(dist.join("cardgate.tmpfiles")).unwrap();
        let state = format!(
            "d {} 2750 root {} -",
            defaults.daemon.state_dir.display(),
            defaults.daemon.manager_group
        );
        assert!(tmpfiles.lines().any(|l| l == state), "{tmpfiles}");
    }

    #[test]
    fn the_check_config_option_conflicts_with_config() {
        let parsed = <Args as clap::Parser>::try_parse_from([
            "cardgated",
            "--config",
            "a",
            "--check-config",
            "b",
        ]);
        assert!(parsed.is_err());
    }
}
