//! `REGISTRY_*` environment overrides, applied to the YAML tree before it
//! is read.

use std::cmp::Ordering;

use serde_yaml::{Mapping, Value};

use crate::decode::{Origins, index, join, key_text};
use crate::error::ConfigError;
use crate::storage::STORAGE_SUBSECTIONS;

/// The prefix of override variables.
pub const ENV_PREFIX: &str = "REGISTRY_";

/// The top-level keys an override may address; variables naming any other
/// (`REGISTRY_PORT`, which Docker links and Kubernetes services set) are
/// ignored with a warning, as Distribution ignores them.
pub(crate) const TOP_LEVEL_KEYS: &[&str] = &[
    "version",
    "log",
    "loglevel",
    "storage",
    "auth",
    "middleware",
    "reporting",
    "http",
    "notifications",
    "redis",
    "health",
    "proxy",
    "compatibility",
    "validation",
    "catalog",
];

/// A section holding exactly one of several entries (a storage driver, an
/// access controller) beside some fixed keys.
struct OneOf {
    section: &'static str,
    beside: &'static [&'static str],
    what: &'static str,
}

const ONE_OF: &[OneOf] = &[
    OneOf {
        section: "storage",
        beside: STORAGE_SUBSECTIONS,
        what: "storage driver",
    },
    OneOf {
        section: "auth",
        beside: &[],
        what: "access controller",
    },
];

struct Override {
    var: String,
    segments: Vec<String>,
    value: String,
}

/// Compares key paths segment by segment, numbers as numbers: a section
/// is set before the keys inside it, and list item 2 before item 10.
fn compare_segments(a: &[String], b: &[String]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(m), Ok(n)) => m.cmp(&n).then_with(|| x.cmp(y)),
            _ => x.cmp(y),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.len().cmp(&b.len())
}

/// Turns a scalar `storage:` or `auth:` (`storage: inmemory`, Distribution's
/// short form) into a mapping with that one key, so overrides can address
/// it.
pub(crate) fn normalize_short_forms(root: &mut Mapping) {
    for section in ["storage", "auth"] {
        if let Some(value) = root.get_mut(section)
            && let Value::String(name) = value
        {
            let mut map = Mapping::new();
            map.insert(Value::String(name.clone()), Value::Null);
            *value = Value::Mapping(map);
        }
    }
}

/// Applies every `REGISTRY_*` variable of `env` to `root`. Returns which
/// variable set which key path, and warnings for variables that were
/// ignored or that replaced the file's storage driver or access
/// controller.
pub(crate) fn apply<I, K, V>(
    root: &mut Mapping,
    env: I,
) -> Result<(Origins, Vec<String>), ConfigError>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut warnings = Vec::new();
    let mut overrides = Vec::new();
    for (name, value) in env {
        let name = name.as_ref();
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let segments: Vec<String> = rest.split('_').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            warnings.push(format!(
                "ignoring environment variable {name}: empty key between underscores"
            ));
            continue;
        }
        if !TOP_LEVEL_KEYS.contains(&segments[0].to_ascii_lowercase().as_str()) {
            warnings.push(format!(
                "ignoring environment variable {name}: {} is not a configuration key",
                segments[0].to_ascii_lowercase()
            ));
            continue;
        }
        overrides.push(Override {
            var: name.to_owned(),
            segments,
            value: value.as_ref().to_owned(),
        });
    }
    overrides
        .sort_by(|a, b| compare_segments(&a.segments, &b.segments).then_with(|| a.var.cmp(&b.var)));

    let mut origins = Origins::default();
    // For each one-of section, the choice an override made, and which
    // variable made it.
    let mut chosen: Vec<(&'static OneOf, String, String)> = Vec::new();
    for o in overrides {
        let payload: Value =
            serde_yaml::from_str(&o.value).map_err(|e| ConfigError::EnvSyntax {
                var: o.var.clone(),
                value: o.value.clone(),
                message: e.to_string(),
            })?;

        let one_of = ONE_OF
            .iter()
            .find(|s| o.segments[0].eq_ignore_ascii_case(s.section));
        if let Some(one_of) = one_of {
            let choice = match (o.segments.get(1), &payload) {
                (Some(seg), _) if !one_of.beside.contains(&seg.to_ascii_lowercase().as_str()) => {
                    Some(seg.to_ascii_lowercase())
                }
                (None, Value::String(name)) => Some(name.to_ascii_lowercase()),
                _ => None,
            };
            if let Some(choice) = choice {
                if let Some((_, first, first_choice)) =
                    chosen.iter().find(|(s, _, _)| s.section == one_of.section)
                {
                    if *first_choice != choice {
                        return Err(ConfigError::EnvConflict {
                            what: one_of.what.to_owned(),
                            first: first.clone(),
                            first_choice: first_choice.clone(),
                            second: o.var.clone(),
                            second_choice: choice,
                        });
                    }
                } else {
                    chosen.push((one_of, o.var.clone(), choice.clone()));
                }
                let key = matching_key(root, one_of.section);
                let slot = root.entry(Value::String(key)).or_insert(Value::Null);
                if !matches!(slot, Value::Mapping(_)) {
                    *slot = Value::Mapping(Mapping::new());
                }
                if let Value::Mapping(section) = slot
                    && let Some(replaced) = switch_choice(section, one_of.beside, &choice)
                {
                    warnings.push(format!(
                        "{} replaces {} {replaced} of the configuration file with {choice}",
                        o.var, one_of.what
                    ));
                }
                if o.segments.len() == 1 {
                    // `REGISTRY_STORAGE=s3`: the choice only; the sections
                    // beside it stay.
                    origins.record(join(one_of.section, &choice), o.var.clone());
                    continue;
                }
            }
        }
        let mut path = String::new();
        set_in_mapping(root, &o, 0, payload, &mut path)?;
        origins.record(path, o.var);
    }
    Ok((origins, warnings))
}

