//! Algorithm identifiers of XML-DSig and XML-Enc, parsed from their URIs.
//!
//! Every algorithm the gateway can meet on the wire is an enum variant; a URI that is not one of
//! them is an [`AlgorithmError`], which the AS4 layer maps to `EBMS:0103` (PolicyNoncompliance)
//! and the envelope layer to a `SIG` receipt. Whether a *known* algorithm is acceptable in a given
//! place is a separate question, answered by [`AlgorithmPolicy`](super::AlgorithmPolicy).

use std::fmt;

/// Why an algorithm URI (or a combination of them) cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlgorithmError {
    /// The URI names no algorithm this implementation knows.
    #[error("unknown algorithm {uri}")]
    Unknown { uri: String },
    /// The algorithm is known but refused on principle (e.g. RSA PKCS#1 v1.5 key transport).
    #[error("algorithm {uri} is not allowed: {reason}")]
    Refused { uri: String, reason: &'static str },
    /// The algorithm is known but not allowed by the policy in force here.
    #[error("algorithm {uri} is not allowed by the {policy} policy")]
    NotAllowed {
        uri: &'static str,
        policy: &'static str,
    },
    /// Parameters that are each known but cannot be combined (e.g. OAEP digest SHA-256 with
    /// MGF1-SHA1, which aws-lc-rs does not implement).
    #[error("unsupported algorithm combination: {0}")]
    UnsupportedCombination(String),
}

/// Defines an enum of algorithms with one URI each, with `uri()`, `from_uri()` and `Display`.
macro_rules! uri_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $uri:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The algorithm's identifying URI.
            pub const fn uri(self) -> &'static str {
                match self {
                    $($name::$variant => $uri,)+
                }
            }

            /// Parses the identifying URI (exact match, no whitespace trimming).
            pub fn from_uri(uri: &str) -> Result<Self, AlgorithmError> {
                match uri {
                    $($uri => Ok($name::$variant),)+
                    other => Err(refused(other).unwrap_or_else(|| AlgorithmError::Unknown {
                        uri: other.to_owned(),
                    })),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.uri())
            }
        }
    };
}

uri_enum! {
    /// `ds:DigestMethod` / `xenc:DigestMethod` (OAEP) algorithms.
    DigestMethod {
        /// Legacy; only where a policy allows it (and as the OAEP default digest).
        Sha1 => "http://www.w3.org/2000/09/xmldsig#sha1",
        Sha256 => "http://www.w3.org/2001/04/xmlenc#sha256",
        Sha384 => "http://www.w3.org/2001/04/xmldsig-more#sha384",
        Sha512 => "http://www.w3.org/2001/04/xmlenc#sha512",
    }
}

uri_enum! {
    /// `ds:SignatureMethod` algorithms: RSA PKCS#1 v1.5 with a digest.
    SignatureMethod {
        /// Verify-only, and only where a policy allows it.
        RsaSha1 => "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        RsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        RsaSha384 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
        RsaSha512 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    }
}

uri_enum! {
    /// `xenc:EncryptedData/xenc:EncryptionMethod` block ciphers.
    DataEncryption {
        Aes128Cbc => "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
        Aes256Cbc => "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
        Aes128Gcm => "http://www.w3.org/2009/xmlenc11#aes128-gcm",
        Aes256Gcm => "http://www.w3.org/2009/xmlenc11#aes256-gcm",
    }
}

uri_enum! {
    /// `xenc:EncryptedKey/xenc:EncryptionMethod` key transport algorithms (RSA-OAEP only).
    KeyTransportMethod {
        /// XML-Enc 1.0 RSA-OAEP: MGF1 with SHA-1 always; DigestMethod defaults to SHA-1.
        RsaOaepMgf1p => "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
        /// XML-Enc 1.1 RSA-OAEP: MGF and DigestMethod both default to SHA-1.
        RsaOaep => "http://www.w3.org/2009/xmlenc11#rsa-oaep",
    }
}

