//! The sandbox a submission is built and tested in: bubblewrap (`bwrap`) on Linux.
//!
//! A submission is hostile code (see the lab book's "Trust and sandboxing" page). Each build
//! and each test process of a submission runs in a fresh sandbox that:
//! - has its own user, PID, network, IPC and UTS namespaces: it sees only its own processes,
//!   only a loopback network, and every process it starts dies with it (PID namespace);
//! - sees a fixed, minimal file system under `/netlab/…` and nothing of the grading machine:
//!   the system's `/usr` (compiler, linker, shell), a few synthetic `/etc` files, the staged
//!   kit (read-only), its own target folder (writable while building, read-only while
//!   testing) and, while building, the toolchain and the crate registry (read-only). No home
//!   folder, no other submission, no solutions, no kit path, no grader environment;
//! - has no `/proc` while testing, so no process can reopen another's files or memory, and a
//!   seccomp filter that refuses `ptrace`, `process_vm_readv`/`writev` and `pidfd_getfd`,
//!   the other ways into a process of the same user;
//! - runs with a fixed environment, resource limits (`prlimit`: address space, processes,
//!   file size, open files, CPU time) and size-limited temporary folders.
//!
//! Paths inside are the same for every submission, so compiler messages and panic locations
//! never show where the grader keeps things, and the dependencies built once for a batch are
//! fresh for every copy of them.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::{Watch, Watched};

/// The staged kit, inside the sandbox.
pub const KIT: &str = "/netlab/kit";
/// The target folder, inside the sandbox.
pub const TARGET: &str = "/netlab/target";
/// Where a test process finds the file libtest writes its verdicts to.
pub const VERDICT: &str = "/netlab/verdict";
const HOME: &str = "/netlab/home";
const RUST: &str = "/netlab/rust";
const CARGO_HOME: &str = "/netlab/cargo";
/// The user inside the sandbox (nobody). It maps to the grader's own user outside: the
/// sandbox never has more rights than the grader, and the mounts decide what it can touch.
const UID: &str = "65534";

/// What a sandboxed process does, which decides what it sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// `cargo build` of the staged kit: toolchain, registry, `/proc`, a writable target.
    Build,
    /// One test process: a read-only target, no toolchain, no `/proc`, a verdict folder.
    Run,
}

/// The host folders a sandbox is made of.
#[derive(Clone, Debug)]
pub struct Mounts {
    /// Mounted read-only at [`KIT`].
    pub kit: PathBuf,
    /// Mounted at [`TARGET`]: writable for [`Step::Build`], read-only for [`Step::Run`].
    pub target: PathBuf,
    /// Holds the synthetic `/etc` files ([`write_etc`]).
    pub etc: PathBuf,
    /// Mounted writable at [`VERDICT`] for [`Step::Run`].
    pub verdict: Option<PathBuf>,
}

/// Resource limits of one sandboxed process and everything it starts.
#[derive(Clone, Copy, Debug)]
pub struct Rlimits {
    pub address_space: u64,
    pub processes: u64,
    pub file_size: u64,
    pub open_files: u64,
    /// CPU seconds, a backstop behind the grader's wall-clock limit.
    pub cpu: Duration,
}

impl Rlimits {
    pub fn for_step(step: Step, time: Duration) -> Rlimits {
        let gib = 1u64 << 30;
        Rlimits {
            // rustc needs several GiB of address space for a big crate; a test far less.
            address_space: if step == Step::Build {
                16 * gib
            } else {
                4 * gib
            },
            processes: 512,
            file_size: if step == Step::Build {
                2 * gib
            } else {
                256 << 20
            },
            open_files: 4096,
            cpu: time + Duration::from_secs(5),
        }
    }
}

/// What to run in a sandbox: paths are inside it.
pub struct Invocation<'a> {
    pub cwd: &'a str,
    /// Added to the sandbox's fixed environment.
    pub env: &'a [(&'a str, &'a str)],
    pub limits: Rlimits,
    pub program: &'a str,
    pub args: &'a [OsString],
}

