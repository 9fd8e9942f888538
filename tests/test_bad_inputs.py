"""Bad input fed to the real `curate` command, as a hostile-but-fair user would (issue 12).

Each case checks what the user sees: exit 1, one line on stderr naming the file, row,
column or option, no traceback, no secret from the environment or the Argilla
credentials, and nothing written where the command would write. Cases that need Argilla
use the session's embedded server (or a proxy in front of it that dies mid-push).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.selection.table import list_array
from curation.services import free_port
from tests.util import one_line_error, preference_rows

CURATE = (
    [str(Path(sys.executable).with_name("curate"))]
    if Path(sys.executable).with_name("curate").exists()
    else [sys.executable, "-m", "curation"]
)
# Secrets every command runs with: none may ever be printed.
SECRET = f"sk-test-{secrets.token_hex(16)}"
SECRET_ENV = {"CURATION_TEST_TOKEN": SECRET, "OPENAI_API_KEY": SECRET, "MY_LLM_KEY": SECRET}
NOT_UTF8 = b"caf\xe9 \xff\xfe"


def curate(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ARGILLA_", "CURATION_D"))}
    return subprocess.run(
        [*CURATE, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**base, **SECRET_ENV, **(env or {})},
    )


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` with its size and mtime: what "nothing written" compares."""
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def refused(result: subprocess.CompletedProcess[str], *expected: str, secret: str = SECRET) -> str:
    """The one-line error, checked for the expected words and for no secret."""
    assert secret not in result.stdout + result.stderr
    line = one_line_error(result)
    for words in expected:
        assert words in line, line
    return line


def pairs_with(path: Path, **columns: pa.Array) -> Path:
    """Preference rows as `curate push` takes them, some columns replaced."""
    table = pa.Table.from_pandas(preference_rows(3, prefix="bad"), preserve_index=False)
    for name, values in columns.items():
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, values)
    pq.write_table(table.replace_schema_metadata(None), path)  # as written by a non-pandas tool
    return path


def not_utf8_strings(rows: int, bad_row: int) -> pa.Array:
    """A string column whose row `bad_row` holds bytes that are not UTF-8."""
    values = [f"text number {i}".encode() for i in range(rows)]
    values[bad_row] = NOT_UTF8
    return pa.array(values, pa.binary()).view(pa.string())


def scored_table(rows: int = 12, ids: list | None = None, **extra: pa.Array) -> pa.Table:
    rng = np.random.default_rng(0)
    return pa.table(
        {
            "id": ids if ids is not None else [f"r{i}" for i in range(rows)],
            "score": rng.random(rows),
            "embedding": list_array(rng.standard_normal((rows, 4)).astype(np.float32)),
            **extra,
        }
    )


SELECT = ["--score-column", "score", "--threshold", "0.99", "--budget", "5"]
NOWHERE = {"ARGILLA_API_URL": f"http://127.0.0.1:{free_port()}", "ARGILLA_API_KEY": SECRET}


@pytest.fixture
def work(tmp_path: Path) -> Path:
    pq.write_table(scored_table(), tmp_path / "in.parquet")
    return tmp_path


# --- select -------------------------------------------------------------------------------


def test_select_refuses_text_that_is_not_utf8_naming_row_and_column(work: Path) -> None:
    pq.write_table(scored_table(instruction=not_utf8_strings(12, 7)), work / "bad.parquet")
    before = snapshot(work)
    for how in (["--embedding-column", "embedding"], ["--text-column", "instruction"]):
        result = curate("select", "--input", "bad.parquet", "--output", "o.parquet",
                        *SELECT, *how, cwd=work)  # fmt: skip
        refused(result, "bad.parquet", "row 7", "`instruction` is not UTF-8 text")
    assert snapshot(work) == before


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("in.parquet", "would overwrite the input file"),
        ("in.parquet/x.parquet", "is a file, not a directory"),
        (".", "is a directory"),
        ("/proc/curation-test/out.parquet", "cannot write in /proc"),
    ],
)
def test_select_refuses_outputs_it_cannot_or_must_not_write(work, output, expected) -> None:
    before = snapshot(work)
    result = curate("select", "--input", "in.parquet", "--output", output, *SELECT,
                    "--embedding-column", "embedding", cwd=work)  # fmt: skip
    refused(result, "--output", expected)
    assert snapshot(work) == before


