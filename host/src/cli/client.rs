//! The admin API client behind every operator command: finds the server and the operator
//! token, sends JSON, and turns fault bodies into one-line errors.

use std::path::{Path, PathBuf};

use reqwest::Method;
use serde_json::Value;

use super::CliError;
use crate::server::ADMIN_TOKEN_FILE;

/// Connection to a running server's `/admin/v1`.
pub struct AdminClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl AdminClient {
    /// Uses `token` if given (`CYCLADES_ADMIN_TOKEN`), else `<data_dir>/admin-token`.
    pub fn new(url: &str, token: Option<String>, data_dir: &Path) -> Result<Self, CliError> {
        let token = match token.filter(|t| !t.trim().is_empty()) {
            Some(t) => t.trim().to_string(),
            None => read_token_file(&data_dir.join(ADMIN_TOKEN_FILE))?,
        };
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| CliError::Message(format!("cannot build HTTP client: {e}")))?;
        Ok(AdminClient {
            http,
            base: url.trim_end_matches('/').to_string(),
            token,
        })
    }

    /// Sends a request to `/admin/v1<path>` and returns the decoded JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, CliError> {
        let url = format!("{}/admin/v1{path}", self.base);
        let mut request = self
            .http
            .request(method, &url)
            .header("X-Auth-Token", &self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| {
            if e.is_connect() {
                CliError::Message(format!("cannot reach cyclades at {}: is `cyclades serve` running there? (--url or CYCLADES_URL)", self.base))
            } else {
                CliError::Message(format!("request to {url} failed: {e}"))
            }
        })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| CliError::Message(format!("reading the reply from {url}: {e}")))?;
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(json);
        }
        Err(CliError::Message(fault_message(
            status.as_u16(),
            &json,
            &text,
        )))
    }

    pub async fn get(&self, path: &str) -> Result<Value, CliError> {
        self.call(Method::GET, path, None).await
    }
}

fn read_token_file(path: &PathBuf) -> Result<String, CliError> {
    match std::fs::read_to_string(path) {
        Ok(token) if !token.trim().is_empty() => Ok(token.trim().to_string()),
        Ok(_) => Err(CliError::Message(format!(
            "the admin token file {} is empty",
            path.display()
        ))),
        Err(e) => Err(CliError::Message(format!(
            "no admin token: set CYCLADES_ADMIN_TOKEN, or point --data-dir at the server's data directory \
             ({} : {e})",
            path.display()
        ))),
    }
}

/// `{"itemNotFound": {"message": "..."}}` → `Project x not found (404 itemNotFound)`.
fn fault_message(status: u16, json: &Value, text: &str) -> String {
    if let Some((name, fault)) = json.as_object().and_then(|o| o.iter().next())
        && let Some(message) = fault.get("message").and_then(Value::as_str)
    {
        return format!("{message} ({status} {name})");
    }
    format!(
        "the server answered {status}: {}",
        text.chars().take(200).collect::<String>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_become_one_line() {
        let json = serde_json::json!({"itemNotFound": {"code": 404, "message": "Project x not found", "details": ""}});
        assert_eq!(
            fault_message(404, &json, ""),
            "Project x not found (404 itemNotFound)"
        );
        assert_eq!(
            fault_message(502, &Value::Null, "bad gateway"),
            "the server answered 502: bad gateway"
        );
    }
}
