//! Stopping a watched child and everything it started.
//!
//! The child gets its own process group ([`super::Watch::run`]), so one signal to the group
//! reaches the test binaries cargo started and any server a test left running. One process
//! leaves the group by design: the first process inside a bubblewrap sandbox (the init of its
//! PID namespace) starts its own session. It is meant to die with the launcher
//! (`--die-with-parent`), but bubblewrap arms that only once its setup is done, so a launcher
//! killed in its first milliseconds (a time limit or a Ctrl-C landing there) left the whole
//! sandbox running. Measured here with bubblewrap 0.8: 11 of 1,000 sandboxes killed at a
//! random moment in their first 40 ms kept running.
//!
//! So, on Linux, the group is first stopped (a stopped launcher starts nothing more), then the
//! child's own children are listed (after the kill they would belong to someone else), and
//! they are killed by pid and by group along with the child's group; killing the init of a PID
//! namespace kills everything inside it. Other systems (no `/proc`, and no sandbox either) get
//! the group kill alone.

use std::process::Child;
use std::time::{Duration, Instant};

/// How long to wait for the child to stop, and for its children to be gone.
const PATIENCE: Duration = Duration::from_secs(5);

/// Kills `child`, its process group, and (on Linux) its children that left the group; returns
/// once they are gone (or after a few seconds).
pub(super) fn kill_tree(child: &mut Child) {
    // Stopped first: a child that could still start processes while its children are being
    // listed (a launcher in its first milliseconds) might add one that the list misses and
    // that leaves the group before the kill. A stopped process starts nothing.
    if signal_group(child.id(), Signal::Stop) {
        wait_while(PATIENCE, || {
            state(child.id()).is_some_and(|s| !"TtZX".contains(s))
        });
    }
    let leavers: Vec<Known> = children_of(child.id())
        .into_iter()
        .filter_map(Known::now)
        .collect();
    kill_group(child.id());
    let _ = child.kill();
    for leaver in &leavers {
        leaver.kill();
    }
    let _ = child.wait();
    // A PID namespace's init dies only once every process inside it has, so once the children
    // are gone the sandbox is empty when the caller goes on (or exits).
    for leaver in &leavers {
        leaver.end();
    }
}

/// Sends SIGKILL to every process in the group `pid` leads (Windows: ends the process tree).
pub(super) fn kill_group(pid: u32) {
    // An error only says there was no such group left.
    let _ = signal_group(pid, Signal::Kill);
}

fn wait_while(patience: Duration, mut busy: impl FnMut() -> bool) {
    let deadline = Instant::now() + patience;
    while busy() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One process, known by its pid and its start time: a pid the system has given to another
/// process since is never signalled.
#[derive(Clone, Copy, Debug)]
pub(super) struct Known {
    pid: u32,
    started: u64,
}

impl Known {
    /// The first child of `parent` found (a bubblewrap launcher has exactly one: the init of
    /// the sandbox's PID namespace). `None` before it exists, and where there is no `/proc`.
    pub(super) fn first_child_of(parent: u32) -> Option<Known> {
        children_of(parent).into_iter().find_map(Known::now)
    }

    fn now(pid: u32) -> Option<Known> {
        let started = start_time(pid)?;
        Some(Known { pid, started })
    }

    /// True while this very process runs (not a zombie, not another one under its pid).
    fn running(&self) -> bool {
        start_time(self.pid) == Some(self.started) && running(self.pid)
    }

    /// Kills it, and the group it leads, if it still runs.
    fn kill(&self) {
        if self.running() {
            kill_group(self.pid);
            kill_one(self.pid);
        }
    }

    /// Kills it if it still runs and waits until it has ended (or a few seconds). For a PID
    /// namespace's init, that means until every process in the namespace has ended.
    pub(super) fn end(&self) {
        self.kill();
        wait_while(PATIENCE, || self.running());
    }
}

#[derive(Clone, Copy)]
enum Signal {
    Stop,
    Kill,
}

/// Sends SIGKILL to every process in the group `pid` leads (Windows: ends the process tree).
/// Sends `signal` to every process in the group `pid` leads; false when there is no such group
/// (or on Windows, which has no groups to stop: Kill ends the process tree there).
fn signal_group(pid: u32, signal: Signal) -> bool {
    #[cfg(unix)]
    {
        use nix::sys::signal::killpg;
        use nix::unistd::Pid;
        let signal = match signal {
            Signal::Stop => nix::sys::signal::Signal::SIGSTOP,
            Signal::Kill => nix::sys::signal::Signal::SIGKILL,
        };
        killpg(Pid::from_raw(pid as i32), signal).is_ok()
    }
    #[cfg(windows)]
    if let Signal::Kill = signal {
        // std can end one process, not a tree; taskkill can.
        use std::process::{Command, Stdio};
        let _ = Command::new("taskkill")
            .args(["/F", "/T", "/PID", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    #[cfg(not(unix))]
    {
        let _ = (pid, signal);
        false
    }
}

#[cfg(unix)]
fn kill_one(pid: u32) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
}

#[cfg(not(unix))]
fn kill_one(_pid: u32) {}

/// The pids whose parent is `parent`: from the kernel's list of each of its threads'
/// children where the kernel keeps one (`CONFIG_PROC_CHILDREN`, one small read per thread),
/// else from every `/proc/*/stat`.
#[cfg(target_os = "linux")]
fn children_of(parent: u32) -> Vec<u32> {
    let listed = std::fs::read_dir(format!("/proc/{parent}/task")).and_then(|threads| {
        let mut children = Vec::new();
        for thread in threads {
            let list = std::fs::read_to_string(thread?.path().join("children"))?;
            children.extend(
                list.split_whitespace()
                    .filter_map(|pid| pid.parse::<u32>().ok()),
            );
        }
        Ok(children)
    });
    match listed {
        Ok(children) => children,
        Err(_) => children_by_scan(parent),
    }
}

#[cfg(target_os = "linux")]
fn children_by_scan(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let ppid: u32 = stat_field(pid, 4)?.parse().ok()?;
            (ppid == parent).then_some(pid)
        })
        .collect()
}

#[cfg(not(target_os = "linux"))]
fn children_of(_parent: u32) -> Vec<u32> {
    Vec::new()
}

/// True while `pid` exists and has not ended (a zombie has: only its exit status is left
/// for its parent to collect).
fn running(pid: u32) -> bool {
    state(pid).is_some_and(|s| s != 'Z' && s != 'X')
}

/// The state letter of `pid` (`R`unning, `S`leeping, s`T`opped, `Z`ombie, …), `None` once it
/// is gone or where there is no `/proc`.
#[cfg(target_os = "linux")]
fn state(pid: u32) -> Option<char> {
    stat_field(pid, 3)?.chars().next()
}

#[cfg(not(target_os = "linux"))]
fn state(_pid: u32) -> Option<char> {
    None
}

/// When `pid` started (clock ticks after boot: field 22 of `/proc/PID/stat`).
#[cfg(target_os = "linux")]
fn start_time(pid: u32) -> Option<u64> {
    stat_field(pid, 22)?.parse().ok()
}

/// Field `number` (counted from 1, as `man 5 proc` does) of `/proc/PID/stat`. The name
/// (field 2) may hold spaces and parentheses, so fields from the third on are read after
/// its last `)`.
#[cfg(target_os = "linux")]
fn stat_field(pid: u32, number: usize) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let field = stat
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(number - 3)?;
    Some(field.to_string())
}

