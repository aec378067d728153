//! A TCP fault proxy on loopback, put between a server under test and a
//! service it depends on (Redis, an S3 store), whose behaviour the test
//! switches at any moment.
//!
//! ```no_run
//! use std::time::Duration;
//! use berth_testkit::{Aim, AimAction, CannedResponse, Fault, FaultProxy};
//!
//! let proxy = FaultProxy::start("127.0.0.1:6379").expect("proxy");
//! // Point the server at `proxy.addr()` instead of the service, then:
//! proxy.set(Fault::Stall);               // bytes are held, connections stay open
//! proxy.set(Fault::Delay(Duration::from_millis(50)));
//! proxy.set(Fault::Reset);               // every connection gets an RST
//! proxy.set(Fault::Blackhole);           // accepted, swallowed, never answered
//! proxy.set(Fault::Respond(CannedResponse::s3_slow_down()));
//! // Only writes of `…~tail` objects fail (an HTTP-aware proxy):
//! proxy.set(Fault::Aimed(Aim::new("PUT", "~tail", AimAction::LoseAnswer)));
//! proxy.set(Fault::Pass);                // back to normal
//! ```
//!
//! Every connection is served by two threads (one per direction) that
//! look at the fault in force before each read and each write (at least
//! every [`POLL`]), so a switch reaches connections that are open as well
//! as new ones.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How often a connection's threads look at the fault in force when no
/// bytes move (their sockets' read and write timeout).
pub const POLL: Duration = Duration::from_millis(10);

/// The longest request head the HTTP-aware proxy holds while it waits for
/// the head's end; a longer one makes the connection opaque (forwarded as
/// bytes).
const MAX_HEAD: usize = 64 << 10;

/// How long an answered connection is read (and the bytes dropped) after
/// its canned response, so that a client still sending a body reads the
/// response rather than a reset.
const DRAIN: Duration = Duration::from_secs(5);

/// One direction of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the client (the server under test) to the upstream service.
    ToUpstream,
    /// From the upstream service back to the client.
    ToClient,
}

/// A response the proxy answers requests with itself, without the
/// upstream: the whole HTTP/1.1 response, always with `Content-Length`
/// and `Connection: close`.
#[derive(Clone, PartialEq, Eq)]
pub struct CannedResponse {
    bytes: Arc<[u8]>,
    status: u16,
}

impl std::fmt::Debug for CannedResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CannedResponse")
            .field("status", &self.status)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl CannedResponse {
    /// `status` with `reason`, the extra `headers` and `body`.
    pub fn new(status: u16, reason: &str, headers: &[(&str, &str)], body: &[u8]) -> Self {
        let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        ));
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        CannedResponse {
            bytes: bytes.into(),
            status,
        }
    }

    /// An S3 error document (`<Error><Code>…`) with `status`.
    pub fn s3_error(status: u16, reason: &str, code: &str, message: &str) -> Self {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
             <Message>{message}</Message><RequestId>berth-fault-proxy</RequestId></Error>"
        );
        CannedResponse::new(
            status,
            reason,
            &[
                ("Content-Type", "application/xml"),
                ("x-amz-request-id", "berth-fault-proxy"),
            ],
            body.as_bytes(),
        )
    }

    /// S3's throttling answer: `503 SlowDown`.
    pub fn s3_slow_down() -> Self {
        CannedResponse::s3_error(
            503,
            "Slow Down",
            "SlowDown",
            "Please reduce your request rate.",
        )
    }

    /// The status it answers with.
    pub fn status(&self) -> u16 {
        self.status
    }
}

