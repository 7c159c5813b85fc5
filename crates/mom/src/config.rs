//! Configuration: one typed struct, read once from the environment, with local defaults.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use crate::cors::CorsOrigins;
use crate::domain::{Email, Role};

/// Everything every service may need. Each service reads only its part.
#[derive(Clone, Debug)]
pub struct Config {
    pub host: IpAddr,
    pub api_port: u16,
    pub socket_port: u16,
    pub math_port: u16,
    pub panel_port: u16,
    pub amqp_url: String,
    pub database_url: String,
    pub redis_url: String,
    /// Prefix of every queue and exchange name; lets several systems share one broker.
    pub queue_prefix: String,
    /// Prefix of every Redis key.
    pub redis_prefix: String,
    pub jwt_secret: String,
    pub token_ttl: Duration,
    pub rpc_timeout: Duration,
    /// Where the workers reach the math service.
    pub math_url: String,
    pub math_max_delay: Duration,
    /// Fault injection (0 to 100, default 0): the share of the math service's calls it answers
    /// 503, for testing how the workers cope with a flaky or failing external service.
    pub math_fail_percent: u8,
    pub math_timeout: Duration,
    /// Steps waiting on the math service at once (its capacity; also the math prefetch).
    pub math_concurrency: u16,
    /// Whether workers speak HTTP/2 (prior knowledge) to the math service.
    pub math_http2: bool,
    pub math_retry_initial: Duration,
    pub math_attempts: u32,
    /// Messages the db worker holds at once; the job writes among them share transactions.
    pub db_concurrency: u16,
    /// RPCs (writes a caller waits for) the db worker holds at once, from their own queue.
    pub rpc_concurrency: u16,
    pub socket_reverify: Duration,
    pub panel_dir: PathBuf,
    /// RabbitMQ management API, for the System page; optional.
    pub management_url: String,
    /// How long the outbox relay leaves a fresh row to its writer before publishing it itself;
    /// longer than a publish may take (5 s), so a slow broker never gets a row twice.
    pub outbox_grace: Duration,
    /// A job with no step recorded for this long is failed; `None`: derived from the timeouts.
    pub job_stall: Option<Duration>,
    /// Password hashes and verifications at once in the API (argon2id, ~19 MiB each).
    pub password_hash_concurrency: usize,
    /// Users who are admins whatever their stored role (`ADMIN_EMAILS`, comma-separated).
    pub admin_emails: Vec<Email>,
    /// Login and register attempts per minute and e-mail / client address.
    pub attempt_limits: crate::auth::AttemptLimits,
    /// Which browser origins may call the API and the socket gateway.
    pub cors_origins: CorsOrigins,
    /// A fault the math service injects, for tests that need a step to fail and then recover
    /// (`MATH_FAULT`); never set in production.
    pub math_fault: Option<MathFault>,
    /// Where a worker, gateway or math service run on its own serves `/metrics`.
    pub metrics_port: MetricsPort,
}

/// `MATH_FAULT=METHOD:N`: the math service answers 503 to the first `N` calls of each distinct
/// input of `METHOD`, then the right result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MathFault {
    pub method: mom_math::MathMethod,
    pub failures: u32,
}

impl MathFault {
    pub fn parse(raw: &str) -> anyhow::Result<Self> {
        let (method, failures) = raw.split_once(':').with_context(|| {
            format!("invalid MATH_FAULT={raw:?}: expected METHOD:N, e.g. divide:2")
        })?;
        let method = method
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("invalid MATH_FAULT={raw:?}: {e}"))?;
        let failures = failures
            .trim()
            .parse()
            .with_context(|| format!("invalid MATH_FAULT={raw:?}: N must be a whole number"))?;
        Ok(Self { method, failures })
    }
}

/// `METRICS_PORT`: unset (each service's default port), `off`, or a port (0: any free one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MetricsPort {
    #[default]
    ServiceDefault,
    Off,
    Port(u16),
}

/// As `METRICS_PORT` is written, so a child process can be given the same setting.
impl std::fmt::Display for MetricsPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ServiceDefault => Ok(()),
            Self::Off => f.write_str("off"),
            Self::Port(port) => write!(f, "{port}"),
        }
    }
}

impl std::str::FromStr for MetricsPort {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.trim() {
            "" => Ok(Self::ServiceDefault),
            "off" => Ok(Self::Off),
            port => port
                .parse()
                .map(Self::Port)
                .map_err(|_| "expected a port (0-65535) or \"off\"".to_owned()),
        }
    }
}

