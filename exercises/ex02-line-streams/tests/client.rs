//! Graded tests for exercise 2's interactive client, `src/bin/ex02-client.rs`, run as a real
//! program: the test types into its standard input, reads what it prints, and checks what a
//! real server received. The client is already written; it works once your functions in
//! `src/lib.rs` do, so these tests fail until then.
//!
//! Run them with `cargo test -p ex02 --test client`.

use std::process::Output;
use std::time::{Duration, Instant};

use lab_harness::{
    EchoServer, Ending, Recording, ScriptedServer, Step, Watchdog, bind_loopback, show_bytes,
};
use predicates::prelude::*;
use rstest::rstest;

/// How long the client may run. It needs milliseconds; after this it is killed.
const CLIENT_LIMIT: Duration = Duration::from_secs(10);

/// How long a test may take in all (the client's limit, and some room to report).
const DEADLINE: Duration = Duration::from_secs(20);

/// The client program: `ex02-client` from the exercise, or the same source built as
/// `ex02-solution-client` by the reference solution (binary names are unique in a workspace).
fn client_program() -> &'static str {
    option_env!("CARGO_BIN_EXE_ex02-client")
        .or(option_env!("CARGO_BIN_EXE_ex02-solution-client"))
        .expect("this test belongs to a package with the ex02 client binary")
}

/// One run of the client: how it ended and what it printed.
struct Run {
    typed: String,
    output: Output,
    killed: bool,
    /// What the server saw, when there was one.
    server: Option<String>,
}

impl Run {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Everything about the run, for a failure message. The client's standard error is in
    /// there, so a panic (a `todo!()`, an `unwrap`) shows with its message.
    fn describe(&self) -> String {
        let ending = if self.killed {
            format!(
                "it did not finish within {CLIENT_LIMIT:?} and was killed (waiting for a reply \
                 that never came? for input after the input had ended?)"
            )
        } else {
            match self.output.status.code() {
                Some(code) => format!("it exited with code {code}"),
                None => format!("it was stopped: {}", self.output.status),
            }
        };
        let mut text = format!(
            "the client, given the input {}: {ending}\n--- its standard output ---\n{}\n\
             --- its standard error ---\n{}\n---",
            show_bytes(self.typed.as_bytes()),
            self.stdout(),
            self.stderr()
        );
        if let Some(server) = &self.server {
            text.push('\n');
            text.push_str(server);
        }
        text
    }
}

/// Runs the client with `typed` as its standard input (closed after it, like the end of a
/// piped file).
fn run_client(typed: String) -> Run {
    let started = Instant::now();
    let output = assert_cmd::Command::new(client_program())
        .write_stdin(typed.clone())
        .timeout(CLIENT_LIMIT)
        .output()
        .expect("starting the client program");
    Run {
        typed,
        output,
        killed: started.elapsed() >= CLIENT_LIMIT,
        server: None,
    }
}

/// Runs the client inside a watchdog; failure messages show what the server (its
/// `recording`) saw, if there is one.
fn run_against(recording: Option<&Recording>, typed: String) -> Run {
    let mut watchdog = Watchdog::new(DEADLINE).hint("the client was not stopped at its time limit");
    if let Some(recording) = recording {
        watchdog = watchdog.watch(recording);
    }
    let mut run = watchdog.run(move || run_client(typed));
    run.server = recording.map(Recording::describe);
    run
}

#[track_caller]
fn expect_exit_code(run: &Run, code: i32, why: &str) {
    assert!(
        !run.killed && run.output.status.code() == Some(code),
        "expected exit code {code}: {why}\n{}",
        run.describe()
    );
}

#[test]
fn the_client_talks_to_the_line_server_until_an_empty_message() {
    let server = EchoServer::line();
    let port = server.port();
    let run = run_against(
        Some(server.recording()),
        format!("127.0.0.1\n{port}\nhello\nsecond message\n\n"),
    );
    expect_exit_code(&run, 0, "an empty message ends the conversation normally");
    assert_eq!(
        run.stdout(),
        format!(
            "Host: Port: Connecting to 127.0.0.1 (port {port})...\nConnected!\n\
             Message: Response: hello\nMessage: Response: second message\n\
             Message: Closing connection...\nClosed!\n"
        ),
        "the client's standard output (the typed answers do not appear: they were piped in, \
         not echoed by a terminal)\n{}",
        run.describe()
    );
    let record = server
        .recording()
        .wait_for_end(Duration::from_secs(5))
        .unwrap_or_else(|| {
            panic!(
                "the client exited but the server still sees its connection open\n{}",
                server.recording().describe()
            )
        });
    assert!(
        record.received == b"hello\r\nsecond message\r\n",
        "the server received {}; expected {}\n{}",
        show_bytes(&record.received),
        show_bytes(b"hello\r\nsecond message\r\n"),
        server.recording().describe()
    );
    assert_eq!(
        record.ended.map(|(_, ending)| ending),
        Some(Ending::ClientClosed),
        "the client should close the connection itself\n{}",
        server.recording().describe()
    );
}

