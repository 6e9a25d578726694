//! The client's IP: the socket peer, or the right-most untrusted `X-Forwarded-For`
//! hop when the peer is one of `TRUSTED_PROXIES`.

use std::net::IpAddr;

use ipnet::IpNet;
use pingora::http::RequestHeader;

/// The trusted proxy ranges.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    /// From the configured CIDRs.
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self { nets }
    }

    fn trusts(&self, ip: &IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(ip))
    }

    /// The IP rate limits and audit lines use for this request.
    pub fn client_ip(&self, peer: Option<IpAddr>, req: &RequestHeader) -> Option<IpAddr> {
        let peer = peer?;
        if !self.trusts(&peer) {
            return Some(peer);
        }
        // Walk X-Forwarded-For from the right: the first hop we do not trust is the client.
        let hops: Vec<IpAddr> = req
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .map(|h| h.parse::<IpAddr>())
            .collect::<Result<_, _>>()
            .unwrap_or_default();
        Some(
            hops.iter()
                .rev()
                .find(|ip| !self.trusts(ip))
                .copied()
                .or(hops.first().copied())
                .unwrap_or(peer),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(xff: &[&str]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/", None).unwrap();
        for v in xff {
            r.append_header("X-Forwarded-For", *v).unwrap();
        }
        r
    }

    #[test]
    fn xff_only_from_trusted_peers() {
        let t = TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            t.client_ip(Some(ip("1.2.3.4")), &req(&["9.9.9.9"])),
            Some(ip("1.2.3.4"))
        );
        assert_eq!(
            t.client_ip(Some(ip("10.0.0.1")), &req(&["9.9.9.9"])),
            Some(ip("9.9.9.9"))
        );
        assert_eq!(
            t.client_ip(Some(ip("10.0.0.1")), &req(&["6.6.6.6, 9.9.9.9, 10.0.0.2"])),
            Some(ip("9.9.9.9"))
        );
        assert_eq!(
            t.client_ip(Some(ip("10.0.0.1")), &req(&["6.6.6.6", "9.9.9.9"])),
            Some(ip("9.9.9.9"))
        );
        assert_eq!(
            t.client_ip(Some(ip("10.0.0.1")), &req(&["garbage"])),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(t.client_ip(Some(ip("10.0.0.1")), &req(&[])), Some(ip("10.0.0.1")));
        assert_eq!(
            TrustedProxies::default().client_ip(Some(ip("10.0.0.1")), &req(&["9.9.9.9"])),
            Some(ip("10.0.0.1"))
        );
    }
}
