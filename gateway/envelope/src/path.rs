//! XPath of a node, for findings and receipt `LineID`s: `/x:XHE/xha:Header/xhb:ID`, with the
//! rule tables' prefixes, `Q{uri}local` for other namespaces and a `[n]` position where an
//! element has same-named siblings.

use sdkgw_xml_security::xml::ElementRef;

use crate::ns::prefix_of;

/// The path of `element` from its document (or fragment) root.
pub(crate) fn xpath(element: ElementRef<'_>) -> String {
    let mut steps: Vec<String> = std::iter::once(element)
        .chain(element.ancestors())
        .map(step)
        .collect();
    steps.reverse();
    let mut out = String::new();
    for s in steps {
        out.push('/');
        out.push_str(&s);
    }
    out
}

/// The path of attribute `name` (unprefixed) of `element`.
pub(crate) fn attribute_xpath(element: ElementRef<'_>, name: &str) -> String {
    format!("{}/@{name}", xpath(element))
}

/// The path of a child that is missing: `parent` path + `/prefix:local`.
pub(crate) fn child_xpath(parent: ElementRef<'_>, ns: &str, local: &str) -> String {
    format!("{}/{}", xpath(parent), name(Some(ns), local))
}

fn step(e: ElementRef<'_>) -> String {
    let base = name(e.namespace(), e.local_name());
    let Some(parent) = e.parent() else {
        return base;
    };
    let same =
        |s: &ElementRef<'_>| s.local_name() == e.local_name() && s.namespace() == e.namespace();
    let siblings = parent.child_elements().filter(same).count();
    if siblings < 2 {
        return base;
    }
    let position = parent
        .child_elements()
        .filter(same)
        .position(|s| s == e)
        .map_or(0, |p| p + 1);
    format!("{base}[{position}]")
}

fn name(ns: Option<&str>, local: &str) -> String {
    match ns {
        None => local.to_owned(),
        Some(uri) => match prefix_of(uri) {
            Some(p) => format!("{p}:{local}"),
            None => format!("Q{{{uri}}}{local}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sdkgw_xml_security::xml::{Document, ParseOptions};

    #[test]
    fn paths_use_table_prefixes_and_positions_for_repeats() {
        let doc = Document::parse_slice(
            br#"<a:XHE xmlns:a="http://docs.oasis-open.org/bdxr/ns/XHE/1/ExchangeHeaderEnvelope" xmlns:h="http://docs.oasis-open.org/bdxr/ns/XHE/1/AggregateComponents"><h:P/><h:P><o xmlns="urn:o"/></h:P></a:XHE>"#,
            &ParseOptions::default(),
        )
        .unwrap();
        let second = doc.root().child_elements().nth(1).unwrap();
        assert_eq!(xpath(second), "/x:XHE/xha:P[2]");
        let other = second.child_elements().next().unwrap();
        assert_eq!(xpath(other), "/x:XHE/xha:P[2]/Q{urn:o}o");
        assert_eq!(attribute_xpath(doc.root(), "schemeID"), "/x:XHE/@schemeID");
    }
}
