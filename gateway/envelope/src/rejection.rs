//! From findings to receipt lines: which stage a failure belongs to and the B1.3.3 codes
//! (reason SV/BV/SIG, detail word, fixed text) of every rule, from the code lists.

use sdkgw_schemas::codelists::{RejectionCase, codelists};
use sdkgw_schemas::{MessageRule, XheRule};
use serde::Serialize;

use crate::finding::{Finding, Report, RuleId};
use crate::receipt::LineResponse;

/// The stages of the inbound pipeline that can reject (digest §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// 5–6: transport-model protection and the signature.
    Signature,
    /// 8: the decrypted payload is not one `messagePayload` element.
    Payload,
    /// 9: the MessageWithAttachments XSD.
    Schema,
    /// 10: MessageConstraints and the content rules.
    Rules,
    /// 11: envelope cross-checks and the receiving organisation's policy.
    Business,
}

/// The B1.3.3 rejection case of a message finding.
pub(crate) fn case_of(rule: RuleId) -> RejectionCase {
    use MessageRule as M;
    match rule {
        RuleId::Message(M::Xsd | M::PayloadWellFormed) => RejectionCase::Structure,
        RuleId::Message(M::RecipientIsToParty) => RejectionCase::RecipientMismatch,
        RuleId::Message(M::SenderIsFromParty) => RejectionCase::SenderIdUnknown,
        RuleId::Message(M::FunctionIsHandlingService) => RejectionCase::HandlingServiceMismatch,
        RuleId::Message(M::FunctionKnown) => RejectionCase::FunctionAddressNotFound,
        RuleId::Message(M::SizeLimit) => RejectionCase::TooLarge,
        RuleId::Message(M::AttachmentTypeSupported) => RejectionCase::UnsupportedAttachment,
        RuleId::Message(M::Malware) => RejectionCase::Malware,
        RuleId::Message(M::MessageIdUnique) => RejectionCase::DuplicateMessageId,
        RuleId::Message(M::ReplyToRejected) => RejectionCase::ReplyToRejected,
        RuleId::Xhe(XheRule::TransportModelConsistent) => RejectionCase::NotEncrypted,
        _ => RejectionCase::RuleViolation,
    }
}

/// One receipt line per finding: LineID = the finding's path, the case's codes, and the
/// case's fixed text or `rule id: message`.
pub(crate) fn lines_for(report: &Report) -> Vec<LineResponse> {
    report.findings().iter().map(line_for).collect()
}

fn line_for(f: &Finding) -> LineResponse {
    let case = codelists().rejection(case_of(f.rule));
    let text = case
        .text
        .clone()
        .unwrap_or_else(|| format!("{}: {}", f.rule, f.message));
    let line_id = if f.path.starts_with('/') {
        f.path.clone()
    } else {
        "NA".to_owned()
    };
    LineResponse::new(line_id, case.reason, case.detail, text)
}

/// The one line of a signature rejection: LineID `NA`, SIG `security`, and the fixed text
/// ("Sender signature not validated") — never the cause.
pub(crate) fn signature_line(case: RejectionCase) -> LineResponse {
    let c = codelists().rejection(case);
    let text = c.text.clone().unwrap_or_else(|| c.event.clone());
    LineResponse::new("NA", c.reason, c.detail, text)
}
