//! OpenTelemetry traces, shared by both binaries (cargo feature `otel`).
//!
//! Off unless `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` is set:
//! then no OpenTelemetry layer is installed and [`enabled`] is a single relaxed load, so
//! request code can skip every span. When on, spans of the `vaultgate_*` crates (never log
//! events, which may name users or paths) go over OTLP/HTTP protobuf to the collector,
//! batched on the SDK's own thread; [`Telemetry`] flushes them when dropped.

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// A remote trace context (what a `traceparent` names).
pub use opentelemetry::Context;

static ENABLED: AtomicBool = AtomicBool::new(false);
static RECORD_USER: AtomicBool = AtomicBool::new(false);
static TRUST_CLIENT: AtomicBool = AtomicBool::new(false);

/// True when traces are exported: the one branch request code takes when they are off.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// `OTEL_RECORD_USER=true`: spans carry the user id (`enduser.id`); off by default.
#[inline]
pub fn record_user() -> bool {
    RECORD_USER.load(Ordering::Relaxed)
}

/// `OTEL_TRUST_CLIENT_TRACE=true`: a client's `traceparent` becomes the parent of the
/// gateway's span; by default it is only linked.
#[inline]
pub fn trust_client_trace() -> bool {
    TRUST_CLIENT.load(Ordering::Relaxed)
}

/// A tracing setting that cannot be honoured: the program refuses to start.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error(
        "{var}={value}: the OTLP exporter has no TLS here, so only http:// endpoints work; \
         send to a collector on this host or network over http (e.g. an OpenTelemetry Collector sidecar)"
    )]
    Https { var: &'static str, value: String },
    #[error("{var}={value}: not an http:// URL with a host")]
    BadEndpoint { var: &'static str, value: String },
    #[error("{var}={value}: only http/protobuf is supported")]
    Protocol { var: &'static str, value: String },
    #[error(
        "OTEL_TRACES_SAMPLER={0}: expected always_on, always_off, traceidratio, parentbased_always_on, \
         parentbased_always_off or parentbased_traceidratio"
    )]
    Sampler(String),
    #[error("OTEL_TRACES_SAMPLER_ARG={0}: expected a ratio between 0 and 1")]
    SamplerArg(String),
    #[error("{var}={value}: expected true or false")]
    Bool { var: &'static str, value: String },
    #[error("building the OTLP exporter: {0}")]
    Exporter(String),
}

/// How traces are exported, read from the standard `OTEL_*` variables plus two of ours.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The full traces URL (…/v1/traces).
    pub endpoint: String,
    pub sampler: SamplerChoice,
    pub trust_client_trace: bool,
    pub record_user: bool,
}

/// `OTEL_TRACES_SAMPLER` and its argument, checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SamplerChoice {
    AlwaysOn,
    AlwaysOff,
    Ratio(f64),
    ParentBasedAlwaysOn,
    ParentBasedAlwaysOff,
    ParentBasedRatio(f64),
}

impl SamplerChoice {
    fn sampler(self) -> Sampler {
        match self {
            Self::AlwaysOn => Sampler::AlwaysOn,
            Self::AlwaysOff => Sampler::AlwaysOff,
            Self::Ratio(r) => Sampler::TraceIdRatioBased(r),
            Self::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            Self::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            Self::ParentBasedRatio(r) => Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(r))),
        }
    }
}

fn set<'a>(get: &impl Fn(&str) -> Option<String>, var: &'a str) -> Option<(&'a str, String)> {
    get(var)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .map(|v| (var, v))
}

fn flag(get: &impl Fn(&str) -> Option<String>, var: &'static str) -> Result<bool, ConfigError> {
    match set(get, var) {
        None => Ok(false),
        Some((_, v)) => match v.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(ConfigError::Bool { var, value: v }),
        },
    }
}

