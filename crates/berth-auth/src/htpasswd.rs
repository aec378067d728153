//! The `htpasswd` access controller: HTTP Basic authentication against an
//! Apache htpasswd file with bcrypt entries, as Distribution's
//! `registry/auth/htpasswd`.
//!
//! - The file is read when the controller is built, and read again when
//!   its modification time, size or inode changes (one `stat` per
//!   request). A missing file is created empty (mode `0600`, parent
//!   directories `0700`) with a warning; a path that cannot be read (a
//!   directory, no permission) is an error at construction.
//! - Lines are trimmed; blank lines and lines starting with `#` are
//!   skipped; every other line is `user:hash` (split at the first `:`), a
//!   line without `:` makes the whole file invalid. A later line for the
//!   same user wins.
//! - Only bcrypt hashes (`$2a$`, `$2b$`, `$2y$`, as `htpasswd -B` writes)
//!   can match; any other entry (`htpasswd -m`, `-s`, `-p`, crypt) never
//!   does.
//! - bcrypt runs on tokio's blocking pool. An unknown user, or a user
//!   whose entry is not bcrypt, is checked against a dummy hash of the
//!   file's usual cost, so it takes the same path and time as a wrong
//!   password. Credentials that verified are remembered as an HMAC-SHA256
//!   of user and password under a random per-controller key (never the
//!   password), compared in constant time, and forgotten when the file is
//!   read again.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use async_trait::async_trait;
use aws_lc_rs::hmac;
use base64::Engine as _;

use crate::{Access, AccessController, AuthError, Challenge, ConfigError, Grant, Request};

/// Options of `auth.htpasswd`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct HtpasswdOptions {
    /// `auth.htpasswd.realm`: the realm of the Basic challenge. Required.
    pub realm: String,
    /// `auth.htpasswd.path`: the htpasswd file. Required.
    pub path: PathBuf,
}

const REALM: &str = "auth.htpasswd.realm";
const PATH: &str = "auth.htpasswd.path";

/// The cost of the dummy hash when the file has no bcrypt entry
/// (`htpasswd -B`'s default).
const DEFAULT_COST: u32 = 5;

/// The `htpasswd` access controller.
pub struct HtpasswdAccessController {
    realm: String,
    path: PathBuf,
    key: hmac::Key,
    state: RwLock<State>,
}

impl std::fmt::Debug for HtpasswdAccessController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HtpasswdAccessController")
            .field("realm", &self.realm)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// What identifies a version of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Signature {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Signature {
    fn of(metadata: &fs::Metadata) -> Self {
        #[cfg(unix)]
        let inode = {
            use std::os::unix::fs::MetadataExt;
            metadata.ino()
        };
        #[cfg(not(unix))]
        let inode = 0;
        Signature {
            modified: metadata.modified().ok(),
            len: metadata.len(),
            inode,
        }
    }
}

struct State {
    /// The version of the file last read (successfully or not).
    seen: Signature,
    users: Arc<Users>,
}

/// One successfully parsed version of the file.
pub(crate) struct Users {
    /// user → bcrypt hash; `None` for an entry that can never match.
    pub(crate) entries: HashMap<String, Option<String>>,
    /// A well-formed bcrypt hash of nothing anyone knows, at the file's
    /// usual cost.
    dummy: String,
    /// user → HMAC of the credentials that last verified.
    verified: Mutex<HashMap<String, hmac::Tag>>,
}

