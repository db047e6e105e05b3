//! `cardgatectl issuer init`: the access manager's Ed25519 key.

use crate::files::{write_atomic, CmdError};
use crate::ui::Ui;
use cardgate_card::IssuerKey;
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

/// Issuer key commands.
#[derive(Debug, Subcommand)]
pub enum IssuerCommand {
    /// Make a new issuer key: DIR/issuer.key (PKCS#8, mode 0600) and DIR/issuer.pub (hex).
    Init {
        /// Where to write the key pair. Existing keys are never overwritten.
        #[arg(long)]
        dir: PathBuf,
    },
}

/// Runs an issuer command.
pub fn run(_ui: &Ui, cmd: IssuerCommand) -> Result<ExitCode, CmdError> {
    match cmd {
        IssuerCommand::Init { dir } => {
            let key_path = dir.join("issuer.key");
            let pub_path = dir.join("issuer.pub");
            if key_path.exists() || pub_path.exists() {
                return Err(format!(
                    "{} already holds an issuer key; refusing to replace it (every card and list it signed would stop verifying)",
                    dir.display()
                )
                .into());
            }
            std::fs::create_dir_all(&dir)?;
            let key = IssuerKey::generate()?;
            write_atomic(&key_path, key.pkcs8(), 0o600)?;
            let public = key.public_key();
            write_atomic(
                &pub_path,
                format!("{}\n", public.to_hex()).as_bytes(),
                0o644,
            )?;
            println!("issuer key:  {}", key_path.display());
            println!("public key:  {} ({})", pub_path.display(), public.to_hex());
            let id: String = public.key_id().iter().map(|b| format!("{b:02x}")).collect();
            println!("key ID:      {id}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
