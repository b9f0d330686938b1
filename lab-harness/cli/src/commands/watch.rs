//! `cargo lab watch [EXERCISE]`: rustlings' watch mode, for sockets. Runs the exercise's
//! graded tests (as `cargo lab grade` does), shows a short summary instead of cargo's output
//! (how many pass, the first failing test and its message, which holds the conversation on
//! the wire), and runs them again each time a file under the exercise's `src/` changes.
//!
//! Keys: `h` a hint for the failing test, `l` the list of tests, `n` the next exercise, `r`
//! run again, `q` quit. In a terminal a key acts at once (raw mode, crossterm), and `q`,
//! Esc or Ctrl-C stop a run of tests at once; when stdin is a pipe, one key per line, acted
//! on after the run, and the end of the input quits, so that a script or a test can drive
//! it. Without an EXERCISE, the first one that is not done.

use std::collections::VecDeque;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use anyhow::Context;
use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use crossterm::{cursor, execute, terminal};
use lab_cli::grade::{ExerciseResult, Status};
use lab_cli::hints;
use lab_cli::process;
use lab_cli::progress::{self, State};
use lab_cli::workspace::Exercise;
use notify::{RecursiveMode, Watcher};

/// After a change, wait until the files are quiet this long before running: an editor's
/// save is often several writes (a temporary file, a rename).
const DEBOUNCE: Duration = Duration::from_millis(250);
/// A failure message is shown up to this many lines and characters (a runaway program can
/// panic with megabytes; the wire timeline of a failure takes a few dozen lines).
const MESSAGE_LINES: usize = 40;
const MESSAGE_CHARS: usize = 4000;

const KEYS: &str = "keys: h hint · l list · n next exercise · r run again · q quit";

#[derive(clap::Args)]
pub struct Args {
    /// The exercise to watch, e.g. `ex02` (default: the first one that is not done).
    exercise: Option<String>,
}

/// What the loop waits for.
enum Input {
    /// A file under the watched `src/` changed.
    Changed,
    Key(char),
    /// The input ended (a pipe closed) or the terminal asked to stop (Ctrl-C).
    Quit,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (root, all) = super::kit()?;
    let mut index = match &args.exercise {
        Some(name) => match all.iter().position(|e| name == e.id() || *name == e.folder) {
            Some(index) => index,
            None => {
                let ids: Vec<&str> = all.iter().map(Exercise::id).collect();
                eprintln!(
                    "error: no exercise `{name}` in this kit (exercises: {})",
                    ids.join(", ")
                );
                return Ok(ExitCode::from(2));
            }
        },
        None => {
            eprintln!("finding the first exercise that is not done …");
            let report = progress::run(&root, &all, &mut |_| {})?;
            match report
                .exercises
                .iter()
                .position(|r| State::of(r) != State::Done)
            {
                Some(index) => index,
                None => {
                    println!(
                        "Every exercise is done: every graded test passes. \
                         (`cargo lab watch EXERCISE` watches one anyway.)"
                    );
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
    };

    let interactive = io::stdin().is_terminal() && io::stdout().is_terminal();
    let (sender, inputs) = mpsc::channel();
    let screen = Screen::new(interactive)?;
    read_keys(sender.clone(), interactive);
    let changes = sender.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Reading a file (the compiler does) is not a change.
        if event.is_ok_and(|e| !e.kind.is_access()) {
            let _ = changes.send(Input::Changed);
        }
    })
    .context("cannot watch files for changes")?;

    let mut watched = watch(&mut watcher, None, &all[index])?;
    let mut pending = VecDeque::new();
    'run: loop {
        let exercise = &all[index];
        screen.clear();
        screen.show(&format!(
            "running the graded tests of {} …\n",
            exercise.id()
        ));
        let started = Instant::now();
        let report = progress::run(&root, std::slice::from_ref(exercise), &mut |_| {})?;
        let Some(result) = report.exercises.first().filter(|_| !process::interrupted()) else {
            break 'run; // `q` in a terminal stopped the run
        };
        screen.clear();
        screen.show(&summary(
            exercise,
            result,
            all.get(index + 1),
            started.elapsed(),
        ));
        loop {
            let input = match pending.pop_front() {
                Some(input) => input,
                None => inputs.recv().unwrap_or(Input::Quit),
            };
            match input {
                Input::Changed => {
                    settle(&inputs, &mut pending);
                    continue 'run;
                }
                Input::Key('r') => continue 'run,
                Input::Key('q') | Input::Quit => break 'run,
                Input::Key('h') => screen.show(&hint(&root, exercise, result)),
                Input::Key('l') => screen.show(&list(exercise, result)),
                Input::Key('n') => match all.get(index + 1) {
                    Some(next) => {
                        watched = watch(&mut watcher, Some(watched), next)?;
                        index += 1;
                        continue 'run;
                    }
                    None => screen.show(&format!(
                        "{} is the last exercise. `cargo lab` shows them all.\n",
                        exercise.id()
                    )),
                },
                Input::Key(_) => screen.show(&format!("{KEYS}\n")),
            }
        }
    }
    drop(screen);
    println!("watch: stopped.");
    Ok(ExitCode::SUCCESS)
}

