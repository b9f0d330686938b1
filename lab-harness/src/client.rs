//! The reference client: the harness's side when a test checks a *student's server*.
//!
//! Every wait has a deadline: connecting, sending (a server that never reads fills the
//! buffers), and reading (a server that never answers, or never closes). The client keeps
//! what it sent and received and *when* each side closed, so a failing test can say what
//! crossed the wire and who closed first: "the client sent 5 bytes and closed its sending
//! side after 1.2ms; it received nothing; the server has not closed its side after 2.0s".
//!
//! ```no_run
//! use lab_harness::{ReadEnd, TestClient};
//! use std::time::Duration;
//! # let addr = "127.0.0.1:7".parse().unwrap();
//! let limit = Duration::from_secs(2);
//! let mut client = TestClient::connect(addr, limit).expect("connecting");
//! client.send(b"hello", limit).expect("sending");
//! client.half_close().expect("half-closing");
//! let end = client.read_to_end(limit);
//! assert!(end == ReadEnd::Closed && client.received() == b"hello", "{}", client.describe());
//! ```

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::bytes::show_bytes;
use crate::timeline::{Side, Timeline, What};

/// Bytes read (or written) per call: large enough for 16 MiB round trips to be quick.
const CHUNK: usize = 64 * 1024;

/// How a read by the [`TestClient`] stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadEnd {
    /// Everything asked for arrived.
    Complete,
    /// The server closed its sending side (a read returned 0).
    Closed,
    /// Nothing more arrived before the deadline.
    TimedOut,
    /// A read failed, typically `ConnectionReset`: the server closed with unread input, or
    /// the server process died.
    Failed(io::ErrorKind, String),
}

impl std::fmt::Display for ReadEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadEnd::Complete => f.write_str("everything expected arrived"),
            ReadEnd::Closed => f.write_str("the server closed its side"),
            ReadEnd::TimedOut => f.write_str("nothing more arrived before the deadline"),
            ReadEnd::Failed(io::ErrorKind::ConnectionReset, _) => {
                f.write_str("the server reset the connection")
            }
            ReadEnd::Failed(_, message) => write!(f, "reading failed: {message}"),
        }
    }
}

/// A client connection to a server under test, with deadlines and a record of the exchange.
pub struct TestClient {
    stream: TcpStream,
    opened: Instant,
    sent: u64,
    received: Vec<u8>,
    /// When the client shut down its sending side (since `opened`).
    half_closed: Option<Duration>,
    /// When the server's end-of-file (or reset) arrived (since `opened`).
    server_closed: Option<(Duration, ReadEnd)>,
    /// The first send error, with how much had been sent by then.
    send_failed: Option<String>,
    /// The conversation on the wire (shared with the reading thread of a round trip).
    timeline: Arc<Mutex<Timeline>>,
}

impl TestClient {
    /// Connects to `addr`, giving up after `limit`.
    pub fn connect(addr: SocketAddr, limit: Duration) -> io::Result<TestClient> {
        let stream = TcpStream::connect_timeout(&addr, limit)?;
        let mut timeline = Timeline::new();
        timeline.push(
            Duration::ZERO,
            What::Connected {
                client: stream.local_addr()?,
                server: addr,
            },
        );
        Ok(TestClient {
            stream,
            opened: Instant::now(),
            sent: 0,
            received: Vec::new(),
            half_closed: None,
            server_closed: None,
            send_failed: None,
            timeline: Arc::new(Mutex::new(timeline)),
        })
    }

    /// The underlying stream (its addresses, or anything the client does not cover).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// The client's end of the connection: the server sees it as its peer.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// Everything received so far.
    pub fn received(&self) -> &[u8] {
        &self.received
    }

    /// How many bytes were sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Sends all of `data`, giving up with `WouldBlock`/`TimedOut` when the server has not
    /// taken it within `limit` (a server that does not read fills the buffers).
    pub fn send(&mut self, data: &[u8], limit: Duration) -> io::Result<()> {
        let deadline = Instant::now() + limit;
        let stream = &self.stream;
        let wire = Wire {
            timeline: &self.timeline,
            opened: self.opened,
        };
        send_counted(stream, data, deadline, &mut self.sent, &wire).inspect_err(|error| {
            self.send_failed.get_or_insert_with(|| {
                format!("sending failed after {} bytes: {error}", self.sent)
            });
        })
    }

