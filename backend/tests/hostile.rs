//! Hostile note texts, queries and routes through every tool and REST route that takes them.
//! Each is answered (refused with a 4xx that names the limit, or accepted), nothing refused
//! leaves a trace on disk, the backend's peak memory stays bounded, and another user is served
//! normally all the while.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::{Map, Value, json};
use vaultgate_tests::{Backend, tree};

/// What a case must get.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// Stored (and readable).
    Accepted,
    /// Refused with this HTTP status and error code, the message containing the text.
    Refused(u16, &'static str, &'static str),
}

struct Case {
    name: String,
    body: String,
    tags: Option<Vec<String>>,
    metadata: Option<Map<String, Value>>,
    want: Want,
}

fn case(name: impl Into<String>, body: impl Into<String>, want: Want) -> Case {
    Case {
        name: name.into(),
        body: body.into(),
        tags: None,
        metadata: None,
        want,
    }
}

/// A billion-laughs front matter: every level names the previous one `fan` times.
fn laughs(levels: usize, fan: usize) -> String {
    let mut y = String::from("---\nl0: &l0 [lol, lol]\n");
    for i in 1..levels {
        let refs = vec![format!("*l{}", i - 1); fan].join(", ");
        y.push_str(&format!("l{i}: &l{i} [{refs}]\n"));
    }
    y + "---\nbody\n"
}

const ANCHOR: Want = Want::Refused(400, "bad_request", "anchor");
const MIB: usize = 1024 * 1024;

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for depth in [2, 4, 6, 9, 12] {
        v.push(case(format!("alias bomb depth {depth}"), laughs(depth, 10), ANCHOR));
    }
    v.push(case("alias bomb, wide", laughs(3, 2000), ANCHOR));
    v.push(case(
        "billion laughs in flow mappings",
        "---\na: &a {x: 1, y: 1}\nb: &b {x: *a, y: *a, z: *a}\nc: {x: *b, y: *b, z: *b}\n---\n",
        ANCHOR,
    ));
    v.push(case(
        "merge-key laughs",
        "---\nbase: &b {k: v}\nm1: {<<: *b, <<: *b}\n---\n",
        ANCHOR,
    ));
    v.push(case(
        "merge key without an anchor",
        "---\nm: {<<: {k: v}}\n---\n",
        Want::Refused(400, "bad_request", "merge key"),
    ));
    v.push(case("anchored key", "---\n? &k key\n: v\n---\n", ANCHOR));
    v.push(case(
        "nested flow lists",
        format!("---\nk: {}{}\n---\n", "[".repeat(200), "]".repeat(200)),
        Want::Refused(400, "bad_request", "deep"),
    ));
    v.push(case(
        "nested flow mappings",
        format!("---\nk: {}\n---\n", "{a: ".repeat(100)),
        Want::Refused(400, "bad_request", "deep"),
    ));
    // Past 255 levels the YAML parser itself gives up: the text is not front matter but body.
    v.push(case(
        "nested flow lists past the parser's limit",
        format!("---\nk: {}{}\n---\n", "[".repeat(30_000), "]".repeat(30_000)),
        Want::Accepted,
    ));
    v.push(case(
        "unclosed nested flow mappings",
        format!("---\nk: {}\n---\n", "{a: ".repeat(10_000)),
        Want::Refused(400, "bad_request", "deep"),
    ));
    let block: String = (0..200).map(|i| format!("{}k{i}:\n", "  ".repeat(i))).collect();
    v.push(case(
        "nested block mappings",
        format!("---\n{block}---\n"),
        Want::Refused(400, "bad_request", "deep"),
    ));
    let keys: String = (0..5000).map(|i| format!("k{i}: v\n")).collect();
    v.push(case(
        "many front matter keys",
        format!("---\n{keys}---\n"),
        Want::Refused(400, "bad_request", "200 keys"),
    ));
    let tags: Vec<String> = (0..5000).map(|i| format!("t{i}")).collect();
    v.push(case(
        "many tags in front matter",
        format!("---\ntags: [{}]\n---\n", tags.join(", ")),
        Want::Refused(400, "bad_request", "100 tags"),
    ));
    v.push(Case {
        tags: Some(tags.clone()),
        ..case(
            "many tags as an argument",
            "b",
            Want::Refused(400, "bad_request", "100 tags"),
        )
    });
    v.push(Case {
        metadata: Some((0..5000).map(|i| (format!("k{i}"), json!(i))).collect()),
        ..case(
            "many keys as an argument",
            "b",
            Want::Refused(400, "bad_request", "200 keys"),
        )
    });
    v.push(case(
        "front matter over 64 KiB",
        format!("---\nt: '{}'\n---\n", "x".repeat(70 * 1024)),
        Want::Refused(413, "too_large", "front matter"),
    ));
    v.push(case(
        "note over 1 MiB",
        "x".repeat(MIB + 1),
        Want::Refused(413, "too_large", "limit is"),
    ));
    v.push(case(
        "many distinct links",
        (0..30_000).map(|i| format!("[[n{i}]]")).collect::<String>(),
        Want::Refused(400, "bad_request", "1000 distinct wikilinks"),
    ));
    v.push(case("nested brackets, 1 MB", "[[".repeat(MIB / 2), Want::Accepted));
    v.push(case(
        "brackets around one link",
        format!("{}x{}", "[[".repeat(MIB / 8), "]]".repeat(MIB / 8)),
        Want::Accepted,
    ));
    v.push(case(
        "the most links allowed",
        (0..1000).map(|i| format!("[[n{i}]] [[N{i}]]\n")).collect::<String>(),
        Want::Accepted,
    ));
    v.push(case(
        "NUL and control characters in the text",
        "---\ntitle: \"t\\0\\u001b\"\n---\nnul \0 esc \u{1b}[31m del \u{7f}\n",
        Want::Accepted,
    ));
    v
}

