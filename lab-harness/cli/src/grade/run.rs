//! Building and running one exercise's graded tests, so that every test gets a status even
//! when the code under test hangs, crashes or does not compile.
//!
//! For each graded test file (a cargo test target, usually `graded`):
//! 1. `cargo test -p PACKAGE --test TARGET -- --list` builds it and names its tests. A build
//!    failure makes the whole exercise "did not compile", with the first compiler error.
//! 2. `cargo test -p PACKAGE --test TARGET -- --test-threads N`, with N = the number of
//!    tests, so that every test starts at once: a test with no result when the time limit
//!    kills the process group was running all along, so it hung ("timed out"). Each
//!    `test NAME ... ok` line is timed as it arrives, which gives the test's duration.
//! 3. If the test process ended early without a result for some tests (a crash, an abort, a
//!    `process::exit`), each of those runs again on its own, so one crash does not take the
//!    other tests with it and the crashing test is named.
//!
//! Going through `cargo test` rather than the test binary itself runs the tests exactly as a
//! student does (same working folder and environment); it costs a fraction of a second.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::Status;
use crate::libtest::{self, Outcome, TestCase};
use crate::process::{Watched, run_watched};

/// More test threads than this and tests wait for a free one (then a test with no result at
/// the limit may have been waiting rather than hung).
const MAX_THREADS: usize = 64;
/// A message longer than this is cut (student code can panic with megabytes of text).
const MESSAGE_CAP: usize = 4000;

/// The time limits of one exercise.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// For running all of the exercise's tests (building is not counted).
    pub per_exercise: Duration,
    /// For one build: a cold build of the harness takes minutes on a small machine.
    pub build: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            per_exercise: Duration::from_secs(60),
            build: Duration::from_secs(15 * 60),
        }
    }
}

/// How one graded test ended, before points are given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawResult {
    pub name: String,
    pub status: Status,
    /// Empty for a passed test.
    pub message: String,
    pub duration: Option<Duration>,
}

/// What running an exercise gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Run {
    Ran(Vec<RawResult>),
    /// The first compiler error, shortened.
    DidNotCompile(String),
}

/// `cargo` in one workspace, with the environment the grader needs.
#[derive(Clone, Debug)]
pub struct Cargo {
    program: OsString,
    root: PathBuf,
    target_dir: Option<PathBuf>,
    lean: bool,
}

impl Cargo {
    /// Cargo for the workspace at `root`; `target_dir` overrides `CARGO_TARGET_DIR`.
    pub fn new(root: &Path, target_dir: Option<PathBuf>) -> Cargo {
        Cargo {
            program: std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
            root: root.to_path_buf(),
            target_dir,
            lean: false,
        }
    }

    /// Builds without debug information and without incremental compilation: each
    /// submission's code is new, so an incremental cache only costs time, and linking test
    /// binaries without debug information is about twice as fast. (Panic messages keep their
    /// file and line.) Only for a target folder of the grader's own: in a shared one it would
    /// rebuild everything, twice.
    pub fn lean(mut self) -> Cargo {
        self.lean = true;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command
            .current_dir(&self.root)
            .env("CARGO_TERM_COLOR", "never")
            // Short panics; and no user setting may change libtest's output format.
            .env("RUST_BACKTRACE", "0")
            .env_remove("RUST_TEST_NOCAPTURE")
            .env_remove("RUST_TEST_THREADS");
        if let Some(dir) = &self.target_dir {
            command.env("CARGO_TARGET_DIR", dir);
        }
        if self.lean {
            command
                .env("CARGO_PROFILE_DEV_DEBUG", "0")
                .env("CARGO_PROFILE_TEST_DEBUG", "0")
                .env("CARGO_INCREMENTAL", "0");
        }
        command
    }

    /// Builds the graded tests of several packages in one cargo run, so that they compile in
    /// parallel. Best effort: a failure shows again, per exercise, in [`run_exercise`].
    pub fn prebuild(&self, packages: &[&str], targets: &[String], limit: Duration) {
        if packages.is_empty() || targets.is_empty() {
            return;
        }
        let mut command = self.command();
        command.args(["build", "--keep-going", "--message-format", "short"]);
        for package in packages {
            command.args(["-p", package]);
        }
        for target in targets {
            command.args(["--test", target]);
        }
        let _ = run_watched(command, limit);
    }

