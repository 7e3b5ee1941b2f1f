//! The JSON ↔ SDK message (MessageWithAttachments v3) mapping, on `sdkgw-envelope`'s model.
//!
//! Input (`createMessage`) is read from a `serde_json::Value` by hand, so every problem names
//! its JSON pointer in `eventIssues[].in`. Output (`messageDef`) is built from the stored SDK
//! message; `digitalDocument` only when asked for (never in lists).
//!
//! | JSON (`data.attributes.…`) | SDK message (`messagePayload/message/…`) |
//! |---|---|
//! | `messageId` (= `data.id`) | `messageHeader/messageId` (= XHE `Header/ID`) |
//! | `conversationId` | `messageHeader/conversationId` |
//! | `refToMessageId` | `messageHeader/refToMessageId` |
//! | `creationDateTime` | `messageHeader/creationDateTime` (normalised to `…sss Z`) |
//! | `label` | `messageHeader/label` |
//! | `confidentiality` | `messageHeader/confidentiality` |
//! | `generatingSystem{root,extension}` | `messageHeader/generatingSystem` |
//! | `recipient` / `sender` | `recipientID`/`senderID` (`iso6523-actorid-upis`, extension) |
//! | `recipientAttention` / `senderAttention` | `recipient/attention` / `sender/attention` |
//! | `…subOrganization{root,extension,label}` | `attention/subOrganization/organizationId` + `label` |
//! | `…attentionPerson[]{root,extension,label}` | `attention/person/personId` + `label` |
//! | `…referenceId[]{root,extension,label}` | `attention/reference/referenceId` + `label` |
//! | `digitalDocument[]{documentId,documentName,index}` | `messageBody/documents` |
//! | `…contentTextBody[]` | `documents/ContentText/characterSequence` |
//! | `…contentFiles[]{fileName,contentType,content}` | `documents/ContentFiles` (Base64 kept as sent) |

use sdkgw_envelope::message::{
    Attention, ContentFile, ContentText, DigitalDocument, Ii, MessageBody, MessageHeader, Person,
    Recipient, Reference, SdkMessage, Sender, SubOrganization,
};
use sdkgw_schemas::{FunctionAddress, ParticipantId};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::datetime::{self, excerpt, format_utc};
use super::problem::{INVALID, Issue, Problem};

/// Longest `label` and `extension` (DIGG's OpenAPI `maxLength`).
pub const MAX_TEXT: usize = 256;

/// A validated `createMessage`.
#[derive(Debug)]
pub struct Create {
    pub message: SdkMessage,
    /// Whether the client supplied the `messageId` (it is then an idempotency key).
    pub client_message_id: bool,
    pub sender: ParticipantId,
    pub recipient: ParticipantId,
    pub sender_mailbox: Option<FunctionAddress>,
    pub recipient_mailbox: FunctionAddress,
    /// Decoded bytes of all files plus the text, for the size limit.
    pub content_bytes: u64,
}

/// What the reader does with a `messageStatus` on create (T18).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusOnCreate {
    Reject,
    Ignore,
}

struct Reader<'a> {
    issues: Vec<Issue>,
    now: OffsetDateTime,
    _p: std::marker::PhantomData<&'a ()>,
}

impl<'a> Reader<'a> {
    fn issue(&mut self, at: &str, detail: impl Into<String>) {
        if self.issues.len() < 50 {
            self.issues
                .push(Issue::new(INVALID, detail, self.now).at(at));
        }
    }

