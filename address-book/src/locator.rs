//! Where a participant's SMP is: the one question the SMP client asks before any HTTP.
//!
//! Three sources, chosen by configuration:
//! - **BDXL** (QA/PROD): U-NAPTR in the environment's SML zone;
//! - **static**: one SMP base URL for every participant (DIGG runs one national SMP);
//! - **directory file** (dev, QA rehearsals, offline): a TOML file mapping participants to SMP
//!   base URLs, with an optional fallback:
//!
//! ```toml
//! # sdkgw SMP directory. Keys are participant ids (any case, either form);
//! # values are SMP base URLs (http or https, optional path prefix).
//! fallback = "https://smp.example.test/"        # optional: everyone not listed
//!
//! [participants]
//! "0203:org-a.test" = "http://127.0.0.1:8081/"
//! "iso6523-actorid-upis::0203:org-b.test" = "http://127.0.0.1:8082/smp"
//! ```
//!
//! A participant that is neither listed nor covered by `fallback` is "not registered", as
//! NXDOMAIN would say under BDXL.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use sdkgw_schemas::ParticipantId;
use serde::Deserialize;

use crate::bdxl::{self, DiscoveryError, SmlZone, participant_dns_name};
use crate::resolver::{DnsError, Resolver};
use crate::smp_url::SmpBaseUrl;

/// How to find a participant's SMP.
#[derive(Debug, Clone)]
pub enum SmpLocator {
    /// BDXL: NAPTR in `zone`, through `resolver` (usually a [`crate::resolver::CachingResolver`]).
    Bdxl {
        /// The environment's SML zone.
        zone: SmlZone,
        /// The DNS resolver.
        resolver: Arc<dyn Resolver>,
    },
    /// The same SMP for everyone.
    Static(SmpBaseUrl),
    /// A local directory file.
    Directory(Arc<LocalDirectory>),
}

/// An SMP base URL and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmpLocation {
    /// The SMP base URL.
    pub base: SmpBaseUrl,
    /// How it was found.
    pub source: LocationSource,
}

/// How an SMP location was found (for operators: `addressbook lookup` shows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocationSource {
    /// NAPTR of this DNS name.
    Bdxl {
        /// The name queried.
        dns_name: String,
    },
    /// The configured static SMP.
    Static,
    /// The participant's entry in the directory file.
    Directory,
    /// The directory file's fallback.
    DirectoryFallback,
}

impl fmt::Display for LocationSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocationSource::Bdxl { dns_name } => write!(f, "BDXL NAPTR {dns_name}"),
            LocationSource::Static => f.write_str("static SMP URL"),
            LocationSource::Directory => f.write_str("directory file"),
            LocationSource::DirectoryFallback => f.write_str("directory file fallback"),
        }
    }
}

impl SmpLocator {
    /// The SMP of `participant`. Errors are [`DiscoveryError::NotRegistered`] (tell the
    /// sender), [`DiscoveryError::NoSmp`] (misregistered) or [`DiscoveryError::Transient`].
    pub async fn locate(&self, participant: &ParticipantId) -> Result<SmpLocation, DiscoveryError> {
        match self {
            SmpLocator::Bdxl { zone, resolver } => {
                let base = bdxl::discover(resolver.as_ref(), zone, participant).await?;
                let dns_name = participant_dns_name(participant, zone);
                Ok(SmpLocation {
                    base,
                    source: LocationSource::Bdxl { dns_name },
                })
            }
            SmpLocator::Static(base) => Ok(SmpLocation {
                base: base.clone(),
                source: LocationSource::Static,
            }),
            SmpLocator::Directory(directory) => directory.locate(participant),
        }
    }
}

/// The parsed directory file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalDirectory {
    participants: HashMap<ParticipantId, SmpBaseUrl>,
    fallback: Option<SmpBaseUrl>,
}

