//! A source's `allow-ips` and the global `trusted-proxies`, over TCP
//! against the real server. Every client here is 127.0.0.1; the "client"
//! varies through the lists around it and the forwarding headers a trusted
//! proxy (127.0.0.1 itself) would add.

mod common;

use common::*;
use serde_json::json;
use webhooks::PeerAddr;

/// GitHub's published hook ranges (https://api.github.com/meta, `hooks`).
const GITHUB_HOOKS: &str = r#"["192.30.252.0/22", "185.199.108.0/22", "140.82.112.0/20", "143.55.64.0/20", "2a0a:a440::/29", "2606:50c0::/32"]"#;

/// Two more GitHub-signed sources: `local`, open to 127.0.0.1 only, and
/// `hooks`, open to GitHub's ranges only.
fn tables() -> String {
    format!(
        "[webhooks.sources.local]\nvalidator = \"github\"\nsecret = \"{GITHUB_SECRET}\"\n\
         allow-ips = [\"127.0.0.1\"]\n\
         [webhooks.sources.hooks]\nvalidator = \"github\"\nsecret = \"{GITHUB_SECRET}\"\n\
         allow-ips = {GITHUB_HOOKS}\n"
    )
}

/// A signed `push` to `source`, with `headers` added.
fn push(source: &str, delivery: &str, headers: &[(&str, &str)]) -> Signed {
    let mut signed = github(delivery, "push", r#"{"ref":"refs/heads/main"}"#).sent_to(source);
    for (name, value) in headers {
        signed = signed.with_header(name, value);
    }
    signed
}

fn forbidden(text: &str, source: &str) -> f64 {
    counter(
        text,
        "webhooks_received_total",
        source,
        "unknown",
        "forbidden",
    )
}

#[tokio::test]
async fn an_allowed_peer_is_served_and_any_other_gets_403_before_signature_work() {
    let (local, hooks) = (Probe::new("local", "*"), Probe::new("hooks", "*"));
    let (local_seen, hooks_seen) = (local.seen(), hooks.seen());
    let server =
        TestServer::start(config("", &tables()), |b| b.listener(local).listener(hooks)).await;
    server
        .post(&push("local", "d-local", &[]))
        .await
        .accepted("d-local");
    let refused = server.post(&push("hooks", "d-hooks", &[])).await;
    refused.expect(403, json!({"error": "forbidden"}));
    // Unsigned: still 403, not 401: the address is checked first.
    let unsigned = push("hooks", "d-unsigned", &[]).without_header("X-Hub-Signature-256");
    server
        .post(&unsigned)
        .await
        .expect(403, json!({"error": "forbidden"}));
    // A source without allow-ips serves everyone.
    server
        .post(&push("github", "d-open", &[]))
        .await
        .accepted("d-open");
    assert_eq!(local_seen.ids(), ["d-local"]);
    assert_eq!(hooks_seen.count(), 0);
    let text = server.metrics().await;
    assert_eq!(forbidden(&text, "hooks"), 2.0);
    assert_eq!(forbidden(&text, "local"), 0.0);
    let invalid = counter(
        &text,
        "webhooks_received_total",
        "hooks",
        "unknown",
        "invalid_signature",
    );
    assert_eq!(invalid, 0.0);
    server.shutdown().await;
}

#[tokio::test]
async fn a_trusted_proxys_forwarded_client_is_believed_from_the_right() {
    let keys = r#"trusted-proxies = ["127.0.0.1/32", "10.0.0.0/8"]"#;
    let server = TestServer::start(config(keys, &tables()), |b| b).await;
    let accepted = [
        ("x-forwarded-for", "192.30.252.7"),
        // IPv6, and a port.
        ("x-forwarded-for", "2a0a:a440::1"),
        ("x-forwarded-for", "[2606:50c0::9]:443"),
        // Through a second trusted proxy.
        ("x-forwarded-for", "140.82.112.3, 10.1.2.3"),
        ("forwarded", "for=185.199.108.1;proto=https"),
        ("forwarded", r#"for="[2a0a:a440::2]:4711""#),
    ];
    for (n, (name, value)) in accepted.iter().enumerate() {
        let id = format!("d-proxied-{n}");
        let reply = server.post(&push("hooks", &id, &[(name, value)])).await;
        assert_eq!(reply.status, 200, "{name}: {value}: {}", reply.body);
        reply.accepted(&id);
    }
    let refused = [
        ("x-forwarded-for", "203.0.113.9"),
        // A spoofed left part: the proxy appended the real client.
        ("x-forwarded-for", "192.30.252.7, 203.0.113.9"),
        ("forwarded", "for=192.30.252.7, for=203.0.113.9"),
        ("forwarded", "for=unknown"),
        ("x-forwarded-for", "2001:db8::1"),
    ];
    for (n, (name, value)) in refused.iter().enumerate() {
        let reply = server
            .post(&push("hooks", &format!("d-refused-{n}"), &[(name, value)]))
            .await;
        assert_eq!(reply.status, 403, "{name}: {value}: {}", reply.body);
    }
    // The proxy's own address is not the client when it forwards another.
    let reply = server
        .post(&push(
            "local",
            "d-local",
            &[("x-forwarded-for", "203.0.113.9")],
        ))
        .await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    let text = server.metrics().await;
    assert_eq!(forbidden(&text, "hooks"), refused.len() as f64);
    server.shutdown().await;
}

#[tokio::test]
async fn a_forwarding_header_from_an_untrusted_peer_is_ignored() {
    // 127.0.0.1 is not a trusted proxy here: its headers say nothing.
    let keys = r#"trusted-proxies = ["10.0.0.0/8"]"#;
    let server = TestServer::start(config(keys, &tables()), |b| b).await;
    for (name, value) in [
        ("x-forwarded-for", "192.30.252.7"),
        ("forwarded", "for=192.30.252.7"),
    ] {
        let reply = server
            .post(&push("hooks", "d-spoofed", &[(name, value)]))
            .await;
        reply.expect(403, json!({"error": "forbidden"}));
        let spoof = [(name, "203.0.113.9")];
        let id = format!("d-local-{name}");
        server.post(&push("local", &id, &spoof)).await.accepted(&id);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn mounted_without_the_server_the_peer_comes_from_peer_addr() {
    let config = config("", &tables());
    let processor = webhooks::ProcessorBuilder::from_config(&config)
        .expect("the configuration resolves")
        .registered_listeners(false)
        .build()
        .expect("the processor builds");
    let service = webhooks::WebhookService::new(processor);
    let request = |id: &str, peer: Option<&str>| {
        let signed = push("local", id, &[]);
        let mut request = http::Request::post("/webhooks/local");
        for (name, value) in &signed.headers {
            request = request.header(name, value);
        }
        let mut request = request
            .body(http_body_util::Full::new(bytes::Bytes::from(signed.body)))
            .expect("a request");
        if let Some(peer) = peer {
            let peer = PeerAddr(peer.parse().expect("an address"));
            request.extensions_mut().insert(peer);
        }
        request
    };
    let known = service
        .handle(request("d-1", Some("127.0.0.1:40000")))
        .await;
    assert_eq!(known.status(), 200);
    let elsewhere = service
        .handle(request("d-2", Some("203.0.113.9:40000")))
        .await;
    assert_eq!(elsewhere.status(), 403);
    // No peer address: unknown, so a source with allow-ips refuses.
    let unknown = service.handle(request("d-3", None)).await;
    assert_eq!(unknown.status(), 403);
}

/// axum hands the TCP peer to the service as the `axum` example does.
async fn with_peer(
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    mut request: axum::extract::Request,
) -> axum::extract::Request {
    request.extensions_mut().insert(PeerAddr(peer));
    request
}

#[tokio::test]
async fn mounted_in_axum_over_tcp_the_peer_reaches_the_allow_list() {
    let config = config("", &tables());
    let processor = webhooks::ProcessorBuilder::from_config(&config)
        .expect("the configuration resolves")
        .registered_listeners(false)
        .build()
        .expect("the processor builds");
    let app = axum::Router::new()
        .nest_service("/hooks", webhooks::WebhookService::new(processor))
        .layer(axum::middleware::map_request(with_peer))
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let client = Client::new(listener.local_addr().expect("an address"));
    let serving = tokio::spawn(async move { axum::serve(listener, app).await });
    let local = push("local", "d-axum", &[]);
    client
        .post_to("/hooks/webhooks/local", &local)
        .await
        .accepted("d-axum");
    let hooks = push("hooks", "d-axum-hooks", &[]);
    let reply = client.post_to("/hooks/webhooks/hooks", &hooks).await;
    reply.expect(403, json!({"error": "forbidden"}));
    serving.abort();
}

#[test]
fn a_bad_cidr_is_a_start_up_error_naming_the_key() {
    let bad_source = tables().replace("\"127.0.0.1\"", "\"127.0.0.1/33\"");
    let text = format!("[webhooks]\n{bad_source}");
    let error = webhooks::Config::from_toml(&text).unwrap_err().to_string();
    assert!(
        error.contains("webhooks.sources.local.allow-ips"),
        "{error}"
    );
    let error =
        webhooks::Config::from_toml("[webhooks]\ntrusted-proxies = [\"10.0.0.0/8\", \"lb\"]")
            .unwrap_err()
            .to_string();
    assert!(error.contains("webhooks.trusted-proxies"), "{error}");
}
