//! Grading submissions: one (`--submission DIR`, what the Gradescope autograder runs) or a
//! whole class (`--batch DIR`, one submission per subfolder, a gradebook row each).
//!
//! First the [`Base`]: the kit's handout with its graded tests sealed, built once (in the
//! sandbox, at the paths every submission will have) into a target folder of the grader's
//! own. It holds the dependencies' build, and the names of every graded test, listed from
//! the kit's skeletons. It is built from the kit alone, never from a submission, and kept
//! between runs (`target/grade-base`), so a warm grader starts at once.
//!
//! Then each submission gets a fresh copy of the base's kit with its `src/` files put in
//! ([`super::stage`]) and a fresh copy of the base's build: nothing one submission's build
//! writes is ever seen by another. A submission that cannot be graded costs its own row
//! (zero points and the reason), never the batch.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::sandbox::{self, Sandbox};
use super::stage::{self, TempDir};
use super::{
    Config, Event, Graded, Isolation, Limits, Listings, Plan, Report, build, grade_with, handout,
    place::Place, run,
};
use crate::process;
use crate::workspace::{self, Exercise};

/// How long building the base may take: a cold build of the harness and its dependencies
/// takes minutes on a small machine.
const BASE_BUILD_LIMIT: Duration = Duration::from_secs(30 * 60);

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
    /// The sandbox, or `None` with `--unsandboxed`.
    pub sandbox: Option<&'a Sandbox>,
    /// The code graded is the kit's own (`cargo lab check`'s known mistakes), not a
    /// student's: the base's dependency builds may be hard-linked rather than copied.
    pub own_code: bool,
}

impl Kit<'_> {
    fn isolation(&self) -> Isolation {
        if self.sandbox.is_some() {
            Isolation::Sandbox
        } else {
            Isolation::Unsandboxed
        }
    }
}

/// The crate names of the kit's own packages (not registry dependencies): the exercises,
/// their solutions, the harness and the `lab` command.
pub fn workspace_crates(exercises: &[Exercise]) -> Vec<String> {
    let mut crates: Vec<String> = exercises
        .iter()
        .flat_map(|e| {
            let name = e.package.replace('-', "_");
            [format!("{name}_solution"), name]
        })
        .collect();
    crates.extend(["lab_harness", "lab_cli", "bench_peers"].map(String::from));
    crates
}

/// The kit's target folder: `CARGO_TARGET_DIR`, or `target/`.
pub fn kit_target(kit_root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_relative() {
                kit_root.join(dir)
            } else {
                dir
            }
        })
        .unwrap_or_else(|| kit_root.join("target"))
}

/// Starts a new target folder (`target`, not made yet) for a build of the kit's own code
/// from the registry dependencies that the kit's own build made already (hard links, see
/// [`stage::seed_dependencies`]): right after `cargo test`, `cargo lab check`'s base, a
/// handout's check or a test's kit copy then builds the kit's crates only, not a minute or
/// two of dependencies again. Only registry dependencies are taken, never the kit's own
/// crates (the solutions among them), and only for folders that the kit's own code builds.
/// Best effort: whatever is missing, cargo builds.
pub fn seed_from_kit_build(kit_root: &Path, target: &Path, exercises: &[Exercise]) {
    seed_from_kit_build_in(&kit_target(kit_root).join("debug"), target, exercises);
}

/// [`seed_from_kit_build`] from the kit's build in `kit_debug` (a target folder's `debug`).
pub fn seed_from_kit_build_in(kit_debug: &Path, target: &Path, exercises: &[Exercise]) {
    if target.exists() || !kit_debug.is_dir() {
        return;
    }
    let _ = stage::seed_dependencies(
        kit_debug,
        &target.join("debug"),
        &workspace_crates(exercises),
    );
}

/// The kit's sealed handout, built: what every submission starts from.
pub struct Base {
    kit: PathBuf,
    target: PathBuf,
    etc: PathBuf,
    listings: Listings,
    /// What every graded test of each skeleton gave in the base (package → results): the
    /// result of an exercise a submission hands in unchanged ([`grade_submission`]).
    skeletons: Skeletons,
    /// Held while grading: two graders must not rebuild one base under each other.
    _lock: BaseLock,
}

/// Package → what each of its graded tests gave, in the order the grader reports them.
pub type Skeletons = BTreeMap<String, Vec<run::RawResult>>;

