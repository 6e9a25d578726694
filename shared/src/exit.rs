//! The exit statuses of both programs, so that a supervisor can tell a typo on the command line
//! from a bad setting and both from an outage ("Redis is down" is not a usage error).

use std::fmt::Display;
use std::process::ExitCode;

/// Why a program stopped (it exits 0 when it did what it was asked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Something failed while running (a store, a listener, a file, a remote call): 1.
    Runtime,
    /// The command line is wrong (an unknown flag, a bad argument): 2, as clap exits.
    Usage,
    /// The configuration cannot be used (a bad or missing setting, a weak key, a bad file): 78,
    /// `EX_CONFIG` of sysexits.h.
    Config,
}

impl Failure {
    /// The process exit status.
    pub fn code(self) -> u8 {
        match self {
            Failure::Runtime => 1,
            Failure::Usage => 2,
            Failure::Config => 78,
        }
    }
}

/// The `--help` epilogue of both programs.
pub const HELP: &str = "Exit status:
  0   success
  1   runtime failure (a store, listener, file or remote service failed)
  2   usage error (unknown flag, bad command-line argument)
  78  configuration error (EX_CONFIG: a bad or missing setting from the environment, the
      configuration file or a flag, a weak or missing key)";

/// Prints `program: error` once on stderr and returns the status of `failure`.
pub fn fail(program: &str, failure: Failure, error: &dyn Display) -> ExitCode {
    eprintln!("{program}: {error}");
    ExitCode::from(failure.code())
}

/// Which failure a command-line parse error is: a value clap refused that was not typed on the
/// command line came from the environment or the configuration file, so it is configuration.
pub fn of_parse_error(e: &clap::Error, args: &[std::ffi::OsString]) -> Failure {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(e.kind(), ErrorKind::InvalidValue | ErrorKind::ValueValidation) {
        return Failure::Usage;
    }
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return Failure::Usage;
    };
    // "--gateway-state <GATEWAY_STATE>" → "--gateway-state".
    let Some(flag) = arg.split_whitespace().next().filter(|f| f.starts_with("--")) else {
        return Failure::Usage;
    };
    let typed = args
        .iter()
        .filter_map(|a| a.to_str())
        .any(|a| a == flag || a.strip_prefix(flag).is_some_and(|rest| rest.starts_with('=')));
    if typed { Failure::Usage } else { Failure::Config }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Clone, Copy, clap::ValueEnum)]
    enum Store {
        Memory,
        Sqlite,
    }

    #[derive(Parser, Debug)]
    struct Demo {
        #[arg(long, env = "VG_EXIT_TEST_STORE", value_enum, default_value = "sqlite")]
        store: Store,
        #[arg(long, default_value_t = 1)]
        port: u16,
    }

    fn failure(args: &[&str], env: Option<&str>) -> Failure {
        let args: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
        let mut cmd = <Demo as clap::CommandFactory>::command();
        if let Some(v) = env {
            // The environment is process-wide: give the argument a default to stand in for it.
            cmd = cmd.mut_arg("store", |a| a.env(None::<&str>).default_value(v.to_owned()));
        }
        let e = cmd.try_get_matches_from(&args).unwrap_err();
        of_parse_error(&e, &args)
    }

    #[test]
    fn parse_errors_table() {
        assert_eq!(Failure::Config.code(), 78);
        let cases: &[(&[&str], Option<&str>, Failure)] = &[
            (&["demo", "--store", "disk"], None, Failure::Usage),
            (&["demo", "--store=disk"], None, Failure::Usage),
            (&["demo", "--port", "x"], None, Failure::Usage),
            (&["demo", "--nope"], None, Failure::Usage),
            (&["demo"], Some("disk"), Failure::Config),
            (&["demo", "--port", "2"], Some("disk"), Failure::Config),
        ];
        for (args, env, want) in cases {
            assert_eq!(failure(args, *env), *want, "{args:?} {env:?}");
        }
    }
}
