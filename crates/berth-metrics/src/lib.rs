//! The one metrics interface of the berth registry.
//!
//! Each library reports its own metrics through [`MetricsSource`]: it
//! registers, in a [`prometheus_client`] [`Registry`], the counters,
//! gauges and histograms it updates as it works, and [`collector`]s for
//! the values it only knows at scrape time (snapshots of its own
//! counters, queue lengths). The server composes every source into one
//! [`MetricsRegistry`], whose [`render`](MetricsRegistry::render) the
//! debug server serves in the OpenMetrics text format. Every name gets
//! the [`PREFIX`] (`berth_`).
//!
//! ```
//! use berth_metrics::prometheus_client::metrics::gauge::Gauge;
//! use berth_metrics::prometheus_client::registry::Registry;
//! use berth_metrics::{MetricsRegistry, MetricsSource};
//!
//! struct Workers(Gauge);
//!
//! impl MetricsSource for Workers {
//!     fn register_metrics(&self, registry: &mut Registry) {
//!         registry.register("workers", "Workers running", self.0.clone());
//!     }
//! }
//!
//! let workers = Workers(Gauge::default());
//! workers.0.set(4);
//! let mut metrics = MetricsRegistry::new();
//! metrics.register(&workers);
//! assert!(metrics.render().contains("\nberth_workers 4\n"));
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fmt;

pub use prometheus_client;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// The prefix of every berth metric name (`berth_http_requests_total`).
pub const PREFIX: &str = "berth";

/// The content type of [`MetricsRegistry::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A library's metrics: it registers them, with their names, help texts
/// and labels, in the registry it is given (whose prefix is [`PREFIX`]).
pub trait MetricsSource {
    /// Registers this source's metrics and collectors in `registry`. The
    /// metrics registered stay shared with the source (prometheus-client
    /// metrics are handles), so call it once, when composing.
    fn register_metrics(&self, registry: &mut Registry);
}

impl<T: MetricsSource + ?Sized> MetricsSource for &T {
    fn register_metrics(&self, registry: &mut Registry) {
        (**self).register_metrics(registry);
    }
}

impl<T: MetricsSource + ?Sized> MetricsSource for std::sync::Arc<T> {
    fn register_metrics(&self, registry: &mut Registry) {
        (**self).register_metrics(registry);
    }
}

/// Every source's metrics, composed: what the debug server renders.
///
/// Metrics registered directly are rendered first, in the order they
/// were registered, then the collectors', in theirs.
pub struct MetricsRegistry {
    registry: Registry,
}

impl fmt::Debug for MetricsRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MetricsRegistry(..)")
    }
}

impl Default for MetricsRegistry {
    fn default() -> MetricsRegistry {
        MetricsRegistry::new()
    }
}

impl MetricsRegistry {
    /// An empty registry whose names get the [`PREFIX`].
    pub fn new() -> MetricsRegistry {
        MetricsRegistry {
            registry: Registry::with_prefix(PREFIX),
        }
    }

    /// Adds `source`'s metrics.
    pub fn register(&mut self, source: &dyn MetricsSource) -> &mut MetricsRegistry {
        source.register_metrics(&mut self.registry);
        self
    }

    /// The prometheus-client registry itself, to register a metric that
    /// belongs to no library.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// Every metric in the OpenMetrics text format, ending with `# EOF`;
    /// empty if a collector failed to write.
    pub fn render(&self) -> String {
        let mut out = String::new();
        match prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            Ok(()) => out,
            Err(fmt::Error) => String::new(),
        }
    }
}

/// A [`Collector`] that calls `write` at each scrape; `name` only shows in
/// its `Debug` form.
pub fn collector<F>(name: &'static str, write: F) -> Box<dyn Collector>
where
    F: Fn(&mut Scrape<'_>) -> fmt::Result + Send + Sync + 'static,
{
    Box::new(ScrapeFn { name, write })
}

struct ScrapeFn<F> {
    name: &'static str,
    write: F,
}

impl<F> fmt::Debug for ScrapeFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Collector").field(&self.name).finish()
    }
}

