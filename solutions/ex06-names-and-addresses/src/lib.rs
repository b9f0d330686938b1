//! Reference solution of exercise 6 — names and addresses.
//!
//! Graded by the exercise's own tests (`exercises/ex06-names-and-addresses/tests/graded.rs`).

use std::fmt;
use std::io::{self, ErrorKind};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, Type};

/// One row of the lectures' `getaddrinfo` table: what socket to make for an address (family,
/// type, protocol), and the address to connect it to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrInfo {
    pub family: Domain,
    pub socket_type: Type,
    pub protocol: Protocol,
    pub addr: SocketAddr,
}

/// What a connected socket is: its family, type and protocol, and both ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketInfo {
    pub family: Domain,
    pub socket_type: Type,
    pub protocol: Protocol,
    /// This end: the address and port the system chose for us.
    pub local: SocketAddr,
    /// The other end: where we connected to (or who connected to us).
    pub peer: SocketAddr,
}

impl fmt::Display for AddrInfo {
    /// `AF_INET6  SOCK_STREAM  IPPROTO_TCP  [::1]:80`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = columns(self.family, self.socket_type, self.protocol);
        write!(f, "{kind}  {}", self.addr)
    }
}

impl fmt::Display for SocketInfo {
    /// `AF_INET  SOCK_STREAM  IPPROTO_TCP  local 127.0.0.1:50312  peer 127.0.0.1:5151`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = columns(self.family, self.socket_type, self.protocol);
        write!(f, "{kind}  local {}  peer {}", self.local, self.peer)
    }
}

/// The three names, in columns (socket2 prints each as its C constant's name).
fn columns(family: Domain, socket_type: Type, protocol: Protocol) -> String {
    let [family, socket_type, protocol] = [
        format!("{family:?}"),
        format!("{socket_type:?}"),
        format!("{protocol:?}"),
    ];
    format!("{family:<8}  {socket_type:<11}  {protocol}")
}

/// Every address `host` resolves to, with `port`, in the order the system gives them.
pub fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    // An empty name means different things on different systems (Windows answers with the
    // machine's own addresses, Linux with an error): say what is wrong, the same everywhere.
    if host.is_empty() {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            "no host name given: use a name (localhost) or an address (127.0.0.1, ::1)",
        ));
    }
    // `[::1]` is how an IPv6 address is written next to a port (`[::1]:80`, in URLs). The
    // resolver wants it bare, so take the brackets off; only around an IPv6 address, though.
    let host = match host
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
    {
        Some(inside) => match inside.parse::<Ipv6Addr>() {
            Ok(ip) => return Ok(vec![SocketAddr::new(IpAddr::V6(ip), port)]),
            Err(_) => {
                return Err(io::Error::new(
                    ErrorKind::InvalidInput,
                    format!("{host}: only an IPv6 address goes in brackets"),
                ));
            }
        },
        None => host,
    };
    // `to_socket_addrs` is Rust's getaddrinfo: a literal address comes back as it is, a name
    // goes to the system's resolver (the hosts file, then DNS). Collect *everything*, in the
    // order given: the system puts the address to try first at the front (RFC 6724).
    match (host, port).to_socket_addrs() {
        Ok(addrs) => Ok(addrs.collect()),
        // A name that does not exist is an answer too, not a reason to panic: pass it on, and
        // say which name it was (std's message does not).
        Err(error) => Err(io::Error::new(
            error.kind(),
            format!("cannot resolve {host:?}: {error}"),
        )),
    }
}

/// The `getaddrinfo` row for `addr`: a TCP stream socket of the address's family.
pub fn describe(addr: SocketAddr) -> AddrInfo {
    AddrInfo {
        // AF_INET for an IPv4 address, AF_INET6 for an IPv6 one (also `[::ffff:1.2.3.4]`).
        family: Domain::for_address(addr),
        // std's resolver asks only for stream sockets, and a stream over IP is TCP.
        socket_type: Type::STREAM,
        protocol: Protocol::TCP,
        addr,
    }
}

/// Family, type and protocol of a connected socket, asked of the socket itself, with its two
/// ends.
pub fn describe_socket(stream: &TcpStream) -> io::Result<SocketInfo> {
    // socket2's `SockRef` borrows std's socket to ask what std does not (getsockopt).
    let socket = SockRef::from(stream);
    // getsockname: this end; getpeername: the other end.
    let local = stream.local_addr()?;
    let peer = stream.peer_addr()?;
    let (family, protocol) = family_and_protocol(&socket, local)?;
    Ok(SocketInfo {
        family,
        socket_type: socket.r#type()?,
        protocol,
        local,
        peer,
    })
}

/// Linux can say the family and protocol of a socket (SO_DOMAIN, SO_PROTOCOL).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn family_and_protocol(socket: &SockRef<'_>, _local: SocketAddr) -> io::Result<(Domain, Protocol)> {
    Ok((
        socket.domain()?,
        socket.protocol()?.unwrap_or(Protocol::TCP),
    ))
}

