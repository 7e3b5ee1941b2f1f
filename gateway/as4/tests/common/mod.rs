//! Shared fixture of the MSH tests: the development PKI (generated once per test binary),
//! in-process MSH nodes — each with its own sled store, AS4 listener behind real mutual TLS on
//! 127.0.0.1 and a sender — and XHE documents.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

pub mod craft;
pub mod fake;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sdkgw_as4::msh::{
    ApIdentity, As4Handler, InboundHandoff, InboundMessage, InboundSettings, MessageTrust,
    OutboundSettings, Outgoing, Receiver, Route, Sender, Served, prepare,
};
use sdkgw_certs::{Certificate, PrivateKey, devpki, load_key_pair};
use sdkgw_http::{
    ClientSettings, ClientTlsSettings, HostnameVerification, Server, ServerSettings, TlsIdentity,
    TrustAnchors,
};
use sdkgw_schemas::{Environment, ParticipantId};
use sdkgw_store::{SledStore, Store, StoreConfig};
use sdkgw_xml_security::x509::{As4Ap, Crl, RevocationChecker, RevocationPolicy, TrustStore};
use tokio::sync::oneshot;

pub const ORG_A: &str = "0203:orga.test";
pub const ORG_B: &str = "0203:orgb.test";

/// The development PKI. Generating 3072-bit keys takes seconds and nextest runs every test in
/// its own process, so the PKI is generated once into the cargo target directory and reused
/// (regenerated when older than a day; never committed).
pub struct Pki {
    pub root: PathBuf,
    pub manifest: devpki::Manifest,
    /// Every CRL file the manifest names (whatever version of the manifest layout).
    pub crls: Vec<PathBuf>,
}

const PKI_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

fn cached_pki_dir() -> PathBuf {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("as4-devpki");
    let fresh = std::fs::metadata(base.join("manifest.json"))
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().is_ok_and(|age| age < PKI_MAX_AGE));
    if fresh {
        return base;
    }
    let _ = std::fs::remove_dir_all(&base);
    let tmp = base.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    devpki::generate(
        &tmp,
        &devpki::Options {
            participants: vec![ORG_A.into(), ORG_B.into()],
            seed: None,
            force: false,
        },
        &|_| String::new(),
    )
    .unwrap();
    // Another test process may have finished first: then use its PKI.
    if std::fs::rename(&tmp, &base).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    base
}

pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let root = cached_pki_dir();
        let manifest = devpki::read_manifest(&root).unwrap();
        let raw: serde_json::Value =
            serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap();
        let mut crls = Vec::new();
        collect_crls(&raw, &mut crls);
        crls.sort();
        crls.dedup();
        let crls = crls.into_iter().map(|c| root.join(c)).collect();
        Pki {
            root,
            manifest,
            crls,
        }
    })
}

fn collect_crls(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) if s.ends_with(".crl.pem") => out.push(s.clone()),
        serde_json::Value::Object(m) => m.values().for_each(|x| collect_crls(x, out)),
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_crls(x, out)),
        _ => {}
    }
}

