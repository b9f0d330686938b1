//! `cargo lab check`: the kit verifies itself.
//!
//! For every exercise found under `exercises/`: its solution passes every graded test; its
//! skeleton builds without warnings; no graded test passes on the skeleton, each failing
//! with "not yet implemented" (a test that passes on a `todo!()` checks nothing); and every
//! known mistake of its catalogue (`mistakes/`, see [`lab_cli::mistakes`]) is caught, named
//! in its failure message, and reported in time. One line per exercise, then a summary; exit
//! code 1 if anything is wrong.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lab_cli::grade::batch::{Base, Kit, Workbench};
use lab_cli::grade::run::first_compile_error;
use lab_cli::grade::stage::TempDir;
use lab_cli::grade::test_targets;
use lab_cli::grade::{Config, Limits};
use lab_cli::libtest::{self, Outcome, TestCase};
use lab_cli::mistakes;
use lab_cli::process::{Watched, run_watched};
use lab_cli::workspace::Exercise;

/// A cold build of the workspace takes a few minutes on a small machine; a test run that is
/// still going after this long is hung.
const CARGO_LIMIT: Duration = Duration::from_secs(15 * 60);

#[derive(clap::Args)]
pub struct Args {
    /// Check only these exercises, e.g. `--only ex01,ex03`.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Check only these mistakes of the catalogues (by file name, e.g. `no-flush`).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    mistakes: Vec<String>,
    /// Grade this many mistakes at once (default: two per core, at most 8). A wrong answer
    /// spends much of its time waiting on its tests' deadlines, not computing.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: Option<u16>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (root, all) = super::kit()?;
    super::refuse_in_students_copy(&root, "check")?;
    let exercises = super::select(&all, &args.only)?;

    let config = Config::load(&root, &all)?;
    let jobs = args.jobs.map_or_else(
        || (2 * std::thread::available_parallelism().map_or(1, |n| n.get())).min(8),
        usize::from,
    );
    let mut catalogues = Catalogues::new(&root, &all, &config, jobs);
    let mut broken = 0;
    for exercise in &exercises {
        eprintln!("checking {} …", exercise.folder);
        let started = Instant::now();
        let mut report = check_exercise(&root, exercise)?;
        let own_tests = started.elapsed();
        catalogues.check(exercise, &args.mistakes, &mut report)?;
        report.facts.push(format!(
            "{:.0} s ({:.0} s skeleton and solution)",
            started.elapsed().as_secs_f64(),
            own_tests.as_secs_f64()
        ));
        if report.problems.is_empty() {
            println!("{:<6} ok       {}", exercise.id(), report.facts.join(" · "));
        } else {
            broken += 1;
            println!("{:<6} PROBLEM  {}", exercise.id(), report.facts.join(" · "));
            for problem in &report.problems {
                println!("         - {problem}");
            }
        }
    }
    if broken == 0 {
        println!("check: {} exercises, all consistent", exercises.len());
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "check: {broken} of {} exercises have problems",
            exercises.len()
        );
        Ok(ExitCode::FAILURE)
    }
}

/// The mistakes of the catalogues, each graded as a submission would be (the same per-test
/// processes and verdicts), in place of the student's code. The kit's own code: no sandbox.
struct Catalogues<'a> {
    root: &'a Path,
    exercises: &'a [Exercise],
    config: &'a Config,
    /// Built on first use: checking an exercise without mistakes costs nothing.
    base: Option<Base>,
    /// One staging area per job (as many as mistakes are graded at once), made on first use
    /// and kept for every later mistake of every exercise: each mistake then costs the
    /// rebuild of its own exercise only.
    benches: Vec<Mutex<Option<Workbench>>>,
}

impl<'a> Catalogues<'a> {
    fn new(root: &'a Path, exercises: &'a [Exercise], config: &'a Config, jobs: usize) -> Self {
        Catalogues {
            root,
            exercises,
            config,
            base: None,
            benches: (0..jobs).map(|_| Mutex::new(None)).collect(),
        }
    }

    fn kit<'b>(&'b self, only: &'b [String]) -> Kit<'b> {
        Kit {
            root: self.root,
            exercises: self.exercises,
            only,
            config: self.config,
            limits: Limits {
                // A little over the budget, so that a slow mistake is measured, not cut.
                per_exercise: mistakes::BUDGET + Duration::from_secs(10),
                ..Limits::default()
            },
            sandbox: None,
            own_code: true,
        }
    }

