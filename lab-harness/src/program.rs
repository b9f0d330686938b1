//! Running a student's *client program* the way a user would: type its input, read what it
//! prints, and stop it when it runs too long or prints too much.
//!
//! A client that never flushes waits for a reply for ever; one that takes the end of its
//! input for an empty answer asks `Host: ` again and again, printing megabytes a second. A
//! test must report both quickly, with a message a student reads: [`Program::run`] stops the
//! program at a time limit *or* as soon as it has printed more than an output limit, keeps at
//! most that much of what it printed, and says which limit stopped it.
//!
//! ```no_run
//! use lab_harness::Program;
//! use std::process::Command;
//! use std::time::Duration;
//!
//! let run = Program::new(Command::new("path/to/ex02-client"))
//!     .input("127.0.0.1\n5151\nhello\n\n")
//!     .time_limit(Duration::from_secs(5))
//!     .output_limit(64 * 1024)
//!     .run()
//!     .expect("starting the client");
//! println!("{}", run.ending());
//! ```

use std::io::{self, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

/// A program to run with some input, under a time limit and an output limit.
#[must_use = "a program does nothing until `run` is called"]
pub struct Program {
    command: Command,
    input: Vec<u8>,
    time_limit: Duration,
    output_limit: usize,
}

/// Why [`Program::run`] stopped a program before it ended on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// It was still running at the time limit.
    RanTooLong(Duration),
    /// It printed more than this many bytes (stdout and stderr together).
    PrintedTooMuch(usize),
}

/// How one run of a program went.
#[derive(Debug)]
pub struct ProgramRun {
    /// What it printed on its standard output (at most the output limit).
    pub stdout: Vec<u8>,
    /// What it printed on its standard error (at most the output limit).
    pub stderr: Vec<u8>,
    /// How it ended (for a stopped program: killed by a signal, on Unix).
    pub status: Option<ExitStatus>,
    /// `Some` when a limit stopped it.
    pub stopped: Option<Stopped>,
    /// From its start to its end.
    pub took: Duration,
}

impl Program {
    /// `command` with no input, 10 s and 1 MiB of output at most.
    pub fn new(command: Command) -> Program {
        Program {
            command,
            input: Vec::new(),
            time_limit: Duration::from_secs(10),
            output_limit: 1 << 20,
        }
    }

    /// What the program reads on its standard input; the input then ends (like the end of a
    /// piped file, or Ctrl-D at a terminal).
    pub fn input(mut self, input: impl AsRef<[u8]>) -> Program {
        self.input = input.as_ref().to_vec();
        self
    }

    /// The program is stopped if it still runs after this long.
    pub fn time_limit(mut self, limit: Duration) -> Program {
        self.time_limit = limit;
        self
    }

    /// The program is stopped as soon as it has printed more than this many bytes.
    pub fn output_limit(mut self, bytes: usize) -> Program {
        self.output_limit = bytes;
        self
    }

    /// Runs the program until it ends or a limit stops it. The error is only for a program
    /// that cannot be started.
    pub fn run(mut self) -> io::Result<ProgramRun> {
        let started = Instant::now();
        let mut child = self
            .command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        // Typing happens on its own thread: a program that prints before it reads must not
        // wait for us while we wait for it. Closing the pipe is the end of the input. (A
        // program that exits without reading everything breaks the pipe: not our error.)
        if let Some(mut stdin) = child.stdin.take() {
            let input = std::mem::take(&mut self.input);
            thread::spawn(move || {
                let _ = stdin.write_all(&input);
            });
        }
        let (sender, printed) = mpsc::channel();
        forward(child.stdout.take(), Pipe::Stdout, sender.clone());
        forward(child.stderr.take(), Pipe::Stderr, sender);

        let deadline = started + self.time_limit;
        let mut run = ProgramRun {
            stdout: Vec::new(),
            stderr: Vec::new(),
            status: None,
            stopped: None,
            took: Duration::ZERO,
        };
        let mut total = 0;
        let mut open_pipes = 2;
        while open_pipes > 0 && run.stopped.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match printed.recv_timeout(left) {
                Ok((_, None)) => open_pipes -= 1,
                Ok((pipe, Some(bytes))) => {
                    total += bytes.len();
                    let kept = match pipe {
                        Pipe::Stdout => &mut run.stdout,
                        Pipe::Stderr => &mut run.stderr,
                    };
                    let room = self.output_limit.saturating_sub(kept.len());
                    kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
                    if total > self.output_limit {
                        run.stopped = Some(Stopped::PrintedTooMuch(self.output_limit));
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    run.stopped = Some(Stopped::RanTooLong(self.time_limit));
                }
                Err(RecvTimeoutError::Disconnected) => open_pipes = 0,
            }
        }
        // With both pipes closed the program has exited, or is exiting.
        if run.stopped.is_none() && !wait_until(&mut child, deadline) {
            run.stopped = Some(Stopped::RanTooLong(self.time_limit));
        }
        if run.stopped.is_some() {
            // Killing a program that has just exited on its own is harmless.
            let _ = child.kill();
        }
        run.status = child.wait().ok();
        run.took = started.elapsed();
        Ok(run)
    }
}

