//! The command line and environment of `vaultgate-backend`, resolved once at start into
//! [`BackendConfig`], so a bad setting stops the start instead of failing a request. Nothing
//! after the start reads [`Cli`]'s raw values; `config --print` shows the resolved configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde::{Serialize, Serializer};
use vaultgate_shared::UserId;
use vaultgate_shared::config::print;
use vaultgate_shared::config::{LogFormat, Mode, Secret};
use vaultgate_shared::identity::IdentityKey;

use crate::bulkhead::BulkheadLimits;

/// vaultgate's vault backend: per-user Markdown notes, a SQLite FTS5 index, MCP tools and a
/// REST API. It trusts only the identity assertion the gateway signs with IDENTITY_SECRET.
#[derive(Debug, Parser)]
#[command(name = "vaultgate-backend", version, after_help = vaultgate_shared::exit::HELP)]
pub struct Cli {
    /// Optional TOML file whose keys are the environment variable names below.
    #[arg(long, env = "VAULTGATE_CONFIG", global = true)]
    pub config: Option<PathBuf>,

    /// `space` = production: AUDIT_HASH_KEY is then required (the backend never invents it).
    #[arg(long, env = "MODE", value_enum, default_value = "local", global = true)]
    pub mode: Mode,

    /// Private listener for MCP and the REST API (every route but GET /healthz needs an assertion).
    #[arg(long, env = "BACKEND_LISTEN", default_value = "127.0.0.1:8001", global = true)]
    pub listen: SocketAddr,

    /// Unauthenticated operator listener: GET /metrics and GET /healthz. Keep it on loopback.
    #[arg(long, env = "BACKEND_ADMIN_ADDR", default_value = "127.0.0.1:9092", global = true)]
    pub admin_addr: SocketAddr,

    /// Verifies X-Vault-Identity assertions; must equal the gateway's (at least 32 bytes).
    #[arg(long, env = "IDENTITY_SECRET", hide_env_values = true, global = true)]
    pub identity_secret: Option<Secret>,

    /// Directory holding one folder of notes per user.
    #[arg(long, env = "VAULT_BASE_PATH", default_value = "./data/vaults", global = true)]
    pub vault_base_path: PathBuf,

    /// Where the SQLite index lives (rebuildable from the vault files at any time): one database
    /// per user in the directory `<name>.d` beside this path (`./data/index.d/<user>.db`), or in
    /// this directory itself when it is one or ends in '/'.
    #[arg(long, env = "DATABASE_PATH", default_value = "./data/index.db", global = true)]
    pub database_path: PathBuf,

    /// Most per-user index databases kept open at once (each holds up to five file descriptors).
    #[arg(long, env = "INDEX_OPEN_MAX", default_value_t = 128, global = true)]
    pub index_open_max: u64,

    /// Seconds after which an unused per-user index database is closed.
    #[arg(long, env = "INDEX_IDLE_SECS", default_value_t = 60, global = true)]
    pub index_idle_secs: u64,

    /// Most requests of one user the backend works on at once; more wait (see USER_QUEUE_MS).
    #[arg(long, env = "USER_CONCURRENCY", default_value_t = 4, global = true)]
    pub user_concurrency: u32,

    /// Most whole-vault jobs (search, tags, backlinks, export) of one user the backend works on at once (they are
    /// CPU-bound; below the core count, one user's flood leaves a core to everyone else)
    /// [default: half the cores, at least 1].
    #[arg(long, env = "USER_SEARCH_CONCURRENCY", global = true)]
    pub user_search_concurrency: Option<u32>,

    /// How long a request over USER_CONCURRENCY waits for a turn before it is refused (429).
    #[arg(long, env = "USER_QUEUE_MS", default_value_t = 2000, global = true)]
    pub user_queue_ms: u64,