/// Watches `exercise`'s `src/` (and stops watching `old`'s).
fn watch(
    watcher: &mut impl Watcher,
    old: Option<PathBuf>,
    exercise: &Exercise,
) -> anyhow::Result<PathBuf> {
    if let Some(old) = old {
        let _ = watcher.unwatch(&old);
    }
    let src = exercise.dir.join("src");
    watcher
        .watch(&src, RecursiveMode::Recursive)
        .with_context(|| format!("cannot watch {} for changes", src.display()))?;
    Ok(src)
}

/// Waits until no change has come for [`DEBOUNCE`]; keys pressed meanwhile are kept.
fn settle(inputs: &Receiver<Input>, pending: &mut VecDeque<Input>) {
    loop {
        match inputs.recv_timeout(DEBOUNCE) {
            Ok(Input::Changed) => {}
            Ok(other) => pending.push_back(other),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Reads keys on a thread of its own: single key presses in a terminal, else one per line.
fn read_keys(sender: Sender<Input>, interactive: bool) {
    std::thread::spawn(move || {
        if interactive {
            while let Ok(event) = event::read() {
                let Event::Key(key) = event else { continue };
                if key.kind != KeyEventKind::Press {
                    continue; // Windows reports releases too
                }
                let input = match key.code {
                    KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                        Input::Quit
                    }
                    KeyCode::Char(c) => Input::Key(c.to_ascii_lowercase()),
                    KeyCode::Esc => Input::Quit,
                    _ => continue,
                };
                // Raw mode turns Ctrl-C into a key, not a signal: quitting must also stop
                // a run of tests that may take up to a minute (a hung test).
                if matches!(input, Input::Quit | Input::Key('q')) {
                    process::interrupt();
                }
                if sender.send(input).is_err() {
                    return;
                }
            }
        } else {
            for line in io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if let Some(c) = line.trim().chars().next()
                    && sender.send(Input::Key(c.to_ascii_lowercase())).is_err()
                {
                    return;
                }
            }
        }
        let _ = sender.send(Input::Quit);
    });
}

/// The summary of a run: the count, the first failing test with its message, what next.
fn summary(
    exercise: &Exercise,
    result: &ExerciseResult,
    next: Option<&Exercise>,
    took: Duration,
) -> String {
    let id = exercise.id();
    let total = result.tests.len();
    let mut out = format!(
        "{id}  {} {}/{total} graded tests pass  ({:.1} s)\n\n",
        progress::bar(result.passed(), total, 20),
        result.passed(),
        took.as_secs_f64()
    );
    match State::of(result) {
        State::Done => {
            out.push_str(&format!(
                "All {total} graded tests of {id} pass. Well done!\n"
            ));
            match next {
                Some(next) => out.push_str(&format!(
                    "Press n to go on with {} (exercises/{}), or q to quit.\n",
                    next.id(),
                    next.folder
                )),
                None => out.push_str("That was the last exercise: `cargo lab` shows them all.\n"),
            }
        }
        State::DoesNotCompile => {
            out.push_str(&format!("{id} does not compile:\n"));
            let error = result.compile_error.as_deref().unwrap_or("");
            out.push_str(&indent(&progress::capped(
                error,
                MESSAGE_LINES,
                MESSAGE_CHARS,
            )));
            out.push_str(&format!(
                "\n(`cargo build -p {}` shows every error in full.)\n",
                exercise.package
            ));
        }
        State::InProgress | State::NotStarted => {
            if let Some(test) = progress::next_test(exercise, result) {
                out.push_str(&format!("{}: {}\n", test.status.words(), test.name));
                out.push_str(&indent(&progress::capped(
                    &test.message,
                    MESSAGE_LINES,
                    MESSAGE_CHARS,
                )));
                let others = total - result.passed() - 1;
                if others > 0 {
                    out.push_str(&format!(
                        "\n{others} other test{} to go (l lists them).\n",
                        if others == 1 { "" } else { "s" }
                    ));
                }
            }
        }
    }
    out.push_str(&format!(
        "\n{KEYS}\nwatching exercises/{}/src: save a file there to run the tests again.\n",
        exercise.folder
    ));
    out
}

/// Every graded test of the last run with its status.
fn list(exercise: &Exercise, result: &ExerciseResult) -> String {
    let mut out = format!("\nthe graded tests of {}:\n", exercise.id());
    for test in &result.tests {
        let mark = if test.status == Status::Passed {
            "ok  "
        } else {
            "--  "
        };
        out.push_str(&format!(
            "  {mark}{:<16} {}\n",
            test.status.words(),
            test.name
        ));
    }
    out
}

/// One more step of the hint for the test to work on (the whole exercise's, when it does
/// not compile or every test passes).
fn hint(root: &Path, exercise: &Exercise, result: &ExerciseResult) -> String {
    let hints = match hints::load(exercise) {
        Ok(hints) => hints,
        Err(error) => return format!("\nno hints: {error}\n"),
    };
    let test = if result.compile_error.is_some() {
        None
    } else {
        progress::next_test(exercise, result).map(|t| hints::function_name(&t.name).to_string())
    };
    let hint = match &test {
        Some(name) => hints.for_test(name),
        None => hints.whole(),
    };
    match hint {
        Some(hint) => format!(
            "\n{}",
            super::hint::show(root, exercise.id(), test.as_deref(), hint, false)
        ),
        None => "\nno hint for this test.\n".to_string(),
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("  {line}\n")).collect()
}

/// The terminal: raw mode while watching in one (restored when dropped), where a line break
/// must be written as `\r\n`.
struct Screen {
    raw: bool,
}

impl Screen {
    fn new(interactive: bool) -> anyhow::Result<Screen> {
        if interactive {
            terminal::enable_raw_mode().context("cannot read single keys from the terminal")?;
        }
        Ok(Screen { raw: interactive })
    }

    fn show(&self, text: &str) {
        let mut out = io::stdout().lock();
        let text = if self.raw {
            text.replace('\n', "\r\n")
        } else {
            text.to_string()
        };
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    /// A fresh screen for each run, in a terminal; a pipe keeps everything.
    fn clear(&self) {
        if self.raw {
            let _ = execute!(
                io::stdout(),
                terminal::Clear(terminal::ClearType::All),
                cursor::MoveTo(0, 0)
            );
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        if self.raw {
            let _ = terminal::disable_raw_mode();
        }
    }
}
