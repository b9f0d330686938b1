//! Nothing a client sends can crash the reference server, pin it forever or grow its memory:
//! floods, idle and slowloris clients, resets, half-closes, invalid UTF-8, a full server,
//! a stop by signal. And the demo behaviours do what the handouts say.

mod serve_support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use lab_harness::{Behaviour, Config, EchoServer, Ending, Mode, show_bytes};
use serve_support::{DEADLINE, Serve, connect, echo, read_line, read_until_closed};

const MIB: u64 = 1024 * 1024;

#[test]
fn a_newline_free_flood_gets_an_error_line_and_memory_stays_flat() {
    let server = Serve::start(&["--quiet"]);
    let mut other = server.connect();
    assert_eq!(echo(&mut other, "warm up\n"), "warm up\r\n");
    let before = server.rss_kib();

    // Up to 1 GiB without a single \n, written on its own thread while this one reads.
    let mut flood = server.connect();
    let mut writer = flood.try_clone().unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent: u64 = 0;
        let error = loop {
            if sent >= 1024 * MIB {
                break None;
            }
            match writer.write_all(&chunk) {
                Ok(()) => sent += chunk.len() as u64,
                Err(error) => break Some(error.kind()),
            }
        };
        let _ = done_tx.send((sent, error));
    });
    // Others keep being served during the flood.
    assert_eq!(echo(&mut other, "still there?\n"), "still there?\r\n");
    let (reply, how) = read_until_closed(&mut flood, DEADLINE);
    let (sent, error) = done_rx
        .recv_timeout(DEADLINE)
        .expect("the flooding client was never stopped by the server");

    let reply = String::from_utf8_lossy(&reply);
    assert_eq!(
        reply, "error: line longer than 65536 bytes, closing\r\n",
        "the flooding client should get one error line, then the close ({how})"
    );
    assert!(
        sent < 1024 * MIB && error.is_some(),
        "the server should close the flood long before 1 GiB: {sent} bytes sent, then {error:?}"
    );
    assert_eq!(echo(&mut other, "after\n"), "after\r\n");
    match (before, server.rss_kib()) {
        (Some(before), Some(after)) => {
            eprintln!(
                "flood of {sent} bytes: resident memory {before} KiB before, {after} KiB after"
            );
            assert!(
                after <= before + 10 * 1024,
                "memory grew by {} KiB (from {before} to {after} KiB) during a {sent}-byte flood",
                after.saturating_sub(before)
            )
        }
        _ => eprintln!("memory not checked: resident memory is read from /proc (Linux only)"),
    }
}

#[test]
fn an_idle_client_is_told_why_and_closed_after_the_idle_timeout() {
    let server = EchoServer::on_loopback(Config {
        idle_timeout: Some(Duration::from_millis(300)),
        ..Config::default()
    });
    let mut client = connect(server.addr());
    assert_eq!(echo(&mut client, "hi\n"), "hi\r\n");
    let started = Instant::now();
    let (reply, how) = read_until_closed(&mut client, DEADLINE);
    let waited = started.elapsed();
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "error: idle for 300ms, closing\r\n",
        "{how}"
    );
    assert_eq!(how, "end-of-file");
    assert!(
        waited >= Duration::from_millis(250),
        "closed after only {waited:?}"
    );
    let record = server.recording().wait_for_end(DEADLINE).unwrap();
    assert_eq!(
        record.ended.map(|(_, ending)| ending),
        Some(Ending::ServerClosed("idle for 300ms".into()))
    );
}

/// A byte every 100 ms is never idle for 300 ms, but its line never ends: the per-line
/// deadline closes it.
#[test]
fn a_client_that_trickles_bytes_is_closed_at_the_line_deadline_not_kept_alive() {
    let server = EchoServer::on_loopback(Config {
        idle_timeout: Some(Duration::from_millis(300)),
        line_timeout: Some(Duration::from_millis(800)),
        ..Config::default()
    });
    let (reply, how, waited) = trickle(server.addr(), Duration::from_millis(100));
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "error: line not finished within 800ms, closing\r\n",
        "{how}"
    );
    assert!(
        waited >= Duration::from_millis(700) && waited < Duration::from_secs(5),
        "closed after {waited:?}"
    );
}

