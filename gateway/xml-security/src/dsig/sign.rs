//! Signing from a template: digests are computed on the document as it is, the Signature is
//! spliced in as bytes (nothing else changes), the result is parsed once to canonicalize
//! SignedInfo in its real namespace context, and the SignatureValue is spliced last.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sdkgw_certs::{Certificate, PrivateKey};

use super::algorithm::DSIG_NS;
use super::error::SignError;
use super::model::Transform;
use super::reference::{self, AttachmentResolver, Target};
use crate::c14n::{self, Algorithm, Family, NodeSet};
use crate::crypto::{DigestMethod, SignatureMethod};
use crate::xml::{
    Document, Edit, ElementRef, Fragment, NodeId, NsDecl, ParseOptions, XML_NS, apply_edits,
};

/// One Reference to create.
#[derive(Clone, Debug)]
pub struct ReferenceTemplate {
    /// `""` (whole document), `#id` (an element by id) or `cid:...` (an attachment).
    pub uri: String,
    /// Transforms, in order (see [`Transform`]).
    pub transforms: Vec<Transform>,
    /// Digest method (SHA-1 is refused).
    pub digest: DigestMethod,
}

/// What goes into `KeyInfo`.
#[derive(Clone, Debug)]
pub enum KeyInfoTemplate {
    /// No KeyInfo element.
    None,
    /// `X509Data/X509Certificate` with this certificate.
    X509Certificate(Certificate),
    /// Caller-written XML content of KeyInfo (e.g. a WS-Security `SecurityTokenReference`);
    /// it must be well-formed in context, which the re-parse checks.
    Xml(String),
}

/// Where the Signature element goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// As the last child of this element (enveloped signatures; WS-Security header).
    LastChildOf(NodeId),
    /// Just before this element.
    Before(NodeId),
}

/// Everything about the Signature to create.
#[derive(Clone, Debug)]
pub struct SignatureTemplate {
    /// SignedInfo canonicalization.
    pub c14n: Algorithm,
    /// Signature method (rsa-sha1 is refused).
    pub method: SignatureMethod,
    /// References, in SignedInfo order.
    pub references: Vec<ReferenceTemplate>,
    /// KeyInfo content.
    pub key_info: KeyInfoTemplate,
    /// Namespace prefix of the Signature elements (`Some("ds")`), or `None` for a
    /// default-namespace `<Signature xmlns="...xmldsig#">`.
    pub prefix: Option<String>,
    /// An `Id` attribute for the Signature element.
    pub id: Option<String>,
    /// Where to insert it.
    pub placement: Placement,
}

impl SignatureTemplate {
    /// The XHE/SMP profile: enveloped, `URI=""`, C14N 1.0, rsa-sha256, sha256,
    /// `X509Certificate`, `ds:` prefix, last child of the root.
    pub fn enveloped(doc: &Document, certificate: Certificate) -> Self {
        SignatureTemplate {
            c14n: Algorithm::c14n10(),
            method: SignatureMethod::RsaSha256,
            references: vec![ReferenceTemplate {
                uri: String::new(),
                transforms: vec![Transform::EnvelopedSignature],
                digest: DigestMethod::Sha256,
            }],
            key_info: KeyInfoTemplate::X509Certificate(certificate),
            prefix: Some("ds".into()),
            id: None,
            placement: Placement::LastChildOf(doc.root().node_id()),
        }
    }
}

/// A signed document.
#[derive(Clone, Debug)]
pub struct Signed {
    /// The document bytes with the Signature inserted.
    pub bytes: Vec<u8>,
    /// `(URI, digest value)` of each reference, in order.
    pub references: Vec<(String, Vec<u8>)>,
}