/// Bob writes, reads and searches in a loop; every answer must be right.
fn serve_bob(b: &Backend, stop: &AtomicBool, served: &AtomicUsize) {
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) || i == 0 {
        let body = format!("# Bob {i}\nsteady work [[bob-other]]");
        let (status, _, _) = b.rest("bob", "PUT", "/api/notes/bob.md", Some(json!({"body": body})));
        assert!(status == 200 || status == 201, "bob's write: {status}");
        let (status, _, v) = b.rest("bob", "GET", "/api/notes/bob.md", None);
        assert_eq!((status, v["body"].as_str()), (200, Some(body.as_str())));
        let (status, _, v) = b.rest("bob", "GET", "/api/search?q=steady", None);
        assert_eq!((status, v["results"][0]["path"].as_str()), (200, Some("bob.md")));
        i += 1;
        served.fetch_add(1, Ordering::Relaxed);
    }
}

/// Percent-encodes a query parameter value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                (c as char).to_string()
            } else {
                format!("%{c:02X}")
            }
        })
        .collect()
}

#[test]
fn hostile_notes_queries_and_routes_are_answered_cheaply_and_change_nothing() {
    let b = Backend::start();
    b.ok(
        "alice",
        "write_note",
        json!({"path": "keep.md", "body": "keep [[base]]"}),
    );
    b.ok("alice", "write_note", json!({"path": "base.md", "body": ""}));
    let rss_before = b.memory_kib("VmRSS");
    let alice = b.user_dir("alice");
    let stop = AtomicBool::new(false);
    let served = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let bob = s.spawn(|| serve_bob(&b, &stop, &served));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            note_cases(&b, &alice);
            search_cases(&b);
            route_cases(&b);
        }));
        stop.store(true, Ordering::Relaxed);
        bob.join().expect("bob was served correctly throughout");
        if let Err(e) = result {
            std::panic::resume_unwind(e);
        }
    });
    assert!(served.load(Ordering::Relaxed) > 0);
    // An alias bomb expanded would take gigabytes; the bound leaves room for SQLite's caches.
    let peak = b.memory_kib("VmHWM");
    assert!(
        peak < rss_before + 128 * 1024,
        "peak RSS {peak} KiB, {rss_before} KiB before the hostile cases"
    );
    for reason in ["yaml_anchor", "yaml_too_deep", "too_many_links", "too_many_keys"] {
        let sample = format!(r#"vaultgate_backend_rejected_notes_total{{reason="{reason}"}}"#);
        assert!(b.metric(&sample) > 0.0, "{sample}");
    }
}

