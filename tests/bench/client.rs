//! `bench-client`: the small HTTP client jobs of `tests/bench/gateway.sh` and `tests/bench/run.sh`
//! that `wrk` cannot do.
//!
//! ```text
//! bench-client ports N                          N free 127.0.0.1 ports, space-separated
//! bench-client wait ADDR PATH SECS              until ADDR answers any HTTP status (exit 1 on timeout)
//! bench-client get ADDR PATH                   prints the body of a 2xx GET (exit 1 otherwise)
//! bench-client check ADDR TOKEN                 one modern POST /mcp must answer 200
//! bench-client session ADDR TOKEN               legacy initialize → prints the Mcp-Session-Id
//! bench-client populate ADDR SECRET ISSUER USERS PER_USER CONNS modern|legacy
//!                                               one modern request per user, or PER_USER legacy
//!                                               initializes per user (each must mint a session)
//! bench-client steady ADDR TOKEN RATE SECS CONNS [allow-429]
//!                                               open-loop load at RATE req/s; a request delayed by
//!                                               the previous one counts from its scheduled time
//! bench-client summarize RESULTS.tsv            Markdown tables of medians and paired ratios
//! bench-client assertion SECRET USER            a backend identity assertion for USER (valid 60 s)
//! bench-client call ADDR BODY [NAME=VALUE…]      one POST /mcp with these extra headers; prints
//!                                               the answer's body (exit 1 unless 200)
//! bench-client open-session ADDR [NAME=VALUE…]   legacy initialize + notifications/initialized
//!                                               with these extra headers → prints the session id
//! ```
//! `ADDR` is `127.0.0.1:PORT`. Every command is bounded in time and exits non-zero when a
//! request fails, so the script can stop on the first broken component.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{HeaderMap, Request, StatusCode};
use hyper_util::rt::TokioIo;
use vaultgate_shared::UserId;
use vaultgate_shared::identity::{IdentityKey, sign_identity};
use vaultgate_tests::median;
use vaultgate_tests::tokens::TokenSpec;

/// One request may take at most this long before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A 2026-07-28 request carries the client's context in `_meta` (a real backend requires it).
const MODERN_BODY: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"bench-client","version":"0"}}}}"#;
const INITIALIZE_BODY: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench-client","version":"0"}}}"#;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Call {
    /// Revision 2026-07-28: no session, `Mcp-Method` on the request.
    Modern,
    /// Revision 2025-06-18 `initialize` without a session: the gateway mints one.
    Initialize,
}

/// One keep-alive HTTP/1.1 connection that reconnects after the server closes it.
struct Conn {
    addr: String,
    tx: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    fn new(addr: &str) -> Self {
        Self {
            addr: addr.to_owned(),
            tx: None,
        }
    }

    /// Makes sure there is a connection ready for the next request.
    async fn ready(&mut self) -> Result<(), String> {
        if self.tx.as_ref().is_none_or(|t| t.is_closed()) {
            let stream = tokio::net::TcpStream::connect(&self.addr)
                .await
                .map_err(|e| format!("connecting to {}: {e}", self.addr))?;
            let _ = stream.set_nodelay(true);
            let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake with {}: {e}", self.addr))?;
            tokio::spawn(conn);
            self.tx = Some(tx);
        }
        let ok = match self.tx.as_mut() {
            Some(tx) => tx.ready().await.is_ok(),
            None => false,
        };
        if !ok {
            self.tx = None;
            return Err(format!("connection to {} closed", self.addr));
        }
        Ok(())
    }

