//! A submission, staged: a copy of the kit's handout (graded tests sealed, see
//! `lab_harness::seal_verdicts`) with only the submission's `exercises/*/src/` put in.
//!
//! A submission is untrusted: nothing else of it is used. Its tests, its `Cargo.toml` files,
//! a `build.rs`, symbolic links: none are copied, so the graded tests and manifests are
//! always the kit's, written afresh for every submission.
//!
//! Speed without wrong grades: cargo decides what to rebuild from file modification times.
//! The kit's files keep theirs, here and in the copy of the dependencies' build each
//! submission starts from, so the harness and its dependencies are never rebuilt. Every
//! submitted file is written with a new time, so the code under test is always rebuilt:
//! reusing a build of *another* submission's code would give a wrong grade.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;

use super::handout::{KitFile, Source};
use crate::workspace::Exercise;

/// A submitted file larger than this is left out (with a note).
const MAX_FILE: u64 = 1 << 20;
/// Submitted files beyond this many (per exercise) are left out.
const MAX_FILES: usize = 500;
/// Folders nested deeper than this in a submitted `src/` are left out.
const MAX_DEPTH: usize = 8;

/// Writes `files` under `dest`. Each keeps the modification time of the kit file it comes
/// from, except, with `fresh_code`, the code under test (`exercises/*/src/`), which gets the
/// current time: a handout is built in target folders that may hold builds of the same
/// packages from other code, and cargo must not take those for fresh. A file made by the
/// handout (its `Cargo.toml`, its README) gets `text_time`.
pub fn write_files(
    files: &[KitFile],
    dest: &Path,
    text_time: SystemTime,
    fresh_code: bool,
) -> io::Result<()> {
    for file in files {
        let to = dest.join(&file.path);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent)?;
        }
        let modified = match &file.source {
            Source::Text(text) => {
                fs::write(&to, text)?;
                text_time
            }
            Source::Copy(from) => {
                fs::copy(from, &to)?;
                if fresh_code && is_code_under_test(&file.path) {
                    continue;
                }
                fs::metadata(from)?.modified()?
            }
        };
        File::options()
            .write(true)
            .open(&to)?
            .set_modified(modified)?;
    }
    Ok(())
}

/// Adds the seal test (`lab_harness::SEAL_TEST`) to the end of every graded test file of
/// `exercises` under the staged kit `kit`, keeping each file's modification time (the seal
/// is the same in every build, so it alone never makes cargo rebuild).
pub fn seal_tests(kit: &Path, exercises: &[Exercise]) -> io::Result<()> {
    for exercise in exercises {
        for test in &exercise.tests {
            let Some(name) = test.file_name() else {
                continue;
            };
            let path = kit
                .join("exercises")
                .join(&exercise.folder)
                .join("tests")
                .join(name);
            let modified = fs::metadata(&path)?.modified()?;
            let mut text = fs::read_to_string(&path)?;
            text.push_str(&seal_test());
            fs::write(&path, text)?;
            File::options()
                .write(true)
                .open(&path)?
                .set_modified(modified)?;
        }
    }
    Ok(())
}

/// The test [`seal_tests`] adds.
fn seal_test() -> String {
    format!(
        "\n// Added by `cargo lab grade` to its copy of this file: libtest runs this test first, \
         and it\n// makes the verdict log unreachable for the code under test (see \
         lab_harness::seal_verdicts).\n#[test]\nfn {}() {{\n    lab_harness::seal_verdicts();\n}}\n",
        lab_harness::SEAL_TEST
    )
}

/// Copies the folder `from` to `to`, keeping every file's modification time, so that cargo
/// finds a copied build as fresh as the original. Symbolic links are not followed (a kit
/// and a build have none).
pub fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    copy_tree_with(from, to, &|_| false)
}

