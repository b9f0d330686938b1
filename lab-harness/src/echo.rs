//! The reference echo server.
//!
//! **Line mode** (the default, like the lectures' instructor server on port 5151) reads a
//! line ending in `\n` or `\r\n` and answers with the same line ending in `\r\n`, until the
//! client closes. **Raw mode** (RFC 862) sends bytes back as they arrive, binary-safe; when
//! the client half-closes, everything has been sent back and the server closes too.
//!
//! The server takes a listener that is already bound, so tests bind `127.0.0.1:0` and the CLI
//! binds whatever the instructor asked for. A [`Behaviour`] turns the same server into a
//! teaching demo or a test's misbehaving peer (answer in pieces, answer late, never answer).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::core::{Running, Stopping};
use crate::record::{ConnectionLog, Ending, Recording, RecordingReader};

/// Line mode or raw mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Line,
    Raw,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Line => "line",
            Mode::Raw => "raw",
        })
    }
}

/// How replies are sent back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Behaviour {
    /// Each reply in one write, at once.
    #[default]
    Echo,
    /// Each reply in pieces of `piece` bytes with `pause` between them: one read on the
    /// client is not one message.
    Fragment { piece: usize, pause: Duration },
    /// Each reply only after `delay`: shows read timeouts.
    Delay(Duration),
    /// Reads (and records) everything, never answers.
    Silent,
}

/// Everything that can be set on an [`EchoServer`].
#[derive(Clone, Debug)]
pub struct Config {
    pub mode: Mode,
    pub behaviour: Behaviour,
    /// The longest line accepted in line mode, line ending included. A longer line gets an
    /// error line back and the connection is closed, so no client can grow memory unbounded.
    pub max_line: usize,
    /// Close a connection that sends nothing for this long.
    pub idle_timeout: Option<Duration>,
    /// Print a line on stderr for every connection opened and closed.
    pub log_to_stderr: bool,
    /// Where connections are recorded (bounded; see [`Recording::new`]).
    pub recording: Recording,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: Mode::Line,
            behaviour: Behaviour::Echo,
            max_line: 64 * 1024,
            idle_timeout: None,
            log_to_stderr: false,
            recording: Recording::default(),
        }
    }
}

impl Config {
    pub fn mode(mode: Mode) -> Config {
        Config {
            mode,
            ..Config::default()
        }
    }

    pub fn behaviour(mut self, behaviour: Behaviour) -> Config {
        self.behaviour = behaviour;
        self
    }
}

/// A running echo server. Dropping it (or calling [`EchoServer::stop`]) stops it.
pub struct EchoServer {
    running: Running,
}

impl EchoServer {
    /// Serves `listener` on background threads until stopped.
    pub fn start(listener: TcpListener, config: Config) -> io::Result<EchoServer> {
        let recording = config.recording.clone();
        let log_to_stderr = config.log_to_stderr;
        let config = Arc::new(config);
        let handler = move |stream: TcpStream, log: &ConnectionLog, _: &Stopping| {
            serve_connection(stream, &config, log)
        };
        let running = Running::start(listener, recording, log_to_stderr, Arc::new(handler))?;
        Ok(EchoServer { running })
    }

    /// A line-mode server on `127.0.0.1` with a port the system picked (for tests).
    pub fn line() -> EchoServer {
        EchoServer::on_loopback(Config::mode(Mode::Line))
    }

    /// A raw-mode server on `127.0.0.1` with a port the system picked (for tests).
    pub fn raw() -> EchoServer {
        EchoServer::on_loopback(Config::mode(Mode::Raw))
    }

