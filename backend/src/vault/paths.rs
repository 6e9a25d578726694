//! The one note-path validator every entry point (MCP, REST, reindex) goes through.
//!
//! A [`NotePath`] can only be built by [`NotePath::parse`], so an unchecked path cannot
//! reach the file system or the index. Resolving it inside a user's directory
//! ([`resolve`]) adds the real-path check: symlinks are followed and the result is
//! compared with the user's directory by whole components, never by string prefix.

use std::fmt;
use std::path::{Component, Path, PathBuf};

/// Longest note path, in characters.
pub const MAX_PATH_CHARS: usize = 256;
/// Longest single segment, in bytes (most file systems allow 255).
pub const MAX_SEGMENT_BYTES: usize = 255;
/// Most folders a note may sit in (`a/b/c.md` sits in two). Folders cost inodes and blocks the
/// byte quota does not see, so their depth is capped here and their number by the folder quota.
pub const MAX_FOLDER_DEPTH: usize = 16;

/// Why a path was refused. `reason()` is the metric label; `Display` is for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path is empty")]
    Empty,
    #[error("the path is longer than {MAX_PATH_CHARS} characters")]
    TooLong,
    #[error("the path is more than {MAX_FOLDER_DEPTH} folders deep")]
    TooDeep,
    #[error("a path segment is longer than {MAX_SEGMENT_BYTES} bytes")]
    SegmentTooLong,
    #[error("the path must be relative (no leading '/')")]
    Absolute,
    #[error("the path may not contain '\\'")]
    Backslash,
    #[error("the path may not contain control, invisible or NUL characters")]
    ControlCharacter,
    #[error("the path may not contain any of : * ? \" < > | %")]
    ForbiddenCharacter,
    #[error("the path may not contain empty segments ('//' or a trailing '/')")]
    EmptySegment,
    #[error("the path may not contain '.' or '..' segments")]
    DotSegment,
    #[error("path segments may not start with '.' or end with '.' or a space")]
    HiddenOrTrailingDot,
    #[error("the path uses a name reserved on Windows (CON, NUL, COM1, …)")]
    ReservedName,
    #[error("note paths must end in '.md'")]
    NotMarkdown,
    #[error("the path leaves your vault")]
    Escapes,
}

/// Every `PathError::reason()` value (for pre-registering the metric's series).
pub const REJECTION_REASONS: [&str; 14] = [
    "empty",
    "too_long",
    "too_deep",
    "segment_too_long",
    "absolute",
    "backslash",
    "control_character",
    "forbidden_character",
    "empty_segment",
    "dot_segment",
    "hidden_or_trailing_dot",
    "reserved_name",
    "not_markdown",
    "escapes",
];

impl PathError {
    /// Low-cardinality label for `vaultgate_backend_rejected_paths_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            PathError::Empty => "empty",
            PathError::TooLong => "too_long",
            PathError::TooDeep => "too_deep",
            PathError::SegmentTooLong => "segment_too_long",
            PathError::Absolute => "absolute",
            PathError::Backslash => "backslash",
            PathError::ControlCharacter => "control_character",
            PathError::ForbiddenCharacter => "forbidden_character",
            PathError::EmptySegment => "empty_segment",
            PathError::DotSegment => "dot_segment",
            PathError::HiddenOrTrailingDot => "hidden_or_trailing_dot",
            PathError::ReservedName => "reserved_name",
            PathError::NotMarkdown => "not_markdown",
            PathError::Escapes => "escapes",
        }
    }
}

/// A validated note path: relative, `/`-separated, ending in `.md`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NotePath(String);

/// A validated folder: like a note path's directory part, possibly empty (the vault root).
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct Folder(String);

fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

fn is_reserved(segment: &str) -> bool {
    let stem = segment.split('.').next().unwrap_or("").trim_end().to_uppercase();
    if matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$") {
        return true;
    }
    match stem.get(..3) {
        Some("COM" | "LPT") => matches!(
            &stem[3..],
            "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "¹" | "²" | "³"
        ),
        _ => false,
    }
}

/// Checks every segment of a relative `/`-separated path (no `.md` rule).
fn check_segments(s: &str) -> Result<(), PathError> {
    if s.chars().count() > MAX_PATH_CHARS {
        return Err(PathError::TooLong);
    }
    if s.starts_with('/') {
        return Err(PathError::Absolute);
    }
    if s.contains('\\') {
        return Err(PathError::Backslash);
    }
    if s.chars().any(is_invisible) {
        return Err(PathError::ControlCharacter);
    }
    if s.contains([':', '*', '?', '"', '<', '>', '|', '%']) {
        return Err(PathError::ForbiddenCharacter);
    }
    // A folder filter of depth MAX_FOLDER_DEPTH has that many separators less one, a note path
    // that many: both are refused one folder further down.
    if s.matches('/').count() > MAX_FOLDER_DEPTH {
        return Err(PathError::TooDeep);
    }
    for seg in s.split('/') {
        if seg.is_empty() {
            return Err(PathError::EmptySegment);
        }
        if seg.len() > MAX_SEGMENT_BYTES {
            return Err(PathError::SegmentTooLong);
        }
        if seg == "." || seg == ".." {
            return Err(PathError::DotSegment);
        }
        if seg.starts_with('.') || seg.ends_with('.') || seg.ends_with(' ') || seg.starts_with(' ') {
            return Err(PathError::HiddenOrTrailingDot);
        }
        if is_reserved(seg) {
            return Err(PathError::ReservedName);
        }
    }
    Ok(())
}

