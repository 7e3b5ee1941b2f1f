//! Webhook delivery: `POST` of the JSON notification with an HMAC-SHA256 signature.
//!
//! Headers (verify them like this on the receiving side):
//!
//! * `X-Sdkgw-Timestamp`: Unix seconds when this attempt was sent;
//! * `X-Sdkgw-Signature`: `v1=` + hex HMAC-SHA256(mailbox secret, `<timestamp>.<body>`), over
//!   the exact body bytes. Recompute it, compare in constant time, and reject timestamps more
//!   than 5 minutes from your clock (a captured request cannot be replayed later);
//! * `X-Sdkgw-Delivery`: the notification id — the same on every retry, so a receiver that
//!   got a notification twice (at-least-once delivery) can drop the copy;
//! * `X-Sdkgw-Event`: `message.new` or `delivery.failed`.
//!
//! Any 2xx is success; anything else (or no answer) is retried with backoff.

use http::{HeaderValue, Method, Request, header};
use sdkgw_http::{HttpsClient, OutBody};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-sdkgw-signature";
pub const TIMESTAMP_HEADER: &str = "x-sdkgw-timestamp";
pub const DELIVERY_HEADER: &str = "x-sdkgw-delivery";
pub const EVENT_HEADER: &str = "x-sdkgw-event";

/// `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let mut ctx = aws_lc_rs::hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    let tag = ctx.sign();
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("v1={hex}")
}

/// Checks a received signature (for receivers written in Rust, and our tests): the tag
/// matches in constant time and the timestamp is within `tolerance_secs` of `now`.
pub fn verify(
    secret: &[u8],
    timestamp: &str,
    signature_header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> bool {
    let Ok(ts) = timestamp.parse::<i64>() else {
        return false;
    };
    if (now - ts).abs() > tolerance_secs {
        return false;
    }
    let Some(hex) = signature_header.strip_prefix("v1=") else {
        return false;
    };
    let Some(tag) = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let mut msg = ts.to_string().into_bytes();
    msg.push(b'.');
    msg.extend_from_slice(body);
    aws_lc_rs::hmac::verify(&key, &msg, &tag).is_ok()
}

/// Sends one attempt; `Err` carries a short reason for the retry log.
pub(crate) async fn post(
    client: &HttpsClient,
    url: &str,
    secret: &[u8],
    delivery_id: &str,
    event: &str,
    body: Vec<u8>,
    timestamp: i64,
) -> Result<(), String> {
    let sig = signature(secret, timestamp, &body);
    let value = |v: &str| HeaderValue::from_str(v).map_err(|e| e.to_string());
    let mut req = Request::new(OutBody::full(body));
    *req.method_mut() = Method::POST;
    *req.uri_mut() = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| e.to_string())?;
    let h = req.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::USER_AGENT, HeaderValue::from_static("sdk-gateway"));
    h.insert(SIGNATURE_HEADER, value(&sig)?);
    h.insert(TIMESTAMP_HEADER, value(&timestamp.to_string())?);
    h.insert(DELIVERY_HEADER, value(delivery_id)?);
    h.insert(EVENT_HEADER, value(event)?);
    let resp = client.send(req).await.map_err(|e| e.to_string())?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", resp.status().as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_with_the_key_body_and_a_fresh_timestamp() {
        let body = br#"{"type":"message.new"}"#;
        let sig = signature(b"secret-of-sixteen", 1_700_000_000, body);
        assert!(sig.starts_with("v1=") && sig.len() == 67);
        let ok = |s: &[u8], ts: &str, b: &[u8], now| verify(s, ts, &sig, b, now, 300);
        assert!(ok(b"secret-of-sixteen", "1700000000", body, 1_700_000_100));
        assert!(!ok(b"other-secret-here", "1700000000", body, 1_700_000_100));
        assert!(!ok(b"secret-of-sixteen", "1700000001", body, 1_700_000_100));
        assert!(!ok(
            b"secret-of-sixteen",
            "1700000000",
            b"{}",
            1_700_000_100
        ));
        assert!(
            !ok(b"secret-of-sixteen", "1700000000", body, 1_700_000_301),
            "replay later"
        );
    }
}
