//! `[address_book]`: where recipients are looked up.

use std::path::PathBuf;

use super::reader::Table;

/// `[address_book]` with `source` = `sml`, `smp` or `file`.
#[derive(Debug, Clone)]
pub enum AddressBookSource {
    /// `source = "sml"`, `zone`: BDXL (U-NAPTR) lookups under this SML DNS zone.
    Sml { zone: String },
    /// `source = "smp"`, `url`: one SMP at a fixed base URL.
    Smp { url: String },
    /// `source = "file"`, `path`: a local directory file (development, QA, offline).
    File { path: PathBuf },
}

impl AddressBookSource {
    pub(crate) fn read(t: &Table<'_>) -> Option<Self> {
        let source = t.str("source")?;
        match source.as_str() {
            "sml" => t
                .parsed("zone", |z| {
                    if z.is_empty() || z.contains(char::is_whitespace) || z.contains('/') {
                        Err(format!("{z:?} is not a DNS zone name"))
                    } else {
                        Ok(z.trim_end_matches('.').to_owned())
                    }
                })
                .map(|zone| AddressBookSource::Sml { zone }),
            "smp" => t
                .parsed("url", |u| {
                    if u.starts_with("https://") || u.starts_with("http://") {
                        Ok(u.to_owned())
                    } else {
                        Err(format!("{u:?} is not an http(s) URL"))
                    }
                })
                .map(|url| AddressBookSource::Smp { url }),
            "file" => t.path("path").map(|path| AddressBookSource::File { path }),
            other => {
                // Do not also report the source's parameters as unknown keys.
                t.ignore(&["zone", "url", "path"]);
                t.ctx().error(
                    &t.key_path("source"),
                    format!("{other:?}: expected sml, smp or file"),
                );
                None
            }
        }
    }
}
