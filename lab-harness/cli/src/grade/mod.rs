//! `cargo lab grade`: a grader that never hangs, explains, and speaks the formats graders use.
//!
//! Every exercise found under `exercises/` is graded by its own graded test files (never a
//! copy the student could change). Each graded test ends [`Status::Passed`],
//! [`Status::Failed`] with the test's own message (the hint), [`Status::NotStarted`] (still a
//! `todo!()`), [`Status::TimedOut`] (a watchdog deadline, or stopped at the exercise's time
//! limit), or the whole exercise [`Status::DidNotCompile`]. Points come from `grading.toml`
//! ([`config`]) and are split over an exercise's tests ([`points`]).
//!
//! - [`build`]: one cargo build of every graded test binary; [`run`]: each graded test in
//!   its own process, its verdict from libtest's log ([`verdict`]), never from its output.
//! - [`place`]: where that happens: the kit in place, or a staged submission ([`stage`]),
//!   in a bubblewrap [`sandbox`]; [`batch`] grades one submission or a class of them.
//! - [`table`], [`json`], [`junit`], [`gradescope`], [`csv`]: the report formats.
//! - [`handout`]: the students' copy of the kit (no solutions); [`package`] wraps it into a
//!   Gradescope autograder.

pub mod batch;
pub mod build;
pub mod committed;
pub mod config;
pub mod csv;
pub mod gradescope;
pub mod handout;
pub mod json;
pub mod junit;
pub mod package;
pub mod place;
pub mod points;
pub mod run;
pub mod sandbox;
pub mod stage;
pub mod table;
pub mod verdict;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

pub use config::Config;
pub use points::Points;
pub use run::Limits;

use crate::process;
use crate::workspace::Exercise;
use build::Build;
use place::Place;
use run::RawResult;

/// How one graded test ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    Passed,
    /// Failed with the test's message.
    Failed,
    /// Failed with "not yet implemented": the `todo!()` is still there.
    NotStarted,
    /// A watchdog deadline passed, or the test was still running at the time limit.
    TimedOut,
    /// The exercise (or this test file against it) does not build.
    DidNotCompile,
}

impl Status {
    /// The machine-readable name: `passed`, `failed`, `not_started`, `timed_out`,
    /// `did_not_compile`.
    pub fn key(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::NotStarted => "not_started",
            Status::TimedOut => "timed_out",
            Status::DidNotCompile => "did_not_compile",
        }
    }

    /// The status whose [`Status::key`] is `key`.
    pub fn from_key(key: &str) -> Option<Status> {
        [
            Status::Passed,
            Status::Failed,
            Status::NotStarted,
            Status::TimedOut,
            Status::DidNotCompile,
        ]
        .into_iter()
        .find(|status| status.key() == key)
    }

    /// The same for people: `not started`, `timed out`, …
    pub fn words(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::NotStarted => "not started",
            Status::TimedOut => "timed out",
            Status::DidNotCompile => "did not compile",
        }
    }
}

/// The state of a whole exercise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExerciseStatus {
    /// Every test passed.
    Passed,
    /// Some tests pass, the others are not started yet; none fails.
    InProgress,
    /// Some test fails.
    Failed,
    /// Some test timed out (and it may have held up others).
    TimedOut,
    /// Every test is still a `todo!()`.
    NotStarted,
    DidNotCompile,
}

impl ExerciseStatus {
    pub fn key(self) -> &'static str {
        match self {
            ExerciseStatus::Passed => "passed",
            ExerciseStatus::InProgress => "in_progress",
            ExerciseStatus::Failed => "failed",
            ExerciseStatus::TimedOut => "timed_out",
            ExerciseStatus::NotStarted => "not_started",
            ExerciseStatus::DidNotCompile => "did_not_compile",
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            ExerciseStatus::Passed => "passed",
            ExerciseStatus::InProgress => "in progress",
            ExerciseStatus::Failed => "failed",
            ExerciseStatus::TimedOut => "timed out",
            ExerciseStatus::NotStarted => "not started",
            ExerciseStatus::DidNotCompile => "did not compile",
        }
    }
}

