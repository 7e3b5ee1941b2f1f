//! Canonicalization cross-checked against libxml2 (through lxml in the shared tools venv):
//! whole documents in C14N 1.0 and exclusive C14N, with and without comments, and exclusive
//! C14N of subtrees, over DIGG's reference documents and our own tricky inputs.
#![allow(clippy::unwrap_used)]

mod support_xml;

use std::process::Command;

use sdkgw_xml_security::c14n::{Algorithm, NodeSet, canonicalize_to_vec};
use sdkgw_xml_security::xml::{Document, ParseOptions};
use support_xml::{run, scratch, shared_dir, tools_python};

const LXML_C14N: &str = r#"
import sys, pathlib
from lxml import etree
for name in sys.argv[1:]:
    p = pathlib.Path(name)
    tree = etree.parse(str(p), etree.XMLParser(resolve_entities=False, remove_blank_text=False))
    for suffix, excl, comments in [("c14n", False, False), ("c14nc", False, True), ("exc", True, False), ("excc", True, True)]:
        p.with_suffix("." + suffix).write_bytes(etree.tostring(tree, method="c14n", exclusive=excl, with_comments=comments))
    subs = tree.getroot().xpath("//*[@Id='sub']")
    if subs:
        p.with_suffix(".excsub").write_bytes(etree.tostring(subs[0], method="c14n", exclusive=True, with_comments=False))
"#;

const OWN_INPUTS: &[&str] = &[
    "<?xml version=\"1.0\"?>\n<!--c0-->\n<?p0 d?>\n<r xmlns=\"urn:d\" xmlns:a=\"urn:a\" a:z=\"1\" b=\"2\" xml:lang=\"sv\">\r\n <a:x Id=\"sub\" xmlns:b=\"urn:b\"><b:y a:q=\"&quot;&lt;&gt;&#9;&#10;&#13;\">t&amp;&lt;&gt;&#13;</b:y><z xmlns=\"\"/><!--c1--></a:x>\n <![CDATA[ <&> ]]>\n</r>\n<!--c2-->",
    "<a:root xmlns:a=\"urn:a\" xmlns:b=\"urn:b\" xmlns=\"urn:x\"><b:c xmlns:a=\"urn:a\" xmlns:b=\"urn:other\"><d xmlns=\"urn:x\"/><e xmlns=\"\" Id=\"sub\"><f xmlns=\"urn:f\" xmlns:g=\"urn:g\"><g:h g:i=\"1\" j=\"2\"/></f></e></b:c></a:root>",
    "<doc>\n   <e5 a:attr=\"out\" b:attr=\"sorted\" attr2=\"all\" attr=\"I'm\" xmlns:b=\"http://www.ietf.org\" xmlns:a=\"http://www.w3.org\" xmlns=\"http://example.org\"/>\n   <e6 xmlns=\"\" xmlns:a=\"http://www.w3.org\"><e7 xmlns=\"http://www.ietf.org\"><e8 xmlns=\"\" xmlns:a=\"http://www.w3.org\"><e9 xmlns=\"\" xmlns:a=\"http://www.ietf.org\"/></e8></e7></e6>\n</doc>",
    "<r>é ü 😀 \u{2028} &#x10FFFF; <?pi   spaced  data ?><s Id=\"sub\"/></r>",
    // Subtrees that are (or look) canonical as written, which the renderer copies unchanged,
    // next to near misses that it must not copy.
    "<r xmlns:a=\"urn:a\" xmlns=\"urn:d\">\n <ok b=\"1\" c=\"x'y>\" a:d=\"2\"><i>t &amp; &lt; &gt; \"q\" 'a'</i><j></j></ok>\n <x1 xmlns:xml=\"http://www.w3.org/XML/1998/namespace\"><i>t</i></x1>\n <x2 a:d=\"2\" b=\"1\"></x2><x3 c=\"1\" b=\"2\"></x3><x4 b='1'></x4><x5  b=\"1\"></x5><x6 b=\"1\" ></x6>\n <x7 b=\"a\tb\"></x7><x8 b=\"&#9;&quot;&amp;\"></x8><x9 b=\"\n\"></x9><y1>&#62;&quot;&apos;&#x41;</y1><y2>a>b</y2><y3><![CDATA[]]></y3><y4><![CDATA[c]]></y4>\n <y5><e/></y5><y6><e></e ></y6><y7><d><d>deep<!--c--></d></d></y7><y8><d><?p x?></d></y8><y9 xml:lang=\"sv\"><d xml:space=\"preserve\">s</d></y9><z1><d xmlns=\"\"></d></z1><z2>a\r\nb</z2><z3 Id=\"sub\"><e>same</e></z3>\n</r>",
];

#[test]
fn whole_documents_and_exclusive_subtrees_match_libxml2() {
    let Some(shared) = shared_dir() else { return };
    let python = tools_python(&shared);
    let dir = scratch("c14n-lxml");
    let mut inputs = Vec::new();
    for (i, text) in OWN_INPUTS.iter().enumerate() {
        let path = dir.join(format!("own{i}.xml"));
        std::fs::write(&path, text).unwrap();
        inputs.push(path);
    }
    for sub in [
        "xhe/examples",
        "receipt/examples",
        "sdk-message/examples",
        "sdk-message/testdata",
    ] {
        for entry in std::fs::read_dir(shared.join("sdk-reference").join(sub)).unwrap() {
            let src = entry.unwrap().path();
            let dest = dir.join(format!(
                "ref-{}",
                src.file_name().unwrap().to_string_lossy().replace(' ', "_")
            ));
            std::fs::copy(&src, &dest).unwrap();
            inputs.push(dest);
        }
    }
    let (ok, out) = run(Command::new(&python).arg("-c").arg(LXML_C14N).args(&inputs));
    assert!(ok, "lxml failed: {out}");

    let mut compared = 0;
    for input in &inputs {
        let doc = Document::parse(std::fs::read(input).unwrap(), &ParseOptions::default()).unwrap();
        let cases = [
            ("c14n", Algorithm::c14n10()),
            ("c14nc", Algorithm::c14n10().with_comments()),
            ("exc", Algorithm::exclusive(&[])),
            ("excc", Algorithm::exclusive(&[]).with_comments()),
        ];
        for (suffix, alg) in cases {
            let expected = std::fs::read(input.with_extension(suffix)).unwrap();
            let ours = canonicalize_to_vec(&doc, &NodeSet::document(), &alg).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&expected),
                "{} {suffix}",
                input.display()
            );
            compared += 1;
        }
        if let Ok(expected) = std::fs::read(input.with_extension("excsub")) {
            let sub = doc.element_by_id("sub").unwrap().unwrap();
            let set = NodeSet::subtree(sub.node_id()).without_comments();
            let ours = canonicalize_to_vec(&doc, &set, &Algorithm::exclusive(&[])).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&expected),
                "{} subtree",
                input.display()
            );
            compared += 1;
        }
    }
    assert!(compared >= 40, "only {compared} comparisons");
}
