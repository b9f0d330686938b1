//! Building every graded test binary in one cargo run, and reading what cargo says about it.
//!
//! One `cargo build --keep-going --test …` for all exercises, so that they compile in
//! parallel and one that does not compile (or never stops compiling) costs only its own
//! tests. Cargo's JSON messages (`--message-format json-diagnostic-short`) say which test
//! binary each package got and which compiler errors belong to which package: no guessing
//! from interleaved text.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::place::Place;
use crate::process::{Ending, Watched};

/// What one build gave.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Build {
    /// package → test target → the test binary (its path as cargo printed it).
    pub executables: BTreeMap<String, BTreeMap<String, String>>,
    /// package → its compiler errors (short form: `path:line:col: error[E…]: …`), in order.
    pub errors: BTreeMap<String, Vec<String>>,
    /// Why the build as a whole failed, when it is not one package's compiler error: cargo's
    /// own complaint, or the time limit.
    pub failure: Option<String>,
}

impl Build {
    /// The test binary of `package`'s `target`.
    pub fn executable(&self, package: &str, target: &str) -> Option<&str> {
        self.executables
            .get(package)?
            .get(target)
            .map(String::as_str)
    }

    /// Why `package` has no test binary for `target`: its first compiler error (with how many
    /// more), or the build's failure.
    pub fn why_not_built(&self, package: &str, target: &str) -> String {
        if let Some(errors) = self.errors.get(package).filter(|e| !e.is_empty()) {
            let mut message = shorten(&errors[0], 400);
            if errors.len() > 1 {
                let more = errors.len() - 1;
                message.push_str(&format!(
                    " (and {more} more error{})",
                    if more == 1 { "" } else { "s" }
                ));
            }
            return message;
        }
        self.failure
            .clone()
            .unwrap_or_else(|| format!("cargo built no test binary `{target}` for {package}"))
    }
}

/// The cargo arguments that build `targets` of `packages`.
pub fn arguments(packages: &[&str], targets: &[String]) -> Vec<String> {
    let mut args: Vec<String> = [
        "build",
        "--keep-going",
        "--message-format",
        "json-diagnostic-short",
    ]
    .map(String::from)
    .to_vec();
    for package in packages {
        args.extend(["-p".to_string(), package.to_string()]);
    }
    for target in targets {
        args.extend(["--test".to_string(), target.clone()]);
    }
    args
}

/// Builds the `targets` (test file names) of `packages` at `place`.
pub fn build(
    place: &Place,
    packages: &[&str],
    targets: &[String],
    limit: Duration,
) -> std::io::Result<Build> {
    let run = place.cargo(&arguments(packages, targets), limit)?;
    Ok(read(&run, limit))
}

/// What a finished cargo run says.
pub fn read(run: &Watched, limit: Duration) -> Build {
    let mut build = parse_messages(&run.stdout);
    match &run.ending {
        Ending::Exited(status) if status.success() => {}
        Ending::Exited(_) => {
            if build.errors.values().all(Vec::is_empty) {
                build.failure = Some(cargo_complaint(&run.stderr));
            }
        }
        Ending::TimedOut => {
            build.failure = Some(format!(
                "the build did not finish within {} s (--build-timeout), so it was stopped: \
                 does a constant or a macro take forever to evaluate?",
                limit.as_secs()
            ));
        }
        Ending::Flooded(bytes) => {
            build.failure = Some(format!(
                "the build printed more than {} MiB, so it was stopped",
                bytes >> 20
            ));
        }
        Ending::Stopped(reason) => build.failure = Some(reason.clone()),
        Ending::Interrupted => build.failure = Some("grading was interrupted".into()),
    }
    build
}

