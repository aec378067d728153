//! HTTP headers as Distribution's configuration writes them: a mapping of
//! header name to a list of values.

use serde::ser::{Serialize, SerializeMap, Serializer};

/// Header name → values, in the file's order. Names keep the file's
/// spelling; look-ups ignore case, as HTTP does.
///
/// ```
/// use berth_settings::Headers;
///
/// let headers = Headers(vec![("X-Content-Type-Options".into(), vec!["nosniff".into()])]);
/// assert_eq!(headers.get("x-content-type-options"), Some(&["nosniff".to_string()][..]));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, Vec<String>)>);

impl Headers {
    /// The values of `name` (case-insensitive), if the header is set.
    pub fn get(&self, name: &str) -> Option<&[String]> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The headers, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// Whether no header is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many headers are set.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Replaces the values of `name` (case-insensitive) with [`MASK`](crate::MASK) —
    /// for dumps of the configuration.
    pub fn mask(&mut self, name: &str) {
        for (n, values) in &mut self.0 {
            if n.eq_ignore_ascii_case(name) {
                for v in values.iter_mut() {
                    *v = crate::MASK.to_owned();
                }
            }
        }
    }
}

impl Serialize for Headers {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, values) in &self.0 {
            map.serialize_entry(name, values)?;
        }
        map.end()
    }
}
