//! The operations behind the routes. Every method is synchronous (the store is), runs on a
//! blocking thread, and answers a [`Reply`]; nothing in here trusts the request.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::StatusCode;
use sdkgw_envelope::message::{self, Attention, SubOrganization};
use sdkgw_schemas::{FunctionAddress, ParticipantId, TransportModel, codelists};
use sdkgw_store::{
    Created, Direction, IdKind, MessageRecord, MessageState, NewMessage, Store, StoreError, Update,
};
use sdkgw_xml_security::xml::{Document, ParseOptions};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::ApiSettings;
use super::auth::{Authenticator, Clients, Principal};
use super::datetime::{self, excerpt};
use super::index::{Idempotent, Index, SDK_MESSAGE_ROLE};
use super::message_json::{self, Create, is_uuid};
use super::problem::{INVALID, Issue, Problem};
use super::query::Query;
use super::status::{self, MessageStatus};
use crate::metrics::MALWARE_FOUND;
use crate::pipeline::content::{CommandScanner, media_type, type_allowed};
use sdkgw_envelope::message::MalwareScanner as _;

/// Whether the recipient organisation and function address are in the address book.
pub trait RecipientDirectory: Send + Sync + std::fmt::Debug {
    fn check(&self, organisation: &ParticipantId, mailbox: &FunctionAddress) -> Result<(), String>;
}

