//! `[pipeline]`: the message pipelines between the mailbox API and AS4 (the AS4 retry schedule
//! itself is `[retry]`). Every key is optional; the block for `example.toml`:
//!
//! ```toml
//! # ---------------------------------------------------------------------------------------------
//! # Message pipelines (sealing, opening, receipts, delivery driving). All keys optional.
//! [pipeline]
//! receipt_timeout = "24h"    # WAITING_FOR_RECEIPT longer than this -> MESSAGE_EXCHANGE_ERROR
//! inbound_workers = 4        # envelopes opened (verified, decrypted, validated) at once
//! max_in_flight = 16         # AS4 deliveries at once, all peers together
//! per_peer = 4               # AS4 deliveries at once to one receiving access point
//! breaker_failures = 5       # consecutive failed attempts to a peer that open its circuit
//! breaker_open = "30s"       # how long an open circuit holds deliveries back (then one probe)
//! # Attachments accepted on send (API: 400) and receive (REJECTED BV not-supported);
//! # application/pdf always is. Default: PDF, plain text, XML, PNG, JPEG, TIFF, .docx/.xlsx/.pptx
//! # (no executables, archives, HTML or macro-enabled Office files).
//! # attachment_types = ["application/pdf", "text/plain", "image/png"]
//! # Malware scan of every attachment on send and receive: the command gets the attachment on
//! # stdin; exit 0 = clean, 1 = infected (API: 400; inbound: REJECTED BV forbidden), anything
//! # else or no answer within malware_scan_timeout = scan failed (API: 503; inbound: retried
//! # later, never accepted unscanned). Unset: no scanning (config check warns in qa/prod).
//! # malware_scan_command = ["clamdscan", "--no-summary", "--stdout", "-"]
//! malware_scan_timeout = "60s"
//! ```

use std::time::Duration;

use super::ids::Environment;
use super::reader::Table;
use super::report::Finding;
use crate::api::message_json::is_media_type;
pub use crate::pipeline::PipelineSettings;

fn count(t: &Table<'_>, key: &'static str, default: usize) -> usize {
    let v = t.u64_or(key, default as u64);
    if v == 0 || v > 1024 {
        t.ctx()
            .error(&t.key_path(key), "must be between 1 and 1024");
    }
    usize::try_from(v).unwrap_or(default).clamp(1, 1024)
}

/// Reads `[pipeline]` (absent: the defaults).
pub(crate) fn read(t: Option<&Table<'_>>) -> Option<PipelineSettings> {
    let d = PipelineSettings::default();
    let Some(t) = t else { return Some(d) };
    let s = PipelineSettings {
        receipt_timeout: t.duration_or("receipt_timeout", d.receipt_timeout),
        inbound_workers: count(t, "inbound_workers", d.inbound_workers),
        max_in_flight: count(t, "max_in_flight", d.max_in_flight),
        per_peer: count(t, "per_peer", d.per_peer),
        breaker_failures: u32::try_from(count(t, "breaker_failures", 5)).unwrap_or(5),
        breaker_open: t.duration_or("breaker_open", d.breaker_open),
        attachment_types: attachment_types(t, d.attachment_types),
        malware_scan_command: t.str_list("malware_scan_command"),
        malware_scan_timeout: t.duration_or("malware_scan_timeout", d.malware_scan_timeout),
    };
    if t.opt_raw("malware_scan_command").is_some() && s.malware_scan_command.is_empty() {
        t.ctx().error(
            &t.key_path("malware_scan_command"),
            "must name a program (leave the key out for no scanning)",
        );
    }
    if s.malware_scan_timeout < Duration::from_secs(1) {
        t.ctx()
            .error(&t.key_path("malware_scan_timeout"), "must be at least 1s");
    }
    if s.receipt_timeout < Duration::from_secs(60) {
        t.ctx()
            .error(&t.key_path("receipt_timeout"), "must be at least 1m");
    }
    if s.per_peer > s.max_in_flight {
        t.ctx()
            .warning(&t.key_path("per_peer"), "is larger than max_in_flight");
    }
    if s.breaker_open < Duration::from_secs(1) {
        t.ctx()
            .error(&t.key_path("breaker_open"), "must be at least 1s");
    }
    Some(s)
}

