//! `ex08-server --root DIR [--host H] [--port P] [--workers N] [--timeout SECS]`: your HTTP
//! server as a program.
//!
//! This file is provided: you do not need to change it. It reads the command line, binds the
//! listener, prints `listening on ADDRESS` (with the real port, so `--port 0` is useful) and
//! runs your `serve` until it is told to stop. Your `handle_connection` logs one line per
//! request on stderr.
//!
//! Stopping. Type `stop` and Enter (or send the line `stop` on its standard input): the
//! program stops gracefully — no new clients, the requests in flight finish, the workers are
//! joined — and exits with 0. Ctrl-C, on the other hand, ends it at once: the system's
//! default for SIGINT (and Windows' for Ctrl-C) kills the process, and requests in flight are
//! cut. Catching Ctrl-C needs a signal handler, which std does not offer portably (the kit's
//! own `cargo lab serve` uses the `ctrlc` crate for it; exercises use std only). The end of
//! standard input is *not* a stop: a server started with `</dev/null` keeps serving. (A
//! program started in the background with `&` from a terminal is suspended by the shell as
//! soon as it reads the terminal: start it with `</dev/null` there.)
//!
//! The host defaults to `127.0.0.1`: only this machine can connect. `--host 0.0.0.0` lets
//! other machines in, and they can read every file under the root.

// This file also grades the reference solution (package ex08-solution), whose library is
// named `ex08_solution`: there this line makes `ex08` mean it.
#[cfg(netlab_solution)]
extern crate ex08_solution as ex08;

use std::io::BufRead;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use ex08::{Config, Stop, serve};

/// How the program is called, for messages.
const USAGE: &str = concat!(
    env!("CARGO_BIN_NAME"),
    " --root DIR [--host HOST] [--port PORT] [--workers N] [--timeout SECS]"
);

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
struct Options {
    root: PathBuf,
    host: String,
    port: u16,
    workers: usize,
    timeout: Duration,
}

/// What the command line asks: run a server, or show the usage.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    Serve(Options),
    Help,
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Request::Serve(options)) => options,
        Ok(Request::Help) => {
            println!("usage: {USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            // One line, then a non-zero exit: bad input is not a crash.
            eprintln!("error: {message} (usage: {USAGE})");
            return ExitCode::from(2);
        }
    };
    if !options.root.is_dir() {
        eprintln!(
            "error: --root {} is not a folder (usage: {USAGE})",
            options.root.display()
        );
        return ExitCode::from(2);
    }
    let listener = match TcpListener::bind((options.host.as_str(), options.port)) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
                "error: cannot listen on {} port {}: {error}",
                options.host, options.port
            );
            return ExitCode::FAILURE;
        }
    };
    let stop = match Stop::new(&listener) {
        Ok(stop) => stop,
        Err(error) => {
            eprintln!("error: the listener has no address: {error}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        // stdout is line-buffered: the line leaves at once, even into a pipe.
        Ok(addr) => println!("listening on {addr}"),
        Err(error) => {
            eprintln!("error: the listener has no address: {error}");
            return ExitCode::FAILURE;
        }
    }
    eprintln!(
        "serving {} with {} workers; type `stop` and Enter to stop gracefully",
        options.root.display(),
        options.workers
    );
    watch_stdin(stop.clone());
    let config = Config {
        root: options.root,
        workers: options.workers,
        request_timeout: options.timeout,
    };
    match serve(listener, config, stop) {
        Ok(()) => {
            eprintln!("stopped: every request in flight was answered");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: the server stopped: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Stops the server when the line `stop` (or `quit`) arrives on standard input. The end of
/// the input only ends this thread.
fn watch_stdin(stop: Stop) {
    let spawned = thread::Builder::new().name("stdin".into()).spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { return };
            if matches!(line.trim(), "stop" | "quit") {
                eprintln!("stopping: no new clients; finishing the requests in flight");
                stop.stop();
                return;
            }
        }
    });
    if let Err(error) = spawned {
        eprintln!("warning: cannot watch standard input for `stop`: {error}");
    }
}

/// Reads `--root DIR` (required), `--host H` (default `127.0.0.1`), `--port P` (default
/// 8080), `--workers N` (default 4, 1–1024), `--timeout SECS` (default 10); `--help`.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Request, String> {
    let mut root = None;
    let mut host = "127.0.0.1".to_string();
    let mut port = 8080;
    let mut workers = 4;
    let mut timeout = Duration::from_secs(10);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--help" | "-h" => return Ok(Request::Help),
            "--root" => root = Some(PathBuf::from(value("--root")?)),
            "--host" => host = value("--host")?,
            "--port" => {
                let text = value("--port")?;
                port = text
                    .parse()
                    .map_err(|_| format!("--port needs a number from 0 to 65535, not {text:?}"))?;
            }
            "--workers" => {
                let text = value("--workers")?;
                workers = match text.parse() {
                    Ok(count @ 1..=1024) => count,
                    _ => {
                        return Err(format!(
                            "--workers needs a number from 1 to 1024, not {text:?}"
                        ));
                    }
                };
            }
            "--timeout" => {
                let text = value("--timeout")?;
                timeout = match text.parse::<f64>() {
                    Ok(secs) if (0.001..=3600.0).contains(&secs) => Duration::from_secs_f64(secs),
                    _ => {
                        return Err(format!(
                            "--timeout needs seconds from 0.001 to 3600, not {text:?}"
                        ));
                    }
                };
            }
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    let root = root.ok_or("--root is required: the folder whose files are served")?;
    Ok(Request::Serve(Options {
        root,
        host,
        port,
        workers,
        timeout,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Request, String> {
        parse_args(args.iter().map(|arg| arg.to_string()))
    }

    #[test]
    fn every_option_is_read() {
        let expected = Options {
            root: "site".into(),
            host: "0.0.0.0".into(),
            port: 5151,
            workers: 8,
            timeout: Duration::from_millis(500),
        };
        let args = [
            "--root",
            "site",
            "--host",
            "0.0.0.0",
            "--port",
            "5151",
            "--workers",
            "8",
            "--timeout",
            "0.5",
        ];
        assert_eq!(parse(&args), Ok(Request::Serve(expected)));
    }

    #[test]
    fn only_the_root_is_required() {
        let Ok(Request::Serve(options)) = parse(&["--root", "."]) else {
            panic!("--root alone must be enough");
        };
        assert_eq!(
            (options.host.as_str(), options.port, options.workers),
            ("127.0.0.1", 8080, 4)
        );
    }

    #[test]
    fn bad_input_is_one_clear_message() {
        assert!(parse(&[]).unwrap_err().contains("--root is required"));
        let port = parse(&["--root", ".", "--port", "99999"]).unwrap_err();
        assert!(
            port.contains("0 to 65535") && port.contains("99999"),
            "{port}"
        );
        let workers = parse(&["--root", ".", "--workers", "0"]).unwrap_err();
        assert!(workers.contains("1 to 1024"), "{workers}");
        assert!(parse(&["--root"]).unwrap_err().contains("needs a value"));
        assert!(parse(&["--verbose"]).unwrap_err().contains("--verbose"));
    }

    #[test]
    fn help_is_not_an_error() {
        assert_eq!(parse(&["--help"]), Ok(Request::Help));
    }
}