uri_enum! {
    /// `xenc11:MGF` mask generation functions.
    MaskGeneration {
        Mgf1Sha1 => "http://www.w3.org/2009/xmlenc11#mgf1sha1",
        Mgf1Sha224 => "http://www.w3.org/2009/xmlenc11#mgf1sha224",
        Mgf1Sha256 => "http://www.w3.org/2009/xmlenc11#mgf1sha256",
        Mgf1Sha384 => "http://www.w3.org/2009/xmlenc11#mgf1sha384",
        Mgf1Sha512 => "http://www.w3.org/2009/xmlenc11#mgf1sha512",
    }
}

/// Known algorithms that are refused whatever the policy says, with the reason.
fn refused(uri: &str) -> Option<AlgorithmError> {
    let reason = match uri {
        "http://www.w3.org/2001/04/xmlenc#rsa-1_5" => {
            "RSA PKCS#1 v1.5 key transport is open to Bleichenbacher's attack"
        }
        "http://www.w3.org/2001/04/xmlenc#tripledes-cbc" => "3DES is too weak",
        "http://www.w3.org/2001/04/xmldsig-more#md5"
        | "http://www.w3.org/2001/04/xmldsig-more#rsa-md5" => "MD5 is broken",
        "http://www.w3.org/2000/09/xmldsig#hmac-sha1" => "HMAC signatures are not used here",
        _ => return None,
    };
    Some(AlgorithmError::Refused {
        uri: uri.to_owned(),
        reason,
    })
}

impl DataEncryption {
    /// Length of the content-encryption key in bytes.
    pub const fn key_len(self) -> usize {
        match self {
            DataEncryption::Aes128Cbc | DataEncryption::Aes128Gcm => 16,
            DataEncryption::Aes256Cbc | DataEncryption::Aes256Gcm => 32,
        }
    }

    /// Whether this is an authenticated (GCM) cipher.
    pub const fn is_aead(self) -> bool {
        matches!(self, DataEncryption::Aes128Gcm | DataEncryption::Aes256Gcm)
    }

    /// The short name used on the command line (`aes256-cbc`, `aes128-gcm`, ...).
    pub const fn short_name(self) -> &'static str {
        match self {
            DataEncryption::Aes128Cbc => "aes128-cbc",
            DataEncryption::Aes256Cbc => "aes256-cbc",
            DataEncryption::Aes128Gcm => "aes128-gcm",
            DataEncryption::Aes256Gcm => "aes256-gcm",
        }
    }

    /// Parses a short name as printed by [`short_name`](Self::short_name).
    pub fn from_short_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.short_name() == name)
    }
}

impl MaskGeneration {
    /// The digest the MGF1 function is built on, if aws-lc-rs implements it.
    const fn digest(self) -> Option<DigestMethod> {
        match self {
            MaskGeneration::Mgf1Sha1 => Some(DigestMethod::Sha1),
            MaskGeneration::Mgf1Sha224 => None,
            MaskGeneration::Mgf1Sha256 => Some(DigestMethod::Sha256),
            MaskGeneration::Mgf1Sha384 => Some(DigestMethod::Sha384),
            MaskGeneration::Mgf1Sha512 => Some(DigestMethod::Sha512),
        }
    }
}

/// A fully resolved RSA-OAEP key transport: method, digest and MGF, as far as aws-lc-rs
/// implements them (the OAEP digest and the MGF1 digest must be the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyTransport {
    method: KeyTransportMethod,
    digest: DigestMethod,
}

impl KeyTransport {
    /// `rsa-oaep-mgf1p` with SHA-1: DIGG's XHE profile.
    pub const RSA_OAEP_MGF1P: KeyTransport = KeyTransport {
        method: KeyTransportMethod::RsaOaepMgf1p,
        digest: DigestMethod::Sha1,
    };
    /// xmlenc11 `rsa-oaep` with SHA-256 and MGF1-SHA256: the AS4 profile.
    pub const RSA_OAEP_SHA256: KeyTransport = KeyTransport {
        method: KeyTransportMethod::RsaOaep,
        digest: DigestMethod::Sha256,
    };

