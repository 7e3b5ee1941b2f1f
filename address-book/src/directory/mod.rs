//! The directory people pick recipients from: organisations and their function addresses.
//!
//! SMP only knows organisations and document types; function addresses live in DIGG's SDK
//! address book, which has no write API and whose read API is not part of our material, so
//! an operator exports it and runs `sdkgw addressbook import FILE` ([`format`] documents the
//! JSON and CSV files). The import is a snapshot: it replaces the previous one atomically
//! (a new generation is written, then the pointer to it, then the old one is deleted) and is
//! refused when it is empty or would remove more than half of the organisations, unless
//! forced (addressing digest §3.5). [`Listing`] merges the snapshot with what the SMP cache
//! knows and with the organisations this gateway serves, and searches all of it.

pub mod format;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use sdkgw_schemas::{DocumentId, FunctionAddress, ParticipantId};
use sdkgw_store::Keyspace;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use format::{Function, ImportError, ImportFormat, Organisation};

use crate::entry::ServiceEntry;

/// Name of the store keyspace holding the imported directory.
pub const KEYSPACE: &str = "address-book.directory";

const CURRENT: &[u8] = b"current";

/// The imported directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Import generation (0: nothing imported yet).
    pub generation: u64,
    /// The file it came from.
    pub source: String,
    /// When it was imported.
    #[serde(with = "time::serde::rfc3339::option")]
    pub imported_at: Option<OffsetDateTime>,
    /// The organisations, by id.
    pub organisations: BTreeMap<ParticipantId, Organisation>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Current {
    generation: u64,
    source: String,
    #[serde(with = "time::serde::rfc3339")]
    imported_at: OffsetDateTime,
    count: usize,
}

/// Import safety switches.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// Accept an empty import or one that removes more than half of the organisations.
    pub force: bool,
}

/// What an import changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Organisations now in the directory.
    pub organisations: usize,
    /// Function addresses now in the directory.
    pub functions: usize,
    /// Organisations that are new.
    pub added: usize,
    /// Organisations that are gone.
    pub removed: usize,
    /// Organisations whose data changed.
    pub changed: usize,
    /// The new generation.
    pub generation: u64,
}

/// Why a function address check failed (AB-02: map to receipt `BV` / `not-found`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// The organisation is not in the imported directory.
    #[error("organisation {0} is not in the address book directory")]
    UnknownOrganisation(ParticipantId),
    /// The organisation has no such function address.
    #[error("{participant} has no function address {function}")]
    UnknownFunction {
        /// The organisation.
        participant: ParticipantId,
        /// The function asked for.
        function: FunctionAddress,
    },
    /// The store failed.
    #[error("address book directory store: {0}")]
    Store(String),
    /// The stored directory cannot be read.
    #[error("address book directory is damaged: {0}")]
    Damaged(String),
}

/// The imported directory, in the store (or memory only) with a read copy in memory.
#[derive(Debug)]
pub struct Directory {
    store: Option<Arc<dyn Keyspace>>,
    current: RwLock<Arc<Snapshot>>,
}

fn store_err(e: impl std::fmt::Display) -> DirectoryError {
    DirectoryError::Store(e.to_string())
}

fn org_key(generation: u64, id: &ParticipantId) -> Vec<u8> {
    format!("g/{generation:020}/{}", id.value()).into_bytes()
}

