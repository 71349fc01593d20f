"""Bottle identity: names, brew's file names, storage keys, and the checks that make them safe."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from bottlesync.errors import InvalidEntry, InvalidInput
from bottlesync.hosts import url_problem

LAYOUTS = ("bottle-domain", "artifact-domain", "dated")
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9@+._-]{0,127}")
VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~-]{0,63}")
TAG_RE = re.compile(r"[a-z0-9_]{1,64}")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
RUN_ID_RE = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}")
DAY_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_URL_BAD_CHAR = re.compile(r"[?#\\ \t\r\n]")
# brew's own parser for bottle file names (Homebrew/Library/Homebrew/bottle.rb)
BREW_FILE_RE = re.compile(r"\.([a-z0-9_]+)\.bottle\.(?:(\d+)\.)?tar\.gz$")
MAX_REBUILD = 10_000
BOTTLE_DOMAIN_PREFIX = "bottles/"


def image_name(name: str) -> str:
    """The ghcr.io repository of a formula: `@` becomes `/`, `+` becomes `x`."""
    return name.replace("@", "/").replace("+", "x")


def pkgver(version: str, revision: int) -> str:
    """brew's package version: `<version>` or `<version>_<revision>`."""
    return f"{version}_{revision}" if revision > 0 else version


def version_rebuild(pkg_version: str, rebuild: int) -> str:
    """The OCI index tag of a formula's bottles."""
    return f"{pkg_version}-{rebuild}" if rebuild > 0 else pkg_version


def file_name(name: str, pkg_version: str, tag: str, rebuild: int) -> str:
    """The bottle file name exactly as `brew` computes it."""
    head, tail = file_name_around_tag(name, pkg_version, rebuild)
    return f"{head}{tag}{tail}"


def file_name_around_tag(name: str, pkg_version: str, rebuild: int) -> tuple[str, str]:
    """What comes before and after the tag in file_name: the same for all of a formula's
    bottles, so the plan's diff builds it once per formula."""
    suffix = f".{rebuild}" if rebuild > 0 else ""
    return f"{name}-{pkg_version}.", f".bottle{suffix}.tar.gz"


def name_problem(name: object) -> str | None:
    """Why a formula name is unsafe for a key, a path or a URL, or None when it is fine."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        return f"name {name!r} is not [A-Za-z0-9@+._-] starting with a letter or digit"
    if ".." in name:
        return f"name {name!r} contains '..'"
    if not _plain_image(name):
        return f"name {name!r} gives an empty or dot segment in its image path"
    return None


def _plain_image(name: str) -> bool:
    """The image path of `name` has no empty or dot segment."""
    return not any(part in ("", ".", "..") for part in image_name(name).split("/"))


@dataclass(frozen=True, slots=True)
class Bottle:
    """One bottle of one formula for one tag, as the catalogue describes it."""

    name: str
    pkgver: str
    tag: str
    rebuild: int
    sha256: str
    url: str

    @property
    def file(self) -> str:
        """brew's file name for this bottle."""
        return file_name(self.name, self.pkgver, self.tag, self.rebuild)

    @property
    def image(self) -> str:
        """The registry repository path."""
        return image_name(self.name)

    @property
    def root_url(self) -> str:
        """The registry root the catalogue named (the URL minus `/<image>/blobs/...`)."""
        return self.url[: -len(self.blob_path)]

    @property
    def blob_path(self) -> str:
        """`/<image>/blobs/sha256:<hex>`: what follows root_url in the bottle URL."""
        return f"/{self.image}/blobs/sha256:{self.sha256}"

    @property
    def version_rebuild(self) -> str:
        """The OCI index reference that lists this bottle's size."""
        return version_rebuild(self.pkgver, self.rebuild)


def key_for(bottle: Bottle, layout: str, day: str) -> str:
    """The storage key of a bottle under a layout (DESIGN §4)."""
    return layout_key(bottle.file, bottle.image, bottle.sha256, layout, day)