/// What the proxy does to the bytes and connections that pass it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Forward everything, both ways.
    Pass,
    /// Forward, waiting this long before each chunk (each read, at most
    /// 64 KiB) in either direction.
    Delay(Duration),
    /// Hold the bytes: nothing is forwarded and nothing more is read, in
    /// either direction; connections stay open and new ones are accepted
    /// (and connected upstream). What was held goes on when the fault
    /// changes.
    Stall,
    /// Reset: every open connection is closed with an RST (`SO_LINGER`
    /// 0, then close) on both sides, once; while the fault is in force,
    /// new connections are accepted and reset at once.
    Reset,
    /// Accept, read and drop, never answer: open connections' bytes are
    /// dropped both ways, new connections are not connected upstream.
    /// A connection whose bytes were dropped is reset when the fault
    /// changes (its stream has a hole).
    Blackhole,
    /// Shut one direction down (a FIN on that side: the receiver reads
    /// the end of the stream), keeping the other. Applies to open and new
    /// connections; a direction shut down stays so.
    OneWayClose(Direction),
    /// Apply a fault to the HTTP requests an [`Aim`] matches, and let the
    /// others pass (proxies made with [`FaultProxy::start_http`]; a plain
    /// proxy passes everything). For a failure at one precise step of a
    /// server's work: the write of one object, the answer to one kind of
    /// request.
    Aimed(Aim),
    /// Answer each request with this response and close the connection,
    /// without the upstream. On a proxy made with
    /// [`FaultProxy::start_http`] it applies to every request whose head
    /// arrives while the fault is in force, on open (keep-alive)
    /// connections too; on a plain proxy, to new connections only (their
    /// first request).
    Respond(CannedResponse),
}

/// Which HTTP requests a [`Fault::Aimed`] applies to, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aim {
    /// The method (`PUT`, `POST`, …); empty: any.
    pub method: String,
    /// A piece the request target (path and query, as sent) contains.
    pub target_contains: String,
    /// What happens to a matching request.
    pub action: AimAction,
}

impl Aim {
    /// Requests with `method` (empty: any) whose target contains
    /// `target_contains` get `action`.
    pub fn new(method: &str, target_contains: &str, action: AimAction) -> Aim {
        Aim {
            method: method.to_owned(),
            target_contains: target_contains.to_owned(),
            action,
        }
    }

    fn matches(&self, head: &[u8]) -> bool {
        let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        let mut parts = line.split(' ');
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        (self.method.is_empty() || self.method == method) && target.contains(&self.target_contains)
    }
}

/// What happens to a request an [`Aim`] matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AimAction {
    /// Answered by the proxy with this response, the connection closed;
    /// the upstream never sees it.
    Respond(CannedResponse),
    /// The connection is reset before the request goes on.
    Reset,
    /// The request goes to the upstream, which does the work; its answer
    /// is lost: the connection is reset when the answer comes.
    LoseAnswer,
}

/// Counters of what the proxy did.
#[derive(Debug, Default)]
struct Stats {
    accepted: AtomicU64,
    resets: AtomicU64,
    answered: AtomicU64,
    matched: AtomicU64,
    dropped_bytes: AtomicU64,
    forwarded_bytes: AtomicU64,
}

/// The fault in force, and how many times `Reset` was set (a connection
/// older than the last one is reset even if the fault changed since).
#[derive(Debug)]
struct State {
    fault: Fault,
    reset_epoch: u64,
}

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    http: bool,
    state: Mutex<State>,
    stopped: AtomicBool,
    stats: Stats,
}

impl Shared {
    fn fault(&self) -> Fault {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .fault
            .clone()
    }

    fn reset_epoch(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .reset_epoch
    }

    fn stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }
}

