//! Profile rule tables as data: the XHE envelope rules (R1–R14-XHE) and the Meddelandekvittens
//! rules (R1–R9-APP) with their context, message and severity, plus the gateway's own rules
//! for what the profiles require but DIGG's schematron does not check (`GW-…`). The files are
//! `schemas/rules/*.toml`, embedded and parsed once; validators look rules up by typed id
//! ([`XheRule`], [`ReceiptRule`]) and report `rule.id`, the node path and `rule.message`.
//!
//! R11-XHE is applied to ToParty, as its text intends (DIGG's compiled schematron checks
//! FromParty there).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use serde::Deserialize;

const XHE_FILE: (&str, &str) = ("rules/xhe.toml", include_str!("../rules/xhe.toml"));
const RECEIPT_FILE: (&str, &str) = ("rules/receipt.toml", include_str!("../rules/receipt.toml"));
const MESSAGE_FILE: (&str, &str) = (
    "rules/sdk-message.toml",
    include_str!("../rules/sdk-message.toml"),
);

/// How bad a broken rule is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleSeverity {
    /// The document is non-conformant.
    Fatal,
    /// Reported, not rejected.
    Warning,
}

/// Who defines a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleSource {
    /// DIGG's profile (the rule id is DIGG's).
    Digg,
    /// This gateway: a requirement of the profile text that DIGG's artefacts do not check.
    Gateway,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The rule id, e.g. `R11-XHE`, `GW-APP-2`.
    pub id: &'static str,
    /// XPath 2 path (with the table's prefixes) of the nodes the rule is about.
    pub context: String,
    /// Fatal or warning.
    pub severity: RuleSeverity,
    /// DIGG or gateway.
    pub source: RuleSource,
    /// What the rule requires, in words (used as the finding message).
    pub message: String,
    /// Differences from DIGG's schematron, if any.
    pub note: Option<String>,
}

/// A rule file that does not parse or does not match the rule enums.
#[derive(Debug, thiserror::Error)]
pub enum RuleTableError {
    /// Bad TOML, unknown or missing field.
    #[error("rule table {file}: {source}")]
    Syntax {
        /// The file.
        file: &'static str,
        /// The parser's message.
        #[source]
        source: toml::de::Error,
    },
    /// The ids in the file differ from the typed ids.
    #[error("rule table {file}: {problem}")]
    Ids {
        /// The file.
        file: &'static str,
        /// Which id is missing or unknown.
        problem: String,
    },
}

macro_rules! rule_ids {
    ($(#[$meta:meta])* $name:ident, $err:ident { $($variant:ident => $id:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $(#[doc = $id] $variant),+
        }

        impl $name {
            /// Every rule, in table order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The rule id.
            pub fn id(self) -> &'static str {
                match self {
                    $($name::$variant => $id),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.id())
            }
        }

        /// An id that is not in the rule table.
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        #[error("unknown rule id {0:?}")]
        pub struct $err(pub String);

        impl std::str::FromStr for $name {
            type Err = $err;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|r| r.id() == s)
                    .ok_or_else(|| $err(s.chars().take(40).collect()))
            }
        }
    };
}

rule_ids! {
    /// XHE envelope rules.
    XheRule, XheRuleError {
        R1 => "R1-XHE",
        R2 => "R2-XHE",
        R3 => "R3-XHE",
        R4 => "R4-XHE",
        R5 => "R5-XHE",
        R6 => "R6-XHE",
        R7 => "R7-XHE",
        R8 => "R8-XHE",
        R9 => "R9-XHE",
        R10 => "R10-XHE",
        R11 => "R11-XHE",
        R12 => "R12-XHE",
        R13 => "R13-XHE",
        R14 => "R14-XHE",
        HeaderIdUuid => "GW-XHE-1",
        CreationDateTimeZone => "GW-XHE-2",
        CriteriaExactlyOnce => "GW-XHE-3",
        CriterionCodeListValues => "GW-XHE-4",
        FederationOfEnvironment => "GW-XHE-5",
        TransportModelConsistent => "GW-XHE-6",
        PartyIdsAreParticipants => "GW-XHE-7",
        HandlingServiceIsFunctionAddress => "GW-XHE-8",
        CreationDateTimeNotFuture => "GW-XHE-9",
        Xsd => "XSD-XHE",
    }
}

rule_ids! {
    /// Meddelandekvittens (ApplicationResponse) rules.
    ReceiptRule, ReceiptRuleError {
        R1 => "R1-APP",
        R2 => "R2-APP",
        R3 => "R3-APP",
        R4 => "R4-APP",
        R5 => "R5-APP",
        R6 => "R6-APP",
        R7 => "R7-APP",
        R8 => "R8-APP",
        R9 => "R9-APP",
        EndpointIdScheme => "GW-APP-1",
        IssueTimeZone => "GW-APP-2",
        LineIdXpathOrNa => "GW-APP-3",
        DocumentReferenceIsXheId => "GW-APP-4",
        Xsd => "XSD-APP",
    }
}

