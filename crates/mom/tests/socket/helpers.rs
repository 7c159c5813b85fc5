//! Shared helpers: a gateway per test (its own database, queue prefix and Redis prefix) on the
//! real services, users and login objects, events on the bus, and real socket.io clients
//! (`tests/clients/client.mjs`, socket.io-client v2 and v4 in node).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use mom::auth::{Sessions, Tokens};
use mom::config::Config;
use mom::domain::{JobStatus, JobView, LoginObject, UserView};
use mom::store;
use mom::topology::{user_key, Topology};
use mom_bus::{Bus, Context, Outgoing};
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpListener;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a test waits for anything it expects.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// One `mom socket` gateway running in this process.
pub struct Node {
    pub url: String,
    shutdown: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl Node {
    /// Starts a gateway on a free port with `config`; returns once it serves.
    pub async fn start(config: &Config) -> Node {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(mom::socket::run(config.clone(), listener, shutdown.clone()));
        let node = Node {
            url,
            shutdown,
            handle,
        };
        node.wait_serving().await;
        node
    }

    /// The listener is bound before `run` connects to anything: wait for a real answer.
    async fn wait_serving(&self) {
        let address = self.url.trim_start_matches("http://").to_owned();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            assert!(
                !self.handle.is_finished(),
                "the gateway stopped during start-up"
            );
            if let Ok(mut stream) = tokio::net::TcpStream::connect(&address).await {
                let request =
                    format!("GET / HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
                let mut answer = Vec::new();
                let answered = async {
                    stream.write_all(request.as_bytes()).await?;
                    tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut answer).await
                };
                if tokio::time::timeout(Duration::from_millis(500), answered)
                    .await
                    .is_ok_and(|read| read.is_ok())
                    && answer.starts_with(b"HTTP/1.1 200")
                {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the gateway did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Shuts the gateway down; it must stop cleanly and promptly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let stopped = tokio::time::timeout(Duration::from_secs(10), self.handle)
            .await
            .expect("the gateway stops within 10 s")
            .expect("the gateway task does not panic");
        stopped.expect("the gateway stops without error");
    }
}

/// A test's world: its database, names, services and the first gateway node.
pub struct TestApp {
    pub config: Config,
    pub topology: Topology,
    pub pool: PgPool,
    pub bus: Bus,
    pub sessions: Sessions,
    pub tokens: Tokens,
    /// The first node is the one [`TestApp::url`] names.
    nodes: Vec<Node>,
    url: String,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// [`spawn_app`] with configuration changes.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(
            std::env::var("RUST_LOG").unwrap_or_else(|_| "mom=debug,mom_bus=info".into()),
        )
        .try_init();
    ensure_node_modules();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let mut config = Config::local();
    config.database_url = format!("postgres://postgres@127.0.0.1:5432/mom_test_{id}");
    config.queue_prefix = format!("test.{id}.");
    config.redis_prefix = format!("test:{id}:");
    configure(&mut config);

    let pool = store::connect(&config.database_url, Duration::from_secs(10))
        .await
        .expect("PostgreSQL is reachable");
    store::migrate(&pool).await.expect("migrations apply");
    let sessions = Sessions::connect(
        &config.redis_url,
        &config.redis_prefix,
        Duration::from_secs(10),
    )
    .await
    .expect("Redis is reachable");
    let bus = Bus::connect(config.bus_config("socket-test"));
    bus.wait_connected(Duration::from_secs(10))
        .await
        .expect("RabbitMQ is reachable");
    let topology = config.topology();
    bus.declare_exchange(&topology.events)
        .await
        .expect("declare the events exchange");
    let tokens = Tokens::new(&config.jwt_secret, config.token_ttl);
    let node = Node::start(&config).await;
    TestApp {
        config,
        topology,
        pool,
        bus,
        sessions,
        tokens,
        url: node.url.clone(),
        nodes: vec![node],
    }
}

impl TestApp {
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Starts one more gateway node with the same configuration; returns its URL.
    pub async fn start_node(&mut self) -> String {
        let node = Node::start(&self.config).await;
        let url = node.url.clone();
        self.nodes.push(node);
        url
    }

    pub async fn create_user(&self, first_name: &str) -> UserView {
        let request_id = uuid::Uuid::new_v4().to_string();
        let email = format!(
            "{}-{}@mom.test",
            first_name.to_lowercase(),
            &request_id[..8]
        );
        store::users::insert(
            &self.pool,
            &store::users::UserRecord {
                request_id: &request_id,
                first_name,
                last_name: "Tester",
                email: &email,
                password_hash: "not-a-hash",
            },
        )
        .await
        .expect("insert user")
    }

    /// A login object for `user` in a fresh open session, as `POST /login` answers it.
    pub async fn login(&self, user: &UserView) -> Value {
        self.login_with(user, &self.tokens, chrono::Utc::now().timestamp_millis())
            .await
            .0
    }

    /// A login object made by `tokens` as if issued at `issued_ms`; also its session id.
    pub async fn login_with(
        &self,
        user: &UserView,
        tokens: &Tokens,
        issued_ms: i64,
    ) -> (Value, String) {
        let sid = self
            .sessions
            .open(user.id, Duration::from_secs(120))
            .await
            .expect("open session");
        let (access_token, claims) = tokens.issue(user, &sid, issued_ms);
        let login = LoginObject {
            user: user.clone(),
            iat: claims.iat * 1000,
            exp: claims.exp * 1000,
            access_token,
            role: Default::default(),
        };
        (serde_json::to_value(login).expect("login object"), sid)
    }

    /// Publishes an event for `user_id` as the db worker does.
    pub async fn publish(&self, user_id: i32, kind: &str, body: &impl serde::Serialize) {
        let message = Outgoing::json(kind, body).expect("encode event");
        self.bus
            .publish(&self.topology.events.name, &user_key(user_id), &message)
            .await
            .expect("publish event");
    }

    /// A finished job event as the worker publishes it.
    pub fn done_job(&self, id: i32, owner: &UserView) -> JobView {
        let now = chrono::Utc::now();
        JobView {
            id,
            kind: "math".into(),
            done: true,
            status: JobStatus::Done,
            details: json!([{"method": "add", "numbers": "1,2", "result": 3}]),
            steps_done: 1,
            steps_total: 1,
            error: None,
            created_at: now,
            updated_at: now,
            finished_at: Some(now),
            version: 2,
            owner: Some(owner.clone()),
            results: Some(vec![json!(3)]),
        }
    }

    /// Connects a node client for `login` to `url` and has it send `authenticate`.
    pub async fn client(&self, url: &str, version: &str, transport: &str, auth: Value) -> Client {
        Client::spawn(json!({
            "url": url,
            "version": version,
            "transport": transport,
            "auth": auth,
            "events": 1000,
            "timeoutMs": 30_000,
        }))
        .await
    }

    /// A v4 websocket client to the first node, authenticated as `login`.
    pub async fn authenticated(&self, login: &Value) -> Client {
        let mut client = self
            .client(self.url(), "v4", "websocket", login.clone())
            .await;
        client.expect("authenticated").await;
        client
    }

    /// Takes the `job.notified` commands from the db queue until they name every job in
    /// `job_ids`; returns all the ids they named.
    pub async fn notified_jobs(&self, job_ids: &[i32]) -> Vec<i32> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let mut seen = Vec::new();
        loop {
            for (body, context) in take_all(&self.topology.db.name).await {
                assert_eq!(context.kind.as_deref(), Some("job.notified"));
                let command: Value = serde_json::from_slice(&body).expect("JSON command");
                assert_eq!(command["action"], "job.notified", "{command}");
                seen.extend(
                    command["jobIds"]
                        .as_array()
                        .expect("jobIds")
                        .iter()
                        .map(|id| id.as_i64().expect("a job id") as i32),
                );
            }
            if job_ids.iter().all(|id| seen.contains(id)) {
                return seen;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "job.notified for {job_ids:?} never came; saw {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops every gateway node; each must stop cleanly and promptly.
    pub async fn stop_nodes(&mut self) {
        for node in self.nodes.drain(..) {
            node.stop().await;
        }
    }

    /// Stops every node and removes the test's database, queues and exchange.
    pub async fn stop(mut self) {
        self.stop_nodes().await;
        self.bus.close().await;
        self.pool.close().await;
        mom_testkit::teardown(&self.config).await;
    }
}

/// Every message currently in `queue`, taken.
pub async fn take_all(queue: &str) -> Vec<(Vec<u8>, Context)> {
    let bus = mom_bus::Bus::connect(mom_bus::BusConfig::new(
        mom_bus::BusConfig::DEFAULT_URI,
        "test-take",
    ));
    let taken = bus.take(queue, usize::MAX).await.expect("take");
    bus.close().await;
    taken.into_iter().map(|m| (m.body, m.context)).collect()
}

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/clients")
}

/// Installs the node clients once per test run if they are missing.
/// Force-closes the broker connections named exactly `name` (as a network fault or an
/// operator would); returns how many.
pub fn close_connections_named(name: &str) -> usize {
    let listing = std::process::Command::new("rabbitmqctl")
        .args(["-q", "list_connections", "pid", "name", "client_properties"])
        .output()
        .expect("rabbitmqctl runs");
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    let quoted = format!("\"{name}\"");
    let pids: Vec<&str> = listing
        .lines()
        .filter(|line| line.contains(&quoted))
        .filter_map(|line| line.split('\t').next())
        .collect();
    for pid in &pids {
        let closed = std::process::Command::new("rabbitmqctl")
            .args(["-q", "close_connection", pid, "test: forced close"])
            .status()
            .expect("rabbitmqctl runs");
        assert!(closed.success(), "close_connection {pid} failed");
    }
    pids.len()
}

pub fn ensure_node_modules() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let dir = clients_dir();
        if dir.join("node_modules/sio2").exists() && dir.join("node_modules/sio4").exists() {
            return;
        }
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .status()
            .expect("npm runs");
        assert!(status.success(), "npm ci --prefix tests/clients failed");
    });
}

