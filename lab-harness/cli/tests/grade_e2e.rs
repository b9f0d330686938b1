//! `cargo lab grade` end to end, on a temporary copy of the kit with the real exercise
//! crates: the skeletons grade as "not started" everywhere, the solutions to 100%, and
//! planted answers give each other outcome (failed with the test's message, timed out within
//! the limit, crashed, did not compile) while the run still completes. Every format is read
//! back with an independent parser (serde_json, roxmltree).
//!
//! One test, in phases, so that the nested builds are shared and nothing runs in parallel
//! with the timing-sensitive part.

mod grade_support;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use grade_support::*;
use serde_json::Value;

/// The time limit of the planted run: shorter than ex01's 10 s watchdogs, so ex01's code
/// that never returns is killed by the grader, not failed by its watchdog.
const LIMIT: u64 = 6;

#[test]
#[ignore = "end to end: run with `cargo test -- --include-ignored` (CI does)"]
fn the_grader_reports_every_outcome_and_always_finishes() {
    let started = Instant::now();
    let temp = temp("grade-e2e");
    let kit = temp.path().join("kit");
    copy_kit(&kit);
    let ids = exercise_ids(&kit);
    assert!(ids.contains(&"ex01".to_string()), "{ids:?}");

    skeletons_are_not_started(&kit, &ids, temp.path());
    eprintln!("skeletons graded at {:?}", started.elapsed());
    solutions_score_full_marks(&kit, &ids, temp.path());
    eprintln!("solutions graded at {:?}", started.elapsed());
    planted_answers_get_their_status(&kit, temp.path());
    eprintln!("planted answers graded at {:?}", started.elapsed());
    a_kit_that_is_not_all_skeletons_grades_no_submission(&kit, temp.path());
}

