"""
test_zip_upload_hostile.py - hostile archives: each upload is accepted
(202), ends as `failed: <reason naming the problem>`, registers nothing,
leaves no stored object, and the server keeps serving.
"""

import io
import random
import json
import os
import subprocess
import warnings
import zipfile
from pathlib import Path

import pytest

from e2e_helpers import uniq
from zip_upload_helpers import (asset_doc, overlapping_bomb, patch_name, upload_and_wait,
                                zip_bytes)


def stored_files(data_dir, upload_id):
    root = Path(data_dir) / "blobs" / "o" / upload_id
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def expect_failure(client, inst, data, *words):
    st = upload_and_wait(client, data)
    assert st["status"].startswith("failed: "), st
    for w in words:
        assert w in st["status"], st
    assert stored_files(inst.data_dir, st["upload_id"]) == []
    assert client.get("/healthz").status_code == 200
    return st


def with_info(info, data, aid=None):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("asset.json", json.dumps(asset_doc(aid)))
        z.writestr(info, data)
    return buf.getvalue()


# ---- broken archives -------------------------------------------------------

def test_corrupt_archive(api, server):
    expect_failure(api, server, b"PK\x03\x04" + os.urandom(5000), "corrupt archive")


def test_truncated_archive(api, server):
    data = zip_bytes([("asset.json", asset_doc()), ("a", os.urandom(50_000))])
    expect_failure(api, server, data[: len(data) // 2], "corrupt archive")


def test_corrupt_entry_data(api, server):
    aid = uniq("zip")
    rnd = random.Random(7)
    text = bytes(rnd.choice(b"abcdefghij") for _ in range(200_000))
    data = bytearray(zip_bytes([("asset.json", asset_doc(aid)), ("a.bin", text)]))
    i = data.index(b"a.bin") + 5 + 2000  # inside a.bin's deflate stream
    data[i:i + 64] = bytes(64)
    expect_failure(api, server, bytes(data), "a.bin")
    assert api.get(f"/assets/{aid}").status_code == 404


def test_bad_crc_in_stored_entry(api, server):
    aid = uniq("zip")
    data = bytearray(zip_bytes([("asset.json", asset_doc(aid)), ("s.bin", b"q" * 10_000)], zipfile.ZIP_STORED))
    i = data.index(b"s.bin") + 5 + 100
    data[i] ^= 0xff
    st = expect_failure(api, server, bytes(data), "s.bin")
    assert "crc" in st["status"].lower(), st


# ---- entry names -----------------------------------------------------------

@pytest.mark.parametrize("name,word", [
    ("/etc/passwd", "absolute"),
    ("../escape.txt", ".."),
    ("a/../../escape.txt", ".."),
    ("a\\b.txt", "backslash"),
    ("C:/windows.txt", "absolute"),
    ("a//b", "empty path segment"),
    ("ctl\x01.txt", "control character"),
])
def test_bad_entry_names(api, server, name, word):
    aid = uniq("zip")
    expect_failure(api, server, with_info(zipfile.ZipInfo(name), b"x", aid), word)
    assert api.get(f"/assets/{aid}").status_code == 404


def test_nul_in_entry_name(api, server):
    aid = uniq("zip")
    data = patch_name(with_info(zipfile.ZipInfo("evilXnul.txt"), b"x", aid), b"evilXnul.txt", b"evil\0nul.txt")
    expect_failure(api, server, data, "NUL")
    assert api.get(f"/assets/{aid}").status_code == 404


# ---- entry types -----------------------------------------------------------

def unix_info(name, mode):
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = mode << 16
    return info


def test_symlink_entry(api, server):
    expect_failure(api, server, with_info(unix_info("link", 0o120777), b"/etc/passwd"), "symbolic link")


def test_symlink_from_info_zip(api, server, tmp_path):
    d = tmp_path / "tree"
    d.mkdir()
    (d / "asset.json").write_text(json.dumps(asset_doc()))
    os.symlink("/etc/passwd", d / "pw")
    subprocess.run(["zip", "-q", "-y", "-r", str(tmp_path / "s.zip"), "."], cwd=d, check=True)
    expect_failure(api, server, (tmp_path / "s.zip").read_bytes(), "symbolic link", "pw")


@pytest.mark.parametrize("mode", [0o020644, 0o060644])
def test_device_entry(api, server, mode):
    expect_failure(api, server, with_info(unix_info("dev", mode), b""), "device")


def test_fifo_entry(api, server):
    expect_failure(api, server, with_info(unix_info("fifo", 0o010644), b""), "not a regular file")


def test_duplicate_names(api, server):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = zip_bytes([("asset.json", asset_doc()), ("a.bin", b"1"), ("a.bin", b"2")])
    expect_failure(api, server, data, "duplicate", "a.bin")


def test_duplicate_asset_json(api, server):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = zip_bytes([("asset.json", asset_doc()), ("asset.json", asset_doc())])
    expect_failure(api, server, data, "duplicate", "asset.json")


def test_encrypted_entry(api, server, tmp_path):
    d = tmp_path / "tree"
    d.mkdir()
    (d / "asset.json").write_text(json.dumps(asset_doc()))
    (d / "secret.bin").write_bytes(b"s" * 1000)
    subprocess.run(["zip", "-q", "-P", "pw", "-r", str(tmp_path / "e.zip"), "."], cwd=d, check=True)
    expect_failure(api, server, (tmp_path / "e.zip").read_bytes(), "encrypted")


def test_encrypted_aes_entry_from_7z(api, server, tmp_path):
    d = tmp_path / "tree"
    d.mkdir()
    (d / "asset.json").write_text(json.dumps(asset_doc()))
    (d / "secret.bin").write_bytes(b"s" * 1000)
    subprocess.run(["7z", "a", "-tzip", "-pPW", "-mem=AES256", str(tmp_path / "e.zip"), "."],
                   cwd=d, check=True, stdout=subprocess.DEVNULL)
    expect_failure(api, server, (tmp_path / "e.zip").read_bytes(), "encrypted")


# ---- limits ----------------------------------------------------------------

def test_too_many_entries(assetd_factory):
    inst = assetd_factory(args=["--zip-max-entries", "10"])
    c = inst.client()
    ok = zip_bytes([("asset.json", asset_doc())] + [(f"f{i}", b"1") for i in range(9)])
    assert upload_and_wait(c, ok)["status"] == "success"
    bad = zip_bytes([("asset.json", asset_doc())] + [(f"f{i}", b"1") for i in range(10)])
    expect_failure(c, inst, bad, "more than 10 entries")


def test_total_uncompressed_over_limit(assetd_factory):
    inst = assetd_factory(args=["--zip-max-unpacked", "1000000"])
    c = inst.client()
    data = zip_bytes([("asset.json", asset_doc()), ("a", os.urandom(600_000)), ("b", os.urandom(600_000))],
                     zipfile.ZIP_STORED)
    expect_failure(c, inst, data, "total uncompressed size", "1000000")


def test_lying_sizes_are_counted(assetd_factory):
    """An entry whose header claims fewer bytes than its data holds."""
    inst = assetd_factory(args=["--zip-max-unpacked", "1000000"])
    c = inst.client()
    data = bytearray(zip_bytes([("asset.json", asset_doc()), ("a", b"\0" * 2_000_000)]))
    st = upload_and_wait(c, bytes(data))
    assert st["status"].startswith("failed: "), st  # over the total or the ratio, either way


def test_compression_ratio_bomb(api, server):
    data = zip_bytes([("asset.json", asset_doc()), ("zeros", b"\0" * 50_000_000)])
    expect_failure(api, server, data, "compression ratio", "200:1")


def test_overlapping_entries_bomb(api, server):
    # 2000 central entries pointing at one 1 MiB deflated file: ~2 GB declared
    data = overlapping_bomb(2000)
    assert len(data) < 200_000
    st = upload_and_wait(api, data)
    assert st["status"].startswith("failed: "), st
    assert "overlapping entries" in st["status"], st
    assert stored_files(server.data_dir, st["upload_id"]) == []


def test_ratio_limit_configurable(assetd_factory):
    inst = assetd_factory(args=["--zip-max-ratio", "5000"])
    st = upload_and_wait(inst.client(), zip_bytes([("asset.json", asset_doc()), ("z", b"\0" * 20_000_000)]))
    assert st["status"] == "success", st


# ---- asset.json ------------------------------------------------------------

def test_asset_json_missing(api, server):
    expect_failure(api, server, zip_bytes([("a.bin", b"1")]), "asset.json missing")


def test_asset_json_not_at_root(api, server):
    expect_failure(api, server, zip_bytes([("sub/asset.json", asset_doc()), ("a", b"1")]),
                   "asset.json missing")


def test_asset_json_over_1_mib(api, server):
    doc = asset_doc(asset_brief_description="x" * (1 << 20))
    expect_failure(api, server, zip_bytes([("asset.json", doc)]), "asset.json is over the limit of 1 MiB")


def test_asset_json_not_json(api, server):
    expect_failure(api, server, zip_bytes([("asset.json", b"{not json"), ("a", b"1")]),
                   "asset.json is not valid JSON")


def test_asset_json_not_an_object(api, server):
    expect_failure(api, server, zip_bytes([("asset.json", b"[1, 2]")]), "JSON object")


def test_asset_json_failing_validation(api, server):
    doc = asset_doc()
    del doc["asset_uri"]
    st = expect_failure(api, server, zip_bytes([("asset.json", doc), ("a", b"1")]),
                        "asset.json failed validation", "asset_uri")


def test_asset_json_bad_type(api, server):
    doc = asset_doc(asset_version=12)
    expect_failure(api, server, zip_bytes([("asset.json", doc)]), "failed validation", "asset_version")


def test_server_still_serves_after_all_that(api):
    aid = uniq("zip")
    st = upload_and_wait(api, zip_bytes([("asset.json", asset_doc(aid)), ("ok.txt", b"fine")]))
    assert st["status"] == "success"
    assert api.get(f"/assets/{aid}").status_code == 200
