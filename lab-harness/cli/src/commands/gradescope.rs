//! `cargo lab gradescope-package --out autograder.zip`: the Gradescope autograder.
//!
//! The zip holds `setup.sh`, `run_autograder` and the student handout of the kit; see
//! `lab_cli::grade::package` for what the scripts do.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use lab_cli::grade::package::{self, Options};
use lab_cli::workspace::Exercise;

#[derive(clap::Args)]
pub struct Args {
    /// Where to write the package.
    #[arg(long, value_name = "PATH", default_value = "autograder.zip")]
    out: PathBuf,
    /// Grade only these exercises, e.g. `--only ex01,ex02` for the first assignment.
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    only: Vec<String>,
    /// Passed to the grader: stop an exercise's tests after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    timeout_per_exercise: u64,
    /// The Rust toolchain setup.sh installs (default: the version building the kit here).
    #[arg(long, value_name = "VERSION")]
    toolchain: Option<String>,
    /// Grade without the bubblewrap sandbox, for an image that cannot make user namespaces:
    /// Gradescope's fresh container per submission is then the only isolation, and a
    /// submission could forge its own results.
    #[arg(long)]
    unsandboxed: bool,
    /// Package the last commit even though files have uncommitted changes (they are left
    /// out) rather than refusing.
    #[arg(long)]
    ignore_uncommitted: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (root, exercises) = super::kit()?;
    super::refuse_in_students_copy(&root, "gradescope-package")?;
    for id in &args.only {
        if !exercises.iter().any(|e| e.id() == id || e.folder == *id) {
            let ids: Vec<&str> = exercises.iter().map(Exercise::id).collect();
            bail!(
                "no exercise `{id}` in this kit (exercises: {})",
                ids.join(", ")
            );
        }
    }
    let options = Options {
        only: args.only,
        timeout_per_exercise: args.timeout_per_exercise,
        toolchain: args.toolchain.unwrap_or_else(package::local_toolchain),
        unsandboxed: args.unsandboxed,
        ignore_uncommitted: args.ignore_uncommitted,
    };
    let zip = package::build(&root, &options)?;
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    fs::write(&args.out, &zip).with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "wrote {} ({} KiB): setup.sh, run_autograder and the last commit's skeletons, no solutions (Rust {})",
        args.out.display(),
        zip.len().div_ceil(1024),
        options.toolchain
    );
    Ok(ExitCode::SUCCESS)
}
