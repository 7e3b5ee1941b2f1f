//! `sdkgw quickstart`: the README's first command. Two organisations on loopback, one message
//! with an attachment from A's mailbox API to B's function mailbox, and B's Meddelandekvittens
//! back at A — with the real pieces:
//!
//! 1. the development PKI for `0203:orga.test` (A) and `0203:orgb.test` (B), created once in
//!    `DIR/pki` and reused (`--fresh` recreates it; a reused PKI that fails its checks is
//!    recreated too);
//! 2. the fake SMP (address-book's `fake` module, in this process) publishing both
//!    organisations' signed metadata and CertPub certificates over HTTPS;
//! 3. per organisation a configuration for this run (`DIR/run/<domain>/sdkgw.toml`, the dev
//!    PKI's configuration on free loopback ports) that passes `sdkgw config check`, and the
//!    directory of both organisations' function mailboxes imported with `sdkgw addressbook
//!    import`;
//! 4. both gateways as child processes running `sdkgw serve` (mutual TLS between them);
//! 5. an API client per organisation (`sdkgw client add`) and its OAuth token;
//! 6. `POST /sdk/messages` at A, B's `GET /sdk/messages/{id}` until it is filed (attachment
//!    compared byte for byte), A's `GET` until the status is ACCEPTED;
//! 7. the operator's view (`sdkgw queue list`, `/metrics`), then where to look.
//!
//! Every step prints what it did and how long it took; `DIR/run/summary.json` records the
//! outcome for scripts. The first failure stops the demo with exit code 1 and the relevant log
//! lines. `--keep-running` leaves everything up until Ctrl-C. The gateways never outlive the
//! quickstart (see `quickstart_procs`). Re-running is safe: `DIR` is claimed with a marker and
//! locked (`quickstart_dir`), `DIR/run` is replaced, ports are picked free.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use sdkgw_address_book::fake::{self, DevPkiOptions, FakeSmp, RunningSmp};
use sdkgw_certs::devpki::{Manifest, Options, OrgConfigInput, OrgEntry};
use sdkgw_certs::{Certificate, load_certificates};
use sdkgw_schemas::ParticipantId;
use sdkgw_server::config;
use serde_json::{Value, json};

use super::pki::{self, DEFAULT_ORGS};
use super::quickstart_api::{self as api, ApiClient, Party};
use super::quickstart_dir::Workdir;
use super::quickstart_procs::{self as procs, Children};

/// Where the quickstart works, relative to the current directory.
const DEFAULT_DIR: &str = "target/quickstart";
/// How long a gateway may take from spawn to "serving".
const START_LIMIT: Duration = Duration::from_secs(120);
/// How long a gateway may take to stop before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(15);
/// The steps, for "[n/N]".
const STEPS: usize = 10;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Working directory (default: target/quickstart below the current directory). It must be
    /// empty, new, or one a quickstart made: DIR/pki is reused, DIR/run replaced.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Recreate the development PKI even if DIR/pki already holds one.
    #[arg(long)]
    fresh: bool,
    /// Leave the fake SMP and both gateways running until Ctrl-C (for curl experiments).
    #[arg(long)]
    keep_running: bool,
    /// Seconds to wait for the delivery to B and for the receipt back at A.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    timeout: u64,
    /// Internal: run as one of the quickstart's gateways (`sdkgw serve --config CFG`).
    #[arg(long, hide = true, value_name = "CFG")]
    serve_child: Option<PathBuf>,
    /// Internal: the quickstart process that started this gateway.
    #[arg(long, hide = true, value_name = "PID", requires = "serve_child")]
    parent_pid: Option<u32>,
}

pub(crate) fn run(args: Args) -> ExitCode {
    if let Some(config) = &args.serve_child {
        return procs::serve_child(config, args.parent_pid);
    }
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => match std::env::current_dir() {
            Ok(cwd) => cwd.join(DEFAULT_DIR),
            Err(e) => {
                eprintln!("sdkgw quickstart: no current directory: {e}");
                return ExitCode::from(super::EXIT_INPUT);
            }
        },
    };
    let work = match Workdir::claim(&dir) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("sdkgw quickstart: {e}");
            return ExitCode::from(super::EXIT_INPUT);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sdkgw quickstart: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut demo = Demo::new(work, &args);
    let outcome = runtime.block_on(async {
        // Registered before the first step, so a signal at any point stops the demo cleanly.
        let stop = stop_signal();
        tokio::select! {
            // A Ctrl-C also ends an operator command the demo runs: report the signal.
            biased;
            s = stop => Outcome::Signal(s),
            r = demo.run() => Outcome::Finished(r),
        }
    });
    let code = demo.conclude(&outcome);
    runtime.block_on(demo.shutdown());
    // A PKI generation cut short by a signal is not waited for (the next run redoes it).
    runtime.shutdown_timeout(Duration::from_millis(200));
    code
}

enum Outcome {
    Finished(Result<(), String>),
    Signal(&'static str),
}

/// SIGINT, SIGTERM or SIGHUP, whichever comes first. The handlers are installed by this call
/// (inside the runtime), not when the future is first polled.
fn stop_signal() -> impl std::future::Future<Output = &'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let streams = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    );
    async move {
        let (Ok(mut int), Ok(mut term), Ok(mut hup)) = streams else {
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        };
        tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
            _ = hup.recv() => "SIGHUP",
        }
    }
}

