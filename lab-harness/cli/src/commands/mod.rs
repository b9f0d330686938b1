//! The subcommands of `cargo lab`.

mod bench;
mod check;
mod grade;
mod gradescope;
mod handout;
mod hint;
mod progress;
mod serve;
mod spy;
mod watch;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use lab_cli::workspace::{self, Exercise};

use clap::Parser;

/// netlab: a TCP socket lab. Run from the kit's folder as `cargo lab COMMAND`; `cargo lab`
/// alone shows your progress.
#[derive(Parser)]
#[command(name = "cargo lab", bin_name = "cargo lab", version)]
pub enum Command {
    /// Where you are: every exercise's graded tests, a progress bar, and what to do next
    /// (what `cargo lab` alone shows).
    Progress(progress::Args),
    /// Re-run an exercise's graded tests each time you save a file under its src/, with a
    /// short summary (keys: h hint, l list, n next exercise, r re-run, q quit).
    Watch(watch::Args),
    /// A hint for a graded test, one step at a time: a nudge, the std API, the idea.
    Hint(hint::Args),
    /// Run the reference echo server that the class connects to.
    Serve(serve::Args),
    /// Relay between your program and a server, printing each conversation as the timeline
    /// the graded tests show (bytes, half-closes, resets, pauses, who closed first).
    Spy(spy::Args),
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
            Command::Progress(args) => progress::run(args),
            Command::Watch(args) => watch::run(args),
            Command::Hint(args) => hint::run(args),
            Command::Serve(args) => serve::run(args),
            Command::Spy(args) => spy::run(args),
            Command::Check(args) => check::run(args),
            Command::Bench(args) => bench::run(args),
            Command::Grade(args) => grade::run(args),
            Command::Handout(args) => handout::run(args),
            Command::GradescopePackage(args) => gradescope::run(args),
        }
    }
}

/// The kit's root folder and every exercise in it: the current folder or one above it, else
/// the folder this binary was built from. An error when there is no exercise at all.
pub fn kit() -> anyhow::Result<(PathBuf, Vec<Exercise>)> {
    let here = std::env::current_dir()?;
    let root = workspace::find_root(&here)
        .or_else(|| workspace::find_root(Path::new(env!("CARGO_MANIFEST_DIR"))))
        .context("not inside the netlab kit (no Cargo.toml with an exercises/ folder found)")?;
    let exercises = workspace::exercises(&root)
        .with_context(|| format!("cannot list {}", root.join("exercises").display()))?;
    if exercises.is_empty() {
        bail!(
            "no exercises found under {}",
            root.join("exercises").display()
        );
    }
    Ok((root, exercises))
}

/// Refuses, with one line, a command of the kit's maintainers (`check`, `grade --solutions`,
/// `handout`, `gradescope-package`) in a students' copy of the kit: a copy has no
/// `solutions/`, which all of them need (or, for a handout, must not be made from).
pub fn refuse_in_students_copy(root: &Path, command: &str) -> anyhow::Result<()> {
    if !root.join("solutions").is_dir() {
        bail!(
            "`cargo lab {command}` is for the kit's maintainers: this is a students' copy of \
             the kit (it has no solutions/). Try `cargo test -p ex01` or `cargo lab grade`"
        );
    }
    Ok(())
}

/// The exercises named by `--only` (an id like `ex03` or a folder name), or all of them when
/// it is empty. An unknown name is an error that lists the kit's exercises.
pub fn select(all: &[Exercise], only: &[String]) -> anyhow::Result<Vec<Exercise>> {
    let named = |e: &Exercise, id: &String| id == e.id() || *id == e.folder;
    if let Some(unknown) = only.iter().find(|id| !all.iter().any(|e| named(e, id))) {
        let ids: Vec<&str> = all.iter().map(Exercise::id).collect();
        bail!(
            "no exercise `{unknown}` in this kit (exercises: {})",
            ids.join(", ")
        );
    }
    Ok(all
        .iter()
        .filter(|e| only.is_empty() || only.iter().any(|id| named(e, id)))
        .cloned()
        .collect())
}

/// The exercise named `name` (an id like `ex03` or a folder name).
pub fn find<'a>(all: &'a [Exercise], name: &str) -> Option<&'a Exercise> {
    all.iter().find(|e| name == e.id() || name == e.folder)
}
