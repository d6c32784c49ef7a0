"""Registries find their members: one new file with the decorator is enough, and plugins
declared as entry points are loaded (a broken one is skipped with a warning)."""

from __future__ import annotations

import sys
import textwrap

import pytest

from easyfirst.data import DATASETS
from easyfirst.models import MODELS
from easyfirst.registry import Registry


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


@pytest.fixture
def on_path(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith(("efplug", "efpkg"))]:
        del sys.modules[name]


def test_a_new_module_in_the_package_is_listed_without_an_import_list(on_path):
    widgets: Registry[int] = Registry("widget", packages=("efpkg",))
    sys.modules["efpkg_registry"] = type(sys)("efpkg_registry")
    sys.modules["efpkg_registry"].WIDGETS = widgets
    _write(on_path / "efpkg" / "__init__.py", "")  # no imports of its modules
    _write(on_path / "efpkg" / "mine.py", """
        from efpkg_registry import WIDGETS

        @WIDGETS.register("mine")
        def mine():
            return 1
    """)
    _write(on_path / "efpkg" / "_private.py", "raise RuntimeError('never imported')\n")
    assert widgets.names() == ["mine"] and "mine" in widgets and widgets.get("mine")() == 1
    del sys.modules["efpkg_registry"]


def _plugin(root, group, module, body, name="mine"):
    _write(root / "efplug-1.0.dist-info" / "METADATA",
           "Metadata-Version: 2.1\nName: efplug\nVersion: 1.0\n")
    _write(root / "efplug-1.0.dist-info" / "entry_points.txt",
           f"[{group}]\n{name} = {module}\n")
    _write(root / f"{module.replace('.', '/')}.py", body)


@pytest.mark.parametrize(("registry", "group", "body"), [
    (DATASETS, "easyfirst.datasets", """
        from easyfirst.data import register_dataset

        @register_dataset("plugin_set")
        def plugin_set():
            raise NotImplementedError
    """),
    (MODELS, "easyfirst.models", """
        from easyfirst.models import register_model

        @register_model("plugin_net")
        def plugin_net(*, input_shape, num_classes):
            raise NotImplementedError
    """),
])
def test_an_entry_point_plugin_is_listed(on_path, monkeypatch, registry, group, body):
    _plugin(on_path, group, "efplug_mod", textwrap.dedent(body))
    monkeypatch.setattr(registry, "_found", False)  # as in a fresh process
    added = "plugin_set" if registry is DATASETS else "plugin_net"
    try:
        assert added in registry.names()
        assert "synthkws" in DATASETS.names() and "tcresnet8" in MODELS.names()  # built-ins
    finally:
        if added in registry:
            registry.unregister(added)


def test_a_broken_plugin_is_skipped_with_a_warning(on_path):
    _plugin(on_path, "efplug.broken", "efplug_bad", "raise ImportError('no such thing')\n",
            name="bad")
    r: Registry[int] = Registry("widget", entry_points="efplug.broken")
    with pytest.warns(UserWarning, match="the widget plugin 'bad' .* failed to load .*skipped"):
        assert r.names() == []
