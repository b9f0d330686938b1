//! Sets `cfg(netlab_solution)` for this package's targets: the graded tests and programs it
//! shares with the exercise then read `ex08` as this library, `ex08_solution` (see the
//! `extern crate` line at the top of each). Two libraries both named `ex08` would write the
//! same file in the workspace's target folder, which cargo warns may become an error.

fn main() {
    println!("cargo::rustc-cfg=netlab_solution");
}
