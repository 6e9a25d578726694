//! Notes as HTML for the web page: Markdown (CommonMark with GFM tables, task lists,
//! strikethrough and footnotes) rendered by pulldown-cmark, wikilinks turned into in-app links,
//! then everything passed through the [`sanitize`] allow-list, so nothing a note says can run
//! script in the page.
//!
//! Cost is capped before any work: a body over [`MAX_RENDER_BYTES`] is not rendered, and a
//! body whose parse yields more than [`MAX_EVENTS`] events or nests deeper than [`MAX_DEPTH`]
//! (GFM tables pad short rows, so a wide header times many rows is an amplifier) is abandoned
//! mid-parse. Callers then answer without HTML and the page shows plain text.

pub mod plain;
pub mod sanitize;

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use pulldown_cmark::{CowStr, Event, LinkType, Options, Parser, Tag, TagEnd};
use vaultgate_shared::html::escape;

use crate::notes::{self, frontmatter, limits::MAX_LINKS};
use crate::percent;
use crate::vault::NotePath;

/// Largest body rendered, in bytes; larger notes are answered without HTML.
pub const MAX_RENDER_BYTES: usize = 128 * 1024;
/// Most parser events one render may produce (a plain 128 KiB note makes far fewer).
pub const MAX_EVENTS: usize = 200_000;
/// Deepest nesting of blocks and inlines rendered.
pub const MAX_DEPTH: usize = 64;
/// Most tags of raw HTML a note may carry and still have them rendered as HTML; past that its
/// raw HTML is shown as text. The HTML parser under the sanitiser is quadratic in the depth of
/// unclosed elements (`<div>` × 20,000 takes many seconds), and Markdown's own nesting is
/// already capped by [`MAX_DEPTH`].
pub const MAX_RAW_TAGS: usize = 1000;
/// The prefix of every `id` in rendered HTML (headings, footnotes, and any id raw HTML brings),
/// so no note can name an element the page itself relies on.
pub const ID_PREFIX: &str = "h-";

/// Why a text was not rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RenderRefusal {
    #[error("the text is larger than {MAX_RENDER_BYTES} bytes, the most rendered as HTML")]
    TooLarge,
    #[error(
        "the text is too complex to render as HTML (more than {MAX_EVENTS} elements or nesting deeper than {MAX_DEPTH})"
    )]
    TooComplex,
}

impl RenderRefusal {
    /// Low-cardinality label for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            RenderRefusal::TooLarge => "too_large",
            RenderRefusal::TooComplex => "too_complex",
        }
    }
}

/// A body parsed into events, waiting for its wikilinks to be resolved.
#[derive(Debug)]
pub struct Parsed<'a> {
    events: Vec<Event<'a>>,
    keys: Vec<String>,
    /// `<` characters in raw HTML, an upper bound of its tags.
    raw_tags: usize,
}

/// The text that is rendered: `content` without its front matter block, if it has one.
pub fn body_of(content: &str) -> &str {
    let split = frontmatter::split(content);
    if split.yaml.is_some() { split.body } else { content }
}

fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_WIKILINKS
}

/// The target of a wikilink destination (`note#heading` → `note`, `note^block` → `note`).
fn split_target(dest: &str) -> (&str, Option<&str>) {
    match dest.find(['#', '^']) {
        Some(i) => {
            let rest = &dest[i + 1..];
            let heading = (dest.as_bytes()[i] == b'#' && !rest.trim().is_empty()).then_some(rest.trim());
            (dest[..i].trim(), heading)
        }
        None => (dest.trim(), None),
    }
}

/// Parses `body` (already without front matter), refusing what would cost too much.
pub fn parse(body: &str) -> Result<Parsed<'_>, RenderRefusal> {
    if body.len() > MAX_RENDER_BYTES {
        return Err(RenderRefusal::TooLarge);
    }
    let mut events = Vec::new();
    let mut depth = 0usize;
    let mut keys = Vec::new();
    let mut seen = HashSet::new();
    let mut raw_tags = 0usize;
    for event in Parser::new_ext(body, options()) {
        if events.len() >= MAX_EVENTS {
            return Err(RenderRefusal::TooComplex);
        }
        match &event {
            Event::Start(tag) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(RenderRefusal::TooComplex);
                }
                if let Tag::Link {
                    link_type: LinkType::WikiLink { .. },
                    dest_url,
                    ..
                }
                | Tag::Image {
                    link_type: LinkType::WikiLink { .. },
                    dest_url,
                    ..
                } = tag
                {
                    let key = notes::link_key(split_target(dest_url).0);
                    if !key.is_empty() && keys.len() < MAX_LINKS && seen.insert(key.clone()) {
                        keys.push(key);
                    }
                }
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Html(h) | Event::InlineHtml(h) => raw_tags += h.matches('<').count(),
            _ => {}
        }
        events.push(event);
    }
    Ok(Parsed { events, keys, raw_tags })
}

impl<'a> Parsed<'a> {
    /// The distinct wikilink keys (see [`notes::link_key`]) to resolve, at most
    /// [`MAX_LINKS`]; links past that are shown unresolved.
    pub fn link_keys(&self) -> &[String] {
        &self.keys
    }

