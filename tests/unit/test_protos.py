"""The committed gRPC stubs are exactly what the .proto files generate."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_stubs_match_the_proto_files(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("gen_protos", ROOT / "scripts/gen_protos.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)

    fresh = {p.relative_to(tmp_path): p.read_bytes() for p in gen.generate(tmp_path)}
    committed_root = ROOT / "shared"
    committed = {p.relative_to(committed_root): p.read_bytes()
                 for p in (committed_root / "labelops").rglob("*.py*")}

    stale = sorted(str(p) for p in fresh if committed.get(p) != fresh[p])
    extra = sorted(str(p) for p in committed if p not in fresh)
    assert not stale and not extra, (
        f"stubs out of date, run scripts/gen_protos.py: stale={stale} extra={extra}")


def test_every_service_contract_is_importable() -> None:
    from labelops.assignment.v1 import assignment_pb2_grpc
    from labelops.dataset.v1 import dataset_pb2_grpc
    from labelops.export.v1 import export_pb2_grpc
    from labelops.jobs.v1 import jobs_pb2_grpc
    from labelops.prelabel.v1 import prelabel_pb2_grpc

    stubs = [assignment_pb2_grpc.AssignmentServiceStub, dataset_pb2_grpc.DatasetServiceStub,
             export_pb2_grpc.ExportServiceStub, jobs_pb2_grpc.JobsServiceStub,
             prelabel_pb2_grpc.PrelabelServiceStub]
    assert all(callable(s) for s in stubs)
