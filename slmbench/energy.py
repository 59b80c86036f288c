"""Energy of a generation job, read from the hardware's own counters, and the hardware it ran on.

`EnergyMeter` reads a cumulative energy counter before and after the job (and every `poll_s`
seconds in between, so that a counter that wraps around more than once is still summed right):

1. NVML (`nvmlDeviceGetTotalEnergyConsumption`, millijoules since the driver loaded) on NVIDIA
   GPUs, summed over the visible GPUs (`CUDA_VISIBLE_DEVICES` is honoured); `pynvml` comes from
   the `nvidia-ml-py` package and is imported only when a meter starts;
2. else Intel RAPL: `<root>/intel-rapl:N/energy_uj` (CPU packages, plus their `dram` sub-zones),
   wrap-around handled with `max_energy_range_uj`;
3. else nothing: the energy is `None` and the note says why. Energy is never estimated.

Both counters cover the whole device, so other work on it during the job (another job sharing the
GPU or the CPU, a shared server's other clients) is counted too; the note says so.

The generation job writes `meter.result()` into its sidecar (`slmbench.sidecar`) next to its records
(`meta_path(out_path)`), which the score step reads to compute energy per token.
"""

from __future__ import annotations

import os
import platform
import re
import threading
import time
from pathlib import Path
from typing import Any


RAPL_ROOT = "/sys/class/powercap"
_TOP_ZONE = re.compile(r"^intel-rapl:\d+$")
_SUB_ZONE = re.compile(r"^intel-rapl:\d+:\d+$")


# --- RAPL -----------------------------------------------------------------------------------------


class RaplUnavailable(RuntimeError):
    pass