impl Directory {
    /// Opens the directory kept in `store` (`None`: in memory only, empty).
    pub fn open(store: Option<Arc<dyn Keyspace>>) -> Result<Self, DirectoryError> {
        let snapshot = match &store {
            Some(ks) => load(ks.as_ref())?,
            None => Snapshot::default(),
        };
        Ok(Self {
            store,
            current: RwLock::new(Arc::new(snapshot)),
        })
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the directory with `organisations` (see the module documentation).
    pub fn import(
        &self,
        organisations: Vec<Organisation>,
        source: &str,
        at: OffsetDateTime,
        options: ImportOptions,
    ) -> Result<ImportReport, ImportError> {
        let old = self.snapshot();
        let new: BTreeMap<ParticipantId, Organisation> = organisations
            .into_iter()
            .map(|o| (o.id.clone(), o))
            .collect();
        let removed = old
            .organisations
            .keys()
            .filter(|k| !new.contains_key(*k))
            .count();
        if !options.force {
            if new.is_empty() {
                return Err(ImportError::Refused(
                    "the import holds no organisation; use --force to empty the directory".into(),
                ));
            }
            if removed * 2 > old.organisations.len() && old.organisations.len() >= 4 {
                return Err(ImportError::Refused(format!(
                    "the import would remove {removed} of {} organisations; check the export, \
                     or use --force",
                    old.organisations.len()
                )));
            }
        }
        let report = ImportReport {
            organisations: new.len(),
            functions: new.values().map(|o| o.functions.len()).sum(),
            added: new
                .keys()
                .filter(|k| !old.organisations.contains_key(*k))
                .count(),
            removed,
            changed: new
                .iter()
                .filter(|(k, v)| old.organisations.get(*k).is_some_and(|o| o != *v))
                .count(),
            generation: old.generation + 1,
        };
        let snapshot = Snapshot {
            generation: report.generation,
            source: source.to_owned(),
            imported_at: Some(at),
            organisations: new,
        };
        if let Some(ks) = &self.store {
            persist(ks.as_ref(), &snapshot).map_err(|e| ImportError::Refused(e.to_string()))?;
        }
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
        Ok(report)
    }

    /// An organisation of the imported directory.
    pub fn organisation(&self, id: &ParticipantId) -> Option<Organisation> {
        self.snapshot().organisations.get(id).cloned()
    }

    /// Checks that `function` is a function address of `participant` (AB-02).
    pub fn check_function(
        &self,
        participant: &ParticipantId,
        function: &FunctionAddress,
    ) -> Result<Function, DirectoryError> {
        let snapshot = self.snapshot();
        let org = snapshot
            .organisations
            .get(participant)
            .ok_or_else(|| DirectoryError::UnknownOrganisation(participant.clone()))?;
        org.functions
            .iter()
            .find(|f| &f.id == function)
            .cloned()
            .ok_or_else(|| DirectoryError::UnknownFunction {
                participant: participant.clone(),
                function: function.clone(),
            })
    }
}

fn load(ks: &dyn Keyspace) -> Result<Snapshot, DirectoryError> {
    let Some(current) = ks.get(CURRENT).map_err(store_err)? else {
        return Ok(Snapshot::default());
    };
    let current: Current =
        serde_json::from_slice(&current).map_err(|e| DirectoryError::Damaged(e.to_string()))?;
    let prefix = format!("g/{:020}/", current.generation).into_bytes();
    let mut organisations = BTreeMap::new();
    for (_, v) in ks.scan_prefix(&prefix, usize::MAX).map_err(store_err)? {
        let org: Organisation =
            serde_json::from_slice(&v).map_err(|e| DirectoryError::Damaged(e.to_string()))?;
        organisations.insert(org.id.clone(), org);
    }
    if organisations.len() != current.count {
        return Err(DirectoryError::Damaged(format!(
            "generation {} should hold {} organisations, {} found",
            current.generation,
            current.count,
            organisations.len()
        )));
    }
    Ok(Snapshot {
        generation: current.generation,
        source: current.source,
        imported_at: Some(current.imported_at),
        organisations,
    })
}

/// Writes the new generation, then the pointer to it (the switch), then deletes every other
/// generation (also leftovers of an import that crashed before its switch).
fn persist(ks: &dyn Keyspace, s: &Snapshot) -> Result<(), DirectoryError> {
    for org in s.organisations.values() {
        let value = serde_json::to_vec(org).map_err(store_err)?;
        ks.put(&org_key(s.generation, &org.id), &value)
            .map_err(store_err)?;
    }
    let current = Current {
        generation: s.generation,
        source: s.source.clone(),
        imported_at: s.imported_at.unwrap_or(OffsetDateTime::UNIX_EPOCH),
        count: s.organisations.len(),
    };
    ks.put(CURRENT, &serde_json::to_vec(&current).map_err(store_err)?)
        .map_err(store_err)?;
    let keep = format!("g/{:020}/", s.generation).into_bytes();
    for (k, _) in ks.scan_prefix(b"g/", usize::MAX).map_err(store_err)? {
        if !k.starts_with(&keep) {
            ks.remove(&k).map_err(store_err)?;
        }
    }
    Ok(())
}

impl Organisation {
    /// Whether any text of the organisation or its functions contains `needle` (lower case).
    fn matches(&self, needle: &str) -> bool {
        let hit = |s: &str| s.to_lowercase().contains(needle);
        hit(self.id.value())
            || hit(&self.name)
            || self.description.as_deref().is_some_and(hit)
            || self.identifiers.iter().any(|s| hit(s))
            || self.functions.iter().any(|f| {
                hit(f.id.as_str())
                    || hit(&f.name)
                    || f.description.as_deref().is_some_and(hit)
                    || f.categories.iter().chain(&f.keywords).any(|s| hit(s))
            })
    }
}

/// An organisation this gateway serves (from its configuration), shown in listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalOrganisation {
    /// The participant.
    pub id: ParticipantId,
    /// Its mailboxes (function addresses) and names.
    pub mailboxes: Vec<(String, Option<String>)>,
}

