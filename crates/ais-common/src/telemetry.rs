//! Logging setup (`tracing`), as text for people or JSON for log pipelines.

use std::str::FromStr;

use tracing_subscriber::EnvFilter;

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl FromStr for LogFormat {
    type Err = TelemetryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(TelemetryError::Format(other.to_string())),
        }
    }
}

/// Errors while setting up logging.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// Unknown `--log-format`.
    #[error("unknown log format {0:?}: use \"text\" or \"json\"")]
    Format(String),
    /// Invalid `--log-level` filter.
    #[error(
        "invalid log level {level:?}: {source} (use e.g. \"info\" or \"ais_controller=debug,info\")"
    )]
    Filter {
        /// The filter as given.
        level: String,
        /// Why it did not parse.
        source: tracing_subscriber::filter::ParseError,
    },
    /// A global subscriber was already installed.
    #[error("logging was already initialized: {0}")]
    Init(String),
}

/// Installs the global subscriber. `level` is an `EnvFilter` directive such as `info`.
pub fn init(format: LogFormat, level: &str) -> Result<(), TelemetryError> {
    let filter = EnvFilter::from_str(level).map_err(|source| TelemetryError::Filter {
        level: level.to_string(),
        source,
    })?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    result.map_err(|e| TelemetryError::Init(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_formats_and_rejects_others() {
        assert_eq!("json".parse::<LogFormat>().ok(), Some(LogFormat::Json));
        assert_eq!("text".parse::<LogFormat>().ok(), Some(LogFormat::Text));
        let err = "yaml".parse::<LogFormat>().err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("unknown log format \"yaml\": use \"text\" or \"json\"")
        );
    }

    #[test]
    fn rejects_a_bad_filter() {
        let err = init(LogFormat::Text, "info,[").err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.starts_with("invalid log level \"info,[\"")));
    }
}
