//! Roles: who may see the machinery, and how an operator grants and revokes it.

use clap::Parser as _;
use mom::domain::{Email, Role};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn the_machinery_is_for_admins_and_a_revoke_takes_effect_at_once() {
    let app = spawn_app().await;
    let login = app.new_user().await;
    let token = login["accessToken"].as_str().unwrap();
    let email = login["email"].as_str().unwrap();
    assert_eq!(login["role"], "user");

    let anonymous = app.get("/system/queues", None).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let refused = app.get("/system/queues", Some(token)).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["statusCode"], 403);
    assert!(
        body["message"].as_str().unwrap().contains("admin role"),
        "{body}"
    );

    mom::roles::set(&app.config, email, Role::Admin)
        .await
        .unwrap();
    // The same token: the role is read per request, not baked into it.
    let allowed = app.get("/system/queues", Some(token)).await;
    assert_eq!(allowed.status(), StatusCode::OK);
    let login: Value = app
        .post_login(email, "s3cret-pw")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(login["role"], "admin");

    mom::roles::set(&app.config, email, Role::User)
        .await
        .unwrap();
    let revoked = app.get("/system/queues", Some(token)).await;
    assert_eq!(revoked.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn admin_emails_make_admins_without_a_grant() {
    let email = format!("boss-{}@example.com", unique_id());
    let app = spawn_app_with(|config| {
        config.admin_emails = vec![Email::parse(&email).unwrap()];
    })
    .await;
    let login = app.register_and_login(&email).await;
    assert_eq!(login["role"], "admin");
    let token = login["accessToken"].as_str().unwrap();
    let allowed = app.get("/system/queues", Some(token)).await;
    assert_eq!(allowed.status(), StatusCode::OK);

    // Revoking the stored role cannot beat the setting, and the operator is told so.
    let error = mom::roles::set(&app.config, &email, Role::User)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("ADMIN_EMAILS"), "{error}");
}

/// `mom admin ARGS…` as the binary parses and runs it, on this test's database. (The binary
/// itself lives in a target directory other worktrees build into, so it is not run here.)
async fn mom_admin(app: &TestApp, args: &[&str]) -> anyhow::Result<()> {
    let argv = ["mom", "admin"].iter().chain(args);
    let cli = mom::cli::Cli::try_parse_from(argv)?;
    mom::cli::run_with(cli, app.config.clone()).await
}

#[tokio::test]
async fn mom_admin_grants_revokes_and_fails_clearly_on_unknown_emails() {
    let app = spawn_app().await;
    let login = app.new_user().await;
    let email = login["email"].as_str().unwrap();
    let token = login["accessToken"].as_str().unwrap();

    mom_admin(&app, &["grant", email]).await.unwrap();
    assert_eq!(
        app.get("/system/queues", Some(token)).await.status(),
        StatusCode::OK
    );

    mom_admin(&app, &["revoke", &email.to_uppercase()])
        .await
        .unwrap();
    assert_eq!(
        app.get("/system/queues", Some(token)).await.status(),
        StatusCode::FORBIDDEN
    );

    let unknown = mom_admin(&app, &["grant", "nobody@example.com"])
        .await
        .unwrap_err();
    assert!(
        unknown
            .to_string()
            .contains("no user has the email nobody@example.com"),
        "{unknown}"
    );
    let invalid = mom_admin(&app, &["grant", "not-an-email"])
        .await
        .unwrap_err();
    assert!(
        invalid.to_string().contains("not an email address"),
        "{invalid}"
    );
    assert!(
        mom_admin(&app, &["promote", email]).await.is_err(),
        "unknown action"
    );
}

