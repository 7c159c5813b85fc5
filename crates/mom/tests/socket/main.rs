//! The socket.io gateway against real RabbitMQ, PostgreSQL and Redis, driven by real
//! socket.io clients (v2 as the seed's panel, v4 as today's).

mod e2e;
#[path = "../common/gated_math.rs"]
mod gated_math;
mod helpers;

use std::time::Duration;

use helpers::{close_connections_named, spawn_app, spawn_app_with};
use mom::auth::Tokens;
use mom::messages::SessionRevoked;
use mom::store;
use mom::topology::event;
use serde_json::{json, Value};

#[tokio::test]
async fn a_v2_client_polls_upgrades_and_receives_its_job_done() {
    let app = spawn_app().await;
    let ada = app.create_user("Ada").await;
    let login = app.login(&ada).await;

    let mut client = app.client(app.url(), "v2", "polling", login).await;
    let authenticated = client.next_event().await;
    assert_eq!(authenticated["event"], "authenticated");
    assert_eq!(authenticated["argc"], 0, "authenticated has no arguments");
    assert_eq!(client.wait_status("open").await["transport"], "polling");
    assert_eq!(
        client.wait_status("upgrade").await["transport"],
        "websocket"
    );

    app.publish(ada.id, event::JOB_DONE, &app.done_job(41, &ada))
        .await;
    let job = client.expect("job:done").await;
    assert_eq!(job["id"], 41);
    assert_eq!(job["owner"]["id"], ada.id);
    assert_eq!(job["results"], json!([3]));

    assert_eq!(client.finish().await, Vec::<Value>::new());
    app.stop().await;
}

