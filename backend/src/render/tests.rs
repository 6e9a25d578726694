use std::collections::HashMap;

use super::*;

fn html(md: &str) -> String {
    html_with(md, &[])
}

fn html_with(md: &str, notes: &[(&str, &str)]) -> String {
    let map: HashMap<String, String> = notes.iter().map(|(k, p)| (k.to_string(), p.to_string())).collect();
    render::<()>(md, Some("dir/current.md"), |_| Ok(map)).unwrap().unwrap()
}

/// Nothing that runs script, loads a frame or styles the page survives, whatever the Markdown
/// or raw HTML says; what Markdown means is kept.
#[test]
fn hostile_markdown_table() {
    let cases: &[(&str, &[&str], &[&str])] = &[
        // (markdown, must contain, must not contain — checked case-insensitively)
        ("<script>alert(1)</script>hi", &["hi"], &["<script", "alert(1)"]),
        ("<SCRIPT SRC=//x.example/a.js></SCRIPT>", &[], &["<script", "x.example"]),
        ("<iframe src=\"https://x.example\"></iframe>", &[], &["<iframe"]),
        (
            "<style>body{display:none}</style>text",
            &["text"],
            &["<style", "display"],
        ),
        ("<img src=x onerror=alert(1)>", &[], &["onerror", "alert"]),
        ("<a href=\"#\" onclick=\"alert(1)\">x</a>", &[">x</a>"], &["onclick"]),
        (
            "<div onmouseover='x()' style='position:fixed'>d</div>",
            &["<div>d</div>"],
            &["onmouseover", "style"],
        ),
        ("[click](javascript:alert(1))", &["click"], &["javascript:"]),
        ("[click](JaVaScRiPt:alert(1))", &["click"], &["javascript:"]),
        ("[click](java\tscript:alert(1))", &["click"], &["href"]),
        ("<a href=\"&#106;avascript:alert(1)\">x</a>", &["x"], &["avascript"]),
        ("![img](data:image/svg+xml;base64,PHN2Zz4=)", &[], &["data:"]),
        (
            "<a href=\"data:text/html,<script>alert(1)</script>\">x</a>",
            &[],
            &["data:", "<script"],
        ),
        (
            "<object data=x></object><embed src=x><form action=x><input type=text name=q></form>",
            &[],
            &["<object", "<embed", "<form", "type=\"text\"", "name="],
        ),
        ("<svg><script>alert(1)</script></svg>", &[], &["<svg", "<script"]),
        (
            "<math><mi xlink:href=\"javascript:alert(1)\">x</mi></math>",
            &[],
            &["<math", "javascript"],
        ),
        (
            "<meta http-equiv=refresh content=0;url=x><link rel=stylesheet href=x><base href=x>",
            &[],
            &["<meta", "<link", "<base"],
        ),
        ("<!-- comment --> after", &["after"], &["comment"]),
        ("<h1 id=\"app\">x</h1>", &["id=\"h-app\""], &["id=\"app\""]),
        ("<p class=\"evil\">x</p>", &["<p>x</p>"], &["evil"]),
        (
            "[ok](https://x.example/a?b=c)",
            &["href=\"https://x.example/a?b=c\"", "rel=\"noopener noreferrer\""],
            &[],
        ),
        (
            "<https://x.example>",
            &["href=\"https://x.example\"", "noopener noreferrer"],
            &[],
        ),
        ("[mail](mailto:a@x.example)", &["href=\"mailto:a@x.example\""], &[]),
        ("[ftp](ftp://x.example/f)", &["ftp"], &["ftp://"]),
        (
            "- [x] done\n- [ ] todo",
            &["type=\"checkbox\"", "disabled", "checked"],
            &[],
        ),
        (
            "<input type=\"text\" value=\"x\" onfocus=\"a()\" autofocus>",
            &["type=\"checkbox\""],
            &["type=\"text\"", "onfocus", "autofocus", "value="],
        ),
    ];
    for (md, yes, no) in cases {
        let out = html(md);
        let lower = out.to_lowercase();
        for y in *yes {
            assert!(out.contains(y), "{md:?} → {out} should contain {y}");
        }
        for n in *no {
            assert!(
                !lower.contains(&n.to_lowercase()),
                "{md:?} → {out} must not contain {n}"
            );
        }
    }
}

#[test]
fn markdown_features() {
    let out = html("# Title\n\n## Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n~~gone~~ text[^1]\n\n[^1]: the note\n");
    for want in [
        "<h1 id=\"h-title\">Title</h1>",
        "<h2 id=\"h-title-1\">Title</h2>",
        "<table>",
        "<td>1</td>",
        "<del>gone</del>",
        "footnote-reference",
        "footnote-definition",
    ] {
        assert!(out.contains(want), "{want} not in {out}");
    }
    // A footnote's link points at its (prefixed) definition.
    let href = out
        .split("href=\"#")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert!(href.starts_with(ID_PREFIX), "{out}");
    assert!(out.contains(&format!("id=\"{href}\"")), "{href} has no target in {out}");
}

