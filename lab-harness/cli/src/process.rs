//! Running a child process (cargo, a test binary) with a time limit, timing each line it
//! prints.
//!
//! Used by `cargo lab check` and `cargo lab grade`: whatever a student's code does, the tool
//! that runs it must come back. The child gets its own process group and the whole group is
//! killed at the limit, so test binaries started by `cargo test` die with it. Each stdout line
//! is kept with the moment it arrived (libtest prints `test NAME ... ok` as each test ends,
//! which gives every test's duration), output is capped (student code may print without end),
//! and nothing waits for ever on a pipe that a stray grandchild keeps open.

use std::io::{self, BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// Stdout beyond this is kept only for the lines the grader reads (`test …`, `running …`).
const STDOUT_CAP: usize = 8 << 20;
/// Stderr beyond this is dropped.
const STDERR_CAP: usize = 1 << 20;
/// How long to wait for the pipes to close once the child has ended.
const DRAIN: Duration = Duration::from_secs(2);

/// One line of stdout and when it arrived, counted from the start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub at: Duration,
    pub text: String,
}

/// What a finished (or killed) child left behind.
#[derive(Debug)]
pub struct Watched {
    /// `None` when the child was killed at the limit.
    pub status: Option<ExitStatus>,
    pub lines: Vec<Line>,
    pub stderr: String,
}

impl Watched {
    pub fn killed(&self) -> bool {
        self.status.is_none()
    }

    pub fn stdout(&self) -> String {
        let mut text = String::new();
        for line in &self.lines {
            text.push_str(&line.text);
            text.push('\n');
        }
        text
    }
}

/// Runs `command` with no stdin; kills it and everything it started after `limit`.
pub fn run_watched(mut command: Command, limit: Duration) -> io::Result<Watched> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    let started = Instant::now();
    let mut child = command.spawn()?;
    let lines = read_lines(child.stdout.take(), started);
    let stderr = read_text(child.stderr.take());

    let mut kept = Vec::new();
    let mut kept_bytes = 0;
    let mut keep = |line: Line, kept: &mut Vec<Line>| {
        kept_bytes += line.text.len() + 1;
        let wanted = line.text.starts_with("test ") || line.text.starts_with("running ");
        if kept_bytes <= STDOUT_CAP || wanted {
            kept.push(line);
        }
    };
    let status = loop {
        match lines.recv_timeout(Duration::from_millis(20)) {
            Ok(line) => keep(line, &mut kept),
            Err(RecvTimeoutError::Timeout) => {}
            // Stdout is closed; keep polling the child below (with a pause).
            Err(RecvTimeoutError::Disconnected) => thread::sleep(Duration::from_millis(20)),
        }
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if started.elapsed() >= limit {
            kill_tree(&mut child);
            break None;
        }
    };

    // The pipes close when every process holding them has ended. A grandchild the child left
    // running keeps them open: its process group still exists, so killing the group is safe.
    if !drain(&lines, DRAIN, &mut |line| keep(line, &mut kept)) && status.is_some() {
        kill_group(child.id());
        drain(&lines, DRAIN, &mut |line| keep(line, &mut kept));
    }
    let stderr = stderr.recv_timeout(DRAIN).unwrap_or_default();
    Ok(Watched {
        status,
        lines: kept,
        stderr,
    })
}

/// Takes lines until the pipe closes or `wait` passes; true if it closed.
fn drain(lines: &Receiver<Line>, wait: Duration, keep: &mut dyn FnMut(Line)) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => keep(line),
            Err(RecvTimeoutError::Disconnected) => return true,
            Err(RecvTimeoutError::Timeout) => return false,
        }
    }
}

fn read_lines(pipe: Option<impl Read + Send + 'static>, started: Instant) -> Receiver<Line> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let Some(pipe) = pipe else { return };
        let mut reader = BufReader::new(pipe);
        let mut bytes = Vec::new();
        loop {
            bytes.clear();
            match reader.read_until(b'\n', &mut bytes) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&bytes);
                    let text = text.trim_end_matches(['\n', '\r']).to_string();
                    let line = Line {
                        at: started.elapsed(),
                        text,
                    };
                    if sender.send(line).is_err() {
                        return;
                    }
                }
            }
        }
    });
    receiver
}

fn read_text(pipe: Option<impl Read + Send + 'static>) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut kept = Vec::new();
        if let Some(mut pipe) = pipe {
            let mut chunk = [0u8; 8192];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let room = STDERR_CAP.saturating_sub(kept.len());
                        kept.extend_from_slice(&chunk[..n.min(room)]);
                    }
                }
            }
        }
        let _ = sender.send(String::from_utf8_lossy(&kept).into_owned());
    });
    receiver
}

/// Kills the child and everything in its process group (the test binary cargo started, and
/// any server a test started).
fn kill_tree(child: &mut Child) {
    kill_group(child.id());
    let _ = child.kill();
    let _ = child.wait();
}

fn kill_group(pid: u32) {
    // std can signal one process, not a group or a tree; these commands can.
    #[cfg(unix)]
    let mut command = {
        // `--` is needed: procps' kill takes `-KILL -123` for two options and kills nothing.
        let mut command = Command::new("kill");
        command.args(["-s", "KILL", "--", &format!("-{pid}")]);
        command
    };
    #[cfg(windows)]
    let mut command = {
        let mut command = Command::new("taskkill");
        command.args(["/F", "/T", "/PID", &pid.to_string()]);
        command
    };
    #[cfg(any(unix, windows))]
    let _ = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    #[cfg(not(any(unix, windows)))]
    let _ = pid;
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
    fn lines_arrive_with_their_times() {
        let run = run_watched(
            sh("echo one; sleep 0.3; echo two; echo oops >&2"),
            Duration::from_secs(20),
        )
        .unwrap();
        assert!(run.status.unwrap().success());
        let texts: Vec<&str> = run.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["one", "two"]);
        assert!(
            run.lines[1].at >= run.lines[0].at + Duration::from_millis(250),
            "{run:?}"
        );
        assert_eq!(run.stderr, "oops\n");
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
        assert!(run.killed());
        assert_eq!(run.lines[0].text, "started");
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
        assert!(run.status.unwrap().success());
        assert_eq!(run.stdout(), "done\n");
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{:?}",
            started.elapsed()
        );
    }
}
