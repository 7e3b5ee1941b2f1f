//! `[listeners]`: where the gateway listens. The AS4 endpoint (mutual TLS, reachable by other
//! APs), the mailbox API (internal network) and admin/metrics are separate sockets.

use std::net::SocketAddr;

use super::reader::Table;

/// `[listeners]`
#[derive(Debug, Clone)]
pub struct Listeners {
    pub as4: As4Listener,
    /// `[listeners.api]`: the MT–MK mailbox API.
    pub api: Listener,
    /// `[listeners.admin]`: health and `/metrics`.
    pub admin: Listener,
}

/// `[listeners.as4]`
#[derive(Debug, Clone)]
pub struct As4Listener {
    /// `bind`: `address:port`.
    pub bind: SocketAddr,
    /// `path`: HTTP path of the AS4 endpoint (default `/as4`).
    pub path: String,
    /// `public_url`: the URL published in SMP, as other APs reach us (optional).
    pub public_url: Option<String>,
}

/// A plain listener.
#[derive(Debug, Clone)]
pub struct Listener {
    /// `bind`: `address:port`.
    pub bind: SocketAddr,
}

impl Listeners {
    pub(crate) fn read(t: &Table<'_>) -> Option<Self> {
        let as4 = t.table("as4").and_then(|a| {
            let bind = a.socket_addr("bind");
            let path = a.opt_str("path").unwrap_or_else(|| "/as4".to_owned());
            if !path.starts_with('/') {
                a.ctx().error(&a.key_path("path"), "must start with /");
            }
            let public_url = a.opt_parsed("public_url", |s| {
                if s.starts_with("https://") {
                    Ok(s.to_owned())
                } else {
                    Err(format!(
                        "{s:?}: the AS4 endpoint is published as an https:// URL"
                    ))
                }
            });
            Some(As4Listener {
                bind: bind?,
                path,
                public_url,
            })
        });
        let plain = |key: &'static str| {
            t.table(key)
                .and_then(|l| l.socket_addr("bind").map(|bind| Listener { bind }))
        };
        let (api, admin) = (plain("api"), plain("admin"));
        let binds = [
            ("as4", as4.as_ref().map(|a| a.bind)),
            ("api", api.as_ref().map(|l| l.bind)),
            ("admin", admin.as_ref().map(|l| l.bind)),
        ];
        for (i, (name, addr)) in binds.iter().enumerate() {
            let Some(addr) = addr else { continue };
            if let Some((other, _)) = binds[..i].iter().find(|(_, a)| a.as_ref() == Some(addr)) {
                t.ctx().error(
                    &t.key_path(&format!("{name}.bind")),
                    format!(
                        "{addr} is also listeners.{other}.bind: each listener needs its own socket"
                    ),
                );
            }
        }
        Some(Listeners {
            as4: as4?,
            api: api?,
            admin: admin?,
        })
    }
}
