use super::*;
use serde_json::json;

use crate::notes::limits::{MAX_KEYS, MAX_TAGS};

fn service(dir: &std::path::Path, limits: Limits) -> NoteService {
    let vault = Vault::open(&dir.join("vaults")).unwrap();
    let index = Index::open(&dir.join("index.db"), crate::index::IndexOptions::default()).unwrap();
    NoteService::new(vault, index, limits, Metrics::new())
}

const ROOMY: Limits = Limits {
    note_max_bytes: 1 << 20,
    user_max_notes: 1000,
    user_max_bytes: 1 << 30,
    user_max_folders: 1000,
};

fn user(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

fn put(s: &NoteService, u: &UserId, path: &str, body: &str) -> Written {
    s.write(
        u,
        path,
        WriteRequest {
            body: body.into(),
            ..Default::default()
        },
    )
    .unwrap()
}

#[test]
fn best_match_first_and_title_weighs_more() {
    let dir = tempfile::tempdir().unwrap();
    let s = service(dir.path(), ROOMY);
    let u = user("alice");
    put(
        &s,
        &u,
        "passing.md",
        "# Misc\nA long note that mentions tomato once among many other words about gardens, weather, soil, rain and sunshine.",
    );
    put(&s, &u, "dense.md", "# Garden\ntomato tomato tomato sauce with tomato");
    put(&s, &u, "titled.md", "# Tomato\nA note about red fruit.");
    put(&s, &u, "other.md", "# Unrelated\nnothing to see");
    let hits = s.search(&u, "tomato", &[], None, None).unwrap();
    let order: Vec<&str> = hits.iter().map(|h| h.path.as_str()).collect();
    assert_eq!(order, ["titled.md", "dense.md", "passing.md"]);
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score), "{hits:?}");
    assert!(
        hits[1].snippet_html.contains("<mark>tomato</mark>"),
        "{}",
        hits[1].snippet_html
    );
    assert!(!hits[1].snippet.contains('<'), "{}", hits[1].snippet);
    // limit keeps the best, not the worst
    let top = s.search(&u, "tomato", &[], None, Some(1)).unwrap();
    assert_eq!(top[0].path, "titled.md");
    // phrase, prefix, OR, stemming
    assert_eq!(s.search(&u, "\"tomato sauce\"", &[], None, None).unwrap().len(), 1);
    assert_eq!(s.search(&u, "tom*", &[], None, None).unwrap().len(), 3);
    assert_eq!(s.search(&u, "fruit OR sauce", &[], None, None).unwrap().len(), 2);
    assert_eq!(
        s.search(&u, "gardening", &[], None, None).unwrap().len(),
        2,
        "porter stems gardening → garden"
    );
    for bad in ["\"unclosed", "", "***", "OR"] {
        assert!(
            matches!(s.search(&u, bad, &[], None, None), Err(ServiceError::BadRequest(_))),
            "{bad}"
        );
    }
    // FTS syntax characters are just text
    for q in [
        "NEAR(a b)",
        "title:x",
        "a AND",
        "^x",
        "(x",
        "x)",
        "-x",
        "{a}",
        "col:\"x\"",
    ] {
        assert!(
            s.search(&u, q, &[], None, None).is_ok()
                || matches!(s.search(&u, q, &[], None, None), Err(ServiceError::BadRequest(_))),
            "{q}"
        );
    }
}

#[test]
fn search_filters_by_tags_and_folder() {
    let dir = tempfile::tempdir().unwrap();
    let s = service(dir.path(), ROOMY);
    let u = user("alice");
    put(&s, &u, "a/one.md", "---\ntags: [Red, blue]\n---\nshared word");
    put(&s, &u, "a/b/two.md", "---\ntags: [red]\n---\nshared word");
    put(&s, &u, "ab/three.md", "---\ntags: [red]\n---\nshared word");
    let paths = |tags: &[&str], folder: Option<&str>| -> Vec<String> {
        let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        let mut v: Vec<String> = s
            .search(&u, "shared", &tags, folder, None)
            .unwrap()
            .into_iter()
            .map(|h| h.path)
            .collect();
        v.sort();
        v
    };
    assert_eq!(paths(&[], None).len(), 3);
    assert_eq!(paths(&["RED", "blue"], None), ["a/one.md"]);
    assert_eq!(paths(&["red"], Some("a")), ["a/b/two.md", "a/one.md"]);
    assert_eq!(paths(&[], Some("a/b/")), ["a/b/two.md"]);
    assert_eq!(paths(&["green"], None), Vec::<String>::new());
    let tags = s.tags(&u).unwrap();
    assert_eq!(
        tags[0],
        index::TagCount {
            tag: "red".into(),
            count: 3
        }
    );
    assert_eq!(
        tags[1],
        index::TagCount {
            tag: "blue".into(),
            count: 1
        }
    );
}

