//! `auth_id` grants: which function mailboxes a caller may use (MT–MK §2.2 leaves the mapping
//! to us). A grant is a pattern matched against a mailbox's function address (the
//! `subOrganization.extension`, e.g. `sdk:inkorg:0203:digg.se`):
//!
//! * ASCII letters compare case-insensitively, everything else exactly;
//! * `*` matches **one or more** characters of any kind, so `*.blue.x` matches `f1.blue.x`
//!   and `a.b.blue.x`, but not `blue.x` nor `f1.green.x`;
//! * `*` alone grants every mailbox configured on this gateway.
//!
//! Only mailboxes configured in `[[participants.mailboxes]]` are ever reachable; a grant
//! cannot create one. The caller may act for an organisation (`sender`) when it holds a grant
//! for at least one of that organisation's mailboxes.

/// A parsed grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    parts: Vec<String>,
    wildcard_start: bool,
    wildcard_end: bool,
}

impl Pattern {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() || s.len() > 512 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "grant {s:?} must be 1..512 characters without whitespace"
            ));
        }
        if s.contains("**") {
            return Err(format!("grant {s:?}: use a single * as wildcard"));
        }
        let parts: Vec<String> = s
            .split('*')
            .filter(|p| !p.is_empty())
            .map(str::to_ascii_lowercase)
            .collect();
        Ok(Self {
            wildcard_start: s.starts_with('*'),
            wildcard_end: s.ends_with('*'),
            parts: if s == "*" { Vec::new() } else { parts },
        })
    }

    /// Whether the mailbox address matches.
    pub fn matches(&self, mailbox: &str) -> bool {
        let m = mailbox.to_ascii_lowercase();
        if self.parts.is_empty() {
            return !m.is_empty();
        }
        let n = self.parts.len();
        let mut pos = 0usize;
        for (i, part) in self.parts.iter().enumerate() {
            let first = i == 0;
            let last = i + 1 == n;
            // Each `*` needs at least one character before the next literal part.
            let min_start = if first && !self.wildcard_start {
                0
            } else {
                pos + 1
            };
            if first && !self.wildcard_start {
                if !m.starts_with(part.as_str()) {
                    return false;
                }
                pos = part.len();
            } else if last && !self.wildcard_end {
                if m.len() < min_start + part.len() || !m.ends_with(part.as_str()) {
                    return false;
                }
                pos = m.len();
            } else {
                let Some(found) = m.get(min_start..).and_then(|rest| rest.find(part.as_str()))
                else {
                    return false;
                };
                pos = min_start + found + part.len();
            }
            if last && !self.wildcard_end && pos != m.len() {
                return false;
            }
        }
        !self.wildcard_end || m.len() > pos
    }
}

/// Parses a list of grants, skipping invalid ones (from a token: an external issuer's odd
/// values grant nothing rather than failing the call).
pub fn parse_all<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Pattern> {
    values
        .into_iter()
        .filter_map(|v| Pattern::parse(v).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Pattern::parse(p).unwrap().matches(s)
    }

    #[test]
    fn wildcard_matches_one_or_more_characters_case_insensitively() {
        assert!(m("*.blue.x", "f1.blue.x"));
        assert!(m("*.blue.x", "F1.BLUE.x"));
        assert!(m("*.blue.x", "a.b.blue.x"));
        assert!(!m("*.blue.x", "f1.green.x"));
        assert!(!m("*.blue.x", "blue.x"));
        assert!(!m("*.blue.x", ".blue.x"));
        assert!(m("sdk:*:0203:digg.se", "sdk:inkorg:0203:digg.se"));
        assert!(!m("sdk:*:0203:digg.se", "sdk::0203:digg.se"));
        assert!(m("sdk:inkorg:*", "sdk:inkorg:0203:digg.se"));
        assert!(!m("sdk:inkorg:*", "sdk:inkorg:"));
        assert!(m("*", "anything"));
        assert!(m("exact:box", "EXACT:BOX"));
        assert!(!m("exact:box", "exact:box2"));
        assert!(!m("exact:box", "xexact:box"));
    }

    #[test]
    fn refuses_empty_whitespace_and_double_stars() {
        assert!(Pattern::parse("").is_err());
        assert!(Pattern::parse("a b").is_err());
        assert!(Pattern::parse("a**b").is_err());
    }
}
