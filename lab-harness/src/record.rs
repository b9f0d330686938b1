//! What the harness's servers saw, connection by connection.
//!
//! Every server in the harness writes into a [`Recording`]: who connected, the first bytes
//! each client sent, how many bytes went each way, how the connection ended, and the whole
//! conversation as a [`Timeline`]. Tests read it to check what crossed the wire and to
//! explain a failure ("the server received `hello` (5 bytes, no line ending) and is still
//! waiting", then the timeline). Memory stays bounded: only the first bytes of each
//! connection, a bounded timeline, and only the most recent connections are kept, while the
//! [`Totals`] count everything.

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::bytes::show_bytes;
use crate::timeline::{Side, Timeline, What};

/// How long [`Recording::describe`] waits for a connection the client may have made but the
/// server has not accepted yet: a failure message must never say "no connection" for a
/// client that did connect.
const ACCEPT_GRACE: Duration = Duration::from_millis(500);
/// Connections whose whole timeline a description shows (the most recent ones).
const TIMELINES_SHOWN: usize = 3;

/// How a connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The client closed its sending side (the server read end-of-file).
    ClientClosed,
    /// A read or write failed, typically a reset by the client.
    Failed(io::ErrorKind, String),
    /// The server closed it, for the reason given (line too long, idle, script finished, …).
    ServerClosed(String),
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::ClientClosed => write!(f, "the client closed its side"),
            Ending::Failed(io::ErrorKind::ConnectionReset, _) => {
                write!(f, "the client reset the connection")
            }
            Ending::Failed(_, message) => write!(f, "error: {message}"),
            Ending::ServerClosed(reason) => write!(f, "the server closed it ({reason})"),
        }
    }
}

/// One connection as a server saw it.
#[derive(Clone, Debug)]
pub struct ConnectionRecord {
    /// 1 for the first connection the server accepted, then 2, 3, …
    pub id: u64,
    /// The client's address (its IP and ephemeral port).
    pub peer: SocketAddr,
    /// The server's side of the socket pair.
    pub local: SocketAddr,
    pub opened: Instant,
    /// The first bytes the client sent (up to the recording's per-connection limit).
    pub received: Vec<u8>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// When and how the connection ended; `None` while it is open.
    pub ended: Option<(Instant, Ending)>,
    /// The conversation, event by event (bounded).
    pub timeline: Timeline,
}

impl ConnectionRecord {
    /// Everything the client sent was kept (nothing was cut at the recording limit).
    pub fn received_all(&self) -> bool {
        self.received.len() as u64 == self.bytes_in
    }

    /// One line for a human: what arrived, what went back, and how it ended.
    pub fn describe(&self) -> String {
        let mut text = format!("#{} from {}: ", self.id, self.peer);
        if self.bytes_in == 0 {
            text.push_str("received nothing");
        } else {
            let _ = write!(text, "received {}", show_bytes(&self.received));
            let ending = if self.received.ends_with(b"\r\n") {
                "ends with \\r\\n"
            } else if self.received.ends_with(b"\n") {
                "ends with \\n"
            } else {
                "no line ending"
            };
            let _ = write!(text, " ({} bytes, {ending})", self.bytes_in);
        }
        let _ = write!(text, ", sent back {} bytes; ", self.bytes_out);
        match &self.ended {
            None => {
                let _ = write!(text, "still open after {:.1?}", self.opened.elapsed());
            }
            Some((at, ending)) => {
                let _ = write!(text, "{ending} after {:.1?}", *at - self.opened);
            }
        }
        text
    }

    /// The conversation as lines for a failure message (see [`Timeline::render`]).
    pub fn timeline_text(&self, indent: &str) -> String {
        let now = self.ended.is_none().then(|| self.opened.elapsed());
        self.timeline.render(indent, now)
    }
}

/// Counts over the server's whole life, including connections no longer kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub connections: u64,
    pub open: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

struct State {
    kept: VecDeque<ConnectionRecord>,
    /// Threads inside [`Recording::wait_until`]. Every read and write updates the log, so a
    /// change wakes the condition variable only when someone waits on it: a wake-up is a
    /// system call, and the echo server makes two updates per message.
    waiting: usize,
}

/// The totals, outside the lock: every read and write adds to them, from several threads,
/// and a server that keeps no records (`cargo lab serve`) then never takes the lock at all.
#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    open: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

struct Shared {
    counters: Counters,
    state: Mutex<State>,
    changed: Condvar,
    keep_connections: usize,
    keep_bytes: usize,
}

/// A shared, bounded log of connections. Cloning it gives another handle to the same log.
#[derive(Clone)]
pub struct Recording {
    shared: Arc<Shared>,
}