    fn object(
        &mut self,
        v: Option<&'a Value>,
        at: &str,
        required: bool,
    ) -> Option<&'a Map<String, Value>> {
        match v {
            Some(Value::Object(m)) => Some(m),
            None | Some(Value::Null) if !required => None,
            None | Some(Value::Null) => {
                self.issue(at, "required");
                None
            }
            Some(_) => {
                self.issue(at, "must be an object");
                None
            }
        }
    }

    fn array(&mut self, v: Option<&'a Value>, at: &str) -> &'a [Value] {
        match v {
            Some(Value::Array(a)) => a,
            None | Some(Value::Null) => &[],
            Some(_) => {
                self.issue(at, "must be an array");
                &[]
            }
        }
    }

    fn string(
        &mut self,
        m: &'a Map<String, Value>,
        key: &str,
        at: &str,
        required: bool,
        max: Option<usize>,
    ) -> Option<&'a str> {
        let path = format!("{at}/{key}");
        match m.get(key) {
            Some(Value::String(s)) => {
                if let Some(max) = max
                    && s.chars().count() > max
                {
                    self.issue(&path, format!("longer than {max} characters"));
                    return None;
                }
                if s.trim().is_empty() && required {
                    self.issue(&path, "must not be empty");
                    return None;
                }
                Some(s.as_str())
            }
            None | Some(Value::Null) if !required => None,
            None | Some(Value::Null) => {
                self.issue(&path, "required");
                None
            }
            Some(_) => {
                self.issue(&path, "must be a string");
                None
            }
        }
    }

    fn uuid(&mut self, m: &'a Map<String, Value>, key: &str, at: &str) -> Option<String> {
        let s = self.string(m, key, at, false, None)?;
        if is_uuid(s) {
            Some(s.to_ascii_lowercase())
        } else {
            self.issue(
                &format!("{at}/{key}"),
                format!("{:?} is not a UUID", excerpt(s)),
            );
            None
        }
    }

    fn ii(&mut self, v: &'a Value, at: &str) -> Option<(Ii, Option<String>)> {
        let m = self.object(Some(v), at, true)?;
        let root = self.string(m, "root", at, true, Some(MAX_TEXT));
        let extension = self.string(m, "extension", at, true, Some(MAX_TEXT));
        let label = self.string(m, "label", at, false, Some(MAX_TEXT));
        Some((
            Ii {
                root: root?.to_owned(),
                extension: extension?.to_owned(),
            },
            label.map(str::to_owned),
        ))
    }

    fn attention(&mut self, v: Option<&'a Value>, at: &str, required: bool) -> Option<Attention> {
        let m = self.object(v, at, required)?;
        let so_at = format!("{at}/subOrganization");
        let so = self.object(m.get("subOrganization"), &so_at, true);
        let sub = so.and_then(|so| {
            let root = self
                .string(so, "root", &so_at, false, Some(MAX_TEXT))
                .unwrap_or(FunctionAddress::SCHEME);
            let ext = self.string(so, "extension", &so_at, true, Some(MAX_TEXT))?;
            let label = self.string(so, "label", &so_at, false, Some(MAX_TEXT));
            if let Err(e) = FunctionAddress::from_parts(root, ext) {
                self.issue(&format!("{so_at}/extension"), e.to_string());
                return None;
            }
            Some(SubOrganization {
                id: Ii {
                    root: root.to_owned(),
                    extension: ext.to_owned(),
                },
                label: label.map(str::to_owned),
                extensions: Vec::new(),
            })
        });
        let mut persons = Vec::new();
        for (i, p) in self
            .array(m.get("attentionPerson"), &format!("{at}/attentionPerson"))
            .iter()
            .enumerate()
        {
            let pat = format!("{at}/attentionPerson/{i}");
            if let Some((id, label)) = self.ii(p, &pat) {
                persons.push(Person {
                    id: Some(id),
                    label,
                    extensions: Vec::new(),
                });
            }
        }
        let mut references = Vec::new();
        for (i, r) in self
            .array(m.get("referenceId"), &format!("{at}/referenceId"))
            .iter()
            .enumerate()
        {
            let rat = format!("{at}/referenceId/{i}");
            if let Some((id, label)) = self.ii(r, &rat) {
                references.push(Reference {
                    id,
                    label,
                    extensions: Vec::new(),
                });
            }
        }
        Some(Attention {
            persons,
            sub_organization: sub?,
            references,
            extensions: Vec::new(),
        })
    }

    fn documents(
        &mut self,
        v: Option<&'a Value>,
        at: &str,
        content: &mut u64,
    ) -> Vec<DigitalDocument> {
        let docs = self.array(v, at);
        if docs.is_empty() {
            self.issue(
                at,
                "at least one document is required (the SDK message body holds 1..n documents)",
            );
        }
        let several = docs.len() > 1;
        let mut out = Vec::new();
        for (i, d) in docs.iter().enumerate() {
            let dat = format!("{at}/{i}");
            let Some(m) = self.object(Some(d), &dat, true) else {
                continue;
            };
            let id = self.string(m, "documentId", &dat, true, Some(MAX_TEXT));
            let name = self.string(m, "documentName", &dat, false, Some(MAX_TEXT));
            let index = self.string(m, "index", &dat, several, Some(16));
            if let Some(ix) = index
                && (ix.is_empty() || !ix.bytes().all(|b| b.is_ascii_digit()))
            {
                self.issue(&format!("{dat}/index"), "must be digits (\"1\" = first)");
            }
            let mut texts = Vec::new();
            for (j, t) in self
                .array(m.get("contentTextBody"), &format!("{dat}/contentTextBody"))
                .iter()
                .enumerate()
            {
                match t.as_str() {
                    Some(s) if !s.trim().is_empty() => {
                        *content += s.len() as u64;
                        texts.push(ContentText {
                            character_sequence: s.to_owned(),
                            extensions: Vec::new(),
                        });
                    }
                    _ => self.issue(
                        &format!("{dat}/contentTextBody/{j}"),
                        "must be a non-empty string",
                    ),
                }
            }
            let mut files = Vec::new();
            for (j, f) in self
                .array(m.get("contentFiles"), &format!("{dat}/contentFiles"))
                .iter()
                .enumerate()
            {
                let fat = format!("{dat}/contentFiles/{j}");
                let Some(fm) = self.object(Some(f), &fat, true) else {
                    continue;
                };
                let file_name = self.string(fm, "fileName", &fat, true, Some(MAX_TEXT));
                let content_type = self.string(fm, "contentType", &fat, true, Some(MAX_TEXT));
                let data = self.string(fm, "content", &fat, true, None);
                if let Some(ct) = content_type
                    && !is_media_type(ct)
                {
                    self.issue(
                        &format!("{fat}/contentType"),
                        format!("{:?} is not a MIME type", excerpt(ct)),
                    );
                }
                let decoded = data.map(base64_decoded_len);
                match decoded {
                    Some(Some(n)) => *content += n,
                    Some(None) => {
                        self.issue(&format!("{fat}/content"), "not valid Base64 (RFC 4648)")
                    }
                    None => {}
                }
                if let (Some(n), Some(t), Some(d), Some(Some(_))) =
                    (file_name, content_type, data, decoded)
                {
                    files.push(ContentFile {
                        file_name: n.to_owned(),
                        content_type: t.to_owned(),
                        content: d.to_owned(),
                        extensions: Vec::new(),
                    });
                }
            }
            if texts.is_empty() && files.is_empty() {
                self.issue(&dat, "a document needs contentTextBody or contentFiles");
            }
            if let Some(id) = id {
                out.push(DigitalDocument {
                    document_id: id.to_owned(),
                    document_name: name.map(str::to_owned),
                    index: index.map(str::to_owned),
                    files,
                    texts,
                    extensions: Vec::new(),
                });
            }
        }
        out
    }
}

