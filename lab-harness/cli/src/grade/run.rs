//! Running one exercise's graded tests so that every test gets a status it earned, even when
//! the code under test hangs, crashes, floods its output or lies.
//!
//! Each graded test runs in its own process (in a sandbox, for a submission), all of an
//! exercise's tests at once up to [`WORKERS`], under the exercise's time limit:
//!
//! ```text
//! TESTBIN --exact [SEAL] NAME --test-threads 1 --logfile LOG
//! ```
//!
//! Whether the test passed comes only from LOG, which libtest writes (see [`super::verdict`]
//! for why it can be trusted); never from what the process prints, nor its exit code. What
//! it printed gives a failed test its message (the panic message: the graded test's hint).
//! A process that ends or is stopped before its result is written failed (it crashed, called
//! `exit`, printed too much, wrote where it must not) or timed out (still running at the
//! limit), with a message that says which.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lab_harness::SEAL_TEST;

use super::Status;
pub use super::build::shorten;
use super::place::{Place, TestProcess};
use super::verdict::{Verdict, VerdictFile, verdict_of};
use crate::libtest::{self, Outcome, TestCase};
use crate::process::{self, Ending, Watch, Watched};

/// At most this many test processes of one exercise run at once.
const WORKERS: usize = 16;
/// A message longer than this (in characters) keeps its start and its end (student code can
/// panic with megabytes of text; a failure's conversation on the wire takes a few thousand).
const MESSAGE_CAP: usize = 8000;
/// What a test process may print before it is stopped: no graded test needs a fraction.
const FLOOD: u64 = 16 << 20;
/// What is kept of it (the failure message is at its end, but libtest prints only the
/// failing test's captured output, so it is short unless the code printed a lot itself).
const KEEP: usize = 1 << 20;

/// The time limits of grading.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// For running all of one exercise's tests (building is not counted).
    pub per_exercise: Duration,
    /// For building a submission (all its exercises in one build).
    pub build: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            per_exercise: Duration::from_secs(60),
            build: Duration::from_secs(300),
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

/// One graded test to run.
#[derive(Clone, Debug)]
pub struct TestToRun {
    /// The name in the report (`name`, or `target/name` with several graded test files).
    pub shown: String,
    /// The name libtest knows.
    pub name: String,
    /// The test binary, as cargo printed it.
    pub executable: String,
    pub package: String,
    /// The package's folder, relative to the workspace root.
    pub package_dir: PathBuf,
}

/// Lists the tests of a test binary (no test runs: libtest only prints their names).
pub fn list(executable: &Path, limit: Duration) -> std::io::Result<Result<Vec<String>, String>> {
    let mut command = std::process::Command::new(executable);
    command.args(["--list", "--format", "terse"]);
    let run = Watch::new(limit).keep(4 << 20).run(command)?;
    if !run.success() {
        return Ok(Err(format!(
            "{} --list failed: {}",
            executable.display(),
            run.stderr.lines().next().unwrap_or("no message")
        )));
    }
    Ok(Ok(run
        .stdout
        .lines()
        .filter_map(|line| line.strip_suffix(": test"))
        .filter(|name| *name != SEAL_TEST)
        .map(str::to_string)
        .collect()))
}

/// Runs `tests` at `place`, each in its own process, all within `limit` from now. Verdict
/// files go in new folders under `scratch`. Results come in the order of `tests`; ignored
/// tests are left out (they are not graded).
pub fn run_tests(
    place: &Place,
    tests: &[TestToRun],
    limit: Duration,
    scratch: &Path,
) -> Vec<RawResult> {
    run_tests_until(place, tests, limit, scratch, &|_| false)
}