#[test]
fn wikilink_resolution_table() {
    let dir = tempfile::tempdir().unwrap();
    let s = service(dir.path(), ROOMY);
    let u = user("alice");
    // Same folder wins over a shorter path elsewhere.
    put(&s, &u, "x/target.md", "in x");
    put(&s, &u, "target.md", "at root");
    put(&s, &u, "x/src.md", "[[Target]]");
    // Shortest path wins when no same-folder note exists; then lexicographic.
    put(&s, &u, "y/deep/target.md", "deep");
    put(&s, &u, "z/src.md", "[[target|alias]] and [[Titled Note#Section]]");
    put(&s, &u, "b/dup.md", "b");
    put(&s, &u, "a/dup.md", "a");
    put(&s, &u, "c/src.md", "[[dup]]");
    // By title (front matter or heading), case-insensitive.
    put(&s, &u, "q/some-file.md", "---\ntitle: Titled Note\n---\nbody");
    put(&s, &u, "explicit.md", "[[x/target.md]]");
    let back = |p: &str| -> Vec<String> { s.backlinks(&u, p).unwrap().into_iter().map(|b| b.path).collect() };
    assert_eq!(back("x/target.md"), ["explicit.md", "x/src.md"]);
    assert_eq!(back("target.md"), ["z/src.md"]);
    assert_eq!(back("a/dup.md"), ["c/src.md"]);
    assert!(back("b/dup.md").is_empty());
    assert_eq!(back("q/some-file.md"), ["z/src.md"]);
    assert!(back("y/deep/target.md").is_empty());
    // Unresolved links are kept and resolve once the target appears; moving keeps title links.
    put(&s, &u, "later.md", "[[Not Yet]]");
    let view = s.read(&u, "later.md").unwrap();
    assert_eq!(
        view.links,
        [LinkView {
            target: "Not Yet".into(),
            path: None
        }]
    );
    put(&s, &u, "n/not yet.md", "now here");
    assert_eq!(back("n/not yet.md"), ["later.md"]);
    assert_eq!(
        s.read(&u, "later.md").unwrap().links[0].path.as_deref(),
        Some("n/not yet.md")
    );
    s.move_note(&u, "q/some-file.md", "moved/renamed.md").unwrap();
    assert_eq!(back("moved/renamed.md"), ["z/src.md"]);
    assert!(matches!(
        s.backlinks(&u, "q/some-file.md"),
        Err(ServiceError::NotFound(_))
    ));
    // Another user's identical note is invisible.
    let bob = user("bob");
    put(&s, &bob, "src.md", "[[later]]");
    assert!(s.backlinks(&u, "later.md").unwrap().is_empty());
}

#[test]
fn writes_keep_front_matter_verbatim_except_managed_fields() {
    let dir = tempfile::tempdir().unwrap();
    let s = service(dir.path(), ROOMY);
    let u = user("alice");
    let original =
        "---\n# keep me\nauthor:  Ada   # spacing kept\ntitle: Old\nnested:\n  k: [1, 2]\n---\n# Heading\nbody\n";
    put(&s, &u, "n.md", original);
    let v = s.read(&u, "n.md").unwrap();
    assert_eq!(v.content, original);
    assert_eq!(v.title, "Old");
    assert_eq!(v.metadata["nested"], json!({"k": [1, 2]}));
    // New body without front matter keeps the old front matter; title and tags replace theirs.
    let w = s
        .write(
            &u,
            "n.md",
            WriteRequest {
                body: "new body\n".into(),
                title: Some("New".into()),
                tags: Some(vec!["#Work".into(), "ideas".into()]),
                metadata: Some(json!({"status": "draft"}).as_object().unwrap().clone()),
                if_match: IfMatch::hash(&v.hash),
            },
        )
        .unwrap();
    let v2 = s.read(&u, "n.md").unwrap();
    assert_eq!(w.note.hash, v2.hash);
    assert_eq!(
        v2.content,
        "---\n# keep me\nauthor:  Ada   # spacing kept\nnested:\n  k: [1, 2]\nstatus: draft\ntitle: New\ntags:\n- work\n- ideas\n---\nnew body\n"
    );
    assert_eq!(
        (v2.title.as_str(), v2.tags.clone()),
        ("New", vec!["work".to_owned(), "ideas".to_owned()])
    );
    // Stale if_match: conflict, nothing changes.
    let stale = s.write(
        &u,
        "n.md",
        WriteRequest {
            body: "lost".into(),
            if_match: IfMatch::hash(&v.hash),
            ..Default::default()
        },
    );
    assert!(matches!(stale, Err(ServiceError::Conflict { .. })), "{stale:?}");
    assert_eq!(s.read(&u, "n.md").unwrap().content, v2.content);
    // Edits keep the front matter.
    s.edit(
        &u,
        "n.md",
        EditOp::Append,
        "tail",
        None,
        IfMatch::hash(&format!("\"{}\"", v2.hash)).as_ref(),
    )
    .unwrap();
    s.edit(&u, "n.md", EditOp::Prepend, "head", None, None).unwrap();
    s.edit(&u, "n.md", EditOp::ReplaceText, "NEW", Some("new body"), None)
        .unwrap();
    let v3 = s.read(&u, "n.md").unwrap();
    assert_eq!(v3.body, "head\nNEW\ntail");
    assert!(v3.content.starts_with("---\n# keep me\n"));
    assert!(matches!(
        s.edit(&u, "n.md", EditOp::ReplaceText, "x", Some("absent"), None),
        Err(ServiceError::BadRequest(_))
    ));
    assert!(matches!(
        s.edit(&u, "nope.md", EditOp::Append, "x", None, None),
        Err(ServiceError::NotFound(_))
    ));
}

