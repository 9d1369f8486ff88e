"""dj.config (datajoint_rs.settings) and dj.hash: DataJoint 0.14's behaviour."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import uuid

import pytest
from datajoint_rs import hash as djhash
from datajoint_rs import settings
from datajoint_rs.errors import DataJointError
from datajoint_rs.settings import Config, config


@pytest.fixture(autouse=True)
def restore_config():
    """Every test here may change dj.config: put it back afterwards."""
    saved = settings._copy(Config.instance._conf)
    level = settings.logger.level
    yield
    Config.instance._conf.clear()
    Config.instance._conf.update(saved)
    settings.logger.setLevel(level)


# ---------------------------------------------------------------------------------------------
# defaults and the mapping


def test_defaults():
    d = settings.default
    assert d["database.host"] == "localhost"
    assert d["database.port"] == 3306
    assert d["database.user"] is None and d["database.password"] is None
    assert d["database.reconnect"] is True
    assert d["database.use_tls"] is None
    assert d["connection.init_function"] is None and d["connection.charset"] == ""
    assert d["loglevel"] == "INFO" and d["safemode"] is True
    assert d["fetch_format"] == "array"
    assert (d["display.limit"], d["display.width"], d["display.show_tuple_count"]) == (12, 14, True)
    assert d["enable_python_native_blobs"] is True and d["add_hidden_timestamp"] is False
    assert d["stores"] == {} and d["cache"] is None and d["query_cache"] is None
    assert d["external.aws_access_key_id"] is None
    assert d["external.aws_secret_access_key"] is None
    assert d["blob.compression"] == "zlib"


@pytest.mark.interop
def test_defaults_include_datajoint_014s():
    ref = pytest.importorskip("datajoint.settings")
    for key, value in ref.default.items():
        assert settings.default[key] == value, key


def test_fresh_store_does_not_share_mutable_defaults():
    store = settings._Settings()
    store["stores"]["x"] = {"protocol": "file"}
    assert settings.default["stores"] == {}


def test_mapping_protocol():
    assert config["database.port"] == config.get("database.port")
    assert "safemode" in config
    assert len(config) == len(list(config))
    config["my.key"] = 5
    assert config["my.key"] == 5
    del config["my.key"]
    assert "my.key" not in config
    with pytest.raises(KeyError):
        config["no.such.key"]
    assert config.get("no.such.key") is None
    config.update({"display.limit": 3})
    assert config["display.limit"] == 3
    assert "'display.limit': 3" in str(config) and repr(config) == str(config)


def test_attribute_access_reaches_the_store():
    # DataJoint 0.14 code uses config._conf; all Config objects share one store
    assert config._conf is Config.instance._conf
    other = Config({"display.width": 21})
    assert config["display.width"] == 21
    other["display.limit"] = 4
    assert config["display.limit"] == 4
    with pytest.raises(AttributeError):
        config.no_such_attribute  # noqa: B018


def test_validators():
    with pytest.raises(DataJointError, match="Validator for database.port did not pass"):
        config["database.port"] = "3306"
    config["database.port"] = 3307
    with pytest.raises(ValueError, match="not a valid logging value"):
        config["loglevel"] = "LOUD"
    with pytest.raises(DataJointError, match="blob.compression"):
        config["blob.compression"] = "lz4"
    config["blob.compression"] = "zstd"


def test_loglevel_sets_the_logger():
    config["loglevel"] = "DEBUG"
    assert settings.logger.level == logging.DEBUG
    config["loglevel"] = "ERROR"
    assert settings.logger.level == logging.ERROR
    assert settings.logger.name == "datajoint_rs"


def test_roles():
    assert settings.role_to_prefix[settings.Role.computed] == "__"
    assert settings.prefix_to_role["#"] is settings.Role.lookup
    assert [r.name for r in settings.Role] == ["manual", "lookup", "imported", "computed", "job"]


# ---------------------------------------------------------------------------------------------
# temporary overrides


def test_override_and_restore():
    before = dict(config)
    with config(safemode=False, database__host="elsewhere", display__limit=2) as cfg:
        assert cfg is config
        assert config["safemode"] is False
        assert config["database.host"] == "elsewhere"
        assert config["display.limit"] == 2
        config["display.width"] = 99  # changes inside the block are undone too
    assert dict(config) == before


def test_override_restores_on_exception():
    before = dict(config)
    with pytest.raises(RuntimeError):
        with config(database__user="temp"):
            config["stores"]["tmp"] = {"protocol": "file", "location": "/x"}
            raise RuntimeError
    assert dict(config) == before
    assert "tmp" not in config["stores"]


def test_nested_overrides():
    with config(display__limit=1):
        with config(display__limit=2, safemode=False):
            assert (config["display.limit"], config["safemode"]) == (2, False)
        assert (config["display.limit"], config["safemode"]) == (1, True)
    assert config["display.limit"] == settings.default["display.limit"]


def test_override_rejects_unknown_compression():
    with pytest.raises(DataJointError):
        with config(blob__compression="lz4"):
            pass


# ---------------------------------------------------------------------------------------------
# files


def test_save_load_round_trip(tmp_path):
    config["database.host"] = "db.example.org"
    config["stores"] = {"raw": {"protocol": "file", "location": "/data"}}
    path = tmp_path / "conf.json"
    config.save(str(path), verbose=True)
    on_disk = json.loads(path.read_text())
    assert on_disk["database.host"] == "db.example.org"
    assert on_disk == dict(config)
    config["database.host"] = "changed"
    config.load(str(path))
    assert config["database.host"] == "db.example.org"
    assert config["stores"]["raw"]["location"] == "/data"


def test_load_updates_only_what_the_file_has(tmp_path):
    path = tmp_path / "partial.json"
    path.write_text(json.dumps({"display.limit": 99}))
    config["safemode"] = False
    config.load(str(path))
    assert config["display.limit"] == 99
    assert config["safemode"] is False


def test_load_none_reads_the_local_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / settings.LOCALCONFIG).write_text(json.dumps({"display.width": 33}))
    config.load(None)
    assert config["display.width"] == 33


def test_save_local_and_global(tmp_path, monkeypatch):
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(home))
    config["display.limit"] = 7
    config.save_local()
    config["display.limit"] = 8
    config.save_global(verbose=True)
    assert json.loads((work / "dj_local_conf.json").read_text())["display.limit"] == 7
    assert json.loads((home / ".datajoint_config.json").read_text())["display.limit"] == 8


def run_import(cwd, home, env=None):
    """dj.config as a fresh interpreter sees it at import, in folder cwd with HOME=home."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DJ_")}
    environ["HOME"] = str(home)
    environ.update(env or {})
    code = "import json, datajoint_rs as dj; print(json.dumps(dict(dj.config)))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def dirs(tmp_path):
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    return work, home