/// The slowloris, one byte a second, against the real CLI.
#[test]
fn serve_closes_a_one_byte_a_second_slowloris_at_its_line_timeout() {
    let server = Serve::start(&["--quiet", "--line-timeout", "2", "--idle-timeout", "5"]);
    let (reply, how, waited) = trickle(server.addr, Duration::from_secs(1));
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "error: line not finished within 2s, closing\r\n",
        "{how}"
    );
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(6),
        "closed after {waited:?}"
    );
}

/// Sends one byte (never a `\n`) every `pace` until the server closes; returns what came
/// back, how the connection ended, and when.
fn trickle(addr: std::net::SocketAddr, pace: Duration) -> (Vec<u8>, String, Duration) {
    let mut client = connect(addr);
    let mut writer = client.try_clone().unwrap();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let started = Instant::now();
    let trickler = thread::spawn(move || {
        for _ in 0..30 {
            if writer.write_all(b"z").is_err() {
                return;
            }
            if stop_rx.recv_timeout(pace) != Err(mpsc::RecvTimeoutError::Timeout) {
                return;
            }
        }
    });
    let (reply, how) = read_until_closed(&mut client, DEADLINE);
    let waited = started.elapsed();
    drop(stop_tx);
    trickler.join().unwrap();
    (reply, how, waited)
}

#[test]
fn a_reset_in_the_middle_of_a_line_leaves_the_server_answering_the_next_client() {
    let server = EchoServer::line();
    let mut rude = connect(server.addr());
    rude.write_all(b"half a li").unwrap();
    server
        .recording()
        .wait_until(DEADLINE, |all| all.iter().any(|c| c.bytes_in == 9));
    // A zero linger turns the close into a reset.
    socket2::SockRef::from(&rude)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(rude);
    let record = server.recording().wait_for_end(DEADLINE).unwrap();
    assert!(
        matches!(
            record.ended,
            Some((_, Ending::Failed(std::io::ErrorKind::ConnectionReset, _)))
        ),
        "{}",
        record.describe()
    );
    let mut next = connect(server.addr());
    assert_eq!(echo(&mut next, "next\n"), "next\r\n");
}

#[test]
fn a_half_close_gets_every_line_answered_then_end_of_file() {
    let server = EchoServer::line();
    let mut client = connect(server.addr());
    client.write_all(b"one\ntwo\r\nthree").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let (reply, how) = read_until_closed(&mut client, DEADLINE);
    assert_eq!(
        reply,
        b"one\r\ntwo\r\nthree\r\n",
        "got {}",
        show_bytes(&reply)
    );
    assert_eq!(how, "end-of-file");
    let record = server.recording().wait_for_end(DEADLINE).unwrap();
    assert_eq!(record.ended.map(|(_, e)| e), Some(Ending::ClientClosed));
}