#[cfg(not(target_os = "linux"))]
fn start_time(_pid: u32) -> Option<u64> {
    None
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};

    #[test]
    fn a_child_that_left_the_group_is_killed_with_it() {
        // `setsid` puts the sleep in a session (and group) of its own, as bubblewrap does
        // with a sandbox's first process: the group kill alone would miss it.
        let mut shell = Command::new("sh")
            .args(["-c", "setsid sleep 60 & echo $!; wait"])
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(shell.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let sleep: u32 = line.trim().parse().unwrap();
        // `echo $!` can run before the child has called setsid: wait until it has left.
        let deadline = Instant::now() + Duration::from_secs(10);
        while session_of(sleep) != Some(sleep) {
            assert!(Instant::now() < deadline, "the sleep never left the group");
            std::thread::sleep(Duration::from_millis(5));
        }

        kill_tree(&mut shell);
        assert!(!running(sleep), "the sleep outlived the kill");
    }

    #[test]
    fn a_name_with_parentheses_and_spaces_does_not_confuse_the_reader() {
        // The kernel names a process after the file it ran: here a link called `a) (b c`.
        let dir = std::env::temp_dir().join(format!("netlab-kill-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let odd = dir.join("a) (b c");
        let _ = std::fs::remove_file(&odd);
        std::os::unix::fs::symlink("/bin/sleep", &odd).unwrap();
        let mut child = Command::new(&odd)
            .arg("60")
            .process_group(0)
            .spawn()
            .unwrap();
        let ours = std::process::id();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string(format!("/proc/{}/stat", child.id()))
            .unwrap_or_default()
            .contains("(a) (b c)")
        {
            assert!(
                Instant::now() < deadline,
                "the child never ran under its odd name"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(children_of(ours).contains(&child.id()));
        assert!(children_by_scan(ours).contains(&child.id()));
        assert_eq!(stat_field(child.id(), 4), Some(ours.to_string()));
        kill_tree(&mut child);
        assert!(!running(child.id()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_known_child_is_ended_and_waited_for_and_a_reused_pid_is_left_alone() {
        let mut shell = Command::new("sh")
            .args(["-c", "sleep 60 & wait"])
            .process_group(0)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let sleep = loop {
            if let Some(known) = Known::first_child_of(shell.id()) {
                break known;
            }
            assert!(Instant::now() < deadline, "the sleep never started");
            std::thread::sleep(Duration::from_millis(5));
        };
        assert!(sleep.running());
        // The same pid with another start time is another process: not ours to signal.
        let stranger = Known {
            pid: sleep.pid,
            started: sleep.started + 1,
        };
        assert!(!stranger.running());
        stranger.end();
        assert!(sleep.running(), "a process under a reused pid was killed");

        sleep.end();
        assert!(!sleep.running());
        assert!(!running(sleep.pid) || start_time(sleep.pid) != Some(sleep.started));
        let _ = shell.wait();
    }

    fn session_of(pid: u32) -> Option<u32> {
        stat_field(pid, 6)?.parse().ok()
    }
}
