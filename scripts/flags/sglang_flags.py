"""Prints SGLang's `python -m sglang.launch_server` flag table as TOML (src/engine/flags/sglang.toml)
from the argument parser of the pinned release, `ServerArgs.add_cli_args`. SGLang is not installed
or run here: its PyPI wheel is unpacked (scripts/flag-tables.sh downloads it) and only its
`server_args` module is imported, with a Python that has torch and msgspec (vLLM's CPU build).
Modules sglang imports that are not there (GPU kernels, orjson, triton, ...) are replaced by inert
stand-ins, for imports made by sglang's own files only; the parser's flags, types and choices are
sglang's. A choice list that sglang computes from such a module would come out empty and is then
left out (the flag takes any value), never invented.

Usage: <python with torch> scripts/flags/sglang_flags.py UNPACKED_WHEEL_DIR VERSION
"""
import argparse
import importlib.abc
import importlib.machinery
import logging
import os
import sys
import types

logging.disable(logging.WARNING)


class _Inert:
    """What a missing module's attribute is: callable, iterable (empty), false, subclassable."""

    def __init__(self, name):
        self._name = name

    def __call__(self, *a, **k):
        return _Inert(self._name + "()")

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _Inert(self._name + "." + name)

    def __iter__(self):
        return iter(())

    def __bool__(self):
        return False

    def __mro_entries__(self, bases):
        return (object,)

    def __or__(self, other):
        return self

    __ror__ = __or__

    def __getitem__(self, key):
        return self


class _InertModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _Inert(f"{self.__name__}.{name}")


class _MissingFromSglang(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Gives an inert module for an import that sglang's own code makes and nothing can satisfy."""

    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "sglang":
            return None
        f = sys._getframe(1)
        while f is not None and "importlib" in f.f_code.co_filename:
            f = f.f_back
        if f is None or f"{os.sep}sglang{os.sep}" not in f.f_code.co_filename:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            try:
                if finder.find_spec(name, path, target) is not None:
                    return None
            except Exception:
                pass
        return importlib.machinery.ModuleSpec(name, self, is_package=True)

    def create_module(self, spec):
        return _InertModule(spec.name)

    def exec_module(self, module):
        module.__path__ = []


def main():
    wheel_dir, version = sys.argv[1], sys.argv[2]
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, wheel_dir)
    sys.meta_path.append(_MissingFromSglang())
    from argparse_table import emit
    from sglang.srt.server_args import ServerArgs

    parser = argparse.ArgumentParser()
    ServerArgs.add_cli_args(parser)
    emit(
        parser,
        "sglang",
        version,
        f"sglang {version}'s ServerArgs.add_cli_args, read from its PyPI wheel (SGLang not run here)",
        "scripts/flags/sglang_flags.py from the sglang wheel",
    )


if __name__ == "__main__":
    sys.exit(main())