/// Reads and validates a `createMessage` document.
pub fn read_create(
    body: &Value,
    on_status: StatusOnCreate,
    now: OffsetDateTime,
) -> Result<Create, Problem> {
    let mut r = Reader {
        issues: Vec::new(),
        now,
        _p: std::marker::PhantomData,
    };
    let fail = |r: Reader<'_>| Problem::bad_request("the message is not valid", r.issues);
    let Some(root) = r.object(Some(body), "", true) else {
        return Err(fail(r));
    };
    let Some(data) = r.object(root.get("data"), "/data", true) else {
        return Err(fail(r));
    };
    match data.get("type") {
        Some(Value::String(t)) if t == "messages" => {}
        None => {}
        Some(_) => r.issue("/data/type", "must be \"messages\""),
    }
    let id = r.uuid(data, "id", "/data");
    let at = "/data/attributes";
    let Some(a) = r.object(data.get("attributes"), at, true) else {
        return Err(fail(r));
    };
    if a.contains_key("messageStatus") && on_status == StatusOnCreate::Reject {
        r.issue(
            &format!("{at}/messageStatus"),
            "set by the message service; must not be sent",
        );
    }
    let message_id = r.uuid(a, "messageId", at);
    if let (Some(i), Some(m)) = (&id, &message_id)
        && i != m
    {
        r.issue(
            "/data/id",
            "must equal attributes.messageId (this service uses id = messageId)",
        );
    }
    let client_message_id = message_id.is_some() || id.is_some();
    let message_id = message_id
        .or(id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().hyphenated().to_string());
    let conversation_id = r.uuid(a, "conversationId", at);
    let ref_to = r.uuid(a, "refToMessageId", at);
    let created = match r.string(a, "creationDateTime", at, false, None) {
        Some(s) => match datetime::parse(s) {
            Ok(t) => Some(t),
            Err(e) => {
                r.issue(&format!("{at}/creationDateTime"), e);
                None
            }
        },
        None => Some(now),
    };
    let confidentiality = match a.get("confidentiality") {
        Some(Value::Bool(b)) => Some(*b),
        None | Some(Value::Null) => {
            r.issue(&format!("{at}/confidentiality"), "required");
            None
        }
        Some(_) => {
            r.issue(&format!("{at}/confidentiality"), "must be true or false");
            None
        }
    };
    let label = r.string(a, "label", at, true, Some(MAX_TEXT));
    let sender = participant(&mut r, a, "sender", at);
    let recipient = participant(&mut r, a, "recipient", at);
    let generating = match r.object(
        a.get("generatingSystem"),
        &format!("{at}/generatingSystem"),
        false,
    ) {
        Some(_) => r
            .ii(&a["generatingSystem"], &format!("{at}/generatingSystem"))
            .map(|(ii, _)| ii),
        None => None,
    };
    let recipient_attention = r.attention(
        a.get("recipientAttention"),
        &format!("{at}/recipientAttention"),
        true,
    );
    let sender_attention = r.attention(
        a.get("senderAttention"),
        &format!("{at}/senderAttention"),
        false,
    );
    let mut content_bytes = 0;
    let documents = r.documents(
        a.get("digitalDocument"),
        &format!("{at}/digitalDocument"),
        &mut content_bytes,
    );
    let (
        Some(created),
        Some(confidentiality),
        Some(label),
        Some(sender),
        Some(recipient),
        Some(ra),
    ) = (
        created,
        confidentiality,
        label,
        sender,
        recipient,
        recipient_attention,
    )
    else {
        return Err(fail(r));
    };
    if !r.issues.is_empty() {
        return Err(fail(r));
    }
    let recipient_mailbox =
        FunctionAddress::parse(&ra.sub_organization.id.extension).map_err(|e| {
            Problem::invalid(
                &format!("{at}/recipientAttention/subOrganization/extension"),
                e.to_string(),
                now,
            )
        })?;
    let sender_mailbox = sender_attention
        .as_ref()
        .map(|s| FunctionAddress::parse(&s.sub_organization.id.extension))
        .transpose()
        .map_err(|e| {
            Problem::invalid(
                &format!("{at}/senderAttention/subOrganization/extension"),
                e.to_string(),
                now,
            )
        })?;
    let message = SdkMessage {
        header: MessageHeader {
            creation_date_time: format_utc(created),
            conversation_id: conversation_id.unwrap_or_else(|| message_id.clone()),
            message_id,
            ref_to_message_id: ref_to,
            label: Some(label.to_owned()),
            confidentiality,
            generating_system: generating,
            recipient: Recipient {
                id: participant_ii(&recipient),
                label: None,
                attention: ra,
                extensions: Vec::new(),
            },
            sender: Sender {
                id: participant_ii(&sender),
                label: None,
                attention: sender_attention,
                extensions: Vec::new(),
            },
            extensions: Vec::new(),
        },
        body: MessageBody {
            documents,
            extensions: Vec::new(),
        },
        extensions: Vec::new(),
    };
    Ok(Create {
        message,
        client_message_id,
        sender,
        recipient,
        sender_mailbox,
        recipient_mailbox,
        content_bytes,
    })
}

