//! The REST API for the web page. Same identity rule as MCP, same [`NoteService`] calls. The
//! routes are those of [`crate::http::Route`], the one route table; `dispatch` has one arm each.
//!
//! `GET /api/notes?folder=&limit=&cursor=`, `GET|PUT|DELETE /api/notes/{path}`,
//! `POST /api/notes/{path}/move`, `GET /api/search?q=&tags=&folder=&limit=`, `GET /api/tags`,
//! `GET /api/backlinks/{path}`, `GET /api/me`, `GET /api/export` (the vault as a zip),
//! `POST /api/render` (a draft as HTML); `?format=html` on a note read adds its HTML. Note answers carry an `ETag` (the note's hash);
//! `If-Match` on PUT and DELETE turns a stale write into 412.

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::{Bytes, Incoming};
use serde::Deserialize;
use serde_json::{Value, json};
use vaultgate_shared::query::Query;
use vaultgate_shared::{Identity, UserId};

use crate::bulkhead::{Refusal, Weight};
use crate::http::respond::{error, json as json_response};
use crate::http::{App, Body, Route};
use crate::percent;
use crate::precondition::MalformedIfMatch;
use crate::service::{IfMatch, NoteService, ServiceError, WriteRequest, run_blocking};

/// A REST failure before or after the service call.
enum Fail {
    Service(ServiceError),
    Plain(StatusCode, &'static str, String),
}

impl From<ServiceError> for Fail {
    fn from(e: ServiceError) -> Self {
        Fail::Service(e)
    }
}

fn bad(msg: impl Into<String>) -> Fail {
    Fail::Plain(StatusCode::BAD_REQUEST, "bad_request", msg.into())
}

/// Runs `f` for `user` as a [`Weight::Light`] job (see [`run_blocking`]).
async fn blocking<T: Send + 'static>(
    app: &App,
    user: &UserId,
    f: impl FnOnce(&NoteService, &UserId) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, Fail> {
    weighted(app, user, Weight::Light, f).await
}

/// Runs `f` for `user` as a job of `weight` (see [`run_blocking`]).
async fn weighted<T: Send + 'static>(
    app: &App,
    user: &UserId,
    weight: Weight,
    f: impl FnOnce(&NoteService, &UserId) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, Fail> {
    Ok(run_blocking(&app.bulkhead, &app.notes, user, weight, f).await?)
}

fn with_etag(mut r: Response<Body>, hash: &str) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{hash}\"")) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

fn query(req: &Request<Incoming>) -> Result<Query, Fail> {
    Query::parse(req.uri().query().unwrap_or("")).map_err(|e| bad(e.to_string()))
}

/// A non-empty query parameter.
fn param<'a>(q: &'a Query, name: &str) -> Option<&'a str> {
    q.get(name).filter(|v| !v.is_empty())
}

fn number(q: &Query, name: &str) -> Result<Option<usize>, Fail> {
    param(q, name)
        .map(|v| {
            v.parse::<usize>()
                .map_err(|_| bad(format!("{name} must be a positive integer")))
        })
        .transpose()
}

/// How much of an over-size body is still read (and dropped) before the 413 is sent: a client
/// that is still writing when the connection closes sees a reset instead of the answer.
const DRAIN_MAX: usize = 8 << 20;
/// How long draining an over-size body may take.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// Reads and drops what is left of a refused body, at most [`DRAIN_MAX`] bytes for at most
/// [`DRAIN_TIME`], so that a client still sending reads the 413 instead of a reset (and does not
/// reuse a connection the server is about to close).
async fn drain(body: &mut Incoming) {
    let drain = async {
        let mut seen = 0usize;
        while seen <= DRAIN_MAX {
            match body.frame().await {
                Some(Ok(f)) => seen = seen.saturating_add(f.data_ref().map_or(0, |d| d.len())),
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
}

async fn read_json<T: for<'de> Deserialize<'de>>(req: Request<Incoming>, max: usize) -> Result<T, Fail> {
    let mut body = req.into_body();
    let mut bytes = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| bad(format!("the request body could not be read: {e}")))?;
        let Ok(data) = frame.into_data() else { continue };
        seen = seen.saturating_add(data.len());
        if seen > max {
            drain(&mut body).await;
            return Err(Fail::Plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the request body is larger than {max} bytes"),
            ));
        }
        bytes.extend_from_slice(&data);
    }
    serde_json::from_slice(&bytes).map_err(|e| bad(format!("the request body is not the expected JSON: {e}")))
}

/// The request's `If-Match` (strong comparison, `*`, lists); 400 when it cannot be read.
fn if_match(req: &Request<Incoming>) -> Result<Option<IfMatch>, Fail> {
    let mut values = req.headers().get_all(header::IF_MATCH).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    // Several If-Match lines are one list (RFC 9110 §5.3); joined, they parse as one.
    let joined = std::iter::once(first)
        .chain(values)
        .map(|v| v.to_str())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad(MalformedIfMatch.to_string()))?
        .join(", ");
    IfMatch::header(&joined).map(Some).map_err(|e| bad(e.to_string()))
}

