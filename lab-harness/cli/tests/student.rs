//! The student's loop, run as a student runs it: `cargo lab` (progress) and `cargo lab hint`
//! as real processes, in the kit and in a fresh handout; and the hints that ship with every
//! exercise.

mod grade_support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use assert_cmd::cargo::cargo_bin;
use std::sync::{Mutex, MutexGuard};

use grade_support::*;
use lab_cli::grade::stage::TempDir;
use lab_cli::hints;
use lab_cli::workspace;
use serde_json::Value;

/// `exNN → (passed, total, state)` from the progress screen's lines
/// `  ex01  [####......]   3/20  in progress`.
fn progress_rows(screen: &str) -> BTreeMap<String, (usize, usize, String)> {
    let mut rows = BTreeMap::new();
    for line in screen.lines() {
        let mut words = line.split_whitespace();
        let (Some(id), Some(bar), Some(count)) = (words.next(), words.next(), words.next()) else {
            continue;
        };
        if !id.starts_with("ex") || !bar.starts_with('[') {
            continue;
        }
        let (passed, total) = count.split_once('/').expect("passed/total");
        // `0/?`: an exercise that does not compile, whose tests could not be listed.
        let total = if total == "?" { "0" } else { total };
        let state: Vec<&str> = words.collect();
        rows.insert(
            id.to_string(),
            (
                passed.parse().unwrap(),
                total.parse().unwrap(),
                state.join(" "),
            ),
        );
    }
    rows
}

/// The target folder of this file's builds, one at a time. Cargo names a package's test
/// binary the same in every copy of the kit (its hash comes from the path inside the
/// workspace) and finds it fresh when the sources are older than the last build, so a
/// folder shared with other copies could run another copy's tests: each test here works on
/// a copy of its own whose exercises are all touched ([`touch_exercises`]) before it builds.
fn one_build_at_a_time() -> MutexGuard<'static, ()> {
    static TARGET: Mutex<()> = Mutex::new(());
    TARGET
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `lab ARGS` in `dir`, building into the nested target folder the grader's end-to-end
/// tests build in (their kit copies keep the kit's modification times, so the harness, the
/// `lab` command and the dependencies built there are reused).
fn lab_in(dir: &Path, args: &[&str]) -> Output {
    lab_building_into(&nested_target(), dir, args)
}

/// A copy of the kit of its own (solutions included) in a temporary folder, its exercises
/// touched, and the target folder to build it in, held until the guard is dropped.
fn fresh_copy(label: &str) -> (MutexGuard<'static, ()>, TempDir, PathBuf) {
    let build = one_build_at_a_time();
    let temp = temp(label);
    let kit = temp.path().join("kit");
    copy_kit(&kit);
    touch_exercises(&kit);
    (build, temp, kit)
}

