//! Canonicalization checked against the examples of the W3C specifications (Canonical XML
//! 1.0 §3, Exclusive XML Canonicalization §2.2), written out here. Examples that need a DTD
//! are given without it (we refuse DTDs), with the output a DTD-less parser must produce.
#![allow(clippy::unwrap_used)]

use sdkgw_xml_security::c14n::{Algorithm, NodeSet, canonicalize_to_vec};
use sdkgw_xml_security::xml::{Document, ParseOptions};

fn doc(s: &str) -> Document {
    Document::parse(s.as_bytes().to_vec(), &ParseOptions::default()).unwrap()
}

fn c14n(d: &Document, set: &NodeSet, alg: &Algorithm) -> String {
    String::from_utf8(canonicalize_to_vec(d, set, alg).unwrap()).unwrap()
}

fn whole(s: &str, alg: &Algorithm) -> String {
    c14n(&doc(s), &NodeSet::document(), alg)
}

const PIS_AND_COMMENTS: &str = "<?xml version=\"1.0\"?>\n\n<?xml-stylesheet   href=\"doc.xsl\"\n   type=\"text/xsl\"   ?>\n\n<doc>Hello, world!<!-- Comment 1 --></doc>\n\n<?pi-without-data     ?>\n\n<!-- Comment 2 -->\n\n<!-- Comment 3 -->\n";

#[test]
fn example_3_1_pis_and_comments_outside_the_document_element() {
    let without = "<?xml-stylesheet href=\"doc.xsl\"\n   type=\"text/xsl\"   ?>\n<doc>Hello, world!</doc>\n<?pi-without-data?>";
    let with = "<?xml-stylesheet href=\"doc.xsl\"\n   type=\"text/xsl\"   ?>\n<doc>Hello, world!<!-- Comment 1 --></doc>\n<?pi-without-data?>\n<!-- Comment 2 -->\n<!-- Comment 3 -->";
    for alg in [
        Algorithm::c14n10(),
        Algorithm::c14n11(),
        Algorithm::exclusive(&[]),
    ] {
        assert_eq!(whole(PIS_AND_COMMENTS, &alg), without);
        assert_eq!(whole(PIS_AND_COMMENTS, &alg.with_comments()), with);
    }
}

#[test]
fn comments_are_dropped_when_the_node_set_has_none_even_with_a_comments_algorithm() {
    let d = doc(PIS_AND_COMMENTS);
    let out = c14n(
        &d,
        &NodeSet::document().without_comments(),
        &Algorithm::c14n10().with_comments(),
    );
    assert!(!out.contains("<!--"));
}

#[test]
fn example_3_2_whitespace_in_content_is_kept() {
    let input = "<doc>\n   <clean>   </clean>\n   <dirty>   A   B   </dirty>\n   <mixed>\n      A\n      <clean>   </clean>\n      B\n      <dirty>   A   B   </dirty>\n      C\n   </mixed>\n</doc>";
    assert_eq!(whole(input, &Algorithm::c14n10()), input);
}

#[test]
fn example_3_3_start_and_end_tags() {
    let input = r#"<doc>
   <e1   />
   <e2   ></e2>
   <e3   name = "elem3"   id="elem3"   />
   <e4   name="elem4"   id="elem4"   ></e4>
   <e5 a:attr="out" b:attr="sorted" attr2="all" attr="I'm"
      xmlns:b="http://www.ietf.org"
      xmlns:a="http://www.w3.org"
      xmlns="http://example.org"/>
   <e6 xmlns="" xmlns:a="http://www.w3.org">
      <e7 xmlns="http://www.ietf.org">
         <e8 xmlns="" xmlns:a="http://www.w3.org">
            <e9 xmlns="" xmlns:a="http://www.ietf.org"/>
         </e8>
      </e7>
   </e6>
</doc>"#;
    let expected = r#"<doc>
   <e1></e1>
   <e2></e2>
   <e3 id="elem3" name="elem3"></e3>
   <e4 id="elem4" name="elem4"></e4>
   <e5 xmlns="http://example.org" xmlns:a="http://www.w3.org" xmlns:b="http://www.ietf.org" attr="I'm" attr2="all" b:attr="sorted" a:attr="out"></e5>
   <e6 xmlns:a="http://www.w3.org">
      <e7 xmlns="http://www.ietf.org">
         <e8 xmlns="">
            <e9 xmlns:a="http://www.ietf.org"></e9>
         </e8>
      </e7>
   </e6>
</doc>"#;
    assert_eq!(whole(input, &Algorithm::c14n10()), expected);
    assert_eq!(whole(input, &Algorithm::c14n11()), expected);
}

