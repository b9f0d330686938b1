//! Graded tests for exercise 2's interactive client, `src/bin/ex02-client.rs`, run as a real
//! program: the test types into its standard input, reads what it prints, and checks what a
//! real server received. The client is already written; it works once your functions in
//! `src/lib.rs` do, so these tests fail until then.
//!
//! A module of `tests/graded.rs`: run them with `cargo test -p ex02 client::`.

use std::process::Command;
use std::time::Duration;

use lab_harness::{
    EchoServer, Ending, Program, ProgramRun, Recording, ScriptedServer, Step, Stopped, Watchdog,
    bind_loopback, cap_text, show_bytes,
};
use predicates::prelude::*;
use rstest::rstest;

/// How long the client may run. It needs milliseconds; after this it is stopped.
const CLIENT_LIMIT: Duration = Duration::from_secs(5);

/// What the client may print. It prints a few lines; a client that prints more is in an
/// endless loop (asking `Host: ` again and again after its input has ended, say), and is
/// stopped at once instead of filling the memory for seconds.
const OUTPUT_LIMIT: usize = 64 * 1024;

/// How much of what the client printed a failure message shows (its start and its end).
const SHOWN: usize = 1200;

/// How long a test may take in all (the client's limit, and some room to report).
const DEADLINE: Duration = Duration::from_secs(8);

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
    program: ProgramRun,
    /// What the server saw, when there was one.
    server: Option<Recording>,
}

impl Run {
    fn stdout(&self) -> String {
        self.program.stdout_text()
    }

    fn stderr(&self) -> String {
        self.program.stderr_text()
    }

    /// Everything about the run, for a failure message: what the client was given, how it
    /// ended, what it printed (its start and end, if long), the likely mistake, and what the
    /// server saw. The client's standard error is in there, so a panic (a `todo!()`, an
    /// `unwrap`) shows with its message.
    fn describe(&self) -> String {
        let mut ending = self.program.ending();
        if let Some(Stopped::RanTooLong(_)) = self.program.stopped {
            ending.push_str(
                " (waiting for a reply that never came? for input after the input had ended?)",
            );
        }
        let mut text = format!(
            "the client, given the input {}: {ending}\n--- its standard output ---\n{}\n\
             --- its standard error ---\n{}\n---",
            show_bytes(self.typed.as_bytes()),
            cap_text(&self.stdout(), SHOWN),
            cap_text(&self.stderr(), SHOWN)
        );
        for hint in self.hints() {
            text.push('\n');
            text.push_str(&hint);
        }
        match &self.server {
            // Said without waiting for a connection that cannot come.
            Some(server)
                if server.totals().connections == 0 && !self.stdout().contains("Connecting") =>
            {
                text.push_str(
                    "\nthe server saw no connection: the client never got as far as connecting",
                );
            }
            Some(server) => {
                text.push('\n');
                text.push_str(&server.describe());
            }
            None => {}
        }
        text
    }

