//! The monitoring kit in `deploy/` (Prometheus alert rules and their unit tests, the Grafana
//! dashboard) uses only metric names and labels the gateway exports: every family of
//! `sdkgw_server::metrics::FAMILIES`, the address book's counters
//! (`MetricsSnapshot::samples`), and Prometheus' own `up`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use sdkgw_address_book::cache::MetricsSnapshot;
use sdkgw_server::metrics::FAMILIES;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Metric name → the labels it may carry (besides Prometheus' `job` and `instance`).
fn exported() -> HashMap<String, BTreeSet<String>> {
    let mut out = HashMap::new();
    for (name, kind, labels, _help) in FAMILIES {
        let labels: BTreeSet<String> = labels
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        if name.contains('*') {
            continue; // the address-book wildcard: its names come from the samples below
        }
        if *kind == "histogram" {
            let mut bucket = labels.clone();
            bucket.insert("le".into());
            out.insert(format!("{name}_bucket"), bucket);
            out.insert(format!("{name}_sum"), labels.clone());
            out.insert(format!("{name}_count"), labels.clone());
        }
        out.insert((*name).to_owned(), labels);
    }
    for (name, _help, _value) in MetricsSnapshot::default().samples() {
        out.insert(name.to_owned(), BTreeSet::new());
    }
    out.insert("up".into(), BTreeSet::new());
    out
}

/// YAML without comments (a `#` at line start or after whitespace, outside quotes).
fn strip_yaml_comments(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut quote = None;
        let mut prev_space = true;
        let mut cut = line.len();
        for (i, c) in line.char_indices() {
            match (quote, c) {
                (None, '\'' | '"') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, '#') if prev_space => {
                    cut = i;
                    break;
                }
                _ => {}
            }
            prev_space = c.is_whitespace();
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}

/// Every string value of a JSON document.
fn json_strings(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| json_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| json_strings(x, out)),
        _ => {}
    }
}

/// `(metric, labels used in its selector)` for every `sdkgw_…` name (and `up{…}`) in `text`.
fn uses(text: &str) -> Vec<(String, Vec<String>)> {
    let bytes = text.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts = (i == 0 || !ident(bytes[i - 1]))
            && (text[i..].starts_with("sdkgw_") || text[i..].starts_with("up{"));
        if !starts {
            i += 1;
            continue;
        }
        let mut end = i;
        while end < bytes.len() && ident(bytes[end]) {
            end += 1;
        }
        let name = text[i..end].to_owned();
        let mut labels = Vec::new();
        if bytes.get(end) == Some(&b'{') {
            let close = text[end..].find('}').map_or(text.len(), |p| end + p);
            for matcher in text[end + 1..close].split(',') {
                let label: String = matcher
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !label.is_empty() {
                    labels.push(label);
                }
            }
            end = close;
        }
        found.push((name, labels));
        i = end;
    }
    found
}

fn deploy_texts() -> Vec<(String, String)> {
    let root = workspace().join("deploy");
    let mut texts = Vec::new();
    for file in ["prometheus/alerts.yaml", "prometheus/alerts.test.yaml"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        texts.push((file.to_owned(), strip_yaml_comments(&text)));
    }
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("grafana/sdkgw.json")).unwrap())
            .unwrap();
    let mut strings = String::new();
    json_strings(&dashboard, &mut strings);
    texts.push(("grafana/sdkgw.json".to_owned(), strings));
    texts
}

#[test]
fn alert_rules_and_dashboard_use_only_exported_metric_names_and_labels() {
    let exported = exported();
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for (file, text) in deploy_texts() {
        let found = uses(&text);
        assert!(
            !found.is_empty(),
            "{file}: no metric found (parser broken?)"
        );
        for (name, labels) in found {
            seen.insert(name.clone());
            let Some(allowed) = exported.get(&name) else {
                problems.push(format!("{file}: {name} is not exported by the gateway"));
                continue;
            };
            for label in labels {
                if label != "job" && label != "instance" && !allowed.contains(&label) {
                    problems.push(format!(
                        "{file}: {name} has no label {label:?} ({allowed:?})"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The kit covers what the issue asks for: expiry, dead letters, oldest queued, peer
    // failures, SMP staleness, TLS handshake failures.
    for needed in [
        "sdkgw_certificate_expiry_seconds",
        "sdkgw_queue_dead_letters",
        "sdkgw_queue_oldest_due_age_seconds",
        "sdkgw_messages_total",
        "sdkgw_address_book_stale_serves_total",
        "sdkgw_tls_handshake_failures_total",
    ] {
        assert!(seen.contains(needed), "deploy/ does not use {needed}");
    }
}

#[test]
fn the_name_check_rejects_unknown_names_and_labels() {
    let exported = exported();
    let text = strip_yaml_comments(
        "expr: sdkgw_queue_dead_letterz > 0 # sdkgw_in_a_comment\n\
         expr: sdkgw_certificate_expiry_seconds{role=\"ap\", colour=\"red\"}\n",
    );
    let found = uses(&text);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(!exported.contains_key(&found[0].0));
    let allowed = &exported[&found[1].0];
    assert!(allowed.contains("role") && !allowed.contains("colour"));
    assert!(exported.contains_key("sdkgw_delivery_latency_seconds_bucket"));
    assert!(exported["sdkgw_delivery_latency_seconds_bucket"].contains("le"));
    assert!(exported.contains_key("sdkgw_address_book_refresh_failures_total"));
}