fn participant<'a>(
    r: &mut Reader<'a>,
    a: &'a Map<String, Value>,
    key: &str,
    at: &str,
) -> Option<ParticipantId> {
    let s = r.string(a, key, at, true, Some(MAX_TEXT))?;
    match ParticipantId::parse(s) {
        Ok(p) => Some(p),
        Err(e) => {
            r.issue(&format!("{at}/{key}"), e.to_string());
            None
        }
    }
}

fn participant_ii(p: &ParticipantId) -> Ii {
    Ii {
        root: ParticipantId::SCHEME.to_owned(),
        extension: p.value().to_owned(),
    }
}

/// The `attributes` of a stored message (without `messageStatus`/`events`, which come from
/// the record, and with `digitalDocument` only when `with_documents`).
pub fn attributes(m: &SdkMessage, with_documents: bool) -> Map<String, Value> {
    let h = &m.header;
    let mut a = Map::new();
    a.insert(
        "creationDateTime".into(),
        h.creation_date_time.clone().into(),
    );
    a.insert("messageId".into(), h.message_id.clone().into());
    a.insert("conversationId".into(), h.conversation_id.clone().into());
    if let Some(r) = &h.ref_to_message_id {
        a.insert("refToMessageId".into(), r.clone().into());
    }
    a.insert("confidentiality".into(), h.confidentiality.into());
    if let Some(g) = &h.generating_system {
        a.insert(
            "generatingSystem".into(),
            json!({"root": g.root, "extension": g.extension}),
        );
    }
    a.insert(
        "recipientAttention".into(),
        attention_json(&h.recipient.attention),
    );
    if let Some(s) = &h.sender.attention {
        a.insert("senderAttention".into(), attention_json(s));
    }
    a.insert("sender".into(), h.sender.id.extension.clone().into());
    a.insert("recipient".into(), h.recipient.id.extension.clone().into());
    a.insert("label".into(), h.label.clone().unwrap_or_default().into());
    if with_documents {
        let docs: Vec<Value> = m.body.documents.iter().map(document_json).collect();
        a.insert("digitalDocument".into(), Value::Array(docs));
    }
    a
}