impl Config {
    /// The seed's JWT secret; accepted for local use, warned about at start.
    pub const DEV_JWT_SECRET: &'static str = "COK_GIZLI_KARSIM";

    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            host: var("HOST", "127.0.0.1")?,
            api_port: var("API_PORT", "7070")?,
            socket_port: var("SOCKET_PORT", "7080")?,
            math_port: var("MATH_PORT", "7090")?,
            panel_port: var("PANEL_PORT", "9090")?,
            amqp_url: var("AMQP_URL", mom_bus::BusConfig::DEFAULT_URI)?,
            database_url: var("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mom")?,
            redis_url: var("REDIS_URL", "redis://127.0.0.1:6379")?,
            queue_prefix: var("QUEUE_PREFIX", "mom.")?,
            redis_prefix: var("REDIS_PREFIX", "mom:")?,
            jwt_secret: var("JWT_SECRET", Self::DEV_JWT_SECRET)?,
            token_ttl: Duration::from_secs(var("TOKEN_TTL_SECONDS", "360")?),
            rpc_timeout: Duration::from_millis(var("RPC_TIMEOUT_MS", "5000")?),
            math_url: var("MATH_URL", "http://127.0.0.1:7090")?,
            math_max_delay: Duration::from_millis(var("MATH_MAX_DELAY_MS", "10000")?),
            math_fail_percent: match var::<u8>("MATH_FAIL_PERCENT", "0")? {
                percent @ 0..=100 => percent,
                other => anyhow::bail!("invalid MATH_FAIL_PERCENT={other}: at most 100"),
            },
            math_timeout: Duration::from_millis(var("MATH_TIMEOUT_MS", "15000")?),
            math_concurrency: var("MATH_CONCURRENCY", "10000")?,
            math_http2: var("MATH_HTTP2", "true")?,
            math_retry_initial: Duration::from_millis(var("MATH_RETRY_INITIAL_MS", "1000")?),
            math_attempts: var("MATH_ATTEMPTS", "5")?,
            db_concurrency: var("DB_CONCURRENCY", "256")?,
            rpc_concurrency: var("RPC_CONCURRENCY", "64")?,
            socket_reverify: Duration::from_secs(var("SOCKET_REVERIFY_SECONDS", "60")?),
            panel_dir: var("PANEL_DIR", "web/dist")?,
            management_url: var(
                "RABBITMQ_MANAGEMENT_URL",
                "http://guest:guest@127.0.0.1:15672",
            )?,
            outbox_grace: Duration::from_millis(var("OUTBOX_GRACE_MS", "10000")?),
            password_hash_concurrency: var("PASSWORD_HASH_CONCURRENCY", "4")?,
            attempt_limits: crate::auth::AttemptLimits {
                per_email: var("AUTH_ATTEMPTS_PER_EMAIL", "10")?,
                per_address: var("AUTH_ATTEMPTS_PER_ADDRESS", "120")?,
            },
            cors_origins: var::<CorsOrigins>("CORS_ORIGINS", "")?,
            metrics_port: var("METRICS_PORT", "")?,
            job_stall: match std::env::var("JOB_STALL_SECONDS") {
                Ok(_) => match var::<u64>("JOB_STALL_SECONDS", "0")? {
                    0 => anyhow::bail!("invalid JOB_STALL_SECONDS=0: it must be at least 1"),
                    secs => Some(Duration::from_secs(secs)),
                },
                Err(_) => None,
            },
            admin_emails: admin_emails(&std::env::var("ADMIN_EMAILS").unwrap_or_default())?,
            math_fault: match std::env::var("MATH_FAULT") {
                Ok(raw) if !raw.trim().is_empty() => Some(MathFault::parse(&raw)?),
                _ => None,
            },
        })
    }

    /// Local defaults, as `from_env` with an empty environment.
    pub fn local() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            api_port: 7070,
            socket_port: 7080,
            math_port: 7090,
            panel_port: 9090,
            amqp_url: mom_bus::BusConfig::DEFAULT_URI.into(),
            database_url: "postgres://postgres@127.0.0.1:5432/mom".into(),
            redis_url: "redis://127.0.0.1:6379".into(),
            queue_prefix: "mom.".into(),
            redis_prefix: "mom:".into(),
            jwt_secret: Self::DEV_JWT_SECRET.into(),
            token_ttl: Duration::from_secs(360),
            rpc_timeout: Duration::from_secs(5),
            math_url: "http://127.0.0.1:7090".into(),
            math_max_delay: Duration::from_secs(10),
            math_fail_percent: 0,
            math_timeout: Duration::from_secs(15),
            math_concurrency: 10000,
            math_http2: true,
            math_retry_initial: Duration::from_secs(1),
            math_attempts: 5,
            db_concurrency: 256,
            rpc_concurrency: 64,
            socket_reverify: Duration::from_secs(60),
            panel_dir: "web/dist".into(),
            management_url: "http://guest:guest@127.0.0.1:15672".into(),
            outbox_grace: Duration::from_secs(10),
            job_stall: None,
            password_hash_concurrency: crate::auth::password::DEFAULT_CONCURRENCY,
            attempt_limits: crate::auth::AttemptLimits {
                per_email: 10,
                per_address: 120,
            },
            cors_origins: CorsOrigins::Panel,
            admin_emails: Vec::new(),
            math_fault: None,
            metrics_port: MetricsPort::ServiceDefault,
        }
    }

    /// The role a user has: their stored one, raised to admin by `ADMIN_EMAILS`.
    pub fn effective_role(&self, stored: Role, email: &str) -> Role {
        if self.admin_emails.iter().any(|e| e.as_str() == email) {
            Role::Admin
        } else {
            stored
        }
    }

    /// How long a job may go without a recorded step before it is failed: `JOB_STALL_SECONDS`,
    /// or the longest a step can legitimately take — every math attempt timing out after the
    /// longest backoff (60 s), then the db worker's retries (8 × 30 s) — plus 5 minutes for
    /// waiting in a queue.
    pub fn job_stall_after(&self) -> Duration {
        self.job_stall.unwrap_or_else(|| {
            let math = (self.math_timeout + Duration::from_secs(60)) * self.math_attempts.max(1);
            math + Duration::from_secs(8 * 30 + 300)
        })
    }

    /// Refuses the development JWT secret (public in the seed) on an address others reach:
    /// anyone could mint tokens.
    pub fn check_secret(&self) -> anyhow::Result<()> {
        if self.jwt_secret == Self::DEV_JWT_SECRET && !self.host.is_loopback() {
            anyhow::bail!(
                "JWT_SECRET is the development default, which anyone can read in the seed; \
                 set your own before binding HOST={}",
                self.host
            );
        }
        Ok(())
    }

    /// Connections are named by service and queue prefix, so an operator (or a test) can tell
    /// the systems sharing a broker apart.
    pub fn bus_config(&self, service: &str) -> mom_bus::BusConfig {
        let name = format!("mom-{service} {}", self.queue_prefix);
        mom_bus::BusConfig::new(&self.amqp_url, name)
    }

    pub fn topology(&self) -> crate::topology::Topology {
        let math_retry = mom_bus::RetryPolicy {
            max_attempts: self.math_attempts.max(1),
            initial_delay: self.math_retry_initial,
            max_delay: Duration::from_secs(60),
        };
        crate::topology::Topology::new(&self.queue_prefix, math_retry)
    }
}

