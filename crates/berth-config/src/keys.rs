//! Every key path the configuration reader accepts, as the reader itself
//! asks for them: [`known_keys`] decodes a few configurations that between
//! them reach every branch of the reader (each storage driver, each access
//! controller, one item in every list) and records each key the reader
//! looks up, present or not.

use std::cell::RefCell;
use std::collections::BTreeSet;

use crate::config::Configuration;

thread_local! {
    /// The key paths asked for on this thread while [`known_keys`] runs.
    static RECORDER: RefCell<Option<BTreeSet<String>>> = const { RefCell::new(None) };
}

/// Notes that the reader asked for `key` inside the mapping at `path`
/// (a no-op unless [`known_keys`] is recording).
pub(crate) fn record(path: &str, key: &str) {
    RECORDER.with(|r| {
        if let Some(set) = r.borrow_mut().as_mut() {
            let full = if path.is_empty() {
                key.to_owned()
            } else {
                format!("{path}.{key}")
            };
            set.insert(generalize(&full));
        }
    });
}

/// `notifications.endpoints[0].url` → `notifications.endpoints[].url`.
fn generalize(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push_str("[]");
            }
            ']' => in_index = false,
            _ if in_index => {}
            _ => out.push(c),
        }
    }
    out
}

/// Configurations that between them reach every branch of the reader.
/// Keys inside a section are recorded even when the section is absent, so
/// these only need to pick each one-of choice and put one item in each
/// list.
const EXERCISE: &[&str] = &[
    // filesystem storage, htpasswd, every list with one item.
    "
version: 0.1
storage:
  filesystem: {}
auth:
  htpasswd: {realm: r, path: /p}
redis:
  addr: localhost:6379
notifications:
  events: {includereferences: true, mediatype: v1}
  endpoints:
    - {name: e, url: 'http://e'}
  spool: {directory: /s, maxbytes: 1024}
health:
  file: [{file: /f}]
  http: [{uri: 'http://h'}]
  tcp: [{addr: 'h:1'}]
validation:
  manifests:
    indexes:
      platforms: list
      platformlist: [{architecture: amd64, os: linux}]
middleware:
  registry: [{name: m}]
  repository: [{name: m}]
  storage: [{name: m}]
",
    // s3 storage, token auth.
    "
version: 0.1
storage:
  s3: {bucket: b}
auth:
  token: {realm: 'http://t', service: s, issuer: i, rootcertbundle: /c}
",
    // inmemory storage, silly auth.
    "
version: 0.1
storage:
  inmemory: {}
auth:
  silly: {realm: r, service: s}
",
];

/// Every key path the configuration reader accepts, sorted: sections
/// (`storage.cache`) and keys (`storage.cache.blobdescriptor`), with list
/// items written `[]` (`notifications.endpoints[].url`). Keys reported as
/// "not supported yet" (`reporting`, `http.tls.letsencrypt`) are included;
/// names chosen by the operator (header names, `log.fields` entries,
/// middleware `options`, `compatibility`'s contents) are not.
///
/// The list is what the reader itself asks for, so a key added to the
/// reader appears here without further work.
///
/// ```
/// let keys = berth_config::known_keys();
/// assert!(keys.iter().any(|k| k == "storage.s3.chunksize"));
/// assert!(keys.iter().any(|k| k == "notifications.endpoints[].url"));
/// ```
pub fn known_keys() -> Vec<String> {
    RECORDER.with(|r| *r.borrow_mut() = Some(BTreeSet::new()));
    for yaml in EXERCISE {
        // The exercise configurations are valid; an error would only
        // shorten the list, which the documentation test would notice.
        let _ = Configuration::parse(yaml);
    }
    let set = RECORDER.with(|r| r.borrow_mut().take()).unwrap_or_default();
    set.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exercise_configurations_are_valid_and_warn_of_nothing_unknown() {
        for yaml in EXERCISE {
            let loaded = Configuration::parse(yaml).expect(yaml);
            assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        }
    }

    #[test]
    fn list_indices_are_generalized() {
        assert_eq!(generalize("a.b[12].c[0]"), "a.b[].c[]");
    }

    #[test]
    fn recording_is_off_outside_known_keys() {
        record("", "x");
        assert!(RECORDER.with(|r| r.borrow().is_none()));
    }
}
