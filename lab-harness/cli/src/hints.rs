//! Progressive hints kept beside each exercise, in `exercises/exNN-topic/hints.toml`, for
//! `cargo lab hint` and `cargo lab watch`.
//!
//! ```toml
//! # Hints for ex01, shown one step at a time by `cargo lab hint ex01 [TEST]` and `cargo lab watch`.
//! [[hint]]
//! tests = ["connect_"]   # graded test names this hint is for, by prefix; [] = the whole exercise
//! steps = ["a nudge", "the std API to use", "the idea of the solution — never the code"]
//! ```
//!
//! A test gets the hint with the longest prefix of its name (its function name: without the
//! `graded/` of an exercise with several test files, nor rstest's `::case_…`), else the
//! whole exercise's hint. Which steps a student has seen is kept in a small file under the
//! kit's `target/`, so that asking again shows the next step.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::workspace::Exercise;

/// The file beside an exercise's `src/`.
pub const FILE_NAME: &str = "hints.toml";

/// What the steps are, in order (a fourth step and beyond are just "step N").
const STEP_NAMES: [&str; 3] = ["a nudge", "the std API", "the idea"];

/// One `[[hint]]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hint {
    /// Prefixes of the graded test names it is for; empty: the whole exercise.
    pub tests: Vec<String>,
    pub steps: Vec<String>,
}

impl Hint {
    /// The key that remembers how far a student has read this hint.
    fn key(&self, exercise: &str) -> String {
        if self.tests.is_empty() {
            format!("{exercise}:*")
        } else {
            format!("{exercise}:{}", self.tests.join(","))
        }
    }

    /// What this hint is for, in words: `connect_…` or `the whole exercise`.
    pub fn about(&self) -> String {
        if self.tests.is_empty() {
            "the whole exercise".to_string()
        } else {
            let prefixes: Vec<String> = self.tests.iter().map(|t| format!("{t}…")).collect();
            prefixes.join(", ")
        }
    }
}

/// An exercise's hints.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hints {
    #[serde(default)]
    pub hint: Vec<Hint>,
}

impl Hints {
    /// Parses the text of a `hints.toml` (errors with line and column).
    pub fn parse(text: &str) -> Result<Hints, String> {
        let hints: Hints = toml::from_str(text).map_err(|e| e.to_string().trim().to_string())?;
        for (index, hint) in hints.hint.iter().enumerate() {
            if hint.steps.is_empty() || hint.steps.iter().any(|s| s.trim().is_empty()) {
                return Err(format!(
                    "hint {} ({}) has an empty step list or an empty step",
                    index + 1,
                    hint.about()
                ));
            }
            if hint.tests.iter().any(|t| t.trim().is_empty()) {
                return Err(format!(
                    "hint {} has an empty test prefix (use `tests = []` for the whole exercise)",
                    index + 1
                ));
            }
        }
        Ok(hints)
    }

    /// The hint for the graded test `test` (as the grader names it): the longest matching
    /// prefix, else the whole exercise's hint.
    pub fn for_test(&self, test: &str) -> Option<&Hint> {
        let name = function_name(test);
        let specific = self
            .hint
            .iter()
            .filter_map(|hint| {
                let longest = hint
                    .tests
                    .iter()
                    .filter(|prefix| name.starts_with(prefix.as_str()))
                    .map(String::len)
                    .max()?;
                Some((longest, hint))
            })
            .max_by_key(|(longest, _)| *longest)
            .map(|(_, hint)| hint);
        specific.or_else(|| self.whole())
    }

    /// The whole exercise's hint (`tests = []`).
    pub fn whole(&self) -> Option<&Hint> {
        self.hint.iter().find(|h| h.tests.is_empty())
    }

    /// What is wrong with these hints for an exercise whose graded tests are `tests`
    /// (function names): each prefix that matches no test.
    pub fn problems(&self, tests: &[String]) -> Vec<String> {
        let mut problems = Vec::new();
        for hint in &self.hint {
            for prefix in &hint.tests {
                if !tests.iter().any(|t| t.starts_with(prefix.as_str())) {
                    problems.push(format!("the prefix `{prefix}` matches no graded test"));
                }
            }
        }
        problems
    }
}

