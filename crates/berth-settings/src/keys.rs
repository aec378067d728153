//! Which keys a reader asks for: [`recording`] runs a read while every
//! key path a [`Section`](crate::Section) looks up, present or not, is
//! noted, so that a program can list every key its configuration accepts
//! from the reader itself.

use std::cell::RefCell;
use std::collections::BTreeSet;

thread_local! {
    /// The key paths asked for on this thread while [`recording`] runs.
    static RECORDER: RefCell<Option<BTreeSet<String>>> = const { RefCell::new(None) };
}

/// Notes that a reader asked for `key` inside the mapping at `path` (a
/// no-op unless [`recording`] runs on this thread).
pub fn record(path: &str, key: &str) {
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

/// Runs `read` and gives back every key path looked up meanwhile on this
/// thread, sorted, list items written `[]`
/// (`notifications.endpoints[].url`).
///
/// ```
/// use berth_settings::{Origins, Reader, Section, keys};
///
/// let yaml: serde_yaml::Value = serde_yaml::from_str("a: {b: 1}").unwrap();
/// let keys = keys::recording(|| {
///     let origins = Origins::default();
///     let mut reader = Reader::new(&origins);
///     let mut root = Section::new(&reader, "", &yaml).unwrap();
///     let mut a = root.child(&reader, "a").unwrap();
///     let _ = a.unsigned(&reader, "b");
///     let _ = a.unsigned(&reader, "c");
///     a.finish(&mut reader);
///     root.finish(&mut reader);
/// });
/// assert_eq!(keys, ["a", "a.b", "a.c"]);
/// ```
pub fn recording(read: impl FnOnce()) -> Vec<String> {
    RECORDER.with(|r| *r.borrow_mut() = Some(BTreeSet::new()));
    read();
    let set = RECORDER.with(|r| r.borrow_mut().take()).unwrap_or_default();
    set.into_iter().collect()
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

#[cfg(test)]
mod tests {
    use super::*;

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
