//! `vaultgate-gateway`: parses the configuration and wires the parts together.

use std::process::ExitCode;

use vaultgate_gateway::auth::jwt::TokenKeys;
use vaultgate_gateway::config::{Cli, Command};
use vaultgate_gateway::server;
use vaultgate_shared::UserId;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli: Cli = vaultgate_shared::config::parse();
    vaultgate_shared::logging::init(cli.settings.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::MintToken(args) => {
            let key = match cli.settings.mint_key() {
                Ok(k) => k,
                Err(e) => return fail(&e),
            };
            let user = match UserId::parse(&args.user) {
                Ok(u) => u,
                Err(e) => return fail(&format!("--user '{}': {e}", args.user)),
            };
            let prev = cli.settings.jwt_secret_key_previous.clone();
            let keys = TokenKeys::new(
                &key,
                prev.as_ref(),
                &cli.settings.effective_public_url(),
                cli.settings.token_ttl,
            );
            let minted = keys.mint(&user, args.name.as_deref(), args.ttl);
            tracing::info!(target: "audit", event = "token_issue", user = user.as_str(), via = "cli");
            println!("{}", minted.token);
            ExitCode::SUCCESS
        }
        Command::Serve => {
            let resolved = match cli.settings.resolve() {
                Ok(r) => r,
                Err(e) => return fail(&e),
            };
            if resolved.jwt_key_generated {
                tracing::warn!(
                    "MODE=local and no JWT_SECRET_KEY: generated an ephemeral signing key; tokens die with this process. \
                     Set JWT_SECRET_KEY (openssl rand -base64 48) to keep them."
                );
            }
            match server::run(&cli.settings, &resolved) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e),
            }
        }
    }
}

fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("vaultgate-gateway: {e}");
    ExitCode::from(2)
}
