//! Graded tests for exercise 9 — UDP datagrams and a pinger.
//!
//! `echo_datagrams` is checked as a server: the test sends datagrams from two sockets of its
//! own and reads what comes back. `receive` and `request` are checked against datagrams the
//! test sends, and against the harness's scripted UDP echo server (`lab_harness::
//! UdpEchoServer`, `cargo lab serve --mode udp` to try it by hand), which can drop a
//! datagram, answer late, answer twice, swap two answers or answer from another port, always
//! the same datagram in the same way. `ping` is checked against that server with one
//! misfortune at a time, with small timeouts (a few hundred milliseconds), so a wrong answer
//! is reported within seconds; the program `ex09-ping` runs as a real process; and one test
//! pings an echo server written with Python's socket module.
//!
//! When a test fails, its message says what your code returned, names the most likely
//! mistake, and lists the datagrams the server received and what it did with each, with
//! their times.
//!
//! Run them with `cargo test -p ex09`; run one with `cargo test -p ex09 NAME`.

// This file also grades the reference solution (package ex09-solution), whose library is
// named `ex09_solution`: there this line makes `ex09` mean it.
#[cfg(netlab_solution)]
extern crate ex09_solution as ex09;

use std::io::{self, BufRead, BufReader, ErrorKind};
use std::net::{SocketAddr, UdpSocket};
use std::panic;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ex09::{
    Datagram, PingReport, echo_datagrams, parse_reply, ping, ping_message, receive, request,
};
use lab_harness::{
    ExplainedWatchdog, Program, ProgramRun, UdpEchoServer, UdpRecording, UdpScript, Watchdog,
    cap_text, closed_udp_port, show_bytes,
};

/// How long a test may take. A correct answer takes well under a second.
const DEADLINE: Duration = Duration::from_secs(4);

/// How long the test's own sockets wait for a datagram that should come.
const WAIT: Duration = Duration::from_secs(2);

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

/// A socket of the test's on `127.0.0.1`, port chosen by the system, reads timing out.
fn test_socket() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    socket
        .set_read_timeout(Some(WAIT))
        .expect("setting a read timeout");
    socket
}

/// The next datagram on `socket` (any size), or `None` after its read timeout.
fn next_datagram(socket: &UdpSocket) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buffer = vec![0u8; 70_000];
    match socket.recv_from(&mut buffer) {
        Ok((count, from)) => Some((buffer[..count].to_vec(), from)),
        Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => None,
        Err(error) => panic!("the test's socket failed to receive: {error}"),
    }
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Whether `kind` is how this OS reports a closed UDP port on a connected socket.
fn is_refused(kind: ErrorKind) -> bool {
    // Linux and macOS say ECONNREFUSED; Windows says WSAECONNRESET for the same ICMP message.
    kind == ErrorKind::ConnectionRefused || (cfg!(windows) && kind == ErrorKind::ConnectionReset)
}

// ---------------------------------------------------------------------------------------------
// echo_datagrams
// ---------------------------------------------------------------------------------------------

/// How `echo_datagrams` ended on its thread: its result, or the message of its panic.
type Ended = mpsc::Receiver<Result<io::Result<()>, String>>;

/// Runs `echo_datagrams(server, count)` on a thread; the receiver says how it ended.
fn start_echo(count: usize) -> (SocketAddr, Ended) {
    let server = UdpSocket::bind("127.0.0.1:0").expect("binding the server's socket");
    let addr = server.local_addr().unwrap();
    let (done, ended) = mpsc::channel();
    thread::spawn(move || {
        let outcome =
            panic::catch_unwind(panic::AssertUnwindSafe(|| echo_datagrams(&server, count)));
        let _ = done.send(outcome.map_err(|payload| {
            payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|text| text.to_string()))
                .unwrap_or_else(|| "a panic".into())
        }));
    });
    (addr, ended)
}

/// The next datagram on the client's socket, while `echo_datagrams` runs: fails at once with
/// its panic (a `todo!()`, an `unwrap`) or its error rather than waiting for a reply.
fn echo_reply(client: &UdpSocket, ended: &Ended) -> Option<(Vec<u8>, SocketAddr)> {
    let deadline = Instant::now() + WAIT;
    client
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    while Instant::now() < deadline {
        if let Some(reply) = next_datagram(client) {
            return Some(reply);
        }
        match ended.try_recv() {
            Ok(Err(panicked)) => panic!("echo_datagrams panicked: {panicked}"),
            Ok(Ok(Err(error))) => panic!(
                "echo_datagrams returned an error ({:?}: {error}) before answering",
                error.kind()
            ),
            _ => {}
        }
    }
    None
}

