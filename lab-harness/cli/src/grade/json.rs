//! The JSON report (`--format json`), the array of a batch (`--batch … --format json`), and
//! the number forms shared with [`super::gradescope`].
//!
//! Schema `netlab-grade/2` (documented in the lab book, docs/src/grader/json.md):
//!
//! ```text
//! { "schema": "netlab-grade/2", "graded": "exercises" | "solutions",
//!   "complete": bool, "isolation": "sandbox" | "unsandboxed" | "in_place",
//!   "score": number, "max_score": number, "passed": int, "total": int,
//!   "duration": seconds, "notes": [string],
//!   "exercises": [ { "exercise": "ex01", "folder": "ex01-raw-send-recv", "package": "ex01",
//!                    "status": "passed" | "in_progress" | "failed" | "timed_out"
//!                              | "not_started" | "did_not_compile",
//!                    "points", "max_points", "passed", "total",
//!                    "message": string | null, "duration": seconds,
//!                    "tests": [ { "exercise": "ex01", "test": "name",
//!                                 "status": "passed" | "failed" | "not_started"
//!                                           | "timed_out" | "did_not_compile",
//!                                 "points", "max_points",
//!                                 "message": string | null,
//!                                 "duration": seconds | null } ] } ] }
//! ```
//!
//! The report's own types carry no serde derives: the structs here are *views* that borrow
//! from a [`Report`] and spell out the schema, field by field and in order, so that the
//! schema changes only when this file does.

use std::time::Duration;

use serde::{Serialize, Serializer};

use super::batch::Submission;
use super::csv::row_status;
use super::{ExerciseResult, Points, Report, TestResult};

/// The schema name written in every report.
pub const SCHEMA: &str = "netlab-grade/2";

/// The whole report as JSON.
pub fn report(report: &Report) -> String {
    pretty(&ReportView::new(report))
}

/// A batch: `[{"student", "status": "graded" | "incomplete" | "error", "reason": null |
/// "…", "report": {…} | null}]`, the status being the gradebook's ([`row_status`]).
pub fn batch(submissions: &[Submission]) -> String {
    let entries: Vec<BatchEntry> = submissions
        .iter()
        .map(|submission| {
            let (reason, report) = match &submission.outcome {
                Ok(report) => (None, Some(ReportView::new(report))),
                Err(reason) => (Some(reason.as_str()), None),
            };
            BatchEntry {
                student: &submission.student,
                status: row_status(submission),
                reason,
                report,
            }
        })
        .collect();
    pretty(&entries)
}

/// Indented with two spaces, with a final line break (a report is a text file).
pub fn pretty(value: &impl Serialize) -> String {
    // Only a map with non-string keys or a failing `Serialize` impl can make serde_json fail;
    // the views in this module and in gradescope.rs have neither.
    let mut text = serde_json::to_string_pretty(value).expect("a report view always serialises");
    text.push('\n');
    text
}

/// Points as the shortest JSON number: `10`, `3.5`, `3.34`. A whole number stays an integer
/// (`20`, not `20.0`), as in every report so far.
#[derive(Clone, Copy, Debug)]
pub struct JsonPoints(pub Points);

impl Serialize for JsonPoints {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let hundredths = self.0.hundredths();
        if hundredths % 100 == 0 {
            serializer.serialize_u64(hundredths / 100)
        } else {
            // The f64 nearest to n/100 prints as exactly the two decimals of n/100: serde_json
            // writes the shortest form that reads back as the same f64.
            serializer.serialize_f64(self.0.as_f64())
        }
    }
}

/// Seconds, rounded to the millisecond.
pub fn seconds(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0).round() / 1000.0
}

/// `null` for an empty text.
fn text_or_null(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

#[derive(Serialize)]
struct BatchEntry<'a> {
    student: &'a str,
    status: &'static str,
    reason: Option<&'a str>,
    report: Option<ReportView<'a>>,
}

#[derive(Serialize)]
struct ReportView<'a> {
    schema: &'static str,
    graded: &'static str,
    complete: bool,
    isolation: &'static str,
    score: JsonPoints,
    max_score: JsonPoints,
    passed: usize,
    total: usize,
    duration: f64,
    notes: &'a [String],
    exercises: Vec<ExerciseView<'a>>,
}

impl<'a> ReportView<'a> {
    fn new(report: &'a Report) -> ReportView<'a> {
        ReportView {
            schema: SCHEMA,
            graded: report.graded.key(),
            complete: report.complete,
            isolation: report.isolation.key(),
            score: JsonPoints(report.points()),
            max_score: JsonPoints(report.max_points()),
            passed: report.passed(),
            total: report.total(),
            duration: seconds(report.duration),
            notes: &report.notes,
            exercises: report.exercises.iter().map(ExerciseView::new).collect(),
        }
    }
}

#[derive(Serialize)]
struct ExerciseView<'a> {
    exercise: &'a str,
    folder: &'a str,
    package: &'a str,
    status: &'static str,
    points: JsonPoints,
    max_points: JsonPoints,
    passed: usize,
    total: usize,
    message: Option<&'a str>,
    duration: f64,
    review: &'a [String],
    tests: Vec<TestView<'a>>,
}

