//! Every connection is an open file, and many systems start a program with room for only
//! 1,024 (the "soft" limit). The server raises its own soft limit to what `--max-connections`
//! needs, up to the "hard" limit an ordinary user may go to, as Go's runtime does for every
//! program; it warns only when even that is not enough.
//!
//! Unix only (through nix's `setrlimit`). Windows has no such per-process limit on sockets.

/// Files the server needs besides its connections: the listener, the workers' pollers and
/// wakers, stdio.
const OVERHEAD: u64 = 64;

/// Makes room for `connections` open connections, or says in one line why it could not.
#[cfg(unix)]
pub fn make_room_for(connections: usize) -> Result<(), String> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};

    let needed = connections as u64 + OVERHEAD;
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)
        .map_err(|error| format!("cannot read the open-file limit: {error}"))?;
    if soft >= needed {
        return Ok(());
    }
    let raised = needed.min(hard);
    if setrlimit(Resource::RLIMIT_NOFILE, raised, hard).is_err() || raised < needed {
        let now = getrlimit(Resource::RLIMIT_NOFILE).map_or(soft, |(soft, _)| soft);
        return Err(format!(
            "this process may open only {now} files, fewer than --max-connections \
             {connections} needs ({needed}), and the system allows no more (hard limit \
             {hard}): lower --max-connections, or raise the hard limit as administrator"
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
pub fn make_room_for(_connections: usize) -> Result<(), String> {
    Ok(())
}
