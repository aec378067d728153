//! The mark phase: what each repository keeps (tags, the manifests they
//! reach, their children and referrers, the blobs all of those name).

use super::*;

/// Marks what one repository keeps; records what it loses.
pub(super) async fn mark_repository(
    driver: &dyn StorageDriver,
    manifests: &ManifestRegistry,
    name: &RepositoryName,
    options: GcOptions,
    marked: &mut HashSet<Digest>,
    report: &mut GcReport,
    doomed: &mut Vec<Doomed>,
) -> Result<()> {
    let digests = revision_digests(driver, name).await?;
    let revisions: HashMap<Digest, Revision> = futures_util::stream::iter(digests)
        .map(|digest| async move {
            let revision = read_revision(driver, manifests, &digest).await?;
            Ok::<_, Error>((digest, revision))
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;

    let entry = |digest: &Digest| GcManifest {
        repository: name.clone(),
        digest: digest.clone(),
    };
    let mut present: Vec<&Digest> = Vec::new();
    for (digest, revision) in &revisions {
        if matches!(revision, Revision::Dangling) {
            tracing::warn!(
                repository = name.as_str(),
                %digest,
                "garbage collection: skipping a revision whose manifest blob is missing"
            );
            report.dangling.push(entry(digest));
        } else {
            present.push(digest);
        }
    }

    let mut history = HashMap::new();
    let kept: HashSet<&Digest> = if options.delete_untagged {
        let tags = tags(driver, name).await?;
        let roots = present
            .iter()
            .copied()
            .filter(|d| tags.targets.contains(*d));
        history = tags.history;
        keep_closure(&revisions, roots)
    } else {
        present.iter().copied().collect()
    };

    for digest in &present {
        if !kept.contains(*digest) {
            continue;
        }
        let manifest = match revisions.get(*digest) {
            Some(Revision::Parsed(m)) => m,
            Some(Revision::Unreadable(reason)) => {
                return Err(Error::backend(
                    format!(
                        "garbage collection: reading manifest {digest} of repository {}",
                        name.as_str()
                    ),
                    reason.clone(),
                ));
            }
            Some(Revision::Dangling) | None => continue,
        };
        marked.insert((*digest).clone());
        marked.extend(manifest.references.iter().cloned());
        report.manifests_kept.push(entry(digest));
    }

    let lost: Vec<&Digest> = present.into_iter().filter(|d| !kept.contains(*d)).collect();
    if lost.is_empty() {
        return Ok(());
    }
    let mut entries = referrer_entries(driver, name).await?;
    for digest in lost {
        tracing::debug!(
            repository = name.as_str(),
            %digest,
            dry_run = options.dry_run,
            "garbage collection: manifest eligible for deletion"
        );
        let (references, subject) = match revisions.get(digest) {
            Some(Revision::Parsed(m)) => (m.references.clone(), m.subject.clone()),
            _ => (Vec::new(), None),
        };
        doomed.push(Doomed {
            manifest: entry(digest),
            tag_entries: history.remove(digest).unwrap_or_default(),
            referrer_entries: entries.remove(digest).unwrap_or_default(),
            references,
            subject,
        });
    }
    Ok(())
}

/// The manifests kept from `roots`: the roots, the child manifests of kept
/// indexes and the manifests whose subject is kept, recursively, among the
/// repository's present revisions.
pub(super) fn keep_closure<'a>(
    revisions: &'a HashMap<Digest, Revision>,
    roots: impl Iterator<Item = &'a Digest>,
) -> HashSet<&'a Digest> {
    let mut referrers: HashMap<&Digest, Vec<&Digest>> = HashMap::new();
    for (digest, revision) in revisions {
        if let Revision::Parsed(m) = revision
            && let Some(subject) = &m.subject
        {
            referrers.entry(subject).or_default().push(digest);
        }
    }
    let is_present = |d: &Digest| {
        matches!(
            revisions.get(d),
            Some(Revision::Parsed(_) | Revision::Unreadable(_))
        )
    };
    let mut kept: HashSet<&Digest> = HashSet::new();
    let mut work: Vec<&Digest> = roots.collect();
    while let Some(digest) = work.pop() {
        if !kept.insert(digest) {
            continue;
        }
        if let Some(Revision::Parsed(m)) = revisions.get(digest) {
            for child in &m.children {
                if let Some((child, _)) = revisions.get_key_value(child)
                    && is_present(child)
                {
                    work.push(child);
                }
            }
        }
        if let Some(found) = referrers.get(digest) {
            work.extend(found.iter().copied());
        }
    }
    kept
}

