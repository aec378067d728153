//! The little DER this crate needs: reading a certificate's validity and
//! SubjectPublicKeyInfo, reading and writing SubjectPublicKeyInfo. Chain
//! verification itself is rustls-webpki's.

pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
pub(crate) const TAG_NULL: u8 = 0x05;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;
const TAG_UTC_TIME: u8 = 0x17;
const TAG_GENERALIZED_TIME: u8 = 0x18;
const TAG_VERSION: u8 = 0xa0;

/// A DER parse failure (what was expected).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DerError(pub(crate) &'static str);

impl std::fmt::Display for DerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad DER: {}", self.0)
    }
}

/// Reads DER elements one after the other.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.data.first().copied()
    }

    /// The next element: its tag, its value, and the whole encoding.
    pub(crate) fn read_any(&mut self) -> Result<(u8, &'a [u8], &'a [u8]), DerError> {
        let data = self.data;
        let (&tag, rest) = data.split_first().ok_or(DerError("truncated element"))?;
        if tag & 0x1f == 0x1f {
            return Err(DerError("multi-byte tags are not supported"));
        }
        let (&first, rest) = rest.split_first().ok_or(DerError("truncated length"))?;
        let (len, rest) = if first < 0x80 {
            (first as usize, rest)
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 || rest.len() < n {
                return Err(DerError("unsupported length"));
            }
            let mut len = 0usize;
            for &b in &rest[..n] {
                len = (len << 8) | b as usize;
            }
            if len < 0x80 || (n > 1 && rest[0] == 0) {
                return Err(DerError("non-minimal length"));
            }
            (len, &rest[n..])
        };
        if rest.len() < len {
            return Err(DerError("truncated value"));
        }
        let header = data.len() - rest.len();
        let (value, tail) = rest.split_at(len);
        self.data = tail;
        Ok((tag, value, &data[..header + len]))
    }

    /// The next element's value, which must have tag `tag`.
    pub(crate) fn read(&mut self, tag: u8, what: &'static str) -> Result<&'a [u8], DerError> {
        let (t, value, _) = self.read_any()?;
        if t != tag {
            return Err(DerError(what));
        }
        Ok(value)
    }
}

/// Appends a tag-length-value.
pub(crate) fn write_tlv(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
}

/// A tag-length-value as a new vector.
pub(crate) fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    write_tlv(&mut out, tag, value);
    out
}

/// The DER INTEGER of an unsigned big-endian magnitude.
pub(crate) fn unsigned_integer(magnitude: &[u8]) -> Vec<u8> {
    let trimmed = strip_leading_zeros(magnitude);
    let mut value = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.is_empty() || trimmed[0] & 0x80 != 0 {
        value.push(0);
    }
    value.extend_from_slice(trimmed);
    tlv(TAG_INTEGER, &value)
}

/// `bytes` without its leading zero bytes.
pub(crate) fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    &bytes[skip..]
}

/// What this crate reads from a certificate.
pub(crate) struct CertInfo<'a> {
    /// The whole SubjectPublicKeyInfo element.
    pub(crate) spki: &'a [u8],
    /// notBefore, in seconds since the Unix epoch.
    pub(crate) not_before: i64,
    /// notAfter, in seconds since the Unix epoch.
    pub(crate) not_after: i64,
}

/// Reads a certificate's validity and SubjectPublicKeyInfo.
pub(crate) fn parse_certificate(der: &[u8]) -> Result<CertInfo<'_>, DerError> {
    let mut outer = Reader::new(der);
    let cert = outer.read(TAG_SEQUENCE, "certificate is not a SEQUENCE")?;
    if !outer.is_empty() {
        return Err(DerError("data after the certificate"));
    }
    let mut cert = Reader::new(cert);
    let tbs = cert.read(TAG_SEQUENCE, "tbsCertificate is not a SEQUENCE")?;
    let mut tbs = Reader::new(tbs);
    if tbs.peek_tag() == Some(TAG_VERSION) {
        tbs.read_any()?;
    }
    tbs.read(TAG_INTEGER, "serialNumber is not an INTEGER")?;
    tbs.read(TAG_SEQUENCE, "signature is not a SEQUENCE")?;
    tbs.read(TAG_SEQUENCE, "issuer is not a SEQUENCE")?;
    let validity = tbs.read(TAG_SEQUENCE, "validity is not a SEQUENCE")?;
    let mut validity = Reader::new(validity);
    let (tag, value, _) = validity.read_any()?;
    let not_before = parse_time(tag, value)?;
    let (tag, value, _) = validity.read_any()?;
    let not_after = parse_time(tag, value)?;
    tbs.read(TAG_SEQUENCE, "subject is not a SEQUENCE")?;
    let (tag, _, spki) = tbs.read_any()?;
    if tag != TAG_SEQUENCE {
        return Err(DerError("subjectPublicKeyInfo is not a SEQUENCE"));
    }
    Ok(CertInfo {
        spki,
        not_before,
        not_after,
    })
}

