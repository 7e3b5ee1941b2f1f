//! Errors of the key-material layer. Messages name the problem in operator terms and never
//! include key bytes or passwords.

/// Why key material could not be loaded or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("malformed certificate: {0}")]
    Malformed(String),
    #[error("unusable private key: {0}")]
    Key(String),
    #[error("not PEM, DER or PKCS#12: {0}")]
    Format(String),
    /// The PKCS#12 integrity check (MAC) or decryption failed with the given password.
    #[error("wrong password for PKCS#12 file {path} (integrity check failed)")]
    WrongPassword { path: String },
    /// A PKCS#12 file was given without a password source.
    #[error(
        "{path} is a PKCS#12 file: a password is needed (from a file or an environment variable)"
    )]
    PasswordRequired { path: String },
    /// The password source could not be read (unset variable, unreadable file).
    #[error("password: {0}")]
    Password(String),
    /// A PKCS#12 file that could not be decoded for a reason other than the password.
    #[error("cannot decode PKCS#12 file {path}: {reason}")]
    Pkcs12 { path: String, reason: String },
    /// The private key does not belong to the certificate it is paired with.
    #[error("the private key in {key} does not belong to the certificate in {cert} ({subject})")]
    KeyMismatch {
        key: String,
        cert: String,
        subject: String,
    },
    /// The file decoded but holds no certificate (or no key where one is needed).
    #[error("{path}: {what}")]
    Missing { path: String, what: String },
    /// The development PKI could not be generated.
    #[error("development PKI: {0}")]
    Generate(String),
}
