//! `cargo lab serve --mode udp`: exercise 9's scripted UDP echo server for a class.
//!
//! The very server the graded tests use (`lab_harness::UdpEchoServer`), every datagram sent
//! back to its sender, with two demo knobs: `--drop-every N` (no answer to the Nth datagram,
//! the 2Nth, …: loss, for the pinger's statistics) and `--delay-ms MS` (every answer that
//! late: for timeouts). No recording is kept but the totals; replies waiting for their time
//! are bounded in number and bytes (see `lab_harness::MAX_PENDING`). It prints the same
//! listening line as the other modes, logs each datagram on stderr (not with `--quiet`), and
//! on Ctrl-C or SIGTERM prints a summary.

use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use lab_harness::{UdpConfig, UdpEchoServer, UdpRecording, UdpScript, UdpTotals};

use super::{Args, bind_with, reachable, stop_signal};

pub(super) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if args.fragment || args.silent || args.coalesce {
        bail!(
            "--fragment, --silent and --coalesce are for the line and raw modes; in udp mode use \
             --drop-every N (loss) and --delay-ms MS (late answers)"
        );
    }
    let socket = bind_with(&args.host, args.port, UdpSocket::bind)?;
    let addr = socket.local_addr()?;
    let mut script = UdpScript::echo();
    if let Some(n) = args.drop_every {
        script = script.drop_every(n);
    }
    if let Some(ms) = args.delay_ms {
        script = script.delay_all(Duration::from_millis(ms));
    }
    // Only totals: an instructor's server runs for hours and must not grow.
    let recording = UdpRecording::new(0);
    let config = UdpConfig {
        script: script.clone(),
        log_to_stderr: !args.quiet,
        recording: recording.clone(),
    };

    let stop_requested = stop_signal()?;

    let mut server = UdpEchoServer::start_on(socket, config)?;
    println!("listening on {addr} (udp mode)");
    io::stdout().flush()?;
    if script != UdpScript::echo() {
        eprintln!("demo mode: {}", script.describe());
    }
    say_how_to_stop(addr);

    let _ = stop_requested.recv();
    server.stop();
    print_summary(recording.totals());
    Ok(ExitCode::SUCCESS)
}

/// The udp mode's part of the other modes' warnings: one socket, no file limit to raise.
fn say_how_to_stop(addr: SocketAddr) {
    if addr.ip().is_unspecified() {
        eprintln!(
            "warning: listening on every network interface: any machine that can reach this \
             one may send datagrams"
        );
        eprintln!("{}", reachable::describe(addr));
    }
    eprintln!(
        "try it: nc -u {} {} (each line is one datagram)",
        shown_host(addr),
        addr.port()
    );
    eprintln!("press Ctrl-C to stop");
}

/// The host part of `addr` for a command line (`THIS-MACHINE` when listening everywhere).
fn shown_host(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        "THIS-MACHINE".into()
    } else {
        addr.ip().to_string()
    }
}

/// The last line on stderr: what the server did in its life.
fn print_summary(totals: UdpTotals) {
    let plural = |count: u64| if count == 1 { "" } else { "s" };
    eprintln!(
        "stopped: {} datagram{} in ({} bytes) from {} sender{}, {} out ({} bytes), {} dropped",
        totals.datagrams_in,
        plural(totals.datagrams_in),
        totals.bytes_in,
        totals.senders,
        plural(totals.senders),
        totals.datagrams_out,
        totals.bytes_out,
        totals.dropped
    );
}
