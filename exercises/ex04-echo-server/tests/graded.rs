//! Graded tests for exercise 4 — an echo server.
//!
//! Here the tests are the *client* and your code is the server. Each test binds a listener on
//! `127.0.0.1` with a port the system picks and runs your `serve` (or one `echo_client`) on a
//! thread of its own; a server runs forever, so that thread is simply left behind when the
//! test ends. The test's client has a deadline for everything it does, and when something
//! does not come back it says what it sent, what it got, and who closed first, then shows the
//! conversation on the wire. If your server thread panicked (a `todo!()`, an `unwrap`), the
//! failure shows its message.
//!
//! When a test sees something wrong it often looks once more before it fails, to tell
//! mistakes apart that look alike from the outside: does the echo come once the client closes
//! its sending side (the server waited for the end), or once the *other* clients leave (the
//! server serves one client at a time)? Those helpers are at the end of this file.
//!
//! The last three tests run your `ex04-server` program as a real process.
//!
//! Run them with `cargo test -p ex04`; run one with `cargo test -p ex04 NAME`.

// This file also grades the reference solution (package ex04-solution), whose library is
// named `ex04_solution`: there this line makes `ex04` mean it.
#[cfg(netlab_solution)]
extern crate ex04_solution as ex04;

use std::io::{self, ErrorKind};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::thread;
use std::time::Duration;

use ex04::{bind, echo_client, serve, socket_pair};
use lab_harness::{
    ReadEnd, ServerProcess, ServerThread, TestClient, Watchdog, bind_loopback, cap_text, show_bytes,
};
use rstest::rstest;

/// How long any one test may take. Generous: these take milliseconds when correct.
const DEADLINE: Duration = Duration::from_secs(20);

/// How long the client waits for an answer that a correct server gives in microseconds. The
/// mistakes these tests catch never answer at all, so a long wait costs nothing in what they
/// catch and keeps a busy machine from failing a correct server.
const REPLY_WITHIN: Duration = Duration::from_secs(2);

/// How long a test that has already seen something wrong waits for one more observation (does
/// the echo come now?) to name the mistake. Only ever spent on a wrong answer.
const LOOK_AGAIN_WITHIN: Duration = Duration::from_secs(1);

/// How many clients are connected at the same time in the "many clients" test.
const CLIENTS: usize = 8;

/// How many files the server program may have open in the accept-failure test: standard
/// input, output and error, the listener, and eight clients.
const OPEN_FILES: usize = 12;

/// Your `serve` on a listener the test bound. It never returns: its thread is abandoned at
/// the end of the test and ends with the test process.
fn start_serve() -> (SocketAddr, ServerThread<io::Result<()>>) {
    let listener = bind_loopback().expect("binding 127.0.0.1:0 for your server");
    let addr = listener.local_addr().expect("the listener's address");
    (
        addr,
        ServerThread::spawn("your serve", move || serve(listener)),
    )
}

/// Your `echo_client`, serving the first client of a listener the test bound.
fn start_echo_client() -> (SocketAddr, ServerThread<io::Result<u64>>) {
    let listener = bind_loopback().expect("binding 127.0.0.1:0 for your server");
    let addr = listener.local_addr().expect("the listener's address");
    let server = ServerThread::spawn("your echo_client", move || {
        let (stream, _) = listener.accept()?;
        echo_client(stream)
    });
    (addr, server)
}

/// A client of the server at `addr`; a failure to connect is explained by the server's fate.
fn connect<T: std::fmt::Debug + Send + 'static>(
    addr: SocketAddr,
    server: &mut ServerThread<T>,
) -> TestClient {
    TestClient::connect(addr, REPLY_WITHIN)
        .unwrap_or_else(|error| server.fail(format!("could not connect to {addr}: {error}")))
}

/// Bytes of every value, in an order that makes a shifted or dropped piece visible.
fn binary_data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ seed.wrapping_mul(37))
        .collect()
}

/// The program under test: the exercise's `ex04-server`, or the solution's build of it.
fn server_program() -> &'static str {
    option_env!("CARGO_BIN_EXE_ex04-server")
        .or(option_env!("CARGO_BIN_EXE_ex04-solution-server"))
        .expect("cargo names the package's server program in CARGO_BIN_EXE_…")
}

/// Starts the server program (`command`) and waits for its `listening on ADDRESS` line.
fn start_program(command: Command) -> ServerProcess {
    ServerProcess::start(command, "listening on ", REPLY_WITHIN * 5).unwrap_or_else(|message| {
        let hint = if message.contains("port 0: Address already in use") {
            "\nPort 0 asks the system for any free port, which is never in use: your bind \
             seems to use a fixed port instead of the port it is given"
        } else {
            ""
        };
        panic!("{}{hint}", cap_text(&message, 4000))
    })
}

// ---------------------------------------------------------------------------------------------
// bind and socket_pair
// ---------------------------------------------------------------------------------------------