#[test]
fn echo_datagrams_sends_each_datagram_back_to_its_own_sender() {
    Watchdog::new(DEADLINE)
        .hint("the test's two clients waited for their echoes")
        .run(|| {
            let (server, ended) = start_echo(3);
            let (a, b) = (test_socket(), test_socket());
            let plan: [(&UdpSocket, &str, &[u8]); 3] = [
                (&a, "client A", b"first, from A"),
                (&b, "client B", b"second, from B"),
                (&a, "client A", b"third, from A"),
            ];
            for (socket, who, message) in plan {
                socket
                    .send_to(message, server)
                    .expect("sending to your server");
                match echo_reply(socket, &ended) {
                    Some((data, from)) if data == message && from == server => {}
                    Some((data, from)) => panic!(
                        "{who} sent {} to your server and got {} from {from}: the echo of its \
                         own datagram, from {server}, was expected. {}",
                        show_bytes(message),
                        show_bytes(&data),
                        if data.len() > message.len() {
                            "You sent back more than was received: send only the bytes \
                             received, `&buffer[..length]`, not the whole buffer"
                        } else {
                            "Each datagram's reply goes to the address recv_from gave for it"
                        }
                    ),
                    None => {
                        let b_waited = who == "client B";
                        panic!(
                            "{who} sent {} to your server and got no reply within {}. {}",
                            show_bytes(message),
                            ms(WAIT),
                            if b_waited {
                                "Client A got its echo, client B nothing: a UDP server has no \
                                 connection per client. Each datagram comes with its sender's \
                                 address (recv_from), and its reply goes there (send_to), not to \
                                 the first client's address. A socket `connect`ed to client A \
                                 no longer even receives client B's datagrams"
                            } else {
                                "Did you receive with recv_from and answer with send_to to the \
                                 address it gave?"
                            }
                        )
                    }
                }
            }
            match ended.recv_timeout(WAIT) {
                Ok(Ok(Ok(()))) => {}
                Ok(Err(panicked)) => panic!("echo_datagrams panicked: {panicked}"),
                Ok(Ok(Err(error))) => {
                    panic!("echo_datagrams(socket, 3) returned an error: {error}")
                }
                Err(_) => panic!(
                    "echo_datagrams(socket, 3) answered 3 datagrams but did not return: it must \
                     stop after `count` datagrams"
                ),
            }
        });
}

#[test]
fn echo_datagrams_keeps_message_boundaries_and_sends_back_only_what_came() {
    Watchdog::new(DEADLINE)
        .hint("the test waited for the echoes of two datagrams")
        .run(|| {
            let (server, ended) = start_echo(2);
            let client = test_socket();
            // Two datagrams back to back, before reading anything: two replies must come.
            client.send_to(b"one", server).unwrap();
            client.send_to(b"two", server).unwrap();
            for expected in [&b"one"[..], b"two"] {
                match echo_reply(&client, &ended) {
                    Some((data, _)) if data == expected => {}
                    Some((data, _)) => panic!(
                        "the client sent the datagrams \"one\" and \"two\"; as echo of {} it got \
                         {} ({} bytes). {}",
                        show_bytes(expected),
                        show_bytes(&data),
                        data.len(),
                        if data.len() > expected.len() && data.starts_with(expected) {
                            "That is the datagram and what followed it in your buffer: send \
                             back only the `length` bytes recv_from received, \
                             `&buffer[..length]`"
                        } else {
                            "UDP keeps message boundaries: each datagram is received alone, \
                             and its echo is exactly its bytes"
                        }
                    ),
                    None => panic!(
                        "the client sent the datagrams \"one\" and \"two\" and got no echo of \
                         {} within {}: each datagram gets its own reply",
                        show_bytes(expected),
                        ms(WAIT)
                    ),
                }
            }
        });
}

#[test]
fn echo_datagrams_sends_a_large_datagram_back_whole() {
    Watchdog::new(DEADLINE)
        .hint("the test waited for the echo of a 9000-byte datagram")
        .run(|| {
            let (server, ended) = start_echo(1);
            let client = test_socket();
            // 9000 bytes: more than any small buffer, less than the 9216 bytes macOS allows on
            // loopback by default.
            let big: Vec<u8> = (0..9000u32).map(|i| (i % 251) as u8).collect();
            client.send_to(&big, server).unwrap();
            match echo_reply(&client, &ended) {
                Some((data, _)) if data == big => {}
                Some((data, _)) => panic!(
                    "the client sent one datagram of 9000 bytes and got back {} bytes. {}",
                    data.len(),
                    if data.len() < big.len() {
                        "Your receive buffer is too small: UDP cuts a datagram that does not \
                         fit and throws the rest away, silently on Linux and macOS. Receive \
                         into a buffer of MAX_DATAGRAM (65,507) bytes"
                    } else {
                        "The echo must be exactly the bytes received"
                    }
                ),
                None => panic!("the client sent one datagram of 9000 bytes and got no echo"),
            }
        });
}

// ---------------------------------------------------------------------------------------------
// receive
// ---------------------------------------------------------------------------------------------

/// `receive(socket, capacity)` on a socket the test sends to, with a read timeout.
fn receive_on(socket: &UdpSocket, capacity: usize) -> Datagram {
    let socket = socket.try_clone().unwrap();
    Watchdog::new(DEADLINE)
        .hint("receive waited for a datagram; the test had sent it already")
        .run(move || match receive(&socket, capacity) {
            Ok(datagram) => datagram,
            Err(error) => panic!(
                "receive(socket, {capacity}) returned an error ({:?}: {error}) although a \
                 datagram was waiting",
                error.kind()
            ),
        })
}