impl RecipientDirectory for sdkgw_address_book::directory::Directory {
    fn check(&self, organisation: &ParticipantId, mailbox: &FunctionAddress) -> Result<(), String> {
        self.check_function(organisation, mailbox)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// What a route answers.
#[derive(Debug)]
pub enum Reply {
    Json {
        status: StatusCode,
        body: Value,
        headers: Vec<(&'static str, String)>,
    },
    Problem(Problem),
    Empty(StatusCode),
    Bytes {
        status: StatusCode,
        content_type: String,
        body: Vec<u8>,
        headers: Vec<(&'static str, String)>,
    },
}

impl From<Problem> for Reply {
    fn from(p: Problem) -> Self {
        Reply::Problem(p)
    }
}

fn store_failed(e: &StoreError) -> Problem {
    tracing::error!(error = %e, "mailbox API: store failure");
    Problem::unavailable("the message store is unavailable; retry later", 5)
}

/// The request as the service sees it.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub principal: Principal,
    pub now: OffsetDateTime,
    /// `https://host` + base path, for absolute links.
    pub base_url: String,
    pub request_id: String,
    /// What the call touched, for its audit event (written by the router).
    pub audit: AuditNote,
}

/// The mailbox a call concerned, noted by the service for the router's audit event.
#[derive(Debug, Clone, Default)]
pub struct AuditNote(Arc<Mutex<Option<String>>>);

impl AuditNote {
    pub fn mailbox(&self, mailbox: &str) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(mailbox.to_owned());
    }
    pub fn noted_mailbox(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// The mailbox API service.
pub struct Api {
    pub(crate) settings: ApiSettings,
    store: Arc<dyn Store>,
    pub(crate) index: Index,
    pub(crate) auth: Authenticator,
    /// The mailboxes served and their organisation (live: the mailbox registry in a gateway).
    mailboxes: Arc<dyn MailboxSource>,
    directory: Arc<dyn RecipientDirectory>,
    sends: Arc<tokio::sync::Semaphore>,
    locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    rate: Mutex<HashMap<String, (f64, Instant)>>,
    pub(crate) changes: tokio::sync::Notify,
    gaps: Mutex<HashMap<u64, Instant>>,
    /// `[pipeline]` attachment allow-list (`None`: any type) and malware scanner.
    attachment_types: Option<Vec<String>>,
    scanner: Option<CommandScanner>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("base_path", &self.settings.base_path)
            .field("mailboxes", &self.mailboxes.mailboxes().len())
            .finish_non_exhaustive()
    }
}

/// Guard of a per-key lock.
struct KeyLock(Arc<Mutex<()>>);

impl Api {
    /// Appends an API call's event to the audit trail (durable when it returns).
    pub(crate) fn record_call(&self, event: sdkgw_store::AuditEvent) {
        if let Err(e) = self.store.append_audit(event) {
            tracing::error!(error = %e, "mailbox API: cannot append the audit event of a call");
        }
    }
}

/// Where the API learns which function mailboxes exist: a fixed list, or the gateway's mailbox
/// registry (`sdkgw_server::mailbox::Registry`, so `sdkgw mailbox add` takes effect at once).
pub trait MailboxSource: Send + Sync {
    fn mailboxes(&self) -> Vec<(FunctionAddress, ParticipantId)>;
}

impl MailboxSource for Vec<(FunctionAddress, ParticipantId)> {
    fn mailboxes(&self) -> Vec<(FunctionAddress, ParticipantId)> {
        self.clone()
    }
}

impl Api {
    /// Builds the service on an open store. `mailboxes`: the function mailboxes with their
    /// organisation (see [`Api::with_mailboxes`] for a live source).
    pub fn new(
        settings: ApiSettings,
        store: Arc<dyn Store>,
        mailboxes: Vec<(FunctionAddress, ParticipantId)>,
        directory: Arc<dyn RecipientDirectory>,
    ) -> Result<Self, String> {
        let clients = Clients::open(&*store).map_err(|e| e.to_string())?;
        let auth = Authenticator::new(settings.auth.clone(), clients)?;
        let index = Index::open(store.clone()).map_err(|e| e.to_string())?;
        Ok(Self {
            sends: Arc::new(tokio::sync::Semaphore::new(
                settings.max_concurrent_sends.max(1),
            )),
            settings,
            store,
            index,
            auth,
            mailboxes: Arc::new(mailboxes),
            directory,
            locks: Mutex::new(HashMap::new()),
            rate: Mutex::new(HashMap::new()),
            changes: tokio::sync::Notify::new(),
            gaps: Mutex::new(HashMap::new()),
            attachment_types: None,
            scanner: None,
        })
    }

    /// Refuses submissions with attachments of other types than `attachment_types`
    /// (`application/pdf` always passes) or that `scanner` finds infected (MT–MK §2.8, §3).
    pub fn with_content_policy(
        mut self,
        attachment_types: Vec<String>,
        scanner: Option<CommandScanner>,
    ) -> Self {
        self.attachment_types = Some(attachment_types);
        self.scanner = scanner;
        self
    }

    /// The attachment allow-list and the malware scan on send: 400 for types not accepted
    /// and infected files (every refused file named, one issue each), 503 when a scan failed
    /// (nothing unscanned is sent). Malware is a security incident: audited and logged.
    fn check_attachments(&self, create: &Create, now: OffsetDateTime) -> Result<(), Problem> {
        let mut issues = Vec::new();
        let mut infected = Vec::new();
        let mut scan_failed = None;
        let documents = create.message.body.documents.iter().enumerate();
        'files: for (d, doc) in documents {
            for (f, file) in doc.files.iter().enumerate() {
                let at = format!("/data/attributes/digitalDocument/{d}/contentFiles/{f}");
                if let Some(allowed) = &self.attachment_types
                    && !type_allowed(allowed, &file.content_type)
                {
                    let detail = format!(
                        "attachments of type {:?} are not accepted (not-supported)",
                        excerpt(&media_type(&file.content_type))
                    );
                    issues.push(Issue::new(INVALID, detail, now).at(format!("{at}/contentType")));
                    continue;
                }
                let Some(scanner) = &self.scanner else {
                    continue;
                };
                let Ok(bytes) = file.decode() else { continue };
                match scanner.is_malicious(&file.file_name, &bytes) {
                    Ok(false) => {}
                    Ok(true) => {
                        let detail = "the attachment contains malware (forbidden)";
                        issues.push(Issue::new(INVALID, detail, now).at(format!("{at}/content")));
                        infected.push(format!("{at}/content"));
                    }
                    Err(e) => {
                        scan_failed = Some(e);
                        break 'files;
                    }
                }
            }
        }
        if !infected.is_empty() {
            tracing::error!(files = ?infected,
                "security incident: malware in attachments submitted to the mailbox API; refused");
            self.record_call(
                sdkgw_store::AuditEvent::new(now, "mailbox-api", MALWARE_FOUND)
                    .with("direction", "outbound")
                    .with("files", infected),
            );
        }
        if let Some(e) = scan_failed {
            tracing::error!(error = %e, "mailbox API: malware scan failed");
            return Err(Problem::unavailable(
                "the attachments could not be scanned for malware; retry later",
                30,
            ));
        }
        let detail = match issues.as_slice() {
            [] => return Ok(()),
            [one] => one.detail.clone().unwrap_or_default(),
            many => format!("{} attachments are not accepted", many.len()),
        };
        Err(Problem::bad_request(detail, issues))
    }

    /// Takes the mailboxes from `source` on every call instead of a fixed list.
    pub fn with_mailboxes(mut self, source: Arc<dyn MailboxSource>) -> Self {
        self.mailboxes = source;
        self
    }

    pub fn settings(&self) -> &ApiSettings {
        &self.settings
    }

    /// Wakes long-polls of the change feed (pipelines may call it after a transition; the
    /// feed also polls the store every 200 ms).
    pub fn notify_changes(&self) {
        self.changes.notify_waiters();
    }

    /// The client registry.
    pub fn clients(&self) -> Result<Clients, String> {
        Clients::open(&*self.store).map_err(|e| e.to_string())
    }

    /// Takes a POST slot; `None` when all are busy (→ 503).
    pub(crate) fn send_slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.sends.clone().try_acquire_owned().ok()
    }

    /// Token bucket per client; `Some(retry_after)` when over the limit.
    pub(crate) fn rate_limited(&self, client: &str) -> Option<u32> {
        if self.settings.rate_limit <= 0.0 {
            return None;
        }
        let mut map = self.rate.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.clear();
        }
        let now = Instant::now();
        let (tokens, last) = map
            .entry(client.to_owned())
            .or_insert((self.settings.rate_burst, now));
        let refill = now.duration_since(*last).as_secs_f64() * self.settings.rate_limit;
        *tokens = (*tokens + refill).min(self.settings.rate_burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            None
        } else {
            Some(
                ((1.0 - *tokens) / self.settings.rate_limit)
                    .ceil()
                    .clamp(1.0, 3600.0) as u32,
            )
        }
    }

    /// Configured mailboxes the caller holds a grant for.
    fn visible(&self, p: &Principal) -> Vec<FunctionAddress> {
        let mut v: Vec<FunctionAddress> = self
            .mailboxes
            .mailboxes()
            .into_iter()
            .map(|(m, _)| m)
            .filter(|m| p.may_use(m.as_str()))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    fn may_see(&self, p: &Principal, record: &MessageRecord) -> bool {
        record.content_deleted_at.is_none()
            && status::current(record).is_some()
            && record.mailbox.as_deref().is_some_and(|m| {
                p.may_use(m)
                    && self
                        .mailboxes
                        .mailboxes()
                        .iter()
                        .any(|(c, _)| c.as_str() == m)
            })
    }

    /// The record the caller may see under this message id (inbound preferred).
    fn find(&self, p: &Principal, id: &str) -> Result<Option<MessageRecord>, StoreError> {
        if !is_uuid(id) {
            return Ok(None);
        }
        let mut keys = self.store.find_by_id(IdKind::XheId, id)?;
        let lower = id.to_ascii_lowercase();
        if lower != id {
            keys.extend(self.store.find_by_id(IdKind::XheId, &lower)?);
        }
        let mut best: Option<MessageRecord> = None;
        for key in keys {
            let Some(r) = self.store.get_message(&key)? else {
                continue;
            };
            if self.may_see(p, &r)
                && best
                    .as_ref()
                    .is_none_or(|b| b.direction == Direction::Outbound)
            {
                best = Some(r);
            }
        }
        Ok(best)
    }

    fn lock(&self, key: &str) -> KeyLock {
        let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, l| Arc::strong_count(l) > 1);
        KeyLock(map.entry(key.to_owned()).or_default().clone())
    }

