//! Graded tests for exercise 3 — `struct Connection`.
//!
//! Each test starts its own server from the lab harness on `127.0.0.1` (port chosen by the
//! system): the reference line server, or a *scripted* server that sends two lines in one
//! write, a line in pieces, bytes that are not UTF-8, closes instead of answering, or resets
//! the connection. Every test runs inside a watchdog: if your code hangs, the test fails
//! after a few seconds and says what the server saw.
//!
//! Run them with `cargo test -p ex03`; run one with `cargo test -p ex03 NAME`.

use std::io::ErrorKind;
use std::time::Duration;

use ex03::Connection;
use lab_harness::{EchoServer, Ending, ScriptedServer, Step, Watchdog, bind_loopback, show_bytes};
use rstest::rstest;

/// How long any one test may take. Generous: these take milliseconds when correct.
const DEADLINE: Duration = Duration::from_secs(10);

/// How long the server may take to see what the client did (a line arrive, the connection
/// end). On loopback it takes microseconds.
const PROMPTLY: Duration = Duration::from_secs(2);

/// Why a test that waits for a scripted server's answer may time out: these servers answer
/// only once they have received the test's message as a whole line.
const NO_ANSWER: &str = "receive_response did not return. This server answers only once it has \
     received your message as a whole line; below is what it received (nothing: send_message \
     did not flush; no \"\\r\\n\": the line ending is missing)";

