//! Byte ranges on the wire, both ways: a blob GET's `Range` request header
//! ([`range_request`] writes it, [`RangeRequest`] reads it) and the
//! `Content-Range` it is answered with ([`content_range`] writes it,
//! [`ContentRange`] reads it), an upload chunk's `Content-Range`, and the
//! `Range` header that says how much of an upload has arrived
//! ([`upload_range`] writes it; [`ChunkRange`] reads both).
//!
//! ```
//! use berth_api::ranges::{ChunkRange, ContentRange, RangeRequest, content_range, range_request, upload_range};
//!
//! assert_eq!(range_request(&(10..20)), "bytes=10-19");
//! assert_eq!(RangeRequest::parse("bytes=10-19", 100), RangeRequest::Part(10..20));
//! assert_eq!(RangeRequest::parse("bytes=-5", 100), RangeRequest::Part(95..100));
//! assert_eq!(RangeRequest::parse("bytes=100-", 100), RangeRequest::Unsatisfiable);
//!
//! let answered = ContentRange::parse(&content_range(&(10..20), 100)).unwrap();
//! assert_eq!(answered, ContentRange { first: 10, last: 19, size: Some(100) });
//!
//! let chunk = ChunkRange::parse("0-99").unwrap();
//! assert_eq!((chunk.start, chunk.len()), (0, 100));
//! assert_eq!(upload_range(100), "0-99");
//! assert_eq!(ChunkRange::parse(&upload_range(100)).map(|r| r.end), Some(99));
//! ```

use std::ops::Range;

/// What a `Range` header asks of a blob of a known size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable single range: serve everything (RFC 9110 lets a server
    /// ignore a Range it does not support, such as several ranges, or one
    /// it cannot read).
    Whole,
    /// These bytes (never empty, always within the blob).
    Part(Range<u64>),
    /// A range that starts past the end: `416` with `Content-Range:
    /// bytes */<size>`.
    Unsatisfiable,
}

impl RangeRequest {
    /// Reads `bytes=a-b`, `bytes=a-` and `bytes=-n` against a blob of
    /// `size` bytes.
    pub fn parse(header: &str, size: u64) -> RangeRequest {
        let Some(spec) = header.trim().strip_prefix("bytes=") else {
            return RangeRequest::Whole;
        };
        if spec.contains(',') {
            return RangeRequest::Whole;
        }
        let Some((start, end)) = spec.split_once('-') else {
            return RangeRequest::Whole;
        };
        let (start, end) = (start.trim(), end.trim());
        if start.is_empty() {
            // bytes=-n: the last n bytes.
            return match number(end) {
                Some(0) => RangeRequest::Unsatisfiable,
                Some(_) if size == 0 => RangeRequest::Unsatisfiable,
                Some(n) => RangeRequest::Part(size.saturating_sub(n)..size),
                None => RangeRequest::Whole,
            };
        }
        let Some(start) = number(start) else {
            return RangeRequest::Whole;
        };
        let end = match (end.is_empty(), number(end)) {
            (true, _) => None,
            (false, Some(end)) => Some(end),
            (false, None) => return RangeRequest::Whole,
        };
        if start >= size {
            return RangeRequest::Unsatisfiable;
        }
        let last = end.map_or(size - 1, |e| e.min(size - 1));
        if last < start {
            return RangeRequest::Whole;
        }
        RangeRequest::Part(start..last + 1)
    }
}

/// The `Range` header asking for `part` (not empty) of a blob:
/// `bytes=a-b`, what [`RangeRequest::parse`] reads.
pub fn range_request(part: &Range<u64>) -> String {
    format!("bytes={}-{}", part.start, part.end.saturating_sub(1))
}

/// The `Content-Range` of a partial blob response: `bytes a-b/size`.
pub fn content_range(part: &Range<u64>, size: u64) -> String {
    format!("bytes {}-{}/{size}", part.start, part.end.saturating_sub(1))
}

/// The `Content-Range` of a partial (`206`) blob response, read back:
/// `bytes <first>-<last>/<size>`, the size `*` when the server does not
/// know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    /// The first byte's offset.
    pub first: u64,
    /// The last byte's offset (inclusive).
    pub last: u64,
    /// The whole blob's size, if given.
    pub size: Option<u64>,
}

impl ContentRange {
    /// Parses the header's value; `None` when it is not `bytes
    /// <first>-<last>/<size or *>` with `first <= last` (an unsatisfied
    /// `bytes */<size>` names no bytes).
    pub fn parse(value: &str) -> Option<ContentRange> {
        let rest = value.trim().strip_prefix("bytes")?.trim_start();
        let (span, size) = rest.split_once('/')?;
        let (first, last) = span.trim().split_once('-')?;
        let (first, last) = (number(first.trim())?, number(last.trim())?);
        let size = match size.trim() {
            "*" => None,
            size => Some(number(size)?),
        };
        (first <= last).then_some(ContentRange { first, last, size })
    }

    /// The bytes it names.
    pub fn range(&self) -> Range<u64> {
        self.first..self.last.saturating_add(1)
    }
}

/// The `Content-Range` of a `416` answer: `bytes */size`.
pub fn unsatisfied_range(size: u64) -> String {
    format!("bytes */{size}")
}