    /// Builds one test target and lists its tests.
    fn list(&self, package: &str, target: &str, limit: Duration) -> std::io::Result<Listing> {
        let mut command = self.command();
        command
            .args(["test", "-p", package, "--test", target])
            .args([
                "--message-format",
                "short",
                "--",
                "--list",
                "--format",
                "terse",
            ]);
        let run = run_watched(command, limit)?;
        if run.killed() {
            return Ok(Listing::Failed(format!(
                "the build did not finish within {} minutes",
                limit.as_secs().div_ceil(60)
            )));
        }
        if !run.status.is_some_and(|s| s.success()) {
            let error = first_compile_error(&run.stderr)
                .unwrap_or_else(|| last_line(&run.stderr).unwrap_or("cargo test failed").into());
            return Ok(Listing::Failed(error));
        }
        let names = run
            .lines
            .iter()
            .filter_map(|line| line.text.strip_suffix(": test"))
            .map(str::to_string)
            .collect();
        Ok(Listing::Tests(names))
    }

    /// Runs the tests of one target: all of them, or exactly those named.
    fn run_tests(
        &self,
        package: &str,
        target: &str,
        exact: &[&str],
        limit: Duration,
    ) -> std::io::Result<Watched> {
        let count = if exact.is_empty() {
            MAX_THREADS
        } else {
            exact.len()
        };
        let mut command = self.command();
        command
            .args(["test", "-p", package, "--test", target])
            .args(["--message-format", "short", "--"])
            .args(["--test-threads", &count.clamp(1, MAX_THREADS).to_string()]);
        if !exact.is_empty() {
            command.arg("--exact").args(exact);
        }
        run_watched(command, limit)
    }
}

enum Listing {
    Tests(Vec<String>),
    Failed(String),
}

/// Lists the graded tests of `package` (building them): `None` if they do not build.
pub fn list_tests(
    cargo: &Cargo,
    package: &str,
    targets: &[String],
    limits: &Limits,
) -> std::io::Result<Option<Vec<String>>> {
    let mut all = Vec::new();
    for target in targets {
        match cargo.list(package, target, limits.build)? {
            Listing::Tests(names) => {
                all.extend(names.iter().map(|n| qualified(targets, target, n)))
            }
            Listing::Failed(_) => return Ok(None),
        }
    }
    Ok(Some(all))
}

/// Builds and runs every graded test of `package` (its test targets `targets`).
pub fn run_exercise(
    cargo: &Cargo,
    package: &str,
    targets: &[String],
    limits: &Limits,
) -> std::io::Result<Run> {
    let mut listed = Vec::new();
    for target in targets {
        match cargo.list(package, target, limits.build)? {
            Listing::Tests(names) => listed.push((target, names)),
            Listing::Failed(error) => return Ok(Run::DidNotCompile(error)),
        }
    }
    // The time limit counts from here: building is over.
    let deadline = Instant::now() + limits.per_exercise;
    let mut results = Vec::new();
    for (target, names) in listed {
        let ran = run_target(
            cargo,
            package,
            target,
            &names,
            deadline,
            limits.per_exercise,
        )?;
        results.extend(ran.into_iter().map(|mut result| {
            result.name = qualified(targets, target, &result.name);
            result
        }));
    }
    Ok(Run::Ran(results))
}

/// A test's name in the report: `name`, or `target/name` when an exercise has several
/// graded test files.
fn qualified(targets: &[String], target: &str, name: &str) -> String {
    if targets.len() > 1 {
        format!("{target}/{name}")
    } else {
        name.to_string()
    }
}

