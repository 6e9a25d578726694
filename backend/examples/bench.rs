//! The backend benchmark (not a test): generates a seeded corpus, rebuilds the index with the
//! release binary, then measures side by side `search_notes` through MCP over HTTP against an
//! in-process bare FTS5 floor on the same corpus and queries, plus `write_note` throughput with
//! fsync, and search latency at several vault sizes. Prints a Markdown report on stdout.
//!
//! Run through `tests/bench/backend.sh`. Settings (environment):
//! `BENCH_BIN` (path of the release `vaultgate-backend`, required), `BENCH_SMALL=1` (2 users ×
//! 500 notes, for CI), `BENCH_USERS`, `BENCH_NOTES` (per user), `BENCH_QUERIES`, `BENCH_WRITES`,
//! `BENCH_SCALE` (comma list of extra single-user vault sizes, e.g. `1000,100000`), `BENCH_SEED`,
//! `BENCH_DIR` (keep the corpus there instead of a temporary directory), `BENCH_PARTS` (comma list
//! of `search`, `writes`, `growth`; default all three; the corpus is always generated and indexed,
//! so `BENCH_PARTS=none` only builds it), `BENCH_LOAD_DIR` (also write there the note paths of
//! every vault (`paths.txt`), the queries (`queries.txt`) and the growth figures (`growth.tsv`),
//! for `tests/bench/run.sh`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::blocking::Client;
use rusqlite::{Connection, params};
use serde_json::{Value, json};
use vaultgate_shared::UserId;
use vaultgate_shared::headers::{IDENTITY, USER};
use vaultgate_shared::identity::{IdentityKey, sign_identity};

const SECRET: &str = "benchmark-identity-secret-0123456789abcdef";

const WORDS: &str = "the of and to in is was that for on with as by at from his her they this have are which be or an were one all had their has there been not we if more when will would who so no out up into them can time some could only other new than then its about two may these first any like also made after did many over such well even most where after back through years much before good people work life world way still place part great year down own state same right used take three states another while house small found last never under might next home since place against very long often between public during course without number both high until though fact city system point give group word case problem company government business question program country power idea music water story study book night money week month school family head hand side service side order line area change light kind plan party field market report data model design project garden river mountain forest winter summer autumn spring coffee kitchen recipe bread tomato garlic onion pepper travel train station airport ticket hotel museum painting poetry novel chapter author letter meeting agenda budget invoice client contract deadline release feature bug issue review merge branch server client database index query cache latency throughput memory thread socket protocol network router gateway token secret session cookie browser window screen keyboard mouse camera photo video audio signal sensor battery engine motor wheel bicycle runner marathon yoga health doctor patient medicine vitamin protein sugar salt lemon orange apple banana cherry grape melon peach plum pear berry honey butter cheese pasta pizza salad soup rice noodle curry spice herb basil mint thyme sage rosemary ginger cinnamon vanilla chocolate dessert cookie cake pie tart jam";

const TAGS: [&str; 24] = [
    "work", "personal", "ideas", "reading", "recipes", "travel", "health", "projects", "meeting", "journal",
    "research", "draft", "todo", "finance", "music", "garden", "code", "rust", "python", "family", "books", "movies",
    "learning", "archive",
];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A Zipf-distributed vocabulary: about 430 real English words at the head, then about 8,400
/// generated pseudo-words (two or three syllables) as the long tail real notes have.
struct Corpus {
    words: Vec<String>,
    /// Cumulative Zipf (s = 1) weights, for sampling by rank.
    cumulative: Vec<f64>,
}

const SYLLABLES: [&str; 20] = [
    "ka", "lo", "mi", "ren", "tor", "vel", "sun", "dra", "pe", "gul", "fin", "mar", "zo", "bel", "quin", "tha", "wex",
    "ori", "nal", "sef",
];

