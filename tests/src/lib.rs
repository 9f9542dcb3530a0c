//! The test harness: `TestContext` starts the real host (`cyclades::server::start`) on
//! `127.0.0.1:0` over a fresh temporary data directory and offers typed request helpers.
//! The directory is kept (and its path printed) when a test fails, so its state can be read.

use std::path::{Path, PathBuf};

use cyclades::config::Config;
use cyclades::server::{self, RunningServer, ServerOptions};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The compiled-plugin cache shared by every test server of this machine.
pub fn shared_plugin_cache() -> PathBuf {
    std::env::temp_dir().join("cyclades-test-plugin-cache")
}

/// Where the fixture plugins (`tests/plugins/`) are built.
pub fn fixture_plugin(name: &str) -> PathBuf {
    PathBuf::from(cyclades::plugins::builtin::PLUGIN_ARTIFACT_DIR).join(format!("{name}.wasm"))
}

/// A running server over a temporary data directory.
pub struct TestContext {
    server: Option<RunningServer>,
    dir: Option<tempfile::TempDir>,
    config: Config,
    demo: bool,
    pub url: String,
    pub admin_token: String,
    pub http: reqwest::Client,
}

/// A response reduced to what tests look at.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts this is the fault `name` with `status`, and returns its message.
    #[track_caller]
    pub fn fault(&self, status: u16, name: &str) -> String {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        let fault = &self.body[name];
        assert_eq!(
            fault["code"], status,
            "expected fault {name}; body: {}",
            self.text
        );
        assert!(
            fault["details"].is_string(),
            "fault without details: {}",
            self.text
        );
        fault["message"]
            .as_str()
            .expect("fault message")
            .to_string()
    }
}

impl TestContext {
    /// A server seeded as `serve --demo` seeds it (users demo/demo and admin/admin).
    pub async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    /// A demo server with configuration changes.
    pub async fn with_config(change: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("cyclades-test-")
            .tempdir()
            .expect("temp dir");
        let mut config = Config::default();
        config.server.listen = "127.0.0.1:0".parse().expect("addr");
        config.server.data_dir = dir.path().to_path_buf();
        // CYCLADES_TEST_STORE=postgres puts the store in a fresh PostgreSQL database.
        config.store.url = cyclades::store::testing::store_url_for(dir.path());
        // Compiled plugins are cached across tests (keyed by digest and engine hash).
        config.plugins.cache_dir = Some(shared_plugin_cache());
        change(&mut config);
        Self::start(config, Some(dir), true).await
    }

    async fn start(config: Config, dir: Option<tempfile::TempDir>, demo: bool) -> Self {
        let server = server::start(ServerOptions {
            config: config.clone(),
            demo,
        })
        .await
        .expect("server starts");
        TestContext {
            url: server.public_url.clone(),
            admin_token: server.admin_token.clone(),
            server: Some(server),
            dir,
            config,
            demo,
            http: reqwest::Client::new(),
        }
    }

    /// Base URL of the in-process simulated Ganeti cluster (`serve --demo`).
    pub fn simulator_url(&self) -> String {
        self.server
            .as_ref()
            .and_then(|s| s.simulator_url())
            .expect("demo simulator")
    }

