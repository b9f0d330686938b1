//! `cargo lab serve`: the reference echo server for a class.
//!
//! Prints one line on stdout once it is listening (`listening on ADDR (line mode)`, the real
//! address, so `--port 0` shows the port chosen), then logs each connection on stderr until
//! Ctrl-C or SIGTERM, when it stops accepting, closes every connection and prints a summary.
//! The demo flags (`--fragment`, `--delay-ms`, `--silent`, `--coalesce`) pick a
//! [`Behaviour`]: the same one tests use on a scripted `EchoServer`. `--mode http` serves
//! exercise 7's scripted HTTP server instead (see `serve/http.rs`), `--mode udp` exercise 9's
//! scripted UDP echo server (see `serve/udp.rs`).

mod files;
mod http;
mod reachable;
mod udp;

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use lab_harness::{Behaviour, Config, EchoServer, Mode, Recording, Totals};
use socket2::{Domain, Protocol, Socket, Type};

/// `--fragment`: pieces small enough that a one-`read` client sees a broken message, pauses
/// long enough to be seen in a terminal.
const FRAGMENT: Behaviour = Behaviour::Fragment {
    piece: 3,
    pause: Duration::from_millis(50),
};

/// `--coalesce`: a client that sends a few lines at once gets their replies in one write; a
/// client that waits for each reply gets it a little late.
const COALESCE: Behaviour = Behaviour::Coalesce {
    lines: 3,
    wait: Duration::from_millis(200),
};

/// The longest timeout accepted: a week. A longer one means "never" (0 says so), and a value
/// near `u64::MAX` seconds would overflow the clock arithmetic of every deadline.
const MAX_SECONDS: u64 = 7 * 24 * 60 * 60;

#[derive(clap::Args)]
pub struct Args {
    /// The address to listen on; 0.0.0.0 lets other machines connect.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The port to listen on; 0 lets the system choose a free one.
    #[arg(long, default_value_t = 5151)]
    port: u16,
    /// line: answer each line with the same line ending in \r\n; raw: echo bytes (RFC 862);
    /// http: exercise 7's HTTP/1.1 server, a small page and its awkward variants; udp: exercise
    /// 9's UDP echo server (with --drop-every and --delay-ms).
    #[arg(long, value_enum, default_value_t = ModeArg::Line)]
    mode: ModeArg,
    /// The longest line accepted in line mode, in bytes, line ending included.
    #[arg(long, default_value_t = 64 * 1024, value_parser = clap::value_parser!(u32).range(2..))]
    max_line: u32,
    /// Close a connection when nothing is received or sent for this many seconds (0: never;
    /// at most a week).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(0..=MAX_SECONDS))]
    idle_timeout: u64,
    /// Close a connection whose line is not finished this many seconds after its first byte
    /// (0: never; at most a week). Stops "slowloris" clients that send a byte now and then,
    /// never idle.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=MAX_SECONDS))]
    line_timeout: u64,
    /// Past this many open connections a new client gets "server full: N connections, try
    /// again" and is closed. Each connection needs an open file: the server raises its own
    /// limit as far as the system allows (see `ulimit -Hn`).
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections: u32,
    /// Demo: send each reply in 3-byte pieces, 50 ms apart (one read is not one message).
    #[arg(long, group = "behaviour")]
    fragment: bool,
    /// Demo: send each reply this many milliseconds late (shows read timeouts; at most a
    /// minute).
    #[arg(long, group = "behaviour", value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=60_000))]
    delay_ms: Option<u64>,
    /// Demo, udp mode only: answer no datagram of every N (the Nth, the 2Nth, …), as if it
    /// were lost.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    drop_every: Option<u64>,
    /// Demo: accept and read, never answer.
    #[arg(long, group = "behaviour")]
    silent: bool,
    /// Demo: hold replies and send up to 3 in one write, each held at most 200 ms (a new
    /// buffered reader per line loses lines).
    #[arg(long, group = "behaviour")]
    coalesce: bool,
    /// Log only the listening line, warnings and the summary, not every connection.
    #[arg(long)]
    quiet: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ModeArg {
    Line,
    Raw,
    Http,
    Udp,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.drop_every.is_some() && !matches!(args.mode, ModeArg::Udp) {
        bail!("--drop-every is for --mode udp: a TCP stream loses nothing");
    }
    match args.mode {
        ModeArg::Http => return http::run(&args),
        ModeArg::Udp => return udp::run(&args),
        ModeArg::Line | ModeArg::Raw => {}
    }
    let listener = bind(&args.host, args.port)?;
    let addr = listener.local_addr()?;
    let mode = match args.mode {
        ModeArg::Line => Mode::Line,
        // (`--mode http` and `--mode udp` were served above.)
        ModeArg::Raw | ModeArg::Http | ModeArg::Udp => Mode::Raw,
    };
    let behaviour = if args.fragment {
        FRAGMENT
    } else if let Some(ms) = args.delay_ms {
        Behaviour::Delay(Duration::from_millis(ms))
    } else if args.silent {
        Behaviour::Silent
    } else if args.coalesce {
        COALESCE
    } else {
        Behaviour::Echo
    };
    let seconds = |count: u64| (count > 0).then(|| Duration::from_secs(count));
    let max_connections = args.max_connections as usize;
    let config = Config {
        mode,
        behaviour,
        max_line: args.max_line as usize,
        idle_timeout: seconds(args.idle_timeout),
        line_timeout: seconds(args.line_timeout),
        max_connections: Some(max_connections),
        log_to_stderr: !args.quiet,
        // Only totals: an instructor's server runs for hours and must not grow.
        recording: Recording::new(0, 0),
    };

    let stop_requested = stop_signal()?;

    // Room for every connection before the first one is accepted: raised later, the first
    // clients of a large class could meet the old limit.
    let room = files::make_room_for(max_connections);
    let recording = config.recording.clone();
    let server = EchoServer::start(listener, config)?;
    println!("listening on {addr} ({mode} mode)");
    io::stdout().flush()?;
    if behaviour != Behaviour::Echo {
        eprintln!("demo mode: {behaviour}");
    }
    warn_and_say_how_to_stop(addr, room);

    let _ = stop_requested.recv();
    let turned_away = server.turned_away();
    server.stop();
    print_summary(recording.totals(), turned_away);
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C and SIGTERM only send a message (received here); the main thread does the stopping.
fn stop_signal() -> anyhow::Result<mpsc::Receiver<()>> {
    let (stop, stop_requested) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop.send(());
    })
    .context("cannot install the Ctrl-C handler")?;
    Ok(stop_requested)
}

