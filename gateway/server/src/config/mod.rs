//! The gateway configuration: one TOML file, every key overridable by an `SDKGW_…` environment
//! variable ([`env`] describes the mapping).
//!
//! [`load`] reads and type-checks the file and reports **every** problem with its key path
//! ([`Finding`]); [`check`] additionally opens every key and certificate and checks pairs, key
//! usage per role, chains to the configured anchors, environment separation and expiry — what
//! `sdkgw config check` prints. [`EXAMPLE`] is the fully commented example configuration.
//!
//! Adding a section: write a struct with a `read(&Table) -> Option<Self>` (see `policy.rs` for
//! the smallest), add a field to [`Config`] and one line to [`read_sections`], document it in
//! `example.toml`. The reader reports unknown keys, so a section that is not read is noticed.

mod address_book;
mod address_book_policy;
mod api;
mod as4;
mod check;
pub mod dev;
pub mod env;
mod identity;
pub mod ids;
mod keys;
mod listeners;
mod ops;
mod pipeline;
mod policy;
mod reader;
mod report;
pub mod runtime;
mod store;
mod trust;

use std::path::{Path, PathBuf};

pub use address_book::AddressBookSource;
pub use address_book_policy::{AddressBookHttp, AddressBookPolicy, SYSTEM_CA_BUNDLE};
pub use as4::As4Settings;
pub use identity::{ApSection, EnvironmentSection, Mailbox, Participant};
pub use keys::{KeyRef, KeyRole, Keys};
pub use listeners::{As4Listener, Listener, Listeners};
pub use ops::{AdminSection, AuditSection, NotificationsSection, SmtpSection, SmtpTlsMode};
pub use pipeline::PipelineSettings;
pub use policy::{DIGG_MIN_MESSAGE_BYTES, Limits, Retry};
pub use report::{Finding, Findings, Severity};
pub use trust::{RevocationPolicy, Trust, TrustRole, TrustStore};

use reader::{Context, Table};

/// The fully commented example configuration (`sdkgw config example`).
pub const EXAMPLE: &str = include_str!("example.toml");

/// Largest configuration file read.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// A complete, type-checked configuration. Paths are absolute or relative to the working
/// directory (resolved against the configuration file's directory when read).
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub file: PathBuf,
    pub environment: EnvironmentSection,
    pub ap: ApSection,
    pub participants: Vec<Participant>,
    pub keys: Keys,
    pub trust: Trust,
    pub listeners: Listeners,
    /// `data_dir`: the store, payload files and the audit log.
    pub data_dir: PathBuf,
    pub address_book: AddressBookSource,
    /// `[address_book.cache]` and `[address_book.http]`.
    pub address_book_policy: AddressBookPolicy,
    pub retry: Retry,
    pub limits: Limits,
    /// `[as4]`: MSH tolerances (timestamps, duplicate window).
    pub as4: As4Settings,
    /// `[store]`: durability and retention (`sdkgw_store::StoreConfig`, with `data_dir` set
    /// from the top-level `data_dir`).
    pub store: sdkgw_store::StoreConfig,
    /// `[api]`: the mailbox API (base path, authentication, limits).
    pub api: crate::api::ApiSettings,
    /// `[admin]`: the admin listener (`/metrics`, `/healthz`, `/readyz`).
    pub admin: AdminSection,
    /// `[audit]`: the audit log files (retention: `store.retention.audit`).
    pub audit: AuditSection,
    /// `[notifications]`: mailbox notifications (webhook, SMTP).
    pub notifications: NotificationsSection,
    /// `[pipeline]`: receipt timeout, concurrency, circuit breaker of the message pipelines.
    pub pipeline: PipelineSettings,
}

/// What reading produced: the configuration if it is complete, the findings, and — even when it
/// is not complete — every key and trust store entry that could be read, so [`check`] can still
/// open them and report their problems too.
#[derive(Debug)]
pub struct Loaded {
    pub config: Option<Config>,
    pub findings: Findings,
    key_refs: Vec<KeyRef>,
    trust_stores: Vec<TrustStore>,
    environment: Option<EnvironmentSection>,
    ap: Option<ApSection>,
}

/// Reads `file` with overrides from the process environment.
pub fn load(file: &Path) -> Loaded {
    load_with_env(file, std::env::vars())
}

/// Reads `file` with overrides from `vars` (tests pass their own).
pub fn load_with_env(file: &Path, vars: impl IntoIterator<Item = (String, String)>) -> Loaded {
    match read_text(file) {
        Ok(text) => from_toml(&text, file, vars),
        Err(message) => Loaded::failed(Finding::error("", message)),
    }
}

