//! The real `vaultgate-backend` binary on free loopback ports over a temporary data directory,
//! and the calls the tests make to it with real identity assertions: REST, raw bytes on a
//! socket, MCP JSON-RPC and tool calls, metrics. The backend's own integration tests
//! (`backend/tests/`) and the end-to-end tests share this one harness.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use vaultgate_shared::UserId;
use vaultgate_shared::headers::{IDENTITY, USER};
use vaultgate_shared::identity::{IdentityKey, sign_identity};

use crate::{IDENTITY_SECRET, Proc, bin, free_port, spawn_healthy, sum_metric};

/// How long a backend may take to answer `/healthz` (a ceiling for a loaded machine, not a
/// measurement).
const START_LIMIT: Duration = Duration::from_secs(180);
/// How long a backend may take to exit after SIGTERM.
const STOP_LIMIT: Duration = Duration::from_secs(120);

/// A running backend; killed when dropped.
pub struct Backend {
    /// The process (replaced by [`Backend::launch`]).
    pub proc_: Proc,
    pub port: u16,
    pub admin_port: u16,
    /// The data directory: `vaults/` and the index.
    pub data: PathBuf,
    _dir: tempfile::TempDir,
    /// The key the identity assertions are signed with ([`IDENTITY_SECRET`]).
    pub key: IdentityKey,
    /// The client of [`Backend::rest`], [`Backend::mcp`] and the rest (long timeout: a loaded
    /// machine is slow, and a hung request still fails the test).
    pub client: Client,
    env: Vec<(String, String)>,
}

