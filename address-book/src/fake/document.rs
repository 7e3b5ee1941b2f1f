//! The documents the fake SMP serves: OASIS BDXR SMP 1.0 ServiceGroup and
//! SignedServiceMetadata shaped as DIGG's (addressing digest §1.5–1.6), CertPub extensions
//! per C3.4.5, enveloped XML-DSig from `sdkgw-xml-security`.

use std::fmt::Write as _;

use base64::Engine as _;
use sdkgw_schemas::codelists::CertPubCertType;
use sdkgw_schemas::{DocumentId, ParticipantId, codelists};
use sdkgw_xml_security::dsig::{self, DigestMethod, SignatureMethod, Transform};
use sdkgw_xml_security::xml::Document;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{FakeError, FakeParticipant, SignatureStyle, Signer};
use crate::smp::verify::parse_options;
use crate::smp_url::SmpBaseUrl;

/// How a CertPub `ContentBinaryObject` is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ContentEncoding {
    /// Base64 DER on one line (what SMP `Certificate` elements hold).
    #[default]
    Base64Der,
    /// PEM text with armour and line breaks.
    Pem,
    /// Base64 of the PEM text (a literal reading of DIGG's "PEM format, BASE64-encoded").
    Base64OfPem,
}

/// Escapes text and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn date(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// The unsigned SignedServiceMetadata of `p` for `document`.
pub fn metadata_xml(p: &FakeParticipant, document: &DocumentId) -> String {
    let lists = codelists();
    let cp = lists.certpub();
    let mut x = String::new();
    let _ = write!(
        x,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SignedServiceMetadata xmlns=\"{}\" \
         xmlns:smc=\"{}\" xmlns:smb=\"{}\">\n<ServiceMetadata>\n<ServiceInformation>\n\
         <ParticipantIdentifier scheme=\"{}\">{}</ParticipantIdentifier>\n\
         <DocumentIdentifier scheme=\"{}\">{}</DocumentIdentifier>\n<ProcessList>\n<Process>\n\
         <ProcessIdentifier scheme=\"{}\">{}</ProcessIdentifier>\n<ServiceEndpointList>\n\
         <Endpoint transportProfile=\"{}\">\n<EndpointURI>{}</EndpointURI>\n",
        lists.smp_namespace(),
        cp.aggregate_namespace,
        cp.basic_namespace,
        ParticipantId::SCHEME,
        escape(p.participant.value()),
        DocumentId::SCHEME,
        escape(document.value()),
        escape(p.process.scheme()),
        escape(p.process.value()),
        escape(&p.transport_profile),
        escape(&p.endpoint_url),
    );
    if let Some(a) = p.activation {
        let _ = writeln!(
            x,
            "<ServiceActivationDate>{}</ServiceActivationDate>",
            date(a)
        );
    }
    if let Some(e) = p.expiration {
        let _ = writeln!(
            x,
            "<ServiceExpirationDate>{}</ServiceExpirationDate>",
            date(e)
        );
    }
    let _ = write!(
        x,
        "<Certificate>{}</Certificate>\n<ServiceDescription>AS4 access point of {}</ServiceDescription>\n\
         <TechnicalContactUrl>mailto:ap-operator@example.invalid</TechnicalContactUrl>\n\
         </Endpoint>\n</ServiceEndpointList>\n</Process>\n</ProcessList>\n",
        p.ap_certificate.to_base64(),
        escape(p.participant.value()),
    );
    let encryption = lists.certpub_cert_type(CertPubCertType::Encryption);
    let signing = lists.certpub_cert_type(CertPubCertType::Signing);
    let certs = p
        .o2o_encryption
        .iter()
        .map(|c| (encryption, c))
        .chain(p.o2o_signing.iter().map(|c| (signing, c)));
    for (type_code, cert) in certs {
        let _ = write!(
            x,
            "<Extension>\n<ExtensionID>{}</ExtensionID>\n<smc:Certificate>\n\
             <smb:TypeCode>{}</smb:TypeCode>\n\
             <smb:ContentBinaryObject mimeCode=\"{}\">{}</smb:ContentBinaryObject>\n\
             </smc:Certificate>\n</Extension>\n",
            cp.extension_id,
            type_code,
            cp.mime_code,
            encode_content(cert, p.certpub_encoding),
        );
    }
    x.push_str("</ServiceInformation>\n</ServiceMetadata>\n</SignedServiceMetadata>\n");
    x
}

fn encode_content(cert: &sdkgw_certs::Certificate, encoding: ContentEncoding) -> String {
    match encoding {
        ContentEncoding::Base64Der => cert.to_base64(),
        ContentEncoding::Pem => format!("\n{}", cert.to_pem()),
        ContentEncoding::Base64OfPem => {
            base64::engine::general_purpose::STANDARD.encode(cert.to_pem().as_bytes())
        }
    }
}

/// The ServiceGroup of `p` served by the SMP at `base`.
pub fn service_group_xml(p: &FakeParticipant, base: &SmpBaseUrl) -> String {
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ServiceGroup xmlns=\"{}\">\n\
         <ParticipantIdentifier scheme=\"{}\">{}</ParticipantIdentifier>\n\
         <ServiceMetadataReferenceCollection>\n",
        codelists().smp_namespace(),
        ParticipantId::SCHEME,
        escape(p.participant.value()),
    );
    for d in &p.documents {
        let _ = writeln!(
            x,
            "<ServiceMetadataReference href=\"{}\"/>",
            escape(&base.service_metadata_url(&p.participant, d))
        );
    }
    x.push_str("</ServiceMetadataReferenceCollection>\n</ServiceGroup>\n");
    x
}

/// Signs an SMP document: enveloped signature, `URI=""`, rsa-sha256, sha256, the style's
/// canonicalization and prefix, the signer certificate in `KeyInfo`.
pub fn sign_metadata(
    xml: Vec<u8>,
    signer: &Signer,
    style: &SignatureStyle,
) -> Result<Vec<u8>, FakeError> {
    let opts = parse_options(usize::MAX);
    let doc = Document::parse(xml, &opts).map_err(|e| FakeError::Sign(e.to_string()))?;
    let mut template = dsig::SignatureTemplate::enveloped(&doc, signer.certificate.clone());
    template.c14n = style.c14n.clone();
    template.prefix = style.prefix.clone();
    template.method = SignatureMethod::RsaSha256;
    template.references = vec![dsig::ReferenceTemplate {
        uri: String::new(),
        transforms: vec![Transform::EnvelopedSignature],
        digest: DigestMethod::Sha256,
    }];
    dsig::sign(&doc, &template, &signer.key, None, &opts)
        .map(|s| s.bytes)
        .map_err(|e| FakeError::Sign(e.to_string()))
}
