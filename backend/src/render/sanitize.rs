//! The allow-list every rendered note passes through (ammonia): only the elements Markdown
//! produces plus a few harmless inline ones; no script, style, iframe, form, object or embed;
//! no `on*`, `style` or unknown attributes; URLs only `http`, `https`, `mailto` or relative (a
//! `javascript:` or `data:` URL is dropped with its attribute); every link gets
//! `rel="noopener noreferrer"`; every `id` is prefixed with [`super::ID_PREFIX`].

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use super::ID_PREFIX;

/// The policy, built once.
fn builder() -> &'static ammonia::Builder<'static> {
    static BUILDER: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    BUILDER.get_or_init(|| {
        let mut b = ammonia::Builder::default();
        b.rm_tags(["area", "map"])
            .add_tags(["input"])
            .url_schemes(HashSet::from(["http", "https", "mailto"]))
            .link_rel(Some("noopener noreferrer"))
            .id_prefix(Some(ID_PREFIX))
            .strip_comments(true)
            .add_tag_attributes("a", ["data-note", "data-heading"])
            .add_tag_attributes("h1", ["id"])
            .add_tag_attributes("h2", ["id"])
            .add_tag_attributes("h3", ["id"])
            .add_tag_attributes("h4", ["id"])
            .add_tag_attributes("h5", ["id"])
            .add_tag_attributes("h6", ["id"])
            .add_tag_attributes("div", ["id"])
            .add_tag_attributes("li", ["id"])
            .add_tag_attributes("input", ["checked"])
            // A task list's box, whatever the note's raw HTML asks: a disabled checkbox.
            .set_tag_attribute_value("input", "type", "checkbox")
            .set_tag_attribute_value("input", "disabled", "")
            .allowed_classes(HashMap::from([
                ("a", HashSet::from(["wikilink", "unresolved", "footnote-backref"])),
                ("div", HashSet::from(["footnote-definition"])),
                (
                    "sup",
                    HashSet::from(["footnote-reference", "footnote-definition-label"]),
                ),
                ("li", HashSet::from(["task-list-item"])),
                ("ul", HashSet::from(["contains-task-list"])),
            ]))
            .attribute_filter(|element, attribute, value| {
                // In-page anchors (footnotes) point at the prefixed ids; `#note=` is the app's own.
                if element == "a"
                    && attribute == "href"
                    && let Some(frag) = value.strip_prefix('#')
                    && !frag.starts_with("note=")
                    && !frag.starts_with(ID_PREFIX)
                {
                    return Some(Cow::Owned(format!("#{ID_PREFIX}{frag}")));
                }
                Some(Cow::Borrowed(value))
            });
        b
    })
}

/// `html` reduced to the allow-list.
pub fn clean(html: &str) -> String {
    builder().clean(html).to_string()
}