impl HtpasswdAccessController {
    /// Builds the controller and reads the file (creating it empty if it
    /// does not exist).
    pub fn new(options: HtpasswdOptions) -> Result<Self, ConfigError> {
        if options.realm.is_empty() {
            return Err(ConfigError::Missing { option: REALM });
        }
        if options.path.as_os_str().is_empty() {
            return Err(ConfigError::Missing { option: PATH });
        }
        let path = options.path;
        let io_error = |source: io::Error| ConfigError::Io {
            option: PATH,
            path: path.clone(),
            source,
        };
        let metadata = match fs::metadata(&path) {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                create_empty(&path).map_err(io_error)?;
                tracing::warn!(
                    path = %path.display(),
                    "htpasswd file is missing: created it empty; nobody can log in until users are added (htpasswd -B)"
                );
                fs::metadata(&path).map_err(io_error)?
            }
            Err(e) => return Err(io_error(e)),
        };
        if !metadata.is_file() {
            return Err(io_error(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            )));
        }
        let text = fs::read(&path).map_err(io_error)?;
        let users = parse(&text).map_err(|reason| ConfigError::File {
            option: PATH,
            path: path.clone(),
            reason,
        })?;
        let mut secret = [0u8; 32];
        aws_lc_rs::rand::fill(&mut secret).map_err(|_| {
            io_error(io::Error::other(
                "no randomness for the credential cache key",
            ))
        })?;
        Ok(HtpasswdAccessController {
            realm: options.realm,
            key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            state: RwLock::new(State {
                seen: Signature::of(&metadata),
                users: Arc::new(users),
            }),
            path,
        })
    }

    fn challenge(&self, message: &'static str) -> AuthError {
        AuthError::Challenge(Challenge::basic(&self.realm, message))
    }

    /// The current users, reading the file again if it changed.
    fn users(&self) -> Result<Arc<Users>, AuthError> {
        let metadata = fs::metadata(&self.path).map_err(|e| {
            tracing::error!(path = %self.path.display(), error = %e, "htpasswd file cannot be read");
            AuthError::Internal(format!("htpasswd file {}: {e}", self.path.display()))
        })?;
        let signature = Signature::of(&metadata);
        {
            let state = self.state.read().unwrap_or_else(|e| e.into_inner());
            if state.seen == signature {
                return Ok(state.users.clone());
            }
        }
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        if state.seen == signature {
            return Ok(state.users.clone());
        }
        state.seen = signature;
        match fs::read(&self.path)
            .map_err(|e| e.to_string())
            .and_then(|text| parse(&text))
        {
            Ok(users) => {
                tracing::info!(
                    path = %self.path.display(),
                    users = users.entries.len(),
                    "htpasswd file changed: reloaded"
                );
                state.users = Arc::new(users);
            }
            Err(reason) => {
                // As Distribution ends up doing: keep the users last read
                // and try again when the file changes again.
                tracing::error!(
                    path = %self.path.display(),
                    %reason,
                    "htpasswd file changed but cannot be used; keeping the users read before"
                );
            }
        }
        Ok(state.users.clone())
    }

    fn tag_input(user: &str, password: &[u8]) -> Vec<u8> {
        let mut input = Vec::with_capacity(user.len() + 1 + password.len());
        input.extend_from_slice(user.as_bytes());
        input.push(0);
        input.extend_from_slice(password);
        input
    }
}

#[async_trait]
impl AccessController for HtpasswdAccessController {
    /// Checks the request's Basic credentials. Without valid Basic
    /// credentials, or with wrong ones: a challenge `Basic realm="<realm>"`
    /// (no `error` parameter). The accesses are not looked at: an
    /// authenticated user may do everything.
    async fn authorize(
        &self,
        request: &Request<'_>,
        _access: &[Access],
    ) -> Result<Grant, AuthError> {
        let Some((user, password)) = request.authorization.and_then(basic_credentials) else {
            return Err(self.challenge("invalid authorization credential"));
        };
        let users = self.users()?;
        let user = String::from_utf8(user).ok();
        let hash = user
            .as_ref()
            .and_then(|u| users.entries.get(u))
            .and_then(|h| h.as_ref());
        let known = hash.is_some();
        let hash = hash.unwrap_or(&users.dummy).clone();
        let name = user.unwrap_or_default();
        let input = Self::tag_input(&name, &password);

        // Only users of the file that verified have a tag; everyone takes
        // this look-up.
        let remembered = users
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&name)
            .map(|tag| hmac::verify(&self.key, &input, tag.as_ref()).is_ok());
        if known && remembered == Some(true) {
            return Ok(Grant::user(name));
        }

        let matched =
            tokio::task::spawn_blocking(move || bcrypt::verify(&password, &hash).unwrap_or(false))
                .await
                .map_err(|e| AuthError::Internal(format!("bcrypt task failed: {e}")))?;

        if matched && known {
            let tag = hmac::sign(&self.key, &input);
            users
                .verified
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.clone(), tag);
            return Ok(Grant::user(name));
        }
        tracing::info!(
            user = %name.escape_debug(),
            remote = request.remote_addr.unwrap_or("-"),
            "htpasswd: authentication failed"
        );
        Err(self.challenge("authentication failure"))
    }
}

/// The user and password of a `Basic` Authorization value, as Go's
/// `Request.BasicAuth`: the scheme is case-insensitive, the rest is
/// standard padded base64 of `user:password` (split at the first `:`).
pub(crate) fn basic_credentials(value: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    const PREFIX: &str = "Basic ";
    let scheme = value.get(..PREFIX.len())?;
    if !scheme.eq_ignore_ascii_case(PREFIX) {
        return None;
    }
    let encoded: String = value[PREFIX.len()..]
        .chars()
        .filter(|&c| c != '\r' && c != '\n')
        .collect();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

/// Parses an htpasswd file. The error names the line, never its content.
pub(crate) fn parse(text: &[u8]) -> Result<Users, String> {
    let text = String::from_utf8_lossy(text);
    let mut entries = HashMap::new();
    let mut costs: HashMap<u32, usize> = HashMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((user, hash)) = line.split_once(':') else {
            return Err(format!("invalid entry at line {}: no ':'", number + 1));
        };
        let cost = bcrypt_cost(hash);
        if let Some(cost) = cost {
            *costs.entry(cost).or_default() += 1;
        }
        entries.insert(user.to_string(), cost.map(|_| hash.to_string()));
    }
    // The most common cost (the higher on a tie), so that an unknown user
    // costs what a known one does.
    let cost = costs
        .into_iter()
        .max_by_key(|&(cost, count)| (count, cost))
        .map_or(DEFAULT_COST, |(cost, _)| cost);
    Ok(Users {
        entries,
        dummy: dummy_hash(cost),
        verified: Mutex::new(HashMap::new()),
    })
}

