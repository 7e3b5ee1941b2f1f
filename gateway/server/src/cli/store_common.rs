//! Shared plumbing of the `queue`, `message` and `store` command groups: where the store is
//! (`--data-dir`), how it is reached (the running gateway's admin socket, or the directory
//! itself), progress on stderr, exit codes and table helpers.
//!
//! Exit codes: 0 success; 1 the operation failed or `store check` found damage; 2 input error
//! (unknown id, illegal state change for this message, bad argument, not a data directory).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use sdkgw_store::admin::{Access, Request, Response};
use sdkgw_store::{Progress, StoreConfig, StoreError};

use super::{EXIT_INPUT, OutputFormat};

/// Where the data directory is and how to print.
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    /// The gateway configuration: its `data_dir` and `[store]` section (durability,
    /// retention) are used.
    #[arg(long, env = "SDKGW_CONFIG", value_name = "CFG")]
    pub(crate) config: Option<PathBuf>,
    /// Or only the data directory, with the store's default settings (wins over --config).
    #[arg(long, env = "SDKGW_DATA_DIR", value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) output: OutputFormat,
}

impl StoreArgs {
    /// The store settings: from `--data-dir`, or from the configuration file.
    pub(crate) fn store_config(&self) -> Result<StoreConfig, ExitCode> {
        if let Some(dir) = &self.data_dir {
            return Ok(StoreConfig::at(dir));
        }
        let Some(file) = &self.config else {
            eprintln!("sdkgw: say where the store is: --config CFG or --data-dir DIR");
            return Err(ExitCode::from(EXIT_INPUT));
        };
        let loaded = sdkgw_server::config::load(file);
        match loaded.config {
            Some(c) => Ok(c.store),
            None => {
                for f in loaded.findings.errors() {
                    eprintln!("sdkgw: {}: {f}", file.display());
                }
                Err(ExitCode::from(EXIT_INPUT))
            }
        }
    }
}

/// Progress lines on stderr: at most twice a second, and each new phase.
pub(crate) struct StderrProgress {
    label: &'static str,
    last: Option<(String, Instant)>,
}

impl StderrProgress {
    pub(crate) fn new(label: &'static str) -> Self {
        Self { label, last: None }
    }
}

impl Drop for StderrProgress {
    fn drop(&mut self) {
        // A terminal's progress line ends with `\r`: finish it before the result is printed.
        if self.last.is_some() && std::io::stderr().is_terminal() {
            eprintln!();
        }
    }
}

impl Progress for StderrProgress {
    fn report(&mut self, phase: &str, done: u64, total: Option<u64>) {
        let due = match &self.last {
            Some((p, at)) => p != phase || at.elapsed() >= Duration::from_millis(500),
            None => true,
        };
        if !due {
            return;
        }
        self.last = Some((phase.to_owned(), Instant::now()));
        let of = total.map(|t| format!("/{t}")).unwrap_or_default();
        let end = if std::io::stderr().is_terminal() {
            "\r"
        } else {
            "\n"
        };
        eprint!("{}: {phase}: {done}{of}{end}", self.label);
    }
}

/// The operator's name for the audit trail.
pub(crate) fn actor() -> String {
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("operator:{user}")
}

/// Exit code and message for a store error.
pub(crate) fn fail(e: &StoreError) -> ExitCode {
    eprintln!("sdkgw: {e}");
    match e.code() {
        "not-found" | "invalid" | "illegal-transition" | "state-mismatch" | "not-a-store"
        | "newer-format" => ExitCode::from(EXIT_INPUT),
        _ => ExitCode::FAILURE,
    }
}

/// Opens the store (socket or directory) and runs one request.
pub(crate) fn call(
    args: &StoreArgs,
    request: &Request,
    label: &'static str,
) -> Result<Response, ExitCode> {
    let config = args.store_config()?;
    let dir = config.data_dir.clone();
    let access = Access::open(config).map_err(|e| fail(&e))?;
    if request.is_write() && !access.is_remote() {
        eprintln!(
            "sdkgw: no gateway answers on {}/admin.sock; working on the directory directly",
            dir.display()
        );
    }
    let mut progress = StderrProgress::new(label);
    access.call(request, &mut progress).map_err(|e| fail(&e))
}

/// Renders rows as aligned columns.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut out = vec![line(headers.iter().map(|h| (*h).to_owned()).collect())];
    out.extend(rows.iter().map(|r| line(r.clone())));
    out.join("\n")
}

/// RFC 3339 time to the second (tables; JSON keeps full precision), or `-`.
pub(crate) fn when(t: Option<time::OffsetDateTime>) -> String {
    t.and_then(|t| t.replace_nanosecond(0).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "-".into())
}

pub(crate) fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_else(|| "-".into())
}

/// Parses `--since`: an RFC 3339 time, or a duration ago (`2h`, `3d`).
pub(crate) fn parse_since(s: &str) -> Result<time::OffsetDateTime, String> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    let ago = sdkgw_store::config::human_duration::parse(s)
        .map_err(|_| format!("{s:?} is neither an RFC 3339 time nor a duration like 2h or 3d"))?;
    let ago = time::Duration::try_from(ago).map_err(|e| e.to_string())?;
    Ok(time::OffsetDateTime::now_utc() - ago)
}
