"""Tasks of other packages plug in through the ``ginr.tasks`` entry points, as families do through ``ginr.families``."""

from dataclasses import dataclass

import pytest

import ginr_apps.tasks as tasks
import ginr_core.models.registry as registry


@dataclass
class _Point:
    name: str
    value: str
    obj: object

    def load(self):
        if isinstance(self.obj, Exception):
            raise self.obj
        return self.obj


class EchoTask(tasks.Task):
    name = "echo"


def test_entry_point_tasks_are_listed_and_bad_ones_warn_without_breaking_the_built_in_ones(monkeypatch):
    points = [
        _Point("echo", "pkg:EchoTask", EchoTask),
        _Point("broken", "pkg:Broken", ImportError("no module named pkg")),
        _Point("other", "pkg:EchoTask", EchoTask),  # registered under another name than the entry point's
    ]
    monkeypatch.setattr(registry, "entry_points", lambda group: points if group == "ginr.tasks" else [])
    monkeypatch.setattr(tasks, "_entry_points_loaded", False)
    monkeypatch.setattr(tasks, "_TASKS", dict(tasks._TASKS))
    with pytest.warns(UserWarning) as caught:
        found = tasks.list_tasks()
    messages = [str(w.message) for w in caught]
    assert found["echo"] is EchoTask and {"images", "nvs"} <= set(found)
    assert any("cannot load task 'broken'" in m and "no module named pkg" in m for m in messages)
    assert any("'other'" in m and "is not a Task subclass named 'other'; ignored" in m for m in messages)
    assert tasks.get_task_class("echo") is EchoTask
