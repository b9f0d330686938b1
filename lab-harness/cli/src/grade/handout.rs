//! What goes into the students' copy of the kit: the rules, the root `Cargo.toml` and the
//! README written for students. [`super::committed`] applies them to the last commit (what
//! `cargo lab handout` and the Gradescope package hand out); [`files`] applies them to the
//! folder as it is, the base of every staged submission ([`super::stage`]), which the
//! grader checks is still made of skeletons.
//!
//! It is the kit without what students must not have or do not need: no `solutions/`, no
//! kit CI (`.ci/`), no self-tests of the `lab` command (`lab-harness/cli/tests/`, which grade the solutions),
//! no developers' guide. The root `Cargo.toml` drops `solutions/*` from the workspace and
//! makes the exercises the default members, so a plain `cargo test` there runs every
//! graded test; the README is one written for students.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};
use toml_edit::{Array, DocumentMut, Item, Value, value};

use crate::workspace::Exercise;

/// One file of the handout: its path inside the kit (relative) and where its bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KitFile {
    pub path: PathBuf,
    pub source: Source,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A file of the kit, copied as it is.
    Copy(PathBuf),
    /// Written by the handout (the root `Cargo.toml`, the README).
    Text(String),
}

/// Paths (relative to the kit) that are never handed out.
pub const LEFT_OUT: &[&str] = &[
    "solutions",
    ".ci",
    ".git",
    "lab-harness/cli/tests",
    "DEVELOPERS.md",
    "README.md",
    "docs/book",
    // The instructor's benchmark peers and scripts: the copy's workspace drops `bench-peers`
    // from its members (and its `Cargo.lock` is pruned to match, see `committed::prune_lock`).
    "bench-peers",
    "scripts",
];

/// Hidden entries that are handed out (any other name starting with `.` is not).
pub const HIDDEN_KEPT: &[&str] = &[".cargo", ".gitignore", ".config"];

