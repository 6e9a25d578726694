//! The one test harness of vaultgate, for the end-to-end tests (`tests/tests/`) and the
//! backend's integration tests (`backend/tests/`, a dev-dependency of the backend): starts the
//! real `vaultgate-gateway` and `vaultgate-backend` binaries (or a recording echo upstream) on
//! free loopback ports, waits for them, talks to them, and stops them when dropped.
//!
//! Binaries are taken from `$VAULTGATE_BIN_DIR`, else from the cargo target directory
//! this test executable lives in (build them first: `cargo build --workspace`; the backend's
//! own tests get its binary built by cargo). This crate must never depend on
//! `vaultgate-backend`: it would then be built twice, with two copies of its types.

pub mod backend;
pub mod echo;
pub mod mcp;
pub mod oidc;
pub mod otlp;
pub mod redis;
pub mod serve;
pub mod tokens;
pub mod tools;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use backend::{Backend, tree};

/// A secret good for both HMAC keys (≥ 32 bytes).
pub const IDENTITY_SECRET: &str = "test-identity-secret-0123456789abcdef-xyz";
/// The gateway token key used by tests.
pub const JWT_SECRET: &str = "test-jwt-secret-0123456789abcdef-0123456789";

/// Every documented metric (docs/operations.md; names are a public interface).
pub const DESIGN_METRICS: [&str; 18] = [
    "vaultgate_gateway_requests_total",
    "vaultgate_gateway_request_duration_seconds",
    "vaultgate_gateway_upstream_duration_seconds",
    "vaultgate_gateway_auth_failures_total",
    "vaultgate_gateway_session_rejections_total",
    "vaultgate_gateway_rate_limited_total",
    "vaultgate_gateway_sessions_active",
    "vaultgate_gateway_sessions_created_total",
    "vaultgate_gateway_tokens_issued_total",
    "vaultgate_gateway_upstream_errors_total",
    "vaultgate_gateway_mcp_requests_total",
    "vaultgate_gateway_active_users",
    "vaultgate_gateway_state_errors_total",
    "vaultgate_backend_tool_calls_total",
    "vaultgate_backend_tool_duration_seconds",
    "vaultgate_backend_rejected_paths_total",
    "vaultgate_backend_identity_rejections_total",
    "vaultgate_backend_index_notes",
];

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// Where the workspace's binaries are.
pub fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("VAULTGATE_BIN_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test> → target/<profile>
    exe.parent().and_then(Path::parent).expect("target dir").to_path_buf()
}

/// Path of binary `name`, failing with a helpful message when it was not built.
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} not found: run `cargo build --workspace` first (or set VAULTGATE_BIN_DIR)",
        p.display()
    );
    p
}

