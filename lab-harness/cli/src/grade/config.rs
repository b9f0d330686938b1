//! `grading.toml`: how many points each exercise and each graded test is worth.
//!
//! The file is optional and small, so it is read by a reader for exactly the part of TOML it
//! uses (tables, `key = number`, comments), with a line number in every error:
//!
//! ```toml
//! [points]
//! default = 10                 # an exercise that is not listed
//! ex04 = 20                    # by id, or by folder name (ex04-echo-server)
//!
//! [weights.ex01]               # optional: a test's share of its exercise (1 if not set)
//! "echo_roundtrip_returns_the_same_bytes" = 2   # also every case of that rstest function
//! connect_reaches_a_listening_server = 0.5
//! ```
//!
//! An exercise's points are split over its graded tests in proportion to their weights.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use anyhow::{Context, bail};

use super::points::Points;
use crate::workspace::Exercise;

/// The file's name, at the kit's root.
pub const FILE_NAME: &str = "grading.toml";

/// Points of an exercise that `grading.toml` does not mention.
pub const DEFAULT_POINTS: Points = Points::from_hundredths(1000);

/// The grading rules in force.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    default_points: Points,
    /// Exercise key (id or folder) → points.
    points: BTreeMap<String, Points>,
    /// Exercise key → (test name or function prefix → weight).
    weights: BTreeMap<String, BTreeMap<String, f64>>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            default_points: DEFAULT_POINTS,
            points: BTreeMap::new(),
            weights: BTreeMap::new(),
        }
    }
}

impl Config {
    /// Reads `root/grading.toml` (the defaults if there is none) and checks that every
    /// exercise it names is one of `exercises`.
    pub fn load(root: &Path, exercises: &[Exercise]) -> anyhow::Result<Config> {
        let path = root.join(FILE_NAME);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {}", path.display()));
            }
        };
        let config = Config::parse(&text).with_context(|| format!("in {}", path.display()))?;
        config
            .check_names(exercises)
            .with_context(|| format!("in {}", path.display()))?;
        Ok(config)
    }

    /// Parses the text of a `grading.toml`.
    pub fn parse(text: &str) -> anyhow::Result<Config> {
        let mut config = Config::default();
        let mut table: Option<Table> = None;
        for (index, raw) in text.lines().enumerate() {
            let number = index + 1;
            let line = strip_comment(raw).trim();
            if line.is_empty() {
                continue;
            }
            if let Some(header) = line.strip_prefix('[') {
                let Some(header) = header.strip_suffix(']') else {
                    bail!("line {number}: a table header must end with `]`");
                };
                let parts = split_dotted(header.trim())
                    .ok_or_else(|| anyhow::anyhow!("line {number}: cannot read `[{header}]`"))?;
                table = Some(match parts.as_slice() {
                    [p] if p == "points" => Table::Points,
                    [w, exercise] if w == "weights" => {
                        config.weights.entry(exercise.clone()).or_default();
                        Table::Weights(exercise.clone())
                    }
                    _ => bail!(
                        "line {number}: unknown table `[{header}]` (expected [points] or \
                         [weights.EXERCISE])"
                    ),
                });
                continue;
            }
            let Some((key, value)) = split_key_value(line) else {
                bail!(
                    "line {number}: expected `key = number`, found `{}`",
                    raw.trim()
                );
            };
            let Some(value) = parse_number(value) else {
                bail!("line {number}: `{key}` must be a number of 0 or more, found `{value}`");
            };
            match &table {
                None => bail!("line {number}: `{key}` must be inside [points] or [weights.…]"),
                Some(Table::Points) => {
                    let points = Points::from_f64(value).ok_or_else(|| {
                        anyhow::anyhow!("line {number}: `{key}`: {value} is not a number of points")
                    })?;
                    if key == "default" {
                        config.default_points = points;
                    } else if config.points.insert(key.clone(), points).is_some() {
                        bail!("line {number}: `{key}` is set twice");
                    }
                }
                Some(Table::Weights(exercise)) => {
                    let weights = config.weights.entry(exercise.clone()).or_default();
                    if weights.insert(key.clone(), value).is_some() {
                        bail!("line {number}: `{key}` is set twice");
                    }
                }
            }
        }
        Ok(config)
    }

    /// Every exercise named in the file must exist (a typo would silently give wrong points).
    fn check_names(&self, exercises: &[Exercise]) -> anyhow::Result<()> {
        let known = |key: &str| exercises.iter().any(|e| e.id() == key || e.folder == key);
        for key in self.points.keys().chain(self.weights.keys()) {
            if !known(key) {
                let ids: Vec<&str> = exercises.iter().map(Exercise::id).collect();
                bail!(
                    "`{key}` is not an exercise of this kit (exercises: {})",
                    ids.join(", ")
                );
            }
        }
        Ok(())
    }

    /// The points `exercise` is worth.
    pub fn points(&self, exercise: &Exercise) -> Points {
        self.points
            .get(exercise.id())
            .or_else(|| self.points.get(&exercise.folder))
            .copied()
            .unwrap_or(self.default_points)
    }

    /// The weight of each of `tests` (1 unless the file sets one), and the weight keys of
    /// this exercise that match none of them (worth a warning: a renamed test?).
    pub fn weights(&self, exercise: &Exercise, tests: &[&str]) -> (Vec<f64>, Vec<String>) {
        let table = self
            .weights
            .get(exercise.id())
            .or_else(|| self.weights.get(&exercise.folder));
        let Some(table) = table else {
            return (vec![1.0; tests.len()], Vec::new());
        };
        let weights = tests
            .iter()
            .map(|test| match_key(table, test).map_or(1.0, |key| table[key]))
            .collect();
        let unused = table
            .keys()
            .filter(|key| {
                !tests
                    .iter()
                    .any(|t| match_key(table, t) == Some(key.as_str()))
            })
            .cloned()
            .collect();
        (weights, unused)
    }
}