impl Default for Recording {
    fn default() -> Self {
        Recording::new(1024, 64 * 1024)
    }
}

impl Recording {
    /// Keeps the most recent `keep_connections` connections and the first `keep_bytes` each
    /// client sent.
    pub fn new(keep_connections: usize, keep_bytes: usize) -> Recording {
        Recording {
            shared: Arc::new(Shared {
                counters: Counters::default(),
                state: Mutex::new(State {
                    kept: VecDeque::new(),
                    waiting: 0,
                }),
                changed: Condvar::new(),
                keep_connections,
                keep_bytes,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the log half-written in a way that
        // matters to a reader, so a poisoned lock is still usable.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts the record of a newly accepted connection.
    pub(crate) fn open(&self, peer: SocketAddr, local: SocketAddr) -> ConnectionLog {
        let counters = &self.shared.counters;
        let opened = Instant::now();
        let id = if self.shared.keep_connections == 0 {
            counters.open.fetch_add(1, Ordering::Relaxed);
            counters.connections.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            // Under the lock, so that kept records stay in id order.
            let mut state = self.lock();
            counters.open.fetch_add(1, Ordering::Relaxed);
            let id = counters.connections.fetch_add(1, Ordering::Relaxed) + 1;
            if state.kept.len() == self.shared.keep_connections {
                state.kept.pop_front();
            }
            let mut timeline = Timeline::new();
            timeline.push(
                Duration::ZERO,
                What::Connected {
                    client: peer,
                    server: local,
                },
            );
            state.kept.push_back(ConnectionRecord {
                id,
                peer,
                local,
                opened,
                received: Vec::new(),
                bytes_in: 0,
                bytes_out: 0,
                ended: None,
                timeline,
            });
            let waiting = state.waiting > 0;
            drop(state);
            if waiting {
                self.shared.changed.notify_all();
            }
            id
        };
        ConnectionLog {
            recording: self.clone(),
            id,
            opened,
            bytes_in: Cell::new(0),
            bytes_out: Cell::new(0),
        }
    }

    /// Changes the record of connection `id`, if it is still kept.
    fn update(&self, id: u64, change: impl FnOnce(&mut ConnectionRecord)) {
        if self.shared.keep_connections == 0 {
            return;
        }
        let mut state = self.lock();
        // Ids are consecutive, so the record (if still kept) is found by its offset.
        let kept = &mut state.kept;
        let record = kept
            .front()
            .and_then(|first| id.checked_sub(first.id))
            .and_then(|offset| kept.get_mut(offset as usize));
        let Some(record) = record else {
            return;
        };
        change(record);
        let waiting = state.waiting > 0;
        drop(state);
        if waiting {
            self.shared.changed.notify_all();
        }
    }

    /// A copy of the connections kept, oldest first.
    pub fn connections(&self) -> Vec<ConnectionRecord> {
        self.lock().kept.iter().cloned().collect()
    }

    /// The most recent connection, if any.
    pub fn last(&self) -> Option<ConnectionRecord> {
        self.lock().kept.back().cloned()
    }

    pub fn totals(&self) -> Totals {
        let counters = &self.shared.counters;
        Totals {
            connections: counters.connections.load(Ordering::Relaxed),
            open: counters.open.load(Ordering::Relaxed),
            bytes_in: counters.bytes_in.load(Ordering::Relaxed),
            bytes_out: counters.bytes_out.load(Ordering::Relaxed),
        }
    }

    /// Waits until `done` holds for the kept connections, or `limit` passes. Returns whether
    /// it holds. This is how a test waits for the server's side of an exchange without
    /// sleeping: every change to the recording wakes the waiter.
    pub fn wait_until(
        &self,
        limit: Duration,
        mut done: impl FnMut(&[ConnectionRecord]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + limit;
        let mut state = self.lock();
        // Counted under the lock, before the first check: an update that lands after the
        // check sees the count and wakes this thread.
        state.waiting += 1;
        let holds = loop {
            if done(state.kept.make_contiguous()) {
                break true;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break false;
            };
            state = self
                .shared
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        };
        state.waiting -= 1;
        holds
    }

    /// Waits until the most recent connection has ended, and returns it.
    pub fn wait_for_end(&self, limit: Duration) -> Option<ConnectionRecord> {
        self.wait_until(limit, |all| all.last().is_some_and(|c| c.ended.is_some()));
        self.last().filter(|c| c.ended.is_some())
    }

    /// A few lines for a failure message: every connection kept, one line each, then the
    /// conversation of the most recent ones; or "no connection". A connection the client has
    /// made but the server has not accepted yet is waited for (briefly): "no connection" is
    /// said only when there was none.
    pub fn describe(&self) -> String {
        self.wait_until(ACCEPT_GRACE, |all| !all.is_empty());
        let kept = self.connections();
        let totals = self.totals();
        if kept.is_empty() {
            return format!(
                "the server saw no connection within {} ms (did the client connect to the right \
                 address?)",
                ACCEPT_GRACE.as_millis()
            );
        }
        let mut text = format!(
            "the server saw {} connection{}:",
            totals.connections,
            if totals.connections == 1 { "" } else { "s" }
        );
        for record in &kept {
            let _ = write!(text, "\n  {}", record.describe());
        }
        let shown = kept.len().saturating_sub(TIMELINES_SHOWN);
        for record in &kept[shown..] {
            let _ = write!(
                text,
                "\n  the conversation of #{} on the wire:\n{}",
                record.id,
                record.timeline_text("    ")
            );
        }
        text
    }
}

/// The writing end of one connection's record, owned by the thread serving it.
pub(crate) struct ConnectionLog {
    recording: Recording,
    id: u64,
    pub(crate) opened: Instant,
    // Cells: the log belongs to the one thread serving the connection, and its reader and
    // writer halves both need to update it.
    bytes_in: Cell<u64>,
    bytes_out: Cell<u64>,
}

impl ConnectionLog {
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn bytes_in(&self) -> u64 {
        self.bytes_in.get()
    }

    pub(crate) fn bytes_out(&self) -> u64 {
        self.bytes_out.get()
    }

    pub(crate) fn received(&self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.bytes_in.set(self.bytes_in.get() + data.len() as u64);
        let keep = self.recording.shared.keep_bytes;
        let counters = &self.recording.shared.counters;
        counters
            .bytes_in
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        self.recording.update(self.id, |record| {
            record.bytes_in += data.len() as u64;
            let room = keep.saturating_sub(record.received.len());
            record
                .received
                .extend_from_slice(&data[..data.len().min(room)]);
            record
                .timeline
                .data(record.opened.elapsed(), Side::Client, data);
        });
    }

    /// The server sent `count` bytes (the timeline shows their size only).
    pub(crate) fn sent(&self, count: usize) {
        self.sent_bytes(count, None);
    }

    /// The server sent `data` (the timeline shows the bytes).
    pub(crate) fn sent_data(&self, data: &[u8]) {
        self.sent_bytes(data.len(), Some(data));
    }

    fn sent_bytes(&self, count: usize, data: Option<&[u8]>) {
        if count == 0 {
            return;
        }
        self.bytes_out.set(self.bytes_out.get() + count as u64);
        let counters = &self.recording.shared.counters;
        counters
            .bytes_out
            .fetch_add(count as u64, Ordering::Relaxed);
        self.recording.update(self.id, |record| {
            record.bytes_out += count as u64;
            let at = record.opened.elapsed();
            match data {
                Some(data) => record.timeline.data(at, Side::Server, data),
                None => record.timeline.count(at, Side::Server, count as u64),
            }
        });
    }

    /// Something on the connection that is not data (a half-close, a reset, a note).
    pub(crate) fn event(&self, what: What) {
        self.recording.update(self.id, |record| {
            record.timeline.push(record.opened.elapsed(), what);
        });
    }

    pub(crate) fn ended(&self, ending: Ending) {
        let counters = &self.recording.shared.counters;
        counters.open.fetch_sub(1, Ordering::Relaxed);
        self.recording.update(self.id, |record| {
            let what = match &ending {
                Ending::ClientClosed => What::Shutdown { by: Side::Client },
                Ending::Failed(io::ErrorKind::ConnectionReset, _) => {
                    What::Reset { by: Side::Client }
                }
                Ending::Failed(_, message) => {
                    What::Note(format!("the server's side failed: {message}"))
                }
                Ending::ServerClosed(reason) => What::Closed {
                    by: Side::Server,
                    why: reason.clone(),
                },
            };
            // A reset the server made is already on the timeline; it needs no second line.
            let reset_before = matches!(
                record.timeline.last().map(|e| &e.what),
                Some(What::Reset { by: Side::Server })
            );
            if !reset_before {
                record.timeline.push(record.opened.elapsed(), what);
            }
            record.ended = Some((Instant::now(), ending));
        });
    }
}

/// A reader that writes every byte it reads into a connection's record, so bytes are
/// recorded when they arrive, not when a whole line is complete.
pub(crate) struct RecordingReader<'a, R> {
    pub(crate) inner: R,
    pub(crate) log: &'a ConnectionLog,
}

impl<R: Read> Read for RecordingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let count = self.inner.read(buf)?;
        self.log.received(&buf[..count]);
        Ok(count)
    }
}

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording")
            .field("totals", &self.totals())
            .finish_non_exhaustive()
    }
}
