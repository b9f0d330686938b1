//! `cargo lab grade`: score the exercises (or the solutions, or submissions) and report it as
//! a table, JSON, JUnit XML, Gradescope's `results.json` or a CSV gradebook.
//!
//! Exit code 0 whenever grading ran, whatever the score; 1 only when the grader itself could
//! not run (not in the kit, a bad `grading.toml`, an unknown exercise, no cargo, no sandbox
//! for a submission), so an LMS script can tell the two apart; 130 or 143 when SIGINT or
//! SIGTERM stopped it (the report so far is written, marked incomplete). Progress goes to
//! stderr, the report to stdout or `--out`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};
use lab_cli::grade::batch::{self, Base, BatchEvent, Kit, Submission};
use lab_cli::grade::csv::{self, Column};
use lab_cli::grade::json;
use lab_cli::grade::place::Place;
use lab_cli::grade::sandbox::Sandbox;
use lab_cli::grade::stage::TempDir;
use lab_cli::grade::{Config, Event, Graded, Isolation, Limits, Plan, gradescope, junit, table};
use lab_cli::process;
use signal_hook::consts::{SIGINT, SIGTERM};

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
    /// as timed out (building is not counted: see --build-timeout).
    #[arg(long, value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    timeout_per_exercise: u64,
    /// Stop building a submission after this many seconds (all its exercises build at once;
    /// an exercise not built by then did not compile); the review of its code by the kit's
    /// lints gets what is left of them. The kit's own dependencies are built before, once,
    /// and are not counted.
    #[arg(long, value_name = "SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..))]
    build_timeout: u64,
    /// Grade one submission (a copy of the kit, or just its exercises/) against this kit's
    /// graded tests, in a sandbox.
    #[arg(long, value_name = "DIR", conflicts_with = "batch")]
    submission: Option<PathBuf>,
    /// Grade every submission in DIR (one subfolder each) into one gradebook row each,
    /// each in its own sandbox. Rows are written as soon as each student is graded.
    #[arg(long, value_name = "DIR")]
    batch: Option<PathBuf>,
    /// With --batch and a CSV --out: keep the students already in that gradebook and grade
    /// only the others (after an interruption).
    #[arg(long, requires = "batch")]
    resume: bool,
    /// Grade submissions without a sandbox (where none can run: macOS, Windows, no
    /// bubblewrap). Their code then runs with your rights and can forge its results: only
    /// for code you trust. Every report says so.
    #[arg(long)]
    unsandboxed: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Table,
    Json,
    Junit,
    Gradescope,
    Csv,
}

/// How long building the kit in place may take: a cold build of the whole workspace takes
/// minutes on a small machine, and it is the kit's own code.
const IN_PLACE_BUILD: Duration = Duration::from_secs(30 * 60);

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let signals = Signals::watch()?;
    let result = grade(args, &signals);
    if process::interrupted() {
        // Interrupted: whatever could be written was; the exit code says why it stopped.
        if let Err(error) = result {
            eprintln!("grade: stopped: {error:#}");
        }
        return Ok(signals.exit_code());
    }
    result
}

