//! Findings: one broken rule at one place. Every finding carries the rule id (from the rule
//! tables in `sdkgw-schemas`), the XPath of the node and a message (the rule's text plus what
//! was found). Messages never quote free-text content of a message (labels, text, files):
//! they can end up in an unencrypted receipt.

use std::fmt;

use sdkgw_schemas::{MessageRule, ReceiptRule, Rule, RuleSeverity, RuleSource, XheRule, rules};
use serde::{Serialize, Serializer};

/// Which rule a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleId {
    /// An XHE envelope rule.
    Xhe(XheRule),
    /// A Meddelandekvittens rule.
    Receipt(ReceiptRule),
    /// An SDK message rule.
    Message(MessageRule),
}

impl RuleId {
    /// The rule as the tables define it.
    pub fn rule(self) -> &'static Rule {
        let tables = rules();
        match self {
            RuleId::Xhe(r) => tables.xhe.rule(r),
            RuleId::Receipt(r) => tables.receipt.rule(r),
            RuleId::Message(r) => tables.message.rule(r),
        }
    }

    /// The rule id (`R11-XHE`, `GW-MSG-4`, `senderIdvalue`).
    pub fn id(self) -> &'static str {
        self.rule().id
    }

    /// Whether DIGG defines the rule (as opposed to this gateway).
    pub fn is_digg(self) -> bool {
        self.rule().source == RuleSource::Digg
    }
}

impl From<XheRule> for RuleId {
    fn from(r: XheRule) -> Self {
        RuleId::Xhe(r)
    }
}
impl From<ReceiptRule> for RuleId {
    fn from(r: ReceiptRule) -> Self {
        RuleId::Receipt(r)
    }
}
impl From<MessageRule> for RuleId {
    fn from(r: MessageRule) -> Self {
        RuleId::Message(r)
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl Serialize for RuleId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule.
    pub rule: RuleId,
    /// XPath of the offending node (`/x:XHE/xha:Header/xhb:ID`), `NA` when there is none.
    pub path: String,
    /// The rule's text, then what was found.
    pub message: String,
}

impl Finding {
    /// A finding whose message is the rule's text followed by `detail`.
    pub(crate) fn new(rule: impl Into<RuleId>, path: impl Into<String>, detail: &str) -> Self {
        let rule = rule.into();
        let text = &rule.rule().message;
        let message = if detail.is_empty() {
            text.clone()
        } else {
            format!("{text}: {detail}")
        };
        Finding {
            rule,
            path: path.into(),
            message,
        }
    }

    /// Whether the rule makes the document non-conformant.
    pub fn is_fatal(&self) -> bool {
        self.rule.rule().severity == RuleSeverity::Fatal
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}: {}", self.rule, self.path, self.message)
    }
}

/// All findings of one check, in document order of discovery.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Report {
    findings: Vec<Finding>,
}

impl Report {
    /// Adds a finding.
    pub(crate) fn push(&mut self, finding: Finding) {
        self.findings.push(finding);
    }

    /// Adds a finding built from its parts.
    pub(crate) fn add(&mut self, rule: impl Into<RuleId>, path: impl Into<String>, detail: &str) {
        self.push(Finding::new(rule, path, detail));
    }

    /// The findings.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Consumes the report.
    pub fn into_findings(self) -> Vec<Finding> {
        self.findings
    }

    /// No fatal finding.
    pub fn is_conformant(&self) -> bool {
        !self.findings.iter().any(Finding::is_fatal)
    }

    /// Whether any finding is about `rule`.
    pub fn has(&self, rule: impl Into<RuleId>) -> bool {
        let rule = rule.into();
        self.findings.iter().any(|f| f.rule == rule)
    }

    /// The distinct rule ids, sorted.
    pub fn rule_ids(&self) -> Vec<&'static str> {
        let mut ids: Vec<&'static str> = self.findings.iter().map(|f| f.rule.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Number of findings.
    pub fn len(&self) -> usize {
        self.findings.len()
    }

    /// No findings at all.
    pub fn is_empty(&self) -> bool {
        self.findings.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, finding) in self.findings.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{finding}")?;
        }
        Ok(())
    }
}

/// A short, printable excerpt of a technical value for messages: at most 64 characters,
/// control characters escaped. Never use it for free-text content.
pub(crate) fn excerpt(value: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = value
        .chars()
        .take(MAX)
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect();
    if value.chars().count() > MAX {
        out.push('…');
    }
    format!("'{out}'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_is_rule_text_then_detail() {
        let f = Finding::new(XheRule::R11, "/x:XHE/xha:Header/xha:ToParty", "found 'x'");
        assert_eq!(f.rule.id(), "R11-XHE");
        assert!(
            f.message
                .starts_with("ToParty PartyIdentification/ID must have")
        );
        assert!(f.message.ends_with(": found 'x'"));
        assert!(f.is_fatal());
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json["rule"], "R11-XHE");
    }

    #[test]
    fn excerpt_shortens_and_escapes() {
        assert_eq!(excerpt("a\nb"), "'a\\nb'");
        let long = "x".repeat(100);
        assert_eq!(excerpt(&long).chars().count(), 64 + 3);
    }
}