#[test]
fn bind_listens_on_the_port_the_system_picks() {
    // bind("127.0.0.1", 0) listens on 127.0.0.1 with a real port, a client that connects there
    // is accepted, and a second listener asked for port 0 gets another free port.
    Watchdog::new(DEADLINE)
        .hint("a client connected, but accepting it on your listener did not return")
        .run(|| {
            let listener = bind("127.0.0.1", 0)
                .unwrap_or_else(|error| panic!("{}", bind_failed("127.0.0.1", 0, &error)));
            let addr = listener.local_addr().expect("the listener's local_addr");
            assert_eq!(
                addr.ip(),
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                "bind(\"127.0.0.1\", 0) listens on {addr}: {}",
                wrong_host(addr)
            );
            assert_ne!(
                addr.port(),
                0,
                "the listener reports port 0: ask the listener itself (`local_addr`) which port \
                 the system picked"
            );
            // Port 0 asks for any free port: while the first listener is open, a second one
            // gets another port. A bind that always uses the same port cannot.
            let second = bind("127.0.0.1", 0)
                .unwrap_or_else(|error| panic!("{}", bind_failed("127.0.0.1", 0, &error)));
            let second_addr = second.local_addr().expect("the listener's local_addr");
            assert_ne!(
                second_addr, addr,
                "two listeners cannot share {addr}: ask for the port you were given"
            );
            let client = TcpStream::connect_timeout(&addr, REPLY_WITHIN)
                .unwrap_or_else(|error| panic!("a client cannot connect to {addr}: {error}"));
            let (_, peer) = listener.accept().expect("accepting the client");
            assert_eq!(peer, client.local_addr().unwrap());
        });
}

#[test]
fn bind_listens_on_the_host_it_is_given() {
    // bind listens on the host it is asked for, not on one written in its code: the IPv6
    // loopback `::1` and, on Linux (where all of 127.x.x.x is this machine), 127.0.0.2.
    Watchdog::new(DEADLINE).run(|| {
        let mut hosts = other_loopback_hosts();
        if hosts.is_empty() {
            println!(
                "note: this machine has neither ::1 nor 127.0.0.2, so only 127.0.0.1 is tried"
            );
            hosts.push("127.0.0.1");
        }
        for host in hosts {
            let listener =
                bind(host, 0).unwrap_or_else(|error| panic!("{}", bind_failed(host, 0, &error)));
            let addr = listener.local_addr().expect("the listener's local_addr");
            let asked: IpAddr = host.parse().expect("an IP address");
            assert_eq!(
                addr.ip(),
                asked,
                "bind(\"{host}\", 0) listens on {addr}: {}",
                wrong_host(addr)
            );
        }
    });
}

#[test]
fn bind_to_a_port_in_use_is_an_error_not_a_panic() {
    // bind on a port where another listener listens returns an `Err` of kind AddrInUse.
    let taken = bind_loopback().unwrap();
    let port = taken.local_addr().unwrap().port();
    let result = Watchdog::new(DEADLINE).run(move || bind("127.0.0.1", port));
    match result {
        Err(error) => assert_eq!(
            error.kind(),
            ErrorKind::AddrInUse,
            "expected AddrInUse for a port another listener has, got: {error}"
        ),
        Ok(listener) => match listener.local_addr() {
            Ok(addr) if addr.port() != port => panic!(
                "bind(\"127.0.0.1\", {port}) listens on port {} instead: bind the port you \
                 were given (here it is in use, so bind must return the error)",
                addr.port()
            ),
            _ => panic!(
                "bind succeeded on port {port} although another listener uses it: {listener:?}"
            ),
        },
    }
    drop(taken);
}

#[test]
fn socket_pair_shows_each_end_as_the_lecture_table_does() {
    // On the server's stream local is the server's address and peer the client's; on the
    // client's stream the same two, swapped.
    Watchdog::new(DEADLINE).run(|| {
        let listener = bind_loopback().unwrap();
        let server_addr = listener.local_addr().unwrap();
        let client = TcpStream::connect_timeout(&server_addr, REPLY_WITHIN).unwrap();
        let client_addr = client.local_addr().unwrap();
        let (accepted, _) = listener.accept().unwrap();

        let server_side = socket_pair(&accepted).expect("socket_pair on the server's stream");
        assert_eq!(
            (server_side.local, server_side.peer),
            (server_addr, client_addr),
            "the server's side of the connection should be local = the address it listens on \
             ({server_addr}), peer = the client's address and ephemeral port ({client_addr}); \
             you returned local = {}, peer = {}{}",
            server_side.local,
            server_side.peer,
            pair_mistake(
                server_side.local,
                server_side.peer,
                server_addr,
                client_addr
            )
        );
        let client_side = socket_pair(&client).expect("socket_pair on the client's stream");
        assert_eq!(
            (client_side.local, client_side.peer),
            (client_addr, server_addr),
            "from the client's side the pair is mirrored: local = {client_addr}, peer = \
             {server_addr}; you returned local = {}, peer = {}{}",
            client_side.local,
            client_side.peer,
            pair_mistake(
                client_side.local,
                client_side.peer,
                client_addr,
                server_addr
            )
        );
    });
}

// ---------------------------------------------------------------------------------------------
// echo_client: one client
// ---------------------------------------------------------------------------------------------

#[rstest]
#[case::text(b"hello, echo\n".to_vec())]
#[case::binary_with_nul_and_invalid_utf8(vec![0, 255, 0, b'\r', 0xc3, 0x28, b'\n', 0])]
#[case::nothing_at_all(Vec::new())]
#[case::a_megabyte(binary_data(1 << 20, 1))]
fn echo_client_sends_back_exactly_what_it_receives(#[case] data: Vec<u8>) {
    // The client sends the data, closes its sending side and reads until end-of-file: the same
    // bytes come back, then end-of-file, and echo_client returns how many bytes it echoed.
    Watchdog::new(DEADLINE)
        .hint("the exchange with echo_client did not finish")
        .run(move || {
            let (addr, mut server) = start_echo_client();
            let mut client = connect(addr, &mut server);
            let end = client.round_trip(&data, REPLY_WITHIN);
            if let Some(problem) = explain_echo(&client, &data, &end, Some(&mut server)) {
                server.fail(format!("{problem}\n{}", client.describe()));
            }
            match server.ended_within(REPLY_WITHIN) {
                Some(Ok(Ok(count))) => assert_eq!(
                    *count,
                    data.len() as u64,
                    "echo_client echoed {} bytes but returned {count}: return how many bytes \
                     it sent back",
                    data.len()
                ),
                Some(Ok(Err(error))) => {
                    panic!("echo_client returned an error after a clean exchange: {error}")
                }
                _ => server.fail("echo_client did not return after closing the connection"),
            }
        });
}

