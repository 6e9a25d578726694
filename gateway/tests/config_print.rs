//! `vaultgate-gateway config`: the resolved configuration printed with every secret redacted,
//! checked as the start checks it (exit 78 on a bad setting).

use std::process::{Command, Output};

const IDENTITY: &str = "identity-secret-identity-secret-identity";
const JWT: &str = "jwt-secret-jwt-secret-jwt-secret-jwt-secret";

fn config(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vaultgate-gateway"));
    cmd.arg("config").args(args).env_clear();
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn prints_json_and_toml_without_secrets() {
    let env = [
        ("IDENTITY_SECRET", IDENTITY),
        ("JWT_SECRET_KEY", JWT),
        ("REDIS_URL", "redis://:pw-in-url@redis:6379/0"),
        ("GATEWAY_STATE", "redis"),
        ("METRICS_TOKEN", "metrics-token-metrics-token"),
        ("SPACE_HOST", "owner-x.hf.space"),
    ];
    for format in ["json", "toml"] {
        let out = config(&["--print", "--format", format], &env);
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        for secret in [IDENTITY, JWT, "pw-in-url", "metrics-token-metrics-token"] {
            assert!(!text.contains(secret), "{format} shows a secret:\n{text}");
        }
        assert!(
            text.contains("[redacted]") && text.contains("https://owner-x.hf.space"),
            "{text}"
        );
    }
    let out = config(
        &["--get", "listen.port"],
        &[("IDENTITY_SECRET", IDENTITY), ("MCP_PORT", "9001")],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "9001");
}

#[test]
fn a_bad_setting_or_path_fails_as_the_start_would() {
    let out = config(&["--print"], &[]);
    assert_eq!(out.status.code(), Some(78), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("IDENTITY_SECRET"));
    let out = config(&["--get", "no.such"], &[("IDENTITY_SECRET", IDENTITY)]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
