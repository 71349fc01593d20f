"""`bottlesync export` and `import`: a delta carried across the gap, and every way it is refused."""

from __future__ import annotations

import io
import json
import tarfile
import threading
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import bottlesync.importer  # noqa: F401 (bound before a test patches plan.new_run_id)
from bottlesync.delta import toc_digest
from bottlesync.serve import MirrorServer
from bottlesync.storage import LocalStorage
from tests.conftest import CliResult
from tests.fakes.homebrew import FakeHomebrew
from tests.integration.conftest import write_config

TODAY = f"{datetime.now(UTC):%Y-%m-%d}"


def files(root: Path) -> dict[str, bytes]:
    """Every served file under a mirror directory (not .bottlesync/), by relative path."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and not p.relative_to(root).as_posix().startswith(".bottlesync")}


def bottles(root: Path) -> dict[str, bytes]:
    """The bottles and OCI indexes of a mirror (what a delta carries)."""
    return {k: v for k, v in files(root).items() if k.startswith("bottles/")}


def manifest(root: Path) -> dict[str, Any]:
    """bottles_hash.json's bottles."""
    return dict(json.loads((root / "bottles_hash.json").read_text())["bottles"])


@pytest.fixture
def exported(cli, tmp_path: Path) -> Path:
    """A synced mirror at tmp/mirror and its delta at tmp/delta.tar."""
    assert cli("sync").code == 0
    out = tmp_path / "delta.tar"
    result = cli("export", "--dest", str(tmp_path / "mirror"), "--since", TODAY, "--out", str(out))
    assert result.code == 0, result.err
    with tarfile.open(out) as tar:
        table = json.loads(tar.extractfile("delta.json").read())  # type: ignore[union-attr]
    assert f"table sha256 {table['toc_sha256']}" in result.out  # to send separately
    return out


def members(delta: Path) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    """Every header and its data."""
    with tarfile.open(delta) as tar:
        return [(m, tar.extractfile(m).read() if m.isreg() else None)  # type: ignore[union-attr]
                for m in tar.getmembers()]


