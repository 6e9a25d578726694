//! The contract between the vaultgate gateway and any backend behind it.
//!
//! Everything both programs must agree on lives here once: the header names,
//! the signed identity assertion, the user-id rule, the JSON error body, and the
//! configuration and logging helpers both binaries use.

pub mod audit;
pub mod config;
pub mod error_body;
pub mod exit;
pub mod headers;
pub mod html;
pub mod identity;
pub mod jwt;
pub mod limits;
pub mod logging;
pub mod mcp;
pub mod query;
#[cfg(feature = "otel")]
pub mod telemetry;
pub mod user;

pub use error_body::ErrorBody;
pub use identity::{Identity, IdentityClaims, IdentityError, IdentityKey, sign_identity, verify_identity};
pub use user::{UserId, UserIdError};

/// The commit this build came from (see `build.rs`), for both programs' `build_info` metric.
pub const COMMIT: &str = env!("VAULTGATE_COMMIT");
