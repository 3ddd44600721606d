"""Prints vLLM's `vllm serve` flag table as TOML (the table `src/engine/flags/vllm.toml` checks
scenarios against). Run it with the Python of an installed vLLM: it reads the argument parser that
`vllm serve` builds (`make_arg_parser`, the same one `vllm serve --help=all` prints), so every flag,
its type and choices come from the real CLI of that version.

Usage: <vllm's python> scripts/flags/vllm_flags.py > src/engine/flags/vllm.toml
(scripts/flag-tables.sh runs it with the cache's CPU build.)
"""
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
logging.disable(logging.WARNING)

import vllm  # noqa: E402
from vllm.entrypoints.launchers.cli_args import make_arg_parser  # noqa: E402
from vllm.utils.argparse_utils import FlexibleArgumentParser  # noqa: E402

from argparse_table import emit  # noqa: E402

if __name__ == "__main__":
    emit(
        make_arg_parser(FlexibleArgumentParser()),
        "vllm",
        vllm.__version__,
        "vllm serve's argument parser, make_arg_parser",
        "scripts/flags/vllm_flags.py from the installed vLLM",
    )
