//! The lectures' loop over `getaddrinfo`, as a program: every address a host name resolves to,
//! one line each, with the family, type and protocol of the socket to make for it.
//!
//! ```text
//! $ cargo run -p ex06 -- localhost 80
//! AF_INET6  SOCK_STREAM  IPPROTO_TCP  [::1]:80
//! AF_INET   SOCK_STREAM  IPPROTO_TCP  127.0.0.1:80
//! ```
//!
//! This file is complete: there is nothing to change here. It only connects your functions in
//! `src/lib.rs` to the command line, so it works once `resolve` and `describe` do. Read it to
//! see how a program turns bad input into one line for its user and an exit code: 2 for a
//! wrong command line (as most Unix tools do), 1 for a name that does not resolve.

// This file also grades the reference solution (package ex06-solution), whose library is
// named `ex06_solution`: there this line makes `ex06` mean it.
#[cfg(netlab_solution)]
extern crate ex06_solution as ex06;

use std::env;
use std::process::ExitCode;

use ex06::{describe, resolve};

const USAGE: &str = "usage: ex06-lookup HOST [PORT]   (PORT 0 to 65535, 80 if not given)";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let (host, port) = match args.as_slice() {
        [host] => (host, 80),
        [host, port] => match port.parse::<u16>() {
            Ok(port) => (host, port),
            Err(_) => {
                eprintln!("ex06-lookup: {port:?} is not a port number\n{USAGE}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match resolve(host, port) {
        Ok(addrs) => {
            for addr in addrs {
                println!("{}", describe(addr));
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("ex06-lookup: {error}");
            ExitCode::FAILURE
        }
    }
}
