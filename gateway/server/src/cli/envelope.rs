//! `sdkgw envelope seal|open|validate`: XHE envelopes with SDK messages, end to end between
//! organisations (O2O certificates), as the gateway's message service does it.
//!
//! Exit codes of `open`: 0 ACCEPTED (or a valid inbound receipt), 1 refused without a
//! receipt (envelope error, not decryptable, not for us, bad receipt), 2 usage or input
//! error, 3 REJECTED/SIG, 4 REJECTED/SV, 5 REJECTED/BV. `seal` and `validate`: 0 ok,
//! 1 invalid, 2 usage or input error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use sdkgw_certs::{
    Certificate, PasswordSource, PrivateKey, load_certificates, load_file, load_key_pair,
};
use sdkgw_envelope::message::{self, ContentFile, MessagePolicy, NewMessage, SdkMessage};
use sdkgw_envelope::open::{self, DecryptionKeys, OpenConfig, Opened, Refusal, SignerTrust};
use sdkgw_envelope::receipt::{self as receipt_model, ReceiptContext};
use sdkgw_envelope::seal::{self, SealOptions, Signer};
use sdkgw_envelope::xhe::{self, Xhe, XheContext};
use sdkgw_envelope::{Report, ns};
use sdkgw_schemas::codelists::ReasonCode;
use sdkgw_schemas::{Environment, FunctionAddress, ParticipantId, TransportModel};
use sdkgw_xml_security::x509::{
    Crl, O2o, OnUnknown, RevocationChecker, RevocationPolicy, TrustStore,
};
use sdkgw_xml_security::xml::{Document, ParseOptions};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{EXIT_INPUT, OutputFormat, print_json};

/// `open`: REJECTED with reason SIG.
pub(crate) const EXIT_SIG: u8 = 3;
/// `open`: REJECTED with reason SV.
pub(crate) const EXIT_SV: u8 = 4;
/// `open`: REJECTED with reason BV.
pub(crate) const EXIT_BV: u8 = 5;

#[derive(Debug, Subcommand)]
pub(crate) enum EnvelopeCommand {
    /// Seal an SDK message: validate it, encrypt it for the recipient, sign the XHE.
    ///
    /// The message is --message FILE (a messagePayload document; the XHE ID is its
    /// messageId) or built from --subject/--text/--attach. The payload is encrypted for
    /// --recipient-cert (aes256-cbc, rsa-oaep-mgf1p, EncryptedKey with the certificate),
    /// the envelope (tm-base-ext-sigenc, FEDERATIONID of --env) is signed with
    /// --sign-key/--sign-cert, and the result is checked as a receiver would before OUT is
    /// written. Exit codes: 0 sealed, 1 the message is invalid, 2 usage or input error.
    Seal(SealArgs),
    /// Open an XHE: profile, signature, decryption, message validation, receipt.
    ///
    /// Prints the verification result and the message as JSON. The signer must chain to a
    /// --trust anchor (O2O issuers) at --at without being revoked (--crl; unknown status is
    /// refused unless --revocation accept-unknown), and be --signer-cert (FromParty's CertPub
    /// signing certificate) when given. The payload is decrypted with whichever --key matches
    /// its EncryptedKey certificate, and only after the signature verified.
    ///
    /// Exit codes: 0 ACCEPTED (or a valid inbound receipt), 1 refused without a receipt
    /// (envelope error, undecryptable, not served, bad receipt), 2 usage or input error,
    /// 3 REJECTED/SIG, 4 REJECTED/SV, 5 REJECTED/BV. --receipt-out writes the receipt it would
    /// send: the signed XHE when --sign-key/--sign-cert are given, else the bare
    /// ApplicationResponse.
    Open(OpenArgs),
    /// Validate an XHE against DIGG's profile (and its plaintext payload, if any).
    ///
    /// XSD structure, R1–R14 (R11 on ToParty), the gateway's GW-XHE rules, and for a plain
    /// payload the SDK message or receipt rules. Exit code 0 only if everything conforms.
    Validate(ValidateArgs),
}

