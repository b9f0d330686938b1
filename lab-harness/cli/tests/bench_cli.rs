//! `cargo lab bench` as a real process: the report against a good server, and each kind of
//! failure named against a server that fails that way. Then the load generator itself
//! (`lab_cli::bench`): its open loop keeps its schedule and charges a server's stall to every
//! message it held up. These checks are deterministic (bounds that a slower machine only
//! makes easier to meet); how fast a server is belongs to `scripts/bench-compare.sh`, which
//! also checks the bench's figures against an independent client.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

use assert_cmd::Command;
use lab_cli::bench::{self, Options};
use lab_harness::{Behaviour, Config, EchoServer, Mode, ScriptedServer, Step, bind_loopback};
use predicates::prelude::*;

const DEADLINE: Duration = Duration::from_secs(30);

fn bench(addr: &str, extra: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("lab")
        .unwrap()
        .args(["bench", "--addr", addr])
        .args(extra)
        .timeout(DEADLINE)
        .assert()
}

#[test]
fn bench_reports_rate_latency_and_no_errors_against_the_reference_server() {
    let server = EchoServer::line();
    let addr = server.addr().to_string();
    bench(
        &addr,
        &["--connections", "4", "--messages", "50", "--size", "100"],
    )
    .code(0)
    .stdout(predicate::str::contains(format!(
        "bench {addr} (line mode): 4 connections x 50 messages of 100 bytes"
    )))
    .stdout(predicate::str::contains("connected  4 of 4"))
    .stdout(predicate::str::contains("load       closed loop"))
    .stdout(predicate::str::contains("requests   200 of 200 answered"))
    .stdout(predicate::str::contains("req/s"))
    .stdout(
        predicate::str::is_match(
            r"latency    p50 \d+\.\d\d ms, p99 \d+\.\d\d ms, max \d+\.\d\d ms",
        )
        .unwrap(),
    )
    .stdout(predicate::str::contains("errors     none"))
    .stderr(predicate::str::contains("done: 200/200 answered, 0 errors"));
    assert_eq!(server.recording().totals().bytes_in, 200 * 100);
}

#[test]
fn bench_checks_raw_mode_byte_for_byte() {
    let server = EchoServer::raw();
    bench(
        &server.addr().to_string(),
        &[
            "--mode",
            "raw",
            "--connections",
            "3",
            "--messages",
            "20",
            "--size",
            "3000",
        ],
    )
    .code(0)
    .stdout(predicate::str::contains("(raw mode)"))
    .stdout(predicate::str::contains("errors     none"));
}

#[test]
fn bench_shows_a_progress_line_while_it_runs() {
    let server = EchoServer::on_loopback(
        Config::mode(Mode::Line).behaviour(Behaviour::Delay(Duration::from_millis(100))),
    );
    bench(
        &server.addr().to_string(),
        &["--connections", "2", "--messages", "5"],
    )
    .code(0)
    .stderr(
        predicate::str::is_match(r"progress: 2/2 connected, \d+/10 answered, 0 errors").unwrap(),
    );
}

#[test]
fn bench_names_refused_connections() {
    let port = {
        let listener = bind_loopback().unwrap();
        listener.local_addr().unwrap().port()
    };
    bench(
        &format!("127.0.0.1:{port}"),
        &["--connections", "3", "--messages", "2"],
    )
    .code(1)
    .stdout(predicate::str::contains("connected  0 of 3"))
    .stdout(predicate::str::contains("errors     3: refused 3"))
    .stdout(predicate::str::contains(
        "is the server running on that port?",
    ));
}

#[test]
fn bench_times_out_against_a_server_that_never_answers() {
    let server = ScriptedServer::silent();
    bench(
        &server.addr().to_string(),
        &["--connections", "2", "--messages", "3", "--timeout", "0.3"],
    )
    .code(1)
    .stdout(predicate::str::contains("errors     2: timed out 2"))
    .stdout(predicate::str::contains("requests   0 of 6 answered"));
}

