//! Where the development PKI puts things (the manifest), what is fixed by the seed (serials,
//! ports), and how files are written (keys 0600).

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{MANIFEST, Options};
use crate::error::CertError;

/// A certificate file and its private key file, relative to the PKI directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pair {
    pub cert: String,
    pub key: String,
}

/// One organisation: its identity, its ready configuration and its key material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgEntry {
    /// `0203:orga.test`
    pub participant: String,
    /// `AP0001-DEV`, the CN of `ap.cert`.
    pub ap_party_id: String,
    /// The organisation's `sdkgw` configuration file.
    pub config: String,
    pub as4_url: String,
    pub api_url: String,
    pub admin_url: String,
    pub ap: Pair,
    pub tls_server: Pair,
    pub tls_client: Pair,
    pub o2o_signing: Pair,
    pub o2o_encryption: Pair,
}

/// CA certificates (PEM, one certificate each).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaPaths {
    pub ap_root: String,
    pub ap_intermediate: String,
    pub smp_ca: String,
    pub tls_root: String,
    pub tls_intermediate: String,
    pub o2o_root: String,
    pub o2o_intermediate: String,
    pub foreign_ap_ca: String,
}

/// One CRL (PEM) per CA, each signed by that CA. Only `ap_intermediate` lists a certificate
/// (`negative.revoked_ap`); the others are empty, so whole-chain revocation checks have a source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrlPaths {
    pub ap_root: String,
    pub ap_intermediate: String,
    pub smp_ca: String,
    pub tls_root: String,
    pub tls_intermediate: String,
    pub o2o_root: String,
    pub o2o_intermediate: String,
}

/// Material that must be rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NegativePaths {
    pub expired_ap: Pair,
    pub revoked_ap: Pair,
    pub foreign_ap: Pair,
    /// CRL (PEM) signed by the AP intermediate, listing `revoked_ap` (= `crls.ap_intermediate`).
    pub crl: String,
}

/// `manifest.json`: every file of the PKI, paths relative to its directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub organisations: Vec<OrgEntry>,
    pub ca: CaPaths,
    /// The SMP signing certificate (issued by `ca.smp_ca`), for a local SMP.
    pub smp_signer: Pair,
    /// TLS server certificate of a local SMP (localhost, 127.0.0.1; issued by the TLS
    /// intermediate), which serves at the configurations' `address_book.url`.
    pub smp_tls: Pair,
    pub negative: NegativePaths,
    pub crls: CrlPaths,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Ports {
    pub(super) as4: SocketAddr,
    pub(super) api: SocketAddr,
    pub(super) admin: SocketAddr,
}

/// An organisation as planned: ids, directory name, ports.
#[derive(Debug, Clone)]
pub(super) struct PlannedOrg {
    pub(super) participant: String,
    pub(super) ap_party_id: String,
    /// Directory name below `orgs/`, from the participant's domain.
    pub(super) slug: String,
}

/// Everything fixed before any key is generated.
#[derive(Debug)]
pub(super) struct Plan {
    seed: u64,
    pub(super) orgs: Vec<PlannedOrg>,
    pub(super) ports: Vec<Ports>,
    pub(super) smp_url: String,
}

/// Most organisations one PKI holds (keeps the port block and AP ids in range).
const MAX_ORGS: usize = 99;

impl Plan {
    pub(super) fn new(options: &Options) -> Self {
        let seed = options.seed.unwrap_or_else(random_u64);
        // A block of 10 ports per organisation above a seed-chosen base in 20000..49990; the
        // base port itself is the local SMP.
        let base = 20_000 + u16::try_from(seed % 3_000).unwrap_or(0) * 10;
        let lo = |p: u16| SocketAddr::from((Ipv4Addr::LOCALHOST, p));
        let orgs: Vec<PlannedOrg> = options
            .participants
            .iter()
            .take(MAX_ORGS)
            .enumerate()
            .map(|(i, p)| PlannedOrg {
                participant: p.clone(),
                ap_party_id: format!("AP{:04}-DEV", i + 1),
                slug: slug(p),
            })
            .collect();
        let ports = (0..orgs.len())
            .map(|i| {
                let b = base + 10 * u16::try_from(i + 1).unwrap_or(0);
                Ports {
                    as4: lo(b),
                    api: lo(b + 1),
                    admin: lo(b + 2),
                }
            })
            .collect();
        Plan {
            seed,
            orgs,
            ports,
            smp_url: format!("https://127.0.0.1:{base}/"),
        }
    }

    /// A positive 16-byte serial derived from the seed and the certificate's name.
    pub(super) fn serial(&self, name: &str) -> Vec<u8> {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(&self.seed.to_be_bytes());
        ctx.update(name.as_bytes());
        let mut serial = ctx.finish().as_ref()[..16].to_vec();
        serial[0] = (serial[0] & 0x7f) | 0x10;
        serial
    }
}

