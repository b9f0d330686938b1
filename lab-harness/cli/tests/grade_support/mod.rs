//! Shared by the grader's end-to-end tests: a temporary copy of the kit, the `lab` binary
//! run against it, and checks of the report formats with independent parsers.
//!
//! Nested cargo builds use their own target folder (under cargo's `CARGO_TARGET_TMPDIR`), so
//! they never wait for the lock of the outer `cargo test`; all these tests share it, so the
//! harness and its dependencies are built once for them.

#![allow(dead_code)] // each test file uses its own part of this module

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Once;

use assert_cmd::cargo::cargo_bin;
use lab_cli::grade::stage::{TempDir, is_code_under_test};
use serde_json::Value;

/// The kit this test belongs to.
pub fn kit_root() -> PathBuf {
    lab_cli::workspace::find_root(Path::new(env!("CARGO_MANIFEST_DIR")))
        .expect("lab-harness/cli sits in the kit")
}

/// The target folder for the builds the grader starts. Made the first time from the
/// registry dependencies the outer `cargo test` built (hard links): the nested builds then
/// compile the kit's own crates only (a cold build of the dependencies in it cost CI over a
/// minute).
pub fn nested_target() -> PathBuf {
    static SEEDED: Once = Once::new();
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let nested = tmp.join("grade-e2e");
    SEEDED.call_once(|| {
        if let Some(outer) = tmp.parent() {
            let exercises = lab_cli::workspace::exercises(&kit_root()).unwrap_or_default();
            lab_cli::grade::batch::seed_from_kit_build_in(
                &outer.join("debug"),
                &nested,
                &exercises,
            );
        }
    });
    nested
}

/// A temporary folder, removed at the end of the test.
pub fn temp(label: &str) -> TempDir {
    TempDir::new(label).expect("a temporary folder")
}

/// Copies the whole kit (solutions included) to `dest`, without build output. Files keep
/// their modification times (so nested builds reuse the harness), except the exercises'
/// code, which a test may replace.
pub fn copy_kit(dest: &Path) {
    copy_dir(&kit_root(), dest);
}

/// Copies a folder like [`copy_kit`] does.
pub fn copy_dir(from: &Path, dest: &Path) {
    copy_tree(from, dest, Path::new(""))
        .unwrap_or_else(|e| panic!("copying {}: {e}", from.display()));
}

fn copy_tree(from: &Path, to: &Path, relative: &Path) -> io::Result<()> {
    fs::create_dir_all(to.join(relative))?;
    for entry in fs::read_dir(from.join(relative))? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "target" || name == ".git" {
            continue;
        }
        let path = relative.join(&name);
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(from, to, &path)?;
        } else if kind.is_file() {
            fs::copy(from.join(&path), to.join(&path))?;
            if !is_code_under_test(&path) {
                let modified = entry.metadata()?.modified()?;
                File::options()
                    .write(true)
                    .open(to.join(&path))?
                    .set_modified(modified)?;
            }
        }
    }
    Ok(())
}

/// `lab ARGS` in `dir`, building into the nested target folder.
pub fn lab(dir: &Path, args: &[&str]) -> Output {
    lab_building_into(&nested_target(), dir, args)
}

/// `lab ARGS` in `dir`, building into `target`.
pub fn lab_building_into(target: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(cargo_bin("lab"))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .stdin(Stdio::null())
        .output()
        .expect("running lab")
}

/// The output of a run that must have succeeded.
pub fn success(output: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stderr}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}\n{text}", path.display()))
}

/// The ids (`ex01`, …) of the kit's exercises, found the way the grader finds them.
pub fn exercise_ids(root: &Path) -> Vec<String> {
    lab_cli::workspace::exercises(root)
        .expect("listing the exercises")
        .iter()
        .map(|e| e.id().to_string())
        .collect()
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    keys
}