/// A working bubblewrap and what the sandboxes need from the host.
#[derive(Clone, Debug)]
pub struct Sandbox {
    bwrap: PathBuf,
    /// The toolchain building the kit here (the folder with `bin/cargo` and `bin/rustc`).
    toolchain: PathBuf,
    /// Cargo's home here, for its crate registry.
    cargo_home: PathBuf,
    /// `prlimit` (util-linux), if the system has it.
    prlimit: Option<PathBuf>,
    /// bubblewrap's version: older ones lack options (see [`Sandbox::command`]).
    version: (u32, u32),
}

impl Sandbox {
    /// Finds bubblewrap and checks that it can make a sandbox here. The error is one line
    /// that names what is missing and what to do.
    pub fn find() -> Result<Sandbox, String> {
        if !cfg!(target_os = "linux") {
            return Err(format!(
                "grading a submission needs a sandbox, and the sandbox needs Linux with \
                 bubblewrap (bwrap); this is {}. Grade on Linux, or pass --unsandboxed to run \
                 the submission's code with your own rights (only for code you trust)",
                env::consts::OS
            ));
        }
        let bwrap = find_program("bwrap").ok_or(
            "grading a submission needs a sandbox: bubblewrap (bwrap) is not installed. Install \
             it (Debian/Ubuntu: apt-get install bubblewrap), or pass --unsandboxed to run the \
             submission's code with your own rights (only for code you trust)",
        )?;
        let toolchain = toolchain().ok_or(
            "cannot find the Rust toolchain's folder (the one with bin/cargo and bin/rustc) to \
             put in the sandbox",
        )?;
        let version = version(&bwrap).ok_or_else(|| {
            format!(
                "cannot tell the version of bubblewrap ({} --version)",
                bwrap.display()
            )
        })?;
        let sandbox = Sandbox {
            bwrap,
            toolchain,
            cargo_home: cargo_home(),
            prlimit: ["/usr/bin/prlimit", "/bin/prlimit"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file()),
            version,
        };
        sandbox.smoke_test()?;
        Ok(sandbox)
    }

    /// What this sandbox cannot do here, for the reader of a report (empty: everything).
    pub fn shortcomings(&self) -> Vec<String> {
        let mut missing = Vec::new();
        if self.prlimit.is_none() {
            missing.push(
                "no prlimit (util-linux): the sandboxes run without resource limits".to_string(),
            );
        }
        if !self.sizes_tmpfs() {
            missing.push(format!(
                "bubblewrap {}.{} cannot cap the size of the sandboxes' temporary folders \
                 (0.7 can)",
                self.version.0, self.version.1
            ));
        }
        if !self.disables_userns() {
            missing.push(format!(
                "bubblewrap {}.{} cannot forbid new user namespaces inside the sandbox (0.8 \
                 can)",
                self.version.0, self.version.1
            ));
        }
        missing
    }

    /// `--size` for a tmpfs: bubblewrap 0.7.
    fn sizes_tmpfs(&self) -> bool {
        self.version >= (0, 7)
    }

    /// `--disable-userns`: bubblewrap 0.8.
    fn disables_userns(&self) -> bool {
        self.version >= (0, 8)
    }

