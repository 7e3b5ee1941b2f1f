//! §4.8 Clock skew (H-55…H-57) and §4.9 Resilience and content safety (H-58…H-66): the
//! WS-Security Timestamp window, skewed clocks, envelope and payload times, crashes and a full
//! disk (cited, they need their own processes), answers that are no receipts, malware,
//! attachment types and names, log forging, TLS policy and mailbox isolation.

use std::io::Read as _;
use std::sync::Arc;
use std::time::Duration;

use sdkgw_envelope::message::ContentFile;
use sdkgw_store::{Direction, IdKind, MessageRecord, MessageState};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::messages;
use crate::peer::{Answer, HttpMode};
use crate::pki::UNREACHABLE_PEER;

/// A message from the peer with WS-Security Timestamp `(created, expires)`.
fn timed(
    ctx: &Ctx,
    created: OffsetDateTime,
    expires: OffsetDateTime,
) -> Result<(Envelope, Crafted), String> {
    let env = valid_envelope(ctx, UB)?;
    let mut cr = craft(ctx, &env);
    cr.timestamp = Some((created, Some(expires)));
    build(ctx, &cr).map(|m| (env, m))
}

/// A message inside the tolerated skew: received (signed Receipt) and stored.
async fn accepted_timed(
    ctx: &Ctx,
    c: &mut Checks,
    label: &str,
    built: Result<(Envelope, Crafted), String>,
) {
    let (_, m) = match built {
        Ok(x) => x,
        Err(e) => return c.broken(format!("{label}: {e}")),
    };
    match post(ctx, &m).await {
        Ok(r) => {
            c.check(
                r.is_verified_receipt(),
                format!("{label}: accepted (signed Receipt)"),
                r.summary(),
            );
        }
        Err(e) => return c.broken(format!("{label}: {e}")),
    }
    if ctx.gut.is_some() {
        let n = inbound_records(ctx, &m.message_id).len();
        c.check(
            n == 1,
            format!("{label}: stored once"),
            format!("{n} record(s)"),
        );
    }
}

async fn refused_timed(
    ctx: &Ctx,
    c: &mut Checks,
    label: &str,
    built: Result<(Envelope, Crafted), String>,
) {
    match built {
        Ok((env, m)) => check_refusal(ctx, c, label, Ok(m), &env.id, &["EBMS:0101"], false).await,
        Err(e) => c.broken(format!("{label}: {e}")),
    }
}

async fn h55(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let now = OffsetDateTime::now_utc();
    let min = time::Duration::minutes;
    refused_timed(
        &ctx,
        &mut c,
        "Created 10 min in the future",
        timed(&ctx, now + min(10), now + min(15)),
    )
    .await;
    refused_timed(
        &ctx,
        &mut c,
        "Expires 10 min in the past",
        timed(&ctx, now - min(20), now - min(10)),
    )
    .await;
    accepted_timed(
        &ctx,
        &mut c,
        "Created 2 min in the future (within ±5 min)",
        timed(&ctx, now + min(2), now + min(7)),
    )
    .await;
    accepted_timed(
        &ctx,
        &mut c,
        "Expires 2 min in the past (within ±5 min)",
        timed(&ctx, now - min(8), now - min(2)),
    )
    .await;
    c.outcome()
}

