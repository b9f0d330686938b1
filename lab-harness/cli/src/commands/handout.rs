//! `cargo lab handout --out DIR`: write the students' copy of the kit.
//!
//! The copy is the last commit's skeletons, never the working folder (see
//! `lab_cli::grade::committed`): no `solutions/`, no bench peers, no kit CI, no harness
//! self-tests; the workspace's default members are the exercises, and the README is written
//! for students (see `lab_cli::grade::handout`).

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use lab_cli::grade::{committed, stage};

#[derive(clap::Args)]
pub struct Args {
    /// The folder to write the handout to (new, or empty).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Hand out the last commit even though files have uncommitted changes (they are left
    /// out) rather than refusing.
    #[arg(long)]
    ignore_uncommitted: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (root, _) = super::kit()?;
    super::refuse_in_students_copy(&root, "handout")?;
    let occupied = fs::read_dir(&args.out).is_ok_and(|mut entries| entries.next().is_some());
    if occupied {
        bail!(
            "{} is not empty: choose a new folder for the handout",
            args.out.display()
        );
    }
    let options = committed::Options {
        ignore_uncommitted: args.ignore_uncommitted,
    };
    let files = committed::students_copy(&root, options)?;
    let exercises = files
        .iter()
        .filter(|f| f.path.ends_with("Cargo.toml") && f.path.starts_with("exercises"))
        .count();
    fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    stage::write_files(&files, &args.out, std::time::SystemTime::now(), true)
        .with_context(|| format!("cannot write the handout to {}", args.out.display()))?;
    println!(
        "wrote the student handout to {} ({} files, {exercises} exercises, from the last \
         commit: skeletons only, no solutions)",
        args.out.display(),
        files.len(),
    );
    Ok(ExitCode::SUCCESS)
}
