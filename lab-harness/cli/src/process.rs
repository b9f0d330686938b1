//! Running a child process (cargo, a test binary, a sandbox) that may misbehave: with a time
//! limit, bounded output, and a way to stop everything it started.
//!
//! Used by `cargo lab check` and `cargo lab grade`, which run code written by students. Such
//! code may hang, print a gigabyte without a newline, start processes that outlive it, or hold
//! the output pipes open; the tool that runs it must come back all the same, with bounded
//! memory. So:
//! - the child gets its own process group, and the whole group is killed at the limit (test
//!   binaries started by `cargo test` die with it; a sandbox dies with its PID namespace,
//!   whose init is killed by name too: see [`kill`]);
//! - stdout and stderr are read in fixed-size chunks and only their first bytes are kept
//!   ([`Watch::keep`]); a child that prints more than [`Watch::flood`] bytes in all is
//!   stopped, since no graded test has a reason to;
//! - a caller's check ([`Watch::check`]) runs every few milliseconds and may stop the child;
//! - [`interrupt`] (called from a Ctrl-C or SIGTERM handler) stops every watched child at
//!   once, so the grader can write what it has and leave nothing running.

use std::io::{self, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

mod kill;
use kill::{Known, kill_group, kill_tree};

/// How often the child, the limit, the output counter and the caller's check are looked at.
const TICK: Duration = Duration::from_millis(10);
/// How long to wait for the pipes to close once the child has ended.
const DRAIN: Duration = Duration::from_secs(2);

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Stops every watched child (now and from now on): for a Ctrl-C or SIGTERM handler. Only
/// sets a flag, so it is safe to call from a signal-handling thread.
pub fn interrupt() {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// True once [`interrupt`] has been called.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Why a watched child ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// It ended by itself.
    Exited(ExitStatus),
    /// Still running at the time limit: killed.
    TimedOut,
    /// It printed more than the flood limit: killed.
    Flooded(u64),
    /// The caller's check said to stop it, for this reason: killed.
    Stopped(String),
    /// [`interrupt`] was called: killed.
    Interrupted,
}

/// What a finished (or killed) child left behind.
#[derive(Debug)]
pub struct Watched {
    pub ending: Ending,
    /// The first bytes of stdout (see [`Watch::keep`]), lossily decoded.
    pub stdout: String,
    /// The first bytes of stderr, the same way.
    pub stderr: String,
    /// Every byte printed, kept or not.
    pub printed: u64,
    pub elapsed: Duration,
}

impl Watched {
    /// The exit status, when the child ended by itself.
    pub fn status(&self) -> Option<ExitStatus> {
        match self.ending {
            Ending::Exited(status) => Some(status),
            _ => None,
        }
    }

    /// True when the child ended by itself with exit code 0.
    pub fn success(&self) -> bool {
        self.status().is_some_and(|s| s.success())
    }

    /// True when the child was killed (time limit, flood, check, interruption).
    pub fn killed(&self) -> bool {
        self.status().is_none()
    }
}

/// How to watch one child.
pub struct Watch<'a> {
    limit: Duration,
    keep: usize,
    flood: Option<u64>,
    stdin: Option<Stdio>,
    check: Option<&'a mut dyn FnMut() -> Option<String>>,
    launcher: bool,
}

impl<'a> Watch<'a> {
    /// Kill the child after `limit`. Keeps 8 MiB of each stream; no flood limit.
    pub fn new(limit: Duration) -> Watch<'a> {
        Watch {
            limit,
            keep: 8 << 20,
            flood: None,
            stdin: None,
            check: None,
            launcher: false,
        }
    }

    /// Keep only the first `bytes` of stdout and of stderr (the rest is read and dropped).
    pub fn keep(mut self, bytes: usize) -> Self {
        self.keep = bytes;
        self
    }

    /// Kill the child once stdout and stderr together passed `bytes`.
    pub fn flood(mut self, bytes: u64) -> Self {
        self.flood = Some(bytes);
        self
    }

    /// The child's stdin (`/dev/null` when not given).
    pub fn stdin(mut self, stdin: impl Into<Stdio>) -> Self {
        self.stdin = Some(stdin.into());
        self
    }

    /// Called every few milliseconds while the child runs: `Some(reason)` kills it.
    pub fn check(mut self, check: &'a mut dyn FnMut() -> Option<String>) -> Self {
        self.check = Some(check);
        self
    }

    /// The child is a sandbox's launcher (bubblewrap): its one child is the init of the
    /// sandbox's PID namespace. However the launcher ends, that init is then ended too and
    /// waited for, so nothing of the sandbox runs on once [`Watch::run`] returns, not even a
    /// process that let go of the output pipes (Linux only, where sandboxes are).
    pub fn launcher(mut self) -> Self {
        self.launcher = true;
        self
    }

    /// Runs `command` to its end or until one of the limits stops it.
    pub fn run(mut self, mut command: Command) -> io::Result<Watched> {
        command
            .stdin(self.stdin.take().unwrap_or_else(Stdio::null))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        let started = Instant::now();
        if interrupted() {
            return Ok(Watched {
                ending: Ending::Interrupted,
                stdout: String::new(),
                stderr: String::new(),
                printed: 0,
                elapsed: Duration::ZERO,
            });
        }
        let mut child = command.spawn()?;
        let printed = Arc::new(AtomicU64::new(0));
        let stdout = read_capped(child.stdout.take(), self.keep, printed.clone());
        let stderr = read_capped(child.stderr.take(), self.keep, printed.clone());

        let mut init = None;
        let ending = loop {
            if self.launcher && init.is_none() {
                init = Known::first_child_of(child.id());
            }
            if let Some(status) = child.try_wait()? {
                break Ending::Exited(status);
            }
            let stop = if interrupted() {
                Some(Ending::Interrupted)
            } else if started.elapsed() >= self.limit {
                Some(Ending::TimedOut)
            } else if let Some(flood) = self
                .flood
                .filter(|flood| printed.load(Ordering::Relaxed) > *flood)
            {
                Some(Ending::Flooded(flood))
            } else {
                self.check
                    .as_mut()
                    .and_then(|check| check())
                    .map(Ending::Stopped)
            };
            if let Some(ending) = stop {
                kill_tree(&mut child);
                break ending;
            }
            thread::sleep(TICK);
        };

        if let Some(init) = init {
            init.end();
        }

        // The pipes close when every process holding them has ended. A grandchild the child
        // left running keeps them open: its process group still exists, so killing the group
        // is safe.
        let deadline = Instant::now() + DRAIN;
        let mut out = wait_text(&stdout, deadline);
        let mut err = wait_text(&stderr, deadline);
        if out.is_none() || err.is_none() {
            kill_group(child.id());
            let deadline = Instant::now() + DRAIN;
            out = out.or_else(|| wait_text(&stdout, deadline));
            err = err.or_else(|| wait_text(&stderr, deadline));
        }
        Ok(Watched {
            ending,
            stdout: out.unwrap_or_default(),
            stderr: err.unwrap_or_default(),
            printed: printed.load(Ordering::Relaxed),
            elapsed: started.elapsed(),
        })
    }
}