    /// Largest note, in bytes, front matter included.
    #[arg(long, env = "NOTE_MAX_BYTES", default_value_t = 1024 * 1024, global = true)]
    pub note_max_bytes: u64,

    /// Most notes one user may hold.
    #[arg(long, env = "USER_MAX_NOTES", default_value_t = 10_000, global = true)]
    pub user_max_notes: u64,

    /// Most bytes one user's notes may take together.
    #[arg(long, env = "USER_MAX_BYTES", default_value_t = 100 * 1024 * 1024, global = true)]
    pub user_max_bytes: u64,

    /// Most folders one user's notes may occupy (each folder counts once, however deep or full).
    #[arg(long, env = "USER_MAX_FOLDERS", default_value_t = 1000, global = true)]
    pub user_max_folders: u64,

    /// Largest vault zip `POST /api/import` accepts, in bytes (it is spooled to a temporary file).
    #[arg(long, env = "IMPORT_MAX_BYTES", default_value_t = vaultgate_shared::limits::IMPORT_MAX_BYTES, global = true)]
    pub import_max_bytes: u64,

    /// Most entries (notes, attachments, folders) one import may hold.
    #[arg(long, env = "IMPORT_MAX_ENTRIES", default_value_t = 20_000, global = true)]
    pub import_max_entries: usize,

    /// Threads running blocking work (parsing, SQLite, file I/O) for requests, all users together.
    #[arg(long, env = "BACKEND_WORKERS", default_value_t = 8, global = true)]
    pub workers: usize,

    /// Time a request may take, queueing included, before it is stopped and answered 503.
    #[arg(long, env = "BACKEND_REQUEST_BUDGET_MS", default_value_t = 5000, global = true)]
    pub request_budget_ms: u64,

    /// Host names accepted by /mcp (comma-separated, any port) [default: localhost, 127.0.0.1,
    /// ::1, and the hosts of PUBLIC_URL and SPACE_HOST when set].
    #[arg(long, env = "BACKEND_ALLOWED_HOSTS", value_delimiter = ',', global = true)]
    pub allowed_hosts: Vec<String>,

    /// Keys the hashes of note paths in the audit log (at least 32 bytes). Required with
    /// MODE=space; without it in local mode a random key is used (hashes change at each start).
    #[arg(long, env = "AUDIT_HASH_KEY", hide_env_values = true, global = true)]
    pub audit_hash_key: Option<Secret>,

    /// GET /readyz fails when the vault's or the index's file system has fewer free bytes.
    #[arg(long, env = "READY_MIN_FREE_BYTES", default_value_t = 64 * 1024 * 1024, global = true)]
    pub ready_min_free_bytes: u64,

    /// GET /readyz fails when the vault's or the index's file system has fewer free inodes.
    #[arg(long, env = "READY_MIN_FREE_INODES", default_value_t = 1000, global = true)]
    pub ready_min_free_inodes: u64,

    /// `text` for people, `json` for one JSON object per line.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text", global = true)]
    pub log_format: LogFormat,

    /// The gateway's public URL: its host is one /mcp accepts (see BACKEND_ALLOWED_HOSTS).
    #[arg(long, env = "PUBLIC_URL", global = true, hide_short_help = true)]
    pub public_url: Option<String>,

