//! BDXL discovery: participant id → DNS name in the SML zone → U-NAPTR → SMP base URL
//! (addressing digest §1.3; OASIS BDXL 1.0, RFC 4848).
//!
//! The DNS name is `base32(sha256(lower(value)))` without padding, lower case, then
//! `.iso6523-actorid-upis.` and the zone. Only the value (ICD included) is hashed, never the
//! scheme. DIGG does not use the legacy PEPPOL `B-<md5>` CNAME style.

mod naptr;

use std::fmt;

use aws_lc_rs::digest;
use data_encoding::BASE32_NOPAD;
use sdkgw_schemas::{ParticipantId, codelists};

pub use naptr::{NaptrRecord, SkipReason, SkippedRecord, select_smp_url};

use crate::resolver::{DnsError, Resolver};
use crate::smp_url::SmpBaseUrl;

/// The hash label of a participant value: `base32(sha256(lower(value)))`, no `=` padding,
/// lower case (52 characters). Takes the raw value (`0088:123ABC`) so that vectors of any
/// ICD can be checked; [`participant_dns_name`] is the typed entry point.
pub fn participant_label(value: &str) -> String {
    let hash = digest::digest(&digest::SHA256, value.to_lowercase().as_bytes());
    BASE32_NOPAD.encode(hash.as_ref()).to_ascii_lowercase()
}

/// `<label>.iso6523-actorid-upis.<zone>`: the name queried for NAPTR (no trailing dot).
pub fn participant_dns_name(participant: &ParticipantId, zone: &SmlZone) -> String {
    format!(
        "{}.{}.{}",
        participant_label(participant.value()),
        participant.scheme(),
        zone.as_str()
    )
}

/// An SML (BDXL) DNS zone, e.g. `acc.edelivery.tech.ec.europa.eu`: lower case, no trailing
/// dot. DIGG does not publish its zones in the spec texts, so this is per-environment
/// configuration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SmlZone {
    name: String,
}

/// Why a text is not a DNS zone name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SML zone {given:?} is not a DNS name ({reason})")]
pub struct SmlZoneError {
    /// The input (shortened).
    pub given: String,
    /// What is wrong.
    pub reason: &'static str,
}

impl SmlZone {
    /// Parses a zone name; one trailing dot is accepted and dropped, case is folded.
    pub fn parse(input: &str) -> Result<Self, SmlZoneError> {
        let err = |reason| SmlZoneError {
            given: input.chars().take(80).collect(),
            reason,
        };
        let name = input.strip_suffix('.').unwrap_or(input);
        // 253 minus the 52-character hash label and the scheme label with their dots.
        if name.is_empty() || name.len() > 253 - 52 - 22 {
            return Err(err("empty, or too long to hold a participant name"));
        }
        for label in name.split('.') {
            let ldh = label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            let edge = label.starts_with('-') || label.ends_with('-');
            if label.is_empty() || label.len() > 63 || !ldh || edge {
                return Err(err(
                    "labels must be 1-63 letters, digits, '-' or '_', not starting or ending with '-'",
                ));
            }
        }
        Ok(Self {
            name: name.to_ascii_lowercase(),
        })
    }