    /// Runs `true` in a sandbox made exactly as for a test: bwrap may be installed but not
    /// allowed to make namespaces (a container without user namespaces), or refuse one of
    /// the options.
    fn smoke_test(&self) -> Result<(), String> {
        let fail = |why: String| {
            format!(
                "bubblewrap cannot make a sandbox here ({why}): user namespaces may be disabled \
                 (in a container, allow them); or pass --unsandboxed to run the submission's \
                 code with your own rights (only for code you trust)"
            )
        };
        let dir = super::stage::TempDir::new("sandbox-check").map_err(|e| fail(e.to_string()))?;
        let mounts = Mounts {
            kit: dir.path().join("kit"),
            target: dir.path().join("target"),
            etc: dir.path().join("etc"),
            verdict: Some(dir.path().join("verdict")),
        };
        for folder in [
            &mounts.kit,
            &mounts.target,
            mounts.verdict.as_ref().unwrap(),
        ] {
            fs::create_dir_all(folder).map_err(|e| fail(e.to_string()))?;
        }
        write_etc(&mounts.etc).map_err(|e| fail(e.to_string()))?;
        let invocation = Invocation {
            cwd: KIT,
            env: &[],
            limits: Rlimits::for_step(Step::Run, Duration::from_secs(30)),
            program: "/usr/bin/true",
            args: &[],
        };
        let command = self.command(Step::Run, &mounts, &invocation);
        let run = self
            .watch(Watch::new(Duration::from_secs(30)), command)
            .map_err(|e| format!("cannot run bubblewrap ({}): {e}", self.bwrap.display()))?;
        if run.success() {
            return Ok(());
        }
        Err(fail(
            run.stderr
                .lines()
                .next()
                .unwrap_or("no message")
                .trim()
                .to_string(),
        ))
    }

    /// `bwrap … -- [prlimit …] PROGRAM ARGS` for one step, to run with [`Sandbox::watch`].
    pub fn command(&self, step: Step, mounts: &Mounts, what: &Invocation) -> Command {
        let Invocation {
            cwd,
            env,
            limits,
            program,
            args,
        } = what;
        let mut command = Command::new(&self.bwrap);
        let arg = |command: &mut Command, items: &[&str]| {
            command.args(items);
        };
        arg(
            &mut command,
            &[
                "--unshare-all",
                "--unshare-user",
                "--die-with-parent",
                "--new-session",
                "--hostname",
                "netlab",
                "--uid",
                UID,
                "--gid",
                UID,
                "--clearenv",
                // The seccomp filter comes on stdin (std cannot hand a child any other file
                // descriptor without `unsafe`); bwrap reads it before the program starts.
                "--seccomp",
                "0",
            ],
        );
        if self.disables_userns() {
            // No user namespace inside: nothing in the sandbox can gain the rights to mount.
            command.arg("--disable-userns");
        }
        command
            .args(["--ro-bind", "/usr", "/usr"])
            .args(root_links());
        for file in ["ld.so.cache", "ld.so.conf", "alternatives"] {
            let host = Path::new("/etc").join(file);
            command.arg("--ro-bind-try").arg(&host).arg(&host);
        }
        for file in ETC_FILES {
            command
                .arg("--ro-bind")
                .arg(mounts.etc.join(file))
                .arg(Path::new("/etc").join(file));
        }
        command.arg("--dev").arg("/dev");
        // Temporary folders live in memory: capped, where bubblewrap can, so that nothing
        // written there can take the machine's memory.
        for (folder, size) in [
            ("/tmp", 256u64 << 20),
            (HOME, 64 << 20),
            ("/dev/shm", 64 << 20),
        ] {
            if self.sizes_tmpfs() {
                command.args(["--size", &size.to_string()]);
            }
            command.args(["--tmpfs", folder]);
        }
        // /dev itself is another memory-backed folder, and nothing needs to write there
        // (its devices still work on a read-only mount).
        command.args(["--remount-ro", "/dev"]);
        command.arg("--ro-bind").arg(&mounts.kit).arg(KIT);
        match step {
            Step::Build => {
                command.arg("--bind").arg(&mounts.target).arg(TARGET);
                command.arg("--proc").arg("/proc");
                command.arg("--ro-bind").arg(&self.toolchain).arg(RUST);
                for part in ["registry", "git"] {
                    command
                        .arg("--ro-bind-try")
                        .arg(self.cargo_home.join(part))
                        .arg(Path::new(CARGO_HOME).join(part));
                }
            }
            Step::Run => {
                command.arg("--ro-bind").arg(&mounts.target).arg(TARGET);
                if let Some(verdict) = &mounts.verdict {
                    command.arg("--bind").arg(verdict).arg(VERDICT);
                }
            }
        }
        let path = match step {
            Step::Build => "/netlab/rust/bin:/usr/bin:/bin",
            Step::Run => "/usr/bin:/bin",
        };
        let mut fixed = vec![
            ("PATH", path),
            ("HOME", HOME),
            ("TMPDIR", "/tmp"),
            ("LANG", "C.UTF-8"),
            ("RUST_BACKTRACE", "0"),
        ];
        if step == Step::Build {
            fixed.extend([
                ("CARGO_HOME", CARGO_HOME),
                ("CARGO_TARGET_DIR", TARGET),
                ("RUSTC", "/netlab/rust/bin/rustc"),
                ("CARGO_NET_OFFLINE", "true"),
                ("CARGO_TERM_COLOR", "never"),
            ]);
        }
        for (key, value) in fixed.iter().chain(env.iter()) {
            command.args(["--setenv", key, value]);
        }
        command.args(["--chdir", *cwd, "--"]);
        if let Some(prlimit) = &self.prlimit {
            command.arg(prlimit).args([
                format!("--as={}", limits.address_space),
                format!("--nproc={}", limits.processes),
                format!("--fsize={}", limits.file_size),
                format!("--nofile={}", limits.open_files),
                format!("--cpu={}", limits.cpu.as_secs().max(1)),
                "--core=0".to_string(),
                "--".to_string(),
            ]);
        }
        command.arg(program).args(*args);
        command
    }

