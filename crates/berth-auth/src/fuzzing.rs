//! Entry points for the fuzz targets (`fuzz/` at the workspace root): the
//! parsers behind htpasswd authentication, which the public controller
//! only reaches through a bcrypt check per attempt. Not a stable API:
//! enabled by the `fuzzing` feature only.

/// The user and password of a `Basic` Authorization value, as the
/// htpasswd controller reads them.
pub fn basic_credentials(value: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    crate::htpasswd::basic_credentials(value)
}

/// The users of an htpasswd file, each with whether its entry can ever
/// match (a bcrypt hash this crate verifies), sorted by name; or the
/// error naming the bad line.
pub fn htpasswd_users(text: &[u8]) -> Result<Vec<(String, bool)>, String> {
    let users = crate::htpasswd::parse(text)?;
    let mut entries: Vec<(String, bool)> = users
        .entries
        .iter()
        .map(|(user, hash)| (user.clone(), hash.is_some()))
        .collect();
    entries.sort();
    Ok(entries)
}
