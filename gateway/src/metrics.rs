//! The gateway's Prometheus metrics. Names and labels are a public interface (the
//! dashboards and alerts use them): see docs/operations.md. Labels are
//! low-cardinality only — never a user, token, session or path.

pub mod labels;

use std::sync::OnceLock;
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use strum::{AsRefStr, EnumCount, EnumIter, IntoEnumIterator, IntoStaticStr};

use self::labels::{ActiveWindow, SessionRejection, SignInOutcome, TokenVia};
use crate::auth::AuthReason;
use crate::ratelimit::Scope;
use crate::routes::{Route, RouteLabel};
use crate::sessions::Era;
use crate::sessions::era::{self, RpcMethod};
use crate::state::{StateBackend, StateOp};
use crate::upstream::UpstreamFailure;
use crate::usage::Usage;

/// The `reason` labels of `vaultgate_gateway_auth_failures_total`: the counted [`AuthReason`]s.
fn counted_auth_reasons() -> impl Iterator<Item = &'static str> {
    AuthReason::ALL
        .into_iter()
        .filter(|r| r.counted())
        .map(AuthReason::label)
}

/// All gateway metrics in one registry.
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub request_duration: HistogramVec,
    pub upstream_duration: HistogramVec,
    pub(crate) auth_failures: IntCounterVec,
    pub(crate) session_rejections: IntCounterVec,
    pub(crate) rate_limited: IntCounterVec,
    pub sessions_active: IntGauge,
    pub sessions_created: IntCounter,
    pub(crate) tokens_issued: IntCounterVec,
    pub(crate) upstream_errors: IntCounterVec,
    pub mcp_requests: IntCounterVec,
    pub active_users: IntGaugeVec,
    pub state_errors: IntCounterVec,
    pub(crate) signins: IntCounterVec,
    hot: HotSeries,
}

const ROUTES: usize = RouteLabel::COUNT;
const METHODS: usize = HttpMethod::COUNT;
const RPC_METHODS: usize = era::METHOD_LABELS.len();

/// The series every proxied request touches, each resolved from its vec once, on first use.
/// `with_label_values` hashes the label values and takes the vec's lock on every call (four
/// calls per request, ≈ 0.3 µs of the gateway's CPU per request in the profile); an array
/// indexed by route, method and era does neither. Resolving on first use (not at start)
/// keeps the exposition exactly as before: a series appears once it has counted something.
struct HotSeries {
    /// `requests_total{route, method, status="200"}`; other statuses take the vec.
    ok: [[OnceLock<IntCounter>; METHODS]; ROUTES],
    duration: [OnceLock<Histogram>; ROUTES],
    upstream: [OnceLock<Histogram>; ROUTES],
    /// `mcp_requests_total{era, method}`, legacy then modern.
    mcp: [[OnceLock<IntCounter>; RPC_METHODS]; 2],
}

impl HotSeries {
    fn new() -> Self {
        Self {
            ok: [const { [const { OnceLock::new() }; METHODS] }; ROUTES],
            duration: [const { OnceLock::new() }; ROUTES],
            upstream: [const { OnceLock::new() }; ROUTES],
            mcp: [const { [const { OnceLock::new() }; RPC_METHODS] }; 2],
        }
    }
}

const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("static metric definition");
    r.register(Box::new(c.clone())).expect("metric registered once");
    c
}

