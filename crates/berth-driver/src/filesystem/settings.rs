//! The `storage.filesystem` section of a Distribution-style configuration,
//! read with berth-settings.

use berth_settings::{Reader, Section, SettingError};

use super::*;

impl FilesystemParameters {
    /// Reads the `storage.filesystem` section: `rootdirectory` (default
    /// [`DEFAULT_ROOT_DIRECTORY`]) and `maxthreads` (default
    /// [`DEFAULT_MAX_THREADS`]; a smaller value than [`MIN_MAX_THREADS`]
    /// is raised to it, with a warning, as Distribution does).
    pub fn read(
        ctx: &mut Reader<'_>,
        mut o: Section<'_>,
    ) -> Result<FilesystemParameters, SettingError> {
        let mut params = FilesystemParameters::default();
        if let Some(root) = o.non_empty(ctx, "rootdirectory")? {
            params.rootdirectory = root.into();
        }
        if let Some(n) = o.unsigned(ctx, "maxthreads")? {
            let min = MIN_MAX_THREADS as u64;
            if n < min {
                ctx.warn(
                    &o.key_path("maxthreads"),
                    &format!("{n} is below the minimum of {min}; using {min}"),
                );
            }
            params.maxthreads = usize::try_from(n.max(min)).unwrap_or(usize::MAX);
        }
        o.finish(ctx);
        Ok(params)
    }
}
