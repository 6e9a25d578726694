//! External tools some tests drive (hadolint, promtool, prometheus, redis-server, nginx,
//! chromium, node packages, Python virtual environments), and the one rule for when one is
//! missing: outside CI the test says what is missing and how to install it, then passes without
//! running; with `CI` set (`.ci/run` installs everything) it fails, so no test silently vanishes.

use std::path::PathBuf;

/// True when the `CI` environment variable is set to anything but empty, `0` or `false`.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// The first executable file named `name` in a `PATH` directory.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `tool` from `PATH`, or `None` (after saying so) when it is missing outside CI; panics in CI.
/// `install` tells a person how to get it.
pub fn require_tool(tool: &str, install: &str) -> Option<PathBuf> {
    require(on_path(tool), &format!("`{tool}`"), install)
}

/// Any prerequisite a test looked up itself (`found`, `None` when missing): passes it through,
/// or applies the missing-tool rule. Use as `let Some(x) = require(…) else { return };`.
pub fn require<T>(found: Option<T>, what: &str, install: &str) -> Option<T> {
    decide(found, what, install, in_ci())
}

fn decide<T>(found: Option<T>, what: &str, install: &str, ci: bool) -> Option<T> {
    if found.is_some() {
        return found;
    }
    let test = std::thread::current().name().unwrap_or("this test").to_owned();
    assert!(!ci, "{what} is missing and CI is set ({install}); {test} cannot run");
    eprintln!("SKIPPED: {test} did not run: {what} is missing ({install})");
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_present_prerequisite_is_passed_through_in_and_out_of_ci() {
        assert_eq!(decide(Some(7), "x", "get x", false), Some(7));
        assert_eq!(decide(Some(7), "x", "get x", true), Some(7));
    }

    #[test]
    fn a_missing_prerequisite_skips_outside_ci() {
        assert_eq!(decide(None::<u8>, "`x`", "apt-get install x", false), None);
    }

    #[test]
    fn a_missing_prerequisite_fails_in_ci_and_says_how_to_install_it() {
        let err = std::panic::catch_unwind(|| decide(None::<u8>, "`x`", "apt-get install x", true))
            .expect_err("a missing tool must fail in CI");
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("`x` is missing and CI is set"), "{msg}");
        assert!(msg.contains("apt-get install x"), "{msg}");
    }

    #[test]
    fn tools_are_found_on_path_and_absent_ones_are_not() {
        assert!(on_path("sh").is_some(), "every POSIX system has sh on PATH");
        assert!(on_path("vaultgate-no-such-tool-d41d8cd9").is_none());
    }
}
