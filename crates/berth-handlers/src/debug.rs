//! The debug server's routes: `/debug/health` and the Prometheus metrics.
//!
//! The health checks run in berth-health; `/debug/health` answers 200 `{}`
//! when every check passes, else 503 with a JSON object mapping each
//! failing check to its error. The metrics are every library's, composed
//! in a berth-metrics registry; this only serves their text.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use berth_health::HealthChecks;
use berth_metrics::MetricsRegistry;

/// Registers `/debug/health` (reading `health`) and, if given, the metrics
/// path (rendering `metrics`).
pub fn configure_debug(
    health: Arc<HealthChecks>,
    metrics: Arc<MetricsRegistry>,
    metrics_path: Option<String>,
) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let checks = health.clone();
        cfg.route(
            "/debug/health",
            web::get().to(move || {
                let failing = checks.failing();
                async move {
                    let body = serde_json::to_vec(&failing).unwrap_or_default();
                    let mut response = if failing.is_empty() {
                        HttpResponse::Ok()
                    } else {
                        HttpResponse::ServiceUnavailable()
                    };
                    response.content_type(berth_api::headers::JSON).body(body)
                }
            }),
        );
        if let Some(path) = metrics_path {
            cfg.route(
                &path,
                web::get().to(move || {
                    let text = metrics.render();
                    async move {
                        HttpResponse::Ok()
                            .content_type(berth_metrics::CONTENT_TYPE)
                            .body(text)
                    }
                }),
            );
        }
    }
}
