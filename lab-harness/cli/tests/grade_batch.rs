//! `cargo lab grade --batch`: a class's submissions graded against the kit's own tests, one
//! gradebook row each. A submission cannot change the graded tests, a broken one costs only
//! its own row, and a symbolic link is never followed.

mod grade_support;

use std::fs;
use std::path::Path;

use grade_support::*;

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

#[test]
#[ignore = "end to end: run with `cargo test -- --include-ignored` (CI does)"]
fn a_class_is_graded_one_row_per_student() {
    if !sandbox_available() {
        return;
    }
    let kit = kit_root();
    let temp = temp("grade-batch");
    let class = temp.path().join("class");
    let ex01 = "exercises/ex01-raw-send-recv";
    let solution = fs::read_to_string(kit.join("solutions/ex01-raw-send-recv/src/lib.rs")).unwrap();
    let skeleton = fs::read_to_string(kit.join(ex01).join("src/lib.rs")).unwrap();

    // alice: a whole copy of the workspace, exercise 1 solved.
    write(
        &class.join("alice/Cargo.toml"),
        "this is not the kit's manifest",
    );
    write(
        &class.join("alice").join(ex01).join("src/lib.rs"),
        &solution,
    );
    // bob: just exercises/, and his code does not compile.
    write(
        &class.join("bob").join(ex01).join("src/lib.rs"),
        "pub fn connect( {\n",
    );
    // carol: tries to grade herself with her own tests and manifest.
    write(
        &class.join("carol").join(ex01).join("src/lib.rs"),
        &skeleton,
    );
    write(
        &class.join("carol").join(ex01).join("tests/graded.rs"),
        "#[test]\nfn everything_passes() {}\n",
    );
    write(
        &class.join("carol").join(ex01).join("Cargo.toml"),
        "[package]\nname = \"ex01\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
    );
    // grace: the skeleton with a comment added. Carol's skeleton is the handout's to the byte,
    // which the grader grades from its own run of the skeleton; grace's is built and run: the
    // two rows must agree.
    write(
        &class.join("grace").join(ex01).join("src/lib.rs"),
        &format!("{skeleton}// I have not started yet\n"),
    );
    // dave: handed in the wrong thing.
    write(&class.join("dave/notes.txt"), "I will do it tomorrow");
    // erin: an archive that unpacked into a folder, with a symbolic link in it.
    let erin = class.join("erin/netlab-main").join(ex01).join("src");
    write(&erin.join("lib.rs"), &solution);
    #[cfg(unix)]
    std::os::unix::fs::symlink("/etc/passwd", erin.join("secret.rs")).unwrap();
    // frank: exercise 1 partly right (receive_some keeps the whole buffer).
    let partial = solution.replace("    buffer.truncate(count);\n", "    let _ = count;\n");
    assert_ne!(partial, solution, "the solution changed shape");
    write(&class.join("frank").join(ex01).join("src/lib.rs"), &partial);
    // mallory: prints a passing test run and exits 0 from every function.
    let forged = skeleton.replace(
        "pub fn connect(host: &str, port: u16) -> io::Result<TcpStream> {\n",
        "pub fn connect(host: &str, port: u16) -> io::Result<TcpStream> {\n    \
         println!(\"test connect_reaches_a_listening_server ... ok\\n\\ntest result: ok. 16 \
         passed\");\n    std::process::exit(0);\n",
    );
    assert_ne!(forged, skeleton, "the skeleton changed shape");
    write(
        &class.join("mallory").join(ex01).join("src/lib.rs"),
        &forged,
    );

    let gradebook = temp.path().join("gradebook.csv");
    let output = lab(
        &kit,
        &[
            "grade",
            "--batch",
            class.to_str().unwrap(),
            "--only",
            "ex01",
            "--out",
            gradebook.to_str().unwrap(),
        ],
    );
    success(&output, "grading the class");
    let progress = String::from_utf8_lossy(&output.stderr);
    // The time each submission took, for the record (speed is measured, not asserted).
    for line in progress
        .lines()
        .filter(|l| l.starts_with('(') && l.ends_with(" s"))
    {
        eprintln!("{line}");
    }

    let csv = fs::read_to_string(&gradebook).unwrap();
    let rows: Vec<Vec<String>> = csv.lines().map(split_csv).collect();
    assert_eq!(
        rows[0],
        [
            "student",
            "score",
            "max_score",
            "status",
            "reason",
            "isolation",
            "complete",
            "ex01_points",
            "ex01_tests",
            "ex01_status"
        ]
    );
    let students: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        students,
        [
            "alice", "bob", "carol", "dave", "erin", "frank", "grace", "mallory"
        ]
    );
    // Every graded row ran in the sandbox (checked here, left out of the rows compared).
    let row = |name: &str| {
        let mut row = rows.iter().find(|r| r[0] == name).unwrap().clone();
        if row[3] != "error" {
            let isolation = row.remove(5);
            assert_eq!(isolation, "sandbox", "{name}");
        }
        row
    };

    let alice = row("alice");
    let total = alice[7].split('/').nth(1).unwrap().to_string();
    assert_eq!(
        alice,
        [
            "alice",
            "10",
            "10",
            "graded",
            "",
            "true",
            "10",
            &format!("{total}/{total}"),
            "passed"
        ]
    );
    let bob = row("bob");
    assert_eq!(
        bob,
        [
            "bob",
            "0",
            "10",
            "graded",
            "",
            "true",
            "0",
            &format!("0/{total}"),
            "did_not_compile"
        ],
        "the tests are listed from the kit's skeleton"
    );
    assert_eq!(
        row("carol"),
        [
            "carol",
            "0",
            "10",
            "graded",
            "",
            "true",
            "0",
            &format!("0/{total}"),
            "not_started"
        ],
        "her own tests and manifest were not used"
    );
    assert_eq!(
        row("grace")[1..],
        row("carol")[1..],
        "a skeleton built and run again grades as the handout's own"
    );
    let dave = row("dave");
    assert_eq!(dave[1..4], ["0", "10", "error"]);
    assert!(dave[4].contains("no exercises/ folder"), "{dave:?}");
    assert_eq!(
        dave[5..7],
        ["", ""],
        "no isolation nor completeness without a report"
    );
    let erin = row("erin");
    assert_eq!(erin[1], "10", "{erin:?}");
    #[cfg(unix)]
    assert!(
        erin[4].contains("secret.rs left out: a symbolic link"),
        "{erin:?}"
    );
    // The partial answer gets the points of the tests it passes, no more, no less.
    let frank = row("frank");
    let passed: usize = frank[7].split('/').next().unwrap().parse().unwrap();
    let total: usize = total.parse().unwrap();
    assert!(0 < passed && passed < total, "{frank:?}");
    let points: f64 = frank[1].parse().unwrap();
    assert!(0.0 < points && points < 10.0, "{frank:?}");
    assert_eq!(frank[8], "failed", "{frank:?}");
    // The forger gets nothing.
    let mallory = row("mallory");
    assert_eq!(mallory[1], "0", "{mallory:?}");
    assert_eq!(mallory[7], format!("0/{total}"), "{mallory:?}");
}

