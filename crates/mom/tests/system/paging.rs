//! `GET /job/my` past the seed's 500: cursor paging, the `Link` header, the status filter.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn my_jobs_page_through_more_than_a_thousand_without_gaps_or_strangers() {
    let app = spawn_app().await;
    let login = app.new_user().await;
    let token = login["accessToken"].as_str().unwrap();
    let owner = login["id"].as_i64().unwrap();
    let stranger = app.new_user().await["id"].as_i64().unwrap();
    app.insert_jobs(owner, 700, SeededJob::default()).await;
    app.insert_jobs(stranger, 30, SeededJob::default()).await;
    let failed = SeededJob {
        status: "failed",
        error: Some("math service timed out"),
        ..SeededJob::default()
    };
    app.insert_jobs(owner, 503, failed).await;

    // The seed's default: an array of the newest 500, and now a way on.
    let first = app.get("/job/my", Some(token)).await;
    assert_eq!(first.status(), StatusCode::OK);
    let link = next_link(&first).expect("a next page");
    let first: Vec<Value> = first.json().await.unwrap();
    assert_eq!(first.len(), 500);
    assert!(link.starts_with("/job/my?before="), "{link}");

    let (all, pages) = app.get_all_pages("/job/my?limit=300", token).await;
    // 1,233 if the stranger's jobs, inserted in between, leaked in.
    assert_eq!(all.len(), 1203);
    assert_eq!(pages, 5);
    let ids: Vec<i64> = all.iter().map(|j| j["id"].as_i64().unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "newest first, no repeats"
    );
    assert_eq!(
        ids[..500],
        first
            .iter()
            .map(|j| j["id"].as_i64().unwrap())
            .collect::<Vec<_>>()[..]
    );
    let (failed, _) = app
        .get_all_pages("/job/my?status=failed&limit=200", token)
        .await;
    assert_eq!(failed.len(), 503);
    assert!(failed
        .iter()
        .all(|j| j["status"] == "failed" && j["error"] == "math service timed out"));
    let below = ids[10];
    let older: Vec<Value> = app
        .get(&format!("/job/my?before={below}&limit=3"), Some(token))
        .await
        .json()
        .await
        .unwrap();
    let older: Vec<i64> = older.iter().map(|j| j["id"].as_i64().unwrap()).collect();
    assert_eq!(older, ids[11..14]);

    let last = app.get("/job/my?limit=500&before=1", Some(token)).await;
    assert_eq!(last.status(), StatusCode::OK);
    assert!(next_link(&last).is_none());
    assert_eq!(
        last.json::<Vec<Value>>().await.unwrap(),
        Vec::<Value>::new()
    );
}

#[tokio::test]
async fn bad_paging_parameters_are_400s_naming_the_parameter() {
    let app = spawn_app().await;
    let token = app.new_user().await["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    for (query, expected) in [
        ("limit=0", vec!["limit"]),
        ("limit=501", vec!["limit"]),
        ("limit=ten", vec!["limit"]),
        ("before=-3", vec!["before"]),
        ("before=99999999999", vec!["before"]),
        ("status=lost", vec!["status"]),
        ("status=done&status=failed", vec!["status"]),
        ("sort=id&limit=1", vec!["sort"]),
        ("limit=0&status=x", vec!["limit", "status"]),
    ] {
        let response = app.get(&format!("/job/my?{query}"), Some(&token)).await;
        assert_eq!(invalid_properties(response).await, expected, "for {query}");
    }
    let anonymous = app.get("/job/my?limit=1", None).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}