/// One organisation of the demo.
#[derive(Debug, Default)]
struct Org {
    /// `A` or `B`.
    label: &'static str,
    participant: String,
    domain: String,
    mailbox: String,
    config: PathBuf,
    data_dir: PathBuf,
    log: PathBuf,
    as4: Option<SocketAddr>,
    admin: Option<SocketAddr>,
    api_base: String,
    client_id: String,
    secret: String,
    token: String,
    pid: Option<u32>,
}

impl Org {
    fn party(&self) -> Party<'_> {
        Party {
            participant: &self.participant,
            mailbox: &self.mailbox,
        }
    }

    fn admin_url(&self) -> String {
        self.admin
            .map_or_else(String::new, |a| format!("http://{a}"))
    }

    fn as4_url(&self) -> String {
        self.as4
            .map_or_else(String::new, |a| format!("https://{a}/as4"))
    }

    fn summary(&self) -> Value {
        json!({
            "label": self.label,
            "participant": self.participant,
            "mailbox": self.mailbox,
            "api_url": self.api_base,
            "as4_url": self.as4_url(),
            "admin_url": self.admin_url(),
            "metrics_url": format!("{}/metrics", self.admin_url()),
            "config": self.config,
            "data_dir": self.data_dir,
            "log": self.log,
            "client_id": self.client_id,
            "token": self.token,
            "pid": self.pid,
        })
    }
}

/// What happened to the demo message.
#[derive(Debug, Default)]
struct Delivery {
    message_id: String,
    /// When A's API answered 201.
    posted: Option<Instant>,
    attachment: Vec<u8>,
    delivered_status: String,
    delivered_after: Option<Duration>,
    attachment_matches: bool,
    sender_status: String,
    accepted_after: Option<Duration>,
    events: Vec<(String, String, String)>,
}

struct Demo {
    work: Workdir,
    fresh: bool,
    keep_running: bool,
    timeout: Duration,
    run_dir: PathBuf,
    started: Instant,
    step: usize,
    step_name: &'static str,
    step_started: Option<Instant>,
    timings: Vec<(&'static str, f64)>,
    manifest: Option<Manifest>,
    orgs: Vec<Org>,
    smp: Option<(FakeSmp, RunningSmp)>,
    smp_log: Option<tokio::task::JoinHandle<()>>,
    children: Children,
    trust: Vec<Certificate>,
    result: Delivery,
    /// The demo reached its end (then a signal during --keep-running is a normal stop).
    completed: bool,
}

impl Demo {
    fn new(work: Workdir, args: &Args) -> Demo {
        Demo {
            run_dir: work.root().join("run"),
            work,
            fresh: args.fresh,
            keep_running: args.keep_running,
            timeout: Duration::from_secs(args.timeout),
            started: Instant::now(),
            step: 0,
            step_name: "",
            step_started: None,
            timings: Vec::new(),
            manifest: None,
            orgs: Vec::new(),
            smp: None,
            smp_log: None,
            children: Children::default(),
            trust: Vec::new(),
            result: Delivery::default(),
            completed: false,
        }
    }

    /// Starts step `name`, closing the previous one with its time.
    fn step(&mut self, name: &'static str) {
        self.end_step();
        self.step += 1;
        self.step_name = name;
        self.step_started = Some(Instant::now());
        println!("\n[{}/{STEPS}] {name}", self.step);
    }

    fn end_step(&mut self) {
        if let Some(t) = self.step_started.take() {
            let s = t.elapsed().as_secs_f64();
            println!("  ({s:.1} s)");
            self.timings.push((self.step_name, s));
        }
    }

    async fn run(&mut self) -> Result<(), String> {
        println!(
            "sdkgw quickstart: organisation A sends a message with an attachment to organisation B \
             through two gateways on loopback\n  working directory {}",
            self.work.root().display()
        );
        self.run_dir = self.work.fresh_run()?;
        self.step("development PKI");
        self.step_pki().await?;
        self.step("fake SMP (address book)");
        self.step_smp().await?;
        self.step("configurations of this run");
        self.step_configs()?;
        self.step("directory of function mailboxes");
        self.step_directory()?;
        self.step("start gateways A and B (sdkgw serve)");
        self.step_start().await?;
        self.step("API clients and tokens");
        self.step_clients().await?;
        self.step("A's internal service sends a message with an attachment");
        self.step_send().await?;
        self.step("delivered to B's function mailbox (fetched through B's API)");
        self.step_delivered().await?;
        self.step("ACCEPTED Meddelandekvittens back at A (A's message status)");
        self.step_accepted().await?;
        self.step("the operators' view");
        self.step_operators().await?;
        self.end_step();
        self.write_files()?;
        self.where_to_look();
        self.completed = true;
        if self.keep_running {
            println!(
                "\nEverything keeps running (--keep-running); Ctrl-C stops the gateways and the SMP."
            );
            return self.watch().await;
        }
        Ok(())
    }

    // --- the steps -------------------------------------------------------------------------

