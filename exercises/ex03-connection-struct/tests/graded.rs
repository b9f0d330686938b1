//! Graded tests for exercise 3 — `struct Connection`.
//!
//! Each test starts its own server from the lab harness on `127.0.0.1` (port chosen by the
//! system): the reference line server, a *silent* server that records what arrives and never
//! answers, or a *scripted* server that answers in one particular way: two lines in one
//! write, a line in pieces, bytes that are not UTF-8, more lines than you read, a close
//! instead of an answer, or a reset. Every test runs inside a watchdog: if your code hangs,
//! the test fails after a few seconds and says why, from what the server had seen by then.
//!
//! When a test fails, its message says what was observed, names the most likely mistake, and
//! shows the conversation on the wire (what the server received and sent, and when).
//!
//! The tests come first, after four small helpers they share. The test's own machinery (how
//! it reads the signature of `close`, and the explanations of what went wrong) is at the end
//! of this file; you need not read it to pass the tests.
//!
//! Run them with `cargo test -p ex03`; run one with `cargo test -p ex03 NAME`.

// This file also grades the reference solution (package ex03-solution), whose library is
// named `ex03_solution`: there this line makes `ex03` mean it.
#[cfg(netlab_solution)]
extern crate ex03_solution as ex03;

use std::io::{self, ErrorKind};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use ex03::Connection;
use lab_harness::{
    ClosedPort, ConnectionRecord, EchoServer, Ending, ExplainedWatchdog, Recording, ScriptedServer,
    Step, Watchdog, show_bytes,
};
use rstest::rstest;

/// How long any one test may take. A correct answer takes milliseconds; this leaves room for
/// a slow, busy machine.
const DEADLINE: Duration = Duration::from_secs(5);

/// How long the server may take to see what the client did (a line arrive, the connection
/// end). On loopback it takes microseconds; a line still missing after this is sitting in a
/// buffer.
const PROMPTLY: Duration = Duration::from_secs(2);

fn connect(port: u16) -> Connection {
    Connection::connect("127.0.0.1", port)
        .unwrap_or_else(|error| panic!("Connection::connect to 127.0.0.1 port {port}: {error}"))
}

/// A watchdog for a conversation with a harness server: if your code is still stuck when the
/// deadline passes, the failure says why, from what the server had seen by then (see
/// [`why_stuck`]).
fn watchdog(recording: &Recording) -> ExplainedWatchdog {
    let seen = recording.clone();
    ExplainedWatchdog::new(DEADLINE)
        .watch(recording)
        .explain(move || why_stuck(&seen))
}

/// Connects to `server`, sends "hi" and returns the first response.
fn say_hi_and_receive(server: &ScriptedServer) -> io::Result<String> {
    let port = server.port();
    watchdog(server.recording()).run(move || {
        let mut connection = connect(port);
        connection.send_message("hi").expect("send_message failed");
        connection.receive_response()
    })
}

/// Sends "bye", expects "bye" back (the first line of `answer`, what the server sends),
/// closes, and waits for the server to see the connection end. It waits here, inside the
/// test's body, where a connection that `close` only borrowed would still be alive.
fn bye_then_close(
    port: u16,
    recording: Recording,
    answer: &str,
) -> Result<Option<ConnectionRecord>, String> {
    let mut connection = connect(port);
    connection.send_message("bye").expect("send_message failed");
    let reply = connection
        .receive_response()
        .map_err(|error| format!("sent \"bye\"; receive_response failed: {error}"))?;
    if reply != "bye" {
        return Err(format!(
            "the server answered {}; receive_response returned {}: {}",
            show_bytes(answer.as_bytes()),
            show_bytes(reply.as_bytes()),
            explain_line(answer.as_bytes(), "bye", &reply)
        ));
    }
    connection.close().expect("close failed");
    Ok(recording.wait_for_end(PROMPTLY))
}

// ---------------------------------------------------------------------------------------
// A whole conversation, and connecting
// ---------------------------------------------------------------------------------------

