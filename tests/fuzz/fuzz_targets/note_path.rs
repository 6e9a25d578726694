//! The note path validator (`backend/src/vault/paths.rs`): whatever it accepts must be a
//! relative, '/'-separated path of plain segments ending in `.md`, and resolving it under a
//! vault root must stay under that root.
#![no_main]

use std::path::{Component, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vaultgate_backend::vault::paths::{Folder, NotePath, resolve};

fn root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("vaultgate-fuzz-root-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).expect("fuzz root");
        std::fs::canonicalize(&dir).expect("canonical fuzz root")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(p) = NotePath::parse(s) {
        let text = p.as_str();
        assert_eq!(text, s);
        assert!(
            !text.starts_with('/') && text.ends_with(".md") && text.len() > 3,
            "{text:?}"
        );
        assert!(!text.contains('\\') && !text.contains('\0'), "{text:?}");
        for seg in text.split('/') {
            assert!(
                !seg.is_empty() && seg != "." && seg != ".." && !seg.starts_with('.'),
                "{text:?}"
            );
        }
        let _ = (p.folder(), p.stem(), p.without_extension());
        if let Ok(resolved) = resolve(root(), &p) {
            let rest = resolved
                .strip_prefix(root())
                .expect("resolved path left the vault root");
            assert!(
                rest.components().all(|c| matches!(c, Component::Normal(_))),
                "{resolved:?}"
            );
        }
        if !p.folder().is_empty() {
            let f = Folder::parse(p.folder()).expect("a note's own folder must be a valid folder");
            assert!(f.contains(&p));
        }
    }
    if let Ok(f) = Folder::parse(s) {
        let folder = f.as_str();
        assert!(
            !folder.starts_with('/') && !folder.ends_with('/') && !folder.contains('\\'),
            "{folder:?}"
        );
        assert!(
            folder
                .split('/')
                .all(|seg| folder.is_empty() || (seg != ".." && seg != ".")),
            "{folder:?}"
        );
    }
});
