//! Loading key material from files: PEM, DER and PKCS#12 (including the legacy
//! `pbeWithSHA1And40BitRC2-CBC` / `pbeWithSHA1And3-KeyTripleDES-CBC` encryptions of DIGG's
//! truststores), detected from the content, not the file name.
//!
//! PKCS#12 is read with the `p12-keystore` crate. It returns key entries (with the chain found in
//! the file) and *trusted* certificate entries (the Java `2.16.840.1.113894.746875.1.1`
//! attribute that `keytool` writes, as in DIGG's truststores). A certificate-only file written by
//! `openssl pkcs12 -export -nokeys` has no such attribute; it is reported as empty with a hint to
//! convert it to PEM rather than silently yielding nothing.

use std::path::Path;

use zeroize::Zeroizing;

use crate::certificate::Certificate;
use crate::error::CertError;
use crate::key::PrivateKey;
use crate::password::PasswordSource;
use crate::pem_file::{certificates_from_pem, private_key_from_pem};

/// Largest key-material file we read (certificate bundles are a few kB; this bounds memory on a
/// wrong path such as a disk image).
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The container format a file was found to be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    Pem,
    Der,
    Pkcs12,
}

impl std::fmt::Display for FileFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FileFormat::Pem => "PEM",
            FileFormat::Der => "DER",
            FileFormat::Pkcs12 => "PKCS#12",
        })
    }
}

/// Everything one file holds: certificates in file order (for a PKCS#12 key entry: the key's
/// certificate first, then its chain) and at most one private key.
#[derive(Debug)]
pub struct KeyMaterial {
    pub format: FileFormat,
    pub certificates: Vec<Certificate>,
    pub key: Option<PrivateKey>,
}

/// Reads a file and decodes whatever key material it holds. `password` is needed for PKCS#12
/// only (it is resolved only if the file turns out to be PKCS#12).
pub fn load_file(path: &Path, password: Option<&PasswordSource>) -> Result<KeyMaterial, CertError> {
    let bytes = read_bounded(path)?;
    decode(&bytes, &path.display().to_string(), password)
}

/// Decodes key material from bytes; `name` is used in error messages.
pub fn decode(
    bytes: &[u8],
    name: &str,
    password: Option<&PasswordSource>,
) -> Result<KeyMaterial, CertError> {
    if looks_like_pem(bytes) {
        return decode_pem(bytes, name);
    }
    if looks_like_pkcs12(bytes) {
        let password = password.ok_or_else(|| CertError::PasswordRequired {
            path: name.to_owned(),
        })?;
        return decode_pkcs12(bytes, name, &password.resolve()?);
    }
    decode_der(bytes, name)
}

/// The certificates of a file (PEM bundle, DER certificate or PKCS#12); an error if it has none.
pub fn load_certificates(
    path: &Path,
    password: Option<&PasswordSource>,
) -> Result<Vec<Certificate>, CertError> {
    let material = load_file(path, password)?;
    if material.certificates.is_empty() {
        return Err(missing(path, "contains no certificate"));
    }
    Ok(material.certificates)
}

/// The private key of a file (PEM, DER PKCS#8/PKCS#1 or PKCS#12); an error if it has none.
pub fn load_private_key(
    path: &Path,
    password: Option<&PasswordSource>,
) -> Result<PrivateKey, CertError> {
    load_file(path, password)?
        .key
        .ok_or_else(|| missing(path, "contains no private key"))
}

/// A private key with its certificate chain (leaf first), checked to belong together.
#[derive(Debug)]
pub struct KeyPairWithChain {
    key: PrivateKey,
    leaf: Certificate,
    chain: Vec<Certificate>,
}

impl KeyPairWithChain {
    pub fn key(&self) -> &PrivateKey {
        &self.key
    }
    /// The end-entity certificate, which carries the key's public key.
    pub fn certificate(&self) -> &Certificate {
        &self.leaf
    }
    /// The leaf followed by the intermediates found with it (as sent to peers).
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }
    pub fn into_parts(self) -> (PrivateKey, Vec<Certificate>) {
        (self.key, self.chain)
    }
}

