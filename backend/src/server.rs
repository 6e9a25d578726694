//! Starting and stopping the backend: open the vault and index, reconcile, listen, and stop
//! cleanly on SIGTERM or Ctrl-C.

use std::sync::Arc;

use tokio::net::TcpListener;
use vaultgate_shared::identity::IdentityKey;

use crate::bulkhead::Bulkhead;
use crate::config::BackendConfig;
use crate::http::{self, App, futures_like::BoxFuture};
use crate::index::Index;
use crate::metrics::Metrics;
use crate::reindex;
use crate::service::NoteService;
use crate::vault::Vault;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("opening the vault at {path}: {source}")]
    Vault {
        path: String,
        source: crate::vault::VaultError,
    },
    #[error("opening the index at {path}: {source}")]
    Index {
        path: String,
        source: crate::index::OpenError,
    },
    #[error("reconciling the index with the vault: {0}")]
    Reconcile(#[from] reindex::ReindexError),
    #[error("listening on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
}

/// Opens the vault (creating its folder when missing).
pub fn open_vault(settings: &BackendConfig) -> Result<Vault, StartError> {
    Vault::open(&settings.vault_base_path).map_err(|source| StartError::Vault {
        path: settings.vault_base_path.display().to_string(),
        source,
    })
}

/// Opens the vault and the index (creating both when missing).
pub fn open(settings: &BackendConfig, metrics: Metrics) -> Result<NoteService, StartError> {
    let vault = open_vault(settings)?;
    let index = Index::open(&settings.database_path, settings.index).map_err(|source| StartError::Index {
        path: settings.database_path.display().to_string(),
        source,
    })?;
    Ok(NoteService::new(vault, index, settings.limits, metrics))
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Runs the backend until a shutdown signal.
pub async fn run(settings: BackendConfig, key: IdentityKey, audit: crate::audit::Auditor) -> Result<(), StartError> {
    let metrics = Metrics::new();
    let notes = open(&settings, metrics.clone())?;
    let started = std::time::Instant::now();
    let stats = {
        let (vault, index) = (notes.vault().clone(), notes.index());
        reindex::reconcile(&vault, index)?
    };
    tracing::info!(
        added = stats.added,
        updated = stats.updated,
        removed = stats.removed,
        unchanged = stats.unchanged,
        failed_users = stats.failed,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "index reconciled with the vault"
    );
    metrics.last_reindex_duration.set(started.elapsed().as_secs_f64());
    metrics.index_notes.set(notes.index().total_notes().unwrap_or_default());
    let notes = Arc::new(notes);
    let bulkhead = Arc::new(Bulkhead::new(settings.bulkhead, metrics.clone()));
    // Closes per-user databases that went idle even when no request comes to trigger it.
    let maintenance = {
        let notes = notes.clone();
        let every = (settings.index.idle / 2).max(std::time::Duration::from_secs(1));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let notes = notes.clone();
                let _ = tokio::task::spawn_blocking(move || notes.index().maintain()).await;
            }
        })
    };
    // JSON escaping can double a note's size; leave room for the other fields.
    let max_body = (settings.limits.note_max_bytes as usize).saturating_mul(2) + 64 * 1024;
    let audit = Arc::new(audit);
    let readiness = Arc::new(crate::readiness::Readiness::new(
        settings.vault_base_path.clone(),
        notes.index().dir().to_owned(),
        settings.ready,
    ));
    let app = Arc::new(App {
        notes: notes.clone(),
        bulkhead: bulkhead.clone(),
        key,
        metrics: metrics.clone(),
        mcp: crate::mcp::service(notes, bulkhead, audit.clone(), settings.allowed_hosts.clone(), max_body),
        audit,
        readiness: readiness.clone(),
        max_body,
        exports: Arc::default(),
        imports: Arc::default(),
        import_max_bytes: settings.import_max_bytes,
        import_max_entries: settings.import_max_entries,
    });
    let listener = TcpListener::bind(settings.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: settings.listen.to_string(),
            source,
        })?;
    let admin = TcpListener::bind(settings.admin_addr)
        .await
        .map_err(|source| StartError::Listen {
            addr: settings.admin_addr.to_string(),
            source,
        })?;
    tracing::info!(
        listen = %listener.local_addr().map_or(settings.listen, |a| a),
        admin = %admin.local_addr().map_or(settings.admin_addr, |a| a),
        allowed_hosts = ?settings.allowed_hosts,
        "vaultgate-backend listening"
    );
    let main_handler: Arc<dyn Fn(_) -> BoxFuture<_> + Send + Sync> = {
        let app = app.clone();
        Arc::new(move |req| {
            let app = app.clone();
            Box::pin(app.handle(req)) as BoxFuture<_>
        })
    };
    let admin_handler: Arc<dyn Fn(_) -> BoxFuture<_> + Send + Sync> = {
        let (metrics, notes) = (metrics.clone(), app.notes.clone());
        Arc::new(move |req| {
            let (metrics, notes, readiness) = (metrics.clone(), notes.clone(), readiness.clone());
            Box::pin(async move { http::admin::handle(&metrics, &notes, &readiness, &req).await }) as BoxFuture<_>
        })
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut admin_stop = stop_rx.clone();
    let admin_task = tokio::spawn(http::serve(admin, admin_handler, async move {
        let _ = admin_stop.wait_for(|s| *s).await;
    }));
    let mut main_stop = stop_rx;
    let main_task = tokio::spawn(http::serve(listener, main_handler, async move {
        let _ = main_stop.wait_for(|s| *s).await;
    }));
    shutdown_signal().await;
    tracing::info!("shutting down: no new connections, finishing requests in flight");
    let _ = stop_tx.send(true);
    let _ = main_task.await;
    let _ = admin_task.await;
    maintenance.abort();
    tracing::info!("stopped");
    Ok(())
}
