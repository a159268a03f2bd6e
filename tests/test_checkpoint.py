"""ganad_lite.checkpoint: atomic writes (unique temporary names, nothing left that a later run trips on)."""
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ganad_lite import checkpoint
from ganad_lite.checkpoint import (CheckpointError, atomic_write, load_checkpoint, save_checkpoint,
                                   write_json_atomic)

# A writer stopped after writing its data but before fsync and rename, then killed: the worst moment.
# torch is stubbed because write_json_atomic does not use it and importing it takes seconds.
KILLED_WRITER = """
import importlib.util, os, sys, time, types
sys.modules["torch"] = types.ModuleType("torch")
spec = importlib.util.spec_from_file_location("ckpt", sys.argv[1])
ckpt = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ckpt)
def stall(fd):
    print("written", flush=True)
    time.sleep(60)
os.fsync = stall
ckpt.write_json_atomic(sys.argv[2], {"run": "new"})
"""


def test_checkpoint_round_trip_and_bad_files(tmp_path):
    path = save_checkpoint({"w": torch.arange(3.0), "epoch": 2}, tmp_path / "sub" / "c.pt")
    state = load_checkpoint(path)
    assert state["epoch"] == 2 and torch.equal(state["w"], torch.arange(3.0)) and state["format"] == "ganad_lite/1"
    assert sorted(p.name for p in path.parent.iterdir()) == ["c.pt"]  # no temporary file left
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt or not a ganad_lite checkpoint"):
        load_checkpoint(tmp_path / "bad.pt")
    torch.save({"format": "other/9"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a ganad_lite/1 checkpoint .*'other/9'"):
        load_checkpoint(tmp_path / "other.pt")


def test_temporary_names_are_unique_and_beside_the_target(tmp_path, monkeypatch):
    renames = []
    real_replace = os.replace
    monkeypatch.setattr(checkpoint.os, "replace", lambda src, dst: (renames.append(Path(src)), real_replace(src, dst)))
    for _ in range(3):
        save_checkpoint({"x": 1}, tmp_path / "c.pt")
    write_json_atomic(tmp_path / "c.json", {"x": 1})
    assert len({p.name for p in renames}) == 4 and all(p.parent == tmp_path for p in renames)
    assert all(re.fullmatch(rf"\.c\.(pt|json)\.{os.getpid()}\.[0-9a-f]{{8}}\.tmp", p.name) for p in renames)


def test_write_json_atomic(tmp_path):
    path = write_json_atomic(tmp_path / "run.json", {"auroc": 0.5, "epochs": [1, 2]})
    assert json.loads(path.read_text()) == {"auroc": 0.5, "epochs": [1, 2]}
    with pytest.raises(TypeError):
        write_json_atomic(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"auroc": 0.5, "epochs": [1, 2]}  # unchanged, nothing half-written
    write_json_atomic(path, {"x": torch.tensor(0.25).item()}, indent=None, default=float)
    assert path.read_text() == '{"x": 0.25}' and sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = save_checkpoint({"epoch": 1}, tmp_path / "c.pt")

    def crash(f):
        f.write(b"partial")
        raise OSError("disk full")
    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, crash)
    assert load_checkpoint(path)["epoch"] == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]


def test_sigkill_mid_write_leaves_nothing_to_trip_on(tmp_path):
    path = write_json_atomic(tmp_path / "run.json", {"run": "old"})
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, checkpoint.__file__, str(path)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "written"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    (stray,) = tmp_path.glob(f".run.json.{child.pid}.*.tmp")
    assert json.loads(stray.read_text()) == {"run": "new"}  # the kill left the full temporary file behind
    assert json.loads(path.read_text()) == {"run": "old"}  # readers still see the old file
    save_checkpoint({"epoch": 3}, tmp_path / "c.pt")  # other files in the folder are unaffected
    assert load_checkpoint(tmp_path / "c.pt")["epoch"] == 3
    write_json_atomic(path, {"run": "next"})  # the next write of the file removes the dead writer's temp
    assert json.loads(path.read_text()) == {"run": "next"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt", "run.json"]


def test_a_live_writer_temporary_file_is_left_alone(tmp_path):
    live = tmp_path / f".c.pt.{os.getpid()}.0123abcd.tmp"  # this process is alive: maybe mid-write
    live.write_bytes(b"in progress")
    save_checkpoint({"epoch": 1}, tmp_path / "c.pt")
    assert live.is_file() and load_checkpoint(tmp_path / "c.pt")["epoch"] == 1
