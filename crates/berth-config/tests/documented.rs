//! Every key the configuration reader accepts is documented in
//! `docs/configuration.md`, as a code span holding its full path
//! (`` `storage.s3.chunksize` ``, `` `notifications.endpoints[].url` ``).

use std::collections::BTreeSet;

const DOC: &str = include_str!("../../../docs/configuration.md");

/// The code spans of the document (single-backtick spans; fenced blocks
/// are skipped).
fn code_spans(doc: &str) -> BTreeSet<String> {
    let mut spans = BTreeSet::new();
    let mut fenced = false;
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut parts = line.split('`');
        parts.next();
        while let (Some(inside), Some(_)) = (parts.next(), parts.next()) {
            spans.insert(inside.to_owned());
        }
        // A line with an odd number of backticks leaves its last part
        // unpaired; it is not a span.
    }
    spans
}

#[test]
fn every_accepted_key_is_documented() {
    let keys = berth_config::known_keys();
    let spans = code_spans(DOC);
    let missing: Vec<&String> = keys.iter().filter(|k| !spans.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "keys accepted by berth-config but not documented in docs/configuration.md \
         (as a `full.key.path` code span): {missing:#?}"
    );
}

#[test]
fn the_key_list_reaches_every_branch_of_the_reader() {
    let keys: BTreeSet<String> = berth_config::known_keys().into_iter().collect();
    // Each storage driver and access controller.
    for driver in berth_config::STORAGE_DRIVERS {
        assert!(keys.contains(&format!("storage.{driver}")), "{driver}");
    }
    for section in berth_config::STORAGE_SUBSECTIONS {
        assert!(keys.contains(&format!("storage.{section}")), "{section}");
    }
    for auth in ["htpasswd", "token", "silly"] {
        assert!(keys.contains(&format!("auth.{auth}")), "{auth}");
    }
    // Keys inside list items, from each kind of list.
    for key in [
        "notifications.endpoints[].url",
        "notifications.endpoints[].ignore.actions",
        "health.file[].file",
        "health.http[].statuscode",
        "health.tcp[].addr",
        "validation.manifests.indexes.platformlist[].os",
        "middleware.registry[].options",
        "middleware.repository[].name",
        "middleware.storage[].disabled",
        "redis.pool.maxidle",
        "storage.s3.checksumvalidation",
        "auth.token.signingalgorithms",
    ] {
        assert!(keys.contains(key), "{key} not in {keys:#?}");
    }
    // Every top-level key the reader asks for is one an override may
    // address.
    let top: BTreeSet<&str> = keys.iter().map(|k| k.split('.').next().unwrap()).collect();
    assert!(
        top.contains("reporting") && top.contains("loglevel"),
        "{top:?}"
    );
}

#[test]
fn documented_keys_are_accepted() {
    // The other direction, for the reference tables: a row naming a key
    // berth does not read would mislead. Rows are lines starting with
    // "| `"; their first code span is the key.
    let keys: BTreeSet<String> = berth_config::known_keys().into_iter().collect();
    let mut unknown = Vec::new();
    for line in DOC.lines() {
        if let Some(rest) = line.strip_prefix("| `")
            && let Some((key, _)) = rest.split_once('`')
            && !keys.contains(key)
        {
            unknown.push(key.to_owned());
        }
    }
    assert!(
        unknown.is_empty(),
        "table rows of docs/configuration.md naming keys berth-config does not accept: {unknown:#?}"
    );
}

#[test]
fn code_spans_are_found() {
    let spans = code_spans("a `x.y` b `z`\n```\n`no`\n```\n");
    assert_eq!(spans, BTreeSet::from(["x.y".to_owned(), "z".to_owned()]));
}