#[test]
fn a_half_close_in_raw_mode_gets_all_the_bytes_back_then_end_of_file() {
    let server = EchoServer::raw();
    let data: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let mut client = connect(server.addr());
    let mut writer = client.try_clone().unwrap();
    let sent = data.clone();
    let sender = thread::spawn(move || {
        writer.write_all(&sent).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let (reply, how) = read_until_closed(&mut client, DEADLINE);
    sender.join().unwrap();
    assert!(
        reply == data,
        "got {} of {} bytes back ({how})",
        reply.len(),
        data.len()
    );
    assert_eq!(how, "end-of-file");
}

#[test]
fn invalid_utf8_in_line_mode_is_echoed_byte_for_byte() {
    let server = EchoServer::line();
    let mut client = connect(server.addr());
    client.write_all(b"\xff\xfe caf\xc3\n\x00\x80\r\n").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let (reply, _) = read_until_closed(&mut client, DEADLINE);
    assert_eq!(
        reply,
        b"\xff\xfe caf\xc3\r\n\x00\x80\r\n",
        "got {}",
        show_bytes(&reply)
    );
    let mut next = connect(server.addr());
    assert_eq!(echo(&mut next, "fine\n"), "fine\r\n");
}

#[test]
fn past_the_connection_cap_a_client_gets_one_polite_line_and_the_others_go_on() {
    let server = EchoServer::on_loopback(Config {
        max_connections: Some(2),
        ..Config::default()
    });
    let mut first = connect(server.addr());
    let mut second = connect(server.addr());
    assert_eq!(echo(&mut first, "1\n"), "1\r\n");
    assert_eq!(echo(&mut second, "2\n"), "2\r\n");

    let mut third = connect(server.addr());
    let (reply, how) = read_until_closed(&mut third, DEADLINE);
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "server full: 2 connections, try again\r\n",
        "{how}"
    );
    assert_eq!(server.turned_away(), 1);
    assert_eq!(echo(&mut first, "still 1\n"), "still 1\r\n");
    assert_eq!(echo(&mut second, "still 2\n"), "still 2\r\n");

    // Once a client leaves, there is room again.
    drop(first);
    assert!(
        server
            .recording()
            .wait_until(DEADLINE, |all| all.iter().any(|c| c.ended.is_some())),
        "{}",
        server.recording().describe()
    );
    let mut fourth = connect(server.addr());
    assert_eq!(echo(&mut fourth, "4\n"), "4\r\n");
    assert_eq!(server.recording().totals().connections, 3);
}

#[test]
fn serve_turns_clients_away_past_max_connections() {
    let server = Serve::start(&["--max-connections", "1"]);
    let mut first = server.connect();
    assert_eq!(echo(&mut first, "in\n"), "in\r\n");
    let mut second = server.connect();
    assert_eq!(
        read_line(&mut second),
        "server full: 1 connections, try again\r\n"
    );
    assert_eq!(echo(&mut first, "still in\n"), "still in\r\n");
    assert!(
        server.wait_for_log("turned away: server full", DEADLINE),
        "{}",
        server.log()
    );
}

#[cfg(unix)]
#[test]
fn sigterm_stops_accepting_closes_every_client_and_prints_a_summary() {
    let mut server = Serve::start(&[]);
    let mut talker = server.connect();
    assert_eq!(echo(&mut talker, "hi\n"), "hi\r\n");
    let mut idle = server.connect();
    let mut mid_line = server.connect();
    mid_line.write_all(b"abc").unwrap();
    // All three are accepted before the signal.
    assert!(server.wait_for_log("#3 ", DEADLINE), "{}", server.log());

    server.terminate();
    for (name, client) in [("idle", &mut idle), ("mid-line", &mut mid_line)] {
        let (data, how) = read_until_closed(client, DEADLINE);
        assert!(
            how == "end-of-file" || how == "ConnectionReset",
            "the {name} client should be closed by the stop, got {how} after {}",
            show_bytes(&data)
        );
    }
    let status = server
        .wait_exit(DEADLINE)
        .expect("`lab serve` did not exit after SIGTERM");
    assert!(status.success(), "exit status {status}");
    let log = server.log();
    let summary = log
        .lines()
        .find(|line| line.starts_with("stopped: "))
        .unwrap_or_else(|| panic!("no summary line:\n{log}"));
    assert!(
        summary.starts_with("stopped: served 3 connections, ") && summary.contains(" bytes in, "),
        "{summary}"
    );
    assert!(
        TcpStream::connect_timeout(&server.addr, Duration::from_secs(1)).is_err(),
        "the stopped server still accepts connections"
    );
}

// The demo behaviours: the same code behind `serve --fragment` and a test's EchoServer.

#[test]
fn fragment_sends_a_reply_in_pieces_so_one_read_is_not_one_message() {
    let server = EchoServer::on_loopback(Config::mode(Mode::Line).behaviour(Behaviour::Fragment {
        piece: 3,
        pause: Duration::from_millis(100),
    }));
    let mut client = connect(server.addr());
    client.write_all(b"hello world\n").unwrap();
    let mut first = [0u8; 64];
    let count = client.read(&mut first).unwrap();
    assert_eq!(
        &first[..count],
        b"hel",
        "the first read should get the first piece only"
    );
    let rest = read_line(&mut client);
    assert_eq!(rest, "lo world\r\n");
}

#[test]
fn delay_answers_late() {
    let server = EchoServer::on_loopback(
        Config::mode(Mode::Line).behaviour(Behaviour::Delay(Duration::from_millis(300))),
    );
    let mut client = connect(server.addr());
    let started = Instant::now();
    assert_eq!(echo(&mut client, "late\n"), "late\r\n");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "answered after {:?}",
        started.elapsed()
    );
}

