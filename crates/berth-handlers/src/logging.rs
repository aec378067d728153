//! What the HTTP layer's own log lines say about clients.
//!
//! actix-http logs every request it cannot parse at `ERROR`
//! (`stream error: Request parse error: …`) before it answers `400`.
//! Most of those are not faults at all: a client started with
//! `--tls-verify=false` (podman, skopeo, buildah) first sends a TLS
//! ClientHello to a plain-HTTP port, gets the `400`, and falls back to
//! HTTP on every push. [`ClientErrorsAtDebug`] wraps the log layer so that
//! such a line is written at `DEBUG` under the target `berth::http`,
//! saying what the client sent, when that target's debug level is on,
//! and not at all otherwise. The client still gets its `400`.
//!
//! ```
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let subscriber = tracing_subscriber::registry()
//!     .with(tracing_subscriber::EnvFilter::new("info"))
//!     .with(berth_handlers::ClientErrorsAtDebug::new(
//!         tracing_subscriber::fmt::layer().with_writer(std::io::sink),
//!     ));
//! tracing::subscriber::with_default(subscriber, || {
//!     tracing::error!(target: "actix_http::h1::dispatcher", "stream error: Request parse error: Invalid Header provided");
//! });
//! ```

use std::any::TypeId;
use std::fmt;

use tracing::span;
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_core::callsite::{Callsite, Identifier};
use tracing_core::field::{Field, FieldSet, Visit};
use tracing_core::metadata::Kind;
use tracing_subscriber::layer::{Context, Layer};

/// The target the demoted lines are written under.
pub const CLIENT_ERROR_TARGET: &str = "berth::http";

/// Where actix-http reports a connection's errors.
const DISPATCHER_TARGET: &str = "actix_http::h1::dispatcher";

/// What actix-http writes before a request it could not parse (compared
/// without regard to case: releases differ in it).
const PARSE_ERROR_PREFIX: &str = "stream error: request parse error";

struct ClientErrorCallsite;

static CLIENT_ERROR_CALLSITE: ClientErrorCallsite = ClientErrorCallsite;

static CLIENT_ERROR: Metadata<'static> = Metadata::new(
    "client error",
    CLIENT_ERROR_TARGET,
    Level::DEBUG,
    Some(file!()),
    Some(line!()),
    Some(module_path!()),
    FieldSet::new(&["message"], Identifier(&CLIENT_ERROR_CALLSITE)),
    Kind::EVENT,
);

impl Callsite for ClientErrorCallsite {
    fn set_interest(&self, _: Interest) {}

    fn metadata(&self) -> &Metadata<'_> {
        &CLIENT_ERROR
    }
}

/// A log layer that writes actix-http's reports of unparseable requests
/// at `DEBUG` (target [`CLIENT_ERROR_TARGET`]) instead of `ERROR`; every
/// other event and span goes to the wrapped layer unchanged. Put it above
/// the filter (`registry().with(filter).with(ClientErrorsAtDebug::new(fmt))`)
/// so that the filter decides whether the debug line is written.
#[derive(Debug)]
pub struct ClientErrorsAtDebug<L> {
    inner: L,
}

impl<L> ClientErrorsAtDebug<L> {
    /// Wraps `inner`.
    pub fn new(inner: L) -> ClientErrorsAtDebug<L> {
        ClientErrorsAtDebug { inner }
    }
}

/// The `message` field of an event, as text.
#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            use fmt::Write;
            let _ = write!(self.0, "{value:?}");
        }
    }
}

/// The message of an actix-http parse error report, if `event` is one.
fn parse_error(event: &Event<'_>) -> Option<String> {
    let meta = event.metadata();
    if *meta.level() != Level::ERROR || meta.target() != DISPATCHER_TARGET {
        return None;
    }
    let mut message = Message::default();
    event.record(&mut message);
    message
        .0
        .to_ascii_lowercase()
        .starts_with(PARSE_ERROR_PREFIX)
        .then_some(message.0)
}