rule_ids! {
    /// SDK message (MessageWithAttachments v3) rules: the XSD, DIGG's MessageConstraints
    /// patterns (by pattern id) and the gateway's content-specification rules.
    MessageRule, MessageRuleError {
        Xsd => "XSD-MSG",
        NonEmptyElements => "verifyNonEmptyElements",
        ConversationIdMustExist => "conversationIdMustExist",
        RecipientIdRoot => "recipientIdvalue",
        SenderIdRoot => "senderIdvalue",
        CreationDateTime => "creationDateTime",
        MessageIdUuid => "MessageId",
        ConversationIdUuid => "conversationId",
        RefToMessageIdUuid => "refToMessageId",
        SubjectLabelLength => "subjectlabel",
        ContentFilesBase64 => "contentFiles",
        SubOrgRoot => "subOrgRoot",
        DocumentHasContent => "GW-MSG-1",
        ContentStrictBase64 => "GW-MSG-2",
        PartyIdsAreParticipants => "GW-MSG-3",
        MessageIdIsXheId => "GW-MSG-4",
        RecipientIsToParty => "GW-MSG-5",
        SenderIsFromParty => "GW-MSG-6",
        FunctionIsHandlingService => "GW-MSG-7",
        FunctionKnown => "GW-MSG-8",
        SizeLimit => "GW-MSG-9",
        AttachmentTypeSupported => "GW-MSG-10",
        Malware => "GW-MSG-11",
        MessageIdUnique => "GW-MSG-12",
        ReplyToRejected => "GW-MSG-13",
        PayloadWellFormed => "GW-MSG-14",
    }
}

/// One loaded table.
#[derive(Debug)]
pub struct RuleTable<K> {
    prefixes: BTreeMap<String, String>,
    rules: BTreeMap<K, Rule>,
}

impl<K: Ord + Copy> RuleTable<K> {
    /// The namespace prefixes the rule contexts use.
    pub fn prefixes(&self) -> &BTreeMap<String, String> {
        &self.prefixes
    }

    /// A rule. Every typed id is present (the loader refuses tables that lack one).
    pub fn rule(&self, id: K) -> &Rule {
        &self.rules[&id]
    }

    /// Every rule, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Rule> {
        self.rules.values()
    }
}

/// Both tables.
#[derive(Debug)]
pub struct Rules {
    /// The XHE envelope rules.
    pub xhe: RuleTable<XheRule>,
    /// The Meddelandekvittens rules.
    pub receipt: RuleTable<ReceiptRule>,
    /// The SDK message rules.
    pub message: RuleTable<MessageRule>,
}

impl Rules {
    /// Parses and checks the embedded tables.
    pub fn embedded() -> Result<Self, RuleTableError> {
        Ok(Self {
            xhe: load(XHE_FILE, XheRule::ALL, |r| r.id())?,
            receipt: load(RECEIPT_FILE, ReceiptRule::ALL, |r| r.id())?,
            message: load(MESSAGE_FILE, MessageRule::ALL, |r| r.id())?,
        })
    }
}

/// The embedded rule tables, parsed on first use (see [`crate::codelists()`] for why a
/// failure here panics: the data is compiled in and checked by tests).
#[allow(clippy::expect_used, reason = "embedded data, validated by tests")]
pub fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| Rules::embedded().expect("embedded rule tables are valid"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    prefixes: BTreeMap<String, String>,
    rules: BTreeMap<String, RuleFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    context: String,
    severity: RuleSeverity,
    source: RuleSource,
    message: String,
    note: Option<String>,
}

