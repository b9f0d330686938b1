//! The gradebook CSV (`--format csv`, the default with `--batch`): one row per student.
//!
//! Columns: `student, score, max_score, status, reason`, then for each exercise
//! `exNN_points, exNN_tests, exNN_status`. `status` is `graded`, or `error` for a submission
//! that could not be graded (its points are all zero and `reason` says why). Fields follow
//! RFC 4180; text that a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) gets a
//! leading `'`.

use super::batch::Submission;
use super::{Points, Report};

/// One exercise's columns: its id and its points.
#[derive(Clone, Debug)]
pub struct Column {
    pub id: String,
    pub max_points: Points,
}

/// The header and one row per submission.
pub fn gradebook(columns: &[Column], submissions: &[Submission]) -> String {
    let mut out = String::new();
    let mut header = vec![
        "student".to_string(),
        "score".into(),
        "max_score".into(),
        "status".into(),
        "reason".into(),
    ];
    for column in columns {
        for suffix in ["points", "tests", "status"] {
            header.push(format!("{}_{suffix}", column.id));
        }
    }
    push_row(&mut out, &header);
    for submission in submissions {
        let row = match &submission.outcome {
            Ok(report) => graded_row(&submission.student, columns, report),
            Err(reason) => error_row(&submission.student, columns, reason),
        };
        push_row(&mut out, &row);
    }
    out
}

/// The CSV of a single report (a header and one row named `student`).
pub fn single(student: &str, columns: &[Column], report: &Report) -> String {
    let submission = Submission {
        student: student.to_string(),
        outcome: Ok(report.clone()),
    };
    gradebook(columns, std::slice::from_ref(&submission))
}

fn graded_row(student: &str, columns: &[Column], report: &Report) -> Vec<String> {
    let mut row = vec![
        text(student),
        report.points().to_string(),
        report.max_points().to_string(),
        "graded".to_string(),
        text(&report.notes.join("; ")),
    ];
    for column in columns {
        match report.exercises.iter().find(|e| e.id == column.id) {
            Some(exercise) => {
                row.push(exercise.points().to_string());
                row.push(format!("{}/{}", exercise.passed(), exercise.tests.len()));
                row.push(exercise.status().key().to_string());
            }
            None => row.extend(["0".to_string(), String::new(), "not_graded".to_string()]),
        }
    }
    row
}

fn error_row(student: &str, columns: &[Column], reason: &str) -> Vec<String> {
    let max: Points = columns.iter().map(|c| c.max_points).sum();
    let mut row = vec![
        text(student),
        "0".to_string(),
        max.to_string(),
        "error".to_string(),
        text(reason),
    ];
    for _ in columns {
        row.extend(["0".to_string(), String::new(), "error".to_string()]);
    }
    row
}

/// A text field, defused for spreadsheets.
fn text(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    }
}

fn push_row(out: &mut String, fields: &[String]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if field.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&field.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(field);
        }
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::tests::sample_report;

    fn columns() -> Vec<Column> {
        ["ex01", "ex02"]
            .map(|id| Column {
                id: id.into(),
                max_points: Points::from_hundredths(1000),
            })
            .to_vec()
    }

    #[test]
    fn one_row_per_student_with_a_reason_for_errors() {
        let submissions = [
            Submission {
                student: "alice".into(),
                outcome: Ok(sample_report()),
            },
            Submission {
                student: "=bob, \"the\" builder".into(),
                outcome: Err("no exercises/ folder\nfound".into()),
            },
        ];
        let csv = gradebook(&columns(), &submissions);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "student,score,max_score,status,reason,ex01_points,ex01_tests,ex01_status,\
             ex02_points,ex02_tests,ex02_status"
        );
        assert_eq!(
            lines[1],
            "alice,3.34,20,graded,a note,3.34,1/3,timed_out,0,0/1,did_not_compile"
        );
        assert_eq!(
            lines[2],
            "\"'=bob, \"\"the\"\" builder\",0,20,error,\"no exercises/ folder\nfound\",0,,error,0,,error"
        );
    }
}
