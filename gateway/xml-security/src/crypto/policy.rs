//! Which known algorithms are acceptable in a given place (allow-lists).
//!
//! Parsing an URI ([`algorithm`](super::algorithm)) only says what an algorithm *is*; the policy
//! says whether it may be used. Profiles are named so that errors say which one refused.

use super::algorithm::{
    AlgorithmError, DataEncryption, DigestMethod, KeyTransport, SignatureMethod,
};

/// Allow-lists of signature, digest, data-encryption and key-transport algorithms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlgorithmPolicy {
    name: &'static str,
    signature: Vec<SignatureMethod>,
    digest: Vec<DigestMethod>,
    data_encryption: Vec<DataEncryption>,
    key_transport: Vec<KeyTransport>,
}

impl AlgorithmPolicy {
    /// Everything this implementation supports except SHA-1 signatures and digests: RSA-SHA-2
    /// signatures, SHA-2 digests, AES-CBC/GCM, RSA-OAEP with SHA-1 (mgf1p and xmlenc11) and
    /// the SHA-2 OAEP variants.
    pub fn modern() -> Self {
        AlgorithmPolicy {
            name: "modern",
            signature: vec![
                SignatureMethod::RsaSha256,
                SignatureMethod::RsaSha384,
                SignatureMethod::RsaSha512,
            ],
            digest: vec![
                DigestMethod::Sha256,
                DigestMethod::Sha384,
                DigestMethod::Sha512,
            ],
            data_encryption: DataEncryption::ALL.to_vec(),
            key_transport: all_key_transports(),
        }
    }

    /// The eDelivery AS4 profile: rsa-sha256, sha256, aes128-gcm, rsa-oaep SHA-256/MGF1-SHA256.
    pub fn as4() -> Self {
        AlgorithmPolicy {
            name: "AS4",
            signature: vec![SignatureMethod::RsaSha256],
            digest: vec![DigestMethod::Sha256],
            data_encryption: vec![DataEncryption::Aes128Gcm],
            key_transport: vec![KeyTransport::RSA_OAEP_SHA256],
        }
    }

    /// DIGG's XHE profile (C3.2.2 §3.4–3.5): rsa-sha256, sha256, aes256-cbc, rsa-oaep-mgf1p.
    pub fn xhe() -> Self {
        AlgorithmPolicy {
            name: "XHE",
            signature: vec![SignatureMethod::RsaSha256],
            digest: vec![DigestMethod::Sha256],
            data_encryption: vec![DataEncryption::Aes256Cbc],
            key_transport: vec![KeyTransport::RSA_OAEP_MGF1P],
        }
    }

    /// Adds the legacy SHA-1 signature and digest (verification of old peers only).
    pub fn allowing_sha1(mut self) -> Self {
        self.signature.push(SignatureMethod::RsaSha1);
        self.digest.push(DigestMethod::Sha1);
        self
    }

    /// The profile name used in errors.
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn check_signature(&self, m: SignatureMethod) -> Result<(), AlgorithmError> {
        self.check(self.signature.contains(&m), m.uri())
    }
    pub fn check_digest(&self, m: DigestMethod) -> Result<(), AlgorithmError> {
        self.check(self.digest.contains(&m), m.uri())
    }
    pub fn check_data_encryption(&self, m: DataEncryption) -> Result<(), AlgorithmError> {
        self.check(self.data_encryption.contains(&m), m.uri())
    }
    pub fn check_key_transport(&self, m: KeyTransport) -> Result<(), AlgorithmError> {
        self.check(self.key_transport.contains(&m), m.method().uri())
    }

    fn check(&self, allowed: bool, uri: &'static str) -> Result<(), AlgorithmError> {
        if allowed {
            Ok(())
        } else {
            Err(AlgorithmError::NotAllowed {
                uri,
                policy: self.name,
            })
        }
    }
}

impl Default for AlgorithmPolicy {
    fn default() -> Self {
        Self::modern()
    }
}

fn all_key_transports() -> Vec<KeyTransport> {
    use super::algorithm::{KeyTransportMethod, MaskGeneration};
    let xmlenc11 = [
        (DigestMethod::Sha1, MaskGeneration::Mgf1Sha1),
        (DigestMethod::Sha256, MaskGeneration::Mgf1Sha256),
        (DigestMethod::Sha384, MaskGeneration::Mgf1Sha384),
        (DigestMethod::Sha512, MaskGeneration::Mgf1Sha512),
    ]
    .into_iter()
    .filter_map(|(d, m)| KeyTransport::new(KeyTransportMethod::RsaOaep, d, m).ok());
    std::iter::once(KeyTransport::RSA_OAEP_MGF1P)
        .chain(xmlenc11)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_signatures_need_an_explicit_allowance() {
        let p = AlgorithmPolicy::modern();
        assert!(p.check_signature(SignatureMethod::RsaSha1).is_err());
        assert!(p.check_digest(DigestMethod::Sha1).is_err());
        let p = p.allowing_sha1();
        assert!(p.check_signature(SignatureMethod::RsaSha1).is_ok());
        assert!(p.check_digest(DigestMethod::Sha1).is_ok());
    }

    #[test]
    fn as4_profile_refuses_cbc_and_mgf1p() {
        let p = AlgorithmPolicy::as4();
        assert!(p.check_data_encryption(DataEncryption::Aes128Gcm).is_ok());
        let err = p
            .check_data_encryption(DataEncryption::Aes128Cbc)
            .unwrap_err();
        assert!(err.to_string().contains("AS4"), "{err}");
        assert!(p.check_key_transport(KeyTransport::RSA_OAEP_MGF1P).is_err());
        assert!(p.check_key_transport(KeyTransport::RSA_OAEP_SHA256).is_ok());
    }

    #[test]
    fn modern_policy_has_every_oaep_pair_aws_lc_implements() {
        assert_eq!(AlgorithmPolicy::modern().key_transport.len(), 5);
    }
}
