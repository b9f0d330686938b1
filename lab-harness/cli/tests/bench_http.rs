//! `cargo lab bench --mode http` as a real process, against the harness's scripted HTTP
//! server (the one of `cargo lab serve --mode http`): the report against a good page, and a
//! 404, a response whose lines end in `\n` alone, and a server that never answers, each
//! counted and named. (A student's exercise 8 server is loaded the same way.)

use std::time::Duration;

use assert_cmd::Command;
use lab_harness::{HttpServer, ScriptedServer, Step};
use predicates::prelude::*;

const DEADLINE: Duration = Duration::from_secs(30);

fn bench(addr: &str, extra: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("lab")
        .unwrap()
        .args(["bench", "--mode", "http", "--addr", addr])
        .args(extra)
        .timeout(DEADLINE)
        .assert()
}

#[test]
fn http_mode_reports_rate_latency_and_no_errors_against_a_good_page() {
    let server = HttpServer::start();
    let addr = server.addr().to_string();
    bench(
        &addr,
        &["--path", "/", "--connections", "4", "--messages", "25"],
    )
    .code(0)
    .stdout(predicate::str::contains(format!(
        "bench http://{addr}/ (http mode): 4 clients x 25 requests, a connection each"
    )))
    .stdout(predicate::str::contains("requests   100 of 100 answered"))
    .stdout(
        predicate::str::is_match(
            r"latency    p50 \d+\.\d\d ms, p99 \d+\.\d\d ms, max \d+\.\d\d ms",
        )
        .unwrap(),
    )
    .stdout(predicate::str::contains("errors     none"))
    .stderr(predicate::str::contains("done: 100/100 answered, 0 errors"));
    // Every request was a connection of its own.
    assert_eq!(server.recording().totals().connections, 100);
}

#[test]
fn http_mode_counts_an_error_status_as_a_failure() {
    let server = HttpServer::start();
    bench(
        &server.addr().to_string(),
        &[
            "--path",
            "/missing",
            "--connections",
            "2",
            "--messages",
            "3",
        ],
    )
    .code(1)
    .stdout(predicate::str::contains("requests   0 of 6 answered"))
    .stdout(predicate::str::contains("mismatched echo 6"))
    .stdout(predicate::str::contains("status 404 Not Found (not 2xx)"));
}

#[test]
fn http_mode_names_a_response_whose_lines_end_with_a_bare_lf() {
    let server = ScriptedServer::start(vec![
        Step::ReadLine,
        Step::send("HTTP/1.1 200 OK\nContent-Length: 3\n\nhi\n"),
        Step::Close,
    ]);
    bench(
        &server.addr().to_string(),
        &["--connections", "1", "--messages", "2"],
    )
    .code(1)
    .stdout(predicate::str::contains("\\n alone"));
}

#[test]
fn http_mode_reports_a_server_that_never_answers_as_timed_out() {
    let server = ScriptedServer::silent();
    bench(
        &server.addr().to_string(),
        &["--connections", "2", "--messages", "1", "--timeout", "0.3"],
    )
    .code(1)
    .stdout(predicate::str::contains("timed out 2"))
    .stdout(predicate::str::contains("no complete response"));
}

#[test]
fn http_mode_refuses_a_path_without_a_slash_in_one_line() {
    let server = HttpServer::start();
    bench(&server.addr().to_string(), &["--path", "index.html"])
        .code(predicate::ne(0))
        .stderr(predicate::str::contains("must start with /"));
}