#[test]
fn echo_client_answers_each_piece_before_the_client_has_finished() {
    // The client sends a piece and waits for its echo before it sends the next: "ping" (no
    // line ending yet), then " pong\n", then "bye\n". A server that waits for the end of the
    // client's data, for a whole line, or that stops after its first answer fails here.
    Watchdog::new(DEADLINE)
        .hint("the exchange with echo_client did not finish")
        .run(|| {
            let (addr, mut server) = start_echo_client();
            let mut client = connect(addr, &mut server);
            let mut sent = Vec::new();
            for piece in [&b"ping"[..], b" pong\n", b"bye\n"] {
                // A send fails only once the server has reset the connection: the read below
                // then says so.
                let _ = client.send(piece, REPLY_WITHIN);
                sent.extend_from_slice(piece);
                if let Some(problem) = wait_for_echo(&mut client, &sent, &mut [], Some(&mut server))
                {
                    server.fail(format!(
                        "sent {} and waited for it to come back, with the connection still \
                         open. {problem}",
                        show_bytes(piece)
                    ));
                }
            }
        });
}

#[test]
fn echo_client_closes_once_the_client_half_closes() {
    // The client sends 100,000 bytes and closes its sending side: everything comes back, then
    // end-of-file.
    Watchdog::new(DEADLINE)
        .hint("the exchange with echo_client did not finish")
        .run(|| {
            let (addr, mut server) = start_echo_client();
            let mut client = connect(addr, &mut server);
            let data = binary_data(100_000, 2);
            let end = client.round_trip(&data, REPLY_WITHIN);
            if let Some(problem) = explain_echo(&client, &data, &end, Some(&mut server)) {
                server.fail(format!("{problem}\n{}", client.describe()));
            }
        });
}

// ---------------------------------------------------------------------------------------------
// serve: many clients
// ---------------------------------------------------------------------------------------------

#[test]
fn serve_round_trips_16_mib_of_binary_data() {
    // 16 MiB sent through serve come back unchanged, then end-of-file; serve goes on running.
    Watchdog::new(DEADLINE)
        .hint("the 16 MiB round trip did not finish")
        .run(|| {
            let (addr, mut server) = start_serve();
            // A small exchange first: a server that never closes is told so in two seconds,
            // rather than after the long deadline of the big one.
            let mut first = connect(addr, &mut server);
            let end = first.round_trip(b"a small one first\n", REPLY_WITHIN);
            if let Some(problem) = explain_echo(&first, b"a small one first\n", &end, None) {
                server.fail(format!("{problem}\n{}", first.describe()));
            }
            let data = binary_data(16 << 20, 3);
            let mut client = connect(addr, &mut server);
            // The client reads on a second thread while it sends: 16 MiB do not fit in the
            // buffers, so a client that only sent would wait for a server waiting for it.
            // Loopback moves this in well under a second (3.5 s with three other programs
            // busy on two cores); the deadline leaves room for a busier machine.
            let end = client.round_trip(&data, Duration::from_secs(12));
            if let Some(problem) = explain_echo(&client, &data, &end, None) {
                server.fail(format!("{problem}\n{}", client.describe()));
            }
            server.assert_running("serve must keep accepting after a client leaves");
        });
}

#[test]
fn serve_answers_a_second_client_while_the_first_is_idle() {
    // Client A connects and says nothing; client B connects and gets its echo at once. Then
    // client A too.
    Watchdog::new(DEADLINE)
        .hint("talking to serve did not finish")
        .run(|| {
            let (addr, mut server) = start_serve();
            let mut idle = connect(addr, &mut server);
            let mut busy = connect(addr, &mut server);
            // A send fails only if the server reset the connection: the wait for the echo
            // then says so, with the conversation on the wire.
            let _ = busy.send(b"anyone there?\n", REPLY_WITHIN);
            let problem = wait_for_echo(&mut busy, b"anyone there?\n", &mut [&mut idle], None);
            if let Some(problem) = problem {
                server.fail(format!(
                    "client B sent a line while client A was connected but silent. {problem}"
                ));
            }
            let _ = idle.send(b"me too\n", REPLY_WITHIN);
            if let Some(problem) = wait_for_echo(&mut idle, b"me too\n", &mut [&mut busy], None) {
                server.fail(format!(
                    "client A, connected first and silent until now, sent a line. {problem}"
                ));
            }
            server.assert_running("serve must keep accepting clients");
        });
}

