//! `cargo lab handout --out DIR`: write the students' copy of the kit.
//!
//! No `solutions/`, no kit CI, no harness self-tests; the workspace's default members are the
//! exercises, and the README is written for students (see `lab_cli::grade::handout`).

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use lab_cli::grade::{handout, stage};

#[derive(clap::Args)]
pub struct Args {
    /// The folder to write the handout to (new, or empty).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (root, exercises) = super::kit()?;
    let occupied = fs::read_dir(&args.out).is_ok_and(|mut entries| entries.next().is_some());
    if occupied {
        bail!(
            "{} is not empty: choose a new folder for the handout",
            args.out.display()
        );
    }
    fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    // The folder exists now, so the walk can recognise it if it lies inside the kit.
    let files = handout::files(&root, &exercises, Some(&args.out))?;
    stage::write_files(&files, &args.out, std::time::SystemTime::now(), true)
        .with_context(|| format!("cannot write the handout to {}", args.out.display()))?;
    println!(
        "wrote the student handout to {} ({} files, {} exercises, no solutions)",
        args.out.display(),
        files.len(),
        exercises.len()
    );
    Ok(ExitCode::SUCCESS)
}
