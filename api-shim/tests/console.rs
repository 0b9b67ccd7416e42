//! The admin console at /console against the real `speechbatch` binary (embedded backend, real
//! engine, real jobs): in headless Chromium, an operator signs in, sees the table match
//! `GET /v1/batches` and a running job's progress move without a reload, filters and searches,
//! cancels and deletes a job from its page with a confirmation, reads a finished job's analytics
//! summary and the Documentation tab; axe-core finds no serious accessibility violation at
//! 1280×800 or on a narrow screen. Without a browser: strangers see no job, actions need the
//! session's CSRF token and this origin, every response carries the security headers, and no
//! credential is ever in an answer.

mod common;

use std::time::Duration;

use common::browser::Browser;
use common::*;
use fantoccini::Locator;
use reqwest::header::{HeaderMap, SET_COOKIE};
use serde_json::{json, Value};

const TIMEOUT: Duration = Duration::from_secs(600);

/// A job's row cell in the console's table, as a script expression.
fn cell(id: &str, col: &str) -> String {
    format!("document.querySelector('tr[data-batch-id=\"{id}\"] [data-col=\"{col}\"]')")
}

/// The table's rows as `[id, status, progress, total, completed, failed]`.
const ROWS_JS: &str = "return [...document.querySelectorAll('#jobs-body tr')].map(r => \
    ['id','status','progress','total','completed','failed'].map(c => \
    r.querySelector('[data-col=\"' + c + '\"]').textContent.trim()))";

/// `GET /v1/batches` as the table would show it.
fn api_rows(jobs: &[Value]) -> Vec<Vec<String>> {
    jobs.iter()
        .map(|j| {
            let status = j["status"].as_str().unwrap();
            vec![
                j["batch_id"].as_str().unwrap().to_string(),
                format!("{}{}", status[..1].to_uppercase(), &status[1..]),
                ((j["progress"].as_f64().unwrap() * 100.0).floor() as u64).to_string(),
                j["total_count"].to_string(),
                j["successful_count"].to_string(),
                j["failed_count"].to_string(),
            ]
        })
        .collect()
}

