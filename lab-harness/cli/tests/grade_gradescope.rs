//! `cargo lab gradescope-package`: the zip unpacks (checked by Python's zipfile, not by our
//! own code), holds no solutions, and its `setup.sh` and `run_autograder` work against a fake
//! `/autograder` layout: a solved submission scores full marks, and when the grader itself
//! cannot run, `results.json` is still written and says so.

mod grade_support;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use grade_support::*;
use serde_json::Value;

/// Lists the archive (name → Unix mode) after checking every CRC, and unpacks it.
const UNZIP: &str = r#"
import json, sys, zipfile
archive = zipfile.ZipFile(sys.argv[1])
assert archive.testzip() is None, "a bad CRC"
archive.extractall(sys.argv[2])
print(json.dumps({i.filename: i.external_attr >> 16 for i in archive.infolist()}))
"#;

#[test]
#[ignore = "end to end: run with `cargo test -- --include-ignored` (CI does)"]
fn the_autograder_package_grades_a_submission_in_a_fake_gradescope() {
    if !sandbox_available() {
        return;
    }
    let kit = kit_root();
    let temp = temp("gradescope");
    let zip = temp.path().join("autograder.zip");
    let output = lab(
        &kit,
        &[
            "gradescope-package",
            "--out",
            zip.to_str().unwrap(),
            "--only",
            "ex01",
            "--timeout-per-exercise",
            "30",
            // The package is the last commit; this test is about the package, not about a
            // developer's uncommitted work (handout_e2e tests that refusal).
            "--ignore-uncommitted",
        ],
    );
    success(&output, "building the package");

    // The layout Gradescope makes: the zip unpacked in source/, the student's files in
    // submission/, results/ for the answer.
    let root = temp.path().join("autograder");
    let source = root.join("source");
    let listing = python(UNZIP, &[&zip, &source]);
    let modes: Value = serde_json::from_str(&listing).unwrap();
    let modes = modes.as_object().unwrap();
    assert_eq!(modes["setup.sh"], 0o100755);
    assert_eq!(modes["run_autograder"], 0o100755);
    assert!(modes.contains_key("kit/Cargo.toml"));
    assert!(modes.contains_key("kit/grading.toml"));
    assert!(modes.contains_key("kit/exercises/ex01-raw-send-recv/tests/graded.rs"));
    assert!(
        !modes.keys().any(|name| name.starts_with("kit/solutions")),
        "no solutions in the package"
    );
    assert!(
        !modes.keys().any(|name| name.starts_with("kit/bench-peers")),
        "no bench peers in the package"
    );
    let submission = root.join("submission/exercises/ex01-raw-send-recv/src");
    fs::create_dir_all(&submission).unwrap();
    fs::copy(
        kit.join("solutions/ex01-raw-send-recv/src/lib.rs"),
        submission.join("lib.rs"),
    )
    .unwrap();

    // setup.sh: cargo is here already, so it only builds and warms up.
    let setup = script(&root, &source.join("setup.sh"));
    let said = success(&setup, "setup.sh");
    assert!(said.contains("netlab autograder ready"), "{said}");

    let graded = script(&root, &source.join("run_autograder"));
    success(&graded, "run_autograder");
    let results = read_json(&root.join("results/results.json"));
    check_gradescope(&results);
    let tests = results["tests"].as_array().unwrap();
    assert!(!tests.is_empty());
    assert!(tests.iter().all(|t| t["status"] == "passed"), "{results:#}");
    assert!(tests.iter().all(|t| {
        t["name"]
            .as_str()
            .unwrap()
            .starts_with("ex01-raw-send-recv: ")
    }));
    assert_eq!(results["score"].as_f64(), Some(10.0));
    assert_eq!(
        results["extra_data"]["isolation"], "sandbox",
        "run_autograder grades in the sandbox"
    );

    // The grader cannot run (a broken grading.toml): results.json still says why.
    fs::write(source.join("kit/grading.toml"), "[points]\nex01 = many\n").unwrap();
    let failed = script(&root, &source.join("run_autograder"));
    success(&failed, "run_autograder with a broken kit");
    let results = read_json(&root.join("results/results.json"));
    assert_eq!(results["score"].as_f64(), Some(0.0));
    assert_eq!(results["tests"].as_array().map(Vec::len), Some(0));
    let message = results["output"].as_str().unwrap();
    assert!(
        message.contains("could not run") && message.contains("grading.toml"),
        "{message}"
    );
}

fn script(root: &Path, path: &Path) -> Output {
    Command::new("bash")
        .arg(path)
        .env("AUTOGRADER_ROOT", root)
        .env("CARGO_TARGET_DIR", nested_target())
        .output()
        .expect("running bash")
}
