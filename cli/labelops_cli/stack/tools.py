"""Idempotent installers for the tools that check deploy/ and docs/, into LABELOPS_CACHE.

Every tool comes from a package registry, at the pin in ``versions.py``:

- ``ensure_promtool()``: Prometheus's promtool from Debian's ``prometheus`` package
  (``apt-get download``, unpacked with ``dpkg-deb``; no root needed unless the package lists
  are missing, then ``apt-get update`` runs once when we are root);
- ``ensure_kubeconform()`` / ``ensure_kustomize()``: ``go install`` of the pinned modules;
- ``ensure_k8s_schemas()``: the Kubernetes JSON schemas shipped in the PyPI package
  kubernetes-validate, rewritten into the standalone layout kubeconform reads offline
  (``-schema-location``): kubeconform's default source is GitHub, which is out of reach;
- ``ensure_compose_schema()``: the Compose Specification JSON schema embedded in the Go
  module compose-go (what Docker Compose validates with), from the Go module proxy;
- ``ensure_asyncapi_parser()``: ``npm install @asyncapi/parser`` into the cache.

Each records what it installed in a stamp file beside its output; a matching stamp with the
output present means nothing to do. Failures raise ``StackError`` with one line naming what
is missing and how to get it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from labelops_cli.stack import paths, versions
from labelops_cli.stack.errors import StackError
from labelops_cli.stack.install import (
    _cached,
    _install_lock,
    _log_path,
    _require,
    _require_go,
    _run,
    _stamp_matches,
    _write_stamp,
)

__all__ = ["ensure_asyncapi_parser", "ensure_compose_schema", "ensure_k8s_schemas",
           "ensure_kubeconform", "ensure_kustomize", "ensure_promtool", "tools_dir"]

HOW_APT = ("install Debian's prometheus package (`apt-get install prometheus`) or run on a "
           "Debian machine with apt")
HOW_NODE = "install Node.js ≥ 18 with npm (`apt-get install nodejs npm`)"


def tools_dir(*parts: str) -> Path:
    return paths.cache_dir().joinpath("tools", *parts)


def _installed(label: str, stamp: Path, want: dict[str, str], output: Path) -> bool:
    if _stamp_matches(stamp, want, output):
        _cached(label)
        return True
    return False


# -- promtool (Debian) ---------------------------------------------------------------------


def _debian_candidate(apt_cache: str) -> str | None:
    """The Debian version of `prometheus` that packages the pinned upstream release."""
    out = subprocess.run([apt_cache, "madison", "prometheus"], capture_output=True, text=True,
                         timeout=120)
    for line in out.stdout.splitlines():
        fields = [f.strip() for f in line.split("|")]
        if len(fields) >= 2 and fields[1].startswith(versions.PROMETHEUS_UPSTREAM + "+"):
            return fields[1]
    return None


def ensure_promtool() -> Path:
    """promtool of the pinned Prometheus release, from Debian's package."""
    folder = tools_dir(f"prometheus-{versions.PROMETHEUS_UPSTREAM}")
    binary = folder / "promtool"
    stamp = folder / "installed.json"
    want = {"component": "promtool", "upstream": versions.PROMETHEUS_UPSTREAM}
    label = f"promtool {versions.PROMETHEUS_UPSTREAM}"
    if _installed(label, stamp, want, binary):
        return binary
    with _install_lock():
        if _stamp_matches(stamp, want, binary):
            return binary
        apt_get = _require("apt-get", HOW_APT)
        apt_cache = _require("apt-cache", HOW_APT)
        dpkg_deb = _require("dpkg-deb", HOW_APT)
        candidate = _debian_candidate(apt_cache)
        if candidate is None and os.geteuid() == 0:
            _run("apt-get update (package lists for prometheus)", "apt-update",
                 [apt_get, "update", "-q"], cwd=paths.REPO)
            candidate = _debian_candidate(apt_cache)
        if candidate is None:
            raise StackError(f"Debian's prometheus {versions.PROMETHEUS_UPSTREAM} is not in the "
                             "package lists: run `apt-get update`, or " + HOW_APT)
        with tempfile.TemporaryDirectory(dir=paths.cache_dir()) as tmp:
            _run(f"{label}: apt-get download prometheus={candidate}", "promtool-apt",
                 [apt_get, "download", f"prometheus={candidate}"], cwd=Path(tmp))
            debs = list(Path(tmp).glob("prometheus_*.deb"))
            if not debs:
                raise StackError(f"apt-get download left no .deb: see {_log_path('promtool-apt')}")
            unpacked = Path(tmp) / "root"
            subprocess.run([dpkg_deb, "-x", str(debs[0]), str(unpacked)], check=True,
                           timeout=300)
            found = unpacked / "usr" / "bin" / "promtool"
            if not found.exists():
                raise StackError(f"{debs[0].name} holds no usr/bin/promtool")
            folder.mkdir(parents=True, exist_ok=True)
            partial = binary.with_name("promtool.partial")
            shutil.copy2(found, partial)
            os.replace(partial, binary)
        _write_stamp(stamp, want, debian=candidate)
    return binary


