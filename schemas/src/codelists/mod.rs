//! DIGG's code lists as data: the TOML files in `schemas/codelists/`, embedded in the binary,
//! parsed and cross-checked once, and read through typed accessors.
//!
//! The files are ours, written from the spec digests (never copies of DIGG files). Updating a
//! code (say, accepting a new transport profile) is a data change; the loader rejects files
//! that are incomplete, carry unknown keys, or disagree with the identifier types.

mod receipts;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

pub use receipts::{
    DetailCode, DetailCodeError, ReasonCode, ReasonCodeError, Rejection, RejectionCase,
    ResponseCode, ResponseCodeError,
};
use receipts::{coded_enum, expected_codes};

use crate::ids::{
    DocumentId, Environment, FederationId, FunctionAddress, Icd, ParticipantId, ProcessId,
    TransportModel,
};

/// The embedded files, by name (for error messages).
const FILES: [(&str, &str); 6] = [
    (
        "identifiers.toml",
        include_str!("../../codelists/identifiers.toml"),
    ),
    (
        "federations.toml",
        include_str!("../../codelists/federations.toml"),
    ),
    (
        "documents.toml",
        include_str!("../../codelists/documents.toml"),
    ),
    (
        "transport.toml",
        include_str!("../../codelists/transport.toml"),
    ),
    ("smp.toml", include_str!("../../codelists/smp.toml")),
    (
        "receipts.toml",
        include_str!("../../codelists/receipts.toml"),
    ),
];

/// A code-list file that does not parse or does not hold together.
#[derive(Debug, thiserror::Error)]
pub enum CodeListError {
    /// Not valid TOML, a missing or unknown key, or a value of the wrong type.
    #[error("code list {file}: {source}")]
    Syntax {
        /// The file.
        file: &'static str,
        /// The parser's message.
        #[source]
        source: toml::de::Error,
    },
    /// Well-formed but inconsistent.
    #[error("code list {file}: {problem}")]
    Invalid {
        /// The file.
        file: &'static str,
        /// What is wrong.
        problem: String,
    },
}

/// The code lists, loaded. Get the embedded ones with [`codelists`].
#[derive(Debug)]
pub struct CodeLists {
    icds: BTreeMap<Icd, IcdCodes>,
    federation_ids: FederationIds,
    environments: Environments,
    process: ProcessId,
    xhe: XheCodes,
    receipt: ReceiptCodes,
    sdk_message: MessageTypeCodes,
    receipt_message: MessageTypeCodes,
    transport_profiles: Vec<TransportProfile>,
    as4: As4Codes,
    naptr_service: String,
    smp_namespace: String,
    certpub: CertPubCodes,
    response_codes: ResponseCodes,
    reason_codes: ReasonCodes,
    detail_codes: DetailCodes,
    rejections: BTreeMap<RejectionCase, Rejection>,
}

/// The embedded code lists, parsed on first use.
///
/// The data is compiled in and checked by this crate's tests, so a failure here is a build
/// defect, not an input error: it panics with the loader's message rather than making every
/// caller handle an impossible error. Call [`CodeLists::embedded`] to check it at start-up.
#[allow(
    clippy::expect_used,
    reason = "embedded data, validated by tests; see the docs"
)]
pub fn codelists() -> &'static CodeLists {
    static LISTS: OnceLock<CodeLists> = OnceLock::new();
    LISTS.get_or_init(|| CodeLists::embedded().expect("embedded code lists are valid"))
}

// ---- public data types ----------------------------------------------------------------------

/// One ICD of the platform list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct IcdCodes {
    /// What the ICD identifies.
    pub name: String,
    /// Whether SDK participants use it (only `0203`).
    pub used_in_sdk: bool,
}

/// Per-environment rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentCodes {
    /// The federation id its envelopes carry.
    pub federation: FederationId,
    /// Whether DIGG's rules are errors (QA, PROD) rather than warnings.
    pub strict: bool,
    /// Transport models allowed.
    pub transport_models: Vec<TransportModel>,
    ap_party_suffix: Option<String>,
}

impl EnvironmentCodes {
    /// How DIGG's AP party ids end here (`-SDK-QA`); `None` where no rule applies (dev).
    pub fn ap_party_suffix(&self) -> Option<&str> {
        self.ap_party_suffix.as_deref()
    }
}

