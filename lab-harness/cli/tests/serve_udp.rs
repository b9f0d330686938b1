//! `cargo lab serve --mode udp` as a real process: the listening line, datagrams echoed whole
//! and one by one to each sender, `--drop-every` and `--delay-ms` as the graded tests' server
//! plays them (one implementation for both), a client written with Python's socket module,
//! the TCP demo flags refused, and the summary on SIGTERM.

mod serve_support;

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use lab_harness::show_bytes;
use predicates::prelude::*;
use serve_support::{DEADLINE, Serve, peer_available, run_peer};

/// How long a datagram that is not coming is waited for.
const NOTHING: Duration = Duration::from_millis(300);

fn client() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("binding a client socket");
    socket.set_read_timeout(Some(DEADLINE)).unwrap();
    socket
}

/// The next datagram, or `None` after `wait`.
fn next(socket: &UdpSocket, wait: Duration) -> Option<(Vec<u8>, SocketAddr)> {
    socket.set_read_timeout(Some(wait)).unwrap();
    let mut buffer = vec![0u8; 70_000];
    match socket.recv_from(&mut buffer) {
        Ok((count, from)) => Some((buffer[..count].to_vec(), from)),
        Err(error)
            if matches!(
                error.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            None
        }
        Err(error) => panic!("receiving failed: {error}"),
    }
}

#[test]
fn serve_in_udp_mode_prints_its_listening_line_and_echoes_each_datagram_to_its_sender() {
    let server = Serve::start(&["--mode", "udp"]);
    assert_eq!(
        server.first_line,
        format!("listening on {} (udp mode)", server.addr)
    );
    let (a, b) = (client(), client());
    let big: Vec<u8> = (0..9000u32).map(|i| (i % 251) as u8).collect();
    // Two datagrams back to back from A: two echoes, not one glued.
    a.send_to(b"one", server.addr).unwrap();
    a.send_to(b"two", server.addr).unwrap();
    b.send_to(&big, server.addr).unwrap();
    for (socket, expected) in [(&a, &b"one"[..]), (&a, b"two"), (&b, &big)] {
        let got = next(socket, DEADLINE);
        assert_eq!(
            got.as_ref().map(|(data, from)| (data.as_slice(), *from)),
            Some((expected, server.addr)),
            "expected the echo of {}; log:\n{}",
            show_bytes(expected),
            server.log()
        );
    }
    assert!(
        server.wait_for_log("press Ctrl-C to stop", DEADLINE),
        "{}",
        server.log()
    );
    assert!(
        server.wait_for_log("\"two\" (3 bytes) → echoed", DEADLINE),
        "each datagram is logged with what the server did:\n{}",
        server.log()
    );
}

#[test]
fn serve_in_udp_mode_drops_every_nth_datagram() {
    let server = Serve::start(&["--mode", "udp", "--drop-every", "2", "--quiet"]);
    assert!(
        server.wait_for_log("demo mode: drop one datagram in 2", DEADLINE),
        "{}",
        server.log()
    );
    let socket = client();
    let mut answered = Vec::new();
    for seq in 1..=4u8 {
        socket.send_to(&[b'0' + seq], server.addr).unwrap();
        // An answer comes at once; a dropped one is waited for briefly.
        if let Some((data, _)) = next(&socket, NOTHING) {
            answered.push(data);
        }
    }
    assert_eq!(
        answered,
        [b"1".to_vec(), b"3".to_vec()],
        "with --drop-every 2, datagrams 2 and 4 get no answer; log:\n{}",
        server.log()
    );
}

#[test]
fn serve_in_udp_mode_answers_late_with_delay_ms() {
    let server = Serve::start(&["--mode", "udp", "--delay-ms", "200"]);
    let socket = client();
    let sent = Instant::now();
    socket.send_to(b"late", server.addr).unwrap();
    let got = next(&socket, DEADLINE);
    let took = sent.elapsed();
    assert_eq!(got.map(|(data, _)| data), Some(b"late".to_vec()));
    assert!(
        took >= Duration::from_millis(190),
        "with --delay-ms 200 the answer came after {took:?}"
    );
}

#[test]
fn serve_in_udp_mode_answers_a_python_client() {
    if !peer_available("python3", true) {
        return;
    }
    let server = Serve::start(&["--mode", "udp", "--quiet"]);
    let script = format!(
        "import socket\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.settimeout(5)\n\
         s.sendto(b'hello from python', ('127.0.0.1', {port}))\n\
         data, addr = s.recvfrom(65535)\n\
         print(data.decode(), addr[1])\n",
        port = server.addr.port()
    );
    let output = run_peer(Command::new("python3").args(["-c", &script]), b"");
    assert_eq!(
        String::from_utf8_lossy(&output).trim_end(),
        format!("hello from python {}", server.addr.port())
    );
}

#[test]
fn serve_refuses_tcp_demo_flags_in_udp_mode_and_drop_every_in_the_others() {
    for (args, says) in [
        (&["--mode", "udp", "--fragment"][..], "--drop-every N"),
        (&["--mode", "udp", "--silent"], "--drop-every N"),
        (&["--drop-every", "3"], "--mode udp"),
        (&["--mode", "http", "--drop-every", "3"], "--mode udp"),
        (&["--mode", "udp", "--drop-every", "0"], "0"),
    ] {
        assert_cmd::Command::cargo_bin("lab")
            .unwrap()
            .args(["serve", "--port", "0"])
            .args(args)
            .timeout(DEADLINE)
            .assert()
            .failure()
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::contains(says));
    }
}

#[cfg(unix)]
#[test]
fn serve_in_udp_mode_stops_on_sigterm_with_a_summary() {
    let mut server = Serve::start(&["--mode", "udp", "--drop-every", "3", "--quiet"]);
    let socket = client();
    for word in ["a", "b", "c"] {
        socket.send_to(word.as_bytes(), server.addr).unwrap();
    }
    assert!(next(&socket, DEADLINE).is_some() && next(&socket, DEADLINE).is_some());
    assert!(
        next(&socket, NOTHING).is_none(),
        "the 3rd datagram is dropped"
    );
    server.terminate();
    let status = server
        .wait_exit(DEADLINE)
        .expect("lab serve did not stop on SIGTERM");
    assert!(status.success(), "{status}");
    server.wait_for_log("stopped:", DEADLINE);
    let log = server.log();
    assert!(
        log.contains("stopped: 3 datagrams in (3 bytes) from 1 sender, 2 out (2 bytes), 1 dropped"),
        "{log}"
    );
}
