//! SMP base URLs and the REST paths of OASIS BDXR SMP 1.0 (addressing digest §1.4).
//!
//! Each `scheme::value` path segment is percent-encoded as a whole, keeping only
//! `A-Z a-z 0-9 - . _ ~` and writing upper-case hex, so `:` becomes `%3A` and the `##` of SDK
//! document ids becomes `%23%23` (unencoded, it would start a URL fragment).

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sdkgw_schemas::{DocumentId, ParticipantId};

/// RFC 3986 unreserved characters stay; everything else is encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Longest accepted base URL.
const MAX_URL: usize = 2048;

/// Percent-encodes one whole path segment (RFC 3986 unreserved kept, upper-case hex).
pub fn encode_segment(segment: &str) -> String {
    utf8_percent_encode(segment, SEGMENT).to_string()
}

/// `/{participantScheme}::{participantValue}`, encoded: the ServiceGroup path.
pub fn service_group_path(participant: &ParticipantId) -> String {
    format!("/{}", encode_segment(&participant.qualified()))
}

/// `/{participantScheme}::{participantValue}/services/{docScheme}::{docValue}`, encoded: the
/// SignedServiceMetadata path.
pub fn service_metadata_path(participant: &ParticipantId, document: &DocumentId) -> String {
    format!(
        "{}/services/{}",
        service_group_path(participant),
        encode_segment(&document.qualified())
    )
}

/// An SMP base URL: `http(s)://authority[/path-prefix]`, no query, fragment or user info.
/// The path prefix is kept without trailing `/`, so joining never doubles or drops a slash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SmpBaseUrl {
    https: bool,
    authority: String,
    prefix: String,
}

/// Why a text is not a usable SMP base URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmpUrlError {
    /// Not a URI at all.
    #[error("SMP URL {given:?} is not a valid absolute URL: {reason}")]
    Invalid {
        /// The input (shortened).
        given: String,
        /// The parser's complaint.
        reason: String,
    },
    /// A scheme other than http/https (e.g. `sip:` from a foreign NAPTR).
    #[error("SMP URL {given:?} is not http(s)")]
    NotHttp {
        /// The input (shortened).
        given: String,
    },
    /// Query, fragment or user info: none of them belongs in a base URL.
    #[error("SMP URL {given:?} must not carry a query, fragment or user info")]
    Extras {
        /// The input (shortened).
        given: String,
    },
    /// Longer than any sane base URL.
    #[error("SMP URL is {len} bytes long; at most {MAX_URL} are accepted")]
    TooLong {
        /// Length in bytes.
        len: usize,
    },
}

impl SmpBaseUrl {
    /// Parses an absolute `http`/`https` URL with an optional path prefix; a trailing `/` is
    /// optional.
    pub fn parse(input: &str) -> Result<Self, SmpUrlError> {
        let given = || shorten(input);
        if input.len() > MAX_URL {
            return Err(SmpUrlError::TooLong { len: input.len() });
        }
        if input.contains(['?', '#']) {
            return Err(SmpUrlError::Extras { given: given() });
        }
        let uri: http::Uri =
            input
                .parse()
                .map_err(|e: http::uri::InvalidUri| SmpUrlError::Invalid {
                    given: given(),
                    reason: e.to_string(),
                })?;
        let https = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            _ => return Err(SmpUrlError::NotHttp { given: given() }),
        };
        let authority = uri.authority().ok_or_else(|| SmpUrlError::Invalid {
            given: given(),
            reason: "no host".into(),
        })?;
        if authority.as_str().contains('@') || authority.host().is_empty() {
            return Err(SmpUrlError::Extras { given: given() });
        }
        Ok(Self {
            https,
            authority: authority.as_str().to_owned(),
            prefix: uri.path().trim_end_matches('/').to_owned(),
        })
    }

    /// Whether the URL is `https` (QA/PROD SMPs are; plain http is for local fakes).
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The host (without port).
    pub fn host(&self) -> &str {
        self.authority
            .rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(self.authority.as_str(), |(host, _)| host)
    }

    /// `scheme://authority` + path prefix, without trailing `/`.
    fn base(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}{}", self.authority, self.prefix)
    }

    /// The ServiceGroup URL of a participant.
    pub fn service_group_url(&self, participant: &ParticipantId) -> String {
        format!("{}{}", self.base(), service_group_path(participant))
    }

    /// The SignedServiceMetadata URL of a participant and document type.
    pub fn service_metadata_url(
        &self,
        participant: &ParticipantId,
        document: &DocumentId,
    ) -> String {
        format!(
            "{}{}",
            self.base(),
            service_metadata_path(participant, document)
        )
    }
}

impl fmt::Display for SmpBaseUrl {
    /// The normalised base (`https://smp.example.se/prefix`, no trailing `/`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base())
    }
}

