//! Path building and validation (RFC 5280 §6, the parts the federation needs).
//!
//! From the presented leaf, issuers are searched (depth first, with backtracking) among the
//! store's anchors and the supplied/configured intermediates by name, key identifier and
//! signature. On the way every certificate is checked: validity at the given instant,
//! basicConstraints and pathLen for CAs, keyCertSign, critical extensions we do not process
//! (rejected), acceptable keys and signature algorithms; the leaf's key usage must allow the
//! requested purpose. The first path ending in an anchor is then checked for revocation. When
//! no path is acceptable, the error of the search that got furthest is reported.

use std::marker::PhantomData;

use sdkgw_certs::Certificate;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::error::PathError;
use super::revocation::{RevocationChecker, RevocationOutcome, RevocationScope};
use super::role::{Purpose, TrustRole};
use super::signed::{self, SignedError};
use super::store::TrustStore;

/// Longest path considered (leaf and anchor included).
pub const MAX_PATH_LEN: usize = 8;

/// Critical extensions this validator processes; any other critical extension is refused.
const PROCESSED_CRITICAL: &[&str] = &[
    "2.5.29.19", // basicConstraints
    "2.5.29.15", // keyUsage
    "2.5.29.37", // extendedKeyUsage
    "2.5.29.17", // subjectAltName (critical when the subject is empty)
    "2.5.29.14", // subjectKeyIdentifier
    "2.5.29.35", // authorityKeyIdentifier
];

/// A certificate path that validated for role `R`: leaf first, anchor last.
#[derive(Debug, Clone)]
pub struct ValidPath<R: TrustRole> {
    chain: Vec<Certificate>,
    revocation: Vec<RevocationOutcome>,
    role: PhantomData<R>,
}

impl<R: TrustRole> ValidPath<R> {
    pub fn leaf(&self) -> &Certificate {
        &self.chain[0]
    }
    /// The whole path, leaf first, trust anchor last.
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }
    pub fn anchor(&self) -> &Certificate {
        &self.chain[self.chain.len() - 1]
    }
    /// Revocation outcome per checked certificate (leaf first; the anchor is never checked).
    pub fn revocation(&self) -> &[RevocationOutcome] {
        &self.revocation
    }
    pub fn role_name(&self) -> &'static str {
        R::NAME
    }
}

impl<R: TrustRole> TrustStore<R> {
    /// Validates `leaf` for `purpose` at instant `at`, using `presented` (e.g. the chain a peer
    /// sent) and the store's own intermediates to build the path, and `revocation` for status.
    pub fn validate(
        &self,
        leaf: &Certificate,
        presented: &[Certificate],
        purpose: R::Purpose,
        at: OffsetDateTime,
        revocation: &RevocationChecker,
    ) -> Result<ValidPath<R>, PathError> {
        check_leaf::<R>(leaf, purpose, at)?;
        self.validate_from(leaf, presented, at, revocation, R::REQUIRES_PINNED_ISSUER)
    }

    /// Validates a CA certificate (e.g. a configured intermediate, or the pinned issuing CA)
    /// up to this store's anchors: the CA checks apply to it instead of the leaf checks, and
    /// it need not be pinned itself.
    pub fn validate_ca(
        &self,
        ca: &Certificate,
        presented: &[Certificate],
        at: OffsetDateTime,
        revocation: &RevocationChecker,
    ) -> Result<ValidPath<R>, PathError> {
        check_ca(ca, std::slice::from_ref(ca), at)?;
        if self.is_anchor(ca) {
            return Ok(ValidPath {
                chain: vec![ca.clone()],
                revocation: Vec::new(),
                role: PhantomData,
            });
        }
        self.validate_from(ca, presented, at, revocation, false)
    }

