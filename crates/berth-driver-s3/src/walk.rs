//! Walk order from a flat listing.
//!
//! S3 lists keys in byte order; a walk visits depth first with each
//! directory's entries sorted, which is the byte order of the paths with
//! `/` mapped below every other byte. The two differ only where `-` or
//! `.` (the valid bytes below `/`) meets `/`: S3 lists `a-b/x` and `a.b`
//! before `a/c`, the walk wants `a`'s subtree first. [`Reorder`] holds
//! back a key only while a later key of the listing could still come
//! before it in walk order, so memory stays bounded by such sibling
//! groups, not by the size of the tree.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::time::SystemTime;

use berth_driver::{FileInfo, Walk, WalkFn, is_valid_component, join};

/// A listed key, relative to the walk's prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    pub rel: String,
    pub size: u64,
    pub modified: SystemTime,
}

/// The walk-order sort key: the bytes with `/` mapped to 0.
fn walk_key(rel: &str) -> Vec<u8> {
    rel.bytes().map(|b| if b == b'/' { 0 } else { b }).collect()
}

/// Whether a key listed after `last` (in byte order) could come before
/// `key` in walk order: that needs a later key equal to `key` up to some
/// `-` or `.` of `key` and `/` there, which is still to come when `last`
/// is below `key[..i] + "0"` (`'0'` follows `/`).
fn blocked(key: &str, last: &str) -> bool {
    let (k, l) = (key.as_bytes(), last.as_bytes());
    let common = k.iter().zip(l).take_while(|(a, b)| a == b).count();
    k[..common.min(k.len())]
        .iter()
        .any(|b| matches!(b, b'-' | b'.'))
        || (common < k.len()
            && matches!(k[common], b'-' | b'.')
            && l.get(common).is_some_and(|&b| b < b'0'))
}

/// Keys in, in byte order; keys out, in walk order, as soon as no later
/// key can precede them.
#[derive(Debug, Default)]
pub(crate) struct Reorder {
    pending: BTreeMap<Vec<u8>, Listed>,
    /// Every key up to this one (in byte order) has been pushed.
    last: Option<String>,
}

impl Reorder {
    /// Adds the next key of the listing (keys come in increasing order).
    pub fn push(&mut self, listed: Listed) {
        self.last = Some(listed.rel.clone());
        self.pending.insert(walk_key(&listed.rel), listed);
    }

    /// Notes that the listing goes on after `rel` (keys up to it were
    /// passed over).
    pub fn passed(&mut self, rel: String) {
        self.last = Some(rel);
    }

    /// The last key the listing reached.
    pub fn last(&self) -> Option<&str> {
        self.last.as_deref()
    }

    /// The next key in walk order, if no key still to come can precede
    /// it.
    pub fn pop_ready(&mut self) -> Option<Listed> {
        let last = self.last.as_deref()?;
        let (_, first) = self.pending.first_key_value()?;
        if blocked(&first.rel, last) {
            return None;
        }
        self.pending.pop_first().map(|(_, listed)| listed)
    }

    /// The next key in walk order, once the listing has ended.
    pub fn pop_any(&mut self) -> Option<Listed> {
        self.pending.pop_first().map(|(_, listed)| listed)
    }

    /// Drops the pending keys below directory `dir` (relative, no
    /// trailing `/`).
    pub fn remove_within(&mut self, dir: &str) {
        let mut low = walk_key(dir);
        low.push(0);
        let mut high = low.clone();
        if let Some(b) = high.last_mut() {
            *b = 1;
        }
        let mut within = self.pending.split_off(&low);
        let mut after = within.split_off(&high);
        self.pending.append(&mut after);
    }
}

/// What became of one listed key.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    /// The visitor skipped this directory (relative).
    Skipped(String),
    Stop,
}

/// Turns keys in walk order into visits: synthesizes each directory
/// before its first entry, skips invalid names and skipped directories.
pub(crate) struct Visits<'a, 'v> {
    from: &'a str,
    visit: &'a mut WalkFn<'v>,
    /// The directories (relative) the last key lies in, outermost first.
    open: Vec<String>,
    /// Skipped directories, relative, with a trailing `/`.
    skipped: BTreeSet<String>,
}

