//! `cargo lab grade` against hostile submissions, one per attack class of the lab book's
//! "Trust and sandboxing" page: forged verdicts, tampering, leaks (at compile time and at run
//! time), leftover processes, exhaustion (output, memory, processes, time, an endless
//! constant), and an interrupted grader.
//!
//! Each attack is exercise 1's skeleton with attack code run first in every function, so it
//! earns nothing honestly. Each is graded alone (`--submission`) and all of them in one
//! `--batch` beside an honest student, and the test fails if an attack earns a point,
//! changes a file outside its own staging area (the kit, the other student, the report, the
//! dependencies' build the submissions share), learns something of the grading machine (a
//! path, an environment value, a file's content), leaves a process running, or takes the
//! grader over 100 MiB of memory or past its time limits.
//!
//! The attacker is given every secret path it could want (they are written into its source
//! by this test): the sandbox, not ignorance, must stop it.
//!
//! Linux with bubblewrap only (the sandbox's platform); elsewhere, and where bubblewrap is
//! missing outside CI, the tests say so and stop (see `sandbox_available`).

mod grade_support;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use assert_cmd::cargo::cargo_bin;
use grade_support::*;
use serde_json::Value;

const EX01: &str = "exercises/ex01-raw-send-recv";
/// The grader's own memory may not pass this (peak resident set), whatever a submission does.
const MEMORY_LIMIT_KB: u64 = 100 * 1024;
/// The limits the attacks are graded with: short, so that hanging attacks cost little.
const TIMEOUT_PER_EXERCISE: u64 = 5;
const BUILD_TIMEOUT: u64 = 30;
/// The batch's build limit: the endless constant stops there, beside honest builds.
const SHORT_BUILD_TIMEOUT: u64 = 15;
/// The endless constant graded alone, where its build is the only one. The compiler spins
/// on a core until the limit, so the limit is what the attack costs (a 15 s limit, 15
/// processor-seconds); a few seconds show the same.
const ENDLESS_BUILD_TIMEOUT: u64 = 5;

/// The two tests share the base build and watch processes and timing: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
#[ignore = "end to end: run with `cargo test -- --include-ignored` (CI does)"]
fn hostile_submissions_earn_nothing_change_nothing_learn_nothing_and_leave_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !sandbox_available() {
        return;
    }
    let kit = kit_root();
    let temp = temp("hostile");
    let world = World::new(temp.path());

    // The honest student first: this also builds the base (once for all the runs below).
    let alice = world.class.join("alice");
    write(
        &alice.join(EX01).join("src/lib.rs"),
        &fs::read_to_string(kit.join("solutions/ex01-raw-send-recv/src/lib.rs")).unwrap(),
    );
    let run = world.grade_submission(&alice, "alice", BUILD_TIMEOUT);
    let report = run.report();
    assert_eq!(report["score"].as_f64(), Some(10.0), "{report:#}");
    assert_eq!(report["isolation"], "sandbox");
    assert_eq!(report["complete"], true);

    let attacks = attacks(&world);
    for attack in &attacks {
        write(
            &world.class.join(attack.name).join(EX01).join("src/lib.rs"),
            &attack.source,
        );
    }
    let before = world.snapshot();

    for attack in &attacks {
        eprintln!("--submission {}", attack.name);
        let run = world.grade_submission(
            &world.class.join(attack.name),
            attack.name,
            attack.build_timeout,
        );
        let report = run.report();
        check_json_schema(&report);
        assert_eq!(
            report["score"].as_f64(),
            Some(0.0),
            "{}: earned points:\n{report:#}",
            attack.name
        );
        (attack.check)(&report, &run);
        eprintln!(
            "    graded in {:.1} s, grader's peak memory {} KiB, at most {} of its processes \
             at once",
            run.elapsed.as_secs_f64(),
            run.peak_kb,
            run.marked_peak
        );
        world.check_nothing_learned(attack.name, &run.report_text);
        world.check_bounds(attack, &run);
        world.check_no_leftovers(attack.name);
    }

    // The thief's report in the other formats shows what it saw, and nothing of the machine
    // (Gradescope's holds the table's text too).
    for format in ["junit", "gradescope"] {
        let thief = world.class.join("run-time-thief");
        let run = world.grade_submission_as(&thief, "run-time-thief", BUILD_TIMEOUT, format);
        assert!(
            run.report_text.contains("seen: "),
            "the thief's message is not in the {format} report:\n{}",
            run.report_text
        );
        world.check_nothing_learned(&format!("run-time-thief ({format})"), &run.report_text);
    }

    // All of them in one batch beside alice: she keeps her points, they get none.
    eprintln!("--batch");
    let gradebook = world.out.join("gradebook.csv");
    // The shortest build limit: every honest build here takes a few seconds, and the endless
    // constant costs the batch only that long.
    let build_limit = SHORT_BUILD_TIMEOUT;
    // Each student's row is written once that student is graded: from then on none of its
    // processes may run, while the others are graded.
    let mut seen_graded = std::collections::BTreeSet::new();
    let mut outlived = Vec::new();
    let mut look = || {
        for student in read_gradebook_if_any(&gradebook).into_keys() {
            let left = world.leftovers_of(&format!("{}-{student}", world.marker));
            if !left.is_empty() {
                outlived.push(format!("{student}: {left:#?}"));
            }
            seen_graded.insert(student);
        }
    };
    let run = world.lab_with(
        &[
            "grade",
            "--batch",
            world.class.to_str().unwrap(),
            "--only",
            "ex01",
            "--timeout-per-exercise",
            &TIMEOUT_PER_EXERCISE.to_string(),
            "--build-timeout",
            &build_limit.to_string(),
            "--out",
            gradebook.to_str().unwrap(),
        ],
        &mut look,
    );
    assert!(run.status.success(), "the batch failed:\n{}", run.stderr);
    assert!(
        outlived.is_empty(),
        "processes outlived their student's grading in the batch:\n{}",
        outlived.join("\n")
    );
    // Looked at while the batch still ran (the tamperer comes after them).
    assert!(
        seen_graded.contains("squatter") && seen_graded.contains("flooder"),
        "the batch's rows were not seen as they came: {seen_graded:?}"
    );
    let rows = read_gradebook(&gradebook);
    assert_eq!(rows.len(), attacks.len() + 1, "{rows:#?}");
    for (student, row) in &rows {
        let expected = if student == "alice" { "10" } else { "0" };
        assert_eq!(row["score"], expected, "{student}: {row:?}");
        assert_eq!(row["status"], "graded", "{student}: {row:?}");
        assert_eq!(row["isolation"], "sandbox", "{student}: {row:?}");
    }
    let text = fs::read_to_string(&gradebook).unwrap();
    world.check_nothing_learned("the batch", &text);
    assert!(
        run.peak_kb < MEMORY_LIMIT_KB,
        "the batch took the grader to {} KiB",
        run.peak_kb
    );
    world.check_no_leftovers("the batch");
    let bound: u64 = attacks
        .iter()
        .map(|_| SHORT_BUILD_TIMEOUT + TIMEOUT_PER_EXERCISE + 20)
        .sum();
    assert!(
        run.elapsed < Duration::from_secs(bound),
        "the batch took {:?}",
        run.elapsed
    );

    // Nothing outside the staging areas changed: the kit, alice's files, the shared build.
    let after = world.snapshot();
    assert_eq!(before.len(), after.len(), "files appeared or went");
    for (path, state) in &before {
        assert_eq!(Some(state), after.get(path), "{} changed", path.display());
    }
    world.check_staging_removed();
}