    fn validate_from(
        &self,
        start: &Certificate,
        presented: &[Certificate],
        at: OffsetDateTime,
        revocation: &RevocationChecker,
        pin_first_issuer: bool,
    ) -> Result<ValidPath<R>, PathError> {
        let mut pool: Vec<&Certificate> = Vec::new();
        for c in presented
            .iter()
            .chain(self.intermediates())
            .chain(self.pinned_issuers())
        {
            if !pool.contains(&c) && !self.is_anchor(c) && c != start {
                pool.push(c);
            }
        }
        let mut search = Search {
            store: self,
            pool,
            at,
            pin_first_issuer,
            best: None,
        };
        let mut chain = vec![start.clone()];
        let chain = match search.extend(&mut chain) {
            Some(chain) => chain,
            None => {
                return Err(search
                    .best
                    .map(|(_, e)| e)
                    .unwrap_or_else(|| unknown_issuer::<R>(start)));
            }
        };
        let checked = match revocation.policy().scope {
            RevocationScope::WholeChain => chain.len() - 1,
            RevocationScope::LeafOnly => 1,
        };
        let outcomes = (0..checked)
            .map(|i| revocation.check(&chain[i], &chain[i + 1], at))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ValidPath {
            chain,
            revocation: outcomes,
            role: PhantomData,
        })
    }
}

struct Search<'a, R: TrustRole> {
    store: &'a TrustStore<R>,
    pool: Vec<&'a Certificate>,
    at: OffsetDateTime,
    /// Whether the first certificate's issuer must be one of the pinned CAs.
    pin_first_issuer: bool,
    /// The error found deepest in the search so far, with its depth.
    best: Option<(usize, PathError)>,
}

impl<R: TrustRole> Search<'_, R> {
    fn record(&mut self, depth: usize, error: PathError) {
        if self.best.as_ref().is_none_or(|(d, _)| depth > *d) {
            self.best = Some((depth, error));
        }
    }

    /// Extends `chain` (leaf first) to an anchor; `None` when no extension is acceptable.
    fn extend(&mut self, chain: &mut Vec<Certificate>) -> Option<Vec<Certificate>> {
        let depth = chain.len() - 1;
        let current = chain[depth].clone();
        let pinned = depth == 0 && self.pin_first_issuer;
        let candidates = self.candidates(&current, chain, pinned);
        if candidates.is_empty() {
            let error = self.no_issuer_error(&current, pinned);
            self.record(depth, error);
            return None;
        }
        for (issuer, is_anchor) in candidates {
            if let (Some(aki), Some(ski)) = (current.authority_key_id(), issuer.subject_key_id())
                && aki != ski
            {
                self.record(depth, unknown_issuer::<R>(&current));
                continue;
            }
            if let Err(e) = check_signed_by(&current, &issuer) {
                self.record(depth, e);
                continue;
            }
            if let Err(e) = check_ca(&issuer, chain, self.at) {
                self.record(depth + 1, e);
                continue;
            }
            chain.push(issuer);
            if is_anchor {
                return Some(chain.clone());
            }
            if chain.len() >= MAX_PATH_LEN {
                self.record(depth + 1, PathError::ChainTooLong(MAX_PATH_LEN));
            } else if let Some(done) = self.extend(chain) {
                return Some(done);
            }
            chain.pop();
        }
        None
    }

    /// Possible issuers of `current`, anchors first; with `pinned`, only the pinned issuing CAs.
    fn candidates(
        &self,
        current: &Certificate,
        chain: &[Certificate],
        pinned: bool,
    ) -> Vec<(Certificate, bool)> {
        let names = |c: &&Certificate| c.subject_der() == current.issuer_der();
        if pinned {
            return self
                .store
                .pinned_issuers()
                .iter()
                .filter(names)
                .map(|c| (c.clone(), self.store.is_anchor(c)))
                .collect();
        }
        let anchors = self
            .store
            .anchors()
            .iter()
            .filter(names)
            .map(|c| (c.clone(), true));
        let others = self
            .pool
            .iter()
            .copied()
            .filter(names)
            .filter(|c| !chain.contains(c))
            .map(|c| (c.clone(), false));
        anchors.chain(others).collect()
    }

    fn no_issuer_error(&self, current: &Certificate, pinned: bool) -> PathError {
        if let Some(env) = self.store.foreign_environment_of(current.issuer_der()) {
            return PathError::WrongEnvironment {
                subject: current.subject().to_owned(),
                issuer: current.issuer().to_owned(),
                found: env.to_owned(),
                expected: self.store.environment().to_owned(),
            };
        }
        let known = self
            .store
            .anchors()
            .iter()
            .chain(self.pool.iter().copied())
            .any(|c| c.subject_der() == current.issuer_der());
        if pinned && known {
            return PathError::IssuerNotPinned {
                subject: current.subject().to_owned(),
                issuer: current.issuer().to_owned(),
                pinned: self
                    .store
                    .pinned_issuers()
                    .iter()
                    .map(|p| p.subject())
                    .collect::<Vec<_>>()
                    .join(" | "),
            };
        }
        unknown_issuer::<R>(current)
    }
}

