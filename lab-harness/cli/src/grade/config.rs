//! `grading.toml`: how many points each exercise and each graded test is worth.
//!
//! The file is optional and small. It is read with the toml crate through serde into
//! `GradingFile`, which admits exactly two tables; every error names its line and column:
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
use std::fmt;
use std::fs;
use std::io;
use std::ops::Range;
use std::path::Path;

use anyhow::{Context, anyhow, bail};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use toml::Spanned;

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
        let file: GradingFile = toml::from_str(text)
            .map_err(|error| anyhow!(located(text, error.span(), error.message())))?;
        let mut config = Config::default();
        for (key, amount) in file.points {
            let value = amount.get_ref().0;
            let points = Points::from_f64(value).ok_or_else(|| {
                let message = format!("`{key}`: {value} is not a number of points");
                anyhow!(located(text, Some(amount.span()), &message))
            })?;
            if key == "default" {
                config.default_points = points;
            } else {
                config.points.insert(key, points);
            }
        }
        config.weights = file
            .weights
            .into_iter()
            .map(|(exercise, weights)| {
                let weights = weights.into_iter().map(|(key, w)| (key, w.0)).collect();
                (exercise, weights)
            })
            .collect();
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

/// The file as written: `[points]` (exercise or `default` → points) and `[weights.EXERCISE]`
/// (test name or function prefix → weight). Anything else is an error, so that a typo in a
/// table's name (`[pointz]`) cannot quietly give everyone the default points. The toml crate
/// refuses a key set twice.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GradingFile {
    /// With its place in the file, for an error found after parsing (too many points).
    #[serde(default)]
    points: BTreeMap<String, Spanned<Amount>>,
    #[serde(default)]
    weights: BTreeMap<String, BTreeMap<String, Amount>>,
}

/// A number of points or a weight: a TOML integer or float, finite and 0 or more.
#[derive(Clone, Copy, Debug)]
struct Amount(f64);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Amount, D::Error> {
        deserializer.deserialize_any(AmountVisitor)
    }
}

struct AmountVisitor;

impl Visitor<'_> for AmountVisitor {
    type Value = Amount;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a number of 0 or more")
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Amount, E> {
        Ok(Amount(value as f64))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Amount, E> {
        match u64::try_from(value) {
            Ok(value) => self.visit_u64(value),
            Err(_) => Err(E::custom(format!(
                "{value} is negative: a number of 0 or more is expected"
            ))),
        }
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Amount, E> {
        if value.is_finite() && value >= 0.0 {
            Ok(Amount(value))
        } else {
            Err(E::custom(format!("{value} is not a number of 0 or more")))
        }
    }
}

/// `message` with the line and column where `span` (bytes of `text`) starts, and that line:
/// "line 2, column 8: string values must be quoted, expected literal string (`ex01 = many`)".
fn located(text: &str, span: Option<Range<usize>>, message: &str) -> String {
    let Some(before) = span.and_then(|span| text.get(..span.start)) else {
        return message.to_string();
    };
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let column = before[line_start..].chars().count() + 1;
    let source = text[line_start..].lines().next().unwrap_or("").trim();
    if source.is_empty() {
        format!("line {line}, column {column}: {message}")
    } else {
        format!("line {line}, column {column}: {message} (`{source}`)")
    }
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
            (
                "[points]\nex01 = many",
                "line 2, column 8: string values must be quoted",
            ),
            ("[points]\nex01 = ten", "line 2, column 8: "),
            ("[points]\nex01 = -1", "line 2, column 8: -1 is negative"),
            ("[points]\nex01 = -0.5", "-0.5 is not a number of 0 or more"),
            ("[points]\nex01 = nan", "NaN is not a number of 0 or more"),
            ("[points]\nex01 = \"3\"", "expected a number of 0 or more"),
            (
                "[points]\nex01 = 1e20",
                "line 2, column 8: `ex01`: 100000000000000000000 is not a number of points",
            ),
            (
                "ex01 = 1",
                "line 1, column 1: unknown field `ex01`, expected `points` or `weights`",
            ),
            ("[pointz]", "unknown field `pointz`"),
            (
                "[weights]\nex01 = 2",
                "line 2, column 8: invalid type: integer `2`, expected a map",
            ),
            (
                "[points]\nex01 = 1\nex01 = 2",
                "line 3, column 1: duplicate key (`ex01 = 2`)",
            ),
            ("[points\n", "line 1, column 8: unclosed table"),
            ("[points]\n= 3", "line 2, column 1: "),
        ];
        for (text, expected) in cases {
            let error = format!("{:#}", Config::parse(text).unwrap_err());
            assert!(error.contains(expected), "{text:?}: {error}");
            assert_eq!(error.lines().count(), 1, "{text:?}: one line: {error}");
        }
    }

    #[test]
    fn a_bad_file_is_named_in_the_error() {
        let dir = crate::grade::stage::TempDir::new("grading-toml").unwrap();
        fs::write(dir.path().join(FILE_NAME), "[points]\nex01 = many\n").unwrap();
        let error = format!("{:#}", Config::load(dir.path(), &[]).unwrap_err());
        assert!(
            error.contains("grading.toml: line 2, column 8: string values must be quoted"),
            "{error}"
        );
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