/// Runs `tests` as [`run_tests`] does, until a result makes `enough` true: then no other test
/// starts and the ones still running are stopped. The results are those of the tests that
/// ended on their own (the one that was enough among them), in the order of `tests`.
///
/// For a question one result answers, such as "is this still a skeleton?": an exercise whose
/// tests hang would otherwise keep the grader waiting for all of them.
pub fn run_tests_until(
    place: &Place,
    tests: &[TestToRun],
    limit: Duration,
    scratch: &Path,
    enough: &(dyn Fn(&RawResult) -> bool + Sync),
) -> Vec<RawResult> {
    let deadline = Instant::now() + limit;
    let queue = Mutex::new((0..tests.len()).collect::<VecDeque<usize>>());
    let results = Mutex::new(vec![None; tests.len()]);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..WORKERS.min(tests.len()) {
            scope.spawn(|| {
                loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Some(index) = queue.lock().unwrap().pop_front() else {
                        break;
                    };
                    let test = &tests[index];
                    let dir = scratch.join(format!("test-{index}"));
                    let result = run_one(place, test, deadline, limit, &dir, &stop);
                    if result.as_ref().is_some_and(enough) {
                        stop.store(true, Ordering::Relaxed);
                    }
                    results.lock().unwrap()[index] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .flatten()
        .flatten()
        .collect()
}

/// One test in one process. `None` for an ignored test, and for one stopped because `stop`
/// was set while it ran.
fn run_one(
    place: &Place,
    test: &TestToRun,
    deadline: Instant,
    limit: Duration,
    dir: &Path,
    stop: &AtomicBool,
) -> Option<RawResult> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() || process::interrupted() {
        return Some(timed_out(&test.shown, limit, false));
    }
    let verdict = match VerdictFile::create(dir) {
        Ok(verdict) => verdict,
        Err(error) => return Some(grader_error(&test.shown, &error.to_string())),
    };
    let mut args: Vec<OsString> = vec!["--exact".into()];
    if place.sealed() {
        args.push(SEAL_TEST.into());
    }
    args.extend([
        test.name.clone().into(),
        "--test-threads".into(),
        "1".into(),
        "--logfile".into(),
        place.log_argument(&verdict),
    ]);
    let mut stopped = false;
    let mut check = || {
        if stop.load(Ordering::Relaxed) {
            stopped = true;
            return Some("stopped: another test's result was enough".to_string());
        }
        verdict.check()
    };
    let watch = Watch::new(left).keep(KEEP).flood(FLOOD).check(&mut check);
    let process = TestProcess {
        executable: &test.executable,
        package: &test.package,
        package_dir: &test.package_dir,
        args: &args,
    };
    let run = place.test_process(&process, &verdict, watch, left);
    let log = verdict.read().unwrap_or_default();
    let _ = std::fs::remove_dir_all(dir);
    if stopped {
        return None;
    }
    let run = match run {
        Ok(run) => run,
        Err(error) => return Some(grader_error(&test.shown, &error.to_string())),
    };
    judge(
        test,
        &run,
        verdict_of(&log, &test.name, place.sealed()),
        limit,
    )
}

/// The result of a test from its log's verdict and how its process ended.
fn judge(
    test: &TestToRun,
    run: &Watched,
    verdict: Result<Verdict, String>,
    limit: Duration,
) -> Option<RawResult> {
    let result = |status, message: String| RawResult {
        name: test.shown.clone(),
        status,
        message: lab_harness::cap_text(&message, MESSAGE_CAP),
        duration: Some(run.elapsed),
    };
    match verdict {
        Ok(Verdict::Passed) => return Some(result(Status::Passed, String::new())),
        Ok(Verdict::Ignored) => return None,
        Ok(Verdict::Failed) => {
            let case = libtest::parse(&run.stdout)
                .into_iter()
                .find(|case| case.name == test.name && case.outcome == Outcome::Failed)
                .unwrap_or(TestCase {
                    name: test.name.clone(),
                    outcome: Outcome::Failed,
                    output: String::new(),
                });
            let (status, message) = classify(&case).unwrap_or((Status::Failed, String::new()));
            return Some(result(status, message));
        }
        Ok(Verdict::Missing) | Err(_) => {}
    }
    Some(match &run.ending {
        Ending::TimedOut => timed_out(&test.shown, limit, true),
        Ending::Interrupted => result(
            Status::TimedOut,
            "grading was interrupted while this test ran".into(),
        ),
        Ending::Flooded(bytes) => result(
            Status::Failed,
            format!(
                "the test printed more than {} MiB, so it was stopped: does the code print in \
                 a loop?",
                bytes >> 20
            ),
        ),
        Ending::Stopped(reason) => result(Status::Failed, reason.clone()),
        Ending::Exited(status) => match verdict {
            Err(reason) => result(Status::Failed, reason),
            Ok(_) => result(Status::Failed, crashed(*status, &run.stderr)),
        },
    })
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
            let message = lab_harness::cap_text(&message, MESSAGE_CAP);
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

fn timed_out(name: &str, limit: Duration, started: bool) -> RawResult {
    let message = if started {
        format!(
            "still running when the exercise's time limit ({}s) ran out, so it was stopped. A \
             test that never ends usually waits for bytes that never come (a missing flush, or \
             no shutdown of the sending side) or loops after end-of-file",
            limit.as_secs()
        )
    } else {
        format!(
            "not run: the exercise's time limit ({}s) ran out before it could start, because \
             other tests of the exercise took it all",
            limit.as_secs()
        )
    };
    RawResult {
        name: name.to_string(),
        status: Status::TimedOut,
        message,
        duration: None,
    }
}

fn grader_error(name: &str, error: &str) -> RawResult {
    RawResult {
        name: name.to_string(),
        status: Status::Failed,
        message: format!("the grader could not run this test: {error}"),
        duration: None,
    }
}

/// Why a test process ended before its result, in a student's words.
fn crashed(status: std::process::ExitStatus, stderr: &str) -> String {
    let how = describe_exit(status);
    let said: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("warning: `--logfile`"))
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
    message
}

/// `exit status 0`, `killed by signal 6 (SIGABRT)`. A sandbox reports a signal as the exit
/// status 128 + N, like a shell.
fn describe_exit(status: std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        let signal = status.signal().or_else(|| {
            status
                .code()
                .filter(|c| (129..160).contains(c))
                .map(|c| c - 128)
        });
        if let Some(signal) = signal {
            let name = match signal {
                6 => " (SIGABRT: an abort)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV: a stack overflow?)",
                15 => " (SIGTERM)",
                _ => "",
            };
            return format!("killed by signal {signal}{name}");
        }
    }
    match status.code() {
        Some(code) => format!("exit status {code}"),
        None => "it was killed".to_string(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// [`enough_stops_the_tests_still_running`] grades this test binary: run by the grader,
    /// this test belongs to the package the grader names in `CARGO_PKG_NAME`, as cargo would
    /// set it, and waits when that package is `waits-for-ever`. Run by `cargo test`, it is
    /// the kit's `lab-cli`.
    #[test]
    fn a_test_that_waits_when_asked() {
        let package = std::env::var("CARGO_PKG_NAME").unwrap_or_default();
        assert!(
            ["lab-cli", "passes", "waits-for-ever"].contains(&package.as_str()),
            "CARGO_PKG_NAME is {package:?}"
        );
        if package == "waits-for-ever" {
            std::thread::sleep(Duration::from_secs(60));
        }
    }

    #[test]
    fn enough_stops_the_tests_still_running() {
        let executable = std::env::current_exe().unwrap();
        let test = |package: &str| TestToRun {
            shown: package.to_string(),
            name: "grade::run::tests::a_test_that_waits_when_asked".into(),
            executable: executable.to_string_lossy().into_owned(),
            package: package.into(),
            package_dir: PathBuf::from("."),
        };
        let tests = [
            test("waits-for-ever"),
            test("waits-for-ever"),
            test("passes"),
            test("waits-for-ever"),
        ];
        let place = Place::in_place(Path::new(env!("CARGO_MANIFEST_DIR")), None);
        let scratch = crate::grade::stage::TempDir::new("run-until").unwrap();
        let passed = |r: &RawResult| r.status == Status::Passed;
        // Without the stop, the waiting tests would be reported timed out at this limit.
        let limit = Duration::from_secs(30);
        let results = run_tests_until(&place, &tests, limit, scratch.path(), &passed);
        let outcomes: Vec<(&str, Status)> = results
            .iter()
            .map(|r| (r.name.as_str(), r.status))
            .collect();
        assert_eq!(outcomes, [("passes", Status::Passed)], "{results:#?}");
    }

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