impl Base {
    /// Builds (or brings up to date) the base of `kit` in its target folder.
    pub fn prepare(kit: &Kit, progress: &mut dyn FnMut(Event)) -> anyhow::Result<Base> {
        let name = if kit.sandbox.is_some() {
            "grade-base"
        } else {
            "grade-base-unsandboxed"
        };
        let dir = kit_target(kit.root).join(name);
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let lock = BaseLock::take(&dir.join("lock"))?;
        let base_kit = dir.join("kit");
        if base_kit.exists() {
            fs::remove_dir_all(&base_kit)
                .with_context(|| format!("cannot clear {}", base_kit.display()))?;
        }
        let files = handout::files(kit.root, kit.exercises, Some(&kit_target(kit.root)))?;
        let manifest_time = fs::metadata(kit.root.join("Cargo.toml"))?.modified()?;
        stage::write_files(&files, &base_kit, manifest_time, false)
            .with_context(|| format!("cannot write {}", base_kit.display()))?;
        // The handout's workspace has fewer members than the kit's: its lock file must list
        // only theirs, or a `--locked` build refuses it. Its time stays the kit's.
        super::committed::prune_lock(&base_kit)?;
        fs::File::options()
            .write(true)
            .open(base_kit.join("Cargo.lock"))?
            .set_modified(fs::metadata(kit.root.join("Cargo.lock"))?.modified()?)?;
        let mut exercises = workspace::exercises(&base_kit)?;
        stage::seal_tests(&base_kit, &exercises)?;
        let contents = date_by_contents(&base_kit, &dir.join("kit-files"))
            .with_context(|| format!("cannot date {}", base_kit.display()))?;
        // Only what will be graded is built, listed and checked (the rest, next time).
        if !kit.only.is_empty() {
            exercises.retain(|e| kit.only.iter().any(|id| id == e.id() || *id == e.folder));
        }
        let etc = dir.join("etc");
        sandbox::write_etc(&etc)?;
        let target = dir.join("target");
        // The base of `cargo lab check`'s workbenches (the kit's own code, no sandbox).
        let for_workbenches = kit.own_code && kit.sandbox.is_none();
        if for_workbenches {
            // `cargo lab check` right after the kit's own build (CI). Never for a base whose
            // build is copied for every submission: it would copy every dependency the kit
            // has built (the `lab` command's among them), not only the exercises'.
            seed_from_kit_build(kit.root, &target, kit.exercises);
        }
        fs::create_dir_all(&target)?;

        let mut place = Place::staged(
            &base_kit,
            &target,
            kit.sandbox.map(|s| (s.clone(), etc.clone())),
        );
        if for_workbenches {
            // The workbenches build with cargo's incremental cache, and cargo counts
            // that setting in a build's fingerprint: built without it, the harness and the
            // exercise here would be compiled again in every workbench.
            place = place.incremental();
        }
        let packages: Vec<&str> = exercises.iter().map(|e| e.package.as_str()).collect();
        let mut targets: Vec<String> = exercises.iter().flat_map(super::test_targets).collect();
        targets.sort();
        targets.dedup();
        progress(Event::Preparing);
        let built = build::build(&place, &packages, &targets, BASE_BUILD_LIMIT)
            .context("cannot run cargo")?;
        if built.failure.is_none() {
            prepare_review(&place, &packages, &dir.join("review-prepared"), &contents)?;
        }
        if process::interrupted() {
            bail!("interrupted while building the kit");
        }
        let listings = list_graded_tests(&place, &built, &exercises)?;
        for ((package, _), names) in &listings {
            // The seal must run before every graded test (libtest runs them in name
            // order); a verdict log would say so anyway, this says it once, clearly.
            if let Some(name) = names.iter().find(|n| n.as_str() < lab_harness::SEAL_TEST) {
                bail!(
                    "the graded test `{name}` of {package} sorts before the grader's seal test \
                     (`{}`): rename it (test names are snake_case)",
                    lab_harness::SEAL_TEST
                );
            }
        }
        let skeletons = verify_skeletons(&place, &exercises, &built, &listings, &dir, &contents)?;
        Ok(Base {
            kit: base_kit,
            target,
            etc,
            listings,
            skeletons,
            _lock: lock,
        })
    }
}

