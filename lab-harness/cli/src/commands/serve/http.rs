//! `cargo lab serve --mode http`: exercise 7's scripted HTTP server for a class.
//!
//! The very server the graded tests use (`lab_harness::HttpServer`), with an instructor's
//! limits: no recording kept, a cap on connections, a deadline for each request, and
//! connections that the keep-open pages hold for `--idle-timeout` at most. It prints the
//! same listening line as the echo modes, then the pages it serves, each with what is special
//! about it, so the class can try them by hand (`curl`, a browser, `nc`, their `ex07-webget`).

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use lab_harness::{HTTP_PAGES, HttpConfig, HttpServer, Recording};

use super::{Args, bind, files, print_summary, stop_signal, warn_and_say_how_to_stop};

/// The pause between the pieces of `/slow` and `/split`: long enough to watch in a terminal
/// (a head of about 150 bytes takes 1.5 s), short enough not to bore.
const PAUSE: Duration = Duration::from_millis(10);

/// What `--idle-timeout 0` or `--line-timeout 0` ("never") means here: a day. A connection
/// held open for ever would keep its thread for ever.
const NEVER: Duration = Duration::from_secs(24 * 60 * 60);

pub(super) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if args.fragment || args.delay_ms.is_some() || args.silent || args.coalesce {
        bail!(
            "--fragment, --delay-ms, --silent and --coalesce are for the line and raw modes; in \
             http mode each variant is a path (they are listed when the server starts)"
        );
    }
    let listener = bind(&args.host, args.port)?;
    let addr = listener.local_addr()?;
    let seconds = |count: u64| {
        if count == 0 {
            NEVER
        } else {
            Duration::from_secs(count).min(NEVER)
        }
    };
    let max_connections = args.max_connections as usize;
    let recording = Recording::new(0, 0);
    let config = HttpConfig {
        log_to_stderr: !args.quiet,
        max_connections: Some(max_connections),
        // Only totals: an instructor's server runs for hours and must not grow.
        recording: recording.clone(),
        request_timeout: seconds(args.line_timeout),
        hold: seconds(args.idle_timeout),
        pause: PAUSE,
    };

    let stop_requested = stop_signal()?;

    // Room for every connection before the first one is accepted (as in the other modes).
    let room = files::make_room_for(max_connections);
    let mut server = HttpServer::start_on(listener, config)?;
    println!("listening on {addr} (http mode)");
    io::stdout().flush()?;
    let base = if addr.ip().is_unspecified() {
        format!("http://THIS-MACHINE:{}", addr.port())
    } else {
        format!("http://{addr}")
    };
    eprintln!("pages (any other path: 404):");
    for page in HTTP_PAGES {
        eprintln!("  {base}{:<12} {}", page.path, page.about);
    }
    warn_and_say_how_to_stop(addr, room);

    let _ = stop_requested.recv();
    let turned_away = server.turned_away();
    server.stop();
    print_summary(recording.totals(), turned_away);
    Ok(ExitCode::SUCCESS)
}
