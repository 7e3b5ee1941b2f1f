//! Mailbox notifications reaching a local HTTPS webhook receiver (HMAC verified) and a local
//! SMTP sink (STARTTLS + AUTH), including retries after the receiver was down across a
//! restart of the gateway's store, and never any message content.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sdkgw_certs::{load_certificates, load_key_pair};
use sdkgw_http::{
    ClientSettings, ClientTlsSettings, HostnameVerification, HttpsClient, TrustAnchors,
};
use sdkgw_schemas::{FunctionAddress, ParticipantId};
use sdkgw_server::mailbox::{Event, NotificationChange, Registry};
use sdkgw_server::notify::{
    DeliveryFailed, MessageFiled, Notifier, NotifySettings, SmtpAuth, SmtpSettings, SmtpTls,
    webhook,
};
use sdkgw_store::{MessageKey, SledStore, Store, StoreConfig};
use time::OffsetDateTime;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

const CONFIG: &str = r#"
data_dir = "data"
[environment]
name = "dev"
[ap]
party_id = "AP0001-DEV"
[[participants]]
id = "0203:kommun.example.se"
mailboxes = [{ address = "registrator", name = "Registratorn" }, { address = "socialtjanst" }]
[keys.ap]
cert = "ap.p12"
password_file = "/run/secrets/ap"
[keys.o2o.signing]
cert = "s.pem"
key = "s.key"
[keys.o2o.encryption]
cert = "e.pem"
key = "e.key"
[keys.tls.server]
cert = "t.pem"
key = "t.key"
[keys.tls.client]
cert = "c.pem"
key = "c.key"
[trust.as4]
anchors = ["ap-root.pem"]
issuing_ca = "ap-ca.pem"
[trust.smp]
anchors = ["smp.pem"]
[trust.tls]
anchors = ["tls.pem"]
[trust.o2o]
anchors = ["o2o.pem"]
[listeners.as4]
bind = "127.0.0.1:0"
[listeners.api]
bind = "127.0.0.1:1"
[listeners.admin]
bind = "127.0.0.1:2"
[address_book]
source = "smp"
url = "https://127.0.0.1:3/"
"#;

fn config() -> sdkgw_server::config::Config {
    let loaded =
        sdkgw_server::config::from_toml(CONFIG, Path::new("/etc/sdkgw/sdkgw.toml"), Vec::new());
    let msgs: Vec<String> = loaded.findings.iter().map(|f| f.to_string()).collect();
    loaded.config.unwrap_or_else(|| panic!("{msgs:?}"))
}

/// The dev PKI's local-service TLS pair (SAN 127.0.0.1) and the TLS root.
struct Tls {
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
}

fn tls() -> Tls {
    let pki = common::shared_pki();
    let m = common::manifest(&pki);
    let file = |v: &serde_json::Value| -> PathBuf { pki.join(v.as_str().unwrap()) };
    let pair = load_key_pair(
        &file(&m["smp_tls"]["cert"]),
        Some(&file(&m["smp_tls"]["key"])),
        None,
    )
    .unwrap();
    let identity = sdkgw_http::TlsIdentity::new(pair.chain(), pair.key()).unwrap();
    // The pair's PEM holds the leaf only: trust its issuing intermediate as well.
    let mut root = load_certificates(&file(&m["ca"]["tls_root"]), None).unwrap();
    root.extend(load_certificates(&file(&m["ca"]["tls_intermediate"]), None).unwrap());
    Tls {
        server: sdkgw_http::tls::server_config_without_client_auth(&identity).unwrap(),
        client: sdkgw_http::tls::client_config(&ClientTlsSettings {
            identity: None,
            server_trust: TrustAnchors::new(&root).unwrap(),
            hostname: HostnameVerification::Verify,
        })
        .unwrap(),
    }
}

fn settings(tls: &Tls, smtp: Option<SmtpSettings>) -> NotifySettings {
    let mut http = ClientSettings::new(tls.client.clone());
    http.connect_timeout = Duration::from_secs(2);
    http.request_timeout = Duration::from_secs(5);
    NotifySettings {
        max_attempts: 3,
        initial_delay: Duration::from_secs(10),
        max_delay: Duration::from_secs(60),
        webhook: HttpsClient::new(http),
        smtp,
    }
}