#[test]
fn a_whole_conversation_with_the_line_server() {
    // The line server answers each line with the same line. Spaces and tabs are part of a
    // message: they go to the server, and come back, exactly.
    let server = EchoServer::line();
    let port = server.port();
    let messages = [
        "hello",
        "",
        "  two spaces before, two after  ",
        "\ta tab at both ends\t",
        "héllo, wörld",
        "one more",
    ];
    let replies = watchdog(server.recording()).run(move || {
        let mut connection = connect(port);
        let mut replies = Vec::new();
        for message in messages {
            connection
                .send_message(message)
                .expect("send_message failed");
            match connection.receive_response() {
                Ok(reply) => replies.push(reply),
                Err(error) => {
                    return Err(format!(
                        "sent {message:?} to the line server; receive_response failed: {error}"
                    ));
                }
            }
        }
        connection.close().expect("close failed");
        Ok(replies)
    });
    let replies =
        replies.unwrap_or_else(|error| panic!("{error}\n{}", server.recording().describe()));
    // What crossed the wire first (the cause), then what came back (the effect).
    let expected: String = messages.iter().map(|m| format!("{m}\r\n")).collect();
    let record = server.recording().last().expect("one connection");
    assert!(
        record.received == expected.as_bytes(),
        "the server received {}; expected {}: each message as one line ending in \"\\r\\n\". \
         {}\n{}",
        show_bytes(&record.received),
        show_bytes(expected.as_bytes()),
        explain_sent(expected.as_bytes(), &record.received),
        server.recording().describe()
    );
    for (message, reply) in messages.iter().zip(&replies) {
        assert!(
            reply == message,
            "sent {} to the line server, which answers each line with the same line; \
             receive_response returned {}: {}\n{}",
            show_bytes(message.as_bytes()),
            show_bytes(reply.as_bytes()),
            explain_line(format!("{message}\r\n").as_bytes(), message, reply),
            server.recording().describe()
        );
    }
    assert_eq!(
        server.recording().totals().connections,
        1,
        "Connection::connect must open one connection, and the reader and the writer use it \
         too (`try_clone`): you connected twice\n{}",
        server.recording().describe()
    );
}

#[test]
fn connect_reaches_the_host_it_is_given() {
    // A server on the IPv6 loopback address ::1 and, on Linux (where all of 127.x.x.x is this
    // machine), one on 127.0.0.2: connect must go to the host it is given, not to 127.0.0.1.
    let mut hosts = other_loopback_hosts();
    if hosts.is_empty() {
        println!("note: this machine has neither ::1 nor 127.0.0.2, so only 127.0.0.1 is tried");
        hosts.push("127.0.0.1");
    }
    for host in hosts {
        let listener = TcpListener::bind((host, 0)).expect("binding a port for the test server");
        let server =
            ScriptedServer::start_on(listener, vec![Step::Hold]).expect("starting the test server");
        let addr = server.addr();
        // `_connection`: kept open until the server has been asked what it saw.
        let _connection = Watchdog::new(DEADLINE)
            .watch(server.recording())
            .run(move || Connection::connect(host, addr.port()))
            .unwrap_or_else(|error| panic!("{}", connect_failed(host, addr, &error)));
        let seen = server
            .recording()
            .wait_until(PROMPTLY, |connections| !connections.is_empty());
        assert!(
            seen,
            "Connection::connect({host:?}, {}) returned a connection, but the server listening \
             on {addr} saw none: your connect went somewhere else. Connect to the host you \
             were given, `TcpStream::connect((host, port))`",
            addr.port()
        );
    }
}

