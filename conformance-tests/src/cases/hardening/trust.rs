//! §4.4 Certificates and trust (H-26…H-34): sender AP certificates, receiver certificates
//! and SMP metadata.

use std::sync::Arc;
use std::time::Duration;

use sdkgw_certs::{Certificate, PrivateKey};

use super::*;
use crate::cases::announced::refused_send;
use crate::peer::HttpMode;
use crate::pki::{
    BAD_O2O_PEER, EXPIRED_PEER, FOREIGN_PEER, REVOKED_PEER, ROLLOVER_PEER, SMP_ROGUE_SIGNER_PEER,
    SMP_TAMPERED_PEER, SMP_UNSIGNED_PEER,
};

/// A message from the peer signed (and identified) with `cert`/`key`: refused with EBMS:0101.
async fn signed_with(
    ctx: &Ctx,
    c: &mut Checks,
    label: &str,
    cert: Certificate,
    key: PrivateKey,
    codes: &[&str],
) {
    let built = valid_envelope(ctx, UB).and_then(|env| {
        let mut cr = craft(ctx, &env);
        cr.from_ap = cert.common_name().unwrap_or_default().to_owned();
        build(ctx, &cr.signed_by(cert, key)).map(|m| (env, m))
    });
    match built {
        Ok((env, m)) => check_refusal(ctx, c, label, Ok(m), &env.id, codes, false).await,
        Err(e) => c.broken(e),
    }
}

fn neg(ctx: &Ctx, pair: &sdkgw_certs::devpki::Pair) -> Result<(Certificate, PrivateKey), String> {
    ctx.pki.pair(pair).map_err(|e| e.to_string())
}

async fn h26(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    match neg(&ctx, &ctx.pki.manifest.negative.expired_ap) {
        Ok((cert, key)) => {
            signed_with(
                &ctx,
                &mut c,
                "expired AP certificate",
                cert,
                key,
                &["EBMS:0101"],
            )
            .await
        }
        Err(e) => c.broken(e),
    }
    let p = &ctx.extra.not_yet_valid_ap;
    match p.key() {
        Ok(key) => {
            signed_with(
                &ctx,
                &mut c,
                "AP certificate not valid yet (issued by this environment's CA)",
                p.cert.clone(),
                key,
                &["EBMS:0101"],
            )
            .await
        }
        Err(e) => c.broken(e),
    }
    c.outcome()
}

async fn h27(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    match neg(&ctx, &ctx.pki.manifest.negative.revoked_ap) {
        Ok((cert, key)) => {
            signed_with(
                &ctx,
                &mut c,
                "AP certificate listed in the CRL",
                cert,
                key,
                &["EBMS:0101"],
            )
            .await
        }
        Err(e) => c.broken(e),
    }
    c.note("OCSP: the dev PKI has no OCSP responder (see H-29)");
    c.outcome()
}

async fn h30(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    for (label, p, codes) in [
        (
            "self-signed certificate with a valid CN",
            &ctx.extra.self_signed_ap,
            &["EBMS:0101"][..],
        ),
        (
            "issued by this environment's CA without digitalSignature key usage",
            &ctx.extra.wrong_key_usage_ap,
            &["EBMS:0101", "EBMS:0103"][..],
        ),
    ] {
        match p.key() {
            Ok(key) => signed_with(&ctx, &mut c, label, p.cert.clone(), key, codes).await,
            Err(e) => c.broken(e),
        }
    }
    match neg(&ctx, &ctx.pki.manifest.negative.foreign_ap) {
        Ok((cert, key)) => {
            signed_with(
                &ctx,
                &mut c,
                "chain to another environment's CA",
                cert,
                key,
                &["EBMS:0101"],
            )
            .await
        }
        Err(e) => c.broken(e),
    }
    c.note("not covered here: an intermediate with CA:false, a pathLen violation, RSA-1024 (they need a second CA chain; the x509 layer's path tests cover them)");
    c.outcome()
}

/// Cases that make the target send: needs-environment remotely.
fn needs_sender(ctx: &Ctx, id: &str) -> Option<Outcome> {
    ctx.mailbox.is_none().then(|| {
        Outcome::needs_environment(format!(
            "{id} makes the target send: configure [target.api]"
        ))
    })
}

async fn h31(ctx: Arc<Ctx>) -> Outcome {
    if let Some(o) = needs_sender(&ctx, "H-31") {
        return o;
    }
    let mut c = Checks::new();
    let t = ctx.traps.clone();
    c.note(format!("{EXPIRED_PEER}: expired AP certificate in SMP"));
    refused_send(
        &ctx,
        &mut c,
        EXPIRED_PEER,
        &t.expired,
        &["expired", "validity", "not valid"],
    )
    .await;
    c.note(format!("{REVOKED_PEER}: revoked AP certificate in SMP"));
    refused_send(&ctx, &mut c, REVOKED_PEER, &t.revoked, &["revoked"]).await;
    c.note(format!(
        "{FOREIGN_PEER}: AP certificate of another environment in SMP"
    ));
    refused_send(
        &ctx,
        &mut c,
        FOREIGN_PEER,
        &t.other_federation,
        &[
            "environment",
            "untrusted",
            "issuer",
            "pinned",
            "not valid",
            "invalid",
        ],
    )
    .await;
    c.outcome()
}

async fn h32(ctx: Arc<Ctx>) -> Outcome {
    if let Some(o) = needs_sender(&ctx, "H-32") {
        return o;
    }
    let mut c = Checks::new();
    let trap = ctx.traps.defects.clone();
    let cause = ["signature", "signed", "signer", "untrusted", "trust"];
    for (p, what) in [
        (SMP_UNSIGNED_PEER, "unsigned SignedServiceMetadata"),
        (SMP_TAMPERED_PEER, "metadata changed after signing"),
        (
            SMP_ROGUE_SIGNER_PEER,
            "metadata signed by a certificate outside the SMP CA",
        ),
    ] {
        c.note(format!("{p}: {what}"));
        refused_send(&ctx, &mut c, p, &trap, &cause).await;
    }
    c.note("revoked SMP signer: not covered (the dev PKI revokes no SMP certificate)");
    c.outcome()
}