/// Password of PKCS#12 key files.
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
    pub(crate) fn source(&self) -> Option<PasswordSource> {
        self.password_env
            .clone()
            .map(PasswordSource::Env)
            .or(self.password_file.clone().map(PasswordSource::File))
    }
}

#[derive(Debug, Args)]
pub(crate) struct SealArgs {
    /// Sending participant (FromParty), e.g. 0203:orga.test.
    #[arg(long, value_name = "PARTICIPANT")]
    from: ParticipantId,
    /// Receiving participant (ToParty).
    #[arg(long, value_name = "PARTICIPANT")]
    to: ParticipantId,
    /// Recipient function mailbox (HandlingServiceID and recipient subOrganization).
    #[arg(long, value_name = "FA")]
    to_function: FunctionAddress,
    /// Sender function mailbox (sender attention).
    #[arg(long, value_name = "FA")]
    from_function: Option<FunctionAddress>,
    /// Our O2O signing key (PEM, DER or PKCS#12).
    #[arg(long, value_name = "K")]
    sign_key: PathBuf,
    /// Our O2O signing certificate.
    #[arg(long, value_name = "C")]
    sign_cert: PathBuf,
    /// The recipient's O2O encryption certificate (from CertPub).
    #[arg(long, value_name = "RC")]
    recipient_cert: PathBuf,
    /// The SDK message (a messagePayload document).
    #[arg(long, value_name = "PAYLOAD.xml", conflicts_with_all = ["subject", "text", "attach"], required_unless_present = "subject")]
    message: Option<PathBuf>,
    /// Subject of a new message.
    #[arg(long, value_name = "S")]
    subject: Option<String>,
    /// Text of a new message.
    #[arg(long, value_name = "T")]
    text: Option<String>,
    /// A file to attach (content type from the extension). Repeatable.
    #[arg(long, value_name = "FILE")]
    attach: Vec<PathBuf>,
    /// Mark a new message confidential.
    #[arg(long)]
    confidential: bool,
    /// Environment whose FEDERATIONID the envelope carries.
    #[arg(long, value_name = "ENV", default_value = "open-test")]
    env: Environment,
    /// Seal even if the message fails validation (to test receivers).
    #[arg(long)]
    allow_invalid: bool,
    #[command(flatten)]
    password: PasswordArgs,
    /// Where to write the sealed XHE.
    output: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct OpenArgs {
    /// The XHE to open.
    input: PathBuf,
    /// One of our O2O decryption keys (PEM/DER key, or a file/PKCS#12 with key and
    /// certificate). Repeatable (certificate rollover).
    #[arg(long, value_name = "K", required = true)]
    key: Vec<PathBuf>,
    /// Trusted O2O issuer certificates (roots and intermediates). Repeatable.
    #[arg(long, value_name = "CA")]
    trust: Vec<PathBuf>,
    /// CRLs (PEM or DER) of the O2O issuers. Repeatable.
    #[arg(long, value_name = "CRL")]
    crl: Vec<PathBuf>,
    /// What an unknown revocation status means.
    #[arg(long, value_enum, default_value_t = Revocation::FailClosed)]
    revocation: Revocation,
    /// FromParty's CertPub signing certificate: the signer must be exactly this certificate.
    #[arg(long, value_name = "CERT")]
    signer_cert: Option<PathBuf>,
    /// Validation time (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
    /// Environment (FEDERATIONID, transport models).
    #[arg(long, value_name = "ENV", default_value = "open-test")]
    env: Environment,
    /// Participants served here (ToParty must be one). Repeatable; default: any.
    #[arg(long, value_name = "PARTICIPANT")]
    participant: Vec<ParticipantId>,
    /// Function mailboxes served here. Repeatable; default: any.
    #[arg(long, value_name = "FA")]
    function: Vec<FunctionAddress>,
    /// Our O2O signing key, to sign the receipt.
    #[arg(long, value_name = "K", requires = "sign_cert")]
    sign_key: Option<PathBuf>,
    /// Our O2O signing certificate.
    #[arg(long, value_name = "C", requires = "sign_key")]
    sign_cert: Option<PathBuf>,
    /// Write the receipt it would send here.
    #[arg(long, value_name = "FILE")]
    receipt_out: Option<PathBuf>,
    #[command(flatten)]
    password: PasswordArgs,
    #[arg(long, value_enum, default_value_t = OutputFormat::Json)]
    output: OutputFormat,
}

/// `--revocation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Revocation {
    /// No CRL or OCSP answer for an issuer: refuse (the default for peers).
    FailClosed,
    /// No answer: accept (listed = revoked still refuses).
    AcceptUnknown,
}

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// The XHE to check.
    input: PathBuf,
    /// Environment for FEDERATIONID and transport models; default: code lists only.
    #[arg(long, value_name = "ENV")]
    env: Option<Environment>,
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