def test_select_refuses_an_output_whose_rejected_file_is_the_input(work: Path) -> None:
    (work / "in.parquet").rename(work / "kept_rejected.parquet")
    before = snapshot(work)
    result = curate("select", "--input", "kept_rejected.parquet", "--output", "kept.parquet",
                    *SELECT, "--embedding-column", "embedding", cwd=work)  # fmt: skip
    refused(result, "would overwrite the input file kept_rejected.parquet")
    assert snapshot(work) == before


def test_select_refuses_duplicate_ids_naming_the_first(work: Path) -> None:
    ids = ["a", "b", "c", "b", "a", "d"]
    pq.write_table(scored_table(6, ids=ids), work / "dup.parquet")
    before = snapshot(work)
    result = curate("select", "--input", "dup.parquet", "--output", "o.parquet", *SELECT,
                    "--embedding-column", "embedding", cwd=work)  # fmt: skip
    refused(result, "dup.parquet", "id 'b' appears more than once (rows 1 and 3)")
    assert snapshot(work) == before


# --- select writes its two files as one unit ---------------------------------------------

KILLER = """
import os, signal, sys
import pyarrow.parquet as pq
from curation import cli
point, args = sys.argv[1], sys.argv[2:]
real_replace, real_write = os.replace, pq.write_table
renames = []
def replace(src, dst):
    renames.append(dst)
    if point == f"before-rename-{len(renames)}":
        os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(src, dst)
def write_table(table, where, *a, **k):
    real_write(table, where, *a, **k)
    if point == "mid-write":  # a temp half-way: the kept one is not written yet
        os.kill(os.getpid(), signal.SIGKILL)
os.replace, pq.write_table = replace, write_table
sys.argv = ["curate", *args]
cli.main()
"""


def select_budget(work: Path, budget: int, kill_at: str | None = None) -> int:
    args = ["select", "--input", "in.parquet", "--output", "out/kept.parquet",
            "--score-column", "score", "--threshold", "0.99", "--budget", str(budget),
            "--embedding-column", "embedding"]  # fmt: skip
    command = [sys.executable, "-c", KILLER, kill_at, *args] if kill_at else [*CURATE, *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=work)
    return result.returncode


def pair(work: Path) -> tuple[int, int] | None:
    """(kept rows, rejected rows), None without a kept file; they must add up to the input."""
    kept = work / "out" / "kept.parquet"
    if not kept.exists():
        return None
    counts = pq.read_metadata(kept).num_rows, pq.read_metadata(kept.with_name(
        "kept_rejected.parquet")).num_rows  # fmt: skip
    assert sum(counts) == 12, counts  # the two files are of the same selection
    return counts


def temps(work: Path) -> list[str]:
    return sorted(path.name for path in (work / "out").iterdir() if ".tmp-" in path.name)


@pytest.mark.parametrize("kill_at", ["mid-write", "before-rename-1", "before-rename-2"])
def test_select_killed_while_writing_leaves_old_pair_or_no_kept_file(work, kill_at) -> None:
    assert select_budget(work, 3) == 0
    assert pair(work) == (3, 9)
    assert select_budget(work, 5, kill_at) == -signal.SIGKILL
    found = pair(work)
    # Killed while writing the temps, the old pair stands; once the renames begin, the old
    # kept file is gone and the new one comes last: never a kept file with a foreign partner.
    assert found == (None if kill_at.startswith("before-rename") else (3, 9))
    assert temps(work)  # a kill leaves its temp behind...
    assert select_budget(work, 5) == 0
    assert pair(work) == (5, 7)
    assert temps(work) == []  # ...and the next run clears it


# --- config and seeds ---------------------------------------------------------------------


def test_config_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"selection:\n  embedding_model: " + NOT_UTF8 + b"\n")
    refused(curate("config", "show", "-c", str(path), cwd=tmp_path), "c.yaml: line 2: not UTF-8")