#[test]
fn front_matter_is_not_rendered() {
    let body = body_of("---\ntitle: Secret title\ntags: [x]\n---\n# Shown\n");
    let out = html(body);
    assert!(!out.contains("Secret title") && out.contains("Shown"), "{out}");
    assert_eq!(body_of("no front matter"), "no front matter");
}

#[test]
fn wikilinks_resolve_or_are_marked_unresolved() {
    let out = html_with(
        "[[Target]] [[Target|the label]] [[Target#Some Heading]] [[Missing Note]] [[#Local]] ![[pic.png]] [[bad:name]]",
        &[("target", "notes/target file.md")],
    );
    assert!(
        out.contains(
            "<a class=\"wikilink\" href=\"#note=notes/target%20file.md\" data-note=\"notes/target file.md\" rel=\"noopener noreferrer\">Target</a>"
        ),
        "{out}"
    );
    assert!(out.contains(">the label</a>"), "{out}");
    assert!(out.contains("data-heading=\"h-some-heading\""), "{out}");
    assert!(
        out.contains("class=\"wikilink unresolved\" href=\"#note=Missing%20Note.md\" data-note=\"Missing Note.md\""),
        "{out}"
    );
    assert!(
        out.contains("data-note=\"dir/current.md\" data-heading=\"h-local\""),
        "{out}"
    );
    assert!(out.contains(">pic.png</a>"), "{out}");
    // An unresolved target that is no valid path gets no link at all.
    assert!(
        out.contains("<a class=\"wikilink unresolved\" rel=\"noopener noreferrer\">bad:name</a>"),
        "{out}"
    );
}

#[test]
fn link_keys_are_the_backends_keys() {
    let p = parse("[[A/B.md]] [[ x |y]] [[x]] [[Z#h]] `[[in code]]`").unwrap();
    assert_eq!(p.link_keys(), ["a/b", "x", "z"]);
}

#[test]
fn hostile_wikilink_targets_are_escaped() {
    let out = html_with(
        "[[\"><script>alert(1)</script>]] [[x\" onmouseover=\"a()|y]]",
        &[("x\" onmouseover=\"a()", "x.md")],
    );
    assert!(!out.to_lowercase().contains("<script"), "{out}");
    assert!(!out.contains(" onmouseover="), "{out}");
}

#[test]
fn cost_caps() {
    assert!(matches!(
        parse(&"a".repeat(MAX_RENDER_BYTES + 1)),
        Err(RenderRefusal::TooLarge)
    ));
    assert!(parse(&"a".repeat(MAX_RENDER_BYTES)).is_ok());
    // Deep nesting of every kind is refused, never recursed into.
    for deep in [
        ">".repeat(100_000),
        "- ".repeat(50_000),
        "*a ".repeat(30_000),
        "[".repeat(100_000),
        "  ".repeat(20_000) + "- x",
    ] {
        let deep = &deep[..deep.len().min(MAX_RENDER_BYTES)];
        match parse(deep) {
            Err(RenderRefusal::TooComplex) => {}
            Ok(p) => {
                // Accepted input is rendered within the caps.
                let _ = p.to_html(&HashMap::new(), None);
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(matches!(parse(&">".repeat(1000)), Err(RenderRefusal::TooComplex)));
    // A wide header with many short rows: the padding cells count, and the render stops.
    let wide = format!(
        "{}|\n{}|\n{}",
        "|a".repeat(4000),
        "|-".repeat(4000),
        "|x\n".repeat(30_000)
    );
    assert!(wide.len() <= MAX_RENDER_BYTES);
    assert!(matches!(parse(&wide), Err(RenderRefusal::TooComplex)));
    // Raw HTML past MAX_RAW_TAGS is shown as text; below it, deep, unclosed and misnested tags
    // render and end.
    let out = html(&"<div>".repeat(20_000));
    assert!(out.starts_with("&lt;div&gt;"), "{}", &out[..100]);
    for raw in [
        "<div>".repeat(MAX_RAW_TAGS),
        "<b><i>".repeat(MAX_RAW_TAGS / 2),
        "<table><tr><td>".repeat(MAX_RAW_TAGS / 3),
        "<a href=x>".repeat(MAX_RAW_TAGS),
    ] {
        let out = html(&raw[..raw.len().min(MAX_RENDER_BYTES)]);
        assert!(out.len() < 4 * MAX_RENDER_BYTES + 1024);
    }
    // Many distinct links: at most MAX_LINKS are resolved, the rest show unresolved.
    let many: String = (0..MAX_LINKS + 10).map(|i| format!("[[n{i}]] ")).collect();
    assert_eq!(parse(&many).unwrap().link_keys().len(), MAX_LINKS);
}

#[test]
fn slug_table() {
    for (text, want) in [
        ("Hello, World!", "hello-world"),
        ("  ünïcode 日本 ", "ünïcode-日本"),
        ("***", "section"),
        ("a--b", "a-b"),
    ] {
        assert_eq!(slug(text), want, "{text}");
    }
    assert!(slug(&"x".repeat(1000)).len() <= 80);
}
