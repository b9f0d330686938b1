//! # Exercise 6 — names and addresses
//!
//! So far you connected to `127.0.0.1`. People type names: `localhost`, `www.python.org`, the
//! name of the lab machine. Before any connect, a name becomes a *list* of addresses — the
//! system's resolver (`getaddrinfo` in C and Python) asks the hosts file, then DNS — and a
//! name may have several: an IPv6 one and an IPv4 one, or a few servers. A good client tries
//! them in the order given until one answers; a good server listens on IPv6 and IPv4 both.
//! In this exercise you write the lectures' name functions in Rust:
//!
//! | Python (the lecture)                                     | Rust (this exercise)            |
//! |----------------------------------------------------------|---------------------------------|
//! | `socket.getaddrinfo(host, port)`                         | `resolve(host, port)`           |
//! | a row of it: `(family, type, proto, '', sockaddr)`       | `describe(addr)` → `AddrInfo`   |
//! | `sock.family`, `sock.type`, `getsockname`, `getpeername` | `describe_socket(&stream)`      |
//! | `socket.create_connection((host, port), timeout)`        | `connect_any(&addrs, timeout)`  |
//! | `socket.create_server(("", port), family=AF_INET6, dualstack_ipv6=True)` | `create_server(port, true)` |
//! | `socket.gethostname()`                                   | `hostname()`                    |
//! | `socket.gethostbyaddr(ip)[0]`                            | `reverse_lookup(ip)`            |
//! | `socket.getfqdn(name)`                                   | `fqdn(name)`                    |
//!
//! ## Two crates, because they are the lesson
//! std resolves names (`ToSocketAddrs`) and connects, but it cannot name a socket's family,
//! type and protocol, set `IPV6_V6ONLY`, or ask for this machine's name. `socket2` is the
//! socket API of C and Python in Rust (`Socket::new(Domain::IPV6, Type::STREAM, …)`, then
//! `set_only_v6`, `bind`, `listen`), and `dns-lookup` has `get_hostname` and `lookup_addr`
//! (getnameinfo). Both are already in this package's `Cargo.toml`.
//!
//! ## Try it by hand
//! `cargo run -p ex06 -- localhost 80` prints what `localhost` resolves to here, one line per
//! address (the program is `src/bin/ex06-lookup.rs`; it works once `resolve` and `describe`
//! do). Try `::1`, `[::1]`, your machine's name (`hostname`), `nosuch.invalid`. Compare with
//! `python3 -c 'import socket; print(socket.getaddrinfo("localhost", 80))'`.
//!
//! ## Check your work
//! `cargo test -p ex06`. Nothing needs the internet: the names come from this machine's
//! hosts file, and `nosuch.invalid` is a name that cannot exist. Where your machine cannot
//! show something (no IPv6, `localhost` with one address only), a test says so in a note
//! (`cargo test -p ex06 -- --nocapture` shows the notes).

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use socket2::{Domain, Protocol, Type};
// You will need more as you go: `std::io::ErrorKind`, `std::net::{Ipv6Addr, ToSocketAddrs}`,
// `socket2::{SockRef, Socket}`, and `dns_lookup::{get_hostname, lookup_addr}`.

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

/// Every address `host` resolves to, each with `port`, in the order the system gives them
/// (the system puts the one to try first at the front: keep every one, in that order).
///
/// `host` is a name (`localhost`), an IPv4 address (`127.0.0.1`) or an IPv6 address, bare
/// (`::1`) or in brackets (`[::1]`, as written before a port and in URLs). Errors:
/// - an empty `host`, or brackets around something that is not an IPv6 address: kind
///   `InvalidInput`, with a message that says what is wrong;
/// - a name that does not resolve (`nosuch.invalid`): the resolver's error, with a message
///   that names the host. Never a panic.
pub fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    // TODO: 1. an empty host is `io::Error::new(io::ErrorKind::InvalidInput, …)`;
    // 2. `[…]`: take the brackets off (`strip_prefix('[')`, `strip_suffix(']')`) when what is
    //    inside parses as an `Ipv6Addr`, else InvalidInput;
    // 3. `(host, port).to_socket_addrs()` is Rust's getaddrinfo: `collect()` every address;
    // 4. on an error, return a new one of the same `kind()` whose message names the host.
    todo!("resolve {host:?} with port {port}")
}

/// The `getaddrinfo` row for `addr`: the family of its address (`AF_INET` for IPv4,
/// `AF_INET6` for IPv6, also for an IPv4 address written as IPv6, `[::ffff:127.0.0.1]`), a
/// stream socket (`SOCK_STREAM`), protocol TCP, and `addr` itself.
pub fn describe(addr: SocketAddr) -> AddrInfo {
    // TODO: `Domain::for_address(addr)`, `Type::STREAM`, `Protocol::TCP`.
    todo!("describe {addr}")
}

