//! A seeded random sequence of operations by four users, checked against an in-memory model:
//! every answer matches the model, and no answer to one user ever carries another user's
//! note, title, tag, snippet or backlink.

use std::collections::{BTreeMap, HashMap};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use vaultgate_tests::Backend;

const USERS: [&str; 4] = ["alice", "bob", "alice2", "carol-x"];
const OPS: usize = 2000;

#[derive(Debug, Clone, PartialEq)]
struct Note {
    body: String,
    fm_title: Option<String>,
    tags: Vec<String>,
    hash: String,
}

fn stem(path: &str) -> &str {
    path.rsplit('/').next().unwrap().strip_suffix(".md").unwrap()
}

fn folder(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(f, _)| f)
}

impl Note {
    fn title(&self, path: &str) -> String {
        self.fm_title.clone().unwrap_or_else(|| stem(path).to_owned())
    }
}

type Vault = BTreeMap<String, Note>;

fn links(body: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in body.split("[[").skip(1) {
        if let Some((t, _)) = part.split_once("]]") {
            let k = t.to_lowercase();
            if !out.contains(&k) {
                out.push(k);
            }
        }
    }
    out
}

fn resolve<'a>(v: &'a Vault, src_folder: &str, key: &str) -> Option<&'a str> {
    let mut c: Vec<&str> = v
        .iter()
        .filter(|(p, n)| n.title(p).to_lowercase() == key || stem(p).to_lowercase() == key)
        .map(|(p, _)| p.as_str())
        .collect();
    c.sort_by_key(|p| (folder(p) != src_folder, p.len(), p.to_string()));
    c.first().copied()
}

fn backlinks(v: &Vault, target: &str) -> Vec<String> {
    v.iter()
        .filter(|(p, n)| {
            p.as_str() != target && links(&n.body).iter().any(|k| resolve(v, folder(p), k) == Some(target))
        })
        .map(|(p, _)| p.clone())
        .collect()
}

