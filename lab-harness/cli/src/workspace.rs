//! Finding the kit's exercises on disk.
//!
//! Exercises are discovered, never listed in code: every folder `exercises/exNN-topic` is an
//! exercise (package `exNN`), its reference answer is `solutions/exNN-topic` (package
//! `exNN-solution`), and its graded tests are the files in `exercises/exNN-topic/tests/`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// One exercise of the kit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exercise {
    /// The folder name, e.g. `ex01-raw-send-recv`.
    pub folder: String,
    pub dir: PathBuf,
    /// The skeleton's package, e.g. `ex01`.
    pub package: String,
    /// The reference solution, when the kit has one (a student handout does not).
    pub solution: Option<Solution>,
    /// The graded test files, sorted.
    pub tests: Vec<PathBuf>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Solution {
    pub dir: PathBuf,
    pub package: String,
}

impl Exercise {
    /// The short id, e.g. `ex01`.
    pub fn id(&self) -> &str {
        self.folder.split('-').next().unwrap_or(&self.folder)
    }
}

/// The workspace root at or above `start`: a folder with a `Cargo.toml` and `exercises/`.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join("Cargo.toml").is_file() && dir.join("exercises").is_dir())
        .map(Path::to_path_buf)
}

/// Every exercise under `root/exercises`, in order of their folder names.
pub fn exercises(root: &Path) -> io::Result<Vec<Exercise>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(root.join("exercises"))? {
        let dir = entry?.path();
        let Some(folder) = dir.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
            continue;
        };
        if !folder.starts_with("ex") || !dir.join("Cargo.toml").is_file() {
            continue;
        }
        let package = package_name(&dir.join("Cargo.toml"))?;
        let solution_dir = root.join("solutions").join(&folder);
        let solution = if solution_dir.join("Cargo.toml").is_file() {
            Some(Solution {
                package: package_name(&solution_dir.join("Cargo.toml"))?,
                dir: solution_dir,
            })
        } else {
            None
        };
        let mut tests: Vec<PathBuf> = match fs::read_dir(dir.join("tests")) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|ext| ext == "rs"))
                .collect(),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(error) => return Err(error),
        };
        tests.sort();
        found.push(Exercise {
            folder,
            dir,
            package,
            solution,
            tests,
        });
    }
    found.sort_by(|a, b| a.folder.cmp(&b.folder));
    Ok(found)
}

/// The `name` of a manifest's `[package]` section.
pub fn package_name(manifest: &Path) -> io::Result<String> {
    let invalid = |what: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {what}", manifest.display()),
        )
    };
    let table = read_manifest(manifest)?.map_err(|error| invalid(error.message().to_string()))?;
    package_key(&table, "name").ok_or_else(|| invalid("no [package] name".to_string()))
}

/// A string value of a manifest's `[package]` section, e.g. its `description`; `None` when
/// the manifest cannot be read or has no such string (`description.workspace = true`).
pub fn package_value(manifest: &Path, key: &str) -> Option<String> {
    package_key(&read_manifest(manifest).ok()?.ok()?, key)
}

/// A manifest, parsed: an I/O error outside, a TOML error inside.
fn read_manifest(manifest: &Path) -> io::Result<Result<toml::Table, toml::de::Error>> {
    Ok(toml::from_str(&fs::read_to_string(manifest)?))
}

fn package_key(manifest: &toml::Table, key: &str) -> Option<String> {
    let value = manifest.get("package")?.get(key)?.as_str()?;
    Some(value.to_string())
}

/// The graded tests' function names in the exercise's test files, in the order they are
/// written (`graded.rs` first: it is where an exercise starts), read from the source so
/// that nothing needs to be built.
pub fn graded_functions(exercise: &Exercise) -> io::Result<Vec<String>> {
    let mut files: Vec<&PathBuf> = exercise.tests.iter().collect();
    files.sort_by_key(|path| path.file_stem().is_none_or(|stem| stem != "graded"));
    let mut names = Vec::new();
    for file in files {
        let source = fs::read_to_string(file)?;
        names.extend(graded_test_names(&source));
        // A module of the graded file kept in a file of its own (`#[path = "graded/client.rs"]
        // mod client;`): its tests are named `client::…`.
        let folder = file.parent().unwrap_or(Path::new("."));
        for (module, path) in path_modules(&source) {
            let inner = fs::read_to_string(folder.join(path))?;
            names.extend(
                graded_test_names(&inner)
                    .into_iter()
                    .map(|name| format!("{module}::{name}")),
            );
        }
    }
    Ok(names)
}

/// The `#[path = "FILE"] mod NAME;` declarations of a test file, as (NAME, FILE).
fn path_modules(source: &str) -> Vec<(String, String)> {
    let mut modules = Vec::new();
    let mut path = None;
    for line in source.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("#[path = \"") {
            path = rest.split('"').next().map(str::to_string);
        } else if let (Some(file), Some(rest)) = (&path, line.strip_prefix("mod ")) {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            modules.push((name, file.clone()));
            path = None;
        } else if !line.starts_with("#[") {
            path = None;
        }
    }
    modules
}

/// The names of the test functions in a graded test file: each `fn` after a `#[test]` or
/// `#[rstest]` attribute (other attributes may come between).
pub fn graded_test_names(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut attribute_seen = false;
    for line in source.lines() {
        let line = line.trim();
        if line.starts_with("#[test]") || line.starts_with("#[rstest]") {
            attribute_seen = true;
        } else if attribute_seen && let Some(at) = line.find("fn ") {
            let name: String = line[at + 3..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            names.push(name);
            attribute_seen = false;
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::stage::TempDir;

    #[test]
    fn package_keys_are_read_from_the_manifest() {
        let dir = TempDir::new("manifest").unwrap();
        let manifest = dir.path().join("Cargo.toml");
        fs::write(
            &manifest,
            "# name = \"not this\"\n[package]\nname = \"ex01\" # the skeleton\n\
             description = 'Raw \"send\" and recv'\nedition.workspace = true\n\n\
             [dependencies]\nname = \"other\"\n",
        )
        .unwrap();
        assert_eq!(package_name(&manifest).unwrap(), "ex01");
        assert_eq!(
            package_value(&manifest, "description").as_deref(),
            Some("Raw \"send\" and recv")
        );
        assert_eq!(package_value(&manifest, "edition"), None);
        assert_eq!(package_value(&manifest, "version"), None);

        fs::write(&manifest, "[dependencies]\nname = \"other\"\n").unwrap();
        let error = package_name(&manifest).unwrap_err().to_string();
        assert!(error.ends_with("Cargo.toml: no [package] name"), "{error}");
        fs::write(&manifest, "[package\nname = \"ex01\"\n").unwrap();
        let error = package_name(&manifest).unwrap_err().to_string();
        assert!(error.contains("Cargo.toml: unclosed table"), "{error}");
        assert_eq!(package_value(&manifest, "name"), None);
    }
}
