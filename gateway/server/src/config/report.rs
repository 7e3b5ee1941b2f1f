//! Findings of reading and checking a configuration: each with a severity and the key path it
//! concerns, so an operator sees every problem at once and where it is.

use std::fmt;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem, e.g. `keys.o2o.signing.cert: file not found`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Finding {
    pub severity: Severity,
    /// Dotted key path (`keys.o2o.signing[1].cert`); empty for the file as a whole.
    pub path: String,
    pub message: String,
}

impl Finding {
    pub fn error(path: &str, message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Error,
            path: path.to_owned(),
            message: message.into(),
        }
    }
    pub fn warning(path: &str, message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Warning,
            path: path.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if self.path.is_empty() {
            write!(f, "{sev}: {}", self.message)
        } else {
            write!(f, "{sev}: {}: {}", self.path, self.message)
        }
    }
}

/// All findings of one configuration, in the order they were found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Findings(Vec<Finding>);

impl Findings {
    pub fn push(&mut self, f: Finding) {
        self.0.push(f);
    }
    pub fn extend(&mut self, other: Findings) {
        self.0.extend(other.0);
    }
    pub fn iter(&self) -> impl Iterator<Item = &Finding> {
        self.0.iter()
    }
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|f| f.severity == Severity::Error)
    }
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.0.iter().filter(|f| f.severity == Severity::Error)
    }
    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.0.iter().filter(|f| f.severity == Severity::Warning)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
}