/// A directory file that cannot be used. Messages name the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// Unreadable.
    #[error("SMP directory {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not TOML of the documented shape.
    #[error("SMP directory {path}: {source}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message.
        source: toml::de::Error,
    },
    /// A key that is not a participant id.
    #[error("SMP directory {path}: participants.{key:?}: {source}")]
    Participant {
        /// The file.
        path: String,
        /// The key.
        key: String,
        /// Why.
        source: sdkgw_schemas::ParticipantIdError,
    },
    /// A value that is not an SMP base URL.
    #[error("SMP directory {path}: {key}: {source}")]
    Url {
        /// The file.
        path: String,
        /// `fallback` or `participants."…"`.
        key: String,
        /// Why.
        source: crate::smp_url::SmpUrlError,
    },
    /// Two keys naming the same participant (ids are case-insensitive).
    #[error("SMP directory {path}: participant {participant} is listed twice")]
    Duplicate {
        /// The file.
        path: String,
        /// The participant.
        participant: ParticipantId,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryFile {
    fallback: Option<String>,
    #[serde(default)]
    participants: HashMap<String, String>,
}

impl LocalDirectory {
    /// Reads and checks a directory file.
    pub fn load(path: &Path) -> Result<Self, DirectoryError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| DirectoryError::Io {
            path: shown.clone(),
            source,
        })?;
        Self::from_toml(&text, &shown)
    }

    /// Parses directory TOML; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, DirectoryError> {
        let path = || origin.to_owned();
        let file: DirectoryFile =
            toml::from_str(text).map_err(|source| DirectoryError::Syntax {
                path: path(),
                source,
            })?;
        let url = |key: String, value: &str| {
            SmpBaseUrl::parse(value).map_err(|source| DirectoryError::Url {
                path: path(),
                key,
                source,
            })
        };
        let fallback = file
            .fallback
            .as_deref()
            .map(|v| url("fallback".into(), v))
            .transpose()?;
        let mut participants = HashMap::new();
        for (key, value) in &file.participants {
            let id = ParticipantId::parse(key).map_err(|source| DirectoryError::Participant {
                path: path(),
                key: key.clone(),
                source,
            })?;
            let base = url(format!("participants.{key:?}"), value)?;
            if participants.insert(id.clone(), base).is_some() {
                return Err(DirectoryError::Duplicate {
                    path: path(),
                    participant: id,
                });
            }
        }
        Ok(Self {
            participants,
            fallback,
        })
    }

    /// How many participants are listed.
    pub fn len(&self) -> usize {
        self.participants.len()
    }

    /// Whether no participant is listed.
    pub fn is_empty(&self) -> bool {
        self.participants.is_empty()
    }

    fn locate(&self, participant: &ParticipantId) -> Result<SmpLocation, DiscoveryError> {
        if let Some(base) = self.participants.get(participant) {
            return Ok(SmpLocation {
                base: base.clone(),
                source: LocationSource::Directory,
            });
        }
        match &self.fallback {
            Some(base) => Ok(SmpLocation {
                base: base.clone(),
                source: LocationSource::DirectoryFallback,
            }),
            None => Err(DiscoveryError::NotRegistered {
                name: participant.to_string(),
                cause: DnsError::NxDomain,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
        fallback = "https://smp.example.test/"
        [participants]
        "0203:Org-A.test" = "http://127.0.0.1:8081/"
        "iso6523-actorid-upis::0203:org-b.test" = "http://127.0.0.1:8082/smp"
    "#;

    fn id(s: &str) -> ParticipantId {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn directory_maps_participants_case_insensitively_with_fallback() {
        let dir = Arc::new(LocalDirectory::from_toml(FILE, "dir.toml").unwrap());
        assert_eq!(dir.len(), 2);
        let locator = SmpLocator::Directory(dir);
        let a = locator.locate(&id("0203:org-a.test")).await.unwrap();
        assert_eq!(
            (a.base.to_string(), a.source),
            ("http://127.0.0.1:8081".into(), LocationSource::Directory)
        );
        let b = locator.locate(&id("0203:ORG-B.test")).await.unwrap();
        assert_eq!(b.base.to_string(), "http://127.0.0.1:8082/smp");
        let other = locator.locate(&id("0203:other.test")).await.unwrap();
        assert_eq!(other.source, LocationSource::DirectoryFallback);
    }

    #[tokio::test]
    async fn unlisted_participant_without_fallback_is_not_registered() {
        let dir = LocalDirectory::from_toml("[participants]\n\"0203:a.test\" = \"http://h/\"", "d")
            .unwrap();
        let err = SmpLocator::Directory(Arc::new(dir))
            .locate(&id("0203:b.test"))
            .await
            .unwrap_err();
        assert!(matches!(err, DiscoveryError::NotRegistered { .. }), "{err}");
    }

    #[test]
    fn directory_errors_name_the_file_and_key() {
        let err =
            LocalDirectory::from_toml("[participants]\n\"9999:x\" = \"http://h/\"", "dir.toml")
                .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("SMP directory dir.toml: participants.\"9999:x\""),
            "{err}"
        );
        let err =
            LocalDirectory::from_toml("[participants]\n\"0203:x\" = \"ftp://h/\"", "dir.toml")
                .unwrap_err();
        assert!(err.to_string().contains("participants.\"0203:x\""), "{err}");
        let dup = "[participants]\n\"0203:x.se\" = \"http://h/\"\n\"0203:X.se\" = \"http://h/\"";
        assert!(matches!(
            LocalDirectory::from_toml(dup, "d"),
            Err(DirectoryError::Duplicate { .. })
        ));
        assert!(matches!(
            LocalDirectory::from_toml("extra = 1", "d"),
            Err(DirectoryError::Syntax { .. })
        ));
    }

    #[test]
    fn directory_loads_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("smp-directory.toml");
        std::fs::write(&path, FILE).unwrap();
        assert_eq!(LocalDirectory::load(&path).unwrap().len(), 2);
        assert!(matches!(
            LocalDirectory::load(&dir.path().join("missing")),
            Err(DirectoryError::Io { .. })
        ));
    }

    #[tokio::test]
    async fn static_locator_answers_for_everyone() {
        let locator = SmpLocator::Static(SmpBaseUrl::parse("https://smp.example.se/").unwrap());
        let loc = locator.locate(&id("0203:anyone.se")).await.unwrap();
        assert_eq!(
            (loc.base.to_string(), loc.source),
            ("https://smp.example.se".into(), LocationSource::Static)
        );
    }
}
