//! `bench-report`: turns the measurements of `tests/bench/run.sh` into `e2e.md` (Markdown tables,
//! the documented targets with met / not met and ratios) and SVG charts (plotters, SVG backend only,
//! text drawn as SVG `<text>`, so no font is needed on the machine that renders them).
//!
//! ```text
//! bench-report DIR     reads DIR/{e2e,memory,growth}.tsv, DIR/meta.txt, DIR/machine.txt;
//!                      writes DIR/e2e.md and DIR/e2e-{throughput,latency,growth,memory}.svg
//! ```
//! Missing parts (basic-memory not installed, growth not measured) are reported as missing,
//! never invented.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use vaultgate_tests::median;

/// The MCP targets in the order tables and charts show them.
const TARGETS: [(&str, &str); 5] = [
    ("backend-direct", "backend direct (valid assertion)"),
    ("gateway-modern", "gateway, 2026-07-28 stateless"),
    ("gateway-legacy", "gateway, 2025-06-18 session"),
    ("haproxy-jwt", "HAProxy-JWT → same backend"),
    ("basic-memory", "basic-memory 0.24.1"),
];
const TOOLS: [&str; 2] = ["read_note", "search_notes"];
const COLORS: [RGBColor; 5] = [
    RGBColor(120, 120, 120),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(214, 39, 40),
];

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("bench-report: {msg}");
    std::process::exit(1)
}

/// One wrk run: `round tool target conns req_per_s p50_us p99_us load1`.
struct Run {
    tool: String,
    target: String,
    conns: u32,
    rps: f64,
    p50_us: f64,
    p99_us: f64,
}

