//! The subcommands of `cargo lab`.

mod check;
mod serve;

use std::process::ExitCode;

use clap::Parser;

/// netlab: a TCP socket lab. Run from the kit's folder as `cargo lab COMMAND`.
#[derive(Parser)]
#[command(name = "cargo lab", bin_name = "cargo lab", version)]
pub enum Command {
    /// Run the reference echo server that the class connects to.
    Serve(serve::Args),
    /// Check the kit itself: every solution passes its graded tests, every skeleton builds
    /// without warnings and fails every graded test with "not yet implemented".
    Check(check::Args),
}

impl Command {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Command::Serve(args) => serve::run(args),
            Command::Check(args) => check::run(args),
        }
    }
}
