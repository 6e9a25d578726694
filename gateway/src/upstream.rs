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
    /// The two peers, built once when `addr` is a literal socket address: `HttpPeer::new`
    /// parses the address on every call. A host name is still resolved per request, so a
    /// backend that moves to another address is followed.
    built: Option<Box<[HttpPeer; 2]>>,
}

impl Backend {
    /// The backend at `addr` (`host:port`); each read waits at most `read_timeout`.
    pub fn new(addr: String, read_timeout: Duration) -> Self {
        let probe = reqwest::Client::builder()
            .timeout(CONNECT_TIMEOUT)
            .no_proxy()
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        let built = addr
            .parse::<std::net::SocketAddr>()
            .ok()
            .map(|a| Box::new([false, true].map(|streaming| make_peer(a, read_timeout, streaming))));
        Self {
            addr,
            read_timeout,
            probe,
            built,
        }
    }

    /// A peer for one request; `streaming` requests (SSE listen streams) get no read timeout.
    pub fn peer(&self, streaming: bool) -> Box<HttpPeer> {
        match &self.built {
            Some(peers) => Box::new(peers[usize::from(streaming)].clone()),
            None => Box::new(make_peer(self.addr.as_str(), self.read_timeout, streaming)),
        }
    }

    /// True when the backend answers `GET /readyz` with 200 within a second. A backend without
    /// `/readyz` (the contract requires only `/healthz`, so it may answer 401 or 404) is asked
    /// `GET /healthz` instead; a 503 from `/readyz` is final.
    pub async fn ready(&self) -> bool {
        let url = format!("http://{}/readyz", self.addr);
        match self.probe.get(url).send().await {
            Ok(r) if r.status() == 200 => true,
            Ok(r) if r.status().is_client_error() => {
                let url = format!("http://{}/healthz", self.addr);
                matches!(self.probe.get(url).send().await, Ok(r) if r.status() == 200)
            }
            _ => false,
        }
    }
}

/// The backend peer with the gateway's timeouts; `streaming` (SSE) peers have no read timeout.
fn make_peer(addr: impl std::net::ToSocketAddrs, read_timeout: Duration, streaming: bool) -> HttpPeer {
    let mut peer = HttpPeer::new(addr, false, String::new());
    peer.options.connection_timeout = Some(CONNECT_TIMEOUT);
    peer.options.total_connection_timeout = Some(CONNECT_TIMEOUT);
    peer.options.idle_timeout = Some(POOL_IDLE);
    peer.options.read_timeout = (!streaming).then_some(read_timeout);
    peer.options.write_timeout = Some(read_timeout);
    peer
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
