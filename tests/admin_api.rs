//! The admin API over TCP, as an operator (or the `webhooks` command line)
//! uses it: on its own listener only, behind a bearer token; the event log
//! listed, filtered, paged and shown; events replayed; dead letters listed
//! and requeued.
//!
//! The token is given with `Server::admin_token`: the tests cannot set a
//! variable (`std::env::set_var` is unsafe in edition 2024, and the
//! workspace forbids unsafe code). The one test of `token-env` itself reads
//! a variable Cargo sets for every test it runs.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use serde_json::{Value, json};
use webhooks::event_log::{EventPage, EventQuery, Received, RunRecord, parse_time};
use webhooks::{EventLog, EventRecord, InMemoryEventLog, Server, StoreError};

const TOKEN: &str = "admin-token-of-the-tests-7Qx2";
/// A variable nobody sets: the tests give the token in code.
const UNSET_VAR: &str = "WEBHOOKS_ADMIN_API_TEST_UNSET_TOKEN";

/// `[webhooks.admin]` on 127.0.0.1:0, its token in `token_env`.
fn admin_table(token_env: &str) -> String {
    format!("[webhooks.admin]\nbind = \"127.0.0.1:0\"\ntoken-env = \"{token_env}\"\n")
}

/// A server with the admin API (token [`TOKEN`]) and `tables`, and a
/// client of its admin listener.
async fn start(
    tables: &str,
    configure: impl FnOnce(webhooks::ProcessorBuilder) -> webhooks::ProcessorBuilder + Send + 'static,
) -> (TestServer, Admin) {
    let config = config("", &format!("{}\n{tables}", admin_table(UNSET_VAR)));
    let server = Server::from_config(config).admin_token(TOKEN);
    let server = TestServer::start_with(server, configure).await;
    let addr = server.admin_addr.expect("an admin listener");
    assert_ne!(addr, server.addr);
    (server, Admin(Client::new(addr)))
}

/// A client of the admin listener that sends the token.
struct Admin(Client);

impl Admin {
    async fn get(&self, path: &str) -> Reply {
        let request = self.0.http.get(self.0.url(path)).bearer_auth(TOKEN);
        self.0.send(request).await
    }

    async fn post(&self, path: &str) -> Reply {
        let request = self.0.http.post(self.0.url(path)).bearer_auth(TOKEN);
        self.0.send(request).await
    }

