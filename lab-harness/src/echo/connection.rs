//! One echo connection as a small state machine, driven by its worker (`worker.rs`).
//!
//! The worker calls [`Connection::on_ready`] when the socket may be readable or writable and
//! [`Connection::on_time`] when a deadline the connection asked for
//! ([`Connection::next_deadline`]) has come; it drops the connection once
//! [`Connection::is_finished`]. The socket is non-blocking, so nothing here ever waits.
//!
//! The usual echo costs one read and one write: lines are found with the `memchr` crate (the
//! processor's vector instructions: std's own search, a word at a time, was 6% of the
//! server's time with 4 KiB lines, memchr's under 1%) and the replies are written straight
//! from the worker's read buffer, with a vectored write that puts `\r\n` after each line.
//! Only what the socket does not take at once, or what a line started in an earlier read, is
//! copied, into a buffer borrowed from the worker (`buffers.rs`).
//!
//! Memory stays bounded whatever the client does: an unfinished line is at most
//! `max_line` bytes, and the connection stops reading while replies are waiting to go out
//! ([`OUTPUT_LIMIT`], [`HOLD_LIMIT`]): a client that sends without reading fills its own
//! buffers, not the server's. Each read is sized so that its replies fit under the limit
//! (a read of 64 KiB of `\n`s makes 128 KiB of `\r\n`s), and the reply buffer never grows
//! past it. An idle connection keeps no buffer at all.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use mio::net::TcpStream;

use super::buffers::{Buffers, Spare};
use super::{Behaviour, Config, Mode};
use crate::core::Open;
use crate::record::Ending;

/// Stop reading while this many reply bytes wait for the socket to take them.
pub(crate) const OUTPUT_LIMIT: usize = 64 * 1024;
/// Stop reading while this many reply bytes are held back on purpose (delay, fragment,
/// coalesce).
pub(crate) const HOLD_LIMIT: usize = 64 * 1024;
/// The smallest read while replies wait (see [`Connection::input_room`]).
const MIN_READ: usize = 4 * 1024;
/// Read at most this much from one connection before letting the others have a turn.
const READ_BUDGET: usize = 256 * 1024;
/// At most this many pieces (a line's text, its `\r\n`) go out in one vectored write.
const PIECES: usize = 64;
/// Every line goes back ending in `\r\n`.
const CRLF: &[u8] = b"\r\n";
/// After the server's last line and its end-of-file, keep reading (and dropping) what the
/// client still sends for this long: closing a socket with unread input sends a reset, and
/// a reset can destroy the last line before the client reads it.
const LINGER: Duration = Duration::from_secs(1);
/// ... but no more than this much of it.
const LINGER_BYTES: u64 = 16 * 1024 * 1024;
/// A closing connection whose client takes none of the remaining output for this long is
/// dropped.
const CLOSE_STALL: Duration = Duration::from_secs(10);

enum Phase {
    /// Echoing.
    Serving,
    /// Closing for `ending`: replies still due go out, then the server's sending side is shut
    /// (`shut`), then what the client still sends is dropped until its end-of-file.
    Closing {
        ending: Ending,
        shut: bool,
        linger_until: Option<Instant>,
        dropped: u64,
    },
    /// Done: the worker drops the connection and records `Ending`.
    Finished(Ending),
}

/// A reply held back until `due` (delay, fragment); `sent` bytes of it are already out.
struct Held {
    due: Instant,
    bytes: Vec<u8>,
    sent: usize,
}