impl Backend {
    /// Starts the real backend with fresh data on free ports.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts the real backend with fresh data and extra environment.
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        Self::start_in(tempfile::tempdir().expect("tempdir"), env)
    }

    /// Starts the real backend whose vaults already hold what `seed` wrote before the first start.
    pub fn start_seeded(env: &[(&str, &str)], seed: impl FnOnce(&Path)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        seed(&dir.path().join("vaults"));
        Self::start_in(dir, env)
    }

    /// Starts the real backend over `data` with extra environment.
    pub fn start_in(data: tempfile::TempDir, env: &[(&str, &str)]) -> Self {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let (proc_, port, admin_port) = spawn(data.path(), &env);
        Self {
            proc_,
            port,
            admin_port,
            data: data.path().to_path_buf(),
            _dir: data,
            key: IdentityKey::new(IDENTITY_SECRET.as_bytes()).expect("identity key"),
            client: Client::builder()
                .timeout(Duration::from_secs(60))
                .no_proxy()
                .build()
                .expect("client"),
            env,
        }
    }

    /// Starts the process again on the same data directory (on new ports) and waits until it
    /// answers; a process still running is killed first.
    pub fn launch(&mut self) {
        self.proc_.kill();
        let (proc_, port, admin_port) = spawn(&self.data, &self.env);
        (self.proc_, self.port, self.admin_port) = (proc_, port, admin_port);
    }

    /// SIGTERM, then the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.proc_
            .terminate(STOP_LIMIT)
            .expect("vaultgate-backend did not exit after SIGTERM")
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(&mut self) {
        self.proc_.kill();
    }

    /// The backend's URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The admin listener's URL (`/metrics`).
    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }

    /// Where the users' vaults are.
    pub fn vaults(&self) -> PathBuf {
        self.data.join("vaults")
    }

    /// One user's vault.
    pub fn user_dir(&self, user: &str) -> PathBuf {
        self.vaults().join(user)
    }

    /// The running process's id.
    pub fn pid(&self) -> u32 {
        self.proc_.pid()
    }

    /// A field of `/proc/<pid>/status` in KiB, e.g. `VmRSS` or `VmHWM` (peak RSS).
    pub fn memory_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{field} not in /proc status"))
    }

    /// How many file descriptors the backend process holds now (Linux `/proc`).
    pub fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map_or(0, |d| d.count())
    }

    /// The identity headers of `user`, signed as the gateway signs them.
    pub fn identity(&self, user: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let id = UserId::parse(user).expect("user id");
        h.insert(IDENTITY, sign_identity(&self.key, &id, None).parse().expect("header"));
        h.insert(USER, user.parse().expect("header"));
        h
    }

    /// A REST call; returns status, headers and the JSON body (Null when not JSON).
    pub fn rest(&self, user: &str, method: &str, path: &str, body: Option<Value>) -> (u16, HeaderMap, Value) {
        self.rest_with(self.identity(user), method, path, body)
    }

    /// A REST call with the given headers.
    pub fn rest_with(
        &self,
        headers: HeaderMap,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, HeaderMap, Value) {
        let mut req = self
            .client
            .request(method.parse().expect("method"), format!("{}{}", self.url(), path))
            .headers(headers);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().expect("request");
        let status = r.status().as_u16();
        let h = r.headers().clone();
        let text = r.text().expect("body");
        (status, h, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A request written byte for byte on a socket, so no client normalizes the target
    /// (`..`, `%2e`). Returns the status and the JSON body.
    pub fn raw(&self, user: &str, method: &str, target: &str, body: Option<&str>) -> (u16, Value) {
        use std::io::{Read, Write};
        let addr = format!("127.0.0.1:{}", self.port);
        let mut s = std::net::TcpStream::connect(&addr).expect("connect");
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        for (k, v) in self.identity(user).iter() {
            head.push_str(&format!("{}: {}\r\n", k, v.to_str().expect("header")));
        }
        let body = body.unwrap_or("");
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
        s.write_all(head.as_bytes()).expect("write");
        let mut out = Vec::new();
        s.read_to_end(&mut out).expect("read");
        let text = String::from_utf8_lossy(&out);
        let status: u16 = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let json = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .and_then(|b| {
                // Tolerate a chunked body: take the JSON object inside.
                let start = b.find('{')?;
                let end = b.rfind('}')?;
                serde_json::from_str(&b[start..=end]).ok()
            })
            .unwrap_or(Value::Null);
        (status, json)
    }

    /// A raw JSON-RPC POST to /mcp; returns status and the parsed body.
    pub fn mcp_with(&self, mut headers: HeaderMap, body: &Value) -> (u16, Value) {
        headers.insert("accept", "application/json, text/event-stream".parse().expect("header"));
        headers
            .entry("mcp-protocol-version")
            .or_insert("2025-06-18".parse().expect("header"));
        let r = self
            .client
            .post(format!("{}/mcp", self.url()))
            .headers(headers)
            .json(body)
            .send()
            .expect("request");
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = r.text().expect("body");
        let value = if ct.starts_with("text/event-stream") {
            text.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
                .find(|v| v.get("id").is_some())
                .unwrap_or(Value::Null)
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        (status, value)
    }

    /// A JSON-RPC call as `user` that must answer 200.
    pub fn mcp(&self, user: &str, method: &str, params: Value) -> Value {
        let (status, v) = self.mcp_with(
            self.identity(user),
            &json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}),
        );
        assert_eq!(status, 200, "{method}: {v}");
        v
    }

    /// Calls a tool; returns (is_error, structured content). Asserts the text item holds the same JSON.
    pub fn tool(&self, user: &str, name: &str, args: Value) -> (bool, Value) {
        let v = self.mcp(user, "tools/call", json!({"name": name, "arguments": args}));
        let result = v.get("result").unwrap_or_else(|| panic!("{name}: no result in {v}"));
        let is_error = result.get("isError").and_then(Value::as_bool).unwrap_or(false);
        let structured = result.get("structuredContent").cloned().unwrap_or(Value::Null);
        if !is_error {
            let text = result["content"][0]["text"].as_str().expect("text content");
            let parsed: Value = serde_json::from_str(text).expect("text content is JSON");
            assert_eq!(parsed, structured, "{name}: text and structured content differ");
        }
        (is_error, structured)
    }

    /// Calls a tool that must succeed.
    pub fn ok(&self, user: &str, name: &str, args: Value) -> Value {
        let (err, v) = self.tool(user, name, args.clone());
        assert!(!err, "{name}({args}) failed: {v}");
        v
    }

    /// Calls a tool that must fail with `code`.
    pub fn err(&self, user: &str, name: &str, args: Value, code: &str) -> Value {
        let (err, v) = self.tool(user, name, args.clone());
        assert!(err, "{name}({args}) should fail with {code}: {v}");
        assert_eq!(v["error"], code, "{name}({args}): {v}");
        v
    }

    /// The admin listener's metrics text.
    pub fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.admin_url()))
            .send()
            .and_then(|r| r.text())
            .expect("metrics")
    }

    /// The value of one metric sample (0 when absent), e.g. `metric(r#"x_total{a="b"}"#)`.
    pub fn metric(&self, sample: &str) -> f64 {
        crate::metric(&self.metrics(), sample)
    }

    /// Current value of `vaultgate_backend_http_requests_total` summed over labels.
    pub fn requests_seen(&self) -> u64 {
        let text = crate::client()
            .get(format!("{}/metrics", self.admin_url()))
            .send()
            .and_then(|r| r.text())
            .unwrap_or_default();
        sum_metric(&text, "vaultgate_backend_http_requests_total")
    }
}

/// Starts the backend binary over `data` on two free ports and waits until it answers.
fn spawn(data: &Path, env: &[(String, String)]) -> (Proc, u16, u16) {
    let port = free_port();
    let admin_port = free_port();
    let mut cmd = Command::new(bin("vaultgate-backend"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("IDENTITY_SECRET", IDENTITY_SECRET)
        .env("BACKEND_LISTEN", format!("127.0.0.1:{port}"))
        .env("BACKEND_ADMIN_ADDR", format!("127.0.0.1:{admin_port}"))
        .env("VAULT_BASE_PATH", data.join("vaults"))
        .env("DATABASE_PATH", data.join("index.db"))
        .env("RUST_LOG", "info");
    for (k, v) in env {
        cmd.env(k, v);
    }
    (spawn_healthy(cmd, "backend", port, START_LIMIT), port, admin_port)
}

/// Every file under `dir`, relative, sorted (to prove nothing was created).
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).expect("under dir").display().to_string());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}
