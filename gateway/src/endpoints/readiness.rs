//! `GET /readyz` (public and admin port): ready when the backend is ready and the state store
//! answers. The body reports each part on its own, so an operator sees which one failed;
//! liveness stays `/healthz`.

use serde_json::json;

use crate::state::sessions::SessionStore;
use crate::upstream::Backend;

/// The status and JSON body of `/readyz`: 200 when both parts are ready, else 503 with the
/// shared error body's `error` and `message` naming the first failing part.
pub async fn check(backend: &Backend, sessions: &dyn SessionStore) -> (u16, serde_json::Value) {
    let (backend_ok, state) = tokio::join!(backend.ready(), sessions.health());
    let part = |ok: bool| if ok { "ok" } else { "unavailable" };
    let mut body = json!({
        "status": if backend_ok && state.is_ok() { "ready" } else { "not_ready" },
        "backend": {"status": part(backend_ok)},
        "state": {"store": sessions.store(), "status": part(state.is_ok())},
    });
    let failure = if !backend_ok {
        Some(("backend_unavailable", "the backend is not ready"))
    } else if state.is_err() {
        Some(("state_unavailable", "the state store is not answering"))
    } else {
        None
    };
    match failure {
        None => (200, body),
        Some((error, message)) => {
            body["error"] = json!(error);
            body["message"] = json!(message);
            (503, body)
        }
    }
}
