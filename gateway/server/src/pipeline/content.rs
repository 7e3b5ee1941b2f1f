//! Attachment content policy on both ends (MT–MK §2.8 and §3; GW-MSG-10, GW-MSG-11): which
//! MIME types are accepted (`[pipeline] attachment_types`; `application/pdf` always) and the
//! malware scan by an external command (`[pipeline] malware_scan_command`). The inbound
//! pipeline hands both to the envelope layer's `MessagePolicy`; the mailbox API applies them
//! to a submission before it is stored.
//!
//! The scanner runs the configured command once per attachment with the decoded bytes on its
//! stdin: exit 0 = clean, exit 1 = infected (the clamd/`clamdscan` convention), anything else,
//! a signal, or no exit within `malware_scan_timeout` = the scan failed. A failed scan is never
//! taken as clean: the inbound message is tried again later, the API answers 503.

use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sdkgw_envelope::message::{MalwareScanner, ScanFailed};

/// The default allow-list besides `application/pdf` (which DIGG requires of everyone):
/// documents and images an organisation can open without running code. Executables,
/// archives (which a scanner may not see into), HTML and macro-enabled Office formats are
/// left out on purpose; an operator who needs more lists them.
pub const DEFAULT_ATTACHMENT_TYPES: &[&str] = &[
    "application/pdf",
    "text/plain",
    "text/xml",
    "application/xml",
    "image/png",
    "image/jpeg",
    "image/tiff",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
];

/// Default `malware_scan_timeout`: one attachment of up to 30 MiB.
pub const DEFAULT_SCAN_TIMEOUT: Duration = Duration::from_secs(60);

/// At most this much of the scanner's stdout is kept for the log (the rest is drained).
const MAX_REPORT: usize = 1024;

/// `type/subtype` of a `contentType`, lower-cased, parameters dropped.
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Whether `content_type` is accepted by the allow-list `allowed` (PDF always is).
pub fn type_allowed(allowed: &[String], content_type: &str) -> bool {
    let mt = media_type(content_type);
    mt == "application/pdf" || allowed.iter().any(|a| media_type(a) == mt)
}

/// A malware scanner that runs an external command (e.g. `clamdscan --no-summary --stdout -`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandScanner {
    argv: Vec<String>,
    timeout: Duration,
}

impl CommandScanner {
    /// The scanner running `argv` (program first); `None` when `argv` is empty.
    pub fn new(argv: &[String], timeout: Duration) -> Option<Self> {
        (!argv.is_empty()).then(|| Self {
            argv: argv.to_vec(),
            timeout,
        })
    }

    fn spawn(&self) -> Result<Child, ScanFailed> {
        Command::new(&self.argv[0])
            .args(&self.argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| ScanFailed(format!("cannot run {}: {e}", self.argv[0])))
    }

    /// Waits for the child until `deadline`; kills it when it is late.
    fn wait(child: &mut Child, deadline: Instant) -> Result<ExitStatus, ScanFailed> {
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(ScanFailed("the scanner did not finish in time".into()));
                }
                Err(e) => return Err(ScanFailed(format!("cannot wait for the scanner: {e}"))),
            }
        }
    }
}