    /// Resolves the `EncryptionMethod` of an `EncryptedKey`: its Algorithm URI, the optional
    /// `ds:DigestMethod/@Algorithm` and the optional `xenc11:MGF/@Algorithm` (absent = the
    /// SHA-1 defaults of the specifications).
    pub fn from_uris(
        method: &str,
        digest: Option<&str>,
        mgf: Option<&str>,
    ) -> Result<Self, AlgorithmError> {
        let method = KeyTransportMethod::from_uri(method)?;
        let digest = digest
            .map(DigestMethod::from_uri)
            .transpose()?
            .unwrap_or(DigestMethod::Sha1);
        let mgf = match (method, mgf) {
            (KeyTransportMethod::RsaOaepMgf1p, Some(m)) => {
                return Err(AlgorithmError::UnsupportedCombination(format!(
                    "rsa-oaep-mgf1p fixes MGF1-SHA1; an explicit MGF {m} is not allowed"
                )));
            }
            (_, Some(m)) => MaskGeneration::from_uri(m)?,
            (_, None) => MaskGeneration::Mgf1Sha1,
        };
        Self::new(method, digest, mgf)
    }

    /// Builds a key transport from parsed parts; only equal OAEP and MGF1 digests are supported.
    pub fn new(
        method: KeyTransportMethod,
        digest: DigestMethod,
        mgf: MaskGeneration,
    ) -> Result<Self, AlgorithmError> {
        if mgf.digest() != Some(digest) {
            return Err(AlgorithmError::UnsupportedCombination(format!(
                "OAEP with digest {digest} and mask generation {mgf} (only matching \
                 digest/MGF1 pairs are implemented)"
            )));
        }
        Ok(KeyTransport { method, digest })
    }

    pub const fn method(self) -> KeyTransportMethod {
        self.method
    }
    /// The OAEP digest (also the MGF1 digest).
    pub const fn digest(self) -> DigestMethod {
        self.digest
    }
    /// The MGF to write into `xenc11:MGF`, or None when the method implies it.
    pub const fn mgf(self) -> Option<MaskGeneration> {
        match (self.method, self.digest) {
            (KeyTransportMethod::RsaOaepMgf1p, _) => None,
            (_, DigestMethod::Sha1) => Some(MaskGeneration::Mgf1Sha1),
            (_, DigestMethod::Sha256) => Some(MaskGeneration::Mgf1Sha256),
            (_, DigestMethod::Sha384) => Some(MaskGeneration::Mgf1Sha384),
            (_, DigestMethod::Sha512) => Some(MaskGeneration::Mgf1Sha512),
        }
    }

    /// The short name used on the command line: `rsa-oaep-mgf1p` or `rsa-oaep` (SHA-256).
    pub fn from_short_name(name: &str) -> Option<Self> {
        match name {
            "rsa-oaep-mgf1p" => Some(Self::RSA_OAEP_MGF1P),
            "rsa-oaep" => Some(Self::RSA_OAEP_SHA256),
            _ => None,
        }
    }

    pub(crate) fn oaep(self) -> &'static aws_lc_rs::rsa::OaepAlgorithm {
        use aws_lc_rs::rsa;
        match self.digest {
            DigestMethod::Sha1 => &rsa::OAEP_SHA1_MGF1SHA1,
            DigestMethod::Sha256 => &rsa::OAEP_SHA256_MGF1SHA256,
            DigestMethod::Sha384 => &rsa::OAEP_SHA384_MGF1SHA384,
            DigestMethod::Sha512 => &rsa::OAEP_SHA512_MGF1SHA512,
        }
    }
}

