//! `ex09-ping HOST:PORT [-c N] [-i SECS] [-W SECS]`: `ping` over UDP, against an echo server.
//!
//! ```text
//! $ cargo run -p ex09 -- 127.0.0.1:5151 -c 4
//! PING 127.0.0.1:5151 (UDP): 4 requests, one every 1 s, each waiting 1 s for its reply
//! reply from 127.0.0.1:5151: seq=1 time=0.081 ms
//! reply from 127.0.0.1:5151: seq=2 time=0.094 ms
//! no reply: seq=3
//! reply from 127.0.0.1:5151: seq=4 time=0.077 ms
//!
//! --- 127.0.0.1:5151 ping statistics ---
//! 4 requests transmitted, 3 received, 25.0% loss
//! rtt min/avg/max = 0.077/0.084/0.094 ms
//! ```
//!
//! `-c` is how many requests (default 4, at most 65535), `-i` the seconds between them
//! (default 1, at most 60, fractions allowed), `-W` how long each waits for its reply
//! (default 1, more than 0, at most 60). Unlike the ICMP `ping`, which prints each reply as
//! it comes, this one prints them all at the end: your `ping` returns its report once done.
//!
//! The exit code tells a script how it went, as `ping`'s does: 0 if at least one reply came,
//! 1 if none did or the network said no (nobody listens on that port), 2 for arguments it
//! cannot use (with the usage on standard error).
//!
//! This file is complete: there is nothing to change here. It works once your `ping` and the
//! methods of `PingReport` in `src/lib.rs` do.

// This file also grades the reference solution (package ex09-solution), whose library is
// named `ex09_solution`: there this line makes `ex09` mean it.
#[cfg(netlab_solution)]
extern crate ex09_solution as ex09;

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use ex09::{PingReport, ping};

const USAGE: &str = "usage: ex09-ping HOST:PORT [-c COUNT] [-i SECONDS] [-W SECONDS]   \
                     (for example: ex09-ping 127.0.0.1:5151 -c 4)";

/// The longest interval and timeout accepted, in seconds.
const MAX_SECONDS: f64 = 60.0;

struct Options {
    target: String,
    count: u16,
    interval: Duration,
    timeout: Duration,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse_args(&args) {
        Ok(options) => options,
        Err(problem) => {
            eprintln!("ex09-ping: {problem}");
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let addr = match resolve(&options.target) {
        Ok(addr) => addr,
        Err(problem) => {
            eprintln!("ex09-ping: {problem}");
            return ExitCode::from(2);
        }
    };
    println!(
        "PING {addr} (UDP): {} request{}, one every {} s, each waiting {} s for its reply",
        options.count,
        if options.count == 1 { "" } else { "s" },
        options.interval.as_secs_f64(),
        options.timeout.as_secs_f64()
    );
    let report = match ping(addr, options.count, options.interval, options.timeout) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("ex09-ping: {addr}: {error} ({:?})", error.kind());
            return ExitCode::from(1);
        }
    };
    print_report(&report);
    if report.received() > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn print_report(report: &PingReport) {
    let ms = |rtt: Duration| format!("{:.3}", rtt.as_secs_f64() * 1000.0);
    for (index, rtt) in report.rtts.iter().enumerate() {
        let seq = index + 1;
        match rtt {
            Some(rtt) => println!(
                "reply from {}: seq={seq} time={} ms",
                report.target,
                ms(*rtt)
            ),
            None => println!("no reply: seq={seq}"),
        }
    }
    println!();
    println!("--- {} ping statistics ---", report.target);
    let mut totals = format!(
        "{} requests transmitted, {} received, {:.1}% loss",
        report.transmitted(),
        report.received(),
        report.loss_percent()
    );
    if report.duplicates > 0 {
        totals.push_str(&format!(", +{} duplicates", report.duplicates));
    }
    if report.ignored > 0 {
        totals.push_str(&format!(", {} ignored", report.ignored));
    }
    println!("{totals}");
    if let (Some(min), Some(avg), Some(max)) =
        (report.min_rtt(), report.avg_rtt(), report.max_rtt())
    {
        println!("rtt min/avg/max = {}/{}/{} ms", ms(min), ms(avg), ms(max));
    }
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut target = None;
    let mut count = 4u16;
    let mut interval = Duration::from_secs(1);
    let mut timeout = Duration::from_secs(1);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = || {
            rest.next()
                .map(String::as_str)
                .ok_or_else(|| format!("{arg} needs a value"))
        };
        match arg.as_str() {
            "-c" => {
                let text = value()?;
                count = text
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("-c {text:?}: a count from 1 to 65535"))?;
            }
            "-i" => interval = seconds("-i", value()?, true)?,
            "-W" => timeout = seconds("-W", value()?, false)?,
            "-h" | "--help" => return Err("help".into()),
            option if option.starts_with('-') => return Err(format!("unknown option {option}")),
            _ if target.is_some() => return Err(format!("one HOST:PORT only, not also {arg:?}")),
            _ => target = Some(arg.clone()),
        }
    }
    let target = target.ok_or("no HOST:PORT to ping")?;
    Ok(Options {
        target,
        count,
        interval,
        timeout,
    })
}

/// A number of seconds (fractions allowed) up to [`MAX_SECONDS`]; zero only if `zero_ok`.
fn seconds(option: &str, text: &str, zero_ok: bool) -> Result<Duration, String> {
    let low = if zero_ok { "from 0" } else { "more than 0" };
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s <= MAX_SECONDS && (*s > 0.0 || (zero_ok && *s == 0.0)))
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{option} {text:?}: seconds, {low} up to {MAX_SECONDS}"))
}

/// The first address `HOST:PORT` names (`[::1]:5151` for IPv6).
fn resolve(target: &str) -> Result<SocketAddr, String> {
    let mut addrs = target
        .to_socket_addrs()
        .map_err(|error| format!("cannot resolve {target:?} (HOST:PORT expected): {error}"))?;
    addrs
        .next()
        .ok_or_else(|| format!("{target:?} names no address"))
}
