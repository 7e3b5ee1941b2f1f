//! The imported directory in the sled store: survives a restart, swaps atomically, cleans up
//! what an interrupted import left.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use sdkgw_address_book::directory::{self, Directory, ImportFormat, ImportOptions};
use sdkgw_store::{Keyspace, SledStore, Store, StoreConfig};
use time::OffsetDateTime;

const CSV: &str = "organisation_id,organisation_name,function_id,function_name,keywords\n\
    0203:a.se,A kommun,a-reg,Registrator,diarium\n\
    0203:a.se,A kommun,a-soc,Socialtjänsten,\n\
    0203:b.se,B myndighet,b-reg,Registrator,\n";

fn keyspace(store: &SledStore) -> Arc<dyn Keyspace> {
    store.keyspace(directory::KEYSPACE).unwrap()
}

#[test]
fn an_import_survives_a_restart_and_replaces_the_previous_one_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let at = OffsetDateTime::now_utc();
    {
        let store = SledStore::open(StoreConfig::at(dir.path())).unwrap();
        let d = Directory::open(Some(keyspace(&store))).unwrap();
        let orgs = directory::format::parse(CSV.as_bytes(), ImportFormat::Csv).unwrap();
        let report = d
            .import(orgs, "export.csv", at, ImportOptions::default())
            .unwrap();
        assert_eq!((report.organisations, report.functions), (2, 3));
        let smaller = directory::format::parse(
            b"organisation_id,organisation_name\n0203:a.se,A kommun\n",
            ImportFormat::Csv,
        )
        .unwrap();
        d.import(smaller, "second.csv", at, ImportOptions::default())
            .unwrap();
        // A crashed import left a generation nobody points at.
        keyspace(&store)
            .put(b"g/00000000000000000099/0203:x.se", b"{}")
            .unwrap();
    }
    let store = SledStore::open(StoreConfig::at(dir.path())).unwrap();
    let d = Directory::open(Some(keyspace(&store))).unwrap();
    let snapshot = d.snapshot();
    assert_eq!(
        (snapshot.generation, snapshot.source.as_str()),
        (2, "second.csv")
    );
    assert_eq!(snapshot.organisations.len(), 1);
    assert!(
        snapshot
            .organisations
            .values()
            .all(|o| o.functions.is_empty())
    );
    let orgs = directory::format::parse(CSV.as_bytes(), ImportFormat::Csv).unwrap();
    d.import(orgs, "third.csv", at, ImportOptions::default())
        .unwrap();
    let left = keyspace(&store).scan_prefix(b"g/", 100).unwrap();
    assert_eq!(left.len(), 2, "only the current generation is kept");
    assert!(
        left.iter()
            .all(|(k, _)| k.starts_with(b"g/00000000000000000003/"))
    );
}