def test_an_environment_section_that_is_not_json_names_the_variable(tmp_path: Path) -> None:
    result = curate("config", "show", cwd=tmp_path, env={"CURATION_REVIEW__ROUTING": "{x"})
    refused(result, "CURATION_REVIEW__ROUTING", "config section `review`", "must be JSON")


@pytest.mark.parametrize(
    ("name", "content", "line"),
    [
        ("seeds.jsonl", b'{"context": "fine"}\n\n{"context": "' + NOT_UTF8 + b'"}\n', 3),
        ("seeds.csv", b"context,instruction\nfine,ok\n" + NOT_UTF8 + b",x\n", 3),
    ],
)
def test_seed_files_that_are_not_utf8_name_the_line(tmp_path, name, content, line) -> None:
    (tmp_path / name).write_bytes(content)
    (tmp_path / "c.yaml").write_text(f"generation:\n  seeds: {tmp_path / name}\n")
    before = snapshot(tmp_path)
    result = curate("generate", "-c", "c.yaml", "--run", "r", "-n", "2", cwd=tmp_path)
    refused(result, f"{name}: line {line}: not UTF-8 text")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", [["server", "start"], ["llm", "start"], ["dashboard"]])
@pytest.mark.parametrize("port", ["99999", "-1", "0"])
def test_ports_off_the_range_are_refused(tmp_path, command, port) -> None:
    home = tmp_path / "home"
    result = curate(*command, "--port", port, cwd=tmp_path, env={"CURATION_HOME": str(home)})
    refused(result, f"--port must be from 1 to 65535, not {port}")
    assert not home.exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["llm", "start", "--port", "abc"], "Invalid value for '--port'"),
        (["select", "--bogus"], "No such option: --bogus (see: curate select --help)"),
        (["judge", "eval"], "Missing option '--pairs'"),
        (["nosuch"], "No such command 'nosuch'"),
    ],
)
def test_usage_errors_are_one_line_naming_the_option(tmp_path, args, expected) -> None:
    result = curate(*args, cwd=tmp_path, env={"CURATION_HOME": str(tmp_path / "home")})
    assert result.returncode == 2, result.stderr  # click's exit status for usage errors
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert lines[0].startswith("error: ")


# --- push and pull without a working server ----------------------------------------------

PUSH = ["push", "--template", "preference", "--dataset", "d"]


@pytest.mark.parametrize(
    ("column", "values", "expected"),
    [
        ("instruction", not_utf8_strings(3, 2), "row 2: `instruction` is not UTF-8 text"),
        ("instruction", pa.array([b"a", b"b", b"c"]), "`instruction` holds bytes, not text"),
        ("id", pa.array([0, 1, 2]), "row 0: `id` is int 0, not text"),
        ("chosen", pa.array(["x", None, "y"]), "row 1 (id 'bad-1'): `chosen` is empty"),
    ],
)
def test_push_names_the_bad_cell_before_contacting_argilla(tmp_path, column, values, expected):
    path = pairs_with(tmp_path / "p.parquet", **{column: values})
    refused(curate(*PUSH, "--input", str(path), cwd=tmp_path, env=NOWHERE), "p.parquet", expected)


GARBAGE = b"\x00\xffSSH-2.0-not-http\r\n\r\ngarbage" * 4
MODELS = b'{"object": "list", "data": [{"id": "m", "object": "model"}]}'


@pytest.fixture
def garbage_server() -> Iterator[str]:
    """A TCP server on 127.0.0.1 that answers every connection with bytes that are not HTTP."""
    yield from _serve(lambda request: GARBAGE)


@pytest.fixture
def half_http_server() -> Iterator[str]:
    """Lists its models over HTTP (so the pre-flight check passes), answers the rest with
    garbage: the failure happens deep inside the openai client, under distilabel."""

    def answer(request: bytes) -> bytes:
        if b"/models " not in request.split(b"\r\n")[0]:
            return GARBAGE
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(MODELS)}\r\nConnection: close\r\n\r\n"
        return head.encode() + MODELS

    yield from _serve(answer)


