//! The gateway's state stores: one behavioural suite run against memory, sqlite
//! and redis; two gateway processes sharing one Redis; Redis dying and coming back; and
//! the operator commands `revoke` and `sessions`.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;
use vaultgate_tests::echo::Echo;
use vaultgate_tests::mcp::legacy_post as post;
use vaultgate_tests::redis::Redis;
use vaultgate_tests::tokens::TokenSpec;
use vaultgate_tests::tools;
use vaultgate_tests::{Gateway, IDENTITY_SECRET, JWT_SECRET, bin, client, metric, sum_metric};

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
const PING: &str = r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#;
/// Both replicas of a pair share this public URL (tokens are issued for it).
const SHARED_URL: &str = "http://vaultgate.test";

fn initialize(base: &str, token: &str) -> String {
    let r = post(base, token, None, INIT);
    assert_eq!(r.status(), 200, "initialize");
    r.headers()["mcp-session-id"].to_str().unwrap().to_owned()
}

fn logout(base: &str, token: &str) -> reqwest::blocking::Response {
    client()
        .post(format!("{base}/api/auth/logout"))
        .bearer_auth(token)
        .send()
        .expect("logout")
}

fn jti_of(token: &str) -> String {
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["jti"].as_str().expect("jti").to_owned()
}

/// Sends `n` pings for `token`, alternating over `bases`; returns how many were not limited.
fn admitted(bases: &[&str], token: &str, n: usize) -> usize {
    (0..n)
        .filter(|i| {
            let r = client()
                .get(format!("{}/api/notes", bases[i % bases.len()]))
                .bearer_auth(token)
                .send()
                .expect("request");
            assert!(matches!(r.status().as_u16(), 200 | 429), "{}", r.status());
            r.status() == 200
        })
        .count()
}

/// The limits every suite run uses: a burst of 10, refilled once per 10 s (far slower than a test).
const LIMITS: [(&str, &str); 2] = [("RATE_LIMIT_PER_MINUTE", "6"), ("RATE_LIMIT_BURST", "10")];

/// The same behaviour, whatever the store: sessions lifecycle, revocation, rate limits.
fn behavioural_suite(store: &str, gw: &Gateway) {
    let base = gw.url();
    // Sessions: created, used, refused to another user, ended by DELETE, then gone.
    let (alice, mallory) = (gw.token("alice"), gw.token("mallory"));
    let sid = initialize(&base, &alice);
    assert_eq!(
        post(&base, &alice, Some(&sid), PING).status(),
        200,
        "{store}: live session"
    );
    assert_eq!(
        post(&base, &mallory, Some(&sid), PING).status(),
        404,
        "{store}: another user's session"
    );
    let del = client()
        .delete(format!("{base}/mcp"))
        .bearer_auth(&alice)
        .header("Mcp-Session-Id", &sid)
        .send()
        .unwrap();
    assert_eq!(del.status(), 204, "{store}: DELETE ends the session");
    assert_eq!(post(&base, &alice, Some(&sid), PING).status(), 404, "{store}: ended");
    assert_eq!(post(&base, &alice, Some("not-a-session"), PING).status(), 404);
    let m = gw.metrics();
    assert_eq!(
        metric(&m, "vaultgate_gateway_session_rejections_total{reason=\"wrong_user\"}"),
        1.0,
        "{store}"
    );
    assert!(
        metric(&m, "vaultgate_gateway_session_rejections_total{reason=\"expired\"}") >= 1.0,
        "{store}: an ended session is told from an unknown one"
    );

    // Revocation: logout revokes the token and ends the user's sessions; another token still works.
    let (bob1, bob2) = (gw.token("bob"), gw.token("bob"));
    let bob_sid = initialize(&base, &bob1);
    let r = logout(&base, &bob1);
    assert_eq!(r.status(), 200, "{store}: logout");
    assert_eq!(r.json::<Value>().unwrap()["sessions_ended"], 1, "{store}");
    assert_eq!(
        post(&base, &bob1, None, INIT).status(),
        401,
        "{store}: revoked token refused"
    );
    assert_eq!(
        post(&base, &bob2, Some(&bob_sid), PING).status(),
        404,
        "{store}: session ended at logout"
    );
    assert_eq!(
        post(&base, &bob2, None, INIT).status(),
        200,
        "{store}: another token of bob's still works"
    );
    assert!(
        metric(
            &gw.metrics(),
            "vaultgate_gateway_auth_failures_total{reason=\"revoked\"}"
        ) >= 1.0
    );

    // Rate limits: exactly the burst is admitted, and one user's flood leaves another alone.
    let flood = gw.token("flood");
    assert_eq!(admitted(&[&base], &flood, 14), 10, "{store}: the burst, then 429");
    assert_eq!(
        admitted(&[&base], &gw.token("calm"), 3),
        3,
        "{store}: another user is not limited"
    );
    assert_eq!(
        sum_metric(&gw.metrics(), "vaultgate_gateway_state_errors_total"),
        0,
        "{store}: no store errors"
    );
}

