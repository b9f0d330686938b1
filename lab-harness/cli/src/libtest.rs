//! Reading what `cargo test` prints.
//!
//! Stable Rust has no machine-readable test output (`--format json` is nightly-only), but the
//! plain libtest lines are stable: `test NAME ... ok|FAILED|ignored` for each test, then a
//! `failures:` section with `---- NAME stdout ----` and that test's captured output. This
//! module turns them into [`TestCase`]s for `cargo lab check` and `cargo lab grade`.

/// How one test ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    Ignored,
}

/// One test from libtest's output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestCase {
    /// The test's path inside its binary, e.g. `connect_reaches_the_server::case_1`.
    pub name: String,
    pub outcome: Outcome,
    /// The captured output of a failed test: its panic message, the hint.
    pub output: String,
}

impl TestCase {
    /// Failed because the code under test is still a `todo!()`.
    pub fn not_started(&self) -> bool {
        self.outcome == Outcome::Failed && self.output.contains("not yet implemented")
    }

    /// Failed because a [`lab_harness::Watchdog`] deadline passed.
    pub fn timed_out(&self) -> bool {
        self.outcome == Outcome::Failed && self.output.contains(lab_harness::DEADLINE_EXPIRED)
    }

    /// The line of the output that says what went wrong: the panic message after
    /// `panicked at FILE:LINE:COL:`, up to the `note: run with RUST_BACKTRACE` line.
    pub fn message(&self) -> String {
        let mut lines = self.output.lines();
        let mut message = Vec::new();
        if lines.any(|line| line.contains("panicked at")) {
            for line in lines {
                if line.starts_with("note: run with `RUST_BACKTRACE") {
                    break;
                }
                message.push(line);
            }
        }
        if message.is_empty() {
            self.output.trim().to_string()
        } else {
            message.join("\n").trim().to_string()
        }
    }
}

/// Every test result in `stdout` (several test binaries' output may follow each other).
pub fn parse(stdout: &str) -> Vec<TestCase> {
    let mut cases: Vec<TestCase> = Vec::new();
    let mut section: Option<(String, Vec<&str>)> = None;
    for line in stdout.lines() {
        if let Some((name, outcome)) = result_line(line) {
            cases.push(TestCase {
                name,
                outcome,
                output: String::new(),
            });
            continue;
        }
        let header = line
            .strip_prefix("---- ")
            .and_then(|rest| rest.strip_suffix(" stdout ----"));
        let section_ends =
            header.is_some() || line == "failures:" || line.starts_with("test result:");
        if section_ends {
            if let Some((name, output)) = section.take() {
                attach_output(&mut cases, &name, output.join("\n").trim());
            }
        }
        if let Some(name) = header {
            section = Some((name.to_string(), Vec::new()));
        } else if let Some((_, output)) = section.as_mut() {
            output.push(line);
        }
    }
    if let Some((name, output)) = section {
        attach_output(&mut cases, &name, output.join("\n").trim());
    }
    cases
}

/// `test NAME ... ok` → (NAME, Passed). `NAME` may contain `::` and spaces are not allowed.
fn result_line(line: &str) -> Option<(String, Outcome)> {
    let rest = line.strip_prefix("test ")?;
    let (name, result) = rest.split_once(" ... ")?;
    let outcome = match result.split(',').next()?.trim() {
        "ok" => Outcome::Passed,
        "FAILED" => Outcome::Failed,
        "ignored" => Outcome::Ignored,
        _ => return None,
    };
    // `test NAME - should panic ... ok`
    let name = name.strip_suffix(" - should panic").unwrap_or(name);
    Some((name.to_string(), outcome))
}

fn attach_output(cases: &mut [TestCase], name: &str, output: &str) {
    // The most recent failed test of that name (test binaries are printed one after another).
    if let Some(case) = cases
        .iter_mut()
        .rev()
        .find(|case| case.name == name && case.outcome == Outcome::Failed && case.output.is_empty())
    {
        case.output = output.to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "
running 3 tests
test connect::case_1_text ... ok
test receive_some_returns_one_read ... FAILED
test slow ... ignored, needs a network

failures:

---- receive_some_returns_one_read stdout ----

thread 'test body' panicked at exercises/ex01/src/lib.rs:10:5:
not yet implemented
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace


failures:
    receive_some_returns_one_read

test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s
";

    #[test]
    fn results_and_failure_output_are_read() {
        let cases = parse(SAMPLE);
        let outcomes: Vec<_> = cases.iter().map(|c| (c.name.as_str(), c.outcome)).collect();
        assert_eq!(
            outcomes,
            [
                ("connect::case_1_text", Outcome::Passed),
                ("receive_some_returns_one_read", Outcome::Failed),
                ("slow", Outcome::Ignored),
            ]
        );
        assert!(cases[1].not_started());
        assert_eq!(cases[1].message(), "not yet implemented");
        assert!(cases[0].output.is_empty());
    }
}
