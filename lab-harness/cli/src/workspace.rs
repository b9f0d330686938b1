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
    let text = fs::read_to_string(manifest)?;
    package_key(&text, "name").ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} has no [package] name", manifest.display()),
        )
    })
}

/// A string value of a manifest's `[package]` section, e.g. its `description`.
pub fn package_value(manifest: &Path, key: &str) -> Option<String> {
    package_key(&fs::read_to_string(manifest).ok()?, key)
}

/// A small reader for `key = "value"` lines of `[package]`: no TOML crate for a few keys.
fn package_key(manifest: &str, key: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package
            && let Some((k, v)) = line.split_once('=')
            && k.trim() == key
        {
            return Some(v.trim().trim_matches('"').to_string());
        }
    }
    None
}
