//! Graded tests for exercise 6 — names and addresses.
//!
//! Nothing here needs the internet. The names the tests look up are answered by this machine
//! itself: address literals (`127.0.0.1`, `::1`), `localhost` and the machine's own name from
//! its hosts file, and `nosuch.invalid`, a name that cannot exist (`.invalid` is reserved for
//! that, RFC 2606), so every resolver says "no such name" at once.
//!
//! The connection tests use three kinds of peer, all on this machine with ports the system
//! picks: a harness server that listens, a *closed port* (`ClosedPort`: refused at once) and
//! a *full queue* (`FullBacklog`: nobody answers, so only a timeout ends a connect). A call of
//! yours that could wait runs on a thread of its own (`wait_for`) and is waited for a few
//! seconds at most; a failure says what was seen, and when a harness server was involved,
//! the conversation on its wire.
//!
//! Machines differ, and the tests say so instead of failing for it: where this machine has no
//! IPv6 loopback (`::1`), where `localhost` has one address only, where the machine's own
//! name is in no hosts file (the grader's sandbox), a test prints a note and checks what it
//! can. Run `cargo test -p ex06 -- --nocapture` to see the notes.
//!
//! Run them with `cargo test -p ex06`; run one with `cargo test -p ex06 NAME`.

// This file also grades the reference solution (package ex06-solution), whose library is
// named `ex06_solution`: there this line makes `ex06` mean it.
#[cfg(netlab_solution)]
extern crate ex06_solution as ex06;

