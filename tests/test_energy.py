"""The energy meter: RAPL on a fake powercap folder, wrap-around, NVML via a fake pynvml, and the
'not measured' path."""

import json
import sys
import types

import pytest

from slmbench.energy import EnergyMeter, RaplCounter, RaplUnavailable, hardware_label
from slmbench.sidecar import meta_path, read_meta, write_meta


def _zone(root, name, energy, max_range=1_000_000, label="package-0"):
    zone = root / name
    zone.mkdir(parents=True, exist_ok=True)
    (zone / "energy_uj").write_text(f"{energy}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_range}\n")
    (zone / "name").write_text(f"{label}\n")
    return zone


def _set(zone, energy):
    (zone / "energy_uj").write_text(f"{energy}\n")


def test_rapl_sums_packages_and_dram_but_not_their_core_subzones(tmp_path):
    p0 = _zone(tmp_path, "intel-rapl:0", 100)
    p1 = _zone(tmp_path, "intel-rapl:1", 200, label="package-1")
    core = _zone(tmp_path, "intel-rapl:0:0", 50, label="core")
    dram = _zone(tmp_path, "intel-rapl:0:1", 10, label="dram")
    counter = RaplCounter(tmp_path)
    _set(p0, 1100)  # +1000
    _set(p1, 2200)  # +2000
    _set(core, 550)  # inside package 0: not added again
    _set(dram, 40)  # +30
    assert counter.update() == 3030


def test_rapl_handles_wrap_around_with_the_zone_range(tmp_path):
    zone = _zone(tmp_path, "intel-rapl:0", 900, max_range=1000)
    counter = RaplCounter(tmp_path)
    _set(zone, 100)  # wrapped: 100 up to the range, then 100
    assert counter.update() == 200
    _set(zone, 400)
    assert counter.update() == 500


def test_meter_polls_so_that_several_wraps_are_all_counted(tmp_path):
    zone = _zone(tmp_path, "intel-rapl:0", 0, max_range=1000)
    with EnergyMeter(sources=("rapl",), rapl_root=tmp_path, poll_s=0) as meter:
        for value in (600, 100, 700, 200):  # 600 + 500 + 600 + 500 = 2200 uJ, two wraps
            _set(zone, value)
            meter._update()
    result = meter.result()
    assert result["energy_source"] == "rapl"
    assert result["energy_j"] == pytest.approx(2200e-6)
    assert "intel-rapl:0" in result["energy_note"]


def test_meter_on_a_host_without_counters_measures_nothing_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails as if nvidia-ml-py were missing
    with EnergyMeter(rapl_root=tmp_path / "absent") as meter:
        pass
    result = meter.result()
    assert result["energy_j"] is None and result["energy_source"] is None
    assert result["energy_note"].startswith("not measured")
    assert "nvidia-ml-py" in result["energy_note"] and "RAPL" in result["energy_note"]
    assert result["hardware"]["cpu_cores"] >= 1 and result["hardware"]["gpus"] == []


def test_unreadable_rapl_counter_is_reported_not_guessed(tmp_path, monkeypatch):
    _zone(tmp_path, "intel-rapl:0", 5)
    original = type(tmp_path).read_text

    def deny(self, *args, **kwargs):
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(tmp_path), "read_text", deny)
    with pytest.raises(RaplUnavailable, match="not readable"):
        RaplCounter(tmp_path)


def _fake_pynvml(energies_mj: list[list[int]]):
    """A pynvml whose GPU i reports energies_mj[i] one reading after another."""
    module = types.ModuleType("pynvml")
    readings = [iter(values) for values in energies_mj]
    module.nvmlInit = lambda: None
    module.nvmlShutdown = lambda: None
    module.nvmlDeviceGetCount = lambda: len(energies_mj)
    module.nvmlDeviceGetHandleByIndex = lambda i: i
    module.nvmlDeviceGetUUID = lambda h: f"GPU-{h}"
    module.nvmlDeviceGetName = lambda h: "Fake H100"
    module.nvmlDeviceGetTotalEnergyConsumption = lambda h: next(readings[h])
    return module


def test_nvml_sums_the_visible_gpus(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml([[1000, 5000], [0, 2500], [7, 9]]))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    with EnergyMeter(rapl_root=tmp_path, poll_s=0) as meter:
        pass
    result = meter.result()
    assert result["energy_source"] == "nvml"
    assert result["energy_j"] == pytest.approx((4000 + 2500) / 1000)
    assert "2 GPU(s)" in result["energy_note"]


def test_sidecar_round_trip_next_to_the_generations(tmp_path):
    path = meta_path(tmp_path / "m" / "base" / "fpb.jsonl")
    assert path.name == "fpb.meta.json"
    path.parent.mkdir(parents=True)
    write_meta(path, {"energy_j": 1.5, "energy_source": "rapl", "energy_note": "x", "hardware": {"cpu": "C", "cpu_cores": 2, "gpus": ["G", "G"]}}, samples=4)
    meta = read_meta(path)
    assert meta["energy_j"] == 1.5 and meta["samples"] == 4
    assert json.loads(path.read_text())["energy_source"] == "rapl"
    assert hardware_label(meta["hardware"]) == "C (2 cores) + 2 x G"
    assert read_meta(tmp_path / "missing.meta.json") is None


def test_a_meter_switched_off_says_why():
    with EnergyMeter.off("the model is served by a remote endpoint") as meter:
        pass
    result = meter.result()
    assert result["energy_j"] is None and result["energy_note"] == "not measured: the model is served by a remote endpoint"


def test_a_meter_never_started_measured_nothing_and_says_why():
    meter = EnergyMeter()
    meter.stop()  # a fully cached job never opens the server, so never starts its meter
    result = meter.result()
    assert result["energy_j"] is None and result["energy_source"] is None
    assert "cache" in result["energy_note"]
