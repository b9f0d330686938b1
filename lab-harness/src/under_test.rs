//! Running a student's server so that a test can talk to it, and explain what it did.
//!
//! - [`ServerThread`] runs a server *function* (`serve(listener)`, or one `echo_client` call)
//!   on a thread of the test process. A server never returns, so the thread is abandoned at
//!   the end of the test and ends with the test binary. What matters is the other case: when
//!   the function *does* end — it returned, or panicked (a `todo!()`, an `unwrap` on a reset)
//!   — the test's failure message says so, with the panic's own message.
//! - [`ServerProcess`] runs a server *program* as a real process, waits for the line that
//!   says where it listens, collects what it prints, and kills it when dropped.

use std::fmt::{Debug, Display};
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a failing test waits for a server that is going down (its socket closed, its
/// unwinding not yet finished) before describing it: only spent on the way to a failure.
const GRACE: Duration = Duration::from_secs(1);

/// A server function running on its own thread of the test process.
pub struct ServerThread<T> {
    name: String,
    outcome: mpsc::Receiver<thread::Result<T>>,
    /// Once the thread has ended: what it returned, or its panic message.
    ended: Option<Result<T, String>>,
}

impl<T: Debug + Send + 'static> ServerThread<T> {
    /// Runs `server` on a new thread called `name` (the name shows in its panic message).
    pub fn spawn(name: &str, server: impl FnOnce() -> T + Send + 'static) -> ServerThread<T> {
        let (done, outcome) = mpsc::channel();
        thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                // The panic is still printed (and captured with the test's output) by the
                // panic hook; catching it only lets the test report it as well.
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(server));
                let _ = done.send(result);
            })
            .expect("starting the server's thread");
        ServerThread {
            name: name.to_string(),
            outcome,
            ended: None,
        }
    }

    /// Waits up to `limit` for the server to end; `None` if it is still running.
    pub fn ended_within(&mut self, limit: Duration) -> Option<&Result<T, String>> {
        if self.ended.is_none() {
            self.ended = Some(match self.outcome.recv_timeout(limit) {
                Ok(outcome) => outcome.map_err(|payload| panic_message(&*payload)),
                Err(RecvTimeoutError::Timeout) => return None,
                // The sender is dropped only after sending; no outcome means no thread.
                Err(RecvTimeoutError::Disconnected) => Err("the thread vanished".to_string()),
            });
        }
        self.ended.as_ref()
    }

    /// What the server thread did, for a failure message: panicked (with the message),
    /// returned (with the value), or is still running. Waits briefly for a server that is
    /// going down, so its panic is reported rather than missed.
    pub fn describe(&mut self) -> String {
        let name = self.name.clone();
        match self.ended_within(GRACE) {
            Some(Err(message)) => format!("the server thread `{name}` panicked: {message}"),
            Some(Ok(value)) => format!("the server thread `{name}` returned {value:?}"),
            None => format!("the server thread `{name}` is still running"),
        }
    }

    /// Fails the test with `message` and what the server thread did. A panic of the server
    /// is the cause of whatever the client saw, so it comes first.
    #[track_caller]
    pub fn fail(&mut self, message: impl Display) -> ! {
        let server = self.describe();
        if matches!(self.ended, Some(Err(_))) {
            panic!("{server}\nWhat the client saw: {message}")
        }
        panic!("{message}\n{server}")
    }

    /// Fails the test if the server has ended: for servers that must run until the test
    /// ends. Does not wait.
    #[track_caller]
    pub fn assert_running(&mut self, what_it_should_do: &str) {
        if self.ended_within(Duration::ZERO).is_some() {
            let server = self.describe();
            panic!("{server}, but {what_it_should_do}");
        }
    }
}

/// The text of a panic payload (`panic!` and `todo!` give a `&str` or a `String`).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text.to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(a panic without a message)".to_string()
    }
}

/// What a server program printed, shared with the threads that read its pipes.
#[derive(Default)]
struct Output {
    stdout: String,
    stderr: String,
    /// Both pipes reached end-of-file: the program has exited (or closed them).
    closed: usize,
}

type SharedOutput = Arc<(Mutex<Output>, Condvar)>;

/// A server program running as a child process. Dropping it kills the process.
pub struct ServerProcess {
    child: Child,
    addr: SocketAddr,
    output: SharedOutput,
}

impl ServerProcess {
    /// Starts `command` and waits up to `limit` for a line on its stdout that starts with
    /// `ready` followed by the address it listens on (e.g. `listening on 127.0.0.1:40123`).
    ///
    /// The error is a message for the test's failure: the program exited first (with what it
    /// printed on stderr: a panic shows there), printed something else, or said nothing in
    /// time.
    pub fn start(command: Command, ready: &str, limit: Duration) -> Result<Self, String> {
        Self::launch(command, Stdio::null(), ready, limit)
    }