pub(crate) struct Connection {
    pub(crate) stream: TcpStream,
    /// `None` for a client being turned away (the server is full): it is not recorded.
    open: Option<Open>,
    phase: Phase,
    received_eof: bool,
    last_activity: Instant,
    /// Line mode: the start of a line whose `\n` has not arrived yet.
    input: Vec<u8>,
    /// When the first byte of `input` arrived.
    line_started: Option<Instant>,
    /// Bytes ready to go out; the first `written` are out already.
    output: Vec<u8>,
    written: usize,
    /// Delay and fragment: replies waiting for their time, in order.
    scheduled: VecDeque<Held>,
    scheduled_bytes: usize,
    /// Coalesce: replies held to go out together, how many, and since when.
    held: Vec<u8>,
    held_count: usize,
    held_since: Option<Instant>,
    /// The earliest timer the worker has set for this connection.
    pub(crate) armed: Option<Instant>,
    /// Already in the worker's list of connections to read again.
    pub(crate) queued: bool,
    /// The worker was told that the client closed its side (or that the socket failed):
    /// no new event will come for it, so reading goes on until the end of stream shows.
    pub(crate) end_reported: bool,
}

impl Connection {
    pub(crate) fn new(stream: TcpStream, open: Open, now: Instant) -> Connection {
        Connection::with(stream, Some(open), Phase::Serving, now)
    }

    /// A client the server has no room for: it gets `line`, then the connection closes.
    pub(crate) fn turned_away(stream: TcpStream, line: String, now: Instant) -> Connection {
        let closing = Phase::Closing {
            ending: Ending::ServerClosed("server full".into()),
            shut: false,
            linger_until: None,
            dropped: 0,
        };
        let mut connection = Connection::with(stream, None, closing, now);
        connection.output = line.into_bytes();
        connection
    }

    fn with(stream: TcpStream, open: Option<Open>, phase: Phase, now: Instant) -> Connection {
        Connection {
            stream,
            open,
            phase,
            received_eof: false,
            last_activity: now,
            input: Vec::new(),
            line_started: None,
            output: Vec::new(),
            written: 0,
            scheduled: VecDeque::new(),
            scheduled_bytes: 0,
            held: Vec::new(),
            held_count: 0,
            held_since: None,
            armed: None,
            queued: false,
            end_reported: false,
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Finished(_))
    }

    /// Records how the connection ended and closes the socket. `stopping` is the server
    /// being stopped with the connection still open.
    pub(crate) fn close(self, stopping: bool) {
        if stopping {
            let _ = self.stream.shutdown(Shutdown::Both);
        }
        let ending = match self.phase {
            Phase::Finished(ending) => ending,
            Phase::Closing { ending, .. } if !stopping => ending,
            _ => Ending::ServerClosed("server stopped".into()),
        };
        if let Some(open) = self.open {
            open.close(ending);
        }
    }

    /// The socket may have become readable (`readable`) or writable: sends what is due,
    /// reads what has arrived. Returns `true` if more input may be waiting (this connection
    /// used up its turn), so the worker should come back to it.
    pub(crate) fn on_ready(
        &mut self,
        config: &Config,
        buffers: &mut Buffers,
        now: Instant,
        readable: bool,
    ) -> bool {
        let was_paused = !self.wants_input();
        self.progress(config, &mut buffers.spare, now);
        // Readiness is reported on changes only: input that arrived while reading was paused
        // must be fetched now, as no new event will announce it.
        let resumed = was_paused && self.wants_input();
        if readable || resumed {
            self.read_some(config, buffers, now)
        } else {
            false
        }
    }

    /// A deadline may have come: idle, unfinished line, a reply's time, the linger's end.
    pub(crate) fn on_time(&mut self, config: &Config, buffers: &mut Buffers, now: Instant) -> bool {
        match &self.phase {
            Phase::Serving => {
                let idle = config
                    .idle_timeout
                    .filter(|limit| now >= self.last_activity + *limit);
                let unfinished = config
                    .line_timeout
                    .filter(|limit| self.line_started.is_some_and(|at| now >= at + *limit));
                if let Some(limit) = idle {
                    self.close_with(config, format!("idle for {limit:?}"));
                } else if let Some(limit) = unfinished {
                    self.close_with(config, format!("line not finished within {limit:?}"));
                }
            }
            Phase::Closing {
                ending,
                linger_until,
                ..
            } => {
                let lingered = linger_until.is_some_and(|until| now >= until);
                let stalled = self.only_output_left() && now >= self.last_activity + CLOSE_STALL;
                if lingered || stalled {
                    self.phase = Phase::Finished(ending.clone());
                }
            }
            Phase::Finished(_) => {}
        }
        self.on_ready(config, buffers, now, false)
    }

