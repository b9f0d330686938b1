#!/usr/bin/env bash
# Builds the lab book with mdBook and checks every link in the HTML it wrote.
#
#   bash docs/build.sh            # then open docs/book/index.html in a browser
#
# An mdBook already on the PATH is used. Otherwise one is built once into the kit's own
# target folder (target/tools), never into ~/.cargo/bin: only what building a book needs (no
# `mdbook serve` or `watch`, whose web server is most of mdBook's compile time), without
# optimisation and without debug information: about a minute on two cores instead of three
# (a book of this size builds in seconds either way), and 94 processor-seconds instead of 105
# with debug information (a 25 MB program instead of 87). CI on a fresh machine pays that
# minute once per run.
# Exits non-zero when the install, the build or a link fails.
set -euo pipefail
cd "$(dirname "$0")"

MDBOOK_VERSION=0.5.4
TOOLS="$(cd .. && pwd)/target/tools"
export PATH="$PATH:$TOOLS/bin"

if ! command -v mdbook >/dev/null 2>&1; then
  echo "==> building mdbook $MDBOOK_VERSION into target/tools (only this once; about a minute)"
  CARGO_PROFILE_DEV_DEBUG=0 cargo install mdbook --locked --version "$MDBOOK_VERSION" --debug \
    --no-default-features --features search \
    --root "$TOOLS" --target-dir "$TOOLS/build"
fi
# `bash docs/build.sh --install`: only the install (CI starts it early, in the background).
if [ "${1:-}" = "--install" ]; then
  exit 0
fi

echo "==> mdbook build ($(mdbook --version))"
# book.toml sets create-missing = false: a SUMMARY.md entry without its file fails here.
mdbook build

echo "==> checking the links in docs/book"
if command -v python3 >/dev/null 2>&1; then
  python3 check_links.py book
else
  echo "python3 not found: link check skipped" >&2
fi
