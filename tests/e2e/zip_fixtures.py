"""
zip_fixtures.py - helpers shared by the ZIP download, /files and assetctl
zip tests: put files straight into a server's file blob store (the layout
of blob_file.c: <data>/blobs/o/<key>) and register an asset pointing at
them with the URLs the upload writes (<public_url>/files/<key, each segment
percent-encoded>), and run the four zip readers on an archive.
"""

import hashlib
import json
import shutil
import subprocess
import warnings
import zlib
from pathlib import Path
from urllib.parse import quote

from e2e_helpers import make_asset, uniq

ZIP_TOOLS = {
    "unzip": ["unzip", "-t", "-qq"],
    "python3": ["python3", "-m", "zipfile", "-t"],
    "bsdtar": ["bsdtar", "-tf"],
    "7z": ["7z", "t"],
}


def file_url(inst, key):
    return inst.base + "/files/" + "/".join(quote(s, safe="") for s in key.split("/"))


def blob_path(inst, key):
    return Path(inst.data_dir) / "blobs" / "o" / key


def put_blob(inst, key, data):
    p = blob_path(inst, key)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def file_meta(data, crc=True, size=True):
    m = {"sha256": hashlib.sha256(data).hexdigest()}
    if size:
        m["size"] = len(data)
    if crc:
        m["crc32"] = f"{zlib.crc32(data) & 0xffffffff:08x}"
    return m


def stored_asset(inst, api, files, asset_id=None, upload_id=None, **fields):
    """Creates an asset whose files (a list of (path, bytes) or (path, bytes,
    meta_kwargs)) are stored under <upload_id>/<path>. Returns (asset, keys)."""
    upload_id = upload_id or uniq("up")
    entries, keys = [], []
    for f in files:
        path, data = f[0], f[1]
        kw = f[2] if len(f) > 2 else {}
        key = f"{upload_id}/{path}"
        put_blob(inst, key, data)
        keys.append(key)
        entries.append({
            "asset_file_id": path,
            "asset_file_type": "binary",
            "asset_file_mime_type": "application/octet-stream",
            "asset_file_url": file_url(inst, key),
            "asset_file_metadata": file_meta(data, **kw),
        })
    a = make_asset(asset_id, files=entries, asset_file_ids=[e["asset_file_id"] for e in entries],
                   **fields)
    api.create(a)
    return a, keys


def stored_text(api, asset_id):
    """The stored canonical JSON text of an asset (the data of GET)."""
    r = api.get("/assets/" + quote(asset_id, safe=""))
    assert r.status_code == 200, r.text
    body = r.content
    head = b'{"success":true,"data":'
    assert body.startswith(head) and body.endswith(b"}"), body[:100]
    return body[len(head):-1]


def check_zip_tools(path):
    """Runs every installed reader on path; returns the names of missing ones."""
    missing = []
    for name, argv in ZIP_TOOLS.items():
        if not shutil.which(argv[0]):
            missing.append(name)
            continue
        p = subprocess.run(argv + [str(path)], capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, f"{name} rejects {path}:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}"
    if missing:
        warnings.warn(f"zip readers not installed, not checked: {', '.join(missing)} "
                      "(scripts/install-deps.sh test)")
    return missing


def loads(b):
    return json.loads(b)
