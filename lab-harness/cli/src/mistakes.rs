//! Mistakes as data: the kit checks its own teaching power.
//!
//! Each exercise keeps a catalogue of wrong answers a teacher sees every term, one file each
//! in `exercises/exNN-topic/mistakes/NAME.toml`:
//!
//! ```toml
//! # What the student did, in a teacher's words.
//! about = "write_line writes into the BufWriter and never flushes it"
//! # Words that a failing test's message must contain (all of them, any case).
//! expect = ["flush"]
//! # Optional: words no failing test's message may contain (a hint that would mislead).
//! forbid = ["shutdown"]
//! # A unified diff of the reference solution (paths from its folder: a/src/lib.rs).
//! patch = '''
//! --- a/src/lib.rs
//! +++ b/src/lib.rs
//! @@ -24,5 +24,5 @@
//!      output.write_all(line.as_bytes())?;
//!      output.write_all(b"\r\n")?;
//! -    output.flush()
//! +    Ok(())
//!  }
//! '''
//! ```
//!
//! `cargo lab check` applies each patch to a copy of the solution, grades it as a submission
//! would be graded, and fails when a mistake passes every test and the review (the kit's
//! lints, for what no test can see on loopback), when no failing message nor review comment
//! has the expected words (or a failing message has a forbidden word), or when grading it
//! takes longer than [`BUDGET`]: a student waiting a minute to learn of a missing flush
//! stops reading.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::grade::{Report, Status};
use crate::workspace::Exercise;

/// How long grading one wrong answer of one exercise may take.
pub const BUDGET: Duration = Duration::from_secs(20);

/// One known mistake of an exercise.
#[derive(Clone, Debug)]
pub struct Mistake {
    /// The file's name without `.toml`, e.g. `no-flush`.
    pub name: String,
    pub about: String,
    pub expect: Vec<String>,
    pub forbid: Vec<String>,
    /// The file of the solution it changes (relative to the solution's folder), and the
    /// changed text.
    pub file: PathBuf,
    pub patch: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MistakeFile {
    about: String,
    expect: Vec<String>,
    #[serde(default)]
    forbid: Vec<String>,
    patch: String,
}

/// The catalogue of `exercise`, in name order (empty when it has no `mistakes/` folder).
pub fn catalogue(exercise: &Exercise) -> anyhow::Result<Vec<Mistake>> {
    let dir = exercise.dir.join("mistakes");
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths.iter().map(|path| load(path)).collect()
}

fn load(path: &Path) -> anyhow::Result<Mistake> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: MistakeFile =
        toml::from_str(&text).with_context(|| format!("in {}", path.display()))?;
    if file.expect.is_empty() {
        bail!("{}: `expect` names no word", path.display());
    }
    let parsed = diffy::Patch::from_str(&file.patch)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let original = parsed
        .original()
        .with_context(|| format!("{}: the patch names no file (--- a/src/…)", path.display()))?;
    let file_path = PathBuf::from(original.strip_prefix("a/").unwrap_or(original));
    if !crate::grade::handout::is_plain_relative(&file_path) || !file_path.starts_with("src") {
        bail!(
            "{}: the patch must change a file under src/, not {}",
            path.display(),
            file_path.display()
        );
    }
    Ok(Mistake {
        name: path
            .file_stem()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        about: file.about,
        expect: file.expect,
        forbid: file.forbid,
        file: file_path,
        patch: file.patch,
    })
}

