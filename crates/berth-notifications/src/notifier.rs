//! The notifier: the broadcaster over every endpoint's queue.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use berth_core::Namespace;
use berth_spool::{MAX_RECORD_LEN, Record, Spool, SpoolOptions};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::endpoint::{Endpoint, EndpointStats, prepare};
use crate::error::Error;
use crate::event::{Event, EventsMediaType, SourceRecord};
use crate::listener::{ListenerNamespace, RequestContext, RequestListener};
use crate::options::NotificationsOptions;

/// Sends registry events to the configured endpoints.
///
/// Cheap to clone (a handle on shared state). See the [crate
/// documentation](crate) for an example.
#[derive(Clone)]
pub struct Notifier {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("endpoints", &self.shared.endpoints)
            .finish_non_exhaustive()
    }
}

/// What the notifier and every listener share.
pub(crate) struct Shared {
    endpoints: Vec<Arc<Endpoint>>,
    pub(crate) include_references: bool,
    pub(crate) source: SourceRecord,
    media_type: EventsMediaType,
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    closed: AtomicBool,
}

impl Shared {
    /// Appends `event` to the queue of every endpoint whose filters let it
    /// through, returning once it is durable in all of them.
    pub(crate) async fn publish(&self, event: &Event) -> Result<(), Error> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let targets: Vec<&Arc<Endpoint>> =
            self.endpoints.iter().filter(|e| e.accepts(event)).collect();
        if targets.is_empty() {
            return Ok(());
        }
        // The stored form is the v2 JSON (every field, nothing lost); the
        // delivery task re-serializes it in the configured form.
        let payload = event.to_json(EventsMediaType::V2);
        if payload.len() as u64 > MAX_RECORD_LEN {
            return Err(Error::Invalid(format!(
                "event of {} bytes exceeds the queue's record limit of {MAX_RECORD_LEN} bytes",
                payload.len()
            )));
        }
        let record = Record::new(&payload)?;
        let mut waiting = Vec::with_capacity(targets.len());
        let mut first_error = None;
        for endpoint in &targets {
            match endpoint.spool.append(&record) {
                Ok(commit) => waiting.push((endpoint, commit)),
                Err(e) => {
                    first_error.get_or_insert(Error::from(e));
                }
            }
        }
        for (endpoint, commit) in waiting {
            match commit.await {
                Ok(()) => {}
                Err(berth_spool::Error::Io { source, .. }) => {
                    first_error.get_or_insert(Error::io(
                        PathBuf::from(format!("<queue of endpoint {}>", endpoint.name)),
                        source,
                    ));
                }
                Err(e) => {
                    first_error.get_or_insert(Error::from(e));
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// A directory name for an endpoint: its name when that is a safe file
/// name, otherwise the safe characters and a hash of the name.
pub(crate) fn endpoint_dir_name(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe == name && !name.starts_with('.') && !name.is_empty() {
        safe
    } else {
        format!(
            "{}-{:08x}",
            safe.trim_start_matches('.'),
            crc32fast::hash(name.as_bytes())
        )
    }
}

impl Notifier {
    /// Opens (or recovers) each enabled endpoint's queue under
    /// `options.spool_dir` and starts its delivery task on the current
    /// tokio runtime. Events left undelivered by the previous run are sent
    /// first, in order.
    ///
    /// Fails on an invalid endpoint (`url`, `headers`, duplicate `name`),
    /// a spool that cannot be opened, or one locked by another process.
    pub async fn start(options: NotificationsOptions) -> Result<Notifier, Error> {
        let mut names = HashSet::new();
        let mut prepared = Vec::new();
        for endpoint in &options.endpoints {
            if endpoint.name.is_empty() {
                return Err(Error::Invalid("an endpoint has no name".into()));
            }
            if !names.insert(endpoint.name.clone()) {
                return Err(Error::Invalid(format!(
                    "two endpoints are named {:?}",
                    endpoint.name
                )));
            }
            if endpoint.disabled {
                tracing::info!(endpoint = %endpoint.name, "notifications: endpoint disabled");
                continue;
            }
            for action in &endpoint.ignore_actions {
                if !crate::event::Action::ALL
                    .iter()
                    .any(|a| a.as_str() == action)
                {
                    tracing::warn!(endpoint = %endpoint.name, action = %action,
                        "notifications: ignore.actions names an unknown action (known: push, pull, mount, delete)");
                }
            }
            let (client, headers) = prepare(endpoint, options.media_type)?;
            prepared.push((endpoint.clone(), client, headers));
        }
        if options.max_queue_bytes == 0 {
            return Err(Error::Invalid("max_queue_bytes must be positive".into()));
        }

        let mut spools: Vec<Arc<Spool>> = Vec::new();
        let mut endpoints = Vec::new();
        for (endpoint, client, headers) in prepared {
            let dir = options.spool_dir.join(endpoint_dir_name(&endpoint.name));
            let spool_options = SpoolOptions::new(options.max_queue_bytes).name(&endpoint.name);
            let opened = tokio::task::spawn_blocking(move || Spool::open(&dir, spool_options))
                .await
                .map_err(|e| Error::Invalid(format!("opening the spool: {e}")))?;
            let spool = match opened {
                Ok(spool) => spool,
                Err(e) => {
                    close_all(spools).await;
                    return Err(e.into());
                }
            };
            spools.push(spool.clone());
            let (timeout, threshold, backoff) = endpoint.effective();
            tracing::info!(endpoint = %endpoint.name, url = %endpoint.url, ?timeout, threshold, ?backoff,
                "notifications: configuring endpoint");
            endpoints.push(Arc::new(Endpoint::new(
                &endpoint,
                spool,
                client,
                headers,
                options.media_type,
            )));
        }
        if !endpoints.is_empty() {
            warn_orphans(&options.spool_dir, &options);
        }

        let (shutdown, _) = watch::channel(false);
        let tasks = endpoints
            .iter()
            .map(|e| tokio::spawn(e.clone().run(shutdown.subscribe())))
            .collect();
        Ok(Notifier {
            shared: Arc::new(Shared {
                endpoints,
                include_references: options.include_references,
                source: options.source,
                media_type: options.media_type,
                shutdown,
                tasks: Mutex::new(tasks),
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// Whether any endpoint is enabled. When none is, [`wrap`](Notifier::wrap)
    /// returns the namespace unchanged.
    pub fn is_active(&self) -> bool {
        !self.shared.endpoints.is_empty()
    }

    /// The envelope's media type.
    pub fn media_type(&self) -> EventsMediaType {
        self.shared.media_type
    }

    /// Wraps `namespace` for one request: the repositories it hands out
    /// emit an event for each successful push, pull, mount or delete,
    /// durably queued before the call returns; `remove_repository` emits
    /// the repository delete. Calls that fail emit nothing.
    pub fn wrap(&self, namespace: Arc<dyn Namespace>, ctx: RequestContext) -> Arc<dyn Namespace> {
        if !self.is_active() {
            return namespace;
        }
        Arc::new(ListenerNamespace {
            inner: namespace,
            listener: Arc::new(RequestListener::new(self.shared.clone(), ctx)),
        })
    }

    /// Queues `event` for every endpoint whose filters let it through,
    /// durably (written and `fdatasync`ed) when this returns. The event is
    /// sent as it is: fill in `source` yourself.
    pub async fn publish(&self, event: &Event) -> Result<(), Error> {
        self.shared.publish(event).await
    }

    /// This instance's source record, as put in the events it builds.
    pub fn source(&self) -> &SourceRecord {
        &self.shared.source
    }

    /// The counters of each enabled endpoint, in configuration order.
    pub fn stats(&self) -> Vec<EndpointStats> {
        self.shared.endpoints.iter().map(|e| e.stats()).collect()
    }

    /// Stops delivering and closes the queues. An event being posted at
    /// that moment stays queued and is sent again by the next start (same
    /// `id`). Events published after this fail with [`Error::Closed`];
    /// appends already accepted are made durable first.
    pub async fn shutdown(&self) {
        self.shared.closed.store(true, Ordering::Release);
        let _ = self.shared.shutdown.send(true);
        let tasks: Vec<JoinHandle<()>> = {
            let mut tasks = self.shared.tasks.lock().unwrap_or_else(|e| e.into_inner());
            tasks.drain(..).collect()
        };
        for task in tasks {
            let _ = task.await;
        }
        close_all(
            self.shared
                .endpoints
                .iter()
                .map(|e| e.spool.clone())
                .collect(),
        )
        .await;
    }
}

async fn close_all(spools: Vec<Arc<Spool>>) {
    let _ = tokio::task::spawn_blocking(move || {
        for spool in spools {
            spool.close();
        }
    })
    .await;
}

/// Warns about queues left in the spool by endpoints no longer enabled.
fn warn_orphans(spool_dir: &std::path::Path, options: &NotificationsOptions) {
    let active: HashSet<String> = options
        .endpoints
        .iter()
        .filter(|e| !e.disabled)
        .map(|e| endpoint_dir_name(&e.name))
        .collect();
    let Ok(entries) = std::fs::read_dir(spool_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().join("cursor").exists() && !active.contains(&name) {
            tracing::warn!(queue = %entry.path().display(),
                "notifications: a queue of an endpoint that is not enabled is left in the spool; its events are not sent");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_directories() {
        assert_eq!(endpoint_dir_name("alistener"), "alistener");
        assert_eq!(endpoint_dir_name("local-5003.v2"), "local-5003.v2");
        let odd = endpoint_dir_name("my hook/1");
        assert!(odd.starts_with("my_hook_1-"), "{odd}");
        assert_ne!(endpoint_dir_name("a b"), endpoint_dir_name("a_b"));
        assert!(!endpoint_dir_name("..").starts_with('.'));
    }
}