    /// Sends one request and reads the whole answer.
    async fn send(&mut self, req: Request<Full<Bytes>>) -> Result<(StatusCode, HeaderMap, Bytes), String> {
        let attempt = async {
            if self.ready().await.is_err() {
                // A connection the server closed after its last answer: one fresh try.
                self.ready().await?;
            }
            let tx = self.tx.as_mut().ok_or("no connection")?;
            let resp = tx.send_request(req).await.map_err(|e| format!("request: {e}"))?;
            let (parts, body) = resp.into_parts();
            let body = body.collect().await.map_err(|e| format!("body: {e}"))?.to_bytes();
            Ok::<_, String>((parts.status, parts.headers, body))
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, attempt).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                self.tx = None;
                Err(e)
            }
            Err(_) => {
                self.tx = None;
                Err(format!("no answer from {} within {REQUEST_TIMEOUT:?}", self.addr))
            }
        }
    }
}

fn mcp_request(addr: &str, token: &str, call: Call) -> Request<Full<Bytes>> {
    let b = Request::post("/mcp")
        .header("host", addr)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    let (b, body) = match call {
        Call::Modern => (
            b.header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", "tools/list"),
            MODERN_BODY,
        ),
        Call::Initialize => (b.header("mcp-protocol-version", "2025-06-18"), INITIALIZE_BODY),
    };
    b.body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("static request is valid")
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("bench-client: {msg}");
    std::process::exit(1)
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, name: &str) -> T {
    args.get(i).and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        fail(format!(
            "argument {i} ({name}) missing or invalid; see the usage in the source"
        ))
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match args.first().map(String::as_str) {
        Some("ports") => ports(arg(&args, 1, "N")),
        Some("wait") => rt.block_on(wait(
            &arg::<String>(&args, 1, "ADDR"),
            &arg::<String>(&args, 2, "PATH"),
            arg(&args, 3, "SECS"),
        )),
        Some("get") => rt.block_on(get(&arg::<String>(&args, 1, "ADDR"), &arg::<String>(&args, 2, "PATH"))),
        Some("check") => rt.block_on(check(
            &arg::<String>(&args, 1, "ADDR"),
            &arg::<String>(&args, 2, "TOKEN"),
        )),
        Some("session") => rt.block_on(session(
            &arg::<String>(&args, 1, "ADDR"),
            &arg::<String>(&args, 2, "TOKEN"),
        )),
        Some("populate") => rt.block_on(populate(Populate {
            addr: arg(&args, 1, "ADDR"),
            secret: arg(&args, 2, "SECRET"),
            issuer: arg(&args, 3, "ISSUER"),
            users: arg(&args, 4, "USERS"),
            per_user: arg(&args, 5, "PER_USER"),
            conns: arg(&args, 6, "CONNS"),
            call: match arg::<String>(&args, 7, "ERA").as_str() {
                "modern" => Call::Modern,
                "legacy" => Call::Initialize,
                other => fail(format!("era must be modern or legacy, not {other}")),
            },
        })),
        Some("steady") => rt.block_on(steady(Steady {
            addr: arg(&args, 1, "ADDR"),
            token: arg(&args, 2, "TOKEN"),
            rate: arg(&args, 3, "RATE"),
            secs: arg(&args, 4, "SECS"),
            conns: arg(&args, 5, "CONNS"),
            allow_429: args.get(6).is_some_and(|a| a == "allow-429"),
        })),
        Some("summarize") => summarize(&arg::<String>(&args, 1, "RESULTS")),
        Some("assertion") => assertion(&arg::<String>(&args, 1, "SECRET"), &arg::<String>(&args, 2, "USER")),
        Some("call") => rt.block_on(call(
            &arg::<String>(&args, 1, "ADDR"),
            &arg::<String>(&args, 2, "BODY"),
            &args[3.min(args.len())..],
        )),
        Some("open-session") => rt.block_on(open_session(
            &arg::<String>(&args, 1, "ADDR"),
            &args[2.min(args.len())..],
        )),
        _ => fail(
            "usage: bench-client ports|wait|check|session|populate|steady|summarize|assertion|call|open-session … \
             (see the source)",
        ),
    }
}

fn assertion(secret: &str, user: &str) {
    let key = IdentityKey::new(secret.as_bytes()).unwrap_or_else(|e| fail(e));
    let user = UserId::parse(user).unwrap_or_else(|e| fail(e));
    println!("{}", sign_identity(&key, &user, None));
}

