"""labelgate.cli: every command maps errors the same way: one line `labelgate <command>: error: ...` and exit 2 for bad
input or config, an unexpected error exit 2 (1 for the fail-closed `gate` and `check`), and no output over an input."""

from __future__ import annotations

import pytest

# command line before the options under test; FILE is an existing table, OUT a path to write
COMMANDS = {
    "validate": ["validate", "FILE", "--out", "OUT"],
    "score": ["score", "FILE", "--out", "OUT", "--summary", "DIR/s.json"],
    "check": ["check", "FILE", "--out", "OUT"],
    "filter": ["filter", "FILE", "--strategy", "raw", "--out", "OUT"],
    "reference": ["reference", "FILE", "--out", "OUT"],
    "gate": ["gate", "--scores", "FILE", "--out", "OUT"],
    "annotate": ["annotate", "FILE", "--out", "OUT"],
    "train": ["train", "--subset", "raw", "--seed", "0", "--table", "FILE", "--test", "FILE", "--out", "OUT"],
    "learning-curve": ["learning-curve", "--subset", "raw", "--table", "FILE", "--test", "FILE", "--out", "OUT"],
    "audit-reference": ["audit-reference", "FILE", "--table", "DIR/t.csv", "--test", "FILE", "--out", "OUT"],
    "evaluate": ["evaluate", "--test", "FILE", "--out", "OUT"],
    "audit sample": ["audit", "sample", "FILE", "--out", "OUT"],
    "audit merge": ["audit", "merge", "FILE", "DIR/a.csv", "--out", "OUT"],
}
FAIL_CLOSED = {"gate", "check"}


def line(tmp_path, command: str, *extra: str) -> list[str]:
    (tmp_path / "labels.csv").write_text("text,llm_label\nhello,a\n")
    return [a.replace("FILE", str(tmp_path / "labels.csv")).replace("OUT", str(tmp_path / "out.parquet"))
            .replace("DIR", str(tmp_path)) for a in (*COMMANDS[command], *extra)]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_missing_params_file_is_bad_input(tmp_path, cli, command):
    result = cli(*line(tmp_path, command, "--params", str(tmp_path / "absent.yaml")))
    assert result.exit_code == 2
    assert result.output.strip() == f"labelgate {command}: error: {tmp_path / 'absent.yaml'}: params file not found " \
                                    "(--params)"
    assert not (tmp_path / "out.parquet").exists()


@pytest.mark.parametrize("command", sorted(set(COMMANDS) - {"audit sample", "audit merge"}))
def test_output_over_an_input_is_refused(tmp_path, cli, command):
    args = line(tmp_path, command)
    at = args.index("--out") + 1
    args[at] = str(tmp_path / "labels.csv")
    result = cli(*args)
    assert result.exit_code == 2 and "--out is the same file as" in result.output
    assert (tmp_path / "labels.csv").read_text() == "text,llm_label\nhello,a\n"


@pytest.mark.parametrize("command, module, function", [
    ("validate", "labelgate.validate", "main"), ("filter", "labelgate.filter", "main"),
    ("reference", "labelgate.reference", "main"), ("gate", "labelgate.gate", "main"),
    ("check", "labelgate.check", "main"), ("evaluate", "labelgate.evaluate", "main"),
])
def test_an_unexpected_error_is_one_line_and_fails_closed_where_it_gates(tmp_path, cli, monkeypatch, command, module,
                                                                          function):
    import importlib

    def boom(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(importlib.import_module(module), function, boom)
    monkeypatch.chdir(tmp_path)
    result = cli(*line(tmp_path, command))
    assert result.exit_code == (1 if command in FAIL_CLOSED else 2)
    [shown] = result.output.strip().splitlines()
    assert shown.startswith(f"labelgate {command}: internal error: ")  # "in <library>: " when raised inside one
    assert shown.endswith("RuntimeError: boom (run with --debug for the traceback)")


def test_no_command_shows_the_help(cli):
    result = cli()
    assert "Usage" in result.output and "validate" in result.output
