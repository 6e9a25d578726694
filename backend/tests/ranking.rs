//! Ranking invariance: nothing one user sees of their own search results (paths, order, scores,
//! snippets) changes when another user writes, edits or deletes notes with the same words.
//! With one full-text table for everyone, bm25's document counts and average lengths would
//! move with the other user's notes, and the scores with them.

use serde_json::json;
use vaultgate_tests::Backend;

/// Words both users write, so every query below matches notes of both.
const NOTES: &[(&str, &str)] = &[
    (
        "garden/tomato.md",
        "---\ntags: [food, garden]\n---\n# Tomato\nRed tomato in the garden, tomato sauce.",
    ),
    (
        "garden/basil.md",
        "---\ntags: [garden]\n---\n# Basil\nBasil grows beside the tomato plants in summer.",
    ),
    (
        "kitchen/sauce.md",
        "---\ntags: [food]\n---\n# Sauce\nA tomato sauce with garlic, basil and secret spices.",
    ),
    (
        "kitchen/bread.md",
        "# Bread\nBread, butter and a secret recipe for sourdough.",
    ),
    (
        "notes/secret.md",
        "# Secret\nThe secret word is swordfish; secretary meets secretly.",
    ),
    (
        "notes/long.md",
        "# Long\nA long note about the garden, the kitchen, tomatoes, basil, bread, weather, soil and rain in spring and summer.",
    ),
];

/// Single words, phrases, prefixes, OR, tag and folder filters.
const QUERIES: &[(&str, &str)] = &[
    ("q=tomato", ""),
    ("q=basil", ""),
    ("q=secret", ""),
    ("q=%22tomato%20sauce%22", ""),
    ("q=secr*", ""),
    ("q=sword*", ""),
    ("q=tom*", ""),
    ("q=garden%20OR%20bread", ""),
    ("q=tomato", "&tags=food"),
    ("q=garden", "&tags=garden"),
    ("q=tomato", "&folder=kitchen"),
];

fn results(b: &Backend, user: &str) -> Vec<String> {
    QUERIES
        .iter()
        .map(|(q, extra)| {
            let r = b
                .client
                .get(format!("{}/api/search?{q}{extra}&limit=100", b.url()))
                .headers(b.identity(user))
                .send()
                .unwrap();
            assert_eq!(r.status(), 200, "{q}{extra}");
            r.text().unwrap()
        })
        .collect()
}

fn write(b: &Backend, user: &str, path: &str, body: &str) {
    b.ok(user, "write_note", json!({"path": path, "body": body}));
}

/// What the other user does in the meantime: more notes with the same words, many of them
/// short or long, edits of those, deletions of some — each of which moves a shared table's stats.
fn churn(b: &Backend, user: &str) {
    for i in 0..12 {
        write(
            b,
            user,
            &format!("churn/n{i}.md"),
            &format!(
                "---\ntags: [food, garden]\n---\n# Tomato {i}\n{}",
                "tomato secret basil garden sauce swordfish ".repeat(i * 3 + 1)
            ),
        );
    }
    for i in 0..6 {
        b.ok(
            user,
            "edit_note",
            json!({"path": format!("churn/n{i}.md"), "operation": "append", "text": "secretive tomatoes bread"}),
        );
    }
    for i in 6..12 {
        b.ok(user, "delete_note", json!({"path": format!("churn/n{i}.md")}));
    }
    write(
        b,
        user,
        "kitchen/sauce.md",
        "# Sauce\nsecret tomato sauce, nothing else",
    );
}

#[test]
fn one_users_results_do_not_move_when_another_user_writes_the_same_words() {
    let b = Backend::start();
    for user in ["alice", "bob"] {
        for (path, body) in NOTES {
            write(&b, user, path, body);
        }
    }
    let bob_before = results(&b, "bob");
    // The results are not trivially empty: every query finds some of bob's notes.
    for (r, (q, extra)) in bob_before.iter().zip(QUERIES) {
        assert!(r.contains("\"path\""), "{q}{extra}: {r}");
    }
    assert!(bob_before.iter().any(|r| r.contains("<mark>")));
    churn(&b, "alice");
    assert_eq!(results(&b, "bob"), bob_before, "bob's results moved with alice's notes");

    // And the other way round: alice's results, now over her changed vault, stay as they are
    // while bob changes his.
    let alice_before = results(&b, "alice");
    churn(&b, "bob");
    assert_eq!(
        results(&b, "alice"),
        alice_before,
        "alice's results moved with bob's notes"
    );

    // Through MCP too (same service, but the tool is what models call).
    let hits = |user: &str| b.ok(user, "search_notes", json!({"query": "secr*", "limit": 100}));
    let alice_mcp = hits("alice");
    write(&b, "bob", "more.md", "secret secret secret");
    assert_eq!(hits("alice"), alice_mcp);
}