/// Marks every file of the exercises and solutions of the kit copy at `root` as changed now,
/// so that cargo builds them again whatever an earlier copy left in the target folder.
fn touch_exercises(root: &Path) {
    fn touch(dir: &Path) {
        for entry in fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                touch(&path);
            } else {
                fs::File::options()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_modified(SystemTime::now()))
                    .unwrap_or_else(|e| panic!("touching {}: {e}", path.display()));
            }
        }
    }
    for folder in ["exercises", "solutions"] {
        if root.join(folder).is_dir() {
            touch(&root.join(folder));
        }
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The issue that asked for `cargo lab`: `check` once said 16 tests for ex03 where `grade`
/// said 13. All three now count the graded tests of the same files, the same way.
#[test]
#[ignore = "end to end: run with `cargo test -- --include-ignored` (CI does)"]
fn progress_check_and_grade_count_the_same_graded_tests() {
    let (_build, _temp, kit) = fresh_copy("counts");
    let exercises = workspace::exercises(&kit).unwrap();

    let progress = progress_rows(&success(&lab_in(&kit, &["progress"]), "cargo lab progress"));
    let grade = lab_in(&kit, &["grade", "--format", "json"]);
    let grade: Value = serde_json::from_str(&success(&grade, "grade")).unwrap();
    // No mistake is named `none`: only the skeleton and solution checks run.
    let check = success(&lab_in(&kit, &["check", "--mistakes", "none"]), "check");

    assert_eq!(
        progress.keys().cloned().collect::<Vec<_>>(),
        exercises
            .iter()
            .map(|e| e.id().to_string())
            .collect::<Vec<_>>(),
        "cargo lab shows every exercise"
    );
    for exercise in &exercises {
        let id = exercise.id();
        let (passed, total, state) = &progress[id];
        // The kit's exercises are the skeletons.
        assert_eq!((*passed, state.as_str()), (0, "not started"), "{id}");

        let graded = grade["exercises"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["exercise"] == id)
            .unwrap_or_else(|| panic!("{id} is not in grade's report"));
        let graded = graded["tests"].as_array().unwrap().len();

        let line = check
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} is not in check's output:\n{check}"));
        let counted = |what: &str| -> usize {
            let at = line
                .find(what)
                .unwrap_or_else(|| panic!("{what} in {line}"))
                + what.len();
            let rest = &line[at..];
            let total = rest.split('/').nth(1).unwrap();
            total
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap_or_else(|_| panic!("a count in {line}"))
        };
        assert_eq!(
            (graded, counted("skeleton: "), counted("solution: ")),
            (*total, *total, *total),
            "{id}: grade, check (skeleton) and check (solution) against cargo lab's {total}"
        );
    }
}

