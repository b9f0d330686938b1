//! Where a test's verdict comes from: libtest's log file, never the test's stdout.
//!
//! Code under test shares stdout with libtest: it can print `test NAME ... ok` and exit. So
//! the grader runs each graded test in its own process with `--logfile`, and reads the result
//! from that file, which libtest writes as each test ends (`ok NAME`, `failed NAME`).
//!
//! For a submission the file is made unreachable before any student code runs (see
//! `lab_harness::seal_verdicts`): the test process sees the file in a folder of its own
//! ([`VerdictFile::shared`]), the grader keeps a second name for the same file in a folder
//! the process never sees ([`VerdictFile::read`]). The seal test, which runs first, removes
//! the name the process can see. A sealed log is trusted only when its first line is `ok`
//! for the seal. While the test runs, [`VerdictFile::check`] watches the shared folder: the
//! code under test may not fill the grader's disk through it.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use lab_harness::SEAL_TEST;

/// The log's name, in both folders.
const LOG: &str = "log";
/// More than this in a log (it holds two short lines), or in the shared folder, is not
/// libtest's doing.
const LOG_CAP: u64 = 64 << 10;

/// The log file of one test process.
#[derive(Debug)]
pub struct VerdictFile {
    shared: PathBuf,
    private: PathBuf,
}

impl VerdictFile {
    /// Makes `dir/shared/log` and `dir/private/log`, two names of one empty file.
    pub fn create(dir: &Path) -> io::Result<VerdictFile> {
        let shared = dir.join("shared");
        let private = dir.join("private");
        fs::create_dir_all(&shared)?;
        fs::create_dir_all(&private)?;
        fs::write(private.join(LOG), "")?;
        fs::hard_link(private.join(LOG), shared.join(LOG))?;
        Ok(VerdictFile { shared, private })
    }

    /// The folder the test process gets; the log in it is `log`.
    pub fn shared(&self) -> &Path {
        &self.shared
    }

    /// `Some(reason)` when the shared folder holds more than libtest's log: the test process
    /// is then stopped.
    pub fn check(&self) -> Option<String> {
        let entries = match fs::read_dir(&self.shared) {
            Ok(entries) => entries,
            Err(error) => return Some(format!("the grader's verdict folder went away: {error}")),
        };
        for entry in entries {
            let Ok(entry) = entry else { continue };
            if !allowed(&entry.file_name(), entry.metadata()) {
                return Some(
                    "the test wrote into the folder where the grader keeps its verdicts".into(),
                );
            }
        }
        None
    }

    /// What libtest wrote (at most [`LOG_CAP`] bytes).
    pub fn read(&self) -> io::Result<String> {
        let mut text = String::new();
        fs::File::open(self.private.join(LOG))?
            .take(LOG_CAP)
            .read_to_string(&mut text)?;
        Ok(text)
    }
}

/// Whether an entry of the shared folder is libtest's log and nothing more. An entry listed
/// and then gone (`NotFound`) is allowed: the seal test removes the log's name while the
/// grader looks, and something removed is nothing written.
fn allowed(name: &std::ffi::OsStr, metadata: io::Result<fs::Metadata>) -> bool {
    match metadata {
        Ok(metadata) => name == LOG && metadata.is_file() && metadata.len() <= LOG_CAP,
        Err(error) => error.kind() == io::ErrorKind::NotFound,
    }
}

/// What the log says about one test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed,
    Ignored,
    /// The process ended (or was stopped) before libtest wrote this test's result.
    Missing,
}

