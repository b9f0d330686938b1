//! The gradebook CSV (`--format csv`, the default with `--batch`): one row per student.
//!
//! Columns: `student, score, max_score, status, reason, isolation, complete`, then for each
//! exercise `exNN_points, exNN_tests, exNN_status`. `status` is `graded`; `incomplete` for a
//! submission whose grading was interrupted (the exercises graded so far are in the row, the
//! others `not_graded`); or `error` for a submission that could not be graded (its points
//! are all zero, `reason` says why, `isolation` and `complete` are empty). `isolation` is
//! `sandbox`, `unsandboxed` or `in_place`, `complete` is `true` or `false`.
//!
//! Fields follow RFC 4180 (the csv crate's quoting, CRLF line ends). Text that a spreadsheet
//! would run as a formula (`=`, `+`, `-`, `@` first) gets a leading `'`, which the csv crate
//! does not do.
//!
//! A batch writes its gradebook row by row with a [`GradebookWriter`], each row on disk as
//! soon as its student is graded, so that a grader killed halfway (out of memory, a reboot)
//! loses nothing and `--resume` can go on after the students [`graded_students`] finds.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use csv::{ReaderBuilder, StringRecord, Terminator, WriterBuilder};

use super::batch::Submission;
use super::{Points, Report};

/// One exercise's columns: its id and its points.
#[derive(Clone, Debug)]
pub struct Column {
    pub id: String,
    pub max_points: Points,
}

/// Row statuses.
pub const GRADED: &str = "graded";
pub const INCOMPLETE: &str = "incomplete";
pub const ERROR: &str = "error";

/// The status of a submission's row: [`GRADED`], [`INCOMPLETE`] or [`ERROR`].
pub fn row_status(submission: &Submission) -> &'static str {
    match &submission.outcome {
        Ok(report) if report.complete => GRADED,
        Ok(_) => INCOMPLETE,
        Err(_) => ERROR,
    }
}