    /// The Space's host name (injected by Spaces): one /mcp accepts (see BACKEND_ALLOWED_HOSTS).
    #[arg(long, env = "SPACE_HOST", global = true, hide_short_help = true)]
    pub space_host: Option<String>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve MCP and the REST API (the default).
    Serve,
    /// Rebuild the index from the files on disk, with a progress bar.
    Reindex {
        /// Only this user's notes (default: every user).
        #[arg(long)]
        user: Option<String>,
    },
    /// Write one user's notes (Markdown files as they are, front matter included) as a zip.
    Export {
        /// The user whose vault to export.
        #[arg(long)]
        user: String,
        /// The zip file to write.
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Import a vault (a folder or a zip of Markdown notes, e.g. an Obsidian vault) into one
    /// user's notes, as POST /api/import does.
    Import {
        /// The user whose vault receives the notes.
        #[arg(long)]
        user: String,
        /// Replace notes that already exist (otherwise they are skipped and listed).
        #[arg(long)]
        overwrite: bool,
        /// A directory or a .zip file.
        source: PathBuf,
    },
    /// Delete one user's vault folder and index database.
    DeleteUser {
        /// The user to delete.
        user: String,
        /// Confirms the deletion; without it nothing is deleted.
        #[arg(long)]
        yes: bool,
    },
    /// Print the configuration `serve` would run with, resolved and checked, secrets redacted.
    Config(vaultgate_shared::config::print::PrintArgs),
}

/// Limits applied to every write.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Limits {
    pub note_max_bytes: u64,
    pub user_max_notes: u64,
    pub user_max_bytes: u64,
    pub user_max_folders: u64,
}

/// Everything the backend runs with, resolved and checked once at start.
#[derive(Debug, Clone, Serialize)]
pub struct BackendConfig {
    /// `MODE`.
    #[serde(serialize_with = "print::value_enum")]
    pub mode: Mode,
    /// `BACKEND_LISTEN`.
    pub listen: SocketAddr,
    /// `BACKEND_ADMIN_ADDR`.
    pub admin_addr: SocketAddr,
    /// `IDENTITY_SECRET` (required by `serve`, checked by [`BackendConfig::identity_key`]).
    pub identity_secret: Option<Secret>,
    /// `AUDIT_HASH_KEY` (required by `serve` in `MODE=space`).
    pub audit_hash_key: Option<Secret>,
    /// `VAULT_BASE_PATH`.
    pub vault_base_path: PathBuf,
    /// `DATABASE_PATH`.
    pub database_path: PathBuf,
    /// Quotas of every write.
    pub limits: Limits,
    /// Concurrency, queueing and the request budget.
    #[serde(serialize_with = "bulkhead")]
    pub bulkhead: BulkheadLimits,
    /// `BACKEND_ALLOWED_HOSTS`, else loopback names and the hosts of `PUBLIC_URL` and `SPACE_HOST`.
    pub allowed_hosts: Vec<String>,
    /// `INDEX_OPEN_MAX`, `INDEX_IDLE_SECS`.
    #[serde(serialize_with = "index_options")]
    pub index: crate::index::IndexOptions,
    /// Free-space floors of `/readyz`.
    #[serde(serialize_with = "floors")]
    pub ready: crate::readiness::Floors,
    /// Largest import upload, in bytes.
    pub import_max_bytes: u64,
    /// Most entries in one import.
    pub import_max_entries: usize,
    /// `LOG_FORMAT`.
    #[serde(serialize_with = "print::value_enum")]
    pub log_format: LogFormat,
}

/// Why the configuration cannot be used; printed, then the process exits.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "IDENTITY_SECRET is not set: the backend verifies assertions signed by the gateway and cannot invent the secret they share; set the same value for both (e.g. openssl rand -base64 48)"
    )]
    MissingSecret,
    #[error(transparent)]
    WeakSecret(#[from] vaultgate_shared::identity::WeakSecret),
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditKeyError),
    #[error("--user: {0}")]
    BadUser(#[from] vaultgate_shared::UserIdError),
}

impl ConfigError {
    /// The exit status: a bad `--user` is a usage error, everything else configuration.
    pub fn failure(&self) -> vaultgate_shared::exit::Failure {
        match self {
            ConfigError::BadUser(_) => vaultgate_shared::exit::Failure::Usage,
            _ => vaultgate_shared::exit::Failure::Config,
        }
    }
}

impl BackendConfig {
    /// The verification key `serve` needs; refuses a missing or short secret.
    pub fn identity_key(&self) -> Result<IdentityKey, ConfigError> {
        let secret = self.identity_secret.as_ref().ok_or(ConfigError::MissingSecret)?;
        Ok(IdentityKey::new(secret.expose())?)
    }