/// The hints of `exercise`: an error (one line) when its `hints.toml` is missing or wrong.
pub fn load(exercise: &Exercise) -> Result<Hints, String> {
    let path = exercise.dir.join(FILE_NAME);
    let shown = format!("exercises/{}/{FILE_NAME}", exercise.folder);
    match fs::read_to_string(&path) {
        Ok(text) => Hints::parse(&text).map_err(|e| format!("{shown}: {}", one_line(&e))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(format!("{shown} is missing")),
        Err(e) => Err(format!("cannot read {shown}: {e}")),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A graded test's function name: `graded/echo::case_1_text` → `echo`.
pub fn function_name(test: &str) -> &str {
    let name = test.rsplit_once('/').map_or(test, |(_, name)| name);
    // An rstest case (`echo::case_1_text`) is its function's; a module of the graded file
    // (`client::the_client_…`, see `workspace::graded_functions`) stays in the name.
    match name.find("::case_") {
        Some(at) => &name[..at],
        None => name,
    }
}

/// The name of a hint's step: `a nudge`, `the std API`, `the idea`, `step 4`.
pub fn step_name(index: usize) -> String {
    STEP_NAMES
        .get(index)
        .map_or_else(|| format!("step {}", index + 1), |s| s.to_string())
}

/// How many steps of each hint a student has seen, kept in `target/lab/hints-seen.json`
/// under the kit's root (the build folder: `cargo clean` forgets it, git never sees it).
pub struct Seen {
    path: PathBuf,
    steps: BTreeMap<String, usize>,
}

impl Seen {
    pub fn load(root: &Path) -> Seen {
        let path = root.join("target").join("lab").join("hints-seen.json");
        // A missing or damaged file only means starting again from the first step.
        let steps = fs::read_to_string(&path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        Seen { path, steps }
    }

    /// How many steps of `hint` (of exercise `id`) were shown.
    pub fn seen(&self, id: &str, hint: &Hint) -> usize {
        self.steps.get(&hint.key(id)).copied().unwrap_or(0)
    }

    /// Shows one more step (or all): returns how many steps to show now.
    pub fn advance(&mut self, id: &str, hint: &Hint, all: bool) -> usize {
        let shown = if all {
            hint.steps.len()
        } else {
            (self.seen(id, hint) + 1).min(hint.steps.len())
        };
        self.steps.insert(hint.key(id), shown);
        shown
    }

    pub fn save(&self) -> io::Result<()> {
        if let Some(parent) = self.path.parent() {
            fs::create_dir_all(parent)?;
        }
        let text = serde_json::to_string_pretty(&self.steps).map_err(io::Error::other)?;
        fs::write(&self.path, text)
    }
}

/// `text` wrapped at `width` columns, each line after the first indented by `indent` (the
/// first line is taken to start after a label as wide as `indent`).
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let start = indent.chars().count();
    let mut column = start;
    for word in text.split_whitespace() {
        let length = word.chars().count();
        if column > start && column + 1 + length > width {
            out.push('\n');
            out.push_str(indent);
            column = indent.chars().count();
        } else if column > start {
            out.push(' ');
            column += 1;
        }
        out.push_str(word);
        column += length;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
[[hint]]
tests = []
steps = ["whole 1", "whole 2", "whole 3"]

[[hint]]
tests = ["ask_"]
steps = ["ask 1", "ask 2"]

[[hint]]
tests = ["ask_port", "chat_"]
steps = ["port 1"]
"#;

    #[test]
    fn the_longest_prefix_wins_and_the_whole_exercise_is_the_fallback() {
        let hints = Hints::parse(SAMPLE).unwrap();
        let first_step = |test: &str| hints.for_test(test).unwrap().steps[0].as_str();
        assert_eq!(first_step("ask_shows_the_prompt::case_1_linux"), "ask 1");
        assert_eq!(first_step("graded/ask_port_accepts::case_2"), "port 1");
        assert_eq!(first_step("chat_ends"), "port 1");
        assert_eq!(first_step("client/the_client_talks"), "whole 1");
        assert_eq!(hints.whole().unwrap().steps.len(), 3);
    }

    #[test]
    fn prefixes_that_match_no_test_and_bad_files_are_reported() {
        let hints = Hints::parse(SAMPLE).unwrap();
        let tests = ["ask_port_accepts".to_string(), "ask_host".to_string()];
        assert_eq!(
            hints.problems(&tests),
            ["the prefix `chat_` matches no graded test"]
        );
        let error = Hints::parse("[[hint]]\ntests = []\nstep = [\"typo\"]\n").unwrap_err();
        assert!(error.contains("unknown field `step`"), "{error}");
        let error = Hints::parse("[[hint]]\ntests = [\"a\"]\nsteps = []\n").unwrap_err();
        assert!(error.contains("empty step"), "{error}");
        let error = Hints::parse("[[hint]]\ntests = [\"\"]\nsteps = [\"x\"]\n").unwrap_err();
        assert!(error.contains("empty test prefix"), "{error}");
    }

    #[test]
    fn steps_are_shown_one_more_each_time_and_remembered() {
        let dir = crate::grade::stage::TempDir::new("hints").unwrap();
        let hints = Hints::parse(SAMPLE).unwrap();
        let whole = hints.whole().unwrap();
        let mut seen = Seen::load(dir.path());
        assert_eq!(seen.advance("ex02", whole, false), 1);
        assert_eq!(seen.advance("ex02", whole, false), 2);
        seen.save().unwrap();
        let mut seen = Seen::load(dir.path());
        assert_eq!(seen.seen("ex02", whole), 2);
        assert_eq!(seen.seen("ex01", whole), 0);
        assert_eq!(seen.advance("ex02", whole, false), 3);
        assert_eq!(
            seen.advance("ex02", whole, false),
            3,
            "stays at the last step"
        );
        assert_eq!(seen.advance("ex01", whole, true), 3);
    }

    #[test]
    fn names_and_text_are_shaped_for_the_screen() {
        assert_eq!(function_name("graded/echo::case_1_text"), "echo");
        assert_eq!(function_name("connect_works"), "connect_works");
        assert_eq!(function_name("client::quits::case_2_eof"), "client::quits");
        assert_eq!(step_name(1), "the std API");
        assert_eq!(step_name(3), "step 4");
        assert_eq!(
            wrap("one two three four", 9, "  "),
            "one two\n  three\n  four"
        );
        assert_eq!(wrap("one two three", 10, "    "), "one\n    two\n    three");
    }
}