    /// Renders to sanitised HTML. `resolved` maps link keys to note paths; `current` is the
    /// note's own path (for `[[#heading]]`).
    pub fn to_html(self, resolved: &HashMap<String, String>, current: Option<&str>) -> String {
        let ids = heading_ids(&self.events);
        let mut out: Vec<Event<'a>> = Vec::with_capacity(self.events.len());
        let mut heading = 0usize;
        // What each open link or image became: `true` when it is a wikilink closed by `</a>`.
        let mut wiki_open: Vec<bool> = Vec::new();
        let raw_as_text = self.raw_tags > MAX_RAW_TAGS;
        for event in self.events {
            match event {
                Event::Html(h) | Event::InlineHtml(h) if raw_as_text => out.push(Event::Text(h)),
                Event::Start(Tag::Heading {
                    level, classes, attrs, ..
                }) => {
                    let id = ids.get(heading).cloned();
                    heading += 1;
                    out.push(Event::Start(Tag::Heading {
                        level,
                        id: id.map(CowStr::from),
                        classes,
                        attrs,
                    }));
                }
                Event::Start(Tag::Link {
                    link_type: LinkType::WikiLink { .. },
                    dest_url,
                    ..
                })
                | Event::Start(Tag::Image {
                    link_type: LinkType::WikiLink { .. },
                    dest_url,
                    ..
                }) => {
                    wiki_open.push(true);
                    out.push(Event::Html(wikilink_open(&dest_url, resolved, current).into()));
                }
                Event::Start(tag @ (Tag::Link { .. } | Tag::Image { .. })) => {
                    wiki_open.push(false);
                    out.push(Event::Start(tag));
                }
                Event::End(end @ (TagEnd::Link | TagEnd::Image)) => {
                    if wiki_open.pop().unwrap_or(false) {
                        out.push(Event::Html("</a>".into()));
                    } else {
                        out.push(Event::End(end));
                    }
                }
                e => out.push(e),
            }
        }
        let mut html = String::with_capacity(out.len() * 8);
        pulldown_cmark::html::push_html(&mut html, out.into_iter());
        sanitize::clean(&html)
    }
}

/// The opening `<a>` of a wikilink: an in-app link to the resolved note, or an unresolved one.
fn wikilink_open(dest: &str, resolved: &HashMap<String, String>, current: Option<&str>) -> String {
    let (target, heading) = split_target(dest);
    let path = if target.is_empty() {
        current.map(str::to_owned)
    } else {
        resolved.get(&notes::link_key(target)).cloned()
    };
    let mut tag = String::from("<a class=\"wikilink");
    // Unresolved: the path a new note of that name would take at the vault root, when valid.
    let (path, resolved) = match path {
        Some(p) => (Some(p), true),
        None => (new_note_path(target), false),
    };
    if !resolved {
        tag.push_str(" unresolved");
    }
    tag.push('"');
    if let Some(p) = &path {
        let _ = write!(
            tag,
            " href=\"#note={}\" data-note=\"{}\"",
            escape(&percent::encode_path(p)),
            escape(p)
        );
    }
    if let Some(h) = heading {
        let _ = write!(tag, " data-heading=\"{ID_PREFIX}{}\"", escape(&slug(h)));
    }
    tag.push('>');
    tag
}

/// The path `[[target]]` would create: the target with `.md`, if that is a valid note path.
fn new_note_path(target: &str) -> Option<String> {
    if target.is_empty() {
        return None;
    }
    let t = target.trim_start_matches('/');
    let path = if t.to_lowercase().ends_with(".md") {
        t.to_owned()
    } else {
        format!("{t}.md")
    };
    NotePath::parse(&path).ok().map(|p| p.to_string())
}

/// `id`s for the headings of `events`, in order: [`ID_PREFIX`] + a slug of the heading's text,
/// with `-1`, `-2`… added to repeats.
fn heading_ids(events: &[Event<'_>]) -> Vec<String> {
    let mut ids = Vec::new();
    let mut used: HashMap<String, usize> = HashMap::new();
    let mut text: Option<String> = None;
    for e in events {
        match e {
            Event::Start(Tag::Heading { .. }) => text = Some(String::new()),
            Event::End(TagEnd::Heading(_)) => {
                let base = slug(&text.take().unwrap_or_default());
                let n = used.entry(base.clone()).or_insert(0);
                let id = if *n == 0 { base.clone() } else { format!("{base}-{n}") };
                *n += 1;
                ids.push(format!("{ID_PREFIX}{id}"));
            }
            Event::Text(t) | Event::Code(t) if text.is_some() => {
                if let Some(s) = text.as_mut() {
                    s.push_str(t);
                }
            }
            _ => {}
        }
    }
    ids
}

/// A heading's anchor: lowercase letters and digits, other runs become one `-`.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in text.trim().chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() || c == '_' {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c);
        } else {
            dash = true;
        }
        if out.len() >= 80 {
            break;
        }
    }
    if out.is_empty() { "section".to_owned() } else { out }
}

/// Renders `body` with `resolve` answering which note each wikilink key names (called once,
/// with every key).
pub fn render<E>(
    body: &str,
    current: Option<&str>,
    resolve: impl FnOnce(&[String]) -> Result<HashMap<String, String>, E>,
) -> Result<Result<String, RenderRefusal>, E> {
    let parsed = match parse(body) {
        Ok(p) => p,
        Err(r) => return Ok(Err(r)),
    };
    let resolved = if parsed.link_keys().is_empty() {
        HashMap::new()
    } else {
        resolve(parsed.link_keys())?
    };
    Ok(Ok(parsed.to_html(&resolved, current)))
}

#[cfg(test)]
mod tests;
