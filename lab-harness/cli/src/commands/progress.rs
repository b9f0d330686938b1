//! `cargo lab` (or `cargo lab progress`): where am I? One screen for every exercise: a
//! progress bar, how many graded tests pass, a state (done, in progress, not started, does
//! not compile) and the next step: the test to work on and the first line of its failure,
//! or the first step of its hint.
//!
//! The tests run as `cargo lab grade` runs them ([`lab_cli::progress::run`]), so the counts
//! are the grader's. Exit code 0 whatever the state: this is a report, not a verdict.

use std::process::ExitCode;

use lab_cli::grade::{BUILD_ENTRY, Report, Status};
use lab_cli::hints;
use lab_cli::progress::{self, State};
use lab_cli::workspace::Exercise;

/// The width of a line of the screen (the failure lines are cut to it).
const WIDTH: usize = 100;

#[derive(clap::Args)]
pub struct Args {
    /// Only these exercises, e.g. `--only ex01,ex02`.
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    only: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (root, all) = super::kit()?;
    let exercises = super::select(&all, &args.only)?;
    eprintln!(
        "running the graded tests of {} exercise{} (the first run builds them: a few minutes) …",
        exercises.len(),
        if exercises.len() == 1 { "" } else { "s" }
    );
    let report = progress::run(&root, &exercises, &mut |_| {})?;
    print!("{}", screen(&exercises, &report));
    Ok(ExitCode::SUCCESS)
}

/// The progress screen.
fn screen(exercises: &[Exercise], report: &Report) -> String {
    let done = report
        .exercises
        .iter()
        .filter(|r| State::of(r) == State::Done)
        .count();
    let mut out = format!(
        "netlab: {done} of {} exercises done, {} of {} graded tests pass\n\n",
        report.exercises.len(),
        report.passed(),
        report.total()
    );
    let mut current = None;
    for (exercise, result) in exercises.iter().zip(&report.exercises) {
        let state = State::of(result);
        // An exercise that does not compile has one entry for all its tests, which cannot
        // be listed without a build: their number is unknown.
        let listed = !result.tests.iter().any(|t| t.name == BUILD_ENTRY);
        let total = if listed {
            result.tests.len().to_string()
        } else {
            "?".to_string()
        };
        out.push_str(&format!(
            "  {:<5} {} {:>3}/{:<3} {}\n",
            result.id,
            progress::bar(result.passed(), result.tests.len(), 20),
            result.passed(),
            total,
            state.words()
        ));
        if state == State::Done {
            continue;
        }
        current.get_or_insert(exercise);
        out.push_str(&next_step(exercise, result));
    }
    out.push('\n');
    match current {
        None => out.push_str(
            "Every exercise is done: every graded test passes. Well done!\n\
             `cargo lab grade` shows the score table your grader will see.\n",
        ),
        Some(exercise) => {
            let id = exercise.id();
            out.push_str(&format!(
                "Next: {id}, in exercises/{}/src/lib.rs.\n  \
                 cargo lab watch {id}    re-runs its tests each time you save\n  \
                 cargo lab hint {id}     a hint for the test to work on, one step at a time\n  \
                 cargo test -p {id}      the tests' full output\n",
                exercise.folder
            ));
        }
    }
    out
}

/// The lines under an exercise that is not done: the test to work on next and what to do.
fn next_step(exercise: &Exercise, result: &lab_cli::grade::ExerciseResult) -> String {
    let indent = "        ";
    if let Some(error) = &result.compile_error {
        return format!(
            "{indent}{}\n",
            progress::first_line(error, WIDTH - indent.len())
        );
    }
    let Some(test) = progress::next_test(exercise, result) else {
        return String::new();
    };
    let mut out = format!("{indent}next: {}\n", test.name);
    let why = if test.status == Status::NotStarted {
        hints::load(exercise)
            .ok()
            .and_then(|h| h.for_test(&test.name).map(|hint| hint.steps[0].clone()))
            .map(|nudge| format!("hint: {}", first_sentence(&nudge)))
            .unwrap_or_else(|| "still a todo!()".to_string())
    } else {
        format!(
            "{}: {}",
            test.status.words(),
            progress::first_line(&test.message, WIDTH)
        )
    };
    // A hint's first sentence is worth two lines; a failure's first line is cut to one (the
    // whole message is one `cargo lab watch` away).
    let lead = format!("{indent}      ");
    let why = if test.status == Status::NotStarted {
        hints::wrap(&progress::cut(&why, 2 * (WIDTH - lead.len())), WIDTH, &lead)
    } else {
        progress::cut(&why, WIDTH - lead.len())
    };
    out.push_str(&format!("{lead}{why}\n"));
    out
}

/// Up to the first `. ` (a hint's step is a few sentences; the screen has room for one).
fn first_sentence(text: &str) -> &str {
    match text.find(". ") {
        Some(at) => &text[..=at],
        None => text,
    }
}
