//! `cardgatectl issuer init`: the access manager's Ed25519 key.

use crate::exit::{Exit, Failure};
use crate::files::{write_atomic, CmdError};
use crate::ui::Ui;
use cardgate_card::IssuerKey;
use cardgate_i18n::tr;
use clap::Subcommand;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Issuer key commands.
#[derive(Debug, Subcommand)]
pub enum IssuerCommand {
    /// Make a new issuer key: DIR/issuer.key (PKCS#8, mode 0600) and DIR/issuer.pub (hex).
    /// DIR's parent must exist (the issuer medium, mounted); DIR itself is made if missing.
    Init {
        /// Where to write the key pair. Existing keys are never overwritten.
        #[arg(long)]
        dir: PathBuf,
    },
}

/// The directory `dir` is made in (`.` for a bare name).
fn parent_of(dir: &Path) -> PathBuf {
    match dir.parent() {
        Some(p) if p.as_os_str().is_empty() => PathBuf::from("."),
        Some(p) => p.to_path_buf(),
        None => dir.to_path_buf(),
    }
}

/// Makes `dir` (one level only, mode 0700) unless it is there. Its parent is never made: a
/// missing parent is the issuer medium not mounted, and a key written onto the terminal's own
/// disk instead is exactly what the docs say never to do.
fn make_dir(ui: &Ui, dir: &Path) -> Result<(), CmdError> {
    let shown = dir.display().to_string();
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => {
            return Err(Box::new(
                Failure::new(
                    Exit::Failed,
                    tr!(ui.lang, "ctl-state-issuer-not-dir", path = shown),
                )
                .hint(tr!(ui.lang, "ctl-state-issuer-dir-hint")),
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(Box::new(Failure::new(
                Exit::Failed,
                tr!(ui.lang, "ctl-state-io", path = shown, error = e.to_string()),
            )))
        }
    }
    let parent = parent_of(dir);
    if !parent.is_dir() {
        return Err(Box::new(
            Failure::new(
                Exit::NotFound,
                tr!(
                    ui.lang,
                    "ctl-state-issuer-no-parent",
                    parent = parent.display().to_string(),
                    path = shown
                ),
            )
            .hint(tr!(ui.lang, "ctl-state-issuer-no-parent-hint")),
        ));
    }
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .map_err(|e| {
            Box::new(Failure::new(
                Exit::Failed,
                tr!(ui.lang, "ctl-state-io", path = shown, error = e.to_string()),
            )) as CmdError
        })
}

/// Runs an issuer command.
pub fn run(ui: &Ui, cmd: IssuerCommand) -> Result<ExitCode, CmdError> {
    match cmd {
        IssuerCommand::Init { dir } => {
            let key_path = dir.join("issuer.key");
            let pub_path = dir.join("issuer.pub");
            if key_path.exists() || pub_path.exists() {
                return Err(Box::new(
                    Failure::new(
                        Exit::Refused,
                        tr!(
                            ui.lang,
                            "ctl-state-issuer-exists",
                            path = dir.display().to_string()
                        ),
                    )
                    .hint(tr!(ui.lang, "ctl-state-issuer-exists-hint")),
                ));
            }
            make_dir(ui, &dir)?;
            let key = IssuerKey::generate()?;
            let write = |path: &Path, bytes: &[u8], mode: u32| {
                write_atomic(path, bytes, mode).map_err(|e| {
                    Failure::new(
                        Exit::Failed,
                        tr!(
                            ui.lang,
                            "ctl-state-io",
                            path = path.display().to_string(),
                            error = e.to_string()
                        ),
                    )
                })
            };
            write(&key_path, key.pkcs8(), 0o600)?;
            let public = key.public_key();
            write(
                &pub_path,
                format!("{}\n", public.to_hex()).as_bytes(),
                0o644,
            )?;
            let id: String = public.key_id().iter().map(|b| format!("{b:02x}")).collect();
            if ui.json {
                ui.print_json(&serde_json::json!({
                    "issuer_key": key_path,
                    "public_key_file": pub_path,
                    "public_key": public.to_hex(),
                    "key_id": id,
                }))?;
            } else {
                println!(
                    "{}",
                    tr!(
                        ui.lang,
                        "ctl-state-issuer-made",
                        key = key_path.display().to_string(),
                        public = pub_path.display().to_string(),
                        hex = public.to_hex(),
                        id = id
                    )
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The issuer key from `dir/issuer.key`, for every command that signs (card issue, return,
/// revoke, the revocation list, backup). A missing directory or key is the issuer medium not
/// being mounted: the error says so and names the path; any other failure names the file.
pub fn load_key(lang: cardgate_i18n::Lang, dir: &Path) -> Result<IssuerKey, CmdError> {
    let mount = || {
        tr!(
            lang,
            "ctl-card-issuer-mount",
            dir = dir.display().to_string()
        )
    };
    if !dir.is_dir() {
        return Err(Box::new(
            Failure::new(
                Exit::NotFound,
                tr!(
                    lang,
                    "ctl-card-issuer-dir-missing",
                    dir = dir.display().to_string()
                ),
            )
            .hint(mount()),
        ));
    }
    let path = dir.join("issuer.key");
    let der = match crate::files::read_capped(&path, 4096) {
        Ok(der) => zeroize::Zeroizing::new(der),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Box::new(
                Failure::new(
                    Exit::NotFound,
                    tr!(
                        lang,
                        "ctl-card-issuer-key-missing",
                        path = path.display().to_string()
                    ),
                )
                .hint(mount()),
            ))
        }
        Err(e) => return Err(Box::new(crate::files::io_failure(lang, &path, &e))),
    };
    IssuerKey::from_pkcs8(&der).map_err(|e| {
        Box::new(Failure::new(
            Exit::Failed,
            tr!(
                lang,
                "ctl-card-issuer-key-bad",
                path = path.display().to_string(),
                error = e.to_string()
            ),
        )) as CmdError
    })
}