/// A loopback TCP proxy in front of one upstream address that injects the
/// [`Fault`] the test sets. Stops accepting, and closes its connections,
/// when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// A proxy for any TCP protocol, on a free port of 127.0.0.1,
    /// forwarding to `upstream` (`host:port`), in [`Fault::Pass`].
    pub fn start(upstream: impl ToSocketAddrs) -> io::Result<FaultProxy> {
        FaultProxy::launch(upstream, false)
    }

    /// A proxy that also follows HTTP/1.1 requests from client to
    /// upstream (heads, `Content-Length` bodies), so that
    /// [`Fault::Respond`] answers requests on open keep-alive connections
    /// too. A connection whose requests it cannot follow (a chunked body,
    /// bytes that are not HTTP) is forwarded as plain bytes.
    pub fn start_http(upstream: impl ToSocketAddrs) -> io::Result<FaultProxy> {
        FaultProxy::launch(upstream, true)
    }

    fn launch(upstream: impl ToSocketAddrs, http: bool) -> io::Result<FaultProxy> {
        let upstream = upstream
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no upstream address"))?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            http,
            state: Mutex::new(State {
                fault: Fault::Pass,
                reset_epoch: 0,
            }),
            stopped: AtomicBool::new(false),
            stats: Stats::default(),
        });
        let accepting = shared.clone();
        std::thread::Builder::new()
            .name(format!("fault-proxy-{}", addr.port()))
            .spawn(move || accept_loop(&listener, &accepting))?;
        Ok(FaultProxy { addr, shared })
    }

    /// Where it listens: `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The upstream address it forwards to.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// Puts `fault` in force, now, for open and new connections.
    pub fn set(&self, fault: Fault) {
        let mut state = self
            .shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if fault == Fault::Reset {
            state.reset_epoch += 1;
        }
        state.fault = fault;
    }

    /// The fault in force.
    pub fn fault(&self) -> Fault {
        self.shared.fault()
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.stats.accepted.load(Ordering::SeqCst)
    }

    /// Connections reset so far (by [`Fault::Reset`], or after a
    /// [`Fault::Blackhole`] dropped some of their bytes).
    pub fn resets(&self) -> u64 {
        self.shared.stats.resets.load(Ordering::SeqCst)
    }

    /// Requests answered with a [`Fault::Respond`] response so far.
    pub fn answered(&self) -> u64 {
        self.shared.stats.answered.load(Ordering::SeqCst)
    }

    /// Requests a [`Fault::Aimed`] matched so far.
    pub fn matched(&self) -> u64 {
        self.shared.stats.matched.load(Ordering::SeqCst)
    }

    /// Bytes dropped so far (blackholed, or after a one-way close).
    pub fn dropped_bytes(&self) -> u64 {
        self.shared.stats.dropped_bytes.load(Ordering::SeqCst)
    }

    /// Bytes forwarded so far, both directions.
    pub fn forwarded_bytes(&self) -> u64 {
        self.shared.stats.forwarded_bytes.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        // Wake the accepting thread so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stopped() {
            return;
        }
        let Ok(client) = client else { continue };
        shared.stats.accepted.fetch_add(1, Ordering::SeqCst);
        let shared = shared.clone();
        let _ = std::thread::Builder::new()
            .name("fault-proxy-conn".to_owned())
            .spawn(move || serve(client, &shared));
    }
}

/// Closes `stream` with an RST: `SO_LINGER` 0; the close happens when the
/// last handle of the socket is dropped.
fn arm_reset(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
}

/// One accepted connection: what the fault in force says to do with it.
fn serve(client: TcpStream, shared: &Arc<Shared>) {
    // Read before the fault: a `Reset` set from here on reaches this
    // connection.
    let epoch = shared.reset_epoch();
    let _ = client.set_nodelay(true);
    let _ = client.set_read_timeout(Some(POLL));
    let _ = client.set_write_timeout(Some(POLL));
    match shared.fault() {
        Fault::Reset => {
            arm_reset(&client);
            shared.stats.resets.fetch_add(1, Ordering::SeqCst);
            return;
        }
        Fault::Blackhole => {
            swallow(client, shared);
            return;
        }
        Fault::Respond(canned) if !shared.http => {
            answer_first(client, &canned, shared);
            return;
        }
        _ => {}
    }
    let Ok(upstream) = TcpStream::connect_timeout(&shared.upstream, Duration::from_secs(5)) else {
        arm_reset(&client);
        return;
    };
    let _ = upstream.set_nodelay(true);
    let _ = upstream.set_read_timeout(Some(POLL));
    let _ = upstream.set_write_timeout(Some(POLL));
    let (Ok(client_w), Ok(upstream_r)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let link = Arc::new(Link {
        epoch,
        dead: AtomicBool::new(false),
        tainted: AtomicBool::new(false),
        shut: [AtomicBool::new(false), AtomicBool::new(false)],
        lose_answer: AtomicBool::new(false),
    });
    let down = {
        let (link, shared) = (link.clone(), shared.clone());
        std::thread::Builder::new()
            .name("fault-proxy-down".to_owned())
            .spawn(move || {
                Pump {
                    src: upstream_r,
                    dst: client_w,
                    dir: Direction::ToClient,
                    link: &link,
                    shared: &shared,
                    http: Http::Opaque,
                }
                .run();
            })
    };
    Pump {
        src: client,
        dst: upstream,
        dir: Direction::ToUpstream,
        link: &link,
        shared,
        http: if shared.http {
            Http::Head(Vec::new())
        } else {
            Http::Opaque
        },
    }
    .run();
    if let Ok(down) = down {
        let _ = down.join();
    }
}

/// A new connection under [`Fault::Blackhole`]: read and drop until the
/// fault changes, then reset.
fn swallow(mut client: TcpStream, shared: &Shared) {
    let mut buf = vec![0u8; 64 << 10];
    while !shared.stopped() && shared.fault() == Fault::Blackhole {
        match client.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                shared
                    .stats
                    .dropped_bytes
                    .fetch_add(n as u64, Ordering::SeqCst);
            }
            Err(e) if is_timeout(&e) => {}
            Err(_) => return,
        }
    }
    arm_reset(&client);
    shared.stats.resets.fetch_add(1, Ordering::SeqCst);
}

