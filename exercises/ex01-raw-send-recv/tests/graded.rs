//! Graded tests for exercise 1 — raw send and receive.
//!
//! Each test starts its own server from the lab harness on `127.0.0.1` with a port the
//! system picks: the reference echo server, or a *scripted* server that behaves in one
//! particular way (sends a reply in pieces, closes early, never reads, …) so that one classic
//! mistake shows up every time. Every test runs inside a watchdog: if your code hangs, the
//! test fails after a few seconds and says what the server saw.
//!
//! Run them with `cargo test -p ex01`; run one with `cargo test -p ex01 NAME`.

use std::io::ErrorKind;
use std::net::TcpStream;
use std::time::Duration;

use ex01::{
    connect, echo_roundtrip, receive_exactly, receive_some, receive_until_closed, send_all,
};
use lab_harness::{EchoServer, ScriptedServer, Step, Watchdog, bind_loopback, show_bytes};
use rstest::rstest;

/// How long any one test may take. Generous: these take milliseconds when correct.
const DEADLINE: Duration = Duration::from_secs(10);

/// A client connection made by the test itself, to exercise one receive or send function.
fn test_client(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port)).expect("the test's own connection failed")
}

fn pause(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

#[test]
fn connect_reaches_a_listening_server() {
    let server = EchoServer::line();
    let port = server.port();
    let stream = Watchdog::new(DEADLINE)
        .hint("connect did not return: does it wait for something after connecting?")
        .watch(server.recording())
        .run(move || connect("127.0.0.1", port));
    let stream = stream.unwrap_or_else(|error| {
        panic!("connect(\"127.0.0.1\", {port}) failed although a server listens there: {error}")
    });

    let seen = server
        .recording()
        .wait_until(DEADLINE, |connections| !connections.is_empty());
    assert!(seen, "{}", server.recording().describe());
    let ours = stream
        .local_addr()
        .expect("local_addr of the returned stream");
    let theirs = server.recording().last().expect("one connection").peer;
    assert_eq!(
        ours, theirs,
        "the stream connect returned is not the connection the server accepted"
    );
}

#[test]
fn connect_to_a_port_nobody_listens_on_is_an_error_not_a_panic() {
    // Bind a port and close it again: now nobody listens there.
    let port = bind_loopback().unwrap().local_addr().unwrap().port();
    let result = Watchdog::new(DEADLINE).run(move || connect("127.0.0.1", port));
    match result {
        Err(error) => assert_eq!(
            error.kind(),
            ErrorKind::ConnectionRefused,
            "expected the connection to be refused, got: {error}"
        ),
        Ok(stream) => panic!("connect to a closed port returned a connection: {stream:?}"),
    }
}

#[test]
fn send_all_delivers_every_byte() {
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
         use `write_all`",
        record.bytes_in,
        data.len()
    );
    assert!(
        data.starts_with(&record.received),
        "the bytes arrived changed or out of order: the server got {}",
        show_bytes(&record.received)
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
        .run(move || {
            let mut stream = test_client(port);
            stream.set_write_timeout(Some(pause(200))).unwrap();
            send_all(&mut stream, &vec![b'x'; 64 << 20])
        });
    match result {
        Ok(()) => panic!(
            "send_all returned Ok for 64 MiB although the server read none of it: the system \
             only buffers a few MiB, so only part was sent. A single `write` may send just \
             part of the data; use `write_all` (or loop until every byte is written)"
        ),
        Err(error) => assert!(
            matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "expected the write timeout as the error, got: {error}"
        ),
    }
}

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
    let first = Watchdog::new(DEADLINE)
        .hint(
            "receive_some did not return: it should make one read and return what it got; \
             the server has sent \"HEL\" and waits for you before sending more",
        )
        .watch(server.recording())
        .run(move || {
            let mut stream = test_client(port);
            receive_some(&mut stream, 1024)
        })
        .expect("receive_some failed");
    assert_eq!(
        first,
        b"HEL",
        "receive_some(1024) returned {}; one read should give exactly what has arrived",
        show_bytes(&first)
    );
}

#[test]
fn receive_some_returns_at_most_max_bytes() {
    let server = ScriptedServer::start(vec![Step::send("HELLO, WORLD"), Step::Hold]);
    let port = server.port();
    let got = Watchdog::new(DEADLINE)
        .hint("receive_some(5) did not return although 12 bytes were waiting")
        .run(move || receive_some(&mut test_client(port), 5))
        .expect("receive_some failed");
    assert!(
        !got.is_empty() && got.len() <= 5 && b"HELLO, WORLD".starts_with(&got),
        "receive_some(5) returned {}; expected 1 to 5 bytes from the start of \"HELLO, WORLD\": \
         make the buffer `max` bytes long and keep only the bytes the read filled in",
        show_bytes(&got)
    );
}

