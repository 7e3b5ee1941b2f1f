//! A reader over a TOML tree that collects *every* problem with its key path instead of
//! stopping at the first one (serde would), and reports keys nobody asked for.
//!
//! Each section reads itself from a [`Table`]: `t.path("cert")`, `t.u64_or("max", 10)`,
//! `t.table("keys")`… Missing or mistyped values become findings such as
//! `keys.o2o.signing.cert: missing`; when a [`Table`] is dropped, every key it was not asked for
//! becomes `unknown key`. Values that came from an `SDKGW_…` environment variable are strings;
//! the typed accessors parse them and the finding names the variable.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::report::{Finding, Findings};

/// Shared state of one read: findings, the config file's directory, env-overridden paths.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) findings: RefCell<Findings>,
    base_dir: PathBuf,
    /// Key path → the environment variable that set it.
    from_env: BTreeMap<String, String>,
}

impl Context {
    pub(crate) fn new(base_dir: PathBuf, from_env: BTreeMap<String, String>) -> Self {
        Context {
            findings: RefCell::new(Findings::default()),
            base_dir,
            from_env,
        }
    }

    pub(crate) fn error(&self, path: &str, message: impl Into<String>) {
        let message = self.with_source(path, message.into());
        self.findings
            .borrow_mut()
            .push(Finding::error(path, message));
    }

    pub(crate) fn warning(&self, path: &str, message: impl Into<String>) {
        let message = self.with_source(path, message.into());
        self.findings
            .borrow_mut()
            .push(Finding::warning(path, message));
    }

    fn with_source(&self, path: &str, message: String) -> String {
        match self.from_env.get(path) {
            Some(var) => format!("{message} (value from {var})"),
            None => message,
        }
    }

    /// A path from the configuration, relative to the configuration file's directory.
    pub(crate) fn resolve(&self, value: &str) -> PathBuf {
        let p = Path::new(value);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// The variable that created `path` or something below it, if the file does not have it.
    fn env_var_below(&self, path: &str) -> Option<&str> {
        self.from_env
            .iter()
            .find(|(p, _)| {
                p.as_str() == path
                    || p.strip_prefix(path)
                        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
            })
            .map(|(_, var)| var.as_str())
    }

    fn is_from_env(&self, path: &str) -> bool {
        self.from_env.contains_key(path)
    }
}

/// Joins a parent key path and a key (`keys` + `o2o` → `keys.o2o`; arrays: `keys.o2o.signing[1]`).
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// One TOML table being read. Keys not read by the time it is dropped are reported.
pub(crate) struct Table<'a> {
    ctx: &'a Context,
    path: String,
    table: &'a toml::Table,
    used: RefCell<BTreeSet<&'a str>>,
}

impl Drop for Table<'_> {
    fn drop(&mut self) {
        let used = self.used.borrow();
        for key in self.table.keys() {
            if used.contains(key.as_str()) {
                continue;
            }
            let path = join(&self.path, key);
            match self.ctx.env_var_below(&path) {
                // A stray SDKGW_ variable should be seen, but not stop the gateway.
                Some(var) => self.ctx.findings.borrow_mut().push(Finding::warning(
                    &path,
                    format!("unknown key (set by environment variable {var}; ignored)"),
                )),
                None => self.ctx.error(&path, "unknown key"),
            }
        }
    }
}

impl<'a> Table<'a> {
    pub(crate) fn root(ctx: &'a Context, table: &'a toml::Table) -> Self {
        Table::new(ctx, String::new(), table)
    }

    fn new(ctx: &'a Context, path: String, table: &'a toml::Table) -> Self {
        Table {
            ctx,
            path,
            table,
            used: RefCell::new(BTreeSet::new()),
        }
    }