#[test]
fn serve_echoes_to_eight_clients_connected_at_once() {
    // Eight clients connect; each says hello and gets its echo while all are connected. Then
    // all send 200,000 bytes at the same time, close their sending side, and each gets back
    // exactly its own bytes and end-of-file.
    Watchdog::new(DEADLINE)
        .hint("talking to serve with many clients did not finish")
        .run(|| {
            let (addr, mut server) = start_serve();
            let mut clients: Vec<TestClient> =
                (0..CLIENTS).map(|_| connect(addr, &mut server)).collect();

            // Every client says hello while all of them are connected.
            let mut expected = Vec::new();
            for index in 0..CLIENTS {
                let hello = format!("hello from client {index}\n").into_bytes();
                let _ = clients[index].send(&hello, REPLY_WITHIN);
                // The others are there for a second look if this client gets no echo.
                let (before, rest) = clients.split_at_mut(index);
                let (client, after) = rest.split_first_mut().expect("client `index` exists");
                let mut others: Vec<&mut TestClient> =
                    before.iter_mut().chain(after.iter_mut()).collect();
                if let Some(problem) = wait_for_echo(client, &hello, &mut others, None) {
                    server.fail(format!(
                        "client {index} (of {CLIENTS} connected at once) said hello. {problem}"
                    ));
                }
                expected.push(hello);
            }

            // Then all of them send binary data at the same time and close their side.
            let finished = thread::scope(|scope| {
                let running: Vec<_> = clients
                    .into_iter()
                    .zip(&mut expected)
                    .enumerate()
                    .map(|(index, (mut client, expected))| {
                        let data = binary_data(200_000, index as u8);
                        expected.extend_from_slice(&data);
                        scope.spawn(move || {
                            let end = client.round_trip(&data, REPLY_WITHIN);
                            (client, end)
                        })
                    })
                    .collect();
                running
                    .into_iter()
                    .map(|handle| handle.join().expect("a client thread panicked"))
                    .collect::<Vec<_>>()
            });
            for (index, ((client, end), expected)) in finished.iter().zip(&expected).enumerate() {
                if let Some(problem) = explain_echo(client, expected, end, None) {
                    server.fail(format!(
                        "client {index} (of {CLIENTS} sending at the same time): {problem}\n\
                         client {index}: {}",
                        client.describe()
                    ));
                }
            }
            server.assert_running("serve must keep accepting clients");
        });
}

#[test]
fn serve_survives_a_client_that_resets_mid_message() {
    // A client sends half a message and resets the connection; the next client is served and
    // serve goes on running.
    Watchdog::new(DEADLINE)
        .hint("talking to serve did not finish")
        .run(|| {
            let (addr, mut server) = start_serve();
            let mut leaver = connect(addr, &mut server);
            let _ = leaver.send(b"half a mes", REPLY_WITHIN);
            // Once the echo is back, the server is surely in the middle of serving it.
            if let Some(problem) = wait_for_echo(&mut leaver, b"half a mes", &mut [], None) {
                server.fail(format!("a client sent half a message. {problem}"));
            }
            let _ = leaver.send(b"sage that never ends", REPLY_WITHIN);
            leaver.reset().expect("resetting the connection");

            let mut next = connect(addr, &mut server);
            let end = next.round_trip(b"still there?\n", REPLY_WITHIN);
            if next.received().is_empty() {
                server.fail(format!(
                    "after one client reset its connection, the next client was not served. \
                     A reset makes that client's read or write fail: end that client's thread \
                     (return the error from echo_client, log it), never the accept loop.\n\
                     next client: {}",
                    next.describe()
                ));
            }
            if let Some(problem) = explain_echo(&next, b"still there?\n", &end, None) {
                server.fail(format!("next client: {problem}\n{}", next.describe()));
            }
            server.assert_running(
                "one client's error must not end serve: it must keep accepting clients",
            );
        });
}

// ---------------------------------------------------------------------------------------------
// The program, as a real process
// ---------------------------------------------------------------------------------------------

#[test]
fn the_server_program_prints_where_it_listens_and_serves_clients() {
    // `ex04-server --port 0` prints `listening on 127.0.0.1:PORT`, serves two clients (text
    // and binary), names each in its log (stderr), and is still running afterwards.
    Watchdog::new(DEADLINE)
        .hint("talking to the server program did not finish")
        .run(|| {
            let mut command = Command::new(server_program());
            command.args(["--port", "0"]);
            // Killed when `server` is dropped, at the end of this test or when it fails.
            let mut server = start_program(command);
            let addr = server.addr();
            assert!(
                addr.ip().is_loopback() && addr.port() != 0,
                "the program says it listens on {addr}; with `--port 0` and no `--host` it \
                 should print 127.0.0.1 and the port the system picked{}",
                server.describe()
            );

            let cases = [
                b"hello\n".to_vec(),
                vec![0, 255, 0, b'\r', 0xc3, 0x28, b'\n'],
            ];
            for data in cases {
                let mut client = TestClient::connect(addr, REPLY_WITHIN).unwrap_or_else(|error| {
                    panic!("cannot connect to {addr}: {error}{}", server.describe())
                });
                let end = client.round_trip(&data, REPLY_WITHIN);
                if let Some(problem) = explain_echo(&client, &data, &end, None) {
                    panic!(
                        "the program did not send {} back and close: {problem}\n{}{}",
                        show_bytes(&data),
                        client.describe(),
                        server.describe()
                    );
                }
                let client_addr = client.local_addr().unwrap().to_string();
                let named = server.wait_for_stderr(REPLY_WITHIN, |log| log.contains(&client_addr));
                if !named && server.stdout().contains(&client_addr) {
                    panic!(
                        "the program names the client {client_addr} on its standard output: a \
                         server's log goes to standard error, with `eprintln!`, not `println!` \
                         (standard output is for the `listening on` line){}",
                        server.describe()
                    );
                }
                assert!(
                    named,
                    "the server's log (stderr) does not name the client {client_addr}: print a \
                     line for each client with its address, its `peer_addr`{}",
                    server.describe()
                );
            }
            if let Err(ended) = server.still_running() {
                panic!(
                    "{ended} after its clients left; a server runs until it is stopped{}",
                    server.describe()
                );
            }
        });
}