def test_import_without_files_gives_defaults(dirs):
    cfg = run_import(*dirs)
    assert cfg == json.loads(json.dumps(settings.default))


def test_import_reads_the_global_file(dirs):
    work, home = dirs
    (home / ".datajoint_config.json").write_text(json.dumps({"database.host": "global-host"}))
    assert run_import(work, home)["database.host"] == "global-host"


def test_import_prefers_the_local_file(dirs):
    work, home = dirs
    (home / ".datajoint_config.json").write_text(
        json.dumps({"database.host": "global-host", "display.limit": 5})
    )
    (work / "dj_local_conf.json").write_text(json.dumps({"database.host": "local-host"}))
    cfg = run_import(work, home)
    assert cfg["database.host"] == "local-host"
    assert cfg["display.limit"] == 12  # only one file is read


def test_environment_overrides_files(dirs):
    work, home = dirs
    (work / "dj_local_conf.json").write_text(
        json.dumps({"database.host": "file-host", "database.user": "file-user"})
    )
    env = {
        "DJ_HOST": "env-host:3307",
        "DJ_USER": "env-user",
        "DJ_PASS": "",  # set, even empty, counts (as in DataJoint 0.14)
        "DJ_LOG_LEVEL": "WARNING",
        "DJ_AWS_ACCESS_KEY_ID": "AKID",
        "DJ_AWS_SECRET_ACCESS_KEY": "SECRET",
    }
    cfg = run_import(work, home, env)
    assert cfg["database.host"] == "env-host:3307"
    assert cfg["database.user"] == "env-user"
    assert cfg["database.password"] == ""
    assert cfg["loglevel"] == "WARNING"
    assert cfg["external.aws_access_key_id"] == "AKID"
    assert cfg["external.aws_secret_access_key"] == "SECRET"


