//! `sdkgw pki init`: the development PKI with a ready configuration per organisation.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use sdkgw_certs::devpki::{self, Manifest, Options};
use sdkgw_server::config;

use super::{EXIT_INPUT, OutputFormat, print_json};

/// The organisations when no `--org` is given.
pub(crate) const DEFAULT_ORGS: [&str; 2] = ["0203:orga.test", "0203:orgb.test"];

#[derive(Debug, Subcommand)]
pub(crate) enum PkiCommand {
    /// Generate a development PKI mirroring DIGG's hierarchy, plus a ready `sdkgw` configuration
    /// per organisation.
    ///
    /// Writes into DIR: AP root + intermediate with one AP certificate per organisation
    /// (CN AP0001-DEV, AP0002-DEV, … in --org order); SMP CA + SMP signer; TLS root + function
    /// CA with server and client certificates for localhost/127.0.0.1; O2O root + intermediate
    /// with a signing and an encryption certificate per organisation (participant id in the
    /// subject serialNumber); negative material (an AP CA of a foreign environment with one AP
    /// certificate, an expired and a revoked AP certificate, a CRL of the AP intermediate listing
    /// the revoked one); orgs/<domain>/sdkgw.toml with distinct loopback ports; and
    /// manifest.json describing every file (paths relative to DIR). Keys are RSA 3072, written
    /// with mode 0600. Refuses a DIR that is not empty unless it holds a development PKI and
    /// --force is given.
    Init {
        /// Directory to create (or replace with --force).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// A participant id to make an organisation for (repeat; default orga.test and orgb.test).
        #[arg(long = "org", value_name = "0203:DOMAIN")]
        orgs: Vec<String>,
        /// Fixes certificate serial numbers and the loopback ports of the configurations. Keys,
        /// signatures and fingerprints still differ on every run: aws-lc-rs draws RSA keys from
        /// the operating system's random generator and cannot be seeded.
        #[arg(long, value_name = "N")]
        seed: Option<u64>,
        /// Replace an existing development PKI in DIR.
        #[arg(long)]
        force: bool,
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
}

pub(crate) fn run(cmd: PkiCommand) -> ExitCode {
    let PkiCommand::Init {
        out,
        orgs,
        seed,
        force,
        output,
    } = cmd;
    let participants = if orgs.is_empty() {
        DEFAULT_ORGS.iter().map(|s| s.to_string()).collect()
    } else {
        orgs
    };
    let options = Options {
        participants,
        seed,
        force,
    };
    match init(&out, &options) {
        Ok(manifest) => {
            match output {
                OutputFormat::Json => print_json(&manifest),
                OutputFormat::Table => print_summary(&out, &manifest),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sdkgw: {e}");
            ExitCode::from(EXIT_INPUT)
        }
    }
}

/// Generates the PKI with the server's configuration format.
pub(crate) fn init(out: &Path, options: &Options) -> Result<Manifest, sdkgw_certs::CertError> {
    devpki::generate(out, options, &config::dev::render)
}

pub(crate) fn print_summary(out: &Path, m: &Manifest) {
    println!(
        "development PKI in {} (manifest.json lists every file)",
        out.display()
    );
    println!("  AP CA       {} <- {}", m.ca.ap_intermediate, m.ca.ap_root);
    println!(
        "  SMP CA      {}  (signer {})",
        m.ca.smp_ca, m.smp_signer.cert
    );
    println!(
        "  TLS CA      {} <- {}",
        m.ca.tls_intermediate, m.ca.tls_root
    );
    println!(
        "  O2O CA      {} <- {}",
        m.ca.o2o_intermediate, m.ca.o2o_root
    );
    for org in &m.organisations {
        println!(
            "  {:<11} {}  config {}  AS4 {}  API {}  admin {}",
            org.ap_party_id, org.participant, org.config, org.as4_url, org.api_url, org.admin_url
        );
    }
    println!(
        "  negative    expired {}, revoked {} (CRL {}), foreign {} (CA {})",
        m.negative.expired_ap.cert,
        m.negative.revoked_ap.cert,
        m.negative.crl,
        m.negative.foreign_ap.cert,
        m.ca.foreign_ap_ca
    );
}
