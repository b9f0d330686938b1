//! Graded tests for the program `ex07-webget URL` (`src/bin/ex07-webget.rs`), run as a real
//! program: the body on standard output, byte for byte; the status line and errors on
//! standard error; the exit code 0 for a 2xx status, 1 for another status or a network
//! error, 2 for a URL it cannot use. The program is already written: it works once your
//! `parse_url` and `fetch` do, so these tests fail until then.
//!
//! One test fetches a file from Python's own web server (`python3 -m http.server`), a real
//! server that is not ours: your client must get the file's exact bytes.
//!
//! A module of `tests/graded.rs`: run them with `cargo test -p ex07 webget::`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use lab_harness::{ClosedPort, HttpServer, Program, ProgramRun, cap_text, show_bytes};

/// How long the program may run. It needs milliseconds.
const PROGRAM_LIMIT: Duration = Duration::from_secs(8);

/// How long Python's server may take to start.
const PYTHON_START: Duration = Duration::from_secs(10);

/// The program: `ex07-webget` from the exercise, or the same source built as
/// `ex07-solution-webget` by the reference solution (binary names are unique in a workspace).
fn webget() -> &'static str {
    option_env!("CARGO_BIN_EXE_ex07-webget")
        .or(option_env!("CARGO_BIN_EXE_ex07-solution-webget"))
        .expect("this test belongs to a package with the ex07-webget program")
}

/// Runs `ex07-webget ARGS…`.
fn run(args: &[&str]) -> ProgramRun {
    let mut command = Command::new(webget());
    command.args(args);
    Program::new(command)
        .time_limit(PROGRAM_LIMIT)
        .output_limit(4 << 20)
        .run()
        .expect("starting ex07-webget")
}

/// Everything about a run, for a failure message. What the program printed comes last: a
/// panic message in it ends with a note that tools take for the end of the message.
fn describe(args: &[&str], run: &ProgramRun) -> String {
    // 101 is Rust's exit code for a panic.
    let panicked = if run.code() == Some(101) {
        " The program panicked (exit code 101; its message is on standard error below). \
         Whatever the URL and whatever the server, your functions must return an error for \
         the program to report in one line, and never panic (no `unwrap` on what a user or a \
         server sent)."
    } else {
        ""
    };
    format!(
        "ex07-webget {}: {}.{panicked}\n--- its standard output ({} bytes) ---\n{}\n--- its \
         standard error ---\n{}\n---",
        args.join(" "),
        run.ending(),
        run.stdout.len(),
        cap_text(&show_bytes(&run.stdout), 1200),
        cap_text(&run.stderr_text(), 1200),
    )
}

/// `describe`, then a line about what was expected.
fn failed(args: &[&str], run: &ProgramRun, expected: &str) -> String {
    format!("{expected}. {}", describe(args, run))
}

#[test]
fn webget_writes_the_body_bytes_to_stdout_and_exits_0() {
    let server = HttpServer::start();
    let url = server.url("/binary");
    let args = [url.as_str()];
    let run = run(&args);
    let server_saw = || server.recording().describe();
    assert!(
        run.code() == Some(0),
        "{}\n{}",
        failed(&args, &run, "A 200 OK exits 0"),
        server_saw()
    );
    assert!(
        run.stdout == HttpServer::body("/binary"),
        "{}",
        failed(
            &args,
            &run,
            "Standard output must be the body exactly: the 256 bytes 0x00 to 0xff"
        )
    );
    assert!(
        run.stderr_text().contains("200 OK"),
        "{}",
        failed(&args, &run, "The status line goes to standard error")
    );
}

#[test]
fn webget_exits_1_on_a_404_with_the_status_on_stderr() {
    let server = HttpServer::start();
    let url = server.url("/missing");
    let args = [url.as_str()];
    let run = run(&args);
    assert!(
        run.code() == Some(1),
        "{}\n{}",
        failed(&args, &run, "A status that is not 2xx exits 1"),
        server.recording().describe()
    );
    assert!(
        run.stderr_text().contains("404 Not Found"),
        "{}",
        failed(&args, &run, "The status line goes to standard error")
    );
    assert!(
        run.stdout == HttpServer::body("/missing"),
        "{}",
        failed(
            &args,
            &run,
            "The body of a 404 page still goes to standard output"
        )
    );
}