#[test]
#[ignore = "end to end: run with `cargo test -- --include-ignored` (CI does)"]
fn an_interrupted_grader_writes_what_it_graded_and_resumes() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !sandbox_available() {
        return;
    }
    let kit = kit_root();
    let temp = temp("interrupted");
    let world = World::new(temp.path());
    let solution = fs::read_to_string(kit.join("solutions/ex01-raw-send-recv/src/lib.rs")).unwrap();
    for student in ["alice", "carol"] {
        write(
            &world.class.join(student).join(EX01).join("src/lib.rs"),
            &solution,
        );
    }
    // bob's every test starts a process and hangs: the grader is stopped while he is graded.
    let hang = format!(
        "fn attack(_function: &str) {{\n    let _ = std::process::Command::new(\"sh\")\n        \
         .args([\"-c\", \"sleep 1000; : {marker}-hang\"])\n        \
         .env(\"NETLAB_ATTACK\", \"{marker}\")\n        .spawn();\n    loop {{\n        \
         std::thread::sleep(std::time::Duration::from_millis(50));\n    }}\n}}\n",
        marker = world.marker
    );
    write(
        &world.class.join("bob").join(EX01).join("src/lib.rs"),
        &with_attack(&hang),
    );

    // SIGTERM in the middle of a batch.
    let gradebook = world.out.join("gradebook.csv");
    let args = |timeout: &str| {
        vec![
            "grade".to_string(),
            "--batch".into(),
            world.class.to_str().unwrap().into(),
            "--only".into(),
            "ex01".into(),
            "--timeout-per-exercise".into(),
            timeout.into(),
            "--out".into(),
            gradebook.to_str().unwrap().into(),
        ]
    };
    let mut running = world.spawn(&args("120"));
    let lines = stderr_lines(&mut running);
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut seen = String::new();
    // Wait until alice's row is on disk and bob's tests are running (his processes exist).
    while !(read_gradebook_if_any(&gradebook).contains_key("alice")
        && seen.contains("bob")
        && !world.leftovers().is_empty())
    {
        assert!(
            Instant::now() < deadline,
            "the batch never got to bob:\n{seen}"
        );
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(100)) {
            seen.push_str(&line);
            seen.push('\n');
        }
    }
    let signalled = Instant::now();
    signal(running.id(), "TERM");
    let status = wait_with_deadline(&mut running, Duration::from_secs(30));
    assert!(
        signalled.elapsed() < Duration::from_secs(30),
        "the grader took {:?} to stop",
        signalled.elapsed()
    );
    assert_eq!(status.code(), Some(143), "SIGTERM gives 143");
    let rows = read_gradebook(&gradebook);
    assert_eq!(rows["alice"]["status"], "graded", "{rows:#?}");
    assert_eq!(rows["alice"]["score"], "10");
    assert_eq!(rows["bob"]["status"], "incomplete", "{rows:#?}");
    assert!(!rows.contains_key("carol"), "carol was not graded yet");
    world.check_no_leftovers("the interrupted batch");
    world.check_staging_removed();

    // --resume: alice is kept as she is, bob is graded again (his tests time out), then carol.
    let mut resumed = args("3");
    resumed.push("--resume".into());
    let resumed: Vec<&str> = resumed.iter().map(String::as_str).collect();
    let run = world.lab(&resumed);
    assert!(run.status.success(), "{}", run.stderr);
    assert!(run.stderr.contains("resuming"), "{}", run.stderr);
    assert!(
        !run.stderr
            .lines()
            .any(|l| l.starts_with('(') && l.contains(") alice")),
        "alice was graded again:\n{}",
        run.stderr
    );
    let rows = read_gradebook(&gradebook);
    let students: Vec<&String> = rows.keys().collect();
    assert_eq!(students, ["alice", "bob", "carol"], "one row each");
    assert_eq!(rows["bob"]["status"], "graded");
    assert_eq!(rows["bob"]["ex01_status"], "timed_out");
    assert_eq!(rows["carol"]["score"], "10");
    world.check_no_leftovers("the resumed batch");

    // SIGINT while one submission is graded: its report is written, marked incomplete.
    let report = world.out.join("bob.json");
    let mut running = world.spawn(&[
        "grade".to_string(),
        "--submission".into(),
        world.class.join("bob").to_str().unwrap().into(),
        "--only".into(),
        "ex01".into(),
        "--timeout-per-exercise".into(),
        "120".into(),
        "--format".into(),
        "json".into(),
        "--out".into(),
        report.to_str().unwrap().into(),
    ]);
    let _lines = stderr_lines(&mut running);
    let deadline = Instant::now() + Duration::from_secs(300);
    while world.leftovers().is_empty() {
        assert!(Instant::now() < deadline, "bob's tests never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    signal(running.id(), "INT");
    let status = wait_with_deadline(&mut running, Duration::from_secs(30));
    assert_eq!(status.code(), Some(130), "SIGINT gives 130");
    let report = read_json(&report);
    check_json_schema(&report);
    assert_eq!(report["complete"], false, "{report:#}");
    assert_eq!(report["score"].as_f64(), Some(0.0));
    world.check_no_leftovers("the interrupted submission");
    world.check_staging_removed();
}

/// One hostile submission: exercise 1's skeleton with `attack` called first in every function.
struct Attack {
    name: &'static str,
    source: String,
    build_timeout: u64,
    /// What its report (and its run) must show besides zero points.
    check: fn(&Value, &Run),
}

/// The attacks, one submission per class (two for leaks: one that cannot compile, one that
/// reads at run time; two for exhaustion: the test run and the build).
fn attacks(world: &World) -> Vec<Attack> {
    let kit = kit_root();
    let solution = kit.join("solutions/ex01-raw-send-recv/src/lib.rs");
    let marker = &world.marker;
    let base_file = world.base_file().display().to_string();
    let mut tamper_targets: Vec<String> = vec![
        kit.join("exercises/ex02-line-streams/tests/graded.rs")
            .display()
            .to_string(),
        kit.join(EX01).join("tests/graded.rs").display().to_string(),
        kit.join(EX01).join("Cargo.toml").display().to_string(),
        kit.join("Cargo.toml").display().to_string(),
        kit.join("Cargo.lock").display().to_string(),
        kit.join("grading.toml").display().to_string(),
        kit.join("lab-harness/src/lib.rs").display().to_string(),
        solution.display().to_string(),
        world
            .class
            .join("alice")
            .join(EX01)
            .join("src/lib.rs")
            .display()
            .to_string(),
        world.out.join("tamperer.json").display().to_string(),
        world.out.join("gradebook.csv").display().to_string(),
        base_file,
    ];
    tamper_targets.extend(registry_file().map(|f| f.display().to_string()));
    tamper_targets.extend(
        [
            "/netlab/kit/exercises/ex02-line-streams/tests/graded.rs",
            "/netlab/kit/exercises/ex01-raw-send-recv/tests/graded.rs",
            "/netlab/kit/exercises/ex01-raw-send-recv/Cargo.toml",
            "/netlab/kit/Cargo.toml",
            "/netlab/kit/Cargo.lock",
            "/netlab/kit/grading.toml",
            "/netlab/kit/lab-harness/src/lib.rs",
            "../ex02-line-streams/tests/graded.rs",
            "tests/graded.rs",
        ]
        .map(String::from),
    );
    vec![
        Attack {
            name: "forger",
            source: with_attack(FORGER),
            build_timeout: BUILD_TIMEOUT,
            check: |report, _| {
                for test in tests_of(report) {
                    assert_ne!(test["status"], "passed", "{test}");
                }
            },
        },
        Attack {
            name: "tamperer",
            source: with_attack(&TAMPERER.replace("TARGETS", &rust_strings(&tamper_targets))),
            build_timeout: BUILD_TIMEOUT,
            check: |report, _| {
                let text = report.to_string();
                // The attack reports what each try did: no write or removal ever worked.
                assert!(
                    text.contains("tampering:"),
                    "the attack did not run: {report:#}"
                );
                assert!(
                    !text.contains("WRITTEN") && !text.contains("REMOVED"),
                    "{report:#}"
                );
            },
        },
        Attack {
            name: "compile-time-thief",
            source: with_attack(
                &COMPILE_TIME_THIEF
                    .replace("SOLUTION", &solution.display().to_string())
                    .replace("CANARY_FILE", &world.canary_file.display().to_string()),
            ),
            build_timeout: BUILD_TIMEOUT,
            check: |report, _| {
                let ex01 = &report["exercises"][0];
                assert_eq!(ex01["status"], "did_not_compile", "{report:#}");
                assert!(
                    ex01["message"].as_str().unwrap().contains("couldn't read"),
                    "{report:#}"
                );
            },
        },
        Attack {
            name: "run-time-thief",
            source: with_attack(
                &RUN_TIME_THIEF
                    .replace("SOLUTION", &solution.display().to_string())
                    .replace("CANARY_FILE", &world.canary_file.display().to_string())
                    .replace("KIT", &kit.display().to_string()),
            ),
            build_timeout: BUILD_TIMEOUT,
            check: |report, _| {
                let text = report.to_string();
                assert!(text.contains("seen:"), "the attack did not run: {report:#}");
                // What it could see is the sandbox's: its fixed environment and paths.
                assert!(text.contains("HOME=/netlab/home"), "{report:#}");
                assert!(text.contains("/netlab/kit/exercises/ex01"), "{report:#}");
                // The sandbox's limits hold for the processes it starts: 4 GiB of address
                // space, in KiB.
                assert!(text.contains("limits 4194304"), "{report:#}");
                // No user namespace can be made inside (no way to gain the right to mount),
                // and the memory-backed folders are capped (64 MiB for /dev/shm).
                assert!(text.contains("userns-refused"), "{report:#}");
                assert!(text.contains("shm-capped"), "{report:#}");
                assert!(text.contains("dev-read-only"), "{report:#}");
            },
        },
        Attack {
            name: "squatter",
            source: with_attack(&SQUATTER.replace("MARKER", &format!("{marker}-squatter"))),
            build_timeout: BUILD_TIMEOUT,
            // The squatters did start (so "none left" means something): fifty `sh` and
            // their fifty `sleep`s at least.
            check: |_, run| {
                assert!(
                    run.marked_peak >= 100,
                    "squatter: only {} of its processes were seen running",
                    run.marked_peak
                );
            },
        },
        Attack {
            name: "flooder",
            source: with_attack(&FLOODER.replace("MARKER", &format!("{marker}-flooder"))),
            build_timeout: BUILD_TIMEOUT,
            check: |report, run| {
                let text = report.to_string();
                assert!(text.contains("printed more than"), "{report:#}");
                assert!(text.contains("timed_out"), "{report:#}");
                // The fork loop ran: its three hundred `sleep`s were seen.
                assert!(
                    run.marked_peak >= 300,
                    "flooder: only {} of its processes were seen running",
                    run.marked_peak
                );
            },
        },
        Attack {
            name: "endless-constant",
            source: with_attack(ENDLESS_CONSTANT),
            build_timeout: ENDLESS_BUILD_TIMEOUT,
            check: |report, _| {
                let ex01 = &report["exercises"][0];
                assert_eq!(ex01["status"], "did_not_compile", "{report:#}");
                assert!(
                    ex01["message"]
                        .as_str()
                        .unwrap()
                        .contains("--build-timeout"),
                    "{report:#}"
                );
            },
        },
    ]
}

/// Prints what libtest prints for a passing run, writes the verdict log it can find, then
/// leaves in a different way in each function: `exit(0)` from the test thread and from
/// another thread, a kill of its own process, an abort, or a plain return.
const FORGER: &str = r#"
fn attack(function: &str) {
    use std::io::Write;
    let args: Vec<String> = std::env::args().collect();
    let names: Vec<&String> = args
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with('-') && !a.starts_with('/') && a.as_str() != "1")
        .collect();
    let mut lines = String::from("\nrunning 1 test\n");
    let mut log = String::new();
    for name in &names {
        lines.push_str(&format!("test {name} ... ok\n"));
        log.push_str(&format!("ok {name}\n"));
    }
    lines.push_str("\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n");
    print!("{lines}");
    eprint!("{lines}");
    let _ = std::io::stdout().write_all(lines.as_bytes());
    let _ = std::io::stdout().flush();
    if let Some(at) = args.iter().position(|a| a == "--logfile") {
        let _ = std::fs::write(&args[at + 1], &log);
    }
    let me = std::process::id().to_string();
    match function {
        "connect" => std::process::exit(0),
        "send_all" => {
            let _ = std::thread::spawn(|| std::process::exit(0)).join();
        }
        "receive_some" => {
            let _ = std::process::Command::new("kill").args(["-9", &me]).status();
        }
        "receive_exactly" => {
            let _ = std::process::Command::new("kill").args(["-TERM", &me]).status();
            std::thread::sleep(std::time::Duration::from_secs(2));
        }
        "receive_until_closed" => std::process::abort(),
        _ => {}
    }
}
"#;