impl ProgramRun {
    /// How the program ended, in words for a failure message: "it exited with code 1", "it
    /// was still running after 5s and was stopped", "it printed more than 65536 bytes and was
    /// stopped".
    pub fn ending(&self) -> String {
        match (self.stopped, self.status) {
            (Some(Stopped::RanTooLong(limit)), _) => {
                format!("it was still running after {limit:?} and was stopped")
            }
            (Some(Stopped::PrintedTooMuch(limit)), _) => {
                format!("it printed more than {limit} bytes and was stopped")
            }
            (None, Some(status)) => match status.code() {
                Some(code) => format!("it exited with code {code}"),
                None => format!("it was ended by the system: {status}"),
            },
            (None, None) => "it ended, but its exit status is unknown".to_string(),
        }
    }

    /// The exit code, when the program exited on its own.
    pub fn code(&self) -> Option<i32> {
        if self.stopped.is_some() {
            return None;
        }
        self.status.and_then(|status| status.code())
    }

    /// What it printed on its standard output, as text (invalid UTF-8 shown as `�`).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// What it printed on its standard error, as text.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

#[derive(Clone, Copy)]
enum Pipe {
    Stdout,
    Stderr,
}

/// Reads `pipe` on its own thread and sends what comes, then `None` at its end.
fn forward(
    pipe: Option<impl Read + Send + 'static>,
    which: Pipe,
    to: Sender<(Pipe, Option<Vec<u8>>)>,
) {
    thread::spawn(move || {
        if let Some(mut pipe) = pipe {
            let mut buffer = vec![0; 16 * 1024];
            // Sending fails once `run` has stopped listening: stop reading then too.
            while let Ok(count @ 1..) = pipe.read(&mut buffer) {
                if to.send((which, Some(buffer[..count].to_vec()))).is_err() {
                    return;
                }
            }
        }
        let _ = to.send((which, None));
    });
}

/// Waits for a program whose pipes are closed to exit, until `deadline`; whether it did.
fn wait_until(child: &mut Child, deadline: Instant) -> bool {
    loop {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return true,
            Ok(None) if Instant::now() >= deadline => return false,
            // Polling, for the rare program that closes its output and runs on: std has no
            // wait-with-timeout for a child. An exiting program is done within a poll or two.
            Ok(None) => thread::sleep(Duration::from_millis(2)),
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn shell(script: &str) -> Program {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        Program::new(command)
    }

    #[test]
    fn a_program_gets_its_input_and_its_output_and_exit_code_are_kept() {
        let run = shell("cat; echo oops >&2; exit 3")
            .input("hello\n")
            .run()
            .unwrap();
        assert_eq!(run.stdout, b"hello\n");
        assert_eq!(run.stderr, b"oops\n");
        assert_eq!(run.code(), Some(3));
        assert_eq!(run.stopped, None);
        assert_eq!(run.ending(), "it exited with code 3");
    }

    #[test]
    fn a_program_that_prints_without_end_is_stopped_at_the_output_limit() {
        let run = shell("yes 'Host: '")
            .output_limit(10_000)
            .time_limit(Duration::from_secs(30))
            .run()
            .unwrap();
        assert_eq!(run.stopped, Some(Stopped::PrintedTooMuch(10_000)));
        assert_eq!(run.stdout.len(), 10_000);
        assert!(run.stdout.starts_with(b"Host: \nHost: \n"));
        assert_eq!(run.code(), None);
        assert!(run.took < Duration::from_secs(10), "{:?}", run.took);
        assert!(run.ending().contains("printed more than 10000 bytes"));
    }

    #[test]
    fn a_program_that_waits_for_ever_is_stopped_at_the_time_limit() {
        // `exec`: the shell becomes `sleep`, so killing it closes the pipes.
        let run = shell("echo started; exec sleep 60")
            .time_limit(Duration::from_millis(300))
            .run()
            .unwrap();
        assert_eq!(
            run.stopped,
            Some(Stopped::RanTooLong(Duration::from_millis(300)))
        );
        assert_eq!(run.stdout, b"started\n");
        assert!(run.took < Duration::from_secs(10), "{:?}", run.took);
        assert!(run.ending().contains("still running after 300ms"));
    }

    #[test]
    fn a_program_that_cannot_start_is_an_error() {
        let error = Program::new(Command::new("/no/such/program"))
            .run()
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
    }
}