/// Checks that every exercise of the base is still a skeleton: each of its graded tests fails
/// with "not yet implemented". A submission that leaves an exercise out is graded with the
/// kit's copy of it, so an exercise the instructor solved in the kit's folder would give
/// every such student its points. Checked once for each contents of the base's kit (`stamp`,
/// see [`date_by_contents`]): its skeletons and its graded tests; what the tests gave is kept
/// beside the stamp and returned.
fn verify_skeletons(
    place: &Place,
    exercises: &[Exercise],
    built: &build::Build,
    listings: &Listings,
    dir: &Path,
    stamp: &str,
) -> anyhow::Result<Skeletons> {
    let stamp_path = dir.join("skeletons-verified");
    let results_path = dir.join("skeletons-results.json");
    if fs::read_to_string(&stamp_path).is_ok_and(|old| old == stamp)
        && let Some(skeletons) = fs::read_to_string(&results_path)
            .ok()
            .and_then(|text| stored::read(&text))
            .filter(|s| exercises.iter().all(|e| s.contains_key(&e.package)))
    {
        return Ok(skeletons);
    }
    // The stamp goes first and comes back last: a grader stopped in between checks again.
    let _ = fs::remove_file(&stamp_path);
    let scratch = TempDir::new("skeletons").context("cannot create a temporary folder")?;
    let skeletons = skeleton_results(place, exercises, built, listings, scratch.path())?;
    if let Some((exercise, result)) = first_not_started(exercises, &skeletons) {
        bail!(
            "the kit's {} is not a skeleton any more: its test `{}` {} ({}); a submission \
             without that exercise would be graded with it. Restore its src/ (for example \
             `git checkout -- exercises/{}/src`) or grade from a clean copy of the kit",
            exercise.folder,
            result.name,
            result.status.words(),
            result.message.lines().next().unwrap_or("no message"),
            exercise.folder
        );
    }
    fs::write(&results_path, stored::write(&skeletons))?;
    fs::write(&stamp_path, stamp)?;
    Ok(skeletons)
}

/// Prepares the review of each submission (clippy), which needs the dependencies of the
/// exercises it reviews checked in clippy's own way, apart from the build: done once in the
/// base, every copy of it has them, instead of each submission checking `libc` and `socket2`
/// again (about 1.5 s of the compiler's time for a whole kit). What clippy says of the
/// skeletons is not needed. `record` holds the contents `stamp` and the packages prepared for
/// it, so that a warm grader runs nothing here and leaves the base as it was.
fn prepare_review(
    place: &Place,
    packages: &[&str],
    record: &Path,
    stamp: &str,
) -> anyhow::Result<()> {
    let text = fs::read_to_string(record).unwrap_or_default();
    let (missing, updated) = review_to_prepare(&text, stamp, packages);
    if missing.is_empty() {
        return Ok(());
    }
    build::review(place, &missing, BASE_BUILD_LIMIT).context("cannot run cargo")?;
    fs::write(record, updated)?;
    Ok(())
}

/// The `packages` whose review is not prepared yet according to the `record` text (for the
/// base's contents `stamp`), and the record's text once they are.
fn review_to_prepare<'p>(
    record: &str,
    stamp: &str,
    packages: &[&'p str],
) -> (Vec<&'p str>, String) {
    let mut lines = record.lines();
    let mut prepared: Vec<&str> = if lines.next() == Some(stamp) {
        lines.collect()
    } else {
        Vec::new()
    };
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|package| !prepared.contains(package))
        .collect();
    prepared.extend(&missing);
    (missing, format!("{stamp}\n{}\n", prepared.join("\n")))
}

/// The names of the graded tests of `exercises`, listed by their test binaries in `built`.
/// An error when one of them did not build (the kit's own code must).
pub(super) fn list_graded_tests(
    place: &Place,
    built: &build::Build,
    exercises: &[Exercise],
) -> anyhow::Result<Listings> {
    let mut listings = Listings::new();
    for exercise in exercises {
        for target in super::test_targets(exercise) {
            let Some(executable) = built.executable(&exercise.package, &target) else {
                bail!(
                    "the kit's own {} does not build for grading: {}",
                    exercise.folder,
                    built.why_not_built(&exercise.package, &target)
                );
            };
            let names = run::list(&place.host_path(executable), Duration::from_secs(60))?
                .map_err(anyhow::Error::msg)?;
            listings.insert((exercise.package.clone(), target), names);
        }
    }
    Ok(listings)
}

/// The first exercise (with its test) of which a graded test does not fail with "not yet
/// implemented", or `None` when every one does: the check that a kit (or a handout) is made
/// of skeletons. Used by the grader's base and by `committed::students_copy`.
pub(super) fn first_not_skeleton<'a>(
    place: &Place,
    exercises: &'a [Exercise],
    built: &build::Build,
    listings: &Listings,
    scratch: &Path,
) -> anyhow::Result<Option<(&'a Exercise, run::RawResult)>> {
    let skeletons = skeleton_results(place, exercises, built, listings, scratch)?;
    Ok(first_not_started(exercises, &skeletons).map(|(e, r)| (e, r.clone())))
}