#[test]
fn connect_to_a_port_nobody_listens_on_is_an_error_not_a_panic() {
    // A port that is bound but not listening: every connect to it is refused at once.
    let closed = ClosedPort::new().expect("a port where nothing listens");
    let port = closed.port();
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

// ---------------------------------------------------------------------------------------
// send_message
// ---------------------------------------------------------------------------------------

#[rstest]
#[case::a_word("hello")]
#[case::an_empty_message("")]
#[case::spaces_and_accents("héllo, wörld !")]
#[case::spaces_and_tabs_at_both_ends("  \tindented, and spaces after  ")]
fn send_message_flushes_each_message_at_once(#[case] message: &'static str) {
    // A silent server: it records what arrives and never answers, so nothing but your flush
    // can make the line leave.
    let server = ScriptedServer::silent();
    let port = server.port();
    let _connection = watchdog(server.recording()).run(move || {
        let mut connection = connect(port);
        connection
            .send_message(message)
            .expect("send_message failed");
        // Kept open while the server is checked: closing would flush a forgotten buffer and
        // hide the mistake.
        connection
    });
    let expected = format!("{message}\r\n");
    // Wait for the whole line, or for a line ending that comes too early.
    let arrived = server.recording().wait_until(PROMPTLY, |connections| {
        connections
            .iter()
            .any(|c| c.received.len() >= expected.len() || c.received.ends_with(b"\n"))
    });
    assert!(
        server.recording().totals().connections <= 1,
        "{}\n{}",
        connected_twice(server.recording()),
        server.recording().describe()
    );
    let received = server
        .recording()
        .last()
        .map(|c| c.received)
        .unwrap_or_default();
    assert!(
        arrived,
        "{PROMPTLY:?} after send_message({message:?}) returned, the server had received {}: \
         {}\n{}",
        show_bytes(&received),
        explain_sent(expected.as_bytes(), &received),
        server.recording().describe()
    );
    assert!(
        received == expected.as_bytes(),
        "send_message({message:?}) sent {}; expected {} (the message exactly, then \
         \"\\r\\n\"): {}\n{}",
        show_bytes(&received),
        show_bytes(expected.as_bytes()),
        explain_sent(expected.as_bytes(), &received),
        server.recording().describe()
    );
}

// ---------------------------------------------------------------------------------------
// receive_response
// ---------------------------------------------------------------------------------------

#[rstest]
#[case::crlf("hello\r\n", "hello")]
#[case::lf_only("hello\n", "hello")]
#[case::an_empty_line("\r\n", "")]
#[case::carriage_return_inside_the_line("a\rb\r\n", "a\rb")]
#[case::utf8_text("grüße, 世界\r\n", "grüße, 世界")]
#[case::spaces_at_both_ends(
    "  two spaces before, two after  \r\n",
    "  two spaces before, two after  "
)]
#[case::tabs_at_both_ends("\tbetween tabs\t\r\n", "\tbetween tabs\t")]
#[case::only_spaces("   \r\n", "   ")]
#[case::a_space_before_an_lf_ending("a space at the end \n", "a space at the end ")]
fn receive_response_returns_the_line_without_its_ending(
    #[case] sent: &'static str,
    #[case] expected: &'static str,
) {
    // After your message, the server answers one line and keeps the connection open. The
    // line comes back exactly, spaces and tabs included: only its ending goes.
    let server = ScriptedServer::start(vec![Step::ReadLine, Step::send(sent), Step::Hold]);
    let got = say_hi_and_receive(&server).unwrap_or_else(|error| {
        panic!(
            "the server answered {} and receive_response failed: {error}\n{}",
            show_bytes(sent.as_bytes()),
            server.recording().describe()
        )
    });
    assert!(
        got == expected,
        "the server answered {}; receive_response returned {}, expected {}: {}\n{}",
        show_bytes(sent.as_bytes()),
        show_bytes(got.as_bytes()),
        show_bytes(expected.as_bytes()),
        explain_line(sent.as_bytes(), expected, &got),
        server.recording().describe()
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
    let (first, second) = watchdog(server.recording()).run(move || {
        let mut connection = connect(port);
        connection.send_message("hi").expect("send_message failed");
        let first = connection.receive_response();
        let second = connection.receive_response();
        (first, second)
    });
    let first = first.unwrap_or_else(|error| {
        panic!(
            "the server sent \"one\\r\\ntwo\\r\\n\"; the first receive_response failed: \
             {error}\n{}",
            server.recording().describe()
        )
    });
    assert!(
        first == "one",
        "the server sent \"one\\r\\ntwo\\r\\n\"; the first receive_response returned {}: {}\n{}",
        show_bytes(first.as_bytes()),
        explain_line(b"one\r\ntwo\r\n", "one", &first),
        server.recording().describe()
    );
    match second {
        Ok(line) if line == "two" => {}
        Err(error) if error.kind() == ErrorKind::UnexpectedEof => panic!(
            "the server sent \"one\\r\\ntwo\\r\\n\" in one write; the first receive_response \
             gave \"one\", the second found the connection at its end: the line \"two\" was \
             lost. It had arrived together with \"one\" and was waiting in a BufReader's \
             buffer. Keep one reader in the struct and read from it every time; a new \
             BufReader per call throws away what the previous one read ahead\n{}",
            server.recording().describe()
        ),
        other => panic!(
            "the server sent \"one\\r\\ntwo\\r\\n\" in one write; the second receive_response \
             returned {other:?}, expected Ok(\"two\")\n{}",
            server.recording().describe()
        ),
    }
}

#[test]
fn receive_response_collects_a_line_that_arrives_in_pieces() {
    // One line, sent 3 bytes at a time: one read gets only part of it.
    let line = "HELLO, WORLD\r\n";
    let server = ScriptedServer::start(vec![
        Step::ReadLine,
        Step::send_in_pieces(line, 3, Duration::from_millis(20)),
        Step::Hold,
    ]);
    let got = say_hi_and_receive(&server);
    let advice = match &got {
        Ok(got) if got.len() < "HELLO, WORLD".len() && "HELLO, WORLD".starts_with(got.as_str()) => {
            "That is only the start of the line: one read gives whatever has arrived so far. \
             Read up to the \"\\n\" (BufRead::read_line does)"
                .to_string()
        }
        Ok(got) => explain_line(line.as_bytes(), "HELLO, WORLD", got),
        Err(_) => "read up to the \"\\n\" (BufRead::read_line does)".to_string(),
    };
    let got = got.map_err(|error| error.to_string());
    assert_eq!(
        got.as_deref(),
        Ok("HELLO, WORLD"),
        "the server sent {} in pieces of 3 bytes, 20 ms apart; receive_response returned \
         {got:?}. {advice}\n{}",
        show_bytes(line.as_bytes()),
        server.recording().describe()
    );
}

#[test]
fn receive_response_after_the_server_closed_is_an_unexpected_eof_error() {
    // The server reads your message and closes without answering. Asked twice, receive_response
    // must say so twice: the end of input stays the end.
    let server = ScriptedServer::start(vec![Step::ReadLine, Step::Close]);
    let port = server.port();
    let results = watchdog(server.recording()).run(move || {
        let mut connection = connect(port);
        connection.send_message("hi").expect("send_message failed");
        [connection.receive_response(), connection.receive_response()]
    });
    for result in results {
        match result {
            Err(error) if error.kind() == ErrorKind::UnexpectedEof => {}
            Err(error) => panic!(
                "the server closed instead of answering; expected an UnexpectedEof error, got: \
                 {error} ({:?})\n{}",
                error.kind(),
                server.recording().describe()
            ),
            Ok(line) => panic!(
                "the server closed instead of answering, yet receive_response returned \
                 Ok({line:?}){}. BufRead::read_line reads 0 bytes at end of input and leaves \
                 the string empty: return an UnexpectedEof error then\n{}",
                if line.is_empty() {
                    ": an empty string is an empty line, and the server sent none"
                } else {
                    ""
                },
                server.recording().describe()
            ),
        }
    }
}

#[test]
fn receive_response_reports_bytes_that_are_not_utf8_as_invalid_data() {
    // "café" in Latin-1: the é is the single byte 0xE9, which is not valid UTF-8.
    let sent = b"caf\xe9\r\n";
    let server = ScriptedServer::start(vec![Step::ReadLine, Step::send(sent), Step::Hold]);
    match say_hi_and_receive(&server) {
        Err(error) => assert_eq!(
            error.kind(),
            ErrorKind::InvalidData,
            "expected an error of kind InvalidData, got: {error}\n{}",
            server.recording().describe()
        ),
        Ok(line) => panic!(
            "the server sent {}, which is not UTF-8, and receive_response returned Ok({line:?}): \
             {}\n{}",
            show_bytes(sent),
            if line.contains('\u{FFFD}') {
                explain_line(sent, "caf", &line)
            } else {
                "a String must hold valid UTF-8, so report the error (BufRead::read_line \
                 returns one of kind InvalidData) rather than guess or replace bytes"
                    .to_string()
            },
            server.recording().describe()
        ),
    }
}

// ---------------------------------------------------------------------------------------
// local_addr and peer_addr
// ---------------------------------------------------------------------------------------

#[test]
fn local_addr_and_peer_addr_are_the_socket_pair_the_server_saw() {
    let server = EchoServer::line();
    let port = server.port();
    // `_connection` (not `_`): kept open until the end of the test.
    let (_connection, local, peer) = watchdog(server.recording()).run(move || {
        let connection = connect(port);
        let local = connection.local_addr().expect("local_addr failed");
        let peer = connection.peer_addr().expect("peer_addr failed");
        (connection, local, peer)
    });
    // The server's record of this connection: the one from the client's address.
    let ours = |c: &ConnectionRecord| c.peer == local || c.peer == peer;
    let seen = server
        .recording()
        .wait_until(PROMPTLY, |connections| connections.iter().any(ours));
    assert!(
        seen,
        "the server saw no connection from {local} (local_addr) nor from {peer} \
         (peer_addr): one of them should be this end of the connection\n{}",
        server.recording().describe()
    );
    assert_eq!(
        server.recording().totals().connections,
        1,
        "{}\n{}",
        connected_twice(server.recording()),
        server.recording().describe()
    );
    let record = server
        .recording()
        .connections()
        .into_iter()
        .find(ours)
        .expect("the connection seen above");
    assert_eq!(
        (local, peer),
        (record.peer, record.local),
        "(local_addr, peer_addr) should be the socket pair the server saw from its side, the \
         other way round: (its peer, its local address).{} local_addr is this end (your IP \
         address and the port the system gave the client); peer_addr is the server's end \
         ({})\n{}",
        pair_mistake(local, peer, record.peer, record.local),
        server.addr(),
        server.recording().describe()
    );
}

// ---------------------------------------------------------------------------------------
// close
// ---------------------------------------------------------------------------------------

#[test]
fn close_lets_the_server_see_end_of_file_at_once() {
    let server = EchoServer::line();
    let port = server.port();
    let recording = server.recording().clone();
    let ended = watchdog(server.recording())
        .run(move || bye_then_close(port, recording, "bye\r\n"))
        .unwrap_or_else(|error| panic!("{error}\n{}", server.recording().describe()));
    let Some(record) = ended else {
        panic!(
            "{PROMPTLY:?} after close returned, the server still sees the connection open: \
             some handle to the socket is still alive. {}\n{}",
            still_open_after_close(),
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
fn close_ends_the_connection_cleanly_even_with_lines_left_unread() {
    // After your "bye", the server answers "bye" and 40 KiB more lines in the same write,
    // which nobody reads. Linux *resets* a socket that is closed with data still unread in
    // it; `shutdown` first sends the end-of-file, so the server reads that. (Only Linux can
    // show the difference: Windows resets such a connection even after a shutdown, so there
    // the test only checks that the connection ends.)
    let unread = "and one more thing\r\n".repeat(2048);
    let answer = format!("bye\r\n{unread}");
    let server = ScriptedServer::start(vec![Step::ReadLine, Step::send(&answer), Step::Hold]);
    let port = server.port();
    let recording = server.recording().clone();
    let ended = watchdog(server.recording())
        .run(move || bye_then_close(port, recording, &answer))
        .unwrap_or_else(|error| panic!("{error}\n{}", server.recording().describe()));
    let Some(record) = ended else {
        panic!(
            "{PROMPTLY:?} after close returned, the server still sees the connection open: \
             some handle to the socket is still alive. {}\n{}",
            still_open_after_close(),
            server.recording().describe()
        )
    };
    match record.ended.map(|(_, ending)| ending) {
        Some(Ending::ClientClosed) => {}
        Some(Ending::Failed(ErrorKind::ConnectionReset, _)) if !cfg!(target_os = "linux") => {}
        Some(Ending::Failed(ErrorKind::ConnectionReset, _)) => panic!(
            "the server saw the connection reset (RST), not an end-of-file: close dropped the \
             socket while the server's last lines were still unread on it, and the system \
             answers that with a reset, which can make the server lose what you sent last. \
             Shut the socket down in close before it is dropped, \
             `shutdown(Shutdown::Both)`, as the tuple version's close does: that sends the \
             end-of-file (FIN) first, whatever is left unread\n{}",
            server.recording().describe()
        ),
        other => panic!(
            "the server should read end-of-file (a clean close); the connection ended with \
             {other:?}\n{}",
            server.recording().describe()
        ),
    }
}

#[test]
fn close_takes_the_connection_by_value_so_it_cannot_be_used_after_closing() {
    let server = EchoServer::line();
    let port = server.port();
    watchdog(server.recording()).run(move || {
        let mut connection = connect(port);
        connection.send_message("bye").expect("send_message failed");
        connection.close().expect("close failed");
    });
    // Read from the signature of `Connection::close` (how: see the end of this file).
    let takes = how_close_takes_the_connection();
    assert!(takes == "self", "{}", explain_close_signature(takes));
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
        server.recording().totals().connections <= 1,
        "{}\n{}",
        connected_twice(server.recording()),
        server.recording().describe()
    );
    assert!(
        received.is_err(),
        "the server reset the connection, yet receive_response returned {received:?}\n{}",
        server.recording().describe()
    );
    assert!(
        sent.is_err(),
        "the server had reset the connection, yet send_message returned {sent:?}: did it \
         write without flushing? An unflushed line is never sent, so its failure is never \
         seen\n{}",
        server.recording().describe()
    );
}

// ---------------------------------------------------------------------------------------
// The test's own machinery. You need not read it to pass the tests; it is here so that you
// can.
// ---------------------------------------------------------------------------------------

/// The loopback addresses other than 127.0.0.1 that this machine has.
fn other_loopback_hosts() -> Vec<&'static str> {
    let mut hosts = Vec::new();
    if TcpListener::bind(("::1", 0)).is_ok() {
        hosts.push("::1");
    }
    if cfg!(target_os = "linux") && TcpListener::bind(("127.0.0.2", 0)).is_ok() {
        hosts.push("127.0.0.2");
    }
    hosts
}

/// How `Connection::close` takes the connection, read from its signature: `"self"`,
/// `"&mut self"`, `"&self"`, or `""` for anything else.
///
/// A signature is checked by the compiler, and a test that *required* one (say, by storing
/// `Connection::close` where a `fn(Connection) -> io::Result<()>` is expected) would stop every
/// other test from compiling when it is wrong. So the test asks instead. `Receiver` is
/// implemented for `SignatureOf(close)` behind three `&`s only if close takes `Connection`,
/// behind two if it takes `&mut Connection`, behind one if it takes `&Connection`, and with
/// none whatever it takes. Method lookup tries the value with the most `&`s first, so
/// `.receiver()` on `&&&&SignatureOf(Connection::close)` answers from the first that fits.
fn how_close_takes_the_connection() -> &'static str {
    (&&&&SignatureOf(Connection::close)).receiver()
}

struct SignatureOf<F>(F);

trait Receiver {
    fn receiver(&self) -> &'static str;
}

impl<F: FnOnce(Connection) -> io::Result<()>> Receiver for &&&SignatureOf<F> {
    fn receiver(&self) -> &'static str {
        "self"
    }
}

