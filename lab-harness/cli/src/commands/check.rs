//! `cargo lab check`: the kit verifies itself.
//!
//! For every exercise found under `exercises/`: its solution passes every graded test; its
//! skeleton builds without warnings; no graded test passes on the skeleton, each failing
//! with "not yet implemented" (a test that passes on a `todo!()` checks nothing); and every
//! known mistake of its catalogue (`mistakes/`, see [`lab_cli::mistakes`]) is caught, named
//! in its failure message, and reported in time. One line per exercise, then a summary; exit
//! code 1 if anything is wrong.

use std::collections::VecDeque;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::sync::{Condvar, Mutex, MutexGuard};
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
    let catalogues = Catalogues::load(&root, &all, &config, &exercises, &args.mistakes);
    let base = catalogues.base()?;
    // The known mistakes are graded in the background, all exercises' in one queue, while
    // this thread checks each exercise's skeleton and solution in order and reports it once
    // its mistakes are judged.
    let sizes: Vec<usize> = catalogues
        .lists
        .iter()
        .map(|list| list.as_ref().map_or(0, Vec::len))
        .collect();
    let queue = Queue::new(&sizes);
    let (catalogues, queue) = (&catalogues, &queue);
    thread::scope(|scope| {
        if let Some(base) = &base {
            for _ in 0..jobs.min(queue.total()) {
                // Counted in before it starts, so that no report misses it.
                let job = queue.job();
                scope.spawn(move || {
                    let _job = job;
                    catalogues.grade_from(queue, base);
                });
            }
        }
        // Whatever happens here, the jobs stop taking mistakes once it is over.
        let _stop = StopOnDrop(queue);
        let mut broken = 0;
        for (index, exercise) in exercises.iter().enumerate() {
            eprintln!("checking {} …", exercise.folder);
            let started = Instant::now();
            let mut report = check_exercise(&root, exercise)?;
            let own_tests = started.elapsed();
            catalogues.report(index, queue.wait_for(index), &mut report);
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
    })
}

/// The known mistakes of the exercises checked, each graded as a submission would be (the
/// same per-test processes and verdicts), in place of the student's code. The kit's own
/// code: no sandbox.
struct Catalogues<'a> {
    root: &'a Path,
    exercises: &'a [Exercise],
    config: &'a Config,
    /// The exercises checked, in order.
    checked: &'a [Exercise],
    /// Per exercise checked: its mistakes (those asked for), or why they cannot be read.
    lists: Vec<anyhow::Result<Vec<mistakes::Mistake>>>,
}

