"""Build hook: the gRPC stubs are generated from the repository's proto/ while the package is built.

`pip install ./clients/python` builds in place, so the .proto files are found at ../../proto. An
sdist carries a copy under proto/ (see SdistWithProto), so a wheel built from it finds them too.
The generated modules land in the package as veilsum.v1 (the proto package is veilsum.v1, so the
generated imports `from veilsum.v1 import round_pb2` resolve inside this package).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
PROTO_FILES = ["veilsum/v1/round.proto", "veilsum/v1/member.proto"]


def proto_root() -> Path:
    candidates = [os.environ.get("VEILSUM_PROTO_DIR"), HERE / "proto", HERE.parent.parent / "proto"]
    for candidate in candidates:
        if candidate and all((Path(candidate) / name).is_file() for name in PROTO_FILES):
            return Path(candidate)
    raise SystemExit(
        "veilsum: cannot find the .proto files (looked in ./proto and ../../proto); build from the "
        "veilsum repository (pip install ./clients/python) or set VEILSUM_PROTO_DIR"
    )


def generate_stubs(out_dir: Path) -> None:
    from grpc_tools import protoc  # a build requirement (pyproject.toml)
    import grpc_tools

    root = proto_root()
    include = Path(grpc_tools.__file__).resolve().parent / "_proto"
    out_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"--proto_path={root}",
        f"--proto_path={include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *[str(root / name) for name in PROTO_FILES],
    ]
    if protoc.main(args) != 0:
        raise SystemExit(f"veilsum: grpc_tools.protoc failed on {PROTO_FILES} in {root}")
    (out_dir / "veilsum" / "v1" / "__init__.py").write_text(
        '"""Generated at build time from proto/veilsum/v1 (do not edit)."""\n'
    )


class BuildPyWithStubs(build_py):
    def run(self) -> None:
        super().run()
        generate_stubs(Path(self.build_lib))


class SdistWithProto(sdist):
    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        root = proto_root()
        for name in PROTO_FILES:
            target = Path(base_dir) / "proto" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / name, target)


def protobuf_requirement() -> str:
    """The protobuf runtime the generated stubs need: at least the gencode version of the protoc
    inside this build's grpcio-tools (older runtimes refuse to load them), as grpcio-tools pins it."""
    from importlib import metadata

    for requirement in metadata.requires("grpcio-tools") or []:
        name, _, rest = requirement.partition(">=")
        if name.split("<")[0].split(",")[0].strip() == "protobuf" and rest:
            minimum = rest.split(",")[0].split(";")[0].strip()
            return f"protobuf>={minimum}"
    import google.protobuf

    return f"protobuf>={google.protobuf.__version__}"


setup(
    cmdclass={"build_py": BuildPyWithStubs, "sdist": SdistWithProto},
    install_requires=["grpcio>=1.66", protobuf_requirement(), "numpy>=1.24"],
)