    fn message_id_of(record: &MessageRecord) -> String {
        record
            .correlation
            .xhe_id
            .clone()
            .unwrap_or_else(|| record.key.to_string())
    }

    /// `{"type":"messages","id":…,"attributes":{…}}`.
    fn resource(&self, record: &MessageRecord, mut attributes: Map<String, Value>) -> Value {
        if let Some(s) = status::current(record) {
            attributes.insert("messageStatus".into(), s.as_str().into());
        }
        if let Some(ev) = status::events(record, &self.receipt_lines(record)) {
            attributes.insert(
                "events".into(),
                serde_json::to_value(ev).unwrap_or(Value::Null),
            );
        }
        json!({"type": "messages", "id": Self::message_id_of(record), "attributes": attributes})
    }

    /// The line responses of the REJECTED receipt stored with the record (evidence
    /// `meddelandekvittens`, the receipt's XHE), read generically by element name.
    fn receipt_lines(&self, record: &MessageRecord) -> Vec<status::ReceiptLine> {
        if record.state != MessageState::RecipientRejected {
            return Vec::new();
        }
        let Some(ev) = record
            .evidence
            .iter()
            .rev()
            .find(|e| e.kind == "meddelandekvittens")
        else {
            return Vec::new();
        };
        let mut bytes = Vec::new();
        let read = self.store.open_blob(&ev.blob).ok().and_then(|r| {
            std::io::Read::read_to_end(&mut std::io::Read::take(r, 8 << 20), &mut bytes).ok()
        });
        let Some(doc) = read.and_then(|_| Document::parse(bytes, &ParseOptions::default()).ok())
        else {
            return Vec::new();
        };
        let text = |e: sdkgw_xml_security::xml::ElementRef<'_>, path: &[&str]| -> Option<String> {
            let mut cur = e;
            for name in path {
                cur = cur.child_elements().find(|c| c.local_name() == *name)?;
            }
            Some(cur.trimmed_text().to_owned())
        };
        doc.root()
            .descendants()
            .filter(|e| e.local_name() == "LineResponse")
            .take(50)
            .map(|l| status::ReceiptLine {
                code: text(l, &["Response", "ResponseCode"]).unwrap_or_else(|| "NA".into()),
                reason_code: text(l, &["Response", "Status", "StatusReasonCode"])
                    .unwrap_or_else(|| "NA".into()),
                reason: text(l, &["Response", "Status", "StatusReason"]).unwrap_or_default(),
                line: text(l, &["LineReference", "LineID"]).unwrap_or_else(|| "NA".into()),
            })
            .collect()
    }

    fn single(&self, ctx: &Ctx, record: &MessageRecord, attributes: Map<String, Value>) -> Value {
        let id = Self::message_id_of(record);
        let mut meta = Map::new();
        meta.insert("version".into(), self.settings.meta_version.clone().into());
        if record.direction == Direction::Inbound {
            meta.insert(
                "acknowledged".into(),
                (record.state == MessageState::Fetched).into(),
            );
        }
        if let Some(r) = &self.settings.content_retention {
            // The store's gc removes content `content_after_final` after a final state, and
            // any content older than `content_max_age`.
            let by_age = record.created_at + r.content_max_age;
            let expires = if record.state.is_final() {
                by_age.min(record.state_since + r.content_after_final)
            } else {
                by_age
            };
            meta.insert("expiresAt".into(), datetime::format_utc(expires).into());
        }
        json!({
            "meta": meta,
            "links": {"self": format!("{}/sdk/messages/{id}", ctx.base_url)},
            "data": self.resource(record, attributes),
        })
    }

    // ---- POST /sdk/messages ----

    pub fn send(
        &self,
        ctx: &Ctx,
        content_type: Option<&str>,
        idempotency_key: Option<&str>,
        body: &[u8],
    ) -> Reply {
        match self.try_send(ctx, content_type, idempotency_key, body) {
            Ok(r) => r,
            Err(p) => Reply::Problem(p),
        }
    }

    fn try_send(
        &self,
        ctx: &Ctx,
        content_type: Option<&str>,
        idempotency_key: Option<&str>,
        body: &[u8],
    ) -> Result<Reply, Problem> {
        let now = ctx.now;
        if !is_json(content_type) {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                super::problem::UNSUPPORTED_MEDIA_TYPE,
                "the body must be application/json",
            ));
        }
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| Problem::invalid("/", format!("not valid JSON: {e}"), now))?;
        let mut create = message_json::read_create(&value, self.settings.status_on_create, now)?;
        let sender_mailbox = self.authorise_sender(&ctx.principal, &mut create, now)?;
        self.directory
            .check(&create.recipient, &create.recipient_mailbox)
            .map_err(|e| {
                Problem::invalid(
                    "/data/attributes/recipientAttention/subOrganization/extension",
                    format!("recipient not in the address book: {e}"),
                    now,
                )
            })?;
        if create.content_bytes > self.settings.max_content_bytes {
            let mut p = Problem::too_large(format!(
                "the message content is {} bytes; at most {} are accepted",
                create.content_bytes, self.settings.max_content_bytes
            ));
            p.issues.push(
                Issue::new(
                    "Message too large",
                    "content (decoded files and text) above the limit",
                    now,
                )
                .at("/data/attributes/digitalDocument"),
            );
            return Err(p);
        }
        self.check_attachments(&create, now)?;
        let hash = sha256_hex(body);
        let mut scopes = Vec::new();
        if let Some(k) = idempotency_key {
            if k.is_empty() || k.len() > 255 || !k.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(Problem::invalid(
                    "Idempotency-Key",
                    "must be 1..255 visible ASCII characters",
                    now,
                ));
            }
            scopes.push(format!("h\u{0}{}\u{0}{k}", ctx.principal.client_id));
        }
        if create.client_message_id {
            scopes.push(format!("m\u{0}{}", create.message.header.message_id));
        }
        let _guards: Vec<_> = scopes.iter().map(|s| self.lock(s)).collect();
        let _held: Vec<_> = _guards
            .iter()
            .map(|g| g.0.lock().unwrap_or_else(|p| p.into_inner()))
            .collect();
        // An earlier request with the same key: same body → same answer, other body → 409.
        let mut earlier: Option<String> = None;
        for s in &scopes {
            if let Some(e) = self
                .index
                .idempotent(s, now)
                .map_err(|e| store_failed(&e))?
            {
                if e.body_sha256 != hash {
                    return Err(Problem::conflict(
                        "this idempotency key (Idempotency-Key or messageId) was used with a different body",
                    ));
                }
                earlier = Some(e.message_id);
            }
        }
        if let Some(id) = &earlier
            && !create.client_message_id
        {
            let generated = create.message.header.message_id.clone();
            if create.message.header.conversation_id == generated {
                create.message.header.conversation_id = id.clone();
            }
            create.message.header.message_id = id.clone();
        }
        let message_id = create.message.header.message_id.clone();
        if let Some(existing) = self.outbound(&message_id).map_err(|e| store_failed(&e))? {
            if earlier.is_some() {
                return Ok(self.created(ctx, &existing));
            }
            return Err(Problem::conflict(format!(
                "messageId {message_id} is already used by another message"
            ))
            .instance(&message_id));
        }
        let xml = create
            .message
            .to_xml()
            .map_err(|e| Problem::invalid("/data/attributes", e.to_string(), now))?;
        check_sdk_message(xml.as_bytes(), now)?;
        let expires_at = now + self.settings.idempotency_ttl;
        for s in &scopes {
            let entry = Idempotent {
                body_sha256: hash.clone(),
                message_id: message_id.clone(),
                expires_at,
            };
            self.index
                .put_idempotent(s, &entry)
                .map_err(|e| store_failed(&e))?;
        }
        let record = self
            .store_outbound(ctx, &create, &sender_mailbox, xml.as_bytes())
            .map_err(|e| store_failed(&e))?;
        let meta = message_json::attributes(&create.message, false);
        if let Err(e) = self.index.add(&record, Some(&meta)) {
            // The record is durable; the indexer's catch-up cannot find outbound records,
            // so report it (the message is still delivered and visible by id).
            tracing::error!(error = %e, message_id, "mailbox API: index write failed");
        }
        self.notify_changes();
        ctx.audit.mailbox(sender_mailbox.as_str());
        tracing::info!(target: "sdkgw::api::audit", client = %ctx.principal.client_id, request_id = %ctx.request_id,
            operation = "sendMessage", message_id, mailbox = %sender_mailbox, outcome = 201, "message accepted");
        Ok(self.created(ctx, &record))
    }

    fn created(&self, ctx: &Ctx, record: &MessageRecord) -> Reply {
        let id = Self::message_id_of(record);
        let attrs = self.index.meta(record).ok().flatten().unwrap_or_default();
        Reply::Json {
            status: StatusCode::CREATED,
            body: self.single(ctx, record, attrs),
            headers: vec![(
                "location",
                format!("{}/sdk/messages/{id}", self.settings.base_path),
            )],
        }
    }

    /// An outbound record with this message id.
    fn outbound(&self, message_id: &str) -> Result<Option<MessageRecord>, StoreError> {
        for key in self.store.find_by_id(IdKind::XheId, message_id)? {
            if let Some(r) = self.store.get_message(&key)?
                && r.direction == Direction::Outbound
            {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// The sender checks of MT–MK §2.2: the caller may act for the organisation and the
    /// function address. Returns the sending mailbox (filled in when it was omitted).
    fn authorise_sender(
        &self,
        p: &Principal,
        create: &mut Create,
        now: OffsetDateTime,
    ) -> Result<FunctionAddress, Problem> {
        let org = &create.sender;
        let mine: Vec<FunctionAddress> = self
            .mailboxes
            .mailboxes()
            .into_iter()
            .filter(|(m, o)| o == org && p.may_use(m.as_str()))
            .map(|(m, _)| m)
            .collect();
        if mine.is_empty() {
            return Err(Problem::invalid(
                "/data/attributes/sender",
                format!("the caller may not send for organisation {org}"),
                now,
            ));
        }
        match &create.sender_mailbox {
            Some(m) if mine.contains(m) => Ok(m.clone()),
            Some(m) => Err(Problem::invalid(
                "/data/attributes/senderAttention/subOrganization/extension",
                format!(
                    "the caller may not send from function address {:?} of {org}",
                    excerpt(m.as_str())
                ),
                now,
            )),
            None if mine.len() == 1 => {
                let m = mine[0].clone();
                create.message.header.sender.attention = Some(Attention {
                    persons: Vec::new(),
                    sub_organization: SubOrganization {
                        id: sdkgw_envelope::message::Ii {
                            root: FunctionAddress::SCHEME.to_owned(),
                            extension: m.as_str().to_owned(),
                        },
                        label: None,
                        extensions: Vec::new(),
                    },
                    references: Vec::new(),
                    extensions: Vec::new(),
                });
                create.sender_mailbox = Some(m.clone());
                Ok(m)
            }
            None => Err(Problem::invalid(
                "/data/attributes/senderAttention",
                "required: the caller holds several function addresses of the sender",
                now,
            )),
        }
    }

    fn store_outbound(
        &self,
        ctx: &Ctx,
        create: &Create,
        mailbox: &FunctionAddress,
        xml: &[u8],
    ) -> Result<MessageRecord, StoreError> {
        let mut writer = self.store.blob_writer()?;
        writer
            .write_all(xml)
            .map_err(|e| super::index::blob_io("write the SDK message", e))?;
        let blob = writer.finish()?;
        let mut new = NewMessage::new(
            Direction::Outbound,
            ctx.now,
            &format!("api:{}", ctx.principal.client_id),
        );
        new.mailbox = Some(mailbox.as_str().to_owned());
        new.sender = Some(create.sender.value().to_owned());
        new.recipient = Some(create.recipient.value().to_owned());
        new.document_type = Some(
            codelists()
                .sdk_message_document(TransportModel::ExtSigenc)
                .qualified(),
        );
        new.correlation.xhe_id = Some(create.message.header.message_id.clone());
        new.correlation.conversation_id = Some(create.message.header.conversation_id.clone());
        new.content.push((SDK_MESSAGE_ROLE.to_owned(), blob));
        match self.store.create_message(new)? {
            Created::New(r) => Ok(*r),
            Created::Duplicate { existing } => self
                .store
                .get_message(&existing)?
                .ok_or_else(|| StoreError::NotFound(existing.to_string())),
        }
    }

    // ---- GET /sdk/messages ----

    pub fn list(&self, ctx: &Ctx, raw_query: Option<&str>) -> Reply {
        match self.try_list(ctx, raw_query) {
            Ok(r) => r,
            Err(p) => Reply::Problem(p),
        }
    }

    fn try_list(&self, ctx: &Ctx, raw_query: Option<&str>) -> Result<Reply, Problem> {
        let now = ctx.now;
        let q = Query::parse(raw_query).map_err(|e| Problem::invalid("query", e, now))?;
        let filter = ListFilter::parse(&q, now)?;
        let page_size = match q.get("page[size]") {
            Some(s) => Some(
                s.parse::<usize>()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| Problem::invalid("page[size]", "must be 1..1000", now))?,
            ),
            None => None,
        };
        let mailboxes: Vec<String> = self
            .visible(&ctx.principal)
            .into_iter()
            .map(|m| m.as_str().to_owned())
            .collect();
        let mut cursor: BTreeMap<String, u64> = match q.get("page[after]") {
            Some(c) => decode_cursor(c).ok_or_else(|| {
                Problem::invalid("page[after]", "not a cursor from links.next", now)
            })?,
            None => BTreeMap::new(),
        };
        self.index.catch_up().map_err(|e| store_failed(&e))?;
        let limit = page_size.unwrap_or(self.settings.max_list);
        let (rows, more) = self
            .collect(ctx, &mailboxes, &mut cursor, &filter, limit)
            .map_err(|e| store_failed(&e))?;
        if rows.is_empty() && self.settings.empty_list_404 {
            return Err(Problem::not_found());
        }
        let query = raw_query.map(|q| format!("?{q}")).unwrap_or_default();
        let mut links = Map::new();
        links.insert(
            "self".into(),
            format!("{}/sdk/messages{query}", ctx.base_url).into(),
        );
        let mut meta = Map::new();
        meta.insert("version".into(), self.settings.meta_version.clone().into());
        if more {
            if let Some(size) = page_size {
                let mut next: Vec<String> = q
                    .params
                    .iter()
                    .filter(|(k, _)| k.as_str() != "page[after]")
                    .map(|(k, v)| format!("{}={}", encode_q(k), encode_q(v)))
                    .collect();
                next.push(format!("page[after]={}", encode_cursor(&cursor)));
                let _ = size;
                links.insert(
                    "next".into(),
                    format!("{}/sdk/messages?{}", ctx.base_url, next.join("&")).into(),
                );
            } else {
                meta.insert("truncated".into(), true.into());
            }
        }
        tracing::info!(target: "sdkgw::api::audit", client = %ctx.principal.client_id, request_id = %ctx.request_id,
            operation = "getMessageByFilter", count = rows.len(), outcome = 200, "messages listed");
        Ok(Reply::Json {
            status: StatusCode::OK,
            body: json!({"meta": meta, "links": links, "data": rows}),
            headers: Vec::new(),
        })
    }

    /// Merges the mailboxes' index entries in creation order, applying the filter, until
    /// `limit` rows; advances `cursor`. Returns the rows and whether more may follow.
    fn collect(
        &self,
        ctx: &Ctx,
        mailboxes: &[String],
        cursor: &mut BTreeMap<String, u64>,
        filter: &ListFilter,
        limit: usize,
    ) -> Result<(Vec<Value>, bool), StoreError> {
        let mut heads: BTreeMap<String, std::collections::VecDeque<super::index::Entry>> =
            BTreeMap::new();
        let mut exhausted: BTreeMap<String, bool> = BTreeMap::new();
        let mut rows = Vec::new();
        loop {
            for mb in mailboxes {
                let q = heads.entry(mb.clone()).or_default();
                if q.is_empty() && !exhausted.get(mb).copied().unwrap_or(false) {
                    let from = cursor.get(mb).copied().unwrap_or(0);
                    let (entries, _) = self.index.entries(mb, from, 256)?;
                    if entries.is_empty() {
                        exhausted.insert(mb.clone(), true);
                    }
                    q.extend(entries);
                }
            }
            let next = heads
                .iter()
                .filter_map(|(mb, q)| q.front().map(|e| (e.created_us, e.key, mb.clone())))
                .min();
            let Some((_, _, mb)) = next else {
                return Ok((rows, false));
            };
            if rows.len() >= limit {
                return Ok((rows, true));
            }
            let Some(entry) = heads.get_mut(&mb).and_then(|q| q.pop_front()) else {
                return Ok((rows, false));
            };
            cursor.insert(mb.clone(), entry.seq + 1);
            let Some(record) = self.store.get_message(&entry.key)? else {
                continue;
            };
            if !self.may_see(&ctx.principal, &record) {
                continue;
            }
            let Some(meta) = self.index.meta(&record)? else {
                continue;
            };
            if filter.matches(&record, &meta) {
                rows.push(self.resource(&record, meta));
            }
        }
    }

    // ---- GET /sdk/messages/{id} ----

    pub fn get(&self, ctx: &Ctx, id: &str, raw_query: Option<&str>) -> Reply {
        let now = ctx.now;
        let q = match Query::parse(raw_query) {
            Ok(q) => q,
            Err(e) => return Problem::invalid("query", e, now).into(),
        };
        let with_documents = match q.get("fields[messages]") {
            Some(f) => f.split(',').any(|x| x.trim() == "digitalDocument"),
            None => q.get("filter[digitalDocument]") != Some("false"),
        };
        let record = match self.find(&ctx.principal, id) {
            Ok(Some(r)) => r,
            Ok(None) => return self.gone_or_missing(ctx, id),
            Err(e) => return store_failed(&e).into(),
        };
        let attrs = if with_documents {
            match self.index.load_message(&record) {
                Ok(Some(m)) => message_json::attributes(&m, true),
                Ok(None) => return self.gone_or_missing(ctx, id),
                Err(e) => return store_failed(&e).into(),
            }
        } else {
            match self.index.meta(&record) {
                Ok(Some(m)) => m,
                Ok(None) => return self.gone_or_missing(ctx, id),
                Err(e) => return store_failed(&e).into(),
            }
        };
        if let Some(m) = record.mailbox.as_deref() {
            ctx.audit.mailbox(m);
        }
        tracing::info!(target: "sdkgw::api::audit", client = %ctx.principal.client_id, request_id = %ctx.request_id,
            operation = "getMessageById", message_id = id, mailbox = record.mailbox.as_deref().unwrap_or(""), outcome = 200, "message read");
        Reply::Json {
            status: StatusCode::OK,
            body: self.single(ctx, &record, attrs),
            headers: Vec::new(),
        }
    }

    fn gone_or_missing(&self, ctx: &Ctx, id: &str) -> Reply {
        match self.index.tombstone_at(id) {
            Ok(Some((at, mailbox)))
                if ctx.principal.may_use(&mailbox)
                    && at + time::Duration::days(self.settings.tombstone_days) > ctx.now =>
            {
                Problem::already_deleted().instance(id).into()
            }
            Ok(_) => Problem::not_found().into(),
            Err(e) => store_failed(&e).into(),
        }
    }

    // ---- DELETE /sdk/messages/{id} ----

    pub fn delete(&self, ctx: &Ctx, id: &str) -> Reply {
        let _g = self.lock(&format!("d\u{0}{id}"));
        let _held = _g.0.lock().unwrap_or_else(|p| p.into_inner());
        let record = match self.find(&ctx.principal, id) {
            Ok(Some(r)) => r,
            Ok(None) => return self.gone_or_missing(ctx, id),
            Err(e) => return store_failed(&e).into(),
        };
        let current = status::current(&record);
        if !current.is_some_and(MessageStatus::is_final) {
            let status = self.settings.delete_non_final_status;
            let kind = if status == StatusCode::CONFLICT {
                super::problem::CONFLICT
            } else {
                super::problem::BAD_REQUEST
            };
            let shown = current.map(MessageStatus::as_str).unwrap_or("unknown");
            return Problem::new(status, kind, format!("a message in status {shown} cannot be deleted yet; only NEW, ACCEPTED and MESSAGE_EXCHANGE_ERROR can"))
                .instance(id)
                .into();
        }
        let actor = format!("api:{}", ctx.principal.client_id);
        let mailbox = record.mailbox.clone().unwrap_or_default();
        if let Err(e) = self.index.tombstone(id, &mailbox, ctx.now) {
            return store_failed(&e).into();
        }
        let mut update = match record.direction {
            Direction::Inbound => {
                Update::to(MessageState::Deleted, ctx.now, &actor).expect(record.state)
            }
            Direction::Outbound => Update::none(ctx.now, &actor),
        };
        update.delete_content = true;
        update.note = Some("deleted by the message client (DELETE)".into());
        match self.store.update(&record.key, update) {
            Ok(_) => {}
            Err(StoreError::StateMismatch { .. }) => return self.gone_or_missing(ctx, id),
            Err(e) => return store_failed(&e).into(),
        }
        ctx.audit.mailbox(&mailbox);
        tracing::info!(target: "sdkgw::api::audit", client = %ctx.principal.client_id, request_id = %ctx.request_id,
            operation = "deleteMessageById", message_id = id, mailbox, outcome = 202, "message deleted");
        self.notify_changes();
        Reply::Empty(StatusCode::ACCEPTED)
    }

    // ---- POST /sdk/ext/messages/{id}/ack ----

    pub fn ack(&self, ctx: &Ctx, id: &str) -> Reply {
        let record = match self.find(&ctx.principal, id) {
            Ok(Some(r)) => r,
            Ok(None) => return self.gone_or_missing(ctx, id),
            Err(e) => return store_failed(&e).into(),
        };
        if record.direction != Direction::Inbound {
            return Problem::conflict("only inbound messages are acknowledged")
                .instance(id)
                .into();
        }
        if record.state == MessageState::Filed {
            let actor = format!("api:{}", ctx.principal.client_id);
            let update = Update::to(MessageState::Fetched, ctx.now, &actor)
                .expect(MessageState::Filed)
                .note("acknowledged by the message client");
            match self.store.update(&record.key, update) {
                Ok(_) | Err(StoreError::StateMismatch { .. }) => {}
                Err(e) => return store_failed(&e).into(),
            }
        }
        tracing::info!(target: "sdkgw::api::audit", client = %ctx.principal.client_id, request_id = %ctx.request_id,
            operation = "ackMessage", message_id = id, outcome = 204, "message acknowledged");
        Reply::Empty(StatusCode::NO_CONTENT)
    }

    // ---- GET /sdk/ext/messages/{id}/documents/{documentId}/files/{n} ----

    pub fn file(
        &self,
        ctx: &Ctx,
        id: &str,
        document_id: &str,
        n: &str,
        range: Option<&str>,
    ) -> Reply {
        let record = match self.find(&ctx.principal, id) {
            Ok(Some(r)) => r,
            Ok(None) => return self.gone_or_missing(ctx, id),
            Err(e) => return store_failed(&e).into(),
        };
        let message = match self.index.load_message(&record) {
            Ok(Some(m)) => m,
            Ok(None) => return self.gone_or_missing(ctx, id),
            Err(e) => return store_failed(&e).into(),
        };
        let file = n.parse::<usize>().ok().filter(|n| *n >= 1).and_then(|n| {
            message
                .body
                .documents
                .iter()
                .find(|d| d.document_id == document_id)
                .and_then(|d| d.files.get(n - 1))
        });
        let Some(file) = file else {
            return Problem::not_found().into();
        };
        let Ok(bytes) = file.decode() else {
            return Problem::not_found().into();
        };
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
        let content_type = if file.content_type.parse::<http::HeaderValue>().is_ok()
            && !file.content_type.contains(['\r', '\n'])
        {
            file.content_type.clone()
        } else {
            "application/octet-stream".into()
        };
        let name = super::file_name::download_file_name(&file.file_name);
        let mut headers = vec![
            (
                "digest",
                format!("sha-256={}", STANDARD.encode(digest.as_ref())),
            ),
            ("accept-ranges", "bytes".into()),
            (
                "content-disposition",
                format!("attachment; filename=\"{name}\""),
            ),
        ];
        let total = bytes.len();
        let (status, body) = match range.map(|r| parse_range(r, total)) {
            None => (StatusCode::OK, bytes),
            Some(Some((a, b))) => {
                headers.push(("content-range", format!("bytes {a}-{b}/{total}")));
                (StatusCode::PARTIAL_CONTENT, bytes[a..=b].to_vec())
            }
            Some(None) => {
                return Reply::Bytes {
                    status: StatusCode::RANGE_NOT_SATISFIABLE,
                    content_type: "text/plain".into(),
                    body: Vec::new(),
                    headers: vec![("content-range", format!("bytes */{total}"))],
                };
            }
        };
        Reply::Bytes {
            status,
            content_type,
            body,
            headers,
        }
    }

    // ---- GET /sdk/ext/changes ----

    /// One pass over the change feed from `after` (exclusive): the changes the caller may
    /// see, and the last audit position examined.
    pub fn changes_once(
        &self,
        ctx: &Ctx,
        after: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<Value>, Option<u64>), StoreError> {
        let from = after.map_or(0, |a| a.saturating_add(1));
        let events = self.stable_audit(from, 2048)?;
        let mut out = Vec::new();
        let mut last = after;
        for ev in events {
            if out.len() >= limit {
                break;
            }
            last = Some(ev.seq);
            let relevant = matches!(ev.action.as_str(), "message.create" | "message.transition");
            let Some(key) = ev.message.filter(|_| relevant) else {
                continue;
            };
            let Some(record) = self.store.get_message(&key)? else {
                continue;
            };
            let to = ev
                .detail
                .get("to")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<MessageState>().ok())
                .unwrap_or(record.direction.initial_state());
            let from_state = ev
                .detail
                .get("from")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<MessageState>().ok());
            let shown = match record.direction {
                Direction::Inbound if to == MessageState::Filed => Some(MessageStatus::New),
                Direction::Inbound => None,
                Direction::Outbound if from_state == Some(to) => None,
                Direction::Outbound => status::after_transition(from_state, to),
            };
            let (Some(shown), Some(mailbox)) = (shown, record.mailbox.as_deref()) else {
                continue;
            };
            if !ctx.principal.may_use(mailbox)
                || !self
                    .mailboxes
                    .mailboxes()
                    .iter()
                    .any(|(m, _)| m.as_str() == mailbox)
            {
                continue;
            }
            out.push(json!({
                "seq": ev.seq,
                "id": Self::message_id_of(&record),
                "messageStatus": shown.as_str(),
                "mailbox": mailbox,
                "direction": record.direction.as_str(),
                "dateTime": datetime::format_utc(ev.at),
            }));
        }
        Ok((out, last))
    }

    /// Audit events from `from`, cut before a sequence gap younger than 2 s (a transaction
    /// that took its number but has not committed yet); older gaps are skipped (aborted).
    fn stable_audit(
        &self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<sdkgw_store::AuditEvent>, StoreError> {
        let events = self.store.audit(from, limit)?;
        let mut expect = from;
        let mut out = Vec::with_capacity(events.len());
        let mut gaps = self.gaps.lock().unwrap_or_else(|p| p.into_inner());
        gaps.retain(|_, t| t.elapsed() < std::time::Duration::from_secs(60));
        for ev in events {
            if ev.seq != expect {
                let first_seen = *gaps.entry(expect).or_insert_with(Instant::now);
                if first_seen.elapsed() < std::time::Duration::from_secs(2) {
                    break;
                }
            }
            expect = ev.seq + 1;
            out.push(ev);
        }
        Ok(out)
    }
}