/// Medians over rounds of one (tool, target, connections) cell.
#[derive(Clone, Copy)]
struct Cell {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Rows of a tab-separated file, without comments and blank lines (empty when the file is absent).
fn rows(path: &Path) -> Vec<Vec<String>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

fn num(row: &[String], i: usize) -> f64 {
    row.get(i).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

/// `key: value` lines.
fn meta(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            l.split_once(": ")
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

type Cells = BTreeMap<(String, String, u32), Cell>;

fn cells(runs: &[Run]) -> Cells {
    let mut groups: BTreeMap<(String, String, u32), Vec<&Run>> = BTreeMap::new();
    for r in runs {
        groups
            .entry((r.tool.clone(), r.target.clone(), r.conns))
            .or_default()
            .push(r);
    }
    groups
        .into_iter()
        .map(|(k, v)| {
            let c = Cell {
                rps: median(v.iter().map(|r| r.rps).collect()),
                p50_ms: median(v.iter().map(|r| r.p50_us / 1000.0).collect()),
                p99_ms: median(v.iter().map(|r| r.p99_us / 1000.0).collect()),
            };
            (k, c)
        })
        .collect()
}

fn get<'a>(c: &'a Cells, tool: &str, target: &str, conns: u32) -> Option<&'a Cell> {
    c.get(&(tool.to_owned(), target.to_owned(), conns))
}

fn fmt_rps(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn fmt_ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// A ratio to a target; a negative one (gateway faster than direct: noise) is shown as such.
fn times(r: f64) -> String {
    if r > 0.0 {
        format!("{r:.1}×")
    } else {
        "below 0×".into()
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "**met**" } else { "**not met**" }
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| fail("usage: bench-report DIR"));
    let dir = Path::new(&dir);
    let runs: Vec<Run> = rows(&dir.join("e2e.tsv"))
        .iter()
        .map(|r| Run {
            tool: r.get(1).cloned().unwrap_or_default(),
            target: r.get(2).cloned().unwrap_or_default(),
            conns: num(r, 3) as u32,
            rps: num(r, 4),
            p50_us: num(r, 5),
            p99_us: num(r, 6),
        })
        .collect();
    if runs.is_empty() {
        fail(format!("{} has no measurements", dir.join("e2e.tsv").display()));
    }
    let cells = cells(&runs);
    let mut conns: Vec<u32> = runs.iter().map(|r| r.conns).collect();
    conns.sort_unstable();
    conns.dedup();
    let max_conns = *conns.last().unwrap_or(&1);
    let meta = meta(&dir.join("meta.txt"));
    let memory = rows(&dir.join("memory.tsv"));
    let growth = rows(&dir.join("growth.tsv"));
    let have_bm = runs.iter().any(|r| r.target == "basic-memory");

    let mut md = String::new();
    let m = |k: &str| meta.get(k).cloned().unwrap_or_else(|| "–".into());
    let _ = writeln!(md, "# End-to-end benchmark\n");
    let _ = writeln!(
        md,
        "Measured {} by `tests/bench/run.sh` ({} mode), commit `{}`.\n",
        m("date"),
        m("mode"),
        m("commit")
    );
    if let Some(w) = meta.get("warning") {
        let _ = writeln!(md, "**Warning: {w}.**\n");
    }
    let _ = writeln!(md, "- **Machine**: {}", m("machine"));
    let _ = writeln!(md, "- **Load**: {}", m("load"));
    let _ = writeln!(md, "- **Corpus**: {}", m("corpus"));
    let _ = writeln!(md, "- **Load generator**: {}", m("client"));
    let _ = writeln!(md, "- **basic-memory**: {}", m("basic-memory"));
    let _ = writeln!(md, "- **Rounds**: {}\n", m("rounds"));

    // 1. Throughput and latency.
    let _ = writeln!(md, "## MCP `tools/call` round trips\n");
    let _ = writeln!(
        md,
        "Closed loop (`wrk`, one thread, N keep-alive connections), medians over rounds. \
         Every request is a full `tools/call` checked for a JSON-RPC or tool error.\n"
    );
    let _ = writeln!(md, "![throughput](e2e-throughput.svg)\n\n![latency](e2e-latency.svg)\n");
    for tool in TOOLS {
        let _ = writeln!(md, "### `{tool}`\n");
        let _ = write!(md, "| target |");
        for c in &conns {
            let _ = write!(md, " req/s @{c} | p50 / p99 ms @{c} |");
        }
        let _ = write!(md, "\n| --- |");
        for _ in &conns {
            let _ = write!(md, " ---: | ---: |");
        }
        md.push('\n');
        for (t, label) in TARGETS {
            if !conns.iter().any(|&c| get(&cells, tool, t, c).is_some()) {
                continue;
            }
            let _ = write!(md, "| {label} |");
            for &c in &conns {
                match get(&cells, tool, t, c) {
                    Some(x) => {
                        let _ = write!(
                            md,
                            " {} | {} / {} |",
                            fmt_rps(x.rps),
                            fmt_ms(x.p50_ms),
                            fmt_ms(x.p99_ms)
                        );
                    }
                    None => md.push_str(" – | – |"),
                }
            }
            md.push('\n');
        }
        md.push('\n');
    }

    // 2. Added latency and the HAProxy comparison.
    let _ = writeln!(md, "## What the gateway adds\n");
    let _ = writeln!(
        md,
        "Added latency = the gateway's percentile minus the backend's own at the same number of \
         connections (both closed loop, same run). At many connections on two cores this includes \
         the queueing caused by the gateway's CPU use, not only its own path.\n"
    );
    let _ = writeln!(
        md,
        "| tool | connections | gateway modern: +p50 / +p99 ms | gateway legacy: +p50 / +p99 ms | \
         throughput gateway modern / direct | gateway modern / HAProxy-JWT (req/s) |"
    );
    let _ = writeln!(md, "| --- | ---: | ---: | ---: | ---: | ---: |");
    for tool in TOOLS {
        for &c in &conns {
            let d = get(&cells, tool, "backend-direct", c);
            let gm = get(&cells, tool, "gateway-modern", c);
            let gl = get(&cells, tool, "gateway-legacy", c);
            let h = get(&cells, tool, "haproxy-jwt", c);
            let delta = |g: Option<&Cell>| match (g, d) {
                (Some(g), Some(d)) => format!("{:+.3} / {:+.3}", g.p50_ms - d.p50_ms, g.p99_ms - d.p99_ms),
                _ => "–".into(),
            };
            let ratio = |a: Option<&Cell>, b: Option<&Cell>| match (a, b) {
                (Some(a), Some(b)) => format!("{:.2}×", a.rps / b.rps),
                _ => "–".into(),
            };
            let _ = writeln!(
                md,
                "| `{tool}` | {c} | {} | {} | {} | {} |",
                delta(gm),
                delta(gl),
                ratio(gm, d),
                ratio(gm, h)
            );
        }
    }
    md.push('\n');

    // 3. basic-memory.
    let _ = writeln!(md, "## Against basic-memory\n");
    if have_bm {
        let _ = writeln!(
            md,
            "Same client, same kind of request, same notes (one vault of the corpus copied into a \
             basic-memory project). Ratio = basic-memory's latency / ours (through the gateway, \
             modern era); > 1 means we are faster. At 8 and 64 connections basic-memory completes \
             only a few requests per run and wrk's percentiles cover only those that completed (the \
             rest are still queued when the run ends): compare throughput there, latency at 1 \
             connection.\n"
        );
        let _ = writeln!(
            md,
            "| tool | connections | ours p50 ms | basic-memory p50 ms | p50 ratio | ours req/s | basic-memory req/s | throughput ratio |"
        );
        let _ = writeln!(md, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for tool in TOOLS {
            for &c in &conns {
                if let (Some(o), Some(b)) = (
                    get(&cells, tool, "gateway-modern", c),
                    get(&cells, tool, "basic-memory", c),
                ) {
                    let _ = writeln!(
                        md,
                        "| `{tool}` | {c} | {} | {} | {:.1}× | {} | {} | {:.1}× |",
                        fmt_ms(o.p50_ms),
                        fmt_ms(b.p50_ms),
                        b.p50_ms / o.p50_ms,
                        fmt_rps(o.rps),
                        fmt_rps(b.rps),
                        o.rps / b.rps
                    );
                }
            }
        }
        md.push('\n');
    } else {
        let _ = writeln!(md, "Not measured: {}\n", m("basic-memory"));
    }

    // 4. Memory.
    let _ = writeln!(md, "## Memory\n");
    if memory.is_empty() {
        let _ = writeln!(md, "Not measured.\n");
    } else {
        let _ = writeln!(md, "![memory](e2e-memory.svg)\n");
        let _ = writeln!(md, "| process | condition | VmRSS MiB |");
        let _ = writeln!(md, "| --- | --- | ---: |");
        for r in &memory {
            let _ = writeln!(
                md,
                "| {} | {} | {:.1} |",
                r.first().map_or("?", String::as_str),
                r.get(1).map_or("?", String::as_str),
                num(r, 3) / 1024.0
            );
        }
        md.push('\n');
    }

    // 5. Growth.
    let _ = writeln!(md, "## Search latency by vault size\n");
    if growth.is_empty() {
        let _ = writeln!(md, "Not measured.\n");
    } else {
        let _ = writeln!(
            md,
            "`search_notes` straight to the backend (one connection, one query at a time, the \
             corpus generator and queries of `backend/examples/bench.rs`), one user per size.\n"
        );
        let _ = writeln!(md, "![growth](e2e-growth.svg)\n");
        let _ = writeln!(md, "| notes per user | median ms | p99 ms |");
        let _ = writeln!(md, "| ---: | ---: | ---: |");
        for r in &growth {
            let _ = writeln!(md, "| {} | {:.2} | {:.2} |", num(r, 0), num(r, 1), num(r, 2));
        }
        md.push('\n');
    }

    // 6. Targets.
    let _ = writeln!(md, "## Targets\n");
    let _ = writeln!(md, "| target | measured | result |");
    let _ = writeln!(md, "| --- | --- | --- |");
    for tool in TOOLS {
        if let (Some(g), Some(d)) = (
            get(&cells, tool, "gateway-modern", max_conns),
            get(&cells, tool, "backend-direct", max_conns),
        ) {
            let (a50, a99) = (g.p50_ms - d.p50_ms, g.p99_ms - d.p99_ms);
            let _ = writeln!(
                md,
                "| added latency p50 ≤ 0.3 ms, p99 ≤ 1 ms at {max_conns} connections (`{tool}`, modern) | \
                 {a50:+.3} ms / {a99:+.3} ms ({} / {} the target) | p50 {}, p99 {} |",
                times(a50 / 0.3),
                times(a99 / 1.0),
                verdict(a50 <= 0.3),
                verdict(a99 <= 1.0)
            );
        }
    }
    let best = |tool: &str, target: &str| {
        conns
            .iter()
            .filter_map(|&c| get(&cells, tool, target, c).map(|x| (c, x.rps)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    };
    for tool in TOOLS {
        for t in ["gateway-modern", "gateway-legacy"] {
            if let Some((c, rps)) = best(tool, t) {
                let _ = writeln!(
                    md,
                    "| MCP `tools/call` through the gateway ≥ 5,000/s (`{tool}`, {t}) | {} /s at {c} connections ({:.2}× the target) | {} |",
                    fmt_rps(rps),
                    rps / 5000.0,
                    verdict(rps >= 5000.0)
                );
            }
        }
    }
    for tool in TOOLS {
        let ratios: Vec<String> = conns
            .iter()
            .filter_map(|&c| {
                let (g, h) = (
                    get(&cells, tool, "gateway-modern", c)?,
                    get(&cells, tool, "haproxy-jwt", c)?,
                );
                Some(format!("{:.2}× @{c}", g.rps / h.rps))
            })
            .collect();
        let all_ok = conns.iter().all(|&c| {
            match (
                get(&cells, tool, "gateway-modern", c),
                get(&cells, tool, "haproxy-jwt", c),
            ) {
                (Some(g), Some(h)) => g.rps >= h.rps,
                _ => true,
            }
        });
        if !ratios.is_empty() {
            let _ = writeln!(
                md,
                "| throughput through our gateway ≥ through HAProxy-JWT, same backend (`{tool}`) | {} | {} |",
                ratios.join(", "),
                verdict(all_ok)
            );
        }
    }
    if have_bm {
        let pairs: Vec<(u32, &Cell, &Cell)> = conns
            .iter()
            .filter_map(|&c| {
                Some((
                    c,
                    get(&cells, "search_notes", "gateway-modern", c)?,
                    get(&cells, "search_notes", "basic-memory", c)?,
                ))
            })
            .collect();
        if let Some((c1, o1, b1)) = pairs.first() {
            let latency = b1.p50_ms / o1.p50_ms;
            let throughput: Vec<f64> = pairs.iter().map(|(_, o, b)| o.rps / b.rps).collect();
            let text: Vec<String> = pairs
                .iter()
                .zip(&throughput)
                .map(|((c, _, _), r)| format!("{r:.1}× @{c}"))
                .collect();
            let _ = writeln!(
                md,
                "| our `search_notes` ≥ 10× faster than basic-memory's (through the gateway) | p50 at {c1} connection: \
                 {latency:.1}× faster; throughput: {} | {} |",
                text.join(", "),
                verdict(latency >= 10.0 && throughput.iter().all(|r| *r >= 10.0))
            );
        }
    } else {
        let _ = writeln!(
            md,
            "| our `search_notes` ≥ 10× faster than basic-memory's | not measured ({}) | – |",
            m("basic-memory")
        );
    }
    md.push('\n');

    let out = dir.join("e2e.md");
    std::fs::write(&out, md).unwrap_or_else(|e| fail(format!("{}: {e}", out.display())));
    if let Err(e) = charts(dir, &cells, &conns, &memory, &growth) {
        fail(format!("drawing the charts: {e}"));
    }
    println!("{}", out.display());
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn charts(dir: &Path, cells: &Cells, conns: &[u32], memory: &[Vec<String>], growth: &[Vec<String>]) -> DrawResult {
    bars(
        &dir.join("e2e-throughput.svg"),
        cells,
        conns,
        "requests/s (log scale)",
        |c| c.rps,
    )?;
    bars(
        &dir.join("e2e-latency.svg"),
        cells,
        conns,
        "p50 latency, ms (log scale)",
        |c| c.p50_ms,
    )?;
    if !growth.is_empty() {
        growth_chart(&dir.join("e2e-growth.svg"), growth)?;
    }
    if !memory.is_empty() {
        memory_chart(&dir.join("e2e-memory.svg"), memory)?;
    }
    Ok(())
}

/// Grouped bars: one panel per tool, one group per connection count, one bar per target.
fn bars(path: &Path, cells: &Cells, conns: &[u32], y_desc: &str, value: impl Fn(&Cell) -> f64) -> DrawResult {
    let root = SVGBackend::new(path, (1100, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let targets: Vec<(usize, &str, &str)> = TARGETS
        .iter()
        .enumerate()
        .filter(|(_, (t, _))| cells.keys().any(|(_, tt, _)| tt == t))
        .map(|(i, (t, l))| (i, *t, *l))
        .collect();
    let values: Vec<f64> = cells
        .values()
        .map(&value)
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    let (lo, hi) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    // One more decade on top leaves room for the legend above the bars.
    let (lo, hi) = (10f64.powf(lo.log10().floor()), 10f64.powf(hi.log10().ceil() + 1.0));
    let panels = root.split_evenly((1, TOOLS.len()));
    for (panel, tool) in panels.iter().zip(TOOLS) {
        let groups = conns.len() as f64;
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("tools/call {tool}"), ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(-0.5f64..groups - 0.5, (lo..hi).log_scale())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(conns.len() * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < conns.len() {
                    format!("{} conn.", conns[i as usize])
                } else {
                    String::new()
                }
            })
            .y_desc(y_desc)
            .draw()?;
        let width = 0.8 / targets.len() as f64;
        for (k, (ci, t, label)) in targets.iter().enumerate() {
            let color = COLORS[*ci];
            let rects: Vec<Rectangle<(f64, f64)>> = conns
                .iter()
                .enumerate()
                .filter_map(|(g, &c)| {
                    let v = value(get(cells, tool, t, c)?);
                    let x0 = g as f64 - 0.4 + k as f64 * width;
                    Some(Rectangle::new(
                        [(x0, lo), (x0 + width * 0.9, v.max(lo))],
                        color.filled(),
                    ))
                })
                .collect();
            chart
                .draw_series(rects)?
                .label(*label)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85).filled())
            .border_style(BLACK.stroke_width(1))
            .label_font(("sans-serif", 12))
            .draw()?;
    }
    root.present()?;
    Ok(())
}

fn growth_chart(path: &Path, growth: &[Vec<String>]) -> DrawResult {
    let root = SVGBackend::new(path, (640, 400)).into_drawing_area();
    root.fill(&WHITE)?;
    let pts: Vec<(f64, f64, f64)> = growth.iter().map(|r| (num(r, 0), num(r, 1), num(r, 2))).collect();
    let x_hi = pts.iter().map(|p| p.0).fold(1.0, f64::max) * 2.0;
    let x_lo = pts.iter().map(|p| p.0).fold(f64::MAX, f64::min) / 2.0;
    let y_hi = pts.iter().map(|p| p.2.max(p.1)).fold(0.1, f64::max) * 2.0;
    let y_lo = pts.iter().map(|p| p.1).fold(f64::MAX, f64::min).max(0.01) / 2.0;
    let mut chart = ChartBuilder::on(&root)
        .caption("search_notes latency by notes per user", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((x_lo..x_hi).log_scale(), (y_lo..y_hi).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("notes per user (log scale)")
        .y_desc("ms (log scale)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()?;
    for (name, color, pick) in [("median", COLORS[1], 1usize), ("p99", COLORS[3], 2usize)] {
        let series: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, if pick == 1 { p.1 } else { p.2 })).collect();
        chart
            .draw_series(LineSeries::new(series.clone(), color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(2)));
        chart.draw_series(series.into_iter().map(|p| Circle::new(p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85).filled())
        .border_style(BLACK.stroke_width(1))
        .draw()?;
    root.present()?;
    Ok(())
}

fn memory_chart(path: &Path, memory: &[Vec<String>]) -> DrawResult {
    let root = SVGBackend::new(path, (760, 380)).into_drawing_area();
    root.fill(&WHITE)?;
    let bars: Vec<(String, f64)> = memory
        .iter()
        .map(|r| {
            (
                format!(
                    "{}: {}",
                    r.first().map_or("?", String::as_str),
                    r.get(2).map_or("?", String::as_str)
                ),
                num(r, 3) / 1024.0,
            )
        })
        .collect();
    let hi = bars.iter().map(|b| b.1).fold(1.0, f64::max) * 1.15;
    let n = bars.len();
    let mut chart = ChartBuilder::on(&root)
        .caption("resident memory (VmRSS)", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0f64..hi)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n {
                bars[i as usize].0.clone()
            } else {
                String::new()
            }
        })
        .y_desc("MiB")
        .draw()?;
    chart.draw_series(bars.iter().enumerate().map(|(i, (name, v))| {
        let color = if name.starts_with("gateway") {
            COLORS[1]
        } else {
            COLORS[2]
        };
        Rectangle::new([(i as f64 - 0.35, 0.0), (i as f64 + 0.35, *v)], color.filled())
    }))?;
    chart.draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
        Text::new(
            format!("{v:.1}"),
            (i as f64 - 0.15, *v + hi * 0.02),
            ("sans-serif", 13).into_font(),
        )
    }))?;
    root.present()?;
    Ok(())
}