use std::cell::RefCell;
use std::io::{ErrorKind, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use ex06::{
    AddrInfo, connect_any, create_server, describe, describe_socket, fqdn, hostname, resolve,
    reverse_lookup,
};
use lab_harness::{ClosedPort, FullBacklog, ScriptedServer, Watchdog};
use socket2::{Domain, Protocol, Type};

/// The timeout the tests give `connect_any` for each address.
const TIMEOUT: Duration = Duration::from_millis(200);

/// How much longer than its timeouts a call may take on a busy machine.
const SLACK: Duration = Duration::from_secs(2);

/// How long a test waits for a call of yours that could wait: a connect without a timeout
/// would wait about two minutes where nobody answers.
const GIVE_UP: Duration = Duration::from_secs(5);

/// The watchdog of every test: a safety net only.
const DEADLINE: Duration = Duration::from_secs(20);

/// How long the tests' own connects may take (they reach a listener on this machine).
const CONNECT: Duration = Duration::from_secs(5);

/// A name that cannot exist: `.invalid` is reserved (RFC 2606), every resolver refuses it.
const NO_SUCH_NAME: &str = "nosuch.invalid";

// ---------------------------------------------------------------------------------------------
// resolve
// ---------------------------------------------------------------------------------------------

#[test]
fn resolve_gives_a_literal_ipv4_address_back_with_its_port() {
    let got = Watchdog::new(DEADLINE).run(|| resolve("127.0.0.1", 5151));
    let expected = vec![SocketAddr::from(([127, 0, 0, 1], 5151))];
    match got {
        Ok(got) if got == expected => {}
        Ok(got) => panic!(
            "resolve(\"127.0.0.1\", 5151) gave {got:?}, expected {expected:?}.{}",
            explain_addresses(&expected, &got)
        ),
        Err(error) => panic!(
            "resolve(\"127.0.0.1\", 5151) failed: {error}. An address is its own answer: \
             `(host, port).to_socket_addrs()` gives it back without asking anyone."
        ),
    }
}

#[test]
fn resolve_gives_a_literal_ipv6_address_back_with_its_port() {
    let got = Watchdog::new(DEADLINE).run(|| resolve("::1", 8080));
    let expected = vec![SocketAddr::from((Ipv6Addr::LOCALHOST, 8080))];
    match got {
        Ok(got) if got == expected => {}
        Ok(got) => panic!(
            "resolve(\"::1\", 8080) gave {got:?}, expected {expected:?}.{}",
            explain_addresses(&expected, &got)
        ),
        Err(error) => panic!("resolve(\"::1\", 8080) failed: {error}"),
    }
}

#[test]
fn resolve_accepts_an_ipv6_address_in_brackets_and_nothing_else_in_brackets() {
    // `[::1]` is how an IPv6 address is written before a port (`[::1]:443`, and in URLs).
    // The resolver itself does not take the brackets: they must come off first.
    let (bracketed, not_v6) =
        Watchdog::new(DEADLINE).run(|| (resolve("[::1]", 443), resolve("[localhost]", 443)));
    let expected = vec![SocketAddr::from((Ipv6Addr::LOCALHOST, 443))];
    match bracketed {
        Ok(got) if got == expected => {}
        Ok(got) => panic!("resolve(\"[::1]\", 443) gave {got:?}, expected {expected:?}"),
        Err(error) => panic!(
            "resolve(\"[::1]\", 443) failed: {error}. The brackets around an IPv6 address \
             are not part of it, and the system's resolver does not know them: take them off \
             (`strip_prefix('[')`, `strip_suffix(']')`) and parse what is inside as an \
             `Ipv6Addr`."
        ),
    }
    match not_v6 {
        Err(error) if error.kind() == ErrorKind::InvalidInput => {}
        other => panic!(
            "resolve(\"[localhost]\", 443) gave {other:?}, expected an error of kind \
             InvalidInput: only an IPv6 address goes in brackets. Check that what is inside \
             parses as an `Ipv6Addr` before you take the brackets off."
        ),
    }
}

#[test]
fn resolve_gives_every_address_of_localhost_in_the_order_the_system_gives() {
    // The system orders a name's addresses on purpose (RFC 6724: the one to try first comes
    // first). `resolve` must give all of them, in that order: the same as the system's own
    // `to_socket_addrs`.
    let (got, system) = Watchdog::new(DEADLINE).run(|| {
        let system: Vec<SocketAddr> = ("localhost", 7)
            .to_socket_addrs()
            .expect("this machine resolves localhost")
            .collect();
        (resolve("localhost", 7), system)
    });
    if system.len() < 2 {
        println!(
            "note: localhost has one address only here ({system:?}), so keeping all of them \
             in order cannot be told from keeping the first"
        );
    }
    match got {
        Ok(got) if got == system => {}
        Ok(got) => panic!(
            "resolve(\"localhost\", 7) gave {got:?}; the system gives {system:?}.{}",
            explain_addresses(&system, &got)
        ),
        Err(error) => panic!("resolve(\"localhost\", 7) failed: {error}"),
    }
}

#[test]
fn resolve_reports_a_name_that_cannot_exist_as_an_error_that_names_it() {
    let outcome = Watchdog::new(DEADLINE).run(|| wait_for(GIVE_UP, || resolve(NO_SUCH_NAME, 80)));
    let Some((result, _)) = outcome else {
        panic!("resolve({NO_SUCH_NAME:?}, 80) was still waiting after {GIVE_UP:?}");
    };
    match result {
        Err(Panicked(message)) => panic!(
            "resolve({NO_SUCH_NAME:?}, 80) panicked: {message}. A name that does not exist \
             is an answer, not a bug: return the error (`?`, or `map_err` to add words), \
             never `unwrap` or `expect` it."
        ),
        Ok(Ok(addrs)) => panic!("resolve({NO_SUCH_NAME:?}, 80) gave addresses: {addrs:?}"),
        Ok(Err(error)) => assert!(
            error.to_string().contains(NO_SUCH_NAME),
            "resolve({NO_SUCH_NAME:?}, 80) failed as it should, but its message does not say \
             which name: \"{error}\". std's own message (\"failed to lookup address \
             information\") names no host; a user who typed several needs to know which one: \
             wrap it, `io::Error::new(error.kind(), format!(\"cannot resolve {{host:?}}: \
             {{error}}\"))`."
        ),
    }
}

#[test]
fn resolve_rejects_an_empty_host_with_invalid_input() {
    // "" means nothing on Linux (an error) and this machine's addresses on Windows: say what
    // is wrong, the same everywhere, before asking the system.
    let result = Watchdog::new(DEADLINE).run(|| wait_for(GIVE_UP, || resolve("", 80)));
    let Some((result, _)) = result else {
        panic!("resolve(\"\", 80) was still waiting after {GIVE_UP:?}");
    };
    match result {
        Ok(Err(error)) if error.kind() == ErrorKind::InvalidInput => {}
        other => panic!(
            "resolve(\"\", 80) gave {}; expected an error of kind InvalidInput, with a \
             message that says a host name is needed. What the system answers for an empty \
             name differs (Linux: no such name; Windows: this machine's addresses): check \
             `host.is_empty()` first.",
            show_outcome(&other)
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// describe, describe_socket
// ---------------------------------------------------------------------------------------------

#[test]
fn describe_names_the_family_type_and_protocol_of_an_ipv4_address() {
    let addr = SocketAddr::from(([127, 0, 0, 1], 80));
    let got = Watchdog::new(DEADLINE).run(move || describe(addr));
    let expected = AddrInfo {
        family: Domain::IPV4,
        socket_type: Type::STREAM,
        protocol: Protocol::TCP,
        addr,
    };
    assert_eq!(
        got,
        expected,
        "describe({addr}): an IPv4 address needs an AF_INET socket, of type SOCK_STREAM (a \
         byte stream) and protocol IPPROTO_TCP.{}",
        explain_row(&expected, &got)
    );
}

#[test]
fn describe_says_ipv6_for_every_ipv6_address_even_one_holding_an_ipv4_address() {
    // `::ffff:127.0.0.1` is an IPv4 address written as IPv6 (how a dual-stack server sees an
    // IPv4 client): a socket for it is still an IPv6 socket.
    let addrs = [
        SocketAddr::from((Ipv6Addr::LOCALHOST, 443)),
        SocketAddr::from((Ipv4Addr::LOCALHOST.to_ipv6_mapped(), 443)),
    ];
    let got = Watchdog::new(DEADLINE).run(move || addrs.map(describe));
    for (addr, got) in addrs.iter().zip(&got) {
        let expected = AddrInfo {
            family: Domain::IPV6,
            socket_type: Type::STREAM,
            protocol: Protocol::TCP,
            addr: *addr,
        };
        assert_eq!(
            *got,
            expected,
            "describe({addr}): an IPv6 address needs an AF_INET6 socket.{}",
            explain_row(&expected, got)
        );
    }
}

#[test]
fn describe_socket_reports_this_end_as_local_and_the_server_as_peer() {
    let server = ScriptedServer::silent();
    let server_addr = server.addr();
    let (info, local) = Watchdog::new(DEADLINE)
        .watch(server.recording())
        .run(move || {
            let stream = TcpStream::connect_timeout(&server_addr, CONNECT).expect("connecting");
            (describe_socket(&stream), stream.local_addr().unwrap())
        });
    let info = info.unwrap_or_else(|error| panic!("describe_socket failed: {error}"));
    let expected = (
        Domain::IPV4,
        Type::STREAM,
        Protocol::TCP,
        local,
        server_addr,
    );
    let got = (
        info.family,
        info.socket_type,
        info.protocol,
        info.local,
        info.peer,
    );
    let swapped = info.local == server_addr && info.peer == local;
    assert_eq!(
        got,
        expected,
        "describe_socket of a client connected from {local} to a server at {server_addr} \
         gave {info:?}.{}\n{}",
        if swapped {
            " Local and peer are swapped: `local` is this end of the connection (getsockname, \
             `local_addr()`), `peer` the other end, the server (getpeername, `peer_addr()`)."
        } else {
            ""
        },
        server.recording().describe()
    );
}

#[test]
fn describe_socket_of_an_ipv4_client_at_a_dual_stack_server_says_ipv6() {
    // A dual-stack server's socket is an IPv6 socket, also when the client came over IPv4:
    // both ends then look like `[::ffff:127.0.0.1]:port`.
    let Some(listener) = dual_stack_listener() else {
        println!("note: this machine cannot listen on IPv6 and IPv4 at once: nothing to check");
        return;
    };
    let port = listener.local_addr().unwrap().port();
    let (info, client) = Watchdog::new(DEADLINE).run(move || {
        let client = TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), CONNECT)
            .expect("connecting over IPv4");
        let (accepted, _) = listener.accept().expect("accepting");
        (describe_socket(&accepted), client.local_addr().unwrap())
    });
    let info = info.unwrap_or_else(|error| panic!("describe_socket failed: {error}"));
    let mapped = |addr: SocketAddr| match addr.ip() {
        IpAddr::V4(ip) => SocketAddr::new(IpAddr::V6(ip.to_ipv6_mapped()), addr.port()),
        IpAddr::V6(_) => addr,
    };
    assert_eq!(
        (info.family, info.local.port(), info.peer),
        (Domain::IPV6, port, mapped(client)),
        "describe_socket of the server's end of a connection from {client} to a dual-stack \
         server on port {port} gave {info:?}: expected family AF_INET6, the server's port as \
         local, the client ({}) as peer. Ask the socket itself (`SockRef::from(stream)`), \
         or its own address (`local_addr()`), not what the peer's address looks like.",
        mapped(client)
    );
}

// ---------------------------------------------------------------------------------------------
// connect_any
// ---------------------------------------------------------------------------------------------

#[test]
fn connect_any_reaches_the_first_address_that_answers() {
    // Three addresses, as a name may resolve to several: the first refuses, nobody answers at
    // the second, a server listens at the third. The connection must reach the third.
    let closed = ClosedPort::new().expect("a port nothing listens on");
    let silent = FullBacklog::new().expect("a listener whose queue is full");
    let server = ScriptedServer::silent();
    let addrs = [closed.addr(), silent.addr(), server.addr()];
    let given = format!(
        "connect_any(&[{}, {}, {}], {TIMEOUT:?}) (the first refuses, nobody answers at the \
         second, a server listens at the third)",
        addrs[0], addrs[1], addrs[2]
    );
    let recording = server.recording().clone();
    Watchdog::new(DEADLINE).run(move || {
        let Some((result, elapsed)) = wait_for(GIVE_UP, move || connect_any(&addrs, TIMEOUT))
        else {
            panic!("{}", still_connecting(&given));
        };
        let problem = match result {
            Err(Panicked(message)) => format!("It panicked: {message}"),
            Ok(Ok(stream)) if stream.peer_addr().ok() == Some(server.addr()) => return,
            Ok(Ok(stream)) => format!("It connected, but not to the server: {stream:?}"),
            Ok(Err(error)) if elapsed < TIMEOUT / 2 => format!(
                "It returned Err({error}) after {elapsed:.1?}, without waiting at the second \
                 address: it stopped at the refusal of the first. {ONLY_THE_FIRST}"
            ),
            Ok(Err(error)) => format!(
                "It returned Err({error}) after {elapsed:.1?}, and never reached the third \
                 address, where a server listens. A timeout is one address's failure, like a \
                 refusal: go on with the next address, and return an error only when every \
                 one has failed."
            ),
        };
        panic!("{given}. {problem}\n{}", recording.describe());
    });
    drop((closed, silent));
}

#[test]
fn connect_any_error_says_what_each_address_answered() {
    // Both fail: the first refuses at once, nobody answers at the second. The error's kind is
    // the last one's (TimedOut), and its message lists every address with its answer, as
    // Python's create_connection does since 3.11 (`all_errors=True`).
    let closed = ClosedPort::new().expect("a port nothing listens on");
    let silent = FullBacklog::new().expect("a listener whose queue is full");
    let addrs = [closed.addr(), silent.addr()];
    let given = format!(
        "connect_any(&[{}, {}], {TIMEOUT:?}) (the first refuses, nobody answers at the second)",
        addrs[0], addrs[1]
    );
    Watchdog::new(DEADLINE).run(move || {
        let (error, elapsed) = connect_any_failing(addrs.to_vec(), &given);
        if elapsed < TIMEOUT / 2 && error.kind() == ErrorKind::ConnectionRefused {
            panic!(
                "{given} returned Err({error}) after {elapsed:.1?}, before the second address \
                 could time out: it stopped at the refusal of the first. {ONLY_THE_FIRST}"
            );
        }
        if elapsed < TIMEOUT * 9 / 10 {
            panic!(
                "{given} returned Err({error}) after {elapsed:.1?}: the second address was \
                 given up on before its timeout of {TIMEOUT:?}. Each address gets the whole \
                 timeout it was given (`timeout_each`), unchanged."
            );
        }
        let message = error.to_string();
        let lower = message.to_lowercase();
        let mut missing = Vec::new();
        // Windows tries a refused connect again for about two seconds, so there the closed
        // port's answer within 200 ms is a timeout too: only its address is looked for.
        let first_answer = if cfg!(windows) { "" } else { "refused" };
        for (addr, answer) in addrs.iter().zip([first_answer, "timed out"]) {
            if !message.contains(&addr.to_string()) || !lower.contains(answer) {
                missing.push(format!("{addr} ({answer})"));
            }
        }
        assert!(
            missing.is_empty(),
            "{given} returned the error \"{message}\", which does not say what {} answered. \
             Keep every address's answer, not only the last one: push \
             `format!(\"{{addr}}: {{error}}\")` into a Vec as you go, and join them into the \
             message of the error you return.",
            missing.join(" and ")
        );
        assert_eq!(
            error.kind(),
            ErrorKind::TimedOut,
            "{given} returned \"{message}\" with kind {:?}: keep the kind of the last error \
             (here TimedOut), so that a caller can still match on it. \
             `io::Error::other(message)` makes every error Other: use \
             `io::Error::new(last_error.kind(), message)`.",
            error.kind()
        );
        assert!(
            elapsed <= TIMEOUT + SLACK,
            "{given} took {elapsed:.1?}: each address should be given up on after {TIMEOUT:?}"
        );
    });
    drop((closed, silent));
}

#[test]
fn connect_any_gives_each_address_the_whole_timeout() {
    // Two addresses where nobody answers, 200 ms each: about 400 ms in all. The timeout is for
    // each address, not for the whole call.
    let first = FullBacklog::new().expect("a listener whose queue is full");
    let second = FullBacklog::new().expect("a listener whose queue is full");
    let addrs = [first.addr(), second.addr()];
    let given = format!(
        "connect_any(&[{}, {}], {TIMEOUT:?}) (nobody answers at either)",
        addrs[0], addrs[1]
    );
    Watchdog::new(DEADLINE).run(move || {
        let (_, elapsed) = connect_any_failing(addrs.to_vec(), &given);
        assert!(
            elapsed >= TIMEOUT * 2 * 9 / 10,
            "{given} gave up after {elapsed:.1?}, less than two timeouts: each address gets \
             the whole timeout it was given (`timeout_each`), not a share of it, and both \
             must be tried"
        );
        assert!(
            elapsed <= TIMEOUT * 2 + SLACK,
            "{given} took {elapsed:.1?}: each address should be given up on after {TIMEOUT:?}"
        );
    });
    drop((first, second));
}

#[test]
fn connect_any_with_no_address_is_an_invalid_input_error() {
    let result = Watchdog::new(DEADLINE).run(|| wait_for(GIVE_UP, || connect_any(&[], TIMEOUT)));
    match result.map(|(result, _)| result) {
        Some(Ok(Err(error))) if error.kind() == ErrorKind::InvalidInput => {}
        Some(other) => panic!(
            "connect_any(&[], {TIMEOUT:?}) gave {}; expected an error of kind InvalidInput \
             (no address to connect to). With no address, the loop never runs: there is no \
             last error to unwrap.",
            show_outcome(&other)
        ),
        None => panic!("connect_any(&[], {TIMEOUT:?}) was still waiting after {GIVE_UP:?}"),
    }
}

#[test]
fn connect_any_rejects_a_zero_timeout_before_connecting() {
    let server = ScriptedServer::silent();
    let addr = server.addr();
    let result = Watchdog::new(DEADLINE)
        .watch(server.recording())
        .run(move || wait_for(GIVE_UP, move || connect_any(&[addr], Duration::ZERO)));
    match result.map(|(result, _)| result) {
        Some(Ok(Err(error))) if error.kind() == ErrorKind::InvalidInput => {}
        Some(other) => panic!(
            "connect_any(&[{addr}], 0 s) gave {}; expected an error of kind InvalidInput",
            show_outcome(&other)
        ),
        None => panic!("connect_any(&[{addr}], 0 s) was still waiting after {GIVE_UP:?}"),
    }
    // The server accepts connections in order: once it has seen the test's own, it has seen
    // any that came before.
    let marker = TcpStream::connect_timeout(&addr, CONNECT).expect("the test's own connection");
    let marker_addr = marker.local_addr().unwrap();
    let seen = server
        .recording()
        .wait_until(DEADLINE, |all| all.iter().any(|c| c.peer == marker_addr));
    assert!(seen, "{}", server.recording().describe());
    assert_eq!(
        server.recording().totals().connections,
        1,
        "the zero timeout was rejected, but a connection reached the server first: std's \
         `connect_timeout` starts connecting before it rejects a zero timeout, so check \
         `timeout_each.is_zero()` before the loop\n{}",
        server.recording().describe()
    );
}

// ---------------------------------------------------------------------------------------------
// create_server
// ---------------------------------------------------------------------------------------------

#[test]
fn create_server_dual_stack_accepts_ipv4_and_ipv6_clients() {
    let Some(listener) = server_or_note(0, true) else {
        return;
    };
    let local = listener.local_addr().unwrap();
    assert!(
        local.is_ipv6() && local.ip().is_unspecified(),
        "create_server(0, true) listens on {local}: a dual-stack server listens on [::], \
         every IPv6 address and (with IPV6_V6ONLY off) every IPv4 address too. {}",
        if local.is_ipv4() {
            "An IPv4 socket (0.0.0.0) never hears IPv6 clients: make an IPv6 socket \
             (`Socket::new(Domain::IPV6, …)`)."
        } else {
            ""
        }
    );
    let port = local.port();
    let mut clients = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    if ipv6_loopback() {
        clients.push(IpAddr::V6(Ipv6Addr::LOCALHOST));
    } else {
        println!("note: this machine has no IPv6 loopback (::1): only IPv4 clients are tried");
    }
    let results = Watchdog::new(DEADLINE).run(move || {
        let results: Vec<_> = clients
            .iter()
            .map(|&ip| (ip, reach(&listener, SocketAddr::new(ip, port))))
            .collect();
        results
    });
    for (ip, result) in results {
        if let Err(error) = result {
            panic!(
                "create_server(0, true) listens on {local}, but a client at {ip} could not \
                 connect: {error}. {}",
                explain_unreached(ip, true)
            );
        }
    }
}

#[test]
fn create_server_without_dual_stack_refuses_ipv4_clients() {
    // Python's create_server(("", port), family=AF_INET6, dualstack_ipv6=False): IPv6 only.
    let Some(listener) = server_or_note(0, false) else {
        return;
    };
    let local = listener.local_addr().unwrap();
    assert!(
        local.is_ipv6(),
        "create_server(0, false) listens on {local}: it listens on [::], IPv6 only"
    );
    let port = local.port();
    let outcome = Watchdog::new(DEADLINE).run(move || {
        let v6 = ipv6_loopback()
            .then(|| reach(&listener, SocketAddr::from((Ipv6Addr::LOCALHOST, port))));
        let v4 = TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), CONNECT);
        // A connect that succeeds reached *some* listener on this port; it is this one if the
        // connection is waiting in its queue.
        listener.set_nonblocking(true).unwrap();
        let queued_here = v4.is_ok() && listener.accept().is_ok();
        (v6, v4.map(|_| ()), queued_here)
    });
    let (v6, v4, queued_here) = outcome;
    if let Some(Err(error)) = v6 {
        panic!(
            "create_server(0, false) listens on {local}, but a client at ::1 could not \
             connect: {error}. {}",
            explain_unreached(IpAddr::V6(Ipv6Addr::LOCALHOST), false)
        );
    }
    match v4 {
        Err(error) if error.kind() == ErrorKind::ConnectionRefused => {}
        Err(error) => panic!("a client at 127.0.0.1, port {port}, got {error} (expected refused)"),
        Ok(()) if !queued_here => println!(
            "note: another program listens on 127.0.0.1 port {port}: the IPv4 refusal cannot \
             be checked this time"
        ),
        Ok(()) => panic!(
            "create_server(0, false) listens on {local}, and a client at 127.0.0.1 reached it: \
             the server takes IPv4 too, although dual_stack was false. IPV6_V6ONLY was left \
             off: set it yourself, `set_only_v6(!dual_stack)`, never rely on the system's \
             default (off on Linux and macOS, on on Windows)."
        ),
    }
}

