//! `cargo lab serve` as a real process: the listening line, echoing for real peers (our own
//! client, Python, `nc`, `socat`), and the one-line errors for a busy port or a bad value.

mod serve_support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;

use lab_harness::{bind_loopback, show_bytes};
use predicates::prelude::*;
use serve_support::{DEADLINE, Serve, peer_available, run_peer};

/// Sends `data`, half-closes, and returns everything until the server closes.
fn exchange(mut stream: TcpStream, data: &[u8]) -> Vec<u8> {
    stream.write_all(data).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).expect("reading the reply");
    reply
}

#[test]
fn serve_prints_one_listening_line_with_the_real_port() {
    let server = Serve::start(&[]);
    assert_ne!(server.addr.port(), 0);
    assert_eq!(
        server.first_line,
        format!("listening on {} (line mode)", server.addr)
    );
}

#[test]
fn serve_answers_each_line_with_crlf() {
    let server = Serve::start(&[]);
    let reply = exchange(server.connect(), b"hello\nagain\r\nlast");
    assert_eq!(
        reply,
        b"hello\r\nagain\r\nlast\r\n",
        "got {}",
        show_bytes(&reply)
    );
}

#[test]
fn serve_in_raw_mode_echoes_binary_data_then_closes() {
    let server = Serve::start(&["--mode", "raw"]);
    assert!(
        server.first_line.ends_with("(raw mode)"),
        "{}",
        server.first_line
    );
    let data: Vec<u8> = (0..=255).cycle().take(100_000).collect();
    let reply = exchange(server.connect(), &data);
    assert!(
        reply == data,
        "got {} bytes back of {}",
        reply.len(),
        data.len()
    );
}

#[test]
fn serve_on_a_busy_port_exits_1_with_one_line_naming_the_port() {
    let busy = bind_loopback().unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let assert = assert_cmd::Command::cargo_bin("lab")
        .unwrap()
        .args(["serve", "--port", &port])
        .timeout(DEADLINE)
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains(format!(
            "port {port} is already in use"
        )))
        .stderr(predicate::str::contains("--port 0"));
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_eq!(
        stderr.lines().count(),
        1,
        "expected one line, got:\n{stderr}"
    );
}

#[test]
fn serve_rejects_a_port_that_is_not_a_number_in_range() {
    for bad in ["abc", "70000", "-1"] {
        assert_cmd::Command::cargo_bin("lab")
            .unwrap()
            .args(["serve", &format!("--port={bad}")])
            .timeout(DEADLINE)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("invalid value"));
    }
}

#[test]
fn serve_logs_each_connection_on_stderr() {
    let server = Serve::start(&[]);
    let client = server.connect();
    let local = client.local_addr().unwrap();
    assert_eq!(exchange(client, b"hi\n"), b"hi\r\n");
    let logged = server.wait_for_log(&format!("{local} closed"), DEADLINE);
    let log = server.log();
    assert!(
        logged && log.contains(&format!("{local} connected")),
        "expected an opened and a closed line for {local}:\n{log}"
    );
}

#[cfg(unix)]
#[test]
fn serve_stops_cleanly_on_sigterm_with_a_summary() {
    let mut server = Serve::start(&[]);
    assert_eq!(exchange(server.connect(), b"one\n"), b"one\r\n");
    let idle = server.connect(); // still open when the server is told to stop
    // Wait until the server has accepted it: a connection still in the kernel's backlog is
    // not the server's yet, so it would be reset, not closed, and not counted.
    let idle_addr = idle.local_addr().unwrap();
    assert!(
        server.wait_for_log(&format!("{idle_addr} connected"), DEADLINE),
        "the second connection was never logged:\n{}",
        server.log()
    );
    server.terminate();
    let status = server.wait_exit(DEADLINE);
    let log = server.log();
    assert!(
        status.is_some_and(|status| status.success()),
        "exit status {status:?} after SIGTERM; log:\n{log}"
    );
    assert!(
        server.wait_for_log("stopped: served 2 connections", DEADLINE),
        "no summary line:\n{}",
        server.log()
    );
    // The idle client was closed by the server, not left hanging.
    let mut buffer = [0; 16];
    let mut idle = idle;
    idle.set_read_timeout(Some(DEADLINE)).unwrap();
    let read = idle.read(&mut buffer);
    assert!(
        matches!(read, Ok(0)),
        "the idle client should read end-of-file once the server stopped, got {read:?}"
    );
}

#[test]
fn a_python_client_gets_its_lines_back() {
    if !peer_available("python3", true) {
        return;
    }
    let server = Serve::start(&[]);
    let script = r#"
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
with socket.create_connection((host, port), timeout=10) as sock:
    f = sock.makefile("rwb")
    f.write(b"hello from python\n"); f.flush()
    sys.stdout.write(f.readline().decode())
"#;
    let mut command = Command::new("python3");
    command.args([
        "-c",
        script,
        &server.addr.ip().to_string(),
        &server.addr.port().to_string(),
    ]);
    assert_eq!(run_peer(&mut command, b""), b"hello from python\r\n");
}

#[test]
fn nc_gets_its_lines_back() {
    if !peer_available("nc", true) {
        return;
    }
    let server = Serve::start(&[]);
    // -N: shut down the sending side at the end of input, so the server closes in turn.
    let mut command = Command::new("nc");
    command.args([
        "-N",
        &server.addr.ip().to_string(),
        &server.addr.port().to_string(),
    ]);
    assert_eq!(run_peer(&mut command, b"hi\nthere\n"), b"hi\r\nthere\r\n");
}

#[test]
fn socat_gets_raw_bytes_back() {
    if !peer_available("socat", true) {
        return;
    }
    let server = Serve::start(&["--mode", "raw"]);
    let mut command = Command::new("socat");
    command.args(["-t", "5", "-", &format!("TCP:{}", server.addr)]);
    assert_eq!(run_peer(&mut command, b"raw\x00bytes"), b"raw\x00bytes");
}
