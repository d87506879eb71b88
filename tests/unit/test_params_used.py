"""Every key of params.yaml is read by the code it claims to tune; the score parameters take effect.

Method of :func:`test_every_params_key_is_read` (a static scan, no code is run): every
module of ``src/palsyflow`` except ``config.py`` (which only declares the keys) is
parsed with :mod:`ast`, and an access ``<expr>.<key>`` counts as reading
``<section>.<key>`` only when ``<expr>`` is known to be that section:

* an attribute chain ending in the section's field name, e.g.
  ``project.params.features.weaker_min_diff_iod`` or ``self.params.paths.models``;
* a name annotated with the section's class in the enclosing function or module
  (``params: FeatureParams``, ``params: FeatureParams | None = None``);
* a name assigned from such a chain (``params = project.params.features``) or from the
  class itself (``params = params or FeatureParams()``);
* ``self.<attr>`` in a class whose methods set ``self.<attr>`` from such a name, or
  whose body annotates ``<attr>: <SectionClass>`` (dataclass fields);
* ``getattr(<section expr>, "<key>")`` with a constant key.

So a key that only ``config.py`` mentions, or that is spelled the same as an unrelated
attribute elsewhere (``.kind`` of a recording), is not counted as read.
"""

from __future__ import annotations

import ast
from pathlib import Path

import polars as pl
import pytest
import yaml

from tests.support.tables import with_current_feature_schema

from palsyflow.config import Params

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "src" / "palsyflow"

#: params.yaml section -> (Params field name, section class name)
SECTIONS = {
    (f.alias or name): (name, f.annotation.__name__ if hasattr(f.annotation, "__name__") else str(f.annotation))
    for name, f in Params.model_fields.items()
}
_FIELD_TO_SECTION = {field: section for section, (field, _) in SECTIONS.items()}
_CLASS_TO_SECTION = {cls: section for section, (_, cls) in SECTIONS.items()}


def _annotation_section(node: ast.expr | None) -> str | None:
    """The section a type annotation names (``FeatureParams``, ``FeatureParams | None``, ``"FeatureParams"``)."""
    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            node = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return None
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id in _CLASS_TO_SECTION:
            return _CLASS_TO_SECTION[sub.id]
        if isinstance(sub, ast.Attribute) and sub.attr in _CLASS_TO_SECTION:
            return _CLASS_TO_SECTION[sub.attr]
    return None


class _Reads(ast.NodeVisitor):
    """Collect ``(section, key)`` pairs read in one module, scope by scope."""

    def __init__(self) -> None:
        self.reads: set[tuple[str, str]] = set()
        self.scopes: list[dict[str, str]] = [{}]
        self.classes: list[dict[str, str]] = []  # self.<attr> -> section, per enclosing class

    # what a name or expression is ------------------------------------------------
    def section_of(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            for scope in reversed(self.scopes):
                if node.id in scope:
                    return scope[node.id]
            return None
        if isinstance(node, ast.Attribute) and node.attr in _FIELD_TO_SECTION:
            return _FIELD_TO_SECTION[node.attr]
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
            and self.classes
            and node.attr in self.classes[-1]
        ):
            return self.classes[-1][node.attr]
        if isinstance(node, ast.Call):  # FeatureParams() / section.model_copy(...)
            func = node.func
            if isinstance(func, ast.Name) and func.id in _CLASS_TO_SECTION:
                return _CLASS_TO_SECTION[func.id]
            if isinstance(func, ast.Attribute) and func.attr == "model_copy":
                return self.section_of(func.value)
        if isinstance(node, ast.BoolOp):  # params or FeatureParams()
            found = {self.section_of(v) for v in node.values} - {None}
            return found.pop() if len(found) == 1 else None
        return None

    # scopes -------------------------------------------------------------------------
    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        scope: dict[str, str] = {}
        args = node.args
        for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
            if a is not None and (sec := _annotation_section(a.annotation)):
                scope[a.arg] = sec
        self.scopes.append(scope)
        self.generic_visit(node)
        self.scopes.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        attrs: dict[str, str] = {}
        for item in node.body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                if sec := _annotation_section(item.annotation):
                    attrs[item.target.id] = sec
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                probe = _Reads()
                probe.scopes.append(
                    {a.arg: sec for a in item.args.args if (sec := _annotation_section(a.annotation))}
                )
                for sub in ast.walk(item):
                    if isinstance(sub, ast.Assign):
                        sec = probe.section_of(sub.value)
                        for t in sub.targets:
                            if sec and isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                                attrs[t.attr] = sec
        self.classes.append(attrs)
        self.scopes.append({})
        self.generic_visit(node)
        self.scopes.pop()
        self.classes.pop()

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if isinstance(node.target, ast.Name):
            sec = _annotation_section(node.annotation) or (self.section_of(node.value) if node.value else None)
            if sec:
                self.scopes[-1][node.target.id] = sec
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        sec = self.section_of(node.value)
        for target in node.targets:
            if isinstance(target, ast.Name) and sec:
                self.scopes[-1][target.id] = sec
        self.generic_visit(node)

    # reads --------------------------------------------------------------------------
    def visit_Attribute(self, node: ast.Attribute) -> None:
        sec = self.section_of(node.value)
        if sec:
            self.reads.add((sec, node.attr))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if (
            isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and (sec := self.section_of(node.args[0]))
        ):
            self.reads.add((sec, node.args[1].value))
        self.generic_visit(node)


