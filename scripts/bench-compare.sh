#!/usr/bin/env bash
# Measures the reference echo server (`cargo lab serve`) against three peers, with two load
# clients side by side, in one run, on 127.0.0.1 only:
#
#   servers  lab      `cargo lab serve` as an instructor runs it (--quiet, --max-connections 5000)
#            tokio    a plain tokio echo server (bench-peers/src/main.rs, dev-only)
#            asyncio  a plain Python asyncio echo server (scripts/asyncio_echo.py)
#            c        a minimal single-threaded C epoll echo server, the practical limit
#                     (bench-peers/epoll_echo.c, built here with gcc)
#   clients  bench    `cargo lab bench`, closed loop (ping-pong)
#            client   an independent ping-pong client in C (bench-peers/pingpong_client.c,
#                     built here with gcc): one thread, epoll, exact percentiles
#
# For every mode (line, raw), message size (64 B, 4 KiB) and load (1, 50 and 1,000
# connections), ROUNDS interleaved rounds: in each round every server takes its turn under
# both clients, the servers in a rotated order, so a change in the machine's load hits them
# alike. Then it prints, as Markdown, the medians (req/s and p99 latency), the ratios the
# reference server is held to (>= 1.0x tokio and >= 0.9x C in req/s, p99 <= tokio's) and
# whether `cargo lab bench` agrees with the independent client within 15% in req/s.
#
# PIN=pinned runs every server on core 0 and every client on core 1 (taskset); the default,
# PIN=unpinned, lets the system place them, sharing the cores as a laptop would.
#
# Usage: scripts/bench-compare.sh                     (ROUNDS=5 PIN=unpinned, ~10 minutes)
#        PIN=pinned scripts/bench-compare.sh
#        ROUNDS=3 MODES=line SIZES=64 LOADS="50:800" SERVERS="lab c" scripts/bench-compare.sh
# Needs Linux, gcc, python3 (3.8+) and, for PIN=pinned, taskset and 2 cores.
# Exits 3 if the two clients disagree by more than 15% on some cell (the table says which).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
PIN=${PIN:-unpinned}
MODES=${MODES:-"line raw"}
SIZES=${SIZES:-"64 4096"}
# connections:messages per connection, about 8,000 to 40,000 messages per run
LOADS=${LOADS:-"1:8000 50:800 1000:40"}
SERVERS=${SERVERS:-"lab tokio asyncio c"}
CLIENTS="bench client"

case $PIN in
  unpinned) server_cpu=(); client_cpu=() ;;
  pinned) server_cpu=(taskset -c 0); client_cpu=(taskset -c 1) ;;
  *) echo "PIN must be unpinned or pinned, not $PIN" >&2; exit 2 ;;
esac
ulimit -n 8192 2>/dev/null || true

work=$(mktemp -d)
pids=()
stop_servers() {
  for pid in ${pids[@]+"${pids[@]}"}; do kill "$pid" 2>/dev/null || true; done
  for pid in ${pids[@]+"${pids[@]}"}; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
cleanup() {
  stop_servers
  rm -rf "$work"
}
trap cleanup EXIT

echo "building (release)..." >&2
cargo build --release --quiet -p lab-cli --bin lab -p bench-peers --bin tokio-echo
lab=target/release/lab
gcc -O2 -Wall -o "$work/epoll_echo" bench-peers/epoll_echo.c
gcc -O2 -Wall -o "$work/pingpong_client" bench-peers/pingpong_client.c

# start NAME COMMAND...: starts a server, waits (10 s at most) for its listening line, and
# sets addr_NAME to its address (plain variables: no associative arrays needed).
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

start_servers() {
  local mode=$1 server
  for server in $SERVERS; do
    case $server in
      lab) start lab ${server_cpu[@]+"${server_cpu[@]}"} "$lab" serve --port 0 --mode "$mode" \
        --quiet --max-connections 5000 ;;
      tokio) start tokio ${server_cpu[@]+"${server_cpu[@]}"} target/release/tokio-echo --mode "$mode" ;;
      asyncio) start asyncio ${server_cpu[@]+"${server_cpu[@]}"} python3 scripts/asyncio_echo.py --mode "$mode" ;;
      c) start c ${server_cpu[@]+"${server_cpu[@]}"} "$work/epoll_echo" --mode "$mode" ;;
      *) echo "unknown server $server" >&2; exit 2 ;;
    esac
  done
}

# measure CLIENT ADDR CONNECTIONS MESSAGES SIZE MODE: prints "req/s p99_ms errors".
measure() {
  local client=$1 addr=$2 connections=$3 messages=$4 size=$5 mode=$6 out="$work/run.out"
  local args=(--addr "$addr" --connections "$connections" --messages "$messages" --size "$size" --mode "$mode" --timeout 10)
  case $client in
    bench) timeout 300 ${client_cpu[@]+"${client_cpu[@]}"} "$lab" bench "${args[@]}" --time-limit 120 >"$out" 2>/dev/null || true ;;
    client) timeout 300 ${client_cpu[@]+"${client_cpu[@]}"} "$work/pingpong_client" "${args[@]}" >"$out" 2>/dev/null || true ;;
  esac
  local rps p99 errors
  rps=$(awk '/^requests/{for (i = 1; i <= NF; i++) if ($i == "req/s") print $(i - 1)}' "$out")
  p99=$(awk '/^latency/{for (i = 1; i <= NF; i++) if ($i == "p99") print $(i + 1)}' "$out")
  errors=$(awk '/^errors/{print ($2 == "none" ? 0 : $2 + 0)}' "$out")
  echo "${rps:-0} ${p99:-nan} ${errors:-1}"
}

