//! The gateway on the real internet, end to end: local sign-in behind a tunnel, client
//! addresses behind proxies, floods of made-up Hugging Face tokens, framing, and cross-site
//! use of the page's cookie. Every fake (backend, Hugging Face) runs on loopback.

use std::sync::Arc;

use vaultgate_tests::echo::{Echo, HF_STATUS_PREFIX, HF_USERS};
use vaultgate_tests::{Gateway, client};

fn whoami_calls(hf: &Echo) -> usize {
    hf.seen
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path == "/api/whoami-v2")
        .count()
}

fn random_hf_token() -> String {
    format!("hf_{}", uuid::Uuid::new_v4().simple())
}

fn post_mcp(gw: &Gateway, token: Option<&str>, xff: Option<&str>) -> reqwest::blocking::Response {
    let mut rb = client()
        .post(format!("{}/mcp", gw.url()))
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("Mcp-Method", "tools/list")
        .header("Content-Type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(x) = xff {
        rb = rb.header("X-Forwarded-For", x);
    }
    rb.send().unwrap()
}

#[test]
fn local_sign_in_is_refused_through_any_forwarder_or_for_a_foreign_host() {
    let echo = Echo::start();
    let code = "start-up-code-7f3a9c";
    let gw = Gateway::start(&echo.url(), &[("LOCAL_SIGNIN_CODE", code)]);
    let origin = format!("http://localhost:{}", gw.port);
    let without_code = |headers: &[(&str, &str)]| {
        let mut rb = client()
            .post(format!("{}/auth/local", gw.url()))
            .header("Origin", &origin);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        rb.send().unwrap()
    };
    // A reverse proxy on this machine with nginx's defaults (`proxy_pass http://127.0.0.1:PORT`)
    // adds no forwarding header and sends our own Host: only the code printed at start (which a
    // remote visitor does not have) tells it from a browser here.
    let ours = format!("127.0.0.1:{}", gw.port);
    for headers in [
        vec![("Host", ours.as_str())],
        vec![("Host", ours.as_str()), ("x-vaultgate-local-code", "guess")],
        vec![("Host", ours.as_str()), ("x-vaultgate-local-code", "")],
    ] {
        let r = without_code(&headers);
        assert_eq!(r.status(), 403, "{headers:?}");
        let body: serde_json::Value = r.json().unwrap();
        assert!(body["message"].as_str().unwrap_or_default().contains("code"), "{body}");
    }
    let local = |headers: &[(&str, &str)]| {
        let mut rb = client()
            .post(format!("{}/auth/local", gw.url()))
            .header("Origin", &origin)
            .header("x-vaultgate-local-code", code);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        rb.send().unwrap()
    };
    // The positive control: a browser on this machine, straight to the port.
    let r = local(&[]);
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("vaultgate_token=")
    );
    let localhost = format!("localhost:{}", gw.port);
    assert_eq!(local(&[("Host", localhost.as_str())]).status(), 200);

    let hostile: Vec<(&str, &str)> = vec![
        ("Forwarded", "for=203.0.113.9;proto=https"),
        ("X-Forwarded-For", "203.0.113.9"),
        ("X-Forwarded-Host", "me.trycloudflare.com"),
        ("X-Forwarded-Proto", "https"),
        ("X-Real-IP", "203.0.113.9"),
        ("CF-Connecting-IP", "203.0.113.9"),
        ("True-Client-IP", "203.0.113.9"),
        ("Host", "me.trycloudflare.com"),
        ("Host", "abc.ngrok-free.app"),
        ("Host", "localhost:1"),
    ];
    for (name, value) in hostile {
        let r = local(&[(name, value)]);
        assert_eq!(r.status(), 403, "{name}: {value}");
        let body: serde_json::Value = r.json().unwrap();
        let message = body["message"].as_str().unwrap_or_default().to_owned();
        assert!(message.contains("set up real sign-in"), "{name}: {message}");
    }
    assert!(
        gw.audit_lines()
            .iter()
            .any(|l| l["event"] == "signin" && l["outcome"] == "forbidden")
    );
}