fn is_points(value: &Value) -> bool {
    value
        .as_f64()
        .is_some_and(|p| p >= 0.0 && (p * 100.0 - (p * 100.0).round()).abs() < 1e-6)
}

/// Checks a `--format json` report against the documented schema `netlab-grade/2`, exactly:
/// no field missing, none extra, every value of its type, points adding up.
pub fn check_json_schema(report: &Value) {
    assert_eq!(
        keys(report),
        [
            "complete",
            "duration",
            "exercises",
            "graded",
            "isolation",
            "max_score",
            "notes",
            "passed",
            "schema",
            "score",
            "total"
        ]
    );
    assert_eq!(report["schema"], "netlab-grade/2");
    assert!(matches!(
        report["graded"].as_str(),
        Some("exercises" | "solutions")
    ));
    assert!(report["complete"].is_boolean(), "{}", report["complete"]);
    assert!(
        matches!(
            report["isolation"].as_str(),
            Some("sandbox" | "unsandboxed" | "in_place")
        ),
        "{}",
        report["isolation"]
    );
    assert!(is_points(&report["score"]) && is_points(&report["max_score"]));
    assert!(report["duration"].as_f64().is_some_and(|d| d >= 0.0));
    assert!(
        report["notes"]
            .as_array()
            .unwrap()
            .iter()
            .all(Value::is_string)
    );
    let mut score = 0.0;
    let mut tests_total = 0;
    for exercise in report["exercises"].as_array().expect("exercises") {
        assert_eq!(
            keys(exercise),
            [
                "duration",
                "exercise",
                "folder",
                "max_points",
                "message",
                "package",
                "passed",
                "points",
                "review",
                "status",
                "tests",
                "total"
            ]
        );
        assert!(
            exercise["review"]
                .as_array()
                .is_some_and(|r| r.iter().all(Value::is_string)),
            "{exercise}"
        );
        assert!(matches!(
            exercise["status"].as_str(),
            Some(
                "passed"
                    | "in_progress"
                    | "failed"
                    | "timed_out"
                    | "not_started"
                    | "did_not_compile"
            )
        ));
        assert!(exercise["message"].is_null() || exercise["message"].is_string());
        let tests = exercise["tests"].as_array().expect("tests");
        assert_eq!(exercise["total"].as_u64(), Some(tests.len() as u64));
        let mut points = 0.0;
        let mut max = 0.0;
        for test in tests {
            assert_eq!(
                keys(test),
                [
                    "duration",
                    "exercise",
                    "max_points",
                    "message",
                    "points",
                    "status",
                    "test"
                ]
            );
            assert_eq!(test["exercise"], exercise["exercise"]);
            assert!(test["test"].as_str().is_some_and(|t| !t.is_empty()));
            let status = test["status"].as_str().unwrap();
            assert!(matches!(
                status,
                "passed" | "failed" | "not_started" | "timed_out" | "did_not_compile"
            ));
            assert!(is_points(&test["points"]) && is_points(&test["max_points"]));
            if status == "passed" {
                assert_eq!(test["points"], test["max_points"], "{test}");
                assert!(test["message"].is_null(), "{test}");
            } else {
                assert_eq!(test["points"].as_f64(), Some(0.0), "{test}");
                assert!(
                    test["message"].as_str().is_some_and(|m| !m.is_empty()),
                    "{test}"
                );
            }
            assert!(test["duration"].is_null() || test["duration"].as_f64().is_some());
            points += test["points"].as_f64().unwrap();
            max += test["max_points"].as_f64().unwrap();
        }
        assert!((points - exercise["points"].as_f64().unwrap()).abs() < 1e-6);
        assert!(
            (max - exercise["max_points"].as_f64().unwrap()).abs() < 1e-6,
            "{exercise}"
        );
        score += points;
        tests_total += tests.len();
    }
    assert!((score - report["score"].as_f64().unwrap()).abs() < 1e-6);
    assert_eq!(report["total"].as_u64(), Some(tests_total as u64));
}

