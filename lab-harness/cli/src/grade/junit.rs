//! The JUnit XML report (`--format junit`) for CI dashboards: one `<testsuite>` per exercise.
//!
//! A failed or not-started test is a `<failure>`, a timed-out test or an exercise that does
//! not compile an `<error>`; the `type` attribute carries the grader's status and the body
//! the whole message. Each suite's points are in its `<properties>`.

use std::fmt::Write;

use super::{ExerciseResult, Report, Status, TestResult};

pub fn report(report: &Report) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let (failures, errors) = report
        .exercises
        .iter()
        .map(counts)
        .fold((0, 0), |(f, e), (f2, e2)| (f + f2, e + e2));
    let _ = writeln!(
        out,
        "<testsuites name=\"netlab {}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" \
         time=\"{:.3}\">",
        report.graded.key(),
        report.total(),
        report.duration.as_secs_f64()
    );
    for exercise in &report.exercises {
        suite(&mut out, exercise);
    }
    out.push_str("</testsuites>\n");
    out
}

/// (failures, errors) of one exercise.
fn counts(exercise: &ExerciseResult) -> (usize, usize) {
    let failures = exercise.count(Status::Failed) + exercise.count(Status::NotStarted);
    let errors = exercise.count(Status::TimedOut) + exercise.count(Status::DidNotCompile);
    (failures, errors)
}

fn suite(out: &mut String, exercise: &ExerciseResult) {
    let (failures, errors) = counts(exercise);
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" \
         skipped=\"0\" time=\"{:.3}\">",
        escape(&exercise.folder),
        exercise.tests.len(),
        exercise.duration.as_secs_f64()
    );
    out.push_str("    <properties>\n");
    for (name, value) in [
        ("status", exercise.status().key().to_string()),
        ("points", exercise.points().to_string()),
        ("max_points", exercise.max_points.to_string()),
    ] {
        let _ = writeln!(
            out,
            "      <property name=\"{name}\" value=\"{}\"/>",
            escape(&value)
        );
    }
    out.push_str("    </properties>\n");
    for test in &exercise.tests {
        case(out, exercise, test);
    }
    out.push_str("  </testsuite>\n");
}

fn case(out: &mut String, exercise: &ExerciseResult, test: &TestResult) {
    let time = test
        .duration
        .map(|d| format!(" time=\"{:.3}\"", d.as_secs_f64()))
        .unwrap_or_default();
    let _ = write!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\"{time}",
        escape(&exercise.id),
        escape(&test.name)
    );
    let element = match test.status {
        Status::Passed => {
            out.push_str("/>\n");
            return;
        }
        Status::Failed | Status::NotStarted => "failure",
        Status::TimedOut | Status::DidNotCompile => "error",
    };
    let first_line = test.message.lines().next().unwrap_or("");
    let _ = writeln!(
        out,
        ">\n      <{element} type=\"{}\" message=\"{}\">{}</{element}>\n    </testcase>",
        test.status.key(),
        escape(first_line),
        escape(&test.message)
    );
}

/// Text for XML content and attribute values: markup characters escaped, and characters XML
/// 1.0 does not allow at all (most control characters) replaced by U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Kept in attributes too: a line break in `message` stays a line break.
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::tests::sample_report;

    #[test]
    fn markup_and_control_characters_are_escaped() {
        assert_eq!(
            escape("a<b>&\"c'\u{1}\n"),
            "a&lt;b&gt;&amp;&quot;c&apos;\u{fffd}&#10;"
        );
    }

    #[test]
    fn one_suite_per_exercise_with_failures_and_errors() {
        let xml = report(&sample_report());
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites "));
        assert_eq!(xml.matches("<testsuite ").count(), 2);
        assert!(
            xml.contains("tests=\"4\" failures=\"1\" errors=\"2\""),
            "{xml}"
        );
        assert!(
            xml.contains("<testcase classname=\"ex01\" name=\"connect_works\" time=\"0.012\"/>")
        );
        assert!(xml.contains(
            "<failure type=\"failed\" message=\"got &quot;a&lt;b&gt;&amp;&quot; back\">"
        ));
        assert!(xml.contains("<error type=\"timed_out\""));
        assert!(xml.contains("<error type=\"did_not_compile\""));
        assert!(xml.contains("<property name=\"points\" value=\"3.34\"/>"));
    }
}