    /// A RAPI request straight to the simulated cluster, behind cyclades' back (drift, checks).
    pub async fn rapi(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.simulator_url()))
            .basic_auth(
                cyclades::demo::SIM_USERNAME,
                Some(cyclades::demo::SIM_PASSWORD),
            );
        if let Some(b) = body {
            request = request.json(&b);
        }
        Self::reply(request).await
    }

    /// Injects faults into the simulated cluster (`POST /sim/faults`).
    pub async fn sim_faults(&self, body: Value) {
        let reply = Self::reply(
            self.http
                .post(format!("{}/sim/faults", self.simulator_url()))
                .basic_auth(
                    cyclades::demo::SIM_USERNAME,
                    Some(cyclades::demo::SIM_PASSWORD),
                )
                .json(&body),
        )
        .await;
        assert!(reply.status.is_success(), "sim faults: {}", reply.text);
    }

    /// Polls `path` as `token` until `done` holds for the reply (panics after 30 s).
    pub async fn wait_until(
        &self,
        token: &str,
        path: &str,
        done: impl Fn(&Reply) -> bool,
    ) -> Reply {
        let mut last = None;
        for _ in 0..300 {
            let reply = self.get(path, Some(token)).await;
            if done(&reply) {
                return reply;
            }
            last = Some(reply);
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let last = last.map(|r| format!("{} {}", r.status, r.text));
        panic!("{path} never reached the expected state: {last:?}");
    }

    /// Polls a server as `token` until its status is `status` (panics after 30 s).
    pub async fn wait_server(&self, token: &str, id: &str, status: &str) -> Value {
        let path = format!("/compute/v2.0/servers/{id}");
        let reply = self
            .wait_until(token, &path, |r| r.body["server"]["status"] == status)
            .await;
        reply.body["server"].clone()
    }

    /// The id of the demo image.
    pub async fn demo_image(&self, token: &str) -> String {
        let reply = self
            .get("/image/v2/images?name=debian-12", Some(token))
            .await;
        reply.body["images"][0]["id"]
            .as_str()
            .expect("demo image")
            .to_string()
    }

    pub fn data_dir(&self) -> &Path {
        &self.config.server.data_dir
    }

    /// Stops the server (graceful, store flushed) and starts a new one on the same directory.
    pub async fn restart(self) -> Self {
        self.restart_with(|_| {}).await
    }

    /// `restart`, running `between` on the data dir while no server holds it (to change the
    /// store behind the server's back, as a crash or a bug would).
    pub async fn restart_with(mut self, between: impl FnOnce(&Path)) -> Self {
        let server = self.server.take().expect("running");
        server.shutdown().await.expect("clean shutdown");
        between(&self.config.server.data_dir);
        let mut config = self.config.clone();
        config.server.listen = "127.0.0.1:0".parse().expect("addr");
        let dir = self.dir.take();
        Self::start(config, dir, self.demo).await
    }

    /// `restart_with`, also changing the configuration the server restarts with.
    pub async fn restart_with_config(mut self, between: impl FnOnce(&Path, &mut Config)) -> Self {
        let server = self.server.take().expect("running");
        server.shutdown().await.expect("clean shutdown");
        let mut config = self.config.clone();
        between(&config.server.data_dir.clone(), &mut config);
        config.server.listen = "127.0.0.1:0".parse().expect("addr");
        let dir = self.dir.take();
        Self::start(config, dir, self.demo).await
    }

    /// Stops the server; the temp dir goes away with the context.
    pub async fn shutdown(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("clean shutdown");
        }
    }

    /// Sends a request; `body` is sent as JSON.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.header("X-Auth-Token", token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Self::reply(request).await
    }

    /// Sends an arbitrary prepared request.
    pub async fn reply(request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.request(Method::GET, path, token, None).await
    }

    /// `POST path` as `token` with the JSON `body`.
    pub async fn post(&self, token: &str, path: &str, body: Value) -> Reply {
        self.request(Method::POST, path, Some(token), Some(body))
            .await
    }

    /// `PUT path` as `token` with the JSON `body`.
    pub async fn put(&self, token: &str, path: &str, body: Value) -> Reply {
        self.request(Method::PUT, path, Some(token), Some(body))
            .await
    }

    /// `DELETE path` as `token`.
    pub async fn delete(&self, token: &str, path: &str) -> Reply {
        self.request(Method::DELETE, path, Some(token), None).await
    }

    /// `POST /compute/v2.0/servers/<id>/action` as `token` with `body`.
    pub async fn action(&self, token: &str, id: &str, body: Value) -> Reply {
        self.post(token, &format!("/compute/v2.0/servers/{id}/action"), body)
            .await
    }

    /// A project's quota usage and pending charge of `resource` (0 when it has no row yet).
    pub async fn usage(&self, project: &str, resource: &str) -> (i64, i64) {
        let reply = self
            .admin(Method::GET, &format!("/quotas?project={project}"), None)
            .await;
        let rows = reply.body["quotas"].as_array().cloned().unwrap_or_default();
        let row = rows.iter().find(|r| r["resource"] == resource);
        let field = |name: &str| row.and_then(|r| r[name].as_i64()).unwrap_or(0);
        (field("usage"), field("pending"))
    }

    /// A request to the admin API with the operator token.
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.request(
            method,
            &format!("/admin/v1{path}"),
            Some(&self.admin_token.clone()),
            body,
        )
        .await
    }

    /// Keystone v3 password login scoped to `project`; returns the raw reply.
    pub async fn login(&self, user: &str, password: &str, project: Option<&str>) -> Reply {
        let mut auth = json!({"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "password": password, "domain": {"name": "Default"}}}}});
        if let Some(project) = project {
            auth["scope"] = json!({"project": {"name": project, "domain": {"name": "Default"}}});
        }
        self.request(
            Method::POST,
            "/identity/v3/auth/tokens",
            None,
            Some(json!({"auth": auth})),
        )
        .await
    }

    /// A token for `user` in `project`, panicking if login fails.
    pub async fn token(&self, user: &str, password: &str, project: &str) -> String {
        let reply = self.login(user, password, Some(project)).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "login failed: {}",
            reply.text
        );
        reply
            .header("x-subject-token")
            .expect("X-Subject-Token")
            .to_string()
    }

    /// The demo user's token.
    pub async fn demo_token(&self) -> String {
        self.token("demo", "demo", "demo").await
    }

    /// Creates a user through the admin API.
    pub async fn create_user(
        &self,
        name: &str,
        password: &str,
        project: &str,
        admin: bool,
    ) -> Value {
        let body = json!({"user": {"name": name, "password": password, "project": project, "admin": admin}});
        let reply = self.admin(Method::POST, "/users", Some(body)).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "user create: {}",
            reply.text
        );
        reply.body["user"].clone()
    }

    /// Creates a project through the admin API.
    pub async fn create_project(&self, name: &str) -> Value {
        let reply = self
            .admin(
                Method::POST,
                "/projects",
                Some(json!({"project": {"name": name}})),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "project create: {}",
            reply.text
        );
        reply.body["project"].clone()
    }
}

impl Drop for TestContext {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(dir) = self.dir.take()
        {
            let kept: PathBuf = dir.keep();
            eprintln!("test failed: data directory kept at {}", kept.display());
        }
    }
}
