//! The address book the run uses: the address book's fake SMP (signed with the suite PKI's
//! SMP signer, served over HTTPS with its SMP TLS certificate), publishing the peer, its
//! trap participants (TestAP-02..05 and the announced cases) and — in-process — the gateway
//! under test. Trap endpoints count every connection attempt, so "nothing was sent" is
//! observed rather than assumed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sdkgw_address_book::fake::{
    Canned, DevPkiOptions, FakeParticipant, FakeSmp, RunningSmp, SignatureStyle, Signer,
    from_dev_pki, metadata_xml, sign_metadata, tls_identity_from_dev_pki,
};
use sdkgw_certs::Certificate;
use sdkgw_schemas::{DocumentId, ParticipantId, TransportModel, codelists};

use crate::peer::Peer;
use crate::pki::{
    BAD_O2O_PEER, EXPIRED_PEER, FOREIGN_PEER, HTTP_ENDPOINT_PEER, NO_MESSAGE_TYPE_PEER,
    OPEN_TEST_PEER, OTHER_FEDERATION_PEER, REVOKED_PEER, ROLLOVER_PEER, SMP_ROGUE_SIGNER_PEER,
    SMP_TAMPERED_PEER, SMP_UNSIGNED_PEER, SuitePki, UNREACHABLE_PEER, WRONG_PROFILE_PEER,
};

/// A TCP endpoint that counts connection attempts and answers none.
#[derive(Debug, Clone)]
pub struct Trap {
    pub url: String,
    pub connections: Arc<AtomicUsize>,
}

