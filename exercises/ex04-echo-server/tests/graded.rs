//! Graded tests for exercise 4 — an echo server.
//!
//! Here the tests are the *client* and your code is the server. Each test binds a listener on
//! `127.0.0.1` with a port the system picks and runs your `serve` (or one `echo_client`) on a
//! thread of its own; a server runs forever, so that thread is simply left behind when the
//! test ends. The test's client has a deadline for everything it does, and when something
//! does not come back it says what it sent, what it got, and who closed first. If your server
//! thread panicked (a `todo!()`, an `unwrap`), the failure shows its message.
//!
//! The last test runs your `ex04-server` program as a real process.
//!
//! Run them with `cargo test -p ex04`; run one with `cargo test -p ex04 NAME`.

use std::io::{self, ErrorKind};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::thread;
use std::time::Duration;

use ex04::{bind, echo_client, serve, socket_pair};
use lab_harness::{
    ReadEnd, ServerProcess, ServerThread, TestClient, Watchdog, bind_loopback, show_bytes,
};
use rstest::rstest;

/// How long any one test may take. Generous: these take milliseconds when correct.
const DEADLINE: Duration = Duration::from_secs(20);

/// How long the client waits for an answer that a correct server gives in microseconds. The
/// mistakes these tests catch never answer at all, so a long wait costs nothing in what they
/// catch and keeps a busy machine from failing a correct server.
const REPLY_WITHIN: Duration = Duration::from_secs(2);

/// How many clients are connected at the same time in the "many clients" test.
const CLIENTS: usize = 8;

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

/// Why a client that got its echo back is still waiting: the server never closed.
fn no_end_of_file(end: &ReadEnd) -> String {
    format!(
        "everything came back, but after the client closed its sending side no end-of-file \
         followed ({end}). When `read` returns 0 the client is done: return from echo_client, \
         which closes the connection"
    )
}

/// The program under test: the exercise's `ex04-server`, or the solution's build of it.
fn server_program() -> &'static str {
    option_env!("CARGO_BIN_EXE_ex04-server")
        .or(option_env!("CARGO_BIN_EXE_ex04-solution-server"))
        .expect("cargo names the package's server program in CARGO_BIN_EXE_…")
}

#[test]
fn bind_listens_on_the_port_the_system_picks() {
    Watchdog::new(DEADLINE)
        .hint("a client connected, but accepting it on your listener did not return")
        .run(|| {
            let listener = bind("127.0.0.1", 0).expect("bind(\"127.0.0.1\", 0) failed");
            let addr = listener.local_addr().expect("the listener's local_addr");
            assert_eq!(
                addr.ip(),
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                "bind(\"127.0.0.1\", 0) listens on {addr}: bind the host you were given"
            );
            assert_ne!(
                addr.port(),
                0,
                "the listener reports port 0: ask the listener itself (`local_addr`) which port \
                 the system picked"
            );
            let client = TcpStream::connect_timeout(&addr, REPLY_WITHIN)
                .unwrap_or_else(|error| panic!("a client cannot connect to {addr}: {error}"));
            let (_, peer) = listener.accept().expect("accepting the client");
            assert_eq!(peer, client.local_addr().unwrap());
        });
}

#[test]
fn bind_to_a_port_in_use_is_an_error_not_a_panic() {
    let taken = bind_loopback().unwrap();
    let port = taken.local_addr().unwrap().port();
    let result = Watchdog::new(DEADLINE).run(move || bind("127.0.0.1", port));
    match result {
        Err(error) => assert_eq!(
            error.kind(),
            ErrorKind::AddrInUse,
            "expected AddrInUse for a port another listener has, got: {error}"
        ),
        Ok(listener) => {
            panic!("bind succeeded on port {port} although another listener uses it: {listener:?}")
        }
    }
    drop(taken);
}

#[test]
fn socket_pair_shows_each_end_as_the_lecture_table_does() {
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
             you returned local = {}, peer = {}",
            server_side.local,
            server_side.peer
        );
        let client_side = socket_pair(&client).expect("socket_pair on the client's stream");
        assert_eq!(
            (client_side.local, client_side.peer),
            (client_addr, server_addr),
            "from the client's side the pair is mirrored: local = {client_addr}, peer = \
             {server_addr}; you returned local = {}, peer = {}",
            client_side.local,
            client_side.peer
        );
    });
}

