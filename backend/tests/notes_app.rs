//! What the web page's notes app needs from the backend, through HTTP against the real binary:
//! notes as sanitised HTML (`?format=html`, `POST /api/render`), plain-text search snippets,
//! and vault import (`POST /api/import` and the `import` command), hostile archives included.

use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};
use vaultgate_tests::{Backend, IDENTITY_SECRET as SECRET, tree};

/// A zip of `entries` (deflated), as an Obsidian export or any zip tool writes it.
fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    for (name, bytes) in entries {
        if let Some(dir) = name.strip_suffix('/') {
            zip.add_directory(dir, opts).unwrap();
        } else {
            zip.start_file(*name, opts).unwrap();
            zip.write_all(bytes).unwrap();
        }
    }
    zip.finish().unwrap().into_inner()
}

fn import(b: &Backend, user: &str, query: &str, ctype: &str, body: Vec<u8>) -> (u16, Value) {
    let r = b
        .client
        .post(format!("{}/api/import{query}", b.url()))
        .headers(b.identity(user))
        .header("content-type", ctype)
        .body(body)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, serde_json::from_str(&r.text().unwrap()).unwrap_or(Value::Null))
}

fn put(b: &Backend, user: &str, path: &str, body: &str) {
    let (s, _, v) = b.rest(user, "PUT", &format!("/api/notes/{path}"), Some(json!({"body": body})));
    assert!(s == 200 || s == 201, "{s} {v}");
}

