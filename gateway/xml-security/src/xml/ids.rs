//! Id attributes: which attributes name an element (`wsu:Id`, `Id`, `ID`, …) and the index
//! built while parsing. A value carried by two elements is recorded as a duplicate, and a
//! lookup of it fails: a signature reference must never silently pick one of them.

use std::collections::HashMap;

use super::error::StructureError;
use super::tree::NodeId;

/// The WS-Security utility namespace (`wsu:Id`).
pub const WSU_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";

/// One attribute that carries an element id: `{namespace}local`, `namespace` `None` for an
/// unprefixed attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdAttribute {
    /// Namespace of the attribute (`None`: unprefixed).
    pub namespace: Option<String>,
    /// Local name.
    pub local: String,
}

/// The set of attributes treated as ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdAttributes(pub Vec<IdAttribute>);

impl IdAttributes {
    /// No attribute is an id.
    pub fn none() -> Self {
        IdAttributes(Vec::new())
    }

    /// Whether `{ns}local` is one of the id attributes.
    pub fn matches(&self, ns: Option<&str>, local: &str) -> bool {
        self.0
            .iter()
            .any(|a| a.local == local && a.namespace.as_deref() == ns)
    }
}

impl Default for IdAttributes {
    /// `wsu:Id`, `Id` and `ID` (unprefixed): what WS-Security, XML-DSig and SAML-style
    /// documents use.
    fn default() -> Self {
        let unprefixed = |local: &str| IdAttribute {
            namespace: None,
            local: local.into(),
        };
        IdAttributes(vec![
            IdAttribute {
                namespace: Some(WSU_NS.into()),
                local: "Id".into(),
            },
            unprefixed("Id"),
            unprefixed("ID"),
        ])
    }
}

#[derive(Debug, Default)]
pub(crate) struct IdIndex {
    map: HashMap<String, NodeId>,
    duplicates: Vec<String>,
}

impl IdIndex {
    pub(crate) fn insert(&mut self, value: &str, element: NodeId) {
        match self.map.get(value) {
            None => {
                self.map.insert(value.to_owned(), element);
            }
            Some(&existing) if existing == element => {}
            Some(_) => {
                if !self.duplicates.iter().any(|d| d == value) {
                    self.duplicates.push(value.to_owned());
                }
            }
        }
    }

    pub(crate) fn lookup(&self, value: &str) -> Result<Option<NodeId>, StructureError> {
        if self.duplicates.iter().any(|d| d == value) {
            return Err(StructureError::DuplicateId {
                id: value.to_owned(),
            });
        }
        Ok(self.map.get(value).copied())
    }

    pub(crate) fn duplicates(&self) -> &[String] {
        &self.duplicates
    }

    /// The indexed ids in order, for comparing parses.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn entries(&self) -> Vec<(&str, NodeId)> {
        let mut entries: Vec<_> = self.map.iter().map(|(k, &v)| (k.as_str(), v)).collect();
        entries.sort();
        entries
    }
}
