//! Graded tests for exercise 5 — timeouts, and a port scanner.
//!
//! Three kinds of peer, all on `127.0.0.1` with ports the system picks:
//! - servers from the lab harness that answer, answer late, never answer, or close;
//! - a *closed port* (`ClosedPort`): nothing listens, so a connect is refused at once;
//! - a *full queue* (`FullBacklog`): a listener that never accepts, whose queue of waiting
//!   connections is already full, so the system ignores new connects. A connect there can
//!   neither succeed nor be refused: only a timeout ends it (without one it takes minutes).
//!
//! The tests measure how long your calls take. The margins are wide (a busy machine is
//! slow), but a call without its timeout would wait minutes: the test stops waiting long
//! before that and says so.
//!
//! Run them with `cargo test -p ex05`; run one with `cargo test -p ex05 NAME`.

use std::io::{BufReader, ErrorKind, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ex05::{
    PortState, Reply, connect_with_timeout, probe_port, read_line_with_timeout, scan_ports,
};
use lab_harness::{ClosedPort, EchoServer, FullBacklog, ScriptedServer, Step, Watchdog};

/// The timeout the tests pass to your functions when they expect it to run out.
const TIMEOUT: Duration = Duration::from_millis(200);

/// How much longer than its timeout a call may take on a busy machine.
const SLACK: Duration = Duration::from_secs(2);

/// How long a test waits for a call that should end after `TIMEOUT`: 25 times as long. A
/// call without a timeout would wait minutes (a connect) or forever (a read).
const GIVE_UP: Duration = Duration::from_secs(5);

/// How long any test may take in all.
const DEADLINE: Duration = Duration::from_secs(20);

/// A timeout long enough for a refusal to arrive on every system. A refused connect comes
/// back at once on Linux and macOS; Windows retries it for about two seconds first.
const FOR_A_REFUSAL: Duration = Duration::from_secs(10);

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// A read of a line by the test's own client, to check `read_line_with_timeout` against.
fn reader_for(port: u16) -> BufReader<TcpStream> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let stream = TcpStream::connect_timeout(&addr, DEADLINE).expect("the test's own connection");
    BufReader::new(stream)
}

/// Fails unless `elapsed` is `timeout` (a little less is tolerated: system timers) up to
/// `timeout + SLACK`.
#[track_caller]
fn assert_took_about(elapsed: Duration, timeout: Duration, what: &str) {
    assert!(
        elapsed >= timeout * 9 / 10,
        "{what} after {elapsed:.0?}, before the timeout of {timeout:?} was up: pass the timeout \
         you were given, unchanged"
    );
    assert!(
        elapsed <= timeout + SLACK,
        "{what} only after {elapsed:.1?}, although the timeout was {timeout:?}: is the \
         timeout set where the waiting happens?"
    );
}

#[test]
fn connect_with_timeout_reaches_a_listening_server() {
    let server = EchoServer::line();
    let port = server.port();
    let stream = Watchdog::new(DEADLINE)
        .watch(server.recording())
        .run(move || connect_with_timeout("127.0.0.1", port, Duration::from_secs(5)))
        .unwrap_or_else(|error| panic!("connecting to a listening server failed: {error}"));
    assert_eq!(stream.peer_addr().unwrap(), server.addr());
}

#[test]
fn connect_with_timeout_gives_up_after_the_timeout_when_nobody_answers() {
    let silent = FullBacklog::new().expect("a listener whose queue is full");
    let port = silent.port();
    let (result, elapsed) = Watchdog::new(GIVE_UP)
        .hint(format!(
            "connect_with_timeout was still waiting, although the timeout was {TIMEOUT:?}. \
             Nobody answers this connect, so without a timeout it waits about two minutes: \
             use `TcpStream::connect_timeout`"
        ))
        .run(move || {
            let started = Instant::now();
            let result = connect_with_timeout("127.0.0.1", port, TIMEOUT);
            (result, started.elapsed())
        });
    match result {
        Ok(stream) => panic!("connected to a port whose queue is full: {stream:?}"),
        Err(error) => assert!(
            matches!(error.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock),
            "expected the timeout as the error (kind TimedOut), got: {error}"
        ),
    }
    assert_took_about(elapsed, TIMEOUT, "connect_with_timeout gave up");
    drop(silent);
}