    /// Off the async thread (RSA key generation takes seconds), so a Ctrl-C is noticed.
    async fn step_pki(&mut self) -> Result<(), String> {
        let (dir, fresh) = (self.work.pki(), self.fresh);
        let m = tokio::task::spawn_blocking(move || reuse_or_create_pki(&dir, fresh))
            .await
            .map_err(|e| format!("development PKI: {e}"))??;
        self.manifest = Some(m);
        Ok(())
    }

    async fn step_smp(&mut self) -> Result<(), String> {
        let pki = self.work.pki();
        let smp = fake::from_dev_pki(&pki, &DevPkiOptions::default()).map_err(|e| e.to_string())?;
        let tls = fake::tls_identity_from_dev_pki(&pki).map_err(|e| e.to_string())?;
        let running = smp
            .serve(loopback(0), tls)
            .await
            .map_err(|e| format!("fake SMP: {e}"))?;
        println!(
            "  serving signed SMP metadata and CertPub certificates for {} on {}",
            smp.participants()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            running.url()
        );
        println!(
            "  (signed by the PKI's SMP signer; requests are logged to {})",
            self.run_dir.join("smp.log").display()
        );
        self.smp_log = Some(spawn_smp_log(smp.clone(), self.run_dir.join("smp.log")));
        self.smp = Some((smp, running));
        Ok(())
    }

    fn step_configs(&mut self) -> Result<(), String> {
        let manifest = self.manifest.clone().ok_or("no PKI")?;
        let (smp, running) = self.smp.as_ref().ok_or("no SMP")?;
        let smp_url = running.url().to_owned();
        let pki = self.work.pki();
        let root = pki
            .to_str()
            .filter(|s| !s.contains(['"', '\\']))
            .ok_or_else(|| {
                format!(
                    "{}: the path must be UTF-8 without quotes or backslashes (it goes into TOML)",
                    pki.display()
                )
            })?
            .to_owned();
        let ports = free_ports(3 * DEFAULT_ORGS.len())?;
        self.trust = tls_trust(&pki, &manifest)?;
        write_file(&self.run_dir.join("ca.pem"), &ca_bundle(&pki, &manifest)?)?;
        for (i, participant) in DEFAULT_ORGS.iter().enumerate() {
            let entry = manifest
                .organisations
                .iter()
                .find(|o| o.participant == *participant)
                .ok_or_else(|| format!("the PKI has no {participant}"))?;
            let [as4, api, admin] = [ports[3 * i], ports[3 * i + 1], ports[3 * i + 2]];
            let mut entry = entry.clone();
            entry.as4_url = format!("https://{as4}/as4");
            let domain = participant
                .split_once(':')
                .map_or(*participant, |(_, d)| d)
                .to_owned();
            let dir = self.run_dir.join(&domain);
            link_org_files(&pki, &entry, &dir)?;
            let text = config::dev::render(&OrgConfigInput {
                entry: &entry,
                manifest: &manifest,
                root_from_config: &root,
                as4_bind: as4,
                api_bind: api,
                admin_bind: admin,
                smp_url: &smp_url,
            });
            let file = dir.join("sdkgw.toml");
            write_file(&file, &run_config(&text, &domain))?;
            let loaded = config::check(&file, time::OffsetDateTime::now_utc());
            for f in loaded.findings.iter() {
                println!("  {f}");
            }
            let cfg = match (loaded.findings.has_errors(), loaded.config) {
                (false, Some(c)) => c,
                _ => {
                    return Err(format!(
                        "{} does not pass sdkgw config check",
                        file.display()
                    ));
                }
            };
            let mailbox = cfg
                .participants
                .first()
                .and_then(|p| p.mailboxes.first())
                .map(|m| m.address.to_string())
                .ok_or_else(|| format!("{}: no function mailbox", file.display()))?;
            let id: ParticipantId = participant.parse().map_err(|e| format!("{e}"))?;
            smp.update_participant(&id, |p| p.endpoint_url = entry.as4_url.clone());
            let org = Org {
                label: if i == 0 { "A" } else { "B" },
                participant: (*participant).to_owned(),
                domain,
                mailbox,
                config: file.clone(),
                data_dir: cfg.data_dir.clone(),
                log: dir.join("sdkgw.log"),
                as4: Some(as4),
                admin: Some(admin),
                api_base: format!("https://{api}{}", cfg.api.base_path),
                ..Org::default()
            };
            println!(
                "  {} {}: {} (passes sdkgw config check)\n      AS4 https://{as4}/as4, API {}, admin http://{admin}, function mailbox {}",
                org.label,
                org.participant,
                file.display(),
                org.api_base,
                org.mailbox
            );
            self.orgs.push(org);
        }
        println!("  the SMP now publishes each organisation's AS4 endpoint of this run");
        Ok(())
    }

