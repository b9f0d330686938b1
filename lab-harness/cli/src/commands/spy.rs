//! `cargo lab spy --listen HOST:PORT --to HOST:PORT`: put the spy between a program and a
//! server and see their conversation, the way a failing graded test shows it.
//!
//! Prints `spying on LISTEN -> TO` first (the real address, so `--listen 127.0.0.1:0` shows
//! the port chosen), then each connection's timeline as it happens (see `lab_cli::spy`),
//! until Ctrl-C, SIGTERM or the end of its input (Ctrl-D), when it prints a last line for
//! each connection still open and stops.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, mpsc};

use anyhow::Context;
use lab_cli::spy::{self, Config, Spy, plain_error};

#[derive(clap::Args)]
pub struct Args {
    /// Where your program connects, e.g. 127.0.0.1:6000 (port 0: the system picks one, and
    /// the first line says which).
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
    /// The server the spy passes everything on to, e.g. 127.0.0.1:5151.
    #[arg(long, value_name = "HOST:PORT")]
    to: Option<String>,
    /// Past this many connections open at once, a new one is closed with a line saying so.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
}

/// A mistake in the arguments: one line, exit status 2 (as for any usage error).
fn usage(message: String) -> anyhow::Result<ExitCode> {
    eprintln!("error: {message}");
    Ok(ExitCode::from(2))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (Some(listen), Some(to)) = (args.listen, args.to) else {
        return usage(
            "spy needs --listen HOST:PORT (where your program connects) and --to HOST:PORT \
             (the server), e.g. `cargo lab spy --listen 127.0.0.1:6000 --to 127.0.0.1:5151`"
                .into(),
        );
    };
    let listen_addrs = match resolve(&listen, "--listen") {
        Ok(addrs) => addrs,
        Err(message) => return usage(message),
    };
    let to_addrs = match resolve(&to, "--to") {
        Ok(addrs) => addrs,
        Err(message) => return usage(message),
    };
    let listener = match TcpListener::bind(&listen_addrs[..]) {
        Ok(listener) => listener,
        Err(error) => {
            return usage(format!(
                "cannot listen on {listen}: {}",
                plain_error(&error)
            ));
        }
    };
    let addr = listener.local_addr()?;
    // The spy passing everything on to itself would connect to itself forever.
    if to_addrs.iter().any(|to| {
        to.port() == addr.port()
            && (to.ip() == addr.ip() || to.ip().is_loopback() || addr.ip().is_unspecified())
    }) {
        return usage(format!(
            "--to {to} is the spy's own address: give the server's address"
        ));
    }

    let (stop, stop_requested) = mpsc::channel();
    let on_signal = stop.clone();
    ctrlc::set_handler(move || {
        let _ = on_signal.send(());
    })
    .context("cannot install the Ctrl-C handler")?;
    // The end of the input (Ctrl-D, or a closed pipe) stops the spy too.
    std::thread::spawn(move || {
        let mut sink = [0u8; 256];
        let mut stdin = io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        let _ = stop.send(());
    });

    let out: spy::Out = Arc::new(Mutex::new(Box::new(io::stdout())));
    println!("spying on {addr} -> {to}");
    io::stdout().flush()?;
    if addr.ip().is_unspecified() {
        eprintln!(
            "warning: listening on every network interface: any machine that can reach this \
             one may connect through the spy"
        );
    }
    eprintln!(
        "connect your program to {addr}; each connection's conversation is printed below. \
         Ctrl-C (or Ctrl-D) stops."
    );
    let config = Config {
        to: to_addrs,
        max_connections: args.max_connections as usize,
    };
    let spy = Spy::start(listener, config, out);
    let _ = stop_requested.recv();
    spy.stop();
    Ok(ExitCode::SUCCESS)
}

/// `HOST:PORT` as addresses, or one line saying what is wrong with it.
fn resolve(text: &str, flag: &str) -> Result<Vec<SocketAddr>, String> {
    if !text.contains(':') {
        return Err(format!(
            "{flag} {text:?} needs a port: HOST:PORT, e.g. 127.0.0.1:5151"
        ));
    }
    match text.to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                Err(format!("{flag} {text}: the name has no address"))
            } else {
                Ok(addrs)
            }
        }
        Err(error) => Err(format!(
            "{flag} {text:?} is not HOST:PORT ({})",
            plain_error(&error)
        )),
    }
}