#[test]
fn bench_catches_a_wrong_echo_and_shows_it() {
    let server = ScriptedServer::start(vec![Step::ReadLine, Step::send("nope\n"), Step::Hold]);
    bench(
        &server.addr().to_string(),
        &["--connections", "1", "--messages", "3", "--size", "10"],
    )
    .code(1)
    .stdout(predicate::str::contains("mismatched echo 1"))
    .stdout(predicate::str::contains(r#"got back "nope\n""#));
}

#[test]
fn bench_reports_a_server_that_closes_before_answering() {
    let server = ScriptedServer::start(vec![Step::ReadLine, Step::Close]);
    bench(
        &server.addr().to_string(),
        &["--connections", "2", "--messages", "2"],
    )
    .code(1)
    .stdout(predicate::str::contains("closed early 2"));
}

#[test]
fn bench_reports_clients_turned_away_by_a_full_server() {
    let server = EchoServer::on_loopback(Config {
        max_connections: Some(1),
        ..Config::default()
    });
    // The one place is taken (and known to be) before the bench starts.
    let mut holder = TcpStream::connect(server.addr()).unwrap();
    holder.set_read_timeout(Some(DEADLINE)).unwrap();
    std::io::Write::write_all(&mut holder, b"mine\n").unwrap();
    let mut reply = [0u8; 6];
    std::io::Read::read_exact(&mut holder, &mut reply).unwrap();
    bench(
        &server.addr().to_string(),
        &["--connections", "2", "--messages", "2"],
    )
    .code(1)
    .stdout(predicate::str::contains("server full 2"))
    .stdout(predicate::str::contains(
        "server full: 1 connections, try again",
    ));
}

#[test]
fn bench_explains_an_address_without_a_port_in_one_line() {
    let assert = bench("127.0.0.1", &[])
        .code(1)
        .stderr(predicate::str::contains(
            "has no port: write HOST:PORT, e.g. 127.0.0.1:5151",
        ));
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn bench_rejects_nonsense_numbers() {
    for bad in [
        "--connections=0",
        "--size=1",
        "--timeout=-1",
        "--timeout=0",
        "--messages=many",
        "--rate=0",
        "--rate=fast",
        "--threads=0",
    ] {
        // Rejected before any connection; the address is a real, idle one all the same.
        let idle = lab_harness::bind_loopback().unwrap();
        bench(&idle.local_addr().unwrap().to_string(), &[bad])
            .code(2)
            .stderr(predicate::str::contains("invalid value"));
    }
}

#[test]
fn bench_with_a_rate_runs_open_loop_and_says_so() {
    let server = EchoServer::line();
    bench(
        &server.addr().to_string(),
        &[
            "--connections",
            "2",
            "--messages",
            "50",
            "--rate",
            "2000",
            "--threads",
            "2",
        ],
    )
    .code(0)
    .stdout(predicate::str::contains(
        "load       open loop at 2000 req/s: latency counts from when each message was due",
    ))
    .stdout(predicate::str::contains("requests   100 of 100 answered"))
    .stdout(predicate::str::contains("errors     none"));
}

#[test]
fn an_open_loop_run_keeps_its_schedule() {
    // 200 messages at 2,000 a second: the last one is due 99.5 ms after the start, so the run
    // cannot end sooner however fast the server (closed loop, this takes a few ms).
    let server = EchoServer::line();
    let options = Options {
        connections: 2,
        messages: 100,
        size: 32,
        rate: Some(2000.0),
        ..Options::new(server.addr())
    };
    let report = bench::run(&options, &mut |_| {}).expect("running the bench");
    assert_eq!(report.answered, 200, "{}", report.describe());
    assert!(
        report.elapsed >= Duration::from_micros(99_500),
        "finished in {:?}, before its last message was due\n{}",
        report.elapsed,
        report.describe()
    );
}

/// A line echo server for one client that stalls for `stall` before answering line 10,
/// 110, 210, … (a garbage-collection pause, a swapped-out page), answering at once otherwise.
fn stalling_server(stall: Duration) -> SocketAddr {
    let listener = bind_loopback().unwrap();
    let addr = listener.local_addr().unwrap();
    // Not joined: it ends with its client, and a client that never came only leaves a thread
    // blocked in accept until the test process exits.
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        for number in 0.. {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if number % 100 == 10 {
                thread::sleep(stall); // the stall under test, not a synchronisation
            }
            if writer.write_all(&line).is_err() {
                return;
            }
        }
    });
    addr
}

#[test]
fn open_loop_charges_a_stall_to_every_message_it_held_up() {
    // One connection, a message due every millisecond, 300 of them; the server stalls 100 ms
    // at messages 10, 110 and 210. Message 10 + j is due j ms after message 10 but cannot be
    // answered before message 10's echo, at least 100 ms after it was due: so at least 11
    // messages per stall wait 90 ms or more (11% of all) and at least 51 wait 50 ms or more
    // (51%). A bench that timed each message from when it left (closed loop, or "coordinated
    // omission") would show one slow message per stall, 1%, and a p90 of a fraction of a
    // millisecond. Slowness elsewhere can only make latencies longer, so the bounds hold on
    // any machine.
    let stall = Duration::from_millis(100);
    let options = Options {
        connections: 1,
        messages: 300,
        size: 64,
        rate: Some(1000.0),
        ..Options::new(stalling_server(stall))
    };
    let report = bench::run(&options, &mut |_| {}).expect("running the bench");
    assert_eq!(report.answered, 300, "{}", report.describe());
    let p75 = report.latency(0.75).unwrap();
    let p90 = report.latency(0.90).unwrap();
    assert!(
        p90 >= Duration::from_millis(90),
        "p90 {p90:?}\n{}",
        report.describe()
    );
    assert!(
        p75 >= Duration::from_millis(50),
        "p75 {p75:?}\n{}",
        report.describe()
    );
    assert!(
        report.max_latency().unwrap() >= stall,
        "{}",
        report.describe()
    );
}

#[test]
fn closed_loop_still_counts_the_stalled_message_itself() {
    let stall = Duration::from_millis(100);
    let options = Options {
        connections: 1,
        messages: 20,
        size: 64,
        ..Options::new(stalling_server(stall))
    };
    let report = bench::run(&options, &mut |_| {}).expect("running the bench");
    assert_eq!(report.answered, 20, "{}", report.describe());
    assert!(
        report.max_latency().unwrap() >= stall,
        "{}",
        report.describe()
    );
}