#[test]
fn the_server_program_logs_a_client_that_resets_and_goes_on() {
    // A client resets its connection in the middle of a message: the program logs it as an
    // ordinary error (no panic in its log) and serves the next client.
    Watchdog::new(DEADLINE)
        .hint("talking to the server program did not finish")
        .run(|| {
            let mut command = Command::new(server_program());
            command.args(["--port", "0"]);
            let mut server = start_program(command);
            let addr = server.addr();
            let mut leaver = TestClient::connect(addr, REPLY_WITHIN)
                .unwrap_or_else(|error| panic!("cannot connect to {addr}: {error}"));
            let leaver_addr = leaver.local_addr().unwrap().to_string();
            let _ = leaver.send(b"half a mes", REPLY_WITHIN);
            if let Some(problem) = wait_for_echo(&mut leaver, b"half a mes", &mut [], None) {
                panic!(
                    "a client sent half a message. {problem}{}",
                    server.describe()
                );
            }
            let _ = leaver.send(b"sage that never ends", REPLY_WITHIN);
            leaver.reset().expect("resetting the connection");

            let mut next = TestClient::connect(addr, REPLY_WITHIN).unwrap_or_else(|error| {
                panic!(
                    "after a client reset its connection, the next one cannot connect: \
                     {error}{}",
                    server.describe()
                )
            });
            let end = next.round_trip(b"still there?\n", REPLY_WITHIN);
            if let Some(problem) = explain_echo(&next, b"still there?\n", &end, None) {
                panic!(
                    "after a client reset its connection, the next client: {problem}\n{}{}",
                    next.describe(),
                    server.describe()
                );
            }
            // By now the client's thread has seen the reset: wait for its log line (the
            // reference solution logs `… failed: Connection reset by peer`), or a panic.
            server.wait_for_stderr(REPLY_WITHIN, |log| {
                log.contains("panicked") || log.matches(leaver_addr.as_str()).count() >= 2
            });
            let log = server.stderr();
            if let Some(at) = log.find("panicked") {
                panic!(
                    "a client reset its connection and your server panicked: {:?}. A reset is \
                     an ordinary event for a server: that client's read or write returns an \
                     error. An `unwrap()` (or `expect`) on it panics; Rust ends only that \
                     client's thread, so the server goes on, but its log shows a crash. Return \
                     the error from echo_client (`?`) and log one line for it.{}",
                    log[at..].lines().take(2).collect::<Vec<_>>().join(" "),
                    server.describe()
                );
            }
            if let Err(ended) = server.still_running() {
                panic!(
                    "{ended} after a client reset its connection; one client's error must not \
                     end the server{}",
                    server.describe()
                );
            }
        });
}

#[test]
fn the_server_program_keeps_serving_when_accept_fails() {
    // Linux only. The program runs with at most OPEN_FILES open files, so once a few clients
    // are connected `accept` fails with "Too many open files" (EMFILE). The server must log
    // that and keep accepting: as soon as a client leaves, the clients waiting are served. One
    // of them gave up (reset its connection) while it waited: it has no address any more when
    // it is finally accepted, and that must end this client only.
    Watchdog::new(DEADLINE)
        .hint("talking to the server program with few open files did not finish")
        .run(|| {
            if !cfg!(target_os = "linux") {
                println!(
                    "note: the open-file limit part of this test runs on Linux only; here it \
                     only checks that the program serves a client"
                );
                let mut command = Command::new(server_program());
                command.args(["--port", "0"]);
                let server = start_program(command);
                let mut client = TestClient::connect(server.addr(), REPLY_WITHIN)
                    .unwrap_or_else(|error| panic!("cannot connect: {error}"));
                let end = client.round_trip(b"hello\n", REPLY_WITHIN);
                if let Some(problem) = explain_echo(&client, b"hello\n", &end, None) {
                    panic!("{problem}\n{}{}", client.describe(), server.describe());
                }
                return;
            }
            // `ulimit -n` in a shell that then becomes the program (`exec`): the limit applies
            // to the program only.
            let mut command = Command::new("sh");
            command.args([
                "-c",
                &format!("ulimit -n {OPEN_FILES} && exec \"$0\" --port 0"),
                server_program(),
            ]);
            let mut server = start_program(command);
            let addr = server.addr();

            // 1. Clients connect and say hello, one after the other, until one gets no echo:
            //    the server has no file left to accept it.
            let (mut served, mut gave_up) = connect_until_accept_fails(&mut server);

            // 2. The waiting client gives up: it resets its connection while still in the
            //    queue. Another client joins the queue behind it.
            let _ = gave_up.send(b"never mind", REPLY_WITHIN);
            gave_up.reset().expect("resetting the waiting client");
            let mut waiting = TestClient::connect(addr, REPLY_WITHIN).unwrap_or_else(|error| {
                program_ended(
                    &mut server,
                    &format!("the last client could not connect: {error}"),
                )
            });
            let last = b"anyone there?\n";
            let _ = waiting.send(last, REPLY_WITHIN);

            // 3. The first client leaves: one file is free again.
            let mut leaving = served.remove(0);
            let hello = leaving.received().to_vec();
            let _ = leaving.half_close();
            let end = leaving.read_to_end(REPLY_WITHIN);
            if let Some(problem) = explain_echo(&leaving, &hello, &end, None) {
                if server.still_running().is_err() {
                    program_ended(&mut server, &leaving.describe());
                }
                panic!(
                    "the first client closed its sending side to free a file: {problem}\n{}{}",
                    leaving.describe(),
                    cap_text(&server.describe(), 3000)
                );
            }
            drop(leaving);

            // 4. The server accepts the client that gave up (it has no address any more),
            //    then the last one, which gets its echo.
            match waiting.read_exactly(last.len(), REPLY_WITHIN) {
                ReadEnd::Complete => {}
                ReadEnd::TimedOut
                    if server.still_running().is_ok() && !stopped(&server.stderr()) =>
                {
                    panic!(
                        "a client left, so a file was free again, but the client waiting in \
                         the queue got no echo within {REPLY_WITHIN:?}: after a failed accept \
                         the loop must go on accepting.\n{}{}",
                        waiting.describe(),
                        cap_text(&server.describe(), 3000)
                    );
                }
                _ => program_ended(&mut server, &waiting.describe()),
            }
            if server.still_running().is_err() {
                program_ended(&mut server, &waiting.describe());
            }
        });
}

