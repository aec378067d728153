//! The endpoints' counters and gauges as berth-metrics reports them.

use berth_metrics::prometheus_client::registry::Registry;
use berth_metrics::{MetricsSource, collector};

use crate::Notifier;

/// Each enabled endpoint's [stats](Notifier::stats), read at each scrape
/// and labelled by `endpoint` (its name): the gauges
/// `notifications_pending`, `notifications_queue_bytes` and
/// `notifications_last_status` (0: no response yet), the counters
/// `notifications_delivered`, `notifications_failed`,
/// `notifications_retries`, `notifications_dropped` and
/// `notifications_spool_errors`.
impl MetricsSource for Notifier {
    fn register_metrics(&self, registry: &mut Registry) {
        let notifier = self.clone();
        registry.register_collector(collector("notifications", move |scrape| {
            let stats = notifier.stats();
            let by_endpoint = |value: fn(&crate::EndpointStats) -> u64| {
                stats
                    .iter()
                    .map(|s| ([("endpoint", s.name.as_str())], value(s)))
                    .collect::<Vec<_>>()
            };
            scrape.gauges(
                "notifications_pending",
                "Events queued for an endpoint, not yet delivered",
                &by_endpoint(|s| s.pending),
            )?;
            scrape.gauges(
                "notifications_queue_bytes",
                "Bytes of an endpoint's queue on disk",
                &by_endpoint(|s| s.queue_bytes),
            )?;
            scrape.counters(
                "notifications_delivered",
                "Events an endpoint accepted (2xx or 3xx)",
                &by_endpoint(|s| s.delivered),
            )?;
            scrape.counters(
                "notifications_failed",
                "Delivery attempts that failed",
                &by_endpoint(|s| s.failed),
            )?;
            scrape.counters(
                "notifications_retries",
                "Delivery attempts that repeated an earlier one",
                &by_endpoint(|s| s.retries),
            )?;
            scrape.counters(
                "notifications_dropped",
                "Events dropped (queue full, or unreadable records)",
                &by_endpoint(|s| s.dropped),
            )?;
            scrape.counters(
                "notifications_spool_errors",
                "Errors writing or reading an endpoint's queue",
                &by_endpoint(|s| s.spool_errors),
            )?;
            scrape.gauges(
                "notifications_last_status",
                "The HTTP status of the last delivery attempt (0: none, or no response)",
                &by_endpoint(|s| u64::from(s.last_status.unwrap_or(0))),
            )
        }));
    }
}
