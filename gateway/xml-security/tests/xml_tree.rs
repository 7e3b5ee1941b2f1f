//! Behaviour of the hardened XML tree: what it refuses, what it keeps, offsets, ids, limits.

use sdkgw_xml_security::xml::{
    Document, Edit, Fragment, IdAttributes, Limit, Limits, NodeRef, NsDecl, ParseError,
    ParseOptions, StructureError, apply_edits,
};

fn parse(s: &str) -> Result<Document, ParseError> {
    Document::parse(s.as_bytes().to_vec(), &ParseOptions::default())
}

fn with_limits(s: &str, limits: Limits) -> Result<Document, ParseError> {
    let options = ParseOptions {
        limits,
        ..ParseOptions::default()
    };
    Document::parse(s.as_bytes().to_vec(), &options)
}

#[test]
fn rejects_any_doctype_including_external_entities() {
    let xxe =
        r#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>"#;
    assert!(matches!(parse(xxe), Err(ParseError::DtdForbidden { .. })));
    assert!(matches!(
        parse("<!DOCTYPE a><a/>"),
        Err(ParseError::DtdForbidden { .. })
    ));
}

#[test]
fn rejects_billion_laughs_before_expanding_anything() {
    let mut s = String::from("<!DOCTYPE lolz [<!ENTITY lol \"lol\">");
    for i in 1..10 {
        s.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">",
            format!("&lol{};", i - 1).repeat(10)
        ));
    }
    s.push_str("]><lolz>&lol9;</lolz>");
    assert!(matches!(parse(&s), Err(ParseError::DtdForbidden { .. })));
}

#[test]
fn rejects_undefined_entities_but_resolves_predefined_and_char_refs() {
    assert!(matches!(
        parse("<a>&nbsp;</a>"),
        Err(ParseError::EntityForbidden { .. })
    ));
    let doc = parse("<a x=\"&lt;&#x41;&#66;\">&amp;&gt;&apos;&quot;&#xE5;</a>").unwrap();
    assert_eq!(doc.root().text(), "&>'\"å");
    assert_eq!(doc.root().attribute(None, "x"), Some("<AB"));
}

#[test]
fn text_with_references_is_one_node_and_errors_point_at_the_piece_at_fault() {
    // The tokenizer hands text with references over as one piece; the parser decodes it
    // in one pass but reports what is wrong where it is, as for separate pieces.
    let doc = parse("<a>x &amp; y &#x41;<![CDATA[<]]>&lt;z</a>").unwrap();
    assert_eq!(doc.root().text(), "x & y A<<z");
    assert!(matches!(
        parse("<a>x &amp; y &bad; z</a>"),
        Err(ParseError::EntityForbidden { offset: 13, .. })
    ));
    assert!(matches!(
        parse("<a>&#0;</a>"),
        Err(ParseError::InvalidCharRef { offset: 3, .. })
    ));
    let five = || Limits {
        max_text_len: 5,
        ..Limits::default()
    };
    assert!(matches!(
        with_limits("<a>01&amp;2345</a>", five()),
        Err(ParseError::LimitExceeded {
            limit: Limit::TextLength,
            offset: 10,
            ..
        })
    ));
    assert_eq!(
        with_limits("<a>01&amp;23</a>", five())
            .unwrap()
            .root()
            .text(),
        "01&23"
    );
    assert!(matches!(
        parse("&amp;<a/>"),
        Err(ParseError::Syntax { offset: 0, .. })
    ));
}

#[test]
fn rejects_non_utf8_encodings_and_bad_bytes() {
    assert!(matches!(
        parse("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>"),
        Err(ParseError::Encoding { .. })
    ));
    let utf16 = b"\xFF\xFE<\0a\0/\0>\0".to_vec();
    assert!(matches!(
        Document::parse(utf16, &ParseOptions::default()),
        Err(ParseError::Encoding { .. })
    ));
    let bad_utf8 = b"<a>\xC3\x28</a>".to_vec();
    assert!(matches!(
        Document::parse(bad_utf8, &ParseOptions::default()),
        Err(ParseError::Encoding { .. })
    ));
    assert!(matches!(
        parse("<a>\u{1}</a>"),
        Err(ParseError::InvalidChar { .. })
    ));
    assert!(matches!(
        parse("<a>\0</a>"),
        Err(ParseError::InvalidChar { .. })
    ));
    assert!(parse("\u{FEFF}<?xml version=\"1.0\" encoding=\"utf-8\"?><a/>").is_ok());
}

