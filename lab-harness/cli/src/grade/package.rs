//! The Gradescope autograder package (`cargo lab gradescope-package`).
//!
//! A zip with, at its root, the two scripts Gradescope runs and the students' copy of the
//! kit (the last commit's skeletons, [`super::committed`], so no solutions) under `kit/`:
//! - `setup.sh`, run once as root when Gradescope builds the image (Ubuntu 22.04, no Rust):
//!   installs Rust with rustup when there is no cargo (Ubuntu's own rustc is too old for
//!   edition 2024), then grades the kit's own skeletons once, which builds the harness, its
//!   dependencies and every exercise into the target folder later runs reuse.
//! - `run_autograder`, run for each submission: `cargo lab grade --submission` on the
//!   student's files, writing `results/results.json`. If the grader itself cannot run, it
//!   still writes a `results.json` that says so.
//!
//! Both scripts take their root from `AUTOGRADER_ROOT` (default `/autograder`), so they can
//! be run, and are tested, against a fake layout in a temporary folder.

use std::fs;
use std::io::{Cursor, Write};
use std::path::Path;
use std::process::Command;

use anyhow::Context;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::committed;
use super::handout::Source;

/// What the package's `run_autograder` passes to the grader.
#[derive(Clone, Debug)]
pub struct Options {
    /// Exercise ids to grade (empty: all).
    pub only: Vec<String>,
    pub timeout_per_exercise: u64,
    /// The Rust toolchain `setup.sh` installs when the image has none.
    pub toolchain: String,
    /// Grade without the bubblewrap sandbox (an image without user namespaces): Gradescope's
    /// fresh container per submission is then the only isolation.
    pub unsandboxed: bool,
    /// Package the last commit even though files have uncommitted changes.
    pub ignore_uncommitted: bool,
}

/// The zip's bytes.
pub fn build(root: &Path, options: &Options) -> anyhow::Result<Vec<u8>> {
    let mut entries = vec![
        Entry::script("setup.sh", setup_sh(options)),
        Entry::script("run_autograder", run_autograder(options)),
    ];
    // Sorted by path (see `committed::students_copy`), so the archive's order never depends on the
    // order a folder lists its files in.
    let committed = committed::Options {
        ignore_uncommitted: options.ignore_uncommitted,
    };
    for file in committed::students_copy(root, committed)? {
        let name = format!("kit/{}", slash_path(&file.path));
        entries.push(match &file.source {
            Source::Text(text) => Entry {
                name,
                data: text.clone().into_bytes(),
                executable: false,
            },
            Source::Copy(path) => Entry {
                name,
                data: fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
                executable: executable(path),
            },
        });
    }
    zip_archive(&entries).context("cannot build the zip archive")
}

/// One file of the archive.
struct Entry {
    /// Relative, with `/` between folders.
    name: String,
    data: Vec<u8>,
    executable: bool,
}

impl Entry {
    fn script(name: &str, text: String) -> Entry {
        Entry {
            name: name.to_string(),
            data: text.into_bytes(),
            executable: true,
        }
    }
}

/// The archive of `entries`, in their order. The same entries always give the same bytes:
/// without the zip crate's `time` feature every entry is dated 1980-01-01, and nothing else
/// in an entry depends on the machine. Unix modes are kept (Gradescope runs `setup.sh` and
/// `run_autograder` directly, so they must stay executable).
fn zip_archive(entries: &[Entry]) -> anyhow::Result<Vec<u8>> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for entry in entries {
        let mode = if entry.executable { 0o755 } else { 0o644 };
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .unix_permissions(mode);
        zip.start_file(entry.name.as_str(), options)
            .with_context(|| format!("cannot add {}", entry.name))?;
        zip.write_all(&entry.data)
            .with_context(|| format!("cannot add {}", entry.name))?;
    }
    Ok(zip.finish()?.into_inner())
}

fn slash_path(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.extension().is_some_and(|e| e == "sh")
    }
}

/// The toolchain this kit is built with here (`1.95.0`), so Gradescope grades with the same
/// compiler; `stable` if `rustc` cannot say.
pub fn local_toolchain() -> String {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| {
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let version = text.split_whitespace().nth(1)?.to_string();
            version
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.')
                .then_some(version)
        })
        .unwrap_or_else(|| "stable".to_string())
}

fn only_flag(options: &Options) -> String {
    let mut flags = String::new();
    if !options.only.is_empty() {
        flags.push_str(&format!(" --only {}", options.only.join(",")));
    }
    if options.unsandboxed {
        flags.push_str(" --unsandboxed");
    }
    flags
}

