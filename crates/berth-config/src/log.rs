//! `log:` — level, format, fixed fields, the access log.

use serde::Serialize;
use serde_yaml::{Mapping, Value};

use crate::decode::{Ctx, Obj};
use crate::error::ConfigError;

/// `log:`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Log {
    /// `log.level`: default `info`. (Distribution's old top-level
    /// `loglevel` is read when `log.level` is not set.)
    pub level: LogLevel,
    /// `log.formatter`: default `text`.
    pub formatter: LogFormatter,
    /// `log.fields`: fields added to every log line (`service: registry`).
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub fields: Mapping,
    /// `log.accesslog`.
    pub accesslog: AccessLog,
    /// `log.reportcaller`: add the source location to log lines. Default
    /// false.
    pub reportcaller: bool,
}

impl Default for Log {
    fn default() -> Log {
        Log {
            level: LogLevel::Info,
            formatter: LogFormatter::Text,
            fields: Mapping::new(),
            accesslog: AccessLog::default(),
            reportcaller: false,
        }
    }
}

/// `log.accesslog`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccessLog {
    /// `log.accesslog.disabled`: no access log lines. Default false.
    pub disabled: bool,
}

/// `log.level`: `error`, `warn`, `info` or `debug` (any case, as
/// Distribution lowercases it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// `error`.
    Error,
    /// `warn`.
    Warn,
    /// `info`: the default.
    Info,
    /// `debug`.
    Debug,
}

impl LogLevel {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }

    fn parse(ctx: &Ctx<'_>, path: &str, value: &Value) -> Result<LogLevel, ConfigError> {
        let expected = "one of error, warn, info, debug";
        let text = ctx.string(path, value)?;
        Ok(match text.to_ascii_lowercase().as_str() {
            "error" => LogLevel::Error,
            "warn" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            _ => return Err(ctx.invalid(path, value, expected)),
        })
    }
}

/// `log.formatter`: `text`, `json` or `logstash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormatter {
    /// `text`: the default.
    Text,
    /// `json`: one JSON object a line.
    Json,
    /// `logstash`: JSON in Logstash's field names.
    Logstash,
}

impl LogFormatter {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormatter::Text => "text",
            LogFormatter::Json => "json",
            LogFormatter::Logstash => "logstash",
        }
    }
}

/// Reads `log:`; `legacy_level` is the old top-level `loglevel`.
pub(crate) fn decode(
    ctx: &mut Ctx<'_>,
    mut obj: Obj<'_>,
    legacy_level: Option<(String, &Value)>,
) -> Result<Log, ConfigError> {
    let mut log = Log::default();
    if let Some((path, value)) = obj.take("level") {
        log.level = LogLevel::parse(ctx, &path, value)?;
    } else if let Some((path, value)) = legacy_level {
        log.level = LogLevel::parse(ctx, &path, value)?;
    }
    if let Some((path, value)) = obj.take("formatter") {
        let text = ctx.string(&path, value)?;
        log.formatter = match text.as_str() {
            "text" => LogFormatter::Text,
            "json" => LogFormatter::Json,
            "logstash" => LogFormatter::Logstash,
            _ => return Err(ctx.invalid(&path, value, "one of text, json, logstash")),
        };
    }
    log.fields = obj.mapping(ctx, "fields")?;
    let mut access = obj.child(ctx, "accesslog")?;
    log.accesslog.disabled = access.flag(ctx, "disabled")?;
    access.finish(ctx);
    log.reportcaller = obj.flag(ctx, "reportcaller")?;
    obj.unsupported(ctx, "hooks", "log hooks (mail)");
    obj.finish(ctx);
    Ok(log)
}