def _reads() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in sorted(PKG.rglob("*.py")):
        if path == PKG / "config.py":
            continue
        visitor = _Reads()
        visitor.visit(ast.parse(path.read_text(), filename=str(path)))
        found |= visitor.reads
    return found


def test_every_params_key_is_read():
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    leaves = {(section, key) for section, values in raw.items() for key in values}
    unread = sorted(f"{s}.{k}" for s, k in leaves - _reads())
    assert unread == [], f"params.yaml keys that no module of src/palsyflow reads: {unread}"


def test_the_scan_sees_an_unread_key(tmp_path):
    """The method can fail: a section attribute nobody reads is reported, one read is not."""
    code = (
        "from palsyflow.config import FeatureParams\n"
        "def f(params: FeatureParams | None = None):\n"
        "    params = params or FeatureParams()\n"
        "    return params.weaker_min_diff_iod\n"
        "def g(project):\n"
        "    kind = project.recording.kind\n"
        "    return project.params.executor.workers\n"
    )
    v = _Reads()
    v.visit(ast.parse(code))
    assert ("features", "weaker_min_diff_iod") in v.reads
    assert ("executor", "workers") in v.reads
    assert ("features", "movement_weaker_min_diff_iod") not in v.reads
    assert ("executor", "kind") not in v.reads


# --------------------------------------------------------------------------- the noise floors take effect


def test_weaker_side_floor_in_params_yaml_changes_the_scores(tmp_path):
    """Changing the rest noise floor in params.yaml changes the score table's weaker sides.

    On main before issue 8 the floor was ``score.noise_floor_iod`` and the score stage never
    passed it on: a changed value reran the stage and wrote identical scores. The floor is
    now ``features.weaker_min_diff_iod``, applied once where the session table is built
    (features and validate stages). Real feature rows of the demo cohort, saved before the
    change (``tests/data/issue8_before``), go through the validate and score stages.
    """
    import json

    from palsyflow import stages
    from palsyflow.atomic import atomic_write_parquet
    from palsyflow.project import Project
    from palsyflow.stages.catalog import Catalog

    data = ROOT / "tests" / "data"
    renames = json.loads((data / "issue8_renames.json").read_text())["features"]
    features = pl.read_parquet(data / "issue8_before" / "validated_features.parquet").rename(renames)
    features = with_current_feature_schema(features)

    def run(floor: float) -> pl.DataFrame:
        root = tmp_path / f"floor{floor}"
        root.mkdir()
        (root / "params.yaml").write_text(yaml.safe_dump({"features": {"weaker_min_diff_iod": floor}}))
        project = Project.load(root)
        cat = Catalog.of(project)
        atomic_write_parquet(features, cat.path("features_table"))
        assert stages.validate(project).processed > 0
        assert stages.score(project).processed > 0
        return pl.read_parquet(cat.path("scores_table")).sort("site", "subject", "session", "measure")

    low, high = run(0.0), run(0.05)
    assert low.select("site", "subject", "session", "measure").equals(high.select("site", "subject", "session", "measure"))
    named_low = low["weaker_side"].is_not_null().sum()
    named_high = high["weaker_side"].is_not_null().sum()
    assert named_high < named_low  # a higher floor names fewer sides
    assert low["value"].equals(high["value"])  # the floor decides sides, never values
