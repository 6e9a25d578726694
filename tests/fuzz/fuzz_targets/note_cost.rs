//! The cost of reading a note is linear in its size: the fuzzer's text is repeated up to about
//! 64 KiB (so a quadratic pattern, like nested brackets or many distinct links, gets big enough
//! to show) and both the strict (write) and the lenient (read) parsers must finish within a
//! fixed time per byte. The budget is generous (sanitizers, a busy machine); a quadratic or
//! exponential pattern misses it by orders of magnitude.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use vaultgate_backend::notes::{self, frontmatter, limits};
use vaultgate_backend::vault::paths::NotePath;

/// Size the input is repeated up to.
const TARGET_BYTES: usize = 64 * 1024;
/// Time allowed per byte, for each parser, plus a fixed allowance.
const PER_BYTE: Duration = Duration::from_micros(2);
const FIXED: Duration = Duration::from_millis(20);

fuzz_target!(|data: &[u8]| {
    let Ok(unit) = std::str::from_utf8(data) else { return };
    if unit.is_empty() {
        return;
    }
    let text = unit.repeat(TARGET_BYTES.div_ceil(unit.len()));
    let path = NotePath::parse("fuzz/cost.md").expect("valid path");
    let budget = FIXED + PER_BYTE * text.len() as u32;
    // The front matter parser on its own, as much of the text as it accepts.
    let mut fm_end = text.len().min(limits::MAX_FRONT_MATTER_BYTES);
    while !text.is_char_boundary(fm_end) {
        fm_end -= 1;
    }
    let fm = &text[..fm_end];
    for (name, run) in [
        ("parse_checked", &(|t: &str| drop(notes::parse_checked(&path, t))) as &dyn Fn(&str)),
        ("parse", &|t: &str| drop(notes::parse(&path, t))),
        ("front matter", &|_: &str| drop(frontmatter::read(fm))),
        ("wikilinks", &|t: &str| drop(notes::wikilinks(t))),
    ] {
        let started = Instant::now();
        run(&text);
        let took = started.elapsed();
        assert!(
            took <= budget,
            "{name} took {took:?} for {} bytes (budget {budget:?})",
            text.len()
        );
    }
});
