"""The OpenAI-compatible client against a local HTTP server.

The server here stands in for ``vllm serve`` (vLLM cannot run on this CPU machine): it records each
request and answers in the chat-completions shape vLLM returns, tokens as ``token_id:<n>`` since the
client asks for ``return_tokens_as_token_ids``. Everything on the client side is the real code: HTTP,
retries, request body, parsing, soft scoring.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image

from common.errors import HarnessError
from harness.evaluation.backends.base import GenerationRequest
from harness.evaluation.backends.openai_backend import OpenAIBackend, ServerError
from harness.evaluation.collaborative_decoding import AnswerBias
from harness.evaluation.config import parse_eval_config
from harness.evaluation.soft_scoring import eq2_probability_fake, logsumexp_probability_fake


class FakeServer:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.failures: list[int] = []  # status codes to answer before succeeding
        self.reply: dict[str, Any] = {}


@pytest.fixture
def server() -> Iterator[tuple[FakeServer, str]]:
    state = FakeServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.bodies.append(body)
            state.headers.append(dict(self.headers))
            if state.failures:
                code = state.failures.pop(0)
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b'{"error": "nope"}')
                return
            data = json.dumps(state.reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def entry(token_id: int, logprob: float, top: dict[int, float]) -> dict[str, Any]:
    return {
        "token": f"token_id:{token_id}",
        "logprob": logprob,
        "top_logprobs": [{"token": f"token_id:{t}", "logprob": v} for t, v in top.items()],
    }


def config(base_url: str, **extra: Any):
    return parse_eval_config(
        {
            "backend": "openai",
            "max_new_tokens": 32,
            "sampling": {"temperature": 0.0, "seed": 3},
            "openai": {
                "base_url": base_url,
                "model": "served",
                "api_key_env": "TEST_EVAL_KEY",
                "max_retries": 2,
                "timeout_s": 10,
            },
            **extra,
        }
    )


def test_generation_request_and_soft_score(server, word_tokenizer_dir, word_tokenizer, monkeypatch) -> None:
    state, url = server
    monkeypatch.setenv("TEST_EVAL_KEY", "sekret")
    vocab = word_tokenizer.get_vocab()
    this, image_, is_, fake, real = (vocab[w] for w in ("This", "image", "is", "fake", "real"))
    state.reply = {
        "choices": [
            {
                "message": {"content": "This image is fake"},
                "logprobs": {
                    "content": [
                        entry(this, -0.1, {this: -0.1}),
                        entry(image_, -0.1, {}),
                        entry(is_, -0.2, {}),
                        entry(fake, -0.3, {fake: -0.3, real: -1.9, 99: -2.5}),
                    ]
                },
            }
        ],
        "usage": {"completion_tokens": 4},
    }
    cfg = config(url, soft_scoring={"fake_words": ["fake"], "real_words": ["real"], "top_logprobs": 5})
    backend = OpenAIBackend(str(word_tokenizer_dir), cfg)
    image = Image.new("RGB", (6, 4), (1, 2, 3))
    bias = AnswerBias(
        target_ids=(this, image_, is_), real_id=real, fake_id=fake, bias_real=-1.0, bias_fake=0.5
    )
    request = GenerationRequest(
        id="a", messages=[{"role": "user", "content": "<image>Real or fake?"}], image=image, answer_bias=bias
    )
    [result] = backend.generate([request])
    assert result.text == "This image is fake" and result.num_generated_tokens == 4
    assert result.soft_score is not None
    # The server's raw logits predate the collaborative bias; it fired at the verdict ("This image
    # is" precedes it), so the score adds it back: fake -0.3 + 0.5, real -1.9 - 1.0.
    assert result.soft_score.p_fake == pytest.approx(eq2_probability_fake([0.2], [-2.9]))
    assert result.soft_score.p_fake_logsumexp == pytest.approx(logsumexp_probability_fake([0.2], [-2.9]))
    body = state.bodies[0]
    assert body["model"] == "served" and body["max_tokens"] == 32 and body["temperature"] == 0.0
    assert body["seed"] == 3 and body["logprobs"] is True and body["top_logprobs"] == 5
    assert body["return_tokens_as_token_ids"] is True
    url_part = body["messages"][0]["content"][0]["image_url"]["url"]
    sent = Image.open(io.BytesIO(base64.b64decode(url_part.split(",", 1)[1])))
    assert sent.getpixel((0, 0)) == (1, 2, 3)
    xargs = json.loads(body["vllm_xargs"]["collaborative_decoding"])
    assert xargs["target_ids"] == [this, image_, is_] and xargs["bias_fake"] == 0.5
    assert state.headers[0]["Authorization"] == "Bearer sekret"


def test_prefix_soft_scoring_continues_the_assistant_message(
    server, word_tokenizer_dir, word_tokenizer, monkeypatch
) -> None:
    state, url = server
    monkeypatch.setenv("TEST_EVAL_KEY", "k")
    vocab = word_tokenizer.get_vocab()
    state.reply = {
        "choices": [
            {
                "message": {"content": "real"},
                "logprobs": {
                    "content": [entry(vocab["real"], -0.5, {vocab["real"]: -0.5, vocab["fake"]: -1.0})]
                },
            }
        ]
    }
    cfg = config(
        url,
        soft_scoring={
            "position": "prefix",
            "fake_words": ["fake"],
            "real_words": ["real"],
            "prompt": "What is the authenticity of this image?",
            "assistant_prefix": "This image is",
        },
    )
    backend = OpenAIBackend(str(word_tokenizer_dir), cfg)
    [result] = backend.generate(
        [GenerationRequest("a", [{"role": "user", "content": "<image>Q"}], Image.new("RGB", (2, 2)))]
    )
    assert result.soft_score is not None and result.soft_score.p_fake == pytest.approx(
        eq2_probability_fake([-1.0], [-0.5])
    )
    generation, scoring = state.bodies
    assert "logprobs" not in generation
    assert scoring["max_tokens"] == 1 and scoring["continue_final_message"] is True
    assert scoring["add_generation_prompt"] is False
    assert scoring["messages"][-1]["content"] == [{"type": "text", "text": "This image is"}]
    assert scoring["messages"][0]["content"][1]["text"] == "What is the authenticity of this image?"


def test_server_errors_are_retried_then_reported(server, monkeypatch) -> None:
    state, url = server
    monkeypatch.setenv("TEST_EVAL_KEY", "k")
    state.reply = {"choices": [{"message": {"content": "This image is real."}}]}
    state.failures = [503, 500]
    monkeypatch.setattr("time.sleep", lambda s: None)
    backend = OpenAIBackend("served-model-without-local-folder", config(url))
    [result] = backend.generate(
        [GenerationRequest("a", [{"role": "user", "content": "<image>Q"}], Image.new("RGB", (2, 2)))]
    )
    assert result.text == "This image is real." and len(state.bodies) == 3 and result.soft_score is None
    state.failures = [400]
    with pytest.raises(ServerError, match="HTTP 400"):
        backend.generate(
            [GenerationRequest("b", [{"role": "user", "content": "<image>Q"}], Image.new("RGB", (2, 2)))]
        )
    assert len(state.bodies) == 4  # a client error is not retried


def test_a_named_but_unset_key_variable_is_an_error(monkeypatch) -> None:
    monkeypatch.delenv("TEST_EVAL_KEY", raising=False)
    with pytest.raises(HarnessError, match="TEST_EVAL_KEY"):
        OpenAIBackend("m", config("http://127.0.0.1:9/v1"))


def test_the_eval_stage_can_start_and_stop_the_server(tmp_path, make_manifest, monkeypatch) -> None:
    """launch_server: the server process (a stand-in program for vLLM's) is started with the flags the
    config implies, answers the whole evaluation, and is stopped afterwards."""
    import socket
    import sys
    from pathlib import Path

    from harness.evaluation.runner import evaluate

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv_file = tmp_path / "argv.json"
    monkeypatch.setenv("FAKE_SERVER_ARGV_FILE", str(argv_file))
    program = Path(__file__).resolve().parent / "programs" / "fake_openai_server.py"
    expert = tmp_path / "expert.jsonl"
    expert.write_text("".join(json.dumps({"id": f"img{k}", "p_fake": 0.5}) + "\n" for k in range(4)))
    cfg = parse_eval_config(
        {
            "backend": "openai",
            "response_format": "free_text_verdict",
            "metrics": ["accuracy"],
            "batch_size": 2,
            "openai": {
                "base_url": f"http://127.0.0.1:{port}/v1",
                "model": "served",
                "launch_server": True,
                "server_command": [sys.executable, str(program)],
                "server_args": ["--enforce-eager"],
                "startup_timeout_s": 60,
            },
        }
    )
    document = evaluate(
        str(make_manifest(4)), "/models/holmes", str(tmp_path / "out"), cfg, log=lambda m: None
    )
    assert document["values"]["accuracy"] == 0.5  # "fake" for all: right on the 2 fakes
    argv = json.loads(argv_file.read_text())
    assert argv[:8] == [
        "--model",
        "/models/holmes",
        "--served-model-name",
        "served",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    assert argv[-1] == "--enforce-eager" and "--logits-processors" not in argv
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()  # stopped with the evaluation


def test_server_flags_follow_the_config() -> None:
    from harness.evaluation.backends.server_process import LOGITS_PROCESSOR, server_argv

    cfg = parse_eval_config(
        {
            "soft_scoring": {"fake_words": ["fake"], "real_words": ["real"]},
            "collaborative_decoding": {"expert_probs": "/e.jsonl"},
            "openai": {
                "base_url": "http://0.0.0.0:8030/v1",
                "model": "xtuner_try",
                "server_args": ["--dtype=half"],
            },
        }
    )
    argv = server_argv("/m", cfg)
    assert argv[:3] == ["python3", "-m", "vllm.entrypoints.openai.api_server"]
    assert argv[3:11] == [
        "--model",
        "/m",
        "--served-model-name",
        "xtuner_try",
        "--host",
        "0.0.0.0",
        "--port",
        "8030",
    ]
    assert ["--logprobs-mode", "raw_logits"] == argv[11:13]
    assert ["--logits-processors", LOGITS_PROCESSOR] == argv[13:15] and argv[-1] == "--dtype=half"
    # vLLM imports the module in the server process (there is no vLLM here to import it with).
    assert LOGITS_PROCESSOR == "harness.evaluation.vllm_collab_processor:CollaborativeDecodingLogitsProcessor"


def test_a_server_that_dies_at_start_up_is_reported(tmp_path) -> None:
    import sys

    from harness.evaluation.backends.server_process import ServerProcess

    with pytest.raises(HarnessError, match="exited with code 3 before it was ready"):
        ServerProcess(
            [sys.executable, "-c", "import sys; sys.exit(3)"], "http://127.0.0.1:9/v1", 30, poll_s=0.1
        )
