//! `bench-passthrough`: a bare Pingora pass-through proxy with no filters at all — the
//! framework's own floor for the gateway benchmark. Same server settings and allocator as
//! `vaultgate-gateway` (one worker thread, no work stealing, mimalloc, the workspace's release
//! profile), so the difference between the two is the gateway's own work.
//!
//! Usage: `bench-passthrough <listen port> <upstream host:port>` (binds 127.0.0.1).

use std::time::Duration;

use async_trait::async_trait;
use pingora::prelude::HttpPeer;
use pingora::proxy::{ProxyHttp, Session, http_proxy_service_with_name};
use pingora::server::Server;
use pingora::server::configuration::ServerConf;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct PassThrough {
    upstream: String,
}

#[async_trait]
impl ProxyHttp for PassThrough {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _s: &mut Session, _ctx: &mut ()) -> pingora::Result<Box<HttpPeer>> {
        let mut peer = HttpPeer::new(self.upstream.as_str(), false, String::new());
        // The gateway's peer options (gateway/src/upstream.rs, `Backend::peer`, with the default
        // UPSTREAM_TIMEOUT): a proxy fit for production has them, and Pingora arms a timer for
        // every upstream read and write that has a timeout, so leaving them out here would
        // count that timer work as the gateway's own.
        peer.options.connection_timeout = Some(Duration::from_secs(1));
        peer.options.total_connection_timeout = Some(Duration::from_secs(1));
        peer.options.idle_timeout = Some(Duration::from_secs(20));
        peer.options.read_timeout = Some(Duration::from_secs(120));
        peer.options.write_timeout = Some(Duration::from_secs(120));
        Ok(Box::new(peer))
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(port), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: bench-passthrough <listen port> <upstream host:port>");
        std::process::exit(2);
    };
    let conf = ServerConf {
        threads: 1,
        work_stealing: false,
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut proxy = http_proxy_service_with_name(&server.configuration, PassThrough { upstream }, "bench-passthrough");
    proxy.add_tcp(&format!("127.0.0.1:{port}"));
    server.add_service(proxy);
    server.run_forever()
}