/// The key of `map` matching `segment` case-insensitively, or `segment`
/// in lower case (Distribution lowercases the keys an override creates).
fn matching_key(map: &Mapping, segment: &str) -> String {
    map.keys()
        .filter_map(key_text)
        .find(|k| k.eq_ignore_ascii_case(segment))
        .unwrap_or_else(|| segment.to_ascii_lowercase())
}

/// Removes the choices other than `choice` from `section` (keeping the
/// keys `beside`) and makes sure `choice` has an entry; returns the names
/// removed.
fn switch_choice(section: &mut Mapping, beside: &[&str], choice: &str) -> Option<String> {
    let others: Vec<String> = section
        .keys()
        .filter_map(key_text)
        .filter(|k| !beside.contains(&k.as_str()) && !k.eq_ignore_ascii_case(choice))
        .collect();
    for k in &others {
        section.remove(k.as_str());
    }
    let present = section
        .keys()
        .filter_map(key_text)
        .any(|k| k.eq_ignore_ascii_case(choice));
    if !present {
        section.insert(Value::String(choice.to_owned()), Value::Null);
    }
    (!others.is_empty()).then(|| others.join(", "))
}

fn is_index(segment: &str) -> bool {
    !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit())
}

/// An empty container for the segment that follows: a list when it is an
/// index, a mapping otherwise.
fn container_for(segment: &str) -> Value {
    if is_index(segment) {
        Value::Sequence(Vec::new())
    } else {
        Value::Mapping(Mapping::new())
    }
}

/// Sets the value addressed by `o.segments[at..]` inside the mapping
/// `map`, whose key path is `path`.
fn set_in_mapping(
    map: &mut Mapping,
    o: &Override,
    at: usize,
    payload: Value,
    path: &mut String,
) -> Result<(), ConfigError> {
    let key = matching_key(map, &o.segments[at]);
    *path = join(path, &key);
    let child = map.entry(Value::String(key)).or_insert(Value::Null);
    set_in(child, o, at + 1, payload, path)
}

/// Sets the value addressed by `o.segments[at..]` inside `node`.
fn set_in(
    node: &mut Value,
    o: &Override,
    at: usize,
    payload: Value,
    path: &mut String,
) -> Result<(), ConfigError> {
    let Some(segment) = o.segments.get(at) else {
        *node = payload;
        return Ok(());
    };
    // Descending into an empty value or a scalar replaces it, as
    // Distribution does.
    if !matches!(node, Value::Mapping(_) | Value::Sequence(_)) {
        *node = container_for(segment);
    }
    match node {
        Value::Sequence(items) => {
            let len = items.len();
            let i = match segment.parse::<usize>() {
                Ok(i) if is_index(segment) && i <= len => i,
                _ => {
                    return Err(ConfigError::EnvIndex {
                        var: o.var.clone(),
                        key: path.clone(),
                        index: segment.clone(),
                        len,
                    });
                }
            };
            if i == len {
                items.push(Value::Null);
            }
            *path = index(path, i);
            match items.get_mut(i) {
                Some(child) => set_in(child, o, at + 1, payload, path),
                None => Ok(()),
            }
        }
        Value::Mapping(map) => set_in_mapping(map, o, at, payload, path),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(s: &str) -> Vec<String> {
        s.split('_').map(str::to_owned).collect()
    }

    #[test]
    fn sections_sort_before_their_keys_and_indices_numerically() {
        let mut v = [
            "STORAGE_S3_BUCKET",
            "STORAGE",
            "NOTIFICATIONS_ENDPOINTS_10_NAME",
            "NOTIFICATIONS_ENDPOINTS_2_NAME",
            "NOTIFICATIONS_ENDPOINTS",
        ]
        .map(segs);
        v.sort_by(|a, b| compare_segments(a, b));
        let joined: Vec<String> = v.iter().map(|s| s.join("_")).collect();
        assert_eq!(
            joined,
            [
                "NOTIFICATIONS_ENDPOINTS",
                "NOTIFICATIONS_ENDPOINTS_2_NAME",
                "NOTIFICATIONS_ENDPOINTS_10_NAME",
                "STORAGE",
                "STORAGE_S3_BUCKET",
            ]
        );
    }
}
