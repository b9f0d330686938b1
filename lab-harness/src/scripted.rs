//! Scripted servers: peers that misbehave on purpose, always the same way.
//!
//! Each classic student mistake shows only against a particular peer: one read taken as the
//! whole message fails only when the reply arrives in pieces; "a short read means done" fails
//! only when the sender pauses. A [`ScriptedServer`] plays a list of [`Step`]s to every
//! client, recording what the client sent, so a test can set up exactly that peer:
//!
//! ```
//! use lab_harness::{ScriptedServer, Step};
//! use std::time::Duration;
//!
//! // Sends "HEL", waits for one byte from the client, sends "LO\n", then closes.
//! let server = ScriptedServer::start(vec![
//!     Step::send("HEL"),
//!     Step::ReadExactly(1),
//!     Step::send("LO\n"),
//!     Step::Close,
//! ]);
//! # drop(server);
//! ```
//!
//! Waiting for the client (a `Read…` step) is how a script synchronises with a test: no
//! sleeping and hoping the other side has caught up.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use crate::core::{Running, Stopping};
use crate::record::{ConnectionLog, Ending, Recording, RecordingReader};
use crate::timeline::{Side, What};

/// How long a scripted read waits for the client before giving up on it. Tests have their
/// own, shorter deadlines; this only keeps an abandoned server thread from living forever.
const SCRIPT_READ_LIMIT: Duration = Duration::from_secs(60);

/// One thing a scripted server does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Write these bytes in one write.
    Send(Vec<u8>),
    /// Write these bytes `piece` bytes at a time, pausing `pause` between pieces.
    SendInPieces {
        data: Vec<u8>,
        piece: usize,
        pause: Duration,
    },
    /// Do nothing for a while.
    Pause(Duration),
    /// Wait for the client to send exactly this many bytes.
    ReadExactly(usize),
    /// Wait for the client to send one line (up to and including `\n`).
    ReadLine,
    /// Read until the client closes its side.
    ReadToEnd,
    /// Close the server's sending side; the client reads end-of-file but may still send.
    ShutdownWrite,
    /// Close the connection (the end of a script closes it too).
    Close,
    /// Abort the connection: the client's next read or write fails with a reset.
    Reset,
    /// Read and record whatever comes, never answer, until the client closes or the server
    /// is stopped: a silent server.
    Hold,
    /// Do nothing at all, not even read, until the server is stopped: the client's writes
    /// pile up in the buffers until they are full.
    Stall,
}

impl Step {
    /// `Step::Send` from a string or bytes.
    pub fn send(data: impl AsRef<[u8]>) -> Step {
        Step::Send(data.as_ref().to_vec())
    }

    /// `Step::SendInPieces` from a string or bytes.
    pub fn send_in_pieces(data: impl AsRef<[u8]>, piece: usize, pause: Duration) -> Step {
        Step::SendInPieces {
            data: data.as_ref().to_vec(),
            piece,
            pause,
        }
    }
}

/// A server that plays the same script to every client. Dropping it stops it.
pub struct ScriptedServer {
    running: Running,
}

impl ScriptedServer {
    /// Plays `steps` to every client of a new listener on `127.0.0.1` (port chosen by the
    /// system).
    pub fn start(steps: Vec<Step>) -> ScriptedServer {
        let listener = crate::bind_loopback().expect("binding 127.0.0.1:0 for a test server");
        ScriptedServer::start_on(listener, steps).expect("starting a scripted server")
    }

    /// Plays `steps` to every client of `listener`.
    pub fn start_on(listener: TcpListener, steps: Vec<Step>) -> io::Result<ScriptedServer> {
        let steps = Arc::new(steps);
        let handler = move |stream: TcpStream, log: &ConnectionLog, stopping: &Stopping| {
            play(&stream, &steps, log, stopping)
        };
        let running = Running::start(listener, Recording::default(), false, Arc::new(handler))?;
        Ok(ScriptedServer { running })
    }

    /// Accepts, reads and records, never answers.
    pub fn silent() -> ScriptedServer {
        ScriptedServer::start(vec![Step::Hold])
    }

    /// Sends `data` at once, then closes.
    pub fn sends_then_closes(data: impl AsRef<[u8]>) -> ScriptedServer {
        ScriptedServer::start(vec![Step::send(data), Step::Close])
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
}

fn play(stream: &TcpStream, steps: &[Step], log: &ConnectionLog, stopping: &Stopping) -> Ending {
    let _ = stream.set_read_timeout(Some(SCRIPT_READ_LIMIT));
    // Pieces must leave as pieces, not be merged by Nagle's algorithm.
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(RecordingReader { inner: stream, log });
    let mut writer = stream;
    for step in steps {
        match play_step(step, &mut reader, &mut writer, log, stopping) {
            Ok(None) => {}
            Ok(Some(ending)) => return ending,
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
                return Ending::ClientClosed;
            }
            Err(error) => return Ending::Failed(error.kind(), error.to_string()),
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
    Ending::ServerClosed("end of script".into())
}

/// Plays one step; `Some(ending)` ends the script early.
fn play_step(
    step: &Step,
    reader: &mut impl BufRead,
    writer: &mut &TcpStream,
    log: &ConnectionLog,
    stopping: &Stopping,
) -> io::Result<Option<Ending>> {
    match step {
        Step::Send(data) => {
            writer.write_all(data)?;
            log.sent_data(data);
        }
        Step::SendInPieces { data, piece, pause } => {
            for (index, chunk) in data.chunks((*piece).max(1)).enumerate() {
                if index > 0 && stopping.wait(*pause) {
                    return Ok(Some(Ending::ServerClosed("server stopped".into())));
                }
                writer.write_all(chunk)?;
                log.sent_data(chunk);
            }
        }
        Step::Pause(pause) => {
            if stopping.wait(*pause) {
                return Ok(Some(Ending::ServerClosed("server stopped".into())));
            }
        }
        Step::Stall => {
            log.event(What::Note("the server stops reading".into()));
            stopping.wait(SCRIPT_READ_LIMIT);
            return Ok(Some(Ending::ServerClosed("stalled until stopped".into())));
        }
        Step::ReadExactly(count) => {
            let mut buffer = vec![0; *count];
            reader.read_exact(&mut buffer)?;
        }
        Step::ReadLine => {
            if reader.read_until(b'\n', &mut Vec::new())? == 0 {
                return Ok(Some(Ending::ClientClosed));
            }
        }
        Step::ReadToEnd => {
            io::copy(reader, &mut io::sink())?;
            return Ok(None);
        }
        Step::ShutdownWrite => {
            writer.shutdown(Shutdown::Write)?;
            log.event(What::Shutdown { by: Side::Server });
        }
        Step::Close => {
            writer.shutdown(Shutdown::Both)?;
            return Ok(Some(Ending::ServerClosed("closed by the script".into())));
        }
        Step::Reset => {
            // A zero linger turns the close into a reset (RST) instead of a FIN.
            socket2::SockRef::from(*writer).set_linger(Some(Duration::ZERO))?;
            log.event(What::Reset { by: Side::Server });
            return Ok(Some(Ending::ServerClosed("reset by the script".into())));
        }
        Step::Hold => loop {
            match io::copy(reader, &mut io::sink()) {
                Ok(_) => return Ok(Some(Ending::ClientClosed)),
                Err(error) if crate::echo::is_timeout(&error) => continue,
                Err(error) => return Err(error),
            }
        },
    }
    Ok(None)
}