#[test]
fn a_blank_host_is_asked_for_again() {
    let server = EchoServer::line();
    let port = server.port();
    let run = run_against(
        Some(server.recording()),
        format!("\n  \n127.0.0.1\n{port}\n\n"),
    );
    expect_exit_code(&run, 0, "the host was given on the third try");
    let asked_three_times = predicate::str::contains("Host: ").count(3);
    assert!(
        asked_three_times.eval(&run.stdout()),
        "after an empty line and a line of spaces, \"Host: \" must be asked 3 times\n{}",
        run.describe()
    );
    assert!(
        predicate::str::contains(format!("Connecting to 127.0.0.1 (port {port})..."))
            .eval(&run.stdout()),
        "{}",
        run.describe()
    );
}

#[test]
fn a_port_that_is_not_a_number_from_0_to_65535_is_asked_for_again() {
    let server = EchoServer::line();
    let port = server.port();
    let run = run_against(
        Some(server.recording()),
        format!("127.0.0.1\nfive\n65536\n-1\n{port}\nhi\n\n"),
    );
    expect_exit_code(&run, 0, "a valid port was given on the fourth try");
    let explained = predicate::str::contains("Ports must be an integer between 0 and 65535\n")
        .count(3)
        .and(predicate::str::contains("Port: ").count(4));
    assert!(
        explained.eval(&run.stdout()),
        "after \"five\", \"65536\" and \"-1\", the client must explain three times and ask \
         \"Port: \" four times\n{}",
        run.describe()
    );
    assert!(
        predicate::str::contains("Response: hi\n").eval(&run.stdout()),
        "{}",
        run.describe()
    );
}

#[rstest]
#[case::at_the_host_prompt("")]
#[case::at_the_port_prompt("127.0.0.1\n")]
#[case::at_the_first_message_prompt("127.0.0.1\nPORT\n")]
#[case::at_a_later_message_prompt("127.0.0.1\nPORT\nhello\n")]
fn closing_the_input_at_any_prompt_ends_the_client_cleanly(#[case] typed: &str) {
    let server = EchoServer::line();
    let port = server.port();
    let connects = typed.contains("PORT");
    let run = run_against(
        Some(server.recording()),
        typed.replace("PORT", &port.to_string()),
    );
    expect_exit_code(
        &run,
        0,
        "the end of the input (Ctrl-D) is a normal way to quit, not an error",
    );
    assert!(
        run.stderr().is_empty(),
        "nothing should be printed on standard error\n{}",
        run.describe()
    );
    if connects {
        assert!(
            predicate::str::ends_with("Closing connection...\nClosed!\n").eval(&run.stdout()),
            "a connection was open: the client must close it and say so\n{}",
            run.describe()
        );
    }
}

#[test]
fn an_unreachable_server_is_one_line_on_stderr_and_exit_code_1() {
    // Bind a port and close it again: now nobody listens there.
    let port = bind_loopback().unwrap().local_addr().unwrap().port();
    let run = run_against(None, format!("127.0.0.1\n{port}\nhello\n\n"));
    expect_exit_code(&run, 1, "the connection was refused");
    let stderr = run.stderr();
    let one_clear_line = predicate::str::contains("panicked")
        .not()
        .and(predicate::str::contains(port.to_string()))
        .and(predicate::function(|text: &str| {
            text.trim_end().lines().count() == 1
        }));
    assert!(
        one_clear_line.eval(&stderr),
        "standard error must hold one line that says what failed and names the port, not a \
         panic\n{}",
        run.describe()
    );
    assert!(
        predicate::str::contains(format!("Connecting to 127.0.0.1 (port {port})..."))
            .and(predicate::str::contains("Connected!").not())
            .eval(&run.stdout()),
        "{}",
        run.describe()
    );
}

#[test]
fn a_server_that_closes_instead_of_answering_is_one_line_on_stderr_and_exit_code_1() {
    let server = ScriptedServer::start(vec![Step::ReadLine, Step::Close]);
    let port = server.port();
    let run = run_against(
        Some(server.recording()),
        format!("127.0.0.1\n{port}\nhello\n\n"),
    );
    expect_exit_code(
        &run,
        1,
        "the server closed the connection instead of answering",
    );
    let stderr = run.stderr();
    let one_clear_line = predicate::str::contains("panicked")
        .not()
        .and(predicate::str::contains("closed"))
        .and(predicate::function(|text: &str| {
            text.trim_end().lines().count() == 1
        }));
    assert!(
        one_clear_line.eval(&stderr),
        "standard error must hold one line saying the server closed the connection, not a \
         panic\n{}",
        run.describe()
    );
}
