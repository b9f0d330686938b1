//! `cargo lab handout`: the students' copy of the kit is the last commit's skeletons, never
//! the instructor's working folder (a solved exercise, an untracked file); it is refused with
//! one line when it cannot be trusted; and the README's commands are true in the copy.
//!
//! The instructor's folder is made here: the kit's last commit, unpacked and committed anew
//! in a temporary git repository, so the test never depends on the state of the folder it
//! runs in.

mod grade_support;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use grade_support::*;
use lab_cli::libtest::{self, Outcome};
use serde_json::Value;

const EX01: &str = "exercises/ex01-raw-send-recv/src/lib.rs";

#[test]
#[ignore = "end to end: run with `cargo test -- --include-ignored` (CI does)"]
fn the_handout_is_the_committed_skeletons_and_its_readme_is_true() {
    let kit = kit_root();
    let temp = temp("handout");
    let instructor = temp.path().join("instructor");
    committed_copy_of_the_kit(&kit, &instructor);

    // The instructor solves exercise 1 to try it, and leaves a note lying around.
    fs::copy(
        kit.join("solutions/ex01-raw-send-recv/src/lib.rs"),
        instructor.join(EX01),
    )
    .unwrap();
    fs::write(instructor.join("NOTES.md"), "answers: see solutions/\n").unwrap();
    fs::write(
        instructor.join("exercises/ex01-raw-send-recv/src/scratch.rs"),
        "// mine\n",
    )
    .unwrap();

    // By default the uncommitted change is refused, with one line naming it.
    let handout = temp.path().join("netlab-student");
    let refused = lab(
        &instructor,
        &["handout", "--out", handout.to_str().unwrap()],
    );
    let error = one_line_error(&refused);
    assert!(
        error.contains(EX01) && error.contains("uncommitted"),
        "{error}"
    );
    assert!(!handout.exists(), "nothing is written when refused");

    // Asked to, the committed version is handed out: neither the solved code nor the
    // untracked files are in it.
    let output = lab(
        &instructor,
        &[
            "handout",
            "--out",
            handout.to_str().unwrap(),
            "--ignore-uncommitted",
        ],
    );
    let said = success(&output, "writing the handout");
    assert!(said.contains("no solutions"), "{said}");
    assert_eq!(
        fs::read_to_string(handout.join(EX01)).unwrap(),
        git_show(&instructor, EX01),
        "the skeleton of the last commit"
    );
    for gone in [
        "NOTES.md",
        "exercises/ex01-raw-send-recv/src/scratch.rs",
        "solutions",
        "bench-peers",
        "scripts",
        ".ci",
        ".git",
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
        "lab-harness/cli/src/main.rs",
    ] {
        assert!(handout.join(kept).is_file(), "{kept} is missing");
    }
    let exercises = lab_cli::workspace::exercises(&instructor).unwrap();
    for exercise in &exercises {
        for test in &exercise.tests {
            let relative = test.strip_prefix(&instructor).unwrap();
            assert_eq!(
                fs::read(handout.join(relative)).unwrap(),
                fs::read(test).unwrap(),
                "the graded tests are handed out unchanged"
            );
        }
    }
    let manifest = fs::read_to_string(handout.join("Cargo.toml")).unwrap();
    assert!(
        !manifest.contains("solutions/") && !manifest.contains("\"bench-peers\""),
        "{manifest}"
    );
    let lock = fs::read_to_string(handout.join("Cargo.lock")).unwrap();
    assert!(
        !lock.contains("\"ex01-solution\"") && !lock.contains("\"tokio\""),
        "the lock file holds the copy's packages only"
    );

    // A second handout into the same folder is refused with one line.
    let again = lab(&kit, &["handout", "--out", handout.to_str().unwrap()]);
    assert!(one_line_error(&again).contains("is not empty"));

    readme_commands_work_in(&handout, &exercises);

    // A solved exercise, committed: refused, whatever the flags.
    git(&instructor, &["add", "-A"]);
    git(&instructor, &["commit", "-q", "-m", "solved ex01"]);
    let solved = lab(
        &instructor,
        &[
            "handout",
            "--out",
            temp.path().join("other").to_str().unwrap(),
            "--ignore-uncommitted",
        ],
    );
    let error = one_line_error(&solved);
    assert!(
        error.contains("ex01-raw-send-recv is not a skeleton")
            && error.contains("not yet implemented"),
        "{error}"
    );

    // Not a git repository: refused, saying what to do.
    fs::remove_dir_all(instructor.join(".git")).unwrap();
    let no_git = lab(
        &instructor,
        &[
            "handout",
            "--out",
            temp.path().join("third").to_str().unwrap(),
        ],
    );
    let error = one_line_error(&no_git);
    assert!(
        error.contains("not a git repository") && error.contains("git commit"),
        "{error}"
    );
}

