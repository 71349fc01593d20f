"""A deterministic, realistic Homebrew catalogue and manifest for the benchmarks.

Shapes follow formulae.brew.sh/api/formula.json (2026): ~8.4k formulae, six bottle tags plus
`all`, compact JSON of ~30 MB (entries carry descriptions, URLs, dependency lists and per-OS
`variations`, which is what json.loads pays for). Bottle sizes follow a log-normal law with a
median of 2 MiB and a mean near 7 MB, like ghcr.io's homebrew/core bottles.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from typing import Any

from bottlesync.bottle import file_name, image_name, pkgver

TAGS = ("arm64_tahoe", "arm64_sequoia", "arm64_sonoma", "sonoma", "arm64_linux", "x86_64_linux")
SEED = 20261128
FORMULAE = 8_400
MANIFEST_ENTRIES = 45_000
MISSING_FORMULAE = 12  # new releases since the last run: what a daily plan has to size
# share of formulae that lack a tag (a bottle that failed to build, a platform not supported)
_TAG_GAPS = {"arm64_tahoe": 0.06, "arm64_sequoia": 0.02, "arm64_sonoma": 0.03,
             "sonoma": 0.08, "arm64_linux": 0.10, "x86_64_linux": 0.05}
_SYLLABLES = ("lib", "gt", "x", "py", "ro", "ca", "mi", "ne", "zo", "tar", "ssl", "gnu", "db",
              "ex", "fo", "qu", "ar", "el", "in", "ok", "ur", "vi", "sh", "no", "de", "ma", "pe")
_WORDS = ("fast", "portable", "library", "tool", "for", "the", "command-line", "parser", "server",
          "client", "implementation", "of", "and", "network", "data", "format", "utilities")
MEDIAN_SIZE = 2 << 20
SIZE_SIGMA = 1.55


@dataclass(frozen=True)
class GenFormula:
    """One generated formula: what the catalogue says about it, and its bottle sizes."""

    name: str
    version: str
    revision: int
    rebuild: int
    tags: tuple[str, ...]
    dependencies: tuple[str, ...]
    deprecated: bool
    disabled: bool
    shas: tuple[str, ...]
    sizes: tuple[int, ...]

    @property
    def pkgver(self) -> str:
        """brew's package version."""
        return pkgver(self.version, self.revision)

    def files(self) -> list[tuple[str, str, int]]:
        """(file name, sha256, size) of each bottle."""
        return [(file_name(self.name, self.pkgver, tag, self.rebuild), sha, size)
                for tag, sha, size in zip(self.tags, self.shas, self.sizes, strict=True)]


def bottle_size(rng: random.Random) -> int:
    """One bottle size drawn from the log-normal law (at least 4 KiB, at most 4 GiB)."""
    return int(min(4 << 30, max(4096, rng.lognormvariate(math.log(MEDIAN_SIZE), SIZE_SIGMA))))


def mean_bottle_size() -> float:
    """The law's mean in bytes (what the cost model multiplies by a bottle count)."""
    return MEDIAN_SIZE * math.exp(SIZE_SIGMA**2 / 2)


def _name(rng: random.Random, taken: set[str], index: int) -> str:
    """A new unique formula name; some versioned (`@`) or with `+`, like the real catalogue."""
    while True:
        base = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
        roll = rng.random()
        if roll < 0.03 and index > 0:
            name = f"{base}@{rng.randint(2, 20)}"
        elif roll < 0.035:
            name = f"{base}++"
        elif roll < 0.15:
            name = f"{base}-{rng.choice(_SYLLABLES)}"
        else:
            name = base
        if name not in taken:
            taken.add(name)
            return name


def _tags(rng: random.Random) -> tuple[str, ...]:
    """Which tags have a bottle: `all` alone for ~8% of formulae, else most of the six."""
    if rng.random() < 0.08:
        return ("all",)
    return tuple(t for t in TAGS if rng.random() >= _TAG_GAPS[t])