# -- go install ----------------------------------------------------------------------------


def _go_tool(name: str, module: str, version: str) -> Path:
    folder = tools_dir(f"{name}-{version}")
    binary = folder / name
    stamp = folder / "installed.json"
    want = {"component": name, "module": module, "version": version}
    label = f"{name} {version}"
    if _installed(label, stamp, want, binary):
        return binary
    with _install_lock():
        if _stamp_matches(stamp, want, binary):
            return binary
        go, go_version = _require_go()
        folder.mkdir(parents=True, exist_ok=True)
        _run(f"{label}: go install {module}@{version}", f"{name}-go",
             [go, "install", f"{module}@{version}"], cwd=folder,
             env={"GOBIN": str(folder), "GOFLAGS": "", "CGO_ENABLED": "0"},
             hint=" (about a minute the first time)")
        if not binary.exists():
            raise StackError(f"go install did not produce {binary}: see {_log_path(name + '-go')}")
        _write_stamp(stamp, want, go=go_version)
    return binary


def ensure_kubeconform() -> Path:
    return _go_tool("kubeconform", versions.KUBECONFORM_MODULE, versions.KUBECONFORM_VERSION)


def ensure_kustomize() -> Path:
    return _go_tool("kustomize", versions.KUSTOMIZE_MODULE, versions.KUSTOMIZE_VERSION)


# -- Kubernetes JSON schemas (PyPI) --------------------------------------------------------

# References into the shared definitions: from a kind's schema, and between definitions.
_DEFINITIONS_REFS = ("/api/_definitions.json#/$defs/", "#/$defs/")