#[derive(Deserialize)]
struct MoveBody {
    new_path: String,
}

/// `POST /api/render`'s body.
#[derive(Deserialize)]
struct RenderBody {
    content: String,
    #[serde(default)]
    path: Option<String>,
}

/// The largest `POST /api/render` body read: the render cap with room for JSON escapes.
const RENDER_BODY_MAX: usize = crate::render::MAX_RENDER_BYTES * 6 + 4096;

/// `?format=` of a note read: `true` for `html`.
fn wants_html(q: &Query) -> Result<bool, Fail> {
    match param(q, "format") {
        None | Some("json") => Ok(false),
        Some("html") => Ok(true),
        Some(_) => Err(bad("format must be 'html' or 'json'")),
    }
}

/// `POST /api/render`: a draft as sanitised HTML, for the editor's preview.
async fn render_draft(app: &App, req: Request<Incoming>, user: UserId) -> Result<Response<Body>, Fail> {
    let body: RenderBody = read_json(req, RENDER_BODY_MAX).await?;
    if body.content.len() > crate::render::MAX_RENDER_BYTES {
        return Err(Fail::Plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            crate::render::RenderRefusal::TooLarge.to_string(),
        ));
    }
    let out = blocking(app, &user, move |s, user| {
        s.render(user, body.path.as_deref(), &body.content)
    })
    .await?;
    match out {
        Ok(html) => Ok(json_response(StatusCode::OK, &json!({"html": html}))),
        Err(r @ crate::render::RenderRefusal::TooLarge) => {
            Err(Fail::Plain(StatusCode::PAYLOAD_TOO_LARGE, "too_large", r.to_string()))
        }
        Err(r @ crate::render::RenderRefusal::TooComplex) => Err(Fail::Plain(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_complex",
            r.to_string(),
        )),
    }
}

/// How long an export waits for its client to read the next chunk before it is abandoned.
const EXPORT_STALL: std::time::Duration = std::time::Duration::from_secs(60);

/// `GET /api/export`: the user's vault as a zip, built in a temporary file (memory stays small
/// whatever the vault's size) and streamed from it.
async fn export(app: &App, user: UserId) -> Result<Response<Body>, Fail> {
    let ticket = app.exports.begin(&user).ok_or_else(|| {
        Fail::Plain(
            StatusCode::TOO_MANY_REQUESTS,
            "busy",
            "an export of your vault is already being sent; wait for it to finish".into(),
        )
    })?;
    let file = weighted(app, &user, Weight::Heavy, move |s, user| {
        let mut file = tempfile::tempfile().map_err(|e| internal_io("creating the export file", e))?;
        crate::lifecycle::export_zip(s.vault(), user, &mut file).map_err(|e| internal_io("exporting a vault", e))?;
        std::io::Seek::rewind(&mut file).map_err(|e| internal_io("exporting a vault", e))?;
        Ok(file)
    })
    .await?;
    let len = file
        .metadata()
        .map_err(|e| Fail::Service(internal_io("exporting a vault", e)))?
        .len();
    let (mut tx, body) = http_body_util::channel::Channel::<Bytes, std::convert::Infallible>::new(2);
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let _ticket = ticket;
        let mut file = tokio::fs::File::from_std(file);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match file.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    // A client that stops reading gives up its export (and the file) after a while.
                    let sent = tokio::time::timeout(EXPORT_STALL, tx.send_data(Bytes::copy_from_slice(&buf[..n])));
                    if !matches!(sent.await, Ok(Ok(()))) {
                        break;
                    }
                }
                // The body then ends short of its Content-Length: the client sees a broken download.
                Err(e) => {
                    tracing::error!(error = %e, "reading the export file");
                    break;
                }
            }
        }
    });
    let mut r = Response::new(body.boxed());
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"vault.zip\""),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    Ok(r)
}

