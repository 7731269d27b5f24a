"""The OpenAI-compatible server backend: sampling through ``POST {base_url}/completions``.

Works with ``vllm serve`` and any server that speaks the OpenAI completions API. Like the offline
vLLM backend, it sends one request per (problem, contiguous run of missing sample indices) with
``n`` = the run length and ``seed`` = the seed of the run's first sample: vLLM seeds child i of a
request with ``seed + i``, which is exactly :func:`~evalkit.sampling.base.sample_seed` of sample
``first + i``. (A server that ignores ``seed`` still gives valid samples, just not reproducible ones.)

Requests run on a bounded thread pool (``concurrency``); at most ``2 * concurrency`` are in flight or
finished-but-unsaved, so memory stays bounded at any k. Connection errors, timeouts, 429 and 5xx are
retried with exponential backoff (``Retry-After`` honoured), each retry reported on stderr (what failed,
attempt i of N, the wait); any other 4xx is an
:class:`~evalkit.errors.EvalkitError` naming the problem and quoting the server. Only the standard
library is used (``urllib``).

Per-completion token counts: vLLM returns them when asked (``return_token_ids``); other servers only
report a total, so ``n_tokens`` is exact for ``n = 1`` requests and 0 (unknown) otherwise.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import random
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from evalkit.errors import EvalkitError
from evalkit.sampling.base import SamplingConfig, sample_seed
from evalkit.types import Completion, Problem

MAX_N_PER_REQUEST = 256  # splits a 1024-sample problem into 4 requests: parallel, and a smaller loss on a crash
_TRANSIENT_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class TransientError(Exception):
    """A failure worth retrying (connection refused or reset, timeout, 429, 5xx)."""


def contiguous_runs(indices: Sequence[int], max_len: int) -> list[tuple[int, int]]:
    """Split sample indices into (first, length) runs of consecutive integers, each at most ``max_len``."""
    runs: list[tuple[int, int]] = []
    for idx in sorted(indices):
        if runs and runs[-1][0] + runs[-1][1] == idx and runs[-1][1] < max_len:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((idx, 1))
    return runs


def normalise_base_url(url: str) -> str:
    """``http://host:port`` or ``http://host:port/v1`` (trailing slash or not) -> ``http://host:port/v1``."""
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise EvalkitError(f"--base-url {url!r}: expected http://HOST:PORT[/v1]")
    return url if url.endswith("/v1") else url + "/v1"


