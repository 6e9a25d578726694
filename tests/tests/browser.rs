//! The web page in a real browser: Debian's Chromium driven by playwright-core
//! (`tests/browser/signin.mjs`) against the real gateway and backend, signing in through
//! the fake Hugging Face provider, then again inside a frame on another loopback origin
//! (`FRAME_ANCESTORS` names it). Screenshots land in `target/browser/`. `.ci/run` installs Chromium and the npm package; on a
//! developer machine without them the test says so and passes, but with `CI` set it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use vaultgate_tests::oidc::{CLIENT_ID, CLIENT_SECRET, FakeOidc, FakeUser};
use vaultgate_tests::{Backend, Gateway, free_port, tools};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

#[test]
fn a_person_signs_in_and_manages_notes_in_chromium() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let script_dir = repo().join("tests/browser");
    let playwright = script_dir.join("node_modules/playwright-core");
    let (Some(_), Some(_), Some(_)) = (
        tools::require(
            Path::new(&chromium).exists().then_some(()),
            "chromium",
            "apt-get install chromium",
        ),
        tools::require_tool("node", "apt-get install nodejs"),
        tools::require(
            playwright.exists().then_some(()),
            "playwright-core",
            "npm ci --prefix tests/browser",
        ),
    ) else {
        return;
    };
    let backend = Backend::start();
    let provider = FakeOidc::start(FakeUser::new("64b0000000000000000000a1", "alice", &[]));
    // The script serves the framing page on this port; only that origin may frame ours.
    let framer_port = free_port();
    let framer = format!("http://127.0.0.1:{framer_port}");
    let gw = Gateway::start(
        &backend.url(),
        &[
            ("FRAME_ANCESTORS", &framer),
            ("OPENID_PROVIDER_URL", &provider.url()),
            ("OAUTH_CLIENT_ID", CLIENT_ID),
            ("OAUTH_CLIENT_SECRET", CLIENT_SECRET),
        ],
    );
    let shot = repo().join("target/browser/signed-in.png");
    let _ = std::fs::remove_file(&shot);
    let out = Command::new("node")
        .arg("signin.mjs")
        .current_dir(&script_dir)
        .env("BASE_URL", format!("http://localhost:{}", gw.port))
        .env("SCREENSHOT", &shot)
        .env("FRAMER_PORT", framer_port.to_string())
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "browser run failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- gateway\n{}",
        gw.proc_.logs()
    );
    assert!(stdout.contains("browser: all steps passed"), "{stdout}");
    // The step list (shown with --nocapture): which checks ran, which this backend skipped.
    println!("{stdout}");
    assert!(
        stdout.contains("ok   framed by another origin"),
        "the framed sign-in ran\n{stdout}"
    );
    assert!(shot.exists(), "the screenshot was saved");
}
