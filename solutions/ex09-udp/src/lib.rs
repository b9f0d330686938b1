//! Reference solution of exercise 9 — UDP datagrams and a pinger.
//!
//! Read `exercises/ex09-udp/src/lib.rs` for the story and the contracts; the comments here
//! say why each line is the way it is.

use std::io::{self, ErrorKind};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// The largest UDP payload over IPv4: 65,535 bytes of IP packet, less 20 of IP header and 8
/// of UDP header. A buffer this large holds any datagram.
pub const MAX_DATAGRAM: usize = 65_507;

/// One datagram as [`receive`] returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// Its bytes: at most the `capacity` asked for.
    pub data: Vec<u8>,
    /// Who sent it (the address and port to answer to).
    pub from: SocketAddr,
    /// Whether the datagram was longer than the capacity, and its end was lost.
    pub truncated: bool,
}

/// Step 1: a UDP echo server that answers `count` datagrams, each to its own sender.
pub fn echo_datagrams(socket: &UdpSocket, count: usize) -> io::Result<()> {
    // A buffer for the largest datagram there is: a smaller one would cut long datagrams
    // short, silently (the rest of a datagram that does not fit is thrown away).
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    for _ in 0..count {
        // recv_from, not recv: a UDP server has no connection per client, so each datagram
        // says itself who sent it, and that is where its answer goes.
        let (length, from) = socket.recv_from(&mut buffer)?;
        // Only the `length` bytes received: the rest of the buffer is left over from before.
        socket.send_to(&buffer[..length], from)?;
    }
    Ok(())
}

/// Step 2: one datagram, at most `capacity` bytes of it, saying whether it was cut.
pub fn receive(socket: &UdpSocket, capacity: usize) -> io::Result<Datagram> {
    // One byte more than wanted: a datagram that fills it did not fit in `capacity`. Linux
    // and macOS cut a datagram too large for the buffer without a word and return the length
    // that fit, so a buffer of exactly `capacity` could never tell "exactly full" from "cut".
    // Windows instead fails the receive with WSAEMSGSIZE, and std then cannot say who sent
    // the datagram: there a buffer no datagram can overflow does the same job.
    let size = if cfg!(windows) {
        capacity.max(MAX_DATAGRAM) + 1
    } else {
        capacity + 1
    };
    let mut buffer = vec![0u8; size];
    let (length, from) = socket.recv_from(&mut buffer)?;
    let truncated = length > capacity;
    buffer.truncate(length.min(capacity));
    Ok(Datagram {
        data: buffer,
        from,
        truncated,
    })
}

/// A socket on every local address, port chosen by the system, of `peer`'s family: an IPv4
/// socket cannot send to an IPv6 address.
fn bind_for(peer: SocketAddr) -> io::Result<UdpSocket> {
    let any = match peer {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    UdpSocket::bind(any)
}

/// Whether an error is a read timeout: Linux and macOS say `WouldBlock`, Windows `TimedOut`.
fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Step 3: one question, one answer, on a connected socket.
pub fn request(server: SocketAddr, message: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
    let socket = bind_for(server)?;
    // `connect` sends nothing: it fixes the peer. The system then drops datagrams from
    // anyone else, and reports an ICMP "port unreachable" as an error on the next receive.
    socket.connect(server)?;
    // Without a timeout, a lost datagram means waiting for ever. (A zero timeout is an
    // `InvalidInput` error from std, which `?` passes on.)
    socket.set_read_timeout(Some(timeout))?;
    socket.send(message)?;
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    match socket.recv(&mut buffer) {
        Ok(length) => {
            buffer.truncate(length);
            Ok(buffer)
        }
        Err(error) if is_timeout(&error) => Err(io::Error::new(
            ErrorKind::TimedOut,
            format!("no reply from {server} within {timeout:?}"),
        )),
        // ConnectionRefused (Linux, macOS) or ConnectionReset (Windows): nobody listens there.
        Err(error) => Err(error),
    }
}

/// Step 4a: the request with sequence number `seq`: `PING <seq>` in ASCII.
pub fn ping_message(seq: u16) -> Vec<u8> {
    format!("PING {seq}").into_bytes()
}

/// Step 4b: the sequence number of a reply, if `datagram` is exactly a request echoed.
pub fn parse_reply(datagram: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(datagram).ok()?;
    let seq: u16 = text.strip_prefix("PING ")?.parse().ok()?;
    // `"+7"` and `"007"` parse as 7 too, but they are not what was sent: only the exact
    // request counts as its reply.
    (ping_message(seq) == datagram).then_some(seq)
}

/// What [`ping`] saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PingReport {
    /// The address pinged.
    pub target: SocketAddr,
    /// One entry per request, in the order of their sequence numbers (`rtts[0]` is `PING 1`):
    /// the round-trip time, or `None` if no reply came within the timeout.
    pub rtts: Vec<Option<Duration>>,
    /// Replies to a request that had its reply already.
    pub duplicates: usize,
    /// Datagrams that answered no request still waiting: a reply after its timeout, a reply
    /// to a request never sent, anything that is not a reply at all.
    pub ignored: usize,
}

