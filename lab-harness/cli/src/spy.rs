//! `cargo lab spy`: a relay between a client and a server that prints their conversation.
//!
//! Each accepted connection gets a connection to the server and two pumps, one per
//! direction, each with one fixed buffer: what one side sends is written to the other as it
//! comes, so memory stays the same whatever passes through. Each pump reports what it sees
//! to the connection's [`LiveTimeline`], which prints the same lines as a failing graded test
//! (data with sizes and escaped bytes, half-closes, resets, pauses), prefixed with the
//! connection's number so that several connections at once stay readable.
//!
//! What a side does to the connection is done to the other side too: end-of-file from the
//! client becomes a half-close (`shutdown(Write)`) towards the server, so a server that reads
//! until end-of-file and then answers still works through the spy; a reset becomes a reset.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use lab_harness::{LiveTimeline, Side, What};

/// The buffer of each direction of each connection.
const BUFFER: usize = 16 * 1024;
/// How often a waiting pump looks at the clock (to print data that stopped coming, and to
/// notice that the other direction reset the connection).
const TICK: Duration = Duration::from_millis(50);
/// How long connecting to the server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where lines go, one whole line (or several) at a time.
pub type Out = Arc<Mutex<Box<dyn Write + Send>>>;

/// The relay's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// The server's addresses (tried in order).
    pub to: Vec<SocketAddr>,
    /// Past this many open connections a new client is closed at once (with a line saying
    /// so): each costs two threads and two buffers.
    pub max_connections: usize,
}

/// The relay, running: its connections, for the last lines when it stops.
pub struct Spy {
    open: Arc<Mutex<Vec<Arc<Connection>>>>,
    served: Arc<AtomicU64>,
    out: Out,
}

impl Spy {
    /// Relays every client of `listener` to `config.to` on a thread of its own.
    pub fn start(listener: TcpListener, config: Config, out: Out) -> Spy {
        let open: Arc<Mutex<Vec<Arc<Connection>>>> = Arc::default();
        let served = Arc::new(AtomicU64::new(0));
        let spy = Spy {
            open: open.clone(),
            served: served.clone(),
            out: out.clone(),
        };
        thread::spawn(move || accept_loop(listener, config, out, open, served));
        spy
    }

    /// Prints a last line for each connection still open and a summary.
    pub fn stop(&self) {
        let open: Vec<Arc<Connection>> = self.open.lock().unwrap().clone();
        for connection in open {
            let text = {
                let mut live = connection.live.lock().unwrap();
                live.still_open(&connection.tag, connection.started.elapsed())
            };
            print(&self.out, &text);
        }
        let served = self.served.load(Ordering::Relaxed);
        print(
            &self.out,
            &format!(
                "spy stopped: relayed {served} connection{}\n",
                if served == 1 { "" } else { "s" }
            ),
        );
    }
}