def _rewrite_refs(node: Any, needed: set[str]) -> Any:
    """The schema with every reference into the shared definitions made local (``#/$defs/X``);
    the names referenced are added to ``needed``."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            prefix = next((p for p in _DEFINITIONS_REFS
                           if key == "$ref" and isinstance(value, str) and value.startswith(p)),
                          None)
            if prefix is not None:
                name = value[len(prefix):]
                needed.add(name)
                out[key] = "#/$defs/" + name
            else:
                out[key] = _rewrite_refs(value, needed)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, needed) for item in node]
    return node


def standalone_schema(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """One kind's schema with the definitions it reaches inlined under ``$defs``: a file that
    validates on its own, without fetching ``_definitions.json`` by URL."""
    needed: set[str] = set()
    result = _rewrite_refs(schema, needed)
    defs: dict[str, Any] = {}
    pending = sorted(needed)
    while pending:
        name = pending.pop()
        if name in defs:
            continue
        found: set[str] = set()
        defs[name] = _rewrite_refs(definitions[name], found)
        pending.extend(sorted(found - defs.keys()))
    if defs:
        result["$defs"] = dict(sorted(defs.items()))
    return result


def _pip_download(package: str, version: str, target: Path) -> Path:
    _run(f"{package} {version}: pip download (Kubernetes JSON schemas)", "k8s-schemas-pip",
         [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
          "-d", str(target), f"{package}=={version}"], cwd=target)
    wheels = list(target.glob("*.whl"))
    if not wheels:
        raise StackError(f"pip download of {package} left no wheel: see "
                         f"{_log_path('k8s-schemas-pip')}")
    return wheels[0]


def ensure_k8s_schemas() -> Path:
    """A folder for kubeconform's ``-schema-location`` holding
    ``v<K8S_VERSION>-standalone-strict/<kind>-<group>-<version>.json``."""
    root = tools_dir(f"k8s-schemas-{versions.K8S_SCHEMAS_PACKAGE_VERSION}")
    layout = f"v{versions.K8S_VERSION}-standalone-strict"
    marker = root / layout / "deployment-apps-v1.json"
    stamp = root / "installed.json"
    want = {"component": "k8s-schemas", "package": versions.K8S_SCHEMAS_PACKAGE,
            "package_version": versions.K8S_SCHEMAS_PACKAGE_VERSION,
            "kubernetes": versions.K8S_VERSION, "format": "standalone-2"}
    label = f"Kubernetes {versions.K8S_VERSION} JSON schemas"
    if _installed(label, stamp, want, marker):
        return root
    with _install_lock():
        if _stamp_matches(stamp, want, marker):
            return root
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=paths.cache_dir()) as tmp:
            wheel = _pip_download(versions.K8S_SCHEMAS_PACKAGE,
                                  versions.K8S_SCHEMAS_PACKAGE_VERSION, Path(tmp))
            prefix = ("kubernetes_validate/kubernetes-json-schema/"
                      f"v{versions.K8S_VERSION}-local-strict/")
            with zipfile.ZipFile(wheel) as archive:
                names = [n for n in archive.namelist()
                         if n.startswith(prefix) and n.endswith(".json")]
                if not names:
                    raise StackError(f"{wheel.name} has no schemas for Kubernetes "
                                     f"{versions.K8S_VERSION}: pick a K8S_VERSION it ships")
                definitions = json.loads(archive.read(prefix + "_definitions.json"))["$defs"]
                fresh = root / (layout + ".partial")
                shutil.rmtree(fresh, ignore_errors=True)
                fresh.mkdir()
                for name in names:
                    base = name[len(prefix):]
                    if base.startswith("_") or base == "all.json":
                        continue
                    schema = json.loads(archive.read(name))
                    (fresh / base).write_text(
                        json.dumps(standalone_schema(schema, definitions), separators=(",", ":")))
        shutil.rmtree(root / layout, ignore_errors=True)
        os.replace(fresh, root / layout)
        _write_stamp(stamp, want)
    return root


# -- Compose Specification schema (Go module) ----------------------------------------------


def ensure_compose_schema() -> Path:
    """compose-spec.json as embedded in the pinned compose-go module."""
    folder = tools_dir(f"compose-go-{versions.COMPOSE_GO_VERSION}")
    schema = folder / "compose-spec.json"
    stamp = folder / "installed.json"
    want = {"component": "compose-schema", "module": versions.COMPOSE_GO_MODULE,
            "version": versions.COMPOSE_GO_VERSION}
    label = f"Compose schema (compose-go {versions.COMPOSE_GO_VERSION})"
    if _installed(label, stamp, want, schema):
        return schema
    with _install_lock():
        if _stamp_matches(stamp, want, schema):
            return schema
        go, _ = _require_go()
        folder.mkdir(parents=True, exist_ok=True)
        out = subprocess.run(
            [go, "mod", "download", "-json",
             f"{versions.COMPOSE_GO_MODULE}@{versions.COMPOSE_GO_VERSION}"],
            cwd=folder, capture_output=True, text=True, timeout=900,
            env={**os.environ, "GOFLAGS": ""})
        if out.returncode != 0:
            raise StackError(f"go mod download of compose-go failed: {out.stderr.strip()[-300:]}")
        module_dir = Path(json.loads(out.stdout)["Dir"])
        found = module_dir / "schema" / "compose-spec.json"
        if not found.exists():
            raise StackError(f"compose-go {versions.COMPOSE_GO_VERSION} has no "
                             "schema/compose-spec.json")
        shutil.copyfile(found, schema)
        _write_stamp(stamp, want)
    return schema


# -- AsyncAPI parser (npm) -----------------------------------------------------------------


def ensure_asyncapi_parser() -> Path:
    """A folder whose node_modules holds the pinned @asyncapi/parser (run node with it as
    NODE_PATH or cwd)."""
    folder = tools_dir(f"asyncapi-parser-{versions.ASYNCAPI_PARSER_VERSION}")
    marker = folder / "node_modules" / "@asyncapi" / "parser" / "package.json"
    stamp = folder / "installed.json"
    want = {"component": "asyncapi-parser", "version": versions.ASYNCAPI_PARSER_VERSION}
    label = f"@asyncapi/parser {versions.ASYNCAPI_PARSER_VERSION}"
    if _installed(label, stamp, want, marker):
        return folder
    with _install_lock():
        if _stamp_matches(stamp, want, marker):
            return folder
        _require("node", HOW_NODE)
        npm = _require("npm", HOW_NODE)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "package.json").write_text(json.dumps(
            {"name": "labelops-asyncapi-check", "private": True,
             "dependencies": {"@asyncapi/parser": versions.ASYNCAPI_PARSER_VERSION}}, indent=2))
        _run(f"{label}: npm install", "asyncapi-npm",
             [npm, "install", "--no-audit", "--no-fund", "--omit=dev", "--loglevel=error"],
             cwd=folder)
        if not marker.exists():
            raise StackError(f"npm did not install @asyncapi/parser: see "
                             f"{_log_path('asyncapi-npm')}")
        installed = json.loads(marker.read_text()).get("version", "")
        if not re.fullmatch(re.escape(versions.ASYNCAPI_PARSER_VERSION), installed):
            raise StackError(f"npm installed @asyncapi/parser {installed}, not "
                             f"{versions.ASYNCAPI_PARSER_VERSION}")
        _write_stamp(stamp, want)
    return folder


if __name__ == "__main__":  # python -m labelops_cli.stack.tools: install every tool
    for ensure in (ensure_promtool, ensure_kubeconform, ensure_kustomize, ensure_k8s_schemas,
                   ensure_compose_schema, ensure_asyncapi_parser):
        print(ensure())
