//! The event record and its JSON envelope, field for field Distribution's.

use std::fmt;

use berth_manifest::Descriptor;
use serde::de::{self, Deserializer};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The media type of the envelope, sent as the `Content-Type` of every
/// notification request.
///
/// Distribution 2.x sends `…events.v1+json`, 3.0 sends `…events.v2+json`.
/// The JSON differs in one detail, which berth reproduces: 3.0 describes
/// the target with an OCI descriptor whose `mediaType`, `digest` and `size`
/// are always present (empty for a tag or repository delete), while 2.x
/// omits them when empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum EventsMediaType {
    /// `application/vnd.docker.distribution.events.v2+json` (Distribution
    /// 3.0; the default).
    #[default]
    V2,
    /// `application/vnd.docker.distribution.events.v1+json` (Distribution
    /// 2.x), for consumers that check it.
    V1,
}

impl EventsMediaType {
    /// The media type string.
    pub fn as_str(self) -> &'static str {
        match self {
            EventsMediaType::V2 => "application/vnd.docker.distribution.events.v2+json",
            EventsMediaType::V1 => "application/vnd.docker.distribution.events.v1+json",
        }
    }

    /// The media type named by `s` (either full string, or `v1` / `v2`).
    pub fn parse(s: &str) -> Option<EventsMediaType> {
        match s.trim().to_ascii_lowercase().as_str() {
            "v2" | "application/vnd.docker.distribution.events.v2+json" => {
                Some(EventsMediaType::V2)
            }
            "v1" | "application/vnd.docker.distribution.events.v1+json" => {
                Some(EventsMediaType::V1)
            }
            _ => None,
        }
    }
}

impl fmt::Display for EventsMediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A manifest or blob was pushed.
    Push,
    /// A manifest or blob was pulled (including `HEAD`).
    Pull,
    /// A blob was mounted from another repository.
    Mount,
    /// A manifest, blob, tag or repository was deleted.
    Delete,
}

impl Action {
    /// The action as it appears in the JSON (`push`, `pull`, `mount`,
    /// `delete`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Push => "push",
            Action::Pull => "pull",
            Action::Mount => "mount",
            Action::Delete => "delete",
        }
    }

    /// Every action.
    pub const ALL: [Action; 4] = [Action::Push, Action::Pull, Action::Mount, Action::Delete];
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an event is about.
///
/// Empty strings, zero sizes and an empty `references` list stand for
/// fields Distribution leaves out.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Target {
    /// The media type of the manifest or blob (`mediaType`).
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// Its digest. A string rather than a validated digest: the record
    /// only carries it.
    pub digest: String,
    /// Its size in bytes.
    pub size: i64,
    /// The same as `size`, kept by Distribution for old consumers.
    pub length: i64,
    /// The repository.
    pub repository: String,
    /// For a mount, the repository the blob was mounted from
    /// (`fromRepository`).
    #[serde(rename = "fromRepository")]
    pub from_repository: String,
    /// A URL of the content on this registry.
    pub url: String,
    /// The tag, for a manifest pushed or pulled by tag, and for a tag
    /// delete.
    pub tag: String,
    /// The manifest's references (config and layers, or index entries),
    /// when `notifications.events.includereferences` is on.
    pub references: Vec<Descriptor>,
}

/// The request that caused an event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RequestRecord {
    /// The request id (as in the access log and `X-Request-Id`).
    pub id: String,
    /// The client's address (`ip:port`, or what the proxy headers say).
    pub addr: String,
    /// The `Host` the request was sent to.
    pub host: String,
    /// The HTTP method.
    pub method: String,
    /// The `User-Agent` header.
    #[serde(rename = "useragent")]
    pub user_agent: String,
}

/// Who made the request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ActorRecord {
    /// The authenticated user name, empty for anonymous requests.
    pub name: String,
}

/// The registry instance that generated an event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct SourceRecord {
    /// `host:port` of this registry node.
    pub addr: String,
    /// An id of this running instance, new at each start (`instanceID`).
    #[serde(rename = "instanceID")]
    pub instance_id: String,
}