/// One graded test, scored.
#[derive(Clone, Debug, PartialEq)]
pub struct TestResult {
    /// The test's path in its file, e.g. `echo_roundtrip_returns_the_same_bytes::case_1_text`.
    pub name: String,
    pub status: Status,
    pub points: Points,
    pub max_points: Points,
    /// What went wrong (the test's panic message), empty for a passed test.
    pub message: String,
    /// How long the test ran, when known.
    pub duration: Option<Duration>,
}

/// One exercise, scored.
#[derive(Clone, Debug, PartialEq)]
pub struct ExerciseResult {
    /// `ex01`
    pub id: String,
    /// `ex01-raw-send-recv`
    pub folder: String,
    /// The package that was graded (`ex01`, or `ex01-solution`).
    pub package: String,
    /// The first compiler error, when the exercise did not compile.
    pub compile_error: Option<String>,
    /// Every graded test. When the exercise did not compile and its tests could not be
    /// listed, one entry named [`BUILD_ENTRY`] stands for all of them.
    pub tests: Vec<TestResult>,
    pub max_points: Points,
    /// Building and running, wall time.
    pub duration: Duration,
    /// Review comments on the student's code: what the kit's lints (clippy) found, such as a
    /// `write` whose count is ignored. They give no points and take none.
    pub review: Vec<String>,
}

/// The name of the one entry that stands for an exercise whose tests could not be listed.
pub const BUILD_ENTRY: &str = "(build)";

impl ExerciseResult {
    pub fn points(&self) -> Points {
        self.tests.iter().map(|t| t.points).sum()
    }

    pub fn passed(&self) -> usize {
        self.count(Status::Passed)
    }

    pub fn count(&self, status: Status) -> usize {
        self.tests.iter().filter(|t| t.status == status).count()
    }

    pub fn status(&self) -> ExerciseStatus {
        let all = |status| !self.tests.is_empty() && self.count(status) == self.tests.len();
        if self.compile_error.is_some() {
            ExerciseStatus::DidNotCompile
        } else if all(Status::Passed) {
            ExerciseStatus::Passed
        } else if all(Status::NotStarted) {
            ExerciseStatus::NotStarted
        } else if self.count(Status::TimedOut) > 0 {
            ExerciseStatus::TimedOut
        } else if self.count(Status::Failed) > 0 || self.tests.is_empty() {
            ExerciseStatus::Failed
        } else {
            ExerciseStatus::InProgress
        }
    }
}

/// What was graded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Graded {
    /// The student exercises (`exercises/`).
    Exercises,
    /// The reference solutions (`solutions/`).
    Solutions,
}

impl Graded {
    pub fn key(self) -> &'static str {
        match self {
            Graded::Exercises => "exercises",
            Graded::Solutions => "solutions",
        }
    }
}

/// A whole grading run.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub graded: Graded,
    pub exercises: Vec<ExerciseResult>,
    pub duration: Duration,
    /// Things the reader should know (a submission without an `exercises/` folder, a weight
    /// in `grading.toml` that matches no test).
    pub notes: Vec<String>,
    /// False when grading was interrupted (Ctrl-C, SIGTERM) before every exercise was
    /// graded: the report holds the exercises graded so far.
    pub complete: bool,
    /// How the code under test was kept from the grader and from other submissions.
    pub isolation: Isolation,
}

/// How the code that was graded ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// A submission, built and tested in a bubblewrap sandbox per step: its verdicts are
    /// sealed, it sees nothing of the grading machine and leaves nothing behind.
    Sandbox,
    /// A submission graded with `--unsandboxed`: its code ran with the grader's rights, so
    /// its results cannot be trusted.
    Unsandboxed,
    /// The kit's own exercises or solutions, in place: your own code, not isolated.
    InPlace,
}

