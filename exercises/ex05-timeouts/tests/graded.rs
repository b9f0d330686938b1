//! Graded tests for exercise 5 — timeouts, and a port scanner.
//!
//! Three kinds of peer, all on this machine with ports the system picks:
//! - servers from the lab harness that answer, answer late, never answer, close or reset;
//! - a *closed port* (`ClosedPort`): nothing listens, so a connect is refused at once;
//! - a *full queue* (`FullBacklog`): a listener that never accepts, whose queue of waiting
//!   connections is already full, so the system ignores new connects. A connect there can
//!   neither succeed nor be refused: only a timeout ends it (without one it takes minutes).
//!
//! The tests measure how long your calls take. The margins are wide (a busy machine is
//! slow), but a call without its timeout would wait minutes. So a test runs each call of
//! yours that could wait on a thread of its own (`wait_for`), and waits for it a few seconds
//! at most. When it is still waiting, the test looks once more with a timeout of 1 ms, to tell
//! "no timeout at all" from "a timeout converted wrongly", and says which. When a harness
//! server was involved, a failure ends with the conversation on the wire: what the server
//! received and sent, and when. Those helpers are at the end of this file.
//!
//! A few tests use the IPv6 loopback address `::1` and the name `localhost`. Where this
//! machine cannot show what they check (it has no IPv6, or `localhost` has one address
//! only), they say so in a note and check what they can.
//!
//! Run them with `cargo test -p ex05`; run one with `cargo test -p ex05 NAME`.

// This file also grades the reference solution (package ex05-solution), whose library is
// named `ex05_solution`: there this line makes `ex05` mean it.
#[cfg(netlab_solution)]
extern crate ex05_solution as ex05;