impl<'a, 'v> Visits<'a, 'v> {
    pub fn new(from: &'a str, visit: &'a mut WalkFn<'v>) -> Self {
        Visits {
            from,
            visit,
            open: Vec::new(),
            skipped: BTreeSet::new(),
        }
    }

    /// The skipped directory (relative, with its trailing `/`) that `rel`
    /// lies in, if any. Skipped directories never nest, so the greatest
    /// one not above `rel` is the only candidate.
    pub fn skipped_dir(&self, rel: &str) -> Option<&str> {
        self.skipped
            .range::<str, _>((Bound::Unbounded, Bound::Included(rel)))
            .next_back()
            .filter(|dir| rel.starts_with(dir.as_str()))
            .map(String::as_str)
    }

    /// Visits the entries `listed` brings: its directories not visited
    /// yet, then itself if its name is valid.
    pub fn visit(&mut self, listed: &Listed) -> Flow {
        if self.skipped_dir(&listed.rel).is_some() {
            return Flow::Continue;
        }
        while let Some(top) = self.open.last() {
            let inside = listed.rel.len() > top.len()
                && listed.rel.starts_with(top.as_str())
                && listed.rel.as_bytes()[top.len()] == b'/';
            if inside {
                break;
            }
            self.open.pop();
        }
        let components: Vec<&str> = listed.rel.split('/').collect();
        let Some((file, dirs)) = components.split_last() else {
            return Flow::Continue;
        };
        let mut end = self.open.last().map_or(0, |d| d.len());
        for dir in &dirs[self.open.len()..] {
            if !is_valid_component(dir) {
                return Flow::Continue;
            }
            end += if end == 0 { dir.len() } else { dir.len() + 1 };
            let rel = &listed.rel[..end];
            let info = FileInfo {
                path: join_rel(self.from, rel),
                size: 0,
                modified: listed.modified,
                is_dir: true,
            };
            match (self.visit)(&info) {
                Walk::Continue => self.open.push(rel.to_owned()),
                Walk::SkipDir => {
                    self.skipped.insert(format!("{rel}/"));
                    return Flow::Skipped(rel.to_owned());
                }
                Walk::Stop => return Flow::Stop,
            }
        }
        if !is_valid_component(file) {
            return Flow::Continue;
        }
        let info = FileInfo {
            path: join_rel(self.from, &listed.rel),
            size: listed.size,
            modified: listed.modified,
            is_dir: false,
        };
        match (self.visit)(&info) {
            Walk::Stop => Flow::Stop,
            Walk::Continue | Walk::SkipDir => Flow::Continue,
        }
    }
}

