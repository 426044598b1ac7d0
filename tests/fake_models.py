"""A model provider on a loopback port: OpenAI Chat Completions, OpenAI Responses and Anthropic
Messages, plain and streamed (SSE), so the real ``openai`` and ``anthropic`` clients can be tested
without the internet.

Replies are deterministic and steered by the last user message:

- by default the reply is ``heard: <every user text so far, joined by " | ">``, so a test sees
  which history the model was sent;
- ``REPLY <text>``: the reply is exactly ``<text>``;
- ``CALL <tool> <json arguments>``: the model asks for that tool (when the request offers tools);
  once the tool's result is in the history, it answers ``tool said: <result>``;
- ``FAIL``: HTTP 500 with the API's error body; ``BREAK``: the stream stops halfway (the
  connection is closed without the end of the stream); ``SLOW``: the server waits ``delay``
  seconds before answering.

``calls`` counts requests per API; ``requests`` keeps their bodies.

``/v1/responses/compact`` answers OpenAI's compaction endpoint (``client.responses.compact``) as
OpenAI documents it: a ``response.compaction`` whose ``output`` is every user message of the history,
in order, followed by one ``compaction`` item. The history is the request's ``input``, after the
stored exchange of its ``previous_response_id`` (every Responses exchange is kept under its id; an
unknown id is HTTP 400). The item's ``encrypted_content`` is readable here: ``summary: `` and the
texts of every other item joined by `` | `` (a compaction item in the history gives its own summary,
so a second compaction folds in the first); ``FAIL`` in the last user message gives HTTP 500.

``/v1/embeddings`` answers OpenAI's embeddings API (float or base64): each text's vector counts its
lowercased words hashed into ``dimensions`` (default 16) buckets, not normalised, so texts that share
words are close; an input containing ``FAIL`` gets HTTP 500.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_CALL = re.compile(r"CALL (\S+) (\{.*\})", re.S)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(block.get("text", "")) for block in content if isinstance(block, dict) and "text" in block)
    return ""


class Plan:
    """What the model does for one request: text, a tool call, a failure, a broken stream."""

    def __init__(self, users: list[str], tool_result: str | None, tools: bool) -> None:
        last = users[-1] if users else ""
        self.fail = "FAIL" in last
        self.slow = "SLOW" in last
        self.broken = "BREAK" in last
        self.call: tuple[str, dict[str, Any]] | None = None
        match = _CALL.search(last)
        if tool_result is not None:
            self.text = f"tool said: {tool_result}"
        elif match and tools:
            self.call = (match.group(1), json.loads(match.group(2)))
            self.text = ""
        elif last.startswith("REPLY "):
            self.text = last[len("REPLY ") :]
        else:
            self.text = "heard: " + " | ".join(users)

    @property
    def words(self) -> list[str]:
        return re.findall(r"\S+\s*", self.text) or [""]


def _chat_plan(body: dict[str, Any]) -> Plan:
    messages = body.get("messages", [])
    users = [_text_of(m.get("content")) for m in messages if m.get("role") == "user"]
    result = _text_of(messages[-1].get("content")) if messages and messages[-1].get("role") == "tool" else None
    return Plan(users, result, bool(body.get("tools")))


def _responses_plan(body: dict[str, Any]) -> Plan:
    items = body.get("input", [])
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    users = [_text_of(i.get("content")) for i in items if i.get("role") == "user"]
    last = items[-1] if items else {}
    result = str(last.get("output")) if last.get("type") == "function_call_output" else None
    return Plan(users, result, bool(body.get("tools")))


def _input_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    items = body.get("input") or []
    return [{"role": "user", "content": items}] if isinstance(items, str) else list(items)


def _item_text(item: dict[str, Any]) -> str:
    """One history item as the fake compaction summarises it."""
    kind = item.get("type")
    if kind == "compaction":
        return str(item.get("encrypted_content", "")).removeprefix("summary: ")
    if kind == "function_call":
        return f"{item.get('name')}({item.get('arguments')})"
    if kind == "function_call_output":
        return f"-> {item.get('output')}"
    if "content" in item:
        return _text_of(item["content"])
    return str(kind)


def _is_user(item: dict[str, Any]) -> bool:
    return item.get("role") == "user" and item.get("type", "message") == "message"


def _anthropic_plan(body: dict[str, Any]) -> Plan:
    users: list[str] = []
    result = None
    for message in body.get("messages", []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
        results = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]
        texts = [b.get("text", "") for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
        result = _text_of(results[-1].get("content")) if results else None
        if texts:
            users.append(" ".join(texts))
    return Plan(users, result, bool(body.get("tools")))


def _usage(body: dict[str, Any], plan: Plan) -> tuple[int, int]:
    return len(json.dumps(body)) // 4, max(1, len(plan.text.split()))


class _Handler(BaseHTTPRequestHandler):
    server: FakeModelServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: without this the body waits ~40 ms for an ACK

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path.split("?")[0] == "/v1/embeddings":
            self._embeddings(body)
            return
        if self.path.split("?")[0] == "/v1/responses/compact":
            self._compact(body)
            return
        api = {"/v1/chat/completions": "chat", "/v1/responses": "responses", "/v1/messages": "anthropic"}.get(
            self.path.split("?")[0]
        )
        if api is None:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        plan = {"chat": _chat_plan, "responses": _responses_plan, "anthropic": _anthropic_plan}[api](body)
        with self.server.lock:
            self.server.calls[api] += 1
            self.server.requests.append((api, body))
        if plan.slow:
            time.sleep(self.server.delay)
        if plan.fail:
            error = {"type": "error", "error": {"type": "api_error", "message": "the fake model failed"}}
            self._json(500, error if api == "anthropic" else {"error": {"message": "the fake model failed"}})
            return
        usage = _usage(body, plan)
        model = body.get("model", "fake")
        if api == "responses":
            self._keep_exchange(body, self._responses_body(model, plan, usage))
        if not body.get("stream"):
            self._json(200, getattr(self, f"_{api}_body")(model, plan, usage))
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        events = list(getattr(self, f"_{api}_events")(model, plan, usage, body))
        if plan.broken:
            events = events[: max(2, len(events) // 2)]
        for event in events:
            self.wfile.write(event.encode())
            self.wfile.flush()
            if self.server.chunk_delay:
                time.sleep(self.server.chunk_delay)
        if plan.broken:
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)

    def _json(self, status: int, data: Any) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    # --- OpenAI Embeddings -----------------------------------------------------------------------

    def _embeddings(self, body: dict[str, Any]) -> None:
        texts = body.get("input", [])
        texts = [texts] if isinstance(texts, str) else texts
        with self.server.lock:
            self.server.calls["embeddings"] += 1
            self.server.requests.append(("embeddings", body))
        if any("FAIL" in str(text) for text in texts):
            self._json(500, {"error": {"message": "the fake model failed"}})
            return
        size = int(body.get("dimensions") or 16)
        data = []
        for index, text in enumerate(texts):
            vector = [0.0] * size
            for word in re.findall(r"\w+", str(text).lower()):
                digest = hashlib.sha256(word.encode()).digest()
                vector[int.from_bytes(digest[:4], "big") % size] += 3.0 if digest[4] % 2 else -3.0
            encoded: Any = vector
            if body.get("encoding_format") == "base64":
                encoded = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(len(str(text).split()) for text in texts)
        model = body.get("model", "fake")
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        self._json(200, {"object": "list", "data": data, "model": model, "usage": usage})

    # --- OpenAI Responses compaction ------------------------------------------------------------

    def _keep_exchange(self, body: dict[str, Any], response: dict[str, Any]) -> None:
        """Keep a Responses exchange (its chain, input and output) under its id, for compaction."""
        with self.server.lock:
            chain = self.server.exchanges.get(str(body.get("previous_response_id")), [])
            self.server.exchanges[response["id"]] = [*chain, *_input_items(body), *response["output"]]

    def _compact(self, body: dict[str, Any]) -> None:
        with self.server.lock:
            self.server.calls["compact"] += 1
            self.server.requests.append(("compact", body))
            previous = body.get("previous_response_id")
            chain = self.server.exchanges.get(str(previous)) if previous else []
        if chain is None:
            error = {
                "message": f"Previous response with id '{previous}' not found.",
                "type": "invalid_request_error",
                "param": "previous_response_id",
                "code": "previous_response_not_found",
            }
            self._json(400, {"error": error})
            return
        history = [*chain, *_input_items(body)]
        users = [item for item in history if _is_user(item)]
        if users and "FAIL" in _item_text(users[-1]):
            self._json(500, {"error": {"message": "the fake model failed"}})
            return
        summary = "summary: " + " | ".join(_item_text(item) for item in history if not _is_user(item))
        digest = hashlib.sha256(summary.encode()).hexdigest()[:16]
        output: list[dict[str, Any]] = [
            {
                "id": f"msg_{i}",
                "type": "message",
                "status": "completed",
                "role": "user",
                "content": [{"type": "input_text", "text": _item_text(item)}],
            }
            for i, item in enumerate(users)
        ]
        output.append({"id": f"cmp_{digest}", "type": "compaction", "encrypted_content": summary})
        tokens_in, tokens_out = len(json.dumps(history)) // 4, max(1, len(summary.split()))
        usage = {
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
            "total_tokens": tokens_in + tokens_out,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        }
        compacted = {"id": f"resp_cmp_{digest}", "object": "response.compaction", "created_at": 1_700_000_000}
        self._json(200, {**compacted, "output": output, "usage": usage})

    # --- OpenAI Chat Completions ---------------------------------------------------------------

    def _chat_body(self, model: str, plan: Plan, usage: tuple[int, int]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": plan.text or None}
        finish = "stop"
        if plan.call:
            name, arguments = plan.call
            message["tool_calls"] = [
                {"id": "call_1", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
            ]
            finish = "tool_calls"
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
        }

    def _chat_events(self, model: str, plan: Plan, usage: tuple[int, int], body: dict[str, Any]) -> Iterator[str]:
        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
            data = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 1_700_000_000,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
                **extra,
            }
            return f"data: {json.dumps(data)}\n\n"

        yield chunk({"role": "assistant", "content": ""})
        if plan.call:
            name, arguments = plan.call
            text = json.dumps(arguments)
            head = {"index": 0, "id": "call_1", "type": "function", "function": {"name": name, "arguments": ""}}
            yield chunk({"tool_calls": [head]})
            for i in range(0, len(text), 8):
                yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": text[i : i + 8]}}]})
            yield chunk({}, "tool_calls")
        else:
            for word in plan.words:
                yield chunk({"content": word})
            yield chunk({}, "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            data = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 1_700_000_000,
                "model": model,
                "choices": [],
                "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
            }
            yield f"data: {json.dumps(data)}\n\n"
        yield "data: [DONE]\n\n"

    # --- OpenAI Responses ----------------------------------------------------------------------

    def _responses_body(self, model: str, plan: Plan, usage: tuple[int, int]) -> dict[str, Any]:
        if plan.call:
            name, arguments = plan.call
            output: list[dict[str, Any]] = [
                {
                    "type": "function_call",
                    "id": "fc_1",
                    "call_id": "call_1",
                    "name": name,
                    "arguments": json.dumps(arguments),
                    "status": "completed",
                }
            ]
        else:
            output = [
                {
                    "type": "message",
                    "id": "msg_1",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": plan.text, "annotations": []}],
                }
            ]
        return {
            "id": "resp_fake",
            "object": "response",
            "created_at": 1_700_000_000,
            "model": model,
            "status": "completed",
            "output": output,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": {
                "input_tokens": usage[0],
                "output_tokens": usage[1],
                "total_tokens": sum(usage),
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens_details": {"reasoning_tokens": 0},
            },
        }

    def _responses_events(self, model: str, plan: Plan, usage: tuple[int, int], body: dict[str, Any]) -> Iterator[str]:
        final = self._responses_body(model, plan, usage)
        started = {**final, "status": "in_progress", "output": [], "usage": None}
        seq = iter(range(1000))

        def event(kind: str, **data: Any) -> str:
            return f"event: {kind}\ndata: {json.dumps({'type': kind, 'sequence_number': next(seq), **data})}\n\n"

        yield event("response.created", response=started)
        if not plan.call:
            item = {"type": "message", "id": "msg_1", "role": "assistant", "status": "in_progress", "content": []}
            yield event("response.output_item.added", output_index=0, item=item)
            for word in plan.words:
                yield event(
                    "response.output_text.delta",
                    item_id="msg_1",
                    output_index=0,
                    content_index=0,
                    delta=word,
                    logprobs=[],
                )
            yield event(
                "response.output_text.done",
                item_id="msg_1",
                output_index=0,
                content_index=0,
                text=plan.text,
                logprobs=[],
            )
        yield event("response.output_item.done", output_index=0, item=final["output"][0])
        yield event("response.completed", response=final)

    # --- Anthropic Messages --------------------------------------------------------------------

    def _anthropic_body(self, model: str, plan: Plan, usage: tuple[int, int]) -> dict[str, Any]:
        if plan.call:
            name, arguments = plan.call
            content: list[dict[str, Any]] = [{"type": "tool_use", "id": "toolu_1", "name": name, "input": arguments}]
        else:
            content = [{"type": "text", "text": plan.text}]
        return {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": "tool_use" if plan.call else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
        }

    def _anthropic_events(self, model: str, plan: Plan, usage: tuple[int, int], body: dict[str, Any]) -> Iterator[str]:
        def event(kind: str, **data: Any) -> str:
            return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"

        final = self._anthropic_body(model, plan, usage)
        start = {**final, "content": [], "stop_reason": None, "usage": {"input_tokens": usage[0], "output_tokens": 1}}
        yield event("message_start", message=start)
        if plan.call:
            name, arguments = plan.call
            block = {"type": "tool_use", "id": "toolu_1", "name": name, "input": {}}
            yield event("content_block_start", index=0, content_block=block)
            text = json.dumps(arguments)
            for i in range(0, len(text), 8):
                delta = {"type": "input_json_delta", "partial_json": text[i : i + 8]}
                yield event("content_block_delta", index=0, delta=delta)
        else:
            yield event("content_block_start", index=0, content_block={"type": "text", "text": ""})
            for word in plan.words:
                yield event("content_block_delta", index=0, delta={"type": "text_delta", "text": word})
        yield event("content_block_stop", index=0)
        end: dict[str, Any] = {"stop_reason": final["stop_reason"], "stop_sequence": None}
        yield event("message_delta", delta=end, usage={"output_tokens": usage[1]})
        yield event("message_stop")


class FakeModelServer(ThreadingHTTPServer):
    """The fake provider; ``url`` is its base URL (``.../v1`` for openai, the root for anthropic)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.exchanges: dict[str, list[dict[str, Any]]] = {}
        self.delay = 0.3
        self.chunk_delay = 0.0
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def openai_url(self) -> str:
        return self.root + "/v1"

    def start(self) -> FakeModelServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.requests.clear()
            self.exchanges.clear()
        self.delay = 0.3
        self.chunk_delay = 0.0


def main() -> None:
    """Run it in the foreground (for benchmarks in another process): prints the root URL."""
    server = FakeModelServer()
    print(server.root, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
