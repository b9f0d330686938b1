//! Where a student is: their exercises' graded tests run in place and summed up, for
//! `cargo lab` (the progress screen), `cargo lab watch` and `cargo lab hint`.
//!
//! The tests run exactly as `cargo lab grade` runs them ([`crate::grade::grade_with`]: one
//! cargo build for every exercise, then each graded test in its own process, its verdict
//! from libtest's log), so that `cargo lab`, `cargo lab grade` and `cargo lab check` count
//! the same graded tests. Only the clippy review is left out: it is a second compiler run,
//! and a student waiting for a result needs the tests' verdicts.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::grade::place::Place;
use crate::grade::stage::TempDir;
use crate::grade::{
    self, Config, Event, ExerciseResult, ExerciseStatus, Graded, Isolation, Limits, Plan, Report,
    Status, TestResult,
};
use crate::workspace::{self, Exercise};

/// How long one exercise's tests may run: a test that hangs is stopped and counted as
/// timed out (the watchdogs inside the graded tests usually say so much earlier).
pub const PER_EXERCISE: Duration = Duration::from_secs(60);
/// How long a build may take: the first, cold one builds the whole kit.
const BUILD: Duration = Duration::from_secs(30 * 60);

/// Runs the graded tests of `exercises` (found in the kit at `root`) on the student's code.
pub fn run(
    root: &Path,
    exercises: &[Exercise],
    progress: &mut dyn FnMut(Event),
) -> anyhow::Result<Report> {
    let place = Place::in_place(root, None);
    let scratch = TempDir::new("progress").context("cannot create a temporary folder")?;
    // Points do not matter here: an empty configuration cannot fail on a bad grading.toml.
    let config = Config::default();
    let plan = Plan {
        place: &place,
        exercises,
        graded: Graded::Exercises,
        config: &config,
        limits: Limits {
            per_exercise: PER_EXERCISE,
            build: BUILD,
        },
        listings: None,
        scratch: scratch.path(),
        isolation: Isolation::InPlace,
        unchanged: &std::collections::BTreeMap::new(),
    };
    grade::grade_with(&plan, false, progress)
}

/// An exercise's state, as a student sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Done,
    InProgress,
    NotStarted,
    DoesNotCompile,
}

impl State {
    pub fn of(result: &ExerciseResult) -> State {
        match result.status() {
            ExerciseStatus::Passed => State::Done,
            ExerciseStatus::NotStarted => State::NotStarted,
            ExerciseStatus::DidNotCompile => State::DoesNotCompile,
            ExerciseStatus::InProgress | ExerciseStatus::Failed | ExerciseStatus::TimedOut => {
                State::InProgress
            }
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            State::Done => "done",
            State::InProgress => "in progress",
            State::NotStarted => "not started",
            State::DoesNotCompile => "does not compile",
        }
    }
}

/// The test to work on next: the first one that fails for a reason of its own (the student
/// is working on it), else the first not started one, in the order the test files are
/// written (the order of the exercise's story), `graded.rs` first.
pub fn next_test<'a>(exercise: &Exercise, result: &'a ExerciseResult) -> Option<&'a TestResult> {
    let order = workspace::graded_functions(exercise).unwrap_or_default();
    let position = |test: &TestResult| {
        let name = crate::hints::function_name(&test.name);
        order.iter().position(|n| n == name).unwrap_or(usize::MAX)
    };
    let mut open: Vec<(usize, &TestResult)> = result
        .tests
        .iter()
        .enumerate()
        .filter(|(_, t)| t.status != Status::Passed)
        .collect();
    // Failed and timed out before not started; then the order of the file; then libtest's.
    open.sort_by_key(|(index, test)| (test.status == Status::NotStarted, position(test), *index));
    open.first().map(|(_, test)| *test)
}

