//! Every case of the suite, in report order.

pub(crate) mod announced;
mod assertions;
mod common;
mod hardening;
pub mod official;
mod testdata;

use crate::catalog::Case;

/// All cases: official, re-runs, announced, test data, hardening.
pub fn all() -> Vec<Case> {
    let mut v = official::cases();
    v.extend(announced::cases());
    v.extend(testdata::cases());
    v.extend(hardening::cases());
    v.sort_by_key(|c| c.group);
    v
}
