//! Graded tests for exercise 2 — lines through pseudo-files.
//!
//! Part 1 talks to real servers from the lab harness on `127.0.0.1` (port chosen by the
//! system): the reference line server, or a *scripted* server that sends two lines in one
//! write, a line in pieces, bytes that are not UTF-8, or closes mid-conversation. Part 2 plays
//! the user at the console with text in memory. Every test runs inside a watchdog: if your
//! code hangs, the test fails after a few seconds and says what the server saw.
//!
//! When a test fails, its message says what was observed, names the most likely mistake, and
//! shows the conversation on the wire (what the server received and sent, and when).
//!
//! Then the module `client` (`tests/graded/client.rs`) runs the interactive client as a real
//! program. It is a module of this file, not a test file of its own, so that `cargo test -p
//! ex02` runs every graded test (cargo stops at the first test file that fails).
//!
//! Run them with `cargo test -p ex02`; run one with `cargo test -p ex02 NAME`.

// This file also grades the reference solution (package ex02-solution), whose library is
// named `ex02_solution`: there this line makes `ex02` mean it.
#[cfg(netlab_solution)]
extern crate ex02_solution as ex02;

#[path = "graded/client.rs"]
mod client;

use std::io::{self, BufRead, BufReader, BufWriter, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ex02::{ask, ask_host, ask_port, chat, open_streams, read_line, write_line};
use lab_harness::{EchoServer, Recording, ScriptedServer, Step, Watchdog, cap_text, show_bytes};
use rstest::rstest;

/// How long any one test may take. A correct answer takes milliseconds; this leaves room for
/// a slow, busy machine.
const DEADLINE: Duration = Duration::from_secs(5);

/// How long a line may take to reach the server once it was written and flushed. On loopback
/// it takes microseconds; a line still missing after this is sitting in a buffer.
const ARRIVAL: Duration = Duration::from_secs(2);

/// How long the test's connection waits for a reply before a read fails with a timeout.
const REPLY_WAIT: Duration = Duration::from_secs(2);

/// How often code may ask for more input after the input has ended before the test calls it
/// an endless loop. Correct code asks once, and stops.
const READS_AT_END: usize = 100;

/// What a fake screen holds at most: correct code prints a few lines.
const SCREEN_LIMIT: usize = 64 * 1024;

// ---------------------------------------------------------------------------------------
// Part 1: a connection as two pseudo-files
// ---------------------------------------------------------------------------------------

/// What the test of `open_streams` saw.
struct Opened {
    /// The test's end of the connection it gave to `open_streams`.
    given: std::net::SocketAddr,
    /// The test's end of the reader's and of the writer's connection.
    reader: Option<std::net::SocketAddr>,
    writer: Option<std::net::SocketAddr>,
    /// The reply read through the reader, or why reading failed.
    reply: Result<String, String>,
}

#[test]
fn open_streams_gives_a_reader_and_a_writer_on_the_same_connection() {
    // The line server answers each line on the connection it came from: a line sent through
    // the writer must come back through the reader.
    let server = EchoServer::line();
    let port = server.port();
    let seen = Watchdog::new(DEADLINE)
        .hint(
            "no reply came back through the reader although the writer was flushed: are the \
             reader and the writer on the same connection (`try_clone`, not a new connect)?",
        )
        .watch(server.recording())
        .run(move || {
            let stream = test_client(port);
            let given = stream
                .local_addr()
                .expect("local_addr of the test's connection");
            let (mut reader, mut writer) = match open_streams(stream) {
                Ok(streams) => streams,
                Err(error) => return Err(error.to_string()),
            };
            // Whichever connection the reader is on, a reply that never comes must make the
            // read fail, not wait for ever.
            reader
                .get_ref()
                .set_read_timeout(Some(REPLY_WAIT))
                .expect("setting a read timeout on the reader's connection");
            let reader_end = reader.get_ref().local_addr().ok();
            let writer_end = writer.get_ref().local_addr().ok();
            let on_another = |end: Option<std::net::SocketAddr>| end.is_some_and(|e| e != given);
            if on_another(reader_end) || on_another(writer_end) {
                // No reply can come back: say so at once rather than wait for one.
                return Ok(Opened {
                    given,
                    reader: reader_end,
                    writer: writer_end,
                    reply: Err("not tried: two connections".into()),
                });
            }
            writer
                .write_all(b"ping\r\n")
                .expect("writing through the writer");
            writer.flush().expect("flushing the writer");
            let mut reply = String::new();
            let reply = match reader.read_line(&mut reply) {
                Ok(_) => Ok(reply),
                Err(error) => Err(error.to_string()),
            };
            Ok(Opened {
                given,
                reader: reader_end,
                writer: writer_end,
                reply,
            })
        });
    let seen = seen.unwrap_or_else(|error| {
        panic!(
            "open_streams failed: {error}\n{}",
            server.recording().describe()
        )
    });
    for (which, end) in [("reader", seen.reader), ("writer", seen.writer)] {
        let Some(end) = end.filter(|end| *end != seen.given) else {
            continue;
        };
        // The second connection is made; let the server's recording catch up with it.
        server
            .recording()
            .wait_until(Duration::from_secs(1), |all| all.len() >= 2);
        panic!(
            "open_streams was given the connection from {}, but its {which} is on another \
             connection (from {}): the server saw two connections: you connected twice. \
             `stream.try_clone()` gives a second handle to the *same* connection; a new \
             `connect` opens another one, and the replies to what the writer sends never \
             reach a reader on another connection\n{}",
            seen.given,
            end,
            server.recording().describe()
        );
    }
    let reply = seen.reply.unwrap_or_else(|error| {
        panic!(
            "sent \"ping\\r\\n\" through the writer; reading the line server's answer through \
             the reader failed: {error}\n{}",
            server.recording().describe()
        )
    });
    assert!(
        reply == "ping\r\n",
        "sent \"ping\\r\\n\" through the writer; the line server's answer read through the \
         reader was {}\n{}",
        show_bytes(reply.as_bytes()),
        server.recording().describe()
    );
    assert_eq!(
        server.recording().totals().connections,
        1,
        "open_streams must wrap the stream it is given, not open new connections: you \
         connected twice\n{}",
        server.recording().describe()
    );
}

#[rstest]
#[case::a_word("hello")]
#[case::an_empty_line("")]
#[case::spaces_and_accents("héllo, wörld !")]
#[case::spaces_and_tabs_at_both_ends("  \tindented, and spaces after  ")]
fn write_line_sends_the_line_and_crlf_at_once(#[case] line: &'static str) {
    // A silent server: it records what arrives and never answers, so nothing but your flush
    // can make the line leave.
    let server = ScriptedServer::silent();
    let port = server.port();
    let (written, connection) = Watchdog::new(DEADLINE)
        .hint("write_line did not return although the server reads everything")
        .watch(server.recording())
        .run(move || {
            let (reader, mut writer) = test_streams(port);
            let written = write_line(&mut writer, line).map_err(|error| error.to_string());
            // Keep the writer (and whatever is in its buffer) alive while the server is
            // checked: dropping a BufWriter flushes it, which would hide a missing flush.
            (written, (reader, writer))
        });
    if let Err(error) = written {
        panic!(
            "write_line({line:?}) failed: {error}\n{}",
            server.recording().describe()
        );
    }

    let expected = format!("{line}\r\n");
    // Wait for the whole line, or for a line ending that comes too early.
    let arrived = server.recording().wait_until(ARRIVAL, |connections| {
        connections
            .last()
            .is_some_and(|c| c.received.len() >= expected.len() || c.received.ends_with(b"\n"))
    });
    let received = server
        .recording()
        .last()
        .map(|c| c.received)
        .unwrap_or_default();
    assert!(
        arrived,
        "{ARRIVAL:?} after write_line({line:?}) returned, the server had received {}: {}\n{}",
        show_bytes(&received),
        explain_sent(expected.as_bytes(), &received),
        server.recording().describe()
    );
    assert!(
        received == expected.as_bytes(),
        "write_line({line:?}) sent {}; expected {} (the line exactly, then \"\\r\\n\"): {}\n{}",
        show_bytes(&received),
        show_bytes(expected.as_bytes()),
        explain_sent(expected.as_bytes(), &received),
        server.recording().describe()
    );
    drop(connection);
}

#[rstest]
#[case::crlf("hello\r\n", "hello")]
#[case::lf_only("hello\n", "hello")]
#[case::an_empty_line("\r\n", "")]
#[case::carriage_return_inside_the_line("a\rb\r\n", "a\rb")]
#[case::utf8_text("grüße, 世界\r\n", "grüße, 世界")]
#[case::spaces_at_both_ends(
    "  two spaces before, two after  \r\n",
    "  two spaces before, two after  "
)]
#[case::tabs_at_both_ends("\tbetween tabs\t\r\n", "\tbetween tabs\t")]
#[case::only_spaces("   \r\n", "   ")]
#[case::a_space_before_an_lf_ending("a space at the end \n", "a space at the end ")]
fn read_line_returns_the_line_without_its_ending(
    #[case] sent: &'static str,
    #[case] expected: &'static str,
) {
    // The line, exactly as sent, spaces and tabs included: only its ending goes.
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
             the connection is still open\n{}",
            show_bytes(sent.as_bytes()),
            server.recording().describe()
        ),
        Err(error) if is_timeout(&error) => panic!(
            "the server sent {} and kept the connection open; {}\n{}",
            show_bytes(sent.as_bytes()),
            timed_out_with_a_line(),
            server.recording().describe()
        ),
        Err(error) => panic!(
            "the server sent {} and read_line failed: {error}\n{}",
            show_bytes(sent.as_bytes()),
            server.recording().describe()
        ),
    };
    assert!(
        got == expected,
        "the server sent {}; read_line returned {}, expected {}: {}\n{}",
        show_bytes(sent.as_bytes()),
        show_bytes(got.as_bytes()),
        show_bytes(expected.as_bytes()),
        explain_line(expected, &got),
        server.recording().describe()
    );
}

