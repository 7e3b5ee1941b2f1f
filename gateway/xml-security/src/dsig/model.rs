//! The Signature element read strictly: only the children XML-DSig defines and we support,
//! in their order; anything else (Object, Manifest, XPath, HMACOutputLength, ...) is refused.

use super::algorithm::{DSIG_NS, VerifyPolicy};
use super::error::{InvalidReason, PolicyViolation, VerifyError};
use crate::c14n::{self, Algorithm};
use crate::crypto::{DigestMethod, SignatureMethod};
use crate::xml::{ElementRef, NodeId, NodeRef, is_xml_space};

/// A transform of a Reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transform {
    /// Removes the Signature that contains the reference.
    EnvelopedSignature,
    /// A canonicalization.
    C14n(Algorithm),
    /// SwA: digest the attachment's content bytes as they are.
    AttachmentContent,
}

impl Transform {
    /// The identifier.
    pub fn uri(&self) -> &'static str {
        match self {
            Transform::EnvelopedSignature => super::algorithm::ENVELOPED_SIGNATURE,
            Transform::C14n(alg) => alg.uri(),
            Transform::AttachmentContent => super::algorithm::ATTACHMENT_CONTENT_TRANSFORM,
        }
    }
}

#[derive(Debug)]
pub(crate) struct ReferenceModel {
    pub(crate) uri: String,
    pub(crate) transforms: Vec<Transform>,
    pub(crate) digest_method: DigestMethod,
    pub(crate) digest_value: Vec<u8>,
}

#[derive(Debug)]
pub(crate) struct SignatureModel<'a> {
    pub(crate) signed_info: NodeId,
    pub(crate) c14n: Algorithm,
    pub(crate) method: SignatureMethod,
    pub(crate) references: Vec<ReferenceModel>,
    pub(crate) value: Vec<u8>,
    pub(crate) key_info: Option<ElementRef<'a>>,
}

fn shape(msg: impl Into<String>) -> VerifyError {
    PolicyViolation::Shape(msg.into()).into()
}

/// The element children of `e`, refusing non-whitespace text.
fn element_children<'a>(e: ElementRef<'a>) -> Result<Vec<ElementRef<'a>>, VerifyError> {
    let mut out = Vec::new();
    for child in e.children() {
        match child {
            NodeRef::Element(c) => out.push(c),
            NodeRef::Text(t) if t.trim_matches(is_xml_space).is_empty() => {}
            NodeRef::Comment(_) => {}
            _ => return Err(shape(format!("unexpected content in {}", e.local_name()))),
        }
    }
    Ok(out)
}

fn expect_ds<'a>(
    e: Option<&ElementRef<'a>>,
    local: &str,
    parent: &str,
) -> Result<ElementRef<'a>, VerifyError> {
    match e {
        Some(e) if e.is(Some(DSIG_NS), local) => Ok(*e),
        Some(e) => Err(shape(format!(
            "{parent}: expected {local}, found {}",
            e.display_name()
        ))),
        None => Err(shape(format!("{parent}: missing {local}"))),
    }
}

fn algorithm_attr<'a>(e: ElementRef<'a>) -> Result<&'a str, VerifyError> {
    e.attribute(None, "Algorithm")
        .ok_or_else(|| shape(format!("{} without Algorithm", e.local_name())))
}

/// Base64 content with XML whitespace (line breaks of other signers) removed.
pub(crate) fn base64_content(
    e: ElementRef<'_>,
    what: &'static str,
) -> Result<Vec<u8>, VerifyError> {
    if e.child_elements().next().is_some() {
        return Err(shape(format!("{what} has child elements")));
    }
    let texts = || {
        e.children().filter_map(|n| match n {
            NodeRef::Text(t) => Some(t.as_bytes()),
            _ => None,
        })
    };
    super::base64_text::decode(texts).ok_or_else(|| InvalidReason::Base64(what).into())
}

/// A canonicalization method element (`CanonicalizationMethod` or a c14n `Transform`),
/// with its optional `InclusiveNamespaces` child.
fn c14n_algorithm(
    e: ElementRef<'_>,
    uri: &str,
    policy: &VerifyPolicy,
) -> Result<Algorithm, VerifyError> {
    if !policy.canonicalizations.contains(&uri) {
        return Err(PolicyViolation::Algorithm(uri.chars().take(200).collect()).into());
    }
    let children = element_children(e)?;
    let prefix_list = match children.as_slice() {
        [] => None,
        [inc] if inc.is(Some(c14n::EXC_C14N), "InclusiveNamespaces") => {
            Some(inc.required_attribute(None, "PrefixList")?)
        }
        _ => return Err(shape(format!("unexpected children of {}", e.local_name()))),
    };
    Algorithm::from_uri(uri, prefix_list).map_err(|e| shape(e.to_string()))
}