impl<F: FnOnce(&mut Connection) -> io::Result<()>> Receiver for &&SignatureOf<F> {
    fn receiver(&self) -> &'static str {
        "&mut self"
    }
}

impl<F: FnOnce(&Connection) -> io::Result<()>> Receiver for &SignatureOf<F> {
    fn receiver(&self) -> &'static str {
        "&self"
    }
}

impl<F> Receiver for SignatureOf<F> {
    fn receiver(&self) -> &'static str {
        ""
    }
}

// ---------------------------------------------------------------------------------------
// What went wrong, in a teacher's words, from what was observed
// ---------------------------------------------------------------------------------------

/// Why a conversation with a harness server was still stuck at the deadline, from what the
/// server saw. Your code has no timeout of its own, so a stuck `receive_response` waits for
/// ever; what the server received and sent says why.
fn why_stuck(recording: &Recording) -> String {
    let Some(last) = recording.last() else {
        return "your code did not finish, and the server saw no connection".into();
    };
    if recording.totals().connections >= 2 {
        return connected_twice(recording);
    }
    let received = &last.received;
    if received.is_empty() {
        return "the server received nothing, so it still waits for your message while your \
                code waits for its answer. send_message writes into a BufWriter, which keeps \
                what you write until it is flushed: did you flush?"
            .into();
    }
    if !received.ends_with(b"\n") {
        return format!(
            "the server received {} with no line ending, and it answers whole lines only: it \
             still waits for the end of the line while your code waits for its answer. End \
             each message with \"\\r\\n\", and flush after it",
            show_bytes(received)
        );
    }
    match &last.ended {
        Some((_, Ending::ServerClosed(_))) => {
            "the server had closed the connection, and your code was still reading: at the \
             end of input BufRead::read_line returns 0 bytes at once, every time. That is the \
             end, not a reason to read again: return an UnexpectedEof error then"
                .into()
        }
        _ if last.bytes_out > 0 => format!(
            "the server had answered ({} bytes, up to a line ending) and kept the connection \
             open, yet receive_response did not return. Read one line \
             (BufRead::read_line), not until the connection closes: read_to_string and \
             read_to_end wait for the end of input, which does not come while the server \
             keeps the connection open",
            last.bytes_out
        ),
        _ => "your code did not finish, although the server had received a whole line".into(),
    }
}

