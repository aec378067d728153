//! The catalog and tag listing, berth against Distribution, in one run.
//!
//! `cargo bench -p berth-storage --bench catalog` seeds one storage root on
//! the filesystem driver with 10,000 repositories (`bench/r00000` …
//! `bench/r09999`, plus nested `bench/rNNNNN/sub` and look-alike
//! `bench/rNNNNN-x` ones, which sort differently component-wise than as
//! strings), each with one tagged Docker schema 2 manifest, and one
//! repository `bench/tags` with 10,000 tags. A few repositories are pushed
//! through berth-storage's API (blobs, then the manifest with its tag); the
//! rest get the same link files written through the driver, pointing at
//! the same blobs: the layout is what the listings read.
//!
//! Then it starts Debian's `docker-registry` (CNCF Distribution 2.8) on
//! that root and times, alternating berth and docker-registry over rounds
//! after one untimed pass of each:
//!
//! - the whole catalog, paged by 1000 (Distribution's `catalog.maxentries`
//!   default and cap), following `Link` headers;
//! - the first catalog page of 100, and the last one (`last` set to the
//!   101st name from the end: Distribution walks from the start for every
//!   page, berth skips what sorts before `last`);
//! - the 10,000 tags of `bench/tags`, in one listing, and (berth only) a
//!   page of 100 of them.
//!
//! and checks that both return the same names. Distribution 2.8 ignores
//! `n` and `last` on a tag list (it always answers every tag, in directory
//! order), so a tag page is timed for berth only.
//!
//! berth is measured **in-process**, through the library (`Namespace::
//! catalog`, `TagService::list`), without HTTP; docker-registry over HTTP
//! on loopback. The HTTP-level comparison comes with the server's
//! benchmark.
//!
//! The directory is `BERTH_BENCH_DIR` if set, else a temporary directory
//! under Cargo's target directory. Without `--bench` (as `cargo test` runs
//! it) it seeds 200 repositories and 200 tags and runs one round.

use std::sync::Arc;
use std::time::Instant;

use berth_core::{Namespace, PageRequest, PutOptions, Repository};
use berth_digest::Digest;
use berth_driver::FilesystemDriver;
use berth_manifest::{ManifestRegistry, media_type};
use berth_reference::{RepositoryName, Tag};
use berth_storage::{Registry, StorageOptions, compare_repository_names, paths};
use berth_testkit::DockerRegistry;
use berth_testkit::bench::{benching, median};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};

/// How many link files are written at once while seeding.
const SEED_CONCURRENCY: usize = 64;
/// One in this many repositories gets a nested `…/sub` and a `…-x` sibling.
const NESTED_EVERY: usize = 200;
/// The repository holding the many tags.
const TAGS_REPOSITORY: &str = "bench/tags";
/// Repositories pushed through the API rather than by writing links.
const PUSHED: usize = 8;
/// Size of the first catalog page and of the tag page timed.
const SMALL_PAGE: usize = 100;

/// The sizes of one run.
struct Scale {
    repositories: usize,
    tags: usize,
    rounds: usize,
    /// The catalog page size when listing it all.
    page: usize,
    /// Repetitions per round of the small, fast operations.
    repeat: usize,
}

/// The blobs and manifest every repository links to.
struct Image {
    config: (Bytes, Digest),
    layer: (Bytes, Digest),
    manifest: (Bytes, Digest),
}

impl Image {
    fn new() -> Image {
        let layer = Bytes::from_static(b"berth catalog benchmark layer\n");
        let layer_digest = Digest::sha256(&layer);
        let config = Bytes::from(format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}}}}"#
        ));
        let config_digest = Digest::sha256(&config);
        let manifest = Bytes::from(format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"{}","digest":"{layer_digest}","size":{}}}]}}"#,
            media_type::DOCKER_MANIFEST_V2,
            media_type::DOCKER_CONFIG,
            config.len(),
            media_type::DOCKER_LAYER_GZIP,
            layer.len(),
        ));
        let manifest_digest = Digest::sha256(&manifest);
        Image {
            config: (config, config_digest),
            layer: (layer, layer_digest),
            manifest: (manifest, manifest_digest),
        }
    }
}