/// Runs `command` with no stdin; kills it and everything it started after `limit`.
pub fn run_watched(command: Command, limit: Duration) -> io::Result<Watched> {
    Watch::new(limit).run(command)
}

fn wait_text(text: &Receiver<String>, deadline: Instant) -> Option<String> {
    text.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .ok()
}

/// Reads a pipe to its end in fixed chunks, keeping the first `keep` bytes and counting all
/// of them in `printed`; sends the kept text when the pipe closes.
fn read_capped(
    pipe: Option<impl Read + Send + 'static>,
    keep: usize,
    printed: Arc<AtomicU64>,
) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut kept = Vec::new();
        if let Some(mut pipe) = pipe {
            let mut chunk = [0u8; 16 << 10];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => {
                        printed.fetch_add(n as u64, Ordering::Relaxed);
                        let room = keep.saturating_sub(kept.len());
                        kept.extend_from_slice(&chunk[..n.min(room)]);
                    }
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
        let _ = sender.send(String::from_utf8_lossy(&kept).into_owned());
    });
    receiver
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[test]
    fn output_and_status_are_kept() {
        let run = run_watched(
            sh("echo one; echo two; echo oops >&2"),
            Duration::from_secs(20),
        )
        .unwrap();
        assert!(run.success());
        assert_eq!(run.stdout, "one\ntwo\n");
        assert_eq!(run.stderr, "oops\n");
        assert_eq!(run.printed, 13);
    }

    #[test]
    fn a_hung_group_is_killed_at_the_limit() {
        // The grandchild `sleep` would keep the pipe open for 60 s if only `sh` were killed.
        let started = Instant::now();
        let run = run_watched(
            sh("echo started; sleep 60 & wait"),
            Duration::from_millis(500),
        )
        .unwrap();
        assert_eq!(run.ending, Ending::TimedOut);
        assert_eq!(run.stdout, "started\n");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_grandchild_left_behind_does_not_hold_the_run() {
        let started = Instant::now();
        let run = run_watched(sh("sleep 60 & echo done"), Duration::from_secs(30)).unwrap();
        assert!(run.success());
        assert_eq!(run.stdout, "done\n");
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn only_the_first_bytes_are_kept_of_a_line_without_end() {
        // 64 MiB without a newline: read and counted, but only 1 KiB kept.
        let run = Watch::new(Duration::from_secs(30))
            .keep(1024)
            .run(sh("head -c 67108864 /dev/zero | tr '\\0' x"))
            .unwrap();
        assert!(run.success());
        assert_eq!(run.stdout.len(), 1024);
        assert_eq!(run.printed, 64 << 20);
    }

    #[test]
    fn a_flood_is_stopped() {
        let started = Instant::now();
        let run = Watch::new(Duration::from_secs(60))
            .keep(1024)
            .flood(1 << 20)
            .run(sh("yes test something ... ok"))
            .unwrap();
        assert_eq!(run.ending, Ending::Flooded(1 << 20));
        assert!(started.elapsed() < Duration::from_secs(20));
    }

    #[test]
    fn a_check_can_stop_the_child() {
        let mut calls = 0;
        let mut check = || {
            calls += 1;
            (calls == 3).then(|| "enough".to_string())
        };
        let run = Watch::new(Duration::from_secs(60))
            .check(&mut check)
            .run(sh("sleep 60"))
            .unwrap();
        assert_eq!(run.ending, Ending::Stopped("enough".into()));
    }
}
