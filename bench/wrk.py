"""Time GET requests with wrk (Debian's `wrk`): latency percentiles and throughput measured in C,
so the load tool does not share the server's two cores with a Python client's overhead.

A small Lua `done` hook prints the figures wrk keeps but does not print (p95, non-2xx count).
"""

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

WRK = "wrk"
REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH p50_us=%d p95_us=%d requests=%d duration_us=%d non2xx=%d socket_errors=%d\\n",
    latency:percentile(50), latency:percentile(95), summary.requests, summary.duration,
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass
class Figures:
    """What one wrk run measured."""

    p50_ms: float
    p95_ms: float
    per_second: float
    requests: int
    non_2xx: int
    socket_errors: int


def available() -> bool:
    return shutil.which(WRK) is not None


def run(url: str, headers: dict[str, str], connections: int, seconds: float) -> Figures:
    """GET `url` over `connections` connections for `seconds`; every response is counted."""
    if not available():
        raise SystemExit("wrk is not installed: `make bench` installs it (Debian package wrk)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(REPORT)
    try:
        duration = max(1, round(seconds))
        # A timeout as long as the run: a slow page (the baseline's search) is timed, not dropped.
        command = [WRK, "-t1", f"-c{connections}", f"-d{duration}s", f"--timeout={duration + 30}s"]
        command += ["-s", script.name]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        output = subprocess.run(
            [*command, url], capture_output=True, text=True, check=True, timeout=seconds + 60
        ).stdout
    finally:
        Path(script.name).unlink()
    line = next(line for line in output.splitlines() if line.startswith("BENCH "))
    values = dict(item.split("=") for item in line.split()[1:])
    return Figures(
        p50_ms=int(values["p50_us"]) / 1000,
        p95_ms=int(values["p95_us"]) / 1000,
        per_second=int(values["requests"]) / (int(values["duration_us"]) / 1e6),
        requests=int(values["requests"]),
        non_2xx=int(values["non2xx"]),
        socket_errors=int(values["socket_errors"]),
    )
