//! What a case comes to: a verdict with the outcome actually observed.

use std::fmt;

/// The verdict of one case.
///
/// * `Pass`: every assertion of the case was made and held.
/// * `Fail`: at least one assertion was made and did not hold (or the case could not run
///   although it should have).
/// * `NotApplicable`: the case does not apply to this target or mode (the reason says why,
///   e.g. "Bas is not used in SDK QA").
/// * `NeedsEnvironment`: the case cannot be decided here; it needs DIGG's environment or
///   infrastructure the run does not have (test-cases digest §3.4). Never a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    NotApplicable(String),
    NeedsEnvironment(String),
}

impl Verdict {
    /// The report label.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::NotApplicable(_) => "not-applicable",
            Verdict::NeedsEnvironment(_) => "needs-environment",
        }
    }

    /// The reason of a not-applicable or needs-environment verdict.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Verdict::NotApplicable(r) | Verdict::NeedsEnvironment(r) => Some(r),
            _ => None,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// What a case observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub verdict: Verdict,
    /// The actual outcome, one line per observation.
    pub actual: Vec<String>,
}

impl Outcome {
    pub fn not_applicable(reason: impl Into<String>) -> Self {
        Outcome {
            verdict: Verdict::NotApplicable(reason.into()),
            actual: Vec::new(),
        }
    }

    pub fn needs_environment(reason: impl Into<String>) -> Self {
        Outcome {
            verdict: Verdict::NeedsEnvironment(reason.into()),
            actual: Vec::new(),
        }
    }

    /// A case that could not be carried out (setup broke): a failure.
    pub fn broken(what: impl fmt::Display) -> Self {
        Outcome {
            verdict: Verdict::Fail,
            actual: vec![format!("could not run: {what}")],
        }
    }
}

/// The assertions of one case, collected in order. Each records what was expected, what was
/// seen and whether it held; the outcome is a pass only when there was at least one assertion
/// and all held.
#[derive(Debug, Default)]
pub struct Checks {
    lines: Vec<String>,
    failed: usize,
    made: usize,
}

impl Checks {
    pub fn new() -> Self {
        Self::default()
    }

    /// One assertion: `what` held (`ok`), with what was actually seen.
    pub fn check(&mut self, ok: bool, what: impl fmt::Display, seen: impl fmt::Display) -> bool {
        self.made += 1;
        if ok {
            self.lines.push(format!("ok: {what} ({seen})"));
        } else {
            self.failed += 1;
            self.lines.push(format!("FAILED: {what} (seen: {seen})"));
        }
        ok
    }

    /// An observation that is not an assertion (context for the reader).
    pub fn note(&mut self, text: impl fmt::Display) {
        self.lines.push(format!("note: {text}"));
    }

    /// A step that failed before the assertions could be made.
    pub fn broken(&mut self, what: impl fmt::Display) {
        self.made += 1;
        self.failed += 1;
        self.lines.push(format!("FAILED: could not run: {what}"));
    }

    pub fn failed(&self) -> bool {
        self.failed > 0
    }

    pub fn outcome(self) -> Outcome {
        let verdict = if self.failed == 0 && self.made > 0 {
            Verdict::Pass
        } else {
            Verdict::Fail
        };
        let mut actual = self.lines;
        if self.made == 0 {
            actual.push("FAILED: the case made no assertion".into());
        }
        Outcome { verdict, actual }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_checks_holding_is_a_pass() {
        let mut c = Checks::new();
        c.check(true, "receipt returned", "200");
        c.note("context");
        let o = c.outcome();
        assert_eq!(o.verdict, Verdict::Pass);
        assert_eq!(o.actual.len(), 2);
    }

    #[test]
    fn one_failed_check_is_a_failure() {
        let mut c = Checks::new();
        c.check(true, "a", "x");
        c.check(false, "b", "y");
        let o = c.outcome();
        assert_eq!(o.verdict, Verdict::Fail);
        assert!(o.actual[1].starts_with("FAILED: b"));
    }

    #[test]
    fn a_case_without_assertions_fails() {
        let mut c = Checks::new();
        c.note("nothing checked");
        assert_eq!(c.outcome().verdict, Verdict::Fail);
    }
}