/// [`copy_tree`] for a build of the kit's *own* code (`cargo lab check`'s mistakes): the
/// libraries, build-script output and fingerprints of the crates that are not `members` of
/// the workspace (the registry dependencies, which a build of the exercises only reads) are
/// hard-linked, not copied: most of a build's size and files. Never for a submission: its
/// build runs code of the student's, which could write through such a link into the base.
pub fn copy_build_linking_dependencies(
    from: &Path,
    to: &Path,
    members: &[String],
) -> io::Result<()> {
    let is_dependency = |path: &Path| {
        // What a registry dependency's build script left under `build/PACKAGE-HASH/`, and
        // its fingerprint under `.fingerprint/PACKAGE-HASH/` (cargo writes a fingerprint only
        // when it builds the package again, which a dependency already built never is).
        let names: Vec<&str> = path.iter().filter_map(|c| c.to_str()).collect();
        let of_dependency = names
            .iter()
            .position(|name| *name == "build" || *name == ".fingerprint")
            .and_then(|at| names.get(at + 1))
            .map(|dir| dir.rsplit_once('-').map_or(*dir, |(package, _)| package))
            .is_some_and(|package| !members.iter().any(|m| *m == package.replace('-', "_")));
        if of_dependency {
            return true;
        }
        let in_deps = path.parent().and_then(Path::file_name) == Some("deps".as_ref());
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let crate_name = name
            .strip_prefix("lib")
            .and_then(|rest| rest.split_once('-'))
            .map(|(name, _)| name);
        in_deps
            && crate_name.is_some_and(|krate| !members.iter().any(|member| member == krate))
            && [".rlib", ".rmeta", ".so", ".dylib", ".dll"]
                .iter()
                .any(|ext| name.ends_with(ext))
    };
    copy_tree_with(from, to, &is_dependency)
}

/// Seeds a target folder's `debug` with the registry dependencies built in another one
/// (`from` and `to` are `…/debug`): their libraries in `deps/`, their fingerprints and their
/// build scripts' output, hard-linked. Nothing of the `members` (the kit's own crates) is
/// taken: cargo builds those in `to` from their own sources. Cargo takes a seeded dependency
/// only where it would have built the very same (same version, features, profile and
/// compiler), and builds the others.
pub fn seed_dependencies(from: &Path, to: &Path, members: &[String]) -> io::Result<()> {
    let member = |name: &str| members.iter().any(|m| m == name);
    // `deps/libNAME-HASH.rlib` (and .rmeta, .so): the crate's name.
    let library = |path: &Path| {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        name.strip_prefix("lib")
            .and_then(|rest| rest.split_once('-'))
            .is_some_and(|(krate, _)| !member(krate))
            && [".rlib", ".rmeta", ".so", ".dylib", ".dll"]
                .iter()
                .any(|ext| name.ends_with(ext))
    };
    fs::create_dir_all(to.join("deps"))?;
    for entry in fs::read_dir(from.join("deps"))? {
        let path = entry?.path();
        if path.is_file() && library(&path) {
            fs::hard_link(
                &path,
                to.join("deps").join(path.file_name().unwrap_or_default()),
            )?;
        }
    }
    // `.fingerprint/PACKAGE-HASH/` and `build/PACKAGE-HASH/`: the package's name.
    for folder in [".fingerprint", "build"] {
        let Ok(entries) = fs::read_dir(from.join(folder)) else {
            continue;
        };
        for entry in entries {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let package = name.rsplit_once('-').map_or(name, |(package, _)| package);
            if path.is_dir() && !member(&package.replace('-', "_")) {
                copy_tree_with(&path, &to.join(folder).join(name), &|_| true)?;
            }
        }
    }
    Ok(())
}

fn copy_tree_with(from: &Path, to: &Path, link: &dyn Fn(&Path) -> bool) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree_with(&entry.path(), &target, link)?;
        } else if kind.is_file() {
            if link(&entry.path()) && fs::hard_link(entry.path(), &target).is_ok() {
                continue;
            }
            fs::copy(entry.path(), &target)?;
            File::options()
                .write(true)
                .open(&target)?
                .set_modified(entry.metadata()?.modified()?)?;
        }
    }
    Ok(())
}

/// `exercises/NAME/src/…`: the code a student writes.
pub fn is_code_under_test(relative: &Path) -> bool {
    let mut parts = relative.components().map(|c| c.as_os_str());
    parts.next() == Some("exercises".as_ref())
        && parts.next().is_some()
        && parts.next() == Some("src".as_ref())
}

