//! The reports: Markdown (readable on its own: what was tested, the summary, one table per
//! group, then every case with its expected and actual outcome) and JUnit XML (one
//! `testsuite` per group; fail = `<failure>`, not-applicable and needs-environment =
//! `<skipped>` with the reason).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::catalog::{CaseResult, Group, RunReport};
use crate::verdict::Verdict;

/// The file names in the report directory.
pub const MARKDOWN: &str = "conformance-report.md";
pub const JUNIT: &str = "conformance-report.junit.xml";

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// Table cells: no pipes or line breaks.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn verdict_cell(v: &Verdict) -> String {
    match v {
        Verdict::Pass => "pass".into(),
        Verdict::Fail => "**FAIL**".into(),
        Verdict::NotApplicable(_) => "not-applicable".into(),
        Verdict::NeedsEnvironment(_) => "needs-environment".into(),
    }
}

/// The Markdown report.
pub fn markdown(report: &RunReport) -> String {
    let mut out = String::new();
    let s = report.summary();
    let _ = writeln!(out, "# SDK conformance report\n");
    let _ = writeln!(out, "**{}**\n", report.summary_line());
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| Mode | {} |", cell(&report.mode));
    let _ = writeln!(out, "| Target | {} |", cell(&report.target));
    let _ = writeln!(out, "| AS4 endpoint | `{}` |", cell(&report.target_url));
    let _ = writeln!(out, "| Started | {} |", rfc3339(report.started));
    let _ = writeln!(out, "| Finished | {} |", rfc3339(report.finished));
    let _ = writeln!(
        out,
        "| Verdicts | {} pass, {} fail, {} not applicable, {} need the environment (of {}) |",
        s.pass, s.fail, s.not_applicable, s.needs_environment, s.total
    );
    for n in &report.notes {
        let _ = writeln!(out, "| Note | {} |", cell(n));
    }
    let _ = writeln!(
        out,
        "\nVerdicts: **pass** = every assertion of the case was made and held; **fail** = an \
         assertion did not hold (or the case could not run); **not-applicable** = the case does \
         not apply to this target or mode (reason given); **needs-environment** = it cannot be \
         decided here and needs DIGG's QA/Open Test environment or infrastructure this run \
         does not have (reason given) — never counted as a pass. This report is own-test \
         evidence; it does not replace DIGG's QA session and test protocol.\n"
    );
    for group in Group::ALL {
        let rows: Vec<&CaseResult> = report.results.iter().filter(|r| r.group == group).collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(out, "## {}\n", group.title());
        let _ = writeln!(
            out,
            "| ID | Case | Verdict | Actual (first line) |\n|---|---|---|---|"
        );
        for r in &rows {
            let first = r
                .verdict()
                .reason()
                .map(str::to_owned)
                .or_else(|| first_failure(r))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "| [{id}](#{anchor}) | {title} | {verdict} | {first} |",
                id = r.id,
                anchor = anchor(&r.id),
                title = cell(&r.title),
                verdict = verdict_cell(r.verdict()),
                first = cell(&first),
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "## Details\n");
    for r in &report.results {
        let _ = writeln!(out, "### {}\n", r.id);
        let _ = writeln!(
            out,
            "**{}** — {}\n",
            cell(&r.title),
            verdict_cell(r.verdict())
        );
        let _ = writeln!(out, "- Source: {}", r.source);
        let _ = writeln!(out, "- Expected: {}", r.expected);
        if let Some(reason) = r.verdict().reason() {
            let _ = writeln!(out, "- Reason: {reason}");
        }
        let _ = writeln!(out, "- Duration: {:.1} s", r.duration.as_secs_f64());
        if !r.outcome.actual.is_empty() {
            let _ = writeln!(out, "- Actual:");
            for line in &r.outcome.actual {
                let _ = writeln!(out, "  - {}", line.replace('\n', " "));
            }
        }
        let _ = writeln!(out);
    }
    out
}

fn first_failure(r: &CaseResult) -> Option<String> {
    r.outcome
        .actual
        .iter()
        .find(|l| l.starts_with("FAILED"))
        .or_else(|| r.outcome.actual.iter().find(|l| !l.starts_with("note:")))
        .cloned()
}

/// GitHub-style heading anchor of a case id (`TF-01-UB` → `tf-01-ub`).
fn anchor(id: &str) -> String {
    id.to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The JUnit XML report.
pub fn junit(report: &RunReport) -> String {
    let s = report.summary();
    let total_time: f64 = report
        .results
        .iter()
        .map(|r| r.duration.as_secs_f64())
        .sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"sdk-conformance\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
        s.total,
        s.fail,
        s.not_applicable + s.needs_environment,
        total_time
    );
    for group in Group::ALL {
        let rows: Vec<&CaseResult> = report.results.iter().filter(|r| r.group == group).collect();
        if rows.is_empty() {
            continue;
        }
        let failures = rows
            .iter()
            .filter(|r| *r.verdict() == Verdict::Fail)
            .count();
        let skipped = rows
            .iter()
            .filter(|r| r.verdict().reason().is_some())
            .count();
        let time: f64 = rows.iter().map(|r| r.duration.as_secs_f64()).sum();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{time:.3}\" timestamp=\"{}\">",
            group.suite_name(),
            rows.len(),
            rfc3339(report.started)
        );
        for r in rows {
            let _ = writeln!(
                out,
                "    <testcase classname=\"sdk-conformance.{}\" name=\"{}: {}\" time=\"{:.3}\">",
                group.suite_name(),
                xml_escape(&r.id),
                xml_escape(&r.title),
                r.duration.as_secs_f64()
            );
            match r.verdict() {
                Verdict::Fail => {
                    let message = first_failure(r).unwrap_or_else(|| "failed".into());
                    let _ = writeln!(
                        out,
                        "      <failure message=\"{}\" type=\"fail\">expected: {}\n{}</failure>",
                        xml_escape(&message),
                        xml_escape(&r.expected),
                        xml_escape(&r.outcome.actual.join("\n"))
                    );
                }
                Verdict::NotApplicable(reason) | Verdict::NeedsEnvironment(reason) => {
                    let _ = writeln!(
                        out,
                        "      <skipped message=\"{}: {}\"/>",
                        r.verdict().label(),
                        xml_escape(reason)
                    );
                }
                Verdict::Pass => {}
            }
            if !r.outcome.actual.is_empty() {
                let _ = writeln!(
                    out,
                    "      <system-out>{}</system-out>",
                    xml_escape(&r.outcome.actual.join("\n"))
                );
            }
            let _ = writeln!(out, "    </testcase>");
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Writes both reports into `dir`; returns their paths.
pub fn write(report: &RunReport, dir: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let md = dir.join(MARKDOWN);
    let xml = dir.join(JUNIT);
    std::fs::write(&md, markdown(report))?;
    std::fs::write(&xml, junit(report))?;
    Ok((md, xml))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Outcome;
    use std::time::Duration;

    fn result(id: &str, group: Group, verdict: Verdict, actual: &[&str]) -> CaseResult {
        CaseResult {
            id: id.into(),
            group,
            title: format!("title of {id} <&>"),
            source: "[PG]".into(),
            expected: "refused".into(),
            outcome: Outcome {
                verdict,
                actual: actual.iter().map(|s| s.to_string()).collect(),
            },
            duration: Duration::from_millis(1500),
        }
    }

    fn report() -> RunReport {
        let t = time::OffsetDateTime::UNIX_EPOCH;
        RunReport {
            mode: "in-process".into(),
            target: "gut".into(),
            target_url: "https://localhost:1/as4".into(),
            started: t,
            finished: t,
            results: vec![
                result(
                    "TF-03",
                    Group::Official,
                    Verdict::Pass,
                    &["ok: refused (EBMS:0101)"],
                ),
                result(
                    "TF-08",
                    Group::Official,
                    Verdict::Fail,
                    &["note: sent", "FAILED: delivered (seen: 413)"],
                ),
                result(
                    "H-59",
                    Group::Hardening,
                    Verdict::NeedsEnvironment("a full disk".into()),
                    &[],
                ),
                result(
                    "TF-01-BAS",
                    Group::Rerun,
                    Verdict::NotApplicable("Bas is not used in SDK".into()),
                    &[],
                ),
            ],
            notes: vec!["PKI: target/x".into()],
        }
    }

    #[test]
    fn markdown_has_the_summary_a_table_per_group_and_every_case() {
        let md = markdown(&report());
        assert!(md.contains("4 cases — 1 pass, 1 fail, 1 not applicable, 1 need the environment"));
        assert!(md.contains("## DIGG's official test cases"));
        assert!(md.contains("## Hardening corpus"));
        assert!(md.contains(
            "| [TF-08](#tf-08) | title of TF-08 <&> | **FAIL** | FAILED: delivered (seen: 413) |"
        ));
        assert!(md.contains("### H-59"));
        assert!(md.contains("- Reason: a full disk"));
        assert!(
            !md.contains("## SDK test data"),
            "empty groups are left out"
        );
    }

    #[test]
    fn junit_counts_failures_and_skips_and_escapes() {
        let xml = junit(&report());
        assert!(xml.contains("tests=\"4\" failures=\"1\" skipped=\"2\""));
        assert!(xml.contains("name=\"TF-03: title of TF-03 &lt;&amp;&gt;\""));
        assert!(xml.contains("<failure message=\"FAILED: delivered (seen: 413)\""));
        assert!(xml.contains("<skipped message=\"needs-environment: a full disk\"/>"));
        assert!(xml.contains("<skipped message=\"not-applicable: Bas is not used in SDK\"/>"));
        // Well-formed for any XML parser.
        sdkgw_xml_security::xml::Document::parse_slice(
            xml.as_bytes(),
            &sdkgw_xml_security::xml::ParseOptions::default(),
        )
        .unwrap();
    }

    #[test]
    fn control_characters_never_reach_the_xml() {
        assert_eq!(xml_escape("a\u{1b}[31mb"), "a\u{FFFD}[31mb");
    }
}