fn repository_name(s: &str) -> RepositoryName {
    RepositoryName::parse(s).unwrap_or_else(|e| panic!("repository name {s}: {e}"))
}

fn tag(s: &str) -> Tag {
    Tag::parse(s).unwrap_or_else(|e| panic!("tag {s}: {e}"))
}

/// Every repository name seeded, in the order the catalog lists them.
fn repository_names(count: usize) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(count + 2 * count / NESTED_EVERY + 1);
    for i in 0..count {
        names.push(format!("bench/r{i:05}"));
        if i % NESTED_EVERY == NESTED_EVERY / 2 {
            names.push(format!("bench/r{i:05}/sub"));
            names.push(format!("bench/r{i:05}-x"));
        }
    }
    names.push(TAGS_REPOSITORY.to_owned());
    names.sort_by(|a, b| compare_repository_names(a, b));
    names
}

fn tag_names(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("t{i:05}")).collect()
}

/// Pushes `image` into `name` through the API, tagged `tag`.
async fn push(registry: &Registry, image: &Image, name: &RepositoryName, tag: Tag) {
    let repository = registry.repository(name);
    for (content, media_type) in [
        (&image.config.0, media_type::DOCKER_CONFIG),
        (&image.layer.0, media_type::DOCKER_LAYER_GZIP),
    ] {
        repository
            .blobs()
            .put(media_type, content.clone())
            .await
            .unwrap_or_else(|e| panic!("put a blob into {}: {e}", name.as_str()));
    }
    let manifest = ManifestRegistry::new()
        .parse(
            Some(media_type::DOCKER_MANIFEST_V2),
            image.manifest.0.clone(),
        )
        .unwrap_or_else(|e| panic!("parse the manifest: {e}"));
    repository
        .manifests()
        .put(
            &manifest,
            PutOptions {
                tag: Some(tag),
                ..PutOptions::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("put the manifest into {}: {e}", name.as_str()));
}

/// The link files a push of `image` into `name`, tagged `tags`, leaves
/// (its blobs' and manifest's links only `with_blobs`), with the digest
/// each holds.
fn links(
    image: &Image,
    name: &RepositoryName,
    tags: &[String],
    with_blobs: bool,
) -> Vec<(String, Digest)> {
    let manifest = &image.manifest.1;
    let mut out = Vec::new();
    if with_blobs {
        for blob in [&image.config.1, &image.layer.1] {
            out.push((paths::layer_link(name, blob), blob.clone()));
        }
        out.push((paths::revision_link(name, manifest), manifest.clone()));
    }
    for t in tags {
        let t = tag(t);
        out.push((paths::tag_index_link(name, &t, manifest), manifest.clone()));
        out.push((paths::tag_current_link(name, &t), manifest.clone()));
    }
    out
}

/// Seeds `registry`: a few repositories through the API, the rest (and
/// all tags but one) as link files written through the driver,
/// concurrently.
async fn seed(registry: &Registry, image: &Image, repositories: &[String], tags: &[String]) {
    let latest = ["latest".to_owned()];
    let mut files: Vec<(String, Digest)> = Vec::new();
    for (i, name) in repositories.iter().enumerate() {
        let name = repository_name(name);
        if name.as_str() == TAGS_REPOSITORY {
            push(registry, image, &name, tag(&tags[0])).await;
            files.extend(links(image, &name, &tags[1..], false));
        } else if i < PUSHED {
            push(registry, image, &name, tag("latest")).await;
        } else {
            files.extend(links(image, &name, &latest, true));
        }
    }
    let driver = registry.driver();
    futures_util::stream::iter(files)
        .map(|(path, digest)| async move {
            driver
                .put_content(&path, Bytes::copy_from_slice(digest.as_str().as_bytes()))
                .await
                .map_err(|e| format!("{path}: {e}"))
        })
        .buffer_unordered(SEED_CONCURRENCY)
        .try_collect::<()>()
        .await
        .unwrap_or_else(|e| panic!("seed: {e}"));
}

/// The whole catalog through the library, `page` names at a time.
async fn berth_catalog(registry: &Registry, page: usize) -> Vec<String> {
    let mut names = Vec::new();
    let mut last = None;
    loop {
        let got = Namespace::catalog(
            registry,
            PageRequest {
                n: Some(page),
                last,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("catalog: {e}"));
        names.extend(got.items);
        if !got.more {
            return names;
        }
        last = names.last().cloned();
    }
}

/// One catalog page through the library.
async fn berth_page(registry: &Registry, n: usize, last: Option<&str>) -> Vec<String> {
    Namespace::catalog(
        registry,
        PageRequest {
            n: Some(n),
            last: last.map(str::to_owned),
        },
    )
    .await
    .unwrap_or_else(|e| panic!("catalog: {e}"))
    .items
}

async fn berth_tags(registry: &Registry, name: &RepositoryName, n: Option<usize>) -> Vec<String> {
    registry
        .repository(name)
        .tags()
        .list(PageRequest { n, last: None })
        .await
        .unwrap_or_else(|e| panic!("tags of {}: {e}", name.as_str()))
        .items
}

/// A GET of a path on docker-registry: the JSON body and the `Link`
/// header's target.
type Get = Box<dyn Fn(&str) -> (serde_json::Value, Option<String>)>;

/// Distribution over HTTP, through one keep-alive connection.
struct Distribution {
    server: DockerRegistry,
    get: Get,
}

impl Distribution {
    fn new(server: DockerRegistry) -> Distribution {
        let agent = berth_testkit::http();
        let base = server.url.clone();
        let get = move |path_and_query: &str| {
            let url = format!("{base}{path_and_query}");
            let resp = agent
                .get(&url)
                .call()
                .unwrap_or_else(|e| panic!("GET {url}: {e}"));
            let status = resp.status().as_u16();
            let link = resp
                .headers()
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| Some(v[v.find('<')? + 1..v.find('>')?].to_owned()));
            let body = resp
                .into_body()
                .read_to_vec()
                .unwrap_or_else(|e| panic!("GET {url}: body: {e}"));
            assert_eq!(status, 200, "GET {url}: {}", String::from_utf8_lossy(&body));
            let json = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("GET {url}: {e}"));
            (json, link)
        };
        Distribution {
            server,
            get: Box::new(get),
        }
    }

    fn get(&self, path_and_query: &str) -> (serde_json::Value, Option<String>) {
        (self.get)(path_and_query)
    }

    fn strings(json: &serde_json::Value, field: &str) -> Vec<String> {
        json.get(field)
            .and_then(|v| v.as_array())
            .unwrap_or_else(|| panic!("no {field} array in {json}"))
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The whole catalog, `n` at a time, following `Link` headers.
    fn catalog(&self, n: usize) -> Vec<String> {
        let mut names = Vec::new();
        let mut next = Some(format!("/v2/_catalog?n={n}"));
        while let Some(path) = next {
            let (json, link) = self.get(&path);
            names.extend(Self::strings(&json, "repositories"));
            next = link;
        }
        names
    }

    fn catalog_page(&self, n: usize, last: Option<&str>) -> Vec<String> {
        let last = last.map(|l| format!("&last={l}")).unwrap_or_default();
        Self::strings(
            &self.get(&format!("/v2/_catalog?n={n}{last}")).0,
            "repositories",
        )
    }

    fn tags(&self, name: &str, query: &str) -> Vec<String> {
        Self::strings(&self.get(&format!("/v2/{name}/tags/list{query}")).0, "tags")
    }
}

/// One timed operation: what it listed.
type Op<'a> = Box<dyn Fn() -> Vec<String> + 'a>;

/// Times `f` once, in seconds.
fn time<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed().as_secs_f64(), out)
}

