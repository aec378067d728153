//! The storage layout: every path berth reads or writes, in one place.
//!
//! The layout is Distribution's, so either server can serve a root the other
//! wrote:
//!
//! ```text
//! /docker/registry/v2/blobs/<alg>/<first 2 hex>/<hex>/data
//! /docker/registry/v2/repositories/<name>/_layers/<alg>/<hex>/link
//! /docker/registry/v2/repositories/<name>/_manifests/revisions/<alg>/<hex>/link
//! /docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/current/link
//! /docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/index/<alg>/<hex>/link
//! /docker/registry/v2/repositories/<name>/_uploads/<id>/data
//! /docker/registry/v2/repositories/<name>/_uploads/<id>/startedat
//! /docker/registry/v2/repositories/<name>/_uploads/<id>/hashstates/<alg>/<offset>
//! ```
//!
//! A link file holds a digest string. Every argument here is already
//! validated (a [`RepositoryName`], a [`Tag`], a [`Digest`], an upload id
//! made of `[0-9a-f-]`), so every path is a valid storage path.

use berth_digest::{Algorithm, Digest};
use berth_reference::{RepositoryName, Tag};

/// The root of everything berth stores.
pub const ROOT: &str = "/docker/registry/v2";

/// The directory of all blobs.
pub fn blobs_root() -> String {
    format!("{ROOT}/blobs")
}

/// The directory holding one blob.
pub fn blob_dir(digest: &Digest) -> String {
    let hex = digest.encoded();
    format!(
        "{ROOT}/blobs/{}/{}/{hex}",
        digest.algorithm(),
        &hex[..2.min(hex.len())]
    )
}

/// The content of one blob.
pub fn blob_data(digest: &Digest) -> String {
    format!("{}/data", blob_dir(digest))
}

/// The directory of all repositories.
pub fn repositories_root() -> String {
    format!("{ROOT}/repositories")
}

/// The directory of one repository.
pub fn repository(name: &RepositoryName) -> String {
    format!("{ROOT}/repositories/{}", name.as_str())
}

/// A repository's layer links.
pub fn layers_dir(name: &RepositoryName) -> String {
    format!("{}/_layers", repository(name))
}

/// The link that makes a blob part of a repository.
pub fn layer_link(name: &RepositoryName, digest: &Digest) -> String {
    format!(
        "{}/_layers/{}/{}/link",
        repository(name),
        digest.algorithm(),
        digest.encoded()
    )
}

/// A repository's manifests directory.
pub fn manifests_dir(name: &RepositoryName) -> String {
    format!("{}/_manifests", repository(name))
}

/// A repository's manifest revisions, of one algorithm.
pub fn revisions_dir(name: &RepositoryName, algorithm: Algorithm) -> String {
    format!("{}/_manifests/revisions/{algorithm}", repository(name))
}

/// The link that makes a manifest part of a repository.
pub fn revision_link(name: &RepositoryName, digest: &Digest) -> String {
    format!(
        "{}/_manifests/revisions/{}/{}/link",
        repository(name),
        digest.algorithm(),
        digest.encoded()
    )
}

/// A repository's tags.
pub fn tags_dir(name: &RepositoryName) -> String {
    format!("{}/_manifests/tags", repository(name))
}

/// One tag's directory.
pub fn tag_dir(name: &RepositoryName, tag: &Tag) -> String {
    format!("{}/_manifests/tags/{}", repository(name), tag.as_str())
}

/// The link to the manifest a tag points to now.
pub fn tag_current_link(name: &RepositoryName, tag: &Tag) -> String {
    format!("{}/current/link", tag_dir(name, tag))
}

/// The history entry recording that a tag pointed to a manifest.
pub fn tag_index_link(name: &RepositoryName, tag: &Tag, digest: &Digest) -> String {
    format!(
        "{}/index/{}/{}/link",
        tag_dir(name, tag),
        digest.algorithm(),
        digest.encoded()
    )
}

/// A repository's uploads.
pub fn uploads_dir(name: &RepositoryName) -> String {
    format!("{}/_uploads", repository(name))
}

/// One upload's directory.
pub fn upload_dir(name: &RepositoryName, id: &str) -> String {
    format!("{}/_uploads/{id}", repository(name))
}

/// The data received by an upload.
pub fn upload_data(name: &RepositoryName, id: &str) -> String {
    format!("{}/data", upload_dir(name, id))
}

/// When an upload started (RFC 3339).
pub fn upload_started_at(name: &RepositoryName, id: &str) -> String {
    format!("{}/startedat", upload_dir(name, id))
}

/// An upload's saved hash states of one algorithm.
pub fn upload_hash_states(name: &RepositoryName, id: &str, algorithm: Algorithm) -> String {
    format!("{}/hashstates/{algorithm}", upload_dir(name, id))
}

/// The hash state of an upload after `offset` bytes.
pub fn upload_hash_state(
    name: &RepositoryName,
    id: &str,
    algorithm: Algorithm,
    offset: u64,
) -> String {
    format!("{}/{offset}", upload_hash_states(name, id, algorithm))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_distribution() {
        let name = RepositoryName::parse("library/ubuntu").unwrap();
        let d = Digest::sha256(b"");
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            blob_data(&d),
            format!("/docker/registry/v2/blobs/sha256/e3/{hex}/data")
        );
        assert_eq!(
            layer_link(&name, &d),
            format!("/docker/registry/v2/repositories/library/ubuntu/_layers/sha256/{hex}/link")
        );
        assert_eq!(
            revision_link(&name, &d),
            format!(
                "/docker/registry/v2/repositories/library/ubuntu/_manifests/revisions/sha256/{hex}/link"
            )
        );
        let tag = Tag::parse("latest").unwrap();
        assert_eq!(
            tag_current_link(&name, &tag),
            "/docker/registry/v2/repositories/library/ubuntu/_manifests/tags/latest/current/link"
        );
        assert_eq!(
            tag_index_link(&name, &tag, &d),
            format!(
                "/docker/registry/v2/repositories/library/ubuntu/_manifests/tags/latest/index/sha256/{hex}/link"
            )
        );
        assert_eq!(
            upload_hash_state(&name, "abc", Algorithm::Sha256, 1024),
            "/docker/registry/v2/repositories/library/ubuntu/_uploads/abc/hashstates/sha256/1024"
        );
        assert_eq!(
            upload_started_at(&name, "abc"),
            "/docker/registry/v2/repositories/library/ubuntu/_uploads/abc/startedat"
        );
        for p in [
            blob_data(&d),
            layer_link(&name, &d),
            tag_current_link(&name, &tag),
        ] {
            berth_driver::validate_path(&p).unwrap();
        }
    }
}
