//! `vaultgate-backend [serve]`, `reindex [--user ID]`, `export --user ID -o FILE`,
//! `import --user ID [--overwrite] DIR|ZIP` and `delete-user ID --yes`.

use std::process::ExitCode;

use vaultgate_backend::config::{BackendConfig, Cli, Command};
use vaultgate_backend::{lifecycle, metrics::Metrics, reindex, server};
use vaultgate_shared::config::print;
use vaultgate_shared::exit::{self, Failure};

fn main() -> ExitCode {
    let cli: Cli = vaultgate_shared::config::parse();
    // Dropped last, after the command: exports the spans still buffered.
    let _telemetry = match vaultgate_shared::logging::init_traced(cli.log_format, "vaultgate-backend") {
        Ok(t) => t,
        Err(e) => return fail(Failure::Config, &e),
    };
    let config = match BackendConfig::resolve(&cli) {
        Ok(c) => c,
        Err(e) => return fail(e.failure(), &e),
    };
    let done = match &cli.command {
        Some(Command::Reindex { user }) => reindex(&config, user.as_deref()),
        Some(Command::Export { user, output }) => export(&config, user, output),
        Some(Command::DeleteUser { user, yes }) => delete_user(&config, user, *yes),
        Some(Command::Import {
            user,
            overwrite,
            source,
        }) => import(&config, user, *overwrite, source),
        Some(Command::Config(args)) => print_config(&config, args),
        None | Some(Command::Serve) => {
            let (key, audit) = match config.identity_key().and_then(|k| Ok((k, config.auditor()?))) {
                Ok(k) => k,
                Err(e) => return fail(e.failure(), &e),
            };
            tokio::runtime::Runtime::new()
                .map_err(|e| runtime(e.to_string()))
                .and_then(|rt| {
                    rt.block_on(server::run(config, key, audit))
                        .map_err(|e| runtime(e.to_string()))
                })
        }
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err((failure, e)) => fail(failure, &e),
    }
}

/// A failed command: its exit status and what to print.
type Fatal = (Failure, String);

fn runtime(e: String) -> Fatal {
    (Failure::Runtime, e)
}

fn usage(e: impl std::fmt::Display) -> Fatal {
    (Failure::Usage, e.to_string())
}

/// `config --print`: what `serve` would run with, checked as `serve` checks it, secrets redacted.
fn print_config(config: &BackendConfig, args: &print::PrintArgs) -> Result<(), Fatal> {
    config
        .identity_key()
        .and_then(|_| config.auditor())
        .map_err(|e| (e.failure(), e.to_string()))?;
    let text = print::render(config, args).map_err(usage)?;
    println!("{text}");
    Ok(())
}

fn reindex(settings: &BackendConfig, user: Option<&str>) -> Result<(), Fatal> {
    let user = Cli::reindex_user(user).map_err(usage)?;
    let started = std::time::Instant::now();
    let n = match &user {
        Some(user) => {
            let notes = server::open(settings, Metrics::new()).map_err(|e| runtime(e.to_string()))?;
            reindex::rebuild_user(notes.vault(), notes.index(), user, true)
        }
        None => {
            let vault = server::open_vault(settings).map_err(|e| runtime(e.to_string()))?;
            reindex::rebuild_all(&vault, &settings.database_path, true)
        }
    }
    .map_err(|e| runtime(e.to_string()))?;
    tracing::info!(
        notes = n,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "index rebuilt"
    );
    Ok(())
}

fn export(settings: &BackendConfig, user: &str, output: &std::path::Path) -> Result<(), Fatal> {
    let user = Cli::reindex_user(Some(user))
        .map_err(usage)?
        .ok_or_else(|| usage("--user"))?;
    let vault = server::open_vault(settings).map_err(|e| runtime(e.to_string()))?;
    let file = std::fs::File::create(output).map_err(|e| runtime(format!("creating {}: {e}", output.display())))?;
    let n = lifecycle::export_zip(&vault, &user, std::io::BufWriter::new(file)).map_err(|e| runtime(e.to_string()))?;
    tracing::info!(user = %user, notes = n, output = %output.display(), "vault exported");
    Ok(())
}

fn import(settings: &BackendConfig, user: &str, overwrite: bool, from: &std::path::Path) -> Result<(), Fatal> {
    use vaultgate_backend::import::{ImportOptions, source};
    let user = Cli::reindex_user(Some(user))
        .map_err(usage)?
        .ok_or_else(|| usage("--user"))?;
    let meta = std::fs::metadata(from).map_err(|e| usage(format!("{}: {e}", from.display())))?;
    let notes = server::open(settings, Metrics::new()).map_err(|e| runtime(e.to_string()))?;
    let options = ImportOptions {
        overwrite,
        max_entries: settings.import_max_entries,
    };
    let mut src: Box<dyn source::Source> = if meta.is_dir() {
        Box::new(source::DirSource::new(from))
    } else {
        let file = std::fs::File::open(from).map_err(|e| usage(format!("{}: {e}", from.display())))?;
        Box::new(source::ZipSource::open(file, options.max_entries).map_err(|e| usage(e.to_string()))?)
    };
    let report = notes
        .import(&user, src.as_mut(), options)
        .map_err(|e| runtime(e.to_string()))?;
    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    tracing::info!(user = %user, imported = report.imported, skipped = report.skipped.len(), "vault imported");
    Ok(())
}

fn delete_user(settings: &BackendConfig, user: &str, yes: bool) -> Result<(), Fatal> {
    let user = Cli::reindex_user(Some(user))
        .map_err(usage)?
        .ok_or_else(|| usage("user"))?;
    if !yes {
        return Err(usage(format!(
            "this deletes every note of '{user}' and its index; run again with --yes to confirm"
        )));
    }
    let vault = server::open_vault(settings).map_err(|e| runtime(e.to_string()))?;
    let existed = lifecycle::delete_user(&vault, &settings.database_path, &user).map_err(|e| runtime(e.to_string()))?;
    tracing::warn!(target: vaultgate_shared::audit::TARGET, event = "user_deleted", user = %user, had_vault = existed, "user deleted");
    Ok(())
}

/// Prints the fatal error once (stderr, where the log goes too) and exits with its status.
fn fail(failure: Failure, e: &dyn std::fmt::Display) -> ExitCode {
    exit::fail("vaultgate-backend", failure, e)
}