/// Reads the manifest a revision link names.
pub(super) async fn read_revision(
    driver: &dyn StorageDriver,
    manifests: &ManifestRegistry,
    digest: &Digest,
) -> Result<Revision> {
    let path = paths::blob_data(digest);
    let info = match driver.stat(&path).await {
        Ok(info) if !info.is_dir => info,
        Ok(_) => return Ok(Revision::Dangling),
        Err(e) if e.is_not_found() => return Ok(Revision::Dangling),
        Err(e) => return Err(driver_error("stat", e)),
    };
    if info.size > MAX_MANIFEST_SIZE as u64 {
        return Ok(Revision::Unreadable(format!(
            "the manifest blob is {} bytes, more than the {MAX_MANIFEST_SIZE} a manifest may have",
            info.size
        )));
    }
    let content = match driver.get_content(&path).await {
        Ok(content) => content,
        Err(e) if e.is_not_found() => return Ok(Revision::Dangling),
        Err(e) => return Err(driver_error("read", e)),
    };
    Ok(match manifests.parse_unvalidated(None, content) {
        Ok(m) => Revision::Parsed(Links::of(&m)),
        Err(e) => Revision::Unreadable(e.to_string()),
    })
}

/// The digests named by a repository's revision links, sorted.
///
/// As Distribution: every file named `link` below `_manifests/revisions`,
/// holding a digest whose own revision link is that file (a link filed
/// under another digest is not a revision of that digest).
pub(super) async fn revision_digests(
    driver: &dyn StorageDriver,
    name: &RepositoryName,
) -> Result<Vec<Digest>> {
    let root = format!("{}/revisions", paths::manifests_dir(name));
    let mut links = Vec::new();
    walk(driver, &root, |info| {
        if !info.is_dir && info.path.ends_with("/link") {
            links.push(info.path.clone());
        }
        Walk::Continue
    })
    .await?;
    let mut digests: Vec<Digest> = futures_util::stream::iter(links)
        .map(|path| async move {
            let digest = match read_link(driver, &path).await? {
                Some(digest) => digest,
                None => return Ok(None),
            };
            if paths::revision_link(name, &digest) != path {
                tracing::warn!(
                    path,
                    %digest,
                    "garbage collection: ignoring a revision link filed under another digest"
                );
                return Ok(None);
            }
            Ok::<_, Error>(Some(digest))
        })
        .buffer_unordered(CONCURRENCY)
        .try_filter_map(|d| async move { Ok(d) })
        .try_collect()
        .await?;
    digests.sort();
    digests.dedup();
    Ok(digests)
}

/// A repository's tags: where they point, and which tags' histories hold
/// each manifest.
pub(super) struct Tags {
    targets: HashSet<Digest>,
    /// By manifest: its entries (`<tag>/index/<alg>/<hex>` directories)
    /// in the tags' histories.
    history: HashMap<Digest, Vec<String>>,
}

/// Reads every tag's `current/link`, and finds the entries of the tags'
/// histories in one walk of the tags directory. A repository without a
/// tags directory has no tags (Distribution 2.8.2 fails the whole
/// collection there).
pub(super) async fn tags(driver: &dyn StorageDriver, name: &RepositoryName) -> Result<Tags> {
    let root = paths::tags_dir(name);
    let mut current = Vec::new();
    let mut history: HashMap<Digest, Vec<String>> = HashMap::new();
    walk(driver, &root, |info| {
        if info.is_dir || !info.path.ends_with("/link") {
            return Walk::Continue;
        }
        let rest = info.path.strip_prefix(&root).unwrap_or_default();
        match rest
            .trim_start_matches('/')
            .split('/')
            .collect::<Vec<_>>()
            .as_slice()
        {
            [_, "current", "link"] => current.push(info.path.clone()),
            [_, "index", alg, hex, "link"] => {
                if let Ok(digest) = Digest::parse(&format!("{alg}:{hex}")) {
                    let entry = berth_driver::parent(&info.path).to_owned();
                    history.entry(digest).or_default().push(entry);
                }
            }
            _ => {}
        }
        Walk::Continue
    })
    .await?;
    let targets: Vec<Option<Digest>> = futures_util::stream::iter(current.iter())
        .map(|link| async move { read_link(driver, link).await })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    Ok(Tags {
        targets: targets.into_iter().flatten().collect(),
        history,
    })
}

/// The entries of berth's referrers index in a repository, by referrer:
/// the `<referrer alg>/<referrer hex>` directories holding a `descriptor`.
pub(super) async fn referrer_entries(
    driver: &dyn StorageDriver,
    name: &RepositoryName,
) -> Result<HashMap<Digest, Vec<String>>> {
    let root = referrers_dir(name);
    let mut entries: HashMap<Digest, Vec<String>> = HashMap::new();
    walk(driver, &root, |info| {
        if info.is_dir || !info.path.ends_with("/descriptor") {
            return Walk::Continue;
        }
        let rest = info.path.strip_prefix(&root).unwrap_or_default();
        let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
        if let [_, _, alg, hex, "descriptor"] = parts.as_slice()
            && let Ok(referrer) = Digest::parse(&format!("{alg}:{hex}"))
        {
            let dir = berth_driver::parent(&info.path).to_owned();
            entries.entry(referrer).or_default().push(dir);
        }
        Walk::Continue
    })
    .await?;
    Ok(entries)
}