def _stderr_line(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class HTTPClient:
    """JSON over HTTP with retries; one instance is shared by the worker threads (it holds no connection).

    Args:
        base_url: ``http://HOST:PORT`` or ``http://HOST:PORT/v1``.
        api_key: Sent as a bearer token when given.
        timeout_s: Per-request timeout in seconds.
        max_retries: Retries of a transient failure before giving up.
        backoff_s: First retry's mean wait in seconds; doubles with each retry (jittered, at most 60 s).
        sleep: Waits between attempts (tests pass a fake).
        log: Receives one line per retry (default: stderr).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout_s: float = 600.0,
        max_retries: int = 8,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        log: Callable[[str], None] = _stderr_line,
    ) -> None:
        if max_retries < 0:
            raise EvalkitError(f"--max-retries must be >= 0 (got {max_retries})")
        self.base_url = normalise_base_url(base_url)
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.sleep = sleep
        self.log = log

    def _once(self, method: str, path: str, body: dict[str, Any] | None, timeout_s: float) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return json.loads(response.read().decode("utf-8", errors="surrogateescape"))
        except urllib.error.HTTPError as exc:
            detail = _error_message(exc)
            if exc.code in _TRANSIENT_STATUS:
                err = TransientError(f"HTTP {exc.code}: {detail}")
                err.retry_after = _retry_after(exc)  # type: ignore[attr-defined]
                raise err from None
            raise EvalkitError(f"{self.base_url}{path}: HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TransientError(f"{type(exc).__name__}: {reason}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise TransientError(f"malformed JSON response ({exc})") from None

    def request(self, method: str, path: str, body: dict[str, Any] | None = None, what: str = "") -> Any:
        """Send a request, retrying transient failures; raises EvalkitError when retries run out."""
        for attempt in range(self.max_retries + 1):
            try:
                return self._once(method, path, body, self.timeout_s)
            except TransientError as exc:
                if attempt == self.max_retries:
                    raise EvalkitError(
                        f"{self.base_url}{path}{what}: still failing after {self.max_retries} retries ({exc}); "
                        "is the server up? rerun the same command to resume"
                    ) from None
                hint = getattr(exc, "retry_after", None)
                delay = hint if hint is not None else self.backoff_s * 2**attempt * (0.5 + random.random())
                delay = min(delay, 60.0)
                self.log(
                    f"{self.base_url}{path}{what}: {exc} (attempt {attempt + 1} of {self.max_retries + 1}); "
                    f"retrying in {delay:.1f}s"
                )
                self.sleep(delay)
        raise AssertionError("unreachable")

    def probe_models(self, timeout_s: float = 5.0) -> list[dict[str, Any]] | None:
        """``GET /models`` once, without retries: the served models, or None when the server is unreachable."""
        try:
            data = self._once("GET", "/models", None, timeout_s)
        except TransientError:
            return None
        models = data.get("data") if isinstance(data, dict) else None
        return [m for m in models if isinstance(m, dict)] if isinstance(models, list) else None


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        raw = exc.read().decode("utf-8", errors="replace")
    except OSError:
        raw = ""
    try:
        data = json.loads(raw)
        err = data.get("error", data) if isinstance(data, dict) else data
        message = err.get("message", raw) if isinstance(err, dict) else str(err)
    except json.JSONDecodeError:
        message = raw or str(exc.reason)
    return " ".join(str(message).split())[:300]


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    value = exc.headers.get("Retry-After") if exc.headers else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def check_served_model(client: HTTPClient, model: str) -> list[dict[str, Any]] | None:
    """When the server answers ``/models``, refuse a model name it does not serve; returns the listing."""
    served = client.probe_models()
    if served is None:
        return None
    names = [str(m.get("id")) for m in served]
    if names and model not in names:
        raise EvalkitError(
            f"model {model!r} is not served by {client.base_url} (it serves: {', '.join(names)}); "
            "pass the served model name (vllm serve --served-model-name) as MODEL"
        )
    return served


class OpenAIBackend:
    """Sampler backed by an OpenAI-compatible completions server.

    Args:
        model: The served model name (``model`` field of the requests).
        base_url: ``http://HOST:PORT`` or ``http://HOST:PORT/v1``.
        api_key: Sent as a bearer token when given.
        concurrency: Requests in flight at once.
        max_n_per_request: Longer runs of missing indices are split (each part keeps its exact seeds).
        timeout_s: Per-request timeout (a request samples up to ``max_n_per_request`` completions).
        max_retries: Retries of a transient failure before giving up (the run stays resumable); each is
            reported on stderr.
        backoff_s: First retry's mean wait in seconds, doubling with each retry.
    """

    name = "openai"

    def __init__(
        self,
        model: str,
        base_url: str = "",
        api_key: str | None = None,
        concurrency: int = 8,
        max_n_per_request: int = MAX_N_PER_REQUEST,
        timeout_s: float = 600.0,
        max_retries: int = 8,
        backoff_s: float = 0.5,
    ) -> None:
        if not base_url:
            raise EvalkitError("--backend openai needs --base-url http://HOST:PORT/v1 (and MODEL = the served name)")
        if concurrency < 1:
            raise EvalkitError(f"--concurrency must be >= 1 (got {concurrency})")
        self.model = model
        self.client = HTTPClient(base_url, api_key, timeout_s=timeout_s, max_retries=max_retries, backoff_s=backoff_s)
        self.concurrency = concurrency
        self.max_n_per_request = max(1, max_n_per_request)
        served = check_served_model(self.client, model)
        # vLLM returns per-choice token ids when asked; other servers may reject unknown fields
        self.ask_token_ids = bool(served) and any(m.get("owned_by") == "vllm" for m in served or [])

    def describe(self) -> dict[str, Any]:
        return {"model": self.model, "model_hash": f"openai:{self.client.base_url}#{self.model}"}

    def _body(self, problem: Problem, n: int, seed: int, sampling: SamplingConfig) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": problem.prompt,
            "n": n,
            "seed": seed,
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
        }
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        if sampling.top_k:
            body["top_k"] = sampling.top_k  # a vLLM extension; OpenAI itself rejects it (a clear 400)
        if self.ask_token_ids:
            body["return_token_ids"] = True
        return body

    def _sample(
        self, problem: Problem, first: int, n: int, sampling: SamplingConfig, run_seed: int
    ) -> list[Completion]:
        seed = sample_seed(run_seed, problem.id, first)
        what = f" (problem {problem.id}, samples {first}..{first + n - 1})"
        try:
            data = self.client.request("POST", "/completions", self._body(problem, n, seed, sampling), what)
        except EvalkitError as exc:  # name the problem once (retry failures already do)
            message = str(exc)
            raise EvalkitError(message if problem.id in message else f"problem {problem.id}: {message}") from None
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or len(choices) != n:
            got = len(choices) if isinstance(choices, list) else "no"
            raise EvalkitError(f"problem {problem.id}: asked the server for n={n} choices, got {got}{what}")
        usage = data.get("usage") or {}
        out: list[Completion] = []
        for pos, choice in enumerate(sorted(choices, key=lambda c: int(c.get("index", 0)))):
            idx = int(choice.get("index", pos))
            if idx != pos:
                raise EvalkitError(f"problem {problem.id}: choice indices are not 0..{n - 1}{what}")
            finish = choice.get("finish_reason")
            if finish not in ("stop", "length"):
                raise EvalkitError(f"problem {problem.id}: unexpected finish_reason {finish!r}{what}")
            token_ids = choice.get("token_ids")
            if isinstance(token_ids, list):
                n_tokens = len(token_ids)
            elif n == 1 and isinstance(usage.get("completion_tokens"), int):
                n_tokens = usage["completion_tokens"]
            else:
                n_tokens = 0
            text = choice.get("text")
            if not isinstance(text, str):
                raise EvalkitError(f"problem {problem.id}: a choice has no text{what}")
            out.append(Completion(problem.id, first + idx, text, n_tokens, finish, seed + idx))
        return out

    def generate(
        self, jobs: Sequence[tuple[Problem, Sequence[int]]], sampling: SamplingConfig, run_seed: int
    ) -> Iterator[list[Completion]]:
        """Yield the completions of each request as it finishes (any order)."""
        requests = (
            (problem, first, n)
            for problem, indices in jobs
            for first, n in contiguous_runs(indices, self.max_n_per_request)
        )
        window = 2 * self.concurrency
        pool = cf.ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="evalkit-openai")
        pending: set[cf.Future[list[Completion]]] = set()
        try:
            exhausted = False
            while True:
                while not exhausted and len(pending) < window:
                    nxt = next(requests, None)
                    if nxt is None:
                        exhausted = True
                        break
                    pending.add(pool.submit(self._sample, *nxt, sampling, run_seed))
                if not pending:
                    return
                done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                failed = [f for f in done if f.exception() is not None]
                for future in done:
                    if future.exception() is None:
                        yield future.result()  # persisted before a failure of another request is raised
                if failed:
                    failed[0].result()  # re-raises the request's EvalkitError
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=False, cancel_futures=True)