    /// A [`Watch`] whose child gets the seccomp filter on its stdin (see [`Sandbox::command`]),
    /// and whose sandbox is empty when it returns ([`Watch::launcher`]).
    pub fn watch<'a>(&self, watch: Watch<'a>, command: Command) -> std::io::Result<Watched> {
        watch.stdin(seccomp_program()?).launcher().run(command)
    }
}

/// The synthetic `/etc` files every sandbox gets ([`write_etc`]).
const ETC_FILES: &[&str] = &["hosts", "passwd", "group", "nsswitch.conf"];

/// Writes the synthetic `/etc` files into `dir`: `localhost` resolves (tests use it), the
/// sandbox's user has a name, and nothing of the grading machine's own files is shown.
pub fn write_etc(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    for (file, text) in [
        (
            "hosts",
            "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n",
        ),
        (
            "passwd",
            "nobody:x:65534:65534:nobody:/netlab/home:/bin/sh\n",
        ),
        ("group", "nogroup:x:65534:\n"),
        (
            "nsswitch.conf",
            "passwd: files\ngroup: files\nhosts: files dns\n",
        ),
    ] {
        fs::write(dir.join(file), text)?;
    }
    Ok(())
}

/// `/bin`, `/lib`, … as the host has them: on a merged-`/usr` system they are links into
/// `/usr` (which is mounted); elsewhere their own folders, mounted read-only.
fn root_links() -> Vec<OsString> {
    let mut args = Vec::new();
    for name in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
        let path = Path::new("/").join(name);
        match fs::read_link(&path) {
            Ok(target) => {
                args.extend(["--symlink".into(), target.into_os_string()]);
                args.push(path.into_os_string());
            }
            Err(_) if path.is_dir() => {
                args.extend(["--ro-bind".into(), path.clone().into_os_string()]);
                args.push(path.into_os_string());
            }
            Err(_) => {}
        }
    }
    args
}

/// `bubblewrap 0.8.0` → (0, 8).
fn version(bwrap: &Path) -> Option<(u32, u32)> {
    let output = Command::new(bwrap)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    parse_version(&String::from_utf8_lossy(&output.stdout))
}

fn parse_version(text: &str) -> Option<(u32, u32)> {
    let number = text.split_whitespace().nth(1)?;
    let mut parts = number.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}