def write_tar(path: Path, items: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    """A tar of exactly these headers and data."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in items:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def with_toc(items: list[tuple[tarfile.TarInfo, bytes | None]],
             change: Callable[[dict[str, Any]], None], rehash: bool = True
             ) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    """The same members with delta.json changed (and its own hash recomputed unless told)."""
    doc = json.loads(items[0][1] or b"")
    change(doc)
    if rehash:
        doc["toc_sha256"] = toc_digest(doc)
    data = json.dumps(doc).encode()
    info = tarfile.TarInfo("delta.json")
    info.size = len(data)
    return [(info, data), *items[1:]]


def refused(result: CliResult, dest: Path, words: str) -> None:
    """Exit 2 with a one-line error naming the problem, and nothing at all written."""
    assert result.code == 2, result.out + result.err
    assert words in result.err and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert not dest.exists() or files(dest) == {}


def test_round_trip_into_an_empty_local_mirror_is_byte_identical_and_verifies(
    cli, exported: Path, tmp_path: Path
) -> None:
    """GIVEN a delta WHEN imported into an empty directory THEN bottles, indexes and manifest
    entries are identical, verify is clean, and the import wrote its own run record."""
    src, dst = tmp_path / "mirror", tmp_path / "inside"
    result = cli("import", str(exported), "--dest", str(dst), "--json")
    assert result.code == 0, result.err
    assert result.json["bottles"] == 13 and result.json["present"] == 0
    assert bottles(dst) == bottles(src)
    assert manifest(dst) == manifest(src)
    assert cli("verify", "--dest", str(dst), "--json").json["corrupt"] == []
    assert cli("verify", "--dest", str(dst)).code == 0
    records = [json.loads(v) for k, v in files(dst).items()
               if k.startswith("runs/") and not k.startswith("runs/state/")]
    assert [(r["kind"], r["layout"]) for r in records] == [("import", "bottle-domain")]
    assert records[0]["source"].startswith("imported from delta.tar")
    assert sorted(records[0]["added"]) == sorted(manifest(src))


def test_import_twice_is_import_once_and_merges_with_what_is_there(
    cli, exported: Path, tmp_path: Path
) -> None:
    """GIVEN an inside mirror with its own bottle WHEN the delta is imported twice THEN the
    manifest keeps the inside entry, the second import writes nothing, and the files agree."""
    dst = tmp_path / "inside"
    own = {"sha256": "a" * 64, "size": 1, "key": "bottles/local-1.0.arm64_sequoia.bottle.tar.gz",
           "synced_at": "2026-01-01T00:00:00Z", "run_id": "x"}
    dst.mkdir()
    (dst / "bottles_hash.json").write_text(json.dumps({
        "schema": 1, "updated_at": None,
        "bottles": {"local-1.0.arm64_sequoia.bottle.tar.gz": own}}))
    assert cli("import", str(exported), "--dest", str(dst)).code == 0
    first = bottles(dst)
    again = cli("import", str(exported), "--dest", str(dst), "--json")
    assert again.code == 0 and again.json["written"] == 0 and again.json["present"] == 13
    assert bottles(dst) == first
    assert manifest(dst)["local-1.0.arm64_sequoia.bottle.tar.gz"] == own
    assert len(manifest(dst)) == 14


def test_round_trip_into_s3(bottlesync_process, s3_env: dict[str, str], s3_client: Any,
                            bucket: str, homebrew: FakeHomebrew, tmp_path: Path) -> None:
    """GIVEN a local delta WHEN imported into s3://bucket/prefix (moto) THEN each bottle is
    byte-identical, the manifest is merged and verify against S3 is clean."""
    config = write_config(tmp_path / "c.yaml", homebrew.source_url, str(tmp_path / "mirror"))
    assert bottlesync_process("sync", "--config", str(config)).code == 0
    delta = tmp_path / "d.tar"
    assert bottlesync_process("export", "--dest", str(tmp_path / "mirror"), "--since", TODAY,
                              "--out", str(delta)).code == 0
    dest = f"s3://{bucket}/inside"
    result = bottlesync_process("import", str(delta), "--dest", dest, "--json", env=s3_env)
    assert result.code == 0, result.err
    for key, data in bottles(tmp_path / "mirror").items():
        assert s3_client.get_object(Bucket=bucket, Key=f"inside/{key}")["Body"].read() == data
    doc = json.loads(s3_client.get_object(Bucket=bucket, Key="inside/bottles_hash.json")
                     ["Body"].read())
    assert doc["bottles"] == manifest(tmp_path / "mirror")
    check = bottlesync_process("verify", "--dest", dest, "--json", env=s3_env)
    assert check.code == 0 and check.json["checked"] == 13
    page = s3_client.get_object(Bucket=bucket, Key="inside/index.html")
    assert page["ContentType"].startswith("text/html")


def test_a_tampered_member_is_refused_with_nothing_visible(cli, exported: Path,
                                                           tmp_path: Path) -> None:
    """GIVEN one flipped byte in the last bottle (table unchanged) THEN import refuses it all."""
    items = members(exported)
    last = max(i for i, (m, _) in enumerate(items) if m.name.endswith(".tar.gz"))
    data = bytearray(items[last][1] or b"")
    data[100] ^= 1
    items[last] = (items[last][0], bytes(data))
    dst = tmp_path / "inside"
    refused(cli("import", str(write_tar(tmp_path / "t.tar", items)), "--dest", str(dst)), dst,
            "tampered")


def test_a_truncated_tar_is_refused_with_nothing_visible(cli, exported: Path,
                                                         tmp_path: Path) -> None:
    """GIVEN the delta cut short (a copy that stopped midway) THEN nothing is imported."""
    cut = tmp_path / "cut.tar"
    cut.write_bytes(exported.read_bytes()[: exported.stat().st_size * 2 // 3])
    dst = tmp_path / "inside"
    refused(cli("import", str(cut), "--dest", str(dst)), dst, "truncated")


def test_a_forged_table_of_contents_is_refused(cli, exported: Path, tmp_path: Path) -> None:
    """GIVEN a bottle swapped and its sha256 changed in delta.json without the table's own hash
    THEN import refuses; with the hash recomputed, --expect-sha256 still refuses it."""
    items = members(exported)
    original = json.loads(items[0][1] or b"")["toc_sha256"]
    index = next(i for i, (m, _) in enumerate(items) if m.name.endswith(".tar.gz"))
    evil = b"evil bottle"
    info = tarfile.TarInfo(items[index][0].name)
    info.size = len(evil)
    items[index] = (info, evil)

    def swap(doc: dict[str, Any]) -> None:
        import hashlib

        sha = hashlib.sha256(evil).hexdigest()
        for member in doc["members"]:
            if member["name"] == info.name:
                old, member["sha256"], member["size"] = member["sha256"], sha, len(evil)
        for entry in doc["entries"].values():
            if entry["sha256"] == old:
                entry["sha256"], entry["size"] = sha, len(evil)

    dst = tmp_path / "inside"
    forged = write_tar(tmp_path / "f.tar", with_toc(items, swap, rehash=False))
    refused(cli("import", str(forged), "--dest", str(dst)), dst, "toc_sha256")
    rehashed = write_tar(tmp_path / "g.tar", with_toc(items, swap))
    refused(cli("import", str(rehashed), "--dest", str(dst), "--expect-sha256", original), dst,
            "is not the expected")


def _hostile(kind: str) -> tarfile.TarInfo:
    """A member of each kind a delta must never carry."""
    if kind in ("dotdot", "absolute"):
        info = tarfile.TarInfo("../outside.txt" if kind == "dotdot" else "/tmp/outside.txt")
        info.size = 4
        return info
    info = tarfile.TarInfo("bottles/evil-1.0.arm64_sequoia.bottle.tar.gz")
    info.type = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                 "chardev": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}[kind]
    info.linkname = "/etc/passwd"
    return info


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "hardlink", "chardev", "fifo"])
@pytest.mark.parametrize("listed", [False, True])
def test_a_hostile_member_refuses_the_whole_tar(cli, exported: Path, tmp_path: Path, kind: str,
                                                listed: bool) -> None:
    """GIVEN a valid delta plus one hostile member at the end (also listed in a re-hashed table)
    THEN import refuses the whole tar and writes nothing, not even the valid bottles first."""
    info = _hostile(kind)
    items = [*members(exported), (info, b"evil" if info.isreg() else None)]
    if listed:
        items = with_toc(items, lambda doc: doc["members"].append(
            {"name": info.name, "sha256": "0" * 64, "size": info.size}))
    dst = tmp_path / "inside"
    result = cli("import", str(write_tar(tmp_path / "h.tar", items)), "--dest", str(dst))
    refused(result, dst, info.name)
    assert not (tmp_path / "outside.txt").exists()


def test_a_member_the_table_does_not_list_is_refused(cli, exported: Path, tmp_path: Path) -> None:
    """GIVEN an extra, well-named bottle that delta.json does not list THEN import refuses."""
    extra = tarfile.TarInfo("bottles/extra-1.0.arm64_sequoia.bottle.tar.gz")
    extra.size = 3
    dst = tmp_path / "inside"
    path = write_tar(tmp_path / "x.tar", [*members(exported), (extra, b"abc")])
    refused(cli("import", str(path), "--dest", str(dst)), dst, "is not in delta.json")


def test_export_of_an_empty_range_says_so_and_writes_no_file(cli, tmp_path: Path) -> None:
    """GIVEN a mirror synced today WHEN exporting from tomorrow THEN exit 0, a message, no file."""
    assert cli("sync").code == 0
    out = tmp_path / "empty.tar"
    result = cli("export", "--dest", str(tmp_path / "mirror"), "--since", "2999-01-01",
                 "--out", str(out))
    assert result.code == 0 and "nothing was added" in result.err
    assert not out.exists()


@pytest.mark.parametrize("args", [["--since", "yesterday"], ["--run", "nope"],
                                  ["--run", "20200101T000000Z-00000000"]])
def test_export_with_a_bad_range_exits_2_naming_it(cli, tmp_path: Path, args: list[str]) -> None:
    """GIVEN a malformed or unknown range THEN exit 2 with the flag named, no file."""
    assert cli("sync").code == 0
    result = cli("export", "--dest", str(tmp_path / "mirror"), *args, "--out",
                 str(tmp_path / "x.tar"))
    assert result.code == 2 and args[0] in result.err and "Traceback" not in result.err
    assert not (tmp_path / "x.tar").exists()


def test_import_of_a_missing_file_exits_2(cli, tmp_path: Path) -> None:
    """GIVEN no such delta THEN exit 2 naming it."""
    result = cli("import", str(tmp_path / "nope.tar"), "--dest", str(tmp_path / "inside"))
    assert result.code == 2 and "nope.tar" in result.err


@pytest.fixture
def served() -> Iterator[Callable[[Path], str]]:
    """Serve a mirror directory over loopback with `bottlesync serve`'s server, as the README's
    walk-through does on the inside."""
    servers: list[MirrorServer] = []

    def serve(root: Path) -> str:
        server = MirrorServer(LocalStorage(root), ("127.0.0.1", 0))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.url.rstrip("/")

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def test_air_gap_walk_through_end_to_end(cli, homebrew: FakeHomebrew, tmp_path: Path,
                                         served: Callable[[Path], str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The README walk-through: sync jq outside, export, import inside; next day sync wget
    too, export only that run, import; the inside mirror then serves what brew asks for."""
    days = iter(["20300101T030000Z-0000000a", "20300102T030000Z-0000000b"])
    monkeypatch.setattr("bottlesync.plan.new_run_id", lambda now: next(days))  # two sync days
    outside, inside = tmp_path / "mirror", tmp_path / "inside"
    first = cli("sync", "--formula", "jq", "--json")
    assert first.code == 0
    assert cli("export", "--dest", str(outside), "--since", "2030-01-01", "--out",
               str(tmp_path / "day1.tar")).code == 0
    assert cli("import", str(tmp_path / "day1.tar"), "--dest", str(inside)).code == 0
    second = cli("sync", "--formula", "wget", "--json")
    assert second.code == 0 and second.json["mirrored"] == 9
    day2 = cli("export", "--dest", str(outside), "--run", second.json["run_id"], "--out",
               str(tmp_path / "day2.tar"), "--json")
    assert day2.code == 0 and day2.json["bottles"] == 9 and day2.json["runs"] == [
        second.json["run_id"]]
    assert cli("import", str(tmp_path / "day2.tar"), "--dest", str(inside), "--expect-sha256",
               day2.json["toc_sha256"]).code == 0
    assert manifest(inside) == manifest(outside)
    assert cli("verify", "--dest", str(inside)).code == 0
    base = served(inside)
    file = homebrew.file_name("openssl@3", "arm64_sequoia").replace("@", "%40")
    with urllib.request.urlopen(f"{base}/bottles/{file}") as response:
        assert response.read() == homebrew.blob("openssl@3", "arm64_sequoia")
    with urllib.request.urlopen(f"{base}/bottles/openssl/3/manifests/3.4.0") as response:
        assert "sh.brew.bottle.size" in response.read().decode()
    status = json.loads((inside / "status.json").read_text())
    assert status["bottles"] == len(manifest(outside)) and status["state"] == "green"
    onward = cli("export", "--dest", str(inside), "--since", TODAY, "--out",
                 str(tmp_path / "onward.tar"), "--json")  # the inside mirror's own records
    assert onward.code == 0 and onward.json["bottles"] == len(manifest(outside))


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.BLKTYPE])
def test_a_link_under_a_listed_bottle_name_is_refused(cli, exported: Path, tmp_path: Path,
                                                      kind: bytes) -> None:
    """GIVEN a listed bottle's member replaced by a link or device of the same name (table
    intact) THEN import refuses it for its type, before anything is written."""
    items = members(exported)
    last = max(i for i, (m, _) in enumerate(items) if m.name.endswith(".tar.gz"))
    link = tarfile.TarInfo(items[last][0].name)
    link.type, link.linkname = kind, "/etc/passwd"
    items[last] = (link, None)
    dst = tmp_path / "inside"
    refused(cli("import", str(write_tar(tmp_path / "l.tar", items)), "--dest", str(dst)), dst,
            "is not a regular file")