#[test]
fn read_line_collects_a_line_that_arrives_in_pieces() {
    // One line, sent 3 bytes at a time: one read gets only part of it.
    let line = "HELLO, WORLD\r\n";
    let server = ScriptedServer::start(vec![Step::send_in_pieces(line, 3, pause(20)), Step::Hold]);
    let port = server.port();
    let got = Watchdog::new(DEADLINE)
        .hint("read_line did not return although the whole line had been sent")
        .watch(server.recording())
        .run(move || {
            let (mut reader, _writer) = test_streams(port);
            read_line(&mut reader)
        });
    let advice = match &got {
        Ok(Some(got)) if got.starts_with("HELLO, WORLD") => explain_line("HELLO, WORLD", got),
        Err(error) if is_timeout(error) => timed_out_with_a_line(),
        _ => "One read gives whatever has arrived so far: read up to the \"\\n\" \
              (BufRead::read_line does)"
            .to_string(),
    };
    let got = got.map_err(|error| error.to_string());
    assert_eq!(
        got.as_ref().map(Option::as_deref),
        Ok(Some("HELLO, WORLD")),
        "the server sent {} in pieces of 3 bytes, 20 ms apart; read_line returned {got:?}. \
         {advice}\n{}",
        show_bytes(line.as_bytes()),
        server.recording().describe()
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
            let first = read_line(&mut reader).map_err(|error| error.to_string());
            let second = read_line(&mut reader).map_err(|error| error.to_string());
            (first, second)
        });
    assert_eq!(
        first.as_ref().map(Option::as_deref),
        Ok(Some("one")),
        "the server sent \"one\\r\\ntwo\\r\\n\"; the first read_line returned {first:?}{}\n{}",
        match &first {
            Ok(Some(got)) => format!(": {}", explain_line("one", got)),
            _ => String::new(),
        },
        server.recording().describe()
    );
    match second {
        Ok(Some(line)) if line == "two" => {}
        Ok(None) => panic!(
            "the server sent \"one\\r\\ntwo\\r\\n\" in one write; the first read_line gave \
             \"one\" and the second returned None (end of input): the line \"two\" was lost. \
             It had arrived together with \"one\" and was waiting in a BufReader's buffer, \
             which was thrown away: a new BufReader for each call loses what the previous one \
             had read ahead. Do not wrap the reader you were given in a new BufReader: read \
             from it directly, so what it read ahead is used by the next call\n{}",
            server.recording().describe()
        ),
        other => panic!(
            "the server sent \"one\\r\\ntwo\\r\\n\" in one write; the second read_line \
             returned {other:?}, expected Some(\"two\")\n{}",
            server.recording().describe()
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
    // The server closes after sending: read_line gives the last line, then None, and None
    // again if asked again.
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
    let hint = match (results.first(), last_line) {
        _ if results.contains(&Ok(Some(String::new()))) => {
            ": an empty string is an empty line; at end of input (BufRead::read_line read 0 \
             bytes) return None, so the caller can stop"
                .to_string()
        }
        (Some(Ok(Some(got))), Some(line)) if got != line => {
            format!(": the last line is wrong: {}", explain_line(line, got))
        }
        _ => String::new(),
    };
    assert_eq!(
        results,
        expected,
        "the server sent {} and closed; these are the results of calling read_line until \
         the end, and once more{hint}\n{}",
        show_bytes(sent.as_bytes()),
        server.recording().describe()
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
        .watch(server.recording())
        .run(move || {
            let (mut reader, _writer) = test_streams(port);
            read_line(&mut reader)
        });
    match result {
        Err(error) => assert_eq!(
            error.kind(),
            ErrorKind::InvalidData,
            "expected an error of kind InvalidData, got: {error}{}\n{}",
            if is_timeout(&error) {
                format!(". {}", timed_out_with_a_line())
            } else {
                String::new()
            },
            server.recording().describe()
        ),
        Ok(Some(line)) if line.contains('\u{FFFD}') => panic!(
            "the server sent {}, which is not UTF-8, and read_line returned Ok(Some({line:?})): \
             {}\n{}",
            show_bytes(sent),
            explain_line("caf", &line),
            server.recording().describe()
        ),
        Ok(line) => panic!(
            "the server sent {}, which is not UTF-8, and read_line returned Ok({line:?}): a \
             String must hold valid UTF-8, so report the error (BufRead::read_line returns \
             one of kind InvalidData) rather than guess or replace bytes\n{}",
            show_bytes(sent),
            server.recording().describe()
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Part 2: the interactive client's pieces, with the console played from memory
// ---------------------------------------------------------------------------------------

#[rstest]
#[case::typed_on_linux_or_macos("127.0.0.1\n")]
#[case::typed_on_windows("127.0.0.1\r\n")]
fn ask_shows_the_prompt_before_waiting_for_the_answer(#[case] typed: &'static str) {
    // The keyboard notes what the screen showed when `ask` first waited for the user.
    let (answer, shown_when_waiting) = Watchdog::new(DEADLINE)
        .hint("ask did not return although an answer had been typed")
        .run(move || {
            let screen = Screen::default();
            let mut keyboard = Keyboard::typing(typed, &screen);
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
            "Standard output is flushed at each \"\\n\" and a prompt has none: flush it".into()
        } else if shown_when_waiting == b"Host: \n" {
            explain_screen("Host: ", "Host: \n")
        } else {
            "Write the prompt as given, nothing more".into()
        }
    );
    assert_eq!(
        answer,
        Ok(Some("127.0.0.1".to_string())),
        "the user typed {}; ask must return it without the line ending{}",
        show_bytes(typed.as_bytes()),
        match &answer {
            Ok(Some(got)) => format!(": {}", explain_line("127.0.0.1", got)),
            _ => String::new(),
        }
    );
}

#[test]
fn ask_returns_none_when_the_console_input_has_ended() {
    // Nothing typed at all: the prompt is shown, and the answer is None.
    let (answer, screen) = at_console(
        "",
        "ask did not return at the end of the console input",
        |keyboard, screen| ask(keyboard, screen, "Port: "),
    );
    assert_eq!(
        answer,
        Ok(None),
        "the console input had ended (Ctrl-D); ask must return None{}",
        if answer == Ok(Some(String::new())) {
            ", not an empty line: at end of input read_line must return None"
        } else {
            ""
        }
    );
    assert!(
        screen == "Port: ",
        "ask showed {}; it must show the prompt {}, and only the prompt: {}",
        show_bytes(screen.as_bytes()),
        show_bytes(b"Port: "),
        explain_screen("Port: ", &screen)
    );
}

/// Runs one of the console functions with `typed` at the keyboard and returns its result and
/// the screen.
fn at_console<T: Send + 'static>(
    typed: impl Into<String>,
    hint: &str,
    function: fn(&mut Keyboard, &mut Screen) -> io::Result<T>,
) -> (Result<T, String>, String) {
    let typed = typed.into();
    Watchdog::new(DEADLINE).hint(hint).run(move || {
        let mut screen = Screen::default();
        let mut keyboard = Keyboard::typing(&typed, &screen);
        let result = function(&mut keyboard, &mut screen).map_err(|e| e.to_string());
        (result, screen.text())
    })
}

#[test]
fn ask_host_asks_again_after_a_blank_answer() {
    // Two blank answers, then a host with spaces around it.
    let (host, screen) = at_console(
        "\n   \n  127.0.0.1 \n",
        "ask_host did not return although a host was typed on the third try",
        ask_host,
    );
    assert_eq!(
        host,
        Ok(Some("127.0.0.1".to_string())),
        "the user typed an empty line, then spaces, then \"  127.0.0.1 \"; ask_host must ask \
         again after each blank answer and return the host without the spaces around it. \
         The screen showed: {screen:?}"
    );
    assert_eq!(
        screen,
        "Host: Host: Host: ",
        "ask_host must show \"Host: \" once per try, and nothing else: {}",
        explain_screen("Host: Host: Host: ", &screen)
    );
}

#[test]
fn ask_host_returns_none_when_the_console_input_ends() {
    // A blank answer, then the end of the input: no host will come.
    let (host, _) = at_console(
        "\n",
        "ask_host did not return after the console input ended: `ask` returns None then, which \
         is not a blank answer; stop asking and return None",
        ask_host,
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
    // One answer that is not a port (0 to 65535), then a good one.
    let (port, screen) = at_console(
        format!("{bad}\n5151\n"),
        "ask_port did not return although a valid port was typed on the second try",
        ask_port,
    );
    let accepted = match &port {
        Ok(Some(wrong)) if *wrong != 5151 => format!(
            " Instead, {bad:?} was accepted as the port {wrong}: {bad} is not a port (a port \
             is a 16-bit number, 0 to 65535){}",
            if bad.parse::<i64>().is_ok_and(|n| n as u16 == *wrong) {
                format!(
                    ", and {bad} was cut to 16 bits, which gives {wrong}: it was parsed as a \
                     larger integer (a u32?) and converted with `as u16`. Parse it as a u16: \
                     `parse::<u16>()` fails for anything that is not 0 to 65535"
                )
            } else {
                String::new()
            }
        ),
        Err(error) => format!(
            " Instead, ask_port returned an error at the answer {bad:?}: {error}. A wrong \
             answer is not an error here: explain and ask again (`match` on the result of \
             parse, rather than passing its error on with `?`)."
        ),
        _ => String::new(),
    };
    assert_eq!(
        port,
        Ok(Some(5151)),
        "the user typed {bad:?}, then \"5151\"; ask_port must ask again and return 5151.\
         {accepted} The screen showed: {screen:?}"
    );
    assert_eq!(
        screen,
        "Port: Ports must be an integer between 0 and 65535\nPort: ",
        "after the answer {bad:?}, ask_port must print the explanation on a line of its own \
         and ask again: {}",
        explain_screen(
            "Port: Ports must be an integer between 0 and 65535\nPort: ",
            &screen
        )
    );
}

#[rstest]
#[case::the_lowest("0", 0)]
#[case::the_highest("65535", 65535)]
#[case::with_spaces_around("  5151 ", 5151)]
fn ask_port_accepts_every_port_from_0_to_65535(#[case] typed: &'static str, #[case] port: u16) {
    // The smallest port, the largest, and one with spaces around it: all good at once.
    let (got, screen) = at_console(
        format!("{typed}\n"),
        "ask_port did not return although a valid port was typed",
        ask_port,
    );
    assert_eq!(
        got,
        Ok(Some(port)),
        "the user typed {typed:?}, which is a port: ports go from 0 to 65535, both ends \
         included (`parse::<u16>()` accepts exactly those). The screen showed {screen:?}"
    );
    assert_eq!(
        screen,
        "Port: ",
        "a valid port needs no second question: {}",
        explain_screen("Port: ", &screen)
    );
}

#[test]
fn ask_port_returns_none_when_the_console_input_ends() {
    // A bad answer, then the end of the input: no port will come.
    let (port, screen) = at_console(
        "abc\n",
        "ask_port did not return after the console input ended: `ask` returns None then; \
         stop asking and return None",
        ask_port,
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
    /// What the server had received when chat returned.
    server_received: Vec<u8>,
    /// What your code left in the writer's buffer, never flushed (thrown away by the test:
    /// dropping a BufWriter would flush it and hide the mistake).
    unflushed: Vec<u8>,
    /// What the server saw, for a message.
    recording: Recording,
}

impl Chat {
    /// Why chat failed, for a message: a read timeout most likely means the server never got
    /// the message, and what it received says why. Ends with the conversation on the wire.
    fn explain_failure(&self) -> String {
        let mut text = match &self.result {
            Ok(()) => "chat returned Ok(())".to_string(),
            Err(error) if is_timeout(error) => {
                format!("chat waited {REPLY_WAIT:?} for a reply and none came (the read timed out)")
            }
            Err(error) => format!("chat failed: {error} ({:?})", error.kind()),
        };
        text.push_str(&format!(
            ". By then the server had received {}",
            show_bytes(&self.server_received)
        ));
        if self.server_received.is_empty() && !self.unflushed.is_empty() {
            text.push_str(&format!(
                ": nothing at all, while the writer's buffer still held {}. The message was \
                 never flushed: did you flush? (write_line does)",
                show_bytes(&self.unflushed)
            ));
        } else if self.server_received.is_empty() {
            text.push_str(
                ": nothing at all. The message is still in the writer's buffer: did you \
                 flush? (write_line does)",
            );
        } else if !self.server_received.ends_with(b"\n") {
            text.push_str(
                ": no complete line, and the server answers complete lines only. End each \
                 message with \"\\r\\n\" (write_line does)",
            );
        } else if self.server_received.ends_with(b"\r\n\r\n") {
            text.push_str(
                ": its last line is empty. An empty message ends the conversation; it is not \
                 sent to the server",
            );
        }
        text.push_str(&format!(
            ". The screen showed {:?}\n{}",
            self.screen,
            self.recording.describe()
        ));
        text
    }
}

/// Runs `chat` with `typed` at the console against the server on `port`, through the test's
/// own pseudo-files.
fn chat_with(port: u16, recording: Recording, typed: &'static str) -> Chat {
    let (mut server_in, mut server_out) = test_streams(port);
    let mut screen = Screen::default();
    let mut keyboard = Keyboard::typing(typed, &screen);
    let result = chat(&mut keyboard, &mut screen, &mut server_in, &mut server_out);
    let server_received = recording.last().map(|c| c.received).unwrap_or_default();
    // Take the writer apart without flushing it: what your code did not send stays unsent.
    let (_stream, unflushed) = server_out.into_parts();
    Chat {
        result,
        screen: screen.text(),
        server_received,
        unflushed: unflushed.unwrap_or_default(),
        recording,
    }
}

#[test]
fn chat_sends_each_message_and_shows_each_response() {
    // Two messages to the line server and back, then an empty message ends the chat.
    let server = EchoServer::line();
    let port = server.port();
    let recording = server.recording().clone();
    let chat = Watchdog::new(DEADLINE)
        .hint("chat did not finish: the conversation ends at an empty message")
        .watch(server.recording())
        .run(move || chat_with(port, recording, "hello\nhow are you?\n\n"));
    assert!(chat.result.is_ok(), "{}", chat.explain_failure());
    // What crossed the wire first (the cause), then what the screen showed (the effect).
    let received = server.recording().last().expect("one connection").received;
    assert!(
        received == b"hello\r\nhow are you?\r\n",
        "the server received {}; expected {}: each message as one line, the empty message \
         not at all ({})\n{}",
        show_bytes(&received),
        show_bytes(b"hello\r\nhow are you?\r\n"),
        explain_sent(b"hello\r\nhow are you?\r\n", &received),
        server.recording().describe()
    );
    let expected = "Message: Response: hello\nMessage: Response: how are you?\nMessage: ";
    assert_eq!(
        chat.screen,
        expected,
        "the user typed \"hello\", \"how are you?\" and an empty line; this is what the \
         screen must show: each message's prompt, each reply as `Response: …`. {}\n{}",
        explain_screen(expected, &chat.screen),
        server.recording().describe()
    );
}

#[test]
fn chat_keeps_spaces_and_tabs_at_both_ends_of_a_message() {
    // Spaces and tabs are part of a message: they go to the server, and come back, exactly.
    let server = EchoServer::line();
    let port = server.port();
    let recording = server.recording().clone();
    let chat = Watchdog::new(DEADLINE)
        .hint("chat did not finish: the conversation ends at an empty message")
        .watch(server.recording())
        .run(move || {
            chat_with(
                port,
                recording,
                "  two spaces before\n\ta tab, then spaces  \n\n",
            )
        });
    assert!(chat.result.is_ok(), "{}", chat.explain_failure());
    let sent = b"  two spaces before\r\n\ta tab, then spaces  \r\n";
    let received = server.recording().last().expect("one connection").received;
    assert!(
        received == sent,
        "the user typed \"  two spaces before\" and \"\\ta tab, then spaces  \"; the server \
         received {}, expected {}: {}\n{}",
        show_bytes(&received),
        show_bytes(sent),
        explain_sent(sent, &received),
        server.recording().describe()
    );
    let expected = "Message: Response:   two spaces before\n\
                    Message: Response: \ta tab, then spaces  \nMessage: ";
    assert_eq!(
        chat.screen,
        expected,
        "the server answered {}; each reply must be shown exactly, its spaces and tabs \
         included: {}\n{}",
        show_bytes(sent),
        explain_screen(expected, &chat.screen),
        server.recording().describe()
    );
}

#[test]
fn chat_ends_when_the_console_input_ends() {
    // One message, then the end of the input (Ctrl-D) instead of an empty message.
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
    let expected = "Message: Response: hello\nMessage: ";
    assert_eq!(
        chat.screen,
        expected,
        "{}\n{}",
        explain_screen(expected, &chat.screen),
        server.recording().describe()
    );
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
        chat.screen.contains("Response: second") || chat.result.as_ref().is_err_and(is_timeout),
        "the server answered the first message with \"first\\r\\nsecond\\r\\n\" in one write; \
         the reply to the second message, \"second\", was therefore already in the reader's \
         buffer. chat returned {:?} and the screen showed {:?}. Use the `server_in` you were \
         given for every reply: a new BufReader each time loses what the previous one had \
         read ahead\n{}",
        chat.result,
        chat.screen,
        server.recording().describe()
    );
    assert!(chat.result.is_ok(), "{}", chat.explain_failure());
    let expected = "Message: Response: first\nMessage: Response: second\nMessage: ";
    assert_eq!(
        chat.screen,
        expected,
        "{}\n{}",
        explain_screen(expected, &chat.screen),
        server.recording().describe()
    );
}

#[test]
fn chat_reports_a_server_that_closes_instead_of_answering() {
    // The server reads the first message and closes without a word.
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
             answering, got: {error} ({:?})\n{}",
            error.kind(),
            server.recording().describe()
        ),
        Ok(()) => panic!(
            "the server closed the connection instead of answering \"hello\", yet chat returned \
             Ok(()). The screen showed {:?}.{} read_line returns None when the server has \
             closed: return an UnexpectedEof error then\n{}",
            chat.screen,
            if chat.screen.contains("Response: \n") {
                " An empty response was shown, although the server sent nothing: at the end \
                 of input read_line must return None, not an empty line."
            } else {
                ""
            },
            server.recording().describe()
        ),
    }
}

// ---------------------------------------------------------------------------------------
// The test's own pieces: its connections, its keyboard and its screen. You need not read
// them to pass the tests; they are here so that you can.
// ---------------------------------------------------------------------------------------

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
fn test_streams(port: u16) -> (Input<BufReader<TcpStream>>, BufWriter<TcpStream>) {
    let stream = test_client(port);
    let reader = BufReader::new(stream.try_clone().expect("try_clone"));
    (Input::new(reader), BufWriter::new(stream))
}

/// What your code reads from in these tests: the test's end of a connection, or a keyboard.
/// It is a `BufRead` like any other. It also notices code that keeps reading after the input
/// has ended (an endless loop) and stops it with an error, [`ENDLESS`], instead of letting it
/// spin; and, for a keyboard, it notes what the screen showed when your code first waited
/// for the user.
struct Input<R> {
    inner: R,
    reads_at_end: usize,
    screen: Option<Screen>,
    shown_when_waiting: Option<Vec<u8>>,
}

/// The error an endless loop at the end of input gets.
const ENDLESS: &str = "your code read again and again after the end of input (100 times): an \
                       endless loop. At the end of input BufRead::read_line reads 0 bytes, and \
                       read_line must return None then (not an empty line), so that its caller \
                       stops";

/// The keyboard of part 2: it types `typed`, then the input ends (like Ctrl-D).
type Keyboard = Input<io::Cursor<Vec<u8>>>;

impl<R> Input<R> {
    fn new(inner: R) -> Input<R> {
        Input {
            inner,
            reads_at_end: 0,
            screen: None,
            shown_when_waiting: None,
        }
    }
}

impl Keyboard {
    fn typing(typed: &str, screen: &Screen) -> Keyboard {
        let mut keyboard = Input::new(io::Cursor::new(typed.as_bytes().to_vec()));
        keyboard.screen = Some(screen.clone());
        keyboard
    }
}

impl<R: BufRead> BufRead for Input<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if let Some(screen) = &self.screen
            && self.shown_when_waiting.is_none()
        {
            self.shown_when_waiting = Some(screen.shown().clone());
        }
        let available = self.inner.fill_buf()?;
        if available.is_empty() {
            self.reads_at_end += 1;
            if self.reads_at_end > READS_AT_END {
                return Err(io::Error::other(ENDLESS));
            }
        }
        Ok(available)
    }

    fn consume(&mut self, amount: usize) {
        self.inner.consume(amount);
    }
}

impl<R: BufRead> Read for Input<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let keyboard = self.screen.is_some();
        let mut available = self.fill_buf()?;
        // Like a terminal, a keyboard gives at most one line per read: what the user has
        // typed so far.
        if keyboard && let Some(end) = available.iter().position(|&byte| byte == b'\n') {
            available = &available[..=end];
        }
        let count = available.len().min(buf.len());
        buf[..count].copy_from_slice(&available[..count]);
        self.consume(count);
        Ok(count)
    }
}