    /// Like [`ServerProcess::start`], with a pipe to the program's standard input: a test can
    /// type commands (`stop`) or close it.
    pub fn start_with_stdin(
        command: Command,
        ready: &str,
        limit: Duration,
    ) -> Result<(Self, ChildStdin), String> {
        let mut server = Self::launch(command, Stdio::piped(), ready, limit)?;
        let stdin = server
            .child
            .stdin
            .take()
            .ok_or("the program has no stdin pipe")?;
        Ok((server, stdin))
    }

    /// Waits up to `limit` for the program to exit; its exit status, or `None` if it runs on.
    pub fn exited_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => {
                    // Polling: std has no wait-with-timeout for a child.
                    thread::sleep(Duration::from_millis(5));
                }
                Ok(None) | Err(_) => return None,
            }
        }
    }

    fn launch(
        mut command: Command,
        stdin: Stdio,
        ready: &str,
        limit: Duration,
    ) -> Result<Self, String> {
        let program = Path::new(command.get_program()).display().to_string();
        let mut child = command
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| format!("cannot start {program}: {error}"))?;
        let output: SharedOutput = Arc::default();
        collect(child.stdout.take(), &output, |o| &mut o.stdout);
        collect(child.stderr.take(), &output, |o| &mut o.stderr);
        let mut server = ServerProcess {
            child,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            output,
        };

        let line = server.wait_for(limit, |o| o.stdout.contains('\n') || o.closed == 2);
        let first = server.stdout().lines().next().unwrap_or("").to_string();
        let addr = first
            .strip_prefix(ready)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|addr| addr.parse().ok());
        match addr {
            Some(addr) => {
                server.addr = addr;
                Ok(server)
            }
            None if !line => Err(format!(
                "{program} printed no line within {limit:?}; it should print `{ready}ADDRESS` \
                 as soon as it listens{}",
                server.describe()
            )),
            None if first.is_empty() => {
                // Give the exit status a moment to be known, for the message.
                let status = server.exit_status(GRACE);
                Err(format!(
                    "{program} ended ({status}) before printing `{ready}ADDRESS`{}",
                    server.describe()
                ))
            }
            None => Err(format!(
                "the first line {program} printed is {first:?}; expected `{ready}ADDRESS` \
                 (like `{ready}127.0.0.1:5151`){}",
                server.describe()
            )),
        }
    }

    /// The address from the ready line.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Everything the program printed on stdout so far.
    pub fn stdout(&self) -> String {
        self.lock().stdout.clone()
    }

    /// Everything the program printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.lock().stderr.clone()
    }

    /// Waits up to `limit` until the program's stderr satisfies `done`; returns whether it
    /// does.
    pub fn wait_for_stderr(&self, limit: Duration, mut done: impl FnMut(&str) -> bool) -> bool {
        self.wait_for(limit, |o| done(&o.stderr))
    }

    /// Whether the program is still running (`Err` with its exit status if not).
    pub fn still_running(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                // It ended, but what it printed last (a panic's message, which says "not yet
                // implemented") may still be on its way through the pipes: wait for them to
                // close, so that `describe` shows it. (Bounded: a child it left running may
                // hold them open.)
                self.wait_for(GRACE, |o| o.closed == 2);
                Err(format!("the program ended ({status})"))
            }
            Err(error) => Err(format!("cannot tell whether the program runs: {error}")),
        }
    }

    /// [`still_running`](Self::still_running) for a failure message, once the program has
    /// had a moment to end: a connection reset or closed early is often the program dying,
    /// and on a busy machine it may not have ended (nor its last words, "not yet
    /// implemented", arrived) the instant the client sees it. Waits up to a second when the
    /// program does run on: only for a test that fails anyway.
    pub fn state_after_failure(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + GRACE;
        self.wait_for(GRACE, |o| o.closed == 2);
        // Its pipes close as it exits, an instant before its exit status is known. Polling:
        // std has no wait-with-timeout for a child.
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            thread::sleep(Duration::from_millis(10));
        }
        self.still_running()
    }

    /// What the program printed, for a failure message (empty if it printed nothing).
    pub fn describe(&self) -> String {
        let output = self.lock();
        let mut text = String::new();
        for (name, printed) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
            if !printed.trim().is_empty() {
                text.push_str(&format!("\n--- its {name} ---\n{}", printed.trim_end()));
            }
        }
        text
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Output> {
        self.output.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wait_for(&self, limit: Duration, mut done: impl FnMut(&Output) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        let (lock, changed) = &*self.output;
        let mut output = lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if done(&output) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            output = changed
                .wait_timeout(output, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn exit_status(&mut self, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.to_string(),
                Ok(None) if Instant::now() < deadline => {
                    // Polling: std has no wait-with-timeout for a child.
                    thread::sleep(Duration::from_millis(10));
                }
                Ok(None) => return "its pipes closed, but it still runs".to_string(),
                Err(error) => return error.to_string(),
            }
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `pipe` on a thread into the field `field` picks, waking waiters at each line.
fn collect(
    pipe: Option<impl Read + Send + 'static>,
    output: &SharedOutput,
    field: fn(&mut Output) -> &mut String,
) {
    let output = Arc::clone(output);
    thread::spawn(move || {
        if let Some(pipe) = pipe {
            let mut reader = BufReader::new(pipe);
            let mut line = Vec::new();
            // Bytes, not `read_line`: a program may print invalid UTF-8.
            while matches!(reader.read_until(b'\n', &mut line), Ok(count) if count > 0) {
                let (lock, changed) = &*output;
                let mut output = lock.lock().unwrap_or_else(|p| p.into_inner());
                field(&mut output).push_str(&String::from_utf8_lossy(&line));
                changed.notify_all();
                line.clear();
            }
        }
        let (lock, changed) = &*output;
        lock.lock().unwrap_or_else(|p| p.into_inner()).closed += 1;
        changed.notify_all();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(10);

    #[test]
    fn a_panicking_server_is_reported_with_its_message() {
        let mut server =
            ServerThread::spawn("student serve", || -> u64 { todo!("accept clients") });
        let text = server.describe();
        assert!(
            text.contains("panicked: not yet implemented: accept clients"),
            "{text}"
        );
        let failure = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            server.fail("no echo came back")
        }))
        .unwrap_err();
        let message = panic_message(&*failure);
        assert!(
            message.starts_with("the server thread `student serve` panicked: not yet"),
            "{message}"
        );
        assert!(
            message.contains("client saw: no echo came back"),
            "{message}"
        );
    }

    #[test]
    fn a_returning_server_is_reported_with_its_value() {
        let mut server = ServerThread::spawn("serve", || Ok::<(), String>(()));
        assert!(server.ended_within(LIMIT).is_some());
        let failure = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            server.assert_running("it must keep accepting")
        }))
        .unwrap_err();
        let message = panic_message(&*failure);
        assert!(message.contains("returned Ok(())"), "{message}");
        assert!(message.contains("but it must keep accepting"), "{message}");
    }

    #[test]
    fn a_running_server_is_reported_as_running() {
        let (_keep, never) = mpsc::channel::<()>();
        let mut server = ServerThread::spawn("serve", move || never.recv().is_ok());
        server.assert_running("unused");
        assert!(server.ended_within(Duration::from_millis(10)).is_none());
    }

    #[cfg(unix)]
    #[test]
    fn a_server_process_reports_its_address_and_is_killed_on_drop() {
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "echo 'listening on 127.0.0.1:4567 (raw)'; echo 'client 1' >&2; exec sleep 60",
        ]);
        let mut server = ServerProcess::start(command, "listening on ", LIMIT).unwrap();
        assert_eq!(server.addr(), "127.0.0.1:4567".parse().unwrap());
        assert!(server.wait_for_stderr(LIMIT, |text| text.contains("client 1")));
        assert!(server.still_running().is_ok());
        let id = server.child.id();
        drop(server);
        // Killed and reaped: no such process any more.
        let alive = Command::new("kill")
            .args(["-0", &id.to_string()])
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(!alive.success());
    }

    #[cfg(unix)]
    #[test]
    fn a_failure_waits_a_moment_for_a_dying_program_and_its_last_words() {
        // It listens, then dies a little later, as a skeleton does at its first `todo!()`:
        // a client may see the reset before the program has ended.
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "echo 'listening on 127.0.0.1:4567'; sleep 0.3; \
             echo 'not yet implemented: serve' >&2; exit 101",
        ]);
        let mut server = ServerProcess::start(command, "listening on ", LIMIT).unwrap();
        assert!(server.still_running().is_ok(), "not ended yet");
        let state = server.state_after_failure();
        assert_eq!(
            state,
            Err("the program ended (exit status: 101)".to_string())
        );
        assert!(
            server.describe().contains("not yet implemented: serve"),
            "{}",
            server.describe()
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_server_process_that_dies_first_is_reported_with_its_stderr() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo 'not yet implemented: bind' >&2; exit 101"]);
        let error = ServerProcess::start(command, "listening on ", LIMIT)
            .err()
            .expect("the program never listened");
        assert!(error.contains("ended (exit status: 101)"), "{error}");
        assert!(error.contains("not yet implemented: bind"), "{error}");
    }

    #[cfg(unix)]
    #[test]
    fn a_wrong_first_line_is_quoted() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo 'Listening at port 80'; exec sleep 60"]);
        let error = ServerProcess::start(command, "listening on ", LIMIT)
            .err()
            .expect("a wrong line");
        assert!(error.contains("\"Listening at port 80\""), "{error}");
    }
}