fn run_target(
    cargo: &Cargo,
    package: &str,
    target: &str,
    names: &[String],
    deadline: Instant,
    limit: Duration,
) -> std::io::Result<Vec<RawResult>> {
    let left = deadline.saturating_duration_since(Instant::now());
    let mut found = Found::default();
    let mut killed = left.is_zero();
    if !names.is_empty() && !left.is_zero() {
        let run = cargo.run_tests(package, target, &[], left)?;
        found = results_of(&run, names);
        killed = run.killed();
    }

    // libtest prints what failed tests said only at the very end: a process that was killed
    // or crashed never did. Run those tests again, together (they end quickly: they failed),
    // to get their messages back. This may take up to one more time limit.
    if !found.lost.is_empty() {
        let lost: Vec<&str> = found.lost.iter().map(String::as_str).collect();
        let run = cargo.run_tests(package, target, &lost, limit)?;
        let again = results_of(&run, &found.lost);
        for (name, result) in again.results {
            if !again.lost.contains(&name) {
                found.results.insert(name, result);
            }
        }
    }

    let mut ordered = Vec::new();
    for name in names {
        match found.results.remove(name) {
            Some(Some(mut result)) => {
                if found.lost.contains(name) && result.message.is_empty() {
                    result.message = "the test failed, but its message was lost: the test \
                                      process was stopped before it could print it"
                        .into();
                }
                ordered.push(result);
                continue;
            }
            // Ignored tests are not graded.
            Some(None) => continue,
            None => {}
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if killed || left.is_zero() {
            ordered.push(timed_out(name, limit));
            continue;
        }
        // The process ended without this test's result: run it on its own.
        let run = cargo.run_tests(package, target, &[name.as_str()], left)?;
        match results_of(&run, std::slice::from_ref(name))
            .results
            .remove(name)
        {
            Some(Some(result)) => ordered.push(result),
            Some(None) => {}
            None if run.killed() => ordered.push(timed_out(name, limit)),
            None => ordered.push(crashed(name, &run)),
        }
    }
    Ok(ordered)
}

/// What one run of a test process said about the tests asked for.
#[derive(Default)]
struct Found {
    /// `None` for an ignored test.
    results: BTreeMap<String, Option<RawResult>>,
    /// Tests that failed but whose message never came (the process ended before printing
    /// its `failures:` section).
    lost: Vec<String>,
}

/// The results in `run` for the tests in `names` (the last line for a name wins, so text a
/// test prints that looks like a result line does not count over the real one).
fn results_of(run: &Watched, names: &[String]) -> Found {
    let started = run
        .lines
        .iter()
        .find(|line| line.text.starts_with("running "))
        .map_or(Duration::ZERO, |line| line.at);
    let mut finished = BTreeMap::new();
    for line in &run.lines {
        if let Some(name) = result_name(&line.text) {
            finished.insert(name.to_string(), line.at.saturating_sub(started));
        }
    }
    let mut found = Found::default();
    for case in libtest::parse(&run.stdout()) {
        if !names.contains(&case.name) {
            continue;
        }
        let lost = case.outcome == Outcome::Failed && case.output.trim().is_empty();
        if lost && !found.lost.contains(&case.name) {
            found.lost.push(case.name.clone());
        } else if !lost {
            found.lost.retain(|name| *name != case.name);
        }
        let duration = finished.get(&case.name).copied();
        let result = classify(&case).map(|(status, message)| RawResult {
            name: case.name.clone(),
            status,
            message: if lost { String::new() } else { message },
            duration,
        });
        found.results.insert(case.name, result);
    }
    found
}

/// `test NAME ... ok` → NAME.
fn result_name(line: &str) -> Option<&str> {
    let (name, _) = line.strip_prefix("test ")?.split_once(" ... ")?;
    Some(name.strip_suffix(" - should panic").unwrap_or(name))
}

/// A libtest result as a grading status and its message (`None`: ignored, not graded).
pub fn classify(case: &TestCase) -> Option<(Status, String)> {
    Some(match case.outcome {
        Outcome::Passed => (Status::Passed, String::new()),
        Outcome::Ignored => return None,
        Outcome::Failed => {
            let mut message = case.message();
            if message.is_empty() {
                message = "the test failed without a message".into();
            }
            let message = shorten(&message, MESSAGE_CAP);
            // rstest's `#[timeout]` says "Timeout … expired".
            let rstest_timeout = message.starts_with("Timeout ") && message.contains("expired");
            if case.timed_out() || rstest_timeout {
                (Status::TimedOut, message)
            } else if case.not_started() {
                (Status::NotStarted, message)
            } else {
                (Status::Failed, message)
            }
        }
    })
}

fn timed_out(name: &str, limit: Duration) -> RawResult {
    RawResult {
        name: name.to_string(),
        status: Status::TimedOut,
        message: format!(
            "still running when the exercise's time limit ({}s) ran out, so it was stopped. A \
             test that never ends usually waits for bytes that never come (a missing flush, or \
             no shutdown of the sending side) or loops after end-of-file",
            limit.as_secs()
        ),
        duration: None,
    }
}

fn crashed(name: &str, run: &Watched) -> RawResult {
    // cargo says how the test process ended: "process didn't exit successfully: `…` (signal:
    // 6, SIGABRT: process abort signal)".
    let how = run
        .stderr
        .lines()
        .find_map(|line| line.split("process didn't exit successfully").nth(1))
        .and_then(|rest| rest.rfind(" (").map(|i| &rest[i + 2..]))
        .map(|how| how.trim().trim_end_matches(')').to_string())
        .unwrap_or_else(|| "it exited early".to_string());
    let said: Vec<&str> = run
        .stderr
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !is_cargo_line(line))
        .take(5)
        .collect();
    let mut message = format!(
        "the test process ended before this test finished ({how}): does the code call \
         std::process::exit or abort, or recurse without end?"
    );
    if !said.is_empty() {
        message.push('\n');
        message.push_str(&said.join("\n"));
    }
    RawResult {
        name: name.to_string(),
        status: Status::Failed,
        message: shorten(&message, MESSAGE_CAP),
        duration: None,
    }
}