fn reasons(v: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["path"].as_str().unwrap().to_owned(),
                s["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn notes_render_as_sanitised_html() {
    let b = Backend::start();
    let u = "alice";
    put(&b, u, "projects/plan.md", "# Plan\nship");
    put(
        &b,
        u,
        "daily/today.md",
        "---\ntitle: Hidden Front Matter\ntags: [x]\n---\n## Today\nSee [[Plan]] and [[Nowhere|later]].\n<script>alert(1)</script>\n[x](javascript:alert(1)) <img src=x onerror=alert(1)>\n- [x] done",
    );
    let (s, h, v) = b.rest(u, "GET", "/api/notes/daily/today.md?format=html", None);
    assert_eq!(s, 200, "{v}");
    assert!(h.get("etag").is_some());
    assert_eq!(v["path"], "daily/today.md");
    let html = v["html"].as_str().unwrap();
    assert!(
        html.contains("<a class=\"wikilink\" href=\"#note=projects/plan.md\" data-note=\"projects/plan.md\""),
        "{html}"
    );
    assert!(html.contains("class=\"wikilink unresolved\""), "{html}");
    assert!(html.contains("<h2 id=\"h-today\">Today</h2>"), "{html}");
    assert!(html.contains("type=\"checkbox\""), "{html}");
    for bad in ["<script", "javascript:", "onerror", "Hidden Front Matter"] {
        assert!(!html.contains(bad), "{bad} in {html}");
    }
    // Without the parameter the answer is as before; an unknown format is refused.
    let (_, _, plain) = b.rest(u, "GET", "/api/notes/daily/today.md", None);
    assert!(plain.get("html").is_none());
    assert_eq!(b.rest(u, "GET", "/api/notes/daily/today.md?format=pdf", None).0, 400);
    // Another user's note of the same name does not resolve bob's link.
    put(&b, "bob", "mine.md", "[[Plan]]");
    let (_, _, v) = b.rest("bob", "GET", "/api/notes/mine.md?format=html", None);
    assert!(v["html"].as_str().unwrap().contains("wikilink unresolved"), "{v}");
    // A body past the render cap answers without html: the page shows text.
    put(&b, u, "big.md", &"word ".repeat(30_000));
    let (s, _, v) = b.rest(u, "GET", "/api/notes/big.md?format=html", None);
    assert_eq!(s, 200);
    assert!(v.get("html").is_none() && v["body"].as_str().unwrap().len() > 128 * 1024);

    // The editor's preview: links resolved from the given path's folder.
    let (s, _, v) = b.rest(
        u,
        "POST",
        "/api/render",
        Some(json!({"content": "---\ntitle: t\n---\n[[plan]] <iframe src=x></iframe>", "path": "daily/new.md"})),
    );
    assert_eq!(s, 200, "{v}");
    let html = v["html"].as_str().unwrap();
    assert!(
        html.contains("data-note=\"projects/plan.md\"") && !html.contains("iframe"),
        "{html}"
    );
    let (s, _, v) = b.rest(
        u,
        "POST",
        "/api/render",
        Some(json!({"content": "x", "path": "../up.md"})),
    );
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_path")), "{v}");
    let (s, _, _) = b.rest(
        u,
        "POST",
        "/api/render",
        Some(json!({"content": "x".repeat(200 * 1024)})),
    );
    assert_eq!(s, 413);
    let (s, _, _) = b.rest(u, "POST", "/api/render", Some(json!({"content": ">".repeat(1000)})));
    assert_eq!(s, 422);
    assert_eq!(b.rest(u, "POST", "/api/render", Some(json!({"text": "x"}))).0, 400);
    assert_eq!(b.rest(u, "GET", "/api/render", None).0, 405);
}

#[test]
fn search_snippets_are_plain_text_and_marked_html() {
    let b = Backend::start();
    put(
        &b,
        "alice",
        "s.md",
        "# Sauce\nA **tomato** sauce, see [[Recipes|my recipes]] and [the site](https://x.example) <b>now</b> & later",
    );
    let (s, _, v) = b.rest("alice", "GET", "/api/search?q=tomato", None);
    assert_eq!(s, 200, "{v}");
    let hit = &v["results"][0];
    let snippet = hit["snippet"].as_str().unwrap();
    assert!(
        snippet.contains("A tomato sauce, see my recipes and the site now & later"),
        "{snippet}"
    );
    let html = hit["snippet_html"].as_str().unwrap();
    assert!(
        html.contains("<mark>tomato</mark>") && html.contains("&amp; later"),
        "{html}"
    );
    let rest = html.replace("<mark>", "").replace("</mark>", "");
    assert!(!rest.contains('<') && !rest.contains('>'), "{html}");
}

/// An Obsidian-style vault: settings folder, attachments, front matter, tags, wikilinks and
/// nested folders. After the import, search, tags, backlinks and rendering all work.
#[test]
fn obsidian_vault_imports_and_is_indexed() {
    let b = Backend::start();
    let u = "alice";
    let vault = zip_of(&[
        (".obsidian/", b""),
        (".obsidian/app.json", b"{}"),
        (".obsidian/plugins/x/main.js", b"alert(1)"),
        ("attachments/", b""),
        ("attachments/pic.png", b"\x89PNG"),
        (".DS_Store", b"x"),
        ("readme.txt", b"text"),
        ("Projects/", b""),
        (
            "Projects/Project Plan.md",
            b"---\ntags: [work, Planning]\n---\n# Project Plan\nThe zeppelin roadmap. ![[pic.png]]",
        ),
        (
            "Daily/2024-01-01.md",
            b"---\ntags: [journal]\n---\nWorked on [[Project Plan]] today.",
        ),
        (
            "Projects/Deep/Nested/idea.md",
            b"An idea from [[2024-01-01]] about zeppelin.",
        ),
    ]);
    assert_eq!(import(&b, u, "", "application/json", vault.clone()).0, 415);
    let (s, v) = import(&b, u, "", "application/zip", vault.clone());
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["imported"].as_u64(), v["created"].as_u64()),
        (Some(3), Some(3)),
        "{v}"
    );
    assert_eq!(
        reasons(&v),
        [
            (".DS_Store".to_owned(), "hidden".to_owned()),
            (".obsidian/".to_owned(), "hidden".to_owned()),
            (".obsidian/app.json".to_owned(), "hidden".to_owned()),
            (".obsidian/plugins/x/main.js".to_owned(), "hidden".to_owned()),
            ("attachments/pic.png".to_owned(), "not_markdown".to_owned()),
            ("readme.txt".to_owned(), "not_markdown".to_owned()),
        ]
    );
    let (_, _, found) = b.rest(u, "GET", "/api/search?q=zeppelin", None);
    assert_eq!(found["results"].as_array().unwrap().len(), 2, "{found}");
    let (_, _, tags) = b.rest(u, "GET", "/api/tags", None);
    let tags: Vec<&str> = tags["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tag"].as_str().unwrap())
        .collect();
    for t in ["work", "planning", "journal"] {
        assert!(tags.contains(&t), "{tags:?}");
    }
    let (_, _, back) = b.rest(u, "GET", "/api/backlinks/Projects/Project%20Plan.md", None);
    assert_eq!(back["backlinks"][0]["path"], "Daily/2024-01-01.md", "{back}");
    let (_, _, back) = b.rest(u, "GET", "/api/backlinks/Daily/2024-01-01.md", None);
    assert_eq!(back["backlinks"][0]["path"], "Projects/Deep/Nested/idea.md", "{back}");
    let (_, _, note) = b.rest(u, "GET", "/api/notes/Daily/2024-01-01.md?format=html", None);
    assert!(
        note["html"]
            .as_str()
            .unwrap()
            .contains("data-note=\"Projects/Project Plan.md\""),
        "{note}"
    );
    assert!(!b.user_dir(u).join(".obsidian").exists());

    // Again: existing notes are skipped and listed; with overwrite they are replaced.
    let (s, v) = import(&b, u, "", "application/zip", vault);
    assert_eq!((s, v["imported"].as_u64()), (200, Some(0)), "{v}");
    assert_eq!(reasons(&v).iter().filter(|(_, r)| r == "exists").count(), 3, "{v}");
    let changed = zip_of(&[("Daily/2024-01-01.md", b"rewritten balloon"), ("new.md", b"fresh")]);
    let (s, v) = import(&b, u, "?overwrite=true", "application/zip", changed.clone());
    assert_eq!(
        (s, v["replaced"].as_u64(), v["created"].as_u64()),
        (200, Some(1), Some(1)),
        "{v}"
    );
    let (_, _, n) = b.rest(u, "GET", "/api/notes/Daily/2024-01-01.md", None);
    assert_eq!(n["content"], "rewritten balloon");
    let (_, _, found) = b.rest(u, "GET", "/api/search?q=balloon", None);
    assert_eq!(found["results"].as_array().unwrap().len(), 1);
    assert_eq!(import(&b, u, "?overwrite=maybe", "application/zip", changed).0, 400);
    // Nothing of the import is left behind in the vault folder.
    assert!(!tree(&b.user_dir(u)).iter().any(|p| p.contains(".import-")));
}