/// The header and one row per submission.
pub fn gradebook(columns: &[Column], submissions: &[Submission]) -> String {
    let mut csv = writer().from_writer(Vec::new());
    // Writing to memory fails only if a record cannot be written at all, and these are all
    // plain strings.
    let mut write = |fields: Vec<String>| {
        csv.write_record(&fields)
            .expect("a CSV record of strings always writes to memory");
    };
    write(header(columns));
    for submission in submissions {
        write(row(columns, submission));
    }
    let bytes = csv
        .into_inner()
        .expect("flushing a CSV writer to memory cannot fail");
    // Every field came from a `&str`, so the bytes are UTF-8.
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The CSV of a single report (a header and one row named `student`).
pub fn single(student: &str, columns: &[Column], report: &Report) -> String {
    let submission = Submission {
        student: student.to_string(),
        outcome: Ok(report.clone()),
    };
    gradebook(columns, std::slice::from_ref(&submission))
}

/// A gradebook on disk, written one row at a time.
pub struct GradebookWriter {
    columns: Vec<Column>,
    csv: csv::Writer<File>,
    path: PathBuf,
}

impl GradebookWriter {
    /// Starts a new gradebook at `path` (replacing any file there) with the header of
    /// `columns`, already on disk when this returns.
    pub fn create(path: &Path, columns: &[Column]) -> anyhow::Result<GradebookWriter> {
        let file =
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut writer = GradebookWriter {
            columns: columns.to_vec(),
            csv: writer().from_writer(file),
            path: path.to_path_buf(),
        };
        writer.write_fields(&header(columns))?;
        Ok(writer)
    }

    /// Opens the gradebook at `path` to add rows after those it has, once its header is the
    /// one `columns` give (another header means another set of exercises: mixing them would
    /// shift every column). Rows that will be written again go first: `incomplete` rows
    /// (grading was interrupted there, so `--resume` grades that student again) and a last
    /// row cut short by a crash. Each student then has one row.
    pub fn append(path: &Path, columns: &[Column]) -> anyhow::Result<GradebookWriter> {
        let book = read_gradebook(path)?;
        let expected = header(columns);
        if book.header.iter().ne(expected.iter().map(String::as_str)) {
            bail!(
                "{} is a gradebook for other exercises: its header is `{}`, these exercises \
                 give `{}`",
                path.display(),
                book.header.iter().collect::<Vec<_>>().join(","),
                expected.join(",")
            );
        }
        let status = book.header.iter().position(|h| h == "status");
        let unfinished = |row: &StringRecord| status.is_some_and(|i| &row[i] == INCOMPLETE);
        if book.complete_len < book.len || book.rows.iter().any(unfinished) {
            // Written beside it and renamed over it: an interruption now leaves either the
            // old gradebook or the new one, never half of one.
            let fresh = path.with_extension("csv.resume");
            {
                let file = File::create(&fresh)
                    .with_context(|| format!("cannot create {}", fresh.display()))?;
                let mut csv = writer().from_writer(file);
                csv.write_record(&book.header)?;
                for row in book.rows.iter().filter(|row| !unfinished(row)) {
                    csv.write_record(row)?;
                }
                csv.flush()?;
                csv.get_ref().sync_data()?;
            }
            fs::rename(&fresh, path)
                .with_context(|| format!("cannot replace {}", path.display()))?;
        }
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {} to add rows", path.display()))?;
        Ok(GradebookWriter {
            columns: columns.to_vec(),
            csv: writer().from_writer(file),
            path: path.to_path_buf(),
        })
    }

    /// Writes `submission`'s row, on disk (flushed and synced) when this returns.
    pub fn write(&mut self, submission: &Submission) -> anyhow::Result<()> {
        let row = row(&self.columns, submission);
        self.write_fields(&row)
    }

    fn write_fields(&mut self, fields: &[String]) -> anyhow::Result<()> {
        self.csv
            .write_record(fields)
            .map_err(anyhow::Error::from)
            .and_then(|()| Ok(self.csv.flush()?))
            // Past the page cache: a row that was written survives a crash or a power cut.
            .and_then(|()| Ok(self.csv.get_ref().sync_data()?))
            .with_context(|| format!("cannot write to {}", self.path.display()))
    }
}

/// The students of the gradebook at `path` who need no grading again: those whose row has
/// the status `graded` or `error`. An `incomplete` row does not count (`--resume` grades that
/// student again and adds a new row), nor a last row cut short by a crash.
pub fn graded_students(path: &Path) -> anyhow::Result<BTreeSet<String>> {
    let book = read_gradebook(path)?;
    let column = |name: &str| {
        book.header.iter().position(|h| h == name).with_context(|| {
            format!(
                "{} is not a gradebook: its header has no `{name}` column",
                path.display()
            )
        })
    };
    let (student, status) = (column("student")?, column("status")?);
    Ok(book
        .rows
        .iter()
        .filter(|row| matches!(&row[status], GRADED | ERROR))
        .map(|row| untext(&row[student]).to_string())
        .collect())
}

/// A gradebook read back.
struct Gradebook {
    header: StringRecord,
    /// Every whole row (the same number of fields as the header, and a line end after it).
    rows: Vec<StringRecord>,
    /// The file's length, and the length without an unfinished last row.
    len: u64,
    complete_len: u64,
}

fn read_gradebook(path: &Path) -> anyhow::Result<Gradebook> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut reader = ReaderBuilder::new()
        .has_headers(false)
        // A short last row (a crash mid-row) must be readable, to be dropped.
        .flexible(true)
        .from_reader(bytes.as_slice());
    let mut records = reader.records();
    let header = match records.next() {
        Some(header) => header.with_context(|| format!("cannot read {}", path.display()))?,
        None => bail!("{} is empty: not a gradebook", path.display()),
    };
    let mut rows = Vec::new();
    let mut complete_len = bytes.len() as u64;
    let mut start = records.reader().position().byte();
    while let Some(record) = records.next() {
        let record = record.with_context(|| format!("cannot read {}", path.display()))?;
        let end = records.reader().position().byte();
        let (end, ended) = line_end(&bytes, end);
        if record.len() == header.len() && ended {
            rows.push(record);
        } else if end == bytes.len() as u64 {
            // Only the last row can be unfinished: each row is synced before the next.
            complete_len = start;
        } else {
            bail!(
                "{}: row {} has {} fields, the header {}",
                path.display(),
                rows.len() + 2,
                record.len(),
                header.len()
            );
        }
        start = end;
    }
    Ok(Gradebook {
        header,
        rows,
        len: bytes.len() as u64,
        complete_len,
    })
}

/// Where the line of a record that the reader left at `end` ends, and whether it has its
/// line end at all (a record cut short by a crash has none). The reader stops after the
/// `\r` of a CRLF and takes the `\n` as part of the next record.
fn line_end(bytes: &[u8], end: u64) -> (u64, bool) {
    let at = |i: u64| usize::try_from(i).ok().and_then(|i| bytes.get(i)).copied();
    match end.checked_sub(1).and_then(at) {
        Some(b'\n') => (end, true),
        Some(b'\r') if at(end) == Some(b'\n') => (end + 1, true),
        _ => (end, false),
    }
}