fn note_cases(b: &Backend, alice: &std::path::Path) {
    for (n, c) in cases().into_iter().enumerate() {
        let path = format!("h/{n}.md");
        let mut args = json!({"path": path, "body": c.body});
        let mut rest_body = json!({"body": c.body});
        for target in [&mut args, &mut rest_body] {
            if let Some(t) = &c.tags {
                target["tags"] = json!(t);
            }
            if let Some(m) = &c.metadata {
                target["metadata"] = Value::Object(m.clone());
            }
        }
        let before = tree(alice);
        // MCP write_note
        let (is_error, v) = b.tool("alice", "write_note", args);
        check(&c, "write_note", is_error, 0, &v);
        // REST PUT
        let (status, _, v) = b.rest("alice", "PUT", &format!("/api/notes/r{path}"), Some(rest_body));
        check(&c, "PUT", status >= 400, status, &v);
        // MCP edit_note: prepended to an empty note, the text is the whole note.
        if c.tags.is_none() && c.metadata.is_none() {
            b.ok("alice", "delete_note", json!({"path": "base.md"}));
            b.ok("alice", "write_note", json!({"path": "base.md", "body": ""}));
            let (is_error, v) = b.tool(
                "alice",
                "edit_note",
                json!({"path": "base.md", "operation": "prepend", "text": c.body}),
            );
            check(&c, "edit_note", is_error, 0, &v);
        }
        match c.want {
            Want::Refused(..) => {
                assert_eq!(tree(alice), before, "{}: something changed on disk", c.name);
            }
            Want::Accepted => {
                let v = b.ok("alice", "read_note", json!({"path": path}));
                assert_eq!(v["content"].as_str(), Some(c.body.as_str()), "{}", c.name);
                let (status, _, r) = b.rest("alice", "GET", &format!("/api/notes/r{path}"), None);
                assert_eq!((status, &r["links"]), (200, &v["links"]), "{}", c.name);
                if c.name == "the most links allowed" {
                    assert_eq!(v["links"].as_array().map(Vec::len), Some(1000));
                }
            }
        }
    }
}

fn check(c: &Case, route: &str, is_error: bool, status: u16, v: &Value) {
    match c.want {
        Want::Accepted => assert!(!is_error, "{} via {route} was refused: {v}", c.name),
        Want::Refused(want_status, code, says) => {
            assert!(is_error, "{} via {route} was accepted: {v}", c.name);
            if status != 0 {
                assert_eq!(status, want_status, "{} via {route}: {v}", c.name);
            }
            assert_eq!(v["error"], code, "{} via {route}: {v}", c.name);
            let message = v["message"].as_str().unwrap_or("");
            assert!(message.contains(says), "{} via {route}: {message}", c.name);
        }
    }
}

fn search_cases(b: &Backend) {
    let many = |n: usize| (0..n).map(|i| format!("t{i}")).collect::<Vec<_>>();
    let cases: Vec<(&str, String, Vec<String>, bool)> = vec![
        ("NUL in the query", "a\0b".into(), vec![], false),
        ("escape in the query", "x\u{1b}[2J".into(), vec![], false),
        ("DEL in the query", "x\u{7f}".into(), vec![], false),
        ("query too long", "w".repeat(1001), vec![], false),
        ("too many terms", "w ".repeat(33), vec![], false),
        ("33 tag filters", "keep".into(), many(33), false),
        ("a thousand tag filters", "keep".into(), many(1000), false),
        ("NUL in a tag", "keep".into(), vec!["a\0b".into()], false),
        ("a very long tag", "keep".into(), vec!["t".repeat(5000)], false),
        ("32 tag filters", "keep".into(), many(32), true),
        ("32 prefix terms", "k* ".repeat(32), vec![], true),
        (
            "FTS syntax",
            "NEAR(keep base) OR \"x[[y\" col:umn^".into(),
            vec![],
            true,
        ),
    ];
    for (name, q, tags, ok) in cases {
        let (is_error, v) = b.tool("alice", "search_notes", json!({"query": q, "tags": tags}));
        assert_eq!(!is_error, ok, "{name} via search_notes: {v}");
        if !ok {
            assert_eq!(v["error"], "bad_request", "{name}: {v}");
        }
        let mut url = format!("/api/search?q={}", enc(&q));
        if !tags.is_empty() {
            url.push_str(&format!("&tags={}", enc(&tags.join(","))));
        }
        let (status, _, v) = b.rest("alice", "GET", &url, None);
        assert_eq!(status, if ok { 200 } else { 400 }, "{name} via /api/search: {v}");
    }
}

fn route_cases(b: &Backend) {
    // MCP has one endpoint.
    for target in ["/mcp/x", "/mcp/anything/else", "/mcp/mcp", "/mcpx"] {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        let (status, _) = b.raw("alice", "POST", target, Some(body));
        assert_eq!(status, 404, "{target}");
    }
    let (status, _) = b.raw("alice", "POST", "/mcp/", Some("{}"));
    assert_ne!(status, 404, "/mcp/ is the MCP endpoint too");
    // Too deep a folder filter.
    let deep = "d/".repeat(18);
    let (is_error, v) = b.tool("alice", "list_notes", json!({"folder": deep}));
    assert!(is_error && v["error"] == "invalid_path", "{v}");
    let (status, _, _) = b.rest("alice", "GET", &format!("/api/notes?folder={}", enc(&deep)), None);
    assert_eq!(status, 400);
}