impl Corpus {
    fn new() -> Self {
        let mut words: Vec<String> = Vec::new();
        for w in WORDS.split_whitespace() {
            if !words.iter().any(|x| x == w) {
                words.push(w.to_owned());
            }
        }
        for a in SYLLABLES {
            for b in SYLLABLES {
                words.push(format!("{a}{b}"));
                for c in SYLLABLES {
                    words.push(format!("{a}{b}{c}"));
                }
            }
        }
        let mut acc = 0.0;
        let cumulative = (1..=words.len())
            .map(|r| {
                acc += 1.0 / r as f64;
                acc
            })
            .collect();
        Self { words, cumulative }
    }

    /// A word drawn by Zipf's law over the vocabulary's ranks.
    fn word(&self, rng: &mut StdRng) -> &str {
        let total = *self.cumulative.last().unwrap();
        let x: f64 = rng.random::<f64>() * total;
        let i = self.cumulative.partition_point(|c| *c < x);
        &self.words[i.min(self.words.len() - 1)]
    }

    /// A word a person would search for: not among the 30 commonest, mostly in the first 3,000.
    fn query_word(&self, rng: &mut StdRng) -> &str {
        &self.words[rng.random_range(30..3000.min(self.words.len()))]
    }

    fn title(&self, rng: &mut StdRng, n: usize) -> String {
        let k = rng.random_range(2..5);
        let mut t: Vec<String> = (0..k).map(|_| self.word(rng).to_owned()).collect();
        t[0] = capitalize(&t[0]);
        format!("{} {n}", t.join(" "))
    }

    /// One note of about 1–3 KiB: front matter with tags, a heading, paragraphs, wikilinks.
    fn note(&self, rng: &mut StdRng, title: &str, titles: &[String]) -> String {
        let target = rng.random_range(1024..3072);
        let mut s = String::with_capacity(target + 256);
        let ntags = rng.random_range(1..4);
        let tags: Vec<&str> = (0..ntags).map(|_| TAGS[rng.random_range(0..TAGS.len())]).collect();
        s.push_str(&format!(
            "---\ntags: [{}]\ncreated: 2026-0{}-1{}\n---\n# {title}\n\n",
            tags.join(", "),
            rng.random_range(1..10),
            rng.random_range(0..10)
        ));
        while s.len() < target {
            let len = rng.random_range(6..18);
            let mut sentence: Vec<String> = (0..len).map(|_| self.word(rng).to_owned()).collect();
            sentence[0] = capitalize(&sentence[0]);
            if rng.random_bool(0.12) && !titles.is_empty() {
                let t = &titles[rng.random_range(0..titles.len())];
                sentence.push(format!("[[{t}]]"));
            }
            s.push_str(&sentence.join(" "));
            s.push_str(if rng.random_bool(0.2) { ".\n\n" } else { ". " });
        }
        s.push('\n');
        s
    }
}

fn capitalize(w: &str) -> String {
    let mut c = w.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// The folders of every generated vault; note `i` goes into folder `i % 5`.
const FOLDERS: [&str; 5] = ["inbox", "projects", "journal/2026", "reference", "archive/old"];

/// Writes `n` notes for `user`; returns (path, title, body-as-indexed) for the floor.
fn generate(root: &Path, user: &str, n: usize, seed: u64, corpus: &Corpus) -> Vec<(String, String)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = root.join(user);
    let titles: Vec<String> = (0..n).map(|i| corpus.title(&mut rng, i)).collect();
    let mut out = Vec::with_capacity(n);
    for (i, title) in titles.iter().enumerate() {
        let path = dir.join(note_path(i));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let text = corpus.note(&mut rng, title, &titles);
        std::fs::write(&path, &text).unwrap();
        out.push((title.clone(), text));
    }
    out
}