impl MalwareScanner for CommandScanner {
    fn is_malicious(&self, file_name: &str, content: &[u8]) -> Result<bool, ScanFailed> {
        let deadline = Instant::now() + self.timeout;
        let mut child = self.spawn()?;
        // Writing and reading on their own threads: a scanner may answer (or fill its stdout
        // pipe) before it has read everything.
        let (written_tx, written) = mpsc::channel();
        if let Some(mut stdin) = child.stdin.take() {
            let data = content.to_vec();
            std::thread::spawn(move || {
                let _ = written_tx.send(stdin.write_all(&data).is_ok());
            });
        }
        let (report_tx, report) = mpsc::channel();
        if let Some(mut stdout) = child.stdout.take() {
            std::thread::spawn(move || {
                let mut kept = Vec::new();
                let _ = (&mut stdout).take(MAX_REPORT as u64).read_to_end(&mut kept);
                let _ = std::io::copy(&mut stdout, &mut std::io::sink());
                let _ = report_tx.send(String::from_utf8_lossy(&kept).trim().to_owned());
            });
        }
        let status = Self::wait(&mut child, deadline)?;
        let left = deadline.saturating_duration_since(Instant::now());
        let output = report
            .recv_timeout(left.max(Duration::from_millis(100)))
            .unwrap_or_default();
        match status.code() {
            Some(1) => {
                tracing::error!(file_name = %file_name, scanner = %output,
                    "security incident: malware found in an attachment; the message is refused");
                Ok(true)
            }
            // Clean only if the scanner was given every byte.
            Some(0) if written.recv_timeout(left).unwrap_or(false) => Ok(false),
            Some(0) => Err(ScanFailed(
                "the scanner exited 0 without reading the whole attachment".into(),
            )),
            _ => Err(ScanFailed(format!(
                "the scanner ended with {status}: {output}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

    fn sh(script: &str, timeout: Duration) -> CommandScanner {
        let argv = ["/bin/sh".to_owned(), "-c".to_owned(), script.to_owned()];
        CommandScanner::new(&argv, timeout).expect("a command")
    }

    /// The stand-in engine the conformance harness uses too: infected = contains EICAR.
    fn eicar_engine() -> CommandScanner {
        sh(
            "if grep -qF 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE'; then echo 'stdin: Eicar FOUND'; exit 1; fi; exit 0",
            Duration::from_secs(10),
        )
    }

    #[test]
    fn an_empty_command_is_no_scanner() {
        assert_eq!(CommandScanner::new(&[], DEFAULT_SCAN_TIMEOUT), None);
    }

    #[test]
    fn clean_content_passes() {
        let clean = vec![b'a'; 1 << 20];
        assert_eq!(eicar_engine().is_malicious("a.pdf", &clean), Ok(false));
    }

    #[test]
    fn infected_content_is_malicious() {
        let mut infected = b"%PDF-1.4 ".to_vec();
        infected.extend_from_slice(EICAR);
        assert_eq!(eicar_engine().is_malicious("a.pdf", &infected), Ok(true));
    }

    #[test]
    fn another_exit_code_is_a_failed_scan() {
        let s = sh(
            "cat >/dev/null; echo 'engine down' ; exit 2",
            DEFAULT_SCAN_TIMEOUT,
        );
        let e = s.is_malicious("a.pdf", b"x").expect_err("failed");
        assert!(e.0.contains("engine down"), "{e}");
    }

    #[test]
    fn a_missing_program_is_a_failed_scan() {
        let argv = ["/nonexistent/clamdscan".to_owned()];
        let s = CommandScanner::new(&argv, DEFAULT_SCAN_TIMEOUT).expect("a command");
        assert!(s.is_malicious("a.pdf", b"x").is_err());
    }

    #[test]
    fn a_scanner_that_hangs_is_killed_and_the_scan_failed() {
        let s = sh("exec sleep 30", Duration::from_millis(300));
        let started = Instant::now();
        let e = s.is_malicious("a.pdf", b"x").expect_err("timed out");
        assert!(e.0.contains("in time"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn clean_without_reading_the_content_is_a_failed_scan() {
        // Exits 0 at once: a large attachment cannot all have been read.
        let s = sh("exit 0", DEFAULT_SCAN_TIMEOUT);
        assert!(s.is_malicious("a.pdf", &vec![0u8; 8 << 20]).is_err());
    }

    #[test]
    fn the_allow_list_ignores_case_and_parameters_and_always_takes_pdf() {
        let allowed = vec!["Text/Plain".to_owned()];
        assert!(type_allowed(&allowed, "text/plain; charset=utf-8"));
        assert!(type_allowed(&allowed, "APPLICATION/PDF"));
        assert!(type_allowed(&[], "application/pdf"));
        assert!(!type_allowed(&allowed, "application/x-msdownload"));
    }

    #[test]
    fn the_default_list_has_no_executables() {
        let d: Vec<String> = DEFAULT_ATTACHMENT_TYPES
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        for bad in [
            "application/x-msdownload",
            "application/octet-stream",
            "application/x-sh",
            "application/zip",
            "text/html",
        ] {
            assert!(!type_allowed(&d, bad), "{bad}");
        }
        assert!(type_allowed(&d, "image/png"));
    }
}