#[test]
fn silent_reads_and_records_but_never_answers() {
    let server = EchoServer::on_loopback(Config::mode(Mode::Line).behaviour(Behaviour::Silent));
    let mut client = connect(server.addr());
    client.write_all(b"anyone?\n").unwrap();
    assert!(
        server.recording().wait_until(DEADLINE, |all| all
            .iter()
            .any(|c| c.received == b"anyone?\n")),
        "{}",
        server.recording().describe()
    );
    client
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buffer = [0u8; 16];
    let error = client
        .read(&mut buffer)
        .expect_err("a silent server answered");
    assert!(
        matches!(
            error.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{error}"
    );
}

#[test]
fn coalesce_sends_several_replies_in_one_write() {
    let server = EchoServer::on_loopback(Config::mode(Mode::Line).behaviour(Behaviour::Coalesce {
        lines: 3,
        wait: Duration::from_secs(5),
    }));
    let mut client = connect(server.addr());
    client.set_nodelay(true).unwrap();
    for line in ["a\n", "b\n", "c\n"] {
        client.write_all(line.as_bytes()).unwrap();
    }
    let mut buffer = [0u8; 64];
    let count = client.read(&mut buffer).unwrap();
    assert_eq!(
        &buffer[..count],
        b"a\r\nb\r\nc\r\n",
        "one read should bring all three replies"
    );
}

#[test]
fn coalesce_still_answers_a_lone_line_after_its_wait() {
    let server = EchoServer::on_loopback(Config::mode(Mode::Line).behaviour(Behaviour::Coalesce {
        lines: 3,
        wait: Duration::from_millis(200),
    }));
    let mut client = connect(server.addr());
    let started = Instant::now();
    assert_eq!(echo(&mut client, "alone\n"), "alone\r\n");
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[test]
fn serve_demo_flags_pick_the_behaviour() {
    let fragment = Serve::start(&["--fragment"]);
    let mut client = fragment.connect();
    client.write_all(b"hello world\n").unwrap();
    let mut first = [0u8; 64];
    let count = client.read(&mut first).unwrap();
    assert!(count < 13, "--fragment: the first read got the whole reply");
    assert!(fragment.wait_for_log("demo mode: fragment", DEADLINE));

    let delay = Serve::start(&["--delay-ms", "300"]);
    let mut client = delay.connect();
    let started = Instant::now();
    assert_eq!(echo(&mut client, "x\n"), "x\r\n");
    assert!(started.elapsed() >= Duration::from_millis(300));

    let coalesce = Serve::start(&["--coalesce"]);
    let mut client = coalesce.connect();
    client.write_all(b"1\n2\n3\n").unwrap();
    let mut buffer = [0u8; 64];
    let count = client.read(&mut buffer).unwrap();
    assert_eq!(&buffer[..count], b"1\r\n2\r\n3\r\n");

    let silent = Serve::start(&["--silent"]);
    let mut client = silent.connect();
    client.write_all(b"x\n").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let (reply, how) = read_until_closed(&mut client, DEADLINE);
    assert!(reply.is_empty(), "--silent answered {}", show_bytes(&reply));
    assert_eq!(how, "end-of-file");
}

#[test]
fn serve_refuses_two_demo_flags_at_once() {
    assert_cmd::Command::cargo_bin("lab")
        .unwrap()
        .args(["serve", "--port", "0", "--silent", "--fragment"])
        .timeout(DEADLINE)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("cannot be used with"));
}

/// A timeout or delay near `u64::MAX` once made every worker panic on a clock overflow while
/// the server still said "listening": such values are refused before anything starts.
#[test]
fn serve_refuses_a_timeout_or_delay_too_long_to_be_a_deadline() {
    for (flag, value, range) in [
        ("--idle-timeout", "18446744073709551615", "0..=604800"),
        ("--line-timeout", "604801", "0..=604800"),
        ("--delay-ms", "18446744073709551615", "0..=60000"),
    ] {
        assert_cmd::Command::cargo_bin("lab")
            .unwrap()
            .args(["serve", "--port", "0", flag, value])
            .timeout(DEADLINE)
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicates::str::contains(format!(
                "{value} is not in {range}"
            )));
    }
}

