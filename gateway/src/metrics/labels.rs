//! The label vocabularies of the gateway's metrics that belong to no other module: one enum
//! per label set, each variant's string exactly the label value on the wire (dashboards and
//! alerts match on them; the table test in `metrics.rs` pins every one). `metrics.rs`
//! pre-registers every set by iterating its enum, so a new variant is a new zero series.

use strum::{AsRefStr, EnumIter, IntoStaticStr};

/// `outcome` of `vaultgate_gateway_signins_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, IntoStaticStr, AsRefStr)]
#[strum(serialize_all = "snake_case")]
pub enum SignInOutcome {
    /// Signed in with the provider.
    Success,
    /// The user declined at the provider.
    Denied,
    /// The callback's state was missing, forged or stale.
    BadState,
    /// The provider failed or answered nonsense.
    ProviderError,
    /// Refused by the gateway (not on the allow list, cross-site, not loopback).
    Forbidden,
    /// The provider's account name is not a valid user id.
    BadSubject,
    /// "Continue as local user".
    Local,
}

/// `via` of `vaultgate_gateway_tokens_issued_total`: how a gateway token was minted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, IntoStaticStr, AsRefStr)]
#[strum(serialize_all = "snake_case")]
pub enum TokenVia {
    /// The web page's Hugging Face sign-in.
    Oauth,
    /// A Hugging Face token exchanged at `/api/auth/token`.
    Exchange,
    /// `/api/auth/refresh`.
    Refresh,
    /// `vaultgate-gateway token` on the command line.
    Cli,
    /// "Continue as local user".
    Local,
}

/// `reason` of `vaultgate_gateway_session_rejections_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, IntoStaticStr, AsRefStr)]
#[strum(serialize_all = "snake_case")]
pub enum SessionRejection {
    /// A legacy request without `Mcp-Session-Id` where one is needed.
    Missing,
    /// An id never issued here (or long forgotten).
    Unknown,
    /// An id that idled out, outlived its lifetime or was evicted.
    Expired,
    /// Another user's session.
    WrongUser,
}

impl SessionRejection {
    /// The metric and audit label.
    pub fn label(self) -> &'static str {
        self.into()
    }
}

/// `window` of `vaultgate_gateway_active_users`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, IntoStaticStr, AsRefStr)]
pub enum ActiveWindow {
    #[strum(serialize = "1h")]
    Hour,
    #[strum(serialize = "24h")]
    Day,
}