/// What [`overlay`] did.
#[derive(Debug, Default)]
pub struct Overlaid {
    /// Notes for the report (nothing found, files left out).
    pub notes: Vec<String>,
    /// The exercises (folder names) whose `src/` the submission changed: it brought a file
    /// that the handout does not have, or has with other contents.
    pub changed: BTreeSet<String>,
}

/// Puts the submission at `submission` into the staged kit at `stage` (already holding the
/// handout): each exercise's submitted `src/` files over the skeleton's.
///
/// With `keep_identical`, a submitted file whose contents are the staged file's is left as it
/// is, modification time included: an exercise handed in unchanged is then the handout's, to
/// the byte, and is still fresh in a copy of the handout's build. Only where the target
/// folder holds nothing but that build (a fresh copy for each submission): a folder built
/// from other code before could look fresh for those old times.
pub fn overlay(
    exercises: &[Exercise],
    submission: &Path,
    stage: &Path,
    keep_identical: bool,
) -> anyhow::Result<Overlaid> {
    let mut overlaid = Overlaid::default();
    let Some(found) = find_exercises(submission, exercises) else {
        overlaid.notes.push(
            "the submission has no exercises/ folder (nor exercise folders): every exercise was \
             graded as handed out"
                .to_string(),
        );
        return Ok(overlaid);
    };
    let real_dir = |path: &Path| fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
    for exercise in exercises {
        // Both levels must be real folders: a symbolic link could point anywhere.
        let folder = found.join(&exercise.folder);
        let from = folder.join("src");
        if !real_dir(&folder) || !real_dir(&from) {
            continue;
        }
        // On top of the skeleton, not instead of it: a file the kit provides (a program in
        // src/bin/ the tests run) stays when a submission leaves it out.
        let to = stage.join("exercises").join(&exercise.folder).join("src");
        let mut copy = Copy {
            folder: &exercise.folder,
            keep_identical,
            copied: 0,
            written: 0,
            notes: &mut overlaid.notes,
        };
        copy.submitted(&from, &to, 0)
            .with_context(|| format!("cannot copy {}", from.display()))?;
        if copy.written > 0 {
            overlaid.changed.insert(exercise.folder.clone());
        }
    }
    Ok(overlaid)
}

/// Copying one exercise's submitted `src/`.
struct Copy<'a> {
    folder: &'a str,
    keep_identical: bool,
    /// Files taken (written or identical), against [`MAX_FILES`].
    copied: usize,
    /// Files written.
    written: usize,
    notes: &'a mut Vec<String>,
}

impl Copy<'_> {
    /// Copies a submitted `src/` folder: regular files only; each file written gets a new
    /// modification time (one left as it was, with `keep_identical`, keeps its own).
    fn submitted(&mut self, from: &Path, to: &Path, depth: usize) -> io::Result<()> {
        fs::create_dir_all(to)?;
        let mut entries: Vec<_> = fs::read_dir(from)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name();
            let shown = format!("exercises/{}/src/…/{}", self.folder, name.to_string_lossy());
            let kind = entry.file_type()?;
            if kind.is_symlink() {
                self.notes
                    .push(format!("{shown} left out: a symbolic link"));
            } else if kind.is_dir() {
                if depth >= MAX_DEPTH {
                    self.notes
                        .push(format!("{shown} left out: folders nested too deep"));
                } else {
                    self.submitted(&entry.path(), &to.join(&name), depth + 1)?;
                }
            } else if kind.is_file() {
                if entry.metadata()?.len() > MAX_FILE {
                    self.notes
                        .push(format!("{shown} left out: larger than 1 MiB"));
                } else if self.copied >= MAX_FILES {
                    self.notes
                        .push(format!("{shown} left out: more than {MAX_FILES} files"));
                } else {
                    let bytes = fs::read(entry.path())?;
                    let dest = to.join(&name);
                    // A staged file is a regular file of the handout (never a link: the
                    // handout is written by the kit), so reading it reads the handout.
                    let same = self.keep_identical
                        && fs::symlink_metadata(&dest).is_ok_and(|m| m.is_file())
                        && fs::read(&dest).is_ok_and(|staged| staged == bytes);
                    if !same {
                        // Written rather than copied: the new file gets a new time and plain
                        // permissions.
                        fs::write(&dest, bytes)?;
                        self.written += 1;
                    }
                    self.copied += 1;
                }
            }
        }
        Ok(())
    }
}

