//! `[keys]`: our private keys and certificates per role. A key is given as `cert` (PEM/DER
//! certificate, optionally followed by its intermediates) plus `key` (PEM/DER private key), or as
//! one PKCS#12 file in `cert` without `key`; a PKCS#12 password comes from `password_env` (the
//! name of an environment variable) or `password_file`, never from the file itself.
//!
//! Rollover: `[[keys.ap.previous]]` entries (inside `[keys.ap]`) are earlier AP keys kept
//! after a renewal so messages peers still encrypt for the old certificate decrypt; the O2O
//! lists work the same way with their first entry as the current one.

use std::path::PathBuf;

use sdkgw_certs::PasswordSource;

use super::reader::Table;

/// Which role a key serves; decides key usage and the trust store its chain must reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyRole {
    /// AS4 message signing and decryption (DIGG's AP certificate).
    Ap,
    O2oSigning,
    O2oEncryption,
    TlsServer,
    TlsClient,
}

/// One key with its certificate.
#[derive(Debug, Clone)]
pub struct KeyRef {
    /// The key path of this entry (`keys.o2o.signing[1]`), for messages.
    pub path: String,
    pub role: KeyRole,
    pub cert: PathBuf,
    pub key: Option<PathBuf>,
    pub password: Option<PasswordSource>,
}

/// `[keys]`
#[derive(Debug, Clone)]
pub struct Keys {
    /// `[keys.ap]`: the current AP key (signs everything, is what SMP publishes).
    pub ap: KeyRef,
    /// `[[keys.ap.previous]]`: earlier AP keys, kept after a renewal until peers' SMP caches
    /// hold the new certificate. They decrypt messages encrypted for them and sign only the
    /// receipts answering those messages.
    pub ap_previous: Vec<KeyRef>,
    /// `[keys.o2o.signing]` or `[[keys.o2o.signing]]`: the first signs, the others are still
    /// published during a rollover.
    pub o2o_signing: Vec<KeyRef>,
    /// `[keys.o2o.encryption]` or `[[…]]`: the first is published for new messages, all are
    /// tried for decryption (messages encrypted to the previous certificate still open).
    pub o2o_encryption: Vec<KeyRef>,
    /// `[keys.tls.server]`
    pub tls_server: KeyRef,
    /// `[keys.tls.client]`
    pub tls_client: KeyRef,
}

impl Keys {
    /// Reads the section; every key entry that could be read is also pushed to `all` so the
    /// checks can look at it even when another entry is broken.
    pub(crate) fn read(t: &Table<'_>, all: &mut Vec<KeyRef>) -> Option<Self> {
        let ap_table = t.table("ap");
        let ap = ap_table.as_ref().and_then(|k| KeyRef::read(k, KeyRole::Ap));
        all.extend(ap.clone());
        let ap_previous = ap_table
            .as_ref()
            .and_then(|k| optional_list(k, "previous", KeyRole::Ap, all));
        let (o2o_signing, o2o_encryption) = match t.table("o2o") {
            Some(o2o) => (
                list(&o2o, "signing", KeyRole::O2oSigning, all),
                list(&o2o, "encryption", KeyRole::O2oEncryption, all),
            ),
            None => (None, None),
        };
        let (tls_server, tls_client) = match t.table("tls") {
            Some(tls) => (
                one(&tls, "server", KeyRole::TlsServer, all),
                one(&tls, "client", KeyRole::TlsClient, all),
            ),
            None => (None, None),
        };
        Some(Keys {
            ap: ap?,
            ap_previous: ap_previous?,
            o2o_signing: o2o_signing?,
            o2o_encryption: o2o_encryption?,
            tls_server: tls_server?,
            tls_client: tls_client?,
        })
    }
}

/// A single key table.
fn one(
    parent: &Table<'_>,
    key: &'static str,
    role: KeyRole,
    all: &mut Vec<KeyRef>,
) -> Option<KeyRef> {
    let r = parent.table(key).and_then(|k| KeyRef::read(&k, role));
    all.extend(r.clone());
    r
}

/// One key table or a list of them (rollover); None unless every entry is complete.
fn list(
    parent: &Table<'_>,
    key: &'static str,
    role: KeyRole,
    all: &mut Vec<KeyRef>,
) -> Option<Vec<KeyRef>> {
    let refs = read_each(&parent.tables_required(key), role, all)?;
    (!refs.is_empty()).then_some(refs)
}

/// Zero or more key tables (`[[x]]`); None unless every entry is complete.
fn optional_list(
    parent: &Table<'_>,
    key: &'static str,
    role: KeyRole,
    all: &mut Vec<KeyRef>,
) -> Option<Vec<KeyRef>> {
    read_each(&parent.tables(key), role, all)
}

/// Every entry that could be read goes to `all`; None unless all could.
fn read_each(tables: &[Table<'_>], role: KeyRole, all: &mut Vec<KeyRef>) -> Option<Vec<KeyRef>> {
    let refs: Vec<_> = tables.iter().map(|k| KeyRef::read(k, role)).collect();
    all.extend(refs.iter().flatten().cloned());
    refs.into_iter().collect()
}

impl KeyRef {
    fn read(t: &Table<'_>, role: KeyRole) -> Option<Self> {
        let cert = t.path("cert");
        let key = t.opt_path("key");
        let password = read_password(t);
        Some(KeyRef {
            path: t.here().to_owned(),
            role,
            cert: cert?,
            key,
            password: password?,
        })
    }
}

/// `password_env` / `password_file` (at most one). Outer None: an error was reported.
pub(crate) fn read_password(t: &Table<'_>) -> Option<Option<PasswordSource>> {
    let env = t.opt_str("password_env");
    let file = t.opt_path("password_file");
    match (env, file) {
        (Some(_), Some(_)) => {
            t.ctx().error(
                &t.key_path("password_env"),
                "give password_env or password_file, not both",
            );
            None
        }
        (Some(var), None) if var.is_empty() => {
            t.ctx()
                .error(&t.key_path("password_env"), "empty variable name");
            None
        }
        (Some(var), None) => Some(Some(PasswordSource::Env(var))),
        (None, Some(path)) => Some(Some(PasswordSource::File(path))),
        (None, None) => Some(None),
    }
}