#[test]
fn connect_with_timeout_to_a_closed_port_is_refused_not_timed_out() {
    let closed = ClosedPort::new().expect("a port nothing listens on");
    let port = closed.port();
    let (result, elapsed) = Watchdog::new(DEADLINE)
        .hint("connect_with_timeout did not return from a refused connect")
        .run(move || {
            let started = Instant::now();
            let result = connect_with_timeout("127.0.0.1", port, FOR_A_REFUSAL);
            (result, started.elapsed())
        });
    match result {
        Ok(stream) => panic!("connected to a port nothing listens on: {stream:?}"),
        Err(error) => assert_eq!(
            error.kind(),
            ErrorKind::ConnectionRefused,
            "expected ConnectionRefused (nothing listens there), got: {error}"
        ),
    }
    assert!(
        elapsed < FOR_A_REFUSAL / 2,
        "a refused connect took {elapsed:.1?}: a refusal is an answer, return it at once \
         (do not retry until the timeout)"
    );
    drop(closed);
}

#[test]
fn connect_with_timeout_rejects_a_zero_timeout_before_connecting() {
    let server = ScriptedServer::silent();
    let port = server.port();
    let result = Watchdog::new(DEADLINE)
        .run(move || connect_with_timeout("127.0.0.1", port, Duration::ZERO));
    match result {
        Ok(stream) => panic!("a zero timeout gave a connection: {stream:?}"),
        Err(error) => assert_eq!(
            error.kind(),
            ErrorKind::InvalidInput,
            "expected InvalidInput for a zero timeout, got: {error}"
        ),
    }
    // Then a connection of our own: the server accepts connections in order, so once it has
    // seen ours, it has also seen any that came before.
    let marker =
        TcpStream::connect_timeout(&server.addr(), DEADLINE).expect("the test's own connection");
    let marker_addr = marker.local_addr().unwrap();
    let seen = server.recording().wait_until(DEADLINE, |all| {
        all.iter().any(|connection| connection.peer == marker_addr)
    });
    assert!(seen, "{}", server.recording().describe());
    let count = server.recording().totals().connections;
    assert_eq!(
        count,
        1,
        "the zero timeout was rejected, but a connection reached the server first: std's \
         `connect_timeout` starts connecting before it rejects a zero timeout, so check the \
         timeout before connecting\n{}",
        server.recording().describe()
    );
}

#[test]
fn read_line_with_timeout_returns_a_line_that_arrives_in_time() {
    let server = ScriptedServer::start(vec![Step::send("hello\r\n"), Step::Hold]);
    let port = server.port();
    let reply = Watchdog::new(DEADLINE)
        .watch(server.recording())
        .run(move || read_line_with_timeout(&mut reader_for(port), Duration::from_secs(5)))
        .expect("read_line_with_timeout failed");
    assert_eq!(
        reply,
        Reply::Line("hello".into()),
        "the server sent \"hello\\r\\n\": return the line without its line ending"
    );
}

#[test]
fn read_line_with_timeout_waits_for_a_server_that_answers_within_the_timeout() {
    // The answer comes after 300 ms; the timeout is 3 s.
    let server = ScriptedServer::start(vec![
        Step::Pause(ms(300)),
        Step::send("late but here\n"),
        Step::Hold,
    ]);
    let port = server.port();
    let reply = Watchdog::new(DEADLINE)
        .watch(server.recording())
        .run(move || read_line_with_timeout(&mut reader_for(port), Duration::from_secs(3)))
        .expect("read_line_with_timeout failed");
    assert_eq!(
        reply,
        Reply::Line("late but here".into()),
        "the server answered after 300 ms, well within the timeout of 3 s: is the timeout \
         converted correctly? (pass the Duration itself to `set_read_timeout`)"
    );
}