impl<'a> ExerciseView<'a> {
    fn new(exercise: &'a ExerciseResult) -> ExerciseView<'a> {
        ExerciseView {
            exercise: &exercise.id,
            folder: &exercise.folder,
            package: &exercise.package,
            status: exercise.status().key(),
            points: JsonPoints(exercise.points()),
            max_points: JsonPoints(exercise.max_points),
            passed: exercise.passed(),
            total: exercise.tests.len(),
            message: exercise.compile_error.as_deref().and_then(text_or_null),
            duration: seconds(exercise.duration),
            review: &exercise.review,
            tests: exercise
                .tests
                .iter()
                .map(|test| TestView::new(&exercise.id, test))
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct TestView<'a> {
    exercise: &'a str,
    test: &'a str,
    status: &'static str,
    points: JsonPoints,
    max_points: JsonPoints,
    message: Option<&'a str>,
    duration: Option<f64>,
}

impl<'a> TestView<'a> {
    fn new(exercise: &'a str, test: &'a TestResult) -> TestView<'a> {
        TestView {
            exercise,
            test: &test.name,
            status: test.status.key(),
            points: JsonPoints(test.points),
            max_points: JsonPoints(test.max_points),
            message: text_or_null(&test.message),
            duration: test.duration.map(seconds),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::Isolation;
    use crate::grade::tests::sample_report;
    use serde_json::{Value, json};

    #[test]
    fn the_report_names_every_field() {
        let text = report(&sample_report());
        for field in [
            "{\n  \"schema\": \"netlab-grade/2\",\n  \"graded\": \"exercises\",\n  \
             \"complete\": true,\n  \"isolation\": \"sandbox\",\n",
            "\"score\": 3.34",
            "\"max_score\": 20,",
            "\"status\": \"timed_out\"",
            "\"status\": \"did_not_compile\"",
            "\"test\": \"echo::case_1_text\"",
            "\"message\": null",
            "\"duration\": 0.012",
            "\"duration\": null",
            "got \\\"a<b>&\\\" back\\nsecond line \\u0001",
        ] {
            assert!(text.contains(field), "{field} missing in\n{text}");
        }
        assert!(text.ends_with("}\n"), "{text}");
    }

    #[test]
    fn an_interrupted_unsandboxed_run_says_so() {
        let mut sample = sample_report();
        sample.complete = false;
        sample.isolation = Isolation::Unsandboxed;
        let value: Value = serde_json::from_str(&report(&sample)).unwrap();
        assert_eq!(value["complete"], json!(false));
        assert_eq!(value["isolation"], json!("unsandboxed"));
        sample.isolation = Isolation::InPlace;
        let value: Value = serde_json::from_str(&report(&sample)).unwrap();
        assert_eq!(value["isolation"], json!("in_place"));
    }

    #[test]
    fn points_are_exact_and_seconds_are_rounded_to_the_millisecond() {
        let number = |hundredths| {
            serde_json::to_string(&JsonPoints(Points::from_hundredths(hundredths))).unwrap()
        };
        assert_eq!(
            [number(0), number(2000), number(350), number(334), number(5)],
            ["0", "20", "3.5", "3.34", "0.05"]
        );
        assert_eq!(seconds(Duration::from_micros(12_345)), 0.012);
        assert_eq!(seconds(Duration::from_micros(12_500)), 0.013);
        assert_eq!(seconds(Duration::from_millis(3200)), 3.2);
    }

    #[test]
    fn a_batch_has_one_entry_per_student() {
        let mut interrupted = sample_report();
        interrupted.complete = false;
        let submissions = [
            Submission {
                student: "alice".into(),
                outcome: Ok(sample_report()),
            },
            Submission {
                student: "bob".into(),
                outcome: Ok(interrupted),
            },
            Submission {
                student: "carol".into(),
                outcome: Err("no exercises/ folder".into()),
            },
        ];
        let value: Value = serde_json::from_str(&batch(&submissions)).unwrap();
        let entries = value.as_array().unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0]["status"], "graded");
        assert_eq!(entries[0]["reason"], Value::Null);
        assert_eq!(entries[0]["report"]["schema"], SCHEMA);
        assert_eq!(entries[1]["status"], "incomplete");
        assert_eq!(entries[1]["report"]["complete"], false);
        assert_eq!(
            entries[2],
            json!({"student": "carol", "status": "error",
                   "reason": "no exercises/ folder", "report": null})
        );
    }
}