/// What follows the listening line on stderr, in every mode: the warnings (`room`: whether
/// the open-file limit was raised far enough, see [`files::make_room_for`]), then how to stop.
fn warn_and_say_how_to_stop(addr: SocketAddr, room: Result<(), String>) {
    if let Err(warning) = room {
        eprintln!("warning: {warning}");
    }
    if addr.ip().is_unspecified() {
        eprintln!(
            "warning: listening on every network interface: any machine that can reach this \
             one may connect"
        );
        eprintln!("{}", reachable::describe(addr));
    }
    eprintln!("press Ctrl-C to stop");
}

/// The last line on stderr: what the server did in its life.
fn print_summary(totals: Totals, turned_away: u64) {
    let mut summary = format!(
        "stopped: served {} connection{}, {} bytes in, {} bytes out",
        totals.connections,
        if totals.connections == 1 { "" } else { "s" },
        totals.bytes_in,
        totals.bytes_out
    );
    if turned_away > 0 {
        summary.push_str(&format!("; turned {turned_away} away (server full)"));
    }
    eprintln!("{summary}");
}

/// Binds the first address `host` resolves to, explaining the usual failures in one line.
fn bind(host: &str, port: u16) -> anyhow::Result<TcpListener> {
    bind_with(host, port, bind_one)
}

/// [`bind`] for any kind of socket: `bind_one` binds one address (the udp mode binds a
/// `UdpSocket`).
fn bind_with<T>(
    host: &str,
    port: u16,
    bind_one: impl Fn(SocketAddr) -> io::Result<T>,
) -> anyhow::Result<T> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve host {host:?}"))?
        .collect();
    let mut last_error = None;
    for addr in &addrs {
        match bind_one(*addr) {
            Ok(listener) => return Ok(listener),
            Err(error) => last_error = Some(error),
        }
    }
    let error = last_error.unwrap_or_else(|| io::Error::other("no address"));
    Err(match error.kind() {
        io::ErrorKind::AddrInUse => anyhow!(
            "port {port} is already in use on {host}: stop the other server, or pass --port 0 \
             to let the system choose a free port"
        ),
        io::ErrorKind::AddrNotAvailable => {
            anyhow!("{host} is not an address of this machine (try 127.0.0.1 or 0.0.0.0)")
        }
        io::ErrorKind::PermissionDenied => anyhow!(
            "not allowed to listen on port {port} of {host} (ports below 1024 need \
             administrator rights): pick a port above 1023"
        ),
        _ => anyhow!("cannot listen on {host} port {port}: {error}"),
    })
}

fn bind_one(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // Lets the server restart at once on the same port while old connections linger in
    // TIME_WAIT. (On Windows the option means something else, port stealing, so not there.)
    #[cfg(not(windows))]
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(lab_harness::LISTEN_BACKLOG)?;
    Ok(socket.into())
}