#[test]
fn create_server_can_listen_again_on_the_same_port_at_once() {
    // A server is stopped while a connection it closed first is still in TIME_WAIT (about a
    // minute), and started again on the same port, as an instructor does after a change.
    if cfg!(windows) {
        println!("note: Windows allows this without SO_REUSEADDR; only the port is checked");
    }
    let Some(first) = server_or_note(0, true) else {
        return;
    };
    let port = first.local_addr().unwrap().port();
    let again = Watchdog::new(DEADLINE).run(move || {
        let mut client =
            TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), CONNECT)
                .expect("connecting to the first server");
        let (accepted, _) = first.accept().expect("accepting");
        // The server closes first: its side of the connection goes to TIME_WAIT.
        drop(accepted);
        client.set_read_timeout(Some(CONNECT)).unwrap();
        let _ = client.read(&mut [0; 16]);
        drop(client);
        drop(first);
        create_server(port, true)
    });
    match again {
        Ok(listener) => {
            let got = listener.local_addr().unwrap().port();
            assert_eq!(
                got, port,
                "create_server({port}, true) listens on port {got}, not on the port it was \
                 given: bind the address `[::]:{port}`, with the `port` parameter"
            );
        }
        Err(error) if error.kind() == ErrorKind::AddrInUse => panic!(
            "a server on port {port} was stopped (a connection it closed is in TIME_WAIT), \
             and create_server({port}, true) failed: {error}. Turn address reuse on \
             (`set_reuse_address(true)`, SO_REUSEADDR) before `bind`: std's \
             `TcpListener::bind` does it for you on Unix, socket2 does not."
        ),
        Err(error) => panic!("create_server({port}, true) failed: {error}"),
    }
}

