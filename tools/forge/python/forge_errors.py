"""The one way forge's Python fronts fail: callers show stderr as is, so one line, never a traceback."""

import sys
from typing import NoReturn


def fail(where: object, message: object, code: int) -> NoReturn:
    text = " ".join(str(message).split())
    print(f"error: {where}: {text}", file=sys.stderr)
    sys.exit(code)
