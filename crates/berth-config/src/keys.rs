//! Every key path the configuration reader accepts, as the reader itself
//! asks for them: [`known_keys`] decodes a few configurations that between
//! them reach every branch of the reader (each storage driver, each access
//! controller, one item in every list) while berth-settings records each
//! key the reader looks up, present or not.

use crate::config::Configuration;

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
    berth_settings::keys::recording(|| {
        for yaml in EXERCISE {
            // The exercise configurations are valid; an error would only
            // shorten the list, which the documentation test would notice.
            let _ = Configuration::parse(yaml);
        }
    })
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
}
