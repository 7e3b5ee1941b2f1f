//! The `[store]` configuration section: data directory, durability policy, retention.
//!
//! ```toml
//! [store]
//! data_dir = "/var/lib/sdkgw"
//! durability = "group"          # or "per-write"
//! group_commit_wait = "0ms"     # how long a flush leader waits for more writers
//! inline_blob_max = 65536       # blobs up to this size live in the database
//! cache_mb = 256
//!
//! [store.retention]
//! content_after_final = "10d"   # content kept this long after the message's final state
//! content_max_age = "90d"       # content deleted at this age whatever the state
//! metadata = "400d"             # records (metadata, history, evidence); at least 365d
//! audit = "400d"                # audit trail; at least 365d
//! orphan_grace = "1h"           # unreferenced blob files older than this are removed
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::StoreError;

/// DIGG keeps AP event logs at least 12 months (security-operations R1); the store refuses
/// shorter metadata and audit retention.
pub const MIN_LOG_RETENTION: Duration = Duration::from_secs(365 * 86_400);

/// How writes become durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Durability {
    /// Group commit: concurrent writers share one flush + fsync (default).
    #[default]
    Group,
    /// Every write does its own flush + fsync (for comparison; slower under concurrency).
    PerWrite,
}

/// Retention and deletion policy (security-operations §1.2).
///
/// Content (payloads, sealed XHE, bytes sent) goes `content_after_final` after the message
/// reached a final state, and `content_max_age` after it was created whatever its state.
/// Records (metadata, history, evidence) go `metadata` after their final state; records that
/// never reach one (dead letters awaiting an operator, inbound messages the internal service
/// never deletes) keep their metadata until an operator acts. Audit events go `audit` after
/// they were written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Retention {
    #[serde(with = "human_duration")]
    pub content_after_final: Duration,
    #[serde(with = "human_duration")]
    pub content_max_age: Duration,
    #[serde(with = "human_duration")]
    pub metadata: Duration,
    #[serde(with = "human_duration")]
    pub audit: Duration,
    #[serde(with = "human_duration")]
    pub orphan_grace: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        Self {
            content_after_final: Duration::from_secs(10 * DAY),
            content_max_age: Duration::from_secs(90 * DAY),
            metadata: Duration::from_secs(400 * DAY),
            audit: Duration::from_secs(400 * DAY),
            orphan_grace: Duration::from_secs(3600),
        }
    }
}

impl Retention {
    /// Refuses a policy that would delete logs before DIGG's 12 months, or content before it
    /// could be acknowledged.
    pub fn validate(&self) -> Result<(), StoreError> {
        for (name, d) in [("metadata", self.metadata), ("audit", self.audit)] {
            if d < MIN_LOG_RETENTION {
                return Err(StoreError::Invalid(format!(
                    "store.retention.{name} = {} is below the 12 months DIGG requires for AP \
                     event logs (minimum 365d)",
                    human_duration::format(d)
                )));
            }
        }
        if self.content_max_age < self.content_after_final {
            return Err(StoreError::Invalid(
                "store.retention.content_max_age must not be shorter than content_after_final"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// The whole `[store]` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    pub durability: Durability,
    #[serde(with = "human_duration")]
    pub group_commit_wait: Duration,
    pub inline_blob_max: usize,
    pub cache_mb: u64,
    pub retention: Retention,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            durability: Durability::Group,
            group_commit_wait: Duration::ZERO,
            inline_blob_max: 64 * 1024,
            cache_mb: 256,
            retention: Retention::default(),
        }
    }
}

impl StoreConfig {
    /// Defaults with this data directory.
    pub fn at(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            ..Self::default()
        }
    }

    /// Checks every value; errors name the key.
    pub fn validate(&self) -> Result<(), StoreError> {
        self.retention.validate()?;
        if self.inline_blob_max > MAX_INLINE {
            return Err(StoreError::Invalid(format!(
                "store.inline_blob_max must be at most {MAX_INLINE} (larger blobs go to files)"
            )));
        }
        if self.group_commit_wait > Duration::from_millis(100) {
            return Err(StoreError::Invalid(
                "store.group_commit_wait must be at most 100ms".into(),
            ));
        }
        Ok(())
    }
}

/// Largest inline blob. A sled leaf holds at most 17 entries, so a leaf of inline blobs stays
/// below 1.1 MiB, under sled's own large-value threshold (a quarter of the 8 MiB segment the
/// store configures): every database write goes through sled's fsynced log (see crate docs).
pub const MAX_INLINE: usize = 64 * 1024;

/// Durations written as `<number><unit>` with unit `ms`, `s`, `m`, `h` or `d`.
pub mod human_duration {
    use super::*;

    /// Parses `90d`, `1h`, `500ms`, `30s`, `15m`.
    pub fn parse(s: &str) -> Result<Duration, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("{s:?} is not a duration like 10d, 12h, 30m, 5s, 100ms"))?;
        let secs = |mul: u64| {
            n.checked_mul(mul)
                .map(Duration::from_secs)
                .ok_or_else(|| format!("{s:?} is too long"))
        };
        match unit {
            "ms" => Ok(Duration::from_millis(n)),
            "s" => secs(1),
            "m" => secs(60),
            "h" => secs(3600),
            "d" => secs(86_400),
            _ => Err(format!("{s:?}: unit must be ms, s, m, h or d")),
        }
    }

    /// The shortest exact form (`10d`, `90m`, `1500ms`).
    pub fn format(d: Duration) -> String {
        let ms = d.as_millis();
        if !ms.is_multiple_of(1000) {
            return format!("{ms}ms");
        }
        let s = d.as_secs();
        for (unit, mul) in [("d", 86_400), ("h", 3600), ("m", 60)] {
            if s != 0 && s.is_multiple_of(mul) {
                return format!("{}{unit}", s / mul);
            }
        }
        format!("{s}s")
    }

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_format_round_trip() {
        for s in ["10d", "1h", "90m", "30s", "1500ms", "0s"] {
            assert_eq!(human_duration::format(human_duration::parse(s).unwrap()), s);
        }
        assert!(human_duration::parse("ten days").is_err());
        assert!(human_duration::parse("5y").is_err());
    }

    #[test]
    fn refuses_log_retention_below_twelve_months() {
        let r = Retention {
            audit: Duration::from_secs(30 * 86_400),
            ..Retention::default()
        };
        let err = r.validate().unwrap_err().to_string();
        assert!(err.contains("store.retention.audit"), "{err}");
        assert!(Retention::default().validate().is_ok());
    }
}
