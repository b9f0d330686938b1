//! Gradescope's `results.json` (`--format gradescope`).
//!
//! One entry in `tests` per graded test: `name` ("ex01-raw-send-recv: connect_works"),
//! `number` ("1.3": exercise 1, its third test), `score`, `max_score`, `status` (`passed` or
//! `failed`, the only two Gradescope knows), `output` (what the grader found, with the test's
//! hint) and `visibility` `visible`. The top-level `score` is the total, so Gradescope shows
//! exactly the grader's sum; `output` is the score table (with its lines on an interrupted
//! run and on code that ran unsandboxed).

use serde::Serialize;

use super::json::{self, JsonPoints};
use super::{ExerciseResult, Report, Status, TestResult, table};

pub fn report(report: &Report) -> String {
    let mut tests = Vec::new();
    for (index, exercise) in report.exercises.iter().enumerate() {
        let number = exercise_number(exercise).unwrap_or(index + 1);
        for (i, test) in exercise.tests.iter().enumerate() {
            tests.push(entry(exercise, test, format!("{number}.{}", i + 1)));
        }
    }
    json::pretty(&Results {
        score: JsonPoints(report.points()),
        execution_time: report.duration.as_secs_f64().ceil() as u64,
        output: table::report(report),
        output_format: "text",
        visibility: "visible",
        stdout_visibility: "hidden",
        extra_data: ExtraData {
            isolation: report.isolation.key(),
            complete: report.complete,
        },
        tests,
    })
}

/// The top level of `results.json`, in Gradescope's names.
#[derive(Serialize)]
struct Results {
    score: JsonPoints,
    /// Whole seconds.
    execution_time: u64,
    output: String,
    output_format: &'static str,
    visibility: &'static str,
    stdout_visibility: &'static str,
    /// Gradescope keeps this with the submission without showing it: how the code ran, and
    /// whether grading finished, for scripts that audit a course's results.
    extra_data: ExtraData,
    tests: Vec<Entry>,
}

#[derive(Serialize)]
struct ExtraData {
    isolation: &'static str,
    complete: bool,
}

/// One test of `results.json`.
#[derive(Serialize)]
struct Entry {
    name: String,
    number: String,
    score: JsonPoints,
    max_score: JsonPoints,
    status: &'static str,
    output: String,
    output_format: &'static str,
    visibility: &'static str,
}

/// `ex03` → 3.
fn exercise_number(exercise: &ExerciseResult) -> Option<usize> {
    let digits: String = exercise
        .id
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn entry(exercise: &ExerciseResult, test: &TestResult, number: String) -> Entry {
    let status = if test.status == Status::Passed {
        "passed"
    } else {
        "failed"
    };
    Entry {
        name: format!("{}: {}", exercise.folder, test.name),
        number,
        score: JsonPoints(test.points),
        max_score: JsonPoints(test.max_points),
        status,
        output: output(exercise, test),
        output_format: "text",
        visibility: "visible",
    }
}

/// What a student reads under the test.
fn output(exercise: &ExerciseResult, test: &TestResult) -> String {
    match test.status {
        Status::Passed => "passed".to_string(),
        Status::NotStarted => format!(
            "not started: the todo!() in exercises/{}/src is still there\n{}",
            exercise.folder, test.message
        ),
        status => format!("{}: {}", status.words(), test.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::tests::sample_report;

    #[test]
    fn tests_are_numbered_by_exercise() {
        let json = report(&sample_report());
        assert!(json.contains("\"number\": \"1.2\""), "{json}");
        assert!(json.contains("\"number\": \"2.1\""), "{json}");
        assert!(json.contains("\"name\": \"ex01-raw-send-recv: echo::case_1_text\""));
        assert!(
            json.contains("\"score\": 3.34,\n  \"execution_time\": 5,"),
            "{json}"
        );
        assert!(json.contains("\"output\": \"timed out: deadline expired after 10s"));
        assert!(!json.contains("\"status\": \"timed_out\""));
    }

    #[test]
    fn the_output_flags_an_interrupted_unsandboxed_run() {
        let mut sample = sample_report();
        let results: serde_json::Value = serde_json::from_str(&report(&sample)).unwrap();
        assert!(!results["output"].as_str().unwrap().contains("INCOMPLETE"));
        sample.complete = false;
        sample.isolation = crate::grade::Isolation::Unsandboxed;
        let results: serde_json::Value = serde_json::from_str(&report(&sample)).unwrap();
        let output = results["output"].as_str().unwrap();
        assert_eq!(output, table::report(&sample));
        assert!(
            output.contains(&format!("{}\nUNSANDBOXED: ", table::INCOMPLETE)),
            "{output}"
        );
    }
}
