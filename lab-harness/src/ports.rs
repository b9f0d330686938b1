//! Ports in a known state, for testing connects and timeouts: one that *refuses* at once
//! ([`ClosedPort`]) and one that *never answers* ([`FullBacklog`]).
//!
//! A port scanner (the lectures' `connect_ex` loop) sorts ports into three kinds: open (the
//! connect succeeds), closed (refused: the host answered the SYN with a reset) and filtered
//! (no answer at all, so only a timeout ends the wait). Open is easy to set up in a test: any
//! listener. The other two need care to be deterministic on loopback, and are here.
//!
//! ## How a connect is made to time out on loopback
//! A listener's *accept queue* holds connections the kernel has completed but the program has
//! not yet `accept`ed. [`FullBacklog`] listens with a backlog of 0 and makes one connection
//! itself that it never accepts. On **Linux** that fills the queue (Linux allows backlog + 1
//! entries), and while it is full Linux silently *drops* every further SYN: the client
//! retransmits (after 1 s, 3 s, 7 s, …) and, without a timeout, gives up only after about
//! 127 s. With a timeout, `connect_timeout` returns `TimedOut` after exactly that timeout.
//! (Unless `net.ipv4.tcp_abort_on_overflow` is set to 1, which is off by default: then
//! the kernel answers with a reset instead.)
//!
//! **Other systems** size the queue differently (the BSDs and macOS allow about 3/2 × the
//! backlog), so there [`FullBacklog::new`] keeps connecting fillers until one of them times
//! out, which proves the queue is full. **Windows** answers a full queue with a reset, and
//! its client retries a reset connect for about two seconds before reporting
//! `ConnectionRefused`; so there a connect with a timeout well under a second still times
//! out, but for that reason. If a filler is ever refused, `new` returns an error saying the
//! system cannot do this instead of handing a test a port that behaves differently.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

/// How long the fillers may take to connect: they are accepted by the kernel in microseconds.
const FILL_LIMIT: Duration = Duration::from_secs(5);

/// Where the queue is not known to be full after one filler: how long a further connect must
/// stay unanswered to count as proof that the queue is full.
#[cfg_attr(target_os = "linux", allow(dead_code))]
const PROOF_WAIT: Duration = Duration::from_millis(300);

/// At most this many fillers; a system that accepts more is not dropping SYNs at all.
const MAX_FILLERS: usize = 16;

/// A listener on `127.0.0.1` whose accept queue is full, so that a connect to it gets no
/// answer and can only time out: a *filtered* port, made deterministically on loopback.
///
/// Keep it alive for as long as connects to it should time out; dropping it closes the
/// listener and its fillers (the port then refuses connections).
///
/// ```
/// use lab_harness::FullBacklog;
/// use std::net::TcpStream;
/// use std::time::Duration;
///
/// let silent = FullBacklog::new().expect("a listener with a full queue");
/// let error = TcpStream::connect_timeout(&silent.addr(), Duration::from_millis(100))
///     .expect_err("nobody answers");
/// assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
/// ```
pub struct FullBacklog {
    addr: SocketAddr,
    // Never accepted from: that is the point. Field order: the fillers close first.
    _fillers: Vec<TcpStream>,
    _listener: Socket,
}

impl FullBacklog {
    /// Listens on `127.0.0.1` (port chosen by the system) with a backlog of 0 and fills the
    /// accept queue with connections that are never accepted.
    pub fn new() -> io::Result<FullBacklog> {
        let listener = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        listener.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())?;
        // std's `TcpListener` always asks for a backlog of 128; socket2 lets us say 0.
        listener.listen(0)?;
        let addr = listener
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("the listener has no IP address"))?;
        let fillers = fill_queue(addr)?;
        Ok(FullBacklog {
            addr,
            _fillers: fillers,
            _listener: listener,
        })
    }

    /// The address connects go to (and time out on).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

/// Connects until the queue of the listener at `addr` is full; returns the fillers.
fn fill_queue(addr: SocketAddr) -> io::Result<Vec<TcpStream>> {
    let first = TcpStream::connect_timeout(&addr, FILL_LIMIT)?;
    if cfg!(target_os = "linux") {
        // Linux: backlog 0 holds exactly one connection, so one filler makes it full. (On
        // loopback the whole handshake runs inside the filler's `connect` call, so the queue
        // is already full when `connect` returns.) Measured: 30 of 30 connects time out.
        return Ok(vec![first]);
    }
    fill_until_silent(addr, vec![first], PROOF_WAIT)
}

