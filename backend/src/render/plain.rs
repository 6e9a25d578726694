//! Markdown to plain text for search snippets: syntax marks dropped, link texts kept, runs of
//! white space made one space. A snippet is a window cut anywhere in a note, so this works
//! line by line and character by character and never needs a whole document; it is linear in
//! the text. Characters below U+0020 other than white space (the search's highlight sentinels)
//! pass through untouched.

/// `text` without Markdown syntax.
pub fn strip(text: &str) -> String {
    let mut lines = String::with_capacity(text.len());
    for line in text.split('\n') {
        let l = strip_line_start(line);
        if is_rule(l) {
            lines.push(' ');
            continue;
        }
        lines.push_str(l);
        lines.push(' ');
    }
    collapse(&strip_inline(&lines))
}

/// A line's block markers: headings, quotes, list bullets, task boxes.
fn strip_line_start(line: &str) -> &str {
    let mut l = line.trim_start();
    loop {
        let before = l;
        if let Some(rest) = l.strip_prefix('>') {
            l = rest.trim_start();
        }
        let hashes = l.bytes().take_while(|&b| b == b'#').count();
        if (1..=6).contains(&hashes) && l[hashes..].starts_with([' ', '\t']) {
            l = l[hashes..].trim_start();
        }
        for bullet in ["- ", "* ", "+ "] {
            if let Some(rest) = l.strip_prefix(bullet) {
                l = rest.trim_start();
            }
        }
        let digits = l.bytes().take_while(u8::is_ascii_digit).count();
        if (1..=9).contains(&digits) && (l[digits..].starts_with(". ") || l[digits..].starts_with(") ")) {
            l = l[digits + 2..].trim_start();
        }
        for task in ["[ ] ", "[x] ", "[X] "] {
            if let Some(rest) = l.strip_prefix(task) {
                l = rest.trim_start();
            }
        }
        if l == before {
            return l;
        }
    }
}

/// A thematic break, a table's delimiter row or a code fence.
fn is_rule(l: &str) -> bool {
    let t = l.trim();
    if t.starts_with("```") || t.starts_with("~~~") {
        return true;
    }
    t.len() >= 3
        && t.chars()
            .all(|c| matches!(c, '-' | '*' | '_' | '=' | '|' | ':' | ' ' | '\t'))
}

/// Inline syntax: links keep their text, images their alt text, wikilinks their label; emphasis,
/// code and strikethrough marks, table pipes and HTML tags go.
fn strip_inline(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '!' if next == Some('[') => i += 1,
            '[' if next == Some('[') => {
                // [[target|label]] → label, [[target#h]] → target#h; unclosed: the rest as text.
                if let Some(end) = find(&chars, i + 2, &[']', ']']) {
                    let inner: String = chars[i + 2..end].iter().collect();
                    let shown = inner.rsplit_once('|').map_or(inner.as_str(), |(_, l)| l);
                    out.push_str(shown);
                    i = end + 2;
                } else {
                    i += 2;
                }
            }
            ']' if next == Some('(') => {
                // The end of a link's text: skip the `(url)`.
                match chars[i + 2..].iter().take(WINDOW).position(|&c| c == ')' || c == ' ') {
                    Some(p) if chars[i + 2 + p] == ')' => i += 3 + p,
                    _ => i += 1,
                }
            }
            '[' | ']' | '*' | '`' | '|' => {
                out.push(' ');
                i += 1;
            }
            '~' if next == Some('~') => i += 2,
            '_' => {
                // `snake_case` keeps its underscore; `_emphasis_` and `__strong__` lose theirs.
                let prev_word = i > 0 && chars[i - 1].is_alphanumeric();
                let next_word = next.is_some_and(char::is_alphanumeric);
                if prev_word && next_word {
                    out.push('_');
                }
                i += 1;
            }
            '<' if next.is_some_and(|n| n.is_ascii_alphabetic() || n == '/' || n == '!') => {
                match chars[i + 1..].iter().position(|&c| c == '>' || c == '<') {
                    Some(p) if chars[i + 1 + p] == '>' => {
                        out.push(' ');
                        i += 2 + p;
                    }
                    _ => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// How far a closing mark is looked for: keeps hostile text linear (a real link's closing
/// mark is near; a snippet is short anyway).
const WINDOW: usize = 512;

/// The index of the first occurrence of `pat` in `chars` from `from`, within [`WINDOW`].
fn find(chars: &[char], from: usize, pat: &[char]) -> Option<usize> {
    let end = chars.len().min(from.saturating_add(WINDOW));
    if from > end {
        return None;
    }
    chars[from..end]
        .windows(pat.len())
        .position(|w| w == pat)
        .map(|p| p + from)
}

/// Runs of white space as one space, trimmed.
fn collapse(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::strip;

    #[test]
    fn markdown_table() {
        let cases = [
            ("# Heading\nbody", "Heading body"),
            ("## Sub heading ##", "Sub heading ##"),
            ("> quoted **bold** and *em*", "quoted bold and em"),
            ("- [ ] task\n- [x] done", "task done"),
            ("1. first\n2) second", "first second"),
            ("see [the docs](https://x.example/a_b) now", "see the docs now"),
            ("![alt text](img.png) after", "alt text after"),
            (
                "[[Target|label]] and [[Other]] and [[x#Head]]",
                "label and Other and x#Head",
            ),
            ("![[embed.png]]", "embed.png"),
            ("`code` and ~~gone~~ marks", "code and gone marks"),
            (
                "snake_case stays, _em_ goes, __strong__ too",
                "snake_case stays, em goes, strong too",
            ),
            ("| a | b |\n|---|:-:|\n| 1 | 2 |", "a b 1 2"),
            ("text<br>more <span class=x>in</span>", "text more in"),
            ("a < b and 3 > 2", "a < b and 3 > 2"),
            ("```rust\nlet x = 1;\n```", "let x = 1;"),
            ("---\n\n***", ""),
            ("unclosed [[link and [text", "unclosed link and text"),
            ("\u{1}hit\u{2} **\u{1}bold\u{2}**", "\u{1}hit\u{2} \u{1}bold\u{2}"),
            ("…tail of a [link](http://x", "…tail of a link(http://x"),
        ];
        for (md, want) in cases {
            assert_eq!(strip(md), want, "{md:?}");
        }
    }

    #[test]
    fn long_hostile_inputs_are_linear() {
        // No quadratic rescans: these finish at once even when large.
        for s in [
            "[[".repeat(50_000),
            "<a".repeat(50_000),
            "](".repeat(50_000),
            "#".repeat(100_000),
        ] {
            let _ = strip(&s);
        }
    }
}
