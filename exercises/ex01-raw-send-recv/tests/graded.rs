//! Graded tests for exercise 1 — raw send and receive.
//!
//! Each test starts its own server from the lab harness, on a port the system picks: the
//! reference echo server, or a *scripted* server that behaves in one particular way (sends a
//! reply in pieces, closes early, never reads, …) so that one classic mistake shows up every
//! time. The tests of `receive_…` hand your function a connection the test made itself, with
//! a read timeout: a read that waits for bytes that never come fails after 2 seconds instead
//! of hanging. Every test has a deadline: if your code gets stuck, the test fails after a few
//! seconds and says why.
//!
//! When a test fails, its message says what was observed, names the most likely mistake, and
//! shows the conversation on the wire (what the server received and sent, and when).
//!
//! Run them with `cargo test -p ex01`; run one with `cargo test -p ex01 NAME`.

// This file also grades the reference solution (package ex01-solution), whose library is
// named `ex01_solution`: there this line makes `ex01` mean it.
#[cfg(netlab_solution)]
extern crate ex01_solution as ex01;

use std::cell::Cell;
use std::io::{self, ErrorKind};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use ex01::{
    connect, echo_roundtrip, receive_exactly, receive_some, receive_until_closed, send_all,
};
use lab_harness::{
    ClosedPort, Config, DEADLINE_EXPIRED, EchoServer, Ending, Mode, Recording, ScriptedServer,
    Step, Watchdog, show_bytes,
};
use rstest::rstest;

/// How long a test waits for your function. Correct code takes milliseconds, and a read
/// that waits for bytes that never come fails after `REPLY_WAIT`: what this deadline stops is
/// a loop that never ends (it keeps reading after the server has closed).
const DEADLINE: Duration = Duration::from_secs(10);

/// The read timeout of the test's own connections: a read that waits for bytes that never
/// come fails after this with an error of kind `WouldBlock` (`TimedOut` on Windows).
const REPLY_WAIT: Duration = Duration::from_secs(2);

/// How long a round trip with the echo server may take: a megabyte takes milliseconds on
/// loopback.
const ROUND_TRIP: Duration = Duration::from_secs(4);

/// How long the server's recording may take to show what happened on the wire. On loopback
/// it takes microseconds.
const ARRIVAL: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------------------
// Step 1: connect
// ---------------------------------------------------------------------------------------

#[test]
fn connect_reaches_a_listening_server() {
    // connect("127.0.0.1", port) returns the very connection the server accepted, and only
    // that one.
    let server = ScriptedServer::silent();
    let port = server.port();
    let stream = Watchdog::new(DEADLINE)
        .hint("connect did not return: does it wait for something after connecting?")
        .watch(server.recording())
        .run(move || connect("127.0.0.1", port));
    let stream = stream.unwrap_or_else(|error| {
        panic!(
            "connect(\"127.0.0.1\", {port}) failed although a server listens there: {error}\n{}",
            server.recording().describe()
        )
    });

    let ours = stream
        .local_addr()
        .expect("local_addr of the returned stream");
    let seen = server.recording().wait_until(ARRIVAL, |connections| {
        connections.iter().any(|c| c.peer == ours)
    });
    assert!(
        seen,
        "the stream connect returned (from {ours}) is not a connection the server accepted\n{}",
        server.recording().describe()
    );
    let connections = server.recording().totals().connections;
    assert_eq!(
        connections,
        1,
        "the server saw {connections} connections from one call of connect: you connected \
         twice. Each `TcpStream::connect` opens a new connection; call it once and return the \
         stream it gives you\n{}",
        server.recording().describe()
    );
}

#[test]
fn connect_reaches_the_host_it_is_given() {
    // connect goes to the host it is asked for, not to one written in its code. A server
    // listens on the IPv6 loopback address `::1` (Linux, macOS and Windows all have it, unless
    // IPv6 is turned off) and, on Linux only, on 127.0.0.2: on Linux every 127.x.x.x address
    // is this machine, while macOS answers on 127.0.0.1 alone unless more are configured. The
    // test starts nothing on 127.0.0.1 at that port, so code that goes there is refused.
    for host in other_loopback_hosts() {
        let listener = TcpListener::bind((host, 0)).expect("binding a test server");
        let server = ScriptedServer::start_on(listener, vec![Step::Hold]).expect("a server");
        let addr = server.addr();
        match call(DEADLINE, move || connect(host, addr.port())) {
            Call::Returned(Ok(stream)) => {
                let peer = stream
                    .peer_addr()
                    .expect("peer_addr of the returned stream");
                assert_eq!(
                    peer,
                    addr,
                    "connect(\"{host}\", {}) connected to {peer}, not to {addr}: connect to the \
                     host you were given, not to an address written in your code\n{}",
                    addr.port(),
                    server.recording().describe()
                );
            }
            Call::Returned(Err(error)) => panic!(
                "connect(\"{host}\", {}) failed although a server listens on {addr}: {error}. \
                 {}\n{}",
                addr.port(),
                explain_connect_error(host, addr, &error),
                server.recording().describe()
            ),
            Call::Panicked(message) => panic!("{}", panicked("connect", &message)),
            Call::StillRunning => panic!(
                "{DEADLINE_EXPIRED} after {DEADLINE:?}: connect(\"{host}\", {}) did not \
                 return\n{}",
                addr.port(),
                server.recording().describe()
            ),
        }
    }
}