/// Signs `doc` as `template` says. `attachments` is needed for `cid:` references;
/// `options` are used to re-parse the signed document (use the ones `doc` was parsed with).
pub fn sign(
    doc: &Document,
    template: &SignatureTemplate,
    key: &PrivateKey,
    attachments: Option<&dyn AttachmentResolver>,
    options: &ParseOptions,
) -> Result<Signed, SignError> {
    check_template(template)?;
    let anchor = anchor(doc, template.placement)?;
    let mut digests = Vec::with_capacity(template.references.len());
    for r in &template.references {
        digests.push(digest_reference(doc, r, anchor, attachments)?);
    }
    let signature_xml = signature_xml(template, &digests);
    let anchor_element = doc.element(anchor).ok_or_else(no_placement)?;
    let bytes = if inherits_xml_attributes(anchor_element, &template.c14n) {
        sign_in_document(doc, template, key, options, signature_xml)?
    } else {
        // SignedInfo's canonical form depends only on the namespaces in scope where it goes:
        // sign the Signature as a fragment in that context, then splice it in once.
        let context = anchor_element.in_scope_namespaces();
        let signature =
            sign_fragment(signature_xml.into_bytes(), &context, template, key, options)?;
        let (edit, _) = insertion_edit(doc, template.placement, &signature)?;
        apply_edits(doc.bytes(), vec![edit])?
    };
    let references = template
        .references
        .iter()
        .zip(digests)
        .map(|(r, d)| (r.uri.clone(), d))
        .collect();
    Ok(Signed { bytes, references })
}

/// Whether inclusive C14N of SignedInfo would show `xml:*` attributes inherited from the
/// Signature's new ancestors (only then does signing need the whole re-parsed document).
fn inherits_xml_attributes(anchor: ElementRef<'_>, c14n: &Algorithm) -> bool {
    c14n.family != Family::Exclusive
        && std::iter::once(anchor)
            .chain(anchor.ancestors())
            .any(|e| e.attributes().any(|a| a.namespace() == Some(XML_NS)))
}

/// The edit that inserts `signature` at `placement`, and where the Signature will start.
fn insertion_edit(
    doc: &Document,
    placement: Placement,
    signature: &[u8],
) -> Result<(Edit, usize), SignError> {
    match placement {
        Placement::LastChildOf(id) => {
            let parent = doc.element(id).ok_or_else(no_placement)?;
            let edit = Edit::append_child(parent, signature);
            // A self-closing parent: the edit starts with the '>' that ends its start tag.
            let start = edit.range.start + usize::from(parent.is_self_closing());
            Ok((edit, start))
        }
        Placement::Before(id) => {
            let sibling = doc.element(id).ok_or_else(no_placement)?;
            let edit = Edit::insert_before(sibling, signature);
            let start = edit.range.start;
            Ok((edit, start))
        }
    }
}

/// Canonicalizes SignedInfo of `signature` (a parsed Signature), signs it, and returns the
/// edit that fills in SignatureValue.
fn signature_value_edit(
    canonical: &[u8],
    value_el: ElementRef<'_>,
    template: &SignatureTemplate,
    key: &PrivateKey,
) -> Result<Edit, SignError> {
    let value = template
        .method
        .sign(key, canonical)
        .map_err(SignError::Rsa)?;
    Ok(Edit::replace_content(
        value_el,
        STANDARD.encode(value).as_bytes(),
    ))
}

/// Signs the Signature element parsed as a fragment with the namespaces of its new parent;
/// returns the Signature bytes with SignatureValue filled in.
fn sign_fragment(
    signature_xml: Vec<u8>,
    context: &[NsDecl],
    template: &SignatureTemplate,
    key: &PrivateKey,
    options: &ParseOptions,
) -> Result<Vec<u8>, SignError> {
    let fragment = Fragment::parse(signature_xml, context, options)?;
    let signature = fragment.single_element()?;
    let signed_info = signature.required_child(Some(DSIG_NS), "SignedInfo")?;
    let value_el = signature.required_child(Some(DSIG_NS), "SignatureValue")?;
    let mut canonical = Vec::with_capacity(2048);
    c14n::canonicalize_fragment(
        &fragment,
        signed_info.node_id(),
        &template.c14n,
        &mut canonical,
    )?;
    let edit = signature_value_edit(&canonical, value_el, template, key)?;
    Ok(apply_edits(fragment.bytes(), vec![edit])?)
}

