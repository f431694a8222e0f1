"""A small Dockerfile reader for the tests: instructions with their arguments, continuation
lines joined, comments dropped (enough for the project's own Dockerfile)."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"


@dataclass(frozen=True)
class Instruction:
    name: str  # upper case: FROM, RUN, ENV...
    text: str  # the arguments, continuation lines joined

    def words(self) -> list[str]:
        """Exec form (a JSON array) or shell words."""
        if self.text.startswith("["):
            value = json.loads(self.text)
            assert isinstance(value, list)
            return [str(v) for v in value]
        return shlex.split(self.text)


def instructions(path: Path = DOCKERFILE) -> list[Instruction]:
    found: list[Instruction] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        name, _, text = line.partition(" ")
        found.append(Instruction(name.upper(), " ".join(text.split())))
    return found


def one(name: str, path: Path = DOCKERFILE) -> Instruction:
    matching = [i for i in instructions(path) if i.name == name]
    assert len(matching) == 1, f"{name}: {matching}"
    return matching[0]


def env(path: Path = DOCKERFILE) -> dict[str, str]:
    """Every ENV of the image (KEY=VALUE form), with $PATH-style references left as written."""
    values: dict[str, str] = {}
    for instruction in instructions(path):
        if instruction.name == "ENV":
            for word in shlex.split(instruction.text):
                key, _, value = word.partition("=")
                values[key] = value
    return values


def healthcheck_command(path: Path = DOCKERFILE) -> list[str]:
    text = one("HEALTHCHECK", path).text
    _, _, command = text.partition("CMD ")
    return Instruction("CMD", command).words()


def copied_sources(path: Path = DOCKERFILE) -> list[tuple[list[str], str]]:
    """Each COPY's sources (relative to the build context) and destination."""
    copies = []
    for instruction in instructions(path):
        if instruction.name == "COPY":
            words = [w for w in instruction.words() if not w.startswith("--")]
            copies.append((words[:-1], words[-1]))
    return copies
