//! `[admin]`, `[audit]` and `[notifications]`: the operations side (admin listener, audit
//! log files, mailbox notifications). All optional; defaults below. Audit *retention* is
//! `store.retention.audit` (one trail, one retention; at least 365 days).

use std::path::PathBuf;
use std::time::Duration;

use sdkgw_certs::PasswordSource;

use super::keys::read_password;
use super::reader::Table;

/// `[admin]`
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AdminSection {
    /// `tls`: serve the admin listener over TLS with `keys.tls.server` (default false:
    /// plain HTTP, for 127.0.0.1 or a pod network; `config check` warns otherwise).
    pub tls: bool,
}

/// `[audit]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSection {
    /// `rotate_bytes` (default 64 MiB, at least 1 MiB).
    pub rotate_bytes: u64,
    /// `rotate_every` (default 1d).
    pub rotate_every: Duration,
    /// `ship_interval`: how often the journal is moved into the files (default 200ms).
    pub ship_interval: Duration,
}

impl Default for AuditSection {
    fn default() -> Self {
        Self {
            rotate_bytes: 64 * 1024 * 1024,
            rotate_every: Duration::from_secs(86_400),
            ship_interval: Duration::from_millis(200),
        }
    }
}

/// `[notifications.smtp] tls`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTlsMode {
    Starttls,
    Opportunistic,
    Off,
}

/// `[notifications.smtp]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpSection {
    /// `server`: `host:port` of the relay (port 587 or 25).
    pub host: String,
    pub port: u16,
    /// `tls`: `starttls` (required, default), `opportunistic`, `off`.
    pub tls: SmtpTlsMode,
    /// `from`: sender address.
    pub from: String,
    /// `helo`: our host name in EHLO (default `sdk-gateway`).
    pub helo: String,
    /// `username` + `password_env`/`password_file` (optional; needs TLS).
    pub username: Option<String>,
    pub password: Option<PasswordSource>,
    /// `tls_anchors`: CAs of the relay's certificate (default: the system bundle).
    pub tls_anchors: Vec<PathBuf>,
    /// `timeout` per step (default 30s).
    pub timeout: Duration,
}

/// `[notifications]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationsSection {
    /// `max_attempts` (default 20).
    pub max_attempts: u32,
    /// `initial_delay` (default 10s), doubled per attempt up to `max_delay` (default 30m).
    pub initial_delay: Duration,
    pub max_delay: Duration,
    /// `[notifications.webhook] timeout` (default 10s) and `tls_anchors` (default: system).
    pub webhook_timeout: Duration,
    pub webhook_tls_anchors: Vec<PathBuf>,
    pub smtp: Option<SmtpSection>,
}

impl Default for NotificationsSection {
    fn default() -> Self {
        Self {
            max_attempts: 20,
            initial_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(1800),
            webhook_timeout: Duration::from_secs(10),
            webhook_tls_anchors: Vec::new(),
            smtp: None,
        }
    }
}

impl AdminSection {
    /// Reads `[admin]` from the root table; warns when plain HTTP is bound beyond loopback.
    pub(crate) fn read(root: &Table<'_>) -> Option<Self> {
        let t = root.opt_table("admin");
        let tls = match t.as_ref().and_then(|t| t.opt_str("tls")).as_deref() {
            None | Some("off") => false,
            Some("server") => true,
            Some(other) => {
                root.ctx().error(
                    "admin.tls",
                    format!("{other:?}: expected \"off\" or \"server\""),
                );
                return None;
            }
        };
        // Peek at the raw value: `[listeners]` itself is read (and checked) by its section.
        let bind = root.opt_raw("listeners").and_then(|l| {
            l.get("admin")?
                .get("bind")?
                .as_str()?
                .parse::<std::net::SocketAddr>()
                .ok()
        });
        if !tls && bind.is_some_and(|b| !b.ip().is_loopback()) {
            root.ctx().warning(
                "admin.tls",
                "the admin listener serves plain HTTP on a non-loopback address: keep it on a \
                 trusted network segment, or set tls = \"server\"",
            );
        }
        Some(Self { tls })
    }
}

