//! The machinery every harness server shares: an accept loop on its own thread, the
//! connection log, a cap on open connections, and a clean stop.
//!
//! A server only supplies a [`Service`]: where an accepted connection goes. The scripted
//! servers run a handler on one thread per connection ([`Threads`]): a script then reads top to
//! bottom like the story it tells. The echo server hands its connections to a few event-loop
//! workers instead (see `echo.rs` for why). Keeping the accept loop in one place means the
//! echo server, the scripted servers and the CLI all count, log, record and stop the same way.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::record::{ConnectionLog, Ending, Recording};

/// Set once when the server is told to stop. Handlers that wait (a scripted pause, a stalled
/// peer) wait on it, so a stop never has to wait for them.
#[derive(Default)]
pub(crate) struct Stopping {
    flag: Mutex<bool>,
    changed: Condvar,
}

impl Stopping {
    pub(crate) fn is_set(&self) -> bool {
        *self.flag.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self) {
        *self.flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.changed.notify_all();
    }

    /// Waits up to `limit`; returns `true` if the server is stopping.
    pub(crate) fn wait(&self, limit: Duration) -> bool {
        let flag = self.flag.lock().unwrap_or_else(|p| p.into_inner());
        let (flag, _) = self
            .changed
            .wait_timeout_while(flag, limit, |stopping| !*stopping)
            .unwrap_or_else(|p| p.into_inner());
        *flag
    }
}

/// Where accepted connections go.
pub(crate) trait Service: Send + Sync {
    /// Serves one accepted connection. Whoever ends up owning `open` calls [`Open::close`].
    fn serve(&self, stream: TcpStream, open: Open);

    /// Sends `line` to a client the server has no room for, then closes the connection.
    fn turn_away(&self, mut stream: TcpStream, line: &str) {
        // A fresh socket's send buffer is empty, so this small write cannot block.
        let _ = stream.write_all(line.as_bytes());
        let _ = stream.shutdown(Shutdown::Write);
    }

    /// Closes every connection still open; called once, after the accept loop has ended.
    fn stop(&self);
}

/// How the accept loop treats connections.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Policy {
    /// Print a line on stderr for every connection opened and closed.
    pub(crate) log_to_stderr: bool,
    /// Past this many open connections a new client is turned away with one line.
    pub(crate) max_connections: Option<usize>,
}

/// How long `stop` waits for open connections to close.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// How often the accept loop may report the same kind of accept failure.
const REPORT_EVERY: Duration = Duration::from_secs(1);

struct Shared {
    stopping: Stopping,
    /// Connections accepted and not yet closed.
    open: Mutex<usize>,
    all_closed: Condvar,
    turned_away: AtomicU64,
    recording: Recording,
    policy: Policy,
}

impl Shared {
    fn lock_open(&self) -> MutexGuard<'_, usize> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The bookkeeping of one accepted connection: its record, its log lines and its place in
/// the count of open connections. Whoever serves the connection calls [`Open::close`] once,
/// with how it ended; dropping it without that records "the server dropped it".
pub(crate) struct Open {
    pub(crate) log: ConnectionLog,
    pub(crate) peer: SocketAddr,
    shared: Arc<Shared>,
    closed: bool,
}

impl Open {
    pub(crate) fn close(mut self, ending: Ending) {
        self.finish(ending);
    }

    pub(crate) fn stopping(&self) -> &Stopping {
        &self.shared.stopping
    }

    fn finish(&mut self, mut ending: Ending) {
        if std::mem::replace(&mut self.closed, true) {
            return;
        }
        if self.shared.stopping.is_set() {
            ending = Ending::ServerClosed("server stopped".into());
        }
        if self.shared.policy.log_to_stderr {
            eprintln!(
                "#{} {} closed after {:.2?}: {} bytes in, {} bytes out; {ending}",
                self.log.id(),
                self.peer,
                self.log.opened.elapsed(),
                self.log.bytes_in(),
                self.log.bytes_out(),
            );
        }
        // The count goes down under the same lock as the record ends: whoever sees the
        // connection ended in the recording may connect again and find the room free.
        let mut open = self.shared.lock_open();
        self.log.ended(ending);
        *open -= 1;
        if *open == 0 {
            self.shared.all_closed.notify_all();
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.finish(Ending::ServerClosed("dropped by the server".into()));
    }
}

/// A listener being served: the accept loop on its own thread, connections in a
/// [`Service`]. Dropping it stops it.
pub(crate) struct Running {
    addr: SocketAddr,
    shared: Arc<Shared>,
    service: Arc<dyn Service>,
    accept_thread: Option<JoinHandle<()>>,
}

impl Running {
    /// Serves `listener` with one thread per connection running `handler`.
    pub(crate) fn start(
        listener: TcpListener,
        recording: Recording,
        log_to_stderr: bool,
        handler: Arc<Handler>,
    ) -> io::Result<Running> {
        let policy = Policy {
            log_to_stderr,
            max_connections: None,
        };
        Running::serve(listener, recording, policy, Arc::new(Threads::new(handler)))
    }