#[test]
#[ignore = "end to end: run with `cargo test -- --include-ignored` (CI does)"]
fn a_submission_is_refused_without_a_sandbox_unless_told_to_run_unsandboxed() {
    let kit = kit_root();
    let temp = temp("unsandboxed");
    let submission = temp.path().join("alice");
    write(
        &submission.join("exercises/ex01-raw-send-recv/src/lib.rs"),
        &fs::read_to_string(kit.join("solutions/ex01-raw-send-recv/src/lib.rs")).unwrap(),
    );
    let lab = |path: &str, how: &[&str], extra: &[&str]| {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("lab"))
            .arg("grade")
            .args(how)
            .args(["--only", "ex01"])
            .args(extra)
            .current_dir(&kit)
            .env("CARGO_TARGET_DIR", nested_target())
            .env("PATH", path)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let grade = |path: &str, extra: &[&str]| {
        lab(path, &["--submission", submission.to_str().unwrap()], extra)
    };
    // No bubblewrap on the PATH: one line that names it, and exit code 1; for a class too.
    let batch = ["--batch", temp.path().to_str().unwrap()];
    for refused in [grade("/nonexistent", &[]), lab("/nonexistent", &batch, &[])] {
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("bubblewrap (bwrap)") && stderr.contains("--unsandboxed"),
            "{stderr}"
        );
    }

    // With --unsandboxed it grades, and every format says how.
    let path = std::env::var("PATH").unwrap();
    let graded = grade(&path, &["--unsandboxed", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&success(&graded, "unsandboxed")).unwrap();
    check_json_schema(&report);
    assert_eq!(report["isolation"], "unsandboxed");
    assert_eq!(report["score"].as_f64(), Some(10.0));
    let table = grade(&path, &["--unsandboxed"]);
    assert!(success(&table, "unsandboxed table").contains("UNSANDBOXED:"));
}