/// Elsewhere (macOS, Windows) the socket's own address has its family, and a TcpStream is TCP.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn family_and_protocol(_socket: &SockRef<'_>, local: SocketAddr) -> io::Result<(Domain, Protocol)> {
    Ok((Domain::for_address(local), Protocol::TCP))
}

/// Python's `create_connection`: tries each address in order, `timeout_each` at most per
/// address; the first connection wins. The error says what each address answered.
pub fn connect_any(addrs: &[SocketAddr], timeout_each: Duration) -> io::Result<TcpStream> {
    // std's `connect_timeout` rejects zero too, but only after it has started connecting.
    if timeout_each.is_zero() {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            "a connect timeout of zero cannot succeed",
        ));
    }
    // What each address answered, for the message; and the last error, for its kind.
    let mut answers = Vec::new();
    let mut last_error: Option<io::Error> = None;
    for &addr in addrs {
        // Each address gets the whole timeout: a silent one must not eat the next one's time.
        match TcpStream::connect_timeout(&addr, timeout_each) {
            Ok(stream) => return Ok(stream),
            // One address failing is no reason to stop: note its answer and go on.
            Err(error) => {
                answers.push(format!("{addr}: {error}"));
                last_error = Some(error);
            }
        }
    }
    // With no address, the loop never ran: there is no last error.
    let Some(last_error) = last_error else {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            "no address to connect to",
        ));
    };
    // The kind of the last error (as `TcpStream::connect` gives), so a caller can still match
    // on it; the message has every address's answer, for the person reading it.
    Err(io::Error::new(
        last_error.kind(),
        format!(
            "could not connect to any of {} addresses: {}",
            answers.len(),
            answers.join("; ")
        ),
    ))
}

/// Python's `create_server(("", port), family=AF_INET6, dualstack_ipv6=dual_stack)`: listens
/// on every interface; on IPv6 and IPv4 both when `dual_stack`, else on IPv6 only.
pub fn create_server(port: u16, dual_stack: bool) -> io::Result<TcpListener> {
    // std's `TcpListener::bind` makes, binds and listens in one call, with no room for
    // options in between: socket2 does each step on its own.
    let socket = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP)).map_err(no_ipv6)?;
    // Never rely on the system's default: it is "both" on Linux and macOS, IPv6 only on
    // Windows and OpenBSD. (OpenBSD has no dual stack at all: there `false` is an error.)
    socket.set_only_v6(!dual_stack)?;
    // Listening again on the port of a server that just stopped must work at once, although
    // its old connections wait a minute in TIME_WAIT. On Windows, SO_REUSEADDR means "let two
    // servers share the port" instead, so there (like Python) we leave it off: Windows
    // allows the rebind anyway.
    #[cfg(not(windows))]
    socket.set_reuse_address(true)?;
    let any = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
    socket.bind(&any.into()).map_err(|error| {
        if error.kind() == ErrorKind::AddrNotAvailable {
            no_ipv6(error)
        } else {
            error
        }
    })?;
    // Without `listen`, a bound socket refuses every connection. 128 is std's backlog too.
    socket.listen(128)?;
    Ok(socket.into())
}

/// The error of a machine without IPv6, said in words.
fn no_ipv6(error: io::Error) -> io::Error {
    io::Error::new(
        error.kind(),
        format!("IPv6 is not available on this machine ({error}): cannot listen on [::]"),
    )
}

/// This machine's name (Python's `gethostname`).
pub fn hostname() -> io::Result<String> {
    // std has no gethostname; dns-lookup wraps the system's.
    dns_lookup::get_hostname()
}

/// The name of `ip` (Python's `gethostbyaddr`, through getnameinfo): from the hosts file or a
/// DNS PTR record. An address without a name is an error.
pub fn reverse_lookup(ip: IpAddr) -> io::Result<String> {
    // `lookup_addr` asks getnameinfo for a name and nothing else (NI_NAMEREQD): without that
    // flag, an address with no name comes back as its digits.
    dns_lookup::lookup_addr(&ip)
        .map_err(|error| io::Error::new(error.kind(), format!("no name for {ip}: {error}")))
}

/// Python's `getfqdn(name)`: the first name with a dot among the names of `name`'s addresses;
/// else `name` unchanged. An empty `name` means this machine.
pub fn fqdn(name: &str) -> io::Result<String> {
    let name = if name.is_empty() {
        hostname()?
    } else {
        name.to_string()
    };
    // A name that does not resolve has no better name: it is returned as it is, not an error.
    let Ok(addrs) = resolve(&name, 0) else {
        return Ok(name);
    };
    for addr in addrs {
        // An address without a name is no reason to stop: the next one may have one.
        if let Ok(found) = reverse_lookup(addr.ip()) {
            if found.contains('.') {
                return Ok(found);
            }
        }
    }
    Ok(name)
}