#[rstest]
#[case::text(b"hello, echo\n".to_vec())]
#[case::binary_with_nul_and_invalid_utf8(vec![0, 255, 0, b'\r', 0xc3, 0x28, b'\n', 0])]
#[case::nothing_at_all(Vec::new())]
#[case::a_megabyte(binary_data(1 << 20, 1))]
fn echo_client_sends_back_exactly_what_it_receives(#[case] data: Vec<u8>) {
    Watchdog::new(DEADLINE)
        .hint("the exchange with echo_client did not finish")
        .run(move || {
            let (addr, mut server) = start_echo_client();
            let mut client = connect(addr, &mut server);
            let end = client.round_trip(&data, REPLY_WITHIN * 5);
            if let Some(difference) = client.compare(&data) {
                server.fail(format!(
                    "{difference}. Send back the bytes each read gave, all of them \
                     (`write_all`) and only them (`&buffer[..count]`), text or not.\n{}",
                    client.describe()
                ));
            }
            if end != ReadEnd::Closed {
                server.fail(format!("{}.\n{}", no_end_of_file(&end), client.describe()));
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
    Watchdog::new(DEADLINE)
        .hint("the exchange with echo_client did not finish")
        .run(|| {
            let (addr, mut server) = start_echo_client();
            let mut client = connect(addr, &mut server);
            for piece in [&b"ping\n"[..], b"pong\n"] {
                client
                    .send(piece, REPLY_WITHIN)
                    .expect("sending to echo_client");
                if client.read_exactly(piece.len(), REPLY_WITHIN) != ReadEnd::Complete {
                    server.fail(format!(
                        "sent {} and waited {REPLY_WITHIN:?} for it to come back, with the \
                         connection still open: echo each read at once, do not wait for the \
                         client to finish (`read_to_end` waits for the end).\n{}",
                        show_bytes(piece),
                        client.describe()
                    ));
                }
            }
            if let Some(difference) = client.compare(b"ping\npong\n") {
                server.fail(format!(
                    "{difference}: send back exactly the bytes each read gave \
                     (`&buffer[..count]`).\n{}",
                    client.describe()
                ));
            }
        });
}

#[test]
fn echo_client_closes_once_the_client_half_closes() {
    Watchdog::new(DEADLINE)
        .hint("the exchange with echo_client did not finish")
        .run(|| {
            let (addr, mut server) = start_echo_client();
            let mut client = connect(addr, &mut server);
            let data = binary_data(100_000, 2);
            client
                .send(&data, REPLY_WITHIN)
                .expect("sending to echo_client");
            client
                .half_close()
                .expect("closing the client's sending side");
            let end = client.read_to_end(REPLY_WITHIN);
            if let Some(difference) = client.compare(&data) {
                server.fail(format!("{difference}.\n{}", client.describe()));
            }
            if end != ReadEnd::Closed {
                server.fail(format!(
                    "the client closed its sending side, got everything back, and then waited \
                     {REPLY_WITHIN:?} for end-of-file: {end}. When `read` returns 0 the client \
                     is done: stop looping and return (that closes the connection).\n{}",
                    client.describe()
                ));
            }
        });
}

#[test]
fn serve_round_trips_16_mib_of_binary_data() {
    Watchdog::new(Duration::from_secs(60))
        .hint("the 16 MiB round trip did not finish")
        .run(|| {
            let (addr, mut server) = start_serve();
            let data = binary_data(16 << 20, 3);
            let mut client = connect(addr, &mut server);
            // The client reads on a second thread while it sends: 16 MiB do not fit in the
            // buffers, so a client that only sent would wait for a server waiting for it.
            let end = client.round_trip(&data, Duration::from_secs(40));
            if let Some(difference) = client.compare(&data) {
                server.fail(format!(
                    "{difference}. (Reading everything before answering cannot work here, \
                     and neither can ignoring how many bytes a read gave.)\n{}",
                    client.describe()
                ));
            }
            if end != ReadEnd::Closed {
                server.fail(format!("{}.\n{}", no_end_of_file(&end), client.describe()));
            }
            server.assert_running("serve must keep accepting after a client leaves");
        });
}

#[test]
fn serve_answers_a_second_client_while_the_first_is_idle() {
    Watchdog::new(DEADLINE)
        .hint("talking to serve did not finish")
        .run(|| {
            let (addr, mut server) = start_serve();
            let mut idle = connect(addr, &mut server);
            let mut busy = connect(addr, &mut server);
            busy.send(b"anyone there?\n", REPLY_WITHIN)
                .expect("sending");
            if busy.read_exactly(14, REPLY_WITHIN) != ReadEnd::Complete {
                server.fail(format!(
                    "client B got no echo within {REPLY_WITHIN:?} while client A was connected \
                     but silent. Is the server still busy with A? Serve each client on its own \
                     thread, and do not `join` that thread before accepting the next.\n\
                     client B: {}",
                    busy.describe()
                ));
            }
            idle.send(b"me too\n", REPLY_WITHIN).expect("sending");
            if idle.read_exactly(7, REPLY_WITHIN) != ReadEnd::Complete {
                server.fail(format!(
                    "client A, connected first and silent until now, got no echo: {}",
                    idle.describe()
                ));
            }
            server.assert_running("serve must keep accepting clients");
        });
}

#[test]
fn serve_echoes_to_eight_clients_connected_at_once() {
    Watchdog::new(DEADLINE)
        .hint("talking to serve with many clients did not finish")
        .run(|| {
            let (addr, mut server) = start_serve();
            let mut clients: Vec<TestClient> =
                (0..CLIENTS).map(|_| connect(addr, &mut server)).collect();

            // Every client says hello while all of them are connected.
            let mut expected = Vec::new();
            for (index, client) in clients.iter_mut().enumerate() {
                let hello = format!("hello from client {index}\n").into_bytes();
                client.send(&hello, REPLY_WITHIN).expect("sending hello");
                if client.read_exactly(hello.len(), REPLY_WITHIN) != ReadEnd::Complete {
                    server.fail(format!(
                        "client {index} (of {CLIENTS} connected at once) got no echo within \
                         {REPLY_WITHIN:?}: the server seems to serve one client at a time.\n\
                         client {index}: {}",
                        client.describe()
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
                            let end = client.round_trip(&data, REPLY_WITHIN * 4);
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
                if let Some(difference) = client.compare(expected) {
                    server.fail(format!(
                        "client {index} (of {CLIENTS} sending at the same time): {difference}.\n\
                         client {index}: {}",
                        client.describe()
                    ));
                }
                if *end != ReadEnd::Closed {
                    server.fail(format!(
                        "client {index}: {}.\n{}",
                        no_end_of_file(end),
                        client.describe()
                    ));
                }
            }
            server.assert_running("serve must keep accepting clients");
        });
}

#[test]
fn serve_survives_a_client_that_resets_mid_message() {
    Watchdog::new(DEADLINE)
        .hint("talking to serve did not finish")
        .run(|| {
            let (addr, mut server) = start_serve();
            let mut leaver = connect(addr, &mut server);
            leaver.send(b"half a mes", REPLY_WITHIN).expect("sending");
            // Once the echo starts, the server is surely in the middle of serving it.
            if leaver.read_exactly(4, REPLY_WITHIN) != ReadEnd::Complete {
                server.fail(format!("no echo came back: {}", leaver.describe()));
            }
            leaver
                .send(b"sage that never ends", REPLY_WITHIN)
                .expect("sending");
            leaver.reset().expect("resetting the connection");

            let mut next = connect(addr, &mut server);
            next.send(b"still there?\n", REPLY_WITHIN)
                .unwrap_or_else(|error| server.fail(format!("sending failed: {error}")));
            next.half_close().expect("closing the sending side");
            let end = next.read_to_end(REPLY_WITHIN);
            if next.received().is_empty() {
                server.fail(format!(
                    "after one client reset its connection, the next client was not served. \
                     A reset makes that client's read or write fail: end that client's thread \
                     (return the error from echo_client, log it), never the accept loop.\n\
                     next client: {}",
                    next.describe()
                ));
            }
            if let Some(difference) = next.compare(b"still there?\n") {
                server.fail(format!("next client: {difference}.\n{}", next.describe()));
            }
            if end != ReadEnd::Closed {
                server.fail(format!("{}.\n{}", no_end_of_file(&end), next.describe()));
            }
            server.assert_running(
                "one client's error must not end serve: it must keep accepting clients",
            );
        });
}

#[test]
fn the_server_program_prints_where_it_listens_and_serves_clients() {
    Watchdog::new(DEADLINE)
        .hint("talking to the server program did not finish")
        .run(|| {
            let mut command = Command::new(server_program());
            command.args(["--port", "0"]);
            // Killed when `server` is dropped, at the end of this test or when it fails.
            let mut server = ServerProcess::start(command, "listening on ", REPLY_WITHIN * 5)
                .unwrap_or_else(|message| panic!("{message}"));
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
                if end != ReadEnd::Closed || client.compare(&data).is_some() {
                    panic!(
                        "the program did not send {} back and close: {}{}",
                        show_bytes(&data),
                        client.describe(),
                        server.describe()
                    );
                }
                let client_addr = client.local_addr().unwrap().to_string();
                let named = server.wait_for_stderr(REPLY_WITHIN, |log| log.contains(&client_addr));
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