pub(crate) fn run(cmd: EnvelopeCommand) -> ExitCode {
    match cmd {
        EnvelopeCommand::Seal(args) => seal_command(args),
        EnvelopeCommand::Open(args) => open_command(args),
        EnvelopeCommand::Validate(args) => validate_command(args),
    }
}

pub(crate) fn input_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("sdkgw: {msg}");
    ExitCode::from(EXIT_INPUT)
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>, ExitCode> {
    std::fs::read(path).map_err(|e| input_error(format!("cannot read {}: {e}", path.display())))
}

pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<(), ExitCode> {
    std::fs::write(path, bytes)
        .map_err(|e| input_error(format!("cannot write {}: {e}", path.display())))
}

/// A key and its certificate from `--sign-key`/`--sign-cert`.
pub(crate) fn load_signer(
    key: &Path,
    cert: &Path,
    password: &PasswordArgs,
) -> Result<(PrivateKey, Certificate), ExitCode> {
    let pair = load_key_pair(cert, Some(key), password.source().as_ref()).map_err(input_error)?;
    let key = PrivateKey::from_pkcs8_der(pair.key().pkcs8_der()).map_err(input_error)?;
    Ok((key, pair.certificate().clone()))
}

fn one_certificate(path: &Path) -> Result<Certificate, ExitCode> {
    load_certificates(path, None)
        .map_err(input_error)?
        .into_iter()
        .next()
        .ok_or_else(|| input_error(format!("{}: no certificate", path.display())))
}

pub(crate) fn parse_at(at: Option<&str>) -> Result<OffsetDateTime, ExitCode> {
    match at {
        None => Ok(OffsetDateTime::now_utc()),
        Some(text) => OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map_err(|e| input_error(format!("--at {text:?} is not RFC 3339: {e}"))),
    }
}

fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "xml" => "application/xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

/// The payload and its messageId: the given file, or a message built from the options.
fn payload(args: &SealArgs) -> Result<(Vec<u8>, String), ExitCode> {
    if let Some(path) = &args.message {
        let bytes = read(path)?;
        let doc = Document::parse_slice(&bytes, &ParseOptions::default())
            .map_err(|e| input_error(format!("{}: {e}", path.display())))?;
        let id = doc
            .root()
            .descendants()
            .find(|e| e.is(Some(ns::TNS), "messageId"))
            .map(|e| e.text().trim().to_owned())
            .unwrap_or_else(|| uuid::Uuid::new_v4().hyphenated().to_string());
        return Ok((bytes, id));
    }
    let mut files = Vec::new();
    for path in &args.attach {
        let bytes = read(path)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        files.push(ContentFile::new(name, content_type(path), &bytes));
    }
    let m = SdkMessage::new(NewMessage {
        message_id: uuid::Uuid::new_v4(),
        created: OffsetDateTime::now_utc(),
        from: args.from.clone(),
        from_function: args.from_function.clone(),
        to: args.to.clone(),
        to_function: args.to_function.clone(),
        subject: args.subject.clone().unwrap_or_default(),
        text: args.text.clone(),
        files,
        confidential: args.confidential,
    });
    let xml = m.to_xml().map_err(input_error)?;
    Ok((xml.into_bytes(), m.header.message_id))
}

