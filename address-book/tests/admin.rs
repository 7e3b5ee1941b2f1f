//! The operator socket: a running gateway answers `sdkgw addressbook` requests with its own
//! cache; a second server on the same directory is refused; the socket goes away on drop.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sdkgw_address_book::AddressBook;
use sdkgw_address_book::admin::{AdminClient, AdminServer, Request, Response, Services};
use sdkgw_address_book::cache::SystemWallClock;
use sdkgw_address_book::directory::{Directory, ImportFormat, format};
use support::*;

async fn call(dir: PathBuf, request: Request) -> Response {
    tokio::task::spawn_blocking(move || {
        AdminClient::connect(&dir)
            .unwrap()
            .expect("a server answers")
            .call(&request, Duration::from_secs(30))
    })
    .await
    .unwrap()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_gateway_answers_lookups_imports_listings_and_stats_on_its_socket() {
    let smp = fake_smp();
    let running = serve(&smp).await;
    let book = AddressBook::new(
        client(running.url()),
        Default::default(),
        None,
        Arc::new(SystemWallClock),
    );
    let services = Services {
        book: book.clone(),
        directory: Arc::new(Directory::open(None).unwrap()),
        is_gateway: true,
    };
    let data = tempfile::tempdir().unwrap();
    let server = AdminServer::start(services.clone(), data.path())
        .await
        .unwrap();
    let dir = data.path().to_path_buf();

    let Response::Lookup(report) = call(
        dir.clone(),
        Request::Lookup {
            participant: participant(1),
            document: message_doc(),
            fresh: false,
        },
    )
    .await
    else {
        panic!("not a lookup answer")
    };
    let view = report.result.unwrap();
    assert_eq!(view.route.unwrap().ap_party_id, "AP0002-DEV");
    assert_eq!(view.served_from, "smp");
    assert_eq!(
        book.metrics().lookups,
        1,
        "the gateway's own cache answered"
    );

    let csv = b"organisation_id,organisation_name,function_id,function_name\n0203:orgb.test,Org B,reg,Registrator\n";
    let organisations = format::parse(csv, ImportFormat::Csv).unwrap();
    let Response::Import(imported) = call(
        dir.clone(),
        Request::Import {
            organisations,
            source: "b.csv".into(),
            force: false,
        },
    )
    .await
    else {
        panic!("not an import answer")
    };
    assert_eq!(imported.functions, 1);
    let Response::List(rows) = call(
        dir.clone(),
        Request::List {
            search: Some("registrator".into()),
            local: Vec::new(),
        },
    )
    .await
    else {
        panic!("not a listing")
    };
    assert_eq!(rows.len(), 1);
    assert!(rows[0].directory.is_some() && rows[0].smp.is_some());

    let Response::Stats(stats) = call(dir.clone(), Request::Stats).await else {
        panic!("not stats")
    };
    assert!(stats.from_running_gateway);
    assert_eq!(
        (stats.entries, stats.routable, stats.directory_organisations),
        (1, 1, 1)
    );

    let second = AdminServer::start(services, data.path()).await.unwrap_err();
    assert!(second.message.contains("already serves"), "{second}");
    drop(server);
    assert!(AdminClient::connect(data.path()).unwrap().is_none());
}

#[tokio::test]
async fn a_request_that_is_not_one_json_line_gets_an_error_answer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let smp = fake_smp();
    let running = serve(&smp).await;
    let services = Services {
        book: AddressBook::new(
            client(running.url()),
            Default::default(),
            None,
            Arc::new(SystemWallClock),
        ),
        directory: Arc::new(Directory::open(None).unwrap()),
        is_gateway: true,
    };
    let data = tempfile::tempdir().unwrap();
    let server = AdminServer::start(services, data.path()).await.unwrap();
    let mut conn = tokio::net::UnixStream::connect(server.path())
        .await
        .unwrap();
    conn.write_all(b"{\"op\":\"launch-missiles\"}\n")
        .await
        .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.contains("\"error\"") && answer.contains("bad request"),
        "{answer}"
    );
}