/// An admin's token and the ids and emails of two users with seeded jobs.
async fn search_fixture(app: &TestApp) -> (String, Value, Value) {
    let admin = app.new_user().await;
    mom::roles::set(&app.config, admin["email"].as_str().unwrap(), Role::Admin)
        .await
        .unwrap();
    let (ada, bob) = (app.new_user().await, app.new_user().await);
    let id = |user: &Value| user["id"].as_i64().unwrap();
    app.insert_jobs(
        id(&ada),
        20,
        SeededJob {
            hours_ago: 48,
            ..SeededJob::default()
        },
    )
    .await;
    let timed_out = SeededJob {
        status: "failed",
        method: "factors",
        error: Some("The math service timed out after 15000 ms"),
        hours_ago: 2,
    };
    app.insert_jobs(id(&bob), 7, timed_out).await;
    let odd = SeededJob {
        status: "failed",
        method: "divide",
        error: Some("100%_sure \\ it broke"),
        hours_ago: 1,
    };
    app.insert_jobs(id(&ada), 2, odd).await;
    let admin_token = admin["accessToken"].as_str().unwrap().to_owned();
    (admin_token, ada, bob)
}

async fn search(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    app.get_all_pages(&format!("/admin/jobs?{query}"), token)
        .await
        .0
}

#[tokio::test]
async fn admins_search_every_users_jobs_by_each_filter() {
    let app = spawn_app().await;
    let (token, ada, bob) = search_fixture(&app).await;

    let all = search(&app, &token, "limit=4").await;
    assert_eq!(all.len(), 29);
    assert!(all.iter().all(|j| j["owner"]["email"].is_string()));

    let bobs = search(
        &app,
        &token,
        &format!("owner={}", bob["email"].as_str().unwrap().to_uppercase()),
    )
    .await;
    assert_eq!(bobs.len(), 7);
    assert!(bobs.iter().all(|j| j["owner"]["id"] == bob["id"]));

    let factors = search(&app, &token, "method=factors&status=failed").await;
    assert_eq!(factors.len(), 7);
    assert!(factors
        .iter()
        .all(|j| j["details"][0]["method"] == "factors"));

    let timed_out = search(&app, &token, "error=TIMED%20OUT").await;
    assert_eq!(timed_out.len(), 7, "case-insensitive substring");
    let literal = search(&app, &token, "error=0%25_sure%20%5C").await;
    assert_eq!(literal.len(), 2, "% _ and \\ are literal");
    assert!(literal.iter().all(|j| j["owner"]["id"] == ada["id"]));
    let none = search(&app, &token, "error=%25").await;
    assert_eq!(none.len(), 2, "only the reason containing a literal %");

    let day_ago = (chrono::Utc::now() - chrono::Duration::hours(24)).to_rfc3339();
    let hour_and_half_ago = (chrono::Utc::now() - chrono::Duration::minutes(90)).to_rfc3339();
    let recent = search(
        &app,
        &token,
        &format!("createdFrom={}", urlencode(&day_ago)),
    )
    .await;
    assert_eq!(recent.len(), 9);
    let window = format!(
        "createdFrom={}&createdTo={}",
        urlencode(&day_ago),
        urlencode(&hour_and_half_ago)
    );
    assert_eq!(search(&app, &token, &window).await.len(), 7);
    assert_eq!(search(&app, &token, "status=running").await.len(), 0);
}

fn urlencode(raw: &str) -> String {
    raw.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn admin_job_search_refuses_users_and_bad_filters_clearly() {
    let app = spawn_app().await;
    let (token, ada, _) = search_fixture(&app).await;
    let user_token = ada["accessToken"].as_str().unwrap();
    assert_eq!(
        app.get("/admin/jobs", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/admin/jobs", Some(user_token)).await.status(),
        StatusCode::FORBIDDEN
    );
    for (query, expected) in [
        ("method=pow", vec!["method"]),
        ("owner=nobody", vec!["owner"]),
        (
            "createdFrom=yesterday&createdTo=2026-13-01T00:00:00Z",
            vec!["createdFrom", "createdTo"],
        ),
        ("error=", vec!["error"]),
        ("status=lost&limit=0", vec!["limit", "status"]),
        ("user=ada", vec!["user"]),
    ] {
        let response = app.get(&format!("/admin/jobs?{query}"), Some(&token)).await;
        assert_eq!(invalid_properties(response).await, expected, "for {query}");
    }
}