fn load<K: Ord + Copy>(
    (file, text): (&'static str, &str),
    ids: &[K],
    id_of: fn(K) -> &'static str,
) -> Result<RuleTable<K>, RuleTableError> {
    let parsed: TableFile =
        toml::from_str(text).map_err(|source| RuleTableError::Syntax { file, source })?;
    let problem = |problem: String| RuleTableError::Ids { file, problem };
    if let Some(extra) = parsed
        .rules
        .keys()
        .find(|k| !ids.iter().any(|id| id_of(*id) == *k))
    {
        return Err(problem(format!("rule {extra:?} has no typed id")));
    }
    let mut rules = BTreeMap::new();
    for &key in ids {
        let id = id_of(key);
        let raw = parsed
            .rules
            .get(id)
            .ok_or_else(|| problem(format!("rule {id} is missing")))?;
        let prefix_known = |p: &str| parsed.prefixes.contains_key(p);
        if let Some(unknown) = context_prefixes(&raw.context)
            .into_iter()
            .find(|p| !prefix_known(p))
        {
            return Err(problem(format!(
                "rule {id}: context uses undeclared prefix {unknown:?}"
            )));
        }
        let is_gateway = id.starts_with("GW-");
        if is_gateway != (raw.source == RuleSource::Gateway) {
            return Err(problem(format!(
                "rule {id}: GW- ids and source = \"gateway\" go together"
            )));
        }
        rules.insert(
            key,
            Rule {
                id,
                context: raw.context.clone(),
                severity: raw.severity,
                source: raw.source,
                message: raw.message.clone(),
                note: raw.note.clone(),
            },
        );
    }
    Ok(RuleTable {
        prefixes: parsed.prefixes,
        rules,
    })
}

/// The `prefix` of every `prefix:name` step in an XPath (string literals skipped).
fn context_prefixes(xpath: &str) -> Vec<String> {
    let without_axes = xpath.replace("::", " ");
    without_axes
        .split('\'')
        .step_by(2)
        .flat_map(|outside| outside.split(|c: char| !(c.is_alphanumeric() || c == ':' || c == '-')))
        .filter_map(|token| token.split_once(':').map(|(prefix, _)| prefix.to_owned()))
        .filter(|p| !p.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_tables_load_and_cover_every_typed_id() {
        let rules = Rules::embedded().unwrap();
        assert_eq!(rules.xhe.iter().count(), XheRule::ALL.len());
        assert_eq!(rules.receipt.iter().count(), ReceiptRule::ALL.len());
        assert_eq!(rules.message.iter().count(), MessageRule::ALL.len());
        for r in XheRule::ALL {
            assert_eq!(rules.xhe.rule(*r).id, r.id());
            assert_eq!(r.id().parse::<XheRule>().unwrap(), *r);
        }
    }

    #[test]
    fn r11_is_applied_to_to_party() {
        let r11 = rules().xhe.rule(XheRule::R11);
        assert!(r11.context.contains("xha:ToParty"), "{}", r11.context);
        assert!(!r11.context.contains("FromParty"));
        assert!(r11.message.contains("ToParty"));
        assert!(
            rules()
                .xhe
                .rule(XheRule::R10)
                .context
                .contains("xha:FromParty")
        );
    }

    #[test]
    fn digg_rules_are_fatal_and_keep_digg_ids() {
        for rule in rules()
            .xhe
            .iter()
            .chain(rules().receipt.iter())
            .chain(rules().message.iter())
        {
            assert_eq!(rule.severity, RuleSeverity::Fatal, "{}", rule.id);
            assert_eq!(
                rule.source == RuleSource::Digg,
                !rule.id.starts_with("GW-"),
                "{}",
                rule.id
            );
            assert!(
                !rule.message.is_empty() && !rule.context.is_empty(),
                "{}",
                rule.id
            );
        }
        assert_eq!(ReceiptRule::R7.to_string(), "R7-APP");
        assert!(
            rules()
                .receipt
                .rule(ReceiptRule::R3)
                .message
                .contains("response:1")
        );
    }

    #[test]
    fn contexts_use_declared_prefixes_only() {
        assert_eq!(
            rules().xhe.prefixes().get("xha").map(String::as_str),
            Some("http://docs.oasis-open.org/bdxr/ns/XHE/1/AggregateComponents")
        );
        let prefixes = context_prefixes("/x:XHE/xha:P[xhb:C = 'a:b'][not(ancestor-or-self::ds:*)]");
        assert_eq!(prefixes, ["x", "xha", "xhb", "ds"]);
    }

    #[test]
    fn loader_rejects_missing_unknown_and_mislabelled_rules() {
        let (file, text) = XHE_FILE;
        let missing = text.replace("[rules.R9-XHE]", "[rules.R99-XHE]");
        let err = load((file, &missing), XheRule::ALL, |r| r.id()).unwrap_err();
        assert!(err.to_string().contains("R99-XHE"), "{err}");
        let bad_prefix = text.replace(
            "context = \"/x:XHE/xhb:XHEVersionID\"",
            "context = \"/q:XHE\"",
        );
        let err = load((file, &bad_prefix), XheRule::ALL, |r| r.id()).unwrap_err();
        assert!(err.to_string().contains("\"q\""), "{err}");
        let bad_severity = text.replacen("severity = \"fatal\"", "severity = \"fatalish\"", 1);
        assert!(matches!(
            load((file, &bad_severity), XheRule::ALL, |r| r.id()),
            Err(RuleTableError::Syntax { .. })
        ));
        assert!("R15-XHE".parse::<XheRule>().is_err());
    }
}
