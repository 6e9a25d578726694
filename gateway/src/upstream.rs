//! The backend as the gateway sees it: how to connect, how to tell it is ready, and
//! how to name what went wrong when it is not.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pingora::prelude::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType};

/// Connect fast: a stopped backend must turn into a 502 within a second.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);
/// Pooled connections are dropped before the backend's own idle timeout closes them
/// (a stale pooled connection would turn a POST into a 502: POSTs are not retried).
const POOL_IDLE: Duration = Duration::from_secs(20);
/// How long a resolved backend address is used before it is looked up again (in the
/// background: requests keep the last answer meanwhile), so a backend that moves is followed.
const RESOLVE_EVERY: Duration = Duration::from_secs(5);
/// How long a failed lookup of a never-resolved name is remembered: a flood of requests
/// meanwhile gets 502s at once instead of one DNS query each.
const RESOLVE_RETRY: Duration = Duration::from_secs(1);
/// The longest a request waits for the first lookup of the backend's name.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);
/// The error type of a backend name that does not resolve.
const UNRESOLVED: ErrorType = ErrorType::Custom("backend name did not resolve");

/// Where and how to reach the backend.
#[derive(Debug, Clone)]
pub struct Backend {
    addr: String,
    read_timeout: Duration,
    probe: reqwest::Client,
    target: Target,
}

/// The backend's address: a literal one, with both peers built once (`HttpPeer::new` parses
/// the address on every call), or a host name resolved off the request path.
#[derive(Debug, Clone)]
enum Target {
    Fixed(Arc<Peers>),
    Named(Arc<Mutex<Lookup>>),
}

/// The two peers of one address: index 0 for ordinary requests, 1 for SSE streams.
type Peers = [HttpPeer; 2];

/// What is known of a backend host name. Pingora's `HttpPeer::new` would resolve the name
/// synchronously on the runtime's thread for every request, and panic when it does not
/// resolve; this resolves through Tokio's blocking pool, caches, and turns failure into a 502.
#[derive(Debug, Default)]
struct Lookup {
    /// The last successful answer and when it was obtained.
    peers: Option<(Arc<Peers>, Instant)>,
    /// When the last lookup failed.
    failed: Option<Instant>,
    /// A background refresh is in flight.
    refreshing: bool,
}

impl Backend {
    /// The backend at `addr` (`host:port`); each read waits at most `read_timeout`.
    pub fn new(addr: String, read_timeout: Duration) -> Self {
        let probe = reqwest::Client::builder()
            .timeout(CONNECT_TIMEOUT)
            .no_proxy()
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        let target = match addr.parse::<SocketAddr>() {
            Ok(a) => Target::Fixed(Arc::new(peers(a, read_timeout))),
            Err(_) => Target::Named(Arc::default()),
        };
        Self {
            addr,
            read_timeout,
            probe,
            target,
        }
    }

    /// A peer for one request; `streaming` requests (SSE listen streams) get no read timeout.
    /// A backend host name that does not resolve is an error [`UpstreamFailure::classify`]
    /// names [`UpstreamFailure::Resolve`].
    pub async fn peer(&self, streaming: bool) -> pingora::Result<Box<HttpPeer>> {
        let peers = match &self.target {
            Target::Fixed(p) => p.clone(),
            Target::Named(lookup) => self.named(lookup).await?,
        };
        Ok(Box::new(peers[usize::from(streaming)].clone()))
    }

    async fn named(&self, lookup: &Arc<Mutex<Lookup>>) -> pingora::Result<Arc<Peers>> {
        let now = Instant::now();
        {
            let mut l = lookup.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((peers, at)) = &l.peers {
                let peers = peers.clone();
                if now.duration_since(*at) >= RESOLVE_EVERY && !l.refreshing {
                    l.refreshing = true;
                    let (this, lookup) = (self.clone(), lookup.clone());
                    tokio::spawn(async move {
                        let _ = this.resolve(&lookup).await;
                    });
                }
                return Ok(peers);
            }
            if l.failed.is_some_and(|t| now.duration_since(t) < RESOLVE_RETRY) {
                return Err(self.unresolved("the last lookup failed moments ago"));
            }
        }
        self.resolve(lookup).await
    }