/// The two message types of the federation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageType {
    /// SDK meddelande 3.0 (MessageWithAttachments v3).
    SdkMessage,
    /// Meddelandekvittens 1.0 (UBL ApplicationResponse).
    Receipt,
}

/// Codes of one message type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageTypeCodes {
    /// Human name.
    pub name: String,
    /// Document id without the transport-model suffix.
    pub base_code: String,
    /// XHE `DocumentTypeCode`: the payload root as an EQName `Q{ns}local`.
    pub payload_root: String,
    /// XHE `ContentTypeCode`.
    pub content_type: String,
    base: DocumentId,
    ext_sigenc: DocumentId,
}

impl MessageTypeCodes {
    /// The document id of this message type under a transport model.
    pub fn document(&self, model: TransportModel) -> &DocumentId {
        match model {
            TransportModel::Base => &self.base,
            TransportModel::ExtSigenc => &self.ext_sigenc,
        }
    }
}

/// Envelope (XHE) constants.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct XheCodes {
    /// `CustomizationID` (R3).
    pub customization_id: String,
    /// `XHEVersionID` (R9).
    pub version_id: String,
    scope_criteria: ScopeCriteria,
}

/// Receipt (ApplicationResponse) constants.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ReceiptCodes {
    /// `cbc:CustomizationID` (R3-APP).
    pub customization_id: String,
    /// `cbc:ProfileID` (R4-APP).
    pub profile_id: String,
}

/// An SMP transport profile.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransportProfile {
    /// `Endpoint/@transportProfile`.
    pub id: String,
    /// Whether endpoints with this profile are used.
    pub accepted: bool,
}

/// AS4 header values (P-Mode table, AS4 digest §3).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct As4Codes {
    /// `PartyId/@type` of APs.
    pub party_type: String,
    /// PMode.MEP.
    pub mep: String,
    /// PMode.MEPBinding.
    pub mep_binding: String,
    /// `From/Role`.
    pub initiator_role: String,
    /// `To/Role`.
    pub responder_role: String,
    /// PMode.BusinessInfo.MPC.
    pub mpc: String,
    /// MessageProperties name of the C1 participant.
    pub original_sender_property: String,
    /// MessageProperties name of the C4 participant.
    pub final_recipient_property: String,
    /// `Property/@type` of both.
    pub participant_property_type: String,
    /// `PartInfo/@href` of the XHE.
    pub payload_part: String,
    /// `MimeType` part property of the XHE.
    pub payload_mime_type: String,
    /// `CompressionType` part property.
    pub compression_type: String,
}

/// CertPub constants (C3.4.5).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CertPubCodes {
    /// `Extension/ExtensionID` of CertPub extensions.
    pub extension_id: String,
    /// Namespace of `smc:Certificate`.
    pub aggregate_namespace: String,
    /// Namespace of `smb:TypeCode` / `smb:ContentBinaryObject`.
    pub basic_namespace: String,
    /// `ContentBinaryObject/@mimeCode`.
    pub mime_code: String,
    cert_types: CertTypes,
}

coded_enum! {
    /// The five XHE `BusinessScopeCriterionTypeCode` values (C3.2.3 §1.6).
    ScopeCriterion, ScopeCriterionError, "business scope criterion", scope_criterion {
        /// `DOCUMENTID`
        DocumentId,
        /// `DOCUMENTID_SCHEME`
        DocumentIdScheme,
        /// `PROCESSID`
        ProcessId,
        /// `PROCESSID_SCHEME`
        ProcessIdScheme,
        /// `FEDERATIONID`
        FederationId,
    }
}

coded_enum! {
    /// CertPub `smb:TypeCode` values (C3.2.3 §1.5).
    CertPubCertType, CertPubCertTypeError, "CertPub certificate type", certpub_cert_type {
        /// `…:signing-cert`: verifies the organisation's XHE signatures.
        Signing,
        /// `…:encryption-cert`: the payload is encrypted to it.
        Encryption,
    }
}

impl CertPubCertType {
    /// Reads a `smb:TypeCode`, ignoring surrounding whitespace (CP-02).
    pub fn from_type_code(text: &str) -> Result<Self, CertPubCertTypeError> {
        text.trim().parse()
    }
}