/// Runs, in the copy, what its README tells a student to run.
fn readme_commands_work_in(handout: &Path, exercises: &[lab_cli::workspace::Exercise]) {
    let readme = fs::read_to_string(handout.join("README.md")).unwrap();
    for command in [
        "cargo test -p ex01 ",
        "cargo test -p ex01 receive_some",
        "cargo clippy -p ex01",
        "cargo lab serve ",
        "cargo lab spy --listen ",
        "cargo lab grade ",
    ] {
        assert!(readme.contains(command), "{command}: {readme}");
    }
    for exercise in exercises {
        assert!(readme.contains(&format!("`{}`", exercise.folder)));
    }

    // `cargo test -p ex01`: every graded test fails, each with "not yet implemented".
    let run = cargo(handout, &["test", "-p", "ex01"]);
    assert!(!run.status.success(), "the skeleton's tests cannot pass");
    let cases = libtest::parse(&String::from_utf8_lossy(&run.stdout));
    assert!(cases.len() > 3, "{}", String::from_utf8_lossy(&run.stderr));
    for case in &cases {
        assert_eq!(case.outcome, Outcome::Failed, "{}", case.name);
        assert!(case.not_started(), "{}: {}", case.name, case.message());
    }
    // `cargo test -p ex01 receive_some`: only those.
    let some = cargo(handout, &["test", "-p", "ex01", "receive_some"]);
    let some = libtest::parse(&String::from_utf8_lossy(&some.stdout));
    assert!(!some.is_empty() && some.len() < cases.len());
    assert!(some.iter().all(|c| c.name.contains("receive_some")));
    // A plain `cargo test` is the exercises' graded tests, not the kit's self-test.
    let metadata = cargo(handout, &["metadata", "--format-version", "1", "--no-deps"]);
    let metadata: Value = serde_json::from_str(&success(&metadata, "cargo metadata")).unwrap();
    let defaults = metadata["workspace_default_members"].as_array().unwrap();
    assert_eq!(defaults.len(), exercises.len());
    assert!(
        defaults
            .iter()
            .all(|id| id.as_str().unwrap().contains("/exercises/"))
    );
    success(&cargo(handout, &["clippy", "-p", "ex01"]), "cargo clippy");

    // `cargo lab serve` listens and echoes (on a port of the system's choosing here).
    serve_echoes(handout);

    // `cargo lab grade` in the copy: nothing done, nothing scored.
    let graded = cargo(
        handout,
        &["lab", "grade", "--only", "ex01", "--format", "json"],
    );
    let report: Value = serde_json::from_str(&String::from_utf8_lossy(&graded.stdout))
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&graded.stderr)));
    assert_eq!(report["score"].as_f64(), Some(0.0), "{report:#}");

    // The maintainers' commands are refused there with one line.
    for args in [
        &["lab", "check"][..],
        &["lab", "grade", "--solutions"],
        &["lab", "handout", "--out", "elsewhere"],
    ] {
        let refused = cargo(handout, args);
        let error = one_line_error(&refused);
        assert!(error.contains("students' copy"), "{args:?}: {error}");
    }

    // `cargo lab spy` is there (its own tests run it between real peers): asked without a
    // server, it says what it needs in one line.
    let spy = cargo(handout, &["lab", "spy", "--listen", "127.0.0.1:0"]);
    assert_eq!(spy.status.code(), Some(2));
    assert!(one_line_error(&spy).contains("--to"));

    // The copy's grader, on an empty submission: zero.
    if sandbox_available() {
        let empty = handout.join("../empty-submission");
        fs::create_dir_all(&empty).unwrap();
        let graded = cargo(
            handout,
            &[
                "lab",
                "grade",
                "--submission",
                empty.to_str().unwrap(),
                "--only",
                "ex01",
                "--format",
                "json",
            ],
        );
        let report: Value =
            serde_json::from_str(&success(&graded, "grading an empty one")).unwrap();
        check_json_schema(&report);
        assert_eq!(report["score"].as_f64(), Some(0.0), "{report:#}");
        assert!(report["max_score"].as_f64().unwrap() > 0.0);
    }
}

fn serve_echoes(handout: &Path) {
    let mut server = Command::new(cargo_program())
        .args(["lab", "serve", "--port", "0"])
        .current_dir(handout)
        .env("CARGO_TARGET_DIR", nested_target())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .strip_prefix("listening on ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{first:?}"))
        .to_string();
    let mut client = std::net::TcpStream::connect(&addr).unwrap();
    client
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    std::io::Write::write_all(&mut client, b"hello\n").unwrap();
    let mut line = String::new();
    BufReader::new(&client).read_line(&mut line).unwrap();
    assert_eq!(line, "hello\r\n");
    server.kill().unwrap();
    server.wait().unwrap();
}

/// The kit's last commit, unpacked at `dest` and committed there as a new repository.
fn committed_copy_of_the_kit(kit: &Path, dest: &Path) {
    fs::create_dir_all(dest).unwrap();
    let archive = Command::new("git")
        .args(["archive", "--format=tar", "HEAD"])
        .current_dir(kit)
        .output()
        .unwrap();
    assert!(archive.status.success());
    let mut tar = Command::new("tar")
        .args(["-x", "-C"])
        .arg(dest)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(tar.stdin.as_mut().unwrap(), &archive.stdout).unwrap();
    drop(tar.stdin.take());
    assert!(tar.wait().unwrap().success());
    git(dest, &["init", "-q"]);
    git(dest, &["add", "-A"]);
    git(dest, &["commit", "-q", "-m", "the kit"]);
}

fn git(dir: &Path, args: &[&str]) {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=netlab",
            "-c",
            "user.email=netlab@example.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    success(&output, "git");
}

fn git_show(dir: &Path, path: &str) -> String {
    let output = Command::new("git")
        .args(["show", &format!("HEAD:{path}")])
        .current_dir(dir)
        .output()
        .unwrap();
    success(&output, "git show")
}

/// The one line a refused command prints (and its non-zero exit).
fn one_line_error(output: &Output) -> String {
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr).into_owned();
    let lines: Vec<&str> = error
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("checking that"))
        .collect();
    assert_eq!(lines.len(), 1, "{error}");
    lines[0].to_string()
}

fn cargo_program() -> PathBuf {
    std::env::var_os("CARGO")
        .unwrap_or_else(|| "cargo".into())
        .into()
}

fn cargo(dir: &Path, args: &[&str]) -> Output {
    Command::new(cargo_program())
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", nested_target())
        .stdin(Stdio::null())
        .output()
        .expect("running cargo")
}
