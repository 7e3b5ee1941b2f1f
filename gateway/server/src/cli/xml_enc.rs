//! `sdkgw xml encrypt|decrypt`: XML encryption for operators and our own checks.
//!
//! `encrypt` replaces the element(s) named `--element` (in `--ns`) by an `EncryptedData`
//! whose KeyInfo embeds the EncryptedKey with the recipient certificate (the XHE layout);
//! every other byte of IN is kept. `decrypt` replaces every EncryptedData by its plaintext,
//! picking among the given keys by the EncryptedKey's certificate (rollover).
//! Exit codes: 0 done, 1 decryption failed or algorithm not allowed, 2 input or usage error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use sdkgw_certs::{Certificate, PasswordSource, load_certificates, load_file};
use sdkgw_xml_security::crypto::{AlgorithmPolicy, DataEncryption, DecryptionKey, KeyTransport};
use sdkgw_xml_security::xenc::{
    EncryptOptions, RecipientKey, XENC_NS, XencError, decrypt_document, encrypt_element,
};
use sdkgw_xml_security::xml::{Document, ElementRef, ParseOptions};

use super::EXIT_INPUT;

/// Data encryption algorithm.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum AlgArg {
    /// `xmlenc#aes256-cbc` (DIGG's XHE profile).
    #[value(name = "aes256-cbc")]
    Aes256Cbc,
    #[value(name = "aes128-cbc")]
    Aes128Cbc,
    /// `xmlenc11#aes128-gcm` (the AS4 profile's cipher).
    #[value(name = "aes128-gcm")]
    Aes128Gcm,
    #[value(name = "aes256-gcm")]
    Aes256Gcm,
}

/// Key transport algorithm.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum KeyTransportArg {
    /// `xmlenc#rsa-oaep-mgf1p`, SHA-1 (DIGG's XHE profile).
    #[value(name = "rsa-oaep-mgf1p")]
    RsaOaepMgf1p,
    /// `xmlenc11#rsa-oaep` with SHA-256 and MGF1-SHA256 (the AS4 profile).
    #[value(name = "rsa-oaep")]
    RsaOaep,
}

/// Which algorithms `decrypt` accepts.
#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub(crate) enum PolicyArg {
    /// Everything implemented except SHA-1 signatures.
    #[default]
    Any,
    /// aes256-cbc + rsa-oaep-mgf1p only.
    Xhe,
    /// aes128-gcm + rsa-oaep (SHA-256/MGF1-SHA256) only.
    As4,
}

/// Where a PKCS#12 password comes from (never the command line).
#[derive(Debug, Args)]
pub(crate) struct PasswordArgs {
    /// Environment variable holding the PKCS#12 password.
    #[arg(long, value_name = "VAR", conflicts_with = "password_file")]
    password_env: Option<String>,
    /// File whose first line is the PKCS#12 password.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
}

impl PasswordArgs {
    fn source(&self) -> Option<PasswordSource> {
        self.password_env
            .clone()
            .map(PasswordSource::Env)
            .or(self.password_file.clone().map(PasswordSource::File))
    }
}

#[derive(Debug, Args)]
pub(crate) struct EncryptArgs {
    /// Recipient certificate (PEM, DER or PKCS#12; the first certificate is used).
    #[arg(long, value_name = "FILE")]
    cert: PathBuf,
    /// Local name of the element to encrypt.
    #[arg(long, value_name = "LOCALNAME")]
    element: String,
    /// Namespace URI of the element (default: any namespace).
    #[arg(long, value_name = "URI")]
    ns: Option<String>,
    #[arg(long, value_enum, default_value = "aes256-cbc")]
    alg: AlgArg,
    #[arg(long, value_enum, default_value = "rsa-oaep-mgf1p")]
    key_transport: KeyTransportArg,
    /// Encrypt the element's content (`xmlenc#Content`) instead of the element.
    #[arg(long)]
    content: bool,
    /// Encrypt every matching element (otherwise more than one match is an error).
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    password: PasswordArgs,
    /// Document to encrypt.
    input: PathBuf,
    /// Where to write the result.
    output: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct DecryptArgs {
    /// Private key (PEM, DER or PKCS#12); repeat for several keys during a rollover.
    #[arg(long, value_name = "FILE", required = true)]
    key: Vec<PathBuf>,
    /// Certificate(s) of the keys (optional: keys are also matched by public key).
    #[arg(long, value_name = "FILE")]
    cert: Vec<PathBuf>,
    /// Which algorithms to accept.
    #[arg(long, value_enum, default_value = "any")]
    policy: PolicyArg,
    #[command(flatten)]
    password: PasswordArgs,
    /// Document to decrypt.
    input: PathBuf,
    /// Where to write the result.
    output: PathBuf,
}

fn input_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("sdkgw: {msg}");
    ExitCode::from(EXIT_INPUT)
}

fn read(path: &Path) -> Result<Vec<u8>, ExitCode> {
    std::fs::read(path).map_err(|e| input_error(format!("cannot read {}: {e}", path.display())))
}

fn options(args: &EncryptArgs) -> EncryptOptions {
    EncryptOptions {
        data: match args.alg {
            AlgArg::Aes256Cbc => DataEncryption::Aes256Cbc,
            AlgArg::Aes128Cbc => DataEncryption::Aes128Cbc,
            AlgArg::Aes128Gcm => DataEncryption::Aes128Gcm,
            AlgArg::Aes256Gcm => DataEncryption::Aes256Gcm,
        },
        key_transport: match args.key_transport {
            KeyTransportArg::RsaOaepMgf1p => KeyTransport::RSA_OAEP_MGF1P,
            KeyTransportArg::RsaOaep => KeyTransport::RSA_OAEP_SHA256,
        },
        content_only: args.content,
        id: None,
    }
}