/// The floor: one FTS5 table over title and body, no users, no joins.
fn build_floor(path: &Path, notes: &[(String, String)]) -> Connection {
    let _ = std::fs::remove_file(path);
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
         CREATE VIRTUAL TABLE floor USING fts5(title, body, tokenize='porter unicode61');",
    )
    .unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    {
        let mut st = tx.prepare("INSERT INTO floor (title, body) VALUES (?1, ?2)").unwrap();
        for (t, b) in notes {
            st.execute(params![t, b]).unwrap();
        }
    }
    tx.commit().unwrap();
    conn
}

fn floor_query(conn: &Connection, q: &str) -> usize {
    let fts: String = q
        .split_whitespace()
        .map(|w| format!("\"{w}\""))
        .collect::<Vec<_>>()
        .join(" ");
    let mut st = conn
        .prepare_cached(
            "SELECT rowid, title, snippet(floor, 1, '<mark>', '</mark>', '…', 24), bm25(floor, 5.0, 1.0) AS r
             FROM floor WHERE floor MATCH ?1 ORDER BY r LIMIT 10",
        )
        .unwrap();
    let rows = st.query_map([fts], |r| r.get::<_, i64>(0)).unwrap();
    rows.count()
}

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn backend(bin: &Path, data: &Path) -> Command {
    let mut c = Command::new(bin);
    c.env("IDENTITY_SECRET", SECRET)
        .env("VAULT_BASE_PATH", data.join("vaults"))
        .env("DATABASE_PATH", data.join("index.db"))
        .env("USER_MAX_NOTES", "1000000")
        .env("USER_MAX_BYTES", "10000000000")
        .env("RUST_LOG", "warn");
    c
}

fn start(bin: &Path, data: &Path, client: &Client) -> (Server, Duration) {
    let port = free_port();
    let t = Instant::now();
    let child = backend(bin, data)
        .env("BACKEND_LISTEN", format!("127.0.0.1:{port}"))
        .env("BACKEND_ADMIN_ADDR", format!("127.0.0.1:{}", free_port()))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    loop {
        if client
            .get(format!("{}/healthz", server.url))
            .send()
            .is_ok_and(|r| r.status().is_success())
        {
            return (server, t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn tool(client: &Client, url: &str, key: &IdentityKey, user: &str, name: &str, args: Value) -> Value {
    let v = call(client, url, key, user, name, args);
    assert!(v["result"]["isError"] != true, "{name} failed: {v}");
    v
}

/// A tool call whose answer may be a tool error.
fn call(client: &Client, url: &str, key: &IdentityKey, user: &str, name: &str, args: Value) -> Value {
    let id = UserId::parse(user).unwrap();
    let r = client
        .post(format!("{url}/mcp"))
        .header(IDENTITY, sign_identity(key, &id, None))
        .header(USER, user)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": args}}))
        .send()
        .unwrap();
    r.json().unwrap()
}

#[derive(Clone, Copy)]
struct Stats {
    median: f64,
    p99: f64,
    mean: f64,
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "median {:.2} ms, p99 {:.2} ms, mean {:.2} ms",
            self.median, self.p99, self.mean
        )
    }
}

fn stats(mut ms: Vec<f64>) -> Stats {
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    Stats {
        median: at(0.5),
        p99: at(0.99),
        mean: ms.iter().sum::<f64>() / ms.len() as f64,
    }
}

fn queries(corpus: &Corpus, n: usize, seed: u64) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xABCD);
    (0..n)
        .map(|i| match i % 4 {
            0 | 1 => corpus.query_word(&mut rng).to_owned(),
            2 => format!("{} {}", corpus.query_word(&mut rng), corpus.query_word(&mut rng)),
            _ => format!("{} {}", corpus.query_word(&mut rng), corpus.word(&mut rng)),
        })
        .collect()
}

