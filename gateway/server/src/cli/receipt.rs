//! `sdkgw receipt create|validate`: Meddelandekvittens (UBL ApplicationResponse, DIGG
//! profile) in their XHE envelopes.
//!
//! Exit codes: 0 written / conformant, 1 not conformant, 2 usage or input error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use sdkgw_envelope::Report;
use sdkgw_envelope::ns;
use sdkgw_envelope::receipt::{self, LineResponse, Receipt, ReceiptContext};
use sdkgw_envelope::seal::{self, Signer};
use sdkgw_envelope::xhe::{self, Xhe, XheContext};
use sdkgw_schemas::codelists::{DetailCode, MessageType, ReasonCode, ResponseCode};
use sdkgw_schemas::{FunctionAddress, TransportModel};
use sdkgw_xml_security::xml::{Document, ParseOptions};

use super::OutputFormat;
use super::envelope::{
    PasswordArgs, input_error, load_signer, parse_at, print_report, read, write,
};

#[derive(Debug, Subcommand)]
pub(crate) enum ReceiptCommand {
    /// Create the receipt answering an XHE, in its own signed XHE.
    ///
    /// DocumentReference/ID is the XHE's Header/ID; SenderParty is its ToParty and
    /// ReceiverParty its FromParty. The receipt XHE has the receipt DOCUMENTID of the same
    /// transport model, parties swapped, is not encrypted, and is signed with
    /// --sign-key/--sign-cert under tm-base-ext-sigenc. REJECTED needs --reason and --text.
    /// Exit codes: 0 written, 1 the XHE has no readable header, 2 usage or input error.
    Create(CreateArgs),
    /// Validate a receipt: a bare ApplicationResponse or its XHE envelope.
    ///
    /// DIGG's reduced XSD (natively), R1–R9, GW-APP-1..4 (with --for: DocumentReference/ID
    /// must be that XHE's Header/ID), and for an envelope the XHE profile too. Exit code 0
    /// only if everything conforms.
    Validate(ValidateArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// The XHE being answered.
    #[arg(long = "for", value_name = "XHE")]
    for_xhe: PathBuf,
    /// ACCEPTED or REJECTED.
    #[arg(long, value_name = "CODE")]
    code: ResponseCode,
    /// SV, BV or SIG (REJECTED only).
    #[arg(long, value_name = "SV|BV|SIG", requires = "text")]
    reason: Option<ReasonCode>,
    /// StatusReason text (REJECTED only). Never put message content here.
    #[arg(long, value_name = "T", requires = "reason")]
    text: Option<String>,
    /// StatusReasonCode detail word; default: structure (SV), invariant (BV), security (SIG).
    #[arg(long, value_name = "WORD")]
    detail: Option<DetailCode>,
    /// LineID: the XPath of the offending node.
    #[arg(long, value_name = "XPATH", default_value = "NA")]
    line: String,
    /// HandlingServiceID of the receipt envelope: the original sender's function address.
    #[arg(long, value_name = "FA")]
    handling_service: Option<FunctionAddress>,
    /// Our O2O signing key (required under tm-base-ext-sigenc).
    #[arg(long, value_name = "K")]
    sign_key: Option<PathBuf>,
    /// Our O2O signing certificate.
    #[arg(long, value_name = "C")]
    sign_cert: Option<PathBuf>,
    /// Issue time (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
    #[command(flatten)]
    password: PasswordArgs,
    /// Where to write the receipt XHE.
    output: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// The receipt (ApplicationResponse) or receipt XHE.
    input: PathBuf,
    /// The XHE the receipt answers (checks DocumentReference/ID).
    #[arg(long = "for", value_name = "XHE")]
    for_xhe: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

pub(crate) fn run(cmd: ReceiptCommand) -> ExitCode {
    match cmd {
        ReceiptCommand::Create(args) => create(args),
        ReceiptCommand::Validate(args) => validate(args),
    }
}

/// The readable header of an XHE file (its payload may be encrypted; nothing is verified).
fn header_of(path: &std::path::Path) -> Result<Xhe, ExitCode> {
    let doc = Document::parse(read(path)?, &ParseOptions::default())
        .map_err(|e| input_error(format!("{}: {e}", path.display())))?;
    let checked = xhe::check(&doc, &XheContext::default());
    checked.header.ok_or_else(|| {
        eprintln!(
            "sdkgw: {}: the envelope has no readable header:\n{}",
            path.display(),
            checked.report
        );
        ExitCode::FAILURE
    })
}

fn default_detail(reason: ReasonCode) -> DetailCode {
    match reason {
        ReasonCode::Sv => DetailCode::Structure,
        ReasonCode::Bv => DetailCode::Invariant,
        ReasonCode::Sig => DetailCode::Security,
    }
}

fn create(args: CreateArgs) -> ExitCode {
    let at = match parse_at(args.at.as_deref()) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let original = match header_of(&args.for_xhe) {
        Ok(h) => h,
        Err(code) => return code,
    };
    if original.message_type == MessageType::Receipt {
        eprintln!(
            "sdkgw: {} is a receipt; a receipt is never answered with a receipt",
            args.for_xhe.display()
        );
        return ExitCode::FAILURE;
    }
    let lines = match (args.code, args.reason, &args.text) {
        (ResponseCode::Accepted, None, None) => Vec::new(),
        (ResponseCode::Accepted, _, _) => {
            return input_error("ACCEPTED carries no --reason/--text");
        }
        (ResponseCode::Rejected, Some(reason), Some(text)) => {
            let detail = args.detail.unwrap_or(default_detail(reason));
            vec![LineResponse::new(
                args.line.clone(),
                reason,
                detail,
                text.clone(),
            )]
        }
        (ResponseCode::Rejected, _, _) => return input_error("REJECTED needs --reason and --text"),
    };
    let pair = match (&args.sign_key, &args.sign_cert) {
        (Some(k), Some(c)) => match load_signer(k, c, &args.password) {
            Ok(p) => Some(p),
            Err(code) => return code,
        },
        (None, None) if original.transport_model == TransportModel::Base => None,
        _ => {
            return input_error(
                "tm-base-ext-sigenc receipts are signed: give --sign-key and --sign-cert",
            );
        }
    };
    let receipt = Receipt::new(
        original.to.clone(),
        original.from.clone(),
        original.id.clone(),
        lines,
        at,
    );
    let header = Xhe::for_receipt(
        &original,
        uuid::Uuid::new_v4().hyphenated().to_string(),
        at,
        args.handling_service.clone(),
    );
    let signer = pair.as_ref().map(|(key, cert)| Signer { key, cert });
    let bytes = match seal::seal_receipt(&receipt, &header, signer) {
        Ok(b) => b,
        Err(e) => return input_error(e),
    };
    if let Err(code) = write(&args.output, &bytes) {
        return code;
    }
    println!(
        "receipt {} {} for {} from {} to {} -> {}",
        receipt.id,
        receipt.response,
        original.id,
        receipt.sender,
        receipt.receiver,
        args.output.display()
    );
    ExitCode::SUCCESS
}

fn validate(args: ValidateArgs) -> ExitCode {
    let expected = match args.for_xhe.as_deref().map(header_of).transpose() {
        Ok(h) => h.map(|h| h.id),
        Err(code) => return code,
    };
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
    let ctx = ReceiptContext {
        answers: expected.as_deref(),
    };
    let mut parts: Vec<(&str, Report, Option<&str>)> = Vec::new();
    let root = doc.root();
    let receipt_root = if root.is(Some(ns::XHE), "XHE") {
        let checked = xhe::check(&doc, &XheContext::default());
        if checked
            .header
            .as_ref()
            .is_some_and(|h| h.message_type != MessageType::Receipt)
        {
            eprintln!(
                "sdkgw: {}: the envelope does not carry a receipt",
                args.input.display()
            );
            return ExitCode::FAILURE;
        }
        parts.push(("envelope", checked.report.clone(), None));
        checked
            .payload_content
            .and_then(|id| doc.element(id))
            .and_then(|c| c.child_elements().next())
    } else {
        Some(root)
    };
    match receipt_root {
        Some(r) => parts.push(("receipt", receipt::check(r, &ctx).report, None)),
        None => {
            eprintln!(
                "sdkgw: {}: no ApplicationResponse found",
                args.input.display()
            );
            return ExitCode::FAILURE;
        }
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