#[test]
fn read_line_with_timeout_times_out_on_a_silent_server_and_the_connection_stays_usable() {
    // The server says nothing until it has read a line from the client.
    let server = ScriptedServer::start(vec![Step::ReadLine, Step::send("now\n"), Step::Hold]);
    let port = server.port();
    let (first, elapsed, second) = Watchdog::new(GIVE_UP)
        .hint(format!(
            "read_line_with_timeout was still waiting, although the timeout was {TIMEOUT:?} \
             and the server sends nothing: set the read timeout on the stream \
             (`reader.get_ref().set_read_timeout(…)`)"
        ))
        .watch(server.recording())
        .run(move || {
            let mut reader = reader_for(port);
            let started = Instant::now();
            let first = read_line_with_timeout(&mut reader, TIMEOUT);
            let elapsed = started.elapsed();
            // Now poke the server: it answers, and the same reader must get the answer.
            reader
                .get_mut()
                .write_all(b"go\n")
                .expect("writing to the server");
            let second = read_line_with_timeout(&mut reader, Duration::from_secs(5));
            (first, elapsed, second)
        });
    match first {
        Ok(Reply::TimedOut) => {}
        Ok(other) => panic!("the server sent nothing, yet you returned {other:?}"),
        Err(error) => panic!(
            "a timeout is an expected outcome here: return Ok(Reply::TimedOut), not the error \
             ({error}, kind {:?}). Linux reports a read timeout as WouldBlock, Windows as \
             TimedOut: accept both",
            error.kind()
        ),
    }
    assert_took_about(elapsed, TIMEOUT, "read_line_with_timeout gave up");
    assert_eq!(
        second.expect("the read after the timeout failed"),
        Reply::Line("now".into()),
        "after a timeout the connection is still open: the server's answer should arrive"
    );
}

#[test]
fn read_line_with_timeout_reports_closed_not_timed_out_when_the_server_closes() {
    let server = ScriptedServer::sends_then_closes("bye\n");
    let port = server.port();
    let (replies, elapsed) = Watchdog::new(DEADLINE)
        .hint("read_line_with_timeout did not return after the server closed")
        .run(move || {
            let mut reader = reader_for(port);
            let first = read_line_with_timeout(&mut reader, Duration::from_secs(10));
            let started = Instant::now();
            let second = read_line_with_timeout(&mut reader, Duration::from_secs(10));
            ([first, second], started.elapsed())
        });
    let [first, second] = replies.map(|reply| reply.expect("read_line_with_timeout failed"));
    assert_eq!(
        first,
        Reply::Line("bye".into()),
        "the server sent \"bye\\n\" and closed: first the line, without its ending"
    );
    assert_eq!(
        second,
        Reply::Closed,
        "the server closed after \"bye\\n\": a read of 0 bytes means closed"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "Closed took {elapsed:.1?} to report: a closed connection is known at once, not \
         after the timeout"
    );
}

#[test]
fn read_line_with_timeout_tells_an_empty_line_from_a_closed_connection() {
    let server = ScriptedServer::start(vec![Step::send("\r\n\nlast"), Step::Close]);
    let port = server.port();
    let replies = Watchdog::new(DEADLINE)
        .hint("read_line_with_timeout did not return although the lines were all sent")
        .run(move || {
            let mut reader = reader_for(port);
            (0..4)
                .map(|_| read_line_with_timeout(&mut reader, Duration::from_secs(5)))
                .collect::<Result<Vec<_>, _>>()
        })
        .expect("read_line_with_timeout failed");
    let expected = [
        Reply::Line(String::new()),
        Reply::Line(String::new()),
        Reply::Line("last".into()),
        Reply::Closed,
    ];
    assert_eq!(
        replies, expected,
        "the server sent \"\\r\\n\\nlast\" in one write and closed: two empty lines, a last \
         line without an ending, then Closed. (All of it arrives in one read: keep using the \
         same reader, its buffer holds the rest.)"
    );
}

#[test]
fn probe_port_reports_a_listening_port_as_open() {
    let server = EchoServer::line();
    let addr = server.addr();
    let state = Watchdog::new(DEADLINE).run(move || probe_port(addr, Duration::from_secs(5)));
    assert_eq!(
        state,
        PortState::Open,
        "a server listens on {addr}: the connect succeeds"
    );
}

