//! One bench thread: an event loop (mio) driving its share of the connections.
//!
//! Every connection has at most one message out at a time. Closed loop (no rate), it sends
//! its next message as soon as the echo of the last one is in. Open loop (a rate), message
//! `k` of connection `i` is *due* at a fixed time on a schedule set before the run; it is sent
//! then, or as soon as the echo before it is in if that is later, and its latency is counted
//! from when it was due, not from when it left. So a server that stalls is charged for every
//! message that should have gone out during the stall, as the clients of a real server would
//! be, instead of for one (the "coordinated omission" of a client that waits before sending).
//! The loop wakes on a timer with millisecond precision, so in open loop a message may leave
//! up to about a millisecond after its due time, and that is counted too.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use lab_harness::{Mode, show_bytes};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::histogram::Histogram;
use super::{Failure, Options, Shared};

/// How often connect and reply timeouts are checked.
const CHECK_EVERY: Duration = Duration::from_millis(50);
/// The most one read takes in.
const READ_CHUNK: usize = 64 * 1024;

/// What one thread brings back.
pub(crate) struct Outcome {
    pub(crate) connected: usize,
    pub(crate) latencies: Histogram,
    pub(crate) failures: Vec<(Failure, String)>,
}

enum State {
    Connecting,
    Connected,
    /// Waiting for its next message's due time (open loop).
    Waiting,
    /// A message is out (or partly written); its echo is awaited.
    Exchanging,
    Done,
}

struct Connection {
    /// The connection's number in the whole run, from 0.
    index: usize,
    stream: TcpStream,
    state: State,
    /// The message being exchanged, from 0.
    number: usize,
    message: Vec<u8>,
    written: usize,
    reply: Vec<u8>,
    /// When the current message was due: its latency is counted from here.
    due: Instant,
    /// When the current connect, write or reply times out.
    deadline: Instant,
    /// Input may be waiting that no event will announce again: readiness is reported on
    /// changes only, so input that came while no message was out (a "server full" line, a
    /// stray byte) must be read once the next message is out.
    unread: bool,
}

/// One thread's connections and what it has measured.
pub(crate) struct Thread<'a> {
    options: &'a Options,
    shared: &'a Shared,
    poll: Poll,
    connections: Vec<Connection>,
    /// (due, slot): connections waiting for their next message's time.
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    outcome: Outcome,
    chunk: Vec<u8>,
    /// `abc…zabc…` as long as a message: each message's body is copied from it.
    letters: Vec<u8>,
    /// Answers not yet added to the shared progress count.
    unreported: u64,
    /// When the exchange began (the open-loop schedule counts from it) ...
    start: Instant,
    /// ... and when no new message may be sent any more.
    stop_sending: Instant,
}

