"""Write the Python names TensorRT's bindings define, read from the wheel without importing it.

    python scripts/tensorrt_api_names.py tensorrt_cu13_bindings-11.4.0.106-cp311-none-manylinux_2_28_x86_64.whl \
        -o tests/data/tensorrt_api_names.json

`import tensorrt` needs libnvinfer.so.11, which its libs wheel provides only beside a CUDA driver, so the names
come from the extension file itself. Every name pybind11 registers (classes, methods, properties,
enum values, keyword arguments) is a C string literal in .rodata. Splitting .rodata at NUL bytes
would be wrong both ways: stale docstrings add words, and the linker stores short literals as
tails of longer ones ("Builder" inside "IExprBuilder"). So we read the C string at every address
the code refers to: RIP-relative `lea` targets (objdump) and R_X86_64_RELATIVE addends (readelf).
The package's Python wrapper (tensorrt_bindings/__init__.py: nptype, volume, ...) adds its
top-level names, read with ast. Needs binutils (objdump, readelf).

The list is flat: it says a name exists somewhere in the module, not on which class.
tests/test_tensorrt_api_names.py checks the code's TensorRT attribute names against it.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
import subprocess
import tempfile
import zipfile
from pathlib import Path

IDENTIFIER = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
MANGLED = re.compile(r"^(N\d|F[NSv]|PFN|St\d|_Z)")  # C++ type names pybind11 stores; not Python names
LEA = re.compile(r"lea\s+-?0x[0-9a-f]+\(%rip\),%\w+\s+# ([0-9a-f]+)")
EXTENSION = "tensorrt_bindings/tensorrt.so"
WRAPPER = "tensorrt_bindings/__init__.py"


def rodata(so: Path) -> tuple[int, bytes]:
    """(virtual address, bytes) of the .rodata section."""
    listing = subprocess.run(["readelf", "-S", "-W", str(so)], capture_output=True, text=True, check=True).stdout
    for line in listing.splitlines():
        parts = line.replace("[ ", "[").split()
        if ".rodata" in parts:
            i = parts.index(".rodata")
            address, offset, size = (int(parts[i + k], 16) for k in (2, 3, 4))
            return address, so.read_bytes()[offset: offset + size]
    raise SystemExit(f"{so} has no .rodata section")


def referenced_addresses(so: Path) -> set[int]:
    """Addresses the code loads (lea) or the loader relocates (R_X86_64_RELATIVE)."""
    code = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(so)], capture_output=True, text=True,
                          check=True).stdout
    addresses = {int(m.group(1), 16) for m in LEA.finditer(code)}
    relocations = subprocess.run(["readelf", "-r", "-W", str(so)], capture_output=True, text=True, check=True).stdout
    for line in relocations.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] == "R_X86_64_RELATIVE":
            addresses.add(int(parts[3], 16))
    return addresses


def extension_names(so: Path) -> set[str]:
    """Identifiers at referenced .rodata addresses, minus C++ mangled type names."""
    base, blob = rodata(so)
    names = set()
    for address in referenced_addresses(so):
        if base <= address < base + len(blob):
            text = blob[address - base: blob.find(b"\0", address - base)]
            if IDENTIFIER.fullmatch(text) and not MANGLED.match(text.decode()):
                names.add(text.decode())
    return names


def wrapper_names(source: str) -> set[str]:
    """Top-level functions, classes and assignments of the Python wrapper module."""
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="tensorrt_cu13_bindings-11.*.whl")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    version = args.wheel.name.split("-")[1]
    with zipfile.ZipFile(args.wheel) as wheel, tempfile.TemporaryDirectory() as scratch:
        so = Path(wheel.extract(EXTENSION, scratch))
        names = extension_names(so) | wrapper_names(wheel.read(WRAPPER).decode())
    record = {
        "package": "tensorrt-cu13-bindings", "version": version, "wheel": args.wheel.name,
        "wheel_sha256": hashlib.sha256(args.wheel.read_bytes()).hexdigest(),
        "method": "scripts/tensorrt_api_names.py: .rodata strings at lea/relocation targets of "
                  f"{EXTENSION}, plus top-level names of {WRAPPER}",
        "names": sorted(names),
    }
    args.output.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"{len(names)} names from {args.wheel.name} -> {args.output}")


if __name__ == "__main__":
    main()