    /// Any configuration, on `127.0.0.1` with a port the system picked (for tests).
    pub fn on_loopback(config: Config) -> EchoServer {
        let listener = crate::bind_loopback().expect("binding 127.0.0.1:0 for a test server");
        EchoServer::start(listener, config).expect("starting a test server")
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.running.addr()
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// What the server saw.
    pub fn recording(&self) -> &Recording {
        self.running.recording()
    }

    /// Stops accepting, closes every connection, waits briefly for them to finish.
    pub fn stop(mut self) {
        self.running.stop();
    }
}

fn serve_connection(stream: TcpStream, config: &Config, log: &ConnectionLog) -> Ending {
    if let Err(error) = stream.set_read_timeout(config.idle_timeout) {
        return Ending::Failed(error.kind(), error.to_string());
    }
    if matches!(config.behaviour, Behaviour::Fragment { .. }) {
        // Without this, the kernel may merge the pieces again before they leave.
        let _ = stream.set_nodelay(true);
    }
    let result = match config.mode {
        Mode::Line => echo_lines(&stream, config, log),
        Mode::Raw => echo_raw(&stream, config, log),
    };
    match result {
        Ok(ending) => ending,
        Err(error) if is_timeout(&error) => Ending::ServerClosed(format!(
            "idle for {:?}",
            config.idle_timeout.unwrap_or_default()
        )),
        Err(error) => Ending::Failed(error.kind(), error.to_string()),
    }
}

/// Line mode: one `\r\n`-terminated reply per line received.
fn echo_lines(stream: &TcpStream, config: &Config, log: &ConnectionLog) -> io::Result<Ending> {
    let mut reader = BufReader::new(RecordingReader { inner: stream, log });
    let mut line = Vec::new();
    loop {
        line.clear();
        // `take` bounds how much one line may grow: a client that never sends `\n` cannot
        // make this buffer larger than `max_line`.
        let limit = config.max_line as u64;
        let count = (&mut reader).take(limit).read_until(b'\n', &mut line)?;
        if count == 0 {
            return Ok(Ending::ClientClosed);
        }
        let complete = line.ends_with(b"\n");
        if !complete && count as u64 == limit {
            let reason = format!("line longer than {} bytes", config.max_line);
            send_reply(
                stream,
                config,
                log,
                format!("error: {reason}\r\n").as_bytes(),
            )?;
            return Ok(Ending::ServerClosed(reason));
        }
        // Accept `\n` and `\r\n`; always answer with `\r\n`. A last line without any ending
        // (the client closed mid-line) is answered too.
        let text = line
            .strip_suffix(b"\n")
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .unwrap_or(&line);
        let mut reply = Vec::with_capacity(text.len() + 2);
        reply.extend_from_slice(text);
        reply.extend_from_slice(b"\r\n");
        send_reply(stream, config, log, &reply)?;
    }
}

/// Raw mode: bytes go back as they come; end-of-file is answered by closing.
fn echo_raw(stream: &TcpStream, config: &Config, log: &ConnectionLog) -> io::Result<Ending> {
    let mut reader = RecordingReader { inner: stream, log };
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let count = reader.read(&mut buffer)?;
        if count == 0 {
            // Everything received has been sent back; closing our side tells the client so.
            stream.shutdown(std::net::Shutdown::Write)?;
            return Ok(Ending::ClientClosed);
        }
        send_reply(stream, config, log, &buffer[..count])?;
    }
}

/// Sends one reply the way the configured behaviour says.
fn send_reply(
    mut stream: &TcpStream,
    config: &Config,
    log: &ConnectionLog,
    reply: &[u8],
) -> io::Result<()> {
    match config.behaviour {
        Behaviour::Echo => stream.write_all(reply)?,
        Behaviour::Silent => return Ok(()),
        Behaviour::Delay(delay) => {
            thread::sleep(delay);
            stream.write_all(reply)?;
        }
        Behaviour::Fragment { piece, pause } => {
            for (index, chunk) in reply.chunks(piece.max(1)).enumerate() {
                if index > 0 {
                    thread::sleep(pause);
                }
                stream.write_all(chunk)?;
                log.sent(chunk.len());
            }
            return Ok(());
        }
    }
    log.sent(reply.len());
    Ok(())
}

/// A read timeout is `WouldBlock` on Unix and `TimedOut` on Windows.
pub(crate) fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
