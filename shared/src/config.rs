//! Configuration helpers both binaries use: secrets that never print, durations,
//! the run mode, and an optional TOML file that supplies defaults for any setting.
//!
//! Precedence, highest first: command-line flag, environment variable, the TOML
//! file named by `--config` (or `VAULTGATE_CONFIG`), the built-in default.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod print;

/// Environment variable naming the optional TOML configuration file.
pub const CONFIG_ENV: &str = "VAULTGATE_CONFIG";

/// A secret value: `Debug` and `Display` print `[redacted]`, never the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret string.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret's bytes, for the one place that signs or verifies with it.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The secret as text (for handing it to a child process or a test).
    pub fn expose_str(&self) -> &str {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A printed configuration (`config --print`) shows `[redacted]` wherever a secret is: the
/// redaction is in the type, so no caller can forget it.
impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// A fresh random secret (48 random bytes, base64url): for `MODE=local` and tests.
pub fn generate_secret() -> Secret {
    use base64::Engine as _;
    let mut buf = [0u8; 48];
    // The OS random source failing is unrecoverable and rare enough to stop on.
    getrandom::fill(&mut buf).expect("the operating system's random source is unavailable");
    Secret(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}

/// Where a program runs: `local` is forgiving, `space` refuses weak configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// A developer's machine: missing secrets are generated and announced.
    Local,
    /// Production (a Hugging Face Space or any public host): weak or missing secrets stop the start.
    Space,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Parses `90`, `90s`, `30m`, `7d`, `1h 30m` into a duration (bare numbers are seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).map_err(|e| format!("'{s}' is not a duration like 90s, 30m, 7d: {e}"))
}

/// Why the configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading configuration file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("parsing configuration file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error(
        "configuration file {path}: unknown setting '{key}' (settings are named like the environment variables, e.g. PORT)"
    )]
    UnknownKey { path: PathBuf, key: String },
    #[error("configuration file {path}: setting '{key}' must be a string, number, boolean or list of those")]
    BadValue { path: PathBuf, key: String },
}

/// Finds `--config FILE`, `--config=FILE` or `$VAULTGATE_CONFIG`.
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if a == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(p) = a.strip_prefix("--config=") {
            return Some(PathBuf::from(p));
        }
    }
    std::env::var_os(CONFIG_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn toml_value_text(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Array(items) => {
            let parts: Option<Vec<String>> = items.iter().map(toml_value_text).collect();
            parts.map(|p| p.join(","))
        }
        _ => None,
    }
}

/// Applies a TOML file's settings to `cmd` as defaults, matched by environment-variable name.
pub fn apply_file(mut cmd: clap::Command, path: &Path) -> Result<clap::Command, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.into(),
        source,
    })?;
    let table: toml::Table = text.parse().map_err(|source| ConfigError::Parse {
        path: path.into(),
        source: Box::new(source),
    })?;
    for (key, value) in &table {
        let wanted = key.to_ascii_uppercase();
        let id = cmd
            .get_arguments()
            .find(|a| a.get_env().is_some_and(|e| e.to_string_lossy() == wanted))
            .map(|a| a.get_id().clone())
            .ok_or_else(|| ConfigError::UnknownKey {
                path: path.into(),
                key: key.clone(),
            })?;
        let text = toml_value_text(value).ok_or_else(|| ConfigError::BadValue {
            path: path.into(),
            key: key.clone(),
        })?;
        cmd = cmd.mut_arg(id, |a| a.default_value(text));
    }
    Ok(cmd)
}

/// Parses the command line for `P`, with environment variables and the optional TOML file.
///
/// Prints clap's usual message and exits on `--help`, `--version` and errors: 2 for a bad command
/// line, 78 (`EX_CONFIG`) for a bad value from the environment or the file, or a bad file.
pub fn parse<P: clap::Parser>() -> P {
    use crate::exit::{self, Failure};
    let args: Vec<OsString> = std::env::args_os().collect();
    match try_parse_from::<P>(args.clone()) {
        Ok(p) => p,
        Err(ParseError::Clap(e)) if e.use_stderr() => {
            let failure = exit::of_parse_error(&e, &args);
            let _ = e.print();
            std::process::exit(i32::from(failure.code()))
        }
        Err(ParseError::Clap(e)) => e.exit(),
        Err(ParseError::Config(e)) => {
            eprintln!("error: {e}");
            std::process::exit(i32::from(Failure::Config.code()))
        }
    }
}