fn histogram(r: &Registry, name: &str, help: &str) -> HistogramVec {
    let h = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
        &["route"],
    )
    .expect("static metric definition");
    r.register(Box::new(h.clone())).expect("metric registered once");
    h
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let r = Registry::new();
        let m = Self {
            requests: counter(
                &r,
                "vaultgate_gateway_requests_total",
                "Requests answered, by route, method and status.",
                &["route", "method", "status"],
            ),
            request_duration: histogram(
                &r,
                "vaultgate_gateway_request_duration_seconds",
                "Time from request to the end of the response.",
            ),
            upstream_duration: histogram(
                &r,
                "vaultgate_gateway_upstream_duration_seconds",
                "Time spent waiting for the backend.",
            ),
            auth_failures: counter(
                &r,
                "vaultgate_gateway_auth_failures_total",
                "Refused authentications, by reason.",
                &["reason"],
            ),
            session_rejections: counter(
                &r,
                "vaultgate_gateway_session_rejections_total",
                "Refused MCP session ids, by reason.",
                &["reason"],
            ),
            rate_limited: counter(
                &r,
                "vaultgate_gateway_rate_limited_total",
                "Requests refused with 429, by scope.",
                &["scope"],
            ),
            sessions_active: {
                let g = IntGauge::new("vaultgate_gateway_sessions_active", "Live legacy MCP sessions.")
                    .expect("static metric");
                r.register(Box::new(g.clone())).expect("metric registered once");
                g
            },
            sessions_created: {
                let c = IntCounter::new(
                    "vaultgate_gateway_sessions_created_total",
                    "Legacy MCP sessions created.",
                )
                .expect("static metric");
                r.register(Box::new(c.clone())).expect("metric registered once");
                c
            },
            tokens_issued: counter(
                &r,
                "vaultgate_gateway_tokens_issued_total",
                "Gateway tokens minted, by how.",
                &["via"],
            ),
            upstream_errors: counter(
                &r,
                "vaultgate_gateway_upstream_errors_total",
                "Failures talking to the backend, by kind.",
                &["kind"],
            ),
            mcp_requests: counter(
                &r,
                "vaultgate_gateway_mcp_requests_total",
                "MCP requests, by protocol era and JSON-RPC method.",
                &["era", "method"],
            ),
            active_users: {
                let g = IntGaugeVec::new(
                    Opts::new("vaultgate_gateway_active_users", "Distinct users seen in the window."),
                    &["window"],
                )
                .expect("static metric");
                r.register(Box::new(g.clone())).expect("metric registered once");
                g
            },
            state_errors: counter(
                &r,
                "vaultgate_gateway_state_errors_total",
                "State store failures, by store and operation.",
                &["backend", "op"],
            ),
            signins: counter(
                &r,
                "vaultgate_gateway_signins_total",
                "Browser sign-ins (Hugging Face OAuth or local), by outcome.",
                &["outcome"],
            ),
            registry: r,
            hot: HotSeries::new(),
        };
        // process_* (CPU seconds, resident and virtual memory, open and maximum fds, threads,
        // start time), read from /proc at each scrape.
        #[cfg(target_os = "linux")]
        m.registry
            .register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))
            .expect("process_* names are not ours");
        let build_info = IntGaugeVec::new(
            Opts::new(
                "vaultgate_gateway_build_info",
                "Always 1; the labels name the running build.",
            ),
            &["version", "commit"],
        )
        .expect("static metric");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), vaultgate_shared::COMMIT])
            .set(1);
        m.registry
            .register(Box::new(build_info))
            .expect("metric registered once");
        // Every label set is pre-registered from its enum, so dashboards see zeros.
        for reason in counted_auth_reasons() {
            m.auth_failures.with_label_values(&[reason]);
        }
        for reason in SessionRejection::iter() {
            m.session_rejections.with_label_values(&[reason]);
        }
        for scope in Scope::iter() {
            m.rate_limited.with_label_values(&[scope]);
        }
        for via in TokenVia::iter() {
            m.tokens_issued.with_label_values(&[via]);
        }
        for outcome in SignInOutcome::iter() {
            m.signins.with_label_values(&[outcome]);
        }
        for kind in UpstreamFailure::iter() {
            m.upstream_errors.with_label_values(&[kind]);
        }
        m
    }

    /// Pre-registers the state-error series of the store in use, so an alert has a series to watch.
    pub fn register_state_backend(&self, backend: StateBackend) {
        for op in StateOp::iter().filter(|op| op.is_counted()) {
            self.state_errors.with_label_values(&[backend.as_ref(), op.as_ref()]);
        }
    }

    /// Counts one refused authentication.
    pub fn auth_failure(&self, reason: AuthReason) {
        self.auth_failures.with_label_values(&[reason.label()]).inc();
    }

    /// Counts one refused MCP session id.
    pub fn session_rejected(&self, reason: SessionRejection) {
        self.session_rejections.with_label_values(&[reason]).inc();
    }

    /// Counts one request refused with 429.
    pub fn limited(&self, scope: Scope) {
        self.rate_limited.with_label_values(&[scope]).inc();
    }

    /// Counts one gateway token minted.
    pub fn token_issued(&self, via: TokenVia) {
        self.tokens_issued.with_label_values(&[via]).inc();
    }

    /// Counts one browser sign-in by outcome.
    pub fn signin(&self, outcome: SignInOutcome) {
        self.signins.with_label_values(&[outcome]).inc();
    }

    /// Counts one failure talking to the backend.
    pub fn upstream_error(&self, kind: UpstreamFailure) {
        self.upstream_errors.with_label_values(&[kind]).inc();
    }

    /// Records one finished request.
    pub fn observe_request(&self, route: Route, method: HttpMethod, status: u16, elapsed: Duration) {
        let r = route.group() as usize;
        if status == 200 {
            self.hot.ok[r][method as usize]
                .get_or_init(|| self.requests.with_label_values(&[route.label(), method.label(), "200"]))
                .inc();
        } else {
            let buf = itoa_status(status);
            let status = std::str::from_utf8(&buf).unwrap_or("000");
            self.requests
                .with_label_values(&[route.label(), method.label(), status])
                .inc();
        }
        self.hot.duration[r]
            .get_or_init(|| self.request_duration.with_label_values(&[route.label()]))
            .observe(elapsed.as_secs_f64());
    }

    /// Records the time one request waited for the backend.
    pub fn observe_upstream(&self, route: Route, elapsed: Duration) {
        self.hot.upstream[route.group() as usize]
            .get_or_init(|| self.upstream_duration.with_label_values(&[route.label()]))
            .observe(elapsed.as_secs_f64());
    }

    /// Counts one MCP request by era and JSON-RPC method.
    pub fn count_mcp(&self, era: Era, method: RpcMethod) {
        let e = match era {
            Era::Legacy => 0,
            Era::Modern => 1,
        };
        self.hot.mcp[e][method.index()]
            .get_or_init(|| self.mcp_requests.with_label_values(&[era.label(), method.label()]))
            .inc();
    }

    /// The Prometheus text exposition of every metric, with the gauges that are
    /// computed on demand (active users, live sessions) brought up to date.
    pub fn render(&self, usage: &Usage, sessions_active: u64) -> Vec<u8> {
        let (hour, day) = usage.active();
        for (window, n) in [(ActiveWindow::Hour, hour), (ActiveWindow::Day, day)] {
            self.active_users.with_label_values(&[window]).set(n as i64);
        }
        self.sessions_active.set(sessions_active as i64);
        let mut out = Vec::with_capacity(16 * 1024);
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn itoa_status(status: u16) -> [u8; 3] {
    let s = status.min(999);
    [
        b'0' + (s / 100) as u8,
        b'0' + (s / 10 % 10) as u8,
        b'0' + (s % 10) as u8,
    ]
}

/// The `method` label of `requests_total`: the common methods by name, anything else `other`
/// (so a client cannot mint series). The hot series are indexed by it (`as usize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, EnumCount, IntoStaticStr, AsRefStr)]
#[strum(serialize_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Delete,
    Patch,
    Head,
    Options,
    #[strum(serialize = "other")]
    Other,
}