/// The `Range` header of an upload holding `size` bytes: `0-<last byte>`
/// (`0-0` when empty, as Distribution answers).
pub fn upload_range(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

/// The `Content-Range` of an upload chunk: `<start>-<end>`, both inclusive
/// (also accepted with a `bytes ` or `bytes=` prefix, as some clients
/// send it). The `Range` header of an upload's status ([`upload_range`])
/// has the same form and is read with it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRange {
    /// The first byte's offset in the blob.
    pub start: u64,
    /// The last byte's offset (inclusive).
    pub end: u64,
}

impl ChunkRange {
    /// Parses the header's value; `None` when it is not `<start>-<end>`
    /// with `start <= end`.
    pub fn parse(value: &str) -> Option<ChunkRange> {
        let value = value.trim();
        let value = value
            .strip_prefix("bytes ")
            .or_else(|| value.strip_prefix("bytes="))
            .unwrap_or(value);
        let (start, end) = value.split_once('-')?;
        let (start, end) = (number(start.trim())?, number(end.trim())?);
        (start <= end).then_some(ChunkRange { start, end })
    }

    /// How many bytes the chunk announces.
    pub fn len(&self) -> u64 {
        // start <= end, so this is at least 1; saturates at u64::MAX.
        (self.end - self.start).saturating_add(1)
    }

    /// Never: a chunk range covers at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl std::fmt::Display for ChunkRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// A decimal number of ASCII digits only (no sign, no spaces), as HTTP
/// ranges write them.
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_requests() {
        use RangeRequest::*;
        let cases = [
            ("bytes=0-9", 100, Part(0..10)),
            ("bytes=10-", 100, Part(10..100)),
            ("bytes=-10", 100, Part(90..100)),
            ("bytes=-200", 100, Part(0..100)),
            ("bytes=90-200", 100, Part(90..100)),
            ("bytes=99-99", 100, Part(99..100)),
            ("bytes=100-", 100, Unsatisfiable),
            ("bytes=100-200", 100, Unsatisfiable),
            ("bytes=-0", 100, Unsatisfiable),
            ("bytes=0-0", 0, Unsatisfiable),
            ("bytes=-5", 0, Unsatisfiable),
            ("bytes=5-2", 100, Whole),
            ("bytes=0-1,5-6", 100, Whole),
            ("items=0-1", 100, Whole),
            ("bytes=a-b", 100, Whole),
            ("bytes=+1-5", 100, Whole),
            ("bytes=1-+5", 100, Whole),
            ("bytes=", 100, Whole),
            ("bytes=-", 100, Whole),
            ("bytes=99999999999999999999-", 100, Whole),
        ];
        for (header, size, expected) in cases {
            assert_eq!(
                RangeRequest::parse(header, size),
                expected,
                "{header} of {size}"
            );
        }
    }

    #[test]
    fn chunk_ranges() {
        let ok = |s: &str, start, end| {
            assert_eq!(ChunkRange::parse(s), Some(ChunkRange { start, end }), "{s}")
        };
        ok("0-99", 0, 99);
        ok(" 5-5 ", 5, 5);
        ok("bytes 10-19", 10, 19);
        ok("bytes=10-19", 10, 19);
        for bad in [
            "", "-", "5-", "-5", "9-5", "a-b", "+1-5", "1 2-3", "0-99/100",
        ] {
            assert_eq!(ChunkRange::parse(bad), None, "{bad}");
        }
        assert_eq!(ChunkRange::parse("0-99").map(|c| c.len()), Some(100));
        assert_eq!(
            ChunkRange::parse(&format!("0-{}", u64::MAX)).map(|c| c.len()),
            Some(u64::MAX)
        );
        assert_eq!(ChunkRange { start: 3, end: 7 }.to_string(), "3-7");
    }

    #[test]
    fn content_ranges() {
        let ok = |s: &str, first, last, size| {
            assert_eq!(
                ContentRange::parse(s),
                Some(ContentRange { first, last, size }),
                "{s}"
            )
        };
        ok("bytes 0-0/2", 0, 0, Some(2));
        ok("bytes 5-9/*", 5, 9, None);
        ok(" bytes 10-19/100 ", 10, 19, Some(100));
        ok("bytes  1 - 2 / 3", 1, 2, Some(3));
        for bad in [
            "bytes 9-5/10",
            "items 0-1/2",
            "bytes */100",
            "bytes 0-1",
            "bytes 0-/2",
            "bytes a-b/2",
            "bytes 0-1/x",
            "bytes 0-1/-2",
            "",
        ] {
            assert_eq!(ContentRange::parse(bad), None, "{bad}");
        }
        assert_eq!(
            ContentRange::parse("bytes 5-9/*").map(|c| c.range()),
            Some(5..10)
        );
        for (part, size) in [(0..1, 1), (10..20, 100), (99..100, 100)] {
            assert_eq!(
                ContentRange::parse(&content_range(&part, size)).map(|c| (c.range(), c.size)),
                Some((part, Some(size)))
            );
        }
    }

    #[test]
    fn headers() {
        assert_eq!(range_request(&(0..10)), "bytes=0-9");
        assert_eq!(range_request(&(5..6)), "bytes=5-5");
        assert_eq!(
            RangeRequest::parse(&range_request(&(10..20)), 100),
            RangeRequest::Part(10..20)
        );
        assert_eq!(content_range(&(0..10), 100), "bytes 0-9/100");
        assert_eq!(unsatisfied_range(100), "bytes */100");
        assert_eq!(upload_range(0), "0-0");
        assert_eq!(upload_range(1), "0-0");
        assert_eq!(upload_range(1024), "0-1023");
    }
}
