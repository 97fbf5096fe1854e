"""Generate docs/grpc-reference.md, the reference of every gRPC contract under proto/.

protoc (from grpcio-tools) compiles the .proto files into a descriptor set with their source
comments; this script renders it: per file its services (each call with its request,
response and comment), messages (fields with number, type, label and comment) and enums.
docs/grpc.md (roles, errors, behaviour) stays hand-written.

Run after editing a .proto: ``python scripts/gen_grpc_reference.py``; a test regenerates it
and fails when the committed file differs.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from google.protobuf import descriptor_pb2
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[1]
PROTO_ROOT = ROOT / "proto"
OUTPUT = ROOT / "docs" / "grpc-reference.md"

FieldProto = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    FieldProto.TYPE_DOUBLE: "double", FieldProto.TYPE_FLOAT: "float",
    FieldProto.TYPE_INT64: "int64", FieldProto.TYPE_UINT64: "uint64",
    FieldProto.TYPE_INT32: "int32", FieldProto.TYPE_FIXED64: "fixed64",
    FieldProto.TYPE_FIXED32: "fixed32", FieldProto.TYPE_BOOL: "bool",
    FieldProto.TYPE_STRING: "string", FieldProto.TYPE_BYTES: "bytes",
    FieldProto.TYPE_UINT32: "uint32", FieldProto.TYPE_SFIXED32: "sfixed32",
    FieldProto.TYPE_SFIXED64: "sfixed64", FieldProto.TYPE_SINT32: "sint32",
    FieldProto.TYPE_SINT64: "sint64",
}
# Paths into FileDescriptorProto (descriptor.proto field numbers) for source comments.
_MESSAGE, _ENUM, _SERVICE = 4, 5, 6
_FIELD, _NESTED, _NESTED_ENUM, _VALUE, _METHOD = 2, 3, 4, 2, 2


def descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    protos = sorted(PROTO_ROOT.rglob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        args = ["protoc", f"-I{PROTO_ROOT}", f"-I{include}", "--include_source_info",
                f"--descriptor_set_out={out}",
                *(str(p.relative_to(PROTO_ROOT)) for p in protos)]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        files = descriptor_pb2.FileDescriptorSet()
        files.ParseFromString(out.read_bytes())
    return files


class _Comments:
    def __init__(self, file: descriptor_pb2.FileDescriptorProto) -> None:
        self.by_path = {}
        for location in file.source_code_info.location:
            text = (location.leading_comments or location.trailing_comments).strip()
            if text:
                self.by_path[tuple(location.path)] = " ".join(
                    line.strip() for line in text.splitlines())

    def __call__(self, *path: int) -> str:
        return str(self.by_path.get(path, ""))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _type_name(field: descriptor_pb2.FieldDescriptorProto, package: str) -> str:
    if field.type in _SCALARS:
        return _SCALARS[field.type]
    name = field.type_name.lstrip(".")
    return name[len(package) + 1:] if name.startswith(package + ".") else name


def _label(field: descriptor_pb2.FieldDescriptorProto) -> str:
    if field.label == FieldProto.LABEL_REPEATED:
        return "repeated"
    return "optional" if field.proto3_optional else ""


def _enum(enum: descriptor_pb2.EnumDescriptorProto, name: str, comments: _Comments,
          path: tuple[int, ...]) -> Iterator[str]:
    yield f"#### enum `{name}`"
    yield ""
    if comments(*path):
        yield comments(*path)
        yield ""
    yield "| value | number | description |"
    yield "| --- | --- | --- |"
    for i, value in enumerate(enum.value):
        yield f"| `{value.name}` | {value.number} | {_cell(comments(*path, _VALUE, i))} |"
    yield ""


def _message(message: descriptor_pb2.DescriptorProto, name: str, package: str,
             comments: _Comments, path: tuple[int, ...]) -> Iterator[str]:
    if message.options.map_entry:
        return
    yield f"#### `{name}`"
    yield ""
    if comments(*path):
        yield comments(*path)
        yield ""
    if message.field:
        yield "| field | number | type | label | description |"
        yield "| --- | --- | --- | --- | --- |"
        for i, field in enumerate(message.field):
            yield (f"| `{field.name}` | {field.number} | `{_type_name(field, package)}` | "
                   f"{_label(field)} | {_cell(comments(*path, _FIELD, i))} |")
    else:
        yield "(no fields)"
    yield ""
    for i, nested in enumerate(message.nested_type):
        yield from _message(nested, f"{name}.{nested.name}", package, comments,
                            (*path, _NESTED, i))
    for i, enum in enumerate(message.enum_type):
        yield from _enum(enum, f"{name}.{enum.name}", comments, (*path, _NESTED_ENUM, i))


def _file(file: descriptor_pb2.FileDescriptorProto) -> Iterator[str]:
    comments = _Comments(file)
    package = file.package
    yield f"## `{package}` ({file.name})"
    yield ""
    header = next((loc.leading_comments.strip() for loc in file.source_code_info.location
                   if list(loc.path) == [2] and loc.leading_comments.strip()), "")
    if header:
        yield " ".join(line.strip() for line in header.splitlines())
        yield ""
    for s, service in enumerate(file.service):
        yield f"### service `{package}.{service.name}`"
        yield ""
        if comments(_SERVICE, s):
            yield comments(_SERVICE, s)
            yield ""
        yield "| call | request | response | description |"
        yield "| --- | --- | --- | --- |"
        for m, method in enumerate(service.method):
            request = method.input_type.lstrip(".").removeprefix(package + ".")
            response = method.output_type.lstrip(".").removeprefix(package + ".")
            if method.client_streaming:
                request = f"stream {request}"
            if method.server_streaming:
                response = f"stream {response}"
            yield (f"| `{method.name}` | `{request}` | `{response}` | "
                   f"{_cell(comments(_SERVICE, s, _METHOD, m))} |")
        yield ""
    if file.message_type:
        yield "### messages"
        yield ""
        for i, message in enumerate(file.message_type):
            yield from _message(message, message.name, package, comments, (_MESSAGE, i))
    if file.enum_type:
        yield "### enums"
        yield ""
        for i, enum in enumerate(file.enum_type):
            yield from _enum(enum, enum.name, comments, (_ENUM, i))


def render() -> str:
    files = [f for f in descriptor_set().file if f.name.startswith("labelops/")]
    lines = [
        "# gRPC API reference",
        "",
        "Generated by `scripts/gen_grpc_reference.py` from `proto/`; do not edit (a test fails",
        "when it drifts). Roles, errors and behaviour are described in [grpc.md](grpc.md).",
        "Every server also offers `grpc.health.v1.Health` and server reflection, so",
        "`grpcurl -plaintext 127.0.0.1:17051 list` and `grpcurl ... describe` work.",
        "",
        "Files: " + ", ".join(f"`{f.name}`" for f in sorted(files, key=lambda f: f.name)),
        "",
    ]
    for file in sorted(files, key=lambda f: f.name):
        lines.extend(_file(file))
    while lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT
    target.write_text(render())
    print(target)
