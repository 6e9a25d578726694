//! A user's whole vault: `GET /api/export` and `vaultgate-backend export` (a zip of the Markdown
//! files as they are), `vaultgate-backend delete-user`, and the round trip: export, delete,
//! copy the files back, reindex — same notes, same hashes, other users untouched.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::Command;

use serde_json::json;
use vaultgate_tests::Backend;

/// Path → content of every entry of a zip.
fn unzip(bytes: &[u8]) -> BTreeMap<String, String> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = BTreeMap::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        out.insert(f.name().unwrap().into_owned(), s);
    }
    out
}

/// Path → hash of every note of `user`, through the API.
fn hashes(b: &Backend, user: &str) -> BTreeMap<String, String> {
    let v = b.ok(user, "list_notes", json!({"limit": 1000}));
    v["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["path"].as_str().unwrap().to_owned(),
                n["hash"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn cli(b: &Backend, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vaultgate-backend"))
        .env_clear()
        .env("VAULT_BASE_PATH", b.vaults())
        .env("DATABASE_PATH", b.data.join("index.db"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn export_delete_and_reimport_round_trip() {
    let mut b = Backend::start();
    let alice_notes = [
        (
            "plan.md",
            "---\ntitle: The Plan\ntags: [work, q3]\nowner: alice # kept verbatim\n---\n# Plan\nShip it. [[ideas/one]]\n",
        ),
        ("ideas/one.md", "# One\nfirst idea, ünïcode ok\n"),
        ("ideas/deep/two.md", "no front matter, no heading"),
    ];
    for (path, body) in alice_notes {
        b.ok("alice", "write_note", json!({"path": path, "body": body}));
    }
    b.ok(
        "bob",
        "write_note",
        json!({"path": "plan.md", "body": "bob's own plan"}),
    );
    let alice_before = hashes(&b, "alice");
    let bob_before = hashes(&b, "bob");

    // The API export: every note, byte for byte as read_note returns it.
    let r = b
        .client
        .get(format!("{}/api/export", b.url()))
        .headers(b.identity("alice"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/zip");
    let api_zip = unzip(&r.bytes().unwrap());
    assert_eq!(
        api_zip.keys().collect::<Vec<_>>(),
        alice_before.keys().collect::<Vec<_>>()
    );
    for (path, content) in &api_zip {
        let v = b.ok("alice", "read_note", json!({"path": path}));
        assert_eq!(v["content"].as_str().unwrap(), content, "{path}");
    }
    assert!(
        api_zip["plan.md"].starts_with("---\ntitle: The Plan\n"),
        "front matter kept"
    );
    // A user with no notes gets an empty zip, not an error; nobody gets another user's notes.
    let r = b
        .client
        .get(format!("{}/api/export", b.url()))
        .headers(b.identity("carol"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(unzip(&r.bytes().unwrap()).is_empty());

    // The command-line export gives the same files.
    let out_zip = b.data.join("alice.zip");
    let out = cli(&b, &["export", "--user", "alice", "-o", out_zip.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(unzip(&std::fs::read(&out_zip).unwrap()), api_zip);

    // delete-user: refused without --yes, refused while the backend runs, then done.
    let out = cli(&b, &["delete-user", "alice"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    let out = cli(&b, &["delete-user", "alice", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "a running backend must refuse the deletion");
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use"));
    assert_eq!(hashes(&b, "alice"), alice_before);
    assert!(b.stop().success());
    let out = cli(&b, &["delete-user", "alice", "--yes"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!b.user_dir("alice").exists());
    assert!(!b.data.join("index.d/alice.db").exists());
    b.launch();
    assert!(hashes(&b, "alice").is_empty());
    assert_eq!(hashes(&b, "bob"), bob_before);
    assert!(b.stop().success());

    // Re-import: a plain copy of the exported files, then a reindex.
    for (path, content) in &api_zip {
        let file = b.user_dir("alice").join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, content).unwrap();
    }
    let out = cli(&b, &["reindex"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    b.launch();
    assert_eq!(hashes(&b, "alice"), alice_before);
    assert_eq!(hashes(&b, "bob"), bob_before);
    let found = b.ok("alice", "search_notes", json!({"query": "ship"}));
    assert_eq!(found["results"][0]["path"], "plan.md");
    assert_eq!(
        b.ok("alice", "get_backlinks", json!({"path": "ideas/one.md"}))["backlinks"][0]["path"],
        "plan.md"
    );
}

/// Each export is a temporary file as large as the vault, held until the client has read it:
/// a second export of the same user while one is being sent is 429, another user's is served,
/// and once the first client goes away the user can export again.
#[test]
fn one_export_per_user_at_a_time() {
    use std::io::Write;
    let b = Backend::start_with(&[("USER_MAX_BYTES", "100000000")]);
    // Larger than the loopback socket buffers, so an unread export stays in flight.
    let body = "x".repeat(1_000_000);
    for i in 0..24 {
        b.ok(
            "alice",
            "write_note",
            json!({"path": format!("big/{i}.md"), "body": body}),
        );
    }
    b.ok("bob", "write_note", json!({"path": "a.md", "body": "bob's"}));

    let addr = b.url().strip_prefix("http://").unwrap().to_owned();
    let mut held = std::net::TcpStream::connect(&addr).unwrap();
    let mut head = format!("GET /api/export HTTP/1.1\r\nHost: {addr}\r\n");
    for (k, v) in b.identity("alice").iter() {
        head.push_str(&format!("{}: {}\r\n", k, v.to_str().unwrap()));
    }
    head.push_str("\r\n");
    held.write_all(head.as_bytes()).unwrap();
    let mut first = [0u8; 12];
    held.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200", "the held export started");

    let (status, _, v) = b.rest("alice", "GET", "/api/export", None);
    assert_eq!((status, v["error"].as_str()), (429, Some("busy")), "{v}");
    let (status, _, _) = b.rest("bob", "GET", "/api/export", None);
    assert_eq!(status, 200);

    drop(held);
    // The first stream ends at its next send after the connection closed: poll until it has.
    let again = (0..200).any(|_| b.rest("alice", "GET", "/api/export", None).0 == 200);
    assert!(again, "alice could not export again after her first client went away");
}