#[test]
fn limits_refuse_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = service(
        dir.path(),
        Limits {
            note_max_bytes: 100,
            user_max_notes: 2,
            user_max_bytes: 150,
            user_max_folders: 1000,
        },
    );
    let u = user("alice");
    put(&s, &u, "a.md", &"a".repeat(60));
    let big = s.write(
        &u,
        "b.md",
        WriteRequest {
            body: "b".repeat(101),
            ..Default::default()
        },
    );
    assert!(
        matches!(big, Err(ServiceError::TooLarge { size: 101, max: 100 })),
        "{big:?}"
    );
    let bytes = s.write(
        &u,
        "b.md",
        WriteRequest {
            body: "b".repeat(91),
            ..Default::default()
        },
    );
    assert!(matches!(bytes, Err(ServiceError::Quota(_))), "{bytes:?}");
    put(&s, &u, "b.md", &"b".repeat(90));
    let count = s.write(
        &u,
        "c.md",
        WriteRequest {
            body: "c".into(),
            ..Default::default()
        },
    );
    assert!(matches!(count, Err(ServiceError::Quota(_))), "{count:?}");
    // Replacing an existing note counts its old size once.
    put(&s, &u, "a.md", &"z".repeat(60));
    assert_eq!(s.list(&u, None, None, None).unwrap().notes.len(), 2);
    assert!(!s.vault().exists(&u, &NotePath::parse("c.md").unwrap()).unwrap());
    // Another user has their own quota.
    put(&s, &user("bob"), "c.md", "c");
}

#[test]
fn list_pages_with_cursor_and_folder() {
    let dir = tempfile::tempdir().unwrap();
    let s = service(dir.path(), ROOMY);
    let u = user("alice");
    for p in ["b.md", "a.md", "f/x.md", "f/g/y.md", "fg/z.md"] {
        put(&s, &u, p, "x");
    }
    let p1 = s.list(&u, None, Some(2), None).unwrap();
    assert_eq!(
        p1.notes.iter().map(|n| n.path.as_str()).collect::<Vec<_>>(),
        ["a.md", "b.md"]
    );
    let p2 = s.list(&u, None, Some(2), p1.next_cursor.as_deref()).unwrap();
    assert_eq!(
        p2.notes.iter().map(|n| n.path.as_str()).collect::<Vec<_>>(),
        ["f/g/y.md", "f/x.md"]
    );
    let p3 = s.list(&u, None, Some(2), p2.next_cursor.as_deref()).unwrap();
    assert_eq!((p3.notes.len(), p3.next_cursor), (1, None));
    let f = s.list(&u, Some("f"), None, None).unwrap();
    assert_eq!(
        f.notes.iter().map(|n| n.path.as_str()).collect::<Vec<_>>(),
        ["f/g/y.md", "f/x.md"]
    );
    assert!(matches!(
        s.list(&u, None, Some(0), None),
        Err(ServiceError::BadRequest(_))
    ));
    assert!(matches!(
        s.list(&u, None, None, Some("zz")),
        Err(ServiceError::BadRequest(_))
    ));
    assert!(matches!(
        s.list(&u, Some("../x"), None, None),
        Err(ServiceError::InvalidPath(_))
    ));
}

