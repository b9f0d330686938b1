//! `cargo lab bench`: a load generator for echo servers.
//!
//! Points `--connections` clients at a server at once, each sending `--messages` messages of
//! `--size` bytes and checking every echo: as fast as the echoes come (closed loop), or at
//! `--rate` messages per second with each latency counted from when its message was due
//! (open loop). A progress line goes to stderr while it runs; the report (req/s, p50/p99/max
//! latency, errors by kind with an example and a hint) goes to stdout. The exit code is 0 when every message came back right, 1 otherwise, so an
//! instructor can ask of a student's ex04 server "can it take the class?" in a script.
//! `--mode http --path /file` does the same for an HTTP server (exercise 8's): each message
//! is a GET on a connection of its own (see `lab_cli::bench::http`).

use std::io::{self, IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow};
use lab_cli::bench::{self, Options, Progress};
use lab_harness::Mode;

#[derive(clap::Args)]
pub struct Args {
    /// The server to load, as HOST:PORT (e.g. 127.0.0.1:5151).
    #[arg(long, value_name = "HOST:PORT")]
    addr: String,
    /// How many clients connect, all at the same moment.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    connections: u32,
    /// How many messages each client sends, one at a time, waiting for each echo.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    messages: u32,
    /// Open loop: send this many messages per second, all clients together, and count each
    /// latency from when its message was due (a stalled server is charged for every message
    /// it held up). Without it: closed loop, each client sends when its last echo is in.
    #[arg(long, value_name = "PER_SECOND", value_parser = positive_rate)]
    rate: Option<f64>,
    /// How many threads drive the clients (default: half the cores, at least one).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    threads: Option<u32>,
    /// Bytes per message, the line ending included in line mode.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(2..=1_048_576))]
    size: u32,
    /// line: each message is a line, the echo must be the same line (ending \r\n or \n);
    /// raw: the echo must be the same bytes; http: each message is a `GET --path` on a new
    /// connection to an HTTP server (exercise 8's), answered with a 2xx and a body of its
    /// Content-Length.
    #[arg(long, value_enum, default_value_t = ModeArg::Line)]
    mode: ModeArg,
    /// In http mode: the path every request asks for.
    #[arg(long, default_value = "/")]
    path: String,
    /// The longest wait, in seconds, for one connect, one write or one reply.
    #[arg(long, default_value_t = 5.0, value_parser = positive_seconds)]
    timeout: f64,
    /// Stop sending new messages after this many seconds.
    #[arg(long, default_value_t = 60.0, value_parser = positive_seconds)]
    time_limit: f64,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ModeArg {
    Line,
    Raw,
    Http,
}

fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate > 0.0 && rate <= 1e9 => Ok(rate),
        _ => Err(format!(
            "{text:?} is not a number of messages per second above 0"
        )),
    }
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds <= 86_400.0 => Ok(seconds),
        _ => Err(format!(
            "{text:?} is not a number of seconds between 0 and 86400"
        )),
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let addr = resolve(&args.addr)?;
    let options = Options {
        addr,
        connections: args.connections as usize,
        messages: args.messages as usize,
        size: args.size as usize,
        mode: match args.mode {
            ModeArg::Line => Mode::Line,
            // http mode does not use it: its messages are requests.
            ModeArg::Raw | ModeArg::Http => Mode::Raw,
        },
        timeout: Duration::from_secs_f64(args.timeout),
        time_limit: Duration::from_secs_f64(args.time_limit),
        rate: args.rate,
        threads: args
            .threads
            .map_or_else(bench::default_threads, |threads| threads as usize),
    };
    let total = options.connections as u64 * options.messages as u64;
    let mut line = ProgressLine::new(total, options.connections as u64);
    if let ModeArg::Http = args.mode {
        let report = bench::http::run(&options, &args.path, &mut |progress| line.show(progress))
            .context("cannot run the bench")?;
        line.finish(report.answered, report.errors(), report.elapsed);
        print!("{}", report.describe());
        io::stdout().flush()?;
        return Ok(if report.errors() == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let report = bench::run(&options, &mut |progress| line.show(progress))
        .context("cannot run the bench")?;
    line.finish(report.answered, report.errors(), report.elapsed);
    print!("{}", report.describe());
    io::stdout().flush()?;
    Ok(if report.errors() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `HOST:PORT` to one address, with a one-line error for the usual mistakes.
fn resolve(addr: &str) -> anyhow::Result<SocketAddr> {
    if !addr.contains(':') {
        return Err(anyhow!(
            "--addr {addr:?} has no port: write HOST:PORT, e.g. 127.0.0.1:5151"
        ));
    }
    addr.to_socket_addrs()
        .with_context(|| {
            format!("cannot resolve --addr {addr:?} (write HOST:PORT, e.g. 127.0.0.1:5151)")
        })?
        .next()
        .ok_or_else(|| anyhow!("--addr {addr:?} resolves to no address"))
}

/// The progress line on stderr: rewritten in place on a terminal, one line a second
/// otherwise (a log file or a test should not fill up with carriage returns).
struct ProgressLine {
    total: u64,
    connections: u64,
    terminal: bool,
    last_shown: Option<Duration>,
}

impl ProgressLine {
    fn new(total: u64, connections: u64) -> ProgressLine {
        ProgressLine {
            total,
            connections,
            terminal: io::stderr().is_terminal(),
            last_shown: None,
        }
    }

    fn show(&mut self, progress: &Progress) {
        let every = if self.terminal {
            Duration::ZERO
        } else {
            Duration::from_secs(1)
        };
        if self
            .last_shown
            .is_some_and(|shown| progress.elapsed < shown + every)
        {
            return;
        }
        self.last_shown = Some(progress.elapsed);
        let text = format!(
            "{}/{} connected, {}/{} answered, {} error{}, {:.1} s",
            progress.connected,
            self.connections,
            progress.answered,
            self.total,
            progress.errors,
            if progress.errors == 1 { "" } else { "s" },
            progress.elapsed.as_secs_f64()
        );
        if self.terminal {
            eprint!("\r{text}\x1b[K");
        } else {
            eprintln!("progress: {text}");
        }
    }

    fn finish(&self, answered: u64, errors: u64, elapsed: Duration) {
        if self.terminal {
            eprint!("\r\x1b[K");
        }
        eprintln!(
            "done: {answered}/{} answered, {errors} error{} in {:.2} s",
            self.total,
            if errors == 1 { "" } else { "s" },
            elapsed.as_secs_f64()
        );
    }
}