    pub(crate) fn ctx(&self) -> &'a Context {
        self.ctx
    }

    /// The key path of `key` in this table.
    pub(crate) fn key_path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The raw value of `key`, marking it as known.
    fn get(&self, key: &'static str) -> Option<&'a toml::Value> {
        self.used.borrow_mut().insert(key);
        self.table.get(key)
    }

    fn missing(&self, key: &str) {
        self.ctx.error(&self.key_path(key), "missing");
    }

    fn wrong_type(&self, key: &str, expected: &str, got: &toml::Value) {
        self.ctx.error(
            &self.key_path(key),
            format!("expected {expected}, found {}", got.type_str()),
        );
    }

    /// An optional string.
    pub(crate) fn opt_str(&self, key: &'static str) -> Option<String> {
        match self.get(key)? {
            toml::Value::String(s) => Some(s.clone()),
            other => {
                self.wrong_type(key, "a string", other);
                None
            }
        }
    }

    /// A required string.
    pub(crate) fn str(&self, key: &'static str) -> Option<String> {
        if self.table.get(key).is_none() {
            self.get(key);
            self.missing(key);
            return None;
        }
        self.opt_str(key)
    }

    /// A required string parsed by `parse`; its error message becomes the finding.
    pub(crate) fn parsed<T>(
        &self,
        key: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let s = self.str(key)?;
        self.parse_value(key, &s, parse)
    }

    /// An optional string parsed by `parse`.
    pub(crate) fn opt_parsed<T>(
        &self,
        key: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let s = self.opt_str(key)?;
        self.parse_value(key, &s, parse)
    }

    fn parse_value<T>(
        &self,
        key: &str,
        s: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match parse(s) {
            Ok(v) => Some(v),
            Err(e) => {
                self.ctx.error(&self.key_path(key), e);
                None
            }
        }
    }

    /// A required file path, resolved against the configuration file's directory.
    pub(crate) fn path(&self, key: &'static str) -> Option<PathBuf> {
        self.str(key).map(|s| self.ctx.resolve(&s))
    }

    pub(crate) fn opt_path(&self, key: &'static str) -> Option<PathBuf> {
        self.opt_str(key).map(|s| self.ctx.resolve(&s))
    }

    /// An integer ≥ 0 with a default; from the environment it may be a decimal string.
    pub(crate) fn u64_or(&self, key: &'static str, default: u64) -> u64 {
        let Some(v) = self.get(key) else {
            return default;
        };
        let parsed = match v {
            toml::Value::Integer(i) => u64::try_from(*i).map_err(|_| "must not be negative".into()),
            toml::Value::String(s) if self.ctx.is_from_env(&self.key_path(key)) => s
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("expected a non-negative integer, found {s:?}")),
            other => Err(format!("expected an integer, found {}", other.type_str())),
        };
        parsed.unwrap_or_else(|e: String| {
            self.ctx.error(&self.key_path(key), e);
            default
        })
    }

    /// A number (integer or float) with a default.
    pub(crate) fn f64_or(&self, key: &'static str, default: f64) -> f64 {
        let Some(v) = self.get(key) else {
            return default;
        };
        let parsed = match v {
            toml::Value::Float(f) => Ok(*f),
            toml::Value::Integer(i) => Ok(*i as f64),
            toml::Value::String(s) if self.ctx.is_from_env(&self.key_path(key)) => s
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("expected a number, found {s:?}")),
            other => Err(format!("expected a number, found {}", other.type_str())),
        };
        parsed.unwrap_or_else(|e: String| {
            self.ctx.error(&self.key_path(key), e);
            default
        })
    }

    /// A duration written `500ms`, `30s`, `5m`, `2h` or `7d`, with a default.
    pub(crate) fn duration_or(&self, key: &'static str, default: Duration) -> Duration {
        self.opt_parsed(key, parse_duration).unwrap_or(default)
    }

    /// A required `host:port` socket address.
    pub(crate) fn socket_addr(&self, key: &'static str) -> Option<SocketAddr> {
        self.parsed(key, |s| {
            s.parse::<SocketAddr>()
                .map_err(|_| format!("{s:?} is not an address:port (e.g. 127.0.0.1:8443)"))
        })
    }

    /// A list of strings; from the environment a comma-separated string.
    pub(crate) fn str_list(&self, key: &'static str) -> Vec<String> {
        let Some(v) = self.get(key) else {
            return Vec::new();
        };
        let path = self.key_path(key);
        match v {
            toml::Value::Array(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| match item {
                    toml::Value::String(s) => Some(s.clone()),
                    other => {
                        self.ctx.error(
                            &format!("{path}[{i}]"),
                            format!("expected a string, found {}", other.type_str()),
                        );
                        None
                    }
                })
                .collect(),
            toml::Value::String(s) if self.ctx.is_from_env(&path) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            other => {
                self.wrong_type(key, "a list of strings", other);
                Vec::new()
            }
        }
    }

    /// A list of file paths (resolved).
    pub(crate) fn path_list(&self, key: &'static str) -> Vec<PathBuf> {
        self.str_list(key)
            .iter()
            .map(|s| self.ctx.resolve(s))
            .collect()
    }

    /// A required sub-table.
    pub(crate) fn table(&self, key: &'static str) -> Option<Table<'a>> {
        if self.table.get(key).is_none() {
            self.get(key);
            self.missing(key);
            return None;
        }
        self.opt_table(key)
    }

    /// An optional sub-table.
    pub(crate) fn opt_table(&self, key: &'static str) -> Option<Table<'a>> {
        match self.get(key)? {
            toml::Value::Table(t) => Some(Table::new(self.ctx, self.key_path(key), t)),
            other => {
                self.wrong_type(key, "a table", other);
                None
            }
        }
    }

    /// One table or an array of tables (`[x]` or `[[x]]`), for lists whose first entry is the
    /// current one (key rollover). Paths are `x` for a single table, `x[i]` in an array.
    pub(crate) fn tables(&self, key: &'static str) -> Vec<Table<'a>> {
        let path = self.key_path(key);
        match self.get(key) {
            None => Vec::new(),
            Some(toml::Value::Table(t)) => vec![Table::new(self.ctx, path, t)],
            Some(toml::Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| match item {
                    toml::Value::Table(t) => Some(Table::new(self.ctx, format!("{path}[{i}]"), t)),
                    other => {
                        self.ctx.error(
                            &format!("{path}[{i}]"),
                            format!("expected a table, found {}", other.type_str()),
                        );
                        None
                    }
                })
                .collect(),
            Some(other) => {
                self.wrong_type(key, "a table or an array of tables", other);
                Vec::new()
            }
        }
    }

    /// Like [`Table::tables`] but at least one entry is required.
    pub(crate) fn tables_required(&self, key: &'static str) -> Vec<Table<'a>> {
        let tables = self.tables(key);
        if tables.is_empty() && self.table.get(key).is_none() {
            self.missing(key);
        } else if tables.is_empty() {
            self.ctx
                .error(&self.key_path(key), "needs at least one entry");
        }
        tables
    }

    /// A whole sub-tree for a section that deserializes itself (serde), marked as read. Values
    /// that came from the environment are typed first (`"64"` → 64, `"true"` → true), as the
    /// typed accessors would.
    pub(crate) fn opt_raw(&self, key: &'static str) -> Option<toml::Value> {
        let mut value = self.get(key)?.clone();
        self.type_env_values(&self.key_path(key), &mut value);
        Some(value)
    }

    fn type_env_values(&self, path: &str, value: &mut toml::Value) {
        match value {
            toml::Value::String(s) if self.ctx.is_from_env(path) => {
                if let Ok(i) = s.trim().parse::<i64>() {
                    *value = toml::Value::Integer(i);
                } else if let Ok(b) = s.trim().parse::<bool>() {
                    *value = toml::Value::Boolean(b);
                }
            }
            toml::Value::Table(t) => {
                for (k, v) in t.iter_mut() {
                    self.type_env_values(&join(path, k), v);
                }
            }
            _ => {}
        }
    }

    /// Marks keys as known without reading them (after an error that makes them moot).
    pub(crate) fn ignore(&self, keys: &[&'static str]) {
        self.used.borrow_mut().extend(keys.iter().copied());
    }

    /// The key path of this table itself.
    pub(crate) fn here(&self) -> &str {
        &self.path
    }
}

/// Parses `500ms`, `30s`, `5m`, `2h`, `7d` (a bare number is refused: the unit must be explicit).
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 30s, 5m, 2h, 7d)"))?;
    let secs = |mult: u64| n.checked_mul(mult).map(Duration::from_secs);
    let d = match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86_400),
        _ => None,
    };
    d.ok_or_else(|| format!("{s:?} is not a duration (e.g. 30s, 5m, 2h, 7d)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, f: impl FnOnce(&Table<'_>)) -> Vec<String> {
        let table: toml::Table = text.parse().unwrap();
        let ctx = Context::new(PathBuf::from("/etc/sdkgw"), BTreeMap::new());
        {
            let t = Table::root(&ctx, &table);
            f(&t);
        }
        ctx.findings
            .into_inner()
            .iter()
            .map(|f| f.to_string())
            .collect()
    }

    #[test]
    fn reports_missing_mistyped_and_unknown_keys_with_paths() {
        let found = read("[a]\nn = \"x\"\nextra = 1\n[b]\n", |t| {
            let a = t.table("a").unwrap();
            assert_eq!(a.u64_or("n", 5), 5);
            assert!(a.str("s").is_none());
            let b = t.table("b").unwrap();
            assert!(b.opt_str("o").is_none());
            assert!(t.table("c").is_none());
        });
        assert_eq!(
            found,
            [
                "error: a.n: expected an integer, found string",
                "error: a.s: missing",
                "error: c: missing",
                "error: a.extra: unknown key",
            ]
        );
    }

    #[test]
    fn resolves_relative_paths_against_the_config_directory() {
        read("p = \"keys/a.pem\"\nq = \"/abs.pem\"", |t| {
            assert_eq!(t.path("p").unwrap(), PathBuf::from("/etc/sdkgw/keys/a.pem"));
            assert_eq!(t.path("q").unwrap(), PathBuf::from("/abs.pem"));
        });
    }

    #[test]
    fn one_table_or_array_of_tables_with_indexed_paths() {
        let found = read("[[k]]\nx = 1\n[[k]]\ny = 2\n", |t| {
            let ks = t.tables("k");
            assert_eq!(ks.len(), 2);
            assert_eq!(ks[1].here(), "k[1]");
            ks[0].u64_or("x", 0);
        });
        assert_eq!(found, ["error: k[1].y: unknown key"]);
    }

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }
}
