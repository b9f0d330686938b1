//! The conversation on the wire, the way a failure message shows it.
//!
//! Each harness peer (the servers in ex01–ex03 and ex05, the [`crate::TestClient`] in ex04)
//! keeps a [`Timeline`] per connection: when it opened, each piece of data with its size and
//! its bytes, each half-close (FIN) and reset (RST) with the side that sent it, and how it
//! ended. A failing test prints it, so a student sees what crossed the wire and in what order:
//!
//! ```text
//!      0.0 ms  connected                 127.0.0.1:53122 -> 127.0.0.1:40811
//!      0.3 ms  client -> server  5 bytes "hello" (no line ending)
//!              (2.0 s with nothing on the wire)
//!   2000.4 ms  still open
//! ```
//!
//! [`LiveTimeline`] gives the same lines one by one while the conversation happens (`cargo lab
//! spy`).
//!
//! Memory stays bounded whatever the code under test does: consecutive pieces of data in the
//! same direction are merged into one line (with how many pieces they came in), each line
//! keeps only the start and the end of its bytes, and only the first and the last events of
//! a long conversation are kept, with a count of those left out.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

/// Which end of the connection did something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }

    fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// One thing that happened on a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum What {
    /// The connection was made (the client's and the server's address).
    Connected {
        client: SocketAddr,
        server: SocketAddr,
    },
    /// Bytes went from one side to the other, in `pieces` reads or writes.
    Data {
        from: Side,
        count: u64,
        pieces: u64,
        /// The first bytes, and the last ones when there were more than fit.
        head: Vec<u8>,
        tail: Vec<u8>,
        /// Whether the bytes themselves were seen (a peer may only know a count).
        shown: bool,
        /// Until when the merged pieces lasted.
        until: Duration,
    },
    /// A side closed its sending half (a FIN): the other side reads end-of-file.
    Shutdown { by: Side },
    /// A side reset the connection (an RST): the other side's reads and writes fail.
    Reset { by: Side },
    /// A side closed the connection, for a reason.
    Closed { by: Side, why: String },
    /// Something a peer did or saw that is not on the wire (it stopped reading, an error).
    Note(String),
}

/// When something happened, counted from the connection's start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub at: Duration,
    pub what: What,
}

/// Pieces of data closer than this in time, in the same direction, make one line.
const MERGE: Duration = Duration::from_millis(20);
/// A pause at least this long gets a line of its own.
const GAP: Duration = Duration::from_millis(250);
/// Bytes kept from the start and from the end of each line's data.
const HEAD: usize = 48;
const TAIL: usize = 16;
/// Events kept from the start and from the end of a conversation.
const FIRST: usize = 40;
const LAST: usize = 20;

/// The events of one connection, bounded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timeline {
    first: Vec<Event>,
    /// The most recent events once `first` is full (a ring of at most `LAST`).
    last: Vec<Event>,
    /// Events that were neither among the first nor among the last.
    dropped: u64,
}

impl Timeline {
    pub fn new() -> Timeline {
        Timeline::default()
    }

    /// The events kept, in order, and how many were left out between them.
    pub fn events(&self) -> (Vec<&Event>, u64) {
        let mut all: Vec<&Event> = self.first.iter().collect();
        all.extend(&self.last);
        (all, self.dropped)
    }

    /// The most recent event.
    pub fn last(&self) -> Option<&Event> {
        self.last.last().or(self.first.last())
    }

    /// Adds an event that happened `at` after the connection started.
    pub fn push(&mut self, at: Duration, what: What) {
        if let What::Data { .. } = what
            && self.merge(at, &what)
        {
            return;
        }
        let event = Event { at, what };
        if self.first.len() < FIRST {
            self.first.push(event);
        } else {
            if self.last.len() == LAST {
                self.last.remove(0);
                self.dropped += 1;
            }
            self.last.push(event);
        }
    }

    /// Data of `bytes` (all of them seen) from `from`.
    pub fn data(&mut self, at: Duration, from: Side, bytes: &[u8]) {
        self.push(at, data(at, from, bytes.len() as u64, bytes, true));
    }

    /// Data of which only the size is known.
    pub fn count(&mut self, at: Duration, from: Side, count: u64) {
        self.push(at, data(at, from, count, &[], false));
    }

