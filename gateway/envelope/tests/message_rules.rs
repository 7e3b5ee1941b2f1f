//! SDK message validation (digest §6.3 M-P1, M-P2, M-N1..M-N7, M-N16, M-O1): the native XSD,
//! the MessageConstraints re-implementation and the gateway's content rules, the model
//! round trip, and the oracle comparison with Saxon running DIGG's schematron.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;

use sdkgw_envelope::message::{
    self, ContentFile, Extension, Ii, NewMessage, Person, Reference, SdkMessage,
};
use sdkgw_xml_security::xml::{Document, ParseOptions};
use time::macros::datetime;

fn parse(xml: &str) -> Document {
    Document::parse_slice(xml.as_bytes(), &ParseOptions::default()).unwrap()
}

fn rules_of(xml: &str) -> Vec<&'static str> {
    message::validate_document(&parse(xml)).report.rule_ids()
}

/// A valid message built through the model.
fn sample() -> SdkMessage {
    SdkMessage::new(NewMessage {
        message_id: uuid::Uuid::parse_str("3a94b4ed-a6d7-41e2-945d-b3fa91e8a6e9").unwrap(),
        created: datetime!(2026-12-02 10:00:00.5 UTC),
        from: "0203:orga.test".parse().unwrap(),
        from_function: Some("sender-box".parse().unwrap()),
        to: "0203:orgb.test".parse().unwrap(),
        to_function: "recipient-box".parse().unwrap(),
        subject: "Kallelse".to_owned(),
        text: Some("Hej & välkommen <3".to_owned()),
        files: vec![ContentFile::new(
            "a.pdf",
            "application/pdf",
            b"%PDF-1.4 test",
        )],
        confidential: true,
    })
}

fn sample_xml() -> String {
    sample().to_xml().unwrap()
}

fn replaced(from: &str, to: &str) -> String {
    let xml = sample_xml();
    assert!(xml.contains(from), "{from} not in\n{xml}");
    xml.replacen(from, to, 1)
}

#[test]
fn built_message_is_valid_and_reads_back_equal() {
    let xml = sample_xml();
    let check = message::validate_document(&parse(&xml));
    assert!(check.report.is_empty(), "{}", check.report);
    assert_eq!(check.message.unwrap(), sample());
}

