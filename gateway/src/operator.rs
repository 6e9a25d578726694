//! The operator commands `revoke` and `sessions`: they open the configured state store
//! directly (the SQLite file or Redis), so they work whether or not a gateway is running.
//! A running gateway sees their effect on its next request (Redis) or within a second
//! (SQLite: it watches the file for other processes' writes).

use vaultgate_shared::UserId;
use vaultgate_shared::exit::Failure;
use vaultgate_shared::jwt::now_secs;

use crate::config::resolved::{Sessions, StateStore};
use crate::config::{RevokeArgs, SessionsArgs, Settings};
use crate::state::revocations::USER_REVOCATION_KEEP;
use crate::state::{self, ErrorCount, StateError, Stores};

/// Why an operator command could not run.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error(
        "GATEWAY_STATE=memory keeps sessions and revocations inside the running gateway process, \
         which this command cannot reach. Use GATEWAY_STATE=sqlite or redis (or POST /api/auth/logout \
         with the token itself)"
    )]
    ProcessLocal,
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    State(#[from] StateError),
    #[error("--user '{0}': {1}")]
    BadUser(String, String),
    #[error("--jti must be 1 to 256 printable characters")]
    BadJti,
    #[error("starting a runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

impl OperatorError {
    /// The exit status it stands for: the store failing is a runtime failure; a setting or an
    /// argument the command cannot use is configuration or usage.
    pub fn failure(&self) -> Failure {
        match self {
            OperatorError::ProcessLocal | OperatorError::Config(_) => Failure::Config,
            OperatorError::BadUser(..) | OperatorError::BadJti => Failure::Usage,
            OperatorError::State(_) | OperatorError::Runtime(_) => Failure::Runtime,
        }
    }
}

/// The state store and session settings, resolved from the settings: all an operator command needs.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub state: StateStore,
    pub sessions: Sessions,
}

impl StoreConfig {
    /// Resolves the store's settings only (no secret is needed to open it).
    pub fn resolve(settings: &Settings) -> Result<Self, OperatorError> {
        Ok(Self {
            state: StateStore::resolve(settings)?,
            sessions: Sessions::resolve(settings),
        })
    }
}

fn open(config: &StoreConfig) -> Result<Stores, OperatorError> {
    if matches!(config.state, StateStore::Memory) {
        return Err(OperatorError::ProcessLocal);
    }
    Ok(state::open(
        &config.state.to_state_config(),
        config.sessions.limits(),
        ErrorCount::default(),
    )?)
}

fn parse_user(user: &str) -> Result<UserId, OperatorError> {
    UserId::parse(user).map_err(|e| OperatorError::BadUser(user.to_owned(), e.to_string()))
}

fn block_on<T>(f: impl std::future::Future<Output = Result<T, OperatorError>>) -> Result<T, OperatorError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f)
}

/// `revoke --jti J`: refuses that token; `revoke --user U`: refuses every token issued to U
/// until now and ends U's sessions. Returns what to print.
pub fn revoke(config: &StoreConfig, args: &RevokeArgs) -> Result<String, OperatorError> {
    let user = args.user.as_deref().map(parse_user).transpose()?;
    if let Some(jti) = &args.jti
        && (jti.is_empty() || jti.len() > 256 || jti.chars().any(char::is_control))
    {
        return Err(OperatorError::BadJti);
    }
    let stores = open(config)?;
    block_on(async {
        let now = now_secs();
        match (&args.jti, user) {
            (Some(jti), _) => {
                // The token's expiry is unknown here: keep the revocation as long as a user's.
                stores
                    .revocations
                    .revoke(jti, now + USER_REVOCATION_KEEP.as_secs())
                    .await?;
                tracing::info!(target: "audit", event = "token_revoke", via = "cli", jti_len = jti.len());
                Ok(format!("revoked token {jti} ({} store)", stores.name))
            }
            (None, Some(user)) => {
                stores.revocations.revoke_user(&user, now).await?;
                let ended = stores.sessions.end_user(&user).await?;
                tracing::info!(target: "audit", event = "user_revoke", user = user.as_str(), via = "cli", sessions_ended = ended);
                Ok(format!(
                    "revoked every token of {user} issued until now and ended {ended} session(s) ({} store)",
                    stores.name
                ))
            }
            (None, None) => Err(OperatorError::BadJti),
        }
    })
}

/// `sessions --user U`: U's live sessions, as a table or JSON.
pub fn sessions(config: &StoreConfig, args: &SessionsArgs) -> Result<String, OperatorError> {
    let user = parse_user(&args.user)?;
    let stores = open(config)?;
    let list = block_on(async { Ok(stores.sessions.list(&user).await?) })?;
    if args.json {
        return Ok(serde_json::json!({"user": user.as_str(), "sessions": list}).to_string());
    }
    let now = now_secs();
    let mut out = format!("{} live session(s) of {user} ({} store)\n", list.len(), stores.name);
    for s in &list {
        out.push_str(&format!(
            "  {}  started {} s ago\n",
            s.id,
            now.saturating_sub(s.created)
        ));
    }
    Ok(out.trim_end().to_owned())
}
