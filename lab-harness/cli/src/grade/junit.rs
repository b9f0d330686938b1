//! The JUnit XML report (`--format junit`) for CI dashboards: one `<testsuite>` per exercise,
//! in the strict Ant format (the schema the kit checks it against is
//! `lab-harness/cli/tests/fixtures/junit-strict.xsd`).
//!
//! A failed or not-started test is a `<failure>`, a timed-out test or an exercise that does
//! not compile an `<error>`; the `type` attribute carries the grader's status and the body
//! the whole message. Each suite's points, its run's isolation and whether the run is
//! complete are in its `<properties>`; what the reader must know before trusting the score
//! (an interrupted run, code that ran unsandboxed) is in its `<system-err>`.

use std::borrow::Cow;
use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use super::{ExerciseResult, Report, Status, TestResult, table};

/// The `hostname` of every suite. The Ant format requires one, but a report must not carry
/// facts about the grading machine (it is handed to students and kept in LMSes), so it names
/// the grader instead of the host.
const HOSTNAME: &str = "netlab";

/// The report, written now: the suites' timestamps count back from the wall clock (see
/// [`report_at`]).
pub fn report(report: &Report) -> String {
    report_at(report, SystemTime::now())
}

/// The report as if written at `written`, right after the run. The suites' `timestamp`s are
/// when each exercise started, counted back from there: exercises are graded one after the
/// other and the report is written as the last one ends.
pub fn report_at(report: &Report, written: SystemTime) -> String {
    let written = written.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let mut started = Vec::with_capacity(report.exercises.len());
    let mut start = written;
    for exercise in report.exercises.iter().rev() {
        start = start.saturating_sub(exercise.duration);
        started.push(start.as_secs());
    }
    started.reverse();

    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    // Writing into a Vec cannot fail: the only io::Error would come from the Vec.
    write_report(&mut writer, report, &started).expect("writing XML to memory cannot fail");
    let mut xml = String::from_utf8_lossy(&writer.into_inner()).into_owned();
    xml.push('\n');
    xml
}

type XmlWriter = Writer<Vec<u8>>;

fn write_report(writer: &mut XmlWriter, report: &Report, started: &[u64]) -> io::Result<()> {
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let (failures, errors) = report
        .exercises
        .iter()
        .map(counts)
        .fold((0, 0), |(f, e), (f2, e2)| (f + f2, e + e2));
    writer
        .create_element("testsuites")
        .with_attributes([
            ("name", format!("netlab {}", report.graded.key()).as_str()),
            ("tests", &report.total().to_string()),
            ("failures", &failures.to_string()),
            ("errors", &errors.to_string()),
            ("time", &seconds(report.duration)),
        ])
        .write_inner_content(|writer| {
            for (exercise, &started) in report.exercises.iter().zip(started) {
                suite(writer, report, exercise, started)?;
            }
            Ok(())
        })?;
    Ok(())
}

/// (failures, errors) of one exercise.
fn counts(exercise: &ExerciseResult) -> (usize, usize) {
    let failures = exercise.count(Status::Failed) + exercise.count(Status::NotStarted);
    let errors = exercise.count(Status::TimedOut) + exercise.count(Status::DidNotCompile);
    (failures, errors)
}

