//! Reading typed values out of the YAML tree, with the full key path of
//! every value at hand: for errors, for unknown-key warnings, and to name
//! the environment variable that set a value.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_yaml::{Mapping, Value};

use crate::error::{ConfigError, Location};
use crate::headers::Headers;
use berth_duration::parse_duration;

/// Which environment variable set which key path.
#[derive(Debug, Default)]
pub(crate) struct Origins {
    by_path: BTreeMap<String, String>,
}

impl Origins {
    pub(crate) fn record(&mut self, path: String, var: String) {
        self.by_path.insert(path, var);
    }

    /// The variable that set `path` or a section holding it.
    pub(crate) fn lookup(&self, path: &str) -> Option<&str> {
        let mut current = path;
        loop {
            if let Some(var) = self.by_path.get(current) {
                return Some(var);
            }
            current = parent(current)?;
        }
    }
}

/// `a.b[0].c` → `a.b[0]` → `a.b` → `a` → none.
fn parent(path: &str) -> Option<&str> {
    let cut = path.rfind(['.', '['])?;
    Some(&path[..cut])
}

/// Joins a key onto a path.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Joins a list index onto a path.
pub(crate) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// A short description of a value for messages: strings quoted, scalars
/// as written, collections by kind.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "an empty value".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Sequence(_) => "a list".to_owned(),
        Value::Mapping(_) => "a mapping".to_owned(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

/// `value` without YAML tags, at any depth: `! service` is the string
/// `service`, as Go's decoder reads a tagged scalar into an untyped value.
/// (A tag kept would not write back: YAML's emitter refuses the
/// non-specific `!`, so `berth config check` could not print the
/// configuration it accepted.)
pub(crate) fn untagged(value: &Value) -> Value {
    match value {
        Value::Tagged(t) => untagged(&t.value),
        Value::Sequence(items) => Value::Sequence(items.iter().map(untagged).collect()),
        Value::Mapping(m) => {
            Value::Mapping(m.iter().map(|(k, v)| (untagged(k), untagged(v))).collect())
        }
        other => other.clone(),
    }
}

/// A mapping key as text (YAML allows non-string keys; Go's decoder turns
/// scalars into strings).
pub(crate) fn key_text(key: &Value) -> Option<String> {
    match key {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The state of one decoding pass.
pub(crate) struct Ctx<'o> {
    pub(crate) warnings: Vec<String>,
    pub(crate) unsupported: Vec<String>,
    /// `http.tls.letsencrypt` was given.
    pub(crate) letsencrypt: bool,
    origins: &'o Origins,
}

impl<'o> Ctx<'o> {
    pub(crate) fn new(origins: &'o Origins) -> Ctx<'o> {
        Ctx {
            warnings: Vec::new(),
            unsupported: Vec::new(),
            letsencrypt: false,
            origins,
        }
    }

    pub(crate) fn at(&self, path: &str) -> Location {
        Location {
            key: path.to_owned(),
            env: self.origins.lookup(path).map(str::to_owned),
        }
    }

    pub(crate) fn invalid(&self, path: &str, value: &Value, expected: &str) -> ConfigError {
        ConfigError::Invalid {
            at: self.at(path),
            value: describe(value),
            expected: expected.to_owned(),
        }
    }

    pub(crate) fn missing(&self, path: &str, expected: &str) -> ConfigError {
        ConfigError::Missing {
            at: self.at(path),
            expected: expected.to_owned(),
        }
    }

    /// `" (set by VAR)"` when an environment variable set `path`.
    fn origin_note(&self, path: &str) -> String {
        match self.origins.lookup(path) {
            Some(var) => format!(" (set by {var})"),
            None => String::new(),
        }
    }

    pub(crate) fn warn(&mut self, path: &str, message: &str) {
        let note = self.origin_note(path);
        self.warnings.push(format!("{path}{note}: {message}"));
    }

    pub(crate) fn warn_unknown(&mut self, path: &str) {
        let note = self.origin_note(path);
        self.warnings
            .push(format!("unknown configuration key {path}{note}; ignored"));
    }

    pub(crate) fn report_unsupported(&mut self, path: &str, what: &str) {
        let note = self.origin_note(path);
        self.unsupported.push(format!(
            "{path}{note}: {what} is not supported yet; ignored"
        ));
    }

    // --- scalar readers -------------------------------------------------

    pub(crate) fn string(&self, path: &str, value: &Value) -> Result<String, ConfigError> {
        match value {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => Err(self.invalid(path, other, "a string")),
        }
    }

    /// YAML 1.2 booleans, plus the YAML 1.1 spellings Go's decoder reads
    /// (`yes`, `no`, `on`, `off`, `y`, `n`) and strings of them.
    pub(crate) fn boolean(&self, path: &str, value: &Value) -> Result<bool, ConfigError> {
        match value {
            Value::Bool(b) => Ok(*b),
            Value::String(s) => match s.as_str() {
                "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y"
                | "Y" => Ok(true),
                "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n"
                | "N" => Ok(false),
                _ => Err(self.invalid(path, value, "true or false")),
            },
            other => Err(self.invalid(path, other, "true or false")),
        }
    }

    /// A non-negative integer (a number, or a string of one).
    pub(crate) fn unsigned(&self, path: &str, value: &Value) -> Result<u64, ConfigError> {
        let parsed = match value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        parsed.ok_or_else(|| self.invalid(path, value, "a non-negative integer"))
    }

    /// An integer, possibly negative (a number, or a string of one).
    pub(crate) fn signed(&self, path: &str, value: &Value) -> Result<i64, ConfigError> {
        let parsed = match value {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        parsed.ok_or_else(|| self.invalid(path, value, "an integer"))
    }

    /// A Go duration string (`10s`, `1h30m`). A bare `0` is zero; any
    /// other bare number is an error: Go's decoder would read `60` as 60
    /// nanoseconds, which is never what was meant.
    pub(crate) fn duration(&self, path: &str, value: &Value) -> Result<Duration, ConfigError> {
        const EXPECTED: &str = "a duration such as 300ms, 10s, 5m, 168h or 1h30m";
        let invalid = |why: String| ConfigError::Invalid {
            at: self.at(path),
            value: describe(value),
            expected: format!("{EXPECTED}; {why}"),
        };
        match value {
            Value::String(s) => parse_duration(s).map_err(|e| invalid(e.to_string())),
            Value::Number(n) if n.as_u64() == Some(0) => Ok(Duration::ZERO),
            Value::Number(n) => Err(invalid(format!("a number needs a unit, such as {n}s"))),
            other => Err(self.invalid(path, other, EXPECTED)),
        }
    }

    /// A list of strings; a single string counts as a list of one.
    pub(crate) fn strings(&self, path: &str, value: &Value) -> Result<Vec<String>, ConfigError> {
        match value {
            Value::Null => Ok(Vec::new()),
            Value::Sequence(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| self.string(&index(path, i), item))
                .collect(),
            scalar => Ok(vec![self.string(path, scalar)?]),
        }
    }

    /// A mapping kept as it is.
    /// A free-form mapping (`log.fields`, `compatibility`, …), its values
    /// untagged (see [`untagged`]).
    pub(crate) fn mapping(&self, path: &str, value: &Value) -> Result<Mapping, ConfigError> {
        match value {
            Value::Null => Ok(Mapping::new()),
            Value::Mapping(m) => Ok(m.iter().map(|(k, v)| (untagged(k), untagged(v))).collect()),
            other => Err(self.invalid(path, other, "a mapping")),
        }
    }

    /// HTTP headers: a mapping of name to a list of values (a single
    /// value counts as a list of one).
    pub(crate) fn headers(&self, path: &str, value: &Value) -> Result<Headers, ConfigError> {
        let map = match value {
            Value::Null => return Ok(Headers::default()),
            Value::Mapping(m) => m,
            other => return Err(self.invalid(path, other, "a mapping of header name to values")),
        };
        let mut headers = Headers::default();
        for (k, v) in map {
            let name = key_text(k).ok_or_else(|| self.invalid(path, k, "header names"))?;
            let values = self.strings(&join(path, &name), v)?;
            headers.0.push((name, values));
        }
        Ok(headers)
    }

    /// The items of a list (an empty value is an empty list).
    pub(crate) fn list<'v>(
        &self,
        path: &str,
        value: &'v Value,
    ) -> Result<&'v [Value], ConfigError> {
        match value {
            Value::Null => Ok(&[]),
            Value::Sequence(items) => Ok(items),
            other => Err(self.invalid(path, other, "a list")),
        }
    }
}

/// A mapping being read: tracks which keys were used, so the rest can be
/// reported as unknown.
pub(crate) struct Obj<'v> {
    pub(crate) path: String,
    entries: Vec<(String, &'v Value, bool)>,
}

impl<'v> Obj<'v> {
    /// Opens `value` (a mapping, or an empty value for an empty one).
    pub(crate) fn new(ctx: &Ctx<'_>, path: &str, value: &'v Value) -> Result<Obj<'v>, ConfigError> {
        let map = match value {
            Value::Null => None,
            Value::Mapping(m) => Some(m),
            other => return Err(ctx.invalid(path, other, "a mapping")),
        };
        let mut entries = Vec::new();
        for (k, v) in map.into_iter().flatten() {
            let key = key_text(k).ok_or_else(|| ctx.invalid(path, k, "string keys"))?;
            entries.push((key, v, false));
        }
        Ok(Obj {
            path: path.to_owned(),
            entries,
        })
    }

    /// Opens the optional child `key`.
    pub(crate) fn child(&mut self, ctx: &Ctx<'_>, key: &str) -> Result<Obj<'v>, ConfigError> {
        let path = self.key_path(key);
        match self.take_raw(key) {
            Some(v) => Obj::new(ctx, &path, v),
            None => Ok(Obj {
                path,
                entries: Vec::new(),
            }),
        }
    }

    pub(crate) fn key_path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The keys, in order.
    pub(crate) fn keys(&self) -> Vec<String> {
        self.entries.iter().map(|(k, _, _)| k.clone()).collect()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Takes `key`'s value, even an empty one. Every key the decoder
    /// accepts is asked for here, which is what
    /// [`known_keys`](crate::known_keys) records.
    pub(crate) fn take_raw(&mut self, key: &str) -> Option<&'v Value> {
        crate::keys::record(&self.path, key);
        let entry = self.entries.iter_mut().find(|(k, _, _)| k == key)?;
        entry.2 = true;
        Some(entry.1)
    }

    /// Takes `key`'s value; an empty value counts as absent.
    pub(crate) fn take(&mut self, key: &str) -> Option<(String, &'v Value)> {
        let path = self.key_path(key);
        match self.take_raw(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some((path, v)),
        }
    }

    pub(crate) fn string(
        &mut self,
        ctx: &Ctx<'_>,
        key: &str,
    ) -> Result<Option<String>, ConfigError> {
        self.take(key).map(|(p, v)| ctx.string(&p, v)).transpose()
    }

    /// A string where an empty one counts as absent.
    pub(crate) fn non_empty(
        &mut self,
        ctx: &Ctx<'_>,
        key: &str,
    ) -> Result<Option<String>, ConfigError> {
        Ok(self.string(ctx, key)?.filter(|s| !s.is_empty()))
    }

    pub(crate) fn boolean(
        &mut self,
        ctx: &Ctx<'_>,
        key: &str,
    ) -> Result<Option<bool>, ConfigError> {
        self.take(key).map(|(p, v)| ctx.boolean(&p, v)).transpose()
    }

    pub(crate) fn flag(&mut self, ctx: &Ctx<'_>, key: &str) -> Result<bool, ConfigError> {
        Ok(self.boolean(ctx, key)?.unwrap_or(false))
    }

    pub(crate) fn unsigned(
        &mut self,
        ctx: &Ctx<'_>,
        key: &str,
    ) -> Result<Option<u64>, ConfigError> {
        self.take(key).map(|(p, v)| ctx.unsigned(&p, v)).transpose()
    }

    pub(crate) fn signed(&mut self, ctx: &Ctx<'_>, key: &str) -> Result<Option<i64>, ConfigError> {
        self.take(key).map(|(p, v)| ctx.signed(&p, v)).transpose()
    }

    pub(crate) fn duration(
        &mut self,
        ctx: &Ctx<'_>,
        key: &str,
    ) -> Result<Option<Duration>, ConfigError> {
        self.take(key).map(|(p, v)| ctx.duration(&p, v)).transpose()
    }

    pub(crate) fn strings(&mut self, ctx: &Ctx<'_>, key: &str) -> Result<Vec<String>, ConfigError> {
        Ok(self
            .take(key)
            .map(|(p, v)| ctx.strings(&p, v))
            .transpose()?
            .unwrap_or_default())
    }

    pub(crate) fn mapping(&mut self, ctx: &Ctx<'_>, key: &str) -> Result<Mapping, ConfigError> {
        Ok(self
            .take(key)
            .map(|(p, v)| ctx.mapping(&p, v))
            .transpose()?
            .unwrap_or_default())
    }

    pub(crate) fn headers(&mut self, ctx: &Ctx<'_>, key: &str) -> Result<Headers, ConfigError> {
        Ok(self
            .take(key)
            .map(|(p, v)| ctx.headers(&p, v))
            .transpose()?
            .unwrap_or_default())
    }

    /// Takes the list `key` and decodes each item with `item`.
    pub(crate) fn list<T>(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &str,
        mut item: impl FnMut(&mut Ctx<'_>, &str, &Value) -> Result<T, ConfigError>,
    ) -> Result<Vec<T>, ConfigError> {
        let Some((path, value)) = self.take(key) else {
            return Ok(Vec::new());
        };
        let items = ctx.list(&path, value)?;
        let mut out = Vec::with_capacity(items.len());
        for (i, v) in items.iter().enumerate() {
            out.push(item(ctx, &index(&path, i), v)?);
        }
        Ok(out)
    }

    /// Reports `key`, if present, as known but not supported yet.
    /// Reports `key`, when it is there, as not supported; says whether it
    /// was.
    pub(crate) fn unsupported(&mut self, ctx: &mut Ctx<'_>, key: &str, what: &str) -> bool {
        let path = self.key_path(key);
        let present = self.take_raw(key).is_some();
        if present {
            ctx.report_unsupported(&path, what);
        }
        present
    }

    /// Reports every key not taken as unknown.
    pub(crate) fn finish(self, ctx: &mut Ctx<'_>) {
        for (key, _, used) in self.entries {
            if !used {
                ctx.warn_unknown(&join(&self.path, &key));
            }
        }
    }
}