fn transform(e: ElementRef<'_>, policy: &VerifyPolicy) -> Result<Transform, VerifyError> {
    let e = expect_ds(Some(&e), "Transform", "Transforms")?;
    let uri = algorithm_attr(e)?;
    let no_children = |t: Transform| -> Result<Transform, VerifyError> {
        if element_children(e)?.is_empty() {
            Ok(t)
        } else {
            Err(shape("transform parameters not allowed"))
        }
    };
    match uri {
        super::algorithm::ENVELOPED_SIGNATURE => no_children(Transform::EnvelopedSignature),
        super::algorithm::ATTACHMENT_CONTENT_TRANSFORM => no_children(Transform::AttachmentContent),
        _ if Algorithm::from_uri(uri, None).is_ok() => {
            Ok(Transform::C14n(c14n_algorithm(e, uri, policy)?))
        }
        other => Err(PolicyViolation::Transform(other.chars().take(200).collect()).into()),
    }
}

fn reference(e: ElementRef<'_>, policy: &VerifyPolicy) -> Result<ReferenceModel, VerifyError> {
    let uri = e
        .attribute(None, "URI")
        .ok_or_else(|| shape("Reference without URI"))?
        .to_owned();
    let children = element_children(e)?;
    let mut rest = children.iter().peekable();
    let mut transforms = Vec::new();
    if let Some(t) = rest.next_if(|c| c.is(Some(DSIG_NS), "Transforms")) {
        let list = element_children(*t)?;
        if list.is_empty() {
            return Err(shape("empty Transforms"));
        }
        for t in list {
            transforms.push(transform(t, policy)?);
        }
    }
    let dm = expect_ds(rest.next(), "DigestMethod", "Reference")?;
    if !element_children(dm)?.is_empty() {
        return Err(shape("DigestMethod parameters not allowed"));
    }
    let dm_uri = algorithm_attr(dm)?;
    let digest_method = DigestMethod::from_uri(dm_uri)
        .and_then(|m| policy.algorithms.check_digest(m).map(|()| m))
        .map_err(|e| PolicyViolation::Algorithm(e.to_string()))?;
    let dv = expect_ds(rest.next(), "DigestValue", "Reference")?;
    let digest_value = base64_content(dv, "DigestValue")?;
    if rest.next().is_some() {
        return Err(shape("unexpected element after DigestValue"));
    }
    Ok(ReferenceModel {
        uri,
        transforms,
        digest_method,
        digest_value,
    })
}

/// Reads `signature` (a `ds:Signature` element) under `policy`.
pub(crate) fn read_signature<'a>(
    signature: ElementRef<'a>,
    policy: &VerifyPolicy,
) -> Result<SignatureModel<'a>, VerifyError> {
    let signature = signature.expect(Some(DSIG_NS), "Signature")?;
    let children = element_children(signature)?;
    let signed_info = expect_ds(children.first(), "SignedInfo", "Signature")?;
    let value_el = expect_ds(children.get(1), "SignatureValue", "Signature")?;
    let key_info = match children.get(2) {
        None => None,
        Some(k) => Some(expect_ds(Some(k), "KeyInfo", "Signature")?),
    };
    if children.len() > 3 {
        return Err(shape(
            "Signature has elements after KeyInfo (Object is not supported)",
        ));
    }
    let si = element_children(signed_info)?;
    let cm = expect_ds(si.first(), "CanonicalizationMethod", "SignedInfo")?;
    let c14n = c14n_algorithm(cm, algorithm_attr(cm)?, policy)?;
    let sm = expect_ds(si.get(1), "SignatureMethod", "SignedInfo")?;
    if !element_children(sm)?.is_empty() {
        return Err(shape("SignatureMethod parameters not allowed"));
    }
    let sm_uri = algorithm_attr(sm)?;
    let method = SignatureMethod::from_uri(sm_uri)
        .and_then(|m| policy.algorithms.check_signature(m).map(|()| m))
        .map_err(|e| PolicyViolation::Algorithm(e.to_string()))?;
    let refs = &si[2..];
    if refs.is_empty() {
        return Err(shape("SignedInfo without Reference"));
    }
    if refs.len() > policy.max_references {
        return Err(PolicyViolation::References(format!(
            "{} references, at most {} allowed",
            refs.len(),
            policy.max_references
        ))
        .into());
    }
    let mut references = Vec::with_capacity(refs.len());
    for r in refs {
        references.push(reference(
            expect_ds(Some(r), "Reference", "SignedInfo")?,
            policy,
        )?);
    }
    let value = base64_content(value_el, "SignatureValue")?;
    Ok(SignatureModel {
        signed_info: signed_info.node_id(),
        c14n,
        method,
        references,
        value,
        key_info,
    })
}