/// The parts of a SubjectPublicKeyInfo.
pub(crate) struct Spki<'a> {
    /// The algorithm OID (value bytes).
    pub(crate) oid: &'a [u8],
    /// The algorithm's parameters element (whole encoding), if any.
    pub(crate) params: Option<&'a [u8]>,
    /// The key bits.
    pub(crate) key: &'a [u8],
}

/// Reads a SubjectPublicKeyInfo.
pub(crate) fn parse_spki(spki: &[u8]) -> Result<Spki<'_>, DerError> {
    let mut outer = Reader::new(spki);
    let body = outer.read(TAG_SEQUENCE, "subjectPublicKeyInfo is not a SEQUENCE")?;
    let mut body = Reader::new(body);
    let alg = body.read(TAG_SEQUENCE, "algorithm is not a SEQUENCE")?;
    let mut alg = Reader::new(alg);
    let oid = alg.read(TAG_OID, "algorithm is not an OID")?;
    let params = if alg.is_empty() {
        None
    } else {
        Some(alg.read_any()?.2)
    };
    let bits = body.read(TAG_BIT_STRING, "subjectPublicKey is not a BIT STRING")?;
    match bits.split_first() {
        Some((0, key)) => Ok(Spki { oid, params, key }),
        _ => Err(DerError("subjectPublicKey has unused bits")),
    }
}

fn parse_time(tag: u8, value: &[u8]) -> Result<i64, DerError> {
    let text = std::str::from_utf8(value).map_err(|_| DerError("time is not ASCII"))?;
    let (year, rest) = match tag {
        TAG_UTC_TIME if text.len() == 13 => {
            let yy = digits(&text[..2])?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &text[2..])
        }
        TAG_GENERALIZED_TIME if text.len() == 15 => (digits(&text[..4])?, &text[4..]),
        _ => return Err(DerError("unsupported time encoding")),
    };
    if !rest.ends_with('Z') {
        return Err(DerError("time is not in UTC"));
    }
    let month = digits(&rest[0..2])?;
    let day = digits(&rest[2..4])?;
    let hour = digits(&rest[4..6])?;
    let minute = digits(&rest[6..8])?;
    let second = digits(&rest[8..10])?;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(DerError("time out of range"));
    }
    let days = days_from_civil(year, month, day);
    Ok(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

fn digits(s: &str) -> Result<i64, DerError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DerError("time has a non-digit"));
    }
    s.parse().map_err(|_| DerError("time has a non-digit"))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time(TAG_UTC_TIME, b"700101000000Z"), Ok(0));
        assert_eq!(
            parse_time(TAG_UTC_TIME, b"491231235959Z"),
            Ok(2_524_607_999)
        );
        assert_eq!(
            parse_time(TAG_GENERALIZED_TIME, b"20240229120000Z"),
            Ok(1_709_208_000)
        );
        assert!(parse_time(TAG_UTC_TIME, b"700101000000+0100").is_err());
    }

    #[test]
    fn lengths_round_trip() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let value = vec![7u8; len];
            let encoded = tlv(TAG_SEQUENCE, &value);
            let mut r = Reader::new(&encoded);
            let (tag, v, whole) = r.read_any().unwrap();
            assert_eq!(
                (tag, v.len(), whole.len()),
                (TAG_SEQUENCE, len, encoded.len())
            );
            assert!(r.is_empty());
        }
    }

    #[test]
    fn integers() {
        assert_eq!(unsigned_integer(&[0x01, 0x00, 0x01]), vec![2, 3, 1, 0, 1]);
        assert_eq!(unsigned_integer(&[0x00, 0x80]), vec![2, 2, 0, 0x80]);
        assert_eq!(unsigned_integer(&[]), vec![2, 1, 0]);
    }

    #[test]
    fn truncated_input_is_an_error() {
        assert!(Reader::new(&[0x30, 0x05, 1, 2]).read_any().is_err());
        assert!(Reader::new(&[0x30, 0x81, 0x05]).read_any().is_err());
        assert!(parse_certificate(&[0x30, 0x00]).is_err());
    }
}