#[test]
fn folders_count_toward_a_quota_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let s = service(
        dir.path(),
        Limits {
            user_max_folders: 3,
            ..ROOMY
        },
    );
    let u = user("alice");
    put(&s, &u, "a/b/one.md", "x");
    put(&s, &u, "a/two.md", "x");
    put(&s, &u, "c/three.md", "x");
    put(&s, &u, "root.md", "x");
    let deeper = s.write(
        &u,
        "a/b/d/four.md",
        WriteRequest {
            body: "x".into(),
            ..Default::default()
        },
    );
    assert!(matches!(deeper, Err(ServiceError::Quota(_))), "{deeper:?}");
    assert!(!dir.path().join("vaults/alice/a/b/d").exists());
    assert!(matches!(
        s.move_note(&u, "root.md", "e/root.md"),
        Err(ServiceError::Quota(_))
    ));
    // Moving the only note out of a folder frees it; deleting does too.
    s.move_note(&u, "c/three.md", "a/b/three.md").unwrap();
    put(&s, &u, "e/five.md", "x");
    s.delete(&u, "e/five.md", None).unwrap();
    put(&s, &u, "f/six.md", "x");
    // Another user has their own folders.
    put(&s, &user("bob"), "p/q/r/x.md", "x");
}

#[test]
fn refused_texts_change_nothing_and_say_which_limit() {
    let dir = tempfile::tempdir().unwrap();
    let s = service(
        dir.path(),
        Limits {
            note_max_bytes: 4096,
            ..ROOMY
        },
    );
    let u = user("alice");
    put(&s, &u, "keep.md", "---\ntitle: Keep\n---\nbody");
    let before = std::fs::read_to_string(dir.path().join("vaults/alice/keep.md")).unwrap();
    let many_tags: Vec<String> = (0..=MAX_TAGS).map(|i| format!("t{i}")).collect();
    let many_keys: Map<String, Value> = (0..=MAX_KEYS).map(|i| (format!("k{i}"), json!(i))).collect();
    let cases: Vec<(WriteRequest, &str)> = vec![
        (
            WriteRequest {
                body: "---\na: &x [1]\nb: *x\n---\nbody".into(),
                ..Default::default()
            },
            "anchor",
        ),
        (
            WriteRequest {
                body: "x".repeat(4097),
                ..Default::default()
            },
            "limit is 4096 bytes",
        ),
        (
            WriteRequest {
                body: "b".into(),
                tags: Some(many_tags),
                ..Default::default()
            },
            "more than 100 tags",
        ),
        (
            WriteRequest {
                body: "b".into(),
                metadata: Some(many_keys),
                ..Default::default()
            },
            "more than 200 keys",
        ),
    ];
    for (req, says) in cases {
        for path in ["keep.md", "new.md"] {
            let e = s.write(&u, path, req.clone()).unwrap_err();
            assert!(e.to_string().contains(says), "{e}");
            assert!(matches!(e.status(), 400 | 413), "{e}");
        }
    }
    // An edit that would make the stored text break a limit is refused the same way.
    let e = s
        .edit(&u, "keep.md", EditOp::Prepend, &"[[l]]".repeat(2), None, None)
        .map(|_| ());
    assert!(e.is_ok(), "{e:?}");
    let e = s
        .edit(&u, "keep.md", EditOp::Append, &"y".repeat(4097), None, None)
        .unwrap_err();
    assert_eq!(e.code(), "too_large");
    assert_eq!(s.list(&u, None, None, None).unwrap().notes.len(), 1);
    assert!(!dir.path().join("vaults/alice/new.md").exists());
    let after = s.read(&u, "keep.md").unwrap();
    assert!(after.content.ends_with("body") && after.content.contains("[[l]]"));
    assert_ne!(after.content, before);
}

#[test]
fn writes_are_refused_while_an_import_runs() {
    let dir = tempfile::tempdir().unwrap();
    let s = service(dir.path(), ROOMY);
    let (u, bob) = (user("alice"), user("bob"));
    put(&s, &u, "a.md", "x");
    let importing = s.begin_import(&u).unwrap();
    assert!(s.begin_import(&u).is_none(), "one import per user");
    let w = s.write(
        &u,
        "b.md",
        WriteRequest {
            body: "x".into(),
            ..Default::default()
        },
    );
    assert!(matches!(w, Err(ServiceError::Importing)), "{w:?}");
    assert_eq!(ServiceError::Importing.status(), 429);
    assert!(matches!(s.delete(&u, "a.md", None), Err(ServiceError::Importing)));
    assert!(matches!(s.move_note(&u, "a.md", "c.md"), Err(ServiceError::Importing)));
    assert_eq!(s.read(&u, "a.md").unwrap().content, "x", "reads go on");
    put(&s, &bob, "b.md", "others are not held up");
    drop(importing);
    put(&s, &u, "b.md", "x");
}