fn var<T: std::str::FromStr>(name: &str, default: &str) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    let raw = std::env::var(name).unwrap_or_else(|_| default.to_owned());
    raw.parse::<T>()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("invalid {name}={raw:?}"))
}

/// `a@x.io, B@y.io` → two lowercased emails; an empty or blank list is none.
fn admin_emails(raw: &str) -> anyhow::Result<Vec<Email>> {
    raw.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            Email::parse(e)
                .map_err(|why| anyhow::anyhow!("invalid ADMIN_EMAILS entry {e:?}: {why}"))
        })
        .collect()
}

/// `url` with its password replaced by `***`, for logs and errors.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme && url[scheme + 3..at].contains(':') => {
            let user = url[scheme + 3..at].split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_emails_are_parsed_lowercased_and_checked() {
        let emails = admin_emails(" Ada@X.io,, bob@y.org ").unwrap();
        let emails: Vec<_> = emails.iter().map(Email::as_str).collect();
        assert_eq!(emails, ["ada@x.io", "bob@y.org"]);
        assert!(admin_emails("").unwrap().is_empty());
        let error = admin_emails("ada@x.io,not-an-email")
            .unwrap_err()
            .to_string();
        assert!(error.contains("not-an-email"), "{error}");
    }

    #[test]
    fn admin_emails_raise_the_stored_role() {
        let mut config = Config::local();
        config.admin_emails = admin_emails("ada@x.io").unwrap();
        assert_eq!(config.effective_role(Role::User, "ada@x.io"), Role::Admin);
        assert_eq!(config.effective_role(Role::User, "bob@x.io"), Role::User);
        assert_eq!(config.effective_role(Role::Admin, "bob@x.io"), Role::Admin);
    }

    #[test]
    fn the_development_secret_is_refused_beyond_loopback() {
        let mut config = Config::local();
        assert!(config.check_secret().is_ok(), "local use is fine");
        config.host = "0.0.0.0".parse().unwrap();
        let error = config.check_secret().unwrap_err().to_string();
        assert!(error.contains("JWT_SECRET"), "{error}");
        config.jwt_secret = "a real secret".into();
        assert!(config.check_secret().is_ok());
    }

    #[test]
    fn math_faults_name_a_method_and_a_count() {
        let fault = MathFault::parse("divide:2").unwrap();
        assert_eq!((fault.method.as_str(), fault.failures), ("divide", 2));
        for bad in ["divide", "pow:2", "divide:-1", "divide:x"] {
            assert!(MathFault::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn metrics_ports_parse_clearly() {
        assert_eq!("".parse(), Ok(MetricsPort::ServiceDefault));
        assert_eq!("off".parse(), Ok(MetricsPort::Off));
        assert_eq!("0".parse(), Ok(MetricsPort::Port(0)));
        assert_eq!("7071".parse(), Ok(MetricsPort::Port(7071)));
        assert!("70710".parse::<MetricsPort>().is_err());
        assert!("on".parse::<MetricsPort>().is_err());
        for port in [
            MetricsPort::ServiceDefault,
            MetricsPort::Off,
            MetricsPort::Port(7071),
        ] {
            assert_eq!(port.to_string().parse(), Ok(port));
        }
    }

    #[test]
    fn passwords_in_urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://mom:s3cret@db:5432/mom"),
            "postgres://mom:***@db:5432/mom"
        );
        assert_eq!(
            redact_url("redis://:s3cret@cache:6379"),
            "redis://:***@cache:6379"
        );
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }
}
