#!/usr/bin/env python3
"""Writes fuzz/seeds/<target>/: each scheme's published (or independently
computed) vector, in the targets' input format, so that every run starts from
requests that verify. Each vector is the one quoted, with its source, in the
scheme's tests in webhooks-core/src/validator/*.rs. Run from fuzz/."""

import os

# Order of webhooks_fuzz::validators(): the selector byte is the index.
SCHEMES = ["stripe", "github", "standard", "standard-ed25519", "slack", "paddle", "square",
           "twilio", "shopify", "gitlab", "linear", "discord", "hmac", "none"]

GITHUB_BODY = b"Hello, World!"  # GitHub docs, "Validating webhook deliveries"
GITHUB_SIG = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
STANDARD_BODY = b'{"test": 2432232314}'  # standard-webhooks python tests
STANDARD_HEADERS = [("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"), ("webhook-timestamp", "1614265330")]
SLACK_BODY = (b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
              b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
              b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
              b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")  # Slack docs
SQUARE_BODY = (b'{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f",'
               b'"created_at":"2022-07-13T20:30:59.037339943Z","data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}')
TWILIO_FORM = b"CallSid=CA1234567890ABCDE&Digits=1234&From=%2B14158675309&To=%2B18005551212&Caller=%2B14158675309"
TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"  # twilio-python tests
LINEAR_BODY = (b'{"action":"create","type":"Issue","data":{"id":"2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9","title":"Foo"},'
               b'"url":"https://linear.app/issue/LIN-1778/foo-bar","createdAt":"2023-02-10T19:22:20.508Z",'
               b'"webhookTimestamp":1676056940508,"webhookId":"000042e3-d123-4980-b49f-8e140eef9329"}')
DISCORD_BODY = b'{"id":"787053080478613555","token":"ThisIsATokenFromDiscordThatIsVeryLong","type":1,"version":1}'

DELIVERIES = {
    "stripe": ([("Stripe-Signature", "t=1700000000,v1=4f1cd7feda9826e746b7d482c4badebb657398df1099e1046364f6196a230150")],
               b'{\n  "id": "evt_test_webhook",\n  "object": "event"\n}'),
    "github": ([("X-Hub-Signature-256", GITHUB_SIG), ("X-GitHub-Event", "issues"),
                ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")], GITHUB_BODY),
    "standard": (STANDARD_HEADERS + [("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")], STANDARD_BODY),
    "standard-ed25519": (STANDARD_HEADERS + [("webhook-signature",
        "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag==")], STANDARD_BODY),
    "slack": ([("X-Slack-Signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"),
               ("X-Slack-Request-Timestamp", "1531420618")], SLACK_BODY),
    "paddle": ([("Paddle-Signature", "ts=1696195954;h1=dummy;h1=d96299976a6eb066f484d7fde011ac56fc32b38fc9940bc419d6e537fdc6ef02")],
               b"hello-world"),
    "square": ([(":url", "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9"),
                ("x-square-hmacsha256-signature", "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4=")], SQUARE_BODY),
    "twilio": ([(":url", TWILIO_URL), ("X-Twilio-Signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8=")], TWILIO_FORM),
    "shopify": ([("X-Shopify-Hmac-Sha256", "unXxOs41nqtk5v6Btqh9qz9Dh6mprKtn5eLN4XfJwSY="), ("X-Shopify-Topic", "orders/create"),
                 ("X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")],
                b'{"shop_id":954889,"shop_domain":"snowdevil.myshopify.com"}'),
    "gitlab": ([("X-Gitlab-Token", "My-S3cret-Token"), ("X-Gitlab-Event", "Push Hook")], b'{"object_kind":"push"}'),
    "linear": ([("Linear-Signature", "0b32ea4684550ae4533aa9c711d754dfd519c087c590bbc98965730792a3b161")], LINEAR_BODY),
    "discord": ([("X-Signature-Ed25519", "f0bd878adcef1f6d475c9644421905bd02b5de38e0d3ecfc6f58a711962c69cc"
                  "c8dd7c9db312f9bdf08b1e1b8182e27a844da728c5e0dbb5507bf9931c1ed80b"),
                 ("X-Signature-Timestamp", "1700000000")], DISCORD_BODY),
    "hmac": ([("X-Signature", GITHUB_SIG), ("X-Event-Id", "evt_1"), ("X-Event-Type", "order.paid")], GITHUB_BODY),
    "none": ([("X-Event-Id", "evt_2")], b'{"type":"order.paid","id":"x"}'),
}


def delivery(scheme):
    headers, body = DELIVERIES[scheme]
    head = b"".join(f"{name}: {value}\n".encode() for name, value in headers)
    return bytes([SCHEMES.index(scheme)]) + head + b"\n" + body


def write(target, name, data):
    folder = os.path.join("seeds", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


for scheme in SCHEMES:
    for target in ("signature_headers", "processor"):
        write(target, scheme, delivery(scheme))
    write("json_fields", scheme, DELIVERIES[scheme][1])
write("twilio_form", "form", TWILIO_URL.encode() + b"\n" + TWILIO_FORM)
write("twilio_form", "host", b"mycompany.com /myapp.php?foo=1&bar=2\n" + TWILIO_FORM)
write("twilio_form", "json", b"https://mycompany.com/myapp.php?bodySHA256="
      b"0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620\n"
      b'{"property": "value", "boolean": true}')
write("config", "contract", b'[webhooks]\nbind = "127.0.0.1:3000"\nmax-body-bytes = 1048576\n'
      b'[webhooks.idempotency]\nprovider = "in-memory"\nttl-seconds = 86400\n'
      b'[webhooks.sources.stripe]\nvalidator = "stripe"\nsecret = "whsec_example"\ntolerance-seconds = 300\n'
      b'[webhooks.sources.partner]\nvalidator = "hmac"\nsecret = "s"\nheader = "X-Signature"\nprefix = "sha256="\n')
write("config", "unquoted-secret", b'[webhooks.sources.stripe]\nvalidator = "stripe"\nsecret = whsec_live_abc\n')