/// In a fresh handout (the students' copy), with exercise 1 done, exercise 2 untouched,
/// exercise 3 half right (a known mistake of its catalogue) and exercise 4 not compiling.
#[test]
#[ignore = "end to end: run with `cargo test -- --include-ignored` (CI does)"]
fn progress_and_hints_in_a_handout() {
    let _build = one_build_at_a_time();
    let kit = kit_root();
    let temp = temp("student");
    let handout = temp.path().join("netlab-student");
    success(
        // The committed kit, whatever a developer has not committed yet.
        &lab_in(
            &kit,
            &[
                "handout",
                "--ignore-uncommitted",
                "--out",
                handout.to_str().unwrap(),
            ],
        ),
        "cargo lab handout",
    );
    touch_exercises(&handout);
    let exercises = workspace::exercises(&kit).unwrap();
    let by_id = |id: &str| exercises.iter().find(|e| e.id() == id).unwrap();

    let ex01 = by_id("ex01");
    fs::copy(
        ex01.solution.as_ref().unwrap().dir.join("src/lib.rs"),
        handout
            .join("exercises")
            .join(&ex01.folder)
            .join("src/lib.rs"),
    )
    .unwrap();
    let ex03 = by_id("ex03");
    let mistake = lab_cli::mistakes::catalogue(ex03)
        .unwrap()
        .into_iter()
        .find(|m| m.name == "keeps-carriage-return")
        .expect("ex03's catalogue has keeps-carriage-return");
    lab_cli::mistakes::stage(
        &mistake,
        ex03,
        &ex03.solution.as_ref().unwrap().dir,
        &handout,
    )
    .unwrap();
    let ex04_lib = handout
        .join("exercises")
        .join(&by_id("ex04").folder)
        .join("src/lib.rs");
    let mut broken = fs::read_to_string(&ex04_lib).unwrap();
    broken.push_str("\nfn broken( {\n");
    fs::write(&ex04_lib, broken).unwrap();

    let only = ["progress", "--only", "ex01,ex02,ex03,ex04"];
    let screen = success(
        &lab_in(&handout, &only),
        "cargo lab progress in the handout",
    );
    let rows = progress_rows(&screen);
    let (passed, total, state) = &rows["ex01"];
    assert!(passed == total && state == "done", "{screen}");
    let (passed, _, state) = &rows["ex02"];
    assert!(*passed == 0 && state == "not started", "{screen}");
    let (passed, total, state) = &rows["ex03"];
    assert!(
        0 < *passed && passed < total && state == "in progress",
        "{screen}"
    );
    assert_eq!(rows["ex04"].2, "does not compile", "{screen}");
    // The next step of each exercise that is not done: the failing test and why, the
    // first test and its hint, the compiler's error.
    assert!(screen.contains("next: open_streams_gives"), "{screen}");
    assert!(
        screen.contains("hint: The reader and the writer"),
        "{screen}"
    );
    assert!(screen.contains("failed: "), "{screen}");
    assert!(screen.contains("error"), "{screen}");
    assert!(screen.contains("cargo lab watch ex02"), "{screen}");

    // `cargo lab` alone is the same screen.
    let alone = lab_in(&handout, &[]);
    let alone_rows = progress_rows(&success(&alone, "cargo lab alone"));
    assert_eq!(alone_rows.len(), exercises.len(), "{}", stderr(&alone));
    assert_eq!(alone_rows["ex03"], rows["ex03"]);

    // Hints: one more step each time, remembered between runs; --all shows them all.
    let first = success(&lab_in(&handout, &["hint", "ex01", "receive_some"]), "hint");
    assert!(first.contains("step 1 of 3"), "{first}");
    assert!(
        first.contains("1. a nudge:") && !first.contains("2. "),
        "{first}"
    );
    let second = success(&lab_in(&handout, &["hint", "ex01", "receive_some"]), "hint");
    assert!(second.contains("1. a nudge:"), "{second}");
    assert!(second.contains("2. the std API: Read::read"), "{second}");
    let all = success(
        &lab_in(
            &handout,
            &["hint", "ex01", "receive_exactly_collects", "--all"],
        ),
        "hint --all",
    );
    assert!(
        all.contains("step 3 of 3") && all.contains("3. the idea:"),
        "{all}"
    );
    // Without a test: the one to work on next, or nothing to hint.
    let next = success(&lab_in(&handout, &["hint", "ex02"]), "hint ex02");
    assert!(
        next.contains("Hint for open_streams_gives_a_reader_and_a_writer"),
        "{next}"
    );
    let done = success(&lab_in(&handout, &["hint", "ex01"]), "hint ex01");
    assert!(done.contains("Every graded test of ex01 passes"), "{done}");
    let broken = success(&lab_in(&handout, &["hint", "ex04"]), "hint ex04");
    assert!(
        broken.contains("does not compile") && broken.contains("the whole exercise"),
        "{broken}"
    );

    // Bad input: one line on stderr, exit code 2.
    for args in [["hint", "ex99", "x"], ["hint", "ex01", "no_such_test"]] {
        let output = lab_in(&handout, &args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        let said = stderr(&output);
        assert_eq!(said.lines().count(), 1, "{args:?}: {said}");
        assert!(said.starts_with("error: "), "{said}");
    }
}

/// Every exercise ships hints that parse, and each prefix in them names graded tests.
#[test]
fn every_exercise_has_hints_for_its_graded_tests() {
    let kit = kit_root();
    let mut problems = Vec::new();
    for exercise in workspace::exercises(&kit).unwrap() {
        let id = exercise.id().to_string();
        let hints = match hints::load(&exercise) {
            Ok(hints) => hints,
            Err(error) => {
                problems.push(format!("{id}: {error}"));
                continue;
            }
        };
        if hints.hint.is_empty() {
            problems.push(format!("{id}: {} has no [[hint]]", hints::FILE_NAME));
        }
        let tests = workspace::graded_functions(&exercise).unwrap();
        for problem in hints.problems(&tests) {
            problems.push(format!("{id}: {}: {problem}", hints::FILE_NAME));
        }
        // Every graded test gets a hint, its own or the whole exercise's.
        for test in &tests {
            if hints.for_test(test).is_none() {
                problems.push(format!("{id}: no hint applies to `{test}`"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_progress_screen_parser_reads_rows() {
    let rows = progress_rows(
        "netlab: 0 of 2 exercises done\n\n  ex01  [##..]   3/20  in progress\n        next: x\n\
         \n  ex02  [....]   0/?   does not compile\n",
    );
    assert_eq!(rows["ex01"], (3, 20, "in progress".to_string()));
    assert_eq!(rows["ex02"], (0, 0, "does not compile".to_string()));
}

/// A running `lab watch`, its stdout read line by line on a thread of its own; killed when
/// dropped, so that a failing test leaves no process behind.
struct Watching {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: String,
}

impl Watching {
    fn start(kit: &Path, args: &[&str]) -> Watching {
        let mut command = Command::new(cargo_bin("lab"));
        command.args(args);
        Watching::spawn(kit, command)
    }

    fn spawn(kit: &Path, mut command: Command) -> Watching {
        let mut child = command
            .current_dir(kit)
            .env("CARGO_TARGET_DIR", nested_target())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting lab watch");
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Watching {
            child,
            lines,
            seen: String::new(),
        }
    }

    /// Waits (at most `limit`) for a line containing `needle`; returns everything printed
    /// since the last wait.
    fn wait_for(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        let mut printed = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    printed.push_str(&line);
                    printed.push('\n');
                    if line.contains(needle) {
                        self.seen.push_str(&printed);
                        return printed;
                    }
                }
                Err(error) => panic!(
                    "no line with {needle:?} within {limit:?} ({error}); printed before:\n{}\
                     \n--- since the last step:\n{printed}",
                    self.seen
                ),
            }
        }
    }

    /// Waits (at most `limit`) for the process to close its stdout, then for its exit.
    fn wait_for_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(_) => continue,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(error) => panic!("lab watch did not exit within {limit:?} ({error})"),
            }
        }
        self.child.wait().unwrap()
    }

    /// A key and Enter (from a pipe, watch reads a line per key).
    fn key(&mut self, key: &str) {
        self.type_in(&format!("{key}\n"));
    }

    fn type_in(&mut self, text: &str) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cargo lab watch` as a real process driven through a pipe: it runs the tests, answers
/// each key, runs them again when the exercise's code is saved, caps a runaway message,
/// says when all pass and goes on to the next exercise.
#[test]
#[ignore = "end to end: run with `cargo test -- --include-ignored` (CI does)"]
fn watch_runs_again_on_save_and_answers_keys() {
    let (_build, _temp, kit) = fresh_copy("watch");
    let ex01 = workspace::exercises(&kit).unwrap().remove(0);
    let lib = ex01.dir.join("src/lib.rs");
    let skeleton = fs::read_to_string(&lib).unwrap();

    let mut watch = Watching::start(&kit, &["watch", "ex01"]);
    // The first run builds the copy: minutes on a small machine.
    let first = watch.wait_for("graded tests pass", Duration::from_secs(900));
    assert!(
        first.contains("ex01  [....................] 0/20"),
        "{first}"
    );
    let first = watch.wait_for("save a file there", Duration::from_secs(10));
    assert!(
        first.contains("not started: connect_reaches_a_listening_server"),
        "{first}"
    );
    assert!(first.contains("not yet implemented"), "{first}");
    assert!(
        !first.contains('\u{1b}'),
        "no terminal codes into a pipe: {first:?}"
    );

    watch.key("l");
    let list = watch.wait_for("send_all_does_not_stop", Duration::from_secs(10));
    assert!(list.contains("the graded tests of ex01:"), "{list}");
    watch.key("h");
    let hint = watch.wait_for("1. a nudge:", Duration::from_secs(10));
    assert!(
        hint.contains("Hint for connect_reaches_a_listening_server (ex01), step 1 of 3"),
        "{hint}"
    );

    // A program that panics with 100,000 lines: the summary shows a screenful.
    let runaway = skeleton.replace(
        "todo!(\"connect to {host} port {port}\")",
        "panic!(\"{host}:{port} {}\", \"runaway\\n\".repeat(100_000))",
    );
    assert_ne!(
        runaway, skeleton,
        "the skeleton's connect changed: update this test"
    );
    fs::write(&lib, &runaway).unwrap();
    watch.wait_for("running the graded tests of ex01", Duration::from_secs(60));
    let capped = watch.wait_for("save a file there", Duration::from_secs(600));
    assert!(capped.contains("failed: connect_"), "{capped}");
    assert!(capped.contains("more lines not shown"), "{capped}");
    assert!(
        capped.lines().filter(|l| l.contains("runaway")).count() <= 40,
        "{capped}"
    );

    // The reference answer: everything passes, and the next exercise is offered.
    let solution = kit.join("solutions").join(&ex01.folder).join("src/lib.rs");
    fs::copy(&solution, &lib).unwrap();
    let done = watch.wait_for("All 20 graded tests of ex01 pass", Duration::from_secs(600));
    assert!(done.contains("20/20"), "{done}");
    watch.wait_for("Press n to go on with ex02", Duration::from_secs(10));
    watch.key("n");
    let next = watch.wait_for("graded tests pass", Duration::from_secs(600));
    assert!(next.contains("ex02  [....................] 0/49"), "{next}");

    watch.key("q");
    watch.wait_for("watch: stopped.", Duration::from_secs(30));
    let status = watch.wait_for_exit(Duration::from_secs(30));
    assert!(status.success(), "{status}");
}

#[test]
fn watch_refuses_an_unknown_exercise_in_one_line() {
    let output = lab_in(&kit_root(), &["watch", "ex99"]);
    assert_eq!(output.status.code(), Some(2));
    let said = stderr(&output);
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(said.contains("no exercise `ex99`"), "{said}");
}

/// In a terminal (a pseudo-terminal made by util-linux's `script`), watch reads single key
/// presses in raw mode: a key acts without Enter, and `q` stops a run of tests at once.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "end to end: run with `cargo test -- --include-ignored` (CI does)"]
fn watch_in_a_terminal_acts_on_single_keys() {
    let script = Command::new("script").arg("--version").output();
    if !script.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var_os("CI").is_none(),
            "script (util-linux) is needed for this test"
        );
        eprintln!("skipped: no `script` command to make a pseudo-terminal");
        return;
    }
    let (_build, _temp, kit) = fresh_copy("watch-tty");

    let lab = cargo_bin("lab");
    let mut command = Command::new("script");
    // -q quiet, -f flush at once, -e the exit code of the command; no log file.
    command.args([
        "-qfec",
        &format!("'{}' watch ex01", lab.display()),
        "/dev/null",
    ]);
    let mut watch = Watching::spawn(&kit, command);
    let first = watch.wait_for("save a file there", Duration::from_secs(900));
    assert!(first.contains("0/20 graded tests pass"), "{first}");
    // In a terminal each run starts on a cleared screen (from a pipe, nothing is cleared).
    assert!(first.contains("\u{1b}[2J"), "{first:?}");

    watch.type_in("l");
    watch.wait_for("the graded tests of ex01:", Duration::from_secs(30));

    // A `connect` that never returns: its tests end only at their watchdogs' deadlines, a
    // run of seconds. `q` stops that run at once: no summary is printed.
    let lib = kit.join("exercises/ex01-raw-send-recv/src/lib.rs");
    let skeleton = fs::read_to_string(&lib).unwrap();
    let hangs = skeleton.replace(
        "todo!(\"connect to {host} port {port}\")",
        "loop {\n        std::thread::park();\n    }",
    );
    assert_ne!(
        hangs, skeleton,
        "the skeleton's connect changed: update this test"
    );
    fs::write(&lib, hangs).unwrap();
    watch.wait_for("running the graded tests of ex01", Duration::from_secs(60));
    watch.type_in("q");
    let stopped = watch.wait_for("watch: stopped.", Duration::from_secs(60));
    assert!(!stopped.contains("graded tests pass"), "{stopped}");
    let status = watch.wait_for_exit(Duration::from_secs(30));
    assert!(status.success(), "{status}");
}
