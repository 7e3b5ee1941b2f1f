//! The cases and how they are run: each has an id, where it comes from, what is expected and
//! a runner; [`run`] executes them one after the other (the peer and the target are shared
//! state), each in its own task with a time limit, so a case that hangs or panics fails alone.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::harness::Ctx;
use crate::verdict::{Outcome, Verdict};

/// The part of the report a case belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    /// DIGG's official cases ([PG] TF-01…TF-10, [TM] TF-01).
    Official,
    /// [PG] §5.2.1: TF-01…TF-04 again for each transport model.
    Rerun,
    /// Announced, not yet official ([PG] §7, F-01…F-08).
    Announced,
    /// SDK test data files (`min.xml`, `TF2.4.x`, our `max`).
    TestData,
    /// The hardening corpus (test-cases digest §4, H-01…H-66).
    Hardening,
}

impl Group {
    pub const ALL: [Group; 5] = [
        Group::Official,
        Group::Rerun,
        Group::Announced,
        Group::TestData,
        Group::Hardening,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Group::Official => "DIGG's official test cases",
            Group::Rerun => "Re-runs per transport model ([PG] §5.2.1)",
            Group::Announced => "Announced test cases ([PG] §7)",
            Group::TestData => "SDK test data (message service)",
            Group::Hardening => "Hardening corpus",
        }
    }

    /// JUnit `testsuite` name.
    pub fn suite_name(self) -> &'static str {
        match self {
            Group::Official => "official",
            Group::Rerun => "rerun",
            Group::Announced => "announced",
            Group::TestData => "testdata",
            Group::Hardening => "hardening",
        }
    }
}

/// The future a runner returns.
pub type CaseFuture = Pin<Box<dyn Future<Output = Outcome> + Send>>;
/// A case's body.
pub type Runner = Arc<dyn Fn(Arc<Ctx>) -> CaseFuture + Send + Sync>;

/// One case.
#[derive(Clone)]
pub struct Case {
    pub id: String,
    pub group: Group,
    pub title: String,
    /// Where it comes from (DIGG document and section, or our digest).
    pub source: String,
    /// The expected outcome.
    pub expected: String,
    pub run: Runner,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case").field("id", &self.id).finish()
    }
}

impl Case {
    pub fn new<F, Fut>(
        id: impl Into<String>,
        group: Group,
        title: impl Into<String>,
        source: impl Into<String>,
        expected: impl Into<String>,
        run: F,
    ) -> Case
    where
        F: Fn(Arc<Ctx>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        Case {
            id: id.into(),
            group,
            title: title.into(),
            source: source.into(),
            expected: expected.into(),
            run: Arc::new(move |ctx| Box::pin(run(ctx))),
        }
    }

    /// A case that cannot be decided by the suite at all (no runner needed).
    pub fn needs_environment(
        id: impl Into<String>,
        group: Group,
        title: impl Into<String>,
        source: impl Into<String>,
        expected: impl Into<String>,
        reason: impl Into<String>,
    ) -> Case {
        let reason = reason.into();
        Case::new(id, group, title, source, expected, move |_| {
            let r = reason.clone();
            async move { Outcome::needs_environment(r) }
        })
    }
}

/// The result of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub id: String,
    pub group: Group,
    pub title: String,
    pub source: String,
    pub expected: String,
    pub outcome: Outcome,
    pub duration: Duration,
}

impl CaseResult {
    pub fn verdict(&self) -> &Verdict {
        &self.outcome.verdict
    }
}

/// A whole run.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub mode: String,
    pub target: String,
    pub target_url: String,
    pub started: OffsetDateTime,
    pub finished: OffsetDateTime,
    pub results: Vec<CaseResult>,
    /// Facts about the run (PKI, SMP, versions).
    pub notes: Vec<String>,
}

/// Counts per verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub total: usize,
    pub pass: usize,
    pub fail: usize,
    pub not_applicable: usize,
    pub needs_environment: usize,
}

impl RunReport {
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            total: self.results.len(),
            ..Summary::default()
        };
        for r in &self.results {
            match r.verdict() {
                Verdict::Pass => s.pass += 1,
                Verdict::Fail => s.fail += 1,
                Verdict::NotApplicable(_) => s.not_applicable += 1,
                Verdict::NeedsEnvironment(_) => s.needs_environment += 1,
            }
        }
        s
    }

    /// The one summary line (printed, and the first line of the Markdown report's summary).
    pub fn summary_line(&self) -> String {
        let s = self.summary();
        format!(
            "sdk-conformance ({}): {} cases — {} pass, {} fail, {} not applicable, {} need the environment",
            self.mode, s.total, s.pass, s.fail, s.not_applicable, s.needs_environment
        )
    }
}

/// Whether `id` is selected by the `only` filters (exact ids or prefixes ending in `*`).
pub fn selected(id: &str, only: &[String]) -> bool {
    only.is_empty()
        || only.iter().any(|f| match f.strip_suffix('*') {
            Some(prefix) => id.starts_with(prefix),
            None => id == f,
        })
}

/// Runs `cases` one after the other; `progress` is called after each.
pub async fn run(
    ctx: Arc<Ctx>,
    cases: Vec<Case>,
    limit: Duration,
    progress: &(dyn Fn(&CaseResult) + Sync),
) -> Vec<CaseResult> {
    let mut results = Vec::with_capacity(cases.len());
    for case in cases {
        ctx.peer.knobs.reset();
        let started = Instant::now();
        let mut task = tokio::spawn((case.run)(Arc::clone(&ctx)));
        let outcome = match tokio::time::timeout(limit, &mut task).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => Outcome::broken(format!("the case panicked: {e}")),
            Err(_) => {
                task.abort();
                Outcome::broken(format!("no outcome within {} s", limit.as_secs()))
            }
        };
        let result = CaseResult {
            id: case.id,
            group: case.group,
            title: case.title,
            source: case.source,
            expected: case.expected,
            outcome,
            duration: started.elapsed(),
        };
        progress(&result);
        results.push(result);
    }
    ctx.peer.knobs.reset();
    results
}

#[cfg(test)]
mod tests {
    use super::selected;

    #[test]
    fn filters_select_exact_ids_and_prefixes() {
        assert!(selected("TF-03", &[]));
        assert!(selected("TF-03", &["TF-03".into()]));
        assert!(!selected("TF-03-UB", &["TF-03".into()]));
        assert!(selected("H-12", &["H-*".into()]));
        assert!(!selected("F-01", &["H-*".into(), "TF-01".into()]));
    }
}
