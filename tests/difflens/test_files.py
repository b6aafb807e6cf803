"""Atomic outputs: modes follow the umask, a file in the way is a one-line error, UTF-8 errors
name the line."""

import os
import stat

import pytest

from difflens.errors import DataError
from difflens.files import atomic_path, read_utf8, utf8_lines, write_dir, write_json


@pytest.fixture
def umask():
    def set_mask(mask):
        previous.append(os.umask(mask))

    previous: list[int] = []
    yield set_mask
    if previous:
        os.umask(previous[0])


@pytest.mark.parametrize("mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775),
                                                      (0o077, 0o600, 0o700)])
def test_outputs_get_the_mode_the_umask_gives(tmp_path, umask, mask, file_mode, dir_mode):
    umask(mask)
    write_json(tmp_path / "out.json", {"a": 1})
    write_dir(tmp_path / "model", lambda d: (d / "weights.bin").write_bytes(b"x"))
    assert stat.S_IMODE((tmp_path / "out.json").stat().st_mode) == file_mode
    assert stat.S_IMODE((tmp_path / "model").stat().st_mode) == dir_mode


def test_a_file_in_the_way_is_one_line(tmp_path):
    (tmp_path / "runs").write_text("not a directory")
    with pytest.raises(DataError, match="is a file") as err:
        write_json(tmp_path / "runs" / "decode" / "meta.json", {})
    assert "\n" not in str(err.value)
    (tmp_path / "texts.jsonl").mkdir()
    with pytest.raises(DataError, match="is a directory, but a file is written there"), \
            atomic_path(tmp_path / "texts.jsonl"):
        pass
    assert (tmp_path / "texts.jsonl").is_dir()


def test_invalid_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": "\xff"}\n')
    with pytest.raises(DataError, match=r"t\.jsonl:2: not valid UTF-8"):
        list(utf8_lines(path))
    with pytest.raises(DataError, match=r"t\.jsonl:2: not valid UTF-8"):
        read_utf8(path)