    fn step_directory(&mut self) -> Result<(), String> {
        let organisations: Vec<Value> = self
            .orgs
            .iter()
            .map(|o| {
                json!({
                    "id": o.participant,
                    "name": format!("Organisation {} ({})", o.label, o.domain),
                    "functions": [{"id": o.mailbox, "name": format!("Inbox of {}", o.domain)}],
                })
            })
            .collect();
        let file = self.run_dir.join("directory.json");
        let doc =
            json!({"format": "sdkgw-address-book", "version": 1, "organisations": organisations});
        write_file(&file, &pretty(&doc)?)?;
        for org in &self.orgs {
            println!(
                "  $ sdkgw addressbook import {} --config {}",
                file.display(),
                org.config.display()
            );
            let out = procs::run_sdkgw([
                "addressbook".as_ref(),
                "import".as_ref(),
                file.as_os_str(),
                "--config".as_ref(),
                org.config.as_os_str(),
            ])?;
            print_indented(&out, "    ");
        }
        Ok(())
    }

    async fn step_start(&mut self) -> Result<(), String> {
        let mut started = Vec::new();
        for org in &self.orgs {
            let i = self
                .children
                .spawn_gateway(org.label, &org.config, &org.log)?;
            started.push(i);
        }
        for (org, i) in self.orgs.iter_mut().zip(started) {
            self.children.wait_serving(i, START_LIMIT).await?;
            org.pid = self.children.get(i).map(procs::Gateway::pid);
            println!(
                "  {} serving (pid {}): sdkgw serve --config {}\n      log {}",
                org.label,
                org.pid.unwrap_or_default(),
                org.config.display(),
                org.log.display()
            );
        }
        println!(
            "  A and B talk AS4 to each other over mutual TLS (dev TLS CA), and HTTPS to the SMP"
        );
        Ok(())
    }

    async fn step_clients(&mut self) -> Result<(), String> {
        for org in &mut self.orgs {
            org.client_id = format!("quickstart-{}", org.label.to_ascii_lowercase());
            println!(
                "  $ sdkgw client add {} --grant {} --config {}",
                org.client_id,
                org.mailbox,
                org.config.display()
            );
            let out = procs::run_sdkgw([
                "client".as_ref(),
                "add".as_ref(),
                org.client_id.as_ref(),
                "--name".as_ref(),
                format!("sdkgw quickstart, organisation {}", org.label).as_ref(),
                "--grant".as_ref(),
                org.mailbox.as_ref(),
                "--config".as_ref(),
                org.config.as_os_str(),
                "--output".as_ref(),
                "json".as_ref(),
            ])?;
            let v: Value = serde_json::from_str(&out)
                .map_err(|e| format!("sdkgw client add printed no JSON ({e}): {out}"))?;
            org.secret = v["secret"]
                .as_str()
                .ok_or_else(|| format!("sdkgw client add printed no secret: {out}"))?
                .to_owned();
            let client = ApiClient::new(&self.trust, org.api_base.clone())?;
            org.token = client.token(&org.client_id, &org.secret).await?;
            println!(
                "    registered (all four MT–MK scopes, mailbox {}); token from POST {}/oauth/token",
                org.mailbox, org.api_base
            );
        }
        Ok(())
    }

    async fn step_send(&mut self) -> Result<(), String> {
        let (a, b) = self.pair()?;
        let pdf = api::attachment_pdf(&a.participant, &b.participant);
        let body = api::message_body(&a.party(), &b.party(), &pdf);
        write_file(&self.run_dir.join("message.json"), &pretty(&body)?)?;
        write_file(&self.run_dir.join("bilaga.pdf"), &pdf)?;
        let client = ApiClient::new(&self.trust, a.api_base.clone())?;
        println!(
            "  POST {}/sdk/messages  {} -> {} (mailbox {}), text + bilaga.pdf ({} bytes, sha256 {})",
            a.api_base,
            a.participant,
            b.participant,
            b.mailbox,
            pdf.len(),
            sha256_hex(&pdf)
        );
        let id = client.send(&a.token, &body).await?;
        println!("  201 Created: messageId {id}");
        println!(
            "  A's gateway now builds the SDK message, looks up B in the SMP (endpoint, AP and\n  \
             O2O certificates), signs and encrypts the XHE envelope and sends it by AS4"
        );
        self.result.message_id = id;
        self.result.attachment = pdf;
        self.result.posted = Some(Instant::now());
        Ok(())
    }

