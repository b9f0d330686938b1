//! The GitHub Actions example of the grader's docs: the workflow file and the page that
//! shows it say the same, and every `cargo lab` command in it exists with those options
//! (asked from the real command line, not from a list kept here).

use std::fs;
use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::cargo_bin;

fn kit_file(path: &str) -> String {
    let root = lab_cli::workspace::find_root(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
    fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_workflow_page_shows_the_example_file() {
    let workflow = kit_file("docs/examples/grade-workflow.yml");
    let page = kit_file("docs/src/grader/github-actions.md");
    assert!(
        page.contains(&format!("````yaml\n{workflow}````")),
        "docs/src/grader/github-actions.md must show docs/examples/grade-workflow.yml as it is"
    );
    assert!(!workflow.contains('\t'), "YAML is indented with spaces");
    assert!(
        workflow.contains("$GITHUB_STEP_SUMMARY"),
        "the score goes to the job summary"
    );
}

#[test]
fn every_cargo_lab_command_of_the_workflow_exists() {
    let workflow = kit_file("docs/examples/grade-workflow.yml");
    let commands: Vec<Vec<&str>> = workflow
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| line.split_once("cargo lab ").map(|(_, rest)| rest))
        .map(|rest| rest.split_whitespace().collect())
        .collect();
    assert!(
        commands.iter().any(|words| words.first() == Some(&"grade")),
        "the workflow runs `cargo lab grade`"
    );
    for words in commands {
        let subcommand = words[0];
        let help = Command::new(cargo_bin("lab"))
            .args([subcommand, "--help"])
            .output()
            .unwrap();
        assert!(
            help.status.success(),
            "`cargo lab {subcommand}` does not exist: {}",
            String::from_utf8_lossy(&help.stderr)
        );
        let help = String::from_utf8_lossy(&help.stdout);
        for flag in words.iter().filter(|w| w.starts_with("--")) {
            let flag = flag.split('=').next().unwrap();
            assert!(
                help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
                "`cargo lab {subcommand}` has no option {flag}:\n{help}"
            );
        }
    }
}