fn suite(
    writer: &mut XmlWriter,
    report: &Report,
    exercise: &ExerciseResult,
    started: u64,
) -> io::Result<()> {
    let (failures, errors) = counts(exercise);
    writer
        .create_element("testsuite")
        .with_attributes([
            ("name", xml_text(&exercise.folder).as_ref()),
            ("tests", &exercise.tests.len().to_string()),
            ("failures", &failures.to_string()),
            ("errors", &errors.to_string()),
            ("skipped", "0"),
            ("time", &seconds(exercise.duration)),
            ("timestamp", &timestamp(started)),
            ("hostname", HOSTNAME),
        ])
        .write_inner_content(|writer| {
            writer
                .create_element("properties")
                .write_inner_content(|writer| {
                    for (name, value) in [
                        ("status", exercise.status().key().to_string()),
                        ("points", exercise.points().to_string()),
                        ("max_points", exercise.max_points.to_string()),
                        ("isolation", report.isolation.key().to_string()),
                        ("complete", report.complete.to_string()),
                    ] {
                        writer
                            .create_element("property")
                            .with_attributes([("name", name), ("value", &value)])
                            .write_empty()?;
                    }
                    Ok(())
                })?;
            for test in &exercise.tests {
                case(writer, exercise, test)?;
            }
            // Both always present (the strict format requires them), empty when there is
            // nothing to say. The review of the student's code goes to system-out.
            let review = exercise.review.join("\n");
            let out = writer.create_element("system-out");
            if review.is_empty() {
                out.write_empty()?;
            } else {
                out.write_text_content(BytesText::new(&xml_text(&review)))?;
            }
            let warnings = table::warnings(report).join("\n");
            let err = writer.create_element("system-err");
            if warnings.is_empty() {
                err.write_empty()?;
            } else {
                err.write_text_content(BytesText::new(&warnings))?;
            }
            Ok(())
        })?;
    Ok(())
}

fn case(writer: &mut XmlWriter, exercise: &ExerciseResult, test: &TestResult) -> io::Result<()> {
    // A test that never reported (and the entry of an exercise that did not compile) has no
    // duration; the format requires a time all the same.
    let time = test.duration.map_or_else(|| "0.000".to_string(), seconds);
    let element = writer.create_element("testcase").with_attributes([
        ("classname", xml_text(&exercise.id).as_ref()),
        ("name", &xml_text(&test.name)),
        ("time", &time),
    ]);
    let kind = match test.status {
        Status::Passed => {
            element.write_empty()?;
            return Ok(());
        }
        Status::Failed | Status::NotStarted => "failure",
        Status::TimedOut | Status::DidNotCompile => "error",
    };
    let first_line = test.message.lines().next().unwrap_or("");
    element.write_inner_content(|writer| {
        writer
            .create_element(kind)
            .with_attributes([
                ("type", test.status.key()),
                ("message", &xml_text(first_line)),
            ])
            .write_text_content(BytesText::new(&xml_text(&test.message)))?;
        Ok(())
    })?;
    Ok(())
}

/// Seconds with millisecond precision, as the format's `time` attributes have them.
fn seconds(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64())
}

/// Text XML 1.0 can hold: the characters it does not allow at all (most control characters,
/// which a test's output may well contain) become U+FFFD. quick-xml escapes the markup
/// characters but leaves these, and a parser would reject the whole report for one of them.
fn xml_text(text: &str) -> Cow<'_, str> {
    // XML 1.0's Char production: tab, line feed, carriage return, then U+0020 and up
    // without U+FFFE and U+FFFF (a Rust char is never a surrogate).
    let allowed = |c: char| match c {
        '\t' | '\n' | '\r' => true,
        '\u{fffe}' | '\u{ffff}' => false,
        c => c >= ' ',
    };
    if text.chars().all(allowed) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(
            text.chars()
                .map(|c| if allowed(c) { c } else { '\u{fffd}' })
                .collect(),
        )
    }
}