/// One registry event, as Distribution describes it.
///
/// Serializing gives the JSON of Distribution 3.0 (the `v2` envelope);
/// [`Envelope`] picks the form for either media type.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Event {
    /// A unique id. berth generates it once, when the event is recorded,
    /// and it stays the same across retries and restarts, so receivers can
    /// de-duplicate.
    #[serde(default)]
    pub id: String,
    /// When the event happened.
    #[serde(deserialize_with = "parse_timestamp", default = "epoch")]
    pub timestamp: OffsetDateTime,
    /// What happened.
    pub action: Action,
    /// To what.
    #[serde(default)]
    pub target: Target,
    /// The request that did it.
    #[serde(default)]
    pub request: RequestRecord,
    /// Who did it.
    #[serde(default)]
    pub actor: ActorRecord,
    /// Which registry instance saw it.
    #[serde(default)]
    pub source: SourceRecord,
}

fn epoch() -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH
}

impl Event {
    /// A new event with a fresh id (a random UUID), the current time (UTC)
    /// and an empty target, request, actor and source.
    pub fn new(action: Action) -> Event {
        Event {
            id: uuid::Uuid::new_v4().to_string(),
            timestamp: OffsetDateTime::now_utc(),
            action,
            target: Target::default(),
            request: RequestRecord::default(),
            actor: ActorRecord::default(),
            source: SourceRecord::default(),
        }
    }

    /// The event as JSON in the form of `media_type` (compact).
    pub fn to_json(&self, media_type: EventsMediaType) -> Vec<u8> {
        // Serializing these types cannot fail: every map key is a string.
        serde_json::to_vec(&Styled(self, media_type)).unwrap_or_default()
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Styled(self, EventsMediaType::V2).serialize(serializer)
    }
}

/// The body of a notification request: `{"events": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Envelope {
    /// The events; not necessarily related to each other.
    #[serde(default)]
    pub events: Vec<Event>,
}

impl Envelope {
    /// The envelope as Distribution sends it: indented with three spaces
    /// (Go's `json.MarshalIndent(envelope, "", "   ")`), in the form of
    /// `media_type`.
    pub fn to_json(&self, media_type: EventsMediaType) -> Vec<u8> {
        envelope_json(&self.events, media_type)
    }
}

impl Serialize for Envelope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Envelope", 1)?;
        s.serialize_field("events", &self.events)?;
        s.end()
    }
}

/// `{"events": [...]}` indented as Distribution's.
pub(crate) fn envelope_json(events: &[Event], media_type: EventsMediaType) -> Vec<u8> {
    struct Events<'a>(&'a [Event], EventsMediaType);
    impl Serialize for Events<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut s = serializer.serialize_struct("Envelope", 1)?;
            let styled: Vec<Styled<'_>> = self.0.iter().map(|e| Styled(e, self.1)).collect();
            s.serialize_field("events", &styled)?;
            s.end()
        }
    }
    let mut out = Vec::with_capacity(1024 * events.len().max(1));
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"   ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    // Cannot fail: writing to a Vec, string keys only.
    let _ = Events(events, media_type).serialize(&mut serializer);
    out
}

/// An event serialized in the form of one media type.
struct Styled<'a>(&'a Event, EventsMediaType);

impl Serialize for Styled<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Styled(e, style) = *self;
        let mut s = serializer.serialize_struct("Event", 7)?;
        if !e.id.is_empty() {
            s.serialize_field("id", &e.id)?;
        }
        s.serialize_field("timestamp", &format_timestamp(e.timestamp))?;
        s.serialize_field("action", e.action.as_str())?;
        s.serialize_field("target", &StyledTarget(&e.target, style))?;
        s.serialize_field("request", &RequestSer(&e.request))?;
        s.serialize_field("actor", &ActorSer(&e.actor))?;
        s.serialize_field("source", &SourceSer(&e.source))?;
        s.end()
    }
}

struct StyledTarget<'a>(&'a Target, EventsMediaType);

