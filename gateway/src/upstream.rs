//! The backend as the gateway sees it: how to connect, how to tell it is ready, and
//! how to name what went wrong when it is not.

use std::time::Duration;

use pingora::prelude::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType};

/// Connect fast: a stopped backend must turn into a 502 within a second.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);
/// Pooled connections are dropped before the backend's own idle timeout closes them
/// (a stale pooled connection would turn a POST into a 502: POSTs are not retried).
const POOL_IDLE: Duration = Duration::from_secs(20);

/// Where and how to reach the backend.
#[derive(Debug, Clone)]
pub struct Backend {
    addr: String,
    read_timeout: Duration,
    probe: reqwest::Client,
}

impl Backend {
    /// The backend at `addr` (`host:port`); each read waits at most `read_timeout`.
    pub fn new(addr: String, read_timeout: Duration) -> Self {
        let probe = reqwest::Client::builder()
            .timeout(CONNECT_TIMEOUT)
            .no_proxy()
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            addr,
            read_timeout,
            probe,
        }
    }

    /// A peer for one request; `streaming` requests (SSE listen streams) get no read timeout.
    pub fn peer(&self, streaming: bool) -> Box<HttpPeer> {
        let mut peer = HttpPeer::new(self.addr.as_str(), false, String::new());
        peer.options.connection_timeout = Some(CONNECT_TIMEOUT);
        peer.options.total_connection_timeout = Some(CONNECT_TIMEOUT);
        peer.options.idle_timeout = Some(POOL_IDLE);
        peer.options.read_timeout = (!streaming).then_some(self.read_timeout);
        peer.options.write_timeout = Some(self.read_timeout);
        Box::new(peer)
    }

    /// True when the backend answers `GET /healthz` with 200 within a second.
    pub async fn ready(&self) -> bool {
        let url = format!("http://{}/healthz", self.addr);
        matches!(self.probe.get(url).send().await, Ok(r) if r.status() == 200)
    }
}

/// What kind of upstream failure an error is, for the metric and the status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// Could not connect: 502.
    Connect,
    /// Connected but no timely answer: 504.
    Timeout,
    /// The connection broke mid-request: 502.
    Reset,
}

impl UpstreamFailure {
    /// Classifies a proxy error; `None` when the backend was not at fault.
    pub fn classify(e: &Error) -> Option<Self> {
        use ErrorType::*;
        match e.etype() {
            ConnectTimedout | ReadTimedout | WriteTimedout => Some(Self::Timeout),
            ConnectRefused | ConnectNoRoute | ConnectError | BindError | SocketError => Some(Self::Connect),
            _ if e.esource() == &ErrorSource::Upstream => Some(Self::Reset),
            _ => None,
        }
    }

    /// The metric label.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Reset => "reset",
        }
    }

    /// The status the client gets.
    pub fn status(self) -> u16 {
        match self {
            Self::Timeout => 504,
            Self::Connect | Self::Reset => 502,
        }
    }
}
