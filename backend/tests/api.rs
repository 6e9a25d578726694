//! Every tool and REST route through HTTP with real identity assertions, the error cases, the
//! identity gate, and the metrics the gateway's tests rely on.

use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use vaultgate_shared::UserId;
use vaultgate_shared::headers::{IDENTITY, USER};
use vaultgate_shared::identity::{IdentityKey, sign_identity, sign_identity_at};
use vaultgate_tests::{Backend, IDENTITY_SECRET as SECRET};

fn paths(v: &Value, list: &str) -> Vec<String> {
    v[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["path"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn every_tool_through_mcp() {
    let b = Backend::start();
    let u = "alice";
    // tools/list: the exact set, each with a schema and annotations.
    let list = b.mcp(u, "tools/list", json!({}));
    let tools = list["result"]["tools"].as_array().unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "delete_note",
            "edit_note",
            "get_backlinks",
            "get_tags",
            "list_notes",
            "move_note",
            "read_note",
            "search_notes",
            "write_note"
        ]
    );
    for t in tools {
        let ro = t["annotations"]["readOnlyHint"].as_bool().unwrap();
        let destructive = t["annotations"]["destructiveHint"].as_bool().unwrap();
        let name = t["name"].as_str().unwrap();
        let reads = ["list_notes", "read_note", "search_notes", "get_backlinks", "get_tags"].contains(&name);
        assert_eq!((ro, destructive), (reads, !reads), "{name}");
        assert_eq!(t["inputSchema"]["type"], "object", "{name}");
        assert!(t["description"].as_str().unwrap().len() > 30, "{name}");
    }

    // write → read
    let w = b.ok(u, "write_note", json!({"path": "projects/plan.md", "body": "# The Plan\nShip it. See [[Ideas]].", "tags": ["Work"], "metadata": {"status": "draft"}}));
    assert_eq!(
        (w["path"].as_str(), w["title"].as_str(), w["created"].as_bool()),
        (Some("projects/plan.md"), Some("The Plan"), Some(true))
    );
    assert_eq!(w["tags"], json!(["work"]));
    let r = b.ok(u, "read_note", json!({"path": "projects/plan.md"}));
    assert_eq!(r["hash"], w["hash"]);
    assert_eq!(r["metadata"], json!({"status": "draft", "tags": ["work"]}));
    assert_eq!(r["body"], "# The Plan\nShip it. See [[Ideas]].");
    assert_eq!(r["links"], json!([{"target": "Ideas", "path": null}]));
    b.ok(
        u,
        "write_note",
        json!({"path": "ideas.md", "body": "# Ideas\nsome ideas", "tags": ["work", "brainstorm"]}),
    );
    assert_eq!(
        b.ok(u, "read_note", json!({"path": "projects/plan.md"}))["links"][0]["path"],
        "ideas.md"
    );

    // if_match: the current hash works, a stale one is a conflict that changes nothing.
    let hash = r["hash"].as_str().unwrap().to_owned();
    let w2 = b.ok(
        u,
        "write_note",
        json!({"path": "projects/plan.md", "body": "# The Plan\nv2 [[Ideas]]", "if_match": hash}),
    );
    assert_eq!(w2["created"], false);
    let e = b.err(
        u,
        "write_note",
        json!({"path": "projects/plan.md", "body": "lost update", "if_match": hash}),
        "conflict",
    );
    assert!(
        e["message"].as_str().unwrap().contains(w2["hash"].as_str().unwrap()),
        "{e}"
    );
    b.err(
        u,
        "edit_note",
        json!({"path": "projects/plan.md", "operation": "append", "text": "x", "if_match": hash}),
        "conflict",
    );
    assert_eq!(
        b.ok(u, "read_note", json!({"path": "projects/plan.md"}))["hash"],
        w2["hash"]
    );

    // edit_note: all three operations.
    b.ok(
        u,
        "edit_note",
        json!({"path": "ideas.md", "operation": "append", "text": "- tail"}),
    );
    b.ok(
        u,
        "edit_note",
        json!({"path": "ideas.md", "operation": "prepend", "text": "intro"}),
    );
    let ed = b.ok(
        u,
        "edit_note",
        json!({"path": "ideas.md", "operation": "replace_text", "find": "some ideas", "text": "many ideas"}),
    );
    let r = b.ok(u, "read_note", json!({"path": "ideas.md"}));
    assert_eq!(r["body"], "intro\n# Ideas\nmany ideas\n- tail");
    assert_eq!(r["hash"], ed["hash"]);
    b.err(
        u,
        "edit_note",
        json!({"path": "ideas.md", "operation": "replace_text", "find": "absent", "text": "x"}),
        "bad_request",
    );
    b.err(
        u,
        "edit_note",
        json!({"path": "ideas.md", "operation": "explode", "text": "x"}),
        "invalid_arguments",
    );

    // list, search, tags, backlinks
    let l = b.ok(u, "list_notes", json!({}));
    assert_eq!(paths(&l, "notes"), ["ideas.md", "projects/plan.md"]);
    assert_eq!(l["next_cursor"], Value::Null);
    let l = b.ok(u, "list_notes", json!({"limit": 1}));
    let l2 = b.ok(u, "list_notes", json!({"limit": 1, "cursor": l["next_cursor"]}));
    assert_eq!(paths(&l2, "notes"), ["projects/plan.md"]);
    assert_eq!(
        paths(&b.ok(u, "list_notes", json!({"folder": "projects"})), "notes"),
        ["projects/plan.md"]
    );
    let s = b.ok(u, "search_notes", json!({"query": "ideas"}));
    assert_eq!(paths(&s, "results")[0], "ideas.md", "title match ranks first: {s}");
    assert!(
        s["results"][0]["snippet_html"].as_str().unwrap().contains("<mark>"),
        "{s}"
    );
    let s = b.ok(u, "search_notes", json!({"query": "ideas", "tags": ["brainstorm"]}));
    assert_eq!(paths(&s, "results"), ["ideas.md"]);
    let s = b.ok(u, "search_notes", json!({"query": "ideas", "folder": "projects"}));
    assert_eq!(paths(&s, "results"), ["projects/plan.md"]);
    b.err(u, "search_notes", json!({"query": "\"unclosed"}), "bad_request");
    b.err(u, "search_notes", json!({"query": "x", "limit": 101}), "bad_request");
    assert_eq!(
        b.ok(u, "get_tags", json!({}))["tags"],
        json!([{"tag": "work", "count": 2}, {"tag": "brainstorm", "count": 1}])
    );
    assert_eq!(
        b.ok(u, "get_backlinks", json!({"path": "ideas.md"}))["backlinks"],
        json!([{"path": "projects/plan.md", "title": "The Plan"}])
    );

    // move: backlinks follow (by title), old path is gone, destination must be free.
    let m = b.ok(
        u,
        "move_note",
        json!({"path": "ideas.md", "new_path": "archive/ideas.md"}),
    );
    assert_eq!(m["path"], "archive/ideas.md");
    b.err(u, "read_note", json!({"path": "ideas.md"}), "not_found");
    assert_eq!(
        b.ok(u, "get_backlinks", json!({"path": "archive/ideas.md"}))["backlinks"][0]["path"],
        "projects/plan.md"
    );
    b.err(
        u,
        "move_note",
        json!({"path": "archive/ideas.md", "new_path": "projects/plan.md"}),
        "conflict",
    );
    b.err(
        u,
        "move_note",
        json!({"path": "nope.md", "new_path": "x.md"}),
        "not_found",
    );
    assert_eq!(
        b.ok(u, "search_notes", json!({"query": "many"}))["results"][0]["path"],
        "archive/ideas.md"
    );

    // delete, then everything about it is gone.
    assert_eq!(
        b.ok(u, "delete_note", json!({"path": "archive/ideas.md"})),
        json!({"deleted": "archive/ideas.md"})
    );
    b.err(u, "delete_note", json!({"path": "archive/ideas.md"}), "not_found");
    assert!(
        b.ok(u, "search_notes", json!({"query": "many"}))["results"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        b.ok(u, "get_tags", json!({}))["tags"],
        json!([{"tag": "work", "count": 1}])
    );
    assert!(!b.user_dir(u).join("archive").exists(), "empty folder left behind");

    // not found, bad arguments: tool errors, not transport errors.
    b.err(u, "read_note", json!({"path": "missing.md"}), "not_found");
    b.err(u, "get_backlinks", json!({"path": "missing.md"}), "not_found");
    let v = b.mcp(u, "tools/call", json!({"name": "read_note", "arguments": {}}));
    assert_eq!(v["result"]["isError"], true, "{v}");

    // resources
    let res = b.mcp(u, "resources/list", json!({}));
    assert_eq!(res["result"]["resources"][0]["uri"], "note:///projects/plan.md");
    let rd = b.mcp(u, "resources/read", json!({"uri": "note:///projects/plan.md"}));
    assert_eq!(
        rd["result"]["contents"][0]["text"].as_str().unwrap(),
        b.ok(u, "read_note", json!({"path": "projects/plan.md"}))["content"]
            .as_str()
            .unwrap()
    );
    // Not found: the requested URI in `data` (SEP-2164), -32002 before 2026-07-28.
    let missing = b.mcp(u, "resources/read", json!({"uri": "note:///nope.md"}));
    assert_eq!(missing["error"]["data"]["uri"], "note:///nope.md", "{missing}");
    assert_eq!(missing["error"]["code"], -32002, "{missing}");
    let foreign = b.mcp(u, "resources/read", json!({"uri": "test://elsewhere"}));
    assert_eq!(foreign["error"]["code"], -32602, "{foreign}");
    assert_eq!(foreign["error"]["data"]["uri"], "test://elsewhere", "{foreign}");

    // metrics
    assert!(b.metric(r#"vaultgate_backend_tool_calls_total{outcome="ok",tool="write_note"}"#) >= 3.0);
    assert!(b.metric(r#"vaultgate_backend_tool_calls_total{outcome="conflict",tool="write_note"}"#) >= 1.0);
    assert!(b.metric(r#"vaultgate_backend_tool_duration_seconds_count{tool="search_notes"}"#) >= 1.0);
    assert_eq!(b.metric("vaultgate_backend_index_notes"), 1.0);
    assert!(b.metric(r#"vaultgate_backend_http_requests_total{route="mcp",status="200"}"#) > 20.0);
}

#[test]
fn modern_protocol_revision_without_initialize() {
    let b = Backend::start();
    let mut h = b.identity("alice");
    h.insert("mcp-method", "tools/call".parse().unwrap());
    h.insert("mcp-name", "write_note".parse().unwrap());
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "write_note", "arguments": {"path": "m.md", "body": "modern"}, "_meta": meta}});
    let mut headers = h.clone();
    headers.insert("accept", "application/json, text/event-stream".parse().unwrap());
    headers.insert("mcp-protocol-version", "2026-07-28".parse().unwrap());
    let r = b
        .client
        .post(format!("{}/mcp", b.url()))
        .headers(headers)
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["result"]["structuredContent"]["path"], "m.md", "{v}");
    // initialize at each legacy revision
    for rev in ["2025-03-26", "2025-06-18", "2025-11-25"] {
        let mut h = b.identity("alice");
        h.insert("mcp-protocol-version", rev.parse().unwrap());
        let (s, v) = b.mcp_with(
            h,
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": rev, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}),
        );
        assert_eq!((s, &v["result"]["protocolVersion"]), (200, &json!(rev)), "{v}");
    }
    // A public Host that is not allowed is refused by rmcp's DNS-rebinding guard.
    let mut h = b.identity("alice");
    h.insert("host", "evil.example".parse().unwrap());
    let (status, _) = b.mcp_with(h, &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
    assert_eq!(status, 403);
}

#[test]
fn allowed_hosts_follow_configuration() {
    let b = Backend::start_with(&[
        ("PUBLIC_URL", "https://vault.example.org"),
        ("SPACE_HOST", "me-vault.hf.space"),
    ]);
    for host in ["vault.example.org", "me-vault.hf.space:443", "localhost:7860"] {
        let mut h = b.identity("alice");
        h.insert("host", host.parse().unwrap());
        let (status, _) = b.mcp_with(h, &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
        assert_eq!(status, 200, "{host}");
    }
    let mut h = b.identity("alice");
    h.insert("host", "other.example".parse().unwrap());
    assert_eq!(
        b.mcp_with(h, &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
            .0,
        403
    );
}

#[test]
fn every_rest_route() {
    let b = Backend::start();
    let u = "alice";
    let (s, _, v) = b.rest(u, "GET", "/api/me", None);
    assert_eq!((s, v), (200, json!({"user": "alice"})));
    let (s, h, v) = b.rest(
        u,
        "PUT",
        "/api/notes/dir/a%20note.md",
        Some(json!({"body": "# A\nalpha [[B]]", "tags": ["t1"]})),
    );
    assert_eq!(s, 201, "{v}");
    let etag = h["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", v["hash"].as_str().unwrap()));
    let (s, _, _) = b.rest(u, "PUT", "/api/notes/b.md", Some(json!({"body": "# B\nbeta"})));
    assert_eq!(s, 201);
    let (s, h, v) = b.rest(u, "GET", "/api/notes/dir/a%20note.md", None);
    assert_eq!(
        (s, v["title"].as_str(), v["path"].as_str()),
        (200, Some("A"), Some("dir/a note.md"))
    );
    assert_eq!(h["etag"].to_str().unwrap(), etag);
    // If-Match
    let mut hm = b.identity(u);
    hm.insert("if-match", "\"0000\"".parse().unwrap());
    let (s, _, v) = b.rest_with(
        hm.clone(),
        "PUT",
        "/api/notes/dir/a%20note.md",
        Some(json!({"body": "stale"})),
    );
    assert_eq!((s, v["error"].as_str()), (412, Some("conflict")));
    let (s, _, _) = b.rest_with(hm, "DELETE", "/api/notes/dir/a%20note.md", None);
    assert_eq!(s, 412);
    let mut hm = b.identity(u);
    hm.insert("if-match", etag.parse().unwrap());
    let (s, h2, v) = b.rest_with(
        hm,
        "PUT",
        "/api/notes/dir/a%20note.md",
        Some(json!({"body": "# A\nalpha two [[B]]"})),
    );
    assert_eq!((s, v["created"].as_bool()), (200, Some(false)), "{v}");
    assert_ne!(h2["etag"], etag.as_str());
    let (_, _, v) = b.rest(u, "GET", "/api/notes/dir/a%20note.md", None);
    assert_eq!(
        v["metadata"],
        json!({"tags": ["t1"]}),
        "front matter kept on a body-only PUT"
    );
    // list, search, tags, backlinks
    let (s, _, v) = b.rest(u, "GET", "/api/notes", None);
    assert_eq!(
        (s, paths(&v, "notes")),
        (200, vec!["b.md".to_owned(), "dir/a note.md".to_owned()])
    );
    let (_, _, v) = b.rest(u, "GET", "/api/notes?folder=dir&limit=1", None);
    assert_eq!(paths(&v, "notes"), ["dir/a note.md"]);
    let (s, _, v) = b.rest(u, "GET", "/api/search?q=alpha+two&limit=5", None);
    assert_eq!((s, paths(&v, "results")), (200, vec!["dir/a note.md".to_owned()]));
    let (_, _, v) = b.rest(u, "GET", "/api/search?q=alpha&tags=T1,other", None);
    assert!(paths(&v, "results").is_empty());
    let (s, _, v) = b.rest(u, "GET", "/api/search?q=%22unclosed", None);
    assert_eq!((s, v["error"].as_str()), (400, Some("bad_request")));
    let (s, _, v) = b.rest(u, "GET", "/api/search?q=x&limit=abc", None);
    assert_eq!((s, v["error"].as_str()), (400, Some("bad_request")));
    // Query strings are decoded once and strictly: a bad escape or non-UTF-8 is refused.
    for q in ["q=%zz", "q=%ff", "q=a&folder=%C3", "q=%"] {
        let (s, _, v) = b.rest(u, "GET", &format!("/api/search?{q}"), None);
        assert_eq!((s, v["error"].as_str()), (400, Some("bad_request")), "{q}");
    }
    let (s, _, v) = b.rest(u, "GET", "/api/search?q=alpha%20two&folder=di%72", None);
    assert_eq!((s, paths(&v, "results")), (200, vec!["dir/a note.md".to_owned()]));
    let (_, _, v) = b.rest(u, "GET", "/api/tags", None);
    assert_eq!(v, json!({"tags": [{"tag": "t1", "count": 1}]}));
    let (_, _, v) = b.rest(u, "GET", "/api/backlinks/b.md", None);
    assert_eq!(v, json!({"backlinks": [{"path": "dir/a note.md", "title": "A"}]}));
    // move
    let (s, _, v) = b.rest(u, "POST", "/api/notes/b.md/move", Some(json!({"new_path": "c/b.md"})));
    assert_eq!((s, v["path"].as_str()), (200, Some("c/b.md")), "{v}");
    let (s, _, _) = b.rest(
        u,
        "POST",
        "/api/notes/c/b.md/move",
        Some(json!({"new_path": "dir/a note.md"})),
    );
    assert_eq!(s, 409);
    let (_, _, v) = b.rest(u, "GET", "/api/backlinks/c/b.md", None);
    assert_eq!(v["backlinks"][0]["path"], "dir/a note.md");
    // delete
    let (s, _, v) = b.rest(u, "DELETE", "/api/notes/c/b.md", None);
    assert_eq!((s, v), (200, json!({"deleted": "c/b.md"})));
    let (s, _, v) = b.rest(u, "GET", "/api/notes/c/b.md", None);
    assert_eq!((s, v["error"].as_str()), (404, Some("not_found")));
    let (s, _, _) = b.rest(u, "DELETE", "/api/notes/c/b.md", None);
    assert_eq!(s, 404);
    // malformed input
    let (s, _, v) = b.rest(u, "PUT", "/api/notes/x.md", Some(json!({"nobody": 1})));
    assert_eq!((s, v["error"].as_str()), (400, Some("bad_request")));
    let (s, _, _) = b.rest(u, "PATCH", "/api/notes/x.md", None);
    assert_eq!(s, 405);
    let (s, _, v) = b.rest(u, "GET", "/api/nothing", None);
    assert_eq!((s, v["error"].as_str()), (404, Some("not_found")));
    // metrics by route
    assert!(b.metric(r#"vaultgate_backend_http_requests_total{route="api_note",status="201"}"#) >= 2.0);
    assert_eq!(
        b.metric(r#"vaultgate_backend_http_requests_total{route="api_move",status="200"}"#),
        1.0
    );
    assert_eq!(
        b.metric(r#"vaultgate_backend_http_requests_total{route="api_me",status="200"}"#),
        1.0
    );
    assert_eq!(
        b.metric(r#"vaultgate_backend_http_requests_total{route="api_search",status="400"}"#),
        6.0
    );
}

#[test]
fn if_match_is_compared_strongly_and_takes_star_and_lists() {
    let b = Backend::start();
    let u = "alice";
    let (s, h, _) = b.rest(u, "PUT", "/api/notes/n.md", Some(json!({"body": "one"})));
    assert_eq!(s, 201);
    let etag = h["etag"].to_str().unwrap().to_owned();
    let weak = format!("W/{etag}");
    let put = |if_match: &str, path: &str| {
        let mut hm = b.identity(u);
        hm.insert("if-match", if_match.parse().unwrap());
        let (s, h, v) = b.rest_with(hm, "PUT", path, Some(json!({"body": "next"})));
        (s, v["error"].as_str().map(str::to_owned), h.get("etag").cloned())
    };
    // (If-Match, note, status, error): each case that succeeds changes the note, so the
    // next ones use its new ETag through `current`.
    let cases: &[(&str, &str, u16, Option<&str>)] = &[
        ("W/", "/api/notes/n.md", 412, Some("conflict")),
        (r#""0000", W/"#, "/api/notes/n.md", 412, Some("conflict")),
        ("*", "/api/notes/absent.md", 412, Some("conflict")),
        (r#""0000""#, "/api/notes/absent.md", 412, Some("conflict")),
        (r#""unclosed"#, "/api/notes/n.md", 400, Some("bad_request")),
        (r#""0000", CUR"#, "/api/notes/n.md", 200, None),
        ("*", "/api/notes/n.md", 200, None),
        ("CUR", "/api/notes/n.md", 200, None),
    ];
    let mut current = etag.clone();
    for (if_match, path, status, error) in cases {
        let value = if_match.replace("W/", &format!("W/{current}")).replace("CUR", &current);
        let (s, e, new_etag) = put(&value, path);
        assert_eq!((s, e.as_deref()), (*status, *error), "{value} on {path}");
        if s == 200 {
            current = new_etag.unwrap().to_str().unwrap().to_owned();
        }
    }
    assert_ne!(current, etag);
    let (s, _, _) = b.rest(u, "GET", "/api/notes/absent.md", None);
    assert_eq!(s, 404, "a refused If-Match: * created nothing");
    // DELETE takes the same conditions.
    for (if_match, status) in [(weak.replace(&etag, &current), 412), ("*".to_owned(), 200)] {
        let mut hm = b.identity(u);
        hm.insert("if-match", if_match.parse().unwrap());
        let (s, _, _) = b.rest_with(hm, "DELETE", "/api/notes/n.md", None);
        assert_eq!(s, status, "{if_match}");
    }
}

#[test]
fn size_and_quota_limits() {
    let b = Backend::start_with(&[
        ("NOTE_MAX_BYTES", "1000"),
        ("USER_MAX_NOTES", "3"),
        ("USER_MAX_BYTES", "2500"),
    ]);
    let u = "alice";
    let e = b.err(
        u,
        "write_note",
        json!({"path": "big.md", "body": "x".repeat(1001)}),
        "too_large",
    );
    assert!(e["message"].as_str().unwrap().contains("1000"), "{e}");
    let (s, _, v) = b.rest(u, "PUT", "/api/notes/big.md", Some(json!({"body": "x".repeat(1001)})));
    assert_eq!((s, v["error"].as_str()), (413, Some("too_large")));
    let (s, _, _) = b.rest(
        u,
        "PUT",
        "/api/notes/huge.md",
        Some(json!({"body": "x".repeat(3_000_000)})),
    );
    assert_eq!(s, 413);
    b.ok(u, "write_note", json!({"path": "a.md", "body": "a".repeat(1000)}));
    b.ok(u, "write_note", json!({"path": "b.md", "body": "b".repeat(1000)}));
    b.err(
        u,
        "write_note",
        json!({"path": "c.md", "body": "c".repeat(600)}),
        "quota_exceeded",
    );
    let (s, _, v) = b.rest(u, "PUT", "/api/notes/c.md", Some(json!({"body": "c".repeat(600)})));
    assert_eq!((s, v["error"].as_str()), (403, Some("quota_exceeded")));
    b.ok(u, "write_note", json!({"path": "c.md", "body": "c"}));
    b.err(u, "write_note", json!({"path": "d.md", "body": "d"}), "quota_exceeded");
    b.err(
        u,
        "edit_note",
        json!({"path": "c.md", "operation": "append", "text": "x".repeat(600)}),
        "quota_exceeded",
    );
    let notes = b.ok(u, "list_notes", json!({}));
    assert_eq!(paths(&notes, "notes"), ["a.md", "b.md", "c.md"]);
    assert_eq!(b.ok(u, "read_note", json!({"path": "c.md"}))["content"], "c");
    assert!(!b.user_dir(u).join("d.md").exists() && !b.user_dir(u).join("big.md").exists());
    b.ok(
        "bob",
        "write_note",
        json!({"path": "d.md", "body": "bob has his own quota"}),
    );
}

fn forged_headers(user: &str) -> Vec<(&'static str, HeaderMap)> {
    let id = UserId::parse(user).unwrap();
    let good_key = IdentityKey::new(SECRET.as_bytes()).unwrap();
    let other_key = IdentityKey::new(b"another-secret-another-secret-another-secret").unwrap();
    let mk = |token: Option<String>, u: Option<&str>| {
        let mut h = HeaderMap::new();
        if let Some(t) = token {
            h.insert(IDENTITY, t.parse().unwrap());
        }
        if let Some(u) = u {
            h.insert(USER, u.parse().unwrap());
        }
        h
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let good = sign_identity(&good_key, &id, None);
    let mut tampered = good.clone();
    tampered.pop();
    tampered.push(if good.ends_with('A') { 'B' } else { 'A' });
    let bob = UserId::parse("bob").unwrap();
    vec![
        ("missing", mk(None, Some(user))),
        ("missing user header", mk(Some(good.clone()), None)),
        ("forged", mk(Some(sign_identity(&other_key, &id, None)), Some(user))),
        ("tampered", mk(Some(tampered), Some(user))),
        (
            "expired",
            mk(Some(sign_identity_at(&good_key, &id, None, now - 3600)), Some(user)),
        ),
        ("mismatched", mk(Some(sign_identity(&good_key, &bob, None)), Some(user))),
        ("garbage", mk(Some("not.a.jwt".into()), Some(user))),
        ("bearer", {
            let mut h = mk(None, Some(user));
            h.insert("authorization", format!("Bearer {good}").parse().unwrap());
            h
        }),
    ]
}

#[test]
fn bad_identity_gets_401_and_changes_nothing() {
    let b = Backend::start();
    b.ok("alice", "write_note", json!({"path": "keep.md", "body": "original"}));
    let before = vaultgate_tests::tree(&b.vaults());
    let mcp_before = b.metric(r#"vaultgate_backend_http_requests_total{route="mcp",status="401"}"#);
    for (case, headers) in forged_headers("alice") {
        let (s, _, v) = b.rest_with(
            headers.clone(),
            "PUT",
            "/api/notes/keep.md",
            Some(json!({"body": "overwritten"})),
        );
        assert_eq!((s, v["error"].as_str()), (401, Some("unauthorized")), "{case}: {v}");
        let (s, _, _) = b.rest_with(headers.clone(), "DELETE", "/api/notes/keep.md", None);
        assert_eq!(s, 401, "{case}");
        let (s, _, _) = b.rest_with(headers.clone(), "GET", "/api/me", None);
        assert_eq!(s, 401, "{case}");
        let (s, v) = b.mcp_with(
            headers.clone(),
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "write_note", "arguments": {"path": "keep.md", "body": "overwritten"}}}),
        );
        assert_eq!(s, 401, "{case}: {v}");
        let (s, _, _) = b.rest_with(headers, "GET", "/metrics", None);
        assert_eq!(s, 401, "{case}: /metrics is not served on the main listener");
    }
    assert_eq!(
        b.ok("alice", "read_note", json!({"path": "keep.md"}))["content"],
        "original"
    );
    assert_eq!(vaultgate_tests::tree(&b.vaults()), before);
    assert_eq!(
        b.metric(r#"vaultgate_backend_http_requests_total{route="mcp",status="401"}"#) - mcp_before,
        8.0
    );
    for reason in ["missing", "user_mismatch", "expired"] {
        assert!(
            b.metric(&format!(
                r#"vaultgate_backend_identity_rejections_total{{reason="{reason}"}}"#
            )) >= 1.0,
            "{reason}\n{}",
            b.metrics()
        );
    }
    // healthz needs nothing, on both listeners.
    assert_eq!(
        b.client.get(format!("{}/healthz", b.url())).send().unwrap().status(),
        200
    );
    assert_eq!(
        b.client
            .get(format!("{}/healthz", b.admin_url()))
            .send()
            .unwrap()
            .status(),
        200
    );
    // Two assertions in one request are refused rather than one of them picked.
    let mut h = b.identity("alice");
    h.append(
        IDENTITY,
        sign_identity(&b.key, &UserId::parse("bob").unwrap(), None)
            .parse()
            .unwrap(),
    );
    assert_eq!(b.rest_with(h, "GET", "/api/me", None).0, 401);
}

#[test]
fn exit_status_says_usage_configuration_or_runtime() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vaultgate-backend"))
            .env_clear()
            .current_dir(dir.path())
            .env("IDENTITY_SECRET", SECRET)
            .env("BACKEND_ADMIN_ADDR", "127.0.0.1:0")
            .envs(env.iter().copied())
            .args(args)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    // (case, arguments, environment, exit status, what stderr says once)
    type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)], i32, &'a str);
    let cases: &[Case] = &[
        ("unknown flag", &["--no-such-flag"], &[], 2, "--no-such-flag"),
        (
            "bad flag value",
            &["--mode", "prod"],
            &[],
            2,
            "[possible values: local, space]",
        ),
        (
            "bad MODE",
            &[],
            &[("MODE", "prod")],
            78,
            "[possible values: local, space]",
        ),
        (
            "bad LOG_FORMAT",
            &[],
            &[("LOG_FORMAT", "xml")],
            78,
            "[possible values: text, json]",
        ),
        (
            "zero workers",
            &[],
            &[("BACKEND_WORKERS", "0")],
            78,
            "greater than zero",
        ),
        ("bad --user", &["reindex", "--user", "../x"], &[], 2, "--user"),
        (
            "port in use",
            &[],
            &[("BACKEND_LISTEN", taken.as_str())],
            1,
            "listening on",
        ),
    ];
    for (name, args, env, code, says) in cases {
        let (got, err) = run(args, env);
        assert_eq!(got, Some(*code), "{name}: {err}");
        assert_eq!(err.matches(says).count(), 1, "{name}: printed once: {err}");
    }
}

#[test]
fn refuses_to_start_without_a_strong_secret() {
    for secret in [None, Some("short")] {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vaultgate-backend"));
        cmd.env_clear()
            .env("BACKEND_LISTEN", "127.0.0.1:0")
            .env("BACKEND_ADMIN_ADDR", "127.0.0.1:0");
        if let Some(s) = secret {
            cmd.env("IDENTITY_SECRET", s);
        }
        let dir = tempfile::tempdir().unwrap();
        cmd.current_dir(dir.path());
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(78), "EX_CONFIG: {secret:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.matches("IDENTITY_SECRET").count(), 1, "printed once: {err}");
    }
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_vaultgate-backend"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for var in [
        "MODE",
        "BACKEND_LISTEN",
        "BACKEND_ADMIN_ADDR",
        "IDENTITY_SECRET",
        "VAULT_BASE_PATH",
        "DATABASE_PATH",
        "NOTE_MAX_BYTES",
        "USER_MAX_NOTES",
        "USER_MAX_BYTES",
        "BACKEND_ALLOWED_HOSTS",
        "LOG_FORMAT",
        "127.0.0.1:8001",
        "./data/vaults",
    ] {
        assert!(help.contains(var), "--help lacks {var}");
    }
}
