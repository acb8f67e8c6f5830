#!/usr/bin/env python3
"""benchlib.py — the small jobs of bench.sh that are easier in Python.

  benchlib.py freeport               print a free TCP port on 127.0.0.1
  benchlib.py count URL [BODY]       GET URL (or POST the JSON BODY) and print
                                     how many items its "data" list holds
  benchlib.py mem PID                print "VmHWM VmRSS" of PID in KiB
  benchlib.py children PID           print the PIDs whose parent is PID (no procps needed)
  benchlib.py report RESULTS FACTS   print the Markdown report

RESULTS holds one record per line, "kind key=value key=value …" (kinds: wrk,
mem, file); FACTS holds "key<TAB>value" lines. Both are written by bench.sh.
"""
import json
import os
import socket
import sys
import urllib.request


def freeport():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def count(url, body=None):
    data = None if body is None else body.encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=60) as r:
        doc = json.load(r)
    if doc.get("success") is not True or not isinstance(doc.get("data"), list):
        sys.exit(f"benchlib.py: unexpected answer from {url}: {str(doc)[:300]}")
    print(len(doc["data"]))


def mem(pid):
    vals = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS"):
                vals[k] = int(v.split()[0])
    print(vals["VmHWM"], vals["VmRSS"])


def children(pid):
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # the field after the ")" closing the command name: state, then ppid
        if stat[stat.rindex(")") + 2:].split()[1] == pid:
            print(d)


def load_results(path):
    recs = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            rec = {"kind": parts[0]}
            for p in parts[1:]:
                k, _, v = p.partition("=")
                rec[k] = v
            recs.append(rec)
    return recs


def load_facts(path):
    facts = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("\t")
            facts[k] = v
    return facts


def ms(us):
    return f"{int(us) / 1000:.2f}"


def mib(kb):
    return f"{int(kb) / 1024:.1f} MiB"


def cpu(r):
    # CPU time is read in clock ticks (10 ms): meaningless for a run this short
    if float(r["duration_s"]) < 0.5:
        return "—"
    return f"{float(r['cpu_us_per_req']):,.0f}"


def rps(v):
    return f"{float(v):,.0f}"