#[test]
fn clients_behind_a_trusted_proxy_get_their_own_buckets() {
    let echo = Echo::start();
    let gw = Gateway::start(
        &echo.url(),
        &[("TRUSTED_PROXIES", "127.0.0.1/32"), ("IP_RATE_LIMIT_PER_MINUTE", "10")],
    );
    let config = |xff: &str| {
        client()
            .get(format!("{}/auth/config", gw.url()))
            .header("X-Forwarded-For", xff)
            .send()
            .unwrap()
            .status()
    };
    for _ in 0..10 {
        assert_eq!(config("198.51.100.1"), 200);
    }
    assert_eq!(config("198.51.100.1"), 429, "the first client's bucket is empty");
    for (xff, status) in [
        ("198.51.100.1:5555", 429),       // the same client, with a port
        ("spoofed, 198.51.100.1", 429),   // a spoofed left hop changes nothing
        ("198.51.100.2", 200),            // another client
        ("[2001:db8::2]:443", 200),       // another client, IPv6 with port
        ("198.51.100.1, 127.0.0.1", 429), // a trusted hop on the right is skipped
        ("unknown", 200),                 // an unknown client: its own bucket
        ("garbage, 198.51.100.3", 200),   // junk on the left does not hide the client
    ] {
        assert_eq!(config(xff), status, "{xff}");
    }
}

#[test]
fn requests_without_a_credential_are_not_failed_authentications() {
    let echo = Echo::start();
    let gw = Gateway::start(&echo.url(), &[("AUTH_FAILURE_LIMIT_PER_MINUTE", "2")]);
    // The first step of OAuth discovery, many times over: 401, never 429.
    for _ in 0..6 {
        assert_eq!(post_mcp(&gw, None, None).status(), 401);
    }
    // Wrong tokens still are.
    assert_eq!(post_mcp(&gw, Some("not.a.token"), None).status(), 401);
    assert_eq!(post_mcp(&gw, Some("not.a.token"), None).status(), 401);
    assert_eq!(post_mcp(&gw, Some("not.a.token"), None).status(), 429);
    // And a good token from the same address is still served.
    assert_eq!(post_mcp(&gw, Some(&gw.token("alice")), None).status(), 200);
}

