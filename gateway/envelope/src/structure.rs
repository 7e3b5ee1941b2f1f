//! Native checks of XSD content models: an element's children against a sequence of
//! particles (`minOccurs`/`maxOccurs`, document order), optionally ending in
//! `xs:any namespace="##other" processContents="lax"`. The matching is greedy, which is exact
//! for the deterministic (UPA) sequences of DIGG's schemas.

use sdkgw_xml_security::xml::{ElementRef, NodeRef, is_xml_space};

use crate::path::{child_xpath, xpath};

/// One `xs:element` of a sequence.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Particle {
    pub(crate) ns: &'static str,
    pub(crate) local: &'static str,
    pub(crate) min: usize,
    pub(crate) max: usize,
}

/// `minOccurs="1" maxOccurs="1"`.
pub(crate) const fn one(ns: &'static str, local: &'static str) -> Particle {
    Particle {
        ns,
        local,
        min: 1,
        max: 1,
    }
}

/// `minOccurs="0" maxOccurs="1"`.
pub(crate) const fn optional(ns: &'static str, local: &'static str) -> Particle {
    Particle {
        ns,
        local,
        min: 0,
        max: 1,
    }
}

/// `minOccurs="min" maxOccurs="unbounded"`.
pub(crate) const fn many(ns: &'static str, local: &'static str, min: usize) -> Particle {
    Particle {
        ns,
        local,
        min,
        max: usize::MAX,
    }
}

impl Particle {
    fn matches(&self, e: ElementRef<'_>) -> bool {
        e.is(Some(self.ns), self.local)
    }
}

/// A content model: a sequence, maybe ending in a lax `##other` wildcard.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sequence {
    /// The particles in order.
    pub(crate) particles: &'static [Particle],
    /// The target namespace `##other` is relative to, when the sequence ends in a wildcard.
    pub(crate) any_other: Option<&'static str>,
}

/// What a sequence check found: the children per particle, the wildcard children, and the
/// violations as `(path, what)`.
#[derive(Debug)]
pub(crate) struct Matched<'a> {
    slots: Vec<Vec<ElementRef<'a>>>,
    pub(crate) extensions: Vec<ElementRef<'a>>,
    pub(crate) errors: Vec<(String, String)>,
}

impl<'a> Matched<'a> {
    /// The children that matched particle `index` (in the `Sequence` order).
    pub(crate) fn slot(&self, index: usize) -> &[ElementRef<'a>] {
        self.slots.get(index).map_or(&[], Vec::as_slice)
    }

    /// The first child matching particle `index`.
    pub(crate) fn first(&self, index: usize) -> Option<ElementRef<'a>> {
        self.slot(index).first().copied()
    }
}

/// Matches the child elements of `parent` against `seq`. Character data other than
/// whitespace is an error (element-only content).
pub(crate) fn check_sequence<'a>(parent: ElementRef<'a>, seq: &Sequence) -> Matched<'a> {
    let mut m = match_children(parent, seq);
    if has_text(parent) {
        m.errors.push((
            xpath(parent),
            "character data is not allowed here (element-only content)".to_owned(),
        ));
    }
    m
}

/// Like [`check_sequence`] for mixed content (text allowed).
pub(crate) fn check_mixed_sequence<'a>(parent: ElementRef<'a>, seq: &Sequence) -> Matched<'a> {
    match_children(parent, seq)
}

fn match_children<'a>(parent: ElementRef<'a>, seq: &Sequence) -> Matched<'a> {
    let particles = seq.particles;
    let mut m = Matched {
        slots: vec![Vec::new(); particles.len()],
        extensions: Vec::new(),
        errors: Vec::new(),
    };
    let mut idx = 0usize;
    let mut in_wildcard = false;
    for child in parent.child_elements() {
        let ahead = (idx..particles.len()).find(|&j| {
            particles[j].matches(child) && (j > idx || m.slots[j].len() < particles[j].max)
        });
        match ahead {
            Some(j) if !in_wildcard => {
                let missing = missing_between(parent, particles, &m.slots, idx, j);
                m.errors.extend(missing);
                idx = j;
                m.slots[j].push(child);
            }
            _ if is_wildcard_child(child, seq) => {
                if !in_wildcard {
                    let missing =
                        missing_between(parent, particles, &m.slots, idx, particles.len());
                    m.errors.extend(missing);
                    in_wildcard = true;
                    idx = particles.len();
                }
                m.extensions.push(child);
            }
            _ => m
                .errors
                .push((xpath(child), unexpected(child, particles, idx, in_wildcard))),
        }
    }
    if !in_wildcard {
        let missing = missing_between(parent, particles, &m.slots, idx, particles.len());
        m.errors.extend(missing);
    }
    m
}

