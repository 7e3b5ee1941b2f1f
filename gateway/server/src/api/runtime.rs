//! The API as part of `sdkgw serve`: built from the configuration, listening on
//! `[listeners.api] bind` with `keys.tls.server`, plus the client-management socket.

use std::sync::Arc;

use sdkgw_certs::KeyPairWithChain;
use sdkgw_http::tls::ReloadableCertificate;
use sdkgw_http::{ServerSettings, TlsIdentity};
use sdkgw_schemas::{FunctionAddress, ParticipantId};
use sdkgw_store::Store;

use super::{Api, MailboxSource, RecipientDirectory, RunningApi, admin};
use crate::config::Config;

/// The running API and its operator socket (drop = stop).
#[derive(Debug)]
pub struct ApiRuntime {
    pub api: Arc<Api>,
    pub listener: RunningApi,
    /// The listener's certificate, replaced by a reload (`crate::reload`).
    pub certificate: Arc<ReloadableCertificate>,
    _admin: admin::AdminServer,
}

/// The configured function mailboxes with their organisation.
pub fn configured_mailboxes(config: &Config) -> Vec<(FunctionAddress, ParticipantId)> {
    config
        .participants
        .iter()
        .flat_map(|p| {
            p.mailboxes
                .iter()
                .map(|m| (m.address.clone(), p.id.clone()))
        })
        .collect()
}

/// Starts the mailbox API of `config` on `store`, checking recipients against `directory`
/// (the address book's directory of organisations and function addresses).
pub async fn start_api(
    config: &Config,
    store: Arc<dyn Store>,
    directory: Arc<dyn RecipientDirectory>,
    tls_server: &KeyPairWithChain,
    mailboxes: Option<Arc<dyn MailboxSource>>,
) -> Result<ApiRuntime, String> {
    let mut api = Api::new(
        config.api.clone(),
        store,
        configured_mailboxes(config),
        directory,
    )?
    .with_content_policy(
        config.pipeline.attachment_types.clone(),
        config.pipeline.scanner(),
    );
    if let Some(source) = mailboxes {
        api = api.with_mailboxes(source);
    }
    let api = Arc::new(api);
    let identity = TlsIdentity::new(tls_server.chain(), tls_server.key())
        .map_err(|e| format!("keys.tls.server: {e}"))?;
    let tls = super::tls_config(&identity, api.settings())?;
    let (tls, certificate) = ReloadableCertificate::install(&tls, &identity)
        .map_err(|e| format!("keys.tls.server: {e}"))?;
    let admin = admin::AdminServer::start(api.clients()?, &config.data_dir).await?;
    let listener = super::start(
        api.clone(),
        config.listeners.api.bind,
        tls,
        ServerSettings::default(),
    )
    .await
    .map_err(|e| format!("listeners.api.bind {}: {e}", config.listeners.api.bind))?;
    tracing::info!(addr = %listener.addr, base = %config.api.base_path, "mailbox API ready");
    Ok(ApiRuntime {
        api,
        listener,
        certificate,
        _admin: admin,
    })
}