/// Where a submission keeps its exercise folders: `S/exercises`, `S` itself (it holds
/// exercise folders), or the same one folder down (an archive that unpacked into a folder).
pub fn find_exercises(submission: &Path, exercises: &[Exercise]) -> Option<PathBuf> {
    let holds = |dir: &Path| {
        exercises
            .iter()
            .any(|e| fs::symlink_metadata(dir.join(&e.folder)).is_ok_and(|m| m.is_dir()))
    };
    let direct = |dir: &Path| {
        let inner = dir.join("exercises");
        if fs::symlink_metadata(&inner).is_ok_and(|m| m.is_dir()) {
            Some(inner)
        } else if holds(dir) {
            Some(dir.to_path_buf())
        } else {
            None
        }
    };
    if let Some(found) = direct(submission) {
        return Some(found);
    }
    let folders: Vec<PathBuf> = fs::read_dir(submission)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            !name.starts_with('.') && name != "__MACOSX"
        })
        .map(|e| e.path())
        .collect();
    match folders.as_slice() {
        [only] => direct(only),
        _ => None,
    }
}

/// A folder under the system's temporary folder, removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> io::Result<TempDir> {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "netlab-{label}-{}-{nanos}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(folder: &str) -> Exercise {
        Exercise {
            folder: folder.into(),
            dir: PathBuf::from("exercises").join(folder),
            package: folder[..4].into(),
            solution: None,
            tests: Vec::new(),
        }
    }

    #[test]
    fn only_exercise_sources_are_code_under_test() {
        assert!(is_code_under_test(Path::new("exercises/ex01-a/src/lib.rs")));
        assert!(is_code_under_test(Path::new(
            "exercises/ex01-a/src/bin/x.rs"
        )));
        assert!(!is_code_under_test(Path::new(
            "exercises/ex01-a/tests/graded.rs"
        )));
        assert!(!is_code_under_test(Path::new(
            "exercises/ex01-a/Cargo.toml"
        )));
        assert!(!is_code_under_test(Path::new("lab-harness/src/lib.rs")));
    }

    #[test]
    fn a_submission_is_found_in_its_usual_shapes() {
        let exercises = [exercise("ex01-raw")];
        let temp = TempDir::new("stage-test").unwrap();
        let root = temp.path();
        for dir in [
            "whole/exercises/ex01-raw/src",
            "bare/ex01-raw/src",
            "zipped/netlab-main/exercises/ex01-raw/src",
            "nothing/notes",
        ] {
            fs::create_dir_all(root.join(dir)).unwrap();
        }
        fs::create_dir_all(root.join("zipped/__MACOSX")).unwrap();
        let find = |s: &str| find_exercises(&root.join(s), &exercises);
        assert_eq!(find("whole"), Some(root.join("whole/exercises")));
        assert_eq!(find("bare"), Some(root.join("bare")));
        assert_eq!(
            find("zipped"),
            Some(root.join("zipped/netlab-main/exercises"))
        );
        assert_eq!(find("nothing"), None);
    }

    #[cfg(unix)]
    #[test]
    fn only_regular_source_files_are_taken_from_a_submission() {
        let exercises = [exercise("ex01-raw")];
        let temp = TempDir::new("stage-test").unwrap();
        let sub = temp.path().join("sub/exercises/ex01-raw");
        fs::create_dir_all(sub.join("src/nested")).unwrap();
        fs::create_dir_all(sub.join("tests")).unwrap();
        fs::write(sub.join("src/lib.rs"), "// mine").unwrap();
        fs::write(sub.join("src/nested/more.rs"), "// more").unwrap();
        fs::write(sub.join("tests/graded.rs"), "// a test that always passes").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", sub.join("src/secret.rs")).unwrap();
        fs::write(sub.join("src/big.rs"), vec![b'x'; (MAX_FILE + 1) as usize]).unwrap();

        let stage = temp.path().join("stage");
        fs::create_dir_all(stage.join("exercises/ex01-raw/src")).unwrap();
        fs::create_dir_all(stage.join("exercises/ex01-raw/tests")).unwrap();
        fs::write(stage.join("exercises/ex01-raw/src/provided.rs"), "").unwrap();
        fs::write(stage.join("exercises/ex01-raw/tests/graded.rs"), "// kit").unwrap();

        let notes = overlay(&exercises, &temp.path().join("sub"), &stage, false)
            .unwrap()
            .notes;
        let staged = stage.join("exercises/ex01-raw");
        assert_eq!(
            fs::read_to_string(staged.join("src/lib.rs")).unwrap(),
            "// mine"
        );
        assert!(staged.join("src/nested/more.rs").is_file());
        assert!(
            staged.join("src/provided.rs").is_file(),
            "the kit's own file stays"
        );
        assert!(!staged.join("src/secret.rs").exists());
        assert!(!staged.join("src/big.rs").exists());
        assert_eq!(
            fs::read_to_string(staged.join("tests/graded.rs")).unwrap(),
            "// kit"
        );
        assert_eq!(notes.len(), 2, "{notes:?}");
    }

    #[cfg(unix)]
    #[test]
    fn an_exercise_folder_that_is_a_link_is_not_followed() {
        let exercises = [exercise("ex01-raw")];
        let temp = TempDir::new("stage-test").unwrap();
        let elsewhere = temp.path().join("elsewhere");
        fs::create_dir_all(elsewhere.join("src")).unwrap();
        fs::write(elsewhere.join("src/lib.rs"), "// someone else's").unwrap();
        fs::create_dir_all(temp.path().join("sub/exercises")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, temp.path().join("sub/exercises/ex01-raw")).unwrap();
        let stage = temp.path().join("stage");
        fs::create_dir_all(stage.join("exercises/ex01-raw/src")).unwrap();
        fs::write(stage.join("exercises/ex01-raw/src/lib.rs"), "// skeleton").unwrap();

        overlay(&exercises, &temp.path().join("sub"), &stage, false).unwrap();
        assert_eq!(
            fs::read_to_string(stage.join("exercises/ex01-raw/src/lib.rs")).unwrap(),
            "// skeleton"
        );
    }

    #[test]
    fn an_exercise_handed_in_as_handed_out_keeps_its_files_and_times() {
        let exercises = [
            exercise("ex01-raw"),
            exercise("ex02-lines"),
            exercise("ex03-more"),
        ];
        let temp = TempDir::new("stage-test").unwrap();
        let stage = temp.path().join("stage");
        let sub = temp.path().join("sub/exercises");
        let old = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
        for e in &exercises {
            let src = stage.join("exercises").join(&e.folder).join("src");
            fs::create_dir_all(&src).unwrap();
            fs::write(src.join("lib.rs"), "// skeleton").unwrap();
            File::options()
                .write(true)
                .open(src.join("lib.rs"))
                .unwrap()
                .set_modified(old)
                .unwrap();
            fs::create_dir_all(sub.join(&e.folder).join("src")).unwrap();
        }
        // ex01: the skeleton, to the byte. ex02: one byte more. ex03: the skeleton and a file
        // the handout does not have.
        fs::write(sub.join("ex01-raw/src/lib.rs"), "// skeleton").unwrap();
        fs::write(sub.join("ex02-lines/src/lib.rs"), "// skeleton ").unwrap();
        fs::write(sub.join("ex03-more/src/lib.rs"), "// skeleton").unwrap();
        fs::write(sub.join("ex03-more/src/extra.rs"), "").unwrap();

        let kept = overlay(&exercises, &temp.path().join("sub"), &stage, true).unwrap();
        assert_eq!(
            kept.changed.into_iter().collect::<Vec<_>>(),
            ["ex02-lines", "ex03-more"]
        );
        let time = |folder: &str| {
            let path = stage.join("exercises").join(folder).join("src/lib.rs");
            fs::metadata(path).unwrap().modified().unwrap()
        };
        assert_eq!(
            time("ex01-raw"),
            old,
            "an identical file keeps the handout's time"
        );
        assert_ne!(time("ex02-lines"), old, "a changed file gets a new time");

        // Without keep_identical (a workbench), every file brought is written anew.
        let written = overlay(&exercises, &temp.path().join("sub"), &stage, false).unwrap();
        assert_eq!(written.changed.len(), 3);
        assert_ne!(time("ex01-raw"), old);
    }
}
