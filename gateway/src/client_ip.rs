//! Who the client is, for rate limits and audit lines: the socket peer, or — when the peer is
//! one of `TRUSTED_PROXIES` — the first hop, walking the forwarding header from the right,
//! that is not itself a trusted proxy. Also the one list of headers that say a request was
//! forwarded at all (used by the local-only routes).

use std::hash::BuildHasher;
use std::net::IpAddr;

use ipnet::IpNet;
use pingora::http::RequestHeader;

/// Headers that reveal a request came through a forwarder (reverse proxy, tunnel, CDN). A
/// request carrying any of them did not come straight from a browser on this machine.
pub const FORWARDING_HEADERS: [&str; 12] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-server",
    "x-real-ip",
    "x-client-ip",
    "cf-connecting-ip",
    "cf-ray",
    "true-client-ip",
    "fastly-client-ip",
];

/// True when the request carries any forwarding header (any `x-forwarded-*` counts).
pub fn is_forwarded(req: &RequestHeader) -> bool {
    req.headers.keys().any(|name| {
        let n = name.as_str();
        n.starts_with("x-forwarded-") || FORWARDING_HEADERS.contains(&n)
    })
}

/// Ranges trusted by default on a Hugging Face Space (`SPACE_HOST` set, `TRUSTED_PROXIES`
/// unset): the private networks its proxies connect from. Every visitor arrives from one of
/// them, so without this all visitors would share one bucket.
pub const SPACE_DEFAULT_PROXIES: [&str; 5] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "fc00::/7",
];

/// Which header a trusted proxy's hops are read from (`CLIENT_IP_HEADER`). Only one is ever
/// read: a proxy that maintains one of them passes the other through from the client unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ForwardHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2`.
    #[default]
    #[value(name = "x-forwarded-for")]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client;proto=https, for=proxy1`.
    #[value(name = "forwarded")]
    Forwarded,
}

/// The key a client is counted and audited under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientAddr {
    /// An address.
    Ip(IpAddr),
    /// A hop a trusted proxy wrote that is not an address (`unknown`, an RFC 7239 obfuscated
    /// identifier, junk): its own bucket, named by a keyed hash of its text, so that such
    /// clients are neither merged with the proxy nor with each other.
    Opaque(u64),
}

impl ClientAddr {
    /// The address, when there is one.
    pub fn ip(self) -> Option<IpAddr> {
        match self {
            ClientAddr::Ip(ip) => Some(ip),
            ClientAddr::Opaque(_) => None,
        }
    }
}

impl std::fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientAddr::Ip(ip) => ip.fmt(f),
            ClientAddr::Opaque(h) => write!(f, "opaque-{h:016x}"),
        }
    }
}

/// The trusted proxy ranges and the header they write.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ForwardHeader,
    hasher: std::collections::hash_map::RandomState,
}

/// Longest hop text looked at (longer ones are unparsable and hashed by their first bytes).
const MAX_HOP: usize = 256;

impl TrustedProxies {
    /// From the configured CIDRs and header.
    pub fn new(nets: Vec<IpNet>, header: ForwardHeader) -> Self {
        Self {
            nets,
            header,
            hasher: Default::default(),
        }
    }

    fn trusts(&self, ip: &IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(ip))
    }

    fn opaque(&self, hop: &[u8]) -> ClientAddr {
        ClientAddr::Opaque(self.hasher.hash_one(&hop[..hop.len().min(MAX_HOP)]))
    }

    /// The client of this request. Walks the hops from the right (the nearest proxy's entry
    /// first), skipping trusted ones; the first untrusted or unparsable hop is the client.
    /// When every hop is trusted, the left-most (the originating one) is. A trusted peer that
    /// sent no hops is itself the client (a health check from the proxy host).
    pub fn client(&self, peer: Option<IpAddr>, req: &RequestHeader) -> Option<ClientAddr> {
        let peer = peer?.to_canonical();
        if self.nets.is_empty() || !self.trusts(&peer) {
            return Some(ClientAddr::Ip(peer));
        }
        let name = match self.header {
            ForwardHeader::XForwardedFor => "x-forwarded-for",
            ForwardHeader::Forwarded => "forwarded",
        };
        let mut leftmost = None;
        for value in req.headers.get_all(name).iter().rev() {
            for element in value.as_bytes().rsplit(|&b| b == b',') {
                let hop = match self.header {
                    ForwardHeader::XForwardedFor => trim(element),
                    ForwardHeader::Forwarded => match forwarded_for(element) {
                        Some(h) => h,
                        // An element without `for=` says nothing about the client.
                        None if trim(element).is_empty() => continue,
                        None => b"unknown",
                    },
                };
                if hop.is_empty() {
                    continue;
                }
                match parse_hop(hop) {
                    Some(ip) if self.trusts(&ip) => leftmost = Some(ip),
                    Some(ip) => return Some(ClientAddr::Ip(ip)),
                    None => return Some(self.opaque(hop)),
                }
            }
        }
        Some(ClientAddr::Ip(leftmost.unwrap_or(peer)))
    }
}

fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// The `for=` value of one RFC 7239 element (`for=1.2.3.4;proto=https`), quotes removed.
fn forwarded_for(element: &[u8]) -> Option<&[u8]> {
    element.split(|&b| b == b';').find_map(|pair| {
        let pair = trim(pair);
        let (name, value) = pair.split_at(pair.iter().position(|&b| b == b'=')?);
        name.eq_ignore_ascii_case(b"for").then(|| {
            let v = trim(&value[1..]);
            v.strip_prefix(b"\"").and_then(|v| v.strip_suffix(b"\"")).unwrap_or(v)
        })
    })
}

/// One hop as an address: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]`,
/// `[2001:db8::1]:443`; IPv4-mapped IPv6 becomes IPv4. Anything else is `None`.
pub fn parse_hop(hop: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(trim(hop)).ok()?;
    let s = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(s);
    let ip = if let Some(rest) = s.strip_prefix('[') {
        let (inner, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        IpAddr::V6(inner.parse().ok()?)
    } else if s.bytes().filter(|&b| b == b':').count() == 1 {
        let (host, port) = s.split_once(':')?;
        if !is_port(port) {
            return None;
        }
        IpAddr::V4(host.parse().ok()?)
    } else {
        s.parse().ok()?
    };
    Some(ip.to_canonical())
}

fn is_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(name: &str, values: &[&str]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/", None).unwrap();
        for v in values {
            r.append_header(name.to_owned(), *v).unwrap();
        }
        r
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn hop_table() {
        for (hop, want) in [
            ("1.2.3.4", Some("1.2.3.4")),
            (" 1.2.3.4 ", Some("1.2.3.4")),
            ("1.2.3.4:8080", Some("1.2.3.4")),
            ("2001:db8::1", Some("2001:db8::1")),
            ("[2001:db8::1]", Some("2001:db8::1")),
            ("[2001:db8::1]:443", Some("2001:db8::1")),
            ("\"[2001:db8::1]:443\"", Some("2001:db8::1")),
            ("::ffff:9.9.9.9", Some("9.9.9.9")),
            ("unknown", None),
            ("_hidden", None),
            ("1.2.3.4:", None),
            ("1.2.3.4:99999x", None),
            ("[2001:db8::1]x", None),
            ("[1.2.3.4]", None),
            ("999.1.1.1", None),
            ("", None),
            ("1.2.3.4 5.6.7.8", None),
        ] {
            assert_eq!(parse_hop(hop.as_bytes()), want.map(ip), "{hop:?}");
        }
    }

    #[test]
    fn client_table() {
        let t = TrustedProxies::new(
            vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()],
            ForwardHeader::XForwardedFor,
        );
        let proxy = Some(ip("10.0.0.1"));
        let xff = |v: &[&str]| req("x-forwarded-for", v);
        let unknown = t.client(proxy, &xff(&["unknown"]));
        let junk = t.client(proxy, &xff(&["garbage"]));
        let cases: Vec<(&str, Option<IpAddr>, RequestHeader, Option<ClientAddr>)> = vec![
            (
                "untrusted peer: XFF ignored",
                Some(ip("1.2.3.4")),
                xff(&["9.9.9.9"]),
                Some(ClientAddr::Ip(ip("1.2.3.4"))),
            ),
            ("one hop", proxy, xff(&["9.9.9.9"]), Some(ClientAddr::Ip(ip("9.9.9.9")))),
            (
                "spoofed left hops ignored",
                proxy,
                xff(&["6.6.6.6, 9.9.9.9, 10.0.0.2"]),
                Some(ClientAddr::Ip(ip("9.9.9.9"))),
            ),
            (
                "several header lines",
                proxy,
                xff(&["6.6.6.6", "9.9.9.9"]),
                Some(ClientAddr::Ip(ip("9.9.9.9"))),
            ),
            (
                "port stripped",
                proxy,
                xff(&["9.9.9.9:5555"]),
                Some(ClientAddr::Ip(ip("9.9.9.9"))),
            ),
            (
                "v6 with port",
                proxy,
                xff(&["[2001:db8::7]:1"]),
                Some(ClientAddr::Ip(ip("2001:db8::7"))),
            ),
            (
                "junk on the left does not hide the client",
                proxy,
                xff(&["garbage, 9.9.9.9"]),
                Some(ClientAddr::Ip(ip("9.9.9.9"))),
            ),
            (
                "junk right of the client is the client",
                proxy,
                xff(&["9.9.9.9, garbage"]),
                junk,
            ),
            (
                "all trusted: the left-most",
                proxy,
                xff(&["10.1.1.1, 10.2.2.2"]),
                Some(ClientAddr::Ip(ip("10.1.1.1"))),
            ),
            (
                "no header: the peer itself",
                proxy,
                xff(&[]),
                Some(ClientAddr::Ip(ip("10.0.0.1"))),
            ),
            (
                "empty elements skipped",
                proxy,
                xff(&["9.9.9.9, , "]),
                Some(ClientAddr::Ip(ip("9.9.9.9"))),
            ),
            (
                "mapped v4 peer",
                Some(ip("::ffff:10.0.0.1")),
                xff(&["9.9.9.9"]),
                Some(ClientAddr::Ip(ip("9.9.9.9"))),
            ),
            ("no peer", None, xff(&["9.9.9.9"]), None),
        ];
        for (name, peer, r, want) in cases {
            assert_eq!(t.client(peer, &r), want, "{name}");
        }
        // Unparsable hops get their own buckets: never the proxy's, never merged with each other.
        assert!(matches!(unknown, Some(ClientAddr::Opaque(_))));
        assert_ne!(unknown, junk);
        assert_eq!(unknown, t.client(proxy, &xff(&["1.1.1.1, unknown"])));
        // Nothing trusted: the peer, whatever the header says.
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(proxy, &xff(&["9.9.9.9"])),
            Some(ClientAddr::Ip(ip("10.0.0.1")))
        );
    }

    #[test]
    fn rfc7239_table() {
        let t = TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()], ForwardHeader::Forwarded);
        let proxy = Some(ip("10.0.0.1"));
        let fwd = |v: &[&str]| req("forwarded", v);
        for (value, want) in [
            ("for=9.9.9.9", Some("9.9.9.9")),
            ("For=\"9.9.9.9:80\";proto=https", Some("9.9.9.9")),
            ("for=6.6.6.6, for=9.9.9.9;by=10.0.0.1, for=10.0.0.2", Some("9.9.9.9")),
            ("for=\"[2001:db8:cafe::17]:4711\"", Some("2001:db8:cafe::17")),
            ("proto=https;for=9.9.9.9", Some("9.9.9.9")),
        ] {
            assert_eq!(
                t.client(proxy, &fwd(&[value])),
                want.map(|w| ClientAddr::Ip(ip(w))),
                "{value}"
            );
        }
        for opaque in ["for=unknown", "for=_hidden", "proto=https", "for=9.9.9.9, for=\"_x\""] {
            assert!(
                matches!(t.client(proxy, &fwd(&[opaque])), Some(ClientAddr::Opaque(_))),
                "{opaque}"
            );
        }
        // The other header is never read.
        assert_eq!(
            t.client(proxy, &req("x-forwarded-for", &["9.9.9.9"])),
            Some(ClientAddr::Ip(ip("10.0.0.1")))
        );
    }

    #[test]
    fn forwarded_table() {
        for (name, fwd) in [
            ("forwarded", true),
            ("x-forwarded-for", true),
            ("x-forwarded-anything", true),
            ("x-real-ip", true),
            ("cf-connecting-ip", true),
            ("true-client-ip", true),
            ("accept", false),
            ("x-forwarder", false),
        ] {
            assert_eq!(is_forwarded(&req(name, &["1"])), fwd, "{name}");
        }
        assert!(!is_forwarded(&req("accept", &[])));
    }
}