    /// Merges `what` (data) into the latest event when that is data in the same direction,
    /// close enough in time. Returns whether it did.
    fn merge(&mut self, at: Duration, what: &What) -> bool {
        let latest = match self.last.last_mut() {
            Some(event) => event,
            None => match self.first.last_mut() {
                Some(event) => event,
                None => return false,
            },
        };
        let (
            What::Data {
                from,
                count,
                pieces,
                head,
                tail,
                shown,
                until,
            },
            What::Data {
                from: new_from,
                count: new_count,
                head: new_head,
                tail: new_tail,
                shown: new_shown,
                ..
            },
        ) = (&mut latest.what, what)
        else {
            return false;
        };
        if from != new_from || shown != new_shown || at.saturating_sub(*until) > MERGE {
            return false;
        }
        *count += new_count;
        *pieces += 1;
        *until = at;
        // The first HEAD bytes stay; of everything after them, the last TAIL.
        let mut incoming = new_head.iter().chain(new_tail).copied();
        if tail.is_empty() {
            head.extend(incoming.by_ref().take(HEAD.saturating_sub(head.len())));
        }
        tail.extend(incoming);
        let extra = tail.len().saturating_sub(TAIL);
        tail.drain(..extra);
        true
    }

    /// The timeline as lines for a failure message, each indented by `indent`. `now` (since
    /// the connection's start) adds a last line for a connection still open.
    pub fn render(&self, indent: &str, now: Option<Duration>) -> String {
        let (events, dropped) = self.events();
        let mut text = String::new();
        let mut previous: Option<Duration> = None;
        for (index, event) in events.iter().enumerate() {
            if dropped > 0 && index == self.first.len() {
                let _ = writeln!(text, "{indent}           … {dropped} more events …");
            }
            previous = Some(render_event(&mut text, indent, event, previous));
        }
        if let Some(now) = now {
            render_still_open(&mut text, indent, now, previous);
        }
        text.truncate(text.trim_end().len());
        text
    }
}

/// Writes `event`'s line (after a line for the pause before it, if long) and returns when it
/// ended (the end of merged data), for the next event's pause.
fn render_event(
    text: &mut String,
    indent: &str,
    event: &Event,
    previous: Option<Duration>,
) -> Duration {
    if let Some(before) = previous
        && event.at.saturating_sub(before) >= GAP
    {
        let _ = writeln!(
            text,
            "{indent}           ({} with nothing on the wire)",
            seconds(event.at - before)
        );
    }
    let _ = writeln!(text, "{indent}{} {}", stamp(event.at), line(&event.what));
    match &event.what {
        What::Data { until, .. } => *until,
        _ => event.at,
    }
}

fn render_still_open(text: &mut String, indent: &str, now: Duration, previous: Option<Duration>) {
    if let Some(before) = previous
        && now.saturating_sub(before) >= GAP
    {
        let _ = writeln!(
            text,
            "{indent}           ({} with nothing on the wire)",
            seconds(now - before)
        );
    }
    let _ = writeln!(text, "{indent}{} still open", stamp(now));
}

/// A timeline printed while it happens (`cargo lab spy`): the same lines as
/// [`Timeline::render`], each given out as soon as it is final. Data waits while more of it
/// in the same direction may still be merged into its line, at most until [`LiveTimeline::stale`]
/// says so. Memory is constant: only that one line of data is held.
#[derive(Debug, Default)]
pub struct LiveTimeline {
    /// The latest data line, still growing.
    pending: Option<Event>,
    /// When the last line given out ended.
    previous: Option<Duration>,
}

impl LiveTimeline {
    pub fn new() -> LiveTimeline {
        LiveTimeline::default()
    }

    /// Adds an event; returns the lines that are now final (each ending in a newline, each
    /// starting with `indent`), often none.
    pub fn push(&mut self, indent: &str, at: Duration, what: What) -> String {
        let mut text = String::new();
        if let What::Data { .. } = what {
            let mut line = Timeline::new();
            if let Some(pending) = self.pending.take() {
                line.push(pending.at, pending.what);
            }
            line.push(at, what);
            // Merged: still one (pending) line; else the older one is final.
            let mut events: Vec<Event> = line.first;
            self.pending = events.pop();
            for event in events {
                self.previous = Some(render_event(&mut text, indent, &event, self.previous));
            }
            return text;
        }
        text.push_str(&self.flush(indent));
        let event = Event { at, what };
        self.previous = Some(render_event(&mut text, indent, &event, self.previous));
        text
    }

