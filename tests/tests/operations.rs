//! What operators rely on, against the real binaries: the backend's audit lines for MCP tool
//! calls and REST writes (keyed path hashes, never the path), the deep `/readyz` of the backend
//! (index and vault checked, 503 while either is unusable, 200 again after), and the gateway's
//! `/readyz` reporting the backend and the state store separately.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vaultgate_shared::UserId;
use vaultgate_shared::headers;
use vaultgate_shared::identity::{IdentityKey, sign_identity};
use vaultgate_tests::{Backend, Gateway, IDENTITY_SECRET, client};

const AUDIT_KEY: &str = "audit-hash-key-for-tests-0123456789abcdef";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const REQUEST_ID: &str = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";

/// Headers the gateway would add for `user`, plus correlation ids.
fn as_gateway(rb: reqwest::blocking::RequestBuilder, user: &str) -> reqwest::blocking::RequestBuilder {
    let key = IdentityKey::new(IDENTITY_SECRET.as_bytes()).expect("key");
    let assertion = sign_identity(&key, &UserId::parse(user).expect("user"), None);
    rb.header(headers::IDENTITY, assertion)
        .header(headers::USER, user)
        .header(headers::REQUEST_ID, REQUEST_ID)
        .header("traceparent", TRACEPARENT)
}

fn tool_call(backend: &Backend, user: &str, tool: &str, args: Value) -> Value {
    let msg = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": args}});
    let r = as_gateway(client().post(format!("{}/mcp", backend.url())), user)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2025-06-18")
        .body(msg.to_string())
        .send()
        .expect("tools/call");
    assert_eq!(r.status(), 200);
    r.json().expect("JSON-RPC answer")
}

fn audit_lines(backend: &Backend) -> Vec<Value> {
    backend
        .proc_
        .logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "audit")
        .collect()
}

