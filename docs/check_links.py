"""Checks the links of the HTML book that mdBook wrote (called by build.sh).

Every relative link (href or src) must point at a file that exists, and a link with an
anchor (`page.html#section`) at an element with that id. Web links are not fetched.
Prints one line per broken link and exits 1 if there is any.
"""

import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []  # (attribute value, line)
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" and value:
                self.ids.add(value)
            if name in ("href", "src") and value:
                self.links.append((value, self.getpos()[0]))


def parse(path, cache):
    if path not in cache:
        page = Page()
        page.feed(path.read_text(encoding="utf-8"))
        cache[path] = page
    return cache[path]


def main(root):
    root = Path(root).resolve()
    # 404.html is written for a web server's root (its links start from `<base href="/">`).
    pages = sorted(p for p in root.rglob("*.html") if p.name != "404.html")
    if not pages:
        print(f"no HTML pages under {root}: did mdbook build run?")
        return 1
    cache = {}
    broken = []
    checked = 0
    for path in pages:
        for link, line in parse(path, cache).links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith("//"):
                continue  # http:, https:, mailto:, javascript:
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            checked += 1
            where = f"{path.relative_to(root)}:{line}"
            if not target.exists():
                broken.append(f"{where}: {link} -> missing file")
            elif parts.fragment and target.suffix == ".html":
                if unquote(parts.fragment) not in parse(target, cache).ids:
                    broken.append(f"{where}: {link} -> no element with id {parts.fragment!r}")
    for problem in broken:
        print(problem)
    print(f"{len(pages)} pages, {checked} links checked, {len(broken)} broken")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "book"))
