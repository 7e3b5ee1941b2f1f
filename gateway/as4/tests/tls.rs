//! The AS4 listener requires a client certificate from the TLS trust store (T33): a client
//! without one, or with one from another CA (here: an AP certificate, valid for AS4 message
//! level but not for TLS), does not get past the handshake; nothing is processed or stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{ORG_A, ORG_B, XheSpec, node, pki};
use sdkgw_as4::msh::{AttemptOutcome, OutboundSettings, Sender};
use sdkgw_http::{ClientSettings, ClientTlsSettings, HostnameVerification, TlsIdentity};

async fn send_with_client_identity(identity: Option<TlsIdentity>) {
    let (a, b) = (node(0).await, node(1).await);
    let p = pki();
    let tls = sdkgw_http::tls::client_config(&ClientTlsSettings {
        identity,
        server_trust: p.tls_anchors(),
        hostname: HostnameVerification::Verify,
    })
    .unwrap();
    let sender = Sender::new(
        Arc::new(a.identity.clone()),
        Arc::new(p.message_trust()),
        ClientSettings::new(tls),
        OutboundSettings::new(a.spool.clone()),
    );
    let (out, _p) = common::prepared(&a, &XheSpec::message(ORG_A, ORG_B));
    let attempt = sender.attempt(&out, &b.route()).await;
    match &attempt.outcome {
        AttemptOutcome::Fail(f) | AttemptOutcome::Retry(f) => {
            assert_eq!(f.code, Some("EBMS:0005"), "{}", f.reason);
        }
        other => panic!("the handshake must be refused: {other:?}"),
    }
    assert!(
        b.store
            .list_messages(&Default::default())
            .unwrap()
            .is_empty()
    );
    assert!(
        b.store.audit(0, 10).unwrap().is_empty(),
        "the handler never ran"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_without_certificate_is_refused() {
    send_with_client_identity(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_with_untrusted_certificate_is_refused() {
    let p = pki();
    let (cert, key) = p.pair(&p.org(0).ap);
    let identity = TlsIdentity::new(&[cert, p.cert(&p.manifest.ca.ap_intermediate)], &key).unwrap();
    send_with_client_identity(Some(identity)).await;
}