    /// Closes the client's sending side: the server reads end-of-file and, if it is an echo
    /// server, sends back the rest and closes.
    pub fn half_close(&mut self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Write)?;
        let at = self.opened.elapsed();
        self.half_closed = Some(at);
        self.wire().push(at, What::Shutdown { by: Side::Client });
        Ok(())
    }

    /// Reads until `count` more bytes have arrived (never more), the server closes, a read
    /// fails, or `limit` passes.
    pub fn read_exactly(&mut self, count: usize, limit: Duration) -> ReadEnd {
        let goal = self.received.len() + count;
        let deadline = Instant::now() + limit;
        let wire = Wire {
            timeline: &self.timeline,
            opened: self.opened,
        };
        let end = read_into(
            &self.stream,
            &mut self.received,
            Some(goal),
            deadline,
            &wire,
        );
        self.note_end(&end);
        end.0
    }

    /// Reads until the server closes its side (`ReadEnd::Closed`), a read fails, or `limit`
    /// passes.
    pub fn read_to_end(&mut self, limit: Duration) -> ReadEnd {
        let deadline = Instant::now() + limit;
        let wire = Wire {
            timeline: &self.timeline,
            opened: self.opened,
        };
        let end = read_into(&self.stream, &mut self.received, None, deadline, &wire);
        self.note_end(&end);
        end.0
    }

    /// The whole echo exchange for data of any size: sends `data` while another thread
    /// reads, closes the sending side, and reads until the server closes; everything within
    /// `limit`.
    ///
    /// Reading at the same time is what makes large payloads safe: an echo server writes back
    /// while it reads, and once both directions' buffers are full (a few MiB on loopback) a
    /// client that only writes would wait forever for a server that waits for it.
    pub fn round_trip(&mut self, data: &[u8], limit: Duration) -> ReadEnd {
        let deadline = Instant::now() + limit;
        let reader = match self.stream.try_clone() {
            Ok(reader) => reader,
            Err(error) => return ReadEnd::Failed(error.kind(), error.to_string()),
        };
        let opened = self.opened;
        let timeline = Arc::clone(&self.timeline);
        let mut received = std::mem::take(&mut self.received);
        let reading = thread::Builder::new()
            .name("test client reader".into())
            .spawn(move || {
                let wire = Wire {
                    timeline: &timeline,
                    opened,
                };
                let end = read_into(&reader, &mut received, None, deadline, &wire);
                (received, end)
            });
        let reading = match reading {
            Ok(handle) => handle,
            Err(error) => return ReadEnd::Failed(error.kind(), error.to_string()),
        };
        if self
            .send(data, deadline.saturating_duration_since(Instant::now()))
            .is_ok()
        {
            let _ = self.half_close();
        }
        // The reader has its own deadline, so this join cannot hang.
        let (received, end) = reading.join().unwrap_or_else(|_| {
            let end = ReadEnd::Failed(io::ErrorKind::Other, "the reader panicked".into());
            (Vec::new(), (end, None))
        });
        self.received = received;
        self.note_end(&end);
        end.0
    }

    /// Ends the connection abruptly: the server's next read or write fails with
    /// `ConnectionReset` (a zero linger turns the close into a reset instead of a FIN).
    pub fn reset(self) -> io::Result<()> {
        socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO))
        // Dropping the stream now sends the reset.
    }

    /// `None` when the bytes received are exactly `expected`; otherwise a sentence that says
    /// how they differ (how many arrived, the first differing byte).
    pub fn compare(&self, expected: &[u8]) -> Option<String> {
        describe_difference(expected, &self.received)
    }

    /// A few sentences for a failure message: what was sent, what came back, who closed
    /// first and when.
    pub fn describe(&self) -> String {
        let mut text = format!("the client sent {} bytes", self.sent);
        if let Some(problem) = &self.send_failed {
            let _ = write!(text, " ({problem})");
        }
        match self.half_closed {
            Some(at) => {
                let _ = write!(text, " and closed its sending side after {at:.1?}");
            }
            None => text.push_str(" and kept its sending side open"),
        }
        if self.received.is_empty() {
            text.push_str("; it received nothing");
        } else {
            let _ = write!(
                text,
                "; it received {} ({} bytes)",
                show_bytes(&self.received),
                self.received.len()
            );
        }
        match (&self.server_closed, self.half_closed) {
            (None, _) => {
                let _ = write!(
                    text,
                    "; the server had not closed its side after {:.1?}",
                    self.opened.elapsed()
                );
            }
            (Some((at, end)), half_closed) => {
                let _ = write!(text, "; {end} after {at:.1?}");
                match half_closed {
                    Some(client_at) if client_at <= *at => text.push_str(" (after the client)"),
                    _ => text.push_str(" (before the client had closed its side)"),
                }
            }
        }
        let now = self.server_closed.is_none().then(|| self.opened.elapsed());
        let _ = write!(
            text,
            "\nthe conversation on the wire:\n{}",
            self.wire().render("  ", now)
        );
        text
    }

    fn wire(&self) -> std::sync::MutexGuard<'_, Timeline> {
        self.timeline
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn note_end(&mut self, (end, at): &(ReadEnd, Option<Duration>)) {
        if let Some(at) = at
            && self.server_closed.is_none()
        {
            self.server_closed = Some((*at, end.clone()));
        }
    }
}

