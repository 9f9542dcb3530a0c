//! snf-image's progress protocol (spec §11.2): the JSON messages snf-image writes to its
//! `PROGRESS_MONITOR` while it deploys an image, and the forwarder that sends each one to the
//! host's per-server endpoint `POST /vmapi/v1.0/server-progress/<key>` (Synnefo published them
//! to AMQP instead). `cyclades progress-monitor <instance>` runs [`forward_lines`] over [`stdin_lines`] on the
//! Ganeti node; the simulator sends [`simulated_deployment`] through [`Forwarder`] the same way.
//!
//! A leaf: it knows the wire shapes and HTTP, nothing of the store, services or API.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// The path segment of the one-time configuration URL snf-image reads (`OSP_CONFIG_URL`).
const PARAMS_SEGMENT: &str = "/vmapi/v1.0/server-params/";
/// The path segment of the progress endpoint that shares its key.
const PROGRESS_SEGMENT: &str = "/vmapi/v1.0/server-progress/";

/// The message types snf-image emits.
pub const MESSAGE_TYPES: &[&str] = &[
    "image-copy-progress",
    "image-info",
    "image-warning",
    "image-error",
    "image-helper",
];

/// `messages`: one string or a list of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Messages {
    One(String),
    Many(Vec<String>),
}

impl Messages {
    /// The lines joined by newlines.
    pub fn text(&self) -> String {
        match self {
            Messages::One(s) => s.clone(),
            Messages::Many(v) => v.join("\n"),
        }
    }
}

/// One snf-image message, plus what the monitor adds (`event_time`, `instance`). Unknown
/// fields are ignored, as Synnefo's dispatcher ignored them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProgressMessage {
    /// One of [`MESSAGE_TYPES`].
    #[serde(rename = "type")]
    pub kind: String,
    /// `image-copy-progress`: percent copied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<f64>,
    /// `image-helper`: task-start, task-end, info, warning or error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtype: Option<String>,
    /// `image-helper`: the customisation task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Messages>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    /// `[seconds, microseconds]` since the epoch, added by the monitor (Synnefo's split time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time: Option<(u64, u64)>,
    /// The Ganeti instance, added by the monitor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

impl ProgressMessage {
    fn info(kind: &str, text: &str) -> Self {
        ProgressMessage {
            kind: kind.into(),
            messages: Some(Messages::One(text.into())),
            ..Default::default()
        }
    }

    fn copy(progress: f64) -> Self {
        ProgressMessage {
            kind: "image-copy-progress".into(),
            progress: Some(progress),
            ..Default::default()
        }
    }

    fn helper(subtype: &str, task: &str) -> Self {
        ProgressMessage {
            kind: "image-helper".into(),
            subtype: Some(subtype.into()),
            task: Some(task.into()),
            ..Default::default()
        }
    }
}

/// The progress URL for a configuration URL (same host and key), if it is one.
pub fn progress_url(config_url: &str) -> Option<String> {
    let (base, key) = config_url.split_once(PARAMS_SEGMENT)?;
    (!key.is_empty() && !key.contains('/')).then(|| format!("{base}{PROGRESS_SEGMENT}{key}"))
}

/// Now as `[seconds, microseconds]`.
fn event_time() -> (u64, u64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (now.as_secs(), u64::from(now.subsec_micros()))
}

/// Why a message did not reach the host.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("cannot reach {url}: {source}")]
    Unreachable { url: String, source: reqwest::Error },
    #[error("{url} refused the message: HTTP {status}: {body}")]
    Refused {
        url: String,
        status: u16,
        body: String,
    },
}

/// Sends messages of one instance to its progress URL.
#[derive(Clone, Debug)]
pub struct Forwarder {
    client: reqwest::Client,
    url: String,
    instance: String,
}

impl Forwarder {
    pub fn new(url: &str, instance: &str) -> Self {
        Forwarder {
            client: reqwest::Client::new(),
            url: url.to_string(),
            instance: instance.to_string(),
        }
    }