/// The files of the student handout of the kit at `root`. `skip`: a folder never to enter
/// (where the handout is being written, if it is inside the kit).
pub fn files(
    root: &Path,
    exercises: &[Exercise],
    skip: Option<&Path>,
) -> anyhow::Result<Vec<KitFile>> {
    let mut found = Vec::new();
    walk(root, Path::new(""), skip, &mut found)
        .with_context(|| format!("cannot read the kit at {}", root.display()))?;
    let manifest_path = root.join("Cargo.toml");
    let manifest = fs::read_to_string(&manifest_path)
        .with_context(|| format!("cannot read {}", manifest_path.display()))?;
    for file in &mut found {
        if file.path == Path::new("Cargo.toml") {
            file.source = Source::Text(student_manifest(&manifest)?);
        }
    }
    found.push(KitFile {
        path: PathBuf::from("README.md"),
        source: Source::Text(student_readme(exercises)),
    });
    if !found.iter().any(|f| f.path == Path::new(".gitignore")) {
        found.push(KitFile {
            path: PathBuf::from(".gitignore"),
            source: Source::Text("/target\n".into()),
        });
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

fn walk(
    root: &Path,
    relative: &Path,
    skip: Option<&Path>,
    found: &mut Vec<KitFile>,
) -> io::Result<()> {
    let dir = root.join(relative);
    if skip.is_some_and(|skip| same_path(skip, &dir)) {
        return Ok(());
    }
    let mut entries: Vec<_> = fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = relative.join(name);
        let hidden = name.starts_with('.') && !HIDDEN_KEPT.contains(&name);
        let left_out = LEFT_OUT.iter().any(|p| path == Path::new(p));
        // Build output anywhere (`target/`) and symbolic links (they could point anywhere)
        // are never copied.
        let kind = entry.file_type()?;
        if hidden || left_out || name == "target" || kind.is_symlink() {
            continue;
        }
        if kind.is_dir() {
            walk(root, &path, skip, found)?;
        } else if kind.is_file() {
            found.push(KitFile {
                source: Source::Copy(root.join(&path)),
                path,
            });
        }
    }
    Ok(())
}

fn same_path(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The kit's root manifest for students: the `[workspace]` table without `solutions/*` in
/// its members, with the exercises as default members, and without the kit's comments on
/// its keys (they describe the kit, not the handout). Everything else, comments and layout
/// included, is kept as it is.
pub fn student_manifest(manifest: &str) -> anyhow::Result<String> {
    let mut document: DocumentMut = manifest.parse().map_err(|error: toml_edit::TomlError| {
        anyhow::anyhow!("the root Cargo.toml is not valid TOML: {}", error.message())
    })?;
    let Some(workspace) = document
        .get_mut("workspace")
        .and_then(Item::as_table_like_mut)
    else {
        bail!("the root Cargo.toml has no [workspace]");
    };
    let Some(members) = workspace.get("members").and_then(Item::as_array) else {
        bail!("the root Cargo.toml's [workspace] has no `members`");
    };
    let kept: Array = members
        .iter()
        .filter_map(Value::as_str)
        .filter(|member| !member.starts_with("solutions") && !member.starts_with("bench-peers"))
        .collect();
    // The comment lines above each key (and blank lines between keys) are the key's prefix;
    // a comment at the end of a line stays with its value.
    for (mut key, _) in workspace.iter_mut() {
        key.leaf_decor_mut().clear();
    }
    workspace.insert("members", value(kept));
    workspace.insert("default-members", value(Array::from_iter(["exercises/*"])));
    if let Some(mut key) = workspace.key_mut("default-members") {
        key.leaf_decor_mut().set_prefix(
            "# Your copy of the kit: a plain `cargo test` runs the graded tests of every \
             exercise\n# (`cargo test -p ex01` runs those of exercise 1 only).\n",
        );
    }
    Ok(document.to_string())
}

/// The README of the handout.
pub fn student_readme(exercises: &[Exercise]) -> String {
    let mut rows = String::new();
    for exercise in exercises {
        let about =
            crate::workspace::package_value(&exercise.dir.join("Cargo.toml"), "description")
                .unwrap_or_default();
        rows.push_str(&format!("| `{}` | {about} |\n", exercise.folder));
    }
    let first = exercises.first().map_or("ex01", |e| e.id());
    let first_folder = exercises
        .first()
        .map_or("ex01-…".to_string(), |e| e.folder.clone());
    format!(
        "# netlab — your copy of the TCP socket lab

You will write network clients and servers in Rust, one small step at a time: connect, send
and receive, line-based streams, a connection struct, an echo server, timeouts, names and
addresses, HTTP by hand, UDP. Every exercise comes with graded tests whose failures say what
crossed the wire and what the usual mistake is.

You need Rust (<https://rustup.rs>). Everything below runs from this folder.

## The exercises

| exercise | what you build |
|---|---|
{rows}
## Working on an exercise

1. Open `exercises/{first_folder}/src/lib.rs`. The story at the top says what you are
   building; each `// TODO` marks a place to write code, replacing the `todo!()` below it.
2. Run its tests:

   ```sh
   cargo test -p {first}                 # every graded test of this exercise
   cargo test -p {first} receive_some    # only the tests whose name contains receive_some
   ```

   At first every test fails with \"not yet implemented\". When a test fails for another
   reason, read its message: it says what the test's server saw and what usually causes it.
3. `cargo test` on its own runs the graded tests of every exercise.
4. `cargo clippy -p {first}` reviews your code as the grader does: it names what no test
   can see on your own machine, such as a `write` whose count you ignored.

## Where am I, and what next?

```sh
cargo lab                        # every exercise: a progress bar, passed/total, the next step
cargo lab watch                  # runs the current exercise's tests again each time you save
cargo lab hint {first}                # a hint for the test to work on; again for the next step
```

In `watch`, press `h` for a hint, `l` for the list, `n` for the next exercise, `r` to run
again and `q` to quit.

## Trying your code by hand

```sh
cargo lab serve                  # a reference echo server on 127.0.0.1:5151 (line mode)
cargo lab serve --mode raw       # bytes come back exactly as sent (RFC 862)
nc 127.0.0.1 5151                # type a line, see it echoed (Windows: ncat, or PuTTY \"Raw\")
cargo lab spy --listen 127.0.0.1:6000 --to 127.0.0.1:5151
                                 # connect your program to port 6000 instead: the spy
                                 # passes everything on and prints the conversation
```

## Your score

```sh
cargo lab grade                  # one row per exercise: tests passed, points, status
```

This is the grader your instructor uses, with the same points (`grading.toml`). It stops any
test that hangs, so it always finishes.

## Handing in

Hand in your `exercises/` folder (or this whole folder without `target/`), as your instructor
asks. Only the code in `exercises/*/src/` is graded: the graded tests and the `Cargo.toml`
files come from your instructor's copy of the kit, so changing them changes nothing. Your
code may use the standard library only.
"
    )
}

/// True for a relative path made of plain names only (no `..`, no root).
pub fn is_plain_relative(path: &Path) -> bool {
    path.components().all(|c| matches!(c, Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_student_manifest_has_no_solutions() {
        let kit = r#"[workspace]
resolver = "3"
members = ["lab-harness", "exercises/*", "solutions/*"]
# A plain `cargo test` on a fresh clone is the kit's self-test
default-members = ["lab-harness", "solutions/*"]

[workspace.package]
edition = "2024"
"#;
        let expected = r#"[workspace]
resolver = "3"
members = ["lab-harness", "exercises/*"]
# Your copy of the kit: a plain `cargo test` runs the graded tests of every exercise
# (`cargo test -p ex01` runs those of exercise 1 only).
default-members = ["exercises/*"]

[workspace.package]
edition = "2024"
"#;
        assert_eq!(student_manifest(kit).unwrap(), expected);
    }

    #[test]
    fn the_rest_of_the_manifest_keeps_its_comments_and_layout() {
        let kit = "# The kit.\n[workspace]\nresolver = \"3\"   # edition 2024's\n\n\
                   # the kit's members\nmembers = [\"exercises/*\", \"solutions/*\"] # all\n\n\
                   [workspace.dependencies]\n# pinned once\nanyhow = \"1.0\"  # errors\n\
                   mio = { version = \"1.2\", default-features = false }\n";
        let expected = "# The kit.\n[workspace]\nresolver = \"3\"   # edition 2024's\n\
                        members = [\"exercises/*\"]\n\
                        # Your copy of the kit: a plain `cargo test` runs the graded tests of \
                        every exercise\n\
                        # (`cargo test -p ex01` runs those of exercise 1 only).\n\
                        default-members = [\"exercises/*\"]\n\n\
                        [workspace.dependencies]\n# pinned once\nanyhow = \"1.0\"  # errors\n\
                        mio = { version = \"1.2\", default-features = false }\n";
        assert_eq!(student_manifest(kit).unwrap(), expected);
        assert!(student_manifest("[package]\nname = \"x\"\n").is_err());
        assert!(student_manifest("[workspace\n").is_err());
    }

    #[test]
    fn the_kits_own_manifest_gives_a_workspace_of_exercises() {
        let root = crate::workspace::find_root(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        let kit = fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let manifest = student_manifest(&kit).unwrap();
        let parsed: toml::Table = toml::from_str(&manifest).unwrap();
        let workspace = &parsed["workspace"];
        let members: Vec<&str> = workspace["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        assert!(members.contains(&"exercises/*"), "{members:?}");
        assert!(!members.iter().any(|m| m.starts_with("solutions")));
        assert_eq!(
            workspace["default-members"].as_array().unwrap().len(),
            1,
            "{manifest}"
        );
        // The rest of the kit's manifest is there as it was.
        let tail = &kit[kit.find("\n[workspace.package]").unwrap()..];
        assert!(manifest.ends_with(tail), "{manifest}");
    }

    #[test]
    fn a_members_array_over_several_lines_is_read() {
        let kit = "[workspace]\nmembers = [\n  \"lab-harness\", # the harness\n  \"exercises/*\",\n  \"solutions/*\",\n]\n";
        let manifest = student_manifest(kit).unwrap();
        assert!(
            manifest.contains("members = [\"lab-harness\", \"exercises/*\"]\n"),
            "{manifest}"
        );
        assert!(student_manifest("[workspace]\nresolver = \"3\"\n").is_err());
    }

    #[test]
    fn plain_relative_paths() {
        assert!(is_plain_relative(Path::new("exercises/ex01/src/lib.rs")));
        assert!(!is_plain_relative(Path::new("../x")));
        assert!(!is_plain_relative(Path::new("/etc/passwd")));
    }
}