// ---------------------------------------------------------------------------------------------
// hostname, reverse_lookup, fqdn
// ---------------------------------------------------------------------------------------------

#[test]
fn hostname_is_the_name_the_system_reports() {
    let got = Watchdog::new(DEADLINE).run(hostname);
    let got = got.unwrap_or_else(|error| panic!("hostname() failed: {error}. {HOSTNAME_HINT}"));
    match system_hostname() {
        Some(system) => assert_eq!(
            got, system,
            "hostname() gave {got:?}; the `hostname` program says {system:?}. {HOSTNAME_HINT}"
        ),
        None => {
            println!("note: no `hostname` program here to compare with");
            assert!(
                !got.is_empty() && !got.contains(char::is_whitespace),
                "hostname() gave {got:?}: a host name is one word"
            );
        }
    }
    // The round trip: the machine's name, where the machine lists it, resolves to the same
    // addresses with `resolve` as with the system.
    let system_addrs: Vec<SocketAddr> = match (got.as_str(), 0).to_socket_addrs() {
        Ok(addrs) => addrs.collect(),
        Err(error) => {
            println!(
                "note: this machine's name {got:?} is in no hosts file or DNS here ({error}); \
                 normal in the grader's sandbox: no round trip to check"
            );
            return;
        }
    };
    let name = got.clone();
    let resolved = Watchdog::new(DEADLINE).run(move || resolve(&name, 0));
    match resolved {
        Ok(addrs) => assert_eq!(
            addrs, system_addrs,
            "resolve({got:?}, 0) (this machine's name) gave {addrs:?}; the system gives \
             {system_addrs:?}"
        ),
        Err(error) => panic!("resolve({got:?}, 0) (this machine's name) failed: {error}"),
    }
}