/// Imports being written at once, all users together: each holds a thread and its user's lock
/// for as long as its files take to write.
static IMPORT_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// `POST /api/import?overwrite=`: a vault as a zip, spooled to a temporary file (never whole in
/// memory, at most `IMPORT_MAX_BYTES`), then imported by [`NoteService::import`]. It runs outside
/// the request budget (writing thousands of notes takes longer than any search may); the answer
/// comes when it is done, and it completes even if the client has gone.
async fn import(app: &App, req: Request<Incoming>, user: UserId) -> Result<Response<Body>, Fail> {
    let overwrite = match param(&query(&req)?, "overwrite") {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(_) => return Err(bad("overwrite must be true or false")),
    };
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if !matches!(ctype.as_str(), "application/zip" | "application/x-zip-compressed") {
        return Err(Fail::Plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the vault as a zip with Content-Type: application/zip".into(),
        ));
    }
    let max = app.import_max_bytes;
    let too_large = || {
        Fail::Plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the upload is larger than {max} bytes, the largest import allowed"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        drain(&mut req.into_body()).await;
        return Err(too_large());
    }
    let ticket = app.imports.begin(&user).ok_or_else(|| {
        Fail::Plain(
            StatusCode::TOO_MANY_REQUESTS,
            "busy",
            "an import into your vault is already running; wait for it to finish".into(),
        )
    })?;
    let file = tempfile::tempfile().map_err(|e| Fail::Service(internal_io("creating the import file", e)))?;
    let spool = file
        .try_clone()
        .map_err(|e| Fail::Service(internal_io("creating the import file", e)))?;
    let mut out = tokio::fs::File::from_std(spool);
    let mut body = req.into_body();
    let mut seen = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| bad(format!("the request body could not be read: {e}")))?;
        let Ok(data) = frame.into_data() else { continue };
        seen = seen.saturating_add(data.len() as u64);
        if seen > max {
            drain(&mut body).await;
            return Err(too_large());
        }
        tokio::io::AsyncWriteExt::write_all(&mut out, &data)
            .await
            .map_err(|e| Fail::Service(internal_io("spooling an import", e)))?;
    }
    tokio::io::AsyncWriteExt::flush(&mut out)
        .await
        .map_err(|e| Fail::Service(internal_io("spooling an import", e)))?;
    drop(out);
    let _slot = IMPORT_SLOTS
        .acquire()
        .await
        .map_err(|_| Fail::Service(ServiceError::Internal))?;
    let (notes, max_entries) = (app.notes.clone(), app.import_max_entries);
    let done = tokio::task::spawn_blocking(move || {
        let _ticket = ticket;
        let mut file = file;
        std::io::Seek::rewind(&mut file).map_err(|e| crate::import::ImportError::Io(e.to_string()))?;
        let mut source = crate::import::source::ZipSource::open(file, max_entries)?;
        notes.import(
            &user,
            &mut source,
            crate::import::ImportOptions { overwrite, max_entries },
        )
    })
    .await
    .map_err(|_| Fail::Service(ServiceError::Internal))?;
    match done {
        Ok(report) => Ok(json_response(StatusCode::OK, &report)),
        Err(crate::import::ImportError::Service(e)) => Err(Fail::Service(e)),
        Err(e) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Err(Fail::Plain(status, e.code(), e.to_string()))
        }
    }
}

fn internal_io(what: &str, e: impl std::fmt::Display) -> ServiceError {
    tracing::error!(error = %e, "{what}");
    ServiceError::Internal
}

/// Answers one authenticated `/api/…` request; writes get an audit line, whatever their outcome.
pub async fn route(
    app: &App,
    req: Request<Incoming>,
    route: Route<'_>,
    identity: Identity,
    request_id: &str,
) -> Response<Body> {
    let Some(note) = route.written_note(req.method(), req.uri().path()) else {
        return answer(dispatch(app, req, route, identity.user).await, request_id).0;
    };
    let note = percent::decode(note, false).unwrap_or_default();
    let started = std::time::Instant::now();
    let (method, label) = (req.method().clone(), route.label(req.method()));
    let ids = crate::audit::RequestIds::from_headers(req.headers());
    let user = identity.user;
    let (response, outcome) = answer(dispatch(app, req, route, user.clone()).await, request_id);
    let call = crate::audit::Call {
        user: Some(&user),
        outcome,
        duration: started.elapsed(),
        ids: &ids,
        path: (!note.is_empty()).then_some(note.as_str()),
        new_path: None,
    };
    app.audit
        .rest_write(&call, label, method.as_str(), response.status().as_u16());
    response
}

/// The response for a dispatch result, and its outcome: `ok` or the error code.
fn answer(result: Result<Response<Body>, Fail>, request_id: &str) -> (Response<Body>, &'static str) {
    match result {
        Ok(r) => (r, "ok"),
        Err(Fail::Service(e)) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut r = error(status, e.code(), &e.to_string(), request_id);
            if let ServiceError::Refused(Refusal::UserBusy | Refusal::PoolFull | Refusal::OverBudget) = e {
                // Busy, not broken: a turn frees within the request budget.
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            (r, e.code())
        }
        Err(Fail::Plain(status, code, msg)) => (error(status, code, &msg, request_id), code),
    }
}