impl<F> Collector for ScrapeFn<F>
where
    F: Fn(&mut Scrape<'_>) -> fmt::Result + Send + Sync + 'static,
{
    fn encode(&self, encoder: DescriptorEncoder) -> fmt::Result {
        (self.write)(&mut Scrape { encoder })
    }
}

/// Writes the metric families a [`collector`] reads at scrape time.
///
/// Help texts are given as to `Registry::register`: without the final
/// period, which is added. A labelled family without samples is not
/// written at all.
pub struct Scrape<'a> {
    encoder: DescriptorEncoder<'a>,
}

impl fmt::Debug for Scrape<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Scrape(..)")
    }
}

impl Scrape<'_> {
    /// An unlabelled counter (`name_total`).
    pub fn counter(&mut self, name: &str, help: &str, value: u64) -> fmt::Result {
        let counter = ConstCounter::new(value);
        let help = format!("{help}.");
        let encoder = self
            .encoder
            .encode_descriptor(name, &help, None, counter.metric_type())?;
        counter.encode(encoder)
    }

    /// An unlabelled gauge.
    pub fn gauge(&mut self, name: &str, help: &str, value: u64) -> fmt::Result {
        let gauge = ConstGauge::new(value);
        let help = format!("{help}.");
        let encoder = self
            .encoder
            .encode_descriptor(name, &help, None, gauge.metric_type())?;
        gauge.encode(encoder)
    }

    /// A counter family: one sample per label set, in the order given.
    pub fn counters<L: EncodeLabelSet>(
        &mut self,
        name: &str,
        help: &str,
        samples: &[(L, u64)],
    ) -> fmt::Result {
        self.family(name, help, samples, ConstCounter::new)
    }

    /// A gauge family: one sample per label set, in the order given.
    pub fn gauges<L: EncodeLabelSet>(
        &mut self,
        name: &str,
        help: &str,
        samples: &[(L, u64)],
    ) -> fmt::Result {
        self.family(name, help, samples, ConstGauge::new)
    }

    /// One family of `metric`s (its type from the first sample).
    fn family<L: EncodeLabelSet, M: EncodeMetric>(
        &mut self,
        name: &str,
        help: &str,
        samples: &[(L, u64)],
        metric: impl Fn(u64) -> M,
    ) -> fmt::Result {
        let Some((_, first)) = samples.first() else {
            return Ok(());
        };
        let help = format!("{help}.");
        let mut encoder =
            self.encoder
                .encode_descriptor(name, &help, None, metric(*first).metric_type())?;
        for (labels, value) in samples {
            metric(*value).encode(encoder.encode_family(labels)?)?;
        }
        Ok(())
    }
}

/// The README's example, compiled as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_families_are_left_out_and_label_values_escaped() {
        let mut metrics = MetricsRegistry::new();
        metrics
            .registry_mut()
            .register_collector(collector("test", |scrape| {
                scrape.gauges::<[(&str, &str); 1]>("nothing", "Never written", &[])?;
                scrape.gauges(
                    "queue",
                    "Queued",
                    &[([("endpoint", String::from("a\"b\\c\nd"))], 7)],
                )
            }));
        assert_eq!(
            metrics.render(),
            "# HELP berth_queue Queued.\n# TYPE berth_queue gauge\n\
             berth_queue{endpoint=\"a\\\"b\\\\c\\nd\"} 7\n# EOF\n"
        );
    }

    #[test]
    fn a_failing_collector_renders_nothing() {
        let mut metrics = MetricsRegistry::new();
        metrics
            .registry_mut()
            .register_collector(collector("broken", |_| Err(fmt::Error)));
        assert_eq!(metrics.render(), "");
    }
}
