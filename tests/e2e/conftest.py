"""
conftest.py - the harness of assetd's end-to-end tests.

Every test talks HTTP to a real assetd process:

- `server` (session scope) is one assetd listening on two free loopback
  ports with a temporary data directory; it is shared by all tests, so
  tests use unique asset ids and unique type/tag/version values;
- `assetd_factory` starts extra instances with custom arguments or
  environment (configuration, persistence, shutdown tests);
- every instance is stopped with SIGTERM at teardown and must exit 0 within
  15 s with no AddressSanitizer / LeakSanitizer / UBSan report in its
  stderr (which is also assetd's request log).

The binaries are $ASSETD_BIN and $ASSETCTL_BIN, by default build/assetd and
build/assetctl of this repository. A missing binary fails the tests: it is a
build failure, not a reason to skip.

Run with Debian's interpreter (python3-pytest, python3-requests):
    /usr/bin/python3 -m pytest -q tests/e2e
"""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from e2e_helpers import Client, SANITIZER_MARKERS, sanitizer_report

REPO = Path(__file__).resolve().parents[2]
ASSETD_BIN = Path(os.environ.get("ASSETD_BIN", REPO / "build" / "assetd"))
ASSETCTL_BIN = Path(os.environ.get("ASSETCTL_BIN", REPO / "build" / "assetctl"))

START_TIMEOUT = 20.0  # seconds until /healthz must answer
STOP_TIMEOUT = 15.0  # seconds until SIGTERM must have ended the process
LATE_GRACE = 30.0  # after a failed stop, how long to wait for diagnostics before SIGKILL

# Every sanitizer report seen in any instance; printed again at session end.
_SANITIZER_FAILURES = []


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (all bound at once, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def require_binary(path, what):
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"{what} binary not found or not executable at {path} "
            f"(build it first, or set ${what.upper()}_BIN)",
            pytrace=False,
        )
    return path


def sanitizer_env(extra=None):
    env = dict(os.environ)
    # Make sanitizer reports land in stderr and leaks make the exit non-zero.
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    env.setdefault("NO_PROXY", "127.0.0.1,localhost")
    env.setdefault("no_proxy", "127.0.0.1,localhost")
    # Settings given as ASSETD_* in the developer's shell must not leak in.
    for k in list(env):
        if k.startswith("ASSETD_") and k not in ("ASSETD_BIN",):
            del env[k]
    if extra:
        env.update(extra)
    return env


