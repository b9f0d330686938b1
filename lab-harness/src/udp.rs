//! A scripted UDP echo server: it sends every datagram back to its sender, except where its
//! script says to drop one, delay it, send it twice, swap it with the next, or answer from
//! another port.
//!
//! UDP promises nothing: a datagram may be lost, duplicated, reordered or late, and any
//! program may send one to your port. On loopback none of that happens by itself, so exercise
//! 9's pinger would pass every test while matching replies by arrival order or counting a
//! duplicate twice. [`UdpEchoServer`] makes each misfortune happen to a chosen datagram,
//! always the same way, and records what it got and what it did, so a failure can show the
//! datagrams on the wire. `cargo lab serve --mode udp` is the same server for an instructor
//! (with `--drop-every N` and `--delay-ms MS`).
//!
//! ```
//! use lab_harness::{UdpEchoServer, UdpScript};
//! use std::net::UdpSocket;
//! use std::time::Duration;
//!
//! let server = UdpEchoServer::start(UdpScript::echo().drop(1));
//! let client = UdpSocket::bind("127.0.0.1:0").unwrap();
//! client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
//! client.send_to(b"lost", server.addr()).unwrap(); // datagram #1: dropped
//! client.send_to(b"echoed", server.addr()).unwrap(); // datagram #2: sent back
//! let mut buffer = [0; 100];
//! let (count, from) = client.recv_from(&mut buffer).unwrap();
//! assert_eq!((&buffer[..count], from), (&b"echoed"[..], server.addr()));
//! ```
//!
//! Datagrams are numbered from 1 in the order the server receives them, from every sender
//! together. Whatever arrives, the server stays bounded: it reads at most
//! [`MAX_DATAGRAM`] bytes a datagram, holds at most [`MAX_PENDING`] replies waiting for their
//! time, and its recording keeps a bounded number of events.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::{self, ErrorKind};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::bytes::show_bytes;

/// The largest UDP payload over IPv4: 65,535 bytes of IP packet, less 20 of IP header and 8
/// of UDP header.
pub const MAX_DATAGRAM: usize = 65_507;

/// The most replies waiting for their time (delayed, held for a swap), and the most bytes they
/// may hold together. Past either a datagram is dropped and the recording says so: a flood
/// cannot grow the server's memory.
pub const MAX_PENDING: usize = 1024;
pub const MAX_PENDING_BYTES: usize = 4 << 20;

/// The longest a reply is delayed, whatever the script says.
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// How long a reply held for a swap waits for the next reply before it is sent anyway.
const HOLD_LIMIT: Duration = Duration::from_secs(2);

/// How often the server's thread looks at its stop flag while nothing arrives.
const POLL: Duration = Duration::from_millis(20);

/// What the script does with one datagram (they combine: a delayed duplicate is two late
/// replies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UdpAct {
    /// No reply at all.
    Drop,
    /// The reply leaves this much later.
    Delay(Duration),
    /// Two identical replies.
    Duplicate,
    /// The reply is held and sent right after the next datagram's reply: two replies
    /// arrive in the wrong order.
    Swap,
    /// The reply comes from another socket of the server (another port), and not from the
    /// port the client sent to: a connected client never sees it.
    FromAnotherPort,
}

/// The server's script: what happens to which datagram (numbered from 1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UdpScript {
    acts: Vec<(u64, UdpAct)>,
    drop_every: Option<u64>,
    delay_all: Duration,
}

impl UdpScript {
    /// Every datagram straight back to its sender.
    pub fn echo() -> UdpScript {
        UdpScript::default()
    }

    /// `act` for datagram `number` (from 1).
    pub fn act(mut self, number: u64, act: UdpAct) -> UdpScript {
        self.acts.push((number, act));
        self
    }

    /// No reply to datagram `number`.
    pub fn drop(self, number: u64) -> UdpScript {
        self.act(number, UdpAct::Drop)
    }

    /// Datagram `number`'s reply `delay` late.
    pub fn delay(self, number: u64, delay: Duration) -> UdpScript {
        self.act(number, UdpAct::Delay(delay))
    }

    /// Datagram `number` answered twice.
    pub fn duplicate(self, number: u64) -> UdpScript {
        self.act(number, UdpAct::Duplicate)
    }

    /// Datagram `number`'s reply sent after datagram `number + 1`'s.
    pub fn swap(self, number: u64) -> UdpScript {
        self.act(number, UdpAct::Swap)
    }