def generate(count: int = FORMULAE, seed: int = SEED) -> list[GenFormula]:
    """`count` formulae, the same ones for the same seed."""
    rng = random.Random(seed)
    taken: set[str] = set()
    out: list[GenFormula] = []
    for index in range(count):
        name = _name(rng, taken, index)
        tags = () if rng.random() < 0.01 else _tags(rng)  # ~1% have no bottle at all
        popular = max(1, min(index, 400))
        deps = tuple(sorted({out[rng.randrange(popular)].name
                             for _ in range(min(index, int(rng.expovariate(1 / 2.5))))}))
        out.append(GenFormula(
            name=name,
            version=f"{rng.randint(0, 30)}.{rng.randint(0, 40)}.{rng.randint(0, 12)}",
            revision=rng.choice((1, 1, 2, 3)) if rng.random() < 0.22 else 0,
            rebuild=rng.choice((1, 1, 2)) if rng.random() < 0.15 else 0,
            tags=tags, dependencies=deps,
            deprecated=rng.random() < 0.03, disabled=rng.random() < 0.015,
            shas=tuple(rng.randbytes(32).hex() for _ in tags),
            sizes=tuple(bottle_size(rng) for _ in tags)))
    return out


def _words(rng: random.Random, n: int) -> str:
    """Filler prose for desc and caveats."""
    return " ".join(rng.choice(_WORDS) for _ in range(n)).capitalize()


def _variations(f: GenFormula, rng: random.Random) -> dict[str, Any]:
    """Per-tag overrides as the real API lists them (mostly Linux dependency lists)."""
    extra = [*f.dependencies, "zlib", "bzip2", "libffi", "ncurses"][: 3 + len(f.dependencies)]
    return {tag: {"dependencies": extra,
                  "build_dependencies": ["pkgconf", "cmake"],
                  "uses_from_macos": [],
                  "uses_from_macos_bounds": [],
                  "caveats": _words(rng, 12) if rng.random() < 0.2 else None}
            for tag in f.tags if tag != "all" and rng.random() < 0.35}


def entry(f: GenFormula, root_url: str, rng: random.Random) -> dict[str, Any]:
    """One formula.json entry with the fields (and roughly the weight) of the real one."""
    image = image_name(f.name)
    src = f"https://downloads.example.org/{f.name}/{f.name}-{f.version}.tar.xz"
    bottle: dict[str, Any] = {}
    if f.tags:
        bottle["stable"] = {
            "rebuild": f.rebuild, "root_url": root_url,
            "files": {tag: {"cellar": ":any" if tag.startswith("arm64") else ":any_skip_relocation",
                            "url": f"{root_url}/{image}/blobs/sha256:{sha}", "sha256": sha}
                      for tag, sha in zip(f.tags, f.shas, strict=True)}}
    build_deps = ["pkgconf", "cmake", "meson", "ninja", "autoconf", "automake"][: rng.randint(0, 6)]
    return {
        "name": f.name, "full_name": f.name, "tap": "homebrew/core", "oldnames": [],
        "aliases": [f"{f.name}-cli"] if rng.random() < 0.1 else [],
        "versioned_formulae": [], "desc": _words(rng, rng.randint(4, 12)),
        "license": rng.choice(("MIT", "Apache-2.0", "GPL-3.0-or-later", "BSD-3-Clause")),
        "homepage": f"https://{f.name.replace('@', '-')}.example.org/",
        "versions": {"stable": f.version, "head": "HEAD" if rng.random() < 0.3 else None,
                     "bottle": bool(f.tags)},
        "urls": {"stable": {"url": src, "tag": None, "revision": None, "using": None,
                            "checksum": rng.randbytes(32).hex()},
                 "head": {"url": f"https://github.com/example/{f.name}.git", "branch": "main",
                          "using": None}},
        "revision": f.revision, "version_scheme": 0, "autobump": True,
        "no_autobump_message": None, "skip_livecheck": False,
        "bottle": bottle,
        "pour_bottle_only_if": None, "keg_only": f.name.count("@") > 0,
        "keg_only_reason": {"reason": ":versioned_formula", "explanation": ""}
        if "@" in f.name else None,
        "options": [], "build_dependencies": build_deps, "dependencies": list(f.dependencies),
        "test_dependencies": [], "recommended_dependencies": [], "optional_dependencies": [],
        "uses_from_macos": ["zlib", "bzip2", "libxml2", "curl"][: rng.randint(0, 4)],
        "uses_from_macos_bounds": [{}, {"since": "sequoia"}][: rng.randint(0, 2)],
        "requirements": [], "conflicts_with": [], "conflicts_with_reasons": [],
        "link_overwrite": [], "caveats": _words(rng, 30) if rng.random() < 0.15 else None,
        "installed": [], "linked_keg": None, "pinned": False, "outdated": False,
        "deprecated": f.deprecated,
        "deprecation_date": "2025-03-01" if f.deprecated else None,
        "deprecation_reason": "does_not_build" if f.deprecated else None,
        "deprecation_replacement_formula": None, "deprecation_replacement_cask": None,
        "disabled": f.disabled, "disable_date": "2025-09-01" if f.disabled else None,
        "disable_reason": "unmaintained" if f.disabled else None,
        "disable_replacement_formula": None, "disable_replacement_cask": None,
        "post_install_defined": rng.random() < 0.05, "service": None,
        "tap_git_head": rng.randbytes(20).hex(),
        "ruby_source_path": f"Formula/{f.name[0]}/{f.name}.rb",
        "ruby_source_checksum": {"sha256": rng.randbytes(32).hex()},
        "head_dependencies": {"build_dependencies": build_deps,
                              "dependencies": list(f.dependencies),
                              "test_dependencies": [], "recommended_dependencies": [],
                              "optional_dependencies": [], "uses_from_macos": [],
                              "uses_from_macos_bounds": []},
        "variations": _variations(f, rng),
    }