#[test]
fn hostile_archives_write_nothing_or_only_what_is_valid() {
    let b = Backend::start_with(&[
        ("NOTE_MAX_BYTES", "65536"),
        ("USER_MAX_NOTES", "4"),
        ("IMPORT_MAX_BYTES", "300000"),
        ("IMPORT_MAX_ENTRIES", "20"),
    ]);
    let u = "mallory";
    // Traversal, absolute and backslash names go through the path validator and are skipped.
    let mut hostile = zip_of(&[
        ("../evil.md", b"x"),
        ("a/../../evil2.md", b"x"),
        ("/abs.md", b"x"),
        ("dir\\win.md", b"x"),
        ("CON.md", b"x"),
        ("ok.md", b"fine"),
        ("bad-utf8.md", b"\xff\xfe"),
        ("ok.mX", b"second copy"),
    ]);
    // Zip writers refuse a duplicate name; rename the last entry in place (headers and directory).
    // The reader keeps one entry per name, so one of the two is imported, never both.
    for i in 0..hostile.len() - 5 {
        if &hostile[i..i + 5] == b"ok.mX" {
            hostile[i + 4] = b'd';
        }
    }
    let (s, v) = import(&b, u, "", "application/zip", hostile);
    assert_eq!((s, v["imported"].as_u64()), (200, Some(1)), "{v}");
    let r = reasons(&v);
    for (name, why) in [
        ("../evil.md", "invalid_path"),
        ("a/../../evil2.md", "invalid_path"),
        ("/abs.md", "invalid_path"),
        ("dir\\win.md", "invalid_path"),
        ("CON.md", "invalid_path"),
        ("bad-utf8.md", "not_utf8"),
    ] {
        assert!(r.contains(&(name.to_owned(), why.to_owned())), "{name} {why}: {r:?}");
    }
    assert!(!tree(&b.data).iter().any(|p| p.contains("evil")), "{:?}", tree(&b.data));
    let before = tree(&b.user_dir(u));
    assert_eq!(before, ["ok.md"]);
    let (_, _, ok) = b.rest(u, "GET", "/api/notes/ok.md", None);
    assert!(
        ["fine", "second copy"].contains(&ok["content"].as_str().unwrap()),
        "{ok}"
    );

    // A zip bomb: 20 MiB of zeros in one small entry. Only the note limit's worth is inflated.
    let bomb = zip_of(&[("a.md", b"a"), ("bomb.md", &vec![0u8; 20 << 20])]);
    assert!(bomb.len() < 300_000);
    let (s, v) = import(&b, u, "", "application/zip", bomb);
    assert_eq!((s, v["error"].as_str()), (413, Some("too_large")), "{v}");
    // Too big an upload, too many entries, not a zip, over the note quota: refused whole.
    let (s, _) = import(&b, u, "", "application/zip", vec![b'x'; 400_000]);
    assert_eq!(s, 413);
    // The same without a Content-Length (chunked): counted as it arrives.
    let chunked = reqwest::blocking::Body::new(std::io::Cursor::new(vec![b'x'; 400_000]));
    let r = b
        .client
        .post(format!("{}/api/import", b.url()))
        .headers(b.identity(u))
        .header("content-type", "application/zip")
        .body(chunked)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let many: Vec<(String, Vec<u8>)> = (0..25).map(|i| (format!("n{i}.txt"), vec![])).collect();
    let many: Vec<(&str, &[u8])> = many.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    let (s, v) = import(&b, u, "", "application/zip", zip_of(&many));
    assert_eq!(s, 413, "{v}");
    let (s, _) = import(&b, u, "", "application/zip", b"PK\x03\x04 not really".to_vec());
    assert_eq!(s, 400);
    let (s, v) = import(
        &b,
        u,
        "",
        "application/zip",
        zip_of(&[("q1.md", b"1"), ("q2.md", b"2"), ("q3.md", b"3"), ("q4.md", b"4")]),
    );
    assert_eq!((s, v["error"].as_str()), (403, Some("quota_exceeded")), "{v}");
    assert_eq!(tree(&b.user_dir(u)), before);
    let (_, _, list) = b.rest(u, "GET", "/api/notes", None);
    assert_eq!(list["notes"].as_array().unwrap().len(), 1, "{list}");
}

