//! Log setup shared by both binaries: `tracing` to stderr, text or JSON lines,
//! with `log` records (Pingora logs through `log`) bridged in.
//!
//! Audit lines use the target `audit`; filter with `RUST_LOG` as usual.

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; call once, first thing in `main`.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    bridge_log(&filter);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
    };
}

/// [`init`], plus OpenTelemetry traces when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the traces
/// variant) is set. Without it this is exactly [`init`]: no OpenTelemetry layer at all. Keep
/// the returned guard alive until the end of `main`: dropping it exports the last spans.
/// A tracing setting that cannot be honoured is an error (logging is set up either way).
#[cfg(feature = "otel")]
pub fn init_traced(
    format: LogFormat,
    service: &'static str,
) -> Result<Option<crate::telemetry::Telemetry>, crate::telemetry::ConfigError> {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let config = match crate::telemetry::Config::from_env() {
        Ok(Some(c)) => c,
        Ok(None) => {
            init(format);
            return Ok(None);
        }
        Err(e) => {
            init(format);
            return Err(e);
        }
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    bridge_log(&filter);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).with_current_span(false).boxed(),
    };
    let registry = tracing_subscriber::registry().with(fmt.with_filter(filter));
    let (guard, otel) = match crate::telemetry::build(&config, service) {
        Ok(built) => built,
        Err(e) => {
            let _ = registry.try_init();
            return Err(e);
        }
    };
    // Only our own spans, never events: log lines may name users and paths, spans are
    // built to carry nothing private (docs/operations.md lists their attributes).
    let ours = tracing_subscriber::filter::filter_fn(|m| m.is_span() && m.target().starts_with("vaultgate_"));
    let _ = registry.with(otel.with_filter(ours)).try_init();
    Ok(Some(guard))
}

/// Bridges `log` records into `tracing`, dropping those the filter would drop anyway.
fn bridge_log(filter: &EnvFilter) {
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
}