use std::io::{self, BufReader, ErrorKind, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use ex05::{
    PortState, Reply, connect_with_timeout, probe_port, read_line_with_timeout, scan_ports,
};
use lab_harness::{
    ClosedPort, EchoServer, FullBacklog, ScriptedServer, Step, Watchdog, listen_on_one_of,
};

/// The timeout the tests pass to your functions when they expect it to run out.
const TIMEOUT: Duration = Duration::from_millis(200);

/// How much longer than its timeout a call may take on a busy machine.
const SLACK: Duration = Duration::from_secs(2);

/// How long a test waits for a call of yours that should end after `TIMEOUT` (or at once):
/// 25 times as long. A call without a timeout would wait minutes (a connect) or forever (a
/// read).
const GIVE_UP: Duration = Duration::from_secs(5);

/// The tiny timeout of the second look at a call that was still waiting: converted from
/// milliseconds to seconds, it becomes 1 s.
const TINY: Duration = Duration::from_millis(1);

/// How long the second look may take.
const LOOK_AGAIN: Duration = Duration::from_secs(3);

/// The watchdog of every test: a safety net only, since every call of yours that could wait
/// is waited for `GIVE_UP` at most.
const DEADLINE: Duration = Duration::from_secs(20);

/// A timeout long enough for a refusal to arrive on every system. A refused connect comes
/// back at once on Linux and macOS; Windows retries it for about two seconds first.
const FOR_A_REFUSAL: Duration = Duration::from_secs(10);

/// The timeout of the scans: long enough for a refusal on every system, short on Linux.
const SCAN_TIMEOUT: Duration = if cfg!(windows) {
    Duration::from_secs(3)
} else {
    Duration::from_millis(500)
};

/// The most probes a scan may run at once (as `scan_ports` says).
const AT_ONCE: usize = 100;

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

// ---------------------------------------------------------------------------------------------
// connect_with_timeout
// ---------------------------------------------------------------------------------------------

#[test]
fn connect_with_timeout_reaches_a_listening_server() {
    // ("127.0.0.1", port) with a server there: the stream you return is connected to it.
    let server = EchoServer::line();
    let port = server.port();
    let stream = Watchdog::new(DEADLINE)
        .watch(server.recording())
        .run(move || connect_with_timeout(("127.0.0.1", port), Duration::from_secs(5)))
        .unwrap_or_else(|error| panic!("connecting to a listening server failed: {error}"));
    assert_eq!(stream.peer_addr().unwrap(), server.addr());
}

#[test]
fn connect_with_timeout_tries_each_address_in_turn() {
    // Three addresses, as a name may resolve to several: the first refuses, nobody answers at
    // the second, and a server listens at the third. The connection must reach the third.
    let closed = ClosedPort::new().expect("a port nothing listens on");
    let silent = FullBacklog::new().expect("a listener whose queue is full");
    let server = ScriptedServer::silent();
    let addresses = [closed.addr(), silent.addr(), server.addr()];
    let given = format!(
        "connect_with_timeout(&[{}, {}, {}], {TIMEOUT:?}) (the first refuses, nobody answers \
         at the second, a server listens at the third)",
        addresses[0], addresses[1], addresses[2]
    );
    let recording = server.recording().clone();
    Watchdog::new(DEADLINE).run(move || {
        let Some((result, elapsed)) = wait_for(GIVE_UP, move || {
            connect_with_timeout(&addresses[..], TIMEOUT)
        }) else {
            panic!("{}", still_connecting(&given));
        };
        let problem = match result {
            Ok(stream) if stream.peer_addr().ok() == Some(server.addr()) => return,
            Ok(stream) => format!("It connected, but not to the server: {stream:?}"),
            Err(error) if error.kind() == ErrorKind::ConnectionRefused => format!(
                "It returned Err({error}) after {elapsed:.1?}: the refusal of the first \
                 address. {ONLY_THE_FIRST}"
            ),
            Err(error) if is_timeout(&error) => format!(
                "It returned Err({error}) after {elapsed:.1?}, a timeout, and never reached \
                 the third address, where a server listens. A timeout is one address's \
                 failure, like a refusal: go on with the next address, and return an error \
                 only when every one has failed."
            ),
            Err(error) => explain_connect_error(&error, elapsed, TIMEOUT),
        };
        panic!("{given}. {problem}\n{}", recording.describe());
    });
    drop((closed, silent));
}

#[test]
fn connect_with_timeout_returns_the_last_error_when_every_address_fails() {
    // Two addresses, neither works: the first refuses at once, nobody answers at the second.
    // Trying both takes the timeout (spent at the second), and the error to return is the
    // last one, the timeout: like `TcpStream::connect` and Python's `create_connection`.
    let closed = ClosedPort::new().expect("a port nothing listens on");
    let silent = FullBacklog::new().expect("a listener whose queue is full");
    let addresses = [closed.addr(), silent.addr()];
    let given = format!(
        "connect_with_timeout(&[{}, {}], {TIMEOUT:?}) (the first refuses, nobody answers at \
         the second)",
        addresses[0], addresses[1]
    );
    Watchdog::new(DEADLINE).run(move || {
        let Some((result, elapsed)) = wait_for(GIVE_UP, move || {
            connect_with_timeout(&addresses[..], TIMEOUT)
        }) else {
            panic!("{}", still_connecting(&given));
        };
        let tried_both = elapsed >= TIMEOUT * 9 / 10;
        match result {
            Err(error) if is_timeout(&error) => {
                assert_took_about(elapsed, TIMEOUT, "connect_with_timeout gave up");
            }
            Err(error) if error.kind() == ErrorKind::ConnectionRefused && !tried_both => panic!(
                "{given}. It returned Err({error}) after {elapsed:.1?}, before the timeout: the \
                 refusal of the first address, without trying the second. {ONLY_THE_FIRST}"
            ),
            Err(error) if error.kind() == ErrorKind::ConnectionRefused => panic!(
                "{given}. It tried both (it took {elapsed:.1?}: the timeout, spent at the \
                 second address), but returned the error of the first: Err({error}). When \
                 every address fails, return the last error, as `TcpStream::connect` and \
                 Python's `create_connection` do: keep only the most recent error in the loop."
            ),
            Err(error) => panic!(
                "{given}. {}",
                explain_connect_error(&error, elapsed, TIMEOUT)
            ),
            Ok(stream) => panic!("{given}. Yet it connected: {stream:?}"),
        }
    });
    drop((closed, silent));
}

#[test]
fn connect_with_timeout_tries_every_address_a_name_resolves_to() {
    // The name "localhost" resolves to every address this machine lists for it: on most
    // machines two, `::1` and `127.0.0.1`, and a client tries them in the order the system
    // gives. The test listens on the last of them only; at the others the same port refuses
    // (an address this machine cannot use, such as `::1` where IPv6 is off, fails anyway), so
    // a connect that tries only the first address fails.
    //
    // Where "localhost" has one address only (some Linux machines), nothing can show that
    // here: the test says so and only checks that a server on it is reached.
    // `connect_with_timeout_tries_each_address_in_turn` checks the turns everywhere.
    Watchdog::new(DEADLINE).run(|| {
        let names = localhost_addresses();
        let usable: Vec<IpAddr> = names
            .iter()
            .copied()
            .filter(|&ip| TcpListener::bind((ip, 0)).is_ok())
            .collect();
        let (host, listener, _closed) = match usable.split_last() {
            Some((&last, others)) => {
                if names.len() < 2 {
                    println!(
                        "note: localhost resolves only to {last} on this machine, so trying \
                         only the first address cannot be told from trying each"
                    );
                }
                let (listener, closed) =
                    listen_on_one_of(last, others).expect("listening on one of localhost's");
                ("localhost", listener, closed)
            }
            None => {
                println!(
                    "note: localhost resolves to no address this machine can listen on \
                     ({names:?}): the test connects to 127.0.0.1 instead"
                );
                let (listener, closed) = listen_on_one_of(IpAddr::V4(Ipv4Addr::LOCALHOST), &[])
                    .expect("listening on 127.0.0.1");
                ("127.0.0.1", listener, closed)
            }
        };
        let server =
            ScriptedServer::start_on(listener, vec![Step::Hold]).expect("starting the server");
        let port = server.port();
        let timeout = Duration::from_secs(2);
        let given = format!(
            "{host} resolves to {names:?} here. A server listens at {}, and port {port} is \
             closed at the other addresses. connect_with_timeout((\"{host}\", {port}), \
             {timeout:?})",
            server.addr()
        );
        let Some((result, elapsed)) =
            wait_for(GIVE_UP, move || connect_with_timeout((host, port), timeout))
        else {
            panic!("{}", still_connecting(&given));
        };
        let problem = match result {
            Ok(stream) if stream.peer_addr().ok() == Some(server.addr()) => return,
            Ok(stream) => format!("connected, but not to the server: {stream:?}"),
            Err(error) if is_timeout(&error) || error.kind() == ErrorKind::InvalidInput => {
                explain_connect_error(&error, elapsed, timeout)
            }
            Err(error) if names.len() > 1 => format!(
                "returned Err({error}) after {elapsed:.1?}, and the server was never reached. \
                 {ONLY_THE_FIRST}"
            ),
            Err(error) => format!("returned Err({error}) after {elapsed:.1?}."),
        };
        panic!("{given} {problem}\n{}", server.recording().describe());
    });
}

#[test]
fn connect_with_timeout_gives_up_after_the_timeout_when_nobody_answers() {
    // A full queue, with a timeout of 200 ms: the timeout is the error, after 200 ms.
    let silent = FullBacklog::new().expect("a listener whose queue is full");
    let port = silent.port();
    Watchdog::new(DEADLINE).run(move || {
        let Some((result, elapsed)) = wait_for(GIVE_UP, move || {
            connect_with_timeout(("127.0.0.1", port), TIMEOUT)
        }) else {
            panic!(
                "{}",
                still_connecting(&format!(
                    "connect_with_timeout((\"127.0.0.1\", {port}), {TIMEOUT:?}), where nobody \
                     answers,"
                ))
            );
        };
        match result {
            Ok(stream) => panic!("connected to a port whose queue is full: {stream:?}"),
            Err(error) => assert!(
                is_timeout(&error),
                "expected the timeout as the error (kind TimedOut). {}",
                explain_connect_error(&error, elapsed, TIMEOUT)
            ),
        }
        assert_took_about(elapsed, TIMEOUT, "connect_with_timeout gave up");
        drop(silent);
    });
}

#[test]
fn connect_with_timeout_to_a_closed_port_is_refused_not_timed_out() {
    // A closed port, with a timeout of 10 s: refused, at once.
    let closed = ClosedPort::new().expect("a port nothing listens on");
    let port = closed.port();
    Watchdog::new(DEADLINE).run(move || {
        let Some((result, elapsed)) = wait_for(GIVE_UP, move || {
            connect_with_timeout(("127.0.0.1", port), FOR_A_REFUSAL)
        }) else {
            panic!(
                "a connect to a port nothing listens on was still waiting after {GIVE_UP:?} \
                 (the timeout was {FOR_A_REFUSAL:?}): a refusal is an answer, return it at \
                 once (do not retry until the timeout)"
            );
        };
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
    });
}

#[test]
fn connect_with_timeout_rejects_a_zero_timeout_before_connecting() {
    // A zero timeout is InvalidInput, and no connection may reach the server.
    let server = ScriptedServer::silent();
    let port = server.port();
    let result = Watchdog::new(DEADLINE)
        .run(move || connect_with_timeout(("127.0.0.1", port), Duration::ZERO));
    match result {
        Ok(stream) => panic!("a zero timeout gave a connection: {stream:?}"),
        Err(error) => assert_eq!(
            error.kind(),
            ErrorKind::InvalidInput,
            "expected InvalidInput for a zero timeout, got: {error}"
        ),
    }
    assert_no_connection_came_first(
        &server,
        "the zero timeout was rejected, but a connection reached the server first",
    );
}

#[test]
fn connect_with_timeout_to_no_address_at_all_is_an_invalid_input_error() {
    // An empty list of addresses (what a name that resolves to nothing gives): an error of
    // kind InvalidInput, not a panic.
    let result = Watchdog::new(DEADLINE).run(|| {
        let nowhere: &[SocketAddr] = &[];
        connect_with_timeout(nowhere, TIMEOUT)
    });
    match result {
        Ok(stream) => panic!("connected to no address at all: {stream:?}"),
        Err(error) => assert_eq!(
            error.kind(),
            ErrorKind::InvalidInput,
            "given no address at all, expected an error of kind InvalidInput, got: {error}"
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// read_line_with_timeout
// ---------------------------------------------------------------------------------------------

#[test]
fn read_line_with_timeout_returns_a_line_that_arrives_in_time() {
    // The server sends "hello\r\n": the line comes back without its line ending.
    let server = ScriptedServer::start(vec![Step::send("hello\r\n"), Step::Hold]);
    let port = server.port();
    let reply = Watchdog::new(DEADLINE)
        .watch(server.recording())
        .run(move || read_line_with_timeout(&mut reader_for(port), Duration::from_secs(5)))
        .unwrap_or_else(|error| {
            panic!(
                "read_line_with_timeout failed: {error}\n{}",
                server.recording().describe()
            )
        });
    assert_eq!(
        reply,
        Reply::Line("hello".into()),
        "the server sent \"hello\\r\\n\": return the line without its line ending.{}\n{}",
        explain_line("hello", &reply),
        server.recording().describe()
    );
}

#[test]
fn read_line_with_timeout_keeps_spaces_and_tabs_inside_a_line() {
    // Only the line ending is removed: spaces and tabs at either end belong to the line.
    const SENT: &str = "\t two spaces and a tab before, two spaces after  \r\n";
    const LINE: &str = "\t two spaces and a tab before, two spaces after  ";
    let server = ScriptedServer::start(vec![Step::send(SENT), Step::Hold]);
    let port = server.port();
    let reply = Watchdog::new(DEADLINE)
        .watch(server.recording())
        .run(move || read_line_with_timeout(&mut reader_for(port), Duration::from_secs(5)))
        .unwrap_or_else(|error| {
            panic!(
                "read_line_with_timeout failed: {error}\n{}",
                server.recording().describe()
            )
        });
    assert_eq!(
        reply,
        Reply::Line(LINE.into()),
        "the server sent {SENT:?}: return the line without its line ending, and nothing \
         else removed.{}\n{}",
        explain_line(LINE, &reply),
        server.recording().describe()
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
    let timeout = Duration::from_secs(3);
    let (reply, elapsed, set) = Watchdog::new(DEADLINE)
        .watch(server.recording())
        .run(move || {
            let mut reader = reader_for(port);
            let started = Instant::now();
            let reply = read_line_with_timeout(&mut reader, timeout);
            (reply, started.elapsed(), reader.get_ref().read_timeout())
        });
    let reply = reply.unwrap_or_else(|error| {
        panic!(
            "read_line_with_timeout failed: {}\n{}",
            explain_read_error(&error, timeout),
            server.recording().describe()
        )
    });
    assert_eq!(
        reply,
        Reply::Line("late but here".into()),
        "the server answered after 300 ms, well within the timeout of 3 s, yet you returned \
         {reply:?} after {elapsed:.1?} (the socket's read timeout was then {}): is the timeout \
         converted correctly? Pass the Duration itself to `set_read_timeout`: \
         `Duration::from_millis(timeout.as_secs())` turns 3 s into 3 ms\n{}",
        show_timeout(&set),
        server.recording().describe()
    );
}

#[test]
fn read_line_with_timeout_times_out_on_a_silent_server_and_the_connection_stays_usable() {
    // The server says nothing until it has read a line from the client. A read with a
    // timeout of 200 ms gives Ok(TimedOut) after 200 ms; then the test sends a line, and the
    // next read on the same reader gets the server's answer. (Linux and macOS report the
    // timeout as WouldBlock, Windows as TimedOut: code that accepts only TimedOut passes on
    // Windows, and this test shows the mistake on Linux and macOS.)
    let server = ScriptedServer::start(vec![Step::ReadLine, Step::send("now\n"), Step::Hold]);
    let port = server.port();
    let recording = server.recording().clone();
    Watchdog::new(DEADLINE).run(move || {
        let mut reader = reader_for(port);
        let socket = reader.get_ref().try_clone().expect("a second handle");
        let Some(((first, reader), elapsed)) = wait_for(GIVE_UP, move || {
            (read_line_with_timeout(&mut reader, TIMEOUT), reader)
        }) else {
            panic!(
                "{}\n{}",
                still_reading(&socket, TIMEOUT, "the server sends nothing"),
                recording.describe()
            );
        };
        match first {
            Ok(Reply::TimedOut) => {}
            Ok(Reply::Closed) => panic!("{}\n{}", timeout_as_closed(elapsed), recording.describe()),
            Ok(other) => panic!(
                "the server sent nothing, yet you returned {other:?}\n{}",
                recording.describe()
            ),
            Err(error) => panic!(
                "the server sent nothing for {elapsed:.1?}: {}\n{}",
                explain_read_error(&error, TIMEOUT),
                recording.describe()
            ),
        }
        assert_took_about(elapsed, TIMEOUT, "read_line_with_timeout gave up");
        // Now poke the server: it answers, and the same reader must get the answer.
        let mut reader = reader;
        reader
            .get_mut()
            .write_all(b"go\n")
            .expect("writing to the server");
        let second = read_line_with_timeout(&mut reader, Duration::from_secs(5));
        assert_eq!(
            second.expect("the read after the timeout failed"),
            Reply::Line("now".into()),
            "after a timeout the connection is still open: the server's answer should \
             arrive\n{}",
            recording.describe()
        );
        drop(server);
    });
}

#[test]
fn read_line_with_timeout_sets_the_timeout_before_reading() {
    // The server sends one line, then nothing. The first read (timeout 3 s) gets the line at
    // once; the second, with a timeout of 200 ms, must time out after 200 ms, not 3 s: each
    // call waits with its own timeout, so the timeout is set before the read.
    let first_timeout = Duration::from_secs(3);
    let server = ScriptedServer::start(vec![Step::send("first\n"), Step::Hold]);
    let port = server.port();
    let recording = server.recording().clone();
    Watchdog::new(DEADLINE).run(move || {
        let mut reader = reader_for(port);
        let socket = reader.get_ref().try_clone().expect("a second handle");
        let first = read_line_with_timeout(&mut reader, first_timeout);
        assert_eq!(
            first.as_ref().ok(),
            Some(&Reply::Line("first".into())),
            "the server sent \"first\\n\": expected Line(\"first\"), got {first:?}\n{}",
            recording.describe()
        );
        let Some((second, elapsed)) = wait_for(GIVE_UP, move || {
            read_line_with_timeout(&mut reader, TIMEOUT)
        }) else {
            panic!(
                "{}\n{}",
                still_reading(&socket, TIMEOUT, "the server sends nothing more"),
                recording.describe()
            );
        };
        match second {
            Ok(Reply::TimedOut) => {}
            Ok(Reply::Closed) => panic!(
                "the second call: {}\n{}",
                timeout_as_closed(elapsed),
                recording.describe()
            ),
            Ok(other) => panic!(
                "the server sent nothing after \"first\\n\", yet the second call returned \
                 {other:?}\n{}",
                recording.describe()
            ),
            Err(error) => panic!(
                "the second call: {}\n{}",
                explain_read_error(&error, TIMEOUT),
                recording.describe()
            ),
        }
        let previous_calls_timeout =
            elapsed >= first_timeout * 9 / 10 && elapsed <= first_timeout + SLACK;
        assert!(
            !previous_calls_timeout,
            "the first call (timeout {first_timeout:?}) returned its line at once; the second, \
             with a timeout of {TIMEOUT:?} and a silent server, timed out only after \
             {elapsed:.1?}: the {first_timeout:?} of the previous call. The read waited with \
             the timeout the previous call had left on the socket: the timeout is set after \
             the read. Set it before `read_line`, so that each read uses its own call's \
             timeout\n{}",
            recording.describe()
        );
        assert_took_about(
            elapsed,
            TIMEOUT,
            "the second read_line_with_timeout gave up",
        );
        drop(server);
    });
}

#[test]
fn read_line_with_timeout_reports_closed_not_timed_out_when_the_server_closes() {
    // The server sends "bye\n" and closes. The first read gets the line; the second, with a
    // timeout of 10 s, reports Closed at once.
    let server = ScriptedServer::sends_then_closes("bye\n");
    let port = server.port();
    let recording = server.recording().clone();
    Watchdog::new(DEADLINE).run(move || {
        let mut reader = reader_for(port);
        let timeout = Duration::from_secs(10);
        let first = read_line_with_timeout(&mut reader, timeout)
            .unwrap_or_else(|error| panic!("read_line_with_timeout failed: {error}"));
        assert_eq!(
            first,
            Reply::Line("bye".into()),
            "the server sent \"bye\\n\" and closed: first the line, without its ending\n{}",
            recording.describe()
        );
        let Some((second, elapsed)) = wait_for(GIVE_UP, move || {
            read_line_with_timeout(&mut reader, timeout)
        }) else {
            panic!(
                "the server closed the connection after \"bye\\n\", and read_line_with_timeout \
                 was still waiting after {GIVE_UP:?}: a closed connection is known at once (a \
                 read of 0 bytes), return Closed then; reading again after 0 bytes never \
                 ends\n{}",
                recording.describe()
            );
        };
        let second = second.unwrap_or_else(|error| {
            panic!(
                "after \"bye\\n\" the server closed its side, which is no error: return \
                 Ok(Closed), not Err({error})\n{}",
                recording.describe()
            )
        });
        assert_eq!(
            second,
            Reply::Closed,
            "the server closed after \"bye\\n\": a read of 0 bytes means closed.{}\n{}",
            closed_as_timeout(&second, elapsed, timeout),
            recording.describe()
        );
        assert!(
            elapsed < Duration::from_secs(5),
            "Closed took {elapsed:.1?} to report: a closed connection is known at once, not \
             after the timeout"
        );
        drop(server);
    });
}

#[test]
fn read_line_with_timeout_tells_an_empty_line_from_a_closed_connection() {
    // The server sends "\r\n\nlast" in one write and closes: two empty lines, a last line
    // without an ending, then Closed.
    let server = ScriptedServer::start(vec![Step::send("\r\n\nlast"), Step::Close]);
    let port = server.port();
    let recording = server.recording().clone();
    Watchdog::new(DEADLINE).run(move || {
        let mut reader = reader_for(port);
        let timeout = Duration::from_secs(5);
        let Some((replies, elapsed)) = wait_for(GIVE_UP, move || {
            (0..4)
                .map(|_| read_line_with_timeout(&mut reader, timeout))
                .collect::<Result<Vec<_>, _>>()
        }) else {
            panic!(
                "four calls of read_line_with_timeout did not return within {GIVE_UP:?}, \
                 although the lines were all sent and the server closed: a closed connection \
                 is known at once (a read of 0 bytes)\n{}",
                recording.describe()
            );
        };
        let replies = replies.unwrap_or_else(|error| {
            panic!(
                "read_line_with_timeout failed: {error}\n{}",
                recording.describe()
            )
        });
        let expected = [
            Reply::Line(String::new()),
            Reply::Line(String::new()),
            Reply::Line("last".into()),
            Reply::Closed,
        ];
        let why = if replies.first() == Some(&Reply::Closed) {
            " An empty line (\"\\r\\n\") is Line(\"\"), not Closed: only a read of 0 bytes \
             means closed. Look at the count read_line returns, before you strip the line \
             ending, not at whether the line is empty."
                .to_string()
        } else {
            replies
                .last()
                .map(|last| closed_as_timeout(last, elapsed, timeout))
                .unwrap_or_default()
        };
        assert_eq!(
            replies,
            expected,
            "the server sent \"\\r\\n\\nlast\" in one write and closed: two empty lines, a last \
             line without an ending, then Closed. (All of it arrives in one read: keep using \
             the same reader, its buffer holds the rest.){why}\n{}",
            recording.describe()
        );
        drop(server);
    });
}

#[test]
fn read_line_with_timeout_returns_other_errors_as_errors() {
    // The server resets the connection, so the read fails at once with an error
    // (ConnectionReset). That is no timeout: the error must come back as an error. (The
    // server resets only once the test's client has sent it a byte: a reset before the
    // client's connect has returned would fail the connect itself.)
    let server = ScriptedServer::start(vec![Step::ReadExactly(1), Step::Reset]);
    let port = server.port();
    let recording = server.recording().clone();
    Watchdog::new(DEADLINE).run(move || {
        let mut reader = reader_for(port);
        let socket = reader.get_ref().try_clone().expect("a second handle");
        reader
            .get_mut()
            .write_all(b"x")
            .expect("writing to the server");
        let timeout = Duration::from_secs(5);
        let Some((result, elapsed)) = wait_for(GIVE_UP, move || {
            read_line_with_timeout(&mut reader, timeout)
        }) else {
            panic!(
                "{}\n{}",
                still_reading(&socket, timeout, "the server reset the connection"),
                recording.describe()
            );
        };
        let seen = "the server reset the connection (see the conversation below), so the read \
                    failed at once with an error (ConnectionReset)";
        match result {
            Err(error) if !is_timeout(&error) => {}
            Err(error) => panic!(
                "{seen}, yet you returned Err({error}), a timeout\n{}",
                recording.describe()
            ),
            Ok(Reply::TimedOut) => panic!(
                "{seen}, yet you returned TimedOut after {elapsed:.1?}, although the timeout \
                 was {timeout:?}. Only the kinds WouldBlock and TimedOut mean the time was up: \
                 return every other error as it is (`Err(error) => Err(error)`), or the caller \
                 waits again on a connection that is gone\n{}",
                recording.describe()
            ),
            Ok(Reply::Closed) => panic!(
                "{seen}, yet you returned Closed. Closed is the server's orderly end (a read of \
                 0 bytes); a reset is an error: return every other error as it is \
                 (`Err(error) => Err(error)`)\n{}",
                recording.describe()
            ),
            Ok(other) => panic!(
                "{seen}, yet you returned {other:?}\n{}",
                recording.describe()
            ),
        }
        drop(server);
    });
}

// ---------------------------------------------------------------------------------------------
// probe_port
// ---------------------------------------------------------------------------------------------

#[test]
fn probe_port_reports_a_listening_port_as_open() {
    let server = EchoServer::line();
    let addr = server.addr();
    let state = Watchdog::new(DEADLINE)
        .watch(server.recording())
        .run(move || probe_port(addr, Duration::from_secs(5)));
    assert_eq!(
        state,
        PortState::Open,
        "a server listens on {addr}: the connect succeeds\n{}",
        server.recording().describe()
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
    let why = match state {
        PortState::Filtered => format!(
            " You said Filtered after {elapsed:.1?}: but a refusal is an answer from the host \
             (\"nothing listens here\"), so the port is Closed. Filtered is for no answer at \
             all, when only the timeout ends the wait."
        ),
        _ => String::new(),
    };
    assert_eq!(
        state,
        PortState::Closed,
        "nothing listens on {addr}, so the connect is refused (ConnectionRefused): Closed.{why}"
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
    Watchdog::new(DEADLINE).run(move || {
        let Some((state, elapsed)) = wait_for(GIVE_UP, move || probe_port(addr, TIMEOUT)) else {
            panic!(
                "{}",
                still_probing(&format!(
                    "probe_port({addr}, {TIMEOUT:?}), where nobody answers,"
                ))
            );
        };
        let why = match state {
            PortState::Closed => format!(
                " You said Closed after {elapsed:.1?}: but nothing refused this connect, it got \
                 no answer at all (the connect timed out). Closed is only for a refusal \
                 (ConnectionRefused); no answer within the timeout is Filtered."
            ),
            _ => String::new(),
        };
        assert_eq!(
            state,
            PortState::Filtered,
            "nobody answers a connect to {addr}: the probe times out, and that is Filtered.{why}"
        );
        assert_took_about(elapsed, TIMEOUT, "probe_port gave up");
        drop(silent);
    });
}

#[test]
fn probe_port_with_a_zero_timeout_is_filtered_without_connecting() {
    // A zero timeout cannot hear any answer: Filtered, and no connection reaches the server.
    let server = ScriptedServer::silent();
    let addr = server.addr();
    let state = Watchdog::new(DEADLINE).run(move || probe_port(addr, Duration::ZERO));
    assert_eq!(
        state,
        PortState::Filtered,
        "a zero timeout cannot hear any answer: Filtered\n{}",
        server.recording().describe()
    );
    assert_no_connection_came_first(
        &server,
        "probe_port said Filtered for a zero timeout, but a connection reached the server \
         first",
    );
}

// ---------------------------------------------------------------------------------------------
// scan_ports
// ---------------------------------------------------------------------------------------------

#[test]
fn scan_ports_reports_each_port_in_the_order_given() {
    // Four ports: nobody answers at the first, a server listens at the second and fourth,
    // the third refuses.
    let open = [EchoServer::line(), EchoServer::line()];
    let closed = ClosedPort::new().expect("a port nothing listens on");
    let silent = FullBacklog::new().expect("a listener whose queue is full");
    let expected = vec![
        (silent.port(), PortState::Filtered),
        (open[0].port(), PortState::Open),
        (closed.port(), PortState::Closed),
        (open[1].port(), PortState::Open),
    ];
    let ports: Vec<u16> = expected.iter().map(|&(port, _)| port).collect();
    let given = format!("scan_ports(\"127.0.0.1\", &{ports:?}, {SCAN_TIMEOUT:?})");
    Watchdog::new(DEADLINE).run(move || {
        let Some((result, _)) = wait_for(GIVE_UP, move || {
            scan_ports("127.0.0.1", &ports, SCAN_TIMEOUT)
        }) else {
            panic!("{}", still_scanning(&given, SCAN_TIMEOUT, GIVE_UP));
        };
        let result = result.unwrap_or_else(|error| panic!("{given} failed: {error}"));
        assert_eq!(
            result,
            expected,
            "{given}: expected each port with its state, in the order given (the first port: \
             nobody answers; the second and fourth: a server listens; the third: nothing \
             listens).{}",
            explain_scan(&expected, &result)
        );
        drop((open, closed, silent));
    });
}

#[test]
fn scan_ports_probes_ports_at_the_same_time() {
    // 50 ports where nobody answers, with a timeout of 300 ms: at the same time they take
    // about 300 ms; one after another they would take 15 s.
    const SILENT: usize = 50;
    let timeout = ms(300);
    let silent: Vec<FullBacklog> = (0..SILENT)
        .map(|_| FullBacklog::new().expect("a listener whose queue is full"))
        .collect();
    let ports: Vec<u16> = silent.iter().map(FullBacklog::port).collect();
    let given = format!("scan_ports(\"127.0.0.1\", <{SILENT} ports nobody answers>, {timeout:?})");
    Watchdog::new(DEADLINE).run(move || {
        let Some((result, elapsed)) =
            wait_for(GIVE_UP, move || scan_ports("127.0.0.1", &ports, timeout))
        else {
            panic!("{}", still_scanning(&given, timeout, GIVE_UP));
        };
        let result = result.unwrap_or_else(|error| panic!("{given} failed: {error}"));
        assert_all_filtered(&given, &result, SILENT);
        assert!(
            elapsed >= timeout * 9 / 10,
            "scan_ports reported {SILENT} ports as Filtered after {elapsed:.0?}, before the \
             timeout of {timeout:?} was up: pass the timeout on unchanged"
        );
        drop(silent);
    });
}

#[test]
fn scan_ports_probes_at_most_100_ports_at_once() {
    // 250 probes where nobody answers (five silent ports, each listed 50 times), with a
    // timeout of 800 ms. At most 100 at once, they take at least three timeouts (2.4 s): 100,
    // then 100, then 50. All at once, they would take one timeout, plus the time it takes to
    // start 250 threads. On a busy machine that can be a second or more, so the timeout is
    // long: with 300 ms, a scan without a bound once took longer than three timeouts
    // (`cargo lab check` in CI, the machine full) and passed.
    const PROBES: usize = 250;
    let timeout = ms(800);
    let rounds = PROBES.div_ceil(AT_ONCE) as u32;
    let silent: Vec<FullBacklog> = (0..5)
        .map(|_| FullBacklog::new().expect("a listener whose queue is full"))
        .collect();
    let ports: Vec<u16> = (0..PROBES).map(|i| silent[i % 5].port()).collect();
    let given = format!("scan_ports(\"127.0.0.1\", <{PROBES} ports nobody answers>, {timeout:?})");
    Watchdog::new(DEADLINE).run(move || {
        // A correct scan takes `rounds` timeouts: wait that long on top of the usual limit.
        let limit = GIVE_UP + timeout * rounds;
        let Some((result, elapsed)) =
            wait_for(limit, move || scan_ports("127.0.0.1", &ports, timeout))
        else {
            panic!("{}", still_scanning(&given, timeout, limit));
        };
        let result = result.unwrap_or_else(|error| panic!("{given} failed: {error}"));
        assert_all_filtered(&given, &result, PROBES);
        assert!(
            elapsed >= timeout * 9 / 10,
            "{given} reported every port as Filtered after {elapsed:.0?}, before the timeout of \
             {timeout:?} was up: pass the timeout on unchanged"
        );
        assert!(
            elapsed >= timeout * rounds * 9 / 10,
            "{given} took {elapsed:.1?}, about one timeout: all {PROBES} probes ran at once, \
             a thread each. A thread per port has no bound: a scan of all 65535 ports would \
             start 65535 threads at once. Probe at most {AT_ONCE} at once (then the {PROBES} \
             take {rounds} timeouts): for example `ports.chunks({AT_ONCE})`, each chunk in a \
             `thread::scope` of its own"
        );
        drop(silent);
    });
}

#[test]
fn scan_ports_scans_the_host_it_is_given() {
    // A server listens on the IPv6 loopback address ::1, and the same port is closed on
    // 127.0.0.1: scan_ports("::1", …) must find it Open. Without IPv6 on this machine, this
    // cannot be shown: the test says so and scans 127.0.0.1 instead.
    Watchdog::new(DEADLINE).run(|| {
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let (host, listener, _closed) = match listen_on_one_of(v6, &[v4]) {
            Ok((listener, closed)) => ("::1", listener, closed),
            Err(error) => {
                println!(
                    "note: no IPv6 loopback on this machine ({error}): whether scan_ports scans \
                     the host it is given is checked with 127.0.0.1 only"
                );
                let (listener, closed) = listen_on_one_of(v4, &[]).expect("listening on 127.0.0.1");
                ("127.0.0.1", listener, closed)
            }
        };
        let server =
            ScriptedServer::start_on(listener, vec![Step::Hold]).expect("starting the server");
        let port = server.port();
        let given = format!("scan_ports({host:?}, &[{port}], {SCAN_TIMEOUT:?})");
        let Some((result, _)) = wait_for(GIVE_UP, move || scan_ports(host, &[port], SCAN_TIMEOUT))
        else {
            panic!("{}", still_scanning(&given, SCAN_TIMEOUT, GIVE_UP));
        };
        let result = result.unwrap_or_else(|error| panic!("{given} failed: {error}"));
        let why = if result == [(port, PortState::Closed)] {
            format!(
                " Port {port} is closed on 127.0.0.1 and open on {host}: your scan probed \
                 127.0.0.1, not the host it was given. Resolve `(host, 0)` and probe that \
                 address."
            )
        } else {
            String::new()
        };
        assert_eq!(
            result,
            vec![(port, PortState::Open)],
            "{given}: a server listens at {}.{why}\n{}",
            server.addr(),
            server.recording().describe()
        );
    });
}

// ---------------------------------------------------------------------------------------------
// The tests' machinery
// ---------------------------------------------------------------------------------------------

/// Runs one call of your code on a thread of its own and waits for it at most `limit`: its
/// result and how long it took, or `None` when it is still running then. (A call stuck in
/// `connect` or `read` cannot be stopped: its thread is left behind and ends with the test.)
/// A panic in your code fails the test with its own message.
fn wait_for<T: Send + 'static>(
    limit: Duration,
    call: impl FnOnce() -> T + Send + 'static,
) -> Option<(T, Duration)> {
    let (done, result) = mpsc::channel();
    let worker = thread::Builder::new()
        .name("your code".into())
        .spawn(move || {
            let started = Instant::now();
            let value = call();
            let _ = done.send((value, started.elapsed()));
        })
        .expect("starting a thread for your code");
    match result.recv_timeout(limit) {
        Ok(outcome) => Some(outcome),
        Err(RecvTimeoutError::Timeout) => None,
        Err(RecvTimeoutError::Disconnected) => match worker.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the call's thread ended without sending its result"),
        },
    }
}

/// A read of a line by the test's own client, to check `read_line_with_timeout` against.
fn reader_for(port: u16) -> BufReader<TcpStream> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let stream = TcpStream::connect_timeout(&addr, DEADLINE).expect("the test's own connection");
    BufReader::new(stream)
}

/// Linux and macOS report a read timeout as `WouldBlock`, Windows as `TimedOut`.
fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
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

/// What a connect that stopped at the first address should do instead.
const ONLY_THE_FIRST: &str = "It tried only the first address. Try each address in turn and \
    return an error only when every one has failed: `.next()` takes only the first address, \
    and a `?` or a `return` inside the loop stops at the first failure.";

/// Explains an unexpected error from connect_with_timeout, called with `timeout`, which took
/// `elapsed`.
fn explain_connect_error(error: &io::Error, elapsed: Duration, timeout: Duration) -> String {
    if error.kind() == ErrorKind::InvalidInput && timeout.as_secs() == 0 {
        format!(
            "It returned Err({error}) after {elapsed:.1?}, of kind InvalidInput: std's \
             `connect_timeout` refuses a zero Duration, so the timeout became zero on the way. \
             It was converted: a timeout of {timeout:?} in whole seconds is 0 \
             (`timeout.as_secs()`). Pass the Duration you were given, unchanged."
        )
    } else {
        format!("It returned Err({error}) (kind {:?}).", error.kind())
    }
}

/// Explains an error from read_line_with_timeout called with `timeout`.
fn explain_read_error(error: &io::Error, timeout: Duration) -> String {
    match error.kind() {
        ErrorKind::InvalidInput => format!(
            "you returned Err({error}), of kind InvalidInput: `set_read_timeout` refuses a zero \
             Duration, so your timeout of {timeout:?} became zero on the way. It was \
             converted: in whole seconds it is {} (`timeout.as_secs()`). Pass the Duration \
             itself, unchanged",
            timeout.as_secs()
        ),
        ErrorKind::WouldBlock | ErrorKind::TimedOut => format!(
            "a timeout is an expected outcome here: return Ok(Reply::TimedOut), not the error \
             ({error}, kind {:?}). Linux reports a read timeout as WouldBlock, Windows as \
             TimedOut: accept both",
            error.kind()
        ),
        kind => format!("you returned Err({error}) (kind {kind:?})"),
    }
}

/// Why a line came back wrong, when `got` is a known mistake for the line `expected`.
fn explain_line(expected: &str, got: &Reply) -> String {
    let Reply::Line(got) = got else {
        return String::new();
    };
    if got.strip_suffix('\r') == Some(expected) {
        " A \"\\r\" is left behind: the server ends its lines with \"\\r\\n\". Strip the \"\\n\", \
         then a \"\\r\" before it."
            .to_string()
    } else if got.strip_suffix('\n').is_some() {
        " The line ending is still there: read_line keeps it, strip it.".to_string()
    } else if got != expected && (got == expected.trim() || got == expected.trim_end()) {
        " The spaces or tabs at the start or end of the line were removed too: `trim()` and \
         `trim_end()` remove all whitespace, not just the line ending. Strip exactly the \
         \"\\n\" and a \"\\r\" before it."
            .to_string()
    } else {
        String::new()
    }
}

/// Names the mistake when `reply` is TimedOut where the server had closed.
fn closed_as_timeout(reply: &Reply, elapsed: Duration, timeout: Duration) -> String {
    if *reply != Reply::TimedOut {
        return String::new();
    }
    format!(
        " You returned TimedOut (the calls took {elapsed:.1?}, the timeout was {timeout:?}): a \
         closed connection reported as a timeout. When read_line reads 0 bytes, the server \
         has closed and nothing more will ever come: that is Closed."
    )
}

/// Names the mistake when a read that timed out after `elapsed` was reported as Closed.
fn timeout_as_closed(elapsed: Duration) -> String {
    format!(
        "you returned Closed after {elapsed:.1?}, but the server had not closed the \
         connection: it said nothing, so the read timed out. A timeout is Reply::TimedOut; \
         Closed is only for a read of 0 bytes, when the server has closed its side"
    )
}

/// A read timeout as the socket reports it.
fn show_timeout(set: &io::Result<Option<Duration>>) -> String {
    match set {
        Ok(Some(timeout)) => format!("{timeout:?}"),
        Ok(None) => "none".to_string(),
        Err(error) => format!("unknown: {error}"),
    }
}

/// Explains a read_line_with_timeout, called with `timeout` while `situation`, that was
/// still waiting after `GIVE_UP`: what the read timeout of its socket (`socket`, another
/// handle to it) was.
fn still_reading(socket: &TcpStream, timeout: Duration, situation: &str) -> String {
    let seen = format!(
        "read_line_with_timeout was still waiting after {GIVE_UP:?}, although the timeout was \
         {timeout:?} and {situation}"
    );
    match socket.read_timeout() {
        Ok(None) => format!(
            "{seen}. The socket had no read timeout while it waited (its `read_timeout()` is \
             None), so the read waits forever. Set it before reading: \
             `reader.get_ref().set_read_timeout(Some(timeout))`, then `read_line`."
        ),
        Ok(Some(set)) if set >= timeout * 10 => format!(
            "{seen}. The socket's read timeout is {set:?}, not {timeout:?}: the timeout was \
             converted (milliseconds taken as seconds?). Pass the Duration itself, unchanged."
        ),
        Ok(Some(set)) => format!(
            "{seen}. The socket's read timeout is {set:?}, yet the read did not end: does your \
             code read again after a timeout (a loop), or wait somewhere else?"
        ),
        Err(error) => format!("{seen}. (Its read timeout cannot be read: {error}.)"),
    }
}

/// Explains a connect_with_timeout that was still waiting after `GIVE_UP` (`what` says which
/// call): it looks again with a timeout of 1 ms, where nobody answers.
fn still_connecting(what: &str) -> String {
    let silent = FullBacklog::new().expect("a listener whose queue is full");
    let again = wait_for(LOOK_AGAIN, move || {
        let result = connect_with_timeout(silent.addr(), TINY);
        drop(silent);
        result
    });
    format!(
        "{what} was still waiting after {GIVE_UP:?}. {}",
        why_still_waiting(
            "connect_with_timeout",
            again.map(|(_, took)| took),
            "Use `TcpStream::connect_timeout(&address, timeout)` for each address."
        )
    )
}

/// Explains a probe_port that was still waiting after `GIVE_UP` (`what` says which call): it
/// looks again with a timeout of 1 ms, where nobody answers.
fn still_probing(what: &str) -> String {
    let silent = FullBacklog::new().expect("a listener whose queue is full");
    let again = wait_for(LOOK_AGAIN, move || {
        let state = probe_port(silent.addr(), TINY);
        drop(silent);
        state
    });
    format!(
        "{what} was still waiting after {GIVE_UP:?}. {}",
        why_still_waiting(
            "probe_port",
            again.map(|(_, took)| took),
            "Use `TcpStream::connect_timeout(&addr, timeout)`."
        )
    )
}

/// What the second look, with a timeout of 1 ms where nobody answers, says: `took` is how
/// long `function` took then, `None` when it was still waiting after `LOOK_AGAIN`.
fn why_still_waiting(function: &str, took: Option<Duration>, fix: &str) -> String {
    match took {
        None => format!(
            "Even with a timeout of {TINY:?}, {function} did not return within {LOOK_AGAIN:?}: \
             the connect has no timeout at all. `TcpStream::connect` has no timeout: where \
             nobody answers, it waits about two minutes while the system tries again and \
             again. {fix}"
        ),
        Some(took) if took >= ms(300) => format!(
            "With a timeout of {TINY:?}, {function} gave up after {took:.1?}, about a thousand \
             times too late: the timeout was converted, milliseconds taken as seconds \
             (`Duration::from_secs(timeout.as_millis() …)`). Pass the Duration you were given, \
             unchanged."
        ),
        Some(took) => format!(
            "With a timeout of {TINY:?}, {function} gave up after {took:.1?}, so it does use a \
             timeout, but not always the one it was given: is every connect given the timeout?"
        ),
    }
}

/// Explains a scan_ports (`what` says which call, with `timeout`) that was still running after
/// `waited`: it looks again with three ports where nobody answers. One after another they
/// take three timeouts; at the same time, one.
fn still_scanning(what: &str, timeout: Duration, waited: Duration) -> String {
    let silent = FullBacklog::new().expect("a listener whose queue is full");
    let port = silent.port();
    let look = ms(300);
    let again = wait_for(LOOK_AGAIN, move || {
        let result = scan_ports("127.0.0.1", &[port; 3], look);
        drop(silent);
        result
    });
    let seen = format!("{what} had not finished after {waited:?} (the timeout is {timeout:?}).");
    match again {
        Some((_, took)) if took >= look * 2 * 9 / 10 => format!(
            "{seen} Three ports where nobody answers, with a timeout of {look:?}, took \
             {took:.1?}: about {:.0} timeouts. The ports are probed one after another, so \
             each silent port adds a whole timeout. Probe them at the same time: a thread per \
             port (`thread::scope`), at most {AT_ONCE} at once.",
            took.as_secs_f64() / look.as_secs_f64()
        ),
        Some((_, took)) => format!(
            "{seen} Three ports where nobody answers, with a timeout of {look:?}, took \
             {took:.1?}, so a few ports are probed at the same time. Are many ports probed \
             only a few at a time?"
        ),
        None => format!(
            "{seen} Even three ports where nobody answers, with a timeout of {look:?}, took \
             more than {LOOK_AGAIN:?}: the probes do not give up after the timeout. Does every \
             probe use it? (probe_port_reports_a_silent_port_as_filtered_after_the_timeout \
             says more.)"
        ),
    }
}

/// Fails unless a scan of `count` ports where nobody answers gave `count` results, each
/// Filtered.
#[track_caller]
fn assert_all_filtered(given: &str, result: &[(u16, PortState)], count: usize) {
    let how_many = |wanted: PortState| result.iter().filter(|(_, s)| *s == wanted).count();
    let closed = how_many(PortState::Closed);
    let why = if closed > 0 {
        " Nobody answers at these ports, nothing refuses: no answer within the timeout is \
         Filtered, Closed is only for a refusal."
    } else {
        ""
    };
    assert!(
        result.len() == count && how_many(PortState::Filtered) == count,
        "{given}: expected all {count} ports, each Filtered; got {} results: {} Filtered, \
         {closed} Closed, {} Open.{why}",
        result.len(),
        how_many(PortState::Filtered),
        how_many(PortState::Open),
    );
}

/// Names what is wrong in a scan's `result`, compared with the `expected` states.
fn explain_scan(expected: &[(u16, PortState)], result: &[(u16, PortState)]) -> String {
    let mut sorted_expected = expected.to_vec();
    let mut sorted_result = result.to_vec();
    sorted_expected.sort_by_key(|&(port, _)| port);
    sorted_result.sort_by_key(|&(port, _)| port);
    if sorted_expected == sorted_result {
        return " Each port has the right state, but they are not in the order given: results \
                 collected as the probes finish (through a channel), sorted, or kept in a map \
                 come out in another order. Keep the threads' handles in a Vec and join them in \
                 the order you spawned them."
            .to_string();
    }
    let mut why = String::new();
    for (&(port, want), &(_, got)) in expected.iter().zip(result) {
        let hint = match (want, got) {
            (PortState::Closed, PortState::Filtered) => {
                "it refuses at once: a refusal is an answer, so it is Closed"
            }
            (PortState::Filtered, PortState::Closed) => {
                "nobody answers there: no answer within the timeout is Filtered, Closed is only \
                 for a refusal"
            }
            _ => continue,
        };
        why.push_str(&format!(" Port {port} came back {got:?}, but {hint}."));
    }
    why
}

/// Checks, after a call with a zero timeout, that no connection reached `server` before the
/// test's own: the server accepts connections in order, so once it has seen the test's, it
/// has also seen any that came before.
fn assert_no_connection_came_first(server: &ScriptedServer, what: &str) {
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
        "{what}: std's `connect_timeout` starts connecting before it rejects a zero timeout, so \
         check the timeout before connecting\n{}",
        server.recording().describe()
    );
}

/// Every address `localhost` resolves to here, in the order the system gives, each once.
fn localhost_addresses() -> Vec<IpAddr> {
    let mut found: Vec<IpAddr> = Vec::new();
    for addr in ("localhost", 0).to_socket_addrs().into_iter().flatten() {
        if !found.contains(&addr.ip()) {
            found.push(addr.ip());
        }
    }
    found
}
