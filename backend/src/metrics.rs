//! The backend's Prometheus metrics, in a registry it owns. Labels are low-cardinality only:
//! never a user id, a path or a token.

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Every metric the backend exports.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub tool_calls: IntCounterVec,
    pub tool_duration: HistogramVec,
    pub rejected_paths: IntCounterVec,
    pub rejected_notes: IntCounterVec,
    pub rejected_requests: IntCounterVec,
    pub identity_rejections: IntCounterVec,
    pub index_notes: IntGauge,
    /// `vaultgate_backend_http_request_duration_seconds{route,method}`.
    pub http_duration: HistogramVec,
    /// Bytes of the index directory (databases and their journals), set at each scrape.
    pub index_bytes: IntGauge,
    /// How long the last reconciliation of the index with the vault took.
    pub last_reindex_duration: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "vaultgate_backend_http_requests_total",
                "Requests that reached the backend's main listener, by route and status.",
            ),
            &["route", "status"],
        )
        .expect("valid metric");
        let tool_calls = IntCounterVec::new(
            Opts::new(
                "vaultgate_backend_tool_calls_total",
                "MCP tool calls by tool and outcome.",
            ),
            &["tool", "outcome"],
        )
        .expect("valid metric");
        let tool_duration = HistogramVec::new(
            HistogramOpts::new("vaultgate_backend_tool_duration_seconds", "MCP tool call duration.").buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["tool"],
        )
        .expect("valid metric");
        let rejected_paths = IntCounterVec::new(
            Opts::new(
                "vaultgate_backend_rejected_paths_total",
                "Note paths refused by the validator, by reason.",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let rejected_notes = IntCounterVec::new(
            Opts::new(
                "vaultgate_backend_rejected_notes_total",
                "Note texts refused by a per-note limit (front matter, YAML anchors, links, tags), by reason.",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let rejected_requests = IntCounterVec::new(
            Opts::new(
                "vaultgate_backend_rejected_requests_total",
                "Requests the bulkhead refused or cut short (pool full, user busy, over the time budget), by reason.",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let identity_rejections = IntCounterVec::new(
            Opts::new(
                "vaultgate_backend_identity_rejections_total",
                "Requests refused because their identity assertion was missing or invalid, by reason.",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let index_notes =
            IntGauge::new("vaultgate_backend_index_notes", "Notes in the index, all users.").expect("valid metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "vaultgate_backend_http_request_duration_seconds",
                "Time to the response head on the backend's main listener, by route and method.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["route", "method"],
        )
        .expect("valid metric");
        let index_bytes = IntGauge::new(
            "vaultgate_backend_index_bytes",
            "Bytes on disk of the index directory (every user's database with its journal).",
        )
        .expect("valid metric");
        let last_reindex_duration = Gauge::new(
            "vaultgate_backend_last_reindex_duration_seconds",
            "How long the last reconciliation of the index with the vault files took.",
        )
        .expect("valid metric");
        let build_info = IntGaugeVec::new(
            Opts::new(
                "vaultgate_backend_build_info",
                "Always 1; the labels name the running build.",
            ),
            &["version", "commit"],
        )
        .expect("valid metric");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), vaultgate_shared::COMMIT])
            .set(1);
        for c in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(index_bytes.clone()),
            Box::new(last_reindex_duration.clone()),
            Box::new(build_info),
            Box::new(tool_calls.clone()),
            Box::new(tool_duration.clone()),
            Box::new(rejected_paths.clone()),
            Box::new(rejected_notes.clone()),
            Box::new(rejected_requests.clone()),
            Box::new(identity_rejections.clone()),
            Box::new(index_notes.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        // process_* (CPU seconds, resident and virtual memory, open and maximum fds, threads,
        // start time), read from /proc at each scrape.
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))
            .expect("process_* names are not ours");
        // Pre-registered so that the first rejection after a start is visible to increase()
        // and the alerts on these counters fire on it.
        for reason in crate::vault::paths::REJECTION_REASONS {
            rejected_paths.with_label_values(&[reason]);
        }
        for reason in crate::notes::limits::NOTE_REJECTION_REASONS {
            rejected_notes.with_label_values(&[reason]);
        }
        for reason in crate::bulkhead::REJECTION_REASONS {
            rejected_requests.with_label_values(&[reason]);
        }
        for reason in vaultgate_shared::identity::REJECTION_REASONS {
            identity_rejections.with_label_values(&[reason]);
        }
        Self {
            registry,
            http_requests,
            tool_calls,
            tool_duration,
            rejected_paths,
            rejected_notes,
            rejected_requests,
            identity_rejections,
            index_notes,
            http_duration,
            index_bytes,
            last_reindex_duration,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        buf
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
