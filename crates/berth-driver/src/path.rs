//! Storage path rules.
//!
//! A storage path is absolute and `/`-separated; each component is one or
//! more of `[A-Za-z0-9._-]`, and is not `.` or `..`; there is no empty
//! component and no trailing slash. `/` alone is the root. Every driver
//! refuses anything else with [`DriverError::InvalidPath`], before it
//! touches its backend: that is what keeps a crafted repository name from
//! ever reaching outside the driver's root.

use crate::DriverError;

/// Checks `path` against the storage path rules.
///
/// ```
/// use berth_driver::validate_path;
///
/// assert!(validate_path("/docker/registry/v2/blobs").is_ok());
/// assert!(validate_path("/").is_ok());
/// assert!(validate_path("relative/path").is_err());
/// assert!(validate_path("/a/../b").is_err());
/// assert!(validate_path("/a//b").is_err());
/// assert!(validate_path("/a/b/").is_err());
/// ```
pub fn validate_path(path: &str) -> Result<(), DriverError> {
    let invalid = |reason: &'static str| {
        Err(DriverError::InvalidPath {
            path: crate::error::shorten(path),
            reason,
        })
    };
    let Some(rest) = path.strip_prefix('/') else {
        return invalid("a storage path must start with '/'");
    };
    if rest.is_empty() {
        return Ok(());
    }
    for component in rest.split('/') {
        if component.is_empty() {
            return invalid("a storage path has no empty components or trailing '/'");
        }
        if component == "." || component == ".." {
            return invalid("a storage path has no '.' or '..' components");
        }
        if !component
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return invalid("a storage path component has only [A-Za-z0-9._-]");
        }
    }
    Ok(())
}

/// Checks both paths of a move, and that neither is the root (which can be
/// neither moved nor replaced).
pub(crate) fn validate_move(source: &str, dest: &str) -> Result<(), DriverError> {
    validate_path(source)?;
    validate_path(dest)?;
    if source == "/" || dest == "/" {
        return Err(DriverError::InvalidPath {
            path: if source == "/" { source } else { dest }.to_owned(),
            reason: "the root cannot be moved or replaced",
        });
    }
    Ok(())
}

/// Whether `name` could be one component of a valid path. Drivers use it
/// to keep their own bookkeeping files (which use other characters) out of
/// listings.
pub fn is_valid_component(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Joins a valid directory path and a child component.
pub fn join(dir: &str, child: &str) -> String {
    if dir == "/" {
        format!("/{child}")
    } else {
        format!("{dir}/{child}")
    }
}

/// The parent of a valid path (`/` for a top-level entry and for the root).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// Whether `path` is `dir` or lies below it (component-wise: `/ab` is not
/// below `/a`).
pub fn is_within(path: &str, dir: &str) -> bool {
    dir == "/"
        || path == dir
        || (path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_paths() {
        for p in [
            "/",
            "/a",
            "/a/b",
            "/docker/registry/v2/repositories/library/ubuntu/_manifests",
            "/A-Z_0.9",
            "/...",
            "/.hidden",
            "/a-/-b",
        ] {
            assert!(validate_path(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn invalid_paths() {
        for p in [
            "", "a", "a/b", "//", "/a/", "/a//b", "/.", "/..", "/a/../b", "/a/./b", "/a b",
            "/a\\b", "/a\0b", "/é", "/a:b", "/a~b", "/a\nb",
        ] {
            assert!(
                matches!(validate_path(p), Err(DriverError::InvalidPath { .. })),
                "{p:?}"
            );
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
        assert_eq!(parent("/a/b"), "/a");
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("/"), "/");
        assert!(is_within("/a/b", "/a"));
        assert!(is_within("/a", "/a"));
        assert!(!is_within("/ab", "/a"));
        assert!(is_within("/anything", "/"));
        assert!(is_valid_component("data"));
        assert!(!is_valid_component("data~partial"));
    }
}