#[test]
fn the_same_suite_passes_against_memory_sqlite_and_redis() {
    let echo = Echo::start();
    for store in ["memory", "sqlite"] {
        let mut env = vec![("GATEWAY_STATE", store)];
        env.extend(LIMITS);
        behavioural_suite(store, &Gateway::start(&echo.url(), &env));
    }
    let Some(redis) = Redis::start() else { return };
    let url = redis.url();
    let mut env = vec![("GATEWAY_STATE", "redis"), ("REDIS_URL", url.as_str())];
    env.extend(LIMITS);
    behavioural_suite("redis", &Gateway::start(&echo.url(), &env));
    // Every key is namespaced and expires.
    let keys = redis.command("KEYS *");
    assert!(keys.starts_with('*'), "{keys}");
    let scan = redis_keys(&redis);
    assert!(!scan.is_empty());
    for k in scan {
        assert!(k.starts_with("vaultgate:"), "{k}");
        let ttl: i64 = redis
            .command(&format!("PTTL {k}"))
            .trim_start_matches(':')
            .parse()
            .unwrap();
        assert!(ttl > 0, "{k} has no TTL ({ttl})");
    }
}

/// Every key in `redis` (small test databases only).
fn redis_keys(redis: &Redis) -> Vec<String> {
    let out = Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "--scan"])
        .output()
        .expect("redis-cli (installed with redis-server)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn replica(echo: &Echo, redis: &Redis, extra: &[(&str, &str)]) -> Gateway {
    let url = redis.url();
    let mut env = vec![
        ("GATEWAY_STATE", "redis"),
        ("REDIS_URL", url.as_str()),
        ("PUBLIC_URL", SHARED_URL),
    ];
    env.extend_from_slice(extra);
    Gateway::start(&echo.url(), &env)
}

fn shared_token(user: &str) -> String {
    TokenSpec::valid(user, SHARED_URL).sign()
}

#[test]
fn two_gateways_share_sessions_revocations_and_rate_limits_through_redis() {
    let Some(redis) = Redis::start() else { return };
    let echo = Echo::start();
    let a = replica(&echo, &redis, &LIMITS);
    let b = replica(&echo, &redis, &LIMITS);
    let (ua, ub) = (a.url(), b.url());

    let alice = shared_token("alice");
    let sid = initialize(&ua, &alice);
    assert_eq!(
        post(&ub, &alice, Some(&sid), PING).status(),
        200,
        "a session made on A works on B"
    );
    assert_eq!(
        post(&ub, &shared_token("mallory"), Some(&sid), PING).status(),
        404,
        "and stays its owner's on B"
    );

    // Revoked on A, refused on B on the very next request (no cache of "not revoked").
    let carol = shared_token("carol");
    assert_eq!(post(&ub, &carol, None, INIT).status(), 200);
    assert_eq!(logout(&ua, &carol).status(), 200);
    assert_eq!(
        post(&ub, &carol, None, INIT).status(),
        401,
        "revoked on A, refused on B"
    );

    // One bucket per user across replicas: 20 requests alternating over A and B, burst 10.
    // Tolerance: none from sharing (each take is one atomic Lua script on Redis's clock); one
    // more may pass if the test were slow enough for the 10 s refill, which it is not meant to be.
    let got = admitted(&[&ua, &ub], &shared_token("flood"), 20);
    assert!(
        (10..=11).contains(&got),
        "{got} admitted across A and B; the shared burst is 10"
    );
    let limited = sum_metric(&a.metrics(), "vaultgate_gateway_rate_limited_total")
        + sum_metric(&b.metrics(), "vaultgate_gateway_rate_limited_total");
    assert_eq!(limited as usize, 20 - got);
}

