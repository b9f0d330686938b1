//! `lab serve` as a child process, for the scale and hardening tests: its address, its log
//! (stderr, read as it comes so the pipe never fills), its memory, and a clean stop.
//!
//! Memory is read from `/proc/PID/status` (VmRSS), which only Linux has: elsewhere
//! [`Serve::rss_kib`] is `None` and the tests skip their memory checks, saying so.

#![allow(dead_code)] // each test file uses a different part

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;

pub const DEADLINE: Duration = Duration::from_secs(10);

/// A `lab serve --port 0 …` child process, killed when dropped.
pub struct Serve {
    pub child: Child,
    pub addr: SocketAddr,
    /// The first line on stdout, without its line ending: `listening on ADDR (… mode)`.
    pub first_line: String,
    log: Arc<(Mutex<String>, Condvar)>,
}

impl Serve {
    pub fn start(extra: &[&str]) -> Serve {
        Serve::start_under(&[], extra)
    }

    /// Starts `lab serve` through a `wrapper` command, e.g. `["prlimit", "--nofile=1024"]`.
    pub fn start_under(wrapper: &[&str], extra: &[&str]) -> Serve {
        let lab = cargo_bin("lab");
        let mut command = match wrapper {
            [] => Command::new(&lab),
            [program, args @ ..] => {
                let mut command = Command::new(program);
                command.args(args).arg(&lab);
                command
            }
        };
        let mut child = command
            .args(["serve", "--port", "0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting `lab serve`");
        let stdout = child.stdout.take().unwrap();
        let (line_tx, line_rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = line_tx.send(line);
        });
        let log = Arc::new((Mutex::new(String::new()), Condvar::new()));
        let stderr = child.stderr.take().unwrap();
        let writer = Arc::clone(&log);
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let (text, changed) = &*writer;
                let mut text = text.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
                changed.notify_all();
            }
        });
        let first = line_rx
            .recv_timeout(DEADLINE)
            .expect("`lab serve` printed no listening line within the deadline");
        let addr = first
            .strip_prefix("listening on ")
            .and_then(|rest| rest.split(' ').next())
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {first:?}"));
        Serve {
            child,
            addr,
            first_line: first.trim_end().to_string(),
            log,
        }
    }

    /// A connected client with read and write timeouts.
    pub fn connect(&self) -> TcpStream {
        connect(self.addr)
    }

    /// Everything the server has logged on stderr so far.
    pub fn log(&self) -> String {
        self.log.0.lock().unwrap().clone()
    }

    /// Waits until the log contains `needle`; returns whether it does.
    pub fn wait_for_log(&self, needle: &str, limit: Duration) -> bool {
        let (text, changed) = &*self.log;
        let text = text.lock().unwrap();
        let (text, _) = changed
            .wait_timeout_while(text, limit, |text| !text.contains(needle))
            .unwrap();
        text.contains(needle)
    }

    /// The server's resident memory in KiB, where the OS shows it (Linux).
    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.child.id())
    }

    /// Sends SIGTERM with the `kill` command (std cannot send a signal).
    #[cfg(unix)]
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Waits for the child to exit, up to `limit`; past it, kills it and returns `None`.
    /// (A blocking wait guarded by a watchdog thread: no polling.)
    #[cfg(unix)]
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let pid = self.child.id().to_string();
        let (exited, exit_seen) = mpsc::channel::<()>();
        let watchdog = thread::spawn(move || {
            let expired = exit_seen.recv_timeout(limit).is_err();
            if expired {
                let _ = Command::new("kill").args(["-s", "KILL", &pid]).status();
            }
            expired
        });
        let status = self.child.wait().expect("waiting for `lab serve`");
        let _ = exited.send(());
        let expired = watchdog.join().expect("the exit watchdog");
        (!expired).then_some(status)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, DEADLINE).expect("connecting");
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.set_write_timeout(Some(DEADLINE)).unwrap();
    stream
}

/// Sends one line and returns the reply line (up to and including `\n`).
pub fn echo(stream: &mut TcpStream, line: &str) -> String {
    stream.write_all(line.as_bytes()).expect("sending a line");
    read_line(stream)
}

/// Reads up to and including the next `\n` (byte by byte: nothing is read past it).
pub fn read_line(stream: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while !line.ends_with(b"\n") {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => line.push(byte[0]),
            Err(error) => panic!(
                "reading a reply failed after {:?}: {error}",
                String::from_utf8_lossy(&line)
            ),
        }
    }
    String::from_utf8_lossy(&line).into_owned()
}

/// Everything until end-of-file, a reset, or `limit`; and how it ended.
pub fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, String) {
    let started = Instant::now();
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if started.elapsed() > limit {
            return (data, format!("still open after {limit:?}"));
        }
        match stream.read(&mut chunk) {
            Ok(0) => return (data, "end-of-file".into()),
            Ok(count) => data.extend_from_slice(&chunk[..count]),
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(error) => return (data, format!("{:?}", error.kind())),
        }
    }
}

/// Resident memory of process `pid` in KiB, from /proc (Linux only).
pub fn rss_kib(pid: u32) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
    }
}

/// How many files this process may open (Linux: /proc/self/limits), if known.
pub fn open_file_limit() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
        let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
        line.split_whitespace().nth(3)?.parse().ok()
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// Real peers must interoperate. On CI the ones `.ci/run` installs are required
/// (`required_on_ci`); on a student's machine, or for an optional peer, a missing tool skips
/// its check with a note.
pub fn peer_available(program: &str, required_on_ci: bool) -> bool {
    let found = Command::new(program)
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            !required_on_ci || std::env::var_os("CI").is_none(),
            "{program} must be installed on CI (.ci/run installs it)"
        );
        eprintln!("note: {program} not found; its interoperability check is skipped");
    }
    found
}

/// Runs a peer with `input` on its stdin, within [`DEADLINE`]; its stdout, after checking
/// that it succeeded.
pub fn run_peer(command: &mut Command, input: &[u8]) -> Vec<u8> {
    let output = assert_cmd::Command::from_std(std::mem::replace(command, Command::new("true")))
        .write_stdin(input.to_vec())
        .timeout(DEADLINE)
        .output()
        .expect("running the peer");
    assert!(
        output.status.success(),
        "peer failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}
