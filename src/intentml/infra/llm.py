"""The LLM interpreter adapter: one chat-completions call to an OpenAI-compatible endpoint
(Ollama, vLLM, llama.cpp's server, LiteLLM, OpenAI), which never raises.

What is sent is `intentml.ml.target.interpreter.build_prompt`'s body, nothing more; the
reply is checked by `read_answer`. Whatever happens (a time-out, a refused connection,
an HTTP error, an answer that does not fit) comes back as an `Interpretation` whose
outcome and detail say so, and the deterministic resolver decides alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol

import httpx
import msgspec

from intentml.domain.interpretation import Interpretation, LlmAnswer, LlmOutcome
from intentml.events.types import Column
from intentml.ml.target.interpreter import InvalidAnswer, build_prompt, prompt_hash, read_answer

log = logging.getLogger(__name__)

#: Characters of an error body quoted in `detail` (an HTML error page is long).
_BODY_SHOWN = 200


class Interpreter(Protocol):
    """The port: reads the user's sentence against a table's columns, once."""

    @property
    def model(self) -> str:
        """The model answering (recorded in the `Interpretation`)."""
        ...

    async def interpret(self, intent: str, columns: Sequence[Column]) -> Interpretation:
        """What the interpreter made of `intent`; never raises (failures are outcomes)."""
        ...


class LlmInterpreter:
    """`Interpreter` over an OpenAI-compatible `POST {base_url}/chat/completions`."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "",
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._model = model
        self._api_key = api_key
        self.timeout_s = timeout_s
        self._transport = transport

    @property
    def model(self) -> str:
        """The model named by `INTENTML_LLM_MODEL`."""
        return self._model

    @property
    def url(self) -> str:
        """Where the request goes."""
        return f"{self.base_url}/chat/completions"

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"LlmInterpreter(url={self.url!r}, model={self._model!r})"

    async def interpret(self, intent: str, columns: Sequence[Column]) -> Interpretation:
        """Ask once, within `timeout_s` overall; every failure is an outcome, not an error."""
        body = build_prompt(intent, columns, self._model)
        sha = prompt_hash(body)
        started = time.monotonic()
        outcome: LlmOutcome
        answer: LlmAnswer | None = None
        try:
            # httpx's timeout bounds each phase; asyncio's bounds the whole call (a server
            # that trickles bytes would otherwise reset httpx's read timeout forever).
            async with asyncio.timeout(self.timeout_s):
                reply = await self._post(body)
            answer = read_answer(reply, columns)
            outcome, detail = "answered", f"proposed '{answer.target}'"
        except (TimeoutError, httpx.TimeoutException):
            outcome, detail = "timeout", f"no answer from {self.url} within {self.timeout_s:g} s"
        except InvalidAnswer as exc:
            outcome, detail = "invalid", str(exc)
        except _Failed as exc:
            outcome, detail = "error", str(exc)
        except httpx.HTTPError as exc:
            outcome, detail = "error", f"{self.url} could not be reached: {_words(exc)}"
        except Exception as exc:  # never the caller's failure: the resolver decides alone
            log.exception("LLM interpreter failed unexpectedly (%s)", self)
            outcome, detail = "error", f"unexpected failure: {_words(exc)}"
        elapsed = round(time.monotonic() - started, 3)
        log.info(
            "LLM interpreter %s (model %s, %s): %s in %.2f s",
            outcome,
            self._model,
            self.url,
            detail,
            elapsed,
        )
        return Interpretation(
            model=self._model,
            prompt_sha256=sha,
            outcome=outcome,
            answer=answer,
            detail=detail,
            elapsed_s=elapsed,
        )

    async def _post(self, body: dict[str, Any]) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout_s), transport=self._transport
        ) as client:
            response = await client.post(
                self.url, content=msgspec.json.encode(body), headers=headers
            )
        if response.status_code >= 400:
            text = " ".join(response.text.split())[:_BODY_SHOWN]
            raise _Failed(f"HTTP {response.status_code} from {self.url}: {text or '(no body)'}")
        try:
            return msgspec.json.decode(response.content)
        except msgspec.DecodeError:
            text = " ".join(response.text.split())[:_BODY_SHOWN]
            raise _Failed(f"{self.url} answered with something not JSON: {text!r}") from None


class _Failed(Exception):
    """The endpoint answered, but not with a chat completion."""


def _words(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