/// The in-process gateway's metrics (`GET /metrics` on its plain-HTTP admin listener).
async fn metrics_text(ctx: &Ctx) -> Result<String, String> {
    let gut = ctx.gut.as_ref().ok_or("not in-process")?;
    let mut s = tokio::net::TcpStream::connect(gut.gateway.ops.admin_addr)
        .await
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .map_err(|_| "no answer from the admin listener within 10 s".to_owned())?
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

async fn h56(ctx: Arc<Ctx>) -> Outcome {
    if let Some(o) = in_process_only(&ctx, "H-56 looks for the target's skew alarm") {
        return o;
    }
    let mut c = Checks::new();
    let mark = mark(&ctx).unwrap_or(0);
    let now = OffsetDateTime::now_utc();
    let (hour, five) = (time::Duration::hours(1), time::Duration::minutes(5));
    // The peer's clock 1 h ahead / behind: what the gateway sees when its own clock is off.
    refused_timed(
        &ctx,
        &mut c,
        "the peer's clock 1 h ahead (Timestamp 1 h in the future)",
        timed(&ctx, now + hour, now + hour + five),
    )
    .await;
    refused_timed(
        &ctx,
        &mut c,
        "the peer's clock 1 h behind (Timestamp expired 1 h ago)",
        timed(&ctx, now - hour - five, now - hour),
    )
    .await;
    let skew_word = |s: &str| {
        let s = s.to_ascii_lowercase();
        s.contains("skew") || s.contains("clock")
    };
    // A skew counter or gauge that moved (a family that is merely registered at 0 is no
    // alarm); the gateway counts from its audit trail, which it ships in the background.
    let alarm_lines = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with('#') && skew_word(l.split(['{', ' ']).next().unwrap_or("")))
            .filter(|l| {
                l.rsplit(' ')
                    .next()
                    .and_then(|v| v.parse::<f64>().ok())
                    .is_some_and(|v| v != 0.0)
            })
            .map(str::to_owned)
            .collect()
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let (metrics, metric_alarm) = loop {
        let metrics = metrics_text(&ctx).await;
        let alarm = alarm_lines(metrics.as_deref().unwrap_or_default());
        if !alarm.is_empty() || tokio::time::Instant::now() >= deadline {
            break (metrics, alarm);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let audit_alarm: Vec<String> = ctx
        .gut
        .as_ref()
        .map(|g| g.audit_since(mark))
        .unwrap_or_default()
        .into_iter()
        .filter(|e| skew_word(&e.action))
        .map(|e| e.action)
        .collect();
    c.check(
        !metric_alarm.is_empty() || !audit_alarm.is_empty(),
        "an alarm on the clock skew detected against the peer (a clock/skew metric or audit event, \
         not only the EBMS:0101 refusal)",
        match &metrics {
            Ok(_) if metric_alarm.is_empty() && audit_alarm.is_empty() => {
                "none: no metric and no audit event names clock skew; the refusals are plain \
                 as4.inbound.rejected events"
                    .to_owned()
            }
            Ok(_) => format!("metrics {metric_alarm:?}, audit {audit_alarm:?}"),
            Err(e) => format!("metrics unreadable ({e}); audit {audit_alarm:?}"),
        },
    );
    c.note(
        "not decidable in-process: the gateway's own clock skewed by ±1 h — it reads the system \
         clock (OffsetDateTime::now_utc) and has no injectable clock. Certificate validity and \
         CRL/OCSP freshness decided at a given instant are covered by \
         gateway/xml-security/tests/x509_paths.rs \
         (rejects_expired_and_not_yet_valid_certificates_at_the_given_instant, \
         stale_crl_fails_closed_by_default_and_is_used_within_grace, \
         ocsp_good_revoked_unknown_stale_and_down_with_crl_fallback) and x509_ocsp.rs \
         (checker_accepts_good_refuses_revoked_and_fails_closed_on_stale_or_bad_answers)",
    );
    c.outcome()
}

/// Replaces the text of the first `<tag>…</tag>`.
fn set_element(s: String, tag: &str, value: &str) -> String {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    match (s.find(&open), s.find(&close)) {
        (Some(a), Some(b)) if a < b => format!("{}{open}{value}{}", &s[..a], &s[b..]),
        _ => s,
    }
}

/// A valid envelope from the peer whose XHE `CreationDateTime` is `value` (signed after the
/// change, so the time is the only defect).
fn created_at(ctx: &Ctx, value: &str) -> Result<Envelope, String> {
    let id = new_id();
    let parties = peer_to_target(ctx);
    let payload = messages::minimal(&parties, &id, OffsetDateTime::now_utc())
        .to_xml()
        .map_err(|e| e.to_string())?;
    let header = ub_header(ctx, &parties, &id);
    let enc = target_encryption(ctx)?;
    let v = value.to_owned();
    let bytes = messages::seal_mutated(
        &payload,
        &header,
        Some(enc),
        Some(peer_signer(ctx)),
        &move |s| set_element(s, "xhb:CreationDateTime", &v),
    )?;
    if !String::from_utf8_lossy(&bytes).contains(&format!(">{value}<")) {
        return Err("the CreationDateTime was not replaced".into());
    }
    Ok(Envelope {
        id,
        model: UB,
        bytes,
        parties,
    })
}

async fn h57(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let now = OffsetDateTime::now_utc();
    let local = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    mt_silent(
        &ctx,
        &mut c,
        "XHE CreationDateTime without a time zone (conformance error)",
        created_at(&ctx, &local),
    )
    .await;
    mt_silent(
        &ctx,
        &mut c,
        "XHE CreationDateTime in 2099 (conformance error)",
        created_at(&ctx, "2099-12-31T23:59:59Z"),
    )
    .await;
    // The SDK message's creationDateTime with an offset instead of Z (a valid xs:dateTime).
    let id = new_id();
    let parties = peer_to_target(&ctx);
    let mut m = messages::minimal(&parties, &id, now);
    m.header.creation_date_time = format!("{local}.000+01:00");
    let bytes = m
        .to_xml()
        .map_err(|e| e.to_string())
        .and_then(|x| seal_from_peer(&ctx, &x, &id, UB, Some(ctx.target.function_address.clone())));
    mt_rejects(
        &ctx,
        &mut c,
        "SDK creationDateTime with +01:00 instead of Z",
        &id,
        bytes,
        "BV",
        "invariant",
    )
    .await;
    c.outcome()
}

/// The outbound record of the message the mailbox API accepted as `id`.
fn outbound(ctx: &Ctx, id: &str) -> Option<MessageRecord> {
    ctx.gut.as_ref().and_then(|g| {
        g.records(IdKind::XheId, id)
            .into_iter()
            .find(|r| r.direction == Direction::Outbound)
    })
}

/// The genuine signed AS4 Receipt the peer returned for an earlier message (`id`), as the
/// gateway stored it.
fn stored_receipt(ctx: &Ctx, id: &str) -> Result<Vec<u8>, String> {
    let gut = ctx.gut.as_ref().ok_or("not in-process")?;
    let rec = outbound(ctx, id).ok_or("no outbound record")?;
    let ev = rec
        .evidence
        .iter()
        .find(|e| e.kind == sdkgw_as4::msh::handoff::RECEIPT_EVIDENCE)
        .ok_or_else(|| format!("no stored receipt ({:?})", rec.state))?;
    let mut out = Vec::new();
    gut.store()
        .open_blob(&ev.blob)
        .map_err(|e| e.to_string())?
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
const EBMS: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/";

/// An ebMS signal with one error of severity warning and no receipt.
fn warning_signal(ctx: &Ctx) -> Vec<u8> {
    // The SDK message's timestamp format (milliseconds, Z) is an xs:dateTime.
    let at = messages::minimal(&peer_to_target(ctx), "x", OffsetDateTime::now_utc())
        .header
        .creation_date_time;
    format!(
        "<S12:Envelope xmlns:S12=\"{SOAP12}\" xmlns:eb=\"{EBMS}\"><S12:Header>\
         <eb:Messaging S12:mustUnderstand=\"true\"><eb:SignalMessage><eb:MessageInfo>\
         <eb:Timestamp>{at}</eb:Timestamp><eb:MessageId>{}@sdk-conformance</eb:MessageId>\
         </eb:MessageInfo><eb:Error category=\"Communication\" errorCode=\"EBMS:0006\" \
         origin=\"ebMS\" severity=\"warning\" shortDescription=\"EmptyMessagePartitionChannel\"/>\
         </eb:SignalMessage></eb:Messaging></S12:Header><S12:Body/></S12:Envelope>",
        new_id()
    )
    .into_bytes()
}

/// The waits between a failed attempt and the next one, against the configured schedule:
/// its longest delay — or the peer's circuit breaker, which holds deliveries to a peer back
/// for up to `max(retry.max_delay, pipeline.breaker_open)` after consecutive failures — plus
/// the delivery driver's poll and 7 s of slack; the attempts' own durations are noted.
fn retry_spacing(ctx: &Ctx, c: &mut Checks, label: &str, r: &MessageRecord) {
    let Some(gut) = ctx.gut.as_ref() else { return };
    let cfg = &gut.gateway.shared.config;
    let bound = cfg.retry.max_delay.max(cfg.pipeline.breaker_open) + Duration::from_secs(7);
    let (mut waits, mut attempts) = (Vec::new(), Vec::new());
    let mut last: Option<(MessageState, OffsetDateTime)> = None;
    for h in &r.history {
        match (last, h.to) {
            (Some((MessageState::Sending, t)), _) => attempts.push(h.at - t),
            (Some((MessageState::Scheduled, t)), MessageState::Sending) if !attempts.is_empty() => {
                waits.push(h.at - t)
            }
            _ => {}
        }
        last = Some((h.to, h.at));
    }
    let ms = |d: &[time::Duration]| d.iter().map(|d| d.whole_milliseconds()).collect::<Vec<_>>();
    c.note(format!("{label}: attempts took {:?} ms", ms(&attempts)));
    c.check(
        !waits.is_empty() && waits.iter().all(|w| w.unsigned_abs() <= bound),
        format!(
            "{label}: each retry follows the schedule and the circuit breaker \
             (≤ {} ms after the failed attempt)",
            bound.as_millis()
        ),
        format!("waits {:?} ms", ms(&waits)),
    );
}

/// What the peer answers with (or why it could not be made).
type Body = Result<Vec<u8>, String>;

async fn h60(ctx: Arc<Ctx>) -> Outcome {
    let Some(api) = ctx.mailbox.as_ref() else {
        return Outcome::needs_environment("H-60 makes the target send: configure [target.api]");
    };
    if let Some(o) = in_process_only(&ctx, "H-60 reads the target's outbound records") {
        return o;
    }
    let mut c = Checks::new();
    let (to, to_box) = (ctx.peer.participant().clone(), ctx.peer.function.clone());
    // A control message, normally answered: its genuine signed Receipt is replayed below.
    let control = match api.send(&to, &to_box, "H-60 control", &[]).await {
        Ok(id) => id,
        Err(e) => return Outcome::broken(e),
    };
    let status = api
        .wait_status(
            &control,
            &["WAITING_FOR_RECEIPT", "ACCEPTED", "MESSAGE_EXCHANGE_ERROR"],
            ctx.options.answer_wait,
        )
        .await;
    c.check(
        matches!(status.as_deref(), Some("WAITING_FOR_RECEIPT" | "ACCEPTED")),
        "control: a message answered normally is delivered",
        format!("{status:?}"),
    );
    let old_receipt = stored_receipt(&ctx, &control);
    let max = ctx
        .gut
        .as_ref()
        .map_or(0, |g| g.gateway.shared.config.retry.max_attempts);
    let empty_soap =
        format!("<S12:Envelope xmlns:S12=\"{SOAP12}\"><S12:Header/><S12:Body/></S12:Envelope>")
            .into_bytes();
    let variants: Vec<(&str, HttpMode, Body)> = vec![
        (
            "HTTP 200 with an empty body",
            HttpMode::EmptyOk,
            Ok(Vec::new()),
        ),
        (
            "HTTP 200 with a SOAP envelope that holds no signal",
            HttpMode::Canned,
            Ok(empty_soap),
        ),
        (
            "an ebMS warning (EBMS:0006) without a Receipt",
            HttpMode::Canned,
            Ok(warning_signal(&ctx)),
        ),
        (
            "a genuine signed Receipt for another MessageId (replayed)",
            HttpMode::Canned,
            old_receipt,
        ),
    ];
    for (label, mode, body) in variants {
        let body = match body {
            Ok(b) => b,
            Err(e) => {
                c.broken(format!("{label}: {e}"));
                continue;
            }
        };
        ctx.peer.knobs.set_canned(body);
        ctx.peer.knobs.set_http(mode);
        ctx.peer.knobs.set_answer(Answer::Silent);
        let id = match api.send(&to, &to_box, "H-60", &[]).await {
            Ok(id) => id,
            Err(e) => {
                c.broken(format!("{label}: {e}"));
                ctx.peer.knobs.reset();
                continue;
            }
        };
        let status = api
            .wait_status(
                &id,
                &["MESSAGE_EXCHANGE_ERROR", "ACCEPTED", "WAITING_FOR_RECEIPT"],
                ctx.options.answer_wait,
            )
            .await;
        c.check(
            !matches!(status.as_deref(), Some("WAITING_FOR_RECEIPT" | "ACCEPTED")),
            format!("{label}: not counted as delivered in the sender's mailbox"),
            format!("{status:?}"),
        );
        // The whole retry schedule: until the record is final (or 4 answer waits).
        let final_states = [
            MessageState::DeadLettered,
            MessageState::Failed,
            MessageState::Delivered,
        ];
        let rec = match (outbound(&ctx, &id).map(|r| r.key), ctx.gut.as_ref()) {
            (Some(k), Some(g)) => {
                g.wait_state(&k, &final_states, ctx.options.answer_wait * 4)
                    .await
            }
            _ => None,
        };
        if let Some(r) = &rec {
            retry_spacing(&ctx, &mut c, label, r);
        }
        c.check(
            rec.as_ref().is_some_and(|r| {
                !r.has_been(MessageState::Delivered) && u64::from(r.attempts) == max && max > 1
            }),
            format!("{label}: never delivered, retried per policy ({max} attempts)"),
            rec.map_or("no record".into(), |r| {
                format!(
                    "{:?} after {} attempt(s): {}",
                    r.state,
                    r.attempts,
                    r.last_error.unwrap_or_default()
                )
            }),
        );
        ctx.peer.knobs.reset();
    }
    // The peer answers again: deliveries resume once its circuit's probe succeeds.
    let wait = ctx.gut.as_ref().map_or(Duration::ZERO, |g| {
        g.gateway.shared.config.pipeline.breaker_open
    }) + ctx.options.answer_wait;
    match api.send(&to, &to_box, "H-60 recovery", &[]).await {
        Ok(id) => {
            let status = api
                .wait_status(&id, &["WAITING_FOR_RECEIPT", "ACCEPTED"], wait)
                .await;
            c.check(
                matches!(status.as_deref(), Some("WAITING_FOR_RECEIPT" | "ACCEPTED")),
                "once the peer answers again, deliveries to it resume",
                format!("{status:?}"),
            );
        }
        Err(e) => c.broken(e),
    }
    c.outcome()
}

/// An SDK message from the peer with `files` (name, content type, bytes), sealed.
fn with_files(ctx: &Ctx, files: Vec<ContentFile>) -> (String, Result<Vec<u8>, String>) {
    let id = new_id();
    let parties = peer_to_target(ctx);
    let mut m = messages::minimal(&parties, &id, OffsetDateTime::now_utc());
    m.body.documents[0].files = files;
    let bytes = m
        .to_xml()
        .map_err(|e| e.to_string())
        .and_then(|x| seal_from_peer(ctx, &x, &id, UB, Some(ctx.target.function_address.clone())));
    (id, bytes)
}

/// Not filed in a mailbox, and the rejection (with `word`) on the record.
fn not_filed(ctx: &Ctx, c: &mut Checks, label: &str, id: &str, word: &str) {
    let Some(gut) = &ctx.gut else { return };
    let recs: Vec<MessageRecord> = gut
        .records(IdKind::XheId, id)
        .into_iter()
        .filter(|r| r.direction == Direction::Inbound)
        .collect();
    c.check(
        !recs.is_empty()
            && recs.iter().all(|r| {
                !r.has_been(MessageState::Filed)
                    && r.last_error.as_deref().is_some_and(|e| e.contains(word))
            }),
        format!("{label}: not filed in the mailbox; the record names the cause ({word})"),
        format!(
            "{:?}",
            recs.iter()
                .map(|r| (r.state, r.last_error.clone().unwrap_or_default()))
                .collect::<Vec<_>>()
        ),
    );
}

/// The 68-byte EICAR anti-virus test file.
const EICAR: &str = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

async fn h61(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let (id, bytes) = with_files(
        &ctx,
        vec![ContentFile::new(
            "eicar.pdf",
            "application/pdf",
            EICAR.as_bytes(),
        )],
    );
    mt_rejects(
        &ctx,
        &mut c,
        "the EICAR test file as an attachment",
        &id,
        bytes,
        "BV",
        "forbidden",
    )
    .await;
    not_filed(&ctx, &mut c, "EICAR", &id, "forbidden");
    if let Some(gut) = &ctx.gut {
        let scan = &gut.gateway.shared.config.pipeline.malware_scan_command;
        c.note(if scan.is_empty() {
            "the in-process gateway runs without a malware scanner (pipeline.malware_scan_command \
             is empty, its default)"
                .to_owned()
        } else {
            format!("the in-process gateway scans with {scan:?}")
        });
    }
    c.outcome()
}

async fn h62(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let (id, bytes) = with_files(
        &ctx,
        vec![ContentFile::new(
            "setup.exe",
            "application/x-msdownload",
            b"MZ\x90\x00 not a document",
        )],
    );
    mt_rejects(
        &ctx,
        &mut c,
        "contentType application/x-msdownload",
        &id,
        bytes,
        "BV",
        "not-supported",
    )
    .await;
    let mut bad = ContentFile::new("besked.pdf", "application/pdf", &messages::small_pdf());
    bad.content = "JVBERi0xLjQK$$$$not*base64".into();
    let (id, bytes) = with_files(&ctx, vec![bad]);
    mt_rejects(
        &ctx,
        &mut c,
        "content that is not Base64",
        &id,
        bytes,
        "BV",
        "invariant",
    )
    .await;
    c.outcome()
}

/// The `filename` of a Content-Disposition header.
fn disposition_name(headers: &http::HeaderMap) -> Option<String> {
    let v = headers
        .get(http::header::CONTENT_DISPOSITION)?
        .to_str()
        .ok()?;
    let start = v.find("filename=\"")? + "filename=\"".len();
    let len = v[start..].find('"')?;
    Some(v[start..start + len].to_owned())
}

/// A name that is safe to create as a file: no directory part, no `..`, no device name.
fn safe_file_name(name: &str) -> bool {
    const DEVICES: [&str; 4] = ["CON", "PRN", "AUX", "NUL"];
    let stem = name
        .split('.')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_uppercase();
    let device = DEVICES.contains(&stem.as_str())
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes()[3].is_ascii_digit());
    !name.is_empty()
        && !name.contains(['/', '\\', ':', '\0'])
        && name != "."
        && name != ".."
        && !device
}

async fn h63(ctx: Arc<Ctx>) -> Outcome {
    let (Some(api), Some(_)) = (ctx.mailbox.as_ref(), ctx.gut.as_ref()) else {
        return Outcome::needs_environment(
            "H-63 reads the stored attachments through the target's mailbox API: configure [target.api]",
        );
    };
    let mut c = Checks::new();
    let names = [
        "../../etc/x",
        "/etc/passwd",
        "CON",
        "NUL.txt",
        "..\\..\\windows\\win.ini",
    ];
    let files = names
        .iter()
        .map(|n| ContentFile::new(*n, "application/pdf", &messages::small_pdf()))
        .collect();
    let (id, bytes) = with_files(&ctx, files);
    let bytes = match bytes {
        Ok(b) => b,
        Err(e) => return Outcome::broken(e),
    };
    let got = super::check_answer(
        &ctx,
        &mut c,
        "file names with paths and device names",
        &id,
        &bytes,
        super::Want::Accepted,
    )
    .await;
    if got.is_none() {
        return c.outcome();
    }
    if let Some(gut) = &ctx.gut {
        gut.wait_records(IdKind::XheId, &id, ctx.options.answer_wait, |rs| {
            rs.iter()
                .any(|r| r.direction == Direction::Inbound && r.state == MessageState::Filed)
        })
        .await;
    }
    match api.get(&id).await {
        Ok((200, v)) => {
            let listed: Vec<String> = v["data"]["attributes"]["digitalDocument"][0]["contentFiles"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|f| f["fileName"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            c.note(format!("the message document lists fileName {listed:?}"));
        }
        Ok((s, v)) => c.note(format!("GET /sdk/messages/{id}: {s} {v}")),
        Err(e) => c.note(format!("GET /sdk/messages/{id}: {e}")),
    }
    for (n, sent) in names.iter().enumerate() {
        let path = format!("/sdk/ext/messages/{id}/documents/1/files/{}", n + 1);
        match api.call("GET", &path).await {
            Ok((200, headers, body)) => {
                let name = disposition_name(&headers);
                c.check(
                    name.as_deref().is_some_and(safe_file_name) && body == messages::small_pdf(),
                    format!("{sent:?}: downloaded intact under a sanitised name (no directory, no device)"),
                    format!("Content-Disposition filename {name:?}, {} bytes", body.len()),
                );
            }
            Ok((s, _, body)) => {
                c.check(
                    false,
                    format!("{sent:?}: the stored attachment can be downloaded"),
                    format!("HTTP {s} {}", String::from_utf8_lossy(&body)),
                );
            }
            Err(e) => c.broken(e),
        }
    }
    c.outcome()
}

/// Every `*.jsonl` file under `dir`.
fn jsonl_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            jsonl_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "jsonl") {
            out.push(p);
        }
    }
}

/// Log lines: `(file, line)` of every line of the files.
fn log_lines(files: &[std::path::PathBuf]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for f in files {
        if let Ok(bytes) = std::fs::read(f) {
            for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                out.push((f.display().to_string(), line.to_vec()));
            }
        }
    }
    out
}