// ---------------------------------------------------------------------------------------------
// How a failure is explained: what was seen, then the mistake it points to.
// ---------------------------------------------------------------------------------------------

/// Why `bind(host, port)` failed, in a teacher's words.
fn bind_failed(host: &str, port: u16, error: &io::Error) -> String {
    if port == 0 && error.kind() == ErrorKind::AddrInUse {
        format!(
            "bind(\"{host}\", 0) failed: {error}. Port 0 asks the system for any free port, \
             which is never in use: your bind seems to use a fixed port instead of the port it \
             is given"
        )
    } else {
        format!("bind(\"{host}\", {port}) failed: {error}")
    }
}

/// What to say about a listener on the wrong address.
fn wrong_host(addr: SocketAddr) -> &'static str {
    if addr.ip().is_unspecified() {
        "that is every interface of this machine (other machines can connect too), not the \
         host asked for. Bind the host you were given"
    } else {
        "bind the host you were given"
    }
}

/// Loopback addresses other than 127.0.0.1 that this machine has, to catch a bind that
/// ignores its host.
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

/// The socket pair's likely mistake, from what it returned (`local`, `peer`) and what it
/// should have (`this_end`, `other_end`).
fn pair_mistake(
    local: SocketAddr,
    peer: SocketAddr,
    this_end: SocketAddr,
    other_end: SocketAddr,
) -> &'static str {
    if (local, peer) == (other_end, this_end) {
        ". That is the wrong way round: `local` is this end of the connection \
         (`local_addr`), `peer` is the other end (`peer_addr`)"
    } else if local == peer {
        ". Both are the same address: `peer` comes from `peer_addr`, `local` from `local_addr`"
    } else {
        ""
    }
}

/// Waits for the echo of everything `client` has sent (`sent`) before it closes. `None` when
/// it arrives; otherwise the mistake it shows, with the conversation on the wire. `others` are
/// the other clients connected at the time, and `echo_client` the server thread when the test
/// runs echo_client alone (to read what it returned).
fn wait_for_echo(
    client: &mut TestClient,
    sent: &[u8],
    others: &mut [&mut TestClient],
    echo_client: Option<&mut ServerThread<io::Result<u64>>>,
) -> Option<String> {
    let missing = sent.len().saturating_sub(client.received().len());
    let end = client.read_exactly(missing, REPLY_WITHIN);
    match end {
        ReadEnd::Complete => explain_echo(client, sent, &ReadEnd::Closed, echo_client)
            .map(|problem| format!("{problem}\n{}", client.describe())),
        ReadEnd::TimedOut => Some(explain_no_echo(client, others)),
        _ => {
            let problem =
                explain_echo(client, sent, &end, echo_client).unwrap_or_else(|| format!("{end}."));
            Some(format!("{problem}\n{}", client.describe()))
        }
    }
}

/// `client` sent something and got no echo, though the connection is open. Looks twice more
/// to tell apart the usual mistakes, which look alike from the outside.
fn explain_no_echo(client: &mut TestClient, others: &mut [&mut TestClient]) -> String {
    let before = client.received().len();
    let waited = format!("No echo came back within {REPLY_WITHIN:?}");
    // First look: does the echo come once this client closes its sending side?
    let _ = client.half_close();
    client.read_to_end(LOOK_AGAIN_WITHIN);
    if client.received().len() > before {
        return format!(
            "{waited}, and the echo came only after the client closed its sending side. The \
             server waits for the end of the client's data before it answers (`read_to_end`, \
             or a loop that collects everything first). Echo each piece as soon as `read` \
             gives it: a client may wait for its echo before it sends more.\n{}",
            client.describe()
        );
    }
    // Second look: does it come once the other clients close theirs?
    if !others.is_empty() {
        for other in others.iter_mut() {
            let _ = other.half_close();
        }
        client.read_to_end(LOOK_AGAIN_WITHIN);
        if client.received().len() > before {
            let (others_were, they_closed) = match others.len() {
                1 => ("another client was".to_string(), "it closed its"),
                count => (format!("{count} other clients were"), "they closed their"),
            };
            return format!(
                "{waited} while {others_were} connected, and it came as soon as {they_closed} \
                 sending side: the server serves one client at a time. Serve each client on its \
                 own thread, and do not `join` that thread before accepting the next.\n{}",
                client.describe()
            );
        }
    }
    format!(
        "{waited}, nor after the client (and any other) closed its sending side.\n{}",
        client.describe()
    )
}