/// Polls `f` until it holds (log lines are written just after the answer is sent).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn tool_calls_and_rest_writes_are_audited_with_hashed_paths_only() {
    let secret_name = "private-diagnosis-7f3a";
    let path = format!("health/{secret_name}.md");
    let moved = format!("health/{secret_name}-moved.md");
    let backend = Backend::start_with(&[("LOG_FORMAT", "json"), ("AUDIT_HASH_KEY", AUDIT_KEY)]);
    let w = tool_call(
        &backend,
        "alice",
        "write_note",
        json!({"path": path, "body": "content-hello-91c2"}),
    );
    assert_ne!(w["result"]["isError"], json!(true), "{w}");
    tool_call(&backend, "alice", "read_note", json!({"path": path}));
    tool_call(&backend, "alice", "read_note", json!({"path": "missing.md"}));
    tool_call(&backend, "bob", "read_note", json!({"path": path}));
    tool_call(&backend, "alice", "write_note", json!({"nonsense": true}));
    let api = |p: &str| format!("{}/api/notes/{p}", backend.url());
    let r = as_gateway(client().put(api(&path)), "alice")
        .json(&json!({"body": "content-updated-91c2"}))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "PUT: {}", r.status());
    let r = as_gateway(client().post(format!("{}/move", api(&path))), "alice")
        .json(&json!({"new_path": moved}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "move");
    let r = as_gateway(client().delete(api(&moved)), "alice").send().unwrap();
    assert_eq!(r.status(), 200, "DELETE");
    let r = as_gateway(client().delete(api(&moved)), "alice").send().unwrap();
    assert_eq!(r.status(), 404, "DELETE again");
    // A read through REST is not a write: no audit line.
    as_gateway(client().get(format!("{}/api/notes", backend.url())), "alice")
        .send()
        .unwrap();

    eventually("every call is audited", || {
        audit_lines(&backend)
            .iter()
            .filter(|l| l["event"] == "tool_call" || l["event"] == "rest_write")
            .count()
            >= 9
    });
    let lines = audit_lines(&backend);
    let tools: Vec<&Value> = lines.iter().filter(|l| l["event"] == "tool_call").collect();
    let rest: Vec<&Value> = lines.iter().filter(|l| l["event"] == "rest_write").collect();
    assert_eq!(tools.len(), 5, "{tools:#?}");
    assert_eq!(rest.len(), 4, "{rest:#?}");
    for l in tools.iter().chain(rest.iter()) {
        assert_eq!(l["request_id"], REQUEST_ID, "{l}");
        assert_eq!(l["trace_id"], TRACE_ID, "{l}");
        assert!(l["duration_ms"].as_f64().is_some_and(|d| d >= 0.0), "{l}");
        assert!(l["user"].is_string(), "{l}");
    }
    let hash_of = |l: &Value| l["path_hash"].as_str().map(str::to_owned);
    // The same note of the same user has one hash, whether written, read, or written via REST.
    let write = tools
        .iter()
        .find(|l| l["tool"] == "write_note" && l["outcome"] == "ok")
        .unwrap();
    let read = tools
        .iter()
        .find(|l| l["tool"] == "read_note" && l["user"] == "alice" && l["outcome"] == "ok")
        .unwrap();
    let h = hash_of(write).expect("a path hash");
    assert_eq!(h.len(), 32);
    assert_eq!(hash_of(read).as_deref(), Some(h.as_str()));
    let put = rest.iter().find(|l| l["method"] == "PUT").unwrap();
    assert_eq!(hash_of(put).as_deref(), Some(h.as_str()));
    assert_eq!(put["route"], "api_note");
    assert_eq!(put["status"], 200);
    assert_eq!(put["outcome"], "ok");
    // Another user's note of the same name hashes differently (and was not found).
    let bob = tools.iter().find(|l| l["user"] == "bob").unwrap();
    assert_eq!(bob["outcome"], "not_found");
    assert_ne!(hash_of(bob).as_deref(), Some(h.as_str()));
    let missing = tools
        .iter()
        .find(|l| l["outcome"] == "not_found" && l["user"] == "alice")
        .unwrap();
    assert_ne!(hash_of(missing).as_deref(), Some(h.as_str()));
    let invalid = tools.iter().find(|l| l["outcome"] == "invalid_arguments").unwrap();
    assert_eq!(invalid["tool"], "write_note");
    let mv = rest.iter().find(|l| l["route"] == "api_move").unwrap();
    assert_eq!(hash_of(mv).as_deref(), Some(h.as_str()));
    let deletes: Vec<&&Value> = rest.iter().filter(|l| l["method"] == "DELETE").collect();
    assert_eq!(deletes[0]["outcome"], "ok");
    assert_eq!(deletes[1]["outcome"], "not_found");
    assert_eq!(deletes[1]["status"], 404);
    assert_eq!(hash_of(deletes[0]), hash_of(deletes[1]));
    assert_ne!(
        hash_of(deletes[0]).as_deref(),
        Some(h.as_str()),
        "the moved note has its own hash"
    );
    // Nowhere in the backend's log, audit or not, is the note's name.
    let log = backend.proc_.logs();
    assert!(!log.contains(secret_name), "the note path leaked into the log:\n{log}");
    assert!(!log.contains("content-"), "note content in the log:\n{log}");
}

#[test]
fn space_mode_requires_an_audit_hash_key() {
    let data = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(vaultgate_tests::bin("vaultgate-backend"))
        .env_clear()
        .env("MODE", "space")
        .env("IDENTITY_SECRET", IDENTITY_SECRET)
        .env("VAULT_BASE_PATH", data.path().join("vaults"))
        .env("DATABASE_PATH", data.path().join("index.db"))
        .env("BACKEND_LISTEN", format!("127.0.0.1:{}", vaultgate_tests::free_port()))
        .env(
            "BACKEND_ADMIN_ADDR",
            format!("127.0.0.1:{}", vaultgate_tests::free_port()),
        )
        .output()
        .expect("running the backend");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("AUDIT_HASH_KEY"), "{err}");
}