    /// Serves `listener`, handing each accepted connection to `service`.
    pub(crate) fn serve(
        listener: TcpListener,
        recording: Recording,
        policy: Policy,
        service: Arc<dyn Service>,
    ) -> io::Result<Running> {
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            stopping: Stopping::default(),
            open: Mutex::new(0),
            all_closed: Condvar::new(),
            turned_away: AtomicU64::new(0),
            recording,
            policy,
        });
        let accept_shared = Arc::clone(&shared);
        let accept_service = Arc::clone(&service);
        let accept_thread = thread::Builder::new()
            .name("lab-accept".into())
            .spawn(move || accept_loop(listener, &accept_shared, &*accept_service))?;
        Ok(Running {
            addr,
            shared,
            service,
            accept_thread: Some(accept_thread),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn recording(&self) -> &Recording {
        &self.shared.recording
    }

    /// How many clients were turned away because the server was full.
    pub(crate) fn turned_away(&self) -> u64 {
        self.shared.turned_away.load(Ordering::Relaxed)
    }

    /// Stops accepting, closes every open connection, and waits (briefly) for them to be
    /// recorded as closed. Calling it twice is harmless.
    pub(crate) fn stop(&mut self) {
        let Some(accept_thread) = self.accept_thread.take() else {
            return;
        };
        self.shared.stopping.set();
        // `accept` blocks until a client arrives, so be that client: the loop wakes, sees
        // the flag, and ends. A failed wake-up connect only means the listener is gone.
        let _ = TcpStream::connect_timeout(&wake_address(self.addr), Duration::from_secs(1));
        let _ = accept_thread.join();

        self.service.stop();
        let open = self.shared.lock_open();
        let _ = self
            .shared
            .all_closed
            .wait_timeout_while(open, STOP_GRACE, |open| *open > 0);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where to connect to reach a listener: a wildcard bind (`0.0.0.0`, `::`) is reached
/// through the loopback address of the same family.
fn wake_address(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// Accepts until the server stops. It does as little as possible per client (count, record,
/// hand over) so that a whole class connecting in the same second drains the listen backlog
/// quickly.
fn accept_loop(listener: TcpListener, shared: &Arc<Shared>, service: &dyn Service) {
    let mut last_report: Option<Instant> = None;
    loop {
        let accepted = listener.accept();
        if shared.stopping.is_set() {
            return;
        }
        match accepted {
            Ok((stream, peer)) => accept_one(stream, peer, shared, service),
            Err(error) => {
                // "Too many open files" and the like are temporary: report (not more than
                // once a second), back off a little so the loop does not spin, go on.
                if last_report.is_none_or(|at| at.elapsed() >= REPORT_EVERY) {
                    eprintln!("accept failed: {error} (the server keeps accepting)");
                    last_report = Some(Instant::now());
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn accept_one(stream: TcpStream, peer: SocketAddr, shared: &Arc<Shared>, service: &dyn Service) {
    let Ok(local) = stream.local_addr() else {
        return; // the client is already gone
    };
    {
        let mut open = shared.lock_open();
        let full = shared.policy.max_connections.filter(|max| *open >= *max);
        if let Some(max) = full {
            drop(open);
            shared.turned_away.fetch_add(1, Ordering::Relaxed);
            if shared.policy.log_to_stderr {
                eprintln!("{peer} turned away: server full ({max} connections)");
            }
            service.turn_away(
                stream,
                &format!("server full: {max} connections, try again\r\n"),
            );
            return;
        }
        *open += 1;
    }
    let log = shared.recording.open(peer, local);
    if shared.policy.log_to_stderr {
        eprintln!("#{} {peer} connected (to {local})", log.id());
    }
    let open = Open {
        log,
        peer,
        shared: Arc::clone(shared),
        closed: false,
    };
    service.serve(stream, open);
}

/// What a [`Threads`] service does with one connection. It returns how the connection ended.
pub(crate) type Handler = dyn Fn(TcpStream, &ConnectionLog, &Stopping) -> Ending + Send + Sync;

/// A connection thread needs little stack: its buffers live on the heap.
const CONNECTION_STACK: usize = 256 * 1024;

/// One thread per connection, running a [`Handler`]. Simple and plenty for a test's handful
/// of clients; the registry of open sockets lets `stop` shut them down.
pub(crate) struct Threads {
    handler: Arc<Handler>,
    sockets: Arc<Mutex<HashMap<u64, TcpStream>>>,
}

impl Threads {
    pub(crate) fn new(handler: Arc<Handler>) -> Threads {
        Threads {
            handler,
            sockets: Arc::default(),
        }
    }
}

impl Service for Threads {
    fn serve(&self, stream: TcpStream, open: Open) {
        let id = open.log.id();
        if let Ok(clone) = stream.try_clone() {
            lock(&self.sockets).insert(id, clone);
        }
        let handler = Arc::clone(&self.handler);
        let sockets = Arc::clone(&self.sockets);
        let peer = open.peer;
        let spawned = thread::Builder::new()
            .name(format!("lab-conn-{peer}"))
            .stack_size(CONNECTION_STACK)
            .spawn(move || {
                if open.stopping().is_set() {
                    let _ = stream.shutdown(Shutdown::Both);
                }
                let ending = handler(stream, &open.log, open.stopping());
                lock(&sockets).remove(&id);
                open.close(ending);
            });
        if let Err(error) = spawned {
            // Out of threads: this client is dropped (and recorded so), the server goes on.
            eprintln!("could not start a thread for {peer}: {error}");
            lock(&self.sockets).remove(&id);
        }
    }

    fn stop(&self) {
        for stream in lock(&self.sockets).values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
