//! `cargo lab grade --format junit` writes the strict Ant-style JUnit format: a report with
//! every kind of outcome validates against the kit's own schema
//! (`tests/fixtures/junit-strict.xsd`) through xmllint, an independent validator; and the
//! schema is known to be strict, because it rejects a report that lacks a required attribute.
//!
//! xmllint comes with Debian's `libxml2-utils` (`.ci/run` installs it). Under CI a missing
//! xmllint fails the test; elsewhere the test says so and passes.

mod grade_support;

use std::time::Duration;

use grade_support::{said, temp, validate_junit, xmllint_is_here};
use lab_cli::grade::{
    BUILD_ENTRY, ExerciseResult, Graded, Isolation, Points, Report, Status, TestResult, junit,
};

#[test]
fn the_junit_report_is_valid_under_a_strict_ant_schema() {
    if !xmllint_is_here() {
        return;
    }
    let temp = temp("junit-schema");
    let mut report = sample_report();
    let xml = junit::report(&report);
    // The report has what the schema is meant to check: the build entry with a time, the
    // suites' required attributes.
    assert!(
        xml.contains("name=\"(build)\" time=\"0.000\""),
        "the entry of an exercise that did not compile has a time:\n{xml}"
    );
    assert!(xml.contains(" hostname=\"netlab\""), "{xml}");
    let valid = validate_junit(temp.path(), "report.xml", &xml);
    assert!(valid.status.success(), "{}\n{xml}", said(&valid));

    // An interrupted, unsandboxed run (with a warning in every <system-err>) is valid too.
    report.complete = false;
    report.isolation = Isolation::Unsandboxed;
    let xml = junit::report(&report);
    assert!(xml.contains("<system-err>INCOMPLETE: "), "{xml}");
    let valid = validate_junit(temp.path(), "interrupted.xml", &xml);
    assert!(valid.status.success(), "{}\n{xml}", said(&valid));

    // The schema is strict: a test case without its `time` is rejected …
    let start = xml.find("<testcase ").expect("a test case");
    let time = start + xml[start..].find(" time=\"").expect("a time");
    let end = time + " time=\"".len() + xml[time + " time=\"".len()..].find('"').unwrap() + 1;
    let no_time = format!("{}{}", &xml[..time], &xml[end..]);
    let rejected = validate_junit(temp.path(), "no-time.xml", &no_time);
    assert!(
        !rejected.status.success(),
        "a <testcase> without `time` must be rejected:\n{no_time}"
    );
    assert!(
        said(&rejected).contains("attribute 'time' is required"),
        "{}",
        said(&rejected)
    );

    // … and so are a time stamp with a time zone and a suite without its <system-out>.
    let zoned = xml.replacen("\" hostname=", "Z\" hostname=", 1);
    assert_ne!(zoned, xml);
    let rejected = validate_junit(temp.path(), "zoned.xml", &zoned);
    assert!(!rejected.status.success(), "{zoned}");
    let no_out = xml.replacen("<system-out/>", "", 1);
    assert_ne!(no_out, xml);
    let rejected = validate_junit(temp.path(), "no-out.xml", &no_out);
    assert!(!rejected.status.success(), "{no_out}");
}

/// A report with a passed, a failed and a timed-out test, and an exercise that did not
/// compile (its one entry has no duration).
fn sample_report() -> Report {
    let test = |name: &str, status, hundredths, message: &str| TestResult {
        name: name.to_string(),
        status,
        points: Points::from_hundredths(if status == Status::Passed {
            hundredths
        } else {
            0
        }),
        max_points: Points::from_hundredths(hundredths),
        message: message.to_string(),
        duration: Some(Duration::from_millis(31)),
    };
    let compile_error = "src/lib.rs:2:5: error[E0308]: mismatched types";
    Report {
        graded: Graded::Exercises,
        exercises: vec![
            ExerciseResult {
                id: "ex01".into(),
                folder: "ex01-raw-send-recv".into(),
                package: "ex01".into(),
                compile_error: None,
                tests: vec![
                    test(
                        "connect_reaches_a_listening_server",
                        Status::Passed,
                        334,
                        "",
                    ),
                    test(
                        "echo::case_1_text",
                        Status::Failed,
                        333,
                        "got \"a<b>&\" back\nsecond line \u{1} 'quoted'",
                    ),
                    test(
                        "receive_until_closed",
                        Status::TimedOut,
                        333,
                        "deadline expired after 10s: did you flush?",
                    ),
                ],
                max_points: Points::from_hundredths(1000),
                duration: Duration::from_millis(3200),
                review: Vec::new(),
            },
            ExerciseResult {
                id: "ex02".into(),
                folder: "ex02-line-streams".into(),
                package: "ex02".into(),
                compile_error: Some(compile_error.into()),
                tests: vec![TestResult {
                    name: BUILD_ENTRY.to_string(),
                    status: Status::DidNotCompile,
                    points: Points::ZERO,
                    max_points: Points::from_hundredths(1000),
                    message: compile_error.into(),
                    duration: None,
                }],
                max_points: Points::from_hundredths(1000),
                duration: Duration::from_millis(900),
                review: Vec::new(),
            },
        ],
        duration: Duration::from_millis(4500),
        notes: Vec::new(),
        complete: true,
        isolation: Isolation::Sandbox,
    }
}