/// `[########............]`: `passed` of `total` in `width` characters (ASCII, for every
/// terminal).
pub fn bar(passed: usize, total: usize, width: usize) -> String {
    let filled = (passed * width).checked_div(total).unwrap_or(0);
    format!("[{}{}]", "#".repeat(filled), ".".repeat(width - filled))
}

/// The first non-empty line of `text`, cut to `max` characters.
pub fn first_line(text: &str, max: usize) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    cut(line, max)
}

/// `text` cut to `max` characters, marked with `…` when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let kept: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// At most `lines` lines and `chars` characters of `text`, saying how much was left out: a
/// runaway program's output must not fill the screen.
pub fn capped(text: &str, lines: usize, chars: usize) -> String {
    let mut out = String::new();
    let mut shown = 0;
    let total = text.lines().count();
    for line in text.lines() {
        if shown == lines || out.chars().count() + line.chars().count() > chars {
            break;
        }
        out.push_str(line);
        out.push('\n');
        shown += 1;
    }
    if shown == 0 && total > 0 {
        out = format!("{}\n", cut(text.lines().next().unwrap_or(""), chars));
        shown = 1;
    }
    if shown < total {
        out.push_str(&format!(
            "… ({} more line{} not shown)\n",
            total - shown,
            if total - shown == 1 { "" } else { "s" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::Points;

    fn result(statuses: &[(&str, Status)]) -> ExerciseResult {
        ExerciseResult {
            id: "ex01".into(),
            folder: "ex01-raw".into(),
            package: "ex01".into(),
            compile_error: None,
            tests: statuses
                .iter()
                .map(|(name, status)| TestResult {
                    name: name.to_string(),
                    status: *status,
                    points: Points::ZERO,
                    max_points: Points::ZERO,
                    message: String::new(),
                    duration: None,
                })
                .collect(),
            max_points: Points::ZERO,
            duration: Duration::ZERO,
            review: Vec::new(),
        }
    }

    #[test]
    fn the_next_test_is_a_failing_one_in_the_order_of_the_file() {
        let dir = TempDir::new("next").unwrap();
        let tests = dir.path().join("graded.rs");
        std::fs::write(
            &tests,
            "#[test]\nfn connect_works() {}\n#[rstest]\nfn send_all_sends(x: u8) {}\n\
             #[test]\nfn receive_some_reads() {}\n",
        )
        .unwrap();
        let exercise = Exercise {
            folder: "ex01-raw".into(),
            dir: dir.path().to_path_buf(),
            package: "ex01".into(),
            solution: None,
            tests: vec![tests],
        };
        // libtest's order is alphabetical; the file's is the story's.
        let mut run = result(&[
            ("connect_works", Status::Passed),
            ("receive_some_reads", Status::NotStarted),
            ("send_all_sends::case_1", Status::NotStarted),
        ]);
        assert_eq!(
            next_test(&exercise, &run).unwrap().name,
            "send_all_sends::case_1"
        );
        run.tests[1].status = Status::Failed;
        assert_eq!(
            next_test(&exercise, &run).unwrap().name,
            "receive_some_reads"
        );
        assert_eq!(State::of(&run), State::InProgress);
        for test in &mut run.tests {
            test.status = Status::Passed;
        }
        assert!(next_test(&exercise, &run).is_none());
        assert_eq!(State::of(&run), State::Done);
    }

    #[test]
    fn bars_lines_and_caps_fit_the_screen() {
        assert_eq!(bar(1, 4, 8), "[##......]");
        assert_eq!(bar(0, 0, 4), "[....]");
        assert_eq!(bar(3, 3, 4), "[####]");
        assert_eq!(first_line("\n  first\nsecond", 80), "first");
        assert_eq!(cut("abcdef", 4), "abc…");
        let long = "line\n".repeat(100);
        let shown = capped(&long, 3, 1000);
        assert_eq!(shown, "line\nline\nline\n… (97 more lines not shown)\n");
        let one = "x".repeat(50);
        assert_eq!(capped(&one, 3, 10), "xxxxxxxxx…\n");
    }
}