impl Isolation {
    /// `sandbox`, `unsandboxed`, `in_place`
    pub fn key(self) -> &'static str {
        match self {
            Isolation::Sandbox => "sandbox",
            Isolation::Unsandboxed => "unsandboxed",
            Isolation::InPlace => "in_place",
        }
    }

    /// One line for a report's reader, or `None` when there is nothing to warn about.
    pub fn warning(self) -> Option<&'static str> {
        match self {
            Isolation::Unsandboxed => Some(
                "UNSANDBOXED: this submission's code ran without isolation (--unsandboxed); its \
                 results cannot be trusted",
            ),
            Isolation::Sandbox | Isolation::InPlace => None,
        }
    }
}

impl Report {
    pub fn points(&self) -> Points {
        self.exercises.iter().map(ExerciseResult::points).sum()
    }

    pub fn max_points(&self) -> Points {
        self.exercises.iter().map(|e| e.max_points).sum()
    }

    pub fn passed(&self) -> usize {
        self.exercises.iter().map(ExerciseResult::passed).sum()
    }

    pub fn total(&self) -> usize {
        self.exercises.iter().map(|e| e.tests.len()).sum()
    }
}

/// The names of the graded tests, by (package, test target): from a trusted build of the
/// kit's skeletons, for a submission (its own binaries are never asked, and a submission
/// that does not compile still gets every test listed).
pub type Listings = BTreeMap<(String, String), Vec<String>>;

/// What to grade, where and how.
pub struct Plan<'a> {
    /// Where to build and run (the kit in place, or a staged submission).
    pub place: &'a Place,
    /// The exercises, as found at `place`.
    pub exercises: &'a [Exercise],
    pub graded: Graded,
    pub config: &'a Config,
    pub limits: Limits,
    /// The graded tests' names, when known in advance (see [`Listings`]).
    pub listings: Option<&'a Listings>,
    /// A folder for the verdict files of the test processes.
    pub scratch: &'a Path,
    pub isolation: Isolation,
    /// The exercises a submission handed in exactly as handed out (package → what the base's
    /// run of that skeleton gave, see [`batch::Skeletons`]): they are not built, reviewed or
    /// run again, their results are the skeleton's. Empty for anything but a submission.
    pub unchanged: &'a batch::Skeletons,
}

/// Progress, for a line per exercise while grading runs.
pub enum Event<'a> {
    /// Building every exercise at once (the slow part of a cold run).
    Building { exercises: usize },
    /// Building the kit's own handout once, which every submission then starts from.
    Preparing,
    Started {
        index: usize,
        count: usize,
        exercise: &'a Exercise,
    },
    Finished {
        index: usize,
        count: usize,
        result: &'a ExerciseResult,
    },
}

/// Grades every exercise of `plan`. An error means the grader itself could not run (cargo
/// missing, a folder unreadable); whatever the code under test does gives a report. When
/// grading is interrupted ([`crate::process::interrupt`]), the report holds the exercises
/// graded until then and says it is not complete.
pub fn grade(plan: &Plan, progress: &mut dyn FnMut(Event)) -> anyhow::Result<Report> {
    grade_with(plan, true, progress)
}