impl NotePath {
    /// Validates `s` against the path rules (docs/security.md).
    pub fn parse(s: &str) -> Result<Self, PathError> {
        if s.is_empty() {
            return Err(PathError::Empty);
        }
        check_segments(s)?;
        let last = s.rsplit('/').next().unwrap_or(s);
        if !last.ends_with(".md") || last.len() <= 3 {
            return Err(PathError::NotMarkdown);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The folder part (`""` for the vault root).
    pub fn folder(&self) -> &str {
        self.0.rsplit_once('/').map_or("", |(f, _)| f)
    }

    /// The file name without `.md`.
    pub fn stem(&self) -> &str {
        let name = self.0.rsplit('/').next().unwrap_or(&self.0);
        name.strip_suffix(".md").unwrap_or(name)
    }

    /// The path without `.md`.
    pub fn without_extension(&self) -> &str {
        self.0.strip_suffix(".md").unwrap_or(&self.0)
    }
}

impl fmt::Display for NotePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NotePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NotePath({:?})", self.0)
    }
}

impl Folder {
    /// Validates a folder filter; `""` and `"/"` mean the whole vault; a trailing `/` is allowed.
    pub fn parse(s: &str) -> Result<Self, PathError> {
        let trimmed = s.strip_suffix('/').unwrap_or(s);
        if trimmed.is_empty() {
            return Ok(Self(String::new()));
        }
        check_segments(trimmed)?;
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when `path` lies in this folder or below it.
    pub fn contains(&self, path: &NotePath) -> bool {
        self.0.is_empty()
            || path
                .as_str()
                .strip_prefix(self.0.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
    }
}

/// The file for `path` inside `root` (the user's canonical directory), after checking that
/// every existing ancestor and the file itself resolve inside `root`.
pub fn resolve(root: &Path, path: &NotePath) -> Result<PathBuf, PathError> {
    let candidate = root.join(path.as_str());
    // Belt and braces: the validator already excludes anything but normal components.
    if candidate
        .strip_prefix(root)
        .map_err(|_| PathError::Escapes)?
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(PathError::Escapes);
    }
    // The deepest part of the path that exists must resolve inside root.
    let mut existing = candidate.as_path();
    loop {
        match std::fs::symlink_metadata(existing) {
            Ok(_) => break,
            Err(_) => match existing.parent() {
                Some(p) => existing = p,
                None => return Err(PathError::Escapes),
            },
        }
    }
    let real = std::fs::canonicalize(existing).map_err(|_| PathError::Escapes)?;
    if !real.starts_with(root) {
        return Err(PathError::Escapes);
    }
    if existing == candidate {
        // The note itself exists: it must be a regular file once resolved (not a directory).
        if real.is_dir() {
            return Err(PathError::Escapes);
        }
        return Ok(real_or(candidate, real, root));
    }
    // Nothing further down exists yet; it will be created under `real`.
    Ok(real.join(candidate.strip_prefix(existing).map_err(|_| PathError::Escapes)?))
}

/// For an existing file, operate on the link's own location when it is an in-vault symlink,
/// so a rename or delete acts on the name the user sees.
fn real_or(candidate: PathBuf, real: PathBuf, root: &Path) -> PathBuf {
    match candidate.parent().and_then(|p| std::fs::canonicalize(p).ok()) {
        Some(parent) if parent.starts_with(root) => parent.join(candidate.file_name().unwrap_or_default()),
        _ => real,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_paths() {
        for p in [
            "a.md",
            "notes/today.md",
            "deep/er/still/x.md",
            "Ünïcödé/日本語.md",
            "with space/a b.md",
            "con-tact.md",
            "console.md",
            "x.y.md",
            "com10.md",
            &format!("{}x.md", "d/".repeat(MAX_FOLDER_DEPTH)),
        ] {
            assert!(NotePath::parse(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn depth_is_capped() {
        let deep = format!("{}x.md", "d/".repeat(MAX_FOLDER_DEPTH + 1));
        assert_eq!(NotePath::parse(&deep), Err(PathError::TooDeep));
        assert!(Folder::parse(&"d/".repeat(MAX_FOLDER_DEPTH)).is_ok());
        assert_eq!(
            Folder::parse(&"d/".repeat(MAX_FOLDER_DEPTH + 2)),
            Err(PathError::TooDeep)
        );
    }

    #[test]
    fn parts() {
        let p = NotePath::parse("a/b/c.md").unwrap();
        assert_eq!((p.folder(), p.stem(), p.without_extension()), ("a/b", "c", "a/b/c"));
        let p = NotePath::parse("c.md").unwrap();
        assert_eq!((p.folder(), p.stem()), ("", "c"));
        let f = Folder::parse("a/").unwrap();
        assert!(f.contains(&NotePath::parse("a/x.md").unwrap()));
        assert!(!f.contains(&NotePath::parse("ab/x.md").unwrap()));
        assert!(Folder::parse("../x").is_err());
        assert!(Folder::parse("").unwrap().contains(&p));
    }
}