/// Runs every graded test of `exercises` (skeletons), each as the grader runs it: what each
/// gave, by package, under the names the grader reports. Stops at the first exercise that is
/// not a skeleton any more, with only the results that show it.
fn skeleton_results(
    place: &Place,
    exercises: &[Exercise],
    built: &build::Build,
    listings: &Listings,
    scratch: &Path,
) -> anyhow::Result<Skeletons> {
    let mut skeletons = Skeletons::new();
    for exercise in exercises {
        let targets = super::test_targets(exercise);
        let mut tests = Vec::new();
        for target in &targets {
            let key = (exercise.package.clone(), target.clone());
            let (Some(names), Some(executable)) = (
                listings.get(&key),
                built.executable(&exercise.package, target),
            ) else {
                continue;
            };
            tests.extend(names.iter().map(|name| run::TestToRun {
                shown: super::qualified(&targets, target, name),
                name: name.clone(),
                executable: executable.to_string(),
                package: exercise.package.clone(),
                package_dir: Path::new("exercises").join(&exercise.folder),
            }));
        }
        // One test that is not "not started" is enough to refuse the kit: the others are
        // stopped rather than waited for (an exercise solved in the kit may have tests that
        // hang or spin until their deadlines), and the exercises after it are not run.
        let not_a_skeleton = |r: &run::RawResult| r.status != super::Status::NotStarted;
        let results = run::run_tests_until(place, &tests, SKELETON_LIMIT, scratch, &not_a_skeleton);
        if process::interrupted() {
            bail!("interrupted while checking the kit's skeletons");
        }
        let refused = results.iter().any(not_a_skeleton);
        skeletons.insert(exercise.package.clone(), results);
        if refused {
            break;
        }
    }
    Ok(skeletons)
}

/// The first exercise with a test that did not end "not started", and that test's result.
fn first_not_started<'a, 'r>(
    exercises: &'a [Exercise],
    skeletons: &'r Skeletons,
) -> Option<(&'a Exercise, &'r run::RawResult)> {
    exercises.iter().find_map(|exercise| {
        skeletons
            .get(&exercise.package)?
            .iter()
            .find(|r| r.status != super::Status::NotStarted)
            .map(|result| (exercise, result))
    })
}

/// How long one exercise's skeleton tests may take (they stop at the first `todo!()`).
const SKELETON_LIMIT: Duration = Duration::from_secs(60);

/// Gives every file of the base's kit (at `kit`) a modification time that changes when, and
/// only when, its contents change, and returns a digest of all their contents.
///
/// Cargo takes a build for fresh when it is newer than the sources. The base's kit is written
/// afresh for every grading run, and the times it would inherit from the kit can be older than
/// a build in the base's target folder of *other* contents: a copy of the kit that kept its
/// times, another kit graded into the same target folder, a skeleton edited and put back.
/// Cargo would then grade with that build. So each file keeps the time it was given the last
/// time it had these contents (recorded in `record`), or gets the current time.
fn date_by_contents(kit: &Path, record: &Path) -> anyhow::Result<String> {
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};
    use std::time::{SystemTime, UNIX_EPOCH};

    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                walk(&entry.path(), out)?;
            } else {
                out.push(entry.path());
            }
        }
        Ok(())
    }
    // `HASH NANOS PATH` per line: the contents' hash, the time given, the path in the kit.
    let old: BTreeMap<String, (String, u128)> = fs::read_to_string(record)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (hash, rest) = line.split_once(' ')?;
            let (nanos, path) = rest.split_once(' ')?;
            Some((path.to_string(), (hash.to_string(), nanos.parse().ok()?)))
        })
        .collect();
    let mut files = Vec::new();
    walk(kit, &mut files)?;
    files.sort();
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let mut lines = Vec::new();
    let mut all = DefaultHasher::new();
    for file in files {
        let bytes = fs::read(&file)?;
        let mut one = DefaultHasher::new();
        bytes.hash(&mut one);
        let hash = format!("{:016x}", one.finish());
        let path = file.strip_prefix(kit)?.to_string_lossy().into_owned();
        let nanos = match old.get(&path) {
            Some((old_hash, nanos)) if *old_hash == hash => *nanos,
            _ => now,
        };
        let time = UNIX_EPOCH + Duration::from_nanos(u64::try_from(nanos)?);
        fs::File::options()
            .write(true)
            .open(&file)?
            .set_modified(time)?;
        (&path, &hash).hash(&mut all);
        lines.push(format!("{hash} {nanos} {path}"));
    }
    fs::write(record, lines.join("\n"))?;
    Ok(format!("{:016x}", all.finish()))
}