impl<'a> Catalogues<'a> {
    fn load(
        root: &'a Path,
        exercises: &'a [Exercise],
        config: &'a Config,
        checked: &'a [Exercise],
        names: &[String],
    ) -> Self {
        let lists = checked
            .iter()
            .map(|exercise| {
                // Without a solution there is nothing to apply a mistake to (and the
                // exercise's own check says the solution is missing).
                if exercise.solution.is_none() {
                    return Ok(Vec::new());
                }
                let mut catalogue = mistakes::catalogue(exercise)?;
                if !names.is_empty() {
                    catalogue.retain(|m| names.contains(&m.name));
                }
                Ok(catalogue)
            })
            .collect();
        Catalogues {
            root,
            exercises,
            config,
            checked,
            lists,
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

    /// The base every workbench starts from, built for the first exercise with mistakes
    /// (a workbench builds the others itself); none when there is no mistake to grade.
    fn base(&self) -> anyhow::Result<Option<Base>> {
        let first = self
            .lists
            .iter()
            .position(|list| list.as_ref().is_ok_and(|l| !l.is_empty()));
        let Some(first) = first else {
            return Ok(None);
        };
        eprintln!("building the handout the known mistakes are graded in …");
        let only = vec![self.checked[first].id().to_string()];
        Ok(Some(Base::prepare(&self.kit(&only), &mut |_| {})?))
    }

    /// One job: grades mistakes from `queue` in a workbench of its own until none is left.
    fn grade_from(&self, queue: &Queue, base: &Base) {
        let mut bench: Option<Workbench> = None;
        let mut current = None;
        while let Some((exercise, mistake)) = queue.take(current) {
            current = Some(exercise);
            let judgement = self.grade_one(&mut bench, base, exercise, mistake);
            queue.done(exercise, mistake, judgement);
        }
    }

    fn grade_one(
        &self,
        bench: &mut Option<Workbench>,
        base: &Base,
        exercise: usize,
        mistake: usize,
    ) -> anyhow::Result<mistakes::Judgement> {
        let checked = &self.checked[exercise];
        let mistake = match &self.lists[exercise] {
            Ok(list) => &list[mistake],
            Err(_) => bail!("no catalogue"),
        };
        let solution = checked.solution.as_ref().context("no solution")?;
        let only = vec![checked.id().to_string()];
        let kit = self.kit(&only);
        let staged = TempDir::new("mistake").context("cannot create a temporary folder")?;
        mistakes::stage(mistake, checked, &solution.dir, staged.path())?;
        let bench = match bench {
            Some(bench) => bench,
            None => bench.insert(Workbench::new(&kit, base)?),
        };
        let mut graded = bench.grade(&kit, base, staged.path(), &mut |_| {})?;
        let judgement = mistakes::judge(mistake, &graded);
        if judgement.problems.is_empty() {
            // The tests alone catch and name it: a review could add comments, not problems.
            return Ok(judgement);
        }
        // What no test sees on loopback (a `write` whose count is ignored) clippy's review
        // names, as it would in the student's report.
        bench.review(&kit, &mut graded)?;
        Ok(mistakes::judge(mistake, &graded))
    }

    /// Adds what the mistakes of exercise `index` gave to its report.
    fn report(&self, index: usize, judged: Judged, report: &mut Report) {
        let catalogue = match &self.lists[index] {
            Ok(catalogue) if catalogue.is_empty() => return,
            Ok(catalogue) => catalogue,
            Err(error) => {
                report.problems.push(format!("{error:#}"));
                return;
            }
        };
        let mut named = 0;
        let mut slowest = Duration::ZERO;
        for (mistake, judgement) in catalogue.iter().zip(judged) {
            let judgement = match judgement {
                Some(Ok(judgement)) => judgement,
                Some(Err(error)) => {
                    report
                        .problems
                        .push(format!("mistake {}: {error:#}", mistake.name));
                    continue;
                }
                None => {
                    report.problems.push(format!(
                        "mistake {}: not graded (a job of the check stopped)",
                        mistake.name
                    ));
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
    }
}

/// What each mistake of one exercise gave, in catalogue order (`None`: never graded).
type Judged = Vec<Option<anyhow::Result<mistakes::Judgement>>>;

/// The mistakes still to grade and those judged, shared by the jobs and the thread that
/// reports.
///
/// A job stays on one exercise while it has mistakes left: a workbench's first build of an
/// exercise compiles it whole (cargo's incremental cache is tied to the workbench's folder,
/// so a copy of another's does not help), about twice a later one (4 processor-seconds for
/// ex08's library, server and graded tests, against 2). Handing out the mistakes exercise by
/// exercise to every job made each of them build every exercise.
struct Queue {
    state: Mutex<QueueState>,
    changed: Condvar,
}

struct QueueState {
    /// Per exercise: the mistakes no job has taken yet, in catalogue order.
    pending: Vec<VecDeque<usize>>,
    /// Per exercise: how many jobs are on it.
    working: Vec<usize>,
    judged: Vec<Judged>,
    /// Jobs still running: a job that stopped (a panic) must not leave the report waiting.
    jobs: usize,
    stopped: bool,
}

impl Queue {
    /// A queue of `sizes[e]` mistakes for each exercise `e`.
    fn new(sizes: &[usize]) -> Queue {
        Queue {
            state: Mutex::new(QueueState {
                pending: sizes.iter().map(|&n| (0..n).collect()).collect(),
                working: vec![0; sizes.len()],
                judged: sizes
                    .iter()
                    .map(|&n| (0..n).map(|_| None).collect())
                    .collect(),
                jobs: 0,
                stopped: false,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn total(&self) -> usize {
        self.lock().pending.iter().map(VecDeque::len).sum()
    }

    /// The next mistake for a job last on exercise `current`: another of the same while
    /// there is one; otherwise the first exercise no job is on yet (so that reports come in
    /// order); otherwise help with the exercise that has most left, if that is worth a first
    /// build: when each job on it, this one included, still has two mistakes or more.
    fn take(&self, current: Option<usize>) -> Option<(usize, usize)> {
        let mut state = self.lock();
        if state.stopped {
            return None;
        }
        if let Some(exercise) = current
            && let Some(mistake) = state.pending[exercise].pop_front()
        {
            return Some((exercise, mistake));
        }
        let exercises = 0..state.pending.len();
        let next = exercises
            .clone()
            .find(|&e| state.working[e] == 0 && !state.pending[e].is_empty())
            .or_else(|| {
                exercises
                    .filter(|&e| state.pending[e].len() >= 2 * (state.working[e] + 1))
                    .max_by_key(|&e| (state.pending[e].len(), std::cmp::Reverse(e)))
            });
        if let Some(exercise) = current {
            state.working[exercise] -= 1;
        }
        let exercise = next?;
        state.working[exercise] += 1;
        let mistake = state.pending[exercise].pop_front()?;
        Some((exercise, mistake))
    }

    /// Records what grading mistake `mistake` of exercise `exercise` gave.
    fn done(
        &self,
        exercise: usize,
        mistake: usize,
        judgement: anyhow::Result<mistakes::Judgement>,
    ) {
        self.lock().judged[exercise][mistake] = Some(judgement);
        self.changed.notify_all();
    }

    /// Waits until every mistake of exercise `index` is judged (or no job is left to judge
    /// the rest), and hands over the judgements.
    fn wait_for(&self, index: usize) -> Judged {
        let mut state = self.lock();
        while state.jobs > 0 && state.judged[index].iter().any(Option::is_none) {
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        std::mem::take(&mut state.judged[index])
    }

    /// Counts a job in until the returned guard is dropped, even by a panic: the report
    /// never waits for a job that has stopped.
    fn job(&self) -> JobGuard<'_> {
        self.lock().jobs += 1;
        JobGuard(self)
    }
}

struct JobGuard<'a>(&'a Queue);

impl Drop for JobGuard<'_> {
    fn drop(&mut self) {
        self.0.lock().jobs -= 1;
        self.0.changed.notify_all();
    }
}

/// Stops the jobs from taking more mistakes when the check ends, by an error or not.
struct StopOnDrop<'a>(&'a Queue);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.lock().stopped = true;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_stays_on_its_exercise_and_helps_only_where_it_pays() {
        let queue = Queue::new(&[3, 0, 8]);
        // Two jobs start on the two exercises with mistakes, in order.
        assert_eq!(queue.take(None), Some((0, 0)));
        assert_eq!(queue.take(None), Some((2, 0)));
        // A third helps with exercise 2: 7 left, at least 2 each for its two jobs.
        assert_eq!(queue.take(None), Some((2, 1)));
        // Each stays where it is while there is something left.
        assert_eq!(queue.take(Some(0)), Some((0, 1)));
        assert_eq!(queue.take(Some(0)), Some((0, 2)));
        // Exercise 0 is done; exercise 2 has 6 left for two jobs: a third may join.
        assert_eq!(queue.take(Some(0)), Some((2, 2)));
        for mistake in 3..7 {
            assert_eq!(queue.take(Some(2)), Some((2, mistake)));
        }
        // One left for three jobs: not worth a first build elsewhere, nor here.
        assert_eq!(queue.take(None), None);
        assert_eq!(queue.take(Some(2)), Some((2, 7)));
        assert_eq!(queue.take(Some(2)), None);
    }

    #[test]
    fn the_report_waits_for_every_judgement_or_for_no_job_left() {
        let queue = Queue::new(&[2]);
        let job = queue.job();
        thread::scope(|scope| {
            scope.spawn(|| {
                let _job = job;
                let mut current = None;
                while let Some((exercise, mistake)) = queue.take(current) {
                    current = Some(exercise);
                    let judgement = mistakes::Judgement {
                        problems: Vec::new(),
                        took: Duration::from_millis(mistake as u64),
                    };
                    queue.done(exercise, mistake, Ok(judgement));
                }
            });
            let judged = queue.wait_for(0);
            assert_eq!(judged.len(), 2);
            assert!(judged.iter().all(|j| j.as_ref().is_some_and(|j| j.is_ok())));
        });
        // A job that stopped before judging leaves its mistakes unjudged, not a report
        // that waits forever.
        let queue = Queue::new(&[1]);
        drop(queue.job());
        assert!(queue.wait_for(0)[0].is_none());
    }
}
