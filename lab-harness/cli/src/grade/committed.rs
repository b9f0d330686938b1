//! The students' copy of the kit as it was last committed: what `cargo lab handout` and
//! `cargo lab gradescope-package` hand out.
//!
//! An instructor's working folder holds more than the skeletons: an exercise solved to try
//! it, notes, a scratch file. So the copy is read from git's `HEAD`, never from the folder,
//! and it is refused, with one line saying why, when:
//! - the kit is not a git repository (there is no "committed" to read);
//! - a file that would be handed out has uncommitted changes (the copy would silently miss
//!   them), unless the instructor asks to leave them out;
//! - an exercise's committed skeleton no longer fails every graded test with "not yet
//!   implemented" (a solved exercise would give every student its points).
//!
//! The files are written to a check folder in the kit's target folder
//! (`target/handout-check/kit`), the copy's `Cargo.lock` is pruned there to the copy's own
//! packages (its workspace has no solutions and no bench peers, and the grader builds with
//! `--locked`), and its graded tests are run once for each content of the copy, built in a
//! target folder of their own (`target/handout-check/target`).

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

use super::handout::{self, KitFile, Source};
use super::place::Place;
use super::stage::TempDir;
use super::{batch, build};
use crate::workspace;

/// What to do with uncommitted changes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Hand out what `HEAD` holds, leaving uncommitted changes out, rather than refusing.
    pub ignore_uncommitted: bool,
}

/// How long building the copy's exercises may take (a cold build of the harness's
/// dependencies takes minutes on a small machine).
const BUILD_LIMIT: Duration = Duration::from_secs(30 * 60);

/// The files of the students' copy of the kit at `root`, read from `HEAD` and checked (see
/// the module's header). Every file comes from the check folder, where it was verified.
pub fn students_copy(root: &Path, options: Options) -> anyhow::Result<Vec<KitFile>> {
    let tree = committed_tree(root)?;
    let changed = uncommitted(root)?;
    let changed: Vec<&String> = changed.iter().filter(|p| handed_out(p)).collect();
    if let Some(first) = changed.first()
        && !options.ignore_uncommitted
    {
        let more = match changed.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        bail!(
            "{first}{more} has uncommitted changes: the students' copy is built from the last \
             commit, so commit them (or `git stash` them), or pass --ignore-uncommitted to \
             hand out the committed version"
        );
    }

    let check = batch::kit_target(root).join("handout-check");
    let kit = check.join("kit");
    if kit.exists() {
        fs::remove_dir_all(&kit).with_context(|| format!("cannot clear {}", kit.display()))?;
    }
    let entries: Vec<&TreeEntry> = tree.iter().filter(|e| handed_out(&e.path)).collect();
    let blobs = read_blobs(root, &entries)?;
    let mut stamp = DefaultHasher::new();
    for (entry, data) in entries.iter().zip(&blobs) {
        let data = if entry.path == "Cargo.toml" {
            handout::student_manifest(&String::from_utf8_lossy(data))?.into_bytes()
        } else {
            data.clone()
        };
        (&entry.path, &data, entry.executable).hash(&mut stamp);
        write(&kit.join(&entry.path), &data, entry.executable)?;
    }
    let exercises = workspace::exercises(&kit)
        .with_context(|| format!("cannot list {}", kit.join("exercises").display()))?;
    if exercises.is_empty() {
        bail!("the last commit has no exercises under exercises/");
    }
    write(
        &kit.join("README.md"),
        handout::student_readme(&exercises).as_bytes(),
        false,
    )?;
    if !kit.join(".gitignore").exists() {
        write(&kit.join(".gitignore"), b"/target\n", false)?;
    }
    prune_lock(&kit)?;

    let stamp = format!("{:016x}", stamp.finish());
    let stamp_path = check.join("skeletons-verified");
    if fs::read_to_string(&stamp_path).ok().as_deref() != Some(stamp.as_str()) {
        // A target folder of its own: cargo names a workspace member's build by its path
        // inside the workspace, so building the copy in the kit's target folder would put
        // the committed skeletons where the kit's own (newer) builds are, and cargo would
        // take them for fresh.
        verify_skeletons(root, &kit, &check.join("target"), &exercises)?;
        fs::write(&stamp_path, &stamp)?;
    }

    let mut files = Vec::new();
    collect(&kit, Path::new(""), &mut files)?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// True for a path (relative to the kit, `/` between folders) that goes into the copy.
fn handed_out(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    let hidden = parts
        .iter()
        .any(|p| p.starts_with('.') && !handout::HIDDEN_KEPT.contains(p));
    let left_out = handout::LEFT_OUT
        .iter()
        .any(|gone| path == *gone || path.starts_with(&format!("{gone}/")));
    // The kit's README is for the kit: the copy gets one written for students.
    !hidden && !left_out && !parts.contains(&"target")
}

/// One file of `HEAD`.
struct TreeEntry {
    path: String,
    object: String,
    executable: bool,
}

fn git(root: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .current_dir(root)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .stdin(Stdio::null());
    command
}

/// Every file of `HEAD` under `root` (paths relative to `root`): symbolic links and
/// submodules are left out, as the folder walk leaves out links.
fn committed_tree(root: &Path) -> anyhow::Result<Vec<TreeEntry>> {
    let not_a_repo = || {
        anyhow::anyhow!(
            "{} is not a git repository with a commit (or git is missing): the students' copy \
             is built from the committed skeletons, so commit the kit first (`git init && git \
             add -A && git commit -m kit`)",
            root.display()
        )
    };
    let output = git(root)
        .args(["ls-tree", "-r", "-z", "HEAD"])
        .output()
        .map_err(|_| not_a_repo())?;
    if !output.status.success() {
        return Err(not_a_repo());
    }
    let mut entries = Vec::new();
    for record in output.stdout.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let record = String::from_utf8_lossy(record);
        let Some((meta, path)) = record.split_once('\t') else {
            continue;
        };
        let mut meta = meta.split(' ');
        let (Some(mode), Some(kind), Some(object)) = (meta.next(), meta.next(), meta.next()) else {
            continue;
        };
        if kind != "blob" || !(mode == "100644" || mode == "100755") {
            continue;
        }
        entries.push(TreeEntry {
            path: path.to_string(),
            object: object.to_string(),
            executable: mode == "100755",
        });
    }
    if entries.is_empty() {
        return Err(not_a_repo());
    }
    Ok(entries)
}