struct Gateway {
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    notifier: Notifier,
}

fn open(dir: &Path, tls: &Tls, smtp: Option<SmtpSettings>) -> Gateway {
    let store: Arc<dyn Store> = Arc::new(SledStore::open(StoreConfig::at(dir)).unwrap());
    let (registry, _) =
        Registry::open(store.clone(), &config(), OffsetDateTime::now_utc()).unwrap();
    let registry = Arc::new(registry);
    let notifier =
        Notifier::new(store.clone(), registry.clone(), settings(tls, smtp), None).unwrap();
    Gateway {
        store,
        registry,
        notifier,
    }
}

fn fa(s: &str) -> FunctionAddress {
    FunctionAddress::parse(s).unwrap()
}

fn org(s: &str) -> ParticipantId {
    s.parse().unwrap()
}

/// A free loopback port (nothing listens on it until a receiver binds it).
fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

#[derive(Default)]
struct Received {
    requests: Mutex<Vec<(http::HeaderMap, Vec<u8>)>>,
}

struct Receiver {
    seen: Arc<Received>,
}

impl sdkgw_http::Handler for Receiver {
    async fn handle(
        &self,
        request: http::Request<sdkgw_http::RequestBody>,
        _c: Arc<sdkgw_http::ConnectionInfo>,
    ) -> http::Response<sdkgw_http::OutBody> {
        let (parts, body) = request.into_parts();
        let body = body.collect_bounded(1 << 20).await.unwrap();
        self.seen
            .requests
            .lock()
            .unwrap()
            .push((parts.headers, body.to_vec()));
        http::Response::new(sdkgw_http::OutBody::empty())
    }
}