impl Serialize for StyledTarget<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let StyledTarget(t, style) = *self;
        let mut s = serializer.serialize_struct("Target", 10)?;
        match style {
            // Distribution 3.0: an OCI descriptor (mediaType, digest, size
            // without omitempty).
            EventsMediaType::V2 => {
                s.serialize_field("mediaType", &t.media_type)?;
                s.serialize_field("digest", &t.digest)?;
                s.serialize_field("size", &t.size)?;
            }
            // Distribution 2.x: distribution.Descriptor (mediaType, size,
            // digest, all omitempty).
            EventsMediaType::V1 => {
                if !t.media_type.is_empty() {
                    s.serialize_field("mediaType", &t.media_type)?;
                }
                if t.size != 0 {
                    s.serialize_field("size", &t.size)?;
                }
                if !t.digest.is_empty() {
                    s.serialize_field("digest", &t.digest)?;
                }
            }
        }
        if t.length != 0 {
            s.serialize_field("length", &t.length)?;
        }
        if !t.repository.is_empty() {
            s.serialize_field("repository", &t.repository)?;
        }
        if !t.from_repository.is_empty() {
            s.serialize_field("fromRepository", &t.from_repository)?;
        }
        if !t.url.is_empty() {
            s.serialize_field("url", &t.url)?;
        }
        if !t.tag.is_empty() {
            s.serialize_field("tag", &t.tag)?;
        }
        if !t.references.is_empty() {
            s.serialize_field("references", &t.references)?;
        }
        s.end()
    }
}

struct RequestSer<'a>(&'a RequestRecord);

impl Serialize for RequestSer<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut s = serializer.serialize_struct("RequestRecord", 5)?;
        // `id`, `method` and `useragent` have no omitempty in Distribution.
        s.serialize_field("id", &r.id)?;
        if !r.addr.is_empty() {
            s.serialize_field("addr", &r.addr)?;
        }
        if !r.host.is_empty() {
            s.serialize_field("host", &r.host)?;
        }
        s.serialize_field("method", &r.method)?;
        s.serialize_field("useragent", &r.user_agent)?;
        s.end()
    }
}

impl Serialize for RequestRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RequestSer(self).serialize(serializer)
    }
}

struct ActorSer<'a>(&'a ActorRecord);

impl Serialize for ActorSer<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("ActorRecord", 1)?;
        if !self.0.name.is_empty() {
            s.serialize_field("name", &self.0.name)?;
        }
        s.end()
    }
}

impl Serialize for ActorRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ActorSer(self).serialize(serializer)
    }
}

struct SourceSer<'a>(&'a SourceRecord);

impl Serialize for SourceSer<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("SourceRecord", 2)?;
        if !self.0.addr.is_empty() {
            s.serialize_field("addr", &self.0.addr)?;
        }
        if !self.0.instance_id.is_empty() {
            s.serialize_field("instanceID", &self.0.instance_id)?;
        }
        s.end()
    }
}

impl Serialize for SourceRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SourceSer(self).serialize(serializer)
    }
}

impl Serialize for Target {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StyledTarget(self, EventsMediaType::V2).serialize(serializer)
    }
}

/// Formats a time as Go's `time.Time` marshals to JSON: RFC 3339 with
/// nanoseconds, trailing zeros of the fraction dropped, `Z` for UTC.
pub fn format_timestamp(t: OffsetDateTime) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(35);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond();
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    let offset = t.offset();
    if offset.is_utc() {
        out.push('Z');
    } else {
        let (h, m, _) = offset.as_hms();
        let sign = if offset.is_negative() { '-' } else { '+' };
        let _ = write!(out, "{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs());
    }
    out
}

fn parse_timestamp<'de, D: Deserializer<'de>>(deserializer: D) -> Result<OffsetDateTime, D::Error> {
    let s = String::deserialize(deserializer)?;
    OffsetDateTime::parse(&s, &Rfc3339)
        .map_err(|e| de::Error::custom(format!("invalid timestamp {s:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datetime(s: &str) -> OffsetDateTime {
        OffsetDateTime::parse(s, &Rfc3339).unwrap()
    }

    #[test]
    fn timestamps_as_go_marshals_them() {
        assert_eq!(
            format_timestamp(datetime("2006-01-02T15:04:05Z")),
            "2006-01-02T15:04:05Z"
        );
        assert_eq!(
            format_timestamp(datetime("2016-03-09T14:44:26.402973972-08:00")),
            "2016-03-09T14:44:26.402973972-08:00"
        );
        assert_eq!(
            format_timestamp(datetime("2016-03-09T14:44:26.400+05:30")),
            "2016-03-09T14:44:26.4+05:30"
        );
    }

    #[test]
    fn media_types() {
        assert_eq!(EventsMediaType::default(), EventsMediaType::V2);
        assert_eq!(EventsMediaType::parse("v1"), Some(EventsMediaType::V1));
        assert_eq!(
            EventsMediaType::parse(EventsMediaType::V2.as_str()),
            Some(EventsMediaType::V2)
        );
        assert_eq!(EventsMediaType::parse("v3"), None);
    }
}