/// The count of `mom_event_delivery_seconds` for `kind` in this process's registry.
fn deliveries_timed(kind: &str) -> f64 {
    let series = format!("mom_event_delivery_seconds_count{{kind=\"{kind}\"}} ");
    mom::meters::render()
        .lines()
        .find_map(|line| line.strip_prefix(&series)?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_v4_client_receives_its_job_events_and_final_ones_are_marked_notified() {
    mom::meters::install();
    let timed_before = deliveries_timed(event::JOB_DONE);
    let app = spawn_app().await;
    let ada = app.create_user("Ada").await;
    let mut client = app.authenticated(&app.login(&ada).await).await;

    let mut progress = app.done_job(7, &ada);
    progress.done = false;
    progress.results = None;
    app.publish(ada.id, event::JOB_PROGRESS, &progress).await;
    let sent = app.done_job(7, &ada);
    app.publish(ada.id, event::JOB_DONE, &sent).await;
    let mut failed = app.done_job(8, &ada);
    failed.error = Some("division by zero".into());
    app.publish(ada.id, event::JOB_FAILED, &failed).await;

    let progress = client.expect("job:progress").await;
    assert_eq!(progress["done"], false);
    let done = client.expect("job:done").await;
    assert_eq!(done, serde_json::to_value(&sent).unwrap(), "the body as is");
    let failed = client.expect("job:failed").await;
    assert_eq!(failed["error"], "division by zero");

    // Publish → emit is timed per event kind, just after the emit (other tests share the
    // registry: at least one more).
    let deadline = tokio::time::Instant::now() + helpers::PATIENCE;
    while deliveries_timed(event::JOB_DONE) < timed_before + 1.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "job:done never timed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let buckets = mom::meters::render();
    assert!(
        buckets.contains("mom_event_delivery_seconds_bucket{kind=\"job:done\",le=\"0.001\"}"),
        "millisecond buckets: the envelope carries the publish time to the millisecond"
    );

    // Final events only: a progress event is not a notification.
    let mut notified = app.notified_jobs(&[7, 8]).await;
    notified.sort_unstable();
    assert_eq!(notified, [7, 8]);

    assert_eq!(client.finish().await, Vec::<Value>::new());
    app.stop().await;
}

#[tokio::test]
async fn a_token_that_does_not_verify_is_a_wrong_token() {
    let app = spawn_app().await;
    let ada = app.create_user("Ada").await;
    let mut forged = app
        .login_with(
            &ada,
            &Tokens::new("not the secret", Duration::from_secs(60)),
            chrono::Utc::now().timestamp_millis(),
        )
        .await
        .0;
    let mut client = app
        .client(app.url(), "v4", "websocket", forged.clone())
        .await;
    assert_eq!(client.expect("auth-error").await, "wrong-token");

    forged["accessToken"] = json!("garbage.token.here");
    client.emit("authenticate", Some(forged), false).await;
    assert_eq!(client.expect("auth-error").await, "wrong-token");

    assert_eq!(client.finish().await, Vec::<Value>::new());
    app.stop().await;
}

#[tokio::test]
async fn an_expired_token_is_token_expired() {
    let app = spawn_app().await;
    let ada = app.create_user("Ada").await;
    let an_hour_ago = chrono::Utc::now().timestamp_millis() - 3_600_000;
    let (login, _) = app.login_with(&ada, &app.tokens, an_hour_ago).await;

    let mut client = app.client(app.url(), "v2", "websocket", login).await;
    assert_eq!(client.expect("auth-error").await, "token-expired");

    assert_eq!(client.finish().await, Vec::<Value>::new());
    app.stop().await;
}

#[tokio::test]
async fn a_token_of_another_user_is_not_token_of_user() {
    let app = spawn_app().await;
    let ada = app.create_user("Ada").await;
    let bob = app.create_user("Bob").await;
    let login = app.login(&ada).await;

    let mut client = app.client(app.url(), "v4", "websocket", json!({})).await;
    assert_eq!(client.expect("auth-error").await, "wrong-token");
    let mismatches = [
        json!(bob.id),
        json!(ada.id.to_string()), // strict comparison: "1" is not 1
        Value::Null,
    ];
    for id in mismatches {
        let mut payload = login.clone();
        payload["id"] = id;
        client.emit("authenticate", Some(payload), false).await;
        assert_eq!(client.expect("auth-error").await, "not-token-of-user");
    }
    let mut without_id = login.clone();
    without_id.as_object_mut().unwrap().remove("id");
    client.emit("authenticate", Some(without_id), false).await;
    assert_eq!(client.expect("auth-error").await, "not-token-of-user");

    assert_eq!(client.finish().await, Vec::<Value>::new());
    app.stop().await;
}

#[tokio::test]
async fn a_closed_session_is_an_old_token() {
    let app = spawn_app().await;
    let ada = app.create_user("Ada").await;
    let (login, sid) = app
        .login_with(&ada, &app.tokens, chrono::Utc::now().timestamp_millis())
        .await;
    assert!(app.sessions.close(&sid).await.unwrap());

    let mut client = app.client(app.url(), "v2", "polling", login).await;
    assert_eq!(client.expect("auth-error").await, "old-token");

    assert_eq!(client.finish().await, Vec::<Value>::new());
    app.stop().await;
}

#[tokio::test]
async fn malformed_authenticate_payloads_are_wrong_tokens() {
    let app = spawn_app().await;
    let ada = app.create_user("Ada").await;
    let login = app.login(&ada).await;
    let mut huge = login.clone();
    huge["accessToken"] = json!("x".repeat(60_000));
    let nested = (0..200).fold(json!(1), |inner, _| json!([inner]));
    let payloads = [
        json!("a string"),
        json!([login.clone()]),
        json!(42),
        json!(true),
        json!({"id": ada.id}),
        json!({"id": ada.id, "accessToken": {"nested": "object"}}),
        huge,
        nested,
    ];

    for version in ["v2", "v4"] {
        // `null` first, as the seed's clients could send it; the server used to fall silent.
        let mut client = app
            .client(app.url(), version, "websocket", Value::Null)
            .await;
        assert_eq!(client.expect("auth-error").await, "wrong-token");
        client.emit("authenticate", None, false).await; // no argument at all
        assert_eq!(client.expect("auth-error").await, "wrong-token");
        for payload in &payloads {
            client
                .emit("authenticate", Some(payload.clone()), false)
                .await;
            assert_eq!(
                client.expect("auth-error").await,
                "wrong-token",
                "{version} {payload:.60}"
            );
        }
        // Still a working socket afterwards.
        client
            .emit("authenticate", Some(login.clone()), false)
            .await;
        client.expect("authenticated").await;
        assert_eq!(client.finish().await, Vec::<Value>::new());
    }
    app.stop().await;
}

#[tokio::test]
async fn a_revoked_session_stops_its_sockets_and_only_those() {
    let app = spawn_app().await;
    let ada = app.create_user("Ada").await;
    let (phone_login, phone_sid) = app
        .login_with(&ada, &app.tokens, chrono::Utc::now().timestamp_millis())
        .await;
    let laptop_login = app.login(&ada).await;
    let mut phone = app.authenticated(&phone_login).await;
    let mut laptop = app.authenticated(&laptop_login).await;

    app.publish(
        ada.id,
        event::SESSION_REVOKED,
        &SessionRevoked {
            user_id: ada.id,
            sid: phone_sid,
        },
    )
    .await;
    assert_eq!(phone.expect("auth-error").await, "old-token");

    app.publish(ada.id, event::JOB_DONE, &app.done_job(3, &ada))
        .await;
    assert_eq!(laptop.expect("job:done").await["id"], 3);
    assert_eq!(
        phone.finish().await,
        Vec::<Value>::new(),
        "nothing after old-token"
    );
    assert_eq!(laptop.finish().await, Vec::<Value>::new());
    app.stop().await;
}

#[tokio::test]
async fn another_users_events_never_arrive() {
    let app = spawn_app().await;
    let ada = app.create_user("Ada").await;
    let bob = app.create_user("Bob").await;
    let mut ada_socket = app.authenticated(&app.login(&ada).await).await;
    let mut bob_socket = app.authenticated(&app.login(&bob).await).await;

    // Bob's first: one node, one queue, so Ada's event arrives after Bob's would have.
    app.publish(bob.id, event::JOB_DONE, &app.done_job(2, &bob))
        .await;
    app.publish(ada.id, event::JOB_DONE, &app.done_job(1, &ada))
        .await;
    assert_eq!(ada_socket.expect("job:done").await["id"], 1);
    assert_eq!(bob_socket.expect("job:done").await["id"], 2);

    assert_eq!(ada_socket.finish().await, Vec::<Value>::new());
    assert_eq!(bob_socket.finish().await, Vec::<Value>::new());
    app.stop().await;
}

#[tokio::test]
async fn two_nodes_each_deliver_the_events_of_their_own_users() {
    let mut app = spawn_app().await;
    let second = app.start_node().await;
    let ada = app.create_user("Ada").await;
    let bob = app.create_user("Bob").await;
    let mut ada_socket = app
        .client(app.url(), "v4", "websocket", app.login(&ada).await)
        .await;
    ada_socket.expect("authenticated").await;
    let mut bob_socket = app
        .client(&second, "v2", "polling", app.login(&bob).await)
        .await;
    bob_socket.expect("authenticated").await;

    // Were the nodes sharing one queue (as the seed's did), about half of these would reach
    // the node without the user's socket and be lost.
    let jobs = 10..16;
    for job in jobs.clone() {
        app.publish(ada.id, event::JOB_DONE, &app.done_job(job, &ada))
            .await;
        app.publish(bob.id, event::JOB_DONE, &app.done_job(job + 10, &bob))
            .await;
    }
    for job in jobs {
        assert_eq!(ada_socket.expect("job:done").await["id"], job);
        assert_eq!(bob_socket.expect("job:done").await["id"], job + 10);
    }

    assert_eq!(ada_socket.finish().await, Vec::<Value>::new());
    assert_eq!(bob_socket.finish().await, Vec::<Value>::new());
    app.stop().await;
}

#[tokio::test]
async fn missed_job_events_follow_authenticated_and_are_marked_notified() {
    let app = spawn_app().await;
    let ada = app.create_user("Ada").await;
    let done = finished_job(&app.pool, ada.id, Ok(json!(12))).await;
    let failed = finished_job(&app.pool, ada.id, Err("the math service is down")).await;
    let _running = insert_job(&app.pool, ada.id).await;

    let mut client = app
        .client(app.url(), "v2", "polling", app.login(&ada).await)
        .await;
    client.expect("authenticated").await;
    let job = client.expect("job:done").await;
    assert_eq!(job["id"], done);
    assert_eq!(job["done"], true);
    assert_eq!(job["results"], json!([12]));
    assert_eq!(job["details"][0]["result"], 12);
    assert_eq!(job["owner"]["id"], ada.id);
    let job = client.expect("job:failed").await;
    assert_eq!(job["id"], failed);
    assert_eq!(job["error"], "the math service is down");
    assert_eq!(job["owner"]["id"], ada.id);

    let notified = app.notified_jobs(&[done, failed]).await;
    assert_eq!(notified.len(), 2, "{notified:?}");
    assert_eq!(client.finish().await, Vec::<Value>::new());
    app.stop().await;
}

/// Events published while a node's event queue is being rebuilt go nowhere. Once it is back,
/// its sockets are told to resync and get the final state of each job that ended meanwhile —
/// even one already marked notified because a socket on another node received it.
#[tokio::test]
async fn a_node_whose_subscription_was_rebuilt_resyncs_its_sockets_and_sends_what_ended() {
    let app = spawn_app().await;
    let ada = app.create_user("Ada").await;
    let mut client = app.authenticated(&app.login(&ada).await).await;
    let ended = finished_job(&app.pool, ada.id, Ok(json!(12))).await;
    sqlx::query("UPDATE jobs SET notified = true WHERE id = $1")
        .bind(ended)
        .execute(&app.pool)
        .await
        .unwrap();

    let gateway = app.config.bus_config("socket").connection_name;
    assert_eq!(
        close_connections_named(&gateway),
        1,
        "the gateway's connection"
    );
    client.expect("resync").await;
    let job = client.expect("job:done").await;
    assert_eq!(job["id"], ended);
    assert_eq!(job["results"], json!([12]));
    assert_eq!(job["owner"]["id"], ada.id);

    // Live delivery goes on through the new queue.
    app.publish(ada.id, "job:done", &app.done_job(ended + 1, &ada))
        .await;
    assert_eq!(client.expect("job:done").await["id"], ended + 1);
    client.finish().await;
    app.stop().await;
}

#[tokio::test]
async fn deauthenticate_is_acked_and_stops_that_socket_only() {
    let app = spawn_app().await;
    let ada = app.create_user("Ada").await;
    let login = app.login(&ada).await;
    let mut first = app.authenticated(&login).await;
    let mut second = app.client(app.url(), "v2", "polling", login.clone()).await;
    second.expect("authenticated").await;

    first.emit("deauthenticate", None, true).await;
    let mut answers = [first.next_event().await, first.next_event().await];
    answers.sort_by_key(|e| e["event"].as_str().unwrap_or_default().to_owned());
    assert_eq!(answers[0]["event"], "ack:deauthenticate");
    assert_eq!(answers[1]["event"], "deauthenticated");

    // The other socket keeps the user's binding on this node.
    app.publish(ada.id, event::JOB_DONE, &app.done_job(5, &ada))
        .await;
    assert_eq!(second.expect("job:done").await["id"], 5);
    assert_eq!(first.finish().await, Vec::<Value>::new());

    // The last socket gone, the node is unbound; authenticating again binds it again.
    second.emit("deauthenticate", None, false).await;
    second.expect("deauthenticated").await;
    second.emit("authenticate", Some(login), false).await;
    second.expect("authenticated").await;
    app.publish(ada.id, event::JOB_DONE, &app.done_job(6, &ada))
        .await;
    assert_eq!(second.expect("job:done").await["id"], 6);
    assert_eq!(second.finish().await, Vec::<Value>::new());
    app.stop().await;
}

#[tokio::test]
async fn the_periodic_recheck_catches_a_session_closed_without_an_event() {
    let app = spawn_app_with(|config| config.socket_reverify = Duration::from_millis(200)).await;
    let ada = app.create_user("Ada").await;
    let (login, sid) = app
        .login_with(&ada, &app.tokens, chrono::Utc::now().timestamp_millis())
        .await;
    let mut client = app.authenticated(&login).await;

    assert!(app.sessions.close(&sid).await.unwrap());
    assert_eq!(client.expect("auth-error").await, "old-token");
    app.publish(ada.id, event::JOB_DONE, &app.done_job(9, &ada))
        .await;

    assert_eq!(client.finish().await, Vec::<Value>::new());
    app.stop().await;
}

#[tokio::test]
async fn a_token_that_expires_while_connected_gets_token_expired_instead_of_events() {
    let app = spawn_app().await;
    let ada = app.create_user("Ada").await;
    let short = Tokens::new(&app.config.jwt_secret, Duration::from_secs(2));
    let (login, _) = app
        .login_with(&ada, &short, chrono::Utc::now().timestamp_millis())
        .await;
    let expires_ms = login["exp"].as_i64().unwrap();
    let mut client = app.authenticated(&login).await;

    // `exp` is in whole seconds; wait until it has passed.
    let left = expires_ms + 1_100 - chrono::Utc::now().timestamp_millis();
    tokio::time::sleep(Duration::from_millis(left.max(0) as u64)).await;
    app.publish(ada.id, event::JOB_DONE, &app.done_job(4, &ada))
        .await;
    assert_eq!(client.expect("auth-error").await, "token-expired");

    assert_eq!(client.finish().await, Vec::<Value>::new());
    app.stop().await;
}

#[tokio::test]
async fn shutdown_disconnects_live_sockets_promptly() {
    let mut app = spawn_app().await;
    let ada = app.create_user("Ada").await;
    let mut polling = app
        .client(app.url(), "v2", "polling", app.login(&ada).await)
        .await;
    polling.expect("authenticated").await;
    let mut websocket = app.authenticated(&app.login(&ada).await).await;

    let started = std::time::Instant::now();
    app.stop_nodes().await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    for client in [&mut polling, &mut websocket] {
        client.wait_status("disconnect").await;
    }
    app.stop().await;
}

/// A job row that is still running.
async fn insert_job(pool: &sqlx::PgPool, owner: i32) -> i32 {
    let mut tx = pool.begin().await.unwrap();
    let details = json!([{"method": "add", "numbers": "5,7"}]);
    let request_id = uuid::Uuid::new_v4().to_string();
    let (job, _) = store::jobs::insert(&mut tx, owner, &details, 1, &request_id)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    job.view.id
}

#[tokio::test]
async fn big_integer_results_reach_sockets_as_exact_decimal_strings() {
    let app = spawn_app().await;
    let ada = app.create_user("Ada").await;
    // As the math service answers now, and as a row written before results were lossless.
    let current = finished_job(&app.pool, ada.id, Ok(json!("18446744069414584320"))).await;
    let older = finished_job(&app.pool, ada.id, Ok(json!(18446744073709551557u64))).await;

    let mut client = app
        .client(app.url(), "v4", "websocket", app.login(&ada).await)
        .await;
    client.expect("authenticated").await;
    for (id, digits) in [
        (current, "18446744069414584320"),
        (older, "18446744073709551557"),
    ] {
        let job = client.expect("job:done").await;
        assert_eq!(job["id"], id);
        assert_eq!(job["details"][0]["result"], digits, "{job}");
        assert_eq!(job["results"], json!([digits]), "{job}");
    }
    assert_eq!(client.finish().await, Vec::<Value>::new());
    app.stop().await;
}

/// A job that ended with `outcome` (the step's result, or the failure reason) while its
/// owner had no socket.
async fn finished_job(pool: &sqlx::PgPool, owner: i32, outcome: Result<Value, &str>) -> i32 {
    let id = insert_job(pool, owner).await;
    let mut tx = pool.begin().await.unwrap();
    let ended = match outcome {
        Ok(result) => store::jobs::record_step(&mut tx, id, 0, &result).await,
        Err(reason) => store::jobs::fail(&mut tx, id, reason).await,
    };
    assert!(ended.unwrap().is_some());
    tx.commit().await.unwrap();
    id
}

#[tokio::test]
async fn browsers_on_other_origins_may_poll_with_credentials() {
    let app = spawn_app().await;
    // socket.io v2 clients poll with credentials by default, where `*` would be refused.
    let response = reqwest::Client::new()
        .get(format!("{}/socket.io/?EIO=3&transport=polling", app.url()))
        .header("Origin", "http://panel.example:9090")
        .send()
        .await
        .expect("polling handshake");
    assert!(response.status().is_success(), "{}", response.status());
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(
        header("access-control-allow-origin").as_deref(),
        Some("http://panel.example:9090")
    );
    assert_eq!(
        header("access-control-allow-credentials").as_deref(),
        Some("true")
    );
    app.stop().await;
}