// ---- accessors -------------------------------------------------------------------------------

impl CodeLists {
    /// Parses and checks the embedded files.
    pub fn embedded() -> Result<Self, CodeListError> {
        let [ids, feds, docs, transport, smp, receipts] = FILES;
        let ids: IdentifiersFile = parse(ids)?;
        let feds: FederationsFile = parse(feds)?;
        let docs: DocumentsFile = parse(docs)?;
        let transport: TransportFile = parse(transport)?;
        let smp: SmpFile = parse(smp)?;
        let receipts_file: ReceiptsFile = parse(receipts)?;
        check_schemes(&ids.schemes)?;
        check_icds(&ids.icds)?;
        check_transport_profiles(&transport.transport_profiles)?;
        Ok(Self {
            icds: ids.icds,
            federation_ids: feds.federation_ids,
            environments: feds.environments.resolve()?,
            process: docs.process.resolve()?,
            xhe: docs.xhe,
            receipt: docs.receipt,
            sdk_message: docs.messages.sdk_message.resolve()?,
            receipt_message: docs.messages.receipt.resolve()?,
            transport_profiles: transport.transport_profiles,
            as4: transport.as4,
            naptr_service: smp.bdxl.naptr_service,
            smp_namespace: smp.smp.namespace,
            certpub: smp.certpub,
            rejections: resolve_rejections(&receipts_file)?,
            response_codes: receipts_file.response_codes,
            reason_codes: receipts_file.reason_codes,
            detail_codes: receipts_file.detail_codes,
        })
    }

    /// One ICD of the platform list.
    pub fn icd(&self, icd: Icd) -> Option<&IcdCodes> {
        self.icds.get(&icd)
    }

    /// The exact `FEDERATIONID` value.
    pub fn federation_id(&self, id: FederationId) -> &str {
        match id {
            FederationId::Sdk => &self.federation_ids.sdk,
            FederationId::Test => &self.federation_ids.test,
        }
    }

    /// Rules of an environment.
    pub fn environment(&self, env: Environment) -> &EnvironmentCodes {
        let e = &self.environments;
        match env {
            Environment::OpenTest => &e.open_test,
            Environment::Qa => &e.qa,
            Environment::Prod => &e.prod,
            Environment::Dev => &e.dev,
        }
    }

    /// The federation's only process, `bdx:noprocess`.
    pub fn process(&self) -> &ProcessId {
        &self.process
    }

    /// XHE constants (`CustomizationID`, `XHEVersionID`).
    pub fn xhe(&self) -> &XheCodes {
        &self.xhe
    }

    /// The code of a business-scope criterion (`DOCUMENTID`, …).
    pub fn scope_criterion(&self, criterion: ScopeCriterion) -> &str {
        let c = &self.xhe.scope_criteria;
        match criterion {
            ScopeCriterion::DocumentId => &c.document_id,
            ScopeCriterion::DocumentIdScheme => &c.document_id_scheme,
            ScopeCriterion::ProcessId => &c.process_id,
            ScopeCriterion::ProcessIdScheme => &c.process_id_scheme,
            ScopeCriterion::FederationId => &c.federation_id,
        }
    }

    /// Receipt constants (`CustomizationID`, `ProfileID`).
    pub fn receipt(&self) -> &ReceiptCodes {
        &self.receipt
    }

    /// Codes of a message type.
    pub fn message_type(&self, kind: MessageType) -> &MessageTypeCodes {
        match kind {
            MessageType::SdkMessage => &self.sdk_message,
            MessageType::Receipt => &self.receipt_message,
        }
    }

    /// The SDK message's document id under a transport model.
    pub fn sdk_message_document(&self, model: TransportModel) -> &DocumentId {
        self.sdk_message.document(model)
    }

    /// The Meddelandekvittens' document id under a transport model.
    pub fn receipt_document(&self, model: TransportModel) -> &DocumentId {
        self.receipt_message.document(model)
    }

    /// Which message type and transport model a document id is, if it is one of the code
    /// list's four (exact, case-sensitive comparison).
    pub fn classify_document(&self, id: &DocumentId) -> Option<(MessageType, TransportModel)> {
        [MessageType::SdkMessage, MessageType::Receipt]
            .into_iter()
            .flat_map(|kind| TransportModel::ALL.into_iter().map(move |m| (kind, m)))
            .find(|(kind, model)| self.message_type(*kind).document(*model) == id)
    }