#[test]
fn rich_message_with_extensions_round_trips() {
    let mut m = sample();
    m.header.ref_to_message_id = Some("7bc5576a-3f87-4cf5-a0c5-277da06fcacb".into());
    m.header.generating_system = Some(Ii {
        root: "sys".into(),
        extension: "1".into(),
    });
    m.header.recipient.attention.persons.push(Person {
        id: Some(Ii {
            root: "1.2.752.129.2.1.3.1".into(),
            extension: "19121212-1212".into(),
        }),
        label: Some("Pelle".into()),
        extensions: vec![],
    });
    m.header.recipient.attention.references.push(Reference {
        id: Ii {
            root: "diarie".into(),
            extension: "2026-123".into(),
        },
        label: None,
        extensions: vec![],
    });
    let mut second = m.body.documents[0].clone();
    second.document_id = "2".into();
    second.index = Some("2".into());
    second
        .files
        .push(ContentFile::new("b.txt", "text/plain", b"hello"));
    m.body.documents.push(second);
    m.header.extensions.push(
        Extension::parse(r#"<x:meta xmlns:x="urn:example:x" a="1"><x:v>v</x:v></x:meta>"#).unwrap(),
    );
    m.extensions
        .push(Extension::parse(r#"<y:tail xmlns:y="urn:example:y">t</y:tail>"#).unwrap());
    let xml = m.to_xml().unwrap();
    let check = message::validate_document(&parse(&xml));
    assert!(check.report.is_empty(), "{}", check.report);
    assert_eq!(check.message.unwrap(), m);
}

#[test]
fn extensions_inherit_namespaces_declared_above_them() {
    let xml = sample_xml().replacen(
        "<tns:messagePayload xmlns:tns=",
        "<tns:messagePayload xmlns:q=\"urn:example:q\" xmlns:tns=",
        1,
    );
    let xml = xml.replacen(
        "</tns:message>",
        "<q:ext><q:v>1</q:v></q:ext></tns:message>",
        1,
    );
    let check = message::validate_document(&parse(&xml));
    assert!(check.report.is_empty(), "{}", check.report);
    let ext = &check.message.unwrap().extensions[0];
    assert!(
        ext.xml().contains("xmlns:q=\"urn:example:q\""),
        "{}",
        ext.xml()
    );
    Extension::parse(ext.xml()).unwrap();
}

#[test]
fn schema_errors_are_sv_and_stop_the_schematron() {
    let bad_time = replaced("2026-12-02T10:00:00.500Z", "3 Sept. 2019");
    let check = message::validate_document(&parse(&bad_time));
    assert_eq!(check.report.rule_ids(), ["XSD-MSG"]);
    assert_eq!(
        check.report.findings()[0].path,
        "/tns:messagePayload/tns:message/tns:messageHeader/tns:creationDateTime"
    );
    assert!(check.message.is_none());
    let long = "x".repeat(257);
    assert_eq!(
        rules_of(&replaced(
            "</tns:recipientID>",
            &format!("</tns:recipientID><tns:label>{long}</tns:label>"),
        )),
        ["XSD-MSG"]
    );
    assert_eq!(
        rules_of(&replaced(
            "<tns:confidentiality>true",
            "<tns:confidentiality>yes"
        )),
        ["XSD-MSG"]
    );
    assert_eq!(
        rules_of(&replaced("<tns:messageBody>", "<tns:messageBody a=\"1\">")),
        ["XSD-MSG"]
    );
    assert_eq!(
        rules_of(&replaced("<tns:index>1</tns:index>", "")),
        Vec::<&str>::new()
    );
    let misordered = sample_xml();
    let (files_start, files_end) = (
        misordered.find("<tns:ContentFiles>").unwrap(),
        misordered.find("</tns:ContentFiles>").unwrap() + "</tns:ContentFiles>".len(),
    );
    let files = misordered[files_start..files_end].to_owned();
    let text_end = misordered.find("</tns:ContentText>").unwrap() + "</tns:ContentText>".len();
    let texts_first = format!(
        "{}{}{}{}",
        &misordered[..files_start],
        &misordered[files_end..text_end],
        files,
        &misordered[text_end..]
    );
    assert_eq!(
        rules_of(&texts_first),
        ["XSD-MSG"],
        "ContentFiles must come before ContentText"
    );
    let wrong_root =
        r#"<tns:Message xmlns:tns="urn:riv:infrastructure:messaging:MessageWithAttachments:2"/>"#;
    assert_eq!(rules_of(wrong_root), ["XSD-MSG"]);
}

#[test]
fn schematron_rules_are_reported_with_their_pattern_ids() {
    for (from, to, rule) in [
        (
            "2026-12-02T10:00:00.500Z",
            "2018-09-12T15:06:00Z",
            "creationDateTime",
        ),
        (
            "2026-12-02T10:00:00.500Z",
            "2018-09-12T15:06:00.000+01:00",
            "creationDateTime",
        ),
        (
            "2026-12-02T10:00:00.500Z",
            "2018-09-12T15:06:00.1234Z",
            "creationDateTime",
        ),
        (
            "<tns:messageId>3a94b4ed-a6d7-41e2-945d-b3fa91e8a6e9",
            "<tns:messageId>not-a-uuid",
            "MessageId",
        ),
        (
            "<tns:conversationId>3a94b4ed-a6d7-41e2-945d-b3fa91e8a6e9",
            "<tns:conversationId>x",
            "conversationId",
        ),
        (
            "<tns:root>iso6523-actorid-upis</tns:root>\n          <tns:extension>0203:orgb.test",
            "<tns:root>other</tns:root>\n          <tns:extension>0203:orgb.test",
            "recipientIdvalue",
        ),
        (
            "<tns:root>iso6523-actorid-upis</tns:root>\n          <tns:extension>0203:orga.test",
            "<tns:root>icke-godkänt-kodverk</tns:root>\n          <tns:extension>0203:orga.test",
            "senderIdvalue",
        ),
        (
            "<tns:root>urn:riv:infrastructure:messaging:functionalAddress</tns:root>",
            "<tns:root>1.2.3</tns:root>",
            "subOrgRoot",
        ),
        (
            "<tns:label>Kallelse</tns:label>",
            "<tns:label> </tns:label>",
            "verifyNonEmptyElements",
        ),
    ] {
        let found = rules_of(&replaced(from, to));
        assert_eq!(found, [rule], "{to}");
    }
    let long_label = replaced(
        "<tns:label>Kallelse</tns:label>",
        &format!("<tns:label>{}</tns:label>", "x".repeat(257)),
    );
    assert_eq!(rules_of(&long_label), ["subjectlabel"]);
    let bad_ref = replaced(
        "<tns:label>Kallelse",
        "<tns:refToMessageId>nope</tns:refToMessageId><tns:label>Kallelse",
    );
    assert_eq!(rules_of(&bad_ref), ["refToMessageId"]);
}

#[test]
fn gateway_content_rules() {
    let xml = sample_xml();
    let f_start = xml.find("<tns:ContentFiles>").unwrap();
    let t_end = xml.find("</tns:ContentText>").unwrap() + "</tns:ContentText>".len();
    let no_content = format!("{}{}", &xml[..f_start], &xml[t_end..]);
    assert_eq!(rules_of(&no_content), ["GW-MSG-1"]);
    let content =
        xml[xml.find("<tns:content>").unwrap()..xml.find("</tns:content>").unwrap()].to_owned();
    assert_eq!(
        rules_of(&xml.replacen(&content, "<tns:content>AB$%", 1)),
        ["GW-MSG-2"]
    );
    assert_eq!(
        rules_of(&xml.replacen(&content, "<tns:content>$AB=", 1)),
        ["GW-MSG-2", "contentFiles"]
    );
    assert_eq!(
        rules_of(&replaced(">0203:orgb.test<", ">0203:http://orgb.test<")),
        ["GW-MSG-3"]
    );
}

#[test]
fn free_text_is_never_quoted_in_findings() {
    let secret = "HEMLIG-ETIKETT";
    let long_label = replaced(
        "<tns:label>Kallelse</tns:label>",
        &format!("<tns:label>{secret}{}</tns:label>", "x".repeat(300)),
    );
    let bad_content = replaced("<tns:content>", &format!("<tns:content>{secret}$"));
    for xml in [long_label, bad_content] {
        let report = message::validate_document(&parse(&xml)).report;
        assert!(!report.is_empty());
        assert!(!report.to_string().contains(secret), "{report}");
    }
}

#[test]
fn digg_messages_validate_as_the_digest_says() {
    let Some(shared) = support::shared_dir() else {
        return;
    };
    let read = |rel: &str| std::fs::read_to_string(support::reference(&shared, rel)).unwrap();
    for ok in [
        "sdk-message/examples/messageWithAttachments3.xml",
        "sdk-message/testdata/min.xml",
    ] {
        let check = message::validate_document(&parse(&read(ok)));
        assert!(check.report.is_empty(), "{ok}: {}", check.report);
        assert!(check.message.is_some());
    }
    let tf241 = message::validate_document(&parse(&read("sdk-message/testdata/TF2.4.1.xml")));
    assert_eq!(tf241.report.rule_ids(), ["XSD-MSG"]);
    assert!(
        tf241.report.findings()[0]
            .path
            .ends_with("/tns:creationDateTime")
    );
    let tf242 = message::validate_document(&parse(&read("sdk-message/testdata/TF2.4.2.xml")));
    assert_eq!(tf242.report.rule_ids(), ["senderIdvalue"]);
}

/// One finding of Saxon's run: (rule id, local-name path).
fn saxon_findings(output: &str) -> BTreeSet<(String, String)> {
    output
        .lines()
        .filter(|l| l.trim_start().starts_with("[error]"))
        .map(|l| {
            let (text, location) = l.rsplit_once(" @ ").unwrap();
            let path: String = location
                .split("/*[local-name()='")
                .skip(1)
                .map(|step| {
                    let (name, rest) = step.split_once('\'').unwrap();
                    let pos = rest
                        .rsplit_once('[')
                        .map(|(_, p)| format!("[{}", p))
                        .unwrap_or_default();
                    format!("/{name}{pos}")
                })
                .collect();
            let rule = if text.contains("is included but empty") {
                "verifyNonEmptyElements"
            } else if text.contains("Timestamp should match") {
                "creationDateTime"
            } else if text.contains("is not a valid UUID") {
                match path.rsplit('/').next().unwrap() {
                    "messageId" => "MessageId",
                    "conversationId" => "conversationId",
                    _ => "refToMessageId",
                }
            } else if text.contains("conversationId must be set") {
                "conversationIdMustExist"
            } else if text.contains("exceeded maxlength") {
                "subjectlabel"
            } else if text.contains("base64") {
                "contentFiles"
            } else if text.contains("functionalAddress") {
                "subOrgRoot"
            } else if path.contains("/recipientID/") {
                "recipientIdvalue"
            } else {
                "senderIdvalue"
            };
            (rule.to_owned(), path)
        })
        .collect()
}

fn own_findings(xml: &str) -> BTreeSet<(String, String)> {
    let doc = parse(xml);
    message::check_constraints(doc.root())
        .findings()
        .iter()
        .filter(|f| f.rule.is_digg())
        .map(|f| {
            let local: String = f
                .path
                .split('/')
                .skip(1)
                .map(|s| format!("/{}", s.split_once(':').map_or(s, |(_, l)| l)))
                .collect();
            (f.rule.id().to_owned(), local)
        })
        .collect()
}

#[test]
fn schematron_reimplementation_agrees_with_saxon() {
    let Some(shared) = support::shared_dir() else {
        return;
    };
    let dir = support::scratch("message-oracle");
    let min = std::fs::read_to_string(support::reference(&shared, "sdk-message/testdata/min.xml"))
        .unwrap();
    let mut cases: Vec<(String, String)> = ["min.xml", "TF2.4.1.xml", "TF2.4.2.xml"]
        .iter()
        .map(|n| {
            (
                n.to_string(),
                std::fs::read_to_string(support::reference(
                    &shared,
                    &format!("sdk-message/testdata/{n}"),
                ))
                .unwrap(),
            )
        })
        .collect();
    let variants = [
        (
            "no-fraction",
            "2019-08-22T07:27:15.433Z",
            "2018-09-12T15:06:00Z",
        ),
        (
            "offset",
            "2019-08-22T07:27:15.433Z",
            "2018-09-12T15:06:00.000+01:00",
        ),
        (
            "empty-name",
            "<ns2:documentName>SDK-Meddelande</ns2:documentName>",
            "<ns2:documentName/>",
        ),
        (
            "long-label",
            "<ns2:label>Printerpapper</ns2:label>",
            &format!("<ns2:label>{}</ns2:label>", "y".repeat(257)),
        ),
        (
            "suborg-root",
            "<ns2:root>urn:riv:infrastructure:messaging:functionalAddress</ns2:root>",
            "<ns2:root>x</ns2:root>",
        ),
        (
            "recipient-root",
            "<ns2:root>iso6523-actorid-upis</ns2:root>",
            "<ns2:root>y</ns2:root>",
        ),
        (
            "bad-id",
            "<ns2:messageId>3a94b4ed-a6d7-41e2-945d-b3fa91e8a6e9",
            "<ns2:messageId>3a94b4ed",
        ),
        (
            "file",
            "<ns2:ContentText>",
            "<ns2:ContentFiles><ns2:fileName>f</ns2:fileName><ns2:contentType>text/plain</ns2:contentType><ns2:content>$QUJD</ns2:content></ns2:ContentFiles><ns2:ContentText>",
        ),
        (
            "ref",
            "<ns2:label>Printerpapper",
            "<ns2:refToMessageId>r</ns2:refToMessageId><ns2:label>Printerpapper",
        ),
    ];
    for (name, from, to) in variants {
        assert!(min.contains(from), "{name}");
        cases.push((format!("{name}.xml"), min.replacen(from, to, 1)));
    }
    let mut paths = Vec::new();
    for (name, xml) in &cases {
        let p = dir.join(name);
        std::fs::write(&p, xml).unwrap();
        paths.push(p.to_str().unwrap().to_owned());
    }
    let mut args = vec!["schematron.py", "sdkmsg"];
    args.extend(paths.iter().map(String::as_str));
    let out = support::tool(&shared, &args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let blocks: Vec<&str> = stdout.split("\n").collect();
    let mut per_file: Vec<String> = Vec::new();
    for line in blocks {
        if line.starts_with("PASS ") || line.starts_with("FAIL ") {
            per_file.push(String::new());
        }
        if let Some(last) = per_file.last_mut() {
            last.push_str(line);
            last.push('\n');
        }
    }
    assert_eq!(per_file.len(), cases.len(), "{stdout}");
    for ((name, xml), saxon) in cases.iter().zip(&per_file) {
        assert_eq!(own_findings(xml), saxon_findings(saxon), "{name}:\n{saxon}");
    }
}