async fn h64(ctx: Arc<Ctx>) -> Outcome {
    let Some(gut) = ctx.gut.as_ref() else {
        return Outcome::needs_environment(
            "H-64 reads the target's logs: have its operator search them for the marker of this run",
        );
    };
    let mut c = Checks::new();
    let marker = format!("h64-{}", new_id());
    let forged =
        format!("\r\n{{\"action\":\"forged\",\"marker\":\"{marker}\"}}\u{1b}[2J\u{1b}[31m");
    // 1. AS4: the From PartyId (logged as sending_ap before it is refused) with CR LF.
    let built = valid_envelope(&ctx, UB).and_then(|env| {
        let mut cr = craft(&ctx, &env);
        cr.from_ap = format!("AP0001-DEV {marker}\r\n{{\"action\":\"forged\"}}");
        build(&ctx, &cr).map(|m| (env, m))
    });
    match built {
        Ok((_, m)) => match post(&ctx, &m).await {
            Ok(r) => c.note(format!("AS4 From PartyId with CR LF: {}", r.summary())),
            Err(e) => c.broken(e),
        },
        Err(e) => c.broken(e),
    }
    // 2. The mailbox API: a label and a file name with CR LF and ANSI escapes.
    if let Some(api) = ctx.mailbox.as_ref() {
        let files = vec![(
            format!("bilaga {marker}{forged}.pdf"),
            "application/pdf".to_owned(),
            messages::small_pdf(),
        )];
        let sent = api
            .send(
                ctx.peer.participant(),
                &ctx.peer.function,
                &format!("label {marker}{forged}"),
                &files,
            )
            .await;
        c.note(format!(
            "mailbox API label/fileName with CR LF and ANSI: {sent:?}"
        ));
    }
    // 3. Inbound SDK message: file name and label with CR LF.
    let (id, bytes) = with_files(
        &ctx,
        vec![ContentFile::new(
            format!("inbound {marker}\r\nforged.pdf"),
            "application/pdf",
            &messages::small_pdf(),
        )],
    );
    match bytes {
        Ok(b) => match ctx.peer.send_xhe(&b, &ctx.target).await {
            Ok(s) => c.note(format!(
                "inbound file name with CR LF ({id}): {}",
                s.summary()
            )),
            Err(e) => c.broken(e),
        },
        Err(e) => c.broken(e),
    }
    // The audit log files (and the process log, when the run writes one).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut files = Vec::new();
    let mut lines;
    loop {
        files.clear();
        jsonl_files(gut.data_dir.path(), &mut files);
        if let Some(f) = &ctx.options.log_file {
            files.push(f.clone());
        }
        lines = log_lines(&files);
        let seen = lines
            .iter()
            .any(|(_, l)| String::from_utf8_lossy(l).contains(&marker));
        if seen || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let with_marker: Vec<&(String, Vec<u8>)> = lines
        .iter()
        .filter(|(_, l)| String::from_utf8_lossy(l).contains(&marker))
        .collect();
    c.check(
        !with_marker.is_empty(),
        "the hostile values reached the logs (so their escaping is observed)",
        format!(
            "{} line(s) with the marker in {} log file(s)",
            with_marker.len(),
            files.len()
        ),
    );
    let bad: Vec<String> = lines
        .iter()
        .filter(|(_, l)| {
            l.contains(&0x1b)
                || l.contains(&b'\r')
                || serde_json::from_slice::<serde_json::Value>(l).map_or(true, |v| !v.is_object())
        })
        .map(|(f, l)| format!("{f}: {}", String::from_utf8_lossy(&l[..l.len().min(160)])))
        .collect();
    c.check(
        bad.is_empty(),
        "every log line is one JSON object: CR, LF and ESC escaped, no forged line",
        if bad.is_empty() {
            format!("{} line(s) checked", lines.len())
        } else {
            format!("{} bad line(s), e.g. {:?}", bad.len(), bad.first())
        },
    );
    let forged_lines = lines
        .iter()
        .filter(|(_, l)| l.starts_with(b"{\"action\":\"forged\""))
        .count();
    c.check(
        forged_lines == 0,
        "no line starts with the injected JSON",
        format!("{forged_lines}"),
    );
    if ctx.options.log_file.is_none() {
        c.note("the process's tracing output is not captured in this run (Options::log_file unset): only the audit log files were read");
    }
    c.outcome()
}

/// A raw TLS ClientHello offering `version` and `suites` (with the extensions a TLS 1.2
/// server needs for ECDHE-RSA).
fn client_hello(version: [u8; 2], suites: &[u16]) -> Vec<u8> {
    let mut ext = Vec::new();
    let mut push = |ty: u16, data: &[u8]| {
        ext.extend_from_slice(&ty.to_be_bytes());
        ext.extend_from_slice(&(data.len() as u16).to_be_bytes());
        ext.extend_from_slice(data);
    };
    push(0x000a, &[0, 4, 0x00, 0x1d, 0x00, 0x17]); // supported_groups: x25519, P-256
    push(0x000b, &[1, 0]); // ec_point_formats: uncompressed
    push(0x000d, &[0, 6, 0x08, 0x04, 0x04, 0x01, 0x05, 0x01]); // rsa_pss_sha256, rsa_pkcs1
    push(0x0017, &[]); // extended_master_secret
    push(0xff01, &[0]); // renegotiation_info
    let mut body = version.to_vec();
    body.extend_from_slice(&[0x5a; 32]);
    body.push(0);
    body.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for s in suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1u8];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// Sends a ClientHello to the AS4 endpoint: `Ok(true)` when the server answered with a
/// ServerHello (negotiated), `Ok(false)` for an alert or a closed connection.
async fn hello(ctx: &Ctx, record: &[u8]) -> Result<(bool, String), String> {
    let uri: http::Uri = ctx
        .target
        .as4_url
        .parse()
        .map_err(|e: http::uri::InvalidUri| e.to_string())?;
    let host = uri.host().ok_or("no host")?.to_owned();
    let port = uri.port_u16().unwrap_or(443);
    let mut s = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| e.to_string())?;
    s.write_all(record).await.map_err(|e| e.to_string())?;
    let mut buf = [0u8; 64];
    match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
        Ok(Ok(n)) if n >= 6 && buf[0] == 0x16 && buf[5] == 0x02 => Ok((true, "ServerHello".into())),
        Ok(Ok(n)) if n >= 7 && buf[0] == 0x15 => Ok((false, format!("alert {}", buf[6]))),
        Ok(Ok(0)) | Ok(Err(_)) => Ok((false, "connection closed".into())),
        Ok(Ok(n)) => Ok((false, format!("other answer {:02x?}", &buf[..n.min(8)]))),
        Err(_) => Ok((false, "no answer within 10 s".into())),
    }
}