/// Medians of berth's and Distribution's samples of one operation.
#[derive(Default)]
struct Samples {
    berth: Vec<f64>,
    distribution: Vec<f64>,
}

impl Samples {
    fn report(&self, what: &str) -> String {
        let b = median(self.berth.clone()).unwrap_or(f64::NAN);
        match median(self.distribution.clone()) {
            Some(d) => format!(
                "{what:<30} berth {:>10}  docker-registry {:>10}  berth/docker-registry {:.3}",
                ms(b),
                ms(d),
                b / d
            ),
            None => format!(
                "{what:<30} berth {:>10}  (not timed on docker-registry)",
                ms(b)
            ),
        }
    }
}

fn ms(secs: f64) -> String {
    if secs < 0.01 {
        format!("{:.3} ms", secs * 1e3)
    } else {
        format!("{:.1} ms", secs * 1e3)
    }
}

fn main() {
    let scale = if benching() {
        Scale {
            repositories: 10_000,
            tags: 10_000,
            rounds: 5,
            page: 1000,
            repeat: 20,
        }
    } else {
        Scale {
            repositories: 200,
            tags: 200,
            rounds: 1,
            page: 64,
            repeat: 2,
        }
    };
    let (dir, _guard) = berth_testkit::bench::bench_dir(env!("CARGO_TARGET_TMPDIR"));
    let root = dir.join("catalog-root");
    let _ = std::fs::remove_dir_all(&root);

    let repositories = repository_names(scale.repositories);
    let tags = tag_names(scale.tags);
    println!(
        "catalog and tag listing: {} repositories, {} tags in {TAGS_REPOSITORY}, {} round(s), in {}",
        repositories.len(),
        tags.len(),
        scale.rounds,
        root.display()
    );
    println!(
        "berth is measured in-process through the library (FilesystemDriver + Registry), \
         WITHOUT HTTP; docker-registry over HTTP on loopback. \
         The HTTP-level comparison comes with the server's benchmark."
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let registry = Registry::new(
        Arc::new(FilesystemDriver::new(&root)),
        StorageOptions::default(),
    );
    let image = Image::new();
    let (secs, ()) = time(|| runtime.block_on(seed(&registry, &image, &repositories, &tags)));
    println!(
        "seeded in {secs:.1} s ({} repositories, {PUSHED} of them and one tag pushed through the API, \
         the rest as link files through the driver, {SEED_CONCURRENCY} at a time)",
        repositories.len()
    );
    let tags_repository = repository_name(TAGS_REPOSITORY);
    let mut sorted_tags = tags.clone();
    sorted_tags.sort_unstable();

    // Both must see what was seeded before anything is timed.
    runtime.block_on(async {
        let probe = repository_name(&repositories[repositories.len() / 2]);
        let repository = registry.repository(&probe);
        let descriptor = repository
            .tags()
            .get(&tag("latest"))
            .await
            .unwrap_or_else(|e| panic!("berth: {}:latest: {e}", probe.as_str()));
        assert_eq!(descriptor.digest, image.manifest.1);
        repository
            .manifests()
            .get(&descriptor.digest)
            .await
            .unwrap_or_else(|e| panic!("berth: manifest of {}: {e}", probe.as_str()));
    });

    // Started after seeding, on the same root.
    let distribution = DockerRegistry::start(&root).map(|server| {
        let probe = &repositories[repositories.len() / 2];
        let url = format!("{}/v2/{probe}/manifests/latest", server.url);
        let resp = berth_testkit::http()
            .get(&url)
            .header("Accept", media_type::DOCKER_MANIFEST_V2)
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert_eq!(
            resp.status().as_u16(),
            200,
            "docker-registry cannot serve {probe}:latest from the seeded root"
        );
        Distribution::new(server)
    });

    // The operations timed, on each side, each answering what it listed.
    let deep_last = repositories[repositories.len().saturating_sub(SMALL_PAGE + 1)].clone();
    let berth_ops: [(&str, Op<'_>); 5] = [
        (
            "catalog, all",
            Box::new(|| runtime.block_on(berth_catalog(&registry, scale.page))),
        ),
        (
            "catalog, first page",
            Box::new(|| runtime.block_on(berth_page(&registry, SMALL_PAGE, None))),
        ),
        (
            "catalog, deep page",
            Box::new(|| runtime.block_on(berth_page(&registry, SMALL_PAGE, Some(&deep_last)))),
        ),
        (
            "tags, all",
            Box::new(|| runtime.block_on(berth_tags(&registry, &tags_repository, None))),
        ),
        (
            "tags, first page",
            Box::new(|| {
                runtime.block_on(berth_tags(&registry, &tags_repository, Some(SMALL_PAGE)))
            }),
        ),
    ];
    let distribution_ops: Vec<Op<'_>> = match &distribution {
        Some(d) => vec![
            Box::new(|| d.catalog(scale.page)),
            Box::new(|| d.catalog_page(SMALL_PAGE, None)),
            Box::new(|| d.catalog_page(SMALL_PAGE, Some(&deep_last))),
            Box::new(|| d.tags(TAGS_REPOSITORY, "")),
            // No tag pagination in Distribution 2.8: nothing to time.
        ],
        None => Vec::new(),
    };
    let first = &repositories[..SMALL_PAGE.min(repositories.len())];
    let deep = &repositories[repositories.len().saturating_sub(SMALL_PAGE)..];
    let expected: [Vec<String>; 5] = [
        repositories.clone(),
        first.to_vec(),
        deep.to_vec(),
        sorted_tags.clone(),
        sorted_tags[..SMALL_PAGE.min(sorted_tags.len())].to_vec(),
    ];
    // The whole catalog is timed once per round, the rest `repeat` times.
    let repeats = [1, scale.repeat, scale.repeat, scale.repeat, scale.repeat];

    // One untimed pass of each, checking every answer: the catalogs in
    // order, the tags as a set (Distribution does not sort them).
    for (i, (what, op)) in berth_ops.iter().enumerate() {
        assert_eq!(op(), expected[i], "berth: {what}");
    }
    for (i, op) in distribution_ops.iter().enumerate() {
        let mut got = op();
        if i == 3 {
            let in_order = got == expected[i];
            got.sort_unstable();
            println!(
                "docker-registry's tag list: {} tags, {}",
                got.len(),
                if in_order { "sorted" } else { "NOT sorted" }
            );
        }
        assert_eq!(got, expected[i], "docker-registry: {}", berth_ops[i].0);
    }
    if let Some(d) = &distribution {
        let paged = d.tags(TAGS_REPOSITORY, &format!("?n={SMALL_PAGE}"));
        println!(
            "docker-registry's tag list with ?n={SMALL_PAGE}: {} tags (n and last are ignored on \
             tags, so the tag page is timed for berth only)",
            paged.len()
        );
    }

    let mut samples: Vec<Samples> = (0..berth_ops.len()).map(|_| Samples::default()).collect();
    for round in 1..=scale.rounds {
        // Alternate who goes first.
        let berth_first = round % 2 == 1;
        for berth_turn in [berth_first, !berth_first] {
            for (i, repeat) in repeats.iter().enumerate() {
                let (op, into) = if berth_turn {
                    (&berth_ops[i].1, &mut samples[i].berth)
                } else {
                    match distribution_ops.get(i) {
                        Some(op) => (op, &mut samples[i].distribution),
                        None => continue,
                    }
                };
                for _ in 0..*repeat {
                    let (secs, got) = time(op);
                    assert_eq!(got.len(), expected[i].len(), "{}", berth_ops[i].0);
                    into.push(secs);
                }
            }
        }
        let last = |v: &Vec<f64>| v.last().copied().map(ms).unwrap_or_else(|| "n/a".into());
        println!(
            "round {round}: catalog by {}: berth {}, docker-registry {}",
            scale.page,
            last(&samples[0].berth),
            last(&samples[0].distribution)
        );
    }

    println!(
        "medians ({} rounds; the single pages and tag lists {} times a round):",
        scale.rounds, scale.repeat
    );
    let labels = [
        format!("catalog, all {} by {}", repositories.len(), scale.page),
        format!("catalog, first page of {SMALL_PAGE}"),
        format!("catalog, last page of {SMALL_PAGE}"),
        format!("tags, all {} at once", tags.len()),
        format!("tags, first page of {SMALL_PAGE}"),
    ];
    for (label, samples) in labels.iter().zip(&samples) {
        println!("{}", samples.report(label));
    }
    println!("(berth in-process without HTTP; docker-registry over HTTP on loopback)");
    drop(berth_ops);
    drop(distribution_ops);

    if let Some(d) = distribution {
        let config = d.server.root.with_extension("docker-registry.yml");
        drop(d);
        let _ = std::fs::remove_file(config);
    }
    let _ = std::fs::remove_dir_all(&root);
}
