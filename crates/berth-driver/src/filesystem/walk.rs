//! A depth-first walk of the tree below a directory.

use super::*;

/// Where a depth-first walk is: the entries still to visit at each level
/// down from where it started. Listing a directory is the caller's, on
/// whichever thread it walks.
pub(super) struct DepthFirst {
    stack: Vec<std::vec::IntoIter<FileInfo>>,
}

impl DepthFirst {
    pub(super) fn new(top: Vec<FileInfo>) -> DepthFirst {
        DepthFirst {
            stack: vec![top.into_iter()],
        }
    }

    /// Visits entries in order until `visit` enters a directory (its path,
    /// for the caller to list and hand to [`DepthFirst::descend`]); `None`
    /// when every entry was visited or `visit` stopped the walk.
    pub(super) fn next_dir(&mut self, visit: &mut WalkFn<'_>) -> Option<String> {
        while let Some(entries) = self.stack.last_mut() {
            let Some(info) = entries.next() else {
                self.stack.pop();
                continue;
            };
            match visit(&info) {
                Walk::Stop => {
                    self.stack.clear();
                    return None;
                }
                Walk::Continue if info.is_dir => return Some(info.path),
                Walk::Continue | Walk::SkipDir => {}
            }
        }
        None
    }

    /// Goes on inside the directory `next_dir` returned, given its
    /// listing; one deleted since it was seen is skipped.
    pub(super) fn descend(&mut self, listing: Result<Vec<FileInfo>>) -> Result<()> {
        match listing {
            Ok(children) => self.stack.push(children.into_iter()),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }
}