def test_a_destination_that_fails_partway_exits_1_and_a_rerun_finishes(
    cli, exported: Path, tmp_path: Path
) -> None:
    """GIVEN a directory squatting on one bottle's key WHEN importing THEN exit 1 naming that
    key (the rest may have landed); once it is removed, the same import finishes with 0."""
    dst = tmp_path / "inside"
    squatted = dst / "bottles" / "wget-1.25.0_1.x86_64_linux.bottle.1.tar.gz"
    squatted.mkdir(parents=True)
    result = cli("import", str(exported), "--dest", str(dst))
    assert result.code == 1 and squatted.name in result.err and "Traceback" not in result.err
    squatted.rmdir()
    assert cli("import", str(exported), "--dest", str(dst)).code == 0
    assert cli("verify", "--dest", str(dst)).code == 0


def test_a_member_the_table_lists_but_the_tar_lacks_is_refused(cli, exported: Path,
                                                               tmp_path: Path) -> None:
    """GIVEN the last member dropped (table intact) THEN import refuses, naming it."""
    items = members(exported)
    dst = tmp_path / "inside"
    path = write_tar(tmp_path / "m.tar", items[:-1])
    refused(cli("import", str(path), "--dest", str(dst)), dst, f"{items[-1][0].name!r}")


@pytest.mark.parametrize(("size", "ok"), [("4", True), ("700 MiB", True), ("0.5", True),
                                          ("1 KiB", False), ("lots", False)])