impl<'a> Thread<'a> {
    /// Starts connecting `indexes` (connection numbers) to the server.
    pub(crate) fn connect(
        options: &'a Options,
        shared: &'a Shared,
        indexes: impl Iterator<Item = usize>,
    ) -> io::Result<Thread<'a>> {
        let poll = Poll::new()?;
        let now = Instant::now();
        let mut thread = Thread {
            options,
            shared,
            poll,
            connections: Vec::new(),
            timers: BinaryHeap::new(),
            outcome: Outcome {
                connected: 0,
                latencies: Histogram::default(),
                failures: Vec::new(),
            },
            chunk: vec![0; READ_CHUNK],
            letters: letters(options.size),
            unreported: 0,
            start: now,
            stop_sending: now,
        };
        for index in indexes {
            match TcpStream::connect(options.addr) {
                Ok(mut stream) => {
                    let slot = thread.connections.len();
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    thread
                        .poll
                        .registry()
                        .register(&mut stream, Token(slot), interest)?;
                    thread.connections.push(Connection {
                        index,
                        stream,
                        state: State::Connecting,
                        number: 0,
                        message: Vec::with_capacity(options.size),
                        written: 0,
                        reply: Vec::with_capacity(options.size + 2),
                        due: now,
                        deadline: now + options.timeout,
                        unread: false,
                    });
                }
                Err(error) => thread.fail_early(options.addr, error),
            }
        }
        Ok(thread)
    }

    fn fail_early(&mut self, addr: SocketAddr, error: io::Error) {
        self.failed(
            Failure::of(&error),
            format!("connecting to {addr}: {error}"),
        );
    }

    /// Waits until every connection is made or has failed (each within the timeout).
    pub(crate) fn finish_connecting(&mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            let pending = self
                .connections
                .iter()
                .filter(|c| matches!(c.state, State::Connecting))
                .count();
            if pending == 0 {
                return;
            }
            let now = Instant::now();
            let next_deadline = self
                .connections
                .iter()
                .filter(|c| matches!(c.state, State::Connecting))
                .map(|c| c.deadline)
                .min()
                .unwrap_or(now);
            if next_deadline <= now {
                for slot in 0..self.connections.len() {
                    let connection = &self.connections[slot];
                    if matches!(connection.state, State::Connecting) && connection.deadline <= now {
                        let example = format!(
                            "connecting to {}: no connection within {:?}",
                            self.options.addr, self.options.timeout
                        );
                        self.end(slot, Failure::TimedOut, example);
                    }
                }
                continue;
            }
            if self.wait(&mut events, Some(next_deadline - now)).is_err() {
                return;
            }
            for event in events.iter() {
                self.check_connected(event.token().0);
            }
        }
    }

    /// A connecting socket became ready: connected, refused, or not yet (spurious).
    fn check_connected(&mut self, slot: usize) {
        let Some(connection) = self.connections.get_mut(slot) else {
            return;
        };
        if !matches!(connection.state, State::Connecting) {
            return;
        }
        let error = match connection.stream.take_error() {
            Ok(Some(error)) | Err(error) => Some(error),
            Ok(None) => match connection.stream.peer_addr() {
                Ok(_) => None,
                Err(error) if error.kind() == io::ErrorKind::NotConnected => return,
                Err(error) => Some(error),
            },
        };
        match error {
            Some(error) => {
                let example = format!("connecting to {}: {error}", self.options.addr);
                self.end(slot, Failure::of(&error), example);
            }
            None => {
                // Each message goes out in one write: no reason to let Nagle's algorithm hold it.
                let _ = connection.stream.set_nodelay(true);
                connection.state = State::Connected;
                connection.unread = true;
                self.outcome.connected += 1;
                self.shared.connected.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Exchanges every connection's messages; `start` is when the schedule begins.
    pub(crate) fn exchange(mut self, start: Instant, stop_sending: Instant) -> Outcome {
        self.start = start;
        self.stop_sending = stop_sending;
        for slot in 0..self.connections.len() {
            if matches!(self.connections[slot].state, State::Connected) {
                let due = self.due(self.connections[slot].index, 0, start);
                self.schedule(slot, due, start);
            }
        }
        let mut events = Events::with_capacity(1024);
        let mut next_check = Instant::now() + CHECK_EVERY;
        while self.active() {
            let now = Instant::now();
            let mut wake = next_check;
            if let Some(Reverse((due, _))) = self.timers.peek() {
                wake = wake.min(*due);
            }
            if self
                .wait(&mut events, Some(wake.saturating_duration_since(now)))
                .is_err()
            {
                break;
            }
            for event in events.iter() {
                self.on_ready(event.token().0);
            }
            let now = Instant::now();
            while let Some(Reverse((due, slot))) = self.timers.peek().copied() {
                if due > now {
                    break;
                }
                self.timers.pop();
                self.send(slot, due);
            }
            if now >= next_check {
                self.check_timeouts(now);
                next_check = now + CHECK_EVERY;
            }
            self.report_progress();
        }
        self.report_progress();
        self.outcome
    }

    fn active(&self) -> bool {
        self.connections
            .iter()
            .any(|c| matches!(c.state, State::Waiting | State::Exchanging))
    }

    fn wait(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        loop {
            match self.poll.poll(events, timeout) {
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    self.failed(
                        Failure::Other,
                        format!("waiting for the sockets failed: {error}"),
                    );
                    return Err(error);
                }
                Ok(()) => return Ok(()),
            }
        }
    }

    /// When message `number` of connection `index` is due: at once in closed loop (`now`),
    /// on the schedule in open loop, where the connections' messages are spread evenly.
    fn due(&self, index: usize, number: usize, now: Instant) -> Instant {
        match self.options.rate {
            None => now,
            Some(rate) => {
                let per_connection = self.options.connections as f64 / rate;
                let offset = index as f64 / rate + number as f64 * per_connection;
                self.start + Duration::from_secs_f64(offset)
            }
        }
    }

    /// Sends the connection's next message at `due`, now if it is already due.
    fn schedule(&mut self, slot: usize, due: Instant, now: Instant) {
        if due > now {
            self.connections[slot].state = State::Waiting;
            self.timers.push(Reverse((due, slot)));
        } else {
            self.send(slot, due);
        }
    }

    fn send(&mut self, slot: usize, due: Instant) {
        let now = Instant::now();
        let options = self.options;
        let connection = &mut self.connections[slot];
        if now >= self.stop_sending {
            let left = options.messages - connection.number;
            let example = format!("{left} message(s) not sent before the time limit");
            return self.end(slot, Failure::Unfinished, example);
        }
        write_message(
            &mut connection.message,
            connection.index,
            connection.number,
            options,
            &self.letters,
        );
        connection.written = 0;
        connection.reply.clear();
        connection.due = due;
        connection.deadline = now + options.timeout;
        connection.state = State::Exchanging;
        self.write_some(slot);
        let connection = &mut self.connections[slot];
        if matches!(connection.state, State::Exchanging) && connection.unread {
            connection.unread = false;
            self.read_reply(slot);
        }
    }

    fn on_ready(&mut self, slot: usize) {
        let Some(connection) = self.connections.get_mut(slot) else {
            return;
        };
        if !matches!(connection.state, State::Exchanging) {
            // Input while no message is out: read it with the next reply.
            connection.unread = true;
            return;
        }
        if connection.written < connection.message.len() {
            self.write_some(slot);
        }
        if matches!(self.connections[slot].state, State::Exchanging) {
            self.read_reply(slot);
        }
    }

    fn write_some(&mut self, slot: usize) {
        let connection = &mut self.connections[slot];
        while connection.written < connection.message.len() {
            match (&connection.stream).write(&connection.message[connection.written..]) {
                Ok(0) => {
                    let error = io::Error::from(io::ErrorKind::WriteZero);
                    return self.io_failed(slot, "sending", error);
                }
                Ok(count) => connection.written += count,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return self.io_failed(slot, "sending", error),
            }
        }
    }

    fn read_reply(&mut self, slot: usize) {
        let options = self.options;
        loop {
            let connection = &mut self.connections[slot];
            // Only one message is out, so more than its echo is an error: reading past it
            // shows it at once.
            match (&connection.stream).read(&mut self.chunk) {
                Ok(0) => {
                    let got = show_bytes(&connection.reply);
                    if connection.reply.starts_with(b"server full") {
                        return self.end(slot, Failure::ServerFull, got);
                    }
                    let example = format!("the server closed the connection; got {got}");
                    return self.end(slot, Failure::Closed, example);
                }
                Ok(count) => {
                    connection.reply.extend_from_slice(&self.chunk[..count]);
                    let complete = match options.mode {
                        Mode::Line => self.chunk[..count].contains(&b'\n'),
                        Mode::Raw => connection.reply.len() >= connection.message.len(),
                    };
                    if complete {
                        // A full read may have left more behind.
                        connection.unread = count == self.chunk.len();
                        return self.on_reply(slot);
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return self.io_failed(slot, "waiting for the reply", error),
            }
        }
    }

    /// A whole reply is in: check it, count it, go on to the next message.
    fn on_reply(&mut self, slot: usize) {
        let now = Instant::now();
        let options = self.options;
        let connection = &mut self.connections[slot];
        if let Err((kind, example)) = check(&connection.message, &connection.reply, options.mode) {
            return self.end(slot, kind, example);
        }
        let latency = now.saturating_duration_since(connection.due);
        self.outcome.latencies.record(latency);
        self.unreported += 1;
        connection.number += 1;
        if connection.number == options.messages {
            connection.state = State::Done;
            return;
        }
        let (index, number) = (connection.index, connection.number);
        let due = self.due(index, number, now);
        self.schedule(slot, due, now);
    }

    fn check_timeouts(&mut self, now: Instant) {
        for slot in 0..self.connections.len() {
            let connection = &self.connections[slot];
            if !matches!(connection.state, State::Exchanging) || connection.deadline > now {
                continue;
            }
            let example = if connection.written < connection.message.len() {
                format!(
                    "the server took no more of the message for {:?}",
                    self.options.timeout
                )
            } else {
                format!(
                    "no complete reply after {:?}, got {}",
                    self.options.timeout,
                    show_bytes(&connection.reply)
                )
            };
            self.end(slot, Failure::TimedOut, example);
        }
    }

    fn io_failed(&mut self, slot: usize, what: &str, error: io::Error) {
        if self.connections[slot].reply.starts_with(b"server full") {
            let got = show_bytes(&self.connections[slot].reply);
            return self.end(slot, Failure::ServerFull, got);
        }
        self.end(slot, Failure::of(&error), format!("{what}: {error}"));
    }

    /// Ends a connection on a failure; after one the stream is in an unknown state.
    fn end(&mut self, slot: usize, kind: Failure, example: String) {
        let connection = &mut self.connections[slot];
        let example = if matches!(connection.state, State::Exchanging | State::Waiting) {
            format!(
                "message {} of connection {}: {example}",
                connection.number + 1,
                connection.index + 1
            )
        } else {
            example
        };
        connection.state = State::Done;
        let _ = self.poll.registry().deregister(&mut connection.stream);
        let _ = connection.stream.shutdown(std::net::Shutdown::Both);
        self.failed(kind, example);
    }

    fn failed(&mut self, kind: Failure, example: String) {
        self.shared.errors.fetch_add(1, Ordering::Relaxed);
        self.outcome.failures.push((kind, example));
    }

    fn report_progress(&mut self) {
        if self.unreported > 0 {
            self.shared
                .answered
                .fetch_add(self.unreported, Ordering::Relaxed);
            self.unreported = 0;
        }
    }
}

/// `abcdefghijklmnopqrstuvwxyzabc…`, `size` bytes.
fn letters(size: usize) -> Vec<u8> {
    (b'a'..=b'z').cycle().take(size).collect()
}

/// Message `number` of connection `index`, written into `message`: it names both, so a
/// reply meant for another message (or another client) is caught. Its body is copied from
/// `letters` (at least a message long): making the letters anew for each message, byte by
/// byte, took 44% of the bench's processor time with 4 KiB messages, enough to make the
/// bench, not the server, the bottleneck (`perf record`, 50 connections).
fn write_message(
    message: &mut Vec<u8>,
    index: usize,
    number: usize,
    options: &Options,
    letters: &[u8],
) {
    let body = match options.mode {
        Mode::Line => options.size - 1,
        Mode::Raw => options.size,
    };
    message.clear();
    let _ = write!(message, "c{index}m{number} ");
    message.truncate(body);
    message.extend_from_slice(&letters[..body - message.len()]);
    if options.mode == Mode::Line {
        message.push(b'\n');
    }
}

/// Whether `reply` is the echo of `message`: in line mode the same text ending in `\r\n` or
/// `\n`, in raw mode the same bytes.
fn check(message: &[u8], reply: &[u8], mode: Mode) -> Result<(), (Failure, String)> {
    let (expected, text) = match mode {
        Mode::Line => {
            let line = reply.strip_suffix(b"\n").unwrap_or(reply);
            let text = line.strip_suffix(b"\r").unwrap_or(line);
            (&message[..message.len() - 1], text)
        }
        Mode::Raw => (message, reply),
    };
    if text == expected {
        return Ok(());
    }
    if reply.starts_with(b"server full") {
        return Err((Failure::ServerFull, show_bytes(reply)));
    }
    Err((
        Failure::Mismatch,
        format!(
            "sent {}, got back {}",
            show_bytes(message),
            show_bytes(reply)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(mode: Mode, size: usize) -> Options {
        Options {
            mode,
            size,
            ..Options::new(SocketAddr::from(([127, 0, 0, 1], 9)))
        }
    }

    #[test]
    fn a_message_has_its_size_names_its_sender_and_ends_as_its_mode_says() {
        let mut message = Vec::new();
        write_message(&mut message, 3, 17, &options(Mode::Line, 20), &letters(20));
        assert_eq!(message, b"c3m17 abcdefghijklm\n");
        write_message(&mut message, 3, 17, &options(Mode::Raw, 4), &letters(4));
        assert_eq!(message, b"c3m1");
        write_message(&mut message, 3, 17, &options(Mode::Raw, 40), &letters(40));
        assert_eq!(message, b"c3m17 abcdefghijklmnopqrstuvwxyzabcdefgh");
    }

    #[test]
    fn a_line_echo_may_end_in_crlf_or_lf_but_must_have_the_same_text() {
        assert!(check(b"abc\n", b"abc\r\n", Mode::Line).is_ok());
        assert!(check(b"abc\n", b"abc\n", Mode::Line).is_ok());
        let (kind, example) = check(b"abc\n", b"abd\r\n", Mode::Line).unwrap_err();
        assert_eq!(kind, Failure::Mismatch);
        assert!(example.contains(r#"got back "abd\r\n""#), "{example}");
        let (kind, _) = check(b"abc\n", b"server full: 1\r\n", Mode::Line).unwrap_err();
        assert_eq!(kind, Failure::ServerFull);
    }
}
