"""Loop kernels built ahead of time, so that a process need not load Numba and LLVM.

Numba's just-in-time compiler brings LLVM into the process: ~110 MiB of resident memory before
the first loop runs, more than the rest of a small training job. The loop kernels that name
``aot`` signatures (``@loop_kernel(aot=...)`` in ``_jit.py``) are therefore also compiled at
install time, by ``rillet build-loops`` or ``python -m rillet.ops._aot`` (``make`` runs it;
it needs Numba and a C compiler), with Numba's ahead-of-time compiler (``numba.pycc``) into
one extension module beside this file, ``_aot_loops``, and a manifest ``_aot_loops.json``.
They are compiled from the same Python loops with the same options (``error_model="numpy"``,
no ``fastmath``) for this machine's CPU, so they give the same bits as the just-in-time
versions.

An exported function checks nothing: given an array of another dtype it reads garbage or
crashes. :func:`dispatcher` therefore calls one only when every argument matches its signature
exactly (array type, dtype, dimensions, layout, writeable and aligned; a scalar of the type
Numba would infer), and hands anything else to the kernel's just-in-time version. A build is
used only when the manifest's record of each kernel's code matches the code now (an edited
loop falls back to just-in-time until rebuilt), under the Python and NumPy it was built with,
when this CPU has every instruction-set feature of the machine that built it, and unless
``RILLET_DISABLE_AOT`` is set. Exported functions hold the GIL while they run.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
import threading
import types
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import _jit

MODULE = "_aot_loops"
MANIFEST = Path(__file__).with_name(MODULE + ".json")
FORMAT = 1

# /proc/cpuinfo flags that name instruction sets a compiled loop may use.
_ISA = re.compile(r"(sse|ssse|avx|fma|f16c|bmi|popcnt|abm|lzcnt|movbe|adx|aes|sha|vpclmul"
                  r"|pclmul|gfni|vaes|asimd|sve|fp|neon)")  # fmt: skip
RETURNS = " -> "  # "arguments -> result": a loop that returns arrays (made by Numba's runtime)
READ = "in:"  # marks an array argument the loop only reads: it may be read-only
_ARRAY = re.compile(r"^(f4|f8|i1|i4|i8|b1)\[([:, 1]*)\]$")
_SCALARS = {
    "f4": (np.float32,), "f8": (float, np.float64), "b1": (bool, np.bool_), "i8": (int, np.int64),
}  # fmt: skip
_NAMES = {np.float32: "float32", float: "float", np.float64: "float64", bool: "bool",
          np.bool_: "bool_", int: "int", np.int64: "int64"}  # fmt: skip
_GLOBALS = {
    "ndarray": np.ndarray, "f4": np.dtype(np.float32), "f8": np.dtype(np.float64),
    "i1": np.dtype(np.int8), "i4": np.dtype(np.int32), "i8": np.dtype(np.int64),
    "b1": np.dtype(np.bool_),
    "float32": np.float32, "float64": np.float64, "bool_": np.bool_, "int64": np.int64,
}  # fmt: skip
_LOCK = threading.Lock()
_LOADED: list = []  # [(module, manifest) or None], filled on first use


# ------------------------------------------------------------------------------- signatures


def split_signature(signature: str) -> list[str]:
    """The argument types of ``"f4[:, ::1], f4[::1], b1"`` (commas inside brackets kept), the
    result type after `` -> `` left out."""
    arguments = signature.partition(RETURNS)[0]
    return [part.strip() for part in re.split(r",\s*(?![^\[]*\])", arguments)]


def argument_check(spec: str, name: str) -> str:
    """A Python expression true for exactly the values of variable ``name`` that Numba would
    type as ``spec``: a scalar (``f4``, ``f8``, ``b1``, ``i8``) or an array (``f4[:, ::1]``,
    of ``f4``, ``f8``, ``i1``, ``i4``, ``i8`` or ``b1``: 'C' layout when the last axis is
    ``::1``, any layout otherwise), aligned, and writeable unless marked ``in:`` (an array
    the loop only reads: ``in:f4[::1]``)."""
    if spec in _SCALARS:
        return " or ".join(f"type({name}) is {_NAMES[kind]}" for kind in _SCALARS[spec])
    read_only = spec.startswith(READ)
    found = _ARRAY.match(spec.removeprefix(READ))
    if found is None:
        raise ValueError(f"aot signature: cannot check argument type {spec!r}")
    axes = found[2].split(",")
    contiguous = axes[-1].strip() == "::1"
    # carray: C-contiguous, aligned and writeable; behaved: aligned and writeable
    flags = f"{name}.flags.{'carray' if contiguous else 'behaved'}"
    if read_only:  # (one flags object in the common, writeable case)
        also = f" and {name}.flags.c_contiguous" if contiguous else ""
        flags = f"({flags} or ({name}.flags.aligned{also}))"
    return (
        f"type({name}) is ndarray and {name}.dtype == {found[1]} and {name}.ndim == {len(axes)}"
        f" and {flags}"
    )


def numba_signature(signature: str) -> str:
    """``signature`` in Numba's notation, ``result(arguments)`` (``void`` where it names no
    result), the read-only marks dropped."""
    arguments, _, result = signature.replace(READ, "").partition(RETURNS)
    return f"{result or 'void'}({arguments})"


def _dispatch_source(signatures: list[str], name: str, call: bool) -> str:
    """``name(*args)``: the first export ``e<i>`` whose signature the arguments match, else
    ``fallback()``; called on ``args`` when ``call``, else returned. One flat expression per
    signature (a call costs ~0.1 us an argument)."""
    then = "(*args)" if call else ""
    lines = [f"def {name}(*args):", "    count = len(args)"]
    for arity in sorted({len(split_signature(sig)) for sig in signatures}):
        names = [f"a{i}" for i in range(arity)]
        lines += [f"    if count == {arity}:", f"        {', '.join(names)}, = args"]
        for index, signature in enumerate(signatures):
            specs = split_signature(signature)
            if len(specs) == arity:
                checks = [f"({argument_check(spec, n)})" for spec, n in zip(specs, names)]
                lines.append(f"        if {' and '.join(checks)}:")
                lines.append(f"            return e{index}{then}")
    lines.append(f"    return fallback(){then}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- fingerprints


def code_key(py_func) -> str:
    """A fingerprint of what a loop compiles to: its bytecode, names and constants, and the
    same of the loop helpers and the values of the module constants it names (not its line
    numbers, so an edit elsewhere in the file keeps the build)."""
    parts: list = []
    _code_parts(py_func.__code__, parts)
    namespace = py_func.__globals__
    for name in _global_names(py_func.__code__):
        value = namespace.get(name)
        value = getattr(value, "py_func", value)  # a helper the JIT compiled and rebound
        if isinstance(value, types.FunctionType) and value in _jit._HELPERS:
            _code_parts(value.__code__, parts)
        elif isinstance(value, (int, float, tuple, np.generic)):
            parts.append((name, repr(value)))
    return f"{zlib.crc32(repr(parts).encode()):08x}"


def _code_parts(code: types.CodeType, parts: list) -> None:
    parts.append((code.co_code, code.co_names, code.co_varnames))
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _code_parts(const, parts)
        else:
            parts.append(repr(const))


def _global_names(code: types.CodeType) -> list[str]:
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names += _global_names(const)
    return names


def cpu_features() -> frozenset[str]:
    """The instruction-set features this CPU reports in /proc/cpuinfo (empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(flag for flag in value.split() if _ISA.match(flag))
    return frozenset()


# --------------------------------------------------------------------------------- loading


def library() -> tuple[types.ModuleType, dict] | None:
    """The built module and its manifest, or None where there is none usable here."""
    if not _LOADED:
        with _LOCK:
            if not _LOADED:
                _LOADED.append(_load())
    return _LOADED[0]


def _load() -> tuple[types.ModuleType, dict] | None:
    if os.environ.get("RILLET_DISABLE_AOT", "").strip() not in ("", "0"):
        return None
    try:
        manifest = json.loads(MANIFEST.read_text())
    except (OSError, ValueError):
        return None
    built_for = (manifest.get("format"), manifest.get("python"), manifest.get("numpy"))
    if built_for != (FORMAT, sys.implementation.cache_tag, np.__version__):
        return None  # another interpreter or NumPy (whose C API the module was built against)
    features = cpu_features()
    if not features or not set(manifest.get("cpu", ())) <= features:
        return None
    try:
        module = importlib.import_module(f"{__package__}.{MODULE}")
    except ImportError:
        return None
    if getattr(module, "build_id", lambda: None)() != manifest.get("build"):
        return None  # the module and the manifest are not of one build
    return module, manifest


def dispatcher(kernel) -> Callable | None:
    """For ``kernel`` (a ``LoopKernel``), a function that runs its ahead-of-time build on
    arguments that match one of its signatures and its just-in-time version on any others;
    None when no usable build of this kernel's current code is there."""
    found = library()
    if found is None:
        return None
    module, manifest = found
    record = manifest["kernels"].get(kernel.key)
    if record is None or record["code"] != code_key(kernel.py_func):
        return None
    exports = [(getattr(module, name, None), signature) for name, signature in record["exports"]]
    if any(function is None for function, _ in exports):
        return None  # a manifest that names what the module lacks
    return make_dispatcher(exports, kernel.jit)


def make_dispatcher(exports: list[tuple[Callable, str]], fallback: Callable) -> Callable:
    """``run(*args)``: the first ``(function, signature)`` of ``exports`` whose signature the
    arguments match exactly, else ``fallback()`` (a function giving the function to run).
    ``run.resolve(*args)`` gives that function without calling it."""
    namespace = {**_GLOBALS, "fallback": fallback}
    namespace.update((f"e{index}", function) for index, (function, _) in enumerate(exports))
    signatures = [signature for _, signature in exports]
    exec(_dispatch_source(signatures, "run", call=True), namespace)  # noqa: S102
    exec(_dispatch_source(signatures, "resolve", call=False), namespace)  # noqa: S102
    namespace["run"].resolve = namespace["resolve"]
    return namespace["run"]


# -------------------------------------------------------------------------------- building


def build(directory: Path | None = None) -> Path:
    """Compile every loop kernel with ``aot`` signatures into ``directory`` (this package's
    folder by default, the only one loaded from): the extension module, then its manifest,
    each moved into place whole (a running process keeps the build it loaded). Returns the
    module's path."""
    import tempfile

    from ._registry import REGISTRY

    REGISTRY.load_all()  # every op module imported, so every loop kernel is declared

    numba = _jit._numba()
    if numba is None:
        raise RuntimeError("the ahead-of-time build needs Numba, and RILLET_DISABLE_JIT unset")
    directory = Path(directory or MANIFEST.parent)
    build_id = int.from_bytes(os.urandom(6), "little")
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        built, kernels = _compile(numba, Path(scratch), build_id)
        target = directory / built.name
        os.replace(built, target)
        manifest = {
            "format": FORMAT,
            "build": build_id,
            "python": sys.implementation.cache_tag,
            "numpy": np.__version__,
            "cpu": sorted(cpu_features()),
            "kernels": kernels,
        }
        partial = Path(scratch) / MANIFEST.name
        partial.write_text(json.dumps(manifest, indent=1))
        os.replace(partial, directory / MANIFEST.name)
    return target


def _compile(numba, scratch: Path, build_id: int) -> tuple[Path, dict]:
    """The extension module, compiled into ``scratch`` for this CPU, and the manifest's record
    of each kernel."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba.pycc warns that it is pending deprecation
        from numba.pycc import CC

        compiler = CC(MODULE)
        compiler.output_dir, compiler.target_cpu, compiler.verbose = str(scratch), "host", False
        compiler.export("build_id", "i8()")(_constant(build_id))
        kernels = {key: _export(compiler, numba, kernel) for key, kernel in _kernels().items()}
        compiler.compile()
    (built,) = scratch.glob(MODULE + ".*")
    return built, kernels


def _kernels() -> dict:
    return {kernel.key: kernel for kernel in _jit.AOT_KERNELS}


def _export(compiler, numba, kernel) -> dict:
    """Export ``kernel`` under each of its signatures; its manifest record."""
    code = code_key(kernel.py_func)
    forward = _forwarder(_jit._njit(numba, kernel.py_func, cache=False), kernel.py_func)
    module_name = kernel.py_func.__module__.rpartition(".")[2]
    exports = []
    for index, signature in enumerate(kernel.aot):
        name = f"{module_name}__{kernel.__name__}__{index}"
        compiler.export(name, numba_signature(signature))(forward)
        exports.append([name, signature])
    return {"code": code, "exports": exports}


def _constant(value: int):
    namespace: dict = {}
    exec(f"def build_id():\n    return {value}\n", namespace)  # noqa: S102
    return namespace["build_id"]


def _forwarder(compiled, py_func):
    """A function of ``py_func``'s arguments that calls ``compiled``: what gets exported, so
    that the loop itself is compiled with its own options (numba.pycc's are fixed)."""
    names = ", ".join(py_func.__code__.co_varnames[: py_func.__code__.co_argcount])
    namespace = {"compiled": compiled}
    exec(f"def forward({names}):\n    return compiled({names})\n", namespace)  # noqa: S102
    return namespace["forward"]


if __name__ == "__main__":
    print(f"built {build()}")