def _serve(answer: Callable[[bytes], bytes]) -> Iterator[str]:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    conn.sendall(answer(conn.recv(65536)))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    listener.close()


@pytest.mark.parametrize("url", ["not-a-url", "ftp://127.0.0.1", "garbage"])
def test_argilla_url_that_is_no_argilla_is_one_line(tmp_path, garbage_server, url) -> None:
    expected = f"the Argilla URL {url!r} is not an http:// or https:// address"
    if url == "garbage":
        url, expected = garbage_server, f"no Argilla server at {garbage_server}"
    env = {"ARGILLA_API_URL": url, "ARGILLA_API_KEY": SECRET}
    path = pairs_with(tmp_path / "p.parquet")
    before = snapshot(tmp_path)
    refused(curate(*PUSH, "--input", str(path), cwd=tmp_path, env=env), expected)
    result = curate("pull", "--dataset", "d", "--output", "f.parquet", cwd=tmp_path, env=env)
    refused(result, expected)
    assert snapshot(tmp_path) == before


def test_pull_to_an_unwritable_output_is_refused_before_contacting_argilla(tmp_path) -> None:
    result = curate("pull", "--dataset", "d", "--output", "/proc/curation-test/f.parquet",
                    cwd=tmp_path, env=NOWHERE)  # fmt: skip
    refused(result, "--output /proc/curation-test/f.parquet", "cannot write in /proc")


@pytest.mark.parametrize("debug", [False, True])
def test_a_model_server_that_is_not_http_never_prints_the_key(tmp_path, garbage_server, debug):
    """The issue's case: an `openai` backend on a garbage server, its key in the environment."""
    llm = {"backend": "openai", "model": "m", "base_url": f"{garbage_server}/v1",
           "api_key_env": "MY_LLM_KEY"}  # fmt: skip
    generation = {"sources": ["self-instruct"], "instruction_llm": llm, "generators": [llm],
                  "judge": llm}  # fmt: skip
    (tmp_path / "c.yaml").write_text(json.dumps({"generation": generation}))
    args = (["--debug"] if debug else []) + ["generate", "-c", "c.yaml", "--run", "R", "-n", "2"]
    result = curate(*args, cwd=tmp_path)
    refused(result, f"LLM server not reachable at {garbage_server}/v1")
    assert not (Path(os.environ["CURATION_RUNS_DIR"]) / "R").exists()


def test_failures_inside_distilabel_never_print_the_key(tmp_path, half_http_server) -> None:
    """Every request fails inside the openai client while distilabel runs the steps."""
    llm = {"backend": "openai", "model": "m", "base_url": f"{half_http_server}/v1",
           "api_key_env": "MY_LLM_KEY"}  # fmt: skip
    generation = {"sources": ["self-instruct"], "instruction_llm": llm, "generators": [llm],
                  "judge": llm}  # fmt: skip
    (tmp_path / "c.yaml").write_text(json.dumps({"generation": generation}))
    result = curate("--debug", "generate", "-c", "c.yaml", "--run", "R", "-n", "2", cwd=tmp_path)
    output = result.stdout + result.stderr
    assert "APIConnectionError" in output  # the failure was reported...
    assert SECRET not in output  # ...without the key


# --- with the session's Argilla server ----------------------------------------------------


class DyingProxy:
    """A TCP proxy to the Argilla server that dies (closes everything, stops listening) as
    soon as a request containing `trigger` passes: the server dying mid-push, as the
    client sees it, without stopping the session's server."""

    def __init__(self, upstream: str, trigger: bytes) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream, self.trigger = (host, int(port)), trigger
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.sockets: list[socket.socket] = [self.listener]
        self.dead = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.dead.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self.sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, watch: bool) -> None:
        try:
            while data := source.recv(65536):
                if watch and self.trigger in data:
                    self.die()
                    return
                target.sendall(data)
        except OSError:
            pass

    def die(self) -> None:
        self.dead.set()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@pytest.mark.integration