#[test]
fn reverse_lookup_of_127_0_0_1_is_a_name_that_leads_back_to_it() {
    // 127.0.0.1 has a name in every hosts file (localhost); Windows answers with the
    // machine's own name.
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let got =
        Watchdog::new(DEADLINE).run(move || wait_for(GIVE_UP, move || reverse_lookup(loopback)));
    let name = match got.map(|(result, _)| result) {
        None => panic!("reverse_lookup(127.0.0.1) was still waiting after {GIVE_UP:?}"),
        Some(Err(Panicked(message))) => panic!("reverse_lookup(127.0.0.1) panicked: {message}"),
        Some(Ok(Err(error))) => panic!("reverse_lookup(127.0.0.1) failed: {error}"),
        Some(Ok(Ok(name))) => name,
    };
    assert!(
        name.parse::<IpAddr>().is_err() && !name.is_empty(),
        "reverse_lookup(127.0.0.1) gave {name:?}, which is not a name. getnameinfo gives the \
         address's digits when it finds no name, unless asked for a name only (NI_NAMEREQD): \
         `dns_lookup::lookup_addr` asks for a name only."
    );
    let leads_back = (name.as_str(), 0)
        .to_socket_addrs()
        .map(|mut addrs| addrs.any(|addr| addr.ip().is_loopback()))
        .unwrap_or(false);
    let own_name = hostname().is_ok_and(|own| own.eq_ignore_ascii_case(&name));
    assert!(
        leads_back || own_name,
        "reverse_lookup(127.0.0.1) gave {name:?}, a name that does not resolve to a loopback \
         address, and is not this machine's name"
    );
}