/// `2026-11-29T20:35:07`: ISO 8601 in UTC without a zone, as the Ant format has it.
fn timestamp(unix_seconds: u64) -> String {
    let days = unix_seconds / 86_400;
    let of_day = unix_seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// The date (year, month, day) `days` days after 1970-01-01, in the proleptic Gregorian
/// calendar. Howard Hinnant's `civil_from_days`, for days on or after the epoch: count in
/// 400-year eras (146,097 days each) of years that start on March 1, so that the leap day is
/// the last day of a year.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Day 0 of the era count is 0000-03-01; 1970-01-01 is 719,468 days later.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097; // [0, 146096]
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365; // [0, 399]
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // [0, 365]
    let shifted_month = (5 * day_of_year + 2) / 153; // [0, 11], March is 0
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1; // [1, 31]
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::Isolation;
    use crate::grade::tests::sample_report;

    /// 2026-11-29T20:35:07Z
    const WRITTEN: u64 = 1_795_984_507;

    fn written() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(WRITTEN)
    }

    #[test]
    fn control_characters_are_replaced() {
        assert_eq!(xml_text("a<b>&\"\u{1}\n\t"), "a<b>&\"\u{fffd}\n\t");
        assert!(matches!(xml_text("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn dates_are_counted_from_the_epoch() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00");
        assert_eq!(timestamp(WRITTEN), "2026-11-29T20:35:07");
        // Leap days: a year divisible by 4, by 100 (not leap) and by 400 (leap).
        assert_eq!(timestamp(951_782_400), "2000-02-29T00:00:00");
        assert_eq!(timestamp(951_868_800), "2000-03-01T00:00:00");
        assert_eq!(timestamp(1_709_164_799), "2024-02-28T23:59:59");
        assert_eq!(timestamp(1_709_251_200), "2024-03-01T00:00:00");
        assert_eq!(timestamp(4_107_542_400), "2100-03-01T00:00:00");
        assert_eq!(timestamp(4_107_456_000), "2100-02-28T00:00:00");
        assert_eq!(timestamp(1_735_689_599), "2024-12-31T23:59:59");
        // Every day for 1,000 years: a day later is the next date, never a gap or a repeat.
        let leap = |year: u64| year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let month_length = |year, month| match month {
            2 if leap(year) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let mut previous = civil_from_days(0);
        for days in 1..365_243 {
            let (year, month, day) = civil_from_days(days);
            let (y, m, d) = previous;
            let expected = if d < month_length(y, m) {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
            assert_eq!((year, month, day), expected, "the day after {previous:?}");
            previous = (year, month, day);
        }
        assert_eq!(previous, (2969, 12, 31));
    }

    #[test]
    fn one_suite_per_exercise_with_failures_and_errors() {
        let xml = report_at(&sample_report(), written());
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites "));
        assert!(xml.ends_with("</testsuites>\n"), "{xml}");
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
        assert!(xml.contains("<property name=\"isolation\" value=\"sandbox\"/>"));
        assert!(xml.contains("<property name=\"complete\" value=\"true\"/>"));
        // The entry of the exercise that did not compile has no duration: 0.000.
        assert!(
            xml.contains("<testcase classname=\"ex02\" name=\"(build)\" time=\"0.000\">"),
            "{xml}"
        );
        // ex02 took the last 0.9 s, ex01 the 3.2 s before (whole seconds, rounded down).
        assert!(
            xml.contains("time=\"3.200\" timestamp=\"2026-11-29T20:35:02\" hostname=\"netlab\">")
        );
        assert!(
            xml.contains("time=\"0.900\" timestamp=\"2026-11-29T20:35:06\" hostname=\"netlab\">")
        );
        // ex01's review goes to its system-out; ex02 has none.
        assert_eq!(xml.matches("<system-out/>").count(), 1);
        assert!(
            xml.contains("<system-out>exercises/ex01-raw-send-recv/src/lib.rs:12:5: error:"),
            "{xml}"
        );
        assert_eq!(xml.matches("<system-err/>").count(), 2);
        assert!(!xml.contains('\u{1}'), "{xml}");
    }

    #[test]
    fn an_interrupted_unsandboxed_run_says_so_in_every_suite() {
        let mut sample = sample_report();
        sample.complete = false;
        sample.isolation = Isolation::Unsandboxed;
        let xml = report_at(&sample, written());
        assert!(xml.contains("<property name=\"isolation\" value=\"unsandboxed\"/>"));
        assert!(xml.contains("<property name=\"complete\" value=\"false\"/>"));
        let err = format!(
            "<system-err>{}\n{}</system-err>",
            table::INCOMPLETE,
            Isolation::Unsandboxed
                .warning()
                .unwrap()
                .replace('\'', "&apos;")
        );
        assert_eq!(xml.matches(&err).count(), 2, "{xml}");
    }
}