/// The full path of `rel` below `from`.
fn join_rel(from: &str, rel: &str) -> String {
    join(from, rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(rel: &str) -> Listed {
        Listed {
            rel: rel.to_owned(),
            size: rel.len() as u64,
            modified: SystemTime::UNIX_EPOCH,
        }
    }

    /// Feeds `keys` (sorted bytewise) in pages of `page`, returning the
    /// walk order produced.
    fn reorder(keys: &[String], page: usize) -> (Vec<String>, usize) {
        let mut r = Reorder::default();
        let mut out = Vec::new();
        let mut most_pending = 0;
        for chunk in keys.chunks(page.max(1)) {
            for k in chunk {
                r.push(listed(k));
            }
            most_pending = most_pending.max(r.pending.len());
            while let Some(l) = r.pop_ready() {
                out.push(l.rel);
            }
        }
        while let Some(l) = r.pop_any() {
            out.push(l.rel);
        }
        (out, most_pending)
    }

    fn walk_sorted(keys: &[String]) -> Vec<String> {
        let mut v = keys.to_vec();
        v.sort_by_key(|k| walk_key(k));
        v
    }

    #[test]
    fn reorders_dash_and_dot_siblings() {
        let mut keys: Vec<String> = ["a-b/x", "a.b", "a/c", "a/d/e", "a0", "b/f", "top"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        keys.sort();
        for page in 1..=keys.len() {
            let (out, _) = reorder(&keys, page);
            assert_eq!(out, walk_sorted(&keys), "page {page}");
        }
    }

    #[test]
    fn random_trees() {
        // xorshift: deterministic, no dependency.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let alphabet = [b'a', b'b', b'-', b'.', b'0', b'_', b'/'];
        for _ in 0..300 {
            let mut keys = BTreeSet::new();
            for _ in 0..next(40) + 1 {
                let len = next(8) + 1;
                let mut k: Vec<u8> = (0..len)
                    .map(|_| alphabet[next(alphabet.len() as u64) as usize])
                    .collect();
                // Valid-ish keys: no leading, trailing or double '/'.
                k.dedup_by(|a, b| *a == b'/' && *b == b'/');
                while k.first() == Some(&b'/') {
                    k.remove(0);
                }
                while k.last() == Some(&b'/') {
                    k.pop();
                }
                if let Ok(s) = String::from_utf8(k)
                    && !s.is_empty()
                {
                    keys.insert(s);
                }
            }
            let keys: Vec<String> = keys.into_iter().collect();
            let page = next(5) as usize + 1;
            let (out, _) = reorder(&keys, page);
            assert_eq!(out, walk_sorted(&keys), "keys {keys:?}, page {page}");
        }
    }

    #[test]
    fn holds_back_little_for_registry_layouts() {
        let mut keys = Vec::new();
        for i in 0..500 {
            keys.push(format!("blobs/sha256/{:02x}/{i:064x}/data", i % 256));
        }
        for repo in [
            "library/ubuntu",
            "library/ubuntu-base",
            "library/ubuntu.old",
        ] {
            for i in 0..50 {
                keys.push(format!("repositories/{repo}/_layers/sha256/{i:064x}/link"));
            }
        }
        keys.sort();
        let (out, most_pending) = reorder(&keys, 100);
        assert_eq!(out, walk_sorted(&keys));
        // Only the `ubuntu-base` and `ubuntu.old` subtrees wait for
        // `ubuntu`'s; blobs stream straight through.
        assert!(most_pending <= 200, "held back {most_pending}");
    }

    #[test]
    fn remove_within_a_directory() {
        let mut r = Reorder::default();
        for k in ["a-b/x", "a.b", "a/c", "a/d/e", "ab"] {
            r.push(listed(k));
        }
        r.remove_within("a");
        let mut out = Vec::new();
        while let Some(l) = r.pop_any() {
            out.push(l.rel);
        }
        assert_eq!(out, ["a-b/x", "a.b", "ab"]);
    }

    #[test]
    fn visits_synthesize_directories_and_skip() {
        let keys = ["a/b/c", "a/b/d", "a/e", "a/f~tail", "g/h~x/i", "j"];
        let mut seen = Vec::new();
        let mut visit = |info: &FileInfo| {
            seen.push((info.path.clone(), info.is_dir));
            if info.path == "/r/a/b" {
                Walk::SkipDir
            } else {
                Walk::Continue
            }
        };
        let mut visits = Visits::new("/r", &mut visit);
        let mut flows = Vec::new();
        for k in keys {
            flows.push(visits.visit(&listed(k)));
        }
        assert_eq!(
            flows,
            [
                Flow::Skipped("a/b".into()),
                Flow::Continue,
                Flow::Continue,
                Flow::Continue,
                Flow::Continue,
                Flow::Continue
            ]
        );
        assert_eq!(visits.skipped_dir("a/b/zzz"), Some("a/b/"));
        assert_eq!(visits.skipped_dir("a/bb"), None);
        drop(visits);
        let want: Vec<(String, bool)> = [
            ("/r/a", true),
            ("/r/a/b", true),
            ("/r/a/e", false),
            ("/r/g", true),
            ("/r/j", false),
        ]
        .iter()
        .map(|(p, d)| (p.to_string(), *d))
        .collect();
        assert_eq!(seen, want);
    }
}