/// The cost of a bcrypt hash Go's bcrypt and this crate both accept
/// (`$2a$`, `$2b$`, `$2y$`, two-digit cost 4 to 31, 60 characters).
fn bcrypt_cost(hash: &str) -> Option<u32> {
    let b = hash.as_bytes();
    if b.len() != 60 || !hash.is_ascii() {
        return None;
    }
    if !(hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$"))
        || b[6] != b'$'
    {
        return None;
    }
    let cost: u32 = hash[4..6].parse().ok()?;
    (4..=31).contains(&cost).then_some(cost)
}

/// A well-formed bcrypt hash with a random salt and a random digest: no
/// password matches it, and checking one costs a full bcrypt at `cost`.
fn dummy_hash(cost: u32) -> String {
    const BCRYPT_B64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::BCRYPT,
        base64::engine::general_purpose::NO_PAD,
    );
    let mut salt = [0u8; 16];
    let mut digest = [0u8; 23];
    // Without randomness the dummy is still a hash nobody knows a password
    // for (all zeros), just a predictable one.
    let _ = aws_lc_rs::rand::fill(&mut salt);
    let _ = aws_lc_rs::rand::fill(&mut digest);
    format!(
        "$2y${cost:02}${}{}",
        BCRYPT_B64.encode(salt),
        BCRYPT_B64.encode(digest)
    )
}

fn create_empty(path: &Path) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(parent)?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_distribution() {
        let hash = "$2y$05$yQ.yZEbNl8jQfmRQr5kRfOVHGVvA8nH0cOGo6vsW1NWfLVFlN6SOG";
        let text = format!(
            "# comment\n\n  alice:{hash}  \r\nbob:{{SHA}}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n   # indented comment\ncarol:$apr1$x$y\nalice2:{hash}\n"
        );
        let users = parse(text.as_bytes()).unwrap();
        assert_eq!(users.entries.len(), 4);
        assert_eq!(users.entries["alice"].as_deref(), Some(hash));
        assert_eq!(users.entries["bob"], None);
        assert_eq!(users.entries["carol"], None);
        assert!(users.dummy.starts_with("$2y$05$"));
        assert_eq!(users.dummy.len(), 60);
        assert!(matches!(bcrypt::verify("", &users.dummy), Ok(false)));
    }

    #[test]
    fn a_line_without_colon_names_the_line_only() {
        let err = parse(b"alice:$2y$05$x\nsecret-without-colon\n")
            .err()
            .unwrap();
        assert_eq!(err, "invalid entry at line 2: no ':'");
    }

    #[test]
    fn only_go_bcrypt_prefixes() {
        let tail = "$05$yQ.yZEbNl8jQfmRQr5kRfOVHGVvA8nH0cOGo6vsW1NWfLVFlN6SOG";
        assert_eq!(bcrypt_cost(&format!("$2a{tail}")), Some(5));
        assert_eq!(bcrypt_cost(&format!("$2b{tail}")), Some(5));
        assert_eq!(bcrypt_cost(&format!("$2y{tail}")), Some(5));
        assert_eq!(bcrypt_cost(&format!("$2x{tail}")), None);
        assert_eq!(bcrypt_cost("$2y$05$short"), None);
    }

    #[test]
    fn basic_header_parsing() {
        // user:pa:ss
        assert_eq!(
            basic_credentials("Basic dXNlcjpwYTpzcw=="),
            Some((b"user".to_vec(), b"pa:ss".to_vec()))
        );
        assert_eq!(
            basic_credentials("bAsIc dXNlcjpwYTpzcw=="),
            Some((b"user".to_vec(), b"pa:ss".to_vec()))
        );
        assert_eq!(basic_credentials("Basic dXNlcg=="), None); // no colon
        assert_eq!(basic_credentials("Basic !!!"), None);
        assert_eq!(basic_credentials("Bearer dXNlcjpwYXNz"), None);
        assert_eq!(basic_credentials("Basic"), None);
    }
}
