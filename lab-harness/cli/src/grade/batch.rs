//! Grading submissions: one (`--submission DIR`, what the Gradescope autograder runs) or a
//! whole class (`--batch DIR`, one submission per subfolder, a gradebook row each).
//!
//! Each submission is staged in its own temporary copy of the kit ([`super::stage`]) and
//! built in one target folder shared by all of them, so the harness and its dependencies are
//! built once per batch, not once per student. A submission that cannot be graded costs its
//! own row (zero points and the reason), never the batch.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};

use super::stage::{self, TempDir};
use super::{Config, Event, Graded, Limits, Plan, Report, grade, handout};
use crate::workspace::{self, Exercise};

/// One graded submission: the report, or why there is none.
#[derive(Clone, Debug)]
pub struct Submission {
    /// The submission's folder name.
    pub student: String,
    pub outcome: Result<Report, String>,
}

/// The kit that grades: its root, its exercises and the rules.
pub struct Kit<'a> {
    pub root: &'a Path,
    /// Every exercise of the kit (a submission's code is taken for each of them).
    pub exercises: &'a [Exercise],
    /// The ids of the exercises to grade (empty: all).
    pub only: &'a [String],
    pub config: &'a Config,
    pub limits: Limits,
}

/// The target folder for staged builds: `grade-staging` inside the kit's own target folder
/// (`CARGO_TARGET_DIR`, or `target/`). Never the kit's own builds' folder: a staged build of
/// a student's exercise must not be taken for the kit's, or the other way round.
pub fn staging_target(kit_root: &Path) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_relative() {
                kit_root.join(dir)
            } else {
                dir
            }
        })
        .unwrap_or_else(|| kit_root.join("target"));
    target.join("grade-staging")
}

/// Grades one submission against the kit. A submission without any exercise folder is
/// graded as if nothing had been done (with a note), so there is always a full report.
pub fn grade_submission(
    kit: &Kit,
    submission: &Path,
    progress: &mut dyn FnMut(Event),
) -> anyhow::Result<Report> {
    if !submission.is_dir() {
        bail!("the submission {} is not a folder", submission.display());
    }
    let staged = TempDir::new("grade").context("cannot create a temporary folder")?;
    let files = handout::files(kit.root, kit.exercises, None)?;
    stage::write_files(&files, staged.path())
        .with_context(|| format!("cannot copy the kit to {}", staged.path().display()))?;
    let notes = stage::overlay(kit.exercises, submission, staged.path())?;

    let mut exercises = workspace::exercises(staged.path())
        .with_context(|| format!("cannot list {}", staged.path().display()))?;
    if !kit.only.is_empty() {
        exercises.retain(|e| kit.only.iter().any(|id| id == e.id() || *id == e.folder));
    }
    let plan = Plan {
        root: staged.path(),
        exercises: &exercises,
        graded: Graded::Exercises,
        config: kit.config,
        limits: kit.limits,
        target_dir: Some(staging_target(kit.root)),
        skeletons_from: Some(kit.root),
        lean_builds: true,
    };
    let mut report = grade(&plan, progress)?;
    report.notes.splice(0..0, notes);
    Ok(report)
}

/// Grades every submission in `dir` (one per subfolder, in name order).
pub fn grade_batch(
    kit: &Kit,
    dir: &Path,
    progress: &mut dyn FnMut(BatchEvent),
) -> anyhow::Result<Vec<Submission>> {
    let mut folders: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    folders.sort();
    if folders.is_empty() {
        bail!(
            "{} holds no submission (one subfolder per student expected)",
            dir.display()
        );
    }
    let count = folders.len();
    let mut submissions = Vec::new();
    for (index, folder) in folders.iter().enumerate() {
        let student = folder
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        progress(BatchEvent::Started {
            index,
            count,
            student: &student,
        });
        let started = Instant::now();
        let outcome = if stage::find_exercises(folder, kit.exercises).is_none() {
            Err("no exercises/ folder (nor exercise folders) in the submission".to_string())
        } else {
            grade_submission(kit, folder, &mut |event| {
                progress(BatchEvent::Exercise(event));
            })
            .map_err(|error| format!("{error:#}"))
        };
        let submission = Submission { student, outcome };
        progress(BatchEvent::Finished {
            index,
            count,
            submission: &submission,
            seconds: started.elapsed().as_secs_f64(),
        });
        submissions.push(submission);
    }
    Ok(submissions)
}

/// Progress of a batch.
pub enum BatchEvent<'a> {
    Started {
        index: usize,
        count: usize,
        student: &'a str,
    },
    Exercise(Event<'a>),
    Finished {
        index: usize,
        count: usize,
        submission: &'a Submission,
        seconds: f64,
    },
}