impl Trap {
    pub(crate) async fn start(bind_ip: std::net::IpAddr, host: &str) -> Result<Trap, String> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(bind_ip, 0))
            .await
            .map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&connections);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Ok(Trap {
            url: format!("https://{host}:{port}/as4"),
            connections,
        })
    }

    pub fn count(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// The trap endpoints of the run.
#[derive(Debug, Clone)]
pub struct Traps {
    /// TestAP-02: expired AP certificate (F-04).
    pub expired: Trap,
    /// TestAP-03: revoked AP certificate (TF-02).
    pub revoked: Trap,
    /// Another federation's AP certificate (F-03).
    pub other_federation: Trap,
    /// Registered without the SDK message document type (F-07).
    pub no_message_type: Trap,
    /// TestAP-04: a port where nothing listens (TF-05).
    pub unreachable_url: String,
    /// Endpoints of the address-book defect participants (H-32, H-33, H-40).
    pub defects: Trap,
    /// A URL nothing may ever fetch (external entities, XInclude, stylesheets, remote keys).
    pub canary: Trap,
}

/// The fake SMP, running.
#[derive(Debug)]
pub struct Smp {
    pub fake: FakeSmp,
    pub url: String,
    _running: RunningSmp,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// A closed port: bound and released at once.
async fn closed_port_url(bind_ip: std::net::IpAddr, host: &str) -> Result<String, String> {
    let l = tokio::net::TcpListener::bind(SocketAddr::new(bind_ip, 0))
        .await
        .map_err(err)?;
    let port = l.local_addr().map_err(err)?.port();
    drop(l);
    Ok(format!("https://{host}:{port}/as4"))
}

/// Starts the trap endpoints.
pub async fn traps(bind_ip: std::net::IpAddr, host: &str) -> Result<Traps, String> {
    Ok(Traps {
        expired: Trap::start(bind_ip, host).await?,
        revoked: Trap::start(bind_ip, host).await?,
        other_federation: Trap::start(bind_ip, host).await?,
        no_message_type: Trap::start(bind_ip, host).await?,
        unreachable_url: closed_port_url(bind_ip, host).await?,
        defects: Trap::start(bind_ip, host).await?,
        canary: Trap::start(bind_ip, host).await?,
    })
}

/// The fake SMP with every participant of the run, served on `bind`.
pub async fn start(
    pki: &SuitePki,
    peer: &Peer,
    traps: &Traps,
    bind: SocketAddr,
) -> Result<Smp, String> {
    let fake = from_dev_pki(&pki.dir, &DevPkiOptions::default()).map_err(err)?;
    let peer_id = peer.participant().clone();
    fake.update_participant(&peer_id, |p| p.endpoint_url = peer.url.clone());
    let template = fake
        .participant(&peer_id)
        .ok_or("the fake SMP has no entry for the peer")?;
    let neg = &pki.manifest.negative;
    let cert = |rel: &str| pki.cert(rel).map_err(err);
    let all_documents = template.documents.clone();
    let receipts_only: Vec<DocumentId> = [TransportModel::ExtSigenc, TransportModel::Base]
        .into_iter()
        .map(|m| codelists().receipt_document(m).clone())
        .collect();
    let entries: Vec<(&str, String, Certificate, Vec<DocumentId>)> = vec![
        (
            OPEN_TEST_PEER,
            peer.url.clone(),
            template.ap_certificate.clone(),
            all_documents.clone(),
        ),
        (
            EXPIRED_PEER,
            traps.expired.url.clone(),
            cert(&neg.expired_ap.cert)?,
            all_documents.clone(),
        ),
        (
            REVOKED_PEER,
            traps.revoked.url.clone(),
            cert(&neg.revoked_ap.cert)?,
            all_documents.clone(),
        ),
        (
            UNREACHABLE_PEER,
            traps.unreachable_url.clone(),
            template.ap_certificate.clone(),
            all_documents.clone(),
        ),
        (
            FOREIGN_PEER,
            traps.other_federation.url.clone(),
            cert(&neg.foreign_ap.cert)?,
            all_documents.clone(),
        ),
        (
            OTHER_FEDERATION_PEER,
            traps.other_federation.url.clone(),
            cert(&neg.foreign_ap.cert)?,
            all_documents.clone(),
        ),
        (
            NO_MESSAGE_TYPE_PEER,
            traps.no_message_type.url.clone(),
            template.ap_certificate.clone(),
            receipts_only,
        ),
    ];
    for (id, url, ap_certificate, documents) in entries {
        let participant: ParticipantId = id.parse().map_err(err)?;
        fake.add_participant(FakeParticipant {
            participant,
            endpoint_url: url,
            ap_certificate,
            documents,
            ..template.clone()
        });
    }
    add_defects(pki, &fake, &template, traps, peer)?;
    let tls = tls_identity_from_dev_pki(&pki.dir).map_err(err)?;
    let running = fake.serve(bind, tls).await.map_err(err)?;
    let url = running.url().to_owned();
    Ok(Smp {
        fake,
        url,
        _running: running,
    })
}

/// The address-book defects (H-32 unsigned / tampered / rogue-signed metadata, H-33 an
/// invalid CertPub certificate, H-40 http:// endpoint and a foreign transport profile) and
/// the rollover participant of H-34 (served by the peer, its SMP certificate switched by
/// the case).
fn add_defects(
    pki: &SuitePki,
    fake: &FakeSmp,
    template: &FakeParticipant,
    traps: &Traps,
    peer: &Peer,
) -> Result<(), String> {
    let trap_url = traps.defects.url.clone();
    let id = |s: &str| s.parse::<ParticipantId>().map_err(err);
    let with = |participant: ParticipantId, f: &dyn Fn(&mut FakeParticipant)| {
        let mut p = FakeParticipant {
            participant,
            endpoint_url: trap_url.clone(),
            ..template.clone()
        };
        f(&mut p);
        fake.add_participant(p);
    };
    for p in [SMP_UNSIGNED_PEER, SMP_TAMPERED_PEER, SMP_ROGUE_SIGNER_PEER] {
        with(id(p)?, &|_| {});
    }
    let http_url = trap_url.replacen("https://", "http://", 1);
    with(id(HTTP_ENDPOINT_PEER)?, &|p| {
        p.endpoint_url = http_url.clone()
    });
    with(id(WRONG_PROFILE_PEER)?, &|p| {
        p.transport_profile = "bdxr-transport-ebms3-as4-v1p0".into();
    });
    let bad_o2o = pki
        .cert(&pki.manifest.negative.expired_ap.cert)
        .map_err(err)?;
    with(id(BAD_O2O_PEER)?, &|p| {
        p.o2o_encryption = vec![bad_o2o.clone()]
    });
    with(id(ROLLOVER_PEER)?, &|p| p.endpoint_url = peer.url.clone());
    // The canned metadata of the SDK message document (Utökad Bas).
    let doc = codelists()
        .sdk_message_document(TransportModel::ExtSigenc)
        .clone();
    let entry = |p: &str| {
        fake.participant(&id(p)?)
            .ok_or_else(|| format!("{p} not published"))
    };
    let unsigned = metadata_xml(&entry(SMP_UNSIGNED_PEER)?, &doc);
    fake.set_canned(
        &id(SMP_UNSIGNED_PEER)?,
        Some(&doc),
        Some(Canned::ok(unsigned)),
    );
    let signed = fake
        .signed_metadata(&id(SMP_TAMPERED_PEER)?, &doc)
        .map_err(err)?
        .ok_or("no metadata to tamper with")?;
    let text = String::from_utf8_lossy(&signed).into_owned();
    let tampered = text.replacen("/as4</", "/as4x</", 1);
    if tampered == text {
        return Err("the metadata has no EndpointURI to tamper with".into());
    }
    fake.set_canned(
        &id(SMP_TAMPERED_PEER)?,
        Some(&doc),
        Some(Canned::ok(tampered)),
    );
    let (rogue_cert, rogue_key) = pki.pair(&pki.gut().ap).map_err(err)?;
    let rogue = sign_metadata(
        metadata_xml(&entry(SMP_ROGUE_SIGNER_PEER)?, &doc).into_bytes(),
        &Signer {
            certificate: rogue_cert,
            key: Arc::new(rogue_key),
        },
        &SignatureStyle::default(),
    )
    .map_err(err)?;
    fake.set_canned(
        &id(SMP_ROGUE_SIGNER_PEER)?,
        Some(&doc),
        Some(Canned::ok(rogue)),
    );
    Ok(())
}
