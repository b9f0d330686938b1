//! Deadlines for test bodies.
//!
//! A student's client that never flushes, or loops forever after end-of-file, would hang the
//! whole test run: libtest has no per-test timeout. [`Watchdog::run`] runs the body on its own
//! thread and waits for it with a deadline. When the deadline passes, the test fails with a
//! message that starts with [`DEADLINE_EXPIRED`], gives the caller's hint ("did you flush?")
//! and what the watched servers saw. The stuck thread cannot be killed from inside the
//! process; it is abandoned and ends with the test binary. (`cargo lab grade` runs each
//! exercise in its own process and kills that process if it hangs anyway.)

use std::panic;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use crate::record::Recording;

/// How every watchdog failure message starts, so tools (the grader) can recognise a timeout.
pub const DEADLINE_EXPIRED: &str = "deadline expired";

/// A deadline, a hint for the student, and the servers whose recordings explain a timeout.
#[must_use = "a watchdog does nothing until `run` is called"]
pub struct Watchdog {
    limit: Duration,
    hint: String,
    watched: Vec<Recording>,
}

impl Watchdog {
    pub fn new(limit: Duration) -> Watchdog {
        Watchdog {
            limit,
            hint: String::new(),
            watched: Vec::new(),
        }
    }

    /// What most likely went wrong if the deadline passes.
    pub fn hint(mut self, hint: impl Into<String>) -> Watchdog {
        self.hint = hint.into();
        self
    }

    /// Adds a server's recording to the timeout message.
    pub fn watch(mut self, recording: &Recording) -> Watchdog {
        self.watched.push(recording.clone());
        self
    }

    /// Runs `body` and returns its result, or fails the test when the deadline passes. A
    /// panic in `body` (an assertion, a `todo!()`) fails the test with its own message.
    /// (`track_caller`: an expired deadline is reported at the test's line, not here.)
    #[track_caller]
    pub fn run<T: Send + 'static>(self, body: impl FnOnce() -> T + Send + 'static) -> T {
        match within_deadline(self.limit, body) {
            Some(value) => value,
            None => panic!("{}", self.expired_message()),
        }
    }

    fn expired_message(&self) -> String {
        let mut message = format!("{DEADLINE_EXPIRED} after {:?}", self.limit);
        if !self.hint.is_empty() {
            message.push_str(": ");
            message.push_str(&self.hint);
        }
        for recording in &self.watched {
            message.push('\n');
            message.push_str(&recording.describe());
        }
        message
    }
}

/// Shorthand for `Watchdog::new(limit).hint(hint).run(body)`.
#[track_caller]
pub fn within<T: Send + 'static>(
    limit: Duration,
    hint: impl Into<String>,
    body: impl FnOnce() -> T + Send + 'static,
) -> T {
    Watchdog::new(limit).hint(hint).run(body)
}

/// Runs `body` on a thread of its own and returns its result, or `None` once `limit` has
/// passed (the body, still running, is abandoned and ends with the test process). A panic in
/// `body` is passed on unchanged. The one mechanism under [`Watchdog`] and
/// [`crate::ExplainedWatchdog`], which differ only in what they say at the deadline.
pub(crate) fn within_deadline<T: Send + 'static>(
    limit: Duration,
    body: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (done, result) = mpsc::channel();
    let worker = thread::Builder::new()
        .name("test body".into())
        .spawn(move || {
            let _ = done.send(body());
        })
        .expect("starting the test body's thread");
    match result.recv_timeout(limit) {
        Ok(value) => {
            let _ = worker.join();
            Some(value)
        }
        Err(RecvTimeoutError::Disconnected) => match worker.join() {
            // The body panicked: pass its panic on unchanged.
            Err(payload) => panic::resume_unwind(payload),
            Ok(()) => unreachable!("the body's thread ended without sending its result"),
        },
        Err(RecvTimeoutError::Timeout) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn a_body_that_finishes_returns_its_value() {
        assert_eq!(within(Duration::from_secs(5), "", || 42), 42);
    }

    #[test]
    fn a_stuck_body_fails_with_the_hint() {
        let (_keep, never) = mpsc::channel::<()>();
        let outcome = panic::catch_unwind(|| {
            within(Duration::from_millis(50), "did you flush?", move || {
                let _ = never.recv();
            })
        });
        let payload = outcome.expect_err("the watchdog must fail a stuck body");
        let message = payload
            .downcast_ref::<String>()
            .expect("a formatted message");
        assert!(message.starts_with(DEADLINE_EXPIRED), "{message}");
        assert!(message.contains("did you flush?"), "{message}");
    }

    #[test]
    fn a_panic_in_the_body_keeps_its_message() {
        let outcome = panic::catch_unwind(|| {
            within(Duration::from_secs(5), "", || -> () {
                panic!("not yet implemented")
            })
        });
        let payload = outcome.expect_err("the panic must reach the caller");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"not yet implemented"));
    }
}
