//! Crash safety (SIGKILL during a stream of writes), reconciliation of changes made on disk
//! while the backend was stopped, the `reindex` command, and a clean SIGTERM shutdown.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use vaultgate_tests::Backend;

fn search_paths(b: &Backend, user: &str, q: &str) -> Vec<String> {
    let v = b.ok(user, "search_notes", json!({"query": q, "limit": 100}));
    let mut p: Vec<String> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["path"].as_str().unwrap().into())
        .collect();
    p.sort();
    p
}

fn listed(b: &Backend, user: &str) -> Vec<String> {
    let v = b.ok(user, "list_notes", json!({"limit": 1000}));
    v["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["path"].as_str().unwrap().into())
        .collect()
}

fn md_files(b: &Backend, user: &str) -> Vec<String> {
    let mut v: Vec<String> = vaultgate_tests::tree(&b.user_dir(user))
        .into_iter()
        .filter(|p| p.ends_with(".md"))
        .collect();
    v.sort();
    v
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let mut b = Backend::start();
    // Last acknowledged body per path, and the body of a write in flight (if any).
    let acked: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let in_flight: Arc<Mutex<Option<(String, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let (url, key) = (b.url(), b.key.clone());
    let writer = {
        let (acked, in_flight, stop) = (acked.clone(), in_flight.clone(), stop.clone());
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let user = vaultgate_shared::UserId::parse("alice").unwrap();
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let path = format!("crash/c{}.md", i % 40);
                let body = format!(
                    "version {i} unique{i}x {}",
                    "filler words ".repeat((i % 7) as usize * 50)
                );
                *in_flight.lock().unwrap() = Some((path.clone(), body.clone()));
                let token = vaultgate_shared::identity::sign_identity(&key, &user, None);
                let r = client
                    .put(format!("{url}/api/notes/{path}"))
                    .header(vaultgate_shared::headers::IDENTITY, token)
                    .header(vaultgate_shared::headers::USER, "alice")
                    .json(&json!({"body": body}))
                    .send();
                match r {
                    Ok(r) if r.status().is_success() => {
                        acked.lock().unwrap().insert(path, body);
                    }
                    _ => break,
                }
                i += 1;
            }
        })
    };
    // Kill once every path has been overwritten a few times, while writes keep coming.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !overwritten(&acked) {
        assert!(Instant::now() < deadline, "writes too slow");
        std::thread::sleep(Duration::from_millis(2));
    }
    b.kill();
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    let in_flight = in_flight.lock().unwrap().clone();
    assert!(acked.len() == 40);

    b.launch();
    for (path, body) in &acked {
        let v = b.ok("alice", "read_note", json!({"path": path}));
        let got = v["content"].as_str().unwrap();
        let in_flight_here = in_flight.as_ref().is_some_and(|(p, bd)| p == path && got == bd);
        assert!(got == body || in_flight_here, "{path}: acknowledged write lost or torn");
    }
    // The index agrees with the disk: same files, and each note findable by its unique word.
    assert_eq!(listed(&b, "alice"), md_files(&b, "alice"));
    for path in acked.keys() {
        let v = b.ok("alice", "read_note", json!({"path": path}));
        let word = v["content"].as_str().unwrap().split(' ').nth(2).unwrap().to_owned();
        assert_eq!(search_paths(&b, "alice", &word), vec![path.to_owned()], "{word}");
    }
    assert!(
        vaultgate_tests::tree(&b.user_dir("alice"))
            .iter()
            .all(|p| !p.contains(".tmp-")),
        "temp files left behind"
    );
}

/// True once all 40 paths exist and at least one holds its third version (i ≥ 80).
fn overwritten(acked: &Arc<Mutex<HashMap<String, String>>>) -> bool {
    let a = acked.lock().unwrap();
    a.len() == 40
        && a.values().any(|b| {
            b.split(' ')
                .nth(1)
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| n >= 80)
        })
}

