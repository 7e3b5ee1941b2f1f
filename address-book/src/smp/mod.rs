//! The SMP client (OASIS BDXR SMP 1.0 as DIGG profiles it; addressing digest §1.4–1.8).
//!
//! - [`verify`]: hardened parse, structure, signature and signer checks of a
//!   SignedServiceMetadata; [`VerifiedMetadata`] is the only door to its content.
//! - [`metadata`]: the content (identifiers cross-checked with the request, processes,
//!   endpoints, CertPub), read only from the verified tree.
//! - [`service_group`]: the unsigned ServiceGroup, as a capability list.
//! - [`client`]: locate the SMP, GET over HTTPS, classify the answer, verify and validate.

pub mod client;
pub mod metadata;
pub mod service_group;
pub mod verify;

pub use client::{HttpAnswer, HttpsTransport, SmpClient, SmpTransport, TransportSettings};
pub use metadata::{Endpoint, Process, ServiceMetadata};
pub use service_group::ServiceGroup;
pub use verify::{VerifiedMetadata, smp_policy, verify_signed_metadata};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Parses an `xs:dateTime` (`2026-01-01T00:00:00Z`, with offset or fraction; without a
/// time zone it is taken as UTC) or an `xs:date` (midnight UTC).
pub(crate) fn xsd_date_time(text: &str) -> Result<OffsetDateTime, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "{:?} is not an xs:dateTime",
            t.chars().take(40).collect::<String>()
        )
    };
    if t.len() == 10 {
        return OffsetDateTime::parse(&format!("{t}T00:00:00Z"), &Rfc3339).map_err(|_| bad());
    }
    if let Ok(v) = OffsetDateTime::parse(t, &Rfc3339) {
        return Ok(v);
    }
    OffsetDateTime::parse(&format!("{t}Z"), &Rfc3339).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xsd_date_times_with_and_without_zone_and_plain_dates_parse() {
        let utc = xsd_date_time("2026-03-01T10:00:00Z").unwrap();
        assert_eq!(xsd_date_time(" 2026-03-01T10:00:00 ").unwrap(), utc);
        assert_eq!(
            xsd_date_time("2026-03-01T11:00:00+01:00").unwrap(),
            utc,
            "offsets are honoured"
        );
        assert_eq!(
            xsd_date_time("2026-03-01").unwrap(),
            xsd_date_time("2026-03-01T00:00:00Z").unwrap()
        );
        assert!(xsd_date_time("2026-03-01T10:00:00.250Z").is_ok());
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-03-01T25:00:00",
        ] {
            assert!(xsd_date_time(bad).is_err(), "{bad}");
        }
    }
}
