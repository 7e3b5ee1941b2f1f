//! The parser on arbitrary bytes, as a document and as a fragment in a namespace context;
//! accepted trees are walked through the navigation API and spliced.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdkgw_xml_security::xml::{Document, Edit, Fragment, Limits, NodeRef, NsDecl, ParseOptions, apply_edits};

fn options() -> ParseOptions {
    ParseOptions {
        limits: Limits::SMALL,
        ..ParseOptions::default()
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = Document::parse(data.to_vec(), &options()) {
        let mut edits = Vec::new();
        for e in doc.elements().take(64) {
            let _ = e.in_scope_namespaces();
            let _ = e.required_child(e.namespace(), e.local_name());
            for a in e.attributes() {
                let _ = doc.element_by_id(a.value());
            }
            // Every child is reachable and text is never empty.
            for n in e.children() {
                if let NodeRef::Text(t) = n {
                    assert!(!t.is_empty());
                }
            }
            let span = e.span();
            assert!(span.start_tag.end <= span.end_tag.start && span.end_tag.end <= doc.bytes().len());
            if edits.is_empty() {
                edits.push(Edit::append_child(e, b"<x/>"));
            }
        }
        if let Ok(out) = apply_edits(doc.bytes(), edits) {
            // Appending a well-formed child keeps the document well-formed.
            let reparsed = Document::parse(out, &ParseOptions::default());
            assert!(reparsed.is_ok(), "splice broke the document: {reparsed:?}");
        }
    }
    let context = [NsDecl {
        prefix: Some("p".into()),
        uri: "urn:p".into(),
    }];
    if let Ok(f) = Fragment::parse(data.to_vec(), &context, &options()) {
        let _ = f.single_element();
    }
});
