#!/usr/bin/env python3
"""Write the machine's own apt sources for one Debian suite, for mmdebstrap.

    apt-sources.py SUITE OUTDIR   -> OUTDIR/lab.sources and/or OUTDIR/lab.list; prints their paths

Reads /etc/apt/sources.list and /etc/apt/sources.list.d/*.{list,sources} (the active files only)
and keeps the entries whose suite is SUITE or SUITE-* (bookworm, bookworm-updates,
bookworm-security): no mirror host is named anywhere in the lab, and a third-party repository
on the host (nodesource, cloud SDKs) does not end up in the image.
"""

import sys
from pathlib import Path

APT = Path("/etc/apt")


def keep(suite: str, wanted: str) -> bool:
    return suite == wanted or suite.startswith(wanted + "-")


def one_line(text: str, wanted: str) -> list[str]:
    out = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        rest = words[1:]
        if rest and rest[0].startswith("["):  # options: [signed-by=... arch=...]
            while rest and not rest[0].endswith("]"):
                rest = rest[1:]
            rest = rest[1:]
        if len(rest) >= 2 and keep(rest[1], wanted):
            out.append(" ".join(words))
    return out


def deb822(text: str, wanted: str) -> list[str]:
    out = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        lines = []
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            lines.append(line)
            if ":" in line and not line[0].isspace():
                key, value = line.split(":", 1)
                fields[key.strip().lower()] = value.strip()
        if fields.get("enabled", "yes").lower() == "no" or "deb" not in fields.get("types", ""):
            continue
        suites = [s for s in fields.get("suites", "").split() if keep(s, wanted)]
        if not suites:
            continue
        fixed = []
        for line in lines:
            if line.lower().startswith("suites:"):
                line = "Suites: " + " ".join(suites)
            elif line.lower().startswith("types:"):
                line = "Types: deb"
            fixed.append(line)
        out.append("\n".join(fixed))
    return out


def main() -> int:
    wanted, outdir = sys.argv[1], Path(sys.argv[2])
    lists: list[str] = []
    stanzas: list[str] = []
    files = [APT / "sources.list", *sorted((APT / "sources.list.d").glob("*"))]
    for f in files:
        if not f.is_file():
            continue
        if f.suffix == ".list":
            lists += one_line(f.read_text(), wanted)
        elif f.suffix == ".sources":
            stanzas += deb822(f.read_text(), wanted)
    if not lists and not stanzas:
        print(f"no apt source for {wanted} on this machine", file=sys.stderr)
        return 1
    outdir.mkdir(parents=True, exist_ok=True)
    if stanzas:
        (outdir / "lab.sources").write_text("\n\n".join(stanzas) + "\n")
        print(outdir / "lab.sources")
    if lists:
        (outdir / "lab.list").write_text("\n".join(lists) + "\n")
        print(outdir / "lab.list")
    return 0


if __name__ == "__main__":
    sys.exit(main())