/// Where the client writes what it sees on the wire, and the moment its connection opened.
struct Wire<'a> {
    timeline: &'a Mutex<Timeline>,
    opened: Instant,
}

impl Wire<'_> {
    fn push(&self, what: impl FnOnce(&mut Timeline, Duration)) {
        let mut timeline = self
            .timeline
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        what(&mut timeline, self.opened.elapsed());
    }
}

/// Writes all of `data` before `deadline`, adding to `sent` as it goes.
fn send_counted(
    mut stream: &TcpStream,
    data: &[u8],
    deadline: Instant,
    sent: &mut u64,
    wire: &Wire,
) -> io::Result<()> {
    for chunk in data.chunks(CHUNK) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "send deadline passed",
            ));
        }
        stream.set_write_timeout(Some(left))?;
        stream.write_all(chunk)?;
        *sent += chunk.len() as u64;
        wire.push(|timeline, at| timeline.data(at, Side::Client, chunk));
    }
    Ok(())
}

/// Reads into `into` until it holds `goal` bytes (or, with no goal, until end-of-file), a
/// read fails, or `deadline` passes. Returns how it ended and, when the server closed or
/// reset, when that was (since `opened`).
fn read_into(
    mut stream: &TcpStream,
    into: &mut Vec<u8>,
    goal: Option<usize>,
    deadline: Instant,
    wire: &Wire,
) -> (ReadEnd, Option<Duration>) {
    let opened = wire.opened;
    let mut buffer = vec![0; CHUNK];
    loop {
        let want = match goal {
            Some(goal) if into.len() >= goal => return (ReadEnd::Complete, None),
            Some(goal) => (goal - into.len()).min(CHUNK),
            None => CHUNK,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (ReadEnd::TimedOut, None);
        }
        if let Err(error) = stream.set_read_timeout(Some(left)) {
            return (ReadEnd::Failed(error.kind(), error.to_string()), None);
        }
        match stream.read(&mut buffer[..want]) {
            Ok(0) => {
                wire.push(|timeline, at| timeline.push(at, What::Shutdown { by: Side::Server }));
                return (ReadEnd::Closed, Some(opened.elapsed()));
            }
            Ok(count) => {
                into.extend_from_slice(&buffer[..count]);
                wire.push(|timeline, at| timeline.data(at, Side::Server, &buffer[..count]));
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            // A read timeout is `WouldBlock` on Unix and `TimedOut` on Windows.
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return (ReadEnd::TimedOut, None);
            }
            Err(error) => {
                let what = if error.kind() == io::ErrorKind::ConnectionReset {
                    What::Reset { by: Side::Server }
                } else {
                    What::Note(format!("reading failed: {error}"))
                };
                wire.push(|timeline, at| timeline.push(at, what));
                let end = ReadEnd::Failed(error.kind(), error.to_string());
                return (end, Some(opened.elapsed()));
            }
        }
    }
}