fn tag_counts(v: &Vault) -> Vec<(String, u64)> {
    let mut m: HashMap<String, u64> = HashMap::new();
    for n in v.values() {
        for t in &n.tags {
            *m.entry(t.clone()).or_default() += 1;
        }
    }
    let mut out: Vec<(String, u64)> = m.into_iter().collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// Fails if `answer` mentions any other user's secret marker.
fn assert_private(user: &str, op: &str, answer: &Value) {
    let text = answer.to_string();
    for other in USERS.iter().filter(|o| **o != user) {
        let marker = format!("secret_{}_x", other.replace('-', "_"));
        assert!(!text.contains(&marker), "{user} saw {other}'s data in {op}: {text}");
    }
}

#[test]
fn four_users_two_thousand_operations_match_the_model() {
    let b = Backend::start();
    let mut rng = StdRng::seed_from_u64(0x5eed_2026);
    let mut model: HashMap<&str, Vault> = USERS.iter().map(|u| (*u, Vault::new())).collect();
    let paths: Vec<String> = (0..8)
        .flat_map(|i| [format!("n{i}.md"), format!("f/n{i}.md"), format!("f/g/m{i}.md")])
        .collect();
    let titles = ["T0", "T1", "T2", "t3", "Shared Title"];
    let tag_pool = ["alpha", "Beta", "gamma", "delta"];
    let mut counts: HashMap<&str, usize> = HashMap::new();

    for step in 0..OPS {
        let user = *pick(&mut rng, &USERS);
        let vault = model.get_mut(user).unwrap();
        let roll = rng.random_range(0..100);
        let marker = format!("secret_{}_x", user.replace('-', "_"));
        let op = match roll {
            0..=24 => "write",
            25..=34 => "edit",
            35..=41 => "move",
            42..=49 => "delete",
            50..=59 => "read",
            60..=67 => "list",
            68..=79 => "search",
            80..=87 => "backlinks",
            88..=93 => "tags",
            _ => "resources",
        };
        *counts.entry(op).or_default() += 1;
        let ctx = format!("step {step} {user} {op}");
        match op {
            "write" => {
                let path = pick(&mut rng, &paths).clone();
                let mut words: Vec<String> = (0..rng.random_range(3..10))
                    .map(|_| format!("w{}", rng.random_range(0..40)))
                    .collect();
                words.push(marker.clone());
                for _ in 0..rng.random_range(0..3) {
                    let target = if rng.random_bool(0.5) {
                        pick(&mut rng, &titles).to_string()
                    } else {
                        stem(pick(&mut rng, paths.as_slice()).as_str()).to_owned()
                    };
                    words.push(format!("[[{target}]]"));
                }
                let body = words.join(" ");
                let title = rng.random_bool(0.5).then(|| pick(&mut rng, &titles).to_string());
                let tags: Option<Vec<String>> = rng.random_bool(0.6).then(|| {
                    (0..rng.random_range(0..3))
                        .map(|_| pick(&mut rng, &tag_pool).to_string())
                        .collect()
                });
                let mut args = json!({"path": path, "body": body});
                if let Some(t) = &title {
                    args["title"] = json!(t);
                }
                if let Some(t) = &tags {
                    args["tags"] = json!(t);
                }
                let existing = vault.get(&path).cloned();
                let use_rest = rng.random_bool(0.3);
                let answer = if use_rest {
                    let (s, _, v) = b.rest(
                        user,
                        "PUT",
                        &format!("/api/notes/{}", vaultgate_backend::percent::encode_path(&path)),
                        Some(args.clone()),
                    );
                    assert!(s == 200 || s == 201, "{ctx}: {s} {v}");
                    v
                } else {
                    b.ok(user, "write_note", args)
                };
                assert_private(user, &ctx, &answer);
                let mut tag_list: Vec<String> = Vec::new();
                for t in tags
                    .clone()
                    .unwrap_or_else(|| existing.as_ref().map(|n| n.tags.clone()).unwrap_or_default())
                {
                    let t = t.to_lowercase();
                    if !tag_list.contains(&t) {
                        tag_list.push(t);
                    }
                }
                let note = Note {
                    body,
                    fm_title: title.or_else(|| existing.as_ref().and_then(|n| n.fm_title.clone())),
                    tags: tag_list,
                    hash: answer["hash"].as_str().unwrap().to_owned(),
                };
                assert_eq!(answer["created"], existing.is_none(), "{ctx}");
                assert_eq!(answer["title"], note.title(&path), "{ctx}");
                assert_eq!(answer["tags"], json!(note.tags), "{ctx}");
                vault.insert(path, note);
            }
            "edit" => {
                let path = pick(&mut rng, &paths).clone();
                let text = format!("w{} {marker}", rng.random_range(0..40));
                let (err, v) = b.tool(
                    user,
                    "edit_note",
                    json!({"path": path, "operation": "append", "text": text}),
                );
                assert_private(user, &ctx, &v);
                match vault.get_mut(&path) {
                    None => assert!(err && v["error"] == "not_found", "{ctx}: {v}"),
                    Some(n) => {
                        assert!(!err, "{ctx}: {v}");
                        n.body = format!("{}\n{text}", n.body);
                        n.hash = v["hash"].as_str().unwrap().to_owned();
                    }
                }
            }
            "move" => {
                let from = pick(&mut rng, &paths).clone();
                let to = pick(&mut rng, &paths).clone();
                let (err, v) = b.tool(user, "move_note", json!({"path": from, "new_path": to}));
                assert_private(user, &ctx, &v);
                if from == to {
                    assert!(err && v["error"] == "bad_request", "{ctx}: {v}");
                } else if !vault.contains_key(&from) {
                    assert!(err && v["error"] == "not_found", "{ctx}: {v}");
                } else if vault.contains_key(&to) {
                    assert!(err && v["error"] == "conflict", "{ctx}: {v}");
                } else {
                    assert!(!err, "{ctx}: {v}");
                    let n = vault.remove(&from).unwrap();
                    assert_eq!(v["hash"], n.hash.as_str(), "{ctx}");
                    assert_eq!(v["title"], n.title(&to), "{ctx}");
                    vault.insert(to, n);
                }
            }
            "delete" => {
                let path = pick(&mut rng, &paths).clone();
                let (err, v) = b.tool(user, "delete_note", json!({"path": path}));
                assert_eq!(err, !vault.contains_key(&path), "{ctx}: {v}");
                if err {
                    assert_eq!(v["error"], "not_found", "{ctx}");
                }
                vault.remove(&path);
            }
            "read" => {
                let path = pick(&mut rng, &paths).clone();
                let (err, v) = if rng.random_bool(0.5) {
                    b.tool(user, "read_note", json!({"path": path}))
                } else {
                    let (s, _, v) = b.rest(
                        user,
                        "GET",
                        &format!("/api/notes/{}", vaultgate_backend::percent::encode_path(&path)),
                        None,
                    );
                    (s != 200, v)
                };
                assert_private(user, &ctx, &v);
                match vault.get(&path) {
                    None => assert!(err && v["error"] == "not_found", "{ctx}: {v}"),
                    Some(n) => {
                        assert!(!err, "{ctx}: {v}");
                        assert_eq!(v["body"], n.body.as_str(), "{ctx}");
                        assert_eq!(v["title"], n.title(&path), "{ctx}");
                        assert_eq!(v["tags"], json!(n.tags), "{ctx}");
                        assert_eq!(v["hash"], n.hash.as_str(), "{ctx}");
                    }
                }
            }
            "list" => {
                let v = if rng.random_bool(0.5) {
                    b.ok(user, "list_notes", json!({"limit": 1000}))
                } else {
                    b.rest(user, "GET", "/api/notes?limit=1000", None).2
                };
                assert_private(user, &ctx, &v);
                let got: Vec<(String, String, String)> = v["notes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| {
                        (
                            n["path"].as_str().unwrap().into(),
                            n["title"].as_str().unwrap().into(),
                            n["hash"].as_str().unwrap().into(),
                        )
                    })
                    .collect();
                let want: Vec<(String, String, String)> = vault
                    .iter()
                    .map(|(p, n)| (p.clone(), n.title(p), n.hash.clone()))
                    .collect();
                assert_eq!(got, want, "{ctx}");
            }
            "search" => {
                let word = format!("w{}", rng.random_range(0..40));
                let v = b.ok(user, "search_notes", json!({"query": word, "limit": 100}));
                assert_private(user, &ctx, &v);
                let mut got: Vec<String> = v["results"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| h["path"].as_str().unwrap().into())
                    .collect();
                got.sort();
                let want: Vec<String> = vault
                    .iter()
                    .filter(|(_, n)| n.body.split(|c: char| !c.is_alphanumeric()).any(|w| w == word))
                    .map(|(p, _)| p.clone())
                    .collect();
                assert_eq!(got, want, "{ctx} '{word}'");
                for h in v["results"].as_array().unwrap() {
                    assert!(
                        h["snippet_html"]
                            .as_str()
                            .unwrap()
                            .contains(&format!("<mark>{word}</mark>")),
                        "{ctx}: {h}"
                    );
                }
            }
            "backlinks" => {
                let path = pick(&mut rng, &paths).clone();
                let (err, v) = b.tool(user, "get_backlinks", json!({"path": path}));
                assert_private(user, &ctx, &v);
                if !vault.contains_key(&path) {
                    assert!(err && v["error"] == "not_found", "{ctx}: {v}");
                } else {
                    let got: Vec<String> = v["backlinks"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|h| h["path"].as_str().unwrap().into())
                        .collect();
                    assert_eq!(got, backlinks(vault, &path), "{ctx} {path}");
                }
            }
            "tags" => {
                let v = b.ok(user, "get_tags", json!({}));
                let got: Vec<(String, u64)> = v["tags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| (t["tag"].as_str().unwrap().into(), t["count"].as_u64().unwrap()))
                    .collect();
                assert_eq!(got, tag_counts(vault), "{ctx}");
            }
            _ => {
                let v = b.mcp(user, "resources/list", json!({}));
                assert_private(user, &ctx, &v);
                let uris: Vec<String> = v["result"]["resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["uri"].as_str().unwrap().into())
                    .collect();
                let want: Vec<String> = vault
                    .keys()
                    .map(|p| format!("note:///{}", vaultgate_backend::percent::encode_path(p)))
                    .collect();
                assert_eq!(uris, want, "{ctx}");
                if let Some(uri) = uris.first() {
                    let r = b.mcp(user, "resources/read", json!({"uri": uri}));
                    assert_private(user, &ctx, &r);
                    let text = r["result"]["contents"][0]["text"].as_str().unwrap();
                    assert!(text.ends_with(&vault.values().next().unwrap().body), "{ctx}");
                }
            }
        }
    }
    for op in [
        "write",
        "edit",
        "move",
        "delete",
        "read",
        "list",
        "search",
        "backlinks",
        "tags",
        "resources",
    ] {
        assert!(
            counts.get(op).copied().unwrap_or(0) >= 20,
            "{op} ran only {:?} times",
            counts.get(op)
        );
    }
    // And the files agree with the model.
    for (user, vault) in &model {
        let mut on_disk: Vec<String> = vaultgate_tests::tree(&b.user_dir(user))
            .into_iter()
            .filter(|p| p.ends_with(".md"))
            .collect();
        on_disk.sort();
        assert_eq!(on_disk, vault.keys().cloned().collect::<Vec<_>>(), "{user}");
    }
}
