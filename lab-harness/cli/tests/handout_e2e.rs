//! `cargo lab handout`: the students' copy of the kit has no solutions, builds on its own,
//! fails every graded test with "not yet implemented", and a submission made from it grades.

mod grade_support;

use std::fs;
use std::process::Command;

use grade_support::*;
use lab_cli::libtest::{self, Outcome};
use serde_json::Value;

#[test]
fn the_handout_builds_fails_only_with_todo_and_grades() {
    let kit = kit_root();
    let temp = temp("handout");
    let handout = temp.path().join("netlab-student");
    let output = lab(&kit, &["handout", "--out", handout.to_str().unwrap()]);
    let said = success(&output, "writing the handout");
    assert!(said.contains("no solutions"), "{said}");

    // What is in it, and what is not.
    for gone in [
        "solutions",
        ".ci",
        "lab-harness/cli/tests",
        "DEVELOPERS.md",
        "target",
    ] {
        assert!(
            !handout.join(gone).exists(),
            "{gone} must not be handed out"
        );
    }
    for kept in [
        ".cargo/config.toml",
        "grading.toml",
        "Cargo.lock",
        "lab-harness/src/lib.rs",
    ] {
        assert!(handout.join(kept).is_file(), "{kept} is missing");
    }
    let exercises = lab_cli::workspace::exercises(&kit).unwrap();
    let readme = fs::read_to_string(handout.join("README.md")).unwrap();
    assert!(readme.contains("cargo test -p ex01"), "{readme}");
    assert!(readme.contains("cargo lab grade"), "{readme}");
    for exercise in &exercises {
        assert!(
            readme.contains(&format!("`{}`", exercise.folder)),
            "{readme}"
        );
        for test in &exercise.tests {
            let relative = test.strip_prefix(&kit).unwrap();
            assert_eq!(
                fs::read(handout.join(relative)).unwrap(),
                fs::read(test).unwrap(),
                "the graded tests are handed out unchanged"
            );
        }
    }
    let manifest = fs::read_to_string(handout.join("Cargo.toml")).unwrap();
    assert!(!manifest.contains("solutions"), "{manifest}");
    assert!(
        manifest.contains("default-members = [\"exercises/*\"]"),
        "{manifest}"
    );

    // A second handout into the same folder is refused with one line.
    let again = lab(&kit, &["handout", "--out", handout.to_str().unwrap()]);
    assert!(!again.status.success());
    let error = String::from_utf8_lossy(&again.stderr);
    assert!(
        error.contains("is not empty") && error.lines().count() == 1,
        "{error}"
    );

    // Cargo sees a workspace whose default members are the exercises.
    let metadata = cargo(
        &handout,
        &["metadata", "--format-version", "1", "--no-deps"],
    );
    let metadata: Value = serde_json::from_str(&success(&metadata, "cargo metadata")).unwrap();
    let defaults = metadata["workspace_default_members"].as_array().unwrap();
    assert_eq!(defaults.len(), exercises.len());
    assert!(
        defaults
            .iter()
            .all(|id| id.as_str().unwrap().contains("/exercises/"))
    );

    // `cargo test -p ex01` there: every graded test fails, each with "not yet implemented".
    let run = cargo(&handout, &["test", "-p", "ex01"]);
    assert!(!run.status.success(), "the skeleton's tests cannot pass");
    let cases = libtest::parse(&String::from_utf8_lossy(&run.stdout));
    assert!(
        !cases.is_empty(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for case in &cases {
        assert_eq!(case.outcome, Outcome::Failed, "{}", case.name);
        assert!(case.not_started(), "{}: {}", case.name, case.message());
    }

    // A student's copy of the handout with exercise 1 done, graded by the handout itself
    // (in the sandbox a submission always gets).
    if !sandbox_available() {
        return;
    }
    let class = temp.path().join("class");
    copy_dir(&handout, &class.join("sam"));
    fs::copy(
        kit.join("solutions/ex01-raw-send-recv/src/lib.rs"),
        class.join("sam/exercises/ex01-raw-send-recv/src/lib.rs"),
    )
    .unwrap();
    let graded = lab(
        &handout,
        &[
            "grade",
            "--batch",
            class.to_str().unwrap(),
            "--only",
            "ex01",
            "--format",
            "json",
        ],
    );
    let graded: Value = serde_json::from_str(&success(&graded, "grading with --batch")).unwrap();
    let sam = &graded[0];
    assert_eq!(sam["student"], "sam");
    assert_eq!(sam["status"], "graded");
    check_json_schema(&sam["report"]);
    assert_eq!(
        sam["report"]["score"], sam["report"]["max_score"],
        "{sam:#}"
    );
}

fn cargo(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", nested_target())
        .output()
        .expect("running cargo")
}