impl HttpMethod {
    /// The label of `m` (`other` for anything but the common methods).
    pub fn of(m: &http::Method) -> Self {
        match *m {
            http::Method::GET => Self::Get,
            http::Method::POST => Self::Post,
            http::Method::PUT => Self::Put,
            http::Method::DELETE => Self::Delete,
            http::Method::PATCH => Self::Patch,
            http::Method::HEAD => Self::Head,
            http::Method::OPTIONS => Self::Options,
            _ => Self::Other,
        }
    }

    /// The metric label.
    pub fn label(self) -> &'static str {
        self.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every label string on the wire, per set: dashboards and alerts match on these, so a
    /// renamed variant must fail here rather than silently start a new series.
    #[test]
    fn every_label_string_is_pinned() {
        fn all<T: IntoEnumIterator + Into<&'static str>>() -> Vec<&'static str> {
            T::iter().map(Into::into).collect()
        }
        let table: [(&str, Vec<&str>, &[&str]); 12] = [
            (
                "route",
                all::<RouteLabel>(),
                &[
                    "healthz",
                    "readyz",
                    "metrics",
                    "auth",
                    "page",
                    "signin",
                    "metadata",
                    "mcp",
                    "api",
                    "other",
                    "public",
                    "not_routed",
                    "ambiguous_path",
                ],
            ),
            (
                "method",
                all::<HttpMethod>(),
                &["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "other"],
            ),
            (
                "auth_failures reason",
                counted_auth_reasons().collect(),
                &[
                    "missing",
                    "malformed",
                    "bad_signature",
                    "expired",
                    "not_yet_valid",
                    "wrong_issuer",
                    "wrong_audience",
                    "bad_subject",
                    "revoked",
                    "hf_rejected",
                    "too_large",
                    "not_allowed",
                ],
            ),
            (
                "session_rejections reason",
                all::<SessionRejection>(),
                &["missing", "unknown", "expired", "wrong_user"],
            ),
            ("scope", all::<Scope>(), &["user", "ip", "auth_failure"]),
            (
                "via",
                all::<TokenVia>(),
                &["oauth", "exchange", "refresh", "cli", "local"],
            ),
            (
                "outcome",
                all::<SignInOutcome>(),
                &[
                    "success",
                    "denied",
                    "bad_state",
                    "provider_error",
                    "forbidden",
                    "bad_subject",
                    "local",
                ],
            ),
            (
                "kind",
                all::<UpstreamFailure>(),
                &["connect", "timeout", "reset", "resolve"],
            ),
            ("window", all::<ActiveWindow>(), &["1h", "24h"]),
            ("backend", all::<StateBackend>(), &["memory", "sqlite", "redis"]),
            (
                "op",
                all::<StateOp>(),
                &[
                    "create",
                    "lookup",
                    "end",
                    "end_user",
                    "revoke",
                    "touch",
                    "revoke_user",
                    "revocation_check",
                    "rate_limit",
                    "list",
                    "watch",
                    "health",
                    "open",
                ],
            ),
            (
                "era",
                [Era::Legacy, Era::Modern].map(Era::label).to_vec(),
                &["legacy", "modern"],
            ),
        ];
        for (set, got, want) in table {
            assert_eq!(got, want, "the {set} labels");
        }
        // Each route counts under its group's label, and the hot arrays are indexed by it.
        for (route, label) in [
            (Route::AuthToken, "auth"),
            (Route::AuthSession, "auth"),
            (Route::SignInLocal, "signin"),
            (Route::ResourceMetadata, "metadata"),
            (Route::AmbiguousPath, "ambiguous_path"),
        ] {
            assert_eq!(route.label(), label);
        }
        for (i, label) in RouteLabel::iter().enumerate() {
            assert_eq!(label as usize, i, "{label:?}");
        }
        for (i, method) in HttpMethod::iter().enumerate() {
            assert_eq!(method as usize, i, "{method:?}");
        }
    }

    /// Each typed method counts under its enum's label string.
    #[test]
    fn typed_methods_count_under_their_label() {
        let m = Metrics::new();
        m.auth_failure(AuthReason::NotYetValid);
        m.session_rejected(SessionRejection::WrongUser);
        m.limited(Scope::AuthFailure);
        m.token_issued(TokenVia::Exchange);
        m.signin(SignInOutcome::ProviderError);
        m.upstream_error(UpstreamFailure::Resolve);
        let text = String::from_utf8(m.render(&Usage::new(), 0)).unwrap();
        for line in [
            "vaultgate_gateway_auth_failures_total{reason=\"not_yet_valid\"} 1",
            "vaultgate_gateway_session_rejections_total{reason=\"wrong_user\"} 1",
            "vaultgate_gateway_rate_limited_total{scope=\"auth_failure\"} 1",
            "vaultgate_gateway_tokens_issued_total{via=\"exchange\"} 1",
            "vaultgate_gateway_signins_total{outcome=\"provider_error\"} 1",
            "vaultgate_gateway_upstream_errors_total{kind=\"resolve\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}");
        }
    }

