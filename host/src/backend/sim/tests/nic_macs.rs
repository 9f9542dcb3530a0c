//! NIC MACs in the simulator as real Ganeti gives them.

use serde_json::{Value, json};

use super::*;

/// NIC MACs as Ganeti gives them: a requested one is kept (lower-cased), `generate` takes the
/// network's prefix (the fixture instance on `snf-net-1` has `aa:00:01:…`), a malformed or
/// already used one fails the job with Ganeti's message.
#[tokio::test]
async fn a_requested_nic_mac_is_used_as_ganeti_does() {
    let s = sim(Latency::zero(), None).await;
    let c = Client::new(&s);
    network_setup(&c).await;
    let with_nic = |name: &str, nic: Value| {
        let mut body = create_body(name);
        body["nics"] = json!([nic]);
        body
    };
    let macs = |i: &Value| i["nic.macs"].clone();

    let job = c
        .job(
            reqwest::Method::POST,
            "/2/instances",
            with_nic(
                "snf-31",
                json!({"mac": "AA:00:00:11:22:33", "name": "snf-nic-31"}),
            ),
        )
        .await;
    assert_eq!(job["status"], "success", "{job}");
    assert_eq!(
        macs(&c.get("/2/instances/snf-31").await),
        json!(["aa:00:00:11:22:33"])
    );

    let generated =
        json!({"mac": "generate", "name": "snf-nic-32", "network": "snf-net-1", "ip": "10.0.0.32"});
    let job = c
        .job(
            reqwest::Method::POST,
            "/2/instances",
            with_nic("snf-32", generated),
        )
        .await;
    assert_eq!(job["status"], "success", "{job}");
    let mac = macs(&c.get("/2/instances/snf-32").await)[0].clone();
    let expected_prefix = fixture("instance-snf-1.json")
        .and_then(|f| f["nic.macs"][0].as_str().map(|m| m[..8].to_string()))
        .unwrap_or_else(|| "aa:00:01".into());
    assert!(
        mac.as_str()
            .is_some_and(|m| m.starts_with(&expected_prefix) && m != "aa:00:00:11:22:33"),
        "{mac}"
    );

    for (name, nic, message) in [
        (
            "snf-33",
            json!({"mac": "aa:00:00:11:22"}),
            "Invalid MAC address specified: aa:00:00:11:22",
        ),
        (
            "snf-34",
            json!({"mac": "aa:00:00:11:22:33"}),
            "MAC address aa:00:00:11:22:33 already in use in cluster",
        ),
    ] {
        let job = c
            .job(reqwest::Method::POST, "/2/instances", with_nic(name, nic))
            .await;
        assert_eq!(job["status"], "error", "{job}");
        assert!(job.to_string().contains(message), "{job}");
        let (status, _) = c
            .send(reqwest::Method::GET, &format!("/2/instances/{name}"), None)
            .await;
        assert_eq!(status, 404, "a failed create leaves no instance");
    }
    s.shutdown().await;
}
