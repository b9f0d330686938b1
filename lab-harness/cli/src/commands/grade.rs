//! `cargo lab grade`: score the exercises (or the solutions, or submissions) and report it as
//! a table, JSON, JUnit XML, Gradescope's `results.json` or a CSV gradebook.
//!
//! Exit code 0 whenever grading ran, whatever the score; non-zero only when the grader itself
//! could not run (not in the kit, a bad `grading.toml`, an unknown exercise, no cargo), so an
//! LMS script can tell the two apart. Progress goes to stderr, the report to stdout or
//! `--out`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use lab_cli::grade::batch::{self, BatchEvent, Kit, Submission};
use lab_cli::grade::csv::{self, Column};
use lab_cli::grade::json;
use lab_cli::grade::{Config, Event, Graded, Limits, Plan, gradescope, junit, table};

#[derive(clap::Args)]
pub struct Args {
    /// Grade the reference solutions instead of the exercises (they must score 100%).
    #[arg(long, conflicts_with_all = ["batch", "submission"])]
    solutions: bool,
    /// Grade only these exercises, e.g. `--only ex03,ex04`.
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    only: Vec<String>,
    /// The report's format: table (the default), json, junit, gradescope, or csv (the
    /// default with --batch).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Write the report to this file instead of stdout.
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Stop an exercise's tests after this many seconds; a test still running then counts
    /// as timed out (building is not counted).
    #[arg(long, value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    timeout_per_exercise: u64,
    /// Grade one submission (a copy of the kit, or just its exercises/) against this kit's
    /// graded tests.
    #[arg(long, value_name = "DIR", conflicts_with = "batch")]
    submission: Option<PathBuf>,
    /// Grade every submission in DIR (one subfolder each) into one gradebook row each.
    #[arg(long, value_name = "DIR")]
    batch: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Table,
    Json,
    Junit,
    Gradescope,
    Csv,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (root, all) = super::kit()?;
    let selected = super::select(&all, &args.only)?;
    let config = Config::load(&root, &all)?;
    let limits = Limits {
        per_exercise: Duration::from_secs(args.timeout_per_exercise),
        ..Limits::default()
    };
    let columns: Vec<Column> = selected
        .iter()
        .map(|e| Column {
            id: e.id().to_string(),
            max_points: config.points(e),
        })
        .collect();
    let kit = Kit {
        root: &root,
        exercises: &all,
        only: &args.only,
        config: &config,
        limits,
    };

    if let Some(dir) = &args.batch {
        let format = args.format.unwrap_or(Format::Csv);
        if !matches!(format, Format::Csv | Format::Json | Format::Table) {
            bail!("--batch writes csv, json or table");
        }
        let submissions = batch::grade_batch(&kit, dir, &mut print_batch_progress)?;
        let text = match format {
            Format::Csv => csv::gradebook(&columns, &submissions),
            Format::Json => json::batch(&submissions),
            _ => batch_table(&submissions),
        };
        write_report(args.out.as_deref(), &text)?;
        return Ok(ExitCode::SUCCESS);
    }

    let (report, name) = if let Some(submission) = &args.submission {
        let report = batch::grade_submission(&kit, submission, &mut print_progress)?;
        (report, folder_name(submission))
    } else {
        let plan = Plan {
            root: &root,
            exercises: &selected,
            graded: if args.solutions {
                Graded::Solutions
            } else {
                Graded::Exercises
            },
            config: &config,
            limits,
            target_dir: None,
            skeletons_from: None,
            lean_builds: false,
        };
        let report = lab_cli::grade::grade(&plan, &mut print_progress)?;
        (report, folder_name(&root))
    };
    let text = match args.format.unwrap_or(Format::Table) {
        Format::Table => table::report(&report),
        Format::Json => json::report(&report),
        Format::Junit => junit::report(&report),
        Format::Gradescope => gradescope::report(&report),
        Format::Csv => csv::single(&name, &columns, &report),
    };
    write_report(args.out.as_deref(), &text)?;
    if args.out.is_some() {
        eprintln!(
            "grade: {} of {} points, {}/{} tests passed",
            report.points(),
            report.max_points(),
            report.passed(),
            report.total()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn folder_name(path: &Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn write_report(out: Option<&Path>, text: &str) -> anyhow::Result<()> {
    match out {
        None => print!("{text}"),
        Some(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(())
}

fn print_progress(event: Event) {
    progress_line("", event);
}

fn progress_line(indent: &str, event: Event) {
    match event {
        Event::Building { exercises } => eprintln!(
            "{indent}building {exercises} exercise(s) (a cold build takes a few minutes) …"
        ),
        Event::Started {
            index,
            count,
            exercise,
        } => eprintln!("{indent}[{}/{count}] {} …", index + 1, exercise.folder),
        Event::Finished {
            index,
            count,
            result,
        } => eprintln!(
            "{indent}[{}/{count}] {}",
            index + 1,
            table::progress_line(result)
        ),
    }
}

fn print_batch_progress(event: BatchEvent) {
    match event {
        BatchEvent::Started {
            index,
            count,
            student,
        } => eprintln!("({}/{count}) {student}", index + 1),
        BatchEvent::Exercise(event) => {
            // Only the result lines: a class's worth of "started" lines is noise.
            if matches!(event, Event::Finished { .. }) {
                progress_line("    ", event);
            }
        }
        BatchEvent::Finished {
            index,
            count,
            submission,
            seconds,
        } => match &submission.outcome {
            Ok(report) => eprintln!(
                "({}/{count}) {}: {} of {} points, {seconds:.1} s",
                index + 1,
                submission.student,
                report.points(),
                report.max_points()
            ),
            Err(reason) => eprintln!(
                "({}/{count}) {}: not graded: {reason}",
                index + 1,
                submission.student
            ),
        },
    }
}

fn batch_table(submissions: &[Submission]) -> String {
    let width = submissions
        .iter()
        .map(|s| s.student.chars().count())
        .max()
        .unwrap_or(0)
        .max("student".len());
    let mut out = format!("{:<width$}  score\n", "student");
    for submission in submissions {
        let score = match &submission.outcome {
            Ok(report) => {
                let mut score = format!(
                    "{} / {}",
                    report.points().fixed(),
                    report.max_points().fixed()
                );
                // The gradebook's flags, in words: a partial or untrusted score.
                if !report.complete {
                    score.push_str("  (incomplete: grading was interrupted)");
                }
                if report.isolation.warning().is_some() {
                    score.push_str(&format!("  ({})", report.isolation.key()));
                }
                score
            }
            Err(reason) => format!("not graded: {reason}"),
        };
        out.push_str(&format!("{:<width$}  {score}\n", submission.student));
    }
    out
}
