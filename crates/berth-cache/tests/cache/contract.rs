//! What every provider does, written once. Each case takes a provider and
//! uses digests and repositories of its own, so cases can share a Redis
//! and run concurrently. `contract_suite!(make)` turns every case into a
//! `#[tokio::test]` for the provider `make().await` gives (`None` skips).

use std::sync::Arc;

use berth_cache::BlobDescriptorCacheProvider;
use berth_core::ErrorKind;
use berth_digest::{Algorithm, Digest};
use berth_manifest::Descriptor;

use crate::common::{CONFIG, LAYER, digest, kind_of, layer, repo, unique};

type Provider = Arc<dyn BlobDescriptorCacheProvider>;

/// Every case, as one `#[tokio::test]` each, for the provider `$make`
/// (an async fn answering `Option<Provider>`).
macro_rules! contract_suite {
    ($make:path) => {
        contract_suite!(@cases $make;
            global_set_then_stat,
            unknown_digests_miss_and_clear_succeeds,
            global_set_overwrites_and_clear_forgets,
            scoped_stat_needs_membership,
            scoped_set_records_the_global_descriptor,
            scoped_clear_removes_membership_only,
            global_clear_makes_scoped_stats_miss,
            repository_media_type_overrides_the_global_one,
            invalid_descriptors_are_refused,
            alias_digests_are_recorded_under_both,
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                if let Some(provider) = $make().await {
                    crate::contract::$case(provider).await;
                }
            }
        )*
    };
}

/// A global set is answered by stat, with the three fields a cache keeps.
pub async fn global_set_then_stat(p: Provider) {
    let d = digest();
    let mut full = layer(&d, 42);
    full.urls.push("https://example.com/blob".to_owned());
    full.annotations
        .insert("org.example".to_owned(), "x".to_owned());
    p.set_descriptor(&d, &full).await.unwrap();
    assert_eq!(p.stat(&d).await.unwrap(), layer(&d, 42));
}

/// Unknown digests are `BlobUnknown`, globally and in a repository;
/// clearing them succeeds.
pub async fn unknown_digests_miss_and_clear_succeeds(p: Provider) {
    let d = digest();
    assert_eq!(kind_of(p.stat(&d).await), ErrorKind::BlobUnknown);
    let scoped = p.repository_scoped(&repo());
    assert_eq!(kind_of(scoped.stat(&d).await), ErrorKind::BlobUnknown);
    p.clear(&d).await.unwrap();
    scoped.clear(&d).await.unwrap();
}

/// A second global set replaces the first; clear forgets, twice is fine.
pub async fn global_set_overwrites_and_clear_forgets(p: Provider) {
    let d = digest();
    p.set_descriptor(&d, &layer(&d, 1)).await.unwrap();
    let config = Descriptor::new(CONFIG, d.clone(), 1);
    p.set_descriptor(&d, &config).await.unwrap();
    assert_eq!(p.stat(&d).await.unwrap(), config);
    p.clear(&d).await.unwrap();
    assert_eq!(kind_of(p.stat(&d).await), ErrorKind::BlobUnknown);
    p.clear(&d).await.unwrap();
}

/// A repository sees a blob only once it was set through that repository.
pub async fn scoped_stat_needs_membership(p: Provider) {
    let d = digest();
    let (a, b) = (p.repository_scoped(&repo()), p.repository_scoped(&repo()));
    p.set_descriptor(&d, &layer(&d, 7)).await.unwrap();
    assert_eq!(kind_of(a.stat(&d).await), ErrorKind::BlobUnknown);
    a.set_descriptor(&d, &layer(&d, 7)).await.unwrap();
    assert_eq!(a.stat(&d).await.unwrap(), layer(&d, 7));
    assert_eq!(kind_of(b.stat(&d).await), ErrorKind::BlobUnknown);
}

/// A scoped set also records the global descriptor.
pub async fn scoped_set_records_the_global_descriptor(p: Provider) {
    let d = digest();
    p.repository_scoped(&repo())
        .set_descriptor(&d, &layer(&d, 9))
        .await
        .unwrap();
    assert_eq!(p.stat(&d).await.unwrap(), layer(&d, 9));
}