fn attention_json(at: &Attention) -> Value {
    let ii = |id: Option<&Ii>, label: &Option<String>| {
        json!({
            "root": id.map(|i| i.root.as_str()).unwrap_or_default(),
            "extension": id.map(|i| i.extension.as_str()).unwrap_or_default(),
            "label": label.clone().unwrap_or_default(),
        })
    };
    let mut so = Map::new();
    so.insert("root".into(), at.sub_organization.id.root.clone().into());
    so.insert(
        "extension".into(),
        at.sub_organization.id.extension.clone().into(),
    );
    if let Some(l) = &at.sub_organization.label {
        so.insert("label".into(), l.clone().into());
    }
    let mut out = Map::new();
    out.insert("subOrganization".into(), Value::Object(so));
    if !at.persons.is_empty() {
        let persons: Vec<Value> = at
            .persons
            .iter()
            .map(|p| ii(p.id.as_ref(), &p.label))
            .collect();
        out.insert("attentionPerson".into(), Value::Array(persons));
    }
    if !at.references.is_empty() {
        let refs: Vec<Value> = at
            .references
            .iter()
            .map(|r| ii(Some(&r.id), &r.label))
            .collect();
        out.insert("referenceId".into(), Value::Array(refs));
    }
    Value::Object(out)
}

fn document_json(d: &DigitalDocument) -> Value {
    let mut m = Map::new();
    if let Some(n) = &d.document_name {
        m.insert("documentName".into(), n.clone().into());
    }
    m.insert("documentId".into(), d.document_id.clone().into());
    if let Some(i) = &d.index {
        m.insert("index".into(), i.clone().into());
    }
    if !d.texts.is_empty() {
        let t: Vec<Value> = d
            .texts
            .iter()
            .map(|t| t.character_sequence.clone().into())
            .collect();
        m.insert("contentTextBody".into(), Value::Array(t));
    }
    if !d.files.is_empty() {
        let f: Vec<Value> = d
            .files
            .iter()
            .map(|f| {
                let compact: String = f
                    .content
                    .chars()
                    .filter(|c| !c.is_ascii_whitespace())
                    .collect();
                json!({"fileName": f.file_name, "contentType": f.content_type, "content": compact})
            })
            .collect();
        m.insert("contentFiles".into(), Value::Array(f));
    }
    Value::Object(m)
}

/// 8-4-4-4-12 hexadecimal digits (what the schematron checks).
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

pub(crate) fn is_media_type(s: &str) -> bool {
    let essence = s.split(';').next().unwrap_or_default().trim();
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    matches!(essence.split_once('/'), Some((a, b)) if token(a) && token(b))
}

/// The decoded length of standard Base64 (whitespace ignored, padding only at the end), or
/// `None` when it is not valid. Works in constant memory.
pub fn base64_decoded_len(s: &str) -> Option<u64> {
    let mut n: u64 = 0;
    let mut pad = 0u64;
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' if pad == 0 => n += 1,
            b'=' => pad += 1,
            b' ' | b'\t' | b'\r' | b'\n' => {}
            _ => return None,
        }
    }
    let total = n + pad;
    if total == 0 || !total.is_multiple_of(4) || pad > 2 {
        return None;
    }
    // The bits below the last character must be zero for a canonical encoding; we accept
    // what a decoder accepts (base64's STANDARD engine checks it on read).
    Some(total / 4 * 3 - pad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_length_and_validity() {
        assert_eq!(base64_decoded_len("aGVsbG8="), Some(5));
        assert_eq!(base64_decoded_len("aGVs\nbG8h"), Some(6));
        assert_eq!(base64_decoded_len("aGVsbG8"), None);
        assert_eq!(base64_decoded_len("aGV=bG8="), None);
        assert_eq!(base64_decoded_len("!!!!"), None);
        assert_eq!(base64_decoded_len(""), None);
    }

    #[test]
    fn uuid_shape() {
        assert!(is_uuid("ff325210-0690-42fe-b86f-95ecab821223"));
        assert!(!is_uuid("ff325210069042feb86f95ecab821223"));
        assert!(!is_uuid("ff325210-0690-42fe-b86f-95ecab82122g"));
    }
}