/// The family, type and protocol of a connected socket, asked of the socket itself, with its
/// two ends: `local` is this end (getsockname), `peer` the other (getpeername).
pub fn describe_socket(stream: &TcpStream) -> io::Result<SocketInfo> {
    // TODO: `stream.local_addr()?` and `stream.peer_addr()?` for the ends. socket2's
    // `SockRef::from(stream)` asks the socket what std does not: `r#type()` everywhere;
    // `domain()` and `protocol()` on Linux only (use `#[cfg(target_os = "linux")]`), so
    // elsewhere take the family of `local` (`Domain::for_address`) and TCP (it is a TcpStream).
    todo!("describe the socket {stream:?}")
}

/// Python's `create_connection`: tries each of `addrs` in order, giving up on each after
/// `timeout_each`, and returns the first connection that succeeds.
///
/// When every address fails, the error has the kind of the last address's error, and its
/// message lists every address with what it answered (`127.0.0.1:4000: Connection refused;
/// 127.0.0.1:4001: connection timed out`). No address at all, or a zero timeout, is an error
/// of kind `InvalidInput`, returned before anything is sent.
pub fn connect_any(addrs: &[SocketAddr], timeout_each: Duration) -> io::Result<TcpStream> {
    // TODO: 1. reject `timeout_each.is_zero()` first (std's `connect_timeout` rejects zero
    //    only after it has started connecting);
    // 2. for each address, `TcpStream::connect_timeout(&addr, timeout_each)`: return the
    //    stream that connects; on an error, note `format!("{addr}: {error}")` and its kind,
    //    and go on (no `?` inside the loop);
    // 3. no address at all: InvalidInput; else `io::Error::new(last_kind, all_answers)`.
    todo!(
        "connect to one of {} addresses, {timeout_each:?} each: {addrs:?}",
        addrs.len()
    )
}

/// Python's `create_server(("", port), family=AF_INET6, dualstack_ipv6=dual_stack)`: a
/// listener on every interface, on `port` (0: a port the system chooses).
///
/// With `dual_stack` it hears IPv6 and IPv4 clients both (an IPv4 client then shows as
/// `[::ffff:127.0.0.1]`); without, IPv6 clients only. A server stopped a moment ago may have
/// left connections in TIME_WAIT: listening again on its port must work at once. Where the
/// machine has no IPv6, the error says so.
pub fn create_server(port: u16, dual_stack: bool) -> io::Result<TcpListener> {
    // TODO: std's `TcpListener::bind` makes, binds and listens in one go; socket2 does it
    // step by step, with options in between:
    // 1. `Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))` (an error here means
    //    no IPv6: say so in the error's message);
    // 2. `set_only_v6(…)`: IPV6_V6ONLY off for dual stack, on without. Set it either way: the
    //    default differs between systems;
    // 3. `set_reuse_address(true)` (SO_REUSEADDR; not on Windows, where it means something
    //    else: `#[cfg(not(windows))]`);
    // 4. `bind` the address `[::]:port` (`SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port)`
    //    and `.into()`), then `listen(128)`, then `.into()` a `TcpListener`.
    todo!("listen on port {port}, dual stack: {dual_stack}")
}

/// This machine's name (Python's `gethostname`).
pub fn hostname() -> io::Result<String> {
    // TODO: std has no gethostname: `dns_lookup::get_hostname()`.
    todo!("ask the system for this machine's name")
}

/// The name of `ip` (Python's `gethostbyaddr(ip)[0]`, through getnameinfo): from the hosts
/// file or a DNS PTR record. An address without a name is an error, not its digits.
pub fn reverse_lookup(ip: IpAddr) -> io::Result<String> {
    // TODO: `dns_lookup::lookup_addr(&ip)`; add the address to the error's message.
    todo!("find the name of {ip}")
}

/// Python's `getfqdn(name)`: the first name *with a dot* among the names of the addresses
/// `name` resolves to; else `name` itself, unchanged (also when it does not resolve: that is
/// no error). An empty `name` means this machine (`hostname()`).
pub fn fqdn(name: &str) -> io::Result<String> {
    // TODO: the name to use (`hostname()?` if `name` is empty); `resolve(&name, 0)`: on an
    // error, return the name as it is; for each address, `reverse_lookup(addr.ip())`, and
    // return the first name that `contains('.')`; else the name.
    todo!("the fully qualified name of {name:?}")
}