class RaplCounter:
    """Sums the energy of the RAPL zones under `root` across readings, handling wrap-around.

    Zones: each top-level `intel-rapl:N` whose name is `package-*` (or every top-level zone when
    none is named so, e.g. no `name` files), plus `dram` sub-zones (DRAM lies outside the package).
    A `psys` zone is left out when packages exist, as it already contains them.
    """

    def __init__(self, root: str | os.PathLike = RAPL_ROOT):
        self.root = Path(root)
        self.zones = self._zones()
        if not self.zones:
            raise RaplUnavailable(f"no RAPL zones under {self.root}")
        self.max_range = {z: self._max_range(z) for z in self.zones}
        self.last = self._read()  # raises RaplUnavailable when unreadable
        self.total_uj = 0

    def _zones(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        entries = sorted(p for p in self.root.iterdir() if (p / "energy_uj").exists())
        top = [p for p in entries if _TOP_ZONE.match(p.name)]
        named = {p: _read_text(p / "name") for p in entries}
        packages = [p for p in top if (named[p] or "").startswith("package")]
        zones = packages or top
        zones += [p for p in entries if _SUB_ZONE.match(p.name) and named[p] == "dram"]
        return zones

    def _max_range(self, zone: Path) -> int | None:
        text = _read_text(zone / "max_energy_range_uj")
        return int(text) if text and text.isdigit() else None

    def _read(self) -> dict[Path, int]:
        values = {}
        for zone in self.zones:
            try:
                values[zone] = int((zone / "energy_uj").read_text().strip())
            except PermissionError as exc:
                raise RaplUnavailable(f"{zone / 'energy_uj'} is not readable by this user ({exc.strerror}); RAPL needs root or a udev rule") from exc
            except (OSError, ValueError) as exc:
                raise RaplUnavailable(f"{zone / 'energy_uj'} could not be read: {exc}") from exc
        return values

    def update(self) -> int:
        """Add the energy since the last reading; returns the total in microjoules."""
        now = self._read()
        for zone, value in now.items():
            before = self.last[zone]
            if value >= before:
                delta = value - before
            elif self.max_range[zone]:
                delta = self.max_range[zone] - before + value  # the counter wrapped once
            else:
                delta = 0  # a wrap with an unknown range: count nothing rather than guess
            self.total_uj += delta
        self.last = now
        return self.total_uj

    def describe(self) -> str:
        return ", ".join(f"{z.name} ({_read_text(z / 'name') or '?'})" for z in self.zones)


# --- NVML -----------------------------------------------------------------------------------------


class NvmlUnavailable(RuntimeError):
    pass


def _import_pynvml():
    try:
        import pynvml  # noqa: PLC0415 (imported only when a meter starts: not every host has it)
    except ImportError as exc:
        raise NvmlUnavailable("pynvml is not installed (pip install nvidia-ml-py)") from exc
    return pynvml


def _visible(handles_by_index: list[tuple[int, Any, str]]) -> list[tuple[int, Any, str]]:
    """Apply CUDA_VISIBLE_DEVICES (indices or UUIDs) to (index, handle, uuid) triples."""
    spec = os.environ.get("CUDA_VISIBLE_DEVICES")
    if spec is None or spec.strip() == "":
        return handles_by_index if spec is None else []
    wanted = [s.strip() for s in spec.split(",") if s.strip()]
    chosen = []
    for w in wanted:
        for index, handle, uuid in handles_by_index:
            if (w.isdigit() and int(w) == index) or (not w.isdigit() and uuid.startswith(w)):
                chosen.append((index, handle, uuid))
                break
    return chosen


class NvmlCounter:
    """Total energy (mJ) of the visible NVIDIA GPUs since the driver loaded, summed."""

    def __init__(self):
        self.nvml = _import_pynvml()
        try:
            self.nvml.nvmlInit()
        except Exception as exc:  # NVMLError: no driver, no device
            raise NvmlUnavailable(f"NVML could not start ({exc})") from exc
        try:
            count = self.nvml.nvmlDeviceGetCount()
            devices = []
            for i in range(count):
                handle = self.nvml.nvmlDeviceGetHandleByIndex(i)
                devices.append((i, handle, _text(self.nvml.nvmlDeviceGetUUID(handle))))
            self.devices = _visible(devices)
            if not self.devices:
                raise NvmlUnavailable("NVML sees no visible NVIDIA GPU")
            self.names = [_text(self.nvml.nvmlDeviceGetName(h)) for _, h, _ in self.devices]
            self.start = self._read()
        except NvmlUnavailable:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise NvmlUnavailable(f"the GPUs' energy counter is not supported ({exc})") from exc
        self.last = self.start

    def _read(self) -> int:
        return sum(int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(h)) for _, h, _ in self.devices)

    def update(self) -> int:
        """Energy since the start, in millijoules (the counter is 64-bit: it does not wrap)."""
        self.last = self._read()
        return self.last - self.start

    def close(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except Exception:
            pass


def gpu_names() -> list[str]:
    """Names of the visible NVIDIA GPUs, or [] when NVML is missing or sees none."""
    try:
        nvml = _import_pynvml()
        nvml.nvmlInit()
    except Exception:
        return []
    try:
        handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
        triples = _visible([(i, h, _text(nvml.nvmlDeviceGetUUID(h))) for i, h in enumerate(handles)])
        return [_text(nvml.nvmlDeviceGetName(h)) for _, h, _ in triples]
    except Exception:
        return []
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:
            pass


# --- hardware -------------------------------------------------------------------------------------


def cpu_model(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> str:
    text = _read_text(Path(cpuinfo)) or ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "cpu model", "Hardware") and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown"


def hardware() -> dict[str, Any]:
    """The host: CPU model, logical cores (and those this process may use), GPU names via NVML."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    gpus = gpu_names()
    return {
        "host": platform.node(),
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": usable,
        "gpus": gpus,
        "gpu_count": len(gpus),
    }


def hardware_label(hw: dict[str, Any] | None) -> str:
    """One line for tables: 'CPU (N cores) + k x GPU'."""
    if not hw:
        return ""
    label = f"{hw.get('cpu', '?')} ({hw.get('cpu_cores_usable') or hw.get('cpu_cores')} cores)"
    gpus = hw.get("gpus") or []
    for name in dict.fromkeys(gpus):
        label += f" + {gpus.count(name)} x {name}"
    return label


# --- the meter ------------------------------------------------------------------------------------


class EnergyMeter:
    """Measures the energy used while its `with` block runs.

    with EnergyMeter() as meter:
        run_the_job()
    meter.result()  # {"energy_j", "energy_source", "energy_note", "duration_s", "hardware"}

    `sources` picks and orders the counters tried ("nvml", "rapl"); `rapl_root` is the powercap
    folder; `poll_s` is how often a background thread reads the counter (0: only at start and end).
    """

    def __init__(self, sources: tuple[str, ...] = ("nvml", "rapl"), rapl_root: str | os.PathLike = RAPL_ROOT, poll_s: float = 5.0):
        self.sources = sources
        self.rapl_root = rapl_root
        self.poll_s = poll_s
        self.counter: NvmlCounter | RaplCounter | None = None
        self.source: str | None = None
        self.reasons: list[str] = []
        self.energy_j: float | None = None
        self.duration_s: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._hardware: dict[str, Any] | None = None
        self._t0: float | None = None

    @classmethod
    def off(cls, reason: str) -> "EnergyMeter":
        """A meter that measures nothing and says why (e.g. the model runs on another machine)."""
        meter = cls(sources=())
        meter.reasons.append(reason)
        return meter

    def __enter__(self) -> "EnergyMeter":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        for source in self.sources:
            try:
                self.counter = NvmlCounter() if source == "nvml" else RaplCounter(self.rapl_root)
                self.source = source
                break
            except (NvmlUnavailable, RaplUnavailable) as exc:
                self.reasons.append(f"{source}: {exc}")
        self._t0 = time.perf_counter()
        if self.counter is not None and self.poll_s > 0:
            self._thread = threading.Thread(target=self._poll, name="energy-meter", daemon=True)
            self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_s):
            self._update()

    def _update(self) -> float | None:
        with self._lock:
            try:
                total = self.counter.update()
            except Exception as exc:  # a counter that stops answering midway: give up, do not guess
                self.reasons.append(f"{self.source}: reading failed during the job ({exc})")
                self.counter, self.source = None, None
                return None
        return total / 1e3 if self.source == "nvml" else total / 1e6

    def stop(self) -> None:
        if self._t0 is None:  # never started: the job sent no request
            self.reasons.append("no request reached the server in this job (all answers came from the cache)")
            return
        self.duration_s = time.perf_counter() - self._t0
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.counter is not None:
            self.energy_j = self._update()
            if isinstance(self.counter, NvmlCounter):
                self.counter.close()

    def note(self) -> str:
        if self.source == "nvml":
            names = ", ".join(self.counter.names) if self.counter is not None else "?"
            return f"NVML total energy of {len(self.counter.devices) if self.counter else '?'} GPU(s) ({names}); whole-device energy, other work on these GPUs during the job is included"
        if self.source == "rapl":
            zones = self.counter.describe() if self.counter is not None else "?"
            gpus = gpu_names()
            extra = f"; the GPUs ({', '.join(gpus)}) are not included" if gpus else ""
            return f"RAPL zones {zones}; whole-CPU energy, other processes on this host during the job are included{extra}"
        return "not measured: " + ("; ".join(self.reasons) or "no energy counter tried")

    def hardware(self) -> dict[str, Any]:
        if self._hardware is None:
            self._hardware = hardware()
        return self._hardware

    def result(self) -> dict[str, Any]:
        return {
            "energy_j": self.energy_j,
            "energy_source": self.source if self.energy_j is not None else None,
            "energy_note": self.note(),
            "duration_s": self.duration_s,
            "hardware": self.hardware(),
        }


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
