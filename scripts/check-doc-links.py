#!/usr/bin/env python3
"""Documents each library crate of the workspace on its own and fails on a
link in its pages that points nowhere.

Why on its own: `cargo doc --no-deps` documents the workspace's crates in no
particular order, and rustdoc links into another crate only if that crate's
pages already exist. An explicit link to another crate (`[text](other::Item)`,
also in docs that get shown on other crates' pages: re-exports, trait
methods) then comes out as a broken `href="other::Item"`, depending on the
order. Documenting each crate alone is the worst order, so it finds them all.
Write such links as `` [`other::Item`] `` (plain code when unresolved) or in
plain text. `rustdoc -D warnings` does not report these: the link resolved.

Links inside the "Blanket Implementations" section are left out: those docs
come from other crates (tracing's `Instrument`) and are not ours to fix.

    scripts/check-doc-links.py            # every library crate
    scripts/check-doc-links.py so-engine  # some
"""

import html
import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def library_crates():
    """(package name, lib target name) of every workspace library."""
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--no-deps", "--format-version", "1"],
            cwd=ROOT, check=True, capture_output=True, text=True,
        ).stdout
    )
    for package in meta["packages"]:
        for target in package["targets"]:
            if "lib" in target["kind"]:
                yield package["name"], target["name"]


def broken_links(doc_dir, crate_dir):
    """(href, page) for each relative link under crate_dir that has no target."""
    found = []
    for dirpath, _, files in os.walk(os.path.join(doc_dir, crate_dir)):
        if os.path.relpath(dirpath, doc_dir).startswith(os.path.join(crate_dir, "src")):
            continue
        for name in files:
            if not name.endswith(".html"):
                continue
            page = os.path.join(dirpath, name)
            with open(page, encoding="utf-8", errors="replace") as f:
                text = f.read()
            text = text.split('id="blanket-implementations"')[0]
            text = re.sub(r"<script.*?</script>", "", text, flags=re.S)
            for match in re.finditer(r'href="([^"#?]*)', text):
                href = html.unescape(match.group(1))
                if not href or re.match(r"^[a-z]+:(//|[^:])", href):
                    continue  # a URL (https://, mailto:), not a path
                if not os.path.exists(os.path.normpath(os.path.join(dirpath, href))):
                    found.append((href, os.path.relpath(page, doc_dir)))
    return found


def main():
    wanted = set(sys.argv[1:])
    doc_dir = os.path.join(ROOT, "target", "doc")
    failures = []
    for package, lib in library_crates():
        if wanted and package not in wanted:
            continue
        # Only this crate's pages may exist while it is documented (cargo
        # documents it again when its pages are gone).
        shutil.rmtree(doc_dir, ignore_errors=True)
        subprocess.run(
            ["cargo", "doc", "--quiet", "--no-deps", "-p", package],
            cwd=ROOT, check=True,
        )
        for href, page in broken_links(doc_dir, lib):
            failures.append(f"{page}: link to `{href}` points nowhere")
    # Leave the workspace's docs as `cargo doc` makes them.
    shutil.rmtree(doc_dir, ignore_errors=True)
    if failures:
        print("\n".join(sorted(set(failures))), file=sys.stderr)
        print(
            f"{len(failures)} broken doc link(s): link to other crates as "
            "[`crate_name::Item`] or in plain text (see this script's doc)",
            file=sys.stderr,
        )
        sys.exit(1)
    print("doc links: every link of every library crate resolves on its own")


if __name__ == "__main__":
    main()