impl PingReport {
    /// How many requests were sent.
    pub fn transmitted(&self) -> usize {
        self.rtts.len()
    }

    /// Step 5: how many requests got their reply.
    pub fn received(&self) -> usize {
        self.rtts.iter().flatten().count()
    }

    /// The share of requests without a reply, in percent; 0 when nothing was sent.
    pub fn loss_percent(&self) -> f64 {
        if self.rtts.is_empty() {
            return 0.0;
        }
        let lost = self.transmitted() - self.received();
        // In floating point: in integers, 1 lost of 3 is 33 %, and (1 / 3) * 100 is 0 %.
        100.0 * lost as f64 / self.transmitted() as f64
    }

    pub fn min_rtt(&self) -> Option<Duration> {
        self.rtts.iter().flatten().min().copied()
    }

    pub fn max_rtt(&self) -> Option<Duration> {
        self.rtts.iter().flatten().max().copied()
    }

    /// The mean of the round-trip times of the replies (lost requests do not count).
    pub fn avg_rtt(&self) -> Option<Duration> {
        let received = u32::try_from(self.received()).ok().filter(|&n| n > 0)?;
        let total: Duration = self.rtts.iter().flatten().sum();
        Some(total / received)
    }
}

/// Step 6: `count` requests, one every `interval`, each waiting at most `timeout` for its
/// reply.
pub fn ping(
    addr: SocketAddr,
    count: u16,
    interval: Duration,
    timeout: Duration,
) -> io::Result<PingReport> {
    let socket = bind_for(addr)?;
    // Connected: datagrams from anyone but `addr` never reach us, and a closed port is an
    // error (ConnectionRefused) instead of silence.
    socket.connect(addr)?;
    let count = usize::from(count);
    let mut report = PingReport {
        target: addr,
        rtts: vec![None; count],
        duplicates: 0,
        ignored: 0,
    };
    // When each request left: the instant its RTT and its own timeout count from.
    let mut sent_at: Vec<Instant> = Vec::with_capacity(count);
    let start = Instant::now();
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    loop {
        // Send every request whose time has come (request k at start + k × interval), and
        // do not wait for replies to send the next: replies may come late or never.
        let mut now = Instant::now();
        while sent_at.len() < count && now >= start + interval * sent_at.len() as u32 {
            let seq = sent_at.len() as u16 + 1;
            socket.send(&ping_message(seq))?;
            now = Instant::now();
            sent_at.push(now);
        }
        // The next thing to wait for: the next request's time, or, when all are sent, the
        // timeout of the last request still without a reply. Nothing left: done.
        let waiting_until = sent_at
            .iter()
            .zip(&report.rtts)
            .filter(|(_, rtt)| rtt.is_none())
            .map(|(sent, _)| *sent + timeout)
            .filter(|deadline| *deadline > now)
            .max();
        let next_send = (sent_at.len() < count).then(|| start + interval * sent_at.len() as u32);
        let wake = match (next_send, waiting_until) {
            (Some(send), Some(deadline)) => send.min(deadline),
            (Some(send), None) => send,
            (None, Some(deadline)) => deadline,
            (None, None) => return Ok(report),
        };
        let wait = wake.saturating_duration_since(now);
        if wait.is_zero() {
            continue;
        }
        // Each wait is only as long as the next event needs: a timeout set once for the whole
        // run would either end it early or let it hang.
        socket.set_read_timeout(Some(wait))?;
        let length = match socket.recv(&mut buffer) {
            Ok(length) => length,
            Err(error) if is_timeout(&error) => continue,
            // A closed port: every request would get the same answer, so say so at once
            // rather than report 100 % loss (it is not loss: the host answered "no").
            Err(error) => return Err(error),
        };
        // The RTT is measured from the moment *this* request left.
        let arrived = Instant::now();
        // `PING 0` is no request of ours either (they count from 1).
        let Some(index) =
            parse_reply(&buffer[..length]).and_then(|seq| usize::from(seq).checked_sub(1))
        else {
            report.ignored += 1;
            continue;
        };
        match (sent_at.get(index), report.rtts.get(index)) {
            (Some(_), Some(Some(_))) => report.duplicates += 1,
            (Some(&sent), Some(None)) if arrived - sent <= timeout => {
                report.rtts[index] = Some(arrived - sent);
            }
            // Too late (the request is already counted lost), or never sent.
            _ => report.ignored += 1,
        }
    }
}