#[test]
fn receive_returns_one_datagram_per_call_with_its_sender() {
    let socket = test_socket();
    let to = socket.local_addr().unwrap();
    let (first, second) = (test_socket(), test_socket());
    first.send_to(b"hello", to).unwrap();
    second.send_to(b"world", to).unwrap();
    for (sender, expected) in [(&first, &b"hello"[..]), (&second, b"world")] {
        let got = receive_on(&socket, 100);
        let from = sender.local_addr().unwrap();
        assert!(
            got.data == expected,
            "two datagrams, \"hello\" then \"world\", were waiting; receive(socket, 100) \
             returned {} ({} bytes) where {} was expected. {}",
            show_bytes(&got.data),
            got.data.len(),
            show_bytes(expected),
            if got.data.starts_with(b"helloworld") {
                "That is two datagrams glued together: UDP keeps message boundaries, so one \
                 recv_from is one whole datagram. Do not loop to fill the buffer as you would \
                 on a TCP stream"
            } else {
                "One call returns exactly the next datagram"
            }
        );
        assert_eq!(
            got.from,
            from,
            "receive returned {} with `from` = {}, but it was sent from {from}: the sender is \
             what recv_from returns beside the length",
            show_bytes(&got.data),
            got.from
        );
        assert!(
            !got.truncated,
            "receive(socket, 100) marked the 5-byte datagram {} truncated",
            show_bytes(&got.data)
        );
    }
}

#[test]
fn receive_marks_a_datagram_longer_than_the_capacity_as_truncated() {
    let socket = test_socket();
    let to = socket.local_addr().unwrap();
    let sender = test_socket();
    sender.send_to(b"0123456789", to).unwrap();
    let got = receive_on(&socket, 4);
    assert!(
        got.data == b"0123" && got.truncated,
        "a datagram of 10 bytes, \"0123456789\", came; receive(socket, 4) returned data {} \
         with truncated = {}: data \"0123\" with truncated = true was expected. {}",
        show_bytes(&got.data),
        got.truncated,
        if got.data == b"0123" {
            "The first 4 bytes are right, but nothing said the rest was lost. Linux cuts a \
             datagram too large for the buffer silently and returns the length that fit, so a \
             buffer of exactly `capacity` bytes cannot tell \"fits exactly\" from \"cut\": \
             receive into `capacity + 1` bytes, and more than `capacity` received means cut"
        } else {
            "Keep at most `capacity` bytes, and say whether the datagram was longer"
        }
    );
    sender.send_to(b"abcd", to).unwrap();
    let exact = receive_on(&socket, 4);
    assert!(
        exact.data == b"abcd" && !exact.truncated,
        "a datagram of exactly 4 bytes, \"abcd\", came; receive(socket, 4) returned data {} \
         with truncated = {}: it fits, so it is not truncated (more than `capacity` bytes \
         received means cut, exactly `capacity` does not)",
        show_bytes(&exact.data),
        exact.truncated
    );
}

// ---------------------------------------------------------------------------------------------
// request
// ---------------------------------------------------------------------------------------------

/// `request(server.addr(), message, timeout)` with a deadline; the result and how long it took.
fn run_request(
    server: &UdpEchoServer,
    message: &[u8],
    timeout: Duration,
    hint: &'static str,
) -> (io::Result<Vec<u8>>, Duration) {
    let addr = server.addr();
    let message = message.to_vec();
    let recording = server.recording().clone();
    ExplainedWatchdog::new(DEADLINE)
        .explain(move || format!("request never returned: {hint}\n{}", recording.describe()))
        .run(move || {
            let started = Instant::now();
            let result = request(addr, &message, timeout);
            (result, started.elapsed())
        })
}

#[test]
fn request_returns_the_reply_of_the_server() {
    let server = UdpEchoServer::start(UdpScript::echo());
    let big: Vec<u8> = (0..9000u32).map(|i| b'a' + (i % 26) as u8).collect();
    for message in [&b"hello"[..], &big] {
        let (result, _) = run_request(
            &server,
            message,
            Duration::from_secs(2),
            "the echo server answered at once (see below): did you send before receiving?",
        );
        match result {
            Ok(reply) if reply == message => {}
            Ok(reply) => panic!(
                "request(server, {} bytes) returned {} bytes: the server's echo, {}, was \
                 expected. {}\n{}",
                message.len(),
                reply.len(),
                show_bytes(message),
                if reply.len() < message.len() {
                    "Your buffer is too small: the rest of a datagram that does not fit is \
                     thrown away. Receive into MAX_DATAGRAM bytes, then keep the `length` \
                     received"
                } else {
                    "Return only the `length` bytes recv received"
                },
                server.recording().describe()
            ),
            Err(error) => panic!(
                "request(server, {}) returned an error ({:?}: {error}); the server is an echo \
                 server that answered at once\n{}",
                show_bytes(message),
                error.kind(),
                server.recording().describe()
            ),
        }
    }
}

#[test]
fn request_reports_no_reply_as_timed_out_after_the_timeout() {
    let server = UdpEchoServer::start(UdpScript::silent());
    let timeout = Duration::from_millis(300);
    let (result, took) = run_request(
        &server,
        b"anyone?",
        timeout,
        "the server never answers: without a read timeout, recv waits for ever. Set one with \
         set_read_timeout",
    );
    match result {
        Err(error) if error.kind() == ErrorKind::TimedOut => assert!(
            took >= timeout.mul_f64(0.9),
            "request returned TimedOut after {}, before its timeout of {} had passed",
            ms(took),
            ms(timeout)
        ),
        Err(error) if error.kind() == ErrorKind::WouldBlock => panic!(
            "request returned an error of kind WouldBlock after {}: that is how Linux and \
             macOS report an expired read timeout (Windows says TimedOut). The contract asks \
             for TimedOut on every system: turn WouldBlock into `io::Error::new(ErrorKind::\
             TimedOut, …)`",
            ms(took)
        ),
        Err(error) => panic!(
            "request to a server that never answers returned {:?} ({error}) after {}; an \
             error of kind TimedOut was expected",
            error.kind(),
            ms(took)
        ),
        Ok(reply) => panic!(
            "request to a server that never answers returned Ok({}) after {}\n{}",
            show_bytes(&reply),
            ms(took),
            server.recording().describe()
        ),
    }
}

