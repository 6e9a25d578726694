//! A throwaway `redis-server` on a free loopback port, for the shared-state tests: no
//! persistence (`--save '' --appendonly no`), killed by its PID when dropped.
//!
//! When `redis-server` is not installed the tests that need it follow `crate::tools`: skipped
//! with a message, except in CI, where `.ci/run` installs it and a missing server is a failure.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{Proc, free_port};

/// A running redis-server.
pub struct Redis {
    pub port: u16,
    proc_: Option<Proc>,
    dir: tempfile::TempDir,
}

fn installed() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

impl Redis {
    /// Starts redis-server on a free port; `None` (after saying why) when it is not installed
    /// outside CI. In CI a missing redis-server panics: the shared-store tests must not vanish.
    pub fn start() -> Option<Self> {
        crate::tools::require(
            installed().then_some(()),
            "`redis-server`",
            "apt-get install -y redis-server",
        )?;
        let mut r = Self {
            port: free_port(),
            proc_: None,
            dir: tempfile::tempdir().expect("tempdir"),
        };
        r.launch();
        Some(r)
    }

    fn launch(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.args([
            "--port",
            &self.port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(["--protected-mode", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(self.dir.path());
        let mut p = Proc::spawn(cmd, "redis");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.ping() {
            assert!(p.alive(), "redis-server exited:\n{}", p.logs());
            assert!(Instant::now() < deadline, "redis-server did not answer:\n{}", p.logs());
            std::thread::sleep(Duration::from_millis(20));
        }
        self.proc_ = Some(p);
    }

    /// `REDIS_URL` for this server.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// True when the server answers PING.
    pub fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect_timeout(&([127, 0, 0, 1], self.port).into(), Duration::from_millis(200))
        else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// Sends a raw command line (inline protocol) and returns the reply's first line.
    pub fn command(&self, line: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis");
        s.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
        s.write_all(format!("{line}\r\n").as_bytes()).expect("write");
        let mut out = Vec::new();
        let mut b = [0u8; 1];
        while s.read(&mut b).is_ok_and(|n| n == 1) {
            out.push(b[0]);
            if out.ends_with(b"\r\n") {
                break;
            }
        }
        String::from_utf8_lossy(&out).trim_end().to_owned()
    }

    /// Kills the server (SIGKILL, by PID) as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc_.take() {
            p.kill();
        }
    }

    /// Starts the server again on the same port (empty: it keeps nothing on disk).
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}
