//! What one note may contain, and the typed refusal when it contains more.
//!
//! Every limit here keeps a hostile note's cost linear in its size: the front matter is capped
//! before YAML sees it, YAML anchors and aliases (which expand kilobytes into gigabytes) are
//! refused rather than expanded, nesting is bounded so no parser recurses deeply, and the
//! counts of links, tags and keys are capped so the index rows a note makes stay small.

/// Largest front matter (the YAML between the fences), in bytes.
pub const MAX_FRONT_MATTER_BYTES: usize = 64 * 1024;
/// Deepest nesting of lists and mappings in the front matter.
pub const MAX_YAML_DEPTH: usize = 32;
/// Most mapping keys in the front matter, counted at every depth.
pub const MAX_KEYS: usize = 200;
/// Most distinct tags on one note.
pub const MAX_TAGS: usize = 100;
/// Most distinct wikilink targets in one note.
pub const MAX_LINKS: usize = 1000;

/// Why a note's text was refused. `reason()` is the metric label; `Display` is for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("the front matter is {size} bytes; the limit is {MAX_FRONT_MATTER_BYTES} bytes")]
    FrontMatterTooLarge { size: usize },
    #[error("the front matter uses a YAML anchor (&name); anchors, aliases and merge keys are not accepted")]
    YamlAnchor,
    #[error("the front matter uses a YAML alias (*name); anchors, aliases and merge keys are not accepted")]
    YamlAlias,
    #[error("the front matter uses a YAML merge key (<<); anchors, aliases and merge keys are not accepted")]
    YamlMergeKey,
    #[error("the front matter nests lists or mappings more than {MAX_YAML_DEPTH} deep")]
    YamlTooDeep,
    #[error("the front matter has more than {MAX_KEYS} keys (counted at every depth)")]
    TooManyKeys,
    #[error("the note has more than {MAX_TAGS} tags")]
    TooManyTags,
    #[error("the note has more than {MAX_LINKS} distinct wikilinks")]
    TooManyLinks,
}

/// Every `NoteError::reason()` value (for pre-registering the metric's series).
pub const NOTE_REJECTION_REASONS: [&str; 8] = [
    "front_matter_too_large",
    "yaml_anchor",
    "yaml_alias",
    "yaml_merge_key",
    "yaml_too_deep",
    "too_many_keys",
    "too_many_tags",
    "too_many_links",
];

impl NoteError {
    /// Low-cardinality label for `vaultgate_backend_rejected_notes_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            NoteError::FrontMatterTooLarge { .. } => "front_matter_too_large",
            NoteError::YamlAnchor => "yaml_anchor",
            NoteError::YamlAlias => "yaml_alias",
            NoteError::YamlMergeKey => "yaml_merge_key",
            NoteError::YamlTooDeep => "yaml_too_deep",
            NoteError::TooManyKeys => "too_many_keys",
            NoteError::TooManyTags => "too_many_tags",
            NoteError::TooManyLinks => "too_many_links",
        }
    }

    /// True for refusals of size (HTTP 413) rather than of shape (HTTP 400).
    pub fn is_size(&self) -> bool {
        matches!(self, NoteError::FrontMatterTooLarge { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_listed() {
        let all = [
            NoteError::FrontMatterTooLarge { size: 1 },
            NoteError::YamlAnchor,
            NoteError::YamlAlias,
            NoteError::YamlMergeKey,
            NoteError::YamlTooDeep,
            NoteError::TooManyKeys,
            NoteError::TooManyTags,
            NoteError::TooManyLinks,
        ];
        let reasons: Vec<&str> = all.iter().map(NoteError::reason).collect();
        assert_eq!(reasons, NOTE_REJECTION_REASONS);
    }
}
