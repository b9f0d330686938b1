//! `cargo lab check`: the kit verifies itself.
//!
//! For every exercise found under `exercises/`: its solution passes every graded test; its
//! skeleton builds without warnings; and no graded test passes on the skeleton, each failing
//! with "not yet implemented" (a test that passes on a `todo!()` checks nothing). One line per
//! exercise, then a summary; exit code 1 if anything is wrong.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context, bail};
use lab_cli::grade::run::first_compile_error;
use lab_cli::grade::test_targets;
use lab_cli::libtest::{self, Outcome, TestCase};
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
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (root, all) = super::kit()?;
    let exercises = super::select(&all, &args.only)?;

    let mut broken = 0;
    for exercise in &exercises {
        eprintln!("checking {} …", exercise.folder);
        let report = check_exercise(&root, exercise)?;
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
            let run = cargo_test(root, &solution.package, &[])?;
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