    /// When [`Connection::on_time`] should be called next.
    pub(crate) fn next_deadline(&self, config: &Config) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |at: Option<Instant>| {
            if let Some(at) = at {
                next = Some(next.map_or(at, |next| next.min(at)));
            }
        };
        consider(self.scheduled.front().map(|held| held.due));
        if let (Behaviour::Coalesce { wait, .. }, Some(since)) = (config.behaviour, self.held_since)
        {
            consider(Some(since + wait));
        }
        match &self.phase {
            Phase::Serving => {
                consider(config.idle_timeout.map(|limit| self.last_activity + limit));
                if let (Some(limit), Some(started)) = (config.line_timeout, self.line_started) {
                    consider(Some(started + limit));
                }
            }
            Phase::Closing { linger_until, .. } => {
                consider(*linger_until);
                if self.only_output_left() {
                    consider(Some(self.last_activity + CLOSE_STALL));
                }
            }
            Phase::Finished(_) => return None,
        }
        next
    }

    /// Reading is paused while replies wait, and over once the client has closed its side.
    fn wants_input(&self) -> bool {
        match self.phase {
            Phase::Serving => {
                self.output.len() - self.written < OUTPUT_LIMIT
                    && self.scheduled_bytes + self.held.len() < HOLD_LIMIT
            }
            Phase::Closing { .. } => !self.received_eof,
            Phase::Finished(_) => false,
        }
    }

    /// How many bytes may be read now: their replies (twice their size at worst in line
    /// mode, where `\n` goes back as `\r\n`) must fit in what is left of [`OUTPUT_LIMIT`].
    /// At least [`MIN_READ`], so that a long line still makes progress.
    fn input_room(&mut self, config: &Config) -> usize {
        if !matches!(self.phase, Phase::Serving) {
            return usize::MAX;
        }
        if self.written > 0 {
            // Replies the client took slowly: drop what is out before adding more behind
            // it, or the buffer would grow by everything ever sent.
            self.output.drain(..self.written);
            self.written = 0;
        }
        let expansion = match config.mode {
            Mode::Line => 2,
            Mode::Raw => 1,
        };
        let waiting = self.output.len() + self.scheduled_bytes + self.held.len();
        (OUTPUT_LIMIT.saturating_sub(waiting) / expansion).max(MIN_READ)
    }

    fn only_output_left(&self) -> bool {
        self.scheduled.is_empty() && self.held.is_empty() && self.written < self.output.len()
    }

    fn read_some(&mut self, config: &Config, buffers: &mut Buffers, now: Instant) -> bool {
        let Buffers { read, spare } = buffers;
        let mut budget = READ_BUDGET;
        let mut drained = false;
        while self.wants_input() && !drained {
            if budget == 0 {
                return true;
            }
            // Read no more than the replies to it can fit under the output limit, so a
            // client that never reads its replies costs the server at most that much.
            let room = self.input_room(config).min(read.len());
            let read = &mut read[..room];
            match (&self.stream).read(read) {
                Ok(0) => {
                    self.received_eof = true;
                    self.on_end_of_file(config, now);
                }
                Ok(count) => {
                    budget = budget.saturating_sub(count);
                    // A read that did not fill the buffer emptied the socket. Outside
                    // Windows, readiness is reported again when more arrives (tokio relies
                    // on the same), so the read that would only say `WouldBlock` is saved:
                    // one system call in three of a ping-pong echo.
                    drained = cfg!(not(windows)) && count < read.len() && !self.end_reported;
                    self.last_activity = now;
                    let data = &read[..count];
                    if let Some(open) = &self.open {
                        open.log.received(data);
                    }
                    match &mut self.phase {
                        Phase::Serving => self.take(config, data, spare, now),
                        Phase::Closing { dropped, .. } => {
                            *dropped += count as u64;
                            if *dropped > LINGER_BYTES {
                                self.finish_closing();
                            }
                        }
                        Phase::Finished(_) => {}
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return false,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => self.fail(error),
            }
            self.progress(config, spare, now);
        }
        false
    }

    /// Bytes from the client, while serving.
    fn take(&mut self, config: &Config, data: &[u8], spare: &mut Spare, now: Instant) {
        // A plain echo goes out straight from the read buffer; a demo behaviour holds or
        // reshapes its replies, so they are copied.
        let direct = config.behaviour == Behaviour::Echo;
        if config.mode == Mode::Raw {
            if direct {
                self.send_now(&mut [IoSlice::new(data)], spare, now);
            } else {
                self.deliver(config, data, b"", now);
            }
            return;
        }
        let mut batch = Batch::default();
        let mut rest = data;
        // Each complete line in turn; what follows the last `\n` is an unfinished line.
        while let Some(newline) = memchr::memchr(b'\n', rest) {
            let taken = newline + 1;
            let start = data.len() - rest.len();
            let (piece, after) = rest.split_at(taken);
            rest = after;
            if self.input.len() + piece.len() > config.max_line {
                self.send_batch(&mut batch, data, spare, now);
                self.too_long(config);
                return;
            }
            self.line_started = None;
            if !self.input.is_empty() {
                // The line began in an earlier read: it is joined in `input`, then copied out
                // behind the replies before it.
                self.send_batch(&mut batch, data, spare, now);
                self.input.extend_from_slice(piece);
                let joined = std::mem::take(&mut self.input);
                if self.output.capacity() == 0 {
                    self.output = spare.lend();
                }
                self.deliver(config, line_text(&joined), CRLF, now);
                spare.give_back(joined);
                continue;
            }
            if !direct {
                self.deliver(config, line_text(piece), CRLF, now);
            } else if piece.ends_with(CRLF) {
                batch.push(Piece::Data(start, start + taken));
            } else {
                batch.push(Piece::Data(start, start + taken - 1));
                batch.push(Piece::LineEnd);
            }
            if batch.is_full() {
                self.send_batch(&mut batch, data, spare, now);
            }
        }
        self.send_batch(&mut batch, data, spare, now);
        if !rest.is_empty() && !self.is_finished() {
            // A line that has reached `max_line` bytes without its `\n` can never fit.
            if self.input.len() + rest.len() >= config.max_line {
                self.too_long(config);
                return;
            }
            if self.input.is_empty() {
                self.line_started = Some(now);
                if self.input.capacity() == 0 {
                    self.input = spare.lend();
                }
            }
            self.input.extend_from_slice(rest);
        }
    }

    /// Sends the replies collected in `batch` (pieces of `data`).
    fn send_batch(&mut self, batch: &mut Batch, data: &[u8], spare: &mut Spare, now: Instant) {
        if batch.count == 0 {
            return;
        }
        let mut slices = [IoSlice::new(&[]); PIECES];
        for (slice, piece) in slices.iter_mut().zip(&batch.pieces[..batch.count]) {
            *slice = IoSlice::new(match *piece {
                Piece::Data(start, end) => &data[start..end],
                Piece::LineEnd => CRLF,
            });
        }
        batch.count = 0;
        self.send_now(&mut slices, spare, now);
    }

    /// Writes `pieces` (replies, in order) at once if nothing waits ahead of them, straight
    /// from where they are; what the socket does not take is copied into `output`.
    fn send_now(&mut self, pieces: &mut [IoSlice<'_>], spare: &mut Spare, now: Instant) {
        if !self.output.is_empty() {
            self.flush(spare, now);
        }
        let mut pieces = pieces;
        while self.output.is_empty() && !self.is_finished() && !pieces.is_empty() {
            match (&self.stream).write_vectored(pieces) {
                Ok(0) => self.fail(io::ErrorKind::WriteZero.into()),
                Ok(count) => {
                    self.sent(count, now);
                    IoSlice::advance_slices(&mut pieces, count);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => self.fail(error),
            }
        }
        if pieces.is_empty() || self.is_finished() {
            return;
        }
        if self.output.capacity() == 0 {
            self.output = spare.lend();
        }
        reserve_output(
            &mut self.output,
            pieces.iter().map(|piece| piece.len()).sum(),
        );
        for piece in pieces.iter() {
            self.output.extend_from_slice(piece);
        }
    }

    /// `count` reply bytes went out.
    fn sent(&mut self, count: usize, now: Instant) {
        self.last_activity = now;
        if let Some(open) = &self.open {
            open.log.sent(count);
        }
    }

    fn too_long(&mut self, config: &Config) {
        self.close_with(
            config,
            format!("line longer than {} bytes", config.max_line),
        );
    }

    /// The client closed its side: a last line without its line ending is answered too,
    /// replies still due go out, then the server closes.
    fn on_end_of_file(&mut self, config: &Config, now: Instant) {
        if !matches!(self.phase, Phase::Serving) {
            if matches!(self.phase, Phase::Closing { shut: true, .. }) {
                self.finish_closing();
            }
            return;
        }
        if !self.input.is_empty() {
            let last = std::mem::take(&mut self.input);
            self.deliver(config, &last, b"\r\n", now);
        }
        self.line_started = None;
        self.phase = Phase::Closing {
            ending: Ending::ClientClosed,
            shut: false,
            linger_until: None,
            dropped: 0,
        };
    }

    /// The server closes the connection for `reason`: everything held goes out at once, then
    /// (line mode, unless silent) an error line saying why.
    fn close_with(&mut self, config: &Config, reason: String) {
        for held in self.scheduled.drain(..) {
            self.output.extend_from_slice(&held.bytes[held.sent..]);
        }
        self.scheduled_bytes = 0;
        self.output.append(&mut self.held);
        self.held_count = 0;
        self.held_since = None;
        if config.mode == Mode::Line && config.behaviour != Behaviour::Silent {
            self.output
                .extend_from_slice(format!("error: {reason}, closing\r\n").as_bytes());
        }
        self.input = Vec::new();
        self.line_started = None;
        self.phase = Phase::Closing {
            ending: Ending::ServerClosed(reason),
            shut: false,
            linger_until: None,
            dropped: 0,
        };
    }

    /// One reply, `text` followed by `ending`, sent the way the behaviour says.
    fn deliver(&mut self, config: &Config, text: &[u8], ending: &[u8], now: Instant) {
        let hold = |scheduled: &mut VecDeque<Held>, total: &mut usize, due: Instant| {
            // Replies keep their order: none is due before the one ahead of it.
            let due = scheduled.back().map_or(due, |last| last.due.max(due));
            let bytes = [text, ending].concat();
            *total += bytes.len();
            scheduled.push_back(Held {
                due,
                bytes,
                sent: 0,
            });
        };
        match config.behaviour {
            Behaviour::Echo => {
                reserve_output(&mut self.output, text.len() + ending.len());
                self.output.extend_from_slice(text);
                self.output.extend_from_slice(ending);
            }
            Behaviour::Silent => {}
            Behaviour::Delay(delay) => {
                hold(&mut self.scheduled, &mut self.scheduled_bytes, now + delay)
            }
            Behaviour::Fragment { .. } => hold(&mut self.scheduled, &mut self.scheduled_bytes, now),
            Behaviour::Coalesce { .. } => {
                self.held_since.get_or_insert(now);
                self.held.extend_from_slice(text);
                self.held.extend_from_slice(ending);
                self.held_count += 1;
            }
        }
    }

    /// Moves what is due into the output, writes as much as the socket takes, and moves a
    /// closing connection on once everything is out.
    fn progress(&mut self, config: &Config, spare: &mut Spare, now: Instant) {
        self.release_due(config, now);
        if let (Behaviour::Coalesce { lines, wait }, Some(since)) =
            (config.behaviour, self.held_since)
        {
            let closing = !matches!(self.phase, Phase::Serving);
            if self.held_count >= lines || now >= since + wait || closing {
                self.output.append(&mut self.held);
                self.held_count = 0;
                self.held_since = None;
            }
        }
        self.flush(spare, now);
        if self.is_finished() {
            return;
        }
        let all_out = self.scheduled.is_empty() && self.held.is_empty() && self.output.is_empty();
        if !all_out {
            return;
        }
        if self.received_eof {
            // Both sides are done. The socket closes when the worker drops the connection,
            // after the connection is recorded (and logged) as closed.
            self.finish_closing();
        } else if let Phase::Closing {
            shut: shut @ false,
            linger_until,
            ..
        } = &mut self.phase
        {
            *shut = true;
            *linger_until = Some(now + LINGER);
            let _ = self.stream.shutdown(Shutdown::Write);
        }
    }

    fn release_due(&mut self, config: &Config, now: Instant) {
        while let Some(front) = self.scheduled.front_mut() {
            if front.due > now {
                return;
            }
            match config.behaviour {
                Behaviour::Fragment { piece, pause } => {
                    let end = (front.sent + piece.max(1)).min(front.bytes.len());
                    self.output.extend_from_slice(&front.bytes[front.sent..end]);
                    front.sent = end;
                    if end < front.bytes.len() {
                        // One piece per write: the next one leaves after a pause.
                        front.due = now + pause;
                        return;
                    }
                }
                _ => self.output.extend_from_slice(&front.bytes[front.sent..]),
            }
            if let Some(done) = self.scheduled.pop_front() {
                self.scheduled_bytes -= done.bytes.len();
            }
        }
    }

    fn flush(&mut self, spare: &mut Spare, now: Instant) {
        while self.written < self.output.len() {
            match (&self.stream).write(&self.output[self.written..]) {
                Ok(0) => return self.fail(io::ErrorKind::WriteZero.into()),
                Ok(count) => {
                    self.written += count;
                    self.sent(count, now);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return self.fail(error),
            }
        }
        self.written = 0;
        // Drained: the buffer goes back to the worker, for this connection or another.
        spare.give_back(std::mem::take(&mut self.output));
    }

    fn finish_closing(&mut self) {
        if let Phase::Closing { ending, .. } = &mut self.phase {
            let ending = std::mem::replace(ending, Ending::ClientClosed);
            self.phase = Phase::Finished(ending);
        }
    }

    /// A read or write failed. A connection the server was closing anyway keeps the reason
    /// it was closed for: the client resetting it then is expected.
    fn fail(&mut self, error: io::Error) {
        let ending = match &self.phase {
            Phase::Closing {
                ending: ending @ Ending::ServerClosed(_),
                ..
            } => ending.clone(),
            Phase::Finished(_) => return,
            _ => Ending::Failed(error.kind(), error.to_string()),
        };
        self.phase = Phase::Finished(ending);
    }
}

/// Makes room for `extra` more bytes in a reply buffer. A `Vec` doubles its room when it
/// grows, which could leave a connection holding twice [`OUTPUT_LIMIT`]; this grows it the
/// same way but never past the limit (or past what is asked, when more is asked).
fn reserve_output(output: &mut Vec<u8>, extra: usize) {
    let needed = output.len() + extra;
    if needed > output.capacity() {
        let target = (output.capacity() * 2).clamp(needed, OUTPUT_LIMIT.max(needed));
        output.reserve_exact(target - output.len());
    }
}

/// A line without its `\n` or `\r\n`: accept both, always answer with `\r\n`. Bytes are
/// echoed as they are: a line need not be UTF-8.
fn line_text(line: &[u8]) -> &[u8] {
    let text = line.strip_suffix(b"\n").unwrap_or(line);
    text.strip_suffix(b"\r").unwrap_or(text)
}

/// A piece of a vectored write of replies.
#[derive(Clone, Copy)]
enum Piece {
    /// Bytes `start..end` of the data just read.
    Data(usize, usize),
    /// `\r\n`.
    LineEnd,
}

/// Replies collected for one vectored write.
struct Batch {
    pieces: [Piece; PIECES],
    count: usize,
}

impl Default for Batch {
    fn default() -> Batch {
        Batch {
            pieces: [Piece::LineEnd; PIECES],
            count: 0,
        }
    }
}

impl Batch {
    /// Adds a piece; bytes that follow the previous piece in the data just extend it (lines
    /// that already end in `\r\n` go out as one run).
    fn push(&mut self, piece: Piece) {
        if let (Some(Piece::Data(_, end)), Piece::Data(start, new_end)) =
            (self.pieces[..self.count].last_mut(), piece)
        {
            if *end == start {
                *end = new_end;
                return;
            }
        }
        self.pieces[self.count] = piece;
        self.count += 1;
    }

    /// Full when another line (two pieces) might not fit.
    fn is_full(&self) -> bool {
        self.count + 2 > PIECES
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;

    /// A client that sends lines and never reads its replies: once the socket takes no more,
    /// the replies wait in the connection, which must stop reading at its output limit rather
    /// than go on copying. The server's socket buffer is made small so the limit is reached
    /// in a few reads (the reference server's own is up to 4 MiB on Linux).
    fn never_reading_client(mode: Mode, line: &[u8]) -> (usize, usize) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server_side, _) = listener.accept().unwrap();
        let socket = socket2::SockRef::from(&server_side);
        socket.set_send_buffer_size(4096).unwrap();
        server_side.set_nonblocking(true).unwrap();
        client.set_nonblocking(true).unwrap();
        let start = Instant::now();
        let mut connection = Connection::with(
            TcpStream::from_std(server_side),
            None,
            Phase::Serving,
            start,
        );
        let config = Config::mode(mode);
        let mut buffers = Buffers::new(64 * 1024);
        let lines = line.repeat(64 * 1024 / line.len());
        let (mut most_waiting, mut most_room) = (0, 0);
        let mut blocked_rounds = 0;
        while blocked_rounds < 3 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the connection never stopped reading from a client that does not read"
            );
            match client.write(&lines) {
                Ok(_) => blocked_rounds = 0,
                Err(error) if error.kind() == ErrorKind::WouldBlock => {
                    if !connection.wants_input() {
                        blocked_rounds += 1;
                    }
                }
                Err(error) => panic!("the client could not send: {error}"),
            }
            connection.on_ready(&config, &mut buffers, Instant::now(), true);
            most_waiting = most_waiting.max(connection.output.len() - connection.written);
            most_room = most_room.max(connection.output.capacity());
        }
        (most_waiting, most_room)
    }

    #[test]
    fn replies_a_client_never_reads_stay_within_the_output_limit_in_line_mode() {
        // "x\n" goes back as "x\r\n": replies are half as big again as the input.
        let (waiting, room) = never_reading_client(Mode::Line, b"x\n");
        assert!(
            waiting <= OUTPUT_LIMIT + 2 * MIN_READ,
            "{waiting} bytes waiting"
        );
        assert!(
            room <= OUTPUT_LIMIT + 2 * MIN_READ,
            "a buffer of {room} bytes"
        );
    }

    #[test]
    fn replies_a_client_never_reads_stay_within_the_output_limit_in_raw_mode() {
        let (waiting, room) = never_reading_client(Mode::Raw, b"0123456789abcdef");
        assert!(
            waiting <= OUTPUT_LIMIT + MIN_READ,
            "{waiting} bytes waiting"
        );
        assert!(room <= OUTPUT_LIMIT + MIN_READ, "a buffer of {room} bytes");
    }
}
