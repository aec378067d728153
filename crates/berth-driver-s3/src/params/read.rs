//! Reading the parameters from a configuration's map (through loosely
//! typed scalars, so that every error names its parameter) and writing
//! them back.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};

use super::*;

/// A scalar from the configuration.
#[derive(Debug, Clone, PartialEq)]
enum Scalar {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Null => f.write_str("null"),
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Float(x) => write!(f, "{x}"),
            Scalar::Str(s) => write!(f, "{s:?}"),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, a number or a boolean")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Int(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::Int(v.into()))
            }
            fn visit_i128<E>(self, v: i128) -> Result<Scalar, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar::Str(v))
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
                Scalar::deserialize(d)
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

impl S3Parameters {
    /// Reads the parameters from any serde deserializer (a configuration
    /// file's `storage: s3:` mapping), keeping a bad parameter's error
    /// typed: the outer error is the deserializer's (not a mapping of
    /// scalars), the inner one names the parameter, its value and what it
    /// should hold. [`Deserialize`] gives both as one error.
    pub fn read<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Result<S3Parameters, ParameterError>, D::Error> {
        struct MapVisitor;
        impl<'de> Visitor<'de> for MapVisitor {
            type Value = BTreeMap<String, Scalar>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of s3 storage parameters")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    let value: Scalar = map.next_value().map_err(|e| {
                        de::Error::custom(format!("s3 storage parameter {key}: {e}"))
                    })?;
                    out.insert(key.to_ascii_lowercase(), value);
                }
                Ok(out)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(BTreeMap::new())
            }
        }
        let map = deserializer.deserialize_map(MapVisitor)?;
        Ok(S3Parameters::from_scalars(map))
    }
}

impl<'de> Deserialize<'de> for S3Parameters {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        S3Parameters::read(deserializer)?.map_err(de::Error::custom)
    }
}

/// Every parameter under its name, in [`PARAMETERS`] order; the ones not
/// set are left out, durations are in Go's form (`1m30s`). What it writes
/// deserializes back to the same parameters ([`unknown`](S3Parameters::unknown)
/// is not written).
impl Serialize for S3Parameters {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        let text = |m: &mut S::SerializeMap, name: &str, v: &Option<String>| match v {
            Some(v) => m.serialize_entry(name, v),
            None => Ok(()),
        };
        let checksum = |mode: ChecksumMode| match mode {
            ChecksumMode::WhenRequired => "when_required",
            ChecksumMode::WhenSupported => "when_supported",
        };
        let duration = berth_duration::format_duration;
        text(&mut map, "region", &self.region)?;
        text(&mut map, "regionendpoint", &self.regionendpoint)?;
        map.serialize_entry("forcepathstyle", &self.forcepathstyle)?;
        map.serialize_entry("bucket", &self.bucket)?;
        text(&mut map, "rootdirectory", &self.rootdirectory)?;
        text(&mut map, "accesskey", &self.accesskey)?;
        text(&mut map, "secretkey", &self.secretkey)?;
        text(&mut map, "sessiontoken", &self.sessiontoken)?;
        map.serialize_entry("secure", &self.secure)?;
        map.serialize_entry("skipverify", &self.skipverify)?;
        map.serialize_entry("v4auth", &self.v4auth)?;
        map.serialize_entry("encrypt", &self.encrypt)?;
        text(&mut map, "keyid", &self.keyid)?;
        map.serialize_entry("chunksize", &self.chunksize)?;
        map.serialize_entry("multipartcopychunksize", &self.multipartcopychunksize)?;
        map.serialize_entry(
            "multipartcopymaxconcurrency",
            &self.multipartcopymaxconcurrency,
        )?;
        map.serialize_entry(
            "multipartcopythresholdsize",
            &self.multipartcopythresholdsize,
        )?;
        map.serialize_entry("storageclass", &self.storageclass)?;
        map.serialize_entry("objectacl", &self.objectacl)?;
        text(&mut map, "useragent", &self.useragent)?;
        map.serialize_entry("usedualstack", &self.usedualstack)?;
        map.serialize_entry("accelerate", &self.accelerate)?;
        text(&mut map, "loglevel", &self.loglevel)?;
        map.serialize_entry("checksumcalculation", checksum(self.checksumcalculation))?;
        map.serialize_entry("checksumvalidation", checksum(self.checksumvalidation))?;
        map.serialize_entry("connecttimeout", &duration(self.connecttimeout))?;
        map.serialize_entry("readtimeout", &duration(self.readtimeout))?;
        map.serialize_entry("operationtimeout", &duration(self.operationtimeout))?;
        map.end()
    }
}

