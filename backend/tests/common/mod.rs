//! Starts the real `vaultgate-backend` binary on free ports in a temporary directory and talks
//! to it over HTTP with real identity assertions.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use vaultgate_shared::UserId;
use vaultgate_shared::headers::{IDENTITY, USER};
use vaultgate_shared::identity::{IdentityKey, sign_identity};

pub const SECRET: &str = "backend-test-secret-0123456789-abcdefghijklmnop";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Backend {
    child: Option<Child>,
    pub url: String,
    pub admin: String,
    pub data: PathBuf,
    _dir: Option<tempfile::TempDir>,
    pub key: IdentityKey,
    pub client: Client,
    env: Vec<(String, String)>,
}

impl Backend {
    /// A backend on a fresh temporary directory.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    pub fn start_with(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_path_buf();
        let mut b = Self {
            child: None,
            url: String::new(),
            admin: String::new(),
            data,
            _dir: Some(dir),
            key: IdentityKey::new(SECRET.as_bytes()).unwrap(),
            client: Client::builder().timeout(Duration::from_secs(60)).build().unwrap(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        b.launch();
        b
    }

    pub fn vaults(&self) -> PathBuf {
        self.data.join("vaults")
    }

    pub fn user_dir(&self, user: &str) -> PathBuf {
        self.vaults().join(user)
    }

    /// Starts the process (again) on the same data directory and waits until it answers.
    pub fn launch(&mut self) {
        let port = free_port();
        let admin = free_port();
        self.url = format!("http://127.0.0.1:{port}");
        self.admin = format!("http://127.0.0.1:{admin}");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vaultgate-backend"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("IDENTITY_SECRET", SECRET)
            .env("BACKEND_LISTEN", format!("127.0.0.1:{port}"))
            .env("BACKEND_ADMIN_ADDR", format!("127.0.0.1:{admin}"))
            .env("VAULT_BASE_PATH", self.vaults())
            .env("DATABASE_PATH", self.data.join("index.db"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("start vaultgate-backend"));
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("vaultgate-backend exited early: {status}");
            }
            if let Ok(r) = self.client.get(format!("{}/healthz", self.url)).send()
                && r.status().is_success()
            {
                return;
            }
            assert!(Instant::now() < deadline, "vaultgate-backend did not become ready");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The running process's id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// A field of `/proc/<pid>/status` in KiB, e.g. `VmRSS` or `VmHWM` (peak RSS).
    pub fn memory_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
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

    /// A backend whose vault already holds files written by `seed` before the first start.
    pub fn start_seeded(env: &[(&str, &str)], seed: impl FnOnce(&Path)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        seed(&dir.path().join("vaults"));
        let mut b = Self {
            child: None,
            url: String::new(),
            admin: String::new(),
            data: dir.path().to_path_buf(),
            _dir: Some(dir),
            key: IdentityKey::new(SECRET.as_bytes()).unwrap(),
            client: Client::builder().timeout(Duration::from_secs(60)).build().unwrap(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        b.launch();
        b
    }

    /// SIGTERM, then wait for the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .unwrap();
        child.wait().unwrap()
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn identity(&self, user: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let id = UserId::parse(user).unwrap();
        h.insert(IDENTITY, sign_identity(&self.key, &id, None).parse().unwrap());
        h.insert(USER, user.parse().unwrap());
        h
    }

    /// A REST call; returns status, headers and the JSON body (Null when not JSON).
    pub fn rest(&self, user: &str, method: &str, path: &str, body: Option<Value>) -> (u16, HeaderMap, Value) {
        self.rest_with(self.identity(user), method, path, body)
    }

    pub fn rest_with(
        &self,
        headers: HeaderMap,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, HeaderMap, Value) {
        let mut req = self
            .client
            .request(method.parse().unwrap(), format!("{}{}", self.url, path))
            .headers(headers);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().unwrap();
        let status = r.status().as_u16();
        let h = r.headers().clone();
        let text = r.text().unwrap();
        (status, h, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A raw JSON-RPC POST to /mcp; returns status and the parsed body.
    pub fn mcp_with(&self, mut headers: HeaderMap, body: &Value) -> (u16, Value) {
        headers.insert("accept", "application/json, text/event-stream".parse().unwrap());
        headers
            .entry("mcp-protocol-version")
            .or_insert("2025-06-18".parse().unwrap());
        let r = self
            .client
            .post(format!("{}/mcp", self.url))
            .headers(headers)
            .json(body)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = r.text().unwrap();
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

    pub fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.admin))
            .send()
            .unwrap()
            .text()
            .unwrap()
    }

    /// The value of one metric sample (0 when absent), e.g. `metric(r#"x_total{a="b"}"#)`.
    pub fn metric(&self, sample: &str) -> f64 {
        let text = self.metrics();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix(sample)
                && let Some(v) = rest.strip_prefix(' ')
            {
                return v.trim().parse().unwrap();
            }
        }
        0.0
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Every file under `dir`, relative, sorted (to prove nothing was created).
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

impl Backend {
    /// A request written byte for byte on a socket, so no client normalizes the target
    /// (`..`, `%2e`). Returns the status and the JSON body.
    pub fn raw(&self, user: &str, method: &str, target: &str, body: Option<&str>) -> (u16, Value) {
        use std::io::{Read, Write};
        let addr = self.url.strip_prefix("http://").unwrap();
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        for (k, v) in self.identity(user).iter() {
            head.push_str(&format!("{}: {}\r\n", k, v.to_str().unwrap()));
        }
        let body = body.unwrap_or("");
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
        s.write_all(head.as_bytes()).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
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
}