/// The kit's ex01 is planted (an answer, not the skeleton) by now: a submission that leaves
/// ex01 out would be graded with it, so the grader refuses, in one line.
fn a_kit_that_is_not_all_skeletons_grades_no_submission(kit: &Path, out: &Path) {
    let empty = out.join("empty-submission/exercises");
    fs::create_dir_all(&empty).unwrap();
    let output = lab(
        kit,
        &[
            "grade",
            "--submission",
            empty.parent().unwrap().to_str().unwrap(),
            "--only",
            "ex01",
            "--unsandboxed",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let error = stderr.lines().last().unwrap_or("");
    assert!(
        error.starts_with("error: ")
            && error.contains("ex01-raw-send-recv is not a skeleton any more"),
        "{stderr}"
    );
}

/// Exit codes: non-zero with one line only when the grader itself cannot run.
#[test]
#[ignore = "end to end: run with `cargo test -- --include-ignored` (CI does)"]
fn the_grader_fails_with_one_line_only_when_it_cannot_run() {
    let kit = kit_root();
    for (args, expected) in [
        (
            vec!["grade", "--only", "ex99"],
            "no exercise `ex99` in this kit",
        ),
        (
            vec!["grade", "--batch", "/nonexistent/submissions"],
            "cannot read /nonexistent/submissions",
        ),
        (
            vec!["grade", "--batch", ".", "--format", "gradescope"],
            "--batch writes csv, json or table",
        ),
    ] {
        let output = lab(&kit, &args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(expected),
            "{args:?}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

fn skeletons_are_not_started(kit: &Path, ids: &[String], out: &Path) {
    let json = out.join("skeletons.json");
    let output = lab(
        kit,
        &["grade", "--format", "json", "--out", json.to_str().unwrap()],
    );
    success(&output, "grading the skeletons");
    let report = read_json(&json);
    check_json_schema(&report);
    assert_eq!(report["graded"], "exercises");
    let graded: Vec<&str> = report["exercises"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["exercise"].as_str().unwrap())
        .collect();
    assert_eq!(graded, ids, "every exercise is discovered, in order");
    for exercise in report["exercises"].as_array().unwrap() {
        assert_eq!(exercise["status"], "not_started", "{exercise}");
        for test in exercise["tests"].as_array().unwrap() {
            assert_eq!(test["status"], "not_started", "{test}");
            assert!(
                test["message"]
                    .as_str()
                    .unwrap()
                    .contains("not yet implemented"),
                "{test}"
            );
        }
    }
    assert_eq!(report["score"].as_f64(), Some(0.0));

    // The default table, with a progress line per exercise on stderr.
    let output = lab(kit, &["grade", "--only", "ex01"]);
    let table = success(&output, "grading ex01 as a table");
    let progress = String::from_utf8_lossy(&output.stderr);
    assert!(
        progress.contains("[1/1] ex01-raw-send-recv: 0/"),
        "{progress}"
    );
    let row = table
        .lines()
        .find(|l| l.starts_with("ex01-raw-send-recv"))
        .unwrap_or_else(|| panic!("no ex01 row in\n{table}"));
    assert!(
        row.contains("0.00 / 10.00") && row.ends_with("not started"),
        "{row}"
    );
    assert!(table.lines().any(|l| l.starts_with("total")), "{table}");
}

fn solutions_score_full_marks(kit: &Path, ids: &[String], out: &Path) {
    let results = out.join("solutions-results.json");
    let output = lab(
        kit,
        &[
            "grade",
            "--solutions",
            "--format",
            "gradescope",
            "--out",
            results.to_str().unwrap(),
        ],
    );
    success(&output, "grading the solutions");
    let results = read_json(&results);
    check_gradescope(&results);
    let tests = results["tests"].as_array().unwrap();
    let failed: Vec<&Value> = tests.iter().filter(|t| t["status"] != "passed").collect();
    assert!(
        failed.is_empty(),
        "the solutions must pass everything: {failed:#?}"
    );
    let max: f64 = tests.iter().map(|t| t["max_score"].as_f64().unwrap()).sum();
    let exercises = lab_cli::workspace::exercises(kit).unwrap();
    let config = lab_cli::grade::Config::load(kit, &exercises).unwrap();
    let expected_max: f64 = exercises.iter().map(|e| config.points(e).as_f64()).sum();
    assert_eq!(exercises.len(), ids.len());
    assert!((max - expected_max).abs() < 1e-6, "{max} of {expected_max}");
    assert_eq!(results["score"].as_f64(), Some(expected_max));
    // Exercise 1's first test is "1.1", named after its folder.
    let first = &tests[0];
    assert_eq!(first["number"], "1.1");
    assert!(
        first["name"]
            .as_str()
            .unwrap()
            .starts_with("ex01-raw-send-recv: ")
    );
}

fn planted_answers_get_their_status(kit: &Path, out: &Path) {
    plant(kit);
    // Build first, outside the timing: the limit is about running, not compiling.
    let build = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "build", "-q", "-p", "ex01", "-p", "ex91", "-p", "ex92", "--test", "graded",
        ])
        .current_dir(kit)
        .env("CARGO_TARGET_DIR", nested_target())
        .output()
        .unwrap();
    success(&build, "building the planted exercises");

    let json = out.join("planted.json");
    let started = Instant::now();
    let output = lab(
        kit,
        &[
            "grade",
            "--only",
            "ex01,ex90,ex91,ex92",
            "--timeout-per-exercise",
            &LIMIT.to_string(),
            "--format",
            "json",
            "--out",
            json.to_str().unwrap(),
        ],
    );
    let elapsed = started.elapsed();
    success(&output, "grading the planted answers");
    // Two exercises hang until the limit; everything else takes seconds.
    assert!(
        elapsed < Duration::from_secs(2 * LIMIT + 40),
        "the run took {elapsed:?}"
    );
    let report = read_json(&json);
    check_json_schema(&report);
    let exercise = |id: &str| -> Value {
        report["exercises"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["exercise"] == id)
            .unwrap_or_else(|| panic!("{id} missing"))
            .clone()
    };
    let test = |exercise: &Value, name: &str| -> Value {
        exercise["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["test"] == name)
            .unwrap_or_else(|| panic!("{name} missing in {exercise:#}"))
            .clone()
    };

    // ex01: a wrong answer fails with the graded test's own hint; code that loops after
    // end-of-file is killed at the limit; the rest passes.
    let ex01 = exercise("ex01");
    assert_eq!(ex01["status"], "timed_out");
    let wrong = test(&ex01, "receive_some_returns_what_one_read_gives");
    assert_eq!(wrong["status"], "failed");
    assert!(
        wrong["message"]
            .as_str()
            .unwrap()
            .contains("receive_some(1024) returned"),
        "{wrong}"
    );
    let hung = test(
        &ex01,
        "receive_until_closed_keeps_reading_after_a_short_read",
    );
    assert_eq!(hung["status"], "timed_out", "{hung}");
    assert!(
        hung["message"]
            .as_str()
            .unwrap()
            .contains("time limit (6s)"),
        "{hung}"
    );
    assert_eq!(
        test(&ex01, "connect_reaches_a_listening_server")["status"],
        "passed"
    );
    assert_eq!(
        test(&ex01, "send_all_delivers_every_byte")["status"],
        "passed"
    );

    // ex90: a compile error, shown (in place there is no skeleton to list the tests with).
    let ex90 = exercise("ex90");
    assert_eq!(ex90["status"], "did_not_compile");
    let message = ex90["message"].as_str().unwrap();
    assert!(
        message.contains("src/lib.rs:") && message.contains("error[E0308]"),
        "{message}"
    );
    assert_eq!(ex90["tests"].as_array().unwrap().len(), 1);
    assert_eq!(ex90["tests"][0]["status"], "did_not_compile");
    assert_eq!(ex90["max_points"].as_f64(), Some(10.0));

    // ex91: each outcome, and the points of grading.toml (14 points, one test weighs 2).
    let ex91 = exercise("ex91");
    let statuses: Vec<(String, String, f64)> = ex91["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["test"].as_str().unwrap().to_string(),
                t["status"].as_str().unwrap().to_string(),
                t["max_points"].as_f64().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("a_client_that_never_flushes_times_out", "timed_out", 2.0),
        ("adds_up", "passed", 2.0),
        ("is_not_started", "not_started", 2.0),
        ("loops_forever", "timed_out", 2.0),
        ("nested::names_keep_their_path", "passed", 2.0),
        ("reports_a_wrong_sum_with_a_hint", "failed", 4.0),
    ];
    let expected: Vec<(String, String, f64)> = expected
        .iter()
        .map(|(n, s, p)| (n.to_string(), s.to_string(), *p))
        .collect();
    assert_eq!(statuses, expected, "the ignored test is not graded");
    assert_eq!(ex91["points"].as_f64(), Some(4.0));
    assert_eq!(
        test(&ex91, "reports_a_wrong_sum_with_a_hint")["message"],
        "expected 4, got 5: did you add twice?"
    );
    let deadlock = test(&ex91, "a_client_that_never_flushes_times_out");
    let message = deadlock["message"].as_str().unwrap();
    assert!(
        message.starts_with(lab_harness::DEADLINE_EXPIRED) && message.contains("did you flush?"),
        "{message}"
    );
    assert!(deadlock["duration"].as_f64().unwrap() < LIMIT as f64);
    assert!(
        test(&ex91, "loops_forever")["message"]
            .as_str()
            .unwrap()
            .contains("was stopped")
    );

    // ex92: a test that aborts the whole test process is named; the others still pass.
    let ex92 = exercise("ex92");
    let crash = test(&ex92, "aborts_the_process");
    assert_eq!(crash["status"], "failed");
    assert!(
        crash["message"]
            .as_str()
            .unwrap()
            .contains("ended before this test finished"),
        "{crash}"
    );
    assert_eq!(test(&ex92, "a_first_test_passes")["status"], "passed");
    assert_eq!(test(&ex92, "the_last_test_passes")["status"], "passed");

    // The same kind of run as JUnit XML.
    let xml_path = out.join("planted.xml");
    let output = lab(
        kit,
        &[
            "grade",
            "--only",
            "ex90,ex92",
            "--format",
            "junit",
            "--out",
            xml_path.to_str().unwrap(),
        ],
    );
    success(&output, "grading as JUnit");
    let xml = fs::read_to_string(&xml_path).unwrap();
    // Valid under the kit's strict Ant-style schema (an independent validator), with a compile
    // error and a crash in it.
    if xmllint_is_here() {
        let valid = validate_junit(out, "planted-checked.xml", &xml);
        assert!(valid.status.success(), "{}\n{xml}", said(&valid));
    }
    let document = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 2);
    for suite in &suites {
        let cases: Vec<_> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        assert_eq!(
            suite.attribute("tests"),
            Some(cases.len().to_string().as_str())
        );
        let count = |tag: &str| {
            cases
                .iter()
                .filter(|c| c.children().any(|n| n.has_tag_name(tag)))
                .count()
                .to_string()
        };
        assert_eq!(suite.attribute("failures"), Some(count("failure").as_str()));
        assert_eq!(suite.attribute("errors"), Some(count("error").as_str()));
    }
    assert_eq!(
        suites[0].attribute("name"),
        Some("ex90-planted-compile-error")
    );
    let error = suites[0]
        .descendants()
        .find(|n| n.has_tag_name("error"))
        .expect("ex90's compile error");
    assert_eq!(error.attribute("type"), Some("did_not_compile"));
    let crash = suites[1]
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .expect("ex92's crash");
    assert!(
        crash
            .text()
            .unwrap()
            .contains("ended before this test finished")
    );
}

/// Replaces ex01's skeleton with a planted answer and adds three small exercises, each
/// with its own graded test file, for the outcomes a real exercise cannot show at once.
fn plant(kit: &Path) {
    fs::write(
        kit.join("exercises/ex01-raw-send-recv/src/lib.rs"),
        PLANTED_EX01,
    )
    .unwrap();
    fs::write(
        kit.join("grading.toml"),
        "[points]\nex91 = 14\n\n[weights.ex91]\nreports_a_wrong_sum_with_a_hint = 2\n",
    )
    .unwrap();
    for (folder, lib, test) in [
        (
            "ex90-planted-compile-error",
            "pub fn answer() -> u32 {\n    \"forty-two\"\n}\n",
            "#[test]\nfn the_answer_is_42() {\n    assert_eq!(ex90::answer(), 42);\n}\n",
        ),
        ("ex91-planted-outcomes", PLANTED_EX91_LIB, PLANTED_EX91_TEST),
        ("ex92-planted-crash", PLANTED_EX92_LIB, PLANTED_EX92_TEST),
    ] {
        let dir = kit.join("exercises").join(folder);
        let package = &folder[..4];
        fs::create_dir_all(dir.join("src")).unwrap();
        fs::create_dir_all(dir.join("tests")).unwrap();
        fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[package]\nname = \"{package}\"\nversion = \"0.1.0\"\nedition.workspace = true\n\
                 publish.workspace = true\n\n[dev-dependencies]\nlab-harness.workspace = true\n"
            ),
        )
        .unwrap();
        fs::write(dir.join("src/lib.rs"), lib).unwrap();
        fs::write(dir.join("tests/graded.rs"), test).unwrap();
    }
}

/// Exercise 1 with two classic mistakes: `receive_some` keeps the whole buffer, and
/// `receive_until_closed` takes a read of 0 for "nothing yet" and asks again, for ever. It
/// pauses between reads: ex91's `spin` keeps a core busy until the limit already, and seven
/// of ex01's tests would (about 12 processor-seconds of each run, for the same statuses).
const PLANTED_EX01: &str = r#"
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};

