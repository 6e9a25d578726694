//! Front matter and wikilink parsing (`backend/src/notes/`): any text a user writes must parse
//! without panicking, the split must be a faithful cut of the text, rewriting the front matter
//! must give text that splits back into that front matter and the same body, and the per-note
//! caps hold whether the text is written (refused past a cap) or read (cut at the cap).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaultgate_backend::notes::{self, frontmatter, limits};
use vaultgate_backend::vault::paths::NotePath;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let split = frontmatter::split(text);
    assert!(text.ends_with(split.body));
    if let Some(yaml) = split.yaml {
        assert!(text.contains(yaml));
        let meta = frontmatter::metadata(Some(yaml));
        let (tags, _) = frontmatter::tags(&meta);
        assert!(tags.len() <= limits::MAX_TAGS);
        if frontmatter::is_valid(yaml) {
            let updated = frontmatter::update(yaml, &[("title".to_owned(), serde_json::json!("Fuzz"))], &["tags"]);
            let joined = frontmatter::join(Some(&updated), split.body);
            let again = frontmatter::split(&joined);
            assert_eq!(again.body, split.body, "body changed by a front matter update");
        }
    }
    let path = NotePath::parse("fuzz/note.md").expect("valid path");
    let parsed = notes::parse(&path, text);
    assert!(parsed.links.len() <= limits::MAX_LINKS && parsed.tags.len() <= limits::MAX_TAGS);
    // What a write accepts, a read gives back the same way.
    if let Ok(checked) = notes::parse_checked(&path, text) {
        assert_eq!(checked, parsed);
    }
    for link in &parsed.links {
        assert!(
            !link.is_empty() && !link.contains('\n') && !link.contains("]]"),
            "{link:?}"
        );
        let _ = notes::link_key(link);
    }
    for link in notes::wikilinks(text) {
        assert!(!link.trim().is_empty());
    }
});