/// Reads cargo's JSON messages, one per line; other lines are ignored.
pub fn parse_messages(stdout: &str) -> Build {
    let mut build = Build::default();
    for line in stdout.lines().filter(|l| l.starts_with('{')) {
        let Ok(message) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(package) = message["package_id"].as_str().and_then(package_name) else {
            continue;
        };
        match message["reason"].as_str() {
            Some("compiler-artifact") => {
                let kinds = &message["target"]["kind"];
                let is_test = kinds
                    .as_array()
                    .is_some_and(|k| k.len() == 1 && k[0] == "test");
                if let (true, Some(target), Some(executable)) = (
                    is_test,
                    message["target"]["name"].as_str(),
                    message["executable"].as_str(),
                ) {
                    build
                        .executables
                        .entry(package)
                        .or_default()
                        .insert(target.to_string(), executable.to_string());
                }
            }
            Some("compiler-message") if message["message"]["level"] == "error" => {
                let text = message["message"]["rendered"]
                    .as_str()
                    .or(message["message"]["message"].as_str())
                    .unwrap_or("error")
                    .trim();
                if !text.starts_with("error: aborting due to") {
                    build
                        .errors
                        .entry(package)
                        .or_default()
                        .push(text.to_string());
                }
            }
            _ => {}
        }
    }
    build
}

/// Runs the kit's lints (clippy, with the workspace's `[lints]`: `unused_io_amount` is
/// denied) on the libraries and programs of `packages`, and returns, per package, what they
/// say about the student's own files (`exercises/…`), errors only: a review, not a style
/// guide. Empty when clippy is not installed.
pub fn review(place: &Place, packages: &[&str], limit: Duration) -> std::io::Result<Review> {
    let mut args: Vec<String> = [
        "clippy",
        "--keep-going",
        "--message-format",
        "json-diagnostic-short",
        "--lib",
        "--bins",
    ]
    .map(String::from)
    .to_vec();
    for package in packages {
        args.extend(["-p".to_string(), package.to_string()]);
    }
    let run = place.cargo(&args, limit)?;
    let missing = !run.success() && run.stderr.contains("no such command");
    Ok(Review {
        comments: review_messages(&run.stdout),
        note: missing.then(|| {
            "no review of the code: clippy is not installed (rustup component add clippy)"
                .to_string()
        }),
    })
}

/// What the kit's lints said about the student's code.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Review {
    /// package → comments.
    pub comments: BTreeMap<String, Vec<String>>,
    /// Why there is no review, when there is none.
    pub note: Option<String>,
}

/// The clippy errors in cargo's JSON messages whose place is a student's file.
pub fn review_messages(stdout: &str) -> BTreeMap<String, Vec<String>> {
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in stdout.lines().filter(|l| l.starts_with('{')) {
        let Ok(message) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-message" || message["message"]["level"] != "error" {
            continue;
        }
        let code = message["message"]["code"]["code"].as_str().unwrap_or("");
        let in_student_file = message["message"]["spans"].as_array().is_some_and(|spans| {
            spans.iter().any(|s| {
                s["is_primary"] == true
                    && s["file_name"]
                        .as_str()
                        .is_some_and(|f| f.starts_with("exercises/"))
            })
        });
        let Some(package) = message["package_id"].as_str().and_then(package_name) else {
            continue;
        };
        if !code.starts_with("clippy::") || !in_student_file {
            continue;
        }
        let text = message["message"]["rendered"]
            .as_str()
            .unwrap_or("")
            .trim()
            .to_string();
        let comments = found.entry(package).or_default();
        if !comments.contains(&text) {
            comments.push(text);
        }
    }
    found
}

/// The package name in a cargo package id: `path+file:///k/exercises/ex01-raw#ex01@0.1.0`
/// (or `…/ex01#0.1.0`, when the folder has the package's name) → `ex01`.
pub fn package_name(id: &str) -> Option<String> {
    let (url, fragment) = id.rsplit_once('#')?;
    match fragment.split_once('@') {
        Some((name, _)) => Some(name.to_string()),
        None => Some(url.rsplit('/').next()?.to_string()),
    }
}

/// The first line of cargo's own error, for a build that failed before compiling anything.
fn cargo_complaint(stderr: &str) -> String {
    let line = stderr
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("error"))
        .or_else(|| stderr.lines().map(str::trim).rfind(|l| !l.is_empty()))
        .unwrap_or("cargo build failed");
    shorten(line, 400)
}

