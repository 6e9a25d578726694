//! `config --print` of both programs: the configuration as resolved at start, as JSON or TOML,
//! or one value of it. Secrets print as `[redacted]` because [`super::Secret`] serializes so.

use serde::Serialize;

/// Arguments of the `config` command.
#[derive(Debug, clap::Args)]
pub struct PrintArgs {
    /// Print the resolved configuration (what `serve` would run with; the default action).
    #[arg(long)]
    pub print: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "json")]
    pub format: Format,
    /// Print only the value at this dotted path, e.g. `listen.port` (a string without quotes).
    #[arg(long, value_name = "PATH")]
    pub get: Option<String>,
}

/// How the configuration is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Pretty-printed JSON.
    Json,
    /// TOML (unset values are left out).
    Toml,
}

/// Why the configuration could not be printed.
#[derive(Debug, thiserror::Error)]
pub enum PrintError {
    #[error("the configuration has no value at '{0}'")]
    NoSuchPath(String),
    #[error("rendering the configuration as JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("rendering the configuration as TOML: {0}")]
    Toml(#[from] toml::ser::Error),
}

/// The text `config` prints for `config` (a resolved configuration).
pub fn render<T: Serialize>(config: &T, args: &PrintArgs) -> Result<String, PrintError> {
    if let Some(path) = &args.get {
        let mut value = &serde_json::to_value(config)?;
        for key in path.split('.').filter(|k| !k.is_empty()) {
            value = match value {
                serde_json::Value::Object(map) => map.get(key),
                serde_json::Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            }
            .ok_or_else(|| PrintError::NoSuchPath(path.clone()))?;
        }
        return Ok(match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        });
    }
    Ok(match args.format {
        Format::Json => serde_json::to_string_pretty(config)?,
        Format::Toml => toml::to_string(config)?,
    })
}

/// `serialize_with` for a duration: as `humantime` writes it (`7days`, `500ms`), which the
/// settings also accept.
pub fn duration<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_duration(*d))
}

/// `serialize_with` for a `clap::ValueEnum`: the value the setting takes (`space`, `json`).
pub fn value_enum<S: serde::Serializer, T: clap::ValueEnum>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    match v.to_possible_value() {
        Some(p) => s.serialize_str(p.get_name()),
        None => s.serialize_none(),
    }
}

/// `serialize_with` for a list of values that print themselves (CIDRs, addresses).
pub fn display_list<S: serde::Serializer, T: std::fmt::Display>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(ToString::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[derive(Serialize)]
    struct Demo {
        name: &'static str,
        key: Secret,
        unset: Option<Secret>,
        listen: Listen,
    }

    #[derive(Serialize)]
    struct Listen {
        port: u16,
    }

    fn args(format: Format, get: Option<&str>) -> PrintArgs {
        PrintArgs {
            print: true,
            format,
            get: get.map(str::to_owned),
        }
    }

    #[test]
    fn secrets_are_redacted_in_every_format() {
        let d = Demo {
            name: "x",
            key: Secret::new("hunter2-hunter2"),
            unset: None,
            listen: Listen { port: 7860 },
        };
        for f in [Format::Json, Format::Toml] {
            let out = render(&d, &args(f, None)).unwrap();
            assert!(!out.contains("hunter2") && out.contains("[redacted]"), "{out}");
        }
        assert_eq!(render(&d, &args(Format::Json, Some("listen.port"))).unwrap(), "7860");
        assert_eq!(render(&d, &args(Format::Json, Some("name"))).unwrap(), "x");
        assert_eq!(render(&d, &args(Format::Json, Some("key"))).unwrap(), "[redacted]");
        assert!(matches!(
            render(&d, &args(Format::Json, Some("listen.nope"))),
            Err(PrintError::NoSuchPath(_))
        ));
    }
}
