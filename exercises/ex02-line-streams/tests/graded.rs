//! Graded tests for exercise 2 — lines through pseudo-files.
//!
//! Part 1 talks to real servers from the lab harness on `127.0.0.1` (port chosen by the
//! system): the reference line server, or a *scripted* server that sends two lines in one
//! write, a line in pieces, bytes that are not UTF-8, or closes mid-conversation. Part 2 plays
//! the user at the console with text in memory. Every test runs inside a watchdog: if your
//! code hangs, the test fails after a few seconds and says what the server saw.
//!
//! `tests/client.rs` then runs the interactive client as a real program.
//!
//! Run them with `cargo test -p ex02`; run one with `cargo test -p ex02 NAME`.

use std::cell::RefCell;
use std::io::{self, BufRead, BufReader, BufWriter, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::time::Duration;

use ex02::{ask, ask_host, ask_port, chat, open_streams, read_line, write_line};
use lab_harness::{EchoServer, ScriptedServer, Step, Watchdog, show_bytes};
use rstest::rstest;

/// How long any one test may take. Generous: these take milliseconds when correct.
const DEADLINE: Duration = Duration::from_secs(10);

/// How long a line may take to reach the server once it was written and flushed. On loopback
/// it takes microseconds; a line still missing after this is sitting in a buffer.
const ARRIVAL: Duration = Duration::from_secs(2);

/// A connection made by the test itself, with a read timeout so that a read that can never
/// be answered fails instead of hanging.
fn test_client(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("the test's own connection failed");
    stream
        .set_read_timeout(Some(REPLY_WAIT))
        .expect("setting a read timeout");
    stream
}

/// The test's own pseudo-files over one connection (so a test of `read_line` does not depend
/// on your `open_streams`).
fn test_streams(port: u16) -> (BufReader<TcpStream>, BufWriter<TcpStream>) {
    let stream = test_client(port);
    let reader = BufReader::new(stream.try_clone().expect("try_clone"));
    (reader, BufWriter::new(stream))
}

fn pause(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

// ---------------------------------------------------------------------------------------
// Part 1: a connection as two pseudo-files
// ---------------------------------------------------------------------------------------

#[test]
fn open_streams_gives_a_reader_and_a_writer_on_the_same_connection() {
    let server = EchoServer::line();
    let port = server.port();
    let reply = Watchdog::new(DEADLINE)
        .hint(
            "no reply came back through the reader although the writer was flushed: are the \
             reader and the writer on the same connection (`try_clone`, not a new connect)?",
        )
        .watch(server.recording())
        .run(move || {
            let (mut reader, mut writer) =
                open_streams(test_client(port)).expect("open_streams failed");
            writer
                .write_all(b"ping\r\n")
                .expect("writing through the writer");
            writer.flush().expect("flushing the writer");
            let mut reply = String::new();
            reader
                .read_line(&mut reply)
                .expect("reading through the reader");
            reply
        });
    assert_eq!(
        reply,
        "ping\r\n",
        "sent \"ping\\r\\n\" through the writer; the line server's answer read through the \
         reader was {}\n{}",
        show_bytes(reply.as_bytes()),
        server.recording().describe()
    );
    assert_eq!(
        server.recording().totals().connections,
        1,
        "open_streams must wrap the stream it is given, not open new connections\n{}",
        server.recording().describe()
    );
}

#[rstest]
#[case::a_word("hello")]
#[case::an_empty_line("")]
#[case::spaces_and_accents("héllo, wörld !")]
fn write_line_sends_the_line_and_crlf_at_once(#[case] line: &'static str) {
    // A silent server: it records what arrives and never answers, so nothing but your flush
    // can make the line leave.
    let server = ScriptedServer::silent();
    let port = server.port();
    let connection = Watchdog::new(DEADLINE)
        .hint("write_line did not return although the server reads everything")
        .watch(server.recording())
        .run(move || {
            let (reader, mut writer) = test_streams(port);
            write_line(&mut writer, line).expect("write_line failed");
            // Keep the writer (and whatever is in its buffer) alive while the server is
            // checked: dropping a BufWriter flushes it, which would hide a missing flush.
            (reader, writer)
        });

    let expected = format!("{line}\r\n");
    let arrived = server.recording().wait_until(ARRIVAL, |connections| {
        connections
            .last()
            .is_some_and(|c| c.received.len() >= expected.len())
    });
    let received = server
        .recording()
        .last()
        .map(|c| c.received)
        .unwrap_or_default();
    assert!(
        arrived,
        "{ARRIVAL:?} after write_line({line:?}) returned, the server had received {}: {}",
        show_bytes(&received),
        if received.is_empty() {
            "nothing at all. A BufWriter keeps what you write until it is flushed: did you \
             call `flush()`?"
        } else {
            "not the whole line. The line must end with \"\\r\\n\", and be flushed"
        }
    );
    assert!(
        received == expected.as_bytes(),
        "write_line({line:?}) sent {}; expected {} (the line, then \"\\r\\n\")",
        show_bytes(&received),
        show_bytes(expected.as_bytes())
    );
    drop(connection);
}

#[rstest]
#[case::crlf("hello\r\n", "hello")]
#[case::lf_only("hello\n", "hello")]
#[case::an_empty_line("\r\n", "")]
#[case::carriage_return_inside_the_line("a\rb\r\n", "a\rb")]
#[case::utf8_text("grüße, 世界\r\n", "grüße, 世界")]
fn read_line_returns_the_line_without_its_ending(
    #[case] sent: &'static str,
    #[case] expected: &'static str,
) {
    let server = ScriptedServer::start(vec![Step::send(sent), Step::Hold]);
    let port = server.port();
    let got = Watchdog::new(DEADLINE)
        .hint("read_line did not return although a whole line had been sent")
        .watch(server.recording())
        .run(move || {
            let (mut reader, _writer) = test_streams(port);
            read_line(&mut reader)
        });
    let got = match got {
        Ok(Some(line)) => line,
        Ok(None) => panic!(
            "the server sent {} and read_line returned None: None means end of input, and \
             the connection is still open",
            show_bytes(sent.as_bytes())
        ),
        Err(error) => panic!(
            "the server sent {} and read_line failed: {error}",
            show_bytes(sent.as_bytes())
        ),
    };
    let hint = if got.ends_with('\n') {
        "the line ending is still there: BufRead::read_line keeps it, strip it"
    } else if got.ends_with('\r') {
        "a \"\\r\" is left behind: lines may end in \"\\r\\n\"; strip the \"\\n\" and then the \
         \"\\r\""
    } else {
        "strip only the line ending (\"\\n\" or \"\\r\\n\"), nothing else"
    };
    assert_eq!(
        got,
        expected,
        "the server sent {}; read_line returned {}, expected {}: {hint}",
        show_bytes(sent.as_bytes()),
        show_bytes(got.as_bytes()),
        show_bytes(expected.as_bytes())
    );
}

#[test]
fn read_line_collects_a_line_that_arrives_in_pieces() {
    let line = "HELLO, WORLD\r\n";
    let server = ScriptedServer::start(vec![Step::send_in_pieces(line, 3, pause(20)), Step::Hold]);
    let port = server.port();
    let got = Watchdog::new(DEADLINE)
        .hint("read_line did not return although the whole line had been sent")
        .watch(server.recording())
        .run(move || {
            let (mut reader, _writer) = test_streams(port);
            read_line(&mut reader)
        })
        .expect("read_line failed");
    assert_eq!(
        got.as_deref(),
        Some("HELLO, WORLD"),
        "the server sent {} in pieces of 3 bytes, 20 ms apart; read_line returned {got:?}. \
         One read gives whatever has arrived so far: read up to the \"\\n\" \
         (BufRead::read_line does)",
        show_bytes(line.as_bytes())
    );
}

#[test]
fn read_line_keeps_the_second_of_two_lines_sent_in_one_write() {
    // Both lines leave in one write, so they arrive together: the first read takes both, and
    // the reader keeps the second in its buffer for the next call.
    let server = ScriptedServer::start(vec![Step::send("one\r\ntwo\r\n"), Step::Close]);
    let port = server.port();
    let (first, second) = Watchdog::new(DEADLINE)
        .hint("read_line did not return although two lines had been sent")
        .watch(server.recording())
        .run(move || {
            let (mut reader, _writer) = test_streams(port);
            let first = read_line(&mut reader);
            let second = read_line(&mut reader);
            (first, second)
        });
    let first = first.expect("the first read_line failed");
    assert_eq!(
        first.as_deref(),
        Some("one"),
        "the server sent \"one\\r\\ntwo\\r\\n\"; the first read_line returned {first:?}"
    );
    match second {
        Ok(Some(line)) if line == "two" => {}
        Ok(None) => panic!(
            "the server sent \"one\\r\\ntwo\\r\\n\" in one write; the first read_line gave \
             \"one\" and the second returned None (end of input): the line \"two\" was lost. \
             It had arrived together with \"one\" and was waiting in a BufReader's buffer. Do \
             not wrap the reader you were given in a new BufReader: read from it directly, so \
             what it read ahead is used by the next call"
        ),
        other => panic!(
            "the server sent \"one\\r\\ntwo\\r\\n\" in one write; the second read_line \
             returned {other:?}, expected Some(\"two\")"
        ),
    }
}

#[rstest]
#[case::after_a_complete_line("last\r\n", Some("last"))]
#[case::after_a_last_line_without_an_ending("no ending", Some("no ending"))]
#[case::with_nothing_sent("", None)]
fn read_line_returns_none_at_end_of_input(
    #[case] sent: &'static str,
    #[case] last_line: Option<&'static str>,
) {
    let server = ScriptedServer::start(vec![Step::send(sent), Step::Close]);
    let port = server.port();
    let results = Watchdog::new(DEADLINE)
        .hint(
            "read_line did not return after the server closed the connection. At end of input \
             BufRead::read_line returns 0 (bytes read), at once and every time: return None \
             then instead of waiting or looping",
        )
        .watch(server.recording())
        .run(move || {
            let (mut reader, _writer) = test_streams(port);
            let calls = if last_line.is_some() { 3 } else { 2 };
            (0..calls)
                .map(|_| read_line(&mut reader).map_err(|e| e.to_string()))
                .collect::<Vec<_>>()
        });
    let mut expected: Vec<Result<Option<String>, String>> = last_line
        .map(|l| Ok(Some(l.to_string())))
        .into_iter()
        .collect();
    expected.extend([Ok(None), Ok(None)]);
    let hint = if results.contains(&Ok(Some(String::new()))) {
        ": an empty string is an empty line; at end of input (BufRead::read_line read 0 bytes) \
         return None, so the caller can stop"
    } else {
        ""
    };
    assert_eq!(
        results,
        expected,
        "the server sent {} and closed; these are the results of calling read_line until \
         the end, and once more{hint}",
        show_bytes(sent.as_bytes())
    );
}

#[test]
fn read_line_reports_bytes_that_are_not_utf8_as_invalid_data() {
    // "café" in Latin-1: the é is the single byte 0xE9, which is not valid UTF-8.
    let sent = b"caf\xe9\r\n";
    let server = ScriptedServer::start(vec![Step::send(sent), Step::Hold]);
    let port = server.port();
    let result = Watchdog::new(DEADLINE)
        .hint("read_line did not return although a whole line had been sent")
        .run(move || {
            let (mut reader, _writer) = test_streams(port);
            read_line(&mut reader)
        });
    match result {
        Err(error) => assert_eq!(
            error.kind(),
            ErrorKind::InvalidData,
            "expected an error of kind InvalidData, got: {error}"
        ),
        Ok(line) => panic!(
            "the server sent {}, which is not UTF-8, and read_line returned Ok({line:?}): a \
             String must hold valid UTF-8, so report the error (BufRead::read_line returns \
             one of kind InvalidData) rather than guess or replace bytes",
            show_bytes(sent)
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Part 2: the interactive client's pieces, with the console played from memory
// ---------------------------------------------------------------------------------------

/// A screen: everything written to it, shared with the keyboard below.
#[derive(Clone, Default)]
struct Screen(Rc<RefCell<Vec<u8>>>);

impl Write for Screen {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A keyboard that types `typed`, and notes what the screen showed when the program first
/// waited for it: a prompt still sitting in an output buffer is not on the screen yet.
struct Keyboard {
    typed: io::Cursor<Vec<u8>>,
    screen: Screen,
    shown_when_waiting: Option<Vec<u8>>,
}

impl Keyboard {
    fn note_screen(&mut self) {
        if self.shown_when_waiting.is_none() {
            self.shown_when_waiting = Some(self.screen.0.borrow().clone());
        }
    }
}

impl Read for Keyboard {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.note_screen();
        self.typed.read(buf)
    }
}

impl BufRead for Keyboard {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.note_screen();
        self.typed.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.typed.consume(amount);
    }
}

#[rstest]
#[case::typed_on_linux_or_macos("127.0.0.1\n")]
#[case::typed_on_windows("127.0.0.1\r\n")]
fn ask_shows_the_prompt_before_waiting_for_the_answer(#[case] typed: &'static str) {
    let (answer, shown_when_waiting) = Watchdog::new(DEADLINE)
        .hint("ask did not return although an answer had been typed")
        .run(move || {
            let screen = Screen::default();
            let mut keyboard = Keyboard {
                typed: io::Cursor::new(typed.as_bytes().to_vec()),
                screen: screen.clone(),
                shown_when_waiting: None,
            };
            // Buffered like the real standard output: text without a "\n" stays in the
            // buffer until a flush.
            let mut console_out = BufWriter::new(screen);
            let answer = ask(&mut keyboard, &mut console_out, "Host: ");
            let answer = answer.map_err(|e| e.to_string());
            (answer, keyboard.shown_when_waiting.unwrap_or_default())
        });
    assert!(
        shown_when_waiting == b"Host: ",
        "when ask waited for the answer, the screen showed {}; the prompt {} must be visible \
         by then, exactly. {}",
        show_bytes(&shown_when_waiting),
        show_bytes(b"Host: "),
        if shown_when_waiting.is_empty() {
            "Standard output is flushed at each \"\\n\" and a prompt has none: flush it"
        } else {
            "Write the prompt as given, nothing more"
        }
    );
    assert_eq!(
        answer,
        Ok(Some("127.0.0.1".to_string())),
        "the user typed {}; ask must return it without the line ending",
        show_bytes(typed.as_bytes())
    );
}

#[test]
fn ask_returns_none_when_the_console_input_has_ended() {
    let (answer, screen) = Watchdog::new(DEADLINE)
        .hint("ask did not return at the end of the console input")
        .run(|| {
            let mut screen = Vec::new();
            let answer = ask(&mut io::empty(), &mut screen, "Port: ").map_err(|e| e.to_string());
            (answer, screen)
        });
    assert_eq!(
        answer,
        Ok(None),
        "the console input had ended (Ctrl-D); ask must return None"
    );
    assert!(
        screen == b"Port: ",
        "ask showed {}; it must show the prompt {}, and only the prompt",
        show_bytes(&screen),
        show_bytes(b"Port: ")
    );
}

/// Runs one of the console functions on `typed` and returns its result and the screen.
fn at_console<T: Send + 'static>(
    typed: impl Into<String>,
    hint: &str,
    function: fn(&mut &[u8], &mut Vec<u8>) -> io::Result<T>,
) -> (Result<T, String>, String) {
    let typed = typed.into();
    Watchdog::new(DEADLINE).hint(hint).run(move || {
        let mut keyboard = typed.as_bytes();
        let mut screen = Vec::new();
        let result = function(&mut keyboard, &mut screen).map_err(|e| e.to_string());
        (result, String::from_utf8_lossy(&screen).into_owned())
    })
}

#[test]
fn ask_host_asks_again_after_a_blank_answer() {
    let (host, screen) = at_console(
        "\n   \n  127.0.0.1 \n",
        "ask_host did not return although a host was typed on the third try",
        |keyboard, screen| ask_host(keyboard, screen),
    );
    assert_eq!(
        host,
        Ok(Some("127.0.0.1".to_string())),
        "the user typed an empty line, then spaces, then \"  127.0.0.1 \"; ask_host must ask \
         again after each blank answer and return the host without the spaces around it. \
         The screen showed: {screen:?}"
    );
    assert_eq!(
        screen, "Host: Host: Host: ",
        "ask_host must show \"Host: \" once per try, and nothing else"
    );
}

#[test]
fn ask_host_returns_none_when_the_console_input_ends() {
    let (host, _) = at_console(
        "\n",
        "ask_host did not return after the console input ended: `ask` returns None then, which \
         is not a blank answer; stop asking and return None",
        |keyboard, screen| ask_host(keyboard, screen),
    );
    assert_eq!(
        host,
        Ok(None),
        "the user typed one empty line and then the input ended; ask_host must return None"
    );
}

#[rstest]
#[case::not_a_number("localhost")]
#[case::negative("-1")]
#[case::too_large("65536")]
#[case::far_too_large("99999999999999999999")]
#[case::empty("")]
#[case::not_an_integer("80.5")]
fn ask_port_explains_and_asks_again_after_a_bad_answer(#[case] bad: &'static str) {
    let (port, screen) = at_console(
        format!("{bad}\n5151\n"),
        "ask_port did not return although a valid port was typed on the second try",
        |keyboard, screen| ask_port(keyboard, screen),
    );
    assert_eq!(
        port,
        Ok(Some(5151)),
        "the user typed {bad:?}, then \"5151\"; ask_port must ask again and return 5151. The \
         screen showed: {screen:?}"
    );
    assert_eq!(
        screen, "Port: Ports must be an integer between 0 and 65535\nPort: ",
        "after the answer {bad:?}, ask_port must print the explanation on a line of its own \
         and ask again"
    );
}

#[rstest]
#[case::the_lowest("0", 0)]
#[case::the_highest("65535", 65535)]
#[case::with_spaces_around("  5151 ", 5151)]
fn ask_port_accepts_every_port_from_0_to_65535(#[case] typed: &'static str, #[case] port: u16) {
    let (got, screen) = at_console(
        format!("{typed}\n"),
        "ask_port did not return although a valid port was typed",
        |keyboard, screen| ask_port(keyboard, screen),
    );
    assert_eq!(
        got,
        Ok(Some(port)),
        "the user typed {typed:?}; the screen showed {screen:?}"
    );
    assert_eq!(screen, "Port: ", "a valid port needs no second question");
}

#[test]
fn ask_port_returns_none_when_the_console_input_ends() {
    let (port, screen) = at_console(
        "abc\n",
        "ask_port did not return after the console input ended: `ask` returns None then; \
         stop asking and return None",
        |keyboard, screen| ask_port(keyboard, screen),
    );
    assert_eq!(
        port,
        Ok(None),
        "the user typed \"abc\" and then the input ended; ask_port must return None. The \
         screen showed: {screen:?}"
    );
}

/// What one run of `chat` did.
struct Chat {
    result: io::Result<()>,
    /// What the console showed.
    screen: String,
    /// What the server had received when chat returned (before the test's writer is
    /// dropped, which would flush whatever your code left in it).
    server_received: Vec<u8>,
}

impl Chat {
    /// Why chat failed, for a message: a read timeout most likely means the server never got
    /// the message, and what it received says why.
    fn explain_failure(&self) -> String {
        let Err(error) = &self.result else {
            return "chat returned Ok(())".to_string();
        };
        let mut text = if is_timeout(error) {
            format!("chat waited {REPLY_WAIT:?} for a reply and none came (the read timed out)")
        } else {
            format!("chat failed: {error} ({:?})", error.kind())
        };
        text.push_str(&format!(
            ". By then the server had received {}",
            show_bytes(&self.server_received)
        ));
        if self.server_received.is_empty() {
            text.push_str(
                ": nothing at all. The message is still in the writer's buffer: did you \
                 flush? (write_line does)",
            );
        } else if !self.server_received.ends_with(b"\n") {
            text.push_str(
                ": no complete line, and the server answers complete lines only. End each \
                 message with \"\\r\\n\" (write_line does)",
            );
        }
        text.push_str(&format!(". The screen showed {:?}", self.screen));
        text
    }
}

/// How long the test's connection waits for a reply before a read fails with a timeout.
const REPLY_WAIT: Duration = Duration::from_secs(3);

/// Runs `chat` with `typed` at the console against the server on `port`, through the test's
/// own pseudo-files.
fn chat_with(port: u16, recording: lab_harness::Recording, typed: &'static str) -> Chat {
    let (mut server_in, mut server_out) = test_streams(port);
    let mut keyboard = typed.as_bytes();
    let mut screen = Vec::new();
    let result = chat(&mut keyboard, &mut screen, &mut server_in, &mut server_out);
    let server_received = recording.last().map(|c| c.received).unwrap_or_default();
    Chat {
        result,
        screen: String::from_utf8_lossy(&screen).into_owned(),
        server_received,
    }
}

#[test]
fn chat_sends_each_message_and_shows_each_response() {
    let server = EchoServer::line();
    let port = server.port();
    let recording = server.recording().clone();
    let chat = Watchdog::new(DEADLINE)
        .hint("chat did not finish: the conversation ends at an empty message")
        .watch(server.recording())
        .run(move || chat_with(port, recording, "hello\nhow are you?\n\n"));
    assert!(chat.result.is_ok(), "{}", chat.explain_failure());
    assert_eq!(
        chat.screen, "Message: Response: hello\nMessage: Response: how are you?\nMessage: ",
        "the user typed \"hello\", \"how are you?\" and an empty line; this is what the \
         screen must show: each message's prompt, each reply as `Response: …`"
    );
    let received = server.recording().last().expect("one connection").received;
    assert!(
        received == b"hello\r\nhow are you?\r\n",
        "the server received {}; expected {}: each message as one line, the empty message \
         not at all",
        show_bytes(&received),
        show_bytes(b"hello\r\nhow are you?\r\n")
    );
}

#[test]
fn chat_ends_when_the_console_input_ends() {
    let server = EchoServer::line();
    let port = server.port();
    let recording = server.recording().clone();
    let chat = Watchdog::new(DEADLINE)
        .hint(
            "chat did not return after the console input ended: `ask` returns None then; \
             treat it like an empty message",
        )
        .watch(server.recording())
        .run(move || chat_with(port, recording, "hello\n"));
    assert!(
        chat.result.is_ok(),
        "the console input ended after one message, a normal way to quit, but: {}",
        chat.explain_failure()
    );
    assert_eq!(chat.screen, "Message: Response: hello\nMessage: ");
}

#[test]
fn chat_keeps_a_reply_that_arrived_together_with_the_previous_one() {
    // Answers the first message with two lines in one write, then reads the second message
    // and closes: the reply to it is already in the client's reader.
    let server = ScriptedServer::start(vec![
        Step::ReadLine,
        Step::send("first\r\nsecond\r\n"),
        Step::ReadLine,
        Step::Close,
    ]);
    let port = server.port();
    let recording = server.recording().clone();
    let chat = Watchdog::new(DEADLINE)
        .hint("chat did not finish although both replies had been sent")
        .watch(server.recording())
        .run(move || chat_with(port, recording, "a\nb\n\n"));
    assert!(
        chat.result
            .as_ref()
            .is_ok_and(|_| chat.screen.contains("Response: second"))
            || chat.result.as_ref().is_err_and(is_timeout),
        "the server answered the first message with \"first\\r\\nsecond\\r\\n\" in one write; \
         the reply to the second message, \"second\", was therefore already in the reader's \
         buffer. chat returned {:?} and the screen showed {:?}. Use the `server_in` you were \
         given for every reply: a new BufReader each time loses what the previous one had \
         read ahead",
        chat.result,
        chat.screen
    );
    assert!(chat.result.is_ok(), "{}", chat.explain_failure());
    assert_eq!(
        chat.screen,
        "Message: Response: first\nMessage: Response: second\nMessage: "
    );
}

#[test]
fn chat_reports_a_server_that_closes_instead_of_answering() {
    let server = ScriptedServer::start(vec![Step::ReadLine, Step::Close]);
    let port = server.port();
    let recording = server.recording().clone();
    let chat = Watchdog::new(DEADLINE)
        .hint(
            "chat did not return after the server closed the connection: read_line returns \
             None then, every time",
        )
        .watch(server.recording())
        .run(move || chat_with(port, recording, "hello\nagain\n\n"));
    match &chat.result {
        Err(error) if error.kind() == ErrorKind::UnexpectedEof => {}
        Err(error) if is_timeout(error) => panic!(
            "this server closes the connection once it has received a line. {}",
            chat.explain_failure()
        ),
        Err(error) => panic!(
            "expected an error of kind UnexpectedEof when the server closes instead of \
             answering, got: {error} ({:?})",
            error.kind()
        ),
        Ok(()) => panic!(
            "the server closed the connection instead of answering \"hello\", yet chat returned \
             Ok(()). The screen showed {:?}. read_line returns None when the server has \
             closed: return an UnexpectedEof error then",
            chat.screen
        ),
    }
}
