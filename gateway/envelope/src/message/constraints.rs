//! DIGG's MessageConstraints schematron, re-implemented rule by rule with the shipped
//! semantics (contexts match anywhere in the document, string values compared exactly, the
//! timestamp regex with its unescaped `.`), plus the gateway's rules for what the content
//! specification requires and the schematron does not check (GW-MSG-1..3).
//!
//! Messages quote only technical values (ids, codes, timestamps); labels, text and file
//! content are never quoted, because findings become the StatusReason of an unencrypted
//! receipt.

use std::collections::HashMap;

use sdkgw_schemas::{FunctionAddress, MessageRule, ParticipantId};
use sdkgw_xml_security::xml::{ElementRef, NodeId, NodeRef, is_xml_space};

use crate::datatypes::{Base64Check, is_uuid, matches_schematron_timestamp};
use crate::finding::{Report, excerpt};
use crate::ns::TNS;
use crate::path::xpath;

/// Runs every constraint over the payload whose root is `root`.
pub(crate) fn check(root: ElementRef<'_>) -> Report {
    let mut report = Report::default();
    let non_empty = non_empty_elements(root);
    for e in root.descendants() {
        if e.ancestors().any(|a| a.is(Some(TNS), "messagePayload"))
            && !non_empty.get(&e.node_id()).copied().unwrap_or(false)
        {
            report.add(
                MessageRule::NonEmptyElements,
                xpath(e),
                &format!("element {} is included but empty", e.qname()),
            );
        }
        if e.namespace() == Some(TNS) {
            check_element(e, &mut report);
        }
    }
    report
}

/// Whether each element's string value has a non-whitespace character, computed bottom-up in
/// one pass (the string value of an ancestor may be tens of megabytes).
fn non_empty_elements(root: ElementRef<'_>) -> HashMap<NodeId, bool> {
    let all: Vec<ElementRef<'_>> = root.descendants().collect();
    let mut result = HashMap::with_capacity(all.len());
    for e in all.iter().rev() {
        let own = e
            .children()
            .any(|n| matches!(n, NodeRef::Text(t) if !t.trim_matches(is_xml_space).is_empty()));
        let any_child = e
            .child_elements()
            .any(|c| result.get(&c.node_id()).copied().unwrap_or(false));
        result.insert(e.node_id(), own || any_child);
    }
    result
}

/// The XPath string value: all descendant text, in order.
fn string_value(e: ElementRef<'_>) -> String {
    let mut out = String::new();
    let mut stack = vec![NodeRef::Element(e)];
    while let Some(node) = stack.pop() {
        match node {
            NodeRef::Text(t) => out.push_str(t),
            NodeRef::Element(el) => {
                let mut children: Vec<NodeRef<'_>> = el.children().collect();
                children.reverse();
                stack.extend(children);
            }
            NodeRef::Comment(_) | NodeRef::Pi { .. } => {}
        }
    }
    out
}

fn parent_is(e: ElementRef<'_>, local: &str) -> bool {
    e.parent().is_some_and(|p| p.is(Some(TNS), local))
}

fn check_element(e: ElementRef<'_>, report: &mut Report) {
    match e.local_name() {
        "messageHeader" => {
            let count = e.children_named(Some(TNS), "conversationId").count();
            if count != 1 {
                report.add(
                    MessageRule::ConversationIdMustExist,
                    xpath(e),
                    &format!("{count} conversationId elements"),
                );
            }
        }
        "root" if parent_is(e, "recipientID") => {
            exact(
                e,
                ParticipantId::SCHEME,
                MessageRule::RecipientIdRoot,
                report,
            );
        }
        "root" if parent_is(e, "senderID") => {
            exact(e, ParticipantId::SCHEME, MessageRule::SenderIdRoot, report);
        }
        "root"
            if parent_is(e, "organizationId")
                && e.parent().is_some_and(|p| parent_is(p, "subOrganization")) =>
        {
            exact(e, FunctionAddress::SCHEME, MessageRule::SubOrgRoot, report);
        }
        "creationDateTime" => {
            let v = string_value(e);
            if !matches_schematron_timestamp(&v) {
                report.add(
                    MessageRule::CreationDateTime,
                    xpath(e),
                    &format!("was {}", excerpt(&v)),
                );
            }
        }
        "messageId" => uuid(e, MessageRule::MessageIdUuid, report),
        "conversationId" => uuid(e, MessageRule::ConversationIdUuid, report),
        "refToMessageId" => uuid(e, MessageRule::RefToMessageIdUuid, report),
        "label" if parent_is(e, "messageHeader") => {
            let len = string_value(e).chars().count();
            if len > 256 {
                report.add(
                    MessageRule::SubjectLabelLength,
                    xpath(e),
                    &format!("string length {len} exceeded maxlength 256"),
                );
            }
        }
        "content" if parent_is(e, "ContentFiles") => check_content(e, report),
        "documents" if parent_is(e, "messageBody") => {
            let has_content = e.children_named(Some(TNS), "ContentText").next().is_some()
                || e.children_named(Some(TNS), "ContentFiles").next().is_some();
            if !has_content {
                report.add(
                    MessageRule::DocumentHasContent,
                    xpath(e),
                    "neither is present",
                );
            }
        }
        "extension"
            if e.parent()
                .is_some_and(|p| p.is(Some(TNS), "recipientID") || p.is(Some(TNS), "senderID")) =>
        {
            let v = string_value(e);
            if let Err(err) = ParticipantId::parse(&v) {
                report.add(
                    MessageRule::PartyIdsAreParticipants,
                    xpath(e),
                    &err.to_string(),
                );
            }
        }
        _ => {}
    }
}

fn exact(e: ElementRef<'_>, expected: &str, rule: MessageRule, report: &mut Report) {
    let v = string_value(e);
    if v != expected {
        report.add(rule, xpath(e), &format!("was {}", excerpt(&v)));
    }
}

fn uuid(e: ElementRef<'_>, rule: MessageRule, report: &mut Report) {
    let v = string_value(e);
    if !is_uuid(&v) {
        report.add(
            rule,
            xpath(e),
            &format!("{} is not a valid UUID", excerpt(&v)),
        );
    }
}

/// The text nodes under `e`, in order, without copying them (attachment content is large).
fn text_nodes<'a>(e: ElementRef<'a>) -> impl Iterator<Item = &'a str> {
    e.descendants()
        .flat_map(|d| d.children().collect::<Vec<_>>())
        .filter_map(|n| match n {
            NodeRef::Text(t) => Some(t),
            _ => None,
        })
}

fn check_content(e: ElementRef<'_>, report: &mut Report) {
    // Attachment content is never quoted.
    let first = text_nodes(e).find_map(|t| t.bytes().next());
    let first_ok = first.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    if !first_ok {
        report.add(
            MessageRule::ContentFilesBase64,
            xpath(e),
            "the first character is not Base64",
        );
    }
    let mut base64 = Base64Check::default();
    text_nodes(e).for_each(|t| base64.feed(t));
    if !base64.finish() {
        report.add(
            MessageRule::ContentStrictBase64,
            xpath(e),
            "the content is not valid Base64",
        );
    }
}
