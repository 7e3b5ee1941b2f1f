//! The quickstart's child processes: the two gateways (`sdkgw serve` in a child of this very
//! binary) and the operator commands it runs (`sdkgw client add`, `sdkgw queue list`, …).
//!
//! Children never outlive the demo: every exit path of the parent stops them (SIGTERM, a grace
//! period, then SIGKILL, and always `wait`), [`Children`]'s `Drop` kills what is left, and each
//! gateway child asks the kernel for SIGTERM when its parent dies (`PR_SET_PDEATHSIG`), so even
//! a `kill -9` of the quickstart takes its gateways down. The gateways run in their own process
//! group: a Ctrl-C reaches the quickstart only, which then stops them in order.

use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use clap::Parser as _;

/// The line `sdkgw serve` prints on stderr once every listener is bound.
const SERVING: &str = "sdkgw: serving AS4";

/// One gateway child.
#[derive(Debug)]
pub(super) struct Gateway {
    pub(super) name: String,
    pub(super) log: PathBuf,
    child: std::process::Child,
}

impl Gateway {
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// The running gateways. Dropping it kills and reaps whatever still runs.
#[derive(Debug, Default)]
pub(super) struct Children {
    gateways: Vec<Gateway>,
}

impl Children {
    /// Starts `sdkgw serve --config CONFIG` as a child with stdout and stderr in `log`.
    /// Call it from the main thread: the parent-death signal fires when the *thread* that
    /// spawned the child ends.
    pub(super) fn spawn_gateway(
        &mut self,
        name: &str,
        config: &Path,
        log: &Path,
    ) -> Result<usize, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find sdkgw itself: {e}"))?;
        let out = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let child = clean_env(&mut Command::new(&exe))
            .arg("quickstart")
            .arg("--serve-child")
            .arg(config)
            .arg("--parent-pid")
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        self.gateways.push(Gateway {
            name: name.to_owned(),
            log: log.to_path_buf(),
            child,
        });
        Ok(self.gateways.len() - 1)
    }

    pub(super) fn get(&self, i: usize) -> Option<&Gateway> {
        self.gateways.get(i)
    }

    /// The first gateway that has exited, with its status.
    pub(super) fn exited(&mut self) -> Option<(String, ExitStatus)> {
        self.gateways
            .iter_mut()
            .find_map(|g| match g.child.try_wait() {
                Ok(Some(status)) => Some((g.name.clone(), status)),
                _ => None,
            })
    }