#[test]
fn fqdn_keeps_a_name_that_has_no_name_with_a_dot() {
    // The rule of Python's getfqdn: the first name *with a dot* among the names of the
    // addresses `name` resolves to; else `name` itself, unchanged. A name that does not
    // resolve is returned as it is, not an error.
    for name in ["127.0.0.1", "localhost", NO_SUCH_NAME] {
        let expected = expected_fqdn(name);
        let got = Watchdog::new(DEADLINE).run(move || wait_for(GIVE_UP, move || fqdn(name)));
        match got.map(|(result, _)| result) {
            None => panic!("fqdn({name:?}) was still waiting after {GIVE_UP:?}"),
            Some(Err(Panicked(message))) => panic!("fqdn({name:?}) panicked: {message}"),
            Some(Ok(Ok(got))) if got == expected => {}
            Some(Ok(got)) => panic!(
                "fqdn({name:?}) gave {got:?}; expected {expected:?}. {}",
                explain_fqdn(name, &got, &expected)
            ),
        }
    }
}

#[test]
fn fqdn_of_an_empty_name_is_the_fqdn_of_this_machine() {
    let own = hostname().expect("this machine's name");
    let expected = expected_fqdn(&own);
    let got = Watchdog::new(DEADLINE).run(|| wait_for(GIVE_UP, || fqdn("")));
    match got.map(|(result, _)| result) {
        None => panic!("fqdn(\"\") was still waiting after {GIVE_UP:?}"),
        Some(Err(Panicked(message))) => panic!("fqdn(\"\") panicked: {message}"),
        Some(Ok(Ok(got))) if got == expected => {}
        Some(Ok(got)) => panic!(
            "fqdn(\"\") gave {got:?}; expected {expected:?}, the fqdn of this machine's name \
             {own:?}. An empty name means this machine: start from `hostname()`. {}",
            explain_fqdn(&own, &got, &expected)
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// the ex06-lookup program
// ---------------------------------------------------------------------------------------------

#[test]
fn lookup_program_prints_one_line_per_address() {
    let cases = [
        (
            "127.0.0.1",
            "5151",
            "AF_INET   SOCK_STREAM  IPPROTO_TCP  127.0.0.1:5151\n",
        ),
        (
            "[::1]",
            "80",
            "AF_INET6  SOCK_STREAM  IPPROTO_TCP  [::1]:80\n",
        ),
    ];
    for (host, port, expected) in cases {
        let run = run_lookup(&[host, port]);
        assert!(
            run.code == Some(0) && run.stdout == expected,
            "ex06-lookup {host} {port}: expected the line {expected:?} and exit 0.\n{run}"
        );
    }
    // localhost: one line per address the system gives.
    let count = ("localhost", 80)
        .to_socket_addrs()
        .map_or(0, Iterator::count);
    let run = run_lookup(&["localhost"]);
    assert!(
        run.code == Some(0) && run.stdout.lines().count() == count,
        "ex06-lookup localhost: expected {count} lines (the system gives {count} addresses \
         for localhost) and exit 0.\n{run}"
    );
}

#[test]
fn lookup_program_reports_a_name_that_does_not_resolve_in_one_line_and_exits_1() {
    let run = run_lookup(&[NO_SUCH_NAME]);
    assert!(
        run.code == Some(1)
            && run.stdout.is_empty()
            && run.stderr.lines().count() == 1
            && run.stderr.contains(NO_SUCH_NAME),
        "ex06-lookup {NO_SUCH_NAME}: expected nothing on stdout, one line on stderr that names \
         the host, and exit 1.\n{run}"
    );
}

#[test]
fn lookup_program_exits_2_with_its_usage_for_bad_arguments() {
    // First a good run: this test is about the program's arguments, once the program works.
    let good = run_lookup(&["127.0.0.1", "7"]);
    assert!(
        good.code == Some(0),
        "ex06-lookup 127.0.0.1 7 failed.\n{good}"
    );
    for args in [
        &[][..],
        &["localhost", "99999"],
        &["localhost", "80", "extra"],
    ] {
        let run = run_lookup(args);
        assert!(
            run.code == Some(2) && run.stdout.is_empty() && run.stderr.contains("usage"),
            "ex06-lookup {}: expected its usage on stderr and exit 2.\n{run}",
            args.join(" ")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A call of yours that panicked, with its message.
#[derive(Debug)]
struct Panicked(String);

/// The name of the threads `wait_for` runs your code on.
const YOUR_CODE: &str = "your code";

thread_local! {
    /// Where the last panic of this thread happened (set by the panic hook).
    static PANICKED_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A panic of your code inside `wait_for` is reported by the test that called it, in a
/// teacher's words and with where it happened; so the system's own report of it is kept back
/// (else a grader reads that one first). A `todo!()` is reported as usual.
fn report_panics_of_your_code_in_the_tests_words() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let yours = thread::current().name() == Some(YOUR_CODE);
            let todo = panic_text(info.payload()).starts_with("not yet implemented");
            if yours && !todo {
                let at = info.location().map(|location| location.to_string());
                PANICKED_AT.with(|cell| *cell.borrow_mut() = at);
            } else {
                default(info);
            }
        }));
    });
}

/// The message of a panic (`panic!` gives a `&str` or a `String`).
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| text.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Runs `call` on its own thread and waits `limit` at most: `None` if it is still running,
/// else what it returned (or its panic) and how long it took.
fn wait_for<T: Send + 'static>(
    limit: Duration,
    call: impl FnOnce() -> T + Send + 'static,
) -> Option<(Result<T, Panicked>, Duration)> {
    report_panics_of_your_code_in_the_tests_words();
    let (done, result) = mpsc::channel();
    let worker = thread::Builder::new()
        .name(YOUR_CODE.into())
        .spawn(move || {
            let started = Instant::now();
            let value = match panic::catch_unwind(AssertUnwindSafe(call)) {
                Ok(value) => Ok(value),
                Err(payload) => {
                    let message = panic_text(payload.as_ref());
                    // `todo!()` is not a mistake to explain: let it fail the test as it is.
                    if message.starts_with("not yet implemented") {
                        panic::resume_unwind(payload);
                    }
                    let at = PANICKED_AT.with(|cell| cell.borrow_mut().take());
                    let at = at.map(|at| format!(" (at {at})")).unwrap_or_default();
                    Err(Panicked(format!("\"{message}\"{at}")))
                }
            };
            let _ = done.send((value, started.elapsed()));
        })
        .expect("starting a thread for your code");
    match result.recv_timeout(limit) {
        Ok(outcome) => Some(outcome),
        Err(RecvTimeoutError::Timeout) => None,
        Err(RecvTimeoutError::Disconnected) => match worker.join() {
            Err(panic) => panic::resume_unwind(panic),
            Ok(()) => unreachable!("the call's thread ended without sending its result"),
        },
    }
}