async fn start_receiver(
    addr: SocketAddr,
    tls: &Tls,
) -> (Arc<Received>, tokio::sync::oneshot::Sender<()>) {
    let server = sdkgw_http::Server::bind(
        addr,
        tls.server.clone(),
        sdkgw_http::ServerSettings::default(),
    )
    .await
    .unwrap();
    let seen = Arc::new(Received::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handler = Arc::new(Receiver { seen: seen.clone() });
    tokio::spawn(server.serve(handler, async {
        let _ = stopped.await;
    }));
    (seen, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_carry_no_content_and_are_retried_after_the_receiver_was_down() {
    let tls = tls();
    let tmp = tempfile::tempdir().unwrap();
    let hook = free_port();
    let url = format!("https://127.0.0.1:{}/sdk-hook", hook.port());
    let gw = open(tmp.path(), &tls, None);
    let m = gw
        .registry
        .set_notifications(
            &fa("registrator"),
            NotificationChange {
                webhook_url: Some(Some(url.clone())),
                ..NotificationChange::default()
            },
            "test",
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    let secret = m.notifications.webhook.unwrap().secret;
    let key = MessageKey::random().unwrap();
    let t0 = OffsetDateTime::now_utc();
    let queued = gw
        .notifier
        .message_filed(&MessageFiled {
            mailbox: &fa("registrator"),
            message_key: key,
            message_id: "4f9e7a3c-0000-4000-8000-000000000001",
            sender: &org("0203:avsandare.example.se"),
            at: t0,
        })
        .unwrap();
    assert_eq!(queued, 1);
    // A mailbox without channels queues nothing.
    let none = gw
        .notifier
        .message_filed(&MessageFiled {
            mailbox: &fa("socialtjanst"),
            message_key: key,
            message_id: "x",
            sender: &org("0203:avsandare.example.se"),
            at: t0,
        })
        .unwrap();
    assert_eq!(none, 0);

    // The receiver is down: the attempt fails and the notification stays queued.
    let round = gw.notifier.run_once(t0).await.unwrap();
    assert_eq!((round.sent, round.retried), (0, 1));
    assert_eq!(gw.notifier.pending().unwrap(), 1);
    // Not due again before the backoff.
    assert_eq!(
        gw.notifier
            .run_once(t0 + time::Duration::seconds(5))
            .await
            .unwrap()
            .retried,
        0
    );

    // The gateway restarts (store closed and reopened): the queue survives.
    drop(gw);
    let gw = open(tmp.path(), &tls, None);
    assert_eq!(gw.notifier.pending().unwrap(), 1);

    // The receiver is back; the retry arrives, signed.
    let (seen, stop) = start_receiver(hook, &tls).await;
    let later = t0 + time::Duration::seconds(11);
    let round = gw.notifier.run_once(later).await.unwrap();
    assert_eq!(round.sent, 1, "{round:?}");
    assert_eq!(gw.notifier.pending().unwrap(), 0);
    let requests = seen.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let (headers, body) = &requests[0];
    let h = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
    assert_eq!(h("content-type"), "application/json");
    assert_eq!(h("x-sdkgw-event"), "message.new");
    let ts = h("x-sdkgw-timestamp");
    assert_eq!(ts, later.unix_timestamp().to_string());
    assert!(webhook::verify(
        secret.as_bytes(),
        &ts,
        &h("x-sdkgw-signature"),
        body,
        later.unix_timestamp(),
        300
    ));
    assert!(!webhook::verify(
        b"wrong-secret-0123456789",
        &ts,
        &h("x-sdkgw-signature"),
        body,
        later.unix_timestamp(),
        300
    ));
    assert!(
        !webhook::verify(
            secret.as_bytes(),
            &ts,
            &h("x-sdkgw-signature"),
            body,
            later.unix_timestamp() + 3600,
            300
        ),
        "a replay an hour later is refused"
    );
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    let fields: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        [
            "counterpart",
            "id",
            "mailbox",
            "messageId",
            "messageKey",
            "occurredAt",
            "participant",
            "status",
            "type"
        ],
        "ids, mailbox, status and time only"
    );
    assert_eq!(json["mailbox"], "registrator");
    assert_eq!(json["participant"], "0203:kommun.example.se");
    assert_eq!(json["messageKey"], key.to_string());
    assert_eq!(json["status"], "NEW");

    // The audit trail records the delivery.
    let events = gw.store.audit(0, 10_000).unwrap();
    let sent: Vec<_> = events
        .iter()
        .filter(|e| e.action == "notify.sent")
        .collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].detail["channel"], "webhook");
    assert_eq!(sent[0].detail["attempts"], 2);
    assert_eq!(sent[0].message, Some(key));
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_that_never_gets_through_is_given_up_after_max_attempts() {
    let tls = tls();
    let tmp = tempfile::tempdir().unwrap();
    let gw = open(tmp.path(), &tls, None);
    let dead = free_port();
    gw.registry
        .set_notifications(
            &fa("socialtjanst"),
            NotificationChange {
                webhook_url: Some(Some(format!("https://127.0.0.1:{}/", dead.port()))),
                events: Some(vec![Event::DeliveryFailed]),
                ..NotificationChange::default()
            },
            "test",
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    let t0 = OffsetDateTime::now_utc();
    let failed = DeliveryFailed {
        mailbox: &fa("socialtjanst"),
        message_key: MessageKey::random().unwrap(),
        message_id: "m-2",
        recipient: &org("0203:mottagare.example.se"),
        status: "MESSAGE_EXCHANGE_ERROR",
        reason_code: Some("EBMS:0301"),
        at: t0,
    };
    assert_eq!(gw.notifier.delivery_failed(&failed).unwrap(), 1);
    // Not subscribed to new messages.
    let filed = MessageFiled {
        mailbox: &fa("socialtjanst"),
        message_key: failed.message_key,
        message_id: "m-3",
        sender: &org("0203:x.example.se"),
        at: t0,
    };
    assert_eq!(gw.notifier.message_filed(&filed).unwrap(), 0);
    let mut at = t0;
    let mut total = sdkgw_server::notify::Round::default();
    for _ in 0..3 {
        let r = gw.notifier.run_once(at).await.unwrap();
        total.retried += r.retried;
        total.failed += r.failed;
        at += time::Duration::minutes(5);
    }
    assert_eq!((total.retried, total.failed), (2, 1));
    assert_eq!(gw.notifier.pending().unwrap(), 0);
    let events = gw.store.audit(0, 10_000).unwrap();
    let given_up = events.iter().find(|e| e.action == "notify.failed").unwrap();
    assert_eq!(given_up.detail["attempts"], 3);
    assert_eq!(given_up.detail["type"], "delivery.failed");
}

/// What the SMTP sink saw of one session.
#[derive(Debug, Default, Clone)]
struct Session {
    tls_before_auth: bool,
    auth: Option<String>,
    mail_from: Option<String>,
    rcpt: Vec<String>,
    data: Option<String>,
}

#[derive(Clone)]
struct Sink {
    addr: SocketAddr,
    sessions: Arc<Mutex<Vec<Session>>>,
}

async fn smtp_dialog<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    session: &mut Session,
    tls_now: bool,
    offer_starttls: bool,
) -> Option<S> {
    let (r, mut w) = tokio::io::split(stream);
    let mut r = BufReader::new(r);
    if !tls_now {
        w.write_all(b"220 sink ESMTP\r\n").await.ok()?;
    }
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let cmd = line.trim_end().to_owned();
        let upper = cmd.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            let mut caps = String::from("250-sink\r\n");
            if offer_starttls && !tls_now {
                caps.push_str("250-STARTTLS\r\n");
            }
            caps.push_str("250 AUTH PLAIN LOGIN\r\n");
            w.write_all(caps.as_bytes()).await.ok()?;
        } else if upper == "STARTTLS" {
            w.write_all(b"220 go ahead\r\n").await.ok()?;
            return Some(r.into_inner().unsplit(w));
        } else if upper.starts_with("AUTH PLAIN ") {
            session.tls_before_auth = tls_now;
            session.auth = Some(cmd[11..].to_owned());
            w.write_all(b"235 ok\r\n").await.ok()?;
        } else if upper.starts_with("MAIL FROM:") {
            session.mail_from = Some(cmd[10..].to_owned());
            w.write_all(b"250 ok\r\n").await.ok()?;
        } else if upper.starts_with("RCPT TO:") {
            session.rcpt.push(cmd[8..].to_owned());
            w.write_all(b"250 ok\r\n").await.ok()?;
        } else if upper == "DATA" {
            w.write_all(b"354 go\r\n").await.ok()?;
            let mut data = String::new();
            loop {
                line.clear();
                r.read_line(&mut line).await.ok()?;
                if line == ".\r\n" {
                    break;
                }
                data.push_str(&line);
            }
            session.data = Some(data);
            w.write_all(b"250 queued\r\n").await.ok()?;
        } else if upper == "QUIT" {
            w.write_all(b"221 bye\r\n").await.ok()?;
            return None;
        } else {
            w.write_all(b"500 what\r\n").await.ok()?;
        }
    }
}