/// Inserts the Signature, re-parses the whole document and signs SignedInfo in it (when
/// inherited `xml:*` attributes take part in its canonical form).
fn sign_in_document(
    doc: &Document,
    template: &SignatureTemplate,
    key: &PrivateKey,
    options: &ParseOptions,
    signature_xml: String,
) -> Result<Vec<u8>, SignError> {
    let (edit, sig_start) = insertion_edit(doc, template.placement, signature_xml.as_bytes())?;
    let parsed = Document::parse(apply_edits(doc.bytes(), vec![edit])?, options)?;
    let signature = parsed
        .elements()
        .find(|e| e.span().start_tag.start == sig_start && e.is(Some(DSIG_NS), "Signature"))
        .ok_or_else(|| SignError::Template("inserted Signature not found after re-parse".into()))?;
    let signed_info = signature.required_child(Some(DSIG_NS), "SignedInfo")?;
    let value_el = signature.required_child(Some(DSIG_NS), "SignatureValue")?;
    let canonical = c14n::canonicalize_to_vec(
        &parsed,
        &NodeSet::subtree(signed_info.node_id()),
        &template.c14n,
    )?;
    let edit = signature_value_edit(&canonical, value_el, template, key)?;
    Ok(apply_edits(parsed.bytes(), vec![edit])?)
}

/// The one-call XHE/SMP case: signs `input` with an enveloped signature as
/// [`SignatureTemplate::enveloped`] describes. Refuses a document that already has a
/// Signature anywhere (a second signature would break the single-signature profile).
pub fn sign_enveloped(
    input: Vec<u8>,
    key: &PrivateKey,
    certificate: &Certificate,
    options: &ParseOptions,
) -> Result<Vec<u8>, SignError> {
    if !key.matches(certificate) {
        return Err(SignError::Template(
            "the certificate does not carry the key's public key".into(),
        ));
    }
    let doc = Document::parse(input, options)?;
    if doc.elements().any(|e| e.is(Some(DSIG_NS), "Signature")) {
        return Err(SignError::Template(
            "the document already has a Signature".into(),
        ));
    }
    let template = SignatureTemplate::enveloped(&doc, certificate.clone());
    Ok(sign(&doc, &template, key, None, options)?.bytes)
}

fn check_template(t: &SignatureTemplate) -> Result<(), SignError> {
    if t.references.is_empty() {
        return Err(SignError::Template("no references".into()));
    }
    if t.method == SignatureMethod::RsaSha1 {
        return Err(SignError::Template(
            "rsa-sha1 is not used for new signatures".into(),
        ));
    }
    if t.references.iter().any(|r| r.digest == DigestMethod::Sha1) {
        return Err(SignError::Template(
            "sha1 digests are not used for new signatures".into(),
        ));
    }
    if let Some(p) = t.prefix.as_ref().filter(|p| !crate::xml::is_ncname(p)) {
        return Err(SignError::Template(format!("bad prefix {p:?}")));
    }
    Ok(())
}

fn no_placement() -> SignError {
    SignError::Template("placement element is not in the document".into())
}

/// The element that will contain the Signature.
fn anchor(doc: &Document, placement: Placement) -> Result<NodeId, SignError> {
    match placement {
        Placement::LastChildOf(id) => Ok(doc.element(id).ok_or_else(no_placement)?.node_id()),
        Placement::Before(id) => {
            let sibling = doc.element(id).ok_or_else(no_placement)?;
            let parent = sibling.parent().ok_or_else(|| {
                SignError::Template("cannot insert before the root element".into())
            })?;
            Ok(parent.node_id())
        }
    }
}