/// Runs the handler of `route` (one arm per route of [`Route`]); a method it does not take is 405.
async fn dispatch(app: &App, req: Request<Incoming>, route: Route<'_>, user: UserId) -> Result<Response<Body>, Fail> {
    let method = req.method().clone();
    let not_allowed = || {
        Fail::Plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} is not allowed here"),
        )
    };
    let allow = |m: Method| if method == m { Ok(()) } else { Err(not_allowed()) };
    let decode =
        |p: &str| percent::decode(p, false).ok_or_else(|| bad("the note path is not valid percent-encoded UTF-8"));
    match route {
        Route::Me => {
            allow(Method::GET)?;
            Ok(json_response(StatusCode::OK, &json!({"user": user.as_str()})))
        }
        Route::Export => {
            allow(Method::GET)?;
            export(app, user).await
        }
        Route::Notes => {
            allow(Method::GET)?;
            let q = query(&req)?;
            let (folder, cursor) = (
                param(&q, "folder").map(str::to_owned),
                param(&q, "cursor").map(str::to_owned),
            );
            let limit = number(&q, "limit")?;
            let list = blocking(app, &user, move |s, user| {
                s.list(user, folder.as_deref(), limit, cursor.as_deref())
            })
            .await?;
            Ok(json_response(StatusCode::OK, &list))
        }
        Route::Search => {
            allow(Method::GET)?;
            let q = query(&req)?;
            let text = param(&q, "q").unwrap_or("").to_owned();
            let tags: Vec<String> = param(&q, "tags")
                .map(|t| t.split(',').map(str::to_owned).collect())
                .unwrap_or_default();
            let folder = param(&q, "folder").map(str::to_owned);
            let limit = number(&q, "limit")?;
            let hits = weighted(app, &user, Weight::Heavy, move |s, user| {
                s.search(user, &text, &tags, folder.as_deref(), limit)
            })
            .await?;
            Ok(json_response(StatusCode::OK, &json!({"results": hits})))
        }
        Route::Import => {
            allow(Method::POST)?;
            import(app, req, user).await
        }
        Route::Render => {
            allow(Method::POST)?;
            render_draft(app, req, user).await
        }
        Route::Tags => {
            allow(Method::GET)?;
            let tags = weighted(app, &user, Weight::Heavy, move |s, user| s.tags(user)).await?;
            Ok(json_response(StatusCode::OK, &json!({"tags": tags})))
        }
        Route::Backlinks(rest) => {
            allow(Method::GET)?;
            let path = decode(rest)?;
            let links = weighted(app, &user, Weight::Heavy, move |s, user| s.backlinks(user, &path)).await?;
            Ok(json_response(StatusCode::OK, &json!({"backlinks": links})))
        }
        Route::Move(note) => {
            allow(Method::POST)?;
            let from = decode(note)?;
            let body: MoveBody = read_json(req, 64 * 1024).await?;
            let moved = blocking(app, &user, move |s, user| s.move_note(user, &from, &body.new_path)).await?;
            let hash = moved.hash.clone();
            Ok(with_etag(json_response(StatusCode::OK, &moved), &hash))
        }
        Route::Note(rest) => {
            let path = decode(rest)?;
            match method {
                Method::GET => {
                    let html = wants_html(&query(&req)?)?;
                    let (note, rendered) = blocking(app, &user, move |s, user| {
                        let note = s.read(user, &path)?;
                        let rendered = if html {
                            s.render(user, Some(&note.path), &note.content)?.ok()
                        } else {
                            None
                        };
                        Ok((note, rendered))
                    })
                    .await?;
                    let hash = note.hash.clone();
                    let mut v = serde_json::to_value(&note).unwrap_or(Value::Null);
                    if let Some(h) = rendered {
                        v["html"] = Value::String(h);
                    }
                    Ok(with_etag(json_response(StatusCode::OK, &v), &hash))
                }
                Method::PUT => {
                    let header_match = if_match(&req)?;
                    let mut body: WriteRequest = read_json(req, app.max_body).await?;
                    if header_match.is_some() {
                        body.if_match = header_match;
                    }
                    let w = blocking(app, &user, move |s, user| s.write(user, &path, body)).await?;
                    let mut v = serde_json::to_value(&w.note).unwrap_or(Value::Null);
                    v["created"] = Value::Bool(w.created);
                    let status = if w.created { StatusCode::CREATED } else { StatusCode::OK };
                    Ok(with_etag(json_response(status, &v), &w.note.hash))
                }
                Method::DELETE => {
                    let m = if_match(&req)?;
                    let shown = path.clone();
                    blocking(app, &user, move |s, user| s.delete(user, &path, m.as_ref())).await?;
                    Ok(json_response(StatusCode::OK, &json!({"deleted": shown})))
                }
                _ => Err(not_allowed()),
            }
        }
        Route::Healthz | Route::Readyz | Route::Mcp | Route::Other => {
            Err(Fail::Plain(StatusCode::NOT_FOUND, "not_found", "no such route".into()))
        }
    }
}