/// A new connection of a plain proxy under [`Fault::Respond`]: read the
/// first request head, answer it, close.
fn answer_first(mut client: TcpStream, canned: &CannedResponse, shared: &Shared) {
    let mut head = Vec::new();
    let mut buf = vec![0u8; 16 << 10];
    let deadline = Instant::now() + DRAIN;
    while head_end(&head).is_none() && head.len() < MAX_HEAD {
        if Instant::now() > deadline || shared.stopped() {
            return;
        }
        match client.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if is_timeout(&e) => {}
            Err(_) => return,
        }
    }
    respond(&mut client, canned, shared);
}

/// Writes `canned` to the client, shuts its sending side, and drains what
/// the client still sends (for at most [`DRAIN`]) so it reads the answer.
fn respond(client: &mut TcpStream, canned: &CannedResponse, shared: &Shared) {
    shared.stats.answered.fetch_add(1, Ordering::SeqCst);
    let deadline = Instant::now() + DRAIN;
    let mut rest: &[u8] = &canned.bytes;
    while !rest.is_empty() && Instant::now() < deadline {
        match client.write(rest) {
            Ok(0) => return,
            Ok(n) => rest = &rest[n..],
            Err(e) if is_timeout(&e) => {}
            Err(_) => return,
        }
    }
    let _ = client.shutdown(Shutdown::Write);
    let mut buf = vec![0u8; 64 << 10];
    while Instant::now() < deadline && !shared.stopped() {
        match client.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {}
            Err(_) => return,
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Where a request head ends (the index after its blank line).
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// The state of one proxied connection, shared by its two pumps.
#[derive(Debug)]
struct Link {
    /// The reset epoch when it was accepted: a later `Reset` resets it.
    epoch: u64,
    /// Over: both pumps stop.
    dead: AtomicBool,
    /// Some of its bytes were dropped (blackholed).
    tainted: AtomicBool,
    /// Directions shut down by a one-way close: to upstream, to client.
    shut: [AtomicBool; 2],
    /// The answer to the request sent last is to be lost (reset).
    lose_answer: AtomicBool,
}

impl Link {
    fn shut(&self, dir: Direction) -> &AtomicBool {
        match dir {
            Direction::ToUpstream => &self.shut[0],
            Direction::ToClient => &self.shut[1],
        }
    }
}

/// Following HTTP/1.1 requests from the client (HTTP-aware proxies only).
#[derive(Debug)]
enum Http {
    /// Not followed: bytes pass as they are.
    Opaque,
    /// Gathering a request head (held until complete).
    Head(Vec<u8>),
    /// Inside a body with this many bytes to go.
    Body(u64),
}

/// What a pump does after looking at the fault in force.
enum Step {
    /// Go on.
    Go,
    /// Stop this pump (the connection is over for it).
    Stop,
}

/// One direction of a proxied connection.
struct Pump<'a> {
    src: TcpStream,
    dst: TcpStream,
    dir: Direction,
    link: &'a Link,
    shared: &'a Shared,
    http: Http,
}

impl Pump<'_> {
    fn run(mut self) {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            if let Step::Stop = self.check() {
                return;
            }
            match self.src.read(&mut buf) {
                Ok(0) => {
                    if self.link.dead.load(Ordering::SeqCst) {
                        // Ended by the proxy (answered or reset).
                        return;
                    }
                    // The end of the stream: pass it on as the end of this
                    // direction; the other keeps going.
                    let _ = self.dst.shutdown(Shutdown::Write);
                    if self.dir == Direction::ToClient {
                        self.link.dead.store(true, Ordering::SeqCst);
                    }
                    return;
                }
                Ok(n) => {
                    if let Step::Stop = self.take(&buf[..n]) {
                        return;
                    }
                }
                Err(e) if is_timeout(&e) => {}
                Err(_) => {
                    // A reset or error on one side: the other side gets
                    // a reset too, as if the proxy were not there.
                    self.reset();
                    return;
                }
            }
        }
    }

    /// Resets both sides of the connection and ends it.
    fn reset(&self) {
        if !self.link.dead.swap(true, Ordering::SeqCst) {
            self.shared.stats.resets.fetch_add(1, Ordering::SeqCst);
        }
        arm_reset(&self.src);
        arm_reset(&self.dst);
    }

    /// Applies the fault in force to the connection as a whole.
    fn check(&self) -> Step {
        if self.link.dead.load(Ordering::SeqCst) || self.shared.stopped() {
            return Step::Stop;
        }
        let fault = self.shared.fault();
        let reset_due = self.shared.reset_epoch() > self.link.epoch
            || (self.link.tainted.load(Ordering::SeqCst) && fault != Fault::Blackhole);
        if reset_due {
            self.reset();
            return Step::Stop;
        }
        if fault == Fault::OneWayClose(self.dir)
            && !self.link.shut(self.dir).swap(true, Ordering::SeqCst)
        {
            let _ = self.dst.shutdown(Shutdown::Write);
        }
        Step::Go
    }

    /// Bytes read from the source: through the HTTP follower (upstream
    /// direction of an HTTP-aware proxy), then delivered.
    fn take(&mut self, mut data: &[u8]) -> Step {
        if self.dir == Direction::ToClient && self.link.lose_answer.load(Ordering::SeqCst) {
            // The answer to an aimed request: lost.
            self.reset();
            return Step::Stop;
        }
        loop {
            match &mut self.http {
                Http::Opaque => return self.deliver(data),
                Http::Body(remaining) => {
                    let n = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(data.len());
                    *remaining -= n as u64;
                    if *remaining == 0 {
                        self.http = Http::Head(Vec::new());
                    }
                    if let Step::Stop = self.deliver(&data[..n]) {
                        return Step::Stop;
                    }
                    data = &data[n..];
                    if data.is_empty() {
                        return Step::Go;
                    }
                }
                Http::Head(head) => {
                    head.extend_from_slice(data);
                    let Some(end) = head_end(head) else {
                        if head.len() > MAX_HEAD {
                            let held = std::mem::take(head);
                            self.http = Http::Opaque;
                            return self.deliver(&held);
                        }
                        return Step::Go;
                    };
                    let mut held = std::mem::take(head);
                    let after = held.split_off(end);
                    let action = match self.shared.fault() {
                        Fault::Respond(canned) => Some(AimAction::Respond(canned)),
                        Fault::Aimed(aim) if aim.matches(&held) => {
                            self.shared.stats.matched.fetch_add(1, Ordering::SeqCst);
                            Some(aim.action)
                        }
                        _ => None,
                    };
                    match action {
                        Some(AimAction::Respond(canned)) => {
                            // Answered here; the upstream never sees it
                            // (its side closes when the pumps end).
                            self.link.dead.store(true, Ordering::SeqCst);
                            respond(&mut self.src, &canned, self.shared);
                            return Step::Stop;
                        }
                        Some(AimAction::Reset) => {
                            self.reset();
                            return Step::Stop;
                        }
                        Some(AimAction::LoseAnswer) => {
                            self.link.lose_answer.store(true, Ordering::SeqCst);
                        }
                        None => {}
                    }
                    self.http = match request_body(&held) {
                        Some(0) => Http::Head(Vec::new()),
                        Some(length) => Http::Body(length),
                        None => Http::Opaque,
                    };
                    if let Step::Stop = self.deliver(&held) {
                        return Step::Stop;
                    }
                    if after.is_empty() {
                        return Step::Go;
                    }
                    // The rest goes round again (a body, or the next head).
                    return self.take_owned(after);
                }
            }
        }
    }

    fn take_owned(&mut self, data: Vec<u8>) -> Step {
        self.take(&data)
    }

    /// Sends `data` on under the fault in force: held while stalled,
    /// delayed, dropped.
    fn deliver(&mut self, data: &[u8]) -> Step {
        let mut rest = data;
        let mut delayed = false;
        while !rest.is_empty() {
            if let Step::Stop = self.check() {
                return Step::Stop;
            }
            match self.shared.fault() {
                Fault::Stall => {
                    // Held; but a sender that gave up (closed) takes its
                    // bytes with it, as a real network would.
                    let mut probe = [0u8; 1];
                    match self.src.peek(&mut probe) {
                        Ok(0) => {
                            self.reset();
                            return Step::Stop;
                        }
                        Ok(_) => std::thread::sleep(POLL),
                        Err(e) if is_timeout(&e) => {}
                        Err(_) => {
                            self.reset();
                            return Step::Stop;
                        }
                    }
                    continue;
                }
                Fault::Blackhole => {
                    self.link.tainted.store(true, Ordering::SeqCst);
                    self.drop_bytes(rest.len());
                    return Step::Go;
                }
                Fault::Delay(delay) if !delayed => {
                    std::thread::sleep(delay);
                    delayed = true;
                    // The fault may have changed meanwhile.
                    continue;
                }
                _ => {}
            }
            if self.link.shut(self.dir).load(Ordering::SeqCst) {
                self.drop_bytes(rest.len());
                return Step::Go;
            }
            match self.dst.write(rest) {
                Ok(0) => {
                    self.reset();
                    return Step::Stop;
                }
                Ok(n) => {
                    self.shared
                        .stats
                        .forwarded_bytes
                        .fetch_add(n as u64, Ordering::SeqCst);
                    rest = &rest[n..];
                }
                Err(e) if is_timeout(&e) => {}
                Err(_) => {
                    self.reset();
                    return Step::Stop;
                }
            }
        }
        Step::Go
    }

    fn drop_bytes(&self, n: usize) {
        self.shared
            .stats
            .dropped_bytes
            .fetch_add(n as u64, Ordering::SeqCst);
    }
}