/// Reads `file` and checks everything it refers to, as of `at`.
pub fn check(file: &Path, at: time::OffsetDateTime) -> Loaded {
    let mut loaded = load(file);
    check::run(&mut loaded, at);
    loaded
}

/// [`check`] with explicit environment variables.
pub fn check_with_env(
    file: &Path,
    vars: impl IntoIterator<Item = (String, String)>,
    at: time::OffsetDateTime,
) -> Loaded {
    let mut loaded = load_with_env(file, vars);
    check::run(&mut loaded, at);
    loaded
}

fn read_text(file: &Path) -> Result<String, String> {
    use std::io::Read;
    let f =
        std::fs::File::open(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let mut text = String::new();
    f.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(format!(
            "{} is larger than {MAX_CONFIG_BYTES} bytes",
            file.display()
        ));
    }
    Ok(text)
}

/// Parses configuration text; `file` locates relative paths and names the file in messages.
pub fn from_toml(
    text: &str,
    file: &Path,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Loaded {
    let mut root: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            return Loaded::failed(Finding::error(
                "",
                format!(
                    "{} is not valid TOML: {}",
                    file.display(),
                    e.to_string().trim()
                ),
            ));
        }
    };
    let (from_env, env_warnings) = env::apply(&mut root, vars);
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let ctx = Context::new(base, from_env);
    let mut key_refs = Vec::new();
    let mut trust_stores = Vec::new();
    let sections = {
        let t = Table::root(&ctx, &root);
        read_sections(&t, &mut key_refs, &mut trust_stores)
    };
    let mut findings = Findings::default();
    env_warnings.into_iter().for_each(|w| findings.push(w));
    findings.extend(ctx.findings.into_inner());
    let environment = sections.environment.clone();
    let ap = sections.ap.clone();
    let config = if findings.has_errors() {
        None
    } else {
        sections.complete(file)
    };
    Loaded {
        config,
        findings,
        key_refs,
        trust_stores,
        environment,
        ap,
    }
}

/// Every section as read; `None` where it had errors.
struct Sections {
    environment: Option<EnvironmentSection>,
    ap: Option<ApSection>,
    participants: Option<Vec<Participant>>,
    keys: Option<Keys>,
    trust: Option<Trust>,
    listeners: Option<Listeners>,
    data_dir: Option<PathBuf>,
    address_book: Option<AddressBookSource>,
    address_book_policy: Option<AddressBookPolicy>,
    retry: Option<Retry>,
    limits: Option<Limits>,
    as4: Option<As4Settings>,
    store: Option<sdkgw_store::StoreConfig>,
    api: Option<crate::api::ApiSettings>,
    admin: Option<AdminSection>,
    audit: Option<AuditSection>,
    notifications: Option<NotificationsSection>,
    pipeline: Option<PipelineSettings>,
}

fn read_sections(
    t: &Table<'_>,
    key_refs: &mut Vec<KeyRef>,
    trust_stores: &mut Vec<TrustStore>,
) -> Sections {
    let data_dir = t.path("data_dir");
    let address_book = t.table("address_book");
    Sections {
        store: store::read(t, data_dir.as_ref()),
        api: api::read(t.opt_table("api").as_ref()),
        data_dir,
        environment: t
            .table("environment")
            .and_then(|s| EnvironmentSection::read(&s)),
        ap: t.table("ap").and_then(|s| ApSection::read(&s)),
        participants: identity::Participant::read_all(t),
        keys: t.table("keys").and_then(|s| Keys::read(&s, key_refs)),
        trust: t.table("trust").and_then(|s| Trust::read(&s, trust_stores)),
        listeners: t.table("listeners").and_then(|s| Listeners::read(&s)),
        address_book_policy: AddressBookPolicy::read(address_book.as_ref()),
        address_book: address_book
            .as_ref()
            .and_then(|s| AddressBookSource::read(s)),
        retry: Retry::read(t.opt_table("retry").as_ref()),
        limits: Limits::read(t.opt_table("limits").as_ref()),
        admin: AdminSection::read(t),
        audit: AuditSection::read(t.opt_table("audit").as_ref()),
        notifications: NotificationsSection::read(t.opt_table("notifications").as_ref()),
        pipeline: pipeline::read(t.opt_table("pipeline").as_ref()),
        as4: As4Settings::read(t.opt_table("as4").as_ref()),
    }
}