/// An outcome of `wait_for`, for a message.
fn show_outcome<T: std::fmt::Debug>(outcome: &Result<std::io::Result<T>, Panicked>) -> String {
    match outcome {
        Ok(Ok(value)) => format!("Ok({value:?})"),
        Ok(Err(error)) => format!("Err({error}) of kind {:?}", error.kind()),
        Err(Panicked(message)) => format!("a panic: {message}"),
    }
}

/// Why the addresses `got` differ from `expected`, when it is a known mistake.
fn explain_addresses(expected: &[SocketAddr], got: &[SocketAddr]) -> String {
    let ports: Vec<u16> = got.iter().map(|addr| addr.port()).collect();
    let wanted = expected.first().map_or(0, |addr| addr.port());
    let mut sorted = expected.to_vec();
    sorted.sort();
    if !got.is_empty() && ports.iter().all(|&port| port != wanted) {
        format!(
            " The port is {ports:?}, not {wanted}: resolve `(host, port)` with the port you \
             were given."
        )
    } else if got.len() == 1 && expected.len() > 1 && got[0] == expected[0] {
        " Only the first address: collect them all (`.collect()`, not `.next()`).".to_string()
    } else if got == sorted && got != expected {
        " The addresses are sorted: keep the system's order, it puts the one to try first \
         at the front."
            .to_string()
    } else if got.len() < expected.len() {
        " Some are missing: keep every address the system gives, also repeated ones.".to_string()
    } else {
        String::new()
    }
}

/// Names which field of a getaddrinfo row is wrong.
fn explain_row(expected: &AddrInfo, got: &AddrInfo) -> String {
    let mut why = String::new();
    if got.family != expected.family {
        why.push_str(&format!(
            " The family is {:?}, not {:?}: it follows the address (`Domain::for_address`).",
            got.family, expected.family
        ));
    }
    if got.socket_type != expected.socket_type || got.protocol != expected.protocol {
        why.push_str(" TCP is a stream: SOCK_STREAM with IPPROTO_TCP.");
    }
    if got.addr != expected.addr {
        why.push_str(" The address must be the one given, unchanged.");
    }
    why
}

/// Is there an IPv6 loopback address on this machine?
fn ipv6_loopback() -> bool {
    TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
}

/// The test's own dual-stack listener on port 0, where the machine can have one.
fn dual_stack_listener() -> Option<TcpListener> {
    let socket = socket2::Socket::new(Domain::IPV6, Type::STREAM, None).ok()?;
    socket.set_only_v6(false).ok()?;
    socket
        .bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)).into())
        .ok()?;
    socket.listen(8).ok()?;
    Some(socket.into())
}

/// `create_server(port, dual_stack)`; `None`, with a note, where the machine has no IPv6 and
/// create_server said so.
fn server_or_note(port: u16, dual_stack: bool) -> Option<TcpListener> {
    let call = format!("create_server({port}, {dual_stack})");
    match Watchdog::new(DEADLINE).run(move || create_server(port, dual_stack)) {
        Ok(listener) => Some(listener),
        Err(error) if !ipv6_loopback() => {
            assert_says_no_ipv6(&error, &call);
            println!("note: no IPv6 here; {call} said so: {error}");
            None
        }
        Err(error) => panic!("{call} failed: {error}"),
    }
}

/// Fails unless an error from create_server on a machine without IPv6 says so.
#[track_caller]
fn assert_says_no_ipv6(error: &std::io::Error, call: &str) {
    assert!(
        error.to_string().contains("IPv6"),
        "{call} failed on a machine without IPv6 with \"{error}\": say that IPv6 is not \
         available, so the user knows what to change"
    );
}

/// Connects to `addr` and checks that `listener` accepts the connection.
fn reach(listener: &TcpListener, addr: SocketAddr) -> std::io::Result<()> {
    let client = TcpStream::connect_timeout(&addr, CONNECT)?;
    let (accepted, _) = listener.accept()?;
    if accepted.peer_addr()?.port() != client.local_addr()?.port() {
        return Err(std::io::Error::other("another connection was accepted"));
    }
    Ok(())
}