    /// Waits until gateway `i` has printed that it serves, or fails with what its log says.
    pub(super) async fn wait_serving(&mut self, i: usize, limit: Duration) -> Result<(), String> {
        let started = Instant::now();
        loop {
            let g = self
                .gateways
                .get_mut(i)
                .ok_or("no such gateway".to_owned())?;
            let log = std::fs::read_to_string(&g.log).unwrap_or_default();
            if log.lines().any(|l| l.starts_with(SERVING)) {
                return Ok(());
            }
            if let Ok(Some(status)) = g.child.try_wait() {
                return Err(format!("gateway {} exited during start ({status})", g.name));
            }
            if started.elapsed() > limit {
                return Err(format!(
                    "gateway {} did not start within {} s",
                    g.name,
                    limit.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The gateways' logs (name, path), in start order.
    pub(super) fn logs(&self) -> Vec<(String, PathBuf)> {
        self.gateways
            .iter()
            .map(|g| (g.name.clone(), g.log.clone()))
            .collect()
    }

    /// Stops every gateway: SIGTERM, up to `grace` to finish, then SIGKILL; always reaped.
    /// Returns one line per gateway saying how it ended.
    pub(super) fn stop(&mut self, grace: Duration) -> Vec<String> {
        for g in &self.gateways {
            if let Some(pid) = rustix::process::Pid::from_raw(g.child.id() as i32) {
                // Already gone is fine: try_wait below reaps it.
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
        }
        let deadline = Instant::now() + grace;
        let mut report = Vec::new();
        for mut g in self.gateways.drain(..) {
            let status = loop {
                match g.child.try_wait() {
                    Ok(Some(s)) => break Some(s),
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    _ => break None,
                }
            };
            let line = match status {
                Some(s) => format!("gateway {} (pid {}) stopped: {s}", g.name, g.child.id()),
                None => {
                    let _ = g.child.kill();
                    let s = g.child.wait();
                    format!(
                        "gateway {} (pid {}) did not stop within {} s and was killed ({})",
                        g.name,
                        g.child.id(),
                        grace.as_secs(),
                        s.map_or_else(|e| e.to_string(), |s| s.to_string())
                    )
                }
            };
            report.push(line);
        }
        report
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for g in &mut self.gateways {
            let _ = g.child.kill();
            let _ = g.child.wait();
        }
    }
}

/// Without the caller's `SDKGW_…` variables (they would override keys of the demo's
/// configurations, e.g. `SDKGW_DATA_DIR`); `SDKGW_LOG` (the log filter) is kept.
fn clean_env(cmd: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        let n = name.to_string_lossy();
        if n.starts_with("SDKGW_") && n != "SDKGW_LOG" {
            cmd.env_remove(&name);
        }
    }
    cmd
}

/// The lines of a gateway log worth showing after a failure: errors and warnings (JSON lines
/// with level ERROR/WARN) and plain lines (`sdkgw: cannot start: …`), the last `max` of them;
/// when there are none, the log's last `max` lines.
pub(super) fn relevant_log_lines(log: &Path, max: usize) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let notable: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| {
            !l.starts_with('{')
                || l.contains("\"level\":\"ERROR\"")
                || l.contains("\"level\":\"WARN\"")
        })
        .filter(|l| !l.starts_with(SERVING))
        .collect();
    let chosen = if notable.is_empty() { &lines } else { &notable };
    chosen
        .iter()
        .skip(chosen.len().saturating_sub(max))
        .map(|l| (*l).to_owned())
        .collect()
}

/// Runs `sdkgw ARGS` (this binary) to completion; its stdout, or an error with its stderr.
pub(super) fn run_sdkgw<I, S>(args: I) -> Result<String, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let exe = std::env::current_exe().map_err(|e| format!("cannot find sdkgw itself: {e}"))?;
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let shown = args
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let out = clean_env(&mut Command::new(exe))
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("sdkgw {shown}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "`sdkgw {shown}` failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            stdout.trim()
        ))
    }
}

/// `sdkgw quickstart --serve-child CFG --parent-pid N`: what a gateway child runs. It asks for
/// SIGTERM when the quickstart dies, makes sure the quickstart is still there, and then is
/// exactly `sdkgw serve --config CFG`.
pub(super) fn serve_child(config: &Path, parent: Option<u32>) -> ExitCode {
    #[cfg(target_os = "linux")]
    if let Err(e) =
        rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))
    {
        eprintln!("sdkgw: cannot ask for a parent-death signal: {e}");
        return ExitCode::FAILURE;
    }
    let ppid = rustix::process::getppid().map(|p| p.as_raw_nonzero().get());
    if parent.is_some_and(|want| ppid != i32::try_from(want).ok()) {
        eprintln!("sdkgw: the quickstart that started this gateway is gone; not starting");
        return ExitCode::FAILURE;
    }
    #[derive(Debug, clap::Parser)]
    struct Serve {
        #[command(flatten)]
        args: super::serve::Args,
    }
    let argv = [
        OsStr::new("sdkgw serve"),
        OsStr::new("--config"),
        config.as_os_str(),
    ];
    match Serve::try_parse_from(argv) {
        Ok(s) => super::serve::run(s.args),
        Err(e) => {
            eprintln!("sdkgw: {e}");
            ExitCode::from(super::EXIT_INPUT)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn relevant_log_lines_prefer_errors_warnings_and_plain_lines() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("g.log");
        std::fs::write(
            &log,
            "{\"level\":\"INFO\",\"msg\":\"a\"}\n{\"level\":\"WARN\",\"msg\":\"b\"}\n\
             sdkgw: cannot start: address in use\n{\"level\":\"INFO\",\"msg\":\"c\"}\n",
        )
        .unwrap();
        let lines = relevant_log_lines(&log, 5);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("WARN") && lines[1].contains("address in use"));
        std::fs::write(&log, "{\"level\":\"INFO\",\"msg\":\"a\"}\n").unwrap();
        assert_eq!(
            relevant_log_lines(&log, 5).len(),
            1,
            "falls back to the tail"
        );
    }
}