/// [`grade`], with or without the review by the kit's lints (`cargo lab`, `watch`: a student
/// waiting for a result needs the tests' verdicts, not a second compiler run).
pub fn grade_with(
    plan: &Plan,
    review: bool,
    progress: &mut dyn FnMut(Event),
) -> anyhow::Result<Report> {
    let started = Instant::now();
    let mut notes = Vec::new();

    // Compile everything in one cargo run first, so that the exercises compile in parallel.
    let mut packages = Vec::new();
    let mut all_targets = BTreeSet::new();
    for exercise in plan.exercises {
        if let Some(package) = package_of(exercise, plan.graded)
            && !plan.unchanged.contains_key(package)
        {
            packages.push(package);
            all_targets.extend(test_targets(exercise));
        }
    }
    progress(Event::Building {
        exercises: plan.exercises.len(),
    });
    let all_targets: Vec<String> = all_targets.into_iter().collect();
    let built = if packages.is_empty() || all_targets.is_empty() {
        Build::default()
    } else {
        build::build(plan.place, &packages, &all_targets, plan.limits.build)
            .context("cannot run cargo")?
    };
    // A review of the student's code by the kit's lints: what no test can see on loopback.
    // Only of what compiled, and within what is left of the build's time: clippy compiles
    // the code again, so a submission whose build never ends (a constant evaluated for ever)
    // would otherwise cost the build limit twice.
    let left = plan.limits.build.saturating_sub(started.elapsed());
    let compiled: Vec<&str> = if built.failure.is_some() {
        Vec::new()
    } else {
        packages
            .iter()
            .copied()
            .filter(|package| built.errors.get(*package).is_none_or(Vec::is_empty))
            .collect()
    };
    let review =
        if !review || compiled.is_empty() || left.is_zero() || plan.graded == Graded::Solutions {
            build::Review::default()
        } else {
            build::review(plan.place, &compiled, left).context("cannot run cargo")?
        };
    notes.extend(review.note.clone());

    let mut results = Vec::new();
    let count = plan.exercises.len();
    let mut complete = true;
    for (index, exercise) in plan.exercises.iter().enumerate() {
        if process::interrupted() {
            complete = false;
            break;
        }
        progress(Event::Started {
            index,
            count,
            exercise,
        });
        let mut result = grade_exercise(plan, &built, exercise, &mut notes)?;
        if let Some(comments) = review.comments.get(&result.package) {
            result.review = comments.clone();
        }
        if process::interrupted() {
            // Its tests were stopped halfway: their statuses would say nothing true.
            complete = false;
            break;
        }
        progress(Event::Finished {
            index,
            count,
            result: &result,
        });
        results.push(result);
    }
    Ok(Report {
        graded: plan.graded,
        exercises: results,
        duration: started.elapsed(),
        notes,
        complete,
        isolation: plan.isolation,
    })
}

fn package_of(exercise: &Exercise, graded: Graded) -> Option<&str> {
    match graded {
        Graded::Exercises => Some(&exercise.package),
        Graded::Solutions => exercise.solution.as_ref().map(|s| s.package.as_str()),
    }
}

/// The cargo test targets of an exercise: its graded test files' names (`graded` for
/// `tests/graded.rs`).
pub fn test_targets(exercise: &Exercise) -> Vec<String> {
    exercise
        .tests
        .iter()
        .filter_map(|path| Some(path.file_stem()?.to_str()?.to_string()))
        .collect()
}

