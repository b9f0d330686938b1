#!/usr/bin/env bash
# Builds the lab book with mdBook and checks every link in the HTML it wrote.
#
#   bash docs/build.sh            # then open docs/book/index.html in a browser
#
# mdBook is installed with `cargo install` only when it is not on the PATH yet. That takes a
# few minutes once; the binary then stays in $CARGO_HOME/bin (~/.cargo/bin), which CI can
# cache. Exits non-zero when the install, the build or a link fails.
set -euo pipefail
cd "$(dirname "$0")"

MDBOOK_VERSION=0.5.4
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

if ! command -v mdbook >/dev/null 2>&1; then
  echo "==> installing mdbook $MDBOOK_VERSION (only this once; it takes a few minutes)"
  cargo install mdbook --locked --version "$MDBOOK_VERSION"
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