fn set_mode(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn readyz(url: &str) -> (u16, Value) {
    let r = client().get(format!("{url}/readyz")).send().expect("readyz");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

/// Polls `/readyz` until it answers `want` (the result is cached for a second).
fn wait_readyz(url: &str, want: u16) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = readyz(url);
        if status == want {
            return body;
        }
        assert!(Instant::now() < deadline, "{url}/readyz stays {status}: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn backend_readyz_fails_while_the_index_or_the_vault_is_unusable() {
    let backend = Backend::start();
    let admin = format!("http://127.0.0.1:{}", backend.admin_port);
    let gw = Gateway::start(&backend.url(), &[]);
    // The admin port: polling the public one would meet the per-IP limit.
    let gw_admin = format!("http://127.0.0.1:{}", gw.admin_port);
    // A user with an index database of their own.
    let r = as_gateway(client().put(format!("{}/api/notes/a.md", backend.url())), "alice")
        .json(&json!({"body": "x"}))
        .send()
        .unwrap();
    assert!(r.status().is_success());
    let body = wait_readyz(&backend.url(), 200);
    assert_eq!(body["status"], "ready", "{body}");
    let names: Vec<&str> = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["index", "vault", "disk"]);
    wait_readyz(&admin, 200);
    let gw_body = wait_readyz(&gw_admin, 200);
    assert_eq!(gw_body["backend"]["status"], "ok", "{gw_body}");

    // The index file unreadable (mode bits: the test may run as root, which ignores them).
    let db = backend.data.join("index.d").join("alice.db");
    assert!(db.is_file(), "alice's index at {}", db.display());
    set_mode(&db, 0o000);
    let body = wait_readyz(&backend.url(), 503);
    let index = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "index")
        .unwrap();
    assert_eq!(index["ok"], false, "{body}");
    assert!(!body.to_string().contains("alice"), "a user id in /readyz: {body}");
    wait_readyz(&admin, 503);
    // The gateway is not ready either, and says which part failed.
    let gw_body = wait_readyz(&gw_admin, 503);
    assert_eq!(gw_body["backend"]["status"], "unavailable", "{gw_body}");
    assert_eq!(gw_body["state"]["status"], "ok", "{gw_body}");
    assert_eq!(gw_body["error"], "backend_unavailable", "{gw_body}");
    set_mode(&db, 0o644);
    wait_readyz(&backend.url(), 200);
    wait_readyz(&gw_admin, 200);

    // The vault read-only.
    let vault = backend.data.join("vaults");
    set_mode(&vault, 0o555);
    let body = wait_readyz(&backend.url(), 503);
    let v = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "vault")
        .unwrap();
    assert_eq!(v["ok"], false, "{body}");
    set_mode(&vault, 0o755);
    wait_readyz(&backend.url(), 200);
    // The probes leave nothing behind in the vault.
    let left: Vec<_> = std::fs::read_dir(&vault)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".readyz"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn backend_readyz_fails_below_the_free_space_floor() {
    let floor = u64::MAX.to_string();
    let backend = Backend::start_with(&[("READY_MIN_FREE_BYTES", floor.as_str())]);
    let body = wait_readyz(&backend.url(), 503);
    let disk = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "disk")
        .unwrap();
    assert_eq!(disk["ok"], false, "{body}");
    assert!(
        disk["error"].as_str().unwrap().contains("READY_MIN_FREE_BYTES"),
        "{body}"
    );
}

#[test]
fn gateway_readyz_reports_the_backend_and_the_state_store() {
    let backend = Backend::start();
    let gw = Gateway::start(&backend.url(), &[]);
    for url in [gw.url(), format!("http://127.0.0.1:{}", gw.admin_port)] {
        let body = wait_readyz(&url, 200);
        assert_eq!(body["status"], "ready", "{body}");
        assert_eq!(body["backend"]["status"], "ok", "{body}");
        assert_eq!(body["state"]["store"], "sqlite", "{body}");
        assert_eq!(body["state"]["status"], "ok", "{body}");
    }
    let memory = Gateway::start(&backend.url(), &[("GATEWAY_STATE", "memory")]);
    let body = wait_readyz(&memory.url(), 200);
    assert_eq!(body["state"]["store"], "memory", "{body}");
    // Redis unreachable: the gateway is alive but not ready, and says it is the state store.
    let redis_url = format!("redis://127.0.0.1:{}/0", vaultgate_tests::free_port());
    let redis = Gateway::start(
        &backend.url(),
        &[
            ("GATEWAY_STATE", "redis"),
            ("REDIS_URL", &redis_url),
            ("STATE_TIMEOUT", "200ms"),
        ],
    );
    let body = wait_readyz(&format!("http://127.0.0.1:{}", redis.admin_port), 503);
    assert_eq!(body["state"]["store"], "redis", "{body}");
    assert_eq!(body["state"]["status"], "unavailable", "{body}");
    assert_eq!(body["backend"]["status"], "ok", "{body}");
    assert_eq!(body["error"], "state_unavailable", "{body}");
    assert!(
        !body.to_string().contains(&redis_url),
        "the Redis URL in /readyz: {body}"
    );
    // The backend gone: 503, the state store still fine.
    drop(backend);
    let body = wait_readyz(&gw.url(), 503);
    assert_eq!(body["status"], "not_ready", "{body}");
    assert_eq!(body["backend"]["status"], "unavailable", "{body}");
    assert_eq!(body["state"]["status"], "ok", "{body}");
}
