//! One port number, open at one address and closed at the others: for testing a client that
//! must try every address a name resolves to.
//!
//! A name such as `localhost` often resolves to two addresses, `::1` and `127.0.0.1`, and a
//! client should try them in turn until one connects. A client that tries only the first one
//! works as long as the server listens there too, so a test must listen on the *last* address
//! only and make the same port refuse connections at the others: [`listen_on_one_of`].
//! [`ClosedAt`] is the refusing part: like [`crate::ClosedPort`], but at any address and port.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// How many ports [`listen_on_one_of`] tries: the port the system picks for the listener may
/// already be taken at one of the other addresses.
const ATTEMPTS: usize = 20;

/// A port bound but not listening at `addr`, so that a connect there is refused at once (and,
/// while it is kept, nothing else can listen there).
#[derive(Debug)]
pub struct ClosedAt {
    addr: SocketAddr,
    _socket: Socket,
}

impl ClosedAt {
    /// Binds `addr` without listening (port 0: a port the system chooses).
    pub fn bind(addr: SocketAddr) -> io::Result<ClosedAt> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        if addr.is_ipv6() {
            // `::` would otherwise take the IPv4 port too; this is about one address only.
            socket.set_only_v6(true)?;
        }
        socket.bind(&addr.into())?;
        let addr = socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("the socket has no IP address"))?;
        Ok(ClosedAt {
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

/// A listener on `open` (port chosen by the system), and that same port closed at each of
/// `closed` (an address equal to `open` is left out). Keep the [`ClosedAt`]s as long as the
/// port must refuse there.
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr, TcpStream};
/// use std::time::Duration;
///
/// // 127.0.0.2 is this machine too on Linux; elsewhere, use ::1 (IPv6).
/// # if cfg!(target_os = "linux") {
/// let open = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// let closed = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// let (listener, _closed) = lab_harness::listen_on_one_of(open, &[closed]).unwrap();
/// let port = listener.local_addr().unwrap().port();
/// assert!(TcpStream::connect((open, port)).is_ok());
/// let refused = TcpStream::connect_timeout(&(closed, port).into(), Duration::from_secs(5));
/// assert_eq!(refused.unwrap_err().kind(), std::io::ErrorKind::ConnectionRefused);
/// # }
/// ```
pub fn listen_on_one_of(
    open: IpAddr,
    closed: &[IpAddr],
) -> io::Result<(TcpListener, Vec<ClosedAt>)> {
    let mut in_use = None;
    for _ in 0..ATTEMPTS {
        let listener = TcpListener::bind((open, 0))?;
        let port = listener.local_addr()?.port();
        let refusing: io::Result<Vec<ClosedAt>> = closed
            .iter()
            .filter(|&&ip| ip != open)
            .map(|&ip| ClosedAt::bind(SocketAddr::new(ip, port)))
            .collect();
        match refusing {
            Ok(refusing) => return Ok((listener, refusing)),
            // Taken at another address: try another port.
            Err(error) if error.kind() == io::ErrorKind::AddrInUse => in_use = Some(error),
            Err(error) => return Err(error),
        }
    }
    Err(in_use.unwrap_or_else(|| io::Error::other("no port tried")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;
    use std::net::{Ipv4Addr, Ipv6Addr, TcpStream};
    use std::time::Duration;

    const LIMIT: Duration = Duration::from_secs(5);

    fn ipv6_loopback_works() -> bool {
        TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
    }

    #[test]
    fn a_closed_address_refuses_and_cannot_be_taken_meanwhile() {
        let closed = ClosedAt::bind((Ipv4Addr::LOCALHOST, 0).into()).unwrap();
        assert_ne!(closed.port(), 0);
        let error = TcpStream::connect_timeout(&closed.addr(), LIMIT).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ConnectionRefused, "{error}");
        let error = TcpListener::bind(closed.addr()).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::AddrInUse, "{error}");
    }

    #[test]
    fn one_port_listens_on_ipv6_and_refuses_on_ipv4_and_the_other_way_round() {
        if !ipv6_loopback_works() {
            println!("note: no IPv6 loopback here; nothing to check");
            return;
        }
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        for (open, closed) in [(v6, v4), (v4, v6)] {
            let (listener, refusing) = listen_on_one_of(open, &[closed, open]).unwrap();
            let port = listener.local_addr().unwrap().port();
            assert_eq!(refusing.len(), 1, "the open address is left out");
            assert_eq!(refusing[0].addr(), SocketAddr::new(closed, port));
            let client = TcpStream::connect_timeout(&SocketAddr::new(open, port), LIMIT).unwrap();
            let (_, peer) = listener.accept().unwrap();
            assert_eq!(peer, client.local_addr().unwrap());
            let error = TcpStream::connect_timeout(&refusing[0].addr(), LIMIT).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::ConnectionRefused, "{error}");
        }
    }

    #[test]
    fn an_address_this_machine_does_not_have_is_an_error_not_a_loop() {
        // 192.0.2.1 is reserved for documentation (TEST-NET-1): never a local address.
        let error = listen_on_one_of(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            &[IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))],
        )
        .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::AddrNotAvailable, "{error}");
    }
}