def test_argilla_dying_during_push_is_one_line(tmp_path, argilla_server) -> None:
    proxy = DyingProxy(argilla_server.url, trigger=b"/records/bulk")
    env = {"ARGILLA_API_URL": proxy.url, "ARGILLA_API_KEY": argilla_server.api_key}
    path = pairs_with(tmp_path / "p.parquet")
    dataset = argilla_server.unique("dies")
    result = curate(*PUSH[:-1], dataset, "--input", str(path), cwd=tmp_path, env=env)
    assert proxy.dead.is_set()
    refused(result, f"pushing to {dataset!r} on Argilla at {proxy.url} failed",
            secret=argilla_server.api_key)  # fmt: skip


@pytest.mark.integration
def test_two_pushes_racing_to_create_one_dataset_both_succeed(tmp_path, argilla_server) -> None:
    path = pairs_with(tmp_path / "p.parquet")
    dataset = argilla_server.unique("race")
    command = [*CURATE, *PUSH[:-1], dataset, "--input", str(path)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARGILLA_")}
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    racers = [subprocess.Popen(command, env=env, cwd=tmp_path, **pipes) for _ in range(2)]
    errors = [racer.communicate(timeout=300)[1] for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0], errors
    found = argilla_server.client.datasets(dataset, workspace="curation")
    assert len(list(found.records)) == 3


@pytest.mark.integration
def test_review_cache_and_server_home_are_private(tmp_path, argilla_server) -> None:
    home = tmp_path / "home"
    old = home / "review-cache" / "old"
    old.mkdir(parents=True)
    (old / "records.parquet").write_bytes(b"from an install before the rule")
    for path in (home, home / "review-cache", old):
        path.chmod(0o755)
    (old / "records.parquet").chmod(0o644)
    path = pairs_with(tmp_path / "p.parquet")
    dataset = argilla_server.unique("private")
    env = {**argilla_server.env, "CURATION_HOME": str(home)}
    pushed = curate(*PUSH[:-1], dataset, "--input", str(path), cwd=tmp_path, env=env)
    assert pushed.returncode == 0, pushed.stderr
    pulled = curate("pull", "--dataset", dataset, "--output", "f.parquet", cwd=tmp_path, env=env)
    assert pulled.returncode == 0, pulled.stderr
    cache = home / "review-cache"
    assert len(list(cache.rglob("records.parquet"))) == 2  # the old one and this pull's
    for path in [home, *cache.rglob("*"), cache]:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    server_home = argilla_server.home
    for path in (server_home, server_home / "credentials.json", server_home / "argilla.db"):
        assert path.stat().st_mode & 0o077 == 0, (path, oct(path.stat().st_mode))


def test_unexpected_failures_are_one_masked_line_and_debug_adds_a_plain_traceback(
    tmp_path, monkeypatch
) -> None:
    """What `curate` prints for an exception it did not foresee (curation.redact)."""
    from curation.redact import report_unexpected

    argilla_key = f"argilla-{secrets.token_hex(8)}"
    (tmp_path / "argilla").mkdir()
    (tmp_path / "argilla" / "credentials.json").write_text(json.dumps({"api_key": argilla_key}))
    monkeypatch.setenv("CURATION_HOME", str(tmp_path))
    monkeypatch.setenv("MY_LLM_KEY", SECRET)

    def call(headers: dict[str, str]) -> None:
        raise RuntimeError(
            f"refused {headers} as {argilla_key} (password=hunter2)"  # key known from the file
        )

    with pytest.raises(RuntimeError) as caught:
        call({"Authorization": f"Bearer {SECRET}"})
    monkeypatch.delenv("CURATION_DEBUG", raising=False)
    line = report_unexpected(caught.value)
    monkeypatch.setenv("CURATION_DEBUG", "1")
    full = report_unexpected(caught.value)
    assert "\n" not in line and line.startswith("unexpected RuntimeError: refused")
    assert "--debug" in line
    assert "Traceback" in full and "in call" in full
    assert "headers = " not in full  # frame locals are never shown
    for text in (line, full):
        assert SECRET not in text and argilla_key not in text and "hunter2" not in text
