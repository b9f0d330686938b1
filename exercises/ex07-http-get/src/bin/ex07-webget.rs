//! `ex07-webget URL`: an HTTP GET from the command line, like Stanford CS144's `webget` or a
//! tiny `curl`.
//!
//! ```text
//! $ cargo run -p ex07 -- http://127.0.0.1:8000/notes.txt > notes.txt
//! 200 OK
//! ```
//!
//! The body goes to standard output exactly as it came (bytes, not text: it may be an image),
//! so it can be redirected to a file. Everything for the person at the terminal goes to
//! standard error: the status line, and any error as one line. The exit code tells a script
//! how it went: 0 for a 2xx status, 1 for any other status or a network error, 2 for a URL
//! it cannot use (or no URL at all).
//!
//! This file is complete: there is nothing to change here. It works once your `parse_url`
//! and `fetch` in `src/lib.rs` do. Read it to see how a program turns errors into one line
//! and an exit code instead of a panic.

// This file also grades the reference solution (package ex07-solution), whose library is
// named `ex07_solution`: there this line makes `ex07` mean it.
#[cfg(netlab_solution)]
extern crate ex07_solution as ex07;

use std::io::{self, Write};
use std::process::ExitCode;

use ex07::{fetch, parse_url};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url] = args.as_slice() else {
        eprintln!("usage: ex07-webget URL   (for example: ex07-webget http://127.0.0.1:8000/)");
        return ExitCode::from(2);
    };
    // A URL that cannot be used is the user's mistake (exit 2), not the network's (exit 1).
    let parts = match parse_url(url) {
        Ok(parts) => parts,
        Err(error) => {
            eprintln!("ex07-webget: {error}");
            return ExitCode::from(2);
        }
    };
    let response = match fetch(&parts) {
        Ok(response) => response,
        Err(error) => {
            eprintln!(
                "ex07-webget: GET {url} failed: {error} ({:?})",
                error.kind()
            );
            return ExitCode::from(1);
        }
    };
    eprintln!("{} {}", response.status, response.reason);
    if let Some(location) = response.header("Location") {
        // A redirect is not followed (as with curl without -L): say where it points.
        eprintln!("Location: {location}");
    }
    let mut stdout = io::stdout().lock();
    if let Err(error) = stdout
        .write_all(&response.body)
        .and_then(|()| stdout.flush())
    {
        eprintln!("ex07-webget: cannot write the body: {error}");
        return ExitCode::from(1);
    }
    if (200..300).contains(&response.status) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