/// Writes the wrong answer as a submission in `into`: the solution's `src/` (from
/// `solution_dir`) with the patch applied, under `exercises/FOLDER/src/`.
pub fn stage(
    mistake: &Mistake,
    exercise: &Exercise,
    solution_dir: &Path,
    into: &Path,
) -> anyhow::Result<()> {
    let to = into.join("exercises").join(&exercise.folder);
    copy_dir(&solution_dir.join("src"), &to.join("src"))?;
    let target = to.join(&mistake.file);
    let original = fs::read_to_string(&target).with_context(|| {
        format!(
            "mistake {}: the solution has no {}",
            mistake.name,
            mistake.file.display()
        )
    })?;
    let patch = diffy::Patch::from_str(&mistake.patch)
        .map_err(|e| anyhow::anyhow!("mistake {}: {e}", mistake.name))?;
    let changed = diffy::apply(&original, &patch).map_err(|e| {
        anyhow::anyhow!(
            "mistake {}: the patch no longer applies to the solution ({e}): make it again \
             against solutions/{}/{}",
            mistake.name,
            exercise.folder,
            mistake.file.display()
        )
    })?;
    if changed == original {
        bail!("mistake {}: the patch changes nothing", mistake.name);
    }
    fs::write(&target, changed)?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// What grading a wrong answer showed.
#[derive(Clone, Debug, PartialEq)]
pub struct Judgement {
    /// Problems with the catalogue entry: empty when the mistake is caught, named, not
    /// contradicted and reported in time.
    pub problems: Vec<String>,
    /// How long its exercise's tests took.
    pub took: Duration,
}

/// Judges the report of a wrong answer against what its catalogue entry expects.
pub fn judge(mistake: &Mistake, report: &Report) -> Judgement {
    let mut problems = Vec::new();
    let took = report
        .exercises
        .iter()
        .map(|e| e.duration)
        .sum::<Duration>();
    let failing: Vec<_> = report
        .exercises
        .iter()
        .flat_map(|e| &e.tests)
        .filter(|t| t.status != Status::Passed)
        .collect();
    // What no test can see on loopback (a `write` whose count is ignored) the review names.
    let review: Vec<&String> = report.exercises.iter().flat_map(|e| &e.review).collect();
    if !report.complete || report.exercises.is_empty() {
        problems.push("grading did not finish".to_string());
    } else if failing.is_empty() && review.is_empty() {
        problems.push("passes every graded test: no test catches it".to_string());
    } else {
        let has =
            |message: &str, word: &String| message.to_lowercase().contains(&word.to_lowercase());
        let named = failing
            .iter()
            .map(|t| &t.message)
            .chain(review.iter().copied())
            .any(|message| mistake.expect.iter().all(|word| has(message, word)));
        if !named {
            let (name, said) = match failing.first() {
                Some(first) => (
                    format!("`{}` ({})", first.name, first.status.words()),
                    first_line(&first.message),
                ),
                None => ("the review".to_string(), first_line(review[0])),
            };
            problems.push(format!(
                "caught but not named: no failing message has {:?}; {name} says: {said}",
                mistake.expect,
            ));
        }
        for test in &failing {
            if let Some(word) = mistake.forbid.iter().find(|w| has(&test.message, w)) {
                problems.push(format!(
                    "misleading: `{}` says {word:?}: {}",
                    test.name,
                    first_line(&test.message)
                ));
            }
        }
    }
    if took > BUDGET {
        problems.push(format!(
            "reported after {:.1} s, more than the {} s a wrong answer may take",
            took.as_secs_f64(),
            BUDGET.as_secs()
        ));
    }
    Judgement { problems, took }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::stage::TempDir;

    const FLUSH: &str = r#"
about = "never flushes"
expect = ["flush"]
patch = '''
--- a/src/lib.rs
+++ b/src/lib.rs
@@ -1,3 +1,3 @@
 fn write() {
-    out.flush();
+    // nothing
 }
'''
"#;

    fn exercise(dir: &Path) -> Exercise {
        Exercise {
            folder: "ex09-demo".into(),
            dir: dir.to_path_buf(),
            package: "ex09".into(),
            solution: None,
            tests: Vec::new(),
        }
    }

    #[test]
    fn a_mistake_is_read_and_applied_to_a_copy_of_the_solution() {
        let temp = TempDir::new("mistakes-test").unwrap();
        let exercise_dir = temp.path().join("exercises/ex09-demo");
        fs::create_dir_all(exercise_dir.join("mistakes")).unwrap();
        fs::write(exercise_dir.join("mistakes/no-flush.toml"), FLUSH).unwrap();
        let solution = temp.path().join("solutions/ex09-demo");
        fs::create_dir_all(solution.join("src")).unwrap();
        // The hunk says line 1, the function is further down: the context finds it.
        let code = "// a comment\n\nfn write() {\n    out.flush();\n}\n";
        fs::write(solution.join("src/lib.rs"), code).unwrap();

        let exercise = exercise(&exercise_dir);
        let mistakes = catalogue(&exercise).unwrap();
        assert_eq!(mistakes.len(), 1);
        assert_eq!(mistakes[0].name, "no-flush");
        assert_eq!(mistakes[0].file, Path::new("src/lib.rs"));
        let into = temp.path().join("staged");
        stage(&mistakes[0], &exercise, &solution, &into).unwrap();
        let changed = fs::read_to_string(into.join("exercises/ex09-demo/src/lib.rs")).unwrap();
        assert_eq!(changed, "// a comment\n\nfn write() {\n    // nothing\n}\n");
        // The solution itself is untouched.
        assert_eq!(
            fs::read_to_string(solution.join("src/lib.rs")).unwrap(),
            code
        );

        // A solution that changed so that the patch no longer fits is reported.
        fs::write(solution.join("src/lib.rs"), "fn write() {}\n").unwrap();
        let error = stage(
            &mistakes[0],
            &exercise,
            &solution,
            &temp.path().join("again"),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("no longer applies"), "{error}");
    }

    #[test]
    fn a_patch_outside_src_is_refused() {
        let temp = TempDir::new("mistakes-test").unwrap();
        let dir = temp.path().join("mistakes");
        fs::create_dir_all(&dir).unwrap();
        let outside = FLUSH.replace("a/src/lib.rs", "a/tests/graded.rs");
        fs::write(dir.join("sneaky.toml"), outside).unwrap();
        let error = catalogue(&exercise(temp.path())).unwrap_err().to_string();
        assert!(error.contains("under src/"), "{error}");
    }

    /// A report of one exercise with one test: failed with `message`, or passed when it is
    /// empty; and `review`, the review's comments.
    fn graded(message: &str, review: &[&str]) -> Report {
        use crate::grade::{ExerciseResult, Graded, Isolation, Points, TestResult};
        let status = if message.is_empty() {
            Status::Passed
        } else {
            Status::Failed
        };
        Report {
            graded: Graded::Exercises,
            exercises: vec![ExerciseResult {
                id: "ex09".into(),
                folder: "ex09-demo".into(),
                package: "ex09".into(),
                compile_error: None,
                tests: vec![TestResult {
                    name: "sends_a_line".into(),
                    status,
                    points: Points::ZERO,
                    max_points: Points::from_hundredths(100),
                    message: message.into(),
                    duration: None,
                }],
                max_points: Points::from_hundredths(100),
                duration: Duration::from_secs(1),
                review: review.iter().map(|c| c.to_string()).collect(),
            }],
            duration: Duration::from_secs(1),
            notes: Vec::new(),
            complete: true,
            isolation: Isolation::InPlace,
        }
    }

    fn flush_mistake() -> Mistake {
        Mistake {
            name: "no-flush".into(),
            about: "never flushes".into(),
            expect: vec!["flush".into()],
            forbid: vec!["shutdown".into()],
            file: "src/lib.rs".into(),
            patch: String::new(),
        }
    }

    #[test]
    fn a_mistake_is_judged_by_its_failing_messages_and_the_review() {
        let mistake = flush_mistake();
        let problems = |report: &Report| judge(&mistake, report).problems;
        assert!(problems(&graded("nothing came back: did you Flush?", &[])).is_empty());
        assert!(
            problems(&graded("", &[]))
                .concat()
                .contains("no test catches it")
        );
        assert!(
            problems(&graded("nothing came back", &[]))
                .concat()
                .contains("not named")
        );
        // What no test sees, the review may name.
        assert!(problems(&graded("", &["call flush"])).is_empty());
        assert!(problems(&graded("nothing came back", &["call flush"])).is_empty());
        let misleading = problems(&graded("flush, then shutdown", &[])).concat();
        assert!(misleading.contains("misleading"), "{misleading}");
    }

    /// `cargo lab check` runs the review only when the tests alone leave a problem: that is
    /// right only while a review's comments can never add one.
    #[test]
    fn a_review_never_adds_a_problem_to_a_judgement() {
        let mistake = flush_mistake();
        for message in [
            "",
            "nothing came back",
            "did you flush?",
            "flush, then shutdown",
        ] {
            let without = judge(&mistake, &graded(message, &[])).problems.len();
            for review in [&["call flush"][..], &["shutdown first"], &["a", "b"]] {
                let with = judge(&mistake, &graded(message, review)).problems.len();
                assert!(with <= without, "{message:?} with review {review:?}");
            }
        }
    }
}