/// The default `--max-connections` leaves room past a class of 1,000 (the instructor's own
/// connections, a student's second terminal), and the server raises its soft open-file limit
/// (1,024 on many systems) to match, within the hard limit.
#[cfg(target_os = "linux")]
#[test]
fn serve_raises_its_open_file_limit_for_a_class_of_a_thousand_and_more() {
    if !program_available("prlimit") {
        assert!(
            std::env::var_os("CI").is_none(),
            "prlimit (util-linux) is missing in CI"
        );
        eprintln!("skipped: prlimit (util-linux) is not installed");
        return;
    }
    let server = Serve::start_under(&["prlimit", "--nofile=1024:8192"], &[]);
    let mut client = server.connect();
    assert_eq!(echo(&mut client, "hello\n"), "hello\r\n");
    let soft = soft_open_file_limit(server.child.id());
    assert!(
        soft >= 1100,
        "the server kept a soft limit of {soft} open files: it cannot serve 1,001 clients"
    );
    assert!(!server.log().contains("warning"), "{}", server.log());

    // Where even the hard limit is too low, one warning line says what to do.
    let server = Serve::start_under(&["prlimit", "--nofile=256:256"], &[]);
    assert!(
        server.wait_for_log("lower --max-connections", DEADLINE),
        "no warning about the open-file limit: {}",
        server.log()
    );
}

/// `--host 0.0.0.0` listens everywhere, but `0.0.0.0:PORT` is not an address anyone can
/// connect to: the server names the ones that are, and each of them answers.
#[test]
fn serve_on_every_interface_names_addresses_that_reach_it() {
    let server = Serve::start(&["--host", "0.0.0.0"]);
    assert!(server.addr.ip().is_unspecified(), "{}", server.first_line);
    assert!(
        server.wait_for_log("reachable at", DEADLINE),
        "no line naming the addresses: {}",
        server.log()
    );
    let log = server.log();
    let line = log
        .lines()
        .find(|line| line.contains("reachable at"))
        .unwrap();
    let named: Vec<std::net::SocketAddr> = line
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|word| word.parse().ok())
        .collect();
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], server.addr.port()));
    assert!(named.contains(&loopback), "{line}");
    for addr in named {
        let mut client = connect(addr);
        assert_eq!(
            echo(&mut client, "which way?\n"),
            "which way?\r\n",
            "via {addr}"
        );
    }
}

#[cfg(target_os = "linux")]
fn program_available(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The soft "Max open files" of process `pid`, from /proc.
#[cfg(target_os = "linux")]
fn soft_open_file_limit(pid: u32) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}