/// The server saw more than one connection from one `Connection::connect`.
fn connected_twice(recording: &Recording) -> String {
    let connections = recording.connections();
    let talked: Vec<String> = connections
        .iter()
        .filter(|c| c.bytes_in > 0)
        .map(|c| format!("#{}", c.id))
        .collect();
    format!(
        "the server saw {} connections: you connected twice. Connection::connect must connect \
         once, and give the reader and the writer more handles to that one connection \
         (`try_clone`), not new connections. {}",
        recording.totals().connections,
        if talked.is_empty() {
            "Whatever you send goes out on one connection, and its answer comes back on that \
             one only"
                .to_string()
        } else {
            format!(
                "Your messages went out on {} and the answers came back there, while your \
                 reader waits on another connection, where nothing comes",
                talked.join(" and ")
            )
        }
    )
}

/// Why a response (`got`) differs from the line the server sent (`sent`, which is `expected`
/// and its line ending).
fn explain_line(sent: &[u8], expected: &str, got: &str) -> String {
    let ends_in_lf_alone = sent.ends_with(b"\n") && !sent.ends_with(b"\r\n");
    let one_character_short = expected
        .char_indices()
        .last()
        .is_some_and(|(at, _)| &expected[..at] == got);
    let whitespace_removed = [expected.trim(), expected.trim_end(), expected.trim_start()];
    if got.trim_end().contains('\n') && !expected.contains('\n') {
        "more than one line came back as one. A response is one line: read up to the first \
         \"\\n\" only, and keep the rest for the next call (BufRead::read_line on the one \
         reader of the struct does both): one read gives whatever has arrived, and \
         read_to_string everything until the connection closes"
            .into()
    } else if got.ends_with('\n') && !expected.ends_with('\n') {
        "the line ending is still there: BufRead::read_line keeps it, strip it".into()
    } else if got.ends_with('\r') && !expected.ends_with('\r') {
        "a \"\\r\" is left behind: lines may end in \"\\r\\n\"; strip the \"\\n\" and then the \
         \"\\r\""
            .into()
    } else if got.contains('\u{FFFD}') && !expected.contains('\u{FFFD}') {
        "U+FFFD (�), the replacement character, stands where the bytes were not UTF-8: the \
         line was converted through a lossy UTF-8 string (String::from_utf8_lossy). A line that \
         is not UTF-8 is an error of kind InvalidData (BufRead::read_line reports it)"
            .into()
    } else if one_character_short && ends_in_lf_alone && expected.ends_with(char::is_whitespace) {
        "the whitespace at the end of the line is missing. `trim_end()` removes it together \
         with the line ending (it removes all whitespace), and so does cutting two characters \
         off a line that ends in \"\\n\" alone. Strip the \"\\n\", then a \"\\r\" before it if \
         there is one, nothing else"
            .into()
    } else if got != expected && whitespace_removed.contains(&got) {
        "the spaces or tabs at the start or end of the line were removed too: `trim()` and \
         `trim_end()` remove all whitespace, not only the line ending. The spaces belong to \
         the message: strip the \"\\n\", then a \"\\r\" before it, nothing else"
            .into()
    } else if one_character_short && ends_in_lf_alone {
        "the line was cut one character short: it ended in \"\\n\" alone, and two characters \
         were removed. Lines may end in \"\\r\\n\" or in \"\\n\": strip the \"\\n\", then a \
         \"\\r\" only if there is one"
            .into()
    } else {
        "strip only the line ending (\"\\n\" or \"\\r\\n\"), nothing else".into()
    }
}

