"""Generate the Python gRPC stubs for every contract under proto/ into shared/.

Run after editing a .proto: `python scripts/gen_protos.py`. A test regenerates into a
temporary folder and fails when the committed stubs differ.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[1]
PROTO_ROOT = ROOT / "proto"


def generate(out_dir: Path) -> list[Path]:
    protos = sorted(PROTO_ROOT.rglob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(p.relative_to(PROTO_ROOT)) for p in protos),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    generated = sorted((out_dir / "labelops").rglob("*.py*"))
    # Make every generated folder a regular package so setuptools and mypy find it.
    for folder in {p.parent for p in generated} | {out_dir / "labelops"}:
        for pkg in [folder, *folder.relative_to(out_dir).parents]:
            init = out_dir / pkg / "__init__.py" if pkg != folder else folder / "__init__.py"
            if str(pkg) != "." and not init.exists():
                init.write_text("")
    return sorted((out_dir / "labelops").rglob("*.py*"))


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "shared"
    for path in generate(out):
        print(path.relative_to(out))