    /// Every transport profile listed, accepted or not.
    pub fn transport_profiles(&self) -> &[TransportProfile] {
        &self.transport_profiles
    }

    /// Whether SMP endpoints with this `transportProfile` may be used (exact match).
    pub fn is_accepted_transport_profile(&self, profile: &str) -> bool {
        self.transport_profiles
            .iter()
            .any(|p| p.accepted && p.id == profile)
    }

    /// AS4 header values.
    pub fn as4(&self) -> &As4Codes {
        &self.as4
    }

    /// The U-NAPTR service of SMPs (`Meta:SMP`).
    pub fn naptr_service(&self) -> &str {
        &self.naptr_service
    }

    /// The OASIS BDXR SMP 1.0 namespace.
    pub fn smp_namespace(&self) -> &str {
        &self.smp_namespace
    }

    /// CertPub constants.
    pub fn certpub(&self) -> &CertPubCodes {
        &self.certpub
    }

    /// The `smb:TypeCode` of a CertPub certificate type.
    pub fn certpub_cert_type(&self, kind: CertPubCertType) -> &str {
        let t = &self.certpub.cert_types;
        match kind {
            CertPubCertType::Signing => &t.signing,
            CertPubCertType::Encryption => &t.encryption,
        }
    }

    /// `ACCEPTED` / `REJECTED`.
    pub fn response_code(&self, code: ResponseCode) -> &str {
        let r = &self.response_codes;
        match code {
            ResponseCode::Accepted => &r.accepted.code,
            ResponseCode::Rejected => &r.rejected.code,
        }
    }

    /// `SV` / `BV` / `SIG`.
    pub fn reason_code(&self, code: ReasonCode) -> &str {
        &self.reason_entry(code).code
    }

    /// What a reason code means.
    pub fn reason_meaning(&self, code: ReasonCode) -> &str {
        &self.reason_entry(code).meaning
    }

    fn reason_entry(&self, code: ReasonCode) -> &CodeEntry {
        let r = &self.reason_codes;
        match code {
            ReasonCode::Sv => &r.sv,
            ReasonCode::Bv => &r.bv,
            ReasonCode::Sig => &r.sig,
        }
    }

    /// A detail (`StatusReasonCode`) word.
    pub fn detail_code(&self, code: DetailCode) -> &str {
        let d = &self.detail_codes;
        match code {
            DetailCode::Structure => &d.structure,
            DetailCode::Invariant => &d.invariant,
            DetailCode::Security => &d.security,
            DetailCode::NotFound => &d.not_found,
            DetailCode::NotSupported => &d.not_supported,
            DetailCode::TooLong => &d.too_long,
            DetailCode::Forbidden => &d.forbidden,
            DetailCode::Duplicate => &d.duplicate,
            DetailCode::MultipleMatches => &d.multiple_matches,
        }
    }

    /// Reason, detail code and fixed text of a rejection case.
    pub fn rejection(&self, case: RejectionCase) -> &Rejection {
        // Complete by construction: `resolve_rejections` fails unless every case is present.
        &self.rejections[&case]
    }
}

// ---- file layouts ----------------------------------------------------------------------------

