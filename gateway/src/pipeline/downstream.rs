//! The little of Pingora's `Session` the request stages use: the request header, the peer,
//! and reading the (small) body. Stages are written against [`Downstream`], so each can be
//! unit-tested with a `RequestHeader` and a body, without a socket.

use std::future::Future;
use std::net::IpAddr;

use bytes::{Bytes, BytesMut};
use pingora::http::RequestHeader;
use pingora::proxy::Session;

/// Why reading a request body in the gateway failed.
#[derive(Debug)]
pub enum BodyError {
    /// Over the size the gateway reads (declared or sent).
    TooLarge,
    /// The client went away or sent a broken body.
    Io(Box<pingora::Error>),
}

/// A client connection as the stages see it.
pub trait Downstream: Send {
    /// The request header.
    fn req_header(&self) -> &RequestHeader;
    /// The socket peer's address.
    fn peer(&self) -> Option<IpAddr>;
    /// Reads the whole body, kept for replay upstream, refusing more than `max` bytes.
    fn read_body(&mut self, max: usize) -> impl Future<Output = Result<Bytes, BodyError>> + Send;
}

impl Downstream for Session {
    fn req_header(&self) -> &RequestHeader {
        self.as_downstream().req_header()
    }

    fn peer(&self) -> Option<IpAddr> {
        self.as_downstream()
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip())
    }

    async fn read_body(&mut self, max: usize) -> Result<Bytes, BodyError> {
        let s = self.as_downstream_mut();
        let declared = s
            .req_header()
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max as u64) {
            return Err(BodyError::TooLarge);
        }
        s.enable_retry_buffering();
        let mut body = BytesMut::new();
        loop {
            match s.read_request_body().await {
                Ok(Some(chunk)) => {
                    body.extend_from_slice(&chunk);
                    if body.len() > max {
                        return Err(BodyError::TooLarge);
                    }
                }
                Ok(None) => break,
                Err(e) => return Err(BodyError::Io(e)),
            }
        }
        Ok(body.freeze())
    }
}

/// A request without a socket, for stage tests.
#[cfg(test)]
pub struct Fake {
    pub req: RequestHeader,
    pub body: Bytes,
    pub peer: Option<IpAddr>,
    /// How many times the body was read.
    pub reads: usize,
}

#[cfg(test)]
impl Fake {
    /// `method path` with `headers` and `body`, from 192.0.2.1.
    pub fn new(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Self {
        let mut req = RequestHeader::build(method, path.as_bytes(), None).expect("request");
        for (k, v) in headers {
            req.append_header(k.to_string(), *v).expect("header");
        }
        Self {
            req,
            body: Bytes::copy_from_slice(body.as_bytes()),
            peer: Some(IpAddr::from([192, 0, 2, 1])),
            reads: 0,
        }
    }
}

#[cfg(test)]
impl Downstream for Fake {
    fn req_header(&self) -> &RequestHeader {
        &self.req
    }

    fn peer(&self) -> Option<IpAddr> {
        self.peer
    }

    async fn read_body(&mut self, max: usize) -> Result<Bytes, BodyError> {
        self.reads += 1;
        if self.body.len() > max {
            return Err(BodyError::TooLarge);
        }
        Ok(self.body.clone())
    }
}
