"""The README and the docs stay inside the repository (issue 13, item 9): every relative
Markdown link or image in README.md, bench/README.md and docs/**/*.md names a file or folder of
the repository, every `#anchor` names a heading of its target (GitHub's slugs), and no path
written as `../…` (a link, a backticked path, a code block) leads outside the checkout. http(s)
and mailto links are allowed and not fetched. The contract docs also quote the payload's caps
as escalation/models.py sets them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest

from escalation import models

ROOT = Path(__file__).resolve().parent.parent

FENCE = re.compile(r"^\s*(```|~~~)")
# [text](target) and ![alt](target); the target may be <bracketed> and followed by a title.
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+\"[^\"]*\")?\s*\)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
# A relative path that climbs: `../x`, anywhere in the text (links, code spans, code blocks).
PARENT_PATH = re.compile(r"(?<![\w./~-])\.\./[^\s`)\]\"'<>,;]*")
EXTERNAL = ("http://", "https://", "mailto:")


def doc_files(root: Path = ROOT) -> list[Path]:
    files = [root / "README.md", root / "bench" / "README.md"]
    files += sorted((root / "docs").rglob("*.md"))
    return [path for path in files if path.is_file()]


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks, with inline code spans blanked out:
    what Markdown renders as links and headings."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text lower-cased, punctuation dropped
    (word characters, hyphens and spaces kept), spaces made hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link reads as its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file, duplicates numbered as GitHub does."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    text = path.read_text(encoding="utf-8")
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    target: str
    why: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.target}: {self.why}"


def link_problems(path: Path, root: Path = ROOT) -> list[Problem]:
    """What is wrong with the links and `../` paths of one Markdown file (empty: nothing)."""
    root = root.resolve()
    shown = path.relative_to(root).as_posix()
    text = path.read_text(encoding="utf-8")
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        for match in PARENT_PATH.finditer(line):
            target = match.group(0)
            if not inside((path.parent / target).resolve(), root):
                problems.append(Problem(shown, number, target, "points outside the repository"))
    for number, line in prose_lines(text):
        for match in LINK.finditer(line):
            target = match.group(1).strip("<>")
            if target.startswith(EXTERNAL):
                continue
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
                problems.append(Problem(shown, number, target, "not a relative or http(s) link"))
                continue
            file_part, _, anchor = target.partition("#")
            file_part = unquote(file_part)
            if not file_part:
                resolved = path
            elif file_part.startswith("/"):
                resolved = (root / file_part.lstrip("/")).resolve()
            else:
                resolved = (path.parent / file_part).resolve()
            if not inside(resolved, root):
                problems.append(Problem(shown, number, target, "points outside the repository"))
                continue
            if not resolved.exists():
                problems.append(Problem(shown, number, target, "no such file in the repository"))
                continue
            if anchor and resolved.suffix == ".md" and resolved.is_file():
                if unquote(anchor).lower() not in anchors(resolved):
                    problems.append(
                        Problem(shown, number, target, f"no heading #{anchor} in {resolved.name}")
                    )
    return problems


DOCS = doc_files()


def test_the_docs_are_found() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in DOCS}
    assert {"README.md", "bench/README.md", "docs/contracts/README.md"} <= names
    for contract in ("payload", "decision", "cli", "messages", "tables", "policy"):
        assert f"docs/contracts/{contract}.md" in names


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_links_resolve_inside_the_repository(path: Path) -> None:
    problems = link_problems(path)
    assert not problems, "\n".join(map(str, problems))


def test_the_contract_index_lists_every_contract() -> None:
    index = ROOT / "docs" / "contracts" / "README.md"
    listed = {m.group(1) for m in LINK.finditer(index.read_text(encoding="utf-8"))}
    present = {p.name for p in index.parent.glob("*.md")} - {"README.md"}
    assert present <= listed


def test_the_readme_points_at_the_contracts() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for contract in ("README", "payload", "decision", "cli", "messages", "tables", "policy"):
        assert f"(docs/contracts/{contract}.md" in readme


def test_the_payload_doc_quotes_the_caps_of_the_code() -> None:
    """Every capped string of Contract 1 has its cap on its row of docs/contracts/payload.md."""
    text = (ROOT / "docs" / "contracts" / "payload.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("|")]
    for wire, cap in models.PAYLOAD_STRING_CAPS.items():
        field = wire.rsplit(".", 1)[1]
        row = [line for line in rows if f"`{field}`" in line]
        assert row, f"{wire}: no row in payload.md"
        assert any(f"{cap:,}" in line for line in row), f"{wire}: cap {cap:,} not on its row"
    assert f"{models.MAX_PAYLOAD_BYTES:,} bytes" in text


# --- the checker itself ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("The intake webhook: `POST /api/tickets`", "the-intake-webhook-post-apitickets"),
        ("SLA monitoring (Step 8)", "sla-monitoring-step-8"),
        ("Contract 1 — the ticket payload", "contract-1--the-ticket-payload"),
        ("Metrics, de-escalation and learning", "metrics-de-escalation-and-learning"),
    ],
)
def test_slugs_are_githubs(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_a_broken_link_is_reported(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "there.md").write_text("# Here it is\n\ntext\n## Here it is\n", encoding="utf-8")
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "\n".join(
            [
                "[ok](../there.md) [ok](../there.md#here-it-is) [ok](../there.md#here-it-is-1)",
                "![ok](../there.md) [web](https://example.com/x) [self](#a-page)",
                "# A page",
                "[missing](../gone.md)",
                "![missing image](img.png)",
                "[bad anchor](../there.md#nowhere)",
                "[outside](../../DESIGN.md)",
                "see `../../shared/DESIGN.md` for more",
                "```",
                "[not a link in code](nowhere.md)",
                "python starter.py triage eval ../../shared/cases.jsonl",
                "```",
                "`[not a link in a span](nowhere.md)`",
            ]
        ),
        encoding="utf-8",
    )
    found = {(p.line, p.target) for p in link_problems(page, tmp_path)}
    assert found == {
        (4, "../gone.md"),
        (5, "img.png"),
        (6, "../there.md#nowhere"),
        (7, "../../DESIGN.md"),
        (8, "../../shared/DESIGN.md"),
        (11, "../../shared/cases.jsonl"),
    }