    /// The record of an event, once `done` holds of it.
    async fn event_once(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        within(&format!("{path} to settle"), async {
            loop {
                let reply = self.get(path).await;
                if reply.status == 200 && done(&reply.json()) {
                    return reply.json();
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        })
        .await
    }

    /// The ids of a page's events, and its `next`.
    async fn page(&self, path: &str) -> (Vec<String>, Option<String>) {
        let reply = self.get(path).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        let page = reply.json();
        let ids = page["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|event| event["id"].as_str().expect("an id").to_owned())
            .collect();
        (ids, page["next"].as_str().map(str::to_owned))
    }
}

/// A listener of `source`/`event` that fails with `error` until `fixed`.
fn failing_until(source: &str, event: &str, fixed: &Arc<AtomicBool>, error: &'static str) -> Probe {
    let fixed = Arc::clone(fixed);
    Probe::new(source, event)
        .named("app::flaky")
        .with(move |_, _| {
            let ok = fixed.load(Ordering::SeqCst);
            async move { if ok { Ok(()) } else { Err(error.into()) } }
        })
}

#[tokio::test]
async fn every_admin_request_needs_the_bearer_token() {
    let (server, admin) = start("", |b| b).await;
    let http = &admin.0.http;
    let url = admin.0.url("/admin/events");
    let same_length = "X".repeat(TOKEN.len());
    let refused = [
        http.get(&url),
        http.get(&url).bearer_auth(&same_length),
        http.get(&url).bearer_auth(&TOKEN[1..]),
        http.get(&url).bearer_auth(format!("{TOKEN}0")),
        http.get(&url)
            .header("Authorization", format!("Basic {TOKEN}")),
        http.get(&url).header("Authorization", TOKEN),
        // Unknown paths and wrong methods say nothing before the token.
        http.get(admin.0.url("/admin/nothing-here")),
        http.delete(&url),
    ];
    for request in refused {
        let reply = admin.0.send(request).await;
        reply.expect(401, json!({"error": "unauthorized"}));
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
        assert!(!reply.body.contains(TOKEN));
    }
    let reply = admin.get("/admin/events").await;
    reply.expect(200, json!({"events": [], "next": null}));
    let reply = admin
        .0
        .send(
            http.get(&url)
                .header("Authorization", format!("bearer {TOKEN}")),
        )
        .await;
    assert_eq!(reply.status, 200, "the scheme is case-insensitive");

    admin
        .get("/admin/nothing-here")
        .await
        .expect(404, json!({"error": "not found"}));
    admin
        .get("/admin/events/stripe")
        .await
        .expect(404, json!({"error": "not found"}));
    let reply = admin.post("/admin/events").await;
    reply.expect(405, json!({"error": "method not allowed"}));
    assert_eq!(reply.header("allow"), Some("GET, HEAD"));
    let reply = admin.get("/admin/events/stripe/evt_1/replay").await;
    reply.expect(405, json!({"error": "method not allowed"}));
    assert_eq!(reply.header("allow"), Some("POST"));
    server.shutdown().await;
}

#[tokio::test]
async fn the_admin_routes_are_not_on_the_public_port() {
    let (server, admin) = start("", |b| b).await;
    server
        .post(&stripe("evt_public", "invoice.paid"))
        .await
        .accepted("evt_public");
    let public = Client::new(server.addr);
    for (method, path) in [
        (reqwest::Method::GET, "/admin/events"),
        (reqwest::Method::GET, "/admin/events/stripe/evt_public"),
        (
            reqwest::Method::POST,
            "/admin/events/stripe/evt_public/replay",
        ),
        (reqwest::Method::GET, "/admin/dead"),
    ] {
        let request = public
            .http
            .request(method, public.url(path))
            .bearer_auth(TOKEN);
        let reply = public.send(request).await;
        reply.expect(404, json!({"error": "not found"}));
    }
    // The webhook routes are not on the admin port either.
    let delivery = stripe("evt_x", "invoice.paid");
    let reply = admin.0.post_to("/webhooks/stripe", &delivery).await;
    assert_eq!(reply.status, 401);
    let reply = admin.get("/metrics").await;
    assert_eq!(reply.status, 404);
    server.shutdown().await;
}

#[tokio::test]
async fn operational_routes_can_move_to_the_admin_address_without_the_token() {
    let tables = format!("{}operational-routes = true\n", admin_table(UNSET_VAR));
    let server = Server::from_config(config("", &tables)).admin_token(TOKEN);
    let server = TestServer::start_with(server, |b| b).await;
    let admin = Client::new(server.admin_addr.expect("an admin listener"));
    server
        .post(&stripe("evt_ops", "invoice.paid"))
        .await
        .accepted("evt_ops");
    // Probes and scrapers send no token.
    admin
        .get("/healthz")
        .await
        .expect(200, json!({"status": "ok"}));
    admin
        .get("/readyz")
        .await
        .expect(200, json!({"status": "ready"}));
    let metrics = admin.get("/metrics").await;
    assert_eq!(metrics.status, 200, "{}", metrics.body);
    assert!(
        metrics.body.contains(
            r#"webhooks_received_total{event_type="invoice.paid",outcome="accepted",source="stripe"} 1"#
        ),
        "{}",
        metrics.body
    );
    let wrong_method = admin.request(reqwest::Method::POST, "/healthz").await;
    assert_eq!(wrong_method.status, 405);
    // The admin API itself still needs it.
    admin
        .get("/admin/events")
        .await
        .expect(401, json!({"error": "unauthorized"}));
    // The public address serves the webhooks only.
    let public = Client::new(server.addr);
    for path in ["/healthz", "/readyz", "/metrics"] {
        public
            .get(path)
            .await
            .expect(404, json!({"error": "not found"}));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn by_default_the_operational_routes_stay_on_the_public_address() {
    let (server, admin) = start("", |b| b).await;
    let public = Client::new(server.addr);
    assert_eq!(public.get("/healthz").await.status, 200);
    // On the admin address they are unknown paths, behind the token.
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(admin.0.get(path).await.status, 401, "{path}");
        assert_eq!(admin.get(path).await.status, 404, "{path}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn without_the_admin_section_there_is_no_admin_listener() {
    let server = Server::from_config(config("", ""))
        .admin_token(TOKEN)
        .bind()
        .await
        .expect("the server binds");
    assert_eq!(server.admin_addr(), None);
}

#[tokio::test]
async fn the_admin_listener_stops_with_the_server() {
    let (server, admin) = start("", |b| b).await;
    let addr = admin.0.addr;
    assert_eq!(admin.get("/admin/dead").await.status, 200);
    server.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn a_missing_or_short_token_is_a_start_up_error_naming_the_variable() {
    let missing = config("", &admin_table(UNSET_VAR));
    let error = Server::from_config(missing).bind().await.unwrap_err();
    let message = error.to_string();
    assert!(message.contains(UNSET_VAR), "{message}");
    assert!(message.contains("webhooks.admin.token-env"), "{message}");

    let short = config("", &admin_table(UNSET_VAR));
    let error = Server::from_config(short)
        .admin_token("tiny-tok3n")
        .bind()
        .await
        .unwrap_err();
    let message = format!("{error} {error:?}");
    assert!(message.contains("16 bytes"), "{message}");
    assert!(!message.contains("tiny-tok3n"), "{message}");

    // Cargo sets CARGO_PKG_VERSION_MAJOR ("0") for the tests it runs.
    if std::env::var_os("CARGO_PKG_VERSION_MAJOR").is_some() {
        let short = config("", &admin_table("CARGO_PKG_VERSION_MAJOR"));
        let error = Server::from_config(short).bind().await.unwrap_err();
        let message = error.to_string();
        assert!(message.contains("CARGO_PKG_VERSION_MAJOR"), "{message}");
        assert!(message.contains("16 bytes"), "{message}");
    }
}

#[tokio::test]
async fn the_token_is_read_from_its_variable() {
    // Cargo sets each CARGO_PKG_* variable for the tests it runs, to the
    // value it had at build time; not run by Cargo, there is nothing to read.
    let token = env!("CARGO_PKG_DESCRIPTION");
    if std::env::var("CARGO_PKG_DESCRIPTION").as_deref() != Ok(token) {
        eprintln!("CARGO_PKG_DESCRIPTION is not set: not run by Cargo, skipped");
        return;
    }
    let config = config("", &admin_table("CARGO_PKG_DESCRIPTION"));
    let server = TestServer::start_with(Server::from_config(config), |b| b).await;
    let admin = Client::new(server.admin_addr.expect("an admin listener"));
    let request = admin.http.get(admin.url("/admin/dead")).bearer_auth(token);
    admin.send(request).await.expect(200, json!({"dead": []}));
    let request = admin.http.get(admin.url("/admin/dead")).bearer_auth(TOKEN);
    assert_eq!(admin.send(request).await.status, 401);
    server.shutdown().await;
}

#[tokio::test]
async fn events_are_listed_newest_first_filtered_and_paged() {
    let (server, admin) = start("", |b| b).await;
    let deliveries = [
        stripe("evt_1", "invoice.paid"),
        stripe("evt_2", "customer.created"),
        github("gh-1", "push", "{}"),
        stripe("evt_3", "invoice.paid"),
        partner(Some("order/42"), r#"{"type":"order.created"}"#),
    ];
    for delivery in &deliveries {
        assert_eq!(server.post(delivery).await.status, 200);
    }
    let newest_first = ["order/42", "evt_3", "gh-1", "evt_2", "evt_1"];
    let reply = admin.get("/admin/events").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let page = reply.json();
    assert_eq!(page["next"], Value::Null);
    let events = page["events"].as_array().unwrap();
    let ids: Vec<_> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, newest_first);
    for event in events {
        assert!(
            event.get("body").is_none() && event.get("headers").is_none(),
            "{event}"
        );
        assert_eq!(event["status"], "succeeded", "{event}");
        assert!(parse_time(event["received_at"].as_str().unwrap()).is_some());
    }
    assert_eq!(events[1]["type"], "invoice.paid");
    assert_eq!(events[1]["source"], "stripe");
    // An id with a slash, percent-encoded in the path.
    let reply = admin.get("/admin/events/partner/order%2F42").await;
    assert_eq!(reply.json()["id"], "order/42", "{}", reply.body);

    for (query, expected) in [
        ("source=stripe", &["evt_3", "evt_2", "evt_1"][..]),
        ("source=stripe&type=invoice.paid", &["evt_3", "evt_1"]),
        ("type=push&status=succeeded", &["gh-1"]),
        ("status=dead", &[]),
        ("source=", &newest_first),
        (
            "since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00.000Z",
            &newest_first,
        ),
        ("until=2000-01-01T00:00:00Z", &[]),
    ] {
        let (ids, next) = admin.page(&format!("/admin/events?{query}")).await;
        assert_eq!(ids, expected, "{query}");
        assert_eq!(next, None, "{query}");
    }

    // Pages of two, each naming the next, add up to the whole list.
    let mut paged = Vec::new();
    let mut path = "/admin/events?limit=2".to_owned();
    loop {
        let (ids, next) = admin.page(&path).await;
        assert!(ids.len() <= 2);
        paged.extend(ids);
        let Some(cursor) = next else { break };
        path = format!("/admin/events?limit=2&cursor={cursor}");
    }
    assert_eq!(paged, newest_first);
    let (ids, next) = admin.page("/admin/events?source=stripe&limit=2").await;
    assert_eq!(ids, ["evt_3", "evt_2"]);
    let cursor = next.expect("a next page");
    let path = format!("/admin/events?source=stripe&limit=2&cursor={cursor}");
    assert_eq!(admin.page(&path).await, (vec!["evt_1".to_owned()], None));

    for (query, parameter) in [
        ("status=finished", "status: "),
        ("limit=0", "limit: "),
        ("limit=1001", "limit: "),
        ("limit=many", "limit: "),
        ("since=yesterday", "since: "),
        ("until=2025-02-30T00:00:00Z", "until: "),
        ("cursor=not-a-cursor", "cursor: "),
        ("sauce=stripe", "sauce: "),
    ] {
        let reply = admin.get(&format!("/admin/events?{query}")).await;
        assert_eq!(reply.status, 400, "{query}: {}", reply.body);
        let error = reply.error();
        assert!(error.starts_with(parameter), "{query}: {error}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn an_event_is_shown_with_its_body_and_headers() {
    let (server, admin) = start("", |b| b).await;
    let body = r#"{"type":"order.created","order":42}"#;
    let delivery = partner(None, body).with_header("X-Trace", "trace-7");
    let reply = server.post(&delivery).await;
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("sha256:"), "{id}");
    let github_delivery = github("evt_1", "push", "{}");
    server.post(&github_delivery).await.accepted("evt_1");

    let path = format!("/admin/events/partner/{}", id.replace(':', "%3A"));
    let reply = admin.get(&path).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let record = reply.json();
    assert_eq!(record["source"], "partner");
    assert_eq!(record["id"], id.as_str());
    assert_eq!(record["type"], "order.created");
    assert_eq!(record["status"], "succeeded");
    assert_eq!(record["attempts"], 1);
    assert_eq!(record["redeliveries"], 0);
    assert_eq!(record["body"], body);
    let headers = record["headers"].as_str().expect("the headers");
    assert!(
        headers.to_ascii_lowercase().contains("x-trace: trace-7"),
        "{headers}"
    );
    assert!(parse_time(record["finished_at"].as_str().unwrap()).is_some());
    // The same id, not encoded: the colon needs no escaping in a path.
    let plain = admin.get(&format!("/admin/events/partner/{id}")).await;
    assert_eq!(plain.json(), record);
    assert_eq!(
        admin.get("/admin/events/github/evt_1").await.json()["body"],
        "{}"
    );

    for path in [
        "/admin/events/partner/sha256%3Anope",
        "/admin/events/stripe/evt_1",
        "/admin/events/nowhere/evt_1",
    ] {
        admin
            .get(path)
            .await
            .expect(404, json!({"error": "no such event"}));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn an_inline_replay_runs_a_failed_event_again() {
    let fixed = Arc::new(AtomicBool::new(false));
    let listener = failing_until("stripe", "invoice.paid", &fixed, "the ledger is down");
    let seen = listener.seen();
    let (server, admin) = start("", |b| b.listener(listener)).await;
    let reply = server.post(&stripe("evt_flaky", "invoice.paid")).await;
    reply.expect(500, json!({"error": "listener failed"}));

    let path = "/admin/events/stripe/evt_flaky";
    let failed = admin.get(path).await.json();
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["attempts"], 1);
    assert_eq!(failed["error"], "the ledger is down");
    assert_eq!(failed["listeners"][0]["listener"], "app::flaky");
    assert_eq!(failed["listeners"][0]["ok"], false);
    let (ids, _) = admin.page("/admin/events?status=failed").await;
    assert_eq!(ids, ["evt_flaky"]);

    fixed.store(true, Ordering::SeqCst);
    let reply = admin.post(&format!("{path}/replay")).await;
    reply.expect(
        202,
        json!({"status": "replaying", "source": "stripe", "id": "evt_flaky"}),
    );
    let done = admin
        .event_once(path, |record| record["status"] == "succeeded")
        .await;
    assert_eq!(
        (done["attempts"].as_u64(), done["replays"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(done["listeners"][0]["ok"], true, "{done}");
    assert!(done.get("error").is_none(), "{done}");
    assert_eq!(seen.count(), 2);

    admin
        .post("/admin/events/stripe/evt_nope/replay")
        .await
        .expect(404, json!({"error": "no such event"}));
    server.shutdown().await;
}

#[tokio::test]
async fn a_queued_event_that_always_fails_ends_dead_and_a_requeue_runs_it_again() {
    let fixed = Arc::new(AtomicBool::new(false));
    let listener = failing_until("github", "push", &fixed, "the build farm is down");
    let seen = listener.seen();
    let tables = queued("max-attempts = 2\nbackoff-initial-ms = 10\nworkers = 1");
    let (server, admin) = start(&tables, |b| b.listener(listener)).await;
    server
        .post(&github("gh-dead", "push", "{}"))
        .await
        .accepted("gh-dead");

    let path = "/admin/events/github/gh-dead";
    let dead = admin.event_once(path, |r| r["status"] == "dead").await;
    let error = dead["error"].as_str().expect("the reason");
    assert!(error.contains("the build farm is down"), "{dead}");
    assert_eq!(
        dead["listeners"][0]["error"], "the build farm is down",
        "{dead}"
    );
    assert_eq!(dead["attempts"], 2, "{dead}");
    assert_eq!(seen.count(), 2);

    let reply = admin.get("/admin/dead").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let letters = reply.json()["dead"].as_array().unwrap().clone();
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(
        (
            &letter["source"],
            &letter["id"],
            &letter["type"],
            &letter["attempts"]
        ),
        (
            &json!("github"),
            &json!("gh-dead"),
            &json!("push"),
            &json!(2)
        )
    );
    assert!(
        letter["reason"]
            .as_str()
            .unwrap()
            .contains("the build farm is down"),
        "{letter}"
    );
    assert!(
        parse_time(letter["failed_at"].as_str().unwrap()).is_some(),
        "{letter}"
    );
    let of_stripe = admin.get("/admin/dead?source=stripe").await;
    of_stripe.expect(200, json!({"dead": []}));
    let of_github = admin.get("/admin/dead?source=github").await;
    assert_eq!(of_github.json()["dead"].as_array().unwrap().len(), 1);
    let reply = admin.get("/admin/dead?status=dead").await;
    assert!(reply.error().starts_with("status: "), "{}", reply.body);

    fixed.store(true, Ordering::SeqCst);
    let requeue = "/admin/dead/github/gh-dead/requeue";
    admin.post(requeue).await.expect(
        202,
        json!({"status": "requeued", "source": "github", "id": "gh-dead"}),
    );
    admin.event_once(path, |r| r["status"] == "succeeded").await;
    assert_eq!(seen.count(), 3);
    admin
        .get("/admin/dead")
        .await
        .expect(200, json!({"dead": []}));
    admin
        .post(requeue)
        .await
        .expect(404, json!({"error": "no such dead letter"}));
    server.shutdown().await;
}

#[tokio::test]
async fn a_replay_without_the_kept_body_is_a_conflict() {
    let tables = "[webhooks.event-log]\nkeep-bodies = false";
    let (server, admin) = start(tables, |b| b).await;
    server
        .post(&stripe("evt_pii", "customer.created"))
        .await
        .accepted("evt_pii");
    let record = admin.get("/admin/events/stripe/evt_pii").await.json();
    assert!(
        record.get("body").is_none() && record.get("headers").is_none(),
        "{record}"
    );
    let reply = admin.post("/admin/events/stripe/evt_pii/replay").await;
    assert_eq!(reply.status, 409, "{}", reply.body);
    assert!(reply.error().contains("not kept"), "{}", reply.body);
    server.shutdown().await;
}

#[tokio::test]
async fn the_event_routes_answer_404_when_the_log_is_off() {
    let tables = "[webhooks.event-log]\nenabled = false";
    let (server, admin) = start(tables, |b| b).await;
    server
        .post(&stripe("evt_off", "customer.created"))
        .await
        .accepted("evt_off");
    let off = json!({"error": "the event log is off"});
    admin.get("/admin/events").await.expect(404, off.clone());
    // The log is off before a parameter is read.
    admin
        .get("/admin/events?limit=0")
        .await
        .expect(404, off.clone());
    admin
        .get("/admin/events/stripe/evt_off")
        .await
        .expect(404, off.clone());
    let reply = admin.post("/admin/events/stripe/evt_off/replay").await;
    reply.expect(404, off);
    // Inline mode: no dead letters, and none to requeue.
    admin
        .get("/admin/dead")
        .await
        .expect(200, json!({"dead": []}));
    let reply = admin.post("/admin/dead/stripe/evt_off/requeue").await;
    reply.expect(404, json!({"error": "no such dead letter"}));
    server.shutdown().await;
}

/// The in-memory event log, which answers "down" to everything while
/// switched off.
#[derive(Debug, Clone, Default)]
struct FlakyLog {
    inner: Arc<InMemoryEventLog>,
    down: Arc<AtomicBool>,
}

impl FlakyLog {
    fn check(&self) -> Result<(), StoreError> {
        match self.down.load(Ordering::SeqCst) {
            true => Err(StoreError::new("down")),
            false => Ok(()),
        }
    }
}

impl EventLog for FlakyLog {
    async fn received(&self, event: &Received<'_>) -> Result<(), StoreError> {
        self.check()?;
        self.inner.received(event).await
    }
    async fn redelivered(&self, source: &str, id: &str) -> Result<(), StoreError> {
        self.check()?;
        self.inner.redelivered(source, id).await
    }
    async fn ran(&self, source: &str, id: &str, run: &RunRecord) -> Result<(), StoreError> {
        self.check()?;
        self.inner.ran(source, id, run).await
    }
    async fn get(&self, source: &str, id: &str) -> Result<Option<EventRecord>, StoreError> {
        self.check()?;
        self.inner.get(source, id).await
    }
    async fn list(&self, query: &EventQuery) -> Result<EventPage, StoreError> {
        self.check()?;
        self.inner.list(query).await
    }
}

#[tokio::test]
async fn an_event_log_that_does_not_answer_is_a_503_with_retry_after() {
    let log = FlakyLog::default();
    let (server, admin) = start("", {
        let log = log.clone();
        move |b| b.event_log(log)
    })
    .await;
    server
        .post(&stripe("evt_down", "invoice.paid"))
        .await
        .accepted("evt_down");
    let (ids, next) = admin.page("/admin/events?limit=1").await;
    assert_eq!(ids, ["evt_down"]);
    assert_eq!(next, None);

    log.down.store(true, Ordering::SeqCst);
    for (post, path) in [
        (false, "/admin/events"),
        // While the log is down, a cursor is not blamed for its failure.
        (false, "/admin/events?cursor=not-a-cursor"),
        (false, "/admin/events/stripe/evt_down"),
        (true, "/admin/events/stripe/evt_down/replay"),
    ] {
        let reply = match post {
            true => admin.post(path).await,
            false => admin.get(path).await,
        };
        reply.expect_retry_later(503);
        assert!(
            reply.error().contains("unavailable"),
            "{path}: {}",
            reply.body
        );
    }
    log.down.store(false, Ordering::SeqCst);
    let reply = admin.get("/admin/events/stripe/evt_down").await;
    assert_eq!(reply.json()["status"], "succeeded", "{}", reply.body);
    server.shutdown().await;
}
