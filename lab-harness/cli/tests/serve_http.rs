//! `cargo lab serve --mode http` as a real process: the listening line and the list of pages,
//! the very responses the graded tests of exercise 7 get from `lab_harness::HttpServer` (one
//! implementation for both), real HTTP clients (Python's urllib, curl), bad requests, the demo
//! flags refused, and the keep-open pages bounded by `--idle-timeout`.

mod serve_support;

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use lab_harness::{HTTP_PAGES, HttpServer, show_bytes};
use predicates::prelude::*;
use serve_support::{DEADLINE, Serve, peer_available, read_until_closed, run_peer};

/// Sends `request` and reads until the server closes (or `DEADLINE`).
fn exchange(stream: &mut TcpStream, request: &[u8]) -> (Vec<u8>, String) {
    stream.write_all(request).expect("sending the request");
    read_until_closed(stream, DEADLINE)
}

fn get(addr: std::net::SocketAddr, path: &str) -> Vec<u8> {
    let mut stream = serve_support::connect(addr);
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let (response, ending) = exchange(&mut stream, request.as_bytes());
    assert_eq!(
        ending,
        "end-of-file",
        "GET {path}: {}",
        show_bytes(&response)
    );
    response
}

#[test]
fn serve_in_http_mode_prints_its_listening_line_and_every_page() {
    let server = Serve::start(&["--mode", "http"]);
    assert_eq!(
        server.first_line,
        format!("listening on {} (http mode)", server.addr)
    );
    assert!(
        server.wait_for_log("press Ctrl-C to stop", DEADLINE),
        "{}",
        server.log()
    );
    let log = server.log();
    for page in HTTP_PAGES {
        assert!(
            log.contains(&format!("http://{}{}", server.addr, page.path)),
            "{} is not listed:\n{log}",
            page.path
        );
    }
}

#[test]
fn serve_in_http_mode_sends_what_the_graded_tests_get() {
    let served = Serve::start(&["--mode", "http"]);
    let tested = HttpServer::start();
    // The pages that close after their response, byte for byte the same.
    for path in [
        "/",
        "/slow",
        "/split",
        "/close",
        "/binary",
        "/headers",
        "/redirect",
        "/nowhere",
        "/lying",
        "/cut",
    ] {
        let from_serve = get(served.addr, path);
        let from_tests = get(tested.addr(), path);
        assert!(
            from_serve == from_tests,
            "GET {path}: serve sent {}, the tests' server {}",
            show_bytes(&from_serve),
            show_bytes(&from_tests)
        );
        assert!(
            from_serve.ends_with(&HttpServer::body(path)),
            "GET {path}: {}",
            show_bytes(&from_serve)
        );
    }
}

#[test]
fn serve_in_http_mode_answers_a_bad_request_with_400_and_goes_on() {
    let server = Serve::start(&["--mode", "http"]);
    let mut stream = server.connect();
    let (response, _) = exchange(&mut stream, b"hello\r\n\r\n");
    assert!(
        response.starts_with(b"HTTP/1.1 400 Bad Request\r\n"),
        "{}",
        show_bytes(&response)
    );
    let mut stream = server.connect();
    let (response, _) = exchange(&mut stream, b"GET / HTTP/1.1\r\n\r\n");
    let text = String::from_utf8_lossy(&response);
    assert!(
        text.starts_with("HTTP/1.1 400") && text.contains("Host header"),
        "{text}"
    );
    let response = get(server.addr, "/");
    assert!(response.starts_with(b"HTTP/1.1 200 OK\r\n"));
}

#[test]
fn serve_in_http_mode_closes_a_kept_connection_after_the_idle_timeout() {
    let server = Serve::start(&["--mode", "http", "--idle-timeout", "1"]);
    let mut stream = server.connect();
    let started = Instant::now();
    let (response, ending) = exchange(&mut stream, b"GET /keep-alive HTTP/1.1\r\nHost: x\r\n\r\n");
    let took = started.elapsed();
    assert_eq!(ending, "end-of-file", "{}", show_bytes(&response));
    assert!(response.ends_with(&HttpServer::body("/keep-alive")));
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "the kept connection closed after {took:?}, expected about 1 s"
    );
}

#[test]
fn serve_in_http_mode_refuses_the_echo_demo_flags_with_one_line() {
    let assert = assert_cmd::Command::cargo_bin("lab")
        .unwrap()
        .args(["serve", "--mode", "http", "--port", "0", "--fragment"])
        .timeout(DEADLINE)
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("http mode"));
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "expected one line:\n{stderr}");
}

#[test]
fn python_urllib_reads_the_page_the_chunked_page_and_the_404() {
    if !peer_available("python3", true) {
        return;
    }
    let server = Serve::start(&["--mode", "http"]);
    // urllib speaks HTTP/1.1 with Connection: close and de-chunks; a 404 raises HTTPError,
    // whose body is still readable.
    let script = r#"
import sys, urllib.request, urllib.error
base = sys.argv[1]
out = sys.stdout.buffer
for path in ["/", "/chunked", "/missing"]:
    try:
        with urllib.request.urlopen(base + path, timeout=10) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    out.write(b"%d %d\n" % (status, len(body)))
    out.write(body)
"#;
    let mut command = Command::new("python3");
    command.args(["-c", script, &format!("http://{}", server.addr)]);
    let mut expected = Vec::new();
    for (path, status) in [("/", 200), ("/chunked", 200), ("/missing", 404)] {
        let body = HttpServer::body(path);
        expected.extend_from_slice(format!("{status} {}\n", body.len()).as_bytes());
        expected.extend_from_slice(&body);
    }
    let output = run_peer(&mut command, b"");
    assert!(
        output == expected,
        "python printed {}, expected {}",
        show_bytes(&output),
        show_bytes(&expected)
    );
}

#[test]
fn curl_follows_the_redirect_to_the_page() {
    // curl is optional: .ci/run does not install it.
    if !peer_available("curl", false) {
        return;
    }
    let server = Serve::start(&["--mode", "http"]);
    let mut command = Command::new("curl");
    command.args([
        "--silent",
        "--show-error",
        "--location",
        "--max-time",
        "10",
        &format!("http://{}/redirect", server.addr),
    ]);
    assert_eq!(run_peer(&mut command, b""), HttpServer::body("/"));
}