/// Why the bytes a server `received` differ from the lines it should have received
/// (`expected`, each ending in `\r\n`).
fn explain_sent(expected: &[u8], received: &[u8]) -> String {
    let lines = |bytes: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(bytes)
            .split_inclusive('\n')
            .map(|line| line.trim_end_matches(['\r', '\n']).to_string())
            .collect()
    };
    let has_lf_alone = received
        .iter()
        .enumerate()
        .any(|(at, byte)| *byte == b'\n' && (at == 0 || received[at - 1] != b'\r'));
    let (got, want) = (lines(received), lines(expected));
    if received.is_empty() {
        format!(
            "nothing at all.{} send_message writes into a BufWriter, which keeps what you \
             write until it is flushed: did you call `flush()`?",
            if expected == b"\r\n" {
                " An empty message is still a line, \"\\r\\n\" alone, and must be sent."
            } else {
                ""
            }
        )
    } else if received.windows(3).any(|w| w == b"\r\n\n") {
        "each line is followed by an extra \"\\n\" (an empty line): `writeln!` adds a \"\\n\" \
         of its own after the \"\\r\\n\" you wrote. Use `write!` (or `write_all`) for a line \
         that already has its ending"
            .into()
    } else if has_lf_alone && received.ends_with(b"\n") {
        "the line ended with \"\\n\" alone: in this protocol (like HTTP, SMTP and the \
         lectures' server) a line ends with \"\\r\\n\", a \"\\r\" then a \"\\n\""
            .into()
    } else if !received.ends_with(b"\n") {
        "no line ending, and the server answers complete lines only. End each message \
         with \"\\r\\n\", and flush after it"
            .into()
    } else if got.len() == want.len()
        && got
            .iter()
            .zip(&want)
            .all(|(got, line)| got == line.trim() || got == line.trim_end())
    {
        "the spaces or tabs at the start or end of a message were removed: send each message \
         exactly as given (`trim()` and `trim_end()` remove all whitespace)"
            .into()
    } else {
        "each message must be sent exactly, followed by \"\\r\\n\"".into()
    }
}

