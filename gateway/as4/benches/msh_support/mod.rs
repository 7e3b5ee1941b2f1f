//! Shared by the MSH benchmarks: a development PKI, an in-process receiving MSH behind mutual
//! TLS with a durable sled store, XHE documents of a given size, and RSS/CPU probes.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use sdkgw_as4::msh::{
    ApIdentity, As4Handler, InboundSettings, MessageTrust, OutboundSettings, Receiver, Route,
    Sender, Served, StoreOnly,
};
use sdkgw_certs::{Certificate, devpki, load_certificates, load_key_pair};
use sdkgw_http::{
    ClientSettings, ClientTlsSettings, HostnameVerification, Server, ServerSettings, TlsIdentity,
    TrustAnchors,
};
use sdkgw_schemas::{Environment, ParticipantId};
use sdkgw_store::{SledStore, Store, StoreConfig};
use sdkgw_xml_security::x509::{As4Ap, Crl, RevocationChecker, RevocationPolicy, TrustStore};

pub const ORG_A: &str = "0203:orga.test";
pub const ORG_B: &str = "0203:orgb.test";

/// A development PKI in a temp dir.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub manifest: devpki::Manifest,
}

pub fn pki_at(dir: &Path) -> devpki::Manifest {
    devpki::read_manifest(dir).unwrap()
}

pub fn generate_pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let manifest = devpki::generate(
        dir.path(),
        &devpki::Options {
            participants: vec![ORG_A.into(), ORG_B.into()],
            seed: None,
            force: false,
        },
        &|_| String::new(),
    )
    .unwrap();
    Pki { dir, manifest }
}

fn cert(root: &Path, rel: &str) -> Certificate {
    load_certificates(&root.join(rel), None).unwrap().remove(0)
}

pub fn identity(root: &Path, m: &devpki::Manifest, i: usize) -> ApIdentity {
    let pair = &m.organisations[i].ap;
    let (key, chain) = load_key_pair(&root.join(&pair.cert), Some(&root.join(&pair.key)), None)
        .unwrap()
        .into_parts();
    ApIdentity::new(chain.into_iter().next().unwrap(), Arc::new(key), None).unwrap()
}

pub fn message_trust(root: &Path, m: &devpki::Manifest) -> MessageTrust {
    let store = TrustStore::<As4Ap>::pinned(
        "dev",
        vec![cert(root, &m.ca.ap_root)],
        vec![cert(root, &m.ca.ap_intermediate)],
    )
    .unwrap();
    let revocation = RevocationChecker::new(RevocationPolicy::default());
    let raw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap();
    let mut crls = Vec::new();
    collect_crls(&raw, &mut crls);
    for c in crls {
        revocation.add_crls(Crl::parse_any(&std::fs::read(root.join(c)).unwrap()).unwrap());
    }
    MessageTrust { store, revocation }
}

fn collect_crls(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) if s.ends_with(".crl.pem") && !out.contains(s) => {
            out.push(s.clone())
        }
        serde_json::Value::Object(o) => o.values().for_each(|x| collect_crls(x, out)),
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_crls(x, out)),
        _ => {}
    }
}

pub fn tls_identity(root: &Path, m: &devpki::Manifest, pair: &devpki::Pair) -> TlsIdentity {
    let (key, chain) = load_key_pair(&root.join(&pair.cert), Some(&root.join(&pair.key)), None)
        .unwrap()
        .into_parts();
    let mut chain = chain;
    chain.push(cert(root, &m.ca.tls_intermediate));
    TlsIdentity::new(&chain, &key).unwrap()
}

pub fn tls_anchors(root: &Path, m: &devpki::Manifest) -> TrustAnchors {
    TrustAnchors::new(&[cert(root, &m.ca.tls_root)]).unwrap()
}

/// A receiving MSH of organisation `i` (durable sled store in `data`), listening on
/// 127.0.0.1 with mutual TLS; `handler` is the HTTP handler (the AS4 handler, maybe wrapped).
pub struct ReceiverNode<H> {
    pub addr: SocketAddr,
    pub store: Arc<dyn Store>,
    pub certificate: Certificate,
    pub handler: Arc<H>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub async fn receiver(
    root: &Path,
    m: &devpki::Manifest,
    i: usize,
    data: &Path,
) -> ReceiverNode<As4Handler> {
    receiver_with(root, m, i, data, |h| h).await
}

pub async fn receiver_with<H: sdkgw_http::Handler>(
    root: &Path,
    m: &devpki::Manifest,
    i: usize,
    data: &Path,
    wrap: impl FnOnce(As4Handler) -> H,
) -> ReceiverNode<H> {
    let spool = data.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SledStore::open(StoreConfig::at(data.join("store"))).unwrap());
    let id = identity(root, m, i);
    let participant: ParticipantId = m.organisations[i].participant.parse().unwrap();
    let receiver = Arc::new(Receiver::new(
        Arc::new(id.clone()),
        Arc::new(message_trust(root, m)),
        Served::new(vec![participant], Environment::Dev),
        InboundSettings::new(spool, Environment::Dev.federation().as_str()),
        Arc::clone(&store),
        Arc::new(StoreOnly),
    ));
    let tls = sdkgw_http::tls::mtls_server_config(
        &tls_identity(root, m, &m.organisations[i].tls_server),
        &tls_anchors(root, m),
    )
    .unwrap();
    let settings = ServerSettings {
        max_body_bytes: sdkgw_http::server::MAX_BODY_LIMIT,
        ..ServerSettings::default()
    };
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), tls, settings)
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handler = Arc::new(wrap(As4Handler::new(receiver, "/as4")));
    tokio::spawn(server.serve(Arc::clone(&handler), async move {
        let _ = stopped.await;
    }));
    ReceiverNode {
        addr,
        store,
        certificate: id.certificate,
        handler,
        _stop: stop,
    }
}

