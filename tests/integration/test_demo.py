"""The demo pipeline (demo/pipeline.py, what `scripts/demo.sh` runs) runs end to end: on SQLite
with no server, and on MariaDB when DJ_HOST is set, printing the same results on both."""

from __future__ import annotations

import os
import pathlib
import re
import sqlite3
import subprocess
import sys

import pytest
from lab_schema import server_env

REPO = pathlib.Path(__file__).resolve().parents[2]
DEMO = REPO / "demo" / "pipeline.py"


def run_demo(*args, env=None):
    """Run the demo in a subprocess; return its stdout (fails the test on a non-zero exit)."""
    proc = subprocess.run(
        [sys.executable, str(DEMO), "--quick", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=REPO,
    )
    assert proc.returncode == 0, f"demo failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def query_section(stdout: str) -> str:
    """The printed query results, without the SQL lines (they name the schema)."""
    section = stdout[stdout.index("=== queries") : stdout.index("row counts")]
    return "\n".join(line for line in section.splitlines() if "SELECT" not in line)


def check_results(stdout: str, out_dir: pathlib.Path) -> None:
    # 6 sessions -> 6 recordings -> 6 x 3 parameter sets, 4 channels each (--quick)
    assert "Recording.populate: 6 made, 0 errors, 6 rows" in stdout
    assert "Features.populate: 18 made, 0 errors, 18 rows" in stdout
    assert (
        "row counts: Subject 3, Session 6, Recording 6, Features 18, Features.Channel 72" in stdout
    )
    assert "signal float32 (4, 10000)" in stdout
    # restriction: the two female subjects; sessions of them after 2024-05-01
    female = stdout.split("--- restriction: female subjects")[1].split("\n---")[0]
    assert "M002" in female and "R001" in female and "M001" not in female
    assert "(Total: 2)" in female
    later = stdout.split("--- restriction by a query")[1].split("\n---")[0]
    assert "(Total: 3)" in later and "2024-04-22" not in later
    # aggr: 2 sessions x 4 channels per subject and band; 3 subjects x 3 bands
    aggr = stdout.split("--- aggr:")[1].split("\n---")[0]
    assert "(Total: 9)" in aggr
    assert re.search(r"^M001\s+1\s+8\s+\d+\s+[\d.]+\s+theta", aggr, re.M), aggr
    # proj with arithmetic: one row per channel
    assert "(Total: 4)" in stdout.split("--- proj with arithmetic")[1]
    diagram = re.search(r"^diagram: (.+)$", stdout, re.M).group(1)
    assert pathlib.Path(diagram).parent == out_dir
    assert pathlib.Path(diagram).suffix in (".png", ".svg")
    assert pathlib.Path(diagram).stat().st_size > 1000
    assert "demo: ok" in stdout
    timings = stdout.split("=== timings")[1]
    for name in ("declare", "populate Recording", "populate Features", "queries", "total"):
        assert name in timings


def sqlite_env():
    env = dict(os.environ)
    for name in ("DJ_HOST", "DJ_BACKEND", "DJ_DATABASE_PATH"):
        env.pop(name, None)
    return env


def test_demo_sqlite(tmp_path):
    stdout = run_demo("--path", str(tmp_path), env=sqlite_env())  # no --backend: no DJ_HOST
    assert "backend: sqlite" in stdout
    check_results(stdout, tmp_path)
    # everything is in one SQLite file, with the schema's tables named schema.table
    db = tmp_path / "datajoint.sqlite"
    with sqlite3.connect(db) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert {
            "demo_pipeline.#analysis_params",
            "demo_pipeline.subject",
            "demo_pipeline.session",
            "demo_pipeline._recording",
            "demo_pipeline.__features",
            "demo_pipeline.__features__channel",
        } <= tables
        (n,) = conn.execute("SELECT count(*) FROM `demo_pipeline.__features__channel`").fetchone()
        assert n == 72
    # a second run on the same file resumes: nothing left to populate, same results
    again = run_demo("--path", str(tmp_path), "--backend", "sqlite", env=sqlite_env())
    assert "Recording.populate: 0 made, 0 errors, 6 rows" in again
    assert "Features.populate: 0 made, 0 errors, 18 rows" in again
    assert query_section(again) == query_section(stdout)


@pytest.mark.skipif(server_env() is None, reason="DJ_HOST is not set")
def test_demo_mariadb_matches_sqlite(tmp_path):
    import MySQLdb

    schema = f"djtest_demo_{os.getpid()}"
    stdout = run_demo("--backend", "mysql", "--schema", schema, "--out", str(tmp_path / "my"))
    assert "backend: mysql" in stdout
    check_results(stdout, tmp_path / "my")
    host, user, password = server_env()
    host, _, port = host.partition(":")
    conn = MySQLdb.connect(host=host, port=int(port or 3306), user=user, passwd=password)
    try:
        cur = conn.cursor()
        cur.execute("SHOW DATABASES LIKE %s", (schema,))
        assert cur.fetchall() == (), "the demo did not drop its schema"
    finally:
        conn.close()
    sqlite_out = run_demo("--path", str(tmp_path / "lite"), env=sqlite_env())
    assert query_section(stdout) == query_section(sqlite_out)
