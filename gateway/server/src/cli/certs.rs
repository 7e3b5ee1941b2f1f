//! `sdkgw certs inspect FILE`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use sdkgw_certs::{CertificateReport, KeyMaterial, PasswordSource, load_file};

use super::{EXIT_INPUT, OutputFormat, print_json};

#[derive(Debug, Subcommand)]
pub(crate) enum CertsCommand {
    /// Show every certificate in a file: subject, issuer, serial, validity, key type and size,
    /// key usage, extended key usage, SAN and SHA-256 fingerprint.
    ///
    /// FILE may be PEM (several certificates and/or a key), DER, or PKCS#12 (including the
    /// legacy RC2/3DES files DIGG publishes). A PKCS#12 password is read from an environment
    /// variable or a file — never from the command line. Exit code 0, or 2 if the file cannot
    /// be read or decoded (wrong password, unknown format).
    Inspect {
        file: PathBuf,
        /// Name of the environment variable holding the PKCS#12 password.
        #[arg(long, value_name = "VAR", conflicts_with = "password_file")]
        password_env: Option<String>,
        /// File whose first line is the PKCS#12 password.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
}

pub(crate) fn run(cmd: CertsCommand) -> ExitCode {
    let CertsCommand::Inspect {
        file,
        password_env,
        password_file,
        output,
    } = cmd;
    let password = password_env
        .map(PasswordSource::Env)
        .or(password_file.map(PasswordSource::File));
    let material = match load_file(&file, password.as_ref()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("sdkgw: {e}");
            return ExitCode::from(EXIT_INPUT);
        }
    };
    let now = time::OffsetDateTime::now_utc();
    let reports: Vec<CertificateReport> = material
        .certificates
        .iter()
        .map(|c| CertificateReport::new(c, now))
        .collect();
    match output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "file": file.display().to_string(),
            "format": material.format,
            "private_key": private_key(&material),
            "certificates": reports,
        })),
        OutputFormat::Table => print_table(&file, &material, &reports),
    }
    ExitCode::SUCCESS
}

fn private_key(material: &KeyMaterial) -> Option<String> {
    material.key.as_ref().map(|k| {
        let matches = material.certificates.iter().any(|c| k.matches(c));
        format!(
            "RSA {}{}",
            k.bits(),
            if matches {
                ", matches a certificate in the file"
            } else {
                ""
            }
        )
    })
}

fn print_table(file: &std::path::Path, material: &KeyMaterial, reports: &[CertificateReport]) {
    println!(
        "{}: {}, {} certificate{}, {}",
        file.display(),
        material.format,
        reports.len(),
        if reports.len() == 1 { "" } else { "s" },
        private_key(material).map_or("no private key".to_owned(), |k| format!("private key {k}"))
    );
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_owned()
        } else {
            v.join(", ")
        }
    };
    for (i, r) in reports.iter().enumerate() {
        println!();
        println!("[{}] subject          {}", i + 1, r.subject);
        let rows = [
            ("issuer", r.issuer.clone()),
            ("serial", r.serial.clone()),
            (
                "valid",
                format!("{} .. {} ({})", r.not_before, r.not_after, r.status),
            ),
            ("key", r.key.clone()),
            ("ca", if r.ca { "yes".into() } else { "no".into() }),
            (
                "key usage",
                list(
                    &r.key_usage
                        .iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>(),
                ),
            ),
            ("ext. key usage", list(&r.extended_key_usage)),
            ("SAN", list(&r.subject_alt_names)),
            ("SHA-256", r.sha256_fingerprint.clone()),
        ];
        for (label, value) in rows {
            println!("    {label:<16} {value}");
        }
    }
}