fn writer() -> WriterBuilder {
    let mut builder = WriterBuilder::new();
    // RFC 4180's line end, which spreadsheets expect.
    builder.terminator(Terminator::CRLF);
    builder
}

fn header(columns: &[Column]) -> Vec<String> {
    let mut header: Vec<String> = [
        "student",
        "score",
        "max_score",
        "status",
        "reason",
        "isolation",
        "complete",
    ]
    .map(String::from)
    .to_vec();
    for column in columns {
        for suffix in ["points", "tests", "status"] {
            header.push(format!("{}_{suffix}", column.id));
        }
    }
    header
}

fn row(columns: &[Column], submission: &Submission) -> Vec<String> {
    let mut row = vec![text(&submission.student)];
    let status = row_status(submission).to_string();
    match &submission.outcome {
        Ok(report) => {
            row.extend([
                report.points().to_string(),
                report.max_points().to_string(),
                status,
                text(&report.notes.join("; ")),
                report.isolation.key().to_string(),
                report.complete.to_string(),
            ]);
            for column in columns {
                match report.exercises.iter().find(|e| e.id == column.id) {
                    Some(exercise) => row.extend([
                        exercise.points().to_string(),
                        format!("{}/{}", exercise.passed(), exercise.tests.len()),
                        exercise.status().key().to_string(),
                    ]),
                    // Not in the report: another --only, or grading was interrupted first.
                    None => row.extend(["0".to_string(), String::new(), "not_graded".into()]),
                }
            }
        }
        Err(reason) => {
            let max: Points = columns.iter().map(|c| c.max_points).sum();
            // No report: nothing to say about isolation or completeness.
            row.extend([
                "0".to_string(),
                max.to_string(),
                status,
                text(reason),
                String::new(),
                String::new(),
            ]);
            for _ in columns {
                row.extend(["0".to_string(), String::new(), ERROR.to_string()]);
            }
        }
    }
    row
}

/// A text field, defused for spreadsheets: a leading `'` before what would start a formula.
/// A text that starts with `'` gets one too, so that [`untext`] can always take it off again
/// (and a spreadsheet, which hides one leading `'`, shows the text as it was).
fn text(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r', '\'']) {
        format!("'{value}")
    } else {
        value.to_string()
    }
}