/// Reads `name`'s verdict from a log. With `sealed`, the log must be exactly the seal's `ok`
/// line then at most the test's own line; anything else is an error that says why the log
/// cannot be trusted.
pub fn verdict_of(log: &str, name: &str, sealed: bool) -> Result<Verdict, String> {
    let mut lines: Vec<&str> = log.lines().collect();
    if sealed {
        let seal = format!("ok {SEAL_TEST}");
        if lines.first() != Some(&seal.as_str()) {
            return Err(format!(
                "the grader could not seal this test's verdict (its log starts {:?}): nothing it \
                 says can be trusted",
                lines.first().copied().unwrap_or("empty")
            ));
        }
        lines.remove(0);
        if lines.len() > 1 {
            return Err("the test's verdict log holds more than one result".into());
        }
    }
    // `RESULT NAME`; a result may hold spaces (`failed: message`), a test name never does.
    for line in lines {
        let Some((result, logged)) = line.rsplit_once(' ') else {
            continue;
        };
        if logged != name {
            continue;
        }
        return Ok(if result == "ok" {
            Verdict::Passed
        } else if result.starts_with("ignored") {
            Verdict::Ignored
        } else {
            Verdict::Failed
        });
    }
    Ok(Verdict::Missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(rest: &str) -> String {
        format!("ok {SEAL_TEST}\n{rest}")
    }

    #[test]
    fn results_are_read_by_name() {
        assert_eq!(
            verdict_of(&sealed("ok a::b\n"), "a::b", true),
            Ok(Verdict::Passed)
        );
        assert_eq!(
            verdict_of(&sealed("failed a\n"), "a", true),
            Ok(Verdict::Failed)
        );
        assert_eq!(
            verdict_of(&sealed("failed: expected panic a\n"), "a", true),
            Ok(Verdict::Failed)
        );
        assert_eq!(
            verdict_of(&sealed("ignored a\n"), "a", true),
            Ok(Verdict::Ignored)
        );
        assert_eq!(verdict_of(&sealed(""), "a", true), Ok(Verdict::Missing));
        assert_eq!(verdict_of("ok a\n", "a", false), Ok(Verdict::Passed));
        assert_eq!(verdict_of("ok ab\n", "a", false), Ok(Verdict::Missing));
    }

    #[test]
    fn an_unsealed_or_crowded_log_is_not_trusted() {
        assert!(verdict_of("ok a\n", "a", true).is_err());
        assert!(verdict_of("", "a", true).is_err());
        assert!(verdict_of(&sealed("ok a\nok a\n"), "a", true).is_err());
        let forged = format!("failed {SEAL_TEST}\nok a\n");
        assert!(verdict_of(&forged, "a", true).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn only_the_log_may_be_in_the_shared_folder_and_a_vanished_entry_is_no_write() {
        let dir = crate::grade::stage::TempDir::new("verdict-allowed").unwrap();
        let log = dir.path().join(LOG);
        fs::write(&log, "ok x\n").unwrap();
        let other = dir.path().join("forged");
        fs::write(&other, "").unwrap();
        let name = |path: &Path| path.file_name().unwrap().to_os_string();
        assert!(allowed(&name(&log), fs::metadata(&log)));
        assert!(!allowed(&name(&other), fs::metadata(&other)));
        assert!(
            !allowed(&name(&log), fs::metadata(dir.path())),
            "a folder named log"
        );
        let gone = dir.path().join("gone");
        assert!(
            allowed(&name(&gone), fs::metadata(&gone)),
            "removed meanwhile"
        );
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        assert!(!allowed(&name(&log), Err(denied)));
    }

    #[test]
    fn the_grader_reads_its_own_name_for_the_file() {
        let temp = super::super::stage::TempDir::new("verdict-test").unwrap();
        let file = VerdictFile::create(temp.path()).unwrap();
        fs::write(file.shared().join(LOG), "ok x\n").unwrap();
        // The test process removes the name it sees; the grader still reads the file.
        fs::remove_file(file.shared().join(LOG)).unwrap();
        assert_eq!(file.read().unwrap(), "ok x\n");
        assert_eq!(file.check(), None);
        fs::write(file.shared().join("junk"), "x").unwrap();
        assert!(file.check().is_some());
    }
}