    /// Stamps `message` with the time and instance and posts it.
    pub async fn send(&self, mut message: ProgressMessage) -> Result<(), ForwardError> {
        message.event_time.get_or_insert_with(event_time);
        message.instance = Some(self.instance.clone());
        let reply = self
            .client
            .post(&self.url)
            .json(&message)
            .send()
            .await
            .map_err(|source| ForwardError::Unreachable {
                url: self.url.clone(),
                source,
            })?;
        let status = reply.status();
        if status.is_success() {
            return Ok(());
        }
        Err(ForwardError::Refused {
            url: self.url.clone(),
            status: status.as_u16(),
            body: reply.text().await.unwrap_or_default(),
        })
    }
}

/// What [`forward_lines`] did.
#[derive(Debug, Default, PartialEq)]
pub struct ForwardReport {
    pub sent: usize,
    /// Lines that were not a JSON message (reported, skipped).
    pub malformed: usize,
    /// Messages the host did not take (reported, skipped: the deployment must go on).
    pub failed: usize,
}

/// Reads standard input line by line on a blocking thread (snf-image's pipe).
pub fn stdin_lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(64);
    tokio::task::spawn_blocking(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Forwards every line (one JSON message each) until the input ends. Failures are written
/// to stderr and counted, never fatal: snf-image must not stall on its monitor.
pub async fn forward_lines(
    forwarder: &Forwarder,
    mut lines: mpsc::Receiver<String>,
) -> ForwardReport {
    let mut report = ForwardReport::default();
    while let Some(line) = lines.recv().await {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<ProgressMessage>(&line) {
            Ok(message) => match forwarder.send(message).await {
                Ok(()) => report.sent += 1,
                Err(e) => {
                    eprintln!("progress-monitor: {e}");
                    report.failed += 1;
                }
            },
            Err(e) => {
                eprintln!("progress-monitor: skipping a line that is not a message: {e}");
                report.malformed += 1;
            }
        }
    }
    report
}

/// The messages snf-image emits for a typical Linux deployment, in order (what the
/// simulator's "builds" report).
pub fn simulated_deployment() -> Vec<ProgressMessage> {
    let mut out = vec![ProgressMessage::info(
        "image-info",
        "Starting image copy...",
    )];
    out.extend([10.0, 35.0, 60.0, 85.0, 100.0].map(ProgressMessage::copy));
    out.push(ProgressMessage::info("image-info", "Image copy finished."));
    for task in ["FixPartitionTable", "FilesystemResizeUnmounted", "AddSwap"] {
        out.push(ProgressMessage::helper("task-start", task));
        out.push(ProgressMessage::helper("task-end", task));
    }
    out.push(ProgressMessage::info(
        "image-info",
        "Image customization finished successfully.",
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_url_shares_the_config_urls_host_and_key() {
        assert_eq!(
            progress_url("http://h:8080/vmapi/v1.0/server-params/abc").as_deref(),
            Some("http://h:8080/vmapi/v1.0/server-progress/abc")
        );
        assert_eq!(progress_url("http://h/vmapi/v1.0/server-params/"), None);
        assert_eq!(progress_url("http://h/other/abc"), None);
    }

    #[test]
    fn messages_parse_as_snf_image_writes_them() {
        let m: ProgressMessage = serde_json::from_str(
            r#"{"type":"image-helper","subtype":"error","messages":["a","b"],"stderr":"x","extra":1}"#,
        )
        .expect("parses");
        assert_eq!(m.kind, "image-helper");
        assert_eq!(m.messages.map(|m| m.text()).as_deref(), Some("a\nb"));
        let m: ProgressMessage =
            serde_json::from_str(r#"{"type":"image-copy-progress","progress":42.5}"#)
                .expect("parses");
        assert_eq!(m.progress, Some(42.5));
    }
}
