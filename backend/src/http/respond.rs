//! Building responses: JSON bodies and the shared error body.

use http::{Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use vaultgate_shared::ErrorBody;

use super::Body;

pub fn bytes(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)).boxed());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    r
}

pub fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(b) => bytes(status, "application/json", b),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error", ""),
    }
}

/// The shared JSON error body with `code` and `message`.
pub fn error(status: StatusCode, code: &str, message: &str, request_id: &str) -> Response<Body> {
    let mut body = ErrorBody::new(code, message);
    if !request_id.is_empty() {
        body = body.with_request_id(request_id);
    }
    bytes(status, "application/json", body.to_json())
}