/// A screen: everything written to it, shared with the keyboard. It holds at most
/// [`SCREEN_LIMIT`] bytes; code that prints more is in an endless loop and gets an error.
#[derive(Clone, Default)]
struct Screen(Arc<Mutex<Vec<u8>>>);

impl Screen {
    fn shown(&self) -> MutexGuard<'_, Vec<u8>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What the screen shows, for a message: its start and its end when it is long.
    fn text(&self) -> String {
        cap_text(&String::from_utf8_lossy(&self.shown()), 2000)
    }
}

impl Write for Screen {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut shown = self.shown();
        if shown.len() + data.len() > SCREEN_LIMIT {
            return Err(io::Error::other(
                "the screen is full: more than 64 KiB printed, an endless loop",
            ));
        }
        shown.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn pause(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

// ---------------------------------------------------------------------------------------
// What went wrong, in a teacher's words, from what was observed
// ---------------------------------------------------------------------------------------

/// Why a read that timed out although a whole line had arrived did.
fn timed_out_with_a_line() -> String {
    format!(
        "read_line waited {REPLY_WAIT:?} and timed out, although the whole line had arrived. \
         Read up to the \"\\n\" only (BufRead::read_line), not until the connection closes \
         (read_to_string and read_to_end wait for the end of input, which will not come)"
    )
}

/// Why a line your code read (`got`) differs from the line that was sent (`expected`,
/// without its ending).
fn explain_line(expected: &str, got: &str) -> String {
    let whitespace_removed = [expected.trim(), expected.trim_end(), expected.trim_start()];
    if got.trim_end().contains('\n') && !expected.contains('\n') {
        "more than one line came back as one: read only up to the first \"\\n\" \
         (BufRead::read_line), not until the connection closes (read_to_string and \
         read_to_end read everything)"
            .into()
    } else if got.ends_with('\n') && !expected.ends_with('\n') {
        "the line ending is still there: BufRead::read_line keeps it, strip it".into()
    } else if got.ends_with('\r') && !expected.ends_with('\r') {
        "a \"\\r\" is left behind: lines may end in \"\\r\\n\"; strip the \"\\n\" and then the \
         \"\\r\""
            .into()
    } else if got.contains('\u{FFFD}') && !expected.contains('\u{FFFD}') {
        "U+FFFD (�), the replacement character, stands where the bytes were not UTF-8: the \
         line was converted through a lossy UTF-8 string (String::from_utf8_lossy). A line that \
         is not UTF-8 is an error of kind InvalidData (BufRead::read_line reports it)"
            .into()
    } else if got != expected && whitespace_removed.contains(&got) {
        "the spaces or tabs at the start or end of the line were removed too: `trim()` and \
         `trim_end()` remove all whitespace, not only the line ending. The spaces belong to \
         the message: strip the \"\\n\", then a \"\\r\" before it, nothing else"
            .into()
    } else {
        "strip only the line ending (\"\\n\" or \"\\r\\n\"), nothing else".into()
    }
}

/// Why the bytes a server `received` differ from the lines it should have received
/// (`expected`, each ending in `\r\n`).
fn explain_sent(expected: &[u8], received: &[u8]) -> String {
    let lines = |bytes: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(bytes)
            .split_inclusive('\n')
            .map(|line| line.trim_end_matches(['\r', '\n']).to_string())
            .collect()
    };
    let has_lf_alone = received
        .iter()
        .enumerate()
        .any(|(at, byte)| *byte == b'\n' && (at == 0 || received[at - 1] != b'\r'));
    let (got, want) = (lines(received), lines(expected));
    if received.is_empty() {
        "nothing at all. A BufWriter keeps what you write until it is flushed: did you call \
         `flush()`?"
            .into()
    } else if received.starts_with(expected) && received[expected.len()..].starts_with(b"\r\n") {
        "an empty line came after the messages: an empty message ends the conversation, it is \
         not sent to the server"
            .into()
    } else if received.windows(3).any(|w| w == b"\r\n\n") {
        "each line is followed by an extra \"\\n\" (an empty line): `writeln!` adds a \"\\n\" \
         of its own after the \"\\r\\n\" you wrote. Use `write!` (or `write_all`) for a line \
         that already has its ending"
            .into()
    } else if has_lf_alone && received.ends_with(b"\n") {
        "the line ended with \"\\n\" alone: in this protocol (like HTTP, SMTP and the \
         lectures' server) a line ends with \"\\r\\n\", a \"\\r\" then a \"\\n\""
            .into()
    } else if !received.ends_with(b"\n") {
        "no line ending, and the server answers complete lines only. End the line with \
         \"\\r\\n\" (and flush after it)"
            .into()
    } else if got.len() == want.len()
        && got
            .iter()
            .zip(&want)
            .all(|(got, line)| got == line.trim() || got == line.trim_end())
    {
        "the spaces or tabs at the start or end of a line were removed: send each line \
         exactly as given (`trim()` and `trim_end()` remove all whitespace)"
            .into()
    } else {
        "each line must be sent exactly, followed by \"\\r\\n\"".into()
    }
}

/// Why a screen shows `got` instead of `expected`: the first difference, explained.
fn explain_screen(expected: &str, got: &str) -> String {
    let prompts = ["Host: ", "Port: ", "Message: "];
    if prompts
        .iter()
        .any(|prompt| got.contains(&format!("{prompt}\n")))
    {
        return "a newline follows the prompt, so the user would type on the next line: show \
                the prompt with `write!` (or `write_all`), not `writeln!` (a prompt is not a \
                line)"
            .into();
    }
    if got.contains('\r') && !expected.contains('\r') {
        return explain_line("hello", "hello\r");
    }
    if got.contains('\u{FFFD}') && !expected.contains('\u{FFFD}') {
        return explain_line("hello", "hello\u{FFFD}");
    }
    // The first line that differs, from the first character that differs.
    let pair = expected
        .split('\n')
        .zip(got.split('\n'))
        .find(|(want, have)| want != have);
    if let Some((want, have)) = pair {
        let same = want
            .char_indices()
            .zip(have.chars())
            .find(|((_, a), b)| a != b)
            .map_or(want.len().min(have.len()), |((at, _), _)| at);
        let same = same.min(have.len());
        if want.is_char_boundary(same) && have.is_char_boundary(same) {
            let (want, have) = (&want[same..], &have[same..]);
            if want.trim() == have.trim() || want.trim_end() == have {
                return explain_line(want, have);
            }
        }
    }
    "the screen must show exactly this".into()
}