async fn h33(ctx: Arc<Ctx>) -> Outcome {
    if let Some(o) = needs_sender(&ctx, "H-33") {
        return o;
    }
    let mut c = Checks::new();
    let trap = ctx.traps.defects.clone();
    c.note(format!("{BAD_O2O_PEER}: CertPub encryption certificate expired and issued by the AP CA (not an O2O issuer)"));
    refused_send(
        &ctx,
        &mut c,
        BAD_O2O_PEER,
        &trap,
        &["encryption", "certpub", "o2o", "expired", "certificate"],
    )
    .await;
    c.outcome()
}

async fn h34(ctx: Arc<Ctx>) -> Outcome {
    let (Some(api), Some(gut)) = (ctx.mailbox.as_ref(), ctx.gut.as_ref()) else {
        return Outcome::needs_environment(
            "H-34 changes the SMP entry while the target retries: the target must send and use the suite's SMP",
        );
    };
    let mut c = Checks::new();
    let to: sdkgw_schemas::ParticipantId = match ROLLOVER_PEER.parse() {
        Ok(p) => p,
        Err(e) => return Outcome::broken(e),
    };
    // Before: the SMP publishes another valid AP certificate of this environment (the
    // target's own); the first attempt meets a busy receiver (503).
    let old = match ctx.pki.cert(&ctx.pki.gut().ap.cert) {
        Ok(c) => c,
        Err(e) => return Outcome::broken(e),
    };
    ctx.smp
        .fake
        .update_participant(&to, |p| p.ap_certificate = old);
    ctx.peer.knobs.set_http(HttpMode::Status(503));
    let id = match api.send(&to, &ctx.peer.function, "H-34", &[]).await {
        Ok(id) => id,
        Err(e) => return Outcome::broken(e),
    };
    let deadline = tokio::time::Instant::now() + ctx.options.answer_wait;
    loop {
        let attempts = gut
            .records(sdkgw_store::IdKind::XheId, &id)
            .iter()
            .find(|r| r.direction == sdkgw_store::Direction::Outbound)
            .map_or(0, |r| r.attempts);
        if attempts >= 1 || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The certificate rolls over while the retry is pending.
    let new = ctx.peer.identity.certificate.clone();
    ctx.smp
        .fake
        .update_participant(&to, |p| p.ap_certificate = new);
    ctx.peer.knobs.reset();
    let wanted = id.clone();
    let got = ctx
        .peer
        .log
        .wait_for(ctx.options.answer_wait, move |e| e.xhe_id == wanted, 1)
        .await;
    c.check(
        !got.is_empty(),
        "the retry used the fresh SMP metadata: delivered, encrypted for the new certificate",
        if got.is_empty() {
            let rec = gut
                .records(sdkgw_store::IdKind::XheId, &id)
                .into_iter()
                .find(|r| r.direction == sdkgw_store::Direction::Outbound);
            rec.map_or("nothing arrived".into(), |r| {
                format!(
                    "nothing arrived; {:?} after {} attempt(s): {}",
                    r.state,
                    r.attempts,
                    r.last_error.unwrap_or_default()
                )
            })
        } else {
            "arrived".into()
        },
    );
    c.outcome()
}

pub(super) fn cases() -> Vec<Case> {
    vec![
        case(
            "H-26",
            "Sender AP certificate expired / not yet valid",
            "[AS4] §2.10",
            "EBMS:0101",
            h26,
        ),
        case(
            "H-27",
            "Sender AP certificate revoked (CRL)",
            "[AS4] §2.10[d]",
            "EBMS:0101",
            h27,
        ),
        Case::needs_environment(
            "H-28",
            Group::Hardening,
            "OCSP down and CRL past nextUpdate",
            "test-cases digest §4 H-28",
            "hard-fail (reject) plus alert",
            "an OCSP responder and a stale CRL configured in the target; the suite starts its gateway with fresh CRLs and the dev PKI has no OCSP (the address book's REV-02 layer test covers a CRL past nextUpdate)",
        ),
        Case::needs_environment(
            "H-29",
            Group::Hardening,
            "OCSP response replayed, signed by an unauthorised responder, or 'unknown'",
            "test-cases digest §4 H-29",
            "not treated as good",
            "an OCSP responder with fault knobs; the dev PKI publishes CRLs only",
        ),
        case(
            "H-30",
            "Chain defects: self-signed with a valid CN, wrong key usage, another environment's chain",
            "[PKIAP]; T-AS4-02",
            "refused",
            h30,
        ),
        case(
            "H-31",
            "Receiver certificate in SMP expired, revoked, of another environment",
            "F-03/F-04; T-AS4-04/05",
            "not sent (no connection), the sender notified",
            h31,
        ),
        case(
            "H-32",
            "SMP metadata unsigned, with an invalid signature, or from an untrusted signer",
            "[AS4] §2.10[f,g]; T-AS4-06",
            "not sent, the sender notified",
            h32,
        ),
        case(
            "H-33",
            "CertPub certificate of the recipient not valid for O2O encryption",
            "[XHE] §3.5; T-E2E-04",
            "the message service does not encrypt to it: not sent, the sender notified",
            h33,
        ),
        case(
            "H-34",
            "Certificate rollover in SMP while a retry is pending",
            "addressing digest CA-07",
            "the retry uses fresh metadata and the new certificate",
            h34,
        ),
    ]
}