    /// Every pre-registered series is exposed at zero before anything is counted.
    #[test]
    fn every_label_set_is_pre_registered() {
        let m = Metrics::new();
        m.register_state_backend(StateBackend::Sqlite);
        let text = String::from_utf8(m.render(&Usage::new(), 0)).unwrap();
        let mut want: Vec<String> = Vec::new();
        let mut series = |name: &str, label: &str, values: Vec<&str>| {
            for v in values {
                want.push(format!("vaultgate_gateway_{name}{{{label}=\"{v}\"}} 0"));
            }
        };
        fn all<T: IntoEnumIterator + Into<&'static str>>() -> Vec<&'static str> {
            T::iter().map(Into::into).collect()
        }
        series("auth_failures_total", "reason", counted_auth_reasons().collect());
        series("session_rejections_total", "reason", all::<SessionRejection>());
        series("rate_limited_total", "scope", all::<Scope>());
        series("tokens_issued_total", "via", all::<TokenVia>());
        series("signins_total", "outcome", all::<SignInOutcome>());
        series("upstream_errors_total", "kind", all::<UpstreamFailure>());
        for op in StateOp::iter().filter(|op| op.is_counted()) {
            let op: &str = op.into();
            want.push(format!(
                "vaultgate_gateway_state_errors_total{{backend=\"sqlite\",op=\"{op}\"}} 0"
            ));
        }
        for line in &want {
            assert!(text.lines().any(|l| l == line), "missing {line}");
        }
        assert!(
            !text.contains("op=\"open\""),
            "open failures stop the start and are not counted"
        );
    }