/// Checks a Gradescope `results.json`: exactly the fields the grader promises, with
/// Gradescope's value sets.
pub fn check_gradescope(results: &Value) {
    assert_eq!(
        keys(results),
        [
            "execution_time",
            "extra_data",
            "output",
            "output_format",
            "score",
            "stdout_visibility",
            "tests",
            "visibility"
        ]
    );
    assert_eq!(keys(&results["extra_data"]), ["complete", "isolation"]);
    assert!(results["extra_data"]["complete"].is_boolean());
    assert!(matches!(
        results["extra_data"]["isolation"].as_str(),
        Some("sandbox" | "unsandboxed" | "in_place")
    ));
    assert!(results["execution_time"].as_u64().is_some());
    assert!(
        results["output"]
            .as_str()
            .is_some_and(|table| table.starts_with("netlab grade: ")),
        "the output is the score table: {}",
        results["output"]
    );
    assert_eq!(results["output_format"], "text");
    assert_eq!(results["visibility"], "visible");
    assert_eq!(results["stdout_visibility"], "hidden");
    let mut sum = 0.0;
    for test in results["tests"].as_array().expect("tests") {
        assert_eq!(
            keys(test),
            [
                "max_score",
                "name",
                "number",
                "output",
                "output_format",
                "score",
                "status",
                "visibility"
            ]
        );
        assert!(matches!(test["status"].as_str(), Some("passed" | "failed")));
        assert_eq!(test["visibility"], "visible");
        let number = test["number"].as_str().expect("number");
        let parts: Vec<&str> = number.split('.').collect();
        assert!(
            parts.len() == 2 && parts.iter().all(|p| p.parse::<u32>().is_ok()),
            "number {number}"
        );
        assert!(is_points(&test["score"]) && is_points(&test["max_score"]));
        if test["status"] == "passed" {
            assert_eq!(test["score"], test["max_score"]);
        } else {
            assert_eq!(test["score"].as_f64(), Some(0.0));
        }
        sum += test["score"].as_f64().unwrap();
    }
    assert!((sum - results["score"].as_f64().unwrap()).abs() < 1e-6);
}

/// Runs a Python 3 snippet (Python is on every machine this kit is developed on; CI too).
pub fn python(script: &str, args: &[&Path]) -> String {
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 is needed to check the zip independently");
    success(&output, "python3")
}

/// True where submissions can be sandboxed here (Linux with a working bubblewrap). In CI,
/// which installs bubblewrap, a missing sandbox fails the test instead: the kit's defences
/// must be tested there.
pub fn sandbox_available() -> bool {
    match lab_cli::grade::sandbox::Sandbox::find() {
        Ok(_) => true,
        Err(why) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must have a working bubblewrap (.ci/run installs it): {why}"
            );
            eprintln!("skipped: {why}");
            false
        }
    }
}

/// One CSV line (no line breaks inside fields in these rows).
pub fn split_csv(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// The kit's strict Ant-style JUnit schema.
pub fn junit_schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/junit-strict.xsd")
}

/// `xmllint --noout --schema junit-strict.xsd FILE` on `xml`, written to `dir/name`.
pub fn validate_junit(dir: &Path, name: &str, xml: &str) -> Output {
    let file = dir.join(name);
    fs::write(&file, xml).unwrap();
    Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(junit_schema())
        .arg(&file)
        .output()
        .expect("running xmllint")
}

/// What a command printed, stdout then stderr.
pub fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Whether xmllint can run. Under CI its absence is a failure: the check must not be
/// skipped silently where it is meant to run.
pub fn xmllint_is_here() -> bool {
    let found = Command::new("xmllint")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "xmllint is missing: install Debian's libxml2-utils (.ci/run does)"
        );
        eprintln!(
            "note: xmllint is missing (Debian: libxml2-utils): the JUnit schema is not checked"
        );
    }
    found
}