    async fn step_delivered(&mut self) -> Result<(), String> {
        let (a, b) = self.pair()?;
        let (a_api, b_api) = (
            ApiClient::new(&self.trust, a.api_base.clone())?,
            ApiClient::new(&self.trust, b.api_base.clone())?,
        );
        let (a_token, b_token) = (a.token.clone(), b.token.clone());
        let id = self.result.message_id.clone();
        let sent = Instant::now();
        let limit = self.timeout;
        let message = loop {
            if let Some(m) = b_api.message(&b_token, &id).await? {
                break m;
            }
            if let Some(m) = a_api.message(&a_token, &id).await?
                && api::status(&m) == "MESSAGE_EXCHANGE_ERROR"
            {
                return Err(format!(
                    "A reports MESSAGE_EXCHANGE_ERROR before B got the message: {}",
                    describe_events(&api::events(&m))
                ));
            }
            self.gateways_alive()?;
            if sent.elapsed() > limit {
                return Err(format!(
                    "B's mailbox API does not show message {id} after {} s (--timeout)",
                    limit.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        };
        let attrs = &message["data"]["attributes"];
        let status = api::status(&message).to_owned();
        println!(
            "  GET {}/sdk/messages/{id}  (B's token)\n  messageStatus {status}, in {} from {} ({}), label {:?}",
            b_api.base,
            attrs["recipientAttention"]["subOrganization"]["extension"]
                .as_str()
                .unwrap_or("?"),
            attrs["sender"].as_str().unwrap_or("?"),
            attrs["senderAttention"]["subOrganization"]["extension"]
                .as_str()
                .unwrap_or("?"),
            attrs["label"].as_str().unwrap_or("")
        );
        if let Some(text) = attrs["digitalDocument"][0]["contentTextBody"][0].as_str() {
            println!("  text: {text}");
        }
        let matches = match api::first_file(&message) {
            Some((name, kind, bytes)) => {
                let same = bytes == self.result.attachment;
                println!(
                    "  attachment: {name} ({kind}, {} bytes, sha256 {}) — {}",
                    bytes.len(),
                    sha256_hex(&bytes),
                    if same {
                        "identical to the one sent"
                    } else {
                        "DIFFERENT from the one sent"
                    }
                );
                same
            }
            None => false,
        };
        let after = self.result.posted.map(|t| t.elapsed());
        println!(
            "  delivered {:.1} s after the POST: verified, decrypted and filed by B, which sent its\n  \
             Meddelandekvittens (ACCEPTED) back to A",
            after.unwrap_or_default().as_secs_f64()
        );
        self.result.delivered_status = status.clone();
        self.result.delivered_after = after;
        self.result.attachment_matches = matches;
        if status != "NEW" {
            return Err(format!("B shows the message as {status}, expected NEW"));
        }
        if !matches {
            return Err("the attachment B received is not the one A sent".to_owned());
        }
        Ok(())
    }

    async fn step_accepted(&mut self) -> Result<(), String> {
        let (a, _) = self.pair()?;
        let a_api = ApiClient::new(&self.trust, a.api_base.clone())?;
        let a_token = a.token.clone();
        let id = self.result.message_id.clone();
        let waited = Instant::now();
        let message = loop {
            if let Some(m) = a_api.message(&a_token, &id).await?
                && matches!(api::status(&m), "ACCEPTED" | "MESSAGE_EXCHANGE_ERROR")
            {
                break m;
            }
            self.gateways_alive()?;
            if waited.elapsed() > self.timeout {
                return Err(format!(
                    "A's message {id} did not reach ACCEPTED within {} s (--timeout)",
                    self.timeout.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        };
        let status = api::status(&message).to_owned();
        let events = api::events(&message);
        println!("  GET {}/sdk/messages/{id}  (A's token)", a_api.base);
        println!("  messageStatus {status}; events:");
        for (code, at, detail) in &events {
            let detail = if detail == "NA" { "" } else { detail };
            println!("    {at}  {code:<22} {detail}");
        }
        let after = self.result.posted.map(|t| t.elapsed());
        println!(
            "  {status} {:.1} s after the POST",
            after.unwrap_or_default().as_secs_f64()
        );
        self.result.sender_status = status.clone();
        self.result.accepted_after = after;
        self.result.events = events;
        if status != "ACCEPTED" {
            return Err(format!(
                "A's message ended {status}: {}",
                describe_events(&self.result.events)
            ));
        }
        Ok(())
    }

    async fn step_operators(&mut self) -> Result<(), String> {
        for org in &self.orgs {
            println!("  $ sdkgw queue list --config {}", org.config.display());
            let out = procs::run_sdkgw([
                "queue".as_ref(),
                "list".as_ref(),
                "--config".as_ref(),
                org.config.as_os_str(),
            ])?;
            print_indented(&out, "    ");
        }
        for org in &self.orgs {
            let Some(admin) = org.admin else { continue };
            let (status, body) = api::plain_get(admin, "/metrics").await?;
            println!(
                "  $ curl {}/metrics   ({status}; messages and receipts)",
                org.admin_url()
            );
            for line in body.lines().filter(|l| {
                (l.starts_with("sdkgw_messages_total") || l.starts_with("sdkgw_receipts_total"))
                    && !l.ends_with(" 0")
            }) {
                println!("    {line}");
            }
        }
        Ok(())
    }

    // --- helpers ---------------------------------------------------------------------------

    fn pair(&self) -> Result<(&Org, &Org), String> {
        match self.orgs.as_slice() {
            [a, b, ..] => Ok((a, b)),
            _ => Err("the organisations are not configured".to_owned()),
        }
    }

    fn gateways_alive(&mut self) -> Result<(), String> {
        match self.children.exited() {
            Some((name, status)) => Err(format!("gateway {name} exited ({status})")),
            None => Ok(()),
        }
    }

    /// While --keep-running: until a signal ends the demo (the caller's select), or a gateway
    /// dies.
    async fn watch(&mut self) -> Result<(), String> {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if let Some((name, status)) = self.children.exited() {
                return Err(format!("gateway {name} exited unexpectedly ({status})"));
            }
        }
    }

    /// `summary.json` and `env.sh` of this run.
    fn write_files(&self) -> Result<(), String> {
        write_file(
            &self.run_dir.join("summary.json"),
            &pretty(&self.summary(None))?,
        )?;
        let mut env = format!(
            "# sdkgw quickstart: variables for curl experiments (tokens live 15 minutes; A_SECRET\n\
             # and B_SECRET get new ones). Use: . {}\n",
            self.run_dir.join("env.sh").display()
        );
        env.push_str(&format!(
            "export QS_CA={}\nexport MESSAGE_ID={}\n",
            sh_quote(&self.run_dir.join("ca.pem").display().to_string()),
            sh_quote(&self.result.message_id)
        ));
        for o in &self.orgs {
            let l = o.label;
            env.push_str(&format!(
                "export {l}_API={} {l}_TOKEN={} {l}_CLIENT={} {l}_SECRET={} {l}_METRICS={} {l}_CONFIG={}\n",
                sh_quote(&o.api_base),
                sh_quote(&o.token),
                sh_quote(&o.client_id),
                sh_quote(&o.secret),
                sh_quote(&format!("{}/metrics", o.admin_url())),
                sh_quote(&o.config.display().to_string())
            ));
        }
        let path = self.run_dir.join("env.sh");
        write_file(&path, env.as_bytes())?;
        restrict(&path)
    }

    fn summary(&self, error: Option<&str>) -> Value {
        let r = &self.result;
        let ms = |d: Option<Duration>| d.map(|d| d.as_millis() as u64);
        json!({
            "ok": error.is_none() && r.sender_status == "ACCEPTED",
            "error": error,
            "failed_step": error.map(|_| self.step_name),
            "message": {
                "id": r.message_id,
                "from": self.orgs.first().map(|o| o.participant.clone()),
                "to": self.orgs.get(1).map(|o| o.participant.clone()),
                "to_mailbox": self.orgs.get(1).map(|o| o.mailbox.clone()),
                "attachment": {"name": "bilaga.pdf", "bytes": r.attachment.len(), "sha256": sha256_hex(&r.attachment)},
            },
            "delivered": {
                "status": r.delivered_status,
                "attachment_matches": r.attachment_matches,
                "after_ms": ms(r.delivered_after),
            },
            "sender_status": {
                "status": r.sender_status,
                "events": r.events.iter().map(|(c, t, d)| json!({"code": c, "at": t, "detail": d})).collect::<Vec<_>>(),
                "after_ms": ms(r.accepted_after),
            },
            "organisations": self.orgs.iter().map(Org::summary).collect::<Vec<_>>(),
            "smp_url": self.smp.as_ref().map(|(_, r)| r.url().to_owned()),
            "pki": self.work.pki(),
            "steps": self.timings.iter().map(|(n, s)| json!({"name": n, "seconds": s})).collect::<Vec<_>>(),
        })
    }

    fn where_to_look(&self) {
        let run = self.run_dir.display();
        println!("\nWhere to look");
        for o in &self.orgs {
            println!(
                "  {} {} (function mailbox {})\n    API      {}   token below, client {}\n    AS4      {}\n    metrics  {}/metrics   (also /healthz, /readyz)\n    config   {}\n    data     {}\n    log      {}",
                o.label,
                o.participant,
                o.mailbox,
                o.api_base,
                o.client_id,
                o.as4_url(),
                o.admin_url(),
                o.config.display(),
                o.data_dir.display(),
                o.log.display()
            );
        }
        if let Some((_, smp)) = &self.smp {
            println!("  SMP      {}   requests in {run}/smp.log", smp.url());
        }
        println!(
            "  summary  {run}/summary.json   message {run}/message.json, attachment {run}/bilaga.pdf"
        );
        let exe = this_binary();
        println!("\n  Operator commands (they work while the gateways run):");
        for o in &self.orgs {
            let c = o.config.display();
            println!("    {exe} queue list --config {c}");
        }
        if let Some(a) = self.orgs.first() {
            let c = a.config.display();
            println!(
                "    {exe} message show {} --config {c}",
                self.result.message_id
            );
            println!("    {exe} queue stats --config {c}");
            println!("    {exe} mailbox list --config {c}");
            println!("    {exe} addressbook lookup 0203:orgb.test --config {c}");
            println!("    {exe} audit search --config {c}");
        }
        println!("\n  The mailbox API with curl (ready tokens, valid 15 minutes):");
        for o in &self.orgs {
            println!("    {}_TOKEN={}", o.label, o.token);
        }
        println!(
            "    . {run}/env.sh        # sets QS_CA, MESSAGE_ID, A_API, A_TOKEN, B_API, B_TOKEN, … "
        );
        println!(
            "    curl --cacert \"$QS_CA\" -H \"Authorization: Bearer $B_TOKEN\" \"$B_API/sdk/messages/$MESSAGE_ID\""
        );
        println!(
            "    curl --cacert \"$QS_CA\" -H \"Authorization: Bearer $A_TOKEN\" \"$A_API/sdk/messages/$MESSAGE_ID\""
        );
        println!(
            "    curl -g --cacert \"$QS_CA\" -H \"Authorization: Bearer $B_TOKEN\" \"$B_API/sdk/messages?filter[messageStatus]=NEW\""
        );
        println!(
            "    curl --cacert \"$QS_CA\" -H \"Authorization: Bearer $A_TOKEN\" -H 'Content-Type: application/json' -d @{run}/message.json \"$A_API/sdk/messages\"   # send another"
        );
        println!(
            "    curl --cacert \"$QS_CA\" -u \"$A_CLIENT:$A_SECRET\" -d grant_type=client_credentials \"$A_API/oauth/token\"   # a new token"
        );
        println!("    curl \"$A_METRICS\"");
        println!(
            "\n  Total {:.1} s. Re-run any time: the PKI is reused, {run} is replaced.",
            self.started.elapsed().as_secs_f64()
        );
    }

    /// The exit code for `outcome`, after printing what went wrong (with log lines).
    fn conclude(&mut self, outcome: &Outcome) -> ExitCode {
        let failure = match outcome {
            Outcome::Finished(Ok(())) => None,
            Outcome::Finished(Err(e)) => Some(e.clone()),
            Outcome::Signal(s) if self.completed => {
                println!("\n{s}: stopping");
                None
            }
            Outcome::Signal(s) => Some(format!("interrupted by {s}")),
        };
        let Some(error) = failure else {
            return ExitCode::SUCCESS;
        };
        self.step_started = None;
        eprintln!(
            "\nsdkgw quickstart: FAILED in step {}/{STEPS} ({}): {error}",
            self.step, self.step_name
        );
        for (name, log) in self.children.logs() {
            let lines = procs::relevant_log_lines(&log, 15);
            if lines.is_empty() {
                continue;
            }
            eprintln!("  gateway {name}, {}:", log.display());
            for l in lines {
                eprintln!("    {l}");
            }
        }
        if self.run_dir.is_dir()
            && let Ok(text) = pretty(&self.summary(Some(&error)))
        {
            let _ = write_file(&self.run_dir.join("summary.json"), &text);
        }
        match outcome {
            Outcome::Signal(_) => ExitCode::from(130),
            Outcome::Finished(_) => ExitCode::FAILURE,
        }
    }

    /// Stops the gateways (always), then the SMP.
    async fn shutdown(&mut self) {
        for line in self.children.stop(STOP_GRACE) {
            println!("  {line}");
        }
        if let Some(task) = self.smp_log.take() {
            task.abort();
        }
        if let Some((smp, running)) = self.smp.take() {
            running.shutdown().await;
            append_smp_log(&smp, &self.run_dir.join("smp.log"), &mut 0);
        }
    }
}

// --- free functions ----------------------------------------------------------------------

/// This binary as a newcomer can type it: relative to the current directory when below it
/// (`target/release/sdkgw` after `cargo run --release`), else absolute.
fn this_binary() -> String {
    let Ok(exe) = std::env::current_exe() else {
        return "sdkgw".to_owned();
    };
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| exe.strip_prefix(cwd).ok().map(Path::to_path_buf));
    relative.unwrap_or(exe).display().to_string()
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// `n` distinct free loopback ports (held together while chosen, then released for the
/// gateways; a port taken in between makes that gateway's start fail with a clear log line).
fn free_ports(n: usize) -> Result<Vec<SocketAddr>, String> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind(loopback(0)))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot find free ports on 127.0.0.1: {e}"))?;
    held.iter()
        .map(|l| l.local_addr().map_err(|e| e.to_string()))
        .collect()
}

/// The development PKI in `dir`: reused when it has both demo organisations and passes its
/// checks (unless `fresh`), else (re)created.
fn reuse_or_create_pki(dir: &Path, fresh: bool) -> Result<Manifest, String> {
    if !fresh {
        match sdkgw_certs::devpki::read_manifest(dir) {
            Ok(m) if has_demo_orgs(&m) => match check_pki_configs(dir, &m) {
                Ok(()) => {
                    println!(
                        "  reusing the development PKI in {} (--fresh recreates it)",
                        dir.display()
                    );
                    return Ok(m);
                }
                Err(e) => println!(
                    "  the PKI in {} fails its checks ({e}); recreating it",
                    dir.display()
                ),
            },
            Ok(_) => println!(
                "  {} holds other organisations than {}; recreating it",
                dir.display(),
                DEFAULT_ORGS.join(" and ")
            ),
            Err(_) if dir.exists() => println!("  {} is incomplete; recreating it", dir.display()),
            Err(_) => {}
        }
    }
    super::quickstart_dir::remove_if_present(dir)?;
    let options = Options {
        participants: DEFAULT_ORGS.iter().map(|p| (*p).to_owned()).collect(),
        seed: None,
        force: true,
    };
    let m = pki::init(dir, &options).map_err(|e| e.to_string())?;
    print_pki(dir, &m);
    check_pki_configs(dir, &m)?;
    Ok(m)
}

/// What the new PKI holds. Not `sdkgw pki init`'s summary: its configurations' fixed ports
/// are not the ones this run uses (step 3 picks free ones), so they are not shown.
fn print_pki(dir: &Path, m: &Manifest) {
    println!(
        "  created in {} (manifest.json lists every file; RSA 3072 keys):",
        dir.display()
    );
    println!(
        "    AP CA {} <- {}, SMP CA {}, TLS CA {} <- {}, O2O CA {} <- {}",
        m.ca.ap_intermediate,
        m.ca.ap_root,
        m.ca.smp_ca,
        m.ca.tls_intermediate,
        m.ca.tls_root,
        m.ca.o2o_intermediate,
        m.ca.o2o_root
    );
    for org in &m.organisations {
        println!(
            "    {} {}: AP, TLS server/client, O2O signing/encryption certificates and keys",
            org.ap_party_id, org.participant
        );
    }
}

fn has_demo_orgs(m: &Manifest) -> bool {
    DEFAULT_ORGS
        .iter()
        .all(|p| m.organisations.iter().any(|o| o.participant == *p))
}

/// The PKI's own generated configurations pass `sdkgw config check` (keys readable, chains,
/// validity): else the PKI is not worth reusing.
fn check_pki_configs(dir: &Path, m: &Manifest) -> Result<(), String> {
    for org in &m.organisations {
        let file = dir.join(&org.config);
        let loaded = config::check(&file, time::OffsetDateTime::now_utc());
        if let Some(e) = loaded.findings.errors().next() {
            return Err(format!("{}: {e}", file.display()));
        }
    }
    println!(
        "  both organisations' generated configurations pass sdkgw config check ({})",
        m.organisations
            .iter()
            .map(|o| o.config.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// The organisation's own key and certificate files, linked into its run directory (the
/// generated configuration names them relative to itself).
fn link_org_files(pki: &Path, entry: &OrgEntry, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let pairs = [
        &entry.ap,
        &entry.tls_server,
        &entry.tls_client,
        &entry.o2o_signing,
        &entry.o2o_encryption,
    ];
    for rel in pairs.iter().flat_map(|p| [&p.cert, &p.key]) {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        let link = dir.join(name);
        std::os::unix::fs::symlink(pki.join(rel), &link)
            .map_err(|e| format!("{}: {e}", link.display()))?;
    }
    Ok(())
}

/// The run's configuration: the dev PKI's, with our header and short retries.
fn run_config(rendered: &str, domain: &str) -> Vec<u8> {
    let body: String = rendered
        .lines()
        .skip_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    format!(
        "# sdkgw configuration of {domain} for this `sdkgw quickstart` run: the development PKI's\n\
         # configuration on the loopback ports picked for this run. Replaced by the next run.\n\
         # `sdkgw config example` prints every key with its documentation.\n{body}\n\
         # Short retries for the demo (the defaults start at 30 s).\n\
         [retry]\nmax_attempts = 10\ninitial_delay = \"1s\"\nmax_delay = \"5s\"\n"
    )
    .into_bytes()
}

/// The TLS root and intermediate of the dev PKI: what a client of the API must trust.
fn tls_trust(pki: &Path, m: &Manifest) -> Result<Vec<Certificate>, String> {
    let mut out = Vec::new();
    for rel in [&m.ca.tls_root, &m.ca.tls_intermediate] {
        let path = pki.join(rel);
        out.extend(load_certificates(&path, None).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    Ok(out)
}

/// The TLS root and intermediate as one PEM file, for `curl --cacert`.
fn ca_bundle(pki: &Path, m: &Manifest) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for rel in [&m.ca.tls_root, &m.ca.tls_intermediate] {
        let path = pki.join(rel);
        out.extend(std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    Ok(out)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Owner-only permissions (the file holds client secrets).
fn restrict(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn pretty(v: &Value) -> Result<Vec<u8>, String> {
    serde_json::to_vec_pretty(v).map_err(|e| e.to_string())
}

fn print_indented(text: &str, indent: &str) {
    for line in text.lines() {
        println!("{indent}{line}");
    }
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn sha256_hex(bytes: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn describe_events(events: &[(String, String, String)]) -> String {
    events
        .iter()
        .map(|(c, _, d)| {
            if d.is_empty() || d == "NA" {
                c.clone()
            } else {
                format!("{c} ({d})")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Appends the fake SMP's requests after the first `*written` to `path`.
fn append_smp_log(smp: &FakeSmp, path: &Path, written: &mut usize) {
    use std::io::Write as _;
    let log = smp.requests();
    if log.len() <= *written {
        return;
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        for r in log.iter().skip(*written) {
            let _ = writeln!(f, "{} {} -> {}", r.method, r.path, r.status);
        }
    }
    *written = log.len();
}

fn spawn_smp_log(smp: FakeSmp, path: PathBuf) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut written = 0;
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            append_smp_log(&smp, &path, &mut written);
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn run_config_replaces_the_header_and_adds_short_retries() {
        let text = run_config(
            "# made by pki init\n# check it\n\ndata_dir = \"data\"\n",
            "orga.test",
        );
        let text = String::from_utf8(text).unwrap();
        assert!(!text.contains("made by pki init"));
        assert!(text.starts_with("# sdkgw configuration of orga.test"));
        let parsed: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(parsed["data_dir"].as_str(), Some("data"));
        assert_eq!(parsed["retry"]["initial_delay"].as_str(), Some("1s"));
    }

    #[test]
    fn free_ports_are_distinct() {
        let ports = free_ports(6).unwrap();
        let mut unique: Vec<u16> = ports.iter().map(SocketAddr::port).collect();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 6);
    }

    #[test]
    fn shell_quoting_survives_single_quotes() {
        assert_eq!(sh_quote("a'b"), "'a'\\''b'");
    }
}