impl Config {
    /// Reads the process environment; `Ok(None)` when tracing is off.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `get` (the environment, or a table in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        if flag(&get, "OTEL_SDK_DISABLED")? {
            return Ok(None);
        }
        if set(&get, "OTEL_TRACES_EXPORTER").is_some_and(|(_, v)| v.eq_ignore_ascii_case("none")) {
            return Ok(None);
        }
        // The traces variable is the URL as is; the general one gets /v1/traces appended (OTLP spec).
        let endpoint = match (
            set(&get, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            set(&get, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        ) {
            (Some((var, v)), _) => (var, v.clone(), v),
            (None, Some((var, v))) => (var, v.clone(), format!("{}/v1/traces", v.trim_end_matches('/'))),
            (None, None) => return Ok(None),
        };
        let (var, raw, url) = endpoint;
        let lower = raw.to_ascii_lowercase();
        if lower.starts_with("https://") {
            return Err(ConfigError::Https { var, value: raw });
        }
        let host = lower
            .strip_prefix("http://")
            .map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
        if host.is_none_or(|h| h.is_empty() || h.contains('@')) || raw.chars().any(|c| c.is_whitespace()) {
            return Err(ConfigError::BadEndpoint { var, value: raw });
        }
        for var in ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] {
            if let Some((var, v)) = set(&get, var) {
                if v != "http/protobuf" {
                    return Err(ConfigError::Protocol { var, value: v });
                }
                break;
            }
        }
        let ratio = || -> Result<f64, ConfigError> {
            match set(&get, "OTEL_TRACES_SAMPLER_ARG") {
                None => Ok(1.0),
                Some((_, v)) => v
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (0.0..=1.0).contains(r))
                    .ok_or(ConfigError::SamplerArg(v)),
            }
        };
        let sampler = match set(&get, "OTEL_TRACES_SAMPLER") {
            None => SamplerChoice::ParentBasedAlwaysOn,
            Some((_, v)) => match v.as_str() {
                "always_on" => SamplerChoice::AlwaysOn,
                "always_off" => SamplerChoice::AlwaysOff,
                "traceidratio" => SamplerChoice::Ratio(ratio()?),
                "parentbased_always_on" => SamplerChoice::ParentBasedAlwaysOn,
                "parentbased_always_off" => SamplerChoice::ParentBasedAlwaysOff,
                "parentbased_traceidratio" => SamplerChoice::ParentBasedRatio(ratio()?),
                _ => return Err(ConfigError::Sampler(v)),
            },
        };
        Ok(Some(Self {
            endpoint: url,
            sampler,
            trust_client_trace: flag(&get, "OTEL_TRUST_CLIENT_TRACE")?,
            record_user: flag(&get, "OTEL_RECORD_USER")?,
        }))
    }
}

/// The running exporter; dropping it exports the spans still buffered.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        ENABLED.store(false, Ordering::Relaxed);
        // Bounded: a collector that is down must not hold up the exit for long.
        if let Err(e) = self.provider.shutdown_with_timeout(std::time::Duration::from_secs(3)) {
            eprintln!("exporting the last trace spans failed: {e}");
        }
    }
}

/// Builds the exporter and the `tracing` layer that feeds it; `service` is the default
/// `service.name` (`OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` win).
pub(crate) fn build<S>(
    config: &Config,
    service: &'static str,
) -> Result<
    (
        Telemetry,
        tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>,
    ),
    ConfigError,
>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    let exporter = SpanExporter::builder()
        .with_http()
        .with_endpoint(config.endpoint.clone())
        .build()
        .map_err(|e| ConfigError::Exporter(e.to_string()))?;
    let named = std::env::var_os("OTEL_SERVICE_NAME").is_some_and(|v| !v.is_empty())
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| v.contains("service.name="));
    let mut resource = Resource::builder();
    if !named {
        resource = resource.with_service_name(service);
    }
    let resource = resource
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(config.sampler.sampler())
        .with_resource(resource)
        .build();
    let tracer = provider.tracer(service);
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    RECORD_USER.store(config.record_user, Ordering::Relaxed);
    TRUST_CLIENT.store(config.trust_client_trace, Ordering::Relaxed);
    ENABLED.store(true, Ordering::Relaxed);
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_level(false)
        .with_target(false);
    Ok((Telemetry { provider }, layer))
}

/// Headers as a W3C trace-context carrier.
struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// One `traceparent` (and optional `tracestate`) value as a carrier.
struct Parent<'a>(&'a str, Option<&'a str>);

impl Extractor for Parent<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => Some(self.0),
            "tracestate" => self.1,
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}

/// The remote span a request's `traceparent`/`tracestate` headers name, if valid.
pub fn remote_parent(headers: &http::HeaderMap) -> Option<opentelemetry::Context> {
    let cx = TraceContextPropagator::new().extract(&Headers(headers));
    cx.span().span_context().is_valid().then_some(cx)
}

/// The remote span one `traceparent` text names (e.g. from a JSON-RPC `_meta`), if valid.
pub fn parse_traceparent(traceparent: &str, tracestate: Option<&str>) -> Option<opentelemetry::Context> {
    if traceparent.len() > 128 || tracestate.is_some_and(|s| s.len() > 512) {
        return None;
    }
    let cx = TraceContextPropagator::new().extract(&Parent(traceparent, tracestate));
    cx.span().span_context().is_valid().then_some(cx)
}

/// The span context of a remote parent, for a span link.
pub fn span_context(cx: &opentelemetry::Context) -> SpanContext {
    cx.span().span_context().clone()
}

/// Makes `span` continue the remote trace `cx` (before the span is first entered).
pub fn continue_from(span: &tracing::Span, cx: opentelemetry::Context) {
    let _ = span.set_parent(cx);
}

/// Links `span` to the remote span `cx` without joining its trace.
pub fn link_to(span: &tracing::Span, cx: &opentelemetry::Context) {
    span.add_link(span_context(cx));
}