    /// Datagram `number` answered from another port.
    pub fn from_another_port(self, number: u64) -> UdpScript {
        self.act(number, UdpAct::FromAnotherPort)
    }

    /// No reply to every `n`th datagram (`n`, `2n`, …); 0 drops none.
    pub fn drop_every(mut self, n: u64) -> UdpScript {
        self.drop_every = (n > 0).then_some(n);
        self
    }

    /// Every reply `delay` late (added to a datagram's own delay).
    pub fn delay_all(mut self, delay: Duration) -> UdpScript {
        self.delay_all = delay;
        self
    }

    /// No reply to anything.
    pub fn silent() -> UdpScript {
        UdpScript::echo().drop_every(1)
    }

    /// The acts for datagram `number`.
    fn acts_for(&self, number: u64) -> Vec<UdpAct> {
        let mut acts: Vec<UdpAct> = self
            .acts
            .iter()
            .filter(|(n, _)| *n == number)
            .map(|(_, act)| *act)
            .collect();
        if self.drop_every.is_some_and(|n| number % n == 0) {
            acts.push(UdpAct::Drop);
        }
        acts
    }

    /// The script in words, for a log or a failure message.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(n) = self.drop_every {
            parts.push(if n == 1 {
                "drop every datagram".to_string()
            } else {
                format!("drop one datagram in {n} (#{n}, #{}, …)", 2 * n)
            });
        }
        if !self.delay_all.is_zero() {
            parts.push(format!(
                "every reply {} ms late",
                self.delay_all.as_millis()
            ));
        }
        for (number, act) in &self.acts {
            parts.push(match act {
                UdpAct::Drop => format!("drop #{number}"),
                UdpAct::Delay(delay) => format!("#{number} {} ms late", delay.as_millis()),
                UdpAct::Duplicate => format!("answer #{number} twice"),
                UdpAct::Swap => format!("answer #{number} after #{}", number + 1),
                UdpAct::FromAnotherPort => format!("answer #{number} from another port"),
            });
        }
        if parts.is_empty() {
            "echo every datagram".into()
        } else {
            parts.join(", ")
        }
    }
}

/// What the server got and did, shared with the test (clones see the same record).
#[derive(Clone)]
pub struct UdpRecording {
    /// The record, and a signal for [`UdpRecording::wait_for`] when a datagram arrives.
    inner: Arc<(Mutex<Log>, Condvar)>,
}

/// One datagram the server received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// Its number (from 1).
    pub number: u64,
    pub from: SocketAddr,
    pub data: Vec<u8>,
    /// When it arrived, after the server started.
    pub at: Duration,
}

/// Counts over the server's life (kept even when the events are not).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UdpTotals {
    pub datagrams_in: u64,
    pub bytes_in: u64,
    pub datagrams_out: u64,
    pub bytes_out: u64,
    pub dropped: u64,
    /// Distinct senders seen (counted up to 10,000).
    pub senders: u64,
}

struct Log {
    started: Instant,
    keep: usize,
    received: Vec<Received>,
    lines: Vec<String>,
    left_out: usize,
    totals: UdpTotals,
    senders: HashSet<SocketAddr>,
}