def test_loglevel_from_file_applies_to_the_logger(dirs):
    work, home = dirs
    (work / "dj_local_conf.json").write_text(json.dumps({"loglevel": "DEBUG"}))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DJ_")}
    environ["HOME"] = str(home)
    code = "import datajoint_rs, logging; print(logging.getLogger('datajoint_rs').level)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=work, env=environ, capture_output=True, text=True
    )
    assert out.stdout.strip().splitlines()[-1] == str(logging.DEBUG)


def test_unreadable_file_does_not_break_import(dirs):
    work, home = dirs
    (work / "dj_local_conf.json").write_text("{not json")
    assert run_import(work, home)["database.host"] == "localhost"


# ---------------------------------------------------------------------------------------------
# external store specs


def test_store_spec_file():
    config["stores"] = {"local": {"protocol": "file", "location": "/data"}}
    spec = config.get_store_spec("local")
    assert spec == {"protocol": "file", "location": "/data", "subfolding": (2, 2)}
    assert config["stores"]["local"]["subfolding"] == (2, 2)  # filled in place, as in 0.14


def test_store_spec_s3():
    s3 = dict(
        protocol="s3",
        endpoint="s3.example.org",
        bucket="b",
        access_key="a",
        secret_key="s",
        location="p",
        secure=True,
        subfolding=(1,),
        stage="/tmp/stage",
        proxy_server=None,
    )
    config["stores"] = {"remote": dict(s3)}
    assert config.get_store_spec("remote")["subfolding"] == (1,)


@pytest.mark.parametrize(
    "stores, message",
    [
        ({}, "Storage x is requested but not configured"),
        ({"x": {"location": "/a"}}, 'Missing or invalid protocol in dj.config["stores"]["x"]'),
        ({"x": {"protocol": "ftp"}}, 'Missing or invalid protocol in dj.config["stores"]["x"]'),
        ({"x": {"protocol": "file"}}, 'dj.config["stores"]["x"] is missing "location"'),
        (
            {"x": {"protocol": "s3", "endpoint": "e", "location": "l"}},
            'dj.config["stores"]["x"] is missing "bucket"',
        ),
        (
            {"x": {"protocol": "file", "location": "/a", "bucket": "b"}},
            'Invalid key "bucket" in dj.config["stores"]["x"]',
        ),
    ],
)
def test_store_spec_errors(stores, message):
    config["stores"] = stores
    with pytest.raises(DataJointError) as info:
        config.get_store_spec("x")
    assert str(info.value) == message


def test_store_spec_without_stores_setting():
    del config["stores"]
    with pytest.raises(DataJointError, match="not configured"):
        config.get_store_spec("x")


# ---------------------------------------------------------------------------------------------
# dj.hash


def test_key_hash():
    key = {"b": 2, "a": "x", "c": 1.5}
    expected = hashlib.md5(b"x" + b"2" + b"1.5").hexdigest()
    assert djhash.key_hash(key) == expected
    assert djhash.key_hash({}) == hashlib.md5().hexdigest()


def test_uuid_from_buffer_and_file(tmp_path):
    data = b"some bytes" * 5000
    assert djhash.uuid_from_buffer(data) == uuid.UUID(bytes=hashlib.md5(data).digest())
    assert djhash.uuid_from_buffer() == uuid.UUID(bytes=hashlib.md5().digest())
    salted = djhash.uuid_from_buffer(data, init_string="salt")
    assert salted == uuid.UUID(bytes=hashlib.md5(b"salt" + data).digest())
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert djhash.uuid_from_file(path, init_string="salt") == salted


@pytest.mark.interop
def test_hashes_match_datajoint_014():
    ref = pytest.importorskip("datajoint.hash")
    key = {"subject": "mouse1", "session": 3, "when": "2020-01-01"}
    assert djhash.key_hash(key) == ref.key_hash(key)
    buf = bytes(range(256)) * 100
    assert djhash.uuid_from_buffer(buf, init_string="x") == ref.uuid_from_buffer(
        buf, init_string="x"
    )