/// The body length a request head announces: `Some(0)` without a body,
/// `None` when the requests cannot be followed (chunked, not HTTP, a bad
/// length).
fn request_body(head: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let first = lines.next()?;
    if !first.ends_with("HTTP/1.1") && !first.ends_with("HTTP/1.0") {
        return None;
    }
    let mut length = 0;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return None;
        }
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().ok()?;
        }
    }
    Some(length)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};

    /// An echo server: answers every byte it reads. Counts connections.
    fn echo() -> (SocketAddr, Arc<AtomicU64>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let count = Arc::new(AtomicU64::new(0));
        let c = count.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                c.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    loop {
                        match conn.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if conn.write_all(&buf[..n]).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        (addr, count)
    }

    /// An HTTP/1.1 server answering every request `200 upstream`
    /// (keep-alive), reading `Content-Length` bodies; counts requests.
    fn http_upstream() -> (SocketAddr, Arc<AtomicU64>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let count = Arc::new(AtomicU64::new(0));
        let c = count.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let c = c.clone();
                std::thread::spawn(move || {
                    let mut writer = conn.try_clone().unwrap();
                    let mut reader = BufReader::new(conn);
                    while let Some(_request) = crate::read_request(&mut reader) {
                        c.fetch_add(1, Ordering::SeqCst);
                        let answer = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nupstream";
                        if writer.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (addr, count)
    }

    fn connect(proxy: &FaultProxy) -> TcpStream {
        let s = TcpStream::connect(proxy.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        s
    }

    fn round_trip(s: &mut TcpStream, data: &[u8]) -> io::Result<Vec<u8>> {
        s.write_all(data)?;
        let mut got = vec![0u8; data.len()];
        s.read_exact(&mut got)?;
        Ok(got)
    }

    #[test]
    fn passes_and_delays() {
        let (upstream, _) = echo();
        let proxy = FaultProxy::start(upstream).unwrap();
        let mut s = connect(&proxy);
        assert_eq!(round_trip(&mut s, b"hello").unwrap(), b"hello");
        proxy.set(Fault::Delay(Duration::from_millis(100)));
        let started = Instant::now();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(round_trip(&mut s, b"slow").unwrap(), b"slow");
        // Once on the way up, once on the way back.
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "{:?}",
            started.elapsed()
        );
        // Counted after each write, which the client may see first.
        let deadline = Instant::now() + Duration::from_secs(5);
        while proxy.forwarded_bytes() < 18 && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        assert_eq!(proxy.forwarded_bytes(), 18);
    }

    #[test]
    fn stall_holds_bytes_until_released() {
        let (upstream, _) = echo();
        let proxy = FaultProxy::start(upstream).unwrap();
        let mut s = connect(&proxy);
        assert_eq!(round_trip(&mut s, b"a").unwrap(), b"a");
        proxy.set(Fault::Stall);
        s.write_all(b"held").unwrap();
        let mut buf = [0u8; 4];
        let e = s.read(&mut buf).unwrap_err();
        assert!(is_timeout(&e), "{e}");
        // A new connection is accepted and stalls too.
        let mut fresh = connect(&proxy);
        fresh.write_all(b"new").unwrap();
        assert!(fresh.read(&mut buf).is_err());
        // A client that gives up while its bytes are held: they are
        // dropped, not delivered later.
        let mut quitter = connect(&proxy);
        quitter.write_all(b"stale").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        drop(quitter);
        let deadline = Instant::now() + Duration::from_secs(5);
        while proxy.resets() == 0 && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        assert_eq!(proxy.resets(), 1, "the quitter's connection is dropped");
        proxy.set(Fault::Pass);
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"held");
        fresh
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        fresh.read_exact(&mut buf[..3]).unwrap();
        assert_eq!(&buf[..3], b"new");
    }

    #[test]
    fn reset_resets_open_and_new_connections() {
        let (upstream, _) = echo();
        let proxy = FaultProxy::start(upstream).unwrap();
        let mut s = connect(&proxy);
        assert_eq!(round_trip(&mut s, b"a").unwrap(), b"a");
        proxy.set(Fault::Reset);
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 8];
        let e = s.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
        let mut fresh = connect(&proxy);
        fresh
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let e = round_trip(&mut fresh, b"b").unwrap_err();
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            "{e}"
        );
        assert!(proxy.resets() >= 2);
        // Back to normal: new connections work again.
        proxy.set(Fault::Pass);
        let mut again = connect(&proxy);
        assert_eq!(round_trip(&mut again, b"c").unwrap(), b"c");
    }

    #[test]
    fn blackhole_swallows_and_resets_after() {
        let (upstream, count) = echo();
        let proxy = FaultProxy::start(upstream).unwrap();
        let mut open = connect(&proxy);
        assert_eq!(round_trip(&mut open, b"a").unwrap(), b"a");
        let before = count.load(Ordering::SeqCst);
        proxy.set(Fault::Blackhole);
        let mut fresh = connect(&proxy);
        for s in [&mut open, &mut fresh] {
            s.write_all(b"into the void").unwrap();
            let mut buf = [0u8; 4];
            let e = s.read(&mut buf).unwrap_err();
            assert!(is_timeout(&e), "{e}");
        }
        // The new connection never reached the upstream.
        assert_eq!(count.load(Ordering::SeqCst), before);
        assert!(proxy.dropped_bytes() >= 26, "{}", proxy.dropped_bytes());
        proxy.set(Fault::Pass);
        for s in [&mut open, &mut fresh] {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 4];
            let e = s.read(&mut buf).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
        }
    }

    #[test]
    fn one_way_close() {
        let (upstream, _) = echo();
        let proxy = FaultProxy::start(upstream).unwrap();
        // Toward the client: the client reads the end of the stream.
        let mut s = connect(&proxy);
        assert_eq!(round_trip(&mut s, b"a").unwrap(), b"a");
        proxy.set(Fault::OneWayClose(Direction::ToClient));
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(s.read(&mut buf).unwrap(), 0);
        // Toward the upstream: the echo server reads the end and closes,
        // which reaches the client as the end of the stream too.
        proxy.set(Fault::OneWayClose(Direction::ToUpstream));
        let mut fresh = connect(&proxy);
        fresh
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(fresh.read(&mut buf).unwrap(), 0);
    }

    #[test]
    fn respond_answers_open_and_new_http_connections() {
        let (upstream, count) = http_upstream();
        let proxy = FaultProxy::start_http(upstream).unwrap();
        let mut s = connect(&proxy);
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let request = b"PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
        let read_answer = |s: &mut TcpStream| {
            let mut reader = BufReader::new(s.try_clone().unwrap());
            let mut status = String::new();
            reader.read_line(&mut status).unwrap();
            let mut rest = String::new();
            let _ = reader.read_to_string(&mut rest);
            (status, rest)
        };
        s.write_all(request).unwrap();
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).ends_with("upstream"));
        proxy.set(Fault::Respond(CannedResponse::s3_slow_down()));
        // The open keep-alive connection's next request is answered.
        s.write_all(request).unwrap();
        let (status, rest) = read_answer(&mut s);
        assert_eq!(status, "HTTP/1.1 503 Slow Down\r\n");
        assert!(rest.contains("<Code>SlowDown</Code>"), "{rest}");
        // So is a new connection's.
        let mut fresh = connect(&proxy);
        fresh
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        fresh.write_all(request).unwrap();
        let (status, _) = read_answer(&mut fresh);
        assert_eq!(status, "HTTP/1.1 503 Slow Down\r\n");
        assert_eq!(count.load(Ordering::SeqCst), 1);
        assert_eq!(proxy.answered(), 2);
        proxy.set(Fault::Pass);
        let mut again = connect(&proxy);
        again
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        again.write_all(request).unwrap();
        let n = again.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    }

    #[test]
    fn aimed_faults_hit_matching_requests_only() {
        let (upstream, count) = http_upstream();
        let proxy = FaultProxy::start_http(upstream).unwrap();
        let send = |target: &str| -> io::Result<String> {
            let mut s = connect(&proxy);
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(
                format!("PUT {target} HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi").as_bytes(),
            )?;
            let mut buf = [0u8; 512];
            let n = s.read(&mut buf)?;
            Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
        };
        let canned = CannedResponse::s3_error(500, "Internal Server Error", "InternalError", "x");
        proxy.set(Fault::Aimed(Aim::new(
            "PUT",
            "~tail",
            AimAction::Respond(canned),
        )));
        assert!(
            send("/b/data~tail?x-id=PutObject")
                .unwrap()
                .starts_with("HTTP/1.1 500")
        );
        assert!(
            send("/b/data?x-id=PutObject")
                .unwrap()
                .starts_with("HTTP/1.1 200")
        );
        assert_eq!((proxy.matched(), count.load(Ordering::SeqCst)), (1, 1));

        proxy.set(Fault::Aimed(Aim::new("PUT", "/link", AimAction::Reset)));
        let e = send("/b/link").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
        assert_eq!(
            count.load(Ordering::SeqCst),
            1,
            "a reset request does not go on"
        );

        // The upstream does the work; the answer is lost.
        proxy.set(Fault::Aimed(Aim::new(
            "",
            "uploadId=",
            AimAction::LoseAnswer,
        )));
        let e = send("/b/data?uploadId=1").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
        assert_eq!(
            count.load(Ordering::SeqCst),
            2,
            "the request reached the upstream"
        );
        assert_eq!(proxy.matched(), 3);
    }

    #[test]
    fn respond_on_a_plain_proxy_answers_new_connections() {
        let (upstream, count) = http_upstream();
        let proxy = FaultProxy::start(upstream).unwrap();
        proxy.set(Fault::Respond(CannedResponse::new(500, "Oops", &[], b"no")));
        let mut s = connect(&proxy);
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 500 Oops\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\nno"), "{answer}");
        assert_eq!(count.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn request_bodies_are_followed() {
        assert_eq!(request_body(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"), Some(0));
        assert_eq!(
            request_body(b"PUT / HTTP/1.1\r\ncontent-length: 12\r\n\r\n"),
            Some(12)
        );
        assert_eq!(
            request_body(b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            None
        );
        assert_eq!(request_body(b"*1\r\n$4\r\nPING\r\n\r\n"), None);
    }
}