/// Required particles in `from..to` (the one at `from` counting what it already has) that
/// are not satisfied.
fn missing_between(
    parent: ElementRef<'_>,
    particles: &[Particle],
    slots: &[Vec<ElementRef<'_>>],
    from: usize,
    to: usize,
) -> Vec<(String, String)> {
    (from..to.min(particles.len()))
        .filter(|&j| slots[j].len() < particles[j].min)
        .map(|j| {
            let p = particles[j];
            (
                child_xpath(parent, p.ns, p.local),
                format!("required element {} is missing or out of order", p.local),
            )
        })
        .collect()
}

fn is_wildcard_child(child: ElementRef<'_>, seq: &Sequence) -> bool {
    match (seq.any_other, child.namespace()) {
        (Some(target), Some(ns)) => ns != target,
        _ => false,
    }
}

fn unexpected(
    child: ElementRef<'_>,
    particles: &[Particle],
    idx: usize,
    in_wildcard: bool,
) -> String {
    let known = particles.iter().position(|p| p.matches(child));
    match known {
        Some(j) if j < idx || in_wildcard => {
            format!("element {} is out of order", child.qname())
        }
        Some(_) => format!("element {} occurs too often", child.qname()),
        None => format!("element {} is not allowed here", child.qname()),
    }
}

/// Non-whitespace character data directly in `e`.
pub(crate) fn has_text(e: ElementRef<'_>) -> bool {
    e.children()
        .any(|n| matches!(n, NodeRef::Text(t) if !t.trim_matches(is_xml_space).is_empty()))
}

/// Errors for a simple-typed element: child elements are not allowed.
pub(crate) fn check_simple(e: ElementRef<'_>) -> Option<(String, String)> {
    e.child_elements().next().map(|c| {
        (
            xpath(c),
            format!(
                "element {} is not allowed: {} has simple content",
                c.qname(),
                e.qname()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sdkgw_xml_security::xml::{Document, ParseOptions};

    const NS: &str = "urn:t";
    const SEQ: Sequence = Sequence {
        particles: &[one(NS, "a"), optional(NS, "b"), many(NS, "c", 1)],
        any_other: Some(NS),
    };

    fn run(xml: &str) -> Vec<String> {
        let doc = Document::parse_slice(xml.as_bytes(), &ParseOptions::default()).unwrap();
        let m = check_sequence(doc.root(), &SEQ);
        m.errors
            .into_iter()
            .map(|(p, e)| format!("{p}: {e}"))
            .collect()
    }

    #[test]
    fn accepts_a_valid_sequence_with_extensions() {
        assert!(run(r#"<r xmlns="urn:t"><a/><b/><c/><c/><o:x xmlns:o="urn:o"/></r>"#).is_empty());
        assert!(run(r#"<r xmlns="urn:t"><a/><c/></r>"#).is_empty());
    }

    #[test]
    fn reports_missing_unexpected_out_of_order_and_text() {
        let errs = run(r#"<r xmlns="urn:t"><b/><c/></r>"#);
        assert_eq!(
            errs,
            ["/Q{urn:t}r/Q{urn:t}a: required element a is missing or out of order"]
        );
        let errs = run(r#"<r xmlns="urn:t"><a/><c/><b/></r>"#);
        assert!(errs[0].contains("element b is out of order"), "{errs:?}");
        let errs = run(r#"<r xmlns="urn:t"><a/><a/><c/></r>"#);
        assert!(errs[0].contains("occurs too often"), "{errs:?}");
        let errs = run(r#"<r xmlns="urn:t"><a/><z/><c/></r>"#);
        assert!(errs[0].contains("element z is not allowed"), "{errs:?}");
        let errs = run(r#"<r xmlns="urn:t"><a/><o:x xmlns:o="urn:o"/><c/></r>"#);
        assert_eq!(errs.len(), 2, "{errs:?}");
        let errs = run(r#"<r xmlns="urn:t">text<a/><c/></r>"#);
        assert!(errs[0].contains("character data"), "{errs:?}");
        let errs = run(r#"<r xmlns="urn:t"><a/><c/><x/></r>"#);
        assert!(
            errs[0].contains("element x is not allowed"),
            "unqualified is not ##other: {errs:?}"
        );
    }
}