/// `text` cut to at most `max` bytes on a character boundary, marked when cut.
pub fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… (cut)", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_ids_give_names() {
        assert_eq!(
            package_name("path+file:///netlab/kit/exercises/ex01-raw#ex01@0.1.0").as_deref(),
            Some("ex01")
        );
        assert_eq!(
            package_name("path+file:///k/lab-harness#0.1.0").as_deref(),
            Some("lab-harness")
        );
        assert_eq!(package_name("no fragment"), None);
    }

    #[test]
    fn artifacts_and_errors_are_sorted_by_package() {
        let stdout = r#"
{"reason":"compiler-artifact","package_id":"path+file:///k/exercises/ex01-a#ex01@0.1.0","target":{"kind":["lib"],"name":"ex01"},"executable":null}
{"reason":"compiler-artifact","package_id":"path+file:///k/exercises/ex01-a#ex01@0.1.0","target":{"kind":["test"],"name":"graded"},"executable":"/netlab/target/debug/deps/graded-1"}
{"reason":"compiler-message","package_id":"path+file:///k/exercises/ex02-b#ex02@0.1.0","message":{"level":"warning","rendered":"src/lib.rs:1:1: warning: unused"}}
{"reason":"compiler-message","package_id":"path+file:///k/exercises/ex02-b#ex02@0.1.0","message":{"level":"error","rendered":"exercises/ex02-b/src/lib.rs:3:5: error[E0425]: cannot find value `x`\n"}}
{"reason":"compiler-message","package_id":"path+file:///k/exercises/ex02-b#ex02@0.1.0","message":{"level":"error","rendered":"exercises/ex02-b/src/lib.rs:4:5: error: second"}}
{"reason":"compiler-message","package_id":"path+file:///k/exercises/ex02-b#ex02@0.1.0","message":{"level":"error","rendered":"error: aborting due to 2 previous errors"}}
test ... ok, a line that is not JSON
{"reason":"build-finished","success":false}
"#;
        let build = parse_messages(stdout);
        assert_eq!(
            build.executable("ex01", "graded"),
            Some("/netlab/target/debug/deps/graded-1")
        );
        assert_eq!(build.executable("ex02", "graded"), None);
        assert_eq!(
            build.why_not_built("ex02", "graded"),
            "exercises/ex02-b/src/lib.rs:3:5: error[E0425]: cannot find value `x` (and 1 more \
             error)"
        );
        assert!(
            build
                .why_not_built("ex03", "graded")
                .contains("no test binary")
        );
    }

    #[test]
    fn the_review_keeps_clippy_errors_in_the_students_files() {
        let stdout = r#"
{"reason":"compiler-message","package_id":"path+file:///k/exercises/ex04-e#ex04@0.1.0","message":{"level":"error","code":{"code":"clippy::unused_io_amount"},"rendered":"exercises/ex04-e/src/lib.rs:9:5: error: written amount is not handled\n","spans":[{"is_primary":true,"file_name":"exercises/ex04-e/src/lib.rs"}]}}
{"reason":"compiler-message","package_id":"path+file:///k/exercises/ex04-e#ex04@0.1.0","message":{"level":"warning","code":{"code":"clippy::needless_return"},"rendered":"a style warning","spans":[{"is_primary":true,"file_name":"exercises/ex04-e/src/lib.rs"}]}}
{"reason":"compiler-message","package_id":"path+file:///k/lab-harness#0.1.0","message":{"level":"error","code":{"code":"clippy::unused_io_amount"},"rendered":"in the harness","spans":[{"is_primary":true,"file_name":"lab-harness/src/lib.rs"}]}}
{"reason":"compiler-message","package_id":"path+file:///k/exercises/ex04-e#ex04@0.1.0","message":{"level":"error","code":{"code":"E0308"},"rendered":"a compiler error","spans":[{"is_primary":true,"file_name":"exercises/ex04-e/src/lib.rs"}]}}
"#;
        let review = review_messages(stdout);
        assert_eq!(review.len(), 1, "{review:?}");
        assert_eq!(
            review["ex04"],
            ["exercises/ex04-e/src/lib.rs:9:5: error: written amount is not handled"]
        );
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        assert_eq!(shorten("héllo", 2), "h… (cut)");
        assert_eq!(shorten("hello", 5), "hello");
    }
}