/// Loads a key and its certificate: either both from one file (`key_path` = None; PKCS#12 or a
/// PEM holding both), or the certificate (chain) from `cert_path` and the key from `key_path`.
/// The first certificate must carry the key's public key.
pub fn load_key_pair(
    cert_path: &Path,
    key_path: Option<&Path>,
    password: Option<&PasswordSource>,
) -> Result<KeyPairWithChain, CertError> {
    let cert_material = load_file(cert_path, password)?;
    let key = match key_path {
        Some(kp) => load_private_key(kp, password)?,
        None => cert_material
            .key
            .ok_or_else(|| missing(cert_path, "contains no private key (give the key file)"))?,
    };
    let chain = cert_material.certificates;
    let Some(leaf) = chain.first().cloned() else {
        return Err(missing(cert_path, "contains no certificate"));
    };
    if !key.matches(&leaf) {
        return Err(CertError::KeyMismatch {
            key: key_path.unwrap_or(cert_path).display().to_string(),
            cert: cert_path.display().to_string(),
            subject: leaf.subject().to_owned(),
        });
    }
    Ok(KeyPairWithChain { key, leaf, chain })
}

fn missing(path: &Path, what: &str) -> CertError {
    CertError::Missing {
        path: path.display().to_string(),
        what: what.to_owned(),
    }
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, CertError> {
    use std::io::Read;
    let io = |source| CertError::Io {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(CertError::Format(format!(
            "{} is larger than {MAX_FILE_BYTES} bytes",
            path.display()
        )));
    }
    Ok(bytes)
}

fn looks_like_pem(bytes: &[u8]) -> bool {
    let start = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let trimmed = start.iter().position(|b| !b.is_ascii_whitespace());
    trimmed.is_some_and(|i| start[i..].starts_with(b"-----BEGIN "))
}

/// A PFX is `SEQUENCE { INTEGER 3, ContentInfo, ... }`: after the outer tag and length comes the
/// three-byte encoding of INTEGER 3. A certificate starts `SEQUENCE { SEQUENCE …` and a PKCS#8
/// key `SEQUENCE { INTEGER 0 …`, so this cannot confuse them.
fn looks_like_pkcs12(bytes: &[u8]) -> bool {
    let Some((&0x30, rest)) = bytes.split_first() else {
        return false;
    };
    let header = match rest.first() {
        Some(&l) if l < 0x80 => 1,
        Some(&l) if (0x81..=0x84).contains(&l) => 1 + usize::from(l - 0x80),
        _ => return false,
    };
    rest.get(header..header + 3) == Some(&[0x02, 0x01, 0x03][..])
}

fn decode_pem(bytes: &[u8], name: &str) -> Result<KeyMaterial, CertError> {
    let blocks =
        pem::parse_many(bytes).map_err(|e| CertError::Format(format!("{name}: bad PEM: {e}")))?;
    let has_key = blocks.iter().any(|b| b.tag().ends_with("PRIVATE KEY"));
    let certificates = certificates_from_pem(bytes)?;
    let key = if has_key {
        Some(private_key_from_pem(bytes)?)
    } else {
        None
    };
    if certificates.is_empty() && key.is_none() {
        return Err(CertError::Format(format!(
            "{name}: PEM file without CERTIFICATE or PRIVATE KEY block"
        )));
    }
    Ok(KeyMaterial {
        format: FileFormat::Pem,
        certificates,
        key,
    })
}

fn decode_der(bytes: &[u8], name: &str) -> Result<KeyMaterial, CertError> {
    let cert_error = match Certificate::from_der(bytes) {
        Ok(cert) => {
            return Ok(KeyMaterial {
                format: FileFormat::Der,
                certificates: vec![cert],
                key: None,
            });
        }
        Err(e) => e,
    };
    let key = PrivateKey::from_pkcs8_der(bytes).or_else(|_| PrivateKey::from_pkcs1_der(bytes));
    match key {
        Ok(key) => Ok(KeyMaterial {
            format: FileFormat::Der,
            certificates: Vec::new(),
            key: Some(key),
        }),
        Err(_) => Err(CertError::Format(format!(
            "{name} is neither PEM, a DER certificate or key, nor PKCS#12 ({cert_error})"
        ))),
    }
}

fn decode_pkcs12(bytes: &[u8], name: &str, password: &str) -> Result<KeyMaterial, CertError> {
    use p12_keystore::error::Error as P12Error;
    let store = p12_keystore::KeyStore::from_pkcs12(bytes, password).map_err(|e| match e {
        // A wrong password shows as a failed MAC, or (for files without MAC) as bad padding.
        P12Error::MacError(_) | P12Error::UnpadError => CertError::WrongPassword {
            path: name.to_owned(),
        },
        other => CertError::Pkcs12 {
            path: name.to_owned(),
            reason: other.to_string(),
        },
    })?;
    let mut certificates = Vec::new();
    let mut key = None;
    for (alias, entry) in store.entries() {
        match entry {
            p12_keystore::KeyStoreEntry::PrivateKeyChain(chain) => {
                if key.is_some() {
                    return Err(CertError::Pkcs12 {
                        path: name.to_owned(),
                        reason: "more than one private key; use a file with one key".into(),
                    });
                }
                let der = Zeroizing::new(chain.key().to_vec());
                key = Some(
                    PrivateKey::from_pkcs8_der(&der)
                        .map_err(|e| CertError::Key(format!("{name}, entry {alias:?}: {e}")))?,
                );
                // The key's certificate goes first, so `load_key_pair` finds the leaf.
                let mut chain_certs = chain
                    .chain()
                    .iter()
                    .map(|c| Certificate::from_der(c.as_der()))
                    .collect::<Result<Vec<_>, _>>()?;
                chain_certs.append(&mut certificates);
                certificates = chain_certs;
            }
            p12_keystore::KeyStoreEntry::Certificate(c) => {
                certificates.push(Certificate::from_der(c.as_der())?)
            }
            p12_keystore::KeyStoreEntry::Secret(_) => {}
        }
    }
    if certificates.is_empty() && key.is_none() {
        return Err(CertError::Missing {
            path: name.to_owned(),
            what:
                "PKCS#12 file without a key entry or trusted certificate entry (a certificate-only \
                   file made by `openssl pkcs12 -nokeys` lacks the trusted-certificate attribute: \
                   convert it with `openssl pkcs12 -legacy -nokeys -in FILE -out FILE.pem`)"
                    .into(),
        });
    }
    Ok(KeyMaterial {
        format: FileFormat::Pkcs12,
        certificates,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_pem_with_leading_bom_and_whitespace() {
        assert!(looks_like_pem(
            b"\xEF\xBB\xBF\n  -----BEGIN CERTIFICATE-----"
        ));
        assert!(!looks_like_pem(b"hello"));
        assert!(!looks_like_pem(b""));
    }

    #[test]
    fn detects_pkcs12_header_but_not_certificate_or_key() {
        assert!(looks_like_pkcs12(&[
            0x30, 0x82, 0x0a, 0x00, 0x02, 0x01, 0x03
        ]));
        assert!(looks_like_pkcs12(&[0x30, 0x20, 0x02, 0x01, 0x03]));
        // certificate: SEQUENCE { SEQUENCE
        assert!(!looks_like_pkcs12(&[0x30, 0x82, 0x05, 0x00, 0x30, 0x82]));
        // PKCS#8: SEQUENCE { INTEGER 0
        assert!(!looks_like_pkcs12(&[
            0x30, 0x82, 0x05, 0x00, 0x02, 0x01, 0x00
        ]));
        assert!(!looks_like_pkcs12(&[0x30]));
        assert!(!looks_like_pkcs12(&[]));
    }

    #[test]
    fn garbage_is_a_format_error_not_a_panic() {
        let err = decode(b"\x30\x03\x02\x01", "x.bin", None).unwrap_err();
        assert!(matches!(err, CertError::Format(_)), "{err}");
        let err = decode(
            b"-----BEGIN NOTHING-----\n-----END NOTHING-----\n",
            "x.pem",
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("x.pem"), "{err}");
    }

    #[test]
    fn pkcs12_without_password_source_asks_for_one() {
        let err = decode(&[0x30, 0x05, 0x02, 0x01, 0x03, 0x00, 0x00], "t.p12", None).unwrap_err();
        assert!(matches!(err, CertError::PasswordRequired { .. }), "{err}");
    }
}