pub fn connect(host: &str, port: u16) -> io::Result<TcpStream> {
    TcpStream::connect((host, port))
}

pub fn send_all(stream: &mut TcpStream, data: &[u8]) -> io::Result<()> {
    stream.write_all(data)
}

pub fn receive_some(stream: &mut TcpStream, max: usize) -> io::Result<Vec<u8>> {
    let mut buffer = vec![0; max];
    let _count = stream.read(&mut buffer)?;
    Ok(buffer)
}

pub fn receive_exactly(stream: &mut TcpStream, count: usize) -> io::Result<Vec<u8>> {
    let mut buffer = vec![0; count];
    stream.read_exact(&mut buffer)?;
    Ok(buffer)
}

pub fn receive_until_closed(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut everything = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        let count = stream.read(&mut buffer)?;
        if count == 0 {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        everything.extend_from_slice(&buffer[..count]);
    }
}

pub fn echo_roundtrip(host: &str, port: u16, data: &[u8]) -> io::Result<Vec<u8>> {
    let mut stream = connect(host, port)?;
    send_all(&mut stream, data)?;
    stream.shutdown(Shutdown::Write)?;
    receive_until_closed(&mut stream)
}
"#;

const PLANTED_EX91_LIB: &str = r#"
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::TcpStream;

