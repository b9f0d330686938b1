//! `cargo lab serve`: the reference echo server for a class.
//!
//! Prints one line on stdout once it is listening (`listening on ADDR (line mode)`, the real
//! address, so `--port 0` shows the port chosen), then logs each connection on stderr until
//! Ctrl-C or SIGTERM, when it closes every connection and prints a summary.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use lab_harness::{Config, EchoServer, Mode, Recording};
use socket2::{Domain, Protocol, Socket, Type};

/// How many connections may wait to be accepted. std's fixed 128 overflows when a whole
/// class connects in the same second; the kernel caps this at its own maximum.
const BACKLOG: i32 = 1024;

#[derive(clap::Args)]
pub struct Args {
    /// The address to listen on; 0.0.0.0 lets other machines connect.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The port to listen on; 0 lets the system choose a free one.
    #[arg(long, default_value_t = 5151)]
    port: u16,
    /// line: answer each line with the same line ending in \r\n; raw: echo bytes (RFC 862).
    #[arg(long, value_enum, default_value_t = ModeArg::Line)]
    mode: ModeArg,
    /// The longest line accepted in line mode, in bytes, line ending included.
    #[arg(long, default_value_t = 64 * 1024, value_parser = clap::value_parser!(u32).range(2..))]
    max_line: u32,
    /// Close a connection that sends nothing for this many seconds (0: never).
    #[arg(long, default_value_t = 300)]
    idle_timeout: u64,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ModeArg {
    Line,
    Raw,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let listener = bind(&args.host, args.port)?;
    let addr = listener.local_addr()?;
    let mode = match args.mode {
        ModeArg::Line => Mode::Line,
        ModeArg::Raw => Mode::Raw,
    };
    let config = Config {
        mode,
        max_line: args.max_line as usize,
        idle_timeout: (args.idle_timeout > 0).then(|| Duration::from_secs(args.idle_timeout)),
        log_to_stderr: true,
        // Only totals: an instructor's server runs for hours and must not grow.
        recording: Recording::new(0, 0),
        ..Config::default()
    };

    // Ctrl-C and SIGTERM only send a message; the main thread does the stopping.
    let (stop, stop_requested) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop.send(());
    })
    .context("cannot install the Ctrl-C handler")?;

    let server = EchoServer::start(listener, config)?;
    println!("listening on {addr} ({mode} mode)");
    io::stdout().flush()?;
    if addr.ip().is_unspecified() {
        eprintln!(
            "warning: listening on every network interface: any machine that can reach this \
             one may connect"
        );
    }
    eprintln!("press Ctrl-C to stop");

    let _ = stop_requested.recv();
    let totals = server.recording().totals();
    server.stop();
    eprintln!(
        "stopped: served {} connection{}, {} bytes in, {} bytes out",
        totals.connections,
        if totals.connections == 1 { "" } else { "s" },
        totals.bytes_in,
        totals.bytes_out
    );
    Ok(ExitCode::SUCCESS)
}

/// Binds the first address `host` resolves to, explaining the usual failures in one line.
fn bind(host: &str, port: u16) -> anyhow::Result<TcpListener> {
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
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}
