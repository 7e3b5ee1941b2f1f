//! Where a PKCS#12 password comes from. Passwords are read from a file or an environment
//! variable only — never from the command line (visible in `ps` and shell history) and never
//! written to logs: the `Display`/`Debug` forms name the *source*, not the secret.

use std::fmt;
use std::path::PathBuf;

use zeroize::Zeroizing;

use crate::error::CertError;

/// The source of a password, resolved only when the key material is opened.
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// The value of this environment variable.
    Env(String),
    /// The first line of this file (a trailing `\n` / `\r\n` is not part of the password).
    File(PathBuf),
}

impl PasswordSource {
    /// Reads the password. Errors name the source, never the value.
    pub fn resolve(&self) -> Result<Zeroizing<String>, CertError> {
        match self {
            PasswordSource::Env(var) => match std::env::var(var) {
                Ok(v) => Ok(Zeroizing::new(v)),
                Err(std::env::VarError::NotPresent) => Err(CertError::Password(format!(
                    "environment variable {var} is not set"
                ))),
                Err(std::env::VarError::NotUnicode(_)) => Err(CertError::Password(format!(
                    "environment variable {var} is not valid UTF-8"
                ))),
            },
            PasswordSource::File(path) => {
                let bytes =
                    Zeroizing::new(std::fs::read(path).map_err(|source| CertError::Io {
                        path: path.display().to_string(),
                        source,
                    })?);
                let text = std::str::from_utf8(&bytes).map_err(|_| {
                    CertError::Password(format!(
                        "password file {} is not valid UTF-8",
                        path.display()
                    ))
                })?;
                let line = text.split(['\n', '\r']).next().unwrap_or_default();
                Ok(Zeroizing::new(line.to_owned()))
            }
        }
    }
}

impl fmt::Display for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordSource::Env(var) => write!(f, "environment variable {var}"),
            PasswordSource::File(path) => write!(f, "password file {}", path.display()),
        }
    }
}

impl fmt::Debug for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PasswordSource({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_password_is_its_first_line_without_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "p@ssword\r\nsecond line\n").unwrap();
        let pw = PasswordSource::File(path).resolve().unwrap();
        assert_eq!(pw.as_str(), "p@ssword");
    }

    #[test]
    fn missing_variable_is_reported_by_name_without_value() {
        let src = PasswordSource::Env("SDKGW_TEST_SURELY_UNSET_VARIABLE".into());
        let err = src.resolve().unwrap_err().to_string();
        assert!(
            err.contains("SDKGW_TEST_SURELY_UNSET_VARIABLE is not set"),
            "{err}"
        );
    }

    #[test]
    fn missing_file_is_an_io_error_naming_the_file() {
        let err = PasswordSource::File("/nonexistent/pw".into())
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/pw"), "{err}");
    }

    #[test]
    fn display_names_the_source_only() {
        let src = PasswordSource::Env("P12_PASS".into());
        assert_eq!(src.to_string(), "environment variable P12_PASS");
        assert_eq!(
            format!("{src:?}"),
            "PasswordSource(environment variable P12_PASS)"
        );
    }
}