class Instance:
    """One running assetd: its process, ports, data directory and log."""

    def __init__(self, args, env, data_dir, log_path, ports, name):
        self.args = args
        self.data_dir = Path(data_dir) if data_dir else None
        self.log_path = Path(log_path)
        self.ports = list(ports)
        self.name = name
        self.returncode = None
        self.late = False
        self.late_returncode = None
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    # ---- addresses -------------------------------------------------------
    @property
    def base(self):
        return f"http://127.0.0.1:{self.ports[0]}"

    @property
    def bases(self):
        return [f"http://127.0.0.1:{p}" for p in self.ports]

    @property
    def port(self):
        return self.ports[0]

    def client(self, which=0):
        return Client(self.bases[which])

    # ---- log --------------------------------------------------------------
    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, predicate, timeout=5.0):
        """Waits until predicate(log text) is true (the log may be flushed
        a little after the response); returns the log text either way."""
        deadline = time.monotonic() + timeout
        text = self.log()
        while not predicate(text) and time.monotonic() < deadline:
            time.sleep(0.05)
            text = self.log()
        return text

    # ---- lifecycle ----------------------------------------------------------
    def alive(self):
        return self.proc.poll() is None

    def wait_ready(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        s = requests.Session()
        s.trust_env = False
        last = None
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    pytest.fail(
                        f"assetd ({self.name}) exited with status {self.proc.returncode} "
                        f"before answering /healthz\ncommand: {self.args}\n"
                        f"--- stderr ---\n{self.log()}",
                        pytrace=False,
                    )
                try:
                    r = s.get(self.base + "/healthz", timeout=2)
                    if r.status_code == 200:
                        return
                    last = f"status {r.status_code}: {r.text[:200]}"
                except requests.RequestException as e:
                    last = repr(e)
                time.sleep(0.05)
        finally:
            s.close()
        self.kill()
        pytest.fail(
            f"assetd ({self.name}) did not answer GET /healthz within {timeout} s "
            f"(last: {last})\ncommand: {self.args}\n--- stderr ---\n{self.log()}",
            pytrace=False,
        )

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, wait; returns the exit status (None if it had to be killed)."""
        if self.returncode is not None:
            return self.returncode
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # Too late: the stop fails. Give it a while longer anyway so its
            # log says what it was waiting for, then kill it.
            self.late = True
            try:
                self.late_returncode = self.proc.wait(timeout=LATE_GRACE)
            except subprocess.TimeoutExpired:
                self.kill()
            self.returncode = None
        self._log.close()
        return self.returncode

    def wait_exit(self, timeout=STOP_TIMEOUT):
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self._log.close()
        return self.returncode

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        if not self._log.closed:
            self._log.close()

    def check_clean_exit(self):
        """Stops the instance and returns a list of problems (empty if none)."""
        problems = []
        rc = self.stop()
        if rc is None:
            later = (f"it exited {self.late_returncode} later" if self.late_returncode is not None
                     else f"it was killed after {STOP_TIMEOUT + LATE_GRACE:.0f} s")
            problems.append(f"assetd ({self.name}) did not exit within {STOP_TIMEOUT} s of SIGTERM ({later})")
        elif rc != 0:
            problems.append(f"assetd ({self.name}) exited with status {rc} after SIGTERM (want 0)")
        report = sanitizer_report(self.log())
        if report:
            problems.append(f"assetd ({self.name}) sanitizer report:\n{report}")
            _SANITIZER_FAILURES.append((self.name, report))
        if problems:
            problems.append(f"--- last 60 lines of {self.log_path} ---\n" + "\n".join(self.log().splitlines()[-60:]))
        return problems


def start_instance(tmp_root, name, args=None, env=None, listen=True, data=True, nports=2, wait=True):
    """Starts assetd. With listen=True adds --listen for `nports` free ports;
    with data=True adds --data <tmp dir>. `args` are appended."""
    require_binary(ASSETD_BIN, "assetd")
    tmp_root = Path(tmp_root)
    tmp_root.mkdir(parents=True, exist_ok=True)
    ports = free_ports(nports) if listen else []
    argv = [str(ASSETD_BIN)]
    for p in ports:
        argv += ["--listen", f"127.0.0.1:{p}"]
    data_dir = None
    if data is True:
        data_dir = tmp_root / "data"
        data_dir.mkdir(exist_ok=True)
        argv += ["--data", str(data_dir)]
    elif data:
        data_dir = Path(data)
        argv += ["--data", str(data_dir)]
    argv += list(args or [])
    inst = Instance(argv, sanitizer_env(env), data_dir, tmp_root / "assetd.log", ports, name)
    if wait:
        inst.wait_ready()
    return inst


@pytest.fixture(scope="session")
def assetd_bin():
    return require_binary(ASSETD_BIN, "assetd")


@pytest.fixture(scope="session")
def assetctl_bin():
    return require_binary(ASSETCTL_BIN, "assetctl")


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The shared assetd of the session (two listeners, temporary data dir)."""
    inst = start_instance(tmp_path_factory.mktemp("assetd-session"), "session server")
    yield inst
    problems = inst.check_clean_exit()
    assert not problems, "\n".join(problems)


@pytest.fixture
def api(server):
    """A client for the shared server's first listener."""
    c = server.client(0)
    yield c
    c.close()


class _Factory:
    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.instances = []
        self.n = 0

    def __call__(self, args=None, env=None, listen=True, data=True, nports=2, wait=True, name=None):
        """Starts an extra assetd (stopped and checked at teardown).
        data: True = a fresh tmp dir, a path = that dir, None/False = no --data."""
        self.n += 1
        root = self.tmp_path / f"instance{self.n}"
        inst = start_instance(root, name or f"extra instance {self.n}", args=args, env=env,
                              listen=listen, data=data, nports=nports, wait=False)
        self.instances.append(inst)
        if wait:
            inst.wait_ready()
        return inst

    def start_with(self, argv_tail, env=None, ports=(), data_dir=None, name=None, wait=True):
        """Starts assetd with exactly `argv_tail` as arguments (no automatic
        --listen/--data); `ports` tells the harness where it will listen."""
        require_binary(ASSETD_BIN, "assetd")
        self.n += 1
        root = self.tmp_path / f"instance{self.n}"
        root.mkdir(parents=True, exist_ok=True)
        inst = Instance([str(ASSETD_BIN)] + list(argv_tail), sanitizer_env(env), data_dir,
                        root / "assetd.log", ports, name or f"extra instance {self.n}")
        self.instances.append(inst)
        if wait:
            inst.wait_ready()
        return inst


@pytest.fixture
def assetd_factory(tmp_path):
    f = _Factory(tmp_path)
    yield f
    problems = []
    for inst in f.instances:
        problems += inst.check_clean_exit()
    assert not problems, "\n".join(problems)


def pytest_sessionfinish(session, exitstatus):
    if _SANITIZER_FAILURES:
        banner = "!" * 78
        lines = [banner, "SANITIZER ERRORS IN assetd (" + ", ".join(SANITIZER_MARKERS) + ")"]
        for name, report in _SANITIZER_FAILURES:
            lines.append(f"--- {name} ---")
            lines.append(report)
        lines.append(banner)
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        text = "\n".join(lines)
        if tr is not None:
            tr.write_line(text, red=True, bold=True)
        else:
            print(text)
        session.exitstatus = 1


# --- asset store: source files and webhook services (tests/servers/assetsrv.py) ---
from assetsrv_fixture import assetsrv  # noqa: E402,F401  (the `assetsrv` fixture)
