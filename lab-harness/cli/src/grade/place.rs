//! Where the code under test is built and run, and how: in place (the kit's own exercises or
//! solutions: your own code), or staged (a submission's copy of the kit), in a sandbox or,
//! with `--unsandboxed`, not.
//!
//! A [`Place`] runs cargo and test processes the same way for all three, so the grading
//! logic above it has one path. Paths cargo prints are inside the sandbox when there is
//! one; [`Place::host_path`] turns them back into the grader's.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::sandbox::{self, Invocation, Mounts, Rlimits, Sandbox, Step};
use super::verdict::VerdictFile;
use crate::process::{Watch, Watched};

/// One test process to start: a test binary (its path as cargo printed it) of `package`,
/// whose folder is `package_dir` (relative to the workspace root), and its arguments.
#[derive(Clone, Copy, Debug)]
pub struct TestProcess<'a> {
    pub executable: &'a str,
    pub package: &'a str,
    pub package_dir: &'a Path,
    pub args: &'a [OsString],
}

/// A workspace to build and test in.
#[derive(Clone, Debug)]
pub struct Place {
    /// The workspace root, on the host.
    root: PathBuf,
    /// `CARGO_TARGET_DIR` on the host (`None`: cargo's own choice).
    target: Option<PathBuf>,
    /// The sandbox and its synthetic `/etc`, for a sandboxed submission.
    sandbox: Option<(Sandbox, PathBuf)>,
    /// A submission's copy, with the seal test in every graded test file.
    staged: bool,
    /// Keep cargo's incremental cache in a staged build ([`Place::incremental`]).
    incremental: bool,
}

impl Place {
    /// The kit itself.
    pub fn in_place(root: &Path, target: Option<PathBuf>) -> Place {
        Place {
            root: root.to_path_buf(),
            target,
            sandbox: None,
            staged: false,
            incremental: false,
        }
    }

    /// A staged submission at `root` (its graded tests sealed), built into `target`; in
    /// `sandbox` (with its `/etc` files in the folder given) unless `None`.
    pub fn staged(root: &Path, target: &Path, sandbox: Option<(Sandbox, PathBuf)>) -> Place {
        Place {
            root: root.to_path_buf(),
            target: Some(target.to_path_buf()),
            sandbox,
            staged: true,
            incremental: false,
        }
    }

    /// Builds here keep cargo's incremental cache: for a build that is made again and again
    /// with one exercise's `src/` changed (`cargo lab check`'s workbench), where it saves a
    /// third of the compiler's time on each graded test binary.
    pub fn incremental(mut self) -> Place {
        self.incremental = true;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// True when the graded tests carry the seal and verdict logs must start with it.
    pub fn sealed(&self) -> bool {
        self.staged
    }

    pub fn sandboxed(&self) -> bool {
        self.sandbox.is_some()
    }

    fn mounts(&self, etc: &Path, verdict: Option<&VerdictFile>) -> Mounts {
        Mounts {
            kit: self.root.clone(),
            target: self
                .target
                .clone()
                .unwrap_or_else(|| self.root.join("target")),
            etc: etc.to_path_buf(),
            verdict: verdict.map(|v| v.shared().to_path_buf()),
        }
    }

    /// The workspace root as the processes see it.
    fn root_inside(&self) -> PathBuf {
        if self.sandbox.is_some() {
            PathBuf::from(sandbox::KIT)
        } else {
            self.root.clone()
        }
    }

    /// A path cargo printed, on the host.
    pub fn host_path(&self, printed: &str) -> PathBuf {
        if self.sandbox.is_some() {
            if let Ok(rest) = Path::new(printed).strip_prefix(sandbox::TARGET) {
                return self.mounts(Path::new(""), None).target.join(rest);
            }
            if let Ok(rest) = Path::new(printed).strip_prefix(sandbox::KIT) {
                return self.root.join(rest);
            }
        }
        PathBuf::from(printed)
    }

    /// `cargo ARGS` at the workspace root, stopped after `limit`.
    pub fn cargo(&self, args: &[String], limit: Duration) -> std::io::Result<Watched> {
        // Each submission's code is new: an incremental cache only costs time (unless this
        // build is made again and again), and linking test binaries without debug information
        // is about twice as fast (panic messages keep their file and line). The kit's own
        // builds keep the developer's settings.
        let mut env: Vec<(&str, &str)> = Vec::new();
        if self.staged {
            env.extend([
                ("CARGO_PROFILE_DEV_DEBUG", "0"),
                ("CARGO_PROFILE_TEST_DEBUG", "0"),
                (
                    "CARGO_INCREMENTAL",
                    if self.incremental { "1" } else { "0" },
                ),
            ]);
        }
        let mut args: Vec<OsString> = args.iter().map(OsString::from).collect();
        if self.staged {
            // The kit's lock file, never a resolution of the submission's making.
            args.push("--locked".into());
        }
        let watch = Watch::new(limit).keep(16 << 20).flood(256 << 20);
        match &self.sandbox {
            Some((sandbox, etc)) => {
                let command = sandbox.command(
                    Step::Build,
                    &self.mounts(etc, None),
                    &Invocation {
                        cwd: sandbox::KIT,
                        env: &env,
                        limits: Rlimits::for_step(Step::Build, limit),
                        program: "/netlab/rust/bin/cargo",
                        args: &args,
                    },
                );
                sandbox.watch(watch, command)
            }
            None => {
                let mut command =
                    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
                command
                    .current_dir(&self.root)
                    .args(&args)
                    .env("CARGO_TERM_COLOR", "never")
                    .envs(env);
                if let Some(target) = &self.target {
                    command.env("CARGO_TARGET_DIR", target);
                }
                watch.run(command)
            }
        }
    }

    /// The `--logfile` argument for a test process writing to `verdict`.
    pub fn log_argument(&self, verdict: &VerdictFile) -> OsString {
        match self.sandbox {
            Some(_) => Path::new(sandbox::VERDICT).join("log").into(),
            None => verdict.shared().join("log").into(),
        }
    }

    /// Runs a test binary the way `cargo test` would: in the package's folder, with the
    /// variables cargo sets, and no user setting that changes libtest's output. `watch` says
    /// how long (`limit`) and how much.
    pub fn test_process(
        &self,
        test: &TestProcess,
        verdict: &VerdictFile,
        watch: Watch,
        limit: Duration,
    ) -> std::io::Result<Watched> {
        let TestProcess {
            executable,
            package,
            package_dir,
            args,
        } = *test;
        let dir = self.root_inside().join(package_dir);
        let dir_text = dir.to_string_lossy().into_owned();
        let env = [
            ("CARGO_MANIFEST_DIR", dir_text.as_str()),
            ("CARGO_PKG_NAME", package),
            ("RUST_BACKTRACE", "0"),
        ];
        match &self.sandbox {
            Some((sandbox, etc)) => {
                let command = sandbox.command(
                    Step::Run,
                    &self.mounts(etc, Some(verdict)),
                    &Invocation {
                        cwd: &dir_text,
                        env: &env,
                        limits: Rlimits::for_step(Step::Run, limit),
                        program: executable,
                        args,
                    },
                );
                sandbox.watch(watch, command)
            }
            None => {
                let mut command = Command::new(self.host_path(executable));
                command
                    .current_dir(self.root.join(package_dir))
                    .args(args)
                    .env_remove("RUST_TEST_THREADS")
                    .env_remove("RUST_TEST_NOCAPTURE")
                    .env_remove("RUST_TEST_SHUFFLE")
                    .envs(env);
                watch.run(command)
            }
        }
    }
}
