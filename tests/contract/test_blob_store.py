"""The BlobStore contract: every implementation must behave exactly like this."""

from __future__ import annotations

import pytest

from convoinsight.errors import NotFound


def test_put_get_overwrite_delete(blobs, tenant):
    path = f"{tenant}/d/x.bin"
    assert blobs.exists(path) is False
    blobs.put(path, b"\x00\x01data")
    assert blobs.get(path) == b"\x00\x01data" and blobs.exists(path)
    blobs.put(path, b"new")
    assert blobs.get(path) == b"new"
    assert blobs.delete(path) is True and blobs.delete(path) is False
    with pytest.raises(NotFound):
        blobs.get(path)


def test_list_and_delete_prefix(blobs, tenant):
    for name in ("a/1", "a/2", "b/1"):
        blobs.put(f"{tenant}/{name}", name.encode())
    assert blobs.list(f"{tenant}/a") == [f"{tenant}/a/1", f"{tenant}/a/2"]
    assert blobs.delete_prefix(f"{tenant}/a") == 2
    assert blobs.list(f"{tenant}/a") == [] and blobs.get(f"{tenant}/b/1") == b"b/1"


@pytest.mark.parametrize("path", ["../escape", "/abs/path", "a/../../b", "a//b", "a/./b", "a\\b", "nul\x00byte", ""])
def test_unsafe_paths_are_refused(blobs, path):
    with pytest.raises(ValueError):
        blobs.put(path, b"x")


def test_ping(blobs):
    blobs.ping()


def test_prefixes_are_folders_not_string_prefixes(blobs, tenant):
    blobs.put(f"{tenant}/data/a/1", b"1")
    blobs.put(f"{tenant}/data/ab/1", b"2")
    assert blobs.list(f"{tenant}/data/a") == [f"{tenant}/data/a/1"]
    assert blobs.delete_prefix(f"{tenant}/data/a") == 1
    assert blobs.get(f"{tenant}/data/ab/1") == b"2"


def test_move_renames_within_the_store(blobs, tenant):
    blobs.put(f"{tenant}/in/x.csv", b"payload")
    blobs.move(f"{tenant}/in/x.csv", f"{tenant}/out/v1/original.csv")
    assert blobs.get(f"{tenant}/out/v1/original.csv") == b"payload"
    assert blobs.exists(f"{tenant}/in/x.csv") is False
    with pytest.raises(NotFound):
        blobs.move(f"{tenant}/in/x.csv", f"{tenant}/out/again.csv")


def test_files_stream_in_and_out(blobs, tenant, tmp_path):
    """Large uploads and canonical Parquet files travel as local files, never as one bytes object."""
    source = tmp_path / "source.bin"
    payload = bytes(range(256)) * 40_000 + b"tail"  # ~10 MB: several chunks whatever the backend's chunk size
    source.write_bytes(payload)
    path = f"{tenant}/d/big.bin"
    blobs.put_file(path, source, "application/octet-stream")
    assert blobs.exists(path) and blobs.get(path) == payload
    target = tmp_path / "copy.bin"
    blobs.get_file(path, target)
    assert target.read_bytes() == payload
    blobs.put_file(path, tmp_path / "source.bin")  # overwrite
    with pytest.raises(NotFound):
        blobs.get_file(f"{tenant}/d/missing.bin", tmp_path / "missing.bin")
    assert not (tmp_path / "missing.bin").exists()
