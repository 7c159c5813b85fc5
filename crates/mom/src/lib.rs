//! mom: a message-oriented backend. Every service is a module here and a subcommand of the
//! `mom` binary; `mom up` runs them all in one process on the same code paths.
//!
//! - [`config`]: the environment, read once into one typed struct.
//! - [`cors`]: which browser origins may call the API and the gateway.
//! - [`topology`]: queue, exchange, routing-key and event names.
//! - [`domain`]: validated types (emails, passwords, job requests) and the contract's JSON shapes.
//! - [`messages`]: what travels on the bus between services.
//! - [`store`]: PostgreSQL tables and migrations.
//! - [`auth`]: tokens, sessions and password hashing.
//! - [`api`], [`worker`], [`socket`], [`math`], [`panel`]: the services.
//! - [`roles`]: `mom admin grant|revoke`, the operator's side of roles.
//! - [`meters`]: the process's Prometheus recorder; `GET /metrics` renders it.
//! - [`wiring`]: how every service connects to the broker, PostgreSQL and Redis.
//! - [`interactive`]: the runtime the API and RPCs run on, apart from step traffic.
//! - [`app`]: starting services, alone or together, with graceful shutdown.

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod cors;
pub mod domain;
pub mod interactive;
pub mod math;
pub mod messages;
pub mod meters;
pub mod panel;
pub mod roles;
pub mod socket;
pub mod store;
pub mod telemetry;
pub mod topology;
pub mod wiring;
pub mod worker;
