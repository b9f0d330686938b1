//! The library half of netlab's `lab` command: what the subcommands (in `main.rs` and
//! `commands/`) and this package's tests share.
//!
//! - [`grade`]: the grader (`cargo lab grade`), its report formats, the handout and the
//!   Gradescope package.
//! - [`bench`]: the load generator behind `cargo lab bench`.
//! - [`hints`]: each exercise's progressive hints (`hints.toml`) and which steps were seen.
//! - [`libtest`]: reading what a libtest binary prints.
//! - [`mistakes`]: each exercise's catalogue of known wrong answers, which `cargo lab check`
//!   grades to prove the tests catch and name them.
//! - [`progress`]: running a student's graded tests in place and summing them up for
//!   `cargo lab`, `watch` and `hint`.
//! - [`spy`]: the relay behind `cargo lab spy`, printing each conversation as a timeline.
//! - [`process`]: running a child process with a time limit and capped output.
//! - [`workspace`]: finding the kit's exercises on disk.
//!
//! None of this is compiled into a student's test build: graded tests link only
//! `lab-harness`.

pub mod bench;
pub mod grade;
pub mod hints;
pub mod libtest;
pub mod mistakes;
pub mod process;
pub mod progress;
pub mod spy;
pub mod workspace;