/// A folder that exists while one grader uses a base: making a folder is atomic on every
/// system (std's file locks need a newer Rust than the kit asks of students).
struct BaseLock(PathBuf);

impl BaseLock {
    /// How long to wait for another grader before giving up.
    const PATIENCE: Duration = Duration::from_secs(30 * 60);

    fn take(path: &Path) -> anyhow::Result<BaseLock> {
        let started = Instant::now();
        let mut said = false;
        loop {
            match fs::create_dir(path) {
                Ok(()) => {
                    fs::write(path.join("pid"), std::process::id().to_string())?;
                    return Ok(BaseLock(path.to_path_buf()));
                }
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(error) => {
                    return Err(error).with_context(|| format!("cannot create {}", path.display()));
                }
            }
            let owner = fs::read_to_string(path.join("pid")).unwrap_or_default();
            if !alive(owner.trim()) {
                // Left behind by a grader that was killed: take it over.
                let _ = fs::remove_dir_all(path);
                continue;
            }
            if started.elapsed() > Self::PATIENCE {
                bail!(
                    "another grader (process {}) has been using {} for {} minutes",
                    owner.trim(),
                    path.display(),
                    Self::PATIENCE.as_secs() / 60
                );
            }
            if !said {
                eprintln!(
                    "waiting for another grader (process {}) of this kit …",
                    owner.trim()
                );
                said = true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for BaseLock {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Whether the process `pid` still runs: on Linux (where submissions are graded) its `/proc`
/// entry says; elsewhere assume it does (the lock then waits its patience out).
fn alive(pid: &str) -> bool {
    if pid.is_empty() || pid == std::process::id().to_string() {
        return false;
    }
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid).exists()
    } else {
        true
    }
}

/// Grades one submission against the kit. A submission without any exercise folder is
/// graded as if nothing had been done (with a note), so there is always a full report.
pub fn grade_submission(
    kit: &Kit,
    base: &Base,
    submission: &Path,
    progress: &mut dyn FnMut(Event),
) -> anyhow::Result<Report> {
    if !submission.is_dir() {
        bail!("the submission is not a folder");
    }
    let (staged, staged_kit, staged_target) = copy_of_base(base, "grade", None)?;
    // A fresh copy of the base's build: an exercise handed in unchanged is the base's own.
    let overlaid = stage::overlay(kit.exercises, submission, &staged_kit, true)?;
    let unchanged: Skeletons = kit
        .exercises
        .iter()
        .filter(|e| !overlaid.changed.contains(&e.folder))
        .filter_map(|e| Some((e.package.clone(), base.skeletons.get(&e.package)?.clone())))
        .collect();
    let staging = Staging {
        kit: &staged_kit,
        target: &staged_target,
        scratch: &staged.path().join("verdicts"),
        incremental: false,
        unchanged: &unchanged,
    };
    grade_staged(kit, base, &staging, overlaid.notes, true, progress)
}

/// A copy of the base's kit and build in a new temporary folder (named with `label`): the
/// folder, the kit and the target folder. With `linking` (the crates of the kit's own code),
/// the registry dependencies' builds are hard-linked rather than copied: only for the kit's
/// own code, whose build never writes to them.
fn copy_of_base(
    base: &Base,
    label: &str,
    linking: Option<&[String]>,
) -> anyhow::Result<(TempDir, PathBuf, PathBuf)> {
    let dir = TempDir::new(label).context("cannot create a temporary folder")?;
    let kit = dir.path().join("kit");
    let target = dir.path().join("target");
    stage::copy_tree(&base.kit, &kit).context("cannot copy the kit")?;
    match linking {
        Some(members) => stage::copy_build_linking_dependencies(&base.target, &target, members),
        None => stage::copy_tree(&base.target, &target),
    }
    .context("cannot copy the kit's build")?;
    Ok((dir, kit, target))
}

/// Where a submission is graded: the kit with its files in place, the build, and a folder
/// for the verdict logs.
struct Staging<'a> {
    kit: &'a Path,
    target: &'a Path,
    scratch: &'a Path,
    /// Built again and again (a workbench): keep cargo's incremental cache.
    incremental: bool,
    /// The exercises handed in as handed out, with the base's results for them.
    unchanged: &'a Skeletons,
}

/// Grades the submission put in place at `staging`; `notes` (from staging) go first in the
/// report. Without `review`, clippy's review is left out (see [`Workbench::review`]).
fn grade_staged(
    kit: &Kit,
    base: &Base,
    staging: &Staging,
    notes: Vec<String>,
    review: bool,
    progress: &mut dyn FnMut(Event),
) -> anyhow::Result<Report> {
    let mut exercises = workspace::exercises(staging.kit).context("cannot list the exercises")?;
    if !kit.only.is_empty() {
        exercises.retain(|e| kit.only.iter().any(|id| id == e.id() || *id == e.folder));
    }
    let mut place = Place::staged(
        staging.kit,
        staging.target,
        kit.sandbox.map(|s| (s.clone(), base.etc.clone())),
    );
    if staging.incremental {
        place = place.incremental();
    }
    let plan = Plan {
        place: &place,
        exercises: &exercises,
        graded: Graded::Exercises,
        config: kit.config,
        limits: kit.limits,
        listings: Some(&base.listings),
        scratch: staging.scratch,
        isolation: kit.isolation(),
        unchanged: staging.unchanged,
    };
    let mut report = grade_with(&plan, review, progress)?;
    report.notes.splice(0..0, notes);
    if let Some(sandbox) = kit.sandbox {
        let missing = sandbox.shortcomings().into_iter();
        report
            .notes
            .extend(missing.map(|m| format!("sandbox: {m}")));
    }
    Ok(report)
}

/// A staging area that grades the kit's *own* code over and over (`cargo lab check`'s known
/// mistakes, one after another): the base's kit and build are copied into it once, and each
/// mistake then only puts its `src/` files in place, so that cargo rebuilds that exercise and
/// nothing else. Copying the base's build (thousands of files) for every mistake, then
/// deleting it, cost more than grading the mistake: creating files was over half of the
/// check's processor time. Never for a submission: a student's build could leave anything
/// behind for the next one, which is why [`grade_submission`] starts from a fresh copy.
pub struct Workbench {
    dir: TempDir,
    kit: PathBuf,
    target: PathBuf,
    graded: usize,
}

impl Workbench {
    pub fn new(kit: &Kit, base: &Base) -> anyhow::Result<Workbench> {
        if !kit.own_code || kit.sandbox.is_some() {
            bail!("a workbench grades only the kit's own code, without a sandbox");
        }
        // The registry dependencies' libraries (most of the build) are only read by a build
        // of the kit's code: hard links, not copies.
        let members = workspace_crates(kit.exercises);
        let (dir, staged_kit, staged_target) = copy_of_base(base, "workbench", Some(&members))?;
        Ok(Workbench {
            dir,
            kit: staged_kit,
            target: staged_target,
            graded: 0,
        })
    }

    /// Grades `submission` (the kit's own code) as [`grade_submission`] would, but without
    /// clippy's review: [`Workbench::review`] adds it afterwards, when it is needed.
    pub fn grade(
        &mut self,
        kit: &Kit,
        base: &Base,
        submission: &Path,
        progress: &mut dyn FnMut(Event),
    ) -> anyhow::Result<Report> {
        if !submission.is_dir() {
            bail!("the submission is not a folder");
        }
        // Back to the handout's files for every exercise graded, so that nothing of the
        // previous submission's `src/` stays (a file it added, a file this one leaves out).
        // Every file the submission brings is written anew, with a new time: cargo sees it
        // changed and rebuilds.
        for exercise in kit.exercises {
            let graded = kit
                .only
                .iter()
                .any(|id| id == exercise.id() || *id == exercise.folder);
            if !kit.only.is_empty() && !graded {
                continue;
            }
            let relative = Path::new("exercises").join(&exercise.folder).join("src");
            let src = self.kit.join(&relative);
            if src.exists() {
                fs::remove_dir_all(&src)
                    .with_context(|| format!("cannot clear {}", src.display()))?;
            }
            stage::copy_tree(&base.kit.join(&relative), &src)
                .with_context(|| format!("cannot restore {}", src.display()))?;
        }
        // Every file written anew (`keep_identical` false): this target folder holds builds
        // of earlier submissions, which the handout's old times could pass for.
        let notes = stage::overlay(kit.exercises, submission, &self.kit, false)?.notes;
        self.graded += 1;
        let scratch = self.dir.path().join(format!("verdicts-{}", self.graded));
        let staging = Staging {
            kit: &self.kit,
            target: &self.target,
            scratch: &scratch,
            incremental: true,
            unchanged: &Skeletons::new(),
        };
        let report = grade_staged(kit, base, &staging, notes, false, progress);
        let _ = fs::remove_dir_all(&scratch);
        report
    }

    /// Adds clippy's review of the last submission graded to its `report`, as
    /// [`grade_submission`] gives it (the exercises that compiled, within the build's time
    /// limit). `cargo lab check` asks for it only when the tests alone do not catch and name
    /// a mistake: the review can add a comment that names it, never take a failure away, and
    /// it cost about a seventh of the check's processor time when run for every mistake.
    pub fn review(&self, kit: &Kit, report: &mut Report) -> anyhow::Result<()> {
        let compiled: Vec<&str> = report
            .exercises
            .iter()
            .filter(|e| e.compile_error.is_none())
            .map(|e| e.package.as_str())
            .collect();
        if compiled.is_empty() {
            return Ok(());
        }
        let place = Place::staged(&self.kit, &self.target, None).incremental();
        let review =
            build::review(&place, &compiled, kit.limits.build).context("cannot run cargo")?;
        report.notes.extend(review.note);
        for exercise in &mut report.exercises {
            if let Some(comments) = review.comments.get(&exercise.package) {
                exercise.review = comments.clone();
            }
        }
        Ok(())
    }
}

/// The subfolders of `dir`, one per student, in name order.
pub fn submissions(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
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
    Ok(folders)
}

/// The student's name for a submission folder.
pub fn student(folder: &Path) -> String {
    folder
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

/// Grades every submission in `folders`, handing each to `done` as soon as it is graded (so
/// a gradebook can be written row by row), and stops early when grading is interrupted (the
/// interrupted submission is handed over too, its report marked incomplete).
pub fn grade_batch(
    kit: &Kit,
    folders: &[PathBuf],
    progress: &mut dyn FnMut(BatchEvent),
    done: &mut dyn FnMut(&Submission) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let base = Base::prepare(kit, &mut |event| progress(BatchEvent::Exercise(event)))?;
    let count = folders.len();
    for (index, folder) in folders.iter().enumerate() {
        if process::interrupted() {
            break;
        }
        let student = student(folder);
        progress(BatchEvent::Started {
            index,
            count,
            student: &student,
        });
        let started = Instant::now();
        let outcome = if stage::find_exercises(folder, kit.exercises).is_none() {
            Err("no exercises/ folder (nor exercise folders) in the submission".to_string())
        } else {
            grade_submission(kit, &base, folder, &mut |event| {
                progress(BatchEvent::Exercise(event));
            })
            .map_err(|error| scrub(&format!("{error:#}"), folder))
        };
        let submission = Submission { student, outcome };
        done(&submission)?;
        progress(BatchEvent::Finished {
            index,
            count,
            submission: &submission,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    Ok(())
}

/// `text` without the grading machine's path to the submission: a reason goes into the
/// gradebook, which may be shared.
fn scrub(text: &str, submission: &Path) -> String {
    let mut text = text.to_string();
    for path in [
        submission.canonicalize().ok(),
        Some(submission.to_path_buf()),
    ]
    .into_iter()
    .flatten()
    {
        let shown = path.display().to_string();
        if !shown.is_empty() {
            text = text.replace(&shown, "<submission>");
        }
    }
    text
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

/// The base's skeleton results on disk (`skeletons-results.json`, next to its stamp), so that
/// a warm grader has them without running the skeletons again. Written by the grader alone,
/// in its own target folder, never where a submission runs.
mod stored {
    use std::time::Duration;

    use serde::{Deserialize, Serialize};

    use super::Skeletons;
    use crate::grade::{Status, run::RawResult};

    #[derive(Serialize, Deserialize)]
    struct Stored {
        package: String,
        name: String,
        status: String,
        message: String,
        micros: Option<u64>,
    }

    pub fn write(skeletons: &Skeletons) -> String {
        let rows: Vec<Stored> = skeletons
            .iter()
            .flat_map(|(package, results)| {
                results.iter().map(move |r| Stored {
                    package: package.clone(),
                    name: r.name.clone(),
                    status: r.status.key().to_string(),
                    message: r.message.clone(),
                    micros: r.duration.map(|d| d.as_micros() as u64),
                })
            })
            .collect();
        serde_json::to_string(&rows).unwrap_or_default()
    }

    /// `None` when the file is not what [`write`] wrote (then the skeletons are run again).
    pub fn read(text: &str) -> Option<Skeletons> {
        let rows: Vec<Stored> = serde_json::from_str(text).ok()?;
        let mut skeletons = Skeletons::new();
        for row in rows {
            let result = RawResult {
                name: row.name,
                status: Status::from_key(&row.status)?,
                message: row.message,
                duration: row.micros.map(Duration::from_micros),
            };
            skeletons.entry(row.package).or_default().push(result);
        }
        Some(skeletons)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_do_not_show_where_the_submission_is() {
        let path = Path::new("/home/ta/class/bob");
        assert_eq!(
            scrub("cannot copy /home/ta/class/bob/exercises/x: denied", path),
            "cannot copy <submission>/exercises/x: denied"
        );
    }

    #[test]
    fn stored_skeleton_results_read_back_as_written() {
        use super::run::RawResult;
        let mut skeletons = Skeletons::new();
        skeletons.insert(
            "ex01".to_string(),
            vec![
                RawResult {
                    name: "a_test".to_string(),
                    status: crate::grade::Status::NotStarted,
                    message: "not yet implemented: \"quoted\"\nand a second line".to_string(),
                    duration: Some(Duration::from_micros(1234)),
                },
                RawResult {
                    name: "b_test".to_string(),
                    status: crate::grade::Status::TimedOut,
                    message: String::new(),
                    duration: None,
                },
            ],
        );
        assert_eq!(stored::read(&stored::write(&skeletons)), Some(skeletons));
        assert_eq!(stored::read("not json"), None);
        assert_eq!(
            stored::read(
                r#"[{"package":"ex01","name":"t","status":"won","message":"","micros":null}]"#
            ),
            None,
            "an unknown status is not taken"
        );
    }

    #[test]
    fn the_base_s_files_are_dated_by_their_contents() {
        let temp = TempDir::new("dating").unwrap();
        let kit = temp.path().join("kit");
        let record = temp.path().join("kit-files");
        fs::create_dir_all(kit.join("src")).unwrap();
        let write = |path: &str, text: &str| {
            fs::write(kit.join(path), text).unwrap();
            // As the base's kit is written: with the kit's (old) times.
            fs::File::options()
                .write(true)
                .open(kit.join(path))
                .unwrap()
                .set_modified(std::time::UNIX_EPOCH + Duration::from_secs(1))
                .unwrap();
        };
        let time = |path: &str| fs::metadata(kit.join(path)).unwrap().modified().unwrap();
        write("src/lib.rs", "// skeleton");
        write("Cargo.toml", "[package]");
        let first = date_by_contents(&kit, &record).unwrap();
        let (lib, manifest) = (time("src/lib.rs"), time("Cargo.toml"));
        assert!(
            lib > std::time::UNIX_EPOCH + Duration::from_secs(1),
            "new contents, new time"
        );

        // Written again with the same contents and old times: the times given before.
        write("src/lib.rs", "// skeleton");
        write("Cargo.toml", "[package]");
        assert_eq!(date_by_contents(&kit, &record).unwrap(), first);
        assert_eq!((time("src/lib.rs"), time("Cargo.toml")), (lib, manifest));

        // Other contents (a solved skeleton): a newer time for that file only.
        write("src/lib.rs", "// solved");
        let solved = date_by_contents(&kit, &record).unwrap();
        assert_ne!(solved, first);
        assert!(time("src/lib.rs") > lib);
        assert_eq!(time("Cargo.toml"), manifest);

        // Back to the skeleton: newer still, never the time of a build of other contents.
        let solved_time = time("src/lib.rs");
        write("src/lib.rs", "// skeleton");
        assert_eq!(date_by_contents(&kit, &record).unwrap(), first);
        assert!(time("src/lib.rs") > solved_time);
    }

    #[test]
    fn the_review_is_prepared_once_for_each_package_of_the_same_contents() {
        // Nothing recorded: every package, and a record of them all.
        let (missing, record) = review_to_prepare("", "stamp-1", &["ex01", "ex02"]);
        assert_eq!(missing, ["ex01", "ex02"]);
        // The same contents: nothing more, the record unchanged; a new package: that one.
        assert_eq!(
            review_to_prepare(&record, "stamp-1", &["ex02"]),
            (Vec::new(), record.clone())
        );
        let (missing, more) = review_to_prepare(&record, "stamp-1", &["ex02", "ex03"]);
        assert_eq!(missing, ["ex03"]);
        assert_eq!(
            review_to_prepare(&more, "stamp-1", &["ex01", "ex03"])
                .0
                .len(),
            0
        );
        // Other contents of the base: all again.
        assert_eq!(review_to_prepare(&more, "stamp-2", &["ex01"]).0, ["ex01"]);
    }
}