/// A socket.io client in a node process: what it received, one JSON line at a time.
pub struct Client {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    /// Every line read so far (events and connection news).
    pub lines_seen: Vec<Value>,
    exited: bool,
}

impl Client {
    pub async fn spawn(options: Value) -> Client {
        let mut child = Command::new("node")
            .arg(clients_dir().join("client.mjs"))
            .arg(options.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let stdin = child.stdin.take().expect("stdin");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Client {
            child,
            stdin,
            lines,
            lines_seen: Vec::new(),
            exited: false,
        }
    }

    /// The next line, or `None` once the client has exited.
    async fn next_line(&mut self) -> Option<Value> {
        if self.exited {
            return None;
        }
        let line = tokio::time::timeout(PATIENCE, self.lines.next_line())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the client said nothing for {PATIENCE:?}; saw {:?}",
                    self.lines_seen
                )
            })
            .expect("read client output");
        let Some(line) = line else {
            self.exited = true;
            return None;
        };
        let value: Value = serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("client printed something else than JSON: {line}"));
        self.lines_seen.push(value.clone());
        if value["status"] == "exit" {
            self.exited = true;
        }
        Some(value)
    }

    /// The next event from the server (connection news is recorded and skipped).
    pub async fn next_event(&mut self) -> Value {
        loop {
            match self.next_line().await {
                Some(line) if line.get("event").is_some() => return line,
                Some(_) => continue,
                None => panic!("the client exited; saw {:?}", self.lines_seen),
            }
        }
    }

    /// The next event must be `name`; returns its first argument (`null` without one).
    pub async fn expect(&mut self, name: &str) -> Value {
        let event = self.next_event().await;
        assert_eq!(
            event["event"], name,
            "expected {name}; saw {:?}",
            self.lines_seen
        );
        event.get("data").cloned().unwrap_or(Value::Null)
    }

    /// Waits for a connection news line with this status.
    pub async fn wait_status(&mut self, status: &str) -> Value {
        if let Some(seen) = self.lines_seen.iter().find(|l| l["status"] == status) {
            return seen.clone();
        }
        loop {
            match self.next_line().await {
                Some(line) if line["status"] == status => return line,
                Some(_) => continue,
                None => panic!("no {status} status; saw {:?}", self.lines_seen),
            }
        }
    }

    /// Has the client emit `event` (with `data` if given), asking for an ack or not.
    pub async fn emit(&mut self, event: &str, data: Option<Value>, ack: bool) {
        let mut command = json!({"emit": event, "ack": ack});
        if let Some(data) = data {
            command["data"] = data;
        }
        self.command(command).await;
    }

    async fn command(&mut self, command: Value) {
        let line = format!("{command}\n");
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("write to the client");
        self.stdin.flush().await.expect("flush");
    }

    /// Lets anything already on its way arrive, stops the client and returns the events it
    /// received after the ones already read.
    pub async fn finish(mut self) -> Vec<Value> {
        let already = self.lines_seen.len();
        tokio::time::sleep(Duration::from_millis(200)).await;
        if !self.exited {
            self.command(json!({"exit": true})).await;
        }
        while self.next_line().await.is_some() {}
        let _ = self.child.wait().await;
        self.lines_seen[already..]
            .iter()
            .filter(|line| line.get("event").is_some())
            .cloned()
            .collect()
    }
}