/// `vaultgate-backend import` runs the same import on a folder or a zip, before the server starts.
#[test]
fn cli_imports_a_folder_and_a_zip() {
    let src = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| {
        let p = src.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write(".obsidian/workspace.json", "{}");
    write("Notes/one.md", "---\ntags: [cli]\n---\nquokka [[two]]");
    write("Notes/sub/two.md", "two");
    write("image.jpg", "jpg");
    #[cfg(unix)]
    std::os::unix::fs::symlink("/etc/passwd", src.path().join("Notes/link.md")).unwrap();
    let zip_dir = tempfile::tempdir().unwrap();
    let zip_path = zip_dir.path().join("v.zip");
    std::fs::write(&zip_path, zip_of(&[("zipped.md", b"from a zip, quokka")])).unwrap();
    let run = |data: &Path, args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vaultgate-backend"))
            .env_clear()
            .env("VAULT_BASE_PATH", data.join("vaults"))
            .env("DATABASE_PATH", data.join("index.db"))
            .env("IDENTITY_SECRET", SECRET)
            .env("RUST_LOG", "warn")
            .args(args)
            .output()
            .unwrap()
    };
    let mut out = None;
    let mut b = Backend::start_seeded(&[], |vaults| {
        let data = vaults.parent().unwrap();
        let folder = run(data, &["import", "--user", "carol", src.path().to_str().unwrap()]);
        let zip = run(data, &["import", "--user", "carol", zip_path.to_str().unwrap()]);
        let bad = run(data, &["import", "--user", "../x", src.path().to_str().unwrap()]);
        out = Some((folder, zip, bad));
    });
    let (folder, zip, bad) = out.unwrap();
    assert!(folder.status.success(), "{}", String::from_utf8_lossy(&folder.stderr));
    let report: Value = serde_json::from_slice(&folder.stdout).unwrap();
    assert_eq!(report["imported"], 2, "{report}");
    let r = reasons(&report);
    assert!(r.contains(&(".obsidian".to_owned(), "hidden".to_owned())), "{r:?}");
    assert!(
        r.contains(&("image.jpg".to_owned(), "not_markdown".to_owned())),
        "{r:?}"
    );
    #[cfg(unix)]
    assert!(
        r.contains(&("Notes/link.md".to_owned(), "not_a_file".to_owned())),
        "{r:?}"
    );
    assert!(zip.status.success(), "{}", String::from_utf8_lossy(&zip.stderr));
    assert_eq!(bad.status.code(), Some(2), "a bad --user is a usage error");
    let (_, _, found) = b.rest("carol", "GET", "/api/search?q=quokka", None);
    assert_eq!(found["results"].as_array().unwrap().len(), 2, "{found}");
    let (_, _, back) = b.rest("carol", "GET", "/api/backlinks/Notes/sub/two.md", None);
    assert_eq!(back["backlinks"][0]["path"], "Notes/one.md", "{back}");
    b.stop();
}