enum Table {
    Points,
    Weights(String),
}

/// The key that sets `test`'s weight: the test's own name, else the longest key that is a
/// `::` prefix of it (an rstest function's name covers all of its cases).
fn match_key<'a>(table: &'a BTreeMap<String, f64>, test: &str) -> Option<&'a str> {
    if let Some((key, _)) = table.get_key_value(test) {
        return Some(key);
    }
    table
        .keys()
        .filter(|key| {
            test.strip_prefix(key.as_str())
                .is_some_and(|rest| rest.starts_with("::"))
        })
        .max_by_key(|key| key.len())
        .map(String::as_str)
}

/// The line without its `# comment` (a `#` inside a "quoted key" does not count).
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '#' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

/// `key = value` → (key, value), the key bare (`ex01`, `a_b-c`) or "quoted".
fn split_key_value(line: &str) -> Option<(String, &str)> {
    let (key, rest) = read_key(line)?;
    let value = rest.trim_start().strip_prefix('=')?.trim();
    Some((key, value))
}

/// One key at the start of `text`, and what follows it.
fn read_key(text: &str) -> Option<(String, &str)> {
    let text = text.trim_start();
    if let Some(quoted) = text.strip_prefix('"') {
        let mut key = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Some((key, &quoted[i + 1..])),
                '\\' => match chars.next()?.1 {
                    '"' => key.push('"'),
                    '\\' => key.push('\\'),
                    _ => return None,
                },
                c => key.push(c),
            }
        }
        None
    } else {
        let end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(text.len());
        (end > 0).then(|| (text[..end].to_string(), &text[end..]))
    }
}

/// `weights."ex01"` → ["weights", "ex01"].
fn split_dotted(mut text: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    loop {
        let (key, rest) = read_key(text)?;
        parts.push(key);
        let rest = rest.trim_start();
        if rest.is_empty() {
            return Some(parts);
        }
        text = rest.strip_prefix('.')?;
    }
}

/// A TOML integer or float of 0 or more (`10`, `2.5`, `1_000`, `+3`).
fn parse_number(text: &str) -> Option<f64> {
    let text = text.strip_prefix('+').unwrap_or(text);
    let valid = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '_')
        && text.starts_with(|c: char| c.is_ascii_digit());
    let value: f64 = text.replace('_', "").parse().ok()?;
    (valid && value.is_finite() && value >= 0.0).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn exercise(folder: &str) -> Exercise {
        Exercise {
            folder: folder.to_string(),
            dir: PathBuf::from("exercises").join(folder),
            package: folder.split('-').next().unwrap().to_string(),
            solution: None,
            tests: Vec::new(),
        }
    }

    #[test]
    fn points_and_weights_are_read() {
        let config = Config::parse(
            r#"
# comment
[points]
default = 5          # trailing comment
ex02 = 20
ex03-line-files = 2.5

[weights.ex01]
"echo::case_1" = 3
echo = 2
connect_reaches_a_listening_server = 0.5
"#,
        )
        .unwrap();
        assert_eq!(config.points(&exercise("ex01-raw")).to_string(), "5");
        assert_eq!(config.points(&exercise("ex02-lines")).to_string(), "20");
        assert_eq!(
            config.points(&exercise("ex03-line-files")).to_string(),
            "2.5"
        );
        let tests = [
            "echo::case_1",
            "echo::case_2",
            "echoes",
            "connect_reaches_a_listening_server",
        ];
        let (weights, unused) = config.weights(&exercise("ex01-raw"), &tests);
        assert_eq!(weights, [3.0, 2.0, 1.0, 0.5]);
        assert!(unused.is_empty(), "{unused:?}");
        let (_, unused) = config.weights(&exercise("ex01-raw"), &["other"]);
        assert_eq!(unused.len(), 3);
    }

    #[test]
    fn defaults_without_a_file() {
        let config = Config::default();
        assert_eq!(config.points(&exercise("ex09-x")).to_string(), "10");
        assert_eq!(
            config.weights(&exercise("ex09-x"), &["a", "b"]).0,
            [1.0, 1.0]
        );
    }

    #[test]
    fn mistakes_are_reported_with_their_line() {
        let cases = [
            ("[points]\nex01 = ten", "line 2"),
            ("[points]\nex01 = -1", "line 2"),
            ("ex01 = 1", "inside [points]"),
            ("[pointz]", "unknown table"),
            ("[points]\nex01 = 1\nex01 = 2", "set twice"),
            ("[points\n", "must end with"),
            ("[points]\n= 3", "expected `key = number`"),
        ];
        for (text, expected) in cases {
            let error = format!("{:#}", Config::parse(text).unwrap_err());
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn an_unknown_exercise_is_an_error() {
        let config = Config::parse("[points]\nex09 = 3").unwrap();
        let error = config
            .check_names(&[exercise("ex01-raw")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("`ex09` is not an exercise"), "{error}");
        assert!(
            Config::parse("[weights.ex01-raw]\na = 1")
                .unwrap()
                .check_names(&[exercise("ex01-raw")])
                .is_ok()
        );
    }

    #[test]
    fn a_hash_inside_a_quoted_key_is_not_a_comment() {
        let config = Config::parse("[weights.ex01]\n\"a#b\" = 2 # c").unwrap();
        assert_eq!(config.weights(&exercise("ex01-x"), &["a#b"]).0, [2.0]);
    }
}