#[test]
fn receive_some_returns_nothing_once_the_server_has_closed() {
    let server = ScriptedServer::start(vec![Step::Close]);
    let port = server.port();
    let got = Watchdog::new(DEADLINE)
        .hint("receive_some did not return after the server closed: a read then returns 0")
        .run(move || receive_some(&mut test_client(port), 1024))
        .expect("receive_some failed");
    assert!(
        got.is_empty(),
        "the server closed without sending anything, yet receive_some returned {}: return only \
         the bytes the read filled in (it returned 0)",
        show_bytes(&got)
    );
}

#[test]
fn receive_exactly_collects_a_message_sent_in_pieces() {
    // One byte at a time, then the server stays connected.
    let server = ScriptedServer::start(vec![
        Step::send_in_pieces("HELLO", 1, pause(20)),
        Step::Hold,
    ]);
    let port = server.port();
    let got = Watchdog::new(DEADLINE)
        .hint(
            "receive_exactly(5) did not return although all 5 bytes were sent: stop reading \
             once you have them (the server keeps the connection open)",
        )
        .watch(server.recording())
        .run(move || receive_exactly(&mut test_client(port), 5))
        .expect("receive_exactly failed");
    assert_eq!(
        got,
        b"HELLO",
        "receive_exactly(5) returned {}; the server sent \"HELLO\" one byte at a time, and one \
         read returns whatever has arrived so far: keep reading until you have 5 bytes",
        show_bytes(&got)
    );
}

#[test]
fn receive_exactly_reports_unexpected_eof_when_the_server_closes_early() {
    let server = ScriptedServer::start(vec![Step::send("HEL"), Step::Close]);
    let port = server.port();
    let result = Watchdog::new(DEADLINE)
        .hint(
            "receive_exactly(5) never returned after the server sent 3 bytes and closed: a read \
             that returns 0 means the server closed, so looping again reads 0 forever",
        )
        .run(move || receive_exactly(&mut test_client(port), 5));
    match result {
        Ok(got) => panic!(
            "receive_exactly(5) returned Ok({}) although the server sent only \"HEL\" and \
             closed: return an UnexpectedEof error",
            show_bytes(&got)
        ),
        Err(error) => assert_eq!(
            error.kind(),
            ErrorKind::UnexpectedEof,
            "expected UnexpectedEof, got: {error}"
        ),
    }
}

#[test]
fn receive_until_closed_keeps_reading_after_a_short_read() {
    let message = "HELLO, WORLD\n";
    let server = ScriptedServer::start(vec![
        Step::send_in_pieces(message, 3, pause(30)),
        Step::Close,
    ]);
    let port = server.port();
    let got = Watchdog::new(DEADLINE)
        .hint("receive_until_closed did not return after the server closed: stop at a read of 0")
        .run(move || receive_until_closed(&mut test_client(port)))
        .expect("receive_until_closed failed");
    assert_eq!(
        got,
        message.as_bytes(),
        "got {} of {}: the server sent it in pieces of 3 bytes. A read shorter than your \
         buffer only means nothing more has arrived *yet*; only a read of 0 means closed",
        show_bytes(&got),
        show_bytes(message.as_bytes())
    );
}

#[test]
fn receive_until_closed_returns_everything_sent_before_the_close() {
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 256) as u8).collect();
    let server = ScriptedServer::start(vec![Step::Send(data.clone()), Step::Close]);
    let port = server.port();
    let got = Watchdog::new(DEADLINE)
        .hint("receive_until_closed did not return after the server closed: stop at a read of 0")
        .run(move || receive_until_closed(&mut test_client(port)))
        .expect("receive_until_closed failed");
    assert!(
        got == data,
        "received {} bytes, expected {} (starting {})",
        got.len(),
        data.len(),
        show_bytes(&got)
    );
}

#[rstest]
#[case::text(b"hello\n".to_vec())]
#[case::binary_with_nul_and_invalid_utf8(vec![0, 255, 0, b'\r', 0xc3, 0x28, b'\n', 0])]
#[case::nothing_at_all(Vec::new())]
#[case::a_megabyte(vec![b'z'; 1 << 20])]
fn echo_roundtrip_returns_the_same_bytes(#[case] data: Vec<u8>) {
    let server = EchoServer::raw();
    let port = server.port();
    let sent = data.clone();
    let got = Watchdog::new(DEADLINE)
        .hint(
            "echo_roundtrip did not return. The raw echo server closes only after it reads \
             end-of-file: did you shut down the write side after sending?",
        )
        .watch(server.recording())
        .run(move || echo_roundtrip("127.0.0.1", port, &sent))
        .expect("echo_roundtrip failed");
    assert!(
        got == data,
        "sent {} ({} bytes), got back {} ({} bytes)\n{}",
        show_bytes(&data),
        data.len(),
        show_bytes(&got),
        got.len(),
        server.recording().describe()
    );
}

#[test]
fn echo_roundtrip_to_a_closed_port_is_an_error_not_a_panic() {
    let port = bind_loopback().unwrap().local_addr().unwrap().port();
    let result = Watchdog::new(DEADLINE).run(move || echo_roundtrip("127.0.0.1", port, b"hi"));
    assert!(
        result
            .as_ref()
            .is_err_and(|e| e.kind() == ErrorKind::ConnectionRefused),
        "expected a ConnectionRefused error, got {result:?}"
    );
}
