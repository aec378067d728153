//! Reading typed values out of a YAML tree, with the full key path of
//! every value at hand: for errors, for unknown-key warnings, and to name
//! the environment variable that set a value.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_yaml::{Mapping, Value};

use crate::error::{Location, SettingError};
use berth_duration::parse_duration;

use crate::headers::Headers;

/// Which environment variable set which key path.
#[derive(Debug, Default)]
pub struct Origins {
    by_path: BTreeMap<String, String>,
}

impl Origins {
    /// Notes that the environment variable `var` set `path`.
    pub fn record(&mut self, path: String, var: String) {
        self.by_path.insert(path, var);
    }

    /// The variable that set `path` or a section holding it.
    pub fn lookup(&self, path: &str) -> Option<&str> {
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
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Joins a list index onto a path.
pub fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// A short description of a value for messages: strings quoted, scalars
/// as written, collections by kind.
pub fn describe(value: &Value) -> String {
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
pub fn untagged(value: &Value) -> Value {
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
pub fn key_text(key: &Value) -> Option<String> {
    match key {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The state of one decoding pass.
pub struct Reader<'o> {
    /// Warnings so far: unknown keys, values adjusted or ignored.
    pub warnings: Vec<String>,
    /// Keys known but not supported yet, each saying so.
    pub unsupported: Vec<String>,
    origins: &'o Origins,
}

impl<'o> Reader<'o> {
    /// A reading pass, with the environment variables that set which keys.
    pub fn new(origins: &'o Origins) -> Reader<'o> {
        Reader {
            warnings: Vec::new(),
            unsupported: Vec::new(),
            origins,
        }
    }

    /// Where `path` is, with the variable that set it, if one did.
    pub fn at(&self, path: &str) -> Location {
        Location {
            key: path.to_owned(),
            env: self.origins.lookup(path).map(str::to_owned),
        }
    }

    /// The error for `value` at `path`, which is not `expected`.
    pub fn invalid<E: From<SettingError>>(&self, path: &str, value: &Value, expected: &str) -> E {
        E::from(SettingError::Invalid {
            at: self.at(path),
            value: describe(value),
            expected: expected.to_owned(),
        })
    }

    /// The error for `path`, required and not given; it should hold
    /// `expected`.
    pub fn missing<E: From<SettingError>>(&self, path: &str, expected: &str) -> E {
        E::from(SettingError::Missing {
            at: self.at(path),
            expected: expected.to_owned(),
        })
    }

    /// `" (set by VAR)"` when an environment variable set `path`.
    fn origin_note(&self, path: &str) -> String {
        match self.origins.lookup(path) {
            Some(var) => format!(" (set by {var})"),
            None => String::new(),
        }
    }

    /// Warns about `path` (naming the variable that set it).
    pub fn warn(&mut self, path: &str, message: &str) {
        let note = self.origin_note(path);
        self.warnings.push(format!("{path}{note}: {message}"));
    }

    /// Warns that `path` is not a known key; it is ignored.
    pub fn warn_unknown(&mut self, path: &str) {
        let note = self.origin_note(path);
        self.warnings
            .push(format!("unknown configuration key {path}{note}; ignored"));
    }

    /// Reports `path` as known but not supported yet (`what` says what it is).
    pub fn report_unsupported(&mut self, path: &str, what: &str) {
        let note = self.origin_note(path);
        self.unsupported.push(format!(
            "{path}{note}: {what} is not supported yet; ignored"
        ));
    }

    // --- scalar readers -------------------------------------------------

    /// A string (a number or boolean counts as its text).
    pub fn string(&self, path: &str, value: &Value) -> Result<String, SettingError> {
        match value {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => Err(self.invalid(path, other, "a string")),
        }
    }

    /// YAML 1.2 booleans, plus the YAML 1.1 spellings Go's decoder reads
    /// (`yes`, `no`, `on`, `off`, `y`, `n`) and strings of them.
    pub fn boolean(&self, path: &str, value: &Value) -> Result<bool, SettingError> {
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
    pub fn unsigned(&self, path: &str, value: &Value) -> Result<u64, SettingError> {
        let parsed = match value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        parsed.ok_or_else(|| self.invalid(path, value, "a non-negative integer"))
    }

    /// An integer, possibly negative (a number, or a string of one).
    pub fn signed(&self, path: &str, value: &Value) -> Result<i64, SettingError> {
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
    pub fn duration(&self, path: &str, value: &Value) -> Result<Duration, SettingError> {
        const EXPECTED: &str = "a duration such as 300ms, 10s, 5m, 168h or 1h30m";
        let invalid = |why: String| SettingError::Invalid {
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
    pub fn strings(&self, path: &str, value: &Value) -> Result<Vec<String>, SettingError> {
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
    pub fn mapping(&self, path: &str, value: &Value) -> Result<Mapping, SettingError> {
        match value {
            Value::Null => Ok(Mapping::new()),
            Value::Mapping(m) => Ok(m.iter().map(|(k, v)| (untagged(k), untagged(v))).collect()),
            other => Err(self.invalid(path, other, "a mapping")),
        }
    }

    /// HTTP headers: a mapping of name to a list of values (a single
    /// value counts as a list of one).
    pub fn headers(&self, path: &str, value: &Value) -> Result<Headers, SettingError> {
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
    pub fn list<'v>(&self, path: &str, value: &'v Value) -> Result<&'v [Value], SettingError> {
        match value {
            Value::Null => Ok(&[]),
            Value::Sequence(items) => Ok(items),
            other => Err(self.invalid(path, other, "a list")),
        }
    }
}

/// A mapping being read: tracks which keys were used, so the rest can be
/// reported as unknown.
pub struct Section<'v> {
    /// The section's key path (empty for the root).
    pub path: String,
    entries: Vec<(String, &'v Value, bool)>,
}

impl<'v> Section<'v> {
    /// Opens `value` (a mapping, or an empty value for an empty one).
    pub fn new(
        ctx: &Reader<'_>,
        path: &str,
        value: &'v Value,
    ) -> Result<Section<'v>, SettingError> {
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
        Ok(Section {
            path: path.to_owned(),
            entries,
        })
    }

    /// Opens the optional child `key`.
    pub fn child(&mut self, ctx: &Reader<'_>, key: &str) -> Result<Section<'v>, SettingError> {
        let path = self.key_path(key);
        match self.take_raw(key) {
            Some(v) => Section::new(ctx, &path, v),
            None => Ok(Section {
                path,
                entries: Vec::new(),
            }),
        }
    }

    /// The full path of `key` in this section.
    pub fn key_path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The keys, in order.
    pub fn keys(&self) -> Vec<String> {
        self.entries.iter().map(|(k, _, _)| k.clone()).collect()
    }

    /// Whether the section has no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Takes `key`'s value, even an empty one. Every key the decoder
    /// accepts is asked for here, which is what
    /// [`known_keys`](crate::known_keys) records.
    pub fn take_raw(&mut self, key: &str) -> Option<&'v Value> {
        crate::keys::record(&self.path, key);
        let entry = self.entries.iter_mut().find(|(k, _, _)| k == key)?;
        entry.2 = true;
        Some(entry.1)
    }

    /// Takes `key`'s value; an empty value counts as absent.
    pub fn take(&mut self, key: &str) -> Option<(String, &'v Value)> {
        let path = self.key_path(key);
        match self.take_raw(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some((path, v)),
        }
    }

    /// Takes `key` as a string.
    pub fn string(&mut self, ctx: &Reader<'_>, key: &str) -> Result<Option<String>, SettingError> {
        self.take(key).map(|(p, v)| ctx.string(&p, v)).transpose()
    }

    /// A string where an empty one counts as absent.
    pub fn non_empty(
        &mut self,
        ctx: &Reader<'_>,
        key: &str,
    ) -> Result<Option<String>, SettingError> {
        Ok(self.string(ctx, key)?.filter(|s| !s.is_empty()))
    }

    /// Takes `key` as a non-empty string that must be given (`expected`
    /// says what it holds, for the error when it is not).
    pub fn required(
        &mut self,
        ctx: &Reader<'_>,
        key: &str,
        expected: &str,
    ) -> Result<String, SettingError> {
        self.non_empty(ctx, key)?
            .ok_or_else(|| ctx.missing(&self.key_path(key), expected))
    }

    /// Takes `key` as a boolean.
    pub fn boolean(&mut self, ctx: &Reader<'_>, key: &str) -> Result<Option<bool>, SettingError> {
        self.take(key).map(|(p, v)| ctx.boolean(&p, v)).transpose()
    }

    /// Takes `key` as a boolean; absent is false.
    pub fn flag(&mut self, ctx: &Reader<'_>, key: &str) -> Result<bool, SettingError> {
        Ok(self.boolean(ctx, key)?.unwrap_or(false))
    }

    /// Takes `key` as a non-negative integer.
    pub fn unsigned(&mut self, ctx: &Reader<'_>, key: &str) -> Result<Option<u64>, SettingError> {
        self.take(key).map(|(p, v)| ctx.unsigned(&p, v)).transpose()
    }

    /// Takes `key` as an integer.
    pub fn signed(&mut self, ctx: &Reader<'_>, key: &str) -> Result<Option<i64>, SettingError> {
        self.take(key).map(|(p, v)| ctx.signed(&p, v)).transpose()
    }

    /// Takes `key` as a Go duration.
    pub fn duration(
        &mut self,
        ctx: &Reader<'_>,
        key: &str,
    ) -> Result<Option<Duration>, SettingError> {
        self.take(key).map(|(p, v)| ctx.duration(&p, v)).transpose()
    }

    /// Takes `key` as a list of strings (one string is a list of one).
    pub fn strings(&mut self, ctx: &Reader<'_>, key: &str) -> Result<Vec<String>, SettingError> {
        Ok(self
            .take(key)
            .map(|(p, v)| ctx.strings(&p, v))
            .transpose()?
            .unwrap_or_default())
    }

    /// Takes `key` as a free-form mapping.
    pub fn mapping(&mut self, ctx: &Reader<'_>, key: &str) -> Result<Mapping, SettingError> {
        Ok(self
            .take(key)
            .map(|(p, v)| ctx.mapping(&p, v))
            .transpose()?
            .unwrap_or_default())
    }

    /// Takes `key` as HTTP headers.
    pub fn headers(&mut self, ctx: &Reader<'_>, key: &str) -> Result<Headers, SettingError> {
        Ok(self
            .take(key)
            .map(|(p, v)| ctx.headers(&p, v))
            .transpose()?
            .unwrap_or_default())
    }

    /// Takes the list `key` and decodes each item with `item`.
    pub fn list<T, E: From<SettingError>>(
        &mut self,
        ctx: &mut Reader<'_>,
        key: &str,
        mut item: impl FnMut(&mut Reader<'_>, &str, &Value) -> Result<T, E>,
    ) -> Result<Vec<T>, E> {
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

    /// Reports `key`, when it is there, as not supported; says whether it
    /// was.
    pub fn unsupported(&mut self, ctx: &mut Reader<'_>, key: &str, what: &str) -> bool {
        let path = self.key_path(key);
        let present = self.take_raw(key).is_some();
        if present {
            ctx.report_unsupported(&path, what);
        }
        present
    }

    /// Reports every key not taken as unknown.
    pub fn finish(self, ctx: &mut Reader<'_>) {
        for (key, _, used) in self.entries {
            if !used {
                ctx.warn_unknown(&join(&self.path, &key));
            }
        }
    }
}
