//! `docs/configuration.md` against the gateway's command line: every environment variable the
//! gateway reads is documented in its section, every variable its table lists is one the gateway
//! reads, and the variables of the other tables are read by what they say reads them.
//! (The backend's own section is checked by the backend's tests.)

use std::collections::BTreeSet;

use vaultgate_gateway::config::Cli;
use vaultgate_shared::config::env_names;

fn repo_file(path: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The text of the `## ` section whose heading starts with `heading`.
fn section<'a>(doc: &'a str, heading: &str) -> &'a str {
    let start = doc
        .find(&format!("\n## {heading}"))
        .unwrap_or_else(|| panic!("no section '{heading}'"));
    let rest = &doc[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    &rest[..end]
}

/// The variables named in the first column of a section's table rows.
fn table_names(section: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cell = line.split('|').nth(1).unwrap_or("");
        for quoted in cell.split('`').skip(1).step_by(2) {
            let name = quoted.split('=').next().unwrap_or("");
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

#[test]
fn every_gateway_variable_is_documented_and_every_documented_one_exists() {
    let doc = repo_file("docs/configuration.md");
    let gateway = section(&doc, "Gateway");
    let read = env_names(&<Cli as clap::CommandFactory>::command());
    let missing: Vec<_> = read.iter().filter(|n| !gateway.contains(&format!("`{n}`"))).collect();
    assert!(
        missing.is_empty(),
        "read by the gateway, not in its section of docs/configuration.md: {missing:?}"
    );
    let listed = table_names(gateway);
    assert!(listed.len() > 30, "the gateway table was not found: {listed:?}");
    let unknown: Vec<_> = listed.difference(&read).collect();
    assert!(
        unknown.is_empty(),
        "in the gateway table but not read by the gateway: {unknown:?}"
    );
}

#[test]
fn the_trace_and_start_script_variables_are_read_where_the_doc_says() {
    let doc = repo_file("docs/configuration.md");
    let telemetry = repo_file("shared/src/telemetry.rs");
    // Read by the OpenTelemetry SDK's exporter and batch processor themselves, not by our code.
    let sdk = [
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_BSP_SCHEDULE_DELAY",
        "OTEL_BSP_MAX_QUEUE_SIZE",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    ];
    let traces = table_names(section(&doc, "Traces"));
    assert!(!traces.is_empty());
    for name in &traces {
        assert!(
            telemetry.contains(&format!("\"{name}\"")) || sdk.contains(&name.as_str()),
            "{name} is in the Traces table but neither shared/src/telemetry.rs nor the SDK reads it"
        );
    }
    let script = repo_file("deploy/entrypoint.sh");
    let start = table_names(section(&doc, "The start script"));
    assert!(!start.is_empty());
    for name in &start {
        assert!(
            script.contains(&format!("${{{name}")) || script.contains(&format!("${name}")),
            "{name} is in the start script's table but deploy/entrypoint.sh does not read it"
        );
    }
}
