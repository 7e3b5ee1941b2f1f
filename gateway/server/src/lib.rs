//! The gateway as a library: configuration, listeners, pipelines, mailbox API, metrics and
//! audit. The `sdkgw` binary (`src/main.rs`, `src/cli/`) is a thin command-line layer over it, so
//! tests and the conformance suite can start gateways in-process.
//!
//! What it does not: protocol wire formats or cryptography; those live in the layer crates
//! (`sdkgw-as4`, `sdkgw-envelope`, `sdkgw-xml-security`, `sdkgw-address-book`, `sdkgw-store`).
#![forbid(unsafe_code)]

pub mod addressbook;
pub mod api;
pub mod audit;
pub mod config;
pub mod mailbox;
pub mod metrics;
pub mod notify;
pub mod pipeline;
pub mod reload;
pub mod serve;