    /// Looks the name up once and records the answer; a failure keeps an earlier answer (a
    /// DNS hiccup is not an outage; a backend that is really gone fails to connect instead).
    async fn resolve(&self, lookup: &Mutex<Lookup>) -> pingora::Result<Arc<Peers>> {
        let answer = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host(self.addr.as_str())).await;
        let first = match answer {
            Ok(Ok(mut addrs)) => addrs.next(),
            Ok(Err(e)) => {
                tracing::warn!(backend = %self.addr, error = %e, "the backend's name does not resolve");
                None
            }
            Err(_) => {
                tracing::warn!(backend = %self.addr, "the backend's name did not resolve in time");
                None
            }
        };
        let mut l = lookup.lock().unwrap_or_else(|e| e.into_inner());
        l.refreshing = false;
        match first {
            Some(addr) => {
                let p = Arc::new(peers(addr, self.read_timeout));
                l.peers = Some((p.clone(), Instant::now()));
                l.failed = None;
                Ok(p)
            }
            None => {
                l.failed = Some(Instant::now());
                match &mut l.peers {
                    Some((p, at)) => {
                        // Look again after the next interval, not on every request.
                        *at = Instant::now();
                        Ok(p.clone())
                    }
                    None => Err(self.unresolved("no address")),
                }
            }
        }
    }

    fn unresolved(&self, why: &'static str) -> Box<Error> {
        Error::create(UNRESOLVED, ErrorSource::Upstream, Some(why.into()), None)
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

fn peers(addr: SocketAddr, read_timeout: Duration) -> Peers {
    [false, true].map(|streaming| make_peer(addr, read_timeout, streaming))
}

/// The backend peer with the gateway's timeouts; `streaming` (SSE) peers have no read timeout.
fn make_peer(addr: SocketAddr, read_timeout: Duration, streaming: bool) -> HttpPeer {
    let mut peer = HttpPeer::new(addr, false, String::new());
    peer.options.connection_timeout = Some(CONNECT_TIMEOUT);
    peer.options.total_connection_timeout = Some(CONNECT_TIMEOUT);
    peer.options.idle_timeout = Some(POOL_IDLE);
    peer.options.read_timeout = (!streaming).then_some(read_timeout);
    peer.options.write_timeout = Some(read_timeout);
    peer
}

/// What kind of upstream failure an error is, for the metric (`kind`) and the status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter, strum::IntoStaticStr, strum::AsRefStr)]
#[strum(serialize_all = "snake_case")]
pub enum UpstreamFailure {
    /// Could not connect: 502.
    Connect,
    /// Connected but no timely answer: 504.
    Timeout,
    /// The connection broke mid-request: 502.
    Reset,
    /// The backend's host name does not resolve: 502.
    Resolve,
}

impl UpstreamFailure {
    /// Classifies a proxy error; `None` when the backend was not at fault.
    pub fn classify(e: &Error) -> Option<Self> {
        use ErrorType::*;
        match e.etype() {
            t if *t == UNRESOLVED => Some(Self::Resolve),
            ConnectTimedout | ReadTimedout | WriteTimedout => Some(Self::Timeout),
            ConnectRefused | ConnectNoRoute | ConnectError | BindError | SocketError => Some(Self::Connect),
            _ if e.esource() == &ErrorSource::Upstream => Some(Self::Reset),
            _ => None,
        }
    }

    /// The metric label.
    pub fn kind(self) -> &'static str {
        self.into()
    }

    /// The status the client gets.
    pub fn status(self) -> u16 {
        match self {
            Self::Timeout => 504,
            Self::Connect | Self::Reset | Self::Resolve => 502,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::upstreams::peer::Peer;

    fn backend(addr: &str) -> Backend {
        Backend::new(addr.to_owned(), Duration::from_secs(5))
    }

    #[tokio::test]
    async fn literal_and_named_addresses() {
        for (addr, resolves) in [
            ("127.0.0.1:8001", true),
            ("[::1]:8001", true),
            ("localhost:8001", true),
            ("no-such-backend.invalid:8001", false),
        ] {
            let b = backend(addr);
            match b.peer(false).await {
                Ok(p) => {
                    assert!(resolves, "{addr}");
                    let a = p.address().as_inet().expect("an inet address");
                    assert!(a.ip().is_loopback() && a.port() == 8001, "{addr} → {a}");
                    assert_eq!(p.options.read_timeout, Some(Duration::from_secs(5)));
                    let stream = b.peer(true).await.expect("the same answer");
                    assert_eq!(stream.options.read_timeout, None, "SSE peers have no read timeout");
                }
                Err(e) => {
                    assert!(!resolves, "{addr}: {e}");
                    assert_eq!(UpstreamFailure::classify(&e), Some(UpstreamFailure::Resolve));
                    assert_eq!(UpstreamFailure::Resolve.status(), 502);
                }
            }
        }
    }

    #[tokio::test]
    async fn a_failed_lookup_is_not_repeated_by_every_request() {
        let b = backend("no-such-backend.invalid:8001");
        assert!(b.peer(false).await.is_err());
        let Target::Named(lookup) = &b.target else {
            panic!("a named target")
        };
        let failed = lookup.lock().unwrap().failed.expect("the failure is remembered");
        // Within RESOLVE_RETRY the answer comes from the record, not from a new lookup.
        let e = b.peer(false).await.expect_err("still unresolved");
        assert_eq!(UpstreamFailure::classify(&e), Some(UpstreamFailure::Resolve));
        assert_eq!(lookup.lock().unwrap().failed, Some(failed));
    }

    #[tokio::test]
    async fn an_earlier_answer_outlives_a_failed_refresh() {
        let b = backend("localhost:8001");
        b.peer(false).await.expect("localhost resolves");
        let Target::Named(lookup) = &b.target else {
            panic!("a named target")
        };
        // Pretend the name stopped resolving: the next lookup of a bogus name fails, and the
        // earlier peers are still served.
        let bogus = Backend {
            addr: "no-such-backend.invalid:8001".into(),
            ..b.clone()
        };
        let kept = bogus.resolve(lookup).await.expect("the earlier answer is kept");
        assert!(kept[0].address().as_inet().is_some_and(|a| a.ip().is_loopback()));
    }
}