/// A POST /mcp with `body` and the `NAME=VALUE` headers given on the command line.
fn raw_request(addr: &str, body: &str, headers: &[String]) -> Request<Full<Bytes>> {
    let mut b = Request::post("/mcp")
        .header("host", addr)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    for h in headers {
        let (name, value) = h
            .split_once('=')
            .unwrap_or_else(|| fail(format!("header '{h}' is not NAME=VALUE")));
        b = b.header(name, value);
    }
    b.body(Full::new(Bytes::from(body.to_owned())))
        .unwrap_or_else(|e| fail(format!("bad request: {e}")))
}

async fn call(addr: &str, body: &str, headers: &[String]) {
    let mut c = Conn::new(addr);
    match c.send(raw_request(addr, body, headers)).await {
        Ok((s, _, body)) if s == StatusCode::OK => println!("{}", String::from_utf8_lossy(&body)),
        Ok((s, _, body)) => fail(format!(
            "{addr}: POST /mcp answered {s}: {}",
            String::from_utf8_lossy(&body)
        )),
        Err(e) => fail(e),
    }
}

async fn open_session(addr: &str, headers: &[String]) {
    let mut c = Conn::new(addr);
    let id = match c.send(raw_request(addr, INITIALIZE_BODY, headers)).await {
        Ok((s, h, _)) if s == StatusCode::OK => match h.get("mcp-session-id").and_then(|v| v.to_str().ok()) {
            Some(id) => id.to_owned(),
            None => fail(format!("{addr}: initialize answered 200 without Mcp-Session-Id")),
        },
        Ok((s, _, body)) => fail(format!(
            "{addr}: initialize answered {s}: {}",
            String::from_utf8_lossy(&body)
        )),
        Err(e) => fail(e),
    };
    let mut headers = headers.to_vec();
    headers.push(format!("mcp-session-id={id}"));
    headers.push("mcp-protocol-version=2025-06-18".into());
    let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    match c.send(raw_request(addr, note, &headers)).await {
        Ok((s, _, _)) if s.is_success() => println!("{id}"),
        Ok((s, _, body)) => fail(format!(
            "{addr}: notifications/initialized answered {s}: {}",
            String::from_utf8_lossy(&body)
        )),
        Err(e) => fail(e),
    }
}

fn ports(n: usize) {
    // Hold all listeners until every port is chosen, so the N ports differ.
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| fail(e)))
        .collect();
    let ports: Vec<String> = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port().to_string()).unwrap_or_else(|e| fail(e)))
        .collect();
    println!("{}", ports.join(" "));
}