#[test]
fn changes_on_disk_while_stopped_are_reconciled_and_reindex_rebuilds() {
    let mut b = Backend::start();
    b.ok("alice", "write_note", json!({"path": "a.md", "body": "apple original"}));
    b.ok(
        "alice",
        "write_note",
        json!({"path": "dir/b.md", "body": "banana original"}),
    );
    b.ok(
        "alice",
        "write_note",
        json!({"path": "c.md", "body": "cherry original"}),
    );
    b.ok(
        "alice",
        "write_note",
        json!({"path": "same.md", "body": "stable content"}),
    );
    let status = b.stop();
    assert!(status.success(), "SIGTERM should exit 0, got {status}");

    let alice = b.user_dir("alice");
    std::fs::write(
        alice.join("d.md"),
        "---\ntags: [Fresh]\n---\n# Durian\ndurian added offline [[a]]",
    )
    .unwrap();
    std::fs::write(alice.join("dir/b.md"), "blueberry changed offline").unwrap();
    std::fs::remove_file(alice.join("c.md")).unwrap();
    let same = std::fs::read(alice.join("same.md")).unwrap();
    std::fs::write(alice.join("same.md"), &same).unwrap(); // new mtime, same content
    std::fs::write(alice.join("notes.txt"), "not a note").unwrap();
    std::fs::write(alice.join(".hidden.md"), "hidden").unwrap();
    std::fs::create_dir_all(b.user_dir("dave")).unwrap();
    std::fs::write(b.user_dir("dave").join("x.md"), "dave elderberry").unwrap();
    std::fs::create_dir_all(b.vaults().join("not a user!")).unwrap();
    std::fs::write(b.vaults().join("not a user!/y.md"), "elderberry").unwrap();

    b.launch();
    assert_eq!(search_paths(&b, "alice", "durian"), ["d.md"]);
    assert_eq!(search_paths(&b, "alice", "blueberry"), ["dir/b.md"]);
    assert!(search_paths(&b, "alice", "banana").is_empty());
    assert!(search_paths(&b, "alice", "cherry").is_empty());
    assert_eq!(search_paths(&b, "alice", "stable"), ["same.md"]);
    assert_eq!(listed(&b, "alice"), ["a.md", "d.md", "dir/b.md", "same.md"]);
    assert_eq!(
        b.ok("alice", "get_tags", json!({}))["tags"],
        json!([{"tag": "fresh", "count": 1}])
    );
    assert_eq!(
        b.ok("alice", "get_backlinks", json!({"path": "a.md"}))["backlinks"][0]["path"],
        "d.md"
    );
    assert_eq!(search_paths(&b, "dave", "elderberry"), ["x.md"]);
    assert!(search_paths(&b, "alice", "elderberry").is_empty());
    assert_eq!(b.metric("vaultgate_backend_index_notes"), 5.0);

    let (vaults, db) = (b.vaults(), b.data.join("index.db"));
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vaultgate-backend"))
            .env_clear()
            .env("VAULT_BASE_PATH", &vaults)
            .env("DATABASE_PATH", &db)
            .args(args)
            .output()
            .unwrap()
    };
    // A full reindex replaces the database file, so it is refused while the backend has it
    // open, and changes nothing; one user can be rebuilt in place meanwhile.
    let out = run(&["reindex"]);
    assert_eq!(out.status.code(), Some(1), "a runtime failure");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is in use"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        vaultgate_tests::tree(&b.data.join("index.d"))
            .iter()
            .all(|f| !f.contains(".rebuild")),
        "a refused reindex left a file behind"
    );
    assert_eq!(search_paths(&b, "alice", "durian"), ["d.md"]);
    let out = run(&["reindex", "--user", "alice"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(search_paths(&b, "alice", "durian"), ["d.md"]);
    assert!(b.stop().success());

    let check = |b: &mut Backend| {
        b.launch();
        assert_eq!(search_paths(b, "alice", "durian"), ["d.md"]);
        assert_eq!(search_paths(b, "dave", "elderberry"), ["x.md"]);
        assert!(search_paths(b, "alice", "elderberry").is_empty());
        assert_eq!(listed(b, "alice"), ["a.md", "d.md", "dir/b.md", "same.md"]);
        assert_eq!(b.metric("vaultgate_backend_index_notes"), 5.0);
        assert_eq!(
            b.ok("alice", "get_backlinks", json!({"path": "a.md"}))["backlinks"][0]["path"],
            "d.md"
        );
        assert_eq!(
            b.ok("alice", "get_tags", json!({}))["tags"],
            json!([{"tag": "fresh", "count": 1}])
        );
        // The rebuilt index takes writes and finds them.
        b.ok("alice", "write_note", json!({"path": "e.md", "body": "fig [[a]]"}));
        assert_eq!(search_paths(b, "alice", "fig"), ["e.md"]);
        b.ok("alice", "delete_note", json!({"path": "e.md"}));
        assert!(b.stop().success());
    };
    // Over the existing index.
    let out = run(&["reindex"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    check(&mut b);
    // With no database at all.
    std::fs::remove_dir_all(b.data.join("index.d")).unwrap();
    let out = run(&["reindex"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    check(&mut b);
    // Over a damaged one (and a stale WAL, which must not be replayed into the new file).
    let alice_db = b.data.join("index.d/alice.db");
    std::fs::write(&alice_db, b"this is not a database".repeat(500)).unwrap();
    std::fs::write(b.data.join("index.d/alice.db-wal"), b"not a wal either".repeat(100)).unwrap();
    let out = run(&["reindex"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!b.data.join("index.d/alice.db-wal").exists());
    check(&mut b);
    // A damaged file found at start is replaced and refilled from the vault by reconciliation.
    std::fs::write(&alice_db, b"this is not a database".repeat(500)).unwrap();
    check(&mut b);
    // So is one of another layout version (its `user_version`).
    let conn = rusqlite::Connection::open(&alice_db).unwrap();
    conn.pragma_update(None, "user_version", 1).unwrap();
    drop(conn);
    check(&mut b);
    let out = run(&["reindex", "--user", "../etc"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_single_file_index_of_an_earlier_version_is_replaced_by_per_user_databases() {
    let b = Backend::start_seeded(&[], |vaults| {
        std::fs::create_dir_all(vaults.join("alice")).unwrap();
        std::fs::write(vaults.join("alice/a.md"), "# A\napricot").unwrap();
        let data = vaults.parent().unwrap();
        std::fs::write(data.join("index.db"), b"an old shared index".repeat(100)).unwrap();
        std::fs::write(data.join("index.db-wal"), b"its wal").unwrap();
        std::fs::write(data.join("index.db.lock"), b"").unwrap();
    });
    assert_eq!(search_paths(&b, "alice", "apricot"), ["a.md"]);
    for f in ["index.db", "index.db-wal", "index.db.lock"] {
        assert!(!b.data.join(f).exists(), "{f} left behind");
    }
    assert!(b.data.join("index.d/alice.db").is_file());
}

#[test]
fn one_users_broken_index_does_not_keep_the_backend_from_starting() {
    let b = Backend::start_seeded(&[], |vaults| {
        for (user, word) in [("alice", "apricot"), ("bob", "banana")] {
            std::fs::create_dir_all(vaults.join(user)).unwrap();
            std::fs::write(vaults.join(user).join("a.md"), format!("# A\n{word}")).unwrap();
        }
        // Bob's database path is a directory that is not empty: it can be neither opened nor
        // replaced, so his reconciliation fails.
        let broken = vaults.parent().unwrap().join("index.d/bob.db");
        std::fs::create_dir_all(&broken).unwrap();
        std::fs::write(broken.join("keep"), b"x").unwrap();
    });
    assert_eq!(search_paths(&b, "alice", "apricot"), ["a.md"]);
    let (status, _, v) = b.rest("bob", "GET", "/api/search?q=banana", None);
    assert_eq!(status, 500, "{v}");
}