fn grade_exercise(
    plan: &Plan,
    built: &Build,
    exercise: &Exercise,
    notes: &mut Vec<String>,
) -> anyhow::Result<ExerciseResult> {
    let started = Instant::now();
    let max_points = plan.config.points(exercise);
    let targets = test_targets(exercise);
    let mut result = ExerciseResult {
        id: exercise.id().to_string(),
        folder: exercise.folder.clone(),
        package: exercise.package.clone(),
        compile_error: None,
        tests: Vec::new(),
        max_points,
        duration: Duration::ZERO,
        review: Vec::new(),
    };
    let Some(package) = package_of(exercise, plan.graded) else {
        let message = format!("there is no solutions/{}", exercise.folder);
        result.tests = vec![whole_exercise(Status::Failed, message, max_points)];
        return Ok(result);
    };
    result.package = package.to_string();
    if targets.is_empty() {
        let message = format!(
            "exercises/{}/tests has no graded test file",
            exercise.folder
        );
        result.tests = vec![whole_exercise(Status::Failed, message, max_points)];
        return Ok(result);
    }
    let package_dir = match plan.graded {
        Graded::Solutions => Path::new("solutions").join(&exercise.folder),
        Graded::Exercises => Path::new("exercises").join(&exercise.folder),
    };

    let raw = if let Some(results) = plan.unchanged.get(package) {
        // The handout's own skeleton, built and run once in the base: the same code gives the
        // same results, so running its tests again for every submission would only cost time.
        results.clone()
    } else {
        match tests_to_run(plan, built, exercise, package, &package_dir, &targets)? {
            Ok(tests) => {
                let scratch = plan.scratch.join(exercise.id());
                run::run_tests(plan.place, &tests, plan.limits.per_exercise, &scratch)
            }
            Err(error) => {
                result.compile_error = Some(error.clone());
                match list_after_build_failure(plan, exercise, &targets)? {
                    Some(names) => names
                        .into_iter()
                        .map(|name| RawResult {
                            name,
                            status: Status::DidNotCompile,
                            message: error.clone(),
                            duration: None,
                        })
                        .collect(),
                    None => {
                        result.tests =
                            vec![whole_exercise(Status::DidNotCompile, error, max_points)];
                        result.duration = started.elapsed();
                        return Ok(result);
                    }
                }
            }
        }
    };

    let names: Vec<&str> = raw.iter().map(|r| r.name.as_str()).collect();
    let (weights, unused) = plan.config.weights(exercise, &names);
    for key in unused {
        notes.push(format!(
            "{}: [weights.{}] `{key}` matches no graded test",
            config::FILE_NAME,
            exercise.id()
        ));
    }
    let shares = max_points.split(&weights);
    result.tests = raw
        .into_iter()
        .zip(shares)
        .map(|(raw, share)| TestResult {
            points: if raw.status == Status::Passed {
                share
            } else {
                Points::ZERO
            },
            max_points: share,
            name: raw.name,
            status: raw.status,
            message: raw.message,
            duration: raw.duration,
        })
        .collect();
    if result.tests.is_empty() {
        let message = "the graded test files contain no test".to_string();
        result.tests = vec![whole_exercise(Status::Failed, message, max_points)];
    }
    result.duration = started.elapsed();
    Ok(result)
}

/// Every graded test of `package` with its test binary, or the compiler error that left it
/// without one.
fn tests_to_run(
    plan: &Plan,
    built: &Build,
    exercise: &Exercise,
    package: &str,
    package_dir: &Path,
    targets: &[String],
) -> anyhow::Result<Result<Vec<run::TestToRun>, String>> {
    let mut tests = Vec::new();
    for target in targets {
        let Some(executable) = built.executable(package, target) else {
            return Ok(Err(built.why_not_built(package, target)));
        };
        let names = match plan
            .listings
            .and_then(|l| l.get(&(exercise.package.clone(), target.clone())))
        {
            Some(names) => names.clone(),
            None => match run::list(&plan.place.host_path(executable), LIST_LIMIT)? {
                Ok(names) => names,
                Err(error) => return Ok(Err(error)),
            },
        };
        tests.extend(names.into_iter().map(|name| run::TestToRun {
            shown: qualified(targets, target, &name),
            name,
            executable: executable.to_string(),
            package: package.to_string(),
            package_dir: package_dir.to_path_buf(),
        }));
    }
    Ok(Ok(tests))
}

/// How long listing a test binary's tests may take (it runs no test).
const LIST_LIMIT: Duration = Duration::from_secs(60);

/// A test's name in the report: `name`, or `target/name` when an exercise has several
/// graded test files.
fn qualified(targets: &[String], target: &str, name: &str) -> String {
    if targets.len() > 1 {
        format!("{target}/{name}")
    } else {
        name.to_string()
    }
}

