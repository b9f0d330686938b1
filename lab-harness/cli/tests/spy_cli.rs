//! `cargo lab spy`, as a real process between real clients (std, Python, nc) and real
//! servers (`cargo lab serve`, a std server): bytes arrive intact both ways, half-closes and
//! resets are passed on, the timeline printed is the failures' one, memory stays flat under
//! 100 MB, and bad arguments get one line and exit status 2.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;

mod serve_support;
use serve_support::peer_available;

/// Every wait of these tests ends by then.
const DEADLINE: Duration = Duration::from_secs(30);

/// A `lab` process whose stdout lines arrive on a channel.
struct Lab {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Lab {
    fn start(args: &[&str]) -> Lab {
        let mut child = Command::new(cargo_bin("lab"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("running lab");
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Lab {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first line that satisfies `wanted` (every line read is kept in `seen`).
    fn wait_for(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + DEADLINE;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line with {what} within {DEADLINE:?}; printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// The address in the first line (`listening on ADDR …` or `spying on ADDR -> …`).
    fn address(&mut self) -> SocketAddr {
        let line = self.wait_for("an address", |l| l.contains(" on "));
        let after = line.split(" on ").nth(1).unwrap();
        after.split_whitespace().next().unwrap().parse().unwrap()
    }

    /// Ends its input (the spy stops) and waits for it to exit.
    fn stop(&mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        let until = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
                    self.seen.push(line);
                }
                return status;
            }
            assert!(Instant::now() < until, "lab did not stop");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The lines of connection `number` seen so far.
    fn connection(&self, number: usize) -> Vec<&str> {
        let tag = format!("#{number} ");
        self.seen
            .iter()
            .filter_map(|l| l.strip_prefix(&tag))
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spy_to(server: SocketAddr) -> (Lab, SocketAddr) {
    let mut spy = Lab::start(&[
        "spy",
        "--listen",
        "127.0.0.1:0",
        "--to",
        &server.to_string(),
    ]);
    let addr = spy.address();
    (spy, addr)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream
}

#[test]
fn the_spy_relays_a_conversation_with_the_reference_server_and_prints_its_timeline() {
    let mut server = Lab::start(&["serve", "--port", "0", "--quiet"]);
    let (mut spy, addr) = spy_to(server.address());
    assert_ne!(addr.port(), 0, "the real port is printed");

    let mut client = connect(addr);
    client.write_all(b"hello\n").unwrap();
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "hello\r\n", "the server's answer comes back intact");
    client.write_all(b"bye\r\n").unwrap();
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "bye\r\n");
    client.shutdown(Shutdown::Write).unwrap();
    assert_eq!(
        reader.read(&mut [0; 8]).unwrap(),
        0,
        "the server's FIN is relayed"
    );

    spy.wait_for("the end of connection 1", |l| {
        l.starts_with("#1 ") && l.contains("over:")
    });
    let lines = spy.connection(1);
    let expected = [
        "connected",
        "client -> server  6 bytes \"hello\\n\" (ends with \\n, no \\r)",
        "server -> client  7 bytes \"hello\\r\\n\"",
        "client -> server  5 bytes \"bye\\r\\n\"",
        "server -> client  5 bytes \"bye\\r\\n\"",
        "client closes its sending side (FIN): the server reads end-of-file",
        "server closes its sending side (FIN): the client reads end-of-file",
        "over: the client closed its sending side first; 11 bytes client -> server, 12 bytes \
         server -> client",
    ];
    assert_eq!(lines.len(), expected.len(), "{lines:#?}");
    for (line, expected) in lines.iter().zip(expected) {
        assert!(line.contains(expected), "{line:?} should show {expected:?}");
        assert!(line.trim_start().contains(" ms  "), "a time on {line:?}");
    }
    assert!(spy.stop().success());
    assert_eq!(
        spy.seen.last().map(String::as_str),
        Some("spy stopped: relayed 1 connection")
    );
}

#[test]
fn a_half_close_is_passed_on_and_the_server_answers_after_it() {
    // A server that reads until end-of-file, then answers with what it counted.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = listener.local_addr().unwrap();
    let counter = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut got = Vec::new();
        stream.read_to_end(&mut got).unwrap();
        stream
            .write_all(format!("{} bytes\n", got.len()).as_bytes())
            .unwrap();
        got
    });
    let (mut spy, addr) = spy_to(server);
    // Python's socket module, as a student would write it.
    let python = Command::new("python3")
        .arg("-c")
        .arg(
            "import socket, sys\n\
             s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=30)\n\
             s.sendall(b'one\\ntwo\\n')\n\
             s.shutdown(socket.SHUT_WR)\n\
             print(s.makefile('rb').read().decode(), end='')\n",
        )
        .arg(addr.port().to_string())
        .output()
        .expect("python3");
    assert!(python.status.success(), "{python:?}");
    assert_eq!(String::from_utf8_lossy(&python.stdout), "8 bytes\n");
    assert_eq!(counter.join().unwrap(), b"one\ntwo\n");

    spy.wait_for("the end", |l| l.contains("over:"));
    let lines = spy.connection(1).join("\n");
    let fin = lines.find("client closes its sending side (FIN)").unwrap();
    let answer = lines
        .find("server -> client  8 bytes \"8 bytes\\n\"")
        .unwrap();
    assert!(fin < answer, "{lines}");
    assert!(lines.contains("over: the client closed its sending side first"));
}

#[test]
fn a_reset_is_passed_on_with_the_side_that_sent_it() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = listener.local_addr().unwrap();
    let reader = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut got = Vec::new();
        let end = stream.read_to_end(&mut got);
        (got, end.map_err(|e| e.kind()))
    });
    let (mut spy, addr) = spy_to(server);
    let client = connect(addr);
    (&client).write_all(b"abc").unwrap();
    spy.wait_for("the data", |l| l.contains("3 bytes \"abc\""));
    // A zero linger: closing sends a reset, not a FIN.
    socket2::SockRef::from(&client)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(client);
    let (got, end) = reader.join().unwrap();
    assert_eq!(got, b"abc");
    assert_eq!(
        end,
        Err(std::io::ErrorKind::ConnectionReset),
        "the server sees the reset"
    );
    spy.wait_for("the end", |l| l.contains("over:"));
    let lines = spy.connection(1).join("\n");
    assert!(
        lines.contains("client resets the connection (RST)"),
        "{lines}"
    );
    assert!(lines.contains("over: the client reset the connection first"));
}

