//! The subcommands of `cargo lab`.

mod bench;
mod check;
mod grade;
mod gradescope;
mod handout;
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
    /// Load an echo server: many clients at once, req/s, latency percentiles, errors by kind
    /// (how an instructor checks that a server can take the class).
    Bench(bench::Args),
    /// Grade the exercises (or --solutions, or student submissions): a score table, JSON,
    /// JUnit XML, Gradescope results.json or a CSV gradebook. Never hangs.
    Grade(grade::Args),
    /// Write the students' copy of the kit (no solutions) to a new folder.
    Handout(handout::Args),
    /// Build a Gradescope autograder zip (setup.sh, run_autograder, the kit without solutions).
    GradescopePackage(gradescope::Args),
}

impl Command {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Command::Serve(args) => serve::run(args),
            Command::Check(args) => check::run(args),
            Command::Bench(args) => bench::run(args),
            Command::Grade(args) => grade::run(args),
            Command::Handout(args) => handout::run(args),
            Command::GradescopePackage(args) => gradescope::run(args),
        }
    }
}
