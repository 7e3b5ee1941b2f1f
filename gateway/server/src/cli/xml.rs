//! `sdkgw xml sign|verify`: XML signatures for operators and our own checks.
//!
//! `sign` makes the XHE/SMP enveloped signature (URI="", C14N 1.0, rsa-sha256, sha256,
//! X509Certificate, `ds:` prefix) and changes no byte outside the inserted Signature.
//! `verify` checks the one enveloped signature of a document and says who signed it, how the
//! signer's certificate chains (or that it was not checked) and what the signature covers.
//! Exit codes: 0 valid / signed, 1 invalid, 2 input or usage error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use sdkgw_certs::{Certificate, PasswordSource, load_certificates, load_key_pair};
use sdkgw_xml_security::dsig::{
    self, EmbeddedCertificate, VerifiedSignature, Verifier, VerifyPolicy,
};
use sdkgw_xml_security::x509::{
    Crl, MessagePurpose, O2o, RevocationChecker, RevocationPolicy, Smp, SmpPurpose, TrustStore,
};
use sdkgw_xml_security::xml::{Document, ParseOptions};

use super::{EXIT_INPUT, OutputFormat, print_json};

#[derive(Debug, Subcommand)]
pub(crate) enum XmlCommand {
    /// Sign a document with an enveloped XML signature (XHE/SMP profile).
    ///
    /// The Signature (URI="", enveloped-signature, C14N 1.0, rsa-sha256, sha256,
    /// KeyInfo/X509Data/X509Certificate, `ds:` prefix) becomes the last child of the root;
    /// every other byte of IN is kept. A document that already has a Signature is refused.
    Sign(SignArgs),
    /// Verify the enveloped signature of a document.
    ///
    /// Requires exactly one Signature, a child of the root, with one URI="" enveloped
    /// reference, and rsa-sha256/384/512 with SHA-2 digests. Prints the signer, its chain and
    /// what the signature covers. Exit code 0 only if the signature is valid and (unless
    /// --no-chain) the signer chains to a --trust anchor at --at without being revoked.
    Verify(VerifyArgs),
    /// Encrypt an element (or its content) for a recipient certificate (XML-Enc).
    ///
    /// The element named --element (in --ns) is replaced by an EncryptedData whose KeyInfo
    /// embeds the EncryptedKey with the recipient's X509Certificate (DIGG's XHE layout);
    /// defaults aes256-cbc + rsa-oaep-mgf1p. Every other byte of IN is kept.
    Encrypt(super::xml_enc::EncryptArgs),
    /// Decrypt every EncryptedData of a document with one of the given keys.
    ///
    /// The key is chosen by the EncryptedKey's certificate (several --key during a
    /// rollover). Exit code 1 on any decryption failure (one message, whatever failed).
    Decrypt(super::xml_enc::DecryptArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// Private key: PEM, DER or PKCS#12 (a PKCS#12 may also hold the certificate).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Signing certificate (PEM/DER); may be left out when --key is a PKCS#12 with it.
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// Environment variable holding the PKCS#12 password.
    #[arg(long, value_name = "VAR", conflicts_with = "password_file")]
    password_env: Option<String>,
    /// File whose first line is the PKCS#12 password.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Document to sign.
    input: PathBuf,
    /// Where to write the signed document.
    output: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// Document to verify.
    input: PathBuf,
    /// Trusted CA certificates (PEM bundle or DER; roots and intermediates). Repeatable.
    #[arg(long, value_name = "CA.pem")]
    trust: Vec<PathBuf>,
    /// CRLs (PEM or DER) to check the chain against. Repeatable.
    #[arg(long, value_name = "CRL")]
    crl: Vec<PathBuf>,
    /// Validate the certificate as of this instant (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
    /// Check integrity with the embedded certificate only; its chain is NOT checked.
    #[arg(long, conflicts_with_all = ["trust", "crl"])]
    no_chain: bool,
    /// Trust role the signer's certificate is checked for (key usage rules differ).
    #[arg(long, value_enum, default_value_t = Role::O2o)]
    role: Role,
    /// Also accept rsa-sha1 and sha1 (old signatures only).
    #[arg(long)]
    allow_sha1: bool,
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

/// `--role` of `verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Role {
    /// An organisation's (O2O) signing certificate: XHE envelopes, receipts.
    O2o,
    /// An SMP signing certificate: SignedServiceMetadata.
    Smp,
}

pub(crate) fn run(cmd: XmlCommand) -> ExitCode {
    match cmd {
        XmlCommand::Sign(args) => sign(args),
        XmlCommand::Verify(args) => verify(args),
        XmlCommand::Encrypt(args) => super::xml_enc::run_encrypt(args),
        XmlCommand::Decrypt(args) => super::xml_enc::run_decrypt(args),
    }
}

fn input_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("sdkgw: {msg}");
    ExitCode::from(EXIT_INPUT)
}