impl std::str::FromStr for SmpBaseUrl {
    type Err = SmpUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn shorten(s: &str) -> String {
    const MAX: usize = 120;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use sdkgw_schemas::{TransportModel, codelists};

    use super::*;

    fn sundbyberg() -> ParticipantId {
        "0203:sundbyberg.se".parse().unwrap()
    }

    // EN-01
    #[test]
    fn service_group_path_is_exact() {
        assert_eq!(
            service_group_path(&sundbyberg()),
            "/iso6523-actorid-upis%3A%3A0203%3Asundbyberg.se"
        );
    }

    // EN-02: byte-equal to the digest's §1.4 examples.
    #[test]
    fn metadata_paths_for_message_and_receipt_are_exact() {
        let message = codelists().sdk_message_document(TransportModel::ExtSigenc);
        assert_eq!(
            service_metadata_path(&sundbyberg(), message),
            "/iso6523-actorid-upis%3A%3A0203%3Asundbyberg.se/services/busdox-docid-qns%3A%3Aurn%3Ariv%3Ainfrastructure%3Amessaging%3AMessageWithAttachments%3A3%3A%3AmessagePayload%23%233.0%3A%3Atm-base-ext-sigenc"
        );
        let receipt = codelists().receipt_document(TransportModel::ExtSigenc);
        assert_eq!(
            service_metadata_path(&sundbyberg(), receipt),
            "/iso6523-actorid-upis%3A%3A0203%3Asundbyberg.se/services/busdox-docid-qns%3A%3Aurn%3Aoasis%3Anames%3Aspecification%3Aubl%3Aschema%3Axsd%3AApplicationResponse-2%3A%3AApplicationResponse%23%23fdc%3Adigg.se%3Aedelivery%3Amessagetype%3Aresponse%3A1%3A%3A2.1%3A%3Atm-base-ext-sigenc"
        );
    }

    #[test]
    fn digg_certpub_example_url_is_reproduced() {
        // [CPR 3]'s own example (with its outdated document id).
        let base = SmpBaseUrl::parse("https://domän.example").ok();
        assert!(base.is_none(), "non-ASCII hosts are not URLs");
        let base = SmpBaseUrl::parse("https://xn--domn-noa.example").unwrap();
        let doc = DocumentId::parse(
            "urn:riv:infrastructure:messaging:messagewithattachments:2::message::2.0::tm-base-ext-sigenc",
        )
        .unwrap();
        let p: ParticipantId = "0203:receivingexample.se".parse().unwrap();
        assert_eq!(
            base.service_metadata_url(&p, &doc),
            "https://xn--domn-noa.example/iso6523-actorid-upis%3A%3A0203%3Areceivingexample.se/services/busdox-docid-qns%3A%3Aurn%3Ariv%3Ainfrastructure%3Amessaging%3Amessagewithattachments%3A2%3A%3Amessage%3A%3A2.0%3A%3Atm-base-ext-sigenc"
        );
    }

    #[test]
    fn encoding_keeps_only_unreserved_characters_with_upper_case_hex() {
        assert_eq!(encode_segment("aZ09-._~"), "aZ09-._~");
        assert_eq!(encode_segment(":#/ ?%+å"), "%3A%23%2F%20%3F%25%2B%C3%A5");
    }

    // EN-03
    #[test]
    fn base_url_with_or_without_slash_and_with_prefix_joins_with_one_slash() {
        let p = sundbyberg();
        let expect = "/iso6523-actorid-upis%3A%3A0203%3Asundbyberg.se";
        for (base, joined) in [
            (
                "https://smp.example.se",
                format!("https://smp.example.se{expect}"),
            ),
            (
                "https://smp.example.se/",
                format!("https://smp.example.se{expect}"),
            ),
            (
                "https://smp.example.se/sdk/smp",
                format!("https://smp.example.se/sdk/smp{expect}"),
            ),
            (
                "https://smp.example.se/sdk/smp/",
                format!("https://smp.example.se/sdk/smp{expect}"),
            ),
            (
                "http://127.0.0.1:8081/",
                format!("http://127.0.0.1:8081{expect}"),
            ),
        ] {
            let url = SmpBaseUrl::parse(base).unwrap();
            assert_eq!(url.service_group_url(&p), joined, "{base}");
        }
        let url = SmpBaseUrl::parse("HTTPS://smp.example.se:8443/x/").unwrap();
        assert_eq!(url.to_string(), "https://smp.example.se:8443/x");
        assert_eq!(url.host(), "smp.example.se");
        assert!(url.is_https());
        assert!(
            !SmpBaseUrl::parse("http://127.0.0.1:8081")
                .unwrap()
                .is_https()
        );
    }

    #[test]
    fn rejects_non_http_and_decorated_urls() {
        assert!(matches!(
            SmpBaseUrl::parse("sip:smp.example.se"),
            Err(SmpUrlError::NotHttp { .. })
        ));
        assert!(matches!(
            SmpBaseUrl::parse("ftp://smp.example.se"),
            Err(SmpUrlError::NotHttp { .. })
        ));
        assert!(matches!(
            SmpBaseUrl::parse("smp.example.se"),
            Err(SmpUrlError::NotHttp { .. })
        ));
        for bad in [
            "https://smp.example.se/?a=b",
            "https://smp.example.se/#x",
            "https://u:p@smp.example.se/",
        ] {
            assert!(
                matches!(SmpBaseUrl::parse(bad), Err(SmpUrlError::Extras { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            SmpBaseUrl::parse("https://smp example"),
            Err(SmpUrlError::Invalid { .. })
        ));
        let long = format!("https://a.se/{}", "x".repeat(3000));
        assert!(matches!(
            SmpBaseUrl::parse(&long),
            Err(SmpUrlError::TooLong { .. })
        ));
    }
}
