//! The conformance suite.
//!
//! What it does: runs DIGG's qualification cases (TF-01…TF-10, [TM] TF-01, the re-runs per
//! transport model), the announced cases F-01…F-08, DIGG's SDK test data and the hardening
//! corpus against an in-process gateway ([`harness::Ctx::in_process`]: two organisations of
//! one dev PKI, a fake SMP, mutual TLS on loopback) or any AP URL from a configuration
//! ([`harness::Ctx::remote`]: the suite's PKI plays the peer), and reports Markdown and JUnit
//! ([`report`]). Every case ends in a [`verdict::Verdict`]: pass, fail, not-applicable or
//! needs-environment, each with what was expected and what was seen.
//!
//! What it does not: implement gateway behaviour. It drives and observes: it sends with the
//! AS4 and envelope layers' own builders (plus deliberate mutations, [`peer::craft`]), and
//! plays the peer access point with those layers' receiver ([`peer`]).
#![forbid(unsafe_code)]

pub mod cases;
pub mod catalog;
pub mod extra;
pub mod harness;
pub mod mailbox;
pub mod messages;
pub mod peer;
pub mod pki;
pub mod report;
pub mod target;
pub mod verdict;