#[test]
fn connect_accepts_a_host_name() {
    // connect("localhost", port) looks the name up. The test looks it up too and listens on
    // every address it gives, all with the same port, so a server is there whichever address
    // your connect tries. (Only this test uses a name: on some machines `localhost` is only
    // ::1, so the others use addresses.)
    let (host, servers) = servers_for_a_host_name();
    let port = servers[0].port();
    let addrs: Vec<SocketAddr> = servers.iter().map(ScriptedServer::addr).collect();
    let conversations = || {
        servers
            .iter()
            .map(|server| server.recording().describe())
            .collect::<Vec<_>>()
            .join("\n")
    };
    match call(DEADLINE, move || connect(host, port)) {
        Call::Returned(Ok(stream)) => {
            let peer = stream
                .peer_addr()
                .expect("peer_addr of the returned stream");
            assert!(
                addrs.contains(&peer),
                "connect(\"{host}\", {port}) connected to {peer}, which is not an address of \
                 {host:?} ({addrs:?}): connect to the host you were given\n{}",
                conversations()
            );
        }
        Call::Returned(Err(error)) => panic!(
            "connect(\"{host}\", {port}) failed although a server listens on every address of \
             {host:?} ({addrs:?}): {error}. {}\n{}",
            explain_connect_error(host, addrs[0], &error),
            conversations()
        ),
        Call::Panicked(message) => panic!("{}", panicked("connect", &message)),
        Call::StillRunning => panic!(
            "{DEADLINE_EXPIRED} after {DEADLINE:?}: connect(\"{host}\", {port}) did not \
             return\n{}",
            conversations()
        ),
    }
}