#[test]
fn a_flood_of_made_up_hf_tokens_costs_at_most_the_failed_auth_limit_in_calls() {
    const LIMIT: usize = 5;
    let upstream = Echo::start();
    let hf = Echo::start();
    let gw = Arc::new(Gateway::start(
        &upstream.url(),
        &[
            ("HF_API_URL", &hf.url()),
            ("AUTH_FAILURE_LIMIT_PER_MINUTE", &LIMIT.to_string()),
            ("TRUSTED_PROXIES", "127.0.0.1/32"),
        ],
    ));
    // One address, sequentially and from several threads at once.
    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(
            post_mcp(&gw, Some(&random_hf_token()), Some("198.51.100.7"))
                .status()
                .as_u16(),
        );
    }
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let gw = gw.clone();
            std::thread::spawn(move || {
                (0..10)
                    .map(|_| {
                        post_mcp(&gw, Some(&random_hf_token()), Some("198.51.100.7"))
                            .status()
                            .as_u16()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for t in threads {
        statuses.extend(t.join().unwrap());
    }
    assert!(
        whoami_calls(&hf) <= LIMIT,
        "{} calls for one address",
        whoami_calls(&hf)
    );
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
    assert!(statuses.iter().filter(|s| **s == 429).count() >= 60 - LIMIT);

    // Many addresses: each within its own budget.
    let before = whoami_calls(&hf);
    for n in 0..8 {
        let xff = format!("198.51.100.{}", 20 + n);
        for _ in 0..(LIMIT + 3) {
            post_mcp(&gw, Some(&random_hf_token()), Some(&xff));
        }
    }
    assert!(whoami_calls(&hf) - before <= 8 * LIMIT);
    assert_eq!(upstream.count(), 0, "nothing reached the backend");
}

#[test]
fn hugging_face_rate_limiting_us_pauses_checks_and_answers_503() {
    let upstream = Echo::start();
    let hf = Echo::start();
    let gw = Gateway::start(&upstream.url(), &[("HF_API_URL", &hf.url())]);
    let r = post_mcp(&gw, Some(&format!("{HF_STATUS_PREFIX}429_x")), None);
    assert_eq!(r.status(), 503);
    assert_eq!(
        r.headers()["retry-after"],
        "7",
        "Hugging Face's Retry-After is passed on"
    );
    // While paused, an uncached token is not asked about at all.
    let r = post_mcp(&gw, Some(HF_USERS[0].0), None);
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(whoami_calls(&hf), 1);
    assert_eq!(upstream.count(), 0);
}

#[test]
fn only_huggingface_may_frame_the_page() {
    let echo = Echo::start();
    let gw = Gateway::start(&echo.url(), &[]);
    let r = client().get(format!("{}/", gw.url())).send().unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("frame-ancestors 'self' https://huggingface.co"), "{csp}");
    assert!(!csp.contains("hf.space"), "{csp}");
}

#[test]
fn the_cookie_only_works_from_our_own_page_whatever_allowed_origins_says() {
    let echo = Echo::start();
    let gw = Gateway::start(&echo.url(), &[("ALLOWED_ORIGINS", "*")]);
    let cookie = format!("vaultgate_token={}", gw.token("alice"));
    let ours = format!("http://localhost:{}", gw.port);
    let put = |origin: Option<&str>, ctype: Option<&str>| {
        let mut rb = client()
            .put(format!("{}/api/notes/a.md", gw.url()))
            .header("Cookie", &cookie)
            .body(r#"{"body":"x"}"#);
        if let Some(o) = origin {
            rb = rb.header("Origin", o);
        }
        if let Some(c) = ctype {
            rb = rb.header("Content-Type", c);
        }
        rb.send().unwrap().status().as_u16()
    };
    for (origin, ctype, want) in [
        (Some("https://evil.example"), Some("application/json"), 403),
        (Some("null"), Some("application/json"), 403),
        (None, Some("application/json"), 403),
        (Some(ours.as_str()), Some("text/plain"), 415),
        (Some(ours.as_str()), Some("application/x-www-form-urlencoded"), 415),
        (Some(ours.as_str()), None, 415),
        (Some(ours.as_str()), Some("application/json"), 200),
    ] {
        assert_eq!(put(origin, ctype), want, "{origin:?} {ctype:?}");
    }
    assert_eq!(echo.count(), 1, "only the same-origin JSON request was forwarded");
    // A bearer client from any origin is what ALLOWED_ORIGINS=* is for.
    let r = client()
        .put(format!("{}/api/notes/a.md", gw.url()))
        .bearer_auth(gw.token("alice"))
        .header("Origin", "https://evil.example")
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn the_page_may_upload_an_import_zip_and_nothing_else_in_that_type() {
    let echo = Echo::start();
    let gw = Gateway::start(&echo.url(), &[]);
    let cookie = format!("vaultgate_token={}", gw.token("alice"));
    let ours = format!("http://localhost:{}", gw.port);
    let send = |method: reqwest::Method, path: &str, origin: &str, ctype: &str, body: Vec<u8>| {
        client()
            .request(method, format!("{}{path}", gw.url()))
            .header("Cookie", &cookie)
            .header("Origin", origin)
            .header("Content-Type", ctype)
            .body(body)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    let zip = || b"PK\x05\x06".to_vec();
    let post = reqwest::Method::POST;
    assert_eq!(
        send(
            post.clone(),
            "/api/import?overwrite=true",
            &ours,
            "application/zip",
            zip()
        ),
        200
    );
    assert_eq!(echo.count(), 1, "the import was forwarded");
    for (method, path, origin, ctype, want) in [
        (
            post.clone(),
            "/api/import",
            "https://evil.example",
            "application/zip",
            403,
        ),
        (post.clone(), "/api/notes/a.md", ours.as_str(), "application/zip", 415),
        (
            reqwest::Method::PUT,
            "/api/import",
            ours.as_str(),
            "application/zip",
            415,
        ),
        (
            post.clone(),
            "/api/import",
            ours.as_str(),
            "application/octet-stream",
            415,
        ),
    ] {
        assert_eq!(
            send(method.clone(), path, origin, ctype, zip()),
            want,
            "{method} {path} {origin} {ctype}"
        );
    }
    // Over the backend's 50 MiB cap: refused on the declared length alone, before any body is
    // sent or anything forwarded (a raw request: only the headers go out).
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    write!(
        conn,
        "POST /api/import HTTP/1.1\r\nHost: localhost:{}\r\nCookie: {cookie}\r\nOrigin: {ours}\r\n\
         Content-Type: application/zip\r\nContent-Length: {}\r\n\r\n",
        gw.port,
        50 * 1024 * 1024 + 1
    )
    .unwrap();
    let mut head = [0u8; 12];
    conn.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 413", "{}", String::from_utf8_lossy(&head));
    drop(post);
    assert_eq!(echo.count(), 1, "nothing else was forwarded");
}