fn measure_mcp_search(client: &Client, url: &str, key: &IdentityKey, users: &[String], qs: &[String]) -> Stats {
    for q in qs.iter().take(20) {
        tool(
            client,
            url,
            key,
            &users[0],
            "search_notes",
            json!({"query": q, "limit": 10}),
        );
    }
    let mut ms = Vec::with_capacity(qs.len());
    for (i, q) in qs.iter().enumerate() {
        let user = &users[i % users.len()];
        let t = Instant::now();
        tool(client, url, key, user, "search_notes", json!({"query": q, "limit": 10}));
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    stats(ms)
}

fn main() {
    let small = std::env::var("BENCH_SMALL").is_ok_and(|v| v == "1");
    let users_n = env_usize("BENCH_USERS", if small { 2 } else { 10 });
    let notes_n = env_usize("BENCH_NOTES", if small { 500 } else { 10_000 });
    let queries_n = env_usize("BENCH_QUERIES", if small { 200 } else { 1000 });
    let writes_n = env_usize("BENCH_WRITES", if small { 300 } else { 3000 });
    let seed = env_usize("BENCH_SEED", 2026) as u64;
    let scale: Vec<usize> = std::env::var("BENCH_SCALE")
        .unwrap_or_else(|_| if small { String::new() } else { "1000,100000".into() })
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let parts: Vec<String> = std::env::var("BENCH_PARTS")
        .unwrap_or_else(|_| "search,writes,growth".into())
        .split(',')
        .map(|p| p.trim().to_owned())
        .collect();
    let part = |p: &str| parts.iter().any(|x| x == p);
    let load_dir = std::env::var("BENCH_LOAD_DIR").ok().map(PathBuf::from);
    let bin = PathBuf::from(std::env::var("BENCH_BIN").expect("BENCH_BIN: path of the release vaultgate-backend"));
    let tmp = tempfile::tempdir().unwrap();
    let data = std::env::var("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| tmp.path().to_path_buf());
    let _ = std::fs::remove_dir_all(data.join("vaults"));
    let _ = std::fs::remove_dir_all(data.join("index.d"));
    let corpus = Corpus::new();
    let key = IdentityKey::new(SECRET.as_bytes()).unwrap();
    let client = Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
    let mut report = Vec::<String>::new();
    let mut row = |k: &str, v: String| report.push(format!("| {k} | {v} |"));

    // 1. Corpus.
    let t = Instant::now();
    let users: Vec<String> = (0..users_n).map(|i| format!("user{i:02}")).collect();
    let mut all = Vec::new();
    for (i, u) in users.iter().enumerate() {
        all.extend(generate(&data.join("vaults"), u, notes_n, seed + i as u64, &corpus));
    }
    let bytes: usize = all.iter().map(|(_, b)| b.len()).sum();
    eprintln!(
        "generated {} notes ({:.1} MiB) in {:.1?}",
        all.len(),
        bytes as f64 / 1048576.0,
        t.elapsed()
    );
    row(
        "corpus",
        format!(
            "{users_n} users × {notes_n} notes = {} notes, {:.1} MiB (avg {:.0} B/note)",
            all.len(),
            bytes as f64 / 1048576.0,
            bytes as f64 / all.len() as f64
        ),
    );

    // 2. Full reindex with the real binary (of an empty vault folder when BENCH_USERS=0).
    std::fs::create_dir_all(data.join("vaults")).unwrap();
    let t = Instant::now();
    let out = backend(&bin, &data)
        .arg("reindex")
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(out.success(), "reindex failed");
    let reindex = t.elapsed();
    eprintln!("reindex: {reindex:.2?}");
    row(
        "full reindex (`vaultgate-backend reindex`)",
        format!(
            "{:.2} s ({:.0} notes/s)",
            reindex.as_secs_f64(),
            all.len() as f64 / reindex.as_secs_f64()
        ),
    );

    // 3. Start (reconciliation of an up-to-date index) and search through MCP.
    let qs = queries(&corpus, queries_n, seed);
    if let Some(dir) = load_dir.as_ref().filter(|_| users_n > 0) {
        std::fs::create_dir_all(dir).unwrap();
        let paths: Vec<String> = (0..notes_n).map(note_path).collect();
        std::fs::write(dir.join("paths.txt"), paths.join("\n") + "\n").unwrap();
        std::fs::write(dir.join("queries.txt"), qs.join("\n") + "\n").unwrap();
    }
    let mut growth = Vec::new();
    if part("search") {
        growth.push((
            notes_n,
            search_part(&bin, &data, &client, &key, &users, &qs, &corpus, &all, &mut row),
        ));
    }
    if part("writes") {
        writes_part(&bin, &data, &client, &key, &corpus, seed, writes_n, &mut row);
    }
    if part("growth") {
        growth_part(
            &bin,
            &data,
            &client,
            &key,
            &corpus,
            seed,
            &scale,
            &qs,
            &mut growth,
            &mut row,
        );
    }
    growth.sort_by_key(|(n, _)| *n);
    let mut g = String::from("\n| notes per user | MCP `search_notes` median | p99 |\n| ---: | ---: | ---: |\n");
    let mut tsv = String::from("# notes_per_user\tmedian_ms\tp99_ms\n");
    for (n, s) in &growth {
        g.push_str(&format!("| {n} | {:.2} ms | {:.2} ms |\n", s.median, s.p99));
        tsv.push_str(&format!("{n}\t{:.3}\t{:.3}\n", s.median, s.p99));
    }
    if let Some(dir) = load_dir.as_ref().filter(|_| !growth.is_empty()) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("growth.tsv"), tsv).unwrap();
    }

    println!("| measurement | result |\n| --- | --- |");
    for r in report {
        println!("{r}");
    }
    if !growth.is_empty() {
        println!("{g}");
    }
}

