//! `cargo lab hint EXERCISE [TEST]`: progressive hints from the exercise's `hints.toml` (see
//! [`lab_cli::hints`]): first a nudge, then the std API to use, then the idea of the
//! solution; never the code. Each call shows one more step of the same hint (`--all`: every
//! step at once). Without a TEST, the hint is for the test `cargo lab` would work on next,
//! which needs a run of the exercise's graded tests.
//!
//! Exit codes: 0 with a hint (or nothing left to hint), 2 for an unknown exercise or test,
//! 1 when the hints cannot be read.

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use lab_cli::hints::{self, Hint, Seen};
use lab_cli::progress::{self, State};
use lab_cli::workspace::{self, Exercise};

/// The width of the text.
const WIDTH: usize = 92;

#[derive(clap::Args)]
pub struct Args {
    /// The exercise, e.g. `ex01`.
    exercise: String,
    /// A graded test, by its name or the start of it (`receive_some`); without it, the test
    /// to work on next.
    test: Option<String>,
    /// Show every step of the hint at once.
    #[arg(long)]
    all: bool,
}

/// Bad input: one line on stderr and exit code 2.
fn usage_error(message: String) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (root, all) = super::kit()?;
    let Some(exercise) = super::find(&all, &args.exercise) else {
        let ids: Vec<&str> = all.iter().map(Exercise::id).collect();
        return Ok(usage_error(format!(
            "no exercise `{}` in this kit (exercises: {})",
            args.exercise,
            ids.join(", ")
        )));
    };
    let hints = match hints::load(exercise) {
        Ok(hints) => hints,
        Err(error) => bail!("no hints for {}: {error}", exercise.id()),
    };
    let id = exercise.id();

    let (test, note) = match &args.test {
        Some(asked) => match resolve(exercise, asked)? {
            Some(name) => (Some(name), None),
            None => {
                return Ok(usage_error(format!(
                    "{id} has no graded test `{asked}` (its tests: cargo test -p {} -- --list)",
                    exercise.package
                )));
            }
        },
        None => {
            eprintln!("running the graded tests of {id} to find the one to work on …");
            let report = progress::run(&root, std::slice::from_ref(exercise), &mut |_| {})?;
            let result = &report.exercises[0];
            match State::of(result) {
                State::Done => {
                    let next = all
                        .iter()
                        .skip_while(|e| e.id() != id)
                        .nth(1)
                        .map_or(String::new(), |e| format!(" Next: {}.", e.id()));
                    println!("Every graded test of {id} passes: no hint needed.{next}");
                    return Ok(ExitCode::SUCCESS);
                }
                State::DoesNotCompile => (
                    None,
                    Some(format!(
                        "{id} does not compile yet; the compiler's first error: {}",
                        progress::first_line(result.compile_error.as_deref().unwrap_or(""), 200)
                    )),
                ),
                State::InProgress | State::NotStarted => (
                    progress::next_test(exercise, result)
                        .map(|t| hints::function_name(&t.name).to_string()),
                    None,
                ),
            }
        }
    };

    let hint = match &test {
        Some(name) => hints.for_test(name),
        None => hints.whole(),
    };
    let Some(hint) = hint else {
        bail!(
            "exercises/{}/{} has no hint for {}",
            exercise.folder,
            hints::FILE_NAME,
            test.as_deref().unwrap_or("the whole exercise")
        );
    };
    if let Some(note) = note {
        println!("{note}\n");
    }
    print!("{}", show(&root, id, test.as_deref(), hint, args.all));
    Ok(ExitCode::SUCCESS)
}

/// The graded test a student named: a function name of the exercise's test files that
/// starts with `asked` (without rstest's `::case_…` or a `graded/` prefix).
fn resolve(exercise: &Exercise, asked: &str) -> anyhow::Result<Option<String>> {
    let functions = workspace::graded_functions(exercise)?;
    let wanted = hints::function_name(asked.trim());
    if wanted.is_empty() {
        return Ok(None);
    }
    Ok(functions
        .iter()
        .find(|f| *f == wanted)
        .or_else(|| functions.iter().find(|f| f.starts_with(wanted)))
        .cloned())
}

/// The steps seen so far and one more (all of them with `all`), and how to see the next.
pub fn show(root: &Path, id: &str, test: Option<&str>, hint: &Hint, all: bool) -> String {
    let mut seen = Seen::load(root);
    let count = seen.advance(id, hint, all);
    if let Err(error) = seen.save() {
        eprintln!("warning: cannot remember which hints you have seen: {error}");
    }
    let about = test.unwrap_or("the whole exercise");
    let mut out = format!(
        "Hint for {about} ({id}), step {count} of {}:\n\n",
        hint.steps.len()
    );
    for (index, step) in hint.steps.iter().take(count).enumerate() {
        let label = format!("  {}. {}: ", index + 1, hints::step_name(index));
        let indent = " ".repeat(label.len());
        let text = hints::wrap(step, WIDTH, &indent);
        out.push_str(&format!("{label}{text}\n"));
    }
    out.push('\n');
    let again = match test {
        Some(test) => format!("cargo lab hint {id} {test}"),
        None => format!("cargo lab hint {id}"),
    };
    if count < hint.steps.len() {
        out.push_str(&format!(
            "Stuck still? `{again}` shows {}.\n",
            hints::step_name(count)
        ));
    } else {
        let rest = format!(
            "That is every step of this hint. The test's own message (`cargo test -p {id}`) \
             shows what crossed the wire, and the exercise's handout in the lab book walks \
             through it."
        );
        out.push_str(&hints::wrap(&rest, WIDTH, ""));
        out.push('\n');
    }
    out
}