#[test]
fn example_3_4_character_modifications_and_references() {
    let input = r#"<doc>
   <text>First line&#x0d;&#10;Second line</text>
   <value>&#x32;</value>
   <compute><![CDATA[value>"0" && value<"10" ?"valid":"error"]]></compute>
   <compute expr='value>"0" &amp;&amp; value&lt;"10" ?"valid":"error"'>valid</compute>
   <norm attr=' &apos;   &#x20;&#13;&#xa;&#9;   &apos; '/>
   <normNames attr='   A   &#x20;&#13;&#xa;&#9;   B   '/>
</doc>"#;
    let expected = "<doc>\n   <text>First line&#xD;\nSecond line</text>\n   <value>2</value>\n   <compute>value&gt;\"0\" &amp;&amp; value&lt;\"10\" ?\"valid\":\"error\"</compute>\n   <compute expr=\"value>&quot;0&quot; &amp;&amp; value&lt;&quot;10&quot; ?&quot;valid&quot;:&quot;error&quot;\">valid</compute>\n   <norm attr=\" '    &#xD;&#xA;&#x9;   ' \"></norm>\n   <normNames attr=\"   A    &#xD;&#xA;&#x9;   B   \"></normNames>\n</doc>";
    assert_eq!(whole(input, &Algorithm::c14n10()), expected);
}

#[test]
fn example_3_6_utf8_output() {
    assert_eq!(
        whole("<doc>&#169;</doc>", &Algorithm::c14n10()),
        "<doc>©</doc>"
    );
}

#[test]
fn literal_line_ends_and_whitespace_in_attributes_are_normalised_before_c14n() {
    let input = "<a b=\"x\r\ny\tz\">1\r\n2\r3</a>";
    assert_eq!(
        whole(input, &Algorithm::c14n10()),
        "<a b=\"x y z\">1\n2\n3</a>"
    );
}

const EXC_DOC_1: &str = r#"<n0:local xmlns:n0="foo:bar" xmlns:n3="ftp://example.org">
  <n1:elem2 xmlns:n1="http://example.net" xml:lang="en">
     <n3:stuff xmlns:n3="ftp://example.org"/>
  </n1:elem2>
</n0:local>"#;

const EXC_DOC_2: &str = r#"<n2:pdu xmlns:n1="http://example.com"
           xmlns:n2="http://foo.example"
           xml:lang="fr"
           xml:space="retain">
  <n1:elem2 xmlns:n1="http://example.net" xml:lang="en">
     <n3:stuff xmlns:n3="ftp://example.org"/>
  </n1:elem2>
</n2:pdu>"#;

fn elem2(d: &Document) -> NodeSet {
    let e = d.root().child(Some("http://example.net"), "elem2").unwrap();
    NodeSet::subtree(e.node_id())
}

#[test]
fn exc_c14n_section_2_2_inclusive_subtree_inherits_namespaces_and_xml_attributes() {
    let d1 = doc(EXC_DOC_1);
    assert_eq!(
        c14n(&d1, &elem2(&d1), &Algorithm::c14n10()),
        "<n1:elem2 xmlns:n0=\"foo:bar\" xmlns:n1=\"http://example.net\" xmlns:n3=\"ftp://example.org\" xml:lang=\"en\">\n     <n3:stuff></n3:stuff>\n  </n1:elem2>"
    );
    let d2 = doc(EXC_DOC_2);
    assert_eq!(
        c14n(&d2, &elem2(&d2), &Algorithm::c14n10()),
        "<n1:elem2 xmlns:n1=\"http://example.net\" xmlns:n2=\"http://foo.example\" xml:lang=\"en\" xml:space=\"retain\">\n     <n3:stuff xmlns:n3=\"ftp://example.org\"></n3:stuff>\n  </n1:elem2>"
    );
}

#[test]
fn exc_c14n_section_2_2_exclusive_subtree_is_independent_of_its_context() {
    let expected = "<n1:elem2 xmlns:n1=\"http://example.net\" xml:lang=\"en\">\n     <n3:stuff xmlns:n3=\"ftp://example.org\"></n3:stuff>\n  </n1:elem2>";
    for input in [EXC_DOC_1, EXC_DOC_2] {
        let d = doc(input);
        assert_eq!(c14n(&d, &elem2(&d), &Algorithm::exclusive(&[])), expected);
    }
}

#[test]
fn exc_c14n_inclusive_prefix_list_renders_listed_prefixes_in_scope() {
    let d = doc(EXC_DOC_2);
    assert_eq!(
        c14n(&d, &elem2(&d), &Algorithm::exclusive(&["n2", "absent"])),
        "<n1:elem2 xmlns:n1=\"http://example.net\" xmlns:n2=\"http://foo.example\" xml:lang=\"en\">\n     <n3:stuff xmlns:n3=\"ftp://example.org\"></n3:stuff>\n  </n1:elem2>"
    );
}

