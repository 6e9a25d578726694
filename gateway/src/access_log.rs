//! `ACCESS_LOG=true`: one JSON line per request on stderr, whatever `LOG_FORMAT` says.
//!
//! The line names the route by its label, never the path or query string (which can carry
//! note names and search words), and the client by the class of its address, never the
//! address itself; no header value is logged, so no token either.

use std::io::Write;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use crate::client_ip::ClientAddr;

/// What one request's access line says.
pub struct Entry<'a> {
    pub method: &'static str,
    pub route: &'static str,
    pub status: u16,
    pub duration: Duration,
    pub bytes_in: usize,
    pub bytes_out: usize,
    pub request_id: &'a str,
    pub trace_id: Option<String>,
    pub client: Option<ClientAddr>,
    pub mcp_method: Option<&'static str>,
}

impl Entry<'_> {
    /// The JSON line, without its newline.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "timestamp": humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            "target": "access",
            "method": self.method,
            "route": self.route,
            "status": self.status,
            "duration_ms": (self.duration.as_secs_f64() * 1e6).round() / 1e3,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "request_id": self.request_id,
            "trace_id": self.trace_id,
            "client": client_class(self.client),
            "mcp_method": self.mcp_method,
        })
        .to_string()
    }

    /// Writes the line to stderr in one write.
    pub fn write(&self) {
        let mut line = self.to_json();
        line.push('\n');
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

/// The class of a client address: `loopback`, `private`, `link_local`, `public`, `opaque`
/// (a trusted proxy named it by something else than an address) or `unknown`.
pub fn client_class(client: Option<ClientAddr>) -> &'static str {
    let ip = match client {
        None => return "unknown",
        Some(ClientAddr::Opaque(_)) => return "opaque",
        Some(ClientAddr::Ip(ip)) => ip.to_canonical(),
    };
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => "loopback",
        IpAddr::V4(v4) if v4.is_link_local() => "link_local",
        // RFC 1918 and the RFC 6598 shared (carrier-grade NAT) range.
        IpAddr::V4(v4) if v4.is_private() || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64) => "private",
        IpAddr::V6(v6) if v6.is_loopback() => "loopback",
        IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80 => "link_local",
        // Unique local addresses, fc00::/7.
        IpAddr::V6(v6) if (v6.segments()[0] & 0xfe00) == 0xfc00 => "private",
        _ => "public",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let table = [
            ("127.0.0.1", "loopback"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "private"),
            ("100.128.0.1", "public"),
            ("fd00::1", "private"),
            ("169.254.1.1", "link_local"),
            ("fe80::1", "link_local"),
            ("8.8.8.8", "public"),
            ("2001:db8::1", "public"),
            ("::ffff:10.0.0.1", "private"),
        ];
        for (ip, want) in table {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(client_class(Some(ClientAddr::Ip(ip))), want, "{ip}");
        }
        assert_eq!(client_class(None), "unknown");
        assert_eq!(client_class(Some(ClientAddr::Opaque(7))), "opaque");
    }

    #[test]
    fn the_line_has_its_fields_and_no_address() {
        let e = Entry {
            method: "POST",
            route: "mcp",
            status: 200,
            duration: Duration::from_micros(1500),
            bytes_in: 10,
            bytes_out: 20,
            request_id: "rid",
            trace_id: None,
            client: Some(ClientAddr::Ip("203.0.113.9".parse().unwrap())),
            mcp_method: Some("tools/call"),
        };
        let line = e.to_json();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["route"], "mcp");
        assert_eq!(v["duration_ms"], 1.5);
        assert_eq!(v["client"], "public");
        assert!(v["trace_id"].is_null());
        assert!(!line.contains("203.0.113.9"));
    }
}
