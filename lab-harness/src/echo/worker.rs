//! The echo server's event loop: a few worker threads, each waiting with mio on the
//! connections it was given, plus the timers their deadlines need.
//!
//! The accept loop (`core.rs`) hands each new connection to the next worker in turn through a
//! channel and wakes it. A worker then owns its connections outright: no locks, no sharing.
//! Each turn of the loop waits for readiness or the earliest deadline, lets every ready
//! connection read and write what it can ([`Connection::on_ready`]), comes back to the ones
//! that had more to read than one turn allows, and fires the timers that are due.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::TcpStream as StdTcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};

use super::buffers::Buffers;
use super::connection::Connection;
use super::{Behaviour, Config};
use crate::core::{Open, Service};

/// No more workers than this, however many cores.
const MAX_WORKERS: usize = 8;
/// How much one read takes in; one buffer per worker, shared by its connections.
const READ_CHUNK: usize = 64 * 1024;
/// How long `stop` waits for the workers to close their connections and end.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// The token of each worker's waker; connections use their slot number.
const WAKE: Token = Token(usize::MAX);

/// How many workers for a machine with `cores` cores (as this process may use them): half,
/// at least one. The cores are shared with whatever else runs, often the clients themselves
/// (a class on the instructor's laptop, a load generator, the tests): a worker per core then
/// means more busy threads than cores, and a worker that loses its core for a time slice
/// stalls every connection it holds. See `echo.rs` for the measurements.
fn worker_count(cores: usize) -> usize {
    (cores / 2).clamp(1, MAX_WORKERS)
}

enum Message {
    Serve(StdTcpStream, Open),
    TurnAway(StdTcpStream, String),
    Stop,
}

struct Handle {
    inbox: Sender<Message>,
    waker: Arc<Waker>,
}

/// The workers of one echo server, as the [`Service`] its accept loop hands connections to.
pub(crate) struct Workers {
    handles: Vec<Handle>,
    next: AtomicUsize,
    ended: Mutex<Receiver<()>>,
}

impl Workers {
    pub(crate) fn start(config: Arc<Config>) -> io::Result<Workers> {
        let count = worker_count(thread::available_parallelism().map_or(2, |n| n.get()));
        let (ended_tx, ended) = mpsc::channel();
        let mut workers = Workers {
            handles: Vec::with_capacity(count),
            next: AtomicUsize::new(0),
            ended: Mutex::new(ended),
        };
        for index in 0..count {
            let poll = Poll::new()?;
            let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
            let (inbox, messages) = mpsc::channel();
            let worker = Worker {
                poll,
                messages,
                config: Arc::clone(&config),
                slots: Vec::new(),
                free: Vec::new(),
                timers: BinaryHeap::new(),
                again: Vec::new(),
                buffers: Buffers::new(READ_CHUNK),
            };
            let ended = ended_tx.clone();
            thread::Builder::new()
                .name(format!("lab-echo-{index}"))
                .spawn(move || {
                    worker.run();
                    let _ = ended.send(());
                })?;
            // Pushed only once running, so dropping `workers` after an error stops the
            // ones already started.
            workers.handles.push(Handle { inbox, waker });
        }
        Ok(workers)
    }

    fn send(&self, message: Message) {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        let handle = &self.handles[index];
        // A worker that is gone drops the message, and with it the connection, which
        // records itself as closed.
        if handle.inbox.send(message).is_ok() {
            let _ = handle.waker.wake();
        }
    }

    fn stop_all(&self) {
        for handle in &self.handles {
            if handle.inbox.send(Message::Stop).is_ok() {
                let _ = handle.waker.wake();
            }
        }
    }
}

impl Service for Workers {
    fn serve(&self, stream: StdTcpStream, open: Open) {
        self.send(Message::Serve(stream, open));
    }

    fn turn_away(&self, stream: StdTcpStream, line: &str) {
        self.send(Message::TurnAway(stream, line.to_string()));
    }