impl Pki {
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
    pub fn cert(&self, rel: &str) -> Certificate {
        sdkgw_certs::load_certificates(&self.path(rel), None)
            .unwrap()
            .remove(0)
    }
    pub fn pair(&self, pair: &devpki::Pair) -> (Certificate, PrivateKey) {
        let kp = load_key_pair(&self.path(&pair.cert), Some(&self.path(&pair.key)), None).unwrap();
        let (key, chain) = kp.into_parts();
        (chain.into_iter().next().unwrap(), key)
    }
    pub fn org(&self, i: usize) -> &devpki::OrgEntry {
        &self.manifest.organisations[i]
    }
    /// AS4 trust of the dev environment: AP root, AP intermediate pinned, every CRL loaded.
    pub fn message_trust(&self) -> MessageTrust {
        let store = TrustStore::<As4Ap>::pinned(
            "dev",
            vec![self.cert(&self.manifest.ca.ap_root)],
            vec![self.cert(&self.manifest.ca.ap_intermediate)],
        )
        .unwrap()
        .with_foreign("FOREIGN", vec![self.cert(&self.manifest.ca.foreign_ap_ca)]);
        let revocation = RevocationChecker::new(RevocationPolicy::default());
        for c in &self.crls {
            revocation.add_crls(Crl::parse_any(&std::fs::read(c).unwrap()).unwrap());
        }
        MessageTrust { store, revocation }
    }
    pub fn tls_anchors(&self) -> TrustAnchors {
        TrustAnchors::new(&[self.cert(&self.manifest.ca.tls_root)]).unwrap()
    }
    pub fn tls_identity(&self, pair: &devpki::Pair) -> TlsIdentity {
        let (cert, key) = self.pair(pair);
        TlsIdentity::new(&[cert, self.cert(&self.manifest.ca.tls_intermediate)], &key).unwrap()
    }
    pub fn identity(&self, i: usize) -> ApIdentity {
        let (cert, key) = self.pair(&self.org(i).ap);
        ApIdentity::new(cert, Arc::new(key), None).unwrap()
    }
}

/// Records every hand-off (what the pipeline would get).
#[derive(Debug, Default)]
pub struct Collected(pub std::sync::Mutex<Vec<InboundMessage>>);

impl InboundHandoff for Collected {
    fn accepted(&self, message: &InboundMessage) {
        self.0.lock().unwrap().push(message.clone());
    }
}

/// One in-process gateway: store, AS4 listener (mutual TLS), sender.
pub struct Node {
    pub index: usize,
    pub participant: ParticipantId,
    pub identity: ApIdentity,
    pub store: Arc<dyn Store>,
    pub receiver: Arc<Receiver>,
    pub sender: Arc<Sender>,
    pub handoffs: Arc<Collected>,
    pub addr: SocketAddr,
    pub spool: PathBuf,
    _data: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub fn client_settings(pki: &Pki, i: usize) -> ClientSettings {
    let tls = sdkgw_http::tls::client_config(&ClientTlsSettings {
        identity: Some(pki.tls_identity(&pki.org(i).tls_client)),
        server_trust: pki.tls_anchors(),
        hostname: HostnameVerification::Verify,
    })
    .unwrap();
    let mut s = ClientSettings::new(tls);
    s.connect_timeout = Duration::from_secs(5);
    s
}

/// Adjusts a node's inbound settings.
pub type Tweak = Arc<dyn Fn(&mut InboundSettings) + Send + Sync>;

/// Options that vary between tests.
#[derive(Clone)]
pub struct NodeOptions {
    pub settings: Option<Tweak>,
    pub server: ServerSettings,
    /// The environment whose transport models are served.
    pub served_env: Environment,
    /// The TLS server identity (default: the organisation's TLS server certificate).
    pub tls_server: Option<devpki::Pair>,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            settings: None,
            server: ServerSettings {
                max_body_bytes: 2 * 1024 * 1024 * 1024,
                ..ServerSettings::default()
            },
            served_env: Environment::Dev,
            tls_server: None,
        }
    }
}

pub async fn node(i: usize) -> Node {
    node_with(i, NodeOptions::default()).await
}

pub async fn node_with(i: usize, options: NodeOptions) -> Node {
    let pki = pki();
    let data = tempfile::tempdir().unwrap();
    let spool = data.path().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SledStore::open(StoreConfig::at(data.path().join("store"))).unwrap());
    let identity = pki.identity(i);
    let trust = Arc::new(pki.message_trust());
    let participant: ParticipantId = pki.org(i).participant.parse().unwrap();
    let mut settings = InboundSettings::new(spool.clone(), Environment::Dev.federation().as_str());
    if let Some(f) = &options.settings {
        f(&mut settings);
    }
    let handoffs = Arc::new(Collected::default());
    let receiver = Arc::new(Receiver::new(
        Arc::new(identity.clone()),
        Arc::clone(&trust),
        Served::new(vec![participant.clone()], options.served_env),
        settings,
        Arc::clone(&store),
        handoffs.clone() as Arc<dyn InboundHandoff>,
    ));
    let tls_pair = options
        .tls_server
        .clone()
        .unwrap_or_else(|| pki.org(i).tls_server.clone());
    let tls = sdkgw_http::tls::mtls_server_config(&pki.tls_identity(&tls_pair), &pki.tls_anchors())
        .unwrap();
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), tls, options.server)
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let handler = Arc::new(As4Handler::new(Arc::clone(&receiver), "/as4"));
    tokio::spawn(server.serve(handler, async move {
        let _ = stopped.await;
    }));
    let sender = Arc::new(Sender::new(
        Arc::new(identity.clone()),
        trust,
        client_settings(pki, i),
        OutboundSettings::new(spool.clone()),
    ));
    Node {
        index: i,
        participant,
        identity,
        store,
        receiver,
        sender,
        handoffs,
        addr,
        spool,
        _data: data,
        stop: Some(stop),
    }
}

