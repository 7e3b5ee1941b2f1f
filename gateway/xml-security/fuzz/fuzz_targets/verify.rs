//! Signature verification on arbitrary documents (seed the corpus with signed ones, see the
//! README): the enveloped profile, and every Signature element under the AS4 policy.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdkgw_xml_security::dsig::{DSIG_NS, EmbeddedCertificate, Verifier, VerifyPolicy};
use sdkgw_xml_security::xml::{Document, Limits, ParseOptions};

fuzz_target!(|data: &[u8]| {
    let options = ParseOptions {
        limits: Limits::SMALL,
        ..ParseOptions::default()
    };
    let Ok(doc) = Document::parse(data.to_vec(), &options) else { return };
    let xhe = VerifyPolicy::default().allowing_sha1();
    if let Ok(v) = Verifier::new(&xhe, &EmbeddedCertificate).verify_enveloped(&doc) {
        let _ = v.describe(&doc);
        let _ = v.covers(&doc, doc.root().node_id());
    }
    let as4 = VerifyPolicy::as4();
    let signatures: Vec<_> = doc
        .elements()
        .filter(|e| e.is(Some(DSIG_NS), "Signature"))
        .map(|e| e.node_id())
        .take(4)
        .collect();
    for s in signatures {
        let _ = Verifier::new(&as4, &EmbeddedCertificate).verify(&doc, s);
    }
});
