//! The lab book in `docs/` stays in step with the kit.
//!
//! Each check below fails with a message that names the file, exercise or command at fault:
//!
//! - every exercise folder `exercises/<folder>` has a handout `docs/src/exercises/<folder>.md`,
//!   every handout belongs to an exercise, and a handout mentions each of its exercise's graded
//!   tests by name;
//! - `docs/src/SUMMARY.md` links only files that exist, and every page under `docs/src` is
//!   linked from it (mdBook leaves an unlinked page out of the book without a word);
//! - links from one page to another point at files that exist;
//! - every `cargo lab SUBCOMMAND --flag …` written in code in the book or in `README.md`
//!   exists in the real command line, asked through `lab --help` and `lab SUBCOMMAND --help`
//!   (no list of commands is kept here).
//!
//! The rules are small functions over text and lists of names; the unit tests at the bottom
//! plant each kind of mistake and check that it is reported, so the checks are known to be
//! able to fail.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use lab_cli::process::run_watched;
use lab_cli::workspace::{self, graded_test_names};

// ---------------------------------------------------------------------------------------------
// The checks, run on the real kit.
// ---------------------------------------------------------------------------------------------

#[test]
fn every_exercise_has_a_handout_and_every_handout_an_exercise() {
    let kit = Kit::load();
    let problems = handout_problems(&kit.exercise_folders(), &kit.handouts());
    assert_no_problems("exercises and their handouts", &problems);
}

#[test]
fn every_handout_names_each_graded_test_of_its_exercise() {
    let kit = Kit::load();
    let mut problems = Vec::new();
    for exercise in &kit.exercises {
        let handout = format!("exercises/{}.md", exercise.folder);
        let Some(text) = kit.pages.get(&handout) else {
            continue; // reported by the test above
        };
        for test_file in &exercise.tests {
            let source = read(test_file);
            for name in tests_not_mentioned(&graded_test_names(&source), text) {
                problems.push(format!(
                    "docs/src/{handout} does not mention the graded test `{name}` of {}",
                    test_file
                        .strip_prefix(&kit.root)
                        .unwrap_or(test_file)
                        .display()
                ));
            }
        }
    }
    assert_no_problems("graded tests in the handouts", &problems);
}

#[test]
fn summary_links_every_page_and_only_pages_that_exist() {
    let kit = Kit::load();
    let summary = read(&kit.src().join("SUMMARY.md"));
    let pages: BTreeSet<String> = kit.pages.keys().cloned().collect();
    let problems = summary_problems(&summary, &pages);
    assert_no_problems("docs/src/SUMMARY.md", &problems);
}

#[test]
fn links_between_pages_point_at_files_that_exist() {
    let kit = Kit::load();
    let mut problems = Vec::new();
    let mut documents: Vec<(String, &str)> = kit
        .pages
        .iter()
        .map(|(page, text)| (format!("docs/src/{page}"), text.as_str()))
        .collect();
    documents.push(("README.md".to_string(), kit.readme.as_str()));
    for (document, text) in documents {
        for (line, target) in markdown_links(text) {
            let Some(path) = local_target(&target) else {
                continue;
            };
            let resolved = resolve(Path::new(&document), path);
            if !kit.root.join(&resolved).exists() {
                problems.push(format!(
                    "{document}:{line} links `{target}`, but {} does not exist",
                    resolved.display()
                ));
            }
        }
    }
    assert_no_problems("links between pages", &problems);
}

#[test]
fn every_cargo_lab_command_in_the_book_and_readme_exists() {
    let kit = Kit::load();
    let cli = Cli::from_binary();
    let mut documents: Vec<(String, &str)> = kit
        .pages
        .iter()
        .map(|(page, text)| (format!("docs/src/{page}"), text.as_str()))
        .collect();
    documents.push(("README.md".to_string(), kit.readme.as_str()));

    let mut seen = 0;
    let mut problems = Vec::new();
    for (document, text) in documents {
        let commands = lab_commands(text);
        seen += commands.len();
        problems.extend(
            cli.unknown(&commands)
                .into_iter()
                .map(|problem| format!("{document}:{problem}")),
        );
    }
    // The book shows `cargo lab serve` in many places: finding none means the scanner broke.
    assert!(
        seen >= 5,
        "found only {seen} `cargo lab` commands in the book and README.md"
    );
    assert_no_problems("`cargo lab` commands in the book and README.md", &problems);
}