/// Validates the SDK message we built with the envelope layer (XSD + schematron + rules).
fn check_sdk_message(xml: &[u8], now: OffsetDateTime) -> Result<(), Problem> {
    let doc = Document::parse_slice(xml, &ParseOptions::default()).map_err(|e| {
        Problem::invalid(
            "/data/attributes",
            format!("the message cannot be built: {e}"),
            now,
        )
    })?;
    let check = message::validate_document(&doc);
    if check.report.is_conformant() && check.message.is_some() {
        return Ok(());
    }
    let issues = check
        .report
        .findings()
        .iter()
        .filter(|f| f.is_fatal())
        .take(20)
        .map(|f| Issue::new(f.rule.id(), f.message.clone(), now).at(f.path.clone()))
        .collect();
    Err(Problem::bad_request(
        "the message breaks the SDK message rules (B1.3.3)",
        issues,
    ))
}

fn is_json(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence == "application/vnd.api+json"
}

fn sha256_hex(b: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b)
        .as_ref()
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn encode_cursor(c: &BTreeMap<String, u64>) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(c).unwrap_or_default())
}

fn decode_cursor(s: &str) -> Option<BTreeMap<String, u64>> {
    let bytes = URL_SAFE_NO_PAD.decode(s).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn encode_q(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .replace("%5B", "[")
        .replace("%5D", "]")
        .replace("%2E", ".")
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` (one range) → inclusive bounds.
fn parse_range(h: &str, total: usize) -> Option<(usize, usize)> {
    let spec = h.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || total == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: usize = n.parse().ok()?;
            (total.checked_sub(n.min(total))?, total - 1)
        }
        (a, "") => (a.parse().ok()?, total - 1),
        (a, b) => (a.parse().ok()?, b.parse::<usize>().ok()?.min(total - 1)),
    };
    (start <= end && start < total).then_some((start, end))
}

/// The list filter (DIGG's five keys plus our extensions).
#[derive(Debug, Default)]
struct ListFilter {
    statuses: Vec<MessageStatus>,
    recipient_mailbox: Option<String>,
    sender_mailbox: Option<String>,
    start: Option<OffsetDateTime>,
    stop: Option<OffsetDateTime>,
    conversation_id: Option<String>,
    ref_to_message_id: Option<String>,
    acknowledged: Option<bool>,
}

impl ListFilter {
    fn parse(q: &Query, now: OffsetDateTime) -> Result<Self, Problem> {
        if let Some(k) = q.malformed("filter") {
            return Err(Problem::invalid(
                k,
                "filter parameters are written filter[attribute]=value",
                now,
            ));
        }
        let mut f = ListFilter::default();
        for (key, value) in q.family("filter") {
            let at = format!("filter[{key}]");
            let time = |v: &str| datetime::parse(v).map_err(|e| Problem::invalid(&at, e, now));
            match key {
                "messageStatus" => {
                    for s in value.split(',') {
                        let st = MessageStatus::parse(s.trim()).ok_or_else(|| {
                            Problem::invalid(&at, format!("unknown status {:?}", excerpt(s)), now)
                        })?;
                        f.statuses.push(st);
                    }
                }
                "recipientAttention.subOrganization.extension" => {
                    f.recipient_mailbox = Some(value.to_owned())
                }
                "senderAttention.subOrganization.extension" => {
                    f.sender_mailbox = Some(value.to_owned())
                }
                "creationDateTimeStart" => f.start = Some(time(value)?),
                "creationDateTimeStop" => f.stop = Some(time(value)?),
                "conversationId" => f.conversation_id = Some(value.to_ascii_lowercase()),
                "refToMessageId" => f.ref_to_message_id = Some(value.to_ascii_lowercase()),
                _ => return Err(Problem::invalid(&at, "unknown filter key", now)),
            }
        }
        match q.get("ext[acknowledged]") {
            Some("true") => f.acknowledged = Some(true),
            Some("false") => f.acknowledged = Some(false),
            Some(_) => {
                return Err(Problem::invalid(
                    "ext[acknowledged]",
                    "must be true or false",
                    now,
                ));
            }
            None => {}
        }
        Ok(f)
    }

    fn matches(&self, record: &MessageRecord, meta: &Map<String, Value>) -> bool {
        let ext = |attention: &str| {
            meta.get(attention)
                .and_then(|a| a.get("subOrganization"))
                .and_then(|s| s.get("extension"))
                .and_then(Value::as_str)
        };
        let text = |k: &str| {
            meta.get(k)
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
        };
        if !self.statuses.is_empty()
            && !status::current(record).is_some_and(|s| self.statuses.contains(&s))
        {
            return false;
        }
        if self
            .recipient_mailbox
            .as_deref()
            .is_some_and(|m| ext("recipientAttention") != Some(m))
        {
            return false;
        }
        if self
            .sender_mailbox
            .as_deref()
            .is_some_and(|m| ext("senderAttention") != Some(m))
        {
            return false;
        }
        if self.start.is_some() || self.stop.is_some() {
            let Some(created) = meta
                .get("creationDateTime")
                .and_then(Value::as_str)
                .and_then(|s| datetime::parse(s).ok())
            else {
                return false;
            };
            if self.start.is_some_and(|s| created < s) || self.stop.is_some_and(|s| created >= s) {
                return false;
            }
        }
        if self.conversation_id.is_some() && text("conversationId") != self.conversation_id {
            return false;
        }
        if self.ref_to_message_id.is_some() && text("refToMessageId") != self.ref_to_message_id {
            return false;
        }
        if let Some(ack) = self.acknowledged {
            let acked = record.state == MessageState::Fetched;
            if acked != ack {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-1", 100), None);
        assert_eq!(parse_range("bytes=0-1,3-4", 100), None);
    }

    #[test]
    fn cursor_round_trips() {
        let mut c = BTreeMap::new();
        c.insert("sdk:in:0203:a.se".to_owned(), 42u64);
        assert_eq!(decode_cursor(&encode_cursor(&c)), Some(c));
        assert_eq!(decode_cursor("!!"), None);
    }
}
