//! `[store]`: durability and retention of the message store. The section is the store crate's
//! own `sdkgw_store::StoreConfig` (serde, documented there); its data directory is our
//! top-level `data_dir`, so `store.data_dir` is refused rather than silently ignored.

use std::path::PathBuf;

use sdkgw_store::StoreConfig;

use super::reader::Table;

pub(crate) fn read(root: &Table<'_>, data_dir: Option<&PathBuf>) -> Option<StoreConfig> {
    let path = root.key_path("store");
    let mut config = match root.opt_raw("store") {
        None => StoreConfig::default(),
        Some(toml::Value::Table(t)) if t.contains_key("data_dir") => {
            root.ctx().error(
                &format!("{path}.data_dir"),
                "not here: the store lives in the top-level data_dir",
            );
            return None;
        }
        Some(value) => match value.try_into::<StoreConfig>() {
            Ok(c) => c,
            Err(e) => {
                root.ctx().error(&path, e.to_string().trim().to_owned());
                return None;
            }
        },
    };
    if let Some(dir) = data_dir {
        config.data_dir = dir.clone();
    }
    match config.validate() {
        Ok(()) => Some(config),
        Err(sdkgw_store::StoreError::Invalid(message)) => {
            // The store names the key first (`store.retention.metadata = 30d is …`).
            let key = message
                .split_whitespace()
                .next()
                .filter(|k| k.starts_with("store."))
                .unwrap_or(&path);
            root.ctx().error(key, message.clone());
            None
        }
        Err(e) => {
            root.ctx().error(&path, e.to_string());
            None
        }
    }
}