/// The same check against the real command line, with mistakes planted: it must catch them.
#[test]
fn a_made_up_subcommand_or_option_is_reported_by_the_real_command_line() {
    let cli = Cli::from_binary();
    let page = "Run `cargo lab serve --port 0`, then `cargo lab frobnicate`.\n\
                ```sh\n\
                cargo lab serve --host 0.0.0.0 --no-such-option   # comment --not-a-flag\n\
                ```\n";
    let problems = cli.unknown(&lab_commands(page));
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0].starts_with("1: `cargo lab frobnicate`"),
        "{problems:#?}"
    );
    assert!(
        problems[1].starts_with("3: `cargo lab serve --no-such-option`"),
        "{problems:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The kit on disk.
// ---------------------------------------------------------------------------------------------

struct Kit {
    root: PathBuf,
    exercises: Vec<workspace::Exercise>,
    /// Every `.md` file under `docs/src`, by its path relative to `docs/src` (with `/`), except
    /// `SUMMARY.md` itself.
    pages: BTreeMap<String, String>,
    readme: String,
}

impl Kit {
    fn load() -> Kit {
        let root = workspace::find_root(Path::new(env!("CARGO_MANIFEST_DIR")))
            .expect("the kit's root (a Cargo.toml next to exercises/) above lab-harness");
        let exercises = workspace::exercises(&root).expect("listing exercises/");
        let src = root.join("docs").join("src");
        assert!(
            src.join("SUMMARY.md").is_file(),
            "docs/src/SUMMARY.md is missing: the lab book lives in docs/ (mdBook)"
        );
        let mut pages = BTreeMap::new();
        for path in markdown_files(&src) {
            let relative = slash_path(path.strip_prefix(&src).unwrap());
            if relative != "SUMMARY.md" {
                pages.insert(relative, read(&path));
            }
        }
        let readme = read(&root.join("README.md"));
        Kit {
            root,
            exercises,
            pages,
            readme,
        }
    }

    fn src(&self) -> PathBuf {
        self.root.join("docs").join("src")
    }

    fn exercise_folders(&self) -> Vec<String> {
        self.exercises.iter().map(|e| e.folder.clone()).collect()
    }

    /// The handouts' names without `.md`: `docs/src/exercises/<name>.md`.
    fn handouts(&self) -> Vec<String> {
        self.pages
            .keys()
            .filter_map(|page| page.strip_prefix("exercises/")?.strip_suffix(".md"))
            .filter(|name| !name.contains('/'))
            .map(str::to_string)
            .collect()
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

fn markdown_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let entries =
        fs::read_dir(dir).unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            found.extend(markdown_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "md") {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// `a/b.md` on every system.
fn slash_path(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn assert_no_problems(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}: {} problem(s)\n  - {}",
        problems.len(),
        problems.join("\n  - ")
    );
}

// ---------------------------------------------------------------------------------------------
// Exercises and handouts.
// ---------------------------------------------------------------------------------------------

/// An exercise without a handout, and a handout without an exercise (a renamed folder).
fn handout_problems(folders: &[String], handouts: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    for folder in folders {
        if !handouts.contains(folder) {
            problems.push(format!(
                "exercise exercises/{folder} has no handout: write docs/src/exercises/{folder}.md \
                 and link it from docs/src/SUMMARY.md"
            ));
        }
    }
    for handout in handouts {
        if !folders.contains(handout) {
            problems.push(format!(
                "docs/src/exercises/{handout}.md is a handout for exercises/{handout}, which \
                 does not exist (the file name must be the exercise's folder name)"
            ));
        }
    }
    problems
}

/// The names that do not appear in `text` as a whole word.
fn tests_not_mentioned(names: &[String], text: &str) -> Vec<String> {
    names
        .iter()
        .filter(|name| !contains_word(text, name))
        .cloned()
        .collect()
}

fn contains_word(text: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

// ---------------------------------------------------------------------------------------------
// Markdown: code, links, SUMMARY.md.
// ---------------------------------------------------------------------------------------------

/// Each line of a Markdown text with its number, and whether it belongs to a fenced code block
/// (the fence lines included).
fn numbered_lines(text: &str) -> Vec<(usize, &str, bool)> {
    let mut lines = Vec::new();
    let mut fence: Option<String> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        let marker: String = trimmed
            .chars()
            .take_while(|c| *c == '`' || *c == '~')
            .collect();
        let is_fence = marker.len() >= 3
            && (marker.chars().all(|c| c == '`') || marker.chars().all(|c| c == '~'));
        match &fence {
            // A fence closes with the same character, at least as many, and nothing after.
            Some(open) if is_fence && marker.starts_with(open.as_str()) && trimmed == marker => {
                fence = None;
                lines.push((index + 1, line, true));
            }
            Some(_) => lines.push((index + 1, line, true)),
            None if is_fence => {
                fence = Some(marker);
                lines.push((index + 1, line, true));
            }
            None => lines.push((index + 1, line, false)),
        }
    }
    lines
}

/// The byte ranges of the inline code spans in one line: the text between two equally long
/// runs of backticks.
fn code_span_ranges(line: &str) -> Vec<std::ops::Range<usize>> {
    let bytes = line.as_bytes();
    let run_at = |at: usize| bytes[at..].iter().take_while(|b| **b == b'`').count();
    let mut ranges = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] != b'`' {
            at += 1;
            continue;
        }
        let open = run_at(at);
        let content = at + open;
        // Look for a closing run of exactly the same length.
        let mut probe = content;
        let mut close = None;
        while probe < bytes.len() {
            if bytes[probe] == b'`' {
                let run = run_at(probe);
                if run == open {
                    close = Some(probe);
                    break;
                }
                probe += run;
            } else {
                probe += 1;
            }
        }
        match close {
            Some(end) => {
                ranges.push(content..end);
                at = end + open;
            }
            // No closing run: the backticks are plain text.
            None => at = content,
        }
    }
    ranges
}

/// The code in a Markdown text, as (line number, code): each line of a fenced block, and each
/// inline code span.
fn code_snippets(text: &str) -> Vec<(usize, String)> {
    let mut snippets = Vec::new();
    for (number, line, in_fence) in numbered_lines(text) {
        if in_fence {
            snippets.push((number, line.to_string()));
        } else {
            for range in code_span_ranges(line) {
                snippets.push((number, line[range].trim().to_string()));
            }
        }
    }
    snippets
}

/// Every inline link target `[text](target)` outside code, with its line number.
fn markdown_links(text: &str) -> Vec<(usize, String)> {
    let mut links = Vec::new();
    for (number, line, in_fence) in numbered_lines(text) {
        if in_fence {
            continue;
        }
        // Blank out inline code, so `a[..](b)` in code is not taken for a link.
        let mut prose = line.as_bytes().to_vec();
        for range in code_span_ranges(line) {
            prose[range].fill(b' ');
        }
        let prose = String::from_utf8_lossy(&prose);
        let mut rest = prose.as_ref();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            let target = after[..end].split_whitespace().next().unwrap_or("");
            if !target.is_empty() {
                links.push((number, target.to_string()));
            }
            rest = &after[end..];
        }
    }
    links
}

