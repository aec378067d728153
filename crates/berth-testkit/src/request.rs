//! The request side of the small HTTP/1.1 servers tests stand up on
//! loopback (fake upstreams, token servers): read one request, then look
//! at its headers, path and query.

use std::io::BufRead;

/// A request as a test server read it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Header names in lowercase, values trimmed, in the order sent.
    pub headers: Vec<(String, String)>,
    /// The body (`Content-Length` or chunked), empty without one.
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The target without its query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// Every value of query parameter `key`, percent-decoded.
    pub fn query(&self, key: &str) -> Vec<String> {
        let Some((_, query)) = self.target.split_once('?') else {
            return Vec::new();
        };
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| percent_decode(v))
            .collect()
    }
}

/// Reads one request (head, then a `Content-Length` or chunked body);
/// `None` when the connection ends first or the request is malformed.
pub fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let mut request = Request {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    if let Some(length) = request.header("content-length") {
        let mut body = vec![0; length.parse().ok()?];
        reader.read_exact(&mut body).ok()?;
        request.body = body;
    } else if request
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            if reader.read_line(&mut size).ok()? == 0 {
                return None;
            }
            let size = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            request.body.extend_from_slice(&chunk[..size]);
        }
    }
    Some(request)
}

/// `%XX` and `+` decoded (a malformed escape is kept as it is).
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_heads_bodies_and_queries() {
        let raw = b"POST /token?scope=repository%3Aa%2Fb%3Apull&scope=x&n=1 HTTP/1.1\r\n\
Host: h\r\nContent-Length: 3\r\n\r\nabcGET /v2/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
2\r\nhi\r\n1\r\n!\r\n0\r\n\r\nGET /cut HTTP/1.1\r\n";
        let mut reader = std::io::BufReader::new(&raw[..]);
        let first = read_request(&mut reader).expect("first");
        assert_eq!((first.method.as_str(), first.path()), ("POST", "/token"));
        assert_eq!(first.query("scope"), ["repository:a/b:pull", "x"]);
        assert_eq!(first.header("HOST"), Some("h"));
        assert_eq!(first.body, b"abc");
        let second = read_request(&mut reader).expect("second");
        assert_eq!(second.body, b"hi!");
        assert!(read_request(&mut reader).is_none(), "a head cut short");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("a+b%41"), "a bA");
    }
}