/// What the line says: a TLS handshake is named as one.
fn describe(message: &str) -> String {
    let detail = message
        .strip_prefix("stream error: ")
        .unwrap_or(message)
        .to_owned();
    // A TLS record starts with byte 0x16, which no HTTP method has: the
    // first thing the parser meets, and refuses, is that byte.
    let lower = detail.to_ascii_lowercase();
    if lower.contains("invalid header") || lower.contains("invalid method") {
        format!(
            "a client sent bytes that are not HTTP, such as a TLS handshake from a client probing for HTTPS (answered 400): {detail}"
        )
    } else {
        format!("a client sent a malformed request (answered 400): {detail}")
    }
}

impl<S, L> Layer<S> for ClientErrorsAtDebug<L>
where
    S: Subscriber,
    L: Layer<S>,
{
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        self.inner.on_register_dispatch(subscriber);
    }

    fn on_layer(&mut self, subscriber: &mut S) {
        self.inner.on_layer(subscriber);
    }

    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        self.inner.register_callsite(metadata)
    }

    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.enabled(metadata, ctx)
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_new_span(attrs, id, ctx);
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        self.inner.max_level_hint()
    }

    fn on_record(&self, span: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        self.inner.on_record(span, values, ctx);
    }

    fn on_follows_from(&self, span: &span::Id, follows: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_follows_from(span, follows, ctx);
    }

    fn event_enabled(&self, event: &Event<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.event_enabled(event, ctx)
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(message) = parse_error(event) else {
            self.inner.on_event(event, ctx);
            return;
        };
        if !ctx.enabled(&CLIENT_ERROR) {
            return;
        }
        let text = describe(&message);
        let fields = CLIENT_ERROR.fields();
        let Some(field) = fields.field("message") else {
            return;
        };
        let args = format_args!("{text}");
        let values = [(&field, Some(&args as &dyn tracing::Value))];
        let values = fields.value_set(&values);
        let demoted = Event::new_child_of(event.parent().cloned(), &CLIENT_ERROR, &values);
        self.inner.on_event(&demoted, ctx);
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_exit(id, ctx);
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        self.inner.on_close(id, ctx);
    }

    fn on_id_change(&self, old: &span::Id, new: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_id_change(old, new, ctx);
    }

    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            return Some(self as *const Self as *const ());
        }
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { self.inner.downcast_raw(id) }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged(filter: &str) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::EnvFilter::new(filter))
            .with(ClientErrorsAtDebug::new(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || writer.clone()),
            ));
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(
                target: "actix_http::h1::dispatcher",
                "stream error: Request parse error: Invalid Header provided"
            );
            tracing::error!(
                target: "actix_http::h1::dispatcher",
                "stream error: request parse error: invalid Method specified"
            );
            tracing::error!(
                target: "actix_http::h1::dispatcher",
                "Response payload stream error: disk on fire"
            );
            tracing::info!(target: "berth::access", "access");
        });
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn parse_errors_are_debug_lines() {
        let info = logged("info");
        assert!(!info.contains("Invalid Header"), "{info}");
        assert!(!info.contains("invalid Method"), "{info}");
        assert!(
            info.contains(
                "ERROR actix_http::h1::dispatcher: Response payload stream error: disk on fire"
            ),
            "{info}"
        );
        assert!(info.contains("INFO berth::access: access"), "{info}");

        let debug = logged("info,berth::http=debug");
        let line = debug
            .lines()
            .find(|l| l.contains("Invalid Header"))
            .expect("the demoted line");
        assert!(line.contains("DEBUG berth::http:"), "{line}");
        assert!(line.contains("TLS handshake"), "{line}");
        assert!(debug.contains("DEBUG berth::http: a client sent bytes that are not HTTP, such as a TLS handshake from a client probing for HTTPS (answered 400): request parse error: invalid Method specified"), "{debug}");
        assert!(
            !debug.contains("ERROR actix_http::h1::dispatcher: stream error"),
            "{debug}"
        );
        assert!(debug.contains("disk on fire"), "{debug}");
    }
}