    /// The audit log's path hasher; refuses a short key, or a missing one with MODE=space.
    pub fn auditor(&self) -> Result<crate::audit::Auditor, ConfigError> {
        Ok(crate::audit::Auditor::new(self.audit_hash_key.as_ref(), self.mode)?)
    }

    /// Checks the settings every command needs and derives the defaults, once.
    pub fn resolve(cli: &Cli) -> Result<Self, ConfigError> {
        cli.checked()
    }
}

impl Cli {
    fn checked(&self) -> Result<BackendConfig, ConfigError> {
        for (name, v) in [
            ("NOTE_MAX_BYTES", self.note_max_bytes),
            ("USER_MAX_NOTES", self.user_max_notes),
            ("USER_MAX_BYTES", self.user_max_bytes),
            ("USER_MAX_FOLDERS", self.user_max_folders),
            ("BACKEND_WORKERS", self.workers as u64),
            ("USER_CONCURRENCY", u64::from(self.user_concurrency)),
            (
                "USER_SEARCH_CONCURRENCY",
                self.user_search_concurrency.map_or(1, u64::from),
            ),
            ("BACKEND_REQUEST_BUDGET_MS", self.request_budget_ms),
            ("INDEX_OPEN_MAX", self.index_open_max),
            ("INDEX_IDLE_SECS", self.index_idle_secs),
            ("IMPORT_MAX_BYTES", self.import_max_bytes),
            ("IMPORT_MAX_ENTRIES", self.import_max_entries as u64),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        Ok(BackendConfig {
            mode: self.mode,
            listen: self.listen,
            admin_addr: self.admin_addr,
            identity_secret: self.identity_secret.clone(),
            audit_hash_key: self.audit_hash_key.clone(),
            log_format: self.log_format,
            vault_base_path: self.vault_base_path.clone(),
            database_path: self.database_path.clone(),
            limits: Limits {
                note_max_bytes: self.note_max_bytes,
                user_max_notes: self.user_max_notes,
                user_max_bytes: self.user_max_bytes,
                user_max_folders: self.user_max_folders,
            },
            bulkhead: BulkheadLimits {
                workers: self.workers,
                per_user: self.user_concurrency as usize,
                per_user_heavy: self
                    .user_search_concurrency
                    .map_or_else(crate::bulkhead::default_per_user_heavy, |n| n as usize),
                user_wait: std::time::Duration::from_millis(self.user_queue_ms),
                budget: std::time::Duration::from_millis(self.request_budget_ms),
            },
            allowed_hosts: allowed_hosts(
                &self.allowed_hosts,
                self.public_url.as_deref(),
                self.space_host.as_deref(),
            ),
            index: crate::index::IndexOptions {
                open_max: self.index_open_max,
                idle: std::time::Duration::from_secs(self.index_idle_secs),
            },
            ready: crate::readiness::Floors {
                min_free_bytes: self.ready_min_free_bytes,
                min_free_inodes: self.ready_min_free_inodes,
            },
            import_max_bytes: self.import_max_bytes,
            import_max_entries: self.import_max_entries,
        })
    }

    /// The user named by `reindex --user`, `export` or `delete-user`, checked.
    pub fn reindex_user(user: Option<&str>) -> Result<Option<UserId>, ConfigError> {
        Ok(user.map(UserId::parse).transpose()?)
    }
}

fn bulkhead<S: Serializer>(b: &BulkheadLimits, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct View {
        workers: usize,
        user_concurrency: usize,
        user_search_concurrency: usize,
        #[serde(serialize_with = "print::duration")]
        user_queue: Duration,
        #[serde(serialize_with = "print::duration")]
        request_budget: Duration,
    }
    View {
        workers: b.workers,
        user_concurrency: b.per_user,
        user_search_concurrency: b.per_user_heavy,
        user_queue: b.user_wait,
        request_budget: b.budget,
    }
    .serialize(s)
}

fn index_options<S: Serializer>(o: &crate::index::IndexOptions, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct View {
        open_max: u64,
        #[serde(serialize_with = "print::duration")]
        idle: Duration,
    }
    View {
        open_max: o.open_max,
        idle: o.idle,
    }
    .serialize(s)
}

fn floors<S: Serializer>(f: &crate::readiness::Floors, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct View {
        min_free_bytes: u64,
        min_free_inodes: u64,
    }
    View {
        min_free_bytes: f.min_free_bytes,
        min_free_inodes: f.min_free_inodes,
    }
    .serialize(s)
}

/// The explicit list, or loopback names plus the hosts of `PUBLIC_URL` and `SPACE_HOST`.
pub fn allowed_hosts(explicit: &[String], public_url: Option<&str>, space_host: Option<&str>) -> Vec<String> {
    let explicit: Vec<String> = explicit
        .iter()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .collect();
    if !explicit.is_empty() {
        return explicit;
    }
    let mut hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    let from_url = public_url.and_then(|u| {
        let rest = u.split_once("://").map_or(u, |(_, r)| r);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
        host_of(authority)
    });
    for h in [from_url, space_host.and_then(host_of)].into_iter().flatten() {
        if !hosts.contains(&h) {
            hosts.push(h);
        }
    }
    hosts
}

/// The host part of `host[:port]` (IPv6 in brackets), lowercased.
fn host_of(authority: &str) -> Option<String> {
    let a = authority.trim();
    let host = if let Some(rest) = a.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        a.split(':').next().unwrap_or("")
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_hosts_defaults_and_overrides() {
        let d = allowed_hosts(&[], None, None);
        assert_eq!(d, ["localhost", "127.0.0.1", "::1"]);
        let d = allowed_hosts(&[], Some("https://Me-Vault.hf.space:443/x"), Some("me-vault.hf.space"));
        assert_eq!(d, ["localhost", "127.0.0.1", "::1", "me-vault.hf.space"]);
        let d = allowed_hosts(&[], Some("http://[::2]:7860"), Some("other.example"));
        assert_eq!(d, ["localhost", "127.0.0.1", "::1", "::2", "other.example"]);
        let d = allowed_hosts(&["a.example".into(), " ".into()], Some("http://x"), None);
        assert_eq!(d, ["a.example"]);
    }

    fn resolve(env: &[(&str, &str)]) -> Result<BackendConfig, ConfigError> {
        let cli: Cli = vaultgate_shared::config::try_parse_from_env(&["vaultgate-backend"], env).unwrap();
        BackendConfig::resolve(&cli)
    }

    #[test]
    fn missing_or_short_secret_is_refused() {
        let config = resolve(&[]).unwrap();
        assert!(matches!(config.identity_key(), Err(ConfigError::MissingSecret)));
        let config = resolve(&[("IDENTITY_SECRET", "short")]).unwrap();
        assert!(matches!(config.identity_key(), Err(ConfigError::WeakSecret(_))));
    }

    #[test]
    fn allowed_hosts_come_from_the_settings_not_the_process_environment() {
        let config = resolve(&[("PUBLIC_URL", "https://a.example"), ("SPACE_HOST", "b.example")]).unwrap();
        assert_eq!(
            config.allowed_hosts,
            ["localhost", "127.0.0.1", "::1", "a.example", "b.example"]
        );
        assert!(matches!(
            resolve(&[("IMPORT_MAX_BYTES", "0")]),
            Err(ConfigError::Zero("IMPORT_MAX_BYTES"))
        ));
    }

    const IDENTITY: &str = "identity-secret-identity-secret-identity";
    const AUDIT: &str = "audit-hash-key-audit-hash-key-audit-hash";

    /// What a Space injects, what the image sets, and what `deploy/entrypoint.sh` exports before
    /// starting the backend.
    const SPACE: &[(&str, &str)] = &[
        ("SPACE_ID", "owner/me-vault"),
        ("SPACE_HOST", "owner-me-vault.hf.space"),
        ("SYSTEM", "spaces"),
        ("MODE", "space"),
        ("PORT", "7860"),
        ("LOG_FORMAT", "json"),
        ("IDENTITY_SECRET", IDENTITY),
        ("AUDIT_HASH_KEY", AUDIT),
        ("VAULT_BASE_PATH", "/data/vaultgate/vaults"),
        ("DATABASE_PATH", "/data/vaultgate/index.db"),
        ("BACKEND_LISTEN", "127.0.0.1:8001"),
    ];

    /// The resolved configuration as `config --print` shows it, compared with
    /// `testdata/config/NAME.json` (`UPDATE_SNAPSHOTS=1` rewrites it). Variables the backend does
    /// not read are left out, as the real environment's are ignored; the real one is not read.
    fn check_snapshot(name: &str, env: &[(&str, &str)]) {
        let read = vaultgate_shared::config::env_names(&<Cli as clap::CommandFactory>::command());
        let env: Vec<(&str, &str)> = env.iter().copied().filter(|(n, _)| read.contains(*n)).collect();
        let config = resolve(&env).unwrap();
        config.identity_key().unwrap();
        let text = serde_json::to_string(&config).unwrap();
        assert!(
            !text.contains(IDENTITY) && !text.contains(AUDIT),
            "a secret is printed: {text}"
        );
        let mut got: serde_json::Value = serde_json::from_str(&text).unwrap();
        // Its default depends on the machine's cores.
        got["bulkhead"]["user_search_concurrency"] = "half the cores".into();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/config")
            .join(format!("{name}.json"));
        let pretty = serde_json::to_string_pretty(&got).unwrap() + "\n";
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, &pretty).unwrap();
            return;
        }
        let want = std::fs::read_to_string(&path).unwrap();
        let want: serde_json::Value = serde_json::from_str(&want).unwrap();
        assert!(
            got == want,
            "{name}: the resolved configuration changed (UPDATE_SNAPSHOTS=1 if intended):\n{pretty}"
        );
    }

    #[test]
    fn snapshot_local_defaults() {
        check_snapshot("local_defaults", &[("IDENTITY_SECRET", IDENTITY)]);
    }

    #[test]
    fn snapshot_minimal_space() {
        check_snapshot("space_minimal", SPACE);
    }

    /// Every variable the backend reads is in its section of docs/configuration.md, and every
    /// variable of that section's table is one it reads.
    #[test]
    fn every_backend_variable_is_documented_and_every_documented_one_exists() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md")).unwrap();
        let start = doc.find("\n## Backend").expect("a Backend section");
        let rest = &doc[start + 1..];
        let section = &rest[..rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3)];
        let read = vaultgate_shared::config::env_names(&<Cli as clap::CommandFactory>::command());
        let missing: Vec<_> = read.iter().filter(|n| !section.contains(&format!("`{n}`"))).collect();
        assert!(
            missing.is_empty(),
            "read by the backend, not in its section: {missing:?}"
        );
        let mut listed = std::collections::BTreeSet::new();
        for line in section.lines().filter(|l| l.starts_with("| `")) {
            let cell = line.split('|').nth(1).unwrap_or("");
            for quoted in cell.split('`').skip(1).step_by(2) {
                if quoted
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                {
                    listed.insert(quoted.to_owned());
                }
            }
        }
        assert!(listed.len() > 20, "the backend table was not found: {listed:?}");
        let unknown: Vec<_> = listed.difference(&read).collect();
        assert!(
            unknown.is_empty(),
            "in the backend table but not read by the backend: {unknown:?}"
        );
    }
}