/// `None` when `got` is `expected`; otherwise how it differs, in one sentence.
fn describe_difference(expected: &[u8], got: &[u8]) -> Option<String> {
    if got == expected {
        return None;
    }
    let same = expected.iter().zip(got).take_while(|(a, b)| a == b).count();
    let counts = format!(
        "got {} bytes back of the {} sent",
        got.len(),
        expected.len()
    );
    Some(if same == got.len() {
        format!(
            "{counts}: what arrived is correct but {} bytes are missing, starting at byte \
             {same} ({})",
            expected.len() - same,
            show_bytes(&expected[same..])
        )
    } else if same == expected.len() {
        format!(
            "{counts}: everything sent came back, followed by {} extra bytes ({})",
            got.len() - same,
            show_bytes(&got[same..])
        )
    } else {
        format!(
            "{counts}: the first {same} bytes are correct, then byte {same} differs: expected \
             {} but got {}",
            show_bytes(&expected[same..(same + 16).min(expected.len())]),
            show_bytes(&got[same..(same + 16).min(got.len())])
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EchoServer, ScriptedServer, Step};

    const LIMIT: Duration = Duration::from_secs(5);
    const SHORT: Duration = Duration::from_millis(100);

    #[test]
    fn an_echo_exchange_records_who_closed_first() {
        let server = EchoServer::raw();
        let mut client = TestClient::connect(server.addr(), LIMIT).unwrap();
        client.send(b"hello", LIMIT).unwrap();
        assert_eq!(client.read_exactly(5, LIMIT), ReadEnd::Complete);
        client.half_close().unwrap();
        assert_eq!(client.read_to_end(LIMIT), ReadEnd::Closed);
        assert_eq!(client.received(), b"hello");
        assert_eq!(client.compare(b"hello"), None);
        let text = client.describe();
        assert!(text.contains("sent 5 bytes"), "{text}");
        assert!(text.contains("received \"hello\""), "{text}");
        assert!(text.contains("(after the client)"), "{text}");
    }

    #[test]
    fn a_silent_server_makes_reads_time_out() {
        let server = ScriptedServer::silent();
        let mut client = TestClient::connect(server.addr(), LIMIT).unwrap();
        let started = Instant::now();
        assert_eq!(client.read_exactly(1, SHORT), ReadEnd::TimedOut);
        assert!(started.elapsed() >= SHORT);
        assert_eq!(client.read_to_end(SHORT), ReadEnd::TimedOut);
        let text = client.describe();
        assert!(text.contains("received nothing"), "{text}");
        assert!(text.contains("had not closed its side"), "{text}");
    }

    #[test]
    fn a_server_closing_first_is_reported() {
        let server = ScriptedServer::sends_then_closes("bye");
        let mut client = TestClient::connect(server.addr(), LIMIT).unwrap();
        assert_eq!(client.read_to_end(LIMIT), ReadEnd::Closed);
        let text = client.describe();
        assert!(text.contains("before the client had closed"), "{text}");
        assert!(text.contains("kept its sending side open"), "{text}");
    }

    #[test]
    fn read_exactly_never_reads_past_the_count() {
        let server = ScriptedServer::start(vec![Step::send("HELLO"), Step::Hold]);
        let mut client = TestClient::connect(server.addr(), LIMIT).unwrap();
        assert_eq!(client.read_exactly(3, LIMIT), ReadEnd::Complete);
        assert_eq!(client.received(), b"HEL");
        assert_eq!(client.read_exactly(2, LIMIT), ReadEnd::Complete);
        assert_eq!(client.received(), b"HELLO");
    }

    #[test]
    fn a_large_round_trip_does_not_deadlock() {
        // 16 MiB is far more than loopback buffers hold: only reading while sending works.
        let server = EchoServer::raw();
        let data: Vec<u8> = (0..16u32 << 20).map(|i| (i % 251) as u8).collect();
        let mut client = TestClient::connect(server.addr(), LIMIT).unwrap();
        assert_eq!(
            client.round_trip(&data, Duration::from_secs(60)),
            ReadEnd::Closed
        );
        assert_eq!(client.sent(), data.len() as u64);
        assert!(
            client.compare(&data).is_none(),
            "{:?}",
            client.compare(&data)
        );
    }

    #[test]
    fn a_server_that_never_reads_makes_sending_time_out() {
        let server = ScriptedServer::start(vec![Step::Stall]);
        let mut client = TestClient::connect(server.addr(), LIMIT).unwrap();
        let error = client.send(&vec![0; 64 << 20], SHORT).unwrap_err();
        assert!(
            matches!(
                error.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "{error}"
        );
        let text = client.describe();
        assert!(text.contains("sending failed after"), "{text}");
    }

    #[test]
    fn a_reset_reaches_the_server_as_a_failed_read() {
        let server = ScriptedServer::silent();
        let mut client = TestClient::connect(server.addr(), LIMIT).unwrap();
        client.send(b"half a mess", LIMIT).unwrap();
        assert!(
            server
                .recording()
                .wait_until(LIMIT, |all| all.last().is_some_and(|c| c.bytes_in == 11))
        );
        client.reset().unwrap();
        let record = server.recording().wait_for_end(LIMIT).unwrap();
        let ending = record.ended.unwrap().1;
        assert!(
            matches!(
                ending,
                crate::Ending::Failed(io::ErrorKind::ConnectionReset, _)
            ),
            "{ending:?}"
        );
    }

    #[test]
    fn differences_are_described_by_position() {
        assert_eq!(describe_difference(b"abc", b"abc"), None);
        let missing = describe_difference(b"abcdef", b"abc").unwrap();
        assert!(missing.contains("3 bytes are missing"), "{missing}");
        let extra = describe_difference(b"abc", b"abcd").unwrap();
        assert!(extra.contains("1 extra bytes"), "{extra}");
        let changed = describe_difference(b"abc", b"abX").unwrap();
        assert!(changed.contains("byte 2 differs"), "{changed}");
    }
}
