#!/usr/bin/env bash
# Measures the reference echo server (`cargo lab serve`) against a plain tokio echo server
# (bench-peers/, dev-only) and a plain Python asyncio echo server (scripts/asyncio_echo.py),
# all three under the same `cargo lab bench`, in one run, on 127.0.0.1 only.
#
# For each load (1, 50 and 1,000 connections of 512-byte ping-pong messages) the three
# servers take turns, RUNS times over, so a change in the machine's load hits them alike;
# then it prints the medians and the ratios as a Markdown table (docs/src/benchmarks.md).
#
# Usage: scripts/bench-compare.sh            (RUNS=3 MODE=line SIZE=512 by default)
#        RUNS=5 MODE=raw scripts/bench-compare.sh
# Needs python3 (3.8+). Takes about a minute with RUNS=3.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
MODE=${MODE:-line}
SIZE=${SIZE:-512}
# connections:messages per connection (about 20,000 to 100,000 messages per bench)
LOADS=${LOADS:-"1:20000 50:2000 1000:100"}

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in ${pids[@]+"${pids[@]}"}; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "building (release)..." >&2
cargo build --release --quiet -p lab-cli --bin lab -p bench-peers --bin tokio-echo
lab=target/release/lab

# start NAME COMMAND...: starts a server, waits (10 s at most) for its listening line, and
# sets addr_NAME to its address (plain variables: macOS still ships bash 3.2).
start() {
  local name=$1
  shift
  "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  for _ in $(seq 100); do
    if grep -q '^listening on ' "$work/$name.out" 2>/dev/null; then
      printf -v "addr_$name" '%s' "$(awk '/^listening on /{print $3; exit}' "$work/$name.out")"
      return
    fi
    sleep 0.1
  done
  echo "$name did not start:" >&2
  cat "$work/$name.err" >&2
  exit 1
}
# The reference server as an instructor runs it, less the per-connection log lines (the
# peers log nothing either), with room for the 1,000-connection load twice over.
start lab "$lab" serve --port 0 --mode "$MODE" --quiet --max-connections 5000
start tokio target/release/tokio-echo --mode "$MODE"
start asyncio python3 scripts/asyncio_echo.py --mode "$MODE"

echo "machine: $(getconf _NPROCESSORS_ONLN) cores, $(uname -sr); load before: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime)" >&2
results="$work/results.tsv"
for run in $(seq "$RUNS"); do
  for load in $LOADS; do
    connections=${load%%:*}
    messages=${load##*:}
    for server in lab tokio asyncio; do
      out="$work/bench.out"
      status=0
      addr_var="addr_$server"
      "$lab" bench --addr "${!addr_var}" --connections "$connections" \
        --messages "$messages" --size "$SIZE" --mode "$MODE" --timeout 10 --time-limit 120 \
        >"$out" 2>/dev/null || status=$?
      rps=$(awk '/^requests/{for (i = 1; i <= NF; i++) if ($i == "req/s") print $(i - 1)}' "$out")
      p99=$(awk '/^latency/{for (i = 1; i <= NF; i++) if ($i == "p99") print $(i + 1)}' "$out")
      errors=$(awk '/^errors/{print ($2 == "none" ? 0 : $2 + 0)}' "$out")
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$connections" "$server" "${rps:-0}" "${p99:-nan}" "${errors:-?}" >>"$results"
      printf 'run %s, %4s connections, %-8s %8s req/s, p99 %s ms, errors %s (exit %s)\n' \
        "$run" "$connections" "$server" "${rps:-0}" "${p99:-?}" "${errors:-?}" "$status" >&2
    done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime)" >&2

python3 - "$results" "$RUNS" "$MODE" "$SIZE" <<'PY'
import statistics, sys
from collections import defaultdict

path, runs, mode, size = sys.argv[1:]
rps, p99, errors = defaultdict(list), defaultdict(list), defaultdict(int)
for line in open(path):
    run, connections, server, r, p, e = line.rstrip("\n").split("\t")
    key = (int(connections), server)
    rps[key].append(float(r))
    p99[key].append(float(p))
    errors[key] += int(e) if e.isdigit() else 0

print(f"Median of {runs} runs, {mode} mode, {size}-byte messages, ping-pong; req/s (p99 latency)\n")
print("| connections | cargo lab serve | tokio echo | Python asyncio | lab / tokio | lab / asyncio |")
print("|---:|---:|---:|---:|---:|---:|")
for connections in sorted({c for c, _ in rps}):
    med = {s: statistics.median(rps[(connections, s)]) for s in ("lab", "tokio", "asyncio")}
    lat = {s: statistics.median(p99[(connections, s)]) for s in ("lab", "tokio", "asyncio")}
    cells = [f"{med[s]:,.0f} ({lat[s]:.2f} ms)" for s in ("lab", "tokio", "asyncio")]
    ratio = lambda other: f"{med['lab'] / med[other]:.2f}" if med[other] else "n/a"
    print(f"| {connections:,} | " + " | ".join(cells) + f" | {ratio('tokio')} | {ratio('asyncio')} |")
failed = {k: v for k, v in errors.items() if v}
print("\nErrors: " + (", ".join(f"{s} at {c} connections: {n}" for (c, s), n in sorted(failed.items())) if failed else "none"))
PY