/// The tracked files under `root` that differ from `HEAD` (staged or not), relative to
/// `root`.
fn uncommitted(root: &Path) -> anyhow::Result<Vec<String>> {
    let output = git(root)
        .args([
            "diff",
            "HEAD",
            "--name-only",
            "--relative",
            "-z",
            "--no-renames",
        ])
        .output()
        .context("cannot run git")?;
    if !output.status.success() {
        bail!(
            "git cannot compare the kit with its last commit: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect())
}

/// The bytes of each entry, in order, from one `git cat-file --batch`.
fn read_blobs(root: &Path, entries: &[&TreeEntry]) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut child = git(root)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run git")?;
    let mut stdin = child.stdin.take().context("git's input")?;
    let ids: String = entries.iter().map(|e| format!("{}\n", e.object)).collect();
    // Written from another thread: git answers while it reads, and a pipe holds little.
    let writer = std::thread::spawn(move || stdin.write_all(ids.as_bytes()));
    let mut out = Vec::new();
    child
        .stdout
        .take()
        .context("git's output")?
        .read_to_end(&mut out)?;
    let _ = writer.join();
    child.wait()?;
    let mut blobs = Vec::new();
    let mut rest = out.as_slice();
    for entry in entries {
        let header_end = rest
            .iter()
            .position(|b| *b == b'\n')
            .context("git cat-file ended early")?;
        let header = String::from_utf8_lossy(&rest[..header_end]).into_owned();
        let size: usize = header
            .rsplit(' ')
            .next()
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("git cannot read {}: {header}", entry.path))?;
        let start = header_end + 1;
        let data = rest
            .get(start..start + size)
            .context("git cat-file ended early")?;
        blobs.push(data.to_vec());
        rest = rest.get(start + size + 1..).unwrap_or_default();
    }
    Ok(blobs)
}

