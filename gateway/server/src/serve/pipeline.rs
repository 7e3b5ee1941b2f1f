//! The pipelines as part of `sdkgw serve`: built from the O2O keys (`keys.o2o.*`) and trust
//! (`trust.o2o`) before the AS4 listener starts (the receiver hands accepted messages to
//! them), started with the AS4 delivery worker they drive.

use std::sync::Arc;

use sdkgw_certs::KeyPairWithChain;
use sdkgw_xml_security::x509::O2o;

use super::{ServeError, Shared};
use crate::api::runtime::ApiRuntime;
use crate::config::runtime::RoleTrust;
use crate::metrics::operations::Operations;
use crate::pipeline::{Hooks, Pipeline};

/// The pipelines notify mailboxes, record metrics, file into the registry's mailboxes and
/// wake the API's change feed.
pub(super) fn hooks(ops: &Operations, api: &ApiRuntime) -> Hooks {
    let feed = Arc::clone(&api.api);
    Hooks {
        notifier: Some(ops.notifier.clone()),
        metrics: Some(ops.metrics.clone()),
        registry: Some(Arc::clone(&ops.registry)),
        on_change: Some(Arc::new(move || feed.notify_changes())),
    }
}

/// Builds the pipelines (not started yet).
pub(super) fn build(
    shared: &Arc<Shared>,
    signing: Vec<KeyPairWithChain>,
    encryption: &[KeyPairWithChain],
    o2o: RoleTrust<O2o>,
    hooks: Hooks,
) -> Result<Pipeline, ServeError> {
    Pipeline::new(
        shared,
        signing.into_iter().next(),
        encryption,
        o2o,
        shared.config.pipeline.clone(),
        hooks,
    )
    .map_err(|e| ServeError::Config(e.to_string()))
}