/// The image's one-time setup.
pub fn setup_sh(options: &Options) -> String {
    let toolchain = &options.toolchain;
    let only = only_flag(options);
    format!(
        r#"#!/usr/bin/env bash
# netlab autograder: Gradescope runs this once, as root, when it builds the image
# (Ubuntu 22.04, no Rust). Made by `cargo lab gradescope-package`.
set -euo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"

if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
  # Ubuntu's own rustc is too old for the kit (edition 2024): install Rust with rustup, the
  # same version the kit was packaged with. build-essential gives the linker.
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq build-essential curl ca-certificates >/dev/null
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
    | sh -s -- -y --profile minimal --component clippy --default-toolchain {toolchain}
fi
if [ -f "$HOME/.cargo/env" ]; then . "$HOME/.cargo/env"; fi
# Every submission is built and tested in a bubblewrap sandbox (see the lab book's "Trust
# and sandboxing").
if ! command -v bwrap >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq bubblewrap >/dev/null
fi

cd "$ROOT/source/kit"
cargo build --quiet -p lab-cli --bin lab
# Grade the kit's own skeletons once, as a submission: this checks that the sandbox works
# here (it stops with one line saying why if it does not), and builds the harness, its
# dependencies and every exercise where grading a student will find them, so a student's
# run compiles only the student's code.
cargo lab grade --submission .{only} --format table --out /tmp/netlab-setup-grade.txt
echo "netlab autograder ready"
"#
    )
}

/// The per-submission script.
pub fn run_autograder(options: &Options) -> String {
    let only = only_flag(options);
    let timeout = options.timeout_per_exercise;
    format!(
        r#"#!/usr/bin/env bash
# netlab autograder: Gradescope runs this for each submission. Made by
# `cargo lab gradescope-package`.
#
# The grader copies only exercises/*/src/ from the submission into a fresh copy of the kit
# (the graded tests are the kit's, never the student's), runs every graded test with a time
# limit, and writes results.json even when the student's code does not compile.
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
RESULTS="$ROOT/results/results.json"
mkdir -p "$ROOT/results"
if [ -f "$HOME/.cargo/env" ]; then . "$HOME/.cargo/env"; fi

errors="$(mktemp)"
cd "$ROOT/source/kit" \
  && cargo lab grade --submission "$ROOT/submission" --format gradescope --out "$RESULTS" \
       --timeout-per-exercise {timeout}{only} 2>"$errors"
status=$?
cat "$errors" >&2
if [ "$status" -ne 0 ]; then
  # The grader itself could not run (not the student's fault): still write a results.json,
  # with the grader's last words, so the student sees a message rather than nothing.
  said="$(tail -n 5 "$errors" \
    | tr -d '\000-\010\013\014\016-\037' \
    | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' -e 's/\r//g' \
    | awk '{{ printf "%s\\n", $0 }}')"
  printf '{{"score": 0, "output": "The autograder could not run (exit status %s); please tell your instructor.\\n%s", "tests": []}}\n' \
    "$status" "$said" >"$RESULTS"
fi
rm -f "$errors"
exit 0
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use zip::ZipArchive;

    #[test]
    fn the_archive_keeps_modes_and_order_and_is_the_same_every_time() {
        let entries = [
            Entry::script("run_autograder", "#!/bin/sh\necho hi\n".repeat(100)),
            Entry {
                name: "kit/é.txt".into(),
                data: Vec::new(),
                executable: false,
            },
            Entry {
                name: "kit/a/b.rs".into(),
                data: b"fn main() {}\n".to_vec(),
                executable: false,
            },
        ];
        let archive = zip_archive(&entries).unwrap();
        assert_eq!(archive, zip_archive(&entries).unwrap(), "deterministic");
        let mut read = ZipArchive::new(Cursor::new(archive)).unwrap();
        let mut found = Vec::new();
        for index in 0..read.len() {
            let mut file = read.by_index(index).unwrap();
            let mut data = Vec::new();
            file.read_to_end(&mut data).unwrap();
            assert_eq!(file.compression(), CompressionMethod::Deflated);
            let time = file.last_modified().unwrap();
            assert_eq!((time.year(), time.month(), time.day()), (1980, 1, 1));
            found.push((file.name().to_string(), file.unix_mode(), data));
        }
        let expected: Vec<_> = entries
            .iter()
            .map(|e| {
                let mode = if e.executable { 0o100_755 } else { 0o100_644 };
                (e.name.clone(), Some(mode), e.data.clone())
            })
            .collect();
        assert_eq!(found, expected);
    }

    fn options() -> Options {
        Options {
            only: vec!["ex01".into(), "ex02".into()],
            timeout_per_exercise: 45,
            toolchain: "1.95.0".into(),
            unsandboxed: false,
            ignore_uncommitted: false,
        }
    }

    #[test]
    fn the_scripts_carry_the_options() {
        let run = run_autograder(&options());
        assert!(
            run.contains("--timeout-per-exercise 45 --only ex01,ex02 2>"),
            "{run}"
        );
        assert!(run.contains("--format gradescope --out \"$RESULTS\""));
        let setup = setup_sh(&options());
        assert!(setup.contains("--default-toolchain 1.95.0"));
        assert!(setup.contains("cargo lab grade --submission . --only ex01,ex02 "));
    }

    #[test]
    fn the_local_toolchain_is_a_version_or_stable() {
        let toolchain = local_toolchain();
        assert!(
            toolchain == "stable" || toolchain.split('.').count() == 3,
            "{toolchain}"
        );
    }
}
