//! The machinery every harness server shares: an accept loop on its own thread, one thread
//! per connection, a registry of open connections, the connection log, and a clean stop.
//!
//! A server only supplies a *handler*: what to do with one accepted connection. Keeping the
//! accept loop in one place means the echo server, the scripted servers and the CLI all stop,
//! log and record the same way.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::record::{ConnectionLog, Ending, Recording};

/// What a server does with one accepted connection. It returns how the connection ended.
pub(crate) type Handler = dyn Fn(TcpStream, &ConnectionLog, &Stopping) -> Ending + Send + Sync;

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

/// A connection thread needs little stack: its buffers live on the heap. A small stack lets
/// one process hold many mostly idle clients.
const CONNECTION_STACK: usize = 256 * 1024;

/// How long `stop` waits for connection threads to notice their socket was shut down.
const STOP_GRACE: Duration = Duration::from_secs(2);

struct Shared {
    stopping: Stopping,
    open: Mutex<HashMap<u64, TcpStream>>,
    all_closed: Condvar,
    recording: Recording,
    log_to_stderr: bool,
}

/// A listener being served on background threads. Dropping it stops it.
pub(crate) struct Running {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

impl Running {
    pub(crate) fn start(
        listener: TcpListener,
        recording: Recording,
        log_to_stderr: bool,
        handler: Arc<Handler>,
    ) -> io::Result<Running> {
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            stopping: Stopping::default(),
            open: Mutex::new(HashMap::new()),
            all_closed: Condvar::new(),
            recording,
            log_to_stderr,
        });
        let accept_shared = Arc::clone(&shared);
        let accept_thread = thread::Builder::new()
            .name("lab-accept".into())
            .spawn(move || accept_loop(listener, accept_shared, handler))?;
        Ok(Running {
            addr,
            shared,
            accept_thread: Some(accept_thread),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn recording(&self) -> &Recording {
        &self.shared.recording
    }

    /// Stops accepting, shuts every open connection down, and waits (briefly) for their
    /// threads to finish. Calling it twice is harmless.
    pub(crate) fn stop(&mut self) {
        let Some(accept_thread) = self.accept_thread.take() else {
            return;
        };
        self.shared.stopping.set();
        // `accept` blocks until a client arrives, so be that client: the loop wakes, sees
        // the flag, and ends. A failed wake-up connect only means the listener is gone.
        let _ = TcpStream::connect_timeout(&wake_address(self.addr), Duration::from_secs(1));
        let _ = accept_thread.join();

        let open = self.shared.lock_open();
        for stream in open.values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let _ = self
            .shared
            .all_closed
            .wait_timeout_while(open, STOP_GRACE, |open| !open.is_empty());
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Shared {
    fn lock_open(&self) -> std::sync::MutexGuard<'_, HashMap<u64, TcpStream>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stopping(&self) -> bool {
        self.stopping.is_set()
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

fn accept_loop(listener: TcpListener, shared: Arc<Shared>, handler: Arc<Handler>) {
    loop {
        let accepted = listener.accept();
        if shared.stopping() {
            return;
        }
        match accepted {
            Ok((stream, peer)) => {
                let shared = Arc::clone(&shared);
                let handler = Arc::clone(&handler);
                let spawned = thread::Builder::new()
                    .name(format!("lab-conn-{peer}"))
                    .stack_size(CONNECTION_STACK)
                    .spawn(move || serve_one(stream, &shared, &*handler));
                if let Err(error) = spawned {
                    // Out of threads: this client is dropped, the server goes on.
                    eprintln!("could not start a thread for {peer}: {error}");
                }
            }
            Err(error) => {
                // Errors such as "too many open files" are temporary: report, back off a
                // little so the loop does not spin, and keep accepting.
                eprintln!("accept failed: {error}");
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn serve_one(stream: TcpStream, shared: &Shared, handler: &Handler) {
    let (Ok(peer), Ok(local)) = (stream.peer_addr(), stream.local_addr()) else {
        return; // the client is already gone
    };
    let log = shared.recording.open(peer, local);
    let id = log.id();
    if let Ok(clone) = stream.try_clone() {
        shared.lock_open().insert(id, clone);
    }
    if shared.stopping() {
        let _ = stream.shutdown(Shutdown::Both);
    }
    if shared.log_to_stderr {
        eprintln!("#{id} {peer} connected (to {local})");
    }

    let mut ending = handler(stream, &log, &shared.stopping);
    if shared.stopping() {
        ending = Ending::ServerClosed("server stopped".into());
    }
    if shared.log_to_stderr {
        eprintln!(
            "#{id} {peer} closed after {:.2?}: {} bytes in, {} bytes out; {ending}",
            Instant::now() - log.opened,
            log.bytes_in(),
            log.bytes_out(),
        );
    }
    log.ended(ending);

    let mut open = shared.lock_open();
    open.remove(&id);
    if open.is_empty() {
        shared.all_closed.notify_all();
    }
}