/// A TLS client without a certificate, or with `identity`.
fn tls_client(
    ctx: &Ctx,
    identity: Option<sdkgw_http::TlsIdentity>,
) -> Result<crate::peer::wire::WireClient, String> {
    let tls = sdkgw_http::tls::client_config(&sdkgw_http::ClientTlsSettings {
        identity,
        server_trust: ctx.pki.tls_anchors().map_err(|e| e.to_string())?,
        hostname: sdkgw_http::HostnameVerification::Verify,
    })
    .map_err(|e| e.to_string())?;
    Ok(crate::peer::wire::WireClient::new(
        sdkgw_http::ClientSettings::new(tls),
    ))
}

/// A TLS server certificate issued by the run's TLS intermediate for `names`, valid from
/// `from` to `to` (with the intermediate: a chain the target trusts).
fn tls_server_identity(
    ctx: &Ctx,
    names: &[&str],
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<sdkgw_http::TlsIdentity, String> {
    let ca = &ctx.pki.manifest.ca;
    let err = |e: rcgen::Error| e.to_string();
    let ca_pem =
        std::fs::read_to_string(ctx.pki.path(&ca.tls_intermediate)).map_err(|e| e.to_string())?;
    let ca_key =
        std::fs::read_to_string(ctx.pki.path(&ca.tls_intermediate.replace(".pem", ".key")))
            .map_err(|e| e.to_string())?;
    let issuer = rcgen::Issuer::from_ca_cert_pem(
        &ca_pem,
        rcgen::KeyPair::from_pem_and_sign_algo(&ca_key, &rcgen::PKCS_RSA_SHA256).map_err(err)?,
    )
    .map_err(err)?;
    let key = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        .map_err(err)?;
    let mut p =
        rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .map_err(err)?;
    p.distinguished_name
        .push(rcgen::DnType::CommonName, names[0]);
    p.not_before = from;
    p.not_after = to;
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = p.signed_by(&key, &issuer).map_err(err)?;
    let leaf = sdkgw_certs::Certificate::from_der(cert.der()).map_err(|e| e.to_string())?;
    let intermediate = ctx
        .pki
        .cert(&ca.tls_intermediate)
        .map_err(|e| e.to_string())?;
    let pk = sdkgw_certs::private_key_from_pem(key.serialize_pem().as_bytes())
        .map_err(|e| e.to_string())?;
    sdkgw_http::TlsIdentity::new(&[leaf, intermediate], &pk).map_err(|e| e.to_string())
}

/// Counts the requests that got through the TLS handshake.
struct Counter(Arc<std::sync::atomic::AtomicUsize>);

impl sdkgw_http::Handler for Counter {
    async fn handle(
        &self,
        _request: http::Request<sdkgw_http::RequestBody>,
        _connection: Arc<sdkgw_http::ConnectionInfo>,
    ) -> http::Response<sdkgw_http::OutBody> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        http::Response::new(sdkgw_http::OutBody::empty())
    }
}

