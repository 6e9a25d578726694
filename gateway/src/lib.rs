//! vaultgate's gateway: the only public listener. It decides who each request belongs
//! to (gateway tokens), holds MCP sessions, rate-limits, strips client identity
//! headers and forwards to the backend with a signed identity assertion. It knows
//! nothing about notes.

pub mod access_log;
pub mod admin;
pub mod answer;
pub mod audit;
pub mod auth;
pub mod client_ip;
pub mod config;
pub mod endpoints;
pub mod gateway;
pub mod identity;
pub mod metrics;
pub mod operator;
pub mod origin;
pub mod pipeline;
pub mod proxy;
pub mod ratelimit;
pub mod refusal;
pub mod request_trace;
pub mod route_rules;
pub mod routes;
pub mod server;
pub mod sessions;
pub mod smoke;
pub mod state;
pub mod upstream;
pub mod usage;

// The endpoints' old homes, for the modules that name them there.