impl AuditSection {
    pub(crate) fn read(t: Option<&Table<'_>>) -> Option<Self> {
        let d = Self::default();
        let Some(t) = t else { return Some(d) };
        let s = Self {
            rotate_bytes: t.u64_or("rotate_bytes", d.rotate_bytes),
            rotate_every: t.duration_or("rotate_every", d.rotate_every),
            ship_interval: t.duration_or("ship_interval", d.ship_interval),
        };
        if t.opt_str("retention").is_some() {
            t.ctx().error(
                &t.key_path("retention"),
                "not here: the audit trail's retention is store.retention.audit",
            );
        }
        if s.rotate_bytes < 1024 * 1024 {
            t.ctx().error(
                &t.key_path("rotate_bytes"),
                "must be at least 1048576 (1 MiB)",
            );
        }
        if s.ship_interval.is_zero() || s.ship_interval > Duration::from_secs(60) {
            t.ctx()
                .error(&t.key_path("ship_interval"), "must be between 1ms and 60s");
        }
        Some(s)
    }
}

fn smtp(t: &Table<'_>) -> Option<SmtpSection> {
    let server = t.str("server");
    let from = t.str("from");
    let tls = match t.opt_str("tls").as_deref() {
        None | Some("starttls") => SmtpTlsMode::Starttls,
        Some("opportunistic") => SmtpTlsMode::Opportunistic,
        Some("off") => SmtpTlsMode::Off,
        Some(other) => {
            t.ctx().error(
                &t.key_path("tls"),
                format!("{other:?}: expected starttls, opportunistic or off"),
            );
            SmtpTlsMode::Starttls
        }
    };
    let helo = t.opt_str("helo").unwrap_or_else(|| "sdk-gateway".into());
    let username = t.opt_str("username");
    let password = read_password(t)?;
    let tls_anchors = t.path_list("tls_anchors");
    let timeout = t.duration_or("timeout", Duration::from_secs(30));
    let (host, port) = match server.as_deref().and_then(|s| s.rsplit_once(':')) {
        Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0) => {
            (h.to_owned(), p.parse().unwrap_or(587))
        }
        _ => {
            if server.is_some() {
                t.ctx().error(
                    &t.key_path("server"),
                    "expected host:port (e.g. smtp.example.se:587)",
                );
            }
            return None;
        }
    };
    if username.is_some() != password.is_some() {
        t.ctx().error(
            &t.key_path("username"),
            "give username together with password_env or password_file",
        );
    }
    if username.is_some() && tls == SmtpTlsMode::Off {
        t.ctx().error(
            &t.key_path("tls"),
            "credentials are never sent without TLS: use starttls",
        );
    }
    if tls == SmtpTlsMode::Opportunistic && username.is_some() {
        t.ctx().warning(
            &t.key_path("tls"),
            "opportunistic: if the relay stops offering STARTTLS, mail is refused (credentials stay unsent)",
        );
    }
    Some(SmtpSection {
        host,
        port,
        tls,
        from: from?,
        helo,
        username,
        password,
        tls_anchors,
        timeout,
    })
}

