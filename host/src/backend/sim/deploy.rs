//! What snf-image reports while the simulator "builds" an instance: when a create names a
//! configuration URL of ours (`osparams.config_url`), the simulator plays snf-image's progress
//! messages to the matching progress URL through the same forwarder `cyclades
//! progress-monitor` uses, spread over the create job's simulated run time.

use std::time::Duration;

use crate::progress_monitor::{Forwarder, progress_url, simulated_deployment};

/// Starts reporting for `instance` if `config_url` has a progress URL; returns at once.
pub(super) fn report_progress(config_url: Option<&str>, instance: &str, seconds: f64) {
    let Some(url) = config_url.and_then(progress_url) else {
        return;
    };
    let forwarder = Forwarder::new(&url, instance);
    let messages = simulated_deployment();
    let step = Duration::from_secs_f64((seconds / messages.len() as f64).max(0.0));
    tokio::spawn(async move {
        for message in messages {
            tokio::time::sleep(step).await;
            if let Err(e) = forwarder.send(message).await {
                tracing::debug!(error = %e, "simulated snf-image progress not delivered");
                break;
            }
        }
    });
}