    fn check(
        &mut self,
        exercise: &Exercise,
        names: &[String],
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let mut catalogue = mistakes::catalogue(exercise)?;
        if !names.is_empty() {
            catalogue.retain(|m| names.contains(&m.name));
        }
        if catalogue.is_empty() {
            return Ok(());
        }
        let Some(solution) = &exercise.solution else {
            return Ok(());
        };
        let only = vec![exercise.id().to_string()];
        if self.base.is_none() {
            self.base = Some(Base::prepare(&self.kit(&only), &mut |_| {})?);
        }
        let base = self.base.as_ref().expect("prepared above");
        let kit = self.kit(&only);
        // Each job grades in a workbench of its own, so several mistakes are graded at once;
        // their results are reported in catalogue order.
        let grade_one = |bench: &mut Option<Workbench>,
                         mistake: &mistakes::Mistake|
         -> anyhow::Result<mistakes::Judgement> {
            let staged = TempDir::new("mistake").context("cannot create a temporary folder")?;
            mistakes::stage(mistake, exercise, &solution.dir, staged.path())?;
            let bench = match bench {
                Some(bench) => bench,
                None => bench.insert(Workbench::new(&kit, base)?),
            };
            let graded = bench.grade(&kit, base, staged.path(), &mut |_| {})?;
            Ok(mistakes::judge(mistake, &graded))
        };
        let next = AtomicUsize::new(0);
        let judged = Mutex::new(Vec::with_capacity(catalogue.len()));
        thread::scope(|scope| {
            for bench in self.benches.iter().take(catalogue.len()) {
                scope.spawn(|| {
                    let mut bench = bench.lock().unwrap_or_else(|p| p.into_inner());
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(mistake) = catalogue.get(index) else {
                            break;
                        };
                        let judgement = grade_one(&mut bench, mistake);
                        judged
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push((index, judgement));
                    }
                });
            }
        });
        let mut judged = judged.into_inner().unwrap_or_else(|p| p.into_inner());
        judged.sort_by_key(|(index, _)| *index);
        let mut named = 0;
        let mut slowest = Duration::ZERO;
        for (index, judgement) in judged {
            let mistake = &catalogue[index];
            let judgement = match judgement {
                Ok(judgement) => judgement,
                Err(error) => {
                    report
                        .problems
                        .push(format!("mistake {}: {error:#}", mistake.name));
                    continue;
                }
            };
            slowest = slowest.max(judgement.took);
            if judgement.problems.is_empty() {
                named += 1;
            }
            for problem in judgement.problems {
                report.problems.push(format!(
                    "mistake {} ({}): {problem}",
                    mistake.name, mistake.about
                ));
            }
        }
        report.facts.push(format!(
            "mistakes: {named}/{} caught and named, the slowest in {:.1} s",
            catalogue.len(),
            slowest.as_secs_f64()
        ));
        Ok(())
    }
}

#[derive(Default)]
struct Report {
    facts: Vec<String>,
    problems: Vec<String>,
}

fn check_exercise(root: &Path, exercise: &Exercise) -> anyhow::Result<Report> {
    let mut report = Report::default();
    if exercise.tests.is_empty() {
        report
            .problems
            .push(format!("{}/tests has no graded test file", exercise.folder));
        return Ok(report);
    }

    // The skeleton, graded test files only (doc-tests are not graded).
    let skeleton = cargo_test(root, &exercise.package, &graded_targets(exercise))?;
    let skeleton_cases = libtest::parse(&skeleton.stdout);
    if let Some(error) = compile_error(&skeleton) {
        report
            .problems
            .push(format!("the skeleton does not compile: {error}"));
    } else {
        report_warnings(&mut report, "skeleton", &skeleton, root, exercise);
        check_skeleton_cases(&mut report, &skeleton_cases);
    }

    match &exercise.solution {
        None => report
            .problems
            .push(format!("no solution in solutions/{}", exercise.folder)),
        Some(solution) => {
            // The graded test files only, as for the skeleton: the solution's own unit tests
            // (a program's argument parser) are not graded, and must not be counted as if they were.
            let run = cargo_test(root, &solution.package, &graded_targets(exercise))?;
            if let Some(error) = compile_error(&run) {
                report
                    .problems
                    .push(format!("the solution does not compile: {error}"));
            } else {
                report_warnings(&mut report, "solution", &run, root, exercise);
                check_solution_cases(&mut report, &libtest::parse(&run.stdout), &skeleton_cases);
            }
        }
    }
    Ok(report)
}