/// The text a [`text`] field was made from.
fn untext(field: &str) -> &str {
    field.strip_prefix('\'').unwrap_or(field)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::Isolation;
    use crate::grade::stage::TempDir;
    use crate::grade::tests::sample_report;

    fn columns() -> Vec<Column> {
        ["ex01", "ex02"]
            .map(|id| Column {
                id: id.into(),
                max_points: Points::from_hundredths(1000),
            })
            .to_vec()
    }

    fn graded(student: &str) -> Submission {
        Submission {
            student: student.into(),
            outcome: Ok(sample_report()),
        }
    }

    fn interrupted(student: &str) -> Submission {
        let mut report = sample_report();
        report.complete = false;
        report.isolation = Isolation::Unsandboxed;
        report.exercises.truncate(1);
        Submission {
            student: student.into(),
            outcome: Ok(report),
        }
    }

    fn failed(student: &str, reason: &str) -> Submission {
        Submission {
            student: student.into(),
            outcome: Err(reason.into()),
        }
    }

    const HEADER: &str = "student,score,max_score,status,reason,isolation,complete,\
                          ex01_points,ex01_tests,ex01_status,ex02_points,ex02_tests,ex02_status";

    #[test]
    fn one_row_per_student_with_a_reason_for_errors() {
        let submissions = [
            graded("alice"),
            failed("=bob, \"the\" builder", "no exercises/ folder\nfound"),
            interrupted("carol"),
        ];
        let csv = gradebook(&columns(), &submissions);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines[0], HEADER);
        assert_eq!(
            lines[1],
            "alice,3.34,20,graded,a note,sandbox,true,3.34,1/3,timed_out,0,0/1,did_not_compile"
        );
        assert_eq!(
            lines[2],
            "\"'=bob, \"\"the\"\" builder\",0,20,error,\"no exercises/ folder\nfound\",,,0,,error,\
             0,,error"
        );
        assert_eq!(
            lines[3],
            "carol,3.34,10,incomplete,a note,unsandboxed,false,3.34,1/3,timed_out,0,,not_graded"
        );
        assert_eq!(lines[4], "", "every row ends with CRLF");
        assert_eq!(lines.len(), 5);
    }

    #[test]
    fn formulas_are_defused_and_read_back_as_they_were() {
        for name in ["=1+1", "+1", "-1", "@SUM(A1)", "'quoted", "\ttab", "plain"] {
            let field = text(name);
            if name == "plain" {
                assert_eq!(field, "plain");
            } else {
                assert_eq!(field, format!("'{name}"));
            }
            assert_eq!(untext(&field), name);
        }
    }

    #[test]
    fn a_gradebook_is_written_row_by_row_and_resumed() {
        let dir = TempDir::new("gradebook").unwrap();
        let path = dir.path().join("gradebook.csv");
        let mut writer = GradebookWriter::create(&path, &columns()).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), format!("{HEADER}\r\n"));
        writer.write(&graded("alice")).unwrap();
        // On disk at once, before the writer is dropped.
        assert!(
            fs::read_to_string(&path)
                .unwrap()
                .contains("\r\nalice,3.34,")
        );
        writer
            .write(&failed("-bob", "no exercises/ folder"))
            .unwrap();
        writer.write(&interrupted("carol")).unwrap();
        drop(writer);
        let expected: BTreeSet<String> = ["alice", "-bob"].map(String::from).into();
        assert_eq!(graded_students(&path).unwrap(), expected);

        // Resuming: carol's incomplete row goes, she is graded again; the other rows stay.
        let mut writer = GradebookWriter::append(&path, &columns()).unwrap();
        writer.write(&graded("carol")).unwrap();
        drop(writer);
        let expected: BTreeSet<String> = ["alice", "-bob", "carol"].map(String::from).into();
        assert_eq!(graded_students(&path).unwrap(), expected);
        let all = gradebook(
            &columns(),
            &[
                graded("alice"),
                failed("-bob", "no exercises/ folder"),
                graded("carol"),
            ],
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), all);
    }

    #[test]
    fn a_row_cut_short_by_a_crash_is_dropped_and_graded_again() {
        let dir = TempDir::new("gradebook").unwrap();
        let path = dir.path().join("gradebook.csv");
        let mut writer = GradebookWriter::create(&path, &columns()).unwrap();
        writer.write(&graded("alice")).unwrap();
        drop(writer);
        let whole = fs::read_to_string(&path).unwrap();
        let rows = gradebook(&columns(), &[graded("bob")]);
        let bob = rows.split_once("\r\n").unwrap().1;
        // Cut in the last field, and cut just before the line end: both unfinished.
        for cut in [bob.len() - 5, bob.len() - 2] {
            fs::write(&path, format!("{whole}{}", &bob[..cut])).unwrap();
            let expected: BTreeSet<String> = ["alice".to_string()].into();
            assert_eq!(graded_students(&path).unwrap(), expected, "cut at {cut}");
            let mut writer = GradebookWriter::append(&path, &columns()).unwrap();
            writer.write(&graded("bob")).unwrap();
            drop(writer);
            assert_eq!(
                fs::read_to_string(&path).unwrap(),
                gradebook(&columns(), &[graded("alice"), graded("bob")])
            );
        }
    }

    #[test]
    fn a_gradebook_for_other_exercises_is_not_appended_to() {
        let dir = TempDir::new("gradebook").unwrap();
        let path = dir.path().join("gradebook.csv");
        GradebookWriter::create(&path, &columns()[..1]).unwrap();
        let error = GradebookWriter::append(&path, &columns())
            .err()
            .expect("another header is refused")
            .to_string();
        assert!(
            error.contains(&path.display().to_string()) && error.contains("other exercises"),
            "{error}"
        );
        assert_eq!(
            fs::read_to_string(&path).unwrap().lines().count(),
            1,
            "the file is left alone"
        );

        fs::write(&path, "").unwrap();
        let error = format!("{:#}", graded_students(&path).unwrap_err());
        assert!(error.contains("is empty"), "{error}");
        fs::write(&path, "name,points\r\n").unwrap();
        let error = format!("{:#}", graded_students(&path).unwrap_err());
        assert!(error.contains("no `student` column"), "{error}");
        let missing = dir.path().join("missing.csv");
        let error = format!("{:#}", graded_students(&missing).unwrap_err());
        assert!(
            error.contains("cannot read") && error.contains("missing.csv"),
            "{error}"
        );
    }
}