fn print(out: &Out, text: &str) {
    if text.is_empty() {
        return;
    }
    let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// One relayed connection.
struct Connection {
    /// `#3 `: what each of its lines starts with.
    tag: String,
    started: Instant,
    live: Mutex<LiveTimeline>,
    /// Set when one side reset the connection: the other pump stops too.
    reset: AtomicBool,
    /// Which side closed (or reset) first, for the last line.
    first_close: Mutex<Option<(Side, &'static str)>>,
    bytes: [AtomicU64; 2],
    out: Out,
}

impl Connection {
    fn event(&self, what: What) {
        let text = {
            let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
            live.push(&self.tag, self.started.elapsed(), what)
        };
        print(&self.out, &text);
    }

    fn data(&self, from: Side, bytes: &[u8]) {
        let text = {
            let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
            live.data(&self.tag, self.started.elapsed(), from, bytes)
        };
        print(&self.out, &text);
    }

    fn tick(&self) {
        let text = {
            let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
            live.stale(&self.tag, self.started.elapsed())
        };
        print(&self.out, &text);
    }

    fn closed(&self, by: Side, how: &'static str) {
        let mut first = self.first_close.lock().unwrap_or_else(|e| e.into_inner());
        first.get_or_insert((by, how));
    }
}

fn accept_loop(
    listener: TcpListener,
    config: Config,
    out: Out,
    open: Arc<Mutex<Vec<Arc<Connection>>>>,
    served: Arc<AtomicU64>,
) {
    let count = AtomicUsize::new(0);
    for client in listener.incoming() {
        let client = match client {
            Ok(client) => client,
            // A client that gave up before it was accepted, or no file left: go on.
            Err(_) => {
                thread::sleep(TICK);
                continue;
            }
        };
        let number = count.fetch_add(1, Ordering::Relaxed) + 1;
        let tag = format!("#{number} ");
        if open.lock().unwrap().len() >= config.max_connections {
            print(
                &out,
                &format!(
                    "{tag}turned away: {} connections are open already (--max-connections)\n",
                    config.max_connections
                ),
            );
            continue;
        }
        served.fetch_add(1, Ordering::Relaxed);
        let config = config.clone();
        let out = out.clone();
        let open = open.clone();
        thread::spawn(move || relay(client, tag, &config, out, &open));
    }
}

/// Relays one client until both directions are over.
fn relay(
    client: TcpStream,
    tag: String,
    config: &Config,
    out: Out,
    open: &Mutex<Vec<Arc<Connection>>>,
) {
    let started = Instant::now();
    let client_addr = client
        .peer_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let server = match connect(&config.to) {
        Ok(server) => server,
        Err(error) => {
            print(
                &out,
                &format!(
                    "{tag}{client_addr} connected, but the server at {} cannot be reached ({}): \
                     closing the client\n",
                    config.to[0],
                    plain_error(&error)
                ),
            );
            return;
        }
    };
    let server_addr = server.peer_addr().unwrap_or(config.to[0]);
    let connection = Arc::new(Connection {
        tag,
        started,
        live: Mutex::new(LiveTimeline::new()),
        reset: AtomicBool::new(false),
        first_close: Mutex::new(None),
        bytes: [AtomicU64::new(0), AtomicU64::new(0)],
        out,
    });
    open.lock().unwrap().push(connection.clone());
    connection.event(What::Connected {
        client: client_addr,
        server: server_addr,
    });

    let pumps = (|| -> io::Result<_> {
        let up = (client.try_clone()?, server.try_clone()?);
        let down = (server.try_clone()?, client.try_clone()?);
        Ok((up, down))
    })();
    match pumps {
        Ok(((from_client, to_server), (from_server, to_client))) => {
            let up = {
                let connection = connection.clone();
                thread::spawn(move || pump(&connection, from_client, to_server, Side::Client))
            };
            pump(&connection, from_server, to_client, Side::Server);
            let _ = up.join();
        }
        Err(error) => connection.event(What::Note(format!(
            "the spy cannot relay this connection: {}",
            plain_error(&error)
        ))),
    }

    let up = connection.bytes[0].load(Ordering::Relaxed);
    let down = connection.bytes[1].load(Ordering::Relaxed);
    let first = *connection.first_close.lock().unwrap();
    let who = match first {
        Some((Side::Client, how)) => format!("the client {how} first"),
        Some((Side::Server, how)) => format!("the server {how} first"),
        None => "both sides stopped".to_string(),
    };
    connection.event(What::Note(format!(
        "over: {who}; {up} byte{} client -> server, {down} byte{} server -> client",
        plural(up),
        plural(down)
    )));
    open.lock()
        .unwrap()
        .retain(|c| !Arc::ptr_eq(c, &connection));
}

fn plural(count: u64) -> &'static str {
    if count == 1 { "" } else { "s" }
}

fn connect(to: &[SocketAddr]) -> io::Result<TcpStream> {
    let mut last = io::Error::new(ErrorKind::InvalidInput, "no address");
    for addr in to {
        match TcpStream::connect_timeout(addr, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(error) => last = error,
        }
    }
    Err(last)
}

/// An error as a person would say it: "connection refused", not `Os { code: 111, … }`.
pub fn plain_error(error: &io::Error) -> String {
    let text = error.to_string();
    // std adds " (os error 111)"; the kind says it already.
    match text.find(" (os error") {
        Some(cut) => text[..cut].to_lowercase(),
        None => text,
    }
}

/// Copies what `side` sends from `from` to `to` until end-of-file or an error, reporting to
/// the connection's timeline.
fn pump(connection: &Connection, mut from: TcpStream, mut to: TcpStream, side: Side) {
    let index = match side {
        Side::Client => 0,
        Side::Server => 1,
    };
    let _ = from.set_read_timeout(Some(TICK));
    let mut buffer = vec![0u8; BUFFER];
    loop {
        if connection.reset.load(Ordering::Relaxed) {
            return;
        }
        match from.read(&mut buffer) {
            Ok(0) => {
                // End-of-file: relay the half-close, the other direction goes on.
                // Printed before it is passed on: the other side's answer to it comes later.
                connection.closed(side, "closed its sending side");
                connection.event(What::Shutdown { by: side });
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                connection.bytes[index].fetch_add(n as u64, Ordering::Relaxed);
                connection.data(side, &buffer[..n]);
                if let Err(error) = to.write_all(&buffer[..n]) {
                    // The other side is gone: it reset (or closed) the connection.
                    let other = match side {
                        Side::Client => Side::Server,
                        Side::Server => Side::Client,
                    };
                    reset(connection, other, &from, &error);
                    return;
                }
            }
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                connection.tick();
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => {
                reset(connection, side, &to, &error);
                return;
            }
        }
    }
}

/// `by` reset the connection (or failed it with `error`): reset the other side's connection
/// too, and stop the other pump.
fn reset(connection: &Connection, by: Side, other: &TcpStream, error: &io::Error) {
    if connection.reset.swap(true, Ordering::Relaxed) {
        return;
    }
    connection.closed(by, "reset the connection");
    if matches!(
        error.kind(),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
    ) {
        connection.event(What::Reset { by });
    } else {
        connection.event(What::Note(format!(
            "{} side failed: {}",
            match by {
                Side::Client => "the client's",
                Side::Server => "the server's",
            },
            plain_error(error)
        )));
    }
    // Closing with a zero linger sends a reset rather than a FIN once every handle is gone.
    let _ = socket2::SockRef::from(other).set_linger(Some(Duration::ZERO));
}