#[test]
fn exc_c14n_renders_attribute_prefixes_and_default_namespace_where_used() {
    let input =
        r#"<r xmlns="urn:d" xmlns:a="urn:a" xmlns:u="urn:unused"><a:x a:at="1"><y/></a:x></r>"#;
    let d = doc(input);
    let x = d.root().child(Some("urn:a"), "x").unwrap();
    assert_eq!(
        c14n(
            &d,
            &NodeSet::subtree(x.node_id()),
            &Algorithm::exclusive(&[])
        ),
        r#"<a:x xmlns:a="urn:a" a:at="1"><y xmlns="urn:d"></y></a:x>"#
    );
    assert_eq!(
        c14n(
            &d,
            &NodeSet::subtree(x.node_id()),
            &Algorithm::exclusive(&["#default"])
        ),
        r#"<a:x xmlns="urn:d" xmlns:a="urn:a" a:at="1"><y></y></a:x>"#
    );
}

#[test]
fn no_spurious_empty_default_namespace_on_a_default_namespace_subtree() {
    // The signxml/lxml quirk: subtree c14n of an unprefixed Signature must not write xmlns="".
    let input = r#"<x:XHE xmlns:x="urn:xhe"><Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo><Transforms><Transform Algorithm="a"/></Transforms></SignedInfo></Signature></x:XHE>"#;
    let d = doc(input);
    let si = d
        .root()
        .child(Some("http://www.w3.org/2000/09/xmldsig#"), "Signature")
        .unwrap()
        .child(Some("http://www.w3.org/2000/09/xmldsig#"), "SignedInfo")
        .unwrap();
    let out = c14n(&d, &NodeSet::subtree(si.node_id()), &Algorithm::c14n10());
    assert_eq!(
        out,
        r#"<SignedInfo xmlns="http://www.w3.org/2000/09/xmldsig#" xmlns:x="urn:xhe"><Transforms><Transform Algorithm="a"></Transform></Transforms></SignedInfo>"#
    );
    assert!(!out.contains("xmlns=\"\""));
}

#[test]
fn empty_default_namespace_is_rendered_only_below_a_non_empty_default() {
    let d = doc(r#"<a xmlns="urn:a"><b xmlns=""><c xmlns=""/></b></a>"#);
    assert_eq!(
        c14n(&d, &NodeSet::document(), &Algorithm::c14n10()),
        r#"<a xmlns="urn:a"><b xmlns=""><c></c></b></a>"#
    );
    let b = d.root().child(None, "b").unwrap();
    assert_eq!(
        c14n(&d, &NodeSet::subtree(b.node_id()), &Algorithm::c14n10()),
        "<b><c></c></b>"
    );
    assert_eq!(
        c14n(
            &d,
            &NodeSet::subtree(b.node_id()),
            &Algorithm::exclusive(&[])
        ),
        "<b><c></c></b>"
    );
}

#[test]
fn enveloped_transform_removes_exactly_the_excluded_subtree() {
    let d = doc("<r>\n  <a>1</a>\n  <s:Sig xmlns:s=\"urn:s\"><s:x/></s:Sig>\n</r>");
    let sig = d.root().child(Some("urn:s"), "Sig").unwrap();
    let out = c14n(
        &d,
        &NodeSet::document().excluding(sig.node_id()),
        &Algorithm::c14n10(),
    );
    assert_eq!(out, "<r>\n  <a>1</a>\n  \n</r>");
}

#[test]
fn c14n_11_does_not_inherit_xml_id_and_refuses_xml_base_fixup() {
    let d = doc(r#"<r xml:id="i" xml:lang="sv"><c/></r>"#);
    let c = d.root().child(None, "c").unwrap();
    let set = NodeSet::subtree(c.node_id());
    assert_eq!(
        c14n(&d, &set, &Algorithm::c14n11()),
        r#"<c xml:lang="sv"></c>"#
    );
    assert_eq!(
        c14n(&d, &set, &Algorithm::c14n10()),
        r#"<c xml:id="i" xml:lang="sv"></c>"#
    );
    let d = doc(r#"<r xml:base="http://a/b/"><c/></r>"#);
    let c = d.root().child(None, "c").unwrap();
    assert!(canonicalize_to_vec(&d, &NodeSet::subtree(c.node_id()), &Algorithm::c14n11()).is_err());
}

#[test]
fn algorithm_identifiers_round_trip() {
    use sdkgw_xml_security::c14n::*;
    for uri in [
        C14N_10,
        C14N_10_WITH_COMMENTS,
        C14N_11,
        C14N_11_WITH_COMMENTS,
        EXC_C14N,
        EXC_C14N_WITH_COMMENTS,
    ] {
        assert_eq!(Algorithm::from_uri(uri, None).unwrap().uri(), uri);
    }
    let exc = Algorithm::from_uri(EXC_C14N, Some(" wsse  #default ")).unwrap();
    assert_eq!(exc.prefix_list().as_deref(), Some("wsse #default"));
    assert!(Algorithm::from_uri(C14N_10, Some("a")).is_err());
    assert!(Algorithm::from_uri("http://www.w3.org/TR/1999/REC-xslt-19991116", None).is_err());
}