    /// Data of `bytes` from `from` (only the start and the end of them are kept).
    pub fn data(&mut self, indent: &str, at: Duration, from: Side, bytes: &[u8]) -> String {
        self.push(indent, at, data(at, from, bytes.len() as u64, bytes, true))
    }

    /// The pending data line, if nothing has been added to it for a while by `now` (no more
    /// can be merged into it); else nothing.
    pub fn stale(&mut self, indent: &str, now: Duration) -> String {
        match &self.pending {
            Some(Event {
                what: What::Data { until, .. },
                ..
            }) if now.saturating_sub(*until) > MERGE => self.flush(indent),
            _ => String::new(),
        }
    }

    /// The pending data line, if any, now.
    pub fn flush(&mut self, indent: &str) -> String {
        let mut text = String::new();
        if let Some(event) = self.pending.take() {
            self.previous = Some(render_event(&mut text, indent, &event, self.previous));
        }
        text
    }

    /// The pending line and a last line for a connection still open at `now`.
    pub fn still_open(&mut self, indent: &str, now: Duration) -> String {
        let mut text = self.flush(indent);
        render_still_open(&mut text, indent, now, self.previous);
        text
    }
}

fn data(at: Duration, from: Side, count: u64, bytes: &[u8], shown: bool) -> What {
    let head = bytes[..bytes.len().min(HEAD)].to_vec();
    let tail = bytes[head.len()..]
        .iter()
        .rev()
        .take(TAIL)
        .rev()
        .copied()
        .collect();
    What::Data {
        from,
        count,
        pieces: 1,
        head,
        tail,
        shown,
        until: at,
    }
}

/// `   12.3 ms`, right-aligned so that the lines line up.
fn stamp(at: Duration) -> String {
    format!("{:>8.1} ms ", at.as_secs_f64() * 1000.0)
}

fn seconds(gap: Duration) -> String {
    if gap >= Duration::from_secs(1) {
        format!("{:.1} s", gap.as_secs_f64())
    } else {
        format!("{} ms", gap.as_millis())
    }
}

