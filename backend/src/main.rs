//! `vaultgate-backend [serve]` and `vaultgate-backend reindex [--user ID]`.

use std::process::ExitCode;

use vaultgate_backend::config::{Cli, Command};
use vaultgate_backend::{metrics::Metrics, reindex, server};

fn main() -> ExitCode {
    let cli: Cli = vaultgate_shared::config::parse();
    vaultgate_shared::logging::init(cli.log_format);
    let settings = match cli.settings() {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    match &cli.command {
        Some(Command::Reindex { user }) => {
            let user = match Cli::reindex_user(user.as_deref()) {
                Ok(u) => u,
                Err(e) => return fail(&e),
            };
            let started = std::time::Instant::now();
            let rebuilt = match &user {
                Some(user) => server::open(&settings, Metrics::new())
                    .map_err(|e| e.to_string())
                    .and_then(|notes| {
                        reindex::rebuild_user(notes.vault(), notes.index(), user, true).map_err(|e| e.to_string())
                    }),
                None => server::open_vault(&settings)
                    .map_err(|e| e.to_string())
                    .and_then(|vault| {
                        reindex::rebuild_all(&vault, &settings.database_path, true).map_err(|e| e.to_string())
                    }),
            };
            match rebuilt {
                Ok(n) => {
                    tracing::info!(
                        notes = n,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "index rebuilt"
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        None | Some(Command::Serve) => {
            let key = match cli.identity_key() {
                Ok(k) => k,
                Err(e) => return fail(&e),
            };
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => return fail(&e),
            };
            match runtime.block_on(server::run(settings, key)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e),
            }
        }
    }
}

fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    tracing::error!("{e}");
    eprintln!("error: {e}");
    ExitCode::from(2)
}
