//! The JSON report (`--format json`), and a small JSON writer shared with [`super::gradescope`].
//!
//! Schema `netlab-grade/1` (documented in the lab book, docs/src/grader/json.md):
//!
//! ```text
//! { "schema": "netlab-grade/1", "graded": "exercises" | "solutions",
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

use std::fmt::Write;
use std::time::Duration;

use super::{ExerciseResult, Points, Report, TestResult};

/// The schema name written in every report.
pub const SCHEMA: &str = "netlab-grade/1";

/// A JSON value, built in order (objects keep their keys in the order given).
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// A number, already written (see [`Json::points`], [`Json::seconds`], [`Json::int`]).
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    pub fn str(text: impl Into<String>) -> Json {
        Json::String(text.into())
    }

    /// A string, or `null` when empty.
    pub fn text_or_null(text: &str) -> Json {
        if text.is_empty() {
            Json::Null
        } else {
            Json::str(text)
        }
    }

    pub fn int(value: usize) -> Json {
        Json::Number(value.to_string())
    }

    pub fn points(points: Points) -> Json {
        Json::Number(points.to_string())
    }

    /// Seconds with millisecond precision.
    pub fn seconds(duration: Duration) -> Json {
        Json::Number(format!("{:.3}", duration.as_secs_f64()))
    }

    pub fn object<const N: usize>(fields: [(&str, Json); N]) -> Json {
        Json::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }

    /// Indented with two spaces; short arrays and objects stay on one line.
    pub fn pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out.push('\n');
        out
    }

    fn write(&self, out: &mut String, depth: usize) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => out.push_str(n),
            Json::String(s) => write_string(out, s),
            Json::Array(items) if items.is_empty() => out.push_str("[]"),
            Json::Object(fields) if fields.is_empty() => out.push_str("{}"),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    indent(out, depth + 1);
                    item.write(out, depth + 1);
                }
                out.push('\n');
                indent(out, depth);
                out.push(']');
            }
            Json::Object(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    indent(out, depth + 1);
                    write_string(out, key);
                    out.push_str(": ");
                    value.write(out, depth + 1);
                }
                out.push('\n');
                indent(out, depth);
                out.push('}');
            }
        }
    }
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// A JSON string: quotes, backslashes and every control character escaped.
pub fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The whole report as JSON.
pub fn report(report: &Report) -> String {
    to_json(report).pretty()
}

/// The report as a [`Json`] value (also the element of a batch's JSON array).
pub fn to_json(report: &Report) -> Json {
    Json::object([
        ("schema", Json::str(SCHEMA)),
        ("graded", Json::str(report.graded.key())),
        ("score", Json::points(report.points())),
        ("max_score", Json::points(report.max_points())),
        ("passed", Json::int(report.passed())),
        ("total", Json::int(report.total())),
        ("duration", Json::seconds(report.duration)),
        (
            "notes",
            Json::Array(report.notes.iter().map(Json::str).collect()),
        ),
        (
            "exercises",
            Json::Array(report.exercises.iter().map(exercise).collect()),
        ),
    ])
}

fn exercise(exercise: &ExerciseResult) -> Json {
    Json::object([
        ("exercise", Json::str(&exercise.id)),
        ("folder", Json::str(&exercise.folder)),
        ("package", Json::str(&exercise.package)),
        ("status", Json::str(exercise.status().key())),
        ("points", Json::points(exercise.points())),
        ("max_points", Json::points(exercise.max_points)),
        ("passed", Json::int(exercise.passed())),
        ("total", Json::int(exercise.tests.len())),
        (
            "message",
            Json::text_or_null(exercise.compile_error.as_deref().unwrap_or("")),
        ),
        ("duration", Json::seconds(exercise.duration)),
        (
            "tests",
            Json::Array(
                exercise
                    .tests
                    .iter()
                    .map(|t| test(&exercise.id, t))
                    .collect(),
            ),
        ),
    ])
}

fn test(exercise: &str, test: &TestResult) -> Json {
    Json::object([
        ("exercise", Json::str(exercise)),
        ("test", Json::str(&test.name)),
        ("status", Json::str(test.status.key())),
        ("points", Json::points(test.points)),
        ("max_points", Json::points(test.max_points)),
        ("message", Json::text_or_null(&test.message)),
        ("duration", test.duration.map_or(Json::Null, Json::seconds)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::tests::sample_report;

    #[test]
    fn strings_are_escaped() {
        let mut out = String::new();
        write_string(&mut out, "a\"b\\c\nd\u{1}e\u{2028}é");
        assert_eq!(out, r#""a\"b\\c\nd\u0001e\u2028é""#);
    }

    #[test]
    fn values_print_indented() {
        let value = Json::object([
            ("a", Json::int(1)),
            ("b", Json::Array(vec![Json::Null, Json::Bool(true)])),
            ("c", Json::Array(Vec::new())),
        ]);
        assert_eq!(
            value.pretty(),
            "{\n  \"a\": 1,\n  \"b\": [\n    null,\n    true\n  ],\n  \"c\": []\n}\n"
        );
    }

    #[test]
    fn the_report_names_every_field() {
        let text = report(&sample_report());
        for field in [
            "\"schema\": \"netlab-grade/1\"",
            "\"score\": 3.34",
            "\"max_score\": 20",
            "\"status\": \"timed_out\"",
            "\"status\": \"did_not_compile\"",
            "\"test\": \"echo::case_1_text\"",
            "\"message\": null",
            "\"duration\": 0.012",
            "got \\\"a<b>&\\\" back\\nsecond line \\u0001",
        ] {
            assert!(text.contains(field), "{field} missing in\n{text}");
        }
    }
}