/// The `traceparent` (and `tracestate`) naming `span`, to send on; empty when it is not exported.
pub fn traceparent_of(span: &tracing::Span) -> Vec<(&'static str, String)> {
    struct Out(Vec<(&'static str, String)>);
    impl Injector for Out {
        fn set(&mut self, key: &str, value: String) {
            match key {
                "traceparent" => self.0.push(("traceparent", value)),
                "tracestate" if !value.is_empty() => self.0.push(("tracestate", value)),
                _ => {}
            }
        }
    }
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return Vec::new();
    }
    let mut out = Out(Vec::with_capacity(2));
    TraceContextPropagator::new().inject_context(&cx, &mut out);
    out.0
}

/// The trace id of `span` as 32 hex digits, when it has one.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

/// Opts a span into the user id when the operator asked for it (`OTEL_RECORD_USER`).
pub fn record_user_on(span: &tracing::Span, user: &str) {
    if record_user() {
        span.set_attribute("enduser.id", user.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(vars: &[(&str, &str)]) -> Result<Option<Config>, ConfigError> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn off_unless_an_endpoint_is_set() {
        assert_eq!(cfg(&[]), Ok(None));
        assert_eq!(cfg(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]), Ok(None));
        assert_eq!(cfg(&[("OTEL_SERVICE_NAME", "x")]), Ok(None));
        assert_eq!(
            cfg(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_SDK_DISABLED", "true")
            ]),
            Ok(None)
        );
        assert_eq!(
            cfg(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_TRACES_EXPORTER", "none")
            ]),
            Ok(None)
        );
    }

    #[test]
    fn endpoints() {
        let c = cfg(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")])
            .unwrap()
            .unwrap();
        assert_eq!(c.endpoint, "http://collector:4318/v1/traces");
        assert_eq!(c.sampler, SamplerChoice::ParentBasedAlwaysOn);
        assert!(!c.trust_client_trace && !c.record_user);
        let c = cfg(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:1"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:9/x"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.endpoint, "http://127.0.0.1:9/x");
    }

    #[test]
    fn refusals() {
        let table: &[(&[(&str, &str)], &str)] = &[
            (&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4318")], "no TLS"),
            (
                &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "HTTPS://c:4318/v1/traces")],
                "no TLS",
            ),
            (&[("OTEL_EXPORTER_OTLP_ENDPOINT", "c:4318")], "not an http"),
            (&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://")], "not an http"),
            (&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://u:p@c:4318")], "not an http"),
            (&[("OTEL_EXPORTER_OTLP_ENDPOINT", "grpc://c:4317")], "not an http"),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ],
                "http/protobuf",
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                    ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
                ],
                "http/protobuf",
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                    ("OTEL_TRACES_SAMPLER", "sometimes"),
                ],
                "OTEL_TRACES_SAMPLER=sometimes",
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                    ("OTEL_TRACES_SAMPLER", "traceidratio"),
                    ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
                ],
                "between 0 and 1",
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                    ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
                    ("OTEL_TRACES_SAMPLER_ARG", "NaN"),
                ],
                "between 0 and 1",
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                    ("OTEL_RECORD_USER", "maybe"),
                ],
                "OTEL_RECORD_USER=maybe",
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                    ("OTEL_TRUST_CLIENT_TRACE", "2"),
                ],
                "OTEL_TRUST_CLIENT_TRACE=2",
            ),
        ];
        for (vars, want) in table {
            let e = cfg(vars).expect_err(&format!("{vars:?} must be refused"));
            assert!(e.to_string().contains(want), "{vars:?}: {e}");
        }
    }

    #[test]
    fn samplers_and_flags() {
        let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
        let c = cfg(&[
            base,
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ("OTEL_TRUST_CLIENT_TRACE", "true"),
            ("OTEL_RECORD_USER", "TRUE"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.sampler, SamplerChoice::ParentBasedRatio(0.25));
        assert!(c.trust_client_trace && c.record_user);
        let c = cfg(&[base, ("OTEL_TRACES_SAMPLER", "traceidratio")]).unwrap().unwrap();
        assert_eq!(c.sampler, SamplerChoice::Ratio(1.0));
        let c = cfg(&[base, ("OTEL_TRACES_SAMPLER", "always_off")]).unwrap().unwrap();
        assert_eq!(c.sampler, SamplerChoice::AlwaysOff);
    }

    #[test]
    fn traceparent_parsing() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let cx = parse_traceparent(good, None).expect("valid");
        assert_eq!(
            span_context(&cx).trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        for bad in [
            "",
            "garbage",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            &"0".repeat(200),
        ] {
            assert!(parse_traceparent(bad, None).is_none(), "{bad}");
        }
        let mut h = http::HeaderMap::new();
        h.insert("traceparent", http::HeaderValue::from_static(good));
        assert!(remote_parent(&h).is_some());
        h.insert("traceparent", http::HeaderValue::from_static("00-zz-zz-01"));
        assert!(remote_parent(&h).is_none());
    }
}