fn line(what: &What) -> String {
    match what {
        What::Connected { client, server } => {
            format!("connected                 {client} -> {server}")
        }
        What::Data {
            from,
            count,
            pieces,
            head,
            tail,
            shown,
            ..
        } => {
            let mut text = format!(
                "{} -> {}  {count} byte{}",
                from.name(),
                from.other().name(),
                if *count == 1 { "" } else { "s" }
            );
            if *pieces > 1 {
                let _ = write!(text, " in {pieces} pieces");
            }
            if *shown {
                let cut = *count as usize > head.len() + tail.len();
                let _ = write!(text, " \"{}", head.escape_ascii());
                if cut {
                    text.push('…');
                }
                let _ = write!(text, "{}\"", tail.escape_ascii());
                let end: &[u8] = if tail.is_empty() { head } else { tail };
                text.push_str(if end.ends_with(b"\r\n") {
                    ""
                } else if end.ends_with(b"\n") {
                    " (ends with \\n, no \\r)"
                } else {
                    " (no line ending)"
                });
            }
            text
        }
        What::Shutdown { by } => format!(
            "{} closes its sending side (FIN): the {} reads end-of-file",
            by.name(),
            by.other().name()
        ),
        What::Reset { by } => format!("{} resets the connection (RST)", by.name()),
        What::Closed { by, why } => format!("{} closes the connection ({why})", by.name()),
        What::Note(note) => note.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_conversation_reads_in_order_with_its_bytes_and_gaps() {
        let mut timeline = Timeline::new();
        timeline.push(
            ms(0),
            What::Connected {
                client: "127.0.0.1:53122".parse().unwrap(),
                server: "127.0.0.1:40811".parse().unwrap(),
            },
        );
        timeline.data(ms(1), Side::Client, b"hello");
        timeline.data(ms(2), Side::Server, b"hello\r\n");
        timeline.push(ms(3), What::Shutdown { by: Side::Client });
        let text = timeline.render("  ", Some(ms(2003)));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "       0.0 ms  connected                 127.0.0.1:53122 -> 127.0.0.1:40811",
                "       1.0 ms  client -> server  5 bytes \"hello\" (no line ending)",
                "       2.0 ms  server -> client  7 bytes \"hello\\r\\n\"",
                "       3.0 ms  client closes its sending side (FIN): the server reads \
                 end-of-file",
                "             (2.0 s with nothing on the wire)",
                "    2003.0 ms  still open",
            ]
        );
    }

    #[test]
    fn pieces_close_in_time_make_one_line_and_long_data_is_cut_in_the_middle() {
        let mut timeline = Timeline::new();
        for (i, piece) in [b"abc".as_slice(), b"def", b"ghi"].iter().enumerate() {
            timeline.data(ms(i as u64), Side::Server, piece);
        }
        // Later than the merging window: a line of its own.
        timeline.data(ms(500), Side::Server, &[b'x'; 1000]);
        let text = timeline.render("", None);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0]
                .ends_with("server -> client  9 bytes in 3 pieces \"abcdefghi\" (no line ending)"),
            "{text}"
        );
        // The gap counts from the end of the merged pieces (2 ms).
        assert!(
            lines[1].contains("(498 ms with nothing on the wire)"),
            "{text}"
        );
        assert!(lines[2].contains("1000 bytes \"xxxx"), "{text}");
        assert!(lines[2].contains("…xxxxxxxxxxxxxxxx\""), "{text}");
        assert!(lines[2].len() < 140, "{text}");
    }

    #[test]
    fn a_long_conversation_keeps_its_start_and_its_end() {
        let mut timeline = Timeline::new();
        for i in 0..1000u64 {
            let side = if i % 2 == 0 {
                Side::Client
            } else {
                Side::Server
            };
            timeline.data(ms(i * 30), side, b"ping\n");
        }
        let (events, dropped) = timeline.events();
        assert_eq!(events.len(), FIRST + LAST);
        assert_eq!(dropped, 1000 - (FIRST + LAST) as u64);
        let text = timeline.render("", None);
        assert!(
            text.contains(&format!("… {dropped} more events …")),
            "{text}"
        );
        assert!(text.lines().count() < 70, "{text}");
    }

    #[test]
    fn a_live_timeline_gives_the_same_lines_as_a_rendered_one() {
        let events = [
            (
                ms(0),
                What::Connected {
                    client: "127.0.0.1:53122".parse().unwrap(),
                    server: "127.0.0.1:40811".parse().unwrap(),
                },
            ),
            (ms(1), data(ms(1), Side::Client, 3, b"hel", true)),
            (ms(5), data(ms(5), Side::Client, 3, b"lo\n", true)),
            (ms(400), data(ms(400), Side::Server, 7, b"hello\r\n", true)),
            (ms(401), What::Shutdown { by: Side::Client }),
            (ms(402), What::Reset { by: Side::Server }),
        ];
        let mut timeline = Timeline::new();
        let mut live = LiveTimeline::new();
        let mut printed = String::new();
        for (at, what) in events {
            timeline.push(at, what.clone());
            printed.push_str(&live.push("#1 ", at, what));
        }
        printed.push_str(&live.still_open("#1 ", ms(3000)));
        assert_eq!(
            printed.trim_end(),
            timeline.render("#1 ", Some(ms(3000))),
            "{printed}"
        );
        assert!(printed.contains("6 bytes in 2 pieces \"hello\\n\" (ends with \\n, no \\r)"));
    }

    #[test]
    fn live_data_waits_for_more_then_goes_out_when_stale() {
        let mut live = LiveTimeline::new();
        assert_eq!(
            live.push("", ms(10), data(ms(10), Side::Client, 2, b"hi", true)),
            ""
        );
        assert_eq!(live.stale("", ms(20)), "", "more may still come");
        let line = live.stale("", ms(100));
        assert_eq!(
            line,
            "    10.0 ms  client -> server  2 bytes \"hi\" (no line ending)\n"
        );
        assert_eq!(live.flush(""), "");
    }

    #[test]
    fn only_a_count_when_the_bytes_were_not_seen() {
        let mut timeline = Timeline::new();
        timeline.count(ms(5), Side::Server, 42);
        assert_eq!(
            timeline.render("", None),
            "     5.0 ms  server -> client  42 bytes"
        );
    }
}