/// A child process killed on drop, with its stderr captured to a file for diagnosis.
pub struct Proc {
    child: Child,
    pub log: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Proc {
    /// Starts `cmd` with stderr to a temporary log file.
    pub fn spawn(mut cmd: Command, label: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join(format!("{label}.log"));
        let f = std::fs::File::create(&log).expect("log file");
        cmd.stdout(Stdio::null()).stderr(f).stdin(Stdio::null());
        let child = cmd.spawn().unwrap_or_else(|e| panic!("starting {label}: {e}"));
        Self {
            child,
            log,
            _dir: Some(dir),
        }
    }

    /// What the process has logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The OS process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGKILL and waits.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits up to `limit` for exit; returns the exit status if it exited.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A blocking HTTP client with short timeouts and no proxy.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

/// Polls `url` until it answers 200, or panics with the process log after `limit`.
pub fn wait_ready(url: &str, proc_: &mut Proc, limit: Duration) {
    let c = client();
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(r) = c.get(url).timeout(Duration::from_millis(500)).send()
            && r.status().is_success()
        {
            return;
        }
        if !proc_.alive() {
            panic!("process exited before {url} was ready:\n{}", proc_.logs());
        }
        if Instant::now() > deadline {
            panic!("{url} not ready after {limit:?}:\n{}", proc_.logs());
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Starts `cmd` and waits up to `limit` until `/healthz` on `port` answers 200.
fn spawn_healthy(cmd: Command, label: &str, port: u16, limit: Duration) -> Proc {
    let mut proc_ = Proc::spawn(cmd, label);
    wait_ready(&format!("http://127.0.0.1:{port}/healthz"), &mut proc_, limit);
    proc_
}

/// Sums every sample of `name` in a Prometheus text exposition.
pub fn sum_metric(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(name) && (l[name.len()..].starts_with('{') || l[name.len()..].starts_with(' ')))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// The value of one sample, e.g. `metric(text, "x_total{reason=\"expired\"}")`.
pub fn metric(text: &str, sample: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(sample) && l[sample.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// A running gateway.
pub struct Gateway {
    pub proc_: Proc,
    pub port: u16,
    pub admin_port: u16,
    backend_url: String,
    env: Vec<(String, String)>,
    /// Holds the SQLite state file (`GATEWAY_STATE_PATH`) for the gateway's lifetime.
    pub state: std::sync::Arc<tempfile::TempDir>,
}

impl Gateway {
    /// Starts the gateway in front of `backend_url` with the test secrets and extra environment.
    pub fn start(backend_url: &str, env: &[(&str, &str)]) -> Self {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let state = std::sync::Arc::new(tempfile::tempdir().expect("tempdir"));
        Self::launch(backend_url, env, free_port(), free_port(), state)
    }

    /// Stops this gateway and starts a new process on the same ports, settings and state file.
    pub fn restart(self) -> Self {
        let Gateway {
            mut proc_,
            port,
            admin_port,
            backend_url,
            env,
            state,
        } = self;
        proc_.kill();
        Self::launch(&backend_url, env, port, admin_port, state)
    }

    fn launch(
        backend_url: &str,
        env: Vec<(String, String)>,
        port: u16,
        admin_port: u16,
        state: std::sync::Arc<tempfile::TempDir>,
    ) -> Self {
        let mut cmd = Command::new(bin("vaultgate-gateway"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("IDENTITY_SECRET", IDENTITY_SECRET)
            .env("JWT_SECRET_KEY", JWT_SECRET)
            .env("PORT", port.to_string())
            .env("LISTEN_HOST", "127.0.0.1")
            .env("ADMIN_ADDR", format!("127.0.0.1:{admin_port}"))
            .env("BACKEND_URL", backend_url)
            .env("PUBLIC_URL", format!("http://localhost:{port}"))
            .env("GATEWAY_STATE_PATH", state.path().join("gateway.db"))
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info");
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let proc_ = spawn_healthy(cmd, "gateway", port, Duration::from_secs(30));
        Self {
            proc_,
            port,
            admin_port,
            backend_url: backend_url.to_owned(),
            env,
            state,
        }
    }

    /// The public base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The token issuer this gateway expects (its PUBLIC_URL).
    pub fn issuer(&self) -> String {
        format!("http://localhost:{}", self.port)
    }

    /// A valid token for `user`.
    pub fn token(&self, user: &str) -> String {
        tokens::TokenSpec::valid(user, &self.issuer()).sign()
    }

    /// The admin listener's metrics text.
    pub fn metrics(&self) -> String {
        client()
            .get(format!("http://127.0.0.1:{}/metrics", self.admin_port))
            .send()
            .and_then(|r| r.text())
            .unwrap_or_default()
    }

    /// A `tools/list` JSON-RPC POST (id 42, protocol 2026-07-28) to `/mcp{query}`, with extra
    /// `headers` such as `Authorization`.
    pub fn mcp_post(&self, headers: &[(&str, &str)], query: &str) -> reqwest::blocking::Response {
        const MODERN: [(&str, &str); 3] = [
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "tools/list"),
            ("Accept", "application/json, text/event-stream"),
        ];
        let mut rb = client()
            .post(format!("{}/mcp{query}", self.url()))
            .header("Content-Type", "application/json");
        for (k, v) in MODERN.iter().chain(headers.iter()) {
            rb = rb.header(*k, *v);
        }
        rb.body(r#"{"jsonrpc":"2.0","id":42,"method":"tools/list"}"#)
            .send()
            .expect("request")
    }

    /// Asserts that the backend being unreachable answers `/mcp` (see [`Gateway::mcp_post`]) with
    /// a 502 JSON-RPC error and a REST route with a 502 in the shared error body.
    pub fn assert_upstream_502(&self, auth: &str) {
        assert_mcp_502(self.mcp_post(&[("Authorization", auth)], ""));
        self.assert_rest_502(auth);
    }

    /// Asserts that a REST route (`GET /api/notes`) answers 502 with the shared error body.
    pub fn assert_rest_502(&self, auth: &str) {
        let r = client()
            .get(format!("{}/api/notes", self.url()))
            .header("Authorization", auth)
            .send()
            .expect("request");
        assert_eq!(r.status(), 502);
        assert_eq!(
            r.json::<serde_json::Value>().expect("JSON body")["error"],
            "upstream_error"
        );
    }

    /// Audit lines (JSON) logged so far.
    pub fn audit_lines(&self) -> Vec<serde_json::Value> {
        self.proc_
            .logs()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["target"] == "audit")
            .collect()
    }
}

/// Asserts that an `/mcp` answer is the gateway's 502: a JSON-RPC error with a message.
pub fn assert_mcp_502(r: reqwest::blocking::Response) {
    assert_eq!(r.status(), 502);
    let body: serde_json::Value = r.json().expect("JSON body");
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
}

/// The median of benchmark rounds (NaN for none): the bench programs report medians, never means.
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
