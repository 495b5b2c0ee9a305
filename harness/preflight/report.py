"""The pre-flight report as text: one line per stage in every dry run, every figure with its
formula with `preflight=true`."""

from __future__ import annotations

from typing import TextIO

from harness.preflight.verdicts import UNKNOWN, PreflightReport, gib, verdict


def _params(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e8 else f"{n / 1e6:.2f}M" if n >= 1e5 else str(n)


def print_preflight(report: PreflightReport, out: TextIO, details: bool = False) -> None:
    print(
        f"# pre-flight: GPU {gib(report.gpu_capacity)} GiB (cluster.gpu_memory_gb), host RAM "
        f"{gib(report.host_capacity)} GiB ({report.host_source}), free disk {gib(report.disk_free)} GiB "
        f"at {report.disk_path}",
        file=out,
    )
    for stage in report.stages:
        if stage.skipped:
            print(f"#   {stage.name}: skipped in this profile", file=out)
            continue
        if stage.error:
            print(f"#   {stage.name}: no estimate ({stage.error})", file=out)
            continue
        est = stage.estimate
        assert est is not None
        gpu = (
            f"{gib(est.gpu_bytes)} GiB/GPU {stage.gpu_verdict(report.gpu_capacity)}"
            if est.gpus_per_node and est.gpu
            else "no GPU"
        )
        host = f"host {gib(est.host_bytes)} GiB" if est.host else "host -"
        disk = est.disk_bytes
        disk_text = "disk unbounded" if disk is None else f"disk {gib(disk)} GiB" if est.disk else "disk -"
        params = f"params {_params(est.total_params)}"
        if est.trainable_params:
            params += f" (trainable {_params(est.trainable_params)})"
        line = f"#   {stage.name}: {params}; {est.setting}; {gpu}; {host}; {disk_text}"
        if est.vllm is not None:
            line += f"; vLLM KV for {est.vllm.max_model_len} tokens {stage.vllm_verdict()}"
        print(line, file=out)
        for note in est.notes:
            print(f"#     note: {note}", file=out)
        if details:
            print(
                f"#     source: {est.model_source}; trainable: {est.trainable_how}; phase: {est.phase}",
                file=out,
            )
            for figure in est.gpu:
                print(
                    f"#     per GPU  {gib(figure.bytes):>7} GiB  {figure.label}: {figure.formula}", file=out
                )
            for figure in est.host:
                print(
                    f"#     per node {gib(figure.bytes):>7} GiB  {figure.label}: {figure.formula}", file=out
                )
            for figure in est.disk:
                size = "unbounded" if figure.bytes < 0 else f"{gib(figure.bytes)} GiB"
                print(f"#     disk     {size:>7}  {figure.label}: {figure.formula}", file=out)
            if est.vllm is not None:
                check = est.vllm
                print(
                    f"#     vLLM     share {gib(check.share)} GiB = weights {gib(check.weights)} + activations "
                    f"{gib(check.activations)} + KV room {gib(check.kv_room)} (one sequence needs "
                    f"{gib(check.kv_one_sequence)})",
                    file=out,
                )
    need = report.disk_need
    print(
        f"#   run disk: {'unbounded' if need is None else gib(need) + ' GiB'} needed, "
        f"{verdict(need, report.disk_free) if need is not None else UNKNOWN}",
        file=out,
    )