conditions="$(getconf _NPROCESSORS_ONLN) cores, $(uname -sr), $PIN, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "machine: $conditions; load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
results="$work/results.tsv"
: >"$results"
started=$(date +%s)
for mode in $MODES; do
  start_servers "$mode"
  for round in $(seq "$ROUNDS"); do
    # Rotate the servers' order by one place each round; alternate the clients' order.
    set -- $SERVERS
    for _ in $(seq $(((round - 1) % $#))); do set -- "${@:2}" "$1"; done
    order="$*"
    clients=$CLIENTS
    if ((round % 2 == 0)); then clients=$(echo "$CLIENTS" | awk '{for (i = NF; i > 0; i--) printf "%s ", $i}'); fi
    for size in $SIZES; do
      for load in $LOADS; do
        connections=${load%%:*}
        messages=${load##*:}
        for server in $order; do
          addr_var="addr_$server"
          for client in $clients; do
            read -r rps p99 errors < <(measure "$client" "${!addr_var}" "$connections" "$messages" "$size" "$mode")
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$size" "$connections" "$server" "$client" "$rps" "$p99" "$errors" >>"$results"
            printf '%s round %s: %-4s %5s B %4s conn  %-7s %-6s %8s req/s  p99 %6s ms  errors %s\n' \
              "$PIN" "$round" "$mode" "$size" "$connections" "$server" "$client" "$rps" "$p99" "$errors" >&2
          done
        done
      done
    done
  done
  stop_servers
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); took $(($(date +%s) - started)) s" >&2

python3 - "$results" "$ROUNDS" "$conditions" "$SERVERS" <<'PY'
import statistics, sys
from collections import defaultdict

path, rounds, conditions, servers = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split()
rps, p99, errors = defaultdict(list), defaultdict(list), defaultdict(int)
cells = []
for line in open(path):
    mode, size, conns, server, client, r, p, e = line.rstrip("\n").split("\t")
    cell = (mode, int(size), int(conns))
    if cell not in cells:
        cells.append(cell)
    rps[cell + (server, client)].append(float(r))
    p99[cell + (server, client)].append(float(p))
    errors[(server, client)] += int(e) if e.isdigit() else 1

def med(table, key):
    values = [v for v in table.get(key, []) if v == v]  # drop NaN (a run with no answer)
    return statistics.median(values) if values else float("nan")

names = {"lab": "cargo lab serve", "tokio": "tokio", "asyncio": "asyncio", "c": "C epoll"}
print(f"Machine: {conditions}. Median of {rounds} interleaved rounds; req/s (p99 ms).")
failed_agreement = []
for client, title in (("client", "independent C client"), ("bench", "cargo lab bench")):
    for mode in dict.fromkeys(c[0] for c in cells):
        print(f"\n{mode} mode, measured with the {title}:\n")
        head = ["size", "conns"] + [names.get(s, s) for s in servers]
        has = {"tokio", "c"} <= set(servers) and "lab" in servers
        if has:
            head += ["lab/tokio", "lab/C", "p99 lab/tokio", "targets"]
        print("| " + " | ".join(head) + " |")
        print("|" + "---:|" * len(head))
        for cell in cells:
            if cell[0] != mode:
                continue
            row = [f"{cell[1]:,} B", f"{cell[2]:,}"]
            m = {s: med(rps, cell + (s, client)) for s in servers}
            l = {s: med(p99, cell + (s, client)) for s in servers}
            row += [f"{m[s]:,.0f} ({l[s]:.2f})" for s in servers]
            if has:
                vs_tokio = m["lab"] / m["tokio"] if m["tokio"] else float("nan")
                vs_c = m["lab"] / m["c"] if m["c"] else float("nan")
                lat = l["lab"] / l["tokio"] if l["tokio"] else float("nan")
                missed = []
                if not vs_tokio >= 1.0:
                    missed.append("req/s < tokio")
                if not vs_c >= 0.9:
                    missed.append("req/s < 0.9 C")
                if not l["lab"] <= l["tokio"]:
                    missed.append("p99 > tokio")
                row += [f"{vs_tokio:.2f}", f"{vs_c:.2f}", f"{lat:.2f}", "met" if not missed else "missed: " + ", ".join(missed)]
            print("| " + " | ".join(row) + " |")

print("\nAgreement, cargo lab bench / independent client, median req/s (must be within 15%):\n")
print("| mode | size | conns | " + " | ".join(names.get(s, s) for s in servers) + " |")
print("|---|---:|---:|" + "---:|" * len(servers))
for cell in cells:
    row = [cell[0], f"{cell[1]:,} B", f"{cell[2]:,}"]
    for s in servers:
        b, c = med(rps, cell + (s, "bench")), med(rps, cell + (s, "client"))
        ratio = b / c if c else float("nan")
        ok = 0.85 <= ratio <= 1.15
        if not ok:
            failed_agreement.append((cell, s, ratio))
        row.append(f"{ratio:.2f}" + ("" if ok else " (!)"))
    print("| " + " | ".join(row) + " |")
bad = {k: v for k, v in errors.items() if v}
print("\nErrors: " + (", ".join(f"{names.get(s, s)} under {c}: {n}" for (s, c), n in sorted(bad.items())) if bad else "none"))
if failed_agreement:
    print(f"\n{len(failed_agreement)} cell(s) where the two clients disagree by more than 15%.")
    sys.exit(3)
print("\ncargo lab bench agrees with the independent client within 15% in every cell.")
PY
