//! A deadline whose hint is written when it passes, from what was seen by then.
//!
//! A [`crate::Watchdog`]'s hint is written before the test runs, so it can only guess why a
//! body might hang. When the code under test is a *client* with no timeout of its own (a
//! `receive_response` waiting for an answer), the body cannot stop itself, and the best
//! explanation depends on what the server saw meanwhile: nothing arrived (did you flush?), a
//! line without its ending, the answer went to a second connection (you connected twice),
//! the server answered and closed… [`ExplainedWatchdog`] asks for the hint only when the
//! deadline passes, so a failure names what was actually seen rather than the usual suspect:
//!
//! ```
//! use lab_harness::{ExplainedWatchdog, ScriptedServer};
//! use std::time::Duration;
//!
//! let server = ScriptedServer::silent();
//! let recording = server.recording().clone();
//! let answer = ExplainedWatchdog::new(Duration::from_secs(5))
//!     .watch(server.recording())
//!     .explain(move || match recording.last() {
//!         Some(connection) if connection.bytes_in == 0 => "nothing arrived: did you flush?".into(),
//!         _ => "no answer came".into(),
//!     })
//!     .run(|| 42);
//! assert_eq!(answer, 42);
//! ```
//!
//! The message has the form of a watchdog's: [`crate::DEADLINE_EXPIRED`], the hint, then
//! what each watched server saw, with the conversation on the wire.

use std::panic;
use std::time::Duration;

use crate::record::Recording;
use crate::watchdog::{DEADLINE_EXPIRED, within_deadline};

/// A deadline, the servers whose recordings explain a timeout, and how to explain it.
#[must_use = "a watchdog does nothing until `run` is called"]
pub struct ExplainedWatchdog {
    limit: Duration,
    watched: Vec<Recording>,
    explain: Option<Box<dyn FnOnce() -> String>>,
}

impl ExplainedWatchdog {
    pub fn new(limit: Duration) -> ExplainedWatchdog {
        ExplainedWatchdog {
            limit,
            watched: Vec::new(),
            explain: None,
        }
    }

    /// Adds a server's recording to the timeout message.
    pub fn watch(mut self, recording: &Recording) -> ExplainedWatchdog {
        self.watched.push(recording.clone());
        self
    }

    /// Writes the hint when the deadline passes (and only then), on the test's own thread:
    /// typically from the recordings of the servers involved.
    pub fn explain(mut self, explain: impl FnOnce() -> String + 'static) -> ExplainedWatchdog {
        self.explain = Some(Box::new(explain));
        self
    }

    /// Runs `body` and returns its result, or fails the test when the deadline passes. A
    /// panic in `body` (an assertion, a `todo!()`) fails the test with its own message. A
    /// body still running at the deadline is abandoned and ends with the test process.
    #[track_caller]
    pub fn run<T: Send + 'static>(self, body: impl FnOnce() -> T + Send + 'static) -> T {
        match within_deadline(self.limit, body) {
            Some(value) => value,
            None => panic!("{}", self.expired_message()),
        }
    }

    fn expired_message(self) -> String {
        let mut message = format!("{DEADLINE_EXPIRED} after {:?}", self.limit);
        let hint = self.explain.map(|explain| explain()).unwrap_or_default();
        if !hint.is_empty() {
            message.push_str(": ");
            message.push_str(&hint);
        }
        for recording in &self.watched {
            message.push('\n');
            message.push_str(&recording.describe());
        }
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    fn message_of(payload: Box<dyn std::any::Any + Send>) -> String {
        payload
            .downcast_ref::<String>()
            .cloned()
            .expect("a formatted message")
    }

    #[test]
    fn a_body_that_finishes_returns_its_value_and_is_never_explained() {
        let value = ExplainedWatchdog::new(Duration::from_secs(5))
            .explain(|| panic!("explained although the body finished"))
            .run(|| 42);
        assert_eq!(value, 42);
    }

    #[test]
    fn the_hint_is_written_when_the_deadline_passes_from_what_happened_by_then() {
        // The body counts to 3 and then hangs: only a hint written after it ran can say 3.
        // (The hint waits for the body's signal, so a slow machine cannot make it early.)
        let count = Arc::new(AtomicUsize::new(0));
        let (counted, all_counted) = mpsc::channel();
        let (_keep, never) = mpsc::channel::<()>();
        let seen = Arc::clone(&count);
        let outcome = panic::catch_unwind(move || {
            ExplainedWatchdog::new(Duration::from_millis(100))
                .explain(move || {
                    let _ = all_counted.recv_timeout(Duration::from_secs(30));
                    format!("stuck after {}", seen.load(Ordering::SeqCst))
                })
                .run(move || {
                    for _ in 0..3 {
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    let _ = counted.send(());
                    let _ = never.recv();
                })
        });
        let message = message_of(outcome.expect_err("the watchdog must fail a stuck body"));
        assert!(message.starts_with(DEADLINE_EXPIRED), "{message}");
        assert!(message.contains(": stuck after 3"), "{message}");
    }

    #[test]
    fn a_timeout_shows_what_the_watched_server_saw() {
        let server = crate::ScriptedServer::silent();
        let (_keep, never) = mpsc::channel::<()>();
        let outcome = panic::catch_unwind(panic::AssertUnwindSafe(|| {
            ExplainedWatchdog::new(Duration::from_millis(100))
                .watch(server.recording())
                .explain(|| "nothing came".into())
                .run(move || {
                    let _ = never.recv();
                })
        }));
        let message = message_of(outcome.expect_err("the watchdog must fail a stuck body"));
        assert!(message.contains("nothing came\n"), "{message}");
        assert!(
            message.contains("the server saw no connection"),
            "{message}"
        );
    }

    #[test]
    fn a_panic_in_the_body_keeps_its_message() {
        let outcome = panic::catch_unwind(|| {
            ExplainedWatchdog::new(Duration::from_secs(5))
                .explain(|| panic!("explained although the body panicked"))
                .run(|| -> () { panic!("not yet implemented") })
        });
        let payload = outcome.expect_err("the panic must reach the caller");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"not yet implemented"));
    }
}
