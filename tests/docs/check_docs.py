#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks the Markdown documentation against the sources it quotes (ctest label `docs`).

Snippets: a code block in a page that is preceded by the comment

    <!-- snippet: examples/01_basic_call.cpp#first-call -->

must be, line for line, the text between the two marker lines `// [docs:first-call]` (or
`# [docs:first-call]` in CMake files) of that file: the marker lines themselves and the marker
lines of other snippets nested inside are left out, and the common indentation is removed. A
quoted file must be under examples/ or tests/ (code that is compiled and run as a test).

It fails when a block differs from its snippet, when a snippet, its file or one of its two
markers is missing, when a marker has no pair, and when a marker in a quoted file is quoted by no
page. `--update` rewrites the blocks from the sources instead (then checks again).

Links: every relative link of the pages (and of the README files given) must name a file that
exists, and a `#fragment` into a Markdown file must name one of its headings (GitHub's anchors).
Index: a README.md in a directory of numbered pages (`NN-name.md`) must link every one of them,
and each numbered page starts with the heading `# N. Title`.

usage: check_docs.py --root <repo> [--update] <page or directory>...
"""

import argparse
import os
import re
import sys

SNIPPET = re.compile(r"^<!-- snippet: (?P<path>[^#\s]+)#(?P<name>[a-z0-9][a-z0-9-]*) -->\s*$")
MARKER = re.compile(r"^\s*(?://|#) \[docs:(?P<name>[a-z0-9][a-z0-9-]*)\]\s*$")
FENCE = re.compile(r"^(?P<fence>```+)(?P<info>[a-z0-9+-]*)\s*$")
LINK = re.compile(r"(?<!\!)\[(?:[^\]\[]|\[[^\]]*\])*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
IMAGE = re.compile(r"!\[[^\]]*\]\((?P<target>[^)\s]+)\)")


def markers(path):
    """{name: [line numbers of its markers]} of a source file."""
    found = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            m = MARKER.match(line)
            if m:
                found.setdefault(m["name"], []).append(number)
    return found


def snippet(path, name, problems, where, shown):
    """The text of snippet `name` of `path` (`shown` in messages), or None (with a problem)."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    at = [i for i, line in enumerate(lines) if (m := MARKER.match(line)) and m["name"] == name]
    if len(at) != 2:
        problems.append(f"{where}: {shown}: marker [docs:{name}] found {len(at)} times (need exactly 2)")
        return None
    body = [line.rstrip() for line in lines[at[0] + 1:at[1]] if not MARKER.match(line)]
    while body and not body[0]:
        body.pop(0)
    while body and not body[-1]:
        body.pop()
    indent = min((len(line) - len(line.lstrip(" ")) for line in body if line), default=0)
    return [line[indent:] for line in body]


def slug(heading):
    """GitHub's anchor of a heading."""
    text = re.sub(r"`([^`]*)`", r"\1", heading.strip()).lower()
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    result, counts, in_code = set(), {}, False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if FENCE.match(line.strip()) or line.strip().startswith("```"):
                in_code = not in_code
                continue
            if in_code:
                continue
            m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
            if m:
                s = slug(m[1])
                n = counts.get(s, 0)
                counts[s] = n + 1
                result.add(s if n == 0 else f"{s}-{n}")
    return result


def check_page(root, page, update, problems, quoted):
    with open(page, encoding="utf-8") as f:
        lines = f.read().split("\n")
    rel = os.path.relpath(page, root)
    out, i, changed = [], 0, False
    in_code = False
    while i < len(lines):
        line = lines[i]
        out.append(line)
        fence = FENCE.match(line.strip())
        if fence and not SNIPPET.match(line):
            in_code = not in_code
        m = None if in_code else SNIPPET.match(line)
        if not m:
            if not in_code:
                check_links(root, page, rel, i + 1, line, problems)
            i += 1
            continue
        where = f"{rel}:{i + 1}"
        source = os.path.join(root, m["path"])
        quoted.setdefault(m["path"], set()).add(m["name"])
        if not (m["path"].startswith("examples/") or m["path"].startswith("tests/")):
            problems.append(f"{where}: {m['path']}: quote only code under examples/ or tests/ (it is compiled and run)")
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            out.append(lines[j])
            j += 1
        open_fence = FENCE.match(lines[j].strip()) if j < len(lines) else None
        if not open_fence or not open_fence["info"]:
            problems.append(f"{where}: the snippet comment must be followed by a code block with a language")
            i = j
            continue
        k = j + 1
        while k < len(lines) and lines[k].strip() != open_fence["fence"]:
            k += 1
        if k == len(lines):
            problems.append(f"{where}: the code block is not closed")
            i = j
            continue
        block = lines[j + 1:k]
        expected = None
        if not os.path.isfile(source):
            problems.append(f"{where}: {m['path']}: no such file")
        else:
            expected = snippet(source, m["name"], problems, where, m["path"])
        out.append(lines[j])
        if expected is not None and block != expected:
            if update:
                changed = True
                block = expected
            else:
                first = next((n for n, (a, b) in enumerate(zip(block, expected)) if a != b), min(len(block), len(expected)))
                got = block[first] if first < len(block) else "<end of block>"
                want = expected[first] if first < len(expected) else "<end of snippet>"
                problems.append(f"{where}: the block differs from {m['path']}#{m['name']} at its line {first + 1}:\n"
                                f"    page:   {got}\n    source: {want}\n"
                                f"  (python3 tests/docs/check_docs.py --root . --update docs rewrites the blocks)")
        out.extend(block)
        out.append(lines[k])
        i = k + 1
    if changed:
        with open(page, "w", encoding="utf-8") as f:
            f.write("\n".join(out))
        print(f"updated {rel}")


def check_links(root, page, rel, number, line, problems):
    for m in list(LINK.finditer(line)) + list(IMAGE.finditer(line)):
        target = m["target"]
        if re.match(r"^[a-z]+:", target) or target.startswith("<"):
            continue  # http:, https:, mailto:
        path, _, fragment = target.partition("#")
        resolved = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
        if not os.path.exists(resolved):
            problems.append(f"{rel}:{number}: link to {target}: no such file")
            continue
        if fragment and resolved.endswith(".md") and fragment not in anchors(resolved):
            problems.append(f"{rel}:{number}: link to {target}: no heading with that anchor in "
                            f"{os.path.relpath(resolved, root)}")


def check_title(root, page, problems):
    """A numbered page `NN-name.md` starts with the heading `# N. Title`."""
    m = re.match(r"^(\d\d)-.*\.md$", os.path.basename(page))
    if not m:
        return
    with open(page, encoding="utf-8") as f:
        first = f.readline().rstrip("\n")
    if not first.startswith(f"# {int(m[1])}. "):
        problems.append(f"{os.path.relpath(page, root)}:1: a numbered page starts with '# {int(m[1])}. <title>'")


def check_index(root, page, problems):
    """A README.md beside numbered pages (`NN-name.md`) is their index: it must link each one."""
    if os.path.basename(page) != "README.md":
        return
    directory = os.path.dirname(page)
    numbered = sorted(f for f in os.listdir(directory) if re.match(r"^\d\d-.*\.md$", f))
    if not numbered:
        return
    with open(page, encoding="utf-8") as f:
        linked = {m["target"].partition("#")[0] for m in LINK.finditer(f.read())}
    for name in numbered:
        if name not in linked:
            problems.append(f"{os.path.relpath(page, root)}: the index does not link {name}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--update", action="store_true")
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args()
    root = os.path.abspath(args.root)
    pages = []
    for path in args.paths:
        path = os.path.join(root, path)
        if os.path.isdir(path):
            for directory, _, files in os.walk(path):
                pages += [os.path.join(directory, f) for f in files if f.endswith(".md")]
        elif os.path.isfile(path):
            pages.append(path)
        else:
            print(f"check_docs: {path}: no such page or directory", file=sys.stderr)
            return 2
    pages.sort()
    problems, quoted = [], {}
    for page in pages:
        check_page(root, page, args.update, problems, quoted)
    if args.update:
        problems, quoted = [], {}
        for page in pages:
            check_page(root, page, False, problems, quoted)
    for page in pages:
        check_index(root, page, problems)
        check_title(root, page, problems)
    snippets = 0
    for path, names in sorted(quoted.items()):
        source = os.path.join(root, path)
        if not os.path.isfile(source):
            continue
        for name, at in sorted(markers(source).items()):
            if name not in names:
                problems.append(f"{path}:{at[0]}: marker [docs:{name}] is quoted by no page")
        snippets += len(names)
    for problem in problems:
        print(problem)
    print(f"{len(pages)} pages, {snippets} snippets from {len(quoted)} files, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
