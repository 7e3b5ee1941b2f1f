//! `SDKGW_…` environment variables override configuration keys.
//!
//! Mapping: drop the `SDKGW_` prefix, split at `__` (two underscores) into key path segments,
//! lower-case each segment; a segment of digits indexes an array (of tables). So
//! `SDKGW_KEYS__O2O__SIGNING__CERT` sets `keys.o2o.signing.cert`,
//! `SDKGW_KEYS__O2O__ENCRYPTION__1__KEY` sets `keys.o2o.encryption[1].key`,
//! `SDKGW_DATA_DIR` sets `data_dir`. Values are strings; numbers, booleans and durations are
//! parsed by the key that reads them, lists are comma-separated.

use std::collections::BTreeMap;

use super::report::Finding;

pub const PREFIX: &str = "SDKGW_";

/// The binary's own variables (the configuration file's path, the log filter): they share the
/// prefix but are not configuration keys, so they are neither applied nor warned about.
const OWN_VARIABLES: &[&str] = &["SDKGW_CONFIG", "SDKGW_LOG"];

/// Applies every `SDKGW_…` variable of `vars` to `root`. Returns which key path each variable
/// set (for messages) and warnings for variables that could not be applied.
pub(crate) fn apply(
    root: &mut toml::Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> (BTreeMap<String, String>, Vec<Finding>) {
    let mut applied = BTreeMap::new();
    let mut warnings = Vec::new();
    // Variables the file names as password sources hold secrets, not overrides.
    let mut secrets = Vec::new();
    password_vars(root, &mut secrets);
    let mut vars: Vec<_> = vars
        .into_iter()
        .filter(|(k, _)| {
            k.starts_with(PREFIX) && !secrets.contains(k) && !OWN_VARIABLES.contains(&k.as_str())
        })
        .collect();
    // Deterministic order: array appends (`…__0__…` before `…__1__…`) work regardless of how
    // the process environment happens to be ordered.
    vars.sort();
    for (name, value) in vars {
        let segments: Vec<String> = name[PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        if segments.iter().any(String::is_empty) {
            warnings.push(Finding::warning(
                "",
                format!("environment variable {name} ignored: empty key segment"),
            ));
            continue;
        }
        match set(root, &segments, value) {
            Ok(path) => {
                applied.insert(path, name);
            }
            Err(why) => warnings.push(Finding::warning(
                "",
                format!("environment variable {name} ignored: {why}"),
            )),
        }
    }
    (applied, warnings)
}

/// Every `password_env` value in the tree.
fn password_vars(t: &toml::Table, out: &mut Vec<String>) {
    for (k, v) in t {
        match v {
            toml::Value::String(s) if k == "password_env" => out.push(s.clone()),
            toml::Value::Table(inner) => password_vars(inner, out),
            toml::Value::Array(items) => items.iter().for_each(|i| {
                if let toml::Value::Table(inner) = i {
                    password_vars(inner, out)
                }
            }),
            _ => {}
        }
    }
}

/// Sets the value at `segments`, creating tables on the way; returns the key path.
fn set(root: &mut toml::Table, segments: &[String], value: String) -> Result<String, String> {
    let (last, parents) = segments.split_last().ok_or_else(|| "no key".to_owned())?;
    let mut path = String::new();
    let mut node = NodeMut::Table(root);
    for seg in parents {
        node = node.child(seg, &mut path)?;
    }
    node.assign(last, toml::Value::String(value), &mut path)?;
    Ok(path)
}

enum NodeMut<'a> {
    Table(&'a mut toml::Table),
    Array(&'a mut Vec<toml::Value>),
}

impl<'a> NodeMut<'a> {
    fn child(self, seg: &str, path: &mut String) -> Result<NodeMut<'a>, String> {
        let value = match self {
            NodeMut::Table(t) => {
                push_key(path, seg);
                t.entry(seg.to_owned())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            }
            NodeMut::Array(a) => {
                let i = index(seg, a.len(), path)?;
                path.push_str(&format!("[{i}]"));
                if i == a.len() {
                    a.push(toml::Value::Table(toml::Table::new()));
                }
                &mut a[i]
            }
        };
        match value {
            toml::Value::Table(t) => Ok(NodeMut::Table(t)),
            toml::Value::Array(a) => Ok(NodeMut::Array(a)),
            _ => Err(format!("{path} is a value, not a table")),
        }
    }

    fn assign(self, seg: &str, value: toml::Value, path: &mut String) -> Result<(), String> {
        match self {
            NodeMut::Table(t) => {
                push_key(path, seg);
                if matches!(t.get(seg), Some(toml::Value::Table(_))) {
                    return Err(format!("{path} is a table, not a value"));
                }
                t.insert(seg.to_owned(), value);
            }
            NodeMut::Array(a) => {
                let i = index(seg, a.len(), path)?;
                path.push_str(&format!("[{i}]"));
                if i == a.len() {
                    a.push(value);
                } else {
                    a[i] = value;
                }
            }
        }
        Ok(())
    }
}

fn push_key(path: &mut String, seg: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(seg);
}

/// An array index: an existing element, or the next one (append).
fn index(seg: &str, len: usize, path: &str) -> Result<usize, String> {
    match seg.parse::<usize>() {
        Ok(i) if i <= len => Ok(i),
        Ok(i) => Err(format!(
            "{path} has {len} entries, index {i} would leave a gap"
        )),
        Err(_) => Err(format!(
            "{path} is a list: the next segment must be an index"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn own_variables_of_the_binary_are_not_overrides() {
        let mut t: toml::Table = "data_dir = \"d\"\n".parse().unwrap();
        let before = t.clone();
        let (applied, warnings) = apply(
            &mut t,
            env(&[
                ("SDKGW_CONFIG", "/etc/sdkgw/sdkgw.toml"),
                ("SDKGW_LOG", "debug"),
            ]),
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(applied.is_empty(), "{applied:?}");
        assert_eq!(t, before);
    }

    #[test]
    fn maps_double_underscores_to_nested_keys() {
        let mut t: toml::Table = "[keys.o2o.signing]\ncert = \"a.pem\"\n".parse().unwrap();
        let (applied, warnings) = apply(
            &mut t,
            env(&[
                ("SDKGW_KEYS__O2O__SIGNING__CERT", "b.pem"),
                ("SDKGW_DATA_DIR", "/var/lib/sdkgw"),
                ("OTHER", "x"),
            ]),
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(t["keys"]["o2o"]["signing"]["cert"].as_str(), Some("b.pem"));
        assert_eq!(t["data_dir"].as_str(), Some("/var/lib/sdkgw"));
        assert_eq!(
            applied["keys.o2o.signing.cert"],
            "SDKGW_KEYS__O2O__SIGNING__CERT"
        );
    }

    #[test]
    fn indexes_arrays_and_appends_in_order() {
        let mut t: toml::Table = "[[participants]]\nid = \"0203:a.se\"\n".parse().unwrap();
        let (applied, warnings) = apply(
            &mut t,
            env(&[
                ("SDKGW_PARTICIPANTS__1__ID", "0203:b.se"),
                ("SDKGW_PARTICIPANTS__0__ID", "0203:c.se"),
                ("SDKGW_PARTICIPANTS__5__ID", "0203:gap.se"),
            ]),
        );
        let p = t["participants"].as_array().unwrap();
        assert_eq!(p[0]["id"].as_str(), Some("0203:c.se"));
        assert_eq!(p[1]["id"].as_str(), Some("0203:b.se"));
        assert!(applied.contains_key("participants[1].id"));
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].message.contains("SDKGW_PARTICIPANTS__5__ID"));
    }

    #[test]
    fn variables_named_as_password_sources_are_not_overrides() {
        let mut t: toml::Table =
            "[keys.ap]\ncert = \"a.p12\"\npassword_env = \"SDKGW_AP_PASSWORD\"\n"
                .parse()
                .unwrap();
        let (applied, warnings) = apply(&mut t, env(&[("SDKGW_AP_PASSWORD", "secret")]));
        assert!(applied.is_empty() && warnings.is_empty());
        assert!(t.get("ap_password").is_none());
    }

    #[test]
    fn refuses_to_replace_a_table_with_a_value() {
        let mut t: toml::Table = "[keys.ap]\ncert = \"a\"\n".parse().unwrap();
        let (_, warnings) = apply(
            &mut t,
            env(&[("SDKGW_KEYS__AP", "x"), ("SDKGW_A____B", "y")]),
        );
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert_eq!(t["keys"]["ap"]["cert"].as_str(), Some("a"));
    }
}