/// `attachment_types` (absent: the default list): each a `type/subtype`.
fn attachment_types(t: &Table<'_>, default: Vec<String>) -> Vec<String> {
    if t.opt_raw("attachment_types").is_none() {
        return default;
    }
    let types = t.str_list("attachment_types");
    for (i, ty) in types.iter().enumerate() {
        if !is_media_type(ty) || ty.contains(';') {
            t.ctx().error(
                &format!("{}[{i}]", t.key_path("attachment_types")),
                format!("{ty:?} is not a MIME type type/subtype (wildcards are not supported)"),
            );
        }
    }
    types
}

impl PipelineSettings {
    /// `config check`: attachments are not scanned for malware in qa/prod.
    pub(crate) fn check(&self, env: Environment) -> Option<Finding> {
        (env.is_strict() && self.malware_scan_command.is_empty()).then(|| {
            Finding::warning(
                "pipeline.malware_scan_command",
                "is not set in qa/prod: attachments are not scanned for malware on send or receive (MT–MK §3)",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::super::reader::Context;
    use super::*;

    fn read_text(text: &str) -> (PipelineSettings, Vec<String>) {
        let table: toml::Table = text.parse().expect("TOML");
        let ctx = Context::new(PathBuf::from("/etc/sdkgw"), BTreeMap::new());
        let s = {
            let root = Table::root(&ctx, &table);
            read(root.opt_table("pipeline").as_ref()).expect("settings")
        };
        let found = ctx.findings.into_inner();
        (s, found.iter().map(|f| f.to_string()).collect())
    }

    #[test]
    fn content_policy_defaults_to_a_document_allow_list_and_no_scanner() {
        let (s, found) = read_text("[pipeline]\n");
        assert!(found.is_empty(), "{found:?}");
        assert!(s.attachment_types.iter().any(|t| t == "application/pdf"));
        assert!(!s.attachment_types.iter().any(|t| t.contains("msdownload")));
        assert_eq!(s.malware_scan_command, Vec::<String>::new());
        assert!(s.scanner().is_none());
        assert_eq!(s.malware_scan_timeout, Duration::from_secs(60));
    }

    #[test]
    fn content_policy_keys_are_read() {
        let (s, found) = read_text(
            "[pipeline]\nattachment_types = [\"text/plain\"]\nmalware_scan_command = [\"clamdscan\", \"--no-summary\", \"--stdout\", \"-\"]\nmalware_scan_timeout = \"15s\"\n",
        );
        assert!(found.is_empty(), "{found:?}");
        assert_eq!(s.attachment_types, ["text/plain"]);
        assert_eq!(
            s.malware_scan_command,
            ["clamdscan", "--no-summary", "--stdout", "-"]
        );
        assert_eq!(s.malware_scan_timeout, Duration::from_secs(15));
        assert!(s.scanner().is_some());
        // An empty list: PDF only (the envelope layer always takes PDF).
        let (s, found) = read_text("[pipeline]\nattachment_types = []\n");
        assert!(found.is_empty(), "{found:?}");
        assert!(s.attachment_types.is_empty());
    }

    #[test]
    fn content_policy_keys_are_validated() {
        let (_, found) = read_text(
            "[pipeline]\nattachment_types = [\"pdf\", \"image/*\"]\nmalware_scan_command = []\nmalware_scan_timeout = \"0s\"\n",
        );
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(
            found[0].starts_with("error: pipeline.attachment_types[0]"),
            "{found:?}"
        );
        assert!(
            found[1].starts_with("error: pipeline.attachment_types[1]"),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|f| f.starts_with("error: pipeline.malware_scan_command"))
        );
        assert!(
            found
                .iter()
                .any(|f| f.starts_with("error: pipeline.malware_scan_timeout"))
        );
    }

    #[test]
    fn no_scanner_warns_in_qa_and_prod_only() {
        let d = PipelineSettings::default();
        for env in [Environment::Qa, Environment::Prod] {
            let f = d.check(env).expect("a warning");
            assert_eq!(f.path, "pipeline.malware_scan_command");
            assert_eq!(f.severity, super::super::report::Severity::Warning);
        }
        for env in [Environment::Dev, Environment::OpenTest] {
            assert!(d.check(env).is_none());
        }
        let scanning = PipelineSettings {
            malware_scan_command: vec!["clamdscan".into(), "-".into()],
            ..PipelineSettings::default()
        };
        assert!(scanning.check(Environment::Prod).is_none());
    }
}