#[test]
fn request_takes_no_reply_from_another_port() {
    // The server answers from its other socket: same address, another port. For a client
    // that connected to the server, that datagram is not from the server.
    let server = UdpEchoServer::start(UdpScript::echo().from_another_port(1));
    let timeout = Duration::from_millis(300);
    let (result, took) = run_request(
        &server,
        b"who are you?",
        timeout,
        "the only answer came from another port: set a read timeout",
    );
    match result {
        Err(error) if is_timeout(&error) => {}
        Ok(reply) => panic!(
            "request(server {}, \"who are you?\") returned Ok({}) after {}, but that datagram \
             came from {}, another port: it is not the server's reply. Connect the socket to \
             the server (`socket.connect(server)`, then `send` and `recv`): the system then \
             drops datagrams from anyone else. (With recv_from you would have to compare the \
             sender yourself.)\n{}",
            server.addr(),
            show_bytes(&reply),
            ms(took),
            server.other_addr(),
            server.recording().describe()
        ),
        Err(error) => panic!(
            "request returned {:?} ({error}); with no reply from the server itself, TimedOut \
             was expected",
            error.kind()
        ),
    }
}

#[test]
fn request_reports_a_closed_port_as_refused_at_once() {
    let closed = closed_udp_port();
    let timeout = Duration::from_secs(2);
    let (result, took) = ExplainedWatchdog::new(DEADLINE)
        .explain(|| "request to a closed port never returned: set a read timeout".into())
        .run(move || {
            let started = Instant::now();
            (request(closed, b"hello?", timeout), started.elapsed())
        });
    match result {
        Err(error) if is_refused(error.kind()) => assert!(
            took < Duration::from_secs(1),
            "request to a closed port returned {:?}, but only after {}",
            error.kind(),
            ms(took)
        ),
        Err(error) if is_timeout(&error) => panic!(
            "request to a port where nobody listens ({closed}) returned {:?} after {}, the whole \
             timeout. The system knew at once: the other side answered \"ICMP port \
             unreachable\", but only a *connected* UDP socket is told (Linux and macOS report \
             ConnectionRefused on the next recv; Windows ConnectionReset). `connect` the socket \
             to the server, then `send` and `recv`",
            error.kind(),
            ms(took)
        ),
        Err(error) => panic!(
            "request to a closed port returned {:?} ({error}); ConnectionRefused was expected \
             (the error the OS reports, passed on as it is)",
            error.kind()
        ),
        Ok(reply) => panic!(
            "request to a closed port ({closed}) returned Ok({})",
            show_bytes(&reply)
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// ping_message and parse_reply
// ---------------------------------------------------------------------------------------------

#[test]
fn ping_message_is_ping_a_space_and_the_number() {
    for (seq, expected) in [
        (1, &b"PING 1"[..]),
        (42, b"PING 42"),
        (65535, b"PING 65535"),
    ] {
        let got = ping_message(seq);
        assert!(
            got == expected,
            "ping_message({seq}) = {}, expected {}: `PING`, one space, the number in decimal, \
             no line ending",
            show_bytes(&got),
            show_bytes(expected)
        );
    }
}

#[test]
fn parse_reply_accepts_exactly_an_echoed_request() {
    let cases: [(&[u8], Option<u16>, &str); 11] = [
        (b"PING 1", Some(1), "a request echoed"),
        (b"PING 65535", Some(65535), "the last sequence number"),
        (b"PING 7\n", None, "a line ending was never sent"),
        (b"PONG 7", None, "not PING"),
        (b"PING", None, "no number"),
        (b"PING ", None, "no number"),
        (b"PING x", None, "not a number"),
        (b"PING 65536", None, "more than a u16"),
        (b"PING 007", None, "not what ping_message(7) sends"),
        (b"PING 1 2", None, "more than a number"),
        (b"PING \xff", None, "not UTF-8"),
    ];
    for (datagram, expected, why) in cases {
        let got = parse_reply(datagram);
        assert_eq!(
            got,
            expected,
            "parse_reply({}) = {got:?}, expected {expected:?} ({why}). A reply is exactly the \
             bytes of a request: parse the number, then check that ping_message(number) is \
             the datagram",
            show_bytes(datagram)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// PingReport
// ---------------------------------------------------------------------------------------------

fn report_of(rtts_ms: &[Option<u64>]) -> PingReport {
    PingReport {
        // Never reached: the methods only look at the numbers.
        target: SocketAddr::from(([127, 0, 0, 1], 5151)),
        rtts: rtts_ms
            .iter()
            .map(|rtt| rtt.map(Duration::from_millis))
            .collect(),
        duplicates: 0,
        ignored: 0,
    }
}

#[test]
fn ping_report_counts_replies_and_loss_in_percent() {
    let cases: [(&[Option<u64>], usize, f64); 4] = [
        (&[Some(1), None, Some(3)], 2, 100.0 / 3.0),
        (&[None, None, None, None], 0, 100.0),
        (&[Some(1), Some(2)], 2, 0.0),
        (&[], 0, 0.0),
    ];
    for (rtts, received, loss) in cases {
        let report = report_of(rtts);
        assert_eq!(
            report.received(),
            received,
            "received() for rtts (ms) {rtts:?}: the number of Some"
        );
        let got = report.loss_percent();
        assert!(
            (got - loss).abs() < 0.01,
            "loss_percent() for rtts (ms) {rtts:?} = {got}, expected {loss:.2}. {}",
            if rtts.is_empty() {
                "Nothing sent, nothing lost: 0 (and no division by zero, which gives NaN in f64)"
            } else if got == loss.trunc() || got == 0.0 {
                "That is integer division: 1 * 100 / 3 is 33 and 1 / 3 * 100 is 0 in integers. \
                 Convert to f64 first: `100.0 * lost as f64 / sent as f64`"
            } else {
                "The lost share: (transmitted − received) × 100 / transmitted"
            }
        );
    }
}

#[test]
fn ping_report_gives_min_avg_max_of_the_replies_only() {
    let report = report_of(&[Some(2), None, Some(4), Some(9)]);
    let got = (report.min_rtt(), report.avg_rtt(), report.max_rtt());
    let expected = (
        Some(Duration::from_millis(2)),
        Some(Duration::from_millis(5)),
        Some(Duration::from_millis(9)),
    );
    assert_eq!(
        got, expected,
        "(min, avg, max) for rtts 2 ms, lost, 4 ms, 9 ms: the lost request has no time and \
         does not count, so the mean is (2 + 4 + 9) / 3 = 5 ms (dividing by 4 requests gives \
         3.75 ms)"
    );
    let none = report_of(&[None, None]);
    assert_eq!(
        (none.min_rtt(), none.avg_rtt(), none.max_rtt()),
        (None, None, None),
        "(min, avg, max) without any reply: there is no time to give (and no division by zero)"
    );
}

// ---------------------------------------------------------------------------------------------
// ping
// ---------------------------------------------------------------------------------------------

/// Pings the server with a deadline; the report and how long `ping` took.
fn run_ping(
    server: &UdpEchoServer,
    count: u16,
    interval: Duration,
    timeout: Duration,
    hint: &'static str,
) -> (io::Result<PingReport>, Duration) {
    let addr = server.addr();
    let recording = server.recording().clone();
    ExplainedWatchdog::new(DEADLINE)
        .explain(move || {
            format!(
                "ping(server, {count}, {}, {}) never returned: {hint}\n{}",
                ms(interval),
                ms(timeout),
                recording.describe()
            )
        })
        .run(move || {
            let started = Instant::now();
            let result = ping(addr, count, interval, timeout);
            (result, started.elapsed())
        })
}

/// The report as a student reads it, with what the server did.
fn explain(report: &PingReport, took: Duration, recording: &UdpRecording) -> String {
    let rtts: Vec<String> = report
        .rtts
        .iter()
        .enumerate()
        .map(|(index, rtt)| match rtt {
            Some(rtt) => format!("PING {}: {}", index + 1, ms(*rtt)),
            None => format!("PING {}: lost", index + 1),
        })
        .collect();
    format!(
        "your report (after {}): [{}], duplicates {}, ignored {}\n{}",
        ms(took),
        rtts.join(", "),
        report.duplicates,
        report.ignored,
        recording.describe()
    )
}

/// `run_ping`, expecting a report.
fn ping_ok(
    server: &UdpEchoServer,
    count: u16,
    interval: Duration,
    timeout: Duration,
    hint: &'static str,
) -> (PingReport, Duration) {
    let (result, took) = run_ping(server, count, interval, timeout, hint);
    match result {
        Ok(report) => {
            assert_eq!(
                report.rtts.len(),
                usize::from(count),
                "ping(server, {count}, …) returned {} entries in rtts: one per request was \
                 expected.\n{}",
                report.rtts.len(),
                explain(&report, took, server.recording())
            );
            (report, took)
        }
        Err(error) => panic!(
            "ping(server, {count}, {}, {}) returned an error after {} ({:?}: {error})\n{}",
            ms(interval),
            ms(timeout),
            ms(took),
            error.kind(),
            server.recording().describe()
        ),
    }
}

const MS: fn(u64) -> Duration = Duration::from_millis;

#[test]
fn ping_gets_a_reply_to_every_request_from_an_echo_server() {
    let server = UdpEchoServer::start(UdpScript::echo());
    let (report, took) = ping_ok(
        &server,
        3,
        MS(50),
        MS(1500),
        "the server answered every request at once (see below)",
    );
    let said = explain(&report, took, server.recording());
    let sent: Vec<Vec<u8>> = server
        .recording()
        .received()
        .into_iter()
        .map(|datagram| datagram.data)
        .collect();
    assert!(
        sent == [&b"PING 1"[..], b"PING 2", b"PING 3"],
        "ping(server, 3, …) must send the datagrams \"PING 1\", \"PING 2\", \"PING 3\" (see \
         ping_message), one each.\n{said}"
    );
    assert!(
        report.rtts.iter().all(Option::is_some),
        "every request got its reply at once, but your report counts some lost.\n{said}"
    );
    assert_eq!(
        (report.duplicates, report.ignored),
        (0, 0),
        "no duplicate and nothing to ignore came.\n{said}"
    );
    assert!(
        took < MS(1000),
        "ping(server, 3, 50 ms, 1500 ms) took {} although every reply was in after about \
         100 ms: once each request has its reply, return at once instead of waiting out the \
         timeout.\n{said}",
        ms(took)
    );
}

#[test]
fn ping_sends_every_interval_without_waiting_for_replies() {
    // Every reply comes 250 ms late; requests go every 100 ms regardless.
    let server = UdpEchoServer::start(UdpScript::echo().delay_all(MS(250)));
    let (report, took) = ping_ok(
        &server,
        3,
        MS(100),
        MS(1000),
        "each reply comes 250 ms late (see below)",
    );
    let said = explain(&report, took, server.recording());
    let arrivals: Vec<Duration> = server
        .recording()
        .received()
        .iter()
        .map(|datagram| datagram.at)
        .collect();
    assert_eq!(
        arrivals.len(),
        3,
        "the server got {} requests.\n{said}",
        arrivals.len()
    );
    let gap = arrivals[2] - arrivals[0];
    assert!(
        gap < MS(400),
        "PING 3 reached the server {} after PING 1; with an interval of 100 ms it is sent \
         200 ms after it. Send request k at (k − 1) × interval after the start, whether or not \
         the earlier replies are in (that is what ping does): waiting for each reply before the \
         next request makes a slow server look like a slow network.\n{said}",
        ms(gap)
    );
    for (index, rtt) in report.rtts.iter().enumerate() {
        let seq = index + 1;
        match rtt {
            Some(rtt) if *rtt >= MS(240) && *rtt < MS(400) => {}
            Some(rtt) => panic!(
                "PING {seq}'s RTT is {} but each reply was sent back 250 ms after its request \
                 arrived: measure each RTT from the instant *its own* request was sent (keep \
                 the send instants, one per sequence number), to the instant its reply \
                 arrives.\n{said}",
                ms(*rtt)
            ),
            None => panic!(
                "PING {seq} counts as lost, but its reply came 250 ms after it, within the \
                 1000 ms timeout.\n{said}"
            ),
        }
    }
}

#[test]
fn ping_measures_each_rtt_from_its_own_request() {
    let server = UdpEchoServer::start(UdpScript::echo());
    // Requests 400 ms apart: an RTT taken from the start of the ping or from the first
    // request is 400 ms or more by PING 2. A true one is well under a millisecond, but a busy
    // machine may pause either program for a while (120 ms seen under CI's load), so the line
    // is drawn at 300 ms, between the two.
    let (report, took) = ping_ok(
        &server,
        3,
        MS(400),
        MS(1000),
        "the server answered every request at once (see below)",
    );
    let said = explain(&report, took, server.recording());
    for (index, rtt) in report.rtts.iter().enumerate() {
        if let Some(rtt) = rtt {
            assert!(
                *rtt < MS(300),
                "PING {}'s RTT is {}, but the server answered at once (on this machine a round \
                 trip takes well under a millisecond). The RTT is from the instant that \
                 request was sent to the instant its reply arrived, not from the start of \
                 the ping, nor from the first request.\n{said}",
                index + 1,
                ms(*rtt)
            );
        } else {
            panic!(
                "PING {} counts as lost, but it was answered at once.\n{said}",
                index + 1
            );
        }
    }
}

#[test]
fn ping_counts_a_dropped_request_as_lost() {
    let server = UdpEchoServer::start(UdpScript::echo().drop(2));
    let (report, took) = ping_ok(
        &server,
        3,
        MS(50),
        MS(300),
        "the server dropped PING 2 and its reply never comes: every wait needs a deadline (a \
         read timeout as long as the time left until the next thing to do)",
    );
    let said = explain(&report, took, server.recording());
    let lost: Vec<bool> = report.rtts.iter().map(Option::is_none).collect();
    assert!(
        lost == [false, true, false],
        "the server dropped PING 2 and answered PING 1 and PING 3 at once: exactly PING 2 is \
         lost.\n{said}"
    );
    assert!(
        took >= MS(300) && took < MS(1000),
        "ping(server, 3, 50 ms, 300 ms) returned after {}: PING 2 waits for its reply until 300 \
         ms after it was sent, and no longer.\n{said}",
        ms(took)
    );
}

#[test]
fn ping_matches_reordered_replies_by_sequence_number() {
    // The reply to PING 1 is held until PING 3's reply is sent; PING 2 is dropped. Replies
    // arrive as "PING 3", "PING 1".
    let server = UdpEchoServer::start(UdpScript::echo().swap(1).drop(2));
    let (report, took) = ping_ok(
        &server,
        3,
        MS(100),
        MS(1000),
        "the replies come in the wrong order (see below)",
    );
    let said = explain(&report, took, server.recording());
    let lost: Vec<bool> = report.rtts.iter().map(Option::is_none).collect();
    assert!(
        lost == [false, true, false],
        "the server dropped PING 2, and sent the reply to PING 1 after the reply to PING 3: \
         PING 1 and PING 3 were answered, PING 2 lost. Replies can come in any order: match \
         each to its request by the sequence number in it (parse_reply), not by the order \
         they arrive in, and not only the one you expect next.\n{said}"
    );
    let first = report.rtts[0].unwrap_or_default();
    assert!(
        first >= MS(180),
        "PING 1's RTT is {}, but its reply came only after PING 3's, which was sent 200 ms \
         after PING 1.\n{said}",
        ms(first)
    );
}

#[test]
fn ping_counts_a_duplicated_reply_once() {
    let server = UdpEchoServer::start(UdpScript::echo().duplicate(1));
    let (report, took) = ping_ok(
        &server,
        2,
        MS(50),
        MS(500),
        "the server answered PING 1 twice (see below)",
    );
    let said = explain(&report, took, server.recording());
    assert!(
        report.rtts.iter().all(Option::is_some) && report.duplicates == 1,
        "the server answered PING 1 twice and PING 2 once: both were answered, and one reply \
         is a duplicate (duplicates = 1). A second reply to a request that already has its \
         reply is counted in `duplicates`, and changes nothing else: not its RTT, not \
         another request's.\n{said}"
    );
    assert_eq!(
        report.received(),
        2,
        "two requests, two answered: a duplicate is not a third reply.\n{said}"
    );
}

#[test]
fn ping_takes_no_reply_from_another_port() {
    let server = UdpEchoServer::start(UdpScript::echo().from_another_port(2));
    let (report, took) = ping_ok(
        &server,
        3,
        MS(50),
        MS(300),
        "the reply to PING 2 comes from another port (see below)",
    );
    let said = explain(&report, took, server.recording());
    let lost: Vec<bool> = report.rtts.iter().map(Option::is_none).collect();
    assert!(
        lost == [false, true, false],
        "the reply to PING 2 came from {}, not from the address pinged, {}: it is not a \
         reply, so PING 2 is lost. Connect the socket to the address pinged: the system then \
         drops datagrams from anyone else (and reports a closed port).\n{said}",
        server.other_addr(),
        server.addr()
    );
}

#[test]
fn ping_ignores_a_reply_that_comes_after_its_timeout() {
    // The reply to PING 1 leaves 400 ms late; each request waits 200 ms for its reply.
    let server = UdpEchoServer::start(UdpScript::echo().delay(1, MS(400)));
    let (report, took) = ping_ok(
        &server,
        3,
        MS(250),
        MS(200),
        "the reply to PING 1 comes 400 ms late (see below)",
    );
    let said = explain(&report, took, server.recording());
    let lost: Vec<bool> = report.rtts.iter().map(Option::is_none).collect();
    assert!(
        lost == [true, false, false],
        "PING 1's reply came about 400 ms after it, after its 200 ms timeout: PING 1 is lost \
         (the reply counts in `ignored`), and PING 2 and PING 3 were answered at once. A \
         reply counts only within `timeout` of its own request's sending.\n{said}"
    );
    assert_eq!(
        report.ignored, 1,
        "the late reply to PING 1 came while PING 3 was waiting for its reply: it counts in \
         `ignored`.\n{said}"
    );
}

#[test]
fn ping_gives_every_request_its_own_timeout() {
    // Requests at 0, 150, 300, 450 ms; the last reply leaves 150 ms late, within its timeout.
    let server = UdpEchoServer::start(UdpScript::echo().delay(4, MS(150)));
    let (report, took) = ping_ok(
        &server,
        4,
        MS(150),
        MS(250),
        "the reply to PING 4 comes 150 ms late (see below)",
    );
    let said = explain(&report, took, server.recording());
    assert!(
        report.rtts.iter().all(Option::is_some),
        "every request was answered within its timeout of 250 ms (PING 4 after 150 ms), so \
         none is lost. Each request has its own deadline, `timeout` after *it* was sent: one \
         deadline for the whole ping, or a read timeout set once, loses the later \
         requests.\n{said}"
    );
    assert!(
        took < MS(1000),
        "ping(server, 4, 150 ms, 250 ms) took {}: it is done once PING 4's reply is in, about \
         600 ms after the start.\n{said}",
        ms(took)
    );
}

#[test]
fn ping_reports_a_closed_port_at_once_instead_of_loss() {
    let closed = closed_udp_port();
    let (result, took) = ExplainedWatchdog::new(DEADLINE)
        .explain(|| {
            "ping to a closed port never returned: every wait needs a deadline (a read \
             timeout)"
                .into()
        })
        .run(move || {
            let started = Instant::now();
            (ping(closed, 3, MS(100), MS(1000)), started.elapsed())
        });
    match result {
        Err(error) if is_refused(error.kind()) => assert!(
            took < MS(900),
            "ping to a closed port returned {:?}, but only after {}: return it as soon as it \
             comes",
            error.kind(),
            ms(took)
        ),
        Ok(report) => panic!(
            "ping(a closed port, 3, 100 ms, 1000 ms) returned a report after {}: rtts {:?}. \
             Nobody listens on that port, and the system said so (ICMP port unreachable, which \
             a connected socket reports as ConnectionRefused on Linux and macOS, \
             ConnectionReset on Windows): that is not loss, the ping failed. Return the error \
             (`?`) instead of counting it as a lost request.",
            ms(took),
            report.rtts
        ),
        Err(error) => panic!(
            "ping to a closed port returned {:?} ({error}) after {}; ConnectionRefused was \
             expected, from a connected socket",
            error.kind(),
            ms(took)
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// The program ex09-ping
// ---------------------------------------------------------------------------------------------

/// The program: `ex09-ping` from the exercise, or the same source built as
/// `ex09-solution-ping` by the reference solution (binary names are unique in a workspace).
fn ping_program() -> &'static str {
    option_env!("CARGO_BIN_EXE_ex09-ping")
        .or(option_env!("CARGO_BIN_EXE_ex09-solution-ping"))
        .expect("this test belongs to a package with the ex09-ping program")
}

fn run_program(args: &[&str]) -> ProgramRun {
    let mut command = Command::new(ping_program());
    command.args(args);
    Program::new(command)
        .time_limit(DEADLINE)
        .run()
        .expect("starting ex09-ping")
}

/// Everything about a run, for a failure message.
fn describe_run(args: &[&str], run: &ProgramRun) -> String {
    let panicked = if run.code() == Some(101) {
        " The program panicked (exit code 101; its message is on standard error below)."
    } else {
        ""
    };
    format!(
        "ex09-ping {}: {}.{panicked}\n--- its standard output ---\n{}\n--- its standard error \
         ---\n{}\n---",
        args.join(" "),
        run.ending(),
        cap_text(&run.stdout_text(), 1500),
        cap_text(&run.stderr_text(), 1500),
    )
}

#[test]
fn ex09_ping_prints_each_reply_and_the_statistics_like_ping() {
    let server = UdpEchoServer::start(UdpScript::echo().drop(2));
    let target = server.addr().to_string();
    let args = [target.as_str(), "-c", "3", "-i", "0.05", "-W", "0.3"];
    let run = run_program(&args);
    let said = format!(
        "{}\n{}",
        describe_run(&args, &run),
        server.recording().describe()
    );
    assert_eq!(
        run.code(),
        Some(0),
        "expected exit code 0 (replies came). {said}"
    );
    let out = run.stdout_text();
    for line in [
        format!("reply from {target}: seq=1 time="),
        "no reply: seq=2".to_string(),
        format!("reply from {target}: seq=3 time="),
        format!("--- {target} ping statistics ---"),
        "3 requests transmitted, 2 received, 33.3% loss".to_string(),
        "rtt min/avg/max = ".to_string(),
    ] {
        assert!(
            out.contains(&line),
            "the output has no line with {line:?} (the server dropped PING 2). {said}"
        );
    }
}

#[test]
fn ex09_ping_exits_1_without_replies_and_2_for_bad_arguments() {
    let server = UdpEchoServer::start(UdpScript::silent());
    let target = server.addr().to_string();
    let args = [target.as_str(), "-c", "2", "-i", "0.05", "-W", "0.2"];
    let run = run_program(&args);
    assert_eq!(
        run.code(),
        Some(1),
        "against a server that never answers, expected exit code 1 (no reply), as ping. {}",
        describe_run(&args, &run)
    );
    assert!(
        run.stdout_text()
            .contains("2 requests transmitted, 0 received, 100.0% loss"),
        "{}",
        describe_run(&args, &run)
    );
    for bad in [
        &[][..],
        &["127.0.0.1:9", "-c", "0"],
        &["127.0.0.1:9", "-c", "many"],
        &["127.0.0.1:9", "-W", "0"],
        &["127.0.0.1:9", "-i", "-1"],
        &["127.0.0.1:9", "-x"],
        &["not-an-address"],
    ] {
        let run = run_program(bad);
        assert_eq!(
            run.code(),
            Some(2),
            "bad arguments: expected exit code 2 with a one-line reason. {}",
            describe_run(bad, &run)
        );
        assert!(
            run.stdout.is_empty() && !run.stderr.is_empty(),
            "bad arguments: the reason goes to standard error, nothing to standard output. {}",
            describe_run(bad, &run)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// A real peer
// ---------------------------------------------------------------------------------------------

/// A UDP echo server in Python, the lectures' language: it prints its port, then echoes.
const PYTHON_ECHO: &str = "import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', 0))
print(s.getsockname()[1], flush=True)
s.settimeout(30)
while True:
    data, addr = s.recvfrom(65535)
    s.sendto(data, addr)
";

/// Python's echo server as a child process, killed when dropped.
struct PythonEcho {
    child: Child,
    addr: SocketAddr,
}

impl Drop for PythonEcho {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts Python's echo server; `None` (with a note) where Python is missing and CI is not set.
fn python_echo() -> Option<PythonEcho> {
    let spawned = Command::new("python3")
        .args(["-c", PYTHON_ECHO])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) if std::env::var_os("CI").is_none() => {
            eprintln!("note: python3 cannot be started ({error}): the Python peer test is skipped");
            return None;
        }
        Err(error) => panic!("CI is set and python3 cannot be started: {error}"),
    };
    let stdout = child.stdout.take().unwrap();
    let (line_tx, line_rx) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = line_tx.send(line);
    });
    let mut server = PythonEcho {
        child,
        addr: "127.0.0.1:0".parse().unwrap(),
    };
    let line = line_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("Python's echo server printed no port within 10 s");
    let port: u16 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("Python's echo server printed {line:?}, not a port"));
    server.addr.set_port(port);
    Some(server)
}

#[test]
fn ping_works_with_a_udp_echo_server_written_in_python() {
    let Some(python) = python_echo() else {
        return;
    };
    let addr = python.addr;
    let (result, took) = Watchdog::new(DEADLINE)
        .hint("ping to Python's echo server never returned")
        .run(move || {
            let started = Instant::now();
            (ping(addr, 3, MS(20), MS(1000)), started.elapsed())
        });
    match result {
        Ok(report) => assert!(
            report.rtts.len() == 3 && report.rtts.iter().all(Option::is_some),
            "ping(Python's echo server, 3, 20 ms, 1000 ms) returned after {} with rtts {:?}: \
             Python echoes every datagram at once, so all three were answered",
            ms(took),
            report.rtts
        ),
        Err(error) => panic!(
            "ping(Python's echo server at {addr}) returned an error ({:?}: {error})",
            error.kind()
        ),
    }
}