impl Node {
    pub fn url(&self) -> String {
        format!("https://localhost:{}/as4", self.addr.port())
    }
    /// The route other nodes use to reach this one.
    pub fn route(&self) -> Route {
        Route {
            endpoint: self.url(),
            certificate: self.identity.certificate.clone(),
        }
    }
}

/// What goes into an XHE header.
#[derive(Debug, Clone)]
pub struct XheSpec {
    pub id: String,
    pub from: String,
    pub to: String,
    pub document: String,
    pub federation: String,
    pub payload: String,
}

impl XheSpec {
    pub fn message(from: &str, to: &str) -> Self {
        XheSpec {
            id: uuid::Uuid::new_v4().to_string(),
            from: from.into(),
            to: to.into(),
            document: "urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc".into(),
            federation: Environment::Dev.federation().as_str().into(),
            payload: "<xenc:EncryptedData xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\"><xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData>".into(),
        }
    }
    pub fn receipt(from: &str, to: &str) -> Self {
        XheSpec {
            document: "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2::ApplicationResponse##fdc:digg.se:edelivery:messagetype:response:1::2.1::tm-base-ext-sigenc".into(),
            payload: "<ApplicationResponse xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2\"/>".into(),
            ..Self::message(from, to)
        }
    }
    pub fn head(&self) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<x:XHE xmlns="http://docs.oasis-open.org/bdxr/ns/XHE/1/BasicComponents" xmlns:xha="http://docs.oasis-open.org/bdxr/ns/XHE/1/AggregateComponents" xmlns:x="http://docs.oasis-open.org/bdxr/ns/XHE/1/ExchangeHeaderEnvelope">
  <XHEVersionID>1.0</XHEVersionID>
  <CustomizationID>urn:fdc:digg.se:edelivery:xhe:1</CustomizationID>
  <xha:Header>
    <ID>{id}</ID>
    <CreationDateTime>2026-01-30T17:52:58.1Z</CreationDateTime>
    <xha:BusinessScope>
      <xha:BusinessScopeCriterion><BusinessScopeCriterionTypeCode>DOCUMENTID</BusinessScopeCriterionTypeCode><BusinessScopeCriterionValue>{doc}</BusinessScopeCriterionValue></xha:BusinessScopeCriterion>
      <xha:BusinessScopeCriterion><BusinessScopeCriterionTypeCode>DOCUMENTID_SCHEME</BusinessScopeCriterionTypeCode><BusinessScopeCriterionValue>busdox-docid-qns</BusinessScopeCriterionValue></xha:BusinessScopeCriterion>
      <xha:BusinessScopeCriterion><BusinessScopeCriterionTypeCode>PROCESSID</BusinessScopeCriterionTypeCode><BusinessScopeCriterionValue>bdx:noprocess</BusinessScopeCriterionValue></xha:BusinessScopeCriterion>
      <xha:BusinessScopeCriterion><BusinessScopeCriterionTypeCode>PROCESSID_SCHEME</BusinessScopeCriterionTypeCode><BusinessScopeCriterionValue>urn:fdc:digg.se:edelivery:process</BusinessScopeCriterionValue></xha:BusinessScopeCriterion>
      <xha:BusinessScopeCriterion><BusinessScopeCriterionTypeCode>FEDERATIONID</BusinessScopeCriterionTypeCode><BusinessScopeCriterionValue>{fed}</BusinessScopeCriterionValue></xha:BusinessScopeCriterion>
    </xha:BusinessScope>
    <xha:FromParty><xha:PartyIdentification><ID schemeID="iso6523-actorid-upis">{from}</ID></xha:PartyIdentification></xha:FromParty>
    <xha:ToParty><xha:PartyIdentification><ID schemeID="iso6523-actorid-upis">{to}</ID></xha:PartyIdentification></xha:ToParty>
  </xha:Header>
  <xha:Payloads><xha:Payload><DocumentTypeCode>Q{{urn:riv:infrastructure:messaging:MessageWithAttachments:3}}messagePayload</DocumentTypeCode><ContentTypeCode>application/xml</ContentTypeCode><InstanceEncryptionIndicator>true</InstanceEncryptionIndicator><xha:PayloadContent>"#,
            id = self.id,
            doc = self.document,
            fed = self.federation,
            from = self.from,
            to = self.to,
        )
    }
    pub const TAIL: &'static str = "</xha:PayloadContent></xha:Payload></xha:Payloads></x:XHE>\n";

    pub fn bytes(&self) -> Vec<u8> {
        format!("{}{}{}", self.head(), self.payload, Self::TAIL).into_bytes()
    }
    /// Writes the XHE into `dir` and returns its path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let p = dir.join(format!("{}.xml", self.id));
        std::fs::write(&p, self.bytes()).unwrap();
        p
    }
}

