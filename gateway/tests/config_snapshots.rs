//! The resolved, redacted configuration (`config --print`) of the environments the gateway runs
//! in, compared with the JSON files in `tests/snapshots/config/`. The environment is given as
//! explicit (variable, value) pairs: the real process environment is never read.
//!
//! After an intended change, rewrite the files with `UPDATE_SNAPSHOTS=1 cargo test -p
//! vaultgate-gateway --test config_snapshots` and review the diff.

use vaultgate_gateway::config::{Cli, GatewayConfig};
use vaultgate_shared::config::{env_names, try_parse_from_env};

const JWT: &str = "jwt-secret-jwt-secret-jwt-secret-jwt-secret";
const IDENTITY: &str = "identity-secret-identity-secret-identity";
const OAUTH_SECRET: &str = "oauth-client-secret-value";
const REDIS: &str = "redis://:redis-password@redis:6379/0";

/// What a Hugging Face Space injects (`hf_oauth` not set), what the image's Dockerfile sets,
/// and what `deploy/entrypoint.sh` exports before starting the gateway.
const SPACE: &[(&str, &str)] = &[
    ("SPACE_ID", "owner/me-vault"),
    ("SPACE_AUTHOR_NAME", "owner"),
    ("SPACE_REPO_NAME", "me-vault"),
    ("SPACE_HOST", "owner-me-vault.hf.space"),
    ("SYSTEM", "spaces"),
    ("MODE", "space"),
    ("PORT", "7860"),
    ("LOG_FORMAT", "json"),
    ("JWT_SECRET_KEY", JWT),
    ("IDENTITY_SECRET", IDENTITY),
    ("GATEWAY_STATE_PATH", "/data/vaultgate/gateway.db"),
    ("BACKEND_URL", "http://127.0.0.1:8001"),
];

/// What `hf_oauth: true` adds (deploy/space/README.md), and MCP clients sent to Hugging Face.
const SPACE_OAUTH: &[(&str, &str)] = &[
    ("OAUTH_CLIENT_ID", "0f5e-client-id"),
    ("OAUTH_CLIENT_SECRET", OAUTH_SECRET),
    ("OAUTH_SCOPES", "openid profile"),
    ("OPENID_PROVIDER_URL", "https://huggingface.co"),
    ("MCP_OAUTH", "huggingface"),
];

/// Several replicas sharing Redis (deploy/docker-compose.yml style).
const REDIS_STATE: &[(&str, &str)] = &[
    ("MODE", "space"),
    ("PUBLIC_URL", "https://vault.example.org/"),
    ("JWT_SECRET_KEY", JWT),
    ("IDENTITY_SECRET", IDENTITY),
    ("BACKEND_URL", "http://backend:8001"),
    ("GATEWAY_STATE", "redis"),
    ("REDIS_URL", REDIS),
    ("TRUSTED_PROXIES", "172.16.0.0/12"),
];

/// The resolved configuration of an environment, as `config --print` shows it. Variables the
/// gateway does not read (SPACE_ID, …) are left out, as the real environment's are ignored.
fn resolved(env: &[(&str, &str)]) -> serde_json::Value {
    let read = env_names(&<Cli as clap::CommandFactory>::command());
    let env: Vec<(&str, &str)> = env.iter().copied().filter(|(n, _)| read.contains(*n)).collect();
    let cli: Cli = try_parse_from_env(&["vaultgate-gateway"], &env).unwrap();
    let config = GatewayConfig::resolve(cli.settings).unwrap();
    let text = serde_json::to_string(&config).unwrap();
    for secret in [JWT, IDENTITY, OAUTH_SECRET, REDIS, "redis-password"] {
        assert!(!text.contains(secret), "a secret is printed: {text}");
    }
    serde_json::from_str(&text).unwrap()
}

fn check(name: &str, env: &[(&str, &str)]) {
    let got = resolved(env);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots/config")
        .join(format!("{name}.json"));
    let pretty = serde_json::to_string_pretty(&got).unwrap() + "\n";
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &pretty).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_SNAPSHOTS=1 writes it)", path.display()));
    let want: serde_json::Value = serde_json::from_str(&want).unwrap();
    assert!(
        got == want,
        "{name}: the resolved configuration changed; if intended, run with UPDATE_SNAPSHOTS=1.\ngot:\n{pretty}"
    );
}

#[test]
fn local_defaults() {
    check("local_defaults", &[("IDENTITY_SECRET", IDENTITY)]);
}

#[test]
fn minimal_space() {
    check("space_minimal", SPACE);
}

#[test]
fn space_with_mcp_oauth() {
    let env: Vec<_> = SPACE.iter().chain(SPACE_OAUTH).copied().collect();
    check("space_mcp_oauth", &env);
}

#[test]
fn redis_state_store() {
    check("redis_state", REDIS_STATE);
}
