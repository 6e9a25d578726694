//! `vaultgate-gateway smoke`, the operator's post-deploy check, run as an operator would against
//! the real gateway and backend: every check passes on a healthy stack, and a broken piece (the
//! backend down, two tokens of the same user) makes it fail with exit status 1.

use std::process::{Command, Output};

use vaultgate_tests::{Backend, Gateway, bin};

fn smoke(url: &str, tokens: &[&str]) -> Output {
    let mut cmd = Command::new(bin("vaultgate-gateway"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args(["smoke", "--url", url, "--timeout", "10s"]);
    for t in tokens {
        cmd.args(["--token", t]);
    }
    cmd.output().expect("running vaultgate-gateway smoke")
}

fn lines(out: &Output, prefix: &str) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

#[test]
fn smoke_passes_on_a_healthy_stack_and_fails_on_a_broken_one() {
    let mut backend = Backend::start();
    let gw = Gateway::start(&backend.url(), &[]);
    let (a, b) = (gw.token("alice"), gw.token("bob"));

    let out = smoke(&gw.url(), &[&a, &b]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // What an operator sees (shown with --nocapture, as `.ci/run` does).
    eprintln!("{stdout}");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(lines(&out, "FAIL").is_empty(), "{stdout}");
    let passed = lines(&out, "PASS");
    for check in [
        "GET /healthz",
        "GET /readyz",
        "A 2025 era (sessions): initialize",
        "B 2025 era (sessions): tools/call list_notes",
        "A 2025 era (sessions): session end",
        "A 2026-07-28 era (stateless): server/discover",
        "B 2026-07-28 era (stateless): tools/list",
        "B 2026-07-28 era (stateless): tools/call list_notes",
        "isolation: B cannot read it",
        "isolation: B cannot list it",
        "isolation: B cannot find it",
        "isolation: A deletes its note",
        "an invalid token is refused",
        "an expired token is refused",
    ] {
        assert!(
            passed.iter().any(|l| l.starts_with(&format!("PASS  {check}:"))),
            "{check}:\n{stdout}"
        );
    }
    assert!(stdout.contains("24 checks: 24 passed, 0 failed"), "{stdout}");
    // The isolation note is gone again, folder and all.
    let alice = backend.data.join("vaults/alice");
    assert!(
        !alice.join("vaultgate-smoke").exists(),
        "the smoke note was left behind"
    );

    // Two tokens of one user: the isolation checks fail, and the note is still cleaned up.
    let out = smoke(&gw.url(), &[&a, &a]);
    assert_eq!(out.status.code(), Some(1));
    let failed = lines(&out, "FAIL");
    assert_eq!(failed.len(), 3, "{failed:#?}");
    assert!(
        failed.iter().all(|l| l.starts_with("FAIL  isolation: B cannot")),
        "{failed:#?}"
    );
    assert!(!alice.join("vaultgate-smoke").exists());

    // Usage errors are not check failures.
    let out = smoke(&gw.url(), &[&a]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exactly two tokens"));

    // The backend down: the gateway is alive but not ready, and every MCP check fails.
    backend.proc_.kill();
    let out = smoke(&gw.url(), &[&a, &b]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(lines(&out, "PASS  GET /healthz").len(), 1);
    assert_eq!(lines(&out, "FAIL  GET /readyz").len(), 1);
    assert!(lines(&out, "FAIL  A 2026-07-28 era (stateless): tools/list").len() == 1);
    // What the gateway itself answers still passes: refusals need no backend.
    assert_eq!(lines(&out, "PASS  an expired token is refused").len(), 1);

    // Nothing listening at all.
    drop(gw);
    let out = smoke(&format!("http://127.0.0.1:{}", vaultgate_tests::free_port()), &[&a, &b]);
    assert_eq!(out.status.code(), Some(1));
    assert!(lines(&out, "PASS").is_empty());
}