/// What the SMP cache knows about one organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmpKnowledge {
    /// Document types with a cached signed answer.
    pub documents: Vec<DocumentId>,
    /// AS4 endpoint of the first usable route.
    pub endpoint: Option<String>,
    /// AP party id of that route.
    pub ap_party_id: Option<String>,
}

/// One row of a directory listing: an organisation and where we know it from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// The participant id.
    pub id: ParticipantId,
    /// From the imported directory.
    pub directory: Option<Organisation>,
    /// From the SMP cache.
    pub smp: Option<SmpKnowledge>,
    /// Served by this gateway.
    pub local: Option<LocalOrganisation>,
}

impl Listing {
    /// Merges the sources; `search` (case-insensitive substring of any id, name,
    /// description, category or keyword) filters. Sorted by participant id.
    pub fn build(
        snapshot: &Snapshot,
        smp: &[Arc<ServiceEntry>],
        local: &[LocalOrganisation],
        search: Option<&str>,
    ) -> Vec<Listing> {
        let mut rows: BTreeMap<ParticipantId, Listing> = BTreeMap::new();
        let row = |rows: &mut BTreeMap<ParticipantId, Listing>, id: &ParticipantId| {
            rows.entry(id.clone())
                .or_insert_with(|| Listing {
                    id: id.clone(),
                    directory: None,
                    smp: None,
                    local: None,
                })
                .clone()
        };
        for org in snapshot.organisations.values() {
            let mut r = row(&mut rows, &org.id);
            r.directory = Some(org.clone());
            rows.insert(org.id.clone(), r);
        }
        for entry in smp {
            let mut r = row(&mut rows, &entry.participant);
            let knowledge = r.smp.get_or_insert_with(|| SmpKnowledge {
                documents: Vec::new(),
                endpoint: None,
                ap_party_id: None,
            });
            knowledge.documents.push(entry.document.clone());
            if let (None, Ok(route)) = (&knowledge.endpoint, entry.route()) {
                knowledge.endpoint = Some(route.endpoint_url.clone());
                knowledge.ap_party_id = Some(route.ap_party_id.to_string());
            }
            rows.insert(entry.participant.clone(), r);
        }
        for l in local {
            let mut r = row(&mut rows, &l.id);
            r.local = Some(l.clone());
            rows.insert(l.id.clone(), r);
        }
        let needle = search.map(str::to_lowercase).filter(|s| !s.is_empty());
        rows.into_values()
            .filter(|r| needle.as_deref().is_none_or(|n| r.matches(n)))
            .collect()
    }

