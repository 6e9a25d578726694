//! vaultgate's backend: user-scoped Markdown vaults, a SQLite FTS5 index, MCP tools and a REST
//! API, trusting nobody but a valid identity assertion from the gateway.

pub mod api;
pub mod audit;
pub mod bulkhead;
pub mod config;
pub mod http;
pub mod identity;
pub mod import;
pub mod index;
pub mod lifecycle;
pub mod mcp;
pub mod metrics;
pub mod notes;
pub mod percent;
pub mod precondition;
pub mod readiness;
pub mod reindex;
pub mod render;
pub mod server;
pub mod service;
pub mod trace;
pub mod vault;