fn seal_command(args: SealArgs) -> ExitCode {
    let (key, cert) = match load_signer(&args.sign_key, &args.sign_cert, &args.password) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let recipient = match one_certificate(&args.recipient_cert) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (payload, id) = match payload(&args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let header = Xhe::for_message(
        id.clone(),
        OffsetDateTime::now_utc(),
        args.from.clone(),
        args.to.clone(),
        Some(args.to_function.clone()),
        args.env.federation(),
        TransportModel::ExtSigenc,
    );
    let signer = Signer {
        key: &key,
        cert: &cert,
    };
    let options = SealOptions {
        allow_invalid: args.allow_invalid,
    };
    let sealed = match seal::seal_message(
        &payload,
        &header,
        Some(&recipient),
        Some(signer),
        options,
    ) {
        Ok(s) => s,
        Err(seal::SealError::InvalidMessage(report)) => {
            eprintln!(
                "sdkgw: the message is not valid (use --allow-invalid to seal it anyway):\n{report}"
            );
            return ExitCode::FAILURE;
        }
        Err(e) => return input_error(e),
    };
    if !sealed.message_report.is_empty() {
        eprintln!(
            "sdkgw: warning: sealing an invalid message:\n{}",
            sealed.message_report
        );
    }
    if let Err(code) = write(&args.output, &sealed.bytes) {
        return code;
    }
    println!(
        "sealed {id} from {} to {} ({} bytes, encrypted for {}, signed as {}) -> {}",
        args.from,
        args.to,
        sealed.bytes.len(),
        recipient.subject(),
        cert.subject(),
        args.output.display()
    );
    ExitCode::SUCCESS
}

/// Our decryption keys from `--key` files (each with its certificate when the file has one).
fn load_keys(paths: &[PathBuf], password: &PasswordArgs) -> Result<DecryptionKeys, ExitCode> {
    let mut loaded: Vec<(PrivateKey, Option<Certificate>)> = Vec::new();
    for path in paths {
        let material = load_file(path, password.source().as_ref()).map_err(input_error)?;
        let key = material
            .key
            .ok_or_else(|| input_error(format!("{}: no private key", path.display())))?;
        let cert = material.certificates.into_iter().find(|c| key.matches(c));
        loaded.push((key, cert));
    }
    let pairs: Vec<(&PrivateKey, Option<&Certificate>)> =
        loaded.iter().map(|(k, c)| (k, c.as_ref())).collect();
    DecryptionKeys::with_optional_certificates(&pairs).map_err(input_error)
}

fn trust_store(
    args: &OpenArgs,
    env: Environment,
) -> Result<(TrustStore<O2o>, RevocationChecker), ExitCode> {
    let mut certs = Vec::new();
    for path in &args.trust {
        certs.extend(load_certificates(path, None).map_err(input_error)?);
    }
    if certs.is_empty() {
        return Err(input_error(
            "no O2O trust anchors: give the issuers with --trust",
        ));
    }
    let (anchors, intermediates): (Vec<_>, Vec<_>) =
        certs.into_iter().partition(Certificate::is_self_issued);
    let anchors = if anchors.is_empty() {
        intermediates.clone()
    } else {
        anchors
    };
    let store = TrustStore::<O2o>::new(env.as_str(), anchors)
        .map_err(input_error)?
        .with_intermediates(intermediates);
    let policy = RevocationPolicy {
        on_unknown: match args.revocation {
            Revocation::FailClosed => OnUnknown::FailClosed,
            Revocation::AcceptUnknown => OnUnknown::Accept,
        },
        ..RevocationPolicy::default()
    };
    let revocation = RevocationChecker::new(policy);
    for path in &args.crl {
        let bytes = read(path)?;
        revocation.add_crls(
            Crl::parse_any(&bytes).map_err(|e| input_error(format!("{}: {e}", path.display())))?,
        );
    }
    Ok((store, revocation))
}

fn header_json(h: &Xhe) -> Value {
    serde_json::to_value(h).unwrap_or(Value::Null)
}

fn signer_json(c: Option<&Certificate>) -> Value {
    match c {
        Some(c) => {
            json!({"subject": c.subject(), "issuer": c.issuer(), "sha256": c.fingerprint_hex()})
        }
        None => Value::Null,
    }
}

fn open_command(args: OpenArgs) -> ExitCode {
    let at = match parse_at(args.at.as_deref()) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let bytes = match read(&args.input) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let keys = match load_keys(&args.key, &args.password) {
        Ok(k) => k,
        Err(code) => return code,
    };
    let (store, revocation) = match trust_store(&args, args.env) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let certpub = match args.signer_cert.as_deref().map(one_certificate).transpose() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let signer_pair = match (&args.sign_key, &args.sign_cert) {
        (Some(k), Some(c)) => match load_signer(k, c, &args.password) {
            Ok(p) => Some(p),
            Err(code) => return code,
        },
        _ => None,
    };
    let receipt_signer = signer_pair.as_ref().map(|(key, cert)| Signer { key, cert });
    let config = OpenConfig {
        context: XheContext {
            environment: Some(args.env),
        },
        serves: (!args.participant.is_empty()).then_some(args.participant.as_slice()),
        trust: SignerTrust {
            certpub: certpub.as_ref(),
            store: &store,
            revocation: &revocation,
        },
        keys: &keys,
        policy: MessagePolicy {
            functions: (!args.function.is_empty()).then_some(args.function.as_slice()),
            ..MessagePolicy::default()
        },
        receipt_signer,
        at,
    };
    let (report, code, receipt) = match open::open(bytes, &config) {
        Ok(Opened::Accepted(m)) => {
            let receipt = match m.acceptance(receipt_signer, at) {
                Ok(r) => Some(r),
                Err(e) => return input_error(format!("cannot build the receipt: {e}")),
            };
            let out = json!({
                "outcome": "accepted",
                "envelope": header_json(m.header()),
                "signer": signer_json(m.signer()),
                "message": serde_json::to_value(m.message()).unwrap_or(Value::Null),
                "attachments": attachments_json(m.message()),
            });
            (out, ExitCode::SUCCESS, receipt)
        }
        Ok(Opened::Rejected(r)) => {
            let reason = r.receipt.receipt.lines.first().map(|l| l.reason);
            let code = match reason {
                Some(ReasonCode::Sig) => EXIT_SIG,
                Some(ReasonCode::Sv) => EXIT_SV,
                _ => EXIT_BV,
            };
            let out = json!({
                "outcome": "rejected",
                "envelope": header_json(&r.header),
                "stage": r.stage,
                "reason": reason.map(|c| c.to_string()),
                "findings": r.report,
                "receipt": serde_json::to_value(&r.receipt.receipt).unwrap_or(Value::Null),
                "log_reason": r.log_reason(),
            });
            (out, ExitCode::from(code), Some(r.receipt.clone()))
        }
        Ok(Opened::Receipt(r)) => {
            let out = json!({
                "outcome": "receipt",
                "envelope": header_json(&r.header),
                "signer": signer_json(r.signer.as_ref()),
                "receipt": serde_json::to_value(&r.receipt).unwrap_or(Value::Null),
                "note": "receipts are never answered with a receipt",
            });
            (out, ExitCode::SUCCESS, None)
        }
        Ok(Opened::Redelivered(_)) => (json!({"outcome": "redelivered"}), ExitCode::SUCCESS, None),
        Err(refusal) => (refusal_json(&refusal), ExitCode::FAILURE, None),
    };
    if let Some(path) = &args.receipt_out {
        match &receipt {
            Some(r) => {
                let bytes = match (&r.envelope, r.receipt.to_xml()) {
                    (Some(env), _) => env.clone(),
                    (None, Ok(xml)) => {
                        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{xml}\n").into_bytes()
                    }
                    (None, Err(e)) => return input_error(e),
                };
                if let Err(code) = write(path, &bytes) {
                    return code;
                }
            }
            None => eprintln!(
                "sdkgw: no receipt is sent for this envelope; {} not written",
                path.display()
            ),
        }
    }
    match args.output {
        OutputFormat::Json => print_json(&report),
        OutputFormat::Table => print_open_table(&report),
    }
    code
}

fn attachments_json(m: &SdkMessage) -> Value {
    let files: Vec<Value> = m
        .body
        .documents
        .iter()
        .flat_map(|d| d.files.iter())
        .map(|f| json!({"file_name": f.file_name, "content_type": f.content_type, "bytes": f.decode().map(|b| b.len()).ok()}))
        .collect();
    Value::Array(files)
}

fn refusal_json(r: &Refusal) -> Value {
    let findings = match r {
        Refusal::Envelope(report) => serde_json::to_value(report).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    json!({
        "outcome": "refused",
        "receipt": Value::Null,
        "reason": r.to_string(),
        "findings": findings,
        "log_reason": r.log_reason(),
    })
}

fn print_open_table(v: &Value) {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("-").to_owned();
    println!("outcome   {}", s("outcome"));
    if let Some(env) = v.get("envelope") {
        let e = |k: &str| env.get(k).and_then(Value::as_str).unwrap_or("-").to_owned();
        println!("id        {}", e("id"));
        println!("from      {}", e("from"));
        println!("to        {}", e("to"));
    }
    if let Some(signer) = v
        .get("signer")
        .and_then(|x| x.get("subject"))
        .and_then(Value::as_str)
    {
        println!("signer    {signer}");
    }
    if v.get("reason").is_some_and(|r| !r.is_null()) {
        println!("reason    {}", s("reason"));
    }
    if let Some(lines) = v
        .get("receipt")
        .and_then(|r| r.get("lines"))
        .and_then(Value::as_array)
    {
        for l in lines {
            let f = |k: &str| l.get(k).and_then(Value::as_str).unwrap_or("-").to_owned();
            println!(
                "line      {} {} {}: {}",
                f("reason"),
                f("status_reason_code"),
                f("line_id"),
                f("status_reason")
            );
        }
    }
}

/// What `validate` found in each part of the envelope.
pub(crate) fn print_report(parts: &[(&str, &Report, Option<&str>)], output: OutputFormat) {
    match output {
        OutputFormat::Json => {
            let v: Vec<Value> = parts
                .iter()
                .map(|(part, report, note)| json!({"part": part, "conformant": report.is_conformant(), "findings": report, "note": note}))
                .collect();
            print_json(&v);
        }
        OutputFormat::Table => {
            for (part, report, note) in parts {
                let verdict = match (note, report.is_conformant()) {
                    (Some(n), true) => n.to_string(),
                    (_, true) => "conformant".to_owned(),
                    (_, false) => "NOT conformant".to_owned(),
                };
                println!("{part}: {verdict}");
                for f in report.findings() {
                    println!("  {f}");
                }
            }
        }
    }
}

fn validate_command(args: ValidateArgs) -> ExitCode {
    let bytes = match read(&args.input) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let doc = match Document::parse(bytes, &ParseOptions::default()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("sdkgw: {}: not acceptable XML: {e}", args.input.display());
            return ExitCode::FAILURE;
        }
    };
    let checked = xhe::check(
        &doc,
        &XheContext {
            environment: args.env,
        },
    );
    let content = checked.payload_content.and_then(|id| doc.element(id));
    let payload = content.and_then(|c| c.child_elements().next());
    let mut parts: Vec<(&str, Report, Option<&str>)> =
        vec![("envelope", checked.report.clone(), None)];
    match payload {
        Some(p) if p.is(Some(ns::XENC), "EncryptedData") => {
            parts.push(("payload", Report::default(), Some("encrypted, not checked")));
        }
        Some(p) if p.is(Some(ns::TNS), "messagePayload") => {
            parts.push((
                "SDK message",
                message::validate(p, doc.bytes()).report,
                None,
            ));
        }
        Some(p) if p.is(Some(ns::AR), "ApplicationResponse") => {
            parts.push((
                "receipt",
                receipt_model::check(p, &ReceiptContext::default()).report,
                None,
            ));
        }
        _ => parts.push((
            "payload",
            Report::default(),
            Some("not an SDK message or receipt, not checked"),
        )),
    }
    let borrowed: Vec<(&str, &Report, Option<&str>)> =
        parts.iter().map(|(a, r, n)| (*a, r, *n)).collect();
    print_report(&borrowed, args.output);
    if parts.iter().all(|(_, r, _)| r.is_conformant()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
