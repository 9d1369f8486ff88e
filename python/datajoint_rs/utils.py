"""Small helpers shared across modules (names as in DataJoint 0.14's ``utils``)."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from .errors import DataJointError


class ClassProperty:
    """A read-only property on a class (``@ClassProperty``)."""

    def __init__(self, f):
        self.f = f

    def __get__(self, obj, owner):
        return self.f(owner)


def user_choice(prompt, choices=("yes", "no"), default=None):
    """Ask the user to pick one of ``choices`` (case-insensitive); return the choice.

    Without an interactive stdin the default is taken (or DataJointError if there is none),
    instead of blocking forever."""
    assert default is None or default in choices
    choice_list = ", ".join(choice.title() if choice == default else choice for choice in choices)
    if not sys.stdin or not sys.stdin.isatty():
        if default is None:
            raise DataJointError(f"{prompt} [{choice_list}]: needs an answer but stdin is closed")
    response = None
    while response not in choices:
        try:
            response = input(prompt + " [" + choice_list + "]: ")
        except EOFError:
            response = None
            if default is None:
                raise DataJointError(f"{prompt}: no answer (end of input)") from None
        response = response.lower() if response else default
    return response


def get_master(full_table_name: str) -> str:
    """The master of a part table name (`` `db`.`master__part` `` → `` `db`.`master` ``), or ""."""
    match = re.match(r"(?P<master>`\w+`.`#?\w+)__\w+`", full_table_name)
    return match["master"] + "`" if match else ""


def is_camel_case(s: str) -> bool:
    """True for CamelCase class names (strictly: no underscores, starting upper case)."""
    return bool(re.match(r"^[A-Z][A-Za-z0-9]*$", s))


def to_camel_case(s: str) -> str:
    """``table_name`` → ``TableName``."""
    return re.sub(r"(^|[_\W])+([a-zA-Z])", lambda m: m.group(2).upper(), s)


def from_camel_case(s: str) -> str:
    """``TableName`` → ``table_name`` (0.14's table naming); DataJointError if not CamelCase."""
    if re.search(r"[^a-zA-Z0-9]", s):
        raise DataJointError(
            f"ClassName must be alphanumeric in CamelCase, begin with a capital letter: {s}"
        )
    return re.sub(
        r"(\B[A-Z])|(\b[A-Z])", lambda m: ("_" if m.group(1) else "") + m.group(0).lower(), s
    )


def safe_write(filepath, blob: bytes):
    """Write to a temporary file, then rename: readers never see a partial file."""
    filepath = Path(filepath)
    if not filepath.is_file():
        filepath.parent.mkdir(parents=True, exist_ok=True)
        temp_file = filepath.with_suffix(filepath.suffix + ".saving")
        temp_file.write_bytes(blob)
        temp_file.rename(filepath)


def safe_copy(src, dest, overwrite=False):
    """Copy a file through a temporary name, as ``safe_write``."""
    src, dest = Path(src), Path(dest)
    if not (dest.exists() and src.samefile(dest)) and (overwrite or not dest.is_file()):
        dest.parent.mkdir(parents=True, exist_ok=True)
        temp_file = dest.with_suffix(dest.suffix + ".copying")
        shutil.copyfile(str(src), str(temp_file))
        temp_file.rename(dest)