fn graded_targets(exercise: &Exercise) -> Vec<String> {
    test_targets(exercise)
        .into_iter()
        .flat_map(|stem| ["--test".to_string(), stem])
        .collect()
}

fn cargo_test(root: &Path, package: &str, extra: &[String]) -> anyhow::Result<Watched> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args([
            "test",
            "-p",
            package,
            "--no-fail-fast",
            "--message-format",
            "short",
        ])
        .args(extra);
    let finished = run_watched(command, CARGO_LIMIT)
        .with_context(|| format!("cannot run cargo test -p {package}"))?;
    if finished.killed() {
        bail!("cargo test -p {package} did not finish within {CARGO_LIMIT:?}");
    }
    Ok(finished)
}

/// The first compiler error, if the build failed.
fn compile_error(run: &Watched) -> Option<String> {
    if !run.stderr.contains("could not compile") {
        return None;
    }
    // Read as the grader reads it (a warning that mentions "error" is not the error).
    Some(first_compile_error(&run.stderr).unwrap_or_else(|| "(no message)".to_string()))
}

fn report_warnings(
    report: &mut Report,
    what: &str,
    run: &Watched,
    root: &Path,
    exercise: &Exercise,
) {
    // Only warnings in this exercise's own files count (short format: `path:line:col: warning:`).
    let own = |line: &&str| {
        let path = line.split(':').next().unwrap_or("");
        let path = Path::new(path);
        let path = path.strip_prefix(root).unwrap_or(path);
        line.contains(": warning:")
            && (path.starts_with(Path::new("exercises").join(&exercise.folder))
                || path.starts_with(Path::new("solutions").join(&exercise.folder)))
    };
    let warnings: Vec<&str> = run.stderr.lines().filter(own).collect();
    if warnings.is_empty() {
        report.facts.push(format!("{what} builds without warnings"));
    } else {
        report.problems.push(format!(
            "the {what} builds with {} warning(s), first: {}",
            warnings.len(),
            warnings[0]
        ));
    }
}

fn check_skeleton_cases(report: &mut Report, cases: &[TestCase]) {
    if cases.is_empty() {
        report
            .problems
            .push("the graded tests ran no test on the skeleton".into());
        return;
    }
    let not_started = cases.iter().filter(|c| c.not_started()).count();
    report.facts.push(format!(
        "skeleton: {not_started}/{} not yet implemented",
        cases.len()
    ));
    for case in cases {
        match case.outcome {
            Outcome::Passed => report.problems.push(format!(
                "`{}` passes on the skeleton: it checks nothing the student writes",
                case.name
            )),
            Outcome::Ignored => report
                .problems
                .push(format!("`{}` is ignored, so it is never graded", case.name)),
            Outcome::Failed if !case.not_started() => report.problems.push(format!(
                "`{}` fails on the skeleton but not with \"not yet implemented\": {}",
                case.name,
                first_line(&case.message())
            )),
            Outcome::Failed => {}
        }
    }
}

fn check_solution_cases(report: &mut Report, cases: &[TestCase], graded: &[TestCase]) {
    let passed = cases
        .iter()
        .filter(|c| c.outcome == Outcome::Passed)
        .count();
    report
        .facts
        .push(format!("solution: {passed}/{} passed", cases.len()));
    for case in cases.iter().filter(|c| c.outcome != Outcome::Passed) {
        report.problems.push(format!(
            "the solution fails `{}`: {}",
            case.name,
            first_line(&case.message())
        ));
    }
    // Both packages compile the same test file, so every graded test must run on both.
    for case in graded {
        if !cases.iter().any(|c| c.name == case.name) {
            report.problems.push(format!(
                "graded test `{}` does not run against the solution (is the solution's [[test]] \
                 path pointing at the exercise's test file?)",
                case.name
            ));
        }
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}
