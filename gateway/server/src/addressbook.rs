//! The address book of a configured gateway: trust from `[trust.smp|as4|o2o]`, discovery from
//! `[address_book]` (SML zone, static SMP or directory file), HTTPS and cache from
//! `[address_book.http|cache]`, persistence in the store. The running gateway and
//! `sdkgw addressbook …` build it the same way.

use std::path::Path;
use std::sync::Arc;

use sdkgw_address_book::AddressBook;
use sdkgw_address_book::admin::Services;
use sdkgw_address_book::bdxl::SmlZone;
use sdkgw_address_book::cache::{self, SystemWallClock};
use sdkgw_address_book::directory::{self, Directory, LocalOrganisation};
use sdkgw_address_book::locator::{LocalDirectory, SmpLocator};
use sdkgw_address_book::resolver::{
    CachePolicy as DnsPolicy, CachingResolver, SystemClock, UdpResolver,
};
use sdkgw_address_book::smp::{HttpsTransport, SmpClient, TransportSettings};
use sdkgw_address_book::smp_url::SmpBaseUrl;
use sdkgw_address_book::trust::{RoleTrust, Trust};
use sdkgw_certs::{Certificate, load_certificates};
use sdkgw_http::{ClientTlsSettings, HostnameVerification, TrustAnchors};
use sdkgw_store::Store;

use crate::config::{AddressBookSource, Config, runtime};

/// Why the address book cannot be built; messages name the configuration key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);

fn err(message: impl Into<String>) -> SetupError {
    SetupError(message.into())
}

/// The address book (cache + directory) of `config`, persisted in `store`.
pub fn services(
    config: &Config,
    store: &dyn Store,
    is_gateway: bool,
) -> Result<Services, SetupError> {
    let trust = trust(config)?;
    let locator = locator(&config.address_book)?;
    let http = &config.address_book_policy.http;
    let settings = TransportSettings {
        tls: smp_tls(&http.tls_anchors)?,
        connect_timeout: http.connect_timeout,
        request_timeout: http.request_timeout,
        max_response_bytes: usize::try_from(http.max_response_bytes).unwrap_or(usize::MAX),
    };
    let client = SmpClient::new(
        locator,
        Arc::new(HttpsTransport::new(&settings)),
        Arc::new(trust),
        settings.max_response_bytes,
    );
    let keyspace = |name: &str| {
        store
            .keyspace(name)
            .map_err(|e| err(format!("address book store: {e}")))
    };
    let book = AddressBook::new(
        client,
        config.address_book_policy.cache.clone(),
        Some(keyspace(cache::KEYSPACE)?),
        Arc::new(SystemWallClock),
    );
    let directory =
        Directory::open(Some(keyspace(directory::KEYSPACE)?)).map_err(|e| err(e.to_string()))?;
    Ok(Services {
        book,
        directory: Arc::new(directory),
        is_gateway,
    })
}

/// The organisations and mailboxes this gateway serves, for directory listings.
pub fn local_organisations(config: &Config) -> Vec<LocalOrganisation> {
    config
        .participants
        .iter()
        .map(|p| LocalOrganisation {
            id: p.id.clone(),
            mailboxes: p
                .mailboxes
                .iter()
                .map(|m| (m.address.to_string(), m.name.clone()))
                .collect(),
        })
        .collect()
}

fn trust(config: &Config) -> Result<Trust, SetupError> {
    let t = runtime::load_trust(config).map_err(|findings| {
        err(findings
            .iter()
            .map(|f| f.to_string())
            .collect::<Vec<_>>()
            .join("; "))
    })?;
    Ok(Trust {
        environment: config.environment.name,
        smp: RoleTrust::new(t.smp.store, t.smp.revocation),
        ap: RoleTrust::new(t.as4.store, t.as4.revocation),
        o2o: RoleTrust::new(t.o2o.store, t.o2o.revocation),
    })
}

fn locator(source: &AddressBookSource) -> Result<SmpLocator, SetupError> {
    Ok(match source {
        AddressBookSource::Sml { zone } => {
            let zone = SmlZone::parse(zone).map_err(|e| err(format!("address_book.zone: {e}")))?;
            let udp = UdpResolver::system()
                .map_err(|e| err(format!("address_book: DNS resolver: {e}")))?;
            let resolver = CachingResolver::new(udp, Arc::new(SystemClock), DnsPolicy::default());
            SmpLocator::Bdxl {
                zone,
                resolver: Arc::new(resolver),
            }
        }
        AddressBookSource::Smp { url } => SmpLocator::Static(
            SmpBaseUrl::parse(url).map_err(|e| err(format!("address_book.url: {e}")))?,
        ),
        AddressBookSource::File { path } => SmpLocator::Directory(Arc::new(
            LocalDirectory::load(path).map_err(|e| err(format!("address_book.path: {e}")))?,
        )),
    })
}

/// A TLS client config trusting the CAs in `files` for the SMP's HTTPS certificate. System
/// bundles may hold certificates our parser or rustls refuses; those are skipped, the rest
/// are used (an error only when none is usable).
fn smp_tls(files: &[std::path::PathBuf]) -> Result<Arc<rustls::ClientConfig>, SetupError> {
    let mut anchors = Vec::new();
    for file in files {
        anchors.extend(read_anchors(file)?);
    }
    let usable: Vec<Certificate> = anchors
        .into_iter()
        .filter(|c| TrustAnchors::new(std::slice::from_ref(c)).is_ok())
        .collect();
    let trust = TrustAnchors::new(&usable).map_err(|e| {
        err(format!(
            "address_book.http.tls_anchors: no usable CA certificate ({e})"
        ))
    })?;
    sdkgw_http::tls::client_config(&ClientTlsSettings {
        identity: None,
        server_trust: trust,
        hostname: HostnameVerification::Verify,
    })
    .map_err(|e| err(format!("address_book.http: {e}")))
}

fn read_anchors(file: &Path) -> Result<Vec<Certificate>, SetupError> {
    if let Ok(certs) = load_certificates(file, None) {
        return Ok(certs);
    }
    // A PEM bundle with a certificate our parser refuses: take the others one by one.
    let text = std::fs::read_to_string(file).map_err(|e| {
        err(format!(
            "address_book.http.tls_anchors: cannot read {}: {e}",
            file.display()
        ))
    })?;
    Ok(text
        .split_inclusive("-----END CERTIFICATE-----")
        .filter_map(|block| {
            block
                .find("-----BEGIN CERTIFICATE-----")
                .map(|i| &block[i..])
        })
        .filter_map(|block| Certificate::from_base64(block).ok())
        .collect())
}
