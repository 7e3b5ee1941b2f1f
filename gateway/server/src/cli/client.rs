//! `sdkgw client add|list|revoke|grant`: the mailbox API's OAuth clients. Through the running
//! gateway's `<data_dir>/api-clients.sock` when it answers, otherwise on the store directly.
//! A new secret is printed once and stored only as a PBKDF2 hash.
//!
//! Exit codes: 0 ok; 1 the operation failed (e.g. unknown client); 2 input error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use sdkgw_server::api::admin::{self, ClientRequest};
use sdkgw_server::api::auth::{Clients, NewClient};
use sdkgw_store::{SledStore, StoreConfig};
use serde_json::Value;
use time::OffsetDateTime;

use super::{EXIT_INPUT, OutputFormat, print_json};

#[derive(Debug, Subcommand)]
pub(crate) enum ClientCommand {
    /// Register a client; prints its secret once.
    Add(AddArgs),
    /// List clients (never secrets).
    List(Common),
    /// Revoke a client: its tokens stop working at once.
    Revoke(IdArgs),
    /// Add (or with --remove take away) mailbox grants and scopes.
    Grant(GrantArgs),
}

#[derive(Debug, Args)]
pub(crate) struct Common {
    /// The gateway configuration (data_dir, [store], [api]).
    #[arg(long, env = "SDKGW_CONFIG", value_name = "CFG")]
    config: Option<PathBuf>,
    /// Or only the data directory (wins over --config).
    #[arg(long, env = "SDKGW_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

#[derive(Debug, Args)]
pub(crate) struct AddArgs {
    /// Client id (`azp` of its tokens), e.g. `sakra-meddelanden`.
    id: String,
    /// Display name.
    #[arg(long)]
    name: Option<String>,
    /// Scope (repeatable): urn:sdk.api:sendMessages, urn:sdk.api:getMessage,
    /// urn:sdk.api:getMessageByFilter, urn:sdk.api:deleteMessage. Default: all four.
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// `auth_id` grant (repeatable): a mailbox function address or pattern with `*`.
    #[arg(long = "grant", required = true)]
    grants: Vec<String>,
    /// Do not generate a secret (the client authenticates with --jwt-key or --cert only).
    #[arg(long)]
    no_secret: bool,
    /// Public key for private_key_jwt assertions: a JWK (JSON) or a PEM certificate file.
    #[arg(long = "jwt-key", value_name = "FILE")]
    jwt_keys: Vec<PathBuf>,
    /// TLS client certificate (PEM/DER) for auth = "mtls".
    #[arg(long = "cert", value_name = "FILE")]
    certs: Vec<PathBuf>,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
pub(crate) struct IdArgs {
    id: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
pub(crate) struct GrantArgs {
    id: String,
    /// Mailbox grant (repeatable).
    #[arg(long = "grant")]
    grants: Vec<String>,
    /// Scope (repeatable).
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// Take the given grants and scopes away instead.
    #[arg(long)]
    remove: bool,
    #[command(flatten)]
    common: Common,
}

pub(crate) fn run(cmd: ClientCommand) -> ExitCode {
    let actor = format!(
        "operator:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    );
    let (common, request) = match cmd {
        ClientCommand::Add(a) => {
            let iterations = match settings(&a.common) {
                Ok((_, it)) => it,
                Err(code) => return code,
            };
            let (jwt_keys, certificates) = match (read_jwt_keys(&a.jwt_keys), read_certs(&a.certs))
            {
                (Ok(j), Ok(c)) => (j, c),
                (Err(e), _) | (_, Err(e)) => {
                    eprintln!("sdkgw: {e}");
                    return ExitCode::from(EXIT_INPUT);
                }
            };
            let scopes = if a.scopes.is_empty() {
                [
                    "urn:sdk.api:sendMessages",
                    "urn:sdk.api:getMessage",
                    "urn:sdk.api:getMessageByFilter",
                    "urn:sdk.api:deleteMessage",
                ]
                .map(str::to_owned)
                .to_vec()
            } else {
                a.scopes
            };
            let client = NewClient {
                id: a.id,
                name: a.name,
                scopes,
                grants: a.grants,
                secret: !a.no_secret,
                jwt_keys,
                certificates,
                iterations: Some(iterations),
            };
            (a.common, ClientRequest::Add { client, actor })
        }
        ClientCommand::List(c) => (c, ClientRequest::List),
        ClientCommand::Revoke(a) => (a.common, ClientRequest::Revoke { id: a.id, actor }),
        ClientCommand::Grant(a) => {
            if a.grants.is_empty() && a.scopes.is_empty() {
                eprintln!("sdkgw: give --grant and/or --scope");
                return ExitCode::from(EXIT_INPUT);
            }
            (
                a.common,
                ClientRequest::Grant {
                    id: a.id,
                    grants: a.grants,
                    scopes: a.scopes,
                    remove: a.remove,
                    actor,
                },
            )
        }
    };
    let Ok((store_config, _)) = settings(&common) else {
        return ExitCode::from(EXIT_INPUT);
    };
    let listing = matches!(request, ClientRequest::List);
    let added = matches!(request, ClientRequest::Add { .. });
    let answer = match admin::call(&store_config.data_dir, &request) {
        Some(a) => a,
        None => match SledStore::open(store_config.clone()) {
            Ok(store) => Clients::open(&store)
                .map_err(|e| e.to_string())
                .and_then(|c| admin::execute(&c, request, OffsetDateTime::now_utc())),
            Err(e) => Err(format!("{}: {e}", store_config.data_dir.display())),
        },
    };
    match answer {
        Ok(v) => {
            print(&v, common.output, listing, added);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sdkgw: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print(v: &Value, output: OutputFormat, listing: bool, added: bool) {
    if output == OutputFormat::Json {
        print_json(v);
        return;
    }
    let row = |c: &Value| {
        let list = |k: &str| {
            c[k].as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default()
        };
        let state = if c["revoked_at"].is_string() {
            "revoked"
        } else {
            "active"
        };
        println!(
            "{:<24} {:<8} grants={} scopes={}",
            c["id"].as_str().unwrap_or(""),
            state,
            list("grants"),
            list("scopes")
        );
    };
    if listing {
        v.as_array().into_iter().flatten().for_each(row);
    } else if added {
        row(&v["client"]);
        if let Some(secret) = v["secret"].as_str() {
            println!("secret: {secret}");
            println!("(shown once; the gateway stores only a PBKDF2 hash)");
        }
    } else {
        row(v);
    }
}

/// The store settings and the PBKDF2 iteration count from --data-dir or --config.
fn settings(c: &Common) -> Result<(StoreConfig, u32), ExitCode> {
    let default_iterations = sdkgw_server::api::ApiSettings::default().secret_iterations;
    if let Some(dir) = &c.data_dir {
        return Ok((StoreConfig::at(dir), default_iterations));
    }
    let Some(file) = &c.config else {
        eprintln!("sdkgw: say where the gateway's data is: --config CFG or --data-dir DIR");
        return Err(ExitCode::from(EXIT_INPUT));
    };
    let loaded = sdkgw_server::config::load(file);
    match loaded.config {
        Some(cfg) => Ok((cfg.store, cfg.api.secret_iterations)),
        None => {
            for f in loaded.findings.errors() {
                eprintln!("sdkgw: {}: {f}", file.display());
            }
            Err(ExitCode::from(EXIT_INPUT))
        }
    }
}

fn read_jwt_keys(files: &[PathBuf]) -> Result<Vec<serde_json::Map<String, Value>>, String> {
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
            if text.trim_start().starts_with('{') {
                serde_json::from_str(&text).map_err(|e| format!("{}: not a JWK: {e}", f.display()))
            } else {
                let certs = sdkgw_certs::certificates_from_pem(text.as_bytes())
                    .map_err(|e| format!("{}: {e}", f.display()))?;
                let cert = certs
                    .first()
                    .ok_or_else(|| format!("{}: no certificate", f.display()))?;
                let key = sdkgw_server::api::auth::jwt::PublicKey::from_certificate(cert)?;
                let mut jwk = key.to_jwk();
                jwk.insert("kid".into(), cert.fingerprint_hex().into());
                Ok(jwk)
            }
        })
        .collect()
}

fn read_certs(files: &[PathBuf]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for f in files {
        let certs =
            sdkgw_certs::load_certificates(f, None).map_err(|e| format!("{}: {e}", f.display()))?;
        let cert = certs
            .first()
            .ok_or_else(|| format!("{}: no certificate", f.display()))?;
        out.push(cert.fingerprint_hex().to_ascii_lowercase());
    }
    Ok(out)
}