/// Digest of one reference on the unsigned document. `anchor` is the element that will
/// contain the Signature: a reference covering it must remove the Signature (enveloped).
fn digest_reference(
    doc: &Document,
    r: &ReferenceTemplate,
    anchor: NodeId,
    attachments: Option<&dyn AttachmentResolver>,
) -> Result<Vec<u8>, SignError> {
    let bad = |msg: &str| SignError::Template(format!("reference {:?}: {msg}", r.uri));
    let target = reference::target(doc, &r.uri).map_err(|e| match e {
        reference::DerefError::UnsupportedUri => bad("unsupported URI"),
        reference::DerefError::Duplicate => bad("id used by several elements"),
        reference::DerefError::Missing => bad("no element has this id"),
    })?;
    match target {
        Target::Attachment => {
            if r.transforms != [Transform::AttachmentContent] {
                return Err(bad(
                    "attachments need exactly the Attachment-Content transform",
                ));
            }
            let resolver = attachments.ok_or_else(|| bad("no attachment resolver"))?;
            reference::digest_attachment(resolver, &r.uri, r.digest).map_err(|detail| {
                SignError::Attachment {
                    uri: r.uri.clone(),
                    detail,
                }
            })
        }
        Target::Document | Target::Element(_) => {
            let (enveloped, alg) = reference::xml_transforms(&r.transforms)
                .ok_or_else(|| bad("unsupported transforms"))?;
            let covers_anchor = match target {
                Target::Element(e) => match (doc.element(e), doc.element(anchor)) {
                    (Some(e), Some(a)) => e.contains(a),
                    _ => false,
                },
                _ => true,
            };
            if covers_anchor && !enveloped {
                return Err(bad(
                    "covers the Signature itself; add the enveloped-signature transform",
                ));
            }
            let set = match target {
                Target::Element(e) => NodeSet::subtree(e),
                _ => NodeSet::document(),
            }
            .without_comments();
            Ok(reference::digest_node_set(doc, &set, &alg, r.digest)?)
        }
    }
}

/// Escapes an attribute value for `"`-quoted output.
fn attr(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

fn c14n_method_xml(tag: &str, alg: &Algorithm) -> String {
    match alg.prefix_list() {
        None => format!("<{tag} Algorithm=\"{}\"/>", alg.uri()),
        Some(list) => format!(
            "<{tag} Algorithm=\"{}\"><ec:InclusiveNamespaces xmlns:ec=\"{}\" PrefixList=\"{}\"/></{tag}>",
            alg.uri(),
            c14n::EXC_C14N,
            attr(&list)
        ),
    }
}

/// The Signature element with digests filled in and an empty SignatureValue.
fn signature_xml(t: &SignatureTemplate, digests: &[Vec<u8>]) -> String {
    let p = match &t.prefix {
        Some(p) => format!("{p}:"),
        None => String::new(),
    };
    let xmlns = match &t.prefix {
        Some(pre) => format!("xmlns:{pre}=\"{DSIG_NS}\""),
        None => format!("xmlns=\"{DSIG_NS}\""),
    };
    let id =
        t.id.as_ref()
            .map(|i| format!(" Id=\"{}\"", attr(i)))
            .unwrap_or_default();
    let mut s = format!("<{p}Signature {xmlns}{id}><{p}SignedInfo>");
    s.push_str(&c14n_method_xml(
        &format!("{p}CanonicalizationMethod"),
        &t.c14n,
    ));
    s.push_str(&format!(
        "<{p}SignatureMethod Algorithm=\"{}\"/>",
        t.method.uri()
    ));
    for (r, digest) in t.references.iter().zip(digests) {
        s.push_str(&format!("<{p}Reference URI=\"{}\">", attr(&r.uri)));
        if !r.transforms.is_empty() {
            s.push_str(&format!("<{p}Transforms>"));
            for tr in &r.transforms {
                match tr {
                    Transform::C14n(alg) => {
                        s.push_str(&c14n_method_xml(&format!("{p}Transform"), alg))
                    }
                    other => s.push_str(&format!("<{p}Transform Algorithm=\"{}\"/>", other.uri())),
                }
            }
            s.push_str(&format!("</{p}Transforms>"));
        }
        s.push_str(&format!(
            "<{p}DigestMethod Algorithm=\"{}\"/><{p}DigestValue>{}</{p}DigestValue></{p}Reference>",
            r.digest.uri(),
            STANDARD.encode(digest)
        ));
    }
    s.push_str(&format!(
        "</{p}SignedInfo><{p}SignatureValue></{p}SignatureValue>"
    ));
    match &t.key_info {
        KeyInfoTemplate::None => {}
        KeyInfoTemplate::X509Certificate(cert) => s.push_str(&format!(
            "<{p}KeyInfo><{p}X509Data><{p}X509Certificate>{}</{p}X509Certificate></{p}X509Data></{p}KeyInfo>",
            cert.to_base64()
        )),
        KeyInfoTemplate::Xml(xml) => s.push_str(&format!("<{p}KeyInfo>{xml}</{p}KeyInfo>")),
    }
    s.push_str(&format!("</{p}Signature>"));
    s
}