fn parse<T: serde::de::DeserializeOwned>(
    (file, text): (&'static str, &str),
) -> Result<T, CodeListError> {
    toml::from_str(text).map_err(|source| CodeListError::Syntax { file, source })
}

fn invalid(file: &'static str, problem: impl Into<String>) -> CodeListError {
    CodeListError::Invalid {
        file,
        problem: problem.into(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct IdentifiersFile {
    schemes: Schemes,
    icds: BTreeMap<Icd, IcdCodes>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Schemes {
    participant: String,
    document: String,
    process: String,
    function_address: String,
}

fn check_schemes(s: &Schemes) -> Result<(), CodeListError> {
    for (data, code) in [
        (&s.participant, ParticipantId::SCHEME),
        (&s.document, DocumentId::SCHEME),
        (&s.process, ProcessId::SCHEME),
        (&s.function_address, FunctionAddress::SCHEME),
    ] {
        if data != code {
            return Err(invalid(
                "identifiers.toml",
                format!("scheme {data:?} differs from the identifier type's {code:?}"),
            ));
        }
    }
    Ok(())
}

fn check_icds(icds: &BTreeMap<Icd, IcdCodes>) -> Result<(), CodeListError> {
    for icd in Icd::ALL {
        let entry = icds
            .get(&icd)
            .ok_or_else(|| invalid("identifiers.toml", format!("ICD {icd} is missing")))?;
        if entry.used_in_sdk != (icd == Icd::EDelivery) {
            return Err(invalid(
                "identifiers.toml",
                format!("ICD {icd}: only 0203 is used in SDK (participant parsing relies on it)"),
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FederationIds {
    sdk: String,
    test: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FederationsFile {
    federation_ids: FederationIds,
    environments: EnvironmentsFile,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct EnvironmentsFile {
    open_test: EnvironmentFile,
    qa: EnvironmentFile,
    prod: EnvironmentFile,
    dev: EnvironmentFile,
}

#[derive(Debug)]
struct Environments {
    open_test: EnvironmentCodes,
    qa: EnvironmentCodes,
    prod: EnvironmentCodes,
    dev: EnvironmentCodes,
}

impl EnvironmentsFile {
    fn resolve(self) -> Result<Environments, CodeListError> {
        Ok(Environments {
            open_test: self.open_test.resolve("open-test")?,
            qa: self.qa.resolve("qa")?,
            prod: self.prod.resolve("prod")?,
            dev: self.dev.resolve("dev")?,
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum FederationKey {
    Sdk,
    Test,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct EnvironmentFile {
    federation: FederationKey,
    strict: bool,
    transport_models: Vec<TransportModel>,
    ap_party_suffix: Option<String>,
}

impl EnvironmentFile {
    fn resolve(self, name: &str) -> Result<EnvironmentCodes, CodeListError> {
        if !self.transport_models.contains(&TransportModel::ExtSigenc) {
            return Err(invalid(
                "federations.toml",
                format!("environment {name} must allow base-ext-sigenc (every environment does)"),
            ));
        }
        Ok(EnvironmentCodes {
            federation: match self.federation {
                FederationKey::Sdk => FederationId::Sdk,
                FederationKey::Test => FederationId::Test,
            },
            strict: self.strict,
            transport_models: self.transport_models,
            ap_party_suffix: self.ap_party_suffix,
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct DocumentsFile {
    process: ProcessFile,
    xhe: XheCodes,
    receipt: ReceiptCodes,
    messages: MessagesFile,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct ProcessFile {
    scheme: String,
    value: String,
}

impl ProcessFile {
    fn resolve(self) -> Result<ProcessId, CodeListError> {
        ProcessId::from_parts(&self.scheme, &self.value)
            .map_err(|e| invalid("documents.toml", format!("process: {e}")))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct ScopeCriteria {
    document_id: String,
    document_id_scheme: String,
    process_id: String,
    process_id_scheme: String,
    federation_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct MessagesFile {
    sdk_message: MessageFile,
    receipt: MessageFile,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct MessageFile {
    name: String,
    base_code: String,
    payload_root: String,
    content_type: String,
    document_ids: DocumentIdsFile,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct DocumentIdsFile {
    base: String,
    base_ext_sigenc: String,
}

impl MessageFile {
    fn resolve(self) -> Result<MessageTypeCodes, CodeListError> {
        let document = |model: TransportModel, value: &str| {
            let id = DocumentId::parse(value)
                .map_err(|e| invalid("documents.toml", format!("{}: {e}", self.name)))?;
            let expected = format!("{}::{}", self.base_code, model.document_suffix());
            if id.value() != expected || id.transport_model() != Some(model) {
                return Err(invalid(
                    "documents.toml",
                    format!("{}: document id {value:?} is not {expected:?}", self.name),
                ));
            }
            Ok(id)
        };
        let base = document(TransportModel::Base, &self.document_ids.base)?;
        let ext_sigenc = document(
            TransportModel::ExtSigenc,
            &self.document_ids.base_ext_sigenc,
        )?;
        Ok(MessageTypeCodes {
            name: self.name,
            base_code: self.base_code,
            payload_root: self.payload_root,
            content_type: self.content_type,
            base,
            ext_sigenc,
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct TransportFile {
    transport_profiles: Vec<TransportProfile>,
    as4: As4Codes,
}

fn check_transport_profiles(profiles: &[TransportProfile]) -> Result<(), CodeListError> {
    if !profiles.iter().any(|p| p.accepted) {
        return Err(invalid(
            "transport.toml",
            "no transport profile is accepted",
        ));
    }
    for (i, p) in profiles.iter().enumerate() {
        if p.id.trim().is_empty() || profiles[..i].iter().any(|q| q.id == p.id) {
            return Err(invalid(
                "transport.toml",
                format!("transport profile {:?} is empty or listed twice", p.id),
            ));
        }
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct SmpFile {
    bdxl: BdxlFile,
    smp: SmpNamespaceFile,
    certpub: CertPubCodes,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct BdxlFile {
    naptr_service: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct SmpNamespaceFile {
    namespace: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct CertTypes {
    signing: String,
    encryption: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct ReceiptsFile {
    response_codes: ResponseCodes,
    reason_codes: ReasonCodes,
    detail_codes: DetailCodes,
    rejections: BTreeMap<String, RejectionFile>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct CodeEntry {
    code: String,
    meaning: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct ResponseCodes {
    accepted: CodeEntry,
    rejected: CodeEntry,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct ReasonCodes {
    sv: CodeEntry,
    bv: CodeEntry,
    sig: CodeEntry,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct DetailCodes {
    structure: String,
    invariant: String,
    security: String,
    not_found: String,
    not_supported: String,
    too_long: String,
    forbidden: String,
    duplicate: String,
    multiple_matches: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RejectionFile {
    row: String,
    event: String,
    reason: String,
    detail: String,
    text: Option<String>,
}

/// Maps the `rejections` tables onto [`RejectionCase`], resolving reason and detail codes
/// against the file's own code tables. Every case must be present and no other key.
fn resolve_rejections(
    file: &ReceiptsFile,
) -> Result<BTreeMap<RejectionCase, Rejection>, CodeListError> {
    const FILE: &str = "receipts.toml";
    let reasons = [
        (ReasonCode::Sv, &file.reason_codes.sv.code),
        (ReasonCode::Bv, &file.reason_codes.bv.code),
        (ReasonCode::Sig, &file.reason_codes.sig.code),
    ];
    let d = &file.detail_codes;
    let details = [
        (DetailCode::Structure, &d.structure),
        (DetailCode::Invariant, &d.invariant),
        (DetailCode::Security, &d.security),
        (DetailCode::NotFound, &d.not_found),
        (DetailCode::NotSupported, &d.not_supported),
        (DetailCode::TooLong, &d.too_long),
        (DetailCode::Forbidden, &d.forbidden),
        (DetailCode::Duplicate, &d.duplicate),
        (DetailCode::MultipleMatches, &d.multiple_matches),
    ];
    if let Some(key) = file
        .rejections
        .keys()
        .find(|k| !RejectionCase::ALL.iter().any(|c| c.key() == *k))
    {
        return Err(invalid(FILE, format!("unknown rejection case {key:?}")));
    }
    let mut out = BTreeMap::new();
    for case in RejectionCase::ALL {
        let raw = file
            .rejections
            .get(case.key())
            .ok_or_else(|| invalid(FILE, format!("rejection case {:?} is missing", case.key())))?;
        let reason = reasons
            .iter()
            .find(|(_, c)| **c == raw.reason)
            .map(|(r, _)| *r);
        let detail = details
            .iter()
            .find(|(_, c)| **c == raw.detail)
            .map(|(d, _)| *d);
        let (Some(reason), Some(detail)) = (reason, detail) else {
            return Err(invalid(
                FILE,
                format!(
                    "rejection {:?}: reason {:?} / detail {:?} not in the code tables ({} / {})",
                    case.key(),
                    raw.reason,
                    raw.detail,
                    expected_codes(reasons.iter().map(|(_, c)| c.as_str())),
                    expected_codes(details.iter().map(|(_, c)| c.as_str())),
                ),
            ));
        };
        let rejection = Rejection {
            row: raw.row.clone(),
            event: raw.event.clone(),
            reason,
            detail,
            text: raw.text.clone(),
        };
        out.insert(*case, rejection);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