/// A scoped clear removes the membership in that repository only; the
/// global descriptor and other repositories keep it.
pub async fn scoped_clear_removes_membership_only(p: Provider) {
    let d = digest();
    let (a, b) = (p.repository_scoped(&repo()), p.repository_scoped(&repo()));
    a.set_descriptor(&d, &layer(&d, 3)).await.unwrap();
    b.set_descriptor(&d, &layer(&d, 3)).await.unwrap();
    a.clear(&d).await.unwrap();
    assert_eq!(kind_of(a.stat(&d).await), ErrorKind::BlobUnknown);
    assert_eq!(b.stat(&d).await.unwrap(), layer(&d, 3));
    assert_eq!(p.stat(&d).await.unwrap(), layer(&d, 3));
    a.clear(&d).await.unwrap();
}

/// Clearing the global descriptor (a blob deleted or collected) makes
/// every repository miss; recording it again (the blob pushed again)
/// makes the repositories that still have it hit.
pub async fn global_clear_makes_scoped_stats_miss(p: Provider) {
    let d = digest();
    let a = p.repository_scoped(&repo());
    a.set_descriptor(&d, &layer(&d, 5)).await.unwrap();
    p.clear(&d).await.unwrap();
    assert_eq!(kind_of(a.stat(&d).await), ErrorKind::BlobUnknown);
    assert_eq!(kind_of(p.stat(&d).await), ErrorKind::BlobUnknown);
    p.set_descriptor(&d, &layer(&d, 5)).await.unwrap();
    assert_eq!(a.stat(&d).await.unwrap(), layer(&d, 5));
}

/// Each repository answers its own media type for a blob; the global
/// descriptor keeps the first one recorded through a repository.
pub async fn repository_media_type_overrides_the_global_one(p: Provider) {
    let d = digest();
    let (a, b) = (p.repository_scoped(&repo()), p.repository_scoped(&repo()));
    let as_config = Descriptor::new(CONFIG, d.clone(), 2);
    a.set_descriptor(&d, &layer(&d, 2)).await.unwrap();
    b.set_descriptor(&d, &as_config).await.unwrap();
    assert_eq!(a.stat(&d).await.unwrap().media_type, LAYER);
    assert_eq!(b.stat(&d).await.unwrap().media_type, CONFIG);
    assert_eq!(p.stat(&d).await.unwrap().media_type, LAYER);
    // An explicit global set does replace it, and repositories keep theirs.
    p.set_descriptor(&d, &as_config).await.unwrap();
    assert_eq!(p.stat(&d).await.unwrap().media_type, CONFIG);
    assert_eq!(a.stat(&d).await.unwrap().media_type, LAYER);
}

/// Negative sizes, empty media types and digests that contradict the key
/// are refused (an error, not a panic) and nothing is recorded.
pub async fn invalid_descriptors_are_refused(p: Provider) {
    let d = digest();
    let other = digest();
    let scoped = p.repository_scoped(&repo());
    for bad in [
        layer(&d, -1),
        Descriptor::new("", d.clone(), 1),
        layer(&other, 1),
    ] {
        assert_eq!(
            kind_of(p.set_descriptor(&d, &bad).await),
            ErrorKind::Unknown
        );
        assert_eq!(
            kind_of(scoped.set_descriptor(&d, &bad).await),
            ErrorKind::Unknown
        );
    }
    assert_eq!(kind_of(p.stat(&d).await), ErrorKind::BlobUnknown);
    assert_eq!(kind_of(scoped.stat(&d).await), ErrorKind::BlobUnknown);
}

/// A descriptor set under a digest of another algorithm (its sha512
/// alias) answers the canonical digest under both keys.
pub async fn alias_digests_are_recorded_under_both(p: Provider) {
    let content = unique();
    let canonical = Digest::sha256(content.as_bytes());
    let alias = Algorithm::Sha512.digest(content.as_bytes());
    let desc = layer(&canonical, 11);
    p.set_descriptor(&alias, &desc).await.unwrap();
    assert_eq!(p.stat(&alias).await.unwrap(), desc);
    assert_eq!(p.stat(&canonical).await.unwrap(), desc);

    let content = unique();
    let canonical = Digest::sha256(content.as_bytes());
    let alias = Algorithm::Sha512.digest(content.as_bytes());
    let desc = layer(&canonical, 12);
    let scoped = p.repository_scoped(&repo());
    scoped.set_descriptor(&alias, &desc).await.unwrap();
    assert_eq!(scoped.stat(&alias).await.unwrap(), desc);
    assert_eq!(scoped.stat(&canonical).await.unwrap(), desc);
}