impl NotificationsSection {
    pub(crate) fn read(t: Option<&Table<'_>>) -> Option<Self> {
        let d = Self::default();
        let Some(t) = t else { return Some(d) };
        let webhook = t.opt_table("webhook");
        let s = Self {
            max_attempts: u32::try_from(t.u64_or("max_attempts", u64::from(d.max_attempts)))
                .unwrap_or(u32::MAX),
            initial_delay: t.duration_or("initial_delay", d.initial_delay),
            max_delay: t.duration_or("max_delay", d.max_delay),
            webhook_timeout: webhook.as_ref().map_or(d.webhook_timeout, |w| {
                w.duration_or("timeout", d.webhook_timeout)
            }),
            webhook_tls_anchors: webhook
                .as_ref()
                .map(|w| w.path_list("tls_anchors"))
                .unwrap_or_default(),
            smtp: match t.opt_table("smtp") {
                Some(s) => Some(smtp(&s)?),
                None => None,
            },
        };
        if s.max_attempts == 0 {
            t.ctx()
                .error(&t.key_path("max_attempts"), "must be at least 1");
        }
        if s.max_delay < s.initial_delay || s.initial_delay.is_zero() {
            t.ctx().error(
                &t.key_path("max_delay"),
                "initial_delay must be > 0 and not longer than max_delay",
            );
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{EXAMPLE, from_toml};
    use super::*;

    fn messages(text: &str) -> Vec<String> {
        from_toml(text, Path::new("/etc/sdkgw/sdkgw.toml"), Vec::new())
            .findings
            .iter()
            .map(|f| f.to_string())
            .collect()
    }

    #[test]
    fn the_example_documents_the_defaults() {
        let loaded = from_toml(EXAMPLE, Path::new("/etc/sdkgw/sdkgw.toml"), Vec::new());
        let errors: Vec<String> = loaded.findings.iter().map(|f| f.to_string()).collect();
        let c = loaded.ok().unwrap_or_else(|| panic!("{errors:?}"));
        assert_eq!(c.admin, AdminSection::default());
        assert_eq!(c.audit, AuditSection::default());
        assert_eq!(c.notifications, NotificationsSection::default());
        // The example binds admin to 127.0.0.1: no plain-HTTP warning.
        assert!(!messages(EXAMPLE).iter().any(|m| m.contains("admin.tls")));
    }

    #[test]
    fn audit_retention_below_a_year_is_refused_and_lives_in_the_store_section() {
        let short = EXAMPLE.replace("audit = \"400d\"", "audit = \"300d\"");
        let m = messages(&short);
        assert!(
            m.iter()
                .any(|m| m.starts_with("error: store.retention.audit")),
            "{m:?}"
        );
        let here = EXAMPLE.replace("[audit]\n", "[audit]\nretention = \"400d\"\n");
        let m = messages(&here);
        assert!(
            m.iter().any(|m| m.contains("audit.retention: not here")),
            "{m:?}"
        );
    }

    #[test]
    fn plain_admin_beyond_loopback_warns_and_credentials_need_tls() {
        let open = EXAMPLE.replace("bind = \"127.0.0.1:9090\"", "bind = \"0.0.0.0:9090\"");
        let m = messages(&open);
        assert!(
            m.iter()
                .any(|m| m.starts_with("warning: admin.tls: the admin listener serves plain HTTP")),
            "{m:?}"
        );
        let smtp = format!(
            "{EXAMPLE}\n[notifications.smtp]\nserver = \"smtp.example.se:587\"\nfrom = \"gw@example.se\"\n\
             tls = \"off\"\nusername = \"gw\"\npassword_env = \"SMTP_PW\"\n"
        )
        .replace("[notifications.webhook]\ntimeout = \"10s\"\n", "");
        let smtp = smtp.replace(
            "[notifications]\nmax_attempts",
            "[notifications.webhook]\ntimeout = \"10s\"\n[notifications]\nmax_attempts",
        );
        let m = messages(&smtp);
        assert!(
            m.iter()
                .any(|m| m
                    .contains("notifications.smtp.tls: credentials are never sent without TLS")),
            "{m:?}"
        );
        let bad_server = format!(
            "{EXAMPLE}\n[notifications.smtp]\nserver = \"smtp.example.se\"\nfrom = \"gw@example.se\"\n"
        );
        let m = messages(&bad_server);
        assert!(m.iter().any(|m| m.contains("expected host:port")), "{m:?}");
    }
}
