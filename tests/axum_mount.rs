//! `WebhookService` nested in an axum application beside its own routes,
//! driven end to end: with `tower::ServiceExt::oneshot` and requests built
//! from `SignedEvent`s, and once over TCP with `axum::serve`.
#![cfg(all(feature = "testing", feature = "macros", feature = "hyper"))]

use std::sync::Mutex;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use webhooks::testing::{self, SignedEvent};
use webhooks::{
    BoxError, StripeSignatureValidator, WebhookEvent, WebhookService, webhook_listener,
};

const STRIPE: &str = "whsec_axum_mount_Hw58";

/// The invoices the application's listener saw.
static PAID: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[webhook_listener(source = "stripe", event = "invoice.paid")]
async fn invoice_paid(event: &WebhookEvent) -> Result<(), BoxError> {
    PAID.lock().unwrap().push(event.id().to_owned());
    Ok(())
}

/// The application's other source, which these tests do not configure.
#[webhook_listener(source = "github", event = "push")]
async fn pushed(_event: &WebhookEvent) -> Result<(), BoxError> {
    panic!("github is not under test")
}

fn paid(id: &str) -> bool {
    PAID.lock().unwrap().iter().any(|paid| paid == id)
}

/// The application: its own `/` and `/metrics`, the webhooks under `/hooks`.
fn app(service: WebhookService) -> Router {
    Router::new()
        .route("/", get(|| async { "the application" }))
        .route("/metrics", get(|| async { "app_requests_total 1\n" }))
        .nest_service("/hooks", service)
}

fn service() -> WebhookService {
    let validator = StripeSignatureValidator::new(STRIPE).unwrap();
    let processor = testing::processor("stripe", validator).build().unwrap();
    WebhookService::new(processor)
}

fn invoice(id: &str) -> SignedEvent {
    testing::stripe(STRIPE, format!(r#"{{"id":"{id}","type":"invoice.paid"}}"#))
}

/// Sends `request` to `app` and reads the status and the body.
async fn call<B>(app: &Router, request: Request<B>) -> (StatusCode, String)
where
    B: axum::body::HttpBody<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

async fn get_path(app: &Router, path: &str) -> (StatusCode, String) {
    call(app, Request::get(path).body(Body::empty()).unwrap()).await
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|error| panic!("not JSON ({error}): {body}"))
}

#[tokio::test]
async fn the_mounted_service_answers_signed_deliveries() {
    let app = app(service().webhook_routes_only());
    let event = invoice("evt_mounted");
    let path = "/hooks/webhooks/stripe";

    let (status, body) = call(&app, event.to_http_request(path)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json(&body),
        json!({"status": "accepted", "id": "evt_mounted"})
    );
    assert!(paid("evt_mounted"));

    let (status, body) = call(&app, event.to_http_request(path)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json(&body),
        json!({"status": "duplicate", "id": "evt_mounted"})
    );

    let forged = invoice("evt_forged").tampered();
    let (status, body) = call(&app, forged.to_http_request(path)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(!paid("evt_forged"));

    let github = testing::github("secret", "push", "{}");
    let (status, body) = call(&app, github.to_http_request("/hooks/webhooks/github")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(json(&body), json!({"error": "unknown source"}));
}

#[tokio::test]
async fn the_applications_own_routes_still_answer() {
    let app = app(service().webhook_routes_only());
    assert_eq!(
        get_path(&app, "/").await,
        (StatusCode::OK, "the application".into())
    );
    assert_eq!(
        get_path(&app, "/metrics").await,
        (StatusCode::OK, "app_requests_total 1\n".into())
    );
    for path in ["/hooks/metrics", "/hooks/healthz", "/hooks/readyz"] {
        let (status, body) = get_path(&app, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(json(&body), json!({"error": "not found"}), "{path}");
    }
}

#[tokio::test]
async fn by_default_the_mounted_service_keeps_its_operational_routes() {
    let app = app(service());
    let (status, _) = call(
        &app,
        invoice("evt_counted").to_http_request("/hooks/webhooks/stripe"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(get_path(&app, "/hooks/healthz").await.0, StatusCode::OK);
    assert_eq!(get_path(&app, "/hooks/readyz").await.0, StatusCode::OK);
    let (status, metrics) = get_path(&app, "/hooks/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        metrics.contains(
            r#"webhooks_received_total{event_type="invoice.paid",outcome="accepted",source="stripe"} 1"#
        ),
        "{metrics}"
    );
    assert_eq!(get_path(&app, "/metrics").await.1, "app_requests_total 1\n");
}

#[tokio::test]
async fn the_mounted_service_serves_over_tcp() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serve = axum::serve(listener, app(service().webhook_routes_only())).with_graceful_shutdown(
        async move {
            let _ = stopped.await;
        },
    );
    let server = tokio::spawn(async move { serve.await });

    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let event = invoice("evt_over_tcp");
    let post = || {
        let request = event.to_http_request("/hooks/webhooks/stripe");
        let mut post = client.post(format!("http://{addr}{}", request.uri()));
        for (name, value) in request.headers() {
            post = post.header(name, value);
        }
        post.body(event.body().to_vec()).send()
    };
    let first = post().await.unwrap();
    assert_eq!(first.status(), 200);
    let first = json(&first.text().await.unwrap());
    assert_eq!(first, json!({"status": "accepted", "id": "evt_over_tcp"}));
    assert!(paid("evt_over_tcp"));
    let again = json(&post().await.unwrap().text().await.unwrap());
    assert_eq!(again, json!({"status": "duplicate", "id": "evt_over_tcp"}));
    let home = client.get(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(home.text().await.unwrap(), "the application");

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
