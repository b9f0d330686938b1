//! Reference solution of exercise 7 — an HTTP/1.1 GET by hand.
//!
//! Graded by the exercise's own tests (`exercises/ex07-http-get/tests/`).

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Ipv6Addr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The most bytes the head of a response (status line and headers) may take.
pub const MAX_HEAD: usize = 64 * 1024;

/// How long `fetch` waits to connect to each address, and for each piece of the response.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The parts of an `http://` URL that a GET needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    pub path: String,
}

/// A response: status line, headers in the order they came, body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The value of the first header called `name`, in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        // Header names are case-insensitive (`Content-Length`, `content-length`): compare
        // them so, and keep them as the server wrote them.
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The values of every header called `name`, in any case, in the order they came.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
            .collect()
    }
}

/// Splits `http://host[:port][/path]` into its parts.
pub fn parse_url(url: &str) -> io::Result<Url> {
    let invalid = |why: String| io::Error::new(ErrorKind::InvalidInput, why);
    // The scheme is case-insensitive. `url[..8]` would panic on a shorter URL or inside a
    // multi-byte character; `url.get(..8)` gives `None` instead.
    let has_scheme = |scheme: &str| {
        url.get(..scheme.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(scheme))
    };
    if has_scheme("https://") {
        return Err(invalid(format!(
            "{url}: https needs TLS (encryption), which is not part of this exercise; \
             try an http:// URL"
        )));
    }
    if !has_scheme("http://") {
        return Err(invalid(format!(
            "{url:?} is not an http:// URL (for example http://127.0.0.1:8000/)"
        )));
    }
    let rest = &url["http://".len()..];
    // The path starts at the first `/`; nothing after `#` is ever sent to a server.
    let rest = rest.split('#').next().unwrap_or(rest);
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };

    let (host, port) = if let Some(inside) = authority.strip_prefix('[') {
        // An IPv6 address has colons of its own, so a URL puts it in brackets. The brackets
        // belong to the URL, not to the address: `connect` wants `::1`, not `[::1]`.
        let (host, after) = inside
            .split_once(']')
            .ok_or_else(|| invalid(format!("{url}: an IPv6 address opened with [ needs ]")))?;
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(invalid(format!("{url}: {host:?} is not an IPv6 address")));
        }
        let port = match after {
            "" => None,
            after => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| invalid(format!("{url}: after ] comes :PORT or the path")))?,
            ),
        };
        (host, port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        if port.is_some_and(|port| port.contains(':')) {
            return Err(invalid(format!(
                "{url}: an IPv6 address goes in brackets, as in http://[::1]:8080/"
            )));
        }
        (host, port)
    };
    if host.is_empty() {
        return Err(invalid(format!("{url}: there is no host")));
    }
    let port = match port {
        // No port (or an empty one, `http://host:/`) means HTTP's own, 80.
        None | Some("") => 80,
        Some(port) => port
            .parse::<u16>()
            .ok()
            .filter(|port| *port != 0)
            .ok_or_else(|| invalid(format!("{url}: {port:?} is not a port (1 to 65535)")))?,
    };
    Ok(Url {
        host: host.to_string(),
        port,
        path: path.to_string(),
    })
}

/// The bytes of a GET request for `path`, with `host` in its `Host` header.
pub fn request(host: &str, path: &str) -> String {
    // Every line ends with \r\n, and an empty line ends the head: without it the server
    // keeps waiting for more headers. `Connection: close` asks the server to close after
    // the response, the simplest way to know it is complete when no length is given.
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
}

/// Reads one response: status line, headers, and the body (by `Transfer-Encoding: chunked`,
/// by `Content-Length`, or until the server closes).
pub fn read_response(reader: &mut impl BufRead) -> io::Result<Response> {
    // One budget for the whole head: a server that sends header lines for ever must not
    // make us keep them for ever.
    let mut budget = MAX_HEAD;
    let status_line = read_line_within(reader, &mut budget)?;
    let (status, reason) = parse_status_line(&status_line)?;
    let mut response = Response {
        status,
        reason,
        headers: read_headers(reader, &mut budget)?,
        body: Vec::new(),
    };

    // Transfer-Encoding wins over Content-Length (RFC 9112 §6.3): a message has one or the
    // other, and a server that sends both means the chunks.
    let chunked = response.header("Transfer-Encoding").is_some_and(|codings| {
        let last = codings.rsplit(',').next().unwrap_or(codings);
        last.trim().eq_ignore_ascii_case("chunked")
    });
    if matches!(status, 100..=199 | 204 | 304) {
        // These statuses never have a body, whatever the headers say.
    } else if chunked {
        let (body, trailers) = read_chunked(reader)?;
        response.body = body;
        // Trailer fields are headers that come after the body; keep them with the others.
        response.headers.extend(trailers);
    } else if let Some(length) = response.header("Content-Length") {
        let length: u64 = length.parse().map_err(|_| {
            io::Error::new(
                ErrorKind::InvalidData,
                format!("Content-Length {length:?} is not a number"),
            )
        })?;
        response.body = read_exactly(reader, length)?;
    } else {
        // Neither: the body is everything until the server closes the connection.
        reader.read_to_end(&mut response.body)?;
    }
    Ok(response)
}