    #[test]
    fn every_design_metric_is_exposed() {
        let m = Metrics::new();
        m.register_state_backend(StateBackend::Memory);
        m.observe_request(
            Route::Mcp,
            HttpMethod::of(&http::Method::POST),
            200,
            Duration::from_millis(3),
        );
        m.observe_request(
            Route::Mcp,
            HttpMethod::of(&http::Method::POST),
            404,
            Duration::from_millis(3),
        );
        m.observe_upstream(Route::Mcp, Duration::from_millis(1));
        m.count_mcp(Era::Legacy, RpcMethod::of(Some("initialize")));
        m.state_errors.with_label_values(&["memory", "get"]).inc();
        let usage = Usage::new();
        usage.record(&vaultgate_shared::UserId::parse("alice").unwrap());
        let text = String::from_utf8(m.render(&usage, 0)).unwrap();
        for name in [
            "vaultgate_gateway_requests_total{method=\"POST\",route=\"mcp\",status=\"200\"} 1",
            "vaultgate_gateway_requests_total{method=\"POST\",route=\"mcp\",status=\"404\"} 1",
            "vaultgate_gateway_request_duration_seconds_count{route=\"mcp\"} 2",
            "vaultgate_gateway_request_duration_seconds_bucket",
            "vaultgate_gateway_upstream_duration_seconds_bucket",
            "vaultgate_gateway_auth_failures_total{reason=\"too_large\"} 0",
            "vaultgate_gateway_session_rejections_total{reason=\"wrong_user\"} 0",
            "vaultgate_gateway_rate_limited_total{scope=\"auth_failure\"} 0",
            "vaultgate_gateway_sessions_active 0",
            "vaultgate_gateway_sessions_created_total 0",
            "vaultgate_gateway_tokens_issued_total{via=\"cli\"} 0",
            "vaultgate_gateway_upstream_errors_total{kind=\"reset\"} 0",
            "vaultgate_gateway_mcp_requests_total{era=\"legacy\",method=\"initialize\"} 1",
            "vaultgate_gateway_active_users{window=\"1h\"} 1",
            "vaultgate_gateway_active_users{window=\"24h\"} 1",
            "vaultgate_gateway_state_errors_total{backend=\"memory\",op=\"get\"} 1",
        ] {
            assert!(text.contains(name), "missing {name}");
        }
        assert!(!text.contains("alice"));
    }
}
