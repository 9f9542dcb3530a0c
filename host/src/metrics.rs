//! Prometheus metrics (prometheus-client): one registry per running server (so tests that
//! start several servers in one process keep them apart), the families every layer records
//! into, and the text exposition `GET /metrics` serves. Recording is a hash lookup and an
//! atomic add; nothing here blocks or fails.
//!
//! A leaf: it knows label sets and families, nothing of the store, services or API. Callers
//! pass plain strings; a route label is axum's matched route (`/compute/v2.0/servers/{id}`),
//! never a raw path, so ids and keys never become label values.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabels {
    kind: String,
    step: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FaultLabels {
    kind: String,
    fault: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RapiLabels {
    cluster: String,
    method: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClusterLabels {
    cluster: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    plugin: String,
    function: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginFunctionLabels {
    plugin: String,
    function: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReconcileLabels {
    backend: String,
}

type Seconds = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// 1 ms to about 65 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

struct Families {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Seconds,
    jobs: Family<JobLabels, Counter>,
    job_seconds: Family<KindLabels, Histogram, fn() -> Histogram>,
    step_seconds: Family<StepLabels, Histogram, fn() -> Histogram>,
    job_faults: Family<FaultLabels, Counter>,
    rapi_calls: Family<RapiLabels, Counter>,
    rapi_seconds: Family<ClusterLabels, Histogram, fn() -> Histogram>,
    plugin_calls: Family<PluginLabels, Counter>,
    plugin_seconds: Family<PluginFunctionLabels, Histogram, fn() -> Histogram>,
    reconcile_passes: Family<ReconcileLabels, Counter>,
    reconcile_repairs: Family<ReconcileLabels, Counter>,
    store_bytes: Gauge,
}

/// The metrics of one server. Cheap to clone; every clone records into the same registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Families>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("cyclades");
        let f = Families {
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(latency_histogram),
            jobs: Family::default(),
            job_seconds: Family::new_with_constructor(latency_histogram),
            step_seconds: Family::new_with_constructor(latency_histogram),
            job_faults: Family::default(),
            rapi_calls: Family::default(),
            rapi_seconds: Family::new_with_constructor(latency_histogram),
            plugin_calls: Family::default(),
            plugin_seconds: Family::new_with_constructor(latency_histogram),
            reconcile_passes: Family::default(),
            reconcile_repairs: Family::default(),
            store_bytes: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "http_requests",
            "API requests by matched route, method and status",
            f.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "API request latency by matched route and method",
            f.request_seconds.clone(),
        );
        registry.register(
            "jobs",
            "Jobs finished, by kind and outcome (succeeded, failed)",
            f.jobs.clone(),
        );
        registry.register(
            "job_duration_seconds",
            "Time from a job's first step to its end, by kind",
            f.job_seconds.clone(),
        );
        registry.register(
            "job_step_duration_seconds",
            "Time one step took (each run, retries included), by kind and step",
            f.step_seconds.clone(),
        );
        registry.register(
            "job_faults",
            "Failed jobs by kind and fault kind",
            f.job_faults.clone(),
        );
        registry.register(
            "rapi_calls",
            "Ganeti RAPI calls by cluster, method and outcome (ok or the error kind)",
            f.rapi_calls.clone(),
        );
        registry.register(
            "rapi_call_duration_seconds",
            "Ganeti RAPI call latency by cluster",
            f.rapi_seconds.clone(),
        );
        registry.register(
            "plugin_calls",
            "Plugin calls by plugin, function and outcome (ok or the error kind)",
            f.plugin_calls.clone(),
        );
        registry.register(
            "plugin_call_duration_seconds",
            "Plugin call latency (a fresh instance and the call) by plugin and function",
            f.plugin_seconds.clone(),
        );
        registry.register(
            "reconcile_passes",
            "Server reconciliation passes (continuous and on demand), by backend",
            f.reconcile_passes.clone(),
        );
        registry.register(
            "reconcile_repairs",
            "Drift repaired by server reconciliation, by backend",
            f.reconcile_repairs.clone(),
        );
        registry.register(
            "store_size_bytes",
            "Size of the embedded store on disk",
            f.store_bytes.clone(),
        );
        Metrics {
            inner: Arc::new(Families { registry, ..f }),
        }
    }

    pub fn request(&self, route: &str, method: &str, status: u16, took: Duration) {
        let f = &self.inner;
        f.requests
            .get_or_create(&RequestLabels {
                route: route.into(),
                method: method.into(),
                status,
            })
            .inc();
        f.request_seconds
            .get_or_create(&RouteLabels {
                route: route.into(),
                method: method.into(),
            })
            .observe(took.as_secs_f64());
    }

    /// A job ended; `fault` is its fault kind when it failed.
    pub fn job_finished(&self, kind: &str, fault: Option<&str>, took: Duration) {
        let f = &self.inner;
        let outcome = if fault.is_some() {
            "failed"
        } else {
            "succeeded"
        };
        f.jobs
            .get_or_create(&JobLabels {
                kind: kind.into(),
                outcome: outcome.into(),
            })
            .inc();
        f.job_seconds
            .get_or_create(&KindLabels { kind: kind.into() })
            .observe(took.as_secs_f64());
        if let Some(fault) = fault {
            f.job_faults
                .get_or_create(&FaultLabels {
                    kind: kind.into(),
                    fault: fault.into(),
                })
                .inc();
        }
    }

    pub fn step(&self, kind: &str, step: &str, took: Duration) {
        self.inner
            .step_seconds
            .get_or_create(&StepLabels {
                kind: kind.into(),
                step: step.into(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn rapi_call(&self, cluster: &str, method: &str, outcome: &str, took: Duration) {
        let f = &self.inner;
        f.rapi_calls
            .get_or_create(&RapiLabels {
                cluster: cluster.into(),
                method: method.into(),
                outcome: outcome.into(),
            })
            .inc();
        f.rapi_seconds
            .get_or_create(&ClusterLabels {
                cluster: cluster.into(),
            })
            .observe(took.as_secs_f64());
    }

    /// A plugin call ended: `outcome` is `ok` or the `PluginError` kind (timeout, trap, ...).
    pub fn plugin_call(&self, plugin: &str, function: &str, outcome: &str, took: Duration) {
        let f = &self.inner;
        f.plugin_calls
            .get_or_create(&PluginLabels {
                plugin: plugin.into(),
                function: function.into(),
                outcome: outcome.into(),
            })
            .inc();
        f.plugin_seconds
            .get_or_create(&PluginFunctionLabels {
                plugin: plugin.into(),
                function: function.into(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn reconcile_pass(&self, backend: &str, repairs: u64) {
        let labels = ReconcileLabels {
            backend: backend.into(),
        };
        self.inner.reconcile_passes.get_or_create(&labels).inc();
        self.inner
            .reconcile_repairs
            .get_or_create(&labels)
            .inc_by(repairs);
    }

    /// The text exposition (OpenMetrics), with the store's size as of now.
    pub fn render(&self, store_bytes: u64) -> String {
        self.inner
            .store_bytes
            .set(i64::try_from(store_bytes).unwrap_or(i64::MAX));
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_figures_appear_in_the_exposition() {
        let m = Metrics::new();
        m.request(
            "/compute/v2.0/servers/{id}",
            "GET",
            200,
            Duration::from_millis(3),
        );
        m.job_finished("server.create", Some("conflict"), Duration::from_secs(2));
        m.rapi_call("https://c1:5080", "GET", "ok", Duration::from_millis(7));
        m.reconcile_pass("1", 2);
        m.plugin_call("alloc-pack", "choose", "timeout", Duration::from_millis(50));
        let text = m.render(4096);
        for needle in [
            r#"cyclades_http_requests_total{route="/compute/v2.0/servers/{id}",method="GET",status="200"} 1"#,
            r#"cyclades_jobs_total{kind="server.create",outcome="failed"} 1"#,
            r#"cyclades_job_faults_total{kind="server.create",fault="conflict"} 1"#,
            r#"cyclades_rapi_calls_total{cluster="https://c1:5080",method="GET",outcome="ok"} 1"#,
            r#"cyclades_reconcile_repairs_total{backend="1"} 2"#,
            r#"cyclades_plugin_calls_total{plugin="alloc-pack",function="choose",outcome="timeout"} 1"#,
            "cyclades_store_size_bytes 4096",
        ] {
            assert!(text.contains(needle), "{needle} missing from:\n{text}");
        }
    }
}