#[test]
fn probe_port_reports_a_refusing_port_as_closed_at_once() {
    let closed = ClosedPort::new().expect("a port nothing listens on");
    let addr = closed.addr();
    let (state, elapsed) = Watchdog::new(DEADLINE).run(move || {
        let started = Instant::now();
        (probe_port(addr, FOR_A_REFUSAL), started.elapsed())
    });
    assert_eq!(
        state,
        PortState::Closed,
        "nothing listens on {addr}, so the connect is refused (ConnectionRefused): Closed"
    );
    assert!(
        elapsed < FOR_A_REFUSAL / 2,
        "a refused probe took {elapsed:.1?}: return as soon as the refusal arrives"
    );
    drop(closed);
}

#[test]
fn probe_port_reports_a_silent_port_as_filtered_after_the_timeout() {
    let silent = FullBacklog::new().expect("a listener whose queue is full");
    let addr = silent.addr();
    let (state, elapsed) = Watchdog::new(GIVE_UP)
        .hint(format!(
            "probe_port was still waiting, although the timeout was {TIMEOUT:?}: use \
             `TcpStream::connect_timeout`"
        ))
        .run(move || {
            let started = Instant::now();
            (probe_port(addr, TIMEOUT), started.elapsed())
        });
    assert_eq!(
        state,
        PortState::Filtered,
        "nobody answers a connect to {addr}: the probe times out, and that is Filtered"
    );
    assert_took_about(elapsed, TIMEOUT, "probe_port gave up");
    drop(silent);
}

#[test]
fn scan_ports_reports_each_port_in_the_order_given() {
    let open = [EchoServer::line(), EchoServer::line()];
    let closed = ClosedPort::new().expect("a port nothing listens on");
    let silent = FullBacklog::new().expect("a listener whose queue is full");
    let ports = vec![silent.port(), open[0].port(), closed.port(), open[1].port()];
    let expected = vec![
        (silent.port(), PortState::Filtered),
        (open[0].port(), PortState::Open),
        (closed.port(), PortState::Closed),
        (open[1].port(), PortState::Open),
    ];
    // Long enough for a refusal on every system (see FOR_A_REFUSAL), short on Linux.
    let timeout = if cfg!(windows) { ms(3000) } else { ms(500) };
    let result = Watchdog::new(DEADLINE)
        .hint("scan_ports did not return: does every probe use the timeout?")
        .run(move || scan_ports("127.0.0.1", &ports, timeout))
        .expect("scan_ports failed");
    assert_eq!(
        result, expected,
        "expected each port with its state, in the order given"
    );
    drop((open, closed, silent));
}

#[test]
fn scan_ports_probes_ports_at_the_same_time() {
    const SILENT: usize = 50;
    let timeout = ms(300);
    let silent: Vec<FullBacklog> = (0..SILENT)
        .map(|_| FullBacklog::new().expect("a listener whose queue is full"))
        .collect();
    let ports: Vec<u16> = silent.iter().map(FullBacklog::port).collect();
    let one_by_one = timeout * SILENT as u32;
    let (result, elapsed) = Watchdog::new(ms(8000))
        .hint(format!(
            "scan_ports has not finished: {SILENT} ports that never answer, probed one after \
             another with a timeout of {timeout:?}, take {one_by_one:?}. Probe them at the same \
             time: a thread per port (`thread::scope`)"
        ))
        .run(move || {
            let started = Instant::now();
            let result = scan_ports("127.0.0.1", &ports, timeout);
            (result, started.elapsed())
        });
    let result = result.expect("scan_ports failed");
    let filtered = result
        .iter()
        .filter(|(_, state)| *state == PortState::Filtered)
        .count();
    assert_eq!(
        (result.len(), filtered),
        (SILENT, SILENT),
        "expected all {SILENT} silent ports, each Filtered; got {result:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "scanning {SILENT} silent ports with a timeout of {timeout:?} took {elapsed:.1?}; at \
         the same time they take about {timeout:?}, one after another {one_by_one:?}: probe \
         them concurrently"
    );
    assert!(
        elapsed >= timeout * 9 / 10,
        "scan_ports reported {SILENT} ports as Filtered after {elapsed:.0?}, before the timeout \
         of {timeout:?} was up: pass the timeout on unchanged"
    );
    drop(silent);
}