pub(crate) fn run_encrypt(args: EncryptArgs) -> ExitCode {
    let pw = args.password.source();
    let recipient = match load_certificates(&args.cert, pw.as_ref()) {
        Ok(mut certs) => certs.remove(0),
        Err(e) => return input_error(e),
    };
    let mut bytes = match read(&args.input) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let opts = options(&args);
    let ns = args.ns.as_deref();
    let is_target = |e: &ElementRef<'_>| {
        e.local_name() == args.element && ns.is_none_or(|n| e.namespace() == Some(n))
    };
    let found = match Document::parse(bytes.clone(), &ParseOptions::default()) {
        Ok(doc) => doc.elements().filter(is_target).count(),
        Err(e) => return input_error(format!("{}: {e}", args.input.display())),
    };
    if found == 0 {
        return input_error(format!(
            "{}: no element {} found",
            args.input.display(),
            name(&args)
        ));
    }
    if found > 1 && !args.all {
        return input_error(format!(
            "{}: {found} elements {} found; use --all to encrypt them all",
            args.input.display(),
            name(&args)
        ));
    }
    // One match per round, re-parsing in between: an encrypted element disappears (or, with
    // --content, holds an EncryptedData), and matches nested in it are encrypted with it.
    let mut done = 0usize;
    for _ in 0..found {
        let doc = match Document::parse(bytes.clone(), &ParseOptions::default()) {
            Ok(d) => d,
            Err(e) => {
                return input_error(format!("cannot re-read the partly encrypted document: {e}"));
            }
        };
        let Some(target) = doc
            .elements()
            .filter(is_target)
            .find(|e| !args.content || !has_encrypted_content(*e))
        else {
            break;
        };
        bytes = match encrypt_element(&doc, target, &recipient, &opts) {
            Ok(b) => b,
            Err(e) => return input_error(format!("cannot encrypt: {e}")),
        };
        done += 1;
    }
    if let Err(e) = std::fs::write(&args.output, &bytes) {
        return input_error(format!("cannot write {}: {e}", args.output.display()));
    }
    println!(
        "encrypted {done} element(s) {} with {}/{} for {} -> {}",
        name(&args),
        opts.data.short_name(),
        opts.key_transport,
        recipient.subject(),
        args.output.display()
    );
    ExitCode::SUCCESS
}

fn has_encrypted_content(e: ElementRef<'_>) -> bool {
    e.child_elements()
        .any(|c| c.is(Some(XENC_NS), "EncryptedData"))
}

fn name(args: &EncryptArgs) -> String {
    match &args.ns {
        Some(ns) => format!("{{{ns}}}{}", args.element),
        None => args.element.clone(),
    }
}

/// Loads every key (and the certificates that come with it or via --cert).
fn load_keys(args: &DecryptArgs) -> Result<(Vec<DecryptionKey>, Vec<Certificate>), ExitCode> {
    let pw = args.password.source();
    let mut keys = Vec::new();
    let mut certs = Vec::new();
    for path in &args.key {
        let material = load_file(path, pw.as_ref()).map_err(input_error)?;
        let Some(key) = material.key else {
            return Err(input_error(format!(
                "{}: contains no private key",
                path.display()
            )));
        };
        let prepared = DecryptionKey::new(&key)
            .map_err(|e| input_error(format!("{}: {e}", path.display())))?;
        keys.push(prepared);
        certs.extend(material.certificates);
    }
    for path in &args.cert {
        certs.extend(load_certificates(path, pw.as_ref()).map_err(input_error)?);
    }
    Ok((keys, certs))
}

pub(crate) fn run_decrypt(args: DecryptArgs) -> ExitCode {
    let (keys, certs) = match load_keys(&args) {
        Ok(k) => k,
        Err(code) => return code,
    };
    let recipients: Vec<RecipientKey<'_>> = keys
        .iter()
        .map(|k| RecipientKey {
            key: k,
            cert: certs.iter().find(|c| k.matches(c)),
        })
        .collect();
    let input = match read(&args.input) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let doc = match Document::parse(input, &ParseOptions::default()) {
        Ok(d) => d,
        Err(e) => return input_error(format!("{}: {e}", args.input.display())),
    };
    let policy = match args.policy {
        PolicyArg::Any => AlgorithmPolicy::modern(),
        PolicyArg::Xhe => AlgorithmPolicy::xhe(),
        PolicyArg::As4 => AlgorithmPolicy::as4(),
    };
    let out = match decrypt_document(&doc, &recipients, &policy, &ParseOptions::default()) {
        Ok(o) => o,
        Err(XencError::Decryption(e)) => {
            // Local operator output: the cause is shown as a log detail, as in the gateway's log.
            eprintln!(
                "sdkgw: {}: {e} (log detail: {})",
                args.input.display(),
                e.log_reason()
            );
            return ExitCode::FAILURE;
        }
        Err(e @ XencError::Algorithm(_)) => {
            eprintln!("sdkgw: {}: {e}", args.input.display());
            return ExitCode::FAILURE;
        }
        Err(e) => return input_error(format!("{}: {e}", args.input.display())),
    };
    if let Err(e) = std::fs::write(&args.output, out.document.bytes()) {
        return input_error(format!("cannot write {}: {e}", args.output.display()));
    }
    for item in &out.items {
        println!(
            "decrypted {:?} ({}/{}) for {}",
            item.kind,
            item.data.short_name(),
            item.key_transport,
            item.recipient
                .as_ref()
                .map_or("(no certificate named)", |c| c.subject())
        );
    }
    println!("-> {}", args.output.display());
    ExitCode::SUCCESS
}