#[test]
fn connect_to_a_port_nobody_listens_on_is_an_error_not_a_panic() {
    // Nothing listens on this port: the connection is refused, and connect returns that as
    // an error of kind ConnectionRefused.
    let closed = ClosedPort::new().expect("a port nothing listens on");
    let port = closed.port();
    match call(DEADLINE, move || connect("127.0.0.1", port)) {
        Call::Returned(Err(error)) => assert_eq!(
            error.kind(),
            ErrorKind::ConnectionRefused,
            "expected the connection to be refused, got: {error}"
        ),
        Call::Returned(Ok(stream)) => {
            panic!("connect to a closed port returned a connection: {stream:?}")
        }
        Call::Panicked(message) => panic!("{}", panicked("connect", &message)),
        Call::StillRunning => panic!(
            "{DEADLINE_EXPIRED} after {DEADLINE:?}: connect(\"127.0.0.1\", {port}) did not \
             return, although the system refuses a connection to a port nobody listens on at \
             once"
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Step 2: send_all
// ---------------------------------------------------------------------------------------

#[test]
fn send_all_delivers_every_byte() {
    // 1,000,000 bytes to a server that reads until the client closes.
    let server = ScriptedServer::start(vec![Step::ReadToEnd]);
    let port = server.port();
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let sent = data.clone();
    Watchdog::new(DEADLINE)
        .hint("send_all did not return although the server reads everything")
        .watch(server.recording())
        .run(move || {
            let mut stream = test_client(port);
            send_all(&mut stream, &sent).expect("send_all failed");
            // Dropping the stream closes it: the server reads end-of-file.
        });

    let record = server
        .recording()
        .wait_for_end(DEADLINE)
        .expect("the server never saw the connection end");
    assert_eq!(
        record.bytes_in,
        data.len() as u64,
        "the server received {} of the {} bytes sent: did you ignore the count `write` returns? \
         use `write_all`\n{}",
        record.bytes_in,
        data.len(),
        server.recording().describe()
    );
    assert!(
        data.starts_with(&record.received),
        "the bytes arrived changed or out of order: the server got {}\n{}",
        show_bytes(&record.received),
        server.recording().describe()
    );
}

#[test]
fn send_all_does_not_stop_after_a_partial_write() {
    // This server never reads: after a few MiB the buffers are full and nothing more can be
    // sent. With a write timeout, a single `write` then returns a partial count; `write_all`
    // keeps going and reports the timeout as an error.
    let server = ScriptedServer::start(vec![Step::Stall]);
    let port = server.port();
    let result = Watchdog::new(DEADLINE)
        .hint("send_all kept going after the write timeout: return the error")
        .watch(server.recording())
        .run(move || {
            let mut stream = test_client(port);
            stream.set_write_timeout(Some(pause(200))).unwrap();
            send_all(&mut stream, &vec![b'x'; 64 << 20])
        });
    match result {
        Ok(()) => panic!(
            "send_all returned Ok for 64 MiB although the server read none of it: the system \
             only buffers a few MiB, so only part was sent. A single `write` may send just \
             part of the data (it returns how much it took); use `write_all` (or loop until \
             every byte is written)\n{}",
            server.recording().describe()
        ),
        Err(error) => assert!(
            is_timeout(&error),
            "expected the write timeout as the error, got: {error}"
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Step 3: receive_some
// ---------------------------------------------------------------------------------------

#[test]
fn receive_some_returns_what_one_read_gives() {
    // "HEL" first; "LO" only after the client has sent one byte back, so one read can only
    // ever see "HEL".
    let server = ScriptedServer::start(vec![
        Step::send("HEL"),
        Step::ReadExactly(1),
        Step::send("LO"),
        Step::Close,
    ]);
    let port = server.port();
    let result = Watchdog::new(DEADLINE)
        .hint(
            "receive_some did not return: it should make one read and return what it got; \
             the server has sent \"HEL\" and waits for you before sending more",
        )
        .watch(server.recording())
        .run(move || receive_some(&mut test_client(port), 1024));
    let got = result.unwrap_or_else(|error| {
        panic!(
            "receive_some(1024) failed: {error}. {}\n{}",
            explain_receive_some_error(b"HEL", &error),
            server.recording().describe()
        )
    });
    assert!(
        got == b"HEL",
        "receive_some(1024) returned {}; one read should give exactly what has arrived, \
         \"HEL\": {}\n{}",
        show_bytes(&got),
        explain_receive_some(b"HEL", &got, 1024),
        server.recording().describe()
    );
}

#[test]
fn receive_some_returns_at_most_max_bytes() {
    let server = ScriptedServer::start(vec![Step::send("HELLO, WORLD"), Step::Hold]);
    let port = server.port();
    let result = Watchdog::new(DEADLINE)
        .hint("receive_some(5) did not return although 12 bytes were waiting")
        .watch(server.recording())
        .run(move || receive_some(&mut test_client(port), 5));
    let got = result.unwrap_or_else(|error| {
        panic!(
            "receive_some(5) failed: {error}. {}\n{}",
            explain_receive_some_error(b"HELLO, WORLD", &error),
            server.recording().describe()
        )
    });
    assert!(
        !got.is_empty() && got.len() <= 5 && b"HELLO, WORLD".starts_with(&got),
        "receive_some(5) returned {}; expected 1 to 5 bytes from the start of \"HELLO, WORLD\": \
         {}\n{}",
        show_bytes(&got),
        explain_receive_some(b"HELLO, WORLD", &got, 5),
        server.recording().describe()
    );
}

#[test]
fn receive_some_returns_bytes_that_are_not_text_unchanged() {
    // A NUL, bytes that are not UTF-8 and a line ending: a connection carries bytes.
    let data = [0, 0xff, 0xc3, 0x28, b'\r', b'\n', 0xe9];
    let server = ScriptedServer::start(vec![Step::send(data), Step::Hold]);
    let port = server.port();
    let result = Watchdog::new(DEADLINE)
        .hint("receive_some(1024) did not return although 7 bytes were waiting")
        .watch(server.recording())
        .run(move || receive_some(&mut test_client(port), 1024));
    let got = result.unwrap_or_else(|error| {
        panic!(
            "receive_some(1024) failed: {error}. {}\n{}",
            explain_receive_some_error(&data, &error),
            server.recording().describe()
        )
    });
    assert!(
        !got.is_empty() && data.starts_with(&got),
        "the server sent {}; receive_some(1024) returned {}: {}\n{}",
        show_bytes(&data),
        show_bytes(&got),
        explain_receive_some(&data, &got, 1024),
        server.recording().describe()
    );
}

#[test]
fn receive_some_returns_nothing_once_the_server_has_closed() {
    let server = ScriptedServer::start(vec![Step::Close]);
    let port = server.port();
    let result = Watchdog::new(DEADLINE)
        .hint("receive_some did not return after the server closed: a read then returns 0")
        .watch(server.recording())
        .run(move || receive_some(&mut test_client(port), 1024));
    let got = result.unwrap_or_else(|error| {
        panic!(
            "receive_some(1024) failed: {error}. {}\n{}",
            explain_receive_some_error(b"", &error),
            server.recording().describe()
        )
    });
    assert!(
        got.is_empty(),
        "the server closed without sending anything, yet receive_some returned {}: {}\n{}",
        show_bytes(&got),
        explain_receive_some(b"", &got, 1024),
        server.recording().describe()
    );
}

// ---------------------------------------------------------------------------------------
// Step 4: receive_exactly
// ---------------------------------------------------------------------------------------

#[test]
fn receive_exactly_collects_a_message_sent_in_pieces() {
    // One byte at a time, then the server stays connected.
    let server = ScriptedServer::start(vec![
        Step::send_in_pieces("HELLO", 1, pause(20)),
        Step::Hold,
    ]);
    let port = server.port();
    let result = Watchdog::new(DEADLINE)
        .hint(
            "receive_exactly(5) did not return although all 5 bytes were sent: stop reading \
             once you have them (the server keeps the connection open)",
        )
        .watch(server.recording())
        .run(move || receive_exactly(&mut test_client(port), 5));
    let got = result.unwrap_or_else(|error| {
        let why = if is_timeout(&error) {
            format!(
                "It waited {REPLY_WAIT:?} for more and gave up (the test's connection has a \
                 read timeout), although all 5 bytes had arrived and the server keeps the \
                 connection open. Stop reading once you have 5 bytes: `read_to_end` (and a \
                 loop that reads until a read returns 0) waits for the server to close, which \
                 it does not do here"
            )
        } else {
            "The server sent all 5 bytes and kept the connection open: nothing went wrong on \
             its side"
                .to_string()
        };
        panic!(
            "receive_exactly(5) failed: {error}. {why}\n{}",
            server.recording().describe()
        )
    });
    assert!(
        got == b"HELLO",
        "receive_exactly(5) returned {}; the server sent \"HELLO\" one byte at a time, 20 ms \
         apart: {}\n{}",
        show_bytes(&got),
        explain_receive_exactly(b"HELLO", &got),
        server.recording().describe()
    );
}

#[test]
fn receive_exactly_reports_unexpected_eof_when_the_server_closes_early() {
    let server = ScriptedServer::start(vec![Step::send("HEL"), Step::Close]);
    let port = server.port();
    let result = Watchdog::new(DEADLINE)
        .hint(
            "receive_exactly(5) never returned after the server sent 3 bytes and closed: once \
             the server has closed, every read returns 0 at once, so a loop that reads again \
             after a read of 0 reads 0 forever (and keeps a processor core busy). Stop when a \
             read returns 0, with an UnexpectedEof error",
        )
        .watch(server.recording())
        .run(move || receive_exactly(&mut test_client(port), 5));
    match result {
        Ok(got) => panic!(
            "receive_exactly(5) returned Ok({}) although the server sent only \"HEL\" and \
             closed: {}\n{}",
            show_bytes(&got),
            explain_early_close(b"HEL", &got),
            server.recording().describe()
        ),
        Err(error) => assert_eq!(
            error.kind(),
            ErrorKind::UnexpectedEof,
            "receive_exactly(5) returned an error, which is right after an early close, but of \
             kind {:?} ({error}), expected UnexpectedEof: the caller tells an early close from \
             other failures by its kind. Make it `io::Error::new(io::ErrorKind::UnexpectedEof, \
             \"…\")` (read_exact does this for you)\n{}",
            error.kind(),
            server.recording().describe()
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Step 5: receive_until_closed
// ---------------------------------------------------------------------------------------

#[test]
fn receive_until_closed_keeps_reading_after_a_short_read() {
    let message = b"HELLO, WORLD\n";
    let server = ScriptedServer::start(vec![
        Step::send_in_pieces(message, 3, pause(30)),
        Step::Close,
    ]);
    let port = server.port();
    let result = Watchdog::new(DEADLINE)
        .hint(UNTIL_CLOSED_STUCK)
        .watch(server.recording())
        .run(move || receive_until_closed(&mut test_client(port)));
    let got = result.unwrap_or_else(|error| {
        panic!(
            "receive_until_closed failed: {error}. {}\n{}",
            explain_read_error(&error),
            server.recording().describe()
        )
    });
    assert!(
        got == message,
        "got {} of {}: {}\n{}",
        show_bytes(&got),
        show_bytes(message),
        explain_until_closed(
            message,
            &got,
            "the server sends 3 bytes at a time, 30 ms apart"
        ),
        server.recording().describe()
    );
}

#[test]
fn receive_until_closed_returns_everything_sent_before_the_close() {
    // 300,000 bytes of every value from 0 to 255, in one write, then the server closes.
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 256) as u8).collect();
    let server = ScriptedServer::start(vec![Step::Send(data.clone()), Step::Close]);
    let port = server.port();
    let result = Watchdog::new(DEADLINE)
        .hint(UNTIL_CLOSED_STUCK)
        .watch(server.recording())
        .run(move || receive_until_closed(&mut test_client(port)));
    let got = result.unwrap_or_else(|error| {
        panic!(
            "receive_until_closed failed: {error}. {}\n{}",
            explain_read_error(&error),
            server.recording().describe()
        )
    });
    assert!(
        got == data,
        "received {} bytes, expected {} (starting {}): {}\n{}",
        got.len(),
        data.len(),
        show_bytes(&got),
        explain_until_closed(&data, &got, "the server sent it all in one write"),
        server.recording().describe()
    );
}

// ---------------------------------------------------------------------------------------
// Step 6: echo_roundtrip
// ---------------------------------------------------------------------------------------

#[rstest]
#[case::text(b"hello\n".to_vec())]
#[case::binary_with_nul_and_invalid_utf8(vec![0, 255, 0, b'\r', 0xc3, 0x28, b'\n', 0])]
#[case::nothing_at_all(Vec::new())]
#[case::a_megabyte(vec![b'z'; 1 << 20])]
fn echo_roundtrip_returns_the_same_bytes(#[case] data: Vec<u8>) {
    let server = EchoServer::raw();
    let port = server.port();
    let sent = data.clone();
    let result = match call(ROUND_TRIP, move || echo_roundtrip("127.0.0.1", port, &sent)) {
        Call::Returned(result) => result,
        Call::Panicked(message) => panic!(
            "{}\n{}",
            panicked("echo_roundtrip", &message),
            server.recording().describe()
        ),
        Call::StillRunning => panic!(
            "{DEADLINE_EXPIRED} after {ROUND_TRIP:?}: echo_roundtrip did not return. {}\n{}",
            explain_stuck_roundtrip(server.recording(), data.len()),
            server.recording().describe()
        ),
    };
    let got = result.unwrap_or_else(|error| {
        panic!(
            "echo_roundtrip failed: {error}. {}\n{}",
            explain_roundtrip_error(&error),
            server.recording().describe()
        )
    });
    assert!(
        got == data,
        "sent {} ({} bytes), got back {} ({} bytes): {}\n{}",
        show_bytes(&data),
        data.len(),
        show_bytes(&got),
        got.len(),
        explain_roundtrip(&data, &got, server.recording()),
        server.recording().describe()
    );
}

#[test]
fn echo_roundtrip_reaches_the_host_it_is_given() {
    // As for connect: an echo server on ::1 (and, on Linux, on 127.0.0.2), nothing on
    // 127.0.0.1 at that port.
    for host in other_loopback_hosts() {
        let listener = TcpListener::bind((host, 0)).expect("binding a test server");
        let server = EchoServer::start(listener, Config::mode(Mode::Raw)).expect("a server");
        let addr = server.addr();
        let data = format!("hello over {host}\n").into_bytes();
        let sent = data.clone();
        let result = match call(ROUND_TRIP, move || echo_roundtrip(host, addr.port(), &sent)) {
            Call::Returned(result) => result,
            Call::Panicked(message) => panic!("{}", panicked("echo_roundtrip", &message)),
            Call::StillRunning => panic!(
                "{DEADLINE_EXPIRED} after {ROUND_TRIP:?}: echo_roundtrip(\"{host}\", {}, …) did \
                 not return. {}\n{}",
                addr.port(),
                explain_stuck_roundtrip(server.recording(), data.len()),
                server.recording().describe()
            ),
        };
        match result {
            Ok(got) => assert!(
                got == data,
                "sent {}, got back {}: {}\n{}",
                show_bytes(&data),
                show_bytes(&got),
                explain_roundtrip(&data, &got, server.recording()),
                server.recording().describe()
            ),
            Err(error) => panic!(
                "echo_roundtrip(\"{host}\", {}, …) failed although an echo server listens on \
                 {addr}: {error}. {}\n{}",
                addr.port(),
                explain_connect_error(host, addr, &error),
                server.recording().describe()
            ),
        }
    }
}

#[test]
fn echo_roundtrip_to_a_closed_port_is_an_error_not_a_panic() {
    let closed = ClosedPort::new().expect("a port nothing listens on");
    let port = closed.port();
    let result = match call(DEADLINE, move || echo_roundtrip("127.0.0.1", port, b"hi")) {
        Call::Returned(result) => result,
        Call::Panicked(message) => panic!("{}", panicked("echo_roundtrip", &message)),
        Call::StillRunning => panic!(
            "{DEADLINE_EXPIRED} after {DEADLINE:?}: echo_roundtrip to a port nobody listens on \
             did not return, although the system refuses such a connection at once"
        ),
    };
    assert!(
        result
            .as_ref()
            .is_err_and(|e| e.kind() == ErrorKind::ConnectionRefused),
        "expected a ConnectionRefused error, got {result:?}"
    );
}

// ---------------------------------------------------------------------------------------
// The test's own pieces: its connections, its servers, and how it runs your code. You need
// not read them to pass the tests; they are here so that you can.
// ---------------------------------------------------------------------------------------

/// A client connection made by the test itself, to exercise one receive or send function.
/// Its read timeout turns a read that would wait forever into an error.
fn test_client(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("the test's own connection failed");
    stream
        .set_read_timeout(Some(REPLY_WAIT))
        .expect("setting a read timeout");
    stream
}

fn pause(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// A read timeout is `WouldBlock` on Unix and `TimedOut` on Windows.
fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Loopback addresses other than 127.0.0.1 that this machine has, to catch code that
/// ignores the host it is given. With neither, 127.0.0.1 (and a note).
fn other_loopback_hosts() -> Vec<&'static str> {
    let mut hosts = Vec::new();
    if TcpListener::bind(("::1", 0)).is_ok() {
        hosts.push("::1");
    }
    if cfg!(target_os = "linux") && TcpListener::bind(("127.0.0.2", 0)).is_ok() {
        hosts.push("127.0.0.2");
    }
    if hosts.is_empty() {
        println!("note: this machine has neither ::1 nor 127.0.0.2, so only 127.0.0.1 is tried");
        hosts.push("127.0.0.1");
    }
    hosts
}

/// A silent server on every address the name `localhost` has, all with the same port, and
/// the name to connect to. Where the name cannot be looked up, one server on 127.0.0.1 and
/// that address (with a note).
fn servers_for_a_host_name() -> (&'static str, Vec<ScriptedServer>) {
    let name = "localhost";
    let mut ips: Vec<IpAddr> = match (name, 0).to_socket_addrs() {
        Ok(addrs) => addrs.map(|addr| addr.ip()).collect(),
        Err(error) => {
            println!("note: this machine cannot look up {name:?} ({error}): 127.0.0.1 is tried");
            Vec::new()
        }
    };
    ips.sort();
    ips.dedup();
    // An address the name has but this machine cannot use (::1 with IPv6 turned off) is
    // left out: a connect there fails, and the next address is tried.
    ips.retain(|ip| TcpListener::bind((*ip, 0)).is_ok());
    if ips.is_empty() {
        let server = ScriptedServer::silent();
        return ("127.0.0.1", vec![server]);
    }
    // The first listener gets a port from the system; the others must get the same one,
    // which another program may hold on their address: then try another port.
    for _ in 0..20 {
        let Ok(first) = TcpListener::bind((ips[0], 0)) else {
            continue;
        };
        let port = first.local_addr().expect("the listener's address").port();
        let mut listeners = vec![first];
        for ip in &ips[1..] {
            match TcpListener::bind((*ip, port)) {
                Ok(listener) => listeners.push(listener),
                Err(_) => break,
            }
        }
        if listeners.len() == ips.len() {
            let servers = listeners
                .into_iter()
                .map(|listener| ScriptedServer::start_on(listener, vec![Step::Hold]))
                .collect::<io::Result<Vec<_>>>()
                .expect("starting the test's servers");
            return (name, servers);
        }
    }
    panic!("could not listen on one port on every address of {name:?}: {ips:?}");
}

/// What one of your functions did, when [`call`] ran it.
enum Call<T> {
    /// It returned this.
    Returned(T),
    /// It panicked (a `todo!()`, an `unwrap`): " at FILE:LINE:COLUMN: MESSAGE", or
    /// ": MESSAGE" when where is not known.
    Panicked(String),
    /// It had not returned when the time was up. It is left running, and ends with the test
    /// program.
    StillRunning,
}

/// The name of the threads [`call`] runs your code on.
const YOUR_CODE: &str = "your code";

thread_local! {
    /// Where your code panicked (file, line and column), kept by the panic hook.
    static PANICKED_AT: Cell<Option<String>> = const { Cell::new(None) };
}

/// Runs `function` (a call of one of your functions) on a thread of its own and waits for it
/// up to `limit`, so that the test can say what it did even when it hangs or panics.
fn call<T: Send + 'static>(
    limit: Duration,
    function: impl FnOnce() -> T + Send + 'static,
) -> Call<T> {
    // A panic is printed where it happens, before the test can say anything, and the grader
    // shows the first panic of a test. So a panic of your code is not printed: the test's
    // own failure message gives it, with where it happened, and explains it.
    static QUIET: Once = Once::new();
    QUIET.call_once(|| {
        let print = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if thread::current().name() == Some(YOUR_CODE) {
                PANICKED_AT.set(info.location().map(ToString::to_string));
            } else {
                print(info);
            }
        }));
    });
    let (done, outcome) = mpsc::channel();
    thread::Builder::new()
        .name(YOUR_CODE.into())
        .spawn(move || {
            let result = panic::catch_unwind(AssertUnwindSafe(function)).map_err(|payload| {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|text| text.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(a panic without a message)".to_string());
                match PANICKED_AT.take() {
                    Some(place) => format!(" at {place}: {message}"),
                    None => format!(": {message}"),
                }
            });
            let _ = done.send(result);
        })
        .expect("starting a thread for your code");
    match outcome.recv_timeout(limit) {
        Ok(Ok(value)) => Call::Returned(value),
        Ok(Err(message)) => Call::Panicked(message),
        Err(RecvTimeoutError::Timeout) => Call::StillRunning,
        Err(RecvTimeoutError::Disconnected) => Call::Panicked(": the thread vanished".into()),
    }
}

// ---------------------------------------------------------------------------------------
// What went wrong, in a teacher's words, from what was observed
// ---------------------------------------------------------------------------------------

/// What the hint of a stuck `receive_until_closed` says: the server has closed, so only a
/// loop that goes on after a read of 0 can still be running.
const UNTIL_CLOSED_STUCK: &str = "receive_until_closed did not return, although the server \
    has closed (see the conversation below): once it has, every read returns 0 at once, so a \
    loop that reads again after a read of 0 never ends (and keeps a processor core busy). A \
    read of 0 is the end: stop there and return what you have (`read_to_end` does)";

/// Your function panicked (`message`, from [`Call::Panicked`]): what to say about it.
fn panicked(function: &str, message: &str) -> String {
    let refused = message.contains("ConnectionRefused") || message.contains("refused");
    let mut text = format!("{function} panicked{message}");
    if message.contains("AddrParseError") {
        text.push_str(
            "\nThe host and port were turned into one string and parsed as an address \
             (SocketAddr), which takes neither names (\"localhost\") nor an IPv6 address \
             without brackets (\"::1\"). Give TcpStream::connect the pair (host, port): it \
             takes addresses of both kinds, and names",
        );
    } else if refused {
        text.push_str(
            "\nThe connection was refused, and your code panicked instead of returning the \
             error. Nobody listening is an ordinary answer from the network, not a bug in your \
             program: hand the error back to the caller with `?` (or return the Result of \
             TcpStream::connect as it is) instead of `unwrap()` or `expect()`, which crash the \
             whole program",
        );
    }
    text
}

/// Why connecting to `host` (where a server listens on `server`) failed.
fn explain_connect_error(host: &str, server: SocketAddr, error: &io::Error) -> String {
    // A SocketAddr or IpAddr parse that failed, passed on as an io::Error.
    let not_an_address =
        error.kind() == ErrorKind::InvalidInput || error.to_string().contains("address syntax");
    match error.kind() {
        _ if not_an_address && host.contains(':') => format!(
            "{host:?} is an IPv6 address, with colons of its own: written together with its \
             port it needs brackets, \"[{host}]:{}\", so gluing host and port into one string \
             (`format!(\"{{host}}:{{port}}\")`) and parsing it as a SocketAddr breaks. Give \
             TcpStream::connect the pair (host, port): it takes addresses of both kinds, and \
             names",
            server.port()
        ),
        _ if not_an_address => format!(
            "{host:?} is a name, not an address: it must be looked up first, and a SocketAddr \
             (or IpAddr) parse takes addresses only. Give TcpStream::connect the pair (host, \
             port): it looks the name up and tries each address it has"
        ),
        ErrorKind::ConnectionRefused => format!(
            "The server on {server} saw no connection: yours went to another address, where \
             nothing listens on that port. Connect to the host you were given, not to an \
             address written in your code (like \"127.0.0.1\")"
        ),
        _ => "Connect to the pair (host, port) you were given: TcpStream::connect((host, port))"
            .to_string(),
    }
}

/// The bytes of U+FFFD, the replacement character: `String::from_utf8_lossy` puts it where
/// bytes are not UTF-8.
const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

/// Why the bytes that came back hold U+FFFD, when they do and the bytes sent did not.
fn lossy(sent: &[u8], got: &[u8]) -> Option<&'static str> {
    let holds = |bytes: &[u8]| bytes.windows(REPLACEMENT.len()).any(|w| w == REPLACEMENT);
    (holds(got) && !holds(sent)).then_some(
        "U+FFFD (the bytes \"\\xef\\xbf\\xbd\", the replacement character �) stands where the \
         bytes were not UTF-8: the data was converted through a lossy UTF-8 string \
         (`String::from_utf8_lossy`) on the way. A connection carries bytes, not text: keep \
         them as they are, in a `Vec<u8>`",
    )
}

/// "1 byte", "2 bytes", …
fn bytes(count: usize) -> String {
    format!("{count} byte{}", if count == 1 { "" } else { "s" })
}

/// Whether `bytes` are all zero (and there are some).
fn zeros(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&byte| byte == 0)
}

/// Why one read (`receive_some(max)`, with `arrived` waiting) returned `got`.
fn explain_receive_some(arrived: &[u8], got: &[u8], max: usize) -> String {
    if let Some(why) = lossy(arrived, got) {
        return why.to_string();
    }
    if got.is_empty() && !arrived.is_empty() {
        return format!(
            "nothing came back although {} had arrived and the connection is open: the read \
             had no room. A buffer made with `Vec::with_capacity(max)` (or `Vec::new()`) has \
             length 0, and a read into it returns 0 at once; make it `vec![0; max]`, {max} \
             bytes that the read can fill",
            show_bytes(arrived)
        );
    }
    if got.len() > max {
        return format!(
            "that is {} bytes, more than the {max} asked for: make the buffer `max` bytes long \
             (`vec![0; max]`), not a size of your own",
            got.len()
        );
    }
    let filled = got.len() - got.iter().rev().take_while(|&&byte| byte == 0).count();
    if got.len() == max && arrived.len() < max && zeros(&got[filled..]) {
        return format!(
            "that is the whole buffer: the bytes the read filled in, then {} zero bytes the \
             server never sent. `read` returns how many bytes it put in the buffer; keep only \
             those (`buffer.truncate(count)`){}",
            max - filled.min(arrived.len()),
            if arrived.is_empty() {
                ", here none: the read returned 0 because the server had closed"
            } else {
                ""
            }
        );
    }
    "make one read into a buffer of `max` bytes and return only the bytes it filled in".into()
}

/// Why `receive_some` failed although `arrived` was waiting (or, when empty, the server had
/// closed).
fn explain_receive_some_error(arrived: &[u8], error: &io::Error) -> String {
    if is_timeout(error) {
        return format!(
            "It waited {REPLY_WAIT:?} for more and gave up (the test's connection has a read \
             timeout), although {} had arrived: one `read` returns as soon as some bytes are \
             there. `read_to_end` and `read_exact` (or a loop of reads) wait for more: for the \
             end of the connection, or for the buffer to be full, and neither comes here",
            show_bytes(arrived)
        );
    }
    if error.kind() == ErrorKind::UnexpectedEof {
        return "The server had closed, and that is no error for receive_some: one `read` then \
                returns 0, and the answer is an empty vector. `read_exact` (or `read_to_end` \
                followed by a check) turns the end into an UnexpectedEof error: make one `read`"
            .into();
    }
    explain_read_error(error)
}

/// Why `receive_exactly(count)` of the message `sent` (all of it arrived, connection open)
/// returned `got`.
fn explain_receive_exactly(sent: &[u8], got: &[u8]) -> String {
    let filled = got.len() - got.iter().rev().take_while(|&&byte| byte == 0).count();
    let (start, rest) = got.split_at(filled);
    if start.is_empty() || (!rest.is_empty() && !zeros(rest)) || got.len() > sent.len() {
        return "keep reading until you have all the bytes asked for, and return only those".into();
    }
    if sent.starts_with(start) && start.len() < sent.len() {
        return format!(
            "only {}, what one read gave{}: one read returns whatever has arrived so far, here \
             {}. Keep reading until you have {} bytes (`read_exact` does), each read into the \
             part of the buffer not filled yet",
            bytes(start.len()),
            if rest.is_empty() {
                String::new()
            } else {
                format!(", then {} zero bytes the server never sent", rest.len())
            },
            bytes(start.len()),
            sent.len()
        );
    }
    if got.len() == sent.len() && start.iter().all(|byte| sent[1..].contains(byte)) {
        return format!(
            "the bytes are not where they belong: {} is what the last reads gave, at the \
             start, and the rest is zeros. Each read wrote at the start of the buffer again, \
             over what the read before it had put there: read into the part not filled yet, \
             `&mut buffer[filled..]` (`read_exact` does all of this)",
            show_bytes(start)
        );
    }
    "keep reading until you have all the bytes asked for, and return only those".into()
}

/// Why `receive_exactly` returned `got` as a success, when the server had sent only `sent`
/// and closed.
fn explain_early_close(sent: &[u8], got: &[u8]) -> String {
    let zeros_after = got.len() > sent.len() && got.starts_with(sent) && zeros(&got[sent.len()..]);
    if zeros_after {
        format!(
            "the {} bytes the server sent, then {} zero bytes it never sent. The server closed \
             early, and that must be an error of kind UnexpectedEof, not Ok: either a read of 0 \
             went unnoticed (one read is not enough: keep reading, and stop at a read of 0), or \
             read_exact's UnexpectedEof error was turned into Ok. Pass it on",
            sent.len(),
            got.len() - sent.len()
        )
    } else if got == sent {
        "only the bytes that came before the server closed: fewer bytes than asked for is no \
         success. When a read returns 0 before you have them all, return an error of kind \
         UnexpectedEof (read_exact does; do not turn its error into Ok)"
            .into()
    } else {
        "the server closed early: return an error of kind UnexpectedEof".into()
    }
}

/// Why `receive_until_closed` returned `got` when the server had sent `sent` (`how`) and
/// closed.
fn explain_until_closed(sent: &[u8], got: &[u8], how: &str) -> String {
    if let Some(why) = lossy(sent, got) {
        return why.to_string();
    }
    if got.is_empty() {
        return "nothing, although the server sent bytes before it closed: the first read \
                returned 0 at once. A read into a buffer of length 0 (`Vec::with_capacity`, \
                `Vec::new()`) does that; give it room: `vec![0; 4096]`"
            .into();
    }
    if sent.starts_with(got) {
        return format!(
            "only the first {} of the {} bytes the server sent before it closed: your code \
             stopped reading before the end. A short read (one shorter than your buffer) only \
             means that nothing more has arrived *yet* (here {how}). Only a read of 0 means \
             the server has closed: keep reading until then (`read_to_end` does)",
            got.len(),
            sent.len()
        );
    }
    if got.starts_with(sent) || got.len() > sent.len() {
        return format!(
            "{} bytes more than the server sent: keep only the bytes each read filled in \
             (`&buffer[..count]`), not the whole buffer",
            got.len() - sent.len()
        );
    }
    "collect every byte of every read, in order, until a read returns 0".into()
}

/// Why a read that should have worked failed.
fn explain_read_error(error: &io::Error) -> String {
    if error.kind() == ErrorKind::InvalidData {
        return "The server sent bytes that are not UTF-8 text, and your code read them as a \
                String: `read_to_string` and `String::from_utf8` fail on them. A connection \
                carries bytes: keep them in a `Vec<u8>` (`read_to_end`)"
            .into();
    }
    if is_timeout(error) {
        return format!(
            "A read waited {REPLY_WAIT:?} for bytes that never came (the test's connection has \
             a read timeout)"
        );
    }
    "Pass on only the errors of the reads themselves".into()
}

/// Why `echo_roundtrip` had not returned, from what the echo server saw: the client has not
/// closed its sending side, or the server has closed and the client keeps reading.
fn explain_stuck_roundtrip(recording: &Recording, sent: usize) -> String {
    let Some(record) = recording.last() else {
        return "The echo server saw no connection: connect to the host and port you were given"
            .into();
    };
    match &record.ended {
        None if record.bytes_in < sent as u64 => format!(
            "The echo server has received only {} of the {sent} bytes, and waits for the rest: \
             is your code still sending, or waiting for something before it sends the rest?",
            record.bytes_in
        ),
        None => format!(
            "Your code has not shut down its sending side: there is no FIN from the client in \
             the conversation below. The echo server {} and is waiting for more: it closes only \
             once it reads end-of-file. After sending, call `stream.shutdown(Shutdown::Write)`, \
             before reading the reply; then the server finishes and closes, and your reads end",
            if sent == 0 {
                "has received nothing (there was nothing to send)".to_string()
            } else {
                format!(
                    "received all {sent} bytes and sent back {}",
                    record.bytes_out
                )
            }
        ),
        Some((_, Ending::ClientClosed)) => format!(
            "Your code keeps reading after the server has closed: the client closed its sending \
             side, and the echo server sent back all {} bytes and closed the connection (see the \
             conversation below). From then on every read returns 0 at once, and a loop that \
             reads again after a read of 0 never ends (and keeps a processor core busy). A read \
             of 0 is the end: stop there",
            record.bytes_out
        ),
        Some((_, ending)) => format!("The echo server saw this end: {ending}"),
    }
}

/// Why `echo_roundtrip` returned `got` instead of `sent`, from what the echo server saw.
fn explain_roundtrip(sent: &[u8], got: &[u8], recording: &Recording) -> String {
    if let Some(why) = lossy(sent, got) {
        return why.to_string();
    }
    // Let the server's recording catch up with the end of the connection.
    let record = recording.wait_for_end(ARRIVAL);
    let (received, echoed) = record
        .as_ref()
        .map_or((0, 0), |record| (record.bytes_in, record.bytes_out));
    let half_closed = record
        .as_ref()
        .is_some_and(|record| matches!(record.ended, Some((_, Ending::ClientClosed))));
    if half_closed && received < sent.len() as u64 {
        return format!(
            "the echo server received only {received} of the {} bytes before the client closed \
             its sending side: send all of them (`write_all`, or your send_all) before the \
             shutdown",
            sent.len()
        );
    }
    if got.is_empty() {
        return format!(
            "the echo server received {received} bytes and sent back {echoed}, yet your reads \
             saw the end (a read of 0) before they had read any: either your reading side was \
             shut down (`Shutdown::Both` or `Shutdown::Read`: shut down only \
             `Shutdown::Write`, you are done sending, not receiving), or the reads went into a \
             buffer of length 0 (`Vec::with_capacity`)"
        );
    }
    if sent.starts_with(got) {
        let reset = if half_closed {
            ""
        } else {
            ", and it was still at work when your side closed the connection"
        };
        return format!(
            "the echo server received {received} bytes and sent back {echoed}{reset}; your \
             code returned after the first {} of the {} bytes: it stopped reading too early. \
             Read until the server closes (a read of 0, as your receive_until_closed does), \
             not once (`recv(4096)`) nor until a short read; and shut down only your writing \
             side (`Shutdown::Write`): after `Shutdown::Both` the rest of the reply is lost",
            got.len(),
            sent.len()
        );
    }
    if got.starts_with(sent) {
        return "more came back than was sent: keep only the bytes each read filled in".into();
    }
    "return exactly the bytes the server sent back, all of them".into()
}

/// Why `echo_roundtrip` failed with `error`.
fn explain_roundtrip_error(error: &io::Error) -> String {
    match error.kind() {
        ErrorKind::ConnectionReset => "The connection was reset while the echo was on its way \
            back. Linux does that when bytes arrive after the reading side was shut down: \
            `Shutdown::Both` (or `Shutdown::Read`) closes your reading side too. You are done \
            sending, not receiving: shut down only `Shutdown::Write`"
            .into(),
        ErrorKind::InvalidData => explain_read_error(error),
        _ => "Connect, send everything, shut down the writing side, read until the server \
              closes: only a refused connection or a broken network should fail here"
            .into(),
    }
}