impl fmt::Display for KeyTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mgf() {
            None => write!(f, "{} ({})", self.method, self.digest),
            Some(m) => write!(f, "{} ({}, {})", self.method, self.digest, m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_uri_round_trips() {
        for d in DigestMethod::ALL {
            assert_eq!(DigestMethod::from_uri(d.uri()), Ok(*d));
        }
        for s in SignatureMethod::ALL {
            assert_eq!(SignatureMethod::from_uri(s.uri()), Ok(*s));
        }
        for e in DataEncryption::ALL {
            assert_eq!(DataEncryption::from_uri(e.uri()), Ok(*e));
            assert_eq!(DataEncryption::from_short_name(e.short_name()), Some(*e));
        }
        for k in KeyTransportMethod::ALL {
            assert_eq!(KeyTransportMethod::from_uri(k.uri()), Ok(*k));
        }
    }

    #[test]
    fn unknown_uri_is_a_typed_error() {
        let err = DataEncryption::from_uri("http://www.w3.org/2001/04/xmlenc#aes192-cbc");
        assert!(matches!(err, Err(AlgorithmError::Unknown { .. })));
        // No trimming: a URI with whitespace is not the algorithm.
        let err = SignatureMethod::from_uri(" http://www.w3.org/2001/04/xmldsig-more#rsa-sha256");
        assert!(matches!(err, Err(AlgorithmError::Unknown { .. })));
    }

    #[test]
    fn rsa_1_5_key_transport_is_refused_with_reason() {
        let err = KeyTransport::from_uris("http://www.w3.org/2001/04/xmlenc#rsa-1_5", None, None);
        match err {
            Err(AlgorithmError::Refused { reason, .. }) => {
                assert!(reason.contains("Bleichenbacher"))
            }
            other => panic!("expected Refused, got {other:?}"),
        }
    }

    #[test]
    fn oaep_defaults_are_sha1() {
        let kt = KeyTransport::from_uris(KeyTransportMethod::RsaOaepMgf1p.uri(), None, None);
        assert_eq!(kt, Ok(KeyTransport::RSA_OAEP_MGF1P));
        let kt = KeyTransport::from_uris(KeyTransportMethod::RsaOaep.uri(), None, None).unwrap();
        assert_eq!(kt.digest(), DigestMethod::Sha1);
        assert_eq!(kt.mgf(), Some(MaskGeneration::Mgf1Sha1));
    }

    #[test]
    fn as4_oaep_sha256_with_mgf1_sha256_resolves() {
        let kt = KeyTransport::from_uris(
            "http://www.w3.org/2009/xmlenc11#rsa-oaep",
            Some("http://www.w3.org/2001/04/xmlenc#sha256"),
            Some("http://www.w3.org/2009/xmlenc11#mgf1sha256"),
        );
        assert_eq!(kt, Ok(KeyTransport::RSA_OAEP_SHA256));
    }

    #[test]
    fn mismatched_oaep_digest_and_mgf_is_unsupported() {
        // SHA-256 digest with the default MGF1-SHA1: valid XML-Enc, not implemented by aws-lc-rs.
        let kt = KeyTransport::from_uris(
            "http://www.w3.org/2009/xmlenc11#rsa-oaep",
            Some("http://www.w3.org/2001/04/xmlenc#sha256"),
            None,
        );
        assert!(matches!(kt, Err(AlgorithmError::UnsupportedCombination(_))));
        let kt = KeyTransport::from_uris(
            "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
            Some("http://www.w3.org/2001/04/xmlenc#sha256"),
            None,
        );
        assert!(matches!(kt, Err(AlgorithmError::UnsupportedCombination(_))));
        let kt = KeyTransport::from_uris(
            "http://www.w3.org/2009/xmlenc11#rsa-oaep",
            Some("http://www.w3.org/2001/04/xmldsig-more#sha224"),
            Some("http://www.w3.org/2009/xmlenc11#mgf1sha224"),
        );
        assert!(kt.is_err());
    }
}