def layout_key(file: str, image: str, sha256: str, layout: str, day: str) -> str:
    """key_for from a bottle's parts (the plan's diff has no Bottle for a present one)."""
    if layout == "bottle-domain":
        return BOTTLE_DOMAIN_PREFIX + file
    if layout == "artifact-domain":
        return f"v2/homebrew/core/{image}/blobs/sha256:{sha256}"
    if layout == "dated":
        return f"{day}/{file}"
    raise InvalidInput(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")


def file_prefix(layout: str) -> str | None:
    """What `layout` puts before every bottle's file name to make its key, or None where the
    key depends on more (the digest, the day): the plan's diff then compares 44k keys by
    concatenation instead of two calls each."""
    return BOTTLE_DOMAIN_PREFIX if layout == "bottle-domain" else None


def index_key(bottle: Bottle, layout: str, day: str) -> str:
    """Where a layout serves the formula version's OCI image index (brew asks for it first)."""
    path = f"{bottle.image}/manifests/{bottle.version_rebuild}"
    prefixes = {"bottle-domain": "bottles", "artifact-domain": "v2/homebrew/core", "dated": day}
    if layout not in prefixes:
        raise InvalidInput(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    return f"{prefixes[layout]}/{path}"


def day_of(key: str) -> str:
    """The `YYYY-MM-DD` a dated-layout key starts with ('' for other layouts)."""
    day = key.partition("/")[0]
    return day if DAY_RE.fullmatch(day) else ""


def check_bottle(bottle: Bottle, where: str) -> None:
    """Raise InvalidEntry naming `where` unless every field is safe to use."""
    problem = name_problem(bottle.name)
    if problem is None and not VERSION_RE.fullmatch(bottle.pkgver):
        problem = f"version {bottle.pkgver!r} is not [A-Za-z0-9._+~-]"
    if problem is None and not TAG_RE.fullmatch(bottle.tag):
        problem = f"tag {bottle.tag!r} is not [a-z0-9_]+"
    if problem is None and (type(bottle.rebuild) is not int  # 1.0 would name ".bottle.1.0."
                            or not 0 <= bottle.rebuild <= MAX_REBUILD):
        problem = f"rebuild {bottle.rebuild!r} is not an integer in 0..{MAX_REBUILD}"
    if problem is None and not SHA256_RE.fullmatch(bottle.sha256):
        problem = f"sha256 {bottle.sha256!r} is not 64 hex digits"
    if problem is None and not _url_has_bottle_form(bottle):
        problem = f"url {bottle.url!r} is not <root_url>{bottle.blob_path}"
    if problem is None and (why := _root_problem(bottle.root_url)) is not None:
        problem = f"url {bottle.url!r} {why}"
    if problem is not None:
        raise InvalidEntry(f"{where}: {problem}")


def plainly_safe(name: str, pkg_version: str, root: str) -> bool:
    """check_bottle's verdict for a bottle whose name, version, tag, rebuild and digest
    already fullmatched their patterns in bulk (decode.all_fit) and whose URL is `root` plus
    its blob path: only the checks those leave (False: ask check_bottle, which words it)."""
    return (VERSION_RE.fullmatch(pkg_version) is not None and _plain_image(name)
            and _root_form(root) and _root_problem(root) is None)


@lru_cache(maxsize=256)
def _root_form(root: str) -> bool:
    """An http(s) registry root with a host and none of ? # \\ or whitespace (computed once
    per root: the blob path after it, of a checked name and digest, has none either)."""
    scheme, sep, rest = root.partition("://")
    return (not _URL_BAD_CHAR.search(root) and bool(sep) and scheme in ("http", "https")
            and bool(rest) and not rest.startswith("/"))


@lru_cache(maxsize=256)
def _root_problem(root_url: str) -> str | None:
    """url_problem of a bottle URL, computed once per registry root: the blob path after it
    (checked name and digest, no ? # or space) changes neither its characters' class nor the
    scheme, host or port that urlsplit finds."""
    return url_problem(root_url)


def _url_has_bottle_form(bottle: Bottle) -> bool:
    """True when the URL is an http(s) registry URL ending in this bottle's blob path (its
    name and digest are checked before: the blob path holds no bad character)."""
    url, blob_path = bottle.url, bottle.blob_path
    return url.endswith(blob_path) and _root_form(url[: -len(blob_path)])


@dataclass(frozen=True, slots=True)
class PlanItem:
    """A bottle the plan must fetch, with its storage key and expected size."""

    bottle: Bottle
    key: str
    size: int | None
    copy_from: str | None = None  # the destination already holds it under this (other) key

    def to_dict(self) -> dict[str, Any]:
        """The plan-item shape of DESIGN §7 (plus `copy_from` when there is one)."""
        b = self.bottle
        copy = {"copy_from": self.copy_from} if self.copy_from else {}
        return {"name": b.name, "pkgver": b.pkgver, "tag": b.tag, "rebuild": b.rebuild,
                "sha256": b.sha256, "url": b.url, "size": self.size, "key": self.key,
                "file": b.file, **copy}

    @classmethod
    def from_dict(cls, data: object, where: str) -> PlanItem:
        """Parse and re-validate a plan item from untrusted JSON; InvalidInput names `where`."""
        if not isinstance(data, dict):
            raise InvalidInput(f"{where}: a plan item must be an object, not {type(data).__name__}")
        try:
            bottle = Bottle(name=data["name"], pkgver=data["pkgver"], tag=data["tag"],
                            rebuild=data["rebuild"], sha256=data["sha256"], url=data["url"])
            key, size = data["key"], data.get("size")
        except KeyError as exc:
            raise InvalidInput(f"{where}: plan item lacks key {exc.args[0]!r}") from None
        if not isinstance(bottle.rebuild, int) or isinstance(bottle.rebuild, bool):
            raise InvalidInput(f"{where}: rebuild {bottle.rebuild!r} is not an integer")
        for text in ("name", "pkgver", "tag", "sha256", "url"):
            if not isinstance(data[text], str):
                raise InvalidInput(f"{where}: {text} {data[text]!r} is not a string")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise InvalidInput(f"{where}: size {size!r} is not a non-negative integer")
        try:
            check_bottle(bottle, where)
        except InvalidEntry as exc:
            raise InvalidInput(str(exc)) from None
        if not is_layout_key(bottle, key):
            raise InvalidInput(f"{where}: key {key!r} is not a layout key of {bottle.file}")
        if data.get("file", bottle.file) != bottle.file:
            raise InvalidInput(f"{where}: file {data.get('file')!r} is not {bottle.file!r}")
        copy_from = data.get("copy_from")
        if copy_from is not None and not is_layout_key(bottle, copy_from):
            raise InvalidInput(f"{where}: copy_from {copy_from!r} is not a layout key of "
                               f"{bottle.file}")
        return cls(bottle=bottle, key=key, size=size, copy_from=copy_from)


def in_layout(bottle: Bottle, key: str, layout: str) -> bool:
    """True when `key` is the key `layout` gives this bottle (dated: any well-formed day)."""
    return key_in_layout(bottle.file, bottle.image, bottle.sha256, key, layout)


def key_in_layout(file: str, image: str, sha256: str, key: str, layout: str) -> bool:
    """in_layout from a bottle's parts."""
    if layout == "dated":
        day, _, rest = key.partition("/")
        return rest == file and DAY_RE.fullmatch(day) is not None
    return key == layout_key(file, image, sha256, layout, "")


def is_layout_key(bottle: Bottle, key: object) -> bool:
    """True when `key` is what some layout gives this bottle (dated: any well-formed day)."""
    if not isinstance(key, str):
        return False
    day, _, rest = key.partition("/")
    if rest == bottle.file and DAY_RE.fullmatch(day):
        return True
    return key in (key_for(bottle, "bottle-domain", ""), key_for(bottle, "artifact-domain", ""))


def is_manifest_key(file: str, sha256: str, key: object) -> bool:
    """True when `key` is a layout key of the bottle `file`: a manifest entry cannot point at
    the manifest, a run record or a temp file (verify --repair would overwrite it)."""
    match = BREW_FILE_RE.search(file)
    if match is None:
        return False
    tag, rebuild = match.group(1), int(match.group(2) or 0)
    stem = file[: match.start()]  # <name>-<pkgver>; a name may itself hold "-"
    for at in (i for i, char in enumerate(stem) if char == "-"):
        bottle = Bottle(stem[:at], stem[at + 1:], tag, rebuild, sha256, "")
        if (name_problem(bottle.name) is None and bottle.file == file
                and is_layout_key(bottle, key)):
            return True
    return False