#[test]
fn many_connections_at_once_each_get_their_own_answers_and_lines() {
    let mut server = Lab::start(&["serve", "--port", "0", "--quiet"]);
    let (mut spy, addr) = spy_to(server.address());
    let clients: Vec<_> = (0..20)
        .map(|i| {
            thread::spawn(move || {
                let client = connect(addr);
                let mut reader = BufReader::new(client.try_clone().unwrap());
                for round in 0..5 {
                    let text = format!("client {i} round {round}\n");
                    (&client).write_all(text.as_bytes()).unwrap();
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    assert_eq!(line, text.replace('\n', "\r\n"));
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    // Every connection ends with its own last line.
    let mut over = 0;
    while over < 20 {
        spy.wait_for("20 connections over", |l| l.contains("over:"));
        over += 1;
    }
    for number in 1..=20 {
        let lines = spy.connection(number);
        assert!(lines[0].contains("connected"), "{lines:?}");
        let last = lines.last().unwrap();
        assert!(
            last.contains("over: the client closed its sending side first"),
            "{lines:?}"
        );
        let rounds = lines
            .iter()
            .filter(|l| l.contains("ms  server -> client"))
            .count();
        assert!((1..=5).contains(&rounds), "{lines:?}");
    }
    spy.stop();
    let _ = server.child.kill();
}

#[cfg(target_os = "linux")]
#[test]
fn a_hundred_megabytes_through_the_spy_arrive_intact_in_flat_memory() {
    const TOTAL: usize = 100 << 20;
    let mut server = Lab::start(&["serve", "--port", "0", "--mode", "raw", "--quiet"]);
    let (mut spy, addr) = spy_to(server.address());
    let before = peak_memory_kib(spy.child.id());

    let client = connect(addr);
    let writer = {
        let client = client.try_clone().unwrap();
        thread::spawn(move || {
            let mut client = client;
            let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
            let mut sent = 0;
            while sent < TOTAL {
                client.write_all(&chunk).unwrap();
                sent += chunk.len();
            }
            client.shutdown(Shutdown::Write).unwrap();
        })
    };
    // Read it all back, checking every byte against the pattern.
    let mut reader = client;
    let mut buffer = vec![0u8; 64 * 1024];
    let mut got = 0usize;
    loop {
        let n = reader.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        for (offset, byte) in buffer[..n].iter().enumerate() {
            let at = (got + offset) % (64 * 1024);
            assert_eq!(*byte, (at % 251) as u8, "byte {} differs", got + offset);
        }
        got += n;
    }
    writer.join().unwrap();
    assert_eq!(got, TOTAL, "everything came back");

    spy.wait_for("the end", |l| l.contains("over:"));
    let after = peak_memory_kib(spy.child.id());
    assert!(
        after < before + 16 * 1024,
        "the spy's peak memory grew from {before} KiB to {after} KiB for 100 MB"
    );
    let last = spy.connection(1).last().unwrap().to_string();
    assert!(
        last.contains(&format!(
            "{TOTAL} bytes client -> server, {TOTAL} bytes server -> client"
        )),
        "{last}"
    );
    let _ = server.child.kill();
}

/// VmHWM: the most memory the process has held at once.
#[cfg(target_os = "linux")]
fn peak_memory_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[test]
fn stopping_prints_the_connections_still_open() {
    let mut server = Lab::start(&["serve", "--port", "0", "--quiet"]);
    let (mut spy, addr) = spy_to(server.address());
    let client = connect(addr);
    (&client).write_all(b"half a line").unwrap();
    spy.wait_for("the data", |l| l.contains("11 bytes \"half a line\""));
    assert!(spy.stop().success(), "the end of its input stops the spy");
    let lines = spy.connection(1);
    assert!(lines.last().unwrap().contains("still open"), "{lines:?}");
    let _ = server.child.kill();
}

#[test]
fn a_server_nobody_listens_on_is_one_line_and_the_client_is_closed() {
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let (mut spy, addr) = spy_to(closed);
    // nc, as a student would try it; where nc is missing (it is required on CI), a plain
    // connection shows the same refusal.
    if peer_available("nc", true) {
        let nc = Command::new("nc")
            .args(["-w", "5", "127.0.0.1", &addr.port().to_string()])
            .stdin(Stdio::null())
            .output()
            .expect("nc");
        assert!(nc.stdout.is_empty(), "nc got {:?}", nc.stdout);
    } else {
        let mut client = TcpStream::connect(addr).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut got = Vec::new();
        // The spy closes the client it cannot serve: end of stream (or a reset), not
        // the 5 s timeout.
        if let Err(error) = client.read_to_end(&mut got) {
            assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}");
        }
        assert!(got.is_empty(), "the client got {got:?}");
    }
    let line = spy.wait_for("the refusal", |l| l.starts_with("#1 "));
    assert!(
        line.contains("cannot be reached (connection refused)"),
        "{line}"
    );
}

#[test]
fn bad_arguments_get_one_line_and_exit_status_2() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    for (args, words) in [
        (vec!["spy", "--listen", "127.0.0.1:0"], "--to"),
        (
            vec!["spy", "--listen", "nowhere", "--to", "127.0.0.1:5151"],
            "needs a port",
        ),
        (
            vec!["spy", "--listen", "127.0.0.1:0", "--to", "127.0.0.1:99999"],
            "is not HOST:PORT",
        ),
        (
            vec!["spy", "--listen", &taken, "--to", "127.0.0.1:5151"],
            "cannot listen on",
        ),
    ] {
        let output = Command::new(cargo_bin("lab"))
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let error = String::from_utf8_lossy(&output.stderr);
        assert_eq!(error.lines().count(), 1, "{args:?}: {error}");
        assert!(error.contains(words), "{args:?}: {error}");
    }
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_the_spy_cleanly() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (mut spy, _) = spy_to(listener.local_addr().unwrap());
    let sent = Command::new("kill")
        .args(["-INT", &spy.child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let until = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = spy.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < until, "Ctrl-C did not stop the spy");
        thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    spy.wait_for("the last line", |l| {
        l == "spy stopped: relayed 0 connections"
    });
}