impl UdpRecording {
    /// A recording that keeps the first `keep` events (0: only the totals, for a server
    /// that runs for hours).
    pub fn new(keep: usize) -> UdpRecording {
        UdpRecording {
            inner: Arc::new((
                Mutex::new(Log {
                    started: Instant::now(),
                    keep,
                    received: Vec::new(),
                    lines: Vec::new(),
                    left_out: 0,
                    totals: UdpTotals::default(),
                    senders: HashSet::new(),
                }),
                Condvar::new(),
            )),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Log> {
        // A panic elsewhere must not hide what was recorded.
        self.inner
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The datagrams received so far, in order (at most `keep`).
    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    pub fn totals(&self) -> UdpTotals {
        self.lock().totals
    }

    /// Waits until `count` datagrams have arrived, or `limit` has passed; returns whether
    /// they have.
    pub fn wait_for(&self, count: u64, limit: Duration) -> bool {
        let log = self.lock();
        let (log, _) = self
            .inner
            .1
            .wait_timeout_while(log, limit, |log| log.totals.datagrams_in < count)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        log.totals.datagrams_in >= count
    }

    /// Everything the server saw and did, one line each with its time, for a failure message.
    pub fn describe(&self) -> String {
        let log = self.lock();
        let totals = log.totals;
        if totals.datagrams_in == 0 {
            return "the UDP server received no datagram (was it sent to the right address and \
                    port?)"
                .into();
        }
        let mut text = format!(
            "the UDP server received {} datagram{} ({} bytes) and sent {} ({} bytes):",
            totals.datagrams_in,
            if totals.datagrams_in == 1 { "" } else { "s" },
            totals.bytes_in,
            totals.datagrams_out,
            totals.bytes_out
        );
        for line in &log.lines {
            let _ = write!(text, "\n  {line}");
        }
        if log.left_out > 0 {
            let _ = write!(text, "\n  … and {} more events", log.left_out);
        }
        text
    }

    fn note(&self, line: String) {
        let mut log = self.lock();
        let at = log.started.elapsed();
        if log.lines.len() < log.keep {
            log.lines
                .push(format!("{:>9.3} ms  {line}", at.as_secs_f64() * 1000.0));
        } else {
            log.left_out += 1;
        }
    }

    fn received_one(&self, number: u64, from: SocketAddr, data: &[u8]) {
        let mut log = self.lock();
        let at = log.started.elapsed();
        log.totals.datagrams_in += 1;
        log.totals.bytes_in += data.len() as u64;
        if log.senders.len() < 10_000 && log.senders.insert(from) {
            log.totals.senders += 1;
        }
        if log.received.len() < log.keep {
            log.received.push(Received {
                number,
                from,
                data: data.to_vec(),
                at,
            });
        }
        drop(log);
        self.inner.1.notify_all();
    }

    fn sent_one(&self, bytes: usize) {
        let mut log = self.lock();
        log.totals.datagrams_out += 1;
        log.totals.bytes_out += bytes as u64;
    }

    fn dropped_one(&self) {
        self.lock().totals.dropped += 1;
    }
}

impl Default for UdpRecording {
    /// A test's recording: the first 500 events.
    fn default() -> UdpRecording {
        UdpRecording::new(500)
    }
}

/// How a UDP echo server behaves.
#[derive(Clone)]
pub struct UdpConfig {
    pub script: UdpScript,
    /// Print a line on stderr for every datagram received.
    pub log_to_stderr: bool,
    pub recording: UdpRecording,
}

impl Default for UdpConfig {
    fn default() -> UdpConfig {
        UdpConfig {
            script: UdpScript::echo(),
            log_to_stderr: false,
            recording: UdpRecording::default(),
        }
    }
}

/// A scripted UDP echo server on its own thread. Dropping it stops it.
pub struct UdpEchoServer {
    addr: SocketAddr,
    other_addr: SocketAddr,
    recording: UdpRecording,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl UdpEchoServer {
    /// A test's server on `127.0.0.1` (port chosen by the system) playing `script`.
    pub fn start(script: UdpScript) -> UdpEchoServer {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("binding 127.0.0.1:0 for a test server");
        let config = UdpConfig {
            script,
            ..UdpConfig::default()
        };
        UdpEchoServer::start_on(socket, config).expect("starting a UDP echo server")
    }

    /// Serves `socket` with `config`. The server's second socket (for
    /// [`UdpAct::FromAnotherPort`]) is bound on the same address, another port.
    pub fn start_on(socket: UdpSocket, config: UdpConfig) -> io::Result<UdpEchoServer> {
        let addr = socket.local_addr()?;
        let other = UdpSocket::bind(SocketAddr::new(addr.ip(), 0))?;
        let other_addr = other.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let recording = config.recording.clone();
        let flag = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("udp echo server".into())
            .spawn(move || serve(&socket, &other, &config, &flag))?;
        Ok(UdpEchoServer {
            addr,
            other_addr,
            recording,
            stop,
            thread: Some(thread),
        })
    }

    /// The address clients send to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of the server's other socket, which answers for
    /// [`UdpAct::FromAnotherPort`].
    pub fn other_addr(&self) -> SocketAddr {
        self.other_addr
    }

    /// What the server got and did.
    pub fn recording(&self) -> &UdpRecording {
        &self.recording
    }

    /// Stops the server (dropping it does the same); replies still waiting are not sent.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for UdpEchoServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A UDP port on `127.0.0.1` where nothing listens: a datagram sent there is answered by an
/// ICMP "port unreachable", which a *connected* socket reports as `ConnectionRefused` (Linux,
/// macOS; Windows says `ConnectionReset`).
///
/// Found by binding port 0 and closing the socket; the system hands out ports at random, so
/// the port stays free for the few seconds of a test (nothing on this machine can promise it).
pub fn closed_udp_port() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    socket.local_addr().expect("the address of a bound socket")
}

/// A reply waiting for its time.
struct Pending {
    due: Instant,
    /// Sent in this order among replies due at the same instant.
    order: u64,
    to: SocketAddr,
    data: Vec<u8>,
    from_other: bool,
    /// Held for a swap: moved behind the next reply.
    held: bool,
    number: u64,
}

fn serve(socket: &UdpSocket, other: &UdpSocket, config: &UdpConfig, stop: &AtomicBool) {
    let recording = &config.recording;
    let script = &config.script;
    // One byte more than the largest datagram: a reply is never cut short here.
    let mut buffer = vec![0u8; MAX_DATAGRAM + 1];
    let mut pending: Vec<Pending> = Vec::new();
    let mut number = 0u64;
    let mut order = 0u64;
    while !stop.load(Ordering::SeqCst) {
        send_due(socket, other, &mut pending, recording);
        let now = Instant::now();
        let wait = pending
            .iter()
            .map(|reply| reply.due.saturating_duration_since(now))
            .min()
            .unwrap_or(POLL)
            .clamp(Duration::from_millis(1), POLL);
        if socket.set_read_timeout(Some(wait)).is_err() {
            break;
        }
        let (count, from) = match socket.recv_from(&mut buffer) {
            Ok(got) => got,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                continue;
            }
            // Windows reports an earlier reply's ICMP "port unreachable" on the next receive
            // (WSAECONNRESET); nothing a client does may stop the server.
            Err(error) => {
                recording.note(format!("receive error: {error} (ignored)"));
                continue;
            }
        };
        // Delays count from the datagram's arrival, not from before the wait for it.
        let arrived = Instant::now();
        number += 1;
        let data = &buffer[..count];
        // What happened to the datagram: on the recording, and on stderr for an instructor.
        let tell = |said: String| {
            if config.log_to_stderr {
                eprintln!("{said}");
            }
            recording.note(said);
        };
        recording.received_one(number, from, data);
        let acts = script.acts_for(number);
        let mut said = format!(
            "#{number} from {from}: {} ({count} bytes)",
            show_bytes(data)
        );
        if acts.contains(&UdpAct::Drop) {
            recording.dropped_one();
            said.push_str(" → dropped (script)");
            tell(said);
            continue;
        }
        let copies = if acts.contains(&UdpAct::Duplicate) {
            2
        } else {
            1
        };
        let pending_bytes: usize = pending.iter().map(|reply| reply.data.len()).sum();
        if pending.len() + copies > MAX_PENDING
            || pending_bytes + copies * count > MAX_PENDING_BYTES
        {
            recording.dropped_one();
            said.push_str(" → dropped (too many replies waiting)");
            tell(said);
            continue;
        }
        let delay = acts
            .iter()
            .filter_map(|act| match act {
                UdpAct::Delay(delay) => Some(*delay),
                _ => None,
            })
            .fold(script.delay_all, |total, delay| total + delay)
            .min(MAX_DELAY);
        let held = acts.contains(&UdpAct::Swap);
        let from_other = acts.contains(&UdpAct::FromAnotherPort);
        let mut plans = Vec::new();
        if !delay.is_zero() {
            plans.push(format!("{} ms late", delay.as_millis()));
        }
        if copies == 2 {
            plans.push("twice".into());
        }
        if held {
            plans.push(format!("after #{}'s reply", number + 1));
        }
        if from_other {
            plans.push(format!(
                "from the other port {}",
                other
                    .local_addr()
                    .map_or_else(|_| "?".into(), |a| a.to_string())
            ));
        }
        if plans.is_empty() {
            said.push_str(" → echoed");
        } else {
            let _ = write!(said, " → echoed {}", plans.join(", "));
        }
        tell(said);
        let due = arrived + delay;
        if !held {
            // Replies held for a swap go right after this one.
            for waiting in pending.iter_mut().filter(|reply| reply.held) {
                waiting.held = false;
                waiting.due = due;
                waiting.order = order + 1_000_000;
            }
        }
        for _ in 0..copies {
            order += 1;
            pending.push(Pending {
                due: if held { arrived + HOLD_LIMIT } else { due },
                order,
                to: from,
                data: data.to_vec(),
                from_other,
                held,
                number,
            });
        }
        send_due(socket, other, &mut pending, recording);
    }
}

/// Sends every reply whose time has come, in order.
fn send_due(
    socket: &UdpSocket,
    other: &UdpSocket,
    pending: &mut Vec<Pending>,
    recording: &UdpRecording,
) {
    let now = Instant::now();
    let mut due: Vec<Pending> = Vec::new();
    let mut index = 0;
    while index < pending.len() {
        if pending[index].due <= now {
            due.push(pending.swap_remove(index));
        } else {
            index += 1;
        }
    }
    due.sort_by_key(|reply| (reply.due, reply.order));
    for reply in due {
        let via = if reply.from_other { other } else { socket };
        match via.send_to(&reply.data, reply.to) {
            Ok(_) => recording.sent_one(reply.data.len()),
            Err(error) => recording.note(format!(
                "#{}: sending the reply to {} failed: {error}",
                reply.number, reply.to
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> UdpSocket {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        socket
    }

    fn receive(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
        let mut buffer = vec![0; MAX_DATAGRAM + 1];
        let (count, from) = socket.recv_from(&mut buffer).expect("a reply");
        (buffer[..count].to_vec(), from)
    }

    fn nothing_within(socket: &UdpSocket, wait: Duration) -> bool {
        socket.set_read_timeout(Some(wait)).unwrap();
        let mut buffer = [0; 16];
        let result = socket.recv_from(&mut buffer);
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        matches!(&result, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut))
    }

    #[test]
    fn every_datagram_comes_back_whole_to_its_sender() {
        let server = UdpEchoServer::start(UdpScript::echo());
        let (a, b) = (client(), client());
        let big = vec![7u8; 9000];
        a.send_to(b"from a", server.addr()).unwrap();
        b.send_to(&big, server.addr()).unwrap();
        assert_eq!(receive(&a), (b"from a".to_vec(), server.addr()));
        assert_eq!(receive(&b), (big, server.addr()));
        let received = server.recording().received();
        assert_eq!(received.len(), 2);
        assert_eq!(received[0].from, a.local_addr().unwrap());
        assert!(server.recording().describe().contains("\"from a\""));
    }

    #[test]
    fn the_script_drops_duplicates_swaps_and_answers_from_another_port() {
        let script = UdpScript::echo()
            .drop(1)
            .duplicate(2)
            .swap(3)
            .from_another_port(5);
        let server = UdpEchoServer::start(script);
        let c = client();
        for word in ["one", "two", "three", "four", "five"] {
            c.send_to(word.as_bytes(), server.addr()).unwrap();
        }
        let got: Vec<(Vec<u8>, SocketAddr)> = (0..5).map(|_| receive(&c)).collect();
        let words: Vec<&[u8]> = got.iter().map(|(data, _)| data.as_slice()).collect();
        assert_eq!(
            words,
            [&b"two"[..], b"two", b"four", b"three", b"five"],
            "{}",
            server.recording().describe()
        );
        assert_eq!(got[4].1, server.other_addr());
        assert_ne!(server.other_addr(), server.addr());
        assert!(nothing_within(&c, Duration::from_millis(100)));
        let totals = server.recording().totals();
        assert_eq!(
            (totals.datagrams_in, totals.datagrams_out, totals.dropped),
            (5, 5, 1)
        );
    }

    #[test]
    fn a_delayed_reply_comes_late_and_drop_every_drops_every_nth() {
        let script = UdpScript::echo()
            .delay(1, Duration::from_millis(150))
            .drop_every(2);
        let server = UdpEchoServer::start(script);
        let c = client();
        let sent = Instant::now();
        c.send_to(b"late", server.addr()).unwrap();
        c.send_to(b"dropped", server.addr()).unwrap();
        c.send_to(b"third", server.addr()).unwrap();
        assert_eq!(receive(&c).0, b"third");
        assert_eq!(receive(&c).0, b"late");
        assert!(sent.elapsed() >= Duration::from_millis(150));
        assert!(nothing_within(&c, Duration::from_millis(100)));
    }

    #[test]
    fn the_script_says_what_it_does() {
        let script = UdpScript::echo().drop_every(3).swap(2);
        assert_eq!(
            script.describe(),
            "drop one datagram in 3 (#3, #6, …), answer #2 after #3"
        );
        assert_eq!(UdpScript::echo().describe(), "echo every datagram");
    }

    #[test]
    fn a_silent_server_records_but_never_answers() {
        let server = UdpEchoServer::start(UdpScript::silent());
        let c = client();
        c.send_to(b"anyone?", server.addr()).unwrap();
        assert!(server.recording().wait_for(1, Duration::from_secs(5)));
        assert!(nothing_within(&c, Duration::from_millis(100)));
        assert!(server.recording().describe().contains("dropped"));
    }
}