/// Where `generate` puts note number `i` of every vault.
fn note_path(i: usize) -> String {
    format!("{}/note-{i:06}.md", FOLDERS[i % FOLDERS.len()])
}

/// Search through MCP against the bare FTS5 floor, on the whole corpus.
#[allow(clippy::too_many_arguments)]
fn search_part(
    bin: &Path,
    data: &Path,
    client: &Client,
    key: &IdentityKey,
    users: &[String],
    qs: &[String],
    corpus: &Corpus,
    all: &[(String, String)],
    row: &mut impl FnMut(&str, String),
) -> Stats {
    let queries_n = qs.len();
    let (server, startup) = start(bin, data, client);
    row(
        "start-up incl. reconciliation (index up to date)",
        format!("{:.2} s", startup.as_secs_f64()),
    );
    let mcp = measure_mcp_search(client, &server.url, key, users, qs);
    eprintln!("mcp search: median {:.2} ms p99 {:.2} ms", mcp.median, mcp.p99);
    // read_note resolves every wikilink of the note, so it shows how link lookups scale.
    let notes_n = all.len() / users.len().max(1);
    let mut ms = Vec::with_capacity(queries_n);
    for i in 0..queries_n {
        let path = note_path((i * 7919) % notes_n.max(1));
        let t = Instant::now();
        tool(
            client,
            &server.url,
            key,
            &users[i % users.len()],
            "read_note",
            json!({"path": path}),
        );
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let read = stats(ms);
    eprintln!("mcp read_note: median {:.2} ms p99 {:.2} ms", read.median, read.p99);
    row(
        &format!("`read_note` via MCP HTTP ({queries_n} notes, links resolved)"),
        read.to_string(),
    );

    // A note at the per-note cap of wikilinks (1000, half of them resolving): a read resolves all.
    let body: String = (0..1000)
        .map(|i| match i % 2 {
            0 => format!("[[note-{:06}]] ", (i * 7) % notes_n.max(1)),
            _ => format!("[[missing {i}]] "),
        })
        .collect();
    tool(
        client,
        &server.url,
        key,
        &users[0],
        "write_note",
        json!({"path": "links/max.md", "body": body}),
    );
    let mut ms = Vec::with_capacity(200);
    for _ in 0..200 {
        let t = Instant::now();
        tool(
            client,
            &server.url,
            key,
            &users[0],
            "read_note",
            json!({"path": "links/max.md"}),
        );
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    row(
        "`read_note` of a note with 1000 wikilinks (the per-note cap; 500 resolve), 200 reads",
        stats(ms).to_string(),
    );

    let noisy = (users.len() >= 2).then(|| noisy_neighbour(client, &server.url, key, users, qs, corpus));

    // 4. The floor: one bare FTS5 table built from one user's notes (each user's index holds
    // just that user's), same queries, LIMIT 10, bm25, snippet().
    let t = Instant::now();
    let floor = build_floor(&data.join("floor.db"), &all[..notes_n.min(all.len())]);
    let floor_build = t.elapsed();
    for q in qs.iter().take(20) {
        floor_query(&floor, q);
    }
    let floor_stats = |qs: &[String]| {
        let mut fms = Vec::new();
        for q in qs {
            let t = Instant::now();
            floor_query(&floor, q);
            fms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        stats(fms)
    };
    let fl = floor_stats(qs);
    // The worst case: one of the 30 commonest words, which nearly every note contains.
    let common: Vec<String> = (0..100).map(|i| corpus.words[i % 30].clone()).collect();
    let fl_common = floor_stats(&common);
    let mcp_common = measure_mcp_search(client, &server.url, key, users, &common);
    drop(floor);
    let _ = std::fs::remove_file(data.join("floor.db"));
    eprintln!("floor: median {:.2} ms p99 {:.2} ms", fl.median, fl.p99);
    row(
        &format!("`search_notes` via MCP HTTP ({queries_n} queries, limit 10)"),
        mcp.to_string(),
    );
    row(
        &format!("bare in-process FTS5 floor (one table, one user's {notes_n} notes)"),
        format!("{fl} (table built in {:.1} s)", floor_build.as_secs_f64()),
    );
    row("MCP median / floor median", format!("{:.2}×", mcp.median / fl.median));
    row(
        "worst case, one of the 30 commonest words (100 queries): MCP / floor",
        format!(
            "MCP median {:.2} ms, p99 {:.2} ms / floor median {:.2} ms, p99 {:.2} ms",
            mcp_common.median, mcp_common.p99, fl_common.median, fl_common.p99
        ),
    );
    if let Some((quiet, loud, heavy)) = noisy {
        row(
            "noisy neighbour: another user's `search_notes` alone / while one user runs 10× its share of commonest-word searches",
            format!(
                "alone {quiet} / with the neighbour {loud} (p99 {:.2}×; neighbour served {heavy} searches)",
                loud.p99 / quiet.p99
            ),
        );
    }
    mcp
}

/// One user (`users[0]`) floods heavy searches (the commonest words, ten loops at once) while
/// another (`users[1]`) searches one query at a time: that user's latency alone and under the
/// flood, and how many searches the flood got through.
fn noisy_neighbour(
    client: &Client,
    url: &str,
    key: &IdentityKey,
    users: &[String],
    qs: &[String],
    corpus: &Corpus,
) -> (Stats, Stats, usize) {
    let victim = [users[1].clone()];
    let quiet = measure_mcp_search(client, url, key, &victim, qs);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let served = std::sync::atomic::AtomicUsize::new(0);
    let loud = std::thread::scope(|s| {
        for t in 0..10 {
            let (stop, served) = (&stop, &served);
            s.spawn(move || {
                let mut i = t;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let q = corpus.words[i % 30].clone();
                    let args = json!({"query": q, "limit": 100});
                    let v = call(client, url, key, &users[0], "search_notes", args);
                    if v["result"]["isError"] != json!(true) {
                        served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    i += 7;
                }
            });
        }
        let loud = measure_mcp_search(client, url, key, &victim, qs);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        loud
    });
    eprintln!(
        "noisy neighbour: victim p99 alone {:.2} ms, under flood {:.2} ms",
        quiet.p99, loud.p99
    );
    (quiet, loud, served.into_inner())
}

/// `write_note` throughput with fsync, against the disk's own floor.
#[allow(clippy::too_many_arguments)]
fn writes_part(
    bin: &Path,
    data: &Path,
    client: &Client,
    key: &IdentityKey,
    corpus: &Corpus,
    seed: u64,
    writes_n: usize,
    row: &mut impl FnMut(&str, String),
) {
    let (server, _) = start(bin, data, client);

    // 5. write_note throughput (fsync on every write) with 1, 4 and 16 concurrent clients, each
    // client its own user (one user's writes are serialized by design).
    // The disk's own floor: temp file, fsync, rename, fsync directory, one at a time.
    let raw_dir = data.join("rawfsync");
    std::fs::create_dir_all(&raw_dir).unwrap();
    let t = Instant::now();
    for i in 0..200 {
        use std::io::Write;
        let tmp = raw_dir.join(".tmp");
        let mut f = std::fs::File::create(&tmp).unwrap();
        f.write_all(&[b'x'; 2048]).unwrap();
        f.sync_all().unwrap();
        std::fs::rename(&tmp, raw_dir.join(format!("{}.md", i % 20))).unwrap();
        std::fs::File::open(&raw_dir).unwrap().sync_all().unwrap();
    }
    let raw = 200.0 / t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&raw_dir);
    row(
        "disk floor: bare atomic write (fsync file, rename, fsync dir), 1 at a time",
        format!("{raw:.0} writes/s"),
    );
    let mut rng = StdRng::seed_from_u64(seed ^ 0x77);
    let bodies: Vec<String> = (0..64)
        .map(|i| corpus.note(&mut rng, &format!("Bench {i}"), &[]))
        .collect();
    for clients in [1usize, 4, 16] {
        let per = (writes_n / clients).max(1);
        let t = Instant::now();
        std::thread::scope(|s| {
            for k in 0..clients {
                let (url, bodies) = (&server.url, &bodies);
                s.spawn(move || {
                    let user = format!("writer{clients}x{k}");
                    for i in 0..per {
                        tool(
                            client,
                            url,
                            key,
                            &user,
                            "write_note",
                            json!({"path": format!("w/{i}.md"), "body": bodies[i % bodies.len()]}),
                        );
                    }
                });
            }
        });
        let rate = (per * clients) as f64 / t.elapsed().as_secs_f64();
        eprintln!("write_note {clients} clients: {rate:.0}/s");
        row(
            &format!(
                "`write_note` via MCP, fsync on, {clients} concurrent client(s) ({} writes)",
                per * clients
            ),
            format!("{rate:.0} writes/s"),
        );
    }
    drop(server);
}

/// Search latency by vault size (one user each, same generator, same queries).
#[allow(clippy::too_many_arguments)]
fn growth_part(
    bin: &Path,
    data: &Path,
    client: &Client,
    key: &IdentityKey,
    corpus: &Corpus,
    seed: u64,
    scale: &[usize],
    qs: &[String],
    growth: &mut Vec<(usize, Stats)>,
    row: &mut impl FnMut(&str, String),
) {
    for (k, &n) in scale.iter().enumerate() {
        let user = format!("scale{n}");
        let t = Instant::now();
        generate(&data.join("vaults"), &user, n, seed + 1000 + k as u64, corpus);
        let gen_t = t.elapsed();
        let t = Instant::now();
        let ok = backend(bin, data)
            .args(["reindex", "--user", &user])
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success());
        let ri = t.elapsed();
        eprintln!("scale {n}: generated in {gen_t:.1?}, reindexed in {ri:.1?}");
        let (server, _) = start(bin, data, client);
        let s = measure_mcp_search(client, &server.url, key, std::slice::from_ref(&user), qs);
        drop(server);
        row(
            &format!("reindex of one user with {n} notes (`reindex --user`)"),
            format!("{:.2} s", ri.as_secs_f64()),
        );
        growth.push((n, s));
    }
}