    fn matches(&self, needle: &str) -> bool {
        let hit = |s: &str| s.to_lowercase().contains(needle);
        hit(self.id.value())
            || self.directory.as_ref().is_some_and(|o| o.matches(needle))
            || self.smp.as_ref().is_some_and(|s| {
                s.documents.iter().any(|d| hit(d.value()))
                    || s.endpoint.as_deref().is_some_and(hit)
                    || s.ap_party_id.as_deref().is_some_and(hit)
            })
            || self.local.as_ref().is_some_and(|l| {
                l.mailboxes
                    .iter()
                    .any(|(a, n)| hit(a) || n.as_deref().is_some_and(hit))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(id: &str, name: &str, functions: &[(&str, &str)]) -> Organisation {
        Organisation {
            id: id.parse().unwrap(),
            name: name.into(),
            description: None,
            identifiers: Vec::new(),
            functions: functions
                .iter()
                .map(|(f, n)| Function {
                    id: FunctionAddress::parse(f).unwrap(),
                    name: (*n).into(),
                    description: None,
                    categories: vec!["Socialtjänst".into()],
                    keywords: Vec::new(),
                })
                .collect(),
        }
    }

    fn orgs(n: usize) -> Vec<Organisation> {
        (0..n)
            .map(|i| {
                org(
                    &format!("0203:org{i}.se"),
                    &format!("Org {i}"),
                    &[("reg", "Registrator")],
                )
            })
            .collect()
    }

    #[test]
    fn ab_02_function_addresses_are_checked_against_the_directory() {
        let d = Directory::open(None).unwrap();
        d.import(
            orgs(2),
            "x.json",
            OffsetDateTime::UNIX_EPOCH,
            ImportOptions::default(),
        )
        .unwrap();
        let p: ParticipantId = "0203:org0.se".parse().unwrap();
        let reg = FunctionAddress::parse("reg").unwrap();
        assert_eq!(d.check_function(&p, &reg).unwrap().name, "Registrator");
        let other = FunctionAddress::parse("ekonomi").unwrap();
        assert!(matches!(
            d.check_function(&p, &other),
            Err(DirectoryError::UnknownFunction { .. })
        ));
        let stranger: ParticipantId = "0203:nobody.se".parse().unwrap();
        assert!(matches!(
            d.check_function(&stranger, &reg),
            Err(DirectoryError::UnknownOrganisation(_))
        ));
    }

    #[test]
    fn ab_03_04_empty_or_mostly_removing_imports_are_refused_and_removals_apply() {
        let d = Directory::open(None).unwrap();
        let t = OffsetDateTime::UNIX_EPOCH;
        d.import(orgs(10), "a", t, ImportOptions::default())
            .unwrap();
        let err = d
            .import(Vec::new(), "b", t, ImportOptions::default())
            .unwrap_err();
        assert!(err.to_string().contains("no organisation"), "{err}");
        let err = d
            .import(orgs(4), "c", t, ImportOptions::default())
            .unwrap_err();
        assert!(err.to_string().contains("remove 6 of 10"), "{err}");
        assert_eq!(d.snapshot().organisations.len(), 10, "old snapshot kept");
        let report = d.import(orgs(9), "d", t, ImportOptions::default()).unwrap();
        assert_eq!(
            (report.removed, report.added, report.organisations),
            (1, 0, 9)
        );
        let forced = d
            .import(orgs(1), "e", t, ImportOptions { force: true })
            .unwrap();
        assert_eq!(forced.removed, 8);
    }

    #[test]
    fn listing_merges_sources_and_searches_case_insensitively() {
        let snapshot = Snapshot {
            organisations: orgs(2).into_iter().map(|o| (o.id.clone(), o)).collect(),
            ..Snapshot::default()
        };
        let local = [LocalOrganisation {
            id: "0203:ours.se".parse().unwrap(),
            mailboxes: vec![("inbox".into(), Some("Inkorg".into()))],
        }];
        let all = Listing::build(&snapshot, &[], &local, None);
        assert_eq!(all.len(), 3);
        let hits = Listing::build(&snapshot, &[], &local, Some("SOCIALTJÄNST"));
        assert_eq!(
            hits.len(),
            2,
            "categories are searched, Unicode case folded"
        );
        let hits = Listing::build(&snapshot, &[], &local, Some("inkorg"));
        assert_eq!(hits.len(), 1);
        assert!(hits[0].local.is_some());
        assert!(Listing::build(&snapshot, &[], &local, Some("nothing")).is_empty());
    }
}