#[test]
fn webget_exits_2_with_one_line_for_a_url_it_cannot_use() {
    for args in [
        vec!["ftp://example.com/"],
        vec!["https://127.0.0.1:1/"],
        vec!["http://example.com:99999/"],
        vec![],
    ] {
        let run = run(&args);
        assert!(
            run.code() == Some(2),
            "{}",
            failed(
                &args,
                &run,
                "A URL the program cannot use (or none) exits 2, without connecting"
            )
        );
        assert!(
            run.stdout.is_empty(),
            "{}",
            failed(&args, &run, "Nothing goes to standard output")
        );
        assert!(
            run.stderr_text().trim_end().lines().count() == 1,
            "{}",
            failed(&args, &run, "One line on standard error says what is wrong")
        );
        if args.first().is_some_and(|url| url.starts_with("https")) {
            assert!(
                run.stderr_text().contains("TLS"),
                "{}",
                failed(&args, &run, "Say that TLS is the reason")
            );
        }
    }
}

#[test]
fn webget_exits_1_with_one_line_when_nothing_listens() {
    let closed = ClosedPort::new().expect("a port nothing listens on");
    let url = format!("http://{}/", closed.addr());
    let args = [url.as_str()];
    let run = run(&args);
    assert!(
        run.code() == Some(1),
        "{}",
        failed(&args, &run, "A network error exits 1")
    );
    assert!(
        run.stdout.is_empty(),
        "{}",
        failed(&args, &run, "Nothing goes to standard output")
    );
    assert!(
        run.stderr_text().trim_end().lines().count() == 1,
        "{}",
        failed(
            &args,
            &run,
            "One line on standard error says what went wrong"
        )
    );
}

/// `python3 -m http.server` on a port the system picks, killed when dropped.
struct PythonServer {
    child: Child,
    port: u16,
}

impl PythonServer {
    /// `None` when Python 3 cannot be started here.
    fn start(folder: &PathBuf) -> Option<PythonServer> {
        let mut child = Command::new("python3")
            // -u: print the "Serving HTTP on … port N" line at once, not when a buffer fills.
            .args([
                "-u",
                "-m",
                "http.server",
                "0",
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(folder)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let stdout = child.stdout.take()?;
        let (sender, first_line) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let mut server = PythonServer { child, port: 0 };
        let line = first_line.recv_timeout(PYTHON_START).unwrap_or_else(|_| {
            panic!("python3 -m http.server printed nothing in {PYTHON_START:?}")
        });
        // "Serving HTTP on 127.0.0.1 port N (http://127.0.0.1:N/) ..."
        server.port = line
            .split_whitespace()
            .skip_while(|word| *word != "port")
            .nth(1)
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| {
                panic!("unexpected first line from python3 -m http.server: {line:?}")
            });
        Some(server)
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// 200 KiB that are not text, the same every time.
fn file_bytes() -> Vec<u8> {
    let mut state: u32 = 7;
    (0..200 * 1024)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (state >> 16) as u8
        })
        .collect()
}

#[test]
fn webget_fetches_the_exact_bytes_of_a_file_from_python_http_server() {
    let folder = std::env::temp_dir().join(format!("ex07-webget-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("a temporary folder");
    let data = file_bytes();
    std::fs::write(folder.join("data.bin"), &data).expect("writing the file to serve");
    let python = PythonServer::start(&folder);
    let in_ci = std::env::var("CI").is_ok_and(|value| value == "true");
    let (url, expected, who) = match &python {
        Some(server) => (
            format!("http://127.0.0.1:{}/data.bin", server.port),
            data,
            "python3 -m http.server",
        ),
        None if in_ci => panic!("Python 3 (`python3`) is required in CI for this test"),
        None => {
            println!(
                "note: python3 cannot be started here, so the file comes from the harness's \
                 server instead of Python's"
            );
            let server = HttpServer::start();
            let url = server.url("/binary");
            // The harness server lives as long as the test.
            std::mem::forget(server);
            (url, HttpServer::body("/binary"), "the harness's server")
        }
    };
    let run = run(&[&url]);
    drop(python);
    let _ = std::fs::remove_dir_all(&folder);
    let args = [url.as_str()];
    assert!(
        run.code() == Some(0),
        "{}",
        failed(&args, &run, &format!("A 200 OK from {who} exits 0"))
    );
    if run.stdout != expected {
        let same = run
            .stdout
            .iter()
            .zip(&expected)
            .take_while(|(a, b)| a == b)
            .count();
        let expected = format!(
            "The file served by {who} is {} bytes; standard output has {} bytes, the same as the \
             file's for the first {same} only. Python's server answers HTTP/1.0 with a \
             Content-Length, in as many pieces as it likes: the body is exactly Content-Length \
             bytes, written as they came (not as text)",
            expected.len(),
            run.stdout.len()
        );
        panic!("{}", failed(&args, &run, &expected));
    }
}