async fn wait(addr: &str, path: &str, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let mut c = Conn::new(addr);
        let req = Request::get(path)
            .header("host", addr)
            .body(Full::new(Bytes::new()))
            .expect("static request is valid");
        if c.send(req).await.is_ok() {
            return;
        }
        if Instant::now() > deadline {
            fail(format!("{addr} did not answer within {secs} s"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn get(addr: &str, path: &str) {
    let mut c = Conn::new(addr);
    let req = Request::get(path)
        .header("host", addr)
        .body(Full::new(Bytes::new()))
        .expect("static request is valid");
    match c.send(req).await {
        Ok((s, _, body)) if s.is_success() => print!("{}", String::from_utf8_lossy(&body)),
        Ok((s, _, _)) => fail(format!("GET {addr}{path} answered {s}")),
        Err(e) => fail(e),
    }
}

async fn check(addr: &str, token: &str) {
    let mut c = Conn::new(addr);
    match c.send(mcp_request(addr, token, Call::Modern)).await {
        Ok((s, _, _)) if s == StatusCode::OK => {}
        Ok((s, _, body)) => fail(format!(
            "{addr}: POST /mcp answered {s}: {}",
            String::from_utf8_lossy(&body)
        )),
        Err(e) => fail(e),
    }
}

async fn session(addr: &str, token: &str) {
    let mut c = Conn::new(addr);
    match c.send(mcp_request(addr, token, Call::Initialize)).await {
        Ok((s, h, _)) if s == StatusCode::OK => match h.get("mcp-session-id").and_then(|v| v.to_str().ok()) {
            Some(id) => println!("{id}"),
            None => fail(format!("{addr}: initialize answered 200 without Mcp-Session-Id")),
        },
        Ok((s, _, body)) => fail(format!(
            "{addr}: initialize answered {s}: {}",
            String::from_utf8_lossy(&body)
        )),
        Err(e) => fail(e),
    }
}

struct Populate {
    addr: String,
    secret: String,
    issuer: String,
    users: usize,
    per_user: usize,
    conns: usize,
    call: Call,
}

/// Sends `users × per_user` requests over `conns` connections; every one must succeed
/// (and, for `initialize`, mint a session).
async fn populate(p: Populate) {
    let started = Instant::now();
    let tokens: Arc<Vec<String>> = Arc::new(
        (0..p.users)
            .map(|u| {
                TokenSpec::valid(&format!("bench_u{u:06}"), &p.issuer)
                    .secret(&p.secret)
                    .sign()
            })
            .collect(),
    );
    let per_user = if p.call == Call::Modern { 1 } else { p.per_user };
    let total = p.users * per_user;
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..p.conns.max(1) {
        let (tokens, next, addr, call) = (tokens.clone(), next.clone(), p.addr.clone(), p.call);
        workers.push(tokio::spawn(async move {
            let mut c = Conn::new(&addr);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok::<(), String>(());
                }
                // Round-robin over users, so each user's sessions are created spread in time.
                let token = &tokens[i % tokens.len()];
                let (status, headers, body) = c.send(mcp_request(&addr, token, call)).await?;
                if status != StatusCode::OK {
                    return Err(format!("request {i}: {status}: {}", String::from_utf8_lossy(&body)));
                }
                if call == Call::Initialize && !headers.contains_key("mcp-session-id") {
                    return Err(format!("request {i}: initialize answered without Mcp-Session-Id"));
                }
            }
        }));
    }
    for w in workers {
        match w.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => fail(e),
            Err(e) => fail(e),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "POPULATE requests={total} users={} secs={secs:.1} rate={:.0}",
        p.users,
        total as f64 / secs
    );
}

struct Steady {
    addr: String,
    token: String,
    rate: f64,
    secs: f64,
    conns: usize,
    allow_429: bool,
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    ok: u64,
    limited: u64,
    other: u64,
    errors: u64,
    first_problem: Option<String>,
}

/// Open-loop load: each connection sends on its own fixed schedule; a late answer delays
/// the next send but its latency is counted from when it should have been sent.
async fn steady(s: Steady) {
    let conns = s.conns.max(1);
    let every = Duration::from_secs_f64(conns as f64 / s.rate);
    let start = tokio::time::Instant::now() + Duration::from_millis(20);
    let end = start + Duration::from_secs_f64(s.secs);
    let mut workers = Vec::new();
    for k in 0..conns {
        let (addr, token) = (s.addr.clone(), s.token.clone());
        let first = start + every.mul_f64(k as f64 / conns as f64);
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut c = Conn::new(&addr);
            let mut ticks = tokio::time::interval_at(first, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut previous_done = tokio::time::Instant::now();
            loop {
                let scheduled = ticks.tick().await;
                if scheduled >= end {
                    return tally;
                }
                // The timer wakes up to ~1 ms late: when the connection was free at the scheduled
                // time, count from the actual send; when the previous answer was late, count from
                // the scheduled time, so the wait it caused is not omitted.
                let sent = tokio::time::Instant::now();
                let from = if previous_done > scheduled { scheduled } else { sent };
                let result = c.send(mcp_request(&addr, &token, Call::Modern)).await;
                previous_done = tokio::time::Instant::now();
                match result {
                    Ok((status, _, body)) => {
                        tally.latencies_us.push((previous_done - from).as_micros() as u64);
                        match status.as_u16() {
                            200..=299 => tally.ok += 1,
                            429 => tally.limited += 1,
                            _ => {
                                tally.other += 1;
                                tally
                                    .first_problem
                                    .get_or_insert_with(|| format!("{status}: {}", String::from_utf8_lossy(&body)));
                            }
                        }
                    }
                    Err(e) => {
                        tally.errors += 1;
                        tally.first_problem.get_or_insert(e);
                    }
                }
            }
        }));
    }
    let mut all = Tally::default();
    for w in workers {
        let t = w.await.unwrap_or_else(|e| fail(e));
        all.latencies_us.extend(t.latencies_us);
        all.ok += t.ok;
        all.limited += t.limited;
        all.other += t.other;
        all.errors += t.errors;
        if all.first_problem.is_none() {
            all.first_problem = t.first_problem;
        }
    }
    all.latencies_us.sort_unstable();
    let pct = |p: f64| -> u64 {
        let v = &all.latencies_us;
        if v.is_empty() {
            return 0;
        }
        v[((p / 100.0 * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
    };
    println!(
        "STEADY ok={} limited={} other={} errors={} p50_us={} p90_us={} p99_us={} max_us={}",
        all.ok,
        all.limited,
        all.other,
        all.errors,
        pct(50.0),
        pct(90.0),
        pct(99.0),
        pct(100.0)
    );
    let refused = all.other + all.errors + if s.allow_429 { 0 } else { all.limited };
    if refused > 0 || all.ok == 0 {
        fail(format!(
            "{refused} of {} requests failed; first: {}",
            all.latencies_us.len() as u64 + all.errors,
            all.first_problem.unwrap_or_else(|| "none succeeded".into())
        ));
    }
}

/// One `wrk` run as the script records it.
struct Row {
    round: u32,
    target: String,
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_us: Option<f64>,
}

/// Reads `round target rps p50_us p99_us cpu_us_per_req errors` rows (tab-separated,
/// `-` for no CPU figure) and prints the medians per target and the ratios of pairs
/// measured in the same round.
fn summarize(path: &str) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| fail(format!("{path}: {e}")));
    let rows: Vec<Row> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
            Row {
                round: num(0).unwrap_or(0.0) as u32,
                target: f.get(1).copied().unwrap_or("?").to_owned(),
                rps: num(2).unwrap_or(f64::NAN),
                p50_us: num(3).unwrap_or(f64::NAN),
                p99_us: num(4).unwrap_or(f64::NAN),
                cpu_us: num(5),
            }
        })
        .collect();
    let mut targets: Vec<String> = Vec::new();
    for r in &rows {
        if !targets.contains(&r.target) {
            targets.push(r.target.clone());
        }
    }
    fn of<'a>(rows: &'a [Row], t: &'a str) -> impl Iterator<Item = &'a Row> + 'a {
        rows.iter().filter(move |r| r.target == t)
    }
    println!("| target | req/s (median) | req/s per round | p50 ms | p99 ms | proxy CPU µs/req |");
    println!("| --- | ---: | --- | ---: | ---: | ---: |");
    for t in &targets {
        let rps: Vec<f64> = of(&rows, t).map(|r| r.rps).collect();
        let cpu: Vec<f64> = of(&rows, t).filter_map(|r| r.cpu_us).collect();
        println!(
            "| {t} | {:.0} | {} | {:.3} | {:.3} | {} |",
            median(rps.clone()),
            rps.iter().map(|v| format!("{v:.0}")).collect::<Vec<_>>().join(" / "),
            median(of(&rows, t).map(|r| r.p50_us).collect()) / 1000.0,
            median(of(&rows, t).map(|r| r.p99_us).collect()) / 1000.0,
            if cpu.is_empty() {
                "–".to_owned()
            } else {
                format!("{:.1}", median(cpu))
            }
        );
    }
    // Ratios of runs from the same round, then the median over rounds.
    let by_round = |t: &'static str| -> BTreeMap<u32, &Row> { of(&rows, t).map(|r| (r.round, r)).collect() };
    let pairs = [
        (
            "gateway-modern",
            "pingora-bare",
            "throughput, gateway (modern) / bare Pingora",
            "≥ 0.85",
        ),
        (
            "gateway-modern",
            "haproxy-jwt",
            "throughput, gateway (modern) / HAProxy-JWT",
            "goal ≥ 1",
        ),
        (
            "gateway-modern",
            "nginx-plain",
            "throughput, gateway (modern) / nginx plain",
            "",
        ),
        (
            "pingora-bare",
            "nginx-plain",
            "throughput, bare Pingora / nginx plain",
            "",
        ),
        (
            "gateway-legacy",
            "gateway-modern",
            "throughput, gateway legacy (session) / modern",
            "≥ 0.95",
        ),
        (
            "gateway-legacy",
            "pingora-bare",
            "throughput, gateway (legacy) / bare Pingora",
            "",
        ),
    ];
    println!();
    println!("| comparison (same-round pairs) | median | per round | target |");
    println!("| --- | ---: | --- | --- |");
    for (a, b, what, target) in pairs {
        let (ra, rb) = (by_round(a), by_round(b));
        let v: Vec<f64> = ra
            .iter()
            .filter_map(|(k, x)| rb.get(k).map(|y| x.rps / y.rps))
            .collect();
        if v.is_empty() {
            continue;
        }
        println!(
            "| {what} | {:.3} | {} | {target} |",
            median(v.clone()),
            v.iter().map(|x| format!("{x:.3}")).collect::<Vec<_>>().join(" / ")
        );
    }
    for (a, b, what, target) in [
        (
            "gateway-modern@c1",
            "pingora-bare@c1",
            "added p50 latency at 1 connection, gateway (modern) − bare Pingora",
            "≤ 0.1 ms",
        ),
        (
            "gateway-legacy@c1",
            "pingora-bare@c1",
            "added p50 latency at 1 connection, gateway (legacy) − bare Pingora",
            "",
        ),
        (
            "haproxy-jwt@c1",
            "pingora-bare@c1",
            "added p50 latency at 1 connection, HAProxy-JWT − bare Pingora",
            "",
        ),
        (
            "gateway-modern",
            "pingora-bare",
            "added p50 at 32 connections (mostly queueing), gateway (modern) − bare Pingora",
            "",
        ),
    ] {
        let (ra, rb) = (by_round(a), by_round(b));
        let v: Vec<f64> = ra
            .iter()
            .filter_map(|(k, x)| rb.get(k).map(|y| (x.p50_us - y.p50_us) / 1000.0))
            .collect();
        if !v.is_empty() {
            println!(
                "| {what} | {:.3} ms | {} | {target} |",
                median(v.clone()),
                v.iter().map(|x| format!("{x:.3}")).collect::<Vec<_>>().join(" / ")
            );
        }
    }
    for (a, b, what) in [
        (
            "gateway-modern",
            "pingora-bare",
            "proxy CPU per request, gateway (modern) − bare Pingora",
        ),
        (
            "gateway-legacy",
            "gateway-modern",
            "proxy CPU per request, gateway legacy − modern",
        ),
    ] {
        let (ra, rb) = (by_round(a), by_round(b));
        let v: Vec<f64> = ra
            .iter()
            .filter_map(|(k, x)| Some(x.cpu_us? - rb.get(k)?.cpu_us?))
            .collect();
        if !v.is_empty() {
            println!(
                "| {what} | {:.1} µs | {} | |",
                median(v.clone()),
                v.iter().map(|x| format!("{x:.1}")).collect::<Vec<_>>().join(" / ")
            );
        }
    }
}
