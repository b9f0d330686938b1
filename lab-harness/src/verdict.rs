//! Sealing the verdicts of a graded run: the one function of this library that only the
//! grader calls.
//!
//! `cargo lab grade` does not read test results from a test process's stdout, which the code
//! under test can write to. It runs each graded test in its own process with libtest's
//! `--logfile PATH`: libtest opens that file before any test runs and writes `ok NAME` or
//! `failed NAME` to it as each test ends. The grader keeps a second name (a hard link) for
//! the file, where the sandbox cannot see it.
//!
//! Before it builds a submission, the grader adds one test to each graded test file of its
//! copy of the kit, [`SEAL_TEST`], which calls [`seal_verdicts`]. libtest runs tests in name
//! order, one at a time with `--test-threads 1`, and the seal's name sorts first: it runs
//! after libtest has opened the file and before any student code. It removes the file's
//! only name the sandbox can see. From then on the only way to that file is libtest's own
//! open handle, which safe Rust cannot name (no `unsafe`, no `/proc` in the sandbox); the
//! grader reads the verdicts through its own name for the file, and trusts only a file that
//! starts with `ok` for the seal.

use std::env;
use std::fs;

/// The name of the test the grader adds to every graded test file it builds. Leading
/// underscores sort before every letter, so libtest runs it first.
pub const SEAL_TEST: &str = "__netlab_seal_verdicts";

/// Removes the file given to libtest as `--logfile` from the file system, so that the code
/// under test cannot open it (libtest keeps writing to it through the handle it holds).
///
/// # Panics
/// When the test binary was not started with `--logfile` (only the grader runs this test),
/// or the file cannot be removed: the grader then trusts no verdict of this run.
pub fn seal_verdicts() {
    let args: Vec<String> = env::args().collect();
    let path = args
        .windows(2)
        .find(|pair| pair[0] == "--logfile")
        .map(|pair| pair[1].clone())
        .expect("this test is added by `cargo lab grade`, which passes --logfile");
    fs::remove_file(&path).unwrap_or_else(|error| panic!("cannot seal {path}: {error}"));
}