fn cli(gw: &Gateway, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(bin("vaultgate-gateway"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("IDENTITY_SECRET", IDENTITY_SECRET)
        .env("JWT_SECRET_KEY", JWT_SECRET)
        .env("GATEWAY_STATE_PATH", gw.state.path().join("gateway.db"))
        .env("LOG_FORMAT", "json");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args).output().expect("run vaultgate-gateway")
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Polls `f` until it is true (a running sqlite gateway picks up the CLI's writes within a second).
fn eventually(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The operator commands against a store: revoke one token, list sessions, revoke a user.
fn operator_suite(store: &str, gws: &[&Gateway], env: &[(&str, &str)], token: impl Fn(&str) -> String) {
    let (first, last) = (gws[0].url(), gws[gws.len() - 1].url());
    let dave = token("dave");
    assert_eq!(post(&last, &dave, None, INIT).status(), 200);
    let out = ok(&cli(gws[0], env, &["revoke", "--jti", &jti_of(&dave)]));
    assert!(out.contains("revoked token"), "{store}: {out}");
    eventually(&format!("{store}: revoked jti refused"), Duration::from_secs(5), || {
        post(&last, &dave, None, INIT).status() == 401
    });

    let (erin1, erin2) = (token("erin"), token("erin"));
    let s1 = initialize(&first, &erin1);
    let s2 = initialize(&last, &erin2);
    let listed: Value =
        serde_json::from_str(&ok(&cli(gws[0], env, &["sessions", "--user", "erin", "--json"]))).unwrap();
    let ids: Vec<&str> = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [s1.as_str(), s2.as_str()],
        "{store}: erin's sessions, oldest first"
    );
    let table = ok(&cli(gws[0], env, &["sessions", "--user", "erin"]));
    assert!(table.contains(&s1) && table.contains("2 live session(s)"), "{table}");

    // Waiting one second first: a user revocation covers tokens issued at or before it (whole seconds).
    std::thread::sleep(Duration::from_millis(1100));
    let out = ok(&cli(gws[0], env, &["revoke", "--user", "erin"]));
    assert!(out.contains("ended 2 session(s)"), "{store}: {out}");
    eventually(
        &format!("{store}: erin's tokens refused"),
        Duration::from_secs(5),
        || post(&first, &erin1, None, INIT).status() == 401 && post(&last, &erin2, None, INIT).status() == 401,
    );
    std::thread::sleep(Duration::from_millis(1100));
    let fresh = token("erin");
    let s3 = initialize(&last, &fresh);
    assert_eq!(
        post(&first, &fresh, Some(&s3), PING).status(),
        200,
        "{store}: a token issued later works"
    );
    assert_eq!(
        post(&first, &fresh, Some(&s1), PING).status(),
        404,
        "{store}: old sessions ended"
    );
}

#[test]
fn operator_commands_work_against_sqlite_and_redis_and_refuse_memory() {
    let echo = Echo::start();
    let gw = Gateway::start(&echo.url(), &[]);
    operator_suite("sqlite", &[&gw], &[("GATEWAY_STATE", "sqlite")], |u| gw.token(u));

    let mem = Gateway::start(&echo.url(), &[("GATEWAY_STATE", "memory")]);
    let o = cli(&mem, &[("GATEWAY_STATE", "memory")], &["revoke", "--user", "dave"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("process") && err.contains("sqlite or redis"), "{err}");
    let o = cli(&mem, &[], &["revoke"]);
    assert!(!o.status.success(), "revoke needs --jti or --user");

    let Some(redis) = Redis::start() else { return };
    let (a, b) = (replica(&echo, &redis, &[]), replica(&echo, &redis, &[]));
    let url = redis.url();
    let env = [("GATEWAY_STATE", "redis"), ("REDIS_URL", url.as_str())];
    operator_suite("redis", &[&a, &b], &env, shared_token);
}

#[test]
fn redis_outage_answers_503_quickly_and_service_resumes_when_it_returns() {
    let Some(mut redis) = Redis::start() else { return };
    let echo = Echo::start();
    let timeout = Duration::from_millis(300);
    let gw = replica(&echo, &redis, &[("STATE_TIMEOUT", "300ms")]);
    let base = gw.url();
    let t = shared_token("alice");
    let sid = initialize(&base, &t);

    redis.kill();
    for _ in 0..5 {
        let started = Instant::now();
        let r = post(&base, &t, Some(&sid), PING);
        let took = started.elapsed();
        assert_eq!(r.status(), 503, "fail closed while Redis is down");
        assert!(took < timeout + Duration::from_millis(700), "took {took:?}");
        let body: Value = r.json().unwrap();
        assert_eq!(body["error"]["data"]["error"], "state_unavailable", "{body}");
    }
    let api = client()
        .get(format!("{base}/api/notes"))
        .bearer_auth(&t)
        .send()
        .unwrap();
    assert_eq!(api.status(), 503);
    assert_eq!(api.json::<Value>().unwrap()["error"], "state_unavailable");
    let health = client().get(format!("{base}/healthz")).send().unwrap();
    assert_eq!(health.status(), 200, "plain health stays up");
    let m = gw.metrics();
    assert!(
        metric(
            &m,
            "vaultgate_gateway_state_errors_total{backend=\"redis\",op=\"revocation_check\"}"
        ) >= 6.0,
        "{m}"
    );
    assert!(
        gw.audit_lines()
            .iter()
            .any(|l| l["event"] == "auth_unavailable" && l["reason"] == "state_unavailable"),
        "an audit line for the refusal"
    );

    // A blackholed Redis (accepts, never answers) is bounded by the timeout too.
    redis.restart();
    redis.command("CLIENT PAUSE 3000 ALL");
    let started = Instant::now();
    let r = post(&base, &t, None, INIT);
    assert_eq!(r.status(), 503);
    assert!(
        started.elapsed() < timeout + Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );

    // Back on the same port: service resumes without restarting the gateway.
    eventually("service resumes after Redis returns", Duration::from_secs(15), || {
        post(&base, &t, None, INIT).status() == 200
    });
}

#[test]
fn the_compose_load_balancer_spreads_requests_over_two_replicas_sharing_redis() {
    let Some(redis) = Redis::start() else { return };
    let Some(nginx) = tools::require_tool("nginx", "apt-get install -y nginx") else {
        return;
    };
    let echo = Echo::start();
    let trusted = [("TRUSTED_PROXIES", "127.0.0.1/32")];
    let (a, b) = (replica(&echo, &redis, &trusted), replica(&echo, &redis, &trusted));
    // deploy/nginx/vaultgate-lb.conf as compose runs it, with the replicas' host names and the
    // listening port replaced by loopback ports, and its scratch paths moved into a temp dir.
    let dir = tempfile::tempdir().unwrap();
    let lb_port = vaultgate_tests::free_port();
    let conf = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/nginx/vaultgate-lb.conf"
    ))
    .unwrap()
    .replace("gateway-1:7860", &format!("127.0.0.1:{}", a.port))
    .replace("gateway-2:7860", &format!("127.0.0.1:{}", b.port))
    .replace("listen 7860;", &format!("listen 127.0.0.1:{lb_port};"))
    .replace("/tmp/nginx-lb", &dir.path().join("nginx-lb").display().to_string());
    assert!(
        conf.contains(&format!("127.0.0.1:{}", b.port)),
        "the replica addresses moved"
    );
    let path = dir.path().join("lb.conf");
    std::fs::write(&path, conf).unwrap();
    let check = Command::new(&nginx).arg("-t").arg("-c").arg(&path).output().unwrap();
    assert!(
        check.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let mut cmd = Command::new(&nginx);
    cmd.arg("-c").arg(&path).args(["-g", "daemon off;"]);
    let mut nginx = vaultgate_tests::Proc::spawn(cmd, "nginx");
    let lb = format!("http://127.0.0.1:{lb_port}");
    eventually("nginx answers", Duration::from_secs(10), || {
        client()
            .get(format!("{lb}/healthz"))
            .send()
            .is_ok_and(|r| r.status() == 200)
    });

    // A legacy client through the one port: its session works whichever replica answers.
    let alice = shared_token("alice");
    let sid = initialize(&lb, &alice);
    for _ in 0..8 {
        assert_eq!(post(&lb, &alice, Some(&sid), PING).status(), 200);
    }
    for (name, gw) in [("A", &a), ("B", &b)] {
        let served = sum_metric(&gw.metrics(), "vaultgate_gateway_requests_total");
        assert!(served >= 2, "replica {name} served {served} requests: not balanced");
    }
    // Logged out through the balancer: refused on both replicas from the next request on.
    assert_eq!(logout(&lb, &alice).status(), 200);
    for _ in 0..4 {
        assert_eq!(post(&lb, &alice, None, INIT).status(), 401);
    }
    nginx.terminate(Duration::from_secs(5));
}