/// Tries to write and then remove every file that decides a grade or belongs to someone
/// else, by its real path and by the sandbox's, and to delete the whole kit and build.
const TAMPERER: &str = r#"
fn attack(_function: &str) {
    let mut tried = Vec::new();
    let targets: &[&str] = &TARGETS;
    for (index, path) in targets.iter().enumerate() {
        let wrote = match std::fs::write(path, "tampered") {
            Ok(()) => "WRITTEN".to_string(),
            Err(error) => format!("{:?}", error.kind()),
        };
        let removed = match std::fs::remove_file(path) {
            Ok(()) => "REMOVED".to_string(),
            Err(error) => format!("{:?}", error.kind()),
        };
        tried.push(format!("{index}: {wrote}/{removed}"));
    }
    for dir in ["/netlab/kit", "/netlab/target", "/netlab/verdict"] {
        if std::fs::remove_dir_all(dir).is_ok() {
            tried.push("REMOVED a folder".to_string());
        }
    }
    let test_binary = std::env::args().next().unwrap_or_default();
    if std::fs::write(&test_binary, "tampered").is_ok() {
        tried.push("WRITTEN its own test binary".to_string());
    }
    panic!("tampering: {tried:?}");
}
"#;

/// Reads the reference solution and a secret file of the grading machine at compile time.
const COMPILE_TIME_THIEF: &str = r#"
const STOLEN: &str = include_str!("SOLUTION");
const SECRET: &str = include_str!("CANARY_FILE");
#[path = "SOLUTION"]
mod solution;
fn attack(_function: &str) {
    panic!("{STOLEN}{SECRET}");
}
"#;

