//! Build progress and diagnostics from snf-image (spec §11.2, §11.4, checklist I97, I102):
//! the simulator plays snf-image's messages through the progress forwarder to the server's
//! vmapi progress URL while it builds; copy progress shows as `progress` (capped at 100),
//! everything else as diagnostics with Synnefo's levels; bad messages get 400 and keys that
//! are not a live server's 404.

use cyclades::progress_monitor::{Forwarder, forward_lines};
use cyclades_tests::{Reply, TestContext};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::compute::{FLAVOR_SMALL, create, flavor_id};

async fn post_progress(ctx: &TestContext, path: &str, body: Value) -> Reply {
    TestContext::reply(ctx.http.post(format!("{}{path}", ctx.url)).json(&body)).await
}

/// The progress path of a building server, read from the osparams of its create job.
async fn progress_path(ctx: &TestContext, id: &str) -> String {
    for _ in 0..100 {
        let s = ctx
            .admin(Method::GET, &format!("/servers/{id}"), None)
            .await;
        if let Some(job) = s.body["server"]["backend_job_id"].as_u64() {
            let job = ctx.rapi(Method::GET, &format!("/2/jobs/{job}"), None).await;
            let config_url = job.body["ops"][0]["osparams"]["config_url"]
                .as_str()
                .expect("config_url")
                .to_string();
            let path = config_url
                .strip_prefix(ctx.url.as_str())
                .expect("the host's URL")
                .replace("/server-params/", "/server-progress/");
            return path;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("server {id} never submitted its create");
}

#[tokio::test]
async fn snf_image_progress_shows_as_build_progress_and_diagnostics() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    ctx.sim_faults(json!({"slow_next": {"OP_INSTANCE_CREATE": 8.0}}))
        .await;
    let image = ctx.demo_image(&token).await;
    let flavor = flavor_id(&ctx, &token, FLAVOR_SMALL).await;
    let r = create(
        &ctx,
        &token,
        json!({"name": "b", "imageRef": image, "flavorRef": flavor}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let id = r.body["server"]["id"].as_str().expect("id").to_string();
    let path = progress_path(&ctx, &id).await;
    let detail = || {
        let (ctx, token, id) = (&ctx, token.clone(), id.clone());
        async move {
            ctx.get(&format!("/compute/v2.0/servers/{id}"), Some(&token))
                .await
                .body["server"]
                .clone()
        }
    };

    // The simulator's snf-image run: copy to 100 %, then customisation, while BUILD.
    let mut s = Value::Null;
    for _ in 0..100 {
        s = detail().await;
        if s["diagnostics"][0]["message"] == "Image customization finished successfully." {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(s["status"], "BUILD", "{s}");
    assert_eq!(s["progress"], 100, "{s}");
    assert_eq!(
        s["diagnostics"].as_array().map(Vec::len),
        Some(1),
        "latest only"
    );
    assert_eq!(s["diagnostics"][0]["source"], "image-info");
    assert_eq!(s["diagnostics"][0]["level"], "DEBUG");
    assert!(s["diagnostics"][0]["source_date"].is_string(), "{s}");
    let all = ctx
        .get(
            &format!("/compute/v2.0/servers/{id}/diagnostics"),
            Some(&token),
        )
        .await
        .body;
    let sources: Vec<&str> = all
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|d| d["source"].as_str())
        .collect();
    assert_eq!(sources.len(), 9, "{all}");
    assert!(sources.contains(&"image-helper-task-start"), "{all}");
    assert_eq!(all[1]["message"], "AddSwap", "a task names itself: {all}");

    // Our own messages through the same key: percentages, the cap, levels, details.
    let r = post_progress(
        &ctx,
        &path,
        json!({"type": "image-copy-progress", "progress": 40}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(detail().await["progress"], 40);
    let r = post_progress(
        &ctx,
        &path,
        json!({"type": "image-copy-progress", "progress": 250.5}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(detail().await["progress"], 100, "capped");
    let r = post_progress(
        &ctx,
        &path,
        json!({"type": "image-helper", "subtype": "error", "messages": ["no root", "fs"],
            "stderr": "mount: wrong fs type", "event_time": [1700000000, 250000]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let latest = detail().await["diagnostics"][0].clone();
    assert_eq!(
        (latest["level"].clone(), latest["source"].clone()),
        (json!("ERROR"), json!("image-helper-error"))
    );
    assert_eq!(latest["message"], "no root\nfs");
    assert_eq!(latest["details"], "mount: wrong fs type");
    assert_eq!(latest["source_date"], "2023-11-14T22:13:20Z");
    for (body, says) in [
        (
            json!({"type": "image-copy-progress", "progress": -5}),
            "progress",
        ),
        (json!({"type": "image-copy-progress"}), "progress"),
        (json!({"type": "image-bogus"}), "image-bogus"),
        (
            json!({"type": "image-info", "instance": "snf-999999"}),
            "snf-999999",
        ),
        (json!({"progress": 5}), "type"),
    ] {
        let r = post_progress(&ctx, &path, body.clone()).await;
        assert!(
            r.fault(400, "badRequest").contains(says),
            "{body}: {}",
            r.text
        );
    }
    let forged = format!("{}00", &path[..path.len() - 2]);
    let r = post_progress(&ctx, &forged, json!({"type": "image-info"})).await;
    r.fault(404, "itemNotFound");
    let r = post_progress(
        &ctx,
        "/vmapi/v1.0/server-progress/nonsense",
        json!({"type": "image-info"}),
    )
    .await;
    r.fault(404, "itemNotFound");

    // The forwarder `cyclades progress-monitor` runs: lines in, messages out.
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    for line in [
        r#"{"type":"image-warning","messages":"slow disk"}"#,
        "not json",
        r#"{"type":"image-copy-progress","progress":-1}"#,
    ] {
        tx.send(line.to_string()).await.expect("send");
    }
    drop(tx);
    let instance = format!("snf-{id}");
    let forwarder = Forwarder::new(&format!("{}{path}", ctx.url), &instance);
    let report = forward_lines(&forwarder, rx).await;
    assert_eq!((report.sent, report.malformed, report.failed), (1, 1, 1));
    let latest = detail().await["diagnostics"][0].clone();
    assert_eq!(
        (latest["level"].clone(), latest["message"].clone()),
        (json!("WARNING"), json!("slow disk"))
    );

    // Done building: 100; deleted: the key no longer works.
    let s = ctx.wait_server(&token, &id, "ACTIVE").await;
    assert_eq!(s["progress"], 100);
    let r = ctx
        .delete(&token, &format!("/compute/v2.0/servers/{id}"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    ctx.wait_server(&token, &id, "DELETED").await;
    let r = post_progress(&ctx, &path, json!({"type": "image-info"})).await;
    r.fault(404, "itemNotFound");
    ctx.shutdown().await;
}