/// What went wrong while parsing the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error(transparent)]
    Clap(#[from] clap::Error),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// [`parse`] over explicit arguments, returning errors instead of exiting.
pub fn try_parse_from<P: clap::Parser>(args: Vec<OsString>) -> Result<P, ParseError> {
    let mut cmd = P::command();
    if let Some(path) = config_path(&args) {
        cmd = apply_file(cmd, &path)?;
    }
    let matches = cmd.try_get_matches_from(args)?;
    Ok(P::from_arg_matches(&matches)?)
}

/// Parses `P` from `args` and explicit `(VARIABLE, value)` pairs standing in for the environment;
/// the real process environment is not read. The seam of the configuration snapshot tests: each
/// pair becomes the flag whose argument reads that variable.
pub fn try_parse_from_env<P: clap::Parser>(args: &[&str], env: &[(&str, &str)]) -> Result<P, String> {
    let cmd = P::command();
    let mut argv: Vec<OsString> = args.iter().map(OsString::from).collect();
    for (name, value) in env {
        let long = cmd
            .get_arguments()
            .find(|a| a.get_env().is_some_and(|e| e == *name))
            .and_then(|a| a.get_long())
            .ok_or_else(|| format!("no argument reads {name}"))?;
        // Inserted before any subcommand, where global and top-level flags are accepted.
        argv.insert(1, OsString::from(format!("--{long}={value}")));
    }
    let cmd = cmd.mut_args(|a| a.env(None::<&'static str>));
    let matches = cmd.try_get_matches_from(argv).map_err(|e| e.to_string())?;
    P::from_arg_matches(&matches).map_err(|e| e.to_string())
}

/// Every environment variable `cmd` reads, with its subcommands' (for the documentation check).
pub fn env_names(cmd: &clap::Command) -> std::collections::BTreeSet<String> {
    let mut names: std::collections::BTreeSet<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect();
    for sub in cmd.get_subcommands() {
        names.extend(env_names(sub));
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Demo {
        #[arg(long, env = "VG_TEST_PORT", default_value_t = 7860)]
        port: u16,
        #[arg(long, env = "VG_TEST_SECRET")]
        secret: Option<Secret>,
        #[arg(long, env = "VG_TEST_ORIGINS", value_delimiter = ',')]
        origins: Vec<String>,
        #[arg(long)]
        config: Option<PathBuf>,
    }

    fn args(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn env_pairs_stand_in_for_the_environment() {
        let d: Demo = try_parse_from_env(&["x"], &[("VG_TEST_PORT", "9"), ("VG_TEST_ORIGINS", "a,b")]).unwrap();
        assert_eq!((d.port, d.origins), (9, vec!["a".to_owned(), "b".to_owned()]));
        assert!(try_parse_from_env::<Demo>(&["x"], &[("NOPE", "1")]).is_err());
        let names = env_names(&<Demo as clap::CommandFactory>::command());
        assert_eq!(names.len(), 3);
    }

    #[test]
    fn secrets_serialize_redacted() {
        let s = Secret::new("hunter2-hunter2");
        assert_eq!(serde_json::to_string(&Some(s)).unwrap(), "\"[redacted]\"");
    }

    #[test]
    fn secrets_never_print() {
        let s: Secret = "hunter2-hunter2".parse().unwrap();
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        let d = Demo {
            port: 1,
            secret: Some(s),
            origins: vec![],
            config: None,
        };
        assert!(!format!("{d:?}").contains("hunter2"));
    }

    #[test]
    fn file_supplies_defaults_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            "VG_TEST_PORT = 9000\nvg_test_secret = \"s3cr3t\"\nVG_TEST_ORIGINS = [\"a\", \"b\"]\n",
        )
        .unwrap();
        let p = f.to_str().unwrap();
        let d: Demo = try_parse_from(args(&["x", "--config", p])).unwrap();
        assert_eq!(d.port, 9000);
        assert_eq!(d.secret.unwrap().expose(), b"s3cr3t");
        assert_eq!(d.origins, ["a", "b"]);
        let d: Demo = try_parse_from(args(&["x", &format!("--config={p}"), "--port", "1"])).unwrap();
        assert_eq!(d.port, 1);
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "NOPE = 1\n").unwrap();
        let e = try_parse_from::<Demo>(args(&["x", "--config", f.to_str().unwrap()])).unwrap_err();
        assert!(e.to_string().contains("unknown setting 'NOPE'"), "{e}");
        std::fs::write(&f, "VG_TEST_PORT = \n").unwrap();
        assert!(matches!(
            try_parse_from::<Demo>(args(&["x", "--config", f.to_str().unwrap()])),
            Err(ParseError::Config(ConfigError::Parse { .. }))
        ));
        std::fs::write(&f, "VG_TEST_PORT = \"notaport\"\n").unwrap();
        assert!(matches!(
            try_parse_from::<Demo>(args(&["x", "--config", f.to_str().unwrap()])),
            Err(ParseError::Clap(_))
        ));
        let missing = dir.path().join("missing.toml");
        assert!(matches!(
            try_parse_from::<Demo>(args(&["x", "--config", missing.to_str().unwrap()])),
            Err(ParseError::Config(ConfigError::Read { .. }))
        ));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(7 * 86400));
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-5").is_err());
    }

    #[test]
    fn generated_secrets_are_long_and_distinct() {
        let a = generate_secret();
        let b = generate_secret();
        assert!(a.len() >= 32);
        assert_ne!(a, b);
    }
}