fn read(path: &Path) -> Result<Vec<u8>, ExitCode> {
    std::fs::read(path).map_err(|e| input_error(format!("cannot read {}: {e}", path.display())))
}

fn sign(args: SignArgs) -> ExitCode {
    let password = args
        .password_env
        .map(PasswordSource::Env)
        .or(args.password_file.map(PasswordSource::File));
    let pair = match &args.cert {
        Some(cert) => load_key_pair(cert, Some(&args.key), password.as_ref()),
        None => load_key_pair(&args.key, None, password.as_ref()),
    };
    let pair = match pair {
        Ok(p) => p,
        Err(e) => return input_error(e),
    };
    let input = match read(&args.input) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let signed = match dsig::sign_enveloped(
        input,
        pair.key(),
        pair.certificate(),
        &ParseOptions::default(),
    ) {
        Ok(s) => s,
        Err(e) => return input_error(format!("{}: {e}", args.input.display())),
    };
    if let Err(e) = std::fs::write(&args.output, signed) {
        return input_error(format!("cannot write {}: {e}", args.output.display()));
    }
    println!(
        "signed {} -> {} as {}",
        args.input.display(),
        args.output.display(),
        pair.certificate().subject()
    );
    ExitCode::SUCCESS
}

/// The outcome of the certificate check after a valid signature.
enum ChainReport {
    /// `--no-chain`.
    NotChecked,
    /// Subjects from the signer to the anchor.
    Valid(Vec<String>),
    /// Why the chain is not acceptable.
    Invalid(String),
}

fn verify(args: VerifyArgs) -> ExitCode {
    let at = match &args.at {
        None => time::OffsetDateTime::now_utc(),
        Some(text) => {
            match time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            {
                Ok(t) => t,
                Err(e) => return input_error(format!("--at {text:?} is not RFC 3339: {e}")),
            }
        }
    };
    let bytes = match read(&args.input) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let doc = match Document::parse(bytes, &ParseOptions::default()) {
        Ok(d) => d,
        Err(e) => return input_error(format!("{}: {e}", args.input.display())),
    };
    let mut policy = VerifyPolicy::default();
    if args.allow_sha1 {
        policy = policy.allowing_sha1();
    }
    let verified = match Verifier::new(&policy, &EmbeddedCertificate).verify_enveloped(&doc) {
        Ok(v) => v,
        Err(e) => {
            report_invalid(&args, &e.to_string(), &e.reason());
            return ExitCode::FAILURE;
        }
    };
    let chain = if args.no_chain {
        ChainReport::NotChecked
    } else {
        match check_chain(&args, verified.key().certificate(), at) {
            Ok(report) => report,
            Err(code) => return code,
        }
    };
    report_valid(&args, &doc, &verified, &chain, at);
    match chain {
        ChainReport::Invalid(_) => ExitCode::FAILURE,
        ChainReport::NotChecked | ChainReport::Valid(_) => ExitCode::SUCCESS,
    }
}

fn report_invalid(args: &VerifyArgs, error: &str, reason: &str) {
    match args.output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "file": args.input.display().to_string(),
            "valid": false,
            "error": error,
            "reason": reason,
        })),
        OutputFormat::Table => println!("INVALID {}: {error} ({reason})", args.input.display()),
    }
}

