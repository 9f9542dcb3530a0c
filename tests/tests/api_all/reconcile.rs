//! Reconciliation against the simulated cluster: drift injected behind cyclades' back (an
//! instance stopped directly through RAPI, an instance lost, an orphan created) is reported, the
//! safe repairs happen, destructive ones wait for `--fix-*`, and quota follows every repair.

use cyclades_tests::TestContext;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub(super) async fn wait_ganeti_job(ctx: &TestContext, job: &Value) {
    let id = job
        .as_u64()
        .or_else(|| job.as_str().and_then(|s| s.parse().ok()))
        .expect("job id");
    for _ in 0..100 {
        let r = ctx.rapi(Method::GET, &format!("/2/jobs/{id}"), None).await;
        if r.body["status"] == "success" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("ganeti job {id} did not finish");
}

async fn active_cpu(ctx: &TestContext) -> i64 {
    let r = ctx.admin(Method::GET, "/quotas?project=demo", None).await;
    r.body["quotas"]
        .as_array()
        .expect("quotas")
        .iter()
        .find(|q| q["resource"] == "cyclades.cpu")
        .and_then(|q| q["usage"].as_i64())
        .unwrap_or(0)
}

async fn reconcile(ctx: &TestContext, fixes: Value) -> Vec<Value> {
    let r = ctx
        .admin(Method::POST, "/reconcile/servers", Some(fixes))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["drift"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn drift_is_reported_and_repaired_with_quota_following() {
    let ctx = TestContext::with_config(|c| c.backends.reconcile_secs = 0).await;
    let token = ctx.demo_token().await;
    let image = ctx.demo_image(&token).await;
    let flavors = ctx.get("/compute/v2.0/flavors", Some(&token)).await;
    let flavor = flavors.body["flavors"]
        .as_array()
        .expect("flavors")
        .iter()
        .find(|f| f["name"] == "C1R1024D10plain")
        .and_then(|f| f["id"].as_str())
        .expect("flavor")
        .to_string();
    let mut ids = Vec::new();
    for name in ["a", "b"] {
        let r = ctx
            .post(
                &token,
                "/compute/v2.0/servers",
                json!({"server": {"name": name, "imageRef": image, "flavorRef": flavor}}),
            )
            .await;
        let id = r.body["server"]["id"].as_str().expect("id").to_string();
        ctx.wait_server(&token, &id, "ACTIVE").await;
        ids.push(id);
    }
    assert!(
        reconcile(&ctx, json!({})).await.is_empty(),
        "no drift to begin with"
    );
    assert_eq!(active_cpu(&ctx).await, 2);

    // Behind cyclades' back: stop "a" through RAPI, lose "b", add an orphan.
    let stop = ctx
        .rapi(
            Method::PUT,
            &format!("/2/instances/snf-{}/shutdown", ids[0]),
            Some(json!({})),
        )
        .await;
    wait_ganeti_job(&ctx, &stop.body).await;
    let lost = ctx
        .rapi(
            Method::DELETE,
            &format!("/sim/instances/snf-{}", ids[1]),
            None,
        )
        .await;
    assert!(lost.status.is_success(), "{}", lost.text);
    let orphan = ctx.rapi(Method::POST, "/2/instances", Some(json!({"__version__": 1, "mode": "create",
        "name": "snf-999999", "disk_template": "plain", "disks": [{"size": 1024}], "nics": [{"name": "x"}],
        "beparams": {"vcpus": 1, "memory": 512}, "os": "snf-image+default", "ip_check": false, "name_check": false}))).await;
    wait_ganeti_job(&ctx, &orphan.body).await;

    // Report only.
    let drift = reconcile(&ctx, json!({})).await;
    let kinds: Vec<(&str, bool)> = drift
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap_or(""),
                d["fixed"].as_bool().unwrap_or(true),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [("unsynced", false), ("stale", false), ("orphan", false)],
        "{drift:?}"
    );

    // The safe repair: operstate follows Ganeti, and active quota with it.
    let drift = reconcile(&ctx, json!({"fix_unsynced": true})).await;
    assert!(
        drift
            .iter()
            .any(|d| d["kind"] == "unsynced" && d["fixed"] == true),
        "{drift:?}"
    );
    let a = ctx
        .get(&format!("/compute/v2.0/servers/{}", ids[0]), Some(&token))
        .await;
    assert_eq!(a.body["server"]["status"], "STOPPED");
    assert_eq!(active_cpu(&ctx).await, 1);

    // Destructive repairs on request: the lost server is deleted (quota released), the orphan removed.
    let drift = reconcile(&ctx, json!({"fix_stale": true, "fix_orphans": true})).await;
    assert_eq!(
        drift.iter().filter(|d| d["fixed"] == true).count(),
        2,
        "{drift:?}"
    );
    let b = ctx
        .get(&format!("/compute/v2.0/servers/{}", ids[1]), Some(&token))
        .await;
    assert_eq!(b.body["server"]["status"], "DELETED");
    assert_eq!(active_cpu(&ctx).await, 0);
    let orphan = ctx.rapi(Method::GET, "/2/instances/snf-999999", None).await;
    assert_eq!(orphan.status, StatusCode::NOT_FOUND);
    assert!(reconcile(&ctx, json!({})).await.is_empty());

    let health = ctx.admin(Method::GET, "/backends/health", None).await;
    let h = &health.body["backends"][0];
    assert!(h["last_reconciled"].is_string(), "{}", health.text);
    assert_eq!(
        h["repairs"],
        json!({"orphan": 1, "stale": 1, "unsynced": 1})
    );
    assert_eq!(h["jobs_in_flight"], 0);
    ctx.shutdown().await;
}

#[tokio::test]
async fn the_continuous_reconciler_repairs_safe_drift_by_itself() {
    let ctx = TestContext::with_config(|c| c.backends.reconcile_secs = 1).await;
    let token = ctx.demo_token().await;
    let image = ctx.demo_image(&token).await;
    let flavors = ctx.get("/compute/v2.0/flavors", Some(&token)).await;
    let flavor = flavors.body["flavors"][0]["id"]
        .as_str()
        .expect("flavor")
        .to_string();
    let r = ctx
        .post(
            &token,
            "/compute/v2.0/servers",
            json!({"server": {"name": "drifty", "imageRef": image, "flavorRef": flavor}}),
        )
        .await;
    let id = r.body["server"]["id"].as_str().expect("id").to_string();
    ctx.wait_server(&token, &id, "ACTIVE").await;
    let stop = ctx
        .rapi(
            Method::PUT,
            &format!("/2/instances/snf-{id}/shutdown"),
            Some(json!({})),
        )
        .await;
    wait_ganeti_job(&ctx, &stop.body).await;
    // Within a couple of reconcile intervals the record follows Ganeti, with no operator.
    ctx.wait_server(&token, &id, "STOPPED").await;
    ctx.shutdown().await;
}

#[tokio::test]
async fn orphaned_commissions_follow_their_jobs() {
    let ctx = TestContext::with_config(|c| c.backends.reconcile_secs = 0).await;
    // A commission named after a job that does not exist, and one issued by hand.
    for name in ["job-987654", "manual-1"] {
        let r = ctx
            .admin(
                Method::POST,
                "/commissions",
                Some(json!({"commission": {"name": name, "project": "demo",
                "provisions": {"cyclades.vm": 1}}})),
            )
            .await;
        assert!(r.status.is_success(), "{}", r.text);
    }
    let report = ctx
        .admin(Method::POST, "/reconcile/commissions", None)
        .await;
    let rows = report.body["commissions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let verdicts: Vec<(&str, &str)> = rows
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or(""),
                c["verdict"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [("job-987654", "reject"), ("manual-1", "keep")],
        "{}",
        report.text
    );
    let fixed = ctx
        .admin(
            Method::POST,
            "/reconcile/commissions",
            Some(json!({"fix": true})),
        )
        .await;
    assert_eq!(
        fixed.body["commissions"][0]["fixed"], true,
        "{}",
        fixed.text
    );
    let again = ctx
        .admin(Method::POST, "/reconcile/commissions", None)
        .await;
    assert_eq!(again.body["commissions"].as_array().map(Vec::len), Some(1));
    ctx.shutdown().await;
}

/// `reconcile-resources`: recorded usage that disagrees with what the project's servers hold
/// is reported per resource; with pending commissions `--fix` waits; otherwise it forces the
/// record to the servers' holdings, and a second run finds nothing.
#[tokio::test]
async fn quota_usage_is_reconciled_with_the_servers_holdings() {
    let ctx = TestContext::with_config(|c| c.backends.reconcile_secs = 0).await;
    let token = ctx.demo_token().await;
    let image = ctx.demo_image(&token).await;
    let flavor = super::compute::flavor_id(&ctx, &token, super::compute::FLAVOR_SMALL).await;
    let r = super::compute::create(
        &ctx,
        &token,
        json!({"name": "held", "imageRef": image, "flavorRef": flavor}),
    )
    .await;
    let id = r.body["server"]["id"].as_str().expect("id").to_string();
    ctx.wait_server(&token, &id, "ACTIVE").await;
    let report = |fix: bool| {
        let ctx = &ctx;
        async move {
            let r = ctx
                .admin(
                    Method::POST,
                    "/reconcile/resources",
                    Some(json!({"fix": fix})),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            r.body["resources"].as_array().cloned().unwrap_or_default()
        }
    };
    assert_eq!(
        report(false).await,
        Vec::<Value>::new(),
        "a consistent start"
    );

    // Drift: two VMs and 4 CPUs recorded that no server holds (a hand-made commission).
    let issued = ctx
        .admin(
            Method::POST,
            "/commissions",
            Some(json!({"commission": {"name": "stray", "project": "demo",
                "provisions": {"cyclades.vm": 2, "cyclades.total_cpu": 4}}})),
        )
        .await;
    assert!(issued.status.is_success(), "{}", issued.text);
    let serial = issued.body["commission"]["serial"]
        .as_str()
        .expect("serial")
        .to_string();
    // Still pending: reported (pending is not usage), but not fixed.
    let pending = report(true).await;
    assert!(pending.is_empty(), "pending is not usage: {pending:?}");
    let accepted = ctx
        .admin(Method::POST, &format!("/commissions/{serial}/accept"), None)
        .await;
    assert!(accepted.status.is_success(), "{}", accepted.text);

    let drift = report(false).await;
    let rows: Vec<(String, i64, i64)> = drift
        .iter()
        .map(|d| {
            (
                d["resource"].as_str().unwrap_or("").to_string(),
                d["recorded"].as_i64().unwrap_or(-1),
                d["actual"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("cyclades.vm".to_string(), 3, 1),
            ("cyclades.total_cpu".to_string(), 5, 1)
        ]
    );
    assert!(drift.iter().all(|d| d["fixed"] == false));
    // A job-like commission in flight: --fix reports and waits.
    let busy = ctx
        .admin(
            Method::POST,
            "/commissions",
            Some(
                json!({"commission": {"name": "in-flight", "project": "demo",
                "provisions": {"cyclades.vm": 1}}}),
            ),
        )
        .await;
    let busy_serial = busy.body["commission"]["serial"]
        .as_str()
        .expect("serial")
        .to_string();
    let waited = report(true).await;
    assert_eq!(waited.len(), 2, "{waited:?}");
    assert!(
        waited
            .iter()
            .all(|d| d["fixed"] == false
                && d["note"].as_str().is_some_and(|n| n.contains("pending"))),
        "{waited:?}"
    );
    let rejected = ctx
        .admin(
            Method::POST,
            &format!("/commissions/{busy_serial}/reject"),
            None,
        )
        .await;
    assert!(rejected.status.is_success(), "{}", rejected.text);
    let fixed = report(true).await;
    assert!(fixed.iter().all(|d| d["fixed"] == true), "{fixed:?}");
    assert_eq!(report(false).await, Vec::<Value>::new(), "nothing left");
    let usage = ctx.admin(Method::GET, "/quotas?project=demo", None).await;
    let vm = usage.body["quotas"]
        .as_array()
        .expect("quotas")
        .iter()
        .find(|q| q["resource"] == "cyclades.vm")
        .and_then(|q| q["usage"].as_i64());
    assert_eq!(vm, Some(1));
    ctx.shutdown().await;
}

/// A user tag added in Ganeti behind our back (encoded as Synnefo does) is reported as
/// `unsynced_tags`, and `--fix-unsynced-tags` makes the record follow Ganeti.
#[tokio::test]
async fn tags_changed_in_ganeti_are_reconciled() {
    let ctx = TestContext::with_config(|c| c.backends.reconcile_secs = 0).await;
    let token = ctx.demo_token().await;
    let ids = super::compute::active_servers(&ctx, &token, &["tagged"]).await;
    let id = &ids[0];
    let r = ctx
        .request(
            Method::PUT,
            &format!("/compute/v2.0/servers/{id}/tags/web"),
            Some(&token),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    assert!(reconcile(&ctx, json!({})).await.is_empty());
    // "my_db tag" encoded: `_` → `*`, space → `+`.
    let added = ctx
        .rapi(
            Method::PUT,
            &format!("/2/instances/snf-{id}/tags?tag=cyclades:user:my*db%2Btag"),
            None,
        )
        .await;
    wait_ganeti_job(&ctx, &added.body).await;
    let drift = reconcile(&ctx, json!({})).await;
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert_eq!(drift[0]["kind"], "unsynced_tags");
    let fixed = reconcile(&ctx, json!({"fix_unsynced_tags": true})).await;
    assert_eq!(fixed[0]["fixed"], true, "{fixed:?}");
    let tags = ctx
        .get(&format!("/compute/v2.0/servers/{id}/tags"), Some(&token))
        .await;
    assert_eq!(
        tags.body["tags"],
        json!(["my_db tag", "web"]),
        "{}",
        tags.text
    );
    assert!(reconcile(&ctx, json!({})).await.is_empty());
    ctx.shutdown().await;
}

#[tokio::test]
async fn a_resized_instance_moves_to_the_matching_flavor_with_quota() {
    let ctx = TestContext::with_config(|c| c.backends.reconcile_secs = 0).await;
    let token = ctx.demo_token().await;
    let image = ctx.demo_image(&token).await;
    let flavor = super::compute::flavor_id(&ctx, &token, "C1R1024D10plain").await;
    let r = ctx
        .post(
            &token,
            "/compute/v2.0/servers",
            json!({"server": {"name": "grown", "imageRef": image, "flavorRef": flavor}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let id = r.body["server"]["id"].as_str().expect("id").to_string();
    ctx.wait_server(&token, &id, "ACTIVE").await;
    assert!(
        reconcile(&ctx, json!({})).await.is_empty(),
        "in sync after create"
    );
    assert_eq!(active_cpu(&ctx).await, 1);

    // Behind our back: 2 vCPUs and 2 GiB, a size no flavor has yet.
    let job = ctx
        .rapi(
            Method::PUT,
            &format!("/2/instances/snf-{id}/modify"),
            Some(json!({"beparams": {"vcpus": 2, "maxmem": 2048, "minmem": 2048}})),
        )
        .await;
    wait_ganeti_job(&ctx, &job.body).await;
    let drift = reconcile(&ctx, json!({"fix_unsynced_flavors": true})).await;
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert_eq!(drift[0]["kind"], "unsynced_flavor");
    assert_eq!(drift[0]["fixed"], false, "no flavor to move to: {drift:?}");
    assert!(
        drift[0]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("2 vCPU 2048 MiB 10 GiB in Ganeti (no matching flavor)"),
        "{drift:?}"
    );

    // The operator adds the flavor; the server moves to it and quota follows.
    let r = ctx
        .admin(
            Method::POST,
            "/flavors",
            Some(json!({"cpus": [2], "rams": [2048], "disks": [10], "volume_types": ["plain"]})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let drift = reconcile(&ctx, json!({"fix_unsynced_flavors": true})).await;
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert_eq!(drift[0]["fixed"], true, "{drift:?}");
    let s = ctx
        .get(&format!("/compute/v2.0/servers/{id}"), Some(&token))
        .await;
    let now = s.body["server"]["flavor"]["id"]
        .as_str()
        .expect("flavor")
        .to_string();
    assert_ne!(now, flavor, "moved to the new flavor");
    assert_eq!(active_cpu(&ctx).await, 2, "active CPUs follow the flavor");
    assert!(reconcile(&ctx, json!({})).await.is_empty(), "in sync again");
}
