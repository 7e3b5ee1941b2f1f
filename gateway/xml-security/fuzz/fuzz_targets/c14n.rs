//! Canonicalization of every accepted document with every algorithm, of subtrees and with an
//! excluded subtree; plus idempotence: the C14N 1.0 form of a document is its own C14N form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdkgw_xml_security::c14n::{Algorithm, NodeSet, canonicalize_to_vec};
use sdkgw_xml_security::xml::{Document, Limits, ParseOptions};

fuzz_target!(|data: &[u8]| {
    let options = ParseOptions {
        limits: Limits::SMALL,
        ..ParseOptions::default()
    };
    let Ok(doc) = Document::parse(data.to_vec(), &options) else { return };
    let algorithms = [
        Algorithm::c14n10(),
        Algorithm::c14n10().with_comments(),
        Algorithm::c14n11(),
        Algorithm::exclusive(&[]),
        Algorithm::exclusive(&["a", "#default"]).with_comments(),
    ];
    for alg in &algorithms {
        let _ = canonicalize_to_vec(&doc, &NodeSet::document(), alg);
        for e in doc.elements().take(16) {
            let _ = canonicalize_to_vec(&doc, &NodeSet::subtree(e.node_id()), alg);
            let _ = canonicalize_to_vec(&doc, &NodeSet::document().excluding(e.node_id()), alg);
        }
    }
    let alg = Algorithm::c14n10().with_comments();
    if let Ok(first) = canonicalize_to_vec(&doc, &NodeSet::document(), &alg) {
        let again = Document::parse(first.clone(), &ParseOptions::default())
            .expect("canonical XML must parse");
        let second = canonicalize_to_vec(&again, &NodeSet::document(), &alg).expect("c14n of c14n");
        assert_eq!(first, second, "C14N is not idempotent");
    }
});