def test_split_size_is_gib_or_a_unit(cli, exported: Path, tmp_path: Path, size: str,
                                     ok: bool) -> None:
    """--split-size N is GiB, or '<n> MiB|GiB'; under 1 MiB or not a size is a usage error."""
    out = tmp_path / "s.tar"
    result = cli("export", "--dest", str(tmp_path / "mirror"), "--since", TODAY, "--out",
                 str(out), "--split-size", size)
    if ok:
        assert result.code == 0 and [p.name for p in tmp_path.glob("s.tar*")] == ["s.tar.000"]
    else:
        assert result.code == 2 and "--split-size" in result.err
        assert list(tmp_path.glob("s.tar*")) == []


def test_export_from_an_s3_mirror(bottlesync_process, s3_env: dict[str, str], s3_client: Any,
                                  bucket: str, homebrew: FakeHomebrew, tmp_path: Path) -> None:
    """GIVEN a mirror synced into s3://bucket/outside (moto) WHEN exported and imported into a
    local directory THEN every bottle is byte-identical to the bucket's and verify is clean."""
    dest = f"s3://{bucket}/outside"
    config = write_config(tmp_path / "c.yaml", homebrew.source_url, dest)
    assert bottlesync_process("sync", "--config", str(config), env=s3_env).code == 0
    delta = tmp_path / "s3.tar"
    done = bottlesync_process("export", "--dest", dest, "--since", TODAY, "--out", str(delta),
                              "--json", env=s3_env)
    assert done.code == 0 and done.json["bottles"] == 13, done.err
    inside = tmp_path / "inside"
    assert bottlesync_process("import", str(delta), "--dest", str(inside)).code == 0
    for key, data in bottles(inside).items():
        assert s3_client.get_object(Bucket=bucket, Key=f"outside/{key}")["Body"].read() == data
    assert bottlesync_process("verify", "--dest", str(inside)).code == 0