/// Connects to the URL's host and port, sends a GET for its path, and reads the response.
pub fn fetch(url: &Url) -> io::Result<Response> {
    let stream = connect(&url.host, url.port)?;
    // Without these a server that stops answering keeps us waiting for ever.
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;

    // The Host header names the server as the URL did: IPv6 back in brackets, and the port
    // unless it is HTTP's own.
    let mut host = if url.host.contains(':') {
        format!("[{}]", url.host)
    } else {
        url.host.clone()
    };
    if url.port != 80 {
        host = format!("{host}:{}", url.port);
    }
    (&stream).write_all(request(&host, &url.path).as_bytes())?;
    read_response(&mut BufReader::new(stream))
}

/// `fetch(&parse_url(url)?)`: the whole GET.
pub fn get(url: &str) -> io::Result<Response> {
    fetch(&parse_url(url)?)
}

/// Tries each address `host` resolves to, like exercise 5's `connect_with_timeout`.
fn connect(host: &str, port: u16) -> io::Result<TcpStream> {
    let mut last_error = None;
    for address in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&address, TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        io::Error::new(
            ErrorKind::InvalidInput,
            format!("{host} resolves to no address"),
        )
    }))
}

/// Reads one line of the head, taking its size from `budget`, and returns it without its
/// line ending (`\r\n`, or `\n` alone, which a tolerant client accepts).
fn read_line_within(reader: &mut impl BufRead, budget: &mut usize) -> io::Result<String> {
    let mut line = Vec::new();
    // `take` stops the read at the budget even when no `\n` ever comes.
    let count = reader
        .by_ref()
        .take(*budget as u64)
        .read_until(b'\n', &mut line)?;
    *budget -= count;
    if !line.ends_with(b"\n") {
        return Err(if *budget == 0 {
            io::Error::new(
                ErrorKind::InvalidData,
                format!("the response head is longer than {MAX_HEAD} bytes"),
            )
        } else {
            io::Error::new(
                ErrorKind::UnexpectedEof,
                "the connection closed in the middle of the response head",
            )
        });
    }
    line.pop();
    if line.ends_with(b"\r") {
        line.pop();
    }
    // Header text is ASCII; a stray byte outside it is shown as `�` rather than refused.
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// `HTTP/1.1 404 Not Found` → `(404, "Not Found")`. The reason may have spaces, or be empty.
fn parse_status_line(line: &str) -> io::Result<(u16, String)> {
    let bad = || {
        io::Error::new(
            ErrorKind::InvalidData,
            format!("{line:?} is not a status line like \"HTTP/1.1 200 OK\""),
        )
    };
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().ok_or_else(bad)?;
    let code = parts.next().ok_or_else(bad)?;
    if !version.starts_with("HTTP/") || code.len() != 3 {
        return Err(bad());
    }
    let status = code.parse().map_err(|_| bad())?;
    Ok((status, parts.next().unwrap_or("").to_string()))
}

/// Header lines up to the empty line, as (name, value) with the value trimmed.
fn read_headers(
    reader: &mut impl BufRead,
    budget: &mut usize,
) -> io::Result<Vec<(String, String)>> {
    let mut headers = Vec::new();
    loop {
        let line = read_line_within(reader, budget)?;
        if line.is_empty() {
            return Ok(headers);
        }
        let (name, value) = line.split_once(':').ok_or_else(|| {
            io::Error::new(
                ErrorKind::InvalidData,
                format!("the header line {line:?} has no colon"),
            )
        })?;
        // A value may be padded with spaces on both sides; they are not part of it. A
        // repeated header (`Set-Cookie`) is a second entry, not a replacement.
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
}

/// Exactly `length` bytes, or `UnexpectedEof` if the connection ends first.
fn read_exactly(reader: &mut impl Read, length: u64) -> io::Result<Vec<u8>> {
    // No `Vec::with_capacity(length)`: a lying server could announce terabytes. The vector
    // grows only as bytes actually arrive.
    let mut body = Vec::new();
    let count = reader.by_ref().take(length).read_to_end(&mut body)?;
    if (count as u64) < length {
        return Err(io::Error::new(
            ErrorKind::UnexpectedEof,
            format!("the body ended after {count} of the {length} bytes Content-Length announced"),
        ));
    }
    Ok(body)
}

/// A header line as (name, value).
type Header = (String, String);

/// A chunked body: `SIZE-IN-HEX[;extension]\r\n`, the data, `\r\n`, again and again until a
/// size of 0; then trailer fields and an empty line. Returns the body and the trailers.
fn read_chunked(reader: &mut impl BufRead) -> io::Result<(Vec<u8>, Vec<Header>)> {
    let mut body = Vec::new();
    loop {
        // Each size line gets a budget of its own: a long body has many of them.
        let mut budget = MAX_HEAD;
        let line = read_line_within(reader, &mut budget)?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size, 16).map_err(|_| {
            io::Error::new(
                ErrorKind::InvalidData,
                format!("{line:?} is not a chunk size (hexadecimal)"),
            )
        })?;
        if size == 0 {
            break;
        }
        body.extend(read_exactly(reader, size)?);
        // The data is followed by \r\n, which is not part of it.
        let mut budget = MAX_HEAD;
        if !read_line_within(reader, &mut budget)?.is_empty() {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                format!("a chunk of {size} bytes is not followed by \\r\\n"),
            ));
        }
    }
    let mut budget = MAX_HEAD;
    let trailers = read_headers(reader, &mut budget)?;
    Ok((body, trailers))
}