impl Sections {
    fn complete(self, file: &Path) -> Option<Config> {
        Some(Config {
            file: file.to_path_buf(),
            environment: self.environment?,
            ap: self.ap?,
            participants: self.participants?,
            keys: self.keys?,
            trust: self.trust?,
            listeners: self.listeners?,
            data_dir: self.data_dir?,
            address_book: self.address_book?,
            address_book_policy: self.address_book_policy?,
            retry: self.retry?,
            limits: self.limits?,
            as4: self.as4?,
            api: self.api.map(|mut a| {
                a.content_retention = self.store.as_ref().map(|s| s.retention.clone());
                a
            })?,
            store: self.store?,
            admin: self.admin?,
            audit: self.audit?,
            notifications: self.notifications?,
            pipeline: self.pipeline?,
        })
    }
}

impl Loaded {
    fn failed(finding: Finding) -> Self {
        let mut findings = Findings::default();
        findings.push(finding);
        Loaded {
            config: None,
            findings,
            key_refs: Vec::new(),
            trust_stores: Vec::new(),
            environment: None,
            ap: None,
        }
    }

    /// The configuration if there is no error.
    pub fn ok(&self) -> Option<&Config> {
        if self.findings.has_errors() {
            None
        } else {
            self.config.as_ref()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A complete configuration whose files need not exist (reading does not open them).
    const MINIMAL: &str = r#"
data_dir = "data"
[environment]
name = "qa"
[ap]
party_id = "AP0001-SDK-QA"
[[participants]]
id = "0203:Kommun.Example.SE"
mailboxes = [{ address = "registrator" }]
[keys.ap]
cert = "ap.p12"
password_file = "/run/secrets/ap"
[keys.o2o.signing]
cert = "s.pem"
key = "s.key"
[[keys.o2o.encryption]]
cert = "e-new.pem"
key = "e-new.key"
[[keys.o2o.encryption]]
cert = "e-old.pem"
key = "e-old.key"
[keys.tls.server]
cert = "t.pem"
key = "t.key"
[keys.tls.client]
cert = "c.pem"
key = "c.key"
[trust.as4]
anchors = ["ap-root.pem"]
issuing_ca = "ap-ca.pem"
[trust.smp]
anchors = ["smp.pem"]
[trust.tls]
anchors = ["tls.pem"]
[trust.o2o]
anchors = ["o2o.pem"]
[listeners.as4]
bind = "0.0.0.0:8443"
[listeners.api]
bind = "127.0.0.1:8080"
[listeners.admin]
bind = "127.0.0.1:9090"
[address_book]
source = "sml"
zone = "sml.example.se."
"#;

    fn parse(text: &str, env: &[(&str, &str)]) -> Loaded {
        let vars = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        from_toml(text, Path::new("/etc/sdkgw/sdkgw.toml"), vars)
    }

    fn messages(l: &Loaded) -> Vec<String> {
        l.findings.iter().map(|f| f.to_string()).collect()
    }

    #[test]
    fn minimal_configuration_reads_with_defaults_and_canonical_ids() {
        let l = parse(MINIMAL, &[]);
        assert!(l.findings.is_empty(), "{:?}", messages(&l));
        let c = l.config.unwrap();
        assert_eq!(
            c.environment.federation_id.as_str(),
            "urn:fdc:digg.se:edelivery:federation:sdk"
        );
        assert_eq!(c.participants[0].id.to_string(), "0203:kommun.example.se");
        assert_eq!(c.keys.o2o_signing.len(), 1);
        assert_eq!(c.keys.o2o_encryption[1].path, "keys.o2o.encryption[1]");
        assert_eq!(
            c.keys.o2o_encryption[1].cert,
            Path::new("/etc/sdkgw/e-old.pem")
        );
        assert!(matches!(
            c.keys.ap.password,
            Some(sdkgw_certs::PasswordSource::File(_))
        ));
        assert_eq!(c.listeners.as4.path, "/as4");
        assert!(
            matches!(&c.address_book, AddressBookSource::Sml { zone } if zone == "sml.example.se")
        );
        assert_eq!(c.retry, Retry::default());
        assert_eq!(c.limits, Limits::default());
        assert_eq!(c.trust.as4.revocation, RevocationPolicy::FailClosed);
        assert_eq!(c.data_dir, Path::new("/etc/sdkgw/data"));
        assert_eq!(c.store.data_dir, c.data_dir);
        assert_eq!(c.store.retention, sdkgw_store::Retention::default());
    }

    #[test]
    fn store_section_is_the_store_crates_config_and_is_validated() {
        let text = format!(
            "{MINIMAL}\n[store]\ndurability = \"per-write\"\n[store.retention]\nmetadata = \"30d\"\n"
        );
        let m = messages(&parse(&text, &[]));
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(
            m[0].starts_with(
                "error: store.retention.metadata: store.retention.metadata = 30d is below"
            ),
            "{m:?}"
        );
        let text = format!("{MINIMAL}\n[store]\ncache_mb = 64\n");
        let l = parse(&text, &[("SDKGW_STORE__INLINE_BLOB_MAX", "1024")]);
        assert!(l.findings.is_empty(), "{:?}", messages(&l));
        let c = l.config.unwrap();
        assert_eq!((c.store.cache_mb, c.store.inline_blob_max), (64, 1024));
        let text = format!("{MINIMAL}\n[store]\ndata_dir = \"/x\"\n");
        let m = messages(&parse(&text, &[]));
        assert!(m[0].starts_with("error: store.data_dir: not here"), "{m:?}");
        let text = format!("{MINIMAL}\n[store]\ncache = 1\n");
        let m = messages(&parse(&text, &[]));
        assert!(
            m[0].starts_with("error: store: unknown field `cache`"),
            "{m:?}"
        );
    }

    #[test]
    fn federation_id_must_match_the_environment() {
        let text = MINIMAL.replace(
            "name = \"qa\"",
            "name = \"qa\"\nfederation_id = \"urn:fdc:digg.se:edelivery:federation:test\"",
        );
        let m = messages(&parse(&text, &[]));
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(
            m[0].starts_with("error: environment.federation_id: environment qa belongs to"),
            "{m:?}"
        );
    }

    #[test]
    fn env_overrides_reach_nested_list_entries_and_typed_values() {
        let l = parse(
            MINIMAL,
            &[
                ("SDKGW_KEYS__O2O__ENCRYPTION__1__CERT", "/keys/rolled.pem"),
                ("SDKGW_RETRY__MAX_ATTEMPTS", "3"),
                ("SDKGW_RETRY__MAX_DELAY", "2h"),
                ("SDKGW_ENVIRONMENT__NAME", "open-test"),
                ("SDKGW_AP__PARTY_ID", "AP0007-OPEN-TEST"),
            ],
        );
        assert!(l.findings.is_empty(), "{:?}", messages(&l));
        let c = l.config.unwrap();
        assert_eq!(c.keys.o2o_encryption[1].cert, Path::new("/keys/rolled.pem"));
        assert_eq!(c.retry.max_attempts, 3);
        assert_eq!(c.retry.max_delay, std::time::Duration::from_secs(7200));
        assert_eq!(c.environment.name.as_str(), "open-test");
        assert_eq!(
            c.environment.federation_id.as_str(),
            "urn:fdc:digg.se:edelivery:federation:test"
        );
    }

    #[test]
    fn stray_sdkgw_variable_is_a_warning_not_an_error() {
        let l = parse(MINIMAL, &[("SDKGW_LOGGING__LEVEL", "debug")]);
        let m = messages(&l);
        assert_eq!(
            m,
            [
                "warning: logging: unknown key (set by environment variable SDKGW_LOGGING__LEVEL; ignored)"
            ]
        );
        assert!(l.ok().is_some());
    }

    #[test]
    fn missing_sections_are_each_reported_and_nothing_is_assembled() {
        let l = parse("[environment]\nname = \"dev\"\n", &[]);
        let m = messages(&l);
        for key in [
            "ap",
            "participants",
            "keys",
            "trust",
            "listeners",
            "data_dir",
            "address_book",
        ] {
            assert!(
                m.contains(&format!("error: {key}: missing")),
                "{key}: {m:?}"
            );
        }
        assert!(l.config.is_none());
    }

    #[test]
    fn duplicate_participants_and_both_password_sources_are_errors() {
        let text = MINIMAL
            .replace(
                "mailboxes = [{ address = \"registrator\" }]",
                "[[participants]]\nid = \"0203:kommun.example.se\"",
            )
            .replace(
                "password_file = \"/run/secrets/ap\"",
                "password_file = \"/p\"\npassword_env = \"P\"",
            );
        let m = messages(&parse(&text, &[]));
        assert!(
            m.contains(
                &"error: participants[1].id: 0203:kommun.example.se is listed twice".to_owned()
            ),
            "{m:?}"
        );
        assert!(
            m.contains(
                &"error: keys.ap.password_env: give password_env or password_file, not both"
                    .to_owned()
            ),
            "{m:?}"
        );
    }
}
