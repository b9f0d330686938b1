//! `cargo lab …`: the kit's command line (`cargo lab` is an alias for
//! `cargo run -p lab-cli --`, set in `.cargo/config.toml`).
//!
//! Each subcommand lives in its own module under `commands/`; this file only parses the command
//! line and turns an error into one line on stderr and a non-zero exit code.

mod commands;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // `cargo lab` alone: where am I? (the same as `cargo lab progress`)
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.len() == 1 {
        args.push("progress".into());
    }
    let command = commands::Command::parse_from(args);
    match command.run() {
        Ok(code) => code,
        Err(error) => {
            // `{:#}` puts the whole chain of causes on one line.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
