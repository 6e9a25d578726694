//! The gateway's command line: every setting is listed with its environment variable.

use std::process::Command;

const EVERY_SETTING: [&str; 35] = [
    "MODE",
    "PORT",
    "MCP_PORT",
    "LISTEN_HOST",
    "ADMIN_ADDR",
    "PUBLIC_URL",
    "BACKEND_URL",
    "BACKEND_ADMIN_URL",
    "JWT_SECRET_KEY",
    "JWT_SECRET_KEY_PREVIOUS",
    "TOKEN_TTL",
    "IDENTITY_SECRET",
    "RATE_LIMIT_PER_MINUTE",
    "RATE_LIMIT_BURST",
    "IP_RATE_LIMIT_PER_MINUTE",
    "AUTH_FAILURE_LIMIT_PER_MINUTE",
    "SESSION_IDLE_SECS",
    "SESSION_MAX_SECS",
    "SESSIONS_PER_USER",
    "ALLOWED_ORIGINS",
    "TRUSTED_PROXIES",
    "METRICS_TOKEN",
    "HF_API_URL",
    "OPENID_PROVIDER_URL",
    "OAUTH_CLIENT_ID",
    "OAUTH_CLIENT_SECRET",
    "OAUTH_SCOPES",
    "SPACE_HOST",
    "GATEWAY_STATE",
    "GATEWAY_STATE_PATH",
    "REDIS_URL",
    "GATEWAY_THREADS",
    "UPSTREAM_TIMEOUT",
    "MCP_SNIFF_MAX_BYTES",
    "LOG_FORMAT",
];

#[test]
fn help_lists_every_setting_with_defaults() {
    let out = Command::new(env!("CARGO_BIN_EXE_vaultgate-gateway"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for var in EVERY_SETTING {
        assert!(help.contains(&format!("[env: {var}")), "--help does not list {var}");
    }
    for default in [
        "[default: 127.0.0.1:9091]",
        "[default: http://127.0.0.1:8001]",
        "[default: 7d]",
        "[default: 600]",
    ] {
        assert!(help.contains(default), "--help lacks {default}");
    }
    assert!(help.contains("mint-token"));
}

#[test]
fn secrets_never_appear_in_help_or_errors() {
    let out = Command::new(env!("CARGO_BIN_EXE_vaultgate-gateway"))
        .arg("--help")
        .env("JWT_SECRET_KEY", "super-secret-value-that-must-not-print")
        .env("IDENTITY_SECRET", "another-secret-value-that-must-not-print")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(!help.contains("must-not-print"));
    let out = Command::new(env!("CARGO_BIN_EXE_vaultgate-gateway"))
        .env_clear()
        .env("MODE", "space")
        .env("JWT_SECRET_KEY", "short-secret-must-not-print")
        .env("IDENTITY_SECRET", "another-secret-value-that-must-not-print")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("must-not-print"), "{err}");
}

#[test]
fn a_config_file_supplies_settings() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("gateway.toml");
    std::fs::write(&f, "NOT_A_SETTING = 1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vaultgate-gateway"))
        .args(["--config", f.to_str().unwrap(), "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "a bad configuration file is EX_CONFIG");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown setting 'NOT_A_SETTING'"));
    std::fs::write(
        &f,
        "JWT_SECRET_KEY = \"0123456789abcdef0123456789abcdef\"\nPUBLIC_URL = \"https://x.example\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vaultgate-gateway"))
        .env_clear()
        .args(["--config", f.to_str().unwrap(), "mint-token", "--user", "u1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn gateway(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vaultgate-gateway"))
        .env_clear()
        .current_dir(dir.path())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn exit_status_says_usage_configuration_or_runtime() {
    let key = ("JWT_SECRET_KEY", "0123456789abcdef0123456789abcdef");
    // (case, arguments, environment, exit status, what stderr says once)
    type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)], i32, &'a str);
    let cases: &[Case] = &[
        ("unknown flag", &["--no-such-flag"], &[], 2, "--no-such-flag"),
        (
            "bad flag value",
            &["--gateway-state", "disk"],
            &[],
            2,
            "[possible values: sqlite, redis, memory]",
        ),
        (
            "bad GATEWAY_STATE",
            &[],
            &[("GATEWAY_STATE", "disk")],
            78,
            "[possible values: sqlite, redis, memory]",
        ),
        ("bad value in the environment", &[], &[("PORT", "x")], 78, "--port"),
        (
            "weak key",
            &["mint-token", "--user", "u1"],
            &[("MODE", "space"), ("JWT_SECRET_KEY", "short")],
            78,
            "JWT_SECRET_KEY",
        ),
        (
            "redis without REDIS_URL",
            &["sessions", "--user", "u1"],
            &[("GATEWAY_STATE", "redis")],
            78,
            "REDIS_URL",
        ),
        ("bad --user", &["mint-token", "--user", "../x"], &[key], 2, "--user"),
        (
            "redis down",
            &["sessions", "--user", "u1"],
            &[("GATEWAY_STATE", "redis"), ("REDIS_URL", "redis://127.0.0.1:1/0")],
            1,
            "vaultgate-gateway: ",
        ),
        ("ok", &["mint-token", "--user", "u1"], &[key], 0, ""),
    ];
    for (name, args, env, code, says) in cases {
        let (got, err) = gateway(args, env);
        assert_eq!(got, Some(*code), "{name}: {err}");
        assert!(err.contains(says), "{name}: {err}");
        if !says.is_empty() {
            assert_eq!(err.matches(says).count(), 1, "{name}: printed once: {err}");
        }
    }
}

#[test]
fn help_lists_exit_statuses_and_choices() {
    let out = Command::new(env!("CARGO_BIN_EXE_vaultgate-gateway"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "Exit status:",
        "78  configuration error",
        "1   runtime failure",
        "2   usage error",
        "sqlite:",
        "redis:",
        "memory:",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}");
    }
}