fn grade(args: Args, signals: &Signals) -> anyhow::Result<ExitCode> {
    let (root, all) = super::kit()?;
    if args.solutions {
        super::refuse_in_students_copy(&root, "grade --solutions")?;
    }
    let selected = super::select(&all, &args.only)?;
    let config = Config::load(&root, &all)?;
    let limits = Limits {
        per_exercise: Duration::from_secs(args.timeout_per_exercise),
        build: Duration::from_secs(args.build_timeout),
    };
    let columns: Vec<Column> = selected
        .iter()
        .map(|e| Column {
            id: e.id().to_string(),
            max_points: config.points(e),
        })
        .collect();
    if args.resume && (args.out.is_none() || args.format.is_some_and(|f| f != Format::Csv)) {
        bail!("--resume needs --out with a CSV gradebook");
    }
    if args.batch.is_some()
        && !matches!(
            args.format.unwrap_or(Format::Csv),
            Format::Csv | Format::Json | Format::Table
        )
    {
        bail!("--batch writes csv, json or table");
    }

    let sandbox = if args.submission.is_some() || args.batch.is_some() {
        if args.unsandboxed {
            eprintln!(
                "warning: grading without a sandbox (--unsandboxed): the submissions' code runs \
                 with your rights and its results cannot be trusted"
            );
            None
        } else {
            Some(Sandbox::find().map_err(anyhow::Error::msg)?)
        }
    } else {
        None
    };
    let kit = Kit {
        root: &root,
        exercises: &all,
        only: &args.only,
        config: &config,
        limits,
        sandbox: sandbox.as_ref(),
        own_code: false,
    };

    if let Some(dir) = &args.batch {
        let format = args.format.unwrap_or(Format::Csv);
        let mut folders = batch::submissions(dir)?;
        // A CSV gradebook in a file gets each row as soon as its student is graded: an
        // interruption, a crash or an out-of-memory kill loses at most the row in progress.
        let mut gradebook = match (&args.out, format) {
            (Some(out), Format::Csv) if args.resume && out.exists() => {
                let done = csv::graded_students(out)?;
                folders.retain(|folder| !done.contains(&batch::student(folder)));
                eprintln!(
                    "resuming {}: {} student(s) already graded, {} to go",
                    out.display(),
                    done.len(),
                    folders.len()
                );
                Some(csv::GradebookWriter::append(out, &columns)?)
            }
            (Some(out), Format::Csv) => {
                if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
                    fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create {}", parent.display()))?;
                }
                Some(csv::GradebookWriter::create(out, &columns)?)
            }
            _ => None,
        };
        let mut submissions = Vec::new();
        if !folders.is_empty() {
            batch::grade_batch(
                &kit,
                &folders,
                &mut print_batch_progress,
                &mut |submission| {
                    if let Some(gradebook) = gradebook.as_mut() {
                        gradebook.write(submission)?;
                    }
                    submissions.push(submission.clone());
                    Ok(())
                },
            )?;
        }
        if gradebook.is_none() {
            let text = match format {
                Format::Csv => csv::gradebook(&columns, &submissions),
                Format::Json => json::batch(&submissions),
                _ => batch_table(&submissions),
            };
            write_report(args.out.as_deref(), &text)?;
        }
        return Ok(signals.exit_code());
    }

    let (report, name) = if let Some(submission) = &args.submission {
        if !submission.is_dir() {
            bail!("the submission {} is not a folder", submission.display());
        }
        let base = Base::prepare(&kit, &mut print_progress)?;
        let report = batch::grade_submission(&kit, &base, submission, &mut print_progress)?;
        (report, folder_name(submission))
    } else {
        let place = Place::in_place(&root, None);
        let scratch = TempDir::new("grade").context("cannot create a temporary folder")?;
        let plan = Plan {
            place: &place,
            exercises: &selected,
            graded: if args.solutions {
                Graded::Solutions
            } else {
                Graded::Exercises
            },
            config: &config,
            limits: Limits {
                build: IN_PLACE_BUILD,
                ..limits
            },
            listings: None,
            scratch: scratch.path(),
            isolation: Isolation::InPlace,
            unchanged: &std::collections::BTreeMap::new(),
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
            "grade: {} of {} points, {}/{} tests passed{}",
            report.points(),
            report.max_points(),
            report.passed(),
            report.total(),
            if report.complete {
                ""
            } else {
                " (interrupted: incomplete)"
            }
        );
    }
    Ok(signals.exit_code())
}

/// SIGINT and SIGTERM while grading: every child is stopped ([`process::interrupt`]), the
/// grading functions return what they have, the report is written (marked incomplete), and
/// the exit code says which signal came (130 or 143, as a shell would).
struct Signals {
    caught: Arc<[AtomicBool; 2]>,
}

const CAUGHT: [i32; 2] = [SIGINT, SIGTERM];

impl Signals {
    fn watch() -> anyhow::Result<Signals> {
        let caught: Arc<[AtomicBool; 2]> =
            Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
        for (index, signal) in CAUGHT.iter().enumerate() {
            let flag = Arc::new(AtomicBool::new(false));
            signal_hook::flag::register(*signal, flag.clone())
                .context("cannot install a signal handler")?;
            let caught = caught.clone();
            // A signal handler may only set a flag; this thread turns it into an
            // interruption of the grader.
            std::thread::spawn(move || {
                while !flag.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                caught[index].store(true, Ordering::SeqCst);
                process::interrupt();
                eprintln!("grade: interrupted: stopping the tests, writing what was graded");
            });
        }
        Ok(Signals { caught })
    }

    fn exit_code(&self) -> ExitCode {
        for (index, signal) in CAUGHT.iter().enumerate() {
            if self.caught[index].load(Ordering::SeqCst) {
                return ExitCode::from((128 + signal) as u8);
            }
        }
        ExitCode::SUCCESS
    }
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
        Event::Preparing => eprintln!(
            "{indent}preparing the kit's own build, which every submission starts from (the \
             first time takes a few minutes) …"
        ),
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
            if matches!(event, Event::Finished { .. } | Event::Preparing) {
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