def report(results_path, facts_path):
    recs = load_results(results_path)
    facts = load_facts(facts_path)
    wrk = [r for r in recs if r["kind"] == "wrk"]
    out = []
    w = out.append

    w(f"# assetd benchmark — {facts['date']}")
    w("")
    w(f"Command: `bash bench/bench.sh` (total wall time {facts.get('runtime_s', '?')} s, "
      f"including the build and loading 110 000 assets).")
    w("")
    w("## Machine")
    w("")
    w("| | |")
    w("|---|---|")
    for k, label in (("nproc", "nproc"), ("cpu", "CPU"), ("kernel", "kernel"), ("mem", "memory"),
                     ("commit", "assetd commit"), ("wrk", "wrk"), ("nginx", "nginx"),
                     ("sqlite", "SQLite (library)"), ("mhd", "libmicrohttpd")):
        w(f"| {label} | {facts.get(k, '?')} |")
    w(f"| load average at start | {facts.get('loadavg_start', '?')} |")
    w(f"| CPU steal during the run | {facts.get('steal_pct', '?')} % |")
    w("")
    w("## Setup")
    w("")
    w(f"- assetd: Release build (`build-bench/`), one listener on 127.0.0.1, default threads "
      f"(a libmicrohttpd pool of `nproc` = {facts.get('nproc')} worker threads per listener), "
      f"`--access-log off` except in the run marked *access log on* (log to a file), a fresh "
      f"temp `--data` dir per phase (SQLite meta store in WAL mode).")
    w(f"- nginx: `worker_processes 2`, `access_log off`, keep-alive defaults "
      f"(`keepalive_timeout 75s`, `keepalive_requests 1000`), serving a static file that holds "
      f"the exact body of assetd's `GET /query/by-id/{facts.get('hot_id')}` "
      f"({facts.get('body_bytes')} bytes) with `default_type application/json`.")
    w(f"- Assets: ~{facts.get('post_bytes')} bytes of JSON per POST (1–2 profiles, one of 20 "
      f"types, sub-type, 3 tags, one API with a route, `asset_metadata.params` = the asset's "
      f"sequence number); stored canonical form ~{facts.get('body_bytes')} bytes.")
    w("- Client: wrk on the same 2 cores (it competes with the server for CPU, equally for "
      "nginx and assetd). All runs over loopback with keep-alive.")
    w("")

    # --- creates ---
    w("## POST /assets (creates)")
    w("")
    w("`wrk -t2 -c64` with `bench/load.lua` (unique ids per wrk thread; wrk stops once every "
      "asset is acknowledged). Count verified afterwards with "
      "`GET /assets?fields=asset_id`; non-2xx must be 0.")
    w("")
    w("| run | store size before → after | creates/s | p50 ms | p99 ms | assetd CPU µs/create "
      "| non-2xx |")
    w("|---|---|---:|---:|---:|---:|---:|")
    for r in wrk:
        if r["phase"] != "load":
            continue
        w(f"| {r['label']} | {int(r['from']):,} → {int(r['size']):,} | {rps(r['rps'])} | "
          f"{ms(r['p50_us'])} | {ms(r['p99_us'])} | {cpu(r)} | {r['non2xx']} |")
    w("")

    # --- by-id vs nginx ---
    w("## GET /query/by-id vs nginx (10 000 assets stored)")
    w("")
    w("`wrk -t2 -c64 -d10s --latency`, keep-alive; runs alternate nginx, assetd (hot id), "
      "assetd (random id) twice; the table shows the best run of each (latency from that run).")
    w("")
    w("| server | req/s round 1 | req/s round 2 | best req/s | p50 ms | p99 ms | "
      "server CPU µs/req | vs nginx (req/s) |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|")
    byid = [r for r in wrk if r["phase"] == "byid"]
    labels = []
    for r in byid:
        if r["label"] not in labels:
            labels.append(r["label"])
    best = {}
    for lab in labels:
        runs = [r for r in byid if r["label"] == lab]
        best[lab] = max(runs, key=lambda r: float(r["rps"]))
    ngx = float(best["nginx-static-file"]["rps"]) if "nginx-static-file" in best else None
    names = {
        "nginx-static-file": "nginx, static file",
        "assetd-hot-id": f"assetd, one id ({facts.get('hot_id')})",
        "assetd-random-id": "assetd, random id of 10 000",
        "assetd-hot-id-access-log": "assetd, one id, **access log on** (to a file)",
    }
    for lab in labels:
        runs = [r for r in byid if r["label"] == lab]
        rounds = [rps(r["rps"]) for r in runs] + ["—"] * (2 - len(runs))
        b = best[lab]
        ratio = f"{float(b['rps']) / ngx:.2f}×" if ngx else "?"
        w(f"| {names.get(lab, lab)} | {rounds[0]} | {rounds[1]} | {rps(b['rps'])} | "
          f"{ms(b['p50_us'])} | {ms(b['p99_us'])} | {b['cpu_us_per_req']} | {ratio} |")
    w("")
    if facts.get("access_log_lines"):
        w(f"Access-log run: {int(facts['access_log_lines']):,} lines, "
          f"{int(facts['access_log_bytes']):,} bytes written to the log file.")
        w("")

    # --- queries vs size ---
    w("## Queries vs store size")
    w("")
    w("`wrk -t2 -c8 -d5s --latency` at 1 000, 10 000 and 100 000 stored assets (10 of them of "
      "type `probe`, the rest generated; each result size checked before the run).")
    w("")
    q = [r for r in wrk if r["phase"] == "query"]
    qlabels = []
    for r in q:
        if r["label"] not in qlabels:
            qlabels.append(r["label"])
    w("| query (results) | assets | p50 ms | p99 ms | req/s | assetd CPU µs/req |")
    w("|---|---:|---:|---:|---:|---:|")
    for lab in qlabels:
        desc = facts.get("q:" + lab, lab).replace("|", "\\|")
        for r in sorted((r for r in q if r["label"] == lab), key=lambda r: int(r["size"])):
            w(f"| {desc} | {int(r['size']):,} | {ms(r['p50_us'])} | {ms(r['p99_us'])} | "
              f"{rps(r['rps'])} | {float(r['cpu_us_per_req']):,.0f} |")
            desc = ""
    w("")

    # --- memory ---
    w("## Memory")
    w("")
    w("From `/proc/<pid>/status` (VmHWM = peak resident, VmRSS = resident now). Instance A "
      "serves the 10 000-asset phases, A′ the access-log run, B the 1k→100k phases; nginx is the "
      "sum of its master and 2 workers.")
    w("")
    w("| process | after | VmHWM | VmRSS |")
    w("|---|---|---:|---:|")
    for r in recs:
        if r["kind"] == "mem":
            w(f"| {r['proc']} | {r['when'].replace('_', ' ')} | {mib(r['hwm_kb'])} | "
              f"{mib(r['rss_kb'])} |")
    w("")
    files = [r for r in recs if r["kind"] == "file"]
    if files:
        fsizes = sorted({int(r["size"]) for r in files})
        names = []
        for r in files:
            if r["name"] not in names:
                names.append(r["name"])
        w("## Data dir size")
        w("")
        w("While the server runs (the WAL is checkpointed and removed when it stops).")
        w("")
        w("| file | " + " | ".join(f"{s:,} assets" for s in fsizes) + " |")
        w("|---|" + "---:|" * len(fsizes))
        for name in names:
            cells = []
            for s in fsizes:
                rr = [r for r in files if r["name"] == name and int(r["size"]) == s]
                cells.append(f"{int(rr[0]['bytes']) / 1048576:,.1f} MiB" if rr else "—")
            w(f"| {name.replace('_', ' ')} | " + " | ".join(cells) + " |")
        w("")
    print("\n".join(out))


def main(argv):
    if len(argv) >= 2 and argv[1] == "freeport":
        freeport()
    elif len(argv) in (3, 4) and argv[1] == "count":
        count(argv[2], argv[3] if len(argv) == 4 else None)
    elif len(argv) == 3 and argv[1] == "mem":
        mem(argv[2])
    elif len(argv) == 3 and argv[1] == "children":
        children(argv[2])
    elif len(argv) == 4 and argv[1] == "report":
        report(argv[2], argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