    fn stop(&self) {
        self.stop_all();
        let ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        let deadline = Instant::now() + STOP_GRACE;
        for _ in &self.handles {
            let left = deadline.saturating_duration_since(Instant::now());
            if ended.recv_timeout(left).is_err() {
                return;
            }
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop_all();
    }
}

struct Worker {
    poll: Poll,
    messages: Receiver<Message>,
    config: Arc<Config>,
    /// Connections by token; `free` lists the empty slots.
    slots: Vec<Option<Connection>>,
    free: Vec<usize>,
    /// (when, slot): a connection's deadline. Entries whose time is no longer the
    /// connection's `armed` one are stale and skipped.
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Connections that had more to read than one turn allows.
    again: Vec<usize>,
    buffers: Buffers,
}

impl Worker {
    fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = if self.again.is_empty() {
                self.next_timer()
                    .map(|at| at.saturating_duration_since(Instant::now()))
            } else {
                Some(Duration::ZERO)
            };
            if let Err(error) = self.poll.poll(&mut events, timeout) {
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                eprintln!("echo worker stopped: waiting for sockets failed: {error}");
                break;
            }
            let now = Instant::now();
            for event in events.iter() {
                if event.token() == WAKE {
                    if !self.take_messages(now) {
                        self.close_all();
                        return;
                    }
                    continue;
                }
                let ended = event.is_read_closed() || event.is_error();
                let readable = event.is_readable() || ended;
                self.drive(event.token().0, |connection, config, buffers| {
                    connection.end_reported |= ended;
                    connection.on_ready(config, buffers, now, readable)
                });
            }
            for slot in std::mem::take(&mut self.again) {
                if let Some(Some(connection)) = self.slots.get_mut(slot) {
                    connection.queued = false;
                }
                self.drive(slot, |connection, config, buffers| {
                    connection.on_ready(config, buffers, now, true)
                });
            }
            while let Some(slot) = self.due_timer(now) {
                self.drive(slot, |connection, config, buffers| {
                    connection.on_time(config, buffers, now)
                });
            }
        }
        self.close_all();
    }

    /// Takes new connections from the accept loop; `false` once told to stop.
    fn take_messages(&mut self, now: Instant) -> bool {
        loop {
            match self.messages.try_recv() {
                Ok(Message::Serve(stream, open)) => self.add(stream, now, |stream, now| {
                    Connection::new(stream, open, now)
                }),
                Ok(Message::TurnAway(stream, line)) => self.add(stream, now, |stream, now| {
                    Connection::turned_away(stream, line, now)
                }),
                Ok(Message::Stop) | Err(TryRecvError::Disconnected) => return false,
                Err(TryRecvError::Empty) => return true,
            }
        }
    }

    fn add(
        &mut self,
        stream: StdTcpStream,
        now: Instant,
        make: impl FnOnce(TcpStream, Instant) -> Connection,
    ) {
        // On failure the stream (and the `Open` inside `make`) is dropped: the connection
        // closes and records itself as dropped by the server.
        if stream.set_nonblocking(true).is_err() {
            return;
        }
        if matches!(self.config.behaviour, Behaviour::Fragment { .. }) {
            // Without this, the kernel may merge the pieces again before they leave.
            let _ = stream.set_nodelay(true);
        }
        let mut stream = TcpStream::from_std(stream);
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(error) = self
            .poll
            .registry()
            .register(&mut stream, Token(slot), interest)
        {
            eprintln!("cannot watch a new connection: {error}");
            self.free.push(slot);
            return;
        }
        self.slots[slot] = Some(make(stream, now));
        // Bytes may have arrived before the connection was registered.
        self.drive(slot, |connection, config, buffers| {
            connection.on_ready(config, buffers, now, true)
        });
    }

    /// Runs `step` on one connection, then drops it if it is finished, or notes when it
    /// wants to run again.
    fn drive(
        &mut self,
        slot: usize,
        step: impl FnOnce(&mut Connection, &Config, &mut Buffers) -> bool,
    ) {
        let Some(Some(connection)) = self.slots.get_mut(slot) else {
            return; // closed earlier in this turn
        };
        let more = step(connection, &self.config, &mut self.buffers);
        if connection.is_finished() {
            self.remove(slot, false);
            return;
        }
        if more && !connection.queued {
            connection.queued = true;
            self.again.push(slot);
        }
        if let Some(at) = connection.next_deadline(&self.config) {
            if connection.armed.is_none_or(|armed| at < armed) {
                connection.armed = Some(at);
                self.timers.push(Reverse((at, slot)));
            }
        }
    }

    fn remove(&mut self, slot: usize, stopping: bool) {
        if let Some(mut connection) = self.slots[slot].take() {
            let _ = self.poll.registry().deregister(&mut connection.stream);
            self.free.push(slot);
            connection.close(stopping);
        }
    }

    fn close_all(&mut self) {
        for slot in 0..self.slots.len() {
            self.remove(slot, true);
        }
    }

    /// The earliest live timer, dropping stale ones on the way.
    fn next_timer(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, slot))) = self.timers.peek().copied() {
            if self.is_armed(slot, at) {
                return Some(at);
            }
            self.timers.pop();
        }
        None
    }

    /// A connection whose deadline has come, if any.
    fn due_timer(&mut self, now: Instant) -> Option<usize> {
        if self.next_timer()? > now {
            return None;
        }
        let Reverse((_, slot)) = self.timers.pop()?;
        if let Some(Some(connection)) = self.slots.get_mut(slot) {
            connection.armed = None;
        }
        Some(slot)
    }

    fn is_armed(&self, slot: usize, at: Instant) -> bool {
        matches!(self.slots.get(slot), Some(Some(connection)) if connection.armed == Some(at))
    }
}

#[cfg(test)]
mod tests {
    use super::worker_count;

    #[test]
    fn half_the_cores_work_at_least_one_at_most_eight() {
        let counts: Vec<usize> = [1, 2, 3, 4, 8, 16, 64].map(worker_count).to_vec();
        assert_eq!(counts, [1, 1, 1, 2, 4, 8, 8]);
    }
}