/// Go's `strconv.ParseBool`, which Distribution uses.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

impl S3Parameters {
    fn from_scalars(mut map: BTreeMap<String, Scalar>) -> Result<S3Parameters, ParameterError> {
        // Empty values count as absent (an env override set to "").
        map.retain(|_, v| !matches!(v, Scalar::Null) && *v != Scalar::Str(String::new()));
        let mut p = S3Parameters::default();
        let mut take = |name: &'static str| map.remove(name).map(|v| (name, v));

        fn string((name, v): (&'static str, Scalar)) -> Result<String, ParameterError> {
            match v {
                Scalar::Str(s) => Ok(s),
                Scalar::Int(i) => Ok(i.to_string()),
                Scalar::Bool(b) => Ok(b.to_string()),
                other => Err(ParameterError::invalid(name, "a string", other.to_string())),
            }
        }
        fn boolean((name, v): (&'static str, Scalar)) -> Result<bool, ParameterError> {
            match &v {
                Scalar::Bool(b) => Some(*b),
                Scalar::Int(1) => Some(true),
                Scalar::Int(0) => Some(false),
                Scalar::Str(s) => parse_bool(s.trim()),
                _ => None,
            }
            .ok_or_else(|| ParameterError::invalid(name, "true or false", v.to_string()))
        }
        fn number((name, v): (&'static str, Scalar)) -> Result<u64, ParameterError> {
            match &v {
                Scalar::Int(i) => u64::try_from(*i).ok(),
                Scalar::Str(s) => s.trim().parse::<u64>().ok(),
                _ => None,
            }
            .ok_or_else(|| ParameterError::invalid(name, "a non-negative integer", v.to_string()))
        }
        fn checksum((name, v): (&'static str, Scalar)) -> Result<ChecksumMode, ParameterError> {
            match &v {
                Scalar::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
                    "when_required" | "whenrequired" => Some(ChecksumMode::WhenRequired),
                    "when_supported" | "whensupported" => Some(ChecksumMode::WhenSupported),
                    _ => None,
                },
                _ => None,
            }
            .ok_or_else(|| {
                ParameterError::invalid(name, "when_required or when_supported", v.to_string())
            })
        }

        fn duration((name, v): (&'static str, Scalar)) -> Result<Duration, ParameterError> {
            match &v {
                Scalar::Str(s) => berth_duration::parse_duration(s.trim()).ok(),
                Scalar::Int(0) => Some(Duration::ZERO),
                _ => None,
            }
            .ok_or_else(|| {
                ParameterError::invalid(name, "a duration such as 500ms, 10s or 2m", v.to_string())
            })
        }

        macro_rules! set {
            ($field:ident, $conv:ident) => {
                if let Some(v) = take(stringify!($field)) {
                    p.$field = $conv(v)?;
                }
            };
            ($field:ident, Some $conv:ident) => {
                if let Some(v) = take(stringify!($field)) {
                    p.$field = Some($conv(v)?);
                }
            };
        }
        set!(region, Some string);
        set!(regionendpoint, Some string);
        set!(forcepathstyle, boolean);
        set!(bucket, string);
        set!(rootdirectory, Some string);
        set!(accesskey, Some string);
        set!(secretkey, Some string);
        set!(sessiontoken, Some string);
        set!(secure, boolean);
        set!(skipverify, boolean);
        set!(v4auth, boolean);
        set!(encrypt, boolean);
        set!(keyid, Some string);
        set!(chunksize, number);
        set!(multipartcopychunksize, number);
        set!(multipartcopymaxconcurrency, number);
        set!(multipartcopythresholdsize, number);
        set!(storageclass, string);
        set!(objectacl, string);
        set!(useragent, Some string);
        set!(usedualstack, boolean);
        set!(accelerate, boolean);
        set!(loglevel, Some string);
        set!(checksumcalculation, checksum);
        set!(checksumvalidation, checksum);
        set!(connecttimeout, duration);
        set!(readtimeout, duration);
        set!(operationtimeout, duration);
        if p.bucket.is_empty() {
            return Err(ParameterError::missing(
                "bucket",
                "the name of the S3 bucket",
            ));
        }
        p.unknown = map.into_keys().collect();
        Ok(p)
    }
}