/// Checks the participant ids an operator passed: `0203:` followed by a lower-case domain.
pub(super) fn check_participants(participants: &[String]) -> Result<(), CertError> {
    if participants.len() > MAX_ORGS {
        return Err(CertError::Generate(format!(
            "at most {MAX_ORGS} organisations per PKI"
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    for p in participants {
        let domain = p.strip_prefix("0203:").unwrap_or_default();
        let ok = domain.starts_with(|c: char| c.is_ascii_alphanumeric())
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
        if !ok {
            return Err(CertError::Generate(format!(
                "{p:?} is not a participant id of the form 0203:<lower-case domain>"
            )));
        }
        if !seen.insert(domain) {
            return Err(CertError::Generate(format!("{p} is given twice")));
        }
    }
    Ok(())
}

fn slug(participant: &str) -> String {
    participant
        .strip_prefix("0203:")
        .unwrap_or(participant)
        .to_owned()
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    // The seed only spreads ports and serials; if the system RNG fails, a fixed one is fine.
    let _ = aws_lc_rs::rand::fill(&mut b);
    u64::from_be_bytes(b)
}

/// The top-level entries a development PKI consists of (all removed by `--force`).
const OWNED: [&str; 6] = [MANIFEST, "ca", "orgs", "negative", "smp", "crl"];

/// Makes `out` ready: creates it, or refuses/clears an existing one.
pub(super) fn prepare_dir(out: &Path, force: bool) -> Result<(), CertError> {
    let io = |source| CertError::Io {
        path: out.display().to_string(),
        source,
    };
    if !out.exists() {
        return std::fs::create_dir_all(out).map_err(io);
    }
    let entries: Vec<String> = std::fs::read_dir(out)
        .map_err(io)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if entries.is_empty() {
        return Ok(());
    }
    let is_ours = entries.iter().any(|e| e == MANIFEST);
    if !is_ours {
        return Err(CertError::Generate(format!(
            "{} is not empty and holds no development PKI ({MANIFEST}); refusing to write into it",
            out.display()
        )));
    }
    if !force {
        return Err(CertError::Generate(format!(
            "{} already holds a development PKI; use --force to replace it",
            out.display()
        )));
    }
    // Remove the manifest first: an interrupted replacement then reads as incomplete.
    for name in OWNED {
        let path = out.join(name);
        let result = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else if path.exists() {
            std::fs::remove_file(&path)
        } else {
            Ok(())
        };
        result.map_err(|source| CertError::Io {
            path: path.display().to_string(),
            source,
        })?;
    }
    Ok(())
}

/// Writes a new file (creating parent directories); `secret` files get mode 0600 from the start,
/// so a key is never readable by others, not even briefly.
pub(super) fn write_file(path: &Path, bytes: &[u8], secret: bool) -> Result<(), CertError> {
    let io = |source| CertError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(seed: Option<u64>) -> Options {
        Options {
            participants: vec!["0203:orga.test".into(), "0203:orgb.test".into()],
            seed,
            force: false,
        }
    }

    #[test]
    fn same_seed_gives_same_serials_and_ports() {
        let (a, b) = (Plan::new(&options(Some(7))), Plan::new(&options(Some(7))));
        assert_eq!(a.serial("ap-root"), b.serial("ap-root"));
        assert_ne!(a.serial("ap-root"), a.serial("ap-intermediate"));
        assert_eq!(a.ports[1].as4, b.ports[1].as4);
        assert_eq!(a.smp_url, b.smp_url);
        let c = Plan::new(&options(Some(8)));
        assert_ne!(a.serial("ap-root"), c.serial("ap-root"));
    }

    #[test]
    fn ports_are_distinct_loopback_ports() {
        let plan = Plan::new(&options(Some(u64::MAX)));
        let mut all: Vec<_> = plan
            .ports
            .iter()
            .flat_map(|p| [p.as4, p.api, p.admin])
            .collect();
        all.iter().for_each(|a| assert!(a.ip().is_loopback()));
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 6);
    }

    #[test]
    fn serials_are_positive_16_byte_integers() {
        let s = Plan::new(&options(None)).serial("x");
        assert_eq!(s.len(), 16);
        assert!(s[0] & 0x80 == 0 && s[0] != 0);
    }

    #[test]
    fn participant_ids_are_checked() {
        assert!(check_participants(&["0203:orga.test".into()]).is_ok());
        for bad in [
            "orga.test",
            "0203:",
            "0203:Org A",
            "0203:../etc",
            "0203:..",
            "0203:.a",
        ] {
            assert!(check_participants(&[bad.into()]).is_err(), "{bad}");
        }
        assert!(check_participants(&["0203:a".into(), "0203:a".into()]).is_err());
    }

    #[test]
    fn refuses_foreign_non_empty_directory_and_existing_pki_without_force() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        let err = prepare_dir(dir.path(), true).unwrap_err().to_string();
        assert!(err.contains("refusing"), "{err}");

        let pki = tempfile::tempdir().unwrap();
        std::fs::write(pki.path().join(MANIFEST), "{}").unwrap();
        std::fs::create_dir(pki.path().join("ca")).unwrap();
        let err = prepare_dir(pki.path(), false).unwrap_err().to_string();
        assert!(err.contains("--force"), "{err}");
        prepare_dir(pki.path(), true).unwrap();
        assert!(!pki.path().join("ca").exists() && !pki.path().join(MANIFEST).exists());
    }

    #[cfg(unix)]
    #[test]
    fn secret_files_are_written_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("a/b/key.pem");
        write_file(&key, b"k", true).unwrap();
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(write_file(&key, b"k", true).is_err(), "never overwrites");
    }
}
