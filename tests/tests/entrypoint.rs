//! The one-command start (`deploy/entrypoint.sh`, also the container's entrypoint):
//! both programs come up, the printed token works, signals stop both, and the death of
//! either ends the run with a non-zero status.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vaultgate_tests::{bin_dir, client, free_port};

struct Run {
    child: Child,
    port: u16,
    backend_port: u16,
    token: String,
    _data: tempfile::TempDir,
}

fn start(extra: &[(&str, &str)]) -> Run {
    let data = tempfile::tempdir().unwrap();
    let (port, backend_port, admin, badmin) = (free_port(), free_port(), free_port(), free_port());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/entrypoint.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(script)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("VAULTGATE_BIN_DIR", bin_dir())
        .env("PORT", port.to_string())
        .env("BACKEND_LISTEN", format!("127.0.0.1:{backend_port}"))
        .env("ADMIN_ADDR", format!("127.0.0.1:{admin}"))
        .env("BACKEND_ADMIN_ADDR", format!("127.0.0.1:{badmin}"))
        .env("DATA_DIR", data.path())
        .env("LOCAL_USER", "local_tester")
        .current_dir(data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(out).lines();
        let mut token = None;
        // The printed MCP client configurations: Claude Code / Cursor, then VS Code.
        let mut configs: Vec<String> = Vec::new();
        let mut config = String::new();
        let mut in_config = false;
        let mut token_next = false;
        for line in lines.by_ref().map_while(Result::ok) {
            if token_next {
                token = Some(line.trim().to_owned());
                token_next = false;
            }
            if line.contains("A token for user") {
                token_next = true;
            }
            if line.trim() == "{" {
                in_config = true;
            }
            if in_config {
                config.push_str(&line);
                if line.trim_end() == "  }" && config.matches('{').count() == config.matches('}').count() {
                    configs.push(std::mem::take(&mut config));
                    in_config = false;
                    if configs.len() == 2 {
                        let _ = tx.send((token.clone().unwrap_or_default(), configs.clone()));
                        break;
                    }
                }
            }
        }
        for _ in lines {}
    });
    let (token, configs) = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the script printed a token and two configs");
    let json = |c: &str| -> Value { serde_json::from_str(c).expect("a printed MCP configuration is JSON") };
    let (config, vscode) = (json(&configs[0]), json(&configs[1]));
    let server = &config["mcpServers"]["vaultgate"];
    assert_eq!(server["url"], format!("http://localhost:{port}/mcp"));
    assert_eq!(server["headers"]["Authorization"], format!("Bearer {token}"));
    // VS Code's format: "servers", and the token asked for once as a password input.
    let server = &vscode["servers"]["vaultgate"];
    assert_eq!(server["url"], format!("http://localhost:{port}/mcp"));
    assert_eq!(server["headers"]["Authorization"], "Bearer ${input:vaultgate-token}");
    let input = &vscode["inputs"][0];
    assert_eq!(
        (&input["id"], &input["password"]),
        (&json!("vaultgate-token"), &json!(true))
    );
    Run {
        child,
        port,
        backend_port,
        token,
        _data: data,
    }
}

fn gone(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        assert!(Instant::now() < deadline, "the script did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn one_command_starts_both_and_sigterm_stops_both() {
    let mut run = start(&[]);
    let c = client();
    assert_eq!(
        c.get(format!("http://127.0.0.1:{}/healthz", run.port))
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.get(format!("http://127.0.0.1:{}/healthz", run.backend_port))
            .send()
            .unwrap()
            .status(),
        200
    );
    let me: Value = c
        .get(format!("http://127.0.0.1:{}/api/me", run.port))
        .bearer_auth(&run.token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(me["user"], "local_tester");
    Command::new("kill")
        .args(["-TERM", &run.child.id().to_string()])
        .status()
        .unwrap();
    let st = wait_exit(&mut run.child, Duration::from_secs(20));
    assert!(st.success(), "{st:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(gone(run.port) && gone(run.backend_port)) {
        assert!(Instant::now() < deadline, "a process outlived the script");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn when_one_process_dies_the_run_ends_non_zero() {
    let mut run = start(&[]);
    let children = Command::new("pgrep")
        .args(["-P", &run.child.id().to_string(), "-f", "vaultgate-backend"])
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&children.stdout)
        .lines()
        .next()
        .expect("backend pid")
        .trim()
        .to_owned();
    Command::new("kill").args(["-KILL", &pid]).status().unwrap();
    let st = wait_exit(&mut run.child, Duration::from_secs(20));
    assert!(!st.success(), "a half-alive run must fail");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gone(run.port) {
        assert!(Instant::now() < deadline, "the gateway outlived the backend");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn space_mode_without_a_key_does_not_start() {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/entrypoint.sh"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("VAULTGATE_BIN_DIR", bin_dir())
        .env("MODE", "space")
        .env("PORT", free_port().to_string())
        .env("BACKEND_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("ADMIN_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("BACKEND_ADMIN_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("DATA_DIR", data.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("JWT_SECRET_KEY"), "{err}");
    // The backend's audit key (required in space mode) was created with the data, private.
    let key = data.path().join("audit-hash-key");
    let meta = std::fs::metadata(&key).unwrap_or_else(|e| panic!("{}: {e}\n{err}", key.display()));
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    assert!(std::fs::read_to_string(&key).unwrap().trim().len() >= 32);
    assert!(err.contains("AUDIT_HASH_KEY not set: created"), "{err}");
}
