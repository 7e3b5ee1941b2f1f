//! The canonicalization algorithms and their identifiers.

use super::C14nError;

/// `http://www.w3.org/TR/2001/REC-xml-c14n-20010315`
pub const C14N_10: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
/// `http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments`
pub const C14N_10_WITH_COMMENTS: &str =
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments";
/// `http://www.w3.org/2006/12/xml-c14n11`
pub const C14N_11: &str = "http://www.w3.org/2006/12/xml-c14n11";
/// `http://www.w3.org/2006/12/xml-c14n11#WithComments`
pub const C14N_11_WITH_COMMENTS: &str = "http://www.w3.org/2006/12/xml-c14n11#WithComments";
/// `http://www.w3.org/2001/10/xml-exc-c14n#` (also the namespace of `InclusiveNamespaces`)
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// `http://www.w3.org/2001/10/xml-exc-c14n#WithComments`
pub const EXC_C14N_WITH_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";

/// Which family of canonical XML.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Canonical XML 1.0 (inclusive).
    C14n10,
    /// Canonical XML 1.1 (inclusive; xml:id not inherited).
    C14n11,
    /// Exclusive XML Canonicalization 1.0.
    Exclusive,
}

/// A canonicalization algorithm with its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Algorithm {
    /// The family.
    pub family: Family,
    /// Whether comments are kept (when the node-set has them).
    pub with_comments: bool,
    /// Exclusive C14N only: prefixes treated inclusively (`InclusiveNamespaces PrefixList`);
    /// `None` stands for `#default`.
    pub inclusive_prefixes: Vec<Option<String>>,
}

impl Algorithm {
    /// Canonical XML 1.0 without comments.
    pub const fn c14n10() -> Self {
        Algorithm {
            family: Family::C14n10,
            with_comments: false,
            inclusive_prefixes: Vec::new(),
        }
    }

    /// Canonical XML 1.1 without comments.
    pub const fn c14n11() -> Self {
        Algorithm {
            family: Family::C14n11,
            with_comments: false,
            inclusive_prefixes: Vec::new(),
        }
    }

    /// Exclusive C14N without comments and with this `PrefixList` (`"#default"` allowed).
    pub fn exclusive(prefix_list: &[&str]) -> Self {
        Algorithm {
            family: Family::Exclusive,
            with_comments: false,
            inclusive_prefixes: prefix_list
                .iter()
                .map(|p| (*p != "#default").then(|| (*p).to_owned()))
                .collect(),
        }
    }

    /// The same algorithm, keeping comments.
    pub fn with_comments(mut self) -> Self {
        self.with_comments = true;
        self
    }

    /// The algorithm an identifier names. `prefix_list` is the whitespace-separated
    /// `PrefixList` of an `InclusiveNamespaces` child (exclusive C14N only).
    pub fn from_uri(uri: &str, prefix_list: Option<&str>) -> Result<Self, C14nError> {
        let alg = match uri {
            C14N_10 => Self::c14n10(),
            C14N_10_WITH_COMMENTS => Self::c14n10().with_comments(),
            C14N_11 => Self::c14n11(),
            C14N_11_WITH_COMMENTS => Self::c14n11().with_comments(),
            EXC_C14N | EXC_C14N_WITH_COMMENTS => {
                let list: Vec<&str> = prefix_list.unwrap_or("").split_ascii_whitespace().collect();
                let alg = Self::exclusive(&list);
                if uri == EXC_C14N {
                    alg
                } else {
                    alg.with_comments()
                }
            }
            other => {
                return Err(C14nError::UnknownAlgorithm(
                    other.chars().take(200).collect(),
                ));
            }
        };
        if prefix_list.is_some() && alg.family != Family::Exclusive {
            return Err(C14nError::PrefixListNotExclusive);
        }
        Ok(alg)
    }

    /// The identifier of this algorithm.
    pub fn uri(&self) -> &'static str {
        match (self.family, self.with_comments) {
            (Family::C14n10, false) => C14N_10,
            (Family::C14n10, true) => C14N_10_WITH_COMMENTS,
            (Family::C14n11, false) => C14N_11,
            (Family::C14n11, true) => C14N_11_WITH_COMMENTS,
            (Family::Exclusive, false) => EXC_C14N,
            (Family::Exclusive, true) => EXC_C14N_WITH_COMMENTS,
        }
    }

    /// The `PrefixList` value to write, if any.
    pub fn prefix_list(&self) -> Option<String> {
        if self.family != Family::Exclusive || self.inclusive_prefixes.is_empty() {
            return None;
        }
        let names: Vec<&str> = self
            .inclusive_prefixes
            .iter()
            .map(|p| p.as_deref().unwrap_or("#default"))
            .collect();
        Some(names.join(" "))
    }
}