impl<H> ReceiverNode<H> {
    pub fn route(&self) -> Route {
        Route {
            endpoint: format!("https://localhost:{}/as4", self.addr.port()),
            certificate: self.certificate.clone(),
        }
    }
}

pub fn client_settings(root: &Path, m: &devpki::Manifest, i: usize) -> ClientSettings {
    let tls = sdkgw_http::tls::client_config(&ClientTlsSettings {
        identity: Some(tls_identity(root, m, &m.organisations[i].tls_client)),
        server_trust: tls_anchors(root, m),
        hostname: HostnameVerification::Verify,
    })
    .unwrap();
    ClientSettings::new(tls)
}

pub fn sender(root: &Path, m: &devpki::Manifest, i: usize, spool: PathBuf) -> Sender {
    Sender::new(
        Arc::new(identity(root, m, i)),
        Arc::new(message_trust(root, m)),
        client_settings(root, m, i),
        OutboundSettings::new(spool),
    )
}

/// The XHE header and the start of the payload element.
pub fn xhe_head(id: &str) -> String {
    format!(
        r#"<x:XHE xmlns="http://docs.oasis-open.org/bdxr/ns/XHE/1/BasicComponents" xmlns:xha="http://docs.oasis-open.org/bdxr/ns/XHE/1/AggregateComponents" xmlns:x="http://docs.oasis-open.org/bdxr/ns/XHE/1/ExchangeHeaderEnvelope"><XHEVersionID>1.0</XHEVersionID><CustomizationID>urn:fdc:digg.se:edelivery:xhe:1</CustomizationID><xha:Header><ID>{id}</ID><CreationDateTime>2026-01-30T17:52:58.1Z</CreationDateTime><xha:BusinessScope><xha:BusinessScopeCriterion><BusinessScopeCriterionTypeCode>DOCUMENTID</BusinessScopeCriterionTypeCode><BusinessScopeCriterionValue>urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc</BusinessScopeCriterionValue></xha:BusinessScopeCriterion><xha:BusinessScopeCriterion><BusinessScopeCriterionTypeCode>DOCUMENTID_SCHEME</BusinessScopeCriterionTypeCode><BusinessScopeCriterionValue>busdox-docid-qns</BusinessScopeCriterionValue></xha:BusinessScopeCriterion><xha:BusinessScopeCriterion><BusinessScopeCriterionTypeCode>PROCESSID</BusinessScopeCriterionTypeCode><BusinessScopeCriterionValue>bdx:noprocess</BusinessScopeCriterionValue></xha:BusinessScopeCriterion><xha:BusinessScopeCriterion><BusinessScopeCriterionTypeCode>PROCESSID_SCHEME</BusinessScopeCriterionTypeCode><BusinessScopeCriterionValue>urn:fdc:digg.se:edelivery:process</BusinessScopeCriterionValue></xha:BusinessScopeCriterion><xha:BusinessScopeCriterion><BusinessScopeCriterionTypeCode>FEDERATIONID</BusinessScopeCriterionTypeCode><BusinessScopeCriterionValue>urn:fdc:digg.se:edelivery:federation:test</BusinessScopeCriterionValue></xha:BusinessScopeCriterion></xha:BusinessScope><xha:FromParty><xha:PartyIdentification><ID schemeID="iso6523-actorid-upis">{ORG_A}</ID></xha:PartyIdentification></xha:FromParty><xha:ToParty><xha:PartyIdentification><ID schemeID="iso6523-actorid-upis">{ORG_B}</ID></xha:PartyIdentification></xha:ToParty></xha:Header><xha:Payloads><xha:Payload><ContentTypeCode>application/xml</ContentTypeCode><InstanceEncryptionIndicator>true</InstanceEncryptionIndicator><xha:PayloadContent><CipherValue xmlns="urn:x">"#
    )
}

pub const XHE_TAIL: &str =
    "</CipherValue></xha:PayloadContent></xha:Payload></xha:Payloads></x:XHE>";

/// Writes an XHE of about `size` bytes (base64 of pseudo-random bytes as payload, like an
/// end-to-end encrypted SDK message) to `path`.
pub fn write_xhe(path: &Path, size: u64) {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let head = xhe_head(&uuid::Uuid::new_v4().to_string());
    w.write_all(head.as_bytes()).unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(std::process::id());
    let target = size.saturating_sub((head.len() + XHE_TAIL.len()) as u64);
    let mut raw = vec![0u8; 3 * 64 * 1024];
    let mut written = 0u64;
    while written < target {
        for chunk in raw.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let n = chunk.len();
            chunk.copy_from_slice(&state.to_le_bytes()[..n]);
        }
        let text = base64::engine::general_purpose::STANDARD.encode(&raw);
        let take = usize::try_from((target - written).min(text.len() as u64)).unwrap();
        w.write_all(&text.as_bytes()[..take]).unwrap();
        written += take as u64;
    }
    w.write_all(XHE_TAIL.as_bytes()).unwrap();
    w.flush().unwrap();
}

/// CPU seconds (user + system) of this process.
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

/// Peak RSS (VmHWM) of this process, MiB.
pub fn peak_rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}
