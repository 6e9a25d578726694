//! `vaultgate-gateway`: parses the configuration and wires the parts together.

use std::process::ExitCode;

use vaultgate_gateway::auth::jwt::TokenKeys;
use vaultgate_gateway::config::resolved::Minting;
use vaultgate_gateway::config::{Cli, Command, GatewayConfig};
use vaultgate_gateway::operator::{self, StoreConfig};
use vaultgate_gateway::server;
use vaultgate_shared::UserId;
use vaultgate_shared::config::print;
use vaultgate_shared::exit::{self, Failure};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli: Cli = vaultgate_shared::config::parse();
    // Traces are for the server; the one-shot commands only log. Dropped last: flushes spans.
    let _telemetry = if matches!(cli.command, None | Some(Command::Serve)) {
        match vaultgate_shared::logging::init_traced(cli.settings.log_format, "vaultgate-gateway") {
            Ok(t) => t,
            Err(e) => return fail(Failure::Config, &e),
        }
    } else {
        vaultgate_shared::logging::init(cli.settings.log_format);
        None
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::MintToken(args) => {
            let minting = match Minting::resolve(&cli.settings) {
                Ok(m) => m,
                Err(e) => return fail(Failure::Config, &e),
            };
            let user = match UserId::parse(&args.user) {
                Ok(u) => u,
                Err(e) => return fail(Failure::Usage, &format!("--user '{}': {e}", args.user)),
            };
            let keys = TokenKeys::new(&minting.key, minting.previous.as_ref(), &minting.issuer, minting.ttl)
                .with_max_session_age(minting.max_session_age);
            let minted = keys.mint(&user, args.name.as_deref(), args.ttl);
            tracing::info!(target: "audit", event = "token_issue", user = user.as_str(), via = "cli");
            println!("{}", minted.token);
            ExitCode::SUCCESS
        }
        Command::Usage(args) => match usage_report(&cli.settings.admin_addr.to_string(), args.top) {
            Ok(report) if args.json => {
                println!("{report}");
                ExitCode::SUCCESS
            }
            Ok(report) => {
                print!("{}", format_usage(&report));
                ExitCode::SUCCESS
            }
            Err(e) => fail(
                Failure::Runtime,
                &format!("asking the admin listener at {}: {e}", cli.settings.admin_addr),
            ),
        },
        Command::Revoke(args) => match StoreConfig::resolve(&cli.settings).and_then(|c| operator::revoke(&c, &args)) {
            Ok(done) => {
                println!("{done}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(e.failure(), &e),
        },
        Command::Sessions(args) => {
            match StoreConfig::resolve(&cli.settings).and_then(|c| operator::sessions(&c, &args)) {
                Ok(list) => {
                    println!("{list}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e.failure(), &e),
            }
        }
        Command::Smoke(args) => match vaultgate_gateway::smoke::run(&args, &mut std::io::stdout()) {
            Ok(tally) if tally.failed == 0 => ExitCode::SUCCESS,
            Ok(_) => ExitCode::FAILURE,
            Err(e) => fail(e.failure(), &e),
        },
        Command::Config(args) => {
            let config = match GatewayConfig::resolve(cli.settings) {
                Ok(c) => c,
                Err(e) => return fail(Failure::Config, &e),
            };
            match print::render(&config, &args) {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(Failure::Usage, &e),
            }
        }
        Command::Serve => {
            let config = match GatewayConfig::resolve(cli.settings) {
                Ok(c) => c,
                Err(e) => return fail(Failure::Config, &e),
            };
            if config.auth.jwt_key_generated {
                tracing::warn!(
                    "MODE=local and no JWT_SECRET_KEY: generated an ephemeral signing key; tokens die with this process. \
                     Set JWT_SECRET_KEY (openssl rand -base64 48) to keep them."
                );
            }
            if config.listen.local_mode_exposed {
                tracing::warn!(
                    listen_host = %config.listen.host,
                    "MODE=local on a listener other machines can reach: local sign-in is refused to every request \
                     that is not from a browser on this machine (forwarded or for another Host), so visitors \
                     cannot sign in. For anything but a personal machine, set MODE=space and real sign-in \
                     (Hugging Face OAuth), or LISTEN_HOST=127.0.0.1"
                );
            }
            if let Some(user) = &config.auth.local_auth_user {
                tracing::warn!(%user, "LOCAL_AUTH_USER: requests without a credential act as this user (loopback test mode)");
            }
            match server::run(&config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(e.failure(), &e),
            }
        }
    }
}

/// Fetches `/admin/usage` from a running gateway's admin listener.
fn usage_report(admin: &str, top: usize) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let url = format!("http://{admin}/admin/usage?top={top}");
        let r = reqwest::Client::builder()
            .no_proxy()
            .build()?
            .get(url)
            .send()
            .await?
            .error_for_status()?;
        Ok(r.json::<serde_json::Value>().await?)
    })
}

/// The usage report as a small text table.
fn format_usage(r: &serde_json::Value) -> String {
    let mut out = format!(
        "active users: {} in the last hour, {} in the last 24 hours; live MCP sessions: {}\n",
        r["active_users_1h"], r["active_users_24h"], r["sessions_active"]
    );
    out.push_str("\nbusiest users (requests, last 24 h):\n");
    for u in r["top_users"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {:<64} {:>10}\n",
            u["user"].as_str().unwrap_or("?"),
            u["requests_24h"]
        ));
    }
    match r["backend"]["vaults"].as_array() {
        Some(vaults) => {
            out.push_str("\nvaults (notes, bytes):\n");
            for v in vaults {
                out.push_str(&format!(
                    "  {:<64} {:>8} {:>12}\n",
                    v["user"].as_str().unwrap_or("?"),
                    v["notes"],
                    v["bytes"]
                ));
            }
        }
        None => out.push_str("\nvault sizes: the backend's admin listener did not answer\n"),
    }
    out
}

fn fail(failure: Failure, e: &dyn std::fmt::Display) -> ExitCode {
    exit::fail("vaultgate-gateway", failure, e)
}