/// Why a client at `ip` did not reach a server made with `dual_stack`.
fn explain_unreached(ip: IpAddr, dual_stack: bool) -> String {
    match (ip, dual_stack) {
        (IpAddr::V4(_), true) => "An IPv6 socket hears IPv4 clients only with IPV6_V6ONLY off: \
             `set_only_v6(false)` when dual_stack is true (check that the bool is not the \
             wrong way round), before `bind`. And a socket made with socket2 needs `listen` \
             after `bind`: until then it refuses every connection."
            .to_string(),
        (IpAddr::V6(_), _) => "Listen on [::] (`Ipv6Addr::UNSPECIFIED`) with an IPv6 socket: \
             an IPv4 socket (0.0.0.0) never hears IPv6 clients. And a socket made with socket2 \
             needs `listen` after `bind`: until then it refuses every connection."
            .to_string(),
        (IpAddr::V4(_), false) => String::new(),
    }
}

/// What the `hostname` program prints, where there is one.
fn system_hostname() -> Option<String> {
    let output = assert_cmd::Command::new("hostname")
        .timeout(Duration::from_secs(5))
        .output()
        .ok()?;
    let name = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (output.status.success() && !name.is_empty()).then_some(name)
}

/// The fqdn of `name` by the rule, worked out with the system's own calls.
fn expected_fqdn(name: &str) -> String {
    let Ok(addrs) = (name, 0).to_socket_addrs() else {
        return name.to_string();
    };
    addrs
        .filter_map(|addr| dns_lookup::lookup_addr(&addr.ip()).ok())
        .find(|found| found.contains('.'))
        .unwrap_or_else(|| name.to_string())
}

/// Why `fqdn(name)` gave `got` instead of `expected`.
fn explain_fqdn(name: &str, got: &std::io::Result<String>, expected: &str) -> String {
    match got {
        Err(error) => format!(
            "It failed ({error}): a name that does not resolve, or whose addresses have no \
             name, has no better name; return it unchanged, not an error."
        ),
        Ok(got) if got.is_empty() => "An empty name means this machine: use `hostname()`.".into(),
        Ok(got) if !got.contains('.') && got != name => format!(
            "{got:?} has no dot: it is a name of {name:?}'s address, but not a fully \
             qualified one. Take the first name *with a dot*; with none, return the name \
             you were given."
        ),
        Ok(_) => format!(
            "Take the first name with a dot ({expected:?}) among the names of its addresses."
        ),
    }
}

/// One run of the ex06-lookup program.
struct LookupRun {
    args: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for LookupRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ex06-lookup {} exited with {:?}.\nstdout:\n{}\nstderr:\n{}",
            self.args,
            self.code,
            lab_harness::cap_text(&self.stdout, 1200),
            lab_harness::cap_text(&self.stderr, 1200)
        )
    }
}

/// The program: `ex06-lookup` from the exercise, or the same source built as
/// `ex06-solution-lookup` by the reference solution (binary names are unique in a workspace).
fn lookup_program() -> &'static str {
    option_env!("CARGO_BIN_EXE_ex06-lookup")
        .or(option_env!("CARGO_BIN_EXE_ex06-solution-lookup"))
        .expect("this test belongs to a package with the ex06-lookup program")
}

/// Runs the program with `args`, for 10 s at most.
fn run_lookup(args: &[&str]) -> LookupRun {
    let output = assert_cmd::Command::new(lookup_program())
        .args(args)
        .timeout(Duration::from_secs(10))
        .output()
        .expect("running ex06-lookup");
    LookupRun {
        args: args.join(" "),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Where a host name comes from, and where it does not.
const HOSTNAME_HINT: &str = "Ask the system (gethostname: `dns_lookup::get_hostname()`): the \
    HOSTNAME variable belongs to a shell and most programs do not have it, and a file such as \
    /etc/hostname is not on every system, and ends with a newline.";

/// Runs `connect_any(&addrs, TIMEOUT)` (described by `given`) where every address fails: its
/// error and how long it took. Still waiting, a panic or a connection fails the test.
fn connect_any_failing(addrs: Vec<SocketAddr>, given: &str) -> (std::io::Error, Duration) {
    let Some((result, elapsed)) = wait_for(GIVE_UP, move || connect_any(&addrs, TIMEOUT)) else {
        panic!("{}", still_connecting(given));
    };
    match result {
        Err(Panicked(message)) => panic!("{given} panicked: {message}"),
        Ok(Ok(stream)) => panic!("{given} connected: {stream:?}"),
        Ok(Err(error)) => (error, elapsed),
    }
}

/// What a connect that stopped at the first address should do instead.
const ONLY_THE_FIRST: &str = "Try each address in turn and return an error only when every \
    one has failed: a `?` or a `return` inside the loop stops at the first failure, and \
    `addrs[0]` or `.first()` tries only one.";

/// Explains a connect_any that was still waiting after `GIVE_UP`: it looks again with a
/// timeout of 1 ms where nobody answers, to tell "no timeout at all" from "a wrong one".
fn still_connecting(given: &str) -> String {
    let silent = FullBacklog::new().expect("a listener whose queue is full");
    let again = wait_for(Duration::from_secs(3), move || {
        let result = connect_any(&[silent.addr()], Duration::from_millis(1));
        drop(silent);
        result
    });
    let why = match again {
        None => "Even with a timeout of 1 ms it did not return within 3 s: the connect has no \
            timeout at all. `TcpStream::connect` waits about two minutes where nobody answers: \
            use `TcpStream::connect_timeout(&addr, timeout_each)` for each address."
            .to_string(),
        Some((_, took)) => format!(
            "With a timeout of 1 ms where nobody answers it gave up after {took:.1?}: is \
             every connect given `timeout_each`, unchanged?"
        ),
    };
    format!("{given} was still waiting after {GIVE_UP:?}. {why}")
}