fn is_cargo_line(line: &str) -> bool {
    [
        "Finished",
        "Running",
        "Compiling",
        "Blocking",
        "Caused by:",
        "error: test failed",
        "process didn't exit successfully",
    ]
    .iter()
    .any(|prefix| line.starts_with(prefix))
}

/// The first compiler error in cargo's stderr (`--message-format short`), shortened, with how
/// many more there are.
pub fn first_compile_error(stderr: &str) -> Option<String> {
    let errors: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|line| is_error_line(line))
        .collect();
    let first = match errors.first() {
        Some(first) => first,
        None => stderr
            .lines()
            .map(str::trim)
            .find(|line| line.starts_with("error"))?,
    };
    let mut message = shorten(first, 400);
    if errors.len() > 1 {
        let more = errors.len() - 1;
        message.push_str(&format!(
            " (and {more} more error{})",
            if more == 1 { "" } else { "s" }
        ));
    }
    Some(message)
}

/// `src/lib.rs:3:9: error[E0425]: …` or `error[E0425]: …` or `error: …`, but not cargo's
/// own summary lines.
fn is_error_line(line: &str) -> bool {
    let summary = [
        "error: could not compile",
        "error: aborting due to",
        "error: test failed",
        "error: build failed",
    ];
    if summary.iter().any(|s| line.starts_with(s)) {
        return false;
    }
    let mut parts = line.split(": ");
    let first = parts.next().unwrap_or("");
    let second = parts.next().unwrap_or("");
    first.starts_with("error") || (first.contains(':') && second.starts_with("error"))
}

fn last_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).rfind(|line| !line.is_empty())
}

/// At most `max` bytes of `text` (on a character boundary), marked when cut.
pub fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… (cut)", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_compiler_error_is_found() {
        let stderr = "\
   Compiling ex01 v0.1.0 (/tmp/kit/exercises/ex01-raw-send-recv)
exercises/ex01-raw-send-recv/src/lib.rs:3:9: warning: unused variable: `error`
exercises/ex01-raw-send-recv/src/lib.rs:12:5: error[E0425]: cannot find value `x` in this scope
exercises/ex01-raw-send-recv/src/lib.rs:20:5: error[E0308]: mismatched types
error: could not compile `ex01` (lib) due to 2 previous errors
";
        assert_eq!(
            first_compile_error(stderr).unwrap(),
            "exercises/ex01-raw-send-recv/src/lib.rs:12:5: error[E0425]: cannot find value `x` \
             in this scope (and 1 more error)"
        );
        assert_eq!(
            first_compile_error("error: no test target named `graded` in `ex01` package\n")
                .unwrap(),
            "error: no test target named `graded` in `ex01` package"
        );
        assert_eq!(first_compile_error("all fine\n"), None);
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        assert_eq!(shorten("héllo", 2), "h… (cut)");
        assert_eq!(shorten("hello", 5), "hello");
    }

    #[test]
    fn result_lines_give_names() {
        assert_eq!(result_name("test a::b ... ok"), Some("a::b"));
        assert_eq!(result_name("test a - should panic ... ok"), Some("a"));
        assert_eq!(result_name("running 3 tests"), None);
    }

    #[test]
    fn failures_are_classified_by_their_message() {
        let case = |output: &str| TestCase {
            name: "t".into(),
            outcome: Outcome::Failed,
            output: output.into(),
        };
        let panicked = |message: &str| {
            format!(
                "thread 't' panicked at src/lib.rs:1:1:\n{message}\nnote: run with `RUST_BACKTRACE=1`"
            )
        };
        assert_eq!(
            classify(&case(&panicked("not yet implemented: connect"))),
            Some((Status::NotStarted, "not yet implemented: connect".into()))
        );
        let expired = format!("{} after 1s: did you flush?", lab_harness::DEADLINE_EXPIRED);
        assert_eq!(
            classify(&case(&panicked(&expired))).unwrap().0,
            Status::TimedOut
        );
        assert_eq!(
            classify(&case(&panicked("Timeout 1s expired"))).unwrap().0,
            Status::TimedOut
        );
        assert_eq!(
            classify(&case(&panicked("expected 4, got 5"))),
            Some((Status::Failed, "expected 4, got 5".into()))
        );
        assert_eq!(
            classify(&case("")).unwrap().1,
            "the test failed without a message"
        );
    }
}