/// Waits until the table shows what `GET /v1/batches` answers (both are read again each time:
/// a running job's counts move between the two reads).
async fn table_matches_api(svc: &Service, browser: &Browser) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let api = api_rows(&svc.list().await);
        let shown: Vec<Vec<String>> =
            serde_json::from_value(browser.js(ROWS_JS, vec![]).await).unwrap();
        if api == shown {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the table never matched GET /v1/batches:\napi:   {api:?}\ntable: {shown:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_watches_cancels_and_deletes_real_jobs_in_the_console() {
    let svc = Service::start(Opts {
        workers: 1,
        max_running_jobs: 1,
        ..Default::default()
    })
    .await;
    let s3 = svc.embedded_s3();
    // Job A: calls (three copies of each) and clips with speech analytics, one file at a time,
    // so its progress moves in visible steps and it runs long enough for what the operator
    // does meanwhile. Job B waits behind it (one job runs at a time).
    let mut calls: Vec<(String, Vec<u8>)> = Vec::new();
    for c in ["dev_call01", "dev_call02", "dev_call05"] {
        for copy in 1..=3 {
            calls.push((
                format!("{c}-{copy}.flac"),
                read_testdata(&format!("analytics/{c}.flac")),
            ));
        }
    }
    for n in 1..=8 {
        calls.push((
            format!("clip0{n}.flac"),
            read_testdata(&format!("asr/clip0{n}.flac")),
        ));
    }
    s3.fill("calls", calls).await;
    s3.fill(
        "clips",
        vec![("clip04.flac".into(), read_testdata("asr/clip04.flac"))],
    )
    .await;
    let a = svc
        .create_id(
            "function=recognize&speech_analytics=true",
            form(&s3.creds_file(), "calls", None),
        )
        .await;
    // B is created once A holds the one run slot (a job still scanning holds none).
    svc.wait_for(&a, TIMEOUT, |j| j["status"] == "running")
        .await;
    let b = svc
        .create_id(
            "function=recognize&model=en-US_NarrowbandModel&word_confidence=true",
            form(&s3.creds_file(), "clips", None),
        )
        .await;

    // Job C fails at once: its bucket does not exist. A custom model waits to be trained.
    let failed = svc
        .create_id(
            "function=recognize",
            form(&s3.creds_file(), "no-such-bucket", None),
        )
        .await;
    let (failed_job, _) = svc.wait_final(&failed, TIMEOUT).await;
    assert_eq!(failed_job["status"], "failed", "{failed_job}");
    let model: Value = svc
        .authed(svc.http.post(svc.url("/v1/customizations")))
        .json(&json!({"name": "Product names", "base_model_name": "en-US_BroadbandModel"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let model = model["customization_id"].as_str().unwrap().to_string();

    let browser = Browser::start(1280, 800).await;
    let c = &browser.client;

    // A stranger gets the sign-in form; the page holds no job, and its data routes refuse.
    c.goto(&svc.url("/console")).await.unwrap();
    browser
        .until(
            "the sign-in form",
            "return document.getElementById('login-form') !== null",
        )
        .await;
    assert_eq!(
        c.current_url().await.unwrap().path(),
        "/console/",
        "/console redirects to the page"
    );
    let html = browser
        .js("return document.documentElement.outerHTML", vec![])
        .await;
    let html = html.as_str().unwrap();
    assert!(
        !html.contains(&a) && !html.contains(&b),
        "no job id before sign-in"
    );
    let status = c
        .execute_async(
            "const done = arguments[0]; fetch('/console/api/overview').then(r => done(r.status))",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(status, 401, "the page's own fetch without a session");
    let violations = browser.serious_accessibility_violations().await;
    assert!(violations.is_empty(), "sign-in page: {violations:#?}");

    // A wrong key is refused on the form; the right one signs in.
    let key = c.find(Locator::Id("api-key")).await.unwrap();
    key.send_keys("not-the-key").await.unwrap();
    browser.click("#login-form button[type=submit]").await;
    browser
        .until(
            "the form says the key is wrong",
            "return document.getElementById('login-error').textContent.length > 0",
        )
        .await;
    assert!(c.find(Locator::Id("jobs-table")).await.is_err());
    let key = c.find(Locator::Id("api-key")).await.unwrap();
    key.clear().await.unwrap();
    key.send_keys(API_KEY).await.unwrap();
    browser.click("#login-form button[type=submit]").await;
    browser
        .until(
            "the jobs table",
            "return document.querySelectorAll('#jobs-body tr').length === 3",
        )
        .await;
    let cookies = browser.js("return document.cookie", vec![]).await;
    assert_eq!(
        cookies, "",
        "the session cookie is out of the page's scripts' reach"
    );

    // The table is GET /v1/batches: newest first, same statuses and counts.
    table_matches_api(&svc, &browser).await;
    assert_eq!(
        browser
            .js(
                &format!("return {}.textContent", cell(&b, "status")),
                vec![]
            )
            .await,
        "Waiting"
    );

    // The custom model with its status.
    let shown = browser
        .until(
            "the custom model",
            &format!("const r = document.querySelector('tr[data-customization-id=\"{model}\"]'); return r && r.innerText"),
        )
        .await;
    assert!(
        shown.as_str().unwrap().contains("Product names")
            && shown.as_str().unwrap().contains("Pending"),
        "{shown}"
    );

    // A's progress moves on screen while the page stays the same document (no reload).
    browser.js("window.sameDocument = true", vec![]).await;
    let before = browser
        .until(
            "A is running",
            &format!(
                "const s = {}; return s && s.textContent === 'Running' && {}.textContent",
                cell(&a, "status"),
                cell(&a, "progress")
            ),
        )
        .await;
    browser
        .until(
            "A's progress changes without a reload",
            &format!(
                "return window.sameDocument === true && {}.textContent !== {before}",
                cell(&a, "progress")
            ),
        )
        .await;
    browser.screenshot("console-monitoring.png").await;
    let violations = browser.serious_accessibility_violations().await;
    assert!(violations.is_empty(), "dashboard: {violations:#?}");

    // Filter by status, then search by a part of an id.
    let rows = "return [...document.querySelectorAll('#jobs-body tr')].map(r => r.dataset.batchId)";
    c.find(Locator::Id("status-filter"))
        .await
        .unwrap()
        .select_by_value("waiting")
        .await
        .unwrap();
    assert_eq!(browser.js(rows, vec![]).await, json!([b]));
    c.find(Locator::Id("status-filter"))
        .await
        .unwrap()
        .select_by_value("")
        .await
        .unwrap();
    c.find(Locator::Id("job-search"))
        .await
        .unwrap()
        .send_keys(&a[..10])
        .await
        .unwrap();
    assert_eq!(browser.js(rows, vec![]).await, json!([a]));
    c.find(Locator::Id("job-search"))
        .await
        .unwrap()
        .clear()
        .await
        .unwrap();
    browser
        .until(
            "every job again",
            "return document.querySelectorAll('#jobs-body tr').length === 3",
        )
        .await;

    // B's page: its parameters and buckets; cancel asks first, and "keep" keeps it.
    browser.click(&format!("tr[data-batch-id=\"{b}\"] a")).await;
    browser
        .until(
            "B's page",
            "const v = document.getElementById('job-params'); return v && v.textContent.includes('en-US_NarrowbandModel')",
        )
        .await;
    let page = browser
        .js(
            "return document.getElementById('job-view').innerText",
            vec![],
        )
        .await;
    let page = page.as_str().unwrap();
    assert!(page.contains("clips (us-geo)"), "buckets shown: {page}");
    assert!(
        page.contains("word_confidence\ntrue"),
        "parameters shown: {page}"
    );
    assert!(!page.contains(&s3.secret_key), "no credentials on the page");
    let violations = browser.serious_accessibility_violations().await;
    assert!(violations.is_empty(), "job page: {violations:#?}");
    browser.click("#cancel-job").await;
    browser
        .until(
            "the confirmation",
            "return document.getElementById('confirm').open",
        )
        .await;
    browser.click("#confirm-no").await;
    browser
        .until(
            "the dialog closes",
            "return !document.getElementById('confirm').open",
        )
        .await;
    assert_eq!(svc.get(&b).await["status"], "waiting", "kept");
    browser.click("#cancel-job").await;
    browser.click("#confirm-yes").await;
    browser
        .until(
            "the page shows B canceled",
            "return document.querySelector('#job-view .status').textContent === 'Canceled'",
        )
        .await;
    assert_eq!(svc.get(&b).await["status"], "canceled");
    // Delete, confirmed: back to the dashboard, the record gone from the API and the table.
    browser.click("#delete-job").await;
    browser.click("#confirm-yes").await;
    browser
        .until(
            "the dashboard without B",
            &format!(
                "return location.hash === '#/monitoring' && document.querySelectorAll('#jobs-body tr').length === 2 && !document.querySelector('tr[data-batch-id=\"{b}\"]')"
            ),
        )
        .await;
    assert_eq!(svc.get_status(&b).await, 404);

    // C's page says why it failed, in the words of the API.
    browser
        .click(&format!("tr[data-batch-id=\"{failed}\"] a"))
        .await;
    let error = browser
        .until(
            "C's error",
            "const e = document.getElementById('job-error'); return e && e.innerText",
        )
        .await;
    let message = failed_job["error_message"].as_str().unwrap();
    assert!(
        error.as_str().unwrap().contains(message),
        "{error} / {message}"
    );
    browser.click("#tab-monitoring").await;

    // A finishes; its page sums up its analytics with what the results hold.
    let (job, _) = svc.wait_final(&a, TIMEOUT).await;
    assert_eq!(job["status"], "completed", "{job}");
    table_matches_api(&svc, &browser).await;
    let mut topics = std::collections::BTreeSet::new();
    for key in s3.keys("calls").await {
        if key.ends_with(".flac.json") {
            let out: Value = serde_json::from_slice(&s3.read("calls", &key).await).unwrap();
            topics.insert(
                out["conversation_speech_analytics"]["topics"][0]["topic_name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
    }
    browser.click(&format!("tr[data-batch-id=\"{a}\"] a")).await;
    let shown = browser
        .until(
            "A's analytics summary",
            "const t = document.getElementById('analytics-topics'); return t && t.innerText",
        )
        .await;
    for topic in &topics {
        assert!(
            shown.as_str().unwrap().contains(topic.as_str()),
            "{topic} in {shown}"
        );
    }
    let sentiment = browser
        .js(
            "return [...document.querySelectorAll('#analytics-sentiment .chart-row')].map(r => r.dataset.key)",
            vec![],
        )
        .await;
    assert_eq!(sentiment, json!(["positive", "neutral", "negative"]));
    assert!(
        c.find(Locator::Id("cancel-job")).await.is_err(),
        "a finished job cannot be canceled"
    );
    browser
        .js(
            "document.getElementById('analytics-title').scrollIntoView()",
            vec![],
        )
        .await;
    browser.screenshot("console-job.png").await;
    let violations = browser.serious_accessibility_violations().await;
    assert!(
        violations.is_empty(),
        "job page with analytics: {violations:#?}"
    );

    // The Documentation tab: every recognition parameter, and curl lines for this service.
    browser.click("#tab-docs").await;
    let params = browser
        .until(
            "the parameter table",
            "const rows = document.querySelectorAll('#param-table tbody tr'); return rows.length && [...rows].map(r => r.dataset.param)",
        )
        .await;
    let documented: Vec<String> = serde_json::from_value(params).unwrap();
    for p in crds::params::RECOGNITION_PARAMS {
        assert!(documented.iter().any(|d| d == p), "{p} documented");
    }
    let text = browser
        .js("return document.querySelector('.docs').innerText", vec![])
        .await;
    let text = text.as_str().unwrap();
    assert!(
        text.contains(&format!("{}/v1/batches?function=recognize", svc.url(""))),
        "a curl line for this service"
    );
    assert!(text.contains("speech_analytics=true"));
    browser.js("window.scrollTo(0, 0)", vec![]).await;
    browser.screenshot("console-documentation.png").await;
    let violations = browser.serious_accessibility_violations().await;
    assert!(violations.is_empty(), "documentation: {violations:#?}");

    // A narrow screen: nothing wider than the window, still accessible.
    c.set_window_size(390, 844).await.unwrap();
    let wide = browser.wider_than_window().await;
    assert!(wide.is_empty(), "documentation at 390 px: {wide:?}");
    browser.click("#tab-monitoring").await;
    browser
        .until(
            "the jobs table",
            "return document.querySelectorAll('#jobs-body tr').length === 2",
        )
        .await;
    let wide = browser.wider_than_window().await;
    assert!(wide.is_empty(), "dashboard at 390 px: {wide:?}");
    let violations = browser.serious_accessibility_violations().await;
    assert!(violations.is_empty(), "narrow dashboard: {violations:#?}");

    // Keyboard: on a fresh load the skip link is the first Tab stop, and Enter on it moves
    // focus to the content.
    c.refresh().await.unwrap();
    browser
        .until(
            "the jobs table",
            "return document.querySelectorAll('#jobs-body tr').length === 2",
        )
        .await;
    browser.press(fantoccini::key::Key::Tab).await;
    assert_eq!(
        browser
            .js("return document.activeElement.className", vec![])
            .await,
        "skip"
    );
    browser.press(fantoccini::key::Key::Enter).await;
    browser
        .until(
            "focus on the content",
            "return document.activeElement.id === 'main'",
        )
        .await;
    browser.close().await;
}

/// The console's answers to a client without a browser's help: what a stranger, another site or
/// a signed-in tool gets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_see_no_job_and_other_sites_cannot_act() {
    let svc = Service::start(Opts::default()).await;
    let s3 = svc.embedded_s3();
    s3.fill(
        "console-in",
        vec![("clip01.flac".into(), read_testdata("asr/clip01.flac"))],
    )
    .await;
    let id = svc
        .create_id(
            "function=recognize",
            form(&s3.creds_file(), "console-in", None),
        )
        .await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = |p: &str| svc.url(&format!("/console{p}"));
    let check_headers = |h: &HeaderMap, what: &str| {
        let csp = h["content-security-policy"].to_str().unwrap();
        for rule in [
            "default-src 'none'",
            "script-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(rule), "{what}: {rule} in {csp}");
        }
        assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
        assert_eq!(h["x-frame-options"], "DENY", "{what}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{what}");
        assert_eq!(h["cache-control"], "no-store", "{what}");
    };

    // The page and its assets are public and hold no data; /console redirects to it.
    let r = http.get(url("")).send().await.unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], "/console/");
    let r = http.get(url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    check_headers(r.headers(), "page");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(!r.text().await.unwrap().contains(&id));
    for (asset, ty) in [
        ("console.js", "text/javascript"),
        ("console.css", "text/css"),
    ] {
        let r = http
            .get(url(&format!("/assets/{asset}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{asset}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(ty));
    }
    let r = http.get(url("/assets/nothing.js")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    check_headers(r.headers(), "404");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], 404, "the interface's error body: {body}");

    // Without a key: 401 on every data route, with no basic-auth prompt; a wrong key is no key.
    for route in [
        "/api/session",
        "/api/overview",
        &format!("/api/batches/{id}"),
        "/api/customizations",
    ] {
        for auth in [None, Some("wrong-key")] {
            let mut rq = http.get(url(route));
            if let Some(k) = auth {
                rq = rq.basic_auth("apikey", Some(k));
            }
            let r = rq.send().await.unwrap();
            assert_eq!(r.status(), 401, "{route} with {auth:?}");
            assert!(
                r.headers().get("www-authenticate").is_none(),
                "{route}: no prompt"
            );
            check_headers(r.headers(), route);
            let text = r.text().await.unwrap();
            assert!(!text.contains(&id), "{route}: {text}");
        }
    }
    let r = http
        .post(url(&format!("/api/batches/{id}/cancel")))
        .header("x-csrf-token", "x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // The key as basic auth reaches every console route, as tools and tests need.
    let basic = |rq: reqwest::RequestBuilder| rq.basic_auth("apikey", Some(API_KEY));
    let mut answers = String::new();
    for route in [
        "/api/session",
        "/api/overview",
        &format!("/api/batches/{id}"),
        "/api/customizations",
        "/api/docs",
    ] {
        let r = basic(http.get(url(route))).send().await.unwrap();
        assert_eq!(r.status(), 200, "{route}");
        check_headers(r.headers(), route);
        answers.push_str(&r.text().await.unwrap());
    }
    let overview = svc.console_json("overview").await;
    assert_eq!(
        overview["jobs"],
        json!(svc.list().await),
        "the same jobs as GET /v1/batches"
    );
    for field in ["initializing", "waiting", "running", "audio_hours"] {
        assert!(
            overview["service"][field].is_number(),
            "{field}: {overview}"
        );
    }
    let details = svc.console_json(&format!("batches/{id}")).await;
    assert_eq!(details["job"], svc.get(&id).await);
    assert_eq!(details["params"]["model"], "en-US_BroadbandModel");
    // Nothing the REST API would not show: no credential in any console answer.
    for secret in [&s3.secret_key, &s3.access_key] {
        assert!(
            !answers.contains(secret.as_str()),
            "a credential in a console answer"
        );
    }
    let r = basic(http.get(url("/api/batches/no-such-job")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Signing in: a wrong key is refused; the right one gives an HttpOnly, SameSite=Strict
    // session cookie and the session's CSRF token.
    let r = http
        .post(url("/api/login"))
        .json(&json!({"api_key": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get(SET_COOKIE).is_none());
    let r = http
        .post(url("/api/login"))
        .json(&json!({"api_key": API_KEY}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let set_cookie = r.headers()[SET_COOKIE].to_str().unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(set_cookie.contains(attr), "{attr} in {set_cookie}");
    }
    assert!(!set_cookie.contains(API_KEY), "the cookie is not the key");
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let csrf = r.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    let session = |rq: reqwest::RequestBuilder| rq.header("cookie", cookie.clone());
    let r = session(http.get(url("/api/overview")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the cookie signs in");
    // A malformed sign-in is a 400 with the error body, not a server error.
    let r = http
        .post(url("/api/login"))
        .header("content-type", "application/json")
        .body("{\"key\": 1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], 400);
    // A sign-in posted from another site is refused too (login CSRF).
    let r = http
        .post(url("/api/login"))
        .header("origin", "http://evil.example")
        .json(&json!({"api_key": API_KEY}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Actions: refused without the token, with another token, from another origin or site.
    let cancel = url(&format!("/api/batches/{id}/cancel"));
    let host = format!("127.0.0.1:{}", svc.api_port);
    for (what, headers) in [
        ("no token", vec![]),
        ("a wrong token", vec![("x-csrf-token", "0".repeat(64))]),
        (
            "another origin",
            vec![
                ("x-csrf-token", csrf.clone()),
                ("origin", "http://evil.example".into()),
            ],
        ),
        (
            "another site",
            vec![
                ("x-csrf-token", csrf.clone()),
                ("sec-fetch-site", "cross-site".into()),
            ],
        ),
    ] {
        let mut rq = session(http.post(&cancel));
        for (k, v) in headers {
            rq = rq.header(k, v);
        }
        let r = rq.send().await.unwrap();
        assert_eq!(r.status(), 403, "{what}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], 403, "{what}: {body}");
    }
    assert_ne!(svc.get(&id).await["status"], "canceled", "nothing happened");
    // The page's own request: same origin, the session's token.
    let r = session(http.post(&cancel))
        .header("x-csrf-token", &csrf)
        .header("origin", format!("http://{host}"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let job: Value = r.json().await.unwrap();
    assert!(
        matches!(job["status"].as_str(), Some("canceled" | "completed")),
        "{job}"
    );
    // A tool with the key as basic auth acts with the header present.
    let delete = url(&format!("/api/batches/{id}"));
    let r = basic(http.delete(&delete)).send().await.unwrap();
    assert_eq!(r.status(), 403, "a basic-auth action without the header");
    let r = basic(http.delete(&delete))
        .header("x-csrf-token", "tool")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(svc.get_status(&id).await, 404);

    // Signing out ends the session: the cookie no longer signs in.
    let r = session(http.post(url("/api/logout")))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(r.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let r = session(http.get(url("/api/overview")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