/// The file part of a link to a local file; `None` for web links and links within a page.
fn local_target(target: &str) -> Option<&str> {
    if target.contains("://") || target.starts_with("mailto:") || target.starts_with('#') {
        return None;
    }
    let path = target.split(['#', '?']).next().unwrap_or(target);
    (!path.is_empty()).then_some(path)
}

/// `target` seen from the file `from`, with `.` and `..` worked out (without touching the disk).
fn resolve(from: &Path, target: &str) -> PathBuf {
    let mut resolved = PathBuf::new();
    for component in from
        .parent()
        .unwrap_or(Path::new(""))
        .join(target)
        .components()
    {
        match component {
            Component::ParentDir => {
                resolved.pop();
            }
            Component::CurDir => {}
            other => resolved.push(other),
        }
    }
    resolved
}

/// SUMMARY.md's links to missing pages, and pages SUMMARY.md does not link. `pages` are
/// relative to `docs/src`, with `/`.
fn summary_problems(summary: &str, pages: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut linked = BTreeSet::new();
    for (line, target) in markdown_links(summary) {
        let Some(path) = local_target(&target) else {
            continue;
        };
        let path = slash_path(&resolve(Path::new("SUMMARY.md"), path));
        if !pages.contains(&path) {
            problems.push(format!(
                "SUMMARY.md:{line} links {path}, but docs/src/{path} does not exist"
            ));
        }
        linked.insert(path);
    }
    for page in pages {
        if !linked.contains(page) {
            problems.push(format!(
                "docs/src/{page} is not linked from SUMMARY.md, so it is not in the book"
            ));
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------------
// `cargo lab` commands.
// ---------------------------------------------------------------------------------------------

/// One `cargo lab …` found in the documentation.
#[derive(Debug, PartialEq, Eq)]
struct LabCommand {
    line: usize,
    /// The subcommand (`serve`), or `None` for `cargo lab --help` and the like.
    subcommand: Option<String>,
    /// The `--long` options written with it, without `=value`.
    flags: Vec<String>,
}

/// Every `cargo lab SUBCOMMAND --flag …` in the code of a Markdown text. A command ends at a
/// shell comment (`#`) or operator (`|`, `&&`, `;`, `>`, …). A placeholder such as
/// `cargo lab COMMAND` or `cargo lab …` is not a command.
fn lab_commands(text: &str) -> Vec<LabCommand> {
    let mut commands = Vec::new();
    for (line, code) in code_snippets(text) {
        for (at, _) in code.match_indices("cargo lab") {
            let rest = &code[at + "cargo lab".len()..];
            if rest.chars().next().is_some_and(|c| !c.is_whitespace()) {
                continue; // `cargo labels`, not `cargo lab`
            }
            let words: Vec<&str> = rest
                .split_whitespace()
                .take_while(|word| {
                    !word.starts_with('#')
                        && !["|", "||", "&", "&&", ";", ">", ">>", "<", "2>"].contains(word)
                })
                .collect();
            let Some(first) = words.first() else {
                continue; // `cargo lab` on its own
            };
            let subcommand = if first.starts_with('-') {
                None
            } else if is_placeholder(first) {
                continue;
            } else {
                Some(first.to_string())
            };
            let flags = words
                .iter()
                .filter(|word| word.starts_with("--") && word.len() > 2)
                .map(|word| word.split('=').next().unwrap_or(word).to_string())
                .collect();
            commands.push(LabCommand {
                line,
                subcommand,
                flags,
            });
        }
    }
    commands
}

/// `COMMAND`, `SUBCOMMAND`, `<command>`, `…`: words that stand for a command.
fn is_placeholder(word: &str) -> bool {
    word.starts_with('<')
        || word.starts_with('…')
        || word.starts_with("...")
        || word.starts_with('[')
        || (word.chars().any(|c| c.is_alphabetic())
            && word
                .chars()
                .all(|c| c.is_uppercase() || c == '_' || c == '-'))
}

/// What the command line really accepts: each subcommand with its options.
struct Cli {
    top_flags: BTreeSet<String>,
    subcommands: BTreeMap<String, BTreeSet<String>>,
}

impl Cli {
    /// Asks the `lab` binary built for this test: `lab --help`, then `lab SUB --help` for each
    /// subcommand it lists.
    fn from_binary() -> Cli {
        let top = help(&[]);
        let mut subcommands = BTreeMap::new();
        for name in help_subcommands(&top) {
            let flags = if name == "help" {
                BTreeSet::new()
            } else {
                help_flags(&help(&[&name]))
            };
            subcommands.insert(name, flags);
        }
        assert!(
            subcommands.contains_key("serve"),
            "`lab --help` lists no `serve` subcommand; the parser of its output is out of date:\n{top}"
        );
        Cli {
            top_flags: help_flags(&top),
            subcommands,
        }
    }

    /// One line per command or option that does not exist, starting with the line number.
    fn unknown(&self, commands: &[LabCommand]) -> Vec<String> {
        let mut problems = Vec::new();
        for command in commands {
            let (known, shown) = match &command.subcommand {
                None => (&self.top_flags, "cargo lab".to_string()),
                Some(name) => match self.subcommands.get(name) {
                    Some(flags) => (flags, format!("cargo lab {name}")),
                    None => {
                        problems.push(format!(
                            "{}: `cargo lab {name}` is not a subcommand of `cargo lab` (it has: {})",
                            command.line,
                            self.subcommands
                                .keys()
                                .cloned()
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                        continue;
                    }
                },
            };
            for flag in &command.flags {
                if !known.contains(flag) {
                    problems.push(format!(
                        "{}: `{shown} {flag}`: `{shown}` has no option {flag} (it has: {})",
                        command.line,
                        known.iter().cloned().collect::<Vec<_>>().join(" ")
                    ));
                }
            }
        }
        problems
    }
}

/// The output of `lab ARGS --help`.
fn help(args: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lab"));
    command.args(args).arg("--help");
    let finished = run_watched(command, Duration::from_secs(30)).expect("running `lab --help`");
    assert!(
        finished.success(),
        "`lab {} --help` failed: {}",
        args.join(" "),
        finished.stderr
    );
    finished.stdout
}

/// The subcommands listed under `Commands:` in clap's help.
fn help_subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| line.trim() != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter(|line| line.starts_with("  ") && !line.starts_with("      "))
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// The `--long` options in clap's help: the ones at the start of an option line.
fn help_flags(help: &str) -> BTreeSet<String> {
    help.lines()
        .map(str::trim_start)
        .filter(|line| line.starts_with('-'))
        .flat_map(|line| {
            line.split(|c: char| c.is_whitespace() || c == ',')
                .take_while(|word| {
                    word.is_empty() || word.starts_with('-') || word.starts_with('<')
                })
                .filter(|word| word.starts_with("--"))
                .map(|word| word.split(['=', '[']).next().unwrap_or(word).to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The rules themselves, each shown to catch a planted mistake.
// ---------------------------------------------------------------------------------------------

mod rules {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_exercise_without_a_handout_is_reported_by_name() {
        let problems = handout_problems(
            &strings(&["ex01-raw-send-recv", "ex02-line-streams"]),
            &strings(&["ex01-raw-send-recv"]),
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("exercises/ex02-line-streams has no handout"),
            "{problems:?}"
        );
        assert!(problems[0].contains("docs/src/exercises/ex02-line-streams.md"));
    }

    #[test]
    fn a_handout_for_a_missing_exercise_is_reported() {
        let problems = handout_problems(&strings(&["ex01-raw-send-recv"]), &strings(&["ex01-raw"]));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[1].contains("docs/src/exercises/ex01-raw.md"),
            "{problems:?}"
        );
    }

    #[test]
    fn graded_test_names_are_the_functions_after_test_attributes() {
        let source = "
            fn helper() {}
            #[test]
            fn connect_works() {}
            #[rstest]
            #[case::text(b\"hi\".to_vec())]
            fn echo_returns_the_same_bytes(#[case] data: Vec<u8>) {}
            #[cfg(unix)]
            #[test]
            fn stops_on_sigterm() {}
            fn another_helper() {}
        ";
        assert_eq!(
            graded_test_names(source),
            [
                "connect_works",
                "echo_returns_the_same_bytes",
                "stops_on_sigterm"
            ]
        );
    }

    #[test]
    fn a_graded_test_missing_from_a_handout_is_reported() {
        let names = strings(&["receive_some_returns_what_one_read_gives", "receive_some"]);
        // `receive_some` alone is only a prefix of the other name: not a mention.
        let text = "### `receive_some_returns_what_one_read_gives_twice`";
        assert_eq!(tests_not_mentioned(&names, text), names);
        let text = "### `receive_some_returns_what_one_read_gives` and receive_some.";
        assert!(tests_not_mentioned(&names, text).is_empty());
    }

    #[test]
    fn code_spans_and_fences_follow_markdown() {
        let line = "a `one` b ``two ` inside`` c `unclosed";
        let spans: Vec<&str> = code_span_ranges(line)
            .into_iter()
            .map(|range| &line[range])
            .collect();
        assert_eq!(spans, ["one", "two ` inside"]);
        // A ```` fence is only closed by four backticks; the ``` inside is code.
        let text = "prose\n````md\n```sh\ncargo lab x\n```\n````\nprose";
        let code: Vec<bool> = numbered_lines(text).iter().map(|l| l.2).collect();
        assert_eq!(code, [false, true, true, true, true, true, false]);
    }

    #[test]
    fn a_summary_link_to_a_missing_file_is_reported() {
        let summary =
            "# Summary\n\n[Introduction](introduction.md)\n\n- [Gone](background/gone.md)\n";
        let problems = summary_problems(summary, &set(&["introduction.md"]));
        assert_eq!(
            problems,
            [
                "SUMMARY.md:5 links background/gone.md, but docs/src/background/gone.md does not exist"
            ]
        );
    }

    #[test]
    fn a_page_missing_from_the_summary_is_reported() {
        let summary = "# Summary\n\n- [One](a/one.md)\n  - [Web](https://example.com/)\n";
        let problems = summary_problems(summary, &set(&["a/one.md", "a/two.md"]));
        assert_eq!(
            problems,
            ["docs/src/a/two.md is not linked from SUMMARY.md, so it is not in the book"]
        );
    }

    #[test]
    fn links_in_code_are_not_links_and_anchors_are_dropped() {
        let text = "See [streams](../background/streams.md#the-promise) and [web](https://x.org).\n\
                    Use `&buffer[..n](x)` here.\n\
                    ```rust\nlet a = b[..](c);\n```\n";
        let links = markdown_links(text);
        assert_eq!(
            links,
            [
                (1, "../background/streams.md#the-promise".to_string()),
                (1, "https://x.org".to_string())
            ]
        );
        assert_eq!(local_target(&links[0].1), Some("../background/streams.md"));
        assert_eq!(local_target(&links[1].1), None);
        assert_eq!(local_target("#on-this-page"), None);
        assert_eq!(
            resolve(
                Path::new("docs/src/exercises/ex01.md"),
                "../background/streams.md"
            ),
            PathBuf::from("docs/src/background/streams.md")
        );
    }

    #[test]
    fn cargo_lab_commands_are_found_in_code_with_their_flags() {
        let text = "Run `cargo lab serve --mode raw` first; `cargo lab` alone is fine.\n\
                    Not code: cargo lab nonsense.\n\
                    ```sh\n\
                    cargo lab serve --host 0.0.0.0 --port=5151   # --not-this one\n\
                    cargo lab check --only ex01 | tee out && nc --also-not-this\n\
                    cargo lab COMMAND --whatever\n\
                    cargo lab --version\n\
                    ```\n\
                    ``cargo lab grade --format json``\n";
        let found = lab_commands(text);
        let expected = [
            (1, Some("serve"), vec!["--mode"]),
            (4, Some("serve"), vec!["--host", "--port"]),
            (5, Some("check"), vec!["--only"]),
            (7, None, vec!["--version"]),
            (9, Some("grade"), vec!["--format"]),
        ];
        let expected: Vec<LabCommand> = expected
            .into_iter()
            .map(|(line, sub, flags)| LabCommand {
                line,
                subcommand: sub.map(str::to_string),
                flags: strings(&flags),
            })
            .collect();
        assert_eq!(found, expected);
    }

    fn sample_cli() -> Cli {
        Cli {
            top_flags: set(&["--help", "--version"]),
            subcommands: BTreeMap::from([
                ("serve".to_string(), set(&["--host", "--port", "--help"])),
                ("check".to_string(), set(&["--only", "--help"])),
            ]),
        }
    }

    #[test]
    fn an_unknown_subcommand_is_reported_with_its_line() {
        let problems = sample_cli().unknown(&lab_commands("a\n`cargo lab grade --format json`\n"));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("2: `cargo lab grade` is not a subcommand"),
            "{problems:?}"
        );
        assert!(problems[0].contains("it has: check, serve"), "{problems:?}");
    }

    #[test]
    fn an_unknown_flag_is_reported_with_its_subcommand() {
        let text = "```sh\ncargo lab serve --port 0 --fragment\ncargo lab --verbose\n```\n";
        let problems = sample_cli().unknown(&lab_commands(text));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].starts_with(
                "2: `cargo lab serve --fragment`: `cargo lab serve` has no option --fragment"
            ),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("3: `cargo lab --verbose`"),
            "{problems:?}"
        );
    }

    #[test]
    fn known_commands_are_not_reported() {
        let text = "`cargo lab serve --host 0.0.0.0 --port 0` and `cargo lab check --only ex01`";
        assert!(sample_cli().unknown(&lab_commands(text)).is_empty());
    }

    #[test]
    fn clap_help_is_read_for_subcommands_and_flags() {
        let top = "netlab\n\nUsage: cargo lab <COMMAND>\n\nCommands:\n  serve  Run the server.\n          \
                   More words.\n  check  Check the kit.\n  help   Print this message\n\nOptions:\n  \
                   -h, --help     Print help\n  -V, --version  Print version\n";
        assert_eq!(help_subcommands(top), ["serve", "check", "help"]);
        assert_eq!(help_flags(top), set(&["--help", "--version"]));
        let serve = "Usage: cargo lab serve [OPTIONS]\n\nOptions:\n      --host <HOST>\n          \
                     The address; --not-an-option in prose.\n      --max-line <MAX_LINE>\n  \
                     -h, --help\n          Print help\n";
        assert_eq!(help_flags(serve), set(&["--host", "--max-line", "--help"]));
    }
}