/// This environment's XHE FEDERATIONID.
pub fn fed() -> &'static str {
    Environment::Dev.federation().as_str()
}

/// `spec` written to `node`'s spool and prepared for sending (MessageId, gzip payload).
pub fn prepared(node: &Node, spec: &XheSpec) -> (Outgoing, tempfile::TempPath) {
    let xhe = spec.write(&node.spool);
    prepare(
        &xhe,
        None,
        fed(),
        &node.spool,
        time::OffsetDateTime::now_utc(),
    )
    .unwrap()
}

/// Reads the peak resident set size of this process (`VmHWM`), in MiB.
pub fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

/// The first audit event `action` of `store`, waiting for it: accepted messages are audited
/// right after the receipt is returned, on a background thread.
pub async fn audit_event(store: &dyn Store, action: &str) -> sdkgw_store::AuditEvent {
    for _ in 0..200 {
        if let Some(e) = store
            .audit(0, 10_000)
            .unwrap()
            .into_iter()
            .find(|e| e.action == action)
        {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no audit event {action}");
}

/// Asserts that every one of `fields` is set in an audit event's detail.
#[track_caller]
pub fn assert_fields(event: &sdkgw_store::AuditEvent, fields: &[&str]) {
    for f in fields {
        assert!(
            event.detail.get(*f).is_some_and(|v| !v.is_null()),
            "{}: field {f} missing: {:?}",
            event.action,
            event.detail
        );
    }
}

/// Reads content role `role` of a record.
pub fn content(store: &dyn Store, key: &sdkgw_store::MessageKey, role: &str) -> Vec<u8> {
    use std::io::Read;
    let rec = store.get_message(key).unwrap().unwrap();
    let blob = rec.content(role).unwrap().clone();
    let mut v = Vec::new();
    store.open_blob(&blob).unwrap().read_to_end(&mut v).unwrap();
    v
}

/// Reads the first evidence of `kind` of a record.
pub fn evidence(store: &dyn Store, key: &sdkgw_store::MessageKey, kind: &str) -> Vec<u8> {
    use std::io::Read;
    let rec = store.get_message(key).unwrap().unwrap();
    let blob = rec
        .evidence
        .iter()
        .find(|e| e.kind == kind)
        .unwrap()
        .blob
        .clone();
    let mut v = Vec::new();
    store.open_blob(&blob).unwrap().read_to_end(&mut v).unwrap();
    v
}
