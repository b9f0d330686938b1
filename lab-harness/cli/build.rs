//! Says, once, that the `lab` command is being built: `cargo lab` is `cargo run --quiet`,
//! which is silent while it compiles, and a first build takes a minute or more.
//!
//! A build script runs early in the build (it needs none of the dependencies) and again only
//! when this file changes, so the line shows on the first `cargo lab …` of a fresh folder (or
//! after `cargo clean`), not on every run. Cargo keeps a build script's output to itself
//! (even its `cargo::warning` lines under `--quiet`), so the line goes to the terminal
//! directly; without a terminal (CI, a pipe) nothing is said.

use std::fs::OpenOptions;
use std::io::Write;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let terminal = if cfg!(windows) { "CONOUT$" } else { "/dev/tty" };
    if let Ok(mut terminal) = OpenOptions::new().write(true).open(terminal) {
        let _ = writeln!(
            terminal,
            "building the `lab` command once (a minute or more); later `cargo lab` commands \
             start at once"
        );
    }
}
