//! Log setup shared by both binaries: `tracing` to stderr, text or JSON lines,
//! with `log` records (Pingora logs through `log`) bridged in.
//!
//! Audit lines use the target `audit`; filter with `RUST_LOG` as usual.

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; call once, first thing in `main`.
pub fn init(format: LogFormat) {
    let _ = tracing_log::LogTracer::init();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
    };
}