fn pause(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn connect(port: u16) -> Connection {
    Connection::connect("127.0.0.1", port)
        .unwrap_or_else(|error| panic!("Connection::connect to 127.0.0.1 port {port}: {error}"))
}

/// Connects to `server`, sends "hi" and returns the first response, within the deadline.
fn say_hi_and_receive(server: &ScriptedServer) -> std::io::Result<String> {
    let port = server.port();
    Watchdog::new(DEADLINE)
        .hint(NO_ANSWER)
        .watch(server.recording())
        .run(move || {
            let mut connection = connect(port);
            connection.send_message("hi").expect("send_message failed");
            connection.receive_response()
        })
}

#[test]
fn a_whole_conversation_with_the_line_server() {
    let server = EchoServer::line();
    let port = server.port();
    let messages = ["hello", "", "héllo, wörld", "one more"];
    let replies = Watchdog::new(DEADLINE)
        .hint(
            "the conversation did not finish: did send_message end the line with \"\\r\\n\" \
             and flush it? The server answers only complete lines",
        )
        .watch(server.recording())
        .run(move || {
            let mut connection = connect(port);
            let mut replies = Vec::new();
            for message in messages {
                connection
                    .send_message(message)
                    .expect("send_message failed");
                replies.push(
                    connection
                        .receive_response()
                        .expect("receive_response failed"),
                );
            }
            connection.close().expect("close failed");
            replies
        });
    assert_eq!(
        replies,
        messages,
        "sent these messages to the line server one by one; it answers each line with the \
         same line, so each response should equal its message (without the line ending)\n{}",
        server.recording().describe()
    );
    let record = server.recording().last().expect("one connection");
    let expected = "hello\r\n\r\nhéllo, wörld\r\none more\r\n".as_bytes();
    assert!(
        record.received == expected,
        "the server received {}; expected {}: each message as one line ending in \"\\r\\n\"",
        show_bytes(&record.received),
        show_bytes(expected)
    );
}

#[test]
fn local_addr_and_peer_addr_are_the_socket_pair_the_server_saw() {
    let server = EchoServer::line();
    let port = server.port();
    // `_connection` (not `_`): kept open until the end of the test.
    let (_connection, local, peer) =
        Watchdog::new(DEADLINE)
            .watch(server.recording())
            .run(move || {
                let connection = connect(port);
                let local = connection.local_addr().expect("local_addr failed");
                let peer = connection.peer_addr().expect("peer_addr failed");
                (connection, local, peer)
            });
    let seen = server
        .recording()
        .wait_until(PROMPTLY, |connections| !connections.is_empty());
    assert!(seen, "{}", server.recording().describe());
    let record = server.recording().last().expect("one connection");
    assert_eq!(
        (local, peer),
        (record.peer, record.local),
        "(local_addr, peer_addr) should be the socket pair the server saw from its side, the \
         other way round: (its peer, its local address). local_addr is this end (the port \
         the system gave the client); peer_addr is the server's end ({})",
        server.addr()
    );
}

#[test]
fn close_lets_the_server_see_end_of_file_at_once() {
    let server = EchoServer::line();
    let port = server.port();
    Watchdog::new(DEADLINE)
        .hint(
            "the conversation before the close did not finish: the line server answers only \
             complete lines; did send_message end the line with \"\\r\\n\" and flush it?",
        )
        .watch(server.recording())
        .run(move || {
            let mut connection = connect(port);
            connection.send_message("bye").expect("send_message failed");
            let reply = connection
                .receive_response()
                .expect("receive_response failed");
            assert_eq!(reply, "bye", "the line server's answer to \"bye\"");
            connection.close().expect("close failed");
            // `connection` is gone: close took it. Nothing of it is left in this test.
        });
    let Some(record) = server.recording().wait_for_end(PROMPTLY) else {
        panic!(
            "{PROMPTLY:?} after close returned, the server still sees the connection open: \
             some handle to the socket is still alive. A socket closes only when its last \
             handle (every `try_clone`) is dropped; shut it down in close \
             (`shutdown(Shutdown::Both)`) and keep no copy of it anywhere else\n{}",
            server.recording().describe()
        )
    };
    let ending = record.ended.map(|(_, ending)| ending);
    assert_eq!(
        ending,
        Some(Ending::ClientClosed),
        "the server should read end-of-file (a clean close)\n{}",
        server.recording().describe()
    );
}

#[test]
fn send_message_flushes_each_message_at_once() {
    // A silent server: it records what arrives and never answers.
    let server = ScriptedServer::silent();
    let port = server.port();
    let _connection = Watchdog::new(DEADLINE)
        .hint("send_message did not return although the server reads everything")
        .watch(server.recording())
        .run(move || {
            let mut connection = connect(port);
            connection
                .send_message("hello")
                .expect("send_message failed");
            // Kept open while the server is checked: closing would flush a forgotten buffer
            // and hide the mistake.
            connection
        });
    let arrived = server.recording().wait_until(PROMPTLY, |connections| {
        connections.last().is_some_and(|c| c.received.len() >= 7)
    });
    let received = server
        .recording()
        .last()
        .map(|c| c.received)
        .unwrap_or_default();
    assert!(
        arrived && received == b"hello\r\n",
        "{PROMPTLY:?} after send_message(\"hello\") returned, the server had received {}; \
         expected \"hello\\r\\n\". {}",
        show_bytes(&received),
        if received.is_empty() {
            "Nothing arrived: the writer keeps what you write until it is flushed. Did you \
             flush?"
        } else {
            "Each message is one line ending in \"\\r\\n\", flushed at once"
        }
    );
}

#[rstest]
#[case::crlf("hello\r\n", "hello")]
#[case::lf_only("hello\n", "hello")]
#[case::an_empty_line("\r\n", "")]
fn receive_response_returns_the_line_without_its_ending(
    #[case] sent: &'static str,
    #[case] expected: &'static str,
) {
    let server = ScriptedServer::start(vec![Step::ReadLine, Step::send(sent), Step::Hold]);
    let got = say_hi_and_receive(&server).expect("receive_response failed");
    assert_eq!(
        got,
        expected,
        "the server answered {}; receive_response returned {}: strip the \"\\n\" and a \"\\r\" \
         before it, nothing else",
        show_bytes(sent.as_bytes()),
        show_bytes(got.as_bytes())
    );
}

#[test]
fn receive_response_keeps_the_second_of_two_lines_sent_in_one_write() {
    // Two lines in one write: they arrive together, and the reader keeps the second one in
    // its buffer. Then the server closes.
    let server = ScriptedServer::start(vec![
        Step::ReadLine,
        Step::send("one\r\ntwo\r\n"),
        Step::Close,
    ]);
    let port = server.port();
    let (first, second) = Watchdog::new(DEADLINE)
        .hint(NO_ANSWER)
        .watch(server.recording())
        .run(move || {
            let mut connection = connect(port);
            connection.send_message("hi").expect("send_message failed");
            let first = connection.receive_response();
            let second = connection.receive_response();
            (first, second)
        });
    let first = first.expect("the first receive_response failed");
    assert_eq!(
        first, "one",
        "the first of the lines \"one\\r\\ntwo\\r\\n\""
    );
    match second {
        Ok(line) if line == "two" => {}
        Err(error) if error.kind() == ErrorKind::UnexpectedEof => panic!(
            "the server sent \"one\\r\\ntwo\\r\\n\" in one write; the first receive_response \
             gave \"one\", the second found the connection at its end: the line \"two\" was \
             lost. It had arrived together with \"one\" and was waiting in a BufReader's \
             buffer. Keep one reader in the struct and read from it every time; a new \
             BufReader per call throws away what the previous one read ahead"
        ),
        other => panic!(
            "the server sent \"one\\r\\ntwo\\r\\n\" in one write; the second receive_response \
             returned {other:?}, expected Ok(\"two\")"
        ),
    }
}

#[test]
fn receive_response_collects_a_line_that_arrives_in_pieces() {
    let line = "HELLO, WORLD\r\n";
    let server = ScriptedServer::start(vec![
        Step::ReadLine,
        Step::send_in_pieces(line, 3, pause(20)),
        Step::Hold,
    ]);
    let got = say_hi_and_receive(&server).expect("receive_response failed");
    assert_eq!(
        got,
        "HELLO, WORLD",
        "the server sent {} in pieces of 3 bytes, 20 ms apart. One read gives whatever has \
         arrived so far: read up to the \"\\n\" (BufRead::read_line does)",
        show_bytes(line.as_bytes())
    );
}

#[test]
fn receive_response_after_the_server_closed_is_an_unexpected_eof_error() {
    let server = ScriptedServer::start(vec![Step::ReadLine, Step::Close]);
    let port = server.port();
    let results = Watchdog::new(DEADLINE)
        .hint(
            "receive_response did not return. This server closes the connection once it has \
             received your message as a whole line (see below what it received: nothing means \
             send_message did not flush). After that, a read returns 0 bytes at once, every \
             time: that is the end, not a reason to read again",
        )
        .watch(server.recording())
        .run(move || {
            let mut connection = connect(port);
            connection.send_message("hi").expect("send_message failed");
            [connection.receive_response(), connection.receive_response()]
        });
    for result in results {
        match result {
            Err(error) if error.kind() == ErrorKind::UnexpectedEof => {}
            Err(error) => panic!(
                "the server closed instead of answering; expected an UnexpectedEof error, got: \
                 {error} ({:?})",
                error.kind()
            ),
            Ok(line) => panic!(
                "the server closed instead of answering, yet receive_response returned \
                 Ok({line:?}). BufRead::read_line reads 0 bytes at end of input and leaves the \
                 string empty: return an UnexpectedEof error then"
            ),
        }
    }
}

#[test]
fn receive_response_reports_bytes_that_are_not_utf8_as_invalid_data() {
    // "café" in Latin-1: the é is the single byte 0xE9, which is not valid UTF-8.
    let sent = b"caf\xe9\r\n";
    let server = ScriptedServer::start(vec![Step::ReadLine, Step::send(sent), Step::Hold]);
    let result = say_hi_and_receive(&server);
    match result {
        Err(error) => assert_eq!(
            error.kind(),
            ErrorKind::InvalidData,
            "expected an error of kind InvalidData, got: {error}"
        ),
        Ok(line) => panic!(
            "the server sent {}, which is not UTF-8, and receive_response returned Ok({line:?}): \
             report the error (BufRead::read_line returns one of kind InvalidData)",
            show_bytes(sent)
        ),
    }
}

#[test]
fn connect_to_a_port_nobody_listens_on_is_an_error_not_a_panic() {
    // Bind a port and close it again: now nobody listens there.
    let port = bind_loopback().unwrap().local_addr().unwrap().port();
    let result = Watchdog::new(DEADLINE).run(move || Connection::connect("127.0.0.1", port));
    match result {
        Err(error) => assert_eq!(
            error.kind(),
            ErrorKind::ConnectionRefused,
            "expected the connection to be refused, got: {error}"
        ),
        Ok(connection) => panic!("connect to a closed port returned a connection: {connection:?}"),
    }
}

#[test]
fn a_connection_the_server_resets_gives_errors_not_panics() {
    // The server aborts the connection at once: the client's reads and writes fail.
    let server = ScriptedServer::start(vec![Step::Reset]);
    let port = server.port();
    let (received, sent) = Watchdog::new(DEADLINE)
        .hint("receive_response did not return after the server reset the connection")
        .watch(server.recording())
        .run(move || {
            let mut connection = connect(port);
            // The read waits for the reset to arrive; after it, writes fail too.
            let received = connection.receive_response();
            let sent = connection.send_message("anyone there?");
            // Closing what the server already aborted must not panic either (its result
            // does not matter here).
            let _ = connection.close();
            (received, sent)
        });
    assert!(
        received.is_err(),
        "the server reset the connection, yet receive_response returned {received:?}"
    );
    assert!(
        sent.is_err(),
        "the server had reset the connection, yet send_message returned {sent:?}: did it \
         write without flushing? An unflushed line is never sent, so its failure is never seen"
    );
}