fn report_valid(
    args: &VerifyArgs,
    doc: &Document,
    verified: &VerifiedSignature,
    chain: &ChainReport,
    at: time::OffsetDateTime,
) {
    let cert = verified.key().certificate();
    let covers = verified.describe(doc);
    let algorithms = format!(
        "{}, {}",
        verified.method().uri(),
        verified.canonicalization().uri()
    );
    match args.output {
        OutputFormat::Json => {
            let (chain_status, subjects, problem) = match chain {
                ChainReport::NotChecked => ("not checked", Vec::new(), None),
                ChainReport::Valid(s) => ("valid", s.clone(), None),
                ChainReport::Invalid(why) => ("invalid", Vec::new(), Some(why.clone())),
            };
            print_json(&serde_json::json!({
                "file": args.input.display().to_string(),
                "valid": !matches!(chain, ChainReport::Invalid(_)),
                "signature": "valid",
                "signer": { "subject": cert.subject(), "issuer": cert.issuer(), "serial": cert.serial_hex() },
                "chain": { "status": chain_status, "subjects": subjects, "problem": problem, "at": sdkgw_certs::rfc3339(at) },
                "covers": covers,
                "algorithms": algorithms,
            }));
        }
        OutputFormat::Table => {
            let verdict = match chain {
                ChainReport::Invalid(_) => "INVALID",
                _ => "VALID",
            };
            println!("{verdict} {}", args.input.display());
            println!("  signature: valid ({algorithms})");
            println!(
                "  signer:    {} (serial {})",
                cert.subject(),
                cert.serial_hex()
            );
            println!("  issuer:    {}", cert.issuer());
            match chain {
                ChainReport::NotChecked => {
                    println!(
                        "  chain:     NOT checked (--no-chain): integrity with the embedded certificate only"
                    )
                }
                ChainReport::Valid(subjects) => {
                    println!("  chain:     valid at {}", sdkgw_certs::rfc3339(at));
                    for s in subjects {
                        println!("             {s}");
                    }
                }
                ChainReport::Invalid(why) => println!("  chain:     FAILED: {why}"),
            }
            for line in covers {
                println!("  covers:    {line}");
            }
        }
    }
}

/// Validates the signer's certificate against the `--trust` CAs and `--crl`s for the
/// chosen role. Self-issued `--trust` certificates are anchors, the others intermediates
/// (when none is self-issued, all are anchors). With `--crl`, every certificate of the path
/// must have a fresh status (fail closed); without, revocation is not checked and the report
/// says so.
fn check_chain(
    args: &VerifyArgs,
    signer: &Certificate,
    at: time::OffsetDateTime,
) -> Result<ChainReport, ExitCode> {
    if args.trust.is_empty() {
        return Err(input_error(
            "give --trust CA.pem (repeatable) to check the signer's chain, or --no-chain",
        ));
    }
    let mut cas = Vec::new();
    for path in &args.trust {
        match load_certificates(path, None) {
            Ok(mut certs) => cas.append(&mut certs),
            Err(e) => return Err(input_error(e)),
        }
    }
    let (mut anchors, mut intermediates): (Vec<Certificate>, Vec<Certificate>) =
        cas.into_iter().partition(|c| c.is_self_issued());
    if anchors.is_empty() {
        anchors = std::mem::take(&mut intermediates);
    }
    let checker = if args.crl.is_empty() {
        RevocationChecker::disabled()
    } else {
        let checker = RevocationChecker::new(RevocationPolicy::default());
        for path in &args.crl {
            let bytes = read(path)?;
            match Crl::parse_any(&bytes) {
                Ok(crls) => checker.add_crls(crls),
                Err(e) => return Err(input_error(format!("{}: {e}", path.display()))),
            }
        }
        checker
    };
    let result = match args.role {
        Role::O2o => TrustStore::<O2o>::new("--trust", anchors)
            .map(|s| s.with_intermediates(intermediates))
            .map(|s| {
                s.validate(signer, &[], MessagePurpose::Signature, at, &checker)
                    .map(|p| subjects(p.chain()))
            }),
        Role::Smp => TrustStore::<Smp>::new("--trust", anchors)
            .map(|s| s.with_intermediates(intermediates))
            .map(|s| {
                s.validate(signer, &[], SmpPurpose::Signature, at, &checker)
                    .map(|p| subjects(p.chain()))
            }),
    };
    let mut report = match result {
        Err(store) => return Err(input_error(format!("--trust: {store}"))),
        Ok(Ok(chain)) => ChainReport::Valid(chain),
        Ok(Err(path)) => ChainReport::Invalid(path.to_string()),
    };
    if let (ChainReport::Valid(chain), false) = (&mut report, checker.is_enabled()) {
        chain.push("(revocation NOT checked: no --crl given)".to_owned());
    }
    Ok(report)
}

fn subjects(chain: &[Certificate]) -> Vec<String> {
    chain.iter().map(|c| c.subject().to_owned()).collect()
}
