//! The receiver and helpers the tests share.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use berth_notifications::{
    Action, EndpointOptions, Envelope, Event, NotificationsOptions, Notifier, SourceRecord,
};

/// How the receiver answers its `n`th request (0-based).
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    pub status: u16,
    pub delay: Duration,
}

impl Reply {
    pub fn ok() -> Reply {
        Reply {
            status: 200,
            delay: Duration::ZERO,
        }
    }

    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            delay: Duration::ZERO,
        }
    }

    pub fn slow(delay: Duration) -> Reply {
        Reply { status: 200, delay }
    }
}

type Behaviour = Box<dyn Fn(usize) -> Reply + Send + Sync>;

/// One request the receiver answered with 2xx or 3xx.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn envelope(&self) -> Envelope {
        serde_json::from_slice(&self.body).expect("an envelope")
    }
}

struct State {
    attempts: AtomicUsize,
    accepted: Mutex<Vec<Received>>,
    behaviour: Behaviour,
}

/// A webhook receiver on loopback.
pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<State>,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

async fn handle(req: HttpRequest, body: web::Bytes, state: web::Data<Arc<State>>) -> HttpResponse {
    let n = state.attempts.fetch_add(1, Ordering::SeqCst);
    let reply = (state.behaviour)(n);
    if !reply.delay.is_zero() {
        actix_web::rt::time::sleep(reply.delay).await;
    }
    if (200..400).contains(&reply.status) && reply.delay < Duration::from_millis(150) {
        state.accepted.lock().unwrap().push(Received {
            method: req.method().to_string(),
            headers: req
                .headers()
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
            body: body.to_vec(),
        });
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(reply.status).unwrap()).finish()
}

impl Receiver {
    /// A receiver answering 200 to everything.
    pub fn start() -> Receiver {
        Receiver::start_with("127.0.0.1:0".parse().unwrap(), |_| Reply::ok())
    }

    /// A receiver on `addr`; its `n`th request is answered with
    /// `behaviour(n)`. Requests answered slowly (150 ms or more) or with
    /// another status than 2xx/3xx are not recorded as accepted.
    pub fn start_with(
        addr: SocketAddr,
        behaviour: impl Fn(usize) -> Reply + Send + Sync + 'static,
    ) -> Receiver {
        let state = Arc::new(State {
            attempts: AtomicUsize::new(0),
            accepted: Mutex::new(Vec::new()),
            behaviour: Box::new(behaviour),
        });
        let data = web::Data::new(state.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .default_service(web::to(handle))
                })
                .workers(1)
                .bind(addr)
                .expect("bind the receiver");
                let bound = server.addrs()[0];
                let server = server.run();
                tx.send((server.handle(), bound)).unwrap();
                let _ = server.await;
            });
        });
        let (handle, addr) = rx.recv().expect("the receiver started");
        Receiver {
            addr,
            state,
            handle,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/events", self.addr)
    }

    pub fn attempts(&self) -> usize {
        self.state.attempts.load(Ordering::SeqCst)
    }

    pub fn accepted(&self) -> Vec<Received> {
        self.state.accepted.lock().unwrap().clone()
    }

    /// Every event of every accepted envelope, in arrival order.
    pub fn events(&self) -> Vec<Event> {
        self.accepted()
            .iter()
            .flat_map(|r| r.envelope().events)
            .collect()
    }

    /// Waits until `n` events arrived (or panics after `within`).
    pub async fn wait_for_events(&self, n: usize, within: Duration) -> Vec<Event> {
        let deadline = Instant::now() + within;
        loop {
            let events = self.events();
            if events.len() >= n {
                return events;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} events arrived within {within:?}",
                events.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn stop(mut self) {
        self.handle.stop(false).await;
        if let Some(thread) = self.thread.take() {
            tokio::task::spawn_blocking(move || thread.join().unwrap())
                .await
                .unwrap();
        }
    }
}

/// A loopback address nothing listens on (yet).
pub fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// Options with one endpoint `hook` posting to `url`, quick retries.
pub fn one_endpoint(spool: &Path, url: &str) -> NotificationsOptions {
    let mut endpoint = EndpointOptions::new("hook", url);
    endpoint.threshold = 2;
    endpoint.backoff = Duration::from_millis(50);
    endpoint.timeout = Duration::from_secs(2);
    let mut options = NotificationsOptions::new(spool).endpoint(endpoint);
    options.source = SourceRecord {
        addr: "berth.test:5000".into(),
        instance_id: "instance-1".into(),
    };
    options
}

/// An event for tests of delivery, with a fixed timestamp (so that all
/// such events have the same size) and a recognisable repository.
pub fn event(n: usize) -> Event {
    let mut event = Event::new(Action::Push);
    event.timestamp = time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    event.target.media_type = "application/vnd.oci.image.layer.v1.tar".into();
    event.target.digest = format!("sha256:{n:064x}");
    event.target.size = 1000;
    event.target.length = 1000;
    event.target.repository = format!("test/repo{n:04}");
    event.request.id = format!("request-{n:04}");
    event.request.method = "PUT".into();
    event
}

/// Waits until `cond` holds (or panics after `within`).
pub async fn wait_until(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub async fn publish_all(notifier: &Notifier, events: &[Event]) {
    for event in events {
        notifier.publish(event).await.expect("published");
    }
}

pub fn ids(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.id.clone()).collect()
}