/// Compares what came back (`client.received()`) with what was `sent`, knowing how the
/// client's reading ended. `None` when everything came back, followed by end-of-file;
/// otherwise what was seen and the mistake it points to. `echo_client` (when the test runs
/// echo_client alone) tells what it returned.
fn explain_echo(
    client: &TestClient,
    sent: &[u8],
    end: &ReadEnd,
    echo_client: Option<&mut ServerThread<io::Result<u64>>>,
) -> Option<String> {
    let got = client.received();
    const REPLACEMENT: &[u8] = "\u{fffd}".as_bytes();
    let has_replacement = |bytes: &[u8]| bytes.windows(3).any(|w| w == REPLACEMENT);
    if let Some(difference) = client.compare(sent) {
        if has_replacement(got) && !has_replacement(sent) {
            return Some(format!(
                "{difference}. Bytes that are not valid UTF-8 came back as U+FFFD replacement \
                 characters (\"\\xef\\xbf\\xbd\"): the data was converted through a lossy UTF-8 \
                 string (`String::from_utf8_lossy`). An echo server sends back bytes, never \
                 text."
            ));
        }
        if got.len() > sent.len() {
            return Some(format!(
                "{difference}. More came back than was sent: write back only the bytes each \
                 read gave, `&buffer[..count]`, not the whole buffer."
            ));
        }
        if !sent.starts_with(got) {
            return Some(format!(
                "{difference}. Send back the bytes each read gave, all of them (`write_all`) \
                 and only them (`&buffer[..count]`), text or not."
            ));
        }
        // A correct start, then no more.
        let how = match end {
            ReadEnd::Closed => "closed its sending side (end-of-file)",
            ReadEnd::Failed(ErrorKind::ConnectionReset, _) => "reset the connection",
            ReadEnd::Failed(..) => "ended the connection",
            ReadEnd::TimedOut | ReadEnd::Complete => {
                return Some(format!(
                    "{difference}: after that nothing more came back, and the connection \
                     stayed open."
                ));
            }
        };
        let mut text = format!(
            "The server {how} after echoing {} of the {} bytes sent, while the client still \
             had more to send.",
            got.len(),
            sent.len()
        );
        let returned = echo_client.and_then(|server| server.ended_within(LOOK_AGAIN_WITHIN));
        match returned {
            Some(Ok(Err(error))) if error.kind() == ErrorKind::BrokenPipe => {
                text.push_str(&format!(
                    " echo_client returned Err({error}): it wrote after the server's own \
                     sending side had been shut down. A `shutdown(Write)` after an answer ends \
                     all answers: echo until read returns 0, then return (that closes the \
                     connection)."
                ));
                return Some(text);
            }
            Some(Ok(Ok(count))) => text.push_str(&format!(
                " echo_client returned Ok({count}) without waiting for the client to finish."
            )),
            Some(Ok(Err(error))) => text.push_str(&format!(" echo_client returned Err({error}).")),
            _ => {}
        }
        if got.ends_with(b"\n") {
            text.push_str(
                " It stopped right after a newline: an echo server has no lines or messages, \
                 only bytes.",
            );
        }
        text.push(' ');
        text.push_str(KEEP_READING);
        return Some(text);
    }
    match end {
        ReadEnd::Closed => None,
        ReadEnd::Failed(..) => Some(format!(
            "Everything came back, but then, instead of closing its side, the server: {end}."
        )),
        ReadEnd::TimedOut | ReadEnd::Complete => Some(no_end_of_file(end, echo_client)),
    }
}

/// What a server that stops echoing too early must do instead.
const KEEP_READING: &str = "echo_client must keep reading and echoing in a loop until read \
    returns 0 (the client's half-close), and only then return: not after its first read or \
    its first line, and with no `shutdown(Write)` before.";

/// Everything came back but no end-of-file followed: the server did not close.
fn no_end_of_file(
    end: &ReadEnd,
    echo_client: Option<&mut ServerThread<io::Result<u64>>>,
) -> String {
    let seen = format!(
        "Everything came back, but after the client closed its sending side no end-of-file \
         followed ({end})."
    );
    let alone_closes = match echo_client {
        Some(server) => {
            if server.ended_within(LOOK_AGAIN_WITHIN).is_none() {
                return format!(
                    "{seen} echo_client is still running. When `read` returns 0 the client is \
                     done: leave the loop and return from echo_client (returning closes the \
                     connection)."
                );
            }
            false
        }
        // Through serve: try echo_client on its own to see which of the two keeps it open.
        None => echo_client_alone_closes(),
    };
    if alone_closes {
        format!(
            "{seen} Your echo_client, called on its own, does close the connection, so serve \
             keeps another handle to it: a `try_clone` kept in a list, or the stream stored \
             somewhere. A connection closes only when its last handle is dropped: give the \
             stream to the client's thread and keep nothing of it."
        )
    } else {
        format!(
            "{seen} When `read` returns 0 the client is done: return from echo_client, which \
             closes the connection."
        )
    }
}

/// Whether your echo_client, alone, sends back one byte and closes after the client's
/// half-close.
fn echo_client_alone_closes() -> bool {
    let (addr, _server) = start_echo_client();
    let Ok(mut client) = TestClient::connect(addr, REPLY_WITHIN) else {
        return false;
    };
    client.round_trip(b"x", LOOK_AGAIN_WITHIN) == ReadEnd::Closed && client.received() == b"x"
}