#[test]
fn rejects_malformed_documents() {
    for bad in [
        "",
        "<a>",
        "<a></b>",
        "<a/><b/>",
        "text<a/>",
        "<a/>text",
        "<a x='1' x='2'/>",
        "<p:a/>",
        "<a xmlns:p='u'><p:b/></a><p:c/>",
        "<a xmlns:p=''/>",
        "<a xmlns:xmlns='u'/>",
        "<a xmlns:xml='urn:other'/>",
        "<a xmlns:p='u' xmlns:q='u' p:x='1' q:x='2'/>",
        "<a x='<'/>",
        "<a><!-- a -- b --></a>",
        "<a/><?xml version='1.0'?>",
        "<1a/>",
        "<a:b:c xmlns:a='u'/>",
        "<?xml version=\"1.1\"?><a/>",
    ] {
        assert!(parse(bad).is_err(), "accepted {bad:?}");
    }
}

#[test]
fn resolves_namespaces_and_keeps_declarations_as_written() {
    let doc =
        parse(r#"<r xmlns="urn:d" xmlns:p="urn:p"><p:c p:at="1" b="2"><d xmlns=""/></p:c></r>"#)
            .unwrap();
    let root = doc.root();
    assert_eq!(root.namespace(), Some("urn:d"));
    let c = root.required_child(Some("urn:p"), "c").unwrap();
    assert_eq!(c.qname(), "p:c");
    assert_eq!(c.attribute(Some("urn:p"), "at"), Some("1"));
    assert_eq!(c.attribute(None, "b"), Some("2"));
    let d = c.child(None, "d").unwrap();
    assert_eq!(d.namespace(), None);
    assert_eq!(
        d.namespace_declarations(),
        &[NsDecl {
            prefix: None,
            uri: String::new()
        }]
    );
    let scope = d.in_scope_namespaces();
    assert_eq!(
        scope,
        vec![NsDecl {
            prefix: Some("p".into()),
            uri: "urn:p".into()
        }]
    );
    assert_eq!(root.namespace_declarations().len(), 2);
}

#[test]
fn keeps_comments_pis_cdata_and_normalises_line_ends() {
    let doc = parse(
        "<!--pre--><?pi data?><a>x\r\ny\rz<![CDATA[<&>\r\n]]><!--in--><?p  q ?></a><!--post-->",
    )
    .unwrap();
    let top: Vec<String> = doc
        .top_level()
        .map(|n| match n {
            NodeRef::Comment(c) => format!("c:{c}"),
            NodeRef::Pi { target, data } => format!("pi:{target}:{data}"),
            NodeRef::Element(e) => format!("e:{}", e.local_name()),
            NodeRef::Text(t) => format!("t:{t}"),
        })
        .collect();
    assert_eq!(top, ["c:pre", "pi:pi:data", "e:a", "c:post"]);
    assert_eq!(doc.root().text(), "x\ny\nz<&>\n");
    let kinds: Vec<&str> = doc
        .root()
        .children()
        .map(|n| match n {
            NodeRef::Text(_) => "text",
            NodeRef::Comment(_) => "comment",
            NodeRef::Pi { .. } => "pi",
            NodeRef::Element(_) => "element",
        })
        .collect();
    assert_eq!(kinds, ["text", "comment", "pi"]);
}

#[test]
fn element_spans_locate_tags_and_content_in_the_input() {
    let input = "\u{FEFF}<?xml version=\"1.0\"?>\n<r a=\"1\">\n  <c>t</c><e/>\n</r>\n";
    let doc = parse(input).unwrap();
    let bytes = doc.bytes();
    let c = doc.root().child(None, "c").unwrap();
    let span = c.span();
    assert_eq!(&bytes[span.start_tag.clone()], b"<c>");
    assert_eq!(&bytes[span.content.clone()], b"t");
    assert_eq!(&bytes[span.end_tag.clone()], b"</c>");
    let e = doc.root().child(None, "e").unwrap();
    assert!(e.is_self_closing());
    assert_eq!(&bytes[e.span().whole()], b"<e/>");
    let r = doc.root().span();
    assert_eq!(&bytes[r.end_tag.clone()], b"</r>");
    assert_eq!(&bytes[r.start_tag.clone()], b"<r a=\"1\">");
}

#[test]
fn edits_splice_bytes_without_touching_the_rest() {
    let input = "<?xml version=\"1.0\"?>\n<r>\n  <c>secret</c>\n  <e x='1' />\n</r>";
    let doc = parse(input).unwrap();
    let c = doc.root().child(None, "c").unwrap();
    let e = doc.root().child(None, "e").unwrap();
    let out = apply_edits(
        doc.bytes(),
        vec![
            Edit::replace_element(c, b"<enc/>".to_vec()),
            Edit::append_child(e, b"<s/>"),
            Edit::append_child(doc.root(), b"<last/>"),
        ],
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "<?xml version=\"1.0\"?>\n<r>\n  <enc/>\n  <e x='1' ><s/></e>\n<last/></r>"
    );
    let overlap = apply_edits(
        doc.bytes(),
        vec![
            Edit::replace_element(c, vec![]),
            Edit::replace_content(c, b"x"),
        ],
    );
    assert!(overlap.is_err());
}

#[test]
fn id_lookup_uses_configured_attributes_and_refuses_duplicates() {
    let doc = parse(concat!(
        r#"<r xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">"#,
        r#"<a wsu:Id="w"/><b Id="i"/><c ID="I"/><d id="lower"/><e Id="dup"/><f ID="dup"/></r>"#
    ))
    .unwrap();
    for (id, name) in [("w", "a"), ("i", "b"), ("I", "c")] {
        assert_eq!(doc.element_by_id(id).unwrap().unwrap().local_name(), name);
    }
    assert_eq!(doc.element_by_id("lower").unwrap(), None);
    assert!(matches!(
        doc.element_by_id("dup"),
        Err(StructureError::DuplicateId { .. })
    ));
    assert_eq!(doc.duplicate_ids(), ["dup"]);

    let none = ParseOptions {
        id_attributes: IdAttributes::none(),
        ..ParseOptions::default()
    };
    let doc = Document::parse(b"<r Id='x'/>".to_vec(), &none).unwrap();
    assert_eq!(doc.element_by_id("x").unwrap(), None);
}

#[test]
fn required_child_helpers_report_missing_and_repeated_children() {
    let doc = parse("<r xmlns='urn:x'><a/><a/><b>  </b></r>").unwrap();
    let r = doc.root();
    assert!(matches!(
        r.required_child(Some("urn:x"), "a"),
        Err(StructureError::RepeatedChild { count: 2, .. })
    ));
    assert!(matches!(
        r.required_child(Some("urn:x"), "z"),
        Err(StructureError::MissingChild { .. })
    ));
    assert!(matches!(
        r.required_attribute(None, "q"),
        Err(StructureError::MissingAttribute { .. })
    ));
    assert_eq!(r.children_named(Some("urn:x"), "a").count(), 2);
    let b = r.required_child(Some("urn:x"), "b").unwrap();
    assert!(b.require_no_text().is_ok());
    assert_eq!(b.trimmed_text(), "");
    assert!(r.expect(Some("urn:x"), "r").is_ok());
    assert!(r.expect(None, "r").is_err());
}

#[test]
fn fragments_parse_with_the_namespaces_of_their_new_parent() {
    let doc = parse("<x:XHE xmlns:x='urn:xhe' xmlns:ns6='urn:payload'><x:PayloadContent/></x:XHE>")
        .unwrap();
    let parent = doc.root().child(Some("urn:xhe"), "PayloadContent").unwrap();
    let context = parent.in_scope_namespaces();
    let frag = Fragment::parse(
        b"\n<ns6:messagePayload a='1'><ns6:x/></ns6:messagePayload>\n".to_vec(),
        &context,
        &ParseOptions::default(),
    )
    .unwrap();
    let payload = frag.single_element().unwrap();
    assert!(payload.is(Some("urn:payload"), "messagePayload"));
    assert!(Fragment::parse(b"<ns7:a/>".to_vec(), &context, &ParseOptions::default()).is_err());
    let two = Fragment::parse(b"<a/>text<b/>".to_vec(), &[], &ParseOptions::default()).unwrap();
    assert!(two.single_element().is_err());
    assert_eq!(two.top_level().count(), 3);
}

#[test]
fn every_limit_is_a_typed_error() {
    let l = Limits::default;
    let cases: Vec<(String, Limits, Limit)> = vec![
        (
            "<a/>".to_string() + &" ".repeat(100),
            Limits {
                max_bytes: 50,
                ..l()
            },
            Limit::Bytes,
        ),
        (
            "<a><a><a><a/></a></a></a>".into(),
            Limits {
                max_depth: 3,
                ..l()
            },
            Limit::Depth,
        ),
        (
            "<a x='1' y='2' z='3'/>".into(),
            Limits {
                max_attributes: 2,
                ..l()
            },
            Limit::Attributes,
        ),
        (
            "<a xmlns:p='1' xmlns:q='2'/>".into(),
            Limits {
                max_namespace_declarations: 1,
                ..l()
            },
            Limit::NamespaceDeclarations,
        ),
        (
            "<a xmlns:p='1'><b xmlns:q='2'/></a>".into(),
            Limits {
                max_total_namespace_declarations: 1,
                ..l()
            },
            Limit::TotalNamespaceDeclarations,
        ),
        (
            "<a>0123456789</a>".into(),
            Limits {
                max_text_len: 5,
                ..l()
            },
            Limit::TextLength,
        ),
        (
            "<a>01&amp;234<![CDATA[56]]></a>".into(),
            Limits {
                max_text_len: 6,
                ..l()
            },
            Limit::TextLength,
        ),
        (
            "<a><!--0123456789--></a>".into(),
            Limits {
                max_text_len: 5,
                ..l()
            },
            Limit::TextLength,
        ),
        (
            "<a x='0123456789'/>".into(),
            Limits {
                max_attribute_len: 5,
                ..l()
            },
            Limit::AttributeLength,
        ),
        (
            "<a><b/><b/><b/></a>".into(),
            Limits {
                max_nodes: 3,
                ..l()
            },
            Limit::Nodes,
        ),
    ];
    for (input, limits, want) in cases {
        match with_limits(&input, limits) {
            Err(ParseError::LimitExceeded { limit, .. }) => assert_eq!(limit, want, "{input}"),
            other => panic!("{input}: {other:?}"),
        }
    }
}

#[test]
fn deep_nesting_is_refused_without_stack_overflow() {
    let deep = "<a>".repeat(100_000) + &"</a>".repeat(100_000);
    assert!(matches!(
        parse(&deep),
        Err(ParseError::LimitExceeded {
            limit: Limit::Depth,
            ..
        })
    ));
    // Within a raised limit, the tree and its iterators are still iterative.
    let limits = Limits {
        max_depth: 200_000,
        ..Limits::default()
    };
    let doc = with_limits(&deep, limits).unwrap();
    assert_eq!(doc.elements().count(), 100_000);
    // Canonicalization walks it iteratively too.
    use sdkgw_xml_security::c14n::{Algorithm, NodeSet, canonicalize_to_vec};
    let out = canonicalize_to_vec(&doc, &NodeSet::document(), &Algorithm::exclusive(&[])).unwrap();
    assert_eq!(out, deep.as_bytes());
    let inner = doc.elements().nth(50_000).unwrap().node_id();
    let out = canonicalize_to_vec(&doc, &NodeSet::subtree(inner), &Algorithm::c14n10()).unwrap();
    assert_eq!(out.len(), deep.len() / 2);
}

#[test]
fn huge_attribute_counts_and_namespace_floods_are_refused() {
    let attrs: String = (0..100_000).map(|i| format!(" a{i}='x'")).collect();
    assert!(matches!(
        parse(&format!("<a{attrs}/>")),
        Err(ParseError::LimitExceeded {
            limit: Limit::Attributes,
            ..
        })
    ));
    let decls: String = (0..100_000)
        .map(|i| format!(" xmlns:p{i}='urn:{i}'"))
        .collect();
    assert!(matches!(
        parse(&format!("<a{decls}/>")),
        Err(ParseError::LimitExceeded {
            limit: Limit::NamespaceDeclarations,
            ..
        })
    ));
}

#[test]
fn empty_cdata_sections_make_no_text_node() {
    let doc = parse("<a><![CDATA[]]><b/><![CDATA[]]>x<![CDATA[]]></a>").unwrap();
    let texts: Vec<&str> = doc
        .root()
        .children()
        .filter_map(|n| match n {
            NodeRef::Text(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["x"]);
}

#[test]
fn navigation_iterators_outlive_the_element_value_they_came_from() {
    let doc = parse("<r><a><c/><c/></a><b><c/></b></r>").unwrap();
    // The closure's element is a temporary: the iterators must only borrow the document.
    let cs: Vec<_> = doc
        .root()
        .child_elements()
        .flat_map(|e| e.children_named(None, "c"))
        .collect();
    assert_eq!(cs.len(), 3);
    let reached = doc
        .root()
        .child_elements()
        .flat_map(|e| e.children().chain(e.ancestors().flat_map(|a| a.children())))
        .count();
    assert_eq!(reached, (2 + 2) + (1 + 2));
}