/// The target sends to a receiver whose TLS server presents `identity`: the handshake must
/// fail (nothing reaches the receiver), the message is not delivered.
async fn send_to_tls(
    ctx: &Ctx,
    c: &mut Checks,
    label: &str,
    identity: Result<sdkgw_http::TlsIdentity, String>,
) {
    let (Some(api), Some(gut)) = (ctx.mailbox.as_ref(), ctx.gut.as_ref()) else {
        return c.broken("no mailbox API / not in-process");
    };
    let setup = async {
        let identity = identity?;
        let anchors = ctx.pki.tls_anchors().map_err(|e| e.to_string())?;
        let tls =
            sdkgw_http::tls::mtls_server_config(&identity, &anchors).map_err(|e| e.to_string())?;
        let server = sdkgw_http::Server::bind(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            tls,
            sdkgw_http::ServerSettings::default(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let port = server.local_addr().map_err(|e| e.to_string())?.port();
        Ok::<_, String>((server, port))
    };
    let (server, port) = match setup.await {
        Ok(x) => x,
        Err(e) => return c.broken(format!("{label}: {e}")),
    };
    let reached = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(
        server.serve(Arc::new(Counter(Arc::clone(&reached))), async move {
            let _ = stopped.await;
        }),
    );
    let to: sdkgw_schemas::ParticipantId = match UNREACHABLE_PEER.parse() {
        Ok(p) => p,
        Err(e) => return c.broken(e),
    };
    let url = format!("https://localhost:{port}/as4");
    ctx.smp
        .fake
        .update_participant(&to, |p| p.endpoint_url = url.clone());
    gut.gateway
        .shared
        .address_book
        .book
        .invalidate_participant(&to);
    let sent = api.send(&to, &ctx.peer.function, "H-65", &[]).await;
    match sent {
        Ok(id) => {
            let key = outbound(ctx, &id).map(|r| r.key);
            let rec = match key {
                Some(k) => settle(ctx, &k, ctx.options.answer_wait).await,
                None => None,
            };
            let status = api.status(&id).await;
            c.check(
                rec.as_ref()
                    .is_some_and(|r| !r.has_been(MessageState::Delivered))
                    && !matches!(status.as_deref(), Some("WAITING_FOR_RECEIPT" | "ACCEPTED")),
                format!("{label}: the target refuses the receiver, not delivered"),
                rec.map_or("no record".into(), |r| {
                    format!(
                        "{:?} after {} attempt(s): {}; mailbox {status:?}",
                        r.state,
                        r.attempts,
                        r.last_error.unwrap_or_default()
                    )
                }),
            );
        }
        Err(e) => c.note(format!("{label}: refused at submission: {e}")),
    }
    let n = reached.load(std::sync::atomic::Ordering::SeqCst);
    c.check(
        n == 0,
        format!("{label}: no request got through the handshake"),
        format!("{n} request(s)"),
    );
    let back = ctx.traps.unreachable_url.clone();
    ctx.smp
        .fake
        .update_participant(&to, |p| p.endpoint_url = back.clone());
    gut.gateway
        .shared
        .address_book
        .book
        .invalidate_participant(&to);
    let _ = stop.send(());
}

async fn h65(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    // Inbound: protocol versions and cipher suites, with a control that does negotiate.
    let strong = [0xc02f, 0xc030];
    for (label, version, suites, want) in [
        (
            "control: TLS 1.2 with ECDHE-RSA-AES-GCM",
            [3, 3],
            &strong[..],
            true,
        ),
        ("TLS 1.0", [3, 1], &[0xc013, 0xc014, 0x002f][..], false),
        ("TLS 1.1", [3, 2], &[0xc013, 0xc014, 0x002f][..], false),
        (
            "TLS 1.2 with only RC4, 3DES, NULL and static-RSA CBC suites",
            [3, 3],
            &[0x0004, 0x000a, 0x0001, 0x002f, 0x0035][..],
            false,
        ),
    ] {
        match hello(&ctx, &client_hello(version, suites)).await {
            Ok((negotiated, seen)) => {
                c.check(
                    negotiated == want,
                    format!(
                        "{label}: {}",
                        if want {
                            "negotiated"
                        } else {
                            "handshake refused"
                        }
                    ),
                    seen,
                );
            }
            Err(e) => c.broken(e),
        }
    }
    // Inbound mTLS: no client certificate, an untrusted one.
    for (label, identity) in [
        ("no client certificate", None),
        (
            "a self-signed client certificate",
            Some(ctx.extra.untrusted_tls_client.clone()),
        ),
    ] {
        let built = conformant(&ctx);
        let (env, m) = match built {
            Ok(x) => x,
            Err(e) => {
                c.broken(e);
                continue;
            }
        };
        let client = match tls_client(&ctx, identity) {
            Ok(cl) => cl,
            Err(e) => {
                c.broken(e);
                continue;
            }
        };
        let (ct, body) = match m.multipart().await {
            Ok(x) => x,
            Err(e) => {
                c.broken(e);
                continue;
            }
        };
        let r = client
            .post(&ctx.target.as4_url, &ct, body, &ctx.target.ap_certificate)
            .await;
        c.check(
            r.status.is_none(),
            format!("{label}: the TLS handshake is refused (no HTTP answer)"),
            r.summary(),
        );
        no_leak(&ctx, &mut c, &m.message_id, &env.id, None).await;
    }
    // Outbound: the receiver's TLS certificate names another host / has expired.
    if ctx.mailbox.is_some() && ctx.gut.is_some() {
        let now = OffsetDateTime::now_utc();
        let days = time::Duration::days;
        let c2 = Arc::clone(&ctx);
        let wrong = tokio::task::spawn_blocking(move || {
            tls_server_identity(
                &c2,
                &["wrong-host.example.se"],
                now - days(1),
                now + days(30),
            )
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        send_to_tls(
            &ctx,
            &mut c,
            "receiver TLS certificate for another host name",
            wrong,
        )
        .await;
        let c3 = Arc::clone(&ctx);
        let expired = tokio::task::spawn_blocking(move || {
            tls_server_identity(
                &c3,
                &["localhost", "127.0.0.1"],
                now - days(30),
                now - days(1),
            )
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        send_to_tls(&ctx, &mut c, "receiver TLS certificate expired", expired).await;
    } else {
        c.note("outbound variants (hostname mismatch, expired receiver certificate) need the target to send: in-process only");
    }
    still_serving(&ctx, &mut c).await;
    c.outcome()
}

async fn h66(ctx: Arc<Ctx>) -> Outcome {
    let (Some(gut), Some(api_a)) = (ctx.gut.as_ref(), ctx.mailbox.as_ref()) else {
        return Outcome::needs_environment(
            "H-66 needs a second tenant with its own credentials on the target: in-process only (or two API clients from its operator)",
        );
    };
    let mut c = Checks::new();
    let registry = &gut.gateway.ops.registry;
    let box_b = match sdkgw_schemas::FunctionAddress::parse("gut.example.se-h66-tenant-b") {
        Ok(f) => f,
        Err(e) => return Outcome::broken(e),
    };
    let now = OffsetDateTime::now_utc();
    // The operator adds mailbox B (`sdkgw mailbox add`) and a client for it only.
    if let Err(e) = registry.add(
        box_b.clone(),
        ctx.target.participant.clone(),
        Some("H-66 tenant B".into()),
        sdkgw_server::mailbox::NotificationChange::default(),
        "sdk-conformance",
        now,
    ) {
        return Outcome::broken(format!("adding mailbox B: {e}"));
    }
    let api_b = match gut
        .mailbox_api_with(&ctx.pki, vec![box_b.as_str().to_owned()])
        .await
    {
        Ok(a) => a,
        Err(e) => return Outcome::broken(e),
    };
    // One message into each mailbox.
    let a = valid_envelope(&ctx, UB);
    let b = {
        let id = new_id();
        let mut parties = peer_to_target(&ctx);
        parties.to_function = box_b.clone();
        messages::minimal(&parties, &id, now)
            .to_xml()
            .map_err(|e| e.to_string())
            .and_then(|x| {
                let h = messages::header(
                    &parties,
                    &id,
                    UB,
                    ctx.target.federation(),
                    Some(box_b.clone()),
                );
                let enc = target_encryption(&ctx)?;
                messages::seal(&x, &h, Some(enc), Some(peer_signer(&ctx)))
            })
            .map(|bytes| (id, bytes))
    };
    let (a, b) = match (a, b) {
        (Ok(a), Ok(b)) => ((a.id, a.bytes), b),
        (Err(e), _) | (_, Err(e)) => return Outcome::broken(e),
    };
    for (label, (id, bytes), mailbox) in
        [("A", &a, &ctx.target.function_address), ("B", &b, &box_b)]
    {
        match ctx.peer.send_xhe(bytes, &ctx.target).await {
            Ok(s) => {
                c.check(
                    s.delivered(),
                    format!("a message for mailbox {label} is received"),
                    s.summary(),
                );
            }
            Err(e) => c.broken(e),
        }
        let recs = gut
            .wait_records(IdKind::XheId, id, ctx.options.answer_wait, |rs| {
                rs.iter()
                    .any(|r| r.direction == Direction::Inbound && r.state == MessageState::Filed)
            })
            .await;
        c.check(
            recs.iter().any(|r| {
                r.state == MessageState::Filed && r.mailbox.as_deref() == Some(mailbox.as_str())
            }),
            format!("filed in mailbox {label} ({})", mailbox.as_str()),
            format!(
                "{:?}",
                recs.iter()
                    .map(|r| (r.state, r.mailbox.clone()))
                    .collect::<Vec<_>>()
            ),
        );
    }
    let (id_a, id_b) = (&a.0, &b.0);
    // Each tenant sees its own message…
    for (label, api, id) in [("A", api_a, id_a), ("B", &api_b, id_b)] {
        let got = api.get(id).await.map(|(s, _)| s);
        c.check(
            got == Ok(200),
            format!("{label} reads its own message"),
            format!("{got:?}"),
        );
    }
    // …and nothing of the other's: message, attachment list, file, acknowledgement, feed.
    for (who, api, other, id) in [("B", &api_b, "A", id_a), ("A", api_a, "B", id_b)] {
        for (method, path) in [
            ("GET", format!("/sdk/messages/{id}")),
            ("GET", format!("/sdk/ext/messages/{id}/documents/1/files/1")),
            ("POST", format!("/sdk/ext/messages/{id}/ack")),
        ] {
            match api.call(method, &path).await {
                Ok((s, _, body)) => {
                    c.check(
                        s == 404 || s == 403,
                        format!(
                            "{who}'s credentials: {method} {path} of {other}'s message refused"
                        ),
                        format!(
                            "HTTP {s} {}",
                            String::from_utf8_lossy(&body[..body.len().min(120)])
                        ),
                    );
                }
                Err(e) => c.broken(e),
            }
        }
        let own = if who == "A" { id_a } else { id_b };
        for path in ["/sdk/messages", "/sdk/ext/changes"] {
            match api.call("GET", path).await {
                Ok((s, _, body)) => {
                    let text = String::from_utf8_lossy(&body);
                    if !text.contains(own.as_str()) {
                        c.note(format!(
                            "{who}'s GET {path} does not show {who}'s own message either (HTTP {s}, {} bytes): \
                             the check below is weak there",
                            body.len()
                        ));
                    }
                    c.check(
                        s == 200 && !text.contains(id.as_str()),
                        format!(
                            "{who}'s credentials: GET {path} shows nothing of {other}'s message"
                        ),
                        format!(
                            "HTTP {s}, {} bytes, mentions it: {}",
                            body.len(),
                            text.contains(id.as_str())
                        ),
                    );
                }
                Err(e) => c.broken(e),
            }
        }
    }
    // B may not send as A's mailbox.
    let as_a = api_b
        .send_as(
            &ctx.target.participant,
            &ctx.target.function_address,
            ctx.peer.participant(),
            &ctx.peer.function,
            "H-66 as A",
        )
        .await;
    c.check(
        as_a.is_err(),
        "B's credentials cannot send from A's mailbox",
        match &as_a {
            Ok(id) => format!("accepted as {id}"),
            Err(e) => e.clone(),
        },
    );
    c.note("the target's logs (audit trail) are not reachable through the mailbox API at all; the change feed is its only log-like view");
    if let Err(e) = registry.remove(&box_b, "sdk-conformance", OffsetDateTime::now_utc()) {
        c.note(format!("removing mailbox B: {e}"));
    }
    c.outcome()
}

pub(super) fn cases() -> Vec<Case> {
    vec![
        case(
            "H-55",
            "WS-Security Timestamp in the future / expired; inside the tolerance",
            "[AS4] §2.10; F-08",
            "outside ±5 min: EBMS:0101; inside: accepted",
            h55,
        ),
        case(
            "H-56",
            "Clock skew of ±1 h between the peer and the target",
            "test-cases digest §4.8",
            "refused with EBMS:0101, and an alarm on the skew; validity decisions at a skewed clock correct",
            h56,
        ),
        case(
            "H-57",
            "XHE CreationDateTime without time zone or far in the future; SDK creationDateTime not in Z",
            "[XHE] GW-XHE-2; MessageConstraints creationDateTime",
            "XHE: conformance error (no receipt, not delivered); SDK: REJECTED BV invariant",
            h57,
        ),
        Case::needs_environment(
            "H-58",
            Group::Hardening,
            "Gateway killed between receiving and persisting",
            "test-cases digest §4 H-58",
            "no Receipt before the durable write; after restart no loss, no duplicate",
            "SIGKILL of the gateway needs it in a process of its own: the in-process gateway shares the suite's process. Covered by gateway/server/tests/crash_pipeline.rs (kill_9_during_delivery_and_during_filing_loses_nothing_and_duplicates_nothing: two `sdkgw serve` processes, each SIGKILLed twice while messages are between AS4 reception and filing or between sealing and the receipt, restarted on the same data; every acknowledged message ACCEPTED once and filed exactly once) and gateway/store/tests/crash.rs (acknowledged_writes_survive_sigkill_at_random_moments)",
        ),
        Case::needs_environment(
            "H-59",
            Group::Hardening,
            "Disk full during a 100 MB receive",
            "test-cases digest §4 H-59",
            "an error, no Receipt, cleanup, an alert",
            "a size-limited file system (tmpfs, needs root) under the gateway's data and spool directories; the in-process gateway's data directory is a temporary directory on the shared disk, which the suite must not fill. Only the store layer is covered: gateway/store/tests/bad_conditions.rs full_disk_fails_the_write_with_a_clear_error_and_leaves_nothing_partial (DiskFull on a 48 MB tmpfs, temp file removed, nothing partial; it returns without testing when mounting is not permitted) and the unit test local_sink_failures_are_not_blamed_on_the_peer in gateway/as4/src/compress.rs. No test covers the AS4 receive answering without a Receipt and alerting on a full disk",
        ),
        case(
            "H-60",
            "The peer answers 200 with an empty or non-receipt body, an ebMS warning, or a Receipt for another MessageId",
            "[AS4] §2.6; T-AS4-09",
            "not delivered; retried per policy",
            h60,
        ),
        case(
            "H-61",
            "The EICAR test file as an attachment",
            "B1.3.3 row 3; [GRR] §3.7[g]",
            "REJECTED BV forbidden plus an incident; not filed",
            h61,
        ),
        case(
            "H-62",
            "Unsupported contentType; content that is not Base64",
            "B1.3.3 row 8; GW-MSG-2",
            "REJECTED BV not-supported; BV (invariant)",
            h62,
        ),
        case(
            "H-63",
            "fileName with a path, an absolute path, device names",
            "DESIGN §4",
            "stored, and offered under a sanitised name",
            h63,
        ),
        case(
            "H-64",
            "CR LF and ANSI escapes in party ids, file names and labels",
            "DESIGN §4",
            "escaped in the logs: no forged line",
            h64,
        ),
        case(
            "H-65",
            "TLS 1.0/1.1, weak ciphers, missing or untrusted client certificate; receiver certificate for another host or expired",
            "[AS4] §2.4",
            "the handshake refused; nothing sent to a receiver that fails the checks",
            h65,
        ),
        case(
            "H-66",
            "Multi-tenant isolation: another mailbox's client",
            "[GRR] §3.3",
            "A's messages, files and feed never reachable with B's credentials (and back)",
            h66,
        ),
    ]
}
