//! The score table (`--format table`, the default): one row per exercise, a total, then
//! what to look at first (each failed or timed-out test with the first line of its hint).

use std::fmt::Write;

use super::{ExerciseResult, ExerciseStatus, Graded, Report, Status};

/// At most this many tests to look at are listed per exercise.
const SHOWN_PER_EXERCISE: usize = 8;

pub fn report(report: &Report) -> String {
    let what = match report.graded {
        Graded::Exercises => "exercises",
        Graded::Solutions => "reference solutions",
    };
    let mut rows = vec![[
        "exercise".to_string(),
        "tests".to_string(),
        "points".to_string(),
        "status".to_string(),
    ]];
    for exercise in &report.exercises {
        rows.push([
            exercise.folder.clone(),
            format!("{}/{}", exercise.passed(), exercise.tests.len()),
            format!(
                "{} / {}",
                exercise.points().fixed(),
                exercise.max_points.fixed()
            ),
            status_text(exercise),
        ]);
    }
    rows.push([
        "total".to_string(),
        format!("{}/{}", report.passed(), report.total()),
        format!(
            "{} / {}",
            report.points().fixed(),
            report.max_points().fixed()
        ),
        String::new(),
    ]);
    let widths: Vec<usize> = (0..4)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();

    let mut out = format!("netlab grade: {what}\n\n");
    for row in &rows {
        let line = format!(
            "{:<w0$}  {:>w1$}  {:>w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    // Right under the score, where nobody can miss them: a partial or untrusted score.
    for warning in warnings(report) {
        out.push_str(warning);
        out.push('\n');
    }

    let mut to_look_at = String::new();
    for exercise in &report.exercises {
        look_at(&mut to_look_at, exercise);
    }
    if !to_look_at.is_empty() {
        out.push_str("\nto look at first:\n");
        out.push_str(&to_look_at);
    }
    let reviewed: Vec<&ExerciseResult> = report
        .exercises
        .iter()
        .filter(|e| !e.review.is_empty())
        .collect();
    if !reviewed.is_empty() {
        out.push_str("\nreview of your code (the kit's lints; no points given or taken):\n");
        for exercise in reviewed {
            for comment in &exercise.review {
                let first = comment.lines().next().unwrap_or("");
                let _ = writeln!(out, "  {} {}", exercise.id, super::run::shorten(first, 200));
            }
        }
    }
    for note in &report.notes {
        let _ = writeln!(out, "\nnote: {note}");
    }
    out
}

/// The line of a report whose grading was interrupted.
pub const INCOMPLETE: &str =
    "INCOMPLETE: grading was interrupted; exercises not listed were not graded";

/// What the reader of a report must know before trusting its score, one line each: that
/// grading was interrupted, and how the code ran ([`super::Isolation::warning`]). Also the
/// JUnit report's `<system-err>`.
pub fn warnings(report: &Report) -> Vec<&'static str> {
    let incomplete = (!report.complete).then_some(INCOMPLETE);
    incomplete
        .into_iter()
        .chain(report.isolation.warning())
        .collect()
}

/// `failed (1 failed, 2 not started)`
pub fn status_text(exercise: &ExerciseResult) -> String {
    let status = exercise.status();
    let mixed = matches!(
        status,
        ExerciseStatus::Failed | ExerciseStatus::TimedOut | ExerciseStatus::InProgress
    );
    if !mixed {
        return status.words().to_string();
    }
    let parts: Vec<String> = [Status::Failed, Status::TimedOut, Status::NotStarted]
        .into_iter()
        .filter_map(|s| {
            let n = exercise.count(s);
            (n > 0).then(|| format!("{n} {}", s.words()))
        })
        .collect();
    format!("{} ({})", status.words(), parts.join(", "))
}

/// One progress line: `ex01-raw-send-recv: 15/16 passed, 9.38 of 10 points, failed (1 failed), 3.2 s`
pub fn progress_line(exercise: &ExerciseResult) -> String {
    format!(
        "{}: {}/{} passed, {} of {} points, {}, {:.1} s",
        exercise.folder,
        exercise.passed(),
        exercise.tests.len(),
        exercise.points(),
        exercise.max_points,
        status_text(exercise),
        exercise.duration.as_secs_f64()
    )
}

fn look_at(out: &mut String, exercise: &ExerciseResult) {
    if let Some(error) = &exercise.compile_error {
        let _ = writeln!(out, "  {} did not compile: {error}", exercise.id);
        return;
    }
    let worth: Vec<_> = exercise
        .tests
        .iter()
        .filter(|t| matches!(t.status, Status::Failed | Status::TimedOut))
        .collect();
    for test in worth.iter().take(SHOWN_PER_EXERCISE) {
        let first = test.message.lines().next().unwrap_or("");
        let first = super::run::shorten(first, 200);
        let _ = writeln!(
            out,
            "  {} {} ({}): {first}",
            exercise.id,
            test.name,
            test.status.words()
        );
    }
    if worth.len() > SHOWN_PER_EXERCISE {
        let _ = writeln!(
            out,
            "  {} … and {} more",
            exercise.id,
            worth.len() - SHOWN_PER_EXERCISE
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::tests::sample_report;

    #[test]
    fn rows_total_and_what_to_look_at() {
        let text = report(&sample_report());
        let expected = "\
netlab grade: exercises

exercise            tests        points  status
ex01-raw-send-recv    1/3  3.34 / 10.00  timed out (1 failed, 1 timed out)
ex02-line-streams     0/1  0.00 / 10.00  did not compile
total                 1/4  3.34 / 20.00

to look at first:
  ex01 echo::case_1_text (failed): got \"a<b>&\" back
  ex01 read_all (timed out): deadline expired after 10s: did you flush?
  ex02 did not compile: src/lib.rs:1:1: error: expected item

review of your code (the kit's lints; no points given or taken):
  ex01 exercises/ex01-raw-send-recv/src/lib.rs:12:5: error: written amount is not handled

note: a note
";
        assert_eq!(text, expected);
    }

    #[test]
    fn an_interrupted_unsandboxed_run_is_flagged_under_the_total() {
        let mut sample = sample_report();
        sample.complete = false;
        sample.isolation = crate::grade::Isolation::Unsandboxed;
        let text = report(&sample);
        let expected = "\
total                 1/4  3.34 / 20.00
INCOMPLETE: grading was interrupted; exercises not listed were not graded
UNSANDBOXED: this submission's code ran without isolation (--unsandboxed); its results cannot be \
                        trusted

to look at first:
";
        assert!(text.contains(expected), "{text}");
    }

    #[test]
    fn a_progress_line_sums_up_an_exercise() {
        let report = sample_report();
        assert_eq!(
            progress_line(&report.exercises[0]),
            "ex01-raw-send-recv: 1/3 passed, 3.34 of 10 points, timed out (1 failed, 1 timed \
             out), 3.2 s"
        );
    }
}
