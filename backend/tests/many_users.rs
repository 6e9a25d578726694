//! Many users, bounded resources: 2,000 users with a few notes each, searched round-robin; the
//! backend keeps at most INDEX_OPEN_MAX per-user databases open, so its open-file count stays
//! under a budget derived from that cap, however many users it has served.

use vaultgate_tests::Backend;

const USERS: usize = 2000;
const OPEN_MAX: usize = 16;
/// Descriptors one open per-user database may hold: a writer and an idle reader (the database
/// and its WAL each) plus the shared-memory file.
const PER_DATABASE: usize = 5;
/// Everything else: stdio, listeners, the tokio driver, a few client connections, plus the
/// databases of requests still in flight when their entry was evicted.
const BASE: usize = 64;

#[test]
fn open_files_stay_under_the_cap_with_thousands_of_users() {
    if !std::path::Path::new("/proc/self/fd").is_dir() {
        assert!(std::env::var_os("CI").is_none(), "/proc is needed to count descriptors");
        eprintln!("skipped: no /proc to count open files");
        return;
    }
    let open_max = OPEN_MAX.to_string();
    let b = Backend::start_seeded(&[("INDEX_OPEN_MAX", &open_max)], |vaults| {
        for u in 0..USERS {
            let dir = vaults.join(format!("user{u}"));
            std::fs::create_dir_all(&dir).unwrap();
            for n in 0..3 {
                std::fs::write(
                    dir.join(format!("n{n}.md")),
                    format!("# Note {n}\nshared words and marker{u}x{n} for user {u}"),
                )
                .unwrap();
            }
        }
    });
    let budget = OPEN_MAX * PER_DATABASE + BASE;
    let mut most = b.open_files();
    for u in 0..USERS {
        let user = format!("user{u}");
        let (status, _, v) = b.rest(&user, "GET", &format!("/api/search?q=marker{u}x1"), None);
        assert_eq!(status, 200, "{v}");
        let hits = v["results"].as_array().unwrap();
        assert_eq!(hits.len(), 1, "{user}: {v}");
        assert_eq!(hits[0]["path"], "n1.md");
        if u % 50 == 0 {
            most = most.max(b.open_files());
        }
    }
    most = most.max(b.open_files());
    assert!(
        most <= budget,
        "the backend held {most} descriptors; the budget for INDEX_OPEN_MAX={OPEN_MAX} is {budget}"
    );
    // Every user has their own database file.
    let files = std::fs::read_dir(b.data.join("index.d")).unwrap().count();
    assert!(files >= USERS, "{files} files in the index directory");
}
