//! The path validator through HTTP: hostile paths in every spelling are refused by MCP and
//! REST alike, and nothing is created anywhere.

use serde_json::json;
use vaultgate_tests::{Backend, tree};

fn hostile() -> Vec<String> {
    let mut v: Vec<String> = [
        "../x.md",
        "../../etc/passwd.md",
        "../bob/steal.md",
        "../alice2/x.md",
        "a/../../x.md",
        "a/../b.md",
        "./a.md",
        "a/./b.md",
        "..",
        ".",
        "a/..",
        "/abs.md",
        "/etc/passwd",
        "//server/share.md",
        "\\\\server\\share.md",
        "a\\..\\b.md",
        "..\\x.md",
        "C:/x.md",
        "C:x.md",
        "c:\\x.md",
        "a\0b.md",
        "x.md\0.txt",
        "a\nb.md",
        "a\rb.md",
        "a\tb.md",
        "a\u{7f}.md",
        "a\u{1b}[31m.md",
        "evil\u{202e}dm.txt.md",
        "zero\u{200b}width.md",
        "",
        "a//b.md",
        "a/b/",
        ".hidden.md",
        "a/.git/config.md",
        ".tmp-123.md",
        "a.txt",
        "no-extension",
        "a.md/",
        "CON.md",
        "nul.md",
        "com1.md",
        "LPT9.md",
        "aux/x.md",
        "Prn.backup.md",
        "%2e%2e/x.md",
        "..%2fx.md",
        "%2e%2e%2fx.md",
        "a%00b.md",
        "a.md.",
        "trailing /x.md",
        " leading.md",
        "a:b.md",
        "file.md:stream",
        "a*b.md",
        "what?.md",
        "a|b.md",
        "<script>.md",
        "quote\".md",
        ".md",
        "folder/.md",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(format!("{}.md", "x".repeat(300)));
    v.push(format!("{}/a.md", "s".repeat(256)));
    v.push(format!("{}a.md", "d/".repeat(130)));
    v.push(format!("{}a.md", "d/".repeat(17)));
    v
}

#[test]
fn hostile_paths_are_refused_everywhere_and_create_nothing() {
    let b = Backend::start();
    b.ok("alice", "write_note", json!({"path": "keep.md", "body": "keep"}));
    // A sibling whose name extends alice's, and a directory outside the vaults.
    b.ok("alice2", "write_note", json!({"path": "x.md", "body": "alice2's"}));
    let outside = b.data.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.md"), "outside secret").unwrap();
    let alice = b.user_dir("alice");
    std::os::unix::fs::symlink(&outside, alice.join("out")).unwrap();
    std::os::unix::fs::symlink(b.user_dir("alice2"), alice.join("sib")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.md"), alice.join("leak.md")).unwrap();
    std::os::unix::fs::symlink("../alice2/x.md", alice.join("rel.md")).unwrap();
    let before = tree(&b.data.join("vaults"));
    let outside_before = tree(&outside);

    let mut paths = hostile();
    for p in [
        "out/new.md",
        "out/secret.md",
        "sib/x.md",
        "sib/new.md",
        "leak.md",
        "rel.md",
    ] {
        paths.push(p.to_string());
    }
    assert!(paths.len() >= 60, "{}", paths.len());
    for p in &paths {
        for (tool, args) in [
            ("write_note", json!({"path": p, "body": "pwned"})),
            ("read_note", json!({"path": p})),
            ("edit_note", json!({"path": p, "operation": "append", "text": "pwned"})),
            ("delete_note", json!({"path": p})),
            ("move_note", json!({"path": "keep.md", "new_path": p})),
            ("move_note", json!({"path": p, "new_path": "moved.md"})),
            ("get_backlinks", json!({"path": p})),
        ] {
            let (is_error, v) = b.tool("alice", tool, args);
            assert!(is_error, "{tool}({p:?}) was accepted: {v}");
            assert!(
                v["error"] == "invalid_path" || (v["error"] == "not_found" && tool == "get_backlinks"),
                "{tool}({p:?}): {v}"
            );
            let msg = v["message"].as_str().unwrap();
            assert!(
                !msg.contains(b.data.to_str().unwrap()),
                "{msg} leaks a file-system path"
            );
            assert!(!v.to_string().contains("outside secret"), "{v} leaks file content");
        }
    }
    // REST: the path arrives percent-encoded and is decoded exactly once.
    for p in paths.iter().filter(|p| !p.is_empty()) {
        // ("/api/notes/" with an empty path is the list route.)
        // Encode every non-alphanumeric byte so no client-side URL normalization happens.
        let enc: String = p
            .bytes()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    (c as char).to_string()
                } else {
                    format!("%{c:02X}")
                }
            })
            .collect();
        for (method, body) in [("PUT", Some(r#"{"body":"pwned"}"#)), ("GET", None), ("DELETE", None)] {
            let (status, v) = b.raw("alice", method, &format!("/api/notes/{enc}"), body);
            assert!(status == 400, "{method} {p:?} → {status} {v}");
        }
        // Also with '/' and '.' left as they are, as a browser would send them.
        let loose = vaultgate_backend::percent::encode_path(p);
        let (status, v) = b.raw(
            "alice",
            "PUT",
            &format!("/api/notes/{loose}"),
            Some(r#"{"body":"pwned"}"#),
        );
        assert_eq!(status, 400, "PUT {loose:?} → {v}");
    }
    for raw in [
        "%2e%2e/x.md",
        "..%252fx.md",
        "%2E%2E%2Fx.md",
        "a%5C..%5Cb.md",
        "%00.md",
        "x.md%2F..%2F..%2Fy.md",
    ] {
        let (status, v) = b.raw(
            "alice",
            "PUT",
            &format!("/api/notes/{raw}"),
            Some(r#"{"body":"pwned"}"#),
        );
        assert_eq!(status, 400, "{raw}: {v}");
        assert_eq!(v["error"], "invalid_path", "{raw}: {v}");
    }
    let (status, _) = b.raw("alice", "GET", "/api/backlinks/../x.md", None);
    assert_eq!(status, 400);
    let (status, _) = b.raw("alice", "GET", "/api/notes?folder=..%2F", None);
    assert_eq!(status, 400);
    // A folder filter cannot reach out either.
    let (e, _) = b.tool("alice", "list_notes", json!({"folder": "../alice2"}));
    assert!(e);
    let (e, _) = b.tool("alice", "search_notes", json!({"query": "x", "folder": "/"}));
    assert!(!e, "'/' means the whole vault");

    assert_eq!(
        tree(&b.data.join("vaults")),
        before,
        "something was created or removed in the vaults"
    );
    assert_eq!(tree(&outside), outside_before);
    assert_eq!(
        std::fs::read_to_string(outside.join("secret.md")).unwrap(),
        "outside secret"
    );
    assert_eq!(
        std::fs::read_to_string(b.user_dir("alice2").join("x.md")).unwrap(),
        "alice2's"
    );
    assert!(b.metric(r#"vaultgate_backend_rejected_paths_total{reason="dot_segment"}"#) > 0.0);
    assert!(b.metric(r#"vaultgate_backend_rejected_paths_total{reason="escapes"}"#) > 0.0);
    // Symlinks that stay inside the user's directory are fine.
    std::fs::create_dir_all(alice.join("real")).unwrap();
    std::os::unix::fs::symlink(alice.join("real"), alice.join("alias")).unwrap();
    b.ok("alice", "write_note", json!({"path": "alias/inside.md", "body": "ok"}));
    assert_eq!(std::fs::read_to_string(alice.join("real/inside.md")).unwrap(), "ok");
}