    /// The likely mistakes, from what the client printed and what the server saw.
    fn hints(&self) -> Vec<String> {
        let stdout = self.stdout();
        let mut hints = Vec::new();
        if let Some(Stopped::PrintedTooMuch(limit)) = self.program.stopped {
            let asked = ["Host: ", "Port: ", "Message: "]
                .into_iter()
                .map(|prompt| (stdout.matches(prompt).count(), prompt))
                .max()
                .unwrap_or_default();
            hints.push(format!(
                "The client printed more than {limit} bytes ({:?} {} times): an endless loop. \
                 After the end of the input, it asked again and again. At the end of input \
                 read_line must return None, not an empty line, and the asking must stop",
                asked.1, asked.0
            ));
        }
        if ["Host: ", "Port: ", "Message: "]
            .iter()
            .any(|prompt| stdout.contains(&format!("{prompt}\n")))
        {
            hints.push(
                "A newline follows a prompt, so the user would type on the next line: show the \
                 prompt with `write!` (or `write_all`), not `writeln!`"
                    .to_string(),
            );
        }
        // Each typed line answers one prompt. A client that ends normally after fewer prompts
        // lost the rest of its input.
        let prompts: usize = ["Host: ", "Port: ", "Message: "]
            .iter()
            .map(|prompt| stdout.matches(prompt).count())
            .sum();
        let typed_lines = self.typed.lines().count();
        if self.program.code() == Some(0) && prompts < typed_lines {
            hints.push(format!(
                "The client ended normally after {prompts} prompt(s), but {typed_lines} lines \
                 were typed: the rest of the input was lost. A BufReader reads ahead, so a \
                 new BufReader for each answer takes the lines after it too, and throws them \
                 away with it. Read every answer from the one console input you were given"
            ));
        }
        // The port it connected to, and an answer that is not a port but became that port.
        let connected_to = stdout
            .split("(port ")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .and_then(|port| port.parse::<u16>().ok());
        let not_a_port = self.typed.lines().find_map(|answer| {
            let number = answer.trim().parse::<i64>().ok()?;
            let port = connected_to?;
            (u16::try_from(number).is_err() && number as u16 == port).then_some(number)
        });
        if let (Some(number), Some(port)) = (not_a_port, connected_to) {
            hints.push(format!(
                "The answer {number} was taken for the port {port}: {number} is not a port (a \
                 port is a 16-bit number, 0 to 65535), it was cut to 16 bits: parsed as a \
                 larger integer (a u32?) and converted with `as u16`. Parse it as a u16"
            ));
        }
        if let Some(server) = &self.server
            && server.totals().connections > 1
        {
            hints.push(format!(
                "The server saw {} connections from one run of the client: you connected \
                 twice. The client program connects once; open_streams must use \
                 `try_clone` for its second handle, not `connect` again",
                server.totals().connections
            ));
        }
        hints
    }
}

/// Runs the client with `typed` as its standard input (closed after it, like the end of a
/// piped file).
fn run_client(typed: String) -> ProgramRun {
    Program::new(Command::new(client_program()))
        .input(&typed)
        .time_limit(CLIENT_LIMIT)
        .output_limit(OUTPUT_LIMIT)
        .run()
        .expect("starting the client program")
}

/// Runs the client inside a watchdog; failure messages show what the server (its
/// `recording`) saw, if there is one.
fn run_against(recording: Option<&Recording>, typed: String) -> Run {
    let mut watchdog = Watchdog::new(DEADLINE).hint("the client was not stopped at its time limit");
    if let Some(recording) = recording {
        watchdog = watchdog.watch(recording);
    }
    let input = typed.clone();
    let program = watchdog.run(move || run_client(input));
    Run {
        typed,
        program,
        server: recording.cloned(),
    }
}

#[track_caller]
fn expect_exit_code(run: &Run, code: i32, why: &str) {
    assert!(
        run.program.code() == Some(code),
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
        format!("127.0.0.1\n{port}\nhello\n  second message, spaced\t\n\n"),
    );
    expect_exit_code(&run, 0, "an empty message ends the conversation normally");
    let expected = format!(
        "Host: Port: Connecting to 127.0.0.1 (port {port})...\nConnected!\n\
         Message: Response: hello\nMessage: Response:   second message, spaced\t\n\
         Message: Closing connection...\nClosed!\n"
    );
    assert!(
        run.stdout() == expected,
        "the client's standard output must be exactly {expected:?} (the typed answers do not \
         appear: they were piped in, not echoed by a terminal; the spaces and the tab around \
         the second message are part of it)\n{}",
        run.describe()
    );
    let record = server
        .recording()
        .wait_for_end(Duration::from_secs(2))
        .unwrap_or_else(|| {
            panic!(
                "the client exited but the server still sees its connection open\n{}",
                server.recording().describe()
            )
        });
    assert!(
        record.received == b"hello\r\n  second message, spaced\t\r\n",
        "the server received {}; expected {}\n{}",
        show_bytes(&record.received),
        show_bytes(b"hello\r\n  second message, spaced\t\r\n"),
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