fn unknown_issuer<R: TrustRole>(cert: &Certificate) -> PathError {
    PathError::UnknownIssuer {
        subject: cert.subject().to_owned(),
        issuer: cert.issuer().to_owned(),
        role: R::NAME,
    }
}

fn check_leaf<R: TrustRole>(
    leaf: &Certificate,
    purpose: R::Purpose,
    at: OffsetDateTime,
) -> Result<(), PathError> {
    check_validity(leaf, at)?;
    if leaf.is_ca() {
        return Err(PathError::CaAsLeaf {
            subject: leaf.subject().to_owned(),
        });
    }
    check_critical_extensions(leaf)?;
    signed::check_key(leaf).map_err(|detail| PathError::WeakKey {
        subject: leaf.subject().to_owned(),
        detail,
    })?;
    purpose
        .check(leaf)
        .map_err(|detail| PathError::UsageNotAllowed {
            subject: leaf.subject().to_owned(),
            purpose: purpose.name(),
            role: R::NAME,
            detail,
        })
}

fn check_validity(cert: &Certificate, at: OffsetDateTime) -> Result<(), PathError> {
    if at < cert.not_before() {
        return Err(PathError::NotYetValid {
            subject: cert.subject().to_owned(),
            not_before: cert.not_before(),
        });
    }
    if at > cert.not_after() {
        return Err(PathError::Expired {
            subject: cert.subject().to_owned(),
            not_after: cert.not_after(),
        });
    }
    Ok(())
}

/// Checks `ca` as the issuer of `below.last()`, where `below` is the path from the leaf.
fn check_ca(ca: &Certificate, below: &[Certificate], at: OffsetDateTime) -> Result<(), PathError> {
    let subject = || ca.subject().to_owned();
    check_validity(ca, at)?;
    let Some(bc) = ca.basic_constraints().filter(|bc| bc.ca) else {
        return Err(PathError::NotCa { subject: subject() });
    };
    if ca.key_usage().is_some_and(|ku| !ku.key_cert_sign) {
        return Err(PathError::CaKeyUsage { subject: subject() });
    }
    if let Some(max) = bc.path_len {
        // Intermediates between this CA and the leaf; self-issued ones do not count.
        let intermediates = below[1..].iter().filter(|c| !c.is_self_issued()).count();
        if intermediates > max as usize {
            return Err(PathError::PathLenExceeded { subject: subject() });
        }
    }
    check_critical_extensions(ca)
}

fn check_signed_by(cert: &Certificate, issuer: &Certificate) -> Result<(), PathError> {
    signed::verify(
        cert.tbs_der(),
        cert.signature_algorithm(),
        cert.signature(),
        issuer,
    )
    .map_err(|e| match e {
        SignedError::Algorithm(algorithm) => PathError::UnsupportedSignatureAlgorithm {
            subject: cert.subject().to_owned(),
            algorithm,
        },
        SignedError::Key(detail) => PathError::WeakKey {
            subject: issuer.subject().to_owned(),
            detail,
        },
        SignedError::Invalid => PathError::BadSignature {
            subject: cert.subject().to_owned(),
            issuer: issuer.subject().to_owned(),
        },
    })
}

fn check_critical_extensions(cert: &Certificate) -> Result<(), PathError> {
    let (_, parsed) = X509Certificate::from_der(cert.der()).map_err(|e| PathError::Malformed {
        subject: cert.subject().to_owned(),
        detail: e.to_string(),
    })?;
    let unprocessed = parsed
        .extensions()
        .iter()
        .filter(|e| e.critical)
        .map(|e| e.oid.to_id_string())
        .find(|oid| !PROCESSED_CRITICAL.contains(&oid.as_str()));
    match unprocessed {
        Some(oid) => Err(PathError::UnknownCriticalExtension {
            subject: cert.subject().to_owned(),
            oid,
        }),
        None => Ok(()),
    }
}