pub fn add(a: u32, b: u32) -> u32 {
    a + b
}

pub fn add_wrong(a: u32, b: u32) -> u32 {
    a + b + 1
}

pub fn unfinished() -> u32 {
    todo!("add the numbers")
}

/// Sends a question and waits for the answer, but never flushes: the question stays in the
/// buffer and both sides wait for ever.
pub fn ask(stream: TcpStream, question: &str) -> String {
    let mut writer = BufWriter::new(stream.try_clone().unwrap());
    writer.write_all(question.as_bytes()).unwrap();
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).unwrap();
    answer
}

pub fn spin() -> u32 {
    let mut n = 0u64;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}
"#;

const PLANTED_EX91_TEST: &str = r#"
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use lab_harness::{Watchdog, bind_loopback};

#[test]
fn adds_up() {
    assert_eq!(ex91::add(2, 2), 4);
}

#[test]
fn reports_a_wrong_sum_with_a_hint() {
    let got = ex91::add_wrong(2, 2);
    assert!(got == 4, "expected 4, got {got}: did you add twice?");
}

#[test]
fn is_not_started() {
    ex91::unfinished();
}

#[test]
fn a_client_that_never_flushes_times_out() {
    let listener = bind_loopback().unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut line = String::new();
        BufReader::new(stream.try_clone().unwrap()).read_line(&mut line).unwrap();
        (&stream).write_all(line.as_bytes()).unwrap();
    });
    let answer = Watchdog::new(Duration::from_secs(1))
        .hint("did you flush?")
        .run(move || ex91::ask(TcpStream::connect(("127.0.0.1", port)).unwrap(), "hi\n"));
    assert_eq!(answer, "hi\n");
}

#[test]
fn loops_forever() {
    assert_eq!(ex91::spin(), 1);
}

#[test]
#[ignore = "not graded"]
fn an_ignored_test() {}

mod nested {
    #[test]
    fn names_keep_their_path() {
        assert_eq!(ex91::add(1, 1), 2);
    }
}
"#;

const PLANTED_EX92_LIB: &str = r#"
pub fn fine() -> bool {
    true
}

pub fn crash() {
    std::process::abort();
}
"#;

const PLANTED_EX92_TEST: &str = r#"
#[test]
fn a_first_test_passes() {
    assert!(ex92::fine());
}

#[test]
fn aborts_the_process() {
    ex92::crash();
}

#[test]
fn the_last_test_passes() {
    assert!(ex92::fine());
}
"#;