    /// The zone name.
    pub fn as_str(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for SmlZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Why BDXL gave no SMP. The three outcomes the sender must tell apart (digest §1.3, §6.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// NXDOMAIN or NODATA: the participant is not registered (permanent for this attempt;
    /// the sending participant must be told).
    #[error("participant is not registered in the SML ({name}: {cause})")]
    NotRegistered {
        /// The name queried.
        name: String,
        /// NXDOMAIN or NODATA.
        cause: DnsError,
    },
    /// Records exist but none is a usable `U`/`Meta:SMP` record with an http(s) result.
    #[error("no SMP in the NAPTR records of {name} ({} records, none usable{})", skipped.len(), first_reason(skipped))]
    NoSmp {
        /// The name queried.
        name: String,
        /// Every record and why it was skipped.
        skipped: Vec<SkippedRecord>,
    },
    /// SERVFAIL, timeout, network error, malformed answer: try again later.
    #[error("SML lookup of {name} failed, try again later: {cause}")]
    Transient {
        /// The name queried.
        name: String,
        /// What failed.
        cause: DnsError,
    },
}

fn first_reason(skipped: &[SkippedRecord]) -> String {
    skipped
        .first()
        .map(|s| format!("; first: {}", s.reason))
        .unwrap_or_default()
}

/// Finds the SMP of `participant` in `zone` through `resolver`.
pub async fn discover(
    resolver: &dyn Resolver,
    zone: &SmlZone,
    participant: &ParticipantId,
) -> Result<SmpBaseUrl, DiscoveryError> {
    let name = participant_dns_name(participant, zone);
    match resolver.naptr(&name).await {
        Ok(answer) => select_smp_url(&answer.records, codelists().naptr_service())
            .map_err(|skipped| DiscoveryError::NoSmp { name, skipped }),
        Err(cause) if cause.is_not_registered() => {
            Err(DiscoveryError::NotRegistered { name, cause })
        }
        Err(cause) => Err(DiscoveryError::Transient { name, cause }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // DNS-01: every vector of the digest's §1.3 table, phax's included.
    #[test]
    fn hash_labels_match_the_published_vectors() {
        for (value, label) in [
            (
                "0010:5798000000001",
                "xukhfqabqziki3ykvr2fhr4snfa3pf5vpq6k4tonv3lmvsy5arvq",
            ),
            (
                "0088:123ABC",
                "y7dzfxaf3d4cjz4kcgrxtec6twvcga4ky7zwa5boif6mswd4tdrq",
            ),
            (
                "0088:123abc",
                "y7dzfxaf3d4cjz4kcgrxtec6twvcga4ky7zwa5boif6mswd4tdrq",
            ),
            (
                "0203:sundbyberg.se",
                "icy7ra4xv2nezihwixutndogwrmrtasibauhbuofirmaqc3j3ika",
            ),
            (
                "0203:Sundbyberg.SE",
                "icy7ra4xv2nezihwixutndogwrmrtasibauhbuofirmaqc3j3ika",
            ),
            (
                "0203:digg-test1.example.se",
                "v5su5whv23h2ilouezygupwx5mnefcnmjykvqqsfiblq5kdecuha",
            ),
            (
                "0203:digg-qa01.example.se",
                "r3qq6kn5v32am3udszqak4llbozly7ajiwa3ggym7xkt7knfbnza",
            ),
        ] {
            assert_eq!(participant_label(value), label, "{value}");
            assert_eq!(label.len(), 52);
        }
    }

    #[test]
    fn dns_name_is_label_scheme_and_zone() {
        let zone = SmlZone::parse("SDK.Test.").unwrap();
        assert_eq!(zone.as_str(), "sdk.test");
        let p: ParticipantId = "iso6523-actorid-upis::0203:Sundbyberg.SE".parse().unwrap();
        assert_eq!(
            participant_dns_name(&p, &zone),
            "icy7ra4xv2nezihwixutndogwrmrtasibauhbuofirmaqc3j3ika.iso6523-actorid-upis.sdk.test"
        );
    }

    fn naptr(url: &str) -> crate::resolver::NaptrAnswer {
        crate::resolver::NaptrAnswer::for_smp(url, std::time::Duration::from_secs(3600))
    }

    // DNS-05 (outcome mapping; the wire-level cases are in tests/bdxl_dns.rs).
    #[tokio::test]
    async fn dns_outcomes_map_to_not_registered_transient_and_no_smp() {
        use crate::resolver::MemoryResolver;
        let zone = SmlZone::parse("sdk.test").unwrap();
        let p: ParticipantId = "0203:sundbyberg.se".parse().unwrap();
        let name = participant_dns_name(&p, &zone);
        let dns = MemoryResolver::new();
        dns.set(&name, Ok(naptr("https://smp.example.se/")));
        assert_eq!(
            discover(&dns, &zone, &p).await.unwrap().to_string(),
            "https://smp.example.se"
        );
        for (answer, expect_not_registered) in [
            (Err(DnsError::NxDomain), true),
            (Err(DnsError::NoData), true),
            (Err(DnsError::ServFail), false),
            (
                Err(DnsError::Timeout(std::time::Duration::from_secs(2))),
                false,
            ),
        ] {
            dns.set(&name, answer.clone());
            match discover(&dns, &zone, &p).await {
                Err(DiscoveryError::NotRegistered { .. }) => assert!(expect_not_registered),
                Err(DiscoveryError::Transient { .. }) => assert!(!expect_not_registered),
                other => panic!("{answer:?}: {other:?}"),
            }
        }
        dns.set(&name, Ok(naptr("sip:smp@example.se")));
        let err = discover(&dns, &zone, &p).await.unwrap_err();
        assert!(matches!(&err, DiscoveryError::NoSmp { skipped, .. } if skipped.len() == 1));
        assert!(err.to_string().contains("not an http(s) URL"), "{err}");
    }

    #[test]
    fn zone_must_be_a_dns_name() {
        for bad in [
            "",
            ".",
            "a..b",
            "a b.se",
            "-.x",
            &"a".repeat(64),
            &"ab.".repeat(70),
        ] {
            assert!(SmlZone::parse(bad).is_err(), "{bad:?}");
        }
        assert!(SmlZone::parse("acc.edelivery.tech.ec.europa.eu").is_ok());
    }
}