fn write(path: &Path, data: &[u8], executable: bool) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(path, data).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    if executable {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o755))?;
    }
    #[cfg(not(unix))]
    let _ = executable;
    Ok(())
}

/// Drops from the copy's `Cargo.lock` the packages only the kit has (solutions, bench
/// peers and their dependencies), without changing any version: `cargo update --workspace`
/// re-resolves the workspace's own packages only, offline, from what the lock already says.
/// (`cargo metadata` would do it too, but it wants the sources of every platform's
/// dependencies, such as crossterm's Windows-only ones, which a Linux machine never fetched.)
pub fn prune_lock(kit: &Path) -> anyhow::Result<()> {
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["update", "--workspace", "--offline", "--quiet"])
        .current_dir(kit)
        .stdin(Stdio::null())
        .output()
        .context("cannot run cargo")?;
    if !output.status.success() {
        bail!(
            "cargo cannot read the students' copy's workspace: {}",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .find(|l| l.starts_with("error"))
                .unwrap_or("no message")
        );
    }
    Ok(())
}

/// Every graded test of the copy at `kit` must fail with "not yet implemented". (`root` is
/// the kit the copy was made from: its build gives the copy's a start.)
fn verify_skeletons(
    root: &Path,
    kit: &Path,
    target: &Path,
    exercises: &[workspace::Exercise],
) -> anyhow::Result<()> {
    eprintln!("checking that every committed exercise is a skeleton (builds them once)…");
    batch::seed_from_kit_build(root, target, exercises);
    let place = Place::in_place(kit, Some(target.to_path_buf()));
    let packages: Vec<&str> = exercises.iter().map(|e| e.package.as_str()).collect();
    let mut targets: Vec<String> = exercises.iter().flat_map(super::test_targets).collect();
    targets.sort();
    targets.dedup();
    let built =
        build::build(&place, &packages, &targets, BUILD_LIMIT).context("cannot run cargo")?;
    let listings = batch::list_graded_tests(&place, &built, exercises)?;
    let scratch = TempDir::new("handout-check").context("cannot create a temporary folder")?;
    if let Some((exercise, result)) =
        batch::first_not_skeleton(&place, exercises, &built, &listings, scratch.path())?
    {
        bail!(
            "the committed exercises/{} is not a skeleton: its test `{}` {} ({}); every \
             graded test must fail with \"not yet implemented\" before it is handed out \
             (commit its skeleton, e.g. `git checkout <commit> -- exercises/{}/src`)",
            exercise.folder,
            result.name,
            result.status.words(),
            result.message.lines().next().unwrap_or("no message"),
            exercise.folder
        );
    }
    Ok(())
}

/// Every file under `dir` as a file of the copy.
fn collect(root: &Path, relative: &Path, found: &mut Vec<KitFile>) -> std::io::Result<()> {
    for entry in fs::read_dir(root.join(relative))? {
        let entry = entry?;
        let path = relative.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            if entry.file_name() != "target" {
                collect(root, &path, found)?;
            }
        } else {
            found.push(KitFile {
                source: Source::Copy(root.join(&path)),
                path,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_handed_out() {
        for kept in [
            "Cargo.toml",
            "Cargo.lock",
            ".cargo/config.toml",
            "exercises/ex01-raw-send-recv/src/lib.rs",
            "lab-harness/src/lib.rs",
            "lab-harness/cli/src/main.rs",
            "docs/src/SUMMARY.md",
        ] {
            assert!(handed_out(kept), "{kept}");
        }
        for gone in [
            "solutions/ex01-raw-send-recv/src/lib.rs",
            "bench-peers/src/main.rs",
            "scripts/bench-compare.sh",
            ".ci/run",
            "lab-harness/cli/tests/handout_e2e.rs",
            "DEVELOPERS.md",
            "README.md",
            "docs/book/index.html",
            "exercises/ex01/target/x",
            "exercises/.notes.md",
        ] {
            assert!(!handed_out(gone), "{gone}");
        }
    }
}
