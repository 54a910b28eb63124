#!/usr/bin/env python3
"""Writes the README's table of studies from the anchor table each study's results.md opens with.

Every `experiments/<study>/results.md` (made by `nnlab study`, from committed run records) opens
with one row per published number it reproduces: the anchor, ours, the gap, seeds, revision.
This collects them between the README's `<!-- studies:begin -->` and `<!-- studies:end -->`
markers, so that the README cannot disagree with the studies' records.

usage: scripts/study_table.py          rewrite the table in README.md
       scripts/study_table.py --check  exit 1 if README.md's table is not what the records say
"""
import glob, os, re, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN, END = "<!-- studies:begin -->", "<!-- studies:end -->"


def cells_of(row):
    """The cells of a Markdown table row; an escaped pipe (\\|) stays inside its cell."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip()[1:-1])]


def study_rows(path):
    name = os.path.basename(os.path.dirname(path))
    lines = open(path).read().splitlines()
    title = lines[0].lstrip("# ").strip()
    link = f"[{name}](experiments/{name}/results.md)"
    # The anchor table: the rows right after its header and separator.
    rows = []
    if "| anchor | ours | gap | seeds | revision |" in lines:
        at = lines.index("| anchor | ours | gap | seeds | revision |") + 2
        while at < len(lines) and lines[at].startswith("|"):
            rows.append(lines[at])
            at += 1
    if not rows:
        return [f"| {link} | {title}: no published number; the answer is in its table | - | - | - |"]
    out = []
    for k, row in enumerate(rows):
        anchor, ours, gap, seeds = cells_of(row)[:4]
        out.append(f"| {link if k == 0 else ''} | {anchor} | {ours} | {gap} | {seeds} |")
    return out


def table():
    rows = ["| study | anchor | ours | gap | seeds |", "|---|---|---|---|---|"]
    for path in sorted(glob.glob(os.path.join(root, "experiments", "*", "results.md"))):
        if os.path.isfile(os.path.join(os.path.dirname(path), "study.toml")):
            rows += study_rows(path)
    return "\n".join(rows)


readme_path = os.path.join(root, "README.md")
readme = open(readme_path).read()
if BEGIN not in readme or END not in readme:
    sys.exit(f"README.md lacks the {BEGIN} ... {END} markers")
head, rest = readme.split(BEGIN, 1)
_, tail = rest.split(END, 1)
new = f"{head}{BEGIN}\n{table()}\n{END}{tail}"
if "--check" in sys.argv[1:]:
    if new != readme:
        sys.exit("README.md's table of studies differs from the studies' records: run scripts/study_table.py")
    print("README.md's table of studies matches the studies' records")
else:
    open(readme_path, "w").write(new)
