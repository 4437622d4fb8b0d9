"""The SSA domain package stays free of the web and WPS layers."""

from __future__ import annotations

import ast
from pathlib import Path

import processes.ssa

FORBIDDEN = ("pywps", "flask", "wps_server", "werkzeug")


def test_domain_package_imports_no_wps_or_web_framework() -> None:
    root = Path(processes.ssa.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(root)}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