async fn start_sink(addr: SocketAddr, tls: &Tls, offer_starttls: bool) -> Sink {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let sink = Sink {
        addr: listener.local_addr().unwrap(),
        sessions: Arc::default(),
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.server.clone());
    let sessions = sink.sessions.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let mut session = Session::default();
            if let Some(plain) = smtp_dialog(tcp, &mut session, false, offer_starttls).await
                && let Ok(tls) = acceptor.accept(plain).await
            {
                smtp_dialog(tls, &mut session, true, false).await;
            }
            sessions.lock().unwrap().push(session);
        }
    });
    sink
}

fn smtp(addr: SocketAddr, tls: &Tls, mode: SmtpTls) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port: addr.port(),
        tls: mode,
        tls_config: tls.client.clone(),
        from: "sdk-gateway@kommun.example.se".into(),
        helo: "ap.kommun.example.se".into(),
        auth: Some(SmtpAuth {
            username: "gw".into(),
            password: zeroize::Zeroizing::new("hemligt".into()),
        }),
        timeout: Duration::from_secs(5),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_notifications_reach_an_smtp_sink_over_starttls_after_it_was_down() {
    let tls = tls();
    let tmp = tempfile::tempdir().unwrap();
    let addr = free_port();
    let gw = open(tmp.path(), &tls, Some(smtp(addr, &tls, SmtpTls::Starttls)));
    gw.registry
        .set_notifications(
            &fa("registrator"),
            NotificationChange {
                email: Some(vec![
                    "registrator@kommun.example.se".into(),
                    "intake@topdesk.example.se".into(),
                ]),
                ..NotificationChange::default()
            },
            "test",
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    let t0 = OffsetDateTime::now_utc();
    let key = MessageKey::random().unwrap();
    gw.notifier
        .delivery_failed(&DeliveryFailed {
            mailbox: &fa("registrator"),
            message_key: key,
            message_id: "6d1c2b9a-0000-4000-8000-000000000002",
            recipient: &org("0203:mottagare.example.se"),
            status: "MESSAGE_EXCHANGE_ERROR",
            reason_code: Some("EBMS:0301"),
            at: t0,
        })
        .unwrap();
    // Relay down.
    assert_eq!(gw.notifier.run_once(t0).await.unwrap().retried, 1);
    drop(gw);
    let sink = start_sink(addr, &tls, true).await;
    let gw = open(
        tmp.path(),
        &tls,
        Some(smtp(sink.addr, &tls, SmtpTls::Starttls)),
    );
    let round = gw
        .notifier
        .run_once(t0 + time::Duration::seconds(11))
        .await
        .unwrap();
    assert_eq!(round.sent, 1, "{round:?}");
    let sessions = sink.sessions.lock().unwrap().clone();
    let s = sessions
        .iter()
        .find(|s| s.data.is_some())
        .expect("a mail was handed over");
    assert!(s.tls_before_auth, "credentials only over TLS");
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD
        .decode(s.auth.as_ref().unwrap())
        .unwrap();
    assert_eq!(auth, b"\0gw\0hemligt");
    assert_eq!(
        s.mail_from.as_deref(),
        Some("<sdk-gateway@kommun.example.se>")
    );
    assert_eq!(
        s.rcpt,
        [
            "<registrator@kommun.example.se>",
            "<intake@topdesk.example.se>"
        ]
    );
    let data = s.data.as_ref().unwrap();
    for expected in [
        "Subject: [sdkgw] Delivery failed in Registratorn",
        "Message id:   6d1c2b9a-0000-4000-8000-000000000002",
        "Reason code:  EBMS:0301",
        "Recipient   : 0203:mottagare.example.se",
        "Status:       MESSAGE_EXCHANGE_ERROR",
    ] {
        assert!(data.contains(expected), "{expected}\n{data}");
    }
    assert_eq!(gw.notifier.pending().unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_starttls_refuses_a_relay_that_does_not_offer_it() {
    let tls = tls();
    let sink = start_sink(free_port(), &tls, false).await;
    let err = sdkgw_server::notify::smtp::send_mail(
        &smtp(sink.addr, &tls, SmtpTls::Starttls),
        &["a@b.example.se".into()],
        "Subject: x\r\n\r\nbody",
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, sdkgw_server::notify::smtp::SmtpError::NoStarttls),
        "{err}"
    );
    // Opportunistic without TLS would send the password in clear: refused too.
    let err = sdkgw_server::notify::smtp::send_mail(
        &smtp(sink.addr, &tls, SmtpTls::Opportunistic),
        &["a@b.example.se".into()],
        "Subject: x\r\n\r\nbody",
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("without TLS"), "{err}");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        sink.sessions
            .lock()
            .unwrap()
            .iter()
            .all(|s| s.auth.is_none() && s.data.is_none())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_sends_a_queued_notification_without_being_asked() {
    let tls = tls();
    let tmp = tempfile::tempdir().unwrap();
    let hook = free_port();
    let (seen, stop_receiver) = start_receiver(hook, &tls).await;
    let gw = open(tmp.path(), &tls, None);
    gw.registry
        .set_notifications(
            &fa("registrator"),
            NotificationChange {
                webhook_url: Some(Some(format!("https://127.0.0.1:{}/", hook.port()))),
                ..NotificationChange::default()
            },
            "test",
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(gw.notifier.clone().run(async {
        let _ = stopped.await;
    }));
    gw.notifier
        .message_filed(&MessageFiled {
            mailbox: &fa("registrator"),
            message_key: MessageKey::random().unwrap(),
            message_id: "m-worker",
            sender: &org("0203:avsandare.example.se"),
            at: OffsetDateTime::now_utc(),
        })
        .unwrap();
    let mut delivered = false;
    for _ in 0..200 {
        if !seen.requests.lock().unwrap().is_empty() {
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(delivered, "the worker delivered the notification");
    stop.send(()).unwrap();
    worker.await.unwrap();
    assert_eq!(gw.notifier.pending().unwrap(), 0);
    let _ = stop_receiver.send(());
}
