//! `ex04-server --port P [--host H]`: your echo server as a program.
//!
//! This file is provided: you do not need to change it. It reads the command line, calls
//! your `bind`, prints `listening on ADDRESS` (with the real port, so `--port 0` is useful),
//! and hands the listener to your `serve`, which runs until the program is stopped (Ctrl-C).
//!
//! The host defaults to `127.0.0.1`: only this machine can connect. `--host 0.0.0.0` lets
//! other machines in (and anyone else who can reach yours).

// This file also grades the reference solution (package ex04-solution), whose library is
// named `ex04_solution`: there this line makes `ex04` mean it.
#[cfg(netlab_solution)]
extern crate ex04_solution as ex04;

use std::process::ExitCode;

/// How the program is called, for messages.
const USAGE: &str = concat!(env!("CARGO_BIN_NAME"), " --port PORT [--host HOST]");

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
struct Options {
    host: String,
    port: u16,
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
    let listener = match ex04::bind(&options.host, options.port) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
                "error: cannot listen on {} port {}: {error}",
                options.host, options.port
            );
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
    match ex04::serve(listener) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: the server stopped: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Reads `--port P` (required, 0–65535) and `--host H` (default `127.0.0.1`); `--help`.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Request, String> {
    let mut host = "127.0.0.1".to_string();
    let mut port = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--help" | "-h" => return Ok(Request::Help),
            "--port" => {
                let value = args.next().ok_or("--port needs a value")?;
                let parsed = value
                    .parse()
                    .map_err(|_| format!("--port needs a number from 0 to 65535, not {value:?}"))?;
                port = Some(parsed);
            }
            "--host" => host = args.next().ok_or("--host needs a value")?,
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    let port = port.ok_or("--port is required (0 lets the system choose)")?;
    Ok(Request::Serve(Options { host, port }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Request, String> {
        parse_args(args.iter().map(|arg| arg.to_string()))
    }

    #[test]
    fn port_and_host_are_read() {
        let expected = Options {
            host: "0.0.0.0".into(),
            port: 5151,
        };
        assert_eq!(
            parse(&["--host", "0.0.0.0", "--port", "5151"]),
            Ok(Request::Serve(expected))
        );
    }

    #[test]
    fn the_host_defaults_to_loopback() {
        let expected = Options {
            host: "127.0.0.1".into(),
            port: 0,
        };
        assert_eq!(parse(&["--port", "0"]), Ok(Request::Serve(expected)));
    }

    #[test]
    fn bad_input_is_one_clear_message() {
        let port = parse(&["--port", "99999"]).unwrap_err();
        assert!(
            port.contains("0 to 65535") && port.contains("99999"),
            "{port}"
        );
        assert!(parse(&[]).unwrap_err().contains("--port is required"));
        assert!(parse(&["--port"]).unwrap_err().contains("needs a value"));
        assert!(parse(&["--verbose"]).unwrap_err().contains("--verbose"));
    }

    #[test]
    fn help_is_not_an_error() {
        assert_eq!(parse(&["--help"]), Ok(Request::Help));
    }
}