def catalogue_bytes(formulae: list[GenFormula], root_url: str, seed: int = SEED) -> bytes:
    """formula.json as the API serves it (compact JSON), bottle URLs under `root_url`."""
    rng = random.Random(seed + 1)
    return json.dumps([entry(f, root_url, rng) for f in formulae],
                      separators=(",", ":")).encode()


def missing_formulae(formulae: list[GenFormula], count: int = MISSING_FORMULAE,
                     seed: int = SEED) -> list[GenFormula]:
    """Formulae (with bottles) whose bottles the manifest lacks: new since the last run."""
    with_bottles = [f for f in formulae if f.tags]
    return random.Random(seed + 2).sample(with_bottles, min(count, len(with_bottles)))


def manifest_doc(formulae: list[GenFormula], missing: list[GenFormula],
                 entries: int = MANIFEST_ENTRIES, seed: int = SEED) -> dict[str, Any]:
    """bottles_hash.json: every current bottle but `missing`, padded with older versions."""
    rng = random.Random(seed + 3)
    skip = {f.name for f in missing}
    bottles: dict[str, dict[str, Any]] = {}
    run_id = "20261127T030000Z-0badc0de"

    def add(file: str, sha: str, size: int) -> None:
        bottles[file] = {"sha256": sha, "size": size, "key": f"bottles/{file}",
                         "synced_at": "2026-11-27T03:04:05Z", "run_id": run_id}

    for f in formulae:
        if f.name not in skip:
            for file, sha, size in f.files():
                add(file, sha, size)
    with_bottles = [f for f in formulae if f.tags]
    while len(bottles) < entries and with_bottles:
        old = rng.choice(with_bottles)
        tag = rng.choice(old.tags)
        version = f"{old.version}.{rng.randint(0, 99)}-old"
        add(file_name(old.name, version, tag, 0), rng.randbytes(32).hex(), bottle_size(rng))
    return {"schema": 1, "updated_at": "2026-11-27T03:05:00Z", "bottles": bottles}


def bottle_count(formulae: list[GenFormula]) -> int:
    """How many bottles the catalogue lists."""
    return sum(len(f.tags) for f in formulae)