/// Looks for everything of the grading machine it can find at run time (and what the build
/// saw), and shows it in its failure message, which ends up in the report.
const RUN_TIME_THIEF: &str = r#"
fn attack(_function: &str) {
    let mut seen = Vec::new();
    let vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
    seen.push(format!("env {vars:?}"));
    seen.push(format!(
        "build env {:?} {:?} {:?} {:?} {:?} {:?}",
        option_env!("NETLAB_CANARY"),
        option_env!("HOME"),
        option_env!("PWD"),
        option_env!("USER"),
        option_env!("CARGO_HOME"),
        option_env!("OUT_DIR"),
    ));
    seen.push(format!("manifest {}", env!("CARGO_MANIFEST_DIR")));
    let files = ["CANARY_FILE", "SOLUTION", "KIT/Cargo.toml", "/proc/self/environ", "/proc/1/cmdline", "/etc/shadow"];
    for (index, path) in files.iter().enumerate() {
        let text = std::fs::read_to_string(path).map(|t| t.chars().take(100).collect::<String>());
        seen.push(format!("file{index} {text:?}"));
    }
    let list = |dir: &str| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default()
    };
    seen.push(format!("root {:?} netlab {:?}", list("/"), list("/netlab")));
    seen.push(format!("cwd {:?} exe {:?}", std::env::current_dir(), std::env::current_exe()));
    let shell = std::process::Command::new("sh")
        .args(["-c", "id; hostname; echo limits $(ulimit -v); cat /proc/1/environ; ls /home; \
                 unshare -U true 2>/dev/null && echo userns-made || echo userns-refused; \
                 head -c 100000000 /dev/zero > /dev/shm/fill 2>/dev/null && echo shm-filled \
                 || echo shm-capped; touch /dev/fill 2>/dev/null && echo dev-written \
                 || echo dev-read-only"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    seen.push(format!("shell {shell:?}"));
    panic!("seen: {}", seen.join(" | "));
}
"#;

/// Starts processes meant to outlive grading: in a new session, double-forked, with no
/// standard streams, and fifty more.
const SQUATTER: &str = r#"
fn attack(function: &str) {
    use std::process::{Command, Stdio};
    let sleeper = |tag: &str| format!("sleep 1000; : MARKER-{tag}");
    // Every process started here, and each `sleep` those start, carries the marker in its
    // environment, where the test looks for leftovers.
    let marked = |program: &str| {
        let mut command = Command::new(program);
        command.env("NETLAB_ATTACK", "MARKER");
        command
    };
    let _ = marked("setsid")
        .args(["sh", "-c", &sleeper("setsid")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let _ = marked("sh")
        .args(["-c", &format!("(sh -c '{}' &) &", sleeper("double"))])
        .status();
    let _ = marked("sh")
        .args(["-c", &sleeper("quiet")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    if function == "connect" {
        for _ in 0..50 {
            let _ = marked("sh").args(["-c", &sleeper("many")]).spawn();
        }
        // Stays until the grader's time limit, so the test sees the squatters running.
        loop {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}
"#;

/// A gigabyte on stdout with newlines, one without, one of result-looking lines; a test that
/// never ends; a loop that starts three hundred processes; 64 GiB of memory.
const FLOODER: &str = r#"
fn attack(function: &str) {
    use std::io::Write;
    let gib: usize = 1 << 30;
    let mut out = std::io::stdout().lock();
    let mut flood = |piece: &[u8]| {
        let mut sent = 0;
        while sent < gib {
            if out.write_all(piece).is_err() {
                break;
            }
            sent += piece.len();
        }
    };
    match function {
        "connect" => flood(format!("{}\n", "x".repeat(1023)).as_bytes()),
        "send_all" => flood(&[b'y'; 1 << 16]),
        "receive_some" => flood(b"test forged ... ok\n"),
        "receive_exactly" => loop {
            std::hint::black_box(0);
        },
        "receive_until_closed" => {
            let _ = std::process::Command::new("sh")
                .args(["-c", "i=0; while [ $i -lt 300 ]; do sleep 1000 & i=$((i+1)); done; wait; : MARKER-forks"])
                .env("NETLAB_ATTACK", "MARKER")
                .status();
        }
        _ => {
            // Zeroed pages cost nothing until touched: only the address-space limit refuses
            // this, so no machine is hurt if that limit were missing.
            let hog = vec![0u8; 64 << 30];
            std::hint::black_box(&hog);
        }
    }
}
"#;

/// A constant whose evaluation never ends (the compiler's warning about it allowed).
const ENDLESS_CONSTANT: &str = r#"
#[allow(long_running_const_eval)]
const FOREVER: u64 = {
    let mut i: u64 = 0;
    loop {
        i = i.wrapping_add(1);
        if i == u64::MAX {
            break i;
        }
    }
};
fn attack(_function: &str) {
    std::hint::black_box(FOREVER);
}
"#;

/// Exercise 1's skeleton with `attack("NAME")` as the first line of every public function,
/// and `attack_code` after it.
fn with_attack(attack_code: &str) -> String {
    let skeleton = fs::read_to_string(kit_root().join(EX01).join("src/lib.rs")).unwrap();
    let mut out = String::new();
    for line in skeleton.lines() {
        out.push_str(line);
        out.push('\n');
        if let Some(rest) = line.strip_prefix("pub fn ")
            && line.ends_with('{')
        {
            let name = rest.split('(').next().unwrap();
            out.push_str(&format!("    attack(\"{name}\");\n"));
        }
    }
    assert!(
        out.contains("attack(\"connect\")"),
        "the skeleton changed shape"
    );
    out.push_str(attack_code);
    out
}

fn rust_strings(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

fn tests_of(report: &Value) -> Vec<Value> {
    report["exercises"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["tests"].as_array().unwrap().clone())
        .collect()
}

/// Everything one test's runs share: a class folder, an output folder, a private temporary
/// folder for the grader, secrets it must not leak, a marker for the attackers' processes.
struct World {
    class: PathBuf,
    out: PathBuf,
    /// The grader's `TMPDIR`: its staging folders go there, and must be gone afterwards.
    tmp: PathBuf,
    /// A file of the grading machine with a secret in it, and the secret.
    canary_file: PathBuf,
    canary_text: String,
    /// The value of an environment variable of the grader.
    canary_env: String,
    /// In the command line of every process an attack starts.
    marker: String,
}

/// One run of the grader.
struct Run {
    status: ExitStatus,
    stderr: String,
    report_text: String,
    /// The grader's peak resident memory.
    peak_kb: u64,
    /// The most processes carrying the marker seen at once while it ran.
    marked_peak: usize,
    elapsed: Duration,
}

impl Run {
    fn report(&self) -> Value {
        serde_json::from_str(&self.report_text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.report_text, self.stderr))
    }
}

impl World {
    fn new(dir: &Path) -> World {
        let unique = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let world = World {
            class: dir.join("class"),
            out: dir.join("out"),
            tmp: dir.join("tmp"),
            canary_file: dir.join("secret.txt"),
            canary_text: format!("the grader's secret {unique}"),
            canary_env: format!("canary-value-{unique}"),
            marker: format!("netlab-attack-{unique}"),
        };
        for folder in [&world.class, &world.out, &world.tmp] {
            fs::create_dir_all(folder).unwrap();
        }
        fs::write(&world.canary_file, &world.canary_text).unwrap();
        world
    }

    fn command(&self, args: &[impl AsRef<std::ffi::OsStr>]) -> Command {
        let mut command = Command::new(cargo_bin("lab"));
        command
            .args(args)
            .current_dir(kit_root())
            .env("CARGO_TARGET_DIR", nested_target())
            .env("TMPDIR", &self.tmp)
            .env("NETLAB_CANARY", &self.canary_env)
            .stdin(Stdio::null());
        command
    }

    fn spawn(&self, args: &[String]) -> Child {
        self.command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting lab")
    }

    /// Runs the grader to its end, watching its memory.
    fn lab(&self, args: &[&str]) -> Run {
        self.lab_with(args, &mut || {})
    }

    /// [`World::lab`], calling `look` every 100 ms while the grader runs.
    fn lab_with(&self, args: &[&str], look: &mut dyn FnMut()) -> Run {
        let started = Instant::now();
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting lab");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let out = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
        let err = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
        let mut peak_kb = 0;
        let mut marked_peak = 0;
        let mut rounds = 0u64;
        let status = loop {
            peak_kb = peak_kb.max(peak_memory_kb(child.id()));
            // Reading every process's environment costs a few milliseconds: every 100 ms.
            if rounds % 5 == 0 {
                marked_peak = marked_peak.max(self.leftovers().len());
                look();
            }
            rounds += 1;
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(900),
                "the grader did not finish"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Run {
            status,
            report_text: out.join().unwrap(),
            stderr: err.join().unwrap(),
            peak_kb,
            marked_peak,
            elapsed: started.elapsed(),
        }
    }

    fn grade_submission(&self, submission: &Path, name: &str, build_timeout: u64) -> Run {
        self.grade_submission_as(submission, name, build_timeout, "json")
    }

    /// [`World::grade_submission`] with its report in `format`.
    fn grade_submission_as(
        &self,
        submission: &Path,
        name: &str,
        build_timeout: u64,
        format: &str,
    ) -> Run {
        let report = self.out.join(format!("{name}.{format}"));
        let run = self.lab(&[
            "grade",
            "--submission",
            submission.to_str().unwrap(),
            "--only",
            "ex01",
            "--timeout-per-exercise",
            &TIMEOUT_PER_EXERCISE.to_string(),
            "--build-timeout",
            &build_timeout.to_string(),
            "--format",
            format,
            "--out",
            report.to_str().unwrap(),
        ]);
        assert!(
            run.status.success(),
            "grading {name} failed:\n{}",
            run.stderr
        );
        Run {
            report_text: fs::read_to_string(&report).unwrap(),
            ..run
        }
    }

    /// A file of the dependencies' build every submission starts from.
    fn base_file(&self) -> PathBuf {
        let deps = nested_target().join("grade-base/target/debug/deps");
        fs::read_dir(&deps)
            .unwrap_or_else(|e| panic!("{}: {e}", deps.display()))
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().contains("liblab_harness"))
            .expect("the base holds lab-harness")
    }

    /// Size and time of every file an attack must not change: the kit's code, tests and
    /// manifests, the other students' files, the dependencies' build.
    fn snapshot(&self) -> BTreeMap<PathBuf, FileState> {
        let mut files = BTreeMap::new();
        let kit = kit_root();
        let mut roots: Vec<PathBuf> = [
            "exercises",
            "solutions",
            "lab-harness",
            "Cargo.toml",
            "Cargo.lock",
            "grading.toml",
        ]
        .iter()
        .map(|p| kit.join(p))
        .collect();
        roots.push(self.class.join("alice"));
        roots.push(nested_target().join("grade-base/target"));
        roots.extend(registry_file());
        for root in roots {
            walk(&root, &mut files);
        }
        files
    }

    /// The report holds nothing of the grading machine: no secret, no environment value, no
    /// path of its own.
    fn check_nothing_learned(&self, what: &str, text: &str) {
        let kit = kit_root().display().to_string();
        let home = std::env::var("HOME").unwrap_or_default();
        let forbidden = [
            ("the secret file's content", self.canary_text.as_str()),
            (
                "an environment value of the grader",
                self.canary_env.as_str(),
            ),
            (
                "the solution's code",
                "fn receive_until_closed(stream: &mut TcpStream) -> io::Result<Vec<u8>> {\n    let mut",
            ),
            ("the grader's temporary folder", self.tmp.to_str().unwrap()),
        ];
        for (name, value) in forbidden {
            assert!(
                !text.contains(value),
                "{what}: the report shows {name}:\n{text}"
            );
        }
        // Paths of the machine, other than those an attacker wrote into its own source.
        // (The compile-time thief wrote the kit's path into its own source, and the compiler
        // quotes it back; it learned nothing by it.)
        if what != "compile-time-thief" {
            for (name, value) in [("the kit's path", kit.as_str()), ("HOME", home.as_str())] {
                assert!(
                    value.len() < 2 || !text.contains(value),
                    "{what}: the report shows {name}:\n{text}"
                );
            }
        }
    }

    fn check_bounds(&self, attack: &Attack, run: &Run) {
        assert!(
            run.peak_kb < MEMORY_LIMIT_KB,
            "{}: the grader reached {} KiB",
            attack.name,
            run.peak_kb
        );
        // The build limit bounds building and the review together: a build that never ends
        // once cost it twice (clippy compiled the endless constant again).
        let bound = Duration::from_secs(attack.build_timeout + TIMEOUT_PER_EXERCISE + 20);
        assert!(
            run.elapsed < bound,
            "{}: grading took {:?}",
            attack.name,
            run.elapsed
        );
    }

    /// Processes whose command line or environment holds the marker (the attackers put it
    /// in the environment of what they start, so every descendant carries it).
    fn leftovers(&self) -> Vec<String> {
        self.leftovers_of(&self.marker)
    }

    /// Processes whose command line or environment holds `marker` (one attack's marker is
    /// the world's followed by the attack's name).
    fn leftovers_of(&self, marker: &str) -> Vec<String> {
        let mut found = Vec::new();
        for entry in fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
            let Ok(line) = fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let line = String::from_utf8_lossy(&line).replace('\0', " ");
            let environment = fs::read(entry.path().join("environ")).unwrap_or_default();
            if line.contains(marker) || String::from_utf8_lossy(&environment).contains(marker) {
                found.push(format!("{}: {line}", entry.file_name().to_string_lossy()));
            }
        }
        found
    }

    fn check_no_leftovers(&self, what: &str) {
        let left = self.leftovers();
        assert!(left.is_empty(), "{what} left processes running: {left:#?}");
    }

    fn check_staging_removed(&self) {
        let left: Vec<_> = fs::read_dir(&self.tmp)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "staging left behind: {left:?}");
    }
}

/// What is kept of a file to see whether it changed: size, modification time, and (for
/// files under 1 MiB: sources, manifests, reports) a hash of the content, since whoever can
/// write a file can also set its time back.
type FileState = (u64, SystemTime, Option<u64>);

fn walk(path: &Path, files: &mut BTreeMap<PathBuf, FileState>) {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return;
    };
    if meta.is_dir() {
        if path.file_name().is_some_and(|n| n == "target") && !path.ends_with("grade-base/target") {
            return;
        }
        for entry in fs::read_dir(path).unwrap().filter_map(Result::ok) {
            walk(&entry.path(), files);
        }
    } else {
        let content = (meta.len() < 1 << 20).then(|| {
            let mut hasher = std::hash::DefaultHasher::new();
            std::hash::Hash::hash(&fs::read(path).unwrap_or_default(), &mut hasher);
            std::hash::Hasher::finish(&hasher)
        });
        files.insert(
            path.to_path_buf(),
            (meta.len(), meta.modified().unwrap(), content),
        );
    }
}

/// A source file of a crate in cargo's shared download cache (rstest's), which every build
/// on this machine compiles.
fn registry_file() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))?;
    fs::read_dir(home.join("registry/src"))
        .ok()?
        .filter_map(Result::ok)
        .flat_map(|index| fs::read_dir(index.path()).into_iter().flatten())
        .filter_map(Result::ok)
        .find(|krate| krate.file_name().to_string_lossy().starts_with("rstest-0"))
        .map(|krate| krate.path().join("src/lib.rs"))
        .filter(|file| file.is_file())
}

/// The peak resident memory of a running process (`VmHWM`), 0 once it is gone.
fn peak_memory_kb(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// The gradebook's rows by student, each a map of column → value.
fn read_gradebook(path: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut reader = csv_reader(path);
    let header = reader.next().expect("a header");
    let mut rows = BTreeMap::new();
    for fields in reader {
        let row: BTreeMap<String, String> = header.iter().cloned().zip(fields).collect();
        let student = row["student"].clone();
        assert!(
            rows.insert(student.clone(), row).is_none(),
            "two rows for {student}"
        );
    }
    rows
}

fn read_gradebook_if_any(path: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    if fs::read_to_string(path).is_ok_and(|t| t.contains("\r\n") && t.lines().count() > 1) {
        read_gradebook(path)
    } else {
        BTreeMap::new()
    }
}

/// The CSV's records (its fields hold no line breaks here).
fn csv_reader(path: &Path) -> impl Iterator<Item = Vec<String>> {
    let text = fs::read_to_string(path).unwrap();
    let records: Vec<Vec<String>> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(split_csv)
        .collect();
    records.into_iter()
}

fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_with_deadline(child: &mut Child, limit: Duration) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("the grader did not stop within {limit:?} of the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