/// Why `Connection::connect(host, …)` failed although a server listens at `addr`.
fn connect_failed(host: &str, addr: SocketAddr, error: &io::Error) -> String {
    let mut text = format!(
        "Connection::connect({host:?}, {}) failed: {error} ({:?}), although a server listens \
         on {addr}",
        addr.port(),
        error.kind()
    );
    if error.kind() == ErrorKind::ConnectionRefused {
        text.push_str(
            ". Nobody listens at that port on the host your connect went to: connect to the \
             host you were given, `TcpStream::connect((host, port))`, not to an address \
             written in your code",
        );
    }
    text
}

/// The socket pair's likely mistake, from what `local_addr` and `peer_addr` returned and
/// what they should have (`this_end`, `other_end`).
fn pair_mistake(
    local: SocketAddr,
    peer: SocketAddr,
    this_end: SocketAddr,
    other_end: SocketAddr,
) -> &'static str {
    if (local, peer) == (other_end, this_end) {
        " They are the wrong way round: local_addr returned the server's end and peer_addr \
         yours."
    } else if local == peer {
        " Both returned the same address: local_addr asks the socket for `local_addr()`, \
         peer_addr for `peer_addr()`."
    } else {
        ""
    }
}

/// Why the connection can still be open right after `close` returned.
fn still_open_after_close() -> String {
    match how_close_takes_the_connection() {
        "self" => "A socket closes only when its last handle (every `try_clone`) is dropped; \
                   shut it down in close (`shutdown(Shutdown::Both)`) and keep no copy of it \
                   anywhere else"
            .into(),
        takes => format!(
            "Your close takes `{takes}`, so the connection lives on in the caller's variable \
             after close, and the socket with it. Take `self` by value, so that close drops \
             the connection, and shut the socket down in close (`shutdown(Shutdown::Both)`)"
        ),
    }
}

/// Why `close` must take `self` by value, for a close that takes `takes`.
fn explain_close_signature(takes: &str) -> String {
    let declared = if takes.is_empty() {
        "Connection::close does not have the signature `pub fn close(self) -> io::Result<()>`"
            .to_string()
    } else {
        format!(
            "Connection::close takes `{takes}`: it only borrows the connection, so after \
             `connection.close()` the caller still has it and can go on using a closed \
             connection, a mistake found only when that line runs (in Python: `OSError: \
             [Errno 9] Bad file descriptor`)"
        )
    };
    format!(
        "{declared}. Declare `pub fn close(self) -> io::Result<()>`: taking `self` by value \
         moves the connection into close, which drops it when it ends. After close the \
         connection cannot be used: the type system says so, and code that tries is a \
         compile error (E0382, use of a moved value), as the `compile_fail` example in \
         src/lib.rs shows"
    )
}