/// The names of an exercise's tests when the code under test does not build: from the
/// listings of the kit's skeletons, or, for a solution, from its skeleton (which always
/// builds: the kit checks it). `None` when there is neither (a student grading their own
/// copy).
fn list_after_build_failure(
    plan: &Plan,
    exercise: &Exercise,
    targets: &[String],
) -> anyhow::Result<Option<Vec<String>>> {
    let mut all = Vec::new();
    for target in targets {
        let names = match plan.listings {
            Some(listings) => listings
                .get(&(exercise.package.clone(), target.clone()))
                .cloned(),
            None if plan.graded == Graded::Solutions => {
                let skeleton = build::build(
                    plan.place,
                    &[exercise.package.as_str()],
                    std::slice::from_ref(target),
                    plan.limits.build,
                )
                .context("cannot run cargo")?;
                match skeleton.executable(&exercise.package, target) {
                    Some(executable) => {
                        run::list(&plan.place.host_path(executable), LIST_LIMIT)?.ok()
                    }
                    None => None,
                }
            }
            None => None,
        };
        let Some(names) = names else {
            return Ok(None);
        };
        all.extend(names.iter().map(|n| qualified(targets, target, n)));
    }
    Ok(Some(all))
}

fn whole_exercise(status: Status, message: String, max_points: Points) -> TestResult {
    TestResult {
        name: BUILD_ENTRY.to_string(),
        status,
        points: Points::ZERO,
        max_points,
        message,
        duration: None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small report for the format modules' tests.
    pub fn sample_report() -> Report {
        let test = |name: &str, status, points, message: &str| TestResult {
            name: name.to_string(),
            status,
            points: Points::from_hundredths(if status == Status::Passed { points } else { 0 }),
            max_points: Points::from_hundredths(points),
            message: message.to_string(),
            duration: Some(Duration::from_millis(12)),
        };
        Report {
            graded: Graded::Exercises,
            exercises: vec![
                ExerciseResult {
                    id: "ex01".into(),
                    folder: "ex01-raw-send-recv".into(),
                    package: "ex01".into(),
                    compile_error: None,
                    tests: vec![
                        test("connect_works", Status::Passed, 334, ""),
                        test(
                            "echo::case_1_text",
                            Status::Failed,
                            333,
                            "got \"a<b>&\" back\nsecond line \u{1} \"quoted\"",
                        ),
                        test(
                            "read_all",
                            Status::TimedOut,
                            333,
                            "deadline expired after 10s: did you flush?",
                        ),
                    ],
                    max_points: Points::from_hundredths(1000),
                    duration: Duration::from_millis(3200),
                    review: vec![
                        "exercises/ex01-raw-send-recv/src/lib.rs:12:5: error: written amount is \
                         not handled"
                            .into(),
                    ],
                },
                ExerciseResult {
                    id: "ex02".into(),
                    folder: "ex02-line-streams".into(),
                    package: "ex02".into(),
                    compile_error: Some("src/lib.rs:1:1: error: expected item".into()),
                    tests: vec![whole_exercise(
                        Status::DidNotCompile,
                        "src/lib.rs:1:1: error: expected item".into(),
                        Points::from_hundredths(1000),
                    )],
                    max_points: Points::from_hundredths(1000),
                    duration: Duration::from_millis(900),
                    review: Vec::new(),
                },
            ],
            duration: Duration::from_millis(4500),
            notes: vec!["a note".into()],
            complete: true,
            isolation: Isolation::Sandbox,
        }
    }

    #[test]
    fn exercise_statuses_sum_up_their_tests() {
        let report = sample_report();
        assert_eq!(report.exercises[0].status(), ExerciseStatus::TimedOut);
        assert_eq!(report.exercises[1].status(), ExerciseStatus::DidNotCompile);
        assert_eq!(report.points().to_string(), "3.34");
        assert_eq!(report.max_points().to_string(), "20");
        assert_eq!((report.passed(), report.total()), (1, 4));

        let mut exercise = report.exercises[0].clone();
        for (test, status) in
            exercise
                .tests
                .iter_mut()
                .zip([Status::Passed, Status::NotStarted, Status::NotStarted])
        {
            test.status = status;
        }
        assert_eq!(exercise.status(), ExerciseStatus::InProgress);
        exercise.tests[0].status = Status::NotStarted;
        assert_eq!(exercise.status(), ExerciseStatus::NotStarted);
        exercise.tests[1].status = Status::Failed;
        assert_eq!(exercise.status(), ExerciseStatus::Failed);
    }
}