/// The portable way: keep connecting until one connect gets no answer within `wait`.
#[cfg_attr(target_os = "linux", allow(dead_code))]
fn fill_until_silent(
    addr: SocketAddr,
    mut fillers: Vec<TcpStream>,
    wait: Duration,
) -> io::Result<Vec<TcpStream>> {
    loop {
        match TcpStream::connect_timeout(&addr, wait) {
            Ok(filler) if fillers.len() < MAX_FILLERS => fillers.push(filler),
            Ok(_) => {
                return Err(io::Error::other(format!(
                    "the listener at {addr} accepted {MAX_FILLERS} connections with a backlog \
                     of 0: this system does not cap the accept queue, so a connect cannot be \
                     made to time out this way"
                )));
            }
            Err(error) if error.kind() == io::ErrorKind::TimedOut => return Ok(fillers),
            Err(error) => {
                return Err(io::Error::new(
                    error.kind(),
                    format!(
                        "this system answers a connect to a full accept queue with an error \
                         ({error}) instead of silence, so a connect cannot be made to time \
                         out this way"
                    ),
                ));
            }
        }
    }
}

/// A port on `127.0.0.1` where nothing listens, so a connect is *refused* at once.
///
/// The port is bound but not listening: connects get a reset (`ConnectionRefused`), and
/// because it stays bound, no other test can start listening on it meanwhile (which a port
/// that was merely closed again could not promise).
pub struct ClosedPort {
    addr: SocketAddr,
    _socket: Socket,
}

impl ClosedPort {
    pub fn new() -> io::Result<ClosedPort> {
        // No SO_REUSEADDR (socket2's default): then no other socket can bind this port, and
        // the system does not hand it out as a client's ephemeral port either.
        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        socket.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())?;
        let addr = socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("the socket has no IP address"))?;
        Ok(ClosedPort {
            addr,
            _socket: socket,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;
    use std::time::Instant;

    const TIMEOUT: Duration = Duration::from_millis(100);

    #[test]
    fn a_connect_to_a_full_backlog_times_out_after_the_timeout() {
        let silent = FullBacklog::new().unwrap();
        for _ in 0..3 {
            let started = Instant::now();
            let error = TcpStream::connect_timeout(&silent.addr(), TIMEOUT)
                .expect_err("the queue is full: nobody should answer");
            let elapsed = started.elapsed();
            assert_eq!(error.kind(), ErrorKind::TimedOut, "{error}");
            assert!(
                elapsed >= TIMEOUT && elapsed < TIMEOUT + Duration::from_secs(2),
                "{elapsed:?}"
            );
        }
    }

    #[test]
    fn the_portable_filling_stops_at_the_first_silent_connect() {
        // On Linux the queue is full after one filler, so the portable loop must find that
        // and add no second one.
        let listener = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
        listener
            .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
            .unwrap();
        listener.listen(0).unwrap();
        let addr = listener.local_addr().unwrap().as_socket().unwrap();
        let first = TcpStream::connect_timeout(&addr, FILL_LIMIT).unwrap();
        let fillers = fill_until_silent(addr, vec![first], TIMEOUT).unwrap();
        if cfg!(target_os = "linux") {
            assert_eq!(fillers.len(), 1);
        }
    }

    #[test]
    fn a_listener_that_takes_everyone_is_reported_not_trusted() {
        let listener = crate::bind_loopback().unwrap(); // backlog 128: never full here
        let addr = listener.local_addr().unwrap();
        let error = fill_until_silent(addr, Vec::new(), TIMEOUT).unwrap_err();
        assert!(error.to_string().contains("does not cap"), "{error}");
    }

    #[test]
    fn a_connect_to_a_closed_port_is_refused_at_once() {
        let closed = ClosedPort::new().unwrap();
        let started = Instant::now();
        let error = TcpStream::connect_timeout(&closed.addr(), Duration::from_secs(10))
            .expect_err("nothing listens there");
        assert_eq!(error.kind(), ErrorKind::ConnectionRefused, "{error}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_closed_port_cannot_be_taken_by_another_listener() {
        let closed = ClosedPort::new().unwrap();
        let error = std::net::TcpListener::bind(closed.addr()).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::AddrInUse, "{error}");
    }
}