/// Connects clients to the server program, each saying hello and waiting for its echo, until
/// one gets no echo because the server has no file left to accept it (its log says so).
/// Returns the clients served and the one waiting; fails the test, naming the mistake, when
/// the server stops, says nothing, or serves one client at a time.
fn connect_until_accept_fails(server: &mut ServerProcess) -> (Vec<TestClient>, TestClient) {
    let addr = server.addr();
    let mut served: Vec<TestClient> = Vec::new();
    let waiting = loop {
        let number = served.len() + 1;
        if number > OPEN_FILES {
            no_file_ran_out(&mut served[0], server);
        }
        let hello = format!("hello from client {number}\n");
        let mut client = TestClient::connect(addr, REPLY_WITHIN).unwrap_or_else(|error| {
            program_ended(
                server,
                &format!("client {number} could not connect: {error}"),
            )
        });
        let _ = client.send(hello.as_bytes(), REPLY_WITHIN);
        match client.read_exactly(hello.len(), Duration::from_millis(500)) {
            ReadEnd::Complete => {
                served.push(client);
                continue;
            }
            ReadEnd::TimedOut => {}
            _ => program_ended(server, &client.describe()),
        }
        // No echo yet. If the files ran out, a correct server has logged accept's
        // error by now (it fails as soon as none is left).
        if server.wait_for_stderr(LOOK_AGAIN_WITHIN, |log| {
            mentions_too_many_files(log) || stopped(log)
        }) {
            if stopped(&server.stderr()) || server.still_running().is_err() {
                program_ended(server, &client.describe());
            }
            break client;
        }
        if server.still_running().is_err() {
            program_ended(server, &client.describe());
        }
        // Nothing in the log: a slow machine, or a mistake. Wait for the echo longer.
        let missing = hello.len() - client.received().len();
        match client.read_exactly(missing, REPLY_WITHIN) {
            ReadEnd::Complete => {
                served.push(client);
                continue;
            }
            ReadEnd::TimedOut => {}
            _ => program_ended(server, &client.describe()),
        }
        if served.len() < 2 {
            // Far from the limit: not a failed accept. Name what it is.
            let mut others: Vec<&mut TestClient> = served.iter_mut().collect();
            let problem = explain_no_echo(&mut client, &mut others);
            panic!(
                "client {number} said hello. {problem}{}",
                cap_text(&server.describe(), 3000)
            );
        }
        panic!(
            "client {number} got no echo while {} other clients were connected, and \
             your server's log says nothing about a failed accept. The program may \
             open only {OPEN_FILES} files here, so `accept` fails with \"Too many open \
             files\" once a few clients are connected: print that error \
             (`eprintln!(\"accept failed: {{error}}\")`) and keep accepting.\n{}{}",
            served.len(),
            client.describe(),
            cap_text(&server.describe(), 3000)
        );
    };
    (served, waiting)
}

/// Fails the accept-failure test when more clients were served than the program may open
/// files: the server must have closed their connections. `first` is the first client served.
fn no_file_ran_out(first: &mut TestClient, server: &ServerProcess) -> ! {
    let end = first.read_to_end(LOOK_AGAIN_WITHIN);
    if matches!(end, ReadEnd::Closed | ReadEnd::Failed(..)) {
        panic!(
            "{OPEN_FILES} clients were served one after the other by a program that may open \
             only {OPEN_FILES} files, because the server closed each connection right after \
             its echo: client 1 got its echo, then this: {end}, although it had not closed \
             its sending side. {KEEP_READING}\n{}{}",
            first.describe(),
            cap_text(&server.describe(), 3000)
        );
    }
    panic!(
        "{OPEN_FILES} clients were served by a program that may open only {OPEN_FILES} \
         files, and they are still connected: the open-file limit did not apply{}",
        cap_text(&server.describe(), 3000)
    );
}

/// Whether a program's log says that accept ran out of files (EMFILE).
fn mentions_too_many_files(log: &str) -> bool {
    log.to_lowercase().contains("too many open files")
}

/// Whether a program's log says it stopped: a panic, or the provided program's last words
/// when `serve` returns an error.
fn stopped(log: &str) -> bool {
    log.contains("panicked") || log.contains("error: the server stopped")
}

/// Fails the accept-failure test once the program has stopped (or closed its clients): says
/// why, from its log. `seen` is what the client saw.
fn program_ended(server: &mut ServerProcess, seen: &str) -> ! {
    // The process may still be on its way out: give its last words a moment to arrive.
    server.wait_for_stderr(LOOK_AGAIN_WITHIN, stopped);
    let log = server.stderr();
    let status = match server.still_running() {
        Err(ended) => ended,
        Ok(()) if !stopped(&log) => panic!(
            "the connection ended although the program still runs:\n{seen}{}",
            cap_text(&server.describe(), 3000)
        ),
        Ok(()) => "it is on its way out".to_string(),
    };
    let what = if log.contains("panicked") {
        "panicked"
    } else {
        "stopped"
    };
    let why = if log.to_lowercase().contains("not connected") {
        format!(
            "your server {what} ({status}) after accepting a client that had reset its \
             connection while it waited in the queue. Asking that client for its address \
             (`peer_addr`, in your `socket_pair`) fails with NotConnected (\"Transport \
             endpoint is not connected\"): that is this one client's error. Name the client on \
             the client's thread, log the error there, and end only that thread."
        )
    } else if mentions_too_many_files(&log) && what == "panicked" {
        format!(
            "your server panicked when accept failed with \"Too many open files\" ({status}): \
             an `unwrap()` (or `expect`) on accept turns one failed accept into the end of the \
             server. Print the error and keep accepting: as soon as a client leaves, a file is \
             free again and accept works."
        )
    } else if mentions_too_many_files(&log) {
        format!(
            "your server stopped when accept failed with \"Too many open files\" ({status}): \
             serve returned the error (a `?` on accept?). A failed accept is not the end of \
             the server: print the error and keep accepting; as soon as a client leaves, a \
             file is free again and accept works."
        )
    } else {
        format!(
            "your server {what} ({status}) while the program could open only {OPEN_FILES} \
             files."
        )
    };
    panic!("{why}\n{seen}{}", cap_text(&server.describe(), 3000))
}
