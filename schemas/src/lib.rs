//! Identifiers and code lists of the SDK federation.
//!
//! What it does: typed identifiers parsed at the edge (participant, document type, process,
//! AP party id, function address, environment, federation), and DIGG's code lists as data
//! files (`schemas/codelists/*.toml`) embedded in the binary and read through typed accessors
//! ([`codelists()`]), and the XHE and Meddelandekvittens profile rule tables
//! (`schemas/rules/*.toml`, [`rules()`]) that drive envelope, message and receipt validation.
//!
//! What it does not: talk to SMP, or validate whole documents (that is `sdkgw-envelope`).
#![forbid(unsafe_code)]

pub mod codelists;
pub mod ids;
pub mod rules;

pub use codelists::{CodeListError, CodeLists, codelists};
pub use ids::{
    ApPartyFinding, ApPartyId, ApPartyIdError, ApPartyIssue, DocumentId, DocumentIdError,
    Environment, EnvironmentError, FederationId, FederationIdError, FunctionAddress,
    FunctionAddressError, HttpPrefix, Icd, IcdPolicy, LabelProblem, ParseOptions, ParticipantId,
    ParticipantIdError, ParticipantWarning, ProcessId, ProcessIdError, Severity, TransportModel,
    TransportModelError,
};
pub use rules::{MessageRule, ReceiptRule, Rule, RuleSeverity, RuleSource, XheRule, rules};