fn find_program(name: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// The folder holding the `bin/cargo` and `bin/rustc` that build the kit here: the one
/// `cargo lab` was started by (`CARGO`), else the one `rustc --print sysroot` names. The
/// real toolchain, never a rustup proxy (which would need rustup's home in the sandbox).
fn toolchain() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("bin/cargo").is_file() && dir.join("bin/rustc").is_file();
    if let Some(cargo) = env::var_os("CARGO") {
        let dir = Path::new(&cargo).parent()?.parent()?.to_path_buf();
        if has_both(&dir) {
            return Some(dir);
        }
    }
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc)
        .args(["--print", "sysroot"])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let dir = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    has_both(&dir).then_some(dir)
}

fn cargo_home() -> PathBuf {
    env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from("/nonexistent"))
}

/// The seccomp filter as a file to give bwrap on stdin.
fn seccomp_program() -> std::io::Result<fs::File> {
    // An unnamed temporary file: written, rewound, read once by bwrap.
    let mut file = tempfile_in(&env::temp_dir())?;
    file.write_all(&seccomp::program())?;
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(0))?;
    Ok(file)
}

/// A file that is gone from its folder as soon as it is open.
fn tempfile_in(dir: &Path) -> std::io::Result<fs::File> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let path = dir.join(format!(
        ".netlab-seccomp-{}-{}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    ));
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    fs::remove_file(&path)?;
    Ok(file)
}

/// A classic-BPF seccomp program (the format bwrap's `--seccomp` takes) that refuses the
/// system calls one process can use to reach into another of the same user: `ptrace`,
/// `process_vm_readv`, `process_vm_writev` and `pidfd_getfd`. Without them (and without
/// `/proc`), a test's children cannot write into the test process or take its files.
///
/// Written out by hand because it is eight instructions; each is a `struct sock_filter`
/// (`u16 code, u8 jt, u8 jf, u32 k`, native byte order). System calls of another ABI than
/// the native one (i386 or x32 on x86-64) are refused too, since their numbers differ.
pub mod seccomp {
    const LOAD_WORD: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JUMP_EQUAL: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const JUMP_AT_LEAST: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
    const RETURN: u16 = 0x06; // BPF_RET | BPF_K
    const ALLOW: u32 = 0x7fff_0000; // SECCOMP_RET_ALLOW
    const ERRNO: u32 = 0x0005_0000; // SECCOMP_RET_ERRNO | errno
    const EPERM: u32 = 1;
    const ENOSYS: u32 = 38;
    /// Offsets in `struct seccomp_data`.
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    /// x32 system calls have this bit set.
    const X32_BIT: u32 = 0x4000_0000;

    #[cfg(target_arch = "x86_64")]
    const NATIVE: (u32, [u32; 4]) = (0xc000_003e, [101, 310, 311, 438]);
    #[cfg(target_arch = "aarch64")]
    const NATIVE: (u32, [u32; 4]) = (0xc000_00b7, [117, 270, 271, 438]);

    fn instruction(code: u16, jt: u8, jf: u8, k: u32) -> [u8; 8] {
        let mut bytes = [0; 8];
        bytes[..2].copy_from_slice(&code.to_ne_bytes());
        bytes[2] = jt;
        bytes[3] = jf;
        bytes[4..].copy_from_slice(&k.to_ne_bytes());
        bytes
    }

    /// The program's bytes.
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    pub fn program() -> Vec<u8> {
        let (arch, refused) = NATIVE;
        let mut program = vec![
            instruction(LOAD_WORD, 0, 0, ARCH),
            instruction(JUMP_EQUAL, 1, 0, arch),
            instruction(RETURN, 0, 0, ERRNO | ENOSYS),
            instruction(LOAD_WORD, 0, 0, NR),
        ];
        // Every jump below lands on the last instruction, "refuse".
        let last = 6 + refused.len() as u8;
        let jump_to_refuse = |at: u8| last - at - 1;
        program.push(instruction(JUMP_AT_LEAST, jump_to_refuse(4), 0, X32_BIT));
        for (i, number) in refused.iter().enumerate() {
            let at = 5 + i as u8;
            program.push(instruction(JUMP_EQUAL, jump_to_refuse(at), 0, *number));
        }
        program.push(instruction(RETURN, 0, 0, ALLOW));
        program.push(instruction(RETURN, 0, 0, ERRNO | EPERM));
        program.concat()
    }

    /// No filter on other processors (the sandbox still hides `/proc`).
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    pub fn program() -> Vec<u8> {
        Vec::new()
    }

    #[cfg(all(test, target_arch = "x86_64"))]
    mod tests {
        use super::*;

        #[test]
        fn the_filter_refuses_four_calls_and_allows_the_rest() {
            let program = program();
            let words: Vec<(u16, u8, u8, u32)> = program
                .chunks(8)
                .map(|c| {
                    (
                        u16::from_ne_bytes([c[0], c[1]]),
                        c[2],
                        c[3],
                        u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
                    )
                })
                .collect();
            assert_eq!(words.len(), 11);
            // Each refused call jumps to the last instruction, which returns EPERM.
            for (at, (code, jt, _, _)) in words.iter().enumerate().skip(4).take(5) {
                assert!(*code == JUMP_EQUAL || *code == JUMP_AT_LEAST);
                assert_eq!(at + 1 + *jt as usize, 10, "instruction {at}");
            }
            assert_eq!(words[9], (RETURN, 0, 0, ALLOW));
            assert_eq!(words[10], (RETURN, 0, 0, ERRNO | EPERM));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox(version: (u32, u32)) -> Sandbox {
        Sandbox {
            bwrap: PathBuf::from("bwrap"),
            toolchain: PathBuf::from("/toolchain"),
            cargo_home: PathBuf::from("/cargo"),
            prlimit: Some(PathBuf::from("/usr/bin/prlimit")),
            version,
        }
    }

    fn arguments(sandbox: &Sandbox, step: Step) -> Vec<String> {
        let mounts = Mounts {
            kit: PathBuf::from("/stage/kit"),
            target: PathBuf::from("/stage/target"),
            etc: PathBuf::from("/stage/etc"),
            verdict: Some(PathBuf::from("/stage/verdict")),
        };
        let invocation = Invocation {
            cwd: KIT,
            env: &[("EXTRA", "1")],
            limits: Rlimits::for_step(step, Duration::from_secs(10)),
            program: "/netlab/target/debug/deps/graded-1",
            args: &["--list".into()],
        };
        let command = sandbox.command(step, &mounts, &invocation);
        command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    /// `flag A B` appears in `args`.
    fn has(args: &[String], words: &[&str]) -> bool {
        args.windows(words.len())
            .any(|w| w.iter().zip(words).all(|(a, b)| a == b))
    }

    /// Processes whose command line holds `marker`.
    fn running_with(marker: &str) -> Vec<String> {
        let mut found = Vec::new();
        for entry in fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
            let line = fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let line = String::from_utf8_lossy(&line).replace('\0', " ");
            if line.contains(marker) {
                found.push(line);
            }
        }
        found
    }

    #[test]
    fn nothing_of_a_sandbox_runs_on_once_its_watch_returns() {
        let sandbox = match Sandbox::find() {
            Ok(sandbox) => sandbox,
            Err(why) => {
                assert!(env::var_os("CI").is_none(), "no sandbox under CI: {why}");
                eprintln!("note: no sandbox here ({why}): not checked");
                return;
            }
        };
        let dir = crate::grade::stage::TempDir::new("sandbox-ends").unwrap();
        let mounts = Mounts {
            kit: dir.path().join("kit"),
            target: dir.path().join("target"),
            etc: dir.path().join("etc"),
            verdict: None,
        };
        fs::create_dir_all(&mounts.kit).unwrap();
        fs::create_dir_all(&mounts.target).unwrap();
        write_etc(&mounts.etc).unwrap();
        let marker = format!("netlab-sandbox-{}", std::process::id());
        // The sandbox's first process leaves at once; what it started sits in a session of
        // its own with no standard streams, so no pipe keeps the watch waiting for it.
        let script = format!(
            "setsid sh -c 'exec >/dev/null 2>&1 </dev/null; touch /tmp/up; sleep 60; : {marker}' & \
             while [ ! -e /tmp/up ]; do :; done"
        );
        for (limit, ending) in [(30, "ended by itself"), (0, "stopped at its limit")] {
            let args = ["-c".into(), script.clone().into()];
            let command = sandbox.command(
                Step::Build,
                &mounts,
                &Invocation {
                    cwd: KIT,
                    env: &[],
                    limits: Rlimits::for_step(Step::Build, Duration::from_secs(30)),
                    program: "/bin/sh",
                    args: &args,
                },
            );
            // A limit of 0 stops the sandbox at the first look, in the middle of its setup.
            let watch = Watch::new(Duration::from_secs(limit));
            let run = sandbox.watch(watch, command).unwrap();
            if limit > 0 {
                assert!(run.success(), "{run:?}");
            }
            assert_eq!(running_with(&marker), Vec::<String>::new(), "{ending}");
        }
    }

    #[test]
    fn a_test_sees_its_build_read_only_and_no_proc_nor_toolchain() {
        let args = arguments(&sandbox((0, 8)), Step::Run);
        assert!(has(&args, &["--ro-bind", "/stage/target", TARGET]));
        assert!(has(&args, &["--ro-bind", "/stage/kit", KIT]));
        assert!(has(&args, &["--bind", "/stage/verdict", VERDICT]));
        assert!(
            !args
                .iter()
                .any(|a| a == "--proc" || a == RUST || a.contains("/cargo"))
        );
        assert!(has(&args, &["--clearenv"]) && has(&args, &["--setenv", "EXTRA", "1"]));
        assert!(has(&args, &["--seccomp", "0"]) && has(&args, &["--disable-userns"]));
        assert!(has(&args, &["--size", "268435456", "--tmpfs", "/tmp"]));
        // The program runs under prlimit, last.
        let tail = &args[args.len() - 3..];
        assert_eq!(tail, ["--", "/netlab/target/debug/deps/graded-1", "--list"]);
        assert!(has(&args, &["--", "/usr/bin/prlimit", "--as=4294967296"]));
    }

    #[test]
    fn a_build_sees_the_toolchain_and_a_writable_target() {
        let args = arguments(&sandbox((0, 8)), Step::Build);
        assert!(has(&args, &["--bind", "/stage/target", TARGET]));
        assert!(has(&args, &["--ro-bind", "/toolchain", RUST]));
        assert!(has(
            &args,
            &["--ro-bind-try", "/cargo/registry", "/netlab/cargo/registry"]
        ));
        assert!(has(&args, &["--proc", "/proc"]));
        assert!(!args.iter().any(|a| a == VERDICT));
    }

    #[test]
    fn an_older_bubblewrap_gets_only_the_options_it_knows() {
        let old = sandbox((0, 6));
        let args = arguments(&old, Step::Run);
        assert!(
            !args
                .iter()
                .any(|a| a == "--size" || a == "--disable-userns")
        );
        assert!(has(&args, &["--tmpfs", "/tmp"]));
        assert_eq!(old.shortcomings().len(), 2, "{:?}", old.shortcomings());
        assert!(sandbox((0, 8)).shortcomings().is_empty());
    }

    #[test]
    fn bubblewrap_versions_are_read() {
        assert_eq!(parse_version("bubblewrap 0.8.0\n"), Some((0, 8)));
        assert_eq!(parse_version("bubblewrap 0.11.1"), Some((0, 11)));
        assert_eq!(parse_version("nonsense"), None);
    }
}
