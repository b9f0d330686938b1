//! A server listening on `0.0.0.0` prints `0.0.0.0:5151`, an address no student can type.
//! This says which addresses do reach it: the loopback address from this machine, and the
//! machine's address on its default route from the others.
//!
//! std cannot list a machine's interfaces. The address on the default route is found without
//! sending anything: "connecting" a UDP socket to an address only picks the route and the
//! local address it would use. The documentation ranges of RFC 5737 and RFC 3849 stand in for
//! "anywhere outside". A machine with several networks has other addresses too; the line
//! says how to see them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

/// One line naming the addresses that reach a server listening on the unspecified `addr`.
pub fn describe(addr: SocketAddr) -> String {
    let port = addr.port();
    let (loopback, outside): (IpAddr, IpAddr) = match addr {
        SocketAddr::V4(_) => (
            Ipv4Addr::LOCALHOST.into(),
            Ipv4Addr::new(192, 0, 2, 1).into(),
        ),
        SocketAddr::V6(_) => (
            Ipv6Addr::LOCALHOST.into(),
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).into(),
        ),
    };
    let here = SocketAddr::new(loopback, port);
    match address_on_default_route(addr.ip(), outside) {
        Some(ip) => format!(
            "reachable at {} from other machines (this machine's address on its default \
             route; `ip address` or `ipconfig` lists any others) and at {here} from this one",
            SocketAddr::new(ip, port)
        ),
        None => format!(
            "reachable at {here} from this machine; no network address was found (no default \
             route), so other machines may not reach it"
        ),
    }
}

/// The local address the system would send from to reach `outside`, if it has a route.
fn address_on_default_route(unspecified: IpAddr, outside: IpAddr) -> Option<IpAddr> {
    let socket = UdpSocket::bind(SocketAddr::new(unspecified, 0)).ok()?;
    socket.connect(SocketAddr::new(outside, 9)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}
