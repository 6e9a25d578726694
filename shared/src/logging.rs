//! Log setup shared by both binaries: `tracing` to stderr, text or JSON lines,
//! with `log` records (Pingora logs through `log`) bridged in.
//!
//! Audit lines use the target `audit`; filter with `RUST_LOG` as usual.

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; call once, first thing in `main`.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Records above the filter's most verbose level are dropped at the bridge, before any
    // formatting work (Pingora logs a lot at debug level on the hot path).
    let max = match filter.max_level_hint() {
        Some(tracing_subscriber::filter::LevelFilter::OFF) => log::LevelFilter::Off,
        Some(tracing_subscriber::filter::LevelFilter::ERROR) => log::LevelFilter::Error,
        Some(tracing_subscriber::filter::LevelFilter::WARN) => log::LevelFilter::Warn,
        Some(tracing_subscriber::filter::LevelFilter::INFO) => log::LevelFilter::Info,
        Some(tracing_subscriber::filter::LevelFilter::DEBUG) => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    let _ = tracing_log::LogTracer::builder().with_max_level(max).init();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
    };
}
